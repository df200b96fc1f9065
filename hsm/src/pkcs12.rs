//! PKCS#12 key stores (RFC 7292): the private key and its certificates, leaf first.
//!
//! Reads what `openssl pkcs12 -export` makes with OpenSSL 3 (PBES2: PBKDF2-HMAC-SHA256 +
//! AES-256-CBC, RFC 8018 §6.2; MAC HMAC-SHA256) and what older tools and Windows export
//! (pbeWithSHAAnd3-KeyTripleDES-CBC for keys, pbeWithSHAAnd40BitRC2-CBC for certificates, MAC
//! HMAC-SHA1; RFC 7292 Appendix B/C). The MAC is verified before anything is decrypted, so a
//! wrong password is [`Error::WrongPassword`], not a decryption failure.
//!
//! Parsing is a small BER reader (definite and indefinite lengths, constructed OCTET STRINGs),
//! because Windows writes PKCS#12 files in BER.

use crate::{Error, SecretString, Signer, SoftwareKey};
use aws_lc_rs::{cipher, digest, hmac, pbkdf2};
use std::num::NonZeroU32;
use zeroize::Zeroizing;

// OIDs as DER content bytes.
const ID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
const ID_ENCRYPTED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x06];
const KEY_BAG: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x01,
];
const SHROUDED_KEY_BAG: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x02,
];
const CERT_BAG: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x03,
];
const SAFE_CONTENTS_BAG: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x06,
];
const X509_CERTIFICATE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x16, 0x01];
const PBES2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d];
const PBKDF2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0c];
const PBE_SHA_3DES: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01, 0x03];
const PBE_SHA_2DES: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01, 0x04];
const PBE_SHA_RC2_128: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01, 0x05];
const PBE_SHA_RC2_40: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01, 0x06];
const HMAC_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x07];
const HMAC_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x09];
const HMAC_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x0a];
const HMAC_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x0b];
const AES128_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02];
const AES192_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x16];
const AES256_CBC: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a];
const DES_EDE3_CBC: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x03, 0x07];
const SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
const SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
const SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
const SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];

/// Refuse absurd iteration counts (a hostile file could ask for billions).
const MAX_ITERATIONS: u64 = 10_000_000;

/// One BER element.
#[derive(Clone, Debug)]
struct Tlv<'a> {
    tag: u8,
    /// Content octets (for indefinite lengths, without the end-of-contents marker).
    content: &'a [u8],
    /// The whole encoding: tag, length, content (and end-of-contents).
    raw: &'a [u8],
}

type R<T> = Result<T, String>;

/// Reads one element from `input`, returning it and the rest.
fn read_tlv(input: &[u8]) -> R<(Tlv<'_>, &[u8])> {
    let (&tag, rest) = input.split_first().ok_or("truncated")?;
    if tag & 0x1f == 0x1f {
        return Err("multi-byte tags are not used in PKCS#12".into());
    }
    let (&first, rest) = rest.split_first().ok_or("truncated")?;
    if first == 0x80 {
        if tag & 0x20 == 0 {
            return Err("indefinite length on a primitive element".into());
        }
        // Indefinite: children until 00 00.
        let mut cur = rest;
        loop {
            if cur.len() >= 2 && cur[0] == 0 && cur[1] == 0 {
                let content_len = rest.len() - cur.len();
                let total = input.len() - cur.len() + 2;
                return Ok((
                    Tlv {
                        tag,
                        content: &rest[..content_len],
                        raw: &input[..total],
                    },
                    &cur[2..],
                ));
            }
            let (_, next) = read_tlv(cur)?;
            cur = next;
        }
    }
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n > 4 || rest.len() < n {
            return Err("bad length".into());
        }
        let len = rest[..n].iter().fold(0usize, |a, &b| (a << 8) | b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return Err("truncated".into());
    }
    let total = input.len() - rest.len() + len;
    Ok((
        Tlv {
            tag,
            content: &rest[..len],
            raw: &input[..total],
        },
        &rest[len..],
    ))
}

