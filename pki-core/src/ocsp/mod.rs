//! OCSP, the Online Certificate Status Protocol (RFC 6960).
//!
//! - [`CertId`]: which certificate a request or response is about (RFC 6960 §4.1.1), with SHA-1
//!   or SHA-256 hashes of the issuer's name and key.
//! - [`OcspRequest`]: unsigned requests with an optional nonce (RFC 6960 §4.1, RFC 8954), built by
//!   clients and parsed by the responder.
//! - [`OcspResponse`]: responses (RFC 6960 §4.2.1), parsed over their exact bytes.
//! - [`verify_response`]: checks a response as data (signature, responder authorisation of
//!   RFC 6960 §4.2.2.2, CertID, nonce, freshness of §4.2.2.1 and §4.4.1) and returns an
//!   [`OcspCheck`]; a response that fails is a report with problems, not an `Err`.
//! - [`build_response`] and [`error_response`]: what a responder sends (RFC 6960 §4.2.1, §2.3).
//! - [`check_response_der`]: the same checks on a stored response (one embedded in a signature).
//! - [`check_online`] / [`status_online`] / [`query`]: ask the responders named in a
//!   certificate's authorityInfoAccess (RFC 5280 §4.2.2.1) through a [`crate::fetch::Fetcher`].
//! - [`CaIndex`] and [`answer`]: a responder that answers from an OpenSSL-style `index.txt`.

mod build;
mod index;
mod online;
mod request;
mod response;
mod verify;

pub use build::{build_response, error_response, BuildError, SingleStatus};
pub use index::{answer, Answer, CaIndex, IndexEntry, IndexError, IndexStatus, MAX_REQUEST_LEN};
pub use online::{check_online, query, status_online, OnlineError, QueryOptions};
pub use request::OcspRequest;
pub use response::{
    BasicResponse, Extension, OcspResponse, ResponderId, ResponseStatus, SingleResponse,
};
pub use verify::{
    check_response_der, verify_response, NonceCheck, OcspCheck, OcspOutcome, OcspPolicy,
    OcspProblem, Responder,
};

use crate::asn1::{self, tag, Reader, Tlv};
use crate::cert::Certificate;
pub use crate::crl::RevocationReason;
use hsm::HashAlgorithm;
use time::OffsetDateTime;

/// An OCSP message that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OcspError {
    /// Malformed DER or a structure that is not what RFC 6960 §4 says.
    #[error("malformed OCSP {what} at byte {offset}: {reason}")]
    Malformed {
        /// "request" or "response".
        what: &'static str,
        /// Byte offset in the message.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// A response type other than id-pkix-ocsp-basic.
    #[error("the OCSP response type {0} is not supported (only id-pkix-ocsp-basic is)")]
    UnsupportedResponseType(String),
    /// A CertID hashed with an algorithm we do not know.
    #[error("the CertID hash algorithm {oid} at byte {offset} is not supported")]
    UnsupportedHash {
        /// The algorithm's OID.
        oid: String,
        /// Byte offset of the AlgorithmIdentifier.
        offset: usize,
    },
    /// The message is larger than accepted.
    #[error("the OCSP {what} is {size} bytes, more than the {limit} accepted")]
    TooLarge {
        /// "request" or "response".
        what: &'static str,
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

pub(crate) fn malformed(what: &'static str, offset: usize, reason: &'static str) -> OcspError {
    OcspError::Malformed {
        what,
        offset,
        reason,
    }
}

pub(crate) fn tlv_err(what: &'static str) -> impl Fn(asn1::TlvError) -> OcspError {
    move |e| malformed(what, e.offset, e.reason)
}

/// A certificate's status as a responder states it (RFC 6960 §4.2.1 CertStatus).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertStatus {
    /// Not revoked (at least: not known to be revoked).
    Good,
    /// Revoked at `time`.
    Revoked {
        /// revocationTime.
        time: OffsetDateTime,
        /// revocationReason, when given.
        reason: Option<RevocationReason>,
    },
    /// The responder does not know the certificate.
    Unknown,
}

impl CertStatus {
    /// `good`, `revoked` or `unknown`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Good => "good",
            Self::Revoked { .. } => "revoked",
            Self::Unknown => "unknown",
        }
    }
}

