//! Which record a row of `readings` or `latest` keeps when several are written to it: the
//! write timestamp (`USING TIMESTAMP`) each record's cells get. Pure; knows only the reading.
//!
//! Cassandra settles cells of equal timestamps one by one, by value, so two records of the
//! same city and `observed_at` written with the same timestamp leave a row that matches
//! neither. Every record therefore gets its own natural timestamp, ordered by:
//!
//! 1. `observed_at`, to the second: a newer observation replaces an older one in `latest`;
//! 2. `fetched_at`, in 10-second steps (a record without one ranks first): the later fetch
//!    of the same observation (an API revision, a second producer) wins;
//! 3. a digest of the whole record (every field), modulo 1,000: records fetched within the
//!    same 10 s still get different timestamps, the same record always the same one.
//!
//! Two different records can still share a natural timestamp (same second, same fetch slot,
//! same digest slot: one pair in 1,000). The writer settles those with a [`Memo`] of what it
//! decided per city and second: records rank by (natural timestamp, full 64-bit digest); one
//! that outranks the record written there is moved 1 µs above it, one that is outranked is
//! not written at all (it would lose whole anyway). Every record of a city passes through one
//! consumer (Kafka keys by city), so this holds for all it sees in one lifetime. What it
//! cannot see: after a restart, a rebalance or an eviction from the memo, a record tying with
//! one written before still mixes with it (one pair in 1,000 of those fetched within 10 s).
//!
//! The timestamp stays within the second of `observed_at` (in microseconds since the
//! epoch), so a `DELETE` at the current time still hides every earlier observation; the last
//! thousand microseconds of each second are kept free for records moved up.

use std::collections::{HashMap, VecDeque};

use crate::model::{Reading, MAX_AHEAD_MINUTES};

const MICROS_PER_SECOND: i64 = 1_000_000;
/// Ranks inside a second: fetch slots times digest slots, below a million.
const FETCH_SLOTS: i64 = 1_000;
const DIGEST_SLOTS: i64 = 1_000;
/// The last fetch slot is left to records the [`Memo`] moves up: a natural timestamp is at
/// most this far into its second, a moved one at most [`MAX_OFFSET`].
const LAST_FETCH_SLOT: i64 = FETCH_SLOTS - 2;
const MAX_OFFSET: i64 = MICROS_PER_SECOND - 1;
/// A fetch slot's width. 997 of them cover fetches from 10 minutes before the observation
/// (the most validation allows) to 2 h 36 min after it; a later fetch takes the last slot.
const FETCH_SLOT_SECONDS: i64 = 10;

/// The write timestamp of `r`'s cells in both tables, in microseconds since the epoch.
pub fn write_timestamp(r: &Reading) -> i64 {
    natural_timestamp(r, digest(r))
}

/// [`write_timestamp`], given the record's digest.
fn natural_timestamp(r: &Reading, digest: u64) -> i64 {
    r.observed_at.timestamp() * MICROS_PER_SECOND
        + fetch_slot(r) * DIGEST_SLOTS
        + (digest % DIGEST_SLOTS as u64) as i64
}

/// 0 without `fetched_at`, else 1..=LAST_FETCH_SLOT by the fetch's delay after the
/// observation.
fn fetch_slot(r: &Reading) -> i64 {
    let Some(fetched) = r.fetched_at else {
        return 0;
    };
    let delay = (fetched - r.observed_at).num_seconds() + MAX_AHEAD_MINUTES * 60;
    (delay.max(0) / FETCH_SLOT_SECONDS + 1).min(LAST_FETCH_SLOT)
}

/// FNV-1a over every field of the record (numbers by their bits, text by its bytes, each
/// absent field as one marker byte): stable across builds and machines (std's hasher is not),
/// equal for equal records, and no serialization per write.
fn digest(r: &Reading) -> u64 {
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
    h.0
}

/// How a record is written, decided once for both tables and every retry of its requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The write timestamp of its cells in both tables.
    pub timestamp: i64,
    /// Whether it goes to `latest` too: not when a record of another millisecond of the same
    /// second, written already, outranks it there (its `readings` row is its own).
    pub latest: bool,
}

impl Stamp {
    /// The natural stamp: for a writer that keeps no [`Memo`] (tools, tests).
    pub fn natural(r: &Reading) -> Self {
        Stamp {
            timestamp: write_timestamp(r),
            latest: true,
        }
    }
}

