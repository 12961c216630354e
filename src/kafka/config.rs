//! Where Kafka is and how to talk to it ([`KafkaSettings`], its brokers and topic validated
//! once when parsed), and every client's configuration built from it: the shared base, the
//! readings producer's, the consumer's and the dead-letter producer's. The one place where
//! the user's librdkafka values (secrets among them) are exposed: to librdkafka itself.

use std::fmt;
use std::time::Duration;

use rdkafka::config::ClientConfig;

use super::DLQ_MAX_MESSAGE_BYTES;
use crate::secret::Secret;
use crate::settings::{parse_host_port, parse_kafka_option};

/// How long librdkafka keeps trying one send before reporting it failed; we then queue it
/// again. Short enough that a failure surfaces within a minute, long enough to ride out a
/// broker restart without churn.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);

/// The consumer's pre-fetch queue, KB of decompressed payloads (`queued.max.messages.kbytes`).
pub const PREFETCH_QUEUE_KBYTES: u32 = 8192;
/// One fetch response at most, compressed bytes (`fetch.max.bytes`), one partition's share
/// included (`max.partition.fetch.bytes`).
pub const FETCH_MAX_BYTES: u32 = 1024 * 1024;

/// Kafka's `bootstrap.servers`: one or more `host:port`, comma-separated, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brokers(String);