/// Identifies a certificate in OCSP (RFC 6960 §4.1.1): hashes of its issuer's name and public
/// key, and its serial number.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CertId {
    /// The hash algorithm of both hashes.
    pub hash: HashAlgorithm,
    /// Hash of the issuer's distinguished name (DER).
    pub issuer_name_hash: Vec<u8>,
    /// Hash of the issuer's public key (the BIT STRING content of its SubjectPublicKeyInfo,
    /// without tag, length and unused-bits octet).
    pub issuer_key_hash: Vec<u8>,
    /// The certificate's serial number (INTEGER content octets).
    pub serial: Vec<u8>,
}

impl CertId {
    /// The CertID of `cert`, issued by `issuer`.
    pub fn for_certificate(hash: HashAlgorithm, cert: &Certificate, issuer: &Certificate) -> Self {
        Self {
            hash,
            issuer_name_hash: hash.digest(cert.issuer_der()),
            issuer_key_hash: hash.digest(issuer.public_key_bits()),
            serial: cert.serial().to_vec(),
        }
    }

    /// The CertID of serial number `serial` (INTEGER content octets) under `issuer`.
    pub fn new(hash: HashAlgorithm, issuer: &Certificate, serial: &[u8]) -> Self {
        Self {
            hash,
            issuer_name_hash: hash.digest(issuer.subject_der()),
            issuer_key_hash: hash.digest(issuer.public_key_bits()),
            serial: serial.to_vec(),
        }
    }

    /// Whether the issuer hashes name `issuer` (recomputed with this CertID's algorithm).
    pub fn names_issuer(&self, issuer: &Certificate) -> bool {
        self.issuer_name_hash == self.hash.digest(issuer.subject_der())
            && self.issuer_key_hash == self.hash.digest(issuer.public_key_bits())
    }

    /// Whether this CertID and `other` name the same certificate of `issuer`, even when they
    /// were hashed with different algorithms.
    pub fn same_certificate(&self, other: &CertId, issuer: &Certificate) -> bool {
        if !same_serial(&self.serial, &other.serial) {
            return false;
        }
        if self.hash == other.hash {
            return self.issuer_name_hash == other.issuer_name_hash
                && self.issuer_key_hash == other.issuer_key_hash;
        }
        self.names_issuer(issuer) && other.names_issuer(issuer)
    }

    /// The serial number in lowercase hex.
    pub fn serial_hex(&self) -> String {
        crate::cert::serial_hex(&self.serial)
    }

    /// DER encoding. The hash AlgorithmIdentifier carries NULL parameters, as OpenSSL and most
    /// responders write it, since some responders compare CertIDs byte for byte.
    pub fn to_der(&self) -> Vec<u8> {
        let mut alg = asn1::tlv(tag::OID, self.hash.oid().as_bytes());
        alg.extend_from_slice(&[tag::NULL, 0]);
        let mut body = asn1::tlv(tag::SEQUENCE, &alg);
        body.extend(asn1::tlv(tag::OCTET_STRING, &self.issuer_name_hash));
        body.extend(asn1::tlv(tag::OCTET_STRING, &self.issuer_key_hash));
        body.extend(asn1::tlv(tag::INTEGER, &self.serial));
        asn1::tlv(tag::SEQUENCE, &body)
    }

