//! The event loop: terminal events, the refresh task's data, an age ticker and the shutdown,
//! joined; generic over the backend and the event stream, so tests drive it on a `TestBackend`.

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
/// refresh task dies. It sleeps until something happens and draws only when something visible
/// changed: no polling, so an idle dashboard costs no CPU.
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
        settings.country.to_string(),
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

#[cfg(test)]
mod tests {
    //! The loop driven in-process: a `TestBackend` that publishes every frame, a channel of
    //! terminal events, an in-memory [`Source`] (the data this loop is fed; Cassandra itself is
    //! tested in tests/integration/dash.rs), and tokio's paused clock, so refresh periods and
    //! age ticks pass at once and in a fixed order.

    use std::sync::{Arc, Mutex};

    use chrono::DateTime;
    use crossterm::event::{
        KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
    };
    use futures::channel::mpsc::{unbounded, UnboundedSender};
    use ratatui::backend::{ClearType, TestBackend, WindowSize};
    use ratatui::buffer::Cell;
    use ratatui::layout::{Position, Size};
    use tokio::sync::watch;
    use tokio::task::JoinHandle;
    use tokio::time::Instant;

    use super::*;
    use crate::dash::fixtures::reading_at;
    use crate::dash::layout;
    use crate::dash::ui::buffer_lines;
    use crate::model::Reading;
    use crate::shutdown::Trigger;

    /// Dashboard time a test waits for a screen before it fails.
    const WAIT: Duration = Duration::from_secs(120);
    const WIDTH: u16 = 100;
    const HEIGHT: u16 = 30;

    /// Every frame shown so far, as text.
    #[derive(Debug, Default)]
    struct Frames(Vec<String>);

    impl Frames {
        fn last(&self) -> &str {
            self.0.last().map_or("", String::as_str)
        }
    }

    /// A `TestBackend` that publishes the screen each time a frame is complete (flushed).
    struct Recorder {
        screen: TestBackend,
        frames: watch::Sender<Frames>,
    }

    impl Backend for Recorder {
        type Error = <TestBackend as Backend>::Error;

        fn draw<'a, I>(&mut self, content: I) -> Result<(), Self::Error>
        where
            I: Iterator<Item = (u16, u16, &'a Cell)>,
        {
            self.screen.draw(content)
        }
        fn hide_cursor(&mut self) -> Result<(), Self::Error> {
            self.screen.hide_cursor()
        }
        fn show_cursor(&mut self) -> Result<(), Self::Error> {
            self.screen.show_cursor()
        }
        fn get_cursor_position(&mut self) -> Result<Position, Self::Error> {
            self.screen.get_cursor_position()
        }
        fn set_cursor_position<P: Into<Position>>(&mut self, at: P) -> Result<(), Self::Error> {
            self.screen.set_cursor_position(at)
        }
        fn clear(&mut self) -> Result<(), Self::Error> {
            self.screen.clear()
        }
        fn clear_region(&mut self, clear_type: ClearType) -> Result<(), Self::Error> {
            self.screen.clear_region(clear_type)
        }
        fn size(&self) -> Result<Size, Self::Error> {
            self.screen.size()
        }
        fn window_size(&mut self) -> Result<WindowSize, Self::Error> {
            self.screen.window_size()
        }
        fn flush(&mut self) -> Result<(), Self::Error> {
            let text = buffer_lines(self.screen.buffer()).join("\n");
            self.frames.send_modify(|frames| frames.0.push(text));
            self.screen.flush()
        }
    }

    /// What the in-memory source holds and how often it was read.
    #[derive(Default)]
    struct Stored {
        readings: Vec<Reading>,
        /// Every read fails with this while it is set.
        failure: Option<String>,
        /// Every read panics: a bug in the refresh task.
        panics: bool,
        latest_reads: usize,
    }

    /// Readings from memory, changed by the test between refreshes.
    #[derive(Clone, Default)]
    struct Memory(Arc<Mutex<Stored>>);

