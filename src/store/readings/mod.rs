//! The `readings` and `latest` tables: writing a [`Reading`] to both (prepared once,
//! idempotent) and reading them back for the dashboard.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use cdrs_tokio::cluster::Murmur3Token;
use cdrs_tokio::frame::message_batch::{BatchQuery, BatchQuerySubj, BatchType, BodyReqBatch};
use cdrs_tokio::query::batch_query_builder::QueryBatchPreparedStatement;
use cdrs_tokio::query::{PreparedQuery, QueryBatch, QueryValues};
use cdrs_tokio::statement::StatementParamsBuilder;
use cdrs_tokio::types::value::Value;
use cdrs_tokio::types::IntoRustByIndex;
use chrono::{DateTime, NaiveDate, Utc};

use super::countries::{Homes, Placement};
use super::grouped::Table;
use super::precedence::Stamp;
use super::routing;
use super::{describe, rows, CassandraSession, REQUEST_TIMEOUT};
use crate::model::Reading;

/// The reading's columns, in the order [`values`] binds them.
const READING_COLUMNS: &str = "city_id, day, observed_at, source, city_name, country, lat, lon, \
     fetched_at, temperature, feels_like, temp_min, temp_max, humidity, pressure, wind_speed, \
     wind_deg, wind_gust, clouds, visibility, rain_1h, rain_3h, snow_1h, snow_3h, weather_id, \
     weather_main, weather_description, weather_icon, sunrise, sunset, timezone, ingested_at";
const READING_COLUMN_COUNT: usize = 32;

/// Writes readings with statements prepared once. Cheap to share through `Arc`.
///
/// Both tables are written `USING TIMESTAMP` the record's [`Stamp`] (its natural
/// [`super::precedence::write_timestamp`], or the one the consumer's memo decided), so of several
/// records written to one row the same one wins, whole, whatever their order: in `latest`
/// the newest observation, and of two records of one observation the later fetch. A whole
/// record wins its absent fields too: `latest` writes them as nulls (a newer reading without
/// rain must clear the old rain); `readings` leaves them unset (no tombstone per absent
/// field) and deletes the row just before its own timestamp, in the same mutation, which
/// clears what an outranked record wrote and nothing of a record that outranks it.
///
/// A city keeps one `latest` row, in the country of its newest reading: see
/// [`super::countries`]. The countries each city has had a row in are read from
/// `city_countries` once per city and process, then remembered (about 150 bytes a city).
pub struct ReadingWriter {
    session: Arc<CassandraSession>,
    insert_reading: PreparedQuery,
    clear_reading: PreparedQuery,
    insert_latest: PreparedQuery,
    clear_latest: PreparedQuery,
    record_country: PreparedQuery,
    countries_of: PreparedQuery,
    written_in: PreparedQuery,
    homes: std::sync::Mutex<Homes>,
}

impl ReadingWriter {
    /// Prepares the inserts. Fails when the tables do not exist (migrate first).
    pub async fn prepare(session: Arc<CassandraSession>) -> anyhow::Result<Self> {
        let placeholders = vec!["?"; READING_COLUMN_COUNT].join(", ");
        let insert_reading = prepare(
            &session,
            format!(
                "INSERT INTO readings ({READING_COLUMNS}) VALUES ({placeholders}) USING TIMESTAMP ?"
            ),
        )
        .await?;
        let clear_reading = prepare(
            &session,
            "DELETE FROM readings USING TIMESTAMP ? WHERE city_id = ? AND day = ? AND observed_at = ?"
                .to_string(),
        )
        .await?;
        let insert_latest = prepare(
            &session,
            format!(
                "INSERT INTO latest ({READING_COLUMNS}) VALUES ({placeholders}) USING TIMESTAMP ?"
            ),
        )
        .await?;
        let clear_latest = prepare(
            &session,
            "DELETE FROM latest USING TIMESTAMP ? WHERE country = ? AND city_id = ?".to_string(),
        )
        .await?;
        let record_country = prepare(
            &session,
            "INSERT INTO city_countries (city_id, country) VALUES (?, ?)".to_string(),
        )
        .await?;
        // Read once per city and process; prepared and routed like the writes, so that at
        // RF 3 a backlog's first groups do not wait on CQL parsed anew at a random node.
        let countries_of = prepare(
            &session,
            "SELECT country FROM city_countries WHERE city_id = ?".to_string(),
        )
        .await?;
        let written_in = prepare(
            &session,
            "SELECT WRITETIME(city_name) FROM latest WHERE country = ? AND city_id = ?".to_string(),
        )
        .await?;
        may_write(&session).await?;
        Ok(Self {
            session,
            insert_reading,
            clear_reading,
            insert_latest,
            clear_latest,
            record_country,
            countries_of,
            written_in,
            homes: std::sync::Mutex::new(Homes::default()),
        })
    }

