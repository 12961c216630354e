//! A service's outage told once (the weather API's, Kafka's): a warning when it starts, a
//! reminder each minute while it lasts, a line when the service answers again. Pure: the
//! caller passes the time.

use std::time::Duration;

use tokio::time::Instant;

/// How often a lasting outage is told again.
pub const REMIND_EVERY: Duration = Duration::from_secs(60);

/// Whether a service is out, and since when.
#[derive(Debug, Default)]
pub struct Outages {
    current: Option<Outage>,
}

#[derive(Debug, Clone, Copy)]
struct Outage {
    since: Instant,
    told_at: Instant,
    /// Failures since it was last told.
    untold_calls: u64,
}

/// What to tell of a failure to reach the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tell {
    /// The outage starts.
    Started,
    /// It lasts; a reminder is due.
    StillDown { down_for: Duration, calls: u64 },
    /// Told recently enough.
    Nothing,
}

impl Outages {
    /// The service could not be reached at `now`.
    pub fn unreachable(&mut self, now: Instant) -> Tell {
        let Some(outage) = &mut self.current else {
            self.current = Some(Outage {
                since: now,
                told_at: now,
                untold_calls: 0,
            });
            return Tell::Started;
        };
        outage.untold_calls += 1;
        if now.duration_since(outage.told_at) < REMIND_EVERY {
            return Tell::Nothing;
        }
        let calls = std::mem::take(&mut outage.untold_calls);
        outage.told_at = now;
        Tell::StillDown {
            down_for: now.duration_since(outage.since),
            calls,
        }
    }

    /// When the current outage began, if one is under way.
    pub fn since(&self) -> Option<Instant> {
        self.current.map(|o| o.since)
    }

    /// The service answered at `now` (whatever it said): how long it was out, if it was.
    pub fn answered(&mut self, now: Instant) -> Option<Duration> {
        self.current
            .take()
            .map(|outage| now.duration_since(outage.since))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn an_outage_is_told_once_then_each_minute_with_the_calls_between() {
        let start = Instant::now();
        let mut outage = Outages::default();
        assert_eq!(outage.unreachable(start), Tell::Started);
        for at in [1, 3, 7, 15, 31] {
            assert_eq!(outage.unreachable(start + S(at)), Tell::Nothing, "{at}");
        }
        assert_eq!(
            outage.unreachable(start + S(63)),
            Tell::StillDown {
                down_for: S(63),
                calls: 6
            }
        );
        assert_eq!(outage.unreachable(start + S(100)), Tell::Nothing);
        assert_eq!(
            outage.unreachable(start + S(123)),
            Tell::StillDown {
                down_for: S(123),
                calls: 2
            }
        );
    }

    #[test]
    fn an_answer_ends_the_outage_and_says_how_long_it_lasted_once() {
        let start = Instant::now();
        let mut outage = Outages::default();
        assert_eq!(outage.answered(start), None);
        outage.unreachable(start);
        assert_eq!(outage.answered(start + S(90)), Some(S(90)));
        assert_eq!(outage.answered(start + S(91)), None);
        // The next one is a new outage.
        assert_eq!(outage.unreachable(start + S(95)), Tell::Started);
    }
}
