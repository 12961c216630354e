//! One element of the city list, decoded by serde and checked: a [`City`], or a few words on
//! why it is not one, so that one malformed entry is skipped instead of ending the read.

use serde::{Deserialize, Deserializer};
use serde_json::error::Category;
use serde_json::Value;

use super::geometry::Point;
use super::json::message_of;
use crate::city::City;

/// One element of the array, decoded.
#[derive(Debug, PartialEq)]
pub(super) enum Entry {
    /// A city, and whether the text rule changed its name.
    City { city: City, cleaned: bool },
    /// Not a usable city: `id` when it had a usable one (the quickest way to find it).
    Bad { id: Option<u64>, problem: String },
}

/// Decodes one element of the array. An error is a syntax error, which ends the read; every
/// other problem is an [`Entry::Bad`].
pub(super) fn decode(element: &[u8]) -> serde_json::Result<Entry> {
    if element.first() != Some(&b'{') {
        // Rare: decoded whole, only to check its syntax and say what it is.
        let value: Value = serde_json::from_slice(element)?;
        return Ok(Entry::Bad {
            id: None,
            problem: format!("{} instead of an object", describe(&value)),
        });
    }
    match serde_json::from_slice::<RawEntry>(element) {
        Ok(raw) => {
            let id = raw.id.as_ref().and_then(Value::as_u64);
            // The rules every door applies (`City::cleaned`), so that no city passed on is
            // refused later by the producer or the consumer.
            Ok(match raw.into_city().and_then(City::cleaned) {
                Ok((city, cleaned)) => Entry::City { city, cleaned },
                Err(problem) => Entry::Bad { id, problem },
            })
        }
        // Well-formed JSON that no entry can be, e.g. a field given twice.
        Err(err) if err.classify() == Category::Data => Ok(Entry::Bad {
            id: None,
            problem: message_of(&err),
        }),
        Err(err) => Err(err),
    }
}

/// An object element as found, before validation: each field of any type, so that a wrong
/// type is reported in words; fields we do not read (`state`, future ones) are skipped
/// unparsed.
#[derive(Debug, Deserialize)]
struct RawEntry {
    #[serde(default, deserialize_with = "present")]
    id: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    name: Option<Value>,
    /// Missing and null alike: a few real entries have no country.
    #[serde(default)]
    country: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    coord: Option<Value>,
}

/// A field that is there, null included (serde makes a null `Option` `None`, and "id is null"
/// says more than "no id").
fn present<'de, D: Deserializer<'de>>(field: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(field).map(Some)
}

impl RawEntry {
    /// The city, or what is wrong with the entry in a few words.
    fn into_city(self) -> Result<City, String> {
        let id = match self.id {
            None => return Err("no id".into()),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(id) if id > 0 => id,
                _ => return Err(format!("id {n} is not a positive whole number")),
            },
            Some(other) => return Err(format!("id is {} instead of a number", describe(&other))),
        };
        let name = match self.name {
            None => return Err("no name".into()),
            // Length, controls and blanks: the text rule's, in `City::cleaned`.
            Some(Value::String(s)) => s,
            Some(other) => return Err(format!("name is {} instead of a string", describe(&other))),
        };
        let country = match self.country {
            None => String::new(),
            Some(Value::String(s)) => s,
            Some(other) => {
                return Err(format!(
                    "country is {} instead of a string",
                    describe(&other)
                ))
            }
        };
        let point = match self.coord {
            None => return Err("no coord".into()),
            Some(coord) => point_of(coord)?,
        };
        Ok(City {
            id,
            name,
            country,
            lat: point.lat,
            lon: point.lon,
        })
    }
}

/// The entry's `coord`: an object with a `lat` and a `lon` on Earth.
fn point_of(coord: Value) -> Result<Point, String> {
    let Value::Object(coord) = coord else {
        return Err(format!(
            "coord is {} instead of an object",
            describe(&coord)
        ));
    };
    let number = |what: &str| match coord.get(what) {
        None => Err(format!("no coord.{what}")),
        Some(Value::Number(n)) => n
            .as_f64()
            .ok_or_else(|| format!("coord.{what} {n} is not a usable number")),
        Some(other) => Err(format!(
            "coord.{what} is {} instead of a number",
            describe(other)
        )),
    };
    let (lat, lon) = (number("lat")?, number("lon")?);
    Point::new(lat, lon).map_err(|why| format!("coordinates out of range: {why}"))
}

