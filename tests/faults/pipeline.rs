//! The whole pipeline (fake API -> `meteo produce` -> Kafka -> `meteo consume` -> Cassandra)
//! while something fails under it: Kafka or Cassandra killed and restarted, the consumer
//! killed, both programs stopped and restarted, the API failing, poison records in the topic.
//! Each run proves its fault happened while data flowed (rows stored before it, the process
//! or service really gone, rows stored after it), then ends with the same check
//! ([`Pipeline::finish`]): every observation the API served and Kafka acknowledged is in
//! Cassandra once (invalid records in the dead-letter topic), nothing else is, and the group's
//! lag is back to zero.

use std::time::{Duration, Instant};

use crate::consume::services;
use crate::fake_owm::Answer;
use crate::harness::{Outcome, Pipeline, API_TIMEOUT};
use crate::util::{message, produce, reading, KeyValue};

/// Cities per run: a new observation about every 1/6 s (one per city every `CADENCE` s).
const CITIES: usize = 24;

/// Rows arrive this soon once everything runs (process start, group join, first sweep).
const FLOWING: Duration = Duration::from_secs(60);

/// Starts the consumer and the producer and waits until rows are stored.
async fn flowing() -> Pipeline {
    let mut pipeline = Pipeline::new(CITIES);
    pipeline.start_consumer();
    pipeline.start_producer();
    pipeline.wait_for_rows_above(CITIES as i64, FLOWING).await;
    pipeline
}

/// Brings the service back up when dropped, so a run that fails half-way through its fault
/// does not leave the next runs without it (`up` on a running service only checks it).
struct Restore(&'static str);

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = std::process::Command::new(crate::util::repo().join("scripts/services"))
            .args(["up", self.0])
            .output();
    }
}

/// After the fault: new rows keep arriving while everything runs; then the end check.
async fn recovers(pipeline: &mut Pipeline) -> Outcome {
    let rows = pipeline.rows().await;
    let start = Instant::now();
    pipeline
        .wait_for_rows_above(rows + CITIES as i64, Duration::from_secs(90))
        .await;
    eprintln!(
        "after the fault: {} more rows within {:.1} s",
        CITIES,
        start.elapsed().as_secs_f64()
    );
    pipeline.assert_running();
    let outcome = pipeline.finish().await;
    pipeline.drop_keyspace().await;
    outcome
}

