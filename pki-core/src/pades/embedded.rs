//! Validation data a signed PDF carries: the document security store (ETSI EN 319 142-1 §5.4.2,
//! ISO 32000-2 §12.8.4.3: `/DSS` with `/Certs`, `/OCSPs`, `/CRLs`), Adobe's
//! revocationInfoArchival signed attribute (ISO 32000-2 §12.8.3.3.2), the CMS
//! `RevocationInfoChoices` (RFC 5652 §10.2.1, OCSP through RFC 5940 §2.1) and CAdES
//! revocation values (ETSI EN 319 122-1 §5.5.2, CRLs only). Verification uses this data before
//! asking anyone online.
//!
//! Embedded data is judged at the time it speaks for: a response or CRL is checked (signature,
//! issuer, freshness) at the later of its own thisUpdate and the signing time, so evidence
//! gathered just after signing (as B-LT writers do) proves the status at signing time, and a
//! revocation it reports is weighed against the signing time by the caller.

use crate::cert::Certificate;
use crate::cms::SignedData;
use crate::crypto::AlgorithmPolicy;
use crate::pdf::{Object, PdfError, PdfReader};
use crate::revocation::Status;
use const_oid::ObjectIdentifier;
use std::io::{Read, Seek};
use time::OffsetDateTime;

/// Most DSS entries read per array.
const MAX_ITEMS: usize = 1000;
/// Largest DSS stream read (decoded).
const MAX_ITEM_BYTES: usize = 16 << 20;

const ADBE_REVOCATION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113583.1.1.8");
const CADES_REVOCATION_VALUES: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.24");
const RI_OCSP_RESPONSE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.16.2");

/// Where a piece of evidence was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The document security store.
    Dss,
    /// The signature's CMS.
    Cms,
}

/// Certificates, OCSP responses and CRLs (DER) carried by the document or a signature.
#[derive(Clone, Debug, Default)]
pub struct Embedded {
    /// OCSPResponse DER.
    pub ocsps: Vec<Vec<u8>>,
    /// CertificateList DER.
    pub crls: Vec<Vec<u8>>,
    /// Certificates.
    pub certs: Vec<Certificate>,
}

impl Embedded {
    /// Whether there is any revocation data.
    pub fn has_revocation_data(&self) -> bool {
        !self.ocsps.is_empty() || !self.crls.is_empty()
    }
}