    impl Memory {
        fn with(readings: Vec<Reading>) -> Memory {
            let memory = Memory::default();
            memory.0.lock().unwrap().readings = readings;
            memory
        }

        fn change(&self, change: impl FnOnce(&mut Stored)) {
            change(&mut self.0.lock().unwrap());
        }

        fn latest_reads(&self) -> usize {
            self.0.lock().unwrap().latest_reads
        }
    }

    impl Source for Memory {
        async fn latest(&mut self, country: &str) -> anyhow::Result<Vec<Reading>> {
            let mut stored = self.0.lock().unwrap();
            stored.latest_reads += 1;
            assert!(!stored.panics, "the source panicked on purpose");
            if let Some(failure) = &stored.failure {
                anyhow::bail!("{failure}");
            }
            let found = stored.readings.iter().filter(|r| r.country == country);
            Ok(found.cloned().collect())
        }

        /// The city's reading now and at the three hours before.
        async fn history(&mut self, city_id: i64) -> anyhow::Result<Vec<Reading>> {
            let stored = self.0.lock().unwrap();
            let found = stored.readings.iter().filter(|r| r.city_id == city_id);
            Ok(found
                .flat_map(|r| {
                    (0..4).map(|hours| {
                        let mut past = r.clone();
                        past.observed_at -= chrono::Duration::hours(hours);
                        past.temperature -= hours as f64;
                        past
                    })
                })
                .collect())
        }
    }

    fn minutes_ago(minutes: i64) -> DateTime<Utc> {
        Utc::now() - chrono::Duration::minutes(minutes)
    }

    /// Paris, Lyon and Brest, observed minutes ago.
    fn three_cities() -> Vec<Reading> {
        vec![
            reading_at(1, "Paris", 7.3, minutes_ago(5)),
            reading_at(2, "Lyon", 11.5, minutes_ago(12)),
            reading_at(3, "Brest", -2.0, minutes_ago(30)),
        ]
    }

    /// The loop running in a task of its own on a 100x30 `TestBackend`.
    struct Dashboard {
        keys: UnboundedSender<io::Result<Event>>,
        frames: watch::Receiver<Frames>,
        trigger: Trigger,
        task: JoinHandle<anyhow::Result<()>>,
    }

    impl Dashboard {
        fn start(settings: DashSettings, source: Memory) -> Dashboard {
            let (keys, events) = unbounded();
            let (frames_tx, frames) = watch::channel(Frames::default());
            let (trigger, shutdown) = Shutdown::manual();
            let task = tokio::spawn(async move {
                let recorder = Recorder {
                    screen: TestBackend::new(WIDTH, HEIGHT),
                    frames: frames_tx,
                };
                let mut terminal = Terminal::new(recorder)?;
                run(&mut terminal, events, settings, source, shutdown).await
            });
            Dashboard {
                keys,
                frames,
                trigger,
                task,
            }
        }

        /// Started on [`three_cities`], once they are on screen.
        async fn with_three_cities(settings: DashSettings, source: &Memory) -> Dashboard {
            source.change(|s| s.readings = three_cities());
            let mut dash = Dashboard::start(settings, source.clone());
            dash.screen_where("the cities", |s| s.contains("3 cities"))
                .await;
            dash
        }

        fn send(&self, event: Event) {
            self.keys.unbounded_send(Ok(event)).unwrap();
        }

        fn press(&self, code: KeyCode) {
            self.send(Event::Key(KeyEvent::new(code, KeyModifiers::NONE)));
        }

        fn type_text(&self, text: &str) {
            text.chars().for_each(|c| self.press(KeyCode::Char(c)));
        }

        fn frame_count(&self) -> usize {
            self.frames.borrow().0.len()
        }

