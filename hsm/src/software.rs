//! Software keys held in memory: PKCS#8 (DER or PEM), PKCS#1 RSA and SEC1 EC keys.
//! Signing uses aws-lc-rs (see docs/decisions/0001-crypto-backend.md).

use crate::{Error, HashAlgorithm, KeyKind, SignatureAlgorithm, Signer};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use zeroize::Zeroizing;

enum Inner {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair, HashAlgorithm),
    Ed25519(Ed25519KeyPair),
}

/// A private key in memory, with the certificates that belong to it (leaf first).
pub struct SoftwareKey {
    inner: Inner,
    kind: KeyKind,
    spki: Vec<u8>,
    certs: Vec<Vec<u8>>,
    rng: SystemRandom,
}

impl std::fmt::Debug for SoftwareKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareKey")
            .field("kind", &self.kind)
            .field("certificates", &self.certs.len())
            .finish_non_exhaustive()
    }
}

impl SoftwareKey {
    /// Loads a PKCS#8 PrivateKeyInfo (DER), or a PKCS#1 RSAPrivateKey / SEC1 ECPrivateKey.
    pub fn from_der(der: &[u8], what: &str) -> Result<Self, Error> {
        if let Ok(k) = RsaKeyPair::from_pkcs8(der).or_else(|_| RsaKeyPair::from_der(der)) {
            return Self::from_rsa(k);
        }
        for (alg, kind, hash) in [
            (
                &sig::ECDSA_P256_SHA256_ASN1_SIGNING,
                KeyKind::EcP256,
                HashAlgorithm::Sha256,
            ),
            (
                &sig::ECDSA_P384_SHA384_ASN1_SIGNING,
                KeyKind::EcP384,
                HashAlgorithm::Sha384,
            ),
            (
                &sig::ECDSA_P521_SHA512_ASN1_SIGNING,
                KeyKind::EcP521,
                HashAlgorithm::Sha512,
            ),
        ] {
            if let Ok(k) = EcdsaKeyPair::from_pkcs8(alg, der)
                .or_else(|_| EcdsaKeyPair::from_private_key_der(alg, der))
            {
                let spki = k.public_key().as_der().map_err(|_| unusable(what))?;
                return Ok(Self {
                    spki: spki.as_ref().to_vec(),
                    inner: Inner::Ec(k, hash),
                    kind,
                    certs: Vec::new(),
                    rng: SystemRandom::new(),
                });
            }
        }
        if let Ok(k) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            let spki = k.public_key().as_der().map_err(|_| unusable(what))?;
            return Ok(Self {
                spki: spki.as_ref().to_vec(),
                inner: Inner::Ed25519(k),
                kind: KeyKind::Ed25519,
                certs: Vec::new(),
                rng: SystemRandom::new(),
            });
        }
        Err(Error::BadKey {
            what: what.into(),
            reason: "not an RSA, ECDSA (P-256/P-384/P-521) or Ed25519 private key".into(),
        })
    }

    fn from_rsa(k: RsaKeyPair) -> Result<Self, Error> {
        let spki = k
            .public_key()
            .as_der()
            .map_err(|_| unusable("RSA key"))?
            .as_ref()
            .to_vec();
        Ok(Self {
            kind: KeyKind::Rsa {
                bits: k.public_modulus_len() * 8,
            },
            inner: Inner::Rsa(k),
            spki,
            certs: Vec::new(),
            rng: SystemRandom::new(),
        })
    }

    /// Generates a new key of `kind` and returns it with its PKCS#8 DER encoding.
    pub fn generate(kind: KeyKind) -> Result<(Self, Zeroizing<Vec<u8>>), Error> {
        let fail = |e: &dyn std::fmt::Display| Error::SigningFailed {
            reason: format!("key generation failed: {e}"),
        };
        let der: Vec<u8> = match kind {
            KeyKind::Rsa { bits } => {
                let size = match bits {
                    2048 => aws_lc_rs::rsa::KeySize::Rsa2048,
                    3072 => aws_lc_rs::rsa::KeySize::Rsa3072,
                    4096 => aws_lc_rs::rsa::KeySize::Rsa4096,
                    _ => {
                        return Err(Error::BadKey {
                            what: format!("RSA {bits}"),
                            reason: "RSA keys are 2048, 3072 or 4096 bits".into(),
                        })
                    }
                };
                let k = RsaKeyPair::generate(size).map_err(|e| fail(&e))?;
                k.as_der().map_err(|e| fail(&e))?.as_ref().to_vec()
            }
            KeyKind::EcP256 | KeyKind::EcP384 | KeyKind::EcP521 => {
                let alg = match kind {
                    KeyKind::EcP256 => &sig::ECDSA_P256_SHA256_ASN1_SIGNING,
                    KeyKind::EcP384 => &sig::ECDSA_P384_SHA384_ASN1_SIGNING,
                    _ => &sig::ECDSA_P521_SHA512_ASN1_SIGNING,
                };
                let k = EcdsaKeyPair::generate(alg).map_err(|e| fail(&e))?;
                k.to_pkcs8v1().map_err(|e| fail(&e))?.as_ref().to_vec()
            }
            KeyKind::Ed25519 => {
                let k = Ed25519KeyPair::generate().map_err(|e| fail(&e))?;
                k.to_pkcs8().map_err(|e| fail(&e))?.as_ref().to_vec()
            }
        };
        let der = Zeroizing::new(der);
        let key = Self::from_der(&der, "generated key")?;
        Ok((key, der))
    }

    /// Loads a PEM file's first private key (`PRIVATE KEY`, `RSA PRIVATE KEY`, `EC PRIVATE KEY`).
    /// Encrypted PEM is refused with a clear message.
    pub fn from_pem(pem: &str, what: &str) -> Result<Self, Error> {
        for block in crate::pem::pem_blocks(pem) {
            match block.0.as_str() {
                "PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY" => {
                    let der = Zeroizing::new(block.1);
                    return Self::from_der(&der, what);
                }
                "ENCRYPTED PRIVATE KEY" => {
                    return Err(Error::BadKey {
                        what: what.into(),
                        reason: "encrypted PEM keys are not supported; use a PKCS#12 file or decrypt with `openssl pkcs8`".into(),
                    })
                }
                _ => {}
            }
        }
        Err(Error::BadKey {
            what: what.into(),
            reason: "no PRIVATE KEY block found".into(),
        })
    }

    /// Signs a digest computed elsewhere (what a remote signing service does with the hashes it
    /// receives). `digest` must be as long as `alg`'s hash; ECDSA output is DER.
    pub fn sign_digest(&self, alg: SignatureAlgorithm, digest: &[u8]) -> Result<Vec<u8>, Error> {
        let unsupported = || Error::UnsupportedAlgorithm {
            algorithm: alg,
            key: self.kind.describe(),
        };
        let failed = |_| Error::SigningFailed {
            reason: format!(
                "a {}-byte digest cannot be signed with {}",
                digest.len(),
                alg.name()
            ),
        };
        let hash = alg.hash().ok_or_else(unsupported)?;
        let d = aws_lc_rs::digest::Digest::import_less_safe(digest, hash.digest_algorithm())
            .map_err(failed)?;
        match (&self.inner, alg) {
            (Inner::Rsa(k), SignatureAlgorithm::RsaPkcs1(h) | SignatureAlgorithm::RsaPss(h)) => {
                let pss = matches!(alg, SignatureAlgorithm::RsaPss(_));
                let encoding: &'static dyn sig::RsaEncoding = match (pss, h) {
                    (false, HashAlgorithm::Sha256) => &sig::RSA_PKCS1_SHA256,
                    (false, HashAlgorithm::Sha384) => &sig::RSA_PKCS1_SHA384,
                    (false, HashAlgorithm::Sha512) => &sig::RSA_PKCS1_SHA512,
                    (true, HashAlgorithm::Sha256) => &sig::RSA_PSS_SHA256,
                    (true, HashAlgorithm::Sha384) => &sig::RSA_PSS_SHA384,
                    (true, HashAlgorithm::Sha512) => &sig::RSA_PSS_SHA512,
                    _ => return Err(unsupported()),
                };
                let mut out = vec![0u8; k.public_modulus_len()];
                k.sign_digest(encoding, &d, &mut out).map_err(failed)?;
                Ok(out)
            }
            (Inner::Ec(k, h), SignatureAlgorithm::Ecdsa(want)) if *h == want => {
                Ok(k.sign_digest(&d).map_err(failed)?.as_ref().to_vec())
            }
            _ => Err(unsupported()),
        }
    }

    /// Attaches the certificates that belong to this key (leaf first, DER).
    pub fn with_certificates(mut self, certs: Vec<Vec<u8>>) -> Self {
        self.certs = certs;
        self
    }
}