/// What [`Memo::decide`] says of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Write(Stamp),
    /// A record written already outranks it in every row it would go to: it would lose
    /// whole, so it is not written.
    Outranked,
    /// It outranks what was written, but no microsecond is left above that in its second
    /// (a thousand records of one observation moved up): not written, the earlier one stays.
    NoRoom,
}

/// How many records a writer's [`Memo`] remembers.
pub const MEMO_RECORDS: usize = 100_000;

/// What a writer decided, per city and second of `observed_at`, so that records sharing a
/// natural timestamp never share a written one (module doc). A record costs about 90 bytes
/// (its key, its entry, the map's slack, the eviction queue): 9 MB at [`MEMO_RECORDS`]. When
/// full, the key decided first is forgotten first.
pub struct Memo {
    capacity: usize,
    slots: HashMap<(i64, i64), Slot>,
    order: VecDeque<(i64, i64)>,
    /// Entries in `slots`.
    held: usize,
}

/// One record decided; times in microseconds into the key's second.
#[derive(Debug, Clone, Copy)]
struct Entry {
    digest: u64,
    natural: u32,
    timestamp: u32,
    /// The millisecond of `observed_at` in its second: which `readings` row it goes to (CQL
    /// timestamps keep milliseconds).
    millis: u32,
}

impl Entry {
    fn rank(&self) -> (u32, u64) {
        (self.natural, self.digest)
    }
}

/// A key's decisions: the record `latest` holds, and the one each `readings` row of another
/// millisecond of that second holds (none for readings from the API, whose `dt` is whole
/// seconds; a hand-made record may have milliseconds).
struct Slot {
    top: Entry,
    rows: Vec<Entry>,
}

/// A decision, as an offset into the key's second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Write { offset: u32, latest: bool },
    Outranked,
    NoRoom,
}

impl Slot {
    /// Ranked by (natural timestamp, digest): the written records of a row then have
    /// timestamps in the order of their ranks, so the best record seen holds the row, whole,
    /// whatever the order they came in.
    fn decide(&mut self, mut me: Entry) -> Outcome {
        if me.digest == self.top.digest {
            return Outcome::Write {
                offset: self.top.timestamp,
                latest: true,
            };
        }
        let row = self.rows.iter().position(|e| e.millis == me.millis);
        if let Some(seen) = row.map(|i| self.rows[i]) {
            if seen.digest == me.digest {
                return Outcome::Write {
                    offset: seen.timestamp,
                    latest: false,
                };
            }
        }
        let row_best = if self.top.millis == me.millis {
            Some(self.top)
        } else {
            row.map(|i| self.rows[i])
        };
        if row_best.is_some_and(|best| me.rank() < best.rank()) {
            return Outcome::Outranked;
        }
        let above_row = row_best.map_or(0, |best| best.timestamp + 1);
        let latest = me.rank() > self.top.rank();
        let floor = if latest {
            above_row.max(self.top.timestamp + 1)
        } else {
            above_row
        };
        let offset = me.natural.max(floor);
        if i64::from(offset) > MAX_OFFSET {
            return Outcome::NoRoom;
        }
        me.timestamp = offset;
        if !latest {
            match row {
                Some(i) => self.rows[i] = me,
                None => self.rows.push(me),
            }
        } else if self.top.millis == me.millis {
            self.top = me;
        } else {
            // The old top stays the best of its own row; `me` leaves the rows for the top.
            if let Some(i) = row {
                self.rows.swap_remove(i);
            }
            self.rows.push(self.top);
            self.top = me;
        }
        Outcome::Write { offset, latest }
    }

    fn entries(&self) -> usize {
        1 + self.rows.len()
    }
}

