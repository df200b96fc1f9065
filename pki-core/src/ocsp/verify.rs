//! Checking an OCSP response (RFC 6960 §3.2 and §4.2.2): which certificate it is about, who
//! signed it and whether that responder was authorised (§4.2.2.2), the signature, the nonce
//! (RFC 8954) and freshness (§4.2.2.1, §4.4.1 of RFC 5019's profile).
//!
//! The result is data: an [`OcspCheck`] with the status found and the problems seen. A response
//! with any problem is never taken as good or revoked: [`OcspCheck::outcome`] is then
//! [`OcspOutcome::Unverifiable`].

use super::response::{OcspResponse, ResponseStatus, SingleResponse};
use super::{CertId, CertStatus, OcspError, RevocationReason};
use crate::cert::Certificate;
use crate::crypto::{self, AlgorithmPolicy, VerifyError};
use crate::oid;
use crate::time::rfc3339_utc;
use time::{Duration, OffsetDateTime};

/// What is accepted when checking a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OcspPolicy {
    /// Algorithms and key sizes for the response signature and the responder certificate.
    pub algorithms: AlgorithmPolicy,
    /// Clock difference tolerated between us and the responder (default 5 minutes): thisUpdate
    /// and producedAt may be this far in the future, nextUpdate this far in the past.
    pub clock_skew: Duration,
    /// When a response has no nextUpdate (RFC 6960 §4.2.2.1: "newer revocation information is
    /// available all the time"), the status is accepted while thisUpdate is at most this old
    /// (default 7 days, the longest interval at which CAs must refresh OCSP under the CA/Browser
    /// Forum baseline requirements §4.9.10).
    pub max_age_without_next_update: Duration,
}

impl Default for OcspPolicy {
    fn default() -> Self {
        Self {
            algorithms: AlgorithmPolicy::default(),
            clock_skew: Duration::minutes(5),
            max_age_without_next_update: Duration::days(7),
        }
    }
}

/// Who signed the response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Responder {
    /// The CA that issued the certificate, with its own key.
    Ca(Certificate),
    /// A delegated responder: a certificate issued directly by that CA for OCSP signing.
    Delegated(Certificate),
}

impl Responder {
    /// The responder's certificate.
    pub fn certificate(&self) -> &Certificate {
        match self {
            Self::Ca(c) | Self::Delegated(c) => c,
        }
    }
}

/// How the nonce compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceCheck {
    /// No nonce was sent.
    NotSent,
    /// The response echoes the nonce sent.
    Matched,
    /// A nonce was sent, the response has none (allowed for pre-produced responses, RFC 5019
    /// §2.2.1; reported as a warning).
    Missing,
    /// The response has a different nonce: a replayed or misdirected response.
    Mismatch,
}

/// Why a response cannot be relied on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OcspProblem {
    /// The response could not be read.
    #[error("the OCSP response is malformed: {0}")]
    Malformed(OcspError),
    /// The responder answered with an error status.
    #[error("the responder answered \"{0}\" instead of a status")]
    NotSuccessful(ResponseStatus),
    /// The CertID asked about does not name the issuer given.
    #[error("the CertID does not name the issuer certificate given")]
    CertIdNotForIssuer,
    /// No SingleResponse is about the certificate asked about.
    #[error("the response has no status for certificate serial {serial}")]
    NoMatchingResponse {
        /// The serial asked about.
        serial: String,
    },
    /// The responder ID names neither the CA nor a certificate in the response.
    #[error("the responder's certificate is not in the response and is not the CA's")]
    ResponderNotFound,
    /// A delegated responder's certificate was not issued by the certificate's CA.
    #[error("the responder certificate \"{subject}\" was not issued by the certificate's CA")]
    ResponderNotIssuedByCa {
        /// Responder certificate subject.
        subject: String,
    },
    /// A delegated responder's certificate lacks id-kp-OCSPSigning.
    #[error(
        "the responder certificate \"{subject}\" is not authorised to sign OCSP responses (no id-kp-OCSPSigning)"
    )]
    ResponderNotAuthorised {
        /// Responder certificate subject.
        subject: String,
    },
    /// A delegated responder's certificate was not valid when the response was produced.
    #[error(
        "the responder certificate \"{subject}\" was not valid when the response was produced ({}; valid {} to {})",
        rfc3339_utc(*.produced_at), rfc3339_utc(*.not_before), rfc3339_utc(*.not_after)
    )]
    ResponderCertNotValid {
        /// Responder certificate subject.
        subject: String,
        /// producedAt.
        produced_at: OffsetDateTime,
        /// notBefore.
        not_before: OffsetDateTime,
        /// notAfter.
        not_after: OffsetDateTime,
    },
    /// The signature over tbsResponseData does not verify (or its algorithm is refused).
    #[error("the response signature is not valid: {0}")]
    Signature(VerifyError),
    /// The nonce in the response is not the one sent.
    #[error("the response's nonce is not the one sent in the request (a replayed response?)")]
    NonceMismatch,
    /// thisUpdate (or producedAt) is in the future.
    #[error("the status is not yet valid: thisUpdate {} is after the validation time {}", rfc3339_utc(*.this_update), rfc3339_utc(*.at))]
    NotYetValid {
        /// thisUpdate or producedAt.
        this_update: OffsetDateTime,
        /// The validation time.
        at: OffsetDateTime,
    },
    /// nextUpdate has passed.
    #[error("the status has expired: nextUpdate {} is before the validation time {}", rfc3339_utc(*.next_update), rfc3339_utc(*.at))]
    Expired {
        /// nextUpdate.
        next_update: OffsetDateTime,
        /// The validation time.
        at: OffsetDateTime,
    },
    /// No nextUpdate and thisUpdate is too old.
    #[error("the status is too old: thisUpdate {} is more than {} days before the validation time {}", rfc3339_utc(*.this_update), .max_age.whole_days(), rfc3339_utc(*.at))]
    TooOld {
        /// thisUpdate.
        this_update: OffsetDateTime,
        /// The maximum age.
        max_age: Duration,
        /// The validation time.
        at: OffsetDateTime,
    },
    /// A critical extension we do not process.
    #[error("the response has a critical extension {0} that is not understood")]
    UnknownCriticalExtension(String),
}

