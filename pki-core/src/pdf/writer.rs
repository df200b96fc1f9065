//! Incremental updates (ISO 32000-2 §7.5.6): new and replaced objects appended after the
//! original bytes, then a cross-reference section and a trailer with `/Prev`.
//!
//! The section has the style of the file's newest one: a classic table (§7.5.4) after a table or
//! a hybrid section, a cross-reference stream (§7.5.8) after a stream. The trailer keeps the
//! previous trailer's entries (§7.5.6: all but `/Prev`), `/Size` grows, and `/ID` keeps its first
//! element and gets a new second one (§14.4).

use super::object::{write_string, Dictionary, ObjRef, Object, PdfString, StreamData};
use super::reader::{PdfReader, XrefKind};
use super::PdfError;
use std::collections::BTreeMap;
use std::io::{Read, Seek};

/// Trailer keys that describe the old section itself and are not carried over.
const SECTION_KEYS: &[&str] = &[
    "Prev",
    "Size",
    "XRefStm",
    "Type",
    "W",
    "Index",
    "Filter",
    "DecodeParms",
    "Length",
    "F",
    "FFilter",
    "FDecodeParms",
    "DL",
];

#[derive(Clone, Debug)]
enum Body {
    Object(Object),
    /// Bytes already serialised (placed between `n g obj` and `endobj`).
    Raw(Vec<u8>),
}

/// An incremental update being built.
#[derive(Clone, Debug)]
pub struct IncrementalUpdate {
    base_len: u64,
    base_ends_with_eol: bool,
    prev: u64,
    kind: XrefKind,
    next_num: u32,
    trailer: Dictionary,
    objects: BTreeMap<u32, (u16, Body)>,
}

/// A serialised update.
#[derive(Clone, Debug)]
pub struct SerializedUpdate {
    /// The bytes to append to the original file.
    pub bytes: Vec<u8>,
    /// For each object written: the offset, in the whole new file, of the first byte of its body
    /// (after `n g obj\n`).
    pub body_offsets: BTreeMap<u32, u64>,
}

impl IncrementalUpdate {
    /// Starts an update of the file `reader` reads. The file must end with the bytes the reader
    /// saw (the update is written right after them).
    pub fn new<R: Read + Seek>(reader: &mut PdfReader<R>) -> Result<Self, PdfError> {
        let newest = reader.sections().first().ok_or(PdfError::Damaged {
            reason: "no cross-reference section",
        })?;
        if newest.kind == XrefKind::Reconstructed {
            return Err(PdfError::Damaged {
                reason: "the cross-reference table had to be rebuilt; an incremental update \
                         cannot refer to it (rewrite the file first)",
            });
        }
        let prev = newest.offset;
        let kind = match newest.kind {
            XrefKind::Stream => XrefKind::Stream,
            _ => XrefKind::Table,
        };
        let mut trailer = Dictionary::new();
        for (k, v) in reader.trailer().iter() {
            let key = String::from_utf8_lossy(k.as_bytes());
            if !SECTION_KEYS.contains(&key.as_ref()) {
                trailer.set(&key, v.clone());
            }
        }
        let len = reader.len();
        let last = reader.read_at(len.saturating_sub(1), 1)?;
        Ok(Self {
            base_len: len,
            base_ends_with_eol: matches!(last.as_slice(), [b'\n'] | [b'\r']),
            prev,
            kind,
            next_num: reader.next_object_number(),
            trailer,
            objects: BTreeMap::new(),
        })
    }

    /// The syntax the new cross-reference section will have.
    pub fn xref_kind(&self) -> XrefKind {
        self.kind
    }

    /// The trailer the update will write (without `/Prev`, `/Size`, `/ID`, filled in when
    /// serialising).
    pub fn trailer_mut(&mut self) -> &mut Dictionary {
        &mut self.trailer
    }

    /// Adds a new object and returns its reference.
    pub fn add(&mut self, obj: impl Into<Object>) -> ObjRef {
        let r = self.reserve();
        self.objects.insert(r.num, (0, Body::Object(obj.into())));
        r
    }

