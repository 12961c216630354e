//! The table of cities: one row a city, the selection highlighted, stale readings dimmed, and
//! a line saying why when it is empty.

use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Margin, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Cell, HighlightSpacing, Paragraph, Row, StatefulWidget, Table, TableState, Widget,
};

use super::format::{age, cut, temperature_color, weather_icon};
use super::Look;
use crate::dash::app::{App, Connection};
use crate::dash::city::City;
use crate::dash::refresh::Failure;

/// The columns of fixed width: temperature (icon and "-10.5"), feels-like, humidity, wind
/// (" 3.6 ↗ SW"), age; the name comes before them and the description after the wind.
const TEMPERATURE: u16 = 7;
const FEELS: u16 = 5;
const HUMIDITY: u16 = 4;
const WIND: u16 = 9;
const AGE: u16 = 4;

const NAME: usize = 0;
const DESCRIPTION: usize = 5;
const COLUMN_SPACING: u16 = 1;

/// The seven columns' widths in `width`: the fixed ones, then the room left shared by the
/// name and the description. The name gets what its longest needs, as long as the
/// description keeps what its longest needs or two fifths of the room, whichever is less: a
/// name is what a row is read by, so it is cut last.
fn column_widths(width: u16, longest_name: u16, longest_description: u16) -> [u16; 7] {
    let fixed = TEMPERATURE + FEELS + HUMIDITY + WIND + AGE + 6 * COLUMN_SPACING;
    let room = width.saturating_sub(fixed);
    let description_needs = longest_description.min(room * 2 / 5);
    let name = longest_name.min(room.saturating_sub(description_needs));
    [name, TEMPERATURE, FEELS, HUMIDITY, WIND, room - name, AGE]
}

pub struct CityTable<'a>(pub &'a App);

impl Widget for CityTable<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.0;
        let look = Look::of(app);
        let dot = look.glyphs.dot;
        let mut title = format!(" Cities {dot} by {} ", app.sort.label());
        if !app.view.is_empty() {
            title = format!(
                " Cities {}/{} {dot} by {} ",
                app.cursor + 1,
                app.view.len(),
                app.sort.label()
            );
        }
        let mut block = look.glyphs.block().title(title);
        if !app.search.is_empty() {
            block =
                block.title(Line::from(format!(" /{} ", app.search)).style(look.fg(Color::Yellow)));
        }
        let height = area.height.saturating_sub(3) as usize;
        let header = Row::new(vec![
            Cell::from("City"),
            right(format!("Temp{}", look.temperature_unit())),
            right("Feels".into()),
            right("Hum".into()),
            Cell::from(format!("Wind {}", look.units.speed_unit())),
            Cell::from("Weather"),
            right("Age".into()),
        ])
        .style(Style::new().add_modifier(Modifier::BOLD));

        let selector = look.glyphs.selector;
        // The columns' widths, known before the rows are made, so that text too long for its
        // column is cut between words, with an ellipsis, instead of mid-word by the table.
        let inner = block.inner(area);
        let longest = |text: fn(&City) -> &str| {
            app.view
                .iter()
                .map(|&i| Span::raw(look.text(text(&app.cities[i]))).width())
                .max()
                .map_or(0, |w| u16::try_from(w).unwrap_or(u16::MAX))
        };
        let widths = column_widths(
            inner
                .width
                .saturating_sub(Span::raw(selector).width() as u16),
            longest(City::name).max(4),
            longest(City::description).max(7),
        );
        let shown = app.view.iter().skip(app.offset).take(height.max(1));
        let rows: Vec<Row> = shown
            .map(|&i| row(app, look, &app.cities[i], &widths))
            .collect();
        let table = Table::new(rows, widths.iter().map(|&w| Constraint::Length(w)))
            .header(header)
            .block(block)
            .column_spacing(COLUMN_SPACING)
            .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD))
            .highlight_symbol(selector)
            .highlight_spacing(HighlightSpacing::Always);
        let mut state = TableState::default();
        if !app.view.is_empty() {
            state.select(Some(app.cursor.saturating_sub(app.offset)));
        }
        StatefulWidget::render(table, area, buf, &mut state);

        if let Some(message) = empty_message(app, look) {
            Paragraph::new(message)
                .alignment(Alignment::Center)
                .style(Style::new().add_modifier(Modifier::ITALIC))
                .render(area.inner(Margin::new(1, 2)), buf);
        }
    }
}

/// One city's row: coloured by temperature when fresh, dimmed when stale; the name and the
/// description cut to their columns' `widths`.
fn row<'a>(app: &App, look: Look, city: &'a City, widths: &[u16]) -> Row<'a> {
    // Outside text as the terminal can draw it, then cut to its column.
    let fit = |text: &'a str, column: usize| {
        let width = widths.get(column).copied().unwrap_or(0);
        cut(&look.text(text), usize::from(width), look.glyphs.ellipsis).into_owned()
    };
    let r = &city.reading;
    let stale = app.is_stale(city);
    let temp_style = match city.temperature() {
        Some(t) if !stale => look.fg(temperature_color(t)),
        _ => Style::new(),
    };
    let icon = weather_icon(city.icon(), look.ascii);
    let row = Row::new(vec![
        Cell::from(fit(city.name(), NAME)),
        right(format!(
            "{icon} {:>5}",
            city.temperature()
                .map_or_else(|| "-".into(), |t| look.temperature(t))
        ))
        .style(temp_style),
        right(
            r.feels_like
                .map(|f| look.temperature(f))
                .unwrap_or_default(),
        ),
        right(
            city.humidity()
                .map_or_else(|| "-".into(), super::format::humidity),
        ),
        Cell::from(look.wind(city)),
        Cell::from(fit(city.description(), DESCRIPTION)),
        right(city.age(app.now).map_or_else(|| "-".into(), age)),
    ]);
    if stale {
        row.style(
            Style::new()
                .add_modifier(Modifier::DIM)
                .patch(look.fg(Color::DarkGray)),
        )
    } else {
        row
    }
}

/// A cell of numbers, aligned to the right.
fn right<'a>(text: String) -> Cell<'a> {
    Cell::from(Line::from(text).alignment(Alignment::Right))
}

/// Why the table is empty, if it is.
fn empty_message(app: &App, look: Look) -> Option<String> {
    let g = look.glyphs;
    if !app.loaded_once() {
        Some(format!("connecting to Cassandra{}", g.ellipsis))
    } else if app.cities.is_empty() {
        Some(match &app.connection {
            Connection::Down {
                error: Failure::NoKeyspace(why),
                ..
            // Alone, so that it fits whole at 80 columns: it says what to do.
            } => why.clone(),
            Connection::Down { .. } => "no data yet: Cassandra does not answer".to_string(),
            _ => format!("no readings for {} yet", app.settings.country),
        })
    } else if app.view.is_empty() {
        Some(format!(
            "no city matches {}{}{}",
            g.open_quote, app.search, g.close_quote
        ))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_gets_its_longest_while_the_description_keeps_enough() {
        // 69 columns (120x40's table): 34 for name and description.
        assert_eq!(column_widths(69, 20, 13), [20, 7, 5, 4, 9, 14, 4]);
        // A long description keeps two fifths of the room; the name takes the rest.
        assert_eq!(column_widths(69, 30, 21), [21, 7, 5, 4, 9, 13, 4]);
        // Short names leave the room to the description.
        assert_eq!(column_widths(69, 6, 21), [6, 7, 5, 4, 9, 28, 4]);
        // Too narrow for anything but the fixed columns: nothing overflows.
        assert_eq!(column_widths(20, 20, 13)[0], 0);
    }
}
