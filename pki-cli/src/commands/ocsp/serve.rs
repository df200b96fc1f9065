//! `pki ocsp serve`: an OCSP responder over HTTP (RFC 6960 Appendix A.1: POST of
//! `application/ocsp-request`, or GET of the base64 request in the path) that answers from a CA
//! directory's `index.txt`, re-read whenever it changes so a revocation shows without restart.

use super::read_cert;
use crate::args::ocsp::ServeArgs;
use crate::error::{CliError, CmdResult, Exit};
use crate::output::Lang;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine;
use hsm::Signer;
use pki_core::cert::Certificate;
use pki_core::ocsp::{self, CaIndex, ResponseStatus, MAX_REQUEST_LEN};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use time::OffsetDateTime;

struct Responder {
    ca: Certificate,
    cert: Certificate,
    signer: Arc<dyn Signer>,
    validity: time::Duration,
    index: IndexFile,
}

/// `index.txt`, re-read when its size, modification time or inode change.
struct IndexFile {
    path: PathBuf,
    cached: Mutex<Option<(Stamp, Arc<CaIndex>)>>,
}

type Stamp = (Option<SystemTime>, u64, u64);

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let m = std::fs::metadata(path)?;
    #[cfg(unix)]
    let ino = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let ino = 0;
    Ok((m.modified().ok(), m.len(), ino))
}

impl IndexFile {
    /// The current index; `Err` (logged, never sent) when it cannot be read, so the responder
    /// answers `tryLater` instead of answering from stale data.
    fn current(&self) -> Result<Arc<CaIndex>, String> {
        let now =
            stamp(&self.path).map_err(|e| format!("cannot read {}: {e}", self.path.display()))?;
        let mut cached = self
            .cached
            .lock()
            .map_err(|_| "index lock poisoned".to_string())?;
        if let Some((s, idx)) = cached.as_ref() {
            if *s == now {
                return Ok(idx.clone());
            }
        }
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| format!("cannot read {}: {e}", self.path.display()))?;
        let idx = Arc::new(CaIndex::parse(&text).map_err(|e| e.to_string())?);
        if cached.is_some() {
            log(&format!(
                "re-read {} ({} certificates)",
                self.path.display(),
                idx.len()
            ));
        }
        *cached = Some((now, idx.clone()));
        Ok(idx)
    }
}

fn log(line: &str) {
    let now = pki_core::time::vietnam(OffsetDateTime::now_utc());
    eprintln!("{now} ocsp: {line}");
}

fn load_key(keyref: &str) -> Result<Arc<dyn Signer>, CliError> {
    crate::commands::common::open_service_key(keyref)
}

fn find_ca_cert(args: &ServeArgs) -> Result<PathBuf, CliError> {
    if let Some(p) = &args.ca_cert {
        return Ok(p.clone());
    }
    ["ca.crt", "cacert.pem", "ca.pem"]
        .iter()
        .map(|n| args.ca_dir.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            CliError::op(format!(
                "the CA directory {} has no ca.crt",
                args.ca_dir.display()
            ))
            .hint("give the CA certificate with --ca-cert")
        })
}

/// Runs the responder until interrupted.
pub fn run(args: ServeArgs, lang: Lang) -> CmdResult {
    let ca = read_cert(&find_ca_cert(&args)?, lang)?;
    let cert = read_cert(&args.responder_cert, lang)?;
    let signer = load_key(&args.key)?;
    if signer.public_key_der() != cert.spki() {
        return Err(CliError::op(format!(
            "the key {} does not belong to the responder certificate {}",
            args.key,
            args.responder_cert.display()
        )));
    }
    authorised(&ca, &cert)?;
    let index = IndexFile {
        path: args.ca_dir.join("index.txt"),
        cached: Mutex::new(None),
    };
    let count = index
        .current()
        .map_err(|e| CliError::op(format!("cannot load the CA database: {e}")))?
        .len();
    let state = Arc::new(Responder {
        ca,
        cert,
        signer,
        validity: time::Duration::minutes(i64::from(args.validity.max(1))),
        index,
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::from_error("cannot start the server runtime", &e))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| CliError::from_error(format!("cannot listen on {}", args.listen), &e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| CliError::from_error("cannot read the listening address", &e))?;
        if !addr.ip().is_loopback() {
            log(&format!(
                "warning: listening on {addr}, which is reachable from other machines"
            ));
        }
        log(&format!(
            "CA \"{}\", {count} certificates in {}",
            state.ca.subject(),
            state.index.path.display()
        ));
        // The address on stdout, for scripts and tests that asked for port 0.
        println!("listening on http://{addr}/");
        use std::io::Write;
        let _ = std::io::stdout().flush();
        axum::serve(
            listener,
            app(state).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown())
        .await
        .map_err(|e| CliError::from_error("the server stopped", &e))
    })?;
    Ok(Exit::Ok)
}

/// Waits for Ctrl-C or SIGTERM, then says the server is stopping.
async fn shutdown() {
    crate::commands::common::shutdown_signal().await;
    log("stopping");
}

