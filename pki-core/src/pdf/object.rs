//! The PDF object model (ISO 32000-2 §7.3) and its serialisation.
//!
//! Streams read from a file keep only their dictionary and the position of their data in the
//! file ([`StreamData::File`]); the data is read and decoded on demand by the reader.

use std::fmt;

/// An indirect reference `num gen R` (§7.3.10).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct ObjRef {
    /// Object number.
    pub num: u32,
    /// Generation number.
    pub gen: u16,
}

impl ObjRef {
    /// A reference with generation 0.
    pub fn new(num: u32) -> Self {
        Self { num, gen: 0 }
    }
}

impl fmt::Display for ObjRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} R", self.num, self.gen)
    }
}

/// A name object (§7.3.5), stored decoded (without `#xx` escapes and the leading `/`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(pub Vec<u8>);

impl Name {
    /// A name from text.
    pub fn new(s: &str) -> Self {
        Self(s.as_bytes().to_vec())
    }

    /// The name's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", String::from_utf8_lossy(&self.0))
    }
}

/// A string object (§7.3.4): bytes, whichever syntax (literal or hexadecimal) it was written in.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PdfString(pub Vec<u8>);

impl PdfString {
    /// A text string (§7.9.2.2): PDFDocEncoding when the text is printable ASCII, UTF-16BE with a
    /// byte order mark otherwise.
    pub fn from_text(text: &str) -> Self {
        if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
            return Self(text.as_bytes().to_vec());
        }
        let mut v = vec![0xfe, 0xff];
        for u in text.encode_utf16() {
            v.extend_from_slice(&u.to_be_bytes());
        }
        Self(v)
    }

    /// Decodes a text string: UTF-16BE or UTF-8 with a byte order mark, else PDFDocEncoding
    /// (read as Latin-1, which agrees with it on the characters that matter here).
    pub fn to_text(&self) -> String {
        if let Some(rest) = self.0.strip_prefix(&[0xfe, 0xff]) {
            let units: Vec<u16> = rest
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            return String::from_utf16_lossy(&units);
        }
        if let Some(rest) = self.0.strip_prefix(&[0xef, 0xbb, 0xbf]) {
            return String::from_utf8_lossy(rest).into_owned();
        }
        self.0.iter().map(|&b| char::from(b)).collect()
    }
}

impl fmt::Debug for PdfString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({})", String::from_utf8_lossy(&self.0))
    }
}

/// A dictionary (§7.3.7), keeping its entries in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dictionary(Vec<(Name, Object)>);

impl Dictionary {
    /// An empty dictionary.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// The value for `key` (the first one if a malformed file repeats it). A `null` value is the
    /// same as an absent entry (§7.3.9).
    pub fn get(&self, key: &str) -> Option<&Object> {
        self.0
            .iter()
            .find(|(k, _)| k.0 == key.as_bytes())
            .map(|(_, v)| v)
            .filter(|v| !matches!(v, Object::Null))
    }

