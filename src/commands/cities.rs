//! `meteo cities`: OpenWeatherMap's city list in, the producer's city list out. Glue only:
//! reading, selecting and de-duplicating live in [`crate::owm::cities`].

mod output;
mod progress;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use indicatif::HumanCount;

use crate::owm::cities::{self, ReadReport, Selection};
use crate::owm::source::{self, Source};
use output::Output;

/// `meteo cities`.
#[derive(Debug, Clone)]
pub struct CitiesSettings {
    pub from: Source,
    pub selection: Selection,
    pub out: PathBuf,
    pub strict: bool,
    /// For connecting, for the response, and for each read.
    pub timeout: Duration,
}

pub fn run(args: CitiesSettings) -> anyhow::Result<()> {
    let started = Instant::now();
    let selection = &args.selection;
    // Claim the output first: an unwritable path fails now, not after a 40 MB download.
    let output = Output::create(&args.out)?;

    let reader = source::open(&args.from, args.timeout, progress::on_stderr())
        .context("cannot get the city list")?;
    let mut matched = Vec::new();
    let mut too_many = false;
    let report = cities::read_cities(reader, |city| {
        if selection.matches(&city) {
            // Past the cap the rest is only counted through: memory stays bounded.
            if matched.len() < cities::MAX_MATCHED {
                matched.push(city);
            } else {
                too_many = true;
            }
        }
    })
    .with_context(|| format!("reading the city list {}", args.from))?;
    if too_many {
        bail!(
            "more than {} cities match {} in {}: not a list meteo can use (narrow the selection)",
            HumanCount(cities::MAX_MATCHED as u64),
            describe(selection),
            args.from
        );
    }
    report_bad_entries(&args, &report)?;

    if matched.is_empty() {
        bail!(
            "no city in {} matches {} ({} entries read)",
            args.from,
            describe(selection),
            HumanCount(report.entries)
        );
    }
    let missing = selection.missing_ids(&matched);
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().map(u64::to_string).collect();
        bail!(
            "ids not found in {} for {}: {}",
            args.from,
            describe(selection),
            list.join(", ")
        );
    }

    let selected = selection.finish(matched);
    let written = output.write(&selected.cities)?;
    if let Some(before) = written.replaced {
        eprintln!(
            "meteo: replaced {}: {} cities before, {} now",
            written.place,
            before.map_or_else(
                || "not a list of".to_string(),
                |n| HumanCount(n as u64).to_string()
            ),
            HumanCount(selected.cities.len() as u64)
        );
    }
    let written = written.place;
    eprintln!(
        "meteo: read {} cities from {}; kept {} ({}), dropped {} near-duplicates, skipped {} bad entries, cleaned {} names; wrote {written} in {:.2} s",
        HumanCount(report.entries),
        args.from,
        HumanCount(selected.cities.len() as u64),
        describe(selection),
        HumanCount(selected.duplicates_dropped as u64),
        HumanCount(report.bad),
        HumanCount(report.cleaned),
        started.elapsed().as_secs_f64(),
    );
    Ok(())
}

/// Warns about the first bad entries and counts the rest; with `--strict`, any is an error.
/// Notes the first names the text rule cleaned (the summary counts them all).
fn report_bad_entries(args: &CitiesSettings, report: &ReadReport) -> anyhow::Result<()> {
    for cleaned in &report.first_cleaned {
        eprintln!("meteo: note: {}: {cleaned}", args.from);
    }
    for bad in &report.first_bad {
        eprintln!("meteo: warning: {}: skipped {bad}", args.from);
    }
    let unreported = report.bad - report.first_bad.len() as u64;
    if unreported > 0 {
        eprintln!(
            "meteo: warning: {}: skipped {unreported} more bad entries",
            args.from
        );
    }
    if args.strict {
        if let Some(first) = report.first_bad.first() {
            bail!(
                "{}: {} malformed entries (the first: {first}); without --strict they are skipped",
                args.from,
                report.bad,
            );
        }
    }
    Ok(())
}

/// The filters in words, for the summary and the "no match" error.
fn describe(selection: &Selection) -> String {
    let mut parts = vec![format!("country {}", selection.country)];
    if let Some(name) = &selection.name {
        parts.push(format!("name containing '{name}'"));
    }
    if let Some(near) = &selection.near {
        parts.push(format!(
            "within {} km of {},{}",
            near.radius_km, near.center.lat, near.center.lon
        ));
    }
    if let Some(ids) = &selection.ids {
        parts.push(format!("{} ids", ids.len()));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::owm::cities::{Near, Point};

    #[test]
    fn counts_are_printed_with_thousands_separated_by_commas() {
        // The summary's figures, as the integration tests and the docs quote them.
        assert_eq!(HumanCount(0).to_string(), "0");
        assert_eq!(HumanCount(999).to_string(), "999");
        assert_eq!(HumanCount(19_965).to_string(), "19,965");
        assert_eq!(HumanCount(209_579).to_string(), "209,579");
        assert_eq!(HumanCount(1_234_567).to_string(), "1,234,567");
    }

    #[test]
    fn the_filters_are_described_in_the_order_of_the_options() {
        let selection = Selection {
            name: Some("saint".into()),
            near: Some(Near {
                center: Point::new(45.76, 4.83).unwrap(),
                radius_km: 50.0,
            }),
            ids: Some([1, 2].into()),
            ..Selection::new(crate::model::CountryCode::FR)
        };
        assert_eq!(
            describe(&selection),
            "country FR, name containing 'saint', within 50 km of 45.76,4.83, 2 ids"
        );
    }
}
