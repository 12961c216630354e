//! What the metrics endpoint shows of the consumer as a group member: a beat of the loop,
//! and every few seconds its partitions, its lag and whether Kafka answers. Off the loop,
//! and only while the metrics are served.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::Consumer;

use super::group::{self, GroupConsumer};
use crate::metrics;

/// How long the metadata request that tells whether Kafka answers may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(2);

/// Called on each tick of the loop; looks at the group every [`metrics::PROBE_EVERY`].
pub(super) struct Observer {
    consumer: Arc<GroupConsumer>,
    topic: String,
    next_look: Instant,
    /// A look is under way (the lag takes broker round trips): never two at once.
    looking: Arc<AtomicBool>,
}

impl Observer {
    pub(super) fn new(consumer: &Arc<GroupConsumer>, topic: &str) -> Self {
        Self {
            consumer: consumer.clone(),
            topic: topic.to_string(),
            next_look: Instant::now(),
            looking: Arc::new(AtomicBool::new(false)),
        }
    }

    pub(super) fn tick(&mut self) {
        if !metrics::enabled() {
            return;
        }
        metrics::beat();
        if Instant::now() < self.next_look || self.looking.swap(true, Ordering::AcqRel) {
            return;
        }
        self.next_look = Instant::now() + metrics::PROBE_EVERY;
        let (consumer, topic, looking) = (
            self.consumer.clone(),
            self.topic.clone(),
            self.looking.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let partitions = consumer.assignment().map_or(0, |a| a.count());
            let answers = consumer
                .fetch_metadata(Some(&topic), METADATA_TIMEOUT)
                .is_ok();
            let lag = answers.then(|| group::lag(&consumer, &topic)).flatten();
            metrics::consumer_observed(partitions, lag, answers);
            looking.store(false, Ordering::Release);
        });
    }
}
