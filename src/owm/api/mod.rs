//! The Current Weather API client: one blocking ureq call per city (`/data/2.5/weather?id=`),
//! the answer parsed leniently into a schema-1 [`Reading`], every other outcome classified
//! into an [`ApiError`] whose class tells the caller what to do. The API key never leaves
//! this file except in the request itself: every error text is redacted, and stripped of
//! the control characters a server could send.
//!
//! Owns the HTTP side only; scheduling, retries and publishing belong to the caller. Calls
//! block, so async callers go through [`Client::fetch_async`].

mod answer;
mod redirect;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::Reading;
use crate::secret::Secret;
use crate::text::printable;

use answer::api_message;
pub use answer::parse_current;

/// The public API; `--api-url` replaces it (a test's fake server, a proxy).
pub const DEFAULT_BASE_URL: &str = "https://api.openweathermap.org";

/// The Current Weather endpoint, appended to the base URL. The multi-city `/group` endpoint
/// was switched off in 2025 (it answers 401 even with a valid key), so it is one call per city.
pub const WEATHER_PATH: &str = "/data/2.5/weather";

/// An answer is about 600 bytes; anything much larger is not an answer.
const MAX_BODY_BYTES: u64 = 256 * 1024;

/// What replaces the key in any text that might quote it.
const REDACTED: &str = "[redacted]";

/// Longest text from outside an error keeps, in characters: enough for any real message.
const MAX_TEXT_CHARS: usize = 200;

/// How to reach the API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Scheme, host and optional prefix, without the `/data/2.5/weather` path.
    pub base_url: String,
    pub key: Secret,
    /// Language of `weather[].description` (`fr`).
    pub lang: String,
    /// Limit for connecting, and again for each of receiving the answer and its body.
    pub timeout: Duration,
}

/// Why a call brought no reading. The class ([`ApiError::class`]) decides what the caller does.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// 401: nothing will work until the key does.
    #[error("OpenWeatherMap refused the API key (HTTP 401: {message}); check OWM_API_KEY. A new key can take up to 2 hours to become active")]
    KeyRefused { message: String },
    /// 404: the id is not a city the API knows.
    #[error("city {city_id} is unknown to the API (HTTP 404)")]
    CityNotFound { city_id: i64 },
    /// 429: over the plan's limit; `Retry-After` when the server sent one.
    #[error("over the plan's limit (HTTP 429){}", retry_after.map(|d| format!(", retry after {} s", d.as_secs())).unwrap_or_default())]
    RateLimited { retry_after: Option<Duration> },
    /// 5xx, 408, no answer in time, a cut answer: worth another try later.
    #[error("temporary failure: {detail}")]
    Transient { detail: String },
    /// No server answered: its host is not found, or refuses or times out the connection.
    /// Worth another try later, like [`ApiError::Transient`], but it is the API that is out,
    /// not the city: the loop pauses every call while it lasts.
    #[error("the API cannot be reached: {detail}")]
    Unreachable { detail: String },
    /// A 200 whose body is not a usable answer (not JSON, cut off, required field missing).
    #[error("unusable answer: {reason}")]
    BadAnswer { reason: String },
    /// Another 4xx (400 and the like): this request is wrong, retrying it changes nothing.
    #[error("request rejected (HTTP {status}: {message})")]
    Rejected { status: u16, message: String },
    /// A redirect the client does not follow: to another server, from https to http, or
    /// too many; `to` is the scheme, host and port only (the rest may hold the key).
    #[error("the API redirected to {to} ({why}); not followed, the key goes to --api-url only")]
    Redirected { to: String, why: &'static str },
}

/// What the caller should do after an [`ApiError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Stop the program.
    Fatal,
    /// Stop calling this city.
    DropCity,
    /// Pause every call.
    PauseAll,
    /// Call this city again after a backoff; when the API itself cannot be reached
    /// ([`ApiError::Unreachable`]), every call waits.
    Retry,
    /// Count, log, and call the city at its next normal time.
    Skip,
}

