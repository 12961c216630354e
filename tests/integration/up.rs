//! `scripts/up` as a newcomer runs it, without a terminal, against the services already
//! running (named by KAFKA_BROKERS and CASSANDRA_NODES, so it starts and stops none): the
//! producer and the consumer start in the background, readings reach Cassandra, a second run
//! starts nothing twice, and `scripts/up --down` stops both and leaves the services running.
//! Also: a stale pid file naming a look-alike, one metrics port each, `--help` and `--status`
//! on stdout, the ports a services folder keeps, and no fixed port in the ephemeral range.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::scrape::{free_port, get};
use crate::util::{
    brokers, cassandra_nodes, count_readings, drop_keyspace, eventually, repo, run, session,
    temp_dir, unique, Run,
};

/// `scripts/up` with `args`, its state in `dir`, on `keyspace` and `topic`, stdin and stdout
/// not a terminal.
fn up(dir: &Path, keyspace: &str, topic: &str, args: &[&str]) -> Run {
    run(up_command(dir, keyspace, topic, args))
}

/// The command [`up`] runs, for a test to add to its environment.
fn up_command(dir: &Path, keyspace: &str, topic: &str, args: &[&str]) -> Command {
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
    cmd
}

/// The pid in `dir/<command>.pid`.
fn pid(dir: &Path, command: &str) -> u32 {
    let file = dir.join(format!("{command}.pid"));
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{} unreadable: {e}", file.display()));
    text.split_whitespace().next().unwrap().parse().unwrap()
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
                // 65535 is the range's bound, not a port anything binds.
                Ok(n) if number.len() == 5 && (32768..65535).contains(&n) => {
                    found.push((index + 1, n))
                }
                _ => {}
            }
        }
    }
    found
}

