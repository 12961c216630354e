//! `meteo consume` against the real Kafka and Cassandra (stored once, dead letters, no loss
//! across signals or a dying member), and its consumer loop in-process (drain, commits).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use meteo::kafka::consumer::{self, ConsumerOptions, RecordView, Summary};
use meteo::model::Reading;
use meteo::shutdown::{Shutdown, Trigger};
use meteo::store::readings;
use rdkafka::message::{Headers, Message};

use crate::util::{
    count_readings, drop_keyspace, eventually, kafka_settings, message, meteo, migrated, produce,
    read_topic, reading, run, session, unique, Background, KeyValue,
};

pub fn consume(keyspace: &str, topic: &str, group: &str, extra: &[&str]) -> std::process::Command {
    let mut cmd = meteo();
    cmd.args([
        "--keyspace",
        keyspace,
        "--topic",
        topic,
        "consume",
        "--group",
        group,
    ])
    .args(extra);
    cmd
}

/// The value of `key=` in the last log line that has it.
pub fn logged_number(stderr: &str, key: &str) -> Option<u64> {
    stderr.lines().rev().find_map(|line| {
        let start = line.find(&format!("{key}="))? + key.len() + 1;
        line[start..]
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn every_reading_is_stored_once_and_latest_holds_each_citys_newest() {
    let (keyspace, topic) = migrated(&[]);
    // 8 cities x 5 observations; the newest first, then the older ones, then repeats.
    let mut sent: Vec<Reading> = Vec::new();
    for city in 1..=8 {
        for minutes_ago in [0, 10, 20, 30, 40] {
            sent.push(reading(city, minutes_ago));
        }
    }
    let mut messages: Vec<_> = sent.iter().map(message).collect();
    messages.extend(sent.iter().filter(|r| r.city_id % 2 == 0).map(message));
    produce(&topic, &messages).await;

    let run = run(consume(
        &keyspace,
        &topic,
        &unique("g"),
        &["--until-idle", "3s"],
    ));
    run.assert_ok();
    assert_eq!(
        logged_number(&run.stderr, "consumed"),
        Some(messages.len() as u64),
        "{}",
        run.describe()
    );
    assert_eq!(
        logged_number(&run.stderr, "dead_lettered"),
        Some(0),
        "{}",
        run.describe()
    );

    let session = session(Some(&keyspace)).await;
    assert_eq!(count_readings(&session).await, sent.len() as i64);
    for city in 1..=8 {
        let mut expected: Vec<Reading> =
            sent.iter().filter(|r| r.city_id == city).cloned().collect();
        expected.sort_by_key(|r| std::cmp::Reverse(r.observed_at));
        let mut stored = Vec::new();
        for day in expected
            .iter()
            .map(Reading::day)
            .collect::<std::collections::BTreeSet<_>>()
        {
            stored.extend(readings::readings_on(&session, city, day).await.unwrap());
        }
        stored.sort_by_key(|r| std::cmp::Reverse(r.observed_at));
        assert_eq!(stored, expected, "city {city}");
    }
    let latest: BTreeMap<i64, Reading> = readings::latest(&session, "FR")
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.city_id, r))
        .collect();
    assert_eq!(latest.len(), 8);
    for city in 1..=8 {
        assert_eq!(latest[&city], reading(city, 0), "latest of city {city}");
    }
    drop_keyspace(&keyspace).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn poison_records_go_to_the_dead_letter_topic_and_the_rest_is_stored() {
    let (keyspace, topic) = migrated(&[]);
    let corpus = crate::poison::corpus(&reading(7, 0));
    let reasons = crate::poison::reasons(&corpus);
    let poison: Vec<(&str, KeyValue)> = corpus.into_iter().map(|p| (p.what, p.record)).collect();
    // Interleave: valid readings of other cities between every poison record.
    let mut records = Vec::new();
    let mut valid_sent = Vec::new();
    for (i, (_, record)) in poison.iter().enumerate() {
        let good = reading(100 + i as i64, 0);
        records.push(message(&good));
        valid_sent.push(good);
        records.push(record.clone());
    }
    produce(&topic, &records).await;

    let run = run(consume(
        &keyspace,
        &topic,
        &unique("g"),
        &["--until-idle", "3s"],
    ));
    run.assert_ok();
    assert_eq!(
        logged_number(&run.stderr, "dead_lettered"),
        Some(poison.len() as u64),
        "{}",
        run.describe()
    );

    let session = session(Some(&keyspace)).await;
    assert_eq!(count_readings(&session).await, valid_sent.len() as i64);

    let dead = read_topic(&format!("{topic}.dlq"), poison.len()).await;
    let mut by_value: HashMap<KeyValue, HashMap<String, String>> = HashMap::new();
    for m in &dead {
        let mut headers = HashMap::new();
        for h in m.headers().unwrap().iter() {
            headers.insert(
                h.key.to_string(),
                String::from_utf8_lossy(h.value.unwrap()).into_owned(),
            );
        }
        by_value.insert(
            (m.key().map(<[u8]>::to_vec), m.payload().map(<[u8]>::to_vec)),
            headers,
        );
    }
    for (what, record) in &poison {
        // Kafka does not distinguish an empty value from a missing one on every path.
        let found = by_value
            .get(record)
            .or_else(|| {
                by_value
                    .get(&(record.0.clone(), Some(Vec::new())))
                    .filter(|_| record.1.is_none())
            })
            .or_else(|| {
                by_value
                    .get(&(record.0.clone(), None))
                    .filter(|_| record.1.as_deref() == Some(&[]))
            })
            .unwrap_or_else(|| panic!("{what}: not in the dead-letter topic unchanged"));
        assert!(!found["meteo.error"].is_empty(), "{what}");
        if let Some(reason) = reasons.get(record) {
            let error = &found["meteo.error"];
            assert!(error.starts_with(reason), "{what}: {error}");
        }
        assert_eq!(found["meteo.topic"], topic, "{what}");
        assert!(found["meteo.partition"].parse::<i32>().is_ok(), "{what}");
        assert!(found["meteo.offset"].parse::<i64>().is_ok(), "{what}");
    }
    drop_keyspace(&keyspace).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_exits_cleanly_and_a_restart_re_reads_nothing_committed() {
    let (keyspace, topic) = migrated(&[]);
    let sent: Vec<Reading> = (1..=300).map(|i| reading(i, i % 7)).collect();
    produce(&topic, &sent.iter().map(message).collect::<Vec<_>>()).await;
    let group = unique("g");
    let mut child = Background::start(consume(&keyspace, &topic, &group, &[]));
    let session = session(Some(&keyspace)).await;
    eventually(Duration::from_secs(60), "all rows", || {
        let session = session.clone();
        async move { count_readings(&session).await == 300 }
    })
    .await;
    child.signal("TERM");
    let code = child.wait(Duration::from_secs(15));
    assert_eq!(code, Some(0), "{}", child.stderr());

    let again = run(consume(&keyspace, &topic, &group, &["--until-idle", "2s"]));
    again.assert_ok();
    assert_eq!(
        logged_number(&again.stderr, "consumed"),
        Some(0),
        "{}",
        again.describe()
    );
    drop_keyspace(&keyspace).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_consumer_killed_mid_stream_loses_nothing_after_a_restart() {
    let (keyspace, topic) = migrated(&[]);
    let sent: Vec<Reading> = (1..=400)
        .flat_map(|city| (0..5).map(move |m| reading(city, m * 10)))
        .collect();
    produce(&topic, &sent.iter().map(message).collect::<Vec<_>>()).await;
    let group = unique("g");
    let session = session(Some(&keyspace)).await;
    let mut child = Background::start(consume(&keyspace, &topic, &group, &["--concurrency", "4"]));
    eventually(Duration::from_secs(60), "some rows", || {
        let session = session.clone();
        async move { count_readings(&session).await > 100 }
    })
    .await;
    child.signal("KILL");
    assert_eq!(
        child.wait(Duration::from_secs(5)),
        None,
        "killed by a signal"
    );
    let before = count_readings(&session).await;
    assert!(
        before < sent.len() as i64,
        "the kill came too late to test anything"
    );

    run(consume(&keyspace, &topic, &group, &["--until-idle", "3s"])).assert_ok();
    assert_eq!(count_readings(&session).await, sent.len() as i64);
    drop_keyspace(&keyspace).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_consumers_in_a_group_lose_nothing_when_one_dies() {
    let (keyspace, topic) = migrated(&[]);
    let group = unique("g");
    let mut first = Background::start(consume(&keyspace, &topic, &group, &["--concurrency", "4"]));
    let mut second = Background::start(consume(&keyspace, &topic, &group, &["--concurrency", "4"]));
    let sent: Vec<Reading> = (1..=500)
        .flat_map(|city| (0..4).map(move |m| reading(city, m * 10)))
        .collect();
    produce(&topic, &sent.iter().map(message).collect::<Vec<_>>()).await;
    let session = session(Some(&keyspace)).await;
    eventually(Duration::from_secs(60), "some rows", || {
        let session = session.clone();
        async move { count_readings(&session).await > 200 }
    })
    .await;
    first.signal("KILL");
    assert_eq!(first.wait(Duration::from_secs(5)), None);
    let expected = sent.len() as i64;
    eventually(
        Duration::from_secs(90),
        "every row after the rebalance",
        || {
            let session = session.clone();
            async move { count_readings(&session).await == expected }
        },
    )
    .await;
    second.signal("TERM");
    let code = second.wait(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{}", second.stderr());
    drop_keyspace(&keyspace).await;
}

#[test]
fn a_missing_topic_or_keyspace_says_to_run_migrate() {
    let mut cmd = meteo();
    cmd.args([
        "--keyspace",
        &unique("absent"),
        "consume",
        "--until-idle",
        "1s",
    ]);
    run(cmd).assert_fails_with(&["does not exist", "meteo migrate"]);
    let (keyspace, _) = migrated(&[]);
    let mut cmd = meteo();
    cmd.args([
        "--keyspace",
        &keyspace,
        "--topic",
        &unique("absent"),
        "consume",
        "--until-idle",
        "1s",
    ]);
    run(cmd).assert_fails_with(&["does not exist", "meteo migrate"]);
}

/// How the in-process runs of the consumer loop below run: ending when the topic is idle for
/// `until_idle`, if given, and waiting at most 1 s for records in flight at a stop.
fn loop_options(group: &str, until_idle: Option<Duration>) -> ConsumerOptions {
    ConsumerOptions {
        group: group.to_string(),
        max_in_flight: 64,
        max_groups: 2,
        max_messages: None,
        until_idle,
        drain_timeout: Duration::from_secs(1),
        stats_every: Duration::from_secs(60),
    }
}

/// Reads `topic` in `group` until it is idle for 3 s: how many records the group had not
/// committed yet.
async fn uncommitted(topic: &str, group: &str) -> u64 {
    let (settings, options) = (
        kafka_settings(topic),
        loop_options(group, Some(Duration::from_secs(3))),
    );
    tokio::spawn(async move {
        consumer::run(
            &settings,
            &options,
            || false,
            |_: &RecordView<'_>| Ok(()),
            |_: Vec<()>| async {},
            std::future::pending(),
        )
        .await
    })
    .await
    .unwrap()
    .unwrap()
    .consumed
}

/// Runs the consumer loop on `topic` in `group` until `stop` comes, which it triggers once
/// every one of `count` records was fetched; records whose value starts with `poison` are
/// rejected, the rest stored by `store`, which gets each group's offsets. What the run did.
async fn run_until_all_fetched<F>(
    topic: &str,
    group: &str,
    count: usize,
    (trigger, stop): (Trigger, Shutdown),
    store: impl Fn(Vec<i64>) -> F + Send + Sync + 'static,
) -> Summary
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let fetched = Arc::new(AtomicUsize::new(0));
    let decode = {
        let fetched = fetched.clone();
        move |record: &RecordView<'_>| {
            fetched.fetch_add(1, Ordering::SeqCst);
            match record.value {
                Some(v) if v.starts_with(b"poison") => Err("poison".to_string()),
                _ => Ok(record.offset),
            }
        }
    };
    let (settings, options) = (kafka_settings(topic), loop_options(group, None));
    let running = tokio::spawn(async move {
        consumer::run(&settings, &options, || false, decode, store, stop.wait()).await
    });
    eventually(Duration::from_secs(60), "every record fetched", || {
        let fetched = fetched.load(Ordering::SeqCst);
        async move { fetched == count }
    })
    .await;
    trigger.stop();
    running.await.unwrap().unwrap()
}

/// A fresh topic (and no keyspace: these runs write nothing to Cassandra).
async fn fresh_topic() -> String {
    let (keyspace, topic) = migrated(&[]);
    drop_keyspace(&keyspace).await;
    topic
}

#[tokio::test(flavor = "multi_thread")]
async fn records_in_flight_at_a_stop_are_settled_by_the_drain_and_committed() {
    let topic = fresh_topic().await;
    let mut records: Vec<KeyValue> = (1..=6).map(|city| message(&reading(city, 0))).collect();
    for i in 0..3 {
        records.push((
            Some(b"7".to_vec()),
            Some(format!("poison {i}").into_bytes()),
        ));
    }
    produce(&topic, &records).await;
    let group = unique("g");

    // Every group is still being stored when the stop comes and finishes a moment after it:
    // the loop has stopped by then, so only the drain can settle them.
    let (trigger, stop) = Shutdown::manual();
    let store = {
        let stop = stop.clone();
        move |_: Vec<i64>| {
            let stop = stop.clone();
            async move {
                stop.wait().await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let summary = run_until_all_fetched(&topic, &group, 9, (trigger, stop), store).await;
    assert_eq!(
        summary,
        Summary {
            consumed: 9,
            stored: 6,
            dead_lettered: 3
        }
    );
    let dead = read_topic(&format!("{topic}.dlq"), 3).await;
    assert!(dead
        .iter()
        .all(|m| m.payload().is_some_and(|v| v.starts_with(b"poison"))));
    assert_eq!(uncommitted(&topic, &group).await, 0, "all committed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_that_never_finishes_holds_back_its_partitions_offset() {
    let topic = fresh_topic().await;
    // One city, one key: one partition, offsets 0 to 9 in order.
    let records: Vec<KeyValue> = (0..10).map(|m| message(&reading(1, m))).collect();
    produce(&topic, &records).await;
    let group = unique("g");

    // The group holding offset 3 never finishes; every other group is stored at once.
    let stuck_from = Arc::new(AtomicUsize::new(usize::MAX));
    let store = {
        let stuck_from = stuck_from.clone();
        move |offsets: Vec<i64>| {
            let stuck_from = stuck_from.clone();
            async move {
                if offsets.contains(&3) {
                    stuck_from.store(offsets[0] as usize, Ordering::SeqCst);
                    std::future::pending::<()>().await;
                }
            }
        }
    };
    let summary = run_until_all_fetched(&topic, &group, 10, Shutdown::manual(), store).await;
    // The stuck group starts at or before 3 and holds every record of it.
    let stuck_from = stuck_from.load(Ordering::SeqCst) as u64;
    assert!(stuck_from <= 3, "{stuck_from}");
    assert_eq!(summary.consumed, 10);
    assert_eq!(summary.dead_lettered, 0);
    assert!(
        summary.stored <= 9 && summary.stored >= stuck_from,
        "{summary:?}"
    );
    // Stored offsets stop below the stuck group: the next run reads it and what follows.
    assert_eq!(uncommitted(&topic, &group).await, 10 - stuck_from);
}