impl OcspProblem {
    /// Whether this is only about time (not yet valid, expired, too old): a caller validating at
    /// a past time with a response obtained later (ETSI EN 319 102-1 long-term validation) may
    /// apply its own freshness rule instead.
    pub fn is_freshness(&self) -> bool {
        matches!(
            self,
            Self::NotYetValid { .. } | Self::Expired { .. } | Self::TooOld { .. }
        )
    }
}

/// The result of checking a response.
#[derive(Clone, Debug)]
pub struct OcspCheck {
    /// The status the response states for the certificate, when a matching entry was found.
    pub status: Option<CertStatus>,
    /// Who signed the response, when identified and authorised.
    pub responder: Option<Responder>,
    /// producedAt.
    pub produced_at: Option<OffsetDateTime>,
    /// thisUpdate of the matching entry.
    pub this_update: Option<OffsetDateTime>,
    /// nextUpdate of the matching entry.
    pub next_update: Option<OffsetDateTime>,
    /// Whether the signature verified with the responder's key.
    pub signature_valid: bool,
    /// The nonce comparison.
    pub nonce: NonceCheck,
    /// Why the response cannot be relied on (empty when it can).
    pub problems: Vec<OcspProblem>,
    /// Things worth knowing that do not invalidate the response (weak algorithms, no nonce).
    pub warnings: Vec<String>,
    /// The responder URL the response came from, when fetched.
    pub url: Option<String>,
    /// The response as received, when fetched (to embed as long-term evidence: PAdES DSS,
    /// XAdES RevocationValues).
    pub response_der: Option<Vec<u8>>,
}

/// The verdict of a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OcspOutcome {
    /// A verified response says good.
    Good,
    /// A verified response says revoked.
    Revoked {
        /// revocationTime.
        time: OffsetDateTime,
        /// revocationReason.
        reason: Option<RevocationReason>,
    },
    /// A verified response says unknown.
    Unknown,
    /// The response cannot be relied on (see the problems).
    Unverifiable,
}

impl OcspCheck {
    fn new(nonce: NonceCheck) -> Self {
        Self {
            status: None,
            responder: None,
            produced_at: None,
            this_update: None,
            next_update: None,
            signature_valid: false,
            nonce,
            problems: Vec::new(),
            warnings: Vec::new(),
            url: None,
            response_der: None,
        }
    }

    /// A check that failed before any response could be examined.
    pub fn failed(problem: OcspProblem) -> Self {
        let mut c = Self::new(NonceCheck::NotSent);
        c.problems.push(problem);
        c
    }

