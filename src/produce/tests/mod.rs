//! The produce loop on paused time: the synthetic source or scripted API failures in, a channel
//! out (tests/integration/produce_loop.rs runs it against the fake API and the real Kafka).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use futures::future::BoxFuture;
use tokio::sync::mpsc;

use super::*;
use crate::kafka::producer::PublishError;
use crate::model::SOURCE_OWM;
use crate::owm::api::ApiError;
use crate::synthetic::Synthetic;

// The sweep against an API that refuses or cannot be reached: its own file.
mod outages;

const CADENCE: Duration = Duration::from_secs(600);

/// The wall-clock time at which every test starts.
fn start_wall() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-28T12:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// A wall clock that follows Tokio's paused time from [`start_wall`].
fn paused_clock() -> WallClock {
    let origin = Instant::now();
    Arc::new(move || start_wall() + chrono::Duration::from_std(origin.elapsed()).unwrap())
}

/// Readings go into a channel, acknowledged at once; or, when Kafka is `down`, never: each
/// waits for the give-up deadline, as the Kafka producer does while no broker answers.
struct Channel {
    sent: mpsc::UnboundedSender<Reading>,
    offset: AtomicI64,
    down: bool,
}

impl Channel {
    fn new(down: bool) -> (Arc<Channel>, mpsc::UnboundedReceiver<Reading>) {
        let (sent, received) = mpsc::unbounded_channel();
        let channel = Channel {
            sent,
            offset: AtomicI64::new(0),
            down,
        };
        (Arc::new(channel), received)
    }
}

impl Publish for Channel {
    async fn publish(
        &self,
        reading: &Reading,
        mut give_up: watch::Receiver<Option<Instant>>,
    ) -> Result<Delivered, Undelivered> {
        if self.down {
            let deadline = give_up
                .wait_for(Option::is_some)
                .await
                .map(|deadline| deadline.expect("set"))
                .expect("the loop keeps the sender until the end");
            tokio::time::sleep_until(deadline).await;
            return Err(PublishError::GaveUp {
                last_error: "no broker answers".into(),
            }
            .into());
        }
        self.sent.send(reading.clone()).expect("the test reads");
        Ok(Delivered {
            partition: 0,
            offset: self.offset.fetch_add(1, Ordering::SeqCst),
            retries: 0,
        })
    }

    async fn flush(&self, _timeout: Duration) -> anyhow::Result<()> {
        Ok(())
    }
}

fn drain(received: &mut mpsc::UnboundedReceiver<Reading>) -> Vec<Reading> {
    std::iter::from_fn(|| received.try_recv().ok()).collect()
}

/// The synthetic source standing in for the API: each city's scripted failures come first;
/// calls for a `hanging` city never answer. Records when each call was made.
struct Scripted {
    synthetic: Synthetic,
    failures: Mutex<HashMap<i64, VecDeque<ApiError>>>,
    hanging: HashSet<i64>,
    /// Until this time since the start, no call reaches the API.
    down_until: Duration,
    origin: Instant,
    calls: Mutex<Vec<(i64, Duration)>>,
}

impl Scripted {
    fn new(failures: Vec<(i64, Vec<ApiError>)>, hanging: &[i64]) -> Arc<Scripted> {
        Arc::new(Scripted {
            synthetic: Synthetic::new(7, CADENCE),
            failures: Mutex::new(
                failures
                    .into_iter()
                    .map(|(id, errors)| (id, errors.into()))
                    .collect(),
            ),
            hanging: hanging.iter().copied().collect(),
            down_until: Duration::ZERO,
            origin: Instant::now(),
            calls: Mutex::new(Vec::new()),
        })
    }

    /// A source that no call reaches for `down` from the start, then answers.
    fn down_for(down: Duration) -> Arc<Scripted> {
        let mut scripted = Arc::into_inner(Scripted::new(Vec::new(), &[])).expect("not shared");
        scripted.down_until = down;
        Arc::new(scripted)
    }

