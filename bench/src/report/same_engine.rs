//! The same-engine part: kv-sessions on each shared store against the best peer on the same
//! engine, scenario by scenario, with the target that it be ahead in each.

use std::fmt::Write as _;

use super::{
    Comparison, Report, Row, failure_notes, ratio_to, run_description, thousands, throughput_table,
    times,
};
use crate::scenario::Scenario;
use crate::space::REDIS_DB;
use crate::variant::{Engine, Side};

/// The whole part.
pub(super) fn part(report: &Report<'_>, rows: &[Row]) -> String {
    let mut md =
        String::from("## Shared stores: kv-sessions against its peers on the same engine\n\n");
    md.push_str(&run_description(report.options, Comparison::SameEngine));
    md.push_str(&comparison_table(rows));
    md.push_str(&feed_table(report, rows));
    md.push_str("### Every variant\n\n");
    md.push_str(&throughput_table(rows, "× best peer, same engine"));
    md.push_str(&notes(report));
    md
}

/// One line per engine, scenario and kv-sessions variant, against the best peer there.
fn comparison_table(rows: &[Row]) -> String {
    let mut md = String::from(
        "### Same engine\n\n\
         The target: ahead of the best peer on the same engine in every scenario. Each ratio is \
         the median over rounds of the kv-sessions variant's throughput over the best peer's on \
         that engine in the same round; the peer named is the best by median.\n\n\
         | engine | scenario | kv-sessions | req/s | best peer on the engine | req/s | × best peer \
         | ahead |\n|---|---|---|--:|---|--:|--:|---|\n",
    );
    let (mut ahead, mut lines) = (0, 0);
    for engine in Engine::ALL {
        for scenario in Scenario::ALL {
            let on_engine = |side: Side| {
                rows.iter().filter(move |row| {
                    row.scenario == scenario
                        && row.variant.side == side
                        && row.variant.engine() == Some(engine)
                })
            };
            let best_peer = on_engine(Side::Peer)
                .max_by(|a, b| a.requests_per_sec.total_cmp(&b.requests_per_sec));
            for kv in on_engine(Side::KvSessions) {
                let met = kv.vs_best_peer.map(|ratio| ratio > 1.0);
                lines += 1;
                ahead += usize::from(met == Some(true));
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {} | {} | {} |",
                    engine.label(),
                    scenario.name(),
                    kv.variant.label,
                    thousands(kv.requests_per_sec),
                    best_peer.map_or("–", |peer| peer.variant.label),
                    best_peer.map_or("–".to_owned(), |peer| thousands(peer.requests_per_sec)),
                    times(kv.vs_best_peer),
                    match met {
                        Some(true) => "yes",
                        Some(false) => "**no**",
                        None => "not measured",
                    },
                );
            }
        }
    }
    let _ = writeln!(
        md,
        "\nkv-sessions is ahead of the best peer on its engine in {ahead} of these {lines} lines.\n"
    );
    md
}

/// Each shared store with its invalidation feed (the default), and the same store without.
const FEED_PAIRS: [(Engine, &str, &str); 2] = [
    (Engine::Redis, "kv-redis", "kv-redis-quiet"),
    (Engine::Postgres, "kv-postgres", "kv-postgres-quiet"),
];

/// What announcing each change costs a request: each store against itself with
/// `.invalidation_feed(false)`, in the scenarios both ran. Empty where the run measured no pair.
fn feed_table(report: &Report<'_>, rows: &[Row]) -> String {
    let mut lines = String::new();
    for (engine, on, off) in FEED_PAIRS {
        for scenario in Scenario::ALL {
            let row = |name: &str| {
                rows.iter()
                    .find(|row| row.scenario == scenario && row.variant.name == name)
            };
            let (Some(with), Some(without)) = (row(on), row(off)) else {
                continue;
            };
            let ratio = ratio_to(report.samples, scenario, on, |v| v.name == off);
            let _ = writeln!(
                lines,
                "| {} | {} | {} | {} | {} | {} |",
                engine.label(),
                scenario.name(),
                thousands(with.requests_per_sec),
                thousands(without.requests_per_sec),
                times(ratio),
                ratio.map_or("–".to_owned(), |r| format!("{:+.1}%", 100.0 * (1.0 - r))),
            );
        }
    }
    if lines.is_empty() {
        return lines;
    }
    format!(
        "### What the invalidation feed costs\n\n\
         The goal: publishing costs a write at most about 10%. kv-sessions' `RedisStore` and \
         `PostgresStore` announce every change by default (`invalidation_feed(true)`); the \
         quiet variants are the same stores with `.invalidation_feed(false)`, run interleaved \
         with them. Each ratio is the median over rounds of the store's throughput over its \
         quiet self's in the same round; the cost is one minus that ratio.\n\n\
         | engine | scenario | feed on, req/s | feed off, req/s | × feed off | cost |\n\
         |---|---|--:|--:|--:|--:|\n{lines}\n"
    )
}

fn notes(report: &Report<'_>) -> String {
    let mut md = format!(
        "### Notes\n\n\
         - Every store runs with its default settings: kv-sessions' `RedisStore` on one \
         multiplexed connection and its `PostgresStore` on a pool of up to 16; actix-session's \
         `RedisSessionStore` on one multiplexed connection; tower-sessions-redis-store on a fred \
         pool of 6, as its documentation opens it; tower-sessions-sqlx-store on an sqlx `PgPool` \
         of up to 10. Redis and PostgreSQL run on the same machine, on no particular core, so \
         their work competes with the server's and wrk's alike for every variant.\n\
         - Each sample keeps its sessions in a space of its own, emptied once its server is gone: \
         on Redis (database {REDIS_DB}, the bench's own) under a key prefix `kv_bench_<16 hex \
         digits>:`, whose keys are then deleted; on PostgreSQL in a table of that name, then \
         dropped (kv-sessions: `migrate_down`). tower-sessions' Redis store takes no key prefix, \
         so after its samples the bench's database is emptied whole.\n\
         - The moka variants answer read-hit from memory. No peer here has a cache in front \
         (tower-sessions could, with `CachingSessionStore`), so for a store against a store, \
         read `kv-redis` and `kv-postgres`.\n\
         - cold-read is left out on the shared stores: its store holds a million sessions, which \
         would have to be written through each store's API before the rounds, and written again \
         for each sample's space. On Redis, which holds every session in memory, it would \
         measure what read-hit does.\n"
    );
    failure_notes(&mut md, report);
    md
}
