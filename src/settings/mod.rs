//! The validators clap calls on raw flag and environment values at the edge ([`crate::cli`]):
//! each returns a plain or typed value, or a message naming what is wrong. They import no
//! engine or adapter: a type with rules of its own (a topic, a keyspace, a country) parses
//! itself beside its adapter, and each command's settings live with what runs it. No I/O
//! but a password file and a Kafka properties file.

mod parse;
pub use parse::*;

#[cfg(test)]
mod tests {
    use super::parse::parse_kafka_properties;
    use super::*;

    #[test]
    fn durations_read_units_and_combinations_and_refuse_zero() {
        use std::time::Duration;
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5m").unwrap(), Duration::from_secs(90));
        for bad in ["", "0", "0s", "10x", "m", "-1s", "99999999999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(600)), "10m");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1s500ms");
        for d in [1, 59, 61, 3599, 3601, 86_400 + 7] {
            let d = Duration::from_secs(d);
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
    }

    #[test]
    fn replication_maps_must_name_a_class() {
        assert!(parse_replication_map("{'class': 'NetworkTopologyStrategy', 'dc1': 3}").is_ok());
        assert!(parse_replication_map("3").is_err());
        assert!(parse_replication_map("{'dc1': 3}").is_err());
        assert!(parse_replication_map("{'class': 'X'}; DROP KEYSPACE a").is_err());
    }

    #[test]
    fn base_urls_are_http_without_a_query() {
        assert_eq!(
            parse_base_url("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(parse_base_url("https://").is_err());
        assert!(parse_base_url("ftp://x").is_err());
        assert!(parse_base_url("http://x/?appid=1").is_err());
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
    fn a_metrics_address_is_host_port_resolved_at_once() {
        assert_eq!(
            parse_listen_addr("127.0.0.1:9464").unwrap(),
            "127.0.0.1:9464".parse().unwrap()
        );
        assert_eq!(parse_listen_addr("[::]:9464").unwrap().port(), 9464);
        assert!(parse_listen_addr("localhost:9464")
            .unwrap()
            .ip()
            .is_loopback());
        assert!(parse_listen_addr("9464")
            .unwrap_err()
            .contains("port is missing"));
        assert!(parse_listen_addr("0.0.0.0:http")
            .unwrap_err()
            .contains("'http'"));
        assert!(parse_listen_addr("no-such-host.invalid:9464")
            .unwrap_err()
            .contains("cannot be listened on"));
    }

    #[test]
    fn kafka_options_split_on_the_first_equals_and_hide_values_in_errors() {
        let (key, value) = parse_kafka_option("sasl.jaas=a=b").unwrap();
        assert_eq!((key.as_str(), value.expose()), ("sasl.jaas", "a=b"));
        assert!(!format!("{value:?}").contains("a=b"));
        let err = parse_kafka_option("sasl.password").unwrap_err();
        assert!(!err.contains("sasl.password"));
        assert!(parse_kafka_option("=x").is_err());
    }

    #[test]
    fn a_kafka_properties_file_reads_like_kcats_and_names_the_bad_line_only() {
        let text = "# SASL\n\nsecurity.protocol=SASL_SSL\n  sasl.password = p@ss=w,rd  \nssl.ca.location=/ca.pem\n";
        let options = parse_kafka_properties(text).unwrap();
        let pairs: Vec<(&str, &str)> = options
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("security.protocol", "SASL_SSL"),
                ("sasl.password", "p@ss=w,rd"),
                ("ssl.ca.location", "/ca.pem")
            ]
        );
        assert_eq!(parse_kafka_properties("a=1\nhunter2\n").unwrap_err(), 2);
        let with_bom = parse_kafka_properties("\u{feff}linger.ms=5\n").unwrap();
        assert_eq!(with_bom[0].0, "linger.ms");
        let err = parse_kafka_config_file("/nonexistent/kafka.properties").unwrap_err();
        assert!(err.contains("/nonexistent/kafka.properties"), "{err}");
    }
}
