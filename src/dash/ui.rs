//! Drawing: `impl Widget for &App`, a pure function of the state (no I/O, no clock: the time is
//! [`App::now`]), so tests render it into a `TestBackend` and read the buffer. Also the layout,
//! shared with the mouse handling so a click lands on the row that was drawn there.

use chrono::{DateTime, Utc};
use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Layout, Margin, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Cell, Chart, Clear, Dataset, GraphType, HighlightSpacing, Paragraph, Row,
    StatefulWidget, Table, TableState, Widget, Wrap,
};

use super::app::{App, City, Connection, LoadingState, Point};
use super::map::MapPane;

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

/// Terminals at least this wide get the side-by-side layout.
const WIDE: u16 = 120;
/// Below this height only the table is shown.
const TALL_ENOUGH: u16 = 16;
/// Height of the detail strip under the table in the narrow layout.
const STRIP: u16 = 10;

/// Where each pane goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Panes {
    pub header: Rect,
    pub table: Rect,
    /// The rows of cities inside the table (no border, no column titles).
    pub table_body: Rect,
    pub detail: Option<Rect>,
    pub map: Option<Rect>,
    pub footer: Rect,
}

/// Lays out a terminal of `area`: side by side when wide, table over a detail strip when
/// narrow, the table alone when short. The map goes first when space runs out.
pub fn layout(area: Rect, show_map: bool) -> Panes {
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let (table, detail, map) = if body.width >= WIDE {
        let side = (body.width * 2 / 5).clamp(48, 100);
        let [left, right] =
            Layout::horizontal([Constraint::Fill(1), Constraint::Length(side)]).areas(body);
        if show_map && right.height >= 20 {
            let [d, m] =
                Layout::vertical([Constraint::Length(14), Constraint::Fill(1)]).areas(right);
            (left, Some(d), Some(m))
        } else {
            (left, Some(right), None)
        }
    } else if area.height >= TALL_ENOUGH {
        let [top, bottom] =
            Layout::vertical([Constraint::Fill(1), Constraint::Length(STRIP)]).areas(body);
        if show_map && bottom.width >= 64 {
            let [d, m] =
                Layout::horizontal([Constraint::Fill(1), Constraint::Length(28)]).areas(bottom);
            (top, Some(d), Some(m))
        } else {
            (top, Some(bottom), None)
        }
    } else {
        (body, None, None)
    };
    let inner = table.inner(Margin::new(1, 1));
    let table_body = Rect {
        y: inner.y.saturating_add(1),
        height: inner.height.saturating_sub(1),
        ..inner
    };
    Panes {
        header,
        table,
        table_body,
        detail,
        map,
        footer,
    }
}

impl App {
    /// A style with this foreground colour, or plain under `NO_COLOR`.
    fn fg(&self, color: Color) -> Style {
        if self.settings.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    fn temperature(&self, celsius: f64) -> String {
        format!("{:.1}", self.units.temperature(celsius))
    }

    fn speed(&self, metres_per_second: f64) -> String {
        let v = self.units.speed(metres_per_second);
        if v < 10.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.0}")
        }
    }

    fn wind(&self, city: &City) -> String {
        let speed = city.wind_speed.map(|s| self.speed(s)).unwrap_or("-".into());
        let direction = city
            .wind_deg
            .map(|d| wind_direction(d, self.settings.ascii))
            .unwrap_or("");
        format!("{speed:>4} {direction}")
    }
}

