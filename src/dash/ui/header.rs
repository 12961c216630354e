//! The header line: the country, how many cities, the span of their readings, live or
//! synthetic, and the link to Cassandra.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::format::clock;
use super::Look;
use crate::dash::app::{App, Connection};
use crate::dash::refresh::Failure;

pub struct Header<'a>(pub &'a App);

impl Widget for Header<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.0;
        let look = Look::of(app);
        let bold = Style::new().add_modifier(Modifier::BOLD);
        let sep = Span::raw(format!(" {} ", look.glyphs.bar));
        let mut spans = vec![
            Span::styled(
                format!(" {} ", app.settings.country),
                bold.patch(look.fg(Color::Cyan)),
            ),
            Span::raw(format!("{} cities", app.cities.len())),
        ];
        if let Some((newest, oldest)) = app.newest_and_oldest() {
            spans.push(sep.clone());
            spans.push(Span::raw(format!(
                "newest {} oldest {} UTC",
                clock(newest),
                clock(oldest)
            )));
        }
        let synthetic = app.cities.iter().filter(|c| c.is_synthetic()).count();
        let source = match (synthetic, app.cities.len()) {
            (_, 0) => None,
            (0, _) => Some(("LIVE", Color::Green)),
            (s, n) if s == n => Some(("SYNTHETIC", Color::Magenta)),
            _ => Some(("LIVE+SYNTHETIC", Color::Magenta)),
        };
        if let Some((label, color)) = source {
            spans.push(sep.clone());
            spans.push(Span::styled(label, bold.patch(look.fg(color))));
        }
        spans.push(sep);
        let dot = look.glyphs.light;
        spans.push(match &app.connection {
            Connection::Connecting => {
                Span::styled(format!("{dot} connecting"), look.fg(Color::Yellow))
            }
            Connection::Up(at) => Span::styled(
                format!("{dot} Cassandra {}", at.format("%H:%M:%S")),
                look.fg(Color::Green),
            ),
            Connection::Down {
                error: Failure::NoKeyspace(_),
                ..
            } => Span::styled(
                format!("{dot} no keyspace"),
                bold.patch(look.fg(Color::Yellow)),
            ),
            Connection::Down { since, .. } => Span::styled(
                format!("{dot} Cassandra DOWN since {}", since.format("%H:%M:%S")),
                bold.patch(look.fg(Color::Red)),
            ),
        });
        Line::from(spans).render(area, buf);
    }
}