impl<'a> Tlv<'a> {
    fn children(&self) -> R<Vec<Tlv<'a>>> {
        let mut out = Vec::new();
        let mut cur = self.content;
        while !cur.is_empty() {
            let (t, rest) = read_tlv(cur)?;
            out.push(t);
            cur = rest;
        }
        Ok(out)
    }

    fn expect(&self, tag: u8, what: &str) -> R<&Self> {
        if self.tag == tag {
            Ok(self)
        } else {
            Err(format!(
                "{what}: expected tag {tag:#04x}, found {:#04x}",
                self.tag
            ))
        }
    }

    /// OCTET STRING contents, primitive or constructed (BER).
    fn octets(&self) -> R<Vec<u8>> {
        match self.tag & !0x80 & !0x40 {
            0x04 => Ok(self.content.to_vec()),
            0x24 => {
                let mut v = Vec::new();
                for c in self.children()? {
                    v.extend(c.octets()?);
                }
                Ok(v)
            }
            // [0] IMPLICIT OCTET STRING in EncryptedContentInfo.
            0x00 => Ok(self.content.to_vec()),
            0x20 => {
                let mut v = Vec::new();
                for c in self.children()? {
                    v.extend(c.octets()?);
                }
                Ok(v)
            }
            _ => Err(format!(
                "expected an OCTET STRING, found tag {:#04x}",
                self.tag
            )),
        }
    }

    fn uint(&self) -> R<u64> {
        self.expect(0x02, "INTEGER")?;
        if self.content.len() > 8 || self.content.first().is_some_and(|b| b & 0x80 != 0) {
            return Err("INTEGER out of range".into());
        }
        Ok(self.content.iter().fold(0u64, |a, &b| (a << 8) | b as u64))
    }
}

fn parse_all(der: &[u8]) -> R<Tlv<'_>> {
    let (t, _rest) = read_tlv(der)?;
    Ok(t)
}

/// `[0] EXPLICIT` wrapper's single child.
fn explicit0<'a>(t: &Tlv<'a>) -> R<Tlv<'a>> {
    t.expect(0xa0, "[0] EXPLICIT")?;
    t.children()?
        .into_iter()
        .next()
        .ok_or_else(|| "empty [0]".into())
}

/// A key and certificates read from a PKCS#12 file.
#[derive(Default)]
struct Contents {
    keys: Vec<Zeroizing<Vec<u8>>>,
    certs: Vec<Vec<u8>>,
}

/// The password as PKCS#12's KDF and MAC want it: BMPString (UTF-16BE) with a terminating NUL
/// (RFC 7292 B.1). An empty password is two zero bytes.
fn bmp_password(pw: &str) -> Zeroizing<Vec<u8>> {
    let mut v = Zeroizing::new(Vec::with_capacity(pw.len() * 2 + 2));
    for u in pw.encode_utf16() {
        v.extend_from_slice(&u.to_be_bytes());
    }
    v.extend_from_slice(&[0, 0]);
    v
}

#[derive(Clone, Copy)]
enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn from_oid(oid: &[u8]) -> R<Self> {
        Ok(match oid {
            SHA1 => Self::Sha1,
            SHA256 => Self::Sha256,
            SHA384 => Self::Sha384,
            SHA512 => Self::Sha512,
            _ => return Err("unsupported MAC digest".into()),
        })
    }
    fn digest(self) -> &'static digest::Algorithm {
        match self {
            Self::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => &digest::SHA256,
            Self::Sha384 => &digest::SHA384,
            Self::Sha512 => &digest::SHA512,
        }
    }
    fn hmac(self) -> hmac::Algorithm {
        match self {
            Self::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            Self::Sha256 => hmac::HMAC_SHA256,
            Self::Sha384 => hmac::HMAC_SHA384,
            Self::Sha512 => hmac::HMAC_SHA512,
        }
    }
    /// (u, v): output and block size in bytes.
    fn sizes(self) -> (usize, usize) {
        match self {
            Self::Sha1 => (20, 64),
            Self::Sha256 => (32, 64),
            Self::Sha384 => (48, 128),
            Self::Sha512 => (64, 128),
        }
    }
}