    /// Reads a CertID from `r` (`what` names the message for errors).
    pub(crate) fn read(r: &mut Reader<'_>, what: &'static str) -> Result<Self, OcspError> {
        let e = tlv_err(what);
        let seq = r.expect(tag::SEQUENCE).map_err(&e)?;
        let mut s = r.nested(&seq);
        let alg_at = s.offset();
        let alg = s.expect(tag::SEQUENCE).map_err(&e)?;
        let mut a = s.nested(&alg);
        let oid_tlv = a.expect(tag::OID).map_err(&e)?;
        let oid = const_oid::ObjectIdentifier::from_bytes(oid_tlv.content)
            .map_err(|_| malformed(what, alg_at, "bad hash algorithm OID"))?;
        let hash = HashAlgorithm::from_oid(&oid).ok_or_else(|| OcspError::UnsupportedHash {
            oid: oid.to_string(),
            offset: alg_at,
        })?;
        let name_at = s.offset();
        let name = s.expect(tag::OCTET_STRING).map_err(&e)?;
        let key = s.expect(tag::OCTET_STRING).map_err(&e)?;
        if name.content.len() != hash.output_len() || key.content.len() != hash.output_len() {
            return Err(malformed(
                what,
                name_at,
                "CertID hash has the wrong length for its algorithm",
            ));
        }
        let serial_at = s.offset();
        let serial = s.expect(tag::INTEGER).map_err(&e)?;
        if serial.content.is_empty() || serial.content.len() > 64 {
            return Err(malformed(what, serial_at, "serial number has a bad length"));
        }
        if !s.is_empty() {
            return Err(malformed(what, s.offset(), "extra data in CertID"));
        }
        Ok(Self {
            hash,
            issuer_name_hash: name.content.to_vec(),
            issuer_key_hash: key.content.to_vec(),
            serial: serial.content.to_vec(),
        })
    }
}

/// Compares serial numbers as numbers (ignoring sign-padding zero bytes).
pub fn same_serial(a: &[u8], b: &[u8]) -> bool {
    strip_zeros(a) == strip_zeros(b)
}

fn strip_zeros(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|b| **b == 0).count();
    &s[n.min(s.len().saturating_sub(1))..]
}

/// The nonce extension value for `nonce` (RFC 8954 §2.1: an OCTET STRING holding the nonce).
pub fn nonce_extension_value(nonce: &[u8]) -> Vec<u8> {
    asn1::tlv(tag::OCTET_STRING, nonce)
}

/// A GeneralizedTime element (`YYYYMMDDHHMMSSZ`, RFC 5280 §4.1.2.5.2 profile).
pub(crate) fn generalized_time(t: OffsetDateTime) -> Vec<u8> {
    asn1::generalized_time(t, 0)
}

/// Reads a GeneralizedTime.
pub(crate) fn read_generalized(
    r: &mut Reader<'_>,
    what: &'static str,
) -> Result<OffsetDateTime, OcspError> {
    let at = r.offset();
    let t: Tlv<'_> = r.expect(tag::GENERALIZED_TIME).map_err(tlv_err(what))?;
    crate::cert::parse_time(&t).ok_or_else(|| malformed(what, at, "bad GeneralizedTime"))
}

/// Reads `Extensions` (RFC 5280 §4.1: SEQUENCE OF Extension) from the content of `outer`.
pub(crate) fn read_extensions(
    r: &Reader<'_>,
    outer: &Tlv<'_>,
    what: &'static str,
) -> Result<Vec<Extension>, OcspError> {
    let e = tlv_err(what);
    let mut er = r.nested(outer);
    let seq = er.expect(tag::SEQUENCE).map_err(&e)?;
    let mut list = er.nested(&seq);
    let mut out = Vec::new();
    while !list.is_empty() {
        let at = list.offset();
        let x = list.expect(tag::SEQUENCE).map_err(&e)?;
        let mut xr = list.nested(&x);
        let o = xr.expect(tag::OID).map_err(&e)?;
        let oid = const_oid::ObjectIdentifier::from_bytes(o.content)
            .map_err(|_| malformed(what, at, "bad extension OID"))?;
        let critical = match xr.optional(0x01).map_err(&e)? {
            Some(b) => b.content != [0],
            None => false,
        };
        let value = xr.expect(tag::OCTET_STRING).map_err(&e)?;
        out.push(Extension {
            oid,
            critical,
            value: value.content.to_vec(),
        });
    }
    Ok(out)
}

/// Encodes one extension.
pub(crate) fn extension_der(
    oid: const_oid::ObjectIdentifier,
    critical: bool,
    value: &[u8],
) -> Vec<u8> {
    let mut body = asn1::tlv(tag::OID, oid.as_bytes());
    if critical {
        body.extend_from_slice(&[0x01, 0x01, 0xff]);
    }
    body.extend(asn1::tlv(tag::OCTET_STRING, value));
    asn1::tlv(tag::SEQUENCE, &body)
}

#[cfg(test)]
mod tests;
