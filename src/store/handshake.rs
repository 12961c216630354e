//! One connection of our own before the driver's: STARTUP and the login, so that a refused
//! login, a missing one, or plain TCP against TLS (and back) is said at once and plainly.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{anyhow, bail};
use cdrs_tokio::compression::Compression;
use cdrs_tokio::frame::message_response::ResponseBody;
use cdrs_tokio::frame::{Envelope, Version};
use cdrs_tokio::types::CBytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::tls;
use super::CassandraSettings;

/// Connects to `addr` as the driver will (plain or TLS), says STARTUP and logs in.
pub async fn check(settings: &CassandraSettings, addr: &SocketAddr) -> anyhow::Result<()> {
    let node = addr.to_string();
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| anyhow!("Cassandra at {node}: {e}"))?;
    match &settings.tls {
        None => login(stream, settings, &node).await.map_err(|e| {
            if e.downcast_ref::<Closed>().is_some() {
                anyhow!(
                    "Cassandra at {node} closed the connection at the first message: does it \
                     require TLS? (set CASSANDRA_TLS=true and CASSANDRA_CA)"
                )
            } else {
                e
            }
        }),
        Some(tls_settings) => {
            let (name, config) = tls::client_config(tls_settings, &settings.nodes[0])?;
            let connector = tokio_rustls::TlsConnector::from(Arc::clone(&config));
            let stream = connector
                .connect(name.clone(), stream)
                .await
                .map_err(|e| tls_failure(&node, &name, &e))?;
            login(stream, settings, &node).await
        }
    }
}

/// The connection ended before an answer.
#[derive(Debug, thiserror::Error)]
#[error("the connection closed")]
struct Closed;

fn tls_failure(
    node: &str,
    name: &rustls::pki_types::ServerName<'_>,
    err: &std::io::Error,
) -> anyhow::Error {
    let inner = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>());
    let name = name.to_str();
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
        _ if err.kind() == std::io::ErrorKind::UnexpectedEof => {
            anyhow!("Cassandra at {node} closed the connection during the TLS handshake ({err})")
        }
        _ => anyhow!("TLS with Cassandra at {node} failed: {err}"),
    }
}

async fn login<S>(mut stream: S, settings: &CassandraSettings, node: &str) -> anyhow::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let startup = Envelope::new_req_startup(None, Version::V4);
    match exchange(&mut stream, &startup, node).await? {
        ResponseBody::Ready => Ok(()),
        ResponseBody::Authenticate(_) => {
            let (Some(user), Some(password)) = (&settings.user, &settings.password) else {
                bail!(
                    "Cassandra at {node} requires a login: set CASSANDRA_USER and \
                     CASSANDRA_PASSWORD_FILE (or --cassandra-user and --cassandra-password-file)"
                );
            };
            let mut token = vec![0u8];
            token.extend_from_slice(user.as_bytes());
            token.push(0);
            token.extend_from_slice(password.expose().as_bytes());
            let response = Envelope::new_req_auth_response(CBytes::new(token), Version::V4);
            match exchange(&mut stream, &response, node).await? {
                ResponseBody::AuthSuccess(_) => Ok(()),
                ResponseBody::Error(err) => bail!(
                    "Cassandra at {node} refused the login of {user}: {}",
                    crate::text::printable(&err.message)
                ),
                other => bail!("Cassandra at {node} answered the login with {other:?}"),
            }
        }
        ResponseBody::Error(err) => bail!(
            "Cassandra at {node} refused the connection: {}",
            crate::text::printable(&err.message)
        ),
        other => bail!("Cassandra at {node} answered STARTUP with {other:?}"),
    }
}

/// Sends one request and reads one answer.
async fn exchange<S>(stream: &mut S, request: &Envelope, node: &str) -> anyhow::Result<ResponseBody>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let bytes = request
        .encode_with(Compression::None)
        .map_err(|e| anyhow!("encoding a request: {e}"))?;
    stream.write_all(&bytes).await.map_err(|_| Closed)?;
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = stream.read(&mut chunk).await.map_err(|_| Closed)?;
        if read == 0 {
            return Err(Closed.into());
        }
        buffer.extend_from_slice(&chunk[..read]);
        match Envelope::from_buffer(&buffer, Compression::None) {
            Ok(parsed) => {
                return parsed.envelope.response_body().map_err(|e| {
                    anyhow!("Cassandra at {node} sent an answer meteo cannot read: {e}")
                });
            }
            Err(cdrs_tokio::frame::ParseEnvelopeError::NotEnoughBytes)
                if buffer.len() < 1 << 20 => {}
            Err(e) => bail!("Cassandra at {node} does not speak the native protocol here: {e}"),
        }
    }
}
