//! When to call the API for which city: the call budget (the plan's per-minute and 30-day
//! limits, never exceeded in any window), the interval (stretched when the city list cannot
//! be refreshed within the budget), a first sweep at the per-minute rate, polling a city just
//! after its next observation is due, backoff after failures, and which observations were
//! already published.
//!
//! Pure: no I/O, no clock, no randomness. Time is a [`Tick`] (time since the scheduler's
//! origin) passed in by the caller, jitter is a number the caller draws, so tests drive it
//! with made-up time. Knows nothing of HTTP, Kafka or the reading's fields.

mod budget;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use crate::backoff::{Backoff, Jitter};

pub use budget::{plan, Budget, Limits, Plan, MINUTE, QUOTA_WINDOW};

/// Time since the scheduler's origin.
pub type Tick = Duration;

/// A 429 without `Retry-After` pauses every call this long, doubling on each 429 in a row...
pub const RATE_LIMIT_PAUSE_MIN: Duration = Duration::from_secs(60);
/// ...up to this; with `once`, a `Retry-After` too.
pub const RATE_LIMIT_PAUSE_MAX: Duration = Duration::from_secs(600);
/// One pause shared by every call: nothing to spread, so no jitter.
const RATE_LIMIT_PAUSE: Backoff =
    Backoff::new(RATE_LIMIT_PAUSE_MIN, RATE_LIMIT_PAUSE_MAX).jitter(Jitter::None);

/// A call that reached no server pauses every call this long, doubling while it lasts...
pub const UNREACHABLE_PAUSE_MIN: Duration = Duration::from_secs(1);
/// ...up to this.
pub const UNREACHABLE_PAUSE_MAX: Duration = Duration::from_secs(60);
const UNREACHABLE_PAUSE: Backoff =
    Backoff::new(UNREACHABLE_PAUSE_MIN, UNREACHABLE_PAUSE_MAX).jitter(Jitter::None);

/// How many published observation times are remembered per city; older ones are below a
/// floor and count as published, so memory stays bounded.
const REMEMBERED_OBSERVATIONS: usize = 16;

/// How the scheduler runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    pub plan: Plan,
    /// One sweep: every city once (failures retried a few times), then finished.
    pub once: bool,
    /// Attempts per city in a `once` sweep (every failure counts, a 429 too), and pauses of
    /// every call: the last one stops the sweep. So a sweep makes at most this many calls per
    /// city and waits at most this many pauses less one.
    pub once_attempts: u32,
    /// First retry delay after a transient failure; doubles per attempt up to `retry_max`.
    pub retry_base: Duration,
    pub retry_max: Duration,
}

impl Config {
    pub fn new(plan: Plan, once: bool) -> Self {
        Self {
            plan,
            once,
            once_attempts: 3,
            retry_base: Duration::from_secs(1),
            retry_max: plan.interval.min(Duration::from_secs(300)),
        }
    }
}

/// What the caller learned from one call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// A reading observed at `dt` (Unix seconds), fetched when the wall clock said `now_unix`.
    Observation { dt: i64, now_unix: i64 },
    /// 404: stop calling this city.
    NotFound,
    /// 429: pause every call.
    RateLimited { retry_after: Option<Duration> },
    /// 5xx, timeout, cut answer: call this city again after a backoff.
    Transient,
    /// No server answered (host not found, connection refused): pause every call, then
    /// probe the API one call at a time until it answers.
    Unreachable,
    /// A useless answer: call the city at its next normal time.
    Skipped,
}

/// What the scheduler decided about an [`Outcome`].
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// A new observation: publish it. The city is called again at `next`.
    Publish { next: Tick },
    /// An observation already published: do not publish it again.
    AlreadyPublished { next: Tick },
    /// The city is out of the schedule.
    Dropped,
    /// Every call waits until `until`.
    Paused { until: Tick },
    /// The city is called again at `at`.
    RetryAt { at: Tick },
    /// `once`: the city has had its attempts and failed.
    GaveUp,
    /// `once`: the sweep had its last pause and stops; these cities, this one included,
    /// are given up (calls in flight still count when they answer).
    SweepStopped { given_up: Vec<i64> },
    /// The city is called at its next normal time.
    NextAt { at: Tick },
}

/// What to do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Call the API for this city now (the budget is already charged).
    Call(i64),
    /// Nothing is due before this time.
    WaitUntil(Tick),
    /// Every remaining city has a call in flight: wait for an answer.
    AwaitAnswers,
    /// Nothing left to do: the `once` sweep is over, or every city was dropped.
    Finished,
}

