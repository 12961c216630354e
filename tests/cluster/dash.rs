//! The dashboard with a Cassandra node down: its refresh task (the one `meteo dash` runs)
//! keeps reading `latest` with no failed read, new readings keep showing, and the snapshot
//! (`meteo dash` with stdout a pipe) prints every city.

use std::time::{Duration, Instant};

use meteo::dash::refresh::{self, CassandraSource, Update};
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
