//! `meteo consume`: the at-least-once consumer loop ([`consumer`]) storing groups of readings
//! with durable Cassandra writes ([`DurableWriter`]); invalid records go to the dead-letter topic.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;

use crate::kafka::consumer::{self, ConsumerOptions, RecordView};
use crate::kafka::KafkaSettings;
use crate::metrics::{self, Role};
use crate::model::Reading;
use crate::shutdown::Shutdown;
use crate::store::{
    durable::DurableWriter, probe::CassandraProbe, reconnecting::ReconnectingWriter,
    CassandraSettings,
};

/// How long records in flight may take to finish once a stop is asked for.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Records fetched and not yet stored, at most (a reading takes about 1 KB): enough for a
/// backlog's groups to hold several readings of each `(city, day)` partition.
pub const MAX_IN_FLIGHT: usize = 10_000;

/// Groups stored at once: one filling while the other is written keeps Cassandra busy; more
/// would make each group smaller, its batches fewer rows.
pub const MAX_GROUPS: usize = 2;

/// `meteo consume`: the consumer loop's own options ([`ConsumerOptions`]: group, limits, when
/// to stop), where to read and where to write.
#[derive(Debug, Clone)]
pub struct ConsumeSettings {
    pub kafka: KafkaSettings,
    pub cassandra: CassandraSettings,
    pub consumer: ConsumerOptions,
    /// Write requests to Cassandra at once.
    pub concurrency: usize,
    /// Where to serve /metrics, /healthz and /readyz; none when unset.
    pub metrics_addr: Option<SocketAddr>,
}

pub async fn run(settings: ConsumeSettings, shutdown: Shutdown) -> anyhow::Result<()> {
    let kafka = settings.kafka.clone();
    let running = settings
        .metrics_addr
        .map(|addr| metrics::start(addr, Role::Consume, kafka.topic.as_str()))
        .transpose()?;
    let cassandra = settings.cassandra.clone();
    tracing::info!(
        brokers = %kafka.brokers,
        topic = %kafka.topic,
        group = %settings.consumer.group,
        cassandra = %cassandra.nodes.join(","),
        keyspace = %cassandra.keyspace,
        concurrency = settings.concurrency,
        "consumer starting"
    );
    let writer = Arc::new(DurableWriter::new(
        ReconnectingWriter::connect(&cassandra).await?,
        settings.concurrency,
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
    let options = settings.consumer;

    // Valid readings are decoded straight from Kafka's buffer and written until Cassandra
    // takes them; the rest is rejected.
    let decode = |record: &RecordView<'_>| {
        Reading::from_message(record.key, record.value).map_err(|invalid| invalid.to_string())
    };
    let store = {
        let writer = writer.clone();
        move |readings: Vec<Reading>| {
            let writer = writer.clone();
            async move { writer.write_all_until_stored(readings).await }
        }
    };
    let timed = writer.clone();
    let cassandra_down = move || writer.is_down();
    // On a runtime worker, not in block_on on the main thread: a finished write then wakes
    // the loop without a trip through the OS (measured with examples/bench_consume.rs).
    let summary = tokio::spawn(async move {
        consumer::run(
            &kafka,
            &options,
            cassandra_down,
            decode,
            store,
            shutdown.wait(),
        )
        .await
    })
    .await
    .context("the consumer loop panicked")??;
    drop(running);
    let routing = crate::store::routing::counts();
    let timings = timed.timings();
    tracing::info!(
        consumed = summary.consumed,
        written = summary.stored,
        dead_lettered = summary.dead_lettered,
        batches = routing.requests,
        batches_to_replica = routing.to_replica,
        write_requests = timings.requests,
        permit_wait_s = format!("{:.1}", timings.waiting.as_secs_f64()),
        under_way_s = format!("{:.1}", timings.under_way.as_secs_f64()),
        "consumer stopped"
    );
    Ok(())
}
