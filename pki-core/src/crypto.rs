//! Signature verification over X.509 AlgorithmIdentifiers and SubjectPublicKeyInfos, and the
//! algorithm policy (which algorithms and key sizes are refused or flagged as weak).
//!
//! Algorithms: RSASSA-PKCS1-v1_5 and RSASSA-PSS (RFC 4055, MGF1 with the same hash), ECDSA over
//! P-256/P-384/P-521 (RFC 5758), Ed25519 (RFC 8410). MD2/MD5 and DSA are refused.

use crate::asn1::{tag, Reader};
use crate::oid;
use aws_lc_rs::signature::{self as sig, UnparsedPublicKey, VerificationAlgorithm};
use const_oid::ObjectIdentifier;
use hsm::{HashAlgorithm, KeyKind, SignatureAlgorithm};

/// Why a signature could not be verified.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The signature does not match the data and key.
    #[error("the signature does not match (the data was changed or the wrong key was used)")]
    BadSignature,
    /// The algorithm is unknown or refused.
    #[error("signature algorithm {0} is not supported")]
    UnsupportedAlgorithm(String),
    /// The algorithm is known but forbidden by policy.
    #[error("{0} is not allowed by the algorithm policy")]
    Forbidden(String),
    /// The public key could not be read.
    #[error("the public key is malformed or of an unsupported type")]
    BadKey,
    /// The key does not fit the algorithm.
    #[error("the key ({key}) does not fit the signature algorithm {alg}")]
    KeyMismatch {
        /// Key description.
        key: String,
        /// Algorithm name.
        alg: String,
    },
}

/// A public key taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    /// Kind and size.
    pub kind: KeyKind,
    /// The raw key as aws-lc-rs wants it: PKCS#1 RSAPublicKey, uncompressed EC point, or the
    /// 32 Ed25519 bytes.
    pub raw: Vec<u8>,
}

impl PublicKey {
    /// Reads a DER SubjectPublicKeyInfo.
    pub fn from_spki(spki: &[u8]) -> Result<Self, VerifyError> {
        let mut r = Reader::der(spki);
        let seq = r.expect(tag::SEQUENCE).map_err(|_| VerifyError::BadKey)?;
        let mut s = r.nested(&seq);
        let alg = s.expect(tag::SEQUENCE).map_err(|_| VerifyError::BadKey)?;
        let bits = s.expect(tag::BIT_STRING).map_err(|_| VerifyError::BadKey)?;
        let key = match bits.content.split_first() {
            Some((0, k)) => k,
            _ => return Err(VerifyError::BadKey),
        };
        let mut a = s.nested(&alg);
        let alg_oid = read_oid(&mut a).ok_or(VerifyError::BadKey)?;
        let kind = if alg_oid == oid::RSA_ENCRYPTION || alg_oid == oid::RSASSA_PSS {
            KeyKind::Rsa {
                bits: rsa_modulus_bits(key).ok_or(VerifyError::BadKey)?,
            }
        } else if alg_oid == oid::EC_PUBLIC_KEY {
            let curve = read_oid(&mut a).ok_or(VerifyError::BadKey)?;
            match curve {
                c if c == oid::P256 => KeyKind::EcP256,
                c if c == oid::P384 => KeyKind::EcP384,
                c if c == oid::P521 => KeyKind::EcP521,
                _ => return Err(VerifyError::BadKey),
            }
        } else if alg_oid == oid::ED25519 {
            KeyKind::Ed25519
        } else {
            return Err(VerifyError::BadKey);
        };
        Ok(Self {
            kind,
            raw: key.to_vec(),
        })
    }
}

fn read_oid(r: &mut Reader<'_>) -> Option<ObjectIdentifier> {
    let t = r.expect(tag::OID).ok()?;
    ObjectIdentifier::from_bytes(t.content).ok()
}

fn rsa_modulus_bits(pkcs1: &[u8]) -> Option<usize> {
    let mut r = Reader::der(pkcs1);
    let seq = r.expect(tag::SEQUENCE).ok()?;
    let mut s = r.nested(&seq);
    let n = s.expect(tag::INTEGER).ok()?;
    let mut m = n.content;
    while let Some((0, rest)) = m.split_first() {
        m = rest;
    }
    let first = *m.first()?;
    Some((m.len() - 1) * 8 + (8 - first.leading_zeros() as usize))
}

