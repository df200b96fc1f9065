//! CMS SignedData (RFC 5652 §5): parsing (BER tolerated, as real-world signatures and PDF
//! `/Contents` with zero padding need), verification of one SignerInfo as data (§5.4, §5.6,
//! §11 attributes; ESS signing-certificate attributes of RFC 2634 §5.4 / RFC 5035 §3) and
//! building with an external [`hsm::Signer`] in two phases.
//!
//! The structures are read and written with the crate's TLV reader/writer rather than a typed
//! ASN.1 model, so that the exact received bytes of the signed attributes are what gets hashed
//! (§5.4: the DER `SET OF` with the `[0]` tag replaced by `SET`), and re-encoding a parsed
//! SignedData (to add an unsigned attribute such as a signature timestamp) keeps every signed
//! byte. See `docs/decisions/0006-cms.md`.

mod build;
mod encode;
mod verify;

pub use build::{signing_certificate_v2, PreparedSignature, SignedDataBuilder, SignedDataTemplate};
pub use verify::{sid_matches, AttrCheck, Content, EssCheck, SignatureCheck, SignerCheck};

pub(crate) use encode::{generalized_time, int_u64, oid_tlv, seq, set_of};

use crate::asn1::{self, tag, Reader, Tlv};
use const_oid::ObjectIdentifier;

/// OIDs of RFC 5652 and the ESS/CAdES attributes used here.
pub mod oids {
    use const_oid::ObjectIdentifier as Oid;
    /// id-data
    pub const DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
    /// id-signedData
    pub const SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
    /// id-contentType
    pub const CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
    /// id-messageDigest
    pub const MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
    /// id-signingTime
    pub const SIGNING_TIME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.5");
    /// id-countersignature
    pub const COUNTER_SIGNATURE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.6");
    /// id-aa-signingCertificate (ESS, RFC 2634 §5.4)
    pub const SIGNING_CERTIFICATE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.12");
    /// id-aa-signingCertificateV2 (RFC 5035 §3)
    pub const SIGNING_CERTIFICATE_V2: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.47");
    /// id-aa-signatureTimeStampToken (RFC 3161 appendix A)
    pub const SIGNATURE_TIMESTAMP_TOKEN: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.14");
    /// id-ct-TSTInfo (RFC 3161 §2.4.2)
    pub const TST_INFO: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.1.4");
}

/// Input larger than this is refused before parsing.
pub const MAX_CMS_INPUT: usize = 64 * 1024 * 1024;

/// Why CMS could not be read, built or evaluated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CmsError {
    /// The encoding is broken.
    #[error("malformed CMS at byte {offset}: {reason}")]
    Malformed {
        /// Byte offset within the input.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// A ContentInfo that does not hold SignedData.
    #[error("the CMS content is {0}, not SignedData")]
    NotSignedData(ObjectIdentifier),
    /// Too large to parse.
    #[error("the CMS data is {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// Input size.
        size: usize,
        /// Limit.
        limit: usize,
    },
    /// No SignerInfo with that index.
    #[error("there is no signer number {0}")]
    NoSuchSigner(usize),
    /// Attached content was asked for but the SignedData is detached.
    #[error("the signature is detached and the signed content was not supplied")]
    ContentMissing,
    /// The builder was given something it cannot encode.
    #[error("cannot build the signature: {0}")]
    InvalidInput(String),
    /// The signer failed.
    #[error("the signer failed")]
    Signer(#[from] hsm::Error),
}

impl From<asn1::TlvError> for CmsError {
    fn from(e: asn1::TlvError) -> Self {
        CmsError::Malformed {
            offset: e.offset,
            reason: e.reason,
        }
    }
}

fn malformed(offset: usize, reason: &'static str) -> CmsError {
    CmsError::Malformed { offset, reason }
}

/// An AlgorithmIdentifier: its OID and its whole DER (parameters included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlgorithmIdentifier {
    /// algorithm.
    pub oid: ObjectIdentifier,
    /// The whole element as received.
    pub der: Vec<u8>,
}

