//! meteo against the secured pair (`SERVICES_SECURE=1 scripts/services up`): Kafka on SASL_SSL
//! with SCRAM-SHA-512, Cassandra with logins and TLS. The whole pipeline through them, each
//! refusal in one line within two seconds, and no secret in any output. `scripts/test` runs
//! this after the other suites, with the secured pair's exports; without them every test
//! fails (it never skips).

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};

/// An exported variable of the secured pair; its absence fails the test.
fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run these tests with the exports of `SERVICES_SECURE=1 scripts/services env` (scripts/test does)")
    })
}

fn unique(prefix: &str) -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        % 100_000_000;
    format!("{prefix}_{}_{millis}", std::process::id())
}

/// Every secret of the secured pair, as written in its files.
fn secrets() -> Vec<String> {
    let mut found = vec![
        read_trimmed(&var("CASSANDRA_PASSWORD_FILE")),
        read_trimmed(&var("METEO_TEST_CASSANDRA_READER_PASSWORD_FILE")),
    ];
    let properties = std::fs::read_to_string(var("METEO_KAFKA_CONFIG")).unwrap();
    found.extend(
        properties
            .lines()
            .filter_map(|l| l.trim().strip_prefix("sasl.password="))
            .map(str::to_string),
    );
    assert!(
        found.iter().all(|s| s.len() >= 8),
        "secrets too short to search for"
    );
    found
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .trim_end()
        .to_string()
}

/// What a run printed, and how long it took.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Run {
    fn describe(&self) -> String {
        format!(
            "exit {:?} after {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.took, self.stdout, self.stderr
        )
    }

    /// Exit 1 with one error line holding every needle, within two seconds.
    #[track_caller]
    fn assert_refused(&self, needles: &[&str]) {
        assert_eq!(self.code, Some(1), "{}", self.describe());
        let errors: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("meteo: error:"))
            .collect();
        assert_eq!(errors.len(), 1, "{}", self.describe());
        for needle in needles {
            assert!(
                errors[0].contains(needle),
                "lacks {needle:?}\n{}",
                self.describe()
            );
        }
        assert!(self.took < Duration::from_secs(2), "{}", self.describe());
    }
}

/// `meteo` with the secured pair's exports (inherited) and `env` on top.
fn meteo(args: &[&str], env: &[(&str, &str)], unset: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_meteo"));
    cmd.args(args)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    for k in unset {
        cmd.env_remove(k);
    }
    let start = Instant::now();
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("running meteo");
    let run = Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        took: start.elapsed(),
    };
    assert_no_secret(&run);
    run
}

/// No password, raw or URL-encoded, in anything a run printed.
#[track_caller]
fn assert_no_secret(run: &Run) {
    for secret in secrets() {
        let encoded: String = secret
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        for form in [&secret, &encoded] {
            assert!(
                !run.stdout.contains(form.as_str()) && !run.stderr.contains(form.as_str()),
                "a secret was printed\n{}",
                run.describe()
            );
        }
    }
}

/// The Kafka settings meteo itself takes from this environment.
fn kafka(topic: &str) -> meteo::kafka::KafkaSettings {
    let cli = meteo::cli::Cli::checked_from(["meteo", "--topic", topic, "migrate"]).unwrap();
    cli.global.kafka()
}

fn cassandra(keyspace: &str) -> meteo::store::CassandraSettings {
    let cli = meteo::cli::Cli::checked_from(["meteo", "--keyspace", keyspace, "migrate"]).unwrap();
    cli.global.cassandra()
}

