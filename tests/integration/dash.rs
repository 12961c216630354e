//! `meteo dash` against the real Cassandra: the refresh task reads what was written, the
//! snapshot mode prints it, and the whole program in a real pseudo-terminal (tmux) takes raw
//! keys and gives the terminal back on quit, on SIGTERM and on a panic. tmux is required:
//! without it these tests fail, they do not skip. The event loop itself (drawing, keys,
//! refreshes, faults) is tested in-process in src/dash/event_loop.rs.

use std::process::Command;
use std::time::{Duration, Instant};

use chrono::Utc;
use meteo::dash::refresh::{
    self, latest_update, CassandraSource, Failure, Latest, Request, Update,
};

const NOTHING_NEW: Latest = Latest::Changes {
    changed: vec![],
    removed: vec![],
};
use meteo::model::Reading;
use meteo::store::readings::ReadingWriter;
use tokio::sync::{mpsc, oneshot};

use crate::util::{cassandra_settings, drop_keyspace, meteo, migrated, run, session, unique};

/// A recent reading of city `id`, so that the 24-hour history finds it.
fn reading(id: i64, name: &str, temperature: f64, minutes_old: i64) -> Reading {
    let mut r: Reading = serde_json::from_str(include_str!("../data/reading.json")).unwrap();
    r.city_id = id;
    r.city_name = name.to_string();
    r.temperature = temperature;
    let at = Utc::now() - chrono::Duration::minutes(minutes_old);
    r.observed_at = at - chrono::Duration::nanoseconds(i64::from(at.timestamp_subsec_nanos()));
    r
}

/// A fresh keyspace holding Paris, Lyon (with a second, older reading) and a hostile name.
async fn seeded() -> String {
    let (keyspace, _) = migrated(&[]);
    let writer = ReadingWriter::prepare(session(Some(&keyspace)).await)
        .await
        .unwrap();
    for r in [
        reading(2988507, "Paris", 7.3, 5),
        reading(2996944, "Lyon", 11.5, 70),
        reading(2996944, "Lyon", 12.5, 10),
        reading(3031582, "Bor\x1b[2J\x1b]0;owned\x07deaux", 14.0, 3),
    ] {
        writer.write(&r, Utc::now()).await.unwrap();
    }
    keyspace
}

async fn next(updates: &mut mpsc::UnboundedReceiver<Update>) -> Update {
    tokio::time::timeout(Duration::from_secs(30), updates.recv())
        .await
        .expect("no update within 30 s")
        .expect("the task ended")
}

