//! Certificate revocation lists (RFC 5280 §5): parsing with a compact serial index, issuer
//! signature verification, freshness and reason codes.
//!
//! A CRL is kept as its DER plus a sorted index of (serial offset, entry offset) pairs, so a
//! 100,000-entry CRL loads in a few milliseconds, answers lookups by binary search, and costs
//! little more memory than its own size. Entry details are decoded only on a hit.

use crate::asn1::{tag, Reader, Tlv};
use crate::cert::{self, parse_time, CertError, Certificate, KeyUsage};
use crate::crypto::{AlgorithmPolicy, VerifyError, VerifyNotes};
use crate::name::Name;
use crate::oid;
use const_oid::ObjectIdentifier;
use std::ops::Range;
use time::OffsetDateTime;

/// CRL reason codes (RFC 5280 §5.3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
#[allow(missing_docs)]
pub enum RevocationReason {
    Unspecified = 0,
    KeyCompromise = 1,
    CaCompromise = 2,
    AffiliationChanged = 3,
    Superseded = 4,
    CessationOfOperation = 5,
    CertificateHold = 6,
    RemoveFromCrl = 8,
    PrivilegeWithdrawn = 9,
    AaCompromise = 10,
}

impl RevocationReason {
    const ALL: [(RevocationReason, &'static str); 10] = [
        (Self::Unspecified, "unspecified"),
        (Self::KeyCompromise, "keyCompromise"),
        (Self::CaCompromise, "cACompromise"),
        (Self::AffiliationChanged, "affiliationChanged"),
        (Self::Superseded, "superseded"),
        (Self::CessationOfOperation, "cessationOfOperation"),
        (Self::CertificateHold, "certificateHold"),
        (Self::RemoveFromCrl, "removeFromCRL"),
        (Self::PrivilegeWithdrawn, "privilegeWithdrawn"),
        (Self::AaCompromise, "aACompromise"),
    ];

    /// From the ENUMERATED value.
    pub fn from_code(c: u8) -> Option<Self> {
        Self::ALL
            .iter()
            .find(|(r, _)| *r as u8 == c)
            .map(|(r, _)| *r)
    }

    /// The RFC 5280 name (`keyCompromise`), as openssl's index.txt writes it.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(r, _)| *r == self)
            .map(|(_, n)| *n)
            .unwrap_or("unspecified")
    }

    /// From a name, case-insensitively (`keyCompromise`, `key-compromise`).
    pub fn from_name(s: &str) -> Option<Self> {
        let norm: String = s.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        Self::ALL
            .iter()
            .find(|(_, n)| n.eq_ignore_ascii_case(&norm))
            .map(|(r, _)| *r)
    }
}

impl std::fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A revoked certificate's entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedEntry {
    /// Serial (hex).
    pub serial: String,
    /// revocationDate.
    pub revoked_at: OffsetDateTime,
    /// reasonCode, when given.
    pub reason: Option<RevocationReason>,
    /// invalidityDate, when given.
    pub invalidity_date: Option<OffsetDateTime>,
}

#[derive(Clone, Copy, Debug)]
struct IndexEntry {
    /// The serial's first 8 bytes, big-endian, zero-padded: orders like the bytes for serials
    /// of equal length, so most comparisons never touch the DER.
    key: u64,
    serial_start: u32,
    serial_len: u16,
    entry_start: u32,
    entry_len: u32,
}

/// A parsed CRL.
#[derive(Clone)]
pub struct Crl {
    der: Vec<u8>,
    tbs: Range<usize>,
    sig_alg: Range<usize>,
    signature: Range<usize>,
    issuer: Name,
    issuer_der: Range<usize>,
    this_update: OffsetDateTime,
    next_update: Option<OffsetDateTime>,
    crl_number: Option<Vec<u8>>,
    authority_key_id: Option<Vec<u8>>,
    delta: bool,
    partitioned: bool,
    unknown_critical: Vec<ObjectIdentifier>,
    index: Vec<IndexEntry>,
}

impl std::fmt::Debug for Crl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crl")
            .field("issuer", &self.issuer.to_string())
            .field("entries", &self.index.len())
            .finish()
    }
}

