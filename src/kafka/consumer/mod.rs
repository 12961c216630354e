//! The at-least-once consumer loop: every record to the caller's handler, rejected ones to the
//! dead-letter topic, offsets stored once settled. Knows nothing of Cassandra.

mod dead_letters;
mod group;
mod observe;
mod progress;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use tokio::task::JoinSet;

pub use dead_letters::{HEADER_ERROR, HEADER_OFFSET, HEADER_PARTITION, HEADER_TOPIC};

use super::reports::KafkaContext;
use crate::settings::KafkaSettings;
use dead_letters::DeadLetters;
use group::GroupConsumer;
use progress::{ErrorBurst, PartitionProgress, Stats};

/// A Kafka record copied out of the client's buffer at once, so it can cross tasks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

impl Record {
    fn copied(message: &impl Message) -> Self {
        Self {
            topic: message.topic().to_string(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            value: message.payload().map(<[u8]>::to_vec),
        }
    }
}

/// What the handler did with a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Durably stored.
    Stored,
    /// Not valid; the reason goes into the dead-letter header `meteo.error`.
    Rejected(String),
}

/// What a run does: its group, how many records at once, and when it ends.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    pub group: String,
    /// Records handled at once.
    pub concurrency: usize,
    /// End after this many records are settled (stored or dead-lettered).
    pub max_messages: Option<u64>,
    /// End when no record arrived for this long and nothing is in flight (time without
    /// partitions does not count: the member is waiting for the group).
    pub until_idle: Option<Duration>,
    /// How long records in flight may take to finish at shutdown; what has not finished by
    /// then is not committed, and the next run reads it again.
    pub drain_timeout: Duration,
    /// How often to log a progress line.
    pub stats_every: Duration,
}

/// What a run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub consumed: u64,
    pub stored: u64,
    pub dead_lettered: u64,
}

impl Summary {
    /// Records stored or dead-lettered: their offsets may be committed.
    fn settled(&self) -> u64 {
        self.stored + self.dead_lettered
    }
}

