//! meteo: live weather for French cities, from OpenWeatherMap through Kafka into Cassandra
//! and onto a terminal dashboard.
//!
//! Data flows one way; each module owns one step and never reaches into another's:
//!
//! - [`cli`]: the command line (clap), turned once into typed settings; exit codes.
//! - [`settings`]: typed settings shared by the commands, and [`settings::Secret`].
//! - [`city`]: a city, and the producer's city list (`data/cities.fr.json`).
//! - [`model`]: the reading (message schema 1) and its validation. Depends on nothing of ours.
//! - [`text`]: outside text made safe to print; folding names for searches. Pure.
//! - [`owm`]: OpenWeatherMap: the city list (streamed from a URL or file), selection, dedup;
//!   the Current Weather API client.
//! - [`synthetic`]: made-up but plausible readings, repeatable with a seed (no key needed).
//! - [`schedule`]: when to call the API for which city, within the plan's limits. Pure.
//! - [`produce`]: the produce engine: a reading source polled on the schedule, each new
//!   reading published to Kafka, the flush at shutdown and the run's report.
//! - [`kafka`]: Kafka clients built from settings: topic administration, the producer, the
//!   at-least-once consumer loop.
//! - [`store`]: Cassandra: the session, schema migrations, reading and writing readings.
//! - [`dash`]: the terminal dashboard: app state, refresh task, drawing. Reads Cassandra only.
//! - [`commands`]: one `run` per subcommand, the only place where the modules meet.
//! - [`shutdown`]: one signal handler; the stop request every engine takes as a future.
//! - [`backoff`]: one exponential backoff with jitter for every retry loop.
//! - [`latency`]: bounded latency samples and their percentiles.
//! - [`logging`]: `tracing` to stderr, filtered by `RUST_LOG`.

pub mod backoff;
pub mod city;
pub mod cli;
pub mod commands;
pub mod dash;
pub mod kafka;
pub mod latency;
pub mod logging;
pub mod model;
pub mod owm;
pub mod produce;
pub mod schedule;
pub mod settings;
pub mod shutdown;
pub mod store;
pub mod synthetic;
pub mod text;
