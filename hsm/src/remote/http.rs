//! The HTTP client remote signers use: ureq over rustls, with a timeout on every exchange and a
//! cap on every answer, so a hanging or hostile service gives a clear error, never a hang.
//! https trusting the system's CA bundle (where administrators add the national roots; the
//! Mozilla roots built into ureq when there is none), or only a CA file given for a private
//! service; plain http only to the loopback interface (tests, a local gateway).

use super::RemoteOptions;
use crate::{Error, SecretString};
use std::time::Duration;

/// The largest answer accepted (a certificate chain, or the signatures of a batch).
const MAX_ANSWER: u64 = 4 * 1024 * 1024;

/// An HTTP client for one remote service.
#[derive(Debug)]
pub struct HttpClient {
    agent: ureq::Agent,
    service: String,
    timeout: Duration,
}

/// An answer: the status and the body.
#[derive(Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Body (at most 4 MiB).
    pub body: Vec<u8>,
}

impl HttpClient {
    /// A client for the service at `url` (used in messages). Refuses plain http except to
    /// 127.0.0.1, ::1 or localhost.
    pub fn new(url: &str, opts: &RemoteOptions) -> Result<Self, Error> {
        check_url(url)?;
        let mut tls = ureq::tls::TlsConfig::builder();
        let roots = match &opts.ca_file {
            Some(path) => {
                let certs = read_pem_certs(path)?;
                if certs.is_empty() {
                    return Err(Error::BadKeyRef {
                        reason: format!("{} holds no PEM certificate to trust", path.display()),
                    });
                }
                Some(certs)
            }
            // The system's store, where an administrator adds the national roots; else the
            // Mozilla roots built into ureq.
            None => system_bundle().and_then(|p| read_pem_certs(&p).ok()),
        };
        if let Some(certs) = roots.filter(|c| !c.is_empty()) {
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
        }
        let timeout = opts.request_timeout;
        let config = ureq::Agent::config_builder()
            .tls_config(tls.build())
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(Duration::from_secs(10))))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("vn-pki-hsm/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Self {
            agent: config.into(),
            service: url.to_owned(),
            timeout,
        })
    }

    /// The service named in messages.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// POSTs `body` to `url`; `wait` extends the timeout for a call that waits for a person.
    pub fn post(
        &self,
        url: &str,
        content_type: &str,
        headers: &[(&str, &str)],
        bearer: Option<&SecretString>,
        body: &[u8],
        wait: Option<Duration>,
    ) -> Result<Answer, Error> {
        // A request held while a person decides gets their time plus a little for the network;
        // running out of it is the person not answering, not the network failing.
        let timeout = match wait {
            Some(w) => w + Duration::from_secs(1),
            None => self.timeout,
        };
        self.post_within(url, content_type, headers, bearer, body, timeout, wait)
    }

    /// A JSON POST that must be answered within `limit` (a readiness probe), whatever the
    /// client's usual timeout.
    pub fn post_json_within(
        &self,
        url: &str,
        bearer: Option<&SecretString>,
        body: &serde_json::Value,
        limit: Duration,
    ) -> Result<(u16, serde_json::Value), Error> {
        let bytes = serde_json::to_vec(body).map_err(|e| self.bad_answer(&e.to_string()))?;
        let a = self.post_within(url, "application/json", &[], bearer, &bytes, limit, None)?;
        self.json_answer(url, a)
    }

    /// Whether the service at `url` answers HTTP at all within `limit` (a readiness probe for
    /// a protocol without a harmless call, such as TS 102 204): a `GET` whose answer is any
    /// status but 502, 503 or 504 (a gateway or the service saying it is down). Nothing is
    /// signed, nothing is sent to a phone.
    pub fn reachable(&self, url: &str, limit: Duration) -> Result<(), Error> {
        check_url(url)?;
        let mut resp = self
            .agent
            .get(url)
            .config()
            .timeout_global(Some(limit))
            .build()
            .call()
            .map_err(|e| self.net_error(e, limit, None))?;
        let status = resp.status().as_u16();
        // Read (a little of) the body so the connection closes cleanly.
        let _ = resp.body_mut().with_config().limit(64 * 1024).read_to_vec();
        if matches!(status, 502..=504) {
            return Err(Error::Remote {
                service: self.service.clone(),
                reason: format!("answered HTTP {status}: it is down or overloaded"),
            });
        }
        Ok(())
    }

    #[expect(clippy::too_many_arguments, reason = "one request's parts")]
    fn post_within(
        &self,
        url: &str,
        content_type: &str,
        headers: &[(&str, &str)],
        bearer: Option<&SecretString>,
        body: &[u8],
        timeout: Duration,
        wait: Option<Duration>,
    ) -> Result<Answer, Error> {
        check_url(url)?;
        let mut req = self
            .agent
            .post(url)
            .config()
            .timeout_global(Some(timeout))
            .build()
            .header("Content-Type", content_type);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(t) = bearer {
            req = req.header("Authorization", &format!("Bearer {}", t.expose()));
        }
        tracing::debug!(url, len = body.len(), "remote signer POST");
        let mut resp = req
            .send(body)
            .map_err(|e| self.net_error(e, timeout, wait))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_vec()
            .map_err(|e| self.net_error(e, timeout, wait))?;
        Ok(Answer { status, body })
    }

    /// POSTs a JSON object and reads a JSON answer (any status; the caller maps errors).
    pub fn post_json(
        &self,
        url: &str,
        bearer: Option<&SecretString>,
        body: &serde_json::Value,
        wait: Option<Duration>,
    ) -> Result<(u16, serde_json::Value), Error> {
        let bytes = serde_json::to_vec(body).map_err(|e| self.bad_answer(&e.to_string()))?;
        let a = self.post(url, "application/json", &[], bearer, &bytes, wait)?;
        self.json_answer(url, a)
    }

    fn json_answer(&self, url: &str, a: Answer) -> Result<(u16, serde_json::Value), Error> {
        let v = if a.body.iter().all(u8::is_ascii_whitespace) {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&a.body).map_err(|_| {
                self.bad_answer(&format!(
                    "answered {url} with HTTP {} and a body that is not JSON",
                    a.status
                ))
            })?
        };
        Ok((a.status, v))
    }

    /// An [`Error::Remote`] for an answer we cannot use.
    pub fn bad_answer(&self, why: &str) -> Error {
        Error::Remote {
            service: self.service.clone(),
            reason: format!("gave an unusable answer: {why}"),
        }
    }

    /// `wait`: the request was held for a person, so a timeout is an [`Error::ApprovalTimeout`]
    /// (with the service as `who`; the dialect names the person).
    fn net_error(&self, e: ureq::Error, timeout: Duration, wait: Option<Duration>) -> Error {
        let timed_out = matches!(&e, ureq::Error::Timeout(_))
            || matches!(&e, ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut);
        if let (true, Some(waited)) = (timed_out, wait) {
            return Error::ApprovalTimeout {
                who: self.service.clone(),
                waited,
            };
        }
        let text = e.to_string();
        if text.contains("certificate") || text.contains("UnknownIssuer") {
            return Error::Remote {
                service: self.service.clone(),
                reason: format!(
                    "presented a TLS certificate that is not trusted here ({text}); if it uses a private CA, add ca-file=PEM to the key reference"
                ),
            };
        }
        let reason = match e {
            ureq::Error::Timeout(_) => format!(
                "did not answer within {} s; check the network and try again",
                timeout.as_secs()
            ),
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => format!(
                "did not answer within {} s; check the network and try again",
                timeout.as_secs()
            ),
            ureq::Error::BodyExceedsLimit(_) => {
                format!("sent an answer over {} MiB", MAX_ANSWER / (1024 * 1024))
            }
            ureq::Error::HostNotFound => {
                "cannot be reached: its host name could not be resolved".into()
            }
            ureq::Error::ConnectionFailed => {
                "cannot be reached: the connection failed; check the address and the network".into()
            }
            ureq::Error::Io(io) => format!("cannot be reached: {io}"),
            other => format!("cannot be reached: {other}"),
        };
        Error::Remote {
            service: self.service.clone(),
            reason,
        }
    }
}

