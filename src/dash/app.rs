//! The dashboard's state and what keys, mouse and data do to it. Pure: no terminal, no
//! Cassandra, no clock (the loop sets [`App::now`]); the event loop in [`super::term`] feeds it
//! and [`super::ui`] draws it, so tests drive the whole app without a terminal.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Position, Rect};

use super::text::{clean, fold};
use super::ui;
use crate::model::{Reading, SOURCE_SYNTHETIC};

/// How the dashboard shows numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Units {
    /// °C and m/s (the API's own units).
    Metric,
    /// °C and km/h (as French forecasts give wind).
    MetricKmh,
    /// °F and mph.
    Imperial,
}

impl Units {
    /// The system named `metric`, `metric-kmh` or `imperial` (as on the command line).
    pub fn from_name(name: &str) -> Option<Units> {
        match name {
            "metric" => Some(Units::Metric),
            "metric-kmh" => Some(Units::MetricKmh),
            "imperial" => Some(Units::Imperial),
            _ => None,
        }
    }

    /// The next system, for the `u` key.
    pub fn next(self) -> Units {
        match self {
            Units::Metric => Units::MetricKmh,
            Units::MetricKmh => Units::Imperial,
            Units::Imperial => Units::Metric,
        }
    }

    /// A temperature in °C, in this system.
    pub fn temperature(self, celsius: f64) -> f64 {
        match self {
            Units::Imperial => celsius * 9.0 / 5.0 + 32.0,
            _ => celsius,
        }
    }

    pub fn temperature_unit(self) -> &'static str {
        match self {
            Units::Imperial => "°F",
            _ => "°C",
        }
    }

    /// A speed in m/s, in this system.
    pub fn speed(self, metres_per_second: f64) -> f64 {
        match self {
            Units::Metric => metres_per_second,
            Units::MetricKmh => metres_per_second * 3.6,
            Units::Imperial => metres_per_second * 2.236_936,
        }
    }

    pub fn speed_unit(self) -> &'static str {
        match self {
            Units::Metric => "m/s",
            Units::MetricKmh => "km/h",
            Units::Imperial => "mph",
        }
    }
}

/// The dashboard's settings, typed once from the command line.
#[derive(Debug, Clone)]
pub struct DashSettings {
    /// The `latest` partition to read.
    pub country: String,
    /// How often the `latest` partition is read again.
    pub refresh: Duration,
    pub units: Units,
    /// A reading older than this is drawn dimmed.
    pub stale_after: Duration,
    /// Colours on (off under `NO_COLOR`).
    pub color: bool,
    /// ASCII weather icons and wind directions instead of Unicode symbols.
    pub ascii: bool,
}

impl DashSettings {
    /// Settings for tests and tools: France, 5 s, metric, stale after an hour, colour, Unicode.
    pub fn new(country: &str) -> Self {
        Self {
            country: country.to_string(),
            refresh: Duration::from_secs(5),
            units: Units::Metric,
            stale_after: Duration::from_secs(3600),
            color: true,
            ascii: false,
        }
    }
}

/// The order of the table, cycled with `s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Alphabetical, ignoring case and accents.
    Name,
    /// Hottest first.
    Temperature,
    /// Freshest first.
    Age,
}

impl SortKey {
    fn next(self) -> SortKey {
        match self {
            SortKey::Name => SortKey::Temperature,
            SortKey::Temperature => SortKey::Age,
            SortKey::Age => SortKey::Name,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Temperature => "temperature",
            SortKey::Age => "age",
        }
    }
}

/// One city's newest reading, as the dashboard shows it: every outside text already cleaned.
/// Built off the UI loop (in the refresh task), so the loop only swaps lists.
#[derive(Debug, Clone, PartialEq)]
pub struct City {
    pub id: i64,
    pub name: String,
    /// [`fold`]ed name: the search and sort key.
    key: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub observed_at: DateTime<Utc>,
    pub synthetic: bool,
    pub temperature: f64,
    pub feels_like: Option<f64>,
    pub temp_min: Option<f64>,
    pub temp_max: Option<f64>,
    pub humidity: i32,
    pub pressure: Option<i32>,
    pub wind_speed: Option<f64>,
    pub wind_deg: Option<i32>,
    pub wind_gust: Option<f64>,
    pub description: String,
    pub icon: String,
    pub sunrise: Option<DateTime<Utc>>,
    pub sunset: Option<DateTime<Utc>>,
    /// Shift from UTC in seconds, for showing sunrise and sunset in the city's own time.
    pub timezone: Option<i32>,
}

