//! Key references: one syntax for CLI flags, server configuration and the API.
//!
//! - `pkcs11:token=...;object=...?module-path=...&pin-source=file:...` (RFC 7512)
//! - `file:officer.p12`, `officer.p12`, `key.pem` (software keys)
//! - `csc:https://host/csc/v2?credential=ID&client-id=APP&secret-source=file:...`
//! - `mss:+84912345678?mssp=https://host/mss&ap-id=URI&secret-source=file:...`

use crate::Error;
use std::path::PathBuf;

/// Where a key lives.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[expect(
    clippy::large_enum_variant,
    reason = "parsed once per key reference; boxing would only add an allocation"
)]
pub enum KeyRef {
    /// A key on a PKCS#11 token or HSM.
    Pkcs11(Pkcs11Uri),
    /// A software key file (PKCS#12, or PEM/DER PKCS#8 with the certificate given separately).
    File(PathBuf),
    /// A credential behind a Cloud Signature Consortium API.
    Csc(RemoteRef),
    /// A PKI SIM behind an ETSI TS 102 204 mobile signature service.
    Mss(RemoteRef),
}

/// A remote key reference: the part before `?` and the query attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteRef {
    /// The service URL (CSC) or the phone number (MSS).
    pub target: String,
    /// Query attributes, percent-decoded, in order.
    pub attrs: Vec<(String, String)>,
}

impl RemoteRef {
    /// The first value of attribute `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An RFC 7512 PKCS#11 URI (the attributes this project uses).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    /// `token=` label.
    pub token: Option<String>,
    /// `manufacturer=`.
    pub manufacturer: Option<String>,
    /// `model=`.
    pub model: Option<String>,
    /// `serial=` token serial number.
    pub serial: Option<String>,
    /// `object=` CKA_LABEL.
    pub object: Option<String>,
    /// `id=` CKA_ID (percent-decoded bytes).
    pub id: Option<Vec<u8>>,
    /// `slot-id=`.
    pub slot_id: Option<u64>,
    /// `type=` (private, cert, ...).
    pub object_type: Option<String>,
    /// `module-path=`.
    pub module_path: Option<String>,
    /// `pin-source=`.
    pub pin_source: Option<String>,
    /// `pin-value=` is deliberately not supported: PINs never travel in key references.
    pub unknown: Vec<(String, String)>,
}

impl KeyRef {
    /// Parses a key reference.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let s = s.trim();
        if s.is_empty() {
            return Err(bad("the key reference is empty"));
        }
        if let Some(rest) = s.strip_prefix("pkcs11:") {
            return Pkcs11Uri::parse_body(rest).map(Self::Pkcs11);
        }
        if let Some(rest) = s.strip_prefix("csc:") {
            return parse_remote(rest).map(Self::Csc);
        }
        if let Some(rest) = s.strip_prefix("mss:") {
            return parse_remote(rest).map(Self::Mss);
        }
        let path = s.strip_prefix("file:").unwrap_or(s);
        let path = path.strip_prefix("//").unwrap_or(path);
        Ok(Self::File(PathBuf::from(path)))
    }
}

fn bad(reason: &str) -> Error {
    Error::BadKeyRef {
        reason: reason.into(),
    }
}

fn parse_remote(rest: &str) -> Result<RemoteRef, Error> {
    let (target, query) = rest.split_once('?').unwrap_or((rest, ""));
    if target.is_empty() {
        return Err(bad(
            "the remote key reference names no service or phone number",
        ));
    }
    let mut attrs = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        attrs.push((pct_decode_str(k)?, pct_decode_str(v)?));
    }
    Ok(RemoteRef {
        target: target.to_owned(),
        attrs,
    })
}

impl Pkcs11Uri {
    /// Parses a full `pkcs11:` URI.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let body = s
            .trim()
            .strip_prefix("pkcs11:")
            .ok_or_else(|| bad("a PKCS#11 URI starts with \"pkcs11:\""))?;
        Self::parse_body(body)
    }

    fn parse_body(body: &str) -> Result<Self, Error> {
        let (path, query) = body.split_once('?').unwrap_or((body, ""));
        let mut uri = Pkcs11Uri::default();
        for part in path.split(';').filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| bad(&format!("PKCS#11 URI attribute \"{part}\" has no value")))?;
            match k {
                "token" => uri.token = Some(pct_decode_str(v)?),
                "manufacturer" => uri.manufacturer = Some(pct_decode_str(v)?),
                "model" => uri.model = Some(pct_decode_str(v)?),
                "serial" => uri.serial = Some(pct_decode_str(v)?),
                "object" => uri.object = Some(pct_decode_str(v)?),
                "id" => uri.id = Some(pct_decode(v)?),
                "type" => uri.object_type = Some(pct_decode_str(v)?),
                "slot-id" => {
                    uri.slot_id = Some(
                        pct_decode_str(v)?
                            .parse()
                            .map_err(|_| bad("slot-id must be a number"))?,
                    )
                }
                "pin-value" => {
                    return Err(bad(
                        "PINs are not accepted inside key references; use pin-source=file:PATH",
                    ))
                }
                _ => uri.unknown.push((k.to_owned(), pct_decode_str(v)?)),
            }
        }
        for part in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            match k {
                "module-path" => uri.module_path = Some(pct_decode_str(v)?),
                "pin-source" => uri.pin_source = Some(pct_decode_str(v)?),
                "pin-value" => {
                    return Err(bad(
                        "PINs are not accepted inside key references; use pin-source=file:PATH",
                    ))
                }
                _ => uri.unknown.push((k.to_owned(), pct_decode_str(v)?)),
            }
        }
        Ok(uri)
    }
}

fn pct_decode(s: &str) -> Result<Vec<u8>, Error> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad("a percent escape in the key reference is malformed"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

fn pct_decode_str(s: &str) -> Result<String, Error> {
    String::from_utf8(pct_decode(s)?)
        .map_err(|_| bad("a key reference attribute is not valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pkcs11_uri() {
        let r = KeyRef::parse("pkcs11:token=Agency%20HSM;object=sign-key;id=%01%02?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/secrets/pin").unwrap();
        let KeyRef::Pkcs11(u) = r else { panic!() };
        assert_eq!(u.token.as_deref(), Some("Agency HSM"));
        assert_eq!(u.object.as_deref(), Some("sign-key"));
        assert_eq!(u.id.as_deref(), Some(&[1u8, 2][..]));
        assert_eq!(
            u.module_path.as_deref(),
            Some("/usr/lib/softhsm/libsofthsm2.so")
        );
        assert_eq!(u.pin_source.as_deref(), Some("file:/run/secrets/pin"));
    }

    #[test]
    fn refuses_pin_value() {
        assert!(KeyRef::parse("pkcs11:token=a?pin-value=1234").is_err());
    }

    #[test]
    fn parses_files_and_remote() {
        assert_eq!(
            KeyRef::parse("file:officer.p12").unwrap(),
            KeyRef::File("officer.p12".into())
        );
        assert_eq!(
            KeyRef::parse("key.pem").unwrap(),
            KeyRef::File("key.pem".into())
        );
        let KeyRef::Mss(m) =
            KeyRef::parse("mss:+84912345678?mssp=https://h/mss&ap-id=urn:x").unwrap()
        else {
            panic!()
        };
        assert_eq!(m.target, "+84912345678");
        assert_eq!(m.get("ap-id"), Some("urn:x"));
    }
}