impl ApiError {
    pub fn class(&self) -> ErrorClass {
        match self {
            ApiError::KeyRefused { .. } => ErrorClass::Fatal,
            ApiError::CityNotFound { .. } => ErrorClass::DropCity,
            ApiError::RateLimited { .. } => ErrorClass::PauseAll,
            ApiError::Transient { .. } | ApiError::Unreachable { .. } => ErrorClass::Retry,
            ApiError::BadAnswer { .. }
            | ApiError::Rejected { .. }
            | ApiError::Redirected { .. } => ErrorClass::Skip,
        }
    }

    /// A short stable name for counters and log fields.
    pub fn label(&self) -> &'static str {
        match self {
            ApiError::KeyRefused { .. } => "key_refused",
            ApiError::CityNotFound { .. } => "not_found",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Transient { .. } => "transient",
            ApiError::Unreachable { .. } => "unreachable",
            ApiError::BadAnswer { .. } => "bad_answer",
            ApiError::Rejected { .. } => "rejected",
            ApiError::Redirected { .. } => "redirected",
        }
    }

    /// The same error with every text from outside made safe to print: control characters
    /// and escape sequences out ([`printable`]), then `secret` (raw and URL-encoded) out,
    /// then cut to [`MAX_TEXT_CHARS`]. In that order: no control character inside the key can
    /// hide it from [`redact`], and no cut can leave the start of a key unredacted (texts are
    /// built whole for that reason).
    fn made_safe(self, secret: &str) -> Self {
        let clean = |text: String| cut(redact(&printable(&text), secret), MAX_TEXT_CHARS);
        match self {
            ApiError::KeyRefused { message } => ApiError::KeyRefused {
                message: clean(message),
            },
            ApiError::Transient { detail } => ApiError::Transient {
                detail: clean(detail),
            },
            ApiError::Unreachable { detail } => ApiError::Unreachable {
                detail: clean(detail),
            },
            ApiError::BadAnswer { reason } => ApiError::BadAnswer {
                reason: clean(reason),
            },
            ApiError::Rejected { status, message } => ApiError::Rejected {
                status,
                message: clean(message),
            },
            ApiError::Redirected { to, why } => ApiError::Redirected { to: clean(to), why },
            other @ (ApiError::CityNotFound { .. } | ApiError::RateLimited { .. }) => other,
        }
    }
}

/// `text` with every occurrence of `secret`, raw or percent-encoded, in any case, replaced:
/// a server may echo the key in capitals, and `%2f` is `%2F`.
pub fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        return text.to_string();
    }
    let encoded: String = secret
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    replace_ignoring_case(&replace_ignoring_case(text, secret), &encoded)
}

/// `text` with every occurrence of `needle`, ASCII letters in any case, replaced by
/// [`REDACTED`].
fn replace_ignoring_case(text: &str, needle: &str) -> String {
    let (hay, pin) = (text.as_bytes(), needle.as_bytes());
    let mut out = String::with_capacity(text.len());
    let (mut start, mut at) = (0, 0);
    while at + pin.len() <= hay.len() {
        if hay[at..at + pin.len()].eq_ignore_ascii_case(pin) {
            // Matches begin and end on character boundaries: ASCII case folding changes no
            // byte of a multi-byte character, so the match is `needle`'s own characters.
            out.push_str(&text[start..at]);
            out.push_str(REDACTED);
            at += pin.len();
            start = at;
        } else {
            at += 1;
        }
    }
    out.push_str(&text[start..]);
    out
}