impl City {
    pub fn from_reading(r: &Reading) -> City {
        let name = clean(&r.city_name);
        City {
            id: r.city_id,
            key: fold(&name),
            name,
            lat: r.lat.filter(|v| v.is_finite()),
            lon: r.lon.filter(|v| v.is_finite()),
            observed_at: r.observed_at,
            synthetic: r.source.as_deref() == Some(SOURCE_SYNTHETIC),
            temperature: r.temperature,
            feels_like: r.feels_like,
            temp_min: r.temp_min,
            temp_max: r.temp_max,
            humidity: r.humidity,
            pressure: r.pressure,
            wind_speed: r.wind_speed,
            wind_deg: r.wind_deg,
            wind_gust: r.wind_gust,
            description: r
                .weather_description
                .as_deref()
                .or(r.weather_main.as_deref())
                .map(clean)
                .unwrap_or_default(),
            icon: r.weather_icon.as_deref().map(clean).unwrap_or_default(),
            sunrise: r.sunrise,
            sunset: r.sunset,
            timezone: r.timezone,
        }
    }

    /// How old the reading is at `now` (zero for a clock ahead of ours).
    pub fn age(&self, now: DateTime<Utc>) -> chrono::Duration {
        (now - self.observed_at).max(chrono::Duration::zero())
    }
}

/// One point of the 24-hour chart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub at: DateTime<Utc>,
    pub temperature: f64,
    pub feels_like: Option<f64>,
    pub humidity: i32,
}

impl Point {
    pub fn from_reading(r: &Reading) -> Point {
        Point {
            at: r.observed_at,
            temperature: r.temperature,
            feels_like: r.feels_like,
            humidity: r.humidity,
        }
    }
}

/// Where a piece of data stands: asked for, here, or failed.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadingState<T> {
    Loading,
    Loaded(T),
    Error(String),
}

/// The link to Cassandra, as the header shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum Connection {
    /// No answer yet.
    Connecting,
    /// The last read succeeded at this time.
    Up(DateTime<Utc>),
    /// The last read failed; the dashboard keeps the data it had and tries again.
    Down { error: String, since: DateTime<Utc> },
}

/// What the refresh task sends to the loop.
#[derive(Debug, Clone)]
pub enum Update {
    /// One read of the `latest` partition.
    Latest {
        at: DateTime<Utc>,
        result: Result<Vec<City>, String>,
    },
    /// One read of the `latest` partition, as what changed since the read before: cities
    /// new or with a new reading, and cities gone. Both empty when nothing changed.
    LatestChanges {
        at: DateTime<Utc>,
        changed: Vec<City>,
        removed: Vec<i64>,
    },
    /// One city's last 24 hours, oldest first.
    History {
        city_id: i64,
        result: Result<Vec<Point>, String>,
    },
}

/// What the loop asks of the refresh task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Read `latest` now rather than at the next tick.
    Latest,
    /// Read this city's last 24 hours.
    History(i64),
}

/// What the loop should do after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Nothing visible changed.
    Idle,
    Redraw,
    Quit,
}

/// The whole dashboard state.
#[derive(Debug)]
pub struct App {
    pub settings: DashSettings,
    pub units: Units,
    /// Every city of the last successful read, in no particular order.
    pub cities: Vec<City>,
    /// Indexes into `cities`: filtered by the search, in the chosen order.
    pub view: Vec<usize>,
    /// Position of the selection in `view`.
    pub cursor: usize,
    /// First row of `view` shown in the table.
    pub offset: usize,
    /// The selected city, kept across refreshes and re-sorts.
    pub selected_id: Option<i64>,
    pub sort: SortKey,
    pub search: String,
    pub editing_search: bool,
    pub show_map: bool,
    pub show_help: bool,
    pub connection: Connection,
    /// Whether the first read has come back (successfully or not).
    pub loaded_once: bool,
    /// The selected city's last 24 hours.
    pub history: Option<(i64, LoadingState<Vec<Point>>)>,
    /// The time everything is drawn at; set by the loop before each draw.
    pub now: DateTime<Utc>,
    /// The terminal's size: the table's height (for paging and mouse clicks) depends on it.
    pub area: Rect,
    /// Requests for the refresh task, taken by the loop after each event.
    requests: Vec<Request>,
}

