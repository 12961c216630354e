//! What the dashboard shows of the readings: a city's newest reading with its outside text made
//! safe to draw, and the points of the 24-hour chart.

use chrono::{DateTime, Utc};

use super::text::{clean, fold};
use crate::model::{Reading, SOURCE_SYNTHETIC};
use crate::store::readings::{Missing, Stored};

/// One city's newest reading, as the dashboard shows it. Built off the UI loop (in the refresh
/// task), so the loop only swaps lists.
#[derive(Debug, Clone, PartialEq)]
pub struct City {
    /// The reading, every text that came from outside already [`clean`]ed (city name, weather
    /// description, main condition, icon code) and coordinates that are not finite dropped.
    pub reading: Reading,
    /// The [`fold`]ed name: the search and sort key.
    key: String,
    /// The required columns the stored row had NULL: their values in `reading` are
    /// placeholders, shown as "-" (see the accessors below).
    pub missing: Missing,
}

impl City {
    pub fn new(mut reading: Reading) -> City {
        reading.city_name = clean(&reading.city_name);
        for text in [
            &mut reading.weather_description,
            &mut reading.weather_main,
            &mut reading.weather_icon,
        ] {
            *text = text.as_deref().map(clean);
        }
        reading.lat = reading.lat.filter(|v| v.is_finite());
        reading.lon = reading.lon.filter(|v| v.is_finite());
        City {
            key: fold(&reading.city_name),
            reading,
            missing: Missing::default(),
        }
    }

    /// A row as read from `latest`, NULL columns and all.
    pub fn stored(row: Stored) -> City {
        City {
            missing: row.missing,
            ..City::new(row.reading)
        }
    }

    /// The temperature, when the row has one.
    pub fn temperature(&self) -> Option<f64> {
        (!self.missing.temperature).then_some(self.reading.temperature)
    }

    /// The humidity, when the row has one.
    pub fn humidity(&self) -> Option<i32> {
        (!self.missing.humidity).then_some(self.reading.humidity)
    }

    /// When it was observed, when the row says.
    pub fn observed_at(&self) -> Option<DateTime<Utc>> {
        (!self.missing.observed_at).then_some(self.reading.observed_at)
    }

    pub fn from_reading(reading: &Reading) -> City {
        City::new(reading.clone())
    }

    pub fn id(&self) -> i64 {
        self.reading.city_id
    }

    pub fn name(&self) -> &str {
        &self.reading.city_name
    }

    /// The search and sort key: the name without case, accents or hyphens.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The weather in words: the description, or else the main condition.
    pub fn description(&self) -> &str {
        let r = &self.reading;
        r.weather_description
            .as_deref()
            .or(r.weather_main.as_deref())
            .unwrap_or_default()
    }

    /// The API's icon code ("04n"), empty when there is none.
    pub fn icon(&self) -> &str {
        self.reading.weather_icon.as_deref().unwrap_or_default()
    }

    /// Whether the reading was made up (`meteo produce --synthetic`), not observed.
    pub fn is_synthetic(&self) -> bool {
        self.reading.source.as_deref() == Some(SOURCE_SYNTHETIC)
    }

    /// Where the city is, as (longitude, latitude), when the reading says.
    pub fn position(&self) -> Option<(f64, f64)> {
        Some((self.reading.lon?, self.reading.lat?))
    }

    /// How old the reading is at `now` (zero for a clock ahead of ours); `None` when the row
    /// has no `observed_at`.
    pub fn age(&self, now: DateTime<Utc>) -> Option<chrono::Duration> {
        Some((now - self.observed_at()?).max(chrono::Duration::zero()))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dash::fixtures::reading;

    #[test]
    fn outside_text_is_cleaned_and_odd_coordinates_dropped() {
        let mut r = reading(7, "\x1b[31mNîmes\x1b[0m", 20.0, 1);
        r.weather_description = None;
        r.weather_main = Some("Cl\x07ouds".into());
        r.weather_icon = Some("\x1b[5m01d".into());
        r.lat = Some(f64::NAN);
        let city = City::new(r);
        assert_eq!(city.name(), "Nîmes");
        assert_eq!(city.key(), "nimes");
        assert_eq!(city.description(), "Clouds", "the main condition stands in");
        assert_eq!(city.icon(), "01d");
        assert_eq!(city.position(), None);
        assert!(!city.is_synthetic());
    }

    #[test]
    fn a_reading_from_a_clock_ahead_of_ours_is_zero_old() {
        let city = City::new(reading(1, "Paris", 7.0, -10));
        let now = crate::dash::fixtures::now();
        assert_eq!(city.age(now), Some(chrono::Duration::zero()));
        assert_eq!(
            City::new(reading(1, "Paris", 7.0, 10)).age(now),
            Some(chrono::Duration::minutes(10))
        );
    }
}
