//! X.509 certificates (RFC 5280 §4): parsing from DER, PEM (leniently: CRLF, any line length,
//! text around blocks) and PKCS#7 certificate bundles; the fields and extensions that path
//! validation and reports need.
//!
//! The certificate is parsed over its original bytes, so the to-be-signed part is verified
//! exactly as it was signed. Extension values are decoded with `x509-cert`'s types.

use crate::asn1::{self, tag, Reader, Tlv};
use crate::name::Name;
use crate::oid;
use const_oid::ObjectIdentifier;
use der::Decode;
use std::ops::Range;
use std::sync::Arc;
use time::OffsetDateTime;
use x509_cert::ext::pkix as ext;

/// Input larger than this is refused before parsing (a certificate or bundle, not a CRL).
pub const MAX_CERT_INPUT: usize = 16 * 1024 * 1024;

/// Why certificate input could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertError {
    /// Empty input.
    #[error("the file is empty")]
    Empty,
    /// Too large to be a certificate file.
    #[error("the file is {size} bytes, too large to be a certificate (limit {limit})")]
    TooLarge {
        /// Input size.
        size: usize,
        /// Limit.
        limit: usize,
    },
    /// PEM with a label that is not a certificate.
    #[error("the PEM block is a \"{label}\", not a CERTIFICATE")]
    WrongPemLabel {
        /// The label found.
        label: String,
    },
    /// Nothing that looks like a certificate.
    #[error("no certificate found: the input is neither DER nor PEM")]
    NotACertificate,
    /// Malformed DER.
    #[error("malformed certificate at byte {offset}: {reason}")]
    Malformed {
        /// Byte offset.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
}

impl From<asn1::TlvError> for CertError {
    fn from(e: asn1::TlvError) -> Self {
        CertError::Malformed {
            offset: e.offset,
            reason: e.reason.into(),
        }
    }
}

fn malformed(offset: usize, reason: &str) -> CertError {
    CertError::Malformed {
        offset,
        reason: reason.into(),
    }
}

/// Basic constraints (RFC 5280 §4.2.1.9).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BasicConstraints {
    /// cA.
    pub ca: bool,
    /// pathLenConstraint.
    pub path_len: Option<u8>,
}

/// Key usage bits (RFC 5280 §4.2.1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyUsage(pub u16);

impl KeyUsage {
    /// digitalSignature
    pub const DIGITAL_SIGNATURE: u16 = 1 << 0;
    /// nonRepudiation (contentCommitment)
    pub const NON_REPUDIATION: u16 = 1 << 1;
    /// keyEncipherment
    pub const KEY_ENCIPHERMENT: u16 = 1 << 2;
    /// dataEncipherment
    pub const DATA_ENCIPHERMENT: u16 = 1 << 3;
    /// keyAgreement
    pub const KEY_AGREEMENT: u16 = 1 << 4;
    /// keyCertSign
    pub const KEY_CERT_SIGN: u16 = 1 << 5;
    /// cRLSign
    pub const CRL_SIGN: u16 = 1 << 6;

    /// Whether `bit` is set.
    pub fn has(self, bit: u16) -> bool {
        self.0 & bit != 0
    }

    /// The names of the bits set.
    pub fn names(self) -> Vec<&'static str> {
        const N: [&str; 9] = [
            "digitalSignature",
            "nonRepudiation",
            "keyEncipherment",
            "dataEncipherment",
            "keyAgreement",
            "keyCertSign",
            "cRLSign",
            "encipherOnly",
            "decipherOnly",
        ];
        (0..9)
            .filter(|i| self.0 & (1 << i) != 0)
            .map(|i| N[i])
            .collect()
    }
}

/// One raw extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawExtension {
    /// extnID.
    pub oid: ObjectIdentifier,
    /// critical.
    pub critical: bool,
    /// extnValue's content (the DER of the extension value).
    pub value: Range<usize>,
}

