//! The producer's compression: what the broker stores, read as record batches with a raw
//! Fetch request (rdkafka decompresses before it hands a message over, so it cannot tell),
//! checked against the codec chosen; the readings come out of Kafka and into Cassandra
//! unchanged. Plus the benchmark of codecs behind `scripts/bench-produce` (ignored by default).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use meteo::kafka::client_config;
use meteo::kafka::config::Compression;
use meteo::kafka::producer::Publisher;
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde_json::{json, Value};

use crate::harness::Pipeline;
use crate::util::{kafka_settings, meteo, run, temp_dir};

/// A record batch's codec: the low three bits of its attributes (Kafka's protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Codec {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Codec {
    fn from_attributes(attributes: i16) -> Codec {
        match attributes & 7 {
            0 => Codec::None,
            1 => Codec::Gzip,
            2 => Codec::Snappy,
            3 => Codec::Lz4,
            4 => Codec::Zstd,
            other => panic!("record batch codec {other} is none Kafka has"),
        }
    }
}

/// One record batch as the broker stores and serves it.
#[derive(Debug, Clone, Copy)]
pub struct Batch {
    pub codec: Codec,
    /// Records in the batch.
    pub records: i32,
    /// The batch's size in the log, header included.
    pub bytes: usize,
}

/// Every record batch of `topic`, partition by partition, fetched from each partition's leader
/// with Fetch v4 (the oldest version Kafka 4 still serves; not flexible, so plain framing).
pub fn batches(topic: &str) -> Vec<Batch> {
    let consumer: BaseConsumer = client_config(&kafka_settings(topic)).create().unwrap();
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let brokers: BTreeMap<i32, String> = metadata
        .brokers()
        .iter()
        .map(|b| (b.id(), format!("{}:{}", b.host(), b.port())))
        .collect();
    let partitions = metadata.topics()[0].partitions();
    assert!(!partitions.is_empty(), "topic {topic} has no partition");
    let mut found = Vec::new();
    for partition in partitions {
        let (_, high) = consumer
            .fetch_watermarks(topic, partition.id(), Duration::from_secs(10))
            .unwrap();
        let leader = &brokers[&partition.leader()];
        let mut offset = 0i64;
        while offset < high {
            let fetched = fetch(leader, topic, partition.id(), offset);
            assert!(
                !fetched.is_empty(),
                "no batch at offset {offset} of {topic}"
            );
            for (base_offset, batch) in fetched {
                offset = offset.max(base_offset + i64::from(batch.records));
                found.push(batch);
            }
        }
    }
    found
}

/// The complete record batches of one partition from `offset` on (up to 4 MiB), with their
/// base offsets.
fn fetch(broker: &str, topic: &str, partition: i32, offset: i64) -> Vec<(i64, Batch)> {
    let mut body = Vec::new();
    body.extend(1i16.to_be_bytes()); // api key: Fetch
    body.extend(4i16.to_be_bytes()); // api version
    body.extend(7i32.to_be_bytes()); // correlation id
    put_string(&mut body, "meteo-test");
    body.extend((-1i32).to_be_bytes()); // replica id: a consumer
    body.extend(100i32.to_be_bytes()); // max wait ms
    body.extend(1i32.to_be_bytes()); // min bytes
    body.extend((4i32 << 20).to_be_bytes()); // max bytes
    body.push(0); // isolation level: read uncommitted
    body.extend(1i32.to_be_bytes()); // one topic
    put_string(&mut body, topic);
    body.extend(1i32.to_be_bytes()); // one partition
    body.extend(partition.to_be_bytes());
    body.extend(offset.to_be_bytes());
    body.extend((4i32 << 20).to_be_bytes()); // partition max bytes

    let mut stream = TcpStream::connect(broker).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(&(body.len() as i32).to_be_bytes())
        .unwrap();
    stream.write_all(&body).unwrap();
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).unwrap();
    let mut answer = vec![0u8; i32::from_be_bytes(size) as usize];
    stream.read_exact(&mut answer).unwrap();

    let mut r = Reader(&answer);
    assert_eq!(r.i32(), 7, "correlation id");
    r.i32(); // throttle time
    assert_eq!(r.i32(), 1, "topics in the answer");
    r.string();
    assert_eq!(r.i32(), 1, "partitions in the answer");
    assert_eq!(r.i32(), partition);
    let error = r.i16();
    assert_eq!(
        error, 0,
        "Fetch of {topic}/{partition} answered error {error}"
    );
    r.take(8 + 8); // high watermark, last stable offset
    let aborted = r.i32();
    r.take(16 * aborted.max(0) as usize);
    let size = r.i32();
    let mut records = Reader(r.take(size.max(0) as usize));
    let mut batches = Vec::new();
    // The answer may end with part of a batch: only whole ones count.
    while records.0.len() >= 12 {
        let base_offset = i64::from_be_bytes(records.0[..8].try_into().unwrap());
        let length = i32::from_be_bytes(records.0[8..12].try_into().unwrap()) as usize;
        if records.0.len() < 12 + length {
            break;
        }
        let batch = records.take(12 + length);
        assert_eq!(batch[16], 2, "record batch magic");
        let attributes = i16::from_be_bytes(batch[21..23].try_into().unwrap());
        let count = i32::from_be_bytes(batch[57..61].try_into().unwrap());
        batches.push((
            base_offset,
            Batch {
                codec: Codec::from_attributes(attributes),
                records: count,
                bytes: batch.len(),
            },
        ));
    }
    batches
}