/// Parses a signature AlgorithmIdentifier (DER TLV) into an algorithm.
pub fn parse_signature_algorithm(alg_id: &[u8]) -> Result<SignatureAlgorithm, VerifyError> {
    let mut r = Reader::der(alg_id);
    let seq = r
        .expect(tag::SEQUENCE)
        .map_err(|_| VerifyError::UnsupportedAlgorithm("(malformed)".into()))?;
    let mut s = r.nested(&seq);
    let o =
        read_oid(&mut s).ok_or_else(|| VerifyError::UnsupportedAlgorithm("(malformed)".into()))?;
    if !r.is_empty() {
        return Err(VerifyError::UnsupportedAlgorithm(
            "(trailing data after the algorithm identifier)".into(),
        ));
    }
    // Every algorithm but RSASSA-PSS has absent or NULL parameters (RFC 4055 §5, RFC 5758 §3.2,
    // RFC 8410 §3); anything else is a malformed identifier, not something to ignore.
    if o != oid::RSASSA_PSS && !(s.is_empty() || s.rest() == [tag::NULL, 0]) {
        return Err(VerifyError::UnsupportedAlgorithm(format!(
            "{o} with unexpected parameters"
        )));
    }
    use HashAlgorithm::*;
    let alg = match o {
        x if x == oid::SHA1_WITH_RSA => SignatureAlgorithm::RsaPkcs1(Sha1),
        x if x == oid::SHA256_WITH_RSA => SignatureAlgorithm::RsaPkcs1(Sha256),
        x if x == oid::SHA384_WITH_RSA => SignatureAlgorithm::RsaPkcs1(Sha384),
        x if x == oid::SHA512_WITH_RSA => SignatureAlgorithm::RsaPkcs1(Sha512),
        x if x == oid::ECDSA_SHA1 => SignatureAlgorithm::Ecdsa(Sha1),
        x if x == oid::ECDSA_SHA256 => SignatureAlgorithm::Ecdsa(Sha256),
        x if x == oid::ECDSA_SHA384 => SignatureAlgorithm::Ecdsa(Sha384),
        x if x == oid::ECDSA_SHA512 => SignatureAlgorithm::Ecdsa(Sha512),
        x if x == oid::ED25519 => SignatureAlgorithm::Ed25519,
        x if x == oid::RSASSA_PSS => SignatureAlgorithm::RsaPss(parse_pss_params(&mut s)?),
        x if x == oid::MD5_WITH_RSA => {
            return Err(VerifyError::Forbidden("md5WithRSAEncryption".into()))
        }
        x if x == oid::MD2_WITH_RSA => {
            return Err(VerifyError::Forbidden("md2WithRSAEncryption".into()))
        }
        x => return Err(VerifyError::UnsupportedAlgorithm(x.to_string())),
    };
    if matches!(alg, SignatureAlgorithm::RsaPss(_)) && !s.is_empty() {
        return Err(VerifyError::UnsupportedAlgorithm(
            "RSASSA-PSS with trailing parameters".into(),
        ));
    }
    Ok(alg)
}

/// RSASSA-PSS-params (RFC 4055 §3.1): the hash, MGF1 with the same hash; any salt length.
fn parse_pss_params(s: &mut Reader<'_>) -> Result<HashAlgorithm, VerifyError> {
    let unsupported =
        || VerifyError::UnsupportedAlgorithm("RSASSA-PSS with these parameters".into());
    let Some(params) = s.optional(tag::SEQUENCE).map_err(|_| unsupported())? else {
        // Absent parameters mean SHA-1 everywhere.
        return Ok(HashAlgorithm::Sha1);
    };
    let mut p = s.nested(&params);
    let mut hash = HashAlgorithm::Sha1;
    let mut mgf_hash = HashAlgorithm::Sha1;
    if let Some(h) = p.optional(tag::ctx(0)).map_err(|_| unsupported())? {
        let mut hr = p.nested(&h);
        let alg = hr.expect(tag::SEQUENCE).map_err(|_| unsupported())?;
        let o = read_oid(&mut hr.nested(&alg)).ok_or_else(unsupported)?;
        hash = HashAlgorithm::from_oid(&o).ok_or_else(unsupported)?;
    }
    if let Some(m) = p.optional(tag::ctx(1)).map_err(|_| unsupported())? {
        let mut mr = p.nested(&m);
        let alg = mr.expect(tag::SEQUENCE).map_err(|_| unsupported())?;
        let mut ar = mr.nested(&alg);
        if read_oid(&mut ar) != Some(oid::MGF1) {
            return Err(unsupported());
        }
        let inner = ar.expect(tag::SEQUENCE).map_err(|_| unsupported())?;
        let o = read_oid(&mut ar.nested(&inner)).ok_or_else(unsupported)?;
        mgf_hash = HashAlgorithm::from_oid(&o).ok_or_else(unsupported)?;
    }
    if let Some(t) = p.optional(tag::ctx(3)).map_err(|_| unsupported())? {
        if t.content != [0x02, 0x01, 0x01] {
            return Err(unsupported());
        }
    }
    if hash != mgf_hash {
        return Err(unsupported());
    }
    Ok(hash)
}