/// What a value was, when it was not what an entry needs.
fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(element: &str) -> String {
        match decode(element.as_bytes()).unwrap() {
            Entry::Bad { problem, .. } => problem,
            Entry::City { city, .. } => panic!("{element} was read as {city:?}"),
        }
    }

    #[test]
    fn an_entry_becomes_a_city_whatever_the_order_of_its_fields() {
        let entry = r#"{"coord": {"lat": 45.75, "lon": 4.85}, "state": {"x": [1]}, "country": "FR",
                        "name": "Lyon", "id": 2996944}"#;
        assert_eq!(
            decode(entry.as_bytes()).unwrap(),
            Entry::City {
                city: City {
                    id: 2996944,
                    name: "Lyon".into(),
                    country: "FR".into(),
                    lat: 45.75,
                    lon: 4.85,
                },
                cleaned: false
            }
        );
    }

    #[test]
    fn a_missing_or_null_country_is_an_empty_one() {
        for entry in [
            r#"{"id": 1, "name": "A", "coord": {"lat": 1, "lon": 1}}"#,
            r#"{"id": 1, "name": "A", "country": null, "coord": {"lat": 1, "lon": 1}}"#,
        ] {
            let Entry::City { city, .. } = decode(entry.as_bytes()).unwrap() else {
                panic!("{entry} was refused");
            };
            assert_eq!(city.country, "");
        }
    }

    #[test]
    fn the_real_lists_c1_control_is_cleaned_and_marked_so() {
        let entry = r#"{"id": 6617196, "name": "Mons-en-Barœ\u009cul", "country": "FR",
                        "coord": {"lon": 3.1085, "lat": 50.642101}}"#;
        let Entry::City { city, cleaned } = decode(entry.as_bytes()).unwrap() else {
            panic!("refused");
        };
        assert_eq!((city.name.as_str(), cleaned), ("Mons-en-Barœul", true));
    }

    #[test]
    fn names_the_text_rule_refuses_are_bad_entries_with_their_id() {
        for (name, why) in [
            ("", "name is blank"),
            ("\\u3164", "name is blank"),
            ("\\ufe0f\\u200b", "name is blank"),
            ("Paris\\u001b[2J", "name holds control characters"),
            ("Lyon\\u0007", "name holds control characters"),
        ] {
            let entry = format!(
                r#"{{"id": 7, "name": "{name}", "country": "FR", "coord": {{"lat": 1, "lon": 1}}}}"#
            );
            assert_eq!(
                decode(entry.as_bytes()).unwrap(),
                Entry::Bad {
                    id: Some(7),
                    problem: why.into()
                },
                "{name:?}"
            );
        }
    }

    #[test]
    fn ids_and_countries_follow_the_rules_of_a_reading() {
        assert_eq!(
            problem(
                r#"{"id": 1000000000, "name": "A", "country": "FR", "coord": {"lat": 1, "lon": 1}}"#
            ),
            "id 1000000000 is outside 1..=999999999"
        );
        assert_eq!(
            problem(r#"{"id": 1, "name": "A", "country": "FRA", "coord": {"lat": 1, "lon": 1}}"#),
            "country \"FRA\" is not a two-letter code such as FR"
        );
        let entry = r#"{"id": 1, "name": "A", "country": "fr", "coord": {"lat": 1, "lon": 1}}"#;
        let Entry::City { city, .. } = decode(entry.as_bytes()).unwrap() else {
            panic!("refused");
        };
        assert_eq!(city.country, "FR");
    }

    #[test]
    fn a_null_field_is_named_as_null_not_as_missing() {
        assert_eq!(
            problem(r#"{"id": null, "name": "A", "coord": {"lat": 1, "lon": 1}}"#),
            "id is null instead of a number"
        );
        assert_eq!(
            problem(r#"{"id": 1, "name": "A", "coord": null}"#),
            "coord is null instead of an object"
        );
    }

    #[test]
    fn ids_must_be_positive_whole_numbers_that_fit_a_city_id() {
        for id in ["0", "-3", "1.5", "9223372036854775808"] {
            let entry = format!(r#"{{"id": {id}, "name": "A", "coord": {{"lat": 1, "lon": 1}}}}"#);
            assert_eq!(
                problem(&entry),
                format!("id {id} is not a positive whole number")
            );
        }
    }

    #[test]
    fn elements_that_are_not_objects_say_what_they_are() {
        assert_eq!(problem("[1, {}]"), "an array instead of an object");
        assert_eq!(problem("\"Paris\""), "a string instead of an object");
        assert_eq!(problem("true"), "a boolean instead of an object");
        assert_eq!(problem("null"), "null instead of an object");
        assert!(decode(b"[1,,2]").is_err(), "a syntax error ends the read");
    }

    #[test]
    fn a_field_given_twice_is_a_bad_entry_not_the_end_of_the_read() {
        let twice = r#"{"id": 1, "id": 2, "name": "A", "coord": {"lat": 1, "lon": 1}}"#;
        assert_eq!(problem(twice), "duplicate field `id`");
    }
}
