//! The footer line: the search being typed, or why Cassandra is not answering, or the keys.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::format::cut;
use super::Look;
use crate::dash::app::{App, Connection};
use crate::dash::refresh::Failure;
use crate::dash::text::clean;

/// The keys the footer names, with what they do.
const HINTS: [(&str, &str); 8] = [
    ("↑↓/jk", "move"),
    ("/", "search"),
    ("s", "sort"),
    ("u", "units"),
    ("m", "map"),
    ("r", "refresh"),
    ("?", "help"),
    ("q", "quit"),
];

pub struct Footer<'a>(pub &'a App);

impl Widget for Footer<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.0;
        let look = Look::of(app);
        let key = Style::new()
            .add_modifier(Modifier::BOLD)
            .patch(look.fg(Color::Cyan));
        let line = if app.editing_search {
            let cursor = look.glyphs.cursor;
            Line::from(vec![
                Span::styled("/", key),
                Span::raw(format!("{}{cursor}", app.search)),
                Span::styled("  Enter", key),
                Span::raw(" keep  "),
                Span::styled("Esc", key),
                Span::raw(" clear"),
            ])
        } else if let Connection::Down {
            error: Failure::NoKeyspace(why),
            ..
        } = &app.connection
        {
            // What to do, alone, so that it fits whole: the refresh still looks again, and
            // the screen fills once `meteo migrate` has run.
            let room = usize::from(area.width);
            Line::from(Span::styled(
                cut(&clean(why), room, look.glyphs.ellipsis).into_owned(),
                look.fg(Color::Yellow).add_modifier(Modifier::BOLD),
            ))
        } else if let Connection::Down { error, .. } = &app.connection {
            let retrying = Span::styled(
                format!(
                    "retrying every {} s: ",
                    app.settings.refresh.as_secs().max(1)
                ),
                look.fg(Color::Red).add_modifier(Modifier::BOLD),
            );
            let room = usize::from(area.width).saturating_sub(retrying.width());
            let error = cut(&clean(error.text()), room, look.glyphs.ellipsis).into_owned();
            Line::from(vec![retrying, Span::raw(error)])
        } else {
            let mut spans = Vec::new();
            for (k, what) in HINTS {
                let k = if look.ascii && k == "↑↓/jk" {
                    "jk"
                } else {
                    k
                };
                spans.push(Span::styled(format!(" {k}"), key));
                spans.push(Span::raw(format!(" {what} ")));
            }
            Line::from(spans)
        };
        line.render(area, buf);
    }
}