/// Which algorithms are accepted, flagged or refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlgorithmPolicy {
    /// RSA keys shorter than this are refused.
    pub rsa_min_bits: usize,
    /// RSA keys shorter than this are flagged as weak.
    pub rsa_weak_below_bits: usize,
    /// Whether SHA-1 signatures are accepted at all (flagged as weak when accepted).
    pub allow_sha1: bool,
}

impl Default for AlgorithmPolicy {
    /// Verification of documents in the wild: RSA >= 1024 accepted, < 2048 flagged; SHA-1
    /// accepted and flagged (old e-invoices use RSA-SHA1).
    fn default() -> Self {
        Self {
            rsa_min_bits: 1024,
            rsa_weak_below_bits: 2048,
            allow_sha1: true,
        }
    }
}

/// What a successful verification found worth telling.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyNotes {
    /// Human-readable warnings ("SHA-1 is weak").
    pub weak: Vec<String>,
}

impl AlgorithmPolicy {
    /// Strict policy for new signatures (Thông tư 15/2025): RSA >= 2048, no SHA-1.
    pub fn strict() -> Self {
        Self {
            rsa_min_bits: 2048,
            rsa_weak_below_bits: 2048,
            allow_sha1: false,
        }
    }

    /// Checks an algorithm and key against the policy.
    pub fn check(&self, alg: SignatureAlgorithm, key: KeyKind) -> Result<VerifyNotes, VerifyError> {
        let mut notes = VerifyNotes::default();
        if alg.hash() == Some(HashAlgorithm::Sha1) {
            if !self.allow_sha1 {
                return Err(VerifyError::Forbidden(alg.name()));
            }
            notes
                .weak
                .push(format!("{} uses SHA-1, which is weak", alg.name()));
        }
        if let KeyKind::Rsa { bits } = key {
            if bits < self.rsa_min_bits {
                return Err(VerifyError::Forbidden(format!("an RSA key of {bits} bits")));
            }
            if bits < self.rsa_weak_below_bits {
                notes
                    .weak
                    .push(format!("the RSA key has only {bits} bits, which is weak"));
            }
        }
        Ok(notes)
    }
}

/// Verifies `signature` over `message` with the key in `spki` (DER SubjectPublicKeyInfo) and the
/// algorithm in `alg_id` (DER AlgorithmIdentifier), under `policy`.
pub fn verify(
    alg_id: &[u8],
    spki: &[u8],
    message: &[u8],
    signature: &[u8],
    policy: &AlgorithmPolicy,
) -> Result<VerifyNotes, VerifyError> {
    let alg = parse_signature_algorithm(alg_id)?;
    let key = PublicKey::from_spki(spki)?;
    if let Some(r) = pss_other_salt(alg, alg_id, &key, message, signature, policy) {
        return r;
    }
    verify_with(alg, &key, message, signature, policy)
}

/// Like [`verify_with`], with the AlgorithmIdentifier as received (`alg_id`), whose
/// parameters matter for RSASSA-PSS (the salt length): CMS signer infos.
pub fn verify_with_id(
    alg: SignatureAlgorithm,
    alg_id: &[u8],
    key: &PublicKey,
    message: &[u8],
    signature: &[u8],
    policy: &AlgorithmPolicy,
) -> Result<VerifyNotes, VerifyError> {
    if let Some(r) = pss_other_salt(alg, alg_id, key, message, signature, policy) {
        return r;
    }
    verify_with(alg, key, message, signature, policy)
}

