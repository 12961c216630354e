//! The command line: clap definitions of every option and subcommand, each with its environment
//! variable, turned into typed settings once, here; exit codes (0, 1, 2: docs/design.md).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::commands;
use crate::commands::cities::CitiesSettings;
use crate::commands::consume::ConsumeSettings;
use crate::commands::dash::DashCommandSettings;
use crate::commands::migrate::MigrateSettings;
use crate::dash::Units;
use crate::kafka::config::Compression;
use crate::kafka::consumer::ConsumerOptions;
use crate::model::CountryCode;
use crate::owm::cities::{fold_name, Near, Point, Selection};
use crate::owm::source::{Source, DEFAULT_CITY_LIST_URL};
use crate::produce::{ProduceSettings, SourceChoice};
use crate::secret::Secret;
use crate::settings::{
    parse_base_url, parse_concurrency, parse_download_timeout, parse_duration, parse_lang,
    parse_listen_addr, parse_name_filter, parse_radius, parse_read_consistency, parse_read_timeout,
    parse_refresh, parse_replication_map, parse_retention, parse_secret, parse_write_consistency,
    simple_replication,
};
use crate::shutdown::Shutdown;
use crate::store::{CassandraSettings, Consistency};

mod global;
pub use global::GlobalArgs;
use global::{API, KAFKA, METRICS, SCHEDULE};

/// Under every command's help: what the environment sets besides the options.
const ENVIRONMENT: &str = "Environment: RUST_LOG sets the log level (default info, e.g. \
    RUST_LOG=meteo=debug); NO_COLOR (set, not empty) turns colour off.";

/// Live weather for French cities: OpenWeatherMap -> Kafka -> Cassandra -> terminal.
#[derive(Debug, Parser)]
#[command(
    name = "meteo",
    version,
    about,
    arg_required_else_help = true,
    after_help = ENVIRONMENT
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The command line parsed and checked as `meteo` does it (the Kafka properties read and
    /// checked, the login complete): what a usage error (exit 2) is made of.
    pub fn checked_from<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let matches = Cli::command().try_get_matches_from(args)?;
        let mut cli = Cli::from_arg_matches(&matches)?;
        let from_env =
            matches.value_source("kafka_args") == Some(clap::parser::ValueSource::EnvVariable);
        // The checks' errors read as clap's own: with the usage and the hint.
        let mut command = Cli::command();
        cli.global.check_kafka(from_env, &mut command)?;
        cli.global.check_login(&mut command)?;
        Ok(cli)
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the keyspace, the tables and the Kafka topics.
    ///
    /// Applies the migration files (cql/NNN_name.cql) in order and creates the readings topic
    /// and its dead-letter topic. Idempotent: a second run changes nothing.
    #[command(after_help = ENVIRONMENT)]
    Migrate(MigrateArgs),
    /// Live terminal dashboard of the latest readings.
    ///
    /// Reads Cassandra only. When stdout is not a terminal, prints one snapshot table and
    /// exits.
    #[command(after_help = ENVIRONMENT)]
    Dash(DashArgs),
    /// Poll the weather API for every city and publish each new observation to Kafka.
    ///
    /// Calls the API for every city of the list, within the plan's limits, and publishes each
    /// new observation to the topic. Without an API key (--source auto) it publishes synthetic
    /// readings instead.
    #[command(after_help = ENVIRONMENT)]
    Produce(ProduceArgs),
    /// Read the topic and write every valid reading to Cassandra.
    ///
    /// Reads in a consumer group (several consumers share the partitions), writes every valid
    /// reading to Cassandra, and sends invalid records to the dead-letter topic `<topic>.dlq`.
    #[command(after_help = ENVIRONMENT)]
    Consume(ConsumeArgs),
    /// Make the producer's city list from OpenWeatherMap's city.list.json.gz.
    ///
    /// Reads the list (a URL, downloaded with a progress bar, or a local file; gzip or plain
    /// JSON) as a stream, keeps the cities of one country that match the filters, drops
    /// near-duplicates, and writes a JSON array of {id, name, country, lat, lon} sorted by
    /// name then id. The output is written to a temporary file and renamed, so an interrupted
    /// run never leaves half a file. A summary goes to stderr.
    ///
    /// Names: whitespace made single spaces, C1 controls and invisible characters (zero-width,
    /// bidi controls, variation selectors, fillers, tags) dropped; an entry whose name holds
    /// other controls or is blank once cleaned is skipped as a bad entry, with its id.
    ///
    /// Near-duplicates: the list repeats some places a few metres apart (Paris 4 times). Of
    /// the entries of one country whose names are equal ignoring case, accents and hyphens
    /// (œ and oe, æ and ae, ß and ss alike), the spelling with the most accented letters is
    /// preferred, then the lowest id; taken in
    /// that order, an entry is dropped when an entry already kept lies within 10 km of it.
    /// Namesakes further apart (Saint-Sauveur, 14 villages) are all kept.
    #[command(verbatim_doc_comment, after_help = ENVIRONMENT)]
    Cities(CitiesArgs),
    /// Write the command-line reference (docs/cli.md) from these definitions.
    #[command(hide = true)]
    Docs {
        /// Where to write; "-" for stdout.
        #[arg(long, value_name = "PATH", default_value = commands::docs::DEFAULT_OUT)]
        out: PathBuf,
    },
    /// GET a URL; exit 0 on a 2xx answer, else 1 (the containers' health checks).
    #[command(hide = true)]
    Probe {
        /// e.g. http://127.0.0.1:9464/readyz
        url: String,
    },
}

