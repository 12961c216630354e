//! The readings tables in the real Cassandra: a reading written reads back intact, and
//! `latest` keeps each city's newest reading whatever the order of delivery.

use chrono::{Duration, Utc};
use meteo::model::Reading;
use meteo::store::grouped::{self, Table};
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

#[tokio::test(flavor = "multi_thread")]
async fn latest_read_in_slices_gives_exactly_the_rows_of_one_whole_read() {
    let (keyspace, _) = migrated(&[]);
    let session = session(Some(&keyspace)).await;
    let writer = ReadingWriter::prepare(session.clone()).await.unwrap();
    // Ids at both ends of the type too: the first and last ranges are open-ended.
    let ids = [
        i64::MIN,
        -7,
        0,
        1,
        2,
        3,
        2988507,
        2996944,
        3031582,
        i64::MAX,
    ];
    for (i, id) in ids.into_iter().enumerate() {
        let mut r = paris();
        r.city_id = id;
        r.temperature = i as f64;
        writer.write(&r, Utc::now()).await.unwrap();
    }
    // Another country's partition must not leak in.
    let mut elsewhere = paris();
    elsewhere.country = "BE".into();
    elsewhere.city_id = 2800866;
    writer.write(&elsewhere, Utc::now()).await.unwrap();

    let sorted = |mut v: Vec<Reading>| {
        v.sort_by_key(|r| r.city_id);
        v
    };
    let whole = sorted(readings::latest(&session, "FR").await.unwrap());
    assert_eq!(
        whole.iter().map(|r| r.city_id).collect::<Vec<_>>(),
        ids.to_vec()
    );
    let versions = |found: Vec<(i64, Option<chrono::DateTime<Utc>>)>| {
        let mut ids: Vec<i64> = found.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids
    };
    // Split points on ids, between ids, beyond every id, and from the helper.
    for bounds in [
        vec![],
        vec![2],
        vec![-7, 3, 2996944],
        vec![i64::MIN, i64::MAX],
        vec![-1_000_000_000_000, 10, 5_000_000],
        readings::slice_bounds(ids, readings::LATEST_SLICES),
    ] {
        let sliced = sorted(readings::latest_in(&session, "FR", &bounds).await.unwrap());
        assert_eq!(sliced, whole, "bounds {bounds:?}");
        let found = readings::latest_versions(&session, "FR", &bounds)
            .await
            .unwrap();
        assert_eq!(versions(found), ids.to_vec(), "bounds {bounds:?}");
    }
    drop_keyspace(&keyspace).await;
}