/// The extensions this project interprets, decoded.
#[derive(Clone, Debug, Default)]
pub struct Extensions {
    /// basicConstraints.
    pub basic_constraints: Option<BasicConstraints>,
    /// keyUsage.
    pub key_usage: Option<KeyUsage>,
    /// extKeyUsage.
    pub ext_key_usage: Option<Vec<ObjectIdentifier>>,
    /// subjectKeyIdentifier.
    pub subject_key_id: Option<Vec<u8>>,
    /// authorityKeyIdentifier's keyIdentifier.
    pub authority_key_id: Option<Vec<u8>>,
    /// nameConstraints.
    pub name_constraints: Option<ext::constraints::NameConstraints>,
    /// certificatePolicies (policy OIDs).
    pub policies: Option<Vec<ObjectIdentifier>>,
    /// policyMappings (issuerDomainPolicy, subjectDomainPolicy).
    pub policy_mappings: Option<Vec<(ObjectIdentifier, ObjectIdentifier)>>,
    /// policyConstraints (requireExplicitPolicy, inhibitPolicyMapping).
    pub policy_constraints: Option<(Option<u32>, Option<u32>)>,
    /// inhibitAnyPolicy.
    pub inhibit_any_policy: Option<u32>,
    /// subjectAltName.
    pub subject_alt_names: Vec<ext::name::GeneralName>,
    /// OCSP responder URLs from authorityInfoAccess.
    pub ocsp_urls: Vec<String>,
    /// caIssuers URLs from authorityInfoAccess.
    pub ca_issuer_urls: Vec<String>,
    /// CRL URLs from cRLDistributionPoints (full names only).
    pub crl_urls: Vec<String>,
    /// id-pkix-ocsp-nocheck present.
    pub ocsp_nocheck: bool,
    /// Critical extensions we do not process.
    pub unknown_critical: Vec<ObjectIdentifier>,
    /// Extensions that could not be decoded, or appear twice.
    pub malformed: Vec<(ObjectIdentifier, String)>,
}

struct Inner {
    der: Vec<u8>,
    tbs: Range<usize>,
    version: u8,
    serial: Range<usize>,
    tbs_sig_alg: Range<usize>,
    issuer: Range<usize>,
    subject: Range<usize>,
    issuer_name: Name,
    subject_name: Name,
    issuer_key: String,
    subject_key: String,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    spki: Range<usize>,
    raw_extensions: Vec<RawExtension>,
    extensions: Extensions,
    sig_alg: Range<usize>,
    signature: Range<usize>,
    sha256: [u8; 32],
    key: std::sync::OnceLock<Result<crate::crypto::CachedKey, crate::crypto::VerifyError>>,
}

/// A parsed certificate. Cheap to clone.
#[derive(Clone)]
pub struct Certificate(Arc<Inner>);

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject().to_string())
            .field("serial", &self.serial_hex())
            .finish()
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.0.der == other.0.der
    }
}
impl Eq for Certificate {}

fn offset_of(outer: &[u8], inner: &[u8]) -> usize {
    inner.as_ptr() as usize - outer.as_ptr() as usize
}

fn range_of(outer: &[u8], inner: &[u8]) -> Range<usize> {
    let s = offset_of(outer, inner);
    s..s + inner.len()
}

impl Certificate {
    /// Parses one DER certificate (the exact bytes are kept).
    pub fn from_der(der: &[u8]) -> Result<Self, CertError> {
        Self::from_vec(der.to_vec())
    }

