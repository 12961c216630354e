//! The Current Weather API client: one blocking ureq call per city (`/data/2.5/weather?id=`),
//! the answer parsed leniently into a schema-1 [`Reading`], every other outcome classified
//! into an [`ApiError`] whose class tells the caller what to do. The API key never leaves
//! this file except in the request itself: every error text is redacted, and stripped of
//! the control characters a server could send.
//!
//! Owns the HTTP side only; scheduling, retries and publishing belong to the caller. Calls
//! block, so async callers go through [`Client::fetch_async`].

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

use crate::model::{Reading, SCHEMA_VERSION, SOURCE_OWM};
use crate::settings::Secret;
use crate::text::printable;

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
    /// 5xx, 408, timeouts, refused or cut connections: worth another try later.
    #[error("temporary failure: {detail}")]
    Transient { detail: String },
    /// A 200 whose body is not a usable answer (not JSON, cut off, required field missing).
    #[error("unusable answer: {reason}")]
    BadAnswer { reason: String },
    /// Another 4xx (400 and the like): this request is wrong, retrying it changes nothing.
    #[error("request rejected (HTTP {status}: {message})")]
    Rejected { status: u16, message: String },
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
    /// Call this city again after a backoff.
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
            ApiError::Transient { .. } => ErrorClass::Retry,
            ApiError::BadAnswer { .. } | ApiError::Rejected { .. } => ErrorClass::Skip,
        }
    }

    /// A short stable name for counters and log fields.
    pub fn label(&self) -> &'static str {
        match self {
            ApiError::KeyRefused { .. } => "key_refused",
            ApiError::CityNotFound { .. } => "not_found",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Transient { .. } => "transient",
            ApiError::BadAnswer { .. } => "bad_answer",
            ApiError::Rejected { .. } => "rejected",
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
            ApiError::BadAnswer { reason } => ApiError::BadAnswer {
                reason: clean(reason),
            },
            ApiError::Rejected { status, message } => ApiError::Rejected {
                status,
                message: clean(message),
            },
            other @ (ApiError::CityNotFound { .. } | ApiError::RateLimited { .. }) => other,
        }
    }
}

/// `text` with every occurrence of `secret`, raw or percent-encoded, replaced.
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
    text.replace(secret, REDACTED).replace(&encoded, REDACTED)
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
    config: ApiConfig,
}

