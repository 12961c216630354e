//! One exponential backoff with jitter for every retry loop (Cassandra writes, dead letters,
//! reconnects), so tasks retrying at once do not hit a recovering node in step.

use std::time::Duration;

/// Delays that double from `first` up to `max`, each with up to 25% added at random.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    next: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            next: first,
            max: max.max(first),
        }
    }

    /// The delay to wait before the next try; the one after it is twice as long, up to `max`.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        with_jitter(delay, rand::random())
    }

    /// Waits [`Self::next_delay`].
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next_delay()).await;
    }

    /// Starts again from the first delay, after a success.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

/// `delay` plus `share` (in `[0, 1)`) of a quarter of it.
fn with_jitter(delay: Duration, share: f64) -> Duration {
    delay + delay.mul_f64(share.clamp(0.0, 1.0) / 4.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_adds_at_most_a_quarter() {
        let d = Duration::from_millis(400);
        assert_eq!(with_jitter(d, 0.0), d);
        assert_eq!(with_jitter(d, 1.0), Duration::from_millis(500));
        for _ in 0..100 {
            let got = with_jitter(d, rand::random());
            assert!(got >= d && got <= Duration::from_millis(500), "{got:?}");
        }
    }

    #[test]
    fn delays_double_up_to_the_maximum_and_reset() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let floors: Vec<u128> = (0..4).map(|_| b.next_delay().as_millis()).collect();
        assert!((100..=125).contains(&floors[0]), "{floors:?}");
        assert!((200..=250).contains(&floors[1]), "{floors:?}");
        assert!((350..=438).contains(&floors[2]), "{floors:?}");
        assert!((350..=438).contains(&floors[3]), "{floors:?}");
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(125));
    }
}
