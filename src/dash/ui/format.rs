//! Numbers and codes as the dashboard writes them: temperature colours, wind arrows, weather
//! symbols, ages and clock times; text cut to a width. Pure; the snapshot table uses them too.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use ratatui::style::Color;
use ratatui::text::Span;

/// What a value outside its documented range (docs/design.md, the reading) shows as, in any
/// column: rows written by others may hold anything, and a number cut to a column's width
/// (1e308 as "118336.0") would look plausible.
pub const OUT_OF_RANGE: &str = "out";

/// `value` written by `show` when it is within `range` (so finite), else [`OUT_OF_RANGE`].
pub fn in_range<T: PartialOrd>(
    value: T,
    range: &std::ops::RangeInclusive<T>,
    show: impl FnOnce(T) -> String,
) -> String {
    if range.contains(&value) {
        show(value)
    } else {
        OUT_OF_RANGE.to_string()
    }
}

/// A humidity as shown: "81%", or [`OUT_OF_RANGE`].
pub fn humidity(percent: i32) -> String {
    in_range(percent, &crate::model::HUMIDITY_RANGE, |h| format!("{h}%"))
}

/// Temperature colour steps, cold to hot: (upper limit in °C, colour).
pub const TEMPERATURE_STEPS: &[(f64, Color)] = &[
    (-10.0, Color::Magenta),
    (0.0, Color::Blue),
    (8.0, Color::Cyan),
    (15.0, Color::Green),
    (22.0, Color::Yellow),
    (30.0, Color::LightRed),
];

/// The colour of a temperature in °C on the cold-to-hot scale.
pub fn temperature_color(celsius: f64) -> Color {
    TEMPERATURE_STEPS
        .iter()
        .find(|&&(limit, _)| celsius < limit)
        .map(|&(_, c)| c)
        .unwrap_or(Color::Red)
}

/// The compass point the wind comes from: `degrees` as the API gives it (meteorological
/// convention), so 0 is a north wind, "N".
pub fn wind_from(degrees: i32) -> &'static str {
    const COMPASS: [&str; 8] = ["N", "NE", "E", "SE", "S", "SW", "W", "NW"];
    COMPASS[wind_sector(degrees)]
}

/// An arrow pointing where the wind blows to: a north wind (0°) blows south, "↓".
pub fn wind_arrow(degrees: i32) -> &'static str {
    const ARROWS: [&str; 8] = ["↓", "↙", "←", "↖", "↑", "↗", "→", "↘"];
    ARROWS[wind_sector(degrees)]
}

/// The wind's direction as the dashboard writes it everywhere: the point it comes from, as
/// forecasts name winds, after an arrow showing where the air goes: "↓ N" for a north wind;
/// "N" alone in ASCII.
pub fn wind_direction(degrees: i32, ascii: bool) -> String {
    if ascii {
        wind_from(degrees).to_string()
    } else {
        format!("{} {}", wind_arrow(degrees), wind_from(degrees))
    }
}

/// One of 8 sectors of 45°, sector 0 centred on north.
fn wind_sector(degrees: i32) -> usize {
    ((f64::from(degrees.rem_euclid(360)) + 22.5) / 45.0) as usize % 8
}

/// `value` to a tenth. A value that rounds to zero is "0.0": "-0.0" (-0.04 rounded) reads as
/// a frost that is not there.
pub fn tenths(value: f64) -> String {
    let text = format!("{value:.1}");
    match text.strip_prefix('-') {
        Some(rest) if rest.bytes().all(|b| b == b'0' || b == b'.') => rest.to_string(),
        _ => text,
    }
}

/// A one-character weather symbol from the API's icon code ("04n"): plain text symbols, never
/// emoji, or ASCII.
pub fn weather_icon(code: &str, ascii: bool) -> &'static str {
    let night = code.ends_with('n');
    let kind = code.get(..2).unwrap_or("");
    match (kind, ascii) {
        ("01", false) if night => "☾",
        ("01", false) => "☀",
        ("01", true) => "*",
        ("02", false) => "◐",
        ("02", true) => "o",
        ("03" | "04", false) => "☁",
        ("03" | "04", true) => "@",
        ("09" | "10", false) => "☂",
        ("09" | "10", true) => "/",
        ("11", false) => "ϟ",
        ("11", true) => "!",
        ("13", false) => "❄",
        ("13", true) => "+",
        ("50", false) => "≡",
        ("50", true) => "=",
        _ => " ",
    }
}