impl App {
    pub fn new(settings: DashSettings, now: DateTime<Utc>, area: Rect) -> App {
        App {
            units: settings.units,
            settings,
            cities: Vec::new(),
            view: Vec::new(),
            cursor: 0,
            offset: 0,
            selected_id: None,
            sort: SortKey::Name,
            search: String::new(),
            editing_search: false,
            show_map: true,
            show_help: false,
            connection: Connection::Connecting,
            loaded_once: false,
            history: None,
            now,
            area,
            requests: Vec::new(),
        }
    }

    /// The requests made since the last call, for the refresh task.
    pub fn take_requests(&mut self) -> Vec<Request> {
        std::mem::take(&mut self.requests)
    }

    /// The selected city, if any.
    pub fn selected(&self) -> Option<&City> {
        self.view.get(self.cursor).map(|&i| &self.cities[i])
    }

    /// The cities in table order.
    pub fn rows(&self) -> impl Iterator<Item = &City> {
        self.view.iter().map(|&i| &self.cities[i])
    }

    /// Whether a reading is older than the stale limit.
    pub fn is_stale(&self, city: &City) -> bool {
        city.age(self.now).to_std().unwrap_or_default() > self.settings.stale_after
    }

    /// Takes in what the refresh task found.
    pub fn apply(&mut self, update: Update) -> Flow {
        match update {
            Update::Latest { at, result } => {
                self.loaded_once = true;
                match result {
                    Ok(cities) => {
                        if cities != self.cities {
                            self.cities = cities;
                            self.refreshed_view();
                        }
                        self.connected(at);
                    }
                    Err(error) => {
                        // Keep the last data: a dropped connection must not blank the screen.
                        let since = match &self.connection {
                            Connection::Down { since, .. } => *since,
                            _ => at,
                        };
                        self.connection = Connection::Down { error, since };
                    }
                }
                Flow::Redraw
            }
            Update::LatestChanges {
                at,
                changed,
                removed,
            } => {
                self.loaded_once = true;
                if !changed.is_empty() || !removed.is_empty() {
                    self.merge(changed, &removed);
                    self.refreshed_view();
                }
                self.connected(at);
                Flow::Redraw
            }
            Update::History { city_id, result } => {
                if self.selected_id != Some(city_id) {
                    // An answer for a city no longer selected.
                    return Flow::Idle;
                }
                let state = match result {
                    Ok(points) => LoadingState::Loaded(points),
                    Err(e) => LoadingState::Error(e),
                };
                self.history = Some((city_id, state));
                Flow::Redraw
            }
        }
    }

    /// [`Self::rebuild_view`] after new data. The selection follows its city, except from
    /// the first row, which stays the first row: sorted by age, the freshest city stays on
    /// top instead of the view drifting away from it.
    fn refreshed_view(&mut self) {
        let at_top = self.cursor == 0;
        self.rebuild_view();
        if at_top {
            self.select(0);
        }
    }

