//! End to end: the whole pipeline as a user runs it, as separate `meteo` processes against the
//! real Kafka and Cassandra (`meteo migrate`, `meteo produce` polling the fake weather API,
//! `meteo consume`), then `meteo dash` in snapshot mode. The fault runs of the same pipeline
//! live in `tests/faults/pipeline.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::harness::{Pipeline, CADENCE, KEY};
use crate::util::{meteo, run, session};

#[tokio::test(flavor = "multi_thread")]
async fn every_observation_served_is_stored_once_and_the_dashboard_shows_each_citys_newest() {
    let mut pipeline = Pipeline::new(30);
    pipeline.start_consumer();
    pipeline.start_producer();
    tokio::time::sleep(Duration::from_secs(25)).await;
    pipeline.assert_running();
    let outcome = pipeline.finish().await;

    // Data flowed: every city brought several observations.
    let mut per_city: BTreeMap<i64, BTreeSet<i64>> = BTreeMap::new();
    for s in pipeline.fake.served() {
        per_city.entry(s.city_id).or_default().insert(s.dt);
    }
    assert_eq!(per_city.len(), pipeline.cities.len(), "cities served");
    let fewest = per_city.values().map(BTreeSet::len).min().unwrap();
    // About 25 / CADENCE each; fewer under load (the first sweep is spread over a cadence).
    assert!(
        fewest >= (12 / CADENCE) as usize,
        "each city should bring an observation every {CADENCE} s: {per_city:?}"
    );
    // One producer run publishes an observation once; nothing was invalid.
    assert_eq!(outcome.republished, 0);
    assert_eq!(outcome.invalid, 0);
    assert_eq!(outcome.rows, outcome.served);
    let producer = &pipeline.ended[0];
    assert!(
        producer
            .stdout
            .contains(&format!("{} published, 0 not delivered", outcome.served)),
        "{}",
        producer.stdout
    );

    // The snapshot: a header, then one line per city with its newest temperature and humidity.
    let mut cmd = meteo();
    cmd.args(["--keyspace", &pipeline.keyspace, "dash"]);
    let dash = run(cmd);
    dash.assert_ok();
    assert!(!dash.stdout.contains(KEY) && !dash.stderr.contains(KEY));
    let lines: Vec<&str> = dash.stdout.lines().collect();
    assert!(lines[0].starts_with("CITY"), "{}", dash.stdout);
    assert_eq!(lines.len(), 1 + pipeline.cities.len(), "{}", dash.stdout);
    for (id, name) in &pipeline.cities {
        let newest = &outcome.newest[id];
        let line = lines
            .iter()
            .find(|l| l.split("  ").next() == Some(name.as_str()))
            .unwrap_or_else(|| panic!("{name} is not in the snapshot\n{}", dash.stdout));
        let temperature = format!("{:.1}°C", newest.temperature);
        let humidity = format!(" {}%", newest.humidity);
        assert!(
            line.contains(&temperature) && line.contains(&humidity),
            "{name}: {temperature}, {humidity} expected\n{line}"
        );
    }
    pipeline.drop_keyspace().await;
}

/// The benchmark of `scripts/bench-e2e`: the latency from the fake API's answer to the row
/// in Cassandra (`ingested_at`, stamped by the consumer as it writes), for every observation
/// of a run of the whole pipeline. A measurement, printed, not a timed assertion.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: run scripts/bench-e2e"]
async fn benchmark_latency_from_api_answer_to_cassandra() {
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    let mut pipeline = Pipeline::new(30);
    pipeline.start_consumer();
    pipeline.start_producer();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let outcome = pipeline.finish().await;
    assert_eq!(outcome.rows, outcome.served);

    // The first answer that carried each observation: the producer publishes it then.
    let mut first: BTreeMap<(i64, i64), std::time::SystemTime> = BTreeMap::new();
    for s in pipeline.fake.served() {
        let at = first.entry((s.city_id, s.dt)).or_insert(s.at_wall);
        *at = (*at).min(s.at_wall);
    }
    let session = session(Some(&pipeline.keyspace)).await;
    let mut latencies = meteo::latency::Latencies::new(first.len());
    for ((city, dt), served_at) in &first {
        let observed = chrono::DateTime::from_timestamp(*dt, 0).unwrap();
        let cql = format!(
            "SELECT ingested_at FROM readings WHERE city_id = {city} AND day = '{}' AND observed_at = {}",
            observed.date_naive(),
            dt * 1000
        );
        let rows = meteo::store::rows(meteo::store::query(&session, &cql).await.unwrap()).unwrap();
        let ingested: chrono::DateTime<chrono::Utc> =
            cdrs_tokio::types::IntoRustByIndex::get_r_by_index(&rows[0], 0).unwrap();
        let served: chrono::DateTime<chrono::Utc> = (*served_at).into();
        latencies.push((ingested - served).to_std().unwrap_or_default());
    }
    let (median, p99) = latencies.median_and_p99();
    println!(
        "\n== bench: {} observations of 30 cities over {seconds} s\nlatency, API answer to row in Cassandra: median {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        median.as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0,
        latencies.quantile(1.0).map_or(0.0, |d| d.as_secs_f64() * 1000.0),
    );
    pipeline.drop_keyspace().await;
}
