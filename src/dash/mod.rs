//! `meteo dash`: the live terminal dashboard of the latest readings, read from Cassandra.
//! Knows nothing of Kafka or the weather API.
//!
//! - [`app`]: the state and what keys, mouse and data do to it (pure).
//! - [`ui`]: drawing the state (pure, tested with ratatui's `TestBackend`); [`map`]: the map pane.
//! - [`refresh`]: the background task reading Cassandra, talking to the loop over channels.
//! - [`term`]: owning and restoring the terminal; the event loop.
//! - [`snapshot`]: the plain table printed when stdout is not a terminal.
//! - [`text`]: cleaning outside text before it is drawn; folding names for search.

pub mod app;
pub mod map;
pub mod refresh;
pub mod snapshot;
pub mod term;
pub mod text;
pub mod ui;

pub use app::{DashSettings, Units};

/// Whether `NO_COLOR` asks for no colour (set and not empty, as no-color.org says).
pub fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Whether the locale cannot be trusted with Unicode symbols: none of `LC_ALL`, `LC_CTYPE`,
/// `LANG` (the first one set wins) names UTF-8.
pub fn ascii_locale() -> bool {
    let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
    match locale {
        Some(l) => {
            let l = l.to_ascii_lowercase();
            !(l.contains("utf-8") || l.contains("utf8"))
        }
        None => true,
    }
}