/// How old, in the largest whole unit: 45s, 12m, 3h, 2d.
pub fn age(duration: chrono::Duration) -> String {
    let s = duration.num_seconds().max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// A time of day in UTC, to the minute.
pub fn clock(at: DateTime<Utc>) -> String {
    at.format("%H:%M").to_string()
}

/// A time in a city's own zone (the reading's UTC offset).
pub fn local_clock(at: DateTime<Utc>, offset_seconds: Option<i32>) -> String {
    clock(at + chrono::Duration::seconds(i64::from(offset_seconds.unwrap_or(0))))
}

/// `text` cut to `width` columns, ending with `ellipsis` when cut: between words (at a space or
/// a hyphen) where one fits, else within the word. Untouched when it fits.
pub fn cut<'a>(text: &'a str, width: usize, ellipsis: &str) -> Cow<'a, str> {
    let columns = |s: &str| Span::raw(s).width();
    if columns(text) <= width {
        return Cow::Borrowed(text);
    }
    let room = width.saturating_sub(columns(ellipsis));
    if room == 0 {
        return Cow::Owned(ellipsis.chars().take(width).collect());
    }
    // The longest prefix that fits, in bytes.
    let end = text
        .char_indices()
        .map(|(i, c)| i + c.len_utf8())
        .take_while(|&end| columns(&text[..end]) <= room)
        .last()
        .unwrap_or(0);
    let boundary = |c: char| c == ' ' || c == '-';
    let cut_between_words = text[end..].starts_with(boundary);
    let kept = if cut_between_words {
        &text[..end]
    } else {
        match text[..end].rfind(boundary) {
            Some(at) if at > 0 => &text[..at],
            _ => &text[..end],
        }
    };
    Cow::Owned(format!("{}{ellipsis}", kept.trim_end_matches(boundary)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn winds_are_named_where_they_come_from_and_arrows_point_where_they_blow() {
        for (degrees, from, arrow) in [
            (0, "N", "↓"),
            (90, "E", "←"),
            (180, "S", "↑"),
            (270, "W", "→"),
            (360, "N", "↓"),
            (-90, "W", "→"),
        ] {
            assert_eq!(wind_from(degrees), from, "{degrees}°");
            assert_eq!(wind_arrow(degrees), arrow, "{degrees}°");
            assert_eq!(wind_direction(degrees, false), format!("{arrow} {from}"));
            assert_eq!(wind_direction(degrees, true), from);
        }
        assert_eq!(wind_direction(240, false), "↗ SW");
        assert_eq!(wind_from(22), "N");
        assert_eq!(wind_from(23), "NE");
        assert_eq!(wind_from(359), "N");
    }

    #[test]
    fn cut_text_ends_with_an_ellipsis_between_words_where_one_fits() {
        assert_eq!(cut("nuageux", 7, "…"), "nuageux");
        assert_eq!(cut("partiellement nuageux", 16, "…"), "partiellement…");
        assert_eq!(cut("partiellement nuageux", 16, "..."), "partiellement...");
        assert_eq!(cut("Saint-Rémy-de-Provence", 12, "…"), "Saint-Rémy…");
        assert_eq!(cut("ciel dégagé", 5, "…"), "ciel…");
        // One long word is cut inside it.
        assert_eq!(cut("Wolfschiessen", 8, "…"), "Wolfsch…");
        assert_eq!(cut("abc", 1, "..."), ".");
        assert_eq!(cut("abc", 0, "…"), "");
        // Wide characters count two columns.
        assert_eq!(cut("東京 大阪", 5, "…"), "東京…");
    }

    #[test]
    fn ages_use_the_largest_whole_unit() {
        let d = chrono::Duration::seconds;
        assert_eq!(age(d(-5)), "0s");
        assert_eq!(age(d(59)), "59s");
        assert_eq!(age(d(600)), "10m");
        assert_eq!(age(d(7300)), "2h");
        assert_eq!(age(d(90_000)), "1d");
    }

    #[test]
    fn temperatures_go_from_cold_to_hot_colours() {
        assert_eq!(temperature_color(-20.0), Color::Magenta);
        assert_eq!(temperature_color(-2.0), Color::Blue);
        assert_eq!(temperature_color(7.3), Color::Cyan);
        assert_eq!(temperature_color(35.0), Color::Red);
    }

    #[test]
    fn tenths_never_write_a_negative_zero() {
        assert_eq!(tenths(-0.04), "0.0");
        assert_eq!(tenths(-0.0), "0.0");
        assert_eq!(tenths(-0.05), "-0.1");
        assert_eq!(tenths(-10.0), "-10.0");
        assert_eq!(tenths(7.25), "7.2");
    }

    #[test]
    fn weather_icons_have_a_unicode_and_an_ascii_form() {
        assert_eq!(weather_icon("01n", false), "☾");
        assert_eq!(weather_icon("01d", false), "☀");
        assert_eq!(weather_icon("13n", true), "+");
        assert_eq!(weather_icon("", true), " ");
    }

    #[test]
    fn local_times_shift_by_the_citys_offset() {
        let at = crate::dash::fixtures::now();
        assert_eq!(local_clock(at, Some(3600)), "21:00");
        assert_eq!(local_clock(at, None), clock(at));
    }
}
