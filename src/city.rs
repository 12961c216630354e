//! A city, and the producer's city list: the JSON file `meteo cities` writes (default
//! `data/cities.fr.json`), an array of `{id, name, country, lat, lon}`, read and checked here.

use std::collections::HashSet;
use std::path::Path;

use anyhow::{bail, Context};

use crate::files::{read_bounded_text, CITY_LIST_LIMIT};
use serde::{Deserialize, Serialize};

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
    for (index, city) in cities.iter().enumerate() {
        if !ids.insert(city.id) {
            bail!("entry {index}: city id {} appears twice", city.id);
        }
        if city.id <= 0 {
            bail!("entry {index}: city id {} is not positive", city.id);
        }
        if city.name.trim().is_empty() || city.country.trim().is_empty() {
            bail!("entry {index} (id {}): empty name or country", city.id);
        }
        if !(-90.0..=90.0).contains(&city.lat) || !(-180.0..=180.0).contains(&city.lon) {
            bail!(
                "entry {index} (id {}): lat {} / lon {} is not on the globe",
                city.id,
                city.lat,
                city.lon
            );
        }
    }
    Ok(cities)
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
}
