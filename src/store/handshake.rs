//! One connection before the session's, made by the driver's own connection manager
//! (STARTUP, the login, `USE` of the keyspace), so that a refused login, a missing one, a
//! missing keyspace, or plain TCP against TLS (and back) is said at once and plainly.
//!
//! Why a connection of its own: cdrs-tokio 9 reports a refused login as a distinct error
//! from one connection (a server error of type `Authentication`), but its session builder
//! does not pass it on: the control connection logs it, tries again under the reconnection
//! policy, and the build ends in `SessionInitFailed` with the cause gone (a missing
//! keyspace too). So this check asks the driver's `TcpConnectionManager` or
//! `RustlsConnectionManager` for one connection, with the session's authenticator, and turns
//! its error into one line; the frames are the driver's, none are written here.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::anyhow;
use cdrs_tokio::cluster::session::DEFAULT_TRANSPORT_BUFFER_SIZE;
use cdrs_tokio::cluster::{
    ConnectionManager, KeyspaceHolder, RustlsConnectionManager, TcpConnectionManager,
};
use cdrs_tokio::compression::Compression;
use cdrs_tokio::error::Error;
use cdrs_tokio::frame::message_error::ErrorType;
use cdrs_tokio::frame::Version;
use cdrs_tokio::frame_encoding::ProtocolFrameEncodingFactory;

use super::tls;
use super::CassandraSettings;
use super::MissingKeyspace;

/// What cdrs-tokio 9 says when the server asks for a login and none is configured (its
/// `startup`); matched because it has no error type of its own.
const NO_AUTHENTICATOR: &str = "No authenticator was provided";

/// Connects to `addr` as the driver will (plain or TLS, with the login), and with `keyspace`
/// uses it; the connection is closed again.
pub async fn check(
    settings: &CassandraSettings,
    addr: &SocketAddr,
    keyspace: Option<&str>,
) -> anyhow::Result<()> {
    let (sender, _) = tokio::sync::watch::channel(None);
    let keyspace_holder = Arc::new(KeyspaceHolder::new(sender));
    if let Some(keyspace) = keyspace {
        keyspace_holder.update_current_keyspace_without_notification(keyspace.to_string());
    }
    let auth = settings.authenticator();
    let encoding = Box::new(ProtocolFrameEncodingFactory);
    let buffer = DEFAULT_TRANSPORT_BUFFER_SIZE;
    // The name the certificate must hold, for the error that says it does not.
    let mut tls_name = None;
    let connected = match &settings.tls {
        None => TcpConnectionManager::new(
            auth,
            keyspace_holder,
            encoding,
            Compression::None,
            buffer,
            true,
            Version::V4,
        )
        .connection(None, None, *addr)
        .await
        .map(drop),
        Some(tls_settings) => {
            let (name, config) = tls::client_config(tls_settings, &settings.nodes[0])?;
            tls_name = Some(name.to_str().into_owned());
            RustlsConnectionManager::new(
                name,
                auth,
                config,
                keyspace_holder,
                encoding,
                Compression::None,
                buffer,
                true,
                Version::V4,
            )
            .connection(None, None, *addr)
            .await
            .map(drop)
        }
    };
    connected.map_err(|err| explain(&err, settings, addr, keyspace, tls_name.as_deref()))
}

/// The driver's error for the connection to `addr`, in one line that says what to do.
fn explain(
    err: &Error,
    settings: &CassandraSettings,
    addr: &SocketAddr,
    keyspace: Option<&str>,
    tls_name: Option<&str>,
) -> anyhow::Error {
    let node = addr.to_string();
    let server_words = |message: &str| crate::text::printable(message);
    match err {
        Error::Server { body, .. } if body.ty == ErrorType::Authentication => {
            let user = settings.user.as_deref().unwrap_or("(none)");
            anyhow!(
                "Cassandra at {node} refused the login of {user}: {}",
                server_words(&body.message)
            )
        }
        // The only request that names the keyspace is `USE`: refused, it is not there.
        Error::Server { body, .. } if body.ty == ErrorType::Invalid && keyspace.is_some() => {
            MissingKeyspace {
                keyspace: keyspace.unwrap_or_default().to_string(),
                nodes: settings.nodes.join(","),
            }
            .into()
        }
        Error::Server { body, .. } => anyhow!(
            "Cassandra at {node} refused the connection: {}",
            server_words(&body.message)
        ),
        Error::General(message) if message == NO_AUTHENTICATOR => anyhow!(
            "Cassandra at {node} requires a login: set CASSANDRA_USER and \
             CASSANDRA_PASSWORD_FILE (or --cassandra-user and --cassandra-password-file)"
        ),
        Error::Io(io) if tls_name.is_some() && is_tls(io) => {
            tls_failure(&node, tls_name.unwrap_or_default(), io)
        }
        Error::Io(io) if tls_name.is_none() && closed(io) => anyhow!(
            "Cassandra at {node} closed the connection at the first message: does it \
             require TLS? (set CASSANDRA_TLS=true and CASSANDRA_CA)"
        ),
        Error::Io(io) if closed(io) => {
            anyhow!("Cassandra at {node} closed the connection during the TLS handshake or the login ({io})")
        }
        other => anyhow!("Cassandra at {node}: {other}"),
    }
}

