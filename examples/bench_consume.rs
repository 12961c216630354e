//! The Rust side of `scripts/bench-consume` (issues 5 and 18, speed): fills a topic with
//! synthetic readings, measures the write ceilings straight from memory (the old one: each
//! reading as two single-row writes through [`ReadingWriter::write`]; the new one: groups
//! through [`DurableWriter`], one batch per partition, as `meteo consume` writes them), checks
//! what a run stored, measures the latency from Kafka's acknowledgement to `latest`, and
//! cleans up. Prints `key=value` lines on stdout for the script; progress goes to stderr.
//!
//! The data sets are pure functions of the reading's index, so `fill`, `ceiling` and `verify`
//! agree without sharing a file. SHAPE `backlog`: reading `i` is city `i % CITIES`, observed
//! `i / CITIES` cadences before a fixed time, so every (city, observed_at) is distinct and a
//! `(city, day)` partition of `readings` gets many rows. SHAPE `live`: reading `i` is city `i`
//! of country `COUNTRIES[i % 10]`, all observed at one time: one row per city per ten minutes,
//! as a live stream brings them, so only `latest` can group. SHAPE `lz4` (issue 22, memory):
//! the backlog over 2,000 cities, written as most producers write, with
//! `compression.type=lz4` and `linger.ms=50`: batches of many readings, compressed.
//!
//! Usage (Kafka from KAFKA_BROKERS, Cassandra from CASSANDRA_NODES):
//!
//! ```text
//! bench_consume fill TOPIC N SHAPE
//! bench_consume ceiling KEYSPACE N CONCURRENCY SHAPE [TOPIC]   (TOPIC: its readings, in consumer order)
//! bench_consume grouped-ceiling KEYSPACE N CONCURRENCY SHAPE
//! bench_consume verify KEYSPACE N SHAPE
//! bench_consume latency TOPIC KEYSPACE RATE SECONDS
//! bench_consume timestamps SHAPE N   (or `timestamps -`: readings as JSON lines on stdin)
//! bench_consume drop-keyspaces KEYSPACE...
//! bench_consume delete-topics TOPIC...
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use cdrs_tokio::query::{PreparedQuery, QueryValues};
use cdrs_tokio::statement::StatementParamsBuilder;
use cdrs_tokio::types::value::Value;
use cdrs_tokio::types::IntoRustByIndex;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use futures::StreamExt;
use meteo::city::City;
use meteo::kafka::{Brokers, KafkaSettings, TopicName};
use meteo::model::Reading;
use meteo::store::durable::DurableWriter;
use meteo::store::readings::ReadingWriter;
use meteo::store::reconnecting::ReconnectingWriter;
use meteo::store::CassandraSession;
use meteo::store::{CassandraSettings, Keyspace};
use meteo::synthetic::Synthetic;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use tokio::task::JoinSet;

/// Distinct cities of the data set; the rest of the distinctness comes from observation times.
const CITIES: usize = 1000;
/// Distinct cities of the lz4 backlog, as the issue describes it.
const LZ4_CITIES: usize = 2000;
/// The data set's city ids start above this (no real OpenWeatherMap id is this large).
const CITY_BASE: i64 = 30_000_000;
/// The latency run's city ids start above this: one new `latest` row per reading.
const LATENCY_CITY_BASE: i64 = 40_000_000;
/// The live shape's city ids start above this.
const LIVE_CITY_BASE: i64 = 50_000_000;
/// The live shape's countries, one `latest` partition each.
const COUNTRIES: [&str; 10] = ["FR", "DE", "IT", "ES", "GB", "US", "IN", "CN", "BR", "RU"];
/// Readings in a group of the grouped ceiling, two groups at once: as `meteo consume` groups
/// a backlog (its MAX_IN_FLIGHT and MAX_GROUPS).
const GROUP: usize = 5_000;
/// OpenWeatherMap's update cadence, seconds.
const CADENCE: i64 = 600;
/// Reads of a partition's count (or of one `latest` row) at once.
const READ_CONCURRENCY: usize = 64;

