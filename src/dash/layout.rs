//! Where each pane goes for a terminal size: used by the drawing and by the mouse handling, so a
//! click lands on the row that was drawn there.

use ratatui::layout::{Constraint, Direction, Layout, Margin, Rect};

/// Terminals at least this wide get the side-by-side layout.
const WIDE: u16 = 120;
/// Below this height only the table is shown.
const TALL_ENOUGH: u16 = 16;
/// Height of the detail strip under the table in the narrow layout.
const STRIP: u16 = 10;

/// The rectangle of every pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Panes {
    pub header: Rect,
    pub table: Rect,
    /// Beside or under the table; none when the terminal is too short.
    pub side: Option<Side>,
    pub footer: Rect,
}

/// The selected city's detail, and the map next to it when wanted and there is room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Side {
    pub detail: Rect,
    pub map: Option<Rect>,
}

impl Panes {
    /// The rows of cities inside the table (no border, no column titles).
    pub fn table_body(&self) -> Rect {
        let inner = self.table.inner(Margin::new(1, 1));
        Rect {
            y: inner.y.saturating_add(1),
            height: inner.height.saturating_sub(1),
            ..inner
        }
    }

    pub fn detail(&self) -> Option<Rect> {
        self.side.map(|side| side.detail)
    }

    pub fn map(&self) -> Option<Rect> {
        self.side.and_then(|side| side.map)
    }
}

/// How the body is shared between the table and the side panes.
struct Sharing {
    /// Where the side panes go: right of the table (horizontal) or under it (vertical).
    direction: Direction,
    /// Their size across `direction`.
    size: u16,
    /// The map joins the detail when the side part is at least this long the other way.
    room_for_map: u16,
    /// The detail and the map within the side part.
    detail_and_map: [Constraint; 2],
}

/// Lays out a terminal of `area`: side by side when wide, table over a detail strip when
/// narrow, the table alone when short. The map goes first when space runs out.
pub fn panes(area: Rect, show_map: bool) -> Panes {
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Fill(1),
        Constraint::Length(1),
    ])
    .areas(area);
    let sharing = if body.width >= WIDE {
        Some(Sharing {
            direction: Direction::Horizontal,
            size: (body.width * 2 / 5).clamp(48, 100),
            room_for_map: 20,
            detail_and_map: [Constraint::Length(14), Constraint::Fill(1)],
        })
    } else if area.height >= TALL_ENOUGH {
        Some(Sharing {
            direction: Direction::Vertical,
            size: STRIP,
            room_for_map: 64,
            detail_and_map: [Constraint::Fill(1), Constraint::Length(28)],
        })
    } else {
        None
    };
    let (table, side) = match sharing {
        Some(sharing) => split(body, &sharing, show_map),
        None => (body, None),
    };
    Panes {
        header,
        table,
        side,
        footer,
    }
}

/// The table and the side panes.
fn split(body: Rect, sharing: &Sharing, show_map: bool) -> (Rect, Option<Side>) {
    let [table, rest] = Layout::new(
        sharing.direction,
        [Constraint::Fill(1), Constraint::Length(sharing.size)],
    )
    .areas(body);
    let (across, length) = match sharing.direction {
        Direction::Horizontal => (Direction::Vertical, rest.height),
        Direction::Vertical => (Direction::Horizontal, rest.width),
    };
    let side = if show_map && length >= sharing.room_for_map {
        let [detail, map] = Layout::new(across, sharing.detail_and_map).areas(rest);
        Side {
            detail,
            map: Some(map),
        }
    } else {
        Side {
            detail: rest,
            map: None,
        }
    };
    (table, Some(side))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_terminals_put_the_detail_and_map_beside_the_table() {
        let panes = panes(Rect::new(0, 0, 200, 60), true);
        let (detail, map) = (panes.detail().unwrap(), panes.map().unwrap());
        assert_eq!(panes.table.y, detail.y);
        assert_eq!(detail.x, panes.table.right());
        assert_eq!((detail.height, map.y), (14, detail.bottom()));
        assert_eq!(panes.footer, Rect::new(0, 59, 200, 1));
    }

    #[test]
    fn narrow_terminals_put_a_strip_under_the_table_and_drop_the_map_first() {
        let panes = panes(Rect::new(0, 0, 80, 24), true);
        let (detail, map) = (panes.detail().unwrap(), panes.map().unwrap());
        assert_eq!((detail.y, detail.height), (panes.table.bottom(), STRIP));
        assert_eq!((map.y, map.width), (detail.y, 28));
        assert!(panes.table_body().height >= 5, "{panes:?}");
        let narrower = super::panes(Rect::new(0, 0, 60, 24), true);
        assert!(narrower.detail().is_some() && narrower.map().is_none());
        let no_map = super::panes(Rect::new(0, 0, 80, 24), false);
        assert_eq!(no_map.detail().unwrap().width, 80);
    }

    #[test]
    fn short_terminals_show_the_table_alone() {
        let panes = panes(Rect::new(0, 0, 80, 15), true);
        assert_eq!(panes.side, None);
        assert_eq!(panes.table, Rect::new(0, 1, 80, 13));
        assert_eq!(panes.table_body(), Rect::new(1, 3, 78, 10));
    }
}
