//! Secrets and settings at the edge, through the real binary: no value of a Kafka property
//! reaches the terminal whatever the mistake, weakened checks and readable secret files are
//! said once, and the Kafka config file never silently overrides a flag.

use std::process::Command;
use std::time::Duration;

use crate::util::{meteo, run_within, unique, Run};

/// `meteo ... produce --once` on a topic that does not exist: it fails at once on the first
/// Kafka call, after every setting was read.
fn produce_once(mut cmd: Command) -> Run {
    let topic = unique("nosuch");
    cmd.args([
        "--topic",
        &topic,
        "produce",
        "--once",
        "--source",
        "synthetic",
    ]);
    run_within(cmd, Duration::from_secs(30))
}

/// Fails naming the fragment of `secret` found, in any case, in what `run` printed.
#[track_caller]
fn assert_nowhere(run: &Run, fragments: &[&str]) {
    let printed = format!("{}{}", run.stdout, run.stderr).to_lowercase();
    for fragment in fragments {
        assert!(
            !printed.contains(&fragment.to_lowercase()),
            "{fragment:?} was printed\n{}",
            run.describe()
        );
    }
}

/// Arguments, METEO_KAFKA_OPTS, fragments that must not show, what the message names.
type Case<'a> = (&'a [&'a str], Option<&'a str>, &'a [&'a str], &'a str);

#[test]
fn no_kafka_property_value_reaches_the_terminal_whatever_the_mistake() {
    let cases: [Case; 5] = [
        (
            &["-X", "sasl.passwordSeCrEt"],
            None,
            &["SeCrEt"],
            "-X argument 1",
        ),
        (
            &["-X", "sasl.password:hunter2"],
            None,
            &["hunter2"],
            "-X argument 1",
        ),
        (
            &["-X", "linger.ms=5", "-X", "security.protocol=S3CRETVAL5"],
            None,
            &["S3CRETVAL5"],
            "-X argument 2 sets security.protocol",
        ),
        // A comma inside a value: one property, the run goes on to the missing topic.
        (
            &["-X", "sasl.password=hunt,er2"],
            None,
            &["hunt", "er2"],
            "does not exist",
        ),
        (
            &[],
            Some("sasl.password=hunt,pa=ss2"),
            &["hunt", "ss2", "setting pa"],
            "does not exist",
        ),
    ];
    for (args, env, fragments, named) in cases {
        let mut cmd = meteo();
        cmd.args(args);
        if let Some(list) = env {
            cmd.env("METEO_KAFKA_OPTS", list);
        }
        let run = produce_once(cmd);
        assert_nowhere(&run, fragments);
        assert!(run.stderr.contains(named), "{args:?}: {}", run.describe());
        assert_ne!(run.code, Some(0), "{}", run.describe());
    }
}

/// A `--kafka-config` file holding `text`, mode 0600.
fn kafka_config(text: &str) -> std::path::PathBuf {
    file_with_mode("kafka.properties", text, 0o600)
}

/// A file in a fresh folder holding `text`, with that mode.
fn file_with_mode(name: &str, text: &str, mode: u32) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = crate::util::temp_dir("secrets").join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

/// The WARN lines of `run` that contain `needle`.
fn warnings<'a>(run: &'a Run, needle: &str) -> Vec<&'a str> {
    run.stderr
        .lines()
        .filter(|l| l.contains(" WARN ") && l.contains(needle))
        .collect()
}

#[test]
fn the_kafka_config_file_may_not_set_what_a_flag_sets() {
    for (line, flag) in [
        ("bootstrap.servers=127.0.0.1:1", "--brokers"),
        ("group.id=hijack", "--group"),
    ] {
        let file = kafka_config(&format!("linger.ms=5\n{line}\n"));
        let mut cmd = meteo();
        cmd.arg("--kafka-config").arg(&file);
        let run = produce_once(cmd);
        assert_eq!(run.code, Some(2), "{}", run.describe());
        let key = line.split('=').next().unwrap();
        assert!(
            run.stderr
                .contains(&format!("{} sets {key}", file.display()))
                && run.stderr.contains(flag),
            "{}",
            run.describe()
        );
        assert_nowhere(&run, &["127.0.0.1:1", "hijack"]);
    }
}

#[test]
fn a_kafka_config_file_may_start_with_a_byte_order_mark() {
    let file = kafka_config("\u{feff}linger.ms=5\n");
    let mut cmd = meteo();
    cmd.arg("--kafka-config").arg(&file);
    let run = produce_once(cmd);
    // Read and taken: the run goes on to the missing topic.
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(run.stderr.contains("does not exist"), "{}", run.describe());
}

