//! X.501 distinguished names: display with Vietnamese text intact, comparison per RFC 5280 §7.1
//! (RFC 4518 string preparation, simplified: case folding and whitespace compression), and
//! parsing of the `CN=...,O=...` form users type.

use crate::asn1::{self, tag, Reader};
use crate::oid;
use const_oid::ObjectIdentifier;

/// A name that could not be read or parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The DER is malformed.
    #[error("malformed name: {0}")]
    Malformed(#[from] asn1::TlvError),
    /// A typed name has an unknown attribute.
    #[error("unknown name attribute \"{0}\"; use CN, O, OU, L, ST, C, UID, E, SERIALNUMBER, T, STREET, GN, SN or an OID")]
    UnknownAttribute(String),
    /// A typed name is not `KEY=value,...`.
    #[error("cannot read the name \"{0}\"; write it as CN=...,O=...,C=VN")]
    Syntax(String),
    /// Country must be two letters.
    #[error("country must be a two-letter code such as VN, not \"{0}\"")]
    Country(String),
}

/// One attribute of a name: its type and decoded text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    /// Attribute type.
    pub oid: ObjectIdentifier,
    /// ASN.1 tag of the value.
    pub tag: u8,
    /// The value as text (decoded from UTF8String, PrintableString, BMPString, ...); a value that
    /// is not a string is shown as `#hex` of its DER.
    pub value: String,
}

/// A decoded name: RDNs in encoding order (most general first, usually `C=` first).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Name {
    /// Each RDN's attributes.
    pub rdns: Vec<Vec<Attribute>>,
}

impl Name {
    /// Decodes a DER `Name` (the whole TLV).
    pub fn from_der(der: &[u8]) -> Result<Self, NameError> {
        let mut outer = Reader::der(der);
        let seq = outer.expect(tag::SEQUENCE)?;
        let mut r = outer.nested(&seq);
        let mut rdns = Vec::new();
        while !r.is_empty() {
            let set = r.expect(tag::SET)?;
            let mut sr = r.nested(&set);
            let mut attrs = Vec::new();
            while !sr.is_empty() {
                let atv = sr.expect(tag::SEQUENCE)?;
                let mut ar = sr.nested(&atv);
                let oid_tlv = ar.expect(tag::OID)?;
                let oid =
                    ObjectIdentifier::from_bytes(oid_tlv.content).map_err(|_| asn1::TlvError {
                        offset: ar.offset(),
                        reason: "bad attribute type",
                    })?;
                let v = ar.next_tlv()?;
                attrs.push(Attribute {
                    oid,
                    tag: v.tag,
                    value: decode_string(v.tag, v.content)
                        .unwrap_or_else(|| format!("#{}", hex::encode(v.raw))),
                });
            }
            rdns.push(attrs);
        }
        Ok(Self { rdns })
    }

    /// All attributes, in encoding order.
    pub fn attributes(&self) -> impl Iterator<Item = &Attribute> {
        self.rdns.iter().flatten()
    }

    /// The first value of attribute `oid`.
    pub fn get(&self, oid: &ObjectIdentifier) -> Option<&str> {
        self.attributes()
            .find(|a| a.oid == *oid)
            .map(|a| a.value.as_str())
    }

    /// The common name.
    pub fn common_name(&self) -> Option<&str> {
        self.get(&oid::AT_CN)
    }

    /// The organisation.
    pub fn organization(&self) -> Option<&str> {
        self.get(&oid::AT_O)
    }

    /// Whether the name has no attributes.
    pub fn is_empty(&self) -> bool {
        self.rdns.iter().all(|r| r.is_empty())
    }

    /// A key for comparing names per RFC 5280 §7.1: equal keys mean matching names.
    pub fn match_key(&self) -> String {
        let mut key = String::new();
        for rdn in &self.rdns {
            let mut parts: Vec<String> = rdn
                .iter()
                .map(|a| format!("{}={}", a.oid, prep(&a.value)))
                .collect();
            parts.sort();
            key.push_str(&parts.join("+"));
            key.push('/');
        }
        key
    }
}

