//! What keys, the mouse and resizes do to the state. The table's place on screen comes from
//! [`crate::dash::layout`], the same as the drawing uses, so a click lands on the row drawn there.

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Position, Rect};

use super::{App, Flow};
use crate::dash::layout;
use crate::dash::refresh::Request;

/// The longest search, in characters.
const MAX_SEARCH: usize = 40;

impl App {
    /// Handles one terminal event.
    pub fn on_event(&mut self, event: &Event) -> Flow {
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => self.on_key(*key),
            Event::Mouse(mouse) => self.on_mouse(*mouse),
            Event::Resize(width, height) => {
                self.area = Rect::new(0, 0, *width, *height);
                self.scroll_into_view();
                Flow::Redraw
            }
            _ => Flow::Idle,
        }
    }

    /// Handles one key.
    pub fn on_key(&mut self, key: KeyEvent) -> Flow {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c')) {
            return Flow::Quit;
        }
        if self.editing_search {
            return self.on_search_key(key);
        }
        if self.show_help {
            // Any key closes the help, q and Esc included: a reader who pressed `?` and then
            // `q` wants the help gone, not the dashboard.
            self.show_help = false;
            return Flow::Redraw;
        }
        let page = self.table_rows().max(1) as isize;
        match key.code {
            KeyCode::Char('q') => return Flow::Quit,
            KeyCode::Esc => {
                // Esc first undoes a search, then quits.
                if self.search.is_empty() {
                    return Flow::Quit;
                }
                self.search.clear();
                self.rebuild_view();
            }
            KeyCode::Down | KeyCode::Char('j') => self.move_by(1),
            KeyCode::Up | KeyCode::Char('k') => self.move_by(-1),
            KeyCode::PageDown => self.move_by(page),
            KeyCode::PageUp => self.move_by(-page),
            KeyCode::Char('d') if ctrl => self.move_by(page / 2),
            KeyCode::Char('u') if ctrl => self.move_by(-page / 2),
            KeyCode::Home | KeyCode::Char('g') => self.select(0),
            KeyCode::End | KeyCode::Char('G') => self.select(usize::MAX),
            KeyCode::Char('/') => self.editing_search = true,
            KeyCode::Char('s') => {
                self.sort = self.sort.next();
                self.rebuild_view();
            }
            KeyCode::Char('u') => self.units = self.units.next(),
            KeyCode::Char('m') => {
                self.show_map = !self.show_map;
                self.scroll_into_view();
            }
            KeyCode::Char('r') => {
                self.requests.push(Request::Latest);
                self.want_history(true);
            }
            KeyCode::Char('?') => self.show_help = true,
            _ => return Flow::Idle,
        }
        Flow::Redraw
    }

    fn on_search_key(&mut self, key: KeyEvent) -> Flow {
        match key.code {
            KeyCode::Enter => self.editing_search = false,
            KeyCode::Esc => {
                self.editing_search = false;
                self.search.clear();
                self.rebuild_view();
            }
            KeyCode::Backspace => {
                self.search.pop();
                self.rebuild_view();
            }
            KeyCode::Down => self.move_by(1),
            KeyCode::Up => self.move_by(-1),
            KeyCode::Char(c) if !c.is_control() && self.search.chars().count() < MAX_SEARCH => {
                self.search.push(c);
                self.rebuild_view();
            }
            _ => return Flow::Idle,
        }
        Flow::Redraw
    }

    /// Wheel scrolls the selection; a click on a row selects it.
    pub fn on_mouse(&mut self, mouse: MouseEvent) -> Flow {
        match mouse.kind {
            MouseEventKind::ScrollDown => self.move_by(1),
            MouseEventKind::ScrollUp => self.move_by(-1),
            MouseEventKind::Down(MouseButton::Left) => {
                let body = layout::panes(self.area, self.show_map).table_body();
                if !body.contains(Position::new(mouse.column, mouse.row)) {
                    return Flow::Idle;
                }
                let row = self.offset + (mouse.row - body.y) as usize;
                if row >= self.view.len() {
                    return Flow::Idle;
                }
                self.select(row);
            }
            _ => return Flow::Idle,
        }
        Flow::Redraw
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dash::city::City;
    use crate::dash::fixtures::{loaded, now, press, reading};
    use crate::dash::refresh::Update;
    use crate::dash::{DashSettings, Units};

    #[test]
    fn moving_stays_within_the_list_and_end_and_home_jump() {
        let mut app = loaded(120, 40);
        press(&mut app, KeyCode::Up);
        assert_eq!(app.cursor, 0);
        press(&mut app, KeyCode::End);
        assert_eq!(app.selected().unwrap().name(), "Saint-Étienne");
        press(&mut app, KeyCode::Down);
        assert_eq!(app.cursor, 4);
        press(&mut app, KeyCode::PageUp);
        assert_eq!(app.cursor, 0);
        press(&mut app, KeyCode::PageDown);
        assert_eq!(app.cursor, 4);
        press(&mut app, KeyCode::Home);
        assert_eq!(app.cursor, 0);
    }

    #[test]
    fn paging_through_many_cities_keeps_the_selection_on_screen() {
        let mut app = App::new(
            DashSettings::new(crate::model::CountryCode::FR),
            now(),
            Rect::new(0, 0, 80, 24),
        );
        let many = (0..500)
            .map(|i| City::from_reading(&reading(i, &format!("City {i:03}"), 10.0, 1)))
            .collect();
        app.apply(Update::Latest {
            at: now(),
            result: Ok(many),
        });
        let height = app.table_rows();
        assert!(height >= 5, "{height}");
        press(&mut app, KeyCode::PageDown);
        assert_eq!(app.cursor, height);
        assert!(app.cursor >= app.offset && app.cursor < app.offset + height);
        press(&mut app, KeyCode::End);
        assert_eq!(app.cursor, 499);
        assert_eq!(app.offset, 500 - height);
    }

    #[test]
    fn r_asks_for_a_refresh_now() {
        let mut app = loaded(120, 40);
        app.take_requests();
        press(&mut app, KeyCode::Char('r'));
        assert_eq!(app.take_requests(), [Request::Latest, Request::History(4)]);
    }

    #[test]
    fn u_cycles_units_and_conversions_are_right() {
        let mut app = loaded(120, 40);
        press(&mut app, KeyCode::Char('u'));
        assert_eq!(app.units, Units::MetricKmh);
        press(&mut app, KeyCode::Char('u'));
        assert_eq!(app.units, Units::Imperial);
        assert_eq!(Units::Imperial.temperature(100.0), 212.0);
        assert!((Units::MetricKmh.speed(10.0) - 36.0).abs() < 1e-9);
        press(&mut app, KeyCode::Char('u'));
        assert_eq!(app.units, Units::Metric);
    }

    #[test]
    fn help_opens_with_question_mark_and_any_key_closes_it() {
        let mut app = loaded(120, 40);
        press(&mut app, KeyCode::Char('?'));
        assert!(app.show_help);
        assert_eq!(press(&mut app, KeyCode::Char('j')), Flow::Redraw);
        assert!(!app.show_help);
        assert_eq!(app.cursor, 0, "the closing key does nothing else");
        for close in [KeyCode::Char('q'), KeyCode::Esc, KeyCode::Char('?')] {
            press(&mut app, KeyCode::Char('?'));
            assert_eq!(press(&mut app, close), Flow::Redraw, "{close:?}");
            assert!(!app.show_help, "{close:?}");
        }
        assert_eq!(press(&mut app, KeyCode::Char('q')), Flow::Quit);
    }

    #[test]
    fn ctrl_c_quits_even_while_searching() {
        let mut app = loaded(120, 40);
        press(&mut app, KeyCode::Char('/'));
        let flow = app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
        assert_eq!(flow, Flow::Quit);
    }

    #[test]
    fn the_mouse_wheel_moves_and_a_click_selects_the_row_under_it() {
        let mut app = loaded(120, 40);
        let wheel = |kind| MouseEvent {
            kind,
            column: 5,
            row: 5,
            modifiers: KeyModifiers::NONE,
        };
        app.on_mouse(wheel(MouseEventKind::ScrollDown));
        assert_eq!(app.cursor, 1);
        let body = layout::panes(app.area, app.show_map).table_body();
        let click = MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: body.x + 1,
            row: body.y + 3,
            modifiers: KeyModifiers::NONE,
        };
        assert_eq!(app.on_mouse(click), Flow::Redraw);
        assert_eq!(app.selected().unwrap().name(), "Paris");
        let below = MouseEvent {
            row: body.y + 10,
            ..click
        };
        assert_eq!(app.on_mouse(below), Flow::Idle);
    }
}