impl Client {
    pub fn new(config: ApiConfig) -> Self {
        let agent_config = ureq::Agent::config_builder()
            .timeout_connect(Some(config.timeout))
            .timeout_recv_response(Some(config.timeout))
            .timeout_recv_body(Some(config.timeout))
            // A trickling server must not hold a city for longer than this.
            .timeout_global(Some(config.timeout * 3))
            // Statuses are answers to classify, not transport errors.
            .http_status_as_error(false)
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

    fn fetch_unredacted(&self, city_id: i64, country: &str) -> Result<Reading, ApiError> {
        let result = self
            .agent
            .get(&self.url)
            .query("id", city_id.to_string())
            .query("appid", self.config.key.expose())
            .query("units", "metric")
            .query("lang", &self.config.lang)
            .call();
        let mut response = result.map_err(|e| self.transport_error(e))?;
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
        ApiError::Transient {
            detail: self.describe(&err),
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
            other => other.to_string(),
        };
        format!("{what} ({})", self.url)
    }
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

/// The `message` of an error body, when there is one; whole (see [`ApiError::made_safe`]).
fn api_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn bad(reason: impl Into<String>) -> ApiError {
    ApiError::BadAnswer {
        reason: reason.into(),
    }
}

/// A number at `path`, whether the API wrote it as an integer or a float.
fn number(value: &Value, path: &[&str]) -> Option<f64> {
    let mut v = value;
    for key in path {
        v = v.get(key)?;
    }
    v.as_f64().filter(|n| n.is_finite())
}

fn integer(value: &Value, path: &[&str]) -> Option<i32> {
    number(value, path)
        .map(f64::round)
        .filter(|n| (i32::MIN as f64..=i32::MAX as f64).contains(n))
        .map(|n| n as i32)
}

fn text(value: &Value, path: &[&str]) -> Option<String> {
    let mut v = value;
    for key in path {
        v = v.get(key)?;
    }
    v.as_str().map(str::to_string)
}

fn unix_time(value: &Value, path: &[&str]) -> Option<DateTime<Utc>> {
    let seconds = number(value, path)?;
    Utc.timestamp_opt(seconds as i64, 0).single()
}

/// Parses a 200 body into a reading. Lenient as the API is: only `id`, `name`, `dt` and
/// `main.temp` are required by the API's contract, and `main.humidity` by schema 1; every
/// other field may be missing or of an unexpected type and becomes `null`.
pub fn parse_current(
    body: &[u8],
    city_id: i64,
    country: &str,
    fetched_at: DateTime<Utc>,
) -> Result<Reading, ApiError> {
    // The whole body goes in the reason: cut before the key is redacted from it, a key near
    // the cut would leave its start (see `ApiError::made_safe`).
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| bad(format!("not JSON ({e}): {}", String::from_utf8_lossy(body))))?;
    if !value.is_object() {
        return Err(bad("the JSON is not an object"));
    }
    // `cod` is a number in answers and a string in some errors; a 200 must not carry another.
    let cod = match value.get("cod") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    if let Some(cod) = cod.filter(|&c| c != 200) {
        let message = api_message(body).unwrap_or_default();
        return Err(bad(format!("cod {cod} in a 200 answer: {message}")));
    }
    let id = number(&value, &["id"]).ok_or_else(|| bad("no `id`"))? as i64;
    if id != city_id {
        return Err(bad(format!(
            "asked for city {city_id}, the answer is for city {id}"
        )));
    }
    let name = text(&value, &["name"])
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| bad("no `name`"))?;
    let observed_at = unix_time(&value, &["dt"]).ok_or_else(|| bad("no `dt`"))?;
    let temperature = number(&value, &["main", "temp"]).ok_or_else(|| bad("no `main.temp`"))?;
    let humidity = integer(&value, &["main", "humidity"])
        .ok_or_else(|| bad("no `main.humidity` (a schema-1 reading needs one)"))?;
    // The first `weather` entry is the main condition; later ones are secondary.
    let weather = value
        .get("weather")
        .and_then(Value::as_array)
        .and_then(|w| w.first())
        .cloned()
        .unwrap_or(Value::Null);
    let reading = Reading {
        schema: SCHEMA_VERSION,
        source: Some(SOURCE_OWM.to_string()),
        city_id,
        city_name: name,
        country: text(&value, &["sys", "country"])
            .filter(|c| !c.trim().is_empty())
            .unwrap_or_else(|| country.to_string()),
        lat: number(&value, &["coord", "lat"]),
        lon: number(&value, &["coord", "lon"]),
        observed_at,
        fetched_at: Some(fetched_at),
        temperature,
        feels_like: number(&value, &["main", "feels_like"]),
        temp_min: number(&value, &["main", "temp_min"]),
        temp_max: number(&value, &["main", "temp_max"]),
        humidity,
        pressure: integer(&value, &["main", "pressure"]),
        wind_speed: number(&value, &["wind", "speed"]),
        wind_deg: integer(&value, &["wind", "deg"]),
        wind_gust: number(&value, &["wind", "gust"]),
        clouds: integer(&value, &["clouds", "all"]),
        visibility: integer(&value, &["visibility"]),
        rain_1h: number(&value, &["rain", "1h"]),
        rain_3h: number(&value, &["rain", "3h"]),
        snow_1h: number(&value, &["snow", "1h"]),
        snow_3h: number(&value, &["snow", "3h"]),
        weather_id: integer(&weather, &["id"]),
        weather_main: text(&weather, &["main"]),
        weather_description: text(&weather, &["description"]),
        weather_icon: text(&weather, &["icon"]),
        sunrise: unix_time(&value, &["sys", "sunrise"]),
        sunset: unix_time(&value, &["sys", "sunset"]),
        timezone: integer(&value, &["timezone"]),
    };
    reading
        .validate()
        .map_err(|e| bad(format!("not a valid reading: {e}")))?;
    Ok(reading)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = include_str!("../../tests/data/owm/weather_2988507.json");
    const LENIENT: &str = include_str!("../../tests/data/owm/weather_2996944_lenient.json");
    const ACCENTS: &str = include_str!("../../tests/data/owm/weather_2980291_accents.json");

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_795_895_531, 0).unwrap()
    }

    #[test]
    fn a_full_answer_fills_every_field_of_the_reading() {
        let r = parse_current(FULL.as_bytes(), 2988507, "XX", now()).unwrap();
        assert_eq!(r.source.as_deref(), Some("owm"));
        assert_eq!((r.city_id, r.city_name.as_str()), (2988507, "Paris"));
        assert_eq!(r.country, "FR");
        assert_eq!((r.lat, r.lon), (Some(48.8534), Some(2.3488)));
        assert_eq!(r.observed_at.timestamp(), 1795895400);
        assert_eq!(r.fetched_at, Some(now()));
        assert_eq!(r.temperature, 7.32);
        assert_eq!(
            (r.feels_like, r.temp_min, r.temp_max),
            (Some(4.91), Some(6.08), Some(8.21))
        );
        assert_eq!((r.humidity, r.pressure), (87, Some(1012)));
        assert_eq!(
            (r.wind_speed, r.wind_deg, r.wind_gust),
            (Some(4.12), Some(230), Some(8.75))
        );
        assert_eq!((r.clouds, r.visibility), (Some(90), Some(9000)));
        assert_eq!(
            (r.rain_1h, r.rain_3h, r.snow_1h, r.snow_3h),
            (Some(0.42), None, None, None)
        );
        assert_eq!(r.weather_id, Some(500));
        assert_eq!(r.weather_main.as_deref(), Some("Rain"));
        assert_eq!(r.weather_description.as_deref(), Some("légère pluie"));
        assert_eq!(r.weather_icon.as_deref(), Some("10n"));
        assert_eq!(r.sunrise.map(|t| t.timestamp()), Some(1795850220));
        assert_eq!(r.sunset.map(|t| t.timestamp()), Some(1795881360));
        assert_eq!(r.timezone, Some(3600));
    }

    #[test]
    fn a_lenient_answer_leaves_missing_fields_null_and_takes_the_first_weather_entry() {
        let r = parse_current(LENIENT.as_bytes(), 2996944, "FR", now()).unwrap();
        assert_eq!(r.temperature, -1.5);
        assert_eq!((r.temp_min, r.temp_max, r.visibility), (None, None, None));
        assert_eq!((r.wind_deg, r.timezone), (None, None));
        assert_eq!((r.snow_3h, r.snow_1h), (Some(1.2), None));
        assert_eq!(r.weather_description.as_deref(), Some("nuageux"));
        assert_eq!(r.weather_id, Some(803));
    }

    #[test]
    fn names_and_descriptions_outside_ascii_are_kept() {
        let r = parse_current(ACCENTS.as_bytes(), 2980291, "FR", now()).unwrap();
        assert_eq!(r.city_name, "Saint-Étienne");
        assert_eq!(r.weather_description.as_deref(), Some("ciel dégagé"));
    }

    #[test]
    fn cod_may_be_a_number_or_a_string() {
        let as_string = FULL.replace("\"cod\":200", "\"cod\":\"200\"");
        assert!(parse_current(as_string.as_bytes(), 2988507, "FR", now()).is_ok());
        let other = FULL.replace("\"cod\":200", "\"cod\":\"404\"");
        let err = parse_current(other.as_bytes(), 2988507, "FR", now()).unwrap_err();
        assert!(err.to_string().contains("cod 404"), "{err}");
    }

    #[test]
    fn each_required_field_is_required_and_named() {
        for (field, cut) in [
            ("`id`", "\"id\":2988507,"),
            ("`name`", "\"name\":\"Paris\","),
            ("`dt`", "\"dt\":1795895400,"),
            ("`main.temp`", "\"temp\":7.32,"),
            ("`main.humidity`", ",\"humidity\":87"),
        ] {
            let body = FULL.replace(cut, "");
            assert_ne!(body, FULL, "{cut} not found");
            let err = parse_current(body.as_bytes(), 2988507, "FR", now()).unwrap_err();
            assert_eq!(err.class(), ErrorClass::Skip);
            assert!(err.to_string().contains(field), "{field}: {err}");
        }
    }

    #[test]
    fn the_country_of_the_list_fills_in_when_the_answer_has_none() {
        let body = FULL.replace("\"country\":\"FR\",", "");
        let r = parse_current(body.as_bytes(), 2988507, "FR", now()).unwrap();
        assert_eq!(r.country, "FR");
    }

    #[test]
    fn bodies_that_are_not_answers_are_bad_answers() {
        for body in [
            "<html><body>502 Bad Gateway</body></html>",
            "OK",
            "",
            "[1, 2]",
            &FULL[..FULL.len() / 2],
        ] {
            let err = parse_current(body.as_bytes(), 2988507, "FR", now()).unwrap_err();
            assert!(matches!(err, ApiError::BadAnswer { .. }), "{body}: {err:?}");
        }
    }

    #[test]
    fn an_answer_for_another_city_or_with_an_impossible_value_is_refused() {
        let err = parse_current(FULL.as_bytes(), 1, "FR", now()).unwrap_err();
        assert!(err.to_string().contains("city 2988507"), "{err}");
        let hot = FULL.replace("\"temp\":7.32", "\"temp\":99");
        assert!(parse_current(hot.as_bytes(), 2988507, "FR", now()).is_err());
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
        assert!(!format!("{err} {err:?}").contains("DISTINCTIVEKEY123"));
    }
}
