//! Reading `readings` and `latest` back, for the dashboard and the tests: rows that others may
//! have written too, so NULL columns are told apart rather than failing the read.

use anyhow::{anyhow, Context};
use cdrs_tokio::query::QueryValues;
use cdrs_tokio::types::rows::Row;
use cdrs_tokio::types::value::Value;
use cdrs_tokio::types::IntoRustByIndex;
use chrono::{DateTime, NaiveDate, Utc};
use futures::{StreamExt, TryStreamExt};

use super::super::{query_with_values, rows, CassandraSession};
use super::{cql_date, READING_COLUMNS};
use crate::model::{Reading, SCHEMA_VERSION};

/// A row as read back, which others may have written (a manual fix, another program, a
/// partial repair): its reading, and which of the reading's required columns were NULL.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    /// A NULL column named in `missing` holds a placeholder here (0, the epoch) that nothing
    /// may show.
    pub reading: Reading,
    pub missing: Missing,
}

/// Which required columns of a stored row were NULL.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Missing {
    pub temperature: bool,
    pub humidity: bool,
    pub observed_at: bool,
}

impl Stored {
    /// `observed_at`, when the row has one.
    pub fn observed_at(&self) -> Option<DateTime<Utc>> {
        (!self.missing.observed_at).then_some(self.reading.observed_at)
    }

    /// The reading, or an error naming the city and the first NULL column.
    pub fn into_reading(self) -> anyhow::Result<Reading> {
        let m = self.missing;
        let null = [
            (m.observed_at, "observed_at"),
            (m.temperature, "temperature"),
            (m.humidity, "humidity"),
        ]
        .into_iter()
        .find_map(|(null, column)| null.then_some(column));
        match null {
            Some(column) => Err(anyhow!(
                "the row of city {} has no {column}",
                self.reading.city_id
            )),
            None => Ok(self.reading),
        }
    }
}

impl From<Reading> for Stored {
    fn from(reading: Reading) -> Stored {
        Stored {
            reading,
            missing: Missing::default(),
        }
    }
}

/// A stored row back into a reading; an error when a required column is NULL.
fn from_row(row: &Row) -> anyhow::Result<Reading> {
    stored_from_row(row)?.into_reading()
}

/// A stored row back into a reading, its NULL required columns noted. By position, in
/// [`READING_COLUMNS`] order: looking columns up by name costs a string search per field,
/// which dominated reading a 20,000-row `latest` partition.
fn stored_from_row(row: &Row) -> anyhow::Result<Stored> {
    let observed_at: Option<DateTime<Utc>> = row.get_by_index(2)?;
    let temperature: Option<f64> = row.get_by_index(9)?;
    let humidity: Option<i32> = row.get_by_index(13)?;
    let missing = Missing {
        temperature: temperature.is_none(),
        humidity: humidity.is_none(),
        observed_at: observed_at.is_none(),
    };
    let reading = Reading {
        schema: SCHEMA_VERSION,
        city_id: row.get_r_by_index(0)?,
        observed_at: observed_at.unwrap_or_default(),
        source: row.get_by_index(3)?,
        city_name: row.get_by_index(4)?.unwrap_or_default(),
        country: row.get_by_index(5)?.unwrap_or_default(),
        lat: row.get_by_index(6)?,
        lon: row.get_by_index(7)?,
        fetched_at: row.get_by_index(8)?,
        temperature: temperature.unwrap_or_default(),
        feels_like: row.get_by_index(10)?,
        temp_min: row.get_by_index(11)?,
        temp_max: row.get_by_index(12)?,
        humidity: humidity.unwrap_or_default(),
        pressure: row.get_by_index(14)?,
        wind_speed: row.get_by_index(15)?,
        wind_deg: row.get_by_index(16)?,
        wind_gust: row.get_by_index(17)?,
        clouds: row.get_by_index(18)?,
        visibility: row.get_by_index(19)?,
        rain_1h: row.get_by_index(20)?,
        rain_3h: row.get_by_index(21)?,
        snow_1h: row.get_by_index(22)?,
        snow_3h: row.get_by_index(23)?,
        weather_id: row.get_by_index(24)?,
        weather_main: row.get_by_index(25)?,
        weather_description: row.get_by_index(26)?,
        weather_icon: row.get_by_index(27)?,
        sunrise: row.get_by_index(28)?,
        sunset: row.get_by_index(29)?,
        timezone: row.get_by_index(30)?,
    };
    Ok(Stored { reading, missing })
}

