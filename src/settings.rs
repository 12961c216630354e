//! Typed settings, built once from the command line in [`crate::cli`], and the validators
//! clap uses to turn raw flag and environment values into them. Nothing here does I/O.

use std::fmt;

/// A secret (an API key, a password). `Debug` and `Display` print `[redacted]`, so a secret
/// cannot reach a log line, an error message or a panic by accident; [`Secret::expose`] is
/// the one way to read it, used only where the value is sent to the service that needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself. Call only to hand it to the service it is for.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where Kafka is and how to talk to it.
#[derive(Debug, Clone)]
pub struct KafkaSettings {
    /// `bootstrap.servers`: comma-separated host:port.
    pub brokers: String,
    /// The readings topic; its dead-letter topic is [`KafkaSettings::dlq_topic`].
    pub topic: String,
    /// Extra librdkafka properties from `-X` / `METEO_KAFKA_OPTS` (SASL, TLS, tuning).
    /// Values may be secrets (`sasl.password`), so only keys are ever logged.
    pub options: Vec<(String, String)>,
}

impl KafkaSettings {
    /// The dead-letter topic: `<topic>.dlq`.
    pub fn dlq_topic(&self) -> String {
        format!("{}.dlq", self.topic)
    }
}

/// Where Cassandra is and how to log in.
#[derive(Debug, Clone)]
pub struct CassandraSettings {
    /// Contact points, host:port each.
    pub nodes: Vec<String>,
    pub keyspace: String,
    pub user: Option<String>,
    pub password: Option<Secret>,
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

/// Parses a comma-separated list of `host:port` (Kafka's `bootstrap.servers`).
pub fn parse_brokers(value: &str) -> Result<String, String> {
    let parts: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(parse_host_port)
        .collect::<Result<_, _>>()?;
    if parts.is_empty() {
        return Err("no broker given (expected host:port[,host:port...])".into());
    }
    Ok(parts.join(","))
}

/// Parses a Cassandra keyspace name: a letter, then letters, digits or underscores, at most 48
/// characters (Cassandra's own limit). Used unquoted in CQL, so nothing else may pass.
pub fn parse_keyspace(value: &str) -> Result<String, String> {
    let ok_start = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic());
    let ok_rest = value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok_start || !ok_rest || value.len() > 48 {
        return Err(format!(
            "'{value}' is not a keyspace name (a letter, then letters, digits or _; at most 48)"
        ));
    }
    Ok(value.to_string())
}

/// Parses a Kafka topic name: 1 to 249 of `[a-zA-Z0-9._-]`, as Kafka itself requires.
pub fn parse_topic(value: &str) -> Result<String, String> {
    let ok_chars = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    // Room for the ".dlq" suffix of the dead-letter topic.
    if value.is_empty() || !ok_chars || value.len() > 245 || value == "." || value == ".." {
        return Err(format!(
            "'{value}' is not a Kafka topic name (1 to 245 of letters, digits, '.', '_', '-')"
        ));
    }
    Ok(value.to_string())
}

/// Parses one `-X key=value` librdkafka property.
pub fn parse_kafka_option(value: &str) -> Result<(String, String), String> {
    match value.split_once('=') {
        Some((key, val)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), val.trim().to_string()))
        }
        // The value may be a secret: name only what is wrong, never echo it.
        _ => Err("a Kafka option must be key=value, e.g. security.protocol=SASL_SSL".into()),
    }
}

/// Parses a duration: a number and a unit (`ms`, `s`, `m`, `h`), several in a row allowed
/// (`1h30m`), or a bare number of seconds. Zero is refused: every duration here is a wait.
pub fn parse_duration(value: &str) -> Result<std::time::Duration, String> {
    let text = value.trim();
    let bad = || format!("'{value}' is not a duration such as 90s, 10m, 1h30m or 500ms");
    if text.is_empty() {
        return Err(bad());
    }
    let total = if let Ok(seconds) = text.parse::<u64>() {
        std::time::Duration::from_secs(seconds)
    } else {
        let mut total = std::time::Duration::ZERO;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
            let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
            rest = &rest[digits..];
            let unit_len = rest
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(rest.len());
            let unit = match &rest[..unit_len] {
                "ms" => std::time::Duration::from_millis(1),
                "s" => std::time::Duration::from_secs(1),
                "m" | "min" => std::time::Duration::from_secs(60),
                "h" => std::time::Duration::from_secs(3600),
                _ => return Err(bad()),
            };
            let part = u32::try_from(number)
                .ok()
                .and_then(|n| unit.checked_mul(n))
                .ok_or_else(bad)?;
            total = total.checked_add(part).ok_or_else(bad)?;
            rest = &rest[unit_len..];
        }
        total
    };
    if total.is_zero() {
        return Err(format!("'{value}': the duration must be more than zero"));
    }
    Ok(total)
}

