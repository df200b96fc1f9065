//! OCSP responses (RFC 6960 §4.2.1), parsed over their exact bytes so that the signature is
//! checked over `tbsResponseData` as it was signed.

use super::RevocationReason;
use super::{malformed, read_extensions, read_generalized, tlv_err, CertId, CertStatus, OcspError};
use crate::asn1::{self, tag, Reader};
use crate::cert::Certificate;
use crate::oid;
use const_oid::ObjectIdentifier;
use time::OffsetDateTime;

/// Responses larger than this are not parsed.
pub const MAX_RESPONSE: usize = 1024 * 1024;

/// OCSPResponseStatus (RFC 6960 §4.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResponseStatus {
    /// successful (0)
    Successful,
    /// malformedRequest (1)
    MalformedRequest,
    /// internalError (2)
    InternalError,
    /// tryLater (3)
    TryLater,
    /// sigRequired (5)
    SigRequired,
    /// unauthorized (6)
    Unauthorized,
}

impl ResponseStatus {
    /// The ENUMERATED value.
    pub fn code(self) -> u8 {
        match self {
            Self::Successful => 0,
            Self::MalformedRequest => 1,
            Self::InternalError => 2,
            Self::TryLater => 3,
            Self::SigRequired => 5,
            Self::Unauthorized => 6,
        }
    }

    /// From the ENUMERATED value.
    pub fn from_code(c: u8) -> Option<Self> {
        [
            Self::Successful,
            Self::MalformedRequest,
            Self::InternalError,
            Self::TryLater,
            Self::SigRequired,
            Self::Unauthorized,
        ]
        .into_iter()
        .find(|s| s.code() == c)
    }

    /// The RFC 6960 name (`tryLater`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Successful => "successful",
            Self::MalformedRequest => "malformedRequest",
            Self::InternalError => "internalError",
            Self::TryLater => "tryLater",
            Self::SigRequired => "sigRequired",
            Self::Unauthorized => "unauthorized",
        }
    }
}

impl std::fmt::Display for ResponseStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One extension (RFC 5280 §4.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    /// extnID.
    pub oid: ObjectIdentifier,
    /// critical.
    pub critical: bool,
    /// extnValue's content.
    pub value: Vec<u8>,
}

/// ResponderID (RFC 6960 §4.2.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResponderId {
    /// byName: the responder certificate's subject Name (DER).
    ByName(Vec<u8>),
    /// byKey: SHA-1 of the responder's public key BIT STRING content.
    ByKey(Vec<u8>),
}

impl ResponderId {
    /// Whether `cert` is the certificate this ID names.
    pub fn names(&self, cert: &Certificate) -> bool {
        match self {
            Self::ByKey(h) => *h == hsm::HashAlgorithm::Sha1.digest(cert.public_key_bits()),
            Self::ByName(n) => {
                n.as_slice() == cert.subject_der()
                    || crate::name::Name::from_der(n)
                        .is_ok_and(|name| name.match_key() == cert.subject_key())
            }
        }
    }
}

/// SingleResponse (RFC 6960 §4.2.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SingleResponse {
    /// Which certificate.
    pub cert_id: CertId,
    /// Its status.
    pub status: CertStatus,
    /// thisUpdate: when the status was known to be correct.
    pub this_update: OffsetDateTime,
    /// nextUpdate: when newer information will be available, if stated.
    pub next_update: Option<OffsetDateTime>,
    /// singleExtensions.
    pub extensions: Vec<Extension>,
}

/// BasicOCSPResponse (RFC 6960 §4.2.1).
#[derive(Clone, Debug)]
pub struct BasicResponse {
    /// tbsResponseData, exactly as signed.
    pub tbs: Vec<u8>,
    /// The responder's identity.
    pub responder_id: ResponderId,
    /// producedAt.
    pub produced_at: OffsetDateTime,
    /// The statuses.
    pub responses: Vec<SingleResponse>,
    /// responseExtensions.
    pub extensions: Vec<Extension>,
    /// signatureAlgorithm (DER AlgorithmIdentifier).
    pub signature_algorithm: Vec<u8>,
    /// The signature value.
    pub signature: Vec<u8>,
    /// certs: certificates that help verify the signature (the delegated responder's).
    pub certs: Vec<Certificate>,
}