/// Where the wind blows to, as an arrow; in ASCII, the compass point it comes from.
pub fn wind_direction(degrees: i32, ascii: bool) -> &'static str {
    const ARROWS: [&str; 8] = ["↓", "↙", "←", "↖", "↑", "↗", "→", "↘"];
    const COMPASS: [&str; 8] = ["N", "NE", "E", "SE", "S", "SW", "W", "NW"];
    // `degrees` is where the wind comes from: a north wind blows south.
    let sector = ((f64::from(degrees.rem_euclid(360)) + 22.5) / 45.0) as usize % 8;
    if ascii {
        COMPASS[sector]
    } else {
        ARROWS[sector]
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

fn clock(at: DateTime<Utc>) -> String {
    at.format("%H:%M").to_string()
}

/// A time in a city's own zone (the reading's UTC offset).
fn local_clock(at: DateTime<Utc>, offset_seconds: Option<i32>) -> String {
    let shifted = at + chrono::Duration::seconds(i64::from(offset_seconds.unwrap_or(0)));
    shifted.format("%H:%M").to_string()
}

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let panes = layout(area, self.show_map);
        self.render_header(panes.header, buf);
        self.render_table(panes.table, buf);
        if let Some(detail) = panes.detail {
            self.render_detail(detail, buf);
        }
        if let Some(map) = panes.map {
            MapPane {
                app: self,
                block: Block::bordered().title(" Map "),
            }
            .render(map, buf);
        }
        self.render_footer(panes.footer, buf);
        if self.show_help {
            self.render_help(area, buf);
        }
    }
}

impl App {
    fn render_header(&self, area: Rect, buf: &mut Buffer) {
        let bold = Style::new().add_modifier(Modifier::BOLD);
        let sep = Span::raw(" │ ");
        let mut spans = vec![
            Span::styled(
                format!(" {} ", self.settings.country),
                bold.patch(self.fg(Color::Cyan)),
            ),
            Span::raw(format!("{} cities", self.cities.len())),
        ];
        if let Some((newest, oldest)) = self.newest_and_oldest() {
            spans.push(sep.clone());
            spans.push(Span::raw(format!(
                "newest {} oldest {} UTC",
                clock(newest),
                clock(oldest)
            )));
        }
        let synthetic = self.cities.iter().filter(|c| c.synthetic).count();
        let source = match (synthetic, self.cities.len()) {
            (_, 0) => None,
            (0, _) => Some(("LIVE", Color::Green)),
            (s, n) if s == n => Some(("SYNTHETIC", Color::Magenta)),
            _ => Some(("LIVE+SYNTHETIC", Color::Magenta)),
        };
        if let Some((label, color)) = source {
            spans.push(sep.clone());
            spans.push(Span::styled(label, bold.patch(self.fg(color))));
        }
        spans.push(sep);
        let dot = if self.settings.ascii { "*" } else { "●" };
        spans.push(match &self.connection {
            Connection::Connecting => {
                Span::styled(format!("{dot} connecting"), self.fg(Color::Yellow))
            }
            Connection::Up(at) => Span::styled(
                format!("{dot} Cassandra {}", at.format("%H:%M:%S")),
                self.fg(Color::Green),
            ),
            Connection::Down { since, .. } => Span::styled(
                format!("{dot} Cassandra DOWN since {}", since.format("%H:%M:%S")),
                bold.patch(self.fg(Color::Red)),
            ),
        });
        Line::from(spans).render(area, buf);
    }

