//! OpenWeatherMap's city list (`city.list.json.gz`): one JSON array of about 210,000
//! `{"id", "name", "state"?, "country", "coord": {"lon", "lat"}}` objects.
//!
//! Owns reading that array as a stream (one entry at a time, decoded from the reader's
//! buffer, so neither the text nor the list is ever held whole), validating each entry, selecting
//! cities, and dropping near-duplicates. It only sees a `BufRead`: where the bytes come from
//! (file, download, gzip) is [`super::source`]'s business, and printing is the command's.

pub use crate::text::fold_name;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::io::{self, BufRead};

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// Entries of the same name closer than this are taken for one place listed twice.
pub const DUPLICATE_RADIUS_KM: f64 = 10.0;

/// How many bad entries are kept, with their position, for the report; the rest are counted.
pub const BAD_ENTRIES_REPORTED: usize = 5;

/// Mean Earth radius (IUGG), for the haversine distance.
const EARTH_RADIUS_KM: f64 = 6371.0088;

/// One city of the producer's list: what `data/cities.fr.json` holds, one object per city.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct City {
    /// OpenWeatherMap's city id, the key of every reading.
    pub id: u64,
    pub name: String,
    /// ISO 3166 alpha-2 code as the list gives it (upper case); empty when the list has none.
    pub country: String,
    pub lat: f64,
    pub lon: f64,
}

impl City {
    pub fn point(&self) -> Point {
        Point {
            lat: self.lat,
            lon: self.lon,
        }
    }
}

/// A position in degrees, checked to be on Earth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub lat: f64,
    pub lon: f64,
}

impl Point {
    /// A point, or why it is not one (latitude within -90..=90, longitude within -180..=180).
    pub fn new(lat: f64, lon: f64) -> Result<Self, String> {
        if !(lat.is_finite() && (-90.0..=90.0).contains(&lat)) {
            return Err(format!("latitude {lat} is outside -90..90"));
        }
        if !(lon.is_finite() && (-180.0..=180.0).contains(&lon)) {
            return Err(format!("longitude {lon} is outside -180..180"));
        }
        Ok(Self { lat, lon })
    }

    /// Parses `LAT,LON` in decimal degrees, e.g. `48.85,2.35`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (lat, lon) = text
            .split_once(',')
            .ok_or_else(|| format!("'{text}' is not LAT,LON (e.g. 48.85,2.35)"))?;
        let number = |part: &str, what: &str| {
            part.trim().parse::<f64>().map_err(|_| {
                format!("'{text}' is not LAT,LON: the {what} '{part}' is not a number")
            })
        };
        Self::new(number(lat, "latitude")?, number(lon, "longitude")?)
            .map_err(|why| format!("'{text}' is not LAT,LON: {why}"))
    }
}

/// Great-circle distance in kilometres (haversine: accurate to about 0.5 %, plenty for 10 km).
pub fn distance_km(a: Point, b: Point) -> f64 {
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
}

/// Which cities to keep. Every filter given must match (they are ANDed).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// ISO alpha-2 country code, compared ignoring case.
    pub country: String,
    /// A substring of the name, already folded with [`fold_name`].
    pub name: Option<String>,
    /// Only cities within `radius_km` of `center`.
    pub near: Option<Near>,
    /// Only these city ids.
    pub ids: Option<BTreeSet<u64>>,
    /// At most this many: the nearest with `near`, else the first by name.
    pub limit: Option<usize>,
    /// Keep every entry, near-duplicates included.
    pub keep_duplicates: bool,
}

/// A circle: the centre and its radius in kilometres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Near {
    pub center: Point,
    pub radius_km: f64,
}

/// The cities a [`Selection`] kept, in output order (name, then id).
#[derive(Debug, Clone, PartialEq)]
pub struct Selected {
    pub cities: Vec<City>,
    /// Entries dropped as near-duplicates of a kept one.
    pub duplicates_dropped: usize,
}

impl Selection {
    /// Whether one city passes the filters; applied while reading, so only matches are kept.
    pub fn matches(&self, city: &City) -> bool {
        // Cheapest tests first: most of the 210,000 entries fail on the country. A few real
        // entries have an empty name: well-formed, but of no use in a list of cities.
        if !city.country.eq_ignore_ascii_case(&self.country) || city.name.trim().is_empty() {
            return false;
        }
        if let Some(ids) = &self.ids {
            if !ids.contains(&city.id) {
                return false;
            }
        }
        if let Some(near) = &self.near {
            if distance_km(near.center, city.point()) > near.radius_km {
                return false;
            }
        }
        match &self.name {
            Some(wanted) => fold_name(&city.name).contains(wanted.as_str()),
            None => true,
        }
    }

