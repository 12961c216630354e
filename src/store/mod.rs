//! Cassandra: the session and its time-limited requests, schema migrations, the readings
//! tables and writes that outlast an outage. Knows nothing of Kafka or the weather API.

pub mod countries;
pub mod durable;
pub mod grouped;
pub mod migrations;
pub mod precedence;
pub mod probe;
pub mod readings;
pub mod reconnecting;
pub mod retention;
pub mod routing;

mod config;
mod handshake;
mod schema;
mod session;
mod tls;

use std::time::Duration;

use anyhow::{anyhow, Context};
use cdrs_tokio::frame::message_response::ResponseBody;
use cdrs_tokio::frame::message_result::ResResultBody;
use cdrs_tokio::frame::Envelope;
use cdrs_tokio::query::QueryValues;
use cdrs_tokio::types::rows::Row;

pub use config::{CassandraSettings, CassandraTls, Consistency, Keyspace};
pub use session::{connect, CassandraSession, CONNECT_TIMEOUT};

/// The driver has no request time limit of its own; every request gets this one.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(12);
/// Schema changes wait for schema agreement and may take longer than a write.
pub const DDL_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether the keyspace exists, asked of the schema tables (any session, keyspace or not).
pub async fn keyspace_exists(session: &CassandraSession, keyspace: &str) -> anyhow::Result<bool> {
    let found = rows(
        query_with_values(
            session,
            "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = ?",
            cdrs_tokio::query_values!(keyspace),
        )
        .await
        .context("looking up the keyspace")?,
    )?;
    Ok(!found.is_empty())
}

/// How long [`ping`] waits for an answer.
pub const PING_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether Cassandra answers a trivial query now: for health checks. The error is one line.
pub async fn ping(session: &CassandraSession) -> Result<(), String> {
    match tokio::time::timeout(
        PING_TIMEOUT,
        session.query("SELECT release_version FROM system.local"),
    )
    .await
    {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(describe(&err)),
        Err(_) => Err(format!("no answer within {} s", PING_TIMEOUT.as_secs())),
    }
}

/// Connects to the settings' keyspace, saying to run `meteo migrate` when it does not exist
/// ([`MissingKeyspace`], from [`connect`]'s first connection).
pub async fn connect_keyspace(
    settings: &CassandraSettings,
) -> anyhow::Result<std::sync::Arc<CassandraSession>> {
    connect(settings, Some(settings.keyspace.as_str())).await
}

/// How long a keyspace just created may take to reach the node a connection lands on. The
/// schema-agreement wait gives up after 10 s; on a loaded cluster a node can still be
/// applying the change after that.
pub const NEW_KEYSPACE_WITHIN: std::time::Duration = std::time::Duration::from_secs(30);

/// Connects to a keyspace that `migrate` has just created: a node that has not applied it yet
/// refuses `USE` with [`MissingKeyspace`], so that one answer is asked again, for at most
/// [`NEW_KEYSPACE_WITHIN`]; any other failure is returned at once.
pub async fn connect_new_keyspace(
    settings: &CassandraSettings,
) -> anyhow::Result<std::sync::Arc<CassandraSession>> {
    until_keyspace_appears(NEW_KEYSPACE_WITHIN, || connect_keyspace(settings)).await
}

/// Calls `attempt` until it no longer fails with [`MissingKeyspace`] or `within` has passed.
async fn until_keyspace_appears<T, F, Fut>(
    within: std::time::Duration,
    mut attempt: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    let mut backoff = crate::backoff::Backoff::new(
        std::time::Duration::from_millis(200),
        std::time::Duration::from_secs(2),
    );
    loop {
        match attempt().await {
            Err(err)
                if err.chain().any(|e| e.is::<MissingKeyspace>())
                    && tokio::time::Instant::now() < deadline =>
            {
                tracing::debug!("the new keyspace is not on every node yet; asking again");
                backoff.wait().await;
            }
            other => return other,
        }
    }
}

/// Cassandra answers, but the keyspace is not there: `meteo migrate` has not run (the
/// dashboard tells this apart from an outage).
#[derive(Debug, thiserror::Error)]
#[error("keyspace {keyspace} does not exist in Cassandra at {nodes}; run `meteo migrate` first")]
pub struct MissingKeyspace {
    pub keyspace: String,
    pub nodes: String,
}

