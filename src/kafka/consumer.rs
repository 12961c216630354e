//! The at-least-once consumer loop: reads the topic in a consumer group, hands every record to
//! a handler (which makes it durable somewhere, or rejects it), sends rejected records to the
//! dead-letter topic, and stores a partition's offset only once every record up to it is
//! durable. Knows nothing of Cassandra: the handler is the caller's.
//!
//! - Offsets: `enable.auto.offset.store=false`; the loop stores the contiguous low-water mark
//!   per partition (records are handled concurrently and finish out of order), and
//!   librdkafka's auto-commit sends what was stored every second, on revocation and at close.
//! - Backpressure: when the caller says its sink is down (`sink_down`), the assigned
//!   partitions are paused and the loop keeps polling, so the group keeps this member; they
//!   resume when the sink answers again.
//! - Shutdown: stop fetching, let in-flight records finish (bounded), commit, leave the group.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::task::JoinSet;

use super::config::{consumer_config, dead_letter_config};
use super::reports::KafkaContext;
use crate::backoff::Backoff;
use crate::latency::Latencies;
use crate::settings::KafkaSettings;

/// Dead-letter headers (docs/design.md).
pub const HEADER_ERROR: &str = "meteo.error";
pub const HEADER_TOPIC: &str = "meteo.topic";
pub const HEADER_PARTITION: &str = "meteo.partition";
pub const HEADER_OFFSET: &str = "meteo.offset";

/// A Kafka record copied out of the client's buffer at once, so it can cross tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

/// What the handler did with a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Durably stored.
    Stored,
    /// Not valid; the reason goes into the dead-letter header `meteo.error`.
    Rejected(String),
}

/// How a consumer run behaves and when it ends.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    pub group: String,
    /// Records handled at once.
    pub concurrency: usize,
    /// End after this many records are handled (stored or dead-lettered).
    pub max_messages: Option<u64>,
    /// End when no record arrived for this long and nothing is in flight.
    pub until_idle: Option<Duration>,
    /// How long in-flight records may take to finish at shutdown.
    pub drain_timeout: Duration,
    /// How often to log a progress line.
    pub stats_every: Duration,
}

/// Counters of a run.
#[derive(Debug, Default)]
pub struct Counters {
    pub consumed: AtomicU64,
    pub stored: AtomicU64,
    pub dead_lettered: AtomicU64,
}

/// What a finished run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub consumed: u64,
    pub stored: u64,
    pub dead_lettered: u64,
}

/// Offsets of one partition: which records are in flight, and how far everything is done.
#[derive(Debug, Default, Clone)]
pub struct PartitionProgress {
    in_flight: BTreeSet<i64>,
    highest_done: Option<i64>,
    stored: Option<i64>,
}

impl PartitionProgress {
    pub fn started(&mut self, offset: i64) {
        self.in_flight.insert(offset);
    }

    /// Marks `offset` done; returns the offset to store when the low-water mark moved: the
    /// highest offset below which (and at which) every record seen is done.
    pub fn finished(&mut self, offset: i64) -> Option<i64> {
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

/// Logs group membership changes and commits stored offsets before partitions go away;
/// librdkafka's reports go through [`KafkaContext`].
struct GroupContext(KafkaContext);

impl ClientContext for GroupContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        self.0.log(level, fac, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.0.error(error, reason);
    }
}

impl ConsumerContext for GroupContext {
    /// A commit the broker accepted means Kafka answers. (A record fetched proves nothing: it
    /// may come from the client's queue while the broker is gone.)
    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        if result.is_ok() {
            self.0.answered();
        }
    }

    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(partitions) => {
                tracing::info!(partitions = %describe(partitions), "partitions revoked");
                // Synchronous, so the next owner starts where this one stopped.
                if let Err(err) = consumer.commit_consumer_state(CommitMode::Sync) {
                    tracing::debug!(%err, "nothing committed on revocation");
                }
            }
            Rebalance::Assign(partitions) => {
                tracing::info!(partitions = %describe(partitions), "partitions assigned");
            }
            Rebalance::Error(err) => tracing::warn!(%err, "rebalance error"),
        }
    }
}

fn describe(partitions: &TopicPartitionList) -> String {
    let mut list: Vec<i32> = partitions
        .elements()
        .iter()
        .map(|e| e.partition())
        .collect();
    list.sort_unstable();
    format!("{list:?}")
}

