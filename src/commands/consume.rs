//! `meteo consume`: the at-least-once consumer loop ([`consumer`]) with durable Cassandra
//! writes ([`DurableWriter`]) as its handler; invalid records go to the dead-letter topic.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::kafka::consumer::{self, ConsumerOptions, Record, Verdict};
use crate::metrics::{self, Role};
use crate::model::Reading;
use crate::settings::ConsumeSettings;
use crate::shutdown::Shutdown;
use crate::store::{
    durable::DurableWriter, probe::CassandraProbe, reconnecting::ReconnectingWriter,
};

/// How long records in flight may take to finish once a stop is asked for.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn run(settings: ConsumeSettings, shutdown: Shutdown) -> anyhow::Result<()> {
    let kafka = settings.kafka.clone();
    let running = settings
        .metrics_addr
        .map(|addr| metrics::start(addr, Role::Consume, &kafka.topic))
        .transpose()?;
    let cassandra = settings.cassandra.clone();
    tracing::info!(
        brokers = %kafka.brokers,
        topic = %kafka.topic,
        group = %settings.group,
        cassandra = %cassandra.nodes.join(","),
        keyspace = %cassandra.keyspace,
        concurrency = settings.concurrency,
        "consumer starting"
    );
    let writer = Arc::new(DurableWriter::new(
        ReconnectingWriter::connect(&cassandra).await?,
    ));
    // Ready only while Cassandra answers: a query of its own, as no write may be under way.
    let probe = Arc::new(CassandraProbe::new(&cassandra, None));
    let probed = writer.clone();
    metrics::probe(
        move || {
            let (probe, writer) = (probe.clone(), probed.clone());
            async move {
                probe.check().await?;
                if writer.is_down() {
                    return Err("writes are failing".to_string());
                }
                Ok(())
            }
        },
        metrics::cassandra_checked,
    );
    let options = ConsumerOptions {
        group: settings.group.clone(),
        concurrency: settings.concurrency,
        max_messages: settings.max_messages,
        until_idle: settings.until_idle,
        drain_timeout: DRAIN_TIMEOUT,
        stats_every: settings.stats_interval,
    };

    // Valid readings are written until Cassandra takes them; the rest is rejected.
    let handler = {
        let writer = writer.clone();
        move |record: Record| {
            let writer = writer.clone();
            async move {
                match Reading::from_message(record.key.as_deref(), record.value.as_deref()) {
                    Ok(reading) => {
                        writer.write_until_stored(reading).await;
                        Verdict::Stored
                    }
                    Err(invalid) => Verdict::Rejected(invalid.to_string()),
                }
            }
        }
    };
    let cassandra_down = move || writer.is_down();
    // On a runtime worker, not in block_on on the main thread: a finished write then wakes
    // the loop without a trip through the OS (measured with examples/bench_consume.rs).
    let summary = tokio::spawn(async move {
        consumer::run(&kafka, &options, cassandra_down, handler, shutdown.wait()).await
    })
    .await
    .context("the consumer loop panicked")??;
    drop(running);
    tracing::info!(
        consumed = summary.consumed,
        written = summary.stored,
        dead_lettered = summary.dead_lettered,
        "consumer stopped"
    );
    Ok(())
}
