//! Turning samples into `RESULTS.md` and its charts.
//!
//! `RESULTS.md` holds two comparisons, each in a part of its own between markers: kv-sessions on
//! its in-process stores against every peer, and kv-sessions on the shared stores against the
//! peers on the same engine. A run rewrites the parts whose kv-sessions variants it measured and
//! keeps the others as they were, so that a short run of one comparison does not lose the
//! other's figures. Each part names its own date, settings and samples file; ratios are only
//! ever taken within one run.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::driver::{Options, Sample};
use crate::footprint::{Footprint, FootprintStore};
use crate::scenario::Scenario;
use crate::seed::SESSION_DATA_BYTES;
use crate::variant::{Side, VARIANTS, Variant};

mod chart;
mod same_engine;
mod targets;

/// The file the report is written to, in the output directory.
const RESULTS_FILE: &str = "RESULTS.md";

/// Everything a report is made from.
pub(crate) struct Report<'a> {
    pub(crate) options: &'a Options,
    pub(crate) samples: &'a [Sample],
    pub(crate) footprints: &'a [(FootprintStore, usize, Footprint)],
    /// The samples that failed, each with its variant.
    pub(crate) failures: &'a [(&'static Variant, String)],
}

/// One of the comparisons in `RESULTS.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Comparison {
    /// kv-sessions on sled and moka, in the app's own process, against every peer.
    InProcess,
    /// kv-sessions on Redis and PostgreSQL against the peers on the same engine.
    SameEngine,
}

impl Comparison {
    /// Every comparison, in report order.
    const ALL: [Self; 2] = [Self::InProcess, Self::SameEngine];

    /// The name in the part's markers.
    fn name(self) -> &'static str {
        match self {
            Self::InProcess => "in-process",
            Self::SameEngine => "same-engine",
        }
    }

    /// The file its samples are written to, in the output directory.
    pub(crate) fn samples_file(self) -> &'static str {
        match self {
            Self::InProcess => "samples.csv",
            Self::SameEngine => "samples-same-engine.csv",
        }
    }

    /// The file its chart is written to, in the output directory.
    fn chart_file(self) -> &'static str {
        match self {
            Self::InProcess => "results.svg",
            Self::SameEngine => "results-same-engine.svg",
        }
    }

    /// Whether `variant`'s samples belong to it. Bare actix-web belongs to both.
    pub(crate) fn includes(self, variant: &Variant) -> bool {
        match (self, variant.side) {
            (_, Side::Baseline) | (Self::InProcess, Side::Peer) => true,
            (Self::InProcess, Side::KvSessions) => variant.engine().is_none(),
            (Self::SameEngine, _) => variant.engine().is_some(),
        }
    }

    /// Whether the "× best peer" ratio of `own` counts `other`.
    fn rival(self, own: &Variant, other: &Variant) -> bool {
        other.side == Side::Peer
            && match self {
                Self::InProcess => true,
                Self::SameEngine => other.engine() == own.engine(),
            }
    }

    /// The comparisons a run of `variants` rewrites: those it measured a kv-sessions variant of.
    pub(crate) fn rewritten_by(variants: &[&Variant]) -> Vec<Self> {
        Self::ALL
            .into_iter()
            .filter(|comparison| {
                variants
                    .iter()
                    .any(|v| v.side == Side::KvSessions && comparison.includes(v))
            })
            .collect()
    }

    /// The line that opens its part.
    fn start_marker(self) -> String {
        format!(
            "<!-- part {}: written by bench/run, kept by runs that measure none of its \
             kv-sessions variants -->",
            self.name()
        )
    }

    /// The line that closes its part.
    fn end_marker(self) -> String {
        format!("<!-- end of part {} -->", self.name())
    }
}

/// One variant in one scenario, over every round.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) scenario: Scenario,
    pub(crate) variant: &'static Variant,
    pub(crate) requests_per_sec: f64,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
    /// The median over rounds of its throughput over bare actix-web's in the same round.
    pub(crate) vs_bare: Option<f64>,
    /// The median over rounds of its throughput over the best peer's in the same round.
    pub(crate) vs_best_peer: Option<f64>,
}