    /// The `--ids` that no matching city had, in increasing order.
    pub fn missing_ids(&self, matched: &[City]) -> Vec<u64> {
        let Some(ids) = &self.ids else {
            return Vec::new();
        };
        let found: BTreeSet<u64> = matched.iter().map(|c| c.id).collect();
        ids.difference(&found).copied().collect()
    }

    /// From the matching cities to the output: drop near-duplicates (unless kept), apply the
    /// limit, sort by name then id.
    pub fn finish(&self, matched: Vec<City>) -> Selected {
        let (mut cities, duplicates_dropped) = if self.keep_duplicates {
            (matched, 0)
        } else {
            drop_near_duplicates(matched)
        };
        if let Some(limit) = self.limit {
            match self.near {
                Some(near) => cities.sort_by(|a, b| {
                    distance_km(near.center, a.point())
                        .total_cmp(&distance_km(near.center, b.point()))
                        .then(a.id.cmp(&b.id))
                }),
                None => sort_by_name(&mut cities),
            }
            cities.truncate(limit);
        }
        sort_by_name(&mut cities);
        Selected {
            cities,
            duplicates_dropped,
        }
    }
}

/// Output order: by name as people read it (ignoring case and accents, so `Évreux` sorts
/// among the E), then by the exact name, then by id, so the order is total and repeatable.
pub fn sort_by_name(cities: &mut [City]) {
    cities.sort_by_cached_key(|c| (fold_name(&c.name), c.name.clone(), c.id));
}

/// The rule for near-duplicates, as `--help` states it: entries whose names fold to the same
/// text (see [`fold_name`]) in the same country are taken in order of preference (the
/// spelling with the most accented letters first, then the lowest id), and an entry is
/// dropped when an entry already kept lies within [`DUPLICATE_RADIUS_KM`] of it.
///
/// Preferring accents keeps `Saint-Étienne` over its plain `Saint-Etienne` twin; the lowest
/// id is the oldest entry. The result does not depend on the order of the input. Returns the
/// kept cities (in no particular order) and how many were dropped.
pub fn drop_near_duplicates(cities: Vec<City>) -> (Vec<City>, usize) {
    let mut groups: HashMap<(String, String), Vec<City>> = HashMap::new();
    for city in cities {
        let key = (city.country.to_ascii_uppercase(), fold_name(&city.name));
        groups.entry(key).or_default().push(city);
    }
    let mut kept_all = Vec::new();
    let mut dropped = 0;
    for (_, mut group) in groups {
        group.sort_by_key(|c| (std::cmp::Reverse(accented_letters(&c.name)), c.id));
        let first_kept = kept_all.len();
        for city in group {
            let duplicate = kept_all[first_kept..]
                .iter()
                .any(|k: &City| distance_km(k.point(), city.point()) <= DUPLICATE_RADIUS_KM);
            if duplicate {
                dropped += 1;
            } else {
                kept_all.push(city);
            }
        }
    }
    (kept_all, dropped)
}

fn accented_letters(name: &str) -> usize {
    name.chars().filter(|c| !c.is_ascii()).count()
}

/// An entry that was skipped, and where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct BadEntry {
    /// 1-based position in the array.
    pub index: u64,
    /// The line of the text where the entry starts.
    pub line: u64,
    /// The entry's id, when it has a usable one: the quickest way to find it.
    pub id: Option<u64>,
    pub problem: String,
}

impl fmt::Display for BadEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "entry {} (line {}", self.index, self.line)?;
        if let Some(id) = self.id {
            write!(f, ", id {id}")?;
        }
        write!(f, "): {}", self.problem)
    }
}

/// What reading the list found, besides the cities themselves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadReport {
    /// Entries in the array, bad ones included.
    pub entries: u64,
    /// Entries skipped because they are not a usable city.
    pub bad: u64,
    /// The first [`BAD_ENTRIES_REPORTED`] bad entries.
    pub first_bad: Vec<BadEntry>,
}

/// Why a city list could not be read at all. The caller adds which source it was.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("it is empty")]
    Empty,
    #[error("it ends too early, at line {line} column {column} (a truncated file?)")]
    Truncated { line: u64, column: u64 },
    #[error("it is not JSON: {0}")]
    NotJson(String),
    #[error("it is not a JSON array of cities: {0}")]
    NotAnArray(String),
    #[error(transparent)]
    Read(io::Error),
}