    /// (city, time since the start) of every call.
    fn calls(&self) -> Vec<(i64, Duration)> {
        self.calls.lock().unwrap().clone()
    }
}

impl ReadingSource for Scripted {
    fn name(&self) -> &'static str {
        SOURCE_OWM
    }

    fn describe(&self) -> String {
        "scripted".into()
    }

    fn fetch(
        self: Arc<Self>,
        city: &City,
        now: DateTime<Utc>,
    ) -> BoxFuture<'static, Result<Reading, SourceError>> {
        self.calls
            .lock()
            .unwrap()
            .push((city.id, self.origin.elapsed()));
        if self.hanging.contains(&city.id) {
            return Box::pin(std::future::pending());
        }
        if self.origin.elapsed() < self.down_until {
            return Box::pin(std::future::ready(Err(outages::unreachable().into())));
        }
        let failure = self
            .failures
            .lock()
            .unwrap()
            .get_mut(&city.id)
            .and_then(VecDeque::pop_front);
        // Scripted as the API's errors, handed over as the OWM adapter does.
        let result = failure.map_or_else(
            || Ok(self.synthetic.current(city, now)),
            |err| Err(err.into()),
        );
        Box::pin(std::future::ready(result))
    }
}

/// Cities 1..=n, named `Ville i`.
fn cities(n: i64) -> Vec<City> {
    (1..=n)
        .map(|i| City {
            id: i,
            name: format!("Ville {i}"),
            country: "FR".into(),
            lat: 43.0 + i as f64 * 0.5,
            lon: 2.0,
        })
        .collect()
}

/// The free plan's per-minute limit.
const PLAN: Limits = Limits {
    per_minute: 60,
    monthly_quota: 1_000_000,
};

fn producer<P>(
    source: Arc<dyn ReadingSource>,
    publisher: Arc<P>,
    cities: Vec<City>,
    limits: Option<Limits>,
    once: bool,
) -> Producer<P> {
    Producer {
        plan: schedule::plan(cities.len(), CADENCE, limits.unwrap_or(UNLIMITED)),
        cities,
        source,
        publisher,
        limits,
        once,
        clock: paused_clock(),
    }
}

