//! Hostile input, end to end: what a broken or malicious weather API, or a poisoned topic,
//! can make meteo publish and store.

use std::collections::HashMap;

use serde_json::json;

use crate::fake_owm::{Answer, DtModel, FakeOwm};
use crate::harness::read_all;
use crate::util::{
    count_readings, drop_keyspace, message, meteo, migrated, produce, reading, run, session,
    temp_dir, unique,
};

/// 3000-01-01T00:00:00Z.
const YEAR_3000: i64 = 32_503_680_000;

#[tokio::test(flavor = "multi_thread")]
async fn an_observation_from_the_future_is_not_published() {
    let (keyspace, topic) = migrated(&[]);
    let fake = FakeOwm::start(DtModel::Fixed(YEAR_3000));
    fake.script(2988507, "Paris", vec![Answer::Full]);
    let list = temp_dir("cities").join("cities.json");
    std::fs::write(
        &list,
        json!([{"id": 2988507, "name": "Paris", "country": "FR", "lat": 48.85, "lon": 2.35}])
            .to_string(),
    )
    .unwrap();
    let mut cmd = meteo();
    cmd.env("OWM_API_KEY", "0123456789abcdef")
        .args([
            "--topic",
            &topic,
            "produce",
            "--once",
            "--api-url",
            &fake.url(),
        ])
        .arg("--cities")
        .arg(&list);
    let run = run(cmd);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(run.stdout.contains("0 published"), "{}", run.describe());
    assert!(run.stdout.contains("bad_answer"), "{}", run.describe());
    assert!(
        run.stderr.contains("observed_at") && run.stderr.contains("Paris"),
        "the log names the city and the field\n{}",
        run.describe()
    );
    assert!(read_all(&topic).is_empty(), "something was published");
    drop_keyspace(&keyspace).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn impossible_or_future_readings_on_the_topic_are_dead_lettered() {
    let (keyspace, topic) = migrated(&[]);
    let good = reading(1, 0);
    let mut poison: Vec<(&str, meteo::model::Reading)> = Vec::new();
    let mut future = reading(2, 0);
    future.observed_at = chrono::DateTime::from_timestamp(YEAR_3000, 0).unwrap();
    poison.push(("observed_at", future));
    let mut wind = reading(3, 0);
    wind.wind_speed = Some(1e308);
    poison.push(("wind_speed", wind));
    let mut name = reading(4, 0);
    name.city_name = "Pa\u{202E}ris".into();
    poison.push(("city_name", name));
    let mut records = vec![message(&good)];
    records.extend(poison.iter().map(|(_, r)| message(r)));
    produce(&topic, &records).await;

    let mut cmd = meteo();
    cmd.args(["--keyspace", &keyspace, "--topic", &topic, "consume"])
        .args(["--group", &unique("g"), "--until-idle", "3s"])
        .args(["--stats-interval", "1s"]);
    let consumed = run(cmd);
    consumed.assert_ok();
    // Numbers in log fields are numbers: lag=0, write_ms_median=1.2, not quoted strings.
    let progress: Vec<&str> = consumed
        .stderr
        .lines()
        .filter(|l| l.contains("progress"))
        .collect();
    assert!(!progress.is_empty(), "{}", consumed.describe());
    for line in progress {
        assert!(!line.contains("=\""), "a quoted number: {line}");
        assert!(
            line.contains("lag=") && line.contains("write_ms_median="),
            "{line}"
        );
    }

    let dead: HashMap<String, String> = read_all(&format!("{topic}.dlq"))
        .into_iter()
        .map(|r| {
            (
                String::from_utf8(r.key.clone().unwrap()).unwrap(),
                r.header("meteo.error").unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(dead.len(), poison.len(), "{dead:?}");
    for (field, r) in &poison {
        let why = &dead[&r.city_id.to_string()];
        assert!(why.contains(field), "{field}: {why}");
    }
    let session = session(Some(&keyspace)).await;
    assert_eq!(count_readings(&session).await, 1);
    drop_keyspace(&keyspace).await;
}

#[test]
fn logs_to_a_file_or_pipe_carry_no_colour_codes() {
    // NO_COLOR unset: stderr is a pipe here, as in a container log.
    let mut cmd = meteo();
    cmd.env_remove("NO_COLOR")
        .args(["--keyspace", &unique("absent"), "consume"]);
    let run = run(cmd);
    assert_eq!(run.code, Some(1), "{}", run.describe());
    assert!(
        run.stderr.contains("consumer starting"),
        "{}",
        run.describe()
    );
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
}
