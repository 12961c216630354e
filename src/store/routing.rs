//! Token-aware routing of the writes: the Murmur3 token of a partition key, and a
//! load-balancing strategy that sends each request of one partition to one of its replicas
//! first, counting how many went to a replica.
//!
//! cdrs-tokio 9 routes a prepared statement by the partition key values it binds, but sends a
//! batch with no token at all (`Session::batch_with_params` hands `None` to its load
//! balancing, whatever the [`StatementParams`](cdrs_tokio::statement::StatementParams) say),
//! so its token-aware strategy picks any node: at replication factor 1 on three nodes, two
//! batches in three went to a node that then forwarded them. A write runs inside
//! [`routed`], which puts the partition's token where [`TokenAware`] reads it while the
//! driver plans the request (in the task that awaits it), so no patched driver is needed.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

use cdrs_tokio::cluster::topology::{Node, ReplicationStrategy};
use cdrs_tokio::cluster::{ClusterMetadata, ConnectionManager, Murmur3Token};
use cdrs_tokio::load_balancing::{LoadBalancingStrategy, QueryPlan, Request};
use cdrs_tokio::transport::CdrsTransport;

tokio::task_local! {
    /// The token of the partition the request being sent writes to.
    static ROUTE: Murmur3Token;
}

/// The routing key of a partition key, as Cassandra hashes it: a single column's value as
/// is; several as a `CompositeType` value (each component as a 2-byte big-endian length,
/// its bytes and a 0 end-of-component byte).
pub fn routing_key(components: &[&[u8]]) -> Vec<u8> {
    match components {
        [one] => one.to_vec(),
        _ => {
            let mut key = Vec::with_capacity(components.iter().map(|c| c.len() + 3).sum());
            for component in components {
                // A partition key value is far below 64 KiB (a bigint, a date, a country code).
                let length = u16::try_from(component.len()).unwrap_or(u16::MAX);
                key.extend_from_slice(&length.to_be_bytes());
                key.extend_from_slice(component);
                key.push(0);
            }
            key
        }
    }
}

/// The Murmur3 token of a partition key given as its columns' serialized values.
pub fn token(components: &[&[u8]]) -> Murmur3Token {
    Murmur3Token::generate(&routing_key(components))
}

/// Runs `request` (to the partition of `token`) so that [`TokenAware`] plans it
/// with that token, and counts whether its first node is a replica.
pub async fn routed<F: Future>(token: Murmur3Token, request: F) -> F::Output {
    ROUTE.scope(token, request).await
}

/// Requests planned with a token, and those whose first node is a replica of it:
/// process-wide, for the consumer's summary line.
static PLANNED: AtomicU64 = AtomicU64::new(0);
static TO_REPLICA: AtomicU64 = AtomicU64::new(0);

/// Requests of one partition sent since the process started, and how many of them
/// went first to a replica of their partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RoutingCounts {
    pub requests: u64,
    pub to_replica: u64,
}

/// The counts so far.
pub fn counts() -> RoutingCounts {
    RoutingCounts {
        requests: PLANNED.load(Ordering::Relaxed),
        to_replica: TO_REPLICA.load(Ordering::Relaxed),
    }
}

/// The driver's strategy (`inner`), given the token of the partition a request inside
/// [`routed`] writes to when the driver passed none; it then puts that partition's replicas
/// first, as it does for a statement whose key it knows.
pub struct TokenAware<LB> {
    inner: LB,
}

impl<LB> TokenAware<LB> {
    pub fn new(inner: LB) -> Self {
        Self { inner }
    }
}

impl<T, CM, LB> LoadBalancingStrategy<T, CM> for TokenAware<LB>
where
    T: CdrsTransport + 'static,
    CM: ConnectionManager<T> + 'static,
    LB: LoadBalancingStrategy<T, CM>,
{
    fn query_plan(
        &self,
        request: Option<Request>,
        cluster: &ClusterMetadata<T, CM>,
    ) -> QueryPlan<T, CM> {
        let Ok(token) = ROUTE.try_with(|token| *token) else {
            return self.inner.query_plan(request, cluster);
        };
        let keyspace = request.as_ref().and_then(|r| r.keyspace);
        let request = request.map(|mut r| {
            if r.token.is_none() && r.routing_key.is_none() {
                r.token = Some(token);
            }
            r
        });
        let plan = self.inner.query_plan(request, cluster);
        let to_replica = match (plan.nodes.first(), keyspace) {
            (Some(first), Some(keyspace)) => is_replica(first, token, keyspace, cluster),
            _ => false,
        };
        PLANNED.fetch_add(1, Ordering::Relaxed);
        if to_replica {
            TO_REPLICA.fetch_add(1, Ordering::Relaxed);
        }
        crate::metrics::write_request_planned(to_replica);
        plan
    }
}

/// Whether `node` holds a replica of `token` in `keyspace`, by the ring the driver knows.
/// Racks are not weighed: the nodes walked from the token, up to the replication factor
/// of each datacenter (exact for one rack per datacenter, as here).
fn is_replica<T, CM>(
    node: &Node<T, CM>,
    token: Murmur3Token,
    keyspace: &str,
    cluster: &ClusterMetadata<T, CM>,
) -> bool
where
    T: CdrsTransport + 'static,
    CM: ConnectionManager<T> + 'static,
{
    let Some(metadata) = cluster.keyspace(keyspace) else {
        return false;
    };
    let address = node.broadcast_rpc_address();
    let ring = cluster.token_map();
    match &metadata.replication_strategy {
        ReplicationStrategy::SimpleStrategy { replication_factor } => ring
            .nodes_for_token_capped(token, *replication_factor)
            .any(|n| n.broadcast_rpc_address() == address),
        ReplicationStrategy::NetworkTopologyStrategy {
            datacenter_replication_factor,
        } => {
            let mut left = datacenter_replication_factor.clone();
            for replica in ring.nodes_for_token(token) {
                let Some(count) = left.get_mut(replica.datacenter()) else {
                    continue;
                };
                if *count == 0 {
                    continue;
                }
                *count -= 1;
                if replica.broadcast_rpc_address() == address {
                    return true;
                }
                if left.values().all(|&c| c == 0) {
                    break;
                }
            }
            false
        }
        ReplicationStrategy::Other => ring
            .nodes_for_token_capped(token, 1)
            .any(|n| n.broadcast_rpc_address() == address),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_column_key_is_its_value_and_a_composite_one_is_length_value_end() {
        assert_eq!(routing_key(&[b"FR"]), b"FR".to_vec());
        assert_eq!(
            routing_key(&[&[1, 2], &[3]]),
            vec![0, 2, 1, 2, 0, 0, 1, 3, 0]
        );
    }

    /// Tokens Cassandra gave for a text and a bigint key (`token(country)` of `latest` and
    /// `token(city_id)` of `city_countries`; tests/integration/store.rs compares more, the
    /// composite key of `readings` among them).
    #[test]
    fn tokens_are_cassandras_murmur3_of_the_key() {
        assert_eq!(token(&[b"FR"]).value, -6_936_432_207_668_582_156);
        assert_eq!(
            token(&[&2_988_507_i64.to_be_bytes()]).value,
            -3_197_088_178_107_623_642
        );
    }
}