/// Reads the newest `/DSS`. Unreadable entries are skipped (they cannot help, and the
/// signatures do not depend on them).
pub fn from_dss<R: Read + Seek>(reader: &mut PdfReader<R>) -> Result<Embedded, PdfError> {
    let mut out = Embedded::default();
    let (_, cat) = reader.catalog()?;
    let Some(Object::Dictionary(dss)) = reader.get_in(&cat, "DSS")? else {
        return Ok(out);
    };
    for (key, into) in [("OCSPs", 0usize), ("CRLs", 1), ("Certs", 2)] {
        let Some(Object::Array(items)) = reader.get_in(&dss, key)? else {
            continue;
        };
        for item in items.iter().take(MAX_ITEMS) {
            let Some(r) = item.as_reference() else {
                continue;
            };
            let Ok(Object::Stream(s)) = reader.get(r) else {
                continue;
            };
            let Ok(data) = reader.decode_stream(r, &s, MAX_ITEM_BYTES) else {
                continue;
            };
            match into {
                0 => out.ocsps.push(data),
                1 => out.crls.push(data),
                _ => {
                    if let Ok(c) = Certificate::from_der(&data) {
                        out.certs.push(c);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// The validation data inside signer `index` of a CMS: certificates, `crls`
/// (RevocationInfoChoices), revocationInfoArchival and CAdES revocation values.
pub fn from_cms(sd: &SignedData, index: usize) -> Embedded {
    from_cms_with(sd, index, sd.parsed_certificates())
}

/// [`from_cms`] with the CMS certificates already parsed (`certs`).
pub fn from_cms_with(sd: &SignedData, index: usize, certs: Vec<Certificate>) -> Embedded {
    let mut out = Embedded {
        certs,
        ..Embedded::default()
    };
    for choice in &sd.crls {
        match choice.first() {
            Some(0x30) => out.crls.push(choice.clone()),
            // [1] IMPLICIT OtherRevocationInfoFormat
            Some(0xa1) => {
                if let Ok(t) = crate::asn1::single(choice, true, false) {
                    let mut r = crate::asn1::Reader::ber(t.content);
                    if let (Ok(o), Ok(v)) = (r.expect(0x06), r.next_tlv()) {
                        if ObjectIdentifier::from_bytes(o.content).ok() == Some(RI_OCSP_RESPONSE) {
                            out.ocsps.push(v.raw.to_vec());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let Some(si) = sd.signer_infos.get(index) else {
        return out;
    };
    if let Some(attrs) = &si.signed_attrs {
        for a in attrs.get(ADBE_REVOCATION) {
            for v in &a.values {
                read_archival(v, &mut out);
            }
        }
    }
    if let Some(attrs) = &si.unsigned_attrs {
        for a in attrs.get(CADES_REVOCATION_VALUES) {
            for v in &a.values {
                read_archival(v, &mut out);
            }
        }
    }
    out
}

/// `RevocationInfoArchival ::= SEQUENCE { crl [0] EXPLICIT SEQUENCE OF CRLs OPTIONAL, ocsp [1]
/// EXPLICIT SEQUENCE OF OCSPResponse OPTIONAL, otherRevInfo [2] ... }` (Adobe). CAdES
/// `RevocationValues` has the same shape for CRLs; its [1] holds BasicOCSPResponses, which are
/// wrapped into OCSPResponses here.
fn read_archival(der: &[u8], out: &mut Embedded) {
    let Ok(seq) = crate::asn1::single(der, true, false) else {
        return;
    };
    let mut r = crate::asn1::Reader::ber(seq.content);
    while let Ok(t) = r.next_tlv() {
        let Ok(inner) = crate::asn1::single(t.content, true, false) else {
            continue;
        };
        let mut items = crate::asn1::Reader::ber(inner.content);
        while let Ok(item) = items.next_tlv() {
            match t.tag {
                0xa0 => out.crls.push(item.raw.to_vec()),
                0xa1 => {
                    // An OCSPResponse starts with its ENUMERATED status; a BasicOCSPResponse
                    // with its tbsResponseData SEQUENCE.
                    let peek = crate::asn1::Reader::ber(item.content);
                    match peek.peek_tag() {
                        Some(0x0a) => out.ocsps.push(item.raw.to_vec()),
                        Some(0x30) => out.ocsps.push(wrap_basic(item.raw)),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    }
}

/// `OCSPResponse { successful, [0] { id-pkix-ocsp-basic, OCTET STRING basic } }`.
fn wrap_basic(basic: &[u8]) -> Vec<u8> {
    use crate::asn1::tlv;
    let oid = tlv(
        0x06,
        &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01],
    );
    let mut rb = oid;
    rb.extend(tlv(0x04, basic));
    let rb = tlv(0x30, &rb);
    let mut body = tlv(0x0a, &[0]);
    body.extend(tlv(0xa0, &rb));
    tlv(0x30, &body)
}

/// The revocation status of `cert` (issued by `issuer`) from the embedded data, judged at the
/// later of each item's issue time and `signing_time` ([`crate::revocation::embedded_status`]):
/// the first usable answer, source by source. `None` when nothing embedded speaks for the
/// certificate.
pub fn status(
    sources: &[(Origin, &Embedded)],
    cert: &Certificate,
    issuer: &Certificate,
    signing_time: OffsetDateTime,
    policy: &AlgorithmPolicy,
) -> Option<(Status, Origin)> {
    sources.iter().find_map(|(origin, e)| {
        match crate::revocation::embedded_status(
            cert,
            issuer,
            &e.ocsps,
            &e.crls,
            signing_time,
            policy,
        )
        .0
        {
            Status::Unknown { .. } => None,
            s => Some((s, *origin)),
        }
    })
}
