//! Which rows of a group of readings go to Cassandra together: one unlogged batch per
//! partition of each table, never across partitions, of bounded size.

use std::collections::HashMap;

use chrono::NaiveDate;

use crate::model::Reading;

/// The two tables a reading is written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// History, partitioned by `(city_id, day)`.
    Readings,
    /// The newest reading of each city, partitioned by `country`.
    Latest,
}

/// Rows of one partition of one table, written as one request: indices into the readings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    pub table: Table,
    pub rows: Vec<usize>,
}

/// The most a batch may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub rows: usize,
    /// Estimated by [`row_bytes`], Cassandra's measure of a batch's size.
    pub bytes: usize,
}

/// Cassandra checks its `batch_size_warn_threshold` (5 KiB) and `batch_size_fail_threshold`
/// only for batches that span partitions (CASSANDRA-10876: the rows of one partition are one
/// mutation, applied as one), so no batch here is ever warned about. The caps keep a request
/// and its mutation small (the commit log takes up to half a 32 MiB segment), while rows per
/// batch decide the speed: a 4.5 KiB cap held batches to about 7 rows, and a backlog went
/// 1.2-1.3x the per-row writes' speed; with this one, 1.6x (scripts/bench-consume).
pub const CAPS: Caps = Caps {
    rows: 64,
    bytes: 49152,
};

/// What Cassandra counts a cell as in a batch's size: its value, its timestamp, TTL and
/// local deletion time (`Cell.dataSize`).
const CELL_OVERHEAD: usize = 16;

/// What a `readings` row's deletion just before its insert adds (see
/// [`super::readings::ReadingWriter`]): a timestamp and a deletion time.
const ROW_DELETION: usize = CELL_OVERHEAD;

/// A row's size as Cassandra measures it against the batch threshold, from above: numbers
/// counted as 8 bytes, text by its UTF-8 length. `latest` writes absent fields as nulls (a
/// cell each), `readings` leaves them unset (no cell) and deletes the row first.
pub fn row_bytes(r: &Reading, table: Table) -> usize {
    let texts = [
        Some(&r.city_name),
        Some(&r.country),
        r.source.as_ref(),
        r.weather_main.as_ref(),
        r.weather_description.as_ref(),
        r.weather_icon.as_ref(),
    ];
    let optional_numbers = [
        r.lat.is_some(),
        r.lon.is_some(),
        r.fetched_at.is_some(),
        r.feels_like.is_some(),
        r.temp_min.is_some(),
        r.temp_max.is_some(),
        r.pressure.is_some(),
        r.wind_speed.is_some(),
        r.wind_deg.is_some(),
        r.wind_gust.is_some(),
        r.clouds.is_some(),
        r.visibility.is_some(),
        r.rain_1h.is_some(),
        r.rain_3h.is_some(),
        r.snow_1h.is_some(),
        r.snow_3h.is_some(),
        r.weather_id.is_some(),
        r.sunrise.is_some(),
        r.sunset.is_some(),
        r.timezone.is_some(),
    ];
    // city_id, day, observed_at, temperature, humidity, ingested_at.
    const ALWAYS: usize = 6;
    let (present_numbers, absent_numbers) = optional_numbers.iter().fold(
        (0, 0),
        |(p, a), &here| if here { (p + 1, a) } else { (p, a + 1) },
    );
    let text_bytes: usize = texts.iter().flatten().map(|t| t.len()).sum();
    let present_texts = texts.iter().flatten().count();
    let absent_texts = texts.len() - present_texts;
    let present = (ALWAYS + present_numbers) * (CELL_OVERHEAD + 8)
        + present_texts * CELL_OVERHEAD
        + text_bytes;
    match table {
        Table::Readings => present + ROW_DELETION,
        Table::Latest => present + (absent_numbers + absent_texts) * CELL_OVERHEAD,
    }
}

/// The batches that write `readings` to both tables: rows sharing a partition together, in
/// the order the partitions first appear; a partition whose rows exceed `caps` gets several
/// batches. Every row of every reading is in exactly one batch.
pub fn plan(readings: &[Reading], caps: Caps) -> Vec<Batch> {
    let mut batches: Vec<Batch> = Vec::new();
    // Per batch: its estimated size.
    let mut sizes: Vec<usize> = Vec::new();
    // The open batch of each partition.
    let mut history: HashMap<(i64, NaiveDate), usize> = HashMap::new();
    let mut latest: HashMap<&str, usize> = HashMap::new();
    for (i, r) in readings.iter().enumerate() {
        let open = history.get(&(r.city_id, r.day())).copied();
        if let Some(at) = add(&mut batches, &mut sizes, open, Table::Readings, i, r, caps) {
            history.insert((r.city_id, r.day()), at);
        }
        let open = latest.get(r.country.as_str()).copied();
        if let Some(at) = add(&mut batches, &mut sizes, open, Table::Latest, i, r, caps) {
            latest.insert(r.country.as_str(), at);
        }
    }
    batches
}

