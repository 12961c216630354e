//! Where readings come from: the [`ReadingSource`] trait and the engine's [`SourceError`], its
//! two sources (the OpenWeatherMap client, whose errors are mapped here, and the synthetic
//! source) and the choice between them from the settings.

use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use super::settings::{ProduceSettings, SourceChoice};
use crate::city::City;
use crate::model::{Reading, SOURCE_OWM, SOURCE_SYNTHETIC};
use crate::owm::api::{self, ApiConfig, ApiError, ErrorClass};
use crate::schedule::Limits;
use crate::secret::Secret;
use crate::synthetic::Synthetic;

/// Why a source brought no reading, by what the engine does about it. Every source's errors
/// become one of these, so the loop handles every source alike. `label` is short and stable
/// (counters, log fields); `why` is one printable line, shown as the error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    /// Nothing will work until the source is fixed (a refused key): the run stops with it.
    #[error("{why}")]
    Fatal { label: &'static str, why: String },
    /// The source does not know the city: it leaves the schedule.
    #[error("{why}")]
    UnknownCity { label: &'static str, why: String },
    /// Over the source's limits: every call pauses, for `retry_after` when the source said.
    #[error("{why}")]
    RateLimited {
        retry_after: Option<Duration>,
        label: &'static str,
        why: String,
    },
    /// Worth another try of this city later, after a backoff.
    #[error("{why}")]
    RetryLater { label: &'static str, why: String },
    /// The source itself cannot be reached: every call pauses, then one call at a time tries.
    #[error("{why}")]
    Unreachable { label: &'static str, why: String },
    /// Nothing usable this time: the city is called at its next normal time.
    #[error("{why}")]
    Skip { label: &'static str, why: String },
}

impl SourceError {
    /// A short stable name for counters and log fields.
    pub fn label(&self) -> &'static str {
        match self {
            SourceError::Fatal { label, .. }
            | SourceError::UnknownCity { label, .. }
            | SourceError::RateLimited { label, .. }
            | SourceError::RetryLater { label, .. }
            | SourceError::Unreachable { label, .. }
            | SourceError::Skip { label, .. } => label,
        }
    }
}

/// The OWM adapter's half of the contract: the API's error classes, in the engine's terms.
impl From<ApiError> for SourceError {
    fn from(err: ApiError) -> Self {
        let label = err.label();
        let why = err.to_string();
        match (err.class(), err) {
            (ErrorClass::Fatal, _) => SourceError::Fatal { label, why },
            (ErrorClass::DropCity, _) => SourceError::UnknownCity { label, why },
            (ErrorClass::PauseAll, ApiError::RateLimited { retry_after }) => {
                SourceError::RateLimited {
                    retry_after,
                    label,
                    why,
                }
            }
            (ErrorClass::PauseAll, _) => SourceError::RateLimited {
                retry_after: None,
                label,
                why,
            },
            (ErrorClass::Retry, ApiError::Unreachable { .. }) => {
                SourceError::Unreachable { label, why }
            }
            (ErrorClass::Retry, _) => SourceError::RetryLater { label, why },
            (ErrorClass::Skip, _) => SourceError::Skip { label, why },
        }
    }
}

/// A source of readings, one city per call. Its failures are the engine's [`SourceError`].
pub trait ReadingSource: Send + Sync + 'static {
    /// `owm` or `synthetic`, as in the reading's `source` field.
    fn name(&self) -> &'static str;

    /// Where the readings come from, safe to log (never the key).
    fn describe(&self) -> String;

    /// The current reading of `city`; `now` is the wall-clock time of the call. The future
    /// owns what it needs, so the loop can spawn it.
    fn fetch(
        self: Arc<Self>,
        city: &City,
        now: DateTime<Utc>,
    ) -> BoxFuture<'static, Result<Reading, SourceError>>;
}

impl ReadingSource for api::Client {
    fn name(&self) -> &'static str {
        SOURCE_OWM
    }

    fn describe(&self) -> String {
        self.endpoint().to_string()
    }

    /// The answer's own time stamps the reading, so `now` is not needed.
    fn fetch(
        self: Arc<Self>,
        city: &City,
        _now: DateTime<Utc>,
    ) -> BoxFuture<'static, Result<Reading, SourceError>> {
        let fetch = self.fetch_async(city.id, city.country.clone());
        Box::pin(async move { fetch.await.map_err(SourceError::from) })
    }
}

