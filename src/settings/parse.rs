//! The value parsers clap calls on raw flag and environment values: each returns a typed
//! value or a message naming what is wrong (never a secret's value).

use std::path::PathBuf;
use std::time::Duration;

use cdrs_tokio::consistency::Consistency;

use crate::files::{read_bounded_text, KAFKA_CONFIG_LIMIT, PASSWORD_FILE_LIMIT};
use crate::secret::Secret;

/// A file holding a secret, as read at start: where it is and its permission bits, for the
/// warning when others may read it.
#[derive(Debug, Clone)]
pub struct SecretFile {
    pub path: PathBuf,
    /// The permission bits (`0o644`); `None` where the system has none.
    pub mode: Option<u32>,
}

impl SecretFile {
    fn of(path: &std::path::Path) -> Self {
        Self {
            path: path.to_path_buf(),
            mode: file_mode(path),
        }
    }

    /// ssh's rule for private keys: a file holding a secret that its group or anyone else
    /// may read earns a warning, naming the file and its mode (never refused: a container's
    /// mounted secret may be 0644 by design).
    pub fn warning(&self) -> Option<String> {
        let mode = self.mode.filter(|mode| mode & 0o044 != 0)?;
        Some(format!(
            "{} is readable by others (mode {mode:04o}) and holds a password: chmod 600 it",
            crate::text::printable(&self.path.display().to_string())
        ))
    }
}

#[cfg(unix)]
fn file_mode(path: &std::path::Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn file_mode(_: &std::path::Path) -> Option<u32> {
    None
}

/// A password read from a file, and that file.
#[derive(Debug, Clone)]
pub struct PasswordFile {
    pub file: SecretFile,
    pub password: Secret,
}

/// Reads a password file: its content without the final line break. Names the file, never
/// the content, when it cannot be used. The one value parser that reads a file.
pub fn parse_password_file(value: &str) -> Result<PasswordFile, String> {
    let path = std::path::Path::new(value);
    let what = "password file";
    let text = read_bounded_text(path, PASSWORD_FILE_LIMIT, what).map_err(|e| e.to_string())?;
    let password = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if password.is_empty() {
        return Err(format!("{what} {} is empty", path.display()));
    }
    Ok(PasswordFile {
        file: SecretFile::of(path),
        password: Secret::new(password),
    })
}

/// Parses `host:port` (a name, an IPv4 address or a bracketed IPv6 address, and a port).
pub fn parse_host_port(value: &str) -> Result<String, String> {
    let value = value.trim();
    let (host, port) = value
        .rsplit_once(':')
        .ok_or_else(|| format!("'{value}' is not host:port (the port is missing)"))?;
    if host.is_empty() {
        return Err(format!("'{value}' is not host:port (the host is missing)"));
    }
    if host.contains(char::is_whitespace) || (host.contains(':') && !host.starts_with('[')) {
        return Err(format!("'{value}' is not host:port"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(value.to_string()),
        _ => Err(format!(
            "'{value}': the port '{port}' is not a number from 1 to 65535"
        )),
    }
}

/// Parses the address to serve metrics on: `HOST:PORT`, the host a name or an IP (`[::]` for
/// IPv6), resolved now, so a name that does not resolve is a usage error.
pub fn parse_listen_addr(value: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs as _;
    let value = parse_host_port(value)?;
    let mut addrs = value
        .to_socket_addrs()
        .map_err(|err| format!("'{value}' cannot be listened on: {err}"))?;
    addrs
        .next()
        .ok_or_else(|| format!("'{value}' resolves to no address"))
}

/// Parses one `-X key=value` librdkafka property; the value may be a secret.
pub fn parse_kafka_option(value: &str) -> Result<(String, Secret), String> {
    match value.split_once('=') {
        Some((key, val)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), Secret::new(val.trim())))
        }
        // The value may be a secret: name only what is wrong, never echo it.
        _ => Err("a Kafka option must be key=value, e.g. security.protocol=SASL_SSL".into()),
    }
}

/// A librdkafka properties file, as kcat's `-F` reads it.
#[derive(Debug, Clone)]
pub struct KafkaConfigFile {
    pub path: PathBuf,
    pub options: Vec<(String, Secret)>,
    /// The file, for the warning when it holds a secret that others may read.
    pub file: SecretFile,
}

