//! The rustls client configuration for Cassandra: the CA to trust (the user's PEM file, or the
//! system's bundle), an optional client certificate, and host name checking unless turned off.

use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::CassandraTls;
use crate::files::{read_bounded, PEM_FILE_LIMIT};

/// Where Debian and most Linux distributions keep the trusted CAs.
const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// The server name to check certificates against (the first contact point's host) and the
/// client configuration.
pub fn client_config(
    tls: &CassandraTls,
    first_node: &str,
) -> anyhow::Result<(ServerName<'static>, Arc<ClientConfig>)> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let ca = tls.ca.as_deref().unwrap_or(Path::new(SYSTEM_CA_BUNDLE));
    let mut roots = RootCertStore::empty();
    let certs = read_certificates(ca, "CA file", "CASSANDRA_CA (--cassandra-ca)")?;
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        anyhow::bail!(
            "{}: no CA certificate could be read from it (set CASSANDRA_CA to the PEM file of the CA that signed Cassandra's certificate)",
            ca.display()
        );
    }
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .context("building the certificate verifier")?;
    let verifier: Arc<dyn ServerCertVerifier> = if tls.verify_hostname {
        webpki
    } else {
        Arc::new(AnyHostName(webpki))
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("choosing TLS versions")?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            let chain = read_certificates(
                cert,
                "certificate file",
                "CASSANDRA_CERT (--cassandra-cert)",
            )?;
            let pem = read_bounded(key, PEM_FILE_LIMIT, "key file")
                .map_err(|e| anyhow!("{e}; CASSANDRA_KEY (--cassandra-key)"))?;
            let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
                anyhow!(
                    "{}: not a PEM private key ({e}); CASSANDRA_KEY (--cassandra-key)",
                    key.display()
                )
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .context("the client certificate and key do not go together")?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok((server_name(first_node)?, Arc::new(config)))
}

/// The host of `host:port` as a name a certificate can hold (a DNS name or an IP address).
pub fn server_name(node: &str) -> anyhow::Result<ServerName<'static>> {
    let host = node
        .rsplit_once(':')
        .map_or(node, |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    ServerName::try_from(host.to_string())
        .map_err(|_| anyhow!("'{host}' is not a host name TLS can check"))
}

fn read_certificates(
    path: &Path,
    kind: &str,
    what: &str,
) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = read_bounded(path, PEM_FILE_LIMIT, kind).map_err(|e| anyhow!("{e}; {what}"))?;
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(&pem).collect();
    certs.map_err(|e| anyhow!("{}: not PEM certificates ({e}); {what}", path.display()))
}

/// A signature check handed on unchanged to the inner verifier.
macro_rules! delegate_signature_check {
    ($method:ident) => {
        fn $method(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            self.0.$method(message, cert, dss)
        }
    };
}

/// Checks the chain as usual but accepts any host name: for servers whose certificates do
/// not name the address they are reached at (`--cassandra-tls-skip-hostname`).
#[derive(Debug)]
struct AnyHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    delegate_signature_check!(verify_tls12_signature);
    delegate_signature_check!(verify_tls13_signature);

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_name_is_the_first_nodes_host() {
        assert_eq!(
            server_name("db1.example.com:9042").unwrap(),
            ServerName::try_from("db1.example.com").unwrap()
        );
        assert!(matches!(
            server_name("127.0.0.1:9042").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("[::1]:9042").unwrap(),
            ServerName::IpAddress(_)
        ));
    }

    #[test]
    fn pem_files_over_1_mib_or_not_regular_are_refused_naming_them() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("ca.pem");
        std::fs::write(&big, "#".repeat(1024 * 1024 + 1)).unwrap();
        let tls = CassandraTls {
            ca: Some(big.clone()),
            cert: None,
            key: None,
            verify_hostname: true,
        };
        let err = client_config(&tls, "127.0.0.1:9042")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "CA file {} is larger than 1 MiB (the limit for a CA file); CASSANDRA_CA (--cassandra-ca)",
                big.display()
            )
        );
        let tls = CassandraTls {
            ca: Some("/dev/zero".into()),
            ..tls
        };
        let err = client_config(&tls, "127.0.0.1:9042")
            .unwrap_err()
            .to_string();
        assert!(err.contains("/dev/zero is not a regular file"), "{err}");
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_named() {
        let tls = CassandraTls {
            ca: Some("/nonexistent/ca.pem".into()),
            cert: None,
            key: None,
            verify_hostname: true,
        };
        let err = client_config(&tls, "127.0.0.1:9042")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/nonexistent/ca.pem") && err.contains("CASSANDRA_CA"),
            "{err}"
        );
        let empty = std::env::temp_dir().join(format!("meteo-empty-{}.pem", std::process::id()));
        std::fs::write(&empty, "").unwrap();
        let tls = CassandraTls {
            ca: Some(empty.clone()),
            ..tls
        };
        let err = client_config(&tls, "127.0.0.1:9042")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no CA certificate"), "{err}");
        std::fs::remove_file(empty).ok();
    }
}
