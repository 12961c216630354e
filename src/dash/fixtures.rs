//! Test data shared by the dashboard's tests: readings of a few French cities at a fixed time,
//! and an app that has taken them.

use chrono::{DateTime, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::Rect;

use super::app::{App, Flow};
use super::city::City;
use super::refresh::Update;
use super::DashSettings;
use crate::model::Reading;

/// The time every fixture is drawn at.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 20, 0, 0).unwrap()
}

/// A reading of `name` at `temperature`, `minutes_old` minutes before [`now`].
pub fn reading(id: i64, name: &str, temperature: f64, minutes_old: i64) -> Reading {
    reading_at(
        id,
        name,
        temperature,
        now() - chrono::Duration::minutes(minutes_old),
    )
}

/// A reading of `name` at `temperature`, observed at `at`.
pub fn reading_at(id: i64, name: &str, temperature: f64, at: DateTime<Utc>) -> Reading {
    let mut r = Reading::from_json(crate::model::tests::PARIS.as_bytes()).unwrap();
    r.city_id = id;
    r.city_name = name.to_string();
    r.temperature = temperature;
    r.feels_like = Some(temperature - 2.0);
    r.observed_at = at;
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
    .into_iter()
    .map(City::new)
    .collect()
}

/// An app of `width` x `height` that has taken [`cities`].
pub fn loaded(width: u16, height: u16) -> App {
    let mut app = App::new(
        DashSettings::new(crate::model::CountryCode::FR),
        now(),
        Rect::new(0, 0, width, height),
    );
    app.apply(Update::Latest {
        at: now(),
        result: Ok(cities()),
    });
    app
}

/// The names of the table's rows, in order.
pub fn names(app: &App) -> Vec<&str> {
    app.rows().map(|c| c.name()).collect()
}

/// One key, without modifiers.
pub fn press(app: &mut App, code: KeyCode) -> Flow {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}
