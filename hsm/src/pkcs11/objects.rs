//! Reading keys and certificates on a token (PKCS#11 v2.40 §4.6-4.9): the public key of a
//! private key (from CKA_PUBLIC_KEY_INFO, the matching public key or certificate object, or the
//! RSA modulus), and the certificate with the key's CKA_ID plus the chain above it.

use super::error::map;
use super::mechanism::push_len;
use crate::{oids, Error, KeyKind};
use cryptoki::object::{
    Attribute, AttributeType, CertificateType, KeyType, ObjectClass, ObjectHandle,
};
use cryptoki::session::Session;
use der::{Decode, Encode};
use x509_cert::Certificate;

/// What we know about a private key on a token.
#[derive(Clone, Debug)]
pub struct KeyDescription {
    /// CKA_ID.
    pub id: Vec<u8>,
    /// CKA_LABEL.
    pub label: String,
    /// Type and size.
    pub kind: KeyKind,
    /// SubjectPublicKeyInfo, DER.
    pub spki: Vec<u8>,
}

/// One object on a token, for listings.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObjectSummary {
    /// "private-key", "public-key", "certificate", "secret-key", "data" or "other".
    pub class: &'static str,
    /// CKA_LABEL.
    pub label: String,
    /// CKA_ID.
    pub id: Vec<u8>,
    /// Key type and size, for keys.
    pub key: Option<String>,
    /// Subject, for certificates.
    pub subject: Option<String>,
    /// CKA_SENSITIVE / CKA_EXTRACTABLE for private keys.
    pub sensitive: Option<bool>,
    /// CKA_EXTRACTABLE for private keys.
    pub extractable: Option<bool>,
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    push_len(&mut v, content.len());
    v.extend_from_slice(content);
    v
}

fn der_uint(b: &[u8]) -> Vec<u8> {
    let start = b
        .iter()
        .position(|&x| x != 0)
        .unwrap_or(b.len().saturating_sub(1));
    let b = &b[start..];
    let mut v = Vec::new();
    if b.first().is_none_or(|&x| x & 0x80 != 0) {
        v.push(0);
    }
    v.extend_from_slice(b);
    tlv(0x02, &v)
}

/// SubjectPublicKeyInfo for an RSA key (RFC 8017 A.1.1, RFC 3279 §2.3.1).
pub fn rsa_spki(modulus: &[u8], exponent: &[u8]) -> Vec<u8> {
    let mut key = der_uint(modulus);
    key.extend(der_uint(exponent));
    let key = tlv(0x30, &key);
    let alg = tlv(
        0x30,
        &[
            &[
                0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
            ][..],
            &[0x05, 0x00][..],
        ]
        .concat(),
    );
    let mut bits = vec![0u8];
    bits.extend(key);
    tlv(0x30, &[alg, tlv(0x03, &bits)].concat())
}

/// SubjectPublicKeyInfo for an EC key (RFC 5480 §2): `params` is CKA_EC_PARAMS (the curve
/// OID, DER), `point` the uncompressed point.
pub fn ec_spki(params: &[u8], point: &[u8]) -> Vec<u8> {
    let id_ec = [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    let alg = tlv(0x30, &[&id_ec[..], params].concat());
    let mut bits = vec![0u8];
    bits.extend_from_slice(point);
    tlv(0x30, &[alg, tlv(0x03, &bits)].concat())
}

/// SubjectPublicKeyInfo for an Ed25519 key (RFC 8410 §4).
pub fn ed25519_spki(point: &[u8]) -> Vec<u8> {
    let alg = tlv(0x30, &[0x06, 0x03, 0x2b, 0x65, 0x70]);
    let mut bits = vec![0u8];
    bits.extend_from_slice(point);
    tlv(0x30, &[alg, tlv(0x03, &bits)].concat())
}

/// CKA_EC_POINT is a DER OCTET STRING holding the point (v2.40); some tokens give the bare point.
pub fn unwrap_ec_point(v: &[u8]) -> Vec<u8> {
    if let Ok(os) = der::asn1::OctetString::from_der(v) {
        return os.as_bytes().to_vec();
    }
    v.to_vec()
}

/// The curve of CKA_EC_PARAMS.
pub fn curve_of(params: &[u8]) -> Option<KeyKind> {
    let oid = der::asn1::ObjectIdentifier::from_der(params).ok();
    match oid {
        Some(o) if o == oids::P256 => Some(KeyKind::EcP256),
        Some(o) if o == oids::P384 => Some(KeyKind::EcP384),
        Some(o) if o == oids::P521 => Some(KeyKind::EcP521),
        Some(o) if o == oids::ED25519 => Some(KeyKind::Ed25519),
        // PrintableString "edwards25519" (PKCS#11 3.0 §2.3.10)
        _ if params.windows(12).any(|w| w == b"edwards25519") => Some(KeyKind::Ed25519),
        _ => None,
    }
}

/// The kind of a key from its SubjectPublicKeyInfo.
pub fn kind_of_spki(spki: &[u8]) -> Option<KeyKind> {
    let spki = spki::SubjectPublicKeyInfoOwned::from_der(spki).ok()?;
    let alg = spki.algorithm.oid;
    if alg == oids::RSA_ENCRYPTION {
        let key = spki.subject_public_key.raw_bytes();
        // RSAPublicKey ::= SEQUENCE { modulus INTEGER, ... }
        let mut r = der::SliceReader::new(key).ok()?;
        let (n,): (der::asn1::UintRef<'_>,) = der::Reader::sequence(&mut r, |r| {
            let n = der::asn1::UintRef::decode(r)?;
            let _e = der::asn1::UintRef::decode(r)?;
            Ok::<_, der::Error>((n,))
        })
        .ok()?;
        return Some(KeyKind::Rsa {
            bits: n.as_bytes().len() * 8,
        });
    }
    if alg == oids::ED25519 {
        return Some(KeyKind::Ed25519);
    }
    if alg == oids::EC_PUBLIC_KEY {
        let params = spki.algorithm.parameters?.to_der().ok()?;
        return curve_of(&params);
    }
    None
}

