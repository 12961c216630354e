//! The at-least-once consumer loop: every record decoded in place, stored in groups by the
//! caller, rejected ones sent to the dead-letter topic, offsets stored once settled. Knows
//! nothing of Cassandra.

mod dead_letters;
mod group;
mod observe;
mod progress;
mod storing;

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
use crate::kafka::KafkaSettings;
use dead_letters::DeadLetters;
use group::GroupConsumer;
use progress::{ErrorBurst, PartitionProgress, Stats, Ticket};
use storing::{Groups, Stored};

/// A Kafka record as the client holds it: decoded in place, copied only when rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
}

impl<'a> RecordView<'a> {
    fn of(message: &'a impl Message) -> Self {
        Self {
            topic: message.topic(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key(),
            value: message.payload(),
        }
    }
}

/// A Kafka record copied out of the client's buffer, so it can cross tasks: a rejected one on
/// its way to the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

impl Record {
    fn copied(view: &RecordView<'_>) -> Self {
        Self {
            topic: view.topic.to_string(),
            partition: view.partition,
            offset: view.offset,
            key: view.key.map(<[u8]>::to_vec),
            value: view.value.map(<[u8]>::to_vec),
        }
    }
}

/// What a run does: its group, how much at once, and when it ends.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    pub group: String,
    /// Records fetched and not yet settled, at most: what may wait to be stored.
    pub max_in_flight: usize,
    /// Groups of records being stored at once. Records that arrive while every group is busy
    /// wait, and go together as the next group as soon as one finishes.
    pub max_groups: usize,
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

/// Runs the consumer until `shutdown` resolves or a run limit is reached. `decode` turns each
/// record, still in Kafka's buffer, into an item, or rejects it with a reason (it goes to the
/// dead-letter topic); `store` makes a group of items durable, and returns once all are.
///
/// - Groups: a record is stored at once when fewer than `max_groups` groups are being
///   stored; otherwise it waits, and everything waiting goes as one group when a group
///   finishes. Nothing waits for a group to fill: under a light load every record is a group.
/// - Offsets: `enable.auto.offset.store=false`; the loop stores the contiguous low-water mark
///   per partition (groups finish out of order), and librdkafka's auto-commit sends what was
///   stored every second, on revocation and at close.
/// - Backpressure: while `sink_down()` says the store is down, the assigned partitions are
///   paused and the loop keeps polling, so the group keeps this member; they resume when the
///   store answers again.
/// - Shutdown: stop fetching, let what was fetched finish (bounded), commit, leave the group.
pub async fn run<T, D, S, F>(
    settings: &KafkaSettings,
    options: &ConsumerOptions,
    sink_down: impl Fn() -> bool,
    decode: D,
    store: S,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<Summary>
where
    T: Send + 'static,
    D: Fn(&RecordView<'_>) -> Result<T, String>,
    S: Fn(Vec<T>) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    // One outage report for the consumer and the dead-letter producer.
    let reports = KafkaContext::default();
    let consumer = group::subscribe(settings, &options.group, reports.clone())?;
    let mut ledger = Ledger {
        consumer: consumer.clone(),
        topic: settings.topic.to_string(),
        dead_letters: DeadLetters::new(settings, reports.clone())?,
        sending: JoinSet::new(),
        partitions: HashMap::new(),
        summary: Summary::default(),
        stats: Stats::new(options.stats_every),
    };
    let mut groups = Groups::new(options.max_groups);
    let mut last_record_at = Instant::now();
    let mut paused = false;
    let mut kafka_errors = ErrorBurst::default();
    let mut observer = observe::Observer::new(&consumer, settings.topic.as_str());
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);

    let reason = loop {
        let busy = groups.records() + ledger.sending.len();
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
        let may_fetch = busy < options.max_in_flight
            && options
                .max_messages
                .is_none_or(|max| ledger.summary.consumed < max);
        tokio::select! {
            _ = &mut shutdown => break "asked to stop",
            Some(done) = groups.storing.join_next(), if !groups.storing.is_empty() => {
                let stored = done.context("a store task panicked")?;
                ledger.stored(&stored);
                groups.finished(&stored);
                groups.start_waiting(&store);
            }
            Some(done) = ledger.sending.join_next(), if !ledger.sending.is_empty() => {
                let ticket = done.context("a dead-letter task panicked")?;
                ledger.dead_lettered(ticket);
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
                last_record_at = Instant::now();
                let record = RecordView::of(&message);
                let ticket = ledger.fetched(&record);
                match decode(&record) {
                    Ok(item) => {
                        groups.waiting(ticket, item);
                        groups.start_waiting(&store);
                    }
                    Err(reason) => ledger.reject(ticket, &record, reason),
                }
            }
            _ = tick.tick() => {
                // Idle time counts only while this member holds partitions (a dead member
                // holds its partitions until its session times out).
                if group::unassigned(&consumer) {
                    last_record_at = Instant::now();
                }
                paused = group::follow_sink(&consumer, paused, sink_down());
                ledger.report_if_due(settings.topic.as_str());
                observer.tick();
            }
        }
    };
    tracing::info!(reason, "consumer stopping");

    // What does not finish in time is not committed and is read again by the next run.
    if tokio::time::timeout(
        options.drain_timeout,
        drain(&mut groups, &store, &mut ledger),
    )
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

/// Stores what is still waiting, lets the groups being stored finish, then the dead letters on
/// their way, settling each.
async fn drain<T, F: Future<Output = ()> + Send + 'static>(
    groups: &mut Groups<T>,
    store: &impl Fn(Vec<T>) -> F,
    ledger: &mut Ledger,
) {
    groups.start_anyway(store);
    while let Some(done) = groups.storing.join_next().await {
        if let Ok(stored) = done {
            ledger.stored(&stored);
        }
    }
    while let Some(done) = ledger.sending.join_next().await {
        if let Ok(ticket) = done {
            ledger.dead_lettered(ticket);
        }
    }
}

/// What became of the records fetched: the counts, each partition's offsets, and the dead
/// letters on their way.
struct Ledger {
    consumer: Arc<GroupConsumer>,
    /// The topic read (one per consumer).
    topic: String,
    dead_letters: DeadLetters,
    /// Dead letters not yet acknowledged.
    sending: JoinSet<Ticket>,
    partitions: HashMap<i32, PartitionProgress>,
    summary: Summary,
    stats: Stats,
}

impl Ledger {
    fn fetched(&mut self, record: &RecordView<'_>) -> Ticket {
        self.summary.consumed += 1;
        let progress = self.partitions.entry(record.partition).or_default();
        Ticket {
            partition: record.partition,
            seq: progress.started(record.offset),
        }
    }

