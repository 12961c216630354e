package meteo.bench;

import com.datastax.oss.driver.api.core.CqlSession;
import com.datastax.oss.driver.api.core.cql.AsyncResultSet;
import com.datastax.oss.driver.api.core.cql.BatchStatement;
import com.datastax.oss.driver.api.core.cql.BatchStatementBuilder;
import com.datastax.oss.driver.api.core.cql.BatchType;
import com.datastax.oss.driver.api.core.cql.BatchableStatement;
import com.datastax.oss.driver.api.core.cql.BoundStatement;
import com.datastax.oss.driver.api.core.cql.BoundStatementBuilder;
import com.datastax.oss.driver.api.core.cql.PreparedStatement;
import com.datastax.oss.driver.api.core.cql.Row;
import com.datastax.oss.driver.api.core.cql.Statement;
import java.time.Instant;
import java.time.LocalDate;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;

/**
 * Writes groups of readings to meteo's tables with the statements `meteo consume` sends
 * (src/store/readings/mod.rs): per reading, a delete of its `readings` row just before its
 * write timestamp and the insert USING TIMESTAMP (absent fields unset), and the insert into
 * `latest` USING TIMESTAMP (absent fields null), after the city's countries are read once from
 * `city_countries` (and recorded there once). Rows of one partition go as one unlogged batch
 * of up to {@link #MAX_ROWS} readings, routed to a replica by its routing key; at most
 * `inFlight` requests are in flight.
 */
final class Writer {
  /** Readings per batch, as meteo's grouped::CAPS. */
  static final int MAX_ROWS = 64;

  private static final String COLUMNS =
      "city_id, day, observed_at, source, city_name, country, lat, lon, fetched_at, temperature,"
          + " feels_like, temp_min, temp_max, humidity, pressure, wind_speed, wind_deg,"
          + " wind_gust, clouds, visibility, rain_1h, rain_3h, snow_1h, snow_3h, weather_id,"
          + " weather_main, weather_description, weather_icon, sunrise, sunset, timezone,"
          + " ingested_at";
  private static final int COLUMN_COUNT = 32;
  /** meteo's longest pause between two attempts (durable.rs MAX_RETRY_DELAY). */
  private static final long MAX_DELAY_MS = 2_000;

  private static final long GIVE_UP_AFTER_NANOS = TimeUnit.MINUTES.toNanos(2);

  private final CqlSession session;
  private final PreparedStatement insertReading;
  private final PreparedStatement clearReading;
  private final PreparedStatement insertLatest;
  private final PreparedStatement clearLatest;
  private final PreparedStatement recordCountry;
  private final PreparedStatement countriesOf;
  private final PreparedStatement writtenAt;
  private final Semaphore requests;
  private final LongAdder retries = new LongAdder();
  private final AtomicBoolean firstRetry = new AtomicBoolean();
  private final Homes homes = new Homes();
  /** Cities whose countries are being (or were) read: one read per city and process. */
  private final Map<Long, CompletableFuture<Void>> lookups = new ConcurrentHashMap<>();

  Writer(CqlSession session, String keyspace, int inFlight) {
    this.session = session;
    String marks = String.join(", ", Collections.nCopies(COLUMN_COUNT, "?"));
    String ks = keyspace + ".";
    insertReading =
        session.prepare(
            "INSERT INTO " + ks + "readings (" + COLUMNS + ") VALUES (" + marks
                + ") USING TIMESTAMP ?");
    clearReading =
        session.prepare(
            "DELETE FROM " + ks + "readings USING TIMESTAMP ?"
                + " WHERE city_id = ? AND day = ? AND observed_at = ?");
    insertLatest =
        session.prepare(
            "INSERT INTO " + ks + "latest (" + COLUMNS + ") VALUES (" + marks
                + ") USING TIMESTAMP ?");
    clearLatest =
        session.prepare(
            "DELETE FROM " + ks + "latest USING TIMESTAMP ? WHERE country = ? AND city_id = ?");
    recordCountry =
        session.prepare("INSERT INTO " + ks + "city_countries (city_id, country) VALUES (?, ?)");
    countriesOf = session.prepare("SELECT country FROM " + ks + "city_countries WHERE city_id = ?");
    writtenAt =
        session.prepare(
            "SELECT WRITETIME(city_name) FROM " + ks + "latest WHERE country = ? AND city_id = ?");
    requests = new Semaphore(inFlight);
  }

  private record Partition(long cityId, LocalDate day) {}

