//! `meteo cities`: OpenWeatherMap's city list in, the producer's city list out.
//!
//! Glue only: claims the output file, opens the source with a progress reporter suited to
//! stderr (a bar on a terminal, a few plain lines otherwise), streams the list through the
//! selection, writes the result atomically and prints the summary. Reading, selecting and
//! de-duplicating live in [`crate::owm`].

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::city::City;
use crate::owm::cities::{self, Selection};
use crate::owm::source::{self, Progress};
use crate::settings::CitiesSettings;

/// The `--out` value that means stdout.
const STDOUT: &str = "-";

pub fn run(args: CitiesSettings) -> anyhow::Result<()> {
    let started = Instant::now();
    let selection = args.selection.clone();
    // Claim the output first: an unwritable path fails now, not after a 40 MB download.
    let output = Output::create(&args.out)?;

    let progress: Box<dyn Progress> = if io::stderr().is_terminal() {
        Box::new(Bar::default())
    } else {
        Box::new(PlainLines::default())
    };
    let reader =
        source::open(&args.from, args.timeout, progress).context("cannot get the city list")?;
    let mut matched = Vec::new();
    let report = cities::read_cities(reader, |city| {
        if selection.matches(&city) {
            matched.push(city);
        }
    })
    .with_context(|| format!("reading the city list {}", args.from))?;

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
    if args.strict && report.bad > 0 {
        bail!(
            "{}: {} malformed entries (the first: {}); without --strict they are skipped",
            args.from,
            report.bad,
            report
                .first_bad
                .first()
                .map(ToString::to_string)
                .unwrap_or_default()
        );
    }
    if matched.is_empty() {
        bail!(
            "no city in {} matches {} ({} entries read)",
            args.from,
            describe(&selection),
            thousands(report.entries)
        );
    }
    let missing = selection.missing_ids(&matched);
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().map(u64::to_string).collect();
        bail!(
            "ids not found in {} for {}: {}",
            args.from,
            describe(&selection),
            list.join(", ")
        );
    }

    let selected = selection.finish(matched);
    let written = output.write(&selected.cities)?;
    eprintln!(
        "meteo: read {} cities from {}; kept {} ({}), dropped {} near-duplicates, skipped {} bad entries; wrote {written} in {:.2} s",
        thousands(report.entries),
        args.from,
        thousands(selected.cities.len() as u64),
        describe(&selection),
        thousands(selected.duplicates_dropped as u64),
        thousands(report.bad),
        started.elapsed().as_secs_f64(),
    );
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

/// 209579 -> "209,579".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Where the list goes: stdout, or a temporary file beside the target, renamed over it only
/// once complete. Dropped before [`Output::write`] finishes, it removes the temporary file,
/// so no error path leaves half a list behind.
enum Output {
    Stdout,
    File(PendingFile),
}

struct PendingFile {
    target: PathBuf,
    temp: PathBuf,
    file: Option<File>,
}