    /// Sends a rejected record to the dead-letter topic; settled once that acknowledges it.
    fn reject(&mut self, ticket: Ticket, record: &RecordView<'_>, reason: String) {
        tracing::warn!(
            partition = record.partition,
            offset = record.offset,
            %reason,
            "record rejected; sending it to the dead-letter topic"
        );
        let dead_letters = self.dead_letters.clone();
        let record = Record::copied(record);
        self.sending.spawn(async move {
            dead_letters.send_until_acknowledged(&record, &reason).await;
            ticket
        });
    }

    fn dead_lettered(&mut self, ticket: Ticket) {
        self.summary.dead_lettered += 1;
        crate::metrics::record_dead_lettered();
        if let Some(mark) = self.finished(ticket) {
            self.store_offset(ticket.partition, mark);
        }
    }

    /// Settles a group whose records are durable: counted, and each partition's low-water
    /// mark stored once when it moved.
    fn stored(&mut self, stored: &Stored) {
        self.summary.stored += stored.tickets.len() as u64;
        self.stats.stored_in(stored.took, stored.tickets.len());
        crate::metrics::record_stored(stored.tickets.len(), stored.took);
        // The partitions of a group are few: the last mark of each, in order of appearance.
        let mut marks: Vec<(i32, i64)> = Vec::new();
        for &ticket in &stored.tickets {
            if let Some(mark) = self.finished(ticket) {
                match marks.iter_mut().find(|(p, _)| *p == ticket.partition) {
                    Some(entry) => entry.1 = mark,
                    None => marks.push((ticket.partition, mark)),
                }
            }
        }
        for (partition, mark) in marks {
            self.store_offset(partition, mark);
        }
    }

    fn finished(&mut self, ticket: Ticket) -> Option<i64> {
        self.partitions
            .get_mut(&ticket.partition)
            .and_then(|p| p.finished(ticket.seq))
    }

    /// librdkafka commits mark + 1, the next record to read. Storing fails for a partition no
    /// longer assigned; its next owner reads the rest again, which is harmless.
    fn store_offset(&self, partition: i32, mark: i64) {
        if let Err(err) = self.consumer.store_offset(&self.topic, partition, mark) {
            tracing::debug!(%err, partition, "offset not stored");
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
