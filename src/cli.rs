//! The command line: clap definitions for every global option and subcommand, each with its
//! environment variable (so docker-compose can configure the image by environment alone),
//! turned into typed settings once, here. Exit codes: 0 success, 2 bad usage (clap's own
//! convention), 1 any other failure with one line on stderr.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands;
use crate::settings::{
    parse_brokers, parse_duration, parse_host_port, parse_kafka_option, parse_keyspace,
    parse_topic, CassandraSettings, KafkaSettings, Secret,
};

/// Live weather for French cities: OpenWeatherMap -> Kafka -> Cassandra -> terminal.
#[derive(Debug, Parser)]
#[command(name = "meteo", version, about, arg_required_else_help = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command understands. Log level: `RUST_LOG` (default `info`).
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Kafka bootstrap servers, comma-separated host:port.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "localhost:9092", value_parser = parse_brokers, global = true)]
    pub brokers: String,

    /// The readings topic; dead letters go to `<topic>.dlq`.
    #[arg(long, env = "METEO_TOPIC", default_value = "weather.current", value_parser = parse_topic, global = true)]
    pub topic: String,

    /// Cassandra contact points, comma-separated host:port.
    #[arg(long, env = "CASSANDRA_NODES", default_value = "localhost:9042", value_delimiter = ',', value_parser = parse_host_port, global = true)]
    pub cassandra: Vec<String>,

    /// Cassandra keyspace.
    #[arg(long, env = "METEO_KEYSPACE", default_value = "meteo", value_parser = parse_keyspace, global = true)]
    pub keyspace: String,

    /// Cassandra user (password authentication).
    #[arg(long = "cassandra-user", env = "CASSANDRA_USER", global = true)]
    pub cassandra_user: Option<String>,

    /// Cassandra password.
    #[arg(
        long = "cassandra-password",
        env = "CASSANDRA_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    pub cassandra_password: Option<String>,

    /// A librdkafka property, key=value (SASL, TLS, tuning); repeatable. The environment
    /// variable takes a comma-separated list.
    #[arg(short = 'X', value_name = "KEY=VALUE", env = "METEO_KAFKA_OPTS", value_delimiter = ',', value_parser = parse_kafka_option, hide_env_values = true, global = true)]
    pub kafka_options: Vec<(String, String)>,
}

impl GlobalArgs {
    pub fn kafka(&self) -> KafkaSettings {
        KafkaSettings {
            brokers: self.brokers.clone(),
            topic: self.topic.clone(),
            options: self.kafka_options.clone(),
        }
    }

    pub fn cassandra(&self) -> CassandraSettings {
        CassandraSettings {
            nodes: self.cassandra.clone(),
            keyspace: self.keyspace.clone(),
            user: self.cassandra_user.clone(),
            password: self.cassandra_password.clone().map(Secret::new),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the keyspace and tables (cql/NNN_name.cql, in order) and the Kafka topics.
    /// Idempotent: a second run changes nothing.
    Migrate(MigrateArgs),
    /// Poll the weather API for every city of the list, within the plan's limits, and publish
    /// each new observation to the topic. Without an API key, synthetic readings.
    Produce(ProduceArgs),
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The folder of migration files, named NNN_name.cql and applied in order of NNN.
    #[arg(long, env = "METEO_CQL_DIR", default_value = "cql")]
    pub cql_dir: PathBuf,

    /// Keyspace replication factor (SimpleStrategy). For several data centres use --replication.
    #[arg(long, env = "METEO_REPLICATION_FACTOR", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..), conflicts_with = "replication")]
    pub replication_factor: u16,

    /// Full keyspace replication map, e.g. "{'class': 'NetworkTopologyStrategy', 'dc1': 3}".
    #[arg(long, env = "METEO_REPLICATION", value_parser = parse_replication_map)]
    pub replication: Option<String>,

    /// Partitions of a newly created topic; existing topics are left as they are.
    #[arg(long, env = "METEO_PARTITIONS", default_value_t = 6, value_parser = clap::value_parser!(i32).range(1..=10_000))]
    pub partitions: i32,

    /// Replication factor of a newly created topic.
    #[arg(long, env = "METEO_TOPIC_REPLICATION_FACTOR", default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=100))]
    pub topic_replication_factor: i32,

    /// List applied and pending migration files, change nothing.
    #[arg(long)]
    pub status: bool,
}

/// Where readings come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceChoice {
    /// The OpenWeatherMap API (needs OWM_API_KEY).
    Owm,
    /// Made-up but plausible readings; no key needed.
    Synthetic,
    /// owm when a key is set, else synthetic (with a warning).
    Auto,
}

#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// The city list: a JSON array of {id, name, country, lat, lon}, as `meteo cities` writes it.
    #[arg(long, env = "METEO_CITIES", default_value = "data/cities.fr.json")]
    pub cities: PathBuf,

    /// Base URL of the weather API; /data/2.5/weather is appended.
    #[arg(long, env = "OWM_API_URL", default_value = crate::owm::api::DEFAULT_BASE_URL, value_parser = parse_base_url)]
    pub api_url: String,

    /// OpenWeatherMap API key. Prefer the OWM_API_KEY variable: a flag shows in `ps` and in
    /// shell history.
    #[arg(long, env = "OWM_API_KEY", hide_env_values = true, value_parser = parse_secret)]
    pub api_key: Option<Secret>,

    /// How often each city is refreshed: the API's update cadence. Stretched at start when the
    /// list cannot be refreshed this often within --rate and --monthly-quota.
    #[arg(long, env = "METEO_INTERVAL", default_value = "10m", value_parser = parse_duration)]
    pub interval: Duration,

