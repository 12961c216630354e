//! The Cassandra session: plain TCP or TLS (rustls, the one TLS transport cdrs-tokio offers),
//! connected with checks that tell a refused port, a refused login and silence apart.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use cdrs_tokio::cluster::session::{
    RustlsSessionBuilder, Session, SessionBuilder, TcpSessionBuilder,
};
use cdrs_tokio::cluster::{
    NodeRustlsConfigBuilder, NodeTcpConfigBuilder, RustlsConnectionManager, TcpConnectionManager,
};
use cdrs_tokio::consistency::Consistency;
use cdrs_tokio::frame::Envelope;
use cdrs_tokio::load_balancing::node_distance_evaluator::TopologyAwareNodeDistanceEvaluator;
use cdrs_tokio::load_balancing::TopologyAwareLoadBalancingStrategy;
use cdrs_tokio::query::{PreparedQuery, QueryBatch, QueryValues};
use cdrs_tokio::speculative_execution::{
    ConstantSpeculativeExecutionPolicy, SpeculativeExecutionPolicy,
};
use cdrs_tokio::statement::{StatementParams, StatementParamsBuilder};
use cdrs_tokio::transport::{TransportRustls, TransportTcp};

use super::routing::TokenAware;
use super::tls;
use super::CassandraSettings;

type PlainSession = Session<
    TransportTcp,
    TcpConnectionManager,
    TokenAware<TopologyAwareLoadBalancingStrategy<TransportTcp, TcpConnectionManager>>,
>;
type TlsSession = Session<
    TransportRustls,
    RustlsConnectionManager,
    TokenAware<TopologyAwareLoadBalancingStrategy<TransportRustls, RustlsConnectionManager>>,
>;

/// A session to the cluster, plain or over TLS, and the consistency level of its requests.
/// Shared through `Arc`.
pub struct CassandraSession {
    driver: Driver,
    consistency: Consistency,
    /// Sends a read with no answer yet to the next node ([`CassandraSettings::read_timeout`]).
    speculation: Option<Arc<dyn SpeculativeExecutionPolicy + Send + Sync>>,
}

/// How many nodes one read may be sent to, the first included: with replication factor 3,
/// every replica.
const READ_EXECUTIONS: usize = 3;

enum Driver {
    Plain(PlainSession),
    Tls(TlsSession),
}

/// The same call on either driver session.
macro_rules! on_each {
    ($session:expr, $s:ident => $call:expr) => {
        match &$session.driver {
            Driver::Plain($s) => $call,
            Driver::Tls($s) => $call,
        }
    };
}

impl CassandraSession {
    /// The consistency level every request of this session uses.
    pub fn consistency(&self) -> Consistency {
        self.consistency
    }

    pub async fn query(&self, cql: &str) -> cdrs_tokio::error::Result<Envelope> {
        let params = self.params(cql, StatementParamsBuilder::new());
        on_each!(self, s => s.query_with_params(cql, params).await)
    }

    pub async fn query_with_values(
        &self,
        cql: &str,
        values: QueryValues,
    ) -> cdrs_tokio::error::Result<Envelope> {
        let params = self.params(cql, StatementParamsBuilder::new().with_values(values));
        on_each!(self, s => s.query_with_params(cql, params).await)
    }

    /// The session's consistency level; for a read, idempotent (the driver may send it to
    /// another node) and the session's speculative execution.
    fn params(&self, cql: &str, builder: StatementParamsBuilder) -> StatementParams {
        let read = is_read(cql);
        let mut builder = builder.with_consistency(self.consistency).idempotent(read);
        if let Some(policy) = self.speculation.as_ref().filter(|_| read) {
            builder = builder.with_speculative_execution_policy(policy.clone());
        }
        builder.build()
    }

    pub async fn prepare(&self, cql: &str) -> cdrs_tokio::error::Result<PreparedQuery> {
        on_each!(self, s => s.prepare(cql).await)
    }