#[tokio::test(start_paused = true)]
async fn a_continuous_run_publishes_every_new_observation_once_until_shutdown() {
    let synthetic = Synthetic::new(7, CADENCE);
    let (publisher, mut received) = Channel::new(false);
    let (trigger, shutdown) = Shutdown::manual();
    let running = tokio::spawn(run(
        producer(Arc::new(synthetic), publisher, cities(3), None, false),
        shutdown,
    ));
    let ran = Duration::from_secs(35 * 60);
    tokio::time::sleep(ran).await;
    trigger.stop();
    let report = running.await.unwrap();
    let readings = drain(&mut received);

    assert!(report.interrupted && report.fatal.is_none());
    let s = &report.stats;
    assert_eq!(s.published, readings.len() as u64);
    assert_eq!(
        (s.new, s.not_delivered, s.error_count()),
        (s.published, 0, 0)
    );
    assert_eq!(s.calls, s.new + s.unchanged);
    let (start, stop) = (start_wall().timestamp(), (start_wall() + ran).timestamp());
    for city in cities(3) {
        let mine: Vec<&Reading> = readings.iter().filter(|r| r.city_id == city.id).collect();
        // What the source made, untouched.
        for reading in &mine {
            let dt = reading.observed_at.timestamp();
            let fetched_at = reading.fetched_at.unwrap();
            assert_eq!(**reading, synthetic.reading(&city, dt, fetched_at));
        }
        // From the observation current at the start, every one in turn: none missed, none
        // twice; only the last may still wait for its call (within the grace) at the stop.
        let dts: Vec<i64> = mine.iter().map(|r| r.observed_at.timestamp()).collect();
        let first = synthetic.observed_at(city.id, start);
        let made: Vec<i64> = (0..)
            .map(|k| first + k * CADENCE.as_secs() as i64)
            .take_while(|&dt| dt <= stop)
            .collect();
        let last_is_recent = made.last().is_some_and(|&dt| dt > stop - 60);
        assert!(
            dts == made || (last_is_recent && dts == made[..made.len() - 1]),
            "city {}: published {dts:?}, made {made:?}",
            city.id
        );
        assert!(dts.len() >= 3, "{dts:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn in_a_sweep_failures_are_retried_a_429_pauses_every_call_and_a_404_drops_the_city() {
    let source = Scripted::new(
        vec![
            (1, vec![transient(), transient()]),
            (
                2,
                vec![ApiError::RateLimited {
                    retry_after: Some(Duration::from_secs(120)),
                }],
            ),
            (4, vec![ApiError::CityNotFound { city_id: 4 }]),
        ],
        &[],
    );
    let (publisher, mut received) = Channel::new(false);
    let (_trigger, shutdown) = Shutdown::manual();
    let source_dyn: Arc<dyn ReadingSource> = source.clone();
    let producer = producer(source_dyn, publisher, cities(4), Some(PLAN), true);
    let report = run(producer, shutdown).await;

    // The sweep ends by itself, with every city read but the unknown one.
    assert!(!report.interrupted && report.fatal.is_none());
    let mut published: Vec<i64> = drain(&mut received).iter().map(|r| r.city_id).collect();
    published.sort();
    assert_eq!(published, [1, 2, 3]);
    assert_eq!(
        report.stats.errors_text(),
        "not_found 1, rate_limited 1, transient 2"
    );
    assert_eq!(report.dropped, [(4, "Ville 4".to_string())]);
    assert_eq!(
        report.failed,
        [(
            4,
            "Ville 4".to_string(),
            "city 4 is unknown to the API (HTTP 404)".to_string()
        )]
    );

    let calls = source.calls();
    let count = |id| calls.iter().filter(|(c, _)| *c == id).count();
    assert_eq!([count(1), count(2), count(3), count(4)], [3, 2, 1, 1]);
    // Every city is called at once; after the 429, nothing is called for 120 s.
    assert!(calls[..4].iter().all(|(_, at)| at.is_zero()), "{calls:?}");
    let pause = Duration::from_secs(120);
    assert!(calls[4..].iter().all(|(_, at)| *at >= pause), "{calls:?}");
    // The second transient failure of city 1 waits 1 to 2 s (backoff with jitter).
    let city_1: Vec<Duration> = calls
        .iter()
        .filter(|(c, _)| *c == 1)
        .map(|&(_, at)| at)
        .collect();
    let backoff = city_1[2] - city_1[1];
    assert!(
        backoff >= Duration::from_secs(1) && backoff <= Duration::from_secs(2),
        "{calls:?}"
    );
}

fn transient() -> ApiError {
    ApiError::Transient {
        detail: "HTTP 503 from the fake".into(),
    }
}

#[tokio::test(start_paused = true)]
async fn a_refused_key_ends_a_continuous_run_at_once() {
    let refused = ApiError::KeyRefused {
        message: "Invalid API key".into(),
    };
    let source = Scripted::new(vec![(1, vec![refused.clone()])], &[]);
    let (publisher, mut received) = Channel::new(false);
    let (_trigger, shutdown) = Shutdown::manual();
    let source_dyn: Arc<dyn ReadingSource> = source.clone();
    let report = run(
        producer(source_dyn, publisher, cities(3), Some(PLAN), false),
        shutdown,
    )
    .await;

    assert_eq!(report.fatal, Some(refused.into()));
    assert!(!report.interrupted);
    // Nothing else can work: no other city is called.
    assert_eq!(source.calls().len(), 1);
    assert!(drain(&mut received).is_empty());
}

/// A source that is not the API, failing with the engine's error for every city: its class,
/// not an OpenWeatherMap error, is what the loop acts on.
struct Broken(SourceError);

impl ReadingSource for Broken {
    fn name(&self) -> &'static str {
        "broken"
    }

    fn describe(&self) -> String {
        "a broken source".into()
    }

    fn fetch(
        self: Arc<Self>,
        _city: &City,
        _now: DateTime<Utc>,
    ) -> BoxFuture<'static, Result<Reading, SourceError>> {
        Box::pin(std::future::ready(Err(self.0.clone())))
    }
}

