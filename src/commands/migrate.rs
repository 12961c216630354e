//! `meteo migrate`: the keyspace, the tables (cql/NNN_name.cql in order, recorded in
//! `schema_migrations`), the retention of `readings` and of the topics, and the Kafka topics.
//! Idempotent; `--status` changes nothing.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::kafka::{self, KafkaSettings, TopicOutcome, TopicSpec};
use crate::store::migrations::{self, KeyspaceOutcome};
use crate::store::retention;
use crate::store::{self, CassandraSettings};

/// `meteo migrate`.
#[derive(Debug, Clone)]
pub struct MigrateSettings {
    pub kafka: KafkaSettings,
    pub cassandra: CassandraSettings,
    pub cql_dir: PathBuf,
    /// The keyspace's CQL replication map.
    pub replication: String,
    pub partitions: i32,
    pub topic_replication_factor: i32,
    /// `readings`' TTL; `None` leaves the table's as it is.
    pub retention: Option<Duration>,
    /// The topics' `retention.ms`; `None` leaves them to the broker (new) or as they are.
    pub topic_retention: Option<Duration>,
    /// List the migrations, change nothing.
    pub status: bool,
}

pub async fn run(args: MigrateSettings) -> anyhow::Result<()> {
    // Check the files before touching any service: a bad folder is the user's to fix first.
    let files = migrations::load_dir(&args.cql_dir)?;
    let cassandra = args.cassandra.clone();
    let keyspace = cassandra.keyspace.as_str();

    if args.status {
        return status(&args, &files).await;
    }

    let replication = args.replication.clone();
    let session = store::connect(&cassandra, None).await?;
    match migrations::ensure_keyspace(&session, keyspace, &replication).await? {
        KeyspaceOutcome::Created => tracing::info!(keyspace, %replication, "created keyspace"),
        KeyspaceOutcome::Existed { replication: found }
            if !migrations::same_replication(&found, &replication) =>
        {
            tracing::warn!(
                keyspace,
                "the keyspace exists with replication {found:?}, not {replication}; migrate \
                 leaves it as it is. To change it: ALTER KEYSPACE {keyspace} WITH replication = \
                 {replication}; then run `nodetool repair {keyspace}` on every node"
            );
        }
        KeyspaceOutcome::Existed { .. } => {}
    }
    // Read before the files run: a table that existed may hold rows written under another TTL.
    let table_before = retention::read(&session, keyspace).await?;
    // Just created on one node: the others may still be applying it.
    let session = store::connect_new_keyspace(&cassandra).await?;
    let applied = migrations::applied(&session).await?;
    for done in &applied {
        if !files.iter().any(|f| f.version == done.version) {
            tracing::warn!(version = done.version, name = %done.name, "applied migration has no file any more");
        }
    }
    let pending = migrations::pending(&files, &applied)?;
    for file in &pending {
        migrations::apply(&session, file).await?;
        tracing::info!(file = %file.name, statements = file.statements.len(), "applied migration");
    }

    let mut retention_changed = false;
    if let Some(wanted) = args.retention {
        let current = retention::read(&session, keyspace)
            .await?
            .context("the migrations did not create the table readings")?;
        if retention::apply(&session, &current, wanted).await? {
            retention_changed = true;
            let window = retention::window_for(wanted);
            let ttl = retention::describe_ttl(wanted.as_secs());
            tracing::info!(keyspace, retention = %ttl, %window, "set the retention of readings");
            if let Some(before) = table_before.filter(|b| b.ttl_seconds != wanted.as_secs()) {
                tracing::warn!(
                    keyspace,
                    "readings' retention changed from {} to {ttl}: rows already written keep \
                     the TTL they were written with (none when it was 'keep everything'); \
                     only new rows expire after {ttl}",
                    before.describe_ttl()
                );
            }
        }
    }

    let kafka_settings = args.kafka.clone();
    let topic_retention_ms = args
        .topic_retention
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let min_insync = (
        "min.insync.replicas".to_string(),
        kafka::min_insync_replicas(args.topic_replication_factor).to_string(),
    );
    let mut specs = vec![
        TopicSpec {
            name: kafka_settings.topic.to_string(),
            partitions: args.partitions,
            replication_factor: args.topic_replication_factor,
            configs: vec![min_insync.clone()],
        },
        TopicSpec {
            name: kafka_settings.dlq_topic(),
            partitions: args.partitions,
            replication_factor: args.topic_replication_factor,
            // A rejected record must always fit, whatever its size.
            configs: vec![
                min_insync,
                (
                    "max.message.bytes".into(),
                    kafka::DLQ_MAX_MESSAGE_BYTES.to_string(),
                ),
            ],
        },
    ];
    if let Some(ms) = topic_retention_ms {
        for spec in &mut specs {
            spec.configs
                .push((kafka::RETENTION_MS.to_string(), ms.to_string()));
        }
    }
    let outcomes = kafka::ensure_topics(&kafka_settings, &specs, kafka::CONNECT_TIMEOUT)
        .await
        .context("creating the Kafka topics")?;
    let mut topics_altered = 0;
    if let Some(ms) = topic_retention_ms {
        for (name, outcome) in &outcomes {
            if *outcome == TopicOutcome::Created {
                continue;
            }
            if kafka::set_topic_retention(&kafka_settings, name, ms, kafka::CONNECT_TIMEOUT).await?
            {
                topics_altered += 1;
                tracing::info!(topic = %name, retention_ms = ms, "set the topic's retention");
            }
        }
    }
    let created: Vec<&str> = outcomes
        .iter()
        .filter(|(_, o)| *o == TopicOutcome::Created)
        .map(|(name, _)| name.as_str())
        .collect();

    if pending.is_empty() && created.is_empty() && !retention_changed && topics_altered == 0 {
        tracing::info!(
            keyspace,
            migrations = files.len(),
            "nothing to do: every migration is applied, the topics exist and the retention is \
             as asked"
        );
    } else {
        tracing::info!(
            keyspace,
            applied = pending.len(),
            topics_created = created.len(),
            retention_changed,
            topics_retention_changed = topics_altered,
            "migration done"
        );
    }
    Ok(())
}

