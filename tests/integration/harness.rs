//! The whole pipeline as a user runs it, for the end-to-end test and the fault runs: the fake
//! weather API serving French cities whose observations change every few seconds,
//! `meteo migrate` into a fresh keyspace and topic, then `meteo produce` and `meteo consume`
//! as separate processes that a test may stop, kill and start again ([`Pipeline`]).
//!
//! [`Pipeline::finish`] is the one end check: what the API served is what the topic holds;
//! every valid record of the topic is in `readings` once, with the values served, and nothing
//! else is; `latest` holds each city's newest; every invalid record is in `<topic>.dlq` once;
//! the group's committed offsets are the topic's end (lag zero); no process printed the key.
//! Used from the integration tests and, through `#[path]`, from the fault tests.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use meteo::kafka::{client_config, topic_partitions};
use meteo::model::Reading;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{json, Value};

use crate::fake_owm::{Answer, DtModel, FakeOwm, Served};
use crate::util::{
    count_readings, drop_keyspace, kafka_settings, meteo, migrated, repo, session, temp_dir,
    unique, Background,
};

/// The API key the producer gets: no output of any process may ever contain it.
pub const KEY: &str = "owm-FAKE-e2e-key-93c1f7d2a6";

/// Seconds between two observations of a city (the real API: 10 minutes).
pub const CADENCE: i64 = 4;

/// How long the producer waits for an answer; the fake's slow answers take longer. Generous:
/// an answer the fake sent but the producer gave up on would count as lost.
pub const API_TIMEOUT: Duration = Duration::from_secs(5);