#[tokio::test(start_paused = true)]
async fn a_source_other_than_the_api_fails_with_the_engines_own_classes() {
    let fatal = SourceError::Fatal {
        label: "generator",
        why: "the generator broke".into(),
    };
    let (publisher, _received) = Channel::new(false);
    let (_trigger, shutdown) = Shutdown::manual();
    let broken = Arc::new(Broken(fatal.clone()));
    let report = run(
        producer(broken, publisher, cities(3), Some(PLAN), false),
        shutdown,
    )
    .await;
    assert_eq!(report.fatal, Some(fatal));
    assert!(!report.interrupted);

    // Unknown to the source, in a sweep: every city leaves the schedule and the sweep ends.
    let unknown = SourceError::UnknownCity {
        label: "unknown",
        why: "no such city here".into(),
    };
    let (publisher, _received) = Channel::new(false);
    let (_trigger, shutdown) = Shutdown::manual();
    let report = run(
        producer(
            Arc::new(Broken(unknown)),
            publisher,
            cities(2),
            Some(PLAN),
            true,
        ),
        shutdown,
    )
    .await;
    assert_eq!(report.dropped.len(), 2, "{:?}", report.dropped);
    assert_eq!(report.stats.errors.get("unknown"), Some(&2));
}

#[tokio::test(start_paused = true)]
async fn readings_kafka_never_acknowledges_count_as_not_delivered_after_the_flush_timeout() {
    let (publisher, mut received) = Channel::new(true);
    let (_trigger, shutdown) = Shutdown::manual();
    let synthetic = Arc::new(Synthetic::new(7, CADENCE));
    let started = Instant::now();
    let report = run(
        producer(synthetic, publisher, cities(2), None, true),
        shutdown,
    )
    .await;

    let waited = started.elapsed();
    assert!(
        waited >= FLUSH_TIMEOUT && waited < FLUSH_TIMEOUT + Duration::from_secs(5),
        "{waited:?}"
    );
    let s = &report.stats;
    assert_eq!((s.new, s.published, s.not_delivered), (2, 0, 2));
    assert!(drain(&mut received).is_empty());
}

#[tokio::test(start_paused = true)]
async fn at_shutdown_calls_in_flight_get_a_grace_then_are_abandoned() {
    let source = Scripted::new(Vec::new(), &[2]);
    let (publisher, mut received) = Channel::new(false);
    let (trigger, shutdown) = Shutdown::manual();
    let running = tokio::spawn(run(
        producer(source, publisher, cities(2), Some(PLAN), false),
        shutdown,
    ));
    tokio::time::sleep(Duration::from_secs(10)).await;
    let stopped = Instant::now();
    trigger.stop();
    let report = running.await.unwrap();

    let waited = stopped.elapsed();
    assert!(
        waited >= CALLS_GRACE && waited < CALLS_GRACE + Duration::from_secs(1),
        "{waited:?}"
    );
    assert!(report.interrupted);
    assert_eq!(report.abandoned_calls, 1);
    let published: Vec<i64> = drain(&mut received).iter().map(|r| r.city_id).collect();
    assert_eq!(published, [1]);
    assert!(report
        .summary()
        .contains("abandoned: 1 calls unanswered at shutdown"));
}

