//! Reading the metrics endpoint of a `meteo` process: a free port to give it, a GET, and the
//! exposition parsed by an independent parser (Python's `prometheus_client`, installed by
//! scripts/test into .tools/), so what the tests read is what Prometheus would.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::repo;

/// The version scripts/test installs; METEO_PROMETHEUS_CLIENT names another folder.
pub const PYTHON_CLIENT: &str = ".tools/prometheus-client-0.26.0";

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    // Below the kernel's ephemeral range (net.ipv4.ip_local_port_range): port 0 would hand out
    // one of those, and between this probe and meteo binding it an outgoing connection could
    // take it.
    for _ in 0..1000 {
        let port = rand::random_range(20_000..32_000);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between 20000 and 32000 on 127.0.0.1");
}

/// GET `http://127.0.0.1:{port}{path}`: the status and the body, or `None` when nothing
/// answers.
pub fn get(port: u16, path: &str, accept: Option<&str>) -> Option<(u16, String, String)> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(&format!("http://127.0.0.1:{port}{path}"));
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    let mut response = request.call().ok()?;
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = response.body_mut().read_to_string().ok()?;
    Some((response.status().as_u16(), content_type, body))
}

/// The status of `path`, 0 when nothing answers.
pub fn status(port: u16, path: &str) -> u16 {
    get(port, path, None).map_or(0, |(status, _, _)| status)
}

const PARSE: &str = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families as text_format
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics
parse = openmetrics if sys.argv[1] == "openmetrics" else text_format
for family in parse(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join('%s="%s"' % kv for kv in sorted(s.labels.items()))
        print("%s{%s} %r" % (s.name, labels, float(s.value)))
"#;

fn python_client() -> PathBuf {
    let dir = std::env::var("METEO_PROMETHEUS_CLIENT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join(PYTHON_CLIENT));
    assert!(
        dir.join("prometheus_client").is_dir(),
        "Python's prometheus_client is not in {} (scripts/test installs it: python3 -m pip install --target {PYTHON_CLIENT} prometheus-client==0.26.0)",
        dir.display()
    );
    dir
}

/// Every sample of the exposition, `name{label="value",...}` to value, as Python's
/// prometheus_client parses it; panics with the text when it refuses it.
pub fn parse(text: &str, openmetrics: bool) -> BTreeMap<String, f64> {
    let mut child = Command::new("python3")
        .args([
            "-c",
            PARSE,
            if openmetrics { "openmetrics" } else { "text" },
        ])
        .env("PYTHONPATH", python_client())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running python3");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client refused the exposition:\n{}\n--- the text\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let (sample, value) = line.rsplit_once(' ').unwrap();
            (sample.to_string(), value.parse().unwrap())
        })
        .collect()
}

/// `/metrics` of the process on `port`, in the text format, parsed.
pub fn samples(port: u16) -> BTreeMap<String, f64> {
    let (status, content_type, text) = get(port, "/metrics", None).expect("/metrics answers");
    assert_eq!(status, 200, "{text}");
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    parse(&text, false)
}

/// The metric families `/metrics` of the process on `port` serves, as its `# TYPE` lines name
/// them in the text format (a counter with its `_total`, a histogram without `_bucket`).
pub fn families(port: u16) -> BTreeSet<String> {
    let (status, _, text) = get(port, "/metrics", None).expect("/metrics answers");
    assert_eq!(status, 200, "{text}");
    text.lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// The families of `served` that docs/metrics.md does not name in backquotes, alone or with
/// labels (`` `name` `` or `` `name{...` ``).
pub fn undocumented(served: &BTreeSet<String>) -> Vec<String> {
    let doc = std::fs::read_to_string(repo().join("docs/metrics.md")).expect("docs/metrics.md");
    served
        .iter()
        .filter(|name| !doc.contains(&format!("`{name}`")) && !doc.contains(&format!("`{name}{{")))
        .cloned()
        .collect()
}

/// One sample's value; 0 when absent (a label value never seen yet).
pub fn value(samples: &BTreeMap<String, f64>, sample: &str) -> f64 {
    samples.get(sample).copied().unwrap_or(0.0)
}
