//! A [`ReadingWriter`] whose session can be replaced by a new one: the driver alone does not
//! always find its way back to a node that was down (below).

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

use super::durable::{ReadingSink, Stamped};
use super::grouped::Batch;
use super::readings::ReadingWriter;
use super::CassandraSettings;

/// Writes through the current session; [`ReconnectingWriter::reconnect`] swaps in a new one.
///
/// Why: when every node of the cluster was down (one node here), cdrs-tokio rebuilds its
/// node list from the contact points once its control connection is back, with the nodes in
/// an "unknown" state that only a topology event from another node turns "up". A single
/// node never sends one about itself, so every request fails with "No nodes available in
/// query plan!" for as long as the session lives, while Cassandra answers (seen after a
/// `kill -9` and after a clean stop). A new session starts from the contact points afresh.
pub struct ReconnectingWriter {
    settings: CassandraSettings,
    current: RwLock<Arc<ReadingWriter>>,
}

impl ReconnectingWriter {
    /// Connects to the settings' keyspace and prepares the writes (see
    /// [`ReadingWriter::prepare`] for what fails here).
    pub async fn connect(settings: &CassandraSettings) -> anyhow::Result<Self> {
        let session = super::connect_keyspace(settings).await?;
        let writer = ReadingWriter::prepare(session).await?;
        Ok(Self {
            settings: settings.clone(),
            current: RwLock::new(Arc::new(writer)),
        })
    }

    fn current(&self) -> Arc<ReadingWriter> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl ReadingSink for ReconnectingWriter {
    async fn write_batch(
        &self,
        group: &Stamped,
        batch: &Batch,
        ingested_at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let rows = batch
            .rows
            .iter()
            .map(|&i| (&group.readings[i], group.stamps[i]));
        self.current()
            .write_rows(batch.table, rows, ingested_at)
            .await
    }

    /// A new session and new prepared statements; the old session ends once the writes
    /// still using it are done.
    async fn reconnect(&self) -> anyhow::Result<()> {
        let session = super::connect(&self.settings, Some(self.settings.keyspace.as_str())).await?;
        let writer = Arc::new(ReadingWriter::prepare(session).await?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = writer;
        Ok(())
    }
}