/// Reads a city list as a stream, handing each valid city to `on_city` and skipping (and
/// counting) entries that are not one. Memory stays flat whatever the size of the list: one
/// entry is decoded at a time and only what `on_city` keeps survives.
///
/// The array itself is walked here, byte by byte over the reader's buffer, to find where each
/// entry starts and ends; each entry is then decoded by `serde_json::from_slice`, which is
/// several times faster than serde_json's byte-at-a-time `from_reader` (the 30 MB list is
/// mostly indentation). It also gives every entry its line for the report.
pub fn read_cities<R: BufRead>(
    reader: R,
    mut on_city: impl FnMut(City),
) -> Result<ReadReport, ListError> {
    let mut list = ListReader {
        reader,
        at: Position::default(),
    };
    list.skip_byte_order_mark()?;
    // Looking at the first byte names what was found instead of an array.
    match list.skip_whitespace()? {
        None => return Err(ListError::Empty),
        Some(b'[') => list.bump(),
        Some(other) => {
            let found = match other {
                b'{' => "it is an object",
                b'"' => "it is a string",
                b'-' | b'0'..=b'9' => "it is a number",
                b't' | b'f' => "it is a boolean",
                b'n' => "it is null",
                _ => return Err(list.unexpected(other, "")),
            };
            return Err(ListError::NotAnArray(found.to_string()));
        }
    }
    let mut report = ReadReport::default();
    let mut pending = Vec::new();
    let mut first = true;
    loop {
        match list.skip_whitespace()? {
            None => return Err(list.truncated()),
            Some(b']') if first => {
                list.bump();
                break;
            }
            Some(other @ (b']' | b'}' | b',')) => {
                return Err(list.unexpected(other, " where an entry should be"));
            }
            Some(_) => {}
        }
        let line = list.at.line;
        let raw = list.entry(&mut pending)?;
        report.entries += 1;
        let id = raw.usable_id();
        match raw.into_city() {
            Ok(city) => on_city(city),
            Err(problem) => {
                report.bad += 1;
                if report.first_bad.len() < BAD_ENTRIES_REPORTED {
                    report.first_bad.push(BadEntry {
                        index: report.entries,
                        line,
                        id,
                        problem,
                    });
                }
            }
        }
        first = false;
        match list.skip_whitespace()? {
            None => return Err(list.truncated()),
            Some(b',') => list.bump(),
            Some(b']') => {
                list.bump();
                break;
            }
            Some(other) => {
                let after = format!(" after entry {}", report.entries);
                return Err(list.unexpected(other, &after));
            }
        }
    }
    // Only whitespace may follow. Reading to the end also makes a gzip decoder check its
    // trailer, so a bad checksum or a missing end is caught here.
    match list.skip_whitespace()? {
        None => Ok(report),
        Some(other) => Err(list.unexpected(other, " after the end of the array")),
    }
}

/// Where the reader is in the text, for messages.
#[derive(Debug, Clone, Copy)]
struct Position {
    /// 1-based line.
    line: u64,
    /// Bytes read so far.
    offset: u64,
    /// `offset` just after the last newline, to compute columns.
    line_start: u64,
}

impl Default for Position {
    fn default() -> Self {
        Self {
            line: 1,
            offset: 0,
            line_start: 0,
        }
    }
}

impl Position {
    fn advance(&mut self, bytes: &[u8]) {
        if let Some(last) = bytes.iter().rposition(|&b| b == b'\n') {
            self.line += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
            self.line_start = self.offset + last as u64 + 1;
        }
        self.offset += bytes.len() as u64;
    }

    /// 1-based column of the next byte.
    fn column(&self) -> u64 {
        self.offset - self.line_start + 1
    }
}

/// The top-level array, read over a `BufRead` without copying except for the entries that
/// straddle two buffer fills.
struct ListReader<R> {
    reader: R,
    at: Position,
}

/// The reader's buffer, refilled when empty; empty only at the end of the text.
fn fill<R: BufRead>(reader: &mut R) -> Result<&[u8], ListError> {
    loop {
        match reader.fill_buf() {
            Ok(_) => break,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(ListError::Read(err)),
        }
    }
    reader.fill_buf().map_err(ListError::Read)
}

impl<R: BufRead> ListReader<R> {
    fn skip_byte_order_mark(&mut self) -> Result<(), ListError> {
        if fill(&mut self.reader)?.starts_with(b"\xEF\xBB\xBF") {
            self.reader.consume(3);
            self.at.offset += 3;
            self.at.line_start = 3;
        }
        Ok(())
    }

