//! Building and signing certificates (RFC 5280 §4) and CRLs (RFC 5280 §5) with any
//! [`hsm::Signer`]. The builder writes DER directly so unusual certificates (for tests of the
//! validator: unknown critical extensions, bad constraints) are as easy to make as normal ones.

use crate::asn1::{self, tag, tlv};
use crate::cert::{CertError, Certificate};
use crate::crl::RevocationReason;
use crate::oid;
use const_oid::ObjectIdentifier;
use der::Encode;
use hsm::{SignatureAlgorithm, Signer};
use time::OffsetDateTime;

/// Building or signing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The signer refused.
    #[error("the CA key could not sign: {0}")]
    Sign(#[from] hsm::Error),
    /// The key offers no algorithm we can use.
    #[error("the CA key offers no usable signature algorithm")]
    NoAlgorithm,
    /// The result did not parse back (a bug or a bad input such as a malformed name).
    #[error("the built certificate is malformed: {0}")]
    Malformed(#[from] CertError),
    /// Encoding failed.
    #[error("encoding failed: {0}")]
    Encoding(String),
}

/// Encodes a time as UTCTime for 1950-2049 and GeneralizedTime otherwise (RFC 5280 §4.1.2.5).
pub fn encode_time(t: OffsetDateTime) -> Vec<u8> {
    asn1::x509_time(t)
}

/// Encodes a non-negative integer from big-endian magnitude bytes.
pub fn encode_uint(magnitude: &[u8]) -> Vec<u8> {
    let mut m = magnitude;
    while m.len() > 1 && m[0] == 0 {
        m = &m[1..];
    }
    let mut v = Vec::with_capacity(m.len() + 1);
    if m.is_empty() || m[0] & 0x80 != 0 {
        v.push(0);
    }
    v.extend_from_slice(m);
    if v.len() > 1 && v[0] == 0 && v[1] & 0x80 == 0 {
        v.remove(0);
    }
    tlv(tag::INTEGER, &v)
}

/// A random positive 16-byte serial number.
pub fn random_serial() -> Vec<u8> {
    let mut s = [0u8; 16];
    let _ = aws_lc_rs::rand::fill(&mut s);
    s[0] = (s[0] & 0x7f) | 0x10;
    s.to_vec()
}

/// One extension to put in a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ext {
    /// extnID.
    pub oid: ObjectIdentifier,
    /// critical.
    pub critical: bool,
    /// The DER of the extension value.
    pub value: Vec<u8>,
}

impl Ext {
    /// basicConstraints.
    pub fn basic_constraints(ca: bool, path_len: Option<u8>) -> Self {
        let mut v = Vec::new();
        if ca {
            v.extend(tlv(0x01, &[0xff]));
        }
        if let Some(p) = path_len {
            v.extend(encode_uint(&[p]));
        }
        Self {
            oid: oid::EXT_BASIC_CONSTRAINTS,
            critical: true,
            value: tlv(tag::SEQUENCE, &v),
        }
    }

    /// keyUsage with the bits of [`crate::cert::KeyUsage`].
    pub fn key_usage(bits: u16) -> Self {
        // BIT STRING, bit 0 is the most significant bit of the first byte.
        let mut bytes = [0u8; 2];
        for i in 0..9 {
            if bits & (1 << i) != 0 {
                bytes[i / 8] |= 0x80 >> (i % 8);
            }
        }
        let len = if bytes[1] != 0 { 2 } else { 1 };
        let last = bytes[len - 1];
        let unused = if last == 0 {
            0
        } else {
            last.trailing_zeros() as u8
        };
        let mut v = vec![unused];
        v.extend_from_slice(&bytes[..len]);
        Self {
            oid: oid::EXT_KEY_USAGE,
            critical: true,
            value: tlv(tag::BIT_STRING, &v),
        }
    }

    /// extKeyUsage.
    pub fn ext_key_usage(oids: &[ObjectIdentifier], critical: bool) -> Self {
        let body: Vec<u8> = oids
            .iter()
            .flat_map(|o| tlv(tag::OID, o.as_bytes()))
            .collect();
        Self {
            oid: oid::EXT_EXT_KEY_USAGE,
            critical,
            value: tlv(tag::SEQUENCE, &body),
        }
    }

