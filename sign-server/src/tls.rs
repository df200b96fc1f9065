//! TLS in the process (TLS 1.3 / 1.2, RFC 8446 / RFC 5246, through rustls with the aws-lc-rs
//! provider) and client certificates (decision 0039).
//!
//! A client certificate is checked during the handshake by rustls-webpki against
//! `tls.client_ca`: the path to one of those CAs (RFC 5280 §6.1), each certificate's validity
//! at the handshake's time, and the extended key usage id-kp-clientAuth (RFC 5280 §4.2.1.12;
//! a certificate without the extension is not restricted). A certificate that fails any of
//! these ends the handshake with a TLS alert; the request never reaches the API. Which
//! *client* a verified certificate is, is decided per request in `api::authenticate` by its
//! SHA-256 fingerprint ([`PeerCert`]).
//!
//! Handshakes run in their own tasks (at most [`MAX_HANDSHAKES`] at once, each limited to
//! [`HANDSHAKE_TIMEOUT`]), so a slow or silent client cannot hold up accepting others. A plain
//! HTTP request sent to the TLS port gets a plain-text 400 that says to use https.

use crate::config::{ClientAuth, ConfigError, TlsConfig};
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::serve::{IncomingStream, Listener};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// Handshakes in progress at once; more connections wait to be accepted.
pub const MAX_HANDSHAKES: usize = 256;
/// Time a client has to complete the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn invalid(what: &str, path: &std::path::Path, why: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid(format!("tls.{what} {}: {why}", path.display()))
}

/// The rustls server configuration for `[tls]`: the server's chain and key, and the client
/// certificate verifier when `client_ca` is set. HTTP/1.1 is offered by ALPN.
pub fn server_config(t: &TlsConfig) -> Result<Arc<rustls::ServerConfig>, ConfigError> {
    let chain = CertificateDer::pem_file_iter(&t.cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| invalid("cert", &t.cert, e))?;
    if chain.is_empty() {
        return Err(invalid(
            "cert",
            &t.cert,
            "holds no PEM certificate (expected the server's certificate, then its CAs)",
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&t.key).map_err(|e| {
        invalid(
            "key",
            &t.key,
            format!("{e} (expected an unencrypted PEM private key)"),
        )
    })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Invalid(format!("TLS: {e}")))?;
    let builder = match &t.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(ca)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| invalid("client_ca", ca, e))?;
            for c in certs {
                roots.add(c).map_err(|e| {
                    invalid(
                        "client_ca",
                        ca,
                        format!("a certificate is not usable as a CA: {e}"),
                    )
                })?;
            }
            if roots.is_empty() {
                return Err(invalid("client_ca", ca, "holds no PEM certificate"));
            }
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            );
            let v = match t.client_auth {
                ClientAuth::Optional => v.allow_unauthenticated(),
                ClientAuth::Required => v,
            };
            let v = v
                .build()
                .map_err(|e| invalid("client_ca", ca, format!("{e:?}")))?;
            builder.with_client_cert_verifier(v)
        }
    };
    let mut cfg = builder
        .with_single_cert(chain, key)
        .map_err(|e| invalid("key", &t.key, format!("cannot be used with tls.cert: {e}")))?;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// Who is at the other end of a TLS connection: its address and, when it presented one that
/// verified, the SHA-256 fingerprint (lower-case hex) of its certificate.
#[derive(Clone, Debug)]
pub struct TlsPeer {
    /// The remote address.
    pub addr: SocketAddr,
    /// SHA-256 of the client certificate's DER, hex.
    pub client_cert_sha256: Option<Arc<str>>,
}

impl Connected<IncomingStream<'_, TlsListener>> for TlsPeer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        stream.remote_addr().clone()
    }
}

/// The verified client certificate of the request's connection, if any (an extractor; always
/// `None` over plain HTTP).
#[derive(Clone, Debug, Default)]
pub struct PeerCert(pub Option<Arc<str>>);

impl<S: Send + Sync> FromRequestParts<S> for PeerCert {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<TlsPeer>>()
                .and_then(|c| c.0.client_cert_sha256.clone()),
        ))
    }
}

/// A listener that hands axum connections whose TLS handshake has completed.
#[derive(Debug)]
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, TlsPeer)>,
    local: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Starts accepting on `tcp`; handshake failures are logged and counted in `failures`.
    pub fn new(
        tcp: TcpListener,
        config: Arc<rustls::ServerConfig>,
        failures: Arc<AtomicU64>,
    ) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(64);
        let task = tokio::spawn(accept_loop(tcp, TlsAcceptor::from(config), tx, failures));
        Ok(Self { ready, local, task })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = TlsPeer;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The accept task ended (only when aborted): accept nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(TlsPeer {
            addr: self.local,
            client_cert_sha256: None,
        })
    }
}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, TlsPeer)>,
    failures: Arc<AtomicU64>,
) {
    let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let (stream, addr) = match tcp.accept().await {
            Ok(c) => c,
            Err(e) => {
                // As axum's own listener: connection-level errors are the peer's; others
                // (out of file descriptors) need a pause.
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused
                        | std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::ConnectionReset
                ) {
                    tracing::error!("accept: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                continue;
            }
        };
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let (acceptor, ready, failures) = (acceptor.clone(), ready.clone(), failures.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let _ = stream.set_nodelay(true);
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&acceptor, stream)).await {
                Ok(Ok(tls)) => {
                    let client_cert_sha256 = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|c| c.first())
                        .map(|c| fingerprint(c).into());
                    let _ = ready
                        .send((
                            tls,
                            TlsPeer {
                                addr,
                                client_cert_sha256,
                            },
                        ))
                        .await;
                }
                Ok(Err(e)) => {
                    failures.fetch_add(1, Ordering::Relaxed);
                    tracing::info!("TLS handshake with {addr} failed: {e}");
                }
                Err(_) => {
                    failures.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        "TLS handshake with {addr} did not complete within {} s",
                        HANDSHAKE_TIMEOUT.as_secs()
                    );
                }
            }
        });
    }
}

/// The plain-HTTP answer to a request sent to the TLS port.
const PLAIN_HTTP_ANSWER: &str = "{\"code\":\"tls_required\",\"message\":\"this port speaks HTTPS only; send the request to https:// with the same host and port\"}";

async fn handshake(
    acceptor: &TlsAcceptor,
    mut stream: TcpStream,
) -> std::io::Result<TlsStream<TcpStream>> {
    // A TLS connection starts with a handshake record (content type 22); an HTTP/1.x request
    // starts with its method's letters.
    let mut first = [0u8; 1];
    if stream.peek(&mut first).await? == 0 {
        return Err(std::io::Error::other("the client closed the connection"));
    }
    if first[0].is_ascii_uppercase() {
        let answer = format!(
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{PLAIN_HTTP_ANSWER}",
            PLAIN_HTTP_ANSWER.len()
        );
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
        // Read what the client still sends (a little, briefly), so that closing with unread
        // bytes does not reset the connection before the answer is read.
        let mut sink = [0u8; 4096];
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            let mut n = 0usize;
            while n < 65536 {
                match stream.read(&mut sink).await {
                    Ok(0) | Err(_) => break,
                    Ok(k) => n += k,
                }
            }
        })
        .await;
        return Err(std::io::Error::other(
            "the client sent plain HTTP to the TLS port (answered 400 tls_required)",
        ));
    }
    acceptor.accept(stream).await
}

/// SHA-256 of a certificate's DER, lower-case hex (`client_cert_sha256`).
pub fn fingerprint(der: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der))
}
