//! Where Kafka is and how to talk to it ([`KafkaSettings`], its brokers and topic validated
//! once when parsed), and every client's configuration built from it: the shared base, the
//! readings producer's, the consumer's and the dead-letter producer's. The one place where
//! the user's librdkafka values (secrets among them) are exposed: to librdkafka itself.

use std::fmt;
use std::time::Duration;

use rdkafka::config::ClientConfig;

use super::DLQ_MAX_MESSAGE_BYTES;
use crate::secret::Secret;
use crate::settings::parse_host_port;

/// How long librdkafka keeps trying one send before reporting it failed; we then queue it
/// again. Short enough that a failure surfaces within a minute, long enough to ride out a
/// broker restart without churn.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);

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
/// value, often a password.
pub fn without_values(err: rdkafka::error::KafkaError) -> anyhow::Error {
    match err {
        rdkafka::error::KafkaError::ClientConfig(_, description, key, _) => anyhow::anyhow!(
            "the Kafka setting {key} is refused: {description} (check -X, METEO_KAFKA_OPTS and \
             METEO_KAFKA_CONFIG)"
        ),
        other => other.into(),
    }
}

/// The readings producer's configuration: every key explicit, then the user's `-X` overrides.
pub fn producer_config(settings: &KafkaSettings) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
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
        // librdkafka fetches ahead up to 64 MiB by default, most of the consumer's memory;
        // 8 MiB (some 18,000 readings, more than the consumer keeps in flight) still keeps the
        // writers busy, as long as a full queue is looked at again within 100 ms, not 1 s: at
        // 30,000 readings/s it drains in well under a second (benchmarked within noise).
        .set("queued.max.messages.kbytes", "8192")
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
            producer_config(&settings),
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
        let config = producer_config(&settings(&[("linger.ms", "20")]));
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