impl Brokers {
    /// Parses a comma-separated list of `host:port`; blanks around and between are dropped.
    pub fn parse(value: &str) -> Result<Self, String> {
        let parts: Vec<String> = value
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(parse_host_port)
            .collect::<Result<_, _>>()?;
        if parts.is_empty() {
            return Err("no broker given (expected host:port[,host:port...])".into());
        }
        Ok(Self(parts.join(",")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Brokers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Kafka topic name: 1 to 245 of `[a-zA-Z0-9._-]`, as Kafka itself requires, leaving room
/// for the `.dlq` suffix of the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicName(String);

impl TopicName {
    pub fn parse(value: &str) -> Result<Self, String> {
        let ok_chars = value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        // Room for the ".dlq" suffix of the dead-letter topic.
        if value.is_empty() || !ok_chars || value.len() > 245 || value == "." || value == ".." {
            return Err(format!(
                "'{value}' is not a Kafka topic name (1 to 245 of letters, digits, '.', '_', '-')"
            ));
        }
        Ok(Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where Kafka is and how to talk to it. `Debug` shows the keys of the options, never values.
#[derive(Clone)]
pub struct KafkaSettings {
    pub brokers: Brokers,
    /// The readings topic; its dead-letter topic is [`KafkaSettings::dlq_topic`].
    pub topic: TopicName,
    /// Extra librdkafka properties from `--kafka-config`, then `-X` / `METEO_KAFKA_OPTS`
    /// (SASL, TLS, tuning). Values may be secrets (`sasl.password`): only keys are logged.
    pub options: Vec<(String, Secret)>,
}

impl fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: Vec<&str> = self.options.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("KafkaSettings")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("option_keys", &keys)
            .finish()
    }
}

impl KafkaSettings {
    /// `brokers` and `topic` without librdkafka properties.
    pub fn new(brokers: Brokers, topic: TopicName) -> Self {
        Self {
            brokers,
            topic,
            options: Vec::new(),
        }
    }

    /// The value of a librdkafka property the user set (the last one wins, as in librdkafka).
    /// For keys that hold no secret (`sasl.username`).
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.expose())
    }

    /// The dead-letter topic: `<topic>.dlq`.
    pub fn dlq_topic(&self) -> String {
        format!("{}.dlq", self.topic)
    }
}

/// The base configuration of every client: brokers, then the user's properties (the
/// `--kafka-config` file, then `-X`), which may override anything set here.
pub fn client_config(settings: &KafkaSettings) -> ClientConfig {
    overlay_base(ClientConfig::new(), settings)
}

/// `config` (a client's own keys) with the base laid over it, so the user's properties win
/// over every key the program chose. Set from the settings themselves: rdkafka's
/// `config_map()` replaces secrets with a placeholder, which would then be sent as the
/// password.
pub fn overlay_base(mut config: ClientConfig, settings: &KafkaSettings) -> ClientConfig {
    config
        .set("bootstrap.servers", settings.brokers.as_str())
        .set("client.id", "meteo")
        // librdkafka logs every failed connection attempt; one line per broker and outage
        // is enough, the caller reports the failure itself.
        .set("log.connection.close", "false");
    for (key, value) in &settings.options {
        config.set(key, value.expose());
    }
    config
}

/// A client-creation error without the value of any setting: rdkafka's own text quotes the
/// value (`Invalid value "..."`), often a password, so only the key and the kind of refusal
/// are kept.
pub fn without_values(err: rdkafka::error::KafkaError) -> anyhow::Error {
    match err {
        rdkafka::error::KafkaError::ClientConfig(result, _, key, _) => anyhow::anyhow!(
            "the Kafka setting {key} is refused: {} (check -X, METEO_KAFKA_OPTS and \
             METEO_KAFKA_CONFIG)",
            refusal(PropertyCheck::from(result))
        ),
        other => other.into(),
    }
}

/// What librdkafka makes of one property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyCheck {
    Accepted,
    /// librdkafka has no property of that name.
    Unknown,
    /// The property exists but does not take that value (or this build lacks the feature).
    Refused,
}

impl From<rdkafka::types::RDKafkaConfRes> for PropertyCheck {
    fn from(result: rdkafka::types::RDKafkaConfRes) -> Self {
        use rdkafka::types::RDKafkaConfRes;
        match result {
            RDKafkaConfRes::RD_KAFKA_CONF_OK => Self::Accepted,
            RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN => Self::Unknown,
            RDKafkaConfRes::RD_KAFKA_CONF_INVALID => Self::Refused,
        }
    }
}

/// Why a property was refused, in words that quote no value.
fn refusal(check: PropertyCheck) -> &'static str {
    match check {
        PropertyCheck::Unknown => "librdkafka has no property of that name",
        PropertyCheck::Refused | PropertyCheck::Accepted => {
            "librdkafka does not take the value given (not shown)"
        }
    }
}

/// Asks librdkafka whether it knows `key` and takes `value` for it, on a scratch
/// configuration: the check client creation makes, done at start so that the error names the
/// key and where it was given, never librdkafka's own text, which quotes the value.
pub fn check_property(key: &str, value: &str) -> PropertyCheck {
    use rdkafka::bindings::{rd_kafka_conf_destroy, rd_kafka_conf_new, rd_kafka_conf_set};
    use std::ffi::{c_char, CString};
    let (Ok(name), Ok(value)) = (CString::new(key), CString::new(value)) else {
        return PropertyCheck::Refused;
    };
    let mut errstr: [c_char; 512] = [0; 512];
    // SAFETY: the configuration is created, used once and destroyed here; the C strings
    // outlive the call and errstr's length is the one passed.
    let result = unsafe {
        let conf = rd_kafka_conf_new();
        let result = rd_kafka_conf_set(
            conf,
            name.as_ptr(),
            value.as_ptr(),
            errstr.as_mut_ptr(),
            errstr.len(),
        );
        rd_kafka_conf_destroy(conf);
        result
    };
    PropertyCheck::from(result)
}

/// Splits a comma-separated list of `key=value` (METEO_KAFKA_OPTS) only at a comma followed
/// by a property librdkafka knows and `=`: values may hold commas (`sasl.mechanisms=A,B`, a
/// password such as `hunt,pa=ss2`, where `pa` is no property), or at the end. Blank items
/// are dropped.
pub fn split_property_list(text: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let mut start = 0;
    for (comma, _) in text.match_indices(',') {
        let rest = &text[comma + 1..];
        // A comma ending the list is a separator, as it always was.
        let starts_property = rest.trim().is_empty()
            || rest.split_once('=').is_some_and(|(key, _)| {
                let key = key.trim();
                !key.is_empty()
                    && !key.contains(',')
                    && check_property(key, "") != PropertyCheck::Unknown
            });
        if starts_property {
            items.push(&text[start..comma]);
            start = comma + 1;
        }
    }
    items.push(&text[start..]);
    items.retain(|item| !item.trim().is_empty());
    items
}

/// The librdkafka properties a flag sets, and that flag: given in -X or the file as well, which
/// one holds would be unclear (the file's `bootstrap.servers` once beat `--brokers` while the
/// errors named the flag's address).
pub const FLAG_PROPERTIES: [(&str, &str); 5] = [
    ("bootstrap.servers", "--brokers (KAFKA_BROKERS)"),
    ("metadata.broker.list", "--brokers (KAFKA_BROKERS)"),
    ("group.id", "--group (METEO_GROUP)"),
    ("compression.type", "--compression (METEO_COMPRESSION)"),
    ("compression.codec", "--compression (METEO_COMPRESSION)"),
];

/// The codec of the readings producer's record batches (librdkafka's `compression.type`), set
/// by `--compression` alone. zstd by default: on meteo's readings it stores each one in fewer
/// bytes than lz4 for CPU that does not show at meteo's rates (docs/configuration.md has the
/// figures).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    #[default]
    Zstd,
}

