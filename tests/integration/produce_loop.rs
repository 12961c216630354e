//! The produce loop in process (`meteo::produce::run`, no binary) against the fake weather API
//! and the real Kafka, on real time: a start, a few cycles, an outage and the shutdown; a
//! reading larger than Kafka takes.

use std::sync::Arc;
use std::time::Duration;

use meteo::city::City;
use meteo::kafka::config::Compression;
use meteo::kafka::producer::{PublishError, Publisher};
use meteo::owm::api::{ApiConfig, Client};
use meteo::produce::{self, publish, Producer, Publish, Undelivered};
use meteo::schedule::{self, Limits};
use meteo::secret::Secret;
use meteo::shutdown::Shutdown;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::fake_owm::{Answer, DtModel, FakeOwm};
use crate::harness::read_all;
use crate::produce::{fresh_topic, published_once_as_served, KEY};
use crate::util::kafka_settings;

#[tokio::test(flavor = "multi_thread")]
async fn the_loop_publishes_each_new_observation_once_through_an_outage_and_flushes_at_shutdown() {
    // A new observation every 2 s per city.
    let fake = FakeOwm::start(DtModel::Cadence {
        period: 2,
        jitter: 0,
    });
    let cities: Vec<City> = (1..=4)
        .map(|i| City {
            id: 400 + i,
            name: format!("Ville {i}"),
            country: "FR".into(),
            lat: 43.0 + i as f64 * 0.1,
            lon: 2.0,
        })
        .collect();
    for city in &cities {
        fake.script(city.id, &city.name, vec![Answer::Full]);
    }
    let topic = fresh_topic().await;
    let source = Client::new(ApiConfig {
        base_url: fake.url(),
        key: Secret::new(KEY),
        lang: "fr".into(),
        timeout: Duration::from_secs(1),
    });
    let limits = Limits {
        per_minute: 600,
        monthly_quota: 100_000_000,
    };
    let producer = Producer {
        plan: schedule::plan(cities.len(), Duration::from_secs(2), limits),
        cities,
        source: Arc::new(source),
        publisher: Arc::new(
            publish::Kafka::new(&kafka_settings(&topic), Compression::default()).unwrap(),
        ),
        limits: Some(limits),
        once: false,
        clock: produce::system_clock(),
    };
    let (trigger, shutdown) = Shutdown::manual();
    let running = tokio::spawn(produce::run(producer, shutdown));
    tokio::time::sleep(Duration::from_secs(3)).await;
    // An outage: the next two calls, whichever cities they are for, get a 503.
    fake.next_answers(vec![Answer::Status(503), Answer::Status(503)]);
    tokio::time::sleep(Duration::from_secs(4)).await;
    trigger.stop();
    let report = running.await.unwrap();

    let summary = report.summary();
    assert!(report.interrupted && report.fatal.is_none(), "{summary}");
    assert_eq!(report.stats.not_delivered, 0, "{summary}");
    assert_eq!(report.stats.errors.get("transient"), Some(&2), "{summary}");
    // Each observation the API served is on the topic once: nothing fetched was lost at
    // shutdown, nothing unchanged was published.
    let published = published_once_as_served(&topic, &fake, &summary);
    assert_eq!(published.len() as u64, report.stats.published, "{summary}");
    // A few cycles: every city, whichever got the 503s, was published several times.
    for id in 401..=404 {
        let count = published.iter().filter(|(city, _)| *city == id).count();
        assert!(count >= 2, "city {id}: {count} readings\n{summary}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reading_too_large_for_kafka_is_counted_once_and_never_sent_again() {
    let fake = FakeOwm::start(DtModel::Fixed(1795895400));
    // 200 letters of two bytes: the reading is about 1,200 bytes, over the 1,000 allowed.
    let long_name = "É".repeat(200);
    let cities = vec![
        City {
            id: 601,
            name: "Petite".into(),
            country: "FR".into(),
            lat: 43.0,
            lon: 2.0,
        },
        City {
            id: 602,
            name: long_name.clone(),
            country: "FR".into(),
            lat: 43.1,
            lon: 2.0,
        },
    ];
    fake.script(601, "Petite", vec![Answer::Full]);
    fake.script(602, &long_name, vec![Answer::Full]);
    let topic = fresh_topic().await;
    let mut kafka = kafka_settings(&topic);
    kafka
        .options
        .push(("message.max.bytes".into(), Secret::new("1000")));
    let limits = Limits {
        per_minute: 600,
        monthly_quota: 100_000_000,
    };
    let producer = Producer {
        plan: schedule::plan(cities.len(), Duration::from_secs(600), limits),
        cities,
        source: Arc::new(Client::new(ApiConfig {
            base_url: fake.url(),
            key: Secret::new(KEY),
            lang: "fr".into(),
            timeout: Duration::from_secs(1),
        })),
        publisher: Arc::new(publish::Kafka::new(&kafka, Compression::default()).unwrap()),
        limits: Some(limits),
        once: true,
        clock: produce::system_clock(),
    };
    let (_trigger, shutdown) = Shutdown::manual();
    let started = std::time::Instant::now();
    let report = produce::run(producer, shutdown).await;

    let summary = report.summary();
    // Refused at once, not held until the flush gives up on it.
    assert!(started.elapsed() < Duration::from_secs(15), "{summary}");
    assert_eq!(report.stats.published, 1, "{summary}");
    assert_eq!(report.stats.not_delivered, 0, "{summary}");
    assert!(
        summary.contains("too large for Kafka: 1 readings"),
        "{summary}"
    );
    let keys: Vec<Option<Vec<u8>>> = read_all(&topic).into_iter().map(|r| r.key).collect();
    assert_eq!(keys, [Some(b"601".to_vec())], "{summary}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_size_check_is_librdkafkas_own_to_the_byte() {
    let topic = fresh_topic().await;
    let mut reading = meteo::synthetic::Synthetic::new(7, Duration::from_secs(600)).current(
        &City {
            id: 603,
            name: "Û".repeat(150),
            country: "FR".into(),
            lat: 43.0,
            lon: 2.0,
        },
        chrono::Utc::now(),
    );
    reading.weather_description = Some("é".repeat(150));
    let size = publish::record_size(&reading).unwrap();
    assert!(size > 1000, "{size}: message.max.bytes is at least 1000");
    let settings = |max: usize| {
        let mut kafka = kafka_settings(&topic);
        kafka
            .options
            .push(("message.max.bytes".into(), Secret::new(max.to_string())));
        kafka
    };
    let soon = || watch::channel(Some(Instant::now() + Duration::from_secs(3))).1;

    // Exactly the size: taken.
    let kafka = publish::Kafka::new(&settings(size), Compression::default()).unwrap();
    let delivered = kafka.publish(&reading, soon()).await;
    assert!(delivered.is_ok(), "{delivered:?}");
    // A byte less: refused here, without a try...
    let kafka = publish::Kafka::new(&settings(size - 1), Compression::default()).unwrap();
    let refused = kafka.publish(&reading, soon()).await;
    assert!(
        matches!(refused, Err(Undelivered::TooLarge { bytes, max }) if bytes == size && max == size - 1),
        "{refused:?}"
    );
    // ...as librdkafka refuses it: at once and for good, so the publisher does not retry.
    let publisher = Publisher::new(&settings(size - 1), Compression::default()).unwrap();
    let refused = publisher.publish(&reading, soon()).await;
    assert!(
        matches!(refused, Err(PublishError::TooLarge(_))),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reading_the_broker_refuses_as_too_large_is_not_sent_again() {
    // The topic takes less than the producer's own limit: only the broker can say no.
    let topic = meteo::kafka::ensure_topics(
        &kafka_settings("unused"),
        &[meteo::kafka::TopicSpec {
            name: crate::util::unique("small"),
            partitions: 1,
            replication_factor: 1,
            configs: vec![("max.message.bytes".into(), "200".into())],
        }],
        Duration::from_secs(10),
    )
    .await
    .expect("Kafka is required")
    .remove(0)
    .0;
    let reading = meteo::synthetic::Synthetic::new(7, Duration::from_secs(600)).current(
        &City {
            id: 604,
            name: "Grande".into(),
            country: "FR".into(),
            lat: 43.0,
            lon: 2.0,
        },
        chrono::Utc::now(),
    );
    let kafka = publish::Kafka::new(&kafka_settings(&topic), Compression::default()).unwrap();
    let started = std::time::Instant::now();
    let never = watch::channel(None).1;
    let refused = tokio::time::timeout(Duration::from_secs(30), kafka.publish(&reading, never))
        .await
        .expect("refused at once, not retried until shutdown");
    assert!(
        matches!(refused, Err(Undelivered::RefusedAsTooLarge { .. })),
        "{refused:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(read_all(&topic).is_empty());
}
