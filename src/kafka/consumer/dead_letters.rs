//! The dead-letter producer: a rejected record's key and value, unchanged, to `<topic>.dlq`
//! with `meteo.*` headers saying why and where it came from.

use std::time::Duration;

use anyhow::Context as _;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use super::Record;
use crate::backoff::Backoff;
use crate::kafka::config::dead_letter_config;
use crate::kafka::reports::KafkaContext;
use crate::kafka::KafkaSettings;

/// Dead-letter headers (docs/design.md).
pub const HEADER_ERROR: &str = "meteo.error";
pub const HEADER_TOPIC: &str = "meteo.topic";
pub const HEADER_PARTITION: &str = "meteo.partition";
pub const HEADER_OFFSET: &str = "meteo.offset";

/// Sends rejected records to the dead-letter topic. Cheap to clone (one producer).
#[derive(Clone)]
pub(super) struct DeadLetters {
    producer: FutureProducer<KafkaContext>,
    reports: KafkaContext,
    topic: String,
}

impl DeadLetters {
    /// `reports` is shared with the consumer, so a broker outage is reported once.
    pub(super) fn new(settings: &KafkaSettings, reports: KafkaContext) -> anyhow::Result<Self> {
        let producer = dead_letter_config(settings)
            .create_with_context(reports.clone())
            .map_err(crate::kafka::config::without_values)
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
    pub(super) async fn send_until_acknowledged(&self, record: &Record, reason: &str) {
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
                    return;
                }
                Err((err, _)) => {
                    tracing::warn!(%err, topic = %self.topic, "dead-letter write failed; retrying");
                    backoff.wait().await;
                }
            }
        }
    }

    /// Waits a little for what librdkafka still holds, at shutdown.
    pub(super) fn flush(&self) {
        let _ = self.producer.flush(Duration::from_secs(10));
    }
}
