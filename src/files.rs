//! Reading the files meteo is given (passwords, certificates, configuration, CQL, city lists)
//! with a size limit, and only when they are regular files: `/dev/zero`, a FIFO or a directory
//! is refused at once instead of read forever, blocked on, or held in memory. A leaf: it
//! imports nothing of ours.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The limits, one per kind of file (documented in docs/configuration.md).
pub const PASSWORD_FILE_LIMIT: u64 = 4 * 1024;
/// A PEM file: a CA bundle, a certificate chain or a private key (the system's whole CA
/// bundle is about 200 KiB).
pub const PEM_FILE_LIMIT: u64 = 1024 * 1024;
pub const KAFKA_CONFIG_LIMIT: u64 = 1024 * 1024;
pub const CQL_FILE_LIMIT: u64 = 1024 * 1024;
/// The producer's city list (`meteo cities` output): 64 MiB holds every city OpenWeatherMap
/// knows about three times over.
pub const CITY_LIST_LIMIT: u64 = 64 * 1024 * 1024;

/// Why a file could not be read; names the file and, when over it, the limit.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    // The cause is in the message, and not a `source` too: printed as a chain (`{:#}`) it
    // would say "No such file or directory" twice.
    #[error("{what} {}: {error}", path.display())]
    Io {
        what: String,
        path: PathBuf,
        error: io::Error,
    },
    #[error("{what} {} is not a regular file (a directory, a device or a pipe)", path.display())]
    NotRegular { what: String, path: PathBuf },
    #[error("{what} {} is larger than {} (the limit for a {what})", path.display(), Size(*limit))]
    TooBig {
        what: String,
        path: PathBuf,
        limit: u64,
    },
    #[error("{what} {} is not UTF-8 text", path.display())]
    NotText { what: String, path: PathBuf },
}

/// Opens `path` for reading if it is a regular file. Opened without blocking, so a FIFO with
/// no writer is refused rather than waited on; the check is made on the open file, so the
/// file cannot be swapped between the check and the read.
pub fn open_regular(path: &Path, what: &str) -> Result<File, FileError> {
    let io = |error| FileError::Io {
        what: what.to_string(),
        path: path.to_path_buf(),
        error,
    };
    let mut options = OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(io)?;
    if !file.metadata().map_err(io)?.is_file() {
        return Err(FileError::NotRegular {
            what: what.to_string(),
            path: path.to_path_buf(),
        });
    }
    Ok(file)
}

/// The bytes of a regular file of at most `limit` bytes. Reads at most `limit + 1` bytes
/// whatever the file claims, so a file growing while read costs no more.
pub fn read_bounded(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, FileError> {
    let too_big = || FileError::TooBig {
        what: what.to_string(),
        path: path.to_path_buf(),
        limit,
    };
    let file = open_regular(path, what)?;
    let claimed = file.metadata().map(|m| m.len()).unwrap_or(0);
    if claimed > limit {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(claimed).unwrap_or(0));
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|error| FileError::Io {
            what: what.to_string(),
            path: path.to_path_buf(),
            error,
        })?;
    if bytes.len() as u64 > limit {
        return Err(too_big());
    }
    Ok(bytes)
}

/// [`read_bounded`], as UTF-8 text.
pub fn read_bounded_text(path: &Path, limit: u64, what: &str) -> Result<String, FileError> {
    String::from_utf8(read_bounded(path, limit, what)?).map_err(|_| FileError::NotText {
        what: what.to_string(),
        path: path.to_path_buf(),
    })
}

/// A size as people read it: `4 KiB`, `1 MiB`, `1 GiB`, or bytes when not a round number of either.
pub struct Size(pub u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const KIB: u64 = 1024;
        const MIB: u64 = 1024 * KIB;
        const GIB: u64 = 1024 * MIB;
        match self.0 {
            n if n >= GIB && n % GIB == 0 => write!(f, "{} GiB", n / GIB),
            n if n >= MIB && n % MIB == 0 => write!(f, "{} MiB", n / MIB),
            n if n >= KIB && n % KIB == 0 => write!(f, "{} KiB", n / KIB),
            n => write!(f, "{n} bytes"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_says_why_once_even_as_a_chain() {
        let err = anyhow::Error::new(
            read_bounded(Path::new("/nonexistent/meteo"), 10, "city list").unwrap_err(),
        )
        .context("reading the city list");
        let said = format!("{err:#}");
        assert_eq!(
            said.matches("No such file or directory").count(),
            1,
            "{said}"
        );
        assert!(said.contains("city list /nonexistent/meteo"), "{said}");
    }

    fn temp(name: &str, bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        (dir, path)
    }

    #[test]
    fn a_file_within_the_limit_is_read_whole() {
        let (_dir, path) = temp("pw", b"secret\n");
        assert_eq!(
            read_bounded(&path, 7, "password file").unwrap(),
            b"secret\n"
        );
        assert_eq!(
            read_bounded_text(&path, 4096, "password file").unwrap(),
            "secret\n"
        );
    }

    #[test]
    fn a_file_over_the_limit_is_refused_naming_it_and_the_limit() {
        let (_dir, path) = temp("big", &vec![b'x'; 4097]);
        let err = read_bounded(&path, 4096, "password file").unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "password file {} is larger than 4 KiB (the limit for a password file)",
                path.display()
            )
        );
    }

    #[test]
    fn devices_directories_and_pipes_are_refused_at_once() {
        let err = read_bounded(Path::new("/dev/zero"), 4096, "CA file").unwrap_err();
        assert_eq!(
            err.to_string(),
            "CA file /dev/zero is not a regular file (a directory, a device or a pipe)"
        );
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            read_bounded(dir.path(), 4096, "CQL file"),
            Err(FileError::NotRegular { .. })
        ));
        // A FIFO with no writer: opening it for reading would block forever without O_NONBLOCK.
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success());
        assert!(matches!(
            read_bounded(&fifo, 4096, "Kafka config file"),
            Err(FileError::NotRegular { .. })
        ));
    }

    #[test]
    fn a_missing_file_or_bad_text_is_named() {
        let err = read_bounded(Path::new("/nonexistent/x"), 1, "CQL file").unwrap_err();
        assert!(
            err.to_string().starts_with("CQL file /nonexistent/x: "),
            "{err}"
        );
        let (_dir, path) = temp("bin", &[0xff, 0xfe]);
        let err = read_bounded_text(&path, 10, "CQL file").unwrap_err();
        assert!(err.to_string().ends_with("is not UTF-8 text"), "{err}");
    }

    #[test]
    fn sizes_are_written_in_the_largest_round_unit() {
        assert_eq!(Size(4096).to_string(), "4 KiB");
        assert_eq!(Size(1024 * 1024).to_string(), "1 MiB");
        assert_eq!(Size(64 * 1024 * 1024).to_string(), "64 MiB");
        assert_eq!(Size(1024 * 1024 * 1024).to_string(), "1 GiB");
        assert_eq!(Size(1500).to_string(), "1500 bytes");
    }
}