fn serial_key(s: &[u8]) -> u64 {
    let mut k = [0u8; 8];
    let n = s.len().min(8);
    k[..n].copy_from_slice(&s[..n]);
    u64::from_be_bytes(k)
}

fn bad(offset: usize, reason: &str) -> CertError {
    CertError::Malformed {
        offset,
        reason: reason.into(),
    }
}

fn strip_zero(mut s: &[u8]) -> &[u8] {
    while let [0, rest @ ..] = s {
        if rest.is_empty() {
            break;
        }
        s = rest;
    }
    s
}

impl Crl {
    /// Parses a CRL from DER or PEM (`X509 CRL`).
    pub fn parse(data: &[u8]) -> Result<Self, CertError> {
        if data.is_empty() {
            return Err(CertError::Empty);
        }
        if data[0] == tag::SEQUENCE {
            return Self::from_der(data.to_vec());
        }
        let text = String::from_utf8_lossy(&data[..data.len().min(1 << 20)]);
        if !text.contains("-----BEGIN ") {
            return Err(CertError::NotACertificate);
        }
        let text = String::from_utf8_lossy(data);
        let mut other = None;
        for (label, der) in hsm::pem::pem_blocks(&text) {
            if label == "X509 CRL" {
                return Self::from_der(der);
            }
            other = other.or(Some(label));
        }
        Err(CertError::WrongPemLabel {
            label: other.unwrap_or_else(|| "(none)".into()),
        })
    }

    /// Parses a DER CRL, taking ownership of the bytes.
    pub fn from_der(der: Vec<u8>) -> Result<Self, CertError> {
        let mut crl = {
            let d = &der[..];
            crate::asn1::single(d, false, false)?;
            let mut outer = Reader::der(d);
            let top = outer.expect(tag::SEQUENCE)?;
            let mut c = outer.nested(&top);
            let tbs = c.expect(tag::SEQUENCE)?;
            let sig_alg = c.expect(tag::SEQUENCE)?;
            let sig = c.expect(tag::BIT_STRING)?;
            let sig_value = match sig.content.split_first() {
                Some((0, v)) => v,
                _ => return Err(bad(c.offset(), "signature BIT STRING has unused bits")),
            };
            let mut t = c.nested(&tbs);
            if t.peek_tag() == Some(tag::INTEGER) {
                let v = t.next_tlv()?;
                if v.content != [1] {
                    return Err(bad(t.offset(), "unknown CRL version"));
                }
            }
            let _inner_alg = t.expect(tag::SEQUENCE)?;
            let issuer = t.expect(tag::SEQUENCE)?;
            let this_update_tlv = t.next_tlv()?;
            let this_update =
                parse_time(&this_update_tlv).ok_or_else(|| bad(t.offset(), "bad thisUpdate"))?;
            let mut next_update = None;
            if matches!(t.peek_tag(), Some(tag::UTC_TIME | tag::GENERALIZED_TIME)) {
                let n = t.next_tlv()?;
                next_update =
                    Some(parse_time(&n).ok_or_else(|| bad(t.offset(), "bad nextUpdate"))?);
            }
            let mut index = Vec::new();
            if let Some(list) = t.optional(tag::SEQUENCE)? {
                let mut l = t.nested(&list);
                while !l.is_empty() {
                    let e = l.expect(tag::SEQUENCE)?;
                    let mut er = l.nested(&e);
                    let serial = er.expect(tag::INTEGER)?;
                    let s = strip_zero(serial.content);
                    let s_off = s.as_ptr() as usize - d.as_ptr() as usize;
                    let e_off = e.raw.as_ptr() as usize - d.as_ptr() as usize;
                    index.push(IndexEntry {
                        key: serial_key(s),
                        serial_start: s_off as u32,
                        serial_len: s.len().min(u16::MAX as usize) as u16,
                        entry_start: e_off as u32,
                        entry_len: e.raw.len() as u32,
                    });
                }
            }
            let mut crl_number = None;
            let mut authority_key_id = None;
            let mut delta = false;
            let mut partitioned = false;
            let mut unknown_critical = Vec::new();
            if let Some(exts) = t.optional(tag::ctx(0))? {
                for (o, critical, value) in read_extensions(&t.nested(&exts))? {
                    match o {
                        x if x == oid::EXT_CRL_NUMBER => {
                            crl_number = Reader::der(value)
                                .expect(tag::INTEGER)
                                .ok()
                                .map(|i| i.content.to_vec())
                        }
                        x if x == oid::EXT_AKI => {
                            authority_key_id = Reader::der(value)
                                .expect(tag::SEQUENCE)
                                .ok()
                                .and_then(|s| {
                                    Reader::der(s.content)
                                        .optional(tag::ctx_prim(0))
                                        .ok()
                                        .flatten()
                                })
                                .map(|k| k.content.to_vec())
                        }
                        x if x == oid::EXT_DELTA_CRL_INDICATOR => delta = true,
                        x if x == oid::EXT_ISSUING_DISTRIBUTION_POINT => partitioned = true,
                        x if critical => unknown_critical.push(x),
                        _ => {}
                    }
                }
            }
            let range = |x: &[u8]| {
                let s = x.as_ptr() as usize - d.as_ptr() as usize;
                s..s + x.len()
            };
            Crl {
                tbs: range(tbs.raw),
                sig_alg: range(sig_alg.raw),
                signature: range(sig_value),
                issuer: Name::from_der(issuer.raw).map_err(|e| bad(0, &e.to_string()))?,
                issuer_der: range(issuer.raw),
                this_update,
                next_update,
                crl_number,
                authority_key_id,
                delta,
                partitioned,
                unknown_critical,
                index,
                der: Vec::new(),
            }
        };
        crl.der = der;
        let d = &crl.der;
        crl.index.sort_unstable_by(|a, b| {
            (a.serial_len, a.key)
                .cmp(&(b.serial_len, b.key))
                .then_with(|| {
                    let sa = &d[a.serial_start as usize..][..a.serial_len as usize];
                    let sb = &d[b.serial_start as usize..][..b.serial_len as usize];
                    sa.cmp(sb)
                })
        });
        Ok(crl)
    }