/// The PKCS#12 key derivation function (RFC 7292 Appendix B.2).
fn pkcs12_kdf(
    hash: Hash,
    password: &[u8],
    salt: &[u8],
    id: u8,
    iterations: u64,
    n: usize,
) -> Zeroizing<Vec<u8>> {
    let (u, v) = hash.sizes();
    let fill = |src: &[u8]| -> Vec<u8> {
        if src.is_empty() {
            return Vec::new();
        }
        let len = v * src.len().div_ceil(v);
        src.iter().copied().cycle().take(len).collect()
    };
    let d = vec![id; v];
    let mut i: Zeroizing<Vec<u8>> = Zeroizing::new([fill(salt), fill(password)].concat());
    let mut out = Zeroizing::new(Vec::with_capacity(n + u));
    while out.len() < n {
        let mut ctx = digest::Context::new(hash.digest());
        ctx.update(&d);
        ctx.update(&i);
        let mut a = ctx.finish().as_ref().to_vec();
        for _ in 1..iterations {
            a = digest::digest(hash.digest(), &a).as_ref().to_vec();
        }
        out.extend_from_slice(&a);
        if out.len() >= n {
            break;
        }
        let b: Vec<u8> = a.iter().copied().cycle().take(v).collect();
        for block in i.chunks_mut(v) {
            // block = (block + b + 1) mod 2^(8v)
            let mut carry = 1u16;
            for k in (0..v).rev() {
                let s = block[k] as u16 + b[k] as u16 + carry;
                block[k] = s as u8;
                carry = s >> 8;
            }
        }
    }
    out.truncate(n);
    out
}

fn iterations_of(t: &Tlv<'_>) -> R<u64> {
    let n = t.uint()?;
    if n == 0 || n > MAX_ITERATIONS {
        return Err(format!("unreasonable iteration count {n}"));
    }
    Ok(n)
}

/// Verifies the MacData over the authSafe contents (RFC 7292 §4, §5.1).
fn verify_mac(mac_data: &Tlv<'_>, auth_safe: &[u8], password: &[u8]) -> R<bool> {
    let parts = mac_data.children()?;
    let digest_info = parts.first().ok_or("MacData is empty")?.children()?;
    let alg = digest_info
        .first()
        .ok_or("DigestInfo is empty")?
        .children()?;
    let hash = Hash::from_oid(
        alg.first()
            .ok_or("no MAC algorithm")?
            .expect(0x06, "OID")?
            .content,
    )?;
    let expected = digest_info.get(1).ok_or("no MAC value")?.octets()?;
    let salt = parts.get(1).ok_or("no MAC salt")?.octets()?;
    let iterations = match parts.get(2) {
        Some(t) => iterations_of(t)?,
        None => 1,
    };
    let (u, _) = hash.sizes();
    let key = pkcs12_kdf(hash, password, &salt, 3, iterations, u);
    let key = hmac::Key::new(hash.hmac(), &key);
    Ok(hmac::verify(&key, auth_safe, &expected).is_ok())
}

fn cbc_decrypt_des3(key: &[u8], iv: &[u8], data: &mut Vec<u8>) -> R<()> {
    use cbc::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
    let dec = cbc::Decryptor::<des::TdesEde3>::new_from_slices(key, iv)
        .map_err(|_| "bad 3DES key or IV".to_string())?;
    let n = dec
        .decrypt_padded_mut::<Pkcs7>(data)
        .map_err(|_| "decryption failed".to_string())?
        .len();
    data.truncate(n);
    Ok(())
}

fn cbc_decrypt_des2(key: &[u8], iv: &[u8], data: &mut Vec<u8>) -> R<()> {
    // Two-key triple DES: K3 = K1.
    let mut k = key[..16.min(key.len())].to_vec();
    k.extend_from_slice(&key[..8.min(key.len())]);
    cbc_decrypt_des3(&k, iv, data)
}

fn cbc_decrypt_rc2(key: &[u8], eff_bits: usize, iv: &[u8], data: &mut Vec<u8>) -> R<()> {
    use cbc::cipher::{block_padding::Pkcs7, BlockDecryptMut, InnerIvInit};
    let cipher = rc2::Rc2::new_with_eff_key_len(key, eff_bits);
    let dec = cbc::Decryptor::<rc2::Rc2>::inner_iv_slice_init(cipher, iv)
        .map_err(|_| "bad RC2 IV".to_string())?;
    let n = dec
        .decrypt_padded_mut::<Pkcs7>(data)
        .map_err(|_| "decryption failed".to_string())?
        .len();
    data.truncate(n);
    Ok(())
}

