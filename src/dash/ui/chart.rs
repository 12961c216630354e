//! The chart of the selected city's last 24 hours: temperature and feels-like against the hour,
//! and its legend, drawn outside the plot by whoever places the chart.

use chrono::{DateTime, Utc};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Widget};

use super::glyphs::ascii_lines;
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
        // A point out of the documented range (a row written by others) would stretch the
        // axis to 1e308: it is left out.
        let plausible = |c: &f64| crate::model::TEMPERATURE_RANGE_C.contains(c);
        let temps: Vec<(f64, f64)> = self
            .points
            .iter()
            .filter(|p| plausible(&p.temperature))
            .map(|p| (hours(p.at), look.units.temperature(p.temperature)))
            .collect();
        let feels: Vec<(f64, f64)> = self
            .points
            .iter()
            .filter_map(|p| {
                let f = p.feels_like.filter(plausible)?;
                Some((hours(p.at), look.units.temperature(f)))
            })
            .collect();
        let (lo, hi) = temps
            .iter()
            .chain(feels.iter())
            .fold((f64::MAX, f64::MIN), |(lo, hi), &(_, y)| {
                (lo.min(y), hi.max(y))
            });
        let (lo, hi) = ((lo - 1.0).floor(), (hi + 1.0).ceil());
        let unit = look.temperature_unit();
        let (main, second) = markers(look);
        let datasets = vec![
            Dataset::default()
                .name(format!("temp {}", unit.trim_start()))
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
            // Inside the plot, a legend covers the newest points (top right) or the oldest (top
            // left): [`legend`] goes outside it.
            .legend_position(None)
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
        if look.ascii {
            // The axes are ratatui's own line drawing.
            ascii_lines(buf, area);
        }
    }
}

/// The temperature's and the feels-like's markers.
fn markers(look: Look) -> (Marker, Marker) {
    if look.ascii {
        (Marker::Custom('*'), Marker::Custom('.'))
    } else {
        (Marker::Braille, Marker::Dot)
    }
}

/// What the chart's two lines are, in their colours: " ⣿ temp °C  • feels ".
pub fn legend(look: Look) -> Line<'static> {
    let (temp, feels) = if look.ascii {
        ("*", ".")
    } else {
        ("⣿", "•")
    };
    Line::from(vec![
        Span::styled(
            format!(" {temp} temp {} ", look.temperature_unit().trim_start()),
            look.fg(Color::Yellow),
        ),
        Span::styled(format!(" {feels} feels "), look.fg(Color::Cyan)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dash::fixtures::now;
    use crate::dash::ui::buffer_lines;
    use crate::dash::Units;

    const LOOK: Look = Look {
        units: Units::Metric,
        color: false,
        ascii: false,
        glyphs: &crate::dash::ui::glyphs::UNICODE,
    };

    /// A pipeline started an hour ago, warming up: every point is in the top-right corner.
    fn young_pipeline() -> Vec<Point> {
        (0..7)
            .map(|i| Point {
                at: now() - chrono::Duration::minutes(60 - i * 10),
                temperature: 5.0 + i as f64,
                feels_like: Some(3.0 + i as f64),
                humidity: 80,
            })
            .collect()
    }

    fn braille(symbol: &str) -> bool {
        symbol
            .chars()
            .any(|c| ('\u{2801}'..='\u{28ff}').contains(&c))
    }

    #[test]
    fn the_legend_hides_none_of_a_young_pipelines_newest_points() {
        let area = Rect::new(0, 0, 50, 10);
        let mut buf = Buffer::empty(area);
        let points = young_pipeline();
        HistoryChart {
            points: &points,
            now: now(),
            look: LOOK,
        }
        .render(area, &mut buf);
        let screen = buffer_lines(&buf).join("\n");
        assert!(
            !screen.contains("temp"),
            "a legend inside the plot:\n{screen}"
        );
        // The newest temperature (11 °C, the top of a 2..12 scale) is drawn in the top rows
        // of the last columns.
        let newest = (0..3).any(|y| (45..50).any(|x| braille(buf[(x, y)].symbol())));
        assert!(newest, "the newest points are hidden:\n{screen}");
    }
}
