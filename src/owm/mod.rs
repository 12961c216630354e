//! OpenWeatherMap: everything that comes from OpenWeatherMap and nothing else.
//!
//! - [`api`]: the Current Weather API client: one call per city, answers classified, the key
//!   redacted from every error.
//! - [`city_list`]: reading the producer's city list (`data/cities.fr.json`).
//!
//! This module never uses Kafka or Cassandra, and never prints: the commands do.

pub mod api;
pub mod city_list;