fn aes_cbc_decrypt(
    alg: &'static cipher::Algorithm,
    key: &[u8],
    iv: &[u8],
    data: &mut [u8],
) -> R<usize> {
    let key = cipher::UnboundCipherKey::new(alg, key).map_err(|_| "bad AES key".to_string())?;
    let key =
        cipher::PaddedBlockDecryptingKey::cbc_pkcs7(key).map_err(|_| "bad AES key".to_string())?;
    let iv: [u8; 16] = iv.try_into().map_err(|_| "bad AES IV".to_string())?;
    let out = key
        .decrypt(data, cipher::DecryptionContext::Iv128(iv.into()))
        .map_err(|_| "decryption failed".to_string())?;
    Ok(out.len())
}

/// Decrypts `data` encrypted under AlgorithmIdentifier `alg` with `password`.
fn decrypt(alg: &Tlv<'_>, data: Vec<u8>, password: &str) -> R<Zeroizing<Vec<u8>>> {
    let parts = alg.children()?;
    let oid = parts
        .first()
        .ok_or("empty AlgorithmIdentifier")?
        .expect(0x06, "OID")?
        .content;
    let params = parts.get(1).ok_or("no encryption parameters")?;
    let mut data = Zeroizing::new(data);
    match oid {
        PBE_SHA_3DES | PBE_SHA_2DES | PBE_SHA_RC2_40 | PBE_SHA_RC2_128 => {
            let p = params.children()?;
            let salt = p.first().ok_or("no salt")?.octets()?;
            let iterations = iterations_of(p.get(1).ok_or("no iteration count")?)?;
            let pw = bmp_password(password);
            let key_len = match oid {
                PBE_SHA_3DES => 24,
                PBE_SHA_2DES => 16,
                PBE_SHA_RC2_40 => 5,
                _ => 16,
            };
            let key = pkcs12_kdf(Hash::Sha1, &pw, &salt, 1, iterations, key_len);
            let iv = pkcs12_kdf(Hash::Sha1, &pw, &salt, 2, iterations, 8);
            match oid {
                PBE_SHA_3DES => cbc_decrypt_des3(&key, &iv, &mut data)?,
                PBE_SHA_2DES => cbc_decrypt_des2(&key, &iv, &mut data)?,
                PBE_SHA_RC2_40 => cbc_decrypt_rc2(&key, 40, &iv, &mut data)?,
                _ => cbc_decrypt_rc2(&key, 128, &iv, &mut data)?,
            }
            Ok(data)
        }
        PBES2 => {
            let p = params.children()?;
            let kdf = p.first().ok_or("no key derivation function")?.children()?;
            let scheme = p.get(1).ok_or("no encryption scheme")?.children()?;
            if kdf.first().map(|t| t.content) != Some(PBKDF2) {
                return Err("only PBKDF2 is supported in PBES2".into());
            }
            let kp = kdf.get(1).ok_or("no PBKDF2 parameters")?.children()?;
            let salt = kp.first().ok_or("no salt")?.octets()?;
            let iterations = iterations_of(kp.get(1).ok_or("no iteration count")?)?;
            // Optional keyLength INTEGER, then optional prf AlgorithmIdentifier.
            let prf = kp
                .iter()
                .skip(2)
                .find(|t| t.tag == 0x30)
                .map(|t| t.children())
                .transpose()?
                .and_then(|c| c.first().map(|o| o.content.to_vec()))
                .unwrap_or_else(|| HMAC_SHA1.to_vec());
            let prf = match prf.as_slice() {
                HMAC_SHA1 => pbkdf2::PBKDF2_HMAC_SHA1,
                HMAC_SHA256 => pbkdf2::PBKDF2_HMAC_SHA256,
                HMAC_SHA384 => pbkdf2::PBKDF2_HMAC_SHA384,
                HMAC_SHA512 => pbkdf2::PBKDF2_HMAC_SHA512,
                _ => return Err("unsupported PBKDF2 PRF".into()),
            };
            let enc_oid = scheme.first().ok_or("no cipher")?.content;
            let iv = scheme.get(1).ok_or("no IV")?.octets()?;
            let key_len = match enc_oid {
                AES128_CBC => 16,
                AES192_CBC => 24,
                AES256_CBC => 32,
                DES_EDE3_CBC => 24,
                _ => return Err("unsupported PBES2 cipher".into()),
            };
            let mut key = Zeroizing::new(vec![0u8; key_len]);
            let iters = NonZeroU32::new(iterations as u32).ok_or("zero iterations")?;
            // PBES2 in PKCS#12 takes the password as its UTF-8 bytes (what OpenSSL does).
            pbkdf2::derive(prf, iters, &salt, password.as_bytes(), &mut key);
            match enc_oid {
                DES_EDE3_CBC => {
                    cbc_decrypt_des3(&key, &iv, &mut data)?;
                    Ok(data)
                }
                _ => {
                    let alg = match enc_oid {
                        AES128_CBC => &cipher::AES_128,
                        AES192_CBC => &cipher::AES_192,
                        _ => &cipher::AES_256,
                    };
                    let n = aes_cbc_decrypt(alg, &key, &iv, &mut data)?;
                    data.truncate(n);
                    Ok(data)
                }
            }
        }
        _ => Err("unsupported encryption algorithm".into()),
    }
}