    /// Runs a prepared statement; `params` carry their own consistency level (start them
    /// from [`Self::consistency`]).
    pub async fn exec_with_params(
        &self,
        prepared: &PreparedQuery,
        params: &StatementParams,
    ) -> cdrs_tokio::error::Result<Envelope> {
        on_each!(self, s => s.exec_with_params(prepared, params).await)
    }

    /// Runs a batch; `params` carry its consistency level, as for
    /// [`Self::exec_with_params`].
    pub async fn batch_with_params(
        &self,
        batch: QueryBatch,
        params: &StatementParams,
    ) -> cdrs_tokio::error::Result<Envelope> {
        on_each!(self, s => s.batch_with_params(batch, params).await)
    }

    /// The datacenters of the nodes the driver knows, sorted, without repeats.
    fn datacenters(&self) -> Vec<String> {
        let mut names: Vec<String> = on_each!(self, s => s
            .cluster_metadata()
            .nodes()
            .values()
            .map(|node| node.datacenter().to_string())
            .collect());
        names.sort();
        names.dedup();
        names
    }
}

/// Whether `cql` only reads: the driver sends an idempotent request to the next node when the
/// one it chose dies under it (a read that failed with its node is not a failed read).
fn is_read(cql: &str) -> bool {
    cql.trim_start()
        .get(..6)
        .is_some_and(|word| word.eq_ignore_ascii_case("select"))
}

/// How long connecting may take before the nodes are reported as not answering.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one node gets to accept a TCP connection in the first check.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Connects to the cluster; with `keyspace`, every connection uses it. A refused port, a
/// refused login, a missing keyspace ([`super::MissingKeyspace`]) or a TLS mismatch is
/// reported at once; silence after [`CONNECT_TIMEOUT`].
pub async fn connect(
    settings: &CassandraSettings,
    keyspace: Option<&str>,
) -> anyhow::Result<Arc<CassandraSession>> {
    let nodes = settings.nodes.join(",");
    let reachable = reachable_nodes(&settings.nodes).await?;
    // The session's builder retries a failed login or `USE` until its own limits and then
    // loses the cause; one connection first makes those failures plain at once (handshake.rs).
    tokio::time::timeout(
        CONNECT_TIMEOUT,
        super::handshake::check(settings, &reachable[0], keyspace),
    )
    .await
    .map_err(|_| silent(&nodes))??;
    let attempt = async {
        let auth = settings.authenticator();
        let contact_points = reachable.iter().map(|a| (*a).into()).collect();
        // The same steps for both transports, whose builders share no trait for all of them.
        macro_rules! session {
            ($node_config:expr, $session_builder:ident, $variant:ident) => {{
                let config = $node_config
                    .with_contact_points(contact_points)
                    .with_authenticator_provider(auth)
                    .build()
                    .await
                    .map_err(|e| anyhow!(super::describe(&e)))?;
                // Replicas first (token-aware, batches included: routing.rs), then the other
                // local nodes; nodes that die leave the plan and come back with the driver's
                // topology events.
                let mut builder = $session_builder::new(
                    TokenAware::new(TopologyAwareLoadBalancingStrategy::new(None, false)),
                    config,
                );
                if let Some(dc) = &settings.datacenter {
                    builder = builder.with_node_distance_evaluator(Box::new(
                        TopologyAwareNodeDistanceEvaluator::new(dc.clone()),
                    ));
                }
                if let Some(keyspace) = keyspace {
                    builder = builder.with_keyspace(keyspace.to_string());
                }
                Driver::$variant(builder.build().await.map_err(|e| anyhow!(e))?)
            }};
        }
        let session = match &settings.tls {
            None => session!(NodeTcpConfigBuilder::new(), TcpSessionBuilder, Plain),
            Some(tls_settings) => {
                let (name, config) = tls::client_config(tls_settings, &settings.nodes[0])?;
                session!(
                    NodeRustlsConfigBuilder::new(name, config),
                    RustlsSessionBuilder,
                    Tls
                )
            }
        };
        anyhow::Ok(session)
    };
    let driver = tokio::time::timeout(CONNECT_TIMEOUT, attempt)
        .await
        .map_err(|_| silent(&nodes))?
        .with_context(|| format!("connecting to Cassandra at {nodes}"))?;
    let session = Arc::new(CassandraSession {
        driver,
        consistency: settings.consistency,
        speculation: settings.read_timeout.map(speculation),
    });
    // A datacenter no node is in leaves no node to ask: say so rather than "no nodes".
    if let Some(dc) = &settings.datacenter {
        let known = session.datacenters();
        if !known.contains(dc) {
            bail!(
                "Cassandra at {nodes} has no datacenter {dc} (METEO_CASSANDRA_DC, --cassandra-dc); \
                 its nodes are in: {}",
                known.join(", ")
            );
        }
    }
    // Building a session does not prove a node answers queries: ask one.
    super::query(&session, "SELECT release_version FROM system.local")
        .await
        .with_context(|| format!("Cassandra at {nodes} does not answer queries"))?;
    Ok(session)
}

