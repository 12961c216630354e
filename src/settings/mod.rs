//! Typed settings, built once from the command line in [`crate::cli`], and the validators
//! clap uses to turn raw flag and environment values into them. No I/O but a password file.

use std::path::PathBuf;
use std::time::Duration;

use crate::secret::Secret;

mod parse;
pub use parse::*;

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
    pub kafka: crate::kafka::KafkaSettings,
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
    pub seed: Option<u64>,
    /// Where to serve /metrics, /healthz and /readyz; none when unset.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// `meteo consume`.
#[derive(Debug, Clone)]
pub struct ConsumeSettings {
    pub kafka: crate::kafka::KafkaSettings,
    pub cassandra: crate::store::CassandraSettings,
    pub group: String,
    pub concurrency: usize,
    pub max_messages: Option<u64>,
    pub until_idle: Option<Duration>,
    pub stats_interval: Duration,
    /// Where to serve /metrics, /healthz and /readyz; none when unset.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

/// `meteo migrate`.
#[derive(Debug, Clone)]
pub struct MigrateSettings {
    pub kafka: crate::kafka::KafkaSettings,
    pub cassandra: crate::store::CassandraSettings,
    pub cql_dir: PathBuf,
    /// The keyspace's CQL replication map.
    pub replication: String,
    pub partitions: i32,
    pub topic_replication_factor: i32,
    /// List the migrations, change nothing.
    pub status: bool,
}

/// `meteo dash`: where to read, how to show it, where logs go while it owns the screen.
#[derive(Debug, Clone)]
pub struct DashCommandSettings {
    pub cassandra: crate::store::CassandraSettings,
    pub view: crate::dash::DashSettings,
    pub log_file: Option<PathBuf>,
}

/// `meteo cities`.
#[derive(Debug, Clone)]
pub struct CitiesSettings {
    pub from: crate::owm::source::Source,
    pub selection: crate::owm::cities::Selection,
    pub out: PathBuf,
    pub strict: bool,
    /// For connecting, for the response, and for each read.
    pub timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::parse::parse_kafka_properties;
    use super::*;

    #[test]
    fn durations_read_units_and_combinations_and_refuse_zero() {
        use Duration;
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5m").unwrap(), Duration::from_secs(90));
        for bad in ["", "0", "0s", "10x", "m", "-1s", "99999999999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(600)), "10m");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s500ms");
        for d in [1, 59, 61, 3599, 3601, 86_400 + 7] {
            let d = Duration::from_secs(d);
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
    }

    #[test]
    fn replication_maps_must_name_a_class() {
        assert!(parse_replication_map("{'class': 'NetworkTopologyStrategy', 'dc1': 3}").is_ok());
        assert!(parse_replication_map("3").is_err());
        assert!(parse_replication_map("{'dc1': 3}").is_err());
        assert!(parse_replication_map("{'class': 'X'}; DROP KEYSPACE a").is_err());
    }

    #[test]
    fn base_urls_are_http_without_a_query() {
        assert_eq!(
            parse_base_url("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(parse_base_url("https://").is_err());
        assert!(parse_base_url("ftp://x").is_err());
        assert!(parse_base_url("http://x/?appid=1").is_err());
    }

    #[test]
    fn units_are_named_as_on_the_command_line() {
        use crate::dash::Units;
        assert_eq!(parse_units("metric-kmh").unwrap(), Units::MetricKmh);
        assert_eq!(parse_units("imperial").unwrap(), Units::Imperial);
        assert!(parse_units("kelvin").unwrap_err().contains("kelvin"));
    }

    #[test]
    fn host_port_accepts_names_addresses_and_ipv6() {
        assert_eq!(parse_host_port("localhost:9092").unwrap(), "localhost:9092");
        assert_eq!(parse_host_port(" 10.0.0.1:9042 ").unwrap(), "10.0.0.1:9042");
        assert_eq!(parse_host_port("[::1]:9042").unwrap(), "[::1]:9042");
    }

    #[test]
    fn host_port_rejects_missing_or_bad_ports_and_says_which() {
        assert!(parse_host_port("localhost")
            .unwrap_err()
            .contains("port is missing"));
        assert!(parse_host_port(":9092")
            .unwrap_err()
            .contains("host is missing"));
        assert!(parse_host_port("h:0").unwrap_err().contains("'0'"));
        assert!(parse_host_port("h:99999").unwrap_err().contains("99999"));
        assert!(parse_host_port("::1:9042").is_err());
    }

    #[test]
    fn a_metrics_address_is_host_port_resolved_at_once() {
        assert_eq!(
            parse_listen_addr("127.0.0.1:9464").unwrap(),
            "127.0.0.1:9464".parse().unwrap()
        );
        assert_eq!(parse_listen_addr("[::]:9464").unwrap().port(), 9464);
        assert!(parse_listen_addr("localhost:9464")
            .unwrap()
            .ip()
            .is_loopback());
        assert!(parse_listen_addr("9464")
            .unwrap_err()
            .contains("port is missing"));
        assert!(parse_listen_addr("0.0.0.0:http")
            .unwrap_err()
            .contains("'http'"));
        assert!(parse_listen_addr("no-such-host.invalid:9464")
            .unwrap_err()
            .contains("cannot be listened on"));
    }

    #[test]
    fn kafka_options_split_on_the_first_equals_and_hide_values_in_errors() {
        let (key, value) = parse_kafka_option("sasl.jaas=a=b").unwrap();
        assert_eq!((key.as_str(), value.expose()), ("sasl.jaas", "a=b"));
        assert!(!format!("{value:?}").contains("a=b"));
        let err = parse_kafka_option("sasl.password").unwrap_err();
        assert!(!err.contains("sasl.password"));
        assert!(parse_kafka_option("=x").is_err());
    }

    #[test]
    fn a_kafka_properties_file_reads_like_kcats_and_names_the_bad_line_only() {
        let text = "# SASL\n\nsecurity.protocol=SASL_SSL\n  sasl.password = p@ss=w,rd  \nssl.ca.location=/ca.pem\n";
        let options = parse_kafka_properties(text).unwrap();
        let pairs: Vec<(&str, &str)> = options
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("security.protocol", "SASL_SSL"),
                ("sasl.password", "p@ss=w,rd"),
                ("ssl.ca.location", "/ca.pem")
            ]
        );
        assert_eq!(parse_kafka_properties("a=1\nhunter2\n").unwrap_err(), 2);
        let err = parse_kafka_config_file("/nonexistent/kafka.properties").unwrap_err();
        assert!(err.contains("/nonexistent/kafka.properties"), "{err}");
    }
}