    /// Replaces or adds the `changed` cities and drops the `removed` ones.
    fn merge(&mut self, changed: Vec<City>, removed: &[i64]) {
        let mut at: HashMap<i64, usize> = self
            .cities
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id, i))
            .collect();
        for city in changed {
            match at.get(&city.id) {
                Some(&i) => self.cities[i] = city,
                None => {
                    at.insert(city.id, self.cities.len());
                    self.cities.push(city);
                }
            }
        }
        if !removed.is_empty() {
            let removed: HashSet<i64> = removed.iter().copied().collect();
            self.cities.retain(|c| !removed.contains(&c.id));
        }
    }

    /// A read of `latest` succeeded at `at`.
    fn connected(&mut self, at: DateTime<Utc>) {
        self.connection = Connection::Up(at);
        self.want_history(false);
    }

    /// Asks for the selected city's history when it is missing, for another city, failed, or
    /// (`force`) older than the city's newest reading.
    fn want_history(&mut self, force: bool) {
        let Some(city) = self.selected() else {
            self.history = None;
            return;
        };
        let (id, observed_at) = (city.id, city.observed_at);
        let needed = match &self.history {
            Some((hid, _)) if *hid != id => true,
            None => true,
            Some((_, LoadingState::Loading)) => force,
            Some((_, LoadingState::Error(_))) => true,
            Some((_, LoadingState::Loaded(points))) => {
                force || points.last().is_none_or(|p| p.at < observed_at)
            }
        };
        if needed {
            if !matches!(&self.history, Some((hid, LoadingState::Loaded(_))) if *hid == id) {
                self.history = Some((id, LoadingState::Loading));
            }
            self.requests.push(Request::History(id));
        }
    }

    /// Filters and sorts `cities` into `view`, keeping the selected city selected.
    fn rebuild_view(&mut self) {
        let needle = fold(self.search.trim());
        let cities = &self.cities;
        let mut view: Vec<usize> = (0..cities.len())
            .filter(|&i| needle.is_empty() || cities[i].key.contains(&needle))
            .collect();
        match self.sort {
            SortKey::Name => view.sort_by(|&a, &b| {
                cities[a]
                    .key
                    .cmp(&cities[b].key)
                    .then(cities[a].id.cmp(&cities[b].id))
            }),
            SortKey::Temperature => view.sort_by(|&a, &b| {
                cities[b]
                    .temperature
                    .total_cmp(&cities[a].temperature)
                    .then(cities[a].key.cmp(&cities[b].key))
            }),
            SortKey::Age => view.sort_by(|&a, &b| {
                cities[b]
                    .observed_at
                    .cmp(&cities[a].observed_at)
                    .then(cities[a].key.cmp(&cities[b].key))
            }),
        }
        self.view = view;
        let kept = self
            .selected_id
            .and_then(|id| self.view.iter().position(|&i| self.cities[i].id == id));
        self.cursor = kept.unwrap_or(0);
        self.selected_id = self.selected().map(|c| c.id);
        self.scroll_into_view();
        self.want_history(false);
    }

    /// Rows of cities the table shows at the current size.
    pub fn table_rows(&self) -> usize {
        ui::layout(self.area, self.show_map).table_body.height as usize
    }

    fn scroll_into_view(&mut self) {
        let height = self.table_rows().max(1);
        if self.cursor < self.offset {
            self.offset = self.cursor;
        } else if self.cursor >= self.offset + height {
            self.offset = self.cursor + 1 - height;
        }
        // No empty space below the last row when the list shrank.
        let max_offset = self.view.len().saturating_sub(height);
        self.offset = self.offset.min(max_offset);
    }

    fn select(&mut self, cursor: usize) {
        if self.view.is_empty() {
            return;
        }
        self.cursor = cursor.min(self.view.len() - 1);
        self.selected_id = self.selected().map(|c| c.id);
        self.scroll_into_view();
        self.want_history(false);
    }

    fn move_by(&mut self, delta: isize) {
        let target = self.cursor.saturating_add_signed(delta);
        self.select(target);
    }

    /// Handles one terminal event.
    pub fn on_event(&mut self, event: &Event) -> Flow {
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => self.on_key(*key),
            Event::Mouse(mouse) => self.on_mouse(*mouse),
            Event::Resize(width, height) => {
                self.area = Rect::new(0, 0, *width, *height);
                self.scroll_into_view();
                Flow::Redraw
            }
            _ => Flow::Idle,
        }
    }

    /// Handles one key.
    pub fn on_key(&mut self, key: KeyEvent) -> Flow {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c')) {
            return Flow::Quit;
        }
        if self.editing_search {
            return self.on_search_key(key);
        }
        if self.show_help {
            // Any key closes the help; q still quits.
            self.show_help = false;
            if matches!(key.code, KeyCode::Char('q')) {
                return Flow::Quit;
            }
            return Flow::Redraw;
        }
        let page = self.table_rows().max(1) as isize;
        match key.code {
            KeyCode::Char('q') => return Flow::Quit,
            KeyCode::Esc => {
                // Esc first undoes a search, then quits.
                if self.search.is_empty() {
                    return Flow::Quit;
                }
                self.search.clear();
                self.rebuild_view();
            }
            KeyCode::Down | KeyCode::Char('j') => self.move_by(1),
            KeyCode::Up | KeyCode::Char('k') => self.move_by(-1),
            KeyCode::PageDown => self.move_by(page),
            KeyCode::PageUp => self.move_by(-page),
            KeyCode::Char('d') if ctrl => self.move_by(page / 2),
            KeyCode::Char('u') if ctrl => self.move_by(-page / 2),
            KeyCode::Home | KeyCode::Char('g') => self.select(0),
            KeyCode::End | KeyCode::Char('G') => self.select(usize::MAX),
            KeyCode::Char('/') => self.editing_search = true,
            KeyCode::Char('s') => {
                self.sort = self.sort.next();
                self.rebuild_view();
            }
            KeyCode::Char('u') => self.units = self.units.next(),
            KeyCode::Char('m') => {
                self.show_map = !self.show_map;
                self.scroll_into_view();
            }
            KeyCode::Char('r') => {
                self.requests.push(Request::Latest);
                self.want_history(true);
            }
            KeyCode::Char('?') => self.show_help = true,
            _ => return Flow::Idle,
        }
        Flow::Redraw
    }

    fn on_search_key(&mut self, key: KeyEvent) -> Flow {
        match key.code {
            KeyCode::Enter => self.editing_search = false,
            KeyCode::Esc => {
                self.editing_search = false;
                self.search.clear();
                self.rebuild_view();
            }
            KeyCode::Backspace => {
                self.search.pop();
                self.rebuild_view();
            }
            KeyCode::Down => self.move_by(1),
            KeyCode::Up => self.move_by(-1),
            KeyCode::Char(c) if !c.is_control() && self.search.chars().count() < 40 => {
                self.search.push(c);
                self.rebuild_view();
            }
            _ => return Flow::Idle,
        }
        Flow::Redraw
    }

    /// Wheel scrolls the selection; a click on a row selects it.
    pub fn on_mouse(&mut self, mouse: MouseEvent) -> Flow {
        match mouse.kind {
            MouseEventKind::ScrollDown => self.move_by(1),
            MouseEventKind::ScrollUp => self.move_by(-1),
            MouseEventKind::Down(MouseButton::Left) => {
                let body = ui::layout(self.area, self.show_map).table_body;
                if !body.contains(Position::new(mouse.column, mouse.row)) {
                    return Flow::Idle;
                }
                let row = self.offset + (mouse.row - body.y) as usize;
                if row >= self.view.len() {
                    return Flow::Idle;
                }
                self.select(row);
            }
            _ => return Flow::Idle,
        }
        Flow::Redraw
    }

    /// The newest and the oldest reading shown.
    pub fn newest_and_oldest(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let newest = self.cities.iter().map(|c| c.observed_at).max()?;
        let oldest = self.cities.iter().map(|c| c.observed_at).min()?;
        Some((newest, oldest))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;

    pub fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 20, 0, 0).unwrap()
    }

    /// A reading of `name` at `temperature`, `minutes_old` minutes before [`now`].
    pub fn reading(id: i64, name: &str, temperature: f64, minutes_old: i64) -> Reading {
        let mut r = Reading::from_json(crate::model::tests::PARIS.as_bytes()).unwrap();
        r.city_id = id;
        r.city_name = name.to_string();
        r.temperature = temperature;
        r.feels_like = Some(temperature - 2.0);
        r.observed_at = now() - chrono::Duration::minutes(minutes_old);
        r.lat = Some(43.0 + id as f64 % 8.0);
        r.lon = Some(-1.0 + id as f64 % 9.0);
        r
    }

    pub fn cities() -> Vec<City> {
        [
            reading(1, "Paris", 7.3, 5),
            reading(2, "Évry", 9.0, 12),
            reading(3, "Lyon", 11.5, 200),
            reading(4, "Brest", -2.0, 30),
            reading(5, "Saint-Étienne", 4.0, 1),
        ]
        .iter()
        .map(City::from_reading)
        .collect()
    }

    pub fn loaded(width: u16, height: u16) -> App {
        let mut app = App::new(
            DashSettings::new("FR"),
            now(),
            Rect::new(0, 0, width, height),
        );
        app.apply(Update::Latest {
            at: now(),
            result: Ok(cities()),
        });
        app
    }

    fn names(app: &App) -> Vec<&str> {
        app.rows().map(|c| c.name.as_str()).collect()
    }

    fn press(app: &mut App, code: KeyCode) -> Flow {
        app.on_key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    fn type_text(app: &mut App, text: &str) {
        for c in text.chars() {
            press(app, KeyCode::Char(c));
        }
    }

    #[test]
    fn cities_are_listed_by_name_ignoring_accents() {
        let app = loaded(120, 40);
        assert_eq!(
            names(&app),
            ["Brest", "Évry", "Lyon", "Paris", "Saint-Étienne"]
        );
        assert_eq!(app.selected().unwrap().name, "Brest");
    }

    #[test]
    fn s_cycles_the_sort_through_temperature_and_age_and_keeps_the_selection() {
        let mut app = loaded(120, 40);
        press(&mut app, KeyCode::Char('j'));
        assert_eq!(app.selected().unwrap().name, "Évry");
        press(&mut app, KeyCode::Char('s'));
        assert_eq!(app.sort, SortKey::Temperature);
        assert_eq!(
            names(&app),
            ["Lyon", "Évry", "Paris", "Saint-Étienne", "Brest"]
        );
        assert_eq!(app.selected().unwrap().name, "Évry");
        press(&mut app, KeyCode::Char('s'));
        assert_eq!(
            names(&app),
            ["Saint-Étienne", "Paris", "Évry", "Brest", "Lyon"]
        );
        press(&mut app, KeyCode::Char('s'));
        assert_eq!(app.sort, SortKey::Name);
    }

    #[test]
    fn search_ignores_case_and_accents_and_esc_clears_it() {
        let mut app = loaded(120, 40);
        press(&mut app, KeyCode::Char('/'));
        type_text(&mut app, "EVR");
        assert_eq!(names(&app), ["Évry"]);
        press(&mut app, KeyCode::Enter);
        assert!(!app.editing_search);
        assert_eq!(names(&app), ["Évry"]);
        // q typed while searching is text, not quit.
        press(&mut app, KeyCode::Char('/'));
        assert_eq!(press(&mut app, KeyCode::Char('q')), Flow::Redraw);
        assert!(app.view.is_empty());
        press(&mut app, KeyCode::Backspace);
        press(&mut app, KeyCode::Enter);
        assert_eq!(press(&mut app, KeyCode::Esc), Flow::Redraw);
        assert_eq!(app.view.len(), 5);
        assert_eq!(press(&mut app, KeyCode::Esc), Flow::Quit);
    }

    #[test]
    fn search_finds_hyphenated_names_typed_with_spaces() {
        let mut app = loaded(120, 40);
        press(&mut app, KeyCode::Char('/'));
        type_text(&mut app, "saint etienne");
        assert_eq!(names(&app), ["Saint-Étienne"]);
    }

    #[test]
    fn moving_stays_within_the_list_and_end_and_home_jump() {
        let mut app = loaded(120, 40);
        press(&mut app, KeyCode::Up);
        assert_eq!(app.cursor, 0);
        press(&mut app, KeyCode::End);
        assert_eq!(app.selected().unwrap().name, "Saint-Étienne");
        press(&mut app, KeyCode::Down);
        assert_eq!(app.cursor, 4);
        press(&mut app, KeyCode::PageUp);
        assert_eq!(app.cursor, 0);
        press(&mut app, KeyCode::PageDown);
        assert_eq!(app.cursor, 4);
        press(&mut app, KeyCode::Home);
        assert_eq!(app.cursor, 0);
    }

    #[test]
    fn paging_through_many_cities_keeps_the_selection_on_screen() {
        let mut app = App::new(DashSettings::new("FR"), now(), Rect::new(0, 0, 80, 24));
        let many = (0..500)
            .map(|i| City::from_reading(&reading(i, &format!("City {i:03}"), 10.0, 1)))
            .collect();
        app.apply(Update::Latest {
            at: now(),
            result: Ok(many),
        });
        let height = app.table_rows();
        assert!(height >= 5, "{height}");
        press(&mut app, KeyCode::PageDown);
        assert_eq!(app.cursor, height);
        assert!(app.cursor >= app.offset && app.cursor < app.offset + height);
        press(&mut app, KeyCode::End);
        assert_eq!(app.cursor, 499);
        assert_eq!(app.offset, 500 - height);
    }

    #[test]
    fn the_selection_follows_its_city_across_refreshes() {
        let mut app = loaded(120, 40);
        press(&mut app, KeyCode::Char('j'));
        press(&mut app, KeyCode::Char('j'));
        assert_eq!(app.selected().unwrap().name, "Lyon");
        let mut fewer = cities();
        fewer.retain(|c| c.name != "Brest");
        app.apply(Update::Latest {
            at: now(),
            result: Ok(fewer),
        });
        assert_eq!(app.selected().unwrap().name, "Lyon");
    }

    #[test]
    fn from_the_first_row_new_data_keeps_the_first_row_selected() {
        let mut app = loaded(120, 40);
        for _ in 0..2 {
            press(&mut app, KeyCode::Char('s')); // by age, freshest first
        }
        press(&mut app, KeyCode::Home);
        assert_eq!(app.selected().unwrap().name, "Saint-Étienne");
        let fresh = City::from_reading(&reading(99, "Nantes", 6.0, 0));
        app.apply(Update::LatestChanges {
            at: now(),
            changed: vec![fresh],
            removed: vec![],
        });
        assert_eq!(app.cursor, 0);
        assert_eq!(app.selected().unwrap().name, "Nantes");
        assert_eq!(app.take_requests().last(), Some(&Request::History(99)));

        // One row down, the selection follows its city instead.
        press(&mut app, KeyCode::Char('j'));
        let followed = app.selected().unwrap().id;
        let fresher = City::from_reading(&reading(98, "Rennes", 6.0, 0));
        app.apply(Update::LatestChanges {
            at: now(),
            changed: vec![fresher],
            removed: vec![],
        });
        assert_eq!(app.selected().unwrap().id, followed);
        assert_eq!(app.cursor, 2);
    }

    #[test]
    fn a_failed_refresh_keeps_the_last_data_and_reports_the_connection_down() {
        let mut app = loaded(120, 40);
        app.apply(Update::Latest {
            at: now(),
            result: Err("Cassandra at h:1 did not answer".into()),
        });
        assert_eq!(app.view.len(), 5);
        assert!(matches!(app.connection, Connection::Down { .. }));
        app.apply(Update::Latest {
            at: now(),
            result: Ok(cities()),
        });
        assert_eq!(app.connection, Connection::Up(now()));
    }

    #[test]
    fn an_unchanged_refresh_keeps_the_cities_and_brings_the_connection_back_up() {
        let mut app = loaded(120, 40);
        press(&mut app, KeyCode::Char('j'));
        let selected = app.selected().unwrap().name.clone();
        app.apply(Update::Latest {
            at: now(),
            result: Err("Cassandra at h:1 did not answer".into()),
        });
        let later = now() + chrono::Duration::seconds(5);
        let flow = app.apply(Update::LatestChanges {
            at: later,
            changed: vec![],
            removed: vec![],
        });
        assert_eq!(flow, Flow::Redraw, "the connection line changed");
        assert_eq!(app.connection, Connection::Up(later));
        assert_eq!(app.cities, cities());
        assert_eq!(app.view.len(), 5);
        assert_eq!(app.selected().unwrap().name, selected);
    }

    #[test]
    fn changes_are_merged_as_a_whole_list_would_have_been_taken() {
        let mut app = loaded(120, 40);
        press(&mut app, KeyCode::Char('s')); // by temperature
        let mut whole = loaded(120, 40);
        press(&mut whole, KeyCode::Char('s'));

        let mut hotter = cities()[0].clone();
        hotter.temperature = 40.0;
        let newcomer = City::from_reading(&reading(99, "Nantes", -3.0, 1));
        let gone = cities()[1].id;
        app.apply(Update::LatestChanges {
            at: now(),
            changed: vec![hotter.clone(), newcomer.clone()],
            removed: vec![gone],
        });
        let mut list = cities();
        list[0] = hotter;
        list.retain(|c| c.id != gone);
        list.push(newcomer);
        whole.apply(Update::Latest {
            at: now(),
            result: Ok(list),
        });

        let by_id = |app: &App| {
            let mut v = app.cities.clone();
            v.sort_by_key(|c| c.id);
            v
        };
        assert_eq!(by_id(&app), by_id(&whole));
        let names = |app: &App| -> Vec<String> {
            app.view
                .iter()
                .map(|&i| app.cities[i].name.clone())
                .collect()
        };
        assert_eq!(names(&app), names(&whole));
        assert_eq!(names(&app)[0], cities()[0].name, "the hottest first");
        assert_eq!(names(&app).last().unwrap(), "Nantes", "the coldest last");
    }

    #[test]
    fn selecting_a_city_asks_for_its_history_and_ignores_late_answers() {
        let mut app = loaded(120, 40);
        assert_eq!(app.take_requests(), [Request::History(4)]);
        press(&mut app, KeyCode::Char('j'));
        press(&mut app, KeyCode::Char('j'));
        assert_eq!(
            app.take_requests(),
            [Request::History(2), Request::History(3)]
        );
        let flow = app.apply(Update::History {
            city_id: 2,
            result: Ok(vec![]),
        });
        assert_eq!(flow, Flow::Idle);
        assert_eq!(app.history, Some((3, LoadingState::Loading)));
        app.apply(Update::History {
            city_id: 3,
            result: Ok(vec![]),
        });
        assert_eq!(app.history, Some((3, LoadingState::Loaded(vec![]))));
    }

    #[test]
    fn r_asks_for_a_refresh_now() {
        let mut app = loaded(120, 40);
        app.take_requests();
        press(&mut app, KeyCode::Char('r'));
        assert_eq!(app.take_requests(), [Request::Latest, Request::History(4)]);
    }

    #[test]
    fn u_cycles_units_and_conversions_are_right() {
        let mut app = loaded(120, 40);
        press(&mut app, KeyCode::Char('u'));
        assert_eq!(app.units, Units::MetricKmh);
        press(&mut app, KeyCode::Char('u'));
        assert_eq!(app.units, Units::Imperial);
        assert_eq!(Units::Imperial.temperature(100.0), 212.0);
        assert!((Units::MetricKmh.speed(10.0) - 36.0).abs() < 1e-9);
        press(&mut app, KeyCode::Char('u'));
        assert_eq!(app.units, Units::Metric);
    }

    #[test]
    fn help_opens_with_question_mark_and_any_key_closes_it() {
        let mut app = loaded(120, 40);
        press(&mut app, KeyCode::Char('?'));
        assert!(app.show_help);
        assert_eq!(press(&mut app, KeyCode::Char('j')), Flow::Redraw);
        assert!(!app.show_help);
        assert_eq!(app.cursor, 0, "the closing key does nothing else");
        assert_eq!(press(&mut app, KeyCode::Char('q')), Flow::Quit);
    }

    #[test]
    fn ctrl_c_quits_even_while_searching() {
        let mut app = loaded(120, 40);
        press(&mut app, KeyCode::Char('/'));
        let flow = app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
        assert_eq!(flow, Flow::Quit);
    }

    #[test]
    fn the_mouse_wheel_moves_and_a_click_selects_the_row_under_it() {
        let mut app = loaded(120, 40);
        let wheel = |kind| MouseEvent {
            kind,
            column: 5,
            row: 5,
            modifiers: KeyModifiers::NONE,
        };
        app.on_mouse(wheel(MouseEventKind::ScrollDown));
        assert_eq!(app.cursor, 1);
        let body = ui::layout(app.area, app.show_map).table_body;
        let click = MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: body.x + 1,
            row: body.y + 3,
            modifiers: KeyModifiers::NONE,
        };
        assert_eq!(app.on_mouse(click), Flow::Redraw);
        assert_eq!(app.selected().unwrap().name, "Paris");
        let below = MouseEvent {
            row: body.y + 10,
            ..click
        };
        assert_eq!(app.on_mouse(below), Flow::Idle);
    }

    #[test]
    fn readings_older_than_the_limit_are_stale() {
        let app = loaded(120, 40);
        let lyon = app.rows().find(|c| c.name == "Lyon").unwrap();
        let paris = app.rows().find(|c| c.name == "Paris").unwrap();
        assert!(app.is_stale(lyon));
        assert!(!app.is_stale(paris));
    }
}
