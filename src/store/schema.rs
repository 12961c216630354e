//! Schema agreement: after a schema change, wait until the nodes hold the same schema, so the
//! next statement finds the new tables on whichever node it reaches. cdrs-tokio does not
//! wait, unlike the DataStax drivers; a single node agrees with itself at once.

use std::time::Duration;

use anyhow::Context;
use cdrs_tokio::types::IntoRustByIndex;
use tokio::time::Instant;

use super::{query, rows, CassandraSession};

/// How long to wait before going on anyway: a node that is down keeps its old version in
/// `system.peers` and would never agree.
const AGREEMENT_LIMIT: Duration = Duration::from_secs(10);

/// How long the versions seen must agree without a break: each request may reach another
/// node, and what a node knows of the others' versions (`system.peers`) comes by gossip, a
/// round a second; right after a change, nodes that have not applied it yet still agree on
/// the old version with each other.
const AGREED_FOR: Duration = Duration::from_millis(1500);

const POLL: Duration = Duration::from_millis(100);

/// Whether the schema versions seen agree: one version, or none known (no peers).
pub fn agree(local: &[String], peers: &[String]) -> bool {
    match local.first() {
        None => peers.is_empty(),
        Some(first) => local.iter().chain(peers).all(|v| v == first),
    }
}

/// Waits until the nodes agree on the schema, at most [`AGREEMENT_LIMIT`]; then goes on
/// either way (the next statement says what is missing, if anything).
pub async fn wait_for_agreement(session: &CassandraSession) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut agreeing_since: Option<Instant> = None;
    loop {
        let local = versions(session, "system.local").await?;
        let peers = versions(session, "system.peers").await?;
        if peers.is_empty() {
            return Ok(());
        }
        if !agree(&local, &peers) {
            agreeing_since = None;
        } else if agreeing_since.get_or_insert_with(Instant::now).elapsed() >= AGREED_FOR {
            return Ok(());
        }
        if start.elapsed() >= AGREEMENT_LIMIT {
            tracing::warn!(
                seconds = AGREEMENT_LIMIT.as_secs(),
                local = ?local,
                peers = ?peers,
                "the Cassandra nodes do not agree on the schema yet (a node down?); going on"
            );
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn versions(session: &CassandraSession, table: &str) -> anyhow::Result<Vec<String>> {
    let cql = format!("SELECT CAST(schema_version AS text) FROM {table}");
    let found = rows(
        query(session, &cql)
            .await
            .with_context(|| format!("reading {table}"))?,
    )?;
    Ok(found
        .iter()
        .filter_map(|row| IntoRustByIndex::<String>::get_r_by_index(row, 0).ok())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::agree;

    fn v(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_single_node_agrees_with_itself() {
        assert!(agree(&v(&["a"]), &[]));
    }

    #[test]
    fn nodes_agree_when_every_version_seen_is_the_same() {
        assert!(agree(&v(&["a"]), &v(&["a", "a"])));
        assert!(!agree(&v(&["a"]), &v(&["a", "b"])));
        assert!(!agree(&v(&["b"]), &v(&["a", "a"])));
        assert!(!agree(&[], &v(&["a"])));
    }
}
