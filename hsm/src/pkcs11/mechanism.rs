//! Choosing the PKCS#11 mechanism for a signature algorithm from what the token offers
//! (C_GetMechanismList, PKCS#11 v2.40 §5.5; mechanisms from PKCS#11 Current Mechanisms §2.1,
//! §2.3): the token's hash-and-sign mechanism where present, else hash in software and use raw
//! CKM_RSA_PKCS over a DigestInfo (RFC 8017 §9.2), CKM_RSA_PKCS_PSS over the digest, or
//! CKM_ECDSA over the digest with the raw r||s output converted to DER (RFC 3279 §2.2.3).

use crate::{Error, HashAlgorithm, KeyKind, SignatureAlgorithm};
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use std::borrow::Cow;

/// How one signature algorithm is made on a particular token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Plan {
    /// The token hashes and signs (CKM_SHA256_RSA_PKCS, CKM_SHA256_RSA_PKCS_PSS,
    /// CKM_ECDSA_SHA256 ...).
    OnToken(SignatureAlgorithm),
    /// We hash; the token signs the digest (CKM_RSA_PKCS with DigestInfo, CKM_RSA_PKCS_PSS,
    /// CKM_ECDSA).
    HashHere(SignatureAlgorithm),
    /// CKM_EDDSA (pure Ed25519).
    Eddsa,
}

fn hash_mech(h: HashAlgorithm) -> MechanismType {
    match h {
        HashAlgorithm::Sha1 => MechanismType::SHA1,
        HashAlgorithm::Sha256 => MechanismType::SHA256,
        HashAlgorithm::Sha384 => MechanismType::SHA384,
        HashAlgorithm::Sha512 => MechanismType::SHA512,
    }
}

fn mgf(h: HashAlgorithm) -> PkcsMgfType {
    match h {
        HashAlgorithm::Sha1 => PkcsMgfType::MGF1_SHA1,
        HashAlgorithm::Sha256 => PkcsMgfType::MGF1_SHA256,
        HashAlgorithm::Sha384 => PkcsMgfType::MGF1_SHA384,
        HashAlgorithm::Sha512 => PkcsMgfType::MGF1_SHA512,
    }
}

fn pss_params(h: HashAlgorithm) -> PkcsPssParams {
    PkcsPssParams {
        hash_alg: hash_mech(h),
        mgf: mgf(h),
        s_len: (h.output_len() as u64).into(),
    }
}

/// The token's combined hash-and-sign mechanism for `alg`, if PKCS#11 defines one.
fn on_token_type(alg: SignatureAlgorithm) -> Option<MechanismType> {
    use HashAlgorithm::*;
    Some(match alg {
        SignatureAlgorithm::RsaPkcs1(Sha256) => MechanismType::SHA256_RSA_PKCS,
        SignatureAlgorithm::RsaPkcs1(Sha384) => MechanismType::SHA384_RSA_PKCS,
        SignatureAlgorithm::RsaPkcs1(Sha512) => MechanismType::SHA512_RSA_PKCS,
        SignatureAlgorithm::RsaPss(Sha256) => MechanismType::SHA256_RSA_PKCS_PSS,
        SignatureAlgorithm::RsaPss(Sha384) => MechanismType::SHA384_RSA_PKCS_PSS,
        SignatureAlgorithm::RsaPss(Sha512) => MechanismType::SHA512_RSA_PKCS_PSS,
        SignatureAlgorithm::Ecdsa(Sha256) => MechanismType::ECDSA_SHA256,
        SignatureAlgorithm::Ecdsa(Sha384) => MechanismType::ECDSA_SHA384,
        SignatureAlgorithm::Ecdsa(Sha512) => MechanismType::ECDSA_SHA512,
        _ => return None,
    })
}

/// The raw mechanism that signs a digest we computed.
fn raw_type(alg: SignatureAlgorithm) -> Option<MechanismType> {
    match alg {
        SignatureAlgorithm::RsaPkcs1(_) => Some(MechanismType::RSA_PKCS),
        SignatureAlgorithm::RsaPss(_) => Some(MechanismType::RSA_PKCS_PSS),
        SignatureAlgorithm::Ecdsa(_) => Some(MechanismType::ECDSA),
        _ => None,
    }
}