    /// Adds a new object whose body is already serialised.
    pub fn add_raw(&mut self, body: Vec<u8>) -> ObjRef {
        let r = self.reserve();
        self.objects.insert(r.num, (0, Body::Raw(body)));
        r
    }

    /// Writes a new version of an existing object.
    pub fn replace(&mut self, r: ObjRef, obj: impl Into<Object>) {
        self.objects
            .insert(r.num, (r.gen, Body::Object(obj.into())));
    }

    fn reserve(&mut self) -> ObjRef {
        let r = ObjRef::new(self.next_num);
        self.next_num += 1;
        r
    }

    /// Serialises the update: objects, cross-reference section, trailer, `%%EOF`.
    pub fn serialize(&self) -> Result<SerializedUpdate, PdfError> {
        let mut out = Vec::new();
        if !self.base_ends_with_eol {
            out.push(b'\n');
        }
        let mut body_offsets = BTreeMap::new();
        let mut xref: Vec<(u32, u16, u64)> = Vec::new();
        for (&num, (gen, body)) in &self.objects {
            let at = self.base_len + out.len() as u64;
            xref.push((num, *gen, at));
            out.extend_from_slice(format!("{num} {gen} obj\n").as_bytes());
            body_offsets.insert(num, self.base_len + out.len() as u64);
            match body {
                Body::Raw(b) => out.extend_from_slice(b),
                Body::Object(o) => {
                    if let Object::Stream(s) = o {
                        if !matches!(s.data, StreamData::Bytes(_)) {
                            return Err(PdfError::structure(
                                "stream data in memory (a stream read from the file cannot be rewritten)",
                                ObjRef { num, gen: *gen },
                            ));
                        }
                    }
                    o.write_to(&mut out);
                }
            }
            out.extend_from_slice(b"\nendobj\n");
        }
        let mut trailer = self.trailer.clone();
        trailer.set("Prev", self.prev as i64);
        trailer.set("ID", new_id(self.trailer.get("ID"))?);
        let xref_at = self.base_len + out.len() as u64;
        match self.kind {
            XrefKind::Stream => {
                let num = self.next_num;
                xref.push((num, 0, xref_at));
                trailer.set("Size", i64::from(num) + 1);
                let width = (1..=8)
                    .find(|w| xref_at < 1u64 << (8 * w))
                    .unwrap_or(8)
                    .max(4);
                let mut data = Vec::with_capacity(xref.len() * (width + 3));
                let mut index = Vec::new();
                for run in runs(&xref) {
                    index.push(Object::Integer(i64::from(run[0].0)));
                    index.push(Object::Integer(run.len() as i64));
                    for &(_, gen, off) in run {
                        data.push(1);
                        data.extend_from_slice(&off.to_be_bytes()[8 - width..]);
                        data.extend_from_slice(&gen.to_be_bytes());
                    }
                }
                let mut d = Dictionary::new();
                d.set("Type", Object::name("XRef"));
                for (k, v) in trailer.iter() {
                    d.set(&String::from_utf8_lossy(k.as_bytes()), v.clone());
                }
                d.set(
                    "W",
                    vec![
                        Object::Integer(1),
                        Object::Integer(width as i64),
                        Object::Integer(2),
                    ],
                );
                d.set("Index", index);
                d.set("Length", data.len() as i64);
                out.extend_from_slice(format!("{num} 0 obj\n").as_bytes());
                Object::Dictionary(d).write_to(&mut out);
                out.extend_from_slice(b"\nstream\n");
                out.extend_from_slice(&data);
                out.extend_from_slice(b"\nendstream\nendobj\n");
            }
            _ => {
                trailer.set("Size", i64::from(self.next_num));
                out.extend_from_slice(b"xref\n");
                for run in runs(&xref) {
                    out.extend_from_slice(format!("{} {}\n", run[0].0, run.len()).as_bytes());
                    for &(_, gen, off) in run {
                        out.extend_from_slice(format!("{off:010} {gen:05} n\r\n").as_bytes());
                    }
                }
                out.extend_from_slice(b"trailer\n");
                Object::Dictionary(trailer).write_to(&mut out);
                out.push(b'\n');
            }
        }
        out.extend_from_slice(format!("startxref\n{xref_at}\n%%EOF\n").as_bytes());
        Ok(SerializedUpdate {
            bytes: out,
            body_offsets,
        })
    }
}