impl ReadingSource for Synthetic {
    fn name(&self) -> &'static str {
        SOURCE_SYNTHETIC
    }

    fn describe(&self) -> String {
        format!("seed {}", self.seed())
    }

    fn fetch(
        self: Arc<Self>,
        city: &City,
        now: DateTime<Utc>,
    ) -> BoxFuture<'static, Result<Reading, SourceError>> {
        Box::pin(std::future::ready(Ok(self.current(city, now))))
    }
}

/// The source the settings ask for, and the call limits it is held to.
pub struct Chosen {
    pub source: Arc<dyn ReadingSource>,
    /// The plan's limits; `None` when calls cost nothing (the synthetic source is also a load
    /// generator, so nothing holds it back).
    pub limits: Option<Limits>,
}

/// The API key of the settings, `None` when unset or blank; refused, without echoing it, when
/// it holds spaces or control characters.
pub fn api_key(settings: &ProduceSettings) -> anyhow::Result<Option<Secret>> {
    let key = settings
        .api_key
        .clone()
        .filter(|k| !k.expose().trim().is_empty());
    if key.as_ref().is_some_and(|key| {
        key.expose()
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    }) {
        bail!("OWM_API_KEY (or --api-key) contains spaces or control characters; set it to the key alone");
    }
    Ok(key)
}

