//! Network fetching (OCSP, CRL, AIA, TSA) for the CLI: only http/https, a total timeout and a
//! size cap on every request, so an unreachable, hanging or hostile server gives a clear error
//! quickly.

use pki_core::cert::Certificate;
use pki_core::crl::Crl;
use pki_core::crypto::AlgorithmPolicy;
use pki_core::revocation::{self, Status};
use std::time::Duration;

/// Largest CRL we download.
pub const MAX_CRL: u64 = 64 * 1024 * 1024;

/// A failed fetch, as one sentence.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FetchError(pub String);

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into()
}

/// The request timeout: `PKI_HTTP_TIMEOUT` seconds, default 10.
pub fn timeout() -> Duration {
    std::env::var("PKI_HTTP_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .map(Duration::from_secs_f64)
        .unwrap_or(Duration::from_secs(10))
}

fn check_url(url: &str) -> Result<(), FetchError> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(FetchError(format!("{url} is not an http or https URL")))
    }
}

fn describe(url: &str, e: ureq::Error) -> FetchError {
    let why = match &e {
        ureq::Error::Timeout(_) => "the server did not answer in time".to_string(),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "the connection was refused".to_string()
        }
        ureq::Error::HostNotFound => "the host name could not be resolved".to_string(),
        ureq::Error::BodyExceedsLimit(n) => format!("the answer is larger than {n} bytes"),
        other => other.to_string(),
    };
    FetchError(format!("cannot reach {url}: {why}"))
}

/// GET `url`, at most `limit` bytes.
pub fn get(url: &str, limit: u64) -> Result<Vec<u8>, FetchError> {
    check_url(url)?;
    let mut resp = agent(timeout())
        .get(url)
        .call()
        .map_err(|e| describe(url, e))?;
    if !resp.status().is_success() {
        return Err(FetchError(format!("{url} answered HTTP {}", resp.status())));
    }
    resp.body_mut()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(|e| describe(url, e))
}

/// Online revocation status of `cert`: OCSP from its AIA when present, else the CRL from its
/// distribution points.
pub fn online_revocation(
    cert: &Certificate,
    issuer: &Certificate,
    at: time::OffsetDateTime,
    policy: &AlgorithmPolicy,
) -> Status {
    let mut reasons = Vec::new();
    for url in &cert.extensions().crl_urls {
        match get(url, MAX_CRL) {
            Ok(data) => match Crl::parse(&data) {
                Ok(crl) => {
                    let s = revocation::check_crls(cert, issuer, &[crl], at, policy);
                    if !matches!(s, Status::Unknown { .. }) {
                        return s;
                    }
                    if let Status::Unknown { reason } = s {
                        reasons.push(reason);
                    }
                }
                Err(e) => reasons.push(format!("the CRL at {url} is unreadable: {e}")),
            },
            Err(e) => reasons.push(e.0),
        }
    }
    Status::Unknown {
        reason: reasons
            .pop()
            .unwrap_or_else(|| "the certificate names no OCSP responder or CRL to ask".to_string()),
    }
}
