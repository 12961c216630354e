//! Shared helpers: where the services are, unique names so tests can run in parallel, and
//! running the real `meteo` binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use meteo::kafka::{Brokers, KafkaSettings, TopicName};
use meteo::store::{CassandraSession, CassandraSettings};

pub fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

pub fn cassandra_nodes() -> String {
    std::env::var("CASSANDRA_NODES").unwrap_or_else(|_| "127.0.0.1:9042".into())
}

/// A name no other test (or earlier run) uses: `prefix_<pid>_<n>_<millis>`.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        % 100_000_000;
    format!("{prefix}_{}_{n}_{millis}", std::process::id())
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn kafka_settings(topic: &str) -> KafkaSettings {
    KafkaSettings::new(
        Brokers::parse(&brokers()).unwrap_or_else(|e| panic!("KAFKA_BROKERS: {e}")),
        TopicName::parse(topic).unwrap_or_else(|e| panic!("{e}")),
    )
}

/// `meteo COMMAND` as it would be parsed in this environment (nodes, login, TLS) for
/// `keyspace`.
pub fn parsed(keyspace: &str, command: &str) -> meteo::cli::Cli {
    let nodes = cassandra_nodes();
    meteo::cli::Cli::checked_from([
        "meteo",
        "--cassandra",
        &nodes,
        "--keyspace",
        keyspace,
        command,
    ])
    .unwrap_or_else(|e| panic!("the Cassandra settings of this environment: {e}"))
}

/// The settings `meteo` itself would take from this environment (login, TLS) for `keyspace`.
pub fn cassandra_settings(keyspace: &str) -> CassandraSettings {
    parsed(keyspace, "migrate").global.cassandra()
}

/// A session on `keyspace` (which must exist), failing the test when Cassandra is missing.
pub async fn session(keyspace: Option<&str>) -> Arc<CassandraSession> {
    let settings = cassandra_settings(keyspace.unwrap_or("unused"));
    meteo::store::connect(&settings, keyspace)
        .await
        .unwrap_or_else(|e| panic!("Cassandra at {} is required: {e:#}", cassandra_nodes()))
}

/// The `meteo` binary with the test services configured and no stray METEO_* settings.
pub fn meteo() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_meteo"));
    for (key, _) in std::env::vars() {
        if key.starts_with("METEO_") || key == "OWM_API_KEY" {
            cmd.env_remove(key);
        }
    }
    cmd.env("KAFKA_BROKERS", brokers())
        .env("CASSANDRA_NODES", cassandra_nodes())
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .current_dir(repo());
    cmd
}

/// What a finished `meteo` run printed, for assertions with readable failures.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl Run {
    pub fn describe(&self) -> String {
        format!(
            "exit {:?} after {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.took, self.stdout, self.stderr
        )
    }

    /// The lines starting with `meteo: error:`.
    pub fn error_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("meteo: error:"))
            .collect()
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(self.code, Some(0), "{}", self.describe());
        self
    }

    /// Exit code 1 with exactly one error line containing every `needle`.
    #[track_caller]
    pub fn assert_fails_with(&self, needles: &[&str]) -> &Self {
        assert_eq!(self.code, Some(1), "{}", self.describe());
        let errors = self.error_lines();
        assert_eq!(
            errors.len(),
            1,
            "one error line expected\n{}",
            self.describe()
        );
        for needle in needles {
            assert!(
                errors[0].contains(needle),
                "error line lacks {needle:?}\n{}",
                self.describe()
            );
        }
        self
    }
}

pub fn run(mut cmd: Command) -> Run {
    let start = Instant::now();
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("running meteo");
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        took: start.elapsed(),
    }
}

/// [`run`], but a command still running after `limit` is killed and fails the test, rather
/// than hanging it.
pub fn run_within(cmd: Command, limit: Duration) -> Run {
    let start = Instant::now();
    let mut background = Background::start(cmd);
    let code = background.wait(limit);
    Run {
        code,
        stdout: background.stdout(),
        stderr: background.stderr(),
        took: start.elapsed(),
    }
}

/// `meteo migrate` into a fresh keyspace and topic; returns (keyspace, topic).
pub fn migrated(extra: &[&str]) -> (String, String) {
    let keyspace = unique("t");
    let topic = unique("t");
    let mut cmd = meteo();
    cmd.args(["--keyspace", &keyspace, "--topic", &topic, "migrate"])
        .args(extra);
    run(cmd).assert_ok();
    (keyspace, topic)
}

/// Best-effort clean-up so repeated runs do not pile up keyspaces.
pub async fn drop_keyspace(keyspace: &str) {
    let session = session(None).await;
    let _ = meteo::store::ddl(&session, &format!("DROP KEYSPACE IF EXISTS {keyspace}")).await;
}