/// The source for `--source` and the key ([`api_key`]): `auto` takes the API when there is a
/// key and warns loudly when there is none.
pub fn choose(settings: &ProduceSettings, key: Option<Secret>) -> anyhow::Result<Chosen> {
    let owm = |key: Secret| Chosen {
        source: Arc::new(api::Client::new(ApiConfig {
            base_url: settings.api_url.clone(),
            key,
            lang: settings.lang.clone(),
            timeout: settings.api_timeout,
        })),
        limits: Some(Limits {
            per_minute: settings.rate,
            monthly_quota: settings.monthly_quota,
        }),
    };
    let synthetic = || {
        let seed = settings.seed.unwrap_or_else(rand::random);
        if settings.seed.is_none() {
            tracing::info!(
                seed,
                "synthetic seed chosen; pass --seed {seed} to repeat this run"
            );
        }
        Chosen {
            source: Arc::new(Synthetic::new(seed, settings.interval)),
            limits: None,
        }
    };
    Ok(match (settings.source, key) {
        (SourceChoice::Owm, Some(key)) | (SourceChoice::Auto, Some(key)) => owm(key),
        (SourceChoice::Owm, None) => {
            bail!("--source owm needs an API key: set OWM_API_KEY (or use --source synthetic)")
        }
        (SourceChoice::Synthetic, _) => synthetic(),
        (SourceChoice::Auto, None) => {
            tracing::warn!(
                "NO API KEY: OWM_API_KEY is not set, so these readings are SYNTHETIC, not real \
                 weather. Set OWM_API_KEY for live data"
            );
            synthetic()
        }
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::kafka::{Brokers, KafkaSettings, TopicName};

    fn settings(source: SourceChoice, key: Option<&str>) -> ProduceSettings {
        ProduceSettings {
            kafka: KafkaSettings::new(
                Brokers::parse("b:1").unwrap(),
                TopicName::parse("t").unwrap(),
            ),
            compression: Default::default(),
            cities: "cities.json".into(),
            source,
            api_url: "http://fake:1/".into(),
            api_key: key.map(Secret::new),
            lang: "fr".into(),
            api_timeout: Duration::from_secs(1),
            interval: Duration::from_secs(600),
            rate: 60,
            monthly_quota: 1_000_000,
            once: false,
            plan: false,
            seed: Some(42),
            metrics_addr: None,
        }
    }

    fn chosen(source: SourceChoice, key: Option<&str>) -> anyhow::Result<Chosen> {
        let settings = settings(source, key);
        choose(&settings, api_key(&settings)?)
    }

    #[test]
    fn a_key_takes_the_api_at_the_plan_limits_and_no_key_the_synthetic_source_unlimited() {
        let owm = chosen(SourceChoice::Auto, Some("k3y")).unwrap();
        assert_eq!(owm.source.name(), "owm");
        assert_eq!(owm.source.describe(), "http://fake:1/data/2.5/weather");
        assert_eq!(
            owm.limits,
            Some(Limits {
                per_minute: 60,
                monthly_quota: 1_000_000
            })
        );
        for (choice, key) in [
            (SourceChoice::Auto, None),
            (SourceChoice::Auto, Some("  ")),
            (SourceChoice::Synthetic, Some("k3y")),
        ] {
            let synthetic = chosen(choice, key).unwrap();
            assert_eq!(synthetic.source.name(), "synthetic", "{choice:?} {key:?}");
            assert_eq!(synthetic.source.describe(), "seed 42");
            assert_eq!(synthetic.limits, None);
        }
    }

    #[test]
    fn the_api_without_a_key_or_with_a_spaced_key_is_refused_without_echoing_it() {
        let err = chosen(SourceChoice::Owm, None).err().unwrap().to_string();
        assert!(err.contains("--source owm needs an API key"), "{err}");
        let err = chosen(SourceChoice::Auto, Some("k3y secret"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("contains spaces"), "{err}");
        assert!(!err.contains("secret"), "{err}");
    }

    #[tokio::test]
    async fn the_synthetic_source_gives_the_reading_of_the_time_it_is_asked_at() {
        let synthetic = Synthetic::new(7, Duration::from_secs(600));
        let city = City {
            id: 2988507,
            name: "Paris".into(),
            country: "FR".into(),
            lat: 48.85,
            lon: 2.35,
        };
        let now = DateTime::parse_from_rfc3339("2026-11-28T19:52:11Z")
            .unwrap()
            .with_timezone(&Utc);
        let source: Arc<dyn ReadingSource> = Arc::new(synthetic);
        let reading = source.fetch(&city, now).await.unwrap();
        assert_eq!(reading, synthetic.current(&city, now));
        assert_eq!(reading.fetched_at, Some(now));
    }

    #[test]
    fn each_owm_error_becomes_the_engine_class_it_calls_for_keeping_its_label_and_words() {
        let cases = [
            (
                ApiError::KeyRefused {
                    message: "bad key".into(),
                },
                "fatal",
            ),
            (ApiError::CityNotFound { city_id: 4 }, "unknown city"),
            (
                ApiError::RateLimited {
                    retry_after: Some(Duration::from_secs(5)),
                },
                "rate limited 5s",
            ),
            (ApiError::RateLimited { retry_after: None }, "rate limited"),
            (
                ApiError::Transient {
                    detail: "HTTP 503".into(),
                },
                "retry",
            ),
            (
                ApiError::Unreachable {
                    detail: "refused".into(),
                },
                "unreachable",
            ),
            (
                ApiError::BadAnswer {
                    reason: "not JSON".into(),
                },
                "skip",
            ),
            (
                ApiError::Rejected {
                    status: 400,
                    message: "bad".into(),
                },
                "skip",
            ),
            (
                ApiError::Redirected {
                    to: "http://elsewhere:80".into(),
                    why: "another server",
                },
                "skip",
            ),
        ];
        for (api, class) in cases {
            let err = SourceError::from(api.clone());
            let got = match &err {
                SourceError::Fatal { .. } => "fatal".to_string(),
                SourceError::UnknownCity { .. } => "unknown city".to_string(),
                SourceError::RateLimited {
                    retry_after: Some(d),
                    ..
                } => format!("rate limited {}s", d.as_secs()),
                SourceError::RateLimited { .. } => "rate limited".to_string(),
                SourceError::RetryLater { .. } => "retry".to_string(),
                SourceError::Unreachable { .. } => "unreachable".to_string(),
                SourceError::Skip { .. } => "skip".to_string(),
            };
            assert_eq!(got, class, "{api:?}");
            assert_eq!(err.label(), api.label(), "{api:?}");
            assert_eq!(err.to_string(), api.to_string());
        }
    }
}
