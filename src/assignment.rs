//! The consumer's partition assignment as a generation number that moves at each rebalance.
//! The Kafka consumer moves it; the store forgets what it remembered per city, because
//! another process may have written those cities while their partitions were elsewhere.
//! A leaf: imports nothing of ours. One consumer per process, so one number per process.

use std::sync::atomic::{AtomicU64, Ordering};

static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Partitions were assigned: what was learnt under the previous assignment may be stale.
pub fn moved() {
    GENERATION.fetch_add(1, Ordering::SeqCst);
}

/// The current generation; it only grows.
pub fn generation() -> u64 {
    GENERATION.load(Ordering::SeqCst)
}
