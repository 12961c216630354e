//! How far the consumer got: each partition's offset low-water mark, the periodic progress
//! line, and Kafka fetch errors logged once per burst.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::Summary;
use crate::latency::Latencies;

/// A fetched record's place in its partition's [`PartitionProgress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ticket {
    pub(super) partition: i32,
    /// The record's number among those its partition fetched in this run.
    pub(super) seq: u64,
}

/// Offsets of one partition: the records not yet done, in fetch order, and how far everything
/// is done. O(1) per record: a record is found by its sequence number, and the done ones leave
/// from the front.
#[derive(Debug, Default, Clone)]
pub(super) struct PartitionProgress {
    /// From the oldest record not yet done: each offset, and whether it is done.
    window: VecDeque<(i64, bool)>,
    /// The sequence number of the window's front.
    front_seq: u64,
    stored: Option<i64>,
}

impl PartitionProgress {
    /// A record was fetched; its sequence number, for [`Self::finished`].
    pub(super) fn started(&mut self, offset: i64) -> u64 {
        self.window.push_back((offset, false));
        self.front_seq + self.window.len() as u64 - 1
    }

    /// Marks record `seq` done; returns the offset to store when the low-water mark moved: the
    /// highest offset at and below which every record fetched before it is done.
    pub(super) fn finished(&mut self, seq: u64) -> Option<i64> {
        let at = usize::try_from(seq.checked_sub(self.front_seq)?).ok()?;
        self.window.get_mut(at)?.1 = true;
        let mut highest: Option<i64> = None;
        while let Some(&(offset, true)) = self.window.front() {
            self.window.pop_front();
            self.front_seq += 1;
            highest = Some(highest.map_or(offset, |h| h.max(offset)));
        }
        // A partition given back and assigned again may deliver offsets again, lower ones
        // included: the mark never moves backwards.
        let mark = highest?;
        if self.stored.is_none_or(|s| mark > s) {
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

    /// How long a group of `records` took to be stored.
    pub(super) fn stored_in(&mut self, took: Duration, records: usize) {
        for _ in 0..records {
            self.latencies.push(took);
        }
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

    /// A partition whose records at `offsets` are all in flight; their sequence numbers.
    fn in_flight(offsets: impl IntoIterator<Item = i64>) -> (PartitionProgress, Vec<u64>) {
        let mut p = PartitionProgress::default();
        let seqs = offsets.into_iter().map(|o| p.started(o)).collect();
        (p, seqs)
    }

    #[test]
    fn the_low_water_mark_waits_for_the_oldest_record_in_flight() {
        let (mut p, s) = in_flight(10..15);
        assert_eq!(p.finished(s[2]), None, "10 and 11 are still in flight");
        assert_eq!(p.finished(s[1]), None);
        assert_eq!(p.finished(s[0]), Some(12));
        assert_eq!(p.finished(s[4]), None, "13 is still in flight");
        assert_eq!(p.finished(s[3]), Some(14));
    }

    #[test]
    fn the_first_record_of_a_partition_must_finish_before_anything_is_stored() {
        let (mut p, s) = in_flight([0, 1]);
        assert_eq!(p.finished(s[1]), None);
        assert_eq!(p.finished(s[0]), Some(1));
    }

    #[test]
    fn gaps_in_offsets_do_not_hold_the_mark_back() {
        // Offsets 11 and 12 are transaction markers or compacted away: never delivered.
        let (mut p, s) = in_flight([10, 13]);
        assert_eq!(p.finished(s[0]), Some(10));
        assert_eq!(p.finished(s[1]), Some(13));
    }

    #[test]
    fn the_mark_never_moves_backwards_after_a_re_delivery() {
        let (mut p, s) = in_flight([5]);
        assert_eq!(p.finished(s[0]), Some(5));
        // The partition comes back after a rebalance and 3 is delivered again.
        let three = p.started(3);
        assert_eq!(p.finished(three), None);
        let six = p.started(6);
        assert_eq!(p.finished(six), Some(6));
    }

    #[test]
    fn a_record_finished_twice_or_unknown_changes_nothing() {
        let (mut p, s) = in_flight([7, 8]);
        assert_eq!(p.finished(s[0]), Some(7));
        assert_eq!(p.finished(s[0]), None, "already done and gone");
        assert_eq!(p.finished(99), None, "never started");
        assert_eq!(p.finished(s[1]), Some(8));
    }

    #[test]
    fn the_window_keeps_only_records_not_yet_done() {
        let mut p = PartitionProgress::default();
        for offset in 0..100_000 {
            let seq = p.started(offset);
            assert_eq!(p.finished(seq), Some(offset));
        }
        assert!(p.window.is_empty());
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