/// Runs the consumer until `shutdown` resolves or a run limit is reached.
pub async fn run<H, F>(
    settings: &KafkaSettings,
    options: &ConsumerOptions,
    sink_down: impl Fn() -> bool,
    counters: Arc<Counters>,
    handler: H,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<Summary>
where
    H: Fn(Record) -> F,
    F: Future<Output = Verdict> + Send + 'static,
{
    // One outage report for the consumer and the dead-letter producer.
    let reports = KafkaContext::default();
    // Shared with the progress report, which asks the broker for the lag off this loop.
    let consumer: Arc<StreamConsumer<GroupContext>> = consumer_config(settings, &options.group)
        .create_with_context(GroupContext(reports.clone()))
        .map(Arc::new)
        .with_context(|| format!("creating a Kafka consumer for {}", settings.brokers))?;
    let dlq = DeadLetters::new(settings, reports.clone())?;

    // The topic must exist: a missing one means migrate was not run.
    let topics =
        tokio::task::block_in_place(|| super::topic_partitions(settings, super::CONNECT_TIMEOUT))?;
    for topic in [settings.topic.clone(), settings.dlq_topic()] {
        if !topics.contains_key(&topic) {
            bail!(
                "topic {topic} does not exist on Kafka at {}; run `meteo migrate` first",
                settings.brokers
            );
        }
    }
    consumer
        .subscribe(&[&settings.topic])
        .with_context(|| format!("subscribing to {}", settings.topic))?;

    let mut progress: HashMap<i32, PartitionProgress> = HashMap::new();
    let mut in_flight: JoinSet<(Record, Verdict, Duration)> = JoinSet::new();
    let mut dead_letters: JoinSet<(Record, anyhow::Result<()>)> = JoinSet::new();
    let mut handled: u64 = 0;
    let mut last_record_at = Instant::now();
    let mut paused = false;
    let mut stats = Stats::new(options.stats_every);
    let mut kafka_errors = ErrorBurst::default();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);

    let reason = loop {
        let limit_reached = options.max_messages.is_some_and(|max| handled >= max);
        let busy = in_flight.len() + dead_letters.len();
        if limit_reached && busy == 0 {
            break "the message limit was reached";
        }
        if let Some(idle) = options.until_idle {
            if busy == 0 && last_record_at.elapsed() >= idle {
                break "the topic was idle";
            }
        }
        let seen = counters.consumed.load(Ordering::Relaxed);
        let may_fetch =
            busy < options.concurrency && options.max_messages.is_none_or(|max| seen < max);
        tokio::select! {
            _ = &mut shutdown => break "asked to stop",
            Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                let (record, verdict, took) = done.context("a record handler panicked")?;
                match verdict {
                    Verdict::Stored => {
                        counters.stored.fetch_add(1, Ordering::Relaxed);
                        stats.latencies.push(took);
                        handled += 1;
                        store(&consumer, &mut progress, &record);
                    }
                    Verdict::Rejected(reason) => {
                        tracing::warn!(partition = record.partition, offset = record.offset, %reason, "record rejected; sending it to the dead-letter topic");
                        let dlq = dlq.clone();
                        dead_letters.spawn(async move {
                            let result = dlq.send_until_acknowledged(&record, &reason).await;
                            (record, result)
                        });
                    }
                }
            }
            Some(done) = dead_letters.join_next(), if !dead_letters.is_empty() => {
                let (record, result) = done.context("a dead-letter task panicked")?;
                result?;
                counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
                handled += 1;
                store(&consumer, &mut progress, &record);
            }
            message = consumer.recv(), if may_fetch || paused => {
                let message = match message {
                    Ok(message) => message,
                    Err(err) => {
                        // Broker outages surface here; librdkafka reconnects by itself. The
                        // errors queue up (one per failed connection attempt) and are read
                        // here one by one, so a pause per error would make the loop read
                        // minutes-old errors long after the broker is back: only a token
                        // pause, against a busy loop.
                        if !reports.outage_error(&err) {
                            kafka_errors.seen(&err);
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let record = Record {
                    topic: message.topic().to_string(),
                    partition: message.partition(),
                    offset: message.offset(),
                    key: message.key().map(<[u8]>::to_vec),
                    value: message.payload().map(<[u8]>::to_vec),
                };
                drop(message);
                last_record_at = Instant::now();
                counters.consumed.fetch_add(1, Ordering::Relaxed);
                progress.entry(record.partition).or_default().started(record.offset);
                let work = handler(record.clone());
                in_flight.spawn(async move {
                    let start = Instant::now();
                    let verdict = work.await;
                    (record, verdict, start.elapsed())
                });
            }
            _ = tick.tick() => {
                // Idle time counts only while this member holds partitions: a new member
                // waits for the group to rebalance first (a dead member holds its partitions
                // until its session times out).
                if consumer.assignment().map_or(true, |a| a.count() == 0) {
                    last_record_at = Instant::now();
                }
                // Pause fetching while the sink is down, but keep polling: the group must
                // keep this member, and nothing new should pile up in memory.
                let down = sink_down();
                if down != paused {
                    if let Ok(assignment) = consumer.assignment() {
                        let result = if down { consumer.pause(&assignment) } else { consumer.resume(&assignment) };
                        match result {
                            Ok(()) => {
                                paused = down;
                                tracing::info!(partitions = %describe(&assignment), "{}", if down { "paused fetching until the store answers" } else { "resumed fetching" });
                            }
                            Err(err) => tracing::warn!(%err, "could not pause or resume partitions"),
                        }
                    }
                }
                if stats.due() {
                    // The lag takes a broker round trip per partition, each queued behind
                    // the fetch in flight (up to fetch.wait.max.ms): seconds under load.
                    // Asked on a blocking thread, so the loop keeps writing meanwhile.
                    let report = stats.take(&counters);
                    let (consumer, topic) = (consumer.clone(), settings.topic.clone());
                    tokio::task::spawn_blocking(move || report.log(lag(&consumer, &topic)));
                }
            }
        }
    };
    tracing::info!(reason, "consumer stopping");

    // Let in-flight records finish, within a bound; what does not finish is not committed
    // and is read again by the next run.
    let drain = async {
        while let Some(done) = in_flight.join_next().await {
            if let Ok((record, verdict, _)) = done {
                match verdict {
                    Verdict::Stored => {
                        counters.stored.fetch_add(1, Ordering::Relaxed);
                        store(&consumer, &mut progress, &record);
                    }
                    Verdict::Rejected(reason) => {
                        if dlq.send_until_acknowledged(&record, &reason).await.is_ok() {
                            counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
                            store(&consumer, &mut progress, &record);
                        }
                    }
                }
            }
        }
        while let Some(done) = dead_letters.join_next().await {
            if let Ok((record, Ok(()))) = done {
                counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
                store(&consumer, &mut progress, &record);
            }
        }
    };
    if tokio::time::timeout(options.drain_timeout, drain)
        .await
        .is_err()
    {
        tracing::warn!(
            "in-flight records did not finish within {:?}; they will be read again",
            options.drain_timeout
        );
    }
    if let Err(err) =
        tokio::task::block_in_place(|| consumer.commit_consumer_state(CommitMode::Sync))
    {
        tracing::debug!(%err, "final commit");
    }
    dlq.flush();
    let summary = Summary {
        consumed: counters.consumed.load(Ordering::Relaxed),
        stored: counters.stored.load(Ordering::Relaxed),
        dead_lettered: counters.dead_lettered.load(Ordering::Relaxed),
    };
    Ok(summary)
}

/// Stores the partition's new low-water mark, if it moved.
fn store(
    consumer: &StreamConsumer<GroupContext>,
    progress: &mut HashMap<i32, PartitionProgress>,
    record: &Record,
) {
    if let Some(mark) = progress
        .entry(record.partition)
        .or_default()
        .finished(record.offset)
    {
        // librdkafka commits mark + 1, the next record to read. Storing fails for a partition
        // no longer assigned; its next owner reads the rest again, which is harmless.
        if let Err(err) = consumer.store_offset(&record.topic, record.partition, mark) {
            tracing::debug!(%err, partition = record.partition, "offset not stored");
        }
    }
}

/// Messages not yet consumed by this member, over its assigned partitions.
fn lag(consumer: &StreamConsumer<GroupContext>, topic: &str) -> Option<i64> {
    let positions = consumer.position().ok()?;
    let mut total = 0;
    for element in positions.elements_for_topic(topic) {
        let (_, high) = consumer
            .fetch_watermarks(topic, element.partition(), Duration::from_secs(2))
            .ok()?;
        let position = match element.offset() {
            Offset::Offset(o) => o,
            _ => continue,
        };
        total += (high - position).max(0);
    }
    Some(total)
}

/// The dead-letter producer: original key and value, unchanged, plus `meteo.*` headers.
#[derive(Clone)]
struct DeadLetters {
    producer: FutureProducer<KafkaContext>,
    reports: KafkaContext,
    topic: String,
}

impl DeadLetters {
    fn new(settings: &KafkaSettings, reports: KafkaContext) -> anyhow::Result<Self> {
        let producer = dead_letter_config(settings)
            .create_with_context(reports.clone())
            .with_context(|| {
                format!("creating the dead-letter producer for {}", settings.brokers)
            })?;
        Ok(Self {
            producer,
            reports,
            topic: settings.dlq_topic(),
        })
    }

    /// Sends the record to the dead-letter topic, retrying until the broker acknowledges it:
    /// only then may its offset be stored.
    async fn send_until_acknowledged(&self, record: &Record, reason: &str) -> anyhow::Result<()> {
        let partition = record.partition.to_string();
        let offset = record.offset.to_string();
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(10));
        loop {
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: HEADER_ERROR,
                    value: Some(reason),
                })
                .insert(Header {
                    key: HEADER_TOPIC,
                    value: Some(&record.topic),
                })
                .insert(Header {
                    key: HEADER_PARTITION,
                    value: Some(&partition),
                })
                .insert(Header {
                    key: HEADER_OFFSET,
                    value: Some(&offset),
                });
            let mut message = FutureRecord::<[u8], [u8]>::to(&self.topic).headers(headers);
            if let Some(key) = &record.key {
                message = message.key(key.as_slice());
            }
            if let Some(value) = &record.value {
                message = message.payload(value.as_slice());
            }
            match self.producer.send(message, Duration::from_secs(30)).await {
                Ok(_) => {
                    self.reports.answered();
                    return Ok(());
                }
                Err((err, _)) => {
                    tracing::warn!(%err, topic = %self.topic, "dead-letter write failed; retrying");
                    backoff.wait().await;
                }
            }
        }
    }

    fn flush(&self) {
        let _ = self.producer.flush(Duration::from_secs(10));
    }
}

