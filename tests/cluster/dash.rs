//! The dashboard with a Cassandra node down: its refresh task (the one `meteo dash` runs)
//! keeps reading `latest` with no failed read, new readings keep showing, and the snapshot
//! (`meteo dash` with stdout a pipe) prints every city. With a node killed, every refresh at
//! `LOCAL_QUORUM` and at `ONE` takes under a second (these two need only the Cassandra nodes).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use meteo::dash::city::City;
use meteo::dash::refresh::{self, CassandraSource, Update};
use meteo::store::migrations;
use meteo::store::readings::ReadingWriter;
use tokio::sync::{mpsc, oneshot};

use crate::util::{meteo, parsed, run};
use crate::{blocking, flowing, services, Restore, CITIES};

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_keeps_refreshing_with_a_cassandra_node_down() {
    let mut pipeline = flowing().await;
    let (_requests, request_rx) = mpsc::unbounded_channel();
    let (update_tx, mut updates) = mpsc::unbounded_channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(refresh::run(
        CassandraSource::new(dash_settings(&pipeline.keyspace)),
        "FR".into(),
        Duration::from_millis(500),
        request_rx,
        update_tx,
        async {
            let _ = stopped.await;
        },
    ));
    // The dashboard shows the cities before the node dies: this run is about a running
    // dashboard, not one still making its first connection.
    let first = tokio::time::timeout(Duration::from_secs(30), updates.recv())
        .await
        .expect("no first refresh within 30 s")
        .expect("the refresh task ended");
    assert!(
        matches!(first, Update::Latest { result: Ok(_), .. }),
        "the first refresh failed: {first:?}"
    );
    // Node 1: the first contact point, where the driver first connects.
    let _restore = Restore::new("cassandra", &["1"]);
    blocking(|| services(&["kill", "cassandra", "1"]));
    let killed_at = Instant::now();
    let (mut reads, mut new_readings) = (0, 0);
    while killed_at.elapsed() < Duration::from_secs(15) {
        let update = tokio::time::timeout(Duration::from_secs(5), updates.recv())
            .await
            .expect("no refresh for 5 s with one node down")
            .expect("the refresh task ended");
        match update {
            Update::Latest { result: Ok(_), .. } => reads += 1,
            Update::LatestChanges { changed, .. } => {
                reads += 1;
                new_readings += changed.len();
            }
            Update::Latest { result: Err(e), .. } => panic!(
                "a refresh failed {:.1} s after node 1 died: {e:?}",
                killed_at.elapsed().as_secs_f64()
            ),
            Update::History { .. } => {}
        }
    }
    eprintln!("node 1 down: {reads} refreshes in 15 s, {new_readings} new readings shown");
    assert!(reads >= 15, "only {reads} refreshes in 15 s");
    assert!(
        new_readings >= CITIES,
        "only {new_readings} new readings shown"
    );

    let snapshot = blocking(|| {
        let mut cmd = meteo();
        cmd.args(["--keyspace", &pipeline.keyspace, "dash"]);
        run(cmd)
    });
    snapshot.assert_ok();
    assert_eq!(
        snapshot.stdout.lines().count(),
        CITIES + 1,
        "a header and one line per city\n{}",
        snapshot.describe()
    );
    stop.send(()).unwrap();
    task.await.unwrap();
    blocking(|| services(&["up", "cassandra", "1"]));
    pipeline.finish().await;
    pipeline.drop_keyspace().await;
}

/// The Cassandra settings `meteo dash` runs with here: its reads at `LOCAL_ONE`, where a
/// `LOCAL_QUORUM` read may wait for a dead node that the others do not yet see down.
fn dash_settings(keyspace: &str) -> meteo::store::CassandraSettings {
    let cli = parsed(keyspace, "dash");
    let meteo::cli::Command::Dash(args) = cli.command else {
        unreachable!("parsed as dash")
    };
    args.settings(&cli.global).cassandra
}

/// Cities in `latest` for the refresh-time runs: enough that a refresh reads every slice.
const MANY: i64 = 2_000;

/// The slowest refresh allowed with one node of three dead.
const REFRESH_BOUND: Duration = Duration::from_secs(1);

/// How long after the kill refreshes are timed: past the ~19 s the other nodes take to see
/// the dead one down, when the driver stops asking it.
const WATCHED: Duration = Duration::from_secs(25);

