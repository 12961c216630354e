//! Which cities the table shows and in what order: the search filter, the sort, the selection
//! and the scroll position that keeps it on screen.

use std::cmp::Ordering;

use super::App;
use crate::dash::city::City;
use crate::dash::layout;
use crate::dash::text::fold;

/// The order of the table, cycled with `s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Alphabetical, ignoring case and accents.
    Name,
    /// Hottest first.
    Temperature,
    /// Freshest first.
    Age,
}

impl SortKey {
    pub(super) fn next(self) -> SortKey {
        match self {
            SortKey::Name => SortKey::Temperature,
            SortKey::Temperature => SortKey::Age,
            SortKey::Age => SortKey::Name,
        }
    }

    /// Which of two cities comes first. Ties go by name (and, in name order, by id). A city
    /// whose row has no `observed_at` comes after every other, one without a temperature
    /// after the others by temperature.
    pub fn compare(self, a: &City, b: &City) -> Ordering {
        let by_name = || a.key().cmp(b.key());
        let undated = a.missing.observed_at.cmp(&b.missing.observed_at);
        undated.then_with(|| match self {
            SortKey::Name => by_name().then(a.id().cmp(&b.id())),
            SortKey::Temperature => match (a.temperature(), b.temperature()) {
                (Some(x), Some(y)) => y.total_cmp(&x),
                (x, y) => y.is_some().cmp(&x.is_some()),
            }
            .then_with(by_name),
            SortKey::Age => b.observed_at().cmp(&a.observed_at()).then_with(by_name),
        })
    }

    pub fn label(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::Temperature => "temperature",
            SortKey::Age => "age",
        }
    }
}

impl App {
    /// Rows of cities the table shows at the current size.
    pub fn table_rows(&self) -> usize {
        layout::panes(self.area, self.show_map).table_body().height as usize
    }

    /// [`Self::rebuild_view`] after new data. The selection follows its city, except from
    /// the first row, which stays the first row: sorted by age, the freshest city stays on
    /// top instead of the view drifting away from it.
    pub(super) fn refreshed_view(&mut self) {
        let at_top = self.cursor == 0;
        self.rebuild_view();
        if at_top {
            self.select(0);
        }
    }

    /// Filters and sorts `cities` into `view`, keeping the selected city selected.
    pub(super) fn rebuild_view(&mut self) {
        let needle = fold(self.search.trim());
        let cities = &self.cities;
        let mut view: Vec<usize> = (0..cities.len())
            .filter(|&i| needle.is_empty() || cities[i].key().contains(&needle))
            .collect();
        view.sort_by(|&a, &b| self.sort.compare(&cities[a], &cities[b]));
        self.view = view;
        let kept = self
            .selected_id
            .and_then(|id| self.view.iter().position(|&i| self.cities[i].id() == id));
        self.cursor = kept.unwrap_or(0);
        self.selected_id = self.selected().map(|c| c.id());
        self.scroll_into_view();
        self.want_history(false);
    }

    pub(super) fn scroll_into_view(&mut self) {
        let height = self.table_rows().max(1);
        if self.cursor < self.offset {
            self.offset = self.cursor;
        } else if self.cursor >= self.offset + height {
            self.offset = self.cursor + 1 - height;
        }
        // No empty space below the last row when the list shrank.
        let max_offset = self.view.len().saturating_sub(height);
        self.offset = self.offset.min(max_offset);
    }

    pub(super) fn select(&mut self, cursor: usize) {
        if self.view.is_empty() {
            return;
        }
        self.cursor = cursor.min(self.view.len() - 1);
        self.selected_id = self.selected().map(|c| c.id());
        self.scroll_into_view();
        self.want_history(false);
    }

    pub(super) fn move_by(&mut self, delta: isize) {
        let target = self.cursor.saturating_add_signed(delta);
        self.select(target);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dash::app::Flow;
    use crate::dash::fixtures::{loaded, names, press, type_text};
    use crossterm::event::KeyCode;

    #[test]
    fn cities_are_listed_by_name_ignoring_accents() {
        let app = loaded(120, 40);
        assert_eq!(
            names(&app),
            ["Brest", "Évry", "Lyon", "Paris", "Saint-Étienne"]
        );
        assert_eq!(app.selected().unwrap().name(), "Brest");
    }

    #[test]
    fn s_cycles_the_sort_through_temperature_and_age_and_keeps_the_selection() {
        let mut app = loaded(120, 40);
        press(&mut app, KeyCode::Char('j'));
        assert_eq!(app.selected().unwrap().name(), "Évry");
        press(&mut app, KeyCode::Char('s'));
        assert_eq!(app.sort, SortKey::Temperature);
        assert_eq!(
            names(&app),
            ["Lyon", "Évry", "Paris", "Saint-Étienne", "Brest"]
        );
        assert_eq!(app.selected().unwrap().name(), "Évry");
        press(&mut app, KeyCode::Char('s'));
        assert_eq!(
            names(&app),
            ["Saint-Étienne", "Paris", "Évry", "Brest", "Lyon"]
        );
        press(&mut app, KeyCode::Char('s'));
        assert_eq!(app.sort, SortKey::Name);
    }

    #[test]
    fn search_ignores_case_and_accents_and_esc_clears_it() {
        let mut app = loaded(120, 40);
        press(&mut app, KeyCode::Char('/'));
        type_text(&mut app, "EVR");
        assert_eq!(names(&app), ["Évry"]);
        press(&mut app, KeyCode::Enter);
        assert!(!app.editing_search);
        assert_eq!(names(&app), ["Évry"]);
        // q typed while searching is text, not quit.
        press(&mut app, KeyCode::Char('/'));
        assert_eq!(press(&mut app, KeyCode::Char('q')), Flow::Redraw);
        assert!(app.view.is_empty());
        press(&mut app, KeyCode::Backspace);
        press(&mut app, KeyCode::Enter);
        assert_eq!(press(&mut app, KeyCode::Esc), Flow::Redraw);
        assert_eq!(app.view.len(), 5);
        assert_eq!(press(&mut app, KeyCode::Esc), Flow::Quit);
    }

    #[test]
    fn search_finds_hyphenated_names_typed_with_spaces() {
        let mut app = loaded(120, 40);
        press(&mut app, KeyCode::Char('/'));
        type_text(&mut app, "saint etienne");
        assert_eq!(names(&app), ["Saint-Étienne"]);
    }
}
