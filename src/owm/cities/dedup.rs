//! Near-duplicates in the city list: one place listed several times a few metres apart
//! (Paris four times), reduced to one entry by the rule `meteo cities --help` states.

use std::cmp::Reverse;
use std::collections::HashMap;

use super::geometry::{distance_km, Point, EARTH_RADIUS_KM};
use crate::city::City;
use crate::text::fold_name;

/// Entries of the same name closer than this are taken for one place listed twice.
pub const DUPLICATE_RADIUS_KM: f64 = 10.0;

/// The rule for near-duplicates, as `--help` states it: entries whose names fold to the same
/// text (see [`fold_name`]) in the same country are taken in order of preference (the
/// spelling with the most accented letters first, then the lowest id), and an entry is
/// dropped when an entry already kept lies within [`DUPLICATE_RADIUS_KM`] of it.
///
/// Preferring accents keeps `Saint-Étienne` over its plain `Saint-Etienne` twin; the lowest
/// id is the oldest entry. The result does not depend on the order of the input. Returns the
/// kept cities (in no particular order) and how many were dropped.
pub fn drop_near_duplicates(cities: Vec<City>) -> (Vec<City>, usize) {
    let mut groups: HashMap<(String, String), Vec<City>> = HashMap::new();
    for city in cities {
        let key = (city.country.to_ascii_uppercase(), fold_name(&city.name));
        groups.entry(key).or_default().push(city);
    }
    let mut kept_all = Vec::new();
    let mut dropped = 0;
    for (_, mut group) in groups {
        group.sort_by_key(|c| (Reverse(accented_letters(&c.name)), c.id));
        // The kept entries of this group by grid cell, so each entry is compared with the few
        // kept near it rather than with all of them (100,000 namesakes took minutes).
        let mut cells: HashMap<Cell, Vec<usize>> = HashMap::new();
        for city in group {
            let here = Point::of(&city);
            let cell = cell_of(here);
            let duplicate = neighbours(cell).any(|near| {
                cells.get(&near).is_some_and(|kept| {
                    kept.iter()
                        .any(|&i| distance_km(Point::of(&kept_all[i]), here) <= DUPLICATE_RADIUS_KM)
                })
            });
            if duplicate {
                dropped += 1;
            } else {
                cells.entry(cell).or_default().push(kept_all.len());
                kept_all.push(city);
            }
        }
    }
    (kept_all, dropped)
}

/// A cube of a grid over the space around the Earth, by index along x, y and z.
type Cell = (i32, i32, i32);

/// The side of a cell: a little more than the radius, so two points within the radius on the
/// surface (their straight-line distance is at most the great-circle one) lie in the same or
/// adjacent cells. In 3D rather than latitude and longitude, so the poles and the date line
/// need no special case.
const CELL_KM: f64 = DUPLICATE_RADIUS_KM * 1.05;

fn cell_of(point: Point) -> Cell {
    let (lat, lon) = (point.lat.to_radians(), point.lon.to_radians());
    let index = |coordinate: f64| (EARTH_RADIUS_KM * coordinate / CELL_KM).floor() as i32;
    (
        index(lat.cos() * lon.cos()),
        index(lat.cos() * lon.sin()),
        index(lat.sin()),
    )
}

/// The cell and the 26 around it.
fn neighbours((x, y, z): Cell) -> impl Iterator<Item = Cell> {
    (-1..=1).flat_map(move |dx| {
        (-1..=1).flat_map(move |dy| (-1..=1).map(move |dz| (x + dx, y + dy, z + dz)))
    })
}

