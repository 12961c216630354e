//! Shared helpers: where the services are, unique names so tests can run in parallel, and
//! running the real `meteo` binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use meteo::settings::{CassandraSettings, KafkaSettings};
use meteo::store::CassandraSession;

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
    KafkaSettings {
        brokers: brokers(),
        topic: topic.to_string(),
        options: Vec::new(),
    }
}

pub fn cassandra_settings(keyspace: &str) -> CassandraSettings {
    CassandraSettings {
        nodes: cassandra_nodes().split(',').map(str::to_string).collect(),
        keyspace: keyspace.to_string(),
        user: std::env::var("CASSANDRA_USER").ok(),
        password: std::env::var("CASSANDRA_PASSWORD")
            .ok()
            .map(meteo::settings::Secret::new),
    }
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
