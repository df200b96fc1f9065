//! Revocation status from CRLs (RFC 5280 §6.3, simplified to complete CRLs) and the common
//! result type that OCSP checks also produce.

use crate::cert::Certificate;
use crate::crl::{Crl, RevocationReason};
use crate::crypto::AlgorithmPolicy;
use time::OffsetDateTime;

/// Where a revocation answer came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A CRL.
    Crl,
    /// An OCSP response.
    Ocsp,
}

impl Source {
    /// `crl` / `ocsp`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Crl => "crl",
            Self::Ocsp => "ocsp",
        }
    }
}

/// The revocation status of one certificate at the validation time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Not revoked, according to `source`.
    Good {
        /// Source.
        source: Source,
    },
    /// Revoked.
    Revoked {
        /// Revocation time.
        at: OffsetDateTime,
        /// Reason.
        reason: Option<RevocationReason>,
        /// Source.
        source: Source,
    },
    /// No usable answer.
    Unknown {
        /// Why (one sentence).
        reason: String,
    },
}

/// The revocation data an online check relied on, kept to embed as long-term evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Evidence {
    /// A DER OCSP response.
    Ocsp(Vec<u8>),
    /// A DER CRL.
    Crl(Vec<u8>),
}

/// Online revocation status of `cert`: OCSP from its authorityInfoAccess when it names a
/// responder (RFC 6960), else (or when no OCSP answer can be relied on) the CRLs from its
/// distribution points (RFC 5280 §4.2.1.13). Returns the status and, when it is good or
/// revoked, the response or CRL it rests on.
pub fn online_status(
    cert: &Certificate,
    issuer: &Certificate,
    fetcher: &dyn crate::fetch::Fetcher,
    at: OffsetDateTime,
    policy: &AlgorithmPolicy,
) -> (Status, Option<Evidence>) {
    let mut reasons = Vec::new();
    if !cert.extensions().ocsp_urls.is_empty() {
        let ocsp_policy = crate::ocsp::OcspPolicy {
            algorithms: policy.clone(),
            ..crate::ocsp::OcspPolicy::default()
        };
        match crate::ocsp::check_online(cert, issuer, fetcher, at, &ocsp_policy) {
            Ok(check) => match check.revocation_status(at) {
                Status::Unknown { reason } => reasons.push(reason),
                s => return (s, check.response_der.map(Evidence::Ocsp)),
            },
            Err(e) => reasons.push(crate::fetch::error_sentence(&e)),
        }
    }
    for url in &cert.extensions().crl_urls {
        match fetcher.get(url, crate::fetch::MAX_CRL) {
            Ok(data) => match Crl::parse(&data) {
                Ok(crl) => match check_crls(cert, issuer, std::slice::from_ref(&crl), at, policy) {
                    Status::Unknown { reason } => reasons.push(reason),
                    s => return (s, Some(Evidence::Crl(crl.der().to_vec()))),
                },
                Err(e) => reasons.push(format!("the CRL at {url} is unreadable: {e}")),
            },
            Err(e) => reasons.push(crate::fetch::error_sentence(&e)),
        }
    }
    let reason = if reasons.is_empty() {
        "the certificate names no OCSP responder or CRL to ask".to_string()
    } else {
        reasons.join("; ")
    };
    (Status::Unknown { reason }, None)
}

/// Revocation status of `cert` (issued by `issuer`) at `signed_at` from data a signature carries
/// (a PDF's DSS, CMS revocation values, XAdES RevocationValues), without the network. Each
/// item is judged at the later of `signed_at` and its own issue time, so a response or CRL
/// fetched just after signing (as B-LT does) counts; a revocation after `signed_at` comes back
/// as `Revoked` with its time, for the caller to weigh against the signing time.
pub fn embedded_status(
    cert: &Certificate,
    issuer: &Certificate,
    ocsp_responses: &[Vec<u8>],
    crls: &[Vec<u8>],
    signed_at: OffsetDateTime,
    policy: &AlgorithmPolicy,
) -> (Status, Option<Evidence>) {
    let mut reasons = Vec::new();
    let ocsp_policy = crate::ocsp::OcspPolicy {
        algorithms: policy.clone(),
        ..crate::ocsp::OcspPolicy::default()
    };
    for der in ocsp_responses {
        let Ok(resp) = crate::ocsp::OcspResponse::parse(der) else {
            continue;
        };
        let Some(basic) = &resp.basic else { continue };
        let id = crate::ocsp::CertId::for_certificate(hsm::HashAlgorithm::Sha1, cert, issuer);
        if !basic
            .responses
            .iter()
            .any(|s| s.cert_id.same_certificate(&id, issuer))
        {
            continue;
        }
        let at = signed_at.max(basic.produced_at);
        let check = crate::ocsp::verify_response(&resp, issuer, &id, at, None, &ocsp_policy);
        match check.revocation_status(at) {
            Status::Unknown { reason } => reasons.push(reason),
            s => return (s, Some(Evidence::Ocsp(der.clone()))),
        }
    }
    for der in crls {
        let Ok(crl) = Crl::parse(der) else { continue };
        if crl.issuer().match_key() != issuer.subject_key() {
            continue;
        }
        let at = signed_at.max(crl.this_update());
        match check_crls(cert, issuer, std::slice::from_ref(&crl), at, policy) {
            Status::Unknown { reason } => reasons.push(reason),
            s => return (s, Some(Evidence::Crl(der.clone()))),
        }
    }
    let reason = if reasons.is_empty() {
        "the signature carries no revocation data for the certificate".to_string()
    } else {
        reasons.join("; ")
    };
    (Status::Unknown { reason }, None)
}

/// Checks `cert` (issued by `issuer`) against the CRLs given, at `at`. A CRL is used only if
/// it was issued by `issuer` (signature and names checked), is a complete CRL, has no unknown
/// critical extension, and is current at `at`.
pub fn check_crls(
    cert: &Certificate,
    issuer: &Certificate,
    crls: &[Crl],
    at: OffsetDateTime,
    policy: &AlgorithmPolicy,
) -> Status {
    let mut why = Vec::new();
    for crl in crls {
        if crl.issuer().match_key() != issuer.subject_key() {
            continue;
        }
        if let Err(e) = crl.verify_issuer(issuer, policy) {
            why.push(format!(
                "a CRL from \"{}\" is not usable: {e}",
                crl.issuer()
            ));
            continue;
        }
        if crl.is_delta() || !crl.unknown_critical().is_empty() {
            why.push(
                "a CRL uses extensions that are not supported (delta or unknown critical)".into(),
            );
            continue;
        }
        if let Some(entry) = crl.lookup(cert.serial()) {
            if entry.revoked_at <= at || entry.reason == Some(RevocationReason::KeyCompromise) {
                return Status::Revoked {
                    at: entry.revoked_at,
                    reason: entry.reason,
                    source: Source::Crl,
                };
            }
        }
        if !crl.is_fresh(at, time::Duration::minutes(5)) {
            why.push(format!(
                "the CRL from \"{}\" is not current at the validation time (next update {})",
                crl.issuer(),
                crl.next_update()
                    .map(crate::time::vietnam)
                    .unwrap_or_default()
            ));
            continue;
        }
        return Status::Good {
            source: Source::Crl,
        };
    }
    Status::Unknown {
        reason: why
            .pop()
            .unwrap_or_else(|| format!("no CRL from \"{}\" was available", issuer.subject())),
    }
}
