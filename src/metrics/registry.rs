//! The registry of one process: the metrics of its role (produce or consume) and those of
//! both, their handles for the hooks, and the two text encodings.

use std::sync::Mutex;

use prometheus_client::encoding::{prometheus_text, text as openmetrics_text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use super::health::Checks;
use super::process::ProcessCollector;
use super::Role;

/// One label, from a fixed set of values (never a city id).
pub type Label = [(&'static str, &'static str); 1];

/// Ages of a reading when Kafka takes it, in seconds: 30 s to 4 h. OpenWeatherMap updates
/// every 10 minutes, so the bounds are dense around 10 to 20 minutes, where a freshness alert
/// sits (an interval stretched for a long list reaches hours).
pub const OBSERVATION_AGE_BUCKETS: [f64; 13] = [
    30.0, 60.0, 120.0, 300.0, 600.0, 750.0, 900.0, 1200.0, 1800.0, 3600.0, 7200.0, 10800.0, 14400.0,
];

/// Every handle the hooks use. Those of the other role exist but are not registered, so
/// they count unseen.
pub struct Metrics {
    pub role: Role,
    registry: Registry,
    pub kafka_up: Gauge,
    // consume
    pub stored: Counter,
    pub dead_lettered: Counter,
    pub lag: Gauge,
    pub partitions: Gauge,
    pub write_duration: Histogram,
    pub batches: Counter,
    pub batches_to_replica: Counter,
    pub cassandra_up: Gauge,
    // produce
    pub api_calls: Family<Label, Counter>,
    pub published: Counter,
    pub publish_duration: Histogram,
    pub observation_age: Histogram,
    pub budget_remaining: Family<Label, Gauge>,
    /// What `/healthz` and `/readyz` answer from.
    pub checks: Mutex<Checks>,
}

impl Metrics {
    pub fn new(role: Role, topic: &str) -> Self {
        let mut metrics = Self {
            role,
            registry: Registry::default(),
            kafka_up: Gauge::default(),
            stored: Counter::default(),
            dead_lettered: Counter::default(),
            lag: Gauge::default(),
            partitions: Gauge::default(),
            // 0.5 ms to 8 s: a local write to a Cassandra that retries through an outage.
            write_duration: Histogram::new(exponential_buckets(0.0005, 2.0, 15)),
            batches: Counter::default(),
            batches_to_replica: Counter::default(),
            cassandra_up: Gauge::default(),
            api_calls: Family::default(),
            published: Counter::default(),
            // 1 ms to 16 s: acks=all, and retries while a broker restarts.
            publish_duration: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            observation_age: Histogram::new(OBSERVATION_AGE_BUCKETS.iter().copied()),
            budget_remaining: Family::default(),
            checks: Mutex::new(Checks::new(topic)),
        };
        metrics.register();
        metrics
    }

    fn register(&mut self) {
        let r = &mut self.registry;
        r.register(
            "meteo_build",
            "The meteo build running",
            Info::new([("version", env!("CARGO_PKG_VERSION"))]),
        );
        r.register(
            "meteo_kafka_up",
            "1 while Kafka answers this process, else 0",
            self.kafka_up.clone(),
        );
        r.register_collector(Box::new(ProcessCollector::new()));
        match self.role {
            Role::Consume => {
                let records = Family::<Label, Counter>::default();
                // The same counters as the hooks' handles, so the hot path takes no lock.
                self.stored = records.get_or_create(&[("outcome", "stored")]).clone();
                self.dead_lettered = records
                    .get_or_create(&[("outcome", "dead_lettered")])
                    .clone();
                r.register(
                    "meteo_consume_records",
                    "Records settled: written to Cassandra, or sent to the dead-letter topic",
                    records,
                );
                r.register_with_unit(
                    "meteo_consume_write_duration",
                    "From a record's fetch to its reading stored in Cassandra, retries included",
                    Unit::Seconds,
                    self.write_duration.clone(),
                );
                r.register(
                    "meteo_consume_batches",
                    "Requests of one partition sent to Cassandra: writes (batches, single statements) and reads of a city's countries",
                    self.batches.clone(),
                );
                r.register(
                    "meteo_consume_batches_to_replica",
                    "Of those, the ones sent first to a replica of their partition (token-aware routing)",
                    self.batches_to_replica.clone(),
                );
                let gauges = [
                    (
                        "meteo_consume_lag_records",
                        "Records on the topic not yet read, over the partitions assigned here",
                        &self.lag,
                    ),
                    (
                        "meteo_consume_partitions_assigned",
                        "Partitions of the topic assigned to this consumer",
                        &self.partitions,
                    ),
                    (
                        "meteo_cassandra_up",
                        "1 while Cassandra answers this consumer, else 0",
                        &self.cassandra_up,
                    ),
                ];
                for (name, help, gauge) in gauges {
                    r.register(name, help, gauge.clone());
                }
            }
            Role::Produce => {
                r.register(
                    "meteo_produce_api_calls",
                    "Weather API calls by result: new, unchanged, or the error class",
                    self.api_calls.clone(),
                );
                r.register(
                    "meteo_produce_readings_published",
                    "Readings acknowledged by Kafka",
                    self.published.clone(),
                );
                r.register_with_unit(
                    "meteo_produce_publish_duration",
                    "From the API's answer to Kafka's acknowledgement of the reading",
                    Unit::Seconds,
                    self.publish_duration.clone(),
                );
                r.register_with_unit(
                    "meteo_produce_observation_age",
                    "Age of each reading published, from its observation time to Kafka's acknowledgement",
                    Unit::Seconds,
                    self.observation_age.clone(),
                );
                r.register(
                    "meteo_produce_budget_remaining_calls",
                    "API calls left in the plan's window: the last 60 s, or 30 days since start",
                    self.budget_remaining.clone(),
                );
            }
        }
    }

    /// The exposition: OpenMetrics (with its `# EOF`) or the Prometheus text format 0.0.4.
    pub fn encode(&self, openmetrics: bool) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        if openmetrics {
            openmetrics_text::encode(&mut out, &self.registry)?;
        } else {
            prometheus_text::encode(&mut out, &self.registry)?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_shows_its_own_metrics_and_the_common_ones() {
        let consume = Metrics::new(Role::Consume, "t");
        consume.stored.inc();
        consume.write_duration.observe(0.002);
        let text = consume.encode(false).unwrap();
        for line in [
            "# TYPE meteo_consume_records_total counter",
            "meteo_consume_records_total{outcome=\"stored\"} 1",
            "meteo_consume_records_total{outcome=\"dead_lettered\"} 0",
            "meteo_consume_write_duration_seconds_count 1",
            "meteo_cassandra_up 0",
            "meteo_kafka_up 0",
            "process_open_fds ",
        ] {
            assert!(text.contains(line), "{line} not in:\n{text}");
        }
        assert!(text.contains("meteo_build_info{version=\""), "{text}");
        assert!(!text.contains("meteo_produce"), "{text}");
        assert!(!text.contains("# EOF"));
        // The encoder ends each help text with a period of its own.
        assert!(!text.contains("..\n"), "{text}");

        let produce = Metrics::new(Role::Produce, "t");
        produce.api_calls.get_or_create(&[("result", "new")]).inc();
        let text = produce.encode(true).unwrap();
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(
            text.contains("meteo_produce_api_calls_total{result=\"new\"} 1"),
            "{text}"
        );
        assert!(text.contains("# UNIT meteo_produce_publish_duration_seconds seconds"));
        produce.observation_age.observe(700.0);
        let text = produce.encode(false).unwrap();
        for line in [
            "# TYPE meteo_produce_observation_age_seconds histogram",
            "meteo_produce_observation_age_seconds_bucket{le=\"600\"} 0",
            "meteo_produce_observation_age_seconds_bucket{le=\"750\"} 1",
            "meteo_produce_observation_age_seconds_bucket{le=\"14400\"} 1",
            "meteo_produce_observation_age_seconds_count 1",
        ] {
            assert!(text.contains(line), "{line} not in:\n{text}");
        }
        assert!(!text.contains("meteo_consume"), "{text}");
    }
}