#[derive(Debug, Clone)]
struct CityState {
    id: i64,
    due: Tick,
    in_flight: bool,
    /// Failures in a row: transient ones, and with `once` every one.
    attempts: u32,
    /// Answers in a row that brought nothing new.
    unchanged: u32,
    /// The current call was planned at the expected time of the next observation.
    expecting: bool,
    published: BTreeSet<i64>,
    /// Observations at or before this time count as published (forgotten ones).
    floor: Option<i64>,
    done: bool,
    dropped: bool,
}

/// The schedule of every city. See the module doc.
#[derive(Debug, Clone)]
pub struct Scheduler {
    config: Config,
    budget: Budget,
    cities: Vec<CityState>,
    index: HashMap<i64, usize>,
    paused_until: Tick,
    /// 429s in a row (one per pause), for the growing pause.
    rate_limited: u32,
    /// Calls in a row that reached no server (one per pause), for the growing pause; while
    /// it is not zero, one call at a time probes the API.
    unreachable: u32,
    /// Pauses so far: with `once`, the last allowed one stops the sweep.
    pauses: u32,
    /// `once`: the sweep stopped; what is left in flight is given up if it fails.
    stopped: bool,
    /// How long after an observation's expected time it tends to become visible; learnt.
    grace: Duration,
}

impl Scheduler {
    /// `ids` in the order of the first sweep. It goes as fast as the per-minute limit allows,
    /// one call each `60 s / rate` (the plan's interval is never shorter than the list at that
    /// pace), so a new user sees every city in minutes rather than after a whole interval;
    /// the budget paces whatever goes beyond the monthly quota's share. With `once`, all are
    /// due at once and the budget paces them.
    pub fn new(ids: &[i64], config: Config, limits: Limits) -> Self {
        let spacing = MINUTE / limits.per_minute.max(1);
        let cities: Vec<CityState> = ids
            .iter()
            .enumerate()
            .map(|(i, &id)| CityState {
                id,
                due: if config.once {
                    Duration::ZERO
                } else {
                    spacing * i as u32
                },
                in_flight: false,
                attempts: 0,
                unchanged: 0,
                expecting: false,
                published: BTreeSet::new(),
                floor: None,
                done: false,
                dropped: false,
            })
            .collect();
        let index = ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();
        Self {
            budget: Budget::new(limits),
            cities,
            index,
            paused_until: Duration::ZERO,
            rate_limited: 0,
            unreachable: 0,
            pauses: 0,
            stopped: false,
            grace: config.plan.requested / 20,
            config,
        }
    }

    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// Cities dropped after a 404.
    pub fn dropped(&self) -> Vec<i64> {
        self.cities
            .iter()
            .filter(|c| c.dropped)
            .map(|c| c.id)
            .collect()
    }

    /// The learnt delay between an observation's expected time and the call for it.
    pub fn grace(&self) -> Duration {
        self.grace
    }

    /// The next thing to do at `now`. Returning [`Next::Call`] charges the budget.
    pub fn next(&mut self, now: Tick) -> Next {
        if self.unreachable > 0 && self.cities.iter().any(|c| c.in_flight) {
            // The API is probed one call at a time until it answers.
            return Next::AwaitAnswers;
        }
        let mut earliest: Option<usize> = None;
        let mut any_left = false;
        for (i, city) in self.cities.iter().enumerate() {
            if city.done || city.dropped {
                continue;
            }
            any_left = true;
            if city.in_flight {
                continue;
            }
            if earliest.is_none_or(|e| city.due < self.cities[e].due) {
                earliest = Some(i);
            }
        }
        let Some(i) = earliest else {
            return if any_left {
                Next::AwaitAnswers
            } else {
                Next::Finished
            };
        };
        let at = self.cities[i]
            .due
            .max(self.paused_until)
            .max(self.budget.next_allowed(now));
        if at > now {
            return Next::WaitUntil(at);
        }
        self.budget.spend(now);
        self.cities[i].in_flight = true;
        Next::Call(self.cities[i].id)
    }