        /// The first screen that satisfies `ready`, failing with the last one after [`WAIT`].
        async fn screen_where(&mut self, what: &str, ready: impl Fn(&str) -> bool) -> String {
            let waited = tokio::time::timeout(WAIT, async {
                let frames = self.frames.wait_for(|f| ready(f.last())).await;
                frames.map(|f| f.last().to_string())
            })
            .await;
            match waited {
                Ok(Ok(screen)) => screen,
                _ => panic!(
                    "no screen with {what} within {WAIT:?}; the last:\n{}",
                    self.frames.borrow().last()
                ),
            }
        }

        /// How the loop ended.
        async fn ended(self) -> anyhow::Result<()> {
            tokio::time::timeout(WAIT, self.task)
                .await
                .expect("the loop is still running")
                .expect("the loop panicked")
        }
    }

    /// The table row of `city` (not the detail pane's title).
    fn row<'a>(screen: &'a str, city: &str) -> Option<&'a str> {
        let drawn = |l: &str| {
            ["│ ", "│▶"]
                .iter()
                .any(|p| l.contains(&format!("{p}{city} ")))
        };
        screen.lines().find(|l| drawn(l) && l.contains('%'))
    }

    fn rows_in_order(screen: &str, cities: &[&str]) -> bool {
        let at = |city: &str| screen.lines().position(|l| row(l, city).is_some());
        let lines: Option<Vec<usize>> = cities.iter().map(|c| at(c)).collect();
        lines.is_some_and(|l| l.windows(2).all(|w| w[0] < w[1]))
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_frame_comes_at_once_and_the_cities_right_after() {
        let start = Instant::now();
        let mut dash = Dashboard::start(
            DashSettings::new(crate::model::CountryCode::FR),
            Memory::with(three_cities()),
        );
        let screen = dash
            .screen_where("the cities", |s| s.contains("3 cities"))
            .await;
        for city in ["Paris", "Lyon", "Brest"] {
            assert!(row(&screen, city).is_some(), "{city} missing:\n{screen}");
        }
        assert!(screen.contains("LIVE") && screen.contains("● Cassandra "));
        assert!(start.elapsed() < Duration::from_secs(1), "not at once");
        let first = dash.frames.borrow().0[0].clone();
        assert!(
            first.contains("connecting to Cassandra") && first.contains("0 cities"),
            "the first frame is drawn before any data:\n{first}"
        );
        dash.trigger.stop();
        dash.ended().await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn every_refresh_shows_what_the_source_holds_by_then() {
        let source = Memory::default();
        let mut dash =
            Dashboard::with_three_cities(DashSettings::new(crate::model::CountryCode::FR), &source)
                .await;
        let start = Instant::now();
        for (cycle, temperature) in [(1, 20.5), (2, 21.5), (3, 22.5)] {
            source.change(|s| {
                s.readings[0].temperature = temperature;
                s.readings[0].observed_at = Utc::now();
            });
            let shown = format!("{temperature:.1}");
            let screen = dash
                .screen_where(&format!("Paris at {shown}"), |s| {
                    row(s, "Paris").is_some_and(|r| r.contains(&shown))
                })
                .await;
            assert!(screen.contains("3 cities"), "{screen}");
            let period = DashSettings::new(crate::model::CountryCode::FR).refresh;
            assert!(
                start.elapsed() >= period * cycle,
                "cycle {cycle} came early"
            );
            assert!(
                start.elapsed() < period * (cycle + 1),
                "cycle {cycle} came late"
            );
        }
        source.change(|s| s.readings.push(reading_at(4, "Nantes", 9.0, Utc::now())));
        let screen = dash
            .screen_where("Nantes", |s| row(s, "Nantes").is_some())
            .await;
        assert!(screen.contains("4 cities"), "{screen}");
        assert!(source.latest_reads() >= 5);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_source_is_shown_with_the_last_data_until_it_answers_again() {
        let source = Memory::default();
        let mut dash =
            Dashboard::with_three_cities(DashSettings::new(crate::model::CountryCode::FR), &source)
                .await;
        let error = "Cassandra at 127.0.0.1:1 did not answer";
        source.change(|s| s.failure = Some(error.into()));
        let screen = dash
            .screen_where("Cassandra down", |s| s.contains("Cassandra DOWN since"))
            .await;
        let footer = screen.lines().last().unwrap();
        assert!(
            footer.starts_with(&format!("retrying every 5 s: {error}")),
            "{footer}"
        );
        assert!(
            row(&screen, "Paris").is_some(),
            "the table is kept:\n{screen}"
        );

        // Still reading, and answering keys, after more failed refreshes.
        let reads = source.latest_reads();
        tokio::time::sleep(Duration::from_secs(16)).await;
        assert!(source.latest_reads() >= reads + 3);
        dash.press(KeyCode::Char('?'));
        dash.screen_where("the help", |s| s.contains(" Keys "))
            .await;
        dash.press(KeyCode::Char('j'));

        source.change(|s| s.failure = None);
        let screen = dash
            .screen_where("Cassandra back", |s| {
                !s.contains("DOWN") && !s.contains(" Keys ")
            })
            .await;
        assert!(screen.contains("● Cassandra "), "{screen}");
        assert!(screen.lines().last().unwrap().contains("q quit"));
    }

    #[tokio::test(start_paused = true)]
    async fn without_any_answer_the_dashboard_opens_and_says_why() {
        let source = Memory::default();
        source.change(|s| s.failure = Some("Cassandra at 127.0.0.1:1 did not answer".into()));
        let mut settings = DashSettings::new(crate::model::CountryCode::FR);
        settings.refresh = Duration::from_secs(1);
        let mut dash = Dashboard::start(settings, source);
        let screen = dash
            .screen_where("the failure", |s| s.contains("DOWN"))
            .await;
        for needle in [
            "0 cities",
            "no data yet: Cassandra does not answer",
            "retrying every 1 s: Cassandra at 127.0.0.1:1 did not answer",
        ] {
            assert!(screen.contains(needle), "{needle} missing:\n{screen}");
        }
        dash.press(KeyCode::Char('q'));
        dash.ended().await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn keys_and_the_mouse_search_sort_switch_units_select_and_show_the_help() {
        let mut dash = Dashboard::with_three_cities(
            DashSettings::new(crate::model::CountryCode::FR),
            &Memory::default(),
        )
        .await;

        // A search, and the chart of the one city left.
        dash.press(KeyCode::Char('/'));
        dash.type_text("lyo");
        dash.press(KeyCode::Enter);
        let screen = dash
            .screen_where("the search result", |s| {
                s.contains("/lyo") && row(s, "Paris").is_none() && s.contains("-24h")
            })
            .await;
        assert!(row(&screen, "Lyon").is_some(), "{screen}");
        dash.press(KeyCode::Esc);
        dash.screen_where("the search cleared", |s| {
            row(s, "Paris").is_some() && !s.contains("/lyo")
        })
        .await;

        dash.press(KeyCode::Char('s'));
        let screen = dash
            .screen_where("the hottest first", |s| s.contains("by temperature"))
            .await;
        assert!(
            rows_in_order(&screen, &["Lyon", "Paris", "Brest"]),
            "{screen}"
        );
        dash.press(KeyCode::Char('u'));
        dash.screen_where("km/h", |s| s.contains("Wind km/h")).await;

        // A click on the third row of the table selects it.
        let body = layout::panes(Rect::new(0, 0, WIDTH, HEIGHT), true).table_body();
        dash.send(Event::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: body.x + 2,
            row: body.y + 2,
            modifiers: KeyModifiers::NONE,
        }));
        dash.screen_where("the third row selected", |s| s.contains("Cities 3/3"))
            .await;

        dash.press(KeyCode::Char('?'));
        dash.screen_where("the help", |s| s.contains(" Keys "))
            .await;
        dash.press(KeyCode::Char('x'));
        dash.screen_where("the help closed", |s| !s.contains(" Keys "))
            .await;
        dash.press(KeyCode::Char('q'));
        dash.ended().await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn q_esc_and_question_mark_close_the_help_and_only_outside_it_q_quits() {
        let mut dash = Dashboard::with_three_cities(
            DashSettings::new(crate::model::CountryCode::FR),
            &Memory::default(),
        )
        .await;
        for close in [KeyCode::Char('q'), KeyCode::Esc, KeyCode::Char('?')] {
            dash.press(KeyCode::Char('?'));
            dash.screen_where("the help", |s| s.contains(" Keys "))
                .await;
            dash.press(close);
            let screen = dash
                .screen_where(&format!("the help closed by {close:?}"), |s| {
                    !s.contains(" Keys ")
                })
                .await;
            assert!(row(&screen, "Paris").is_some(), "{screen}");
            assert!(!dash.task.is_finished(), "{close:?} in the help quit");
        }
        dash.press(KeyCode::Char('q'));
        dash.ended().await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn r_reads_the_source_at_once() {
        let source = Memory::default();
        let mut settings = DashSettings::new(crate::model::CountryCode::FR);
        settings.refresh = Duration::from_secs(3600);
        let mut dash = Dashboard::with_three_cities(settings, &source).await;
        source.change(|s| s.readings.push(reading_at(4, "Nantes", 9.0, Utc::now())));
        let start = Instant::now();
        dash.press(KeyCode::Char('r'));
        dash.screen_where("Nantes", |s| row(s, "Nantes").is_some())
            .await;
        assert!(
            start.elapsed() < AGE_TICK,
            "read at once, not at the next tick"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_dashboard_draws_only_when_ages_change() {
        let mut settings = DashSettings::new(crate::model::CountryCode::FR);
        settings.refresh = Duration::from_secs(3600);
        let mut dash = Dashboard::start(settings, Memory::with(three_cities()));
        // The cities, then the selected city's chart: nothing more is coming.
        dash.screen_where("the chart", |s| s.contains("-24h")).await;
        let drawn = dash.frame_count();
        tokio::time::sleep(AGE_TICK - Duration::from_secs(1)).await;
        assert_eq!(dash.frame_count(), drawn, "drawn while nothing changed");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(dash.frame_count(), drawn + 1, "one redraw for the ages");
    }

    #[tokio::test(start_paused = true)]
    async fn the_shutdown_ends_the_loop_and_the_refresh_task() {
        let source = Memory::default();
        let dash =
            Dashboard::with_three_cities(DashSettings::new(crate::model::CountryCode::FR), &source)
                .await;
        dash.trigger.stop();
        dash.ended().await.unwrap();
        let reads = source.latest_reads();
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(source.latest_reads(), reads, "the source is still read");
    }

    #[tokio::test(start_paused = true)]
    async fn the_end_of_the_events_ends_the_loop_and_a_failed_read_fails_it() {
        let dash = Dashboard::start(
            DashSettings::new(crate::model::CountryCode::FR),
            Memory::with(three_cities()),
        );
        dash.keys.close_channel();
        dash.ended().await.unwrap();

        let dash = Dashboard::start(
            DashSettings::new(crate::model::CountryCode::FR),
            Memory::with(three_cities()),
        );
        dash.keys
            .unbounded_send(Err(io::Error::other("the tty is gone")))
            .unwrap();
        let error = format!("{:#}", dash.ended().await.unwrap_err());
        assert_eq!(error, "reading the terminal: the tty is gone");
    }

    /// Prints the panic message of the refresh task: that is the case under test.
    #[tokio::test(start_paused = true)]
    async fn a_refresh_task_that_dies_ends_the_loop_with_an_error() {
        let source = Memory::with(three_cities());
        source.change(|s| s.panics = true);
        let dash = Dashboard::start(DashSettings::new(crate::model::CountryCode::FR), source);
        let error = dash.ended().await.unwrap_err();
        assert_eq!(error.to_string(), "the refresh task stopped unexpectedly");
    }
}
