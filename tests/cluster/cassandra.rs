//! Cassandra nodes killed under the pipeline: one (the consumer's `LOCAL_QUORUM` writes go
//! on), then two (the quorum is lost: the consumer pauses, says so once, and resumes when the
//! nodes are back). Nothing lost, nothing stored twice.

use std::time::{Duration, Instant};

use crate::{
    blocking, committed, committed_above, flowing, services, slowest_write, stored_during,
    write_durations, Restore, CITIES,
};

#[tokio::test(flavor = "multi_thread")]
async fn one_cassandra_node_killed_mid_stream_pauses_nothing_and_loses_nothing() {
    let mut pipeline = flowing().await;
    let _restore = Restore::new("cassandra", &["2"]);
    let before = blocking(|| services(&["pid", "cassandra", "2"]));
    let durations = blocking(|| write_durations(&pipeline));
    blocking(|| services(&["kill", "cassandra", "2"]));
    let moved = stored_during(&pipeline, Duration::from_secs(20)).await;
    // A pause would show as readings waiting: each one's time from fetch to stored is in the
    // consumer's histogram (buckets doubling from 0.5 ms; 4.096 s is the last under 5 s).
    let slowest = slowest_write(&durations, &blocking(|| write_durations(&pipeline)));
    eprintln!("node 2 down: {moved} readings stored in 20 s, each within {slowest} s");
    assert!(
        slowest <= 4.096,
        "a reading took up to {slowest} s to be stored with one node of three down\n{}",
        pipeline.log("consumer")
    );
    assert!(moved >= CITIES as f64, "only {moved} readings stored");
    let restarted_at = Instant::now();
    blocking(|| services(&["up", "cassandra", "2"]));
    eprintln!(
        "node 2 back after {:.1} s",
        restarted_at.elapsed().as_secs_f64()
    );
    assert_ne!(blocking(|| services(&["pid", "cassandra", "2"])), before);
    let now = blocking(|| committed(&pipeline.topic, &pipeline.group));
    committed_above(&pipeline, now + CITIES as i64, Duration::from_secs(60)).await;
    pipeline.finish().await;
    pipeline.drop_keyspace().await;
    let log = pipeline.log("consumer");
    assert!(!log.contains("Cassandra write failed"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn two_cassandra_nodes_killed_pause_the_consumer_once_and_it_resumes_when_they_are_back() {
    let mut pipeline = flowing().await;
    let _restore = Restore::new("cassandra", &["2", "3"]);
    blocking(|| {
        services(&["kill", "cassandra", "2"]);
        services(&["kill", "cassandra", "3"]);
    });
    let killed_at = Instant::now();
    // One node of three answers: no quorum, so the consumer stops storing and says so.
    while !pipeline.log("consumer").contains("Cassandra write failed") {
        assert!(
            killed_at.elapsed() < Duration::from_secs(30),
            "no write failed 30 s after two nodes of three died\n{}",
            pipeline.log("consumer")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stuck = blocking(|| committed(&pipeline.topic, &pipeline.group));
    let moved = stored_during(&pipeline, Duration::from_secs(5)).await;
    assert_eq!(moved, 0.0, "readings stored without a quorum");
    // Both back at once; `up` returns when each answers and sees the whole ring.
    blocking(|| services(&["up", "cassandra"]));
    let resumed = committed_above(&pipeline, stuck, Duration::from_secs(10)).await;
    eprintln!(
        "storing again {:.1} s after both nodes answered ({:.1} s after the kill)",
        resumed.as_secs_f64(),
        killed_at.elapsed().as_secs_f64()
    );
    pipeline.finish().await;
    pipeline.drop_keyspace().await;
    let log = pipeline.log("consumer");
    assert_eq!(log.matches("Cassandra write failed").count(), 1, "{log}");
    assert_eq!(log.matches("Cassandra answers again").count(), 1, "{log}");
}
