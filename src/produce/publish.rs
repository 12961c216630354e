//! Where readings go: the [`Publish`] trait the produce loop hands each new reading to,
//! implemented by the Kafka producer ([`Publisher`]).

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::kafka::producer::{Delivered, PublishError, Publisher};
use crate::model::Reading;

/// Somewhere a reading counts as sent only once it is acknowledged.
pub trait Publish: Send + Sync + 'static {
    /// Sends one reading and waits until it is acknowledged, or until `give_up` holds a
    /// deadline that has passed (set at shutdown).
    fn publish(
        &self,
        reading: &Reading,
        give_up: watch::Receiver<Option<Instant>>,
    ) -> impl Future<Output = Result<Delivered, PublishError>> + Send;

    /// Waits up to `timeout` for everything sent to be delivered.
    fn flush(&self, timeout: Duration) -> impl Future<Output = anyhow::Result<()>> + Send;
}

impl Publish for Publisher {
    fn publish(
        &self,
        reading: &Reading,
        give_up: watch::Receiver<Option<Instant>>,
    ) -> impl Future<Output = Result<Delivered, PublishError>> + Send {
        Publisher::publish(self, reading, give_up)
    }

    fn flush(&self, timeout: Duration) -> impl Future<Output = anyhow::Result<()>> + Send {
        Publisher::flush(self, timeout)
    }
}
