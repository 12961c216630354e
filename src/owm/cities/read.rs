//! Reading the whole city list as a stream: valid cities handed on one at a time, malformed
//! entries skipped, counted and the first few placed.

use std::fmt;
use std::io::BufRead;

use super::entry::{self, Entry};
use super::json::{ArrayReader, ListError, MAX_ENTRY_BYTES};
use crate::city::City;

/// How many bad entries are kept, with their position, for the report; the rest are counted.
pub const BAD_ENTRIES_REPORTED: usize = 5;

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
    /// Cities whose name the text rule changed ([`crate::model::text::clean`]).
    pub cleaned: u64,
    /// The first [`BAD_ENTRIES_REPORTED`] of them; `problem` holds the name once cleaned.
    pub first_cleaned: Vec<BadEntry>,
}

/// Reads a city list as a stream, handing each valid city to `on_city` and skipping (and
/// counting) entries that are not one. Memory stays flat whatever the size of the list: one
/// entry is decoded at a time and only what `on_city` keeps survives.
///
/// Each entry is delimited by [`ArrayReader`] and decoded by `serde_json::from_slice`, several
/// times faster than serde_json's byte-at-a-time `from_reader` (the 30 MB list is mostly
/// indentation); it also gives every entry its line for the report.
pub fn read_cities<R: BufRead>(
    reader: R,
    mut on_city: impl FnMut(City),
) -> Result<ReadReport, ListError> {
    let mut list = ArrayReader::open(reader)?;
    let mut report = ReadReport::default();
    while let Some((line, entry)) = list.next(entry::decode, |bytes| Entry::Bad {
        id: None,
        problem: format!("an entry of {bytes} bytes, over the {MAX_ENTRY_BYTES} an entry may have"),
    })? {
        report.entries += 1;
        match entry {
            Entry::City { city, cleaned } => {
                if cleaned {
                    report.cleaned += 1;
                    if report.first_cleaned.len() < BAD_ENTRIES_REPORTED {
                        report.first_cleaned.push(BadEntry {
                            index: report.entries,
                            line,
                            id: u64::try_from(city.id).ok(),
                            problem: format!("name cleaned to {:?}", city.name),
                        });
                    }
                }
                on_city(city)
            }
            Entry::Bad { id, problem } => {
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
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::city::french as city;

    fn read(text: &str) -> Result<(Vec<City>, ReadReport), ListError> {
        let mut cities = Vec::new();
        let report = read_cities(text.as_bytes(), |c| cities.push(c))?;
        Ok((cities, report))
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
    fn an_empty_array_is_read_as_no_entry() {
        let (cities, report) = read("\u{feff} [ ]\n").unwrap();
        assert!(cities.is_empty());
        assert_eq!(report, ReadReport::default());
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
            let reader = std::io::BufReader::with_capacity(capacity, text.as_bytes());
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
        assert!(matches!(
            read("[{\"id\": 1}").unwrap_err(),
            ListError::Truncated {
                line: 1,
                column: 11
            }
        ));
    }

    #[test]
    fn nameless_entries_are_bad_entries_and_cleaned_names_are_counted() {
        let (cities, report) = read(
            r#"[{"id": 5, "name": "", "country": "FR", "coord": {"lat": 1, "lon": 1}},
                {"id": 6617196, "name": "Mons-en-Barœ\u009cul", "country": "FR", "coord": {"lat": 1, "lon": 1}}]"#,
        )
        .unwrap();
        assert_eq!(report.bad, 1);
        assert_eq!(
            report.first_bad[0].to_string(),
            "entry 1 (line 1, id 5): name is blank"
        );
        assert_eq!(cities.len(), 1);
        assert_eq!(report.cleaned, 1);
        assert_eq!(
            report.first_cleaned[0].to_string(),
            "entry 2 (line 2, id 6617196): name cleaned to \"Mons-en-Barœul\""
        );
    }

    #[test]
    fn a_huge_entry_or_name_is_a_bad_entry_and_the_rest_is_read() {
        let huge = "x".repeat(MAX_ENTRY_BYTES + 1);
        let long = "y".repeat(201);
        let text = format!(
            r#"[{{"id": 1, "name": "{huge}", "country": "FR", "coord": {{"lat": 1, "lon": 1}}}},
                {{"id": 2, "name": "{long}", "country": "FR", "coord": {{"lat": 1, "lon": 1}}}},
                {{"id": 3, "name": "Lyon", "country": "FR", "coord": {{"lat": 45.7, "lon": 4.8}}}}]"#
        );
        let (cities, report) = read(&text).unwrap();
        assert_eq!(cities.len(), 1);
        assert_eq!(report.bad, 2);
        assert!(
            report.first_bad[0].problem.contains("bytes, over the"),
            "{:?}",
            report.first_bad
        );
        assert!(
            report.first_bad[1].problem.contains("is longer than 200"),
            "{:?}",
            report.first_bad
        );
    }
}