    /// Writes one reading to `readings` and `latest` at its natural timestamp (no memo: for
    /// tools and tests). Idempotent: writing it again changes nothing, and a record that
    /// outranks it is never replaced by it.
    pub async fn write(&self, reading: &Reading, ingested_at: DateTime<Utc>) -> anyhow::Result<()> {
        let once = std::iter::once((reading, Stamp::natural(reading)));
        let (a, b) = tokio::join!(
            self.write_rows(Table::Readings, once.clone(), ingested_at),
            self.write_rows(Table::Latest, once, ingested_at)
        );
        a?;
        b?;
        Ok(())
    }

    /// Writes these readings' rows of one partition of `table` (see [`super::grouped`]) as one
    /// request: one `latest` row as a plain insert, anything else as an unlogged batch, which
    /// Cassandra applies as one mutation. Each statement carries its own `USING TIMESTAMP`
    /// (the batch sets none): its stamp's. A row whose stamp says it stays out of `latest` is
    /// left out there. Idempotent, as [`Self::write`].
    pub async fn write_rows<'a>(
        &self,
        table: Table,
        rows: impl ExactSizeIterator<Item = (&'a Reading, Stamp)>,
        ingested_at: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let what = match table {
            Table::Readings => "writing to readings",
            Table::Latest => "writing to latest",
        };
        let (rows, stamps): (Vec<&Reading>, Vec<Stamp>) = rows
            .filter(|(_, stamp)| table == Table::Readings || stamp.latest)
            .unzip();
        let mut statements: Vec<(&PreparedQuery, Vec<Value>)> = Vec::with_capacity(2 * rows.len());
        // Requests to other partitions: rows a city left in other countries, new countries.
        let mut elsewhere: Vec<(&PreparedQuery, Vec<Value>, Murmur3Token)> = Vec::new();
        let mut recorded: Vec<(i64, &str)> = Vec::new();
        let placements = match table {
            Table::Latest => self.place(&rows, &stamps).await.context(what)?,
            Table::Readings => Vec::new(),
        };
        for (i, (r, stamp)) in rows.iter().zip(&stamps).enumerate() {
            let timestamp = stamp.timestamp;
            match table {
                Table::Readings => {
                    statements.push((
                        &self.clear_reading,
                        vec![
                            Value::new(timestamp - 1),
                            Value::new(r.city_id),
                            cql_date(r.day()),
                            Value::new(r.observed_at),
                        ],
                    ));
                    let mut v = values(r, ingested_at, Value::NotSet);
                    v.push(Value::new(timestamp));
                    statements.push((&self.insert_reading, v));
                }
                Table::Latest => {
                    let Some(placement) = placements.get(i) else {
                        continue;
                    };
                    for country in &placement.clear {
                        elsewhere.push((
                            &self.clear_latest,
                            vec![
                                Value::new(timestamp),
                                Value::new(country.as_str()),
                                Value::new(r.city_id),
                            ],
                            latest_token(country),
                        ));
                    }
                    if placement.record {
                        elsewhere.push((
                            &self.record_country,
                            vec![Value::new(r.city_id), Value::new(r.country.as_str())],
                            city_countries_token(r.city_id),
                        ));
                        recorded.push((r.city_id, r.country.as_str()));
                    }
                    if placement.write {
                        let mut v = values(r, ingested_at, Value::Null);
                        v.push(Value::new(timestamp));
                        statements.push((&self.insert_latest, v));
                    }
                }
            }
        }
        // The other partitions' requests go beside this partition's, not before it.
        let side = futures::future::try_join_all(
            elsewhere
                .into_iter()
                .map(|(prepared, values, token)| self.execute(prepared, values, token)),
        );
        // Every row here is of one partition (grouped::plan): the first one's is the token.
        let token = rows.first().map(|r| match table {
            Table::Readings => readings_token(r.city_id, r.day()),
            Table::Latest => latest_token(&r.country),
        });
        let this = async {
            match token {
                Some(token) => self.send(statements, token).await,
                None => Ok(()),
            }
        };
        tokio::try_join!(side, this).context(what)?;
        if !recorded.is_empty() {
            let mut homes = self.homes.lock().unwrap_or_else(|e| e.into_inner());
            for (city_id, country) in recorded {
                homes.recorded(city_id, country);
            }
        }
        Ok(())
    }