impl AlgorithmIdentifier {
    /// From an [`spki::AlgorithmIdentifierOwned`] (as `hsm` produces them).
    pub fn from_owned(a: &spki::AlgorithmIdentifierOwned) -> Result<Self, CmsError> {
        use der::Encode;
        Ok(Self {
            oid: a.oid,
            der: a
                .to_der()
                .map_err(|e| CmsError::InvalidInput(e.to_string()))?,
        })
    }

    /// The digest algorithm this names, when it is one we know.
    pub fn hash(&self) -> Option<hsm::HashAlgorithm> {
        hsm::HashAlgorithm::from_oid(&self.oid)
    }
}

/// SignerIdentifier (RFC 5652 §5.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignerIdentifier {
    /// issuerAndSerialNumber.
    IssuerAndSerial {
        /// The issuer Name's DER.
        issuer: Vec<u8>,
        /// The serial number's INTEGER content octets.
        serial: Vec<u8>,
    },
    /// subjectKeyIdentifier.
    SubjectKeyId(Vec<u8>),
}

/// One attribute (RFC 5652 §5.3): its type and each value's DER.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    /// attrType.
    pub oid: ObjectIdentifier,
    /// attrValues: each value's whole TLV.
    pub values: Vec<Vec<u8>>,
}

impl Attribute {
    /// The attribute's DER: `SEQUENCE { type, SET OF values }` (values sorted as DER wants).
    pub fn to_der(&self) -> Vec<u8> {
        seq(&[&oid_tlv(&self.oid), &set_of(self.values.clone())])
    }
}

/// A set of attributes with its encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attributes {
    /// The whole `[0]`/`[1] IMPLICIT SET OF Attribute` element. For signed attributes these are
    /// the bytes as received, and what the signature covers (with the tag set to SET).
    pub raw: Vec<u8>,
    /// The attributes, in encoding order.
    pub list: Vec<Attribute>,
}

impl Attributes {
    /// The attributes of type `oid`.
    pub fn get(&self, oid: ObjectIdentifier) -> impl Iterator<Item = &Attribute> + '_ {
        self.list.iter().filter(move |a| a.oid == oid)
    }

    /// Encodes `list` with the tag `tag` (DER: values and attributes sorted).
    pub fn encode(tag: u8, list: Vec<Attribute>) -> Self {
        let mut raw = set_of(list.iter().map(Attribute::to_der).collect());
        raw[0] = tag;
        Self { raw, list }
    }
}

/// SignerInfo (RFC 5652 §5.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignerInfo {
    /// version (1 with issuerAndSerialNumber, 3 with subjectKeyIdentifier).
    pub version: u32,
    /// sid.
    pub sid: SignerIdentifier,
    /// digestAlgorithm.
    pub digest_algorithm: AlgorithmIdentifier,
    /// signedAttrs: `raw` is exactly as received.
    pub signed_attrs: Option<Attributes>,
    /// signatureAlgorithm.
    pub signature_algorithm: AlgorithmIdentifier,
    /// signature.
    pub signature: Vec<u8>,
    /// unsignedAttrs. Encoding writes `raw`: change them with
    /// [`SignedData::add_unsigned_attribute`] or [`Attributes::encode`].
    pub unsigned_attrs: Option<Attributes>,
    /// Offset of this SignerInfo in the parsed input (0 for built ones).
    pub offset: usize,
}

/// SignedData (RFC 5652 §5.1), inside its ContentInfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedData {
    /// version.
    pub version: u32,
    /// digestAlgorithms.
    pub digest_algorithms: Vec<AlgorithmIdentifier>,
    /// encapContentInfo.eContentType.
    pub econtent_type: ObjectIdentifier,
    /// encapContentInfo.eContent (octets; a BER constructed OCTET STRING is joined). `None` for
    /// a detached signature.
    pub econtent: Option<Vec<u8>>,
    /// certificates: the DER of each `Certificate` choice (other choices are dropped).
    pub certificates: Vec<Vec<u8>>,
    /// crls: each RevocationInfoChoice, raw.
    pub crls: Vec<Vec<u8>>,
    /// signerInfos.
    pub signer_infos: Vec<SignerInfo>,
}