impl Compression {
    /// The value librdkafka takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the user's librdkafka properties came from.
#[derive(Debug, Clone, Copy)]
pub enum PropertySource<'a> {
    /// A `--kafka-config` file (already read as `key=value` pairs).
    File(&'a std::path::Path, &'a [(String, Secret)]),
    /// `-X` arguments: each one property, split once at its first `=`.
    Flags(&'a [Secret]),
    /// The METEO_KAFKA_OPTS variable: one comma-separated list ([`split_property_list`]).
    Env(&'a Secret),
}

/// What the user's properties switch off of TLS's checks, each said once at start: a
/// connection that is no longer verified looks exactly like one that is.
pub fn weakened_checks(options: &[(String, Secret)]) -> Vec<&'static str> {
    let last = |key: &str| {
        options
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.expose().trim().to_ascii_lowercase())
    };
    let mut weakened = Vec::new();
    // librdkafka reads false, f and 0 as false.
    if last("enable.ssl.certificate.verification")
        .is_some_and(|v| ["false", "f", "0"].contains(&v.as_str()))
    {
        weakened.push(
            "enable.ssl.certificate.verification is off: the Kafka brokers' certificates are not \
             checked, so anyone on the path can pose as a broker",
        );
    }
    if last("ssl.endpoint.identification.algorithm").is_some_and(|v| v == "none") {
        weakened.push(
            "ssl.endpoint.identification.algorithm is none: the Kafka brokers' host names are not \
             checked against their certificates (the chain still is)",
        );
    }
    weakened
}

/// Whether a librdkafka property holds a secret (a password, a private key, a client
/// secret), so that a file holding it should be readable by its owner only.
pub fn holds_secret(key: &str) -> bool {
    key.contains("password")
        || key.contains("secret")
        || matches!(
            key,
            "ssl.key.pem" | "sasl.oauthbearer.config" | "sasl.kerberos.keytab"
        )
}

/// A property as given, or why it is not `key=value`.
type Given = Result<(String, Secret), String>;