    /// Sets `key`, replacing an existing value in place.
    pub fn set(&mut self, key: &str, value: impl Into<Object>) {
        let value = value.into();
        match self.0.iter_mut().find(|(k, _)| k.0 == key.as_bytes()) {
            Some(slot) => slot.1 = value,
            None => self.0.push((Name::new(key), value)),
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Object> {
        let i = self.0.iter().position(|(k, _)| k.0 == key.as_bytes())?;
        Some(self.0.remove(i).1)
    }

    /// Appends an entry without looking for an existing one (parsing keeps what the file says).
    pub(crate) fn push(&mut self, key: Name, value: Object) {
        self.0.push((key, value));
    }

    /// The entries in order.
    pub fn iter(&self) -> impl Iterator<Item = (&Name, &Object)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// The values in order, for rewriting them in place.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Object> {
        self.0.iter_mut().map(|(_, v)| v)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `/Type` (or another name-valued key) compared with `name`.
    pub fn has_name(&self, key: &str, name: &str) -> bool {
        matches!(self.get(key), Some(Object::Name(n)) if n.0 == name.as_bytes())
    }
}

/// Where a stream's data is.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamData {
    /// In the file: the encoded bytes start at `offset` and are `length` bytes long.
    File {
        /// Offset of the first data byte (after `stream` and its end-of-line).
        offset: u64,
        /// Number of encoded bytes.
        length: u64,
    },
    /// In memory (streams built for writing), already encoded as the dictionary says.
    Bytes(Vec<u8>),
}

/// A stream (§7.3.8): its dictionary and where its data is.
#[derive(Clone, Debug, PartialEq)]
pub struct Stream {
    /// The stream dictionary.
    pub dict: Dictionary,
    /// The (encoded) data.
    pub data: StreamData,
}

/// A PDF object.
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// An integer.
    Integer(i64),
    /// A real number.
    Real(f64),
    /// A string.
    String(PdfString),
    /// A name.
    Name(Name),
    /// An array.
    Array(Vec<Object>),
    /// A dictionary.
    Dictionary(Dictionary),
    /// A stream (only ever an indirect object).
    Stream(Stream),
    /// An indirect reference.
    Reference(ObjRef),
}

impl Object {
    /// A name object.
    pub fn name(s: &str) -> Self {
        Self::Name(Name::new(s))
    }

    /// The dictionary of a dictionary or a stream.
    pub fn as_dict(&self) -> Option<&Dictionary> {
        match self {
            Self::Dictionary(d) => Some(d),
            Self::Stream(s) => Some(&s.dict),
            _ => None,
        }
    }

    /// An array's items.
    pub fn as_array(&self) -> Option<&[Object]> {
        match self {
            Self::Array(a) => Some(a),
            _ => None,
        }
    }

    /// An integer's value.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// A number's value (integer or real).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Integer(i) => Some(*i as f64),
            Self::Real(r) => Some(*r),
            _ => None,
        }
    }

    /// A name's bytes.
    pub fn as_name(&self) -> Option<&[u8]> {
        match self {
            Self::Name(n) => Some(&n.0),
            _ => None,
        }
    }

    /// A reference.
    pub fn as_reference(&self) -> Option<ObjRef> {
        match self {
            Self::Reference(r) => Some(*r),
            _ => None,
        }
    }

    /// A string's bytes.
    pub fn as_string(&self) -> Option<&PdfString> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// Appends the object's PDF syntax to `out`. A stream whose data is still in a file is written
    /// with its dictionary only; the writer never does that (see `writer`).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Self::Null => out.extend_from_slice(b"null"),
            Self::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
            Self::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
            Self::Real(r) => out.extend_from_slice(format_real(*r).as_bytes()),
            Self::String(s) => write_string(&s.0, out),
            Self::Name(n) => write_name(&n.0, out),
            Self::Array(a) => {
                out.push(b'[');
                for (i, o) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    o.write_to(out);
                }
                out.push(b']');
            }
            Self::Dictionary(d) => write_dict(d, out),
            Self::Stream(s) => {
                if let StreamData::Bytes(data) = &s.data {
                    let mut d = s.dict.clone();
                    d.set("Length", data.len() as i64);
                    write_dict(&d, out);
                    out.extend_from_slice(b"\nstream\n");
                    out.extend_from_slice(data);
                    out.extend_from_slice(b"\nendstream");
                } else {
                    write_dict(&s.dict, out);
                }
            }
            Self::Reference(r) => out.extend_from_slice(r.to_string().as_bytes()),
        }
    }

    /// The object's PDF syntax.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write_to(&mut v);
        v
    }
}

fn write_dict(d: &Dictionary, out: &mut Vec<u8>) {
    out.extend_from_slice(b"<<");
    for (k, v) in d.iter() {
        write_name(&k.0, out);
        out.push(b' ');
        v.write_to(out);
    }
    out.extend_from_slice(b">>");
}