fn read_safe_contents(der: &[u8], password: &str, out: &mut Contents) -> R<()> {
    let seq = parse_all(der)?;
    for bag in seq.children()? {
        let parts = bag.children()?;
        let id = parts
            .first()
            .ok_or("empty SafeBag")?
            .expect(0x06, "bagId")?
            .content;
        let value = explicit0(parts.get(1).ok_or("SafeBag has no value")?)?;
        match id {
            KEY_BAG => out.keys.push(Zeroizing::new(value.raw.to_vec())),
            SHROUDED_KEY_BAG => {
                let p = value.children()?;
                let alg = p.first().ok_or("no key encryption algorithm")?;
                let data = p.get(1).ok_or("no encrypted key")?.octets()?;
                out.keys.push(decrypt(alg, data, password)?);
            }
            CERT_BAG => {
                let p = value.children()?;
                if p.first().map(|t| t.content) == Some(X509_CERTIFICATE) {
                    let v = explicit0(p.get(1).ok_or("empty CertBag")?)?;
                    out.certs.push(v.octets()?);
                }
            }
            SAFE_CONTENTS_BAG => read_safe_contents(value.raw, password, out)?,
            _ => {} // CRL and secret bags are of no use to a signer.
        }
    }
    Ok(())
}

fn parse(der: &[u8], password: &SecretString, what: &str) -> Result<Contents, Error> {
    let bad = |reason: String| Error::BadKey {
        what: what.into(),
        reason: format!("not a readable PKCS#12 file ({reason})"),
    };
    let pfx = parse_all(der).map_err(bad)?;
    let parts = pfx.children().map_err(bad)?;
    let version = parts
        .first()
        .ok_or_else(|| bad("empty".into()))?
        .uint()
        .map_err(bad)?;
    if version != 3 {
        return Err(bad(format!("version {version}, expected 3")));
    }
    let auth_safe = parts.get(1).ok_or_else(|| bad("no authSafe".into()))?;
    let ci = auth_safe.children().map_err(bad)?;
    if ci.first().map(|t| t.content) != Some(ID_DATA) {
        return Err(bad("public-key integrity mode is not supported".into()));
    }
    let content = explicit0(ci.get(1).ok_or_else(|| bad("no content".into()))?)
        .and_then(|t| t.octets())
        .map_err(bad)?;
    // Which password encoding works: the usual BMPString, or for an empty password also the
    // absent one (OpenSSL tries both).
    let mut pw = password.expose().to_owned();
    if let Some(mac) = parts.get(2) {
        let mut candidates = vec![bmp_password(password.expose())];
        if password.is_empty() {
            candidates.push(Zeroizing::new(Vec::new()));
        }
        let mut ok = false;
        for c in &candidates {
            if verify_mac(mac, &content, c).map_err(bad)? {
                ok = true;
                break;
            }
        }
        if !ok {
            return Err(Error::WrongPassword { what: what.into() });
        }
    }
    let mut out = Contents::default();
    let safe = parse_all(&content).map_err(bad)?;
    for ci in safe.children().map_err(bad)? {
        let p = ci.children().map_err(bad)?;
        let ct = p.first().map(|t| t.content).unwrap_or_default();
        let body =
            explicit0(p.get(1).ok_or_else(|| bad("empty ContentInfo".into()))?).map_err(bad)?;
        match ct {
            ID_DATA => {
                let sc = body.octets().map_err(bad)?;
                read_safe_contents(&sc, &pw, &mut out).map_err(|e| decrypt_err(e, what))?;
            }
            ID_ENCRYPTED_DATA => {
                let ed = body.children().map_err(bad)?;
                let eci = ed
                    .get(1)
                    .ok_or_else(|| bad("no EncryptedContentInfo".into()))?;
                let eci = eci.children().map_err(bad)?;
                let alg = eci.get(1).ok_or_else(|| bad("no algorithm".into()))?;
                let data = eci
                    .get(2)
                    .ok_or_else(|| bad("no encrypted content".into()))?
                    .octets()
                    .map_err(bad)?;
                let plain = decrypt(alg, data, &pw).map_err(|e| decrypt_err(e, what))?;
                read_safe_contents(&plain, &pw, &mut out).map_err(|e| decrypt_err(e, what))?;
            }
            _ => {} // enveloped data (public-key privacy mode) is not supported
        }
    }
    zeroize::Zeroize::zeroize(&mut pw);
    Ok(out)
}

