//! Writes that outlast a Cassandra outage: each reading retried until Cassandra takes it, and
//! what Cassandra acknowledged just before an outage written again once it answers.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::{FuturesUnordered, StreamExt};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::grouped::{self, Batch, CAPS};
use super::precedence::{Decision, Memo, Stamp, MEMO_RECORDS};
use crate::backoff::Backoff;
use crate::model::Reading;

/// Longest pause between two write attempts while Cassandra does not answer.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);

/// Requests written (attempts, retries included) and their time: waiting for a permit, then
/// under way. Under way over the wall time is the mean number of requests in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteTimings {
    pub requests: u64,
    pub waiting: Duration,
    pub under_way: Duration,
}

#[derive(Default)]
struct Timings {
    requests: std::sync::atomic::AtomicU64,
    waiting_ns: std::sync::atomic::AtomicU64,
    under_way_ns: std::sync::atomic::AtomicU64,
}

impl Timings {
    fn add(&self, waiting: Duration, under_way: Duration) {
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.waiting_ns.fetch_add(nanos(waiting), Ordering::Relaxed);
        self.under_way_ns
            .fetch_add(nanos(under_way), Ordering::Relaxed);
    }

    fn read(&self) -> WriteTimings {
        WriteTimings {
            requests: self.requests.load(Ordering::Relaxed),
            waiting: Duration::from_nanos(self.waiting_ns.load(Ordering::Relaxed)),
            under_way: Duration::from_nanos(self.under_way_ns.load(Ordering::Relaxed)),
        }
    }
}

/// Writes acknowledged this long before an outage are written again after it: Cassandra's
/// default `commitlog_sync_period` (10 s, what a machine crash can lose; a process crash
/// loses the last ~100 ms, the commit log marker period), plus a margin.
const REWRITE_WINDOW: Duration = Duration::from_secs(12);

/// At most this many recent readings are kept for that (about 1 KB each).
const REWRITE_MAX: usize = 20_000;

/// How many of the newest groups kept are looked at for the one a write belongs to: more than
/// the groups a consumer has in flight at once.
const GROUPS_LOOKED_BACK: usize = 16;

/// Writes failing this long get a new connection, and again at most this often while they
/// keep failing: the driver's own reconnection may never come back (see
/// [`ReconnectingWriter`](super::reconnecting::ReconnectingWriter)).
const RECONNECT_EVERY: Duration = Duration::from_secs(4);

/// A group of readings with the stamp decided for each ([`Memo`]): every request and retry
/// that writes one of them uses its stamp.
#[derive(Debug, Default)]
pub struct Stamped {
    pub readings: Vec<Reading>,
    pub stamps: Vec<Stamp>,
}

