//! The fleet's figures as Markdown: what each trial measured, the unit costs drawn from them,
//! and those costs carried to a fleet of [`FLEET_INSTANCES`] instances writing
//! [`FLEET_WRITES`] times a second.

use std::fmt::Write as _;

use super::{Measured, Mode, Trial};
use crate::variant::Engine;

/// The fleet the issue asks about.
const FLEET_INSTANCES: f64 = 100.0;
/// Its writes per second, all instances together.
const FLEET_WRITES: f64 = 10_000.0;
/// The share of one core the server may spend on delivering notices before broadcast counts as
/// too dear.
const SERVER_BUDGET: f64 = 0.25;

/// The trial's engine, mode, fleet size and rate.
pub(super) fn name(trial: &Trial) -> String {
    format!(
        "{} {} {:>3} instances {:>5}/s",
        trial.engine.label(),
        trial.mode.label(),
        trial.instances,
        trial.rate,
    )
}

/// One line for the terminal while the trials run.
pub(super) fn progress(trial: &Trial, measured: &Measured) -> String {
    format!(
        "{}: {:.0} writes/s, {:.0} messages/s, server {:.1}% of a core",
        name(trial),
        measured.sent as f64 / measured.seconds,
        measured.delivered as f64 / measured.seconds,
        100.0 * measured.server_cpu / measured.seconds,
    )
}

/// The trials' table, the unit costs and the extrapolation.
pub(super) fn markdown(results: &[(Trial, Measured)]) -> String {
    let mut md = String::new();
    trials_table(&mut md, results);
    let costs: Vec<Costs> = groups(results)
        .into_iter()
        .filter_map(|(engine, mode)| Costs::of(engine, mode, results))
        .collect();
    costs_table(&mut md, &costs);
    fleet_table(&mut md, &costs);
    md
}

fn trials_table(md: &mut String, results: &[(Trial, Measured)]) {
    md.push_str(
        "| engine | mode | instances | writes/s | messages/s delivered | bytes/s per \
         subscriber | server CPU | server µs per message | subscriber µs per message | \
         delay p50 | delay p99 |\n|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    for (trial, measured) in results {
        let seconds = measured.seconds;
        let per_subscriber = match trial.instances {
            0 => "–".to_owned(),
            n => format!("{:.0}", measured.bytes as f64 / seconds / n as f64),
        };
        let delivery = baseline(results, trial)
            .and_then(|base| delivery_us(measured, base))
            .map_or("–".to_owned(), |us| format!("{us:.2}"));
        let subscriber = subscriber_us(measured).map_or("–".to_owned(), |us| format!("{us:.2}"));
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.0} | {:.0} | {per_subscriber} | {:.1}% | {delivery} | \
             {subscriber} | {} | {} |",
            trial.engine.label(),
            trial.mode.label(),
            trial.instances,
            measured.sent as f64 / seconds,
            measured.delivered as f64 / seconds,
            100.0 * measured.server_cpu / seconds,
            percentile(&measured.delays_us, 0.50),
            percentile(&measured.delays_us, 0.99),
        );
    }
    md.push('\n');
}

/// The trial with no subscriber at the same engine, mode and rate.
fn baseline<'a>(results: &'a [(Trial, Measured)], trial: &Trial) -> Option<&'a Measured> {
    if trial.instances == 0 {
        return None;
    }
    results
        .iter()
        .find(|(other, _)| {
            other.instances == 0
                && other.engine == trial.engine
                && other.mode == trial.mode
                && other.rate == trial.rate
        })
        .map(|(_, measured)| measured)
}

/// Server CPU microseconds per delivered message: what the trial spent beyond `base`'s cost
/// for as many writes.
fn delivery_us(measured: &Measured, base: &Measured) -> Option<f64> {
    if measured.delivered == 0 || base.sent == 0 {
        return None;
    }
    let writes_alone = base.server_cpu * measured.sent as f64 / base.sent as f64;
    Some(1e6 * (measured.server_cpu - writes_alone) / measured.delivered as f64)
}

fn subscriber_us(measured: &Measured) -> Option<f64> {
    (measured.delivered > 0).then(|| 1e6 * measured.subscriber_cpu / measured.delivered as f64)
}

fn percentile(sorted_us: &[u32], quantile: f64) -> String {
    if sorted_us.is_empty() {
        return "–".to_owned();
    }
    let index = ((sorted_us.len() - 1) as f64 * quantile).round() as usize;
    let us = f64::from(sorted_us[index]);
    if us < 1_000.0 {
        format!("{us:.0} µs")
    } else {
        format!("{:.1} ms", us / 1_000.0)
    }
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.retain(|value| value.is_finite());
    values.sort_by(f64::total_cmp);
    (!values.is_empty()).then(|| values[values.len() / 2])
}

