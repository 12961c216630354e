//! The table of cities: one row a city, the selection highlighted, stale readings dimmed, and
//! a line saying why when it is empty.

use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Margin, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{
    Cell, HighlightSpacing, Paragraph, Row, StatefulWidget, Table, TableState, Widget,
};

use super::format::{age, temperature_color, weather_icon};
use super::Look;
use crate::dash::app::{App, Connection};
use crate::dash::city::City;
use crate::dash::refresh::Failure;

const WIDTHS: [Constraint; 7] = [
    Constraint::Fill(3),
    Constraint::Length(8),
    Constraint::Length(6),
    Constraint::Length(4),
    Constraint::Length(9),
    Constraint::Fill(2),
    Constraint::Length(4),
];

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

        let shown = app.view.iter().skip(app.offset).take(height.max(1));
        let rows: Vec<Row> = shown.map(|&i| row(app, look, &app.cities[i])).collect();
        let selector = look.glyphs.selector;
        let table = Table::new(rows, WIDTHS)
            .header(header)
            .block(block)
            .column_spacing(1)
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

/// One city's row: coloured by temperature when fresh, dimmed when stale.
fn row<'a>(app: &App, look: Look, city: &'a City) -> Row<'a> {
    let r = &city.reading;
    let stale = app.is_stale(city);
    let temp_style = if stale {
        Style::new()
    } else {
        look.fg(temperature_color(r.temperature))
    };
    let icon = weather_icon(city.icon(), look.ascii);
    let row = Row::new(vec![
        Cell::from(city.name()),
        right(format!("{icon} {:>5}", look.temperature(r.temperature))).style(temp_style),
        right(
            r.feels_like
                .map(|f| look.temperature(f))
                .unwrap_or_default(),
        ),
        right(format!("{}%", r.humidity)),
        Cell::from(look.wind(city)),
        Cell::from(city.description()),
        right(age(city.age(app.now))),
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
            } => format!("no data yet: {why}"),
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
