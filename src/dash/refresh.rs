//! The background task that reads Cassandra for the dashboard, and the [`Update`]s and
//! [`Request`]s it exchanges with the event loop over channels.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use super::city::{City, Point};
use crate::model::Reading;
use crate::store::readings::Stored;
use crate::store::{self, readings, CassandraSession, CassandraSettings};

/// How far back the chart goes.
pub const HISTORY: chrono::Duration = chrono::Duration::hours(24);

/// Where readings come from: Cassandra in the product, a stand-in in unit tests.
pub trait Source: Send {
    /// The newest reading of every city of `country`.
    fn latest(
        &mut self,
        country: &str,
    ) -> impl Future<Output = anyhow::Result<Vec<Reading>>> + Send;
    /// Like [`Source::latest`], but may answer with only what changed since this source's
    /// previous answer, so that a refresh with little new copies little.
    fn latest_changes(
        &mut self,
        country: &str,
    ) -> impl Future<Output = anyhow::Result<Latest>> + Send {
        async move {
            let found = self.latest(country).await?;
            Ok(Latest::All(found.into_iter().map(Stored::from).collect()))
        }
    }
    /// One city's readings of the last [`HISTORY`], in any order.
    fn history(
        &mut self,
        city_id: i64,
    ) -> impl Future<Output = anyhow::Result<Vec<Reading>>> + Send;
}

/// The answer of [`Source::latest_changes`]: rows as stored, NULL columns noted.
#[derive(Debug, Clone, PartialEq)]
pub enum Latest {
    /// Every city's newest reading.
    All(Vec<Stored>),
    /// The readings new or newer since the previous answer, and the cities gone since.
    Changes {
        changed: Vec<Stored>,
        removed: Vec<i64>,
    },
}

/// What the refresh task sends to the loop.
#[derive(Debug, Clone)]
pub enum Update {
    /// One read of the `latest` partition.
    Latest {
        at: DateTime<Utc>,
        result: Result<Vec<City>, Failure>,
    },
    /// One read of the `latest` partition, as what changed since the read before: cities
    /// new or with a new reading, and cities gone. Both empty when nothing changed.
    LatestChanges {
        at: DateTime<Utc>,
        changed: Vec<City>,
        removed: Vec<i64>,
    },
    /// One city's last 24 hours, oldest first.
    History {
        city_id: i64,
        result: Result<Vec<Point>, String>,
    },
}

/// Why a read of `latest` failed, as the screen tells it.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// Cassandra answers, but the keyspace is not there: `meteo migrate` has not run.
    NoKeyspace(String),
    /// Anything else: Cassandra does not answer, refuses the login, ...
    Down(String),
}

impl Failure {
    fn of(err: &anyhow::Error) -> Failure {
        match err.downcast_ref::<crate::store::MissingKeyspace>() {
            Some(missing) => Failure::NoKeyspace(format!(
                "keyspace {} does not exist: run meteo migrate",
                missing.keyspace
            )),
            None => Failure::Down(format!("{err:#}")),
        }
    }

    pub fn text(&self) -> &str {
        match self {
            Failure::NoKeyspace(text) | Failure::Down(text) => text,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text())
    }
}

impl From<&str> for Failure {
    fn from(text: &str) -> Self {
        Failure::Down(text.to_string())
    }
}

/// What the loop asks of the refresh task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Read `latest` now rather than at the next tick.
    Latest,
    /// Read this city's last 24 hours.
    History(i64),
}