fn attr_bytes(attrs: &[Attribute], t: AttributeType) -> Option<Vec<u8>> {
    attrs.iter().find_map(|a| match (a, t) {
        (Attribute::Id(v), AttributeType::Id)
        | (Attribute::Label(v), AttributeType::Label)
        | (Attribute::Modulus(v), AttributeType::Modulus)
        | (Attribute::PublicExponent(v), AttributeType::PublicExponent)
        | (Attribute::EcParams(v), AttributeType::EcParams)
        | (Attribute::EcPoint(v), AttributeType::EcPoint)
        | (Attribute::PublicKeyInfo(v), AttributeType::PublicKeyInfo)
        | (Attribute::Value(v), AttributeType::Value)
        | (Attribute::Subject(v), AttributeType::Subject) => Some(v.clone()),
        _ => None,
    })
}

fn attr_bool(attrs: &[Attribute], t: AttributeType) -> Option<bool> {
    attrs.iter().find_map(|a| match (a, t) {
        (Attribute::Sensitive(v), AttributeType::Sensitive)
        | (Attribute::Extractable(v), AttributeType::Extractable)
        | (Attribute::Private(v), AttributeType::Private) => Some(*v),
        _ => None,
    })
}

fn key_type(attrs: &[Attribute]) -> Option<KeyType> {
    attrs.iter().find_map(|a| match a {
        Attribute::KeyType(k) => Some(*k),
        _ => None,
    })
}

