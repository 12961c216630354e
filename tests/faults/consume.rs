//! `meteo consume` while Cassandra is stopped or frozen mid-stream: it waits, keeps its group
//! membership, and stores every reading once Cassandra is back.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::util::{
    count_readings, drop_keyspace, eventually, message, meteo, migrated, produce, reading, session,
    unique, Background,
};

pub use crate::util::services;

/// Produces readings at about `per_second` in the background until stopped; counts them.
struct Stream {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Stream {
    fn start(topic: &str, per_second: usize) -> Stream {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        let topic = topic.to_string();
        let task = {
            let (stop, sent) = (stop.clone(), sent.clone());
            tokio::spawn(async move {
                let mut second = 0_i64;
                while !stop.load(Ordering::SeqCst) {
                    // Distinct (city, minute) pairs: one row each.
                    let batch: Vec<_> = (0..per_second as i64)
                        .map(|i| message(&reading(1 + i, second)))
                        .collect();
                    produce(&topic, &batch).await;
                    sent.fetch_add(batch.len(), Ordering::SeqCst);
                    second += 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            })
        };
        Stream { stop, sent, task }
    }

    async fn finish(self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        self.task.await.unwrap();
        self.sent.load(Ordering::SeqCst)
    }
}

fn consumer(keyspace: &str, topic: &str) -> Background {
    let mut cmd = meteo();
    cmd.args(["--keyspace", keyspace, "--topic", topic, "consume"])
        .args(["--group", &unique("g"), "--stats-interval", "5s"]);
    Background::start(cmd)
}

/// The consumer writes again this soon after Cassandra answers (issue 13: it once took two
/// minutes after a clean stop).
const RESUMED_WITHIN: Duration = Duration::from_secs(10);

/// Both fault runs: start a stream and a consumer, apply `fault` once rows flow, and check
/// that the consumer writes again within [`RESUMED_WITHIN`] of Cassandra answering, and that
/// every reading ends up stored with the consumer alive and still in its group.
async fn survives(fault: impl FnOnce()) {
    let (keyspace, topic) = migrated(&[]);
    let mut consumer = consumer(&keyspace, &topic);
    let stream = Stream::start(&topic, 20);
    {
        let session = session(Some(&keyspace)).await;
        eventually(Duration::from_secs(60), "rows before the fault", || {
            let session = session.clone();
            async move { count_readings(&session).await > 40 }
        })
        .await;
    }
    // The fault ends once Cassandra answers again (`scripts/services up` waits for that).
    tokio::task::block_in_place(fault);
    {
        let answered_at = std::time::Instant::now();
        let session = session(Some(&keyspace)).await;
        let before = count_readings(&session).await;
        eventually(
            RESUMED_WITHIN,
            "the consumer to write again after Cassandra answers",
            || {
                let session = session.clone();
                async move { count_readings(&session).await > before }
            },
        )
        .await;
        eprintln!(
            "writing again {:.1} s after Cassandra answered",
            answered_at.elapsed().as_secs_f64()
        );
    }
    // Readings keep arriving after the fault too.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let sent = stream.finish().await;
    let session = session(Some(&keyspace)).await;
    eventually(
        Duration::from_secs(120),
        "every reading after the fault",
        || {
            let session = session.clone();
            async move { count_readings(&session).await == sent as i64 }
        },
    )
    .await;
    assert!(
        consumer.is_running(),
        "the consumer died:\n{}",
        consumer.stderr()
    );
    consumer.signal("TERM");
    assert_eq!(
        consumer.wait(Duration::from_secs(20)),
        Some(0),
        "{}",
        consumer.stderr()
    );
    let log = consumer.stderr();
    // The outage was seen, logged once when it started and once when it ended.
    assert_eq!(log.matches("Cassandra write failed").count(), 1, "{log}");
    assert_eq!(log.matches("Cassandra answers again").count(), 1, "{log}");
    assert!(log.contains("paused fetching"), "{log}");
    // Still the same member: assigned once, never revoked.
    assert_eq!(log.matches("partitions assigned").count(), 1, "{log}");
    assert_eq!(
        log.matches("partitions revoked").count(),
        1,
        "only at shutdown\n{log}"
    );
    drop_keyspace(&keyspace).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_consumer_waits_out_cassandra_stopped_cleanly_for_60_seconds() {
    survives(|| {
        services(&["down", "cassandra"]);
        std::thread::sleep(Duration::from_secs(60));
        services(&["up", "cassandra"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_consumer_waits_out_cassandra_frozen_with_sigstop() {
    survives(|| {
        let pid = services(&["pid", "cassandra"]).trim().to_string();
        let signal = |s: &str| {
            let ok = std::process::Command::new("kill")
                .args([s, &pid])
                .status()
                .unwrap()
                .success();
            assert!(ok, "kill {s} {pid}");
        };
        signal("-STOP");
        std::thread::sleep(Duration::from_secs(30));
        signal("-CONT");
    })
    .await;
}
