//! `meteo dash`: the live dashboard on a terminal, or one snapshot table when stdout is not
//! a terminal. Glue only: settings in, [`crate::dash`] does the work.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use chrono::Utc;

use crate::dash::city::City;
use crate::dash::refresh::{CassandraSource, Latest, Source};
use crate::dash::{self, DashSettings};
use crate::shutdown::Shutdown;
use crate::store::CassandraSettings;

/// `meteo dash`: where to read, how to show it, where logs go while it owns the screen.
#[derive(Debug, Clone)]
pub struct DashCommandSettings {
    pub cassandra: CassandraSettings,
    pub view: DashSettings,
    pub log_file: Option<PathBuf>,
}

/// Whether `meteo dash` will take over the screen (stdout is a terminal). Decided before
/// logging starts, because nothing may print while the dashboard owns the screen.
pub fn owns_terminal() -> bool {
    std::io::stdout().is_terminal()
}

pub async fn run(args: DashCommandSettings, shutdown: Shutdown) -> anyhow::Result<()> {
    let settings = args.view;
    let source = CassandraSource::new(args.cassandra);
    if owns_terminal() {
        dash::term::run(settings, source, shutdown).await
    } else {
        snapshot(settings, source).await
    }
}

/// One read, one table on stdout. Unlike the live view this fails (exit 1) when Cassandra
/// does not answer: a script must know the table is missing.
async fn snapshot(settings: DashSettings, mut source: CassandraSource) -> anyhow::Result<()> {
    // Through `latest_changes`, as the live view: rows with NULL columns are shown, not an
    // error. The first answer of a new source is always the whole partition.
    let found = match source.latest_changes(settings.country.as_str()).await? {
        Latest::All(found) => found,
        Latest::Changes { changed, .. } => changed,
    };
    if found.is_empty() {
        tracing::warn!(country = %settings.country, "no readings yet");
    }
    let cities: Vec<City> = found.into_iter().map(City::stored).collect();
    let mut out = std::io::stdout().lock();
    match dash::snapshot::write(&mut out, &cities, settings.units, Utc::now()) {
        // `meteo dash | head` closes the pipe early: that is the reader's choice, not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("writing the snapshot to stdout"),
    }?;
    out.flush().ok();
    Ok(())
}