/// Cassandra, connected lazily and again after any failure, so a node that was down at start
/// or restarted later is picked up at the next refresh.
///
/// A read with no answer within the settings' `read_timeout` goes to the next node too (the
/// session's speculative execution). A session whose control connection was on a node that
/// died may be left with no node to ask (cdrs-tokio 9 re-reads the topology from another node
/// and then counts every node as unknown): its reads fail at once, and the read runs again on
/// a spare session, connected ahead of need with its contact points in another order, so its
/// control connection is on another node. Connecting anew at that moment would take most of a
/// second.
///
/// After the first read, a refresh reads only `city_id` and `observed_at` of the partition (in
/// [`readings::LATEST_SLICES`] ranges at once), then the whole rows of the cities whose
/// observation changed: with 20,000 cities and nothing new, that is a small fraction of the
/// work of reading and decoding every column of every row.
pub struct CassandraSource {
    settings: CassandraSettings,
    session: Option<Arc<CassandraSession>>,
    /// The session's contact points start at `nodes[rotation]`; the spare's at the next.
    rotation: usize,
    /// The spare session, connecting (again every [`SPARE_RETRY`] until it succeeds) or
    /// connected; `None` with a single contact point.
    spare: Option<tokio::task::JoinHandle<Arc<CassandraSession>>>,
    /// The rows read so far, by city, for the country of the last refresh.
    known: HashMap<i64, Stored>,
    known_country: String,
}

/// How long the spare session waits before connecting again after it could not.
const SPARE_RETRY: Duration = Duration::from_secs(5);

/// A read that failed within this long met a refusal or a closed connection, not silence.
const QUICK_FAILURE: std::time::Duration = std::time::Duration::from_secs(2);

impl CassandraSource {
    pub fn new(settings: CassandraSettings) -> Self {
        Self {
            settings,
            session: None,
            rotation: 0,
            spare: None,
            known: HashMap::new(),
            known_country: String::new(),
        }
    }

    async fn session(&mut self) -> anyhow::Result<Arc<CassandraSession>> {
        if let Some(session) = &self.session {
            return Ok(session.clone());
        }
        // A missing keyspace comes back as `store::MissingKeyspace`, told apart by the screen.
        let settings = rotated(&self.settings, self.rotation);
        let keyspace = settings.keyspace.as_str();
        let session = store::connect(&settings, Some(keyspace)).await?;
        self.session = Some(session.clone());
        Ok(session)
    }

    /// Starts connecting the spare session, unless it is under way, done, or pointless (one
    /// contact point: the spare's control connection would be on the same node).
    fn prepare_spare(&mut self) {
        if self.spare.is_some() || self.settings.nodes.len() < 2 {
            return;
        }
        let settings = rotated(&self.settings, self.rotation + 1);
        self.spare = Some(tokio::spawn(async move {
            let keyspace = settings.keyspace.as_str();
            loop {
                match store::connect(&settings, Some(keyspace)).await {
                    Ok(session) => return session,
                    Err(_) => tokio::time::sleep(SPARE_RETRY).await,
                }
            }
        }));
    }

    /// The spare session in place of the session, or `None` when it is not connected (yet):
    /// a new session then does as well as waiting for it.
    async fn promote_spare(&mut self) -> Option<Arc<CassandraSession>> {
        if !self.spare.as_ref()?.is_finished() {
            return None;
        }
        let spare = self.spare.take()?.await.ok()?;
        self.rotation += 1;
        self.session = Some(spare.clone());
        Some(spare)
    }

    /// Runs `read` on the session. A read that fails at once (a node that died under it) runs
    /// again (a read changes nothing): on the spare session, then on a new session, which
    /// starts from the contact points that accept a connection, so a node of several that died
    /// is left out, whatever the old session's view of the cluster. A read that failed slowly
    /// (silence) is not tried again, so the screen says DOWN without waiting twice. A failure
    /// drops the session, so the next call reconnects.
    async fn with_session<T, F, Fut>(&mut self, read: F) -> anyhow::Result<T>
    where
        F: Fn(Arc<CassandraSession>) -> Fut,
        Fut: Future<Output = anyhow::Result<T>>,
    {
        let session = self.session().await?;
        self.prepare_spare();
        let started = tokio::time::Instant::now();
        let mut result = read(session).await;
        if result.is_ok() {
            return result;
        }
        self.session = None;
        for attempt in [Attempt::Spare, Attempt::New] {
            if started.elapsed() > QUICK_FAILURE {
                return result;
            }
            let session = match attempt {
                Attempt::Spare => self.promote_spare().await,
                Attempt::New => self.session().await.ok(),
            };
            let Some(session) = session else {
                continue;
            };
            result = read(session).await;
            if result.is_ok() {
                self.prepare_spare();
                return result;
            }
            self.session = None;
        }
        result
    }
}