/// Describes the private key `handle`: its type, size and public key.
pub fn describe_key(
    session: &Session,
    handle: ObjectHandle,
    token: &str,
) -> Result<KeyDescription, Error> {
    let attrs = session
        .get_attributes(
            handle,
            &[
                AttributeType::KeyType,
                AttributeType::Id,
                AttributeType::Label,
                AttributeType::Modulus,
                AttributeType::PublicExponent,
                AttributeType::EcParams,
                AttributeType::PublicKeyInfo,
            ],
        )
        .map_err(|e| map("C_GetAttributeValue", token, e))?;
    let id = attr_bytes(&attrs, AttributeType::Id).unwrap_or_default();
    let label = attr_bytes(&attrs, AttributeType::Label)
        .map(|l| String::from_utf8_lossy(&l).into_owned())
        .unwrap_or_default();
    let bad = |reason: &str| Error::BadKey {
        what: format!("key \"{label}\" on token \"{token}\""),
        reason: reason.into(),
    };
    // The public key object with the same CKA_ID, for what the private key does not say.
    let public = || -> Option<Vec<Attribute>> {
        if id.is_empty() {
            return None;
        }
        let h = session
            .find_objects(&[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::Id(id.clone()),
            ])
            .ok()?
            .into_iter()
            .next()?;
        session
            .get_attributes(
                h,
                &[
                    AttributeType::Modulus,
                    AttributeType::PublicExponent,
                    AttributeType::EcParams,
                    AttributeType::EcPoint,
                ],
            )
            .ok()
    };
    let from_cert = || -> Option<Vec<u8>> {
        certificate_objects(session)
            .ok()?
            .into_iter()
            .find(|(cid, _)| *cid == id && !id.is_empty())
            .and_then(|(_, der)| {
                Certificate::from_der(&der)
                    .ok()?
                    .tbs_certificate()
                    .subject_public_key_info()
                    .to_der()
                    .ok()
            })
    };
    let spki_attr = attr_bytes(&attrs, AttributeType::PublicKeyInfo).filter(|v| !v.is_empty());
    let kt = key_type(&attrs).ok_or_else(|| bad("the token does not say its key type"))?;
    let spki = if let Some(s) = spki_attr {
        s
    } else if kt == KeyType::RSA {
        let n = attr_bytes(&attrs, AttributeType::Modulus).filter(|v| !v.is_empty());
        let e = attr_bytes(&attrs, AttributeType::PublicExponent).filter(|v| !v.is_empty());
        match (n, e) {
            (Some(n), Some(e)) => rsa_spki(&n, &e),
            _ => {
                let p = public().unwrap_or_default();
                match (
                    attr_bytes(&p, AttributeType::Modulus),
                    attr_bytes(&p, AttributeType::PublicExponent),
                ) {
                    (Some(n), Some(e)) => rsa_spki(&n, &e),
                    _ => from_cert().ok_or_else(|| bad("its public key cannot be found"))?,
                }
            }
        }
    } else if kt == KeyType::EC || kt == KeyType::EC_EDWARDS {
        let params = attr_bytes(&attrs, AttributeType::EcParams).unwrap_or_default();
        let p = public().unwrap_or_default();
        match attr_bytes(&p, AttributeType::EcPoint) {
            Some(point) => {
                let point = unwrap_ec_point(&point);
                match curve_of(&params) {
                    Some(KeyKind::Ed25519) => ed25519_spki(&point),
                    Some(_) => ec_spki(&params, &point),
                    None => return Err(bad("its curve is not P-256, P-384, P-521 or Ed25519")),
                }
            }
            None => from_cert().ok_or_else(|| bad("its public key cannot be found"))?,
        }
    } else {
        return Err(bad("only RSA, ECDSA and Ed25519 keys can sign"));
    };
    let kind =
        kind_of_spki(&spki).ok_or_else(|| bad("its public key is not RSA, ECDSA or Ed25519"))?;
    Ok(KeyDescription {
        id,
        label,
        kind,
        spki,
    })
}

/// A certificate object: (CKA_ID, DER).
pub type CertificateObject = (Vec<u8>, Vec<u8>);

/// All X.509 certificate objects on the token.
pub fn certificate_objects(
    session: &Session,
) -> Result<Vec<CertificateObject>, cryptoki::error::Error> {
    let handles = session.find_objects(&[
        Attribute::Class(ObjectClass::CERTIFICATE),
        Attribute::CertificateType(CertificateType::X_509),
    ])?;
    let mut out = Vec::new();
    for h in handles {
        let attrs = session.get_attributes(h, &[AttributeType::Id, AttributeType::Value])?;
        if let Some(v) = attr_bytes(&attrs, AttributeType::Value) {
            out.push((attr_bytes(&attrs, AttributeType::Id).unwrap_or_default(), v));
        }
    }
    Ok(out)
}

/// The key's certificate (same CKA_ID and public key; else any with its public key) and the
/// chain above it from the other certificates on the token, leaf first.
pub fn certificates_for(
    session: &Session,
    key: &KeyDescription,
    token: &str,
) -> Result<Vec<Vec<u8>>, Error> {
    let all = certificate_objects(session).map_err(|e| map("C_FindObjects", token, e))?;
    let parsed: Vec<(Vec<u8>, Vec<u8>, Certificate)> = all
        .into_iter()
        .filter_map(|(id, der)| Certificate::from_der(&der).ok().map(|c| (id, der, c)))
        .collect();
    let spki_of = |c: &Certificate| c.tbs_certificate().subject_public_key_info().to_der().ok();
    let leaf = parsed
        .iter()
        .find(|(id, _, c)| *id == key.id && spki_of(c).as_deref() == Some(&key.spki[..]))
        .or_else(|| {
            parsed
                .iter()
                .find(|(_, _, c)| spki_of(c).as_deref() == Some(&key.spki[..]))
        });
    let Some(leaf) = leaf else {
        return Ok(Vec::new());
    };
    let others: Vec<(Vec<u8>, &Certificate)> = parsed
        .iter()
        .filter(|(_, d, _)| *d != leaf.1)
        .map(|(_, d, c)| (d.clone(), c))
        .collect();
    Ok(order_chain(leaf.1.clone(), &leaf.2, &others))
}

