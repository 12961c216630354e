//! Opening a city list, a URL read while it downloads or a local file, gzip recognised by its
//! magic bytes and decompressed as a stream; progress goes to the caller's [`Progress`].

use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;
use std::time::Duration;

use flate2::bufread::MultiGzDecoder;

use crate::files::{open_regular, FileError, Size};

/// OpenWeatherMap's bulk download of every city it knows (about 40 MB of JSON, gzipped).
pub const DEFAULT_CITY_LIST_URL: &str = "http://bulk.openweathermap.org/sample/city.list.json.gz";

/// The first two bytes of every gzip stream (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The most a city list may hold once decompressed, so a gzip bomb or an endless download
/// ends (the real list is 30 MB). Memory is bounded apart from this: one entry at a time,
/// each at most 64 KiB, and only the matching cities are kept.
pub const MAX_LIST_BYTES: u64 = 1024 * 1024 * 1024;

/// Big reads: the list is read once, front to back.
const BUFFER_SIZE: usize = 256 * 1024;

/// Where a city list comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// An `http://` or `https://` URL.
    Url(String),
    /// A local file.
    File(PathBuf),
}

impl Source {
    /// `http://…` or `https://…` is a URL, any other scheme is refused, anything else is a path.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the city list source is empty (a URL or a file path)".into());
        }
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return Ok(Self::Url(text.to_string()));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(format!(
                "'{text}': only http:// and https:// URLs are supported, not {scheme}://"
            ));
        }
        Ok(Self::File(PathBuf::from(text)))
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Url(url) => f.write_str(url),
            Self::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// Told how a download goes. Called only for URLs, on the thread that reads.
pub trait Progress {
    /// The response arrived; `total` is its Content-Length when the server sent one.
    fn started(&mut self, url: &str, total: Option<u64>);
    /// `done` bytes (compressed, as sent) have arrived so far.
    fn advanced(&mut self, done: u64);
    /// The body ended normally after `done` bytes.
    fn finished(&mut self, done: u64);
}

/// A [`Progress`] that reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {
    fn started(&mut self, _: &str, _: Option<u64>) {}
    fn advanced(&mut self, _: u64) {}
    fn finished(&mut self, _: u64) {}
}

/// Why a source could not be opened. Every message names the file or the URL.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open {}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    NotRegular(FileError),
    #[error("{url} answered HTTP {status}{reason}")]
    Status {
        url: String,
        status: u16,
        reason: String,
    },
    #[error("{url} did not answer within {seconds} s")]
    Timeout { url: String, seconds: u64 },
    #[error("cannot download {url}: {detail}")]
    Download { url: String, detail: String },
}

/// Opens a source for reading, decompressed when it is gzip. Nothing is read beyond the
/// first bytes: the caller's parser pulls the rest, so a download is parsed as it arrives.
pub fn open(
    source: &Source,
    timeout: Duration,
    progress: Box<dyn Progress>,
) -> Result<Box<dyn BufRead>, OpenError> {
    match source {
        Source::File(path) => {
            let file = open_regular(path, "city list").map_err(|err| match err {
                FileError::Io { error: source, .. } => OpenError::File {
                    path: path.clone(),
                    source,
                },
                other => OpenError::NotRegular(other),
            })?;
            let stream = sniff(file).map_err(|source| OpenError::File {
                path: path.clone(),
                source,
            })?;
            Ok(Box::new(Capped::new(stream, MAX_LIST_BYTES)))
        }
        Source::Url(url) => {
            let body = fetch(url, timeout, progress)?;
            let stream = sniff(body).map_err(|err| OpenError::Download {
                url: url.clone(),
                detail: err.to_string(),
            })?;
            Ok(Box::new(Capped::new(stream, MAX_LIST_BYTES)))
        }
    }
}