/// RSASSA-PSS with a salt that is not as long as the hash (which aws-lc-rs cannot verify):
/// verified by [`crate::rsa_pss`]. `None` for every other case.
fn pss_other_salt(
    alg: SignatureAlgorithm,
    alg_id: &[u8],
    key: &PublicKey,
    message: &[u8],
    signature: &[u8],
    policy: &AlgorithmPolicy,
) -> Option<Result<VerifyNotes, VerifyError>> {
    let SignatureAlgorithm::RsaPss(hash) = alg else {
        return None;
    };
    let salt = crate::rsa_pss::salt_len(alg_id)?;
    if salt == hash.output_len() || !matches!(key.kind, KeyKind::Rsa { .. }) {
        return None;
    }
    Some(policy.check(alg, key.kind).and_then(|notes| {
        if crate::rsa_pss::verify(&key.raw, hash, salt, message, signature) {
            Ok(notes)
        } else {
            Err(VerifyError::BadSignature)
        }
    }))
}

/// Like [`verify`] with the algorithm and key already parsed.
pub fn verify_with(
    alg: SignatureAlgorithm,
    key: &PublicKey,
    message: &[u8],
    signature: &[u8],
    policy: &AlgorithmPolicy,
) -> Result<VerifyNotes, VerifyError> {
    let notes = policy.check(alg, key.kind)?;
    let algorithm = verification_algorithm(alg, key.kind)?;
    UnparsedPublicKey::new(algorithm, &key.raw)
        .verify(message, signature)
        .map_err(|_| VerifyError::BadSignature)?;
    Ok(notes)
}

/// A public key with its parsed forms cached per algorithm, so repeated verifications with the
/// same key (a CA's key across many certificates and CRLs) skip key parsing.
#[derive(Debug)]
pub struct CachedKey {
    key: PublicKey,
    parsed: std::sync::Mutex<Vec<(SignatureAlgorithm, std::sync::Arc<sig::ParsedPublicKey>)>>,
}

impl CachedKey {
    /// Parses a DER SubjectPublicKeyInfo.
    pub fn from_spki(spki: &[u8]) -> Result<Self, VerifyError> {
        Ok(Self {
            key: PublicKey::from_spki(spki)?,
            parsed: std::sync::Mutex::new(Vec::new()),
        })
    }

    /// The key.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    /// Verifies like [`verify`], with this key.
    pub fn verify(
        &self,
        alg_id: &[u8],
        message: &[u8],
        signature: &[u8],
        policy: &AlgorithmPolicy,
    ) -> Result<VerifyNotes, VerifyError> {
        let alg = parse_signature_algorithm(alg_id)?;
        self.verify_as(alg, alg_id, message, signature, policy)
    }

    /// Like [`verify_with_id`], with this key: `alg` is the algorithm already worked out from
    /// `alg_id` (a CMS signer's rsaEncryption combined with its digest algorithm).
    pub fn verify_as(
        &self,
        alg: SignatureAlgorithm,
        alg_id: &[u8],
        message: &[u8],
        signature: &[u8],
        policy: &AlgorithmPolicy,
    ) -> Result<VerifyNotes, VerifyError> {
        if let Some(r) = pss_other_salt(alg, alg_id, &self.key, message, signature, policy) {
            return r;
        }
        let notes = policy.check(alg, self.key.kind)?;
        let parsed = {
            let mut cache = self.parsed.lock().unwrap_or_else(|e| e.into_inner());
            match cache.iter().find(|(a, _)| *a == alg) {
                Some((_, p)) => p.clone(),
                None => {
                    let algorithm = verification_algorithm(alg, self.key.kind)?;
                    let p = std::sync::Arc::new(
                        sig::ParsedPublicKey::new(algorithm, &self.key.raw)
                            .map_err(|_| VerifyError::BadKey)?,
                    );
                    cache.push((alg, p.clone()));
                    p
                }
            }
        };
        parsed
            .verify_sig(message, signature)
            .map_err(|_| VerifyError::BadSignature)?;
        Ok(notes)
    }
}

