//! Token administration for `pki token keygen` / `import`: key pairs generated on the token
//! (never extractable), and certificates stored next to their key (PKCS#11 v2.40 §4.6.3 X.509
//! certificate objects, §4.8 private key objects).

use super::error::map;
use super::objects::{describe_key, KeyDescription};
use crate::{oids, Error, KeyKind};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, CertificateType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use der::{Decode, Encode};
use x509_cert::Certificate;

/// A fresh random CKA_ID of 20 bytes (the size of a SHA-1 key identifier, as most tools use).
pub fn random_id() -> Result<Vec<u8>, Error> {
    let mut id = vec![0u8; 20];
    aws_lc_rs::rand::fill(&mut id).map_err(|_| Error::SigningFailed {
        reason: "the random number generator failed".into(),
    })?;
    Ok(id)
}

/// Generates a key pair of `kind` on the token: private key CKA_SENSITIVE=true,
/// CKA_EXTRACTABLE=false, CKA_TOKEN=true, CKA_PRIVATE=true, with `label` and `id` on both halves.
/// `session` must be read-write and logged in.
pub fn generate_key_pair(
    session: &Session,
    kind: KeyKind,
    label: &str,
    id: &[u8],
    token: &str,
) -> Result<(ObjectHandle, KeyDescription), Error> {
    let common = |private: bool| {
        vec![
            Attribute::Token(true),
            Attribute::Private(private),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.to_vec()),
        ]
    };
    let mut public = common(false);
    public.push(Attribute::Verify(true));
    let mut private = common(true);
    private.extend([
        Attribute::Sign(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
    ]);
    let mechanism = match kind {
        KeyKind::Rsa { bits } => {
            public.push(Attribute::ModulusBits((bits as u64).into()));
            public.push(Attribute::PublicExponent(vec![0x01, 0x00, 0x01]));
            Mechanism::RsaPkcsKeyPairGen
        }
        KeyKind::EcP256 | KeyKind::EcP384 | KeyKind::EcP521 => {
            let oid = match kind {
                KeyKind::EcP256 => oids::P256,
                KeyKind::EcP384 => oids::P384,
                _ => oids::P521,
            };
            let params = oid.to_der().map_err(|e| Error::SigningFailed {
                reason: format!("cannot encode the curve: {e}"),
            })?;
            public.push(Attribute::EcParams(params));
            Mechanism::EccKeyPairGen
        }
        KeyKind::Ed25519 => {
            public.push(Attribute::EcParams(
                oids::ED25519.to_der().unwrap_or_default(),
            ));
            Mechanism::EccEdwardsKeyPairGen
        }
        #[allow(unreachable_patterns)]
        _ => {
            return Err(Error::BadKey {
                what: kind.describe(),
                reason: "this key type cannot be generated on a token".into(),
            })
        }
    };
    let (_pub_h, priv_h) = session
        .generate_key_pair(&mechanism, &public, &private)
        .map_err(|e| map("C_GenerateKeyPair", token, e))?;
    let d = describe_key(session, priv_h, token)?;
    Ok((priv_h, d))
}

/// Stores `cert_der` on the token as a CKO_CERTIFICATE with CKA_ID = `id`, CKA_LABEL = `label`
/// and CKA_SUBJECT / CKA_ISSUER / CKA_SERIAL_NUMBER from the certificate.
pub fn import_certificate(
    session: &Session,
    cert_der: &[u8],
    label: &str,
    id: &[u8],
    token: &str,
) -> Result<ObjectHandle, Error> {
    let bad = |reason: String| Error::BadKey {
        what: "the certificate".into(),
        reason,
    };
    let cert = Certificate::from_der(cert_der).map_err(|e| bad(format!("not DER X.509: {e}")))?;
    let tbs = cert.tbs_certificate();
    let enc = |r: der::Result<Vec<u8>>| r.map_err(|e| bad(e.to_string()));
    let template = vec![
        Attribute::Class(ObjectClass::CERTIFICATE),
        Attribute::CertificateType(CertificateType::X_509),
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Modifiable(true),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Id(id.to_vec()),
        Attribute::Subject(enc(tbs.subject().to_der())?),
        Attribute::Issuer(enc(tbs.issuer().to_der())?),
        Attribute::SerialNumber(enc(tbs.serial_number().to_der())?),
        Attribute::Value(cert_der.to_vec()),
    ];
    session
        .create_object(&template)
        .map_err(|e| map("C_CreateObject", token, e))
}

/// The private key whose public key is `spki` (to store a certificate next to it).
pub fn find_key_by_public_key(
    session: &Session,
    spki: &[u8],
    token: &str,
) -> Result<Option<KeyDescription>, Error> {
    let handles = session
        .find_objects(&[Attribute::Class(ObjectClass::PRIVATE_KEY)])
        .map_err(|e| map("C_FindObjects", token, e))?;
    for h in handles {
        if let Ok(d) = describe_key(session, h, token) {
            if d.spki == spki {
                return Ok(Some(d));
            }
        }
    }
    Ok(None)
}

/// Whether the private key's secret values can be read from the token (they must not be:
/// tests assert this for keys made by [`generate_key_pair`]).
pub fn private_values_readable(session: &Session, key: ObjectHandle) -> bool {
    session
        .get_attributes(
            key,
            &[
                AttributeType::PrivateExponent,
                AttributeType::Value,
                AttributeType::Prime1,
                AttributeType::Prime2,
            ],
        )
        .map(|attrs| {
            attrs.iter().any(|a| match a {
                Attribute::PrivateExponent(v) | Attribute::Value(v) => !v.is_empty(),
                _ => false,
            })
        })
        .unwrap_or(false)
}

/// The SubjectPublicKeyInfo of a certificate.
pub fn certificate_spki(cert_der: &[u8]) -> Result<Vec<u8>, Error> {
    let cert = Certificate::from_der(cert_der).map_err(|e| Error::BadKey {
        what: "the certificate".into(),
        reason: format!("not DER X.509: {e}"),
    })?;
    cert.tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| Error::BadKey {
            what: "the certificate".into(),
            reason: e.to_string(),
        })
}
