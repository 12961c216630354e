//! meteo: live weather from OpenWeatherMap through Kafka into Cassandra and onto a terminal
//! dashboard. Data flows one way; each module owns one step and never reaches into another's.
//! Layers, top down: `cli`, `commands`, the engines (`produce`, `dash`), the adapters (`owm`,
//! `kafka`, `store`, `synthetic`), `settings`, then the leaves (`model`, `secret`, ...). No
//! file imports one above it, and no two files import each other (the `layering` test).

// The consumer's partition assignment, a number that moves at each rebalance.
pub mod assignment;
// One exponential backoff, its jitter rule and its reset, for every loop that tries again.
pub mod backoff;
// A city, and the producer's city list (`data/cities.fr.json`).
pub mod city;
// The command line (clap), turned once into each command's typed settings; exit codes.
pub mod cli;
// One `run` per subcommand and its settings: glue, the only place where the modules meet.
pub mod commands;
// Files read with a size limit, and only when regular. A leaf.
pub mod files;
// The terminal dashboard: app state, refresh task, drawing. Reads Cassandra only.
pub mod dash;
// Kafka: its settings (brokers, topic) and the clients built from them, topic
// administration, the producer, the at-least-once consumer loop; why a broker refused.
pub mod kafka;
// The module structure checked from the source: no import cycles, settings at the bottom.
#[cfg(test)]
mod layering;
// Bounded latency samples and their percentiles.
pub mod latency;
// `tracing` to stderr, filtered by `RUST_LOG`.
pub mod logging;
// An outage told once, reminded each minute, and its end (the weather API's, Kafka's).
pub mod outage;
// Metrics and health of produce and consume, served over HTTP with --metrics-addr.
pub mod metrics;
// The reading (message schema 1), its validation, the country code, and the one text rule
// every door applies (model::text). Depends on nothing of ours.
pub mod model;
// OpenWeatherMap: the city list (streamed, selected, de-duplicated) and the Current Weather
// API client.
pub mod owm;
// The produce engine and its settings: a reading source polled on the schedule, each new
// reading published to Kafka, the flush at shutdown and the run's report.
pub mod produce;
// A secret that redacts itself in `Debug` and `Display`. A leaf.
pub mod secret;
// When to call the API for which city, within the plan's limits. Pure.
pub mod schedule;
// The value parsers clap calls at the edge. Imports no engine or adapter.
pub mod settings;
// One signal handler; the stop request every engine takes.
pub mod shutdown;
// Cassandra: its settings (nodes, keyspace, login, TLS), the session, schema migrations,
// writing readings durably and reading them back.
pub mod store;
// Made-up but plausible readings, repeatable with a seed (no key needed).
pub mod synthetic;
// Outside text made safe to print; folding names for searches. Pure.
pub mod text;