/// A copy of the project's cql folder in a fresh temporary directory.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(name));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn copy_cql(into: &Path) {
    for entry in std::fs::read_dir(repo().join("cql")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), into.join(entry.file_name())).unwrap();
    }
}

/// A reading of `city_id` observed `minutes_ago` minutes before this test process started
/// (whole minutes, so the same arguments always give the same row), built from the example
/// of docs/design.md.
pub fn reading(city_id: i64, minutes_ago: i64) -> meteo::model::Reading {
    static START: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let mut r: meteo::model::Reading =
        serde_json::from_str(include_str!("../data/reading.json")).unwrap();
    let now = *START.get_or_init(|| chrono::Utc::now().timestamp());
    r.city_id = city_id;
    r.city_name = format!("Ville {city_id}");
    r.observed_at = chrono::DateTime::from_timestamp(now - now % 60 - minutes_ago * 60, 0).unwrap();
    // Fetched just after it was observed: an observation after its own fetch is refused.
    r.fetched_at = Some(r.observed_at + chrono::Duration::seconds(40));
    r.temperature = (city_id % 30) as f64 + minutes_ago as f64 / 100.0;
    r
}

/// A Kafka record as tests build it: key and value, either possibly absent.
pub type KeyValue = (Option<Vec<u8>>, Option<Vec<u8>>);

/// Sends every (key, value) to `topic` and waits for every acknowledgement.
pub async fn produce(topic: &str, records: &[KeyValue]) {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let producer: FutureProducer = meteo::kafka::client_config(&kafka_settings(topic))
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        // Room for the 1 MB poison record; the broker's own limit is 1 MiB.
        .set("message.max.bytes", "1048000")
        .create()
        .unwrap();
    // Enqueue everything first, then wait for the acknowledgements: one round trip per
    // batch, not per record.
    let mut deliveries = Vec::new();
    for (key, value) in records {
        let mut record = FutureRecord::<[u8], [u8]>::to(topic);
        if let Some(k) = key {
            record = record.key(k.as_slice());
        }
        if let Some(v) = value {
            record = record.payload(v.as_slice());
        }
        loop {
            match producer.send_result(record) {
                Ok(delivery) => {
                    deliveries.push(delivery);
                    break;
                }
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    back,
                )) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err((err, _)) => panic!("Kafka refused a test record: {err}"),
            }
        }
    }
    for delivery in deliveries {
        delivery
            .await
            .expect("delivery future dropped")
            .map_err(|(e, _)| e)
            .expect("Kafka did not acknowledge a test record");
    }
}

/// The key and value of a valid reading message.
pub fn message(r: &meteo::model::Reading) -> KeyValue {
    (
        Some(r.city_id.to_string().into_bytes()),
        Some(serde_json::to_vec(r).unwrap()),
    )
}

/// Runs `scripts/services ARGS` with this process's settings; panics when it fails.
pub fn services(args: &[&str]) -> String {
    let out = std::process::Command::new(repo().join("scripts/services"))
        .args(args)
        .output()
        .expect("running scripts/services");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "scripts/services {args:?} failed:\n{text}"
    );
    text
}

/// Rows in `readings` of `keyspace`.
pub async fn count_readings(session: &CassandraSession) -> i64 {
    let rows = meteo::store::rows(
        meteo::store::query(session, "SELECT COUNT(*) FROM readings")
            .await
            .unwrap(),
    )
    .unwrap();
    cdrs_tokio::types::IntoRustByIndex::get_r_by_index(&rows[0], 0).unwrap()
}

/// Polls `check` every 200 ms until it is true or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every record of `topic` from its start, read by a throwaway group until `count` arrived.
pub async fn read_topic(topic: &str, count: usize) -> Vec<rdkafka::message::OwnedMessage> {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    let consumer: StreamConsumer = meteo::kafka::client_config(&kafka_settings(topic))
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut out = Vec::new();
    while out.len() < count {
        let message = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .unwrap_or_else(|_| panic!("only {} of {count} records in {topic}", out.len()))
            .unwrap();
        out.push(message.detach());
    }
    out
}

/// A `meteo` process running in the background, its stderr and stdout going to files (a pipe
/// nobody reads would fill up and block it).
pub struct Background {
    pub child: std::process::Child,
    pub log: PathBuf,
    pub out: PathBuf,
}

impl Background {
    pub fn start(mut cmd: Command) -> Background {
        let name = unique("meteo");
        let log = std::env::temp_dir().join(format!("{name}.log"));
        let out = std::env::temp_dir().join(format!("{name}.out"));
        let child = cmd
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("starting meteo");
        Background { child, log, out }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Waits for the exit within `limit`: the exit code (None when killed by a signal).
    pub fn wait(&mut self, limit: Duration) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                panic!("meteo did not exit within {limit:?}\n{}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
