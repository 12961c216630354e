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
#[path = "../integration/scrape.rs"]
mod scrape;
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
    // The consumer's counters show a pause to within a sampling period, where the group's
    // committed offsets move only once a second.
    pipeline.serve_metrics(scrape::free_port(), scrape::free_port());
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

/// The consumer's /metrics as text; `None` while it does not answer. Read by hand below: the
/// independent parser (a Python process) is too slow to sample every 100 ms.
fn consumer_metrics(pipeline: &Pipeline) -> Option<String> {
    let port = pipeline
        .consumer_metrics_port()
        .expect("the consumer serves /metrics");
    scrape::get(port, "/metrics", None).map(|(_, _, text)| text)
}

/// Readings the consumer has stored, from its /metrics; `None` while it does not answer.
pub fn stored_readings(pipeline: &Pipeline) -> Option<f64> {
    consumer_metrics(pipeline)?
        .lines()
        .find_map(|line| line.strip_prefix("meteo_consume_records_total{outcome=\"stored\"} "))
        .and_then(|value| value.trim().parse().ok())
}

/// The consumer's write-duration histogram (fetch to stored), from its /metrics: each bucket's
/// upper bound (`+Inf` as infinity) and its cumulative count.
pub fn write_durations(pipeline: &Pipeline) -> Vec<(f64, f64)> {
    consumer_metrics(pipeline)
        .expect("the consumer's /metrics answers")
        .lines()
        .filter_map(|line| line.strip_prefix("meteo_consume_write_duration_seconds_bucket{le=\""))
        .filter_map(|rest| {
            let (le, count) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count.trim().parse().ok()?))
        })
        .collect()
}

/// The bound of the first bucket holding every reading written between two
/// [`write_durations`]: the slowest write's duration, from above.
pub fn slowest_write(before: &[(f64, f64)], after: &[(f64, f64)]) -> f64 {
    let written = |buckets: &[(f64, f64)], le: f64| {
        buckets
            .iter()
            .find(|(bound, _)| *bound == le)
            .map_or(0.0, |(_, count)| *count)
    };
    let total = written(after, f64::INFINITY) - written(before, f64::INFINITY);
    after
        .iter()
        .map(|(le, _)| *le)
        .find(|&le| written(after, le) - written(before, le) >= total)
        .unwrap_or(f64::INFINITY)
}

/// The readings the consumer stores over `window`, from its /metrics.
pub async fn stored_during(pipeline: &Pipeline, window: Duration) -> f64 {
    let read = || blocking(|| stored_readings(pipeline)).expect("the consumer's /metrics answers");
    let first = read();
    tokio::time::sleep(window).await;
    read() - first
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

#[test]
fn the_slowest_write_is_the_first_bucket_holding_every_new_reading() {
    let before = [(0.1, 1.0), (1.0, 2.0), (4.0, 2.0), (f64::INFINITY, 2.0)];
    let after = [(0.1, 1.0), (1.0, 4.0), (4.0, 5.0), (f64::INFINITY, 5.0)];
    assert_eq!(slowest_write(&before, &after), 4.0);
    let stuck = [(0.1, 1.0), (1.0, 4.0), (4.0, 5.0), (f64::INFINITY, 6.0)];
    assert_eq!(slowest_write(&before, &stuck), f64::INFINITY);
    assert_eq!(slowest_write(&before, &before), 0.1, "nothing written");
}
