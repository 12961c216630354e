//! Kafka: topic administration (the readings topic and its dead-letter topic); client
//! configuration, the producer and the consumer live beside it. Knows nothing of Cassandra.

pub mod config;
pub mod consumer;
pub mod producer;
pub mod reports;
pub mod tls_check;

pub use config::{client_config, Brokers, KafkaSettings, TopicName};

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Context};
use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigSource, NewTopic, ResourceSpecifier,
    TopicReplication,
};
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::types::RDKafkaErrorCode;

use crate::kafka::reports::{KafkaContext, Refusal};

/// The dead-letter topic accepts records up to this size: anything the readings topic
/// accepted, plus the `meteo.*` headers.
pub const DLQ_MAX_MESSAGE_BYTES: usize = 10 * 1024 * 1024;

/// `min.insync.replicas` for a topic of this replication factor: a majority of the replicas
/// from three up, so that `acks=all` survives one broker lost and still means "on two" (1
/// below three: there is no replica to spare).
pub fn min_insync_replicas(replication_factor: i32) -> i32 {
    if replication_factor >= 3 {
        replication_factor / 2 + 1
    } else {
        1
    }
}

/// How long a client waits for the brokers before saying they do not answer.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A topic this program needs, and the shape to create it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i32,
    /// Topic-level settings, e.g. `max.message.bytes`.
    pub configs: Vec<(String, String)>,
}

/// What [`ensure_topics`] did for one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicOutcome {
    Created,
    /// Already there with this many partitions (left as it is, even when it differs).
    Existed {
        partitions: i32,
    },
}

fn admin_client(settings: &KafkaSettings) -> anyhow::Result<AdminClient<KafkaContext>> {
    // Our context: librdkafka's log lines go through tracing like every other client's.
    client_config(settings)
        .create_with_context(KafkaContext::default())
        .map_err(config::without_values)
        .with_context(|| format!("creating a Kafka admin client for {}", settings.brokers))
}

/// A client for metadata only. A producer, because it can poll its main queue: librdkafka
/// delivers log lines and errors there, and they tell a refusal from silence (an admin client
/// never polls it).
fn metadata_client(settings: &KafkaSettings) -> anyhow::Result<BaseProducer<KafkaContext>> {
    client_config(settings)
        // A plain client hung up on by a TLS listener is only told as a closed connection.
        .set("log.connection.close", "true")
        .create_with_context(KafkaContext::default())
        .map_err(config::without_values)
        .with_context(|| format!("creating a Kafka client for {}", settings.brokers))
}

/// Partition count of every topic in the cluster; fails within `timeout` naming the brokers
/// when none answers, at once when they refuse.
pub fn topic_partitions(
    settings: &KafkaSettings,
    timeout: Duration,
) -> anyhow::Result<BTreeMap<String, i32>> {
    let client = metadata_client(settings)?;
    fetch_partitions(
        &client,
        settings.brokers.as_str(),
        settings.option("sasl.username"),
        settings.option("ssl.ca.location"),
        timeout,
    )
}

/// How often a wait for the brokers looks for a refusal.
const REFUSAL_CHECK: Duration = Duration::from_millis(500);

/// One line for a refusal: what was refused, by whom, and what to set. A failed TLS
/// handshake is asked again ([`tls_check`]): an unknown CA and a host name the certificate
/// lacks read alike in librdkafka's words, and take different fixes.
fn refused(
    kind: Refusal,
    reason: &str,
    brokers: &str,
    user: Option<&str>,
    ca: Option<&str>,
) -> anyhow::Error {
    let user = user.unwrap_or("(no sasl.username)");
    let reason = crate::text::printable(reason);
    let first = brokers.split(',').next().unwrap_or(brokers);
    let host_name = kind == Refusal::Tls
        && tls_check::certificate_problem(first, ca)
            == Some(tls_check::CertificateProblem::HostName);
    if host_name {
        let host = first.rsplit_once(':').map_or(first, |(host, _)| host);
        return anyhow::anyhow!(
            "TLS with Kafka at {brokers} failed: the broker's certificate does not name {host}, the host it is reached at (its CA is trusted); give --brokers (KAFKA_BROKERS) a name the certificate holds"
        );
    }
    match kind {
        Refusal::PortRefused => anyhow::anyhow!(
            "Kafka at {brokers} refused the connection (nothing listens on that port; set KAFKA_BROKERS or --brokers)"
        ),
        Refusal::Login => anyhow::anyhow!(
            "SASL authentication failed for user {user} at Kafka {brokers}: check sasl.username, sasl.password and sasl.mechanisms in METEO_KAFKA_CONFIG ({reason})"
        ),
        Refusal::Tls => anyhow::anyhow!(
            "TLS with Kafka at {brokers} failed: set ssl.ca.location in METEO_KAFKA_CONFIG to the CA that signed the brokers' certificates, and check security.protocol ({reason})"
        ),
        Refusal::ExpectsPlain => anyhow::anyhow!(
            "Kafka at {brokers} closed a TLS connection: the listener speaks plain; remove security.protocol SSL or SASL_SSL from METEO_KAFKA_CONFIG and -X ({reason})"
        ),
        Refusal::NotKafka => anyhow::anyhow!(
            "{brokers} is not a Kafka broker: it answered Kafka's first request in another protocol (another service's port? set KAFKA_BROKERS or --brokers)"
        ),
        Refusal::ExpectsSecurity => anyhow::anyhow!(
            "Kafka at {brokers} closed a plain connection: the listener expects TLS or SASL; set security.protocol (and the rest) in METEO_KAFKA_CONFIG ({reason})"
        ),
    }
}

