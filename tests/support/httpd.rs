//! A small HTTP/1.1 server on 127.0.0.1 for scripted test services (the CSC and MSSP servers):
//! one thread per connection, one request per connection, a handler that may take its time (a
//! person approving) and that stops waiting when the server is dropped. Plain http, or https
//! with a rustls server configuration ([`Httpd::start_tls`], [`tls_config`]).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A request as the handler sees it.
#[derive(Debug, Clone)]
pub struct Request {
    /// GET, POST ...
    pub method: String,
    /// The path (with any query).
    pub path: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
}

/// What the handler answers; `None` status means "hang up without answering".
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Content-Type.
    pub content_type: String,
    /// Body.
    pub body: Vec<u8>,
    /// A redirect's target (`Location`).
    pub location: Option<String>,
}

impl Response {
    /// A JSON answer.
    pub fn json(status: u16, v: &serde_json::Value) -> Self {
        Self {
            status,
            content_type: "application/json".into(),
            body: serde_json::to_vec(v).unwrap_or_default(),
            location: None,
        }
    }

    /// A `302 Found` to `url` (an OAuth 2.0 authorization server sending the browser back).
    pub fn redirect(url: String) -> Self {
        Self {
            status: 302,
            content_type: "text/plain".into(),
            body: Vec::new(),
            location: Some(url),
        }
    }

    /// An HTML page.
    pub fn html(status: u16, s: &str) -> Self {
        Self {
            status,
            content_type: "text/html; charset=utf-8".into(),
            body: s.as_bytes().to_vec(),
            location: None,
        }
    }

    /// An XML answer.
    pub fn xml(status: u16, s: String) -> Self {
        Self {
            status,
            content_type: "text/xml; charset=utf-8".into(),
            body: s.into_bytes(),
            location: None,
        }
    }
}

/// The handler: the request and the server's stop flag (check it while waiting).
pub type Handler = Arc<dyn Fn(&Request, &AtomicBool) -> Option<Response> + Send + Sync>;

/// A running server; stops when dropped.
pub struct Httpd {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Httpd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Httpd").field("base", &self.base).finish()
    }
}

impl Httpd {
    /// Starts serving `handler` on a free loopback port (plain http).
    pub fn start(handler: Handler) -> Self {
        Self::start_with(handler, None)
    }

    /// Starts serving `handler` over TLS on a free loopback port (`https://127.0.0.1:PORT`).
    pub fn start_tls(handler: Handler, tls: Arc<rustls::ServerConfig>) -> Self {
        Self::start_with(handler, Some(tls))
    }

    fn start_with(handler: Handler, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let accept = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(s) = conn else { continue };
                let h = handler.clone();
                let st = stop2.clone();
                let tls = tls.clone();
                std::thread::spawn(move || match tls {
                    None => serve_one(s, &h, &st),
                    Some(cfg) => {
                        if let Ok(conn) = rustls::ServerConnection::new(cfg) {
                            serve_one(rustls::StreamOwned::new(conn, s), &h, &st);
                        }
                    }
                });
            }
        });
        Self {
            base: format!("{scheme}://{addr}"),
            addr,
            stop,
            accept: Some(accept),
        }
    }
}

/// Sleeps up to `d`, returning early (false) when `stop` is set.
pub fn wait(d: Duration, stop: &AtomicBool) -> bool {
    let end = std::time::Instant::now() + d;
    while std::time::Instant::now() < end {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

fn serve_one<S: Read + Write>(mut s: S, handler: &Handler, stop: &AtomicBool) {
    let mut r = BufReader::new(&mut s);
    let mut line = String::new();
    if r.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_owned();
    let path = parts.next().unwrap_or("/").to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len.min(16 * 1024 * 1024)];
    if r.read_exact(&mut body).is_err() {
        return;
    }
    drop(r);
    let req = Request {
        method,
        path,
        headers,
        body,
    };
    let Some(resp) = handler(&req, stop) else {
        return;
    };
    let reason = match resp.status {
        200 => "OK",
        202 => "Accepted",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        500 => "Internal Server Error",
        _ => "Status",
    };
    let location = resp
        .location
        .as_ref()
        .map(|l| format!("Location: {l}\r\n"))
        .unwrap_or_default();
    let mut out = format!(
        "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\n{location}Content-Length: {}\r\nConnection: close\r\n\r\n",
        resp.status,
        resp.content_type,
        resp.body.len()
    )
    .into_bytes();
    out.extend_from_slice(&resp.body);
    let _ = s.write_all(&out);
    let _ = s.flush();
}

/// A TLS server configuration from a PEM certificate chain and a PEM PKCS#8 key.
pub fn tls_config(chain_pem: &str, key_pem: &str) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let certs: Vec<CertificateDer<'static>> = hsm::pem::pem_blocks(chain_pem)
        .into_iter()
        .filter(|(l, _)| l == "CERTIFICATE")
        .map(|(_, d)| CertificateDer::from(d))
        .collect();
    let key = hsm::pem::pem_blocks(key_pem)
        .into_iter()
        .find(|(l, _)| l == "PRIVATE KEY")
        .map(|(_, d)| PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(d)))
        .expect("a PKCS#8 PRIVATE KEY block");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("TLS server certificate");
    Arc::new(cfg)
}

impl Drop for Httpd {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}
