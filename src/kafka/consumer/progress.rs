//! How far the consumer got: each partition's offset low-water mark, the periodic progress
//! line, and Kafka fetch errors logged once per burst.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::Summary;
use crate::latency::Latencies;

/// Offsets of one partition: which records are in flight, and how far everything is done.
#[derive(Debug, Default, Clone)]
pub(super) struct PartitionProgress {
    in_flight: BTreeSet<i64>,
    highest_done: Option<i64>,
    stored: Option<i64>,
}

impl PartitionProgress {
    pub(super) fn started(&mut self, offset: i64) {
        self.in_flight.insert(offset);
    }

    /// Marks `offset` done; returns the offset to store when the low-water mark moved: the
    /// highest offset below which (and at which) every record seen is done.
    pub(super) fn finished(&mut self, offset: i64) -> Option<i64> {
        self.in_flight.remove(&offset);
        self.highest_done = Some(self.highest_done.map_or(offset, |h| h.max(offset)));
        let mark = match self.in_flight.first() {
            Some(&lowest_in_flight) => lowest_in_flight - 1,
            None => self.highest_done?,
        };
        if self.stored.is_none_or(|s| mark > s) && mark >= 0 {
            self.stored = Some(mark);
            Some(mark)
        } else {
            None
        }
    }
}

/// Kafka errors while fetching come in bursts during a broker outage: the first is logged,
/// then at most one a few seconds with the number left out.
#[derive(Debug, Default)]
pub(super) struct ErrorBurst {
    last_logged: Option<Instant>,
    left_out: u64,
}

impl ErrorBurst {
    const EVERY: Duration = Duration::from_secs(5);

    /// Logs `err` unless one was logged less than [`Self::EVERY`] ago; true when logged.
    pub(super) fn seen(&mut self, err: &dyn std::fmt::Display) -> bool {
        if self.last_logged.is_some_and(|t| t.elapsed() < Self::EVERY) {
            self.left_out += 1;
            return false;
        }
        tracing::warn!(%err, similar_errors_not_logged = self.left_out, "Kafka error while fetching; retrying");
        self.last_logged = Some(Instant::now());
        self.left_out = 0;
        true
    }
}

/// Periodic progress: counts, lag, and write latency percentiles.
pub(super) struct Stats {
    every: Duration,
    last: Instant,
    latencies: Latencies,
}

impl Stats {
    pub(super) fn new(every: Duration) -> Self {
        Self {
            every,
            last: Instant::now(),
            latencies: Latencies::default(),
        }
    }

    /// How long a record took from its fetch to being stored.
    pub(super) fn stored_in(&mut self, took: Duration) {
        self.latencies.push(took);
    }

    pub(super) fn due(&self) -> bool {
        self.last.elapsed() >= self.every
    }

    /// The counts and write latencies since the last report, which starts a new period.
    pub(super) fn take(&mut self, summary: &Summary) -> Report {
        let (median, p99) = self.latencies.median_and_p99();
        self.latencies.clear();
        self.last = Instant::now();
        Report {
            summary: summary.clone(),
            median,
            p99,
        }
    }
}

/// One progress line, waiting for the lag.
pub(super) struct Report {
    summary: Summary,
    median: Duration,
    p99: Duration,
}

impl Report {
    pub(super) fn log(&self, lag: Option<i64>) {
        tracing::info!(
            consumed = self.summary.consumed,
            written = self.summary.stored,
            dead_lettered = self.summary.dead_lettered,
            // `%`: shown as written (lag=2, write_ms_median=6.8), not as quoted strings.
            lag = %lag.map_or_else(|| "unknown".to_string(), |l| l.to_string()),
            write_ms_median = %format!("{:.1}", self.median.as_secs_f64() * 1000.0),
            write_ms_p99 = %format!("{:.1}", self.p99.as_secs_f64() * 1000.0),
            "progress"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A partition whose records at `offsets` are all in flight.
    fn in_flight(offsets: impl IntoIterator<Item = i64>) -> PartitionProgress {
        let mut p = PartitionProgress::default();
        for offset in offsets {
            p.started(offset);
        }
        p
    }

    #[test]
    fn the_low_water_mark_waits_for_the_oldest_record_in_flight() {
        let mut p = in_flight(10..15);
        assert_eq!(p.finished(12), Some(9), "10 and 11 are still in flight");
        assert_eq!(p.finished(11), None);
        assert_eq!(p.finished(10), Some(12));
        assert_eq!(p.finished(14), None, "13 is still in flight");
        assert_eq!(p.finished(13), Some(14));
    }

    #[test]
    fn the_first_record_of_a_partition_stores_nothing_below_it() {
        let mut p = in_flight([0, 1]);
        assert_eq!(p.finished(1), None, "mark would be -1");
        assert_eq!(p.finished(0), Some(1));
    }

    #[test]
    fn the_mark_never_moves_backwards_after_a_re_delivery() {
        let mut p = in_flight([5]);
        assert_eq!(p.finished(5), Some(5));
        // The partition comes back after a rebalance and 3 is delivered again.
        p.started(3);
        assert_eq!(p.finished(3), None);
        p.started(6);
        assert_eq!(p.finished(6), Some(6));
    }

    #[test]
    fn a_burst_of_kafka_errors_is_logged_once() {
        let mut burst = ErrorBurst::default();
        assert!(burst.seen(&"all brokers down"));
        for _ in 0..100 {
            assert!(!burst.seen(&"all brokers down"));
        }
        assert_eq!(burst.left_out, 100);
    }
}