/// `n` cities of the project's own list (`data/cities.fr.json`), spread over it, accents
/// included: (id, name, lat, lon).
pub fn french_cities(n: usize) -> Vec<(i64, String, f64, f64)> {
    let text = std::fs::read_to_string(repo().join("data/cities.fr.json")).unwrap();
    let all: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert!(
        all.len() >= n,
        "data/cities.fr.json has {} cities",
        all.len()
    );
    let step = all.len() / n;
    all.iter()
        .step_by(step)
        .take(n)
        .map(|c| {
            (
                c["id"].as_i64().unwrap(),
                c["name"].as_str().unwrap().to_string(),
                c["lat"].as_f64().unwrap(),
                c["lon"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// A `meteo` process that has ended, and what it printed.
#[derive(Debug, Clone)]
pub struct Ended {
    pub role: &'static str,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// What the end check counted.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Distinct observations the API served (city, dt).
    pub served: usize,
    /// Records in the topic, valid and invalid.
    pub records: usize,
    /// Valid records beyond the first of their observation (a producer restarted re-publishes
    /// the observation it last saw; the consumer stores it once).
    pub republished: usize,
    /// Invalid records in the topic (all found in the dead-letter topic, once).
    pub invalid: usize,
    /// Rows in `readings`.
    pub rows: usize,
    /// Distinct (city, dt) per city: the newest, as `latest` must hold it.
    pub newest: BTreeMap<i64, Served>,
}

/// One running pipeline on its own topic, keyspace and consumer group.
pub struct Pipeline {
    pub fake: FakeOwm,
    pub keyspace: String,
    pub topic: String,
    pub group: String,
    pub cities: Vec<(i64, String)>,
    list: PathBuf,
    producer: Option<Background>,
    consumer: Option<Background>,
    pub ended: Vec<Ended>,
    started: Instant,
    /// The ports the producer and the consumer serve their metrics on, when they do.
    metrics_ports: Option<(u16, u16)>,
}

impl Pipeline {
    /// The fake API serving `n` cities, a migrated keyspace and topic; nothing runs yet.
    pub fn new(n: usize) -> Pipeline {
        Pipeline::migrated_with(n, &[])
    }

    /// [`Pipeline::new`], with these options to `meteo migrate` (replication on a cluster).
    pub fn migrated_with(n: usize, migrate: &[&str]) -> Pipeline {
        let fake = FakeOwm::start(DtModel::Cadence {
            period: CADENCE,
            jitter: 1,
        });
        let chosen = french_cities(n);
        for (id, name, _, _) in &chosen {
            fake.script(*id, name, vec![Answer::Varying]);
        }
        let entries: Vec<Value> = chosen
            .iter()
            .map(|(id, name, lat, lon)| {
                json!({"id": id, "name": name, "country": "FR", "lat": lat, "lon": lon})
            })
            .collect();
        let list = temp_dir("e2e").join("cities.json");
        std::fs::write(&list, serde_json::to_vec_pretty(&entries).unwrap()).unwrap();
        let (keyspace, topic) = migrated(migrate);
        Pipeline {
            fake,
            keyspace,
            topic,
            group: unique("e2e"),
            cities: chosen
                .into_iter()
                .map(|(id, name, _, _)| (id, name))
                .collect(),
            list,
            producer: None,
            consumer: None,
            ended: Vec::new(),
            started: Instant::now(),
            metrics_ports: None,
        }
    }

    /// Starts `meteo produce` against the fake API, every city refreshed each cadence.
    pub fn start_producer(&mut self) {
        assert!(self.producer.is_none(), "the producer already runs");
        let interval = format!("{CADENCE}s");
        let timeout = format!("{}s", API_TIMEOUT.as_secs());
        let mut cmd = meteo();
        cmd.env("OWM_API_KEY", KEY)
            .args(["--topic", &self.topic, "produce"])
            .args(["--api-url", &self.fake.url(), "--interval", &interval])
            .args(["--rate", "100000", "--monthly-quota", "1000000000000"])
            .args(["--api-timeout", &timeout])
            .arg("--cities")
            .arg(&self.list);
        if let Some((port, _)) = self.metrics_ports {
            cmd.args(["--metrics-addr", &format!("127.0.0.1:{port}")]);
        }
        self.producer = Some(Background::start(cmd));
    }

    /// Starts `meteo consume` in the pipeline's group.
    pub fn start_consumer(&mut self) {
        assert!(self.consumer.is_none(), "the consumer already runs");
        let mut cmd = self.consumer_command();
        if let Some((_, port)) = self.metrics_ports {
            cmd.args(["--metrics-addr", &format!("127.0.0.1:{port}")]);
        }
        self.consumer = Some(Background::start(cmd));
    }

    /// The `meteo consume` command of the pipeline's group (more members start from it).
    pub fn consumer_command(&self) -> std::process::Command {
        let mut cmd = meteo();
        cmd.args(["--keyspace", &self.keyspace, "--topic", &self.topic])
            .args(["consume", "--group", &self.group, "--stats-interval", "5s"]);
        cmd
    }

    /// The processes started from now on serve /metrics, /healthz and /readyz on these ports
    /// of 127.0.0.1.
    pub fn serve_metrics(&mut self, producer: u16, consumer: u16) {
        self.metrics_ports = Some((producer, consumer));
    }

    /// The port the consumer serves /metrics on, when it does.
    pub fn consumer_metrics_port(&self) -> Option<u16> {
        self.metrics_ports.map(|(_, consumer)| consumer)
    }

    /// SIGTERM: the producer finishes its calls, flushes and exits 0.
    pub fn stop_producer(&mut self) -> Ended {
        let process = self.producer.take().expect("the producer is not running");
        self.end("producer", process, "TERM", Some(0))
    }

    /// SIGTERM: the consumer drains, commits and exits 0.
    pub fn stop_consumer(&mut self) -> Ended {
        let process = self.consumer.take().expect("the consumer is not running");
        self.end("consumer", process, "TERM", Some(0))
    }

    /// `kill -9` the consumer: no drain, no commit.
    pub fn kill_consumer(&mut self) -> Ended {
        let process = self.consumer.take().expect("the consumer is not running");
        self.end("consumer", process, "KILL", None)
    }

    fn end(
        &mut self,
        role: &'static str,
        mut process: Background,
        signal: &str,
        expected: Option<i32>,
    ) -> Ended {
        assert!(
            process.is_running(),
            "the {role} died before SIG{signal}:\n{}",
            process.stderr()
        );
        process.signal(signal);
        let code = process.wait(Duration::from_secs(60));
        let ended = Ended {
            role,
            code,
            stdout: process.stdout(),
            stderr: process.stderr(),
        };
        assert_eq!(
            code, expected,
            "the {role} after SIG{signal}\n--- stdout\n{}--- stderr\n{}",
            ended.stdout, ended.stderr
        );
        self.ended.push(ended.clone());
        ended
    }

    /// Fails the test when a process that should run has exited.
    pub fn assert_running(&mut self) {
        for (role, process) in [
            ("producer", &mut self.producer),
            ("consumer", &mut self.consumer),
        ] {
            if let Some(p) = process {
                assert!(p.is_running(), "the {role} exited:\n{}", p.stderr());
            }
        }
    }

    /// Everything the processes of `role` wrote to stderr so far, ended ones first.
    pub fn log(&self, role: &str) -> String {
        let mut text: String = self
            .ended
            .iter()
            .filter(|e| e.role == role)
            .map(|e| e.stderr.clone())
            .collect();
        let running = if role == "producer" {
            &self.producer
        } else {
            &self.consumer
        };
        if let Some(p) = running {
            text += &p.stderr();
        }
        text
    }

    /// Rows in `readings` now.
    /// Records the producer published so far.
    pub fn published(&self) -> i64 {
        topic_end(&self.topic)
    }

    pub async fn rows(&self) -> i64 {
        let session = session(Some(&self.keyspace)).await;
        count_readings(&session).await
    }

    /// Waits until `readings` holds more than `rows` rows; returns the count.
    pub async fn wait_for_rows_above(&self, rows: i64, limit: Duration) -> i64 {
        let session = session(Some(&self.keyspace)).await;
        let start = Instant::now();
        loop {
            let seen = count_readings(&session).await;
            if seen > rows {
                return seen;
            }
            assert!(
                start.elapsed() < limit,
                "still {seen} rows in readings after {limit:?}, waiting for more than {rows}\n--- producer\n{}--- consumer\n{}",
                self.log("producer"),
                self.log("consumer")
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Observations served in `[from, to)`.
    pub fn served_between(&self, from: Instant, to: Instant) -> Vec<Served> {
        self.fake
            .served()
            .into_iter()
            .filter(|s| s.at >= from && s.at < to)
            .collect()
    }

    /// Stops the producer (SIGTERM), waits for the consumer to commit the topic's end, stops it
    /// (SIGTERM), then checks everything (module doc). Panics with the evidence on a failure.
    pub async fn finish(&mut self) -> Outcome {
        if self.producer.is_some() {
            self.stop_producer();
        }
        self.assert_running();
        let records = read_all(&self.topic);

        // The topic: exactly the observations the API served, plus invalid records.
        let mut valid: BTreeMap<(i64, i64), Reading> = BTreeMap::new();
        let mut republished = 0;
        let mut invalid = Vec::new();
        for record in &records {
            match Reading::from_message(record.key.as_deref(), record.value.as_deref()) {
                Ok(reading) => {
                    let id = (reading.city_id, reading.observed_at.timestamp());
                    if valid.insert(id, reading).is_some() {
                        republished += 1;
                    }
                }
                Err(_) => invalid.push(record.clone()),
            }
        }
        let mut served: BTreeMap<(i64, i64), Served> = BTreeMap::new();
        for s in self.fake.served() {
            served.entry((s.city_id, s.dt)).or_insert(s);
        }
        let lost: Vec<_> = served.keys().filter(|k| !valid.contains_key(k)).collect();
        assert!(
            lost.is_empty(),
            "{} of {} observations served by the API are not in the topic: {lost:?}\n{}",
            lost.len(),
            served.len(),
            self.log("producer")
        );
        let invented: Vec<_> = valid.keys().filter(|k| !served.contains_key(k)).collect();
        assert!(
            invented.is_empty(),
            "observations in the topic the API never served: {invented:?}"
        );

        // Lag zero: the group commits the end of every partition, then stops cleanly.
        let group = self.group.clone();
        let topic = self.topic.clone();
        let start = std::time::Instant::now();
        loop {
            let lag = group_lag(&topic, &group);
            if lag.iter().all(|(_, l)| *l == 0) {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "the consumer group has not committed the end of the topic after 120 s; \
                 lag per partition: {lag:?}\n{}",
                self.log("consumer")
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        self.stop_consumer();
        let lag = group_lag(&self.topic, &self.group);
        assert!(
            lag.iter().all(|(_, l)| *l == 0),
            "lag after the consumer stopped: {lag:?}"
        );

        // readings: each valid observation once, with the values served; nothing else.
        let session = session(Some(&self.keyspace)).await;
        let rows = count_readings(&session).await as usize;
        let mut stored: BTreeMap<(i64, i64), Reading> = BTreeMap::new();
        let days: BTreeSet<(i64, chrono::NaiveDate)> =
            valid.values().map(|r| (r.city_id, r.day())).collect();
        for (city_id, day) in days {
            for r in meteo::store::readings::readings_on(&session, city_id, day)
                .await
                .unwrap()
            {
                let id = (r.city_id, r.observed_at.timestamp());
                assert!(stored.insert(id, r).is_none(), "row {id:?} read twice");
            }
        }
        let missing: Vec<_> = valid.keys().filter(|k| !stored.contains_key(k)).collect();
        assert!(
            missing.is_empty(),
            "{} of {} observations in the topic are not in readings: {missing:?}\n{}",
            missing.len(),
            valid.len(),
            self.log("consumer")
        );
        assert_eq!(
            rows,
            valid.len(),
            "readings holds rows that are not observations of the topic"
        );
        assert_eq!(stored.len(), valid.len());
        for (id, row) in &stored {
            let s = &served[id];
            assert_eq!(
                (row.city_name.as_str(), row.temperature, row.humidity as i64),
                (s.name.as_str(), s.temperature, s.humidity),
                "the values of observation {id:?}"
            );
            assert_eq!(row.country, "FR");
            assert_eq!(row.source.as_deref(), Some("owm"));
        }

        // latest: each city's newest observation.
        let mut newest: BTreeMap<i64, Served> = BTreeMap::new();
        for s in served.values() {
            if newest.get(&s.city_id).is_none_or(|n| n.dt < s.dt) {
                newest.insert(s.city_id, s.clone());
            }
        }
        let latest = meteo::store::readings::latest(&session, "FR")
            .await
            .unwrap();
        assert_eq!(latest.len(), newest.len(), "one latest row per city served");
        for row in &latest {
            let s = &newest[&row.city_id];
            assert_eq!(
                (
                    row.observed_at.timestamp(),
                    row.city_name.as_str(),
                    row.temperature,
                    row.humidity as i64
                ),
                (s.dt, s.name.as_str(), s.temperature, s.humidity),
                "latest of city {}",
                row.city_id
            );
        }

        // The dead-letter topic: every invalid record once, unchanged, with its origin.
        let dead = read_all(&format!("{}.dlq", self.topic));
        assert_eq!(
            dead.len(),
            invalid.len(),
            "dead letters for {} invalid records",
            invalid.len()
        );
        for record in &invalid {
            let origin = (record.partition.to_string(), record.offset.to_string());
            let found: Vec<_> = dead
                .iter()
                .filter(|d| {
                    d.header("meteo.partition") == Some(origin.0.clone())
                        && d.header("meteo.offset") == Some(origin.1.clone())
                })
                .collect();
            assert_eq!(found.len(), 1, "dead letters of {origin:?}");
            assert_eq!(
                (&found[0].key, &found[0].value),
                (&record.key, &record.value)
            );
            assert!(found[0]
                .header("meteo.error")
                .is_some_and(|e| !e.is_empty()));
        }

        // The key: in no output of any process.
        for e in &self.ended {
            assert!(
                !e.stdout.contains(KEY) && !e.stderr.contains(KEY),
                "the {} printed the API key",
                e.role
            );
        }
        eprintln!(
            "end check: {} observations served by the API, {} records in the topic ({} re-published, \
             {} invalid), {} rows in readings, {} cities in latest, {} dead letters, lag 0; \
             {:.0} s since the pipeline was set up",
            served.len(),
            records.len(),
            republished,
            invalid.len(),
            rows,
            latest.len(),
            dead.len(),
            self.started.elapsed().as_secs_f64()
        );
        Outcome {
            served: served.len(),
            records: records.len(),
            republished,
            invalid: invalid.len(),
            rows,
            newest,
        }
    }

    /// Best-effort clean-up of the keyspace (topics are left: they are small).
    pub async fn drop_keyspace(&self) {
        drop_keyspace(&self.keyspace).await;
    }
}

/// A record copied out of Kafka.
#[derive(Debug, Clone)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, String)>,
}

impl Record {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// Every record of `topic`, up to the high watermarks as they are now.
pub fn read_all(topic: &str) -> Vec<Record> {
    let settings = kafka_settings(topic);
    let consumer: BaseConsumer = client_config(&settings)
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let partitions = topic_partitions(&settings, Duration::from_secs(10)).unwrap()[topic];
    let mut list = TopicPartitionList::new();
    let mut remaining = 0;
    for p in 0..partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .unwrap();
        if high > low {
            list.add_partition_offset(topic, p, Offset::Beginning)
                .unwrap();
            remaining += high - low;
        }
    }
    let mut out = Vec::new();
    if remaining == 0 {
        return out;
    }
    consumer.assign(&list).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while remaining > 0 && Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(500)) {
            let message = message.unwrap();
            let headers = message
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| {
                            (
                                h.key.to_string(),
                                String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            out.push(Record {
                partition: message.partition(),
                offset: message.offset(),
                key: message.key().map(<[u8]>::to_vec),
                value: message.payload().map(<[u8]>::to_vec),
                headers,
            });
            remaining -= 1;
        }
    }
    assert_eq!(remaining, 0, "not every record of {topic} could be read");
    out
}

/// Per partition: the end offset minus the group's committed offset (the start when it
/// committed nothing).
/// Records published to `topic` so far: the sum of its partitions' end offsets.
pub fn topic_end(topic: &str) -> i64 {
    let settings = kafka_settings(topic);
    let consumer: BaseConsumer = client_config(&settings).create().unwrap();
    let partitions = topic_partitions(&settings, Duration::from_secs(10)).unwrap()[topic];
    (0..partitions)
        .map(|p| {
            // Just after a broker restart the leaders are still moving: ask again.
            let mut tries = 0;
            loop {
                match consumer.fetch_watermarks(topic, p, Duration::from_secs(10)) {
                    Ok((_, high)) => break high,
                    Err(err) if tries < 50 => {
                        tries += 1;
                        eprintln!("end offset of {topic}/{p}: {err}; asking again");
                        std::thread::sleep(Duration::from_millis(200));
                    }
                    Err(err) => panic!("end offset of {topic}/{p}: {err}"),
                }
            }
        })
        .sum()
}

/// The offsets `group` committed on every partition of `topic`, the topic's partition count,
/// and the consumer that asked (not subscribed: it only asks the coordinator, it does not
/// join the group).
pub fn committed_offsets(topic: &str, group: &str) -> (BaseConsumer, i32, TopicPartitionList) {
    let settings = kafka_settings(topic);
    let consumer: BaseConsumer = client_config(&settings)
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let partitions = topic_partitions(&settings, Duration::from_secs(10)).unwrap()[topic];
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition(topic, p);
    }
    let committed = consumer
        .committed_offsets(list, Duration::from_secs(10))
        .unwrap();
    (consumer, partitions, committed)
}

pub fn group_lag(topic: &str, group: &str) -> Vec<(i32, i64)> {
    let (consumer, partitions, committed) = committed_offsets(topic, group);
    (0..partitions)
        .map(|p| {
            let (low, high) = consumer
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .unwrap();
            let at = match committed.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => low,
            };
            (p, high - at)
        })
        .collect()
}
