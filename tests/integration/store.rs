//! The readings tables in the real Cassandra: a reading written reads back intact, and
//! `latest` keeps each city's newest reading whatever the order of delivery.

use chrono::{Duration, Utc};
use meteo::model::Reading;
use meteo::store::readings::{self, ReadingWriter};

use crate::util::{drop_keyspace, migrated, session};

fn paris() -> Reading {
    let mut r: Reading = serde_json::from_str(include_str!("../data/reading.json")).unwrap();
    // Recent, so that the 24-hour history query finds it.
    r.observed_at = Utc::now() - Duration::minutes(30);
    r.observed_at =
        r.observed_at - Duration::nanoseconds(r.observed_at.timestamp_subsec_nanos() as i64);
    r
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reading_written_to_readings_and_latest_reads_back_intact() {
    let (keyspace, _) = migrated(&[]);
    let session = session(Some(&keyspace)).await;
    let writer = ReadingWriter::prepare(session.clone()).await.unwrap();
    let reading = paris();
    writer.write(&reading, Utc::now()).await.unwrap();

    let latest = readings::latest(&session, "FR").await.unwrap();
    assert_eq!(latest, vec![reading.clone()]);
    let stored = readings::readings_on(&session, reading.city_id, reading.day())
        .await
        .unwrap();
    assert_eq!(stored, vec![reading.clone()]);
    let history = readings::history(&session, reading.city_id, Utc::now() - Duration::hours(24))
        .await
        .unwrap();
    assert_eq!(history, vec![reading]);
    drop_keyspace(&keyspace).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn latest_keeps_the_newest_reading_when_an_older_one_arrives_late_or_twice() {
    let (keyspace, _) = migrated(&[]);
    let session = session(Some(&keyspace)).await;
    let writer = ReadingWriter::prepare(session.clone()).await.unwrap();
    let newer = paris();
    let mut older = newer.clone();
    older.observed_at = newer.observed_at - Duration::minutes(10);
    older.temperature = -3.0;
    older.rain_1h = Some(1.5);

    writer.write(&newer, Utc::now()).await.unwrap();
    writer.write(&older, Utc::now()).await.unwrap();
    writer.write(&older, Utc::now()).await.unwrap();
    writer.write(&newer, Utc::now()).await.unwrap();

    let latest = readings::latest(&session, "FR").await.unwrap();
    assert_eq!(
        latest,
        vec![newer.clone()],
        "the older reading leaked into latest"
    );
    let stored = readings::readings_on(&session, newer.city_id, newer.day())
        .await
        .unwrap();
    // Both observations, once each, newest first (unless they straddle midnight UTC).
    if older.day() == newer.day() {
        assert_eq!(stored, vec![newer, older]);
    } else {
        assert_eq!(stored, vec![newer]);
    }
    drop_keyspace(&keyspace).await;
}
