//! Data that comes out as it went in: two records of one observation never mix in either
//! table, a reading from a fast clock is refused, and what others wrote into `latest` (NULL
//! cells, impossible numbers) is shown as such by `meteo dash`.

use chrono::{Duration, Utc};
use meteo::model::Reading;
use meteo::store::grouped::Table;
use meteo::store::precedence;
use meteo::store::readings::{self, ReadingWriter};

use crate::consume::{consume, logged_number};
use crate::util::{
    drop_keyspace, message, migrated, produce, read_topic, reading, run, session, unique,
};

/// The two records of the issue: one city, one `observed_at`, different values. `b` was
/// fetched later, so `b` is the one that must be stored, whole: even its absent rain.
fn rivals(city_id: i64) -> (Reading, Reading) {
    let mut a = reading(city_id, 30);
    a.temperature = 10.0;
    a.humidity = 90;
    a.weather_description = Some("aaa pluie".into());
    a.rain_1h = Some(0.5);
    a.fetched_at = Some(a.observed_at + Duration::minutes(1));
    let mut b = a.clone();
    b.temperature = 20.0;
    b.humidity = 10;
    b.weather_description = Some("zzz soleil".into());
    b.rain_1h = None;
    b.fetched_at = Some(a.observed_at + Duration::minutes(2));
    (a, b)
}

/// What both tables hold for `city_id`: its `readings` rows and its `latest` row.
async fn stored(
    session: &meteo::store::CassandraSession,
    city_id: i64,
    day: chrono::NaiveDate,
) -> (Vec<Reading>, Option<Reading>) {
    let history = readings::readings_on(session, city_id, day).await.unwrap();
    let latest = readings::latest(session, "FR")
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.city_id == city_id);
    (history, latest)
}