    /// subjectKeyIdentifier (SHA-1 of the public key bits, RFC 5280 §4.2.1.2 method 1).
    pub fn subject_key_id(id: &[u8]) -> Self {
        Self {
            oid: oid::EXT_SKI,
            critical: false,
            value: tlv(tag::OCTET_STRING, id),
        }
    }

    /// authorityKeyIdentifier with keyIdentifier.
    pub fn authority_key_id(id: &[u8]) -> Self {
        Self {
            oid: oid::EXT_AKI,
            critical: false,
            value: tlv(tag::SEQUENCE, &tlv(tag::ctx_prim(0), id)),
        }
    }

    /// authorityInfoAccess with OCSP and/or caIssuers URLs.
    pub fn authority_info_access(ocsp: Option<&str>, ca_issuers: Option<&str>) -> Self {
        let mut body = Vec::new();
        for (method, url) in [(oid::AD_OCSP, ocsp), (oid::AD_CA_ISSUERS, ca_issuers)] {
            if let Some(u) = url {
                let mut ad = tlv(tag::OID, method.as_bytes());
                ad.extend(tlv(tag::ctx_prim(6), u.as_bytes()));
                body.extend(tlv(tag::SEQUENCE, &ad));
            }
        }
        Self {
            oid: oid::EXT_AIA,
            critical: false,
            value: tlv(tag::SEQUENCE, &body),
        }
    }

    /// cRLDistributionPoints with one full-name URL.
    pub fn crl_distribution_point(url: &str) -> Self {
        let uri = tlv(tag::ctx_prim(6), url.as_bytes());
        let full_name = tlv(tag::ctx(0), &uri);
        let dp_name = tlv(tag::ctx(0), &full_name);
        let dp = tlv(tag::SEQUENCE, &dp_name);
        Self {
            oid: oid::EXT_CRL_DP,
            critical: false,
            value: tlv(tag::SEQUENCE, &dp),
        }
    }

    /// certificatePolicies with the given policy OIDs (no qualifiers).
    pub fn certificate_policies(policies: &[ObjectIdentifier]) -> Self {
        let body: Vec<u8> = policies
            .iter()
            .flat_map(|p| tlv(tag::SEQUENCE, &tlv(tag::OID, p.as_bytes())))
            .collect();
        Self {
            oid: oid::EXT_CERTIFICATE_POLICIES,
            critical: false,
            value: tlv(tag::SEQUENCE, &body),
        }
    }

    /// id-pkix-ocsp-nocheck (RFC 6960 §4.2.2.2.1).
    pub fn ocsp_nocheck() -> Self {
        Self {
            oid: oid::EXT_OCSP_NOCHECK,
            critical: false,
            value: tlv(tag::NULL, &[]),
        }
    }

    /// nameConstraints with permitted / excluded directoryName subtrees (DER Names).
    pub fn name_constraints_dn(permitted: &[Vec<u8>], excluded: &[Vec<u8>]) -> Self {
        let subtrees = |names: &[Vec<u8>]| -> Vec<u8> {
            names
                .iter()
                .flat_map(|n| tlv(tag::SEQUENCE, &tlv(tag::ctx(4), n)))
                .collect()
        };
        let mut body = Vec::new();
        if !permitted.is_empty() {
            body.extend(tlv(tag::ctx(0), &subtrees(permitted)));
        }
        if !excluded.is_empty() {
            body.extend(tlv(tag::ctx(1), &subtrees(excluded)));
        }
        Self {
            oid: oid::EXT_NAME_CONSTRAINTS,
            critical: true,
            value: tlv(tag::SEQUENCE, &body),
        }
    }

