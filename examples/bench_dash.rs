//! The dashboard's refresh cost with many cities (run by `scripts/bench-dash`): seeds a keyspace
//! with N synthetic cities in `latest`, then times, over several rounds,
//!
//! - baselines: the partition read for one column, for all columns (rows not decoded), and
//!   `store::readings::latest` (rows decoded into readings);
//! - the dashboard's first refresh (every column read once), then its steady refresh with nothing
//!   new, then with one city changed before each: the refresh task's reads, readings into
//!   cities, the app taking them (sort, filter) and a redraw of a 200x60 screen into a ratatui
//!   `TestBackend`;
//! - the redraw alone, at 200x60 and 80x24;
//!
//! and prints the process's memory (VmRSS, VmHWM) once the cities are loaded.
//!
//! Usage: bench_dash KEYSPACE [CITIES] [ROUNDS], or bench_dash --drop KEYSPACE to clean up;
//! Cassandra from CASSANDRA_NODES. With BENCH_CITY_LIST (a producer city list, e.g. from
//! `meteo cities --keep-duplicates`), the readings are of its first CITIES French cities;
//! without it, of made-up cities scattered over France.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use futures::StreamExt;
use meteo::city::City;
use meteo::dash::app::App;
use meteo::dash::refresh::{self, CassandraSource, Update};
use meteo::dash::DashSettings;
use meteo::model::{Reading, SCHEMA_VERSION, SOURCE_SYNTHETIC};
use meteo::store::readings::{self, ReadingWriter};
use meteo::store::{CassandraSettings, Keyspace};
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;
use ratatui::Terminal;

/// A small deterministic generator, so every run seeds the same cities.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A made-up reading of `city`; without a city list, of a made-up city `i`.
fn synthetic(i: i64, city: Option<&City>, rng: &mut Lcg) -> Reading {
    let now = Utc::now();
    let observed_at = now - chrono::Duration::seconds((rng.next() * 1800.0) as i64);
    let (lat, lon) = (42.5 + rng.next() * 8.5, -4.5 + rng.next() * 12.5);
    Reading {
        schema: SCHEMA_VERSION,
        source: Some(SOURCE_SYNTHETIC.into()),
        city_id: city.map_or(1_000_000 + i, |c| c.id),
        city_name: city.map_or_else(|| format!("Synthville-{i:05}"), |c| c.name.clone()),
        country: "FR".into(),
        lat: Some(city.map_or(lat, |c| c.lat)),
        lon: Some(city.map_or(lon, |c| c.lon)),
        observed_at,
        fetched_at: Some(now),
        temperature: -5.0 + rng.next() * 35.0,
        feels_like: Some(-8.0 + rng.next() * 35.0),
        temp_min: Some(-6.0),
        temp_max: Some(31.0),
        humidity: (rng.next() * 100.0) as i32,
        pressure: Some(1013),
        wind_speed: Some(rng.next() * 20.0),
        wind_deg: Some((rng.next() * 360.0) as i32),
        wind_gust: None,
        clouds: Some(40),
        visibility: Some(10000),
        rain_1h: None,
        rain_3h: None,
        snow_1h: None,
        snow_3h: None,
        weather_id: Some(803),
        weather_main: Some("Clouds".into()),
        weather_description: Some("nuageux".into()),
        weather_icon: Some("04d".into()),
        sunrise: Some(now),
        sunset: Some(now),
        timezone: Some(3600),
    }
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

struct Stats(Vec<Duration>);

impl std::fmt::Display for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut v = self.0.clone();
        v.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(
            f,
            "median {:7.2} ms  min {:7.2} ms  max {:7.2} ms  ({} rounds)",
            ms(v[v.len() / 2]),
            ms(v[0]),
            ms(v[v.len() - 1]),
            v.len()
        )
    }
}

/// One refresh as the dashboard does it: the refresh task's read, the loop applying it and
/// redrawing.
async fn refresh_once(
    source: &mut CassandraSource,
    app: &mut App,
    terminal: &mut Terminal<TestBackend>,
) -> anyhow::Result<()> {
    let update = refresh::latest_update(source, "FR").await;
    if let Update::Latest { result: Err(e), .. } = &update {
        anyhow::bail!("refresh failed: {e}");
    }
    app.now = Utc::now();
    app.apply(update);
    draw(app, terminal)
}

/// The id of the `i`-th city of the app, in its order.
fn app_city_id(app: &App, i: usize) -> i64 {
    app.cities[i % app.cities.len()].id()
}