fn verification_algorithm(
    alg: SignatureAlgorithm,
    kind: KeyKind,
) -> Result<&'static dyn VerificationAlgorithm, VerifyError> {
    use HashAlgorithm::*;
    use KeyKind::*;
    use SignatureAlgorithm as S;
    let mismatch = || VerifyError::KeyMismatch {
        key: kind.describe(),
        alg: alg.name(),
    };
    Ok(match (alg, kind) {
        (S::RsaPkcs1(Sha1), Rsa { .. }) => &sig::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
        (S::RsaPkcs1(Sha256), Rsa { .. }) => &sig::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
        (S::RsaPkcs1(Sha384), Rsa { .. }) => &sig::RSA_PKCS1_2048_8192_SHA384,
        (S::RsaPkcs1(Sha512), Rsa { .. }) => &sig::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
        (S::RsaPss(Sha256), Rsa { .. }) => &sig::RSA_PSS_2048_8192_SHA256,
        (S::RsaPss(Sha384), Rsa { .. }) => &sig::RSA_PSS_2048_8192_SHA384,
        (S::RsaPss(Sha512), Rsa { .. }) => &sig::RSA_PSS_2048_8192_SHA512,
        (S::Ecdsa(Sha256), EcP256) => &sig::ECDSA_P256_SHA256_ASN1,
        (S::Ecdsa(Sha384), EcP256) => &sig::ECDSA_P256_SHA384_ASN1,
        (S::Ecdsa(Sha512), EcP256) => &sig::ECDSA_P256_SHA512_ASN1,
        (S::Ecdsa(Sha256), EcP384) => &sig::ECDSA_P384_SHA256_ASN1,
        (S::Ecdsa(Sha384), EcP384) => &sig::ECDSA_P384_SHA384_ASN1,
        (S::Ecdsa(Sha512), EcP384) => &sig::ECDSA_P384_SHA512_ASN1,
        (S::Ecdsa(Sha512), EcP521) => &sig::ECDSA_P521_SHA512_ASN1,
        (S::Ecdsa(Sha256), EcP521) => &sig::ECDSA_P521_SHA256_ASN1,
        (S::Ecdsa(Sha384), EcP521) => &sig::ECDSA_P521_SHA384_ASN1,
        (S::Ed25519, Ed25519) => &sig::ED25519,
        _ => {
            if alg.fits(kind) {
                return Err(VerifyError::UnsupportedAlgorithm(alg.name()));
            }
            return Err(mismatch());
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::Encode;
    use hsm::{Signer, SoftwareKey};

    fn alg_der(a: SignatureAlgorithm) -> Vec<u8> {
        a.algorithm_identifier().to_der().unwrap()
    }

    #[test]
    fn verifies_every_algorithm_our_keys_make() {
        for kind in [
            KeyKind::Rsa { bits: 2048 },
            KeyKind::EcP256,
            KeyKind::EcP384,
            KeyKind::Ed25519,
        ] {
            let (k, _) = SoftwareKey::generate(kind).unwrap();
            for a in k.algorithms() {
                let s = k.sign(a, b"data").unwrap();
                let p = AlgorithmPolicy::default();
                verify(&alg_der(a), k.public_key_der(), b"data", &s, &p)
                    .unwrap_or_else(|e| panic!("{a:?}: {e}"));
                assert_eq!(
                    verify(&alg_der(a), k.public_key_der(), b"dat4", &s, &p),
                    Err(VerifyError::BadSignature)
                );
                assert_eq!(parse_signature_algorithm(&alg_der(a)).unwrap(), a);
            }
        }
    }

    #[test]
    fn algorithm_parameters_are_strict() {
        let ok = hex::decode("300d06092a864886f70d01010b0500").unwrap();
        assert!(parse_signature_algorithm(&ok).is_ok());
        let absent = hex::decode("300b06092a864886f70d01010b").unwrap();
        assert!(parse_signature_algorithm(&absent).is_ok());
        for bad in [
            "300d06092a864886f70d01010b2500",     // constructed NULL
            "300e06092a864886f70d01010b050100",   // NULL with content
            "300f06092a864886f70d01010b05000500", // two parameters
            "300d06092a864886f70d01010b0400",     // an OCTET STRING
        ] {
            assert!(
                parse_signature_algorithm(&hex::decode(bad).unwrap()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn policy_flags_and_refuses() {
        let p = AlgorithmPolicy::default();
        let n = p
            .check(
                SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha1),
                KeyKind::Rsa { bits: 1024 },
            )
            .unwrap();
        assert_eq!(n.weak.len(), 2);
        assert!(p
            .check(
                SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha256),
                KeyKind::Rsa { bits: 512 }
            )
            .is_err());
        assert!(AlgorithmPolicy::strict()
            .check(
                SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha1),
                KeyKind::EcP256
            )
            .is_err());
    }

    #[test]
    fn key_mismatch_and_garbage() {
        let (k, _) = SoftwareKey::generate(KeyKind::EcP256).unwrap();
        let a = alg_der(SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha256));
        assert!(matches!(
            verify(
                &a,
                k.public_key_der(),
                b"",
                &[0; 64],
                &AlgorithmPolicy::default()
            ),
            Err(VerifyError::KeyMismatch { .. })
        ));
        assert_eq!(PublicKey::from_spki(b"junk"), Err(VerifyError::BadKey));
    }
}