/// `text` cut to `max` characters, with an ellipsis when something was cut.
fn cut(text: String, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

/// A Current Weather API client. Cheap to share through `Arc`; the agent pools connections.
pub struct Client {
    agent: ureq::Agent,
    url: String,
    /// `url` parsed, for redirects; empty when ureq could not call it anyway.
    uri: ureq::http::Uri,
    config: ApiConfig,
}

impl Client {
    pub fn new(config: ApiConfig) -> Self {
        let agent_config = ureq::Agent::config_builder()
            // A name server that never answers ends as Timeout(Resolve), which is
            // "unreachable"; without its own limit it would end as the global one, "transient".
            .timeout_resolve(Some(config.timeout))
            .timeout_connect(Some(config.timeout))
            .timeout_recv_response(Some(config.timeout))
            .timeout_recv_body(Some(config.timeout))
            // A trickling server must not hold a city for longer than this.
            .timeout_global(Some(config.timeout * 3))
            // Statuses are answers to classify, not transport errors.
            .http_status_as_error(false)
            // Redirects are followed by `call`, only where the key may go.
            .max_redirects(0)
            .user_agent(concat!("meteo/", env!("CARGO_PKG_VERSION")))
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    // OpenSSL is already linked for Kafka; rustls would add a second TLS stack.
                    .provider(ureq::tls::TlsProvider::NativeTls)
                    // The system's CA store: the bundled WebPKI roots are not compiled in.
                    .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                    .build(),
            )
            .build();
        let url = format!("{}{WEATHER_PATH}", config.base_url.trim_end_matches('/'));
        Self {
            agent: ureq::Agent::new_with_config(agent_config),
            uri: url.parse().unwrap_or_default(),
            url,
            config,
        }
    }

    /// The endpoint called, without the query (so without the key): safe to log.
    pub fn endpoint(&self) -> &str {
        &self.url
    }

    /// Fetches the current weather of one city. Blocks for at most a few timeouts.
    /// `country` fills the reading when the answer has no `sys.country`.
    pub fn fetch(&self, city_id: i64, country: &str) -> Result<Reading, ApiError> {
        self.fetch_unredacted(city_id, country)
            .map_err(|e| e.made_safe(self.config.key.expose()))
    }

    /// [`Client::fetch`] on the blocking thread pool, so the runtime keeps scheduling.
    pub async fn fetch_async(
        self: Arc<Self>,
        city_id: i64,
        country: String,
    ) -> Result<Reading, ApiError> {
        tokio::task::spawn_blocking(move || self.fetch(city_id, &country))
            .await
            .unwrap_or_else(|e| {
                Err(ApiError::Transient {
                    detail: format!("the call did not finish: {e}"),
                })
            })
    }

    /// Calls the endpoint for `city_id`, following the redirects [`redirect::target`] allows,
    /// at most [`redirect::MAX_REDIRECTS`].
    fn call(&self, city_id: i64) -> Result<ureq::http::Response<ureq::Body>, ApiError> {
        let mut response = self
            .agent
            .get(&self.url)
            .query("id", city_id.to_string())
            .query("appid", self.config.key.expose())
            .query("units", "metric")
            .query("lang", &self.config.lang)
            .call()
            .map_err(|e| self.transport_error(e))?;
        let mut at = self.uri.clone();
        for followed in 0.. {
            let location = match response.headers().get("location") {
                Some(location) if response.status().is_redirection() => location,
                _ => break,
            };
            if followed == redirect::MAX_REDIRECTS {
                return Err(ApiError::Redirected {
                    to: redirect::origin(&at),
                    why: "too many redirects",
                });
            }
            let to = redirect::target(&at, &String::from_utf8_lossy(location.as_bytes()))?;
            response = self
                .agent
                .get(&to)
                .call()
                .map_err(|e| self.transport_error(e))?;
            at = to;
        }
        Ok(response)
    }

    fn fetch_unredacted(&self, city_id: i64, country: &str) -> Result<Reading, ApiError> {
        let mut response = self.call(city_id)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_vec();
        let fetched_at = Utc::now();
        match status {
            200 => {
                let body = body.map_err(|e| match e {
                    ureq::Error::BodyExceedsLimit(_) => ApiError::BadAnswer {
                        reason: format!("the body is larger than {MAX_BODY_BYTES} bytes"),
                    },
                    // Cut off in transit: the next try will likely get it whole.
                    other => ApiError::Transient {
                        detail: format!("the answer was cut off: {}", self.describe(&other)),
                    },
                })?;
                parse_current(&body, city_id, country, fetched_at)
            }
            401 => Err(ApiError::KeyRefused {
                message: api_message(body.as_deref().unwrap_or_default())
                    .unwrap_or_else(|| "no message".into()),
            }),
            404 => Err(ApiError::CityNotFound { city_id }),
            429 => Err(ApiError::RateLimited { retry_after }),
            408 | 500..=599 => Err(ApiError::Transient {
                detail: format!("HTTP {status} from {}", self.url),
            }),
            _ => Err(ApiError::Rejected {
                status,
                message: api_message(body.as_deref().unwrap_or_default())
                    .unwrap_or_else(|| "no message".into()),
            }),
        }
    }

    fn transport_error(&self, err: ureq::Error) -> ApiError {
        use std::io::ErrorKind;
        let detail = self.describe(&err);
        match err {
            ureq::Error::HostNotFound
            | ureq::Error::Timeout(ureq::Timeout::Resolve | ureq::Timeout::Connect) => {
                ApiError::Unreachable { detail }
            }
            ureq::Error::Io(io)
                if is_lookup_failure(&io)
                    || matches!(
                        io.kind(),
                        ErrorKind::ConnectionRefused
                            | ErrorKind::HostUnreachable
                            | ErrorKind::NetworkUnreachable
                            | ErrorKind::AddrNotAvailable
                    ) =>
            {
                ApiError::Unreachable { detail }
            }
            _ => ApiError::Transient { detail },
        }
    }

    /// One line for a ureq error that names the endpoint (never the query: it holds the key).
    fn describe(&self, err: &ureq::Error) -> String {
        let what = match err {
            ureq::Error::Timeout(t) => format!(
                "no answer within {} s ({t})",
                self.config.timeout.as_secs_f64()
            ),
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                "connection refused".to_string()
            }
            ureq::Error::HostNotFound => "host not found".to_string(),
            // The resolver's reason tells a wrong name from no name server.
            ureq::Error::Io(io) if is_lookup_failure(io) => {
                let text = io.to_string();
                let reason = text.rsplit(": ").next().unwrap_or_default();
                format!("host not found: {reason}")
            }
            other => other.to_string(),
        };
        format!("{what} ({})", self.url)
    }
}

