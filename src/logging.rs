//! Logging: `tracing` events (librdkafka's through the `log` bridge) to stderr, filtered by
//! `RUST_LOG` (default `info`); to a file or nowhere while the dashboard owns the screen.

use tracing_subscriber::EnvFilter;

/// The filter used when `RUST_LOG` is unset.
pub const DEFAULT_FILTER: &str = "info";

/// Caps that apply whatever `RUST_LOG` says: the HTTP client's debug and trace lines quote
/// request URLs, and the weather API's URL carries the API key in its query.
const ALWAYS: [&str; 2] = ["ureq=info", "ureq_proto=info"];

/// Installs the global subscriber. An unparsable `RUST_LOG` falls back to the default and says so,
/// rather than silently logging nothing.
pub fn init() {
    let (filter, bad_filter) = filter();
    use std::io::IsTerminal;
    let ansi = colour_wanted(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR"),
    );
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .try_init();
    if let Some((value, err)) = bad_filter {
        tracing::warn!(%value, %err, "RUST_LOG is not a valid filter; logging at info");
    }
}

/// Colour only on a terminal, and never when `NO_COLOR` is set and not empty (no-color.org):
/// a file or a container log must not fill with escape codes.
pub fn colour_wanted(terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// For a program that owns the terminal: log lines are appended to `file`, or dropped when
/// there is none. Fails (before the screen is taken) when the file cannot be opened.
pub fn init_quiet(file: Option<&std::path::Path>) -> anyhow::Result<()> {
    use anyhow::Context;
    let Some(path) = file else {
        // No subscriber at all: events cost nothing and go nowhere.
        return Ok(());
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening the log file {}", path.display()))?;
    let (filter, bad_filter) = filter();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_target(false)
        .try_init();
    if let Some((value, err)) = bad_filter {
        tracing::warn!(%value, %err, "RUST_LOG is not a valid filter; logging at info");
    }
    Ok(())
}

/// The filter from `RUST_LOG`, and the bad value with its error when it does not parse.
fn filter() -> (
    EnvFilter,
    Option<(String, tracing_subscriber::filter::ParseError)>,
) {
    let (filter, bad_filter) = match std::env::var("RUST_LOG") {
        Ok(value) if !value.trim().is_empty() => match EnvFilter::try_new(&value) {
            Ok(filter) => (filter, None),
            Err(err) => (EnvFilter::new(DEFAULT_FILTER), Some((value, err))),
        },
        _ => (EnvFilter::new(DEFAULT_FILTER), None),
    };
    let filter = ALWAYS
        .iter()
        .fold(filter, |filter, directive| match directive.parse() {
            Ok(directive) => filter.add_directive(directive),
            Err(_) => filter,
        });
    (filter, bad_filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(colour_wanted(true, None));
        assert!(colour_wanted(true, Some("".into())));
        assert!(!colour_wanted(true, Some("1".into())));
        assert!(!colour_wanted(false, None));
    }
}