fn read_oid(r: &mut Reader<'_>) -> Result<ObjectIdentifier, CmsError> {
    let at = r.offset();
    let t = r.expect(tag::OID)?;
    ObjectIdentifier::from_bytes(t.content).map_err(|_| malformed(at, "bad object identifier"))
}

fn read_small_int(r: &mut Reader<'_>) -> Result<u32, CmsError> {
    let at = r.offset();
    let t = r.expect(tag::INTEGER)?;
    small_int(t.content).ok_or_else(|| malformed(at, "integer out of range"))
}

pub(crate) fn small_int(c: &[u8]) -> Option<u32> {
    if c.is_empty() || c.len() > 5 || c[0] & 0x80 != 0 {
        return None;
    }
    let mut v: u64 = 0;
    for b in c {
        v = (v << 8) | u64::from(*b);
    }
    u32::try_from(v).ok()
}

/// The octets of an OCTET STRING, primitive or (BER) constructed.
pub(crate) fn octets(r: &Reader<'_>, t: &Tlv<'_>, out: &mut Vec<u8>) -> Result<(), CmsError> {
    match t.tag {
        tag::OCTET_STRING => {
            out.extend_from_slice(t.content);
            Ok(())
        }
        0x24 => {
            let mut inner = r.nested(t);
            while !inner.is_empty() {
                let c = inner.next_tlv()?;
                octets(&inner, &c, out)?;
            }
            Ok(())
        }
        _ => Err(malformed(r.offset(), "expected an OCTET STRING")),
    }
}

fn read_alg(r: &mut Reader<'_>) -> Result<AlgorithmIdentifier, CmsError> {
    let t = r.expect(tag::SEQUENCE)?;
    let mut a = r.nested(&t);
    let oid = read_oid(&mut a)?;
    Ok(AlgorithmIdentifier {
        oid,
        der: t.raw.to_vec(),
    })
}

fn read_attributes(r: &Reader<'_>, t: &Tlv<'_>) -> Result<Attributes, CmsError> {
    let mut s = r.nested(t);
    let mut list = Vec::new();
    while !s.is_empty() {
        let a = s.expect(tag::SEQUENCE)?;
        let mut ar = s.nested(&a);
        let oid = read_oid(&mut ar)?;
        let at = ar.offset();
        let vs = ar.expect(tag::SET)?;
        let mut vr = ar.nested(&vs);
        let mut values = Vec::new();
        while !vr.is_empty() {
            values.push(vr.next_tlv()?.raw.to_vec());
        }
        if values.is_empty() {
            return Err(malformed(at, "an attribute has no value"));
        }
        if !ar.is_empty() {
            return Err(malformed(ar.offset(), "extra data in an attribute"));
        }
        list.push(Attribute { oid, values });
    }
    Ok(Attributes {
        raw: t.raw.to_vec(),
        list,
    })
}

fn read_signer_info(r: &Reader<'_>, t: &Tlv<'_>, offset: usize) -> Result<SignerInfo, CmsError> {
    let mut s = r.nested(t);
    let version = read_small_int(&mut s)?;
    let at = s.offset();
    let sid_t = s.next_tlv()?;
    let sid = match sid_t.tag {
        tag::SEQUENCE => {
            let mut ir = s.nested(&sid_t);
            let issuer = ir.expect(tag::SEQUENCE)?;
            let serial = ir.expect(tag::INTEGER)?;
            SignerIdentifier::IssuerAndSerial {
                issuer: issuer.raw.to_vec(),
                serial: serial.content.to_vec(),
            }
        }
        0x80 => SignerIdentifier::SubjectKeyId(sid_t.content.to_vec()),
        0xa0 => {
            // BER constructed form of the implicitly tagged OCTET STRING.
            let mut v = Vec::new();
            let fake = Tlv { tag: 0x24, ..sid_t };
            octets(&s, &fake, &mut v)?;
            SignerIdentifier::SubjectKeyId(v)
        }
        _ => return Err(malformed(at, "unknown signer identifier")),
    };
    let digest_algorithm = read_alg(&mut s)?;
    let signed_attrs = match s.optional(tag::ctx(0))? {
        Some(a) => Some(read_attributes(&s, &a)?),
        None => None,
    };
    let signature_algorithm = read_alg(&mut s)?;
    let sig_t = s.next_tlv()?;
    let mut signature = Vec::new();
    octets(&s, &sig_t, &mut signature)?;
    let unsigned_attrs = match s.optional(tag::ctx(1))? {
        Some(a) => Some(read_attributes(&s, &a)?),
        None => None,
    };
    if !s.is_empty() {
        return Err(malformed(
            s.offset(),
            "extra data at the end of a SignerInfo",
        ));
    }
    Ok(SignerInfo {
        version,
        sid,
        digest_algorithm,
        signed_attrs,
        signature_algorithm,
        signature,
        unsigned_attrs,
        offset,
    })
}