/// Adds row `i` to the partition's open batch when it fits, else to a new batch; the new
/// batch's index when one was opened.
fn add(
    batches: &mut Vec<Batch>,
    sizes: &mut Vec<usize>,
    open: Option<usize>,
    table: Table,
    i: usize,
    r: &Reading,
    caps: Caps,
) -> Option<usize> {
    let bytes = row_bytes(r, table);
    if let Some(at) = open {
        if batches[at].rows.len() < caps.rows && sizes[at] + bytes <= caps.bytes {
            batches[at].rows.push(i);
            sizes[at] += bytes;
            return None;
        }
    }
    batches.push(Batch {
        table,
        rows: vec![i],
    });
    sizes.push(bytes);
    Some(batches.len() - 1)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};

    use super::*;

    /// Paris's reading, as city `city_id` of `country`, observed `hours` after a midnight.
    fn reading(city_id: i64, country: &str, hours: i64) -> Reading {
        let mut r = Reading::from_json(crate::model::tests::PARIS.as_bytes()).unwrap();
        r.city_id = city_id;
        r.country = country.to_string();
        r.observed_at = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap() + Duration::hours(hours);
        r
    }

    fn of(batches: &[Batch], table: Table) -> Vec<Vec<usize>> {
        batches
            .iter()
            .filter(|b| b.table == table)
            .map(|b| b.rows.clone())
            .collect()
    }

    const ROOMY: Caps = Caps {
        rows: 100,
        bytes: 1 << 20,
    };

    #[test]
    fn readings_of_one_city_and_day_go_together_and_latest_rows_by_country() {
        let readings = [
            reading(1, "FR", 1),
            reading(2, "FR", 1),
            reading(1, "FR", 2),
            reading(3, "DE", 1),
            reading(1, "FR", 3),
        ];
        let batches = plan(&readings, ROOMY);
        assert_eq!(
            of(&batches, Table::Readings),
            [vec![0, 2, 4], vec![1], vec![3]]
        );
        assert_eq!(of(&batches, Table::Latest), [vec![0, 1, 2, 4], vec![3]]);
    }

    #[test]
    fn a_city_on_two_days_is_two_partitions_of_readings() {
        let readings = [reading(1, "FR", 23), reading(1, "FR", 24)];
        let batches = plan(&readings, ROOMY);
        assert_eq!(of(&batches, Table::Readings), [vec![0], vec![1]]);
        assert_eq!(of(&batches, Table::Latest), [vec![0, 1]]);
    }

    #[test]
    fn no_batch_spans_two_partitions() {
        let readings: Vec<Reading> = (0..200)
            .map(|i| reading(i % 7, ["FR", "DE", "IT"][(i % 3) as usize], i % 30))
            .collect();
        for b in plan(&readings, CAPS) {
            let first = &readings[b.rows[0]];
            for &i in &b.rows {
                match b.table {
                    Table::Readings => assert_eq!(
                        (readings[i].city_id, readings[i].day()),
                        (first.city_id, first.day())
                    ),
                    Table::Latest => assert_eq!(readings[i].country, first.country),
                }
            }
        }
    }

    #[test]
    fn every_row_is_in_exactly_one_batch_and_keeps_its_order() {
        let readings: Vec<Reading> = (0..500).map(|i| reading(i % 11, "FR", i % 48)).collect();
        let batches = plan(&readings, CAPS);
        for table in [Table::Readings, Table::Latest] {
            let mut seen: Vec<usize> = of(&batches, table).concat();
            for rows in of(&batches, table) {
                assert!(rows.windows(2).all(|w| w[0] < w[1]), "{rows:?}");
            }
            seen.sort_unstable();
            assert_eq!(seen, (0..500).collect::<Vec<_>>(), "{table:?}");
        }
    }

    #[test]
    fn batches_stay_within_the_row_and_byte_caps() {
        let readings: Vec<Reading> = (0..300).map(|i| reading(1, "FR", i % 20)).collect();
        let by_rows = plan(
            &readings,
            Caps {
                rows: 4,
                bytes: 1 << 20,
            },
        );
        assert!(by_rows.iter().all(|b| b.rows.len() <= 4));
        assert_eq!(of(&by_rows, Table::Latest).len(), 75);
        for b in plan(&readings, CAPS) {
            let bytes: usize = b
                .rows
                .iter()
                .map(|&i| row_bytes(&readings[i], b.table))
                .sum();
            assert!(bytes <= CAPS.bytes, "{bytes} bytes in {b:?}");
        }
        // The row cap binds before the byte cap: a full batch of the largest rows fits.
        assert!(CAPS.bytes / row_bytes(&readings[0], Table::Latest) >= CAPS.rows);
    }

    #[test]
    fn a_row_larger_than_the_cap_goes_alone() {
        let readings = [reading(1, "FR", 1), reading(1, "FR", 2)];
        let batches = plan(&readings, Caps { rows: 10, bytes: 1 });
        assert_eq!(of(&batches, Table::Readings), [vec![0], vec![1]]);
    }

    #[test]
    fn latest_counts_absent_fields_as_null_cells() {
        let mut r = reading(1, "FR", 1);
        r.rain_1h = Some(0.5);
        let with_rain = row_bytes(&r, Table::Latest);
        r.rain_1h = None;
        assert_eq!(
            row_bytes(&r, Table::Latest),
            with_rain - 8,
            "a null cell, no value"
        );
        // Paris has no gust, rain or snow: five nulls in latest, a row deletion in readings.
        assert_eq!(
            row_bytes(&r, Table::Latest) - row_bytes(&r, Table::Readings),
            5 * CELL_OVERHEAD - ROW_DELETION
        );
    }
}