/// `meteo cities`: where the list comes from, which cities to keep, where to write them.
#[derive(Debug, Args)]
#[command(next_help_heading = "City list options")]
pub struct CitiesArgs {
    /// The city list: an http(s) URL or a local file, gzip or plain JSON (told apart by content).
    #[arg(long, value_name = "URL|PATH", env = "METEO_CITY_LIST", default_value = DEFAULT_CITY_LIST_URL, value_parser = Source::parse)]
    pub from: Source,

    /// Keep the cities of this country (ISO 3166 alpha-2 code, any case).
    #[arg(long, value_name = "CC", env = "METEO_CITY_COUNTRY", default_value = "FR", value_parser = CountryCode::parse)]
    pub country: CountryCode,

    /// Keep names containing this text, ignoring case, accents and hyphens ("saint etienne"
    /// finds Saint-Étienne).
    #[arg(long, value_name = "TEXT", env = "METEO_CITY_NAME", value_parser = parse_name_filter)]
    pub name: Option<String>,

    /// Keep cities within --radius of this point, in decimal degrees (e.g. 48.85,2.35).
    #[arg(long, value_name = "LAT,LON", env = "METEO_CITY_NEAR", allow_hyphen_values = true, value_parser = Point::parse, requires = "radius")]
    pub near: Option<Point>,

    /// The radius around --near, in kilometres.
    #[arg(long, value_name = "KM", env = "METEO_CITY_RADIUS", value_parser = parse_radius, requires = "near")]
    pub radius: Option<f64>,

    /// Keep only these city ids, comma-separated; an id not found is an error.
    #[arg(long, value_name = "ID,ID...", env = "METEO_CITY_IDS", value_delimiter = ',', value_parser = clap::value_parser!(u64).range(1..))]
    pub ids: Vec<u64>,

    /// Keep at most N cities: the nearest N with --near, else the first N by name.
    #[arg(long, value_name = "N", env = "METEO_CITY_LIMIT", value_parser = clap::value_parser!(u64).range(1..))]
    pub limit: Option<u64>,

    /// Keep near-duplicates (same name within 10 km) instead of dropping them.
    #[arg(long, env = "METEO_CITY_KEEP_DUPLICATES")]
    pub keep_duplicates: bool,

    /// Fail (exit 1) on any malformed entry instead of skipping it with a warning; an entry
    /// the text rule refuses counts (the real list has 4 blank names, in RU, AZ and SY).
    #[arg(long, env = "METEO_CITY_STRICT")]
    pub strict: bool,

