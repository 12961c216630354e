//! `meteo consume`: the topic into Cassandra. Every valid reading is written to `readings`
//! and `latest` (idempotent writes, retried until they succeed); every invalid record goes to
//! the dead-letter topic. At-least-once: the Kafka side stores an offset only after this
//! handler says the record is durable.
//!
//! An acknowledged write is not yet on disk: with Cassandra's default periodic commit log, a
//! node that dies (crash, `kill -9`, OOM killer) restarts without the writes it acknowledged
//! in its last moments, and their offsets may be committed already. So the readings written
//! shortly before an outage are kept ([`RecentWrites`]) and written again when Cassandra
//! answers again.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::Utc;

use crate::backoff::Backoff;
use crate::kafka::consumer::{self, ConsumerOptions, Counters, Record, SinkHealth, Verdict};
use crate::model::Reading;
use crate::settings::ConsumeSettings;
use crate::shutdown::Shutdown;
use crate::store::{self, readings::ReadingWriter};

/// Longest pause between two write attempts while Cassandra does not answer.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

/// Writes acknowledged this long before an outage are written again after it: Cassandra's
/// default `commitlog_sync_period` (10 s, what a machine crash can lose; a process crash
/// loses the last ~100 ms, the commit log marker period), plus a margin.
const REWRITE_WINDOW: Duration = Duration::from_secs(12);

/// At most this many recent readings are kept for that (about 1 KB each).
const REWRITE_MAX: usize = 20_000;

pub async fn run(args: ConsumeSettings, shutdown: Shutdown) -> anyhow::Result<()> {
    let kafka = args.kafka.clone();
    let cassandra = args.cassandra.clone();
    tracing::info!(
        brokers = %kafka.brokers,
        topic = %kafka.topic,
        group = %args.group,
        cassandra = %cassandra.nodes.join(","),
        keyspace = %cassandra.keyspace,
        concurrency = args.concurrency,
        "consumer starting"
    );
    let session = store::connect_keyspace(&cassandra).await?;
    let writer = Arc::new(ReadingWriter::prepare(session).await?);
    let health = Arc::new(SinkHealth::default());
    let recent = Arc::new(RecentWrites::new(REWRITE_WINDOW, REWRITE_MAX));
    let counters = Arc::new(Counters::default());
    let options = ConsumerOptions {
        group: args.group.clone(),
        concurrency: args.concurrency,
        max_messages: args.max_messages,
        until_idle: args.until_idle,
        drain_timeout: Duration::from_secs(10),
        stats_every: args.stats_interval,
    };

    let handler = {
        let health = health.clone();
        move |record: Record| {
            let writer = writer.clone();
            let health = health.clone();
            let recent = recent.clone();
            async move {
                match Reading::from_message(record.key.as_deref(), record.value.as_deref()) {
                    Ok(reading) => {
                        write_until_stored(&writer, &health, &recent, reading).await;
                        Verdict::Stored
                    }
                    Err(invalid) => Verdict::Rejected(invalid.to_string()),
                }
            }
        }
    };
    let summary = tokio::spawn(async move {
        consumer::run(&kafka, &options, health, counters, handler, shutdown.wait()).await
    })
    .await
    .context("the consumer loop panicked")??;
    tracing::info!(
        consumed = summary.consumed,
        written = summary.stored,
        dead_lettered = summary.dead_lettered,
        "consumer stopped"
    );
    Ok(())
}

/// Writes the reading, retrying with backoff until Cassandra takes it. The writes are
/// idempotent, so a retry after a write that did land changes nothing. The first write that
/// succeeds after an outage first writes again what was acknowledged just before it.
async fn write_until_stored(
    writer: &ReadingWriter,
    health: &SinkHealth,
    recent: &RecentWrites,
    reading: Reading,
) {
    let mut backoff = write_backoff();
    loop {
        match writer.write(&reading, Utc::now()).await {
            Ok(()) => {
                if let Some(outage) = health.mark_up() {
                    tracing::info!(
                        seconds = outage.as_secs(),
                        "Cassandra answers again; writing resumed"
                    );
                    let suspect = recent.take_suspect();
                    for earlier in &suspect {
                        write_retrying(writer, earlier).await;
                    }
                    if !suspect.is_empty() {
                        tracing::info!(
                            readings = suspect.len(),
                            "wrote again the readings acknowledged just before the outage"
                        );
                    }
                }
                recent.written(reading, health.is_down());
                return;
            }
            Err(err) => {
                if health.mark_down() {
                    recent.outage_began();
                    tracing::warn!(
                        error = %format!("{err:#}"),
                        "Cassandra write failed; pausing the topic and retrying until it answers"
                    );
                }
                backoff.wait().await;
            }
        }
    }
}