/// Reads a librdkafka properties file: `key=value` lines; blank lines and lines starting
/// with `#` are skipped. An error names the file and the line, never a value.
pub fn parse_kafka_config_file(value: &str) -> Result<KafkaConfigFile, String> {
    let path = PathBuf::from(value);
    let text = read_bounded_text(&path, KAFKA_CONFIG_LIMIT, "Kafka config file")
        .map_err(|e| e.to_string())?;
    let options = parse_kafka_properties(&text).map_err(|line| {
        format!(
            "Kafka config file {}, line {line}: not key=value",
            path.display()
        )
    })?;
    let file = SecretFile::of(&path);
    Ok(KafkaConfigFile {
        path,
        options,
        file,
    })
}

/// The `key=value` pairs of a properties text (a byte-order mark at its start skipped), or
/// the number of the first bad line.
pub(super) fn parse_kafka_properties(text: &str) -> Result<Vec<(String, Secret)>, usize> {
    let mut options = Vec::new();
    // Windows editors save UTF-8 with a byte-order mark, which would join the first key.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        options.push(parse_kafka_option(line).map_err(|_| index + 1)?);
    }
    Ok(options)
}

/// Parses a duration with humantime (`90s`, `10m`, `1h30m`, `500ms`), or a bare number of
/// seconds. Zero is refused: every duration here is a wait.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let text = value.trim();
    let total = match text.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) if text.starts_with(|c: char| c.is_ascii_digit()) => humantime::parse_duration(text)
            .map_err(|_| format!("'{value}' is not a duration such as 90s, 10m, 1h30m or 500ms"))?,
        Err(_) => {
            return Err(format!(
                "'{value}' is not a duration such as 90s, 10m, 1h30m or 500ms"
            ))
        }
    };
    if total.is_zero() {
        return Err(format!("'{value}': the duration must be more than zero"));
    }
    Ok(total)
}

/// Formats a duration the way [`parse_duration`] reads it: `10m`, `1h30m`, `1s500ms`.
pub fn format_duration(duration: Duration) -> String {
    humantime::format_duration(duration)
        .to_string()
        .replace(' ', "")
}

/// The replication map of `--replication-factor N` (SimpleStrategy).
pub fn simple_replication(factor: u16) -> String {
    format!("{{'class': 'SimpleStrategy', 'replication_factor': {factor}}}")
}

/// A name filter must keep some letters once folded, or it would match every city.
pub fn parse_name_filter(value: &str) -> Result<String, String> {
    if crate::text::fold_name(value).is_empty() {
        return Err(format!("'{value}' has no letters to search for"));
    }
    Ok(value.to_string())
}

/// A radius in kilometres: positive, at most half the Earth's circumference.
pub fn parse_radius(value: &str) -> Result<f64, String> {
    match value.trim().parse::<f64>() {
        Ok(km) if km.is_finite() && km > 0.0 && km <= 20_040.0 => Ok(km),
        _ => Err(format!(
            "'{value}' is not a radius in km (a number above 0, at most 20040)"
        )),
    }
}

/// A refresh period: at least 100 ms, so a typo cannot hammer Cassandra.
pub fn parse_refresh(value: &str) -> Result<Duration, String> {
    let period = parse_duration(value)?;
    if period < Duration::from_millis(100) {
        return Err(format!(
            "'{value}' is too short for a refresh period (at least 100ms)"
        ));
    }
    Ok(period)
}

/// How long one of the dashboard's reads waits for its node before the next node is asked
/// too: from 10ms to 10s (Cassandra's own read timeout is 5 s; more would never fire).
pub fn parse_read_timeout(value: &str) -> Result<Duration, String> {
    let timeout = parse_duration(value)?;
    if timeout < Duration::from_millis(10) || timeout > Duration::from_secs(10) {
        return Err(format!(
            "'{value}' is not a read timeout between 10ms and 10s"
        ));
    }
    Ok(timeout)
}

/// The download timeout of `meteo cities`: a duration of at most an hour.
pub fn parse_download_timeout(value: &str) -> Result<Duration, String> {
    let timeout = parse_duration(value)?;
    if timeout > Duration::from_secs(3600) {
        return Err(format!(
            "'{value}' is longer than the 1h a download may wait"
        ));
    }
    Ok(timeout)
}

/// Cassandra refuses a table's `default_time_to_live` above 20 years; a Kafka retention longer
/// than that is a typo too.
pub const RETENTION_LIMIT: Duration = Duration::from_secs(20 * 365 * 86_400);