/// Runs a blocking fault (sleeps, scripts/services) without stalling the runtime.
fn blocking<T>(fault: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(fault)
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_killed_and_restarted_after_20_seconds_loses_and_duplicates_nothing() {
    let mut pipeline = flowing().await;
    let _restore = Restore("kafka");
    let before = services(&["pid", "kafka"]);
    let killed_at = Instant::now();
    blocking(|| {
        services(&["kill", "kafka"]);
        std::thread::sleep(Duration::from_secs(20));
        services(&["up", "kafka"]);
    });
    eprintln!(
        "Kafka back after {:.1} s",
        killed_at.elapsed().as_secs_f64()
    );
    let back_at = Instant::now();
    assert_ne!(
        services(&["pid", "kafka"]),
        before,
        "Kafka was not restarted"
    );
    // The producer kept polling while the broker was gone: what it fetched then must survive.
    let during = pipeline.served_between(killed_at, back_at);
    assert!(
        during.len() >= CITIES,
        "only {} observations served during the outage",
        during.len()
    );
    let outcome = recovers(&mut pipeline).await;
    assert!(outcome.served > during.len());
    // Each side says once that Kafka is gone and once that it is back, instead of a line
    // per failed connection (dozens in 20 s before).
    for role in ["producer", "consumer"] {
        let log = pipeline.log(role);
        let gone = log.matches("Kafka unreachable; retrying").count();
        assert!(
            (1..=2).contains(&gone),
            "{role}: {gone} outage lines\n{log}"
        );
        assert!(log.contains("Kafka answers again"), "{role}\n{log}");
        // librdkafka's own connect errors may be the outage line's reason, never lines of
        // their own.
        let connect_lines = log
            .lines()
            .filter(|line| line.contains("Connect to ipv4"))
            .filter(|line| !line.contains("Kafka unreachable; retrying"))
            .count();
        assert_eq!(connect_lines, 0, "{role}\n{log}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_stopped_cleanly_for_60_seconds_loses_and_duplicates_nothing() {
    let mut pipeline = flowing().await;
    let _restore = Restore("kafka");
    let stopped_at = Instant::now();
    // `up` returns once Kafka answers.
    blocking(|| {
        services(&["down", "kafka"]);
        std::thread::sleep(Duration::from_secs(60));
        services(&["up", "kafka"]);
    });
    let answered_at = Instant::now();
    // The producer publishes again within 10 s of Kafka answering (issue 13).
    let before = blocking(|| pipeline.published());
    while blocking(|| pipeline.published()) <= before {
        assert!(
            answered_at.elapsed() < Duration::from_secs(10),
            "nothing published 10 s after Kafka answered\n{}",
            pipeline.log("producer")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "publishing again {:.1} s after Kafka answered",
        answered_at.elapsed().as_secs_f64()
    );
    let during = pipeline.served_between(stopped_at, answered_at);
    assert!(
        during.len() >= CITIES,
        "only {} observations served during the outage",
        during.len()
    );
    recovers(&mut pipeline).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cassandra_killed_and_restarted_after_30_seconds_loses_and_duplicates_nothing() {
    let mut pipeline = flowing().await;
    let _restore = Restore("cassandra");
    let before = services(&["pid", "cassandra"]);
    blocking(|| {
        services(&["kill", "cassandra"]);
        std::thread::sleep(Duration::from_secs(30));
        services(&["up", "cassandra"]);
    });
    assert_ne!(
        services(&["pid", "cassandra"]),
        before,
        "Cassandra was not restarted"
    );
    recovers(&mut pipeline).await;
    // The consumer saw the outage, once, and its end, and wrote again what Cassandra had
    // acknowledged just before it died (a `kill -9` loses those: see src/commands/consume.rs).
    let log = pipeline.log("consumer");
    assert_eq!(log.matches("Cassandra write failed").count(), 1, "{log}");
    assert_eq!(log.matches("Cassandra answers again").count(), 1, "{log}");
    assert!(
        log.contains("wrote again the readings acknowledged just before the outage"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_consumer_killed_mid_stream_and_restarted_loses_and_duplicates_nothing() {
    let mut pipeline = flowing().await;
    pipeline.kill_consumer();
    // Readings pile up in the topic meanwhile; the new member re-reads what the dead one
    // handled but had not committed (it waits for the group to drop the dead member).
    blocking(|| std::thread::sleep(Duration::from_secs(3)));
    pipeline.start_consumer();
    recovers(&mut pipeline).await;
    let log = pipeline.log("consumer");
    assert_eq!(log.matches("consumer starting").count(), 2, "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_producer_and_the_consumer_stopped_and_restarted_lose_and_duplicate_nothing() {
    let mut pipeline = flowing().await;
    let first = pipeline.stop_producer();
    assert!(first.stdout.contains("0 not delivered"), "{}", first.stdout);
    pipeline.stop_consumer();
    blocking(|| std::thread::sleep(Duration::from_secs(2)));
    pipeline.start_consumer();
    pipeline.start_producer();
    let outcome = recovers(&mut pipeline).await;
    // The new producer publishes again the observations the first one last saw: Kafka has
    // them twice, Cassandra once (checked by `finish`).
    eprintln!(
        "{} observations re-published after the restart",
        outcome.republished
    );
    let producers = pipeline.ended.iter().filter(|e| e.role == "producer");
    assert_eq!(producers.count(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_failing_then_rate_limiting_loses_and_duplicates_nothing() {
    let mut pipeline = flowing().await;
    // A minute of 500s, 502s, 503s and answers slower than the client's time limit: each
    // city's retries back off (1 s doubling) through six doublings, and recovery afterwards
    // waits for the longest backoff.
    let slow = API_TIMEOUT + Duration::from_secs(2);
    let outage_at = Instant::now();
    pipeline.fake.outage(vec![
        Answer::Status(500),
        Answer::Slow(slow),
        Answer::Status(503),
        Answer::Status(502),
    ]);
    blocking(|| std::thread::sleep(Duration::from_secs(60)));
    // Then one 429: every call pauses for its Retry-After.
    pipeline.fake.next_answers(vec![Answer::RateLimited {
        retry_after: Some(3),
    }]);
    let healed_at = Instant::now();
    let calls = pipeline.fake.calls();
    let failed = calls
        .iter()
        .filter(|c| c.at >= outage_at && c.at < healed_at)
        .count();
    assert!(
        failed >= 2 * CITIES,
        "only {failed} calls during the outage"
    );
    assert!(pipeline.served_between(outage_at, healed_at).is_empty());
    let outcome = recovers(&mut pipeline).await;
    assert!(outcome.served > 0);
    let calls = pipeline.fake.calls();
    assert_eq!(calls.iter().filter(|c| c.status == 429).count(), 1);
    assert!(calls.iter().any(|c| c.status == 500));
    let log = pipeline.log("producer");
    assert!(log.contains("retrying this city"), "{log}");
    assert!(log.contains("every call paused"), "{log}");
    assert!(log.contains("no answer within"), "no timeout seen\n{log}");
    // Observations arrived again after the outage and the pause.
    assert!(!pipeline
        .served_between(healed_at, Instant::now())
        .is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn poison_records_injected_mid_run_go_to_the_dead_letter_topic_and_the_rest_is_stored() {
    let mut pipeline = flowing().await;
    let city = pipeline.cities[0].0;
    let key = Some(city.to_string().into_bytes());
    // Each looks like an observation of a real city, an hour ago: if stored, it is a row too many.
    let valid = reading(city, 60);
    let with = |change: &dyn Fn(&mut serde_json::Value)| -> KeyValue {
        let mut value = serde_json::to_value(&valid).unwrap();
        change(&mut value);
        (key.clone(), Some(serde_json::to_vec(&value).unwrap()))
    };
    let poison: Vec<KeyValue> = vec![
        (key.clone(), Some(b"{not json".to_vec())),
        (key.clone(), Some(b"<html>502 Bad Gateway</html>".to_vec())),
        (key.clone(), None),
        (key.clone(), Some(Vec::new())),
        with(&|v| v["schema"] = 2.into()),
        with(&|v| {
            v.as_object_mut().unwrap().remove("temperature");
        }),
        with(&|v| v["temperature"] = 999.0.into()),
        with(&|v| v["humidity"] = 150.into()),
        with(&|v| v["city_name"] = "\u{1b}[2JParis".into()),
        (Some(b"1".to_vec()), message(&valid).1),
        (None, message(&valid).1),
    ];
    produce(&pipeline.topic, &poison).await;
    let outcome = recovers(&mut pipeline).await;
    assert_eq!(outcome.invalid, poison.len());
    let log = pipeline.log("consumer");
    assert_eq!(
        log.matches("sending it to the dead-letter topic").count(),
        poison.len(),
        "{log}"
    );
}