/// Runs of consecutive object numbers (entries are sorted by number).
fn runs(entries: &[(u32, u16, u64)]) -> Vec<&[(u32, u16, u64)]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=entries.len() {
        if i == entries.len() || entries[i].0 != entries[i - 1].0 + 1 {
            out.push(&entries[start..i]);
            start = i;
        }
    }
    out
}

/// `[first new]`: the first element kept (a new one if there was none), a new random second.
fn new_id(old: Option<&Object>) -> Result<Object, PdfError> {
    let fresh = || -> Result<Object, PdfError> {
        let mut b = [0u8; 16];
        aws_lc_rs::rand::fill(&mut b).map_err(|_| PdfError::Damaged {
            reason: "no random bytes for the file identifier",
        })?;
        Ok(Object::String(PdfString(b.to_vec())))
    };
    let first = match old.and_then(Object::as_array).and_then(|a| a.first()) {
        Some(Object::String(s)) => Object::String(s.clone()),
        _ => fresh()?,
    };
    Ok(Object::Array(vec![first, fresh()?]))
}

/// Serialises a text string (for callers building raw object bodies).
pub fn text_string(text: &str, out: &mut Vec<u8>) {
    write_string(&PdfString::from_text(text).0, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn pdf() -> Vec<u8> {
        let mut out = b"%PDF-1.7\n".to_vec();
        let o1 = out.len();
        out.extend_from_slice(b"1 0 obj\n<</Type/Catalog/Pages 2 0 R>>\nendobj\n");
        let o2 = out.len();
        out.extend_from_slice(b"2 0 obj\n<</Type/Pages/Kids[]/Count 0>>\nendobj\n");
        let x = out.len();
        out.extend_from_slice(
            format!(
                "xref\n0 3\n0000000000 65535 f\r\n{o1:010} 00000 n\r\n{o2:010} 00000 n\r\n\
                 trailer\n<</Size 3/Root 1 0 R/ID[<01><02>]>>\nstartxref\n{x}\n%%EOF"
            )
            .as_bytes(),
        );
        out
    }

    #[test]
    fn update_reads_back() {
        let base = pdf();
        let mut r = PdfReader::new(Cursor::new(&base[..]), base.len() as u64).unwrap();
        let mut u = IncrementalUpdate::new(&mut r).unwrap();
        let mut d = Dictionary::new();
        d.set("Hello", PdfString::from_text("world"));
        let new = u.add(d);
        assert_eq!(new, ObjRef::new(3));
        let mut cat = r.catalog().unwrap().1;
        cat.set("X", new);
        u.replace(ObjRef::new(1), cat);
        let s = u.serialize().unwrap();
        assert_eq!(
            s.bytes[0], b'\n',
            "a newline separates the update from %%EOF"
        );
        let mut full = base.clone();
        full.extend_from_slice(&s.bytes);
        let mut r2 = PdfReader::new(Cursor::new(&full[..]), full.len() as u64).unwrap();
        assert!(r2.repairs().is_empty(), "{:?}", r2.repairs());
        assert_eq!(r2.revisions().len(), 2);
        assert_eq!(r2.revisions()[0].end, base.len() as u64);
        assert_eq!(r2.revisions()[1].end, full.len() as u64 - 1);
        let (_, cat) = r2.catalog().unwrap();
        assert_eq!(cat.get("X"), Some(&Object::Reference(new)));
        let id = r2.trailer().get("ID").unwrap().as_array().unwrap();
        assert_eq!(id[0], Object::String(PdfString(vec![1])));
        assert_ne!(id[1], Object::String(PdfString(vec![2])));
        assert_eq!(r2.trailer().get("Size"), Some(&Object::Integer(4)));
        for (num, off) in s.body_offsets {
            assert!(full[..off as usize].ends_with(format!("{num} 0 obj\n").as_bytes()));
        }
    }
}
