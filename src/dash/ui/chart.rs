//! The chart of the selected city's last 24 hours: temperature and feels-like against the hour.

use chrono::{DateTime, Utc};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Color;
use ratatui::symbols::Marker;
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Widget};

use super::Look;
use crate::dash::city::Point;

pub struct HistoryChart<'a> {
    /// Oldest first.
    pub points: &'a [Point],
    /// The right end of the time axis.
    pub now: DateTime<Utc>,
    pub look: Look,
}

impl Widget for HistoryChart<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let look = self.look;
        let hours = |at: DateTime<Utc>| (at - self.now).num_seconds() as f64 / 3600.0;
        let temps: Vec<(f64, f64)> = self
            .points
            .iter()
            .map(|p| (hours(p.at), look.units.temperature(p.temperature)))
            .collect();
        let feels: Vec<(f64, f64)> = self
            .points
            .iter()
            .filter_map(|p| Some((hours(p.at), look.units.temperature(p.feels_like?))))
            .collect();
        let (lo, hi) = temps
            .iter()
            .chain(feels.iter())
            .fold((f64::MAX, f64::MIN), |(lo, hi), &(_, y)| {
                (lo.min(y), hi.max(y))
            });
        let (lo, hi) = ((lo - 1.0).floor(), (hi + 1.0).ceil());
        let unit = look.units.temperature_unit();
        let (main, second) = if look.ascii {
            (Marker::Custom('*'), Marker::Custom('.'))
        } else {
            (Marker::Braille, Marker::Dot)
        };
        let datasets = vec![
            Dataset::default()
                .name(format!("temp {unit}"))
                .marker(main)
                .graph_type(GraphType::Line)
                .style(look.fg(Color::Yellow))
                .data(&temps),
            Dataset::default()
                .name("feels")
                .marker(second)
                .graph_type(GraphType::Line)
                .style(look.fg(Color::Cyan))
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
}