fn unusable(what: &str) -> Error {
    Error::BadKey {
        what: what.into(),
        reason: "its public key cannot be encoded".into(),
    }
}

impl Signer for SoftwareKey {
    fn public_key_der(&self) -> &[u8] {
        &self.spki
    }

    fn key_kind(&self) -> KeyKind {
        self.kind
    }

    fn algorithms(&self) -> Vec<SignatureAlgorithm> {
        use HashAlgorithm::*;
        match &self.inner {
            Inner::Rsa(_) => vec![
                SignatureAlgorithm::RsaPkcs1(Sha256),
                SignatureAlgorithm::RsaPss(Sha256),
                SignatureAlgorithm::RsaPkcs1(Sha384),
                SignatureAlgorithm::RsaPss(Sha384),
                SignatureAlgorithm::RsaPkcs1(Sha512),
                SignatureAlgorithm::RsaPss(Sha512),
            ],
            Inner::Ec(_, h) => vec![SignatureAlgorithm::Ecdsa(*h)],
            Inner::Ed25519(_) => vec![SignatureAlgorithm::Ed25519],
        }
    }

    fn sign(&self, alg: SignatureAlgorithm, to_be_signed: &[u8]) -> Result<Vec<u8>, Error> {
        let unsupported = || Error::UnsupportedAlgorithm {
            algorithm: alg,
            key: self.kind.describe(),
        };
        let failed = |e: aws_lc_rs::error::Unspecified| Error::SigningFailed {
            reason: e.to_string(),
        };
        match (&self.inner, alg) {
            (Inner::Rsa(k), SignatureAlgorithm::RsaPkcs1(h) | SignatureAlgorithm::RsaPss(h)) => {
                let pss = matches!(alg, SignatureAlgorithm::RsaPss(_));
                let encoding: &'static dyn sig::RsaEncoding = match (pss, h) {
                    (false, HashAlgorithm::Sha256) => &sig::RSA_PKCS1_SHA256,
                    (false, HashAlgorithm::Sha384) => &sig::RSA_PKCS1_SHA384,
                    (false, HashAlgorithm::Sha512) => &sig::RSA_PKCS1_SHA512,
                    (true, HashAlgorithm::Sha256) => &sig::RSA_PSS_SHA256,
                    (true, HashAlgorithm::Sha384) => &sig::RSA_PSS_SHA384,
                    (true, HashAlgorithm::Sha512) => &sig::RSA_PSS_SHA512,
                    _ => return Err(unsupported()),
                };
                let mut out = vec![0u8; k.public_modulus_len()];
                k.sign(encoding, &self.rng, to_be_signed, &mut out)
                    .map_err(failed)?;
                Ok(out)
            }
            (Inner::Ec(k, h), SignatureAlgorithm::Ecdsa(want)) if *h == want => Ok(k
                .sign(&self.rng, to_be_signed)
                .map_err(failed)?
                .as_ref()
                .to_vec()),
            (Inner::Ed25519(k), SignatureAlgorithm::Ed25519) => {
                Ok(k.sign(to_be_signed).as_ref().to_vec())
            }
            _ => Err(unsupported()),
        }
    }

    fn certificates(&self) -> Vec<Vec<u8>> {
        self.certs.clone()
    }

    /// RSA: aws-lc's private operation (`rsa_default_private_transform`) raises its result to
    /// the public exponent and compares it with the padded input before returning it (Boneh,
    /// DeMillo and Lipton's fault check), so a signature it returns verifies with this key's
    /// public key. ECDSA and Ed25519 have no such check.
    fn verifies_own_signatures(&self, alg: SignatureAlgorithm) -> bool {
        matches!(
            (&self.inner, alg),
            (
                Inner::Rsa(_),
                SignatureAlgorithm::RsaPkcs1(_) | SignatureAlgorithm::RsaPss(_)
            )
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::UnparsedPublicKey;

    fn raw_public_key(spki: &[u8]) -> Vec<u8> {
        // SubjectPublicKeyInfo: the BIT STRING is the last element.
        let spki = spki::SubjectPublicKeyInfoOwned::try_from(spki).unwrap();
        spki.subject_public_key.raw_bytes().to_vec()
    }

    #[test]
    fn rsa_round_trip_pkcs1_and_pss() {
        let (k, der) = SoftwareKey::generate(KeyKind::Rsa { bits: 2048 }).unwrap();
        assert!(!der.is_empty());
        assert_eq!(k.max_signature_len(), 256);
        let pk = raw_public_key(k.public_key_der());
        let s = k
            .sign(
                SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha256),
                b"hello",
            )
            .unwrap();
        UnparsedPublicKey::new(&sig::RSA_PKCS1_2048_8192_SHA256, &pk)
            .verify(b"hello", &s)
            .unwrap();
        let s = k
            .sign(SignatureAlgorithm::RsaPss(HashAlgorithm::Sha384), b"hello")
            .unwrap();
        UnparsedPublicKey::new(&sig::RSA_PSS_2048_8192_SHA384, &pk)
            .verify(b"hello", &s)
            .unwrap();
        assert!(UnparsedPublicKey::new(&sig::RSA_PSS_2048_8192_SHA384, &pk)
            .verify(b"hellO", &s)
            .is_err());
    }

    #[test]
    fn ec_round_trip_and_wrong_algorithm() {
        let (k, der) = SoftwareKey::generate(KeyKind::EcP256).unwrap();
        let again = SoftwareKey::from_der(&der, "t").unwrap();
        assert_eq!(again.public_key_der(), k.public_key_der());
        let s = k
            .sign(SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha256), b"x")
            .unwrap();
        assert!(s.len() <= k.max_signature_len());
        let pk = raw_public_key(k.public_key_der());
        UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_ASN1, &pk)
            .verify(b"x", &s)
            .unwrap();
        assert!(matches!(
            k.sign(SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha256), b"x"),
            Err(Error::UnsupportedAlgorithm { .. })
        ));
    }

    #[test]
    fn signing_a_digest_equals_signing_the_message() {
        let (k, _) = SoftwareKey::generate(KeyKind::Rsa { bits: 2048 }).unwrap();
        let alg = SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha256);
        let d = HashAlgorithm::Sha256.digest(b"hello");
        // PKCS#1 v1.5 is deterministic.
        assert_eq!(
            k.sign_digest(alg, &d).unwrap(),
            k.sign(alg, b"hello").unwrap()
        );
        assert!(k.sign_digest(alg, &d[..31]).is_err());
        let (e, _) = SoftwareKey::generate(KeyKind::EcP256).unwrap();
        let s = e
            .sign_digest(SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha256), &d)
            .unwrap();
        let pk = raw_public_key(e.public_key_der());
        UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_ASN1, &pk)
            .verify(b"hello", &s)
            .unwrap();
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let e = SoftwareKey::from_der(b"garbage", "k.der").unwrap_err();
        assert!(e.to_string().contains("k.der is not a usable private key"));
        let e = SoftwareKey::from_pem("hello", "k.pem").unwrap_err();
        assert!(e.to_string().contains("no PRIVATE KEY block"));
    }
}