/// Where readings are written: the tables ([`ReconnectingWriter`]); the retry logic's unit
/// tests put a sink that fails on demand in its place.
///
/// [`ReconnectingWriter`]: super::reconnecting::ReconnectingWriter
pub trait ReadingSink: Send + Sync {
    /// Writes the rows of `batch` (one partition of one table) as one request, each with its
    /// stamp; idempotent, so writing it again changes nothing.
    fn write_batch(
        &self,
        group: &Stamped,
        batch: &Batch,
        ingested_at: DateTime<Utc>,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;

    /// Replaces the connection with a new one; called while writes keep failing.
    fn reconnect(&self) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// Writes readings until Cassandra takes them. Shared through `Arc` by every write in flight.
///
/// A group of readings goes as one request per partition ([`grouped::plan`]), at most
/// `max_requests` requests in flight over all groups; a failed request is retried whole.
///
/// An acknowledged write is not yet on disk: with Cassandra's default periodic commit log, a
/// node that dies (crash, `kill -9`, OOM killer) restarts without the writes it acknowledged
/// in its last moments, and their offsets may be committed already. So the readings written
/// shortly before an outage are kept ([`RecentWrites`]) and written again when Cassandra
/// answers again.
///
/// Each reading's write timestamp is decided once, before its requests, by the writer's
/// [`Memo`]: two different records that would share one get different ones, or the outranked
/// one is not written (see [`super::precedence`]). The memo outlives new connections.
pub struct DurableWriter<W> {
    sink: W,
    memo: Mutex<Memo>,
    health: WriteHealth,
    recent: RecentWrites,
    requests: Semaphore,
    timings: Timings,
    /// When the last new connection was tried; one try at a time.
    reconnected_at: tokio::sync::Mutex<Option<Instant>>,
}

impl<W: ReadingSink> DurableWriter<W> {
    pub fn new(sink: W, max_requests: usize) -> Self {
        Self {
            sink,
            memo: Mutex::new(Memo::new(MEMO_RECORDS)),
            health: WriteHealth::default(),
            recent: RecentWrites::new(REWRITE_WINDOW, REWRITE_MAX),
            requests: Semaphore::new(max_requests.max(1)),
            timings: Timings::default(),
            reconnected_at: tokio::sync::Mutex::new(None),
        }
    }

    /// Where the requests' time went so far: waiting for one of the `max_requests` permits,
    /// then under way (for the consumer's closing line).
    pub fn timings(&self) -> WriteTimings {
        self.timings.read()
    }

    /// Whether Cassandra is failing writes now (the consumer pauses fetching meanwhile).
    pub fn is_down(&self) -> bool {
        self.health.is_down()
    }

    /// Writes every reading to both tables, rows sharing a partition together, each request
    /// retried with backoff until Cassandra takes it; returns once all are stored. The writes
    /// are idempotent, so a retry after a write that did land changes nothing. The first write
    /// that succeeds after an outage first writes again what was acknowledged just before it.
    pub async fn write_all_until_stored(&self, readings: Vec<Reading>) {
        let readings = Arc::new(self.stamp(readings));
        if readings.readings.is_empty() {
            return;
        }
        let ingested_at = Utc::now();
        let mut writes: FuturesUnordered<_> = grouped::plan(&readings.readings, CAPS)
            .into_iter()
            .map(|batch| self.write_batch_until_stored(&readings, batch, ingested_at))
            .collect();
        while writes.next().await.is_some() {}
    }

    /// The readings to write, each with its stamp, in their order; those outranked by a
    /// record written already are left out (they would lose whole).
    fn stamp(&self, readings: Vec<Reading>) -> Stamped {
        let mut memo = lock(&self.memo);
        let mut stamped = Stamped {
            readings: Vec::with_capacity(readings.len()),
            stamps: Vec::with_capacity(readings.len()),
        };
        for r in readings {
            match memo.decide(&r) {
                Decision::Write(stamp) => {
                    stamped.readings.push(r);
                    stamped.stamps.push(stamp);
                }
                Decision::Outranked => {
                    tracing::debug!(
                        city_id = r.city_id,
                        "a record of this observation that outranks this one is written already"
                    );
                }
                Decision::NoRoom => tracing::warn!(
                    city_id = r.city_id,
                    observed_at = %r.observed_at,
                    "over a thousand records of one observation; this one is not written"
                ),
            }
        }
        stamped
    }

    async fn write_batch_until_stored(
        &self,
        readings: &Arc<Stamped>,
        batch: Batch,
        ingested_at: DateTime<Utc>,
    ) {
        let mut backoff = write_backoff();
        loop {
            let written = {
                let asked = Instant::now();
                // Never closed: acquiring only waits for a request to finish.
                let _permit = self.requests.acquire().await;
                let sent = Instant::now();
                // Boxed once it may run: unboxed, the driver's request state (kilobytes) would
                // sit in every batch waiting for a permit, and a live group plans thousands.
                let written = Box::pin(self.sink.write_batch(readings, &batch, ingested_at)).await;
                self.timings.add(sent - asked, sent.elapsed());
                written
            };
            match written {
                Ok(()) => {
                    if let Some(outage) = self.health.mark_up() {
                        if outage.relapse {
                            tracing::debug!("Cassandra answers again after a relapse");
                        } else {
                            tracing::info!(
                                seconds = outage.length.as_secs(),
                                "Cassandra answers again; writing resumed"
                            );
                        }
                        // Boxed as the write above: requests of their own.
                        Box::pin(self.write_again_suspects()).await;
                    }
                    self.recent.written(readings, self.health.is_down());
                    return;
                }
                Err(err) => {
                    let began = self.health.mark_down();
                    if began.is_some() {
                        self.recent.outage_began();
                    }
                    match began {
                        Some(Began::Outage) => tracing::warn!(
                            error = %format!("{err:#}"),
                            "Cassandra write failed; pausing the topic and retrying until it answers"
                        ),
                        Some(Began::Relapse) => tracing::debug!(
                            error = %format!("{err:#}"),
                            "writes failing again just after the outage; retrying"
                        ),
                        None => {}
                    }
                    // Boxed as the write above: a new session is a large future.
                    Box::pin(self.reconnect_if_due()).await;
                    backoff.wait().await;
                }
            }
        }
    }

    /// Tries a new connection when writes have failed for [`RECONNECT_EVERY`] and none was
    /// tried that recently; the other writes meanwhile go on retrying on the old one.
    async fn reconnect_if_due(&self) {
        let Ok(mut reconnected_at) = self.reconnected_at.try_lock() else {
            return;
        };
        let now = Instant::now();
        let last = reconnected_at.map_or(self.health.down_since(), |at| {
            at.max(self.health.down_since())
        });
        if now.duration_since(last) < RECONNECT_EVERY {
            return;
        }
        *reconnected_at = Some(now);
        match self.sink.reconnect().await {
            Ok(()) => tracing::info!("connected to Cassandra again with a new session"),
            Err(err) => {
                tracing::debug!(error = %format!("{err:#}"), "new Cassandra session failed")
            }
        }
    }

    /// Writes again, each until Cassandra takes it, the readings acknowledged just before the
    /// outage that just ended.
    async fn write_again_suspects(&self) {
        let suspects = self.recent.take_suspects();
        let ingested_at = Utc::now();
        for group in &suspects {
            for batch in grouped::plan(&group.readings, CAPS) {
                let mut backoff = write_backoff();
                while let Err(err) = self.sink.write_batch(group, &batch, ingested_at).await {
                    tracing::debug!(error = %format!("{err:#}"), "writing again failed; retrying");
                    backoff.wait().await;
                }
            }
        }
        let readings: usize = suspects.iter().map(|g| g.readings.len()).sum();
        if readings > 0 {
            tracing::info!(
                readings,
                "wrote again the readings acknowledged just before the outage"
            );
        }
    }
}

/// From 100 ms up to [`MAX_RETRY_DELAY`] between two write attempts.
fn write_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(100), MAX_RETRY_DELAY)
}

