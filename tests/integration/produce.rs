//! `meteo produce` against the fake weather API and the real Kafka: what is published is
//! what the API said, field by field; faults are classified; the rate holds; an observation
//! is published once; SIGTERM flushes; the key never shows. Plus the benchmark behind
//! `scripts/bench-produce` (ignored by default).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use meteo::kafka::{ensure_topics, topic_partitions, TopicSpec};
use meteo::model::Reading;
use meteo::owm::api::{ApiConfig, Client, ErrorClass};
use meteo::secret::Secret;
use serde_json::{json, Value};

use crate::fake_owm::{Answer, DtModel, FakeOwm};
use crate::util::{kafka_settings, meteo, run, run_within, temp_dir, unique, Run};

/// A key no output may ever contain.
pub(crate) const KEY: &str = "k3y-DISTINCTIVE-7f3a9c0e";

const PARIS: i64 = 2988507;
const LYON: i64 = 2996944;
const SAINT_ETIENNE: i64 = 2980291;
const NICE: i64 = 2990440;

/// A city list file with these (id, name) pairs.
fn cities(list: &[(i64, &str)]) -> PathBuf {
    let entries: Vec<Value> = list
        .iter()
        .enumerate()
        .map(|(i, (id, name))| {
            json!({"id": id, "name": name, "country": "FR", "lat": 43.0 + i as f64 * 0.1, "lon": 2.0})
        })
        .collect();
    let path = temp_dir("cities").join("cities.json");
    std::fs::write(&path, serde_json::to_vec(&entries).unwrap()).unwrap();
    path
}

/// A fresh topic with three partitions.
pub(crate) async fn fresh_topic() -> String {
    let topic = unique("p");
    let spec = TopicSpec {
        name: topic.clone(),
        partitions: 3,
        replication_factor: 1,
        configs: Vec::new(),
    };
    ensure_topics(&kafka_settings(&topic), &[spec], Duration::from_secs(10))
        .await
        .expect("Kafka is required");
    topic
}

/// The observations on `topic`, checked: none is there twice, and they are exactly what the
/// fake API served (200 with a dt), so nothing fetched was lost at shutdown and nothing
/// unchanged was published. `context` goes with a failure.
#[track_caller]
pub(crate) fn published_once_as_served(
    topic: &str,
    fake: &FakeOwm,
    context: &str,
) -> Vec<(i64, String)> {
    let published = observations(&read_topic(topic));
    let distinct: HashSet<(i64, String)> = published.iter().cloned().collect();
    assert_eq!(
        distinct.len(),
        published.len(),
        "an observation was published twice\n{context}"
    );
    let served: HashSet<(i64, String)> = fake
        .calls()
        .iter()
        .filter_map(|c| {
            c.dt.map(|dt| {
                let at = chrono::DateTime::from_timestamp(dt, 0).unwrap();
                (c.city_id, at.to_rfc3339())
            })
        })
        .collect();
    assert_eq!(distinct, served, "{context}");
    published
}

/// `meteo produce` against the fake, with the key in the environment.
fn produce(topic: &str, fake: &FakeOwm, cities: &PathBuf, extra: &[&str]) -> Command {
    let mut cmd = meteo();
    cmd.env("OWM_API_KEY", KEY)
        .args(["--topic", topic, "produce", "--api-url", &fake.url()])
        .arg("--cities")
        .arg(cities)
        .args(["--api-timeout", "1s"])
        .args(extra);
    cmd
}

/// Runs `cmd`, sends SIGTERM after `after`, and waits for it to exit.
fn run_then_terminate(mut cmd: Command, after: Duration) -> Run {
    let start = Instant::now();
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting meteo");
    std::thread::sleep(after);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        took: start.elapsed(),
    }
}

#[track_caller]
fn assert_no_key(run: &Run) {
    assert!(
        !run.stdout.contains(KEY) && !run.stderr.contains(KEY),
        "the key leaked\n{}",
        run.describe()
    );
}

/// Every message of the topic: (key, value as JSON). Reads up to the high watermarks, so it
/// returns as soon as everything acknowledged has been read.
fn read_topic(topic: &str) -> Vec<(String, Value)> {
    crate::harness::read_all(topic)
        .into_iter()
        .map(|record| {
            let key = String::from_utf8(record.key.expect("a key")).unwrap();
            let value: Value = serde_json::from_slice(&record.value.expect("a value")).unwrap();
            (key, value)
        })
        .collect()
}

/// (city id, observed_at) of every message; checks each is a valid reading keyed by its city.
fn observations(messages: &[(String, Value)]) -> Vec<(i64, String)> {
    messages
        .iter()
        .map(|(key, value)| {
            let reading = Reading::from_json(value.to_string().as_bytes())
                .unwrap_or_else(|e| panic!("invalid reading {value}: {e}"));
            assert_eq!(key, &reading.city_id.to_string());
            (reading.city_id, reading.observed_at.to_rfc3339())
        })
        .collect()
}