/// A retention (`--retention`, `--topic-retention`): whole seconds, from 1s to 20 years.
pub fn parse_retention(value: &str) -> Result<Duration, String> {
    let retention = parse_duration(value)?;
    if retention.subsec_nanos() != 0 {
        return Err(format!(
            "'{value}': a retention is whole seconds, such as 90d, 36h or 1s"
        ));
    }
    if retention > RETENTION_LIMIT {
        return Err(format!(
            "'{value}' is longer than the 20 years Cassandra allows a table's TTL (7300d)"
        ));
    }
    Ok(retention)
}

/// Writes in flight at once.
pub fn parse_concurrency(value: &str) -> Result<usize, String> {
    match value.trim().parse::<usize>() {
        Ok(n) if (1..=4096).contains(&n) => Ok(n),
        _ => Err(format!("'{value}' is not a number from 1 to 4096")),
    }
}

/// An http(s) base URL without query or fragment (the key goes into the query).
pub fn parse_base_url(value: &str) -> Result<String, String> {
    let trimmed = value.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or_else(|| format!("'{value}' is not an http:// or https:// URL"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("'{value}' has no host"));
    }
    if rest.contains(['?', '#', ' ']) {
        return Err(format!(
            "'{value}': give the base URL only, without query or fragment"
        ));
    }
    Ok(trimmed.to_string())
}

/// A secret, wrapped at once. Never fails: a parser error would echo the value; the command
/// checks it instead.
pub fn parse_secret(value: &str) -> Result<Secret, String> {
    Ok(Secret::new(value))
}

/// A language code such as `fr`, `en`, `zh_cn` or `pt_br`.
pub fn parse_lang(value: &str) -> Result<String, String> {
    let ok =
        (2..=5).contains(&value.len()) && value.chars().all(|c| c.is_ascii_lowercase() || c == '_');
    if !ok {
        return Err(format!(
            "'{value}' is not a language code such as fr, en or pt_br"
        ));
    }
    Ok(value.to_string())
}

/// A CQL replication map: `{...}` naming a `class`. Cassandra validates the rest.
pub fn parse_replication_map(value: &str) -> Result<String, String> {
    let trimmed = value.trim();
    if !(trimmed.starts_with('{') && trimmed.ends_with('}') && trimmed.contains("'class'")) {
        return Err(format!(
            "'{value}' is not a CQL replication map such as \"{{'class': 'NetworkTopologyStrategy', 'dc1': 3}}\""
        ));
    }
    if trimmed.contains(';') {
        return Err("a replication map cannot contain ';'".into());
    }
    Ok(trimmed.to_string())
}

/// The consistency levels a request may use, by their CQL names.
const CONSISTENCY_LEVELS: [(&str, Consistency); 9] = [
    ("ANY", Consistency::Any),
    ("ONE", Consistency::One),
    ("TWO", Consistency::Two),
    ("THREE", Consistency::Three),
    ("QUORUM", Consistency::Quorum),
    ("ALL", Consistency::All),
    ("LOCAL_QUORUM", Consistency::LocalQuorum),
    ("EACH_QUORUM", Consistency::EachQuorum),
    ("LOCAL_ONE", Consistency::LocalOne),
];

/// A write consistency level by its CQL name, any case (`LOCAL_QUORUM`, `local_quorum`).
pub fn parse_write_consistency(value: &str) -> Result<Consistency, String> {
    let name = value.trim().to_ascii_uppercase().replace('-', "_");
    CONSISTENCY_LEVELS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, c)| *c)
        .ok_or_else(|| {
            let names: Vec<&str> = CONSISTENCY_LEVELS.iter().map(|(n, _)| *n).collect();
            format!("'{value}' is not a consistency level: {}", names.join(", "))
        })
}

/// A read consistency level: as for writes, but ANY and EACH_QUORUM, which Cassandra takes
/// for writes only.
pub fn parse_read_consistency(value: &str) -> Result<Consistency, String> {
    match parse_write_consistency(value)? {
        Consistency::Any | Consistency::EachQuorum => Err(format!(
            "'{value}' is for writes only; reads take ONE, TWO, THREE, QUORUM, ALL, \
             LOCAL_QUORUM or LOCAL_ONE"
        )),
        read => Ok(read),
    }
}

