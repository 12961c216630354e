//! The snapshot printed when stdout is not a terminal (`meteo dash | head`, a script, a cron
//! job): one plain-text table of the latest readings, with the dashboard's columns.

use std::io::{self, Write};

use chrono::{DateTime, Utc};
use ratatui::text::Span;

use super::city::City;
use super::ui::format::{age, humidity, in_range, tenths, wind_from};
use super::Units;
use crate::model::{TEMPERATURE_RANGE_C, WIND_RANGE_MS};

const HEADERS: [&str; 7] = ["CITY", "TEMP", "FEELS", "HUM", "WIND", "WEATHER", "AGE"];
/// Columns aligned to the right (numbers).
const RIGHT: [bool; 7] = [false, true, true, true, true, false, true];

/// Writes the table of `cities`, sorted by name, to `out`: no colour, no escape sequence, the
/// wind named where it comes from ("3.6 m/s from SW"), as the dashboard does.
pub fn write(
    out: &mut impl Write,
    cities: &[City],
    units: Units,
    now: DateTime<Utc>,
) -> io::Result<()> {
    let mut sorted: Vec<&City> = cities.iter().collect();
    // A row without observed_at last: its age is unknown.
    sorted.sort_by_key(|c| (c.observed_at().is_none(), c.key(), c.id()));
    let t = units.temperature_unit();
    let s = units.speed_unit();
    let one = tenths;
    let temperature = |c: f64| {
        in_range(c, &TEMPERATURE_RANGE_C, |c| {
            format!("{}{t}", one(units.temperature(c)))
        })
    };
    let speed = |v: f64| {
        in_range(v, &WIND_RANGE_MS, |v| {
            format!("{} {s}", one(units.speed(v)))
        })
    };
    let rows: Vec<[String; 7]> = sorted
        .iter()
        .map(|c| {
            let r = &c.reading;
            let wind = match (r.wind_speed, r.wind_deg) {
                (Some(v), Some(d)) => format!("{} from {}", speed(v), wind_from(d)),
                (Some(v), None) => speed(v),
                _ => "-".into(),
            };
            [
                c.name().to_string(),
                c.temperature().map_or_else(|| "-".into(), temperature),
                r.feels_like.map(temperature).unwrap_or_else(|| "-".into()),
                c.humidity().map_or_else(|| "-".into(), humidity),
                wind,
                if c.description().is_empty() {
                    "-".into()
                } else {
                    c.description().to_string()
                },
                c.age(now).map_or_else(|| "-".into(), age),
            ]
        })
        .collect();
    // Display width, not bytes: "Évry" is four columns.
    let width = |text: &str| Span::raw(text).width();
    let mut widths = HEADERS.map(width);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(width(cell));
        }
    }
    let mut line = |cells: [&str; 7]| -> io::Result<()> {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = " ".repeat(widths[i] - width(cell));
            if i > 0 {
                text.push_str("  ");
            }
            if RIGHT[i] {
                text.push_str(&pad);
                text.push_str(cell);
            } else {
                text.push_str(cell);
                if i + 1 < cells.len() {
                    text.push_str(&pad);
                }
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(HEADERS)?;
    for row in &rows {
        line(row.each_ref().map(String::as_str))?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dash::fixtures::{cities, now, reading};

    fn render(cities: &[City], units: Units) -> String {
        let mut out = Vec::new();
        write(&mut out, cities, units, now()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_snapshot_lists_every_city_by_name_with_aligned_columns() {
        let text = render(&cities(), Units::Metric);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 6, "{text}");
        assert!(lines[0].starts_with("CITY"), "{text}");
        assert!(lines[1].starts_with("Brest"), "{text}");
        assert!(lines[2].starts_with("Évry "), "{text}");
        assert!(
            lines[4].contains("7.3°C") && lines[4].contains("3.6 m/s from SW"),
            "{text}"
        );
        assert!(lines[4].ends_with("5m"), "{text}");
        // Every row's TEMP column ends at the same display column.
        let end = |l: &str| {
            let i = l.find("°C").unwrap();
            Span::raw(&l[..i]).width()
        };
        assert!(lines[1..].iter().all(|l| end(l) == end(lines[1])), "{text}");
    }

    #[test]
    fn the_snapshot_converts_units_and_carries_no_escape_sequence() {
        let mut evil = reading(9, "\x1b[2J\x1b]0;owned\x07Rouen\x1b[5m", 10.0, 1);
        evil.weather_description = Some("pluie\x1b[31m\r\n".into());
        let text = render(&[City::from_reading(&evil)], Units::Imperial);
        assert!(!text.contains('\x1b') && !text.contains('\r'), "{text:?}");
        assert!(text.contains("Rouen") && text.contains("50.0°F") && text.contains("mph"));
        assert!(text.lines().nth(1).unwrap().contains("pluie"));
    }

    #[test]
    fn impossible_values_show_as_out_of_range_never_as_a_cut_number() {
        let mut hot = reading(1, "Chaud", 1e308, 1);
        hot.humidity = i32::MIN;
        hot.feels_like = Some(f64::NAN);
        hot.wind_speed = Some(1e308);
        let cold = reading(2, "Froid", -1e308, 1);
        let text = render(&[City::new(hot), City::new(cold)], Units::Metric);
        let lines: Vec<&str> = text.lines().collect();
        for line in &lines[1..] {
            assert!(line.contains("out"), "{text}");
            assert!(!line.contains("8336") && !line.contains("648"), "{text}");
            assert!(line.len() < 80, "{text}");
        }
        assert!(lines[1].starts_with("Chaud") && lines[1].matches("out").count() == 4);
    }

    #[test]
    fn an_empty_snapshot_is_the_header_alone() {
        assert_eq!(
            render(&[], Units::Metric),
            "CITY  TEMP  FEELS  HUM  WIND  WEATHER  AGE\n"
        );
    }
}