/// The value without `fetched_at` (the only field the API does not set), after checking it.
fn without_fetched_at(mut value: Value) -> Value {
    let fetched = value["fetched_at"]
        .as_str()
        .expect("fetched_at")
        .to_string();
    let fetched = chrono::DateTime::parse_from_rfc3339(&fetched).unwrap();
    let age = chrono::Utc::now().signed_duration_since(fetched);
    assert!(age.num_seconds().abs() < 120, "fetched_at {fetched}");
    value.as_object_mut().unwrap().remove("fetched_at");
    value
}

#[test]
fn plan_prints_the_schedule_of_the_list_without_a_call_or_kafka() {
    // Nothing listens on port 1: a call or a Kafka connection would fail or hang.
    let mut cmd = meteo();
    cmd.env("OWM_API_KEY", KEY)
        .args(["--brokers", "127.0.0.1:1", "produce", "--plan"])
        .args([
            "--api-url",
            "http://127.0.0.1:1",
            "--cities",
            "data/cities.fr.json",
        ]);
    let small = run_within(cmd, Duration::from_secs(10));
    small.assert_ok();
    assert!(small.took < Duration::from_secs(3), "{}", small.describe());
    for line in [
        "126 cities, at most 60 calls a minute and 1,000,000 every 30 days",
        "calls: 12.6 a minute",
        "each city refreshed every 10m\n",
        "54.4% of 1,000,000",
        "231 cities fit",
    ] {
        assert!(small.stdout.contains(line), "{line}\n{}", small.describe());
    }
    assert!(!small.stdout.contains(KEY) && !small.stderr.contains(KEY));

    // 12,574 cities (the size of a whole country's list), at another interval and rate.
    let entries: Vec<Value> = (1..=12_574)
        .map(|id| {
            json!({"id": id, "name": format!("Ville {id}"), "country": "FR",
            "lat": 40.0 + (id % 100) as f64 * 0.1, "lon": 2.0 + (id / 100) as f64 * 0.01})
        })
        .collect();
    let list = temp_dir("plan").join("cities.json");
    std::fs::write(&list, serde_json::to_vec(&entries).unwrap()).unwrap();
    let mut cmd = meteo();
    cmd.args(["--brokers", "127.0.0.1:1", "produce", "--plan"])
        .args(["--api-url", "http://127.0.0.1:1", "--interval", "10m"])
        .arg("--cities")
        .arg(&list);
    let large = run_within(cmd, Duration::from_secs(10));
    large.assert_ok();
    for line in [
        "12,574 cities",
        "calls: 23.1 a minute",
        "each city refreshed every 9h3m12s, stretched from --interval 10m",
        "100.0% of 1,000,000",
    ] {
        assert!(large.stdout.contains(line), "{line}\n{}", large.describe());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sweep_publishes_each_city_exactly_as_the_api_described_it() {
    let fake = FakeOwm::start(DtModel::Fixed(1795895400));
    fake.script(PARIS, "Paris", vec![Answer::Full]);
    fake.script(LYON, "Lyon", vec![Answer::Lenient]);
    fake.script(SAINT_ETIENNE, "Saint-Étienne", vec![Answer::Accents]);
    let list = cities(&[
        (PARIS, "Paris"),
        (LYON, "Lyon"),
        (SAINT_ETIENNE, "Saint-Étienne"),
    ]);
    let topic = fresh_topic().await;

    let result = run(produce(&topic, &fake, &list, &["--once"]));
    result.assert_ok();
    assert_no_key(&result);
    assert!(
        result.stdout.contains("3 calls, 3 new") && result.stdout.contains("3 published"),
        "{}",
        result.describe()
    );

    for call in fake.calls() {
        assert_eq!(call.key, KEY);
        assert_eq!(call.query["units"], "metric");
        assert_eq!(call.query["lang"], "fr");
    }
    let messages: HashMap<String, Value> = read_topic(&topic).into_iter().collect();
    assert_eq!(messages.len(), 3);
    let paris = json!({
        "schema": 1, "source": "owm",
        "city_id": 2988507, "city_name": "Paris", "country": "FR", "lat": 48.8534, "lon": 2.3488,
        "observed_at": "2026-11-28T19:50:00Z",
        "temperature": 7.32, "feels_like": 4.91, "temp_min": 6.08, "temp_max": 8.21,
        "humidity": 87, "pressure": 1012,
        "wind_speed": 4.12, "wind_deg": 230, "wind_gust": 8.75,
        "clouds": 90, "visibility": 9000,
        "rain_1h": 0.42, "rain_3h": null, "snow_1h": null, "snow_3h": null,
        "weather_id": 500, "weather_main": "Rain", "weather_description": "légère pluie",
        "weather_icon": "10n",
        "sunrise": "2026-11-28T07:17:00Z", "sunset": "2026-11-28T15:56:00Z", "timezone": 3600
    });
    assert_eq!(without_fetched_at(messages["2988507"].clone()), paris);
    let lyon = json!({
        "schema": 1, "source": "owm",
        "city_id": 2996944, "city_name": "Lyon", "country": "FR", "lat": 45.7485, "lon": 4.8467,
        "observed_at": "2026-11-28T18:03:20Z",
        "temperature": -1.5, "feels_like": -4.2, "temp_min": null, "temp_max": null,
        "humidity": 93, "pressure": 1021,
        "wind_speed": 1.54, "wind_deg": null, "wind_gust": null,
        "clouds": 75, "visibility": null,
        "rain_1h": null, "rain_3h": null, "snow_1h": null, "snow_3h": 1.2,
        "weather_id": 803, "weather_main": "Clouds", "weather_description": "nuageux",
        "weather_icon": "04d",
        "sunrise": "2026-11-28T07:05:00Z", "sunset": "2026-11-28T16:05:00Z", "timezone": null
    });
    assert_eq!(without_fetched_at(messages["2996944"].clone()), lyon);
    let saint_etienne = &messages["2980291"];
    assert_eq!(saint_etienne["city_name"], "Saint-Étienne");
    assert_eq!(saint_etienne["weather_description"], "ciel dégagé");
    assert_eq!(saint_etienne["temperature"], 11.04);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_key_stops_the_run_with_exit_1_and_the_two_hour_hint() {
    let fake = FakeOwm::start(DtModel::Fixed(1795895400));
    let ids: Vec<(i64, String)> = (1..=20).map(|i| (i, format!("Ville {i}"))).collect();
    for (id, name) in &ids {
        fake.script(*id, name, vec![Answer::Status(401)]);
    }
    let list = cities(
        &ids.iter()
            .map(|(id, n)| (*id, n.as_str()))
            .collect::<Vec<_>>(),
    );
    let topic = fresh_topic().await;
    // Continuous mode: a 401 must stop it all the same. Trace logging: no library may log
    // the URL with its key either.
    let mut cmd = produce(&topic, &fake, &list, &["--interval", "20s"]);
    cmd.env("RUST_LOG", "trace");
    let result = run(cmd);
    result.assert_fails_with(&["refused the API key", "2 hours", "OWM_API_KEY"]);
    assert_no_key(&result);
    // Said once, as the run's error, not once more per call that was in flight (debug and
    // trace lines aside: this run logs everything).
    let said = result
        .stderr
        .lines()
        .filter(|l| l.contains("refused the API key"))
        .filter(|l| !l.contains(" DEBUG ") && !l.contains(" TRACE "))
        .count();
    assert_eq!(said, 1, "{}", result.describe());
    assert!(
        result.took < Duration::from_secs(20),
        "{}",
        result.describe()
    );
    // It stopped at the first refusal instead of trying every city.
    assert!(fake.calls().len() < 5, "{} calls", fake.calls().len());
    assert!(read_topic(&topic).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_are_classified_and_the_healthy_cities_still_get_through() {
    let fake = FakeOwm::start(DtModel::Fixed(1795895400));
    let script: Vec<(i64, &str, Vec<Answer>)> = vec![
        (1001, "Sain", vec![Answer::Full]),
        (1002, "Inconnue", vec![Answer::Status(404)]),
        (1003, "Cinq-Cents", vec![Answer::Status(500), Answer::Full]),
        (1004, "Passerelle", vec![Answer::Status(502), Answer::Full]),
        (
            1005,
            "Indisponible",
            vec![Answer::Status(503), Answer::Full],
        ),
        (
            1006,
            "Lente",
            vec![Answer::Slow(Duration::from_secs(3)), Answer::Full],
        ),
        (1007, "Coupée", vec![Answer::CutOff]),
        (1008, "Page HTML", vec![Answer::Html]),
        (1009, "Pas JSON", vec![Answer::NotJson]),
        (
            1010,
            "Limitée",
            vec![
                Answer::RateLimited {
                    retry_after: Some(1),
                },
                Answer::Full,
            ],
        ),
        (1011, "Mal Formée", vec![Answer::Status(400)]),
    ];
    for (id, name, answers) in &script {
        fake.script(*id, name, answers.clone());
    }
    let list = cities(
        &script
            .iter()
            .map(|(id, n, _)| (*id, *n))
            .collect::<Vec<_>>(),
    );
    let topic = fresh_topic().await;

    let mut cmd = produce(&topic, &fake, &list, &["--once"]);
    cmd.env("RUST_LOG", "debug");
    let result = run(cmd);
    assert_no_key(&result);
    result.assert_fails_with(&[
        "Coupée (1007)",
        "Page HTML (1008)",
        "Pas JSON (1009)",
        "Mal Formée (1011)",
        "Inconnue (1002)",
    ]);
    assert!(
        result
            .stdout
            .contains("dropped: Inconnue (1002): unknown to the API (404)"),
        "{}",
        result.describe()
    );
    assert!(
        result.took < Duration::from_secs(30),
        "{}",
        result.describe()
    );

    let published: BTreeMap<i64, usize> =
        observations(&read_topic(&topic))
            .into_iter()
            .fold(BTreeMap::new(), |mut m, (id, _)| {
                *m.entry(id).or_default() += 1;
                m
            });
    let expected: BTreeMap<i64, usize> = [1001, 1003, 1004, 1005, 1006, 1010]
        .into_iter()
        .map(|id| (id, 1))
        .collect();
    assert_eq!(published, expected, "{}", result.describe());
    // Retried once after a failure; the cut-off city three times; 404 and 400 never again.
    for id in [1003, 1004, 1005, 1006, 1010] {
        assert_eq!(fake.calls_for(id), 2, "city {id}");
    }
    assert_eq!(fake.calls_for(1007), 3);
    for id in [1002, 1008, 1009, 1011] {
        assert_eq!(fake.calls_for(id), 1, "city {id}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rate_limit_holds_and_sigterm_flushes_what_was_fetched() {
    let fake = FakeOwm::start(DtModel::Fixed(1795895400));
    let ids: Vec<(i64, String)> = (1..=30).map(|i| (100 + i, format!("Ville {i}"))).collect();
    for (id, name) in &ids {
        fake.script(*id, name, vec![Answer::Full]);
    }
    let list = cities(
        &ids.iter()
            .map(|(id, n)| (*id, n.as_str()))
            .collect::<Vec<_>>(),
    );
    let topic = fresh_topic().await;
    // 10 calls a minute: the sweep makes 10 calls, then has to wait a minute. Stop it first.
    let cmd = produce(&topic, &fake, &list, &["--once", "--rate", "10"]);
    let result = run_then_terminate(cmd, Duration::from_secs(4));
    result.assert_ok();
    assert_no_key(&result);
    assert!(
        result.took < Duration::from_secs(15),
        "{}",
        result.describe()
    );
    let calls = fake.calls();
    assert_eq!(calls.len(), 10, "{}", result.describe());
    // Every reading fetched before the signal is in the topic, once.
    let published = observations(&read_topic(&topic));
    let ids_published: HashSet<i64> = published.iter().map(|(id, _)| *id).collect();
    let ids_called: HashSet<i64> = calls.iter().map(|c| c.city_id).collect();
    assert_eq!(published.len(), 10);
    assert_eq!(ids_published, ids_called);
    assert!(
        result.stdout.contains("10 published, 0 not delivered"),
        "{}",
        result.describe()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_continuous_run_publishes_each_new_observation_once_and_flushes_on_sigterm() {
    // A new observation every 2 s per city; two cities whose observation never changes.
    let fake = FakeOwm::start(DtModel::Cadence {
        period: 2,
        jitter: 0,
    });
    let ids: Vec<(i64, String)> = (1..=6).map(|i| (200 + i, format!("Ville {i}"))).collect();
    for (id, name) in &ids {
        fake.script(*id, name, vec![Answer::Full]);
    }
    fake.fix_dt(201, 1795895400);
    fake.fix_dt(202, 1795895400);
    let list = cities(
        &ids.iter()
            .map(|(id, n)| (*id, n.as_str()))
            .collect::<Vec<_>>(),
    );
    let topic = fresh_topic().await;
    let cmd = produce(
        &topic,
        &fake,
        &list,
        &[
            "--interval",
            "2s",
            "--rate",
            "600",
            "--monthly-quota",
            "100000000",
        ],
    );
    let result = run_then_terminate(cmd, Duration::from_secs(7));
    result.assert_ok();
    assert_no_key(&result);

    let published = published_once_as_served(&topic, &fake, &result.describe());
    // The fixed cities were called again (and again), and published once.
    assert!(fake.calls_for(201) >= 2, "{}", result.describe());
    assert_eq!(published.iter().filter(|(id, _)| *id == 201).count(), 1);
    // The changing ones were published several times.
    assert!(published.iter().filter(|(id, _)| *id == 205).count() >= 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rate_limit_without_retry_after_pauses_every_call() {
    let fake = FakeOwm::start(DtModel::Fixed(1795895400));
    fake.script(
        301,
        "Première",
        vec![Answer::RateLimited { retry_after: None }],
    );
    fake.script(302, "Deuxième", vec![Answer::Full]);
    fake.script(303, "Troisième", vec![Answer::Full]);
    let list = cities(&[(301, "Première"), (302, "Deuxième"), (303, "Troisième")]);
    let topic = fresh_topic().await;
    // Cities due at 0, 1 and 2 s; the 429 at 0 pauses everything for a minute.
    let cmd = produce(&topic, &fake, &list, &["--interval", "3s"]);
    let result = run_then_terminate(cmd, Duration::from_secs(5));
    result.assert_ok();
    assert_no_key(&result);
    assert_eq!(fake.calls().len(), 1, "{}", result.describe());
    assert!(
        result.stderr.contains("every call paused"),
        "{}",
        result.describe()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_producer_refuses_to_start_without_its_topic_and_does_not_create_it() {
    let fake = FakeOwm::start(DtModel::Fixed(1795895400));
    fake.script(PARIS, "Paris", vec![Answer::Full]);
    let list = cities(&[(PARIS, "Paris")]);
    let topic = unique("missing");
    let result = run(produce(&topic, &fake, &list, &["--once"]));
    result.assert_fails_with(&[&topic, "meteo migrate"]);
    assert_no_key(&result);
    assert!(fake.calls().is_empty());
    let topics = topic_partitions(&kafka_settings(&topic), Duration::from_secs(10)).unwrap();
    assert!(!topics.contains_key(&topic));
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_key_the_readings_are_synthetic_and_a_seed_repeats_them() {
    let list_cities = [
        (PARIS, "Paris"),
        (LYON, "Lyon"),
        (SAINT_ETIENNE, "Saint-Étienne"),
    ];
    let list = cities(&list_cities);
    let topic = fresh_topic().await;
    let mut cmd = meteo();
    cmd.args(["--topic", &topic, "produce", "--once", "--seed", "42"])
        .arg("--cities")
        .arg(&list);
    let result = run(cmd);
    result.assert_ok();
    assert!(result.stderr.contains("SYNTHETIC"), "{}", result.describe());

    let source = meteo::synthetic::Synthetic::new(42, Duration::from_secs(600));
    let listed = meteo::city::load(&list).unwrap();
    let messages = read_topic(&topic);
    assert_eq!(messages.len(), 3);
    for (_, value) in messages {
        let reading = Reading::from_json(value.to_string().as_bytes()).unwrap();
        assert_eq!(reading.source.as_deref(), Some("synthetic"));
        let city = listed.iter().find(|c| c.id == reading.city_id).unwrap();
        let again = source.reading(
            city,
            reading.observed_at.timestamp(),
            reading.fetched_at.unwrap(),
        );
        assert_eq!(reading, again);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_list_from_an_older_meteo_cities_is_cleaned_and_every_reading_passes_the_consumer() {
    // What `meteo cities` kept before the text rule: the real list's C1 control, a line
    // separator, a variation selector.
    let list = cities(&[
        (6617196, "Mons-en-Barœ\u{9c}ul"),
        (PARIS, "Paris\u{2028}"),
        (LYON, "Lyon\u{FE0F}"),
    ]);
    let topic = fresh_topic().await;
    let mut cmd = meteo();
    cmd.args([
        "--topic",
        &topic,
        "produce",
        "--once",
        "--source",
        "synthetic",
    ])
    .arg("--cities")
    .arg(&list);
    run(cmd).assert_ok();

    let mut names = Vec::new();
    for (key, value) in read_topic(&topic) {
        let value = value.to_string();
        let reading = Reading::from_message(Some(key.as_bytes()), Some(value.as_bytes()))
            .unwrap_or_else(|why| panic!("the consumer would refuse {value}: {why}"));
        names.push(reading.city_name);
    }
    names.sort();
    assert_eq!(names, ["Lyon", "Mons-en-Barœul", "Paris"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_or_malformed_city_list_is_named_in_one_error_line() {
    let fake = FakeOwm::start(DtModel::Fixed(1795895400));
    let missing = temp_dir("nolist").join("absent.json");
    let result = run(produce("unused", &fake, &missing, &["--once"]));
    result.assert_fails_with(&["absent.json", "meteo cities"]);
    let bad = temp_dir("badlist").join("bad.json");
    std::fs::write(&bad, "[{\"id\": 1,\n \"name\": \"A\"").unwrap();
    let result = run(produce("unused", &fake, &bad, &["--once"]));
    result.assert_fails_with(&["bad.json", "line 2"]);
    assert!(fake.calls().is_empty());
}

/// What a hostile server may put in an error message: a window title (OSC ... BEL), a screen
/// clear and colours (CSI), a hyperlink (OSC 8 ... ST), an 8-bit CSI and a lone bell.
const HOSTILE: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2Jbad \u{1b}[31mlatitude\u{1b}[0m \u{1b}]8;;http://x\u{1b}\\link\u{1b}]8;;\u{1b}\\ \u{9b}1mend\u{7}";

/// Control characters but the line ends: what must never reach a terminal from outside.
fn terminal_controls(text: &str) -> Vec<char> {
    text.chars()
        .filter(|&c| c.is_control() && c != '\n')
        .collect()
}

/// The API client of meteo, pointed at `fake`, with [`KEY`].
fn client(fake: &FakeOwm) -> Client {
    Client::new(ApiConfig {
        base_url: fake.url(),
        key: Secret::new(KEY),
        lang: "fr".into(),
        timeout: Duration::from_secs(2),
    })
}

#[test]
fn an_api_error_message_comes_out_without_its_escape_sequences() {
    let fake = FakeOwm::start(DtModel::Fixed(1795895400));
    for (id, status) in [(1, 400), (2, 401), (3, 418)] {
        fake.script(
            id,
            "Hostile",
            vec![Answer::Message {
                status,
                message: HOSTILE.into(),
            }],
        );
        let err = client(&fake).fetch(id, "FR").unwrap_err().to_string();
        assert_eq!(terminal_controls(&err), [], "HTTP {status}: {err:?}");
        // What can be read of the message stays.
        assert!(err.contains("bad latitude"), "HTTP {status}: {err:?}");
    }
}

#[test]
fn a_key_echoed_near_the_end_of_a_long_message_is_redacted_whole() {
    let fake = FakeOwm::start(DtModel::Fixed(1795895400));
    // The key starts 8 characters before the 200th: a cut there keeps its first 8.
    let message = format!("{}appid={{appid}} and more", "a".repeat(186));
    fake.script(
        1,
        "Echo",
        vec![Answer::Message {
            status: 400,
            message,
        }],
    );
    let err = client(&fake).fetch(1, "FR").unwrap_err().to_string();
    assert!(!err.contains(&KEY[..4]), "{err}");
    // Redacted, then cut.
    assert!(err.contains("appid=[redact"), "{err}");
}

#[test]
fn a_key_echoed_in_capitals_is_redacted_too() {
    let fake = FakeOwm::start(DtModel::Fixed(1795895400));
    fake.script(
        1,
        "Shout",
        vec![Answer::Message {
            status: 401,
            message: "INVALID API KEY {APPID}".into(),
        }],
    );
    let err = client(&fake).fetch(1, "FR").unwrap_err().to_string();
    let lower = err.to_lowercase();
    assert!(!lower.contains(&KEY.to_lowercase()), "{err}");
    assert!(!lower.contains("distinctive"), "{err}");
    assert!(err.contains("[redacted]"), "{err}");
}

#[test]
fn a_redirect_to_another_server_is_refused_without_the_key_and_one_to_the_same_is_followed() {
    let fake = FakeOwm::start(DtModel::Fixed(1795895400));
    let other = FakeOwm::start(DtModel::Fixed(1795895400));
    other.script(PARIS, "Paris", vec![Answer::Full]);
    fake.script(PARIS, "Paris", vec![Answer::Redirect { to: other.url() }]);
    let err = client(&fake).fetch(PARIS, "FR").unwrap_err();
    assert!(other.calls().is_empty(), "the key went to {}", other.url());
    let text = format!("{err} {err:?}");
    assert!(text.contains("redirect"), "{text}");
    assert!(text.contains(&other.addr.to_string()), "{text}");
    assert!(!text.contains(KEY), "{text}");
    assert_eq!(err.class(), ErrorClass::Skip, "{text}");

    // Another address on the same port is another server too.
    let elsewhere = format!("http://127.0.0.2:{}", fake.addr.port());
    fake.script(
        NICE,
        "Nice",
        vec![Answer::Redirect {
            to: elsewhere.clone(),
        }],
    );
    let err = client(&fake).fetch(NICE, "FR").unwrap_err();
    assert_eq!(err.class(), ErrorClass::Skip, "{err}");
    assert!(err.to_string().contains("127.0.0.2"), "{err}");

    // Within the same server, a redirect is followed (as a proxy moving a path would).
    fake.script(
        LYON,
        "Lyon",
        vec![Answer::Redirect { to: fake.url() }, Answer::Full],
    );
    let reading = client(&fake).fetch(LYON, "FR").unwrap();
    assert_eq!(reading.city_id, LYON);
    assert_eq!(fake.calls_for(LYON), 2);
    // But not in circles.
    fake.script(
        SAINT_ETIENNE,
        "Saint-Étienne",
        vec![Answer::Redirect { to: fake.url() }],
    );
    let err = client(&fake).fetch(SAINT_ETIENNE, "FR").unwrap_err();
    assert!(err.to_string().contains("too many redirects"), "{err}");
    assert_eq!(fake.calls_for(SAINT_ETIENNE), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sweep_redirected_to_another_server_fails_that_city_and_sends_the_key_nowhere() {
    let fake = FakeOwm::start(DtModel::Fixed(1795895400));
    let other = FakeOwm::start(DtModel::Fixed(1795895400));
    other.script(LYON, "Lyon", vec![Answer::Full]);
    fake.script(PARIS, "Paris", vec![Answer::Full]);
    fake.script(LYON, "Lyon", vec![Answer::Redirect { to: other.url() }]);
    let list = cities(&[(PARIS, "Paris"), (LYON, "Lyon")]);
    let topic = fresh_topic().await;

    let result = run(produce(&topic, &fake, &list, &["--once"]));
    result.assert_fails_with(&["Lyon (2996944)"]);
    assert_no_key(&result);
    assert!(other.calls().is_empty(), "{}", result.describe());
    let failed = format!(
        "failed: Lyon (2996944): the API redirected to {}",
        other.url()
    );
    assert!(result.stdout.contains(&failed), "{}", result.describe());
    let published: Vec<i64> = observations(&read_topic(&topic))
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(published, [PARIS], "{}", result.describe());
}

/// `meteo produce --once` over 100 cities against `api_url`, where no server answers: the
/// sweep ends in seconds with `reason` in its error line, the outage told once.
async fn a_sweep_nobody_answers(api_url: &str, reason: &str) {
    let ids: Vec<(i64, String)> = (1..=100).map(|i| (500 + i, format!("Ville {i}"))).collect();
    let list = cities(
        &ids.iter()
            .map(|(id, n)| (*id, n.as_str()))
            .collect::<Vec<_>>(),
    );
    let topic = fresh_topic().await;
    let mut cmd = meteo();
    cmd.env("OWM_API_KEY", KEY)
        .args(["--topic", &topic, "produce", "--once", "--api-url", api_url])
        .arg("--cities")
        .arg(&list);
    let result = run_within(cmd, Duration::from_secs(60));
    result.assert_fails_with(&[
        &format!("the sweep stopped early (the API cannot be reached: {reason}"),
        "100 cities brought no reading",
        "90 more",
    ]);
    assert_no_key(&result);
    assert!(
        result.took < Duration::from_secs(30),
        "{}",
        result.describe()
    );
    assert!(
        result.stdout.contains("errors (unreachable 18)"),
        "16 calls at once, then one probe after each of two pauses\n{}",
        result.describe()
    );
    // Told once, not once per call.
    assert_eq!(
        result.stderr.matches("weather API unreachable").count(),
        1,
        "{}",
        result.describe()
    );
    assert!(
        !result.stderr.contains("temporary failure"),
        "no per-city warnings\n{}",
        result.describe()
    );
    // The summary names the reason once for the 100 cities, not a line per city.
    let failed: Vec<&str> = result
        .stdout
        .lines()
        .filter(|l| l.starts_with("failed: "))
        .collect();
    assert_eq!(failed.len(), 1, "{}", result.describe());
    assert!(
        failed[0].starts_with("failed: 100 cities, Ville 1 (501), ") && failed[0].contains(reason),
        "{}",
        result.describe()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sweep_against_an_api_nobody_answers_ends_in_seconds_with_the_reason() {
    // Port 1 on localhost: every connection is refused.
    a_sweep_nobody_answers("http://127.0.0.1:1", "connection refused").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sweep_against_an_api_host_that_does_not_resolve_ends_in_seconds_like_a_refused_one() {
    // `.invalid` never resolves (RFC 6761), with or without a name server: as on a machine
    // without DNS, where the default api.openweathermap.org cannot be looked up.
    a_sweep_nobody_answers("http://api.openweathermap.invalid", "host not found").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_text_from_the_api_or_the_city_list_reaches_no_terminal() {
    let fake = FakeOwm::start(DtModel::Fixed(1795895400));
    let escaped_name = "Pa\u{1b}]0;pwned\u{7}ris\u{1b}[2J";
    fake.script(1, escaped_name, vec![Answer::Full]);
    fake.script(
        2,
        "Hostile",
        vec![Answer::Message {
            status: 400,
            message: HOSTILE.into(),
        }],
    );
    let topic = fresh_topic().await;

    // In the city list, the name is refused before any call, with where it is.
    let result = run(produce(
        &topic,
        &fake,
        &cities(&[(1, escaped_name), (2, "Hostile")]),
        &["--once"],
    ));
    result.assert_fails_with(&["entry 0 (id 1): name holds control characters"]);
    assert_eq!(
        terminal_controls(&result.stderr),
        [],
        "{}",
        result.describe()
    );

    // From the API, the city is skipped (never published) and the reason printed safely.
    let list = cities(&[(1, "Paris"), (2, "Hostile")]);
    let result = run(produce(&topic, &fake, &list, &["--once"]));
    result.assert_fails_with(&["Paris (1)", "Hostile (2)"]);
    assert!(
        result
            .stdout
            .contains("failed: Paris (1): unusable answer: `name` holds control characters"),
        "{}",
        result.describe()
    );
    assert_no_key(&result);
    for (what, text) in [("stdout", &result.stdout), ("stderr", &result.stderr)] {
        assert_eq!(terminal_controls(text), [], "{what}\n{}", result.describe());
    }
    assert!(
        result
            .stdout
            .contains("failed: Hostile (2): request rejected (HTTP 400: bad latitude"),
        "{}",
        result.describe()
    );

    // A refused key ends the run with its message in the error line.
    fake.script(
        4,
        "Refusée",
        vec![Answer::Message {
            status: 401,
            message: HOSTILE.into(),
        }],
    );
    let result = run(produce(
        &topic,
        &fake,
        &cities(&[(4, "Refusée")]),
        &["--once"],
    ));
    result.assert_fails_with(&["refused the API key", "bad latitude"]);
    assert_eq!(
        terminal_controls(&result.stderr),
        [],
        "{}",
        result.describe()
    );

    // Whatever the error, the `meteo: error:` line is printed without control characters.
    let path = temp_dir("hostile").join("cities\u{1b}]0;pwned\u{7}.json");
    let result = run(produce(&topic, &fake, &path, &["--once"]));
    result.assert_fails_with(&["cities", ".json"]);
    assert_eq!(
        terminal_controls(&result.stderr),
        [],
        "{}",
        result.describe()
    );
}

/// The benchmark of `scripts/bench-produce`: freshness (share of calls bringing a new
/// observation) of the producer and of blind polling at the cadence, against the same fake
/// API in the same run; publish latency; the producer's CPU and memory.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: run scripts/bench-produce"]
async fn benchmark_freshness_latency_and_footprint() {
    let env = |name: &str, default: i64| -> i64 {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let n = env("BENCH_CITIES", 230);
    let cadence = env("BENCH_CADENCE", 10);
    let seconds = env("BENCH_SECONDS", 90);
    let jitter = env("BENCH_JITTER", cadence / 5);
    let fake = FakeOwm::start(DtModel::Cadence {
        period: cadence,
        jitter,
    });
    let ids: Vec<(i64, String)> = (1..=n)
        .map(|i| (10_000 + i, format!("Ville {i}")))
        .collect();
    for (id, name) in &ids {
        fake.script(*id, name, vec![Answer::Full]);
    }
    let list = cities(
        &ids.iter()
            .map(|(id, n)| (*id, n.as_str()))
            .collect::<Vec<_>>(),
    );
    let topic = fresh_topic().await;
    let interval = format!("{cadence}s");
    let mut cmd = produce(
        &topic,
        &fake,
        &list,
        &[
            "--interval",
            &interval,
            "--rate",
            "100000",
            "--monthly-quota",
            "1000000000000",
        ],
    );
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid = child.id();

    // Blind polling at the cadence, cities spread evenly, with its own key.
    let url = fake.url();
    let blind_ids: Vec<i64> = ids.iter().map(|(id, _)| *id).collect();
    let until = Instant::now() + Duration::from_secs(seconds as u64);
    let blind = std::thread::spawn(move || {
        let agent = ureq::Agent::new_with_defaults();
        let start = Instant::now();
        let step = Duration::from_secs(cadence as u64) / blind_ids.len() as u32;
        let mut k: u32 = 0;
        while Instant::now() < until {
            let at = start + step * k;
            if let Some(wait) = at.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let id = blind_ids[k as usize % blind_ids.len()];
            let _ = agent
                .get(format!(
                    "{url}/data/2.5/weather?id={id}&appid=blind&units=metric"
                ))
                .call()
                .and_then(|mut r| r.body_mut().read_to_string());
            k += 1;
        }
    });
    blind.join().unwrap();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();

    // Share of calls with a dt not seen before by that key; steady state: after 2 cadences.
    let warmup = Duration::from_secs(2 * cadence as u64);
    let calls = fake.calls();
    let first = calls.iter().map(|c| c.at).min().unwrap();
    let mut report = String::new();
    for key in [KEY, "blind"] {
        let mut last: HashMap<i64, i64> = HashMap::new();
        let (mut total, mut new) = (0, 0);
        for call in calls.iter().filter(|c| c.key == key) {
            let Some(dt) = call.dt else { continue };
            let fresh = last.get(&call.city_id) != Some(&dt);
            last.insert(call.city_id, dt);
            if call.at.duration_since(first) >= warmup {
                total += 1;
                new += usize::from(fresh);
            }
        }
        report += &format!(
            "{}: {new} new in {total} calls = {:.1}%\n",
            if key == KEY {
                "producer"
            } else {
                "blind polling at the cadence"
            },
            new as f64 * 100.0 / total.max(1) as f64
        );
    }
    // /proc/<pid>/stat: utime and stime are fields 14 and 15, in clock ticks (100 a second).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: f64 = fields
        .get(11)
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
    let memory: Vec<&str> = status
        .lines()
        .filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM"))
        .collect();
    report += &format!(
        "producer CPU: {:.2} s over {seconds} s = {:.1}% of one core; {}\n",
        ticks / 100.0,
        ticks / seconds as f64,
        memory.join(", ")
    );
    println!(
        "\n== bench: {n} cities, cadence {cadence} s (jitter up to {jitter} s), {seconds} s\n{report}{stdout}"
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
