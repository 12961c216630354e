//! The scripts under `scripts/`, asked for their usage: `--help` and `-h` print it on stdout
//! and exit 0, at once, starting nothing. `up` and `services` are left to their own tests.
//! Touches no service.

use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::repo;

/// Scripts whose usage is checked elsewhere.
const CHECKED_ELSEWHERE: &[&str] = &["up", "services"];
/// Printing a header takes milliseconds; a script that starts its real work instead is caught
/// (and its whole process group killed) well before it could build or start anything.
const DEADLINE: Duration = Duration::from_secs(10);

struct Asked {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// `script flag` in its own process group, killed whole at the deadline.
fn ask(script: &std::path::Path, flag: &str) -> Asked {
    let mut child = Command::new(script)
        .arg(flag)
        .current_dir(repo())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > DEADLINE {
            // SAFETY: a plain kill(2) of the group the child leads.
            unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    Asked {
        code: status.and_then(|s| s.code()),
        stdout,
        stderr,
    }
}

#[test]
fn every_script_prints_its_usage_on_stdout_and_exits_0_for_help() {
    let mut scripts: Vec<_> = std::fs::read_dir(repo().join("scripts"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_str().unwrap();
            !CHECKED_ELSEWHERE.contains(&name)
        })
        .collect();
    scripts.sort();
    assert!(scripts.len() >= 9, "{scripts:?}");
    let mut problems = Vec::new();
    for script in &scripts {
        let name = script.file_name().unwrap().to_str().unwrap();
        for flag in ["--help", "-h"] {
            let asked = ask(script, flag);
            if asked.code != Some(0) {
                problems.push(format!(
                    "{name} {flag}: exit {:?} (None: still running after {DEADLINE:?}); stderr: {}",
                    asked.code,
                    asked.stderr.lines().next().unwrap_or_default()
                ));
            } else if !asked.stdout.contains(&format!("scripts/{name}")) {
                problems.push(format!(
                    "{name} {flag}: the usage on stdout does not name the script: {:?}",
                    asked.stdout.lines().next().unwrap_or_default()
                ));
            } else if !asked.stderr.is_empty() {
                problems.push(format!("{name} {flag}: wrote to stderr: {}", asked.stderr));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