    /// Parses one DER certificate, taking ownership of the bytes.
    pub fn from_vec(der: Vec<u8>) -> Result<Self, CertError> {
        if der.is_empty() {
            return Err(CertError::Empty);
        }
        let inner = parse(&der)?;
        let sha256 = {
            let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der);
            let mut a = [0u8; 32];
            a.copy_from_slice(d.as_ref());
            a
        };
        Ok(Self(Arc::new(Inner {
            sha256,
            der,
            ..inner
        })))
    }

    /// This certificate's public key, parsed on first use and kept with the certificate.
    fn cached_key(&self) -> Result<&crate::crypto::CachedKey, crate::crypto::VerifyError> {
        self.0
            .key
            .get_or_init(|| crate::crypto::CachedKey::from_spki(self.spki()))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The certificate's DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.0.der
    }
    /// The to-be-signed part, exactly as signed.
    pub fn tbs(&self) -> &[u8] {
        &self.0.der[self.0.tbs.clone()]
    }
    /// X.509 version (1, 2 or 3).
    pub fn version(&self) -> u8 {
        self.0.version
    }
    /// Serial number content octets (two's complement, as encoded).
    pub fn serial(&self) -> &[u8] {
        &self.0.der[self.0.serial.clone()]
    }
    /// Serial number in lowercase hex, without a sign-padding zero byte.
    pub fn serial_hex(&self) -> String {
        serial_hex(self.serial())
    }
    /// The issuer Name's DER.
    pub fn issuer_der(&self) -> &[u8] {
        &self.0.der[self.0.issuer.clone()]
    }
    /// The subject Name's DER.
    pub fn subject_der(&self) -> &[u8] {
        &self.0.der[self.0.subject.clone()]
    }
    /// The issuer name.
    pub fn issuer(&self) -> &Name {
        &self.0.issuer_name
    }
    /// The subject name.
    pub fn subject(&self) -> &Name {
        &self.0.subject_name
    }
    /// Comparison key of the issuer name (RFC 5280 §7.1).
    pub fn issuer_key(&self) -> &str {
        &self.0.issuer_key
    }
    /// Comparison key of the subject name (RFC 5280 §7.1).
    pub fn subject_key(&self) -> &str {
        &self.0.subject_key
    }
    /// notBefore.
    pub fn not_before(&self) -> OffsetDateTime {
        self.0.not_before
    }
    /// notAfter.
    pub fn not_after(&self) -> OffsetDateTime {
        self.0.not_after
    }
    /// The SubjectPublicKeyInfo DER.
    pub fn spki(&self) -> &[u8] {
        &self.0.der[self.0.spki.clone()]
    }
    /// The outer signatureAlgorithm DER.
    pub fn signature_algorithm(&self) -> &[u8] {
        &self.0.der[self.0.sig_alg.clone()]
    }
    /// The TBS signature algorithm DER (must equal the outer one).
    pub fn tbs_signature_algorithm(&self) -> &[u8] {
        &self.0.der[self.0.tbs_sig_alg.clone()]
    }
    /// The signature value.
    pub fn signature(&self) -> &[u8] {
        &self.0.der[self.0.signature.clone()]
    }
    /// SHA-256 of the DER.
    pub fn sha256(&self) -> &[u8; 32] {
        &self.0.sha256
    }
    /// SHA-1 of the DER (for display and OCSP/legacy identifiers).
    pub fn sha1(&self) -> Vec<u8> {
        hsm::HashAlgorithm::Sha1.digest(self.der())
    }
    /// The decoded extensions.
    pub fn extensions(&self) -> &Extensions {
        &self.0.extensions
    }
    /// Every extension, raw.
    pub fn raw_extensions(&self) -> &[RawExtension] {
        &self.0.raw_extensions
    }
    /// The DER value of a raw extension.
    pub fn extension_value(&self, e: &RawExtension) -> &[u8] {
        &self.0.der[e.value.clone()]
    }
    /// Whether the subject and issuer names match (a self-issued certificate).
    pub fn is_self_issued(&self) -> bool {
        self.0.issuer_key == self.0.subject_key
    }
    /// Whether this is a CA certificate (basicConstraints cA=TRUE).
    pub fn is_ca(&self) -> bool {
        self.0.extensions.basic_constraints.is_some_and(|b| b.ca)
    }
    /// The subject public key's BIT STRING content (without the unused-bits octet), as hashed
    /// for OCSP CertID.issuerKeyHash (RFC 6960 §4.1.1).
    pub fn public_key_bits(&self) -> &[u8] {
        let spki = self.spki();
        let mut r = Reader::der(spki);
        let Ok(seq) = r.expect(tag::SEQUENCE) else {
            return &[];
        };
        let mut s = r.nested(&seq);
        let _ = s.next_tlv();
        match s.expect(tag::BIT_STRING) {
            Ok(b) => b.content.get(1..).unwrap_or(&[]),
            Err(_) => &[],
        }
    }
    /// Verifies a signature made with this certificate's key (a certificate, CRL, OCSP response
    /// or CMS signature it issued), caching the parsed key.
    pub fn verify_signed(
        &self,
        alg_id: &[u8],
        message: &[u8],
        signature: &[u8],
        policy: &crate::crypto::AlgorithmPolicy,
    ) -> Result<crate::crypto::VerifyNotes, crate::crypto::VerifyError> {
        self.cached_key()?
            .verify(alg_id, message, signature, policy)
    }

    /// Verifies a signature made with this certificate's key, as
    /// [`crate::crypto::verify_with_id`] does, with the key parsed once per certificate (a CMS
    /// signer's certificate met again in every signature of a document).
    pub fn verify_signed_as(
        &self,
        alg: hsm::SignatureAlgorithm,
        alg_id: &[u8],
        message: &[u8],
        signature: &[u8],
        policy: &crate::crypto::AlgorithmPolicy,
    ) -> Result<crate::crypto::VerifyNotes, crate::crypto::VerifyError> {
        self.cached_key()?
            .verify_as(alg, alg_id, message, signature, policy)
    }

    /// Whether `at` is within notBefore..=notAfter.
    pub fn valid_at(&self, at: OffsetDateTime) -> bool {
        self.0.not_before <= at && at <= self.0.not_after
    }
}