    /// The answer in the form path validation uses for CRLs and OCSP alike: good, revoked (when
    /// revoked at or before `at`, or for key compromise at any time, as for CRLs), or unknown
    /// with the first reason.
    pub fn revocation_status(&self, at: OffsetDateTime) -> crate::revocation::Status {
        use crate::revocation::{Source, Status};
        match self.outcome() {
            OcspOutcome::Good => Status::Good {
                source: Source::Ocsp,
            },
            OcspOutcome::Revoked { time, reason }
                if time <= at || reason == Some(RevocationReason::KeyCompromise) =>
            {
                Status::Revoked {
                    at: time,
                    reason,
                    source: Source::Ocsp,
                }
            }
            OcspOutcome::Revoked { .. } => Status::Good {
                source: Source::Ocsp,
            },
            OcspOutcome::Unknown => Status::Unknown {
                reason: "the OCSP responder does not know the certificate".into(),
            },
            OcspOutcome::Unverifiable => Status::Unknown {
                reason: match self.problems.first() {
                    Some(p) => format!("the OCSP response cannot be relied on: {p}"),
                    None => "the OCSP response cannot be relied on".into(),
                },
            },
        }
    }

    /// The verdict: the status when nothing is wrong, else unverifiable.
    pub fn outcome(&self) -> OcspOutcome {
        if !self.problems.is_empty() || !self.signature_valid || self.responder.is_none() {
            return OcspOutcome::Unverifiable;
        }
        match self.status {
            Some(CertStatus::Good) => OcspOutcome::Good,
            Some(CertStatus::Revoked { time, reason }) => OcspOutcome::Revoked { time, reason },
            Some(CertStatus::Unknown) => OcspOutcome::Unknown,
            None => OcspOutcome::Unverifiable,
        }
    }
}

/// Checks `resp` as the answer about `cert_id` (a certificate issued by `issuer`) at time `at`.
///
/// `expected_nonce` is the nonce sent in the request (the raw bytes given to
/// [`super::OcspRequest::build`]); a different nonce in the response is a problem, a missing one a
/// warning. Every check is made and reported, even after a first problem.
pub fn verify_response(
    resp: &OcspResponse,
    issuer: &Certificate,
    cert_id: &CertId,
    at: OffsetDateTime,
    expected_nonce: Option<&[u8]>,
    policy: &OcspPolicy,
) -> OcspCheck {
    let mut check = OcspCheck::new(if expected_nonce.is_some() {
        NonceCheck::Missing
    } else {
        NonceCheck::NotSent
    });
    let basic = match (&resp.status, &resp.basic) {
        (ResponseStatus::Successful, Some(b)) => b,
        (s, _) => {
            check.problems.push(OcspProblem::NotSuccessful(*s));
            return check;
        }
    };
    check.produced_at = Some(basic.produced_at);

    // The response must be about the certificate asked about, by the CA that issued it.
    if !cert_id.names_issuer(issuer) {
        check.problems.push(OcspProblem::CertIdNotForIssuer);
    }
    let single: Option<&SingleResponse> = basic
        .responses
        .iter()
        .find(|s| s.cert_id == *cert_id)
        .or_else(|| {
            basic
                .responses
                .iter()
                .find(|s| s.cert_id.same_certificate(cert_id, issuer))
        });
    match single {
        Some(s) => {
            check.status = Some(s.status);
            check.this_update = Some(s.this_update);
            check.next_update = s.next_update;
            for x in &s.extensions {
                if x.critical {
                    check
                        .problems
                        .push(OcspProblem::UnknownCriticalExtension(x.oid.to_string()));
                }
            }
        }
        None => check.problems.push(OcspProblem::NoMatchingResponse {
            serial: cert_id.serial_hex(),
        }),
    }
    for x in &basic.extensions {
        if x.critical && x.oid != oid::EXT_OCSP_NONCE {
            check
                .problems
                .push(OcspProblem::UnknownCriticalExtension(x.oid.to_string()));
        }
    }

    // Who signed, and were they allowed to (RFC 6960 §4.2.2.2)?
    let candidate = std::iter::once(issuer)
        .chain(basic.certs.iter())
        .find(|c| basic.responder_id.names(c));
    match candidate {
        None => check.problems.push(OcspProblem::ResponderNotFound),
        Some(c) if c.spki() == issuer.spki() => {
            check.responder = Some(Responder::Ca(issuer.clone()));
        }
        Some(c) => {
            if authorise_delegate(c, issuer, basic.produced_at, policy, &mut check) {
                check.responder = Some(Responder::Delegated(c.clone()));
            }
        }
    }
    // The signature, by whichever certificate the responder ID names.
    if let Some(c) = candidate {
        match crypto::verify(
            &basic.signature_algorithm,
            c.spki(),
            &basic.tbs,
            &basic.signature,
            &policy.algorithms,
        ) {
            Ok(notes) => {
                check.signature_valid = true;
                check.warnings.extend(notes.weak);
            }
            Err(e) => check.problems.push(OcspProblem::Signature(e)),
        }
    }

    // Nonce (RFC 8954).
    if let Some(sent) = expected_nonce {
        check.nonce = match basic.nonce() {
            None => {
                check.warnings.push(
                    "the response has no nonce, so it may have been produced before the request"
                        .into(),
                );
                NonceCheck::Missing
            }
            Some(v) if v == super::nonce_extension_value(sent).as_slice() || v == sent => {
                NonceCheck::Matched
            }
            Some(_) => {
                check.problems.push(OcspProblem::NonceMismatch);
                NonceCheck::Mismatch
            }
        };
    }

    // Freshness.
    let skew = policy.clock_skew;
    if basic.produced_at > at + skew {
        check.problems.push(OcspProblem::NotYetValid {
            this_update: basic.produced_at,
            at,
        });
    }
    if let Some(s) = single {
        if s.this_update > at + skew && basic.produced_at <= at + skew {
            check.problems.push(OcspProblem::NotYetValid {
                this_update: s.this_update,
                at,
            });
        }
        match s.next_update {
            Some(n) if n + skew < at => check
                .problems
                .push(OcspProblem::Expired { next_update: n, at }),
            Some(_) => {}
            None if at - s.this_update > policy.max_age_without_next_update => {
                check.problems.push(OcspProblem::TooOld {
                    this_update: s.this_update,
                    max_age: policy.max_age_without_next_update,
                    at,
                })
            }
            None => {}
        }
    }
    check
}

