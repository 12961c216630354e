//! The dashboard's state and what data does to it. Pure: no terminal, no Cassandra, no clock
//! (the loop sets [`App::now`]); `input` handles keys and mouse, `view` sorts and filters.

mod input;
mod view;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use ratatui::layout::Rect;

pub use view::SortKey;

use super::city::{City, Point};
use super::refresh::{Request, Update};
use super::{DashSettings, Units};
use crate::dash::refresh::Failure;

/// Where a piece of data stands: asked for, here, or failed.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadingState<T> {
    Loading,
    Loaded(T),
    Error(String),
}

/// The link to Cassandra, as the header shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum Connection {
    /// No answer yet.
    Connecting,
    /// The last read succeeded at this time.
    Up(DateTime<Utc>),
    /// The last read failed; the dashboard keeps the data it had and tries again.
    Down {
        error: Failure,
        since: DateTime<Utc>,
    },
}

/// What the loop should do after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Nothing visible changed.
    Idle,
    Redraw,
    Quit,
}

/// The whole dashboard state.
#[derive(Debug)]
pub struct App {
    /// As given on the command line.
    pub settings: DashSettings,
    /// Every city of the last successful read, in no particular order.
    pub cities: Vec<City>,
    /// Indexes into `cities`: filtered by the search, in the chosen order.
    pub view: Vec<usize>,
    /// Position of the selection in `view`.
    pub cursor: usize,
    /// First row of `view` shown in the table.
    pub offset: usize,
    /// The selected city, kept across refreshes and re-sorts.
    pub selected_id: Option<i64>,
    pub sort: SortKey,
    pub search: String,
    pub editing_search: bool,
    /// The units shown: the settings' at first, then as the `u` key cycles them.
    pub units: Units,
    pub show_map: bool,
    pub show_help: bool,
    /// The link to Cassandra; [`Connection::Connecting`] until the first read comes back.
    pub connection: Connection,
    /// The selected city's last 24 hours.
    pub history: Option<(i64, LoadingState<Vec<Point>>)>,
    /// The time everything is drawn at; set by the loop before each draw.
    pub now: DateTime<Utc>,
    /// The terminal's size: the table's height (for paging and mouse clicks) depends on it.
    pub area: Rect,
    /// Requests for the refresh task, taken by the loop after each event.
    requests: Vec<Request>,
}

impl App {
    pub fn new(settings: DashSettings, now: DateTime<Utc>, area: Rect) -> App {
        App {
            units: settings.units,
            settings,
            cities: Vec::new(),
            view: Vec::new(),
            cursor: 0,
            offset: 0,
            selected_id: None,
            sort: SortKey::Name,
            search: String::new(),
            editing_search: false,
            show_map: true,
            show_help: false,
            connection: Connection::Connecting,
            history: None,
            now,
            area,
            requests: Vec::new(),
        }
    }

    /// The requests made since the last call, for the refresh task.
    pub fn take_requests(&mut self) -> Vec<Request> {
        std::mem::take(&mut self.requests)
    }

    /// The selected city, if any.
    pub fn selected(&self) -> Option<&City> {
        self.view.get(self.cursor).map(|&i| &self.cities[i])
    }

    /// The cities in table order.
    pub fn rows(&self) -> impl Iterator<Item = &City> {
        self.view.iter().map(|&i| &self.cities[i])
    }

    /// Whether the first read has come back (successfully or not).
    pub fn loaded_once(&self) -> bool {
        self.connection != Connection::Connecting
    }

    /// Whether a reading is older than the stale limit, or of unknown age.
    pub fn is_stale(&self, city: &City) -> bool {
        city.age(self.now)
            .is_none_or(|age| age.to_std().unwrap_or_default() > self.settings.stale_after)
    }