/// The peer hung up: what a TLS-only node does with a plain first message.
fn closed(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        err.kind(),
        UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe
    )
}

/// An error of rustls's, in the TLS handshake.
fn is_tls(err: &std::io::Error) -> bool {
    err.get_ref()
        .is_some_and(|e| e.downcast_ref::<rustls::Error>().is_some())
}

fn tls_failure(node: &str, name: &str, err: &std::io::Error) -> anyhow::Error {
    let inner = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)) => {
            anyhow!(
            "the certificate of Cassandra at {node} is signed by a CA meteo does not trust: set \
             CASSANDRA_CA (--cassandra-ca) to that CA's PEM file"
        )
        }
        Some(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForName
            | rustls::CertificateError::NotValidForNameContext { .. },
        )) => anyhow!(
            "the certificate of Cassandra at {node} is not valid for the name {name}: connect by a \
             name it holds, or set CASSANDRA_TLS_SKIP_HOSTNAME=true"
        ),
        Some(rustls::Error::InvalidCertificate(other)) => {
            anyhow!("the certificate of Cassandra at {node} is refused: {other:?}")
        }
        Some(rustls::Error::InvalidMessage(_)) => anyhow!(
            "Cassandra at {node} does not speak TLS on that port (unset CASSANDRA_TLS, or check \
             client_encryption_options)"
        ),
        _ => anyhow!("TLS with Cassandra at {node} failed: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use cdrs_tokio::frame::message_error::ErrorBody;

    use super::*;
    use crate::secret::Secret;
    use crate::store::config::{CassandraTls, Keyspace};

    fn addr() -> SocketAddr {
        "127.0.0.1:9042".parse().unwrap()
    }

    fn plain() -> CassandraSettings {
        CassandraSettings::new(
            vec!["127.0.0.1:9042".into()],
            Keyspace::parse("meteo").unwrap(),
        )
    }

    fn with_login() -> CassandraSettings {
        let mut settings = plain();
        settings.user = Some("writer".into());
        settings.password = Some(Secret::new("s3cret-Pa55"));
        settings.tls = Some(CassandraTls {
            ca: None,
            cert: None,
            key: None,
            verify_hostname: true,
        });
        settings
    }

    fn server(ty: ErrorType, message: &str) -> Error {
        Error::Server {
            body: ErrorBody {
                message: message.into(),
                ty,
            },
            addr: addr(),
        }
    }

    fn said(err: &Error, settings: &CassandraSettings, keyspace: Option<&str>) -> String {
        let tls_name = settings.tls.as_ref().map(|_| "db.example");
        let text = format!("{:#}", explain(err, settings, &addr(), keyspace, tls_name));
        assert!(!text.contains('\n'), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
        text
    }

    #[test]
    fn a_refused_login_names_the_user_and_the_servers_words_never_the_password() {
        let err = server(
            ErrorType::Authentication,
            "Provided username and/or password are incorrect",
        );
        assert_eq!(
            said(&err, &with_login(), None),
            "Cassandra at 127.0.0.1:9042 refused the login of writer: Provided username and/or \
             password are incorrect"
        );
    }

    #[test]
    fn a_login_asked_for_and_not_configured_says_which_settings_to_set() {
        let err = Error::General(NO_AUTHENTICATOR.into());
        let text = said(&err, &plain(), None);
        assert!(text.contains("requires a login"), "{text}");
        assert!(text.contains("CASSANDRA_PASSWORD_FILE"), "{text}");
    }

    #[test]
    fn a_refused_use_of_the_keyspace_is_a_missing_keyspace() {
        let err = server(ErrorType::Invalid, "Keyspace 'absent' does not exist");
        let explained = explain(&err, &plain(), &addr(), Some("absent"), None);
        let missing = explained.downcast_ref::<MissingKeyspace>().unwrap();
        assert_eq!(missing.keyspace, "absent");
        assert_eq!(missing.nodes, "127.0.0.1:9042");
        // Without a keyspace asked for, the same error is only a refusal.
        let text = said(&err, &plain(), None);
        assert!(text.starts_with("Cassandra at 127.0.0.1:9042 refused the connection"));
    }

    #[test]
    fn a_plain_connection_closed_at_once_asks_whether_the_node_requires_tls() {
        for kind in [
            std::io::ErrorKind::UnexpectedEof,
            std::io::ErrorKind::ConnectionReset,
        ] {
            let err = Error::Io(std::io::Error::new(kind, "EOF"));
            let text = said(&err, &plain(), None);
            assert!(text.contains("require TLS"), "{text}");
            assert!(text.contains("CASSANDRA_TLS"), "{text}");
        }
    }

    #[test]
    fn tls_failures_say_which_setting_is_wrong() {
        let rustls_error =
            |e: rustls::Error| Error::Io(std::io::Error::new(std::io::ErrorKind::InvalidData, e));
        let not_tls = rustls_error(rustls::Error::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType,
        ));
        assert!(said(&not_tls, &with_login(), None).contains("does not speak TLS"));
        let unknown_ca = rustls_error(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ));
        let text = said(&unknown_ca, &with_login(), None);
        assert!(text.contains("CA meteo does not trust") && text.contains("CASSANDRA_CA"));
        let wrong_name = rustls_error(rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForName,
        ));
        let text = said(&wrong_name, &with_login(), None);
        assert!(text.contains("not valid for the name db.example"), "{text}");
    }

    #[test]
    fn server_words_are_made_printable() {
        let err = server(ErrorType::Server, "bad\x1b[2Jthing\nsecond line");
        let text = said(&err, &plain(), None);
        assert!(!text.contains('\x1b'), "{text:?}");
    }

    /// A transport that answers each request with the next scripted answer.
    struct Scripted(std::sync::Mutex<Vec<cdrs_tokio::error::Result<cdrs_tokio::frame::Envelope>>>);

    impl cdrs_tokio::transport::CdrsTransport for Scripted {
        fn write_envelope<'a>(
            &'a self,
            _request: &'a cdrs_tokio::frame::Envelope,
            _handshake: bool,
        ) -> cdrs_tokio::future::BoxFuture<'a, cdrs_tokio::error::Result<cdrs_tokio::frame::Envelope>>
        {
            let answer = self.0.lock().unwrap().remove(0);
            Box::pin(async move { answer })
        }

        fn is_broken(&self) -> bool {
            false
        }

        fn address(&self) -> SocketAddr {
            addr()
        }
    }

    /// What cdrs-tokio's own `startup` returns for a node that asks for a login, with the
    /// authenticator `settings` give; `then` answers the login.
    async fn driver_startup(
        settings: &CassandraSettings,
        then: Vec<cdrs_tokio::error::Result<cdrs_tokio::frame::Envelope>>,
    ) -> Error {
        use cdrs_tokio::frame::{Direction, Envelope, Flags, Opcode};
        let scheme = "org.apache.cassandra.auth.PasswordAuthenticator";
        let mut body = (scheme.len() as u16).to_be_bytes().to_vec();
        body.extend_from_slice(scheme.as_bytes());
        let authenticate = Envelope::new(
            Version::V4,
            Direction::Response,
            Flags::empty(),
            Opcode::Authenticate,
            0,
            body,
            None,
            Vec::new(),
        );
        let transport = Scripted(std::sync::Mutex::new(
            std::iter::once(Ok(authenticate)).chain(then).collect(),
        ));
        let (sender, _) = tokio::sync::watch::channel(None);
        let auth = settings.authenticator();
        cdrs_tokio::cluster::startup(
            &transport,
            auth.as_ref(),
            &KeyspaceHolder::new(sender),
            Compression::None,
            Version::V4,
        )
        .await
        .expect_err("the login must fail")
    }

    /// Pins the driver's behaviour `explain` relies on: a cdrs-tokio upgrade that changes its
    /// errors fails here, not in front of a user.
    #[tokio::test]
    async fn the_drivers_own_login_failures_are_the_ones_explained() {
        let mut login = with_login();
        login.tls = None;
        let refused = server(
            ErrorType::Authentication,
            "Provided username and/or password are incorrect",
        );
        let err = driver_startup(&login, vec![Err(refused)]).await;
        assert!(
            said(&err, &login, None).contains("refused the login of writer"),
            "{err}"
        );

        let err = driver_startup(&plain(), Vec::new()).await;
        assert!(
            said(&err, &plain(), None).contains("requires a login"),
            "{err}"
        );
    }
}