    /// Where to write the list; "-" for stdout. Default: data/cities.<country>.json, e.g.
    /// data/cities.de.json for --country DE.
    ///
    /// A closed stdout (piped to `head`) ends quietly; a device such as /dev/null is written
    /// to, not replaced; replacing a list says so, with its old and new counts.
    #[arg(long, value_name = "PATH", env = "METEO_CITY_OUT")]
    pub out: Option<PathBuf>,

    /// How long to wait for the server: to connect, for the response, and for each read
    /// (e.g. 30s, 2m; a bare number is seconds; at most 1h).
    #[arg(long, value_name = "DURATION", env = "METEO_DOWNLOAD_TIMEOUT", default_value = "30s", value_parser = parse_download_timeout)]
    pub timeout: Duration,
}

impl CitiesArgs {
    pub fn settings(self) -> CitiesSettings {
        let selection = Selection {
            country: self.country,
            name: self.name.as_deref().map(fold_name),
            near: self
                .near
                .zip(self.radius)
                .map(|(center, radius_km)| Near { center, radius_km }),
            ids: (!self.ids.is_empty())
                .then(|| self.ids.iter().copied().collect::<BTreeSet<u64>>()),
            limit: self.limit.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
            keep_duplicates: self.keep_duplicates,
        };
        CitiesSettings {
            from: self.from,
            selection,
            out: self.out.unwrap_or_else(|| {
                PathBuf::from(format!(
                    "data/cities.{}.json",
                    self.country.as_str().to_lowercase()
                ))
            }),
            strict: self.strict,
            timeout: self.timeout,
        }
    }
}

#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// Consumer group; several consumers in one group share the partitions.
    #[arg(long, env = "METEO_GROUP", default_value = "meteo-consumer")]
    pub group: String,

    /// Write requests to Cassandra at once (each a batch of one partition's rows, or one
    /// row), from 1 to 4096.
    #[arg(long, env = "METEO_CONCURRENCY", default_value_t = 64, value_parser = parse_concurrency)]
    pub concurrency: usize,

    /// Stop after this many records are handled (written or dead-lettered).
    #[arg(long, env = "METEO_MAX_MESSAGES", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_messages: Option<u64>,

    /// Stop once no record arrived for this long (e.g. 10s) and nothing is in flight.
    #[arg(long, env = "METEO_UNTIL_IDLE", value_parser = parse_duration)]
    pub until_idle: Option<Duration>,

    /// How often to log a progress line (counts, lag, write latency).
    #[arg(long, env = "METEO_STATS_INTERVAL", default_value = "60s", value_parser = parse_duration)]
    pub stats_interval: Duration,

    /// Consistency level of the writes (ONE, QUORUM, LOCAL_ONE, ALL, ...): LOCAL_QUORUM
    /// goes on with one node of three down; ONE is faster and weaker.
    #[arg(long, value_name = "LEVEL", env = "METEO_CONSISTENCY", default_value = "LOCAL_QUORUM", value_parser = parse_write_consistency)]
    pub consistency: Consistency,

    #[command(flatten)]
    pub metrics: MetricsArgs,
}

/// The metrics endpoint of `produce` and `consume`.
#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// Serve /metrics (Prometheus), /healthz and /readyz on this address, e.g. 0.0.0.0:9464.
    /// Off when unset.
    #[arg(long, value_name = "HOST:PORT", env = "METEO_METRICS_ADDR", help_heading = METRICS, value_parser = parse_listen_addr)]
    pub metrics_addr: Option<std::net::SocketAddr>,
}

#[derive(Debug, Args)]
pub struct DashArgs {
    /// How often to read Cassandra again (e.g. 5s, 500ms, 1m; at least 100ms).
    #[arg(long, env = "METEO_REFRESH", default_value = "5s", value_parser = parse_refresh)]
    pub refresh: Duration,

