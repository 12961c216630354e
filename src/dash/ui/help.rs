//! The help overlay: every key, the weather symbols, how wind is named, what a dimmed row
//! means.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Clear, Paragraph, Widget, Wrap};

use super::format::weather_icon;
use super::glyphs::Glyphs;
use crate::dash::app::App;

const KEYS: [&str; 11] = [
    "↑ ↓  j k      move the selection",
    "PgUp PgDn     a page up or down",
    "Home End g G  first or last city",
    "/             search by name (case and accents ignored)",
    "              Enter keeps the filter, Esc clears it",
    "s             sort by name, temperature, age",
    "u             units: °C m/s, °C km/h, °F mph",
    "m             show or hide the map",
    "r             read Cassandra now",
    "mouse         wheel moves, click selects",
    "q  Esc        quit (here: close this help)",
];

/// Drawn centred over `area`, which it is given whole.
pub struct Help<'a>(pub &'a App);

impl Widget for Help<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.0;
        let ascii = app.settings.ascii;
        let icon = |code| weather_icon(code, ascii);
        let key = |line: &str| {
            if ascii {
                line.replace("↑ ↓", "Up Dn").replace('°', "")
            } else {
                line.to_string()
            }
        };
        let mut lines: Vec<Line> = KEYS.into_iter().map(|l| Line::from(key(l))).collect();
        lines.extend([
            Line::from(""),
            // Two lines, so that none wraps to leave a symbol alone on the next.
            Line::from(format!(
                "Icons: {} clear  {} clear night  {} some clouds  {} clouds",
                icon("01d"),
                icon("01n"),
                icon("02d"),
                icon("04d"),
            )),
            Line::from(format!(
                "       {} rain  {} storm  {} snow  {} mist",
                icon("10d"),
                icon("11d"),
                icon("13d"),
                icon("50d"),
            )),
            Line::from(if app.settings.ascii {
                "Wind SW: from the south-west, as forecasts name winds."
            } else {
                "Wind ↗ SW: from the south-west, the arrow where it blows."
            }),
            Line::from(format!(
                "Dimmed rows: readings older than {} min.",
                app.settings.stale_after.as_secs() / 60
            )),
            Line::from("Any key closes this help."),
        ]);
        let width = 66.min(area.width);
        let height = (lines.len() as u16 + 2).min(area.height);
        let popup = Rect::new(
            area.x + (area.width - width) / 2,
            area.y + (area.height - height) / 2,
            width,
            height,
        );
        Clear.render(popup, buf);
        Paragraph::new(lines)
            .block(Glyphs::of(ascii).block().title(" Keys "))
            .wrap(Wrap { trim: false })
            .render(popup, buf);
    }
}
