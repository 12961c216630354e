//! Which cities of the list to keep: the filters of `meteo cities`, applied while reading, then
//! near-duplicates, the limit and the output order.

use std::collections::BTreeSet;

use super::dedup::drop_near_duplicates;
use super::geometry::Near;
use crate::city::City;
use crate::model::CountryCode;
use crate::text::fold_name;

/// The most cities a selection may match: twice OpenWeatherMap's whole list (209,579), so
/// a list made of millions of tiny entries cannot make the matches take gigabytes.
pub const MAX_MATCHED: usize = 500_000;

/// Which cities to keep. Every filter given must match (they are ANDed).
#[derive(Debug, Clone)]
pub struct Selection {
    /// Compared with a city's country ignoring case.
    pub country: CountryCode,
    /// A substring of the name, already folded with [`fold_name`].
    pub name: Option<String>,
    /// Only cities within `radius_km` of `center`.
    pub near: Option<Near>,
    /// Only these city ids (as `--ids` takes them: positive, so never negative).
    pub ids: Option<BTreeSet<u64>>,
    /// At most this many: the nearest with `near`, else the first by name.
    pub limit: Option<usize>,
    /// Keep every entry, near-duplicates included.
    pub keep_duplicates: bool,
}

/// The cities a [`Selection`] kept, in output order (name, then id).
#[derive(Debug, Clone, PartialEq)]
pub struct Selected {
    pub cities: Vec<City>,
    /// Entries dropped as near-duplicates of a kept one.
    pub duplicates_dropped: usize,
}

impl Selection {
    /// Every city of `country`: no other filter, no limit, near-duplicates dropped.
    pub fn new(country: CountryCode) -> Self {
        Self {
            country,
            name: None,
            near: None,
            ids: None,
            limit: None,
            keep_duplicates: false,
        }
    }

    /// Whether one city passes the filters; applied while reading, so only matches are kept.
    pub fn matches(&self, city: &City) -> bool {
        // Cheapest tests first: most of the 210,000 entries fail on the country. A few real
        // entries have an empty name: well-formed, but of no use in a list of cities.
        if !city.country.eq_ignore_ascii_case(self.country.as_str()) || city.name.trim().is_empty()
        {
            return false;
        }
        if let Some(ids) = &self.ids {
            if !listed_id(city).is_some_and(|id| ids.contains(&id)) {
                return false;
            }
        }
        if let Some(near) = &self.near {
            if !near.contains(city) {
                return false;
            }
        }
        match &self.name {
            Some(wanted) => fold_name(&city.name).contains(wanted.as_str()),
            None => true,
        }
    }

    /// The `--ids` that no matching city had, in increasing order.
    pub fn missing_ids(&self, matched: &[City]) -> Vec<u64> {
        let Some(ids) = &self.ids else {
            return Vec::new();
        };
        let found: BTreeSet<u64> = matched.iter().filter_map(listed_id).collect();
        ids.difference(&found).copied().collect()
    }

    /// From the matching cities to the output: drop near-duplicates (unless kept), apply the
    /// limit, sort by name then id.
    pub fn finish(&self, matched: Vec<City>) -> Selected {
        let (mut cities, duplicates_dropped) = if self.keep_duplicates {
            (matched, 0)
        } else {
            drop_near_duplicates(matched)
        };
        if let Some(limit) = self.limit {
            match self.near {
                Some(near) => cities.sort_by(|a, b| {
                    near.distance_km(a)
                        .total_cmp(&near.distance_km(b))
                        .then(a.id.cmp(&b.id))
                }),
                None => sort_by_name(&mut cities),
            }
            cities.truncate(limit);
        }
        sort_by_name(&mut cities);
        Selected {
            cities,
            duplicates_dropped,
        }
    }
}

/// The city's id as `--ids` spells ids; the reader only lets positive ids through.
fn listed_id(city: &City) -> Option<u64> {
    u64::try_from(city.id).ok()
}