/// Kafka errors while fetching come in bursts during a broker outage: the first is logged,
/// then at most one a few seconds with the number left out.
#[derive(Debug, Default)]
struct ErrorBurst {
    last_logged: Option<Instant>,
    left_out: u64,
}

impl ErrorBurst {
    const EVERY: Duration = Duration::from_secs(5);

    /// Logs `err` unless one was logged less than [`Self::EVERY`] ago; true when logged.
    fn seen(&mut self, err: &dyn std::fmt::Display) -> bool {
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
struct Stats {
    every: Duration,
    last: Instant,
    latencies: Latencies,
}

impl Stats {
    fn new(every: Duration) -> Self {
        Self {
            every,
            last: Instant::now(),
            latencies: Latencies::default(),
        }
    }

    fn due(&self) -> bool {
        self.last.elapsed() >= self.every
    }

    /// The counts and write latencies since the last report, which starts a new period.
    fn take(&mut self, counters: &Counters) -> Report {
        let (median, p99) = self.latencies.median_and_p99();
        self.latencies.clear();
        self.last = Instant::now();
        Report {
            consumed: counters.consumed.load(Ordering::Relaxed),
            written: counters.stored.load(Ordering::Relaxed),
            dead_lettered: counters.dead_lettered.load(Ordering::Relaxed),
            median,
            p99,
        }
    }
}

/// One progress line, waiting for the lag.
struct Report {
    consumed: u64,
    written: u64,
    dead_lettered: u64,
    median: Duration,
    p99: Duration,
}

impl Report {
    fn log(&self, lag: Option<i64>) {
        tracing::info!(
            consumed = self.consumed,
            written = self.written,
            dead_lettered = self.dead_lettered,
            lag = lag.map_or_else(|| "unknown".to_string(), |l| l.to_string()),
            write_ms_median = format!("{:.1}", self.median.as_secs_f64() * 1000.0),
            write_ms_p99 = format!("{:.1}", self.p99.as_secs_f64() * 1000.0),
            "progress"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_low_water_mark_waits_for_the_oldest_record_in_flight() {
        let mut p = PartitionProgress::default();
        for offset in 10..15 {
            p.started(offset);
        }
        assert_eq!(p.finished(12), Some(9), "10 and 11 are still in flight");
        assert_eq!(p.finished(11), None);
        assert_eq!(p.finished(10), Some(12));
        assert_eq!(p.finished(14), None, "13 is still in flight");
        assert_eq!(p.finished(13), Some(14));
    }

    #[test]
    fn the_first_record_of_a_partition_stores_nothing_below_it() {
        let mut p = PartitionProgress::default();
        p.started(0);
        p.started(1);
        assert_eq!(p.finished(1), None, "mark would be -1");
        assert_eq!(p.finished(0), Some(1));
    }

    #[test]
    fn the_mark_never_moves_backwards_after_a_re_delivery() {
        let mut p = PartitionProgress::default();
        p.started(5);
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
