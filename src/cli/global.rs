//! The options every command takes (`GlobalArgs`), their help headings, and the checks made
//! on them once parsed: Kafka properties, the Cassandra login, warnings said at start.

use std::path::PathBuf;

use clap::Args;

use crate::kafka::config::{holds_secret, user_properties, weakened_checks, PropertySource};
use crate::kafka::{Brokers, KafkaSettings, TopicName};
use crate::secret::Secret;
use crate::settings::{
    parse_datacenter, parse_host_port, parse_kafka_config_file, parse_password_file, parse_secret,
    KafkaConfigFile, PasswordFile,
};
use crate::store::{CassandraSettings, CassandraTls, Consistency, Keyspace};

// Help headings: an option is listed under what it talks to, so a command's help reads by topic.
pub const KAFKA: &str = "Kafka";
pub const CASSANDRA: &str = "Cassandra";
pub const API: &str = "Weather API";
pub const SCHEDULE: &str = "Schedule";
pub const METRICS: &str = "Metrics";

/// Options every command understands. Log level: `RUST_LOG` (default `info`).
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Kafka bootstrap servers, comma-separated host:port.
    #[arg(long, env = "KAFKA_BROKERS", help_heading = KAFKA, default_value = "localhost:9092", value_parser = Brokers::parse, global = true)]
    pub brokers: Brokers,

    /// The readings topic; dead letters go to `<topic>.dlq`.
    #[arg(long, env = "METEO_TOPIC", help_heading = KAFKA, default_value = "weather.current", value_parser = TopicName::parse, global = true)]
    pub topic: TopicName,

    /// Cassandra contact points, comma-separated host:port.
    #[arg(long, env = "CASSANDRA_NODES", help_heading = CASSANDRA, default_value = "localhost:9042", value_delimiter = ',', value_parser = parse_host_port, global = true)]
    pub cassandra: Vec<String>,

    /// Cassandra keyspace.
    #[arg(long, env = "METEO_KEYSPACE", help_heading = CASSANDRA, default_value = "meteo", value_parser = Keyspace::parse, global = true)]
    pub keyspace: Keyspace,

    /// Cassandra user (password authentication); needs a password.
    #[arg(long = "cassandra-user", env = "CASSANDRA_USER", hide_short_help = true, help_heading = CASSANDRA, global = true)]
    pub cassandra_user: Option<String>,

    /// Cassandra password; prefer --cassandra-password-file.
    ///
    /// A password on the command line shows in `ps` and in shell history.
    #[arg(long, env = "CASSANDRA_PASSWORD", hide_short_help = true, help_heading = CASSANDRA, hide_env_values = true, value_parser = parse_secret, global = true)]
    pub cassandra_password: Option<Secret>,

    /// A file holding the Cassandra password alone (a final line break is ignored): the
    /// recommended way to give it.
    #[arg(long, value_name = "FILE", env = "CASSANDRA_PASSWORD_FILE", hide_short_help = true, help_heading = CASSANDRA, conflicts_with = "cassandra_password", value_parser = parse_password_file, global = true)]
    pub cassandra_password_file: Option<PasswordFile>,

    /// Speak TLS to Cassandra, checking the nodes' certificates and host names.
    #[arg(long = "cassandra-tls", env = "CASSANDRA_TLS", hide_short_help = true, help_heading = CASSANDRA, global = true)]
    pub cassandra_tls: bool,

    /// The CA that signed the nodes' certificates (PEM); implies --cassandra-tls. Default: the
    /// system's CAs.
    #[arg(long, value_name = "FILE", env = "CASSANDRA_CA", hide_short_help = true, help_heading = CASSANDRA, global = true)]
    pub cassandra_ca: Option<PathBuf>,

    /// A client certificate (PEM) for nodes that require one; implies --cassandra-tls.
    #[arg(long, value_name = "FILE", env = "CASSANDRA_CERT", hide_short_help = true, help_heading = CASSANDRA, global = true)]
    pub cassandra_cert: Option<PathBuf>,

    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", env = "CASSANDRA_KEY", hide_short_help = true, help_heading = CASSANDRA, global = true)]
    pub cassandra_key: Option<PathBuf>,

    /// Accept a node certificate that does not name the host it is reached at (the chain is
    /// still checked).
    #[arg(long, env = "CASSANDRA_TLS_SKIP_HOSTNAME", hide_short_help = true, help_heading = CASSANDRA, global = true)]
    pub cassandra_tls_skip_hostname: bool,

    /// The local datacenter (as the snitch names it, e.g. dc1).
    ///
    /// Requests go to its nodes only (replicas first), the others being discovered from the
    /// contact points. A name no node has is refused at start, naming those there are.
    /// Default: every node.
    #[arg(long = "cassandra-dc", value_name = "NAME", env = "METEO_CASSANDRA_DC", hide_short_help = true, help_heading = CASSANDRA, value_parser = parse_datacenter, global = true)]
    pub cassandra_dc: Option<String>,

    /// A librdkafka property, key=value (SASL, TLS, tuning); repeatable. Split at its first
    /// `=` only, so the value may hold `=` and `,`. The environment variable takes a
    /// comma-separated list, split only before a librdkafka property name and `=`. Neither
    /// -X nor --kafka-config may set bootstrap.servers, group.id or compression.type
    /// (--brokers, --group, --compression set them). Values are never printed.
    // Taken whole (parse_secret never fails): clap's own error would quote the argument.
    #[arg(short = 'X', value_name = "KEY=VALUE", env = "METEO_KAFKA_OPTS", hide_short_help = true, help_heading = KAFKA, value_parser = parse_secret, hide_env_values = true, global = true)]
    pub kafka_args: Vec<Secret>,

    /// The librdkafka properties of the file, then of -X or METEO_KAFKA_OPTS, once
    /// [`GlobalArgs::check_kafka`] has checked them.
    #[arg(skip)]
    pub kafka_options: Vec<(String, Secret)>,

    /// A librdkafka properties file (`key=value` lines, `#` comments), as kcat's -F reads it.
    ///
    /// The way to pass SASL and TLS settings, secrets and values with commas included. -X
    /// options (or METEO_KAFKA_OPTS) are applied after it and win.
    #[arg(long = "kafka-config", value_name = "FILE", env = "METEO_KAFKA_CONFIG", hide_short_help = true, help_heading = KAFKA, value_parser = parse_kafka_config_file, global = true)]
    pub kafka_config: Option<KafkaConfigFile>,
}

