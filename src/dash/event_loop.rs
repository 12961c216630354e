//! The event loop: joins terminal events, the refresh task's data, an age ticker and the
//! shutdown, and draws only when something visible changed (no polling: idle costs no CPU).
//! Generic over the backend and the event stream, so tests drive it with a `TestBackend`.

use std::io;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use crossterm::event::Event;
use futures::{Stream, StreamExt};
use ratatui::backend::Backend;
use ratatui::layout::Rect;
use ratatui::Terminal;
use tokio::sync::{mpsc, oneshot};

use super::app::{App, Flow};
use super::refresh::{self, Source};
use super::DashSettings;
use crate::shutdown::Shutdown;

/// Ages on screen change even when no data comes (Cassandra down): redraw this often then.
pub const AGE_TICK: Duration = Duration::from_secs(15);

/// How long the refresh task may take to notice the end; a hung read must not hold the exit.
const REFRESH_STOP: Duration = Duration::from_secs(1);

/// Runs the dashboard on `terminal`, reading `source` in a background task, until a key quits,
/// `events` ends, or `shutdown` comes. Fails when drawing or reading events fails, or when the
/// refresh task dies.
pub async fn run<B, S>(
    terminal: &mut Terminal<B>,
    events: impl Stream<Item = io::Result<Event>>,
    settings: DashSettings,
    source: S,
    mut shutdown: Shutdown,
) -> anyhow::Result<()>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
    S: Source + 'static,
{
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
    let mut events = std::pin::pin!(events);
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
    // The task returns at its next await point; past the limit, dropping the handle leaves it
    // to the runtime's shutdown.
    let _ = tokio::time::timeout(REFRESH_STOP, task).await;
    outcome
}