/// A datacenter name as Cassandra's snitch reports it (`dc1`, `eu-west-1`).
pub fn parse_datacenter(value: &str) -> Result<String, String> {
    let name = value.trim();
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_.:".contains(c);
    if name.is_empty() || name.len() > 64 || !name.chars().all(allowed) {
        return Err(format!(
            "'{}' is not a datacenter name: letters, digits, '-', '_', '.' and ':', at most 64",
            crate::text::printable(value)
        ));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_retention_is_whole_seconds_from_one_second_to_twenty_years() {
        use super::parse_retention;
        assert_eq!(parse_retention("90d"), Ok(Duration::from_secs(90 * 86_400)));
        assert_eq!(parse_retention("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_retention("7300d"), Ok(super::RETENTION_LIMIT));
        for (bad, says) in [
            ("0", "more than zero"),
            ("0d", "more than zero"),
            ("1500ms", "whole seconds"),
            ("7301d", "20 years"),
            ("100y", "20 years"),
            ("forever", "not a duration"),
        ] {
            let err = parse_retention(bad).unwrap_err();
            assert!(err.contains(says) && err.contains(bad), "{bad}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }

    use super::*;

    #[test]
    fn a_secret_file_others_may_read_is_named_with_its_mode() {
        let file = |mode| SecretFile {
            path: PathBuf::from("/run/pw"),
            mode,
        };
        assert_eq!(
            file(Some(0o644)).warning().as_deref(),
            Some("/run/pw is readable by others (mode 0644) and holds a password: chmod 600 it")
        );
        assert!(file(Some(0o640)).warning().is_some());
        assert_eq!(file(Some(0o600)).warning(), None);
        assert_eq!(file(Some(0o400)).warning(), None);
        assert_eq!(file(None).warning(), None);
    }

    #[test]
    fn consistency_levels_are_read_by_their_cql_names_in_any_case() {
        assert_eq!(
            parse_write_consistency("LOCAL_QUORUM"),
            Ok(Consistency::LocalQuorum)
        );
        assert_eq!(
            parse_write_consistency(" local_one "),
            Ok(Consistency::LocalOne)
        );
        assert_eq!(
            parse_write_consistency("each-quorum"),
            Ok(Consistency::EachQuorum)
        );
        let err = parse_write_consistency("SERIAL").unwrap_err();
        assert!(
            err.contains("'SERIAL' is not a consistency level") && err.contains("LOCAL_ONE"),
            "{err}"
        );
        assert!(parse_write_consistency("").is_err());
    }

    #[test]
    fn read_timeouts_are_between_10ms_and_10s() {
        assert_eq!(parse_read_timeout("400ms"), Ok(Duration::from_millis(400)));
        assert_eq!(parse_read_timeout("2"), Ok(Duration::from_secs(2)));
        for bad in ["5ms", "11s", "0", "soon"] {
            let err = parse_read_timeout(bad).unwrap_err();
            assert!(err.contains(&format!("'{bad}'")), "{err}");
        }
    }

    #[test]
    fn reads_refuse_the_write_only_levels() {
        assert_eq!(parse_read_consistency("QUORUM"), Ok(Consistency::Quorum));
        for write_only in ["ANY", "EACH_QUORUM"] {
            let err = parse_read_consistency(write_only).unwrap_err();
            assert!(err.contains("for writes only"), "{err}");
        }
    }

    #[test]
    fn password_and_kafka_config_files_over_their_limit_or_not_regular_are_refused_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let password = dir.path().join("password");
        std::fs::write(&password, "p".repeat(4097)).unwrap();
        let err = parse_password_file(password.to_str().unwrap()).unwrap_err();
        assert_eq!(
            err,
            format!(
                "password file {} is larger than 4 KiB (the limit for a password file)",
                password.display()
            )
        );
        let config = dir.path().join("kafka.properties");
        std::fs::write(&config, "a=1\n".repeat(300_000)).unwrap();
        let err = parse_kafka_config_file(config.to_str().unwrap()).unwrap_err();
        assert_eq!(
            err,
            format!(
                "Kafka config file {} is larger than 1 MiB (the limit for a Kafka config file)",
                config.display()
            )
        );
        let folder = dir.path().to_str().unwrap();
        for err in [
            parse_password_file(folder).unwrap_err(),
            parse_kafka_config_file(folder).unwrap_err(),
        ] {
            assert!(
                err.ends_with("is not a regular file (a directory, a device or a pipe)"),
                "{err}"
            );
        }
    }

    #[test]
    fn datacenter_names_are_checked() {
        assert_eq!(parse_datacenter(" dc1 "), Ok("dc1".to_string()));
        assert_eq!(parse_datacenter("eu-west-1"), Ok("eu-west-1".to_string()));
        for bad in ["", "dc 1", "dc1'; DROP", "\u{1b}[31m"] {
            assert!(parse_datacenter(bad).is_err(), "{bad:?}");
        }
    }
}
