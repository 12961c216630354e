//! One city, one country in `latest`: what the writer remembers of the countries each city
//! has had a row in, and what a new `latest` row must do to the others. The decisions are
//! pure ([`Homes::place`]); the writer in `readings.rs` loads and runs them.
//!
//! The rule: a city's `latest` row lives in the country of its newest reading (by
//! [`super::precedence::write_timestamp`]). A reading newer than every row of its city in
//! other countries deletes those rows at its own timestamp (so an older reading arriving
//! there later is hidden too); a reading older than a row elsewhere is not written to
//! `latest` at all (it stays in `readings`).

use std::collections::HashMap;

/// Per city, the countries it has had a `latest` row in: each with the newest timestamp
/// written there as far as this process knows, and whether `city_countries` holds it.
#[derive(Debug, Default)]
pub struct Homes {
    cities: HashMap<i64, Vec<Home>>,
    /// The assignment generation ([`crate::assignment`]) what is known was learnt under.
    generation: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Home {
    country: String,
    newest: i64,
    recorded: bool,
}

/// What writing one reading to `latest` takes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Placement {
    /// Whether its row goes into `latest` (not when a row of the city elsewhere is newer).
    pub write: bool,
    /// The countries whose row of this city is deleted at the reading's timestamp.
    pub clear: Vec<String>,
    /// Whether `city_countries` must be told of this city and country.
    pub record: bool,
}

impl Homes {
    /// Forgets every city when the partition assignment moved since they were learnt:
    /// another consumer may have moved a city to another country meanwhile, and only
    /// `city_countries` knows.
    pub fn follow(&mut self, generation: u64) {
        if generation != self.generation {
            self.cities.clear();
            self.generation = generation;
        }
    }

    /// Whether the countries of `city_id` are known here (else load them first).
    pub fn knows(&self, city_id: i64) -> bool {
        self.cities.contains_key(&city_id)
    }

    /// Takes in what `city_countries` and `latest` say of a city: each country, with the
    /// write timestamp of its row there (0 when there is none). Merges with what is known.
    pub fn learn(&mut self, city_id: i64, found: Vec<(String, i64)>) {
        let homes = self.cities.entry(city_id).or_default();
        for (country, newest) in found {
            match homes.iter_mut().find(|h| h.country == country) {
                Some(home) => {
                    home.newest = home.newest.max(newest);
                    home.recorded = true;
                }
                None => homes.push(Home {
                    country,
                    newest,
                    recorded: true,
                }),
            }
        }
    }

    /// Decides for a reading of `city_id` in `country` written at `timestamp`, and remembers
    /// it at once (so a reading decided next, even while this one is being written, sees it).
    /// The same reading decided again (a retry) gets the same clears.
    pub fn place(&mut self, city_id: i64, country: &str, timestamp: i64) -> Placement {
        let homes = self.cities.entry(city_id).or_default();
        let newest_elsewhere = homes
            .iter()
            .filter(|h| h.country != country)
            .map(|h| h.newest)
            .max();
        if newest_elsewhere.is_some_and(|newest| newest > timestamp) {
            return Placement::default();
        }
        let clear = homes
            .iter()
            .filter(|h| h.country != country)
            .map(|h| h.country.clone())
            .collect();
        let record = match homes.iter_mut().find(|h| h.country == country) {
            Some(home) => {
                home.newest = home.newest.max(timestamp);
                !home.recorded
            }
            None => {
                homes.push(Home {
                    country: country.to_string(),
                    newest: timestamp,
                    recorded: false,
                });
                true
            }
        };
        Placement {
            write: true,
            clear,
            record,
        }
    }

    /// [`Self::place`] for the readings of one request, in order, each given as its city,
    /// country and timestamp; a city and country to record in `city_countries` is recorded
    /// by the first of them only (the insert is the same, and the request is retried whole).
    pub fn place_all<'a>(
        &mut self,
        readings: impl IntoIterator<Item = (i64, &'a str, i64)>,
    ) -> Vec<Placement> {
        let mut recording: Vec<(i64, &str)> = Vec::new();
        readings
            .into_iter()
            .map(|(city_id, country, timestamp)| {
                let mut placement = self.place(city_id, country, timestamp);
                if placement.record {
                    if recording.contains(&(city_id, country)) {
                        placement.record = false;
                    } else {
                        recording.push((city_id, country));
                    }
                }
                placement
            })
            .collect()
    }