    /// API calls per minute, never exceeded in any 60-second window (free plan: 60).
    #[arg(long, env = "METEO_RATE", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate: u32,

    /// API calls per 30 days, never exceeded in any 30-day window (free plan: 1,000,000).
    #[arg(long, env = "METEO_MONTHLY_QUOTA", default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub monthly_quota: u64,

    /// Language of the weather descriptions.
    #[arg(long, env = "METEO_LANG", default_value = "fr", value_parser = parse_lang)]
    pub lang: String,

    /// One sweep over the list, wait for every delivery, print a summary and exit
    /// (1 when any city failed).
    #[arg(long, env = "METEO_ONCE")]
    pub once: bool,

    /// Where readings come from.
    #[arg(long, env = "METEO_SOURCE", value_enum, default_value_t = SourceChoice::Auto)]
    pub source: SourceChoice,

    /// Seed of the synthetic source: the same seed gives the same readings.
    #[arg(long, env = "METEO_SEED")]
    pub seed: Option<u64>,

    /// Time limit for connecting to the API, and again for receiving its answer.
    #[arg(long, env = "METEO_API_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub api_timeout: Duration,
}

/// An http(s) base URL without query or fragment (the key goes into the query).
fn parse_base_url(value: &str) -> Result<String, String> {
    let trimmed = value.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or_else(|| format!("'{value}' is not an http:// or https:// URL"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("'{value}' has no host"));
    }
    if rest.contains(['?', '#', ' ']) {
        return Err(format!(
            "'{value}': give the base URL only, without query or fragment"
        ));
    }
    Ok(trimmed.to_string())
}

/// A secret, wrapped at once. Never fails: a parser error would echo the value; the command
/// checks it instead.
fn parse_secret(value: &str) -> Result<Secret, String> {
    Ok(Secret::new(value))
}

/// A language code such as `fr`, `en`, `zh_cn` or `pt_br`.
fn parse_lang(value: &str) -> Result<String, String> {
    let ok =
        (2..=5).contains(&value.len()) && value.chars().all(|c| c.is_ascii_lowercase() || c == '_');
    if !ok {
        return Err(format!(
            "'{value}' is not a language code such as fr, en or pt_br"
        ));
    }
    Ok(value.to_string())
}

/// A CQL replication map: `{...}` naming a `class`. Cassandra validates the rest.
fn parse_replication_map(value: &str) -> Result<String, String> {
    let trimmed = value.trim();
    if !(trimmed.starts_with('{') && trimmed.ends_with('}') && trimmed.contains("'class'")) {
        return Err(format!(
            "'{value}' is not a CQL replication map such as \"{{'class': 'NetworkTopologyStrategy', 'dc1': 3}}\""
        ));
    }
    if trimmed.contains(';') {
        return Err("a replication map cannot contain ';'".into());
    }
    Ok(trimmed.to_string())
}

/// Parses the command line, runs the command, and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    // clap prints usage errors itself and exits with 2; --help and --version exit with 0.
    let cli = Cli::parse();
    crate::logging::init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // The whole context chain on one line: what failed, and why.
            eprintln!("meteo: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Migrate(args) => commands::migrate::run(&cli.global, args).await,
            Command::Produce(args) => commands::produce::run(&cli.global, args).await,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn replication_maps_must_name_a_class() {
        assert!(parse_replication_map("{'class': 'NetworkTopologyStrategy', 'dc1': 3}").is_ok());
        assert!(parse_replication_map("3").is_err());
        assert!(parse_replication_map("{'dc1': 3}").is_err());
        assert!(parse_replication_map("{'class': 'X'}; DROP KEYSPACE a").is_err());
    }

    #[test]
    fn produce_has_the_documented_defaults() {
        let cli = Cli::try_parse_from(["meteo", "produce"]).unwrap();
        let Command::Produce(args) = cli.command else {
            panic!("not produce")
        };
        assert_eq!(args.cities, PathBuf::from("data/cities.fr.json"));
        assert_eq!(args.interval, Duration::from_secs(600));
        assert_eq!((args.rate, args.monthly_quota), (60, 1_000_000));
        assert_eq!(args.lang, "fr");
        assert_eq!(args.source, SourceChoice::Auto);
        assert!(!args.once);
        assert_eq!(args.api_url, "https://api.openweathermap.org");
    }

    #[test]
    fn produce_refuses_bad_values_without_echoing_the_key() {
        for bad in [
            &["--interval", "0s"][..],
            &["--rate", "0"],
            &["--api-url", "ftp://x"],
            &["--api-url", "http://x/?appid=1"],
            &["--lang", "français"],
            &["--source", "web"],
        ] {
            let mut argv = vec!["meteo", "produce"];
            argv.extend_from_slice(bad);
            assert!(Cli::try_parse_from(&argv).is_err(), "{bad:?} accepted");
        }
        let cli = Cli::try_parse_from(["meteo", "produce", "--api-key", "KEY0123"]).unwrap();
        assert!(!format!("{cli:?}").contains("KEY0123"));
    }

    #[test]
    fn base_urls_are_http_without_a_query() {
        assert_eq!(
            parse_base_url("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(parse_base_url("https://").is_err());
    }

    #[test]
    fn replication_factor_and_map_cannot_both_be_given() {
        let parsed = Cli::try_parse_from([
            "meteo",
            "migrate",
            "--replication-factor",
            "3",
            "--replication",
            "{'class': 'SimpleStrategy', 'replication_factor': 1}",
        ]);
        assert!(parsed.is_err());
    }
}
