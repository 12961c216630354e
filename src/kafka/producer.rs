//! The readings producer: one idempotent `acks=all` Kafka producer (key = city id, value =
//! the schema-1 JSON), and the start-up check that the topic exists.

use std::time::Duration;

use anyhow::{bail, Context};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use tokio::sync::watch;
use tokio::time::Instant;

use super::config::{producer_config, Compression};
use super::reports::KafkaContext;
use super::topic_partitions;
use super::KafkaSettings;
use crate::backoff::Backoff;
use crate::model::Reading;

/// Pauses before sending a failed reading again: from 500 ms, doubling up to 30 s, with the
/// common jitter so readings that failed together are not resent in step.
const RESEND: Backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));

/// How long `send` waits for room in librdkafka's queue before counting a failure.
const QUEUE_TIMEOUT: Duration = Duration::from_secs(5);

/// Fails, naming the topic and what to do, unless the readings topic exists. Blocks up to
/// `timeout` on the brokers.
pub fn check_topic(settings: &KafkaSettings, timeout: Duration) -> anyhow::Result<i32> {
    let topics = topic_partitions(settings, timeout)?;
    match topics.get(settings.topic.as_str()) {
        Some(&partitions) if partitions > 0 => Ok(partitions),
        _ => bail!(
            "topic {} does not exist on Kafka at {}: run `meteo migrate` first (it creates the topics)",
            settings.topic,
            settings.brokers
        ),
    }
}

/// Why a reading was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("the reading could not be serialised: {0}")]
    Serialise(#[from] serde_json::Error),
    #[error("not acknowledged before the give-up deadline (last error: {last_error})")]
    GaveUp { last_error: String },
    /// Refused as too large (by librdkafka or by the broker, under the topic's
    /// `max.message.bytes`): permanent, so it is not sent again.
    #[error("refused as too large: {0}")]
    TooLarge(String),
}

/// Where a reading landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
    /// Failed attempts before this one.
    pub retries: u32,
}

/// The readings producer. Share it through `Arc`.
///
/// A reading counts as sent only when its delivery report says so; a failed delivery stays
/// in memory and is sent again until it is acknowledged or the caller's give-up deadline
/// passes. The caller bounds how many readings wait here by how many it hands over.
pub struct Publisher {
    producer: FutureProducer<KafkaContext>,
    context: KafkaContext,
    topic: String,
    brokers: String,
}

impl Publisher {
    pub fn new(settings: &KafkaSettings, compression: Compression) -> anyhow::Result<Self> {
        let context = KafkaContext::default();
        let producer = producer_config(settings, compression)
            .create_with_context(context.clone())
            .map_err(super::config::without_values)
            .with_context(|| format!("creating a Kafka producer for {}", settings.brokers))?;
        Ok(Self {
            producer,
            context,
            topic: settings.topic.to_string(),
            brokers: settings.brokers.to_string(),
        })
    }

    /// Sends one reading and waits for its delivery report. A failure is logged and the
    /// reading sent again after a pause, until it is acknowledged or `give_up` holds a
    /// deadline that has passed (set at shutdown).
    pub async fn publish(
        &self,
        reading: &Reading,
        mut give_up: watch::Receiver<Option<Instant>>,
    ) -> Result<Delivered, PublishError> {
        let key = reading.city_id.to_string();
        let value = serde_json::to_vec(reading)?;
        let mut backoff = RESEND;
        loop {
            let record = FutureRecord::to(&self.topic).key(&key).payload(&value);
            let error = match self
                .producer
                .send(record, Timeout::After(QUEUE_TIMEOUT))
                .await
            {
                Ok(delivery) => {
                    self.context.answered();
                    return Ok(Delivered {
                        partition: delivery.partition,
                        offset: delivery.offset,
                        retries: backoff.attempts(),
                    });
                }
                Err((error, _message)) => {
                    if error.rdkafka_error_code() == Some(RDKafkaErrorCode::MessageSizeTooLarge) {
                        return Err(PublishError::TooLarge(error.to_string()));
                    }
                    error.to_string()
                }
            };
            let pause = backoff.next_delay();
            let retries = backoff.attempts();
            let deadline = *give_up.borrow();
            if deadline.is_some_and(|d| Instant::now() + pause > d) {
                return Err(PublishError::GaveUp { last_error: error });
            }
            tracing::warn!(
                city_id = reading.city_id,
                observed_at = %reading.observed_at,
                retries,
                %error,
                brokers = %self.brokers,
                "delivery failed; the reading stays queued and is sent again"
            );
            // Sleep, but wake when a give-up deadline is set meanwhile.
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = give_up.changed() => {}
            }
        }
    }

    /// Whether Kafka, asked now for its metadata, has the readings topic; an error when it does
    /// not answer within `timeout`. Blocks: call it off the runtime's workers.
    pub fn has_topic(&self, timeout: Duration) -> anyhow::Result<bool> {
        let metadata = self
            .producer
            .client()
            .fetch_metadata(None, timeout)
            .with_context(|| format!("Kafka at {} did not answer", self.brokers))?;
        Ok(metadata
            .topics()
            .iter()
            .any(|t| t.name() == self.topic && !t.partitions().is_empty()))
    }

    /// Waits up to `timeout` for librdkafka to deliver everything it holds.
    pub async fn flush(&self, timeout: Duration) -> anyhow::Result<()> {
        tokio::task::block_in_place(|| self.producer.flush(Timeout::After(timeout)))
            .with_context(|| format!("flushing the producer to Kafka at {}", self.brokers))
    }
}
