//! A Kafka broker killed under the pipeline: the one leading the most partitions of the
//! readings topic. The producer (idempotent, `acks=all`) and the consumer carry on through
//! the new leaders; nothing lost, no record written twice, no reading stored twice.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use meteo::kafka::client_config;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::util::kafka_settings;
use crate::{blocking, committed, committed_above, flowing, services, Restore, CITIES};

/// The broker leading the most partitions of `topic`, and how many it leads. Broker ids are
/// the node numbers of `scripts/services`.
fn busiest_leader(topic: &str) -> (i32, usize) {
    let consumer: BaseConsumer = client_config(&kafka_settings(topic)).create().unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let mut led: BTreeMap<i32, usize> = BTreeMap::new();
    for partition in metadata.topics()[0].partitions() {
        *led.entry(partition.leader()).or_default() += 1;
    }
    led.into_iter().max_by_key(|(_, n)| *n).unwrap()
}

/// Records in `topic` now, or None when a partition has no leader that answers yet (the
/// killed one's partitions, until the controller fences it and elects others).
fn end_offsets(topic: &str) -> Option<i64> {
    let consumer: BaseConsumer = client_config(&kafka_settings(topic)).create().unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(5))
        .ok()?;
    let mut end = 0;
    for partition in metadata.topics()[0].partitions() {
        match consumer.fetch_watermarks(topic, partition.id(), Duration::from_secs(5)) {
            Ok((_, high)) => end += high,
            Err(err) => {
                eprintln!(
                    "partition {} (leader {}): {err}",
                    partition.id(),
                    partition.leader()
                );
                return None;
            }
        }
    }
    Some(end)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_broker_leading_most_partitions_killed_loses_and_duplicates_nothing() {
    let mut pipeline = flowing().await;
    let (broker, led) = blocking(|| busiest_leader(&pipeline.topic));
    assert!((1..=3).contains(&broker), "broker {broker}");
    let node = broker.to_string();
    let _restore = Restore::new("kafka", &[&node]);
    let published = pipeline.published();
    let stored = blocking(|| committed(&pipeline.topic, &pipeline.group));
    blocking(|| services(&["kill", "kafka", &node]));
    let killed_at = Instant::now();
    // Both sides carry on through the other two brokers: more published, more stored.
    while blocking(|| end_offsets(&pipeline.topic))
        .is_none_or(|end| end < published + CITIES as i64)
    {
        assert!(
            killed_at.elapsed() < Duration::from_secs(30),
            "nothing more published 30 s after broker {broker} died\n{}",
            pipeline.log("producer")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let publishing = killed_at.elapsed();
    let storing = committed_above(&pipeline, stored + CITIES as i64, Duration::from_secs(30)).await;
    eprintln!(
        "broker {broker} (leader of {led} partitions) down: publishing on after {:.1} s, \
         {CITIES} more stored after {:.1} s",
        publishing.as_secs_f64(),
        storing.as_secs_f64()
    );
    pipeline.assert_running();
    blocking(|| services(&["up", "kafka", &node]));
    let outcome = pipeline.finish().await;
    pipeline.drop_keyspace().await;
    // Idempotence: a batch retried to the new leader is not written twice.
    assert_eq!(outcome.republished, 0, "records written twice to the topic");
}