  /**
   * Sends every row of these readings; the future completes when all are written (or fails
   * with the first error). Blocks while {@code inFlight} requests are out.
   */
  CompletableFuture<Void> writeGroup(List<Reading> readings) throws InterruptedException {
    Instant ingestedAt = Instant.now();
    List<List<Reading>> history = plan(readings, r -> new Partition(r.city_id, r.day()));
    List<List<Reading>> latest = plan(readings, r -> r.country);
    List<CompletableFuture<Void>> writes = new ArrayList<>(history.size() + latest.size());
    // The countries of cities not met before, read before their `latest` rows are placed.
    Set<Long> cities = new HashSet<>();
    for (Reading r : readings) {
      cities.add(r.city_id);
    }
    for (long id : cities) {
      if (!lookups.containsKey(id)) {
        requests.acquire();
        CompletableFuture<Void> lookup =
            homesOf(id)
                .thenAccept(
                    found -> {
                      synchronized (homes) {
                        homes.learn(id, found);
                      }
                    })
                .whenComplete((v, e) -> requests.release());
        lookups.put(id, lookup);
      }
    }
    for (List<Reading> rows : history) {
      requests.acquire();
      writes.add(send(readingsStatements(rows, ingestedAt)).whenComplete((v, e) -> requests.release()));
    }
    for (List<Reading> rows : latest) {
      requests.acquire();
      CompletableFuture<?>[] known =
          rows.stream().map(r -> lookups.get(r.city_id)).distinct().toArray(CompletableFuture[]::new);
      writes.add(
          CompletableFuture.allOf(known)
              .thenCompose(v -> writeLatest(rows, ingestedAt))
              .whenComplete((v, e) -> requests.release()));
    }
    return CompletableFuture.allOf(writes.toArray(CompletableFuture[]::new));
  }

  /** Rows sharing a partition together, in order, at most MAX_ROWS a batch. */
  private static <K> List<List<Reading>> plan(
      List<Reading> readings, java.util.function.Function<Reading, K> partition) {
    Map<K, List<Reading>> open = new LinkedHashMap<>();
    List<List<Reading>> batches = new ArrayList<>();
    for (Reading r : readings) {
      List<Reading> batch = open.computeIfAbsent(partition.apply(r), k -> new ArrayList<>());
      batch.add(r);
      if (batch.size() == MAX_ROWS) {
        batches.add(batch);
        open.remove(partition.apply(r));
      }
    }
    batches.addAll(open.values());
    return batches;
  }

  private List<BatchableStatement<?>> readingsStatements(List<Reading> rows, Instant ingestedAt) {
    List<BatchableStatement<?>> statements = new ArrayList<>(2 * rows.size());
    for (Reading r : rows) {
      long timestamp = Precedence.writeTimestamp(r);
      statements.add(
          clearReading.bind(timestamp - 1, r.city_id, r.day(), r.observed).setIdempotent(true));
      statements.add(row(insertReading, r, ingestedAt, timestamp, false));
    }
    return statements;
  }

  private CompletableFuture<Void> writeLatest(List<Reading> rows, Instant ingestedAt) {
    List<BatchableStatement<?>> inserts = new ArrayList<>(rows.size());
    List<Statement<?>> elsewhere = new ArrayList<>();
    List<Reading> recorded = new ArrayList<>();
    synchronized (homes) {
      for (Reading r : rows) {
        long timestamp = Precedence.writeTimestamp(r);
        Homes.Placement p = homes.place(r.city_id, r.country, timestamp);
        for (String country : p.clear()) {
          elsewhere.add(clearLatest.bind(timestamp, country, r.city_id).setIdempotent(true));
        }
        if (p.record()) {
          elsewhere.add(recordCountry.bind(r.city_id, r.country).setIdempotent(true));
          recorded.add(r);
        }
        if (p.write()) {
          inserts.add(row(insertLatest, r, ingestedAt, timestamp, true));
        }
      }
    }
    List<CompletableFuture<Void>> all = new ArrayList<>();
    for (Statement<?> s : elsewhere) {
      all.add(execute(s));
    }
    all.add(send(inserts));
    return CompletableFuture.allOf(all.toArray(CompletableFuture[]::new))
        .thenRun(
            () -> {
              synchronized (homes) {
                for (Reading r : recorded) {
                  homes.recorded(r.city_id, r.country);
                }
              }
            });
  }

  /** One partition's statements as one request: one alone, more as an unlogged batch. */
  private CompletableFuture<Void> send(List<BatchableStatement<?>> statements) {
    if (statements.isEmpty()) {
      return CompletableFuture.completedFuture(null);
    }
    if (statements.size() == 1) {
      return execute(statements.get(0));
    }
    BoundStatement first = (BoundStatement) statements.get(0);
    // The batch's routing key, so that the token-aware policy sends it to a replica (the
    // driver would take the first statement's, said here so it cannot silently stop).
    BatchStatementBuilder batch =
        BatchStatement.builder(BatchType.UNLOGGED)
            .addStatements(statements)
            .setIdempotence(true)
            .setRoutingKeyspace(first.getRoutingKeyspace())
            .setRoutingKey(first.getRoutingKey());
    return execute(batch.build());
  }

  /**
   * Sends one request, retried with backoff while Cassandra fails it, as meteo retries a write
   * until it is stored (every statement here is idempotent); gives up after {@link
   * #GIVE_UP_AFTER_NANOS}, failing the run.
   */
  private CompletableFuture<Void> execute(Statement<?> statement) {
    return request(statement).thenApply(rs -> null);
  }

