//! One shutdown for every command: the first SIGINT, SIGTERM or SIGHUP asks the running engine
//! to stop gracefully (exit 0 once it has); a second one exits at once with [`EXIT_FORCED`].

use std::sync::OnceLock;

use anyhow::Context as _;
use tokio::sync::watch;

/// The exit code after a second signal: 128 + SIGINT, as a shell reports an interrupted job.
pub const EXIT_FORCED: i32 = 130;

/// Run before a second signal ends the process (the dashboard gives the terminal back).
static BEFORE_FORCED_EXIT: OnceLock<fn()> = OnceLock::new();

/// A request to stop, shared by every task that must hear it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// Asks the [`Shutdown`]s made with it to stop (tests, and the signal listener).
#[derive(Debug)]
pub struct Trigger(watch::Sender<bool>);

impl Trigger {
    pub fn stop(&self) {
        self.0.send_replace(true);
    }
}

impl Shutdown {
    /// A shutdown that comes when [`Trigger::stop`] is called (or the trigger is dropped).
    pub fn manual() -> (Trigger, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (Trigger(tx), Shutdown(rx))
    }

    /// A shutdown that comes at the first SIGINT, SIGTERM or SIGHUP. The handlers are installed
    /// now, so a signal that arrives before anyone waits is not lost. Needs a Tokio runtime.
    pub fn on_signals() -> anyhow::Result<Shutdown> {
        use tokio::signal::unix::{signal, SignalKind};
        let mut interrupt = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
        let mut terminate = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        let mut hangup = signal(SignalKind::hangup()).context("listening for SIGHUP")?;
        let (trigger, shutdown) = Shutdown::manual();
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = interrupt.recv() => "SIGINT",
                _ = terminate.recv() => "SIGTERM",
                _ = hangup.recv() => "SIGHUP",
            };
            tracing::info!(signal = name, "stopping (a second signal exits at once)");
            trigger.stop();
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
                _ = hangup.recv() => {}
            }
            if let Some(before) = BEFORE_FORCED_EXIT.get() {
                before();
            }
            eprintln!("meteo: error: second signal: exiting at once, work in flight is abandoned");
            std::process::exit(EXIT_FORCED);
        });
        Ok(shutdown)
    }

    /// Registers what must run before a second signal ends the process; the first caller wins.
    pub fn before_forced_exit(cleanup: fn()) {
        let _ = BEFORE_FORCED_EXIT.set(cleanup);
    }

    /// Whether a stop was asked for.
    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once a stop is asked for (at once if it was already).
    pub async fn requested(&mut self) {
        // An error means the trigger is gone, which can only stop nothing more: treat as asked.
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// The request as a future that owns its receiver, for loops that take `impl Future`.
    pub async fn wait(mut self) {
        self.requested().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_clone_hears_one_stop() {
        let (trigger, shutdown) = Shutdown::manual();
        let mut a = shutdown.clone();
        let b = shutdown.clone();
        assert!(!a.is_requested());
        let waiting = tokio::spawn(b.wait());
        trigger.stop();
        a.requested().await;
        waiting.await.unwrap();
        assert!(shutdown.is_requested());
    }

    #[tokio::test]
    async fn a_dropped_trigger_counts_as_a_stop() {
        let (trigger, mut shutdown) = Shutdown::manual();
        drop(trigger);
        tokio::time::timeout(std::time::Duration::from_secs(1), shutdown.requested())
            .await
            .expect("resolves");
    }
}
