//! Three consumers in one group on the cluster, one killed (`kill -9`): its partitions move to
//! the other two within the group's session timeout, and nothing is lost.

use std::time::{Duration, Instant};

use crate::harness::Pipeline;
use crate::util::Background;
use crate::{blocking, flowing};

/// The consumer's `session.timeout.ms` (src/kafka/config.rs): a dead member is noticed then.
const SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// The partitions of the last "partitions assigned" line of a consumer's log (eager
/// rebalancing: each assignment names all the member holds), or None before the first.
fn last_assignment(log: &str) -> Option<Vec<i32>> {
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("partitions assigned"))?;
    let list = line.split("partitions=[").nth(1)?.split(']').next()?;
    Some(
        list.split(',')
            .filter_map(|p| p.trim().parse().ok())
            .collect(),
    )
}

#[test]
fn a_consumers_log_names_its_assignment() {
    let log =
        "x INFO partitions assigned partitions=[0, 1]\ny partitions revoked partitions=[0, 1]\n\
               z INFO meteo::kafka: partitions assigned partitions=[2, 5]\n";
    assert_eq!(last_assignment(log), Some(vec![2, 5]));
    assert_eq!(last_assignment("starting\n"), None);
}

/// Waits until each member holds partitions; their assignments.
async fn settled(pipeline: &Pipeline, others: &[Background]) -> Vec<Vec<i32>> {
    let start = Instant::now();
    loop {
        let logs: Vec<String> = std::iter::once(pipeline.log("consumer"))
            .chain(others.iter().map(Background::stderr))
            .collect();
        let held: Vec<Vec<i32>> = logs
            .iter()
            .filter_map(|l| last_assignment(l))
            .filter(|a| !a.is_empty())
            .collect();
        if held.len() == logs.len() && held.iter().map(Vec::len).sum::<usize>() == 6 {
            return held;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the three members do not share the six partitions after 60 s: {held:?}\n{}",
            logs.join("\n---\n")
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_of_three_consumers_killed_hands_its_partitions_over_within_the_session_timeout() {
    let mut pipeline = flowing().await;
    let mut others: Vec<Background> = (0..2)
        .map(|_| Background::start(pipeline.consumer_command()))
        .collect();
    let assignments = settled(&pipeline, &others).await;
    eprintln!("three members hold {assignments:?}");
    let mut victim = others.remove(0);
    let orphans = last_assignment(&victim.stderr()).unwrap();
    // What the two survivors logged before the kill is not evidence of the handover.
    let seen = (pipeline.log("consumer").len(), others[0].stderr().len());
    victim.signal("KILL");
    let killed_at = Instant::now();
    let moved = loop {
        let mine = last_assignment(&pipeline.log("consumer")[seen.0..]).unwrap_or_default();
        let theirs = last_assignment(&others[0].stderr()[seen.1..]).unwrap_or_default();
        if orphans
            .iter()
            .all(|p| mine.contains(p) || theirs.contains(p))
        {
            break killed_at.elapsed();
        }
        assert!(
            killed_at.elapsed() < SESSION_TIMEOUT + Duration::from_secs(20),
            "partitions {orphans:?} of the killed member not taken over after {:?}\n{}",
            killed_at.elapsed(),
            pipeline.log("consumer")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!(
        "partitions {orphans:?} taken over {:.1} s after the kill",
        moved.as_secs_f64()
    );
    // The group notices the dead member when its session times out, then rebalances: the
    // survivors hear of it at their next heartbeat (2 s).
    assert!(
        moved <= SESSION_TIMEOUT + Duration::from_secs(3),
        "the handover took {moved:?}"
    );
    assert!(victim.wait(Duration::from_secs(5)).is_none(), "killed");
    // The last survivor besides the pipeline's own stops cleanly; then the end check.
    let mut last = others.remove(0);
    last.signal("TERM");
    assert_eq!(
        last.wait(Duration::from_secs(60)),
        Some(0),
        "{}",
        last.stderr()
    );
    blocking(|| std::thread::sleep(Duration::from_secs(1)));
    pipeline.finish().await;
    pipeline.drop_keyspace().await;
}