fn groups(results: &[(Trial, Measured)]) -> Vec<(Engine, Mode)> {
    let mut groups = Vec::new();
    for (trial, _) in results {
        if !groups.contains(&(trial.engine, trial.mode)) {
            groups.push((trial.engine, trial.mode));
        }
    }
    groups
}

/// The unit costs of one engine and mode, each the median over its trials.
struct Costs {
    engine: Engine,
    mode: Mode,
    /// Server CPU µs per write, notice included, with no one listening.
    write_us: f64,
    /// Server CPU µs per message delivered.
    delivery_us: f64,
    /// Subscriber CPU µs per message received.
    subscriber_us: f64,
    /// Bytes on a subscriber's connection per message.
    bytes_per_message: f64,
    /// Messages per write, all subscribers together, at the largest fleet measured; broadcast
    /// is one per instance, so it is set from the fleet size instead.
    messages_per_write: f64,
}

impl Costs {
    fn of(engine: Engine, mode: Mode, results: &[(Trial, Measured)]) -> Option<Self> {
        let own: Vec<&(Trial, Measured)> = results
            .iter()
            .filter(|(trial, _)| trial.engine == engine && trial.mode == mode)
            .collect();
        let listened = || {
            own.iter()
                .filter(|(trial, m)| trial.instances > 0 && m.delivered > 0)
        };
        let write_us = median(
            own.iter()
                .filter(|(trial, m)| trial.instances == 0 && m.sent > 0)
                .map(|(_, m)| 1e6 * m.server_cpu / m.sent as f64)
                .collect(),
        )?;
        let delivery_us = median(
            listened()
                .filter_map(|(trial, m)| delivery_us(m, baseline(results, trial)?))
                .collect(),
        )?;
        Some(Self {
            engine,
            mode,
            write_us,
            delivery_us,
            subscriber_us: median(listened().filter_map(|(_, m)| subscriber_us(m)).collect())?,
            bytes_per_message: median(
                listened()
                    .map(|(_, m)| m.bytes as f64 / m.delivered as f64)
                    .collect(),
            )?,
            messages_per_write: median(
                listened()
                    .map(|(_, m)| m.delivered as f64 / m.sent as f64)
                    .collect(),
            )?,
        })
    }

    /// Messages the server delivers per second to `instances` instances writing `writes`
    /// times a second.
    fn messages(&self, instances: f64, writes: f64) -> f64 {
        match self.mode {
            Mode::Broadcast => instances * writes,
            Mode::Tracking => self.messages_per_write * writes,
        }
    }
}

fn costs_table(md: &mut String, costs: &[Costs]) {
    md.push_str(
        "| engine | mode | server µs per write | server µs per message | subscriber µs per \
         message | bytes per message | messages per write (tracking) |\n\
         |---|---|--:|--:|--:|--:|--:|\n",
    );
    for cost in costs {
        let per_write = match cost.mode {
            Mode::Broadcast => "one per instance".to_owned(),
            Mode::Tracking => format!("{:.2}", cost.messages_per_write),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} | {:.2} | {:.2} | {:.0} | {per_write} |",
            cost.engine.label(),
            cost.mode.label(),
            cost.write_us,
            cost.delivery_us,
            cost.subscriber_us,
            cost.bytes_per_message,
        );
    }
    md.push('\n');
}

fn fleet_table(md: &mut String, costs: &[Costs]) {
    let _ = writeln!(
        md,
        "| engine | mode | messages/s the server delivers | bytes/s per instance | CPU per \
         instance | server CPU, writes | server CPU, delivery | broadcast over {:.0}% of a \
         core beyond |\n|---|---|--:|--:|--:|--:|--:|--:|",
        100.0 * SERVER_BUDGET
    );
    for cost in costs {
        let messages = cost.messages(FLEET_INSTANCES, FLEET_WRITES);
        let per_instance = messages / FLEET_INSTANCES;
        let threshold = match cost.mode {
            Mode::Broadcast if cost.delivery_us > 0.0 => format!(
                "instances × writes/s = {:.0}",
                SERVER_BUDGET * 1e6 / cost.delivery_us
            ),
            _ => "–".to_owned(),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {messages:.0} | {:.0} | {:.2}% | {:.0}% | {:.0}% | {threshold} |",
            cost.engine.label(),
            cost.mode.label(),
            per_instance * cost.bytes_per_message,
            100.0 * per_instance * cost.subscriber_us / 1e6,
            100.0 * FLEET_WRITES * cost.write_us / 1e6,
            100.0 * messages * cost.delivery_us / 1e6,
        );
    }
}
