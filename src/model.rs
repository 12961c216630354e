//! The reading: one observation of one city, the value of every Kafka message (schema 1),
//! and its validation. Depends on nothing else in meteo; every other module speaks this type.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// The message schema this code writes and accepts.
pub const SCHEMA_VERSION: u32 = 1;

/// Where a reading came from.
pub const SOURCE_OWM: &str = "owm";
pub const SOURCE_SYNTHETIC: &str = "synthetic";

/// Plausible bounds; a reading outside them is rejected, not stored.
pub const TEMPERATURE_RANGE_C: std::ops::RangeInclusive<f64> = -100.0..=70.0;
pub const HUMIDITY_RANGE: std::ops::RangeInclusive<i32> = 0..=100;

/// One observation (schema 1). Units are metric: °C, %, hPa, m/s, degrees, metres, mm.
/// Optional fields are `null` in JSON when the API did not give them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub schema: u32,
    pub source: Option<String>,
    pub city_id: i64,
    pub city_name: String,
    pub country: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    /// The API's `dt`: when the station observed, not when we fetched.
    pub observed_at: DateTime<Utc>,
    pub fetched_at: Option<DateTime<Utc>>,
    pub temperature: f64,
    pub feels_like: Option<f64>,
    pub temp_min: Option<f64>,
    pub temp_max: Option<f64>,
    pub humidity: i32,
    pub pressure: Option<i32>,
    pub wind_speed: Option<f64>,
    pub wind_deg: Option<i32>,
    pub wind_gust: Option<f64>,
    pub clouds: Option<i32>,
    pub visibility: Option<i32>,
    pub rain_1h: Option<f64>,
    pub rain_3h: Option<f64>,
    pub snow_1h: Option<f64>,
    pub snow_3h: Option<f64>,
    pub weather_id: Option<i32>,
    pub weather_main: Option<String>,
    pub weather_description: Option<String>,
    pub weather_icon: Option<String>,
    pub sunrise: Option<DateTime<Utc>>,
    pub sunset: Option<DateTime<Utc>>,
    /// Shift from UTC in seconds.
    pub timezone: Option<i32>,
}