    /// The DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
    /// The issuer.
    pub fn issuer(&self) -> &Name {
        &self.issuer
    }
    /// The issuer Name's DER.
    pub fn issuer_der(&self) -> &[u8] {
        &self.der[self.issuer_der.clone()]
    }
    /// thisUpdate.
    pub fn this_update(&self) -> OffsetDateTime {
        self.this_update
    }
    /// nextUpdate.
    pub fn next_update(&self) -> Option<OffsetDateTime> {
        self.next_update
    }
    /// cRLNumber in hex.
    pub fn crl_number_hex(&self) -> Option<String> {
        self.crl_number.as_deref().map(cert::serial_hex)
    }
    /// Whether this is a delta CRL (not supported for revocation decisions).
    pub fn is_delta(&self) -> bool {
        self.delta
    }
    /// Whether the CRL has an issuingDistributionPoint (a partitioned CRL; its scope is not
    /// evaluated, so it is not used alone to declare a certificate good).
    pub fn is_partitioned(&self) -> bool {
        self.partitioned
    }
    /// Critical CRL extensions we do not understand (such a CRL must not be used).
    pub fn unknown_critical(&self) -> &[ObjectIdentifier] {
        &self.unknown_critical
    }
    /// Number of revoked entries.
    pub fn len(&self) -> usize {
        self.index.len()
    }
    /// Whether no certificate is revoked.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
    /// The signature algorithm DER.
    pub fn signature_algorithm(&self) -> &[u8] {
        &self.der[self.sig_alg.clone()]
    }

    fn serial_at(&self, e: &IndexEntry) -> &[u8] {
        &self.der[e.serial_start as usize..][..e.serial_len as usize]
    }

    fn find(&self, serial: &[u8]) -> Option<&IndexEntry> {
        let want = strip_zero(serial);
        let len = want.len().min(u16::MAX as usize) as u16;
        let key = serial_key(want);
        self.index
            .binary_search_by(|e| {
                (e.serial_len, e.key)
                    .cmp(&(len, key))
                    .then_with(|| self.serial_at(e).cmp(want))
            })
            .ok()
            .map(|i| &self.index[i])
    }