#[test]
fn switching_off_a_tls_check_is_said_once_at_start() {
    let cases: [(&[&str], &str); 3] = [
        (
            &["-X", "enable.ssl.certificate.verification=false"],
            "the Kafka brokers' certificates are not checked",
        ),
        (
            &["-X", "ssl.endpoint.identification.algorithm=none"],
            "the Kafka brokers' host names are not checked",
        ),
        (
            &["--cassandra-tls", "--cassandra-tls-skip-hostname", "dash"],
            "the Cassandra nodes' host names are not checked",
        ),
    ];
    for (args, said) in cases {
        let mut cmd = meteo();
        cmd.args(args);
        let run = if args.contains(&"dash") {
            // Not a terminal: one snapshot, here refused by a Cassandra without TLS.
            cmd.args(["--keyspace", "nosuch"]);
            run_within(cmd, Duration::from_secs(30))
        } else {
            produce_once(cmd)
        };
        assert_eq!(
            warnings(&run, said).len(),
            1,
            "{args:?}\n{}",
            run.describe()
        );
        // Before anything else is done.
        let first = run.stderr.lines().next().unwrap_or_default();
        assert!(first.contains(said), "{args:?}\n{}", run.describe());
    }
    // Said only to the commands that talk to that service.
    let mut cmd = meteo();
    cmd.args(["--cassandra-tls", "--cassandra-tls-skip-hostname"]);
    let run = produce_once(cmd);
    assert_eq!(warnings(&run, "not checked"), Vec::<&str>::new());
}

#[test]
fn a_secret_file_others_may_read_is_warned_about_once() {
    let open_config = file_with_mode("kafka.properties", "sasl.password=pw0644\n", 0o644);
    let open_password = file_with_mode("password", "pw0644\n", 0o644);
    let cases = [
        vec![
            "--kafka-config".to_string(),
            open_config.display().to_string(),
        ],
        vec![
            "--cassandra-user".into(),
            "meteo".into(),
            "--cassandra-password-file".into(),
            open_password.display().to_string(),
        ],
    ];
    for (args, path) in cases.iter().zip([&open_config, &open_password]) {
        let mut cmd = meteo();
        cmd.args(args);
        let run = if path == &open_password {
            // A command that talks to Cassandra, and changes nothing.
            let keyspace = unique("nosuch");
            cmd.args(["--keyspace", &keyspace, "migrate", "--status"]);
            run_within(cmd, Duration::from_secs(30))
        } else {
            produce_once(cmd)
        };
        let said = format!("{} is readable by others (mode 0644)", path.display());
        assert_eq!(warnings(&run, &said).len(), 1, "{}", run.describe());
        assert_nowhere(&run, &["pw0644"]);
    }
    // Kept to its owner, or holding no secret: nothing to say.
    let closed = file_with_mode("kafka.properties", "sasl.password=pw0600\n", 0o600);
    let plain = file_with_mode("kafka.properties", "linger.ms=5\n", 0o644);
    for file in [closed, plain] {
        let mut cmd = meteo();
        cmd.arg("--kafka-config").arg(&file);
        let run = produce_once(cmd);
        assert_eq!(warnings(&run, "readable by others"), Vec::<&str>::new());
    }
}

#[test]
fn brokers_pointed_at_cassandra_are_said_at_once_to_be_no_kafka_broker() {
    let mut cmd = meteo();
    cmd.args(["--brokers", &crate::util::cassandra_nodes()]);
    let run = produce_once(cmd);
    run.assert_fails_with(&["is not a Kafka broker"]);
    assert!(run.took < Duration::from_secs(5), "{}", run.describe());
    // Its first words say so too: no retrying as if it were down, no librdkafka advice.
    let printed = format!("{}{}", run.stdout, run.stderr);
    assert!(
        !printed.contains("receive.message.max.bytes"),
        "{}",
        run.describe()
    );
    assert!(!printed.contains("Kafka unreachable"), "{}", run.describe());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_api_key_echoed_in_capitals_never_reaches_the_terminal() {
    use crate::fake_owm::{Answer, DtModel, FakeOwm};
    let key = "k3y-ShOuTeD-5e1f0a";
    let (keyspace, topic) = crate::util::migrated(&[]);
    let fake = FakeOwm::start(DtModel::Fixed(1795895400));
    fake.script(
        2988507,
        "Paris",
        vec![Answer::Message {
            status: 401,
            message: "Invalid API key {APPID}; see https://openweathermap.org/faq".into(),
        }],
    );
    let list = crate::util::temp_dir("cities").join("cities.json");
    let city = r#"[{"id": 2988507, "name": "Paris", "country": "FR", "lat": 48.85, "lon": 2.35}]"#;
    std::fs::write(&list, city).unwrap();
    let mut cmd = meteo();
    cmd.env("OWM_API_KEY", key)
        .args([
            "--topic",
            &topic,
            "produce",
            "--once",
            "--api-url",
            &fake.url(),
        ])
        .arg("--cities")
        .arg(&list);
    let run = run_within(cmd, Duration::from_secs(60));
    assert!(
        run.stderr.contains("refused the API key"),
        "{}",
        run.describe()
    );
    assert_nowhere(&run, &[key, "ShOuTeD"]);
    crate::util::drop_keyspace(&keyspace).await;
}