/// Failures this soon after an outage ended belong to it: nodes that just came back are not
/// yet seen up by the others (a coordinator times out writes waiting for them), so a quorum
/// may fail for a few seconds more. Logged at debug, not as a new outage.
const RELAPSE_WITHIN: Duration = Duration::from_secs(30);

/// How a run of failed writes began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Began {
    Outage,
    /// Within [`RELAPSE_WITHIN`] of the end of the last outage.
    Relapse,
}

/// An outage that ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ended {
    length: Duration,
    relapse: bool,
}

/// Whether Cassandra answers writes; shared by every write in flight. The transitions are
/// seen by exactly one caller, so an outage is logged once when it starts and once when it
/// ends, not once per record.
#[derive(Debug, Default)]
struct WriteHealth {
    down: AtomicBool,
    since: Mutex<Option<Instant>>,
    relapse: AtomicBool,
    answered_at: Mutex<Option<Instant>>,
}

impl WriteHealth {
    /// Marks Cassandra down; how it began, for the caller that saw it go down.
    fn mark_down(&self) -> Option<Began> {
        if self.down.swap(true, Ordering::SeqCst) {
            return None;
        }
        let now = Instant::now();
        *lock(&self.since) = Some(now);
        let relapse = lock(&self.answered_at)
            .is_some_and(|answered| now.duration_since(answered) < RELAPSE_WITHIN);
        self.relapse.store(relapse, Ordering::SeqCst);
        Some(if relapse {
            Began::Relapse
        } else {
            Began::Outage
        })
    }

    /// Marks Cassandra up; the outage that ended, for the caller that saw it come back.
    fn mark_up(&self) -> Option<Ended> {
        if !self.down.swap(false, Ordering::SeqCst) {
            return None;
        }
        let since = lock(&self.since).take();
        *lock(&self.answered_at) = Some(Instant::now());
        Some(Ended {
            length: since.map_or(Duration::ZERO, |s| s.elapsed()),
            relapse: self.relapse.load(Ordering::SeqCst),
        })
    }

    fn is_down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }

    /// When the current outage began (now when there is none).
    fn down_since(&self) -> Instant {
        lock(&self.since).unwrap_or_else(Instant::now)
    }
}