/// Where a read that failed at once runs again.
#[derive(Clone, Copy)]
enum Attempt {
    /// The spare session, connected ahead.
    Spare,
    /// A session connected now.
    New,
}

impl Drop for CassandraSource {
    fn drop(&mut self) {
        if let Some(spare) = &self.spare {
            spare.abort();
        }
    }
}

/// `settings` with the contact points starting at the `by`-th (modulo their number): a session
/// opens its control connection on the first that answers.
fn rotated(settings: &CassandraSettings, by: usize) -> CassandraSettings {
    let mut settings = settings.clone();
    if !settings.nodes.is_empty() {
        let by = by % settings.nodes.len();
        settings.nodes.rotate_left(by);
    }
    settings
}

impl Source for CassandraSource {
    async fn latest(&mut self, country: &str) -> anyhow::Result<Vec<Reading>> {
        // Whole readings only: a row with a NULL required column is an error here; the
        // dashboard reads through `latest_changes`, which keeps such rows.
        if let Latest::All(found) = self.latest_changes(country).await? {
            return found.into_iter().map(Stored::into_reading).collect();
        }
        self.known
            .values()
            .cloned()
            .map(Stored::into_reading)
            .collect()
    }

    /// Brings [`Self::known`] up to date with the partition, and says what changed.
    async fn latest_changes(&mut self, country: &str) -> anyhow::Result<Latest> {
        if self.known_country != country {
            self.known.clear();
            self.known_country = country.to_string();
        }
        if self.known.is_empty() {
            // Nothing to compare with yet: one read of every column beats two.
            let found = self
                .with_session(|s| async move { readings::latest_stored_in(&s, country, &[]).await })
                .await?;
            self.known = found
                .iter()
                .map(|r| (r.reading.city_id, r.clone()))
                .collect();
            return Ok(Latest::All(found));
        }
        let bounds = readings::slice_bounds(self.known.keys().copied(), readings::LATEST_SLICES);
        let bounds = &bounds;
        let versions = self
            .with_session(|s| async move { readings::latest_versions(&s, country, bounds).await })
            .await?;
        let stale: Vec<i64> = versions
            .iter()
            .filter(|(id, observed_at)| {
                self.known
                    .get(id)
                    .is_none_or(|r| r.observed_at() != *observed_at)
            })
            .map(|(id, _)| *id)
            .collect();
        let mut changed = Vec::new();
        if !stale.is_empty() {
            let stale = &stale;
            changed = self
                .with_session(
                    |s| async move { readings::latest_stored_of(&s, country, stale).await },
                )
                .await?;
            for row in &changed {
                self.known.insert(row.reading.city_id, row.clone());
            }
        }
        // Cities no longer in the partition go too. Every id read is known by now, so equal
        // counts mean none went.
        let mut removed = Vec::new();
        if self.known.len() != versions.len() {
            let present: HashSet<i64> = versions.iter().map(|(id, _)| *id).collect();
            removed = self
                .known
                .keys()
                .filter(|id| !present.contains(id))
                .copied()
                .collect();
            for id in &removed {
                self.known.remove(id);
            }
        }
        Ok(Latest::Changes { changed, removed })
    }

    async fn history(&mut self, city_id: i64) -> anyhow::Result<Vec<Reading>> {
        let since = Utc::now() - HISTORY;
        self.with_session(|s| async move { readings::history(&s, city_id, since).await })
            .await
    }
}