impl Output {
    fn create(out: &Path) -> anyhow::Result<Self> {
        if out.as_os_str() == STDOUT {
            return Ok(Self::Stdout);
        }
        let name = out
            .file_name()
            .with_context(|| format!("--out {}: not a file path", out.display()))?;
        let dir = match out.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        // Same folder as the target, so the final rename is atomic (one filesystem).
        let temp = dir.join(format!(
            ".{}.{}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
            .with_context(|| {
                format!(
                    "cannot write {}: creating a file in {}",
                    out.display(),
                    dir.display()
                )
            })?;
        Ok(Self::File(PendingFile {
            target: out.to_path_buf(),
            temp,
            file: Some(file),
        }))
    }

    /// Writes the whole list, then (for a file) syncs and renames it into place. Returns
    /// where it went, for the summary.
    fn write(self, cities: &[City]) -> anyhow::Result<String> {
        match self {
            Self::Stdout => {
                let stdout = io::stdout();
                let mut out = BufWriter::new(stdout.lock());
                write_list(&mut out, cities)
                    .and_then(|()| out.flush())
                    .context("writing the city list to stdout")?;
                Ok("stdout".into())
            }
            Self::File(mut pending) => {
                let target = pending.target.display().to_string();
                let file = pending
                    .file
                    .take()
                    .context("the output file was already written")?;
                let mut out = BufWriter::new(file);
                write_list(&mut out, cities)
                    .and_then(|()| out.flush())
                    .with_context(|| format!("writing {target}"))?;
                let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
                file.sync_all()
                    .with_context(|| format!("writing {target}"))?;
                drop(file);
                fs::rename(&pending.temp, &pending.target)
                    .with_context(|| format!("cannot replace {target}"))?;
                pending.temp = PathBuf::new(); // renamed: nothing left to clean up
                Ok(target)
            }
        }
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if !self.temp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// One city per line: valid JSON that still diffs well in review.
fn write_list(out: &mut impl Write, cities: &[City]) -> io::Result<()> {
    out.write_all(b"[\n")?;
    for (i, city) in cities.iter().enumerate() {
        out.write_all(b"  ")?;
        serde_json::to_writer(&mut *out, city)?;
        out.write_all(if i + 1 < cities.len() { b",\n" } else { b"\n" })?;
    }
    out.write_all(b"]\n")
}

/// Download progress on a terminal: bytes and total when known, rate, time left.
#[derive(Default)]
struct Bar(Option<ProgressBar>);

impl Progress for Bar {
    fn started(&mut self, url: &str, total: Option<u64>) {
        let (bar, template) = match total {
            Some(total) => (
                ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}, {eta} left",
            ),
            None => (
                ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
                "{msg} {spinner} {bytes} {bytes_per_sec}",
            ),
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(format!("downloading {url}"));
        self.0 = Some(bar);
    }

    fn advanced(&mut self, done: u64) {
        if let Some(bar) = &self.0 {
            bar.set_position(done);
        }
    }

    fn finished(&mut self, done: u64) {
        if let Some(bar) = self.0.take() {
            bar.set_position(done);
            bar.finish_and_clear();
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        // An error mid-download: clear the bar so the error line stands alone.
        if let Some(bar) = self.0.take() {
            bar.abandon();
        }
    }
}

/// Download progress for logs (stderr not a terminal): a line at the start, at each quarter
/// (or every 10 MB when the size is unknown), and at the end.
#[derive(Default)]
struct PlainLines {
    total: Option<u64>,
    next_report: u64,
    started: Option<Instant>,
}

const PLAIN_STEP_UNKNOWN_SIZE: u64 = 10 * 1024 * 1024;

impl PlainLines {
    fn step(&self) -> u64 {
        self.total
            .map_or(PLAIN_STEP_UNKNOWN_SIZE, |t| (t / 4).max(1))
    }
}

impl Progress for PlainLines {
    fn started(&mut self, url: &str, total: Option<u64>) {
        self.total = total;
        self.started = Some(Instant::now());
        self.next_report = self.step();
        match total {
            Some(total) => eprintln!("meteo: downloading {url} ({})", HumanBytes(total)),
            None => eprintln!("meteo: downloading {url} (size not given)"),
        }
    }

    fn advanced(&mut self, done: u64) {
        if done < self.next_report || self.total.is_some_and(|t| done >= t) {
            return;
        }
        match self.total {
            Some(total) => eprintln!(
                "meteo: downloaded {} of {} ({}%)",
                HumanBytes(done),
                HumanBytes(total),
                done * 100 / total.max(1)
            ),
            None => eprintln!("meteo: downloaded {}", HumanBytes(done)),
        }
        while self.next_report <= done {
            self.next_report += self.step();
        }
    }

    fn finished(&mut self, done: u64) {
        let seconds = self.started.map_or(0.0, |s| s.elapsed().as_secs_f64());
        eprintln!("meteo: downloaded {} in {seconds:.1} s", HumanBytes(done));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated_by_commas() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(209_579), "209,579");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn the_list_is_written_one_city_per_line() {
        let cities = vec![
            City {
                id: 1,
                name: "Ajaccio".into(),
                country: "FR".into(),
                lat: 41.9,
                lon: 8.7,
            },
            City {
                id: 2,
                name: "Nîmes".into(),
                country: "FR".into(),
                lat: 43.8,
                lon: 4.35,
            },
        ];
        let mut out = Vec::new();
        write_list(&mut out, &cities).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "[\n  {\"id\":1,\"name\":\"Ajaccio\",\"country\":\"FR\",\"lat\":41.9,\"lon\":8.7},\n  {\"id\":2,\"name\":\"Nîmes\",\"country\":\"FR\",\"lat\":43.8,\"lon\":4.35}\n]\n"
        );
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed.as_array().unwrap().len(), 2);
    }

    #[test]
    fn a_failed_run_leaves_no_temporary_file() {
        let dir = std::env::temp_dir().join(format!("meteo-cities-unit-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let target = dir.join("out.json");
        let output = Output::create(&target).unwrap();
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        drop(output);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        assert!(!target.exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