    /// Looks a serial (content octets as encoded in a certificate) up.
    pub fn lookup(&self, serial: &[u8]) -> Option<RevokedEntry> {
        self.find(serial).and_then(|e| self.entry(e))
    }

    /// Whether `serial` is listed (no entry decoding: the fast path).
    pub fn contains(&self, serial: &[u8]) -> bool {
        self.find(serial).is_some()
    }

    /// Bytes of memory this CRL holds (its DER and its index).
    pub fn heap_size(&self) -> usize {
        self.der.capacity() + self.index.capacity() * std::mem::size_of::<IndexEntry>()
    }

    /// All entries, decoded (for display).
    pub fn entries(&self) -> impl Iterator<Item = RevokedEntry> + '_ {
        self.index.iter().filter_map(|e| self.entry(e))
    }

    fn entry(&self, e: &IndexEntry) -> Option<RevokedEntry> {
        let raw = &self.der[e.entry_start as usize..][..e.entry_len as usize];
        let mut r = Reader::der(raw);
        let seq = r.expect(tag::SEQUENCE).ok()?;
        let mut s = r.nested(&seq);
        let serial = s.expect(tag::INTEGER).ok()?;
        let t = s.next_tlv().ok()?;
        let revoked_at = parse_time(&t)?;
        let mut reason = None;
        let mut invalidity_date = None;
        if let Some(exts) = s.optional(tag::SEQUENCE).ok()? {
            let wrapped = Tlv {
                tag: tag::ctx(0),
                raw: exts.raw,
                content: exts.raw,
            };
            for (o, _, value) in read_extensions(&s.nested(&wrapped)).ok()? {
                if o == oid::EXT_CRL_REASON {
                    reason = Reader::der(value)
                        .expect(tag::ENUMERATED)
                        .ok()
                        .and_then(|v| v.content.first().copied())
                        .and_then(RevocationReason::from_code);
                } else if o == oid::EXT_INVALIDITY_DATE {
                    invalidity_date = Reader::der(value)
                        .next_tlv()
                        .ok()
                        .and_then(|t| parse_time(&t));
                }
            }
        }
        Some(RevokedEntry {
            serial: cert::serial_hex(serial.content),
            revoked_at,
            reason,
            invalidity_date,
        })
    }

    /// Verifies the CRL's signature with `issuer`, and that `issuer` may sign CRLs (names match,
    /// keyUsage has cRLSign when present, key identifiers agree when both are present).
    pub fn verify_issuer(
        &self,
        issuer: &Certificate,
        policy: &AlgorithmPolicy,
    ) -> Result<VerifyNotes, CrlIssuerError> {
        if issuer.subject_key() != self.issuer.match_key() {
            return Err(CrlIssuerError::NameMismatch);
        }
        if let (Some(a), Some(s)) = (&self.authority_key_id, &issuer.extensions().subject_key_id) {
            if a != s {
                return Err(CrlIssuerError::KeyIdMismatch);
            }
        }
        if let Some(ku) = issuer.extensions().key_usage {
            if !ku.has(KeyUsage::CRL_SIGN) {
                return Err(CrlIssuerError::NoCrlSign);
            }
        }
        issuer
            .verify_signed(
                self.signature_algorithm(),
                &self.der[self.tbs.clone()],
                &self.der[self.signature.clone()],
                policy,
            )
            .map_err(CrlIssuerError::Signature)
    }

    /// Whether the CRL is current at `at`: thisUpdate <= at (with `skew`) and, when nextUpdate
    /// is present, at <= nextUpdate.
    pub fn is_fresh(&self, at: OffsetDateTime, skew: time::Duration) -> bool {
        self.this_update <= at + skew && self.next_update.is_none_or(|n| at <= n + skew)
    }
}

/// Why a CRL's issuer check failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CrlIssuerError {
    /// Different issuer name.
    #[error("the CRL was issued by another CA")]
    NameMismatch,
    /// AKI/SKI disagree.
    #[error("the CRL's authority key identifier does not match the CA's key")]
    KeyIdMismatch,
    /// No cRLSign.
    #[error("the CA certificate is not allowed to sign CRLs (keyUsage lacks cRLSign)")]
    NoCrlSign,
    /// Signature failure.
    #[error("the CRL signature is invalid: {0}")]
    Signature(VerifyError),
}

