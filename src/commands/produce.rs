//! `meteo produce`: the glue between the city list, a source of readings (the API client or
//! the synthetic source), the schedule and the Kafka producer. Owns the run loop, the
//! statistics, the summary, the exit code and the signals; owns no parsing, no scheduling
//! rule and no Kafka setting (those live in `owm`, `schedule` and `kafka::producer`).
//!
//! The loop takes its shutdown as a future ([`produce`]), so a caller (the signal handler,
//! a test) decides when it stops.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use chrono::Utc;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::city::{self, City};
use crate::kafka::producer::{self, Delivered, PublishError, Publisher};
use crate::kafka::CONNECT_TIMEOUT;
use crate::latency::Latencies;
use crate::model::Reading;
use crate::owm::api::{self, ApiConfig, ApiError, ErrorClass};
use crate::schedule::{self, Limits, Next, Outcome, Plan, Scheduler, Verdict};
use crate::settings::{format_duration, Secret};
use crate::settings::{ProduceSettings, SourceChoice};
use crate::shutdown::Shutdown;
use crate::synthetic::Synthetic;

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

/// Where readings come from.
#[derive(Clone)]
pub enum Source {
    Owm(Arc<api::Client>),
    Synthetic(Synthetic),
}

impl Source {
    fn name(&self) -> &'static str {
        match self {
            Source::Owm(_) => crate::model::SOURCE_OWM,
            Source::Synthetic(_) => crate::model::SOURCE_SYNTHETIC,
        }
    }
}

/// Everything the loop needs, decided once.
pub struct Producer {
    pub cities: Vec<City>,
    pub source: Source,
    pub publisher: Arc<Publisher>,
    pub limits: Limits,
    pub plan: Plan,
    pub once: bool,
}

/// Counters over a period.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub calls: u64,
    pub new: u64,
    pub unchanged: u64,
    pub errors: BTreeMap<&'static str, u64>,
    pub published: u64,
    pub not_delivered: u64,
    /// From the API's answer to Kafka's acknowledgement.
    pub latencies: Latencies,
}

impl Stats {
    fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    fn errors_text(&self) -> String {
        if self.errors.is_empty() {
            return "none".into();
        }
        let mut out = String::new();
        for (label, n) in &self.errors {
            let _ = write!(out, "{}{label} {n}", if out.is_empty() { "" } else { ", " });
        }
        out
    }

    fn latency(&mut self, latency: Duration) {
        self.latencies.push(latency);
    }

    /// The `q` quantile (0..=1) of the kept latencies.
    pub fn latency_quantile(&self, q: f64) -> Option<Duration> {
        self.latencies.quantile(q)
    }
}

/// What a run did; [`run`] prints it and picks the exit code from it.
#[derive(Debug, Default)]
pub struct Report {
    pub stats: Stats,
    /// Cities the API does not know (404), dropped from the schedule.
    pub dropped: Vec<(i64, String)>,
    /// `once`: cities that brought no reading, and why.
    pub failed: Vec<(i64, String, String)>,
    /// A 401: nothing else can work.
    pub fatal: Option<ApiError>,
    /// Stopped by the shutdown future.
    pub interrupted: bool,
    /// Calls abandoned at shutdown after [`CALLS_GRACE`].
    pub abandoned_calls: usize,
}