    /// Skips whitespace and peeks at the next byte; `None` at the end of the text.
    fn skip_whitespace(&mut self) -> Result<Option<u8>, ListError> {
        loop {
            let buf = fill(&mut self.reader)?;
            if buf.is_empty() {
                return Ok(None);
            }
            match buf.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(pos) => {
                    let next = buf[pos];
                    self.at.advance(&buf[..pos]);
                    self.reader.consume(pos);
                    return Ok(Some(next));
                }
                None => {
                    let len = buf.len();
                    self.at.advance(buf);
                    self.reader.consume(len);
                }
            }
        }
    }

    /// Consumes one byte already peeked (never a newline).
    fn bump(&mut self) {
        self.reader.consume(1);
        self.at.offset += 1;
    }

    /// Reads one entry, from its first byte (already peeked) to its last, and decodes it.
    fn entry(&mut self, pending: &mut Vec<u8>) -> Result<RawEntry, ListError> {
        let start = self.at;
        let mut scan = EntryScan::default();
        pending.clear();
        loop {
            let buf = fill(&mut self.reader)?;
            if buf.is_empty() {
                return Err(self.truncated());
            }
            match scan.feed(buf) {
                Some(end) if pending.is_empty() => {
                    // The common case: the whole entry is in the buffer; decode it in place.
                    let raw = serde_json::from_slice::<RawEntry>(&buf[..end]);
                    self.at.advance(&buf[..end]);
                    self.reader.consume(end);
                    return raw.map_err(|err| syntax_error(&err, start));
                }
                Some(end) => {
                    pending.extend_from_slice(&buf[..end]);
                    self.at.advance(&buf[..end]);
                    self.reader.consume(end);
                    return serde_json::from_slice::<RawEntry>(pending)
                        .map_err(|err| syntax_error(&err, start));
                }
                None => {
                    let len = buf.len();
                    pending.extend_from_slice(buf);
                    self.at.advance(buf);
                    self.reader.consume(len);
                }
            }
        }
    }

    fn truncated(&self) -> ListError {
        ListError::Truncated {
            line: self.at.line,
            column: self.at.column(),
        }
    }

    /// `context` is empty or starts with a space: " after entry 3".
    fn unexpected(&self, byte: u8, context: &str) -> ListError {
        ListError::NotJson(format!(
            "unexpected character {:?}{context} at line {} column {}",
            char::from(byte),
            self.at.line,
            self.at.column()
        ))
    }
}

/// A syntax error inside an entry, with serde's position (relative to the entry) made
/// relative to the whole text.
fn syntax_error(err: &serde_json::Error, start: Position) -> ListError {
    let text = err.to_string();
    let message = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(m, _)| m);
    let line = start.line + err.line() as u64 - 1;
    let column = if err.line() == 1 {
        start.column() + err.column() as u64 - 1
    } else {
        err.column() as u64
    };
    ListError::NotJson(format!("{message} at line {line} column {column}"))
}

/// Finds where one array element ends, fed one buffer at a time: a container ends at its
/// matching bracket (brackets inside strings do not count), a string at its closing quote,
/// anything else (a number, a literal, garbage) before the next delimiter. It only delimits;
/// serde_json checks the syntax of what it delimited.
#[derive(Debug, Default)]
struct EntryScan {
    kind: Option<EntryKind>,
    depth: u32,
    in_string: bool,
    escaped: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    Container,
    String,
    Scalar,
}

impl EntryScan {
    /// The end (exclusive) of the element in `chunk`, or `None` when it goes on past it.
    fn feed(&mut self, chunk: &[u8]) -> Option<usize> {
        let mut i = 0;
        if self.kind.is_none() {
            let first = *chunk.first()?;
            self.kind = Some(match first {
                b'{' | b'[' => {
                    self.depth = 1;
                    EntryKind::Container
                }
                b'"' => {
                    self.in_string = true;
                    EntryKind::String
                }
                _ => EntryKind::Scalar,
            });
            i = 1;
        }
        if self.kind == Some(EntryKind::Scalar) {
            return chunk[i..]
                .iter()
                .position(|b| b.is_ascii_whitespace() || matches!(b, b',' | b']' | b'}'))
                .map(|pos| i + pos);
        }
        while i < chunk.len() {
            if self.in_string {
                if self.escaped {
                    // The byte after a backslash, maybe at the start of the next buffer.
                    self.escaped = false;
                    i += 1;
                    continue;
                }
                // Jump to the next quote or backslash: strings are most of the bytes.
                let pos = chunk[i..].iter().position(|&b| b == b'"' || b == b'\\')?;
                i += pos;
                if chunk[i] == b'\\' {
                    self.escaped = true;
                } else {
                    self.in_string = false;
                    if self.kind == Some(EntryKind::String) {
                        return Some(i + 1);
                    }
                }
                i += 1;
                continue;
            }
            match chunk[i] {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
            i += 1;
        }
        None
    }
}

/// What a value was, when it was not what an entry needs.
fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The visitor methods for anything that is not a JSON object: accepted (so one odd entry
/// does not stop the stream) and remembered as what it was.
macro_rules! accept_non_objects {
    () => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(Self::Value::not_an_object("a boolean"))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Self::Value::not_an_object("a number"))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(Self::Value::not_an_object("a number"))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Self::Value::not_an_object("a number"))
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok(Self::Value::not_an_object("a string"))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Self::Value::not_an_object("null"))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Self::Value::not_an_object("an array"))
        }
    };
}