    /// The country whose cities are shown (ISO 3166 alpha-2).
    #[arg(long, env = "METEO_COUNTRY", default_value = "FR", value_parser = CountryCode::parse)]
    pub country: CountryCode,

    /// Units: metric (°C, m/s), metric-kmh (°C, km/h) or imperial (°F, mph); `u` switches.
    #[arg(long, env = "METEO_UNITS", default_value = "metric", value_parser = Units::parse)]
    pub units: Units,

    /// Readings older than this are dimmed.
    #[arg(long, env = "METEO_STALE_AFTER", default_value = "1h", value_parser = parse_duration)]
    pub stale_after: Duration,

    /// Consistency level of the reads (LOCAL_ONE: any one node of the local datacenter);
    /// ANY and EACH_QUORUM are for writes only.
    #[arg(long, value_name = "LEVEL", env = "METEO_READ_CONSISTENCY", default_value = "LOCAL_ONE", value_parser = parse_read_consistency)]
    pub consistency: Consistency,

    /// A read with no answer after this long is sent to the next node too, and after as long
    /// again to the one after; the first answer wins (10ms to 10s). Keeps a refresh short
    /// while a node is dead but not yet seen down by the others.
    #[arg(long, value_name = "DURATION", env = "METEO_READ_TIMEOUT", default_value = "300ms", value_parser = parse_read_timeout)]
    pub read_timeout: Duration,

    /// Draw everything in ASCII: borders, icons, wind, and names and descriptions without
    /// accents (automatic when the locale is not UTF-8).
    #[arg(long, env = "METEO_ASCII")]
    pub ascii: bool,

    /// Append log lines here while the dashboard owns the screen (otherwise they are dropped).
    #[arg(long, env = "METEO_LOG_FILE")]
    pub log_file: Option<PathBuf>,
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

    /// Replication factor of a newly created topic. A topic with 3 or more replicas gets
    /// min.insync.replicas = a majority (2 of 3), so acks=all still means two copies and
    /// one broker may be lost.
    #[arg(long, env = "METEO_TOPIC_REPLICATION_FACTOR", default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=100))]
    pub topic_replication_factor: i32,

    /// How long `readings` keeps a row (its default_time_to_live), e.g. 90d; the compaction
    /// window becomes about a thirtieth of it. Unset: a new table keeps everything and an
    /// existing one keeps its retention. Rows already written keep the TTL they had.
    #[arg(long, value_name = "DURATION", env = "METEO_RETENTION", value_parser = parse_retention)]
    pub retention: Option<Duration>,

    /// retention.ms of the readings topic and its dead-letter topic, e.g. 7d. Unset: a new
    /// topic takes the broker's default and an existing one keeps its own.
    #[arg(long, value_name = "DURATION", env = "METEO_TOPIC_RETENTION", value_parser = parse_retention)]
    pub topic_retention: Option<Duration>,

    /// List applied and pending migration files, the table's and the topics' retention;
    /// change nothing.
    #[arg(long)]
    pub status: bool,
}