fn usage() -> anyhow::Error {
    anyhow::anyhow!(
        "usage: bench_consume fill TOPIC N SHAPE | ceiling KEYSPACE N CONCURRENCY SHAPE [TOPIC] \
         | grouped-ceiling KEYSPACE N CONCURRENCY SHAPE | verify KEYSPACE N SHAPE \
         | latency TOPIC KEYSPACE RATE SECONDS | timestamps SHAPE N | timestamps - \
         | drop-keyspaces KS... | delete-topics T..."
    )
}

#[tokio::main]
async fn main() {
    if let Err(err) = run().await {
        eprintln!("bench_consume: error: {err:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).ok_or_else(usage);
    let number = |i: usize| -> anyhow::Result<usize> {
        arg(i)?
            .parse()
            .with_context(|| format!("argument {i} is not a number"))
    };
    match arg(0)? {
        "fill" => fill(arg(1)?, number(2)?, shape(arg(3)?)?).await,
        "ceiling" => {
            ceiling(
                arg(1)?,
                number(2)?,
                number(3)?,
                shape(arg(4)?)?,
                args.get(5).map(String::as_str),
            )
            .await
        }
        "grouped-ceiling" => {
            grouped_ceiling(arg(1)?, number(2)?, number(3)?, shape(arg(4)?)?).await
        }
        "verify" => verify(arg(1)?, number(2)?, shape(arg(3)?)?).await,
        "latency" => latency(arg(1)?, arg(2)?, number(3)?, number(4)?).await,
        "timestamps" if arg(1)? == "-" => timestamps_of_stdin(),
        "timestamps" => timestamps(shape(arg(1)?)?, number(2)?),
        "drop-keyspaces" => drop_keyspaces(&args[1..]).await,
        "delete-topics" => delete_topics(&args[1..]).await,
        _ => Err(usage()),
    }
}

fn kafka(topic: &str) -> KafkaSettings {
    let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    KafkaSettings::new(
        Brokers::parse(&brokers).expect("KAFKA_BROKERS"),
        TopicName::parse(topic).expect("a topic name"),
    )
}

fn cassandra(keyspace: &str) -> CassandraSettings {
    let keyspace = Keyspace::parse(keyspace).expect("a keyspace name");
    CassandraSettings {
        nodes: std::env::var("CASSANDRA_NODES")
            .unwrap_or_else(|_| "127.0.0.1:9042".into())
            .split(',')
            .map(str::to_string)
            .collect(),
        user: std::env::var("CASSANDRA_USER").ok(),
        password: std::env::var("CASSANDRA_PASSWORD")
            .ok()
            .map(meteo::secret::Secret::new),
        ..CassandraSettings::new(Vec::new(), keyspace)
    }
}

/// The newest observation time of the data set: a fixed instant, so every command agrees.
fn newest() -> i64 {
    Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
        .single()
        .map_or(0, |t| t.timestamp())
}

/// The data sets (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Backlog,
    Live,
    Lz4,
}

fn shape(name: &str) -> anyhow::Result<Shape> {
    match name {
        "backlog" => Ok(Shape::Backlog),
        "live" => Ok(Shape::Live),
        "lz4" => Ok(Shape::Lz4),
        _ => bail!("shape {name:?} is none of backlog, live and lz4"),
    }
}

fn city(id: i64, k: usize, country: &str) -> City {
    City {
        id,
        name: format!("Benchville {k}"),
        country: country.into(),
        lat: 42.5 + (k % 97) as f64 * 0.09,
        lon: -4.5 + (k % 89) as f64 * 0.14,
    }
}

/// Reading `i`'s city, country and observation time in the data set `shape`.
fn place(shape: Shape, i: usize) -> (i64, usize, &'static str, i64) {
    match shape {
        Shape::Backlog | Shape::Lz4 => {
            let cities = if shape == Shape::Lz4 {
                LZ4_CITIES
            } else {
                CITIES
            };
            let k = i % cities;
            let dt = newest() - (i / cities) as i64 * CADENCE;
            (CITY_BASE + k as i64, k, "FR", dt)
        }
        Shape::Live => (LIVE_CITY_BASE + i as i64, i, COUNTRIES[i % 10], newest()),
    }
}

/// Reading `i` of the data set `shape` (see the module doc).
fn reading(source: &Synthetic, i: usize, shape: Shape) -> Reading {
    let (id, k, country, dt) = place(shape, i);
    let fetched_at = Utc.timestamp_opt(dt + 60, 0).single().unwrap_or_default();
    source.reading(&city(id, k, country), dt, fetched_at)
}

fn source() -> Synthetic {
    Synthetic::new(5, Duration::from_secs(CADENCE as u64))
}

/// A producer like `meteo produce`'s: idempotent, acks from every replica, 5 ms linger. For
/// the lz4 shape, like most other producers: lz4 batches gathered for 50 ms.
fn producer(topic: &str, shape: Shape) -> anyhow::Result<FutureProducer> {
    let mut config = meteo::kafka::client_config(&kafka(topic));
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("allow.auto.create.topics", "false");
    if shape == Shape::Lz4 {
        config.set("compression.type", "lz4").set("linger.ms", "50");
    }
    config.create().context("creating the Kafka producer")
}

/// Enqueues one record, waiting while librdkafka's queue is full; returns its delivery future.
async fn send(
    producer: &FutureProducer,
    topic: &str,
    key: &[u8],
    value: &[u8],
) -> anyhow::Result<rdkafka::producer::DeliveryFuture> {
    let mut record = FutureRecord::<[u8], [u8]>::to(topic)
        .key(key)
        .payload(value);
    loop {
        match producer.send_result(record) {
            Ok(delivery) => return Ok(delivery),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err((err, _)) => bail!("Kafka refused a record: {err}"),
        }
    }
}

async fn acknowledged(delivery: rdkafka::producer::DeliveryFuture) -> anyhow::Result<()> {
    delivery
        .await
        .context("delivery future dropped")?
        .map(|_| ())
        .map_err(|(err, _)| anyhow::anyhow!("Kafka did not acknowledge a record: {err}"))
}

/// Produces the data set's first `n` readings, key = city id, and waits for every ack.
async fn fill(topic: &str, n: usize, shape: Shape) -> anyhow::Result<()> {
    let producer = producer(topic, shape)?;
    let source = source();
    let start = Instant::now();
    let mut deliveries = std::collections::VecDeque::new();
    for i in 0..n {
        let r = reading(&source, i, shape);
        let value = serde_json::to_vec(&r)?;
        deliveries
            .push_back(send(&producer, topic, r.city_id.to_string().as_bytes(), &value).await?);
        // Keep the pending acknowledgements bounded; they arrive in order per partition.
        while deliveries.len() > 50_000 {
            if let Some(d) = deliveries.pop_front() {
                acknowledged(d).await?;
            }
        }
    }
    for d in deliveries {
        acknowledged(d).await?;
    }
    let took = start.elapsed().as_secs_f64();
    eprintln!("bench_consume: produced {n} readings to {topic} in {took:.1} s");
    println!("fill_seconds={took:.3}");
    Ok(())
}

/// Writes the data set's first `n` readings with the consumer's writer, at most `concurrency`
/// at once, each in its own task as the consumer loop does; retries like the consumer. With
/// `from_topic`, the readings are those of the topic, parsed and in the order a consumer gets
/// them, all read before the clock starts (tells Kafka's order and parsing from the loop).
async fn ceiling(
    keyspace: &str,
    n: usize,
    concurrency: usize,
    shape: Shape,
    from_topic: Option<&str>,
) -> anyhow::Result<()> {
    let readings: Vec<Reading> = match from_topic {
        Some(topic) => read_topic(topic, n).await?,
        None => {
            let source = source();
            (0..n).map(|i| reading(&source, i, shape)).collect()
        }
    };
    let session = meteo::store::connect_keyspace(&cassandra(keyspace)).await?;
    let writer = Arc::new(ReadingWriter::prepare(session).await?);
    let start = Instant::now();
    // On a runtime worker, like the consumer loop: the loop's wake-ups stay on the runtime.
    tokio::spawn(write_all(writer, readings, concurrency)).await??;
    let took = start.elapsed().as_secs_f64();
    eprintln!(
        "bench_consume: wrote {n} readings at concurrency {concurrency} in {took:.1} s ({:.0}/s)",
        n as f64 / took
    );
    println!("ceiling_seconds={took:.3}");
    Ok(())
}

/// Writes the data set's first `n` readings as `meteo consume` does, without Kafka: in groups
/// of [`GROUP`] in topic order, two at once, each through [`DurableWriter`] (one request per
/// partition, at most `concurrency` requests in flight).
async fn grouped_ceiling(
    keyspace: &str,
    n: usize,
    concurrency: usize,
    shape: Shape,
) -> anyhow::Result<()> {
    let source = source();
    let readings: Vec<Reading> = (0..n).map(|i| reading(&source, i, shape)).collect();
    let writer = Arc::new(DurableWriter::new(
        ReconnectingWriter::connect(&cassandra(keyspace)).await?,
        concurrency,
    ));
    let start = Instant::now();
    let mut groups: Vec<Vec<Reading>> = Vec::new();
    let mut rest = readings.into_iter().peekable();
    while rest.peek().is_some() {
        groups.push(rest.by_ref().take(GROUP).collect());
    }
    tokio::spawn(async move {
        futures::stream::iter(groups)
            .map(|group| {
                let writer = writer.clone();
                async move { writer.write_all_until_stored(group).await }
            })
            .buffer_unordered(2)
            .collect::<Vec<()>>()
            .await
    })
    .await?;
    let took = start.elapsed().as_secs_f64();
    eprintln!(
        "bench_consume: wrote {n} readings in groups in {took:.1} s ({:.0}/s)",
        n as f64 / took
    );
    println!("ceiling_seconds={took:.3}");
    Ok(())
}

/// The ceiling's writes: one task per reading, at most `concurrency` at once.
async fn write_all(
    writer: Arc<ReadingWriter>,
    readings: Vec<Reading>,
    concurrency: usize,
) -> anyhow::Result<()> {
    let mut tasks: JoinSet<anyhow::Result<()>> = JoinSet::new();
    let mut failures = 0_u64;
    for r in readings {
        while tasks.len() >= concurrency {
            if let Some(done) = tasks.join_next().await {
                done??;
            }
        }
        let writer = writer.clone();
        tasks.spawn(async move {
            let mut delay = Duration::from_millis(100);
            for attempt in 1.. {
                match writer.write(&r, Utc::now()).await {
                    Ok(()) => return Ok(()),
                    Err(err) if attempt < 10 => {
                        eprintln!("bench_consume: write failed, retrying: {err:#}");
                        tokio::time::sleep(delay).await;
                        delay *= 2;
                    }
                    Err(err) => return Err(err),
                }
            }
            Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(err) = done? {
            failures += 1;
            eprintln!("bench_consume: {err:#}");
        }
    }
    if failures > 0 {
        bail!("{failures} writes failed");
    }
    Ok(())
}

/// The first `n` readings of `topic` in the order a consumer receives them.
async fn read_topic(topic: &str, n: usize) -> anyhow::Result<Vec<Reading>> {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::message::Message;
    let consumer: StreamConsumer = meteo::kafka::client_config(&kafka(topic))
        .set(
            "group.id",
            format!("bench_consume_reader_{}", std::process::id()),
        )
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    consumer.subscribe(&[topic])?;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let m = consumer.recv().await?;
        out.push(Reading::from_message(m.key(), m.payload())?);
    }
    Ok(out)
}

/// CQL `date`: days since 1970-01-01, shifted by 2^31.
fn cql_date(day: NaiveDate) -> Value {
    let days = (day - NaiveDate::default()).num_days();
    Value::new((days + (1_i64 << 31)) as u32)
}

async fn execute(
    session: &CassandraSession,
    prepared: &PreparedQuery,
    values: Vec<Value>,
) -> anyhow::Result<Vec<cdrs_tokio::types::rows::Row>> {
    let params = StatementParamsBuilder::new()
        .with_values(QueryValues::SimpleValues(values))
        .build();
    let envelope = tokio::time::timeout(
        meteo::store::REQUEST_TIMEOUT,
        session.exec_with_params(prepared, &params),
    )
    .await
    .context("no answer from Cassandra")?
    .map_err(|e| anyhow::anyhow!(meteo::store::describe(&e)))?;
    meteo::store::rows(envelope)
}

async fn prepare(session: &CassandraSession, cql: &str) -> anyhow::Result<PreparedQuery> {
    session
        .prepare(cql)
        .await
        .map_err(|e| anyhow::anyhow!("preparing `{cql}`: {}", meteo::store::describe(&e)))
}

/// One partition's row count and first and last `ingested_at`.
type PartitionSpan = (i64, Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Checks that `readings` holds exactly the data set's first `n` readings (a COUNT per
/// partition, against the count expected there) and prints the first and last `ingested_at`:
/// the span over which the writer wrote them.
async fn verify(keyspace: &str, n: usize, shape: Shape) -> anyhow::Result<()> {
    let mut expected: BTreeMap<(i64, NaiveDate), i64> = BTreeMap::new();
    for i in 0..n {
        let (id, _, _, dt) = place(shape, i);
        let day = Utc
            .timestamp_opt(dt, 0)
            .single()
            .unwrap_or_default()
            .date_naive();
        *expected.entry((id, day)).or_default() += 1;
    }
    let session = meteo::store::connect(&cassandra(keyspace), Some(keyspace)).await?;
    let count = prepare(
        &session,
        "SELECT COUNT(*), MIN(ingested_at), MAX(ingested_at) FROM readings WHERE city_id = ? AND day = ?",
    )
    .await?;
    let results: Vec<anyhow::Result<PartitionSpan>> = futures::stream::iter(expected.iter())
        .map(|(&(city_id, day), &want)| {
            let session = session.clone();
            let count = &count;
            async move {
                let rows =
                    execute(&session, count, vec![Value::new(city_id), cql_date(day)]).await?;
                let row = rows.first().context("COUNT returned no row")?;
                let got: i64 = row.get_r_by_index(0)?;
                if got != want {
                    bail!("city {city_id} on {day}: {got} rows in readings, {want} expected");
                }
                let first: Option<DateTime<Utc>> = row.get_by_index(1)?;
                let last: Option<DateTime<Utc>> = row.get_by_index(2)?;
                Ok((got, first, last))
            }
        })
        .buffer_unordered(READ_CONCURRENCY)
        .collect()
        .await;
    let (mut rows, mut first, mut last) = (0_i64, None::<DateTime<Utc>>, None::<DateTime<Utc>>);
    for result in results {
        let (got, f, l) = result?;
        rows += got;
        first = match (first, f) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        last = last.max(l);
    }
    if rows != n as i64 {
        bail!("{rows} rows in readings, {n} expected");
    }
    let (first, last) = (
        first.context("no ingested_at")?,
        last.context("no ingested_at")?,
    );
    let span = (last - first).num_milliseconds() as f64 / 1000.0;
    eprintln!(
        "bench_consume: {keyspace}.readings holds exactly the {n} readings, in {} partitions; written over {span:.1} s",
        expected.len()
    );
    println!("rows={rows}");
    println!("first_write_ms={}", first.timestamp_millis());
    println!("last_write_ms={}", last.timestamp_millis());
    println!("write_span_seconds={span:.3}");
    Ok(())
}

/// Prints each of the data set's first `n` readings as `write timestamp TAB JSON`: what the
/// Java client's port of [`precedence::write_timestamp`] is checked against.
///
/// [`precedence::write_timestamp`]: meteo::store::precedence::write_timestamp
fn timestamps(shape: Shape, n: usize) -> anyhow::Result<()> {
    let source = source();
    // Spread over the data set: its first readings differ only in city and time.
    let step = (n / 200).max(1);
    for i in (0..n).step_by(step) {
        let r = reading(&source, i, shape);
        let json = serde_json::to_string(&r)?;
        println!("{}\t{json}", meteo::store::precedence::write_timestamp(&r));
    }
    Ok(())
}

/// As [`timestamps`], for the readings given as JSON lines on stdin (hand-made cases).
fn timestamps_of_stdin() -> anyhow::Result<()> {
    for (i, line) in std::io::stdin().lines().enumerate() {
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        let r = Reading::from_json(line.as_bytes())
            .map_err(|e| anyhow::anyhow!("line {}: {e}", i + 1))?;
        println!(
            "{}\t{}",
            meteo::store::precedence::write_timestamp(&r),
            serde_json::to_string(&r)?
        );
    }
    Ok(())
}

/// Produces `rate` new readings a second for `seconds` seconds (one new city each, so each
/// reading makes a new `latest` row) while a consumer runs, and measures for each the time from
/// Kafka's acknowledgement to its row being readable in `latest` (polled every 2 ms).
async fn latency(topic: &str, keyspace: &str, rate: usize, seconds: usize) -> anyhow::Result<()> {
    let producer = producer(topic, Shape::Live)?;
    let session = meteo::store::connect(&cassandra(keyspace), Some(keyspace)).await?;
    let find = Arc::new(
        prepare(
            &session,
            "SELECT observed_at FROM latest WHERE country = 'FR' AND city_id = ?",
        )
        .await?,
    );
    let source = source();
    let total = rate * seconds;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks: JoinSet<anyhow::Result<f64>> = JoinSet::new();
    for k in 0..total {
        tick.tick().await;
        let id = LATENCY_CITY_BASE + k as i64;
        let now = Utc::now();
        let r = source.reading(&city(id, k, "FR"), now.timestamp(), now);
        let value = serde_json::to_vec(&r)?;
        let delivery = send(&producer, topic, id.to_string().as_bytes(), &value).await?;
        let (session, find) = (session.clone(), find.clone());
        tasks.spawn(async move {
            let ack = async {
                acknowledged(delivery).await?;
                Ok::<_, anyhow::Error>(Instant::now())
            };
            let seen = async {
                let deadline = Instant::now() + Duration::from_secs(60);
                loop {
                    if !execute(&session, &find, vec![Value::new(id)])
                        .await?
                        .is_empty()
                    {
                        return Ok::<_, anyhow::Error>(Instant::now());
                    }
                    if Instant::now() > deadline {
                        bail!("city {id} not in latest 60 s after it was sent");
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            };
            let (ack, seen) = tokio::join!(ack, seen);
            let (ack, seen) = (ack?, seen?);
            // Signed: with one broker the consumer may store it before the producer hears back.
            Ok(if seen >= ack {
                (seen - ack).as_secs_f64()
            } else {
                -(ack - seen).as_secs_f64()
            } * 1000.0)
        });
    }
    let mut samples = Vec::with_capacity(total);
    while let Some(done) = tasks.join_next().await {
        samples.push(done??);
    }
    samples.sort_by(f64::total_cmp);
    let rank = |p: f64| {
        let index = ((p * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[index]
    };
    let (median, p99) = (rank(0.5), rank(0.99));
    eprintln!(
        "bench_consume: {total} readings at {rate}/s: ack to latest median {median:.1} ms, p99 {p99:.1} ms, max {:.1} ms",
        samples[samples.len() - 1]
    );
    println!("latency_samples={total}");
    println!("latency_median_ms={median:.1}");
    println!("latency_p99_ms={p99:.1}");
    Ok(())
}

async fn drop_keyspaces(keyspaces: &[String]) -> anyhow::Result<()> {
    let session = meteo::store::connect(&cassandra("unused"), None).await?;
    for keyspace in keyspaces {
        meteo::store::ddl(&session, &format!("DROP KEYSPACE IF EXISTS {keyspace}"))
            .await
            .with_context(|| format!("dropping keyspace {keyspace}"))?;
        eprintln!("bench_consume: dropped keyspace {keyspace}");
    }
    Ok(())
}

async fn delete_topics(topics: &[String]) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = meteo::kafka::client_config(&kafka("unused"))
        .create()
        .context("creating a Kafka admin client")?;
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.delete_topics(&names, &options).await? {
        match result {
            Ok(name) => eprintln!("bench_consume: deleted topic {name}"),
            Err((name, RDKafkaErrorCode::UnknownTopicOrPartition)) => {
                eprintln!("bench_consume: topic {name} was not there")
            }
            Err((name, code)) => bail!("deleting topic {name}: {code}"),
        }
    }
    Ok(())
}
