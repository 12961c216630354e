//! Which record a row of `readings` or `latest` keeps when several are written to it: the
//! write timestamp (`USING TIMESTAMP`) each record's cells get. Pure; knows only the reading.
//!
//! Cassandra settles cells of equal timestamps one by one, by value, so two records of the
//! same city and `observed_at` written with the same timestamp leave a row that matches
//! neither. Every record therefore gets its own timestamp, ordered by:
//!
//! 1. `observed_at`, to the second: a newer observation replaces an older one in `latest`;
//! 2. `fetched_at`, in 10-second steps (a record without one ranks first): the later fetch
//!    of the same observation (an API revision, a second producer) wins;
//! 3. a digest of the whole record (every field): records fetched within the same 10 s still get
//!    different timestamps, the same record always the same one.
//!
//! The timestamp stays within the second of `observed_at` (in microseconds since the
//! epoch), so a `DELETE` at the current time still hides every earlier observation.

use crate::model::{Reading, MAX_AHEAD_MINUTES};

const MICROS_PER_SECOND: i64 = 1_000_000;
/// Ranks inside a second: fetch slots times digest slots, below a million.
const FETCH_SLOTS: i64 = 1_000;
const DIGEST_SLOTS: i64 = 1_000;
/// A fetch slot's width. 998 of them cover fetches from 10 minutes before the observation
/// (the most validation allows) to 2 h 36 min after it; a later fetch takes the last slot.
const FETCH_SLOT_SECONDS: i64 = 10;

/// The write timestamp of `r`'s cells in both tables, in microseconds since the epoch.
pub fn write_timestamp(r: &Reading) -> i64 {
    r.observed_at.timestamp() * MICROS_PER_SECOND + fetch_slot(r) * DIGEST_SLOTS + digest_slot(r)
}

/// 0 without `fetched_at`, else 1..FETCH_SLOTS by the fetch's delay after the observation.
fn fetch_slot(r: &Reading) -> i64 {
    let Some(fetched) = r.fetched_at else {
        return 0;
    };
    let delay = (fetched - r.observed_at).num_seconds() + MAX_AHEAD_MINUTES * 60;
    (delay.max(0) / FETCH_SLOT_SECONDS + 1).min(FETCH_SLOTS - 1)
}

/// FNV-1a over every field of the record (numbers by their bits, text by its bytes, each
/// absent field as one marker byte): stable across builds and machines (std's hasher is not),
/// equal for equal records, and no serialization per write.
fn digest_slot(r: &Reading) -> i64 {
    let mut h = Fnv::default();
    h.text(r.source.as_deref());
    h.int(Some(r.city_id));
    h.text(Some(&r.city_name));
    h.text(Some(&r.country));
    for number in [
        r.lat,
        r.lon,
        Some(r.temperature),
        r.feels_like,
        r.temp_min,
        r.temp_max,
    ]
    .into_iter()
    .chain([
        r.wind_speed,
        r.wind_gust,
        r.rain_1h,
        r.rain_3h,
        r.snow_1h,
        r.snow_3h,
    ]) {
        h.int(number.map(|v| v.to_bits() as i64));
    }
    for integer in [
        Some(r.humidity),
        r.pressure,
        r.wind_deg,
        r.clouds,
        r.visibility,
        r.weather_id,
        r.timezone,
    ] {
        h.int(integer.map(i64::from));
    }
    for time in [Some(r.observed_at), r.fetched_at, r.sunrise, r.sunset] {
        h.int(time.map(|t| t.timestamp_micros()));
    }
    h.text(r.weather_main.as_deref());
    h.text(r.weather_description.as_deref());
    h.text(r.weather_icon.as_deref());
    (h.0 % DIGEST_SLOTS as u64) as i64
}

struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn int(&mut self, value: Option<i64>) {
        match value {
            Some(v) => {
                self.bytes(&[1]);
                self.bytes(&v.to_le_bytes());
            }
            None => self.bytes(&[0]),
        }
    }

    /// Text with its length first, so that two fields cannot trade bytes.
    fn text(&mut self, value: Option<&str>) {
        match value {
            Some(t) => {
                self.int(Some(t.len() as i64));
                self.bytes(t.as_bytes());
            }
            None => self.bytes(&[0]),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    const PARIS_DIGEST_SLOT: i64 = 949;

    fn paris() -> Reading {
        Reading::from_json(crate::model::tests::PARIS.as_bytes()).unwrap()
    }

    #[test]
    fn a_newer_observation_outranks_any_record_of_an_older_one() {
        let old = paris();
        let mut new = old.clone();
        new.observed_at = old.observed_at + Duration::seconds(1);
        new.fetched_at = None;
        let mut old_late = old.clone();
        old_late.fetched_at = Some(old.observed_at + Duration::days(3));
        assert!(write_timestamp(&new) > write_timestamp(&old_late));
    }

    #[test]
    fn the_later_fetch_of_one_observation_outranks_the_earlier() {
        let early = paris();
        let mut late = early.clone();
        late.temperature = -5.0;
        late.fetched_at = early.fetched_at.map(|f| f + Duration::seconds(10));
        assert!(write_timestamp(&late) > write_timestamp(&early));
        let mut unfetched = early.clone();
        unfetched.fetched_at = None;
        assert!(write_timestamp(&early) > write_timestamp(&unfetched));
    }

    #[test]
    fn the_timestamp_stays_within_the_second_observed() {
        let mut r = paris();
        r.fetched_at = Some(r.observed_at + Duration::days(30));
        let second = r.observed_at.timestamp() * MICROS_PER_SECOND;
        assert!((second..second + MICROS_PER_SECOND).contains(&write_timestamp(&r)));
    }

    #[test]
    fn the_digest_is_stable_across_builds() {
        // A change here changes which record of a pair wins in rows already stored.
        assert_eq!(digest_slot(&paris()), PARIS_DIGEST_SLOT);
    }

    #[test]
    fn records_fetched_in_the_same_slot_differ_by_content_and_the_same_record_never() {
        let a = paris();
        assert_eq!(write_timestamp(&a), write_timestamp(&a.clone()));
        let differing: std::collections::HashSet<i64> = (0..50)
            .map(|i| {
                let mut r = a.clone();
                r.humidity = i;
                write_timestamp(&r)
            })
            .collect();
        // 50 records into 1,000 digest slots: a few may share one, most must not.
        assert!(differing.len() > 45, "{}", differing.len());
    }
}
