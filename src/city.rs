//! A city, and the producer's city list: the JSON file `meteo cities` writes (default
//! `data/cities.fr.json`), an array of `{id, name, country, lat, lon}`, read and checked here.

use std::collections::HashSet;
use std::path::Path;

use std::borrow::Cow;

use anyhow::{bail, Context};

use crate::files::{read_bounded_text, CITY_LIST_LIMIT};
use serde::{Deserialize, Serialize};

use crate::model::text;
use crate::model::{clean_country, CITY_ID_RANGE, MAX_NAME_CHARS};
use crate::text::printable;

/// One city: an entry of OpenWeatherMap's list, and of the producer's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct City {
    /// OpenWeatherMap's city id: the API call's `id=` and the Kafka message key.
    pub id: i64,
    pub name: String,
    /// ISO 3166 code, e.g. `FR`.
    pub country: String,
    pub lat: f64,
    pub lon: f64,
}

impl City {
    /// The city as meteo passes it on, by the rules the consumer checks readings against
    /// ([`crate::model`]): the id in [`CITY_ID_RANGE`], the name cleaned by the text rule
    /// ([`text::clean`]), the country, when there is one, a two-letter code in capitals.
    /// Also whether the name was changed; or what is wrong, in a few words.
    pub fn cleaned(mut self) -> Result<(City, bool), String> {
        if !CITY_ID_RANGE.contains(&self.id) {
            return Err(format!(
                "id {} is outside {}..={}",
                self.id,
                CITY_ID_RANGE.start(),
                CITY_ID_RANGE.end()
            ));
        }
        if !self.country.is_empty() {
            self.country = clean_country(&self.country).ok_or_else(|| {
                format!(
                    "country {:?} is not a two-letter code such as FR",
                    printable(&self.country)
                )
            })?;
        }
        let changed = match text::clean(&self.name, MAX_NAME_CHARS) {
            Ok(Cow::Borrowed(_)) => false,
            Ok(Cow::Owned(name)) => {
                self.name = name;
                true
            }
            Err(problem) => return Err(format!("name {problem}")),
        };
        Ok((self, changed))
    }
}

/// Reads and checks a city list: valid JSON, every entry complete, ids unique, coordinates on
/// the globe. The error names the file and, for JSON errors, the line.
pub fn load(path: &Path) -> anyhow::Result<Vec<City>> {
    let text = read_bounded_text(path, CITY_LIST_LIMIT, "city list").with_context(|| {
        format!(
            "reading the city list {} (make one with `meteo cities`, or set --cities / METEO_CITIES)",
            path.display()
        )
    })?;
    parse(&text).with_context(|| format!("city list {} is malformed", path.display()))
}

/// Parses the text of a city list; see [`load`].
pub fn parse(text: &str) -> anyhow::Result<Vec<City>> {
    let cities: Vec<City> = serde_json::from_str(text).map_err(|e| {
        anyhow::anyhow!(
            "line {}, column {}: {e} (expected an array of {{id, name, country, lat, lon}})",
            e.line(),
            e.column()
        )
    })?;
    if cities.is_empty() {
        bail!("it holds no city");
    }
    let mut ids = HashSet::new();
    let mut clean = Vec::with_capacity(cities.len());
    for (index, city) in cities.into_iter().enumerate() {
        if !ids.insert(city.id) {
            bail!("entry {index}: city id {} appears twice", city.id);
        }
        if city.id <= 0 {
            bail!("entry {index}: city id {} is not positive", city.id);
        }
        if city.country.trim().is_empty() {
            bail!("entry {index} (id {}): empty country", city.id);
        }
        if !(-90.0..=90.0).contains(&city.lat) || !(-180.0..=180.0).contains(&city.lon) {
            bail!(
                "entry {index} (id {}): lat {} / lon {} is not on the globe",
                city.id,
                city.lat,
                city.lon
            );
        }
        // The rules of the readings, so that no reading of this city is refused later; a
        // list made by an older `meteo cities` may hold a name the text rule cleans.
        let id = city.id;
        let (city, changed) = city
            .cleaned()
            .map_err(|problem| anyhow::anyhow!("entry {index} (id {id}): {problem}"))?;
        if changed {
            tracing::info!(city_id = id, name = %city.name, "city name cleaned by the text rule");
        }
        clean.push(city);
    }
    Ok(clean)
}

/// A French city, for the tests of every module that takes cities.
#[cfg(test)]
pub(crate) fn french(id: i64, name: &str, lat: f64, lon: f64) -> City {
    City {
        id,
        name: name.into(),
        country: "FR".into(),
        lat,
        lon,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_city_list_that_is_not_a_regular_file_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = format!("{:#}", load(dir.path()).unwrap_err());
        assert!(
            err.contains(&format!(
                "city list {} is not a regular file",
                dir.path().display()
            )),
            "{err}"
        );
    }

    #[test]
    fn a_list_of_complete_entries_is_read() {
        let cities = parse(
            r#"[{"id": 2988507, "name": "Paris", "country": "FR", "lat": 48.85, "lon": 2.35}]"#,
        )
        .unwrap();
        assert_eq!(cities[0].name, "Paris");
        assert_eq!(cities[0].id, 2988507);
    }

    #[test]
    fn malformed_lists_are_refused_with_the_reason() {
        let err = parse("[{\"id\": 1,\n \"name\": \"A\"}]")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(parse("[]").unwrap_err().to_string().contains("no city"));
        let twice = r#"[{"id": 1, "name": "A", "country": "FR", "lat": 1, "lon": 1},
                        {"id": 1, "name": "B", "country": "FR", "lat": 1, "lon": 1}]"#;
        assert!(parse(twice).unwrap_err().to_string().contains("twice"));
        let off = r#"[{"id": 1, "name": "A", "country": "FR", "lat": 91, "lon": 1}]"#;
        assert!(parse(off).unwrap_err().to_string().contains("globe"));
    }

    #[test]
    fn names_are_cleaned_by_the_text_rule_or_the_list_is_refused() {
        let cities = parse(
            r#"[{"id": 6617196, "name": "Mons-en-Barœ\u009cul", "country": "fr", "lat": 50.6, "lon": 3.1},
                {"id": 2, "name": " Lyon\u2028", "country": "FR", "lat": 45.7, "lon": 4.8}]"#,
        )
        .unwrap();
        assert_eq!(cities[0].name, "Mons-en-Barœul");
        assert_eq!(cities[0].country, "FR");
        assert_eq!(cities[1].name, "Lyon");
        for (name, why) in [
            ("\\u3164", "name is blank"),
            ("Paris\\u001b[2J", "name holds control characters"),
        ] {
            let list =
                format!(r#"[{{"id": 7, "name": "{name}", "country": "FR", "lat": 1, "lon": 1}}]"#);
            let err = parse(&list).unwrap_err().to_string();
            assert_eq!(err, format!("entry 0 (id 7): {why}"));
        }
        let big = r#"[{"id": 1000000000, "name": "A", "country": "FR", "lat": 1, "lon": 1}]"#;
        assert!(parse(big)
            .unwrap_err()
            .to_string()
            .contains("outside 1..=999999999"));
    }
}