/// Checks a stored DER response (one embedded in a signature or saved earlier) about `cert`,
/// issued by `issuer`, at `at`: like [`verify_response`], with no nonce, and a response that
/// cannot be read reported as [`OcspProblem::Malformed`].
pub fn check_response_der(
    der: &[u8],
    cert: &Certificate,
    issuer: &Certificate,
    at: OffsetDateTime,
    policy: &OcspPolicy,
) -> OcspCheck {
    match OcspResponse::parse(der) {
        Ok(resp) => {
            // The CertID hash does not matter: entries hashed otherwise are matched too.
            let id = CertId::for_certificate(hsm::HashAlgorithm::Sha1, cert, issuer);
            verify_response(&resp, issuer, &id, at, None, policy)
        }
        Err(e) => OcspCheck::failed(OcspProblem::Malformed(e)),
    }
}

/// RFC 6960 §4.2.2.2: a delegated responder's certificate is issued directly by the CA, carries
/// id-kp-OCSPSigning and was valid when the response was produced.
fn authorise_delegate(
    c: &Certificate,
    issuer: &Certificate,
    produced_at: OffsetDateTime,
    policy: &OcspPolicy,
    check: &mut OcspCheck,
) -> bool {
    let subject = c.subject().to_string();
    let issued = c.issuer_key() == issuer.subject_key()
        && crypto::verify(
            c.signature_algorithm(),
            issuer.spki(),
            c.tbs(),
            c.signature(),
            &policy.algorithms,
        )
        .is_ok();
    if !issued {
        check
            .problems
            .push(OcspProblem::ResponderNotIssuedByCa { subject });
        return false;
    }
    let mut ok = true;
    let eku = c.extensions().ext_key_usage.as_deref().unwrap_or(&[]);
    if !eku.contains(&oid::EKU_OCSP_SIGNING) {
        check.problems.push(OcspProblem::ResponderNotAuthorised {
            subject: subject.clone(),
        });
        ok = false;
    }
    if !c.valid_at(produced_at) {
        check.problems.push(OcspProblem::ResponderCertNotValid {
            subject: subject.clone(),
            produced_at,
            not_before: c.not_before(),
            not_after: c.not_after(),
        });
        ok = false;
    }
    if let Some(ku) = c.extensions().key_usage {
        if !ku.has(crate::cert::KeyUsage::DIGITAL_SIGNATURE)
            && !ku.has(crate::cert::KeyUsage::NON_REPUDIATION)
        {
            check.warnings.push(format!(
                "the responder certificate \"{subject}\" has a key usage without digitalSignature"
            ));
        }
    }
    if !c.extensions().ocsp_nocheck {
        check.warnings.push(format!(
            "the responder certificate \"{subject}\" has no id-pkix-ocsp-nocheck, and its own revocation status was not checked"
        ));
    }
    ok
}