/// The user's properties, file first then -X (or METEO_KAFKA_OPTS), each checked with
/// librdkafka and against the flags. An error names the property's key and where it was
/// given (the file, the -X argument's or the list item's position), never a value.
pub fn user_properties(sources: &[PropertySource<'_>]) -> Result<Vec<(String, Secret)>, String> {
    let mut properties = Vec::new();
    for source in sources {
        let given: Vec<(String, Given)> = match source {
            PropertySource::File(path, options) => options
                .iter()
                .map(|option| {
                    let origin = format!("the Kafka config file {}", path.display());
                    (origin, Ok(option.clone()))
                })
                .collect(),
            PropertySource::Flags(args) => args
                .iter()
                .enumerate()
                .map(|(i, arg)| {
                    let origin = format!("-X argument {}", i + 1);
                    (origin, parse_kafka_option(arg.expose()))
                })
                .collect(),
            PropertySource::Env(list) => split_property_list(list.expose())
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    let origin = format!("METEO_KAFKA_OPTS item {}", i + 1);
                    (origin, parse_kafka_option(item))
                })
                .collect(),
        };
        for (origin, parsed) in given {
            let (key, value) =
                parsed.map_err(|_| format!("{origin} is not KEY=VALUE (its text is not shown)"))?;
            if let Some((_, flag)) = FLAG_PROPERTIES.iter().find(|(k, _)| *k == key) {
                return Err(format!(
                    "{origin} sets {key}, which {flag} sets: give it there only"
                ));
            }
            match check_property(&key, value.expose()) {
                PropertyCheck::Accepted => properties.push((key, value)),
                refused => return Err(format!("{origin} sets {key}: {}", refusal(refused))),
            }
        }
    }
    Ok(properties)
}

/// The readings producer's configuration: every key explicit, then the user's `-X` overrides
/// (which may not set the compression: [`FLAG_PROPERTIES`]).
pub fn producer_config(settings: &KafkaSettings, compression: Compression) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        // Per record batch: the broker stores and serves the batch as sent.
        .set("compression.type", compression.as_str())
        // Idempotence: librdkafka's own retries never duplicate or reorder a message.
        .set("enable.idempotence", "true")
        // Counted as sent only when every in-sync replica has it.
        .set("acks", "all")
        .set(
            "message.timeout.ms",
            DELIVERY_TIMEOUT.as_millis().to_string(),
        )
        // The producer's default is true: a missing topic would be created with the broker's
        // defaults (one partition). `meteo migrate` creates topics, nothing else.
        .set("allow.auto.create.topics", "false")
        // Readings trickle in; a few milliseconds of batching costs no freshness.
        .set("linger.ms", "5");
    // The shared base (brokers, client id, the user's -X options) goes last so it wins.
    overlay_base(config, settings)
}

/// The consumer's configuration in `group`: offsets stored by hand, at-least-once; then the
/// user's `-X` overrides.
pub fn consumer_config(settings: &KafkaSettings, group: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("group.id", group)
        // A new group reads the topic from its start.
        .set("auto.offset.reset", "earliest")
        // At-least-once: offsets are stored by hand once a record is durable, and the
        // stored ones are committed every second (and on revocation and close).
        .set("enable.auto.offset.store", "false")
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        // Notice a dead member within 10 s, so its partitions move on quickly.
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "2000")
        .set("enable.partition.eof", "false")
        // What librdkafka fetches ahead is most of the consumer's memory (docs/operations.md,
        // "The consumer's memory"). Its queue counts decompressed payload bytes and is checked
        // before each fetch, so one fetch response overshoots it by that response
        // decompressed: with lz4 batches, 6 partitions x 1 MiB compressed by default, some
        // 30 MiB. One MiB per response in all (librdkafka takes no fetch.max.bytes below
        // message.max.bytes, 1,000,000) bounds it whatever the backlog (issue 22). A
        // partition may still fill the whole response: a run of one partition's records makes
        // groups with many rows per Cassandra partition; 256 KiB a partition cut them and the
        // throughput by a third. 8 MB of queue (some 12,000 readings, more than the consumer
        // keeps in flight) keeps the writers busy, looked at again within 100 ms, not 1 s.
        .set(
            "queued.max.messages.kbytes",
            PREFETCH_QUEUE_KBYTES.to_string(),
        )
        .set("fetch.max.bytes", FETCH_MAX_BYTES.to_string())
        .set("max.partition.fetch.bytes", FETCH_MAX_BYTES.to_string())
        .set("fetch.queue.backoff.ms", "100");
    overlay_base(config, settings)
}