fn put_string(out: &mut Vec<u8>, text: &str) {
    out.extend((text.len() as i16).to_be_bytes());
    out.extend(text.as_bytes());
}

/// Big-endian fields, front to back.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
    fn i16(&mut self) -> i16 {
        i16::from_be_bytes(self.take(2).try_into().unwrap())
    }
    fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take(4).try_into().unwrap())
    }
    fn string(&mut self) -> String {
        let n = self.i16();
        String::from_utf8(self.take(n as usize).to_vec()).unwrap()
    }
}

/// The codecs of `topic`'s batches, and how many records they hold in all.
fn codecs(topic: &str) -> (Vec<Codec>, i64) {
    let found = batches(topic);
    let mut codecs: Vec<Codec> = found.iter().map(|b| b.codec).collect();
    codecs.sort();
    codecs.dedup();
    (codecs, found.iter().map(|b| i64::from(b.records)).sum())
}

/// A city list of `n` made-up cities.
fn city_list(n: usize) -> std::path::PathBuf {
    let entries: Vec<Value> = (0..n)
        .map(|i| {
            json!({"id": 100_000 + i, "name": format!("Ville {i}"), "country": "FR",
                   "lat": 43.0 + (i % 500) as f64 * 0.01, "lon": 2.0 + (i / 500) as f64 * 0.01})
        })
        .collect();
    let path = temp_dir("cities").join("cities.json");
    std::fs::write(&path, serde_json::to_vec(&entries).unwrap()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread")]
async fn readings_land_in_kafka_compressed_with_zstd_and_are_stored_unchanged() {
    let mut pipeline = Pipeline::new(10);
    pipeline.start_consumer();
    pipeline.start_producer();
    tokio::time::sleep(Duration::from_secs(10)).await;
    pipeline.assert_running();
    let (codecs, records) = codecs(&pipeline.topic);
    assert!(
        records > 0,
        "nothing published\n{}",
        pipeline.log("producer")
    );
    assert_eq!(codecs, [Codec::Zstd], "the codecs of the topic's batches");
    // Every observation the API served is in the topic and in Cassandra, values unchanged.
    let outcome = pipeline.finish().await;
    assert_eq!(outcome.rows, outcome.served);
    assert_eq!(outcome.invalid, 0);
    pipeline.drop_keyspace().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_compression_flag_and_its_variable_choose_the_codec() {
    let list = city_list(20);
    for (how, expected) in [
        (&["--compression", "none"][..], Codec::None),
        (&["--compression", "lz4"], Codec::Lz4),
        (&["--compression", "GZIP"], Codec::Gzip),
        (&[], Codec::Snappy),
    ] {
        let topic = crate::produce::fresh_topic().await;
        let mut cmd = meteo();
        cmd.env("METEO_COMPRESSION", "snappy")
            .args([
                "--topic",
                &topic,
                "produce",
                "--once",
                "--source",
                "synthetic",
            ])
            .arg("--cities")
            .arg(&list)
            .args(how);
        run(cmd).assert_ok();
        let (codecs, records) = codecs(&topic);
        assert_eq!(records, 20, "{how:?}");
        assert_eq!(codecs, [expected], "{how:?}");
    }
}

#[test]
fn compression_given_to_x_or_in_the_file_is_a_usage_error_naming_the_flag() {
    let file = temp_dir("kafka-config").join("client.properties");
    std::fs::write(&file, "compression.codec=lz4\n").unwrap();
    for given in [
        vec!["-X".to_string(), "compression.type=gzip".to_string()],
        vec!["--kafka-config".to_string(), file.display().to_string()],
    ] {
        let mut cmd = meteo();
        cmd.args(&given).args(["produce", "--once"]);
        let result = run(cmd);
        assert_eq!(result.code, Some(2), "{}", result.describe());
        assert!(
            result.stderr.contains("--compression (METEO_COMPRESSION)"),
            "{}",
            result.describe()
        );
    }
    let mut cmd = meteo();
    cmd.args(["produce", "--once", "--compression", "brotli"]);
    let result = run(cmd);
    assert_eq!(result.code, Some(2), "{}", result.describe());
    assert!(result.stderr.contains("zstd"), "{}", result.describe());
}

/// The codec named as `--compression` takes it.
fn compression(name: &str) -> Compression {
    clap::ValueEnum::from_str(name, true).unwrap()
}

/// CPU time (user + system) of the children this process has waited for so far.
fn children_cpu() -> Duration {
    // SAFETY: getrusage fills the struct it is given and reads nothing else.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage), 0);
        usage
    };
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    time(usage.ru_utime) + time(usage.ru_stime)
}

/// A run of `cmd` (which must succeed) and the CPU time it took.
fn timed(cmd: std::process::Command) -> (crate::util::Run, Duration) {
    let before = children_cpu();
    let result = crate::util::run_within(cmd, Duration::from_secs(900));
    result.assert_ok();
    (result, children_cpu() - before)
}

/// One codec's figures.
struct Figures {
    codec: String,
    burst_bytes: usize,
    burst_batches: usize,
    producer_cpu: Duration,
    producer_wall: Duration,
    consumer_cpu: Duration,
    consumer_rate: f64,
    steady_bytes: usize,
    steady_batches: usize,
    steady_readings: i64,
    full_bytes: usize,
    full_batches: usize,
}

/// Readings handed to the producer at once for the full-batches figure.
const FULL_READINGS: i64 = 2000;

/// The benchmark of `scripts/bench-produce`'s compression section: for each codec, the same
/// N synthetic readings produced in one burst (`produce --once --source synthetic`, batches
/// as full as linger.ms makes them) into a fresh 6-partition topic: the bytes the broker
/// stores (its record batches, read back raw), the producer's CPU; then `meteo consume` of
/// that topic into a fresh keyspace: its CPU and readings/s (first to last `ingested_at`,
/// so start-up counts for nothing). And the steady shape, as meteo produces at the API's
/// pace (readings one by one, a batch each): bytes per reading.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: run scripts/bench-produce"]
async fn benchmark_compression_codecs() {
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or(default.to_string());
    let n: usize = env("BENCH_COMPRESSION_READINGS", "20000").parse().unwrap();
    let codecs = env("BENCH_CODECS", "none lz4 zstd");
    let list = city_list(n);
    let steady_cities = 200;
    let mut rows = Vec::new();
    for codec in codecs.split_whitespace() {
        let (keyspace, topic) = crate::util::migrated(&[]);
        let mut cmd = meteo();
        cmd.args([
            "--topic",
            &topic,
            "produce",
            "--once",
            "--source",
            "synthetic",
        ])
        .args(["--seed", "7", "--compression", codec])
        .arg("--cities")
        .arg(&list);
        let (produced, producer_cpu) = timed(cmd);
        let burst = batches(&topic);
        let records: i64 = burst.iter().map(|b| i64::from(b.records)).sum();
        assert_eq!(records, n as i64, "{codec}: records in the topic");

        let mut cmd = meteo();
        cmd.args(["--keyspace", &keyspace, "--topic", &topic, "consume"])
            .args(["--group", &crate::util::unique("bench")])
            .args(["--max-messages", &n.to_string()]);
        let (_, consumer_cpu) = timed(cmd);
        let session = crate::util::session(Some(&keyspace)).await;
        // An aggregate over the whole partition: the shared Cassandra may time it out once.
        let mut tries = 0;
        let answer = loop {
            let asked = meteo::store::query(
                &session,
                "SELECT COUNT(*), MIN(ingested_at), MAX(ingested_at) FROM latest WHERE country = 'FR'",
            )
            .await;
            tries += 1;
            match asked {
                Ok(answer) => break answer,
                Err(err) if tries < 5 => {
                    eprintln!("{codec}: {err:#}; asking again");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                Err(err) => panic!("{codec}: {err:#}"),
            }
        };
        let row = &meteo::store::rows(answer).unwrap()[0];
        use cdrs_tokio::types::IntoRustByIndex;
        let count: i64 = row.get_r_by_index(0).unwrap();
        let first: chrono::DateTime<chrono::Utc> = row.get_r_by_index(1).unwrap();
        let last: chrono::DateTime<chrono::Utc> = row.get_r_by_index(2).unwrap();
        assert_eq!(count, n as i64, "{codec}: cities in latest");
        let span = (last - first).to_std().unwrap_or_default().as_secs_f64();
        crate::util::drop_keyspace(&keyspace).await;

        // The steady shape: meteo's own producer sending readings one at a time, each
        // acknowledged before the next, as at the API's pace (the free plan: one a second):
        // a batch per reading.
        let steady_topic = crate::produce::fresh_topic().await;
        let publisher = Publisher::new(&kafka_settings(&steady_topic), compression(codec)).unwrap();
        let synthetic = meteo::synthetic::Synthetic::new(7, Duration::from_secs(600));
        for i in 0..steady_cities {
            let city = meteo::city::City {
                id: 100_000 + i as i64,
                name: format!("Ville {i}"),
                country: "FR".into(),
                lat: 43.0 + i as f64 * 0.01,
                lon: 2.0,
            };
            let reading = synthetic.current(&city, chrono::Utc::now());
            publisher
                .publish(&reading, tokio::sync::watch::channel(None).1)
                .await
                .unwrap();
        }
        let steady = batches(&steady_topic);
        // Full batches: the same producer handed 2,000 readings at once (a backlog after an
        // outage), so every codec gets batches as full as linger.ms makes them.
        let full_topic = crate::produce::fresh_topic().await;
        let publisher = Publisher::new(&kafka_settings(&full_topic), compression(codec)).unwrap();
        let readings: Vec<_> = (0..FULL_READINGS)
            .map(|i| {
                let city = meteo::city::City {
                    id: 100_000 + i,
                    name: format!("Ville {i}"),
                    country: "FR".into(),
                    lat: 43.0 + (i % 500) as f64 * 0.01,
                    lon: 2.0,
                };
                synthetic.current(&city, chrono::Utc::now())
            })
            .collect();
        let sent = futures::future::join_all(
            readings
                .iter()
                .map(|r| publisher.publish(r, tokio::sync::watch::channel(None).1)),
        )
        .await;
        assert!(sent.iter().all(Result::is_ok), "{codec}: full batches");
        let full = batches(&full_topic);
        rows.push(Figures {
            codec: codec.to_string(),
            burst_bytes: burst.iter().map(|b| b.bytes).sum(),
            burst_batches: burst.len(),
            producer_cpu,
            producer_wall: produced.took,
            consumer_cpu,
            consumer_rate: n as f64 / span.max(0.001),
            steady_bytes: steady.iter().map(|b| b.bytes).sum(),
            steady_batches: steady.len(),
            steady_readings: steady.iter().map(|b| i64::from(b.records)).sum(),
            full_bytes: full.iter().map(|b| b.bytes).sum(),
            full_batches: full.len(),
        });
    }

    let none = rows.iter().find(|r| r.codec == "none");
    let mut table = format!(
        "\n== bench: compression, {n} synthetic readings in one burst (produce --once, 6 partitions), then consumed; \
         steady: {steady_cities} readings sent one at a time; full: {FULL_READINGS} handed over at once\n\
         {:<7} {:>12} {:>8} {:>10} {:>7} {:>13} {:>12} {:>13} {:>14} {:>13} {:>14} {:>11} {:>12}\n",
        "codec", "broker bytes", "batches", "B/reading", "ratio", "producer CPU", "producer s", "consumer CPU", "consumer rd/s", "steady B/rd", "steady rd/batch", "full B/rd", "full rd/batch"
    );
    for r in &rows {
        let per = r.burst_bytes as f64 / n as f64;
        let ratio = none.map_or(String::from("-"), |none| {
            format!("{:.2}x", none.burst_bytes as f64 / r.burst_bytes as f64)
        });
        table += &format!(
            "{:<7} {:>12} {:>8} {:>10.1} {:>7} {:>12.2}s {:>11.2}s {:>12.2}s {:>14.0} {:>13.1} {:>14.2} {:>11.1} {:>12.1}\n",
            r.codec,
            r.burst_bytes,
            r.burst_batches,
            per,
            ratio,
            r.producer_cpu.as_secs_f64(),
            r.producer_wall.as_secs_f64(),
            r.consumer_cpu.as_secs_f64(),
            r.consumer_rate,
            r.steady_bytes as f64 / r.steady_readings.max(1) as f64,
            r.steady_readings as f64 / r.steady_batches.max(1) as f64,
            r.full_bytes as f64 / FULL_READINGS as f64,
            FULL_READINGS as f64 / r.full_batches.max(1) as f64,
        );
    }
    println!("{table}");
}