    /// Records the outcome of the call for `city_id` that [`Scheduler::next`] started.
    /// `jitter` is a number in `[0, 1)` the caller draws, spreading retries.
    pub fn record(&mut self, city_id: i64, now: Tick, outcome: Outcome, jitter: f64) -> Verdict {
        let Some(&i) = self.index.get(&city_id) else {
            return Verdict::Dropped;
        };
        let config = self.config;
        let interval = config.plan.interval;
        let cadence = config.plan.requested;
        self.cities[i].in_flight = false;
        if outcome != Outcome::Unreachable {
            // A server answered.
            self.unreachable = 0;
        }
        match outcome {
            Outcome::Observation { dt, now_unix } => {
                self.rate_limited = 0;
                let city = &mut self.cities[i];
                city.attempts = 0;
                let new = !city.published.contains(&dt) && city.floor.is_none_or(|f| dt > f);
                if new {
                    city.published.insert(dt);
                    while city.published.len() > REMEMBERED_OBSERVATIONS {
                        if let Some(oldest) = city.published.pop_first() {
                            city.floor = Some(city.floor.map_or(oldest, |f| f.max(oldest)));
                        }
                    }
                }
                let was_expecting = std::mem::replace(&mut city.expecting, false);
                if config.once {
                    city.done = true;
                } else if config.plan.stretched() {
                    // More than one observation passes between calls anyway: keep the spread.
                    city.due = now + interval;
                } else if new {
                    city.unchanged = 0;
                    if was_expecting {
                        // Called at the expected time and it was there: try a little earlier.
                        self.grace = self.grace.mul_f64(0.98).max(cadence / 100);
                    }
                    // The next observation is due `cadence` after this one; call shortly after.
                    let expected = dt + cadence.as_secs() as i64;
                    let wait = Duration::from_secs_f64(
                        ((expected - now_unix) as f64 + self.grace.as_secs_f64()).max(0.0),
                    );
                    let city = &mut self.cities[i];
                    city.due = now + wait.max(recheck_step(cadence));
                    city.expecting = true;
                } else {
                    if was_expecting {
                        // Too early: the observation shows up later than we thought.
                        self.grace = (self.grace + recheck_step(cadence)).min(cadence / 2);
                    }
                    let city = &mut self.cities[i];
                    city.unchanged += 1;
                    // Look again soon, then less and less often (a station that stopped); a
                    // recheck, not a retry: no jitter.
                    let recheck =
                        Backoff::new(recheck_step(cadence), interval).jitter(Jitter::None);
                    city.due = now + recheck.delay(city.unchanged, 0.0);
                }
                let next = self.cities[i].due;
                if new {
                    Verdict::Publish { next }
                } else {
                    Verdict::AlreadyPublished { next }
                }
            }
            Outcome::NotFound => {
                self.cities[i].dropped = true;
                Verdict::Dropped
            }
            Outcome::RateLimited { retry_after } => {
                let new_pause = now >= self.paused_until;
                if new_pause {
                    self.rate_limited += 1;
                }
                let pause = match retry_after {
                    // A sweep must end: it waits no longer than a pause of its own.
                    Some(wait) if config.once => wait.min(RATE_LIMIT_PAUSE_MAX),
                    Some(wait) => wait,
                    None if new_pause => RATE_LIMIT_PAUSE.delay(self.rate_limited, 0.0),
                    None => Duration::ZERO,
                };
                self.pause(i, now, pause, new_pause)
            }
            Outcome::Unreachable => {
                let new_pause = now >= self.paused_until;
                if new_pause {
                    self.unreachable += 1;
                }
                let pause = if new_pause {
                    UNREACHABLE_PAUSE.delay(self.unreachable, 0.0)
                } else {
                    Duration::ZERO
                };
                self.pause(i, now, pause, new_pause)
            }
            Outcome::Transient => {
                let city = &mut self.cities[i];
                city.attempts += 1;
                city.expecting = false;
                if config.once && (city.attempts >= config.once_attempts || self.stopped) {
                    city.done = true;
                    return Verdict::GaveUp;
                }
                // Jittered, so cities that failed together do not retry together.
                let retry = Backoff::new(config.retry_base, config.retry_max);
                city.due = now + retry.delay(city.attempts, jitter);
                Verdict::RetryAt { at: city.due }
            }
            Outcome::Skipped => {
                let city = &mut self.cities[i];
                city.expecting = false;
                if config.once {
                    city.done = true;
                    return Verdict::GaveUp;
                }
                city.due = now + interval;
                Verdict::NextAt { at: city.due }
            }
        }
    }
}

