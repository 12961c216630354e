//! The detail pane of the selected city: its weather in three lines, then its last 24 hours
//! (the chart, or why there is none).

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget, Wrap};

use super::chart::legend;
use super::format::{clock, local_clock, temperature_color, weather_icon, wind_direction};
use super::{HistoryChart, Look};
use crate::dash::app::{App, LoadingState};
use crate::dash::city::{City, Point};

/// Below this height the chart is left out.
const CHART_MIN_HEIGHT: u16 = 4;

pub struct Detail<'a>(pub &'a App);

impl Widget for Detail<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.0;
        let Some(city) = app.selected() else {
            Look::of(app)
                .glyphs
                .block()
                .title(" Detail ")
                .render(area, buf);
            return;
        };
        let look = Look::of(app);
        let mut block = look.glyphs.block().title(
            Line::from(format!(" {} ", city.name()))
                .style(Style::new().add_modifier(Modifier::BOLD)),
        );
        let inner = block.inner(area);
        let history = match &app.history {
            Some((id, state)) if *id == city.id() => Some(state),
            _ => None,
        };
        let points = match history {
            Some(LoadingState::Loaded(points)) => Some(points.as_slice()),
            _ => None,
        };
        let lines = weather_lines(look, city, points);
        let text_height = (lines.len() as u16).min(inner.height);
        let [text_area, chart_area] =
            Layout::vertical([Constraint::Length(text_height), Constraint::Fill(1)]).areas(inner);
        let chart_shown = chart_area.height >= CHART_MIN_HEIGHT;
        if chart_shown && points.is_some_and(|p| !p.is_empty()) {
            // On the border under the chart, where it hides no point.
            block = block.title_bottom(legend(look).right_aligned());
        }
        block.render(area, buf);
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .render(text_area, buf);
        if !chart_shown {
            return;
        }
        match history {
            Some(LoadingState::Loading) => {
                Paragraph::new(format!("loading the last 24 h{}", look.glyphs.ellipsis))
                    .render(chart_area, buf)
            }
            Some(LoadingState::Error(e)) => Paragraph::new(format!("history unavailable: {e}"))
                .wrap(Wrap { trim: true })
                .style(look.fg(Color::Red))
                .render(chart_area, buf),
            Some(LoadingState::Loaded(points)) if points.is_empty() => {
                Paragraph::new("no readings in the last 24 h").render(chart_area, buf)
            }
            Some(LoadingState::Loaded(points)) => HistoryChart {
                points,
                now: app.now,
                look,
            }
            .render(chart_area, buf),
            None => {}
        }
    }
}

/// Now, feels, description; ranges, humidity, pressure; wind, sun, time of the reading.
fn weather_lines<'a>(look: Look, city: &City, points: Option<&[Point]>) -> Vec<Line<'a>> {
    let r = &city.reading;
    let unit = look.temperature_unit();
    let dot = format!(" {} ", look.glyphs.dot);
    let icon = weather_icon(city.icon(), look.ascii);
    let first = Line::from(vec![
        match city.temperature() {
            Some(t) => Span::styled(
                format!("{} {}{unit}", icon, look.temperature(t)),
                look.fg(temperature_color(t)).add_modifier(Modifier::BOLD),
            ),
            None => Span::raw(format!("{icon} -{unit}")),
        },
        Span::raw(match r.feels_like {
            Some(f) => format!(" feels {}{unit}", look.temperature(f)),
            None => String::new(),
        }),
        Span::raw(format!("  {}", city.description())),
    ]);

    let mut range = String::new();
    if let (Some(lo), Some(hi)) = (r.temp_min, r.temp_max) {
        range = format!("min {} max {}", look.temperature(lo), look.temperature(hi));
    }
    if let Some(points) = points.filter(|p| !p.is_empty()) {
        let temperatures = || points.iter().map(|p| p.temperature);
        let lo = temperatures().fold(f64::MAX, f64::min);
        let hi = temperatures().fold(f64::MIN, f64::max);
        if !range.is_empty() {
            range.push_str(&dot);
        }
        range.push_str(&format!(
            "24h {}{}{}",
            look.temperature(lo),
            look.glyphs.ellipsis,
            look.temperature(hi)
        ));
    }
    let mut second = vec![];
    if !range.is_empty() {
        second.push(range);
    }
    second.push(format!(
        "hum {}",
        city.humidity()
            .map_or_else(|| "-".into(), super::format::humidity)
    ));
    if let Some(p) = r.pressure {
        second.push(format!("{p} hPa"));
    }

    let speed_unit = look.units.speed_unit();
    let mut third = vec![match (r.wind_speed, r.wind_deg) {
        (Some(v), Some(d)) => format!(
            "wind {} {speed_unit} {}",
            look.speed(v),
            wind_direction(d, look.ascii)
        ),
        (Some(v), None) => format!("wind {} {speed_unit}", look.speed(v)),
        _ => "wind -".to_string(),
    }];
    if let Some(g) = r.wind_gust {
        third.push(format!("gust {}", look.speed(g)));
    }
    if let (Some(rise), Some(set)) = (r.sunrise, r.sunset) {
        third.push(format!(
            "sunrise {} sunset {}",
            local_clock(rise, r.timezone),
            local_clock(set, r.timezone)
        ));
    }
    third.push(match city.observed_at() {
        Some(at) => format!("at {} UTC", clock(at)),
        None => "at -".to_string(),
    });
    vec![
        first,
        Line::from(second.join(&dot)),
        Line::from(third.join(&dot)),
    ]
}