fn accented_letters(name: &str) -> usize {
    name.chars().filter(|c| !c.is_ascii()).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::city::french as city;

    #[test]
    fn near_duplicates_keep_the_accented_spelling_then_the_lowest_id() {
        let cities = vec![
            city(6455259, "Paris", 48.856461, 2.35236),
            city(2988507, "Paris", 48.853409, 2.3488),
            city(2968815, "Paris", 48.853401, 2.3486),
            city(2980291, "Saint-Etienne", 45.433331, 4.4),
            city(6614010, "Saint-Étienne", 45.433331, 4.4),
        ];
        let (kept, dropped) = drop_near_duplicates(cities);
        assert_eq!(dropped, 3);
        let mut ids: Vec<i64> = kept.iter().map(|c| c.id).collect();
        ids.sort();
        assert_eq!(ids, vec![2968815, 6614010]);
    }

    #[test]
    fn ligatures_and_their_letters_are_one_name_for_the_rule() {
        // The real list's two entries for one town, 1.1 km apart.
        let cities = vec![
            city(2993207, "Mons-en-Baroeul", 50.633331, 3.11667),
            city(6617196, "Mons-en-Barœul", 50.642101, 3.1085),
            city(1, "Grossenhain", 51.29, 13.53),
            city(2, "Großenhain", 51.29, 13.53),
            city(3, "Aebeltoft", 56.19, 10.67),
            city(4, "Æbeltoft", 56.19, 10.67),
        ];
        let (kept, dropped) = drop_near_duplicates(cities);
        assert_eq!(dropped, 3);
        let mut names: Vec<&str> = kept.iter().map(|c| c.name.as_str()).collect();
        names.sort();
        assert_eq!(names, ["Großenhain", "Mons-en-Barœul", "Æbeltoft"]);
    }

    #[test]
    fn namesakes_further_apart_than_ten_km_are_all_kept() {
        let cities = vec![
            city(1, "Saint-Sauveur", 45.0, 1.0),
            city(2, "Saint-Sauveur", 46.0, 1.0),
            city(3, "Saint-Sauveur", 45.05, 1.0), // 5.6 km from id 1
        ];
        let (kept, dropped) = drop_near_duplicates(cities);
        assert_eq!(dropped, 1);
        assert_eq!(kept.len(), 2);
        assert!(kept.iter().all(|c| c.id != 3));
    }

    #[test]
    fn namesakes_of_different_countries_are_not_duplicates() {
        let mut belgian = city(2, "Paris", 48.85, 2.35);
        belgian.country = "BE".into();
        let (kept, dropped) = drop_near_duplicates(vec![city(1, "Paris", 48.85, 2.35), belgian]);
        assert_eq!((kept.len(), dropped), (2, 0));
    }

    #[test]
    fn the_duplicate_rule_does_not_depend_on_input_order() {
        let cities = vec![
            city(5, "Bastia", 42.7, 9.45),
            city(3, "Bastia", 42.7, 9.45),
            city(9, "Bastia", 42.71, 9.45),
        ];
        let mut reversed = cities.clone();
        reversed.reverse();
        assert_eq!(
            drop_near_duplicates(cities).0,
            drop_near_duplicates(reversed).0
        );
    }
}

#[cfg(test)]
mod scale {
    use super::*;
    use crate::city::french as city;

    /// `count` entries all named Paris on a grid from 80°S to 80°N, at least 17 km apart.
    fn paris_grid(count: usize) -> Vec<City> {
        let columns = 400;
        let rows = count.div_ceil(columns);
        (0..count)
            .map(|i| {
                let (row, column) = (i / columns, i % columns);
                let lat = -80.0 + 160.0 * row as f64 / rows.max(2).saturating_sub(1) as f64;
                let lon = -180.0 + 360.0 * column as f64 / columns as f64;
                city(i as i64 + 1, "Paris", lat, lon)
            })
            .collect()
    }

    #[test]
    fn one_hundred_thousand_namesakes_apart_are_grouped_in_near_linear_time() {
        let start = std::time::Instant::now();
        let (kept, dropped) = drop_near_duplicates(paris_grid(100_000));
        assert_eq!((kept.len(), dropped), (100_000, 0));
        // Loose on purpose (a debug build on a busy machine); the pairwise check took minutes.
        assert!(start.elapsed().as_secs() < 30, "{:?}", start.elapsed());
    }

    #[test]
    fn namesakes_across_the_date_line_and_near_a_pole_are_still_duplicates() {
        let cities = vec![
            city(1, "Paris", 10.0, 179.99),
            city(2, "Paris", 10.0, -179.99), // 2.2 km from id 1, across the date line
            city(3, "Paris", 89.99, 0.0),
            city(4, "Paris", 89.99, 180.0), // 2.2 km from id 3, over the pole
            city(5, "Paris", -89.999, 90.0),
            city(6, "Paris", -89.999, -90.0),
        ];
        let (kept, dropped) = drop_near_duplicates(cities);
        let mut ids: Vec<i64> = kept.iter().map(|c| c.id).collect();
        ids.sort();
        assert_eq!((ids, dropped), (vec![1, 3, 5], 3));
    }
}
