//! The targets, checked against the run's figures.

use std::fmt::Write as _;

use super::{Report, Row, ratio_to, times};
use crate::footprint::FootprintStore;
use crate::scenario::Scenario;
use crate::seed::SESSION_DATA_BYTES;
use crate::variant::Side;

/// The kv-sessions variant the targets are about: the default set-up, moka over sled.
const DEFAULT_KV: &str = "kv-moka-sled";

/// One target: what it asks, what was measured, and whether it holds (`None`: not measured).
struct Target {
    goal: &'static str,
    measured: String,
    met: Option<bool>,
}

/// The "Targets" section.
pub(super) fn section(report: &Report<'_>, rows: &[Row]) -> String {
    let mut md = format!(
        "### Targets\n\nFor kv-sessions' default set-up (`{DEFAULT_KV}`) unless said otherwise.\n\n\
         | target | measured | met |\n|---|---|---|\n"
    );
    for target in targets(report, rows) {
        let met = match target.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "not measured",
        };
        let _ = writeln!(md, "| {} | {} | {met} |", target.goal, target.measured);
    }
    md.push('\n');
    md
}

fn targets(report: &Report<'_>, rows: &[Row]) -> Vec<Target> {
    let row = |scenario: Scenario| {
        rows.iter()
            .find(|row| row.scenario == scenario && row.variant.name == DEFAULT_KV)
    };
    let versus = |scenario: Scenario, kv: &str, peer: &str| {
        ratio_to(report.samples, scenario, kv, |v| v.name == peer)
    };
    let read = row(Scenario::ReadHit);
    let update = row(Scenario::Update);
    let create = row(Scenario::Create);
    let update_vs_redis = versus(Scenario::Update, DEFAULT_KV, "actix-redis");
    let durable_kv = rows.iter().find(|row| {
        row.scenario == Scenario::DurableUpdate && row.variant.side == Side::KvSessions
    });
    let durable = durable_kv
        .and_then(|row| versus(Scenario::DurableUpdate, row.variant.name, "tower-sqlite"));
    let cold = versus(Scenario::ColdRead, DEFAULT_KV, "tower-sqlite");
    vec![
        Target {
            goal: "read-hit ≥ 0.95× bare and ahead of every peer",
            measured: format!(
                "{} bare, {} best peer",
                times(read.and_then(|r| r.vs_bare)),
                times(read.and_then(|r| r.vs_best_peer))
            ),
            met: read.and_then(|r| Some(r.vs_bare? >= 0.95 && r.vs_best_peer? > 1.0)),
        },
        Target {
            goal: "update ≥ 0.80× bare and ≥ 2.5× actix-session Redis",
            measured: format!(
                "{} bare, {} actix-session Redis",
                times(update.and_then(|r| r.vs_bare)),
                times(update_vs_redis)
            ),
            met: update.and_then(|r| Some(r.vs_bare? >= 0.80 && update_vs_redis? >= 2.5)),
        },
        Target {
            goal: "create ≥ 0.60× bare",
            measured: format!("{} bare", times(create.and_then(|r| r.vs_bare))),
            met: create.and_then(|r| Some(r.vs_bare? >= 0.60)),
        },
        Target {
            goal: "durable-update ≥ 10× tower-sessions SQLite",
            measured: match durable_kv {
                Some(row) => format!("{}: {}", row.variant.name, times(durable)),
                None => "no durable kv-sessions variant yet".to_owned(),
            },
            met: durable.map(|ratio| ratio >= 10.0),
        },
        Target {
            goal: "cold-read ≥ 3× tower-sessions SQLite",
            measured: times(cold),
            met: cold.map(|ratio| ratio >= 3.0),
        },
        memory_target(report),
    ]
}

/// RSS ≤ 1 KiB per cached session beyond its data, from the largest MokaStore footprint.
fn memory_target(report: &Report<'_>) -> Target {
    let largest = report
        .footprints
        .iter()
        .filter(|(store, ..)| *store == FootprintStore::KvMoka)
        .max_by_key(|(_, sessions, _)| *sessions);
    let overhead = largest.map(|(_, sessions, footprint)| {
        (
            footprint.memory_per_session(*sessions) - SESSION_DATA_BYTES as f64,
            *sessions,
        )
    });
    Target {
        goal: "RSS ≤ 1 KiB per cached session beyond its data (MokaStore)",
        measured: overhead.map_or("–".to_owned(), |(bytes, sessions)| {
            format!("{bytes:.0} B beyond {SESSION_DATA_BYTES} B of data, at {sessions} sessions")
        }),
        met: overhead.map(|(bytes, _)| bytes <= 1024.0),
    }
}