/// Writes `RESULTS.md`, and the charts of the comparisons the run rewrites, into the output
/// directory.
pub(crate) fn write(report: &Report<'_>) -> io::Result<()> {
    let out = &report.options.out;
    let path = out.join(RESULTS_FILE);
    let previous = fs::read_to_string(&path).unwrap_or_default();
    let rewritten = Comparison::rewritten_by(&report.options.variants);
    let mut md = title();
    for comparison in Comparison::ALL {
        let part = if rewritten.contains(&comparison) {
            let (text, rows) = part(report, comparison);
            fs::write(out.join(comparison.chart_file()), chart::svg(&rows))?;
            text
        } else {
            match kept_part(&previous, comparison) {
                Some(kept) => kept.to_owned(),
                None => continue,
            }
        };
        let _ = write!(
            md,
            "{}\n{part}{}\n\n",
            comparison.start_marker(),
            comparison.end_marker()
        );
    }
    if let Some(kept) = coherence_part(&previous) {
        let _ = write!(md, "{COHERENCE_START}{kept}{COHERENCE_END}\n\n");
    }
    fs::write(&path, md.trim_end().to_owned() + "\n")?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

fn title() -> String {
    "# kv-sessions load benchmark\n\n\
     Two comparisons, each written by the last run that measured its kv-sessions variants, so \
     each names its own date and settings: kv-sessions on its in-process stores against every \
     peer, and kv-sessions on the shared stores against the peers on the same engine. Ratios \
     are only ever taken within one run. Produced by `bench/run`. After them, what coherence \
     across instances costs, from `kv-sessions-bench fleet`.\n\n"
        .to_owned()
}

/// The line that opens the coherence part, which no run writes: it quotes `kv-sessions-bench
/// fleet` and the same-engine part, with the reasoning between them, so every run keeps it.
const COHERENCE_START: &str = "<!-- part coherence: written from `kv-sessions-bench fleet` and the \
                               same-engine part, kept by every run -->";
/// The line that closes the coherence part.
const COHERENCE_END: &str = "<!-- end of part coherence -->";

/// The text of the coherence part in `previous`, between its markers.
fn coherence_part(previous: &str) -> Option<&str> {
    let (_, rest) = previous.split_once(COHERENCE_START)?;
    let (part, _) = rest.split_once(COHERENCE_END)?;
    Some(part)
}

/// The text of `comparison`'s part in `previous`, between its markers.
fn kept_part(previous: &str, comparison: Comparison) -> Option<&str> {
    let start = comparison.start_marker();
    let (_, rest) = previous.split_once(&format!("{start}\n"))?;
    let (part, _) = rest.split_once(&comparison.end_marker())?;
    Some(part)
}

/// `comparison`'s part, from this run's samples of its variants, and its rows.
fn part(report: &Report<'_>, comparison: Comparison) -> (String, Vec<Row>) {
    let samples: Vec<Sample> = report
        .samples
        .iter()
        .filter(|sample| comparison.includes(sample.variant))
        .cloned()
        .collect();
    let failures: Vec<(&'static Variant, String)> = report
        .failures
        .iter()
        .filter(|(variant, _)| comparison.includes(variant))
        .cloned()
        .collect();
    let own = Report {
        samples: &samples,
        failures: &failures,
        ..*report
    };
    let rows = summarize(&samples, comparison);
    let text = match comparison {
        Comparison::InProcess => in_process(&own, &rows),
        Comparison::SameEngine => same_engine::part(&own, &rows),
    };
    (text, rows)
}

/// A row for every variant and scenario with samples, in table order; each "× best peer" is
/// against the peers `comparison` sets it against.
pub(crate) fn summarize(samples: &[Sample], comparison: Comparison) -> Vec<Row> {
    let mut rows = Vec::new();
    for scenario in Scenario::ALL {
        for variant in VARIANTS {
            let own: Vec<&Sample> = samples
                .iter()
                .filter(|s| s.scenario == scenario && s.variant.name == variant.name)
                .collect();
            if own.is_empty() {
                continue;
            }
            let field = |f: fn(&Sample) -> f64| median(own.iter().map(|s| f(s)).collect());
            rows.push(Row {
                scenario,
                variant,
                requests_per_sec: field(|s| s.measurement.requests_per_sec()).unwrap_or(0.0),
                p50_us: field(|s| s.measurement.p50_us as f64).unwrap_or(0.0),
                p99_us: field(|s| s.measurement.p99_us as f64).unwrap_or(0.0),
                vs_bare: ratio_to(samples, scenario, variant.name, |v| {
                    v.side == Side::Baseline
                }),
                vs_best_peer: ratio_to(samples, scenario, variant.name, |v| {
                    comparison.rival(variant, v)
                }),
            });
        }
    }
    rows
}

/// The median over rounds of `name`'s throughput over the best throughput, in the same round,
/// among the variants `other` picks.
pub(crate) fn ratio_to(
    samples: &[Sample],
    scenario: Scenario,
    name: &str,
    other: impl Fn(&Variant) -> bool,
) -> Option<f64> {
    let in_scenario = || samples.iter().filter(move |s| s.scenario == scenario);
    let ratios = in_scenario()
        .filter(|s| s.variant.name == name)
        .filter_map(|own| {
            let best = in_scenario()
                .filter(|s| s.round == own.round && other(s.variant))
                .map(|s| s.measurement.requests_per_sec())
                .fold(None, |best: Option<f64>, rps| {
                    Some(best.map_or(rps, |b| b.max(rps)))
                })?;
            (best > 0.0).then(|| own.measurement.requests_per_sec() / best)
        })
        .collect();
    median(ratios)
}

/// The median; the mean of the middle two for an even count.
pub(crate) fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    })
}

