//! The poison corpus: records a consumer must dead-letter, each with what it is and, for the
//! text rule, the reason it must give. The consume tests send it through the real consumer;
//! the schema tests check the published JSON Schema refuses it too (or name the rule only the
//! consumer enforces).

use std::collections::HashMap;

use meteo::model::Reading;

use crate::util::KeyValue;

/// 3000-01-01T00:00:00Z: far beyond any clock's drift.
pub const YEAR_3000: i64 = 32_503_680_000;

/// One poison record.
pub struct Poison {
    pub what: &'static str,
    pub record: KeyValue,
    /// The start of the `meteo.error` header it must get, where the test pins it.
    pub reason: Option<&'static str>,
}

/// The corpus, built around `valid` (a valid reading, keyed by its city id).
pub fn corpus(valid: &Reading) -> Vec<Poison> {
    let json = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut v = serde_json::to_value(valid).unwrap();
        edit(&mut v);
        Some(serde_json::to_vec(&v).unwrap())
    };
    let key = Some(valid.city_id.to_string().into_bytes());
    let plain = |what, record| Poison {
        what,
        record,
        reason: None,
    };
    let mut poison = vec![
        plain("not JSON", (key.clone(), Some(b"{not json".to_vec()))),
        plain(
            "an HTML page",
            (key.clone(), Some(b"<html>502 Bad Gateway</html>".to_vec())),
        ),
        plain("empty value", (key.clone(), Some(Vec::new()))),
        plain("no value", (key.clone(), None)),
        plain("a JSON array", (key.clone(), Some(b"[1, 2, 3]".to_vec()))),
        plain("schema 2", (key.clone(), json(&|v| v["schema"] = 2.into()))),
        plain(
            "an unknown field",
            (key.clone(), json(&|v| v["uv_index"] = 3.into())),
        ),
        plain(
            "wrong type",
            (key.clone(), json(&|v| v["humidity"] = "wet".into())),
        ),
        plain(
            "temperature 500",
            (key.clone(), json(&|v| v["temperature"] = 500.0.into())),
        ),
        plain(
            "humidity -5",
            (key.clone(), json(&|v| v["humidity"] = (-5).into())),
        ),
        plain(
            "wind_speed 1e308",
            (key.clone(), json(&|v| v["wind_speed"] = 1e308.into())),
        ),
        plain(
            "observed_at in the year 3000",
            (
                key.clone(),
                json(&|v| {
                    let future = chrono::DateTime::from_timestamp(YEAR_3000, 0).unwrap();
                    v["observed_at"] = future.to_rfc3339().into();
                }),
            ),
        ),
        plain("1 MB value", (key.clone(), Some(vec![b'x'; 1_000_000]))),
        plain("no key", (None, json(&|_| {}))),
        plain(
            "the key of another city",
            (Some(b"1".to_vec()), json(&|_| {})),
        ),
        plain(
            "control characters",
            (
                key.clone(),
                json(&|v| v["city_name"] = "Evil\u{1b}[2J\u{7}".into()),
            ),
        ),
    ];
    for field in [
        "city_id",
        "city_name",
        "country",
        "observed_at",
        "temperature",
        "humidity",
    ] {
        poison.push(plain(
            "missing field",
            (
                key.clone(),
                json(&|v| {
                    v.as_object_mut().unwrap().remove(field);
                }),
            ),
        ));
    }
    // Text that once passed both ends (invisible characters) and the real list's C1 control:
    // dead-lettered with the rule it breaks.
    for (field, text, reason) in [
        (
            "city_name",
            "\u{3164}",
            "city_name breaks the rule: no invisible characters",
        ),
        (
            "city_name",
            "Paris\u{2028}",
            "city_name breaks the rule: one space between words",
        ),
        (
            "city_name",
            "Pa\u{202E}ris",
            "city_name breaks the rule: no invisible characters",
        ),
        (
            "city_name",
            "Nice\u{FE0F}",
            "city_name breaks the rule: no invisible characters",
        ),
        (
            "city_name",
            "Mons-en-Barœ\u{9c}ul",
            "city_name holds control characters",
        ),
        (
            "weather_description",
            "pluie\u{034F}",
            "weather_description breaks the rule: no invisible characters",
        ),
        (
            "weather_main",
            "Rain\u{E0041}\u{E007F}",
            "weather_main breaks the rule: no invisible characters",
        ),
    ] {
        poison.push(Poison {
            what: "text rule",
            record: (key.clone(), json(&|v| v[field] = text.into())),
            reason: Some(reason),
        });
    }
    poison
}

/// The pinned reasons of `corpus`, by record.
pub fn reasons(corpus: &[Poison]) -> HashMap<KeyValue, &'static str> {
    corpus
        .iter()
        .filter_map(|p| p.reason.map(|r| (p.record.clone(), r)))
        .collect()
}