#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// The city list: a JSON array of {id, name, country, lat, lon}, as `meteo cities` writes it.
    #[arg(long, env = "METEO_CITIES", default_value = "data/cities.fr.json")]
    pub cities: PathBuf,

    /// Base URL of the weather API; /data/2.5/weather is appended.
    #[arg(long, env = "OWM_API_URL", help_heading = API, default_value = crate::owm::api::DEFAULT_BASE_URL, value_parser = parse_base_url)]
    pub api_url: String,

    /// OpenWeatherMap API key; prefer the variable.
    ///
    /// Prefer the OWM_API_KEY variable: a flag shows in `ps` and in shell history. The key
    /// is never printed and is redacted from every error.
    #[arg(long, env = "OWM_API_KEY", help_heading = API, hide_env_values = true, value_parser = parse_secret)]
    pub api_key: Option<Secret>,

    /// How often each city is refreshed: the API's update cadence.
    ///
    /// Stretched at start when the list cannot be refreshed this often within --rate and
    /// --monthly-quota.
    #[arg(long, env = "METEO_INTERVAL", help_heading = SCHEDULE, default_value = "10m", value_parser = parse_duration)]
    pub interval: Duration,

    /// API calls per minute, never exceeded in any 60-second window (free plan: 60).
    #[arg(long, env = "METEO_RATE", help_heading = SCHEDULE, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate: u32,

    /// API calls per 30 days, never exceeded in any 30-day window (free plan: 1,000,000).
    #[arg(long, env = "METEO_MONTHLY_QUOTA", help_heading = SCHEDULE, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub monthly_quota: u64,

    /// Language of the weather descriptions.
    #[arg(long, env = "METEO_LANG", help_heading = API, default_value = "fr", value_parser = parse_lang)]
    pub lang: String,

    /// One sweep over the list, wait for every delivery, print a summary and exit
    /// (1 when any city failed).
    #[arg(long, env = "METEO_ONCE")]
    pub once: bool,

    /// Print the plan for the city list and exit: calls a minute, each city's refresh
    /// interval, the share of the monthly quota, how many cities fit at 10 minutes.
    ///
    /// Reads only the city list, --interval, --rate and --monthly-quota: no API call, no
    /// key needed, Kafka not contacted.
    #[arg(long, help_heading = SCHEDULE, conflicts_with = "once")]
    pub plan: bool,

    /// Where readings come from.
    #[arg(long, env = "METEO_SOURCE", value_enum, default_value_t = SourceChoice::Auto)]
    pub source: SourceChoice,

    /// Seed of the synthetic source: the same seed gives the same readings. Default: a
    /// random seed, logged at start.
    #[arg(long, env = "METEO_SEED")]
    pub seed: Option<u64>,

    /// Codec of the record batches sent to Kafka; zstd makes the readings several times
    /// smaller on the brokers for little CPU (docs/configuration.md).
    ///
    /// Every Kafka client since 2.1 reads all five. Not settable with -X or --kafka-config
    /// (compression.type): here only.
    #[arg(long, value_name = "CODEC", env = "METEO_COMPRESSION", help_heading = KAFKA, value_enum, ignore_case = true, default_value_t = Compression::default())]
    pub compression: Compression,

    /// Time limit for connecting to the API, and again for receiving its answer.
    #[arg(long, env = "METEO_API_TIMEOUT", help_heading = API, default_value = "10s", value_parser = parse_duration)]
    pub api_timeout: Duration,

    #[command(flatten)]
    pub metrics: MetricsArgs,
}

impl ConsumeArgs {
    pub fn settings(self, global: &GlobalArgs) -> ConsumeSettings {
        ConsumeSettings {
            kafka: global.kafka(),
            cassandra: CassandraSettings {
                consistency: self.consistency,
                ..global.cassandra()
            },
            consumer: ConsumerOptions {
                group: self.group,
                max_in_flight: commands::consume::MAX_IN_FLIGHT,
                max_groups: commands::consume::MAX_GROUPS,
                max_messages: self.max_messages,
                until_idle: self.until_idle,
                drain_timeout: commands::consume::DRAIN_TIMEOUT,
                stats_every: self.stats_interval,
            },
            concurrency: self.concurrency,
            metrics_addr: self.metrics.metrics_addr,
        }
    }
}

impl DashArgs {
    /// The dashboard's settings, with `NO_COLOR` and the locale taken into account.
    pub fn settings(self, global: &GlobalArgs) -> DashCommandSettings {
        DashCommandSettings {
            cassandra: CassandraSettings {
                consistency: self.consistency,
                read_timeout: Some(self.read_timeout),
                ..global.cassandra()
            },
            view: crate::dash::DashSettings {
                country: self.country,
                refresh: self.refresh,
                units: self.units,
                stale_after: self.stale_after,
                color: !crate::dash::no_color(),
                ascii: self.ascii || crate::dash::ascii_locale(),
            },
            log_file: self.log_file,
        }
    }
}

