//! Latency samples, bounded, and their percentiles by nearest rank: one definition for the
//! producer's summary and the consumer's progress lines.

use std::collections::VecDeque;
use std::time::Duration;

/// The newest `capacity` latencies.
#[derive(Debug, Clone)]
pub struct Latencies {
    samples: VecDeque<Duration>,
    capacity: usize,
}

impl Default for Latencies {
    fn default() -> Self {
        Self::new(10_000)
    }
}

impl Latencies {
    pub fn new(capacity: usize) -> Self {
        Self {
            samples: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Keeps `latency`, forgetting the oldest when full.
    pub fn push(&mut self, latency: Duration) {
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(latency);
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    pub fn clear(&mut self) {
        self.samples.clear();
    }

    /// The `q` quantile (0..=1), by nearest rank; `None` without samples.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let mut sorted: Vec<Duration> = self.samples.iter().copied().collect();
        sorted.sort_unstable();
        nearest_rank(&sorted, q)
    }

    /// The median and the 99th percentile; zero without samples.
    pub fn median_and_p99(&self) -> (Duration, Duration) {
        let mut sorted: Vec<Duration> = self.samples.iter().copied().collect();
        sorted.sort_unstable();
        (
            nearest_rank(&sorted, 0.5).unwrap_or_default(),
            nearest_rank(&sorted, 0.99).unwrap_or_default(),
        )
    }
}

/// The smallest sample with at least `q` of the samples at or below it.
fn nearest_rank(sorted: &[Duration], q: f64) -> Option<Duration> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as usize).clamp(1, n);
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut l = Latencies::default();
        for ms in (1..=100).rev() {
            l.push(Duration::from_millis(ms));
        }
        assert_eq!(
            l.median_and_p99(),
            (Duration::from_millis(50), Duration::from_millis(99))
        );
        assert_eq!(l.quantile(0.0), Some(Duration::from_millis(1)));
        assert_eq!(l.quantile(1.0), Some(Duration::from_millis(100)));
        assert_eq!(
            Latencies::default().median_and_p99(),
            (Duration::ZERO, Duration::ZERO)
        );
        assert_eq!(Latencies::default().quantile(0.5), None);
    }

    #[test]
    fn only_the_newest_are_kept() {
        let mut l = Latencies::new(3);
        for ms in [100, 1, 2, 3] {
            l.push(Duration::from_millis(ms));
        }
        assert_eq!(l.len(), 3);
        assert_eq!(l.quantile(1.0), Some(Duration::from_millis(3)));
    }
}