/// Writes one reading, retrying with backoff until Cassandra takes it.
async fn write_retrying(writer: &ReadingWriter, reading: &Reading) {
    let mut backoff = write_backoff();
    while let Err(err) = writer.write(reading, Utc::now()).await {
        tracing::debug!(error = %format!("{err:#}"), "writing again failed; retrying");
        backoff.wait().await;
    }
}

/// From 100 ms up to [`MAX_RETRY_DELAY`] between two write attempts.
fn write_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(100), MAX_RETRY_DELAY)
}

/// The readings Cassandra acknowledged recently, and those acknowledged shortly before the
/// current outage began (the suspects, written again once it ends).
struct RecentWrites {
    window: Duration,
    max: usize,
    state: Mutex<RecentState>,
}

#[derive(Default)]
struct RecentState {
    recent: VecDeque<(Instant, Reading)>,
    suspect: Vec<Reading>,
}

impl RecentWrites {
    fn new(window: Duration, max: usize) -> Self {
        Self {
            window,
            max,
            state: Mutex::new(RecentState::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RecentState> {
        // A panic while holding it leaves consistent data (plain pushes and drains).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A write was acknowledged. `outage` says whether an outage has begun meanwhile: a write
    /// acknowledged just before the failure that another task saw first is a suspect too.
    fn written(&self, reading: Reading, outage: bool) {
        let mut state = self.lock();
        if outage {
            state.suspect.push(reading);
            return;
        }
        let now = Instant::now();
        while state
            .recent
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > self.window)
            || state.recent.len() >= self.max
        {
            state.recent.pop_front();
        }
        state.recent.push_back((now, reading));
    }

    /// The first write failure of an outage: what was acknowledged within the window becomes
    /// suspect.
    fn outage_began(&self) {
        let mut state = self.lock();
        let now = Instant::now();
        let recent: Vec<Reading> = state
            .recent
            .drain(..)
            .filter(|(at, _)| now.duration_since(*at) <= self.window)
            .map(|(_, r)| r)
            .collect();
        state.suspect.extend(recent);
    }

    /// The suspects, to write again now that the outage is over.
    fn take_suspect(&self) -> Vec<Reading> {
        std::mem::take(&mut self.lock().suspect)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(city_id: i64) -> Reading {
        let mut r = Reading::from_json(crate::model::tests::PARIS.as_bytes()).unwrap();
        r.city_id = city_id;
        r
    }

    fn ids(readings: &[Reading]) -> Vec<i64> {
        readings.iter().map(|r| r.city_id).collect()
    }

    #[test]
    fn writes_acknowledged_just_before_an_outage_are_written_again_after_it() {
        let recent = RecentWrites::new(Duration::from_secs(60), 100);
        recent.written(reading(1), false);
        recent.written(reading(2), false);
        recent.outage_began();
        // Acknowledged before the failure another task saw: a suspect too.
        recent.written(reading(3), true);
        assert_eq!(ids(&recent.take_suspect()), [1, 2, 3]);
        assert!(recent.take_suspect().is_empty(), "written again once");
        // After the outage, a new one suspects only what came since.
        recent.written(reading(4), false);
        recent.outage_began();
        assert_eq!(ids(&recent.take_suspect()), [4]);
    }

    #[test]
    fn only_the_window_and_at_most_max_readings_are_kept() {
        let recent = RecentWrites::new(Duration::from_secs(60), 2);
        for id in 1..=5 {
            recent.written(reading(id), false);
        }
        recent.outage_began();
        assert_eq!(ids(&recent.take_suspect()), [4, 5]);
        let recent = RecentWrites::new(Duration::ZERO, 100);
        recent.written(reading(1), false);
        std::thread::sleep(Duration::from_millis(5));
        recent.outage_began();
        assert!(recent.take_suspect().is_empty());
    }
}
