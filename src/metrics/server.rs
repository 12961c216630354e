//! The HTTP side: `/metrics`, `/healthz` and `/readyz` served by hyper's HTTP/1 server on the
//! address given, bound at start so a bad address fails before any work. Bounded so a client
//! cannot hold it, or the process's file descriptors and memory: a few dozen connections at
//! most (the rest closed at once), headers within seconds, each connection over within
//! seconds, one request per connection, and GET or HEAD only.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ACCEPT, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::health::{liveness, readiness};
use super::registry::Metrics;
use crate::backoff::Backoff;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROMETHEUS_TEXT: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;
const PLAIN: &str = "text/plain; charset=utf-8";

/// Binds the address now, so a port taken is said before anything else starts.
pub fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = std::net::TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .with_context(|| format!("listening for metrics on {addr} (--metrics-addr)"))?;
    TcpListener::from_std(listener)
        .with_context(|| format!("listening for metrics on {addr} (--metrics-addr)"))
}

/// How much of the process one client, or many, may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once; one more is closed as soon as accepted. A scrape takes
    /// milliseconds, so a few dozen leave room for Prometheus, probes and people.
    pub max_connections: usize,
    /// From accepting a connection to the end of its request's headers.
    pub header_read_timeout: Duration,
    /// From accepting a connection to its close, whatever it does (a body sent slowly, an
    /// answer never read).
    pub connection_deadline: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 32,
            header_read_timeout: Duration::from_secs(5),
            connection_deadline: Duration::from_secs(10),
        }
    }
}

/// Serves with the default [`Limits`] until the process ends.
pub async fn serve(listener: TcpListener, metrics: &'static Metrics) {
    serve_with(listener, metrics, Limits::default()).await;
}

/// Serves each connection on its own task, at most `limits.max_connections` at once.
pub async fn serve_with(listener: TcpListener, metrics: &'static Metrics, limits: Limits) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let mut refused = Warning::new(WARN_EVERY);
    let mut failed = Warning::new(WARN_EVERY);
    // Out of file descriptors, say: the next accept may work, but not in a busy loop.
    let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => {
                backoff.reset();
                stream
            }
            Err(err) => {
                if let Some(suppressed) = failed.note(Instant::now()) {
                    tracing::warn!(%err, suppressed, "metrics endpoint: accept failed");
                }
                backoff.wait().await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Dropped: closed at once, so a flood costs one descriptor for an instant each.
            drop(stream);
            if let Some(suppressed) = refused.note(Instant::now()) {
                tracing::warn!(
                    max = limits.max_connections,
                    suppressed,
                    "metrics endpoint: too many connections, closing new ones"
                );
            }
            continue;
        };
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| answer(request, metrics));
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                // One request per connection: no idle keep-alive holds a slot between scrapes.
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(limits.connection_deadline, connection).await {
                Ok(Err(err)) => tracing::debug!(%err, "metrics endpoint: connection ended"),
                Err(_) => tracing::debug!("metrics endpoint: connection cut at its deadline"),
                Ok(Ok(())) => {}
            }
            drop(slot);
        });
    }
}

/// The shortest time between two warnings of one kind.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// A warning said at most once per period, with how many were kept quiet since the last one.
#[derive(Debug)]
struct Warning {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Warning {
    fn new(every: Duration) -> Self {
        Self {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// One more occurrence at `now`: `Some(suppressed since the last warning)` when it is
    /// to be said, `None` when it is to be counted only.
    fn note(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.saturating_duration_since(last) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

async fn answer(
    request: Request<Incoming>,
    metrics: &'static Metrics,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        let mut response = Response::new(Full::new(Bytes::from_static(
            b"method not allowed: GET or HEAD only\n",
        )));
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        let headers = response.headers_mut();
        headers.insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(PLAIN));
        return Ok(response);
    }
    let accept = request.headers().get(ACCEPT).and_then(|v| v.to_str().ok());
    let (status, content_type, body) = route(request.uri().path(), accept, metrics, Instant::now());
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(response)
}