/// How many ranges of `city_id` a `latest` partition is read in, all at once. Cassandra reads
/// each range on a thread of its own: on 2 cores, 20,000 rows come back in about 60% of the
/// time of one query (`scripts/bench-dash`), and more cores gain more.
pub const LATEST_SLICES: usize = 4;

/// Split points that cut these city ids into `slices` ranges of about equal size, for
/// [`latest_versions`]. Any split points give the same rows; good ones give equal ranges.
pub fn slice_bounds(ids: impl IntoIterator<Item = i64>, slices: usize) -> Vec<i64> {
    let mut ids: Vec<i64> = ids.into_iter().collect();
    ids.sort_unstable();
    let mut bounds: Vec<i64> = (1..slices.max(1))
        .map(|i| i * ids.len() / slices)
        .filter(|&at| at > 0 && at < ids.len())
        .map(|at| ids[at])
        // Above the smallest id, or the first range would be empty.
        .filter(|&bound| bound > ids[0])
        .collect();
    bounds.dedup();
    bounds
}

/// Reads `columns` of the `latest` partition of `country`, as one query per range of
/// `city_id` between the sorted split points `bounds`, all at once, and decodes each row.
async fn read_latest<T>(
    session: &CassandraSession,
    country: &str,
    columns: &str,
    bounds: &[i64],
    decode: fn(&Row) -> anyhow::Result<T>,
) -> anyhow::Result<Vec<T>> {
    let mut slices = Vec::with_capacity(bounds.len() + 1);
    for i in 0..=bounds.len() {
        let (low, high) = (i.checked_sub(1).map(|j| bounds[j]), bounds.get(i).copied());
        let mut cql = format!("SELECT {columns} FROM latest WHERE country = ?");
        let mut values = vec![Value::new(country)];
        if let Some(low) = low {
            cql.push_str(" AND city_id >= ?");
            values.push(Value::new(low));
        }
        if let Some(high) = high {
            cql.push_str(" AND city_id < ?");
            values.push(Value::new(high));
        }
        slices.push(read_rows(session, cql, values, decode, country));
    }
    let found = futures::future::try_join_all(slices).await?;
    Ok(found.into_iter().flatten().collect())
}

/// Runs one read and decodes its rows. A plain `async fn` rather than a closure's future: the
/// dashboard's task must be `Send`, which the compiler cannot prove through the closure.
async fn read_rows<T>(
    session: &CassandraSession,
    cql: String,
    values: Vec<Value>,
    decode: fn(&Row) -> anyhow::Result<T>,
    country: &str,
) -> anyhow::Result<Vec<T>> {
    let found = rows(
        query_with_values(session, &cql, QueryValues::SimpleValues(values))
            .await
            .with_context(|| format!("reading latest for {country}"))?,
    )?;
    found.iter().map(decode).collect()
}

/// The newest reading of every city of one country: one `latest` partition.
pub async fn latest(session: &CassandraSession, country: &str) -> anyhow::Result<Vec<Reading>> {
    latest_in(session, country, &[]).await
}

/// [`latest`], read in the ranges cut by `bounds` (see [`slice_bounds`]).
pub async fn latest_in(
    session: &CassandraSession,
    country: &str,
    bounds: &[i64],
) -> anyhow::Result<Vec<Reading>> {
    read_latest(session, country, READING_COLUMNS, bounds, from_row).await
}

/// [`latest_in`] for the dashboard: a row with NULL required columns comes back as it is.
pub async fn latest_stored_in(
    session: &CassandraSession,
    country: &str,
    bounds: &[i64],
) -> anyhow::Result<Vec<Stored>> {
    read_latest(session, country, READING_COLUMNS, bounds, stored_from_row).await
}