/// Formats a serial number's content octets as lowercase hex without a sign-padding zero.
pub fn serial_hex(serial: &[u8]) -> String {
    let s = match serial {
        [0, rest @ ..] if !rest.is_empty() => rest,
        s => s,
    };
    hex::encode(s)
}

fn parse(der: &[u8]) -> Result<Inner, CertError> {
    let top = asn1::single(der, false, false)?;
    if top.tag != tag::SEQUENCE {
        return Err(malformed(0, "a certificate starts with a SEQUENCE"));
    }
    let mut outer = Reader::der(der);
    let cert = outer.next_tlv()?;
    let mut c = outer.nested(&cert);
    let tbs = c.expect(tag::SEQUENCE)?;
    let sig_alg = c.expect(tag::SEQUENCE)?;
    let sig = c.expect(tag::BIT_STRING)?;
    if !c.is_empty() {
        return Err(malformed(c.offset(), "extra data after the signature"));
    }
    let sig_value = match sig.content.split_first() {
        Some((0, v)) => v,
        _ => {
            return Err(malformed(
                c.offset(),
                "signature BIT STRING has unused bits",
            ))
        }
    };

    let mut t = c.nested(&tbs);
    let mut version = 1u8;
    if let Some(v) = t.optional(tag::ctx(0))? {
        let mut vr = t.nested(&v);
        let int = vr.expect(tag::INTEGER)?;
        version = match int.content {
            [0] => 1,
            [1] => 2,
            [2] => 3,
            _ => return Err(malformed(vr.offset(), "unknown certificate version")),
        };
    }
    let serial = t.expect(tag::INTEGER)?;
    if serial.content.is_empty() || serial.content.len() > 64 {
        return Err(malformed(t.offset(), "serial number has a bad length"));
    }
    let tbs_sig_alg = t.expect(tag::SEQUENCE)?;
    let issuer = t.expect(tag::SEQUENCE)?;
    let validity = t.expect(tag::SEQUENCE)?;
    let subject = t.expect(tag::SEQUENCE)?;
    let spki = t.expect(tag::SEQUENCE)?;
    let _issuer_uid = t.optional(tag::ctx_prim(1))?;
    let _subject_uid = t.optional(tag::ctx_prim(2))?;
    let exts = t.optional(tag::ctx(3))?;
    if !t.is_empty() {
        return Err(malformed(
            t.offset(),
            "unexpected data at the end of the certificate body",
        ));
    }
    let mut v = t.nested(&validity);
    let not_before = read_time(&mut v)?;
    let not_after = read_time(&mut v)?;

    let issuer_name = Name::from_der(issuer.raw)
        .map_err(|e| malformed(offset_of(der, issuer.raw), &e.to_string()))?;
    let subject_name = Name::from_der(subject.raw)
        .map_err(|e| malformed(offset_of(der, subject.raw), &e.to_string()))?;

    let mut raw_extensions = Vec::new();
    if let Some(exts) = exts {
        if version != 3 {
            return Err(malformed(
                offset_of(der, exts.raw),
                "extensions in a certificate that is not version 3",
            ));
        }
        let mut er = t.nested(&exts);
        let seq = er.expect(tag::SEQUENCE)?;
        let mut list = er.nested(&seq);
        while !list.is_empty() {
            let e = list.expect(tag::SEQUENCE)?;
            let mut x = list.nested(&e);
            let oid_tlv = x.expect(tag::OID)?;
            let oid = ObjectIdentifier::from_bytes(oid_tlv.content)
                .map_err(|_| malformed(x.offset(), "bad extension OID"))?;
            let critical = match x.optional(0x01)? {
                Some(b) => b.content != [0],
                None => false,
            };
            let value = x.expect(tag::OCTET_STRING)?;
            raw_extensions.push(RawExtension {
                oid,
                critical,
                value: range_of(der, value.content),
            });
        }
    }
    let extensions = decode_extensions(der, &raw_extensions);
    Ok(Inner {
        der: Vec::new(),
        tbs: range_of(der, tbs.raw),
        version,
        serial: range_of(der, serial.content),
        tbs_sig_alg: range_of(der, tbs_sig_alg.raw),
        issuer: range_of(der, issuer.raw),
        subject: range_of(der, subject.raw),
        issuer_key: issuer_name.match_key(),
        subject_key: subject_name.match_key(),
        issuer_name,
        subject_name,
        not_before,
        not_after,
        spki: range_of(der, spki.raw),
        raw_extensions,
        extensions,
        sig_alg: range_of(der, sig_alg.raw),
        signature: range_of(der, sig_value),
        sha256: [0; 32],
        key: std::sync::OnceLock::new(),
    })
}

