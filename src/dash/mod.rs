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

/// Whether the locale cannot be trusted with Unicode symbols ([`locale_is_utf8`] of the
/// environment): then everything the dashboard draws is ASCII.
pub fn ascii_locale() -> bool {
    !locale_is_utf8(|name| std::env::var(name).ok())
}

/// Whether the locale that `var` (an environment lookup) gives names UTF-8, as a terminal
/// program decides: the first of `LC_ALL`, `LC_CTYPE`, `LANG` that is set and not empty wins;
/// none set is the C locale, not UTF-8.
pub fn locale_is_utf8(var: impl Fn(&str) -> Option<String>) -> bool {
    let locale = ["LC_ALL", "LC_CTYPE", "LANG"]
        .iter()
        .find_map(|k| var(k).filter(|v| !v.is_empty()));
    locale.is_some_and(|l| {
        let l = l.to_ascii_lowercase();
        l.contains("utf-8") || l.contains("utf8")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locale(vars: &[(&str, &str)]) -> bool {
        locale_is_utf8(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn the_first_locale_variable_set_decides_between_utf8_and_ascii() {
        assert!(!locale(&[("LANG", "C")]));
        assert!(!locale(&[]));
        assert!(locale(&[("LANG", "fr_FR.UTF-8")]));
        assert!(locale(&[("LANG", "C.utf8")]));
        assert!(!locale(&[("LC_ALL", "C"), ("LANG", "fr_FR.UTF-8")]));
        assert!(!locale(&[("LC_CTYPE", "POSIX"), ("LANG", "fr_FR.UTF-8")]));
        assert!(locale(&[
            ("LC_ALL", ""),
            ("LC_CTYPE", "en_US.UTF-8"),
            ("LANG", "C")
        ]));
    }
}