impl Scheduler {
    /// Pauses every call for `pause` after a 429 or an unreachable API at `now`, for city `i`.
    /// A failure that arrives during a pause (a call made before it began) starts no new
    /// pause: it may only make the current one longer (by its `Retry-After`). The city keeps its (past) due time:
    /// it lost its turn and goes among the first after the pause; with `once` it also used
    /// an attempt, and the sweep's last pause stops the sweep.
    fn pause(&mut self, i: usize, now: Tick, pause: Duration, new_pause: bool) -> Verdict {
        let once = self.config.once;
        let attempts = self.config.once_attempts;
        if new_pause {
            self.pauses += 1;
            if once && self.pauses >= attempts {
                return Verdict::SweepStopped {
                    given_up: self.stop_sweep(),
                };
            }
        }
        self.paused_until = self.paused_until.max(now + pause);
        let city = &mut self.cities[i];
        city.expecting = false;
        if once {
            city.attempts += 1;
            if city.attempts >= attempts || self.stopped {
                city.done = true;
                return Verdict::GaveUp;
            }
        }
        Verdict::Paused {
            until: self.paused_until,
        }
    }

    /// Ends a `once` sweep: every city not read, dropped or in flight is given up.
    fn stop_sweep(&mut self) -> Vec<i64> {
        self.stopped = true;
        let mut given_up = Vec::new();
        for city in &mut self.cities {
            if !(city.done || city.dropped || city.in_flight) {
                city.done = true;
                given_up.push(city.id);
            }
        }
        given_up
    }
}

/// How soon an unchanged city is looked at again: a tenth of the cadence (1 min for 10 min).
fn recheck_step(cadence: Duration) -> Duration {
    (cadence / 10).max(Duration::from_millis(100))
}

#[cfg(test)]
mod tests {
    use super::budget::tests::{assert_rate, limits};
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    /// Runs a scheduler on made-up time: each call is answered `latency` later by `answer`.
    fn simulate(
        scheduler: &mut Scheduler,
        until: Tick,
        latency: Duration,
        mut answer: impl FnMut(i64, Tick) -> Outcome,
    ) -> Vec<(Tick, i64)> {
        let mut now = Duration::ZERO;
        let mut calls = Vec::new();
        let mut in_flight: Vec<(Tick, i64)> = Vec::new();
        while now < until {
            // Deliver the answers due by now.
            in_flight.sort();
            while in_flight.first().is_some_and(|&(t, _)| t <= now) {
                let (_, id) = in_flight.remove(0);
                let outcome = answer(id, now);
                scheduler.record(id, now, outcome, 0.5);
            }
            match scheduler.next(now) {
                Next::Call(id) => {
                    calls.push((now, id));
                    in_flight.push((now + latency, id));
                }
                Next::WaitUntil(t) => {
                    let wake = in_flight.iter().map(|&(t, _)| t).min().unwrap_or(t);
                    now = t.min(wake).max(now + Duration::from_millis(1));
                }
                Next::AwaitAnswers => {
                    now = in_flight.iter().map(|&(t, _)| t).min().unwrap();
                }
                Next::Finished => break,
            }
        }
        calls
    }

    fn ids(n: i64) -> Vec<i64> {
        (1..=n).collect()
    }