/// `--cassandra-dc`: a datacenter the cluster has routes to its nodes; one it does not have
/// is refused at once, naming the datacenters there are (instead of "no nodes available").
#[tokio::test(flavor = "multi_thread")]
async fn the_local_datacenter_must_be_one_the_cluster_has() {
    let plain = session(None).await;
    let rows = meteo::store::rows(
        meteo::store::query(&plain, "SELECT data_center FROM system.local")
            .await
            .unwrap(),
    )
    .unwrap();
    let dc: String = cdrs_tokio::types::IntoRustByIndex::get_r_by_index(&rows[0], 0).unwrap();

    let mut settings = crate::util::cassandra_settings("meteo");
    settings.datacenter = Some(dc.clone());
    let routed = meteo::store::connect(&settings, None).await.unwrap();
    assert!(
        meteo::store::query(&routed, "SELECT release_version FROM system.local")
            .await
            .is_ok()
    );

    settings.datacenter = Some("nowhere".into());
    let err = match meteo::store::connect(&settings, None).await {
        Ok(_) => panic!("connected to a datacenter the cluster does not have"),
        Err(err) => format!("{err:#}"),
    };
    assert!(
        err.contains("has no datacenter nowhere") && err.contains(&format!("in: {dc}")),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// `n` readings of each of `cities` cities, ten minutes apart from yesterday's midnight UTC,
/// oldest first (n <= 144: one UTC day).
fn day_of_readings(cities: &[i64], n: i64) -> Vec<Reading> {
    let midnight = (Utc::now() - Duration::days(1))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let mut out = Vec::new();
    for &city in cities {
        for k in 0..n {
            let mut r = paris();
            r.city_id = city;
            r.observed_at = midnight + Duration::minutes(10 * k);
            r.temperature = k as f64;
            out.push(r);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_of_latest_rows_keeps_each_citys_newest_whatever_the_order() {
    let (keyspace, _) = migrated(&[]);
    let session = session(Some(&keyspace)).await;
    let writer = ReadingWriter::prepare(session.clone()).await.unwrap();
    let all = day_of_readings(&[1, 2, 3], 6);
    let newest: Vec<Reading> = [5, 11, 17].iter().map(|&i| all[i].clone()).collect();
    // One batch in an order where the newest comes first for city 1, last for city 2 and in
    // the middle for city 3; then an older batch after it.
    let order = [5, 0, 3, 1, 2, 4, 6, 7, 8, 9, 10, 11, 12, 13, 17, 14, 15, 16];
    let rows: Vec<&Reading> = order.iter().map(|&i| &all[i]).collect();
    writer
        .write_rows(Table::Latest, natural(rows), Utc::now())
        .await
        .unwrap();
    let older: Vec<&Reading> = [0, 6, 12].iter().map(|&i| &all[i]).collect();
    writer
        .write_rows(Table::Latest, natural(older), Utc::now())
        .await
        .unwrap();

    let mut latest = readings::latest(&session, "FR").await.unwrap();
    latest.sort_by_key(|r| r.city_id);
    assert_eq!(latest, newest, "an older row of a batch won in latest");
    drop_keyspace(&keyspace).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_row_of_a_batch_of_one_readings_partition_is_stored() {
    let (keyspace, _) = migrated(&[]);
    let session = session(Some(&keyspace)).await;
    let writer = ReadingWriter::prepare(session.clone()).await.unwrap();
    // 100 observations 10 minutes apart: one day, more rows than a batch takes.
    let day = day_of_readings(&[7], 100);
    // The plan's batches of that partition, as the consumer writes them.
    let batches = grouped::plan(&day, grouped::CAPS);
    let history: Vec<_> = batches
        .iter()
        .filter(|b| b.table == Table::Readings)
        .collect();
    assert!(history.len() > 1, "100 rows take more than one batch");
    assert!(history.iter().all(|b| b.rows.len() > 1), "{history:?}");
    for batch in &batches {
        let rows = batch
            .rows
            .iter()
            .map(|&i| (&day[i], meteo::store::precedence::Stamp::natural(&day[i])));
        writer
            .write_rows(batch.table, rows, Utc::now())
            .await
            .unwrap();
    }

    let mut stored = readings::readings_on(&session, 7, day[0].day())
        .await
        .unwrap();
    stored.reverse();
    assert_eq!(stored, day, "oldest first once reversed");
    let latest = readings::latest(&session, "FR").await.unwrap();
    assert_eq!(latest, vec![day[99].clone()]);
    drop_keyspace(&keyspace).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_on_a_missing_keyspace_is_refused_at_once_and_says_to_migrate() {
    let keyspace = crate::util::unique("absent");
    let settings = crate::util::cassandra_settings(&keyspace);
    let started = std::time::Instant::now();
    let err = match meteo::store::connect(&settings, Some(&keyspace)).await {
        Ok(_) => panic!("a session on the missing keyspace {keyspace}"),
        Err(err) => err,
    };
    let took = started.elapsed();
    let missing = err
        .downcast_ref::<meteo::store::MissingKeyspace>()
        .unwrap_or_else(|| panic!("not a missing keyspace: {err:#}"));
    assert_eq!(missing.keyspace, keyspace);
    assert!(format!("{err:#}").contains("meteo migrate"), "{err:#}");
    assert!(took < std::time::Duration::from_secs(2), "took {took:?}");
}

/// Rows with their natural stamps, as a writer without the consumer's memo writes them.
pub fn natural(
    rows: Vec<&Reading>,
) -> impl ExactSizeIterator<Item = (&Reading, meteo::store::precedence::Stamp)> {
    rows.into_iter()
        .map(|r| (r, meteo::store::precedence::Stamp::natural(r)))
}

/// The partition tokens meteo routes its writes by are Cassandra's own: `token()` of the
/// partition key of `readings` (composite), `latest` (text) and `city_countries` (bigint).
#[tokio::test(flavor = "multi_thread")]
async fn the_tokens_meteo_routes_by_are_the_ones_cassandra_computes() {
    use cdrs_tokio::types::IntoRustByIndex;
    let (keyspace, _) = migrated(&[]);
    let session = session(Some(&keyspace)).await;
    let writer = ReadingWriter::prepare(session.clone()).await.unwrap();
    // Cities over three days, in countries of one, two and three letters of other alphabets.
    let mut written = Vec::new();
    for (i, country) in ["FR", "US", "Ü", "日本", "X"].iter().enumerate() {
        for days_ago in 0..3 {
            let mut r = paris();
            r.city_id = 2_988_507 + i as i64 * 1_000_003 - days_ago;
            r.country = country.to_string();
            r.observed_at -= Duration::days(days_ago);
            writer.write(&r, Utc::now()).await.unwrap();
            written.push(r);
        }
    }
    let routed_before = meteo::store::routing::counts();

    for r in &written {
        let cql = format!(
            "SELECT token(city_id, day) FROM readings WHERE city_id = {} AND day = '{}'",
            r.city_id,
            r.day()
        );
        let rows = meteo::store::rows(meteo::store::query(&session, &cql).await.unwrap()).unwrap();
        let token: i64 = rows[0].get_r_by_index(0).unwrap();
        assert_eq!(
            readings::readings_token(r.city_id, r.day()).value,
            token,
            "readings partition ({}, {})",
            r.city_id,
            r.day()
        );
    }
    let rows = meteo::store::rows(
        meteo::store::query(
            &session,
            "SELECT DISTINCT country, token(country) FROM latest",
        )
        .await
        .unwrap(),
    )
    .unwrap();
    assert_eq!(rows.len(), 5);
    for row in &rows {
        let country: String = row.get_r_by_index(0).unwrap();
        let token: i64 = row.get_r_by_index(1).unwrap();
        assert_eq!(
            readings::latest_token(&country).value,
            token,
            "latest partition {country}"
        );
    }
    let rows = meteo::store::rows(
        meteo::store::query(
            &session,
            "SELECT DISTINCT city_id, token(city_id) FROM city_countries",
        )
        .await
        .unwrap(),
    )
    .unwrap();
    assert_eq!(rows.len(), written.len());
    for row in &rows {
        let city_id: i64 = row.get_r_by_index(0).unwrap();
        let token: i64 = row.get_r_by_index(1).unwrap();
        assert_eq!(
            readings::city_countries_token(city_id).value,
            token,
            "city_countries partition {city_id}"
        );
    }
    // One node holds every partition: each write request counted went to a replica (other
    // tests of this process count too, and on this node they all do as well).
    assert!(
        routed_before.requests >= 2 * written.len() as u64,
        "{routed_before:?}"
    );
    assert_eq!(routed_before.to_replica, routed_before.requests);
    drop_keyspace(&keyspace).await;
}
