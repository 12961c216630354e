//! The call budget: the plan's two limits, never exceeded in any window, and the interval
//! they allow a city list. Pure, like the rest of the schedule.

use std::collections::VecDeque;
use std::time::Duration;

use super::Tick;

/// The sliding window of the per-minute limit.
pub const MINUTE: Duration = Duration::from_secs(60);

/// The window of the monthly quota: 30 days.
pub const QUOTA_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);

/// A time so far away that it means "never".
const NEVER: Tick = Duration::from_secs(100 * 365 * 24 * 3600);

/// The plan's two limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Calls in any 60-second window.
    pub per_minute: u32,
    /// Calls in any 30-day window.
    pub monthly_quota: u64,
}

impl Limits {
    /// Calls per minute the two limits allow when sustained for a month.
    pub fn sustained_per_minute(&self) -> f64 {
        let monthly = self.monthly_quota as f64 / (QUOTA_WINDOW.as_secs_f64() / 60.0);
        monthly.min(self.per_minute as f64)
    }
}

/// One budget for every call. The per-minute limit is a sliding log of the last minute's
/// calls (exact). The monthly one is a token bucket holding at most `min(per_minute, quota)`
/// tokens, refilled at `(quota - capacity) / 30 days`: any 30-day window then holds at most
/// `capacity + (quota - capacity) = quota` calls, without remembering a month of calls.
#[derive(Debug, Clone)]
pub struct Budget {
    limits: Limits,
    recent: VecDeque<Tick>,
    capacity: f64,
    tokens: f64,
    refill_per_sec: f64,
    refilled_at: Tick,
    total: u64,
}

impl Budget {
    pub fn new(limits: Limits) -> Self {
        let capacity = (limits.per_minute as u64).min(limits.monthly_quota) as f64;
        let refill_per_sec =
            (limits.monthly_quota as f64 - capacity).max(0.0) / QUOTA_WINDOW.as_secs_f64();
        Self {
            limits,
            recent: VecDeque::new(),
            capacity,
            tokens: capacity,
            refill_per_sec,
            refilled_at: Duration::ZERO,
            total: 0,
        }
    }

    fn tokens_at(&self, now: Tick) -> f64 {
        let elapsed = now.saturating_sub(self.refilled_at).as_secs_f64();
        (self.tokens + elapsed * self.refill_per_sec).min(self.capacity)
    }

    /// The earliest time at or after `now` when one more call fits both limits.
    pub fn next_allowed(&self, now: Tick) -> Tick {
        let in_window: Vec<Tick> = self
            .recent
            .iter()
            .copied()
            .filter(|&t| t + MINUTE > now)
            .collect();
        let by_minute = if in_window.len() < self.limits.per_minute as usize {
            now
        } else {
            // The window (t - 60 s, t] must lose calls until one more fits.
            in_window[in_window.len() - self.limits.per_minute as usize] + MINUTE
        };
        let tokens = self.tokens_at(now);
        let by_month = if tokens >= 1.0 {
            now
        } else if self.refill_per_sec <= 0.0 {
            NEVER
        } else {
            now + Duration::from_secs_f64((1.0 - tokens) / self.refill_per_sec)
        };
        by_minute.max(by_month)
    }

    /// Records a call at `now`; the caller checked [`Budget::next_allowed`] first.
    pub fn spend(&mut self, now: Tick) {
        self.tokens = (self.tokens_at(now) - 1.0).max(0.0);
        self.refilled_at = now;
        while self.recent.front().is_some_and(|&t| t + MINUTE <= now) {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        self.total += 1;
    }

    /// Calls in the 60 seconds up to `now`.
    pub fn used_last_minute(&self, now: Tick) -> usize {
        self.recent.iter().filter(|&&t| t + MINUTE > now).count()
    }

    /// Calls since the start.
    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Calls left at `now`: in the last 60 seconds, and of the monthly quota since the start
    /// (what the log's budget line counts too).
    pub fn left(&self, now: Tick) -> (u64, u64) {
        let used = self.used_last_minute(now) as u64;
        let minute = u64::from(self.limits.per_minute).saturating_sub(used);
        (minute, self.limits.monthly_quota.saturating_sub(self.total))
    }
}

/// The interval actually used, decided once at start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// `--interval`: also the API's update cadence.
    pub requested: Duration,
    /// What the budget allows: `requested`, or longer when the list is too long.
    pub interval: Duration,
    /// Calls per minute the list needs at `requested`.
    pub needed_per_minute: f64,
    /// Calls per minute the limits sustain.
    pub sustained_per_minute: f64,
}

