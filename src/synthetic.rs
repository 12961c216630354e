//! The synthetic source: plausible readings for any city without an API key, repeatable with
//! a seed. Pure (no clock, no I/O).

use std::f64::consts::PI;
use std::time::Duration;

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc, Weekday};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::city::City;
use crate::model::{Reading, SCHEMA_VERSION, SOURCE_SYNTHETIC};

/// Readings made up from a seed.
///
/// Temperature follows the season, the latitude and the local time of day, with a weather
/// regime that drifts from day to day and a little noise; humidity, pressure, wind, clouds,
/// rain or snow and a French description follow from them. One new observation per city per
/// cadence, at a phase of its own, so cities do not all change at once. The reading of a
/// city at an observation time depends only on the seed.
#[derive(Debug, Clone, Copy)]
pub struct Synthetic {
    seed: u64,
    cadence_secs: i64,
}

/// One observation's share of a day's weather regime.
struct Regime {
    /// Offset from the climate, °C.
    warmth: f64,
    /// Cloud cover, 0..1.
    clouds: f64,
    /// Chance of precipitation when it is cloudy, 0..1.
    wetness: f64,
    /// Wind, m/s.
    wind: f64,
}

impl Synthetic {
    /// A source making one observation per city every `cadence`.
    pub fn new(seed: u64, cadence: Duration) -> Self {
        Self {
            seed,
            cadence_secs: cadence.as_secs().max(1) as i64,
        }
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The time of the newest observation of `city_id` at `now` (Unix seconds).
    pub fn observed_at(&self, city_id: i64, now: i64) -> i64 {
        let phase = (mix(self.seed, city_id, 0) % self.cadence_secs as u64) as i64;
        (now - phase).div_euclid(self.cadence_secs) * self.cadence_secs + phase
    }

    /// The newest observation of `city` at `now`.
    pub fn current(&self, city: &City, now: DateTime<Utc>) -> Reading {
        let dt = self.observed_at(city.id, now.timestamp());
        self.reading(city, dt, now)
    }

    fn rng(&self, city_id: i64, salt: i64) -> StdRng {
        StdRng::seed_from_u64(mix(self.seed, city_id, salt))
    }

    /// The weather regime of a city on a UTC day (days since the epoch).
    fn regime(&self, city_id: i64, day: i64) -> Regime {
        // Salt by day so each day has its own draw; the offset keeps it apart from obs salts.
        let mut rng = self.rng(city_id, day.wrapping_mul(2).wrapping_add(1));
        Regime {
            warmth: normal(&mut rng) * 3.0,
            clouds: rng.random_range(0.0..1.0),
            wetness: rng.random_range(0.0..1.0),
            wind: rng.random_range(1.0..7.0),
        }
    }

    /// The observation of `city` at `dt` (Unix seconds), fetched at `fetched_at`.
    pub fn reading(&self, city: &City, dt: i64, fetched_at: DateTime<Utc>) -> Reading {
        let observed_at = Utc
            .timestamp_opt(dt, 0)
            .single()
            .unwrap_or(DateTime::UNIX_EPOCH);
        let mut rng = self.rng(city.id, dt.wrapping_mul(2));
        // Regimes drift: blend today's and tomorrow's by the hour, so nothing jumps at midnight.
        let day = dt.div_euclid(86_400);
        let blend = dt.rem_euclid(86_400) as f64 / 86_400.0;
        let (today, tomorrow) = (self.regime(city.id, day), self.regime(city.id, day + 1));
        let lerp = |a: f64, b: f64| a + (b - a) * blend;
        let warmth = lerp(today.warmth, tomorrow.warmth);
        let cloud = lerp(today.clouds, tomorrow.clouds);
        let wetness = lerp(today.wetness, tomorrow.wetness);
        let wind_base = lerp(today.wind, tomorrow.wind);

        let lat = city.lat;
        let doy = observed_at.ordinal() as f64;
        // Climate: about 12.5 °C a year at 46.5° N, half a degree less per degree north,
        // seasons of ±7.5 °C with the coldest day in late January (mirrored south).
        let annual = 12.5 - 0.55 * (lat.abs() - 46.5);
        let hemisphere = if lat < 0.0 { -1.0 } else { 1.0 };
        let season = -7.5 * hemisphere * (2.0 * PI * (doy - 20.0) / 365.25).cos();
        // Local solar time: warmest at 15:00, coldest before dawn; clouds flatten the day.
        let solar_hour = (observed_at.num_seconds_from_midnight() as f64 / 3600.0
            + city.lon / 15.0)
            .rem_euclid(24.0);
        let daily = 4.5 * (2.0 * PI * (solar_hour - 15.0) / 24.0).cos() * (1.0 - 0.5 * cloud);
        let temperature = round2(annual + season + daily + warmth + normal(&mut rng) * 0.4);

        let clouds = ((cloud * 100.0) + normal(&mut rng) * 5.0)
            .clamp(0.0, 100.0)
            .round() as i32;
        let precipitating = cloud > 0.75 && wetness > 0.45;
        let amount = if precipitating {
            round2(0.1 + (wetness - 0.45) * 5.0 * rng.random_range(0.5..1.5))
        } else {
            0.0
        };
        let snowing = precipitating && temperature < 1.0;
        let humidity = (62.0 + 25.0 * cloud - 2.0 * daily
            + if precipitating { 12.0 } else { 0.0 }
            + normal(&mut rng) * 4.0)
            .clamp(15.0, 100.0)
            .round() as i32;
        let misty = !precipitating && humidity >= 95 && clouds < 60;
        let pressure = (1016.0 - 14.0 * (cloud - 0.4) + normal(&mut rng) * 3.0).round() as i32;
        let wind_speed = round2((wind_base + cloud * 2.0 + normal(&mut rng)).max(0.0));
        let wind_gust = (wind_speed > 6.0).then(|| round2(wind_speed * rng.random_range(1.3..1.8)));
        let wind_deg = rng.random_range(0..360);
        let feels_like = round2(feels_like(temperature, wind_speed));

        let (sunrise, sunset) = sun_times(observed_at, lat, city.lon);
        let daytime = match (sunrise, sunset) {
            (Some(rise), Some(set)) => observed_at >= rise && observed_at < set,
            // Polar day or night: by the sun's hour.
            _ => (6.0..18.0).contains(&solar_hour),
        };
        let (weather_id, weather_main, description, icon) = if snowing {
            (600, "Snow", "légères chutes de neige", "13")
        } else if precipitating && amount >= 1.0 {
            (501, "Rain", "pluie modérée", "10")
        } else if precipitating {
            (500, "Rain", "légère pluie", "10")
        } else if misty {
            (701, "Mist", "brume", "50")
        } else {
            match clouds {
                0..=10 => (800, "Clear", "ciel dégagé", "01"),
                11..=25 => (801, "Clouds", "peu nuageux", "02"),
                26..=50 => (802, "Clouds", "partiellement nuageux", "03"),
                51..=84 => (803, "Clouds", "nuageux", "04"),
                _ => (804, "Clouds", "couvert", "04"),
            }
        };
        let visibility = if misty {
            rng.random_range(1000..5000)
        } else if precipitating {
            rng.random_range(6000..10_000)
        } else {
            10_000
        };
        let spread_low = rng.random_range(0.0..1.5);
        let spread_high = rng.random_range(0.0..1.5);

        Reading {
            schema: SCHEMA_VERSION,
            source: Some(SOURCE_SYNTHETIC.to_string()),
            city_id: city.id,
            city_name: city.name.clone(),
            country: city.country.clone(),
            lat: Some(city.lat),
            lon: Some(city.lon),
            observed_at,
            fetched_at: Some(fetched_at),
            temperature,
            feels_like: Some(feels_like),
            temp_min: Some(round2(temperature - spread_low)),
            temp_max: Some(round2(temperature + spread_high)),
            humidity,
            pressure: Some(pressure),
            wind_speed: Some(wind_speed),
            wind_deg: Some(wind_deg),
            wind_gust,
            clouds: Some(clouds),
            visibility: Some(visibility),
            rain_1h: (precipitating && !snowing).then_some(amount),
            rain_3h: None,
            snow_1h: snowing.then_some(amount),
            snow_3h: None,
            weather_id: Some(weather_id),
            weather_main: Some(weather_main.to_string()),
            weather_description: Some(description.to_string()),
            weather_icon: Some(format!("{icon}{}", if daytime { 'd' } else { 'n' })),
            sunrise,
            sunset,
            timezone: Some(utc_offset(&city.country, city.lon, observed_at)),
        }
    }
}

/// SplitMix64 over the seed, the city and a salt: a well-spread 64-bit seed per draw.
fn mix(seed: u64, city_id: i64, salt: i64) -> u64 {
    let mut z = seed
        ^ (city_id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (salt as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// About a standard normal draw (Irwin–Hall: twelve uniforms), enough for weather noise.
fn normal(rng: &mut StdRng) -> f64 {
    (0..12).map(|_| rng.random_range(0.0..1.0)).sum::<f64>() - 6.0
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Wind chill below 10 °C (the North American / UK formula, wind in km/h), else the air.
fn feels_like(temperature: f64, wind_ms: f64) -> f64 {
    let kmh = wind_ms * 3.6;
    if temperature <= 10.0 && kmh > 4.8 {
        let v = kmh.powf(0.16);
        13.12 + 0.6215 * temperature - 11.37 * v + 0.3965 * temperature * v
    } else {
        temperature
    }
}

/// Sunrise and sunset of the UTC day of `at` (NOAA's simple declination formula, good to a
/// few minutes); `None` in polar day or night.
fn sun_times(
    at: DateTime<Utc>,
    lat: f64,
    lon: f64,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let doy = at.ordinal() as f64;
    let declination = (-23.44f64).to_radians() * (2.0 * PI * (doy + 10.0) / 365.0).cos();
    let cos_hour_angle = -(lat.to_radians().tan()) * declination.tan();
    if !(-1.0..=1.0).contains(&cos_hour_angle) {
        return (None, None);
    }
    let half_day_hours = cos_hour_angle.acos().to_degrees() / 15.0;
    let noon_hours = 12.0 - lon / 15.0;
    let midnight = at.timestamp().div_euclid(86_400) * 86_400;
    let at_hours = |h: f64| {
        Utc.timestamp_opt(midnight + (h * 3600.0).round() as i64, 0)
            .single()
    };
    (
        at_hours(noon_hours - half_day_hours),
        at_hours(noon_hours + half_day_hours),
    )
}

/// Shift from UTC in seconds: France keeps EU summer time (last Sunday of March to last
/// Sunday of October, 01:00 UTC); elsewhere the longitude's hour is close enough.
fn utc_offset(country: &str, lon: f64, at: DateTime<Utc>) -> i32 {
    if country.eq_ignore_ascii_case("FR") {
        let year = at.year();
        let summer_start = last_sunday_1am(year, 3);
        let summer_end = last_sunday_1am(year, 10);
        match (summer_start, summer_end) {
            (Some(start), Some(end)) if at >= start && at < end => 7200,
            _ => 3600,
        }
    } else {
        ((lon / 15.0).round() as i32) * 3600
    }
}

fn last_sunday_1am(year: i32, month: u32) -> Option<DateTime<Utc>> {
    let first_of_next = if month == 12 {
        Utc.with_ymd_and_hms(year + 1, 1, 1, 1, 0, 0)
    } else {
        Utc.with_ymd_and_hms(year, month + 1, 1, 1, 0, 0)
    }
    .single()?;
    let mut day = first_of_next - chrono::Duration::days(1);
    while day.weekday() != Weekday::Sun {
        day -= chrono::Duration::days(1);
    }
    Some(day)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::city::french as city;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    const TEN_MINUTES: Duration = Duration::from_secs(600);

    fn mean_temperature(source: &Synthetic, city: &City, from: &str, hours: i64) -> f64 {
        let start = at(from).timestamp();
        let temps: Vec<f64> = (0..hours)
            .map(|h| source.reading(city, start + h * 3600, at(from)).temperature)
            .collect();
        temps.iter().sum::<f64>() / temps.len() as f64
    }

    #[test]
    fn the_same_seed_gives_the_same_readings_and_another_seed_others() {
        let paris = city(2988507, "Paris", 48.85, 2.35);
        let now = at("2026-11-28T19:52:11Z");
        let a = Synthetic::new(7, TEN_MINUTES).current(&paris, now);
        let b = Synthetic::new(7, TEN_MINUTES).current(&paris, now);
        let c = Synthetic::new(8, TEN_MINUTES).current(&paris, now);
        assert_eq!(a, b);
        assert_ne!(a.temperature, c.temperature);
    }

    #[test]
    fn every_reading_is_valid_and_marked_synthetic() {
        let source = Synthetic::new(1, TEN_MINUTES);
        let cities = [
            city(1, "Lille", 50.63, 3.06),
            city(2, "Nice", 43.70, 7.27),
            city(3, "Cayenne", 4.93, -52.33),
            city(4, "Longyearbyen", 78.22, 15.65),
        ];
        let start = at("2026-01-01T00:00:00Z").timestamp();
        for c in &cities {
            for k in 0..(365 * 4) {
                let dt = start + k * 6 * 3600;
                let fetched = Utc.timestamp_opt(dt + 60, 0).unwrap();
                let r = source.reading(c, dt, fetched);
                r.validate_at(at("2027-01-02T00:00:00Z")).unwrap();
                assert_eq!(r.source.as_deref(), Some("synthetic"));
                assert!(r.weather_description.is_some());
                assert!((0..=100).contains(&r.clouds.unwrap()));
            }
        }
    }

    #[test]
    fn summer_is_warmer_than_winter_and_the_south_warmer_than_the_north() {
        let source = Synthetic::new(3, TEN_MINUTES);
        let lille = city(1, "Lille", 50.63, 3.06);
        let nice = city(2, "Nice", 43.70, 7.27);
        let july = mean_temperature(&source, &lille, "2026-07-01T00:00:00Z", 24 * 30);
        let january = mean_temperature(&source, &lille, "2026-01-05T00:00:00Z", 24 * 30);
        assert!(july > january + 8.0, "july {july}, january {january}");
        assert!((14.0..24.0).contains(&july), "july {july}");
        let nice_january = mean_temperature(&source, &nice, "2026-01-05T00:00:00Z", 24 * 30);
        assert!(nice_january > january + 2.0);
    }

    #[test]
    fn afternoons_are_warmer_than_nights() {
        let source = Synthetic::new(5, TEN_MINUTES);
        let lyon = city(2996944, "Lyon", 45.75, 4.85);
        let (mut afternoons, mut nights) = (0.0, 0.0);
        for d in 0..60 {
            let midnight = at("2026-04-01T00:00:00Z").timestamp() + d * 86_400;
            afternoons += source
                .reading(&lyon, midnight + 14 * 3600, at("2026-04-01T00:00:00Z"))
                .temperature;
            nights += source
                .reading(&lyon, midnight + 3 * 3600, at("2026-04-01T00:00:00Z"))
                .temperature;
        }
        assert!(afternoons > nights + 60.0 * 3.0, "{afternoons} vs {nights}");
    }

    #[test]
    fn each_city_gets_one_new_observation_per_cadence_at_its_own_phase() {
        let source = Synthetic::new(9, TEN_MINUTES);
        let t = 1_795_895_400;
        let dt = source.observed_at(1, t);
        assert!(dt <= t && t - dt < 600);
        assert_eq!(source.observed_at(1, dt + 599), dt);
        assert_eq!(source.observed_at(1, dt + 600), dt + 600);
        let phases: std::collections::HashSet<i64> =
            (1..50).map(|id| source.observed_at(id, t) % 600).collect();
        assert!(phases.len() > 30);
    }

    #[test]
    fn the_sun_rises_before_it_sets_and_france_keeps_summer_time() {
        let (rise, set) = sun_times(at("2026-06-21T12:00:00Z"), 48.85, 2.35);
        let (rise, set) = (rise.unwrap(), set.unwrap());
        assert_eq!(rise.hour(), 3, "{rise}");
        assert_eq!(set.hour(), 19, "{set}");
        assert_eq!(utc_offset("FR", 2.35, at("2026-07-01T00:00:00Z")), 7200);
        assert_eq!(utc_offset("FR", 2.35, at("2026-12-01T00:00:00Z")), 3600);
        assert_eq!(utc_offset("FR", 2.35, at("2026-03-29T00:59:00Z")), 3600);
        assert_eq!(utc_offset("FR", 2.35, at("2026-03-29T01:00:00Z")), 7200);
        assert_eq!(
            sun_times(at("2026-06-21T12:00:00Z"), 80.0, 15.0),
            (None, None)
        );
    }
}
