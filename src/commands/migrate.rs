//! `meteo migrate`: the keyspace, the tables (cql/NNN_name.cql in order, recorded in
//! `schema_migrations`), and the Kafka topics. Idempotent; `--status` changes nothing.

use std::path::PathBuf;

use anyhow::Context;

use crate::kafka::{self, KafkaSettings, TopicOutcome, TopicSpec};
use crate::store::migrations::{self, KeyspaceOutcome};
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

    let kafka_settings = args.kafka.clone();
    let min_insync = (
        "min.insync.replicas".to_string(),
        kafka::min_insync_replicas(args.topic_replication_factor).to_string(),
    );
    let specs = vec![
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
    let outcomes = kafka::ensure_topics(&kafka_settings, &specs, kafka::CONNECT_TIMEOUT)
        .await
        .context("creating the Kafka topics")?;
    let created: Vec<&str> = outcomes
        .iter()
        .filter(|(_, o)| *o == TopicOutcome::Created)
        .map(|(name, _)| name.as_str())
        .collect();

    if pending.is_empty() && created.is_empty() {
        tracing::info!(
            keyspace,
            migrations = files.len(),
            "nothing to do: every migration is applied and the topics exist"
        );
    } else {
        tracing::info!(
            keyspace,
            applied = pending.len(),
            topics_created = created.len(),
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
    Ok(())
}