    fn render_table(&self, area: Rect, buf: &mut Buffer) {
        let mut title = format!(" Cities · by {} ", self.sort.label());
        if !self.view.is_empty() {
            title = format!(
                " Cities {}/{} · by {} ",
                self.cursor + 1,
                self.view.len(),
                self.sort.label()
            );
        }
        let mut block = Block::bordered().title(title);
        if !self.search.is_empty() {
            block = block
                .title(Line::from(format!(" /{} ", self.search)).style(self.fg(Color::Yellow)));
        }
        let height = area.height.saturating_sub(3) as usize;
        let temp_unit = self.units.temperature_unit();
        let header = Row::new(vec![
            Cell::from("City"),
            Cell::from(Line::from(format!("Temp{temp_unit}")).alignment(Alignment::Right)),
            Cell::from(Line::from("Feels").alignment(Alignment::Right)),
            Cell::from(Line::from("Hum").alignment(Alignment::Right)),
            Cell::from(format!("Wind {}", self.units.speed_unit())),
            Cell::from("Weather"),
            Cell::from(Line::from("Age").alignment(Alignment::Right)),
        ])
        .style(Style::new().add_modifier(Modifier::BOLD));

        let shown = self.view.iter().skip(self.offset).take(height.max(1));
        let rows: Vec<Row> = shown
            .map(|&i| {
                let city = &self.cities[i];
                let stale = self.is_stale(city);
                let temp_style = if stale {
                    Style::new()
                } else {
                    self.fg(temperature_color(city.temperature))
                };
                let icon = weather_icon(&city.icon, self.settings.ascii);
                let row = Row::new(vec![
                    Cell::from(city.name.as_str()),
                    Cell::from(
                        Line::from(format!("{icon} {:>5}", self.temperature(city.temperature)))
                            .alignment(Alignment::Right),
                    )
                    .style(temp_style),
                    Cell::from(
                        Line::from(
                            city.feels_like
                                .map(|f| self.temperature(f))
                                .unwrap_or_default(),
                        )
                        .alignment(Alignment::Right),
                    ),
                    Cell::from(
                        Line::from(format!("{}%", city.humidity)).alignment(Alignment::Right),
                    ),
                    Cell::from(self.wind(city)),
                    Cell::from(city.description.as_str()),
                    Cell::from(Line::from(age(city.age(self.now))).alignment(Alignment::Right)),
                ]);
                if stale {
                    row.style(
                        Style::new()
                            .add_modifier(Modifier::DIM)
                            .patch(self.fg(Color::DarkGray)),
                    )
                } else {
                    row
                }
            })
            .collect();
        let widths = [
            Constraint::Fill(3),
            Constraint::Length(8),
            Constraint::Length(6),
            Constraint::Length(4),
            Constraint::Length(9),
            Constraint::Fill(2),
            Constraint::Length(4),
        ];
        let selector = if self.settings.ascii { ">" } else { "▶" };
        let table = Table::new(rows, widths)
            .header(header)
            .block(block)
            .column_spacing(1)
            .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD))
            .highlight_symbol(selector)
            .highlight_spacing(HighlightSpacing::Always);
        let mut state = TableState::default();
        if !self.view.is_empty() {
            state.select(Some(self.cursor.saturating_sub(self.offset)));
        }
        StatefulWidget::render(table, area, buf, &mut state);

        // An empty table says why.
        let message = if !self.loaded_once {
            Some("connecting to Cassandra…".to_string())
        } else if self.cities.is_empty() {
            Some(match &self.connection {
                Connection::Down { .. } => "no data yet: Cassandra does not answer".to_string(),
                _ => format!("no readings for {} yet", self.settings.country),
            })
        } else if self.view.is_empty() {
            Some(format!("no city matches “{}”", self.search))
        } else {
            None
        };
        if let Some(message) = message {
            let inner = area.inner(Margin::new(1, 2));
            Paragraph::new(message)
                .alignment(Alignment::Center)
                .style(Style::new().add_modifier(Modifier::ITALIC))
                .render(inner, buf);
        }
    }

    fn render_detail(&self, area: Rect, buf: &mut Buffer) {
        let Some(city) = self.selected() else {
            Block::bordered().title(" Detail ").render(area, buf);
            return;
        };
        let block = Block::bordered().title(
            Line::from(format!(" {} ", city.name)).style(Style::new().add_modifier(Modifier::BOLD)),
        );
        let inner = block.inner(area);
        block.render(area, buf);
        let unit = self.units.temperature_unit();
        let icon = weather_icon(&city.icon, self.settings.ascii);
        let mut lines = vec![Line::from(vec![
            Span::styled(
                format!("{} {}{unit}", icon, self.temperature(city.temperature)),
                self.fg(temperature_color(city.temperature))
                    .add_modifier(Modifier::BOLD),
            ),
            Span::raw(match city.feels_like {
                Some(f) => format!(" feels {}{unit}", self.temperature(f)),
                None => String::new(),
            }),
            Span::raw(format!("  {}", city.description)),
        ])];

        let points = match &self.history {
            Some((id, LoadingState::Loaded(points))) if *id == city.id => Some(points.as_slice()),
            _ => None,
        };
        let mut range = String::new();
        if let (Some(lo), Some(hi)) = (city.temp_min, city.temp_max) {
            range = format!("min {} max {}", self.temperature(lo), self.temperature(hi));
        }
        if let Some(points) = points.filter(|p| !p.is_empty()) {
            let lo = points
                .iter()
                .map(|p| p.temperature)
                .fold(f64::MAX, f64::min);
            let hi = points
                .iter()
                .map(|p| p.temperature)
                .fold(f64::MIN, f64::max);
            if !range.is_empty() {
                range.push_str(" · ");
            }
            range.push_str(&format!(
                "24h {}…{}",
                self.temperature(lo),
                self.temperature(hi)
            ));
        }
        let mut second = vec![];
        if !range.is_empty() {
            second.push(range);
        }
        second.push(format!("hum {}%", city.humidity));
        if let Some(p) = city.pressure {
            second.push(format!("{p} hPa"));
        }
        lines.push(Line::from(second.join(" · ")));
        let mut third = vec![match (city.wind_speed, city.wind_deg) {
            (Some(v), Some(d)) => format!(
                "wind {} {} {}",
                self.speed(v),
                self.units.speed_unit(),
                wind_direction(d, self.settings.ascii)
            ),
            (Some(v), None) => format!("wind {} {}", self.speed(v), self.units.speed_unit()),
            _ => "wind -".to_string(),
        }];
        if let Some(g) = city.wind_gust {
            third.push(format!("gust {}", self.speed(g)));
        }
        if let (Some(rise), Some(set)) = (city.sunrise, city.sunset) {
            third.push(format!(
                "sunrise {} sunset {}",
                local_clock(rise, city.timezone),
                local_clock(set, city.timezone)
            ));
        }
        third.push(format!("at {} UTC", clock(city.observed_at)));
        lines.push(Line::from(third.join(" · ")));

        let text_height = (lines.len() as u16).min(inner.height);
        let [text_area, chart_area] =
            Layout::vertical([Constraint::Length(text_height), Constraint::Fill(1)]).areas(inner);
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .render(text_area, buf);
        if chart_area.height < 4 {
            return;
        }
        match &self.history {
            Some((id, state)) if *id == city.id => match state {
                LoadingState::Loading => {
                    Paragraph::new("loading the last 24 h…").render(chart_area, buf)
                }
                LoadingState::Error(e) => Paragraph::new(format!("history unavailable: {e}"))
                    .wrap(Wrap { trim: true })
                    .style(self.fg(Color::Red))
                    .render(chart_area, buf),
                LoadingState::Loaded(points) if points.is_empty() => {
                    Paragraph::new("no readings in the last 24 h").render(chart_area, buf)
                }
                LoadingState::Loaded(points) => self.render_chart(points, chart_area, buf),
            },
            _ => {}
        }
    }

    fn render_chart(&self, points: &[Point], area: Rect, buf: &mut Buffer) {
        let hours = |at: DateTime<Utc>| (at - self.now).num_seconds() as f64 / 3600.0;
        let temps: Vec<(f64, f64)> = points
            .iter()
            .map(|p| (hours(p.at), self.units.temperature(p.temperature)))
            .collect();
        let feels: Vec<(f64, f64)> = points
            .iter()
            .filter_map(|p| Some((hours(p.at), self.units.temperature(p.feels_like?))))
            .collect();
        let (lo, hi) = temps
            .iter()
            .chain(feels.iter())
            .fold((f64::MAX, f64::MIN), |(lo, hi), &(_, y)| {
                (lo.min(y), hi.max(y))
            });
        let (lo, hi) = ((lo - 1.0).floor(), (hi + 1.0).ceil());
        let unit = self.units.temperature_unit();
        let (main, second) = if self.settings.ascii {
            (Marker::Custom('*'), Marker::Custom('.'))
        } else {
            (Marker::Braille, Marker::Dot)
        };
        let datasets = vec![
            Dataset::default()
                .name(format!("temp {unit}"))
                .marker(main)
                .graph_type(GraphType::Line)
                .style(self.fg(Color::Yellow))
                .data(&temps),
            Dataset::default()
                .name("feels")
                .marker(second)
                .graph_type(GraphType::Line)
                .style(self.fg(Color::Cyan))
                .data(&feels),
        ];
        Chart::new(datasets)
            // The legend may cover the top-right corner of a small chart: better than no legend.
            .hidden_legend_constraints((Constraint::Ratio(1, 2), Constraint::Ratio(1, 1)))
            .x_axis(
                Axis::default()
                    .bounds([-24.0, 0.0])
                    .labels(["-24h", "-12h", "now"]),
            )
            .y_axis(
                Axis::default()
                    .bounds([lo, hi])
                    .labels([format!("{lo:.0}"), format!("{hi:.0}")]),
            )
            .render(area, buf);
    }

    fn render_footer(&self, area: Rect, buf: &mut Buffer) {
        let key = Style::new()
            .add_modifier(Modifier::BOLD)
            .patch(self.fg(Color::Cyan));
        if self.editing_search {
            let cursor = if self.settings.ascii { "_" } else { "█" };
            Line::from(vec![
                Span::styled("/", key),
                Span::raw(format!("{}{cursor}", self.search)),
                Span::styled("  Enter", key),
                Span::raw(" keep  "),
                Span::styled("Esc", key),
                Span::raw(" clear"),
            ])
            .render(area, buf);
            return;
        }
        if let Connection::Down { error, .. } = &self.connection {
            Line::from(vec![
                Span::styled(
                    format!(
                        "retrying every {} s: ",
                        self.settings.refresh.as_secs().max(1)
                    ),
                    self.fg(Color::Red).add_modifier(Modifier::BOLD),
                ),
                Span::raw(super::text::clean(error)),
            ])
            .render(area, buf);
            return;
        }
        let hints = [
            ("↑↓/jk", "move"),
            ("/", "search"),
            ("s", "sort"),
            ("u", "units"),
            ("m", "map"),
            ("r", "refresh"),
            ("?", "help"),
            ("q", "quit"),
        ];
        let mut spans = Vec::new();
        for (k, what) in hints {
            let k = if self.settings.ascii && k == "↑↓/jk" {
                "jk"
            } else {
                k
            };
            spans.push(Span::styled(format!(" {k}"), key));
            spans.push(Span::raw(format!(" {what} ")));
        }
        Line::from(spans).render(area, buf);
    }

    fn render_help(&self, area: Rect, buf: &mut Buffer) {
        let lines = vec![
            Line::from("↑ ↓  j k      move the selection"),
            Line::from("PgUp PgDn     a page up or down"),
            Line::from("Home End g G  first or last city"),
            Line::from("/             search by name (case and accents ignored)"),
            Line::from("              Enter keeps the filter, Esc clears it"),
            Line::from("s             sort by name, temperature, age"),
            Line::from("u             units: °C m/s, °C km/h, °F mph"),
            Line::from("m             show or hide the map"),
            Line::from("r             read Cassandra now"),
            Line::from("mouse         wheel moves, click selects"),
            Line::from("q  Esc        quit"),
            Line::from(""),
            Line::from(format!(
                "Icons: {} clear  {} some clouds  {} clouds  {} rain  {} storm  {} snow  {} mist",
                weather_icon("01d", self.settings.ascii),
                weather_icon("02d", self.settings.ascii),
                weather_icon("04d", self.settings.ascii),
                weather_icon("10d", self.settings.ascii),
                weather_icon("11d", self.settings.ascii),
                weather_icon("13d", self.settings.ascii),
                weather_icon("50d", self.settings.ascii),
            )),
            Line::from(format!(
                "Dimmed rows: readings older than {} min.",
                self.settings.stale_after.as_secs() / 60
            )),
            Line::from("Press any key to close."),
        ];
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
            .block(Block::bordered().title(" Keys "))
            .wrap(Wrap { trim: false })
            .render(popup, buf);
    }
}