fn read_pem_certs(path: &std::path::Path) -> Result<Vec<ureq::tls::Certificate<'static>>, Error> {
    let pem = std::fs::read_to_string(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    Ok(crate::pem::pem_blocks(&pem)
        .into_iter()
        .filter(|(label, _)| label == "CERTIFICATE")
        .map(|(_, der)| ureq::tls::Certificate::from_der(&der).to_owned())
        .collect())
}

/// The system CA bundle: `SSL_CERT_FILE`, else the usual Debian/RHEL/BSD paths.
fn system_bundle() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("SSL_CERT_FILE") {
        return Some(p.into());
    }
    [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/cert.pem",
    ]
    .into_iter()
    .map(std::path::PathBuf::from)
    .find(|p| p.is_file())
}

/// https anywhere; http only to the loopback interface.
fn check_url(url: &str) -> Result<(), Error> {
    if url.starts_with("https://") {
        return Ok(());
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return Err(Error::BadKeyRef {
            reason: format!("the remote signing service address \"{url}\" must be an https:// URL"),
        });
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host = if authority.starts_with('[') {
        authority.split(']').next().map(|h| &h[1..]).unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    if matches!(host, "127.0.0.1" | "localhost" | "::1") {
        Ok(())
    } else {
        Err(Error::BadKeyRef {
            reason: format!(
                "the remote signing service {url} must use https (plain http is allowed only to 127.0.0.1)"
            ),
        })
    }
}

/// `application/x-www-form-urlencoded` encoding of one value.
pub(crate) fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback() {
        assert!(check_url("https://csc.example.vn/csc/v2").is_ok());
        assert!(check_url("http://127.0.0.1:8080/csc").is_ok());
        assert!(check_url("http://[::1]:80/x").is_ok());
        assert!(check_url("http://localhost/x").is_ok());
        let e = check_url("http://csc.example.vn/csc").unwrap_err();
        assert!(e.to_string().contains("must use https"), "{e}");
        assert!(check_url("http://127.0.0.1.evil.vn/").is_err());
        assert!(check_url("ftp://x").is_err());
    }

    #[test]
    fn form_encoding() {
        assert_eq!(form_encode("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn refused_connection_is_one_clear_sentence() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/csc", l.local_addr().unwrap());
        drop(l);
        let c = HttpClient::new(&url, &RemoteOptions::default()).unwrap();
        let e = c
            .post_json(&url, None, &serde_json::json!({}), None)
            .unwrap_err();
        assert!(e.to_string().contains("cannot be reached"), "{e}");
    }
}
