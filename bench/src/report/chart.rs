//! `results.svg`: the throughput table as bar charts, one panel per scenario, drawn by hand.

use std::fmt::Write as _;

use super::{Row, thousands, times};
use crate::scenario::Scenario;
use crate::variant::Side;

const WIDTH: f64 = 960.0;
const LABEL_WIDTH: f64 = 280.0;
const BAR_WIDTH: f64 = 440.0;
const ROW_HEIGHT: f64 = 22.0;
const TITLE_HEIGHT: f64 = 30.0;
const PANEL_GAP: f64 = 14.0;

/// The chart: within a panel, bar lengths compare to the fastest variant of that scenario.
pub(super) fn svg(rows: &[Row]) -> String {
    let mut body = String::new();
    let mut y = 40.0;
    for scenario in Scenario::ALL {
        let panel: Vec<&Row> = rows.iter().filter(|row| row.scenario == scenario).collect();
        if panel.is_empty() {
            continue;
        }
        y = draw_panel(&mut body, scenario, &panel, y) + PANEL_GAP;
    }
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{y}\" \
         viewBox=\"0 0 {WIDTH} {y}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"24\" font-size=\"16\" font-weight=\"bold\">\
         kv-sessions load benchmark: requests per second (median over rounds)</text>\n\
         {body}</svg>\n"
    )
}

/// Draws one scenario's panel from `top`, and returns where it ends.
fn draw_panel(out: &mut String, scenario: Scenario, panel: &[&Row], top: f64) -> f64 {
    let fastest = panel
        .iter()
        .map(|row| row.requests_per_sec)
        .fold(0.0, f64::max)
        .max(1.0);
    let _ = writeln!(
        out,
        "<text x=\"10\" y=\"{:.0}\" font-size=\"14\" font-weight=\"bold\">{}</text>",
        top + 18.0,
        scenario.name()
    );
    let mut y = top + TITLE_HEIGHT;
    for row in panel {
        let length = (row.requests_per_sec / fastest * BAR_WIDTH).max(1.0);
        let colour = match row.variant.side {
            Side::Baseline => "#9e9e9e",
            Side::KvSessions => "#2b6cb0",
            Side::Peer => "#dd8a3e",
        };
        let _ = writeln!(
            out,
            "<text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"end\">{}</text>\n\
             <rect x=\"{LABEL_WIDTH}\" y=\"{:.0}\" width=\"{length:.1}\" height=\"{:.0}\" fill=\"{colour}\"/>\n\
             <text x=\"{:.0}\" y=\"{:.0}\">{} req/s ({} bare)</text>",
            LABEL_WIDTH - 8.0,
            y + 15.0,
            escape(row.variant.label),
            y + 3.0,
            ROW_HEIGHT - 6.0,
            LABEL_WIDTH + length + 6.0,
            y + 15.0,
            thousands(row.requests_per_sec),
            times(row.vs_bare),
        );
        y += ROW_HEIGHT;
    }
    y
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
