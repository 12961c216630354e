//! librdkafka's own reports (its log lines and client errors) into our log, a broker outage
//! told once when it starts, each minute while it lasts, and once when it ends.

use std::sync::{Arc, Mutex};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientContext;
use tokio::time::Instant;

use crate::outage::{Outages, Tell};

/// The client context of the producer and the consumer. Clones share one outage, so a
/// process with several clients reports it once.
///
/// While the brokers are unreachable, librdkafka reports every failed connection, from every
/// client, several times a second: that becomes one warning when the outage starts, a
/// reminder each minute while it lasts, and one line when Kafka answers again. Everything
/// else passes through at librdkafka's level.
#[derive(Clone, Default)]
pub struct KafkaContext {
    outage: Arc<Mutex<Outages>>,
    /// The last report in which the brokers refused this client (not silence).
    refusal: Arc<Mutex<Option<(Refusal, String)>>>,
}

/// How the brokers turned a client away: each is the user's to fix, and is said at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Nothing listens on the port.
    PortRefused,
    /// The SASL login was refused (wrong user or password, or another mechanism).
    Login,
    /// The TLS handshake failed (unknown CA, host name, or a listener without TLS).
    Tls,
    /// The broker closed a plain connection: it expects TLS or SASL.
    ExpectsSecurity,
    /// The broker closed a TLS connection: it speaks plain.
    ExpectsPlain,
    /// What answered is not a Kafka broker (another service's port): its first bytes read as
    /// an impossible Kafka response size.
    NotKafka,
}

impl Refusal {
    /// The first words of the warning while it lasts: what is wrong, not "unreachable".
    fn summary(self) -> &'static str {
        match self {
            Refusal::PortRefused => "Kafka unreachable",
            Refusal::Login => "Kafka refused the SASL login",
            Refusal::Tls => "TLS with Kafka failed",
            Refusal::ExpectsSecurity | Refusal::ExpectsPlain => {
                "Kafka closed the connection: security.protocol does not match the listener"
            }
            Refusal::NotKafka => "what answers at the brokers' address is not a Kafka broker",
        }
    }
}

/// Which refusal librdkafka's text describes, if any.
pub fn classify_refusal(reason: &str) -> Option<Refusal> {
    let reason = reason.to_ascii_lowercase();
    // Another protocol's first bytes, read as a Kafka response's size: librdkafka then
    // suggests raising receive.message.max.bytes, which would not help.
    if reason.contains("invalid response size") {
        Some(Refusal::NotKafka)
    } else if reason.contains("sasl authentication error") || reason.contains("invalid credentials")
    {
        Some(Refusal::Login)
    } else if reason.contains("plaintext broker listener") {
        Some(Refusal::ExpectsPlain)
    } else if reason.contains("ssl handshake failed")
        || reason.contains("certificate verify failed")
    {
        Some(Refusal::Tls)
    } else if reason.contains("incorrect security.protocol")
        || reason.contains("connecting to a ssl listener")
        || reason.contains("connecting to a sasl listener")
        // A plain client's first request, answered by a TLS listener hanging up.
        || (reason.contains("closed by peer") && reason.contains("state apiversion_query"))
    {
        Some(Refusal::ExpectsSecurity)
    } else if reason.contains("connection refused") {
        Some(Refusal::PortRefused)
    } else {
        None
    }
}

impl KafkaContext {
    /// Kafka answered (a delivery acknowledged, a commit accepted): ends the outage, if any,
    /// with one line saying how long it lasted.
    pub fn answered(&self) {
        let ended = self
            .outage
            .lock()
            .ok()
            .and_then(|mut o| o.answered(Instant::now()));
        if let Some(down_for) = ended {
            tracing::info!(down_for_s = down_for.as_secs(), "Kafka answers again");
        }
    }

    /// The last refusal reported, with librdkafka's words.
    pub fn refusal(&self) -> Option<(Refusal, String)> {
        self.refusal.lock().ok()?.clone()
    }

    fn note_refusal(&self, reason: &str) {
        if let Some(kind) = classify_refusal(reason) {
            if let Ok(mut refusal) = self.refusal.lock() {
                *refusal = Some((kind, reason.to_string()));
            }
        }
    }

    /// Whether an outage is under way (for tests and progress lines).
    pub fn unreachable_since(&self) -> Option<Instant> {
        self.outage.lock().ok()?.since()
    }

    /// Takes an error a client call returned: true when it means the brokers cannot be
    /// reached, and it then counts as a report of the outage (logged as above).
    pub fn outage_error(&self, error: &KafkaError) -> bool {
        let unreachable = is_unreachable(error);
        if unreachable {
            self.unreachable(&error.to_string());
        }
        unreachable
    }

