//! The metrics endpoint of `meteo produce` and `meteo consume` in the end-to-end pipeline:
//! what /metrics counts is what happened (checked against the topic, the dead-letter topic
//! and Cassandra), the exposition parses with Python's prometheus_client in both formats,
//! /healthz and /readyz answer, every family served is in docs/metrics.md; and a bad
//! --metrics-addr stops the command before any work.

use std::time::{Duration, Instant};

use crate::fake_owm::Answer;
use crate::harness::{group_lag, read_all, Pipeline, API_TIMEOUT};
use crate::scrape::{families, free_port, get, parse, samples, status, undocumented, value};
use crate::util::{eventually, meteo, produce, run, KeyValue};

const STORED: &str = "meteo_consume_records_total{outcome=\"stored\"}";
const DEAD_LETTERED: &str = "meteo_consume_records_total{outcome=\"dead_lettered\"}";
const PUBLISHED: &str = "meteo_produce_readings_published_total{}";

#[tokio::test(flavor = "multi_thread")]
async fn the_metrics_of_both_commands_count_what_the_pipeline_did() {
    let mut pipeline = Pipeline::new(10);
    let (producer, consumer) = (free_port(), free_port());
    pipeline.serve_metrics(producer, consumer);
    pipeline.start_consumer();
    pipeline.start_producer();
    eventually(Duration::from_secs(60), "both commands ready", || async {
        status(producer, "/readyz") == 200 && status(consumer, "/readyz") == 200
    })
    .await;
    pipeline
        .wait_for_rows_above(0, Duration::from_secs(60))
        .await;
    let poison: Vec<KeyValue> = vec![
        (Some(b"1".to_vec()), Some(b"{not json".to_vec())),
        (Some(b"2".to_vec()), None),
        (None, Some(b"<html>502</html>".to_vec())),
    ];
    produce(&pipeline.topic, &poison).await;
    tokio::time::sleep(Duration::from_secs(6)).await;

    // Every call fails from now on: nothing more is published once the calls in flight end.
    pipeline.fake.outage(vec![Answer::Status(503)]);
    tokio::time::sleep(API_TIMEOUT + Duration::from_secs(3)).await;
    let produced = samples(producer);
    let on_topic = read_all(&pipeline.topic).len() - poison.len();
    assert_eq!(value(&produced, PUBLISHED), on_topic as f64, "{produced:?}");
    assert_eq!(
        value(&produced, "meteo_produce_api_calls_total{result=\"new\"}"),
        on_topic as f64,
        "one run publishes each new observation once"
    );
    assert!(
        value(
            &produced,
            "meteo_produce_api_calls_total{result=\"transient\"}"
        ) > 0.0
    );
    assert!(
        value(
            &produced,
            "meteo_produce_api_calls_total{result=\"unchanged\"}"
        ) > 0.0
    );
    assert_eq!(
        value(&produced, "meteo_produce_publish_duration_seconds_count{}"),
        on_topic as f64
    );
    let minute_left = value(
        &produced,
        "meteo_produce_budget_remaining_calls{window=\"minute\"}",
    );
    assert!(
        minute_left > 0.0 && minute_left < 100_000.0,
        "{minute_left}"
    );
    assert_eq!(value(&produced, "meteo_kafka_up{}"), 1.0);
    assert!(value(&produced, "process_resident_memory_bytes{}") > 1e6);
    assert!(produced
        .keys()
        .any(|k| k.starts_with("meteo_build_info{version=")));
    assert!(!produced.keys().any(|k| k.starts_with("meteo_consume")));

    // The consumer, once the group committed the end of the topic: stored = rows written,
    // dead letters = the poison sent, lag 0.
    eventually(
        Duration::from_secs(120),
        "the group at the topic's end",
        || {
            let lag = group_lag(&pipeline.topic, &pipeline.group);
            async move { lag.iter().all(|(_, l)| *l == 0) }
        },
    )
    .await;
    let rows = pipeline.rows().await as f64;
    let start = Instant::now();
    let consumed = loop {
        let consumed = samples(consumer);
        let settled = value(&consumed, STORED) == rows
            && value(&consumed, DEAD_LETTERED) == poison.len() as f64
            && value(&consumed, "meteo_consume_lag_records{}") == 0.0;
        if settled {
            break consumed;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{rows} rows and {} dead letters expected, lag 0: {consumed:?}",
            poison.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(
        value(&consumed, "meteo_consume_write_duration_seconds_count{}"),
        rows
    );
    assert_eq!(value(&consumed, "meteo_cassandra_up{}"), 1.0);
    assert_eq!(value(&consumed, "meteo_kafka_up{}"), 1.0);
    assert_eq!(value(&consumed, "meteo_consume_partitions_assigned{}"), 6.0);
    assert!(!consumed.keys().any(|k| k.starts_with("meteo_produce")));

    // OpenMetrics when asked for, as Prometheus asks; the OpenMetrics parser takes it.
    for port in [producer, consumer] {
        let accept =
            "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3";
        let (code, content_type, text) = get(port, "/metrics", Some(accept)).unwrap();
        assert_eq!(code, 200);
        assert!(
            content_type.starts_with("application/openmetrics-text; version=1.0.0"),
            "{content_type}"
        );
        assert!(text.ends_with("# EOF\n"));
        assert!(!parse(&text, true).is_empty());
        assert_eq!(status(port, "/healthz"), 200);
        assert_eq!(status(port, "/nowhere"), 404);
    }

    // Every family either command serves is in docs/metrics.md, so the table cannot drift.
    let served: std::collections::BTreeSet<String> = families(producer)
        .into_iter()
        .chain(families(consumer))
        .collect();
    assert!(served.len() > 10, "{served:?}");
    assert_eq!(
        undocumented(&served),
        Vec::<String>::new(),
        "served but not in docs/metrics.md"
    );

    let outcome = pipeline.finish().await;
    assert_eq!(outcome.invalid, poison.len());
    assert_eq!(outcome.rows as f64, rows);
    pipeline.drop_keyspace().await;
}

#[test]
fn a_bad_metrics_address_is_one_line_before_any_work() {
    // Taken: exit 1 naming the address, before Kafka (here: nothing listens) is tried.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    for command in ["produce", "consume"] {
        let mut cmd = meteo();
        cmd.args(["--brokers", "127.0.0.1:1", "--cassandra", "127.0.0.1:1"])
            .args([command, "--metrics-addr", &addr])
            .env("METEO_SOURCE", "synthetic");
        let done = run(cmd);
        assert_eq!(done.code, Some(1), "{}", done.describe());
        assert_eq!(
            done.error_lines(),
            [format!(
                "meteo: error: listening for metrics on {addr} (--metrics-addr): Address already in use (os error 98)"
            )],
            "{}",
            done.describe()
        );
        assert!(done.took < Duration::from_secs(5), "{}", done.describe());
        assert!(!done.stderr.contains("starting"), "{}", done.describe());
    }
    // Not HOST:PORT: a usage error (exit 2), the variable read the same way.
    for (flag, env) in [(Some("9464"), None), (None, Some("localhost:port"))] {
        let mut cmd = meteo();
        cmd.arg("consume");
        if let Some(flag) = flag {
            cmd.args(["--metrics-addr", flag]);
        }
        if let Some(env) = env {
            cmd.env("METEO_METRICS_ADDR", env);
        }
        let done = run(cmd);
        assert_eq!(done.code, Some(2), "{}", done.describe());
        assert!(
            done.stderr.contains("invalid value") && done.stderr.contains("--metrics-addr"),
            "{}",
            done.describe()
        );
    }
}

/// /readyz follows the group: ready as soon as the log says the partitions are assigned, not
/// at the next periodic look (seconds later).
#[tokio::test(flavor = "multi_thread")]
async fn the_consumer_is_ready_within_a_second_of_its_partitions_assigned_line() {
    let (keyspace, topic) = crate::util::migrated(&[]);
    let port = free_port();
    let mut cmd = meteo();
    cmd.args(["--keyspace", &keyspace, "--topic", &topic, "consume"])
        .args(["--group", &crate::util::unique("g")])
        .args(["--metrics-addr", &format!("127.0.0.1:{port}")]);
    let consumer = crate::util::Background::start(cmd);
    let start = Instant::now();
    let assigned = loop {
        if consumer.stderr().contains("partitions assigned") {
            break Instant::now();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no partitions assigned line:\n{}",
            consumer.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    loop {
        let answer = get(port, "/readyz", None);
        if answer.as_ref().is_some_and(|(code, _, _)| *code == 200) {
            break;
        }
        assert!(
            assigned.elapsed() < Duration::from_secs(1),
            "/readyz still {answer:?} {:?} after the log said partitions assigned",
            assigned.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(consumer);
    crate::util::drop_keyspace(&keyspace).await;
}
