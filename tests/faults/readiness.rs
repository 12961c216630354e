//! `/readyz` of `meteo consume` follows Cassandra: 503 with the reason while it is stopped,
//! 200 again once it answers; `/healthz` answers 200 throughout (the loop keeps turning).

use std::time::{Duration, Instant};

use crate::consume::services;
use crate::scrape::{free_port, get, samples, status, value};
use crate::util::{drop_keyspace, eventually, meteo, migrated, unique, Background};

#[tokio::test(flavor = "multi_thread")]
async fn readyz_is_503_while_cassandra_is_stopped_and_healthz_stays_200() {
    let (keyspace, topic) = migrated(&[]);
    let port = free_port();
    let mut cmd = meteo();
    cmd.args(["--keyspace", &keyspace, "--topic", &topic, "consume"])
        .args(["--group", &unique("g"), "--metrics-addr"])
        .arg(format!("127.0.0.1:{port}"));
    let mut consumer = Background::start(cmd);
    eventually(Duration::from_secs(60), "the consumer ready", || async {
        status(port, "/readyz") == 200
    })
    .await;
    assert_eq!(value(&samples(port), "meteo_cassandra_up{}"), 1.0);

    tokio::task::block_in_place(|| services(&["down", "cassandra"]));
    let stopped = Instant::now();
    let reason = loop {
        let (code, _, body) = get(port, "/readyz", None).expect("/readyz answers");
        if code == 503 {
            break body;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(30),
            "/readyz still {code} 30 s after Cassandra stopped"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        reason.starts_with("Cassandra does not answer: ") && reason.lines().count() == 1,
        "{reason}"
    );
    assert_eq!(value(&samples(port), "meteo_cassandra_up{}"), 0.0);
    // Still alive, and says so, for as long as Cassandra is away.
    for _ in 0..10 {
        assert_eq!(status(port, "/healthz"), 200);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    tokio::task::block_in_place(|| services(&["up", "cassandra"]));
    let back = Instant::now();
    while status(port, "/readyz") != 200 {
        assert_eq!(status(port, "/healthz"), 200);
        assert!(
            back.elapsed() < Duration::from_secs(120),
            "/readyz not 200 two minutes after Cassandra was back:\n{}",
            consumer.stderr()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(value(&samples(port), "meteo_cassandra_up{}"), 1.0);
    assert!(consumer.is_running(), "{}", consumer.stderr());
    consumer.signal("TERM");
    assert_eq!(
        consumer.wait(Duration::from_secs(20)),
        Some(0),
        "{}",
        consumer.stderr()
    );
    drop_keyspace(&keyspace).await;
}