/// The field names we read; anything else (`state`, future fields) is skipped unparsed.
enum Key {
    Id,
    Name,
    Country,
    Coord,
    Lat,
    Lon,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "id" => Key::Id,
                    "name" => Key::Name,
                    "country" => Key::Country,
                    "coord" => Key::Coord,
                    "lat" => Key::Lat,
                    "lon" => Key::Lon,
                    _ => Key::Other,
                })
            }
        }
        deserializer.deserialize_identifier(KeyVisitor)
    }
}

/// One array element as found, before validation: every field optional and of any type, so
/// that a malformed entry becomes a [`BadEntry`] instead of an error that ends the stream.
#[derive(Debug, Default)]
struct RawEntry {
    not_an_object: Option<&'static str>,
    id: Option<Value>,
    name: Option<Value>,
    country: Option<Value>,
    coord: Option<RawCoord>,
}

#[derive(Debug, Default)]
struct RawCoord {
    not_an_object: Option<&'static str>,
    lat: Option<Value>,
    lon: Option<Value>,
}

impl RawEntry {
    fn not_an_object(kind: &'static str) -> Self {
        Self {
            not_an_object: Some(kind),
            ..Self::default()
        }
    }

    fn usable_id(&self) -> Option<u64> {
        self.id.as_ref().and_then(Value::as_u64)
    }

    /// The city, or what is wrong with the entry in a few words.
    fn into_city(self) -> Result<City, String> {
        if let Some(kind) = self.not_an_object {
            return Err(format!("{kind} instead of an object"));
        }
        let id = match self.id {
            None => return Err("no id".into()),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(id) if id > 0 => id,
                _ => return Err(format!("id {n} is not a positive whole number")),
            },
            Some(other) => return Err(format!("id is {} instead of a number", describe(&other))),
        };
        let name = match self.name {
            None => return Err("no name".into()),
            Some(Value::String(s)) => s,
            Some(other) => return Err(format!("name is {} instead of a string", describe(&other))),
        };
        let country = match self.country {
            // A few real entries have no country; they simply never match one.
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s,
            Some(other) => {
                return Err(format!(
                    "country is {} instead of a string",
                    describe(&other)
                ))
            }
        };
        let point = match self.coord {
            None => return Err("no coord".into()),
            Some(coord) => coord.into_point()?,
        };
        Ok(City {
            id,
            name,
            country,
            lat: point.lat,
            lon: point.lon,
        })
    }
}

impl RawCoord {
    fn not_an_object(kind: &'static str) -> Self {
        Self {
            not_an_object: Some(kind),
            ..Self::default()
        }
    }

    fn into_point(self) -> Result<Point, String> {
        if let Some(kind) = self.not_an_object {
            return Err(format!("coord is {kind} instead of an object"));
        }
        let number = |value: Option<Value>, what: &str| match value {
            None => Err(format!("no coord.{what}")),
            Some(Value::Number(n)) => n
                .as_f64()
                .ok_or_else(|| format!("coord.{what} {n} is not a usable number")),
            Some(other) => Err(format!(
                "coord.{what} is {} instead of a number",
                describe(&other)
            )),
        };
        let (lat, lon) = (number(self.lat, "lat")?, number(self.lon, "lon")?);
        Point::new(lat, lon).map_err(|why| format!("coordinates out of range: {why}"))
    }
}

impl<'de> Deserialize<'de> for RawEntry {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntryVisitor;
        impl<'de> Visitor<'de> for EntryVisitor {
            type Value = RawEntry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a city object")
            }
            accept_non_objects!();
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawEntry, A::Error> {
                let mut entry = RawEntry::default();
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Id => entry.id = Some(map.next_value()?),
                        Key::Name => entry.name = Some(map.next_value()?),
                        Key::Country => entry.country = Some(map.next_value()?),
                        Key::Coord => entry.coord = Some(map.next_value()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(entry)
            }
        }
        deserializer.deserialize_any(EntryVisitor)
    }
}