/// The in-process part: every variant's throughput, the targets, and the footprints.
fn in_process(report: &Report<'_>, rows: &[Row]) -> String {
    let mut md = String::from("## In-process stores: kv-sessions on sled and moka\n\n");
    md.push_str(&run_description(report.options, Comparison::InProcess));
    md.push_str(&throughput_table(rows, "× best peer"));
    md.push_str(&targets::section(report, rows));
    md.push_str(&footprint_section(report.footprints));
    md.push_str(&notes(report));
    md
}

/// Where and when the run was measured, and how.
fn run_description(options: &Options, comparison: Comparison) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "{}\n", machine_line());
    let _ = writeln!(
        md,
        "Every variant runs as its own server process: one actix-web worker, or one \
         current-thread tokio runtime for axum, pinned to {}. wrk (`-t{} -c{}`) runs on the \
         other core, {} s per sample after a {} s warm-up. {} round(s), the variants interleaved \
         within each; every figure is the median over rounds, and each ratio is the median of the \
         per-round ratios. Every library runs with its default settings. Produced by `bench/run` \
         (the driver ran as `{}`); the raw samples are in `{}`.\n",
        options
            .server_core
            .as_deref()
            .map_or("no particular core".to_owned(), |core| format!(
                "core {core}"
            )),
        options.load.threads,
        options.load.connections,
        options.duration.as_secs(),
        options.warmup.as_secs(),
        options.rounds,
        driver_command(),
        comparison.samples_file(),
    );
    md
}

/// The driver's command line, without the path of its binary.
fn driver_command() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("kv-sessions-bench {}", args.join(" "))
}

/// The throughput table: one line per variant and scenario, with `peer_ratio` heading the last
/// column.
pub(crate) fn throughput_table(rows: &[Row], peer_ratio: &str) -> String {
    let mut md = format!(
        "| scenario | variant | req/s | p50 | p99 | × bare actix | {peer_ratio} |\n\
         |---|---|--:|--:|--:|--:|--:|\n",
    );
    for row in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} |",
            row.scenario.name(),
            row.variant.label,
            thousands(row.requests_per_sec),
            micros(row.p50_us),
            micros(row.p99_us),
            times(row.vs_bare),
            times(row.vs_best_peer),
        );
    }
    md.push('\n');
    md
}

fn footprint_section(footprints: &[(FootprintStore, usize, Footprint)]) -> String {
    if footprints.is_empty() {
        return String::new();
    }
    let mut md = format!(
        "### Memory and disk\n\n\
         Each store is filled through its own API in a process of its own, with sessions holding \
         what `/set` writes ({SESSION_DATA_BYTES} bytes of id, keys and values). \"Memory per \
         session\" is the peak resident set (`VmHWM`) once every session is saved, less the \
         resident set of the open, empty store, divided by the sessions. \"Open\" is the time to \
         open the full store again and load one session (the files are in the page cache).\n\n\
         | store | sessions | peak RSS | memory per session | disk per session | open |\n\
         |---|--:|--:|--:|--:|--:|\n"
    );
    for (store, sessions, footprint) in footprints {
        let disk = footprint.disk_bytes.map_or("–".to_owned(), |bytes| {
            format!("{:.0} B", bytes as f64 / *sessions as f64)
        });
        let open = footprint.open.map_or("–".to_owned(), |open| {
            format!("{:.0} ms", open.as_secs_f64() * 1e3)
        });
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} MiB | {:.0} B | {disk} | {open} |",
            store.label(),
            thousands(*sessions as f64),
            footprint.peak_kib as f64 / 1024.0,
            footprint.memory_per_session(*sessions),
        );
    }
    md.push('\n');
    md
}

