//! Signature and hash algorithms, with their X.509 AlgorithmIdentifier encodings
//! (RFC 4055, RFC 5758, RFC 8410).

use const_oid::ObjectIdentifier;
use der::asn1::Null;
use der::{Any, Encode};
use spki::AlgorithmIdentifierOwned;

/// A message digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// SHA-1: accepted when verifying legacy documents, never used to sign.
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

/// OIDs used here.
pub mod oids {
    use const_oid::ObjectIdentifier as Oid;
    /// id-sha1
    pub const SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
    /// id-sha256
    pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
    /// id-sha384
    pub const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
    /// id-sha512
    pub const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");
    /// rsaEncryption
    pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
    /// sha1WithRSAEncryption
    pub const SHA1_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.5");
    /// sha256WithRSAEncryption
    pub const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
    /// sha384WithRSAEncryption
    pub const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
    /// sha512WithRSAEncryption
    pub const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
    /// id-RSASSA-PSS
    pub const RSASSA_PSS: Oid = Oid::new_unwrap("1.2.840.113549.1.1.10");
    /// id-mgf1
    pub const MGF1: Oid = Oid::new_unwrap("1.2.840.113549.1.1.8");
    /// id-ecPublicKey
    pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
    /// prime256v1 / secp256r1
    pub const P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
    /// secp384r1
    pub const P384: Oid = Oid::new_unwrap("1.3.132.0.34");
    /// secp521r1
    pub const P521: Oid = Oid::new_unwrap("1.3.132.0.35");
    /// ecdsa-with-SHA1
    pub const ECDSA_SHA1: Oid = Oid::new_unwrap("1.2.840.10045.4.1");
    /// ecdsa-with-SHA256
    pub const ECDSA_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
    /// ecdsa-with-SHA384
    pub const ECDSA_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
    /// ecdsa-with-SHA512
    pub const ECDSA_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
    /// id-Ed25519
    pub const ED25519: Oid = Oid::new_unwrap("1.3.101.112");
}

impl HashAlgorithm {
    /// The digest's OID (NIST / OIW arc).
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => oids::SHA1,
            Self::Sha256 => oids::SHA256,
            Self::Sha384 => oids::SHA384,
            Self::Sha512 => oids::SHA512,
        }
    }

    /// Looks a digest up by OID.
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        [Self::Sha1, Self::Sha256, Self::Sha384, Self::Sha512]
            .into_iter()
            .find(|h| h.oid() == *oid)
    }

    /// Output length in bytes.
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// A short name (`sha256`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    /// The aws-lc-rs digest algorithm.
    pub fn digest_algorithm(self) -> &'static aws_lc_rs::digest::Algorithm {
        match self {
            Self::Sha1 => &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => &aws_lc_rs::digest::SHA256,
            Self::Sha384 => &aws_lc_rs::digest::SHA384,
            Self::Sha512 => &aws_lc_rs::digest::SHA512,
        }
    }

    /// Hashes `data` in one go.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        aws_lc_rs::digest::digest(self.digest_algorithm(), data)
            .as_ref()
            .to_vec()
    }

    /// The DER DigestInfo prefix for PKCS#1 v1.5 (RFC 8017 §9.2 note 1), to which the digest is
    /// appended when a token only offers raw `CKM_RSA_PKCS`.
    pub fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            Self::Sha1 => &[
                0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
                0x14,
            ],
            Self::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            Self::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            Self::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }

    /// AlgorithmIdentifier with absent parameters (RFC 5754 says SHOULD omit; NULL is accepted
    /// when reading).
    pub fn algorithm_identifier(self) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid: self.oid(),
            parameters: None,
        }
    }
}

/// The kind and size of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum KeyKind {
    /// RSA with the modulus size in bits.
    Rsa {
        /// Modulus size in bits.
        bits: usize,
    },
    /// ECDSA on NIST P-256.
    EcP256,
    /// ECDSA on NIST P-384.
    EcP384,
    /// ECDSA on NIST P-521.
    EcP521,
    /// Ed25519.
    Ed25519,
}

impl KeyKind {
    /// The largest signature this kind of key makes, as embedded (DER for ECDSA).
    pub fn max_signature_len(self) -> usize {
        match self {
            Self::Rsa { bits } => bits.div_ceil(8),
            // SEQUENCE { INTEGER r, INTEGER s }, each possibly with a leading zero.
            Self::EcP256 => 2 + 2 * (2 + 33),
            Self::EcP384 => 2 + 2 * (2 + 49),
            Self::EcP521 => 3 + 2 * (2 + 67),
            Self::Ed25519 => 64,
        }
    }

    /// Human description ("RSA 2048", "ECDSA P-256").
    pub fn describe(self) -> String {
        match self {
            Self::Rsa { bits } => format!("RSA {bits}"),
            Self::EcP256 => "ECDSA P-256".into(),
            Self::EcP384 => "ECDSA P-384".into(),
            Self::EcP521 => "ECDSA P-521".into(),
            Self::Ed25519 => "Ed25519".into(),
        }
    }
}