/// Reads a UTCTime or GeneralizedTime.
pub fn read_time(r: &mut Reader<'_>) -> Result<OffsetDateTime, CertError> {
    let at = r.offset();
    let t = r.next_tlv()?;
    parse_time(&t).ok_or_else(|| malformed(at, "bad time"))
}

/// Parses a UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSS[.fff]Z`) element.
pub fn parse_time(t: &Tlv<'_>) -> Option<OffsetDateTime> {
    let s = std::str::from_utf8(t.content).ok()?;
    let (year, rest) = match t.tag {
        tag::UTC_TIME => {
            let yy: i32 = s.get(0..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, s.get(2..)?)
        }
        tag::GENERALIZED_TIME => (s.get(0..4)?.parse().ok()?, s.get(4..)?),
        _ => return None,
    };
    let rest = rest.strip_suffix('Z')?;
    let (main, _frac) = rest.split_once('.').unwrap_or((rest, ""));
    if main.len() != 10 || !main.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |i: usize| main[i..i + 2].parse::<u8>().ok();
    let date =
        time::Date::from_calendar_date(year, time::Month::try_from(n(0)?).ok()?, n(2)?).ok()?;
    let tm = time::Time::from_hms(n(4)?, n(6)?, n(8)?).ok()?;
    Some(time::PrimitiveDateTime::new(date, tm).assume_utc())
}