    fn unreachable(&self, reason: &str) {
        let say = match self.outage.lock() {
            Ok(mut outage) => outage.unreachable(Instant::now()),
            Err(_) => Tell::Started,
        };
        let refusal = classify_refusal(reason);
        // librdkafka's advice for another protocol (raise receive.message.max.bytes) misleads.
        let reason = match refusal {
            Some(Refusal::NotKafka) => "its answer is not in Kafka's protocol",
            _ => reason,
        };
        match (say, refusal) {
            (Tell::Started, Some(refusal)) if refusal != Refusal::PortRefused => tracing::warn!(
                %reason,
                "{}; retrying (readings wait, nothing is lost)",
                refusal.summary()
            ),
            (Tell::Started, _) => tracing::warn!(
                %reason,
                "Kafka unreachable; retrying (readings wait, nothing is lost)"
            ),
            (
                Tell::StillDown {
                    down_for,
                    calls: reports,
                },
                _,
            ) => tracing::warn!(
                %reason,
                down_for_s = down_for.as_secs(),
                reports,
                "Kafka still unreachable; retrying"
            ),
            (Tell::Nothing, _) => tracing::debug!(%reason, "Kafka unreachable"),
        }
    }
}

/// Whether a client error means no broker can be reached (as opposed to a real fault).
fn is_unreachable(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::AllBrokersDown
                | RDKafkaErrorCode::BrokerTransportFailure
                | RDKafkaErrorCode::Resolve
        )
    )
}

/// Whether a client error is a coordinator still starting (see [`TRANSIENT`]).
fn is_transient(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::CoordinatorLoadInProgress | RDKafkaErrorCode::CoordinatorNotAvailable
        )
    )
}

/// librdkafka's log lines start with the thread, which names the broker that the text then
/// names again: "[thrd:127.0.0.1:9092/bootstrap]: 127.0.0.1:9092/bootstrap: Connect to ...".
/// The text alone says it once.
fn without_thread(message: &str) -> &str {
    match message
        .strip_prefix("[thrd:")
        .and_then(|rest| rest.split_once("]: "))
    {
        Some((_, text)) => text,
        None => message,
    }
}

/// A broker still starting up answers "Coordinator load in progress" (or "not available")
/// until its coordinator has read its log; librdkafka retries by itself and then succeeds.
/// On a fresh broker every first run says it: a state, not a fault.
const TRANSIENT: [&str; 2] = ["Coordinator load in progress", "Coordinator not available"];

/// The level a librdkafka line is logged at: librdkafka's own, but a transient state it
/// retries by itself is not a warning.
fn level_of(level: RDKafkaLogLevel, message: &str) -> tracing::Level {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => tracing::Level::ERROR,
        RDKafkaLogLevel::Warning if TRANSIENT.iter().any(|t| message.contains(t)) => {
            tracing::Level::DEBUG
        }
        RDKafkaLogLevel::Warning => tracing::Level::WARN,
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => tracing::Level::INFO,
        RDKafkaLogLevel::Debug => tracing::Level::DEBUG,
    }
}

impl ClientContext for KafkaContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        let message = without_thread(message);
        // "FAIL": a connection to a broker failed or was lost.
        if fac == "FAIL" {
            self.note_refusal(message);
            self.unreachable(message);
            return;
        }
        match level_of(level, message) {
            tracing::Level::ERROR => tracing::error!(target: "librdkafka", "{fac} {message}"),
            tracing::Level::WARN => tracing::warn!(target: "librdkafka", "{fac} {message}"),
            tracing::Level::INFO => tracing::info!(target: "librdkafka", "{fac} {message}"),
            _ => tracing::debug!(target: "librdkafka", "{fac} {message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.note_refusal(reason);
        // A refusal is told as one, once, whatever error code librdkafka gives it.
        if is_unreachable(&error) || classify_refusal(reason).is_some() {
            self.unreachable(reason);
        } else if TRANSIENT.iter().any(|t| reason.contains(t)) || is_transient(&error) {
            tracing::debug!(%error, %reason, "Kafka coordinator not ready yet; librdkafka retries");
        } else {
            tracing::error!(%error, %reason, "Kafka client error");
        }
    }
}

/// For the metadata client, which sends nothing: no delivery reports to handle.
impl rdkafka::producer::ProducerContext for KafkaContext {
    type DeliveryOpaque = ();

    fn delivery(&self, _: &rdkafka::message::DeliveryResult<'_>, _: Self::DeliveryOpaque) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_coordinator_still_loading_is_not_a_warning_but_other_warnings_are() {
        let loading = "Failed to acquire idempotence PID from broker 1: Broker: Coordinator \
                       load in progress: retrying";
        assert_eq!(
            level_of(RDKafkaLogLevel::Warning, loading),
            tracing::Level::DEBUG
        );
        assert_eq!(
            level_of(RDKafkaLogLevel::Warning, "Topic x partition count changed"),
            tracing::Level::WARN
        );
        // An error stays an error whatever it says.
        assert_eq!(
            level_of(RDKafkaLogLevel::Error, loading),
            tracing::Level::ERROR
        );
        assert_eq!(level_of(RDKafkaLogLevel::Notice, "x"), tracing::Level::INFO);
    }