/// A panic while holding one of these locks leaves consistent data (plain stores, pushes and
/// drains), so a poisoned lock is used as it is.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The readings Cassandra acknowledged recently, and those acknowledged shortly before the
/// current outage began (the suspects, written again once it ends). Kept as the groups they
/// were written in, shared with the writes: a reading is never copied for this.
struct RecentWrites {
    window: Duration,
    max: usize,
    state: Mutex<RecentState>,
}

#[derive(Default)]
struct RecentState {
    recent: VecDeque<(Instant, Arc<Stamped>)>,
    /// Readings in `recent`.
    kept: usize,
    suspects: Vec<Arc<Stamped>>,
}

impl RecentWrites {
    fn new(window: Duration, max: usize) -> Self {
        Self {
            window,
            max,
            state: Mutex::new(RecentState::default()),
        }
    }

    /// A write of (part of) `group` was acknowledged. `outage` says whether an outage has
    /// begun meanwhile: a write acknowledged just before the failure that another task saw
    /// first is a suspect too.
    fn written(&self, group: &Arc<Stamped>, outage: bool) {
        let mut state = lock(&self.state);
        if outage {
            if !state.suspects.iter().any(|s| Arc::ptr_eq(s, group)) {
                state.suspects.push(group.clone());
            }
            return;
        }
        let now = Instant::now();
        // Another batch of a group in flight (they are few): its time moves to the newest
        // acknowledgement, and its readings are counted once.
        if let Some(entry) = state
            .recent
            .iter_mut()
            .rev()
            .take(GROUPS_LOOKED_BACK)
            .find(|(_, kept)| Arc::ptr_eq(kept, group))
        {
            entry.0 = now;
            return;
        }
        while let Some((at, front)) = state.recent.front() {
            let old = now.duration_since(*at) > self.window;
            if !old && state.kept + group.readings.len() <= self.max {
                break;
            }
            state.kept -= front.readings.len();
            state.recent.pop_front();
        }
        state.kept += group.readings.len();
        state.recent.push_back((now, group.clone()));
    }

    /// The first write failure of an outage: what was acknowledged within the window becomes
    /// suspect.
    fn outage_began(&self) {
        let mut state = lock(&self.state);
        let now = Instant::now();
        let recent: Vec<Arc<Stamped>> = state
            .recent
            .drain(..)
            .filter(|(at, _)| now.duration_since(*at) <= self.window)
            .map(|(_, r)| r)
            .collect();
        state.kept = 0;
        for group in recent {
            if !state.suspects.iter().any(|s| Arc::ptr_eq(s, &group)) {
                state.suspects.push(group);
            }
        }
    }

