//! The produce engine: calls a [`ReadingSource`] for each city when the schedule says so and
//! hands every new reading to a [`Publish`] (Kafka) until shutdown, then flushes and reports.

pub mod plan;
pub mod publish;
pub mod settings;
pub mod source;
pub mod stats;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::city::City;
use crate::kafka::producer::Delivered;
use crate::model::Reading;
use crate::schedule::{self, Limits, Next, Outcome, Plan, Scheduler, Verdict};
use crate::shutdown::Shutdown;
use crate::text::printable;

use crate::outage::{Outages, Tell};
pub use publish::{Publish, Undelivered};
pub use settings::{ProduceSettings, SourceChoice};
pub use source::{ReadingSource, SourceError};
pub use stats::{Report, Stats};

/// API calls running at once: enough that a slow answer does not hold up the others.
pub const MAX_CALLS_IN_FLIGHT: usize = 16;

/// Readings fetched but not yet acknowledged by Kafka, at most; calls wait when it is full,
/// so nothing fetched is ever dropped for lack of room.
pub const MAX_QUEUED_READINGS: usize = 10_000;

/// At shutdown, calls in flight get this long to answer; later answers are abandoned.
pub const CALLS_GRACE: Duration = Duration::from_secs(5);

/// At shutdown, readings not acknowledged within this are counted as not delivered.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// How often the statistics line is logged.
pub const STATS_EVERY: Duration = Duration::from_secs(60);

/// Limits that never hold a call back, for a source whose calls cost nothing.
pub const UNLIMITED: Limits = Limits {
    per_minute: u32::MAX,
    monthly_quota: u64::MAX,
};

/// The wall clock the loop reads: [`system_clock`], or in tests one that follows Tokio's
/// (paused) time.
pub type WallClock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// The system's wall clock.
pub fn system_clock() -> WallClock {
    Arc::new(Utc::now)
}

/// How old an observation made at `observed_at` is at `now`: zero when it is stamped ahead
/// of the clock (far ahead is refused before publishing; a few seconds are not an age).
pub fn observation_age(observed_at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - observed_at).to_std().unwrap_or(Duration::ZERO)
}

/// Everything the loop needs, decided once.
pub struct Producer<P> {
    pub cities: Vec<City>,
    pub source: Arc<dyn ReadingSource>,
    pub publisher: Arc<P>,
    /// The plan's limits; `None` when calls cost nothing ([`UNLIMITED`], no budget to log).
    pub limits: Option<Limits>,
    pub plan: Plan,
    /// One sweep, then stop.
    pub once: bool,
    pub clock: WallClock,
}

type FetchResult = (
    i64,
    Result<Reading, SourceError>,
    Instant,
    OwnedSemaphorePermit,
);
type PublishResult = (Reading, Result<Delivered, Undelivered>, Duration);

/// The run loop state.
struct Run<P> {
    origin: Instant,
    clock: WallClock,
    scheduler: Scheduler,
    cities: HashMap<i64, City>,
    source: Arc<dyn ReadingSource>,
    publisher: Arc<P>,
    permits: Arc<Semaphore>,
    give_up: watch::Receiver<Option<Instant>>,
    fetches: JoinSet<FetchResult>,
    publishes: JoinSet<PublishResult>,
    total: Stats,
    minute: Stats,
    report: Report,
    limits: Option<Limits>,
    once: bool,
    outage: Outages,
    /// When Kafka first acknowledged a reading: those sent before waited for the connection.
    first_ack: Option<Instant>,
}

