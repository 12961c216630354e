//! The map pane: the outline of metropolitan France and Corsica, every shown city at its
//! latitude and longitude coloured by temperature, the selected one marked. Pure drawing.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::Marker;
use ratatui::text::Span;
use ratatui::widgets::canvas::{Canvas, Line as CanvasLine, Points};
use ratatui::widgets::{Block, Widget};

use super::format::{temperature_color, TEMPERATURE_STEPS};
use crate::dash::app::App;

/// The mainland border and coast, clockwise from Dunkirk, as (longitude, latitude). Coarse on
/// purpose: a terminal cell covers tens of kilometres.
const MAINLAND: &[(f64, f64)] = &[
    (2.37, 51.05),
    (2.55, 51.09),
    (2.9, 50.7),
    (3.3, 50.5),
    (4.2, 50.3),
    (4.83, 50.14),
    (4.9, 49.8),
    (5.8, 49.5),
    (6.4, 49.47),
    (7.0, 49.15),
    (8.2, 48.98),
    (7.75, 48.55),
    (7.58, 47.58),
    (7.0, 47.45),
    (6.1, 46.6),
    (6.14, 46.2),
    (6.8, 46.4),
    (6.86, 45.83),
    (7.1, 45.25),
    (6.65, 45.05),
    (6.95, 44.3),
    (7.5, 43.78),
    (7.27, 43.7),
    (6.64, 43.27),
    (5.93, 43.1),
    (5.37, 43.3),
    (4.8, 43.4),
    (3.9, 43.55),
    (3.2, 43.25),
    (3.04, 42.7),
    (3.17, 42.43),
    (2.6, 42.35),
    (1.7, 42.5),
    (0.7, 42.8),
    (-0.3, 42.8),
    (-1.0, 43.0),
    (-1.78, 43.36),
    (-1.5, 43.5),
    (-1.25, 44.5),
    (-1.17, 44.66),
    (-1.05, 45.6),
    (-1.2, 46.15),
    (-2.2, 46.95),
    (-2.2, 47.27),
    (-3.0, 47.5),
    (-4.37, 47.8),
    (-4.5, 48.0),
    (-4.77, 48.38),
    (-4.6, 48.6),
    (-3.98, 48.72),
    (-3.0, 48.8),
    (-2.0, 48.65),
    (-1.51, 48.64),
    (-1.58, 49.2),
    (-1.94, 49.72),
    (-1.27, 49.69),
    (-1.1, 49.4),
    (-0.25, 49.29),
    (0.1, 49.45),
    (0.6, 49.85),
    (1.37, 50.06),
    (1.6, 50.73),
    (1.85, 50.95),
    (2.37, 51.05),
];

const CORSICA: &[(f64, f64)] = &[
    (9.36, 43.0),
    (9.45, 42.7),
    (9.55, 42.1),
    (9.16, 41.39),
    (8.8, 41.6),
    (8.73, 41.92),
    (8.6, 42.35),
    (8.75, 42.57),
    (9.3, 42.7),
    (9.36, 43.0),
];

/// What the map shows, in degrees: mainland France and Corsica with a small margin.
pub const LON_BOUNDS: [f64; 2] = [-5.3, 9.9];
pub const LAT_BOUNDS: [f64; 2] = [41.2, 51.3];

/// A degree of longitude at France's mean latitude (46.5°) is this much of a degree of latitude.
const LON_SCALE: f64 = 0.688;
/// A terminal cell is about twice as tall as it is wide.
const CELL_ASPECT: f64 = 2.0;

/// The largest part of `area`, centred, in which France keeps its shape.
pub fn fit(area: Rect) -> Rect {
    let ground_width = (LON_BOUNDS[1] - LON_BOUNDS[0]) * LON_SCALE;
    let ground_height = LAT_BOUNDS[1] - LAT_BOUNDS[0];
    // Columns per row that keep the proportions.
    let ratio = ground_width / ground_height * CELL_ASPECT;
    let mut width = area.width;
    let mut height = (f64::from(width) / ratio).round() as u16;
    if height > area.height {
        height = area.height;
        width = (f64::from(height) * ratio).round() as u16;
    }
    width = width.min(area.width);
    Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    )
}

/// The map pane of one app state.
pub struct MapPane<'a> {
    pub app: &'a App,
    pub block: Block<'a>,
}

impl Widget for MapPane<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.app;
        let inner = self.block.inner(area);
        self.block.render(area, buf);
        if inner.width < 8 || inner.height < 4 {
            return;
        }
        let color = app.settings.color;
        let tint = |c: Color| if color { c } else { Color::Reset };

        // One list of points per colour step, so the canvas draws a few shapes, not one per city.
        let mut steps: Vec<Vec<(f64, f64)>> = vec![Vec::new(); TEMPERATURE_STEPS.len() + 1];
        for city in app.rows() {
            // A city without a temperature has no colour to be drawn in.
            if let (Some(place), Some(t)) = (city.position(), city.temperature()) {
                let step = TEMPERATURE_STEPS
                    .iter()
                    .position(|&(limit, _)| t < limit)
                    .unwrap_or(TEMPERATURE_STEPS.len());
                steps[step].push(place);
            }
        }
        let selected = app.selected().and_then(|c| c.position());
        let outline = tint(Color::DarkGray);
        let marker = if app.settings.ascii {
            Marker::Custom('.')
        } else {
            Marker::Braille
        };
        let highlight = Style::new()
            .fg(tint(Color::White))
            .add_modifier(Modifier::BOLD | Modifier::REVERSED);

        Canvas::default()
            .x_bounds(LON_BOUNDS)
            .y_bounds(LAT_BOUNDS)
            .marker(marker)
            .paint(|ctx| {
                for shape in [MAINLAND, CORSICA] {
                    for pair in shape.windows(2) {
                        ctx.draw(&CanvasLine::new(
                            pair[0].0, pair[0].1, pair[1].0, pair[1].1, outline,
                        ));
                    }
                }
                ctx.layer();
                for (i, coords) in steps.iter().enumerate() {
                    let c = TEMPERATURE_STEPS
                        .get(i)
                        .map(|&(_, c)| c)
                        .unwrap_or_else(|| temperature_color(f64::MAX));
                    ctx.draw(&Points::new(coords, tint(c)));
                }
                if let Some((lon, lat)) = selected {
                    ctx.layer();
                    ctx.print(lon, lat, Span::styled("X", highlight));
                }
            })
            .render(fit(inner), buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fitted_map_keeps_france_roughly_square_and_inside_the_pane() {
        for (w, h) in [(28u16, 8u16), (78, 33), (10, 30)] {
            let area = Rect::new(3, 4, w, h);
            let map = fit(area);
            assert!(area.contains(map.as_position()), "{map:?} in {area:?}");
            assert!(map.right() <= area.right() && map.bottom() <= area.bottom());
            let ratio = f64::from(map.width) / f64::from(map.height.max(1));
            assert!((1.5..2.6).contains(&ratio) || map.width == w, "{map:?}");
        }
    }

    #[test]
    fn the_outlines_are_closed_and_inside_the_bounds() {
        for shape in [MAINLAND, CORSICA] {
            assert_eq!(shape.first(), shape.last());
            for &(lon, lat) in shape {
                assert!((LON_BOUNDS[0]..=LON_BOUNDS[1]).contains(&lon));
                assert!((LAT_BOUNDS[0]..=LAT_BOUNDS[1]).contains(&lat));
            }
        }
    }
}
