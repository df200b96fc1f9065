//! Asking a certificate's OCSP responders (RFC 6960 Appendix A.1, HTTP POST) through a
//! [`Fetcher`], and checking the answer.

use super::{verify_response, CertId, OcspCheck, OcspError, OcspPolicy, OcspRequest, OcspResponse};
use crate::cert::Certificate;
use crate::fetch::{self, FetchError, Fetcher};
use hsm::HashAlgorithm;
use time::OffsetDateTime;

/// How to ask.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryOptions {
    /// CertID hash: SHA-1 by default, as RFC 5019 §2.1.1 requires every responder to accept;
    /// SHA-256 where the responder supports it.
    pub hash: HashAlgorithm,
    /// Send a nonce (RFC 8954), 32 random bytes (default: yes).
    pub nonce: bool,
    /// Responder URLs to ask instead of the certificate's authorityInfoAccess OCSP URLs.
    pub urls: Vec<String>,
}

impl Default for QueryOptions {
    fn default() -> Self {
        Self {
            hash: HashAlgorithm::Sha1,
            nonce: true,
            urls: Vec::new(),
        }
    }
}

/// Why no response could be examined at all ("could not evaluate").
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OnlineError {
    /// Neither the certificate nor the options name a responder.
    #[error("the certificate names no OCSP responder (no OCSP URL in its authorityInfoAccess)")]
    NoResponderUrl,
    /// The responder could not be reached or did not answer properly.
    #[error(transparent)]
    Fetch(FetchError),
    /// The answer is not an OCSP response.
    #[error("the answer from {url} is not a readable OCSP response")]
    Malformed {
        /// The responder URL.
        url: String,
        /// Why.
        #[source]
        source: OcspError,
    },
    /// The random nonce could not be generated.
    #[error("no random numbers are available for the OCSP nonce")]
    Random,
}

/// Asks the OCSP responders in `cert`'s authorityInfoAccess, in order, about `cert` (issued by
/// `issuer`) with a SHA-1 CertID and a nonce, and checks the answer at `at`.
///
/// This is what path validation calls for online revocation checking. The first answer that
/// checks out is returned; when none does, the last examined answer (with its problems) is
/// returned; `Err` only when no answer could be examined at all.
pub fn check_online(
    cert: &Certificate,
    issuer: &Certificate,
    fetcher: &dyn Fetcher,
    at: OffsetDateTime,
    policy: &OcspPolicy,
) -> Result<OcspCheck, OnlineError> {
    query(cert, issuer, fetcher, at, policy, &QueryOptions::default())
}

/// [`check_online`] reduced to the revocation status path validation records for CRLs and OCSP
/// alike; a responder that cannot be asked gives `Unknown` with the reason.
pub fn status_online(
    cert: &Certificate,
    issuer: &Certificate,
    fetcher: &dyn Fetcher,
    at: OffsetDateTime,
    policy: &OcspPolicy,
) -> crate::revocation::Status {
    match check_online(cert, issuer, fetcher, at, policy) {
        Ok(check) => check.revocation_status(at),
        Err(e) => crate::revocation::Status::Unknown {
            reason: fetch::error_sentence(&e),
        },
    }
}

/// Like [`check_online`], with the request options given.
pub fn query(
    cert: &Certificate,
    issuer: &Certificate,
    fetcher: &dyn Fetcher,
    at: OffsetDateTime,
    policy: &OcspPolicy,
    opts: &QueryOptions,
) -> Result<OcspCheck, OnlineError> {
    let urls: Vec<String> = if opts.urls.is_empty() {
        cert.extensions()
            .ocsp_urls
            .iter()
            .filter(|u| fetch::is_http_url(u))
            .cloned()
            .collect()
    } else {
        opts.urls.clone()
    };
    if urls.is_empty() {
        return Err(OnlineError::NoResponderUrl);
    }
    let id = CertId::for_certificate(opts.hash, cert, issuer);
    let mut last_check: Option<OcspCheck> = None;
    let mut last_err = None;
    for url in urls {
        let nonce = if opts.nonce {
            let mut n = [0u8; 32];
            aws_lc_rs::rand::fill(&mut n).map_err(|_| OnlineError::Random)?;
            Some(n)
        } else {
            None
        };
        let req = OcspRequest::build(std::slice::from_ref(&id), nonce.as_ref().map(|n| &n[..]));
        let der = match fetcher.post(
            &url,
            fetch::OCSP_REQUEST_TYPE,
            &req,
            fetch::MAX_OCSP_RESPONSE,
        ) {
            Ok(d) => d,
            Err(e) => {
                last_err = Some(OnlineError::Fetch(e));
                continue;
            }
        };
        let resp = match OcspResponse::parse(&der) {
            Ok(r) => r,
            Err(source) => {
                last_err = Some(OnlineError::Malformed { url, source });
                continue;
            }
        };
        let mut check = verify_response(
            &resp,
            issuer,
            &id,
            at,
            nonce.as_ref().map(|n| &n[..]),
            policy,
        );
        check.url = Some(url);
        check.response_der = Some(der);
        if check.problems.is_empty() {
            return Ok(check);
        }
        last_check = Some(check);
    }
    match (last_check, last_err) {
        (Some(c), _) => Ok(c),
        (None, Some(e)) => Err(e),
        (None, None) => Err(OnlineError::NoResponderUrl),
    }
}