fn fetch_partitions(
    client: &BaseProducer<KafkaContext>,
    brokers: &str,
    user: Option<&str>,
    ca: Option<&str>,
    timeout: Duration,
) -> anyhow::Result<BTreeMap<String, i32>> {
    // In short slices, so a refusal (a refused port or login, a TLS failure) is said at once
    // rather than after the whole time limit.
    let deadline = std::time::Instant::now() + timeout;
    let metadata = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match client
            .client()
            .fetch_metadata(None, left.min(REFUSAL_CHECK))
        {
            Ok(metadata) => break metadata,
            Err(err) => {
                // Hands the queued log lines and errors to the context.
                client.poll(Duration::ZERO);
                if let Some((kind, reason)) = client.context().refusal() {
                    return Err(refused(kind, &reason, brokers, user, ca));
                }
                if left <= REFUSAL_CHECK {
                    return Err(anyhow::Error::from(err).context(format!(
                        "Kafka at {brokers} did not answer within {} s (is it running? set KAFKA_BROKERS or --brokers)",
                        timeout.as_secs()
                    )));
                }
            }
        }
    };
    Ok(metadata
        .topics()
        .iter()
        .map(|t| (t.name().to_string(), t.partitions().len() as i32))
        .collect())
}

/// Creates the topics that do not exist; leaves existing ones as they are, with a warning when
/// their partition count differs from the spec. Blocks for at most a few `timeout`s.
pub async fn ensure_topics(
    settings: &KafkaSettings,
    specs: &[TopicSpec],
    timeout: Duration,
) -> anyhow::Result<Vec<(String, TopicOutcome)>> {
    let admin = admin_client(settings)?;
    // fetch_metadata blocks the thread; the runtime is multi-threaded.
    let existing = tokio::task::block_in_place(|| topic_partitions(settings, timeout))?;
    let mut outcomes = Vec::new();
    let mut to_create = Vec::new();
    for spec in specs {
        match existing.get(&spec.name) {
            Some(&partitions) => {
                if partitions != spec.partitions {
                    tracing::warn!(
                        topic = %spec.name,
                        partitions,
                        wanted = spec.partitions,
                        "topic exists with another partition count; left as it is"
                    );
                }
                outcomes.push((spec.name.clone(), TopicOutcome::Existed { partitions }));
            }
            None => to_create.push(spec),
        }
    }
    if to_create.is_empty() {
        return Ok(outcomes);
    }
    let new_topics: Vec<NewTopic> = to_create
        .iter()
        .map(|s| {
            s.configs.iter().fold(
                NewTopic::new(
                    &s.name,
                    s.partitions,
                    TopicReplication::Fixed(s.replication_factor),
                ),
                |topic, (key, value)| topic.set(key, value),
            )
        })
        .collect();
    let options = admin_options(timeout);
    let results = admin
        .create_topics(&new_topics, &options)
        .await
        .with_context(|| format!("creating topics on Kafka at {}", settings.brokers))?;
    for result in results {
        match result {
            Ok(name) => {
                tracing::info!(topic = %name, "created topic");
                outcomes.push((name, TopicOutcome::Created));
            }
            // Another migrate got there first: the topic is there, which is what we want.
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => {
                let partitions = to_create
                    .iter()
                    .find(|s| s.name == name)
                    .map_or(0, |s| s.partitions);
                outcomes.push((name, TopicOutcome::Existed { partitions }));
            }
            Err((name, code)) => bail!(
                "Kafka at {} refused to create topic {name}: {code}",
                settings.brokers
            ),
        }
    }
    Ok(outcomes)
}

/// The topic setting that says how long Kafka keeps a record.
pub const RETENTION_MS: &str = "retention.ms";

/// A topic's `retention.ms`, as the brokers describe it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicRetention {
    /// The topic does not exist.
    Missing,
    /// Not set on the topic: the broker's `log.retention.*` applies.
    BrokerDefault,
    /// Set on the topic, in milliseconds (-1: forever).
    Set(i64),
}

impl std::fmt::Display for TopicRetention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TopicRetention::Missing => f.write_str("does not exist yet"),
            TopicRetention::BrokerDefault => f.write_str("broker default"),
            TopicRetention::Set(-1) => f.write_str("keep everything (retention.ms=-1)"),
            TopicRetention::Set(ms) => write!(f, "retention.ms={ms}"),
        }
    }
}