/// The server's own message for a server error, the driver's text otherwise.
pub fn describe(err: &cdrs_tokio::error::Error) -> String {
    match err {
        cdrs_tokio::error::Error::Server { body, addr } => {
            format!("{} (from {addr})", body.message)
        }
        other => other.to_string(),
    }
}

async fn with_timeout<F>(limit: Duration, what: &str, request: F) -> anyhow::Result<Envelope>
where
    F: std::future::Future<Output = cdrs_tokio::error::Result<Envelope>>,
{
    match tokio::time::timeout(limit, request).await {
        Ok(Ok(envelope)) => Ok(envelope),
        Ok(Err(err)) => Err(anyhow!(describe(&err))),
        Err(_) => Err(anyhow!("no answer within {} s to {what}", limit.as_secs())),
    }
}

/// Runs one statement without values.
pub async fn query(session: &CassandraSession, cql: &str) -> anyhow::Result<Envelope> {
    with_timeout(REQUEST_TIMEOUT, "a query", session.query(cql)).await
}

/// Runs one schema statement (longer time limit: it waits for schema agreement), then waits
/// until the nodes agree on the new schema.
pub async fn ddl(session: &CassandraSession, cql: &str) -> anyhow::Result<Envelope> {
    let mut answer = with_timeout(DDL_TIMEOUT, "a schema change", session.query(cql)).await;
    // A node that has not yet applied another client's schema change (a keyspace dropped just
    // before) refuses with "Unknown CF <id>": once the nodes agree, the statement goes through.
    if answer
        .as_ref()
        .is_err_and(|err| format!("{err:#}").contains("Unknown CF"))
    {
        schema::wait_for_agreement(session).await?;
        answer = with_timeout(DDL_TIMEOUT, "a schema change", session.query(cql)).await;
    }
    let envelope = answer?;
    // A statement that changed nothing (IF NOT EXISTS, and it existed) answers Void.
    if matches!(
        envelope.response_body(),
        Ok(ResponseBody::Result(ResResultBody::SchemaChange(_)))
    ) {
        schema::wait_for_agreement(session).await?;
    }
    Ok(envelope)
}

/// Runs one statement with bound values.
pub async fn query_with_values(
    session: &CassandraSession,
    cql: &str,
    values: QueryValues,
) -> anyhow::Result<Envelope> {
    with_timeout(
        REQUEST_TIMEOUT,
        "a query",
        session.query_with_values(cql, values),
    )
    .await
}

/// The rows of a result (none for a statement that returns none).
pub fn rows(envelope: Envelope) -> anyhow::Result<Vec<Row>> {
    let body = envelope
        .response_body()
        .map_err(|e| anyhow!("decoding Cassandra's answer: {}", describe(&e)))?;
    Ok(body.into_rows().unwrap_or_default())
}

#[cfg(test)]
mod new_keyspace_tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    use super::{until_keyspace_appears, MissingKeyspace};

    fn missing() -> anyhow::Error {
        anyhow::Error::new(MissingKeyspace {
            keyspace: "k".into(),
            nodes: "n".into(),
        })
        .context("connecting")
    }

    #[tokio::test(start_paused = true)]
    async fn a_keyspace_not_yet_on_the_node_is_asked_again_until_it_is() {
        let calls = AtomicU32::new(0);
        let got = until_keyspace_appears(Duration::from_secs(30), || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0..=2 => Err(missing()),
                _ => Ok(7),
            }
        })
        .await;
        assert_eq!(got.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn other_failures_are_returned_at_once_and_a_lasting_absence_after_the_limit() {
        let calls = AtomicU32::new(0);
        let got: anyhow::Result<()> = until_keyspace_appears(Duration::from_secs(30), || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(anyhow::anyhow!("wrong password"))
        })
        .await;
        assert_eq!(got.unwrap_err().to_string(), "wrong password");
        assert_eq!(calls.load(Ordering::SeqCst), 1);

        let start = tokio::time::Instant::now();
        let got: anyhow::Result<()> =
            until_keyspace_appears(Duration::from_secs(30), || async { Err(missing()) }).await;
        assert!(got.unwrap_err().chain().any(|e| e.is::<MissingKeyspace>()));
        let took = start.elapsed();
        assert!(
            took >= Duration::from_secs(30) && took < Duration::from_secs(33),
            "{took:?}"
        );
    }
}
