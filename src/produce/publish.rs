//! Where readings go: the [`Publish`] trait the produce loop hands each new reading to, and
//! [`Kafka`], the Kafka producer behind it, which first refuses what Kafka would never take.

use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::kafka::config::{producer_config, Compression};
use crate::kafka::producer::{Delivered, PublishError, Publisher};
use crate::kafka::KafkaSettings;
use crate::model::Reading;

/// librdkafka's `message.max.bytes` when it is not set.
pub const DEFAULT_MESSAGE_MAX_BYTES: usize = 1_000_000;

/// What librdkafka adds to a record's key and value before it compares the sum with
/// `message.max.bytes`: the most a v2 record's framing takes (length, attributes, timestamp
/// and offset deltas, key and value lengths, header count; `rd_kafka_msg_max_wire_size`).
const RECORD_FRAMING_BYTES: usize = 5 + 1 + 10 + 5 + 5 + 5 + 5;

/// Why a reading was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum Undelivered {
    /// Larger than Kafka takes: no try will ever succeed, so none is made.
    #[error("{bytes} bytes, over the {max} bytes Kafka takes (message.max.bytes)")]
    TooLarge { bytes: usize, max: usize },
    /// Refused as too large by the broker (the topic's `max.message.bytes` is lower).
    #[error("{bytes} bytes, refused by the broker as too large (the topic's max.message.bytes)")]
    RefusedAsTooLarge { bytes: usize },
    #[error(transparent)]
    Kafka(#[from] PublishError),
}

/// Somewhere a reading counts as sent only once it is acknowledged.
pub trait Publish: Send + Sync + 'static {
    /// Sends one reading and waits until it is acknowledged, or until `give_up` holds a
    /// deadline that has passed (set at shutdown).
    fn publish(
        &self,
        reading: &Reading,
        give_up: watch::Receiver<Option<Instant>>,
    ) -> impl Future<Output = Result<Delivered, Undelivered>> + Send;

    /// Waits up to `timeout` for everything sent to be delivered.
    fn flush(&self, timeout: Duration) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// The readings' Kafka producer. librdkafka refuses a record over `message.max.bytes` on
/// every try, and [`Publisher::publish`] tries again until shutdown; so that size is checked
/// here first, by librdkafka's own rule, and such a reading is refused at once.
pub struct Kafka {
    publisher: Publisher,
    max_message_bytes: usize,
}

impl Kafka {
    pub fn new(settings: &KafkaSettings, compression: Compression) -> anyhow::Result<Self> {
        let config = producer_config(settings, compression);
        let max_message_bytes = match config.get("message.max.bytes") {
            Some(value) => value
                .trim()
                .parse()
                .with_context(|| format!("message.max.bytes is not a number: {value}"))?,
            None => DEFAULT_MESSAGE_MAX_BYTES,
        };
        Ok(Self {
            publisher: Publisher::new(settings, compression)?,
            max_message_bytes,
        })
    }
}

impl Kafka {
    /// Whether Kafka has the readings topic now (see [`Publisher::has_topic`]).
    pub fn has_topic(&self, timeout: Duration) -> anyhow::Result<bool> {
        self.publisher.has_topic(timeout)
    }
}

/// The size librdkafka gives the record of `reading`: its key (the city id), its value (the
/// JSON) and the framing.
pub fn record_size(reading: &Reading) -> Result<usize, serde_json::Error> {
    let value = serde_json::to_vec(reading)?;
    Ok(reading.city_id.to_string().len() + value.len() + RECORD_FRAMING_BYTES)
}

impl Publish for Kafka {
    async fn publish(
        &self,
        reading: &Reading,
        give_up: watch::Receiver<Option<Instant>>,
    ) -> Result<Delivered, Undelivered> {
        let bytes = record_size(reading).map_err(PublishError::from)?;
        if bytes > self.max_message_bytes {
            return Err(Undelivered::TooLarge {
                bytes,
                max: self.max_message_bytes,
            });
        }
        match self.publisher.publish(reading, give_up).await {
            // The broker's limit (the topic's max.message.bytes) can be below the producer's.
            Err(PublishError::TooLarge(_)) => Err(Undelivered::RefusedAsTooLarge { bytes }),
            other => Ok(other?),
        }
    }

    fn flush(&self, timeout: Duration) -> impl Future<Output = anyhow::Result<()>> + Send {
        self.publisher.flush(timeout)
    }
}