/// Runs `meteo produce`.
pub async fn run(args: ProduceSettings, shutdown: Shutdown) -> anyhow::Result<()> {
    let key = args
        .api_key
        .clone()
        .filter(|k| !k.expose().trim().is_empty());
    if let Some(key) = &key {
        // Never echo the value: say what is wrong with it.
        if key
            .expose()
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            bail!("OWM_API_KEY (or --api-key) contains spaces or control characters; set it to the key alone");
        }
    }
    let cities = city::load(&args.cities)?;
    let source = choose_source(&args, key)?;

    let kafka = args.kafka.clone();
    let partitions =
        tokio::task::block_in_place(|| producer::check_topic(&kafka, CONNECT_TIMEOUT))?;
    let publisher = Arc::new(Publisher::new(&kafka)?);

    let limits = match source {
        Source::Owm(_) => Limits {
            per_minute: args.rate,
            monthly_quota: args.monthly_quota,
        },
        // Nothing to spare: the synthetic source is also a load generator.
        Source::Synthetic(_) => Limits {
            per_minute: u32::MAX,
            monthly_quota: u64::MAX,
        },
    };
    let plan = schedule::plan(cities.len(), args.interval, limits);
    let budget = match source {
        Source::Owm(_) => format!(
            "{} calls/min, {} calls/30 days (sustained {:.1}/min)",
            args.rate, args.monthly_quota, plan.sustained_per_minute
        ),
        Source::Synthetic(_) => "none (synthetic)".to_string(),
    };
    let endpoint = match &source {
        Source::Owm(client) => client.endpoint().to_string(),
        Source::Synthetic(s) => format!("seed {}", s.seed()),
    };
    tracing::info!(
        source = source.name(),
        cities = cities.len(),
        interval = %format_duration(plan.interval),
        budget = %budget,
        from = %endpoint,
        topic = %kafka.topic,
        partitions,
        once = args.once,
        "producing"
    );
    if plan.stretched() {
        tracing::warn!(
            requested = %format_duration(plan.requested),
            interval = %format_duration(plan.interval),
            "the interval stretches: {} cities every {} need {:.1} calls a minute, the limits sustain {:.1}",
            cities.len(),
            format_duration(plan.requested),
            plan.needed_per_minute,
            plan.sustained_per_minute
        );
    }

    let producer = Producer {
        cities,
        source,
        publisher,
        limits,
        plan,
        once: args.once,
    };
    let report = produce(producer, shutdown.wait()).await;
    print_summary(&report);

    if let Some(fatal) = report.fatal {
        return Err(fatal.into());
    }
    if report.stats.not_delivered > 0 {
        bail!(
            "{} fetched readings were not acknowledged by Kafka at {} before exit",
            report.stats.not_delivered,
            kafka.brokers
        );
    }
    if args.once && !report.interrupted && !report.failed.is_empty() {
        let names: Vec<String> = report
            .failed
            .iter()
            .map(|(id, name, _)| format!("{name} ({id})"))
            .collect();
        bail!(
            "{} cities brought no reading: {} (see the summary above)",
            report.failed.len(),
            names.join(", ")
        );
    }
    Ok(())
}

fn choose_source(args: &ProduceSettings, key: Option<Secret>) -> anyhow::Result<Source> {
    let owm = |key: Secret| {
        Source::Owm(Arc::new(api::Client::new(ApiConfig {
            base_url: args.api_url.clone(),
            key,
            lang: args.lang.clone(),
            timeout: args.api_timeout,
        })))
    };
    let synthetic = || {
        let seed = args.seed.unwrap_or_else(rand::random);
        if args.seed.is_none() {
            tracing::info!(
                seed,
                "synthetic seed chosen; pass --seed {seed} to repeat this run"
            );
        }
        Source::Synthetic(Synthetic::new(seed, args.interval))
    };
    Ok(match (args.source, key) {
        (SourceChoice::Owm, Some(key)) | (SourceChoice::Auto, Some(key)) => owm(key),
        (SourceChoice::Owm, None) => {
            bail!("--source owm needs an API key: set OWM_API_KEY (or use --source synthetic)")
        }
        (SourceChoice::Synthetic, _) => synthetic(),
        (SourceChoice::Auto, None) => {
            tracing::warn!(
                "NO API KEY: OWM_API_KEY is not set, so these readings are SYNTHETIC, not real \
                 weather. Set OWM_API_KEY for live data"
            );
            synthetic()
        }
    })
}

type FetchResult = (
    i64,
    Result<Reading, ApiError>,
    Instant,
    OwnedSemaphorePermit,
);
type PublishResult = (Reading, Result<Delivered, PublishError>, Duration);

