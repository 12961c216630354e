//! The command line: clap definitions for every global option and subcommand, each with its
//! environment variable (so docker-compose can configure the image by environment alone),
//! turned into typed settings once, here. Exit codes: 0 success, 2 bad usage (clap's own
//! convention), 1 any other failure with one line on stderr.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::commands;
use crate::dash::Units;
use crate::settings::{
    parse_brokers, parse_country, parse_duration, parse_host_port, parse_kafka_option,
    parse_keyspace, parse_topic, CassandraSettings, KafkaSettings, Secret,
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
    /// Live terminal dashboard of the latest readings. When stdout is not a terminal, print
    /// one snapshot table and exit.
    Dash(DashArgs),
}

#[derive(Debug, Args)]
pub struct DashArgs {
    /// How often to read Cassandra again (e.g. 5s, 500ms, 1m).
    #[arg(long, env = "METEO_REFRESH", default_value = "5s", value_parser = parse_refresh)]
    pub refresh: Duration,

    /// The country whose cities are shown (ISO 3166 alpha-2).
    #[arg(long, env = "METEO_COUNTRY", default_value = "FR", value_parser = parse_country)]
    pub country: String,

    /// Units: metric (°C, m/s), metric-kmh (°C, km/h) or imperial (°F, mph); `u` switches.
    #[arg(long, env = "METEO_UNITS", value_enum, default_value = "metric")]
    pub units: Units,

    /// Readings older than this are dimmed.
    #[arg(long, env = "METEO_STALE_AFTER", default_value = "1h", value_parser = parse_duration)]
    pub stale_after: Duration,

    /// ASCII weather icons and wind directions (automatic when the locale is not UTF-8).
    #[arg(long, env = "METEO_ASCII")]
    pub ascii: bool,

    /// Append log lines here while the dashboard owns the screen (otherwise they are dropped).
    #[arg(long, env = "METEO_LOG_FILE")]
    pub log_file: Option<PathBuf>,
}

/// A refresh period: at least 100 ms, so a typo cannot hammer Cassandra.
fn parse_refresh(value: &str) -> Result<Duration, String> {
    let period = parse_duration(value)?;
    if period < Duration::from_millis(100) {
        return Err(format!(
            "'{value}' is too short for a refresh period (at least 100ms)"
        ));
    }
    Ok(period)
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
    // While the dashboard owns the screen a log line would tear it: logs go to a file or nowhere.
    let logged = match &cli.command {
        Command::Dash(args) if commands::dash::owns_terminal() => {
            crate::logging::init_quiet(args.log_file.as_deref())
        }
        _ => {
            crate::logging::init();
            Ok(())
        }
    };
    if let Err(err) = logged {
        eprintln!("meteo: error: {err:#}");
        return ExitCode::FAILURE;
    }
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
            Command::Dash(args) => commands::dash::run(&cli.global, args).await,
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

    #[test]
    fn dash_flags_have_the_documented_defaults() {
        let cli = Cli::try_parse_from(["meteo", "dash"]).unwrap();
        let Command::Dash(args) = cli.command else {
            panic!("not dash");
        };
        assert_eq!(args.refresh, Duration::from_secs(5));
        assert_eq!(args.country, "FR");
        assert_eq!(args.units, Units::Metric);
    }

    #[test]
    fn dash_rejects_a_refresh_period_too_short_or_malformed() {
        for bad in ["0s", "10ms", "fast", "-1s"] {
            assert!(
                Cli::try_parse_from(["meteo", "dash", "--refresh", bad]).is_err(),
                "{bad}"
            );
        }
        let cli = Cli::try_parse_from([
            "meteo",
            "dash",
            "--refresh",
            "2m",
            "--units",
            "imperial",
            "--country",
            "be",
        ])
        .unwrap();
        let Command::Dash(args) = cli.command else {
            panic!("not dash");
        };
        assert_eq!(args.refresh, Duration::from_secs(120));
        assert_eq!(args.units, Units::Imperial);
        assert_eq!(args.country, "BE");
    }
}
