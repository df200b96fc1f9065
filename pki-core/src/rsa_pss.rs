//! RSASSA-PSS verification with any salt length (RFC 8017 §8.1.2, §9.1.2).
//!
//! aws-lc-rs verifies PSS only with a salt as long as the hash. Signers in the wild also use
//! other lengths (OpenSSL's default is the maximum, some tokens use 0 or 20), and the salt
//! length is stated in the AlgorithmIdentifier (RFC 4055 §3.1). For those, the public-key
//! operation and EMSA-PSS-VERIFY are done here. Only public data is involved, so constant time
//! does not matter.

use crate::asn1::{tag, Reader};
use hsm::HashAlgorithm;
use num_bigint::BigUint;

/// The salt length an RSASSA-PSS AlgorithmIdentifier states (`[2] INTEGER`, default 20), or
/// `None` when the parameters cannot be read (the caller has refused those already).
pub(crate) fn salt_len(alg_id: &[u8]) -> Option<usize> {
    let mut r = Reader::der(alg_id);
    let seq = r.expect(tag::SEQUENCE).ok()?;
    let mut s = r.nested(&seq);
    s.expect(tag::OID).ok()?;
    let Some(params) = s.optional(tag::SEQUENCE).ok()? else {
        return Some(20);
    };
    let mut p = s.nested(&params);
    let _ = p.optional(tag::ctx(0)).ok()?;
    let _ = p.optional(tag::ctx(1)).ok()?;
    let Some(sl) = p.optional(tag::ctx(2)).ok()? else {
        return Some(20);
    };
    let mut sr = p.nested(&sl);
    let int = sr.expect(tag::INTEGER).ok()?;
    let mut v: usize = 0;
    if int.content.len() > 4 || int.content.first().is_some_and(|b| b & 0x80 != 0) {
        return None;
    }
    for b in int.content {
        v = (v << 8) | usize::from(*b);
    }
    Some(v)
}

/// The modulus and public exponent of a PKCS#1 RSAPublicKey.
fn rsa_public(pkcs1: &[u8]) -> Option<(BigUint, BigUint)> {
    let mut r = Reader::der(pkcs1);
    let seq = r.expect(tag::SEQUENCE).ok()?;
    let mut s = r.nested(&seq);
    let n = s.expect(tag::INTEGER).ok()?;
    let e = s.expect(tag::INTEGER).ok()?;
    Some((
        BigUint::from_bytes_be(n.content),
        BigUint::from_bytes_be(e.content),
    ))
}

/// MGF1 (RFC 8017 §B.2.1) with `hash`.
fn mgf1(hash: HashAlgorithm, seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + hash.output_len());
    let mut counter: u32 = 0;
    while out.len() < len {
        let mut input = seed.to_vec();
        input.extend_from_slice(&counter.to_be_bytes());
        out.extend_from_slice(&hash.digest(&input));
        counter += 1;
    }
    out.truncate(len);
    out
}

