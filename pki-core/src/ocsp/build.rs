//! Building responses (RFC 6960 §4.2.1): a BasicOCSPResponse signed by the responder's key,
//! identified by key hash, with the responder certificate included; and the unsigned error
//! responses of §2.3.

use super::response::ResponseStatus;
use super::{extension_der, generalized_time, CertId, CertStatus};
use crate::asn1::{self, tag};
use crate::cert::Certificate;
use crate::oid;
use der::Encode;
use hsm::{HashAlgorithm, Signer};
use time::OffsetDateTime;

/// Why a response could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The signing key is not the responder certificate's.
    #[error("the responder key does not belong to the responder certificate \"{subject}\"")]
    KeyMismatch {
        /// The certificate's subject.
        subject: String,
    },
    /// The key offers no algorithm.
    #[error("the responder key offers no signature algorithm")]
    NoAlgorithm,
    /// The signer failed.
    #[error("the responder key could not sign")]
    Signing(#[source] hsm::Error),
}

/// The status of one certificate, as the responder states it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SingleStatus {
    /// Which certificate (echoed from the request).
    pub cert_id: CertId,
    /// Its status.
    pub status: CertStatus,
    /// thisUpdate.
    pub this_update: OffsetDateTime,
    /// nextUpdate (omit to say "newer information is always available").
    pub next_update: Option<OffsetDateTime>,
}

/// An unsigned error response (`malformedRequest`, `internalError`, `tryLater`, `sigRequired`,
/// `unauthorized`); `Successful` gives a malformed message and must not be passed.
pub fn error_response(status: ResponseStatus) -> Vec<u8> {
    asn1::tlv(tag::SEQUENCE, &asn1::tlv(tag::ENUMERATED, &[status.code()]))
}

/// Builds a successful response with `statuses`, signed by `signer` whose certificate is
/// `responder_cert` (the CA itself or a delegated responder). `nonce` is the request's nonce
/// extension value, echoed verbatim ([`super::OcspRequest::nonce`]).
pub fn build_response(
    statuses: &[SingleStatus],
    responder_cert: &Certificate,
    signer: &dyn Signer,
    produced_at: OffsetDateTime,
    nonce: Option<&[u8]>,
) -> Result<Vec<u8>, BuildError> {
    if signer.public_key_der() != responder_cert.spki() {
        return Err(BuildError::KeyMismatch {
            subject: responder_cert.subject().to_string(),
        });
    }
    let alg = *signer.algorithms().first().ok_or(BuildError::NoAlgorithm)?;

    let mut list = Vec::new();
    for s in statuses {
        let mut body = s.cert_id.to_der();
        body.extend(match s.status {
            CertStatus::Good => vec![tag::ctx_prim(0), 0],
            CertStatus::Unknown => vec![tag::ctx_prim(2), 0],
            CertStatus::Revoked { time, reason } => {
                let mut r = generalized_time(time);
                if let Some(reason) = reason {
                    r.extend(asn1::tlv(
                        tag::ctx(0),
                        &asn1::tlv(tag::ENUMERATED, &[reason as u8]),
                    ));
                }
                asn1::tlv(tag::ctx(1), &r)
            }
        });
        body.extend(generalized_time(s.this_update));
        if let Some(n) = s.next_update {
            body.extend(asn1::tlv(tag::ctx(0), &generalized_time(n)));
        }
        list.extend(asn1::tlv(tag::SEQUENCE, &body));
    }

    let key_hash = HashAlgorithm::Sha1.digest(responder_cert.public_key_bits());
    let mut tbs = asn1::tlv(tag::ctx(2), &asn1::tlv(tag::OCTET_STRING, &key_hash));
    tbs.extend(generalized_time(produced_at));
    tbs.extend(asn1::tlv(tag::SEQUENCE, &list));
    if let Some(n) = nonce {
        let ext = extension_der(oid::EXT_OCSP_NONCE, false, n);
        tbs.extend(asn1::tlv(tag::ctx(1), &asn1::tlv(tag::SEQUENCE, &ext)));
    }
    let tbs = asn1::tlv(tag::SEQUENCE, &tbs);

    let signature = signer.sign(alg, &tbs).map_err(BuildError::Signing)?;
    let alg_der = alg
        .algorithm_identifier()
        .to_der()
        .map_err(|_| BuildError::NoAlgorithm)?;
    let mut bits = vec![0u8];
    bits.extend_from_slice(&signature);
    let mut basic = tbs;
    basic.extend(alg_der);
    basic.extend(asn1::tlv(tag::BIT_STRING, &bits));
    basic.extend(asn1::tlv(
        tag::ctx(0),
        &asn1::tlv(tag::SEQUENCE, responder_cert.der()),
    ));
    let basic = asn1::tlv(tag::SEQUENCE, &basic);

    let mut rb = asn1::tlv(tag::OID, oid::OCSP_BASIC.as_bytes());
    rb.extend(asn1::tlv(tag::OCTET_STRING, &basic));
    let mut resp = asn1::tlv(tag::ENUMERATED, &[ResponseStatus::Successful.code()]);
    resp.extend(asn1::tlv(tag::ctx(0), &asn1::tlv(tag::SEQUENCE, &rb)));
    Ok(asn1::tlv(tag::SEQUENCE, &resp))
}
