//! Running wrk and reading its figures.

use std::io;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The Lua script every run uses: random cookies from a file, and a summary line at the end.
pub(crate) const SCRIPT: &str = include_str!("../wrk/sessions.lua");

/// The prefix of the script's summary line.
const SUMMARY_PREFIX: &str = "kv-sessions-bench:";

/// How hard wrk pushes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Load {
    pub(crate) threads: u32,
    pub(crate) connections: u32,
}

/// What one wrk run measured.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Measurement {
    pub(crate) requests: u64,
    pub(crate) duration_us: u64,
    /// Connection errors, timeouts and non-2xx answers.
    pub(crate) errors: u64,
    pub(crate) p50_us: u64,
    pub(crate) p99_us: u64,
}

impl Measurement {
    pub(crate) fn requests_per_sec(&self) -> f64 {
        if self.duration_us == 0 {
            return 0.0;
        }
        self.requests as f64 * 1e6 / self.duration_us as f64
    }
}

/// Runs wrk against `url` for `duration`, sending cookies from `cookies` (see [`SCRIPT`],
/// written at `script`).
pub(crate) fn run(
    url: &str,
    script: &Path,
    cookies: Option<&Path>,
    load: Load,
    duration: Duration,
) -> io::Result<Measurement> {
    let seconds = duration.as_secs().max(1);
    let output = Command::new("wrk")
        .arg(format!("-t{}", load.threads))
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{seconds}s"))
        .arg("--timeout")
        .arg("5s")
        .arg("-s")
        .arg(script)
        .arg(url)
        .arg("--")
        .arg(cookies.map(Path::as_os_str).unwrap_or_default())
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(io::Error::other(format!(
            "wrk failed ({}): {stdout}{stderr}",
            output.status
        )));
    }
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(SUMMARY_PREFIX))
        .and_then(parse_summary)
        .ok_or_else(|| io::Error::other(format!("wrk printed no summary line: {stdout}")))
}

/// Reads `requests=.. duration_us=.. errors=.. p50_us=.. p99_us=..`.
fn parse_summary(line: &str) -> Option<Measurement> {
    let mut measurement = Measurement::default();
    for field in line.split_whitespace() {
        let (name, value) = field.split_once('=')?;
        let value: u64 = value.parse().ok()?;
        match name {
            "requests" => measurement.requests = value,
            "duration_us" => measurement.duration_us = value,
            "errors" => measurement.errors = value,
            "p50_us" => measurement.p50_us = value,
            "p99_us" => measurement.p99_us = value,
            _ => return None,
        }
    }
    Some(measurement)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_line_reads_back_into_a_measurement() {
        let m = parse_summary(" requests=400 duration_us=2000000 errors=1 p50_us=210 p99_us=900")
            .expect("a summary");
        assert_eq!(
            (m.requests, m.errors, m.p50_us, m.p99_us),
            (400, 1, 210, 900)
        );
        assert_eq!(m.requests_per_sec(), 200.0);
    }

    #[test]
    fn a_summary_with_an_unknown_field_is_refused() {
        assert!(parse_summary(" requests=1 bogus=2").is_none());
    }
}
