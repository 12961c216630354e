//! The producer against an API that keeps refusing (429) or cannot be reached: sweeps that end
//! in seconds, and an outage said once, reminded, and said back.

use super::*;

/// The error of a call that reached no server.
pub(super) fn unreachable() -> ApiError {
    ApiError::Unreachable {
        detail: "host not found (http://api.invalid/data/2.5/weather)".into(),
    }
}

/// `n` of the same failure, for a city that keeps failing.
fn failing(ids: std::ops::RangeInclusive<i64>, error: ApiError) -> Vec<(i64, Vec<ApiError>)> {
    ids.map(|id| (id, vec![error.clone(); 100])).collect()
}

/// How many calls each city got, at most.
fn most_calls_of_a_city(calls: &[(i64, Duration)]) -> usize {
    let mut per_city: HashMap<i64, usize> = HashMap::new();
    for (id, _) in calls {
        *per_city.entry(*id).or_default() += 1;
    }
    per_city.into_values().max().unwrap_or(0)
}

#[tokio::test(start_paused = true)]
async fn a_sweep_under_a_lasting_429_ends_soon_with_every_city_failed_and_why() {
    let limited = ApiError::RateLimited {
        retry_after: Some(Duration::from_secs(3)),
    };
    let source = Scripted::new(failing(1..=40, limited), &[]);
    let (publisher, mut received) = Channel::new(false);
    let (_trigger, shutdown) = Shutdown::manual();
    let source_dyn: Arc<dyn ReadingSource> = source.clone();
    let started = Instant::now();
    let sweep = run(
        producer(source_dyn, publisher, cities(40), Some(PLAN), true),
        shutdown,
    );
    let report = tokio::time::timeout(Duration::from_secs(3600), sweep)
        .await
        .expect("the sweep is still going after an hour");

    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{:?}",
        started.elapsed()
    );
    assert!(drain(&mut received).is_empty());
    assert_eq!(report.failed.len(), 40, "{}", report.summary());
    for (_, _, why) in &report.failed {
        assert!(why.contains("HTTP 429"), "{why}");
    }
    assert!(
        most_calls_of_a_city(&source.calls()) <= 3,
        "{:?}",
        source.calls()
    );
    let stopped = report.stopped.as_deref().unwrap_or_default();
    assert!(stopped.contains("HTTP 429"), "{}", report.summary());
}

#[tokio::test(start_paused = true)]
async fn a_sweep_against_an_unreachable_api_ends_in_seconds_after_a_few_calls() {
    let source = Scripted::new(failing(1..=126, unreachable()), &[]);
    let (publisher, _received) = Channel::new(false);
    let (_trigger, shutdown) = Shutdown::manual();
    let source_dyn: Arc<dyn ReadingSource> = source.clone();
    let started = Instant::now();
    let sweep = run(
        producer(source_dyn, publisher, cities(126), Some(PLAN), true),
        shutdown,
    );
    let report = tokio::time::timeout(Duration::from_secs(3600), sweep)
        .await
        .expect("the sweep is still going after an hour");

    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // The first calls, then one probe at a time.
    let calls = source.calls().len();
    assert!(calls <= MAX_CALLS_IN_FLIGHT + 2, "{calls} calls");
    assert_eq!(report.failed.len(), 126, "{}", report.summary());
    assert!(report
        .failed
        .iter()
        .all(|(_, _, why)| why.contains("host not found")));
    let stopped = report.stopped.as_deref().unwrap_or_default();
    assert!(
        stopped.contains("cannot be reached"),
        "{}",
        report.summary()
    );
}

/// What the loop logs, while the returned guard lives (on this thread: the paused-time tests
/// run every task on it).
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Log {
    fn capture() -> (Log, tracing::subscriber::DefaultGuard) {
        let log = Log::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        (log, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// Lines holding `needle`.
    fn count(&self, needle: &str) -> usize {
        self.text().lines().filter(|l| l.contains(needle)).count()
    }
}

impl std::io::Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_api_is_said_once_reminded_each_minute_and_said_back() {
    let (log, _guard) = Log::capture();
    let down = Duration::from_secs(5 * 60);
    let source = Scripted::down_for(down);
    let (publisher, mut received) = Channel::new(false);
    let (trigger, shutdown) = Shutdown::manual();
    let source_dyn: Arc<dyn ReadingSource> = source.clone();
    let running = tokio::spawn(run(
        producer(source_dyn, publisher, cities(3), Some(PLAN), false),
        shutdown,
    ));
    tokio::time::sleep(down + Duration::from_secs(120)).await;
    trigger.stop();
    let report = running.await.unwrap();
    let text = log.text();

    assert_eq!(log.count("weather API unreachable"), 1, "{text}");
    // One reminder a minute, at the calls of the probes that follow it (1 s to 60 s apart).
    let reminders = log.count("weather API still unreachable");
    assert!((3..=5).contains(&reminders), "{reminders}\n{text}");
    assert_eq!(log.count("weather API answers again"), 1, "{text}");
    // No line per failed call.
    assert_eq!(log.count("retrying this city"), 0, "{text}");
    assert_eq!(log.count("every call paused"), 0, "{text}");
    // The calls were few, and every city was read once it answered.
    let failed = source.calls().iter().filter(|(_, at)| *at < down).count();
    assert!(failed < 15, "{failed} calls during the outage");
    let mut published: Vec<i64> = drain(&mut received).iter().map(|r| r.city_id).collect();
    published.sort();
    published.dedup();
    assert_eq!(published, [1, 2, 3], "{}", report.summary());
}