/// Prints one line per migration file: applied (when) or pending, and any changed file.
async fn status(args: &MigrateSettings, files: &[migrations::MigrationFile]) -> anyhow::Result<()> {
    let cassandra = &args.cassandra;
    let session = store::connect(cassandra, None).await?;
    let exists = store::keyspace_exists(&session, cassandra.keyspace.as_str()).await?;
    let applied = if exists {
        let session = store::connect(cassandra, Some(cassandra.keyspace.as_str())).await?;
        migrations::read_applied(&session).await?
    } else {
        Vec::new()
    };
    println!(
        "keyspace {}{}",
        cassandra.keyspace,
        if exists { "" } else { " (does not exist yet)" }
    );
    let mut pending = 0;
    for file in files {
        match applied.iter().find(|a| a.version == file.version) {
            Some(done) if done.checksum != file.checksum => println!(
                "  CHANGED  {}  (recorded checksum {}, now {})",
                file.name, done.checksum, file.checksum
            ),
            Some(done) => println!(
                "  applied  {}  {}",
                file.name,
                done.applied_at
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                    .unwrap_or_default()
            ),
            None => {
                pending += 1;
                println!("  pending  {}", file.name);
            }
        }
    }
    for done in applied
        .iter()
        .filter(|a| !files.iter().any(|f| f.version == a.version))
    {
        println!("  applied  {}  (file missing)", done.name);
    }
    println!("{} applied, {pending} pending", files.len() - pending);

    let table = if exists {
        retention::read(&session, cassandra.keyspace.as_str()).await?
    } else {
        None
    };
    match table {
        Some(table) => {
            let window = table
                .compaction
                .get("compaction_window_size")
                .zip(table.compaction.get("compaction_window_unit"))
                .map(|(size, unit)| format!(", compaction window {size} {}", unit.to_lowercase()))
                .unwrap_or_default();
            println!("readings retention: {}{window}", table.describe_ttl());
        }
        None => println!("readings retention: keep everything (the table does not exist yet)"),
    }
    let topics = [args.kafka.topic.to_string(), args.kafka.dlq_topic()];
    for (topic, found) in kafka::topic_retention(&args.kafka, &topics, kafka::CONNECT_TIMEOUT)
        .await
        .context("reading the topics' retention")?
    {
        println!("topic {topic} retention: {found}");
    }
    Ok(())
}