impl SignedData {
    /// Parses a ContentInfo holding SignedData. BER (indefinite lengths, constructed strings)
    /// is accepted, and so is trailing zero padding (a PDF `/Contents`).
    pub fn parse(data: &[u8]) -> Result<Self, CmsError> {
        if data.len() > MAX_CMS_INPUT {
            return Err(CmsError::TooLarge {
                size: data.len(),
                limit: MAX_CMS_INPUT,
            });
        }
        let top = asn1::single(data, true, true)?;
        if top.tag != tag::SEQUENCE {
            return Err(malformed(0, "a ContentInfo starts with a SEQUENCE"));
        }
        let outer = Reader::ber(data);
        let mut ci = outer.nested(&top);
        let ct = read_oid(&mut ci)?;
        if ct != oids::SIGNED_DATA {
            return Err(CmsError::NotSignedData(ct));
        }
        let content = ci.expect(tag::ctx(0))?;
        let mut cr = ci.nested(&content);
        let sd = cr.expect(tag::SEQUENCE)?;
        if !cr.is_empty() {
            return Err(malformed(cr.offset(), "extra data after SignedData"));
        }
        let mut s = cr.nested(&sd);
        let version = read_small_int(&mut s)?;
        let da = s.expect(tag::SET)?;
        let mut dr = s.nested(&da);
        let mut digest_algorithms = Vec::new();
        while !dr.is_empty() {
            digest_algorithms.push(read_alg(&mut dr)?);
        }
        let eci = s.expect(tag::SEQUENCE)?;
        let mut er = s.nested(&eci);
        let econtent_type = read_oid(&mut er)?;
        let econtent = match er.optional(tag::ctx(0))? {
            Some(e) => {
                let mut inner = er.nested(&e);
                let o = inner.next_tlv()?;
                let mut v = Vec::new();
                octets(&inner, &o, &mut v)?;
                Some(v)
            }
            None => None,
        };
        let mut certificates = Vec::new();
        if let Some(c) = s.optional(tag::ctx(0))? {
            let mut cr = s.nested(&c);
            while !cr.is_empty() {
                let t = cr.next_tlv()?;
                if t.tag == tag::SEQUENCE {
                    certificates.push(t.raw.to_vec());
                }
            }
        }
        let mut crls = Vec::new();
        if let Some(c) = s.optional(tag::ctx(1))? {
            let mut cr = s.nested(&c);
            while !cr.is_empty() {
                crls.push(cr.next_tlv()?.raw.to_vec());
            }
        }
        let sis = s.expect(tag::SET)?;
        let mut sr = s.nested(&sis);
        let mut signer_infos = Vec::new();
        while !sr.is_empty() {
            let at = sr.offset();
            let t = sr.expect(tag::SEQUENCE)?;
            signer_infos.push(read_signer_info(&sr, &t, at)?);
        }
        if !s.is_empty() {
            return Err(malformed(s.offset(), "extra data at the end of SignedData"));
        }
        Ok(Self {
            version,
            digest_algorithms,
            econtent_type,
            econtent,
            certificates,
            crls,
            signer_infos,
        })
    }

    /// The embedded certificates that parse (others are skipped).
    pub fn parsed_certificates(&self) -> Vec<crate::cert::Certificate> {
        self.certificates
            .iter()
            .filter_map(|c| crate::cert::Certificate::from_der(c).ok())
            .collect()
    }

