package meteo.bench;

import java.nio.charset.StandardCharsets;
import java.time.Instant;

/**
 * A port of meteo's src/store/precedence.rs: the write timestamp (USING TIMESTAMP) of a
 * reading's cells in both tables. It must agree with meteo to the microsecond, or the two
 * writers would not do the same work (PrecedenceTest checks it against values meteo printed).
 */
public final class Precedence {
  private static final long MICROS_PER_SECOND = 1_000_000L;
  private static final long FETCH_SLOTS = 1_000;
  private static final long DIGEST_SLOTS = 1_000;
  private static final long FETCH_SLOT_SECONDS = 10;
  private static final long MAX_AHEAD_MINUTES = 10;

  private Precedence() {}

  /** The write timestamp of r's cells, in microseconds since the epoch. */
  public static long writeTimestamp(Reading r) {
    return r.observed.getEpochSecond() * MICROS_PER_SECOND
        + fetchSlot(r) * DIGEST_SLOTS
        + digestSlot(r);
  }

  static long fetchSlot(Reading r) {
    if (r.fetched == null) {
      return 0;
    }
    // chrono's num_seconds truncates toward zero; Java's Duration floors.
    java.time.Duration d = java.time.Duration.between(r.observed, r.fetched);
    long seconds = d.getSeconds();
    if (seconds < 0 && d.getNano() > 0) {
      seconds += 1;
    }
    long delay = seconds + MAX_AHEAD_MINUTES * 60;
    return Math.min(Math.max(delay, 0) / FETCH_SLOT_SECONDS + 1, FETCH_SLOTS - 1);
  }

  static long digestSlot(Reading r) {
    Fnv h = new Fnv();
    h.text(r.source);
    h.integer(r.city_id);
    h.text(r.city_name);
    h.text(r.country);
    for (Double v :
        new Double[] {
          r.lat, r.lon, r.temperature, r.feels_like, r.temp_min, r.temp_max,
          r.wind_speed, r.wind_gust, r.rain_1h, r.rain_3h, r.snow_1h, r.snow_3h
        }) {
      if (v == null) {
        h.none();
      } else {
        h.integer(Double.doubleToRawLongBits(v));
      }
    }
    for (Integer v :
        new Integer[] {
          r.humidity, r.pressure, r.wind_deg, r.clouds, r.visibility, r.weather_id, r.timezone
        }) {
      if (v == null) {
        h.none();
      } else {
        h.integer(v.longValue());
      }
    }
    for (Instant t : new Instant[] {r.observed, r.fetched, r.sunriseAt, r.sunsetAt}) {
      if (t == null) {
        h.none();
      } else {
        h.integer(micros(t));
      }
    }
    h.text(r.weather_main);
    h.text(r.weather_description);
    h.text(r.weather_icon);
    return Long.remainderUnsigned(h.hash, DIGEST_SLOTS);
  }

  /** chrono's timestamp_micros: whole seconds (floored) in micros plus the sub-second part. */
  static long micros(Instant t) {
    return t.getEpochSecond() * MICROS_PER_SECOND + t.getNano() / 1_000;
  }

  /** FNV-1a, 64 bits, as precedence.rs feeds it. */
  private static final class Fnv {
    long hash = 0xcbf29ce484222325L;

    void bytes(byte[] bytes) {
      for (byte b : bytes) {
        hash = (hash ^ (b & 0xff)) * 0x100000001b3L;
      }
    }

    void one(int b) {
      hash = (hash ^ b) * 0x100000001b3L;
    }

    void none() {
      one(0);
    }

    void integer(long v) {
      one(1);
      for (int i = 0; i < 8; i++) {
        one((int) (v >>> (8 * i)) & 0xff);
      }
    }

    void text(String t) {
      if (t == null) {
        none();
        return;
      }
      byte[] utf8 = t.getBytes(StandardCharsets.UTF_8);
      integer(utf8.length);
      bytes(utf8);
    }
  }
}
