//! Whether Cassandra answers now, for health checks: a trivial query on a session of the
//! probe's own, replaced after a failure (a session that lived through a whole-cluster outage
//! may never use the node again: see [`super::reconnecting`]).

use std::sync::Arc;

use tokio::sync::Mutex;

use super::CassandraSettings;
use super::{connect, ping, CassandraSession};

/// Asks Cassandra on each [`CassandraProbe::check`]; connects lazily.
pub struct CassandraProbe {
    settings: CassandraSettings,
    session: Mutex<Option<Arc<CassandraSession>>>,
}

impl CassandraProbe {
    /// Starts with `session` (the caller's first one), so the first check connects nothing.
    pub fn new(settings: &CassandraSettings, session: Option<Arc<CassandraSession>>) -> Self {
        Self {
            settings: settings.clone(),
            session: Mutex::new(session),
        }
    }

    /// `Ok` when Cassandra answered; else why not, in one line. After a failure the session
    /// is dropped and the next check connects afresh.
    pub async fn check(&self) -> Result<(), String> {
        let mut current = self.session.lock().await;
        let session = match current.as_ref() {
            Some(session) => session.clone(),
            None => connect(&self.settings, None)
                .await
                .map_err(|err| format!("{err:#}"))?,
        };
        let answer = ping(&session).await;
        *current = answer.is_ok().then_some(session);
        answer
    }
}