impl BasicResponse {
    /// The nonce extension's value (normally an OCTET STRING holding the nonce).
    pub fn nonce(&self) -> Option<&[u8]> {
        self.extensions
            .iter()
            .find(|x| x.oid == oid::EXT_OCSP_NONCE)
            .map(|x| x.value.as_slice())
    }
}

/// An OCSP response.
#[derive(Clone, Debug)]
pub struct OcspResponse {
    /// responseStatus.
    pub status: ResponseStatus,
    /// The basic response (present when the status is successful).
    pub basic: Option<BasicResponse>,
}

const W: &str = "response";

impl OcspResponse {
    /// Parses a DER OCSPResponse.
    pub fn parse(der: &[u8]) -> Result<Self, OcspError> {
        let e = tlv_err(W);
        if der.len() > MAX_RESPONSE {
            return Err(OcspError::TooLarge {
                what: W,
                size: der.len(),
                limit: MAX_RESPONSE,
            });
        }
        let top = asn1::single(der, false, false).map_err(&e)?;
        if top.tag != tag::SEQUENCE {
            return Err(malformed(W, 0, "an OCSPResponse is a SEQUENCE"));
        }
        let outer = Reader::der(der);
        let mut r = outer.nested(&top);
        let st_at = r.offset();
        let st = r.expect(tag::ENUMERATED).map_err(&e)?;
        let status = match st.content {
            [c] => ResponseStatus::from_code(*c),
            _ => None,
        }
        .ok_or_else(|| malformed(W, st_at, "unknown responseStatus"))?;
        let bytes = r.optional(tag::ctx(0)).map_err(&e)?;
        if !r.is_empty() {
            return Err(malformed(W, r.offset(), "extra data after the response"));
        }
        let Some(bytes) = bytes else {
            if status == ResponseStatus::Successful {
                return Err(malformed(
                    W,
                    r.offset(),
                    "a successful response has no body",
                ));
            }
            return Ok(Self {
                status,
                basic: None,
            });
        };
        if status != ResponseStatus::Successful {
            // RFC 6960 §4.2.1: only successful responses carry responseBytes; ignore them.
            return Ok(Self {
                status,
                basic: None,
            });
        }
        let mut br = r.nested(&bytes);
        let rb = br.expect(tag::SEQUENCE).map_err(&e)?;
        let mut rbr = br.nested(&rb);
        let ty_at = rbr.offset();
        let ty = rbr.expect(tag::OID).map_err(&e)?;
        let ty = ObjectIdentifier::from_bytes(ty.content)
            .map_err(|_| malformed(W, ty_at, "bad responseType OID"))?;
        if ty != oid::OCSP_BASIC {
            return Err(OcspError::UnsupportedResponseType(ty.to_string()));
        }
        let octets = rbr.expect(tag::OCTET_STRING).map_err(&e)?;
        let inner = rbr.nested(&octets);
        let basic = parse_basic(inner)?;
        Ok(Self {
            status,
            basic: Some(basic),
        })
    }
}