/// (extnID, critical, extnValue content).
type RawExt<'a> = (ObjectIdentifier, bool, &'a [u8]);

fn read_extensions<'a>(r: &Reader<'a>) -> Result<Vec<RawExt<'a>>, CertError> {
    let mut r = r.clone();
    let seq = r.expect(tag::SEQUENCE)?;
    let mut l = r.nested(&seq);
    let mut out = Vec::new();
    while !l.is_empty() {
        let e = l.expect(tag::SEQUENCE)?;
        let mut x = l.nested(&e);
        let o = x.expect(tag::OID)?;
        let o = ObjectIdentifier::from_bytes(o.content).map_err(|_| bad(x.offset(), "bad OID"))?;
        let critical = x.optional(0x01)?.is_some_and(|b| b.content != [0]);
        let v = x.expect(tag::OCTET_STRING)?;
        out.push((o, critical, v.content));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::builder::{build_crl, CertBuilder, CrlEntryBuild, Ext};
    use hsm::{KeyKind, Signer, SoftwareKey};

    fn ca() -> (SoftwareKey, Certificate) {
        let (k, _) = SoftwareKey::generate(KeyKind::EcP256).unwrap();
        let n = crate::name::parse_dn("CN=CRL CA,C=VN").unwrap();
        let now = OffsetDateTime::now_utc();
        let c = CertBuilder::new(
            &n,
            &n,
            k.public_key_der(),
            k.public_key_der(),
            now,
            now + time::Duration::days(10),
        )
        .ext(Ext::basic_constraints(true, None))
        .ext(Ext::key_usage(KeyUsage::KEY_CERT_SIGN | KeyUsage::CRL_SIGN))
        .sign(
            &k,
            hsm::SignatureAlgorithm::Ecdsa(hsm::HashAlgorithm::Sha256),
        )
        .unwrap();
        (k, c)
    }

    #[test]
    fn builds_parses_looks_up_and_verifies() {
        let (k, c) = ca();
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let entries: Vec<_> = (1u32..=1000)
            .map(|i| CrlEntryBuild {
                serial: (i * 7).to_be_bytes().to_vec(),
                revoked_at: now,
                reason: (i % 2 == 0).then_some(RevocationReason::KeyCompromise),
            })
            .collect();
        let alg = hsm::SignatureAlgorithm::Ecdsa(hsm::HashAlgorithm::Sha256);
        let der = build_crl(
            &c,
            &k,
            alg,
            now,
            Some(now + time::Duration::days(7)),
            42,
            &entries,
        )
        .unwrap();
        let crl = Crl::parse(&der).unwrap();
        assert_eq!(crl.len(), 1000);
        assert_eq!(crl.crl_number_hex().as_deref(), Some("2a"));
        let e = crl.lookup(&(14u32).to_be_bytes()).unwrap();
        assert_eq!(e.reason, Some(RevocationReason::KeyCompromise));
        assert_eq!(e.revoked_at, now);
        assert!(crl.lookup(&[0x00, 0x07]).is_some());
        assert!(crl.lookup(&[8]).is_none());
        assert!(crl.is_fresh(now, time::Duration::ZERO));
        assert!(!crl.is_fresh(now + time::Duration::days(8), time::Duration::ZERO));
        crl.verify_issuer(&c, &AlgorithmPolicy::default()).unwrap();
        // Tamper: flip a byte inside the entries.
        let mut bad = der.clone();
        let n = bad.len() / 2;
        bad[n] ^= 1;
        if let Ok(crl) = Crl::parse(&bad) {
            assert!(crl.verify_issuer(&c, &AlgorithmPolicy::default()).is_err());
        }
        // Another CA cannot have signed it.
        let (_, other) = ca();
        assert!(crl
            .verify_issuer(&other, &AlgorithmPolicy::default())
            .is_err());
    }

    #[test]
    fn garbage() {
        assert!(Crl::parse(b"").is_err());
        assert!(Crl::parse(b"\x30\x03\x02\x01").is_err());
        assert!(
            Crl::parse(b"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----").is_err()
        );
    }
}