impl MigrateArgs {
    pub fn settings(self, global: &GlobalArgs) -> MigrateSettings {
        MigrateSettings {
            kafka: global.kafka(),
            cassandra: global.cassandra(),
            cql_dir: self.cql_dir,
            replication: self
                .replication
                .unwrap_or_else(|| simple_replication(self.replication_factor)),
            partitions: self.partitions,
            topic_replication_factor: self.topic_replication_factor,
            retention: self.retention,
            topic_retention: self.topic_retention,
            status: self.status,
        }
    }
}

impl ProduceArgs {
    pub fn settings(self, global: &GlobalArgs) -> ProduceSettings {
        ProduceSettings {
            kafka: global.kafka(),
            compression: self.compression,
            cities: self.cities,
            source: self.source,
            api_url: self.api_url,
            api_key: self.api_key,
            lang: self.lang,
            api_timeout: self.api_timeout,
            interval: self.interval,
            rate: self.rate,
            monthly_quota: self.monthly_quota,
            once: self.once,
            plan: self.plan,
            seed: self.seed,
            metrics_addr: self.metrics.metrics_addr,
        }
    }
}

/// Parses the command line, runs the command, and maps the outcome to an exit code.
pub fn main() -> ExitCode {
    few_malloc_arenas();
    // clap prints usage errors itself and exits with 2; --help and --version exit with 0.
    let cli = Cli::checked_from(std::env::args_os()).unwrap_or_else(|err| err.exit());
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
        print_error(&err);
        return ExitCode::FAILURE;
    }
    let uses_kafka = matches!(
        cli.command,
        Command::Migrate(_) | Command::Produce(_) | Command::Consume(_)
    );
    let uses_cassandra = matches!(
        cli.command,
        Command::Migrate(_) | Command::Consume(_) | Command::Dash(_)
    );
    for warning in cli.global.start_warnings(uses_kafka, uses_cassandra) {
        tracing::warn!("{warning}");
    }
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            print_error(&err);
            ExitCode::FAILURE
        }
    }
}

/// The whole context chain on one line: what failed, and why. It quotes outside text (a
/// server's message, a file name), so control characters are stripped before it is printed.
fn print_error(err: &anyhow::Error) {
    eprintln!(
        "meteo: error: {}",
        crate::text::printable(&format!("{err:#}"))
    );
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let global = cli.global;
    runtime.block_on(async move {
        match cli.command {
            Command::Migrate(args) => commands::migrate::run(args.settings(&global)).await,
            Command::Consume(args) => {
                commands::consume::run(args.settings(&global), Shutdown::on_signals()?).await
            }
            // Blocking file and HTTP work, on this thread: nothing else runs meanwhile.
            Command::Cities(args) => commands::cities::run(args.settings()),
            Command::Probe { url } => commands::probe::run(&url),
            Command::Docs { out } => {
                use clap::CommandFactory;
                commands::docs::run(&Cli::command(), &out)
            }
            Command::Produce(args) => {
                commands::produce::run(args.settings(&global), Shutdown::on_signals()?).await
            }
            Command::Dash(args) => {
                commands::dash::run(args.settings(&global), Shutdown::on_signals()?).await
            }
        }
    })
}