    /// `city_countries` holds this city and country now.
    pub fn recorded(&mut self, city_id: i64, country: &str) {
        if let Some(home) = self
            .cities
            .get_mut(&city_id)
            .and_then(|homes| homes.iter_mut().find(|h| h.country == country))
        {
            home.recorded = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_of_one_request_record_a_new_city_and_country_once() {
        let mut homes = Homes::default();
        homes.learn(7, Vec::new());
        homes.learn(8, Vec::new());
        let placed = homes.place_all([(7, "FR", 10), (8, "FR", 11), (7, "FR", 12), (7, "FR", 13)]);
        let records: Vec<bool> = placed.iter().map(|p| p.record).collect();
        assert_eq!(records, [true, true, false, false]);
        assert!(placed.iter().all(|p| p.write));
        // Not recorded yet (the request may fail): the next request records it again.
        let again = homes.place_all([(7, "FR", 14)]);
        assert!(again[0].record);
        homes.recorded(7, "FR");
        assert!(!homes.place_all([(7, "FR", 15)])[0].record);
    }

    #[test]
    fn a_new_partition_assignment_forgets_every_city_learnt_before() {
        let mut homes = Homes::default();
        homes.follow(3);
        homes.learn(7, vec![("FR".into(), 10)]);
        homes.follow(3);
        assert!(homes.knows(7), "same assignment: still known");
        // The partition went to another consumer and came back: it may have moved the city.
        homes.follow(4);
        assert!(!homes.knows(7), "read again from city_countries");
    }

    #[test]
    fn a_city_in_one_country_writes_its_row_and_records_the_country_once() {
        let mut homes = Homes::default();
        homes.learn(1, vec![]);
        let first = homes.place(1, "FR", 10);
        assert_eq!(
            first,
            Placement {
                write: true,
                clear: vec![],
                record: true
            }
        );
        homes.recorded(1, "FR");
        assert_eq!(
            homes.place(1, "FR", 20),
            Placement {
                write: true,
                clear: vec![],
                record: false
            }
        );
    }

    #[test]
    fn a_newer_reading_in_another_country_clears_the_old_row() {
        let mut homes = Homes::default();
        homes.learn(2988507, vec![("FR".into(), 10)]);
        let moved = homes.place(2988507, "DE", 20);
        assert!(moved.write && moved.record);
        assert_eq!(moved.clear, ["FR"]);
        // Retried or followed by another DE reading: FR is cleared again, never left.
        assert_eq!(homes.place(2988507, "DE", 30).clear, ["FR"]);
    }

    #[test]
    fn an_older_reading_in_another_country_is_not_written_to_latest() {
        let mut homes = Homes::default();
        homes.learn(2988507, vec![("FR".into(), 30)]);
        assert_eq!(homes.place(2988507, "DE", 20), Placement::default());
        // Nor does it change anything for the next reading.
        assert!(homes.place(2988507, "FR", 40).clear.is_empty());
    }

    #[test]
    fn whichever_order_two_countries_arrive_in_the_newer_alone_keeps_a_row() {
        for order in [[("FR", 10), ("DE", 20)], [("DE", 20), ("FR", 10)]] {
            let mut homes = Homes::default();
            homes.learn(1, vec![]);
            // Rows written (at their timestamps) and deletes (at theirs), as Cassandra keeps
            // them: a row survives when no delete at or after its timestamp hit it.
            let mut rows: Vec<(&str, i64)> = Vec::new();
            let mut deletes: Vec<(String, i64)> = Vec::new();
            for (country, ts) in order {
                let p = homes.place(1, country, ts);
                if p.write {
                    rows.push((country, ts));
                }
                deletes.extend(p.clear.into_iter().map(|c| (c, ts)));
            }
            let live: Vec<&str> = rows
                .iter()
                .filter(|(c, ts)| !deletes.iter().any(|(d, at)| d == c && at >= ts))
                .map(|(c, _)| *c)
                .collect();
            assert_eq!(live, ["DE"], "{order:?}");
        }
    }
}