/// A signature algorithm: key type, padding and hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum SignatureAlgorithm {
    /// RSASSA-PKCS1-v1_5.
    RsaPkcs1(HashAlgorithm),
    /// RSASSA-PSS with MGF1 over the same hash and a salt as long as the hash.
    RsaPss(HashAlgorithm),
    /// ECDSA; the curve comes from the key.
    Ecdsa(HashAlgorithm),
    /// Ed25519 (pure).
    Ed25519,
}

impl SignatureAlgorithm {
    /// The digest the algorithm hashes the input with (`None` for Ed25519).
    pub fn hash(self) -> Option<HashAlgorithm> {
        match self {
            Self::RsaPkcs1(h) | Self::RsaPss(h) | Self::Ecdsa(h) => Some(h),
            Self::Ed25519 => None,
        }
    }

    /// Whether a key of `kind` can make this signature.
    pub fn fits(self, kind: KeyKind) -> bool {
        matches!(
            (self, kind),
            (Self::RsaPkcs1(_) | Self::RsaPss(_), KeyKind::Rsa { .. })
                | (
                    Self::Ecdsa(_),
                    KeyKind::EcP256 | KeyKind::EcP384 | KeyKind::EcP521
                )
                | (Self::Ed25519, KeyKind::Ed25519)
        )
    }

    /// The conventional name (`sha256WithRSAEncryption`, `RSASSA-PSS-SHA256`,
    /// `ecdsa-with-SHA256`, `Ed25519`).
    pub fn name(self) -> String {
        match self {
            Self::RsaPkcs1(h) => format!("{}WithRSAEncryption", h.name()),
            Self::RsaPss(h) => format!("RSASSA-PSS-{}", h.name().to_uppercase()),
            Self::Ecdsa(h) => format!("ecdsa-with-{}", h.name().to_uppercase()),
            Self::Ed25519 => "Ed25519".into(),
        }
    }

    /// The X.509 / CMS AlgorithmIdentifier for this signature algorithm (RFC 4055 §3.1 for PSS).
    pub fn algorithm_identifier(self) -> AlgorithmIdentifierOwned {
        use oids::*;
        let null = || Some(Any::from(Null));
        match self {
            Self::RsaPkcs1(h) => AlgorithmIdentifierOwned {
                oid: match h {
                    HashAlgorithm::Sha1 => SHA1_WITH_RSA,
                    HashAlgorithm::Sha256 => SHA256_WITH_RSA,
                    HashAlgorithm::Sha384 => SHA384_WITH_RSA,
                    HashAlgorithm::Sha512 => SHA512_WITH_RSA,
                },
                parameters: null(),
            },
            Self::Ecdsa(h) => AlgorithmIdentifierOwned {
                oid: match h {
                    HashAlgorithm::Sha1 => ECDSA_SHA1,
                    HashAlgorithm::Sha256 => ECDSA_SHA256,
                    HashAlgorithm::Sha384 => ECDSA_SHA384,
                    HashAlgorithm::Sha512 => ECDSA_SHA512,
                },
                parameters: None,
            },
            Self::Ed25519 => AlgorithmIdentifierOwned {
                oid: ED25519,
                parameters: None,
            },
            Self::RsaPss(h) => AlgorithmIdentifierOwned {
                oid: RSASSA_PSS,
                parameters: Some(pss_params(h)),
            },
        }
    }
}

/// RSASSA-PSS-params for `h` with MGF1(`h`), salt = hash length, trailer 1 (RFC 4055 §3.1).
fn pss_params(h: HashAlgorithm) -> Any {
    // Hand-assembled: SEQUENCE { [0] hashAlg, [1] maskGenAlg, [2] saltLength }.
    let hash_alg = AlgorithmIdentifierOwned {
        oid: h.oid(),
        parameters: Some(Any::from(Null)),
    };
    let hash_der = hash_alg.to_der().unwrap_or_default();
    let mgf = AlgorithmIdentifierOwned {
        oid: oids::MGF1,
        parameters: Some(Any::from_der(&hash_der).unwrap_or_else(|_| Any::from(Null))),
    };
    let mgf_der = mgf.to_der().unwrap_or_default();
    let salt = der::asn1::Uint::new(&[h.output_len() as u8])
        .and_then(|u| u.to_der())
        .unwrap_or_default();
    let mut body = Vec::new();
    push_tlv(&mut body, 0xa0, &hash_der);
    push_tlv(&mut body, 0xa1, &mgf_der);
    push_tlv(&mut body, 0xa2, &salt);
    let mut seq = Vec::new();
    push_tlv(&mut seq, 0x30, &body);
    Any::from_der(&seq).unwrap_or_else(|_| Any::from(Null))
}

use der::Decode;

fn push_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pss_identifier_matches_openssl_encoding() {
        // openssl: RSASSA-PSS, sha256, mgf1 sha256, salt 32.
        let der = SignatureAlgorithm::RsaPss(HashAlgorithm::Sha256)
            .algorithm_identifier()
            .to_der()
            .unwrap();
        assert_eq!(
            hex::encode(der),
            "304106092a864886f70d01010a3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120"
        );
    }

    #[test]
    fn digest_info_prefix_lengths() {
        for h in [
            HashAlgorithm::Sha1,
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha384,
            HashAlgorithm::Sha512,
        ] {
            let p = h.digest_info_prefix();
            assert_eq!(p[1] as usize + 2, p.len() + h.output_len());
        }
    }
}