impl GlobalArgs {
    pub fn kafka(&self) -> KafkaSettings {
        KafkaSettings {
            brokers: self.brokers.clone(),
            topic: self.topic.clone(),
            options: self.kafka_options.clone(),
        }
    }

    /// Reads and checks the user's librdkafka properties into `kafka_options`: a mistake is a
    /// usage error (exit 2) naming the key or the argument's position, never a value.
    /// `from_env`: the -X values are METEO_KAFKA_OPTS's list, not arguments.
    pub fn check_kafka(
        &mut self,
        from_env: bool,
        command: &mut clap::Command,
    ) -> Result<(), clap::Error> {
        let mut sources = Vec::new();
        if let Some(file) = &self.kafka_config {
            sources.push(PropertySource::File(&file.path, &file.options));
        }
        match (from_env, self.kafka_args.as_slice()) {
            (true, [list]) => sources.push(PropertySource::Env(list)),
            (_, args) => sources.push(PropertySource::Flags(args)),
        }
        self.kafka_options = user_properties(&sources)
            .map_err(|problem| command.error(clap::error::ErrorKind::ValueValidation, problem))?;
        Ok(())
    }

    /// A user needs a password and a password a user, a client certificate its key: said as a
    /// usage error (exit 2), before anything connects, naming the variables and never a value.
    pub fn check_login(&self, command: &mut clap::Command) -> Result<(), clap::Error> {
        let password = self.cassandra_password.is_some() || self.cassandra_password_file.is_some();
        if self.cassandra_cert.is_some() != self.cassandra_key.is_some() {
            return Err(command.error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "CASSANDRA_CERT (--cassandra-cert) and CASSANDRA_KEY (--cassandra-key) go together",
            ));
        }
        let problem = match (self.cassandra_user.is_some(), password) {
            (true, false) => {
                "CASSANDRA_USER (--cassandra-user) is set without a password: set \
                 CASSANDRA_PASSWORD_FILE (--cassandra-password-file) too"
            }
            (false, true) => {
                "a Cassandra password is set without a user: set CASSANDRA_USER \
                 (--cassandra-user) too"
            }
            _ => return Ok(()),
        };
        Err(command.error(clap::error::ErrorKind::MissingRequiredArgument, problem))
    }

    /// What to say once at start, as warnings: a TLS check switched off, a file holding a
    /// secret that others may read, for the services the command talks to.
    pub fn start_warnings(&self, uses_kafka: bool, uses_cassandra: bool) -> Vec<String> {
        let mut warnings = Vec::new();
        if uses_kafka {
            warnings.extend(
                weakened_checks(&self.kafka_options)
                    .into_iter()
                    .map(String::from),
            );
            if let Some(config) = &self.kafka_config {
                if config.options.iter().any(|(key, _)| holds_secret(key)) {
                    warnings.extend(config.file.warning());
                }
            }
        }
        if !uses_cassandra {
            return warnings;
        }
        if self.cassandra().tls.is_some_and(|tls| !tls.verify_hostname) {
            warnings.push(
                "--cassandra-tls-skip-hostname: the Cassandra nodes' host names are not checked \
                 against their certificates (the chain still is)"
                    .into(),
            );
        }
        if let Some(file) = &self.cassandra_password_file {
            warnings.extend(file.file.warning());
        }
        warnings
    }

    pub fn cassandra(&self) -> CassandraSettings {
        let tls =
            self.cassandra_tls || self.cassandra_ca.is_some() || self.cassandra_cert.is_some();
        CassandraSettings {
            nodes: self.cassandra.clone(),
            keyspace: self.keyspace.clone(),
            user: self.cassandra_user.clone(),
            password: self.cassandra_password.clone().or_else(|| {
                self.cassandra_password_file
                    .as_ref()
                    .map(|file| file.password.clone())
            }),
            tls: tls.then(|| CassandraTls {
                ca: self.cassandra_ca.clone(),
                cert: self.cassandra_cert.clone(),
                key: self.cassandra_key.clone(),
                verify_hostname: !self.cassandra_tls_skip_hostname,
            }),
            consistency: Consistency::LocalQuorum,
            datacenter: self.cassandra_dc.clone(),
            read_timeout: None,
        }
    }
}