    /// Sends statements of the partition of `token` as one request, to one of its replicas
    /// first: one as a plain statement, more as an unlogged batch.
    async fn send(
        &self,
        mut statements: Vec<(&PreparedQuery, Vec<Value>)>,
        token: Murmur3Token,
    ) -> anyhow::Result<()> {
        if statements.len() <= 1 {
            return match statements.pop() {
                Some((prepared, values)) => self.execute(prepared, values, token).await,
                None => Ok(()),
            };
        }
        let mut prepared_queries = HashMap::new();
        let queries = statements
            .into_iter()
            .map(|(prepared, values)| {
                // For the driver to prepare it again on a node that lost it.
                prepared_queries
                    .entry(prepared.id.clone())
                    .or_insert_with(|| {
                        QueryBatchPreparedStatement::new(
                            prepared.query.clone(),
                            prepared.keyspace.clone(),
                        )
                    });
                BatchQuery {
                    subject: BatchQuerySubj::PreparedId(prepared.id.clone()),
                    values: QueryValues::SimpleValues(values),
                }
            })
            .collect();
        let batch = QueryBatch {
            request: BodyReqBatch {
                batch_type: BatchType::Unlogged,
                queries,
                consistency: self.session.consistency(),
                serial_consistency: None,
                timestamp: None,
                keyspace: None,
                now_in_seconds: None,
            },
            prepared_queries,
        };
        let params = StatementParamsBuilder::new()
            .with_token(token)
            .idempotent(true)
            .build();
        // The driver drops the params' token for a batch: `routed` hands it to the planning.
        answered(
            routing::routed(
                token,
                tokio::time::timeout(
                    REQUEST_TIMEOUT,
                    self.session.batch_with_params(batch, &params),
                ),
            )
            .await,
        )
    }

    /// What writing these rows to `latest` takes, city by city (see [`Homes::place_all`]); the
    /// countries of a city not met before are read first.
    async fn place(&self, rows: &[&Reading], stamps: &[Stamp]) -> anyhow::Result<Vec<Placement>> {
        let mut unknown: Vec<i64> = {
            let mut homes = self.homes.lock().unwrap_or_else(|e| e.into_inner());
            homes.follow(crate::assignment::generation());
            rows.iter()
                .map(|r| r.city_id)
                .filter(|&id| !homes.knows(id))
                .collect()
        };
        unknown.sort_unstable();
        unknown.dedup();
        let found =
            futures::future::try_join_all(unknown.iter().map(|&id| self.homes_of(id))).await?;
        let mut homes = self.homes.lock().unwrap_or_else(|e| e.into_inner());
        for (id, found) in unknown.into_iter().zip(found) {
            homes.learn(id, found);
        }
        Ok(homes.place_all(
            rows.iter()
                .zip(stamps)
                .map(|(r, stamp)| (r.city_id, r.country.as_str(), stamp.timestamp)),
        ))
    }

    /// The countries `city_id` has had a `latest` row in, each with its row's write
    /// timestamp (0 when the row is gone).
    async fn homes_of(&self, city_id: i64) -> anyhow::Result<Vec<(String, i64)>> {
        let found = self
            .fetch(
                &self.countries_of,
                vec![Value::new(city_id)],
                city_countries_token(city_id),
            )
            .await
            .with_context(|| format!("reading the countries of city {city_id}"))?;
        let mut homes = Vec::with_capacity(found.len());
        for row in &found {
            let country: String = row.get_r_by_index(0)?;
            let written = self
                .fetch(
                    &self.written_in,
                    vec![Value::new(country.as_str()), Value::new(city_id)],
                    latest_token(&country),
                )
                .await
                .with_context(|| format!("reading city {city_id} in latest of {country}"))?;
            let newest: Option<i64> = match written.first() {
                Some(row) => row.get_by_index(0)?,
                None => None,
            };
            homes.push((country, newest.unwrap_or(0)));
        }
        Ok(homes)
    }