/// One refresh of `latest`, as the update the UI loop takes.
pub async fn latest_update<S: Source>(source: &mut S, country: &str) -> Update {
    let result = source.latest_changes(country).await;
    let at = Utc::now();
    match result {
        Ok(Latest::All(found)) => Update::Latest {
            at,
            result: Ok(found.into_iter().map(City::stored).collect()),
        },
        Ok(Latest::Changes { changed, removed }) => Update::LatestChanges {
            at,
            changed: changed.into_iter().map(City::stored).collect(),
            removed,
        },
        Err(e) => Update::Latest {
            at,
            result: Err(Failure::of(&e)),
        },
    }
}

/// Reads `latest` every `every` and on [`Request::Latest`], a city's history on
/// [`Request::History`], and sends what it found (or why it failed) as [`Update`]s. It runs
/// beside the event loop, so the screen never waits on Cassandra, and a dropped connection
/// becomes an update carrying the error, never a crash. Requests
/// that pile up while a read is slow are merged: one `latest`, the last city asked for.
/// Returns when `shutdown` completes or the loop hangs up.
pub async fn run<S: Source>(
    mut source: S,
    country: String,
    every: Duration,
    mut requests: mpsc::UnboundedReceiver<Request>,
    updates: mpsc::UnboundedSender<Update>,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let mut ticker = tokio::time::interval(every);
    // After a slow read, wait a whole period again rather than firing the missed ticks at once.
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let mut asked = tokio::select! {
            () = &mut shutdown => return,
            _ = ticker.tick() => vec![Request::Latest],
            request = requests.recv() => match request {
                Some(request) => vec![request],
                None => return,
            },
        };
        while let Ok(request) = requests.try_recv() {
            asked.push(request);
        }
        let want_latest = asked.contains(&Request::Latest);
        let want_history = asked.iter().rev().find_map(|r| match r {
            Request::History(id) => Some(*id),
            Request::Latest => None,
        });
        if want_latest {
            // A refresh asked for now restarts the period.
            ticker.reset();
            let update = tokio::select! {
                () = &mut shutdown => return,
                update = latest_update(&mut source, &country) => update,
            };
            if updates.send(update).is_err() {
                return;
            }
        }
        if let Some(city_id) = want_history {
            let result = tokio::select! {
                () = &mut shutdown => return,
                result = source.history(city_id) => result,
            };
            let result = result
                .map(|mut found| {
                    found.sort_by_key(|r| r.observed_at);
                    found.iter().map(Point::from_reading).collect()
                })
                .map_err(|e| format!("{e:#}"));
            if updates.send(Update::History { city_id, result }).is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dash::fixtures::reading;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Answers from memory; fails while `down` is set; counts reads. With `steady`, only
    /// the first answer is news.
    #[derive(Clone, Default)]
    struct Fake {
        down: Arc<std::sync::atomic::AtomicBool>,
        steady: bool,
        reads: Arc<AtomicUsize>,
    }

    impl Source for Fake {
        async fn latest(&mut self, country: &str) -> anyhow::Result<Vec<Reading>> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                anyhow::bail!("Cassandra at h:1 did not answer");
            }
            assert_eq!(country, "FR");
            Ok(vec![
                reading(1, "Paris", 7.0, 1),
                reading(2, "Lyon", 9.0, 1),
            ])
        }

        async fn latest_changes(&mut self, country: &str) -> anyhow::Result<Latest> {
            let found = self.latest(country).await?;
            Ok(if self.steady && self.reads.load(Ordering::SeqCst) > 1 {
                Latest::Changes {
                    changed: vec![],
                    removed: vec![],
                }
            } else {
                Latest::All(found.into_iter().map(Stored::from).collect())
            })
        }

        async fn history(&mut self, city_id: i64) -> anyhow::Result<Vec<Reading>> {
            Ok(vec![
                reading(city_id, "x", 5.0, 10),
                reading(city_id, "x", 6.0, 70),
            ])
        }
    }

    /// The refresh period; the tests run on tokio's paused clock, so periods pass at once.
    const PERIOD: Duration = Duration::from_secs(5);

    fn start(
        fake: Fake,
    ) -> (
        mpsc::UnboundedSender<Request>,
        mpsc::UnboundedReceiver<Update>,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let (req_tx, req_rx) = mpsc::unbounded_channel();
        let (upd_tx, upd_rx) = mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run(fake, "FR".into(), PERIOD, req_rx, upd_tx, async {
            let _ = stop_rx.await;
        }));
        (req_tx, upd_rx, stop_tx, task)
    }

    #[test]
    fn the_spare_session_starts_from_another_contact_point() {
        let keyspace = crate::store::Keyspace::parse("k").unwrap();
        let nodes = vec!["a:1".to_string(), "b:1".into(), "c:1".into()];
        let settings = CassandraSettings::new(nodes, keyspace);
        assert_eq!(rotated(&settings, 0).nodes, ["a:1", "b:1", "c:1"]);
        assert_eq!(rotated(&settings, 1).nodes, ["b:1", "c:1", "a:1"]);
        assert_eq!(rotated(&settings, 4).nodes, ["b:1", "c:1", "a:1"]);
        let one = CassandraSettings::new(vec!["a:1".into()], settings.keyspace.clone());
        assert_eq!(rotated(&one, 5).nodes, ["a:1"]);
    }

    #[tokio::test(start_paused = true)]
    async fn latest_is_read_at_start_and_then_every_period() {
        let fake = Fake::default();
        let (_req, mut updates, stop, task) = start(fake.clone());
        let first = updates.recv().await.unwrap();
        assert!(matches!(first, Update::Latest { result: Ok(ref c), .. } if c.len() == 2));
        tokio::time::sleep(PERIOD / 2).await;
        assert_eq!(fake.reads.load(Ordering::SeqCst), 1);
        updates.recv().await.unwrap();
        assert_eq!(fake.reads.load(Ordering::SeqCst), 2);
        stop.send(()).unwrap();
        task.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_that_finds_nothing_new_sends_no_cities() {
        let fake = Fake {
            steady: true,
            ..Fake::default()
        };
        let (_req, mut updates, _stop, _task) = start(fake);
        let first = updates.recv().await.unwrap();
        assert!(matches!(first, Update::Latest { result: Ok(ref c), .. } if c.len() == 2));
        for _ in 0..2 {
            let next = updates.recv().await.unwrap();
            assert!(
                matches!(&next, Update::LatestChanges { changed, removed, .. } if changed.is_empty() && removed.is_empty()),
                "{next:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_source_is_reported_and_retried_until_it_answers() {
        let fake = Fake::default();
        fake.down.store(true, Ordering::SeqCst);
        let (_req, mut updates, _stop, _task) = start(fake.clone());
        for _ in 0..2 {
            match updates.recv().await.unwrap() {
                Update::Latest { result: Err(e), .. } => {
                    assert!(e.text().contains("h:1"), "{e:?}")
                }
                other => panic!("{other:?}"),
            }
        }
        fake.down.store(false, Ordering::SeqCst);
        assert!(matches!(
            updates.recv().await.unwrap(),
            Update::Latest { result: Ok(_), .. }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn history_requests_are_merged_and_answered_oldest_first() {
        let (requests, mut updates, _stop, _task) = start(Fake::default());
        updates.recv().await.unwrap();
        requests.send(Request::History(1)).unwrap();
        requests.send(Request::History(2)).unwrap();
        match updates.recv().await.unwrap() {
            Update::History {
                city_id,
                result: Ok(points),
            } => {
                assert_eq!(city_id, 2);
                assert!(points[0].at < points[1].at);
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_task_ends_when_the_loop_hangs_up() {
        let (requests, updates, _stop, task) = start(Fake::default());
        drop(requests);
        drop(updates);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .unwrap()
            .unwrap();
    }
}
