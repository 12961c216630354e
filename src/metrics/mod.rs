//! Metrics and health of `produce` and `consume`: one registry per process, filled by one-line
//! hooks in the engines, served by [`server`] when `--metrics-addr` is set. Without it nothing
//! is installed and every hook returns at once.

mod health;
mod process;
mod registry;
pub mod server;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub use health::{liveness, readiness, Checks, Metadata, BEAT_STALE, METADATA_STALE};
pub use registry::Metrics;

/// Which command the process runs: which metrics it shows and what ready means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Produce,
    Consume,
}

/// How often the probes (Cassandra, Kafka metadata, the consumer's lag) look again.
pub const PROBE_EVERY: Duration = Duration::from_secs(5);

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// Binds `addr`, installs the registry of `role` and serves it in the background. Call
/// before any other work, so a bad address is the first and only thing said. The engine is
/// counted as running while the returned guard lives.
pub fn start(addr: SocketAddr, role: Role, topic: &str) -> anyhow::Result<Running> {
    let listener = server::bind(addr)?;
    let metrics = METRICS.get_or_init(|| Metrics::new(role, topic));
    tokio::spawn(server::serve(listener, metrics));
    tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
    update(|c| c.running = true);
    Ok(Running(()))
}

/// The engine runs while this lives; dropped, `/healthz` answers 503.
pub struct Running(());

impl Drop for Running {
    fn drop(&mut self) {
        update(|c| c.running = false);
    }
}

/// Whether the metrics are served (the hooks count only then).
pub fn enabled() -> bool {
    METRICS.get().is_some()
}

fn with(f: impl FnOnce(&Metrics)) {
    if let Some(metrics) = METRICS.get() {
        f(metrics);
    }
}

fn update(f: impl FnOnce(&mut Checks)) {
    with(|m| f(&mut m.checks.lock().unwrap_or_else(|e| e.into_inner())));
}

/// Runs `check` every [`PROBE_EVERY`] and hands each result to `record`, for as long as the
/// process runs; nothing when the metrics are off.
pub fn probe<C, F, T>(check: C, record: fn(T))
where
    C: Fn() -> F + Send + 'static,
    F: Future<Output = T> + Send,
    T: Send + 'static,
{
    if !enabled() {
        return;
    }
    tokio::spawn(async move {
        let mut every = tokio::time::interval(PROBE_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            record(check().await);
        }
    });
}

fn up(ok: bool) -> i64 {
    i64::from(ok)
}

// Hooks of both engines.

/// The engine's loop turned.
pub fn beat() {
    update(|c| c.last_beat = Some(Instant::now()));
}

// Hooks of the consumer.

/// `records` readings were stored together, `took` after the first was fetched.
pub fn record_stored(records: usize, took: Duration) {
    with(|m| {
        m.stored.inc_by(records as u64);
        // Each record waited this long for its group's write.
        for _ in 0..records {
            m.write_duration.observe(took.as_secs_f64());
        }
    });
}

/// A record was acknowledged by the dead-letter topic.
pub fn record_dead_lettered() {
    with(|m| {
        m.dead_lettered.inc();
    });
}

/// A write request of one partition was planned: first to a replica of it, or not.
pub fn write_request_planned(to_replica: bool) {
    with(|m| {
        m.batches.inc();
        if to_replica {
            m.batches_to_replica.inc();
        }
    });
}

/// What the consumer saw of its group: partitions held, lag (when the broker told it), and
/// whether Kafka answered.
pub fn consumer_observed(partitions: usize, lag: Option<i64>, kafka_answers: bool) {
    with(|m| {
        m.partitions.set(partitions as i64);
        if let Some(lag) = lag {
            m.lag.set(lag);
        }
        m.kafka_up.set(up(kafka_answers));
    });
    update(|c| c.partitions = Some(partitions));
}

/// The consumer's group gave it `partitions` (0: took them back), told by the rebalance
/// itself: /readyz follows at once.
pub fn partitions_held(partitions: usize) {
    with(|m| {
        m.partitions.set(partitions as i64);
    });
    update(|c| c.partitions = Some(partitions));
}

/// The last Cassandra check: `Err` says why it failed.
pub fn cassandra_checked(result: Result<(), String>) {
    with(|m| {
        m.cassandra_up.set(up(result.is_ok()));
    });
    update(|c| c.cassandra = Some(result));
}

// Hooks of the producer.

/// An API call ended: `new`, `unchanged`, or the error's class.
pub fn api_call(result: &'static str) {
    with(|m| {
        m.api_calls.get_or_create(&[("result", result)]).inc();
    });
}

/// A reading was acknowledged by Kafka, `latency` after the API's answer and `age` after
/// it was observed.
pub fn published(latency: Duration, age: Duration) {
    with(|m| {
        m.published.inc();
        m.publish_duration.observe(latency.as_secs_f64());
        m.observation_age.observe(age.as_secs_f64());
    });
}

/// Calls left in the minute and in the month, when the source has a budget; asked only when
/// the metrics are on.
pub fn budget_left(left: impl FnOnce() -> Option<(u64, u64)>) {
    with(|m| {
        if let Some((minute, month)) = left() {
            let clamp = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
            m.budget_remaining
                .get_or_create(&[("window", "minute")])
                .set(clamp(minute));
            m.budget_remaining
                .get_or_create(&[("window", "month")])
                .set(clamp(month));
        }
    });
}

/// The producer's Kafka metadata check: whether the topic is there, or why Kafka did not
/// answer.
pub fn kafka_metadata(result: Result<bool, String>) {
    with(|m| {
        m.kafka_up.set(up(result.is_ok()));
    });
    update(|c| match result {
        Ok(topic_present) => {
            c.metadata = Some(Metadata {
                answered_at: Instant::now(),
                topic_present,
            });
            c.metadata_error = None;
        }
        Err(err) => c.metadata_error = Some(err),
    });
}
