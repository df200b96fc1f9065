//! Fetching over the network, as a trait the binaries implement: `pki-core` does no I/O.
//!
//! Used for OCSP (RFC 6960 Appendix A.1: HTTP POST of `application/ocsp-request`), CRLs and
//! caIssuers certificates (RFC 5280 §4.2.1.13 and §4.2.2.1: HTTP GET). Every call carries a size
//! cap; implementations also enforce a total timeout, so a hanging server gives an error, never a
//! hang.

use std::time::Duration;

/// Largest OCSP response accepted (real ones are a few KiB).
pub const MAX_OCSP_RESPONSE: u64 = 1024 * 1024;
/// Largest CRL accepted (national CAs publish CRLs of tens of MiB).
pub const MAX_CRL: u64 = 64 * 1024 * 1024;
/// Largest certificate or certificate bundle fetched from a caIssuers URL.
pub const MAX_CERTIFICATE: u64 = 1024 * 1024;

/// MIME type of an OCSP request (RFC 6960 Appendix C.1).
pub const OCSP_REQUEST_TYPE: &str = "application/ocsp-request";
/// MIME type of an OCSP response (RFC 6960 Appendix C.2).
pub const OCSP_RESPONSE_TYPE: &str = "application/ocsp-response";

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The URL is not http or https, or cannot be parsed.
    #[error("{url} is not an http:// or https:// URL")]
    UnsupportedUrl {
        /// The URL.
        url: String,
    },
    /// No connection could be made (name resolution, refused, reset, TLS).
    #[error("cannot reach {url}")]
    Unreachable {
        /// The URL.
        url: String,
        /// What the transport said.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The server did not answer within the time allowed.
    #[error("{url} did not answer in time (limit {} s)", .after.as_secs_f32())]
    Timeout {
        /// The URL.
        url: String,
        /// The time allowed.
        after: Duration,
    },
    /// The answer is larger than the cap for this kind of resource.
    #[error("the answer from {url} is larger than {limit} bytes")]
    TooLarge {
        /// The URL.
        url: String,
        /// The cap.
        limit: u64,
    },
    /// The server answered with an HTTP error status.
    #[error("{url} answered with HTTP status {status}")]
    HttpStatus {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
}

/// HTTP GET and POST with a size cap, implemented by the binaries (the CLI with ureq; tests with
/// canned answers).
pub trait Fetcher: Send + Sync {
    /// GETs `url`; fails with [`FetchError::TooLarge`] when the body exceeds `max_len` bytes.
    fn get(&self, url: &str, max_len: u64) -> Result<Vec<u8>, FetchError>;

    /// POSTs `body` as `content_type` to `url`; same cap as [`Fetcher::get`].
    fn post(
        &self,
        url: &str,
        content_type: &str,
        body: &[u8],
        max_len: u64,
    ) -> Result<Vec<u8>, FetchError>;
}

impl<T: Fetcher + ?Sized> Fetcher for &T {
    fn get(&self, url: &str, max_len: u64) -> Result<Vec<u8>, FetchError> {
        (**self).get(url, max_len)
    }
    fn post(
        &self,
        url: &str,
        content_type: &str,
        body: &[u8],
        max_len: u64,
    ) -> Result<Vec<u8>, FetchError> {
        (**self).post(url, content_type, body, max_len)
    }
}

/// Whether `url` is an `http://` or `https://` URL (the only schemes fetched).
pub fn is_http_url(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    (lower.starts_with("http://") && url.len() > 7)
        || (lower.starts_with("https://") && url.len() > 8)
}

/// An error and its causes as one sentence ("cannot reach URL: connection refused").
pub fn error_sentence(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_urls() {
        assert!(is_http_url("http://ocsp.example.vn"));
        assert!(is_http_url("HTTPS://ocsp.example.vn/x"));
        assert!(!is_http_url("ldap://x/cn=ca"));
        assert!(!is_http_url("file:///etc/passwd"));
        assert!(!is_http_url("http://"));
    }
}
