//! OpenWeatherMap: everything that comes from OpenWeatherMap and nothing else.
//!
//! - [`cities`]: the city list `city.list.json.gz`, read as a stream; selecting cities from
//!   it and dropping near-duplicates.
//! - [`source`]: opening a city list from a URL (ureq) or a local file, gzip or plain,
//!   recognised by its first bytes, with download progress reported to the caller.
//! - [`api`]: the Current Weather API client: one call per city, answers classified, the key
//!   redacted from every error.
//!
//! This module never uses Kafka or Cassandra, and never prints: the commands do.

pub mod api;
pub mod cities;
pub mod source;