/// Whether `signature` is an RSASSA-PSS signature over `message` by the key `pkcs1` (a PKCS#1
/// RSAPublicKey), with `hash` for the message, MGF1 and the salt of `salt_len` bytes.
pub(crate) fn verify(
    pkcs1: &[u8],
    hash: HashAlgorithm,
    salt_len: usize,
    message: &[u8],
    signature: &[u8],
) -> bool {
    let Some((n, e)) = rsa_public(pkcs1) else {
        return false;
    };
    let mod_bits = n.bits() as usize;
    let k = mod_bits.div_ceil(8);
    // RSAVP1 (§5.2.2): s must be the length of the modulus and below it.
    if signature.len() != k || mod_bits < 512 {
        return false;
    }
    let s = BigUint::from_bytes_be(signature);
    if s >= n {
        return false;
    }
    let m = s.modpow(&e, &n).to_bytes_be();
    let em_bits = mod_bits - 1;
    let em_len = em_bits.div_ceil(8);
    if m.len() > em_len {
        return false;
    }
    let mut em = vec![0u8; em_len - m.len()];
    em.extend_from_slice(&m);
    // EMSA-PSS-VERIFY (§9.1.2).
    let h_len = hash.output_len();
    let m_hash = hash.digest(message);
    if em_len < h_len + salt_len + 2 || em[em_len - 1] != 0xbc {
        return false;
    }
    let (masked_db, rest) = em.split_at(em_len - h_len - 1);
    let h = &rest[..h_len];
    let zero_bits = 8 * em_len - em_bits;
    let top_mask = 0xffu8 >> zero_bits;
    if masked_db[0] & !top_mask != 0 {
        return false;
    }
    let mut db: Vec<u8> = masked_db
        .iter()
        .zip(mgf1(hash, h, masked_db.len()))
        .map(|(a, b)| a ^ b)
        .collect();
    db[0] &= top_mask;
    let ps_len = em_len - h_len - salt_len - 2;
    if db[..ps_len].iter().any(|&b| b != 0) || db[ps_len] != 0x01 {
        return false;
    }
    let salt = &db[db.len() - salt_len..];
    let mut m_prime = vec![0u8; 8];
    m_prime.extend_from_slice(&m_hash);
    m_prime.extend_from_slice(salt);
    hash.digest(&m_prime) == h
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// OpenSSL signs with salt lengths 0, 20, the hash length and its maximum; each verifies
    /// here, and a flipped bit or another salt length does not.
    #[test]
    fn openssl_pss_signatures_with_any_salt_length() {
        let Ok(o) = Command::new("openssl").arg("version").output() else {
            return;
        };
        if !o.status.success() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("k.pem");
        let pubkey = dir.path().join("p.der");
        let msg = dir.path().join("m");
        std::fs::write(&msg, "Quyết định số 15/QĐ-UBND").unwrap();
        let ok = |c: &mut Command| assert!(c.status().unwrap().success());
        ok(Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
            ])
            .arg(&key));
        ok(Command::new("openssl")
            .args(["pkey", "-pubout", "-outform", "DER", "-in"])
            .arg(&key)
            .arg("-out")
            .arg(&pubkey));
        let spki = std::fs::read(&pubkey).unwrap();
        let pk = crate::crypto::PublicKey::from_spki(&spki).unwrap();
        for (salt, expect_len) in [("0", 0), ("20", 20), ("digest", 32), ("max", 222)] {
            let sig = dir.path().join(format!("s{salt}"));
            ok(Command::new("openssl")
                .args(["dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss"])
                .args(["-sigopt", &format!("rsa_pss_saltlen:{salt}"), "-sign"])
                .arg(&key)
                .arg("-out")
                .arg(&sig)
                .arg(&msg));
            let s = std::fs::read(&sig).unwrap();
            let m = std::fs::read(&msg).unwrap();
            assert!(
                verify(&pk.raw, HashAlgorithm::Sha256, expect_len, &m, &s),
                "salt {salt}"
            );
            assert!(
                !verify(&pk.raw, HashAlgorithm::Sha256, expect_len + 1, &m, &s),
                "salt {salt} accepted with another length"
            );
            let mut bad = s.clone();
            bad[100] ^= 1;
            assert!(!verify(
                &pk.raw,
                HashAlgorithm::Sha256,
                expect_len,
                &m,
                &bad
            ));
            assert!(!verify(
                &pk.raw,
                HashAlgorithm::Sha256,
                expect_len,
                b"other",
                &s
            ));
        }
    }

    #[test]
    fn salt_length_from_the_algorithm_identifier() {
        use der::Encode;
        let id = hsm::SignatureAlgorithm::RsaPss(HashAlgorithm::Sha384)
            .algorithm_identifier()
            .to_der()
            .unwrap();
        assert_eq!(salt_len(&id), Some(48));
        // RSASSA-PSS with absent parameters: SHA-1 and a 20-byte salt.
        let bare = [
            0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a,
        ];
        assert_eq!(salt_len(&bare), Some(20));
    }
}
