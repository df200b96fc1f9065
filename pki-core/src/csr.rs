//! Distinguished names from text and PKCS#10 certificate requests (RFC 2986) signed by any
//! [`hsm::Signer`], so a token key signs its own request.
//!
//! Names are written as RFC 4514 strings, most specific first (`CN=...,O=...,C=VN`); the
//! encoded RDNSequence is in the reverse order (C first), as RFC 4514 §2.1 says. Values are
//! UTF8String (RFC 5280 §4.1.2.6), except `C` and `SERIALNUMBER` (PrintableString, X.520) and
//! `E`/`DC` (IA5String). Vietnamese identifiers go in `UID` as `CCCD:<12 digits>` (citizen ID) or
//! `MST:<tax code>`, the convention of Vietnamese CAs.

use const_oid::ObjectIdentifier;
use der::asn1::{Any, BitString};
use der::{Decode, Encode, Tag};
use hsm::{SignatureAlgorithm, Signer};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::request::{CertReq, CertReqInfo, Version};

/// Why a name or request could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsrError {
    /// The subject text is not a name we can encode.
    #[error("invalid subject name: {reason}")]
    BadName {
        /// Why.
        reason: String,
    },
    /// The signer's public key is not a valid SubjectPublicKeyInfo.
    #[error("the key's public key cannot be encoded: {0}")]
    PublicKey(#[source] der::Error),
    /// DER encoding failed.
    #[error("cannot encode the request: {0}")]
    Encode(#[source] der::Error),
    /// The key could not sign.
    #[error("the key could not sign the request: {0}")]
    Sign(#[source] hsm::Error),
}

enum StringKind {
    Utf8,
    Printable,
    Ia5,
}

fn attribute(key: &str) -> Option<(ObjectIdentifier, StringKind)> {
    use StringKind::*;
    let oid = |s| ObjectIdentifier::new_unwrap(s);
    Some(match key.to_ascii_uppercase().as_str() {
        "CN" => (oid("2.5.4.3"), Utf8),
        "SN" | "SURNAME" => (oid("2.5.4.4"), Utf8),
        "SERIALNUMBER" => (oid("2.5.4.5"), Printable),
        "C" => (oid("2.5.4.6"), Printable),
        "L" => (oid("2.5.4.7"), Utf8),
        "ST" | "S" => (oid("2.5.4.8"), Utf8),
        "STREET" => (oid("2.5.4.9"), Utf8),
        "O" => (oid("2.5.4.10"), Utf8),
        "OU" => (oid("2.5.4.11"), Utf8),
        "T" | "TITLE" => (oid("2.5.4.12"), Utf8),
        "GN" | "GIVENNAME" => (oid("2.5.4.42"), Utf8),
        "UID" => (oid("0.9.2342.19200300.100.1.1"), Utf8),
        "DC" => (oid("0.9.2342.19200300.100.1.25"), Ia5),
        "E" | "EMAIL" | "EMAILADDRESS" => (oid("1.2.840.113549.1.9.1"), Ia5),
        _ => return None,
    })
}

fn bad(reason: impl Into<String>) -> CsrError {
    CsrError::BadName {
        reason: reason.into(),
    }
}

/// Splits on unescaped `sep`, keeping escapes for the value decoder.
fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            cur.push(c);
            if let Some(n) = chars.next() {
                cur.push(n);
            }
        } else if c == sep {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

/// RFC 4514 §3 escapes: `\,` `\+` `\"` `\\` `\<` `\>` `\;` `\=` `\ ` `\#` and `\XX` (hex byte).
fn unescape(v: &str) -> Result<String, CsrError> {
    let mut bytes = Vec::new();
    let b = v.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match (hex, b.get(i + 1)) {
                (Some(x), _) => {
                    bytes.push(x);
                    i += 3;
                }
                (None, Some(&c)) => {
                    bytes.push(c);
                    i += 2;
                }
                (None, None) => return Err(bad("a value ends with a lone backslash")),
            }
        } else {
            bytes.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(bytes).map_err(|_| bad("an escaped value is not UTF-8"))
}

fn encode_value(kind: &StringKind, key: &str, value: &str) -> Result<Any, CsrError> {
    let (tag, ok) = match kind {
        StringKind::Utf8 => (Tag::Utf8String, true),
        StringKind::Printable => (
            Tag::PrintableString,
            value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c)),
        ),
        StringKind::Ia5 => (Tag::Ia5String, value.is_ascii()),
    };
    if !ok {
        return Err(bad(format!(
            "{key} must be plain ASCII letters and digits, got \"{value}\""
        )));
    }
    if key.eq_ignore_ascii_case("C") && value.len() != 2 {
        return Err(bad(format!(
            "C is a two-letter country code (C=VN), got \"{value}\""
        )));
    }
    Any::new(tag, value.as_bytes()).map_err(|e| bad(e.to_string()))
}

