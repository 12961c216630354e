//! The real terminal: taken (raw mode, alternate screen, mouse) for the event loop, and given
//! back on every way out (return, error, panic, SIGTERM/SIGINT/SIGHUP).

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::shutdown::Shutdown;
use anyhow::Context;
use crossterm::event::{DisableMouseCapture, EnableMouseCapture, EventStream};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{cursor, execute};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use super::event_loop;
use super::refresh::Source;
use super::DashSettings;

/// Whether the screen is ours right now; the panic hook restores only then.
static OWNED: AtomicBool = AtomicBool::new(false);

/// Puts the terminal back as it was. Safe to call twice; errors are ignored because this
/// runs on the way out, when there is nobody left to tell.
fn restore() {
    if OWNED.swap(false, Ordering::SeqCst) {
        let _ = disable_raw_mode();
        let mut out = io::stdout();
        let _ = execute!(out, DisableMouseCapture, LeaveAlternateScreen, cursor::Show);
        let _ = out.flush();
    }
}

/// Standard output while the screen is ours. Once it was given back (by the panic hook, after a
/// panic in the refresh task), what the loop still draws before it stops goes nowhere, not
/// over the panic message and the shell.
struct ScreenOutput;

impl Write for ScreenOutput {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if OWNED.load(Ordering::SeqCst) {
            io::stdout().write(buf)
        } else {
            Ok(buf.len())
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stdout().flush()
    }
}

/// The screen, owned while this lives; dropping it restores the terminal.
struct Screen;

impl Screen {
    fn take() -> anyhow::Result<Screen> {
        // A panic anywhere restores the terminal before the message is printed, so the message
        // is readable and the shell usable.
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        enable_raw_mode().context("switching the terminal to raw mode")?;
        OWNED.store(true, Ordering::SeqCst);
        let mut out = io::stdout();
        execute!(out, EnterAlternateScreen, EnableMouseCapture, cursor::Hide)
            .context("taking the terminal's alternate screen")?;
        Ok(Screen)
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore();
    }
}

/// Runs the dashboard on the terminal until the user quits or a signal asks it to stop.
pub async fn run<S: Source + 'static>(
    settings: DashSettings,
    source: S,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    // A second signal exits at once: the terminal is given back first.
    Shutdown::before_forced_exit(restore);

    let screen = Screen::take()?;
    let mut terminal =
        Terminal::new(CrosstermBackend::new(ScreenOutput)).context("opening the terminal")?;
    let outcome = event_loop::run(
        &mut terminal,
        EventStream::new(),
        settings,
        source,
        shutdown,
    )
    .await;
    let _ = terminal.show_cursor();
    drop(terminal);
    drop(screen);
    outcome
}