#[tokio::test(start_paused = true)]
async fn a_reading_the_consumer_would_refuse_is_skipped_not_published() {
    // A city list made outside `city::load` (which cleans names): the engine still checks
    // each reading by the consumer's rules before publishing it, whatever the source.
    let mut list = cities(2);
    list[1].name = "Mons-en-Barœ\u{9c}ul".into();
    let (publisher, mut received) = Channel::new(false);
    let (_trigger, shutdown) = Shutdown::manual();
    let report = run(
        producer(
            Arc::new(Synthetic::new(7, CADENCE)),
            publisher,
            list,
            None,
            true,
        ),
        shutdown,
    )
    .await;
    let readings = drain(&mut received);
    assert_eq!(readings.len(), 1);
    assert_eq!(readings[0].city_id, 1);
    assert_eq!(report.stats.errors.get("bad_answer"), Some(&1));
    assert!(
        report
            .failed
            .iter()
            .any(|(id, _, why)| *id == 2 && why.contains("city_name holds control characters")),
        "{:?}",
        report.failed
    );
}

/// The invariant of the text rule, as a property: whatever a city list entry or an API answer
/// holds, a reading the producer can make of it (synthetic from the cities `meteo cities` and
/// the producer's list let through, or parsed from the answer) passes the consumer's
/// validation of the message it is published as.
#[test]
fn every_reading_the_producer_can_make_passes_the_consumers_validation() {
    use rand::{RngExt, SeedableRng};

    use crate::model::text::tests::arbitrary_text;
    use crate::owm::api::parse_current;
    use crate::owm::cities::read_cities;

    let consumer_accepts = |reading: &Reading| {
        let key = reading.city_id.to_string();
        let value = serde_json::to_vec(reading).unwrap();
        if let Err(why) = Reading::from_message(Some(key.as_bytes()), Some(&value)) {
            panic!("the consumer refuses {reading:?}: {why}");
        }
    };
    let answer: serde_json::Value =
        serde_json::from_str(include_str!("../../../tests/data/owm/weather_2988507.json")).unwrap();
    let synthetic = Synthetic::new(7, CADENCE);
    let mut rng = rand::rngs::StdRng::seed_from_u64(26);
    let (mut published, mut refused) = (0, 0);
    for _ in 0..2_000 {
        let name = arbitrary_text(&mut rng, 10);
        let country = ["FR", "fr", " De ", "FRA", "", "F1", "É"][rng.random_range(0..7)];
        let id: i64 = rng.random_range(1..=1_100_000_000);
        let (lat, lon) = (
            rng.random_range(-90.0..=90.0),
            rng.random_range(-180.0..=180.0),
        );

        // Synthetic: the entry through `meteo cities`, then the producer's list, then a reading.
        let entry = serde_json::json!([{
            "id": id, "name": name, "country": country, "coord": {"lat": lat, "lon": lon}
        }]);
        let mut kept = Vec::new();
        read_cities(entry.to_string().as_bytes(), |city| kept.push(city)).unwrap();
        for city in kept.into_iter().filter(|c| !c.country.is_empty()) {
            let list = crate::city::parse(&serde_json::to_string(&[&city]).unwrap())
                .expect("a city `meteo cities` wrote is one the producer reads");
            let now = Utc::now() - chrono::Duration::seconds(rng.random_range(0..86_400 * 365));
            consumer_accepts(&synthetic.current(&list[0], now));
            published += 1;
        }

        // The API: an answer whose text fields are anything.
        let mut body = answer.clone();
        body["name"] = name.clone().into();
        body["sys"]["country"] = country.into();
        body["weather"][0]["description"] = arbitrary_text(&mut rng, 10).into();
        body["weather"][0]["main"] = arbitrary_text(&mut rng, 6).into();
        let body = serde_json::to_vec(&body).unwrap();
        match parse_current(&body, 2988507, "FR", Utc::now()) {
            Ok(reading) => {
                consumer_accepts(&reading);
                published += 1;
            }
            Err(_) => refused += 1,
        }
    }
    // Both outcomes were exercised, or the property says little.
    assert!(published > 500 && refused > 500, "{published} / {refused}");
}

#[test]
fn an_observations_age_is_the_time_since_it_was_made_and_never_negative() {
    let observed = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    let later = observed + chrono::Duration::seconds(754);
    assert_eq!(observation_age(observed, later), Duration::from_secs(754));
    assert_eq!(observation_age(later, observed), Duration::ZERO);
}