#[tokio::test(flavor = "multi_thread")]
async fn the_refresh_task_reads_latest_and_a_citys_history_from_cassandra() {
    let keyspace = seeded().await;
    let (requests, request_rx) = mpsc::unbounded_channel();
    let (update_tx, mut updates) = mpsc::unbounded_channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(refresh::run(
        CassandraSource::new(cassandra_settings(&keyspace)),
        "FR".into(),
        Duration::from_secs(60),
        request_rx,
        update_tx,
        async {
            let _ = stopped.await;
        },
    ));
    match next(&mut updates).await {
        Update::Latest { result, .. } => {
            let mut cities = result.unwrap();
            cities.sort_by_key(|c| c.id());
            let names: Vec<&str> = cities.iter().map(|c| c.name()).collect();
            assert_eq!(names, ["Paris", "Lyon", "Bordeaux"]);
            assert_eq!(
                cities[1].reading.temperature, 12.5,
                "latest holds the newest reading"
            );
        }
        other => panic!("{other:?}"),
    }
    requests.send(Request::History(2996944)).unwrap();
    match next(&mut updates).await {
        Update::History { city_id, result } => {
            assert_eq!(city_id, 2996944);
            let temps: Vec<f64> = result.unwrap().iter().map(|p| p.temperature).collect();
            assert_eq!(temps, [11.5, 12.5], "oldest first");
        }
        other => panic!("{other:?}"),
    }
    stop.send(()).unwrap();
    task.await.unwrap();
    drop_keyspace(&keyspace).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_refresh_task_reports_an_unreachable_cassandra_and_keeps_going() {
    let mut settings = cassandra_settings("meteo");
    settings.nodes = vec!["127.0.0.1:1".into()];
    let (_requests, request_rx) = mpsc::unbounded_channel();
    let (update_tx, mut updates) = mpsc::unbounded_channel();
    let task = tokio::spawn(refresh::run(
        CassandraSource::new(settings),
        "FR".into(),
        Duration::from_millis(200),
        request_rx,
        update_tx,
        std::future::pending(),
    ));
    for _ in 0..2 {
        let update = tokio::time::timeout(Duration::from_secs(30), updates.recv())
            .await
            .unwrap()
            .unwrap();
        match update {
            Update::Latest { result: Err(e), .. } => {
                assert!(e.text().contains("127.0.0.1:1"), "{e:?}")
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(!task.is_finished());
    task.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_snapshot_prints_one_clean_row_per_city_when_stdout_is_a_pipe() {
    let keyspace = seeded().await;
    let mut cmd = meteo();
    cmd.args(["--keyspace", &keyspace, "dash", "--units", "imperial"]);
    let out = run(cmd);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", out.describe());
    assert!(lines[0].starts_with("CITY") && lines[0].contains("WEATHER"));
    assert!(lines[1].starts_with("Bordeaux") && lines[1].contains("57.2°F"));
    assert!(lines[2].starts_with("Lyon") && lines[2].contains("54.5°F"));
    assert!(lines[3].starts_with("Paris") && lines[3].contains("8.1 mph from SW"));
    assert!(!out.stdout.contains('\x1b'), "{:?}", out.stdout);
    drop_keyspace(&keyspace).await;
}

#[test]
fn the_snapshot_fails_in_one_line_naming_cassandra_when_it_does_not_answer() {
    let mut cmd = meteo();
    cmd.args(["--cassandra", "127.0.0.1:1", "dash"]);
    let out = run(cmd);
    out.assert_fails_with(&["127.0.0.1:1"]);
    assert!(out.stdout.is_empty(), "{}", out.describe());
}

#[test]
fn bad_dash_flags_are_usage_errors() {
    for args in [
        ["dash", "--refresh", "0s"],
        ["dash", "--units", "kelvin"],
        ["dash", "--country", "France"],
    ] {
        let mut cmd = meteo();
        cmd.args(args);
        let out = run(cmd);
        assert_eq!(out.code, Some(2), "{args:?}: {}", out.describe());
    }
}

/// A tmux server of its own (its own socket), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// A detached 100x30 session running an interactive shell.
    fn start() -> Tmux {
        let tmux = Tmux {
            socket: unique("meteo"),
        };
        let status = tmux
            .cmd()
            .args(["new-session", "-d", "-s", "t", "-x", "100", "-y", "30"])
            .args(["env", "-i", "PATH=/usr/bin:/bin", "TERM=xterm-256color"])
            .args(["LANG=C.UTF-8", "PS1=$ ", "bash", "--norc", "--noprofile"])
            .status()
            .expect("tmux is required for the dashboard tests: apt-get install tmux");
        assert!(status.success(), "tmux new-session failed");
        tmux
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.args(["-L", &self.socket]);
        cmd
    }

    /// Types `keys` (tmux key names, e.g. "j", "Enter", "Escape").
    fn send(&self, keys: &[&str]) {
        let status = self
            .cmd()
            .args(["send-keys", "-t", "t"])
            .args(keys)
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Types `text` literally.
    fn type_text(&self, text: &str) {
        let status = self
            .cmd()
            .args(["send-keys", "-t", "t", "-l", text])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn screen(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "t"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn query(&self, format: &str) -> String {
        let out = self
            .cmd()
            .args(["display-message", "-p", "-t", "t", format])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Waits until the screen satisfies `ready`, failing with the screen after 30 s.
    #[track_caller]
    fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            if start.elapsed() > Duration::from_secs(30) {
                panic!("waited 30 s for {what}; the screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs `command` in the shell, then prints `{tag}_EXIT=` its exit code and `{tag}_MODE=`
    /// the terminal's line mode. The quotes inside EX''IT and MO''DE keep the echoed command
    /// line from matching them.
    fn run(&self, command: &str, tag: &str) {
        let command = format!(
            "{command}; echo {tag}_EX''IT=$?; \
             stty -a | grep -o -- '-*icanon' | sed 's/^/{tag}_MO''DE=/'"
        );
        self.type_text(&command);
        self.send(&["Enter"]);
    }

    /// Runs the dashboard on `cassandra`, refreshing every second.
    fn run_dash(&self, cassandra: &str, keyspace: &str, tag: &str) {
        let command = format!(
            "{} --cassandra {cassandra} --keyspace {keyspace} dash --refresh 1s",
            env!("CARGO_BIN_EXE_meteo")
        );
        self.run(&command, tag);
    }

    /// After the command `tag` ended: its exit code `code`, the line mode back, the main
    /// screen back, the mouse released. Returns the screen.
    #[track_caller]
    fn assert_restored(&self, tag: &str, code: i32) -> String {
        let screen = self.wait_for("the shell prompt", |s| s.contains(&format!("{tag}_MODE=")));
        assert!(screen.contains(&format!("{tag}_EXIT={code}")), "{screen}");
        assert!(
            screen.contains(&format!("{tag}_MODE=icanon")),
            "the terminal is still raw:\n{screen}"
        );
        assert_eq!(self.query("#{alternate_on}"), "0", "{screen}");
        assert_eq!(self.query("#{mouse_any_flag}"), "0", "mouse still captured");
        screen
    }

    /// The dashboard's process id: the one child of the pane's shell.
    fn wait_for_pid(&self) -> u32 {
        let shell = self.query("#{pane_pid}");
        let out = Command::new("pgrep")
            .args(["-P", &shell, "-x", "meteo"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("no meteo under the shell {shell}"))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

/// What the terminal does that no in-process test can see: raw mode (single keys, a lone Esc),
/// the alternate screen and the mouse, taken and given back. What the dashboard draws and how
/// it answers keys is tested in-process (src/dash/event_loop.rs).
#[tokio::test(flavor = "multi_thread")]
async fn in_a_real_terminal_the_dashboard_shows_the_cities_takes_raw_keys_and_quits_cleanly() {
    let keyspace = seeded().await;
    let tmux = Tmux::start();
    tmux.run_dash(&crate::util::cassandra_nodes(), &keyspace, "QUIT");
    let screen = tmux.wait_for("the cities", |s| {
        s.contains("Paris") && s.contains("Lyon") && s.contains("Bordeaux")
    });
    assert!(
        screen.contains("3 cities") && screen.contains("LIVE"),
        "{screen}"
    );
    assert!(!screen.contains("owned"), "{screen}");
    assert_eq!(tmux.query("#{alternate_on}"), "1");
    assert_eq!(tmux.query("#{mouse_any_flag}"), "1", "mouse not captured");

    // Keys arrive one by one, unechoed; then the history chart from Cassandra.
    tmux.send(&["/"]);
    tmux.type_text("lyo");
    tmux.send(&["Enter"]);
    let screen = tmux.wait_for("the search result", |s| {
        s.contains("/lyo") && !s.contains("Paris") && s.contains("-24h")
    });
    assert!(screen.contains("Lyon"), "{screen}");
    // Esc alone: followed at once by a key, terminals mean Alt+key.
    tmux.send(&["Escape"]);
    tmux.wait_for("the search cleared", |s| {
        s.contains("Paris") && !s.contains("/lyo")
    });
    tmux.send(&["q"]);
    tmux.assert_restored("QUIT", 0);
    drop_keyspace(&keyspace).await;
}

#[test]
fn in_a_real_terminal_sigterm_and_a_panic_give_the_terminal_back() {
    let tmux = Tmux::start();
    tmux.run_dash("127.0.0.1:1", "meteo", "TERM");
    let screen = tmux.wait_for("the connection state", |s| s.contains("DOWN"));
    assert!(screen.contains("127.0.0.1:1"), "{screen}");
    let pid = tmux.wait_for_pid();
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    tmux.assert_restored("TERM", 0);

    // The panic's message comes after the terminal is given back: on the main screen, readable.
    let child = format!(
        "{} dash::a_dashboard_whose_source_panics --exact --ignored --nocapture",
        std::env::current_exe().unwrap().display()
    );
    tmux.run(&child, "PANIC");
    let screen = tmux.assert_restored("PANIC", 0);
    assert!(
        screen.contains("the source panicked on purpose"),
        "the panic message is lost:\n{screen}"
    );
    assert!(
        screen.contains("the dashboard ended: the refresh task stopped unexpectedly"),
        "{screen}"
    );
}

/// Answers nothing: panics at the first read, as a bug in the refresh task would.
struct PanickingSource;

impl meteo::dash::refresh::Source for PanickingSource {
    async fn latest(&mut self, _country: &str) -> anyhow::Result<Vec<Reading>> {
        panic!("the source panicked on purpose")
    }

    async fn history(&mut self, _city_id: i64) -> anyhow::Result<Vec<Reading>> {
        panic!("the source panicked on purpose")
    }
}

/// Not a test by itself: the dashboard process of the panic case above, which runs it in a
/// terminal. Outside one it fails (the terminal cannot be taken).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs a terminal: run by in_a_real_terminal_sigterm_and_a_panic_give_the_terminal_back"]
async fn a_dashboard_whose_source_panics() {
    let (_trigger, shutdown) = meteo::shutdown::Shutdown::manual();
    let settings = meteo::dash::DashSettings::new(meteo::model::CountryCode::FR);
    let error = meteo::dash::term::run(settings, PanickingSource, shutdown)
        .await
        .unwrap_err();
    assert_eq!(error.to_string(), "the refresh task stopped unexpectedly");
    println!("the dashboard ended: {error}");
}

/// A TCP proxy to the real Cassandra on a port of its own; dropping it closes the port and
/// every connection through it: a dropped connection without stopping Cassandra.
struct Proxy {
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(port: u16) -> (Proxy, u16) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let target = crate::util::cassandra_nodes()
            .split(',')
            .next()
            .unwrap()
            .to_string();
        let task = tokio::spawn(async move {
            let mut links = tokio::task::JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                let target = target.clone();
                links.spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        (Proxy { task }, port)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Aborting the accept loop drops the listener and the JoinSet, which aborts every link.
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_refresh_task_survives_a_dropped_connection_and_recovers_when_it_is_back() {
    let keyspace = seeded().await;
    let (proxy, port) = Proxy::start(0).await;
    let mut settings = cassandra_settings(&keyspace);
    settings.nodes = vec![format!("127.0.0.1:{port}")];
    let (_requests, request_rx) = mpsc::unbounded_channel();
    let (update_tx, mut updates) = mpsc::unbounded_channel();
    let task = tokio::spawn(refresh::run(
        CassandraSource::new(settings),
        "FR".into(),
        Duration::from_millis(300),
        request_rx,
        update_tx,
        std::future::pending(),
    ));
    let first = next(&mut updates).await;
    assert!(
        matches!(&first, Update::Latest { result: Ok(c), .. } if c.len() == 3),
        "{first:?}"
    );
    // A read that succeeds, with the same three cities or with nothing new since.
    let ok = |u: &Update| {
        matches!(u, Update::Latest { result: Ok(c), .. } if c.len() == 3)
            || matches!(u, Update::LatestChanges { changed, removed, .. } if changed.is_empty() && removed.is_empty())
    };

    drop(proxy);
    let start = Instant::now();
    loop {
        match next(&mut updates).await {
            Update::Latest { result: Err(_), .. } => break,
            u if ok(&u) => assert!(start.elapsed() < Duration::from_secs(20), "never failed"),
            other => panic!("{other:?}"),
        }
    }

    let (_proxy, _) = Proxy::start(port).await;
    let start = Instant::now();
    while !ok(&next(&mut updates).await) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "did not reconnect"
        );
    }
    task.abort();
    drop_keyspace(&keyspace).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refresh_reads_again_only_what_changed_and_still_sees_every_change() {
    use meteo::dash::refresh::Source;
    let keyspace = seeded().await;
    let mut source = CassandraSource::new(cassandra_settings(&keyspace));
    let by_id = |readings: Vec<Reading>| -> std::collections::BTreeMap<i64, Reading> {
        readings.into_iter().map(|r| (r.city_id, r)).collect()
    };
    let first = by_id(source.latest("FR").await.unwrap());
    assert_eq!(first.len(), 3);
    assert_eq!(first[&2996944].temperature, 12.5, "Lyon's newest");
    assert_eq!(
        source.latest_changes("FR").await.unwrap(),
        NOTHING_NEW,
        "nothing was written"
    );

    // A newer reading of Paris, an older one of Lyon (never shown), a new city.
    let writer = ReadingWriter::prepare(session(Some(&keyspace)).await)
        .await
        .unwrap();
    for r in [
        reading(2988507, "Paris", 9.9, 1),
        reading(2996944, "Lyon", -5.0, 600),
        reading(2995469, "Marseille", 15.0, 2),
    ] {
        writer.write(&r, Utc::now()).await.unwrap();
    }
    let Latest::Changes { changed, removed } = source.latest_changes("FR").await.unwrap() else {
        panic!("changes expected");
    };
    assert_eq!(
        by_id(changed.into_iter().map(|row| row.reading).collect())
            .keys()
            .copied()
            .collect::<Vec<_>>(),
        [2988507, 2995469],
        "Paris (newer) and Marseille (new), not Lyon (older)"
    );
    assert!(removed.is_empty());
    let second = by_id(source.latest("FR").await.unwrap());
    assert_eq!(second.len(), 4);
    assert_eq!(second[&2988507].temperature, 9.9);
    assert_eq!(second[&2996944], first[&2996944]);
    assert_eq!(second[&2995469].city_name, "Marseille");
    // The same rows as a full read.
    let plain = session(Some(&keyspace)).await;
    let full = by_id(meteo::store::readings::latest(&plain, "FR").await.unwrap());
    assert_eq!(second, full);

    // A city removed from the partition disappears.
    let s = session(Some(&keyspace)).await;
    meteo::store::query(
        &s,
        "DELETE FROM latest WHERE country = 'FR' AND city_id = 2995469",
    )
    .await
    .unwrap();
    assert_eq!(
        source.latest_changes("FR").await.unwrap(),
        Latest::Changes {
            changed: vec![],
            removed: vec![2995469]
        }
    );
    let third = by_id(source.latest("FR").await.unwrap());
    assert_eq!(third.len(), 3);
    assert!(!third.contains_key(&2995469));
    // Only an older reading of a city: still nothing new to show.
    writer
        .write(&reading(2996944, "Lyon", -8.0, 900), Utc::now())
        .await
        .unwrap();
    assert_eq!(source.latest_changes("FR").await.unwrap(), NOTHING_NEW);
    assert_eq!(by_id(source.latest("FR").await.unwrap()), third);
    crate::util::drop_keyspace(&keyspace).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_keyspace_is_told_as_such_at_once_not_as_cassandra_down() {
    let keyspace = unique("absent");
    let mut source = CassandraSource::new(cassandra_settings(&keyspace));
    let started = std::time::Instant::now();
    let update = latest_update(&mut source, "FR").await;
    let took = started.elapsed();
    let Update::Latest {
        result: Err(failure),
        ..
    } = update
    else {
        panic!("not a failed read: {update:?}");
    };
    assert_eq!(
        failure,
        Failure::NoKeyspace(format!(
            "keyspace {keyspace} does not exist: run meteo migrate"
        ))
    );
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_keyspace_is_said_at_once_by_the_snapshot_and_first_on_the_live_screen() {
    use meteo::dash::app::App;
    use meteo::dash::ui::buffer_lines;
    use meteo::dash::DashSettings;
    use ratatui::backend::TestBackend;
    use ratatui::layout::Rect;
    use ratatui::Terminal;

    let keyspace = unique("nope");
    let said = format!("keyspace {keyspace} does not exist");

    // The snapshot: one error line, as fast as `meteo consume` says it (it took 10 s).
    let mut cmd = meteo();
    cmd.args(["--keyspace", &keyspace, "dash"]);
    let out = run(cmd);
    out.assert_fails_with(&[&said, "meteo migrate"]);
    assert!(out.took < Duration::from_secs(3), "{}", out.describe());
    assert!(out.stdout.is_empty(), "{}", out.describe());

    // The live view: the first refresh says so as fast, and at 80 columns the table says it
    // whole; nothing speaks of Cassandra being down.
    let mut source = CassandraSource::new(cassandra_settings(&keyspace));
    let started = Instant::now();
    let update = refresh::latest_update(&mut source, "FR").await;
    assert!(started.elapsed() < Duration::from_secs(3), "{update:?}");
    let mut app = App::new(
        DashSettings::new(meteo::model::CountryCode::FR),
        Utc::now(),
        Rect::new(0, 0, 80, 24),
    );
    app.apply(update);
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal.draw(|f| f.render_widget(&app, f.area())).unwrap();
    let lines = buffer_lines(terminal.backend().buffer());
    let screen = lines.join("\n");
    let whole = format!("{said}: run meteo migrate");
    let at = lines.iter().position(|l| l.contains(&whole));
    assert!(
        at.is_some_and(|line| line < 12),
        "{whole:?} not whole in the top half\n{screen}"
    );
    assert!(lines[0].contains("no keyspace"), "{screen}");
    for wrong in ["DOWN", "does not answer"] {
        assert!(!screen.contains(wrong), "{wrong:?}\n{screen}");
    }
}
