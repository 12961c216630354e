//! Cluster fault runs: the pipeline on three Kafka brokers and three Cassandra nodes
//! (`SERVICES_NODES=3 scripts/services`) while nodes die under it. They drive
//! `scripts/services` with this process's settings (ports, folder, node count), so they need
//! that cluster and run one at a time, after the other tests (see scripts/test). Each run
//! migrates with replication factor 3 on both sides, proves its fault happened while data
//! flowed, and ends with the end-to-end check ([`Pipeline::finish`]).

#[path = "../integration/fake_owm.rs"]
mod fake_owm;
#[path = "../integration/harness.rs"]
mod harness;
#[path = "../integration/util.rs"]
mod util;

mod cassandra;
mod consumers;
mod dash;
mod kafka;

use std::time::{Duration, Instant};

use rdkafka::Offset;

use crate::harness::Pipeline;
use crate::util::repo;

/// Cities per run: a new observation about every 1/3 s (one per city every `CADENCE` s).
pub const CITIES: usize = 12;

/// Rows arrive this soon once everything runs (process start, group join, first sweep).
const FLOWING: Duration = Duration::from_secs(60);

/// `meteo migrate` options: every row and every record on all three nodes.
pub const REPLICATED: [&str; 4] = [
    "--replication",
    "{'class': 'NetworkTopologyStrategy', 'dc1': 3}",
    "--topic-replication-factor",
    "3",
];

pub use crate::util::services;

/// Fails at once, naming the fix, unless the services are the three-node cluster; then waits
/// until every node of it answers (a run before may have left one starting).
fn whole_cluster() {
    assert_eq!(
        std::env::var("SERVICES_NODES").as_deref(),
        Ok("3"),
        "the cluster tests run against SERVICES_NODES=3 scripts/services (see scripts/test)"
    );
    for list in ["KAFKA_BROKERS", "CASSANDRA_NODES"] {
        let nodes = std::env::var(list).unwrap_or_default();
        assert_eq!(nodes.split(',').count(), 3, "{list}={nodes}: three nodes");
    }
    services(&["wait"]);
}

/// Brings nodes back up when dropped, so a run that fails half-way through its fault does
/// not leave the next runs without them (`up` on a running node only checks it).
pub struct Restore {
    service: &'static str,
    nodes: Vec<String>,
}

impl Restore {
    pub fn new(service: &'static str, nodes: &[&str]) -> Restore {
        let nodes = nodes.iter().map(|n| n.to_string()).collect();
        Restore { service, nodes }
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        for node in &self.nodes {
            let _ = std::process::Command::new(repo().join("scripts/services"))
                .args(["up", self.service, node])
                .output();
        }
    }
}

/// A pipeline on the replicated keyspace and topic, with the consumer and the producer
/// running and rows stored.
pub async fn flowing() -> Pipeline {
    blocking(whole_cluster);
    let mut pipeline = Pipeline::migrated_with(CITIES, &REPLICATED);
    pipeline.start_consumer();
    pipeline.start_producer();
    pipeline.wait_for_rows_above(CITIES as i64, FLOWING).await;
    pipeline
}

/// Runs a blocking step (sleeps, scripts/services, Kafka admin calls) without stalling the
/// runtime.
pub fn blocking<T>(step: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(step)
}

/// The offsets the group committed, summed over the topic's partitions: they move only once
/// the readings before them are stored, and never wait on Cassandra to be read.
pub fn committed(topic: &str, group: &str) -> i64 {
    let (_, _, committed) = crate::harness::committed_offsets(topic, group);
    committed
        .elements()
        .iter()
        .map(|e| match e.offset() {
            Offset::Offset(o) => o,
            _ => 0,
        })
        .sum()
}

/// Watches the group's committed offsets for `window`: the longest time they did not move,
/// and how far they moved in all.
pub async fn watch_progress(pipeline: &Pipeline, window: Duration) -> (Duration, i64) {
    let first = blocking(|| committed(&pipeline.topic, &pipeline.group));
    let (mut last, mut moved_at) = (first, Instant::now());
    let (start, mut longest) = (Instant::now(), Duration::ZERO);
    while start.elapsed() < window {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = blocking(|| committed(&pipeline.topic, &pipeline.group));
        if now > last {
            (last, moved_at) = (now, Instant::now());
        }
        longest = longest.max(moved_at.elapsed());
    }
    (longest, last - first)
}

/// Waits until the group's committed offsets pass `above`; how long that took.
pub async fn committed_above(pipeline: &Pipeline, above: i64, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let now = blocking(|| committed(&pipeline.topic, &pipeline.group));
        if now > above {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "the group's offsets still at {now} after {limit:?}\n--- consumer\n{}",
            pipeline.log("consumer")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