fn decode_extensions(der: &[u8], raw: &[RawExtension]) -> Extensions {
    let mut e = Extensions::default();
    let mut seen = std::collections::HashSet::new();
    for x in raw {
        if !seen.insert(x.oid) {
            e.malformed
                .push((x.oid, "the extension appears twice".into()));
            continue;
        }
        let v = &der[x.value.clone()];
        let bad = |e: &mut Extensions, err: der::Error| e.malformed.push((x.oid, err.to_string()));
        match x.oid {
            o if o == oid::EXT_BASIC_CONSTRAINTS => match ext::BasicConstraints::from_der(v) {
                Ok(b) => {
                    e.basic_constraints = Some(BasicConstraints {
                        ca: b.ca,
                        path_len: b.path_len_constraint,
                    })
                }
                Err(err) => bad(&mut e, err),
            },
            o if o == oid::EXT_KEY_USAGE => match ext::KeyUsage::from_der(v) {
                Ok(k) => e.key_usage = Some(KeyUsage(k.0.bits())),
                Err(err) => bad(&mut e, err),
            },
            o if o == oid::EXT_EXT_KEY_USAGE => match ext::ExtendedKeyUsage::from_der(v) {
                Ok(k) => e.ext_key_usage = Some(k.0),
                Err(err) => bad(&mut e, err),
            },
            o if o == oid::EXT_SKI => match ext::SubjectKeyIdentifier::from_der(v) {
                Ok(k) => e.subject_key_id = Some(k.0.as_bytes().to_vec()),
                Err(err) => bad(&mut e, err),
            },
            o if o == oid::EXT_AKI => match ext::AuthorityKeyIdentifier::from_der(v) {
                Ok(k) => e.authority_key_id = k.key_identifier.map(|k| k.as_bytes().to_vec()),
                Err(err) => bad(&mut e, err),
            },
            o if o == oid::EXT_NAME_CONSTRAINTS => {
                match ext::constraints::NameConstraints::from_der(v) {
                    Ok(k) => e.name_constraints = Some(k),
                    Err(err) => bad(&mut e, err),
                }
            }
            o if o == oid::EXT_CERTIFICATE_POLICIES => {
                match ext::CertificatePolicies::from_der(v) {
                    Ok(k) => {
                        e.policies = Some(k.0.into_iter().map(|p| p.policy_identifier).collect())
                    }
                    Err(err) => bad(&mut e, err),
                }
            }
            o if o == oid::EXT_POLICY_MAPPINGS => match ext::PolicyMappings::from_der(v) {
                Ok(k) => {
                    e.policy_mappings = Some(
                        k.0.into_iter()
                            .map(|m| (m.issuer_domain_policy, m.subject_domain_policy))
                            .collect(),
                    )
                }
                Err(err) => bad(&mut e, err),
            },
            o if o == oid::EXT_POLICY_CONSTRAINTS => {
                match ext::constraints::PolicyConstraints::from_der(v) {
                    Ok(k) => {
                        e.policy_constraints =
                            Some((k.require_explicit_policy, k.inhibit_policy_mapping))
                    }
                    Err(err) => bad(&mut e, err),
                }
            }
            o if o == oid::EXT_INHIBIT_ANY_POLICY => match ext::InhibitAnyPolicy::from_der(v) {
                Ok(k) => e.inhibit_any_policy = Some(k.0),
                Err(err) => bad(&mut e, err),
            },
            o if o == oid::EXT_SAN => match ext::SubjectAltName::from_der(v) {
                Ok(k) => e.subject_alt_names = k.0,
                Err(err) => bad(&mut e, err),
            },
            o if o == oid::EXT_AIA => match ext::AuthorityInfoAccessSyntax::from_der(v) {
                Ok(k) => {
                    for ad in k.0 {
                        if let ext::name::GeneralName::UniformResourceIdentifier(u) =
                            &ad.access_location
                        {
                            if ad.access_method == oid::AD_OCSP {
                                e.ocsp_urls.push(u.to_string());
                            } else if ad.access_method == oid::AD_CA_ISSUERS {
                                e.ca_issuer_urls.push(u.to_string());
                            }
                        }
                    }
                }
                Err(err) => bad(&mut e, err),
            },
            o if o == oid::EXT_CRL_DP => match ext::CrlDistributionPoints::from_der(v) {
                Ok(k) => {
                    for dp in k.0 {
                        if let Some(ext::name::DistributionPointName::FullName(names)) =
                            dp.distribution_point
                        {
                            for n in names {
                                if let ext::name::GeneralName::UniformResourceIdentifier(u) = n {
                                    e.crl_urls.push(u.to_string());
                                }
                            }
                        }
                    }
                }
                Err(err) => bad(&mut e, err),
            },
            o if o == oid::EXT_OCSP_NOCHECK => e.ocsp_nocheck = true,
            o if x.critical && !KNOWN_NONCRITICAL_OK.contains(&o) => e.unknown_critical.push(o),
            _ => {}
        }
    }
    e
}

/// Extensions we recognise but do not act on; being critical does not make a certificate
/// unusable (we process their semantics elsewhere or they do not restrict signature use).
const KNOWN_NONCRITICAL_OK: &[ObjectIdentifier] = &[
    oid::EXT_IAN,
    oid::EXT_SUBJECT_DIRECTORY_ATTRIBUTES,
    oid::EXT_FRESHEST_CRL,
    oid::EXT_SIA,
];

