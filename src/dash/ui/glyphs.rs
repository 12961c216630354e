//! Every symbol the dashboard draws that is not a letter or a digit, in two sets: Unicode, or
//! ASCII for a terminal whose locale is not UTF-8. One decision ([`Glyphs::of`]) for them all.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::symbols::border;
use ratatui::widgets::Block;

/// The symbols of one set.
#[derive(Debug, PartialEq, Eq)]
pub struct Glyphs {
    pub border: border::Set<'static>,
    /// Between parts of the header.
    pub bar: &'static str,
    /// Between items of a line of text.
    pub dot: &'static str,
    /// Where text was cut, and between the ends of a range.
    pub ellipsis: &'static str,
    /// Before C or F.
    pub degree: &'static str,
    /// The connection's status light.
    pub light: &'static str,
    /// The selected row's mark.
    pub selector: &'static str,
    /// The search's cursor.
    pub cursor: &'static str,
    /// The up and down keys.
    pub up_down: &'static str,
    pub open_quote: &'static str,
    pub close_quote: &'static str,
}

pub const UNICODE: Glyphs = Glyphs {
    border: border::PLAIN,
    bar: "│",
    dot: "·",
    ellipsis: "…",
    degree: "°",
    light: "●",
    selector: "▶",
    cursor: "█",
    up_down: "↑↓",
    open_quote: "“",
    close_quote: "”",
};

pub const ASCII: Glyphs = Glyphs {
    border: border::Set {
        top_left: "+",
        top_right: "+",
        bottom_left: "+",
        bottom_right: "+",
        vertical_left: "|",
        vertical_right: "|",
        horizontal_top: "-",
        horizontal_bottom: "-",
    },
    bar: "|",
    dot: "-",
    ellipsis: "...",
    degree: " ",
    light: "*",
    selector: ">",
    cursor: "_",
    up_down: "Up/Down",
    open_quote: "\"",
    close_quote: "\"",
};

impl Glyphs {
    /// The set for `ascii` (the locale is not UTF-8, or `--ascii`).
    pub fn of(ascii: bool) -> &'static Glyphs {
        if ascii {
            &ASCII
        } else {
            &UNICODE
        }
    }

    /// A bordered block drawn with this set's border.
    pub fn block(&self) -> Block<'static> {
        Block::bordered().border_set(self.border)
    }
}

/// Redraws the line-drawing symbols in `area` that a ratatui widget draws on its own (a chart's
/// axes) as ASCII.
pub fn ascii_lines(buf: &mut Buffer, area: Rect) {
    let area = area.intersection(buf.area);
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            let cell = &mut buf[(x, y)];
            let plain = match cell.symbol() {
                "─" | "━" => "-",
                "│" | "┃" => "|",
                "┌" | "┐" | "└" | "┘" | "├" | "┤" | "┬" | "┴" | "┼" => "+",
                _ => continue,
            };
            cell.set_symbol(plain);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ascii_set_is_ascii_and_the_unicode_set_is_not() {
        let a = Glyphs::of(true);
        let border = a.border;
        let all = [
            a.bar,
            a.dot,
            a.ellipsis,
            a.degree,
            a.light,
            a.selector,
            a.cursor,
            a.up_down,
            a.open_quote,
            a.close_quote,
            border.top_left,
            border.top_right,
            border.bottom_left,
            border.bottom_right,
            border.vertical_left,
            border.vertical_right,
            border.horizontal_top,
            border.horizontal_bottom,
        ];
        assert!(all.iter().all(|s| s.is_ascii()), "{all:?}");
        assert!(!Glyphs::of(false).ellipsis.is_ascii());
    }

    #[test]
    fn line_drawing_becomes_ascii_inside_the_area_only() {
        let mut buf = Buffer::with_lines(["│──┐", "└─┘x"]);
        ascii_lines(&mut buf, Rect::new(0, 0, 3, 2));
        assert_eq!(buf, Buffer::with_lines(["|--┐", "+-+x"]));
    }
}