/// `city_id` and `observed_at` of every city of one country: the cheap half of reading a
/// `latest` partition, to tell which rows changed since the last read. Read in the ranges cut
/// by `bounds` (see [`slice_bounds`]). `observed_at` may be NULL (see [`Stored`]).
pub async fn latest_versions(
    session: &CassandraSession,
    country: &str,
    bounds: &[i64],
) -> anyhow::Result<Vec<(i64, Option<DateTime<Utc>>)>> {
    read_latest(session, country, "city_id, observed_at", bounds, |row| {
        Ok((row.get_r_by_index(0)?, row.get_by_index(1)?))
    })
    .await
}

/// The `latest` rows of these cities of one country, in `IN` lists of 100 (a list stays
/// short), [`LATEST_SLICES`] lists at once.
pub async fn latest_of(
    session: &CassandraSession,
    country: &str,
    city_ids: &[i64],
) -> anyhow::Result<Vec<Reading>> {
    read_latest_of(session, country, city_ids, from_row).await
}

/// [`latest_of`] for the dashboard: a row with NULL required columns comes back as it is.
pub async fn latest_stored_of(
    session: &CassandraSession,
    country: &str,
    city_ids: &[i64],
) -> anyhow::Result<Vec<Stored>> {
    read_latest_of(session, country, city_ids, stored_from_row).await
}

async fn read_latest_of<T: Send>(
    session: &CassandraSession,
    country: &str,
    city_ids: &[i64],
    decode: fn(&Row) -> anyhow::Result<T>,
) -> anyhow::Result<Vec<T>> {
    let chunks = city_ids.chunks(100).map(|chunk| {
        // Integers only: nothing in the list can change the statement.
        let list = chunk
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let cql = format!(
            "SELECT {READING_COLUMNS} FROM latest WHERE country = ? AND city_id IN ({list})"
        );
        read_rows(session, cql, vec![Value::new(country)], decode, country)
    });
    let found: Vec<Vec<T>> = futures::stream::iter(chunks.collect::<Vec<_>>())
        .buffer_unordered(LATEST_SLICES)
        .try_collect()
        .await?;
    Ok(found.into_iter().flatten().collect())
}

/// One city's readings observed at or after `since`, newest first: the `readings` partitions
/// of each UTC day from `since` to now. Rows with a NULL required column are left out.
pub async fn history(
    session: &CassandraSession,
    city_id: i64,
    since: DateTime<Utc>,
) -> anyhow::Result<Vec<Reading>> {
    let mut out = Vec::new();
    let today = Utc::now().date_naive();
    let mut day = today;
    while day >= since.date_naive() {
        let found = rows(
            query_with_values(
                session,
                &format!(
                    "SELECT {READING_COLUMNS} FROM readings WHERE city_id = ? AND day = ? AND observed_at >= ?"
                ),
                QueryValues::SimpleValues(vec![
                    Value::new(city_id),
                    cql_date(day),
                    Value::new(since),
                ]),
            )
            .await
            .with_context(|| format!("reading readings of city {city_id} on {day}"))?,
        )?;
        // A row others wrote without a temperature or humidity has no point on a chart.
        for row in &found {
            let stored = stored_from_row(row)?;
            if stored.missing == Missing::default() {
                out.push(stored.reading);
            }
        }
        day = match day.pred_opt() {
            Some(d) => d,
            None => break,
        };
    }
    Ok(out)
}

/// Every reading of one city on one UTC day, newest first (tests and tools).
pub async fn readings_on(
    session: &CassandraSession,
    city_id: i64,
    day: NaiveDate,
) -> anyhow::Result<Vec<Reading>> {
    let found = rows(
        query_with_values(
            session,
            &format!("SELECT {READING_COLUMNS} FROM readings WHERE city_id = ? AND day = ?"),
            QueryValues::SimpleValues(vec![Value::new(city_id), cql_date(day)]),
        )
        .await
        .with_context(|| format!("reading readings of city {city_id} on {day}"))?,
    )?;
    found.iter().map(from_row).collect()
}