/// Sends a read to the next node of its plan after `read_timeout` without an answer, up to
/// [`READ_EXECUTIONS`] nodes. The driver's own timeout is Cassandra's (5 s): a coordinator
/// waiting on a replica that died, which the others have not yet seen down (about 19 s with
/// the default failure detector), would hold the read that long.
fn speculation(read_timeout: Duration) -> Arc<dyn SpeculativeExecutionPolicy + Send + Sync> {
    Arc::new(ConstantSpeculativeExecutionPolicy::new(
        READ_EXECUTIONS,
        read_timeout,
    ))
}

fn silent(nodes: &str) -> anyhow::Error {
    anyhow!(
        "Cassandra at {nodes} did not answer within {} s (is it running? set CASSANDRA_NODES or --cassandra)",
        CONNECT_TIMEOUT.as_secs()
    )
}

/// The contact points that accept a TCP connection, resolved. Fails at once when every one
/// refuses or cannot be resolved, naming each.
async fn reachable_nodes(nodes: &[String]) -> anyhow::Result<Vec<SocketAddr>> {
    let checks = nodes.iter().map(|node| async move {
        let addrs: Vec<SocketAddr> = match tokio::net::lookup_host(node.as_str()).await {
            Ok(addrs) => addrs.collect(),
            Err(e) => return Err(format!("{node}: the name does not resolve ({e})")),
        };
        let Some(addr) = addrs.first().copied() else {
            return Err(format!("{node}: the name resolves to no address"));
        };
        match tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(_)) => Ok(addr),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => Err(format!(
                "{node} refused the connection (nothing listens on that port)"
            )),
            Ok(Err(e)) => Err(format!("{node}: {e}")),
            // Silence is not refusal: the driver gets its chance, within CONNECT_TIMEOUT.
            Err(_) => Ok(addr),
        }
    });
    let results = futures::future::join_all(checks).await;
    let (reachable, failed): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    if reachable.is_empty() {
        let reasons: Vec<String> = failed.into_iter().filter_map(Result::err).collect();
        bail!(
            "cannot reach Cassandra: {} (set CASSANDRA_NODES or --cassandra)",
            reasons.join("; ")
        );
    }
    Ok(reachable.into_iter().filter_map(Result::ok).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_selects_are_sent_again_to_another_node() {
        assert!(is_read("SELECT * FROM latest"));
        assert!(is_read("  select release_version FROM system.local"));
        assert!(!is_read("INSERT INTO latest (a) VALUES (1)"));
        assert!(!is_read("UPDATE readings SET a = 1 WHERE b = 2 IF EXISTS"));
        assert!(!is_read("CREATE TABLE t (a int PRIMARY KEY)"));
        assert!(!is_read("SEL"));
    }
}
