//! `meteo dash`: the live terminal dashboard of the latest readings, read from Cassandra.
//! Data flows one way: refresh -> event_loop -> app -> ui; nothing here knows Kafka.

// The state and what keys, mouse and data do to it (pure).
pub mod app;
// A city's newest reading as the dashboard shows it; the chart's points.
pub mod city;
// Keys, data, ticks and the shutdown joined; generic over the terminal.
pub mod event_loop;
#[cfg(test)]
pub(crate) mod fixtures;
// Where each pane goes, for the drawing and the mouse alike.
pub mod layout;
// The background task reading Cassandra, talking to the loop over channels.
pub mod refresh;
// What to read and how to show it.
pub mod settings;
// The plain table printed when stdout is not a terminal.
pub mod snapshot;
// Owning and restoring the real terminal around the event loop.
pub mod term;
// Cleaning outside text before it is drawn; folding names for search.
pub mod text;
// Drawing the state, one widget per pane.
pub mod ui;

pub use settings::{DashSettings, Units};

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