/// Reads every certificate in `data`: DER, one or more PEM blocks (`CERTIFICATE`,
/// `X509 CERTIFICATE`, `TRUSTED CERTIFICATE`, `PKCS7`), or a DER PKCS#7 certificate bundle.
pub fn parse_certificates(data: &[u8]) -> Result<Vec<Certificate>, CertError> {
    if data.is_empty() || data.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(CertError::Empty);
    }
    if data.len() > MAX_CERT_INPUT {
        return Err(CertError::TooLarge {
            size: data.len(),
            limit: MAX_CERT_INPUT,
        });
    }
    if data[0] == tag::SEQUENCE {
        if let Ok(c) = Certificate::from_der(data) {
            return Ok(vec![c]);
        }
        if let Some(certs) = pkcs7_certificates(data) {
            return Ok(certs);
        }
        // Report the certificate parse error.
        return Certificate::from_der(data).map(|c| vec![c]);
    }
    let text = String::from_utf8_lossy(data);
    if !text.contains("-----BEGIN ") {
        return Err(CertError::NotACertificate);
    }
    let mut out = Vec::new();
    let mut other_label = None;
    for (label, der) in hsm::pem::pem_blocks(&text) {
        match label.as_str() {
            "CERTIFICATE" | "X509 CERTIFICATE" => out.push(Certificate::from_vec(der)?),
            "TRUSTED CERTIFICATE" => {
                // OpenSSL's trusted form: the certificate followed by trust settings.
                let t = asn1::Reader::der(&der).next_tlv()?;
                out.push(Certificate::from_der(t.raw)?);
            }
            "PKCS7" => out.extend(
                pkcs7_certificates(&der)
                    .ok_or_else(|| malformed(0, "the PKCS7 block holds no certificates"))?,
            ),
            _ => other_label = other_label.or(Some(label)),
        }
    }
    if out.is_empty() {
        return Err(match other_label {
            Some(label) => CertError::WrongPemLabel { label },
            None => CertError::NotACertificate,
        });
    }
    Ok(out)
}

/// The certificates of a PKCS#7/CMS SignedData (a `.p7b`/`.p7c` bundle).
fn pkcs7_certificates(der: &[u8]) -> Option<Vec<Certificate>> {
    let mut r = Reader::ber(der);
    let ci = r.expect(tag::SEQUENCE).ok()?;
    let mut c = r.nested(&ci);
    let ty = c.expect(tag::OID).ok()?;
    if ty.content != [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02] {
        return None;
    }
    let content = c.expect(tag::ctx(0)).ok()?;
    let mut cr = c.nested(&content);
    let sd = cr.expect(tag::SEQUENCE).ok()?;
    let mut s = cr.nested(&sd);
    s.expect(tag::INTEGER).ok()?;
    s.expect(tag::SET).ok()?;
    s.expect(tag::SEQUENCE).ok()?;
    let certs = s.optional(tag::ctx(0)).ok()??;
    let mut cs = s.nested(&certs);
    let mut out = Vec::new();
    while !cs.is_empty() {
        let t = cs.next_tlv().ok()?;
        if t.tag == tag::SEQUENCE {
            out.push(Certificate::from_der(t.raw).ok()?);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// PEM-encodes DER with `label` (64-column lines, RFC 7468).
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_inputs_give_clear_errors() {
        assert_eq!(parse_certificates(b""), Err(CertError::Empty));
        assert_eq!(
            parse_certificates(b"hello"),
            Err(CertError::NotACertificate)
        );
        assert!(matches!(
            parse_certificates(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            Err(CertError::WrongPemLabel { .. })
        ));
        assert!(matches!(
            parse_certificates(&[0x30, 0x82, 0x01]),
            Err(CertError::Malformed { .. })
        ));
    }

    #[test]
    fn parses_times() {
        let utc = [
            0x17, 13, b'2', b'5', b'0', b'3', b'2', b'0', b'0', b'3', b'0', b'0', b'0', b'0', b'Z',
        ];
        let t = asn1::single(&utc, false, false).unwrap();
        assert_eq!(
            crate::time::rfc3339_utc(parse_time(&t).unwrap()),
            "2025-03-20T03:00:00Z"
        );
        let bad = [0x17, 3, b'2', b'5', b'Z'];
        let t = asn1::single(&bad, false, false).unwrap();
        assert!(parse_time(&t).is_none());
    }
}