impl Memo {
    /// A memo of at most `capacity` records (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            slots: HashMap::new(),
            order: VecDeque::new(),
            held: 0,
        }
    }

    /// How `r` is written, decided against what was decided before for its city and second:
    /// the same record gets the same stamp again; one hash map probe.
    pub fn decide(&mut self, r: &Reading) -> Decision {
        let digest = digest(r);
        let natural = natural_timestamp(r, digest);
        let second = natural.div_euclid(MICROS_PER_SECOND);
        let offset = natural.rem_euclid(MICROS_PER_SECOND) as u32;
        let me = Entry {
            digest,
            natural: offset,
            timestamp: offset,
            millis: r.observed_at.timestamp_subsec_millis(),
        };
        let key = (r.city_id, second);
        let outcome = match self.slots.get_mut(&key) {
            Some(slot) => {
                let before = slot.entries();
                let outcome = slot.decide(me);
                self.held += slot.entries() - before;
                outcome
            }
            None => {
                self.slots.insert(
                    key,
                    Slot {
                        top: me,
                        rows: Vec::new(),
                    },
                );
                self.order.push_back(key);
                self.held += 1;
                Outcome::Write {
                    offset,
                    latest: true,
                }
            }
        };
        while self.held > self.capacity {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(slot) = self.slots.remove(&oldest) {
                self.held -= slot.entries();
            }
        }
        match outcome {
            Outcome::Write { offset, latest } => Decision::Write(Stamp {
                timestamp: second * MICROS_PER_SECOND + i64::from(offset),
                latest,
            }),
            Outcome::Outranked => Decision::Outranked,
            Outcome::NoRoom => Decision::NoRoom,
        }
    }

    /// Records remembered.
    pub fn len(&self) -> usize {
        self.held
    }

    pub fn is_empty(&self) -> bool {
        self.held == 0
    }
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

    const PARIS_DIGEST_SLOT: u64 = 949;

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
        assert_eq!(digest(&paris()) % DIGEST_SLOTS as u64, PARIS_DIGEST_SLOT);
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

    /// A record of Paris's observation fetched at the same time as `a`, whose description is
    /// varied from `a`'s until its natural timestamp is `a`'s plus `above` (brute force).
    fn rival(a: &Reading, above: i64, variant: &str) -> Reading {
        (0..100_000)
            .map(|n| {
                let mut r = a.clone();
                r.temperature = 20.0;
                r.weather_description = Some(format!("{variant} {n}"));
                r
            })
            .find(|r| write_timestamp(r) == write_timestamp(a) + above)
            .expect("a description giving that timestamp")
    }

    /// What `latest` and the `readings` row hold once `order` is decided by one memo: the
    /// record with the highest timestamp among those written to each, after checking that no
    /// two records written to one row share a timestamp (Cassandra would mix them).
    fn stored(order: &[&Reading]) -> (Reading, Reading) {
        let mut memo = Memo::new(MEMO_RECORDS);
        let mut latest: Vec<(i64, &Reading)> = Vec::new();
        let mut readings: Vec<(i64, &Reading)> = Vec::new();
        for &r in order {
            if let Decision::Write(stamp) = memo.decide(r) {
                for (row, goes) in [(&mut readings, true), (&mut latest, stamp.latest)] {
                    if goes && !row.iter().any(|(_, w)| *w == r) {
                        assert!(
                            row.iter().all(|(t, _)| *t != stamp.timestamp),
                            "two records at {}",
                            stamp.timestamp
                        );
                        row.push((stamp.timestamp, r));
                    }
                }
            }
        }
        let top = |row: &[(i64, &Reading)]| row.iter().max_by_key(|(t, _)| *t).unwrap().1.clone();
        (top(&latest), top(&readings))
    }

    fn orders<'a>(records: &[&'a Reading]) -> Vec<Vec<&'a Reading>> {
        if records.len() <= 1 {
            return vec![records.to_vec()];
        }
        let mut all = Vec::new();
        for i in 0..records.len() {
            let mut rest = records.to_vec();
            let first = rest.remove(i);
            for mut tail in orders(&rest) {
                tail.insert(0, first);
                all.push(tail);
            }
        }
        all
    }

    #[test]
    fn two_records_with_one_natural_timestamp_leave_the_same_whole_winner_in_both_orders() {
        let a = paris();
        let b = rival(&a, 0, "b");
        let winner = if digest(&a) > digest(&b) { &a } else { &b };
        for order in [[&a, &b], [&b, &a]] {
            assert_eq!(stored(&order), (winner.clone(), winner.clone()));
        }
        // The loser coming second is not written; coming first, the winner moves 1 µs up.
        let (loser, winner) = if digest(&a) > digest(&b) {
            (&b, &a)
        } else {
            (&a, &b)
        };
        let mut memo = Memo::new(10);
        assert!(matches!(memo.decide(winner), Decision::Write(_)));
        assert_eq!(memo.decide(loser), Decision::Outranked);
        let mut memo = Memo::new(10);
        memo.decide(loser);
        assert_eq!(
            memo.decide(winner),
            Decision::Write(Stamp {
                timestamp: write_timestamp(winner) + 1,
                latest: true
            })
        );
    }

    #[test]
    fn three_colliding_records_leave_the_best_ranked_whole_in_every_order() {
        let a = paris();
        let b = rival(&a, 0, "b");
        let c = rival(&a, 0, "c");
        let best = [&a, &b, &c].into_iter().max_by_key(|r| digest(r)).unwrap();
        for order in orders(&[&a, &b, &c]) {
            assert_eq!(stored(&order), (best.clone(), best.clone()), "{order:?}");
        }
        // A record one microsecond above, where a moved one may land: it outranks them all.
        let d = rival(&a, 1, "d");
        for order in orders(&[&a, &b, &c, &d]) {
            assert_eq!(stored(&order), (d.clone(), d.clone()), "{order:?}");
        }
    }

    #[test]
    fn the_same_record_twice_gets_the_same_stamp_and_changes_nothing() {
        let a = paris();
        let b = rival(&a, 0, "b");
        let (low, high) = if digest(&a) < digest(&b) {
            (a, b)
        } else {
            (b, a)
        };
        let mut memo = Memo::new(10);
        let first = memo.decide(&low);
        assert_eq!(memo.decide(&low), first);
        let moved = memo.decide(&high);
        assert_eq!(memo.decide(&high), moved);
        assert_eq!(memo.len(), 1);
        // Written again after it was outranked: still not in the way of the winner.
        assert_eq!(memo.decide(&low), Decision::Outranked);
        assert_eq!(stored(&[&low, &high, &low, &high]), (high.clone(), high));
    }

    #[test]
    fn records_of_other_milliseconds_keep_their_own_readings_row_but_not_latest() {
        let w = paris();
        let mut r = rival(&w, 0, "r");
        r.observed_at += Duration::milliseconds(100);
        // Same natural timestamp (the second is the same), another `readings` row.
        let r = rival(&r, 0, "r");
        let (low, high) = if digest(&w) < digest(&r) {
            (&w, &r)
        } else {
            (&r, &w)
        };
        let mut memo = Memo::new(10);
        memo.decide(high);
        let Decision::Write(stamp) = memo.decide(low) else {
            panic!("the row of its own millisecond must be written");
        };
        assert!(!stamp.latest);
        // A rival in that row: the two get different timestamps, the better one the higher.
        let mut other = low.clone();
        other.humidity += 1;
        let other = rival(&other, write_timestamp(low) - write_timestamp(&other), "o");
        let Decision::Write(second) = memo.decide(&other) else {
            assert!(
                digest(&other) < digest(low),
                "outranked only by the better one"
            );
            return;
        };
        assert!(digest(&other) > digest(low) && second.timestamp > stamp.timestamp);
    }

    #[test]
    fn the_memo_holds_at_most_its_capacity_and_forgets_the_oldest_first() {
        let mut memo = Memo::new(3);
        let records: Vec<Reading> = (0..10)
            .map(|i| {
                let mut r = paris();
                r.city_id = i;
                r
            })
            .collect();
        for r in &records {
            memo.decide(r);
            assert!(memo.len() <= 3);
        }
        assert_eq!(memo.len(), 3);
        // City 0 is forgotten: its rival is decided afresh, at its natural timestamp.
        let forgotten = rival(&records[0], 0, "b");
        assert_eq!(
            memo.decide(&forgotten),
            Decision::Write(Stamp::natural(&forgotten))
        );
        // City 9 is remembered: its rival is moved up or not written.
        let remembered = rival(&records[9], 0, "b");
        assert_ne!(
            memo.decide(&remembered),
            Decision::Write(Stamp::natural(&remembered))
        );
    }

    #[test]
    fn a_record_is_never_moved_out_of_its_second() {
        let mut late = paris();
        late.fetched_at = late.fetched_at.map(|f| f + Duration::days(30));
        let offset = write_timestamp(&late).rem_euclid(MICROS_PER_SECOND);
        assert!(
            offset < MAX_OFFSET - 999,
            "{offset}: no room left to move up"
        );
        let top = Entry {
            digest: 1,
            natural: MAX_OFFSET as u32,
            timestamp: MAX_OFFSET as u32,
            millis: 0,
        };
        let mut slot = Slot {
            top,
            rows: Vec::new(),
        };
        let better = Entry { digest: 2, ..top };
        assert_eq!(slot.decide(better), Outcome::NoRoom);
        assert_eq!(slot.top.digest, 1);
    }
}