/// RFC 6960 §4.2.2.2: the responder is the CA, or the CA issued it with id-kp-OCSPSigning.
fn authorised(ca: &Certificate, cert: &Certificate) -> Result<(), CliError> {
    if cert.spki() == ca.spki() {
        return Ok(());
    }
    let issued = cert.issuer_key() == ca.subject_key()
        && pki_core::crypto::verify(
            cert.signature_algorithm(),
            ca.spki(),
            cert.tbs(),
            cert.signature(),
            &pki_core::crypto::AlgorithmPolicy::default(),
        )
        .is_ok();
    let eku = cert
        .extensions()
        .ext_key_usage
        .as_deref()
        .unwrap_or(&[])
        .contains(&pki_core::oid::EKU_OCSP_SIGNING);
    if !issued {
        return Err(CliError::op(format!(
            "the responder certificate \"{}\" was not issued by the CA \"{}\", so clients would reject its answers",
            cert.subject(),
            ca.subject()
        )));
    }
    if !eku {
        return Err(CliError::op(format!(
            "the responder certificate \"{}\" lacks id-kp-OCSPSigning, so clients would reject its answers",
            cert.subject()
        )));
    }
    Ok(())
}

fn app(state: Arc<Responder>) -> Router {
    Router::new()
        .route("/", post(by_post).get(by_get))
        .route("/{*path}", post(by_post).get(by_get))
        .layer(DefaultBodyLimit::max(MAX_REQUEST_LEN))
        .with_state(state)
}

async fn by_post(
    State(st): State<Arc<Responder>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Bytes,
) -> Response {
    respond(st, peer, "POST", body.to_vec()).await
}

async fn by_get(
    State(st): State<Arc<Responder>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
) -> Response {
    match decode_get_path(uri.path()) {
        Some(der) => respond(st, peer, "GET", der).await,
        None => {
            log(&format!("{peer} GET: not a base64 OCSP request"));
            ocsp_body(ocsp::error_response(ResponseStatus::MalformedRequest))
        }
    }
}

/// RFC 6960 Appendix A.1: `GET {url}/{url-encoding of base-64 encoding of the DER request}`.
/// The request may follow a path prefix, so every suffix after a `/` is tried.
fn decode_get_path(path: &str) -> Option<Vec<u8>> {
    if path.len() > MAX_REQUEST_LEN * 2 {
        return None;
    }
    let decoded = percent_decode(path.trim_start_matches('/'))?;
    let text = std::str::from_utf8(&decoded).ok()?;
    let b64 = base64::engine::general_purpose::STANDARD;
    std::iter::once(text)
        .chain(text.match_indices('/').map(|(i, _)| &text[i + 1..]))
        .filter(|s| !s.is_empty())
        .find_map(|s| {
            b64.decode(s)
                .ok()
                .filter(|d| ocsp::OcspRequest::parse(d).is_ok())
        })
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

async fn respond(st: Arc<Responder>, peer: SocketAddr, method: &str, der: Vec<u8>) -> Response {
    let method = method.to_string();
    let validity = st.validity;
    // Signing may go to a token: keep it off the async executor.
    let result = tokio::task::spawn_blocking(move || {
        let index = match st.index.current() {
            Ok(i) => i,
            Err(e) => {
                return (
                    ocsp::error_response(ResponseStatus::TryLater),
                    format!("tryLater ({e})"),
                    false,
                )
            }
        };
        let a = ocsp::answer(
            &der,
            &st.ca,
            &index,
            &st.cert,
            st.signer.as_ref(),
            OffsetDateTime::now_utc(),
            st.validity,
        );
        let mut summary = a.status.name().to_string();
        for (serial, status) in &a.statuses {
            summary.push_str(&format!(" {serial}={status}"));
        }
        if let Some(e) = &a.error {
            summary.push_str(&format!(" ({e})"));
        }
        (a.der, summary, a.cacheable)
    })
    .await;
    match result {
        Ok((der, summary, cacheable)) => {
            log(&format!("{peer} {method}: {summary}"));
            let mut resp = ocsp_body(der);
            // RFC 5019 §6.2: GET answers without a nonce may be cached until nextUpdate.
            let cache = if cacheable && method == "GET" {
                format!(
                    "max-age={}, public, no-transform, must-revalidate",
                    validity.whole_seconds()
                )
            } else {
                "no-store".to_string()
            };
            if let Ok(v) = header::HeaderValue::from_str(&cache) {
                resp.headers_mut().insert(header::CACHE_CONTROL, v);
            }
            resp
        }
        Err(e) => {
            log(&format!("{peer} {method}: internal error: {e}"));
            ocsp_body(ocsp::error_response(ResponseStatus::InternalError))
        }
    }
}

fn ocsp_body(der: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, pki_core::fetch::OCSP_RESPONSE_TYPE)],
        der,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_get_paths() {
        let req = [0x30, 0x03, 0x30, 0x01, 0x00];
        // Not a parseable request: refused.
        let p = format!("/{}", base64::engine::general_purpose::STANDARD.encode(req));
        assert!(decode_get_path(&p).is_none());
        assert_eq!(percent_decode("a%2Fb%2B%3D").unwrap(), b"a/b+=");
        assert!(percent_decode("%zz").is_none());
        assert!(percent_decode("%2").is_none());
    }
}