/// Output order: by name as people read it (ignoring case and accents, so `Évreux` sorts
/// among the E), then by the exact name, then by id, so the order is total and repeatable.
pub fn sort_by_name(cities: &mut [City]) {
    cities.sort_by_cached_key(|c| (fold_name(&c.name), c.name.clone(), c.id));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::city::french as city;
    use crate::owm::cities::Point;

    fn fr() -> Selection {
        Selection::new(CountryCode::FR)
    }

    #[test]
    fn selection_matches_country_in_any_case_and_name_ignoring_accents() {
        let mut sel = fr();
        sel.name = Some(fold_name("saint etienne"));
        assert!(sel.matches(&city(1, "Saint-Étienne", 45.4, 4.4)));
        assert!(!sel.matches(&city(2, "Saint-Denis", 48.9, 2.3)));
        let mut lower = city(1, "Saint-Étienne", 45.4, 4.4);
        lower.country = "fr".into();
        assert!(sel.matches(&lower));
        let mut us = city(1, "Saint-Étienne", 45.4, 4.4);
        us.country = "US".into();
        assert!(!sel.matches(&us));
    }

    #[test]
    fn nameless_cities_are_never_selected() {
        assert!(!fr().matches(&city(5, "", 1.0, 1.0)));
        assert!(!fr().matches(&city(5, "  ", 1.0, 1.0)));
    }

    #[test]
    fn selection_by_radius_and_by_ids() {
        let paris = Point::new(48.8534, 2.3488).unwrap();
        let mut sel = fr();
        sel.near = Some(Near {
            center: paris,
            radius_km: 20.0,
        });
        assert!(sel.matches(&city(1, "Versailles", 48.8014, 2.1301)));
        assert!(!sel.matches(&city(2, "Lyon", 45.7485, 4.8467)));
        let mut sel = fr();
        sel.ids = Some([1, 3].into());
        assert!(sel.matches(&city(1, "A", 0.0, 0.0)));
        assert!(!sel.matches(&city(2, "B", 0.0, 0.0)));
        assert_eq!(sel.missing_ids(&[city(1, "A", 0.0, 0.0)]), vec![3]);
    }

    #[test]
    fn finish_sorts_by_name_ignoring_accents_then_id() {
        let sel = Selection {
            keep_duplicates: true,
            ..fr()
        };
        let out = sel.finish(vec![
            city(3, "Foix", 42.9, 1.6),
            city(2, "Évreux", 49.0, 1.15),
            city(9, "Amiens", 49.9, 2.3),
            city(1, "Amiens", 49.9, 2.3),
        ]);
        let ids: Vec<i64> = out.cities.iter().map(|c| c.id).collect();
        assert_eq!(ids, vec![1, 9, 2, 3]);
        assert_eq!(out.duplicates_dropped, 0);
    }

    #[test]
    fn finish_drops_near_duplicates_unless_kept_and_counts_them() {
        let twins = vec![city(2, "Paris", 48.85, 2.35), city(1, "Paris", 48.85, 2.35)];
        let out = fr().finish(twins.clone());
        assert_eq!(out.cities.len(), 1);
        assert_eq!(out.duplicates_dropped, 1);
        let kept = Selection {
            keep_duplicates: true,
            ..fr()
        };
        assert_eq!(kept.finish(twins).cities.len(), 2);
    }

    #[test]
    fn limit_keeps_the_nearest_with_near_and_the_first_by_name_without() {
        let cities = vec![
            city(1, "Zed", 48.80, 2.35),
            city(2, "Alpha", 48.0, 2.35),
            city(3, "Mid", 48.5, 2.35),
        ];
        let mut sel = fr();
        sel.limit = Some(2);
        let names: Vec<String> = sel
            .finish(cities.clone())
            .cities
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["Alpha", "Mid"]);
        sel.near = Some(Near {
            center: Point::new(48.85, 2.35).unwrap(),
            radius_km: 500.0,
        });
        let names: Vec<String> = sel
            .finish(cities)
            .cities
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["Mid", "Zed"]);
    }
}