impl<'de> Deserialize<'de> for RawCoord {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CoordVisitor;
        impl<'de> Visitor<'de> for CoordVisitor {
            type Value = RawCoord;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a coord object")
            }
            accept_non_objects!();
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawCoord, A::Error> {
                let mut coord = RawCoord::default();
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Lat => coord.lat = Some(map.next_value()?),
                        Key::Lon => coord.lon = Some(map.next_value()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(coord)
            }
        }
        deserializer.deserialize_any(CoordVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn city(id: u64, name: &str, lat: f64, lon: f64) -> City {
        City {
            id,
            name: name.into(),
            country: "FR".into(),
            lat,
            lon,
        }
    }

    fn read(text: &str) -> Result<(Vec<City>, ReadReport), ListError> {
        let mut cities = Vec::new();
        let report = read_cities(text.as_bytes(), |c| cities.push(c))?;
        Ok((cities, report))
    }

    fn fr() -> Selection {
        Selection {
            country: "FR".into(),
            ..Selection::default()
        }
    }

    #[test]
    fn distance_between_paris_and_lyon_is_about_392_km() {
        let paris = Point::new(48.8534, 2.3488).unwrap();
        let lyon = Point::new(45.7485, 4.8467).unwrap();
        let d = distance_km(paris, lyon);
        assert!((d - 392.0).abs() < 3.0, "{d}");
        assert_eq!(distance_km(paris, paris), 0.0);
    }

    #[test]
    fn distance_across_the_antimeridian_is_short() {
        let a = Point::new(0.0, 179.95).unwrap();
        let b = Point::new(0.0, -179.95).unwrap();
        assert!((distance_km(a, b) - 11.1).abs() < 0.2);
    }

    #[test]
    fn points_parse_from_lat_comma_lon_and_are_range_checked() {
        assert_eq!(
            Point::parse("48.85, 2.35").unwrap(),
            Point {
                lat: 48.85,
                lon: 2.35
            }
        );
        assert!(Point::parse("48.85").unwrap_err().contains("LAT,LON"));
        assert!(Point::parse("north,2")
            .unwrap_err()
            .contains("latitude 'north'"));
        assert!(Point::parse("91,2")
            .unwrap_err()
            .contains("outside -90..90"));
        assert!(Point::parse("45,181")
            .unwrap_err()
            .contains("outside -180..180"));
        assert!(Point::parse("NaN,2").is_err());
    }

    #[test]
    fn good_entries_are_read_with_and_without_state() {
        let text = r#"[
            {"id": 2988507, "name": "Paris", "state": "", "country": "FR", "coord": {"lon": 2.3488, "lat": 48.853409}},
            {"id": 4717560, "name": "Paris", "state": "TX", "country": "US", "coord": {"lon": -95, "lat": 33}},
            {"id": 2996944, "name": "Lyon", "country": "FR", "coord": {"lat": 45.748459, "lon": 4.84671}}
        ]"#;
        let (cities, report) = read(text).unwrap();
        assert_eq!(report.entries, 3);
        assert_eq!(report.bad, 0);
        assert_eq!(cities[0], city(2988507, "Paris", 48.853409, 2.3488));
        assert_eq!(cities[1].country, "US");
        assert_eq!((cities[1].lat, cities[1].lon), (33.0, -95.0));
        assert_eq!(cities[2].name, "Lyon");
    }

    #[test]
    fn bad_entries_are_skipped_counted_and_reported_with_their_position() {
        let text = "[\n\
            {\"name\": \"No id\", \"country\": \"FR\", \"coord\": {\"lon\": 1, \"lat\": 1}},\n\
            {\"id\": \"7\", \"name\": \"Text id\", \"country\": \"FR\", \"coord\": {\"lon\": 1, \"lat\": 1}},\n\
            {\"id\": 8, \"country\": \"FR\", \"coord\": {\"lon\": 1, \"lat\": 1}},\n\
            {\"id\": 9, \"name\": 9, \"country\": \"FR\", \"coord\": {\"lon\": 1, \"lat\": 1}},\n\
            {\"id\": 10, \"name\": \"No coord\", \"country\": \"FR\"},\n\
            {\"id\": 11, \"name\": \"Text coord\", \"country\": \"FR\", \"coord\": \"here\"},\n\
            {\"id\": 12, \"name\": \"Good\", \"country\": \"FR\", \"coord\": {\"lon\": 1, \"lat\": 1}},\n\
            {\"id\": 13, \"name\": \"Far north\", \"country\": \"FR\", \"coord\": {\"lon\": 1, \"lat\": 91}},\n\
            42\n\
        ]";
        let (cities, report) = read(text).unwrap();
        assert_eq!(cities.len(), 1);
        assert_eq!(cities[0].id, 12);
        assert_eq!(report.entries, 9);
        assert_eq!(report.bad, 8);
        assert_eq!(report.first_bad.len(), BAD_ENTRIES_REPORTED);
        let lines: Vec<String> = report.first_bad.iter().map(|b| b.to_string()).collect();
        assert_eq!(lines[0], "entry 1 (line 2): no id");
        assert_eq!(
            lines[1],
            "entry 2 (line 3): id is a string instead of a number"
        );
        assert_eq!(lines[2], "entry 3 (line 4, id 8): no name");
        assert_eq!(
            lines[3],
            "entry 4 (line 5, id 9): name is a number instead of a string"
        );
        assert_eq!(lines[4], "entry 5 (line 6, id 10): no coord");
    }