    /// Adds an unsigned attribute to signer `signer` (a signature timestamp token
    /// [`oids::SIGNATURE_TIMESTAMP_TOKEN`], revocation values...). `values` are DER TLVs. An
    /// attribute of the same type gets the values added to it.
    pub fn add_unsigned_attribute(
        &mut self,
        signer: usize,
        oid: ObjectIdentifier,
        values: Vec<Vec<u8>>,
    ) -> Result<(), CmsError> {
        for v in &values {
            asn1::single(v, false, false).map_err(|e| {
                CmsError::InvalidInput(format!("an attribute value is not one DER element: {e}"))
            })?;
        }
        let si = self
            .signer_infos
            .get_mut(signer)
            .ok_or(CmsError::NoSuchSigner(signer))?;
        let mut list = si.unsigned_attrs.take().map(|a| a.list).unwrap_or_default();
        match list.iter_mut().find(|a| a.oid == oid) {
            Some(a) => a.values.extend(values),
            None => list.push(Attribute { oid, values }),
        }
        si.unsigned_attrs = Some(Attributes::encode(tag::ctx(1), list));
        Ok(())
    }

    /// Encodes the ContentInfo. Signed attributes and certificates are written exactly as they
    /// were received or built, so signatures stay valid; the rest is DER.
    pub fn to_der(&self) -> Vec<u8> {
        // SETs are written in the order held: a parsed SignedData keeps its order (nothing
        // changes but what was changed), a built one was sorted by the builder.
        let mut body = int_u64(u64::from(self.version));
        let algs: Vec<u8> = self
            .digest_algorithms
            .iter()
            .flat_map(|a| a.der.clone())
            .collect();
        body.extend(asn1::tlv(tag::SET, &algs));
        let mut eci = oid_tlv(&self.econtent_type);
        if let Some(c) = &self.econtent {
            eci.extend(asn1::tlv(tag::ctx(0), &asn1::tlv(tag::OCTET_STRING, c)));
        }
        body.extend(asn1::tlv(tag::SEQUENCE, &eci));
        if !self.certificates.is_empty() {
            body.extend(asn1::tlv(tag::ctx(0), &self.certificates.concat()));
        }
        if !self.crls.is_empty() {
            body.extend(asn1::tlv(tag::ctx(1), &self.crls.concat()));
        }
        let sis: Vec<u8> = self
            .signer_infos
            .iter()
            .flat_map(SignerInfo::to_der)
            .collect();
        body.extend(asn1::tlv(tag::SET, &sis));
        let sd = asn1::tlv(tag::SEQUENCE, &body);
        seq(&[&oid_tlv(&oids::SIGNED_DATA), &asn1::tlv(tag::ctx(0), &sd)])
    }
}

impl SignerIdentifier {
    /// The DER of the choice.
    pub fn to_der(&self) -> Vec<u8> {
        match self {
            Self::IssuerAndSerial { issuer, serial } => {
                seq(&[issuer, &asn1::tlv(tag::INTEGER, serial)])
            }
            Self::SubjectKeyId(k) => asn1::tlv(tag::ctx_prim(0), k),
        }
    }
}

impl SignerInfo {
    /// The DER of this SignerInfo (signed attributes as received).
    pub fn to_der(&self) -> Vec<u8> {
        let mut body = int_u64(u64::from(self.version));
        body.extend(self.sid.to_der());
        body.extend_from_slice(&self.digest_algorithm.der);
        if let Some(a) = &self.signed_attrs {
            body.extend_from_slice(&a.raw);
        }
        body.extend_from_slice(&self.signature_algorithm.der);
        body.extend(asn1::tlv(tag::OCTET_STRING, &self.signature));
        if let Some(a) = &self.unsigned_attrs {
            body.extend_from_slice(&a.raw);
        }
        asn1::tlv(tag::SEQUENCE, &body)
    }

    /// The bytes the signature covers when there are signed attributes: their received
    /// encoding with the `[0]` tag replaced by `SET` (RFC 5652 §5.4).
    pub fn signed_attrs_tbs(&self) -> Option<Vec<u8>> {
        self.signed_attrs.as_ref().map(|a| {
            let mut v = a.raw.clone();
            if let Some(t) = v.first_mut() {
                *t = tag::SET;
            }
            v
        })
    }
}

#[cfg(test)]
mod tests;