    /// Runs one prepared read of the partition of `token`, to one of its replicas first.
    async fn fetch(
        &self,
        prepared: &PreparedQuery,
        values: Vec<Value>,
        token: Murmur3Token,
    ) -> anyhow::Result<Vec<cdrs_tokio::types::rows::Row>> {
        let params = StatementParamsBuilder::new()
            .with_consistency(self.session.consistency())
            .with_values(QueryValues::SimpleValues(values))
            .with_token(token)
            .idempotent(true)
            .build();
        let answer = routing::routed(
            token,
            tokio::time::timeout(
                REQUEST_TIMEOUT,
                self.session.exec_with_params(prepared, &params),
            ),
        )
        .await;
        match answer {
            Ok(Ok(envelope)) => rows(envelope),
            Ok(Err(err)) => Err(anyhow!(describe(&err))),
            Err(_) => Err(anyhow!(
                "no answer from Cassandra within {} s",
                REQUEST_TIMEOUT.as_secs()
            )),
        }
    }

    /// Runs one statement writing to the partition of `token`, to one of its replicas first.
    async fn execute(
        &self,
        prepared: &PreparedQuery,
        values: Vec<Value>,
        token: Murmur3Token,
    ) -> anyhow::Result<()> {
        let params = StatementParamsBuilder::new()
            .with_consistency(self.session.consistency())
            .with_values(QueryValues::SimpleValues(values))
            .with_token(token)
            .idempotent(true)
            .build();
        answered(
            routing::routed(
                token,
                tokio::time::timeout(
                    REQUEST_TIMEOUT,
                    self.session.exec_with_params(prepared, &params),
                ),
            )
            .await,
        )
    }
}

/// The token of a `readings` partition, `(city_id, day)`.
pub fn readings_token(city_id: i64, day: NaiveDate) -> Murmur3Token {
    routing::token(&[&city_id.to_be_bytes(), &cql_date_bytes(day)])
}

/// The token of a `latest` partition, `country`.
pub fn latest_token(country: &str) -> Murmur3Token {
    routing::token(&[country.as_bytes()])
}

/// The token of a `city_countries` partition, `city_id`.
pub fn city_countries_token(city_id: i64) -> Murmur3Token {
    routing::token(&[&city_id.to_be_bytes()])
}

/// A write's answer, or its lack, as one error line.
fn answered<T>(
    answer: Result<cdrs_tokio::error::Result<T>, tokio::time::error::Elapsed>,
) -> anyhow::Result<()> {
    match answer {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(anyhow!(describe(&err))),
        Err(_) => Err(anyhow!(
            "no answer from Cassandra within {} s",
            REQUEST_TIMEOUT.as_secs()
        )),
    }
}

/// Fails naming the role, the permission and the table when this login may not write: a
/// missing permission is the user's to fix, not an outage to wait out. The conditional
/// updates of a row that does not exist write nothing.
async fn may_write(session: &CassandraSession) -> anyhow::Result<()> {
    for (table, key) in [
        (
            "readings",
            "city_id = -1 AND day = '1970-01-01' AND observed_at = 0",
        ),
        ("latest", "country = '--' AND city_id = -1"),
    ] {
        let cql = format!("UPDATE {table} SET city_name = '' WHERE {key} IF EXISTS");
        let answer = tokio::time::timeout(REQUEST_TIMEOUT, session.query(&cql)).await;
        if let Ok(Err(cdrs_tokio::error::Error::Server { body, .. })) = &answer {
            if matches!(
                body.ty,
                cdrs_tokio::frame::message_error::ErrorType::Unauthorized
            ) {
                anyhow::bail!(
                    "Cassandra refuses writes to {table}: {}",
                    crate::text::printable(&body.message)
                );
            }
        }
    }
    Ok(())
}

async fn prepare(session: &CassandraSession, cql: String) -> anyhow::Result<PreparedQuery> {
    match tokio::time::timeout(REQUEST_TIMEOUT, session.prepare(cql.as_str())).await {
        Ok(Ok(prepared)) => Ok(prepared),
        Ok(Err(err)) => Err(anyhow!("preparing `{cql}`: {}", describe(&err))),
        Err(_) => Err(anyhow!("preparing `{cql}`: no answer from Cassandra")),
    }
}

/// CQL `date`: days since 1970-01-01, shifted by 2^31, as an unsigned 32-bit integer.
fn cql_date(day: NaiveDate) -> Value {
    Value::new(cql_date_number(day))
}

fn cql_date_number(day: NaiveDate) -> u32 {
    let days = (day - NaiveDate::default()).num_days();
    (days + (1_i64 << 31)) as u32
}