fn notes(report: &Report<'_>) -> String {
    let mut md = String::from("### Notes\n\n");
    let durable_kv = report
        .options
        .variants
        .iter()
        .any(|v| v.side == Side::KvSessions && v.runs(Scenario::DurableUpdate));
    if !durable_kv {
        md.push_str(
            "- durable-update has no kv-sessions variant yet: `SledStoreBuilder::durability` is \
             not on this branch. Its line in `bench/src/variant.rs` is written out in that \
             module's documentation. The scenario still measures tower-sessions on SQLite, \
             whose default (sqlx: rollback journal, `synchronous = FULL`) syncs every commit.\n",
        );
    }
    md.push_str(
        "- The hot scenarios create their 10,000 sessions through each server's own `GET /set` \
         before the warm-up; cold-read's sessions are written straight into the store files \
         before the first round (kv-sessions: `SessionStore::save`, cookies signed the way the \
         middleware signs them and checked against a live server before each sample; \
         tower-sessions: `SessionStore::save`). Bare actix-web gets cookies of the same shape, \
         so wrk does the same work for every variant.\n\
         - cold-read is run only by stores with files: actix-session's cookie store keeps nothing \
         on the server, and Redis and the in-memory stores hold every session in memory.\n\
         - actix-session's Redis sessions carry a one-hour TTL instead of its default day. Like \
         every variant on a shared server, each sample keeps its sessions in a space of its own \
         there, emptied once its server is gone.\n",
    );
    failure_notes(&mut md, report);
    md
}

/// A note for each sample that failed.
pub(crate) fn failure_notes(md: &mut String, report: &Report<'_>) {
    for (_, failure) in report.failures {
        let _ = writeln!(md, "- A sample failed and is left out: {failure}");
    }
}

/// The machine, the CPU and the date, for the report's header.
fn machine_line() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
        .map_or("unknown CPU", |(_, model)| model.trim());
    format!("Measured on {} with {model}, {cores} cores.", today())
}

/// Today's date (UTC) as `YYYY-MM-DD`.
fn today() -> String {
    let days = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() / 86_400) as i64;
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The proleptic Gregorian date `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A whole number with thousands separators.
pub(crate) fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn micros(value: f64) -> String {
    if value >= 1000.0 {
        format!("{:.2} ms", value / 1000.0)
    } else {
        format!("{value:.0} µs")
    }
}

pub(crate) fn times(ratio: Option<f64>) -> String {
    ratio.map_or("–".to_owned(), |r| format!("{r:.2}×"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(Vec::new()), None);
    }

    #[test]
    fn dates_count_from_the_unix_epoch() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
    }

    #[test]
    fn a_part_a_run_does_not_rewrite_is_kept_as_it_was() {
        let (start, end) = (
            Comparison::InProcess.start_marker(),
            Comparison::InProcess.end_marker(),
        );
        let previous = format!("# title\n\n{start}\nold figures\n{end}\n");
        assert_eq!(
            kept_part(&previous, Comparison::InProcess),
            Some("old figures\n")
        );
        assert_eq!(kept_part(&previous, Comparison::SameEngine), None);
    }

    #[test]
    fn the_coherence_part_is_kept_by_every_run() {
        let previous = format!("# title\n\n{COHERENCE_START}\nfleet figures\n{COHERENCE_END}\n");
        assert_eq!(coherence_part(&previous), Some("\nfleet figures\n"));
        assert_eq!(coherence_part("# title\n"), None);
    }

    #[test]
    fn a_run_rewrites_the_comparisons_of_the_kv_sessions_variants_it_measured() {
        let find = |name| Variant::find(name).expect("a variant");
        let shared_only = [find("bare"), find("kv-redis"), find("kv-moka-postgres")];
        assert_eq!(
            Comparison::rewritten_by(&shared_only),
            [Comparison::SameEngine]
        );
        assert_eq!(
            Comparison::rewritten_by(&[find("bare"), find("kv-sled"), find("kv-postgres")]),
            Comparison::ALL
        );
        assert!(Comparison::rewritten_by(&[find("bare")]).is_empty());
    }

    #[cfg(feature = "peers")]
    #[test]
    fn shared_stores_are_set_against_the_peers_on_their_engine_alone() {
        let find = |name| Variant::find(name).expect("a variant");
        let same = Comparison::SameEngine;
        assert!(same.rival(find("kv-redis"), find("actix-redis")));
        assert!(same.rival(find("kv-postgres"), find("tower-postgres")));
        assert!(!same.rival(find("kv-postgres"), find("tower-redis")));
        assert!(!same.includes(find("tower-sqlite")));
        assert!(Comparison::InProcess.rival(find("kv-sled"), find("tower-redis")));
        assert!(!Comparison::InProcess.includes(find("kv-moka-redis")));
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(1_234_567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
    }
}
