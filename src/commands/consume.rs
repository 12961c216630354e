//! `meteo consume`: the topic into Cassandra. Every valid reading is written to `readings`
//! and `latest` (idempotent writes, retried until they succeed); every invalid record goes to
//! the dead-letter topic. At-least-once: the Kafka side stores an offset only after this
//! handler says the record is durable.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::Utc;

use crate::cli::{ConsumeArgs, GlobalArgs};
use crate::commands::shutdown_signal;
use crate::kafka::consumer::{self, ConsumerOptions, Counters, Record, SinkHealth, Verdict};
use crate::model::Reading;
use crate::store::{self, readings::ReadingWriter};

/// Longest pause between two write attempts while Cassandra does not answer.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(5);

pub async fn run(global: &GlobalArgs, args: ConsumeArgs) -> anyhow::Result<()> {
    let kafka = global.kafka();
    let cassandra = global.cassandra();
    tracing::info!(
        brokers = %kafka.brokers,
        topic = %kafka.topic,
        group = %args.group,
        cassandra = %cassandra.nodes.join(","),
        keyspace = %cassandra.keyspace,
        concurrency = args.concurrency,
        "consumer starting"
    );
    let session = store::connect_keyspace(&cassandra).await?;
    let writer = Arc::new(ReadingWriter::prepare(session).await?);
    let health = Arc::new(SinkHealth::default());
    let counters = Arc::new(Counters::default());
    let options = ConsumerOptions {
        group: args.group.clone(),
        concurrency: args.concurrency,
        max_messages: args.max_messages,
        until_idle: args.until_idle,
        drain_timeout: Duration::from_secs(10),
        stats_every: args.stats_interval,
    };

    let handler = {
        let health = health.clone();
        move |record: Record| {
            let writer = writer.clone();
            let health = health.clone();
            async move {
                match Reading::from_message(record.key.as_deref(), record.value.as_deref()) {
                    Ok(reading) => {
                        write_until_stored(&writer, &health, &reading).await;
                        Verdict::Stored
                    }
                    Err(invalid) => Verdict::Rejected(invalid.to_string()),
                }
            }
        }
    };
    let summary = tokio::spawn(async move {
        consumer::run(
            &kafka,
            &options,
            health,
            counters,
            handler,
            shutdown_signal(),
        )
        .await
    })
    .await
    .context("the consumer loop panicked")??;
    tracing::info!(
        consumed = summary.consumed,
        written = summary.stored,
        dead_lettered = summary.dead_lettered,
        "consumer stopped"
    );
    Ok(())
}

/// Writes the reading, retrying with backoff until Cassandra takes it. The writes are
/// idempotent, so a retry after a write that did land changes nothing.
async fn write_until_stored(writer: &ReadingWriter, health: &SinkHealth, reading: &Reading) {
    let mut delay = Duration::from_millis(100);
    loop {
        match writer.write(reading, Utc::now()).await {
            Ok(()) => {
                if let Some(outage) = health.mark_up() {
                    tracing::info!(
                        seconds = outage.as_secs(),
                        "Cassandra answers again; writing resumed"
                    );
                }
                return;
            }
            Err(err) => {
                if health.mark_down() {
                    tracing::warn!(
                        error = %format!("{err:#}"),
                        "Cassandra write failed; pausing the topic and retrying until it answers"
                    );
                }
                tokio::time::sleep(with_jitter(delay)).await;
                delay = (delay * 2).min(MAX_RETRY_DELAY);
            }
        }
    }
}

/// `delay` plus up to 25% more, so retrying tasks do not hit a recovering node in step.
fn with_jitter(delay: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    delay + delay.mul_f64(f64::from(nanos % 1000) / 4000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_adds_at_most_a_quarter() {
        for _ in 0..100 {
            let d = with_jitter(Duration::from_millis(400));
            assert!(d >= Duration::from_millis(400) && d <= Duration::from_millis(500));
        }
    }
}