/// The run loop state.
struct Run {
    origin: Instant,
    scheduler: Scheduler,
    cities: HashMap<i64, City>,
    source: Source,
    publisher: Arc<Publisher>,
    permits: Arc<Semaphore>,
    give_up: watch::Receiver<Option<Instant>>,
    fetches: JoinSet<FetchResult>,
    publishes: JoinSet<PublishResult>,
    total: Stats,
    minute: Stats,
    report: Report,
    limits: Limits,
    synthetic: bool,
    once: bool,
}

/// Polls and publishes until `shutdown` completes (or, with `once`, until the sweep is done,
/// or until the API refuses the key), then finishes calls in flight, waits for every
/// delivery and reports.
pub async fn produce(producer: Producer, shutdown: impl Future<Output = ()>) -> Report {
    let ids: Vec<i64> = producer.cities.iter().map(|c| c.id).collect();
    let config = schedule::Config::new(producer.plan, producer.once);
    let (give_up_tx, give_up) = watch::channel(None);
    let mut run = Run {
        origin: Instant::now(),
        scheduler: Scheduler::new(&ids, config, producer.limits),
        cities: producer.cities.into_iter().map(|c| (c.id, c)).collect(),
        synthetic: matches!(producer.source, Source::Synthetic(_)),
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
    };
    let mut ticker = tokio::time::interval_at(run.origin + STATS_EVERY, STATS_EVERY);
    tokio::pin!(shutdown);

    loop {
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

    // Calls in flight get a few seconds: what they fetch is published like the rest.
    let deadline = Instant::now() + CALLS_GRACE;
    while !run.fetches.is_empty() {
        tokio::select! {
            Some(joined) = run.fetches.join_next() => {
                if let Ok(result) = joined {
                    run.answered(result);
                }
            }
            Some(joined) = run.publishes.join_next() => run.delivered(joined),
            () = tokio::time::sleep_until(deadline) => {
                run.report.abandoned_calls = run.fetches.len();
                tracing::warn!(calls = run.fetches.len(), "abandoning API calls still unanswered");
                run.fetches.abort_all();
                break;
            }
        }
    }

    // Every fetched reading gets until the flush deadline to be acknowledged.
    let flush_deadline = Instant::now() + FLUSH_TIMEOUT;
    let _ = give_up_tx.send(Some(flush_deadline));
    while !run.publishes.is_empty() {
        tokio::select! {
            Some(joined) = run.publishes.join_next() => run.delivered(joined),
            () = tokio::time::sleep_until(flush_deadline + Duration::from_secs(5)) => {
                let left = run.publishes.len() as u64;
                run.total.not_delivered += left;
                run.publishes.abort_all();
                break;
            }
        }
    }
    if let Err(err) = run.publisher.flush(Duration::from_secs(5)).await {
        tracing::warn!("{err:#}");
    }
    run.report.dropped = run
        .scheduler
        .dropped()
        .into_iter()
        .map(|id| (id, run.city_name(id)))
        .collect();
    run.report.stats = run.total;
    run.report
}

async fn sleep_until(wake: Option<Instant>) {
    match wake {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Run {
    fn city_name(&self, id: i64) -> String {
        self.cities
            .get(&id)
            .map_or_else(|| "?".to_string(), |c| c.name.clone())
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
        match &self.source {
            Source::Owm(client) => {
                let client = Arc::clone(client);
                let country = city.country.clone();
                self.fetches.spawn(async move {
                    let result = client.fetch_async(city_id, country).await;
                    (city_id, result, Instant::now(), permit)
                });
            }
            Source::Synthetic(synthetic) => {
                let reading = synthetic.current(city, Utc::now());
                self.fetches
                    .spawn(async move { (city_id, Ok(reading), Instant::now(), permit) });
            }
        }
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
            now_unix: Utc::now().timestamp(),
        };
        match self.scheduler.record(city_id, now, outcome, rand::random()) {
            Verdict::Publish { .. } => {
                self.count(|s| s.new += 1);
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
                tracing::debug!(city_id, city = %name, observed_at = %reading.observed_at, "no new observation yet");
            }
        }
    }

    fn failed_call(&mut self, city_id: i64, name: &str, err: ApiError, now: Duration) {
        let label = err.label();
        self.count(|s| *s.errors.entry(label).or_default() += 1);
        let outcome = match err.class() {
            ErrorClass::Fatal => {
                tracing::error!(city_id, "{err}");
                self.report.fatal = Some(err);
                return;
            }
            ErrorClass::DropCity => Outcome::NotFound,
            ErrorClass::PauseAll => Outcome::RateLimited {
                retry_after: match err {
                    ApiError::RateLimited { retry_after } => retry_after,
                    _ => None,
                },
            },
            ErrorClass::Retry => Outcome::Transient,
            ErrorClass::Skip => Outcome::Skipped,
        };
        match self.scheduler.record(city_id, now, outcome, rand::random()) {
            Verdict::Dropped => {
                tracing::warn!(city_id, city = %name, "{err}; dropped from the schedule (check the city list)");
                // A `once` sweep that could not read a city failed; a continuous run goes on.
                if self.once {
                    self.report
                        .failed
                        .push((city_id, name.to_string(), err.to_string()));
                }
            }
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
                self.report
                    .failed
                    .push((city_id, name.to_string(), err.to_string()));
            }
            Verdict::NextAt { .. } => tracing::warn!(
                city_id,
                city = %name,
                "{err}; skipped until the city's next turn"
            ),
            Verdict::Publish { .. } | Verdict::AlreadyPublished { .. } => {}
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
                self.count(|s| {
                    s.published += 1;
                    s.latency(latency);
                });
                tracing::debug!(
                    city_id = reading.city_id,
                    observed_at = %reading.observed_at,
                    partition = delivered.partition,
                    offset = delivered.offset,
                    "published"
                );
            }
            Err(err) => {
                self.count(|s| s.not_delivered += 1);
                tracing::error!(city_id = reading.city_id, observed_at = %reading.observed_at, "not delivered: {err}");
            }
        }
    }

    fn log_minute(&mut self) {
        let now = self.origin.elapsed();
        let budget = self.scheduler.budget();
        let budget_text = if self.synthetic {
            "none (synthetic)".to_string()
        } else {
            format!(
                "{}/{} in the last minute, {} of {} per 30 days since start",
                budget.used_last_minute(now),
                self.limits.per_minute,
                budget.total(),
                self.limits.monthly_quota
            )
        };
        let minute = std::mem::take(&mut self.minute);
        tracing::info!(
            calls = minute.calls,
            new = minute.new,
            unchanged = minute.unchanged,
            errors = %minute.errors_text(),
            published = minute.published,
            not_delivered = minute.not_delivered,
            budget = %budget_text,
            latency_p50_ms = minute.latency_quantile(0.5).map_or(0.0, |d| d.as_secs_f64() * 1000.0),
            "last minute"
        );
    }
}

