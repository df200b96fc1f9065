//! OCSP requests (RFC 6960 §4.1.1), with the nonce extension of RFC 8954.

use super::{extension_der, nonce_extension_value, read_extensions, tlv_err, CertId, OcspError};
use crate::asn1::{self, tag, Reader};
use crate::oid;

/// A parsed OCSP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OcspRequest {
    /// The certificates asked about, in order.
    pub cert_ids: Vec<CertId>,
    /// The nonce extension's value as sent (normally an OCTET STRING holding the nonce, which a
    /// responder echoes verbatim).
    pub nonce: Option<Vec<u8>>,
    /// Whether the request carried a signature (not verified: this responder does not require
    /// signed requests).
    pub signed: bool,
}

/// Requests larger than this are not parsed.
pub const MAX_REQUEST: usize = 64 * 1024;

impl OcspRequest {
    /// Builds an unsigned request for `ids`, with a nonce extension when `nonce` is given.
    pub fn build(ids: &[CertId], nonce: Option<&[u8]>) -> Vec<u8> {
        let mut list = Vec::new();
        for id in ids {
            list.extend(asn1::tlv(tag::SEQUENCE, &id.to_der()));
        }
        let mut tbs = asn1::tlv(tag::SEQUENCE, &list);
        if let Some(n) = nonce {
            let ext = extension_der(oid::EXT_OCSP_NONCE, false, &nonce_extension_value(n));
            tbs.extend(asn1::tlv(tag::ctx(2), &asn1::tlv(tag::SEQUENCE, &ext)));
        }
        asn1::tlv(tag::SEQUENCE, &asn1::tlv(tag::SEQUENCE, &tbs))
    }

    /// Parses a DER request.
    pub fn parse(der: &[u8]) -> Result<Self, OcspError> {
        const W: &str = "request";
        let e = tlv_err(W);
        if der.len() > MAX_REQUEST {
            return Err(OcspError::TooLarge {
                what: W,
                size: der.len(),
                limit: MAX_REQUEST,
            });
        }
        let top = asn1::single(der, false, false).map_err(&e)?;
        if top.tag != tag::SEQUENCE {
            return Err(super::malformed(W, 0, "an OCSPRequest is a SEQUENCE"));
        }
        let outer = Reader::der(der);
        let mut r = outer.nested(&top);
        let tbs = r.expect(tag::SEQUENCE).map_err(&e)?;
        let signed = r.optional(tag::ctx(0)).map_err(&e)?.is_some();
        if !r.is_empty() {
            return Err(super::malformed(
                W,
                r.offset(),
                "extra data after the request",
            ));
        }
        let mut t = r.nested(&tbs);
        if let Some(v) = t.optional(tag::ctx(0)).map_err(&e)? {
            if v.content != [tag::INTEGER, 1, 0] {
                return Err(super::malformed(W, t.offset(), "unknown request version"));
            }
        }
        let _requestor = t.optional(tag::ctx(1)).map_err(&e)?;
        let list = t.expect(tag::SEQUENCE).map_err(&e)?;
        let mut nonce = None;
        if let Some(exts) = t.optional(tag::ctx(2)).map_err(&e)? {
            for x in read_extensions(&t, &exts, W)? {
                if x.oid == oid::EXT_OCSP_NONCE {
                    nonce = Some(x.value);
                }
            }
        }
        if !t.is_empty() {
            return Err(super::malformed(W, t.offset(), "extra data in tbsRequest"));
        }
        let mut l = t.nested(&list);
        let mut cert_ids = Vec::new();
        while !l.is_empty() {
            let req = l.expect(tag::SEQUENCE).map_err(&e)?;
            let mut rr = l.nested(&req);
            cert_ids.push(CertId::read(&mut rr, W)?);
            // singleRequestExtensions [0] are allowed and ignored.
            let _ = rr.optional(tag::ctx(0)).map_err(&e)?;
            if !rr.is_empty() {
                return Err(super::malformed(W, rr.offset(), "extra data in Request"));
            }
        }
        if cert_ids.is_empty() {
            return Err(super::malformed(
                W,
                l.offset(),
                "the request asks about nothing",
            ));
        }
        Ok(Self {
            cert_ids,
            nonce,
            signed,
        })
    }
}