#[tokio::test(flavor = "multi_thread")]
async fn with_a_node_killed_every_local_quorum_refresh_takes_under_a_second() {
    refreshes_within_bound_with_node_1_dead("LOCAL_QUORUM").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_a_node_killed_every_one_refresh_takes_under_a_second() {
    refreshes_within_bound_with_node_1_dead("ONE").await;
}

/// Fills `latest` with [`MANY`] cities on a keyspace replicated three times, runs the
/// dashboard's refresh (as `meteo dash --consistency LEVEL` builds it) in a loop, kills node
/// 1 and times every refresh for [`WATCHED`]: each one under [`REFRESH_BOUND`], none failed,
/// every city shown, and readings written after the kill shown too.
async fn refreshes_within_bound_with_node_1_dead(level: &str) {
    blocking(three_cassandra_nodes);
    let keyspace = crate::util::unique("dashnode");
    let writer = filled(&keyspace).await;
    let mut source = CassandraSource::new(dash_settings_at(&keyspace, level));
    let mut shown = HashMap::new();
    let started = Instant::now();
    apply(&mut shown, refresh::latest_update(&mut source, "FR").await);
    eprintln!(
        "{level}: first refresh of {} cities in {:.0} ms",
        shown.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );
    assert_eq!(shown.len(), MANY as usize, "the first refresh");

    let _restore = Restore::new("cassandra", &["1"]);
    blocking(|| services(&["kill", "cassandra", "1"]));
    let killed_at = Instant::now();
    // New readings of a few cities while the node is dead, written beside the refreshes (as
    // the consumer does, on a new session when the one before failed).
    let settings = crate::util::cassandra_settings(&keyspace);
    let writes = tokio::spawn(async move {
        let mut writer = Some(writer);
        let mut written = Vec::new();
        for city_id in 1..=5 {
            tokio::time::sleep(Duration::from_secs(3)).await;
            let newer = crate::util::reading(city_id, 0);
            for _attempt in 0..2 {
                let current = match writer.take() {
                    Some(current) => current,
                    None => match new_writer(&settings).await {
                        Ok(current) => current,
                        Err(e) => {
                            eprintln!("no new session with node 1 dead: {e:#}");
                            continue;
                        }
                    },
                };
                match current.write(&newer, chrono::Utc::now()).await {
                    Ok(()) => {
                        written.push(newer.clone());
                        writer = Some(current);
                        break;
                    }
                    Err(e) => eprintln!("a write with node 1 dead failed: {e:#}"),
                }
            }
        }
        written
    });
    let mut durations = Vec::new();
    while killed_at.elapsed() < WATCHED {
        let started = Instant::now();
        let update = refresh::latest_update(&mut source, "FR").await;
        let took = started.elapsed();
        durations.push((killed_at.elapsed() - took, took));
        if let Update::Latest { result: Err(e), .. } = &update {
            panic!(
                "{level}: a refresh failed {:.1} s after node 1 died: {e:?}",
                killed_at.elapsed().as_secs_f64()
            );
        }
        apply(&mut shown, update);
        assert_eq!(
            shown.len(),
            MANY as usize,
            "{level}: a refresh {:.1} s after the kill shows {} cities",
            killed_at.elapsed().as_secs_f64(),
            shown.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let written = writes.await.expect("the writing task");
    // One more refresh, after the last write, shows it.
    apply(&mut shown, refresh::latest_update(&mut source, "FR").await);
    let slowest = durations
        .iter()
        .map(|(_, took)| *took)
        .max()
        .unwrap_or_default();
    let slow: Vec<String> = durations
        .iter()
        .filter(|(_, took)| *took >= REFRESH_BOUND / 4)
        .map(|(at, took)| format!("{:.1} s: {} ms", at.as_secs_f64(), took.as_millis()))
        .collect();
    eprintln!(
        "{level}, node 1 dead: {} refreshes in {} s, slowest {} ms; {} of {} ms or more \
         (after the kill: duration): {:?}",
        durations.len(),
        WATCHED.as_secs(),
        slowest.as_millis(),
        slow.len(),
        (REFRESH_BOUND / 4).as_millis(),
        slow
    );
    assert!(
        slowest < REFRESH_BOUND,
        "{level}: a refresh took {} ms with one node of three dead; the slow ones (after \
         the kill: duration): {slow:?}",
        slowest.as_millis()
    );
    assert!(
        !written.is_empty(),
        "no reading could be written with node 1 dead"
    );
    for reading in &written {
        let city = shown.get(&reading.city_id).expect("a written city shown");
        assert_eq!(
            city.reading.observed_at, reading.observed_at,
            "{level}: city {} shows an older reading than the one written after the kill",
            reading.city_id
        );
    }
    blocking(|| services(&["up", "cassandra", "1"]));
    crate::util::drop_keyspace(&keyspace).await;
}

/// Fails at once unless the Cassandra nodes are the three of `SERVICES_NODES=3
/// scripts/services`; then waits until each answers and sees the ring. Kafka is not needed.
fn three_cassandra_nodes() {
    assert_eq!(
        std::env::var("SERVICES_NODES").as_deref(),
        Ok("3"),
        "the cluster tests run against SERVICES_NODES=3 scripts/services (see scripts/test)"
    );
    let nodes = std::env::var("CASSANDRA_NODES").unwrap_or_default();
    assert_eq!(
        nodes.split(',').count(),
        3,
        "CASSANDRA_NODES={nodes}: three nodes"
    );
    services(&["wait", "cassandra"]);
}

/// `keyspace` made with replication factor 3 and the project's tables, and [`MANY`] French
/// cities in `latest`; the writer for more.
async fn filled(keyspace: &str) -> ReadingWriter {
    let settings = crate::util::cassandra_settings(keyspace);
    let session = crate::util::session(None).await;
    migrations::ensure_keyspace(
        &session,
        keyspace,
        "{'class': 'NetworkTopologyStrategy', 'dc1': 3}",
    )
    .await
    .expect("creating the keyspace");
    let session = meteo::store::connect_new_keyspace(&settings)
        .await
        .expect("connecting to the new keyspace");
    let files = migrations::load_dir(&crate::util::repo().join("cql")).expect("the cql folder");
    // `applied` makes the table the migrations are recorded in.
    migrations::applied(&session)
        .await
        .expect("schema_migrations");
    for file in &files {
        migrations::apply(&session, file)
            .await
            .expect("a migration");
    }
    let writer = ReadingWriter::prepare(session)
        .await
        .expect("preparing the writes");
    let now = chrono::Utc::now();
    let written: Vec<anyhow::Result<()>> = futures::stream::iter(1..=MANY)
        .map(|city_id| {
            let writer = &writer;
            async move { writer.write(&crate::util::reading(city_id, 30), now).await }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    for result in written {
        result.expect("filling latest");
    }
    writer
}

/// A writer on a new session to `settings`' keyspace.
async fn new_writer(settings: &meteo::store::CassandraSettings) -> anyhow::Result<ReadingWriter> {
    let session = meteo::store::connect(settings, Some(settings.keyspace.as_str())).await?;
    ReadingWriter::prepare(session).await
}

/// What the dashboard shows after `update`, by city, as its event loop keeps it.
fn apply(shown: &mut HashMap<i64, City>, update: Update) {
    match update {
        Update::Latest {
            result: Ok(cities), ..
        } => {
            *shown = cities.into_iter().map(|c| (c.reading.city_id, c)).collect();
        }
        Update::LatestChanges {
            changed, removed, ..
        } => {
            for id in removed {
                shown.remove(&id);
            }
            for city in changed {
                shown.insert(city.reading.city_id, city);
            }
        }
        Update::Latest { result: Err(e), .. } => panic!("a refresh failed: {e:?}"),
        Update::History { .. } => {}
    }
}

/// The Cassandra settings of `meteo dash --consistency LEVEL` here.
fn dash_settings_at(keyspace: &str, level: &str) -> meteo::store::CassandraSettings {
    let nodes = crate::util::cassandra_nodes();
    let cli = meteo::cli::Cli::checked_from([
        "meteo",
        "--cassandra",
        &nodes,
        "--keyspace",
        keyspace,
        "dash",
        "--consistency",
        level,
    ])
    .unwrap_or_else(|e| panic!("dash --consistency {level}: {e}"));
    let meteo::cli::Command::Dash(args) = cli.command else {
        unreachable!("parsed as dash")
    };
    args.settings(&cli.global).cassandra
}