/// Starts a download: the status line and headers are in, the body is left to read.
fn fetch(
    url: &str,
    timeout: Duration,
    mut progress: Box<dyn Progress>,
) -> Result<Download, OpenError> {
    let config = ureq::Agent::config_builder()
        // The body is a 40 MB file: bound each wait, not the whole transfer.
        .timeout_connect(Some(timeout))
        .timeout_recv_response(Some(timeout))
        .timeout_per_read(Some(timeout))
        // We read the status ourselves, to name the URL and the status in one line.
        .http_status_as_error(false)
        .tls_config(
            ureq::tls::TlsConfig::builder()
                // OpenSSL is already linked for Kafka; rustls would add a second TLS stack.
                .provider(ureq::tls::TlsProvider::NativeTls)
                .build(),
        )
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let response = agent.get(url).call().map_err(|err| match err {
        ureq::Error::Timeout(_) => OpenError::Timeout {
            url: url.to_string(),
            seconds: timeout.as_secs(),
        },
        other => OpenError::Download {
            url: url.to_string(),
            detail: other.to_string(),
        },
    })?;
    let status = response.status();
    if !status.is_success() {
        return Err(OpenError::Status {
            url: url.to_string(),
            status: status.as_u16(),
            reason: status
                .canonical_reason()
                .map(|r| format!(" {r}"))
                .unwrap_or_default(),
        });
    }
    let total = response.body().content_length();
    progress.started(url, total);
    Ok(Download {
        inner: response.into_body().into_reader(),
        done: 0,
        total,
        progress,
    })
}

/// Looks at the first two bytes and wraps the stream in a gzip decoder when they are the
/// gzip magic, whatever the name says.
fn sniff<R: Read + 'static>(mut raw: R) -> io::Result<Box<dyn BufRead>> {
    let mut head = [0u8; 2];
    let mut got = 0;
    while got < head.len() {
        match raw.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    let whole = io::Cursor::new(head[..got].to_vec()).chain(raw);
    let buffered = BufReader::with_capacity(BUFFER_SIZE, whole);
    if head[..got] == GZIP_MAGIC {
        let gunzip = GzipErrors(MultiGzDecoder::new(buffered));
        Ok(Box::new(BufReader::with_capacity(BUFFER_SIZE, gunzip)))
    } else {
        Ok(Box::new(buffered))
    }
}

/// A stream that fails once more than `limit` bytes came through: a gzip bomb or an endless
/// download ends there, named, instead of being read for ever.
struct Capped<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: BufRead> Capped<R> {
    fn new(inner: R, limit: u64) -> Self {
        Self {
            inner,
            left: limit,
            limit,
        }
    }
}

impl<R: BufRead> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Capped<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let (left, limit) = (self.left, self.limit);
        let buf = self.inner.fill_buf()?;
        if buf.is_empty() {
            return Ok(buf);
        }
        if left == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the city list is larger than {} once decompressed (the limit for a city list)",
                    Size(limit)
                ),
            ));
        }
        Ok(&buf[..buf.len().min(usize::try_from(left).unwrap_or(usize::MAX))])
    }

    fn consume(&mut self, amount: usize) {
        self.left = self.left.saturating_sub(amount as u64);
        self.inner.consume(amount);
    }
}

/// Names gzip failures as such ("corrupt deflate stream" alone says little), and lets the
/// errors of the layer below (a failed download) through unchanged.
struct GzipErrors<R>(R);

impl<R: Read> Read for GzipErrors<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|err| {
            let from_below = err
                .get_ref()
                .is_some_and(|inner| inner.is::<DownloadError>());
            if from_below {
                err
            } else {
                io::Error::new(
                    err.kind(),
                    format!("the gzip data is truncated or corrupt ({err})"),
                )
            }
        })
    }
}

/// A failed read of a download. The caller's context names the URL.
#[derive(Debug, thiserror::Error)]
#[error("the download failed {detail}")]
struct DownloadError {
    detail: String,
}

/// The body of a download as it arrives: counts bytes for [`Progress`], and refuses a body
/// shorter than its Content-Length (a connection cut halfway must never pass for the end).
struct Download {
    inner: ureq::BodyReader<'static>,
    done: u64,
    total: Option<u64>,
    progress: Box<dyn Progress>,
}

