package meteo.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;

import org.junit.jupiter.api.Test;

/**
 * The port of write_timestamp against values meteo computed (timestamps.tsv: `timestamp TAB
 * json`, printed by `cargo run --example bench_consume -- timestamps -` for hand-made readings
 * and `timestamps SHAPE N` for the benchmark's): a wrong digest or fetch slot shows here.
 */
class PrecedenceTest {
  @Test
  void everyTimestampMeteoPrintedIsTheOneJavaComputes() throws Exception {
    String text;
    try (InputStream in = PrecedenceTest.class.getResourceAsStream("/timestamps.tsv")) {
      text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
    int checked = 0;
    for (String line : text.split("\n")) {
      int tab = line.indexOf('\t');
      if (tab < 0) {
        continue;
      }
      long expected = Long.parseLong(line.substring(0, tab));
      Reading r = Reading.parse(line.substring(tab + 1).getBytes(StandardCharsets.UTF_8));
      assertEquals(expected, Precedence.writeTimestamp(r), line);
      checked++;
    }
    assertTrue(checked >= 10, "only " + checked + " lines");
  }

  @Test
  void theDayIsTheUtcDateOfTheObservation() throws Exception {
    Reading r =
        Reading.parse(
            ("{\"schema\":1,\"source\":null,\"city_id\":1,\"city_name\":\"A\",\"country\":\"FR\","
                    + "\"lat\":null,\"lon\":null,\"observed_at\":\"2026-11-28T23:59:59Z\","
                    + "\"fetched_at\":null,\"temperature\":1.0,\"feels_like\":null,"
                    + "\"temp_min\":null,\"temp_max\":null,\"humidity\":5,\"pressure\":null,"
                    + "\"wind_speed\":null,\"wind_deg\":null,\"wind_gust\":null,\"clouds\":null,"
                    + "\"visibility\":null,\"rain_1h\":null,\"rain_3h\":null,\"snow_1h\":null,"
                    + "\"snow_3h\":null,\"weather_id\":null,\"weather_main\":null,"
                    + "\"weather_description\":null,\"weather_icon\":null,\"sunrise\":null,"
                    + "\"sunset\":null,\"timezone\":null}")
                .getBytes(StandardCharsets.UTF_8));
    assertEquals(java.time.LocalDate.of(2026, 11, 28), r.day());
  }
}
