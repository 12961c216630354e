//! One shutdown for every command: a second signal during a graceful stop exits 130 at once,
//! in `produce` and `consume` alike. Each runs against a service that accepts connections and
//! never answers, so the first signal finds the command busy.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::util::{drop_keyspace, meteo, migrated};

/// A port that accepts connections and never says a word; kept open while the test runs.
fn silent_port() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a silent port");
    let port = listener.local_addr().unwrap().port();
    let held = listener.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut open = Vec::new();
        for stream in held.incoming().flatten() {
            open.push(stream);
        }
    });
    (listener, port)
}

/// The child's stderr lines, as they come.
fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

fn wait_for_line(lines: &mpsc::Receiver<String>, needle: &str, seen: &mut Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(100)) {
            let found = line.contains(needle);
            seen.push(line);
            if found {
                return;
            }
        }
    }
    panic!("no line with {needle:?} within 10 s:\n{}", seen.join("\n"));
}

fn sigterm(child: &Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Starts `meteo <args>`, waits for `busy`, sends SIGTERM twice, and checks the exit.
fn second_signal_exits_130(args: &[&str], env: &[(&str, String)], busy: &str) {
    let mut cmd = meteo();
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (key, value) in env {
        cmd.env(key, value);
    }
    let mut child = cmd.spawn().expect("starting meteo");
    let lines = stderr_lines(&mut child);
    let mut seen = Vec::new();
    wait_for_line(&lines, busy, &mut seen);
    sigterm(&child);
    wait_for_line(&lines, "stopping", &mut seen);
    let second = Instant::now();
    sigterm(&child);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            second.elapsed() < Duration::from_secs(3),
            "still running 3 s after the second signal:\n{}",
            seen.join("\n")
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    seen.extend(lines.try_iter());
    assert_eq!(status.code(), Some(130), "{}", seen.join("\n"));
    assert!(
        seen.iter()
            .any(|l| l.starts_with("meteo: error: second signal")),
        "{}",
        seen.join("\n")
    );
}

#[test]
fn a_second_signal_exits_130_in_consume() {
    let (_listener, port) = silent_port();
    second_signal_exits_130(
        &["consume"],
        &[("CASSANDRA_NODES", format!("127.0.0.1:{port}"))],
        "consumer starting",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_signal_exits_130_in_produce() {
    let (keyspace, topic) = migrated(&[]);
    let (_listener, port) = silent_port();
    // The API answers never come: the first signal finds calls in flight.
    second_signal_exits_130(
        &[
            "produce",
            "--source",
            "owm",
            "--api-url",
            &format!("http://127.0.0.1:{port}"),
        ],
        &[
            ("OWM_API_KEY", "0123456789abcdef".to_string()),
            ("METEO_TOPIC", topic),
        ],
        "producing",
    );
    drop_keyspace(&keyspace).await;
}