/// Without a MAC, a wrong password shows as a padding failure.
fn decrypt_err(reason: String, what: &str) -> Error {
    if reason == "decryption failed" {
        Error::WrongPassword { what: what.into() }
    } else {
        Error::BadKey {
            what: what.into(),
            reason: format!("not a readable PKCS#12 file ({reason})"),
        }
    }
}

/// Puts the certificate whose public key is `spki` first; the others follow in file order.
pub(crate) fn leaf_first(spki: &[u8], mut certs: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    use der::{Decode, Encode};
    let pos = certs.iter().position(|c| {
        x509_cert::Certificate::from_der(c)
            .ok()
            .and_then(|c| c.tbs_certificate().subject_public_key_info().to_der().ok())
            .is_some_and(|s| s == spki)
    });
    if let Some(p) = pos {
        let leaf = certs.remove(p);
        certs.insert(0, leaf);
    }
    certs
}

impl SoftwareKey {
    /// Loads the private key of a PKCS#12 file (DER) with its certificates, leaf first (the
    /// certificate whose public key matches the key, then the others).
    pub fn from_pkcs12(der: &[u8], password: &SecretString, what: &str) -> Result<Self, Error> {
        let contents = parse(der, password, what)?;
        let key_der = contents.keys.first().ok_or_else(|| Error::BadKey {
            what: what.into(),
            reason: "the PKCS#12 file holds no private key".into(),
        })?;
        let key = Self::from_der(key_der, what)?;
        let certs = leaf_first(key.public_key_der(), contents.certs);
        Ok(key.with_certificates(certs))
    }
}

/// Whether `data` looks like a PKCS#12 PFX (a SEQUENCE starting with INTEGER 3).
pub fn looks_like_pkcs12(data: &[u8]) -> bool {
    parse_all(data)
        .ok()
        .filter(|t| t.tag == 0x30)
        .and_then(|t| t.children().ok())
        .and_then(|c| c.first().map(|v| v.tag == 0x02 && v.content == [3]))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kdf_matches_known_vector() {
        // From the PKCS#12 KDF test vectors published with OpenSSL/BouncyCastle:
        // password "smeg", salt 0a58cf64530d823f, id 1, 1 iteration, 24 bytes, SHA-1.
        let k = pkcs12_kdf(
            Hash::Sha1,
            &bmp_password("smeg"),
            &hex::decode("0a58cf64530d823f").unwrap(),
            1,
            1,
            24,
        );
        assert_eq!(
            hex::encode(&*k),
            "8aaae6297b6cb04642ab5b077851284eb7128f1a2a7fbca3"
        );
    }

    #[test]
    fn ber_reader_handles_indefinite_lengths() {
        // SEQUENCE (indefinite) { OCTET STRING (constructed, indefinite) { "ab", "c" } }
        let ber = [
            0x30, 0x80, 0x24, 0x80, 0x04, 0x02, b'a', b'b', 0x04, 0x01, b'c', 0, 0, 0, 0,
        ];
        let t = parse_all(&ber).unwrap();
        let c = t.children().unwrap();
        assert_eq!(c[0].octets().unwrap(), b"abc");
    }

    #[test]
    fn garbage_is_not_pkcs12() {
        assert!(!looks_like_pkcs12(b"-----BEGIN"));
        let e = SoftwareKey::from_pkcs12(
            &[0x30, 0x03, 0x02, 0x01, 0x02],
            &SecretString::default(),
            "x.p12",
        )
        .unwrap_err();
        assert!(e.to_string().contains("x.p12"), "{e}");
    }
}