#[tokio::test(flavor = "multi_thread")]
async fn two_records_of_one_observation_store_the_later_fetch_whole_in_any_order_and_path() {
    let (keyspace, _) = migrated(&[]);
    let session = session(Some(&keyspace)).await;
    let writer = ReadingWriter::prepare(session.clone()).await.unwrap();
    // City 1..=2: single writes, both orders; 3..=4: one batch per table, both orders.
    for city_id in 1..=4 {
        let (a, b) = rivals(city_id);
        let order = if city_id % 2 == 1 { [&a, &b] } else { [&b, &a] };
        if city_id <= 2 {
            for r in order {
                writer.write(r, Utc::now()).await.unwrap();
            }
        } else {
            for table in [Table::Readings, Table::Latest] {
                writer
                    .write_rows(table, crate::store::natural(order.to_vec()), Utc::now())
                    .await
                    .unwrap();
            }
        }
        let (history, latest) = stored(&session, city_id, a.day()).await;
        assert_eq!(history, vec![b.clone()], "readings of city {city_id}");
        assert_eq!(latest, Some(b), "latest of city {city_id}");
    }
    drop_keyspace(&keyspace).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_records_of_one_observation_through_the_consumer_store_one_whole_record() {
    let (keyspace, topic) = migrated(&[]);
    let (a1, b1) = rivals(11);
    let (a2, b2) = rivals(12);
    // Twice each, so some land in one group and some in the next.
    let sent = [&a1, &b1, &b2, &a2, &a1, &b2];
    produce(&topic, &sent.map(message)).await;
    let run = run(consume(
        &keyspace,
        &topic,
        &unique("g"),
        &["--until-idle", "3s"],
    ));
    run.assert_ok();
    assert_eq!(logged_number(&run.stderr, "dead_lettered"), Some(0));
    let session = session(Some(&keyspace)).await;
    for b in [b1, b2] {
        let (history, latest) = stored(&session, b.city_id, b.day()).await;
        assert_eq!(history, vec![b.clone()], "readings of city {}", b.city_id);
        assert_eq!(latest, Some(b.clone()), "latest of city {}", b.city_id);
    }
    drop_keyspace(&keyspace).await;
}

/// The A and B fetched in the same second, B's description varied until both get the
/// same natural write timestamp (1 pair in 1000 does): the tie the writer's memo must settle.
fn tied_rivals(city_id: i64) -> (Reading, Reading) {
    let (a, mut b) = rivals(city_id);
    b.fetched_at = a.fetched_at;
    let tied = (0..100_000)
        .map(|n| {
            let mut b = b.clone();
            b.weather_description = Some(format!("zzz soleil {n}"));
            b
        })
        .find(|b| precedence::write_timestamp(b) == precedence::write_timestamp(&a))
        .expect("a description giving B the timestamp of A");
    b = tied;
    assert_ne!(a, b);
    (a, b)
}

#[tokio::test(flavor = "multi_thread")]
async fn two_records_with_equal_write_timestamps_through_the_consumer_store_one_whole_record() {
    let (a, b) = tied_rivals(13);
    let mut winners = Vec::new();
    for (order, sent) in [("A then B", [&a, &b]), ("B then A", [&b, &a])] {
        let (keyspace, topic) = migrated(&[]);
        produce(&topic, &sent.map(message)).await;
        let run = run(consume(
            &keyspace,
            &topic,
            &unique("g"),
            &["--until-idle", "3s"],
        ));
        run.assert_ok();
        assert_eq!(logged_number(&run.stderr, "dead_lettered"), Some(0));
        let session = session(Some(&keyspace)).await;
        let (history, latest) = stored(&session, a.city_id, a.day()).await;
        assert_eq!(history.len(), 1, "{order}: {history:?}");
        let winner = history[0].clone();
        assert!(
            winner == a || winner == b,
            "{order}: readings holds neither record: {winner:?}"
        );
        assert_eq!(latest.as_ref(), Some(&winner), "{order}: latest");
        winners.push(winner);
        drop_keyspace(&keyspace).await;
    }
    assert_eq!(winners[0], winners[1], "the winner depends on the order");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reading_from_a_fast_clock_is_dead_lettered_and_real_ones_keep_latest() {
    let (keyspace, topic) = migrated(&[]);
    let now = Utc::now();
    let mut fast = reading(21, 0);
    fast.observed_at = now + Duration::minutes(55);
    fast.fetched_at = Some(fast.observed_at);
    fast.temperature = 55.5;
    let mut real = reading(21, 0);
    real.temperature = 1.0;
    produce(&topic, &[message(&fast), message(&real)]).await;
    let run = run(consume(
        &keyspace,
        &topic,
        &unique("g"),
        &["--until-idle", "3s"],
    ));
    run.assert_ok();
    assert_eq!(
        logged_number(&run.stderr, "dead_lettered"),
        Some(1),
        "{}",
        run.describe()
    );
    let dead = read_topic(&format!("{topic}.dlq"), 1).await;
    let error = rdkafka::message::Headers::iter(
        rdkafka::Message::headers(&dead[0]).expect("dead letter headers"),
    )
    .find(|h| h.key == "meteo.error")
    .and_then(|h| h.value)
    .map(|v| String::from_utf8_lossy(v).into_owned())
    .unwrap_or_default();
    assert!(error.starts_with("observed_at is "), "{error}");
    let session = session(Some(&keyspace)).await;
    let (_, latest) = stored(&session, 21, real.day()).await;
    assert_eq!(latest.map(|r| r.temperature), Some(1.0));
    drop_keyspace(&keyspace).await;
}

/// A keyspace whose `latest` holds, beside a whole reading (Paris), rows written by others
/// with CQL: a NULL temperature, a NULL humidity, a NULL `observed_at`, impossible numbers.
async fn written_by_others() -> String {
    let (keyspace, _) = migrated(&[]);
    let session = session(Some(&keyspace)).await;
    let writer = ReadingWriter::prepare(session.clone()).await.unwrap();
    let mut paris = reading(2988507, 5);
    paris.city_name = "Paris".into();
    writer.write(&paris, Utc::now()).await.unwrap();
    for cql in [
        "INSERT INTO latest (country, city_id, city_name, observed_at, humidity) \
         VALUES ('FR', 31, 'Sans temp', toTimestamp(now()), 50)",
        "INSERT INTO latest (country, city_id, city_name, observed_at, temperature) \
         VALUES ('FR', 32, 'Sans hum', toTimestamp(now()), 12.5)",
        "INSERT INTO latest (country, city_id, city_name, temperature, humidity) \
         VALUES ('FR', 33, 'Aaa sans heure', 3.5, 40)",
        "INSERT INTO latest (country, city_id, city_name, observed_at, temperature, humidity) \
         VALUES ('FR', 34, 'Chaud', toTimestamp(now()), 1e308, -2147483648)",
        "INSERT INTO latest (country, city_id, city_name, observed_at, temperature, humidity) \
         VALUES ('FR', 35, 'Froid', toTimestamp(now()), -1e308, 20)",
    ] {
        meteo::store::query(&session, cql).await.unwrap();
    }
    keyspace
}

#[tokio::test(flavor = "multi_thread")]
async fn null_cells_and_impossible_numbers_in_latest_show_as_such_in_the_snapshot() {
    let keyspace = written_by_others().await;
    let mut cmd = crate::util::meteo();
    cmd.args(["--keyspace", &keyspace, "dash"]);
    let out = run(cmd);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 7, "{}", out.describe());
    let row = |name: &str| -> Vec<&str> {
        let line = lines
            .iter()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} not in\n{}", out.stdout));
        line[name.len()..]
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect()
    };
    // CITY TEMP FEELS HUM WIND WEATHER AGE; absent optional columns are "-" already.
    assert_eq!(row("Sans temp")[..3], ["-", "-", "50%"], "{}", out.stdout);
    assert_eq!(row("Sans hum")[..3], ["12.5°C", "-", "-"], "{}", out.stdout);
    assert_eq!(row("Chaud")[..3], ["out", "-", "out"], "{}", out.stdout);
    assert_eq!(row("Froid")[..3], ["out", "-", "20%"], "{}", out.stdout);
    assert_eq!(row("Aaa sans heure").last(), Some(&"-"), "{}", out.stdout);
    assert!(row("Paris").contains(&"81%"), "{}", out.stdout);
    // Sorted by name, the row without observed_at last.
    assert!(lines[6].starts_with("Aaa sans heure"), "{}", out.stdout);
    assert!(lines.iter().all(|l| l.len() < 120), "{}", out.stdout);
    drop_keyspace(&keyspace).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn null_cells_in_latest_leave_the_live_view_connected_and_drawn() {
    use meteo::dash::app::App;
    use meteo::dash::refresh::{self, CassandraSource, Update};
    use ratatui::backend::TestBackend;
    use ratatui::layout::Rect;

    let keyspace = written_by_others().await;
    let mut source = CassandraSource::new(crate::util::cassandra_settings(&keyspace));
    let mut app = App::new(
        meteo::dash::DashSettings::new(meteo::model::CountryCode::FR),
        Utc::now(),
        Rect::new(0, 0, 120, 20),
    );
    // Twice: the first read takes every column, the next ones what changed.
    for _ in 0..2 {
        let update = refresh::latest_update(&mut source, "FR").await;
        match &update {
            Update::Latest { result, .. } => {
                assert_eq!(result.as_ref().map(Vec::len).ok(), Some(6), "{update:?}")
            }
            Update::LatestChanges { .. } => {}
            other => panic!("{other:?}"),
        }
        app.apply(update);
        let mut terminal = ratatui::Terminal::new(TestBackend::new(120, 20)).unwrap();
        terminal.draw(|f| f.render_widget(&app, f.area())).unwrap();
        let screen: String = terminal
            .backend()
            .buffer()
            .content()
            .iter()
            .map(|c| c.symbol())
            .collect();
        assert!(!screen.contains("DOWN"), "{screen}");
        assert!(
            screen.contains("Sans temp") && screen.contains("out"),
            "{screen}"
        );
    }
    drop_keyspace(&keyspace).await;
}

/// The `latest` partitions of `countries` that hold `city_id`.
async fn countries_of(
    session: &meteo::store::CassandraSession,
    city_id: i64,
    countries: &[&str],
) -> Vec<String> {
    let mut found = Vec::new();
    for country in countries {
        let rows = readings::latest(session, country).await.unwrap();
        if rows.iter().any(|r| r.city_id == city_id) {
            found.push(country.to_string());
        }
    }
    found
}

fn in_country(city_id: i64, minutes_ago: i64, country: &str) -> Reading {
    let mut r = reading(city_id, minutes_ago);
    r.country = country.into();
    r
}

#[tokio::test(flavor = "multi_thread")]
async fn a_city_moved_by_a_newer_reading_leaves_no_row_in_its_old_country() {
    let (keyspace, _) = migrated(&[]);
    let session = session(Some(&keyspace)).await;
    let first = ReadingWriter::prepare(session.clone()).await.unwrap();
    first
        .write(&in_country(2988507, 30, "FR"), Utc::now())
        .await
        .unwrap();
    assert_eq!(countries_of(&session, 2988507, &["FR", "DE"]).await, ["FR"]);
    // Another process (nothing remembered): a newer reading marked DE moves Paris.
    let second = ReadingWriter::prepare(session.clone()).await.unwrap();
    second
        .write(&in_country(2988507, 20, "DE"), Utc::now())
        .await
        .unwrap();
    assert_eq!(countries_of(&session, 2988507, &["FR", "DE"]).await, ["DE"]);
    // An older FR reading, late, by either process, does not bring it back.
    for writer in [&first, &second] {
        writer
            .write(&in_country(2988507, 25, "FR"), Utc::now())
            .await
            .unwrap();
        assert_eq!(countries_of(&session, 2988507, &["FR", "DE"]).await, ["DE"]);
    }
    // A newer FR reading moves it back.
    let third = ReadingWriter::prepare(session.clone()).await.unwrap();
    third
        .write(&in_country(2988507, 10, "FR"), Utc::now())
        .await
        .unwrap();
    assert_eq!(countries_of(&session, 2988507, &["FR", "DE"]).await, ["FR"]);
    drop_keyspace(&keyspace).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn through_the_consumer_a_city_shows_only_in_the_country_of_its_newest_reading() {
    let (keyspace, topic) = migrated(&[]);
    let sent = [
        in_country(41, 30, "FR"),
        in_country(41, 20, "DE"),
        in_country(42, 20, "DE"),
        in_country(42, 30, "FR"),
    ];
    produce(&topic, &sent.each_ref().map(message)).await;
    let run = run(consume(
        &keyspace,
        &topic,
        &unique("g"),
        &["--until-idle", "3s"],
    ));
    run.assert_ok();
    let session = session(Some(&keyspace)).await;
    for city in [41, 42] {
        assert_eq!(
            countries_of(&session, city, &["FR", "DE"]).await,
            ["DE"],
            "city {city}"
        );
    }
    drop_keyspace(&keyspace).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_history_row_with_a_null_temperature_is_left_out_of_the_chart_not_an_error() {
    let (keyspace, _) = migrated(&[]);
    let session = session(Some(&keyspace)).await;
    let writer = ReadingWriter::prepare(session.clone()).await.unwrap();
    let whole = reading(51, 20);
    writer.write(&whole, Utc::now()).await.unwrap();
    let day = Utc::now().format("%Y-%m-%d");
    meteo::store::query(
        &session,
        &format!(
            "INSERT INTO readings (city_id, day, observed_at, city_name, humidity) \
             VALUES (51, '{day}', toTimestamp(now()), 'Ville 51', 50)"
        ),
    )
    .await
    .unwrap();
    let found = readings::history(&session, 51, Utc::now() - Duration::hours(24))
        .await
        .unwrap();
    assert_eq!(found, vec![whole]);
    drop_keyspace(&keyspace).await;
}