/// The dead-letter producer's configuration: idempotent, `acks=all`, room for any record the
/// readings topic accepted plus headers; then the user's `-X` overrides.
pub fn dead_letter_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.max.bytes", DLQ_MAX_MESSAGE_BYTES.to_string());
    overlay_base(config, settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(options: &[(&str, &str)]) -> KafkaSettings {
        KafkaSettings {
            options: options
                .iter()
                .map(|(k, v)| (k.to_string(), Secret::new(*v)))
                .collect(),
            ..KafkaSettings::new(
                Brokers::parse("b:1").unwrap(),
                TopicName::parse("t").unwrap(),
            )
        }
    }

    #[test]
    fn a_property_list_splits_only_before_a_librdkafka_property() {
        assert_eq!(
            split_property_list("sasl.password=hunt,pa=ss2, linger.ms=5,"),
            ["sasl.password=hunt,pa=ss2", " linger.ms=5"]
        );
        assert_eq!(
            split_property_list("sasl.password=a,b,security.protocol=SSL"),
            ["sasl.password=a,b", "security.protocol=SSL"]
        );
        assert_eq!(split_property_list("hunt,er2"), ["hunt,er2"]);
    }

    #[test]
    fn librdkafka_tells_unknown_properties_from_refused_values() {
        assert_eq!(check_property("linger.ms", "5"), PropertyCheck::Accepted);
        assert_eq!(check_property("pa", "x"), PropertyCheck::Unknown);
        assert_eq!(
            check_property("security.protocol", "S3CRETVAL5"),
            PropertyCheck::Refused
        );
        assert_eq!(check_property("a\0b", "x"), PropertyCheck::Refused);
    }

    #[test]
    fn user_properties_are_checked_and_errors_name_the_key_and_place_only() {
        let file_options = [("linger.ms".to_string(), Secret::new("5"))];
        let path = std::path::Path::new("/etc/k.properties");
        let args = [Secret::new("sasl.password=p,w=d")];
        let list = Secret::new("acks=all,sasl.password=x,y=z");
        let ok = user_properties(&[
            PropertySource::File(path, &file_options),
            PropertySource::Flags(&args),
        ])
        .unwrap();
        let shown: Vec<(&str, &str)> = ok.iter().map(|(k, v)| (k.as_str(), v.expose())).collect();
        assert_eq!(shown, [("linger.ms", "5"), ("sasl.password", "p,w=d")]);
        assert_eq!(
            user_properties(&[PropertySource::Env(&list)])
                .unwrap()
                .len(),
            2
        );

        let errors = [
            (
                PropertySource::Flags(&[Secret::new("x"), Secret::new("hunter2")]),
                "-X argument 1",
            ),
            (PropertySource::Env(&Secret::new("acks=all,S3CRET")), "acks"),
            (
                PropertySource::Flags(&[Secret::new("security.protocol=S3CRET")]),
                "-X argument 1 sets security.protocol",
            ),
            (
                PropertySource::Flags(&[Secret::new("no.such=S3CRET")]),
                "no.such",
            ),
        ];
        for (source, named) in errors {
            let err = user_properties(&[source]).unwrap_err();
            assert!(err.contains(named) && !err.contains("S3CRET"), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn what_a_flag_sets_cannot_be_set_again_in_the_file_or_with_x() {
        let path = std::path::Path::new("/etc/k.properties");
        let file = [("group.id".to_string(), Secret::new("hijack"))];
        let err = user_properties(&[PropertySource::File(path, &file)]).unwrap_err();
        assert_eq!(
            err,
            "the Kafka config file /etc/k.properties sets group.id, which --group (METEO_GROUP) \
             sets: give it there only"
        );
        let args = [Secret::new("bootstrap.servers=127.0.0.1:1")];
        let err = user_properties(&[PropertySource::Flags(&args)]).unwrap_err();
        assert!(err.contains("--brokers (KAFKA_BROKERS)"), "{err}");
    }

    #[test]
    fn a_refused_client_configuration_names_the_key_and_never_the_value() {
        use rdkafka::error::KafkaError;
        use rdkafka::types::RDKafkaConfRes;
        let err = without_values(KafkaError::ClientConfig(
            RDKafkaConfRes::RD_KAFKA_CONF_INVALID,
            "Invalid value \"S3CRETVAL5\" for configuration property \"security.protocol\"".into(),
            "security.protocol".into(),
            "S3CRETVAL5".into(),
        ))
        .to_string();
        assert!(
            err.contains("security.protocol") && !err.contains("S3CRET"),
            "{err}"
        );
    }

    #[test]
    fn switching_off_a_tls_check_is_named_and_switching_it_on_is_not() {
        let off = settings(&[
            ("enable.ssl.certificate.verification", "False"),
            ("ssl.endpoint.identification.algorithm", "none"),
        ]);
        let weakened = weakened_checks(&off.options);
        assert_eq!(weakened.len(), 2, "{weakened:?}");
        assert!(weakened[0].contains("certificates are not checked"));
        assert!(weakened[1].contains("host names are not checked"));
        let on = settings(&[
            ("enable.ssl.certificate.verification", "false"),
            ("enable.ssl.certificate.verification", "true"),
            ("ssl.endpoint.identification.algorithm", "https"),
        ]);
        assert_eq!(weakened_checks(&on.options), Vec::<&str>::new());
    }

    #[test]
    fn passwords_keys_and_client_secrets_are_secrets() {
        for key in [
            "sasl.password",
            "ssl.key.password",
            "sasl.oauthbearer.client.secret",
        ] {
            assert!(holds_secret(key), "{key}");
        }
        assert!(!holds_secret("sasl.username") && !holds_secret("ssl.ca.location"));
    }

    #[test]
    fn brokers_are_normalised_and_must_not_be_empty() {
        assert_eq!(Brokers::parse("a:1, b:2,").unwrap().as_str(), "a:1,b:2");
        assert!(Brokers::parse(" , ").is_err());
        assert!(Brokers::parse("a:1,b").is_err());
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(TopicName::parse("weather.current").is_ok());
        for bad in ["", "a b", "a/b", ".", "..", &"t".repeat(246)] {
            assert!(TopicName::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn kafka_settings_show_option_keys_but_no_values() {
        let settings = settings(&[("sasl.password", "hunter2")]);
        let shown = format!("{settings:?}");
        assert!(
            shown.contains("sasl.password") && !shown.contains("hunter2"),
            "{shown}"
        );
        assert_eq!(settings.dlq_topic(), "t.dlq");
    }

    /// Fails naming the first key of `expected` that `config` does not hold with that value.
    fn assert_keys(config: &ClientConfig, expected: &[(&str, &str)]) {
        for (key, value) in expected {
            assert_eq!(config.get(key), Some(*value), "{key}");
        }
    }

    #[test]
    fn every_client_gets_the_users_secrets_intact() {
        let secrets = [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanisms", "SCRAM-SHA-512"),
            ("sasl.username", "meteo"),
            ("sasl.password", "p@ss=word,1"),
            ("ssl.key.password", "k3y-pass"),
            ("sasl.oauthbearer.client.secret", "oauth-s3cret"),
        ];
        let settings = settings(&secrets);
        for config in [
            client_config(&settings),
            producer_config(&settings, Compression::default()),
            consumer_config(&settings, "g"),
            dead_letter_config(&settings),
        ] {
            assert_keys(&config, &secrets);
        }
    }

    #[test]
    fn user_options_win_over_a_clients_own_keys() {
        let settings = settings(&[("queued.max.messages.kbytes", "65536")]);
        let mut own = ClientConfig::new();
        own.set("queued.max.messages.kbytes", "16384")
            .set("group.id", "g");
        let config = overlay_base(own, &settings);
        assert_keys(
            &config,
            &[
                ("queued.max.messages.kbytes", "65536"),
                ("group.id", "g"),
                ("bootstrap.servers", "b:1"),
            ],
        );
    }

    #[test]
    fn user_options_override_the_defaults() {
        let settings = settings(&[("client.id", "mine"), ("security.protocol", "SASL_SSL")]);
        assert_keys(
            &client_config(&settings),
            &[
                ("bootstrap.servers", "b:1"),
                ("client.id", "mine"),
                ("security.protocol", "SASL_SSL"),
            ],
        );
    }

    #[test]
    fn the_producer_is_idempotent_waits_for_all_replicas_and_never_creates_topics() {
        let config = producer_config(&settings(&[("linger.ms", "20")]), Compression::default());
        assert_keys(
            &config,
            &[
                ("enable.idempotence", "true"),
                ("acks", "all"),
                ("allow.auto.create.topics", "false"),
                ("bootstrap.servers", "b:1"),
                // The user's -X wins.
                ("linger.ms", "20"),
            ],
        );
    }

    #[test]
    fn the_producer_compresses_with_zstd_by_default() {
        assert_keys(
            &producer_config(&settings(&[]), Compression::default()),
            &[("compression.type", "zstd")],
        );
        assert_keys(
            &producer_config(&settings(&[]), Compression::None),
            &[("compression.type", "none")],
        );
    }

    #[test]
    fn this_librdkafka_takes_every_codec_the_flag_offers() {
        use clap::ValueEnum;
        for codec in Compression::value_variants() {
            assert_eq!(
                check_property("compression.type", codec.as_str()),
                PropertyCheck::Accepted,
                "{codec}"
            );
        }
    }

    #[test]
    fn compression_is_set_by_its_flag_only_not_by_x_or_the_file() {
        for key in ["compression.type", "compression.codec"] {
            let arg = Secret::new(format!("{key}=gzip"));
            let err =
                user_properties(&[PropertySource::Flags(std::slice::from_ref(&arg))]).unwrap_err();
            assert!(err.contains("--compression (METEO_COMPRESSION)"), "{err}");
            assert!(err.contains(key) && !err.contains("gzip"), "{err}");
        }
    }

    #[test]
    fn the_consumer_stores_offsets_by_hand_and_the_user_may_tune_it() {
        let config = consumer_config(&settings(&[("queued.max.messages.kbytes", "1024")]), "g");
        assert_keys(
            &config,
            &[
                ("group.id", "g"),
                ("enable.auto.offset.store", "false"),
                ("enable.auto.commit", "true"),
                ("auto.offset.reset", "earliest"),
                ("bootstrap.servers", "b:1"),
                ("queued.max.messages.kbytes", "1024"),
                ("fetch.queue.backoff.ms", "100"),
            ],
        );
    }

    #[test]
    fn the_consumer_bounds_what_it_fetches_ahead_compressed_or_not() {
        // Issue 22: an lz4 backlog grew the consumer past 250 MiB. librdkafka counts its
        // pre-fetch queue in decompressed payload bytes, checked before each fetch, so one
        // fetch response overshoots it by up to its own size decompressed: the response must be
        // small too, not the 8 MiB per request (1 MiB a partition) it was.
        let config = consumer_config(&settings(&[]), "g");
        let number = |key: &str| -> u64 {
            config
                .get(key)
                .unwrap_or_else(|| panic!("{key} is not set"))
                .parse()
                .unwrap()
        };
        assert!(number("queued.max.messages.kbytes") <= 8192);
        assert!(number("fetch.max.bytes") <= 1024 * 1024);
        // librdkafka refuses a fetch.max.bytes below message.max.bytes (1,000,000 by default).
        assert!(number("fetch.max.bytes") >= 1_000_000);
        // One partition may fill a response: long runs of a partition make full batches.
        assert!(number("max.partition.fetch.bytes") >= number("fetch.max.bytes"));
        assert!(config.create::<rdkafka::consumer::BaseConsumer>().is_ok());
    }

    #[test]
    fn dead_letters_are_idempotent_and_as_large_as_the_dead_letter_topic_takes() {
        assert_keys(
            &dead_letter_config(&settings(&[])),
            &[
                ("enable.idempotence", "true"),
                ("acks", "all"),
                ("message.max.bytes", "10485760"),
                ("bootstrap.servers", "b:1"),
            ],
        );
    }
}