/// The summary on stdout: what was called, what was new, what was published.
fn print_summary(report: &Report) {
    let s = &report.stats;
    let share = if s.calls > 0 {
        s.new as f64 * 100.0 / s.calls as f64
    } else {
        0.0
    };
    println!(
        "summary: {} calls, {} new ({share:.1}%), {} unchanged, {} errors ({}), {} published, {} not delivered",
        s.calls,
        s.new,
        s.unchanged,
        s.error_count(),
        s.errors_text(),
        s.published,
        s.not_delivered
    );
    if let (Some(p50), Some(p99)) = (s.latency_quantile(0.5), s.latency_quantile(0.99)) {
        println!(
            "publish latency (API answer to Kafka acknowledgement): median {:.1} ms, p99 {:.1} ms over {} readings",
            p50.as_secs_f64() * 1000.0,
            p99.as_secs_f64() * 1000.0,
            s.latencies.len()
        );
    }
    for (id, name) in &report.dropped {
        println!("dropped: {name} ({id}): unknown to the API (404)");
    }
    for (id, name, why) in &report.failed {
        if !report.dropped.iter().any(|(d, _)| d == id) {
            println!("failed: {name} ({id}): {why}");
        }
    }
    if report.abandoned_calls > 0 {
        println!(
            "abandoned: {} calls unanswered at shutdown",
            report.abandoned_calls
        );
    }
}
