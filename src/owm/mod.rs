//! OpenWeatherMap: everything that comes from OpenWeatherMap and nothing else; never uses
//! Kafka or Cassandra, and never prints (the commands do).

// The Current Weather API client: one call per city, answers classified, the key redacted
// from every error.
pub mod api;
// The city list `city.list.json.gz`, read as a stream; selecting cities from it and dropping
// near-duplicates.
pub mod cities;
// Opening a city list from a URL (ureq) or a local file, gzip or plain, recognised by its
// first bytes, with download progress reported to the caller.
pub mod source;
