//! One exponential backoff for every loop that waits and tries again (Cassandra writes and
//! reconnects, dead letters, the producer's resends, the metrics listener's accepts, and the
//! scheduler's retries, pauses and rechecks): its rules live here and are tested here.
//!
//! The rules: the n-th delay is `initial × multiplier^(n-1)`, capped at `max`; then, unless
//! the loop asked for no jitter, "equal jitter": half the delay plus a random share of the
//! other half. At least half keeps retries spaced; the random rest keeps tasks that failed
//! together from retrying together against a recovering server; and `max` stays a true cap.
//! A loop whose pause is one shared timer (the scheduler's pause of every call) has nothing
//! to spread, so it takes no jitter and its delays stay exact.
//!
//! Pure code (the scheduler) asks [`Backoff::delay`] with the attempt and a share it drew;
//! async loops keep a [`Backoff`] and call [`Backoff::wait`] or [`Backoff::next_delay`], then
//! [`Backoff::reset`] after a success.

use std::time::Duration;

/// How a delay is spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// Half the delay plus a random share of the other half.
    Equal,
    /// The delay as computed: for a single shared pause, or a recheck, not a retry.
    None,
}

/// Delays growing from `initial` by `multiplier` per attempt up to `max`, with a jitter rule,
/// and the attempts made since the last reset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    multiplier: u32,
    jitter: Jitter,
    attempts: u32,
}

impl Backoff {
    /// Doubling from `initial` up to `max` (at least `initial`), with equal jitter.
    pub const fn new(initial: Duration, max: Duration) -> Self {
        let max = if max.as_nanos() < initial.as_nanos() {
            initial
        } else {
            max
        };
        Self {
            initial,
            max,
            multiplier: 2,
            jitter: Jitter::Equal,
            attempts: 0,
        }
    }

    /// Grows by `multiplier` (at least 1) per attempt instead of doubling.
    pub const fn multiplier(mut self, multiplier: u32) -> Self {
        self.multiplier = if multiplier == 0 { 1 } else { multiplier };
        self
    }

    /// Spreads delays by `jitter` instead of equal jitter.
    pub const fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self
    }

    /// The delay before retry number `attempt` (1 for the first), before jitter.
    pub fn nominal(&self, attempt: u32) -> Duration {
        // Past 64 doublings every sane `max` is reached; the cap keeps `pow` from overflowing.
        let factor = self
            .multiplier
            .saturating_pow(attempt.saturating_sub(1).min(64));
        self.initial.saturating_mul(factor).min(self.max)
    }

    /// The delay before retry number `attempt` (1 for the first), spread by `share` (a number
    /// in `[0, 1)` the caller draws) under the jitter rule. Pure.
    pub fn delay(&self, attempt: u32, share: f64) -> Duration {
        let full = self.nominal(attempt);
        match self.jitter {
            Jitter::None => full,
            Jitter::Equal => full / 2 + (full / 2).mul_f64(share.clamp(0.0, 1.0)),
        }
    }

    /// Counts one more attempt and returns its delay, drawing the jitter.
    pub fn next_delay(&mut self) -> Duration {
        self.attempts = self.attempts.saturating_add(1);
        self.delay(self.attempts, rand::random())
    }

    /// Waits [`Self::next_delay`].
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next_delay()).await;
    }

    /// Delays since the last reset (or since the start).
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Starts again from `initial`, after a success.
    pub fn reset(&mut self) {
        self.attempts = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn delays_double_from_the_initial_one_up_to_the_maximum() {
        let b = Backoff::new(MS(100), MS(350)).jitter(Jitter::None);
        let delays: Vec<_> = (1..=5).map(|n| b.delay(n, 0.7)).collect();
        assert_eq!(delays, [MS(100), MS(200), MS(350), MS(350), MS(350)]);
    }

    #[test]
    fn the_multiplier_sets_how_fast_delays_grow() {
        let b = Backoff::new(MS(10), MS(1000))
            .multiplier(3)
            .jitter(Jitter::None);
        assert_eq!(b.delay(1, 0.0), MS(10));
        assert_eq!(b.delay(2, 0.0), MS(30));
        assert_eq!(b.delay(3, 0.0), MS(90));
        let flat = Backoff::new(MS(10), MS(1000))
            .multiplier(0)
            .jitter(Jitter::None);
        assert_eq!(flat.delay(5, 0.0), MS(10), "a multiplier of 0 counts as 1");
    }

    #[test]
    fn equal_jitter_keeps_at_least_half_and_never_passes_the_delay() {
        let b = Backoff::new(MS(400), MS(400));
        assert_eq!(b.delay(1, 0.0), MS(200));
        assert_eq!(b.delay(1, 0.5), MS(300));
        assert_eq!(b.delay(1, 1.0), MS(400));
        assert_eq!(b.delay(1, 7.0), MS(400), "a share above 1 is clamped");
        for _ in 0..100 {
            let got = b.delay(3, rand::random());
            assert!(got >= MS(200) && got <= MS(400), "{got:?}");
        }
    }

    #[test]
    fn the_maximum_is_never_below_the_initial_delay() {
        let b = Backoff::new(MS(500), MS(100)).jitter(Jitter::None);
        assert_eq!(b.delay(1, 0.0), MS(500));
        assert_eq!(b.delay(9, 0.0), MS(500));
    }

    #[test]
    fn huge_attempt_counts_stay_at_the_maximum() {
        let b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        assert_eq!(b.nominal(u32::MAX), Duration::from_secs(60));
        assert_eq!(
            b.nominal(0),
            Duration::from_secs(1),
            "attempt 0 counts as the first"
        );
    }

    #[test]
    fn next_delay_counts_attempts_and_reset_starts_again() {
        let mut b = Backoff::new(MS(100), MS(350));
        let delays: Vec<_> = (0..4).map(|_| b.next_delay()).collect();
        assert_eq!(b.attempts(), 4);
        for (delay, nominal) in delays.iter().zip([100, 200, 350, 350]) {
            assert!(
                *delay >= MS(nominal / 2) && *delay <= MS(nominal),
                "{delays:?}"
            );
        }
        b.reset();
        assert_eq!(b.attempts(), 0);
        assert!(b.next_delay() <= MS(100));
    }

    #[tokio::test(start_paused = true)]
    async fn wait_sleeps_the_delay() {
        let mut b = Backoff::new(MS(1000), MS(1000));
        let start = tokio::time::Instant::now();
        b.wait().await;
        let waited = start.elapsed();
        assert!(waited >= MS(500) && waited <= MS(1001), "{waited:?}");
    }
}