/// The plain text of a buffer, one string per line (tests and the snapshot check).
pub fn buffer_lines(buf: &Buffer) -> Vec<String> {
    let area = buf.area;
    (area.top()..area.bottom())
        .map(|y| {
            let mut line = String::new();
            for x in area.left()..area.right() {
                line.push_str(buf[(x, y)].symbol());
            }
            line
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dash::app::tests::{cities, loaded, now, reading};
    use crate::dash::app::{Units, Update};
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn draw(app: &App) -> Buffer {
        let mut terminal =
            Terminal::new(TestBackend::new(app.area.width, app.area.height)).unwrap();
        terminal.draw(|f| f.render_widget(app, f.area())).unwrap();
        terminal.backend().buffer().clone()
    }

    fn text(buf: &Buffer) -> String {
        buffer_lines(buf).join("\n")
    }

    fn press(app: &mut App, c: char) {
        app.on_key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    }

    /// The table row of `city` (not the detail pane's title).
    fn row_of(buf: &Buffer, city: &str) -> (u16, String) {
        buffer_lines(buf)
            .into_iter()
            .enumerate()
            .find(|(_, l)| l.contains(city) && l.contains('%'))
            .map(|(y, l)| (y as u16, l))
            .unwrap_or_else(|| panic!("{city:?} not in the table:\n{}", text(buf)))
    }

    /// The screen line holding `needle`, and its row.
    fn line_with(buf: &Buffer, needle: &str) -> (u16, String) {
        buffer_lines(buf)
            .into_iter()
            .enumerate()
            .find(|(_, l)| l.contains(needle))
            .map(|(y, l)| (y as u16, l))
            .unwrap_or_else(|| panic!("{needle:?} not on screen:\n{}", text(buf)))
    }

    #[test]
    fn the_table_shows_every_column_of_every_city() {
        let app = loaded(120, 40);
        let buf = draw(&app);
        let (_, header) = line_with(&buf, "City");
        for column in ["Temp°C", "Feels", "Hum", "Wind m/s", "Weather", "Age"] {
            assert!(header.contains(column), "{column} missing: {header}");
        }
        let (_, paris) = line_with(&buf, "Paris ");
        for cell in ["☁   7.3", "5.3", "81%", "3.6 ↗", "nuageux", "5m"] {
            assert!(paris.contains(cell), "{cell:?} missing: {paris}");
        }
        for name in ["Brest", "Évry", "Lyon", "Saint-Étienne"] {
            line_with(&buf, name);
        }
    }

    #[test]
    fn the_header_counts_cities_and_names_source_and_connection() {
        let buf = draw(&loaded(120, 40));
        let header = &buffer_lines(&buf)[0];
        assert!(header.contains("FR"), "{header}");
        assert!(header.contains("5 cities"), "{header}");
        assert!(header.contains("newest 19:59 oldest 16:40 UTC"), "{header}");
        assert!(header.contains("LIVE"), "{header}");
        assert!(header.contains("Cassandra 20:00:00"), "{header}");
    }

    #[test]
    fn sorting_by_temperature_puts_the_hottest_first() {
        let mut app = loaded(120, 40);
        press(&mut app, 's');
        let buf = draw(&app);
        let (lyon, _) = row_of(&buf, "Lyon");
        let (brest, _) = row_of(&buf, "Brest");
        let (header, _) = line_with(&buf, "Weather");
        assert_eq!(lyon, header + 1);
        assert!(brest > lyon);
        assert!(text(&buf).contains("by temperature"));
    }

    #[test]
    fn a_search_filters_the_table_and_shows_in_the_footer() {
        let mut app = loaded(120, 40);
        press(&mut app, '/');
        for c in "etie".chars() {
            press(&mut app, c);
        }
        let buf = draw(&app);
        let screen = text(&buf);
        assert!(screen.contains("Saint-Étienne"));
        assert!(!screen.contains("Brest"), "{screen}");
        assert!(buffer_lines(&buf).last().unwrap().starts_with("/etie"));
    }

    #[test]
    fn the_unit_switch_converts_temperatures_and_wind() {
        let mut app = loaded(120, 40);
        press(&mut app, 'u');
        let buf = draw(&app);
        assert!(text(&buf).contains("Wind km/h"));
        let (_, paris) = line_with(&buf, "Paris ");
        assert!(paris.contains("13 ↗"), "{paris}");
        press(&mut app, 'u');
        let buf = draw(&app);
        assert!(text(&buf).contains("Temp°F"));
        let (_, paris) = line_with(&buf, "Paris ");
        assert!(paris.contains("45.1"), "7.3 °C is 45.1 °F: {paris}");
        assert!(paris.contains("8.1 ↗"), "3.6 m/s is 8.1 mph: {paris}");
    }

    #[test]
    fn stale_readings_are_dimmed_and_fresh_ones_coloured() {
        let app = loaded(120, 40);
        let buf = draw(&app);
        let (y, line) = line_with(&buf, "Lyon");
        let x = line.find("Lyon").unwrap() as u16;
        assert!(buf[(x, y)].modifier.contains(Modifier::DIM));
        let (y, _) = line_with(&buf, "Paris ");
        let temp_x = line_with(&buf, "Paris ").1.find("7.3").unwrap() as u16;
        // find() counts bytes; the row before 7.3 holds multi-byte symbols, so look around it.
        let coloured = (temp_x.saturating_sub(4)..temp_x + 2).any(|x| {
            buf[(x, y)].fg == Color::Cyan && !buf[(x, y)].modifier.contains(Modifier::DIM)
        });
        assert!(coloured, "Paris at 7.3 °C is drawn cyan");
    }

    #[test]
    fn no_color_draws_without_any_colour_but_keeps_dimming_and_selection() {
        let mut app = loaded(120, 40);
        app.settings.color = false;
        let buf = draw(&app);
        for cell in buf.content() {
            assert_eq!(cell.fg, Color::Reset, "{cell:?}");
            assert_eq!(cell.bg, Color::Reset, "{cell:?}");
        }
        let (y, line) = line_with(&buf, "Lyon");
        assert!(buf[(line.find("Lyon").unwrap() as u16, y)]
            .modifier
            .contains(Modifier::DIM));
        let (y, _) = row_of(&buf, "Brest");
        assert!(buf[(5, y)].modifier.contains(Modifier::REVERSED));
    }

    #[test]
    fn the_map_plots_cities_and_marks_the_selected_one_and_m_hides_it() {
        let mut app = loaded(200, 60);
        let buf = draw(&app);
        let map = layout(app.area, true).map.unwrap();
        let inside = |buf: &Buffer, pred: &dyn Fn(&str) -> bool| {
            (map.top() + 1..map.bottom() - 1)
                .any(|y| (map.left() + 1..map.right() - 1).any(|x| pred(buf[(x, y)].symbol())))
        };
        assert!(text(&buf).contains(" Map "));
        assert!(inside(&buf, &|s| s == "X"), "the selected city is marked");
        assert!(inside(&buf, &|s| s
            .chars()
            .any(|c| ('\u{2801}'..='\u{28ff}').contains(&c))));
        // Brest (-2 °C) is blue, Lyon (11.5 °C) green: both colours are on the map.
        for colour in [Color::Blue, Color::Green] {
            let found = (map.top()..map.bottom())
                .any(|y| (map.left()..map.right()).any(|x| buf[(x, y)].fg == colour));
            assert!(found, "{colour:?} missing from the map");
        }
        press(&mut app, 'm');
        let buf = draw(&app);
        assert!(!text(&buf).contains(" Map "));
    }

    #[test]
    fn at_80_by_24_every_pane_fits_and_the_keys_are_shown() {
        let app = loaded(80, 24);
        let panes = layout(app.area, true);
        assert!(panes.detail.is_some() && panes.map.is_some());
        assert!(panes.table_body.height >= 5, "{panes:?}");
        let buf = draw(&app);
        let screen = text(&buf);
        for needle in ["Cities", "Paris", "Brest", " Map ", "q quit"] {
            assert!(screen.contains(needle), "{needle} missing:\n{screen}");
        }
        // The detail pane of the selected city, with its sunrise in local time (UTC+1).
        assert!(screen.contains("sunrise 08:17"), "{screen}");
    }

    #[test]
    fn at_200_by_60_the_panes_sit_side_by_side_with_the_chart() {
        let mut app = loaded(200, 60);
        let points = (0..24)
            .map(|h| Point {
                at: now() - chrono::Duration::hours(h),
                temperature: 5.0 + h as f64 / 4.0,
                feels_like: Some(3.0),
                humidity: 80,
            })
            .rev()
            .collect();
        app.apply(Update::History {
            city_id: 4,
            result: Ok(points),
        });
        let panes = layout(app.area, true);
        assert_eq!(panes.table.y, panes.detail.unwrap().y);
        assert!(panes.map.unwrap().height >= 30);
        let screen = text(&draw(&app));
        for needle in ["-24h", "now", "temp °C", "feels", "24h 5.0…10.8"] {
            assert!(screen.contains(needle), "{needle} missing:\n{screen}");
        }
    }

    #[test]
    fn a_city_name_full_of_escape_sequences_is_drawn_as_plain_text() {
        let mut r = reading(
            7,
            "\x1b[2J\x1b[H\x1b]0;pwned\x07Nî\x1b[31mmes\u{9b}5m\x07\r\n",
            20.0,
            1,
        );
        r.weather_description = Some("\x1b]8;;http://evil\x1b\\ciel\x1b]8;;\x1b\\ clair".into());
        r.weather_icon = Some("\x1b[5m01d".into());
        let mut app = loaded(120, 40);
        app.apply(Update::Latest {
            at: now(),
            result: Ok(vec![crate::dash::app::City::from_reading(&r)]),
        });
        let buf = draw(&app);
        for cell in buf.content() {
            assert!(
                !cell.symbol().chars().any(|c| c.is_control()),
                "control character drawn: {cell:?}"
            );
        }
        let screen = text(&buf);
        assert!(screen.contains("Nîmes"), "{screen}");
        assert!(screen.contains("ciel clair"), "{screen}");
        assert!(
            !screen.contains("pwned") && !screen.contains("evil"),
            "{screen}"
        );
    }

    #[test]
    fn a_lost_connection_keeps_the_table_and_says_so() {
        let mut app = loaded(120, 40);
        app.apply(Update::Latest {
            at: now(),
            result: Err("Cassandra at 127.0.0.1:1 did not answer within 10 s".into()),
        });
        let buf = draw(&app);
        let screen = text(&buf);
        assert!(screen.contains("Cassandra DOWN since 20:00:00"), "{screen}");
        assert!(screen.contains("Paris"));
        assert!(buffer_lines(&buf).last().unwrap().contains("127.0.0.1:1"));
    }

    #[test]
    fn before_the_first_answer_the_table_says_it_is_connecting() {
        let app = App::new(
            crate::dash::DashSettings::new("FR"),
            now(),
            Rect::new(0, 0, 80, 24),
        );
        let screen = text(&draw(&app));
        assert!(screen.contains("connecting to Cassandra"), "{screen}");
        assert!(screen.contains("0 cities"));
    }

    #[test]
    fn tiny_and_odd_sizes_draw_without_panicking() {
        for (w, h) in [
            (1, 1),
            (10, 3),
            (20, 5),
            (40, 15),
            (79, 23),
            (119, 16),
            (300, 100),
        ] {
            let mut app = loaded(w, h);
            press(&mut app, '?');
            draw(&app);
            app.show_help = false;
            app.history = Some((4, LoadingState::Error("x".repeat(500))));
            draw(&app);
        }
    }

    #[test]
    fn ascii_mode_draws_icons_and_directions_in_ascii() {
        let mut app = loaded(120, 40);
        app.settings.ascii = true;
        let buf = draw(&app);
        let (_, paris) = line_with(&buf, "Paris ");
        assert!(paris.contains("@   7.3"), "{paris}");
        assert!(paris.contains("3.6 SW"), "{paris}");
        assert_eq!(weather_icon("13n", true), "+");
        assert_eq!(Units::Metric.speed_unit(), "m/s");
    }

    #[test]
    fn the_help_lists_the_keys() {
        let mut app = loaded(80, 24);
        press(&mut app, '?');
        let screen = text(&draw(&app));
        for needle in [" Keys ", "search by name", "show or hide the map", "quit"] {
            assert!(screen.contains(needle), "{needle} missing:\n{screen}");
        }
    }

    #[test]
    fn wind_arrows_point_where_the_wind_blows() {
        assert_eq!(wind_direction(0, false), "↓");
        assert_eq!(wind_direction(240, false), "↗");
        assert_eq!(wind_direction(240, true), "SW");
        assert_eq!(wind_direction(-90, true), "W");
        assert_eq!(wind_direction(359, true), "N");
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
        let _ = cities();
    }
}