/// Every mechanism [`choose`] may pick, to ask the token about.
pub const SIGNING_MECHANISMS: &[MechanismType] = &[
    MechanismType::RSA_PKCS,
    MechanismType::RSA_PKCS_PSS,
    MechanismType::SHA256_RSA_PKCS,
    MechanismType::SHA384_RSA_PKCS,
    MechanismType::SHA512_RSA_PKCS,
    MechanismType::SHA256_RSA_PKCS_PSS,
    MechanismType::SHA384_RSA_PKCS_PSS,
    MechanismType::SHA512_RSA_PKCS_PSS,
    MechanismType::ECDSA,
    MechanismType::ECDSA_SHA256,
    MechanismType::ECDSA_SHA384,
    MechanismType::ECDSA_SHA512,
    MechanismType::EDDSA,
];

/// The algorithms a key of `kind` can sign with, most preferred first.
pub fn candidates(kind: KeyKind) -> Vec<SignatureAlgorithm> {
    use HashAlgorithm::*;
    use SignatureAlgorithm::*;
    match kind {
        KeyKind::Rsa { .. } => vec![
            RsaPkcs1(Sha256),
            RsaPss(Sha256),
            RsaPkcs1(Sha384),
            RsaPss(Sha384),
            RsaPkcs1(Sha512),
            RsaPss(Sha512),
        ],
        KeyKind::EcP256 => vec![Ecdsa(Sha256), Ecdsa(Sha384), Ecdsa(Sha512)],
        KeyKind::EcP384 => vec![Ecdsa(Sha384), Ecdsa(Sha512), Ecdsa(Sha256)],
        KeyKind::EcP521 => vec![Ecdsa(Sha512), Ecdsa(Sha384), Ecdsa(Sha256)],
        KeyKind::Ed25519 => vec![Ed25519],
        #[allow(unreachable_patterns)]
        _ => Vec::new(),
    }
}

/// For each algorithm a key of `kind` can do with the token's `mechanisms`, how to do it.
pub fn choose(kind: KeyKind, mechanisms: &[MechanismType]) -> Vec<(SignatureAlgorithm, Plan)> {
    let has = |m: MechanismType| mechanisms.contains(&m);
    candidates(kind)
        .into_iter()
        .filter_map(|alg| {
            if alg == SignatureAlgorithm::Ed25519 {
                return has(MechanismType::EDDSA).then_some((alg, Plan::Eddsa));
            }
            if on_token_type(alg).is_some_and(has) {
                Some((alg, Plan::OnToken(alg)))
            } else if raw_type(alg).is_some_and(has) {
                Some((alg, Plan::HashHere(alg)))
            } else {
                None
            }
        })
        .collect()
}

impl Plan {
    /// The PKCS#11 mechanism (with parameters) for C_SignInit.
    pub fn mechanism(&self) -> Mechanism<'static> {
        use HashAlgorithm::*;
        use SignatureAlgorithm::*;
        match *self {
            Plan::Eddsa => Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure)),
            Plan::OnToken(alg) => match alg {
                RsaPkcs1(Sha384) => Mechanism::Sha384RsaPkcs,
                RsaPkcs1(Sha512) => Mechanism::Sha512RsaPkcs,
                RsaPkcs1(_) => Mechanism::Sha256RsaPkcs,
                RsaPss(Sha384) => Mechanism::Sha384RsaPkcsPss(pss_params(Sha384)),
                RsaPss(Sha512) => Mechanism::Sha512RsaPkcsPss(pss_params(Sha512)),
                RsaPss(_) => Mechanism::Sha256RsaPkcsPss(pss_params(Sha256)),
                Ecdsa(Sha384) => Mechanism::EcdsaSha384,
                Ecdsa(Sha512) => Mechanism::EcdsaSha512,
                _ => Mechanism::EcdsaSha256,
            },
            Plan::HashHere(alg) => match alg {
                RsaPss(h) => Mechanism::RsaPkcsPss(pss_params(h)),
                Ecdsa(_) => Mechanism::Ecdsa,
                _ => Mechanism::RsaPkcs,
            },
        }
    }

    /// The bytes handed to C_Sign.
    pub fn input<'a>(&self, to_be_signed: &'a [u8]) -> Cow<'a, [u8]> {
        match *self {
            Plan::OnToken(_) | Plan::Eddsa => Cow::Borrowed(to_be_signed),
            Plan::HashHere(SignatureAlgorithm::RsaPkcs1(h)) => {
                let mut v = h.digest_info_prefix().to_vec();
                v.extend_from_slice(&h.digest(to_be_signed));
                Cow::Owned(v)
            }
            Plan::HashHere(alg) => match alg.hash() {
                Some(h) => Cow::Owned(h.digest(to_be_signed)),
                None => Cow::Borrowed(to_be_signed),
            },
        }
    }

    /// Whether the token's output is a raw ECDSA r||s that we convert to DER.
    fn is_ecdsa(&self) -> bool {
        matches!(
            self,
            Plan::OnToken(SignatureAlgorithm::Ecdsa(_))
                | Plan::HashHere(SignatureAlgorithm::Ecdsa(_))
        )
    }

    /// The signature as embedded: DER for ECDSA, as is otherwise.
    pub fn output(&self, raw: Vec<u8>) -> Result<Vec<u8>, Error> {
        if self.is_ecdsa() {
            ecdsa_raw_to_der(&raw)
        } else {
            Ok(raw)
        }
    }

    /// A short description for listings ("CKM_SHA256_RSA_PKCS", "CKM_RSA_PKCS + software SHA-256").
    pub fn describe(&self) -> String {
        match *self {
            Plan::Eddsa => "CKM_EDDSA".into(),
            Plan::OnToken(alg) => on_token_type(alg)
                .map(|m| m.to_string())
                .unwrap_or_default(),
            Plan::HashHere(alg) => format!(
                "{} + software {}",
                raw_type(alg).map(|m| m.to_string()).unwrap_or_default(),
                alg.hash().map(|h| h.name()).unwrap_or("")
            ),
        }
    }
}

/// ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } from the PKCS#11 r||s form.
pub fn ecdsa_raw_to_der(raw: &[u8]) -> Result<Vec<u8>, Error> {
    if raw.is_empty() || raw.len() % 2 != 0 {
        return Err(Error::SigningFailed {
            reason: format!("the token returned a {}-byte ECDSA signature", raw.len()),
        });
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let mut body = Vec::with_capacity(raw.len() + 8);
    for half in [r, s] {
        let int = der_uint(half);
        body.push(0x02);
        push_len(&mut body, int.len());
        body.extend_from_slice(&int);
    }
    let mut out = vec![0x30];
    push_len(&mut out, body.len());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Minimal positive INTEGER contents for a big-endian unsigned value.
fn der_uint(b: &[u8]) -> Vec<u8> {
    let start = b
        .iter()
        .position(|&x| x != 0)
        .unwrap_or(b.len().saturating_sub(1));
    let b = &b[start..];
    let mut v = Vec::with_capacity(b.len() + 1);
    if b.first().is_none_or(|&x| x & 0x80 != 0) {
        v.push(0);
    }
    v.extend_from_slice(b);
    v
}

pub(crate) fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(bytes.len() - 1);
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_ecdsa_to_der() {
        let mut raw = vec![0u8; 64];
        raw[0] = 0x80; // r needs a leading zero
        raw[63] = 0x01; // s is 1
        let der = ecdsa_raw_to_der(&raw).unwrap();
        assert_eq!(der[0], 0x30);
        assert_eq!(&der[2..5], &[0x02, 33, 0x00]);
        assert_eq!(&der[der.len() - 3..], &[0x02, 0x01, 0x01]);
        assert_eq!(der[1] as usize, der.len() - 2);
        assert!(ecdsa_raw_to_der(&[1, 2, 3]).is_err());
    }

    #[test]
    fn chooses_hash_and_sign_first_then_raw() {
        let softhsm = [
            MechanismType::RSA_PKCS,
            MechanismType::SHA256_RSA_PKCS,
            MechanismType::RSA_PKCS_PSS,
            MechanismType::ECDSA,
        ];
        let plans = choose(KeyKind::Rsa { bits: 2048 }, &softhsm);
        assert_eq!(
            plans[0],
            (
                SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha256),
                Plan::OnToken(SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha256))
            )
        );
        assert!(plans.contains(&(
            SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha384),
            Plan::HashHere(SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha384))
        )));
        let ec = choose(KeyKind::EcP256, &softhsm);
        assert_eq!(
            ec[0],
            (
                SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha256),
                Plan::HashHere(SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha256))
            )
        );
        assert!(choose(KeyKind::Ed25519, &softhsm).is_empty());
    }

    #[test]
    fn digest_info_input() {
        let p = Plan::HashHere(SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha256));
        let inp = p.input(b"abc");
        assert_eq!(inp.len(), 19 + 32);
        assert_eq!(&inp[..19], HashAlgorithm::Sha256.digest_info_prefix());
    }
}