/// RFC 4518-style preparation, simplified: case fold, trim, compress inner whitespace.
fn prep(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Displays as RFC 4514 does (most specific first: `CN=..., O=..., C=VN`), with UTF-8 text.
impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for rdn in self.rdns.iter().rev() {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            for (i, a) in rdn.iter().enumerate() {
                if i > 0 {
                    f.write_str(" + ")?;
                }
                write!(f, "{}={}", short_name(&a.oid), escape(&a.value))?;
            }
        }
        Ok(())
    }
}

fn escape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';') {
            s.push('\\');
        }
        s.push(c);
    }
    s
}

const NAMES: &[(&str, ObjectIdentifier)] = &[
    ("CN", oid::AT_CN),
    ("SN", oid::AT_SURNAME),
    ("SERIALNUMBER", oid::AT_SERIAL_NUMBER),
    ("C", oid::AT_C),
    ("L", oid::AT_L),
    ("ST", oid::AT_ST),
    ("STREET", oid::AT_STREET),
    ("O", oid::AT_O),
    ("OU", oid::AT_OU),
    ("T", oid::AT_TITLE),
    ("GN", oid::AT_GIVEN_NAME),
    ("ORGID", oid::AT_ORG_ID),
    ("UID", oid::AT_UID),
    ("DC", oid::AT_DC),
    ("E", oid::AT_EMAIL),
];

/// The short name of an attribute type (`CN`), or its dotted OID.
pub fn short_name(o: &ObjectIdentifier) -> String {
    NAMES
        .iter()
        .find(|(_, x)| x == o)
        .map(|(n, _)| (*n).to_owned())
        .unwrap_or_else(|| o.to_string())
}

/// Decodes the string types found in names and certificates.
pub fn decode_string(tag: u8, content: &[u8]) -> Option<String> {
    match tag {
        // UTF8String, PrintableString, IA5String, VisibleString, NumericString
        0x0c | 0x13 | 0x16 | 0x1a | 0x12 => std::str::from_utf8(content).ok().map(str::to_owned),
        // TeletexString: in practice Latin-1.
        0x14 => Some(content.iter().map(|b| *b as char).collect()),
        // BMPString: UCS-2 big-endian.
        0x1e => {
            if content.len() % 2 != 0 {
                return None;
            }
            let units: Vec<u16> = content
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        // UniversalString: UCS-4 big-endian.
        0x1c => {
            if content.len() % 4 != 0 {
                return None;
            }
            content
                .chunks(4)
                .map(|c| char::from_u32(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect()
        }
        _ => None,
    }
}

/// Parses a name typed by a user (`CN=Nguyễn Văn An,UID=CCCD:001099012345,O=Sở Tư pháp,C=VN`),
/// written most specific first as RFC 4514 does, and returns its DER encoding (UTF8String
/// values; PrintableString for `C` and `SERIALNUMBER`, IA5String for `E` and `DC`). `\,` escapes
/// a comma, `+` joins attributes in one RDN. Text is normalised to NFC-compatible form by the
/// caller's input method; we keep it as given.
pub fn parse_dn(s: &str) -> Result<Vec<u8>, NameError> {
    let mut rdns: Vec<Vec<(ObjectIdentifier, String)>> = Vec::new();
    let mut current: Vec<(ObjectIdentifier, String)> = Vec::new();
    let mut buf = String::new();
    let mut chars = s.chars().peekable();
    let push_attr = |buf: &mut String, current: &mut Vec<_>| -> Result<(), NameError> {
        let part = buf.trim();
        if part.is_empty() {
            return Ok(());
        }
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| NameError::Syntax(s.to_owned()))?;
        let k = k.trim();
        let oid = NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(k))
            .map(|(_, o)| *o)
            .or_else(|| match k.to_ascii_uppercase().as_str() {
                "EMAILADDRESS" => Some(oid::AT_EMAIL),
                "TITLE" => Some(oid::AT_TITLE),
                _ => ObjectIdentifier::new(k).ok(),
            })
            .ok_or_else(|| NameError::UnknownAttribute(k.to_owned()))?;
        current.push((oid, v.trim().to_owned()));
        buf.clear();
        Ok(())
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    buf.push(n);
                }
            }
            ',' | ';' => {
                push_attr(&mut buf, &mut current)?;
                if !current.is_empty() {
                    rdns.push(std::mem::take(&mut current));
                }
            }
            '+' => push_attr(&mut buf, &mut current)?,
            _ => buf.push(c),
        }
    }
    push_attr(&mut buf, &mut current)?;
    if !current.is_empty() {
        rdns.push(current);
    }
    if rdns.is_empty() {
        return Err(NameError::Syntax(s.to_owned()));
    }
    // Users write most specific first; the encoding is most general first.
    rdns.reverse();
    encode_rdns(&rdns)
}

