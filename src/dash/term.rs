//! The terminal side of the dashboard: taking the screen (raw mode, alternate screen, mouse)
//! and giving it back on every way out (return, error, panic, SIGTERM/SIGINT/SIGHUP), and the
//! event loop that joins keys, data and signals. The loop sleeps until something happens and
//! draws only then: no polling, so an idle dashboard costs no CPU.

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::shutdown::Shutdown;
use anyhow::Context;
use chrono::Utc;
use crossterm::event::{DisableMouseCapture, EnableMouseCapture, EventStream};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use crossterm::{cursor, execute};
use futures::StreamExt;
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use ratatui::Terminal;
use tokio::sync::{mpsc, oneshot};

use super::app::{App, DashSettings, Flow};
use super::refresh::{self, Source};

/// Ages on screen change even when no data comes (Cassandra down): redraw this often then.
const AGE_TICK: Duration = Duration::from_secs(15);

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
    mut shutdown: Shutdown,
) -> anyhow::Result<()> {
    // A second signal exits at once: the terminal is given back first.
    Shutdown::before_forced_exit(restore);

    let screen = Screen::take()?;
    let mut terminal =
        Terminal::new(CrosstermBackend::new(io::stdout())).context("opening the terminal")?;
    let size = terminal.size().context("reading the terminal size")?;

    let (request_tx, request_rx) = mpsc::unbounded_channel();
    let (update_tx, mut updates) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(refresh::run(
        source,
        settings.country.clone(),
        settings.refresh,
        request_rx,
        update_tx,
        async {
            let _ = stop_rx.await;
        },
    ));

    let mut app = App::new(
        settings,
        Utc::now(),
        Rect::new(0, 0, size.width, size.height),
    );
    let mut events = EventStream::new();
    let mut ages = tokio::time::interval(AGE_TICK);
    ages.reset();
    let mut dirty = true;
    let outcome = loop {
        for request in app.take_requests() {
            // The task only ends with this loop, so a send cannot fail before then.
            let _ = request_tx.send(request);
        }
        if dirty {
            app.now = Utc::now();
            if let Err(e) = terminal.draw(|frame| frame.render_widget(&app, frame.area())) {
                break Err(anyhow::Error::from(e).context("drawing the dashboard"));
            }
            dirty = false;
        }
        let flow = tokio::select! {
            event = events.next() => match event {
                Some(Ok(event)) => app.on_event(&event),
                Some(Err(e)) => break Err(anyhow::Error::from(e).context("reading the terminal")),
                None => break Ok(()),
            },
            update = updates.recv() => match update {
                Some(update) => app.apply(update),
                None => break Err(anyhow::anyhow!("the refresh task stopped unexpectedly")),
            },
            _ = ages.tick() => Flow::Redraw,
            () = shutdown.requested() => Flow::Quit,
        };
        match flow {
            Flow::Quit => break Ok(()),
            Flow::Redraw => dirty = true,
            Flow::Idle => {}
        }
    };

    let _ = stop_tx.send(());
    // The task returns at its next await point; do not let a hung read hold the exit.
    if tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .is_err()
    {
        // Dropping the handle leaves it to the runtime's shutdown.
    }
    let _ = terminal.show_cursor();
    drop(terminal);
    drop(screen);
    outcome
}
