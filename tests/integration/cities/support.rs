//! Helpers of the `meteo cities` tests: running the binary with no Kafka or Cassandra,
//! temporary folders, the real city list, and a tiny HTTP server on 127.0.0.1 for the
//! download paths.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::Duration;

/// The `meteo` binary cargo built for these tests, with no `METEO_*` variable inherited
/// from the caller's shell, so only what a test sets applies.
pub fn meteo() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_meteo"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("METEO_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// What a finished run printed, as text.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(cmd: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("the meteo binary runs");
    Run {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// OpenWeatherMap's real city list: `METEO_TEST_CITY_LIST`, else the cache that
/// `scripts/city-list` fills (`.cache/city.list.json.gz`). Missing, it fails the test with one
/// line saying how to provide it: these tests never skip.
pub fn real_city_list() -> PathBuf {
    const URL: &str = "http://bulk.openweathermap.org/sample/city.list.json.gz";
    let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/city.list.json.gz");
    let path = match std::env::var_os("METEO_TEST_CITY_LIST") {
        Some(path) => PathBuf::from(path),
        None => cache.clone(),
    };
    assert!(
        path.is_file(),
        "the real city list is missing at {}: set METEO_TEST_CITY_LIST to a copy of {URL}, \
         or run scripts/city-list to download it into {}",
        path.display(),
        cache.display()
    );
    path
}

/// A fresh empty folder, removed with everything in it when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "meteo-test-{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("a temporary folder");
        Self(path)
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let path = self.join(name);
        std::fs::write(&path, data).expect("a test file");
        path
    }

    /// The names of the files in the folder, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .expect("the folder")
            .map(|e| {
                e.expect("an entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).expect("gzip in memory");
    encoder.finish().expect("gzip in memory")
}

/// How the test server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serve {
    /// 200 with Content-Length.
    WithLength,
    /// 200 without Content-Length: the body ends when the connection closes.
    WithoutLength,
    /// 200 announcing the full Content-Length, then only half the body, then close.
    CutHalfwayWithLength,
    /// 200 without Content-Length, half the body, then close.
    CutHalfwayWithoutLength,
    /// 404 Not Found.
    NotFound,
    /// Reads the request and never answers.
    Silent,
}

/// Starts a server on 127.0.0.1, port 0, answering every request the same way; returns the
/// URL of the file. The thread lives as long as the test process.
pub fn serve(body: Vec<u8>, how: Serve) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
    let addr = listener.local_addr().expect("the local address");
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let body = body.clone();
            thread::spawn(move || answer(stream, &body, how));
        }
    });
    format!("http://{addr}/sample/city.list.json.gz")
}

fn answer(mut stream: TcpStream, body: &[u8], how: Serve) {
    let mut reader = BufReader::new(stream.try_clone().expect("a socket clone"));
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
        line.clear();
    }
    let head = |length: bool| {
        let mut head = String::from(
            "HTTP/1.1 200 OK\r\nContent-Type: application/gzip\r\nConnection: close\r\n",
        );
        if length {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        head
    };
    // Write errors are ignored: the client may hang up first, and that is its business.
    let _ = match how {
        Serve::WithLength => stream
            .write_all(head(true).as_bytes())
            .and_then(|()| stream.write_all(body)),
        Serve::WithoutLength => stream
            .write_all(head(false).as_bytes())
            .and_then(|()| stream.write_all(body)),
        Serve::CutHalfwayWithLength => stream
            .write_all(head(true).as_bytes())
            .and_then(|()| stream.write_all(&body[..body.len() / 2])),
        Serve::CutHalfwayWithoutLength => stream
            .write_all(head(false).as_bytes())
            .and_then(|()| stream.write_all(&body[..body.len() / 2])),
        Serve::NotFound => stream.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found",
        ),
        Serve::Silent => {
            thread::sleep(Duration::from_secs(30));
            Ok(())
        }
    };
    let _ = stream.flush();
}

/// A URL on 127.0.0.1 where nothing listens: connecting is refused.
pub fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
    let addr = listener.local_addr().expect("the local address");
    drop(listener);
    format!("http://{addr}/city.list.json.gz")
}