/// Parses `CN=Nguyễn Văn An,UID=CCCD:001099012345,O=Sở Tư pháp,L=Hà Nội,C=VN` (RFC 4514
/// string, most specific first; `+` joins attributes of one RDN; `\,` escapes a comma).
pub fn parse_dn(s: &str) -> Result<Name, CsrError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(bad("the subject is empty"));
    }
    let mut rdns = Vec::new();
    for rdn_text in split_unescaped(s, ',') {
        let mut atvs = Vec::new();
        for part in split_unescaped(&rdn_text, '+') {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| bad(format!("\"{}\" is not KEY=VALUE", part.trim())))?;
            let key = k.trim();
            let (oid, kind) = attribute(key).ok_or_else(|| {
                bad(format!(
                    "unknown attribute \"{key}\" (use CN, O, OU, L, ST, C, UID, E, SERIALNUMBER, T, STREET, DC)"
                ))
            })?;
            let value = unescape(v.trim())?;
            if value.is_empty() {
                return Err(bad(format!("{key} has an empty value")));
            }
            atvs.push(AttributeTypeAndValue {
                oid,
                value: encode_value(&kind, key, &value)?,
            });
        }
        let rdn = RelativeDistinguishedName::try_from(atvs)
            .map_err(|e| bad(format!("repeated attribute in one RDN: {e}")))?;
        rdns.push(rdn);
    }
    rdns.reverse();
    let der = RdnSequence::from(rdns)
        .to_der()
        .map_err(|e| bad(e.to_string()))?;
    Name::from_der(&der).map_err(|e| bad(e.to_string()))
}

/// A PKCS#10 request for `subject` with `signer`'s public key, signed by `signer` with `alg`.
/// Returns DER.
pub fn build_csr(
    subject: &Name,
    signer: &dyn Signer,
    alg: SignatureAlgorithm,
) -> Result<Vec<u8>, CsrError> {
    let public_key = spki::SubjectPublicKeyInfoOwned::from_der(signer.public_key_der())
        .map_err(CsrError::PublicKey)?;
    let info = CertReqInfo {
        version: Version::V1,
        subject: subject.clone(),
        public_key,
        attributes: Default::default(),
    };
    let tbs = info.to_der().map_err(CsrError::Encode)?;
    let sig = signer.sign(alg, &tbs).map_err(CsrError::Sign)?;
    let req = CertReq {
        info,
        algorithm: alg.algorithm_identifier(),
        signature: BitString::from_bytes(&sig).map_err(CsrError::Encode)?,
    };
    req.to_der().map_err(CsrError::Encode)
}

/// PEM text for a DER request (`CERTIFICATE REQUEST`, 64-column lines).
pub fn csr_pem(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = String::from("-----BEGIN CERTIFICATE REQUEST-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        s.push('\n');
    }
    s.push_str("-----END CERTIFICATE REQUEST-----\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use hsm::{HashAlgorithm, KeyKind, SoftwareKey};

    #[test]
    fn vietnamese_subject_round_trips() {
        let n =
            parse_dn("CN=Nguyễn Văn An,UID=CCCD:001099012345,O=Sở Tư pháp,L=Hà Nội,C=VN").unwrap();
        let der = n.to_der().unwrap();
        // Encoded C first, as a PrintableString; CN last, UTF-8.
        let rdns: Vec<_> = n.iter_rdn().collect();
        assert_eq!(rdns.len(), 5);
        let first = rdns[0].iter().next().unwrap();
        assert_eq!(first.oid.to_string(), "2.5.4.6");
        assert_eq!(der::Tagged::tag(&first.value), Tag::PrintableString);
        let last = rdns[4].iter().next().unwrap();
        assert_eq!(der::Tagged::tag(&last.value), Tag::Utf8String);
        assert_eq!(last.value.value(), "Nguyễn Văn An".as_bytes());
        assert_eq!(Name::from_der(&der).unwrap(), n);
    }

    #[test]
    fn escapes_and_errors() {
        let n = parse_dn(r"CN=Công ty A\, B,O=X\2C Y,C=VN").unwrap();
        let cn = n.iter_rdn().last().unwrap().iter().next().unwrap();
        assert_eq!(cn.value.value(), "Công ty A, B".as_bytes());
        let o = n.iter_rdn().nth(1).unwrap().iter().next().unwrap();
        assert_eq!(o.value.value(), b"X, Y");
        assert!(parse_dn("").is_err());
        assert!(parse_dn("CN").is_err());
        assert!(parse_dn("XX=1")
            .unwrap_err()
            .to_string()
            .contains("unknown attribute"));
        assert!(parse_dn("C=Việt Nam").is_err());
        assert!(parse_dn("C=VNM").is_err());
        let multi = parse_dn("CN=a+UID=MST:0101234567,C=VN").unwrap();
        assert_eq!(multi.iter_rdn().last().unwrap().len(), 2);
    }

    #[test]
    fn csr_is_signed_by_the_key() {
        let (k, _) = SoftwareKey::generate(KeyKind::EcP256).unwrap();
        let name = parse_dn("CN=Trần Thị B,C=VN").unwrap();
        let alg = SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha256);
        let der = build_csr(&name, &k, alg).unwrap();
        let req = CertReq::from_der(&der).unwrap();
        assert_eq!(req.info.subject, name);
        let tbs = req.info.to_der().unwrap();
        let spki = spki::SubjectPublicKeyInfoOwned::from_der(k.public_key_der()).unwrap();
        aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
            spki.subject_public_key.raw_bytes(),
        )
        .verify(&tbs, req.signature.raw_bytes())
        .unwrap();
        assert!(csr_pem(&der).starts_with("-----BEGIN CERTIFICATE REQUEST-----\n"));
    }
}