/// A CQL `date` as its 4 bytes on the wire (big-endian).
fn cql_date_bytes(day: NaiveDate) -> [u8; 4] {
    cql_date_number(day).to_be_bytes()
}

fn opt<T: Into<cdrs_tokio::types::value::Bytes>>(value: Option<T>, absent: &Value) -> Value {
    match value {
        Some(v) => Value::new(v),
        None => absent.clone(),
    }
}

/// The reading's values in [`READING_COLUMNS`] order; `absent` stands for a missing field.
fn values(r: &Reading, ingested_at: DateTime<Utc>, absent: Value) -> Vec<Value> {
    let a = &absent;
    vec![
        Value::new(r.city_id),
        cql_date(r.day()),
        Value::new(r.observed_at),
        opt(r.source.clone(), a),
        Value::new(r.city_name.clone()),
        Value::new(r.country.clone()),
        opt(r.lat, a),
        opt(r.lon, a),
        opt(r.fetched_at, a),
        Value::new(r.temperature),
        opt(r.feels_like, a),
        opt(r.temp_min, a),
        opt(r.temp_max, a),
        Value::new(r.humidity),
        opt(r.pressure, a),
        opt(r.wind_speed, a),
        opt(r.wind_deg, a),
        opt(r.wind_gust, a),
        opt(r.clouds, a),
        opt(r.visibility, a),
        opt(r.rain_1h, a),
        opt(r.rain_3h, a),
        opt(r.snow_1h, a),
        opt(r.snow_3h, a),
        opt(r.weather_id, a),
        opt(r.weather_main.clone(), a),
        opt(r.weather_description.clone(), a),
        opt(r.weather_icon.clone(), a),
        opt(r.sunrise, a),
        opt(r.sunset, a),
        opt(r.timezone, a),
        Value::new(ingested_at),
    ]
}

// Reading rows back (the dashboard, tests): their own file.
mod read;
pub use read::*;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cql_dates_count_days_from_the_epoch_shifted_by_two_to_the_31() {
        let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        assert!(matches!(cql_date(epoch), Value::Some(b) if b == 0x8000_0000_u32.to_be_bytes()));
        let next = NaiveDate::from_ymd_opt(1970, 1, 2).unwrap();
        assert!(matches!(cql_date(next), Value::Some(b) if b == 0x8000_0001_u32.to_be_bytes()));
    }

    /// The range of each id among the split points: which slice reads it.
    fn slice_of(bounds: &[i64], id: i64) -> usize {
        bounds.iter().filter(|&&b| b <= id).count()
    }

    #[test]
    fn slice_bounds_cut_the_ids_into_equal_ranges() {
        let ids: Vec<i64> = (0..20_000).map(|i| 2_900_000 + 7 * i).rev().collect();
        let bounds = slice_bounds(ids.iter().copied(), 4);
        assert_eq!(bounds.len(), 3);
        assert!(bounds.windows(2).all(|w| w[0] < w[1]), "{bounds:?}");
        let mut sizes = [0; 4];
        for &id in &ids {
            sizes[slice_of(&bounds, id)] += 1;
        }
        assert_eq!(sizes, [5_000; 4]);
    }

    #[test]
    fn slice_bounds_with_few_ids_never_make_an_empty_or_repeated_range() {
        assert_eq!(slice_bounds([], 4), Vec::<i64>::new());
        assert_eq!(slice_bounds([42], 4), Vec::<i64>::new());
        assert_eq!(slice_bounds([3, 1], 4), vec![3]);
        assert_eq!(slice_bounds([5, 1, 9], 4), vec![5, 9]);
        assert_eq!(slice_bounds([7, 7, 7, 7, 7, 7, 7, 7], 4), Vec::<i64>::new());
        assert_eq!(slice_bounds([1, 2, 3], 1), Vec::<i64>::new());
        assert_eq!(slice_bounds([1, 2, 3], 0), Vec::<i64>::new());
    }

    #[test]
    fn every_column_gets_a_value() {
        let r = Reading::from_json(crate::model::tests::PARIS.as_bytes()).unwrap();
        let v = values(&r, Utc::now(), Value::NotSet);
        assert_eq!(v.len(), READING_COLUMN_COUNT);
        assert_eq!(READING_COLUMNS.split(',').count(), READING_COLUMN_COUNT);
        assert!(matches!(v[17], Value::NotSet), "wind_gust is absent");
    }
}