/// Why a message is not a valid reading; the text goes into the dead-letter header `meteo.error`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidReading {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("schema {0} is not supported (expected {SCHEMA_VERSION})")]
    WrongSchema(String),
    #[error("not a schema-1 reading: {0}")]
    BadShape(String),
    #[error("{field} is {value}, outside {range}")]
    OutOfRange {
        field: &'static str,
        value: String,
        range: String,
    },
    #[error("{0} is not a finite number")]
    NotFinite(&'static str),
    #[error("{0} is empty")]
    Empty(&'static str),
    #[error("{0} holds control characters")]
    ControlCharacters(&'static str),
    #[error("country {0:?} is not a two-letter code such as FR")]
    BadCountry(String),
    #[error("the message has no key (expected the city id)")]
    MissingKey,
    #[error("key {key:?} is not the city id {city_id}")]
    KeyMismatch { key: String, city_id: i64 },
    #[error("value of {0} bytes is larger than {MAX_MESSAGE_BYTES}")]
    TooLarge(usize),
}

/// No reading comes near this size; anything larger is not one.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

impl Reading {
    /// The UTC day of the observation: the `readings` partition it belongs to.
    pub fn day(&self) -> NaiveDate {
        self.observed_at.date_naive()
    }

    /// Parses and validates one Kafka message: the value is a reading, the key its city id.
    pub fn from_message(
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<Reading, InvalidReading> {
        let value = value.unwrap_or_default();
        if value.is_empty() {
            return Err(InvalidReading::Empty("value"));
        }
        if value.len() > MAX_MESSAGE_BYTES {
            return Err(InvalidReading::TooLarge(value.len()));
        }
        let reading = Reading::from_json(value)?;
        let key = key.ok_or(InvalidReading::MissingKey)?;
        if key != reading.city_id.to_string().as_bytes() {
            return Err(InvalidReading::KeyMismatch {
                key: String::from_utf8_lossy(key).chars().take(40).collect(),
                city_id: reading.city_id,
            });
        }
        Ok(reading)
    }

    /// Parses and validates one message value.
    pub fn from_json(bytes: &[u8]) -> Result<Reading, InvalidReading> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| InvalidReading::NotJson(e.to_string()))?;
        // Check the schema first, so a future schema is reported as such and not as a
        // missing field.
        match value.get("schema") {
            Some(serde_json::Value::Number(n)) if n.as_u64() == Some(SCHEMA_VERSION.into()) => {}
            Some(other) => return Err(InvalidReading::WrongSchema(other.to_string())),
            None => return Err(InvalidReading::BadShape("missing field `schema`".into())),
        }
        let reading: Reading =
            serde_json::from_value(value).map_err(|e| InvalidReading::BadShape(e.to_string()))?;
        reading.validate()?;
        Ok(reading)
    }

    /// Checks the rules of docs/design.md: finite numbers, plausible temperature and humidity,
    /// non-empty names.
    pub fn validate(&self) -> Result<(), InvalidReading> {
        if self.schema != SCHEMA_VERSION {
            return Err(InvalidReading::WrongSchema(self.schema.to_string()));
        }
        if self.city_name.trim().is_empty() {
            return Err(InvalidReading::Empty("city_name"));
        }
        if self.country.len() != 2 || !self.country.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(InvalidReading::BadCountry(
                self.country
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(8)
                    .collect(),
            ));
        }
        // Text ends up on terminals: no escape sequences or other control characters.
        let texts = [
            ("city_name", Some(&self.city_name)),
            ("source", self.source.as_ref()),
            ("weather_main", self.weather_main.as_ref()),
            ("weather_description", self.weather_description.as_ref()),
            ("weather_icon", self.weather_icon.as_ref()),
        ];
        for (field, text) in texts {
            if text.is_some_and(|t| t.chars().any(char::is_control)) {
                return Err(InvalidReading::ControlCharacters(field));
            }
        }
        let floats = [
            ("lat", Some(self.lat)),
            ("lon", Some(self.lon)),
            ("temperature", Some(Some(self.temperature))),
            ("feels_like", Some(self.feels_like)),
            ("temp_min", Some(self.temp_min)),
            ("temp_max", Some(self.temp_max)),
            ("wind_speed", Some(self.wind_speed)),
            ("wind_gust", Some(self.wind_gust)),
            ("rain_1h", Some(self.rain_1h)),
            ("rain_3h", Some(self.rain_3h)),
            ("snow_1h", Some(self.snow_1h)),
            ("snow_3h", Some(self.snow_3h)),
        ];
        for (field, value) in floats {
            if let Some(Some(v)) = value {
                if !v.is_finite() {
                    return Err(InvalidReading::NotFinite(field));
                }
            }
        }
        if !TEMPERATURE_RANGE_C.contains(&self.temperature) {
            return Err(InvalidReading::OutOfRange {
                field: "temperature",
                value: self.temperature.to_string(),
                range: "-100..70 °C".into(),
            });
        }
        if !HUMIDITY_RANGE.contains(&self.humidity) {
            return Err(InvalidReading::OutOfRange {
                field: "humidity",
                value: self.humidity.to_string(),
                range: "0..100 %".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The example of docs/design.md.
    pub const PARIS: &str = r#"{
      "schema": 1, "source": "owm",
      "city_id": 2988507, "city_name": "Paris", "country": "FR", "lat": 48.8534, "lon": 2.3488,
      "observed_at": "2026-11-28T19:50:00Z", "fetched_at": "2026-11-28T19:52:11Z",
      "temperature": 7.3, "feels_like": 5.1, "temp_min": 6.1, "temp_max": 8.2,
      "humidity": 81, "pressure": 1012,
      "wind_speed": 3.6, "wind_deg": 240, "wind_gust": null,
      "clouds": 75, "visibility": 10000,
      "rain_1h": null, "rain_3h": null, "snow_1h": null, "snow_3h": null,
      "weather_id": 803, "weather_main": "Clouds", "weather_description": "nuageux",
      "weather_icon": "04n",
      "sunrise": "2026-11-28T07:17:00Z", "sunset": "2026-11-28T15:56:00Z", "timezone": 3600
    }"#;

    fn with(field: &str, value: serde_json::Value) -> Vec<u8> {
        let mut v: serde_json::Value = serde_json::from_str(PARIS).unwrap();
        v[field] = value;
        serde_json::to_vec(&v).unwrap()
    }

    fn without(field: &str) -> Vec<u8> {
        let mut v: serde_json::Value = serde_json::from_str(PARIS).unwrap();
        v.as_object_mut().unwrap().remove(field);
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn the_design_example_is_a_valid_reading() {
        let r = Reading::from_json(PARIS.as_bytes()).unwrap();
        assert_eq!(r.city_id, 2988507);
        assert_eq!(r.day().to_string(), "2026-11-28");
        assert_eq!(r.wind_gust, None);
        assert_eq!(r.weather_description.as_deref(), Some("nuageux"));
    }

    #[test]
    fn a_reading_survives_a_round_trip_through_json() {
        let r = Reading::from_json(PARIS.as_bytes()).unwrap();
        let again = Reading::from_json(&serde_json::to_vec(&r).unwrap()).unwrap();
        assert_eq!(r, again);
    }

    #[test]
    fn optional_fields_may_be_absent() {
        let r = Reading::from_json(&without("feels_like")).unwrap();
        assert_eq!(r.feels_like, None);
    }

    #[test]
    fn text_that_is_not_json_is_rejected() {
        let err = Reading::from_json(b"not json {").unwrap_err();
        assert!(matches!(err, InvalidReading::NotJson(_)));
    }

    #[test]
    fn another_schema_is_rejected_as_such() {
        let err = Reading::from_json(&with("schema", 2.into())).unwrap_err();
        assert_eq!(err.to_string(), "schema 2 is not supported (expected 1)");
        assert!(Reading::from_json(&without("schema")).is_err());
    }

    #[test]
    fn each_required_field_is_required() {
        for field in [
            "city_id",
            "city_name",
            "country",
            "observed_at",
            "temperature",
            "humidity",
        ] {
            let err = Reading::from_json(&without(field)).unwrap_err();
            assert!(err.to_string().contains(field), "{field}: {err}");
        }
    }

    #[test]
    fn impossible_values_are_rejected() {
        for (field, value) in [
            ("temperature", serde_json::json!(71.0)),
            ("temperature", serde_json::json!(-100.5)),
            ("humidity", serde_json::json!(101)),
            ("humidity", serde_json::json!(-1)),
        ] {
            let err = Reading::from_json(&with(field, value)).unwrap_err();
            assert!(
                matches!(err, InvalidReading::OutOfRange { .. }),
                "{field}: {err}"
            );
        }
        assert!(Reading::from_json(&with("city_name", " ".into())).is_err());
        assert!(Reading::from_json(&with("observed_at", "yesterday".into())).is_err());
        assert!(Reading::from_json(&with("temperature", "7".into())).is_err());
    }

    #[test]
    fn text_with_control_characters_or_a_bad_country_is_rejected() {
        let err = Reading::from_json(&with("city_name", "Paris\u{1b}[2J".into())).unwrap_err();
        assert_eq!(err, InvalidReading::ControlCharacters("city_name"));
        let err = Reading::from_json(&with("weather_description", "a\u{7}".into())).unwrap_err();
        assert_eq!(
            err,
            InvalidReading::ControlCharacters("weather_description")
        );
        for country in ["fr", "FRA", "", "F1"] {
            assert!(
                Reading::from_json(&with("country", country.into())).is_err(),
                "{country}"
            );
        }
    }

    #[test]
    fn a_message_needs_its_city_id_as_key_and_a_sane_size() {
        let value = PARIS.as_bytes();
        assert!(Reading::from_message(Some(b"2988507"), Some(value)).is_ok());
        assert_eq!(
            Reading::from_message(None, Some(value)),
            Err(InvalidReading::MissingKey)
        );
        assert!(matches!(
            Reading::from_message(Some(b"42"), Some(value)),
            Err(InvalidReading::KeyMismatch {
                city_id: 2988507,
                ..
            })
        ));
        assert_eq!(
            Reading::from_message(Some(b"1"), None),
            Err(InvalidReading::Empty("value"))
        );
        let huge = vec![b' '; MAX_MESSAGE_BYTES + 1];
        assert_eq!(
            Reading::from_message(Some(b"1"), Some(&huge)),
            Err(InvalidReading::TooLarge(MAX_MESSAGE_BYTES + 1))
        );
    }

    #[test]
    fn non_finite_numbers_are_rejected() {
        let mut r = Reading::from_json(PARIS.as_bytes()).unwrap();
        r.wind_speed = Some(f64::INFINITY);
        assert_eq!(r.validate(), Err(InvalidReading::NotFinite("wind_speed")));
        r.wind_speed = None;
        r.temperature = f64::NAN;
        assert_eq!(r.validate(), Err(InvalidReading::NotFinite("temperature")));
        // JSON cannot spell NaN; a huge exponent must not become infinity either.
        assert!(Reading::from_json(&PARIS.replace("7.3,", "1e999,").into_bytes()).is_err());
    }
}