/// Formats a duration the way [`parse_duration`] reads it: `10m`, `1h30m`, `90s`, `1.5s`.
pub fn format_duration(duration: std::time::Duration) -> String {
    let total = duration.as_secs();
    if duration.subsec_millis() != 0 || total == 0 {
        return format!("{}s", duration.as_secs_f64());
    }
    let (h, m, s) = (total / 3600, total % 3600 / 60, total % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// Parses a country code: two ASCII letters (ISO 3166 alpha-2), upper-cased.
pub fn parse_country(value: &str) -> Result<String, String> {
    let code = value.trim();
    if code.len() != 2 || !code.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(format!(
            "'{value}' is not a two-letter country code such as FR"
        ));
    }
    Ok(code.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_units_and_combinations_and_refuse_zero() {
        use std::time::Duration;
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        for bad in ["", "0", "0s", "10x", "m", "1.5m", "-1s", "99999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(600)), "10m");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
    }

    #[test]
    fn country_codes_are_two_letters_upper_cased() {
        assert_eq!(parse_country("fr").unwrap(), "FR");
        for bad in ["", "F", "FRA", "F1", "é!"] {
            assert!(parse_country(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn a_secret_never_shows_in_debug_or_display() {
        let secret = Secret::new("0123456789abcdef");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{secret}"), "[redacted]");
        let settings = CassandraSettings {
            nodes: vec!["h:1".into()],
            keyspace: "k".into(),
            user: Some("u".into()),
            password: Some(secret.clone()),
        };
        assert!(!format!("{settings:?}").contains("0123456789abcdef"));
        assert_eq!(secret.expose(), "0123456789abcdef");
    }

    #[test]
    fn host_port_accepts_names_addresses_and_ipv6() {
        assert_eq!(parse_host_port("localhost:9092").unwrap(), "localhost:9092");
        assert_eq!(parse_host_port(" 10.0.0.1:9042 ").unwrap(), "10.0.0.1:9042");
        assert_eq!(parse_host_port("[::1]:9042").unwrap(), "[::1]:9042");
    }

    #[test]
    fn host_port_rejects_missing_or_bad_ports_and_says_which() {
        assert!(parse_host_port("localhost")
            .unwrap_err()
            .contains("port is missing"));
        assert!(parse_host_port(":9092")
            .unwrap_err()
            .contains("host is missing"));
        assert!(parse_host_port("h:0").unwrap_err().contains("'0'"));
        assert!(parse_host_port("h:99999").unwrap_err().contains("99999"));
        assert!(parse_host_port("::1:9042").is_err());
    }

    #[test]
    fn brokers_are_normalised_and_must_not_be_empty() {
        assert_eq!(parse_brokers("a:1, b:2,").unwrap(), "a:1,b:2");
        assert!(parse_brokers(" , ").is_err());
        assert!(parse_brokers("a:1,b").is_err());
    }

    #[test]
    fn keyspace_names_are_plain_identifiers() {
        assert!(parse_keyspace("meteo_test_1").is_ok());
        for bad in ["", "1abc", "a-b", "a b", "a;drop", &"k".repeat(49)] {
            assert!(parse_keyspace(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(parse_topic("weather.current").is_ok());
        for bad in ["", "a b", "a/b", ".", ".."] {
            assert!(parse_topic(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn kafka_options_split_on_the_first_equals_and_hide_values_in_errors() {
        assert_eq!(
            parse_kafka_option("sasl.jaas=a=b").unwrap(),
            ("sasl.jaas".into(), "a=b".into())
        );
        let err = parse_kafka_option("sasl.password").unwrap_err();
        assert!(!err.contains("sasl.password"));
        assert!(parse_kafka_option("=x").is_err());
    }
}