/// Whether an I/O error is a failed name lookup (no such host, or no name server at all).
/// ureq hands on the resolver's error as it is, and std gives getaddrinfo's failures a kind
/// that cannot be matched on stable Rust, so its fixed wording is the only mark.
fn is_lookup_failure(io: &std::io::Error) -> bool {
    io.to_string()
        .starts_with("failed to lookup address information")
}

/// `Retry-After`: delay-seconds or an HTTP date, as RFC 9110 allows.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    let seconds = (at.with_timezone(&Utc) - now).num_seconds().max(0);
    Some(Duration::from_secs(seconds as u64))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_795_895_531, 0).unwrap()
    }

    #[test]
    fn each_error_has_the_class_its_behaviour_needs() {
        let key = ApiError::KeyRefused {
            message: "Invalid API key".into(),
        };
        assert_eq!(key.class(), ErrorClass::Fatal);
        assert!(key.to_string().contains("2 hours"));
        assert_eq!(
            ApiError::CityNotFound { city_id: 1 }.class(),
            ErrorClass::DropCity
        );
        assert_eq!(
            ApiError::RateLimited { retry_after: None }.class(),
            ErrorClass::PauseAll
        );
        assert_eq!(
            ApiError::Transient { detail: "x".into() }.class(),
            ErrorClass::Retry
        );
        assert_eq!(
            ApiError::Rejected {
                status: 400,
                message: "wrong latitude".into()
            }
            .class(),
            ErrorClass::Skip
        );
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_as_a_date() {
        assert_eq!(
            parse_retry_after("120", now()),
            Some(Duration::from_secs(120))
        );
        let date = (now() + chrono::Duration::seconds(30)).to_rfc2822();
        assert_eq!(
            parse_retry_after(&date, now()),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse_retry_after("soon", now()), None);
    }

    #[test]
    fn the_key_is_redacted_raw_and_url_encoded() {
        let key = "s3cr3t key/+";
        let text = format!("GET /x?appid={key} and appid=s3cr3t%20key%2F%2B");
        let clean = redact(&text, key);
        assert!(!clean.contains("s3cr3t"), "{clean}");
        let err = ApiError::Transient { detail: text }.made_safe(key);
        assert!(!err.to_string().contains("s3cr3t"));
    }

    #[test]
    fn the_key_is_redacted_in_any_case() {
        let key = "ab12cd/é";
        let clean = redact(
            "AB12CD/é, Ab12Cd/é, ab12cd%2F%C3%A9 and AB12cd%2f%c3%a9",
            key,
        );
        assert!(!clean.to_lowercase().contains("ab12"), "{clean}");
        assert_eq!(redact("xAB12CD/éy", key), "x[redacted]y");
        assert_eq!(redact("ab12cd/ÉÉ", key), "ab12cd/ÉÉ");
    }

    #[test]
    fn a_key_quoted_where_a_text_is_cut_is_redacted_before_the_cut() {
        let key = "SEKRETKEY0123456789";
        // An error message, with the key where a 200-character cut falls.
        let body = format!(r#"{{"cod":400,"message":"{}key={key}"}}"#, "m".repeat(190));
        let err = ApiError::Rejected {
            status: 400,
            message: api_message(body.as_bytes()).unwrap(),
        }
        .made_safe(key);
        assert!(!err.to_string().contains("SEKRET"), "{err}");
        // An answer that is not JSON, with the key where the excerpt of it is cut.
        let body = format!("<html>{}{key}</html>", "h".repeat(30));
        let err = parse_current(body.as_bytes(), 1, "FR", now())
            .unwrap_err()
            .made_safe(key);
        assert!(!err.to_string().contains("SEKRET"), "{err}");
        assert!(err.to_string().contains("not JSON"), "{err}");
    }

    #[test]
    fn a_refused_connection_is_transient_and_never_quotes_the_key() {
        // Port 1 on localhost: nothing listens there.
        let client = Client::new(ApiConfig {
            base_url: "http://127.0.0.1:1".into(),
            key: Secret::new("DISTINCTIVEKEY123"),
            lang: "fr".into(),
            timeout: Duration::from_secs(2),
        });
        let err = client.fetch(2988507, "FR").unwrap_err();
        assert_eq!(err.class(), ErrorClass::Retry, "{err}");
        assert_eq!(err.label(), "unreachable", "{err}");
        assert!(!format!("{err} {err:?}").contains("DISTINCTIVEKEY123"));
    }

    #[test]
    fn a_host_that_does_not_resolve_is_unreachable_like_a_refused_port() {
        // `.invalid` never resolves (RFC 6761), whether a name server answers or none is set.
        let client = Client::new(ApiConfig {
            base_url: "http://api.openweathermap.invalid".into(),
            key: Secret::new("DISTINCTIVEKEY123"),
            lang: "fr".into(),
            timeout: Duration::from_secs(5),
        });
        let err = client.fetch(2988507, "FR").unwrap_err();
        assert_eq!(err.label(), "unreachable", "{err}");
        assert!(err.to_string().contains("host not found"), "{err}");
        assert!(!format!("{err} {err:?}").contains("DISTINCTIVEKEY123"));
    }
}