    /// The suspects, to write again now that the outage is over.
    fn take_suspects(&self) -> Vec<Arc<Stamped>> {
        std::mem::take(&mut lock(&self.state).suspects)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timings_add_up_each_requests_wait_and_time_under_way() {
        let timings = Timings::default();
        timings.add(Duration::from_millis(3), Duration::from_millis(10));
        timings.add(Duration::ZERO, Duration::from_millis(5));
        assert_eq!(
            timings.read(),
            WriteTimings {
                requests: 2,
                waiting: Duration::from_millis(3),
                under_way: Duration::from_millis(15),
            }
        );
    }

    fn reading(city_id: i64) -> Reading {
        let mut r = Reading::from_json(crate::model::tests::PARIS.as_bytes()).unwrap();
        r.city_id = city_id;
        r
    }

    /// One group of one reading per city.
    fn group(city_ids: &[i64]) -> Arc<Stamped> {
        let readings: Vec<Reading> = city_ids.iter().map(|&id| reading(id)).collect();
        let stamps = readings.iter().map(Stamp::natural).collect();
        Arc::new(Stamped { readings, stamps })
    }

    /// The cities of the suspects, in order.
    fn ids(groups: &[Arc<Stamped>]) -> Vec<i64> {
        groups
            .iter()
            .flat_map(|g| g.readings.iter().map(|r| r.city_id))
            .collect()
    }

    /// Stands in for Cassandra in the retry logic's tests: fails every write while `down`
    /// or while its connection is `stuck` (until a new one is made while not `down`), and
    /// lists the cities of every `readings` batch it took, one list per request.
    #[derive(Default)]
    struct Switchable {
        down: AtomicBool,
        stuck: AtomicBool,
        reconnects: std::sync::atomic::AtomicUsize,
        taken: Mutex<Vec<Vec<i64>>>,
        /// Every request tried: its table and its rows' (description, timestamp).
        tried: Mutex<Vec<Tried>>,
    }

    impl Switchable {
        /// The cities taken, in order.
        fn taken(&self) -> Vec<i64> {
            lock(&self.taken).concat()
        }
    }

    impl ReadingSink for Switchable {
        fn write_batch(
            &self,
            group: &Stamped,
            batch: &Batch,
            _ingested_at: DateTime<Utc>,
        ) -> impl Future<Output = anyhow::Result<()>> + Send {
            let readings = &group.readings;
            let rows = batch.rows.iter().map(|&i| {
                let description = readings[i].weather_description.clone();
                (description.unwrap_or_default(), group.stamps[i].timestamp)
            });
            lock(&self.tried).push((batch.table, rows.collect()));
            let result = if self.down.load(Ordering::SeqCst) {
                Err(anyhow::anyhow!("no answer from Cassandra"))
            } else if self.stuck.load(Ordering::SeqCst) {
                Err(anyhow::anyhow!("No nodes available in query plan!"))
            } else {
                if batch.table == grouped::Table::Readings {
                    let ids = batch.rows.iter().map(|&i| readings[i].city_id).collect();
                    lock(&self.taken).push(ids);
                }
                Ok(())
            };
            async move { result }
        }

        fn reconnect(&self) -> impl Future<Output = anyhow::Result<()>> + Send {
            self.reconnects.fetch_add(1, Ordering::SeqCst);
            let result = if self.down.load(Ordering::SeqCst) {
                Err(anyhow::anyhow!("connection refused"))
            } else {
                self.stuck.store(false, Ordering::SeqCst);
                Ok(())
            };
            async move { result }
        }
    }

    type Tried = (grouped::Table, Vec<(String, i64)>);

    /// A sink whose requests hold a lot of state while they run, as the driver's do.
    struct Bulky;

    /// A request holding 16 KiB across an await.
    async fn bulky_request() -> anyhow::Result<()> {
        let state = [1u8; 16 * 1024];
        tokio::task::yield_now().await;
        anyhow::ensure!(state.iter().all(|&b| b == 1), "state lost");
        Ok(())
    }

    impl ReadingSink for Bulky {
        fn write_batch(
            &self,
            _group: &Stamped,
            _batch: &Batch,
            _ingested_at: DateTime<Utc>,
        ) -> impl Future<Output = anyhow::Result<()>> + Send {
            bulky_request()
        }

        fn reconnect(&self) -> impl Future<Output = anyhow::Result<()>> + Send {
            bulky_request()
        }
    }

    #[test]
    fn a_batch_waiting_for_its_turn_holds_none_of_the_state_of_a_request() {
        // A live group plans thousands of batches at once, and only `max_requests` run: the
        // state of a running request (and of a reconnection) is made only once it runs.
        let writer = DurableWriter::new(Bulky, 8);
        let readings = group(&[1]);
        let batch = Batch {
            table: grouped::Table::Readings,
            rows: vec![0],
        };
        let waiting = writer.write_batch_until_stored(&readings, batch, Utc::now());
        let bytes = std::mem::size_of_val(&waiting);
        assert!(
            bytes < 1024,
            "a batch waiting to be written takes {bytes} bytes"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn writes_that_keep_failing_get_a_new_connection_every_few_seconds() {
        let writer = Arc::new(DurableWriter::new(Switchable::default(), 8));
        writer.sink.down.store(true, Ordering::SeqCst);
        writer.sink.stuck.store(true, Ordering::SeqCst);
        let writes: Vec<_> = (1..=20)
            .map(|id| {
                let writer = writer.clone();
                tokio::spawn(async move { writer.write_all_until_stored(vec![reading(id)]).await })
            })
            .collect();
        // Nothing before the outage is RECONNECT_EVERY old, then one try every RECONNECT_EVERY
        // or so (a try waits for the backoff of its write), however many writes are waiting.
        tokio::time::sleep(RECONNECT_EVERY - Duration::from_millis(100)).await;
        assert_eq!(writer.sink.reconnects.load(Ordering::SeqCst), 0);
        tokio::time::sleep(Duration::from_secs(60)).await;
        let tries = writer.sink.reconnects.load(Ordering::SeqCst) as u64;
        let most = 60 / RECONNECT_EVERY.as_secs() + 1;
        let least = 60 / (RECONNECT_EVERY + MAX_RETRY_DELAY).as_secs();
        assert!(
            (least..=most).contains(&tries),
            "{tries} new connections in 60 s, not {least}..={most}"
        );

        // Cassandra answers, but the old connection never recovers: a new one does.
        writer.sink.down.store(false, Ordering::SeqCst);
        tokio::time::sleep(RECONNECT_EVERY * 2 + MAX_RETRY_DELAY).await;
        for write in writes {
            assert!(write.is_finished());
        }
        assert!(!writer.is_down());
        assert_eq!(writer.sink.taken().len(), 20);
    }

    #[test]
    fn writes_acknowledged_just_before_an_outage_are_written_again_after_it() {
        let recent = RecentWrites::new(Duration::from_secs(60), 100);
        recent.written(&group(&[1]), false);
        recent.written(&group(&[2]), false);
        recent.outage_began();
        // Acknowledged before the failure another task saw: a suspect too.
        recent.written(&group(&[3]), true);
        assert_eq!(ids(&recent.take_suspects()), [1, 2, 3]);
        assert!(recent.take_suspects().is_empty(), "written again once");
        // After the outage, a new one suspects only what came since.
        recent.written(&group(&[4]), false);
        recent.outage_began();
        assert_eq!(ids(&recent.take_suspects()), [4]);
    }

    #[tokio::test(start_paused = true)]
    async fn only_the_window_and_at_most_max_readings_are_kept() {
        let recent = RecentWrites::new(Duration::from_secs(60), 2);
        for id in 1..=5 {
            recent.written(&group(&[id]), false);
        }
        recent.outage_began();
        assert_eq!(ids(&recent.take_suspects()), [4, 5]);
        let recent = RecentWrites::new(Duration::from_secs(10), 100);
        recent.written(&group(&[1]), false);
        tokio::time::advance(Duration::from_secs(11)).await;
        recent.written(&group(&[2]), false);
        recent.outage_began();
        assert_eq!(ids(&recent.take_suspects()), [2]);
    }

    #[test]
    fn an_outage_is_reported_once_when_it_starts_and_once_when_it_ends() {
        let health = WriteHealth::default();
        assert_eq!(health.mark_up(), None);
        assert_eq!(health.mark_down(), Some(Began::Outage));
        assert_eq!(health.mark_down(), None);
        assert!(health.is_down());
        assert!(health.mark_up().is_some_and(|ended| !ended.relapse));
        assert_eq!(health.mark_up(), None);
        assert!(!health.is_down());
    }

    #[tokio::test(start_paused = true)]
    async fn failures_just_after_an_outage_are_a_relapse_of_it_and_later_ones_a_new_outage() {
        let health = WriteHealth::default();
        assert_eq!(health.mark_down(), Some(Began::Outage));
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(health.mark_up().is_some_and(|ended| !ended.relapse));
        // Nodes that just came back: a quorum fails again for a few seconds.
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(health.mark_down(), Some(Began::Relapse));
        assert!(health.mark_up().is_some_and(|ended| ended.relapse));
        tokio::time::advance(RELAPSE_WITHIN).await;
        assert_eq!(health.mark_down(), Some(Began::Outage));
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_waits_out_an_outage_then_the_writes_just_before_it_are_written_again() {
        let writer = Arc::new(DurableWriter::new(Switchable::default(), 8));
        writer.write_all_until_stored(vec![reading(1)]).await;
        assert!(!writer.is_down());

        writer.sink.down.store(true, Ordering::SeqCst);
        let during = tokio::spawn({
            let writer = writer.clone();
            async move { writer.write_all_until_stored(vec![reading(2)]).await }
        });
        // A minute of retries: still waiting, Cassandra reported down.
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(writer.is_down());
        assert!(!during.is_finished());
        assert_eq!(writer.sink.taken(), [1]);

        writer.sink.down.store(false, Ordering::SeqCst);
        during.await.unwrap();
        assert!(!writer.is_down());
        // 2 is taken, and 1 (acknowledged just before the outage) is written again: in either
        // order, as the first of 2's two batches (readings, latest) to succeed ends the outage.
        let mut after = writer.sink.taken().split_off(1);
        after.sort();
        assert_eq!(after, [1, 2]);
        // The outage is over: nothing more is written again.
        writer.write_all_until_stored(vec![reading(3)]).await;
        assert_eq!(writer.sink.taken().len(), 4);
        assert_eq!(writer.sink.taken()[3], 3);
    }

    #[tokio::test(start_paused = true)]
    async fn writes_older_than_the_window_are_not_written_again() {
        let writer = DurableWriter::new(Switchable::default(), 8);
        writer.write_all_until_stored(vec![reading(1)]).await;
        tokio::time::sleep(REWRITE_WINDOW + Duration::from_secs(1)).await;
        writer.sink.down.store(true, Ordering::SeqCst);
        let write = writer.write_all_until_stored(vec![reading(2)]);
        tokio::pin!(write);
        // Fails until the sink is up again; the retries go on meanwhile.
        assert!(tokio::time::timeout(Duration::from_secs(1), &mut write)
            .await
            .is_err());
        writer.sink.down.store(false, Ordering::SeqCst);
        write.await;
        assert_eq!(writer.sink.taken(), [1, 2]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_batch_is_retried_whole_and_the_group_returns_only_once_all_is_stored() {
        let writer = Arc::new(DurableWriter::new(Switchable::default(), 8));
        writer.sink.down.store(true, Ordering::SeqCst);
        // Three readings of one city and day: one batch of readings, one of latest.
        let group: Vec<Reading> = (0..3).map(|_| reading(7)).collect();
        let group: Vec<Reading> = group
            .into_iter()
            .enumerate()
            .map(|(i, mut r)| {
                r.observed_at += chrono::Duration::minutes(10 * i as i64);
                r
            })
            .collect();
        let writing = tokio::spawn({
            let writer = writer.clone();
            async move { writer.write_all_until_stored(group).await }
        });
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert!(!writing.is_finished(), "not stored while Cassandra is down");
        writer.sink.down.store(false, Ordering::SeqCst);
        writing.await.unwrap();
        // The batch went again as it was: the three rows in one request.
        assert_eq!(*lock(&writer.sink.taken), [vec![7, 7, 7]]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_group_kept_for_writing_again_is_counted_once_for_all_its_batches() {
        let recent = RecentWrites::new(Duration::from_secs(60), 4);
        let (a, b) = (group(&[1, 2]), group(&[3, 4]));
        for _ in 0..10 {
            recent.written(&a, false);
            recent.written(&b, false);
        }
        recent.outage_began();
        assert_eq!(
            ids(&recent.take_suspects()),
            [1, 2, 3, 4],
            "neither pushed out"
        );
    }

    /// Two records of one observation whose natural timestamps are equal, the lower-ranked
    /// one first.
    fn tied() -> (Reading, Reading) {
        use super::super::precedence::write_timestamp;
        let a = reading(9);
        let b = (0..100_000)
            .map(|n| {
                let mut b = a.clone();
                b.temperature = 20.0;
                b.weather_description = Some(format!("b {n}"));
                b
            })
            .find(|b| write_timestamp(b) == write_timestamp(&a))
            .unwrap();
        let mut memo = Memo::new(2);
        memo.decide(&a);
        match memo.decide(&b) {
            Decision::Outranked => (b, a),
            _ => (a, b),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn tied_records_of_one_batch_get_their_stamps_once_for_both_tables_and_every_retry() {
        let (low, high) = tied();
        let name = |r: &Reading| r.weather_description.clone().unwrap_or_default();
        let writer = Arc::new(DurableWriter::new(Switchable::default(), 8));
        writer.sink.down.store(true, Ordering::SeqCst);
        let writing = tokio::spawn({
            let writer = writer.clone();
            let group = vec![low.clone(), high.clone()];
            async move { writer.write_all_until_stored(group).await }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        writer.sink.down.store(false, Ordering::SeqCst);
        writing.await.unwrap();
        let tried = lock(&writer.sink.tried).clone();
        assert!(tried.len() > 2, "retried: {tried:?}");
        // Both tables, every attempt: the same rows with the same timestamps, one apart.
        let natural = super::super::precedence::write_timestamp(&low);
        let expected = vec![(name(&low), natural), (name(&high), natural + 1)];
        for (table, rows) in &tried {
            assert_eq!(rows, &expected, "{table:?}");
        }
        // The other order: the outranked one is not written at all, in either table.
        let writer = DurableWriter::new(Switchable::default(), 8);
        writer.write_all_until_stored(vec![high.clone(), low]).await;
        for (table, rows) in lock(&writer.sink.tried).iter() {
            assert_eq!(rows, &vec![(name(&high), natural)], "{table:?}");
        }
    }
}