fn draw(app: &mut App, terminal: &mut Terminal<TestBackend>) -> anyhow::Result<()> {
    let size = terminal.size()?;
    app.area = Rect::new(0, 0, size.width, size.height);
    terminal.draw(|frame| frame.render_widget(&*app, frame.area()))?;
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    let drop = args.next_if_eq("--drop").is_some();
    let keyspace = args
        .next()
        .context("usage: bench_dash KEYSPACE [CITIES] [ROUNDS] | bench_dash --drop KEYSPACE")?;
    let keyspace = Keyspace::parse(&keyspace).map_err(anyhow::Error::msg)?;
    let cities: i64 = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(20_000);
    let rounds: usize = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(20)
        .max(1);
    let nodes = std::env::var("CASSANDRA_NODES").unwrap_or_else(|_| "127.0.0.1:9042".into());
    if drop {
        let settings = CassandraSettings::new(
            nodes.split(',').map(str::to_string).collect(),
            keyspace.clone(),
        );
        let session = meteo::store::connect(&settings, None).await?;
        meteo::store::ddl(&session, &format!("DROP KEYSPACE IF EXISTS {keyspace}")).await?;
        return Ok(());
    }
    let settings = CassandraSettings::new(
        nodes.split(',').map(str::to_string).collect(),
        keyspace.clone(),
    );
    let session = meteo::store::connect(&settings, Some(keyspace.as_str())).await?;

    // The real cities (ids, names, places) when a list is given, e.g. the whole French list.
    let listed = match std::env::var_os("BENCH_CITY_LIST") {
        Some(path) => {
            let mut list = meteo::city::load(std::path::Path::new(&path))?;
            list.retain(|c| c.country == "FR");
            list.truncate(cities as usize);
            Some(list)
        }
        None => None,
    };
    let cities = listed.as_ref().map_or(cities, |l| l.len() as i64);
    let present = readings::latest(&session, "FR").await?.len() as i64;
    if present < cities {
        let start = Instant::now();
        let writer = Arc::new(ReadingWriter::prepare(session.clone()).await?);
        let mut rng = Lcg(42);
        let rows: Vec<Reading> = (0..cities)
            .map(|i| synthetic(i, listed.as_ref().map(|l| &l[i as usize]), &mut rng))
            .collect();
        let results: Vec<anyhow::Result<()>> = futures::stream::iter(rows)
            .map(|r| {
                let writer = writer.clone();
                async move { writer.write(&r, Utc::now()).await }
            })
            .buffer_unordered(64)
            .collect()
            .await;
        results.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
        println!(
            "seeded {cities} cities ({}) in {:.1} s",
            if listed.is_some() {
                "from BENCH_CITY_LIST"
            } else {
                "made up"
            },
            start.elapsed().as_secs_f64()
        );
    }

    // Warm up the connection and the server's caches.
    readings::latest(&session, "FR").await?;

    // The query alone, rows not decoded: what Cassandra and the wire cost; and the same
    // partition read for one column only: Cassandra's own floor for reading it.
    let mut raw = Vec::new();
    let mut floor = Vec::new();
    for (cql, times) in [
        ("SELECT * FROM latest WHERE country = ?", &mut raw),
        ("SELECT city_id FROM latest WHERE country = ?", &mut floor),
    ] {
        for _ in 0..rounds {
            let start = Instant::now();
            let rows = meteo::store::rows(
                meteo::store::query_with_values(&session, cql, cdrs_tokio::query_values!("FR"))
                    .await?,
            )?;
            std::hint::black_box(rows.len());
            times.push(start.elapsed());
        }
    }

    let mut baseline = Vec::new();
    let mut found = 0;
    for _ in 0..rounds {
        let start = Instant::now();
        found = readings::latest(&session, "FR").await?.len();
        baseline.push(start.elapsed());
    }

    let rss_before = status_kib("VmRSS:");
    let mut source = CassandraSource::new(settings);
    let mut app = App::new(
        DashSettings::new(meteo::model::CountryCode::FR),
        Utc::now(),
        Rect::new(0, 0, 200, 60),
    );
    let mut wide = Terminal::new(TestBackend::new(200, 60))?;
    let mut narrow = Terminal::new(TestBackend::new(80, 24))?;
    // The first refresh reads every column once; the next ones what changed (here: nothing).
    let start = Instant::now();
    refresh_once(&mut source, &mut app, &mut wide).await?;
    let first_refresh = start.elapsed();
    let mut refresh = Vec::new();
    for _ in 0..rounds {
        let start = Instant::now();
        refresh_once(&mut source, &mut app, &mut wide).await?;
        refresh.push(start.elapsed());
    }
    // Then with one city changed before each refresh: what a live dashboard mostly does.
    let writer = ReadingWriter::prepare(session.clone()).await?;
    let mut rng = Lcg(7);
    let mut refresh_one_new = Vec::new();
    for round in 0..rounds {
        let mut reading = readings::latest_of(&session, "FR", &[app_city_id(&app, round)])
            .await?
            .pop()
            .context("a city to change")?;
        reading.observed_at = Utc::now();
        reading.temperature = -5.0 + rng.next() * 35.0;
        writer.write(&reading, Utc::now()).await?;
        let start = Instant::now();
        refresh_once(&mut source, &mut app, &mut wide).await?;
        refresh_one_new.push(start.elapsed());
    }
    let mut redraw_wide = Vec::new();
    let mut redraw_narrow = Vec::new();
    for _ in 0..rounds {
        let start = Instant::now();
        draw(&mut app, &mut wide)?;
        redraw_wide.push(start.elapsed());
        let start = Instant::now();
        draw(&mut app, &mut narrow)?;
        redraw_narrow.push(start.elapsed());
    }

    println!("cities in latest:                     {found}");
    println!("baseline, city_id column alone:       {}", Stats(floor));
    println!("baseline, all columns, not decoded:   {}", Stats(raw));
    println!("baseline, store::readings::latest:    {}", Stats(baseline));
    println!(
        "first refresh (every column, once):   {:7.2} ms",
        first_refresh.as_secs_f64() * 1000.0
    );
    println!("refresh (query + apply + redraw):     {}", Stats(refresh));
    println!(
        "refresh, one city new each time:      {}",
        Stats(refresh_one_new)
    );
    println!(
        "redraw alone, 200x60:                 {}",
        Stats(redraw_wide)
    );
    println!(
        "redraw alone, 80x24:                  {}",
        Stats(redraw_narrow)
    );
    println!(
        "memory: VmRSS {} MiB with the cities loaded (before the dashboard state: {} MiB), peak VmHWM {} MiB",
        status_kib("VmRSS:") / 1024,
        rss_before / 1024,
        status_kib("VmHWM:") / 1024
    );
    Ok(())
}
