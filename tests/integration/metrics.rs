//! The metrics endpoint of `meteo produce` and `meteo consume` in the end-to-end pipeline:
//! what /metrics counts is what happened (checked against the topic, the dead-letter topic
//! and Cassandra), the exposition parses with Python's prometheus_client in both formats,
//! /healthz and /readyz answer, every family served is in docs/metrics.md; a bad --metrics-addr
//! stops the command before any work; and no client can hold the endpoint or take the
//! process's descriptors, memory or pace.

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
    // A call answered with an observation already published comes with the second round of
    // calls; on a loaded machine that can take longer than a fixed pause.
    eventually(
        Duration::from_secs(60),
        "an unchanged observation",
        || async {
            value(
                &samples(producer),
                "meteo_produce_api_calls_total{result=\"unchanged\"}",
            ) > 0.0
        },
    )
    .await;

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
    // One age per reading published; the fake's observations are minutes old at most.
    let ages = value(&produced, "meteo_produce_observation_age_seconds_count{}");
    assert_eq!(ages, on_topic as f64, "{produced:?}");
    let mean_age = value(&produced, "meteo_produce_observation_age_seconds_sum{}") / ages;
    assert!((0.0..=3600.0).contains(&mean_age), "mean age {mean_age} s");
    assert_eq!(
        value(
            &produced,
            "meteo_produce_observation_age_seconds_bucket{le=\"+Inf\"}"
        ),
        ages
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
    // Each stored reading took at least its readings batch; on one node all go to a replica.
    let batches = value(&consumed, "meteo_consume_batches_total{}");
    assert!(
        batches >= 1.0 && batches <= 4.0 * rows,
        "{batches} for {rows} rows"
    );
    assert_eq!(
        value(&consumed, "meteo_consume_batches_to_replica_total{}"),
        batches
    );
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

/// The metrics server in this process, with small limits so the tests are quick: its port.
async fn small_server() -> u16 {
    use meteo::metrics::{server, Metrics, Role};
    let listener = server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = listener.local_addr().unwrap().port();
    let metrics: &'static Metrics = Box::leak(Box::new(Metrics::new(Role::Consume, "t")));
    let limits = server::Limits {
        max_connections: 8,
        header_read_timeout: Duration::from_secs(1),
        connection_deadline: Duration::from_secs(3),
    };
    tokio::spawn(server::serve_with(listener, metrics, limits));
    port
}

/// Whether the server closed the connection (end of stream or reset) within `limit`.
async fn closed_within(stream: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    use tokio::io::AsyncReadExt as _;
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn half_sent_requests_and_connections_over_the_cap_are_closed_by_the_server() {
    use tokio::io::AsyncWriteExt as _;
    let port = small_server().await;
    let started = Instant::now();
    let mut half_sent = Vec::new();
    for _ in 0..200 {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        // Never finished: no blank line after the headers.
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            .await
            .unwrap();
        half_sent.push(stream);
    }
    // 8 within the header timeout (1 s), the other 192 at once; none is left open.
    let closed = futures::future::join_all(
        half_sent
            .iter_mut()
            .map(|s| closed_within(s, Duration::from_secs(3))),
    )
    .await;
    assert_eq!(closed.iter().filter(|c| **c).count(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    // Idle connections over the cap are closed at once, those within it at the timeout; a
    // scrape is answered once the slots are free, during the attack.
    let mut idle = Vec::new();
    for _ in 0..100 {
        idle.push(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap(),
        );
    }
    let at_once = futures::future::join_all(
        idle.iter_mut()
            .map(|s| closed_within(s, Duration::from_millis(500))),
    )
    .await;
    assert!(
        at_once.iter().filter(|c| **c).count() >= 92,
        "{} of 100 closed at once",
        at_once.iter().filter(|c| **c).count()
    );
    let answered = tokio::task::spawn_blocking(move || {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if status(port, "/metrics") == 200 {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    });
    let all_closed = futures::future::join_all(
        idle.iter_mut()
            .map(|s| closed_within(s, Duration::from_secs(3))),
    )
    .await;
    assert_eq!(all_closed.iter().filter(|c| **c).count(), 100);
    assert!(
        answered.await.unwrap(),
        "no scrape answered within 5 s of the attack"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn methods_other_than_get_and_head_get_405() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let port = small_server().await;
    let ask = |method: &'static str| async move {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let request =
            format!("{method} /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut answer))
            .await
            .expect("an answer, then the connection closed")
            .unwrap();
        answer
    };
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        let answer = ask(method).await;
        assert!(answer.starts_with("HTTP/1.1 405"), "{method}: {answer}");
        assert!(
            answer.to_ascii_lowercase().contains("allow: get, head"),
            "{answer}"
        );
    }
    let answer = ask("GET").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("meteo_consume_records_total"), "{answer}");
    let answer = ask("HEAD").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(!answer.contains("meteo_consume_records_total"), "{answer}");
}

/// One unlabelled sample of the consumer's exposition (`process_open_fds`, say), read with
/// retries: during an attack a scrape may find the slots full for a moment.
fn sample_of(port: u16, name: &str) -> f64 {
    let start = Instant::now();
    loop {
        if let Some((200, _, text)) = get(port, "/metrics", None) {
            let found = text.lines().find_map(|line| {
                let (key, value) = line.split_once(' ')?;
                (key == name).then(|| value.trim().parse::<f64>().ok())?
            });
            return found.unwrap_or_else(|| panic!("no {name} in:\n{text}"));
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no scrape answered in 10 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_attack_on_the_consumers_metrics_endpoint_takes_no_descriptors_memory_or_pace() {
    use std::io::Write as _;
    use std::net::TcpStream;
    let mut pipeline = Pipeline::new(10);
    let (producer, consumer) = (free_port(), free_port());
    pipeline.serve_metrics(producer, consumer);
    pipeline.start_consumer();
    pipeline.start_producer();
    eventually(Duration::from_secs(60), "the consumer ready", || async {
        status(consumer, "/readyz") == 200
    })
    .await;
    let rows = pipeline
        .wait_for_rows_above(0, Duration::from_secs(60))
        .await;
    let (fds_before, rss_before) = tokio::task::spawn_blocking(move || {
        (
            sample_of(consumer, "process_open_fds"),
            sample_of(consumer, "process_resident_memory_bytes"),
        )
    })
    .await
    .unwrap();

    // For 12 s, 400 new connections every 200 ms, half of them half-sent requests, the last
    // 4,000 held open: up to 24,000 connections (fewer on a busy machine).
    let attack = std::thread::spawn(move || {
        let mut held = std::collections::VecDeque::new();
        let start = Instant::now();
        let mut opened = 0;
        while start.elapsed() < Duration::from_secs(12) {
            for i in 0..400 {
                let Ok(mut stream) = TcpStream::connect(("127.0.0.1", consumer)) else {
                    continue;
                };
                if i % 2 == 0 {
                    let _ = stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n");
                }
                opened += 1;
                held.push_back(stream);
                if held.len() > 4000 {
                    held.pop_front();
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        opened
    });
    tokio::time::sleep(Duration::from_secs(4)).await;
    // During the attack: the descriptors the consumer holds stay within the cap (32) of its
    // count before, a scrape is answered, and readings are still stored.
    let fds_during = tokio::task::spawn_blocking(move || sample_of(consumer, "process_open_fds"))
        .await
        .unwrap();
    assert!(
        fds_during <= fds_before + 40.0,
        "{fds_during} descriptors during the attack, {fds_before} before"
    );
    pipeline
        .wait_for_rows_above(rows, Duration::from_secs(30))
        .await;
    let opened = attack.join().unwrap();
    assert!(opened > 5_000, "only {opened} connections opened");

    // Afterwards: the memory back near where it was.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let rss_after =
        tokio::task::spawn_blocking(move || sample_of(consumer, "process_resident_memory_bytes"))
            .await
            .unwrap();
    assert!(
        rss_after < rss_before + 16e6,
        "{rss_before} bytes resident before the attack, {rss_after} after"
    );
    eprintln!(
        "attack of {opened} connections: descriptors {fds_before} -> {fds_during}, \
         resident {:.1} MB -> {:.1} MB",
        rss_before / 1e6,
        rss_after / 1e6
    );
    pipeline.assert_running();
    pipeline.finish().await;
    pipeline.drop_keyspace().await;
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
