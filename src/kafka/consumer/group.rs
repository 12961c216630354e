//! The consumer as a group member: creating and subscribing it, its client context (rebalances,
//! commits), pausing its partitions, and its lag.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::kafka::config::consumer_config;
use crate::kafka::reports::KafkaContext;
use crate::kafka::KafkaSettings;
use crate::kafka::{topic_partitions, CONNECT_TIMEOUT};

/// The consumer the loop reads from; shared with the progress report, which asks the broker
/// for the lag off the loop.
pub(super) type GroupConsumer = StreamConsumer<GroupContext>;

/// Creates the consumer in `group` and subscribes it to the readings topic, once both the
/// topic and its dead-letter topic are known to exist (a missing one means migrate was not
/// run).
pub(super) fn subscribe(
    settings: &KafkaSettings,
    group: &str,
    reports: KafkaContext,
) -> anyhow::Result<Arc<GroupConsumer>> {
    let consumer: Arc<GroupConsumer> = consumer_config(settings, group)
        .create_with_context(GroupContext(reports))
        .map_err(crate::kafka::config::without_values)
        .map(Arc::new)
        .with_context(|| format!("creating a Kafka consumer for {}", settings.brokers))?;
    let topics = tokio::task::block_in_place(|| topic_partitions(settings, CONNECT_TIMEOUT))?;
    for topic in [settings.topic.to_string(), settings.dlq_topic()] {
        if !topics.contains_key(&topic) {
            bail!(
                "topic {topic} does not exist on Kafka at {}; run `meteo migrate` first",
                settings.brokers
            );
        }
    }
    consumer
        .subscribe(&[settings.topic.as_str()])
        .with_context(|| format!("subscribing to {}", settings.topic))?;
    Ok(consumer)
}

/// Logs group membership changes and commits stored offsets before partitions go away;
/// librdkafka's reports go through [`KafkaContext`].
pub(super) struct GroupContext(KafkaContext);

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
                crate::metrics::partitions_held(0);
                // Synchronous, so the next owner starts where this one stopped.
                if let Err(err) = consumer.commit_consumer_state(CommitMode::Sync) {
                    tracing::debug!(%err, "nothing committed on revocation");
                }
            }
            Rebalance::Assign(partitions) => {
                tracing::info!(partitions = %describe(partitions), "partitions assigned");
                // Cities of these partitions may have moved country under another consumer.
                crate::assignment::moved();
                // Ready when the log says so, not at the next periodic look.
                crate::metrics::partitions_held(partitions.count());
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

/// Pauses fetching while the sink is down and resumes it once it answers; the consumer keeps
/// polling meanwhile, so the group keeps this member and nothing new piles up in memory.
/// Returns whether the partitions are paused now.
pub(super) fn follow_sink(consumer: &GroupConsumer, paused: bool, sink_down: bool) -> bool {
    if sink_down == paused {
        return paused;
    }
    let Ok(assignment) = consumer.assignment() else {
        return paused;
    };
    let result = if sink_down {
        consumer.pause(&assignment)
    } else {
        consumer.resume(&assignment)
    };
    match result {
        Ok(()) => {
            let what = if sink_down {
                "paused fetching until the store answers"
            } else {
                "resumed fetching"
            };
            tracing::info!(partitions = %describe(&assignment), "{what}");
            sink_down
        }
        Err(err) => {
            tracing::warn!(%err, "could not pause or resume partitions");
            paused
        }
    }
}

/// Whether this member holds no partition (yet): a new member waits for the group to
/// rebalance first.
pub(super) fn unassigned(consumer: &GroupConsumer) -> bool {
    consumer.assignment().map_or(true, |a| a.count() == 0)
}

/// Messages not yet consumed by this member, over its assigned partitions. Takes a broker
/// round trip per partition: call it off the loop.
pub(super) fn lag(consumer: &GroupConsumer, topic: &str) -> Option<i64> {
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

/// Commits what was stored, synchronously, before the consumer leaves the group.
pub(super) fn commit_before_leaving(consumer: &GroupConsumer) {
    if let Err(err) =
        tokio::task::block_in_place(|| consumer.commit_consumer_state(CommitMode::Sync))
    {
        tracing::debug!(%err, "final commit");
    }
}
