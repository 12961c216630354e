//! Where `meteo cities` writes the list: stdout, or a file replaced whole or not at all.

use crate::files::{read_bounded, CITY_LIST_LIMIT};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use tempfile::NamedTempFile;

use crate::city::City;

/// The `--out` value that means stdout.
const STDOUT: &str = "-";

/// Where the list goes: stdout, or a temporary file beside the target, renamed over it only
/// once complete. Dropped before [`Output::write`] finishes, the temporary file is removed
/// (by [`NamedTempFile`]), so no error path leaves half a list behind.
pub enum Output {
    Stdout,
    File {
        target: PathBuf,
        temp: NamedTempFile,
        /// The cities of the file it replaces (`None`: unreadable), when there is one.
        replaces: Option<Option<usize>>,
    },
    /// Not a regular file (`/dev/null`, a pipe): written to, never replaced.
    Device(PathBuf),
}

/// Where the list went, for the summary.
#[derive(Debug)]
pub struct Written {
    pub place: String,
    /// The number of cities in the file it replaced, when it replaced one.
    pub replaced: Option<Option<usize>>,
}

impl Output {
    /// Claims the output: for a file, creates the temporary file now, so that an unwritable
    /// path fails before anything is read.
    pub fn create(out: &Path) -> anyhow::Result<Self> {
        if out.as_os_str() == STDOUT {
            return Ok(Self::Stdout);
        }
        // Renaming over a device would replace it with a file (as root, /dev/null).
        if std::fs::metadata(out).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
            return Ok(Self::Device(out.to_path_buf()));
        }
        let replaces = out.is_file().then(|| count_cities(out));
        let name = out
            .file_name()
            .with_context(|| format!("--out {}: not a file path", out.display()))?;
        let dir = match out.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let prefix = format!(".{}.", name.to_string_lossy());
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".tmp");
        #[cfg(unix)]
        {
            // The mode of any new file (the umask applies), not tempfile's private 0600: the
            // list is shared data, read by whoever runs the producer.
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o666));
        }
        // In the target's folder, so that the final rename stays on one filesystem (atomic).
        let temp = builder.tempfile_in(dir).with_context(|| {
            format!(
                "cannot write {}: creating a file in {}",
                out.display(),
                dir.display()
            )
        })?;
        Ok(Self::File {
            target: out.to_path_buf(),
            temp,
            replaces,
        })
    }

    /// Writes the whole list, then (for a file) syncs it and renames it into place. Returns
    /// where it went, for the summary.
    pub fn write(self, cities: &[City]) -> anyhow::Result<Written> {
        let written = |place: String| Written {
            place,
            replaced: None,
        };
        match self {
            Self::Stdout => {
                let mut out = BufWriter::new(io::stdout().lock());
                match write_list(&mut out, cities).and_then(|()| out.flush()) {
                    // `meteo cities --out - | head`: the reader had enough, which is no failure.
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                        Ok(written("stdout (closed early by its reader)".into()))
                    }
                    other => other
                        .map(|()| written("stdout".into()))
                        .context("writing the city list to stdout"),
                }
            }
            Self::Device(path) => {
                let shown = path.display().to_string();
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .with_context(|| format!("opening {shown}"))?;
                let mut out = BufWriter::new(file);
                write_list(&mut out, cities)
                    .and_then(|()| out.flush())
                    .with_context(|| format!("writing {shown}"))?;
                Ok(written(shown))
            }
            Self::File {
                target,
                temp,
                replaces,
            } => {
                let shown = target.display().to_string();
                let mut out = BufWriter::new(temp);
                write_list(&mut out, cities)
                    .and_then(|()| out.flush())
                    .with_context(|| format!("writing {shown}"))?;
                let temp = out
                    .into_inner()
                    .map_err(io::IntoInnerError::into_error)
                    .with_context(|| format!("writing {shown}"))?;
                temp.as_file()
                    .sync_all()
                    .with_context(|| format!("writing {shown}"))?;
                temp.persist(&target)
                    .map_err(|err| err.error)
                    .with_context(|| format!("cannot replace {shown}"))?;
                Ok(Written {
                    place: shown,
                    replaced: replaces,
                })
            }
        }
    }
}

/// How many cities a list file holds; `None` when it is not one.
fn count_cities(path: &Path) -> Option<usize> {
    let text = read_bounded(path, CITY_LIST_LIMIT, "city list").ok()?;
    let list: Vec<serde::de::IgnoredAny> = serde_json::from_slice(&text).ok()?;
    Some(list.len())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::city::french;

    fn two_cities() -> Vec<City> {
        vec![
            french(1, "Ajaccio", 41.9, 8.7),
            french(2, "Nîmes", 43.8, 4.35),
        ]
    }

    fn files_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_list_is_written_one_city_per_line() {
        let mut out = Vec::new();
        write_list(&mut out, &two_cities()).unwrap();
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
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.json");
        let output = Output::create(&target).unwrap();
        let claimed = files_in(dir.path());
        assert_eq!(claimed.len(), 1);
        assert!(claimed[0].starts_with(".out.json."), "{claimed:?}");
        drop(output);
        assert!(files_in(dir.path()).is_empty());
        assert!(!target.exists());
    }

    #[test]
    fn a_finished_list_replaces_the_old_one_and_leaves_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("cities.json");
        std::fs::write(&target, "old list\n").unwrap();
        let output = Output::create(&target).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old list\n");
        let written = output.write(&two_cities()).unwrap();
        assert_eq!(written.place, target.display().to_string());
        // "old list" is not a list of cities: replaced, count unknown.
        assert_eq!(written.replaced, Some(None));
        let text = std::fs::read_to_string(&target).unwrap();
        assert_eq!(crate::city::parse(&text).unwrap(), two_cities());
        assert_eq!(files_in(dir.path()), ["cities.json"]);
    }

    #[cfg(unix)]
    #[test]
    fn the_list_gets_the_mode_of_any_new_file_not_a_private_one() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("cities.json");
        Output::create(&target)
            .unwrap()
            .write(&two_cities())
            .unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "").unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&target), mode(&plain));
    }
}