/// Polls and publishes until `shutdown` (or, with `once`, until the sweep is done, or until
/// the API refuses the key), then finishes calls in flight, waits for every delivery and
/// reports. Reads no setting and no clock of its own (the wall clock is the producer's), so
/// tests drive it on paused time.
pub async fn run<P: Publish>(producer: Producer<P>, shutdown: Shutdown) -> Report {
    let ids: Vec<i64> = producer.cities.iter().map(|c| c.id).collect();
    let config = schedule::Config::new(producer.plan, producer.once);
    let limits = producer.limits.unwrap_or(UNLIMITED);
    let (give_up_tx, give_up) = watch::channel(None);
    let mut run = Run {
        origin: Instant::now(),
        clock: producer.clock,
        scheduler: Scheduler::new(&ids, config, limits),
        cities: producer.cities.into_iter().map(|c| (c.id, c)).collect(),
        source: producer.source,
        publisher: producer.publisher,
        permits: Arc::new(Semaphore::new(MAX_QUEUED_READINGS)),
        give_up,
        fetches: JoinSet::new(),
        publishes: JoinSet::new(),
        total: Stats::default(),
        minute: Stats::default(),
        report: Report::default(),
        limits: producer.limits,
        once: producer.once,
        outage: Outages::default(),
        first_ack: None,
    };
    let mut ticker = tokio::time::interval_at(run.origin + STATS_EVERY, STATS_EVERY);
    let shutdown = shutdown.wait();
    tokio::pin!(shutdown);

    loop {
        crate::metrics::budget_left(|| run.budget_left());
        let next =
            if run.fetches.len() >= MAX_CALLS_IN_FLIGHT || run.permits.available_permits() == 0 {
                Next::AwaitAnswers
            } else {
                run.scheduler.next(run.origin.elapsed())
            };
        let wake = match next {
            Next::Call(id) => {
                run.call(id);
                continue;
            }
            Next::Finished => break,
            Next::WaitUntil(t) => Some(run.origin + t),
            Next::AwaitAnswers => None,
        };
        tokio::select! {
            () = &mut shutdown => {
                run.report.interrupted = true;
                break;
            }
            Some(joined) = run.fetches.join_next() => {
                if let Ok(result) = joined {
                    run.answered(result);
                }
                if run.report.fatal.is_some() {
                    break;
                }
            }
            Some(joined) = run.publishes.join_next() => run.delivered(joined),
            () = sleep_until(wake) => {}
            _ = ticker.tick() => run.log_minute(),
        }
    }
    if run.scheduler.dropped().len() == run.cities.len() && !run.report.interrupted {
        tracing::error!("every city was dropped: none is known to the API");
    }
    run.finish(give_up_tx).await
}