    /// subjectAltName with rfc822Name entries.
    pub fn subject_alt_name_emails(emails: &[&str]) -> Self {
        let body: Vec<u8> = emails
            .iter()
            .flat_map(|e| tlv(tag::ctx_prim(1), e.as_bytes()))
            .collect();
        Self {
            oid: oid::EXT_SAN,
            critical: false,
            value: tlv(tag::SEQUENCE, &body),
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut v = tlv(tag::OID, self.oid.as_bytes());
        if self.critical {
            v.extend(tlv(0x01, &[0xff]));
        }
        v.extend(tlv(tag::OCTET_STRING, &self.value));
        tlv(tag::SEQUENCE, &v)
    }
}

/// SHA-1 key identifier of a SubjectPublicKeyInfo (RFC 5280 §4.2.1.2, method 1).
pub fn key_id(spki: &[u8]) -> Vec<u8> {
    let bits = spki_bits(spki);
    hsm::HashAlgorithm::Sha1.digest(bits)
}

fn spki_bits(spki: &[u8]) -> &[u8] {
    let mut r = asn1::Reader::der(spki);
    let Ok(seq) = r.expect(tag::SEQUENCE) else {
        return spki;
    };
    let mut s = r.nested(&seq);
    let _ = s.next_tlv();
    s.expect(tag::BIT_STRING)
        .ok()
        .and_then(|b| b.content.get(1..))
        .unwrap_or(spki)
}

/// Picks the algorithm a CA signs with: the signer's first (most preferred) one.
pub fn default_algorithm(signer: &dyn Signer) -> Result<SignatureAlgorithm, BuildError> {
    signer
        .algorithms()
        .into_iter()
        .next()
        .ok_or(BuildError::NoAlgorithm)
}

/// A certificate to be signed.
#[derive(Clone, Debug)]
pub struct CertBuilder {
    /// Serial number magnitude (big-endian).
    pub serial: Vec<u8>,
    /// Issuer Name DER.
    pub issuer: Vec<u8>,
    /// Subject Name DER.
    pub subject: Vec<u8>,
    /// notBefore.
    pub not_before: OffsetDateTime,
    /// notAfter.
    pub not_after: OffsetDateTime,
    /// SubjectPublicKeyInfo DER.
    pub spki: Vec<u8>,
    /// Extensions, in order.
    pub extensions: Vec<Ext>,
}

impl CertBuilder {
    /// A builder with a random serial and the standard key identifiers: SKI from `spki`, AKI
    /// from `issuer_spki`.
    pub fn new(
        issuer: &[u8],
        subject: &[u8],
        spki: &[u8],
        issuer_spki: &[u8],
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> Self {
        Self {
            serial: random_serial(),
            issuer: issuer.to_vec(),
            subject: subject.to_vec(),
            not_before,
            not_after,
            spki: spki.to_vec(),
            extensions: vec![
                Ext::subject_key_id(&key_id(spki)),
                Ext::authority_key_id(&key_id(issuer_spki)),
            ],
        }
    }

    /// Adds an extension.
    pub fn ext(mut self, e: Ext) -> Self {
        self.extensions.push(e);
        self
    }

    /// Signs with `signer` using `alg`.
    pub fn sign(
        &self,
        signer: &dyn Signer,
        alg: SignatureAlgorithm,
    ) -> Result<Certificate, BuildError> {
        let alg_id = alg
            .algorithm_identifier()
            .to_der()
            .map_err(|e| BuildError::Encoding(e.to_string()))?;
        let mut tbs = tlv(tag::ctx(0), &encode_uint(&[2]));
        tbs.extend(encode_uint(&self.serial));
        tbs.extend_from_slice(&alg_id);
        tbs.extend_from_slice(&self.issuer);
        let mut validity = encode_time(self.not_before);
        validity.extend(encode_time(self.not_after));
        tbs.extend(tlv(tag::SEQUENCE, &validity));
        tbs.extend_from_slice(&self.subject);
        tbs.extend_from_slice(&self.spki);
        if !self.extensions.is_empty() {
            let exts: Vec<u8> = self.extensions.iter().flat_map(Ext::encode).collect();
            tbs.extend(tlv(tag::ctx(3), &tlv(tag::SEQUENCE, &exts)));
        }
        let tbs = tlv(tag::SEQUENCE, &tbs);
        let sig = signer.sign(alg, &tbs)?;
        Ok(Certificate::from_vec(assemble(&tbs, &alg_id, &sig))?)
    }
}

/// SEQUENCE { tbs, signatureAlgorithm, BIT STRING signature }.
pub fn assemble(tbs: &[u8], alg_id: &[u8], sig: &[u8]) -> Vec<u8> {
    let mut bits = vec![0u8];
    bits.extend_from_slice(sig);
    let mut body = tbs.to_vec();
    body.extend_from_slice(alg_id);
    body.extend(tlv(tag::BIT_STRING, &bits));
    tlv(tag::SEQUENCE, &body)
}

/// One revoked certificate in a CRL to be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlEntryBuild {
    /// Serial magnitude.
    pub serial: Vec<u8>,
    /// revocationDate.
    pub revoked_at: OffsetDateTime,
    /// reasonCode (omitted when `None`).
    pub reason: Option<RevocationReason>,
}

/// Builds and signs a v2 CRL with cRLNumber and authorityKeyIdentifier (RFC 5280 §5.1).
pub fn build_crl(
    issuer: &Certificate,
    signer: &dyn Signer,
    alg: SignatureAlgorithm,
    this_update: OffsetDateTime,
    next_update: Option<OffsetDateTime>,
    crl_number: u64,
    entries: &[CrlEntryBuild],
) -> Result<Vec<u8>, BuildError> {
    let alg_id = alg
        .algorithm_identifier()
        .to_der()
        .map_err(|e| BuildError::Encoding(e.to_string()))?;
    let mut tbs = encode_uint(&[1]);
    tbs.extend_from_slice(&alg_id);
    tbs.extend_from_slice(issuer.subject_der());
    tbs.extend(encode_time(this_update));
    if let Some(n) = next_update {
        tbs.extend(encode_time(n));
    }
    if !entries.is_empty() {
        let mut list = Vec::with_capacity(entries.len() * 40);
        for e in entries {
            let mut entry = encode_uint(&e.serial);
            entry.extend(encode_time(e.revoked_at));
            if let Some(r) = e.reason {
                let ext = Ext {
                    oid: oid::EXT_CRL_REASON,
                    critical: false,
                    value: tlv(tag::ENUMERATED, &[r as u8]),
                };
                entry.extend(tlv(tag::SEQUENCE, &ext.encode()));
            }
            list.extend(tlv(tag::SEQUENCE, &entry));
        }
        tbs.extend(tlv(tag::SEQUENCE, &list));
    }
    let exts = [
        Ext::authority_key_id(&key_id(issuer.spki())),
        Ext {
            oid: oid::EXT_CRL_NUMBER,
            critical: false,
            value: encode_uint(&crl_number.to_be_bytes()),
        },
    ];
    let exts: Vec<u8> = exts.iter().flat_map(Ext::encode).collect();
    tbs.extend(tlv(tag::ctx(0), &tlv(tag::SEQUENCE, &exts)));
    let tbs = tlv(tag::SEQUENCE, &tbs);
    let sig = signer.sign(alg, &tbs)?;
    Ok(assemble(&tbs, &alg_id, &sig))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::KeyUsage;
    use hsm::{KeyKind, SoftwareKey};

    #[test]
    fn builds_a_self_signed_ca_that_parses_and_verifies() {
        let (k, _) = SoftwareKey::generate(KeyKind::EcP256).unwrap();
        let name = crate::name::parse_dn("CN=Test Root,O=Bộ Test,C=VN").unwrap();
        let now = OffsetDateTime::now_utc();
        let c = CertBuilder::new(
            &name,
            &name,
            k.public_key_der(),
            k.public_key_der(),
            now,
            now + time::Duration::days(3650 * 4),
        )
        .ext(Ext::basic_constraints(true, Some(1)))
        .ext(Ext::key_usage(KeyUsage::KEY_CERT_SIGN | KeyUsage::CRL_SIGN))
        .sign(&k, default_algorithm(&k).unwrap())
        .unwrap();
        assert!(c.is_ca());
        assert!(c.is_self_issued());
        assert_eq!(c.extensions().basic_constraints.unwrap().path_len, Some(1));
        let ku = c.extensions().key_usage.unwrap();
        assert!(ku.has(KeyUsage::KEY_CERT_SIGN) && ku.has(KeyUsage::CRL_SIGN));
        assert!(!ku.has(KeyUsage::DIGITAL_SIGNATURE));
        assert_eq!(c.subject().organization(), Some("Bộ Test"));
        crate::crypto::verify(
            c.signature_algorithm(),
            c.spki(),
            c.tbs(),
            c.signature(),
            &Default::default(),
        )
        .unwrap();
        // Beyond 2049 the time is a GeneralizedTime and still parses.
        assert!(c.not_after().year() > 2049);
    }

    #[test]
    fn uint_encoding() {
        assert_eq!(encode_uint(&[0x80]), vec![2, 2, 0, 0x80]);
        assert_eq!(encode_uint(&[0, 0, 5]), vec![2, 1, 5]);
        assert_eq!(encode_uint(&[]), vec![2, 1, 0]);
    }
}