/// Status, content type and body for a path.
fn route(
    path: &str,
    accept: Option<&str>,
    metrics: &Metrics,
    now: Instant,
) -> (StatusCode, &'static str, String) {
    let checks = || {
        metrics
            .checks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    };
    let health = |result: Result<(), String>| match result {
        Ok(()) => (StatusCode::OK, PLAIN, "ok\n".to_string()),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            PLAIN,
            format!("{reason}\n"),
        ),
    };
    match path {
        "/metrics" => {
            let openmetrics = wants_openmetrics(accept);
            match metrics.encode(openmetrics) {
                Ok(text) => (
                    StatusCode::OK,
                    if openmetrics {
                        OPENMETRICS
                    } else {
                        PROMETHEUS_TEXT
                    },
                    text,
                ),
                Err(_) => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    PLAIN,
                    "the metrics could not be encoded\n".into(),
                ),
            }
        }
        "/healthz" => health(liveness(&checks(), now)),
        "/readyz" => health(readiness(metrics.role, &checks(), now)),
        _ => (
            StatusCode::NOT_FOUND,
            PLAIN,
            "not found: try /metrics, /healthz or /readyz\n".into(),
        ),
    }
}

/// Whether the `Accept` header prefers OpenMetrics to the Prometheus text format: it names
/// `application/openmetrics-text` with a weight above zero and at least that of any other type
/// it names (Prometheus asks for OpenMetrics first, with text/plain as a fallback).
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    let Some(accept) = accept else { return false };
    let mut openmetrics: Option<f32> = None;
    let mut others: f32 = 0.0;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let weight = parts
            .filter_map(|p| p.strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        if media == "application/openmetrics-text" {
            openmetrics = Some(openmetrics.map_or(weight, |w| w.max(weight)));
        } else if !media.is_empty() {
            others = others.max(weight);
        }
    }
    openmetrics.is_some_and(|w| w > 0.0 && w >= others)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Role;

    #[test]
    fn openmetrics_only_when_the_accept_header_prefers_it() {
        assert!(!wants_openmetrics(None));
        assert!(!wants_openmetrics(Some("*/*")));
        assert!(!wants_openmetrics(Some("text/plain")));
        assert!(wants_openmetrics(Some("application/openmetrics-text")));
        // What Prometheus 3 sends.
        assert!(wants_openmetrics(Some(
            "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,\
             application/openmetrics-text;version=0.0.1;q=0.4,\
             text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,\
             text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
        )));
        assert!(!wants_openmetrics(Some(
            "text/plain;version=0.0.4;q=0.9, application/openmetrics-text;q=0.5"
        )));
        assert!(!wants_openmetrics(Some("application/openmetrics-text;q=0")));
        assert!(wants_openmetrics(Some(
            "Application/OpenMetrics-Text ; q=0.8"
        )));
    }

    #[test]
    fn a_warning_is_said_once_a_minute_with_the_count_kept_quiet() {
        let start = Instant::now();
        let mut warning = Warning::new(WARN_EVERY);
        assert_eq!(warning.note(start), Some(0));
        for second in 1..60 {
            assert_eq!(warning.note(start + Duration::from_secs(second)), None);
        }
        assert_eq!(warning.note(start + Duration::from_secs(60)), Some(59));
        assert_eq!(warning.note(start + Duration::from_secs(61)), None);
        assert_eq!(warning.note(start + Duration::from_secs(200)), Some(1));
    }

    #[test]
    fn each_path_answers_with_its_status_and_type() {
        let metrics = Metrics::new(Role::Consume, "t");
        let now = Instant::now();
        let (status, kind, body) = route("/metrics", None, &metrics, now);
        assert_eq!((status, kind), (StatusCode::OK, PROMETHEUS_TEXT));
        assert!(body.contains("meteo_consume_records_total"));
        let (_, kind, body) = route(
            "/metrics",
            Some("application/openmetrics-text"),
            &metrics,
            now,
        );
        assert_eq!(kind, OPENMETRICS);
        assert!(body.ends_with("# EOF\n"));

        let (status, _, body) = route("/healthz", None, &metrics, now);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "the engine's loop is not running\n");
        metrics.checks.lock().unwrap().running = true;
        assert_eq!(route("/healthz", None, &metrics, now).0, StatusCode::OK);
        let (status, _, body) = route("/readyz", None, &metrics, now);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "Cassandra not checked yet\n");
        assert_eq!(route("/nope", None, &metrics, now).0, StatusCode::NOT_FOUND);
    }
}
