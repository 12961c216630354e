//! `scripts/up` as a newcomer runs it, without a terminal, against the services already
//! running (named by KAFKA_BROKERS and CASSANDRA_NODES, so it starts and stops none): the
//! producer and the consumer start in the background, readings reach Cassandra, a second run
//! starts nothing twice, and `scripts/up --down` stops both and leaves the services running.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::{
    brokers, cassandra_nodes, count_readings, drop_keyspace, eventually, repo, run, session,
    temp_dir, unique, Run,
};

/// `scripts/up` with `args`, its state in `dir`, on `keyspace` and `topic`, stdin and stdout
/// not a terminal.
fn up(dir: &Path, keyspace: &str, topic: &str, args: &[&str]) -> Run {
    let mut cmd = Command::new(repo().join("scripts/up"));
    for (key, _) in std::env::vars() {
        if key.starts_with("METEO_") || key == "OWM_API_KEY" || key == "SERVICES_SECURE" {
            cmd.env_remove(key);
        }
    }
    cmd.args(args)
        .env("KAFKA_BROKERS", brokers())
        .env("CASSANDRA_NODES", cassandra_nodes())
        .env("METEO_KEYSPACE", keyspace)
        .env("METEO_TOPIC", topic)
        .env("METEO_GROUP", topic)
        .env("METEO_UP_DIR", dir)
        .env("METEO_SERVICES_DIR", dir.join("services"))
        .env("METEO_BIN", env!("CARGO_BIN_EXE_meteo"))
        .env("METEO_UP_STOP_TIMEOUT", "30")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    run(cmd)
}

/// The pid in `dir/<command>.pid`.
fn pid(dir: &Path, command: &str) -> u32 {
    let file = dir.join(format!("{command}.pid"));
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{} unreadable: {e}", file.display()));
    text.trim().parse().unwrap()
}

/// The producer's and the consumer's logs, for a failure's message.
fn logs(dir: &Path) -> String {
    ["produce", "consume"]
        .map(|c| {
            let log = std::fs::read_to_string(dir.join(format!("{c}.log")));
            format!("{c}.log:\n{}", log.unwrap_or_default())
        })
        .join("\n")
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

#[tokio::test(flavor = "multi_thread")]
async fn up_without_a_terminal_starts_the_pipeline_once_and_down_stops_it() {
    let dir = temp_dir("up");
    let (keyspace, topic) = (unique("up"), unique("up"));
    let first = up(&dir, &keyspace, &topic, &[]);
    first.assert_ok();
    for needle in [
        "starting none",
        "no terminal: the dashboard is not opened",
        "scripts/up --down",
    ] {
        assert!(
            first.stderr.contains(needle),
            "{needle:?} missing\n{}",
            first.describe()
        );
    }
    let (producer, consumer) = (pid(&dir, "produce"), pid(&dir, "consume"));
    assert!(
        alive(producer) && alive(consumer),
        "{}\n--- logs\n{}",
        first.describe(),
        logs(&dir)
    );

    // Synthetic readings (no key), one per city at once, all stored.
    let cities: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(repo().join("data/cities.fr.json")).unwrap())
            .unwrap();
    let stored = session(Some(&keyspace)).await;
    eventually(
        Duration::from_secs(90),
        "every city's reading in Cassandra",
        || {
            let stored = stored.clone();
            let want = cities.len() as i64;
            async move { count_readings(&stored).await >= want }
        },
    )
    .await;

    let again = up(&dir, &keyspace, &topic, &[]);
    again.assert_ok();
    for needle in [
        format!("meteo produce already running (pid {producer})"),
        format!("meteo consume already running (pid {consumer})"),
    ] {
        assert!(
            again.stderr.contains(&needle),
            "{needle:?} missing\n{}",
            again.describe()
        );
    }
    assert_eq!(
        (pid(&dir, "produce"), pid(&dir, "consume")),
        (producer, consumer)
    );

    let down = up(&dir, &keyspace, &topic, &["--down"]);
    down.assert_ok();
    assert!(!alive(producer) && !alive(consumer), "{}", down.describe());
    for command in ["produce", "consume"] {
        assert!(
            !dir.join(format!("{command}.pid")).exists(),
            "{command}.pid left"
        );
        let stopped = format!("meteo {command} stopped: ");
        assert!(down.stderr.contains(&stopped), "{}", down.describe());
    }
    let log = std::fs::read_to_string(dir.join("consume.log")).unwrap();
    assert!(log.contains("consumer stopped"), "{log}");
    // The services were left alone: Cassandra still answers.
    assert!(count_readings(&stored).await >= cities.len() as i64);

    drop_keyspace(&keyspace).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The numbers from 32768 to 65535 on the lines of `text` that speak of a port.
fn ephemeral_ports(text: &str) -> Vec<(usize, u32)> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if !line.to_ascii_lowercase().contains("port") {
            continue;
        }
        for number in line.split(|c: char| !c.is_ascii_digit()) {
            match number.parse::<u32>() {
                Ok(n) if number.len() == 5 && (32768..=65535).contains(&n) => {
                    found.push((index + 1, n))
                }
                _ => {}
            }
        }
    }
    found
}

#[test]
fn no_script_or_compose_file_fixes_a_port_in_the_kernels_ephemeral_range() {
    // An outgoing connection may hold such a port when a service binds it ("Address already
    // in use"); a port the kernel picks by binding port 0 is fine, a fixed one is not.
    let mut files: Vec<_> = std::fs::read_dir(repo().join("scripts"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    for entry in std::fs::read_dir(repo()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("docker-compose") && name.ends_with(".yml") {
            files.push(path);
        }
    }
    let found: Vec<String> = files
        .iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(file).unwrap();
            ephemeral_ports(&text)
                .into_iter()
                .map(move |(line, port)| format!("{}:{line}: {port}", file.display()))
        })
        .collect();
    assert!(
        found.is_empty(),
        "ports from 32768 up:\n{}",
        found.join("\n")
    );
    assert_eq!(
        ephemeral_ports("KAFKA_PORT=${X:-59292} # 30000 reports\nid 45000"),
        vec![(1, 59292)],
        "the scan itself"
    );
}