/// Leaf, then the issuer of each certificate found among `others` (by subject = issuer), until
/// a self-issued certificate or no issuer.
pub fn order_chain(
    leaf_der: Vec<u8>,
    leaf: &Certificate,
    others: &[(Vec<u8>, &Certificate)],
) -> Vec<Vec<u8>> {
    let mut chain = vec![leaf_der];
    let mut current = leaf.clone();
    let mut used = vec![false; others.len()];
    loop {
        let issuer = current.tbs_certificate().issuer();
        if issuer == current.tbs_certificate().subject() {
            break;
        }
        let next = others
            .iter()
            .enumerate()
            .find(|(i, (_, c))| !used[*i] && c.tbs_certificate().subject() == issuer);
        match next {
            Some((i, (d, c))) => {
                used[i] = true;
                chain.push(d.clone());
                current = (*c).clone();
            }
            None => break,
        }
    }
    chain
}

/// Lists the objects on the token that the session can see.
pub fn list_objects(session: &Session, token: &str) -> Result<Vec<ObjectSummary>, Error> {
    let handles = session
        .find_objects(&[])
        .map_err(|e| map("C_FindObjects", token, e))?;
    let mut out = Vec::new();
    for h in handles {
        let attrs = session
            .get_attributes(
                h,
                &[
                    AttributeType::Class,
                    AttributeType::Label,
                    AttributeType::Id,
                    AttributeType::KeyType,
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                ],
            )
            .map_err(|e| map("C_GetAttributeValue", token, e))?;
        let class = attrs.iter().find_map(|a| match a {
            Attribute::Class(c) => Some(*c),
            _ => None,
        });
        let class_name = match class {
            Some(c) if c == ObjectClass::PRIVATE_KEY => "private-key",
            Some(c) if c == ObjectClass::PUBLIC_KEY => "public-key",
            Some(c) if c == ObjectClass::CERTIFICATE => "certificate",
            Some(c) if c == ObjectClass::SECRET_KEY => "secret-key",
            Some(c) if c == ObjectClass::DATA => "data",
            _ => "other",
        };
        let id = attr_bytes(&attrs, AttributeType::Id).unwrap_or_default();
        let label = attr_bytes(&attrs, AttributeType::Label)
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .unwrap_or_default();
        let mut s = ObjectSummary {
            class: class_name,
            label,
            id,
            key: None,
            subject: None,
            sensitive: None,
            extractable: None,
        };
        match class_name {
            "private-key" => {
                s.key = describe_key(session, h, token)
                    .ok()
                    .map(|d| d.kind.describe());
                s.sensitive = attr_bool(&attrs, AttributeType::Sensitive);
                s.extractable = attr_bool(&attrs, AttributeType::Extractable);
            }
            "public-key" => {
                s.key = key_type(&attrs).map(|k| k.to_string());
            }
            "certificate" => {
                let v = session
                    .get_attributes(h, &[AttributeType::Value])
                    .ok()
                    .and_then(|a| attr_bytes(&a, AttributeType::Value));
                s.subject = v
                    .and_then(|d| Certificate::from_der(&d).ok())
                    .map(|c| c.tbs_certificate().subject().to_string());
            }
            _ => {}
        }
        out.push(s);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Signer, SoftwareKey};

    #[test]
    fn spki_builders_match_aws_lc() {
        let (k, _) = SoftwareKey::generate(KeyKind::EcP256).unwrap();
        let spki = spki::SubjectPublicKeyInfoOwned::from_der(k.public_key_der()).unwrap();
        let params = spki.algorithm.parameters.clone().unwrap().to_der().unwrap();
        let point = spki.subject_public_key.raw_bytes();
        assert_eq!(ec_spki(&params, point), k.public_key_der());
        assert_eq!(kind_of_spki(k.public_key_der()), Some(KeyKind::EcP256));
        // CKA_EC_POINT as an OCTET STRING
        let wrapped = tlv(0x04, point);
        assert_eq!(unwrap_ec_point(&wrapped), point);

        let (r, _) = SoftwareKey::generate(KeyKind::Rsa { bits: 2048 }).unwrap();
        assert_eq!(
            kind_of_spki(r.public_key_der()),
            Some(KeyKind::Rsa { bits: 2048 })
        );
    }
}
