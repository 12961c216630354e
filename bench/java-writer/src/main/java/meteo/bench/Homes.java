package meteo.bench;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A port of meteo's src/store/countries.rs: the countries each city has had a `latest` row
 * in, and what a new `latest` row must do to the others (one city, one country in `latest`).
 * Not thread-safe: the writer locks it.
 */
final class Homes {
  private static final class Home {
    final String country;
    long newest;
    boolean recorded;

    Home(String country, long newest, boolean recorded) {
      this.country = country;
      this.newest = newest;
      this.recorded = recorded;
    }
  }

  /** What writing one reading to `latest` takes. */
  record Placement(boolean write, List<String> clear, boolean record) {
    static final Placement NONE = new Placement(false, List.of(), false);
  }

  private final Map<Long, List<Home>> cities = new HashMap<>();

  boolean knows(long cityId) {
    return cities.containsKey(cityId);
  }

  /** What city_countries and latest say of a city: each country with its row's timestamp. */
  void learn(long cityId, List<Map.Entry<String, Long>> found) {
    List<Home> homes = cities.computeIfAbsent(cityId, k -> new ArrayList<>());
    for (Map.Entry<String, Long> f : found) {
      Home home = find(homes, f.getKey());
      if (home == null) {
        homes.add(new Home(f.getKey(), f.getValue(), true));
      } else {
        home.newest = Math.max(home.newest, f.getValue());
        home.recorded = true;
      }
    }
  }

  Placement place(long cityId, String country, long timestamp) {
    List<Home> homes = cities.computeIfAbsent(cityId, k -> new ArrayList<>());
    long newestElsewhere = Long.MIN_VALUE;
    List<String> clear = new ArrayList<>();
    for (Home h : homes) {
      if (!h.country.equals(country)) {
        newestElsewhere = Math.max(newestElsewhere, h.newest);
        clear.add(h.country);
      }
    }
    if (!clear.isEmpty() && newestElsewhere > timestamp) {
      return Placement.NONE;
    }
    Home home = find(homes, country);
    boolean record;
    if (home == null) {
      homes.add(new Home(country, timestamp, false));
      record = true;
    } else {
      home.newest = Math.max(home.newest, timestamp);
      record = !home.recorded;
    }
    return new Placement(true, clear, record);
  }

  void recorded(long cityId, String country) {
    List<Home> homes = cities.get(cityId);
    Home home = homes == null ? null : find(homes, country);
    if (home != null) {
      home.recorded = true;
    }
  }

  private static Home find(List<Home> homes, String country) {
    for (Home h : homes) {
      if (h.country.equals(country)) {
        return h;
      }
    }
    return null;
  }
}