fn admin_options(timeout: Duration) -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(timeout))
        .operation_timeout(Some(timeout))
}

/// Every setting set on `topic` itself (not the broker's defaults), or `None` when the topic
/// does not exist.
async fn topic_overrides(
    admin: &AdminClient<KafkaContext>,
    settings: &KafkaSettings,
    topic: &str,
    timeout: Duration,
) -> anyhow::Result<Option<Vec<(String, String)>>> {
    let results = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &admin_options(timeout))
        .await
        .with_context(|| {
            format!(
                "describing topic {topic}'s settings on Kafka at {}",
                settings.brokers
            )
        })?;
    match results.into_iter().next() {
        Some(Ok(resource)) => Ok(Some(
            resource
                .entries
                .into_iter()
                .filter(|e| e.source == ConfigSource::DynamicTopic)
                .filter_map(|e| Some((e.name, e.value?)))
                .collect(),
        )),
        Some(Err(RDKafkaErrorCode::UnknownTopicOrPartition)) => Ok(None),
        Some(Err(code)) => bail!(
            "Kafka at {} refused to describe topic {topic}: {code}",
            settings.brokers
        ),
        None => bail!(
            "Kafka at {} said nothing of topic {topic}'s settings",
            settings.brokers
        ),
    }
}

/// The `retention.ms` of each topic.
pub async fn topic_retention(
    settings: &KafkaSettings,
    topics: &[String],
    timeout: Duration,
) -> anyhow::Result<Vec<(String, TopicRetention)>> {
    // The metadata first: it says a refused or silent broker in one line, and which topics
    // exist (a broker describes a missing topic's settings as if it had none of its own).
    // fetch_metadata blocks the thread; the runtime is multi-threaded.
    let existing = tokio::task::block_in_place(|| topic_partitions(settings, timeout))?;
    let admin = admin_client(settings)?;
    let mut found = Vec::new();
    for topic in topics {
        let retention = if existing.contains_key(topic) {
            match topic_overrides(&admin, settings, topic, timeout).await? {
                None => TopicRetention::Missing,
                Some(overrides) => retention_of(&overrides),
            }
        } else {
            TopicRetention::Missing
        };
        found.push((topic.clone(), retention));
    }
    Ok(found)
}

fn retention_of(overrides: &[(String, String)]) -> TopicRetention {
    overrides
        .iter()
        .find(|(name, _)| name == RETENTION_MS)
        .and_then(|(_, value)| value.parse().ok())
        .map_or(TopicRetention::BrokerDefault, TopicRetention::Set)
}

/// Gives an existing `topic` this `retention.ms` unless it has it already; returns whether it
/// changed. AlterConfigs replaces every setting of the topic, so the ones already set on it
/// (`min.insync.replicas`, `max.message.bytes`) are sent again with the new one.
pub async fn set_topic_retention(
    settings: &KafkaSettings,
    topic: &str,
    retention_ms: i64,
    timeout: Duration,
) -> anyhow::Result<bool> {
    let admin = admin_client(settings)?;
    let Some(mut overrides) = topic_overrides(&admin, settings, topic, timeout).await? else {
        bail!(
            "topic {topic} does not exist on Kafka at {}",
            settings.brokers
        );
    };
    if retention_of(&overrides) == TopicRetention::Set(retention_ms) {
        return Ok(false);
    }
    overrides.retain(|(name, _)| name != RETENTION_MS);
    let wanted = retention_ms.to_string();
    let alter = overrides.iter().fold(
        AlterConfig::new(ResourceSpecifier::Topic(topic)).set(RETENTION_MS, &wanted),
        |alter, (name, value)| alter.set(name, value),
    );
    let results = admin
        .alter_configs([&alter], &admin_options(timeout))
        .await
        .with_context(|| {
            format!(
                "setting {RETENTION_MS} of topic {topic} on Kafka at {}",
                settings.brokers
            )
        })?;
    for result in results {
        if let Err((_, code)) = result {
            bail!(
                "Kafka at {} refused {RETENTION_MS}={wanted} on topic {topic}: {code}",
                settings.brokers
            );
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    #[test]
    fn retention_not_set_on_the_topic_is_the_brokers() {
        let set = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            retention_of(&set(&[("min.insync.replicas", "1")])),
            TopicRetention::BrokerDefault
        );
        assert_eq!(
            retention_of(&set(&[("retention.ms", "7776000000")])),
            TopicRetention::Set(7_776_000_000)
        );
        assert_eq!(TopicRetention::BrokerDefault.to_string(), "broker default");
        assert_eq!(TopicRetention::Set(1000).to_string(), "retention.ms=1000");
    }

    use super::*;

    #[test]
    fn a_majority_of_three_or_more_replicas_must_acknowledge() {
        assert_eq!([1, 2, 3, 4, 5].map(min_insync_replicas), [1, 1, 2, 3, 3]);
    }
}