    #[test]
    fn the_first_sweep_goes_at_the_per_minute_rate() {
        let plan = plan(10, S(600), limits(60));
        let mut s = Scheduler::new(&ids(10), Config::new(plan, false), limits(60));
        let calls = simulate(&mut s, S(59), Duration::from_millis(50), |_, _| {
            Outcome::Skipped
        });
        let times: Vec<u64> = calls.iter().map(|(t, _)| t.as_secs()).collect();
        assert_eq!(times, vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }

    #[test]
    fn the_default_list_is_swept_in_about_three_minutes_on_the_free_plan() {
        let free = limits(60);
        let plan = plan(126, S(600), free);
        assert!(!plan.stretched());
        let mut s = Scheduler::new(&ids(126), Config::new(plan, false), free);
        let calls = simulate(&mut s, S(600), Duration::from_millis(100), |_, _| {
            Outcome::Skipped
        });
        let mut first: HashMap<i64, Tick> = HashMap::new();
        for &(t, id) in &calls {
            first.entry(id).or_insert(t);
        }
        assert_eq!(first.len(), 126);
        let last = *first.values().max().unwrap();
        assert!(last > S(150) && last < S(200), "{last:?}");
        let in_first_minute = first.values().filter(|t| **t < S(60)).count();
        assert_eq!(in_first_minute, 60);
    }

    #[test]
    fn a_first_sweep_beyond_the_monthly_share_is_paced_by_the_budget() {
        // 500 cities stretch the interval; the first minute's calls go at 1 a second, then
        // the monthly bucket paces the rest at its sustained rate, never above 60 a minute.
        let free = limits(60);
        let plan = plan(500, S(600), free);
        assert!(plan.stretched());
        let mut s = Scheduler::new(&ids(500), Config::new(plan, false), free);
        let calls = simulate(&mut s, S(600), Duration::from_millis(100), |_, _| {
            Outcome::Skipped
        });
        let times: Vec<Tick> = calls.iter().map(|&(t, _)| t).collect();
        assert_rate(&times, 60);
        let first_minute = times.iter().filter(|t| **t < S(60)).count();
        assert!((55..=60).contains(&first_minute), "{first_minute}");
        // About 23 a minute after that.
        let later = times
            .iter()
            .filter(|t| **t >= S(120) && **t < S(600))
            .count();
        assert!((170..=200).contains(&later), "{later}");
    }

    #[test]
    fn a_long_list_never_exceeds_the_rate_even_with_failures_and_retries() {
        let free = limits(60);
        let plan = plan(400, S(600), free);
        let mut s = Scheduler::new(&ids(400), Config::new(plan, false), free);
        let mut n = 0u64;
        let calls = simulate(&mut s, S(3600), Duration::from_millis(300), |id, now| {
            n += 1;
            match n % 5 {
                0 => Outcome::Transient,
                1 => Outcome::Skipped,
                _ => Outcome::Observation {
                    dt: (now.as_secs() as i64 / 600) * 600 + id,
                    now_unix: now.as_secs() as i64,
                },
            }
        });
        let times: Vec<Tick> = calls.iter().map(|&(t, _)| t).collect();
        assert_rate(&times, 60);
        assert!(calls.len() > 1000, "{}", calls.len());
    }

    #[test]
    fn once_calls_every_city_as_fast_as_the_rate_allows() {
        let plan = plan(25, S(600), limits(10));
        let mut s = Scheduler::new(&ids(25), Config::new(plan, true), limits(10));
        let calls = simulate(&mut s, S(3600), Duration::from_millis(10), |id, _| {
            Outcome::Observation {
                dt: id,
                now_unix: 0,
            }
        });
        let times: Vec<u64> = calls.iter().map(|(t, _)| t.as_secs()).collect();
        assert_eq!(calls.len(), 25);
        assert_eq!(times[9], 0);
        assert_eq!(times[10], 60);
        assert_eq!(times[24], 120);
        assert_eq!(s.next(S(3600)), Next::Finished);
    }

    #[test]
    fn an_observation_is_published_once_however_often_it_is_fetched() {
        let plan = plan(1, S(600), limits(60));
        let mut s = Scheduler::new(&[7], Config::new(plan, false), limits(60));
        let obs = |dt| Outcome::Observation { dt, now_unix: dt };
        assert_eq!(s.next(S(0)), Next::Call(7));
        assert!(matches!(
            s.record(7, S(0), obs(1000), 0.0),
            Verdict::Publish { .. }
        ));
        assert_eq!(s.next(S(700)), Next::Call(7));
        assert!(matches!(
            s.record(7, S(700), obs(1000), 0.0),
            Verdict::AlreadyPublished { .. }
        ));
        assert_eq!(s.next(S(800)), Next::Call(7));
        assert!(matches!(
            s.record(7, S(800), obs(1600), 0.0),
            Verdict::Publish { .. }
        ));
        // Forgotten observations stay published.
        for k in 2..40 {
            s.next(S(800 + k * 600));
            s.record(7, S(800 + k * 600), obs(1000 + k as i64 * 600), 0.0);
        }
        s.next(S(100_000));
        assert!(matches!(
            s.record(7, S(100_000), obs(1000), 0.0),
            Verdict::AlreadyPublished { .. }
        ));
    }

    #[test]
    fn a_city_is_called_shortly_after_its_next_observation_is_due() {
        let plan = plan(1, S(600), limits(60));
        let mut s = Scheduler::new(&[7], Config::new(plan, false), limits(60));
        assert_eq!(s.next(S(0)), Next::Call(7));
        // Observed 200 s ago: the next one is due in 400 s, plus the grace (30 s).
        let verdict = s.record(
            7,
            S(0),
            Outcome::Observation {
                dt: 10_000,
                now_unix: 10_200,
            },
            0.0,
        );
        assert_eq!(verdict, Verdict::Publish { next: S(430) });
        // Too early: looked at again a tenth of the cadence later, and the grace grows.
        assert_eq!(s.next(S(430)), Next::Call(7));
        let verdict = s.record(
            7,
            S(430),
            Outcome::Observation {
                dt: 10_000,
                now_unix: 10_630,
            },
            0.0,
        );
        assert_eq!(verdict, Verdict::AlreadyPublished { next: S(490) });
        assert_eq!(s.grace(), S(90));
    }

    #[test]
    fn steady_polling_after_the_due_time_brings_new_data_on_nine_calls_in_ten() {
        // Observations every 600 s, each visible 0 to 60 s after its time.
        let plan = plan(50, S(600), limits(60));
        let mut s = Scheduler::new(&ids(50), Config::new(plan, false), limits(60));
        let visible_dt = |id: i64, now: i64| {
            let phase = id * 37 % 600;
            let mut k = (now - phase).div_euclid(600);
            let lag = |k: i64| (k * 7919 + id * 104_729).rem_euclid(61);
            if phase + k * 600 + lag(k) > now {
                k -= 1;
            }
            phase + k * 600
        };
        let mut news = 0;
        let mut total = 0;
        let mut last: HashMap<i64, i64> = HashMap::new();
        simulate(
            &mut s,
            S(6 * 3600),
            Duration::from_millis(200),
            |id, now| {
                let now_unix = 1_000_000 + now.as_secs() as i64;
                let dt = visible_dt(id, now_unix);
                if now > S(3600) {
                    total += 1;
                    if last.get(&id) != Some(&dt) {
                        news += 1;
                    }
                }
                last.insert(id, dt);
                Outcome::Observation { dt, now_unix }
            },
        );
        let share = news as f64 / total as f64;
        assert!(share >= 0.9, "{news} new in {total} calls");
    }

    #[test]
    fn a_rate_limit_pauses_every_call_for_a_minute_growing_to_ten() {
        // A continuous run: a sweep (`once`) stops at its third pause.
        let plan = plan(3, S(60), limits(60));
        let mut s = Scheduler::new(&[1, 2, 3], Config::new(plan, false), limits(60));
        let limited = Outcome::RateLimited { retry_after: None };
        let mut now = S(0);
        let mut pauses = Vec::new();
        for _ in 0..7 {
            let id = match s.next(now) {
                Next::Call(id) => id,
                other => panic!("{other:?} at {now:?}"),
            };
            let Verdict::Paused { until } = s.record(id, now, limited, 0.0) else {
                panic!()
            };
            pauses.push((until - now).as_secs());
            // Nothing at all is called during the pause.
            assert_eq!(s.next(now + S(1)), Next::WaitUntil(until));
            now = until;
        }
        assert_eq!(pauses, vec![60, 120, 240, 480, 600, 600, 600]);
        // A success ends the streak: the next 429 pauses a minute again.
        let id = match s.next(now) {
            Next::Call(id) => id,
            other => panic!("{other:?}"),
        };
        s.record(id, now, Outcome::Observation { dt: 1, now_unix: 1 }, 0.0);
        let id = match s.next(now) {
            Next::Call(id) => id,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            s.record(id, now, limited, 0.0),
            Verdict::Paused { until: now + S(60) }
        );
    }

    #[test]
    fn retry_after_replaces_the_rate_limit_pause() {
        let plan = plan(2, S(60), limits(60));
        let mut s = Scheduler::new(&[1, 2], Config::new(plan, true), limits(60));
        s.next(S(0));
        let outcome = Outcome::RateLimited {
            retry_after: Some(S(5)),
        };
        assert_eq!(
            s.record(1, S(0), outcome, 0.0),
            Verdict::Paused { until: S(5) }
        );
        assert_eq!(s.next(S(1)), Next::WaitUntil(S(5)));
    }

    #[test]
    fn transient_failures_back_off_exponentially_with_jitter() {
        let plan = plan(1, S(600), limits(60));
        let mut s = Scheduler::new(&[1], Config::new(plan, false), limits(60));
        assert_eq!(s.next(S(0)), Next::Call(1));
        assert_eq!(
            s.record(1, S(0), Outcome::Transient, 0.0),
            Verdict::RetryAt {
                at: Duration::from_millis(500)
            }
        );
        assert_eq!(s.next(S(1)), Next::Call(1));
        assert_eq!(
            s.record(1, S(1), Outcome::Transient, 0.5),
            Verdict::RetryAt {
                at: S(1) + Duration::from_millis(1500)
            }
        );
        // Capped at five minutes (the interval being longer).
        let mut now = S(10);
        for _ in 0..20 {
            s.next(now);
            let Verdict::RetryAt { at } = s.record(1, now, Outcome::Transient, 0.999) else {
                panic!()
            };
            assert!(at - now <= S(300), "{:?}", at - now);
            now = at;
        }
    }

    #[test]
    fn a_city_waiting_for_an_answer_does_not_hold_up_the_others() {
        let plan = plan(2, S(600), limits(60));
        let mut s = Scheduler::new(&[1, 2], Config::new(plan, false), limits(60));
        assert_eq!(s.next(S(0)), Next::Call(1));
        assert_eq!(s.next(Duration::from_millis(10)), Next::WaitUntil(S(1)));
        assert_eq!(s.next(S(1)), Next::Call(2));
        assert_eq!(s.next(S(2)), Next::AwaitAnswers);
    }

    #[test]
    fn once_gives_up_on_a_city_after_three_transient_failures() {
        let plan = plan(1, S(600), limits(60));
        let mut s = Scheduler::new(&[1], Config::new(plan, true), limits(60));
        let mut verdicts = Vec::new();
        let mut now = S(0);
        loop {
            match s.next(now) {
                Next::Call(_) => verdicts.push(s.record(1, now, Outcome::Transient, 0.0)),
                Next::WaitUntil(t) => now = t,
                Next::Finished => break,
                Next::AwaitAnswers => panic!(),
            }
        }
        assert_eq!(verdicts.len(), 3);
        assert_eq!(verdicts[2], Verdict::GaveUp);
    }

    #[test]
    fn an_unknown_city_is_dropped_and_never_called_again() {
        let plan = plan(2, S(60), limits(60));
        let mut s = Scheduler::new(&[1, 2], Config::new(plan, false), limits(60));
        assert_eq!(s.next(S(0)), Next::Call(1));
        assert_eq!(s.record(1, S(0), Outcome::NotFound, 0.0), Verdict::Dropped);
        let calls = simulate(&mut s, S(600), Duration::from_millis(10), |_, _| {
            Outcome::Skipped
        });
        assert!(calls.iter().all(|&(_, id)| id == 2));
        assert_eq!(s.dropped(), vec![1]);
        s.next(S(600));
        s.record(2, S(600), Outcome::NotFound, 0.0);
        assert_eq!(s.next(S(601)), Next::Finished);
    }

    #[track_caller]
    fn call(s: &mut Scheduler, now: Tick) -> i64 {
        match s.next(now) {
            Next::Call(id) => id,
            other => panic!("{other:?} at {now:?}"),
        }
    }

    #[test]
    fn while_the_api_is_unreachable_every_call_pauses_and_one_call_at_a_time_probes_it() {
        let plan = plan(3, S(600), limits(60));
        let mut s = Scheduler::new(&[1, 2, 3], Config::new(plan, false), limits(60));
        let first = call(&mut s, S(0));
        assert_eq!(
            s.record(first, S(0), Outcome::Unreachable, 0.0),
            Verdict::Paused { until: S(1) }
        );
        assert_eq!(s.next(Duration::from_millis(500)), Next::WaitUntil(S(1)));
        // Probes, one at a time, the pause doubling: 1 s, 2 s, 4 s...
        let mut now = S(1);
        for pause in [2, 4, 8, 16, 32, 60, 60] {
            let probe = call(&mut s, now);
            assert_eq!(s.next(now), Next::AwaitAnswers);
            let verdict = s.record(probe, now, Outcome::Unreachable, 0.0);
            assert_eq!(
                verdict,
                Verdict::Paused {
                    until: now + S(pause)
                }
            );
            now += S(pause);
        }
        // An answer, whatever it says, ends it: calls go at the usual pace again.
        let probe = call(&mut s, now);
        s.record(probe, now, Outcome::Skipped, 0.0);
        call(&mut s, now);
        call(&mut s, now + S(1));
    }

    #[test]
    fn a_failure_during_a_pause_from_a_call_made_before_it_starts_no_new_pause() {
        let plan = plan(3, S(600), limits(60));
        let mut s = Scheduler::new(&[1, 2, 3], Config::new(plan, true), limits(60));
        let limited = Outcome::RateLimited { retry_after: None };
        let (a, b) = (call(&mut s, S(0)), call(&mut s, S(0)));
        assert_eq!(
            s.record(a, S(0), limited, 0.0),
            Verdict::Paused { until: S(60) }
        );
        // The other call of the same moment: the same pause, not a longer one.
        assert_eq!(
            s.record(b, S(2), limited, 0.0),
            Verdict::Paused { until: S(60) }
        );
        // The next 429 after it: the second pause, two minutes.
        let c = call(&mut s, S(60));
        assert_eq!(
            s.record(c, S(60), limited, 0.0),
            Verdict::Paused { until: S(180) }
        );
    }

    #[test]
    fn in_a_sweep_every_failure_counts_toward_the_citys_attempts() {
        let plan = plan(2, S(600), limits(60));
        let mut s = Scheduler::new(&[1, 2], Config::new(plan, true), limits(60));
        let limited = Outcome::RateLimited {
            retry_after: Some(S(5)),
        };
        assert_eq!(call(&mut s, S(0)), 1);
        assert_eq!(call(&mut s, S(0)), 2);
        assert_eq!(
            s.record(1, S(0), limited, 0.0),
            Verdict::Paused { until: S(5) }
        );
        s.record(2, S(0), Outcome::Observation { dt: 1, now_unix: 1 }, 0.0);
        assert_eq!(call(&mut s, S(5)), 1);
        assert!(matches!(
            s.record(1, S(5), Outcome::Transient, 0.0),
            Verdict::RetryAt { .. }
        ));
        let at = match s.next(S(5)) {
            Next::WaitUntil(at) => at,
            other => panic!("{other:?}"),
        };
        assert_eq!(call(&mut s, at), 1);
        // The third failure, of a third kind: the city is given up, the sweep is over.
        assert_eq!(s.record(1, at, Outcome::Unreachable, 0.0), Verdict::GaveUp);
        assert_eq!(s.next(at), Next::Finished);
    }

    #[test]
    fn a_sweep_stops_at_its_third_pause_and_gives_up_every_city_not_read() {
        let plan = plan(4, S(600), limits(60));
        let mut s = Scheduler::new(&[1, 2, 3, 4], Config::new(plan, true), limits(60));
        let limited = Outcome::RateLimited {
            retry_after: Some(S(1)),
        };
        let ids: Vec<i64> = (0..4).map(|_| call(&mut s, S(0))).collect();
        assert_eq!(ids, [1, 2, 3, 4]);
        s.record(1, S(0), Outcome::Observation { dt: 1, now_unix: 1 }, 0.0);
        assert_eq!(
            s.record(2, S(0), limited, 0.0),
            Verdict::Paused { until: S(1) }
        );
        assert_eq!(call(&mut s, S(1)), 2);
        assert_eq!(
            s.record(2, S(1), limited, 0.0),
            Verdict::Paused { until: S(2) }
        );
        assert_eq!(call(&mut s, S(2)), 2);
        // Cities 3 and 4 are still in flight: their answers decide for them.
        assert_eq!(
            s.record(2, S(2), limited, 0.0),
            Verdict::SweepStopped { given_up: vec![2] }
        );
        assert_eq!(s.next(S(2)), Next::AwaitAnswers);
        assert_eq!(s.record(3, S(3), Outcome::Transient, 0.0), Verdict::GaveUp);
        let read = s.record(4, S(3), Outcome::Observation { dt: 1, now_unix: 1 }, 0.0);
        assert!(matches!(read, Verdict::Publish { .. }), "{read:?}");
        assert_eq!(s.next(S(3)), Next::Finished);
    }

    #[test]
    fn a_sweep_waits_at_most_ten_minutes_whatever_retry_after_says() {
        let plan = plan(1, S(600), limits(60));
        let day = Outcome::RateLimited {
            retry_after: Some(S(86_400)),
        };
        let mut once = Scheduler::new(&[1], Config::new(plan, true), limits(60));
        call(&mut once, S(0));
        assert_eq!(
            once.record(1, S(0), day, 0.0),
            Verdict::Paused { until: S(600) }
        );
        // A continuous run has the time: it does as it is told.
        let mut continuous = Scheduler::new(&[1], Config::new(plan, false), limits(60));
        call(&mut continuous, S(0));
        assert_eq!(
            continuous.record(1, S(0), day, 0.0),
            Verdict::Paused { until: S(86_400) }
        );
    }
}
