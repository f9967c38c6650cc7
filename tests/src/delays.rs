//! Delays measured over many trials, summed up the way the project reports them: the median and
//! the 99th percentile.

use std::time::Duration;

/// The delays of one kind measured so far, such as "purge on A to refusal on B".
#[derive(Debug, Clone)]
pub struct Delays {
    what: String,
    samples: Vec<Duration>,
}

impl Delays {
    /// No measurements yet of `what`.
    pub fn new(what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            samples: Vec::new(),
        }
    }

    /// Adds one trial's delay.
    pub fn record(&mut self, delay: Duration) {
        self.samples.push(delay);
    }

    /// How many trials were measured.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether no trial was measured.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// The median delay.
    pub fn median(&self) -> Duration {
        self.percentile(50)
    }

    /// The 99th percentile, by nearest rank: over 50 trials, the slowest.
    pub fn p99(&self) -> Duration {
        self.percentile(99)
    }

    /// The delay that `percent` percent of the trials did not exceed, by nearest rank.
    fn percentile(&self, percent: usize) -> Duration {
        assert!(!self.is_empty(), "no delay of {} was measured", self.what);
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        let rank = (percent * sorted.len()).div_ceil(100).max(1);
        sorted[rank - 1]
    }

    /// Writes the summary to stderr, under `label`, for the report.
    pub fn report(&self, label: &str) {
        eprintln!(
            "{label}: {} over {} trials: median {:.2?}, p99 {:.2?}",
            self.what,
            self.len(),
            self.median(),
            self.p99()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_percentiles_are_nearest_ranks() {
        let mut delays = Delays::new("a test");
        for millis in (1..=50).rev() {
            delays.record(Duration::from_millis(millis));
        }
        assert_eq!(delays.median(), Duration::from_millis(25));
        assert_eq!(delays.p99(), Duration::from_millis(50));
    }
}