fn parse_basic(mut r: Reader<'_>) -> Result<BasicResponse, OcspError> {
    let e = tlv_err(W);
    let seq = r.expect(tag::SEQUENCE).map_err(&e)?;
    if !r.is_empty() {
        return Err(malformed(
            W,
            r.offset(),
            "extra data after BasicOCSPResponse",
        ));
    }
    let mut b = r.nested(&seq);
    let tbs = b.expect(tag::SEQUENCE).map_err(&e)?;
    let sig_alg = b.expect(tag::SEQUENCE).map_err(&e)?;
    let sig_at = b.offset();
    let sig = b.expect(tag::BIT_STRING).map_err(&e)?;
    let signature = match sig.content.split_first() {
        Some((0, v)) => v.to_vec(),
        _ => return Err(malformed(W, sig_at, "signature BIT STRING has unused bits")),
    };
    let mut certs = Vec::new();
    if let Some(c) = b.optional(tag::ctx(0)).map_err(&e)? {
        let mut cr = b.nested(&c);
        let list = cr.expect(tag::SEQUENCE).map_err(&e)?;
        let mut l = cr.nested(&list);
        while !l.is_empty() {
            let at = l.offset();
            let t = l.expect(tag::SEQUENCE).map_err(&e)?;
            certs.push(
                Certificate::from_der(t.raw)
                    .map_err(|_| malformed(W, at, "a certificate in the response is malformed"))?,
            );
        }
    }
    if !b.is_empty() {
        return Err(malformed(W, b.offset(), "extra data in BasicOCSPResponse"));
    }

    let mut t = b.nested(&tbs);
    if let Some(v) = t.optional(tag::ctx(0)).map_err(&e)? {
        if v.content != [tag::INTEGER, 1, 0] {
            return Err(malformed(W, t.offset(), "unknown response version"));
        }
    }
    let rid_at = t.offset();
    let rid = t.next_tlv().map_err(&e)?;
    let responder_id = match rid.tag {
        x if x == tag::ctx(1) => {
            let mut n = t.nested(&rid);
            let name = n.expect(tag::SEQUENCE).map_err(&e)?;
            ResponderId::ByName(name.raw.to_vec())
        }
        x if x == tag::ctx(2) => {
            let mut n = t.nested(&rid);
            let key = n.expect(tag::OCTET_STRING).map_err(&e)?;
            if key.content.len() != 20 {
                return Err(malformed(
                    W,
                    rid_at,
                    "byKey responder ID is not a SHA-1 hash",
                ));
            }
            ResponderId::ByKey(key.content.to_vec())
        }
        _ => return Err(malformed(W, rid_at, "bad responderID")),
    };
    let produced_at = read_generalized(&mut t, W)?;
    let list = t.expect(tag::SEQUENCE).map_err(&e)?;
    let mut extensions = Vec::new();
    if let Some(x) = t.optional(tag::ctx(1)).map_err(&e)? {
        extensions = read_extensions(&t, &x, W)?;
    }
    if !t.is_empty() {
        return Err(malformed(W, t.offset(), "extra data in tbsResponseData"));
    }
    let mut l = t.nested(&list);
    let mut responses = Vec::new();
    while !l.is_empty() {
        let s = l.expect(tag::SEQUENCE).map_err(&e)?;
        responses.push(parse_single(l.nested(&s))?);
    }
    Ok(BasicResponse {
        tbs: tbs.raw.to_vec(),
        responder_id,
        produced_at,
        responses,
        extensions,
        signature_algorithm: sig_alg.raw.to_vec(),
        signature,
        certs,
    })
}

fn parse_single(mut s: Reader<'_>) -> Result<SingleResponse, OcspError> {
    let e = tlv_err(W);
    let cert_id = CertId::read(&mut s, W)?;
    let st_at = s.offset();
    let st = s.next_tlv().map_err(&e)?;
    let status = match st.tag {
        x if x == tag::ctx_prim(0) && st.content.is_empty() => CertStatus::Good,
        x if x == tag::ctx_prim(2) && st.content.is_empty() => CertStatus::Unknown,
        x if x == tag::ctx(1) => {
            let mut rr = s.nested(&st);
            let time = read_generalized(&mut rr, W)?;
            let mut reason = None;
            if let Some(re) = rr.optional(tag::ctx(0)).map_err(&e)? {
                let mut rer = rr.nested(&re);
                let at = rer.offset();
                let en = rer.expect(tag::ENUMERATED).map_err(&e)?;
                reason = Some(
                    match en.content {
                        [c] => RevocationReason::from_code(*c),
                        _ => None,
                    }
                    .ok_or_else(|| malformed(W, at, "unknown revocation reason"))?,
                );
            }
            if !rr.is_empty() {
                return Err(malformed(W, rr.offset(), "extra data in RevokedInfo"));
            }
            CertStatus::Revoked { time, reason }
        }
        _ => return Err(malformed(W, st_at, "bad certStatus")),
    };
    let this_update = read_generalized(&mut s, W)?;
    let mut next_update = None;
    if let Some(n) = s.optional(tag::ctx(0)).map_err(&e)? {
        let mut nr = s.nested(&n);
        next_update = Some(read_generalized(&mut nr, W)?);
    }
    let mut extensions = Vec::new();
    if let Some(x) = s.optional(tag::ctx(1)).map_err(&e)? {
        extensions = read_extensions(&s, &x, W)?;
    }
    if !s.is_empty() {
        return Err(malformed(W, s.offset(), "extra data in SingleResponse"));
    }
    Ok(SingleResponse {
        cert_id,
        status,
        this_update,
        next_update,
        extensions,
    })
}