impl Download {
    /// An error saying how far the download got, e.g. "after 1859828 of 3719657 bytes: …".
    fn fail(&self, kind: io::ErrorKind, why: &dyn fmt::Display) -> io::Error {
        let detail = match self.total {
            Some(total) => format!("after {} of {total} bytes: {why}", self.done),
            None => format!("after {} bytes: {why}", self.done),
        };
        io::Error::new(kind, DownloadError { detail })
    }
}

impl Read for Download {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(0) => {
                if self.total.is_some_and(|t| self.done < t) {
                    return Err(self.fail(io::ErrorKind::UnexpectedEof, &"the connection closed"));
                }
                self.progress.finished(self.done);
                Ok(0)
            }
            Ok(n) => {
                self.done += n as u64;
                self.progress.advanced(self.done);
                Ok(n)
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => Err(err),
            Err(err) => Err(self.fail(err.kind(), &err)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    fn read_all(mut reader: Box<dyn BufRead>) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        reader.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn a_source_that_is_not_a_regular_file_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        for path in [dir.path(), std::path::Path::new("/dev/zero")] {
            let source = Source::File(path.to_path_buf());
            let err = open(&source, Duration::from_secs(1), Box::new(NoProgress))
                .err()
                .unwrap()
                .to_string();
            assert_eq!(
                err,
                format!(
                    "city list {} is not a regular file (a directory, a device or a pipe)",
                    path.display()
                )
            );
        }
    }

    #[test]
    fn a_list_larger_than_its_limit_once_decompressed_fails_at_the_limit() {
        let text = vec![b' '; 10_000];
        let capped = Capped::new(sniff(io::Cursor::new(gzip(&text))).unwrap(), 4096);
        let err = read_all(Box::new(capped)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the city list is larger than 4 KiB once decompressed (the limit for a city list)"
        );
        let capped = Capped::new(sniff(io::Cursor::new(gzip(&text))).unwrap(), 10_000);
        assert_eq!(read_all(Box::new(capped)).unwrap(), text);
    }

    #[test]
    fn sources_are_urls_only_with_an_http_scheme() {
        assert_eq!(
            Source::parse("HTTPS://example.org/c.json.gz").unwrap(),
            Source::Url("HTTPS://example.org/c.json.gz".into())
        );
        assert_eq!(
            Source::parse("data/city.list.json").unwrap(),
            Source::File("data/city.list.json".into())
        );
        assert!(Source::parse("ftp://example.org/x")
            .unwrap_err()
            .contains("ftp://"));
        assert!(Source::parse(" ").is_err());
    }

    #[test]
    fn gzip_is_recognised_by_its_magic_bytes_not_its_name() {
        let text = b"[{\"id\": 1}]";
        assert_eq!(
            read_all(sniff(io::Cursor::new(gzip(text))).unwrap()).unwrap(),
            text
        );
        assert_eq!(
            read_all(sniff(io::Cursor::new(text.to_vec())).unwrap()).unwrap(),
            text
        );
    }

    #[test]
    fn sources_shorter_than_the_magic_are_read_as_they_are() {
        assert_eq!(
            read_all(sniff(io::Cursor::new(b"[".to_vec())).unwrap()).unwrap(),
            b"["
        );
        assert!(read_all(sniff(io::empty()).unwrap()).unwrap().is_empty());
    }

    #[test]
    fn a_truncated_gzip_stream_is_an_error_that_says_gzip() {
        let data = gzip(&b"[{\"id\": 1, \"name\": \"Paris\"}]".repeat(100));
        let cut = data[..data.len() / 2].to_vec();
        let err = read_all(sniff(io::Cursor::new(cut)).unwrap()).unwrap_err();
        assert!(
            err.to_string()
                .contains("gzip data is truncated or corrupt"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let err = open(
            &Source::File("/nonexistent/city.list.json.gz".into()),
            Duration::from_secs(1),
            Box::new(NoProgress),
        )
        .err()
        .unwrap();
        assert!(
            err.to_string()
                .starts_with("cannot open /nonexistent/city.list.json.gz"),
            "{err}"
        );
    }
}
