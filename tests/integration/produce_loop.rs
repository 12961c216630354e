//! The produce loop in process (`meteo::produce::run`, no binary) against the fake weather API
//! and the real Kafka, on real time: a start, a few cycles, an outage and the shutdown.

use std::sync::Arc;
use std::time::Duration;

use meteo::city::City;
use meteo::kafka::producer::Publisher;
use meteo::owm::api::{ApiConfig, Client};
use meteo::produce::{self, Producer};
use meteo::schedule::{self, Limits};
use meteo::settings::Secret;
use meteo::shutdown::Shutdown;

use crate::fake_owm::{Answer, DtModel, FakeOwm};
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
        publisher: Arc::new(Publisher::new(&kafka_settings(&topic)).unwrap()),
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
