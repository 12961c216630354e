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
            Line::from(format!(" {} ", look.text(city.name())))
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
        let lines = pack(weather_items(look, city, points), inner.width);
        // A line longer than the pane (one item wider than it) wraps: count its rows too.
        let rows: usize = lines
            .iter()
            .map(|l| l.width().div_ceil(usize::from(inner.width.max(1))).max(1))
            .sum();
        let text_height = u16::try_from(rows).unwrap_or(u16::MAX).min(inner.height);
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

/// Items that belong together on a line, and what goes between two of them.
struct Group {
    items: Vec<Vec<Span<'static>>>,
    separator: String,
}

/// Each group on lines of its own, its items laid one after the other and never broken: an
/// item that does not fit goes whole to the next line ("1013 hPa" stays one), so the wind
/// and sun line is never pushed out of the pane by a wrapped word.
fn pack(groups: Vec<Group>, width: u16) -> Vec<Line<'static>> {
    let width = usize::from(width);
    let mut lines = Vec::new();
    for group in groups {
        let mut line: Vec<Span<'static>> = Vec::new();
        let mut used = 0;
        for item in group.items {
            let item_width: usize = item.iter().map(Span::width).sum();
            if !line.is_empty() {
                let with_separator = used + group.separator.chars().count() + item_width;
                if with_separator <= width {
                    line.push(Span::raw(group.separator.clone()));
                    used += group.separator.chars().count();
                } else {
                    lines.push(Line::from(std::mem::take(&mut line)));
                    used = 0;
                }
            }
            used += item_width;
            line.extend(item);
        }
        if !line.is_empty() {
            lines.push(Line::from(line));
        }
    }
    lines
}

/// Now, feels, description; ranges, humidity, pressure; wind, sun, time of the reading.
fn weather_items(look: Look, city: &City, points: Option<&[Point]>) -> Vec<Group> {
    let r = &city.reading;
    let unit = look.temperature_unit();
    let dot = format!(" {} ", look.glyphs.dot);
    let icon = weather_icon(city.icon(), look.ascii);
    let now = vec![
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
    ];
    let mut first = vec![now];
    if !city.description().is_empty() {
        first.push(vec![Span::raw(look.text(city.description()).into_owned())]);
    }

    let mut second = vec![];
    if let (Some(lo), Some(hi)) = (r.temp_min, r.temp_max) {
        second.push(format!(
            "min {} max {}",
            look.temperature(lo),
            look.temperature(hi)
        ));
    }
    if let Some(points) = points.filter(|p| !p.is_empty()) {
        let temperatures = || points.iter().map(|p| p.temperature);
        let lo = temperatures().fold(f64::MAX, f64::min);
        let hi = temperatures().fold(f64::MIN, f64::max);
        second.push(format!(
            "24h {}{}{}",
            look.temperature(lo),
            look.glyphs.ellipsis,
            look.temperature(hi)
        ));
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
    let items = |texts: Vec<String>| texts.into_iter().map(|t| vec![Span::raw(t)]).collect();
    vec![
        Group {
            items: first,
            separator: "  ".into(),
        },
        Group {
            items: items(second),
            separator: dot.clone(),
        },
        Group {
            items: items(third),
            separator: dot,
        },
    ]
}
