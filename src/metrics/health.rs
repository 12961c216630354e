//! Liveness and readiness: what the probes and the engine told, and the pure rules that turn
//! it into `/healthz` and `/readyz` answers (200, or 503 with a one-line reason).

use std::time::{Duration, Instant};

use super::Role;

/// A loop that beats (the consumer's, four times a second) and has not for this long is
/// taken for stuck.
pub const BEAT_STALE: Duration = Duration::from_secs(30);

/// Kafka metadata older than this is not fresh: the producer is not ready.
pub const METADATA_STALE: Duration = Duration::from_secs(30);

/// The last Kafka metadata the producer received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub answered_at: Instant,
    /// The readings topic was in it.
    pub topic_present: bool,
}

/// What is known of the process's health; updated by the engine and the probes.
#[derive(Debug, Clone)]
pub struct Checks {
    /// The engine's loop runs (set when it starts, cleared when it returns).
    pub running: bool,
    /// The loop's last beat, for loops that beat.
    pub last_beat: Option<Instant>,
    /// Consumer: partitions assigned to this member at the last look.
    pub partitions: Option<usize>,
    /// Consumer: the last Cassandra check, and its error.
    pub cassandra: Option<Result<(), String>>,
    /// Producer: the last metadata Kafka answered with, and the last error since.
    pub metadata: Option<Metadata>,
    pub metadata_error: Option<String>,
    /// The readings topic, for the reasons.
    pub topic: String,
}

impl Checks {
    pub fn new(topic: &str) -> Self {
        Self {
            running: false,
            last_beat: None,
            partitions: None,
            cassandra: None,
            metadata: None,
            metadata_error: None,
            topic: topic.to_string(),
        }
    }
}

/// `/healthz`: the engine's loop runs and, if it beats, beat lately.
pub fn liveness(checks: &Checks, now: Instant) -> Result<(), String> {
    if !checks.running {
        return Err("the engine's loop is not running".into());
    }
    match checks.last_beat {
        Some(beat) if now.saturating_duration_since(beat) > BEAT_STALE => Err(format!(
            "the engine's loop has not turned for {} s",
            now.saturating_duration_since(beat).as_secs()
        )),
        _ => Ok(()),
    }
}

/// `/readyz`: the command can do its work now.
pub fn readiness(role: Role, checks: &Checks, now: Instant) -> Result<(), String> {
    liveness(checks, now)?;
    match role {
        Role::Consume => consumer_ready(checks),
        Role::Produce => producer_ready(checks, now),
    }
}

fn consumer_ready(checks: &Checks) -> Result<(), String> {
    match &checks.cassandra {
        None => return Err("Cassandra not checked yet".into()),
        Some(Err(err)) => return Err(format!("Cassandra does not answer: {err}")),
        Some(Ok(())) => {}
    }
    match checks.partitions {
        Some(n) if n > 0 => Ok(()),
        _ => Err("no partition assigned (waiting for the consumer group)".into()),
    }
}

fn producer_ready(checks: &Checks, now: Instant) -> Result<(), String> {
    let why = |prefix: String| match &checks.metadata_error {
        Some(err) => format!("{prefix}: {err}"),
        None => prefix,
    };
    let Some(metadata) = &checks.metadata else {
        return Err(why("no Kafka metadata yet".into()));
    };
    let age = now.saturating_duration_since(metadata.answered_at);
    if age > METADATA_STALE {
        return Err(why(format!("Kafka metadata is {} s old", age.as_secs())));
    }
    if !metadata.topic_present {
        return Err(format!(
            "topic {} does not exist on Kafka (run `meteo migrate`)",
            checks.topic
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn running() -> Checks {
        Checks {
            running: true,
            ..Checks::new("weather.current")
        }
    }

    #[test]
    fn a_stopped_or_stuck_loop_is_not_alive() {
        let now = Instant::now();
        assert_eq!(
            liveness(&Checks::new("t"), now).unwrap_err(),
            "the engine's loop is not running"
        );
        let mut checks = running();
        assert!(liveness(&checks, now).is_ok(), "a loop that does not beat");
        checks.last_beat = Some(now);
        assert!(liveness(&checks, now + BEAT_STALE).is_ok());
        assert_eq!(
            liveness(&checks, now + Duration::from_secs(31)).unwrap_err(),
            "the engine's loop has not turned for 31 s"
        );
    }

    #[test]
    fn a_consumer_is_ready_with_partitions_and_cassandra_answering() {
        let now = Instant::now();
        let mut checks = running();
        let reason = |c: &Checks| readiness(Role::Consume, c, now).unwrap_err();
        assert_eq!(reason(&checks), "Cassandra not checked yet");
        checks.cassandra = Some(Ok(()));
        assert_eq!(
            reason(&checks),
            "no partition assigned (waiting for the consumer group)"
        );
        checks.partitions = Some(0);
        assert!(reason(&checks).starts_with("no partition assigned"));
        checks.partitions = Some(3);
        assert!(readiness(Role::Consume, &checks, now).is_ok());
        checks.cassandra = Some(Err("connection refused".into()));
        assert_eq!(
            reason(&checks),
            "Cassandra does not answer: connection refused"
        );
    }

    #[test]
    fn a_producer_is_ready_with_fresh_metadata_naming_the_topic() {
        let now = Instant::now();
        let mut checks = running();
        let reason = |c: &Checks, at| readiness(Role::Produce, c, at).unwrap_err();
        assert_eq!(reason(&checks, now), "no Kafka metadata yet");
        checks.metadata_error = Some("Kafka at k:9092 did not answer".into());
        assert_eq!(
            reason(&checks, now),
            "no Kafka metadata yet: Kafka at k:9092 did not answer"
        );
        checks.metadata = Some(Metadata {
            answered_at: now,
            topic_present: true,
        });
        assert!(readiness(Role::Produce, &checks, now).is_ok());
        assert_eq!(
            reason(&checks, now + Duration::from_secs(45)),
            "Kafka metadata is 45 s old: Kafka at k:9092 did not answer"
        );
        checks.metadata = Some(Metadata {
            answered_at: now,
            topic_present: false,
        });
        assert_eq!(
            reason(&checks, now),
            "topic weather.current does not exist on Kafka (run `meteo migrate`)"
        );
        checks.running = false;
        assert_eq!(reason(&checks, now), "the engine's loop is not running");
    }
}