    #[test]
    fn wrongly_typed_or_out_of_range_coordinates_are_bad_entries() {
        let text = r#"[
            {"id": 1, "name": "A", "country": "FR", "coord": "here"},
            {"id": 2, "name": "B", "country": "FR", "coord": {"lat": "1", "lon": 1}},
            {"id": 3, "name": "C", "country": "FR", "coord": {"lat": 1}},
            {"id": 4, "name": "D", "country": "FR", "coord": {"lat": 1, "lon": 200}}
        ]"#;
        let (cities, report) = read(text).unwrap();
        assert!(cities.is_empty());
        let problems: Vec<&str> = report
            .first_bad
            .iter()
            .map(|b| b.problem.as_str())
            .collect();
        assert_eq!(
            problems,
            [
                "coord is a string instead of an object",
                "coord.lat is a string instead of a number",
                "no coord.lon",
                "coordinates out of range: longitude 200 is outside -180..180",
            ]
        );
    }

    #[test]
    fn a_list_that_is_not_an_array_is_refused_and_says_what_it_is() {
        let err = read(r#"{"id": 1}"#).unwrap_err();
        assert!(matches!(err, ListError::NotAnArray(_)), "{err}");
        assert_eq!(
            err.to_string(),
            "it is not a JSON array of cities: it is an object"
        );
        assert!(matches!(
            read("  \n 42").unwrap_err(),
            ListError::NotAnArray(_)
        ));
    }

    #[test]
    fn text_that_is_not_json_is_refused_with_its_line() {
        let err = read("\n\nhello").unwrap_err();
        assert_eq!(
            err.to_string(),
            "it is not JSON: unexpected character 'h' at line 3 column 1"
        );
        let err = read("[{\"id\": 1,, }]").unwrap_err();
        assert!(matches!(err, ListError::NotJson(_)), "{err}");
        assert!(err.to_string().contains("line 1 column"), "{err}");
    }

    #[test]
    fn trailing_garbage_after_the_array_is_refused() {
        let err = read("[]\n x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "it is not JSON: unexpected character 'x' after the end of the array at line 2 column 2"
        );
    }

    #[test]
    fn entries_must_be_separated_by_commas() {
        let err = read("[1 2]").unwrap_err();
        assert_eq!(
            err.to_string(),
            "it is not JSON: unexpected character '2' after entry 1 at line 1 column 4"
        );
        assert_eq!(
            read("[1,]").unwrap_err().to_string(),
            "it is not JSON: unexpected character ']' where an entry should be at line 1 column 4"
        );
    }

    #[test]
    fn a_syntax_error_inside_an_entry_is_placed_in_the_whole_text() {
        let err = read("[\n  {\"id\": 1,\n   \"name\": x}]").unwrap_err();
        assert_eq!(
            err.to_string(),
            "it is not JSON: expected value at line 3 column 12"
        );
        let err = read("[\n  {\"id\": 1,, }]").unwrap_err();
        assert_eq!(
            err.to_string(),
            "it is not JSON: key must be a string at line 2 column 12"
        );
    }

    #[test]
    fn entries_split_across_buffer_refills_read_the_same() {
        // Quotes, escapes and brackets inside strings must not end an entry early, wherever
        // the buffer boundary falls.
        let text = r#"[
            {"id": 1, "name": "A \"quoted\" [name] {x}", "country": "FR", "coord": {"lon": 1, "lat": 2}},
            {"id": 2, "name": "Back\\slash\\", "state": "", "country": "FR", "coord": {"lon": 3, "lat": 4}},
            "a string entry, with ] and }",
            -12.5e3,
            null,
            {"id": 3, "name": "Ünïcödé \u00e9", "country": "FR", "coord": {"lon": 5, "lat": 6}}
        ]"#;
        let (expected, expected_report) = read(text).unwrap();
        assert_eq!(expected.len(), 3);
        assert_eq!(expected[0].name, "A \"quoted\" [name] {x}");
        assert_eq!(expected[1].name, "Back\\slash\\");
        assert_eq!(expected[2].name, "Ünïcödé é");
        assert_eq!(expected_report.bad, 3);
        for capacity in 1..=40 {
            let reader = io::BufReader::with_capacity(capacity, text.as_bytes());
            let mut cities = Vec::new();
            let report = read_cities(reader, |c| cities.push(c)).unwrap();
            assert_eq!(cities, expected, "buffer of {capacity} bytes");
            assert_eq!(report, expected_report, "buffer of {capacity} bytes");
        }
    }

    #[test]
    fn a_truncated_list_is_refused_with_where_it_stops() {
        let err = read("[\n{\"id\": 1, \"name\": \"Par").unwrap_err();
        assert!(matches!(err, ListError::Truncated { line: 2, .. }), "{err}");
        assert!(matches!(read("").unwrap_err(), ListError::Empty));
    }

    #[test]
    fn selection_matches_country_in_any_case_and_name_ignoring_accents() {
        let mut sel = fr();
        sel.country = "fr".into();
        sel.name = Some(fold_name("saint etienne"));
        assert!(sel.matches(&city(1, "Saint-Étienne", 45.4, 4.4)));
        assert!(!sel.matches(&city(2, "Saint-Denis", 48.9, 2.3)));
        let mut us = city(1, "Saint-Étienne", 45.4, 4.4);
        us.country = "US".into();
        assert!(!sel.matches(&us));
    }

    #[test]
    fn nameless_entries_are_read_but_never_selected() {
        let (cities, report) =
            read(r#"[{"id": 5, "name": "", "country": "FR", "coord": {"lat": 1, "lon": 1}}]"#)
                .unwrap();
        assert_eq!(report.bad, 0);
        assert!(!fr().matches(&cities[0]));
    }

    #[test]
    fn selection_by_radius_and_by_ids() {
        let paris = Point::new(48.8534, 2.3488).unwrap();
        let mut sel = fr();
        sel.near = Some(Near {
            center: paris,
            radius_km: 20.0,
        });
        assert!(sel.matches(&city(1, "Versailles", 48.8014, 2.1301)));
        assert!(!sel.matches(&city(2, "Lyon", 45.7485, 4.8467)));
        let mut sel = fr();
        sel.ids = Some([1, 3].into());
        assert!(sel.matches(&city(1, "A", 0.0, 0.0)));
        assert!(!sel.matches(&city(2, "B", 0.0, 0.0)));
        assert_eq!(sel.missing_ids(&[city(1, "A", 0.0, 0.0)]), vec![3]);
    }

    #[test]
    fn near_duplicates_keep_the_accented_spelling_then_the_lowest_id() {
        let cities = vec![
            city(6455259, "Paris", 48.856461, 2.35236),
            city(2988507, "Paris", 48.853409, 2.3488),
            city(2968815, "Paris", 48.853401, 2.3486),
            city(2980291, "Saint-Etienne", 45.433331, 4.4),
            city(6614010, "Saint-Étienne", 45.433331, 4.4),
        ];
        let (kept, dropped) = drop_near_duplicates(cities);
        assert_eq!(dropped, 3);
        let mut ids: Vec<u64> = kept.iter().map(|c| c.id).collect();
        ids.sort();
        assert_eq!(ids, vec![2968815, 6614010]);
    }

    #[test]
    fn namesakes_further_apart_than_ten_km_are_all_kept() {
        let cities = vec![
            city(1, "Saint-Sauveur", 45.0, 1.0),
            city(2, "Saint-Sauveur", 46.0, 1.0),
            city(3, "Saint-Sauveur", 45.05, 1.0), // 5.6 km from id 1
        ];
        let (kept, dropped) = drop_near_duplicates(cities);
        assert_eq!(dropped, 1);
        assert_eq!(kept.len(), 2);
        assert!(kept.iter().all(|c| c.id != 3));
    }

    #[test]
    fn the_duplicate_rule_does_not_depend_on_input_order() {
        let cities = vec![
            city(5, "Bastia", 42.7, 9.45),
            city(3, "Bastia", 42.7, 9.45),
            city(9, "Bastia", 42.71, 9.45),
        ];
        let mut reversed = cities.clone();
        reversed.reverse();
        assert_eq!(
            drop_near_duplicates(cities).0,
            drop_near_duplicates(reversed).0
        );
    }

    #[test]
    fn finish_sorts_by_name_ignoring_accents_then_id() {
        let sel = Selection {
            keep_duplicates: true,
            ..fr()
        };
        let out = sel.finish(vec![
            city(3, "Foix", 42.9, 1.6),
            city(2, "Évreux", 49.0, 1.15),
            city(9, "Amiens", 49.9, 2.3),
            city(1, "Amiens", 49.9, 2.3),
        ]);
        let ids: Vec<u64> = out.cities.iter().map(|c| c.id).collect();
        assert_eq!(ids, vec![1, 9, 2, 3]);
        assert_eq!(out.duplicates_dropped, 0);
    }

    #[test]
    fn limit_keeps_the_nearest_with_near_and_the_first_by_name_without() {
        let cities = vec![
            city(1, "Zed", 48.80, 2.35),
            city(2, "Alpha", 48.0, 2.35),
            city(3, "Mid", 48.5, 2.35),
        ];
        let mut sel = fr();
        sel.limit = Some(2);
        let names: Vec<String> = sel
            .finish(cities.clone())
            .cities
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["Alpha", "Mid"]);
        sel.near = Some(Near {
            center: Point::new(48.85, 2.35).unwrap(),
            radius_km: 500.0,
        });
        let names: Vec<String> = sel
            .finish(cities)
            .cities
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["Mid", "Zed"]);
    }
}
