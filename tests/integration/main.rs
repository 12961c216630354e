//! Integration tests: one binary, themed modules. Everything here talks to the real Kafka and
//! the real Cassandra that `scripts/test` started (or that KAFKA_BROKERS / CASSANDRA_NODES
//! name); a test whose service is missing fails, it never skips.

mod fake_owm;
mod harness;
mod poison;
mod scrape;
mod util;

mod cities;
mod compression;
mod consume;
mod containers;
mod dash;
mod docs;
mod e2e;
mod help;
mod hostile;
mod integrity;
mod kafka_roundtrip;
mod limits;
mod metrics;
mod migrate;
mod produce;
mod produce_loop;
mod schema;
mod scripts;
mod secrets;
mod signals;
mod store;
mod up;
