//! A Current Weather answer read into a schema-1 [`Reading`], as leniently as the API writes
//! it; and the `message` of an error answer.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

use std::borrow::Cow;

use super::ApiError;
use crate::model::text::{self, TextProblem};
use crate::model::{clean_country, Reading, MAX_NAME_CHARS, SCHEMA_VERSION, SOURCE_OWM};
use crate::text::printable;

/// The `message` of an error body, when there is one; whole (see [`ApiError::made_safe`]).
pub(super) fn api_message(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    value
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn bad(reason: impl Into<String>) -> ApiError {
    ApiError::BadAnswer {
        reason: reason.into(),
    }
}

/// A number at `path`, whether the API wrote it as an integer or a float.
fn number(value: &Value, path: &[&str]) -> Option<f64> {
    let mut v = value;
    for key in path {
        v = v.get(key)?;
    }
    v.as_f64().filter(|n| n.is_finite())
}

fn integer(value: &Value, path: &[&str]) -> Option<i32> {
    number(value, path)
        .map(f64::round)
        .filter(|n| (i32::MIN as f64..=i32::MAX as f64).contains(n))
        .map(|n| n as i32)
}

fn text(value: &Value, path: &[&str]) -> Option<String> {
    let mut v = value;
    for key in path {
        v = v.get(key)?;
    }
    v.as_str().map(str::to_string)
}

fn unix_time(value: &Value, path: &[&str]) -> Option<DateTime<Utc>> {
    let seconds = number(value, path)?;
    Utc.timestamp_opt(seconds as i64, 0).single()
}

/// A text field made what the consumer accepts ([`text::clean`]): cleaned, or the answer
/// refused with the field and the reason (the city is skipped this turn, never published).
fn clean_field(field: &str, value: &str, max_chars: usize) -> Result<String, ApiError> {
    text::clean(value, max_chars)
        .map(Cow::into_owned)
        .map_err(|problem| bad(format!("`{field}` {problem}")))
}

/// An optional text of the first `weather` entry, cleaned; blank means none.
fn optional_field(
    weather: &Value,
    key: &str,
    max_chars: usize,
) -> Result<Option<String>, ApiError> {
    match text(weather, &[key]) {
        None => Ok(None),
        Some(value) => match text::clean(&value, max_chars) {
            Err(TextProblem::Blank) => Ok(None),
            _ => clean_field(&format!("weather.{key}"), &value, max_chars).map(Some),
        },
    }
}

/// Parses a 200 body into a reading. Lenient as the API is: only `id`, `name`, `dt` and
/// `main.temp` are required by the API's contract, and `main.humidity` by schema 1; every
/// other field may be missing or of an unexpected type and becomes `null`.
pub fn parse_current(
    body: &[u8],
    city_id: i64,
    country: &str,
    fetched_at: DateTime<Utc>,
) -> Result<Reading, ApiError> {
    // The whole body goes in the reason: cut before the key is redacted from it, a key near
    // the cut would leave its start (see `ApiError::made_safe`).
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| bad(format!("not JSON ({e}): {}", String::from_utf8_lossy(body))))?;
    if !value.is_object() {
        return Err(bad("the JSON is not an object"));
    }
    // `cod` is a number in answers and a string in some errors; a 200 must not carry another.
    let cod = match value.get("cod") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    };
    if let Some(cod) = cod.filter(|&c| c != 200) {
        let message = api_message(body).unwrap_or_default();
        return Err(bad(format!("cod {cod} in a 200 answer: {message}")));
    }
    let id = number(&value, &["id"]).ok_or_else(|| bad("no `id`"))? as i64;
    if id != city_id {
        return Err(bad(format!(
            "asked for city {city_id}, the answer is for city {id}"
        )));
    }
    let name = text(&value, &["name"]).ok_or_else(|| bad("no `name`"))?;
    let name = clean_field("name", &name, MAX_NAME_CHARS)?;
    let observed_at = unix_time(&value, &["dt"]).ok_or_else(|| bad("no `dt`"))?;
    let temperature = number(&value, &["main", "temp"]).ok_or_else(|| bad("no `main.temp`"))?;
    let humidity = integer(&value, &["main", "humidity"])
        .ok_or_else(|| bad("no `main.humidity` (a schema-1 reading needs one)"))?;
    // The first `weather` entry is the main condition; later ones are secondary.
    let weather = value
        .get("weather")
        .and_then(Value::as_array)
        .and_then(|w| w.first())
        .cloned()
        .unwrap_or(Value::Null);
    let reading = Reading {
        schema: SCHEMA_VERSION,
        source: Some(SOURCE_OWM.to_string()),
        city_id,
        city_name: name,
        country: match text(&value, &["sys", "country"]).filter(|c| !c.trim().is_empty()) {
            Some(code) => clean_country(&code).ok_or_else(|| {
                bad(format!(
                    "`sys.country` {:?} is not a two-letter code",
                    printable(&code)
                ))
            })?,
            None => country.to_string(),
        },
        lat: number(&value, &["coord", "lat"]),
        lon: number(&value, &["coord", "lon"]),
        observed_at,
        fetched_at: Some(fetched_at),
        temperature,
        feels_like: number(&value, &["main", "feels_like"]),
        temp_min: number(&value, &["main", "temp_min"]),
        temp_max: number(&value, &["main", "temp_max"]),
        humidity,
        pressure: integer(&value, &["main", "pressure"]),
        wind_speed: number(&value, &["wind", "speed"]),
        wind_deg: integer(&value, &["wind", "deg"]),
        wind_gust: number(&value, &["wind", "gust"]),
        clouds: integer(&value, &["clouds", "all"]),
        visibility: integer(&value, &["visibility"]),
        rain_1h: number(&value, &["rain", "1h"]),
        rain_3h: number(&value, &["rain", "3h"]),
        snow_1h: number(&value, &["snow", "1h"]),
        snow_3h: number(&value, &["snow", "3h"]),
        weather_id: integer(&weather, &["id"]),
        weather_main: optional_field(&weather, "main", MAX_NAME_CHARS)?,
        weather_description: optional_field(&weather, "description", MAX_NAME_CHARS)?,
        weather_icon: optional_field(&weather, "icon", MAX_NAME_CHARS)?,
        sunrise: unix_time(&value, &["sys", "sunrise"]),
        sunset: unix_time(&value, &["sys", "sunset"]),
        timezone: integer(&value, &["timezone"]),
    };
    reading
        .validate()
        .map_err(|e| bad(format!("not a valid reading: {e}")))?;
    Ok(reading)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::owm::api::ErrorClass;

    const FULL: &str = include_str!("../../../tests/data/owm/weather_2988507.json");
    const LENIENT: &str = include_str!("../../../tests/data/owm/weather_2996944_lenient.json");
    const ACCENTS: &str = include_str!("../../../tests/data/owm/weather_2980291_accents.json");

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_795_895_531, 0).unwrap()
    }

    #[test]
    fn an_answer_observed_55_minutes_after_its_fetch_is_a_bad_answer_not_a_reading() {
        let fast = FULL.replace("1795895400", &(now().timestamp() + 55 * 60).to_string());
        let err = parse_current(fast.as_bytes(), 2988507, "FR", now()).unwrap_err();
        assert_eq!(err.class(), ErrorClass::Skip, "{err}");
        assert!(
            err.to_string()
                .contains("more than 10 minutes after fetched_at"),
            "{err}"
        );
    }

    #[test]
    fn a_full_answer_fills_every_field_of_the_reading() {
        let r = parse_current(FULL.as_bytes(), 2988507, "XX", now()).unwrap();
        assert_eq!(r.source.as_deref(), Some("owm"));
        assert_eq!((r.city_id, r.city_name.as_str()), (2988507, "Paris"));
        assert_eq!(r.country, "FR");
        assert_eq!((r.lat, r.lon), (Some(48.8534), Some(2.3488)));
        assert_eq!(r.observed_at.timestamp(), 1795895400);
        assert_eq!(r.fetched_at, Some(now()));
        assert_eq!(r.temperature, 7.32);
        assert_eq!(
            (r.feels_like, r.temp_min, r.temp_max),
            (Some(4.91), Some(6.08), Some(8.21))
        );
        assert_eq!((r.humidity, r.pressure), (87, Some(1012)));
        assert_eq!(
            (r.wind_speed, r.wind_deg, r.wind_gust),
            (Some(4.12), Some(230), Some(8.75))
        );
        assert_eq!((r.clouds, r.visibility), (Some(90), Some(9000)));
        assert_eq!(
            (r.rain_1h, r.rain_3h, r.snow_1h, r.snow_3h),
            (Some(0.42), None, None, None)
        );
        assert_eq!(r.weather_id, Some(500));
        assert_eq!(r.weather_main.as_deref(), Some("Rain"));
        assert_eq!(r.weather_description.as_deref(), Some("légère pluie"));
        assert_eq!(r.weather_icon.as_deref(), Some("10n"));
        assert_eq!(r.sunrise.map(|t| t.timestamp()), Some(1795850220));
        assert_eq!(r.sunset.map(|t| t.timestamp()), Some(1795881360));
        assert_eq!(r.timezone, Some(3600));
    }

    #[test]
    fn a_lenient_answer_leaves_missing_fields_null_and_takes_the_first_weather_entry() {
        let r = parse_current(LENIENT.as_bytes(), 2996944, "FR", now()).unwrap();
        assert_eq!(r.temperature, -1.5);
        assert_eq!((r.temp_min, r.temp_max, r.visibility), (None, None, None));
        assert_eq!((r.wind_deg, r.timezone), (None, None));
        assert_eq!((r.snow_3h, r.snow_1h), (Some(1.2), None));
        assert_eq!(r.weather_description.as_deref(), Some("nuageux"));
        assert_eq!(r.weather_id, Some(803));
    }

    #[test]
    fn names_and_descriptions_outside_ascii_are_kept() {
        let r = parse_current(ACCENTS.as_bytes(), 2980291, "FR", now()).unwrap();
        assert_eq!(r.city_name, "Saint-Étienne");
        assert_eq!(r.weather_description.as_deref(), Some("ciel dégagé"));
    }

    #[test]
    fn text_fields_are_cleaned_by_the_text_rule_or_the_answer_is_refused() {
        let dirty = FULL
            .replace("\"name\":\"Paris\"", "\"name\":\"Pa\\u200bris\\ufe0f\"")
            .replace("légère pluie", "légère\\u2028pluie\\udb40\\udc41 ")
            .replace("\"country\":\"FR\"", "\"country\":\"fr\"")
            .replace("\"main\":\"Rain\"", "\"main\":\"\\u3164\"");
        assert_ne!(dirty, FULL);
        let r = parse_current(dirty.as_bytes(), 2988507, "FR", now()).unwrap();
        assert_eq!(r.city_name, "Paris");
        assert_eq!(r.weather_description.as_deref(), Some("légère pluie"));
        assert_eq!(r.country, "FR");
        assert_eq!(r.weather_main, None, "blank once cleaned: none");
        for (from, to, why) in [
            (
                "\"name\":\"Paris\"",
                "\"name\":\"\\u3164\"",
                "`name` is blank",
            ),
            (
                "\"name\":\"Paris\"",
                "\"name\":\"P\\u001b[2J\"",
                "`name` holds control characters",
            ),
            (
                "légère pluie",
                "pluie\\u0007",
                "`weather.description` holds control characters",
            ),
            (
                "\"country\":\"FR\"",
                "\"country\":\"FRA\"",
                "`sys.country` \"FRA\" is not a two-letter code",
            ),
        ] {
            let body = FULL.replace(from, to);
            assert_ne!(body, FULL, "{from} not found");
            let err = parse_current(body.as_bytes(), 2988507, "FR", now()).unwrap_err();
            assert_eq!(err.class(), ErrorClass::Skip);
            assert!(err.to_string().contains(why), "{why}: {err}");
        }
    }

    #[test]
    fn cod_may_be_a_number_or_a_string() {
        let as_string = FULL.replace("\"cod\":200", "\"cod\":\"200\"");
        assert!(parse_current(as_string.as_bytes(), 2988507, "FR", now()).is_ok());
        let other = FULL.replace("\"cod\":200", "\"cod\":\"404\"");
        let err = parse_current(other.as_bytes(), 2988507, "FR", now()).unwrap_err();
        assert!(err.to_string().contains("cod 404"), "{err}");
    }

    #[test]
    fn each_required_field_is_required_and_named() {
        for (field, cut) in [
            ("`id`", "\"id\":2988507,"),
            ("`name`", "\"name\":\"Paris\","),
            ("`dt`", "\"dt\":1795895400,"),
            ("`main.temp`", "\"temp\":7.32,"),
            ("`main.humidity`", ",\"humidity\":87"),
        ] {
            let body = FULL.replace(cut, "");
            assert_ne!(body, FULL, "{cut} not found");
            let err = parse_current(body.as_bytes(), 2988507, "FR", now()).unwrap_err();
            assert_eq!(err.class(), ErrorClass::Skip);
            assert!(err.to_string().contains(field), "{field}: {err}");
        }
    }

    #[test]
    fn the_country_of_the_list_fills_in_when_the_answer_has_none() {
        let body = FULL.replace("\"country\":\"FR\",", "");
        let r = parse_current(body.as_bytes(), 2988507, "FR", now()).unwrap();
        assert_eq!(r.country, "FR");
    }

    #[test]
    fn bodies_that_are_not_answers_are_bad_answers() {
        for body in [
            "<html><body>502 Bad Gateway</body></html>",
            "OK",
            "",
            "[1, 2]",
            &FULL[..FULL.len() / 2],
        ] {
            let err = parse_current(body.as_bytes(), 2988507, "FR", now()).unwrap_err();
            assert!(matches!(err, ApiError::BadAnswer { .. }), "{body}: {err:?}");
        }
    }

    #[test]
    fn an_answer_for_another_city_or_with_an_impossible_value_is_refused() {
        let err = parse_current(FULL.as_bytes(), 1, "FR", now()).unwrap_err();
        assert!(err.to_string().contains("city 2988507"), "{err}");
        let hot = FULL.replace("\"temp\":7.32", "\"temp\":99");
        assert!(parse_current(hot.as_bytes(), 2988507, "FR", now()).is_err());
    }
}