#[test]
fn no_script_compose_file_or_test_fixes_a_port_in_the_kernels_ephemeral_range() {
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
    // The test suites' own sources, this file (which names such ports to test the scan) aside.
    for suite in ["integration", "faults", "cluster", "secure"] {
        for entry in std::fs::read_dir(repo().join("tests").join(suite)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("integration/up.rs") {
                files.push(path);
            }
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
    // The scan itself, on a line built here so that this file holds no such port.
    let high = 59_000 + 292;
    assert_eq!(
        ephemeral_ports(&format!(
            "KAFKA_PORT=${{X:-{high}}} # 30000 reports\nid 45000"
        )),
        vec![(1, high)],
        "the scan itself"
    );
}

#[test]
fn help_is_the_usage_on_stdout_with_exit_0() {
    for script in ["scripts/up", "scripts/services"] {
        for flag in ["--help", "-h"] {
            let mut cmd = Command::new(repo().join(script));
            cmd.arg(flag).stdin(Stdio::null());
            let result = run(cmd);
            result.assert_ok();
            assert!(result.stdout.contains(script), "{}", result.describe());
            assert_eq!(result.stderr, "", "{}", result.describe());
            for source in ["set -euo", "say()", "usage"] {
                assert!(
                    !result.stdout.contains(source),
                    "the script's source {source:?} in the usage\n{}",
                    result.describe()
                );
            }
        }
    }
}

#[test]
fn status_on_stdout_names_kafka_cassandra_and_both_commands() {
    let dir = temp_dir("up-status");
    let result = up(&dir, "unused", "unused", &["--status"]);
    result.assert_ok();
    for needle in [
        format!("kafka      {} answers", brokers()),
        format!("cassandra  {} answers", cassandra_nodes()),
        "meteo produce  stopped".to_string(),
        "meteo consume  stopped".to_string(),
    ] {
        assert!(
            result.stdout.contains(&needle),
            "{needle:?} missing\n{}",
            result.describe()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A process whose command line reads `meteo <command>` but is `sleep`.
fn look_alike(command: &str) -> std::process::Child {
    Command::new("bash")
        .args(["-c", &format!("exec -a 'meteo {command}' sleep 300")])
        .spawn()
        .unwrap()
}

/// Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot.
fn start_time(pid: u32) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    after_name.split(' ').nth(19).unwrap().to_string()
}

#[test]
fn a_stale_pid_file_naming_a_look_alike_is_not_running_and_down_leaves_it_alone() {
    let dir = temp_dir("up-stale");
    let (mut consumer, mut producer) = (look_alike("consume"), look_alike("produce"));
    eventually_execs(consumer.id(), "meteo consume");
    eventually_execs(producer.id(), "meteo produce");
    // Only the pid, as an older scripts/up wrote it; and a forged entry with the look-alike's
    // true start time and meteo's executable: only the executable tells it apart.
    std::fs::write(dir.join("consume.pid"), format!("{}\n", consumer.id())).unwrap();
    std::fs::write(
        dir.join("produce.pid"),
        format!(
            "{} {} {}\n",
            producer.id(),
            start_time(producer.id()),
            env!("CARGO_BIN_EXE_meteo")
        ),
    )
    .unwrap();

    let status = up(&dir, "unused", "unused", &["--status"]);
    let down = up(&dir, "unused", "unused", &["--down"]);
    let (consumer_alive, producer_alive) = (alive(consumer.id()), alive(producer.id()));
    let _ = (consumer.kill(), producer.kill());
    let _ = (consumer.wait(), producer.wait());
    status.assert_ok();
    for command in ["produce", "consume"] {
        assert!(
            status.stdout.contains(&format!("meteo {command}  stopped")),
            "{}",
            status.describe()
        );
        assert!(
            down.stderr
                .contains(&format!("meteo {command} not running")),
            "{}",
            down.describe()
        );
    }
    assert!(
        consumer_alive && producer_alive,
        "a look-alike was killed\n{}",
        down.describe()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Waits until process `pid` shows `argv0` as its command line (bash has exec'd).
fn eventually_execs(pid: u32, argv0: &str) {
    for _ in 0..100 {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if cmdline.starts_with(argv0.as_bytes()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{pid} never ran as {argv0:?}");
}

/// Two free ports in a row, the first for the consumer and the next for the producer.
fn two_free_ports() -> u16 {
    loop {
        let port = free_port();
        if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_metrics_address_serves_the_consumer_on_it_and_the_producer_on_the_next_port() {
    let dir = temp_dir("up-metrics");
    let (keyspace, topic) = (unique("up"), unique("up"));
    let port = two_free_ports();
    let mut cmd = up_command(&dir, &keyspace, &topic, &[]);
    cmd.env("METEO_METRICS_ADDR", format!("127.0.0.1:{port}"));
    let started = run(cmd);
    let consumer = get(port, "/metrics", None);
    let producer = get(port + 1, "/metrics", None);
    let status = up(&dir, &keyspace, &topic, &["--status"]);
    let down = up(&dir, &keyspace, &topic, &["--down"]);
    started.assert_ok();
    down.assert_ok();
    let scraped = |answer: Option<(u16, String, String)>, what: &str| {
        let (code, _, text) = answer.unwrap_or_else(|| panic!("{what}: no answer"));
        assert_eq!(code, 200, "{what}");
        assert!(text.contains(what), "{what}:\n{text}");
    };
    scraped(consumer, "meteo_consume");
    scraped(producer, "meteo_produce");
    for needle in [
        format!("metrics 127.0.0.1:{port}"),
        format!("metrics 127.0.0.1:{}", port + 1),
    ] {
        assert!(
            status.stdout.contains(&needle),
            "{needle:?} missing\n{}",
            status.describe()
        );
    }
    // Each run's log opens with a dated line of its own.
    let log = std::fs::read_to_string(dir.join("consume.log")).unwrap();
    let first = log.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("---- 20") && first.contains("scripts/up started meteo consume"),
        "{log}"
    );

    // A port with no next one is refused before anything starts.
    let mut cmd = up_command(&dir, &keyspace, &topic, &[]);
    cmd.env("METEO_METRICS_ADDR", "127.0.0.1:65535");
    let refused = run(cmd);
    assert_eq!(refused.code, Some(1), "{}", refused.describe());
    assert!(
        refused.stderr.contains("METEO_METRICS_ADDR"),
        "{}",
        refused.describe()
    );
    assert!(!dir.join("consume.pid").exists() && !dir.join("produce.pid").exists());

    drop_keyspace(&keyspace).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `scripts/services` with `args`, its folder `dir`, in an environment without the services'
/// variables: (exit code, stdout, stderr).
fn services_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(repo().join("scripts/services"));
    for key in [
        "KAFKA_PORT",
        "KAFKA_CONTROLLER_PORT",
        "CASSANDRA_PORT",
        "CASSANDRA_STORAGE_PORT",
        "KAFKA_BROKERS",
        "CASSANDRA_NODES",
        "SERVICES_SECURE",
        "SERVICES_NODES",
    ] {
        cmd.env_remove(key);
    }
    cmd.args(args)
        .env("METEO_SERVICES_DIR", dir)
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    run(cmd)
}

#[test]
fn the_services_folder_keeps_its_ports_for_status_env_and_up_status() {
    // A folder whose services were started on 29092 and 29042, where nothing answers now:
    // what is reported and handed out is that pair, never the one on 9092 and 9042.
    let dir = temp_dir("services-ports");
    std::fs::write(
        dir.join("ports"),
        "KAFKA_PORT=29092\nKAFKA_CONTROLLER_PORT=29093\nCASSANDRA_PORT=29042\nCASSANDRA_STORAGE_PORT=27000\n",
    )
    .unwrap();
    let status = services_in(&dir, &["status"], &[]);
    status.assert_ok();
    for needle in ["stopped  127.0.0.1:29092", "stopped  127.0.0.1:29042"] {
        assert!(status.stdout.contains(needle), "{}", status.describe());
    }
    let env = services_in(&dir, &["env"], &[]);
    env.assert_ok();
    assert_eq!(
        env.stdout,
        "export KAFKA_BROKERS=127.0.0.1:29092 CASSANDRA_NODES=127.0.0.1:29042\n",
        "{}",
        env.describe()
    );
    // Another port in the shell does not move them: it is named as ignored.
    let moved = services_in(&dir, &["env"], &[("KAFKA_PORT", "9092")]);
    assert_eq!(moved.stdout, env.stdout, "{}", moved.describe());
    assert!(
        moved.stderr.contains("KAFKA_PORT=9092 ignored"),
        "{}",
        moved.describe()
    );

    let mut cmd = Command::new(repo().join("scripts/up"));
    for key in [
        "KAFKA_BROKERS",
        "CASSANDRA_NODES",
        "KAFKA_PORT",
        "CASSANDRA_PORT",
    ] {
        cmd.env_remove(key);
    }
    cmd.arg("--status")
        .env("METEO_SERVICES_DIR", &dir)
        .stdin(Stdio::null());
    let up_status = run(cmd);
    up_status.assert_ok();
    assert!(
        up_status.stdout.contains("127.0.0.1:29092") && !up_status.stdout.contains(":9092"),
        "{}",
        up_status.describe()
    );

    // A folder where nothing was started names no services at all.
    let empty = temp_dir("services-none");
    let none = services_in(&empty, &["env"], &[]);
    assert_eq!(none.code, Some(1), "{}", none.describe());
    assert_eq!(none.stdout, "", "{}", none.describe());
    assert!(
        none.stderr.contains("no services were started in"),
        "{}",
        none.describe()
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&empty);
}
