//! Network fetching (OCSP, CRL, AIA, TSA) for the CLI: the [`pki_core::fetch::Fetcher`] trait over
//! ureq (rustls), only http/https, with a connect timeout and a total timeout on every request and
//! a size cap on every answer, so an unreachable, hanging or hostile server gives a clear error
//! quickly, never a hang.

use pki_core::cert::Certificate;
use pki_core::crypto::AlgorithmPolicy;
use pki_core::fetch::{is_http_url, FetchError, Fetcher};
use pki_core::revocation::{self, Status};
use std::time::Duration;

/// Total time allowed for one request, connection to last byte, unless configured.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// HTTP(S) fetching with timeouts and size caps.
#[derive(Debug)]
pub struct HttpFetcher {
    agent: ureq::Agent,
    timeout: Duration,
}

impl HttpFetcher {
    /// A fetcher whose requests each take at most `timeout` in total (the connection at most
    /// `timeout` too, and never more than 5 s of it when the total allows more).
    pub fn new(timeout: Duration) -> Self {
        let connect = timeout.min(Duration::from_secs(5).max(timeout / 2));
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .timeout_connect(Some(connect))
            .http_status_as_error(false)
            .max_redirects(3)
            .user_agent(concat!("pki/", env!("CARGO_PKG_VERSION")))
            .build();
        Self {
            agent: config.into(),
            timeout,
        }
    }

    fn finish(
        &self,
        url: &str,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        max_len: u64,
    ) -> Result<Vec<u8>, FetchError> {
        let mut resp = result.map_err(|e| self.map_err(url, e, max_len))?;
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            return Err(FetchError::HttpStatus {
                url: url.into(),
                status,
            });
        }
        resp.body_mut()
            .with_config()
            .limit(max_len)
            .read_to_vec()
            .map_err(|e| self.map_err(url, e, max_len))
    }

    fn map_err(&self, url: &str, e: ureq::Error, max_len: u64) -> FetchError {
        let url = url.to_string();
        match e {
            ureq::Error::Timeout(_) => FetchError::Timeout {
                url,
                after: self.timeout,
            },
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                FetchError::Timeout {
                    url,
                    after: self.timeout,
                }
            }
            ureq::Error::BodyExceedsLimit(_) => FetchError::TooLarge {
                url,
                limit: max_len,
            },
            ureq::Error::StatusCode(status) => FetchError::HttpStatus { url, status },
            ureq::Error::BadUri(_) => FetchError::UnsupportedUrl { url },
            ureq::Error::HostNotFound => FetchError::Unreachable {
                url,
                source: "the host name could not be resolved".into(),
            },
            ureq::Error::ConnectionFailed => FetchError::Unreachable {
                url,
                source: "the connection failed".into(),
            },
            other => FetchError::Unreachable {
                url,
                source: Box::new(other),
            },
        }
    }
}

impl Default for HttpFetcher {
    /// With [`timeout()`].
    fn default() -> Self {
        Self::new(timeout())
    }
}

impl Fetcher for HttpFetcher {
    fn get(&self, url: &str, max_len: u64) -> Result<Vec<u8>, FetchError> {
        if !is_http_url(url) {
            return Err(FetchError::UnsupportedUrl { url: url.into() });
        }
        tracing::debug!(url, "GET");
        let r = self.agent.get(url).call();
        self.finish(url, r, max_len)
    }

    fn post(
        &self,
        url: &str,
        content_type: &str,
        body: &[u8],
        max_len: u64,
    ) -> Result<Vec<u8>, FetchError> {
        if !is_http_url(url) {
            return Err(FetchError::UnsupportedUrl { url: url.into() });
        }
        tracing::debug!(url, content_type, len = body.len(), "POST");
        let r = self
            .agent
            .post(url)
            .header("Content-Type", content_type)
            .send(body);
        self.finish(url, r, max_len)
    }
}

/// The request timeout: `PKI_HTTP_TIMEOUT` seconds, default 10.
pub fn timeout() -> Duration {
    std::env::var("PKI_HTTP_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0 && *s <= 3600.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_TIMEOUT)
}

/// Online revocation status of `cert`: OCSP from its authorityInfoAccess when it names a
/// responder (RFC 6960), else (or when no OCSP answer can be relied on) the CRLs from its
/// distribution points.
pub fn online_revocation(
    cert: &Certificate,
    issuer: &Certificate,
    at: time::OffsetDateTime,
    policy: &AlgorithmPolicy,
) -> Status {
    revocation::online_status(cert, issuer, &HttpFetcher::default(), at, policy).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::time::Instant;

    #[test]
    fn a_server_that_never_answers_times_out() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/", l.local_addr().unwrap());
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let held = std::thread::spawn(move || {
            // Accept and hold the connection open without answering until the client gave up.
            let (s, _) = l.accept().unwrap();
            let _ = wait.recv_timeout(Duration::from_secs(10));
            drop(s);
        });
        let f = HttpFetcher::new(Duration::from_millis(500));
        let start = Instant::now();
        let e = f
            .post(&url, "application/ocsp-request", b"x", 1024)
            .unwrap_err();
        assert!(matches!(e, FetchError::Timeout { .. }), "{e:?}");
        // Liveness, not timing: far below the 10 s the server would hold the connection.
        assert!(start.elapsed() < Duration::from_secs(8));
        done.send(()).unwrap();
        held.join().unwrap();
    }

    #[test]
    fn refused_connection_status_and_size_cap() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let f = HttpFetcher::new(Duration::from_secs(5));
        let e = f.get(&format!("http://{addr}/"), 10).unwrap_err();
        assert!(matches!(e, FetchError::Unreachable { .. }), "{e:?}");

        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            for answer in [
                "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{}",
                    "a".repeat(100)
                ),
            ] {
                let (mut s, _) = l.accept().unwrap();
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                s.write_all(answer.as_bytes()).unwrap();
            }
        });
        let e = f.get(&format!("http://{addr}/"), 1000).unwrap_err();
        assert!(
            matches!(e, FetchError::HttpStatus { status: 500, .. }),
            "{e:?}"
        );
        let e = f.get(&format!("http://{addr}/"), 10).unwrap_err();
        assert!(matches!(e, FetchError::TooLarge { limit: 10, .. }), "{e:?}");
        server.join().unwrap();

        assert!(matches!(
            f.get("ldap://example/cn=x", 10),
            Err(FetchError::UnsupportedUrl { .. })
        ));
    }
}