  private CompletableFuture<AsyncResultSet> request(Statement<?> statement) {
    CompletableFuture<AsyncResultSet> done = new CompletableFuture<>();
    attempt(statement, done, System.nanoTime(), 50);
    return done;
  }

  private void attempt(
      Statement<?> statement, CompletableFuture<AsyncResultSet> done, long began, long delayMs) {
    session
        .executeAsync(statement)
        .whenComplete(
            (rs, error) -> {
              if (error == null) {
                done.complete(rs);
              } else if (System.nanoTime() - began > GIVE_UP_AFTER_NANOS) {
                done.completeExceptionally(error);
              } else {
                retries.increment();
                if (firstRetry.compareAndSet(false, true)) {
                  System.err.println("java-writer: a request failed, retrying: " + error);
                }
                CompletableFuture.delayedExecutor(delayMs, TimeUnit.MILLISECONDS)
                    .execute(
                        () -> attempt(statement, done, began, Math.min(2 * delayMs, MAX_DELAY_MS)));
              }
            });
  }

  /** Requests Cassandra failed and that were sent again. */
  long retries() {
    return retries.sum();
  }

  /** The countries a city has had a `latest` row in, each with its row's write timestamp. */
  private CompletableFuture<List<Map.Entry<String, Long>>> homesOf(long cityId) {
    return request(countriesOf.bind(cityId))
        .thenCompose(
            rs -> {
              List<CompletableFuture<Map.Entry<String, Long>>> found = new ArrayList<>();
              for (Row row : rs.currentPage()) {
                String country = row.getString(0);
                found.add(request(writtenAt.bind(country, cityId)).thenApply(w -> entry(country, w)));
              }
              return CompletableFuture.allOf(found.toArray(CompletableFuture[]::new))
                  .thenApply(v -> found.stream().map(CompletableFuture::join).toList());
            });
  }

  private static Map.Entry<String, Long> entry(String country, AsyncResultSet written) {
    Row row = written.one();
    long newest = row == null || row.isNull(0) ? 0 : row.getLong(0);
    return new AbstractMap.SimpleEntry<>(country, newest);
  }

  /** The reading's row; an absent field is null (latest) or left unset (readings). */
  private static BoundStatement row(
      PreparedStatement insert, Reading r, Instant ingestedAt, long timestamp, boolean nulls) {
    BoundStatementBuilder b = insert.boundStatementBuilder();
    b.setLong(0, r.city_id);
    b.setLocalDate(1, r.day());
    b.setInstant(2, r.observed);
    text(b, 3, r.source, nulls);
    b.setString(4, r.city_name);
    b.setString(5, r.country);
    number(b, 6, r.lat, nulls);
    number(b, 7, r.lon, nulls);
    time(b, 8, r.fetched, nulls);
    b.setDouble(9, r.temperature);
    number(b, 10, r.feels_like, nulls);
    number(b, 11, r.temp_min, nulls);
    number(b, 12, r.temp_max, nulls);
    b.setInt(13, r.humidity);
    integer(b, 14, r.pressure, nulls);
    number(b, 15, r.wind_speed, nulls);
    integer(b, 16, r.wind_deg, nulls);
    number(b, 17, r.wind_gust, nulls);
    integer(b, 18, r.clouds, nulls);
    integer(b, 19, r.visibility, nulls);
    number(b, 20, r.rain_1h, nulls);
    number(b, 21, r.rain_3h, nulls);
    number(b, 22, r.snow_1h, nulls);
    number(b, 23, r.snow_3h, nulls);
    integer(b, 24, r.weather_id, nulls);
    text(b, 25, r.weather_main, nulls);
    text(b, 26, r.weather_description, nulls);
    text(b, 27, r.weather_icon, nulls);
    time(b, 28, r.sunriseAt, nulls);
    time(b, 29, r.sunsetAt, nulls);
    integer(b, 30, r.timezone, nulls);
    b.setInstant(31, ingestedAt);
    b.setLong(32, timestamp);
    return b.setIdempotence(true).build();
  }

  private static void number(BoundStatementBuilder b, int i, Double v, boolean nulls) {
    if (v != null) {
      b.setDouble(i, v);
    } else if (nulls) {
      b.setToNull(i);
    }
  }

  private static void integer(BoundStatementBuilder b, int i, Integer v, boolean nulls) {
    if (v != null) {
      b.setInt(i, v);
    } else if (nulls) {
      b.setToNull(i);
    }
  }

  private static void text(BoundStatementBuilder b, int i, String v, boolean nulls) {
    if (v != null) {
      b.setString(i, v);
    } else if (nulls) {
      b.setToNull(i);
    }
  }

  private static void time(BoundStatementBuilder b, int i, Instant v, boolean nulls) {
    if (v != null) {
      b.setInstant(i, v);
    } else if (nulls) {
      b.setToNull(i);
    }
  }
}
