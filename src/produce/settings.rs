//! The settings of `meteo produce`, typed once from the command line: where readings come
//! from ([`SourceChoice`], the API and its limits), where they go, how often.

use std::path::PathBuf;
use std::time::Duration;

use crate::kafka::config::Compression;
use crate::kafka::KafkaSettings;
use crate::secret::Secret;

/// Where readings come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SourceChoice {
    /// The OpenWeatherMap API (needs OWM_API_KEY).
    Owm,
    /// Made-up but plausible readings; no key needed.
    Synthetic,
    /// owm when a key is set, else synthetic (with a warning).
    Auto,
}

/// `meteo produce`.
#[derive(Debug, Clone)]
pub struct ProduceSettings {
    pub kafka: KafkaSettings,
    /// The codec of the record batches sent to Kafka.
    pub compression: Compression,
    /// The producer's city list (`meteo cities` writes it).
    pub cities: PathBuf,
    pub source: SourceChoice,
    /// Base URL of the weather API, without a trailing slash.
    pub api_url: String,
    pub api_key: Option<Secret>,
    pub lang: String,
    pub api_timeout: Duration,
    pub interval: Duration,
    /// API calls per minute and per 30 days.
    pub rate: u32,
    pub monthly_quota: u64,
    /// One sweep, then exit.
    pub once: bool,
    /// Print the schedule's plan for the list and exit, without a call or Kafka.
    pub plan: bool,
    pub seed: Option<u64>,
    /// Where to serve /metrics, /healthz and /readyz; none when unset.
    pub metrics_addr: Option<std::net::SocketAddr>,
}
