//! The header line: the country, how many cities, the span of their readings, how old they
//! are (p50 and p95), live or synthetic, and the link to Cassandra.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

use super::format::{age, clock};
use super::Look;
use crate::dash::app::{App, Connection};
use crate::dash::refresh::Failure;

pub struct Header<'a>(pub &'a App);

/// One part of the header, as long as room allows: in full, shorter, shortest, or left out
/// (`None`).
struct Part {
    forms: [Option<String>; 3],
    style: Style,
}

impl Widget for Header<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let app = self.0;
        let look = Look::of(app);
        let bold = Style::new().add_modifier(Modifier::BOLD);
        let country = Span::styled(
            format!(" {} ", app.settings.country),
            bold.patch(look.fg(Color::Cyan)),
        );
        let count = Span::raw(format!("{} cities", app.cities.len()));
        let span = Part {
            forms: match app.newest_and_oldest() {
                Some((newest, oldest)) => [
                    Some(format!(
                        "newest {} oldest {} UTC",
                        clock(newest),
                        clock(oldest)
                    )),
                    Some(format!("{}-{}", clock(oldest), clock(newest))),
                    None,
                ],
                None => [None, None, None],
            },
            style: Style::new(),
        };
        // How fresh the country's readings are, which the span's clock times do not say.
        let ages = Part {
            forms: match app.age_percentiles() {
                Some((p50, p95)) => {
                    let short = format!("p50 {} p95 {}", age(p50), age(p95));
                    [
                        Some(format!("age {short}")),
                        Some(short.clone()),
                        Some(short),
                    ]
                }
                None => [None, None, None],
            },
            style: Style::new(),
        };
        let synthetic = app.cities.iter().filter(|c| c.is_synthetic()).count();
        let source = match (synthetic, app.cities.len()) {
            (_, 0) => None,
            (0, _) => Some(("LIVE", "LIVE", Color::Green)),
            (s, n) if s == n => Some(("SYNTHETIC", "SYNTH", Color::Magenta)),
            _ => Some(("LIVE+SYNTHETIC", "LIVE+SYN", Color::Magenta)),
        };
        let source = Part {
            forms: source.map_or([None, None, None], |(long, short, _)| {
                [long, short, short].map(|form| Some(form.to_string()))
            }),
            style: source.map_or(Style::new(), |(_, _, color)| bold.patch(look.fg(color))),
        };
        let dot = look.glyphs.light;
        let (long, short, style) = match &app.connection {
            Connection::Connecting => (
                format!("{dot} connecting"),
                format!("{dot} connecting"),
                look.fg(Color::Yellow),
            ),
            Connection::Up(at) => (
                format!("{dot} Cassandra {}", at.format("%H:%M:%S")),
                format!("{dot} {}", at.format("%H:%M:%S")),
                look.fg(Color::Green),
            ),
            Connection::Down {
                error: Failure::NoKeyspace(_),
                ..
            } => (
                format!("{dot} no keyspace"),
                format!("{dot} no keyspace"),
                bold.patch(look.fg(Color::Yellow)),
            ),
            Connection::Down { since, .. } => (
                format!("{dot} Cassandra DOWN since {}", since.format("%H:%M:%S")),
                format!("{dot} DOWN since {}", since.format("%H:%M:%S")),
                bold.patch(look.fg(Color::Red)),
            ),
        };
        let connection = Part {
            forms: [Some(long), Some(short.clone()), Some(short)],
            style,
        };
        // Which form of (span, ages, source, connection), most detailed first: the span
        // shrinks, then goes, then words; the ages and the connection's clock stay whole.
        const STEPS: [[usize; 4]; 6] = [
            [0, 0, 0, 0],
            [1, 0, 0, 0],
            [2, 0, 0, 0],
            [2, 1, 0, 0],
            [2, 1, 0, 1],
            [2, 1, 1, 1],
        ];
        let sep = format!(" {} ", look.glyphs.bar);
        let lines = STEPS.iter().map(|step| {
            let mut spans = vec![country.clone(), count.clone()];
            for (part, form) in [&span, &ages, &source, &connection].into_iter().zip(step) {
                if let Some(text) = &part.forms[*form] {
                    spans.push(Span::raw(sep.clone()));
                    spans.push(Span::styled(text.clone(), part.style));
                }
            }
            Line::from(spans)
        });
        let mut chosen = Line::default();
        for line in lines {
            let fits = line.width() <= usize::from(area.width);
            chosen = line;
            if fits {
                break;
            }
        }
        chosen.render(area, buf);
    }
}