/// A real number without exponent (§7.3.3: PDF has no exponent syntax), at most 6 decimals.
pub fn format_real(r: f64) -> String {
    if !r.is_finite() {
        return "0".into();
    }
    let s = format!("{r:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    match s {
        "-0" | "" => "0".into(),
        s => s.into(),
    }
}

/// A name with `#xx` escapes for anything outside the regular printable characters (§7.3.5).
pub fn write_name(name: &[u8], out: &mut Vec<u8>) {
    out.push(b'/');
    for &b in name {
        if (0x21..0x7f).contains(&b) && b != b'#' && !super::lexer::is_delimiter(b) {
            out.push(b);
        } else {
            out.extend_from_slice(format!("#{b:02X}").as_bytes());
        }
    }
}

/// A string as a literal with escapes when it is printable ASCII, else as hex (§7.3.4).
pub fn write_string(s: &[u8], out: &mut Vec<u8>) {
    if s.iter().all(|b| (0x20..0x7f).contains(b)) {
        out.push(b'(');
        for &b in s {
            if matches!(b, b'(' | b')' | b'\\') {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b')');
    } else {
        out.push(b'<');
        out.extend_from_slice(hex::encode_upper(s).as_bytes());
        out.push(b'>');
    }
}

impl From<i64> for Object {
    fn from(v: i64) -> Self {
        Self::Integer(v)
    }
}
impl From<f64> for Object {
    fn from(v: f64) -> Self {
        Self::Real(v)
    }
}
impl From<bool> for Object {
    fn from(v: bool) -> Self {
        Self::Bool(v)
    }
}
impl From<ObjRef> for Object {
    fn from(v: ObjRef) -> Self {
        Self::Reference(v)
    }
}
impl From<Name> for Object {
    fn from(v: Name) -> Self {
        Self::Name(v)
    }
}
impl From<PdfString> for Object {
    fn from(v: PdfString) -> Self {
        Self::String(v)
    }
}
impl From<Dictionary> for Object {
    fn from(v: Dictionary) -> Self {
        Self::Dictionary(v)
    }
}
impl From<Vec<Object>> for Object {
    fn from(v: Vec<Object>) -> Self {
        Self::Array(v)
    }
}
impl From<Stream> for Object {
    fn from(v: Stream) -> Self {
        Self::Stream(v)
    }
}

#[cfg(test)]
mod tests {
    use super::super::lexer::Lexer;
    use super::*;

    #[test]
    fn reals_have_no_exponent() {
        assert_eq!(format_real(1e20), "100000000000000000000");
        assert_eq!(format_real(0.5), "0.5");
        assert_eq!(format_real(-0.0000001), "0");
        assert_eq!(format_real(595.276), "595.276");
        assert_eq!(format_real(3.0), "3");
        assert_eq!(format_real(f64::NAN), "0");
    }

    #[test]
    fn round_trip() {
        let mut d = Dictionary::new();
        d.set("Type", Object::name("Annot"));
        d.set("Weird Name#", Object::name("a/b"));
        d.set("T", PdfString(b"Sig (1) \\".to_vec()));
        d.set("U", PdfString::from_text("Nguyễn Văn A"));
        d.set(
            "A",
            vec![
                Object::Integer(-3),
                Object::Real(1.25),
                ObjRef::new(4).into(),
                Object::Null,
            ],
        );
        d.set("B", true);
        let o = Object::Dictionary(d);
        let bytes = o.to_bytes();
        let back = Lexer::new(&bytes, true).parse_object().unwrap();
        assert_eq!(back, o, "{}", String::from_utf8_lossy(&bytes));
        let u = back
            .as_dict()
            .unwrap()
            .get("U")
            .unwrap()
            .as_string()
            .unwrap();
        assert_eq!(u.to_text(), "Nguyễn Văn A");
        assert_eq!(&u.0[..2], &[0xfe, 0xff]);
    }
}
