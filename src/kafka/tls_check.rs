//! Why a TLS handshake with a broker failed, asked again with rustls: librdkafka (OpenSSL)
//! says "certificate verify failed" whether the CA is unknown or the certificate names
//! another host, and the two have different fixes. Used only once a handshake has failed.

use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, ClientConnection, RootCertStore};

/// Where Debian and most Linux distributions keep the trusted CAs (librdkafka's default too).
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// How long the second handshake may take: it only explains a failure already seen.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// What a broker's certificate is wrong about, when rustls can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateProblem {
    /// The chain is signed by the CA, but the certificate does not name the host.
    HostName,
    /// Not signed by a CA that is trusted.
    UnknownCa,
}

/// Handshakes with `broker` (`host:port`) trusting `ca` (PEM; the system's CAs when `None`)
/// and names what is wrong with its certificate, or `None` when that cannot be told (the
/// handshake succeeds, the broker cannot be reached, the CA cannot be read).
pub fn certificate_problem(broker: &str, ca: Option<&str>) -> Option<CertificateProblem> {
    let host = broker
        .rsplit_once(':')
        .map_or(broker, |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let name = ServerName::try_from(host.to_string()).ok()?;
    let ca = Path::new(ca.unwrap_or(SYSTEM_CA_BUNDLE));
    let mut roots = RootCertStore::empty();
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
        .ok()?
        .filter_map(Result::ok)
        .collect();
    roots.add_parsable_certificates(certs);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut connection = ClientConnection::new(Arc::new(config), name).ok()?;
    let addr = broker.to_socket_addrs().ok()?.next()?;
    let mut socket = TcpStream::connect_timeout(&addr, CHECK_TIMEOUT).ok()?;
    socket.set_read_timeout(Some(CHECK_TIMEOUT)).ok()?;
    socket.set_write_timeout(Some(CHECK_TIMEOUT)).ok()?;
    // The server's certificate is checked as soon as it arrives, within the handshake.
    while connection.is_handshaking() {
        if connection.wants_write() {
            connection.write_tls(&mut socket).ok()?;
        }
        if connection.wants_read() {
            if connection.read_tls(&mut socket).ok()? == 0 {
                return None;
            }
            if let Err(err) = connection.process_new_packets() {
                return classify(&err);
            }
        }
    }
    // Handshake done: nothing to say. Leave politely.
    connection.send_close_notify();
    let _ = connection.write_tls(&mut socket);
    let _ = socket.flush();
    let _ = socket.read(&mut [0; 1]);
    None
}

fn classify(err: &rustls::Error) -> Option<CertificateProblem> {
    match err {
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => Some(CertificateProblem::HostName),
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            Some(CertificateProblem::UnknownCa)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_the_certificate_lacks_is_told_from_an_unknown_ca() {
        let name = rustls::Error::InvalidCertificate(CertificateError::NotValidForName);
        assert_eq!(classify(&name), Some(CertificateProblem::HostName));
        let ca = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert_eq!(classify(&ca), Some(CertificateProblem::UnknownCa));
        assert_eq!(classify(&rustls::Error::DecryptError), None);
    }

    #[test]
    fn nothing_is_said_when_the_broker_cannot_be_reached() {
        assert_eq!(certificate_problem("127.0.0.1:1", None), None);
        assert_eq!(certificate_problem("no port", None), None);
    }
}