async fn sleep_until(wake: Option<Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl<P: Publish> Run<P> {
    /// The name of the city, safe to log: the list is outside text.
    fn city_name(&self, id: i64) -> String {
        self.cities
            .get(&id)
            .map_or_else(|| "?".to_string(), |c| printable(&c.name))
    }

    /// Starts the call for `city_id`. The caller checked that a queue slot is free.
    fn call(&mut self, city_id: i64) {
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            // Cannot happen (checked by the caller); the city is simply retried later.
            self.scheduler
                .record(city_id, self.origin.elapsed(), Outcome::Transient, 0.5);
            return;
        };
        let Some(city) = self.cities.get(&city_id) else {
            return;
        };
        let fetch = Arc::clone(&self.source).fetch(city, (self.clock)());
        self.fetches.spawn(async move {
            let result = fetch.await;
            (city_id, result, Instant::now(), permit)
        });
    }

    fn count(&mut self, f: impl Fn(&mut Stats)) {
        f(&mut self.total);
        f(&mut self.minute);
    }

    /// Handles one API answer.
    fn answered(&mut self, (city_id, result, answered_at, permit): FetchResult) {
        self.count(|s| s.calls += 1);
        let now = self.origin.elapsed();
        let name = self.city_name(city_id);
        if !matches!(result, Err(SourceError::Unreachable { .. })) {
            if let Some(down_for) = self.outage.answered(answered_at) {
                tracing::info!(down_for_s = down_for.as_secs(), "weather API answers again");
            }
        }
        // The consumer's rules, checked here for every source: a reading meteo publishes is
        // never dead-lettered by meteo. One that breaks them is a bad answer, skipped.
        let now_wall = (self.clock)();
        let result = result.and_then(|reading| match reading.validate_at(now_wall) {
            Ok(()) => Ok(reading),
            Err(why) => Err(SourceError::Skip {
                label: "bad_answer",
                why: format!("not a valid reading: {why}"),
            }),
        });
        let reading = match result {
            Ok(reading) => reading,
            Err(err) => {
                drop(permit);
                self.failed_call(city_id, &name, err, now);
                return;
            }
        };
        let outcome = Outcome::Observation {
            dt: reading.observed_at.timestamp(),
            now_unix: now_wall.timestamp(),
        };
        match self.scheduler.record(city_id, now, outcome, rand::random()) {
            Verdict::Publish { .. } => {
                self.count(|s| s.new += 1);
                crate::metrics::api_call("new");
                let publisher = Arc::clone(&self.publisher);
                let give_up = self.give_up.clone();
                self.publishes.spawn(async move {
                    let result = publisher.publish(&reading, give_up).await;
                    drop(permit);
                    (reading, result, answered_at.elapsed())
                });
            }
            _ => {
                self.count(|s| s.unchanged += 1);
                crate::metrics::api_call("unchanged");
                tracing::debug!(city_id, city = %name, observed_at = %reading.observed_at, "no new observation yet");
            }
        }
    }

    fn failed_call(&mut self, city_id: i64, name: &str, err: SourceError, now: Duration) {
        let label = err.label();
        self.count(|s| *s.errors.entry(label).or_default() += 1);
        crate::metrics::api_call(label);
        let outcome = match &err {
            SourceError::Fatal { .. } => {
                // The run ends with this error, which the command prints: once, not once more
                // per call in flight.
                tracing::debug!(city_id, "{err}");
                self.report.fatal.get_or_insert(err);
                return;
            }
            SourceError::UnknownCity { .. } => Outcome::NotFound,
            SourceError::RateLimited { retry_after, .. } => Outcome::RateLimited {
                retry_after: *retry_after,
            },
            SourceError::Unreachable { .. } => Outcome::Unreachable,
            SourceError::RetryLater { .. } => Outcome::Transient,
            SourceError::Skip { .. } => Outcome::Skipped,
        };
        let why = err.to_string();
        if outcome == Outcome::Unreachable {
            // One line for the outage, not one per call (see `outage`).
            self.tell_outage(&err);
        }
        match self.scheduler.record(city_id, now, outcome, rand::random()) {
            Verdict::Dropped => {
                tracing::warn!(city_id, city = %name, "{err}; dropped from the schedule (check the city list)");
                // A `once` sweep that could not read a city failed; a continuous run goes on.
                if self.once {
                    self.report.failed.push((city_id, name.to_string(), why));
                }
            }
            Verdict::Paused { .. } if outcome == Outcome::Unreachable => {}
            Verdict::Paused { until } => tracing::warn!(
                city_id,
                pause_s = until.saturating_sub(now).as_secs(),
                "{err}; every call paused"
            ),
            Verdict::RetryAt { at } => tracing::warn!(
                city_id,
                city = %name,
                retry_in_ms = at.saturating_sub(now).as_millis() as u64,
                "{err}; retrying this city"
            ),
            Verdict::GaveUp => {
                tracing::warn!(city_id, city = %name, "{err}; giving up on this city");
                self.report.failed.push((city_id, name.to_string(), why));
            }
            Verdict::SweepStopped { given_up } => {
                tracing::error!(
                    cities = given_up.len(),
                    "{err}; the sweep stops: every call had to pause too often"
                );
                for id in given_up {
                    let failed = (id, self.city_name(id), why.clone());
                    self.report.failed.push(failed);
                }
                self.report.stopped = Some(why);
            }
            Verdict::NextAt { .. } => tracing::warn!(
                city_id,
                city = %name,
                "{err}; skipped until the city's next turn"
            ),
            Verdict::Publish { .. } | Verdict::AlreadyPublished { .. } => {}
        }
    }

    /// Tells of a call that reached no server, as [`Outages`] decides.
    fn tell_outage(&mut self, err: &SourceError) {
        match self.outage.unreachable(Instant::now()) {
            Tell::Started => tracing::warn!(
                reason = %err,
                "weather API unreachable; every call waits, one call at a time tries it again"
            ),
            Tell::StillDown { down_for, calls } => tracing::warn!(
                down_for_s = down_for.as_secs(),
                calls,
                reason = %err,
                "weather API still unreachable"
            ),
            Tell::Nothing => {}
        }
    }

    /// Handles one delivery report.
    fn delivered(&mut self, joined: Result<PublishResult, tokio::task::JoinError>) {
        let Ok((reading, result, latency)) = joined else {
            self.count(|s| s.not_delivered += 1);
            return;
        };
        match result {
            Ok(delivered) => {
                let now = Instant::now();
                let first_ack = *self.first_ack.get_or_insert(now);
                // Sent before the first acknowledgement: it waited for the connection too.
                let warmup = now.checked_sub(latency).is_none_or(|sent| sent < first_ack);
                self.count(|s| {
                    s.published += 1;
                    if warmup {
                        s.warmup.push(latency);
                    } else {
                        s.latencies.push(latency);
                    }
                });
                crate::metrics::published(
                    latency,
                    observation_age(reading.observed_at, (self.clock)()),
                );
                tracing::debug!(
                    city_id = reading.city_id,
                    observed_at = %reading.observed_at,
                    partition = delivered.partition,
                    offset = delivered.offset,
                    "published"
                );
            }
            Err(err @ (Undelivered::TooLarge { .. } | Undelivered::RefusedAsTooLarge { .. })) => {
                self.count(|s| s.too_large += 1);
                tracing::error!(
                    city_id = reading.city_id,
                    city = %self.city_name(reading.city_id),
                    observed_at = %reading.observed_at,
                    "reading too large for Kafka, not sent: {err}"
                );
            }
            Err(err) => {
                self.count(|s| s.not_delivered += 1);
                tracing::error!(city_id = reading.city_id, observed_at = %reading.observed_at, "not delivered: {err}");
            }
        }
    }

    /// Calls left in the minute and in the month, when calls cost something.
    fn budget_left(&self) -> Option<(u64, u64)> {
        self.limits?;
        Some(self.scheduler.budget().left(self.origin.elapsed()))
    }

    fn log_minute(&mut self) {
        let budget = stats::spent_budget(
            self.limits,
            self.scheduler.budget(),
            self.origin.elapsed(),
            self.source.name(),
        );
        let minute = std::mem::take(&mut self.minute);
        tracing::info!(
            calls = minute.calls,
            new = minute.new,
            unchanged = minute.unchanged,
            errors = %minute.errors_text(),
            published = minute.published,
            not_delivered = minute.not_delivered,
            budget = %budget,
            latency_p50_ms = %format!("{:.1}", minute.latency_quantile(0.5).map_or(0.0, |d| d.as_secs_f64() * 1000.0)),
            "last minute"
        );
    }

    /// The shutdown protocol: calls in flight get [`CALLS_GRACE`], then every fetched
    /// reading gets [`FLUSH_TIMEOUT`] to be acknowledged; what is left is counted.
    async fn finish(mut self, give_up_tx: watch::Sender<Option<Instant>>) -> Report {
        // What the calls in flight fetch is published like the rest.
        let deadline = Instant::now() + CALLS_GRACE;
        while !self.fetches.is_empty() {
            tokio::select! {
                Some(joined) = self.fetches.join_next() => {
                    if let Ok(result) = joined {
                        self.answered(result);
                    }
                }
                Some(joined) = self.publishes.join_next() => self.delivered(joined),
                () = tokio::time::sleep_until(deadline) => {
                    self.report.abandoned_calls = self.fetches.len();
                    tracing::warn!(calls = self.fetches.len(), "abandoning API calls still unanswered");
                    self.fetches.abort_all();
                    break;
                }
            }
        }

        let flush_deadline = Instant::now() + FLUSH_TIMEOUT;
        let _ = give_up_tx.send(Some(flush_deadline));
        while !self.publishes.is_empty() {
            tokio::select! {
                Some(joined) = self.publishes.join_next() => self.delivered(joined),
                () = tokio::time::sleep_until(flush_deadline + Duration::from_secs(5)) => {
                    let left = self.publishes.len() as u64;
                    self.total.not_delivered += left;
                    self.publishes.abort_all();
                    break;
                }
            }
        }
        if let Err(err) = self.publisher.flush(Duration::from_secs(5)).await {
            tracing::warn!("{err:#}");
        }
        self.report.dropped = self
            .scheduler
            .dropped()
            .into_iter()
            .map(|id| (id, self.city_name(id)))
            .collect();
        self.report.stats = self.total;
        self.report
    }
}

#[cfg(test)]
mod tests;
