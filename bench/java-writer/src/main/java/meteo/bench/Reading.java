package meteo.bench;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectReader;
import java.io.IOException;
import java.time.Instant;
import java.time.LocalDate;
import java.time.ZoneOffset;

/**
 * One reading as meteo's message schema 1 carries it (src/model/mod.rs): the JSON value of a
 * Kafka record. Unknown fields are refused, as meteo refuses them.
 */
public final class Reading {
  public int schema;
  public String source;
  public long city_id;
  public String city_name;
  public String country;
  public Double lat;
  public Double lon;
  public String observed_at;
  public String fetched_at;
  public double temperature;
  public Double feels_like;
  public Double temp_min;
  public Double temp_max;
  public int humidity;
  public Integer pressure;
  public Double wind_speed;
  public Integer wind_deg;
  public Double wind_gust;
  public Integer clouds;
  public Integer visibility;
  public Double rain_1h;
  public Double rain_3h;
  public Double snow_1h;
  public Double snow_3h;
  public Integer weather_id;
  public String weather_main;
  public String weather_description;
  public String weather_icon;
  public String sunrise;
  public String sunset;
  public Integer timezone;

  /** The parsed times, set by {@link #parse}. */
  public transient Instant observed;

  public transient Instant fetched;
  public transient Instant sunriseAt;
  public transient Instant sunsetAt;

  private static final ObjectReader READER =
      new ObjectMapper()
          .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
          .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
          .readerFor(Reading.class);

  /** Parses one message value; fails on anything that is not a reading of schema 1. */
  public static Reading parse(byte[] json) throws IOException {
    Reading r = READER.readValue(json);
    if (r.schema != 1) {
      throw new IOException("schema " + r.schema + " is not 1");
    }
    if (r.city_name == null || r.country == null || r.observed_at == null) {
      throw new IOException("city_name, country or observed_at is missing");
    }
    r.observed = Instant.parse(r.observed_at);
    r.fetched = time(r.fetched_at);
    r.sunriseAt = time(r.sunrise);
    r.sunsetAt = time(r.sunset);
    return r;
  }

  private static Instant time(String text) {
    return text == null ? null : Instant.parse(text);
  }

  /** The UTC day of the observation: the `readings` partition. */
  public LocalDate day() {
    return LocalDate.ofInstant(observed, ZoneOffset.UTC);
  }
}