/// Every record of `topic` as (key, value, the `meteo.error` header).
fn read_topic(topic: &str) -> Vec<(String, String, Option<String>)> {
    let consumer: BaseConsumer = meteo::kafka::config::client_config(&kafka(topic))
        .set("group.id", unique("reader"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[topic]).unwrap();
    let mut records = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut idle_since = Instant::now();
    while Instant::now() < deadline && idle_since.elapsed() < Duration::from_secs(4) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            idle_since = Instant::now();
            let header = m.headers().and_then(|h| {
                h.iter()
                    .find(|h| h.key == "meteo.error")
                    .and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).into_owned()))
            });
            records.push((
                String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
                header,
            ));
        }
    }
    records
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn logged_number(stderr: &str, key: &str) -> Option<u64> {
    stderr.lines().rev().find_map(|line| {
        let start = line.find(&format!("{key}="))? + key.len() + 1;
        line[start..]
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_whole_pipeline_runs_through_sasl_ssl_and_cassandra_tls() {
    var("METEO_TEST_SECURE");
    let keyspace = unique("sec");
    let topic = unique("sec");
    let base = ["--keyspace", keyspace.as_str(), "--topic", topic.as_str()];
    let with =
        |rest: &[&str]| -> Vec<String> { base.iter().chain(rest).map(|s| s.to_string()).collect() };

    let migrate = meteo(&args(&with(&["migrate"])), &[], &[]);
    assert_eq!(migrate.code, Some(0), "{}", migrate.describe());

    let produce = meteo(
        &args(&with(&[
            "produce",
            "--once",
            "--source",
            "synthetic",
            "--seed",
            "7",
        ])),
        &[],
        &[],
    );
    assert_eq!(produce.code, Some(0), "{}", produce.describe());
    let published = read_topic(&topic);
    assert!(published.len() > 100, "{} readings", published.len());

    // A poison record, through the secured producer: it must reach the dead-letter topic
    // through the consumer's secured dead-letter producer.
    let producer: FutureProducer = meteo::kafka::config::client_config(&kafka(&topic))
        .create()
        .unwrap();
    producer
        .send(
            FutureRecord::to(&topic).key("1").payload("not a reading"),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .expect("the secured broker takes a record");

    let consume = meteo(
        &args(&with(&[
            "consume",
            "--group",
            &unique("g"),
            "--until-idle",
            "3s",
        ])),
        &[],
        &[],
    );
    assert_eq!(consume.code, Some(0), "{}", consume.describe());
    assert_eq!(
        logged_number(&consume.stderr, "written"),
        Some(published.len() as u64),
        "{}",
        consume.describe()
    );
    assert_eq!(logged_number(&consume.stderr, "dead_lettered"), Some(1));
    let dead = read_topic(&format!("{topic}.dlq"));
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].1, "not a reading");
    assert!(dead[0].2.as_deref().is_some_and(|e| e.contains("not JSON")));

    // Every reading on the topic is a row, read back over TLS with the login.
    let session = meteo::store::connect(&cassandra(&keyspace), Some(&keyspace))
        .await
        .expect("the secured Cassandra");
    let rows = meteo::store::rows(
        meteo::store::query(&session, "SELECT COUNT(*) FROM readings")
            .await
            .unwrap(),
    )
    .unwrap();
    let count: i64 = cdrs_tokio::types::IntoRustByIndex::get_r_by_index(&rows[0], 0).unwrap();
    assert_eq!(count, published.len() as i64);

    let dash = meteo(&args(&with(&["dash"])), &[], &[]);
    assert_eq!(dash.code, Some(0), "{}", dash.describe());
    assert_eq!(
        dash.stdout.lines().count(),
        published.len() + 1,
        "{}",
        dash.describe()
    );

    meteo::store::ddl(&session, &format!("DROP KEYSPACE IF EXISTS {keyspace}"))
        .await
        .unwrap();
}

/// One refusal: what it is, variables set and unset, what the error line must say.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<&'a str>, Vec<&'a str>);

#[test]
fn each_refusal_is_one_line_within_two_seconds_naming_what_to_set() {
    var("METEO_TEST_SECURE");
    let dir = std::env::temp_dir().join(unique("secure"));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    };
    let properties = std::fs::read_to_string(var("METEO_KAFKA_CONFIG")).unwrap();
    let wrong_password = write(
        "wrong.properties",
        &properties
            .lines()
            .map(|l| {
                if l.starts_with("sasl.password=") {
                    "sasl.password=not-the-password"
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let no_ca = write(
        "noca.properties",
        &properties
            .lines()
            .filter(|l| !l.starts_with("ssl.ca.location"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
    let wrong_cassandra = write("wrong-password", "not-the-password");
    let open_kafka = var("METEO_TEST_OPEN_KAFKA");
    let open_cassandra = var("METEO_TEST_OPEN_CASSANDRA");
    let kafka_user = properties
        .lines()
        .find_map(|l| l.strip_prefix("sasl.username="))
        .unwrap()
        .to_string();
    let user = var("CASSANDRA_USER");
    let reader = var("METEO_TEST_CASSANDRA_READER_USER");
    let reader_password = var("METEO_TEST_CASSANDRA_READER_PASSWORD_FILE");
    let keyspace = unique("refused");
    let ks = ["--keyspace", keyspace.as_str()];
    let migrate = [&ks[..], &["migrate"]].concat();
    let dash = [&ks[..], &["dash"]].concat();

    // Kafka: the metadata check every command makes (the producer's, which comes first).
    let produce = [&ks[..], &["produce", "--once", "--source", "synthetic"]].concat();
    let kafka_cases: [Case; 4] = [
        (
            "wrong SASL password",
            vec![("METEO_KAFKA_CONFIG", &wrong_password)],
            vec![],
            vec!["SASL authentication failed for user", &kafka_user],
        ),
        (
            "unknown CA",
            vec![("METEO_KAFKA_CONFIG", &no_ca)],
            vec![],
            vec!["TLS with Kafka", "ssl.ca.location"],
        ),
        (
            "plain against SASL_SSL",
            vec![],
            vec!["METEO_KAFKA_CONFIG"],
            vec!["closed a plain connection", "security.protocol"],
        ),
        (
            "TLS against plain",
            vec![("KAFKA_BROKERS", &open_kafka)],
            vec![],
            vec!["closed a TLS connection", "speaks plain"],
        ),
    ];
    for (what, env, unset, needles) in kafka_cases {
        eprintln!("case: {what}");
        meteo(&produce, &env, &unset).assert_refused(&needles);
    }

    // Cassandra: the connection every command makes (the dashboard's snapshot here).
    let cassandra_cases: [Case; 5] = [
        (
            "wrong password",
            vec![("CASSANDRA_PASSWORD_FILE", &wrong_cassandra)],
            vec![],
            vec!["refused the login of", &user],
        ),
        (
            "no login",
            vec![],
            vec!["CASSANDRA_USER", "CASSANDRA_PASSWORD_FILE"],
            vec!["requires a login", "CASSANDRA_PASSWORD_FILE"],
        ),
        (
            "plain against TLS",
            vec![],
            vec!["CASSANDRA_TLS", "CASSANDRA_CA"],
            vec!["require TLS", "CASSANDRA_TLS"],
        ),
        (
            "unknown CA",
            vec![],
            vec!["CASSANDRA_CA"],
            vec!["CA meteo does not trust", "CASSANDRA_CA"],
        ),
        (
            "TLS against plain",
            vec![("CASSANDRA_NODES", &open_cassandra)],
            vec![],
            vec!["does not speak TLS"],
        ),
    ];
    for (what, env, unset, needles) in cassandra_cases {
        eprintln!("case: {what}");
        meteo(&dash, &env, &unset).assert_refused(&needles);
    }

    // A role that may only read: migrate may not create, consume may not write.
    let as_reader = [
        ("CASSANDRA_USER", reader.as_str()),
        ("CASSANDRA_PASSWORD_FILE", reader_password.as_str()),
    ];
    meteo(&migrate, &as_reader, &[]).assert_refused(&[&reader, "CREATE permission"]);
    let existing = unique("writable");
    let made = meteo(
        &["--keyspace", &existing, "--topic", &existing, "migrate"],
        &[],
        &[],
    );
    assert_eq!(made.code, Some(0), "{}", made.describe());
    meteo(
        &["--keyspace", &existing, "--topic", &existing, "consume"],
        &as_reader,
        &[],
    )
    .assert_refused(&[&reader, "MODIFY permission", "readings"]);

    // A user without a password is a usage error, before anything connects.
    let usage = meteo(&dash, &[], &["CASSANDRA_PASSWORD_FILE"]);
    assert_eq!(usage.code, Some(2), "{}", usage.describe());
    assert!(usage.stderr.contains("CASSANDRA_PASSWORD_FILE"));
}

/// A name of this machine that resolves to 127.0.0.1 but that the pair's certificates do not
/// hold (they name localhost, 127.0.0.1 to 127.0.0.3): its host name.
fn uncertified_loopback_name() -> String {
    use std::net::ToSocketAddrs as _;
    let out = Command::new("hostname").output().expect("running hostname");
    let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let loopback = (name.as_str(), 1)
        .to_socket_addrs()
        .is_ok_and(|mut addrs| addrs.any(|a| a.ip().is_loopback()));
    assert!(
        loopback && name != "localhost",
        "this test needs the host name ({name:?}) to resolve to 127.0.0.1 (/etc/hosts)"
    );
    name
}

#[test]
fn a_host_name_mismatch_and_a_refused_login_are_said_for_what_they_are() {
    var("METEO_TEST_SECURE");
    let brokers = var("KAFKA_BROKERS");
    let port = brokers.rsplit_once(':').unwrap().1;
    let name = uncertified_loopback_name();
    let other_name = format!("{name}:{port}");
    let produce = [
        "--topic",
        "nosuch",
        "produce",
        "--once",
        "--source",
        "synthetic",
    ];
    let run = meteo(&produce, &[("KAFKA_BROKERS", &other_name)], &[]);
    run.assert_refused(&["certificate does not name", &name, "--brokers"]);
    assert!(
        !run.stderr.contains("set ssl.ca.location"),
        "{}",
        run.describe()
    );

    let dir = std::env::temp_dir().join(unique("login"));
    std::fs::create_dir_all(&dir).unwrap();
    let wrong = dir.join("wrong.properties");
    let properties = std::fs::read_to_string(var("METEO_KAFKA_CONFIG")).unwrap();
    let text: Vec<&str> = properties
        .lines()
        .map(|l| {
            if l.starts_with("sasl.password=") {
                "sasl.password=not-the-password"
            } else {
                l
            }
        })
        .collect();
    std::fs::write(&wrong, text.join("\n")).unwrap();
    // Kept to its owner: the only warning is then the refusal's.
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();
    let run = meteo(
        &produce,
        &[("METEO_KAFKA_CONFIG", wrong.to_str().unwrap())],
        &[],
    );
    run.assert_refused(&["SASL authentication failed"]);
    // Its first words too: no "unreachable; retrying" before the true error.
    assert!(
        !run.stderr.contains("Kafka unreachable"),
        "{}",
        run.describe()
    );
    let first_warning = run.stderr.lines().find(|l| l.contains(" WARN "));
    assert!(
        first_warning.is_some_and(|l| l.contains("refused the SASL login")),
        "{}",
        run.describe()
    );
}