/// glibc gives each thread that allocates an arena of its own, up to 8 per core, and keeps
/// what it freed in each: librdkafka's threads allocate the fetched records and the consumer's
/// threads free them, so memory spreads over many arenas. Two: peak RSS 148 -> 128 MiB on an
/// lz4 backlog of 400,000 readings (issue 22), CPU within noise. Called before any thread.
fn few_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tunable; no thread is running yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
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
    fn near_needs_a_radius_and_a_radius_needs_near() {
        let err = Cli::try_parse_from(["meteo", "cities", "--near", "48.85,2.35"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        assert!(Cli::try_parse_from(["meteo", "cities", "--radius", "5"]).is_err());
        assert!(
            Cli::try_parse_from(["meteo", "cities", "--near", "-21.1,55.5", "--radius", "5"])
                .is_ok()
        );
    }

    #[test]
    fn city_filters_are_validated_at_the_edge() {
        assert_eq!(CountryCode::parse("fr").unwrap(), CountryCode::FR);
        assert!(CountryCode::parse("FRA").is_err());
        assert!(parse_name_filter(" - ").is_err());
        assert!(parse_radius("0").is_err());
        assert!(parse_radius("abc").is_err());
        assert_eq!(parse_radius("12.5").unwrap(), 12.5);
        let cli = Cli::try_parse_from([
            "meteo",
            "cities",
            "--ids",
            "2988507,2996944",
            "--name",
            "Saint-Étienne",
        ])
        .unwrap();
        let Command::Cities(args) = cli.command else {
            panic!("not cities")
        };
        let selection = args.settings().selection;
        assert_eq!(selection.ids.unwrap().len(), 2);
        assert_eq!(selection.name.as_deref(), Some("saint etienne"));
        assert_eq!(selection.country, CountryCode::FR);
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
        assert_eq!(args.compression, Compression::Zstd);
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
    fn cities_takes_its_timeout_as_a_duration() {
        for (given, secs) in [("30s", 30), ("45", 45), ("2m", 120)] {
            let cli = Cli::try_parse_from(["meteo", "cities", "--timeout", given]).unwrap();
            let Command::Cities(args) = cli.command else {
                panic!("not cities")
            };
            assert_eq!(args.settings().timeout, Duration::from_secs(secs));
        }
        for bad in ["0", "2h", "soon"] {
            assert!(Cli::try_parse_from(["meteo", "cities", "--timeout", bad]).is_err());
        }
    }

    #[test]
    fn writes_default_to_local_quorum_and_reads_to_local_one() {
        let cli = Cli::try_parse_from(["meteo", "consume"]).unwrap();
        let Command::Consume(args) = cli.command else {
            panic!("not consume")
        };
        let consume = args.settings(&cli.global);
        assert_eq!(consume.cassandra.consistency, Consistency::LocalQuorum);
        assert_eq!(consume.cassandra.datacenter, None);

        let cli = Cli::try_parse_from(["meteo", "--cassandra-dc", "dc1", "dash"]).unwrap();
        let Command::Dash(args) = cli.command else {
            panic!("not dash")
        };
        let dash = args.settings(&cli.global);
        assert_eq!(dash.cassandra.consistency, Consistency::LocalOne);
        assert_eq!(dash.cassandra.datacenter.as_deref(), Some("dc1"));

        let cli = Cli::try_parse_from(["meteo", "consume", "--consistency", "one"]).unwrap();
        let Command::Consume(args) = cli.command else {
            panic!("not consume")
        };
        assert_eq!(
            args.settings(&cli.global).cassandra.consistency,
            Consistency::One
        );
    }

    #[test]
    fn a_consistency_level_the_command_cannot_use_is_a_usage_error() {
        let err = Cli::try_parse_from(["meteo", "dash", "--consistency", "ANY"]).unwrap_err();
        assert!(err.to_string().contains("for writes only"), "{err}");
        let err = Cli::try_parse_from(["meteo", "consume", "--consistency", "SERIAL"]).unwrap_err();
        assert!(err.to_string().contains("not a consistency level"), "{err}");
    }

    #[test]
    fn migrate_turns_a_replication_factor_into_a_map() {
        let cli = Cli::try_parse_from(["meteo", "migrate", "--replication-factor", "3"]).unwrap();
        let Command::Migrate(args) = cli.command else {
            panic!("not migrate")
        };
        let settings = args.settings(&cli.global);
        assert_eq!(
            settings.replication,
            "{'class': 'SimpleStrategy', 'replication_factor': 3}"
        );
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
        assert_eq!(args.country, CountryCode::FR);
        assert_eq!(args.units, Units::Metric);
        assert_eq!(args.read_timeout, Duration::from_millis(300));
        let global = cli.global;
        assert_eq!(
            args.settings(&global).cassandra.read_timeout,
            Some(Duration::from_millis(300)),
            "the dashboard's reads carry their timeout to the session"
        );
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
        assert_eq!(args.country.as_str(), "BE");
    }
}