    /// The newest and the oldest reading shown.
    pub fn newest_and_oldest(&self) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        let observed = || self.cities.iter().filter_map(City::observed_at);
        Some((observed().max()?, observed().min()?))
    }

    /// The median and the 95th percentile of the age of the country's latest readings at
    /// [`App::now`], whatever the search shows; rows with no `observed_at` have no age and
    /// are left out. `None` when no reading has one.
    pub fn age_percentiles(&self) -> Option<(chrono::Duration, chrono::Duration)> {
        let mut ages: Vec<chrono::Duration> =
            self.cities.iter().filter_map(|c| c.age(self.now)).collect();
        ages.sort_unstable();
        Some((nearest_rank(&ages, 0.5)?, nearest_rank(&ages, 0.95)?))
    }

    /// Takes in what the refresh task found.
    pub fn apply(&mut self, update: Update) -> Flow {
        match update {
            Update::Latest { at, result } => {
                match result {
                    Ok(cities) => {
                        if cities != self.cities {
                            self.cities = cities;
                            self.refreshed_view();
                        }
                        self.connected(at);
                    }
                    Err(error) => {
                        // Keep the last data: a dropped connection must not blank the screen.
                        let since = match &self.connection {
                            Connection::Down { since, .. } => *since,
                            _ => at,
                        };
                        self.connection = Connection::Down { error, since };
                    }
                }
                Flow::Redraw
            }
            Update::LatestChanges {
                at,
                changed,
                removed,
            } => {
                if !changed.is_empty() || !removed.is_empty() {
                    self.merge(changed, &removed);
                    self.refreshed_view();
                }
                self.connected(at);
                Flow::Redraw
            }
            Update::History { city_id, result } => {
                if self.selected_id != Some(city_id) {
                    // An answer for a city no longer selected.
                    return Flow::Idle;
                }
                let state = match result {
                    Ok(points) => LoadingState::Loaded(points),
                    Err(e) => LoadingState::Error(e),
                };
                self.history = Some((city_id, state));
                Flow::Redraw
            }
        }
    }

    /// Replaces or adds the `changed` cities and drops the `removed` ones.
    fn merge(&mut self, changed: Vec<City>, removed: &[i64]) {
        let mut at: HashMap<i64, usize> = self
            .cities
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id(), i))
            .collect();
        for city in changed {
            match at.get(&city.id()) {
                Some(&i) => self.cities[i] = city,
                None => {
                    at.insert(city.id(), self.cities.len());
                    self.cities.push(city);
                }
            }
        }
        if !removed.is_empty() {
            let removed: HashSet<i64> = removed.iter().copied().collect();
            self.cities.retain(|c| !removed.contains(&c.id()));
        }
    }

    /// A read of `latest` succeeded at `at`.
    fn connected(&mut self, at: DateTime<Utc>) {
        self.connection = Connection::Up(at);
        self.want_history(false);
    }

    /// Asks for the selected city's history when it is missing, for another city, failed, or
    /// (`force`) older than the city's newest reading.
    fn want_history(&mut self, force: bool) {
        let Some(city) = self.selected() else {
            self.history = None;
            return;
        };
        let (id, observed_at) = (city.id(), city.reading.observed_at);
        let needed = match &self.history {
            Some((hid, _)) if *hid != id => true,
            None => true,
            Some((_, LoadingState::Loading)) => force,
            Some((_, LoadingState::Error(_))) => true,
            Some((_, LoadingState::Loaded(points))) => {
                force || points.last().is_none_or(|p| p.at < observed_at)
            }
        };
        if needed {
            if !matches!(&self.history, Some((hid, LoadingState::Loaded(_))) if *hid == id) {
                self.history = Some((id, LoadingState::Loading));
            }
            self.requests.push(Request::History(id));
        }
    }
}