/// Runs the consumer until `shutdown` resolves or a run limit is reached; `handler` makes
/// each record durable or rejects it.
///
/// - Offsets: `enable.auto.offset.store=false`; the loop stores the contiguous low-water mark
///   per partition (records are handled concurrently and finish out of order), and
///   librdkafka's auto-commit sends what was stored every second, on revocation and at close.
/// - Backpressure: while `sink_down()` says the handler's sink is down, the assigned
///   partitions are paused and the loop keeps polling, so the group keeps this member; they
///   resume when the sink answers again.
/// - Shutdown: stop fetching, let in-flight records finish (bounded), commit, leave the group.
pub async fn run<H, F>(
    settings: &KafkaSettings,
    options: &ConsumerOptions,
    sink_down: impl Fn() -> bool,
    handler: H,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<Summary>
where
    H: Fn(Record) -> F,
    F: Future<Output = Verdict> + Send + 'static,
{
    // One outage report for the consumer and the dead-letter producer.
    let reports = KafkaContext::default();
    let consumer = group::subscribe(settings, &options.group, reports.clone())?;
    let mut ledger = Ledger {
        consumer: consumer.clone(),
        dead_letters: DeadLetters::new(settings, reports.clone())?,
        sending: JoinSet::new(),
        partitions: HashMap::new(),
        summary: Summary::default(),
        stats: Stats::new(options.stats_every),
    };
    let mut in_flight: JoinSet<(Record, Outcome)> = JoinSet::new();
    let mut last_record_at = Instant::now();
    let mut paused = false;
    let mut kafka_errors = ErrorBurst::default();
    let mut observer = observe::Observer::new(&consumer, &settings.topic);
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);

    let reason = loop {
        let busy = in_flight.len() + ledger.sending.len();
        let limit_reached = options
            .max_messages
            .is_some_and(|max| ledger.summary.settled() >= max);
        if limit_reached && busy == 0 {
            break "the message limit was reached";
        }
        if let Some(idle) = options.until_idle {
            if busy == 0 && last_record_at.elapsed() >= idle {
                break "the topic was idle";
            }
        }
        let may_fetch = busy < options.concurrency
            && options
                .max_messages
                .is_none_or(|max| ledger.summary.consumed < max);
        tokio::select! {
            _ = &mut shutdown => break "asked to stop",
            Some(done) = in_flight.join_next(), if !in_flight.is_empty() => {
                let (record, outcome) = done.context("a record handler panicked")?;
                ledger.settle(record, outcome);
            }
            Some(done) = ledger.sending.join_next(), if !ledger.sending.is_empty() => {
                let record = done.context("a dead-letter task panicked")?;
                ledger.settle(record, Outcome::DeadLettered);
            }
            message = consumer.recv(), if may_fetch || paused => {
                let record = match message {
                    Ok(message) => Record::copied(&message),
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
                last_record_at = Instant::now();
                ledger.fetched(&record);
                let work = handler(record.clone());
                in_flight.spawn(async move {
                    let start = Instant::now();
                    let outcome = match work.await {
                        Verdict::Stored => Outcome::Stored(start.elapsed()),
                        Verdict::Rejected(reason) => Outcome::Rejected(reason),
                    };
                    (record, outcome)
                });
            }
            _ = tick.tick() => {
                // Idle time counts only while this member holds partitions (a dead member
                // holds its partitions until its session times out).
                if group::unassigned(&consumer) {
                    last_record_at = Instant::now();
                }
                paused = group::follow_sink(&consumer, paused, sink_down());
                ledger.report_if_due(&settings.topic);
                observer.tick();
            }
        }
    };
    tracing::info!(reason, "consumer stopping");

    // What does not finish in time is not committed and is read again by the next run.
    if tokio::time::timeout(options.drain_timeout, drain(&mut in_flight, &mut ledger))
        .await
        .is_err()
    {
        tracing::warn!(
            "in-flight records did not finish within {:?}; they will be read again",
            options.drain_timeout
        );
    }
    group::commit_before_leaving(&consumer);
    ledger.dead_letters.flush();
    Ok(ledger.summary)
}

/// Lets the records in flight finish, then the dead letters on their way, settling each.
async fn drain(in_flight: &mut JoinSet<(Record, Outcome)>, ledger: &mut Ledger) {
    while let Some(done) = in_flight.join_next().await {
        if let Ok((record, outcome)) = done {
            ledger.settle(record, outcome);
        }
    }
    while let Some(done) = ledger.sending.join_next().await {
        if let Ok(record) = done {
            ledger.settle(record, Outcome::DeadLettered);
        }
    }
}

/// Where a record stands once its handler is done.
#[derive(Debug)]
enum Outcome {
    /// The handler made it durable, this long after it was fetched.
    Stored(Duration),
    /// The handler rejected it for this reason; it goes to the dead-letter topic.
    Rejected(String),
    /// The dead-letter topic acknowledged it.
    DeadLettered,
}

/// What became of the records fetched: the counts, each partition's offsets, and the dead
/// letters on their way.
struct Ledger {
    consumer: Arc<GroupConsumer>,
    dead_letters: DeadLetters,
    /// Dead letters not yet acknowledged.
    sending: JoinSet<Record>,
    partitions: HashMap<i32, PartitionProgress>,
    summary: Summary,
    stats: Stats,
}

impl Ledger {
    fn fetched(&mut self, record: &Record) {
        self.summary.consumed += 1;
        self.partitions
            .entry(record.partition)
            .or_default()
            .started(record.offset);
    }

    /// Settles a record whose handler is done, in the loop and in the drain alike. A stored
    /// or dead-lettered record is counted and its partition's low-water mark stored when it
    /// moved; a rejected one is sent to the dead-letter topic, and settled again once that
    /// acknowledges it.
    fn settle(&mut self, record: Record, outcome: Outcome) {
        match outcome {
            Outcome::Stored(took) => {
                self.summary.stored += 1;
                self.stats.stored_in(took);
                crate::metrics::record_stored(took);
            }
            Outcome::Rejected(reason) => {
                tracing::warn!(
                    partition = record.partition,
                    offset = record.offset,
                    %reason,
                    "record rejected; sending it to the dead-letter topic"
                );
                let dead_letters = self.dead_letters.clone();
                self.sending.spawn(async move {
                    dead_letters.send_until_acknowledged(&record, &reason).await;
                    record
                });
                return;
            }
            Outcome::DeadLettered => {
                self.summary.dead_lettered += 1;
                crate::metrics::record_dead_lettered();
            }
        }
        let Some(mark) = self
            .partitions
            .entry(record.partition)
            .or_default()
            .finished(record.offset)
        else {
            return;
        };
        // librdkafka commits mark + 1, the next record to read. Storing fails for a partition
        // no longer assigned; its next owner reads the rest again, which is harmless.
        if let Err(err) = self
            .consumer
            .store_offset(&record.topic, record.partition, mark)
        {
            tracing::debug!(%err, partition = record.partition, "offset not stored");
        }
    }

    /// Logs a progress line when one is due. The lag takes a broker round trip per
    /// partition, each queued behind the fetch in flight (up to fetch.wait.max.ms): seconds
    /// under load. Asked on a blocking thread, so the loop keeps writing meanwhile.
    fn report_if_due(&mut self, topic: &str) {
        if !self.stats.due() {
            return;
        }
        let report = self.stats.take(&self.summary);
        let (consumer, topic) = (self.consumer.clone(), topic.to_string());
        tokio::task::spawn_blocking(move || report.log(group::lag(&consumer, &topic)));
    }
}