impl Plan {
    pub fn stretched(&self) -> bool {
        self.interval > self.requested
    }
}

/// Refreshing `cities` cities every `requested` needs `cities / requested` calls a minute;
/// when that is more than the limits sustain, the interval grows (to the whole second) until
/// it is not.
pub fn plan(cities: usize, requested: Duration, limits: Limits) -> Plan {
    let minutes = requested.as_secs_f64() / 60.0;
    let needed_per_minute = cities as f64 / minutes.max(f64::MIN_POSITIVE);
    let sustained_per_minute = limits.sustained_per_minute();
    let interval = if needed_per_minute <= sustained_per_minute || sustained_per_minute <= 0.0 {
        requested
    } else {
        let seconds = (cities as f64 / sustained_per_minute * 60.0).ceil();
        Duration::from_secs_f64(seconds).max(requested)
    };
    Plan {
        requested,
        interval,
        needed_per_minute,
        sustained_per_minute,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    pub(crate) fn limits(per_minute: u32) -> Limits {
        Limits {
            per_minute,
            monthly_quota: 1_000_000,
        }
    }

    /// Every call time; asserts no 60-second window holds more than `per_minute`.
    pub(crate) fn assert_rate(calls: &[Tick], per_minute: usize) {
        for (i, &start) in calls.iter().enumerate() {
            let in_window = calls[i..]
                .iter()
                .take_while(|&&t| t < start + MINUTE)
                .count();
            assert!(
                in_window <= per_minute,
                "{in_window} calls in the minute from {start:?}"
            );
        }
    }

    #[test]
    fn the_budget_never_allows_more_than_the_rate_in_any_minute() {
        let mut budget = Budget::new(limits(60));
        let mut now = Duration::ZERO;
        let mut calls = Vec::new();
        while calls.len() < 500 {
            now = budget.next_allowed(now);
            budget.spend(now);
            calls.push(now);
            // Irregular demand: sometimes idle, sometimes eager.
            now += Duration::from_millis((calls.len() as u64 * 7919) % 1500);
        }
        assert_rate(&calls, 60);
    }

    #[test]
    fn calls_left_come_back_as_the_minute_slides_but_not_in_the_month() {
        let mut budget = Budget::new(Limits {
            per_minute: 3,
            monthly_quota: 10,
        });
        assert_eq!(budget.left(Duration::ZERO), (3, 10));
        for s in [0, 1, 2] {
            budget.spend(Duration::from_secs(s));
        }
        assert_eq!(budget.left(Duration::from_secs(2)), (0, 7));
        assert_eq!(budget.left(Duration::from_secs(61)), (2, 7));
        assert_eq!(budget.left(Duration::from_secs(120)), (3, 7));
    }

    #[test]
    fn the_monthly_quota_holds_over_any_thirty_days() {
        // 100 calls per 30 days, 10 a minute: after the first burst, calls are paced.
        let quota = Limits {
            per_minute: 10,
            monthly_quota: 100,
        };
        let mut budget = Budget::new(quota);
        let mut now = Duration::ZERO;
        let mut calls = Vec::new();
        while now < QUOTA_WINDOW * 3 {
            now = budget.next_allowed(now);
            budget.spend(now);
            calls.push(now);
        }
        for (i, &start) in calls.iter().enumerate() {
            let n = calls[i..]
                .iter()
                .take_while(|&&t| t < start + QUOTA_WINDOW)
                .count();
            assert!(n <= 100, "{n} calls in the 30 days from {start:?}");
        }
        // And the quota is used, not wasted: about 100 per window.
        assert!(calls.len() >= 275, "{}", calls.len());
    }

    #[test]
    fn the_interval_stretches_only_when_the_list_does_not_fit_the_budget() {
        let free = Limits {
            per_minute: 60,
            monthly_quota: 1_000_000,
        };
        let fits = plan(230, S(600), free);
        assert_eq!(fits.interval, S(600));
        assert!(!fits.stretched());
        // 500 cities need 50 calls a minute; a month sustains 23.1.
        let stretched = plan(500, S(600), free);
        assert!(stretched.stretched());
        assert_eq!(stretched.interval, S(1296));
        assert!((stretched.sustained_per_minute - 23.148).abs() < 0.01);
        assert_eq!(stretched.needed_per_minute, 50.0);
    }
}