/// The `p` quantile of `sorted` by nearest rank: a value that is in the list (an age a city
/// really has), the smallest with at least `p` of the values at or below it.
fn nearest_rank<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dash::fixtures::{cities, loaded, now, press, reading, type_text};
    use crossterm::event::KeyCode;

    #[test]
    fn the_selection_follows_its_city_across_refreshes() {
        let mut app = loaded(120, 40);
        press(&mut app, KeyCode::Char('j'));
        press(&mut app, KeyCode::Char('j'));
        assert_eq!(app.selected().unwrap().name(), "Lyon");
        let mut fewer = cities();
        fewer.retain(|c| c.name() != "Brest");
        app.apply(Update::Latest {
            at: now(),
            result: Ok(fewer),
        });
        assert_eq!(app.selected().unwrap().name(), "Lyon");
    }

    #[test]
    fn from_the_first_row_new_data_keeps_the_first_row_selected() {
        let mut app = loaded(120, 40);
        for _ in 0..2 {
            press(&mut app, KeyCode::Char('s')); // by age, freshest first
        }
        press(&mut app, KeyCode::Home);
        assert_eq!(app.selected().unwrap().name(), "Saint-Étienne");
        let fresh = City::from_reading(&reading(99, "Nantes", 6.0, 0));
        app.apply(Update::LatestChanges {
            at: now(),
            changed: vec![fresh],
            removed: vec![],
        });
        assert_eq!(app.cursor, 0);
        assert_eq!(app.selected().unwrap().name(), "Nantes");
        assert_eq!(app.take_requests().last(), Some(&Request::History(99)));

        // One row down, the selection follows its city instead.
        press(&mut app, KeyCode::Char('j'));
        let followed = app.selected().unwrap().id();
        let fresher = City::from_reading(&reading(98, "Rennes", 6.0, 0));
        app.apply(Update::LatestChanges {
            at: now(),
            changed: vec![fresher],
            removed: vec![],
        });
        assert_eq!(app.selected().unwrap().id(), followed);
        assert_eq!(app.cursor, 2);
    }

    #[test]
    fn a_failed_refresh_keeps_the_last_data_and_reports_the_connection_down() {
        let mut app = loaded(120, 40);
        app.apply(Update::Latest {
            at: now(),
            result: Err("Cassandra at h:1 did not answer".into()),
        });
        assert_eq!(app.view.len(), 5);
        assert!(matches!(app.connection, Connection::Down { .. }));
        app.apply(Update::Latest {
            at: now(),
            result: Ok(cities()),
        });
        assert_eq!(app.connection, Connection::Up(now()));
    }

    #[test]
    fn an_unchanged_refresh_keeps_the_cities_and_brings_the_connection_back_up() {
        let mut app = loaded(120, 40);
        press(&mut app, KeyCode::Char('j'));
        let selected = app.selected().unwrap().name().to_string();
        app.apply(Update::Latest {
            at: now(),
            result: Err("Cassandra at h:1 did not answer".into()),
        });
        let later = now() + chrono::Duration::seconds(5);
        let flow = app.apply(Update::LatestChanges {
            at: later,
            changed: vec![],
            removed: vec![],
        });
        assert_eq!(flow, Flow::Redraw, "the connection line changed");
        assert_eq!(app.connection, Connection::Up(later));
        assert_eq!(app.cities, cities());
        assert_eq!(app.view.len(), 5);
        assert_eq!(app.selected().unwrap().name(), selected);
    }

    #[test]
    fn changes_are_merged_as_a_whole_list_would_have_been_taken() {
        let mut app = loaded(120, 40);
        press(&mut app, KeyCode::Char('s')); // by temperature
        let mut whole = loaded(120, 40);
        press(&mut whole, KeyCode::Char('s'));

        let mut hotter = cities()[0].clone();
        hotter.reading.temperature = 40.0;
        let newcomer = City::from_reading(&reading(99, "Nantes", -3.0, 1));
        let gone = cities()[1].id();
        app.apply(Update::LatestChanges {
            at: now(),
            changed: vec![hotter.clone(), newcomer.clone()],
            removed: vec![gone],
        });
        let mut list = cities();
        list[0] = hotter;
        list.retain(|c| c.id() != gone);
        list.push(newcomer);
        whole.apply(Update::Latest {
            at: now(),
            result: Ok(list),
        });

        let by_id = |app: &App| {
            let mut v = app.cities.clone();
            v.sort_by_key(|c| c.id());
            v
        };
        assert_eq!(by_id(&app), by_id(&whole));
        let names = |app: &App| -> Vec<String> {
            app.view
                .iter()
                .map(|&i| app.cities[i].name().to_string())
                .collect()
        };
        assert_eq!(names(&app), names(&whole));
        assert_eq!(names(&app)[0], cities()[0].name(), "the hottest first");
        assert_eq!(names(&app).last().unwrap(), "Nantes", "the coldest last");
    }

    #[test]
    fn selecting_a_city_asks_for_its_history_and_ignores_late_answers() {
        let mut app = loaded(120, 40);
        assert_eq!(app.take_requests(), [Request::History(4)]);
        press(&mut app, KeyCode::Char('j'));
        press(&mut app, KeyCode::Char('j'));
        assert_eq!(
            app.take_requests(),
            [Request::History(2), Request::History(3)]
        );
        let flow = app.apply(Update::History {
            city_id: 2,
            result: Ok(vec![]),
        });
        assert_eq!(flow, Flow::Idle);
        assert_eq!(app.history, Some((3, LoadingState::Loading)));
        app.apply(Update::History {
            city_id: 3,
            result: Ok(vec![]),
        });
        assert_eq!(app.history, Some((3, LoadingState::Loaded(vec![]))));
    }

    #[test]
    fn the_ages_are_the_median_and_95th_percentile_of_the_countrys_latest_without_nulls() {
        let minutes = |m| chrono::Duration::minutes(m);
        // 1, 5, 12, 30 and 200 minutes old: the 3rd and the 5th of five.
        let mut app = loaded(120, 40);
        assert_eq!(app.age_percentiles(), Some((minutes(12), minutes(200))));
        // A row whose observed_at is NULL has no age: it is left out, not counted as 0.
        let mut cities = crate::dash::fixtures::cities();
        cities[4].missing.observed_at = true;
        cities[0].missing.observed_at = true;
        app.apply(Update::Latest {
            at: now(),
            result: Ok(cities),
        });
        assert_eq!(app.age_percentiles(), Some((minutes(30), minutes(200))));
        // A search narrows the table, not the country's ages.
        type_text(&mut app, "/lyon");
        assert_eq!(app.age_percentiles(), Some((minutes(30), minutes(200))));
        // No age at all: nothing to say.
        app.apply(Update::Latest {
            at: now(),
            result: Ok(vec![]),
        });
        assert_eq!(app.age_percentiles(), None);
    }

    #[test]
    fn a_percentile_is_the_nearest_rank() {
        assert_eq!(nearest_rank(&[7], 0.5), Some(7));
        assert_eq!(nearest_rank(&[1, 2, 3, 4], 0.5), Some(2));
        assert_eq!(nearest_rank(&[1, 2, 3, 4], 0.95), Some(4));
        let hundred: Vec<i32> = (1..=100).collect();
        assert_eq!(nearest_rank(&hundred, 0.95), Some(95));
        assert_eq!(nearest_rank(&hundred, 0.5), Some(50));
        assert_eq!(nearest_rank::<i32>(&[], 0.5), None);
    }

    #[test]
    fn readings_older_than_the_limit_are_stale() {
        let app = loaded(120, 40);
        let lyon = app.rows().find(|c| c.name() == "Lyon").unwrap();
        let paris = app.rows().find(|c| c.name() == "Paris").unwrap();
        assert!(app.is_stale(lyon));
        assert!(!app.is_stale(paris));
    }
}