/// Encodes RDNs (most general first) as a DER `Name`.
pub fn encode_rdns(rdns: &[Vec<(ObjectIdentifier, String)>]) -> Result<Vec<u8>, NameError> {
    let mut seq = Vec::new();
    for rdn in rdns {
        let mut atvs: Vec<Vec<u8>> = Vec::new();
        for (o, v) in rdn {
            let value_tag = if *o == oid::AT_C {
                if v.len() != 2 || !v.chars().all(|c| c.is_ascii_alphabetic()) {
                    return Err(NameError::Country(v.clone()));
                }
                0x13
            } else if *o == oid::AT_SERIAL_NUMBER && is_printable(v) {
                0x13
            } else if *o == oid::AT_EMAIL || *o == oid::AT_DC {
                0x16
            } else {
                0x0c
            };
            let mut atv = asn1::tlv(tag::OID, o.as_bytes());
            atv.extend(asn1::tlv(value_tag, v.as_bytes()));
            atvs.push(asn1::tlv(tag::SEQUENCE, &atv));
        }
        atvs.sort(); // DER SET OF ordering
        seq.extend(asn1::tlv(tag::SET, &atvs.concat()));
    }
    Ok(asn1::tlv(tag::SEQUENCE, &seq))
}

fn is_printable(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_displays_vietnamese() {
        let der =
            parse_dn("CN=Nguyễn Văn An,UID=CCCD:001099012345,O=Sở Tư pháp\\, Hà Nội,C=VN").unwrap();
        let n = Name::from_der(&der).unwrap();
        assert_eq!(n.common_name(), Some("Nguyễn Văn An"));
        assert_eq!(n.rdns[0][0].oid, oid::AT_C);
        assert_eq!(
            n.to_string(),
            "CN=Nguyễn Văn An, UID=CCCD:001099012345, O=Sở Tư pháp\\, Hà Nội, C=VN"
        );
    }

    #[test]
    fn matching_ignores_case_and_spacing_and_string_type() {
        let a = Name::from_der(&parse_dn("CN=Test  CA,C=VN").unwrap()).unwrap();
        let b = Name::from_der(&parse_dn("CN=test ca,C=vn").unwrap()).unwrap();
        assert_eq!(a.match_key(), b.match_key());
        let c = Name::from_der(&parse_dn("CN=Other,C=VN").unwrap()).unwrap();
        assert_ne!(a.match_key(), c.match_key());
    }

    #[test]
    fn bad_names() {
        assert!(matches!(
            parse_dn("XX=1"),
            Err(NameError::UnknownAttribute(_))
        ));
        assert!(matches!(parse_dn("C=Vietnam"), Err(NameError::Country(_))));
        assert!(parse_dn("").is_err());
        assert!(Name::from_der(&[0x30, 0x03, 0x31, 0x01]).is_err());
    }

    #[test]
    fn bmp_string() {
        assert_eq!(
            decode_string(0x1e, &[0x1e, 0xa1, 0x00, 0x41]).as_deref(),
            Some("ạA")
        );
    }
}