    #[test]
    fn another_protocols_answer_is_no_kafka_broker() {
        let reason = "127.0.0.1:9042/bootstrap: Receive failed: Invalid response size \
                      -2063597568 (0..100000000): increase receive.message.max.bytes (after 5ms \
                      in state APIVERSION_QUERY)";
        assert_eq!(classify_refusal(reason), Some(Refusal::NotKafka));
        let context = KafkaContext::default();
        context.error(KafkaError::Global(RDKafkaErrorCode::BadMessage), reason);
        assert_eq!(
            context.refusal().map(|(kind, _)| kind),
            Some(Refusal::NotKafka)
        );
        assert!(
            context.unreachable_since().is_some(),
            "told as an outage, once"
        );
    }

    #[test]
    fn the_thread_prefix_of_librdkafka_lines_is_dropped_so_the_broker_is_named_once() {
        let line = "[thrd:127.0.0.1:9092/bootstrap]: 127.0.0.1:9092/bootstrap: Connect to \
                    ipv4#127.0.0.1:9092 failed: Connection refused (after 0ms in state CONNECT)";
        let text = without_thread(line);
        assert_eq!(
            text.matches("127.0.0.1:9092/bootstrap").count(),
            1,
            "{text}"
        );
        assert!(
            text.starts_with("127.0.0.1:9092/bootstrap: Connect to"),
            "{text}"
        );
        // Lines without the prefix, or with an unclosed one, stay as they are.
        assert_eq!(without_thread("Connect failed"), "Connect failed");
        assert_eq!(without_thread("[thrd:main"), "[thrd:main");
    }

    #[test]
    fn an_answer_ends_the_outage_and_the_next_one_is_reported_again() {
        let context = KafkaContext::default();
        assert!(context.unreachable_since().is_none());
        context.error(
            KafkaError::Global(RDKafkaErrorCode::AllBrokersDown),
            "1/1 brokers are down",
        );
        let since = context.unreachable_since().expect("an outage");
        context.log(
            RDKafkaLogLevel::Error,
            "FAIL",
            "localhost:9092/1: Connect to ipv4#127.0.0.1:9092 failed: Connection refused",
        );
        assert_eq!(context.unreachable_since(), Some(since), "the same outage");
        context.answered();
        assert!(context.unreachable_since().is_none());
        context.log(RDKafkaLogLevel::Error, "FAIL", "Connection refused");
        assert!(context.unreachable_since().is_some_and(|s| s > since));
    }

    #[test]
    fn other_errors_are_not_taken_for_an_outage() {
        let context = KafkaContext::default();
        context.error(
            KafkaError::Global(RDKafkaErrorCode::TopicAuthorizationFailed),
            "not authorised",
        );
        context.log(
            RDKafkaLogLevel::Warning,
            "CONFWARN",
            "a configuration warning",
        );
        assert!(context.unreachable_since().is_none());
        assert!(is_unreachable(&KafkaError::Global(
            RDKafkaErrorCode::BrokerTransportFailure
        )));
    }

    #[test]
    fn refusals_are_told_apart_from_silence() {
        for (text, kind) in [
            ("sasl_ssl://127.0.0.1:19092/bootstrap: SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512", Some(Refusal::Login)),
            ("ssl://h:1/bootstrap: SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: broker certificate could not be verified", Some(Refusal::Tls)),
            ("127.0.0.1:19092/bootstrap: Disconnected while requesting ApiVersion: might be caused by incorrect security.protocol configuration (connecting to a SSL listener?) or broker version is < 0.10", Some(Refusal::ExpectsSecurity)),
            ("127.0.0.1:19092/bootstrap: Disconnected: connection closed by peer: receive 0 after POLLIN (after 0ms in state APIVERSION_QUERY) (_TRANSPORT)", Some(Refusal::ExpectsSecurity)),
            ("sasl_ssl://127.0.0.1:9092/bootstrap: SSL handshake failed: Disconnected: SSL connection closed by peer: connecting to a PLAINTEXT broker listener? (after 1ms in state SSL_HANDSHAKE)", Some(Refusal::ExpectsPlain)),
            ("127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1 failed: Connection refused (after 0ms in state CONNECT)", Some(Refusal::PortRefused)),
            ("127.0.0.1:9092/bootstrap: Connection setup timed out in state CONNECT", None),
        ] {
            assert_eq!(classify_refusal(text), kind, "{text}");
        }
    }
}
