//! A lazy PDF reader over `Read + Seek`: file structure (ISO 32000-2 §7.5), cross-reference
//! tables (§7.5.4) and streams (§7.5.8, hybrid files §7.5.8.4), incremental updates (§7.5.6),
//! object streams (§7.5.7) and FlateDecode with predictors (§7.4.4).
//!
//! Only the tail, the cross-reference chain and the objects asked for are read. Everything read
//! is bounded: parse windows, decoded stream sizes, object-stream sizes, the number of sections
//! and entries, and reference chains (loops are detected, not followed).
//!
//! Damage is tolerated the way common readers do — an object a few bytes away from where the
//! table says, a wrong `/Length`, a missing or wrong `startxref` (the file is then scanned) — and
//! each repair is recorded in [`PdfReader::repairs`]: a verifier must know the file needed it.

use super::lexer::{Lexer, ParseError, ParseErrorKind, Token};
use super::object::{Dictionary, ObjRef, Object, Stream, StreamData};
use super::PdfError;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

/// Largest window parsed for one indirect object that is not a stream's data (16 MiB).
pub const MAX_OBJECT_BYTES: usize = 16 << 20;
/// Largest decoded stream returned by [`PdfReader::stream_data`] unless the caller asks for a
/// different cap, and the cap on object and cross-reference streams (64 MiB).
pub const MAX_DECODED_STREAM: usize = 64 << 20;
/// Most cross-reference sections followed through `/Prev`.
pub const MAX_SECTIONS: usize = 10_000;
/// Most entries in all cross-reference sections together, and the largest object number
/// (about half of Adobe's 8,388,607-object implementation limit; a few hundred MB of tables at
/// worst).
pub const MAX_ENTRIES: usize = 4_000_000;
/// How far around a wrong offset an object or section is looked for (bytes each side).
pub const NEARBY: u64 = 1024;
/// Most objects parsed while rebuilding a damaged file's cross-reference table (looking for the
/// catalog and object streams).
const RECONSTRUCT_PARSES: usize = 100_000;
/// Longest chain of references followed by [`PdfReader::resolve`].
const MAX_CHAIN: usize = 32;
/// Objects kept in the cache.
const CACHE_OBJECTS: usize = 256;

/// One cross-reference entry (§7.5.4 Table 18, §7.5.8.3 Table 19).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum XrefEntry {
    /// A free entry (the object is deleted in this revision).
    Free {
        /// Generation to use when the number is reused.
        gen: u16,
    },
    /// An object stored at `offset`.
    InUse {
        /// Byte offset of `n g obj`.
        offset: u64,
        /// Generation number.
        gen: u16,
    },
    /// An object inside an object stream (generation 0).
    Compressed {
        /// Object number of the object stream.
        stream: u32,
        /// Index within the object stream.
        index: u32,
    },
}

/// The syntax of a cross-reference section.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum XrefKind {
    /// A classic `xref` table and `trailer`.
    Table,
    /// A cross-reference stream (PDF 1.5).
    Stream,
    /// A table whose trailer has `/XRefStm` (a hybrid-reference file).
    Hybrid,
    /// No usable cross-reference data: rebuilt by scanning the file.
    Reconstructed,
}

/// One cross-reference section with its trailer: what one revision (or one half of a linearized
/// file's first revision) defines.
#[derive(Clone, Debug)]
pub struct XrefSection {
    /// Offset of the section (`xref` keyword or the cross-reference stream object).
    pub offset: u64,
    /// Its syntax.
    pub kind: XrefKind,
    /// Its trailer (for a stream: the stream dictionary).
    pub trailer: Dictionary,
    /// Object number of the cross-reference stream (the `/XRefStm` one for a hybrid section).
    pub stream_object: Option<u32>,
    /// Entries in file order; a number may appear more than once (see `duplicates`).
    pub entries: Vec<(u32, XrefEntry)>,
    /// Object numbers given more than one entry in this section (a verifier flags them); in a
    /// hybrid section, also those both the table and the `/XRefStm` stream define.
    pub duplicates: Vec<u32>,
    /// The byte after the first `%%EOF` that follows the section, if one does.
    pub eof_end: Option<u64>,
}

/// A revision: the original document or one incremental update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision {
    /// Indexes into [`PdfReader::sections`] of the sections that make it (two for the first
    /// revision of a linearized file, else one).
    pub sections: Vec<usize>,
    /// The byte after the revision's `%%EOF` (the file length if none was found).
    pub end: u64,
}

/// A repair the reader made to read a damaged file.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Repair {
    /// `startxref` was missing or pointed at nothing usable.
    BadStartxref {
        /// The value found, if any.
        value: Option<u64>,
    },
    /// A cross-reference section was found near, not at, the offset given.
    XrefMoved {
        /// Offset given by `startxref` or `/Prev`.
        expected: u64,
        /// Where it was found.
        found: u64,
    },
    /// An object was found near, not at, the offset its entry gives.
    ObjectMoved {
        /// The object.
        obj: ObjRef,
        /// Offset from the cross-reference entry.
        expected: u64,
        /// Where it was found.
        found: u64,
    },
    /// A stream's `/Length` was wrong; the length up to `endstream` was used.
    StreamLength {
        /// The stream.
        obj: ObjRef,
        /// The declared length, if it could be read.
        declared: Option<u64>,
        /// The length used.
        used: u64,
    },
    /// The cross-reference information was rebuilt by scanning the whole file.
    Reconstructed {
        /// Objects found.
        objects: usize,
    },
}

#[derive(Debug)]
struct ObjStm {
    num: u32,
    /// Offset of the object stream's `n g obj` (which version of the stream this is).
    at: u64,
    data: Vec<u8>,
    first: usize,
    pairs: Vec<(u32, usize)>,
}

/// A lazy PDF reader. Methods take `&mut self`: they seek the source and fill a small cache.
#[derive(Debug)]
pub struct PdfReader<R> {
    src: R,
    len: u64,
    version: String,
    sections: Vec<XrefSection>,
    revisions: Vec<Revision>,
    xref: super::NumMap<u32, XrefEntry>,
    trailer: Dictionary,
    repairs: Vec<Repair>,
    cache: super::NumMap<u32, std::rc::Rc<Object>>,
    objstm: Option<ObjStm>,
    loading: Vec<u32>,
    /// The whole file, when it was handed over in memory ([`PdfReader::from_bytes`]): objects
    /// are then parsed in place, not copied into a window first.
    mem: Option<Arc<Vec<u8>>>,
}

/// A file held in memory, shared by a [`PdfReader`]'s parser and its `Read + Seek` source.
#[derive(Clone, Debug)]
pub struct MemFile(Arc<Vec<u8>>);

impl AsRef<[u8]> for MemFile {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl PdfReader<BufReader<File>> {
    /// Opens a file.
    pub fn open(path: &Path) -> Result<Self, PdfError> {
        let f = File::open(path).map_err(PdfError::io(0))?;
        let len = f.metadata().map_err(PdfError::io(0))?.len();
        Self::new(BufReader::with_capacity(64 << 10, f), len)
    }
}

impl PdfReader<std::io::Cursor<MemFile>> {
    /// Reads a PDF held in memory. Objects are parsed where they lie (no window copied per
    /// object, no window grown and parsed again for a big one such as a signature's
    /// `/Contents`); otherwise it behaves as [`PdfReader::new`].
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, PdfError> {
        let bytes = Arc::new(bytes);
        let len = bytes.len() as u64;
        Self::build(
            std::io::Cursor::new(MemFile(Arc::clone(&bytes))),
            len,
            Some(bytes),
        )
    }
}

impl<R: Read + Seek> PdfReader<R> {
    /// Reads the structure of a PDF of `len` bytes: header, `startxref`, the whole
    /// cross-reference chain. Objects are read later, on demand.
    pub fn new(src: R, len: u64) -> Result<Self, PdfError> {
        Self::build(src, len, None)
    }

    fn build(src: R, len: u64, mem: Option<Arc<Vec<u8>>>) -> Result<Self, PdfError> {
        let mut r = Self {
            src,
            len,
            version: String::new(),
            sections: Vec::new(),
            revisions: Vec::new(),
            xref: super::NumMap::default(),
            trailer: Dictionary::new(),
            repairs: Vec::new(),
            cache: super::NumMap::default(),
            objstm: None,
            loading: Vec::new(),
            mem,
        };
        let head = r.read_at(0, 1024)?;
        let Some(h) = find(&head, b"%PDF-") else {
            return Err(PdfError::NotPdf);
        };
        r.version = head[h + 5..]
            .iter()
            .take_while(|c| c.is_ascii_digit() || **c == b'.')
            .map(|&c| char::from(c))
            .collect();
        r.load_structure()?;
        if r.trailer.get("Encrypt").is_some() {
            return Err(PdfError::Encrypted);
        }
        Ok(r)
    }

    /// File length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file is empty (never true for a reader that was created).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The version in the header (`1.7`, `2.0`).
    pub fn header_version(&self) -> &str {
        &self.version
    }

    /// The newest trailer (for a cross-reference stream: its dictionary).
    pub fn trailer(&self) -> &Dictionary {
        &self.trailer
    }

    /// All cross-reference sections, newest first.
    pub fn sections(&self) -> &[XrefSection] {
        &self.sections
    }

    /// Revisions, oldest first.
    pub fn revisions(&self) -> &[Revision] {
        &self.revisions
    }

    /// Repairs made while reading; empty for a well-formed file.
    pub fn repairs(&self) -> &[Repair] {
        &self.repairs
    }

    /// The newest entry for object `num`, if any section has one.
    pub fn entry(&self, num: u32) -> Option<XrefEntry> {
        self.xref.get(&num).copied()
    }

    /// One more than the largest object number in use or declared by `/Size`.
    pub fn next_object_number(&self) -> u32 {
        let size = self
            .trailer
            .get("Size")
            .and_then(Object::as_i64)
            .and_then(|s| u32::try_from(s).ok())
            .unwrap_or(0);
        let max = self.xref.keys().max().map_or(1, |m| m.saturating_add(1));
        size.max(max).max(1)
    }

    /// The document catalog (`/Root`).
    pub fn catalog(&mut self) -> Result<(ObjRef, Dictionary), PdfError> {
        let root = self
            .trailer
            .get("Root")
            .and_then(Object::as_reference)
            .ok_or(PdfError::structure("the trailer's /Root", ObjRef::new(0)))?;
        match self.get(root)? {
            Object::Dictionary(d) => Ok((root, d)),
            _ => Err(PdfError::structure("the document catalog", root)),
        }
    }

    // ---------------------------------------------------------------- reading bytes

    /// Reads up to `n` bytes at `offset` (fewer at the end of the file).
    pub fn read_at(&mut self, offset: u64, n: usize) -> Result<Vec<u8>, PdfError> {
        let end = offset.saturating_add(n as u64).min(self.len);
        let n = end.saturating_sub(offset) as usize;
        if let Some(m) = &self.mem {
            return Ok(m
                .get(offset as usize..end as usize)
                .map(<[u8]>::to_vec)
                .unwrap_or_default());
        }
        let mut buf = vec![0; n];
        if n > 0 {
            self.src
                .seek(SeekFrom::Start(offset))
                .map_err(PdfError::io(offset))?;
            self.src
                .read_exact(&mut buf)
                .map_err(PdfError::io(offset))?;
        }
        Ok(buf)
    }

    /// Hashes the byte ranges `(start, length)` of the file, reading 1 MiB at a time (for
    /// `/ByteRange`, §12.8.1).
    pub fn digest_ranges(
        &mut self,
        ranges: &[(u64, u64)],
        alg: hsm::HashAlgorithm,
    ) -> Result<Vec<u8>, PdfError> {
        let mut ctx = aws_lc_rs::digest::Context::new(alg.digest_algorithm());
        if let Some(m) = &self.mem {
            for &(start, len) in ranges {
                let Some(bytes) = start
                    .checked_add(len)
                    .filter(|e| *e <= self.len)
                    .and_then(|e| m.get(start as usize..e as usize))
                else {
                    return Err(PdfError::TooLarge {
                        obj: ObjRef::new(0),
                        what: "a byte range past the end of the file",
                        limit: self.len,
                    });
                };
                ctx.update(bytes);
            }
            return Ok(ctx.finish().as_ref().to_vec());
        }
        let total: u64 = ranges.iter().map(|r| r.1).sum();
        let mut buf = vec![0u8; total.clamp(1, 1 << 20) as usize];
        for &(start, len) in ranges {
            if start.checked_add(len).is_none_or(|e| e > self.len) {
                return Err(PdfError::TooLarge {
                    obj: ObjRef::new(0),
                    what: "a byte range past the end of the file",
                    limit: self.len,
                });
            }
            self.src
                .seek(SeekFrom::Start(start))
                .map_err(PdfError::io(start))?;
            let mut left = len;
            while left > 0 {
                let n = left.min(buf.len() as u64) as usize;
                self.src
                    .read_exact(&mut buf[..n])
                    .map_err(PdfError::io(start + len - left))?;
                ctx.update(&buf[..n]);
                left -= n as u64;
            }
        }
        Ok(ctx.finish().as_ref().to_vec())
    }

    /// Parses at `offset` with a window that grows (4 KiB, x4 each time) while the parser runs out
    /// of bytes, up to [`MAX_OBJECT_BYTES`]. Returns the result and the bytes consumed.
    fn parse_at<T>(
        &mut self,
        offset: u64,
        mut f: impl FnMut(&mut Lexer<'_>) -> Result<T, ParseError>,
    ) -> Result<(T, usize), PdfError> {
        if let Some(m) = self.mem.clone() {
            // The largest window at once: what a smaller window parses completely, this
            // parses the same way (the lexer asks for more only at a window's end).
            let start = (offset.min(self.len)) as usize;
            let end = start.saturating_add(MAX_OBJECT_BYTES).min(m.len());
            let complete = end == m.len();
            let mut lx = Lexer::new(&m[start..end], complete);
            return match f(&mut lx) {
                Ok(v) => Ok((v, lx.pos())),
                Err(e) if e.kind == ParseErrorKind::UnexpectedEnd && !complete => {
                    Err(PdfError::TooLarge {
                        obj: ObjRef::new(0),
                        what: "an object's syntax (parse window)",
                        limit: MAX_OBJECT_BYTES as u64,
                    })
                }
                Err(error) => Err(PdfError::Syntax {
                    offset: offset + error.offset as u64,
                    error,
                }),
            };
        }
        let mut window = 4096usize;
        loop {
            let buf = self.read_at(offset, window)?;
            let complete = offset + buf.len() as u64 >= self.len;
            let mut lx = Lexer::new(&buf, complete);
            match f(&mut lx) {
                Ok(v) => return Ok((v, lx.pos())),
                Err(e) if e.kind == ParseErrorKind::UnexpectedEnd && !complete => {
                    if window >= MAX_OBJECT_BYTES {
                        return Err(PdfError::TooLarge {
                            obj: ObjRef::new(0),
                            what: "an object's syntax (parse window)",
                            limit: MAX_OBJECT_BYTES as u64,
                        });
                    }
                    window = (window * 4).min(MAX_OBJECT_BYTES);
                }
                Err(error) => {
                    return Err(PdfError::Syntax {
                        offset: offset + error.offset as u64,
                        error,
                    })
                }
            }
        }
    }

    // ---------------------------------------------------------------- structure

    fn load_structure(&mut self) -> Result<(), PdfError> {
        let tail_start = self.len.saturating_sub(2048);
        let tail = self.read_at(tail_start, 2048)?;
        let startxref = rfind(&tail, b"startxref").and_then(|p| {
            let mut lx = Lexer::new(&tail[p + 9..], true);
            match lx.next_token() {
                Ok(Some(Token::Int(n))) => u64::try_from(n).ok(),
                _ => None,
            }
        });
        let chain = match startxref {
            Some(off) if off < self.len => self.load_chain(off),
            _ => Err(PdfError::Damaged {
                reason: "no startxref",
            }),
        };
        match chain {
            Ok(()) => {}
            Err(e @ (PdfError::Io { .. } | PdfError::Encrypted)) => return Err(e),
            Err(_) => {
                self.repairs.push(Repair::BadStartxref { value: startxref });
                self.sections.clear();
                self.reconstruct()?;
            }
        }
        // Newest entry wins; within a section the first one does (a verifier sees `duplicates`).
        let mut map = super::NumMap::default();
        for s in &self.sections {
            for &(num, e) in &s.entries {
                map.entry(num).or_insert(e);
            }
        }
        self.xref = map;
        self.trailer = self
            .sections
            .first()
            .map(|s| s.trailer.clone())
            .unwrap_or_default();
        // Older trailers may carry keys the newest one lacks (a linearized first-page trailer
        // has them all; a broken writer may not): fill /Root, /Info, /ID, /Encrypt from them.
        for key in ["Root", "Info", "ID", "Encrypt"] {
            if self.trailer.get(key).is_none() {
                if let Some(v) = self.sections.iter().find_map(|s| s.trailer.get(key)) {
                    let v = v.clone();
                    self.trailer.set(key, v);
                }
            }
        }
        self.revisions = group_revisions(&self.sections, self.len);
        Ok(())
    }

    fn load_chain(&mut self, start: u64) -> Result<(), PdfError> {
        let mut visited = HashSet::new();
        let mut next = Some(start);
        let mut total = 0usize;
        while let Some(off) = next {
            if !visited.insert(off) {
                return Err(PdfError::BadXref {
                    offset: off,
                    reason: "the /Prev chain loops",
                });
            }
            if self.sections.len() >= MAX_SECTIONS {
                return Err(PdfError::BadXref {
                    offset: off,
                    reason: "too many cross-reference sections",
                });
            }
            let sec = match self.read_section(off) {
                Ok(s) => s,
                Err(e @ PdfError::Io { .. }) => return Err(e),
                Err(e) => match self.find_section_near(off) {
                    Some(found) => {
                        let s = self.read_section(found)?;
                        self.repairs.push(Repair::XrefMoved {
                            expected: off,
                            found,
                        });
                        s
                    }
                    None => return Err(e),
                },
            };
            total += sec.entries.len();
            if total > MAX_ENTRIES {
                return Err(PdfError::BadXref {
                    offset: off,
                    reason: "too many cross-reference entries",
                });
            }
            next = match sec.trailer.get("Prev") {
                None => None,
                Some(p) => match p.as_i64().and_then(|p| u64::try_from(p).ok()) {
                    Some(p) if p < self.len => Some(p),
                    // A /Prev that points nowhere: older revisions are lost; rebuild instead.
                    _ => {
                        return Err(PdfError::BadXref {
                            offset: off,
                            reason: "/Prev is not an offset in the file",
                        })
                    }
                },
            };
            self.sections.push(sec);
        }
        Ok(())
    }

    fn find_section_near(&mut self, off: u64) -> Option<u64> {
        let start = off.saturating_sub(NEARBY);
        let buf = self.read_at(start, 2 * NEARBY as usize).ok()?;
        let mut best: Option<u64> = None;
        let mut consider = |p: usize| {
            let at = start + p as u64;
            if best.is_none_or(|b| at.abs_diff(off) < b.abs_diff(off)) {
                best = Some(at);
            }
        };
        for p in find_all(&buf, b"xref") {
            if p + 4 < buf.len()
                && (p == 0 || buf[p - 1] != b't')
                && !buf[p + 4].is_ascii_alphabetic()
            {
                consider(p);
            }
        }
        for p in obj_headers(&buf) {
            consider(p);
        }
        best.filter(|&b| b != off)
    }

    fn read_section(&mut self, off: u64) -> Result<XrefSection, PdfError> {
        let head = self.read_at(off, 16)?;
        let skip = head
            .iter()
            .take_while(|c| super::lexer::is_whitespace(**c))
            .count();
        if head[skip..].starts_with(b"xref") {
            let mut sec = self.read_table(off + skip as u64)?;
            if let Some(stm) = sec
                .trailer
                .get("XRefStm")
                .and_then(Object::as_i64)
                .and_then(|o| u64::try_from(o).ok())
            {
                // Hybrid file (§7.5.8.4): the table's in-use entries win; the stream's entries
                // fill in objects the table lists as free or not at all.
                let ss = self.read_xref_stream(stm)?;
                let in_use: HashSet<u32> = sec
                    .entries
                    .iter()
                    .filter(|(_, e)| matches!(e, XrefEntry::InUse { .. }))
                    .map(|(n, _)| *n)
                    .collect();
                // An object both in the table and in the stream is a conflicting definition.
                sec.duplicates.extend(
                    ss.entries
                        .iter()
                        .filter(|(n, e)| in_use.contains(n) && !matches!(e, XrefEntry::Free { .. }))
                        .map(|(n, _)| *n),
                );
                let mut entries: Vec<(u32, XrefEntry)> = ss
                    .entries
                    .into_iter()
                    .filter(|(n, e)| !in_use.contains(n) && !matches!(e, XrefEntry::Free { .. }))
                    .collect();
                let replaced: HashSet<u32> = entries.iter().map(|(n, _)| *n).collect();
                sec.entries.retain(|(n, _)| !replaced.contains(n));
                sec.entries.append(&mut entries);
                sec.duplicates.extend(ss.duplicates);
                sec.kind = XrefKind::Hybrid;
                sec.stream_object = ss.stream_object;
            }
            Ok(sec)
        } else {
            self.read_xref_stream(off)
        }
    }

    /// A classic table (§7.5.4) and its trailer (§7.5.5). Read through a buffer, entry by entry,
    /// so a large table needs no large allocation beyond its entries.
    fn read_table(&mut self, off: u64) -> Result<XrefSection, PdfError> {
        let bad = |reason| PdfError::BadXref {
            offset: off,
            reason,
        };
        let (entries, duplicates, trailer_at) = if let Some(m) = self.mem.clone() {
            let start = (off + 4).min(self.len) as usize;
            let mut rd = WordReader {
                inner: m.get(start..).unwrap_or_default(),
                pos: off + 4,
            };
            table_entries(&mut rd, off)?
        } else {
            self.src
                .seek(SeekFrom::Start(off + 4))
                .map_err(PdfError::io(off))?;
            let mut rd = WordReader {
                inner: BufReader::with_capacity(
                    64 << 10,
                    (&mut self.src).take(self.len.saturating_sub(off + 4)),
                ),
                pos: off + 4,
            };
            table_entries(&mut rd, off)?
        };
        let (trailer, used) = self.parse_at(trailer_at, |lx| lx.parse_object())?;
        let Object::Dictionary(trailer) = trailer else {
            return Err(bad("the trailer is not a dictionary"));
        };
        let eof_end = self.find_eof(trailer_at + used as u64)?;
        Ok(XrefSection {
            offset: off,
            kind: XrefKind::Table,
            trailer,
            stream_object: None,
            entries,
            duplicates,
            eof_end,
        })
    }

    /// A cross-reference stream (§7.5.8).
    fn read_xref_stream(&mut self, off: u64) -> Result<XrefSection, PdfError> {
        let bad = |reason| PdfError::BadXref {
            offset: off,
            reason,
        };
        let (r, obj, end) = self.parse_indirect(off, None)?;
        let Object::Stream(s) = obj else {
            return Err(bad("not a cross-reference stream"));
        };
        if !s.dict.has_name("Type", "XRef") {
            return Err(bad("not a cross-reference stream"));
        }
        let data = self.decode_stream(r, &s, MAX_DECODED_STREAM)?;
        let w: Vec<usize> = s
            .dict
            .get("W")
            .and_then(Object::as_array)
            .map(|a| {
                a.iter()
                    .map(|x| {
                        x.as_i64()
                            .and_then(|v| usize::try_from(v).ok())
                            .unwrap_or(99)
                    })
                    .collect()
            })
            .unwrap_or_default();
        if w.len() != 3 || w.iter().any(|&x| x > 8) {
            return Err(bad("bad /W"));
        }
        let row = w[0] + w[1] + w[2];
        if row == 0 {
            return Err(bad("bad /W"));
        }
        let size = s.dict.get("Size").and_then(Object::as_i64).unwrap_or(0);
        let index: Vec<i64> = match s.dict.get("Index").and_then(Object::as_array) {
            Some(a) => a.iter().map(|x| x.as_i64().unwrap_or(-1)).collect(),
            None => vec![0, size],
        };
        if index.len() % 2 != 0
            || index
                .iter()
                .any(|&v| !(0..=MAX_ENTRIES as i64).contains(&v))
        {
            return Err(bad("bad /Index"));
        }
        let mut entries = Vec::new();
        let mut seen = HashSet::new();
        let mut duplicates = Vec::new();
        let mut rows = data.chunks_exact(row);
        for pair in index.chunks_exact(2) {
            let (first, count) = (pair[0] as u64, pair[1] as u64);
            if first + count > MAX_ENTRIES as u64 {
                return Err(bad("too many entries"));
            }
            for i in 0..count {
                let Some(rb) = rows.next() else {
                    return Err(bad("the stream is shorter than /Index says"));
                };
                let num = (first + i) as u32;
                let f1 = if w[0] == 0 { 1 } else { be(&rb[..w[0]]) };
                let f2 = be(&rb[w[0]..w[0] + w[1]]);
                let f3 = be(&rb[w[0] + w[1]..]);
                let e = match f1 {
                    0 => XrefEntry::Free { gen: f3 as u16 },
                    1 => XrefEntry::InUse {
                        offset: f2,
                        gen: f3 as u16,
                    },
                    2 => XrefEntry::Compressed {
                        stream: u32::try_from(f2).map_err(|_| bad("bad object stream number"))?,
                        index: u32::try_from(f3).map_err(|_| bad("bad object stream index"))?,
                    },
                    // Other types are reserved and read as references to null (§7.5.8.3).
                    _ => continue,
                };
                if !seen.insert(num) {
                    duplicates.push(num);
                }
                entries.push((num, e));
            }
        }
        let eof_end = self.find_eof(end)?;
        let mut trailer = s.dict;
        trailer.remove("Length");
        Ok(XrefSection {
            offset: off,
            kind: XrefKind::Stream,
            trailer,
            stream_object: Some(r.num),
            entries,
            duplicates,
            eof_end,
        })
    }

    /// The byte after the first `%%EOF` within 64 KiB after `from`.
    fn find_eof(&mut self, from: u64) -> Result<Option<u64>, PdfError> {
        let buf = self.read_at(from, 64 << 10)?;
        Ok(find(&buf, b"%%EOF").map(|p| from + p as u64 + 5))
    }

    /// Rebuilds the cross-reference information by scanning the whole file for `n g obj`
    /// headers and `trailer` dictionaries, 1 MiB at a time.
    fn reconstruct(&mut self) -> Result<(), PdfError> {
        const CHUNK: usize = 1 << 20;
        const OVERLAP: usize = 64;
        let mut objects: HashMap<u32, (u64, u16)> = HashMap::new();
        let mut trailers = Vec::new();
        let mut pos = 0u64;
        while pos < self.len {
            let buf = self.read_at(pos, CHUNK + OVERLAP)?;
            let limit = buf.len().min(CHUNK);
            for p in obj_headers(&buf) {
                if p >= limit {
                    continue;
                }
                let mut lx = Lexer::new(&buf[p..], false);
                if let Ok(r) = lx.parse_obj_header() {
                    // A later definition of the same number wins, as in an incremental update.
                    objects.insert(r.num, (pos + p as u64, r.gen));
                    if objects.len() > MAX_ENTRIES {
                        return Err(PdfError::Damaged {
                            reason: "too many objects while rebuilding the cross-reference table",
                        });
                    }
                }
            }
            for p in find_all(&buf, b"trailer") {
                if p < limit {
                    trailers.push(pos + p as u64 + 7);
                }
            }
            pos += CHUNK as u64;
        }
        if objects.is_empty() {
            return Err(PdfError::Damaged {
                reason: "no cross-reference table and no objects",
            });
        }
        let mut entries: Vec<(u32, XrefEntry)> = objects
            .iter()
            .map(|(&num, &(offset, gen))| (num, XrefEntry::InUse { offset, gen }))
            .collect();
        entries.sort_by_key(|e| e.0);
        self.xref = entries.iter().copied().collect();
        let mut trailer = None;
        for &t in trailers.iter().rev() {
            if let Ok((Object::Dictionary(d), _)) = self.parse_at(t, |lx| lx.parse_object()) {
                if d.get("Root").is_some() {
                    trailer = Some(d);
                    break;
                }
            }
        }
        // No trailer: take the /Root of a cross-reference stream, or find the catalog; register
        // the members of object streams on the way (bounded by the objects found).
        let mut stm_members = Vec::new();
        let mut catalog = None;
        let mut nums: Vec<u32> = objects.keys().copied().collect();
        nums.sort_unstable();
        // At most this many objects are parsed (each parse reads a small window).
        for &num in nums.iter().take(RECONSTRUCT_PARSES) {
            let (offset, _) = objects[&num];
            let Ok((r, obj, _)) = self.parse_indirect(offset, None) else {
                continue;
            };
            let Some(d) = obj.as_dict() else { continue };
            if d.has_name("Type", "XRef") && trailer.is_none() && d.get("Root").is_some() {
                let mut t = d.clone();
                t.remove("Length");
                trailer = Some(t);
            } else if d.has_name("Type", "Catalog") {
                catalog = Some(r);
            } else if d.has_name("Type", "ObjStm") {
                if let Object::Stream(s) = &obj {
                    if let Ok(stm) = self.load_objstm_from(r, s) {
                        for (i, (n, _)) in stm.pairs.iter().enumerate() {
                            stm_members.push((*n, num, i as u32));
                        }
                    }
                }
            }
        }
        for (n, stream, index) in stm_members {
            if let std::collections::hash_map::Entry::Vacant(v) = self.xref.entry(n) {
                let e = XrefEntry::Compressed { stream, index };
                v.insert(e);
                entries.push((n, e));
            }
        }
        let trailer = match (trailer, catalog) {
            (Some(t), _) => t,
            (None, Some(c)) => {
                let mut t = Dictionary::new();
                t.set("Root", c);
                t
            }
            (None, None) => {
                return Err(PdfError::Damaged {
                    reason: "no trailer and no document catalog",
                })
            }
        };
        self.repairs.push(Repair::Reconstructed {
            objects: entries.len(),
        });
        self.sections.push(XrefSection {
            offset: 0,
            kind: XrefKind::Reconstructed,
            trailer,
            stream_object: None,
            entries,
            duplicates: Vec::new(),
            eof_end: Some(self.len),
        });
        Ok(())
    }

    // ---------------------------------------------------------------- objects

    /// Loads object `r` (a stream is returned with its data left in the file). A free or missing
    /// object is `null` (§7.3.10).
    pub fn get(&mut self, r: ObjRef) -> Result<Object, PdfError> {
        self.get_rc(r).map(|o| Object::clone(&o))
    }

    /// [`Self::get`], shared with the reader's cache rather than copied (a signature
    /// dictionary holds kilobytes of `/Contents`).
    pub fn get_rc(&mut self, r: ObjRef) -> Result<std::rc::Rc<Object>, PdfError> {
        if let Some(o) = self.cache.get(&r.num) {
            return Ok(std::rc::Rc::clone(o));
        }
        let Some(entry) = self.xref.get(&r.num).copied() else {
            return Ok(std::rc::Rc::new(Object::Null));
        };
        if self.loading.contains(&r.num) || self.loading.len() >= MAX_CHAIN {
            return Err(PdfError::ReferenceLoop { obj: r });
        }
        self.loading.push(r.num);
        let res = self.load(r, entry);
        self.loading.pop();
        let obj = std::rc::Rc::new(res?);
        if self.cache.len() >= CACHE_OBJECTS {
            self.cache.clear();
        }
        self.cache.insert(r.num, std::rc::Rc::clone(&obj));
        Ok(obj)
    }

    /// Loads object `r` as a given cross-reference entry defines it — for instance the entry of
    /// an older section, to compare an object's versions across revisions. Not cached.
    pub fn get_version(&mut self, r: ObjRef, entry: XrefEntry) -> Result<Object, PdfError> {
        if self.loading.contains(&r.num) || self.loading.len() >= MAX_CHAIN {
            return Err(PdfError::ReferenceLoop { obj: r });
        }
        self.loading.push(r.num);
        let res = self.load(r, entry);
        self.loading.pop();
        res
    }

    /// Follows references until a direct object (bounded; loops are an error).
    pub fn resolve(&mut self, o: &Object) -> Result<Object, PdfError> {
        let mut cur = o.clone();
        let mut seen = Vec::new();
        while let Object::Reference(r) = cur {
            if seen.contains(&r) || seen.len() >= MAX_CHAIN {
                return Err(PdfError::ReferenceLoop { obj: r });
            }
            seen.push(r);
            cur = self.get(r)?;
        }
        Ok(cur)
    }

    /// `dict[key]`, resolved.
    pub fn get_in(&mut self, dict: &Dictionary, key: &str) -> Result<Option<Object>, PdfError> {
        match dict.get(key) {
            None => Ok(None),
            Some(o) => self.resolve(o).map(|o| match o {
                Object::Null => None,
                o => Some(o),
            }),
        }
    }

    fn load(&mut self, r: ObjRef, entry: XrefEntry) -> Result<Object, PdfError> {
        match entry {
            XrefEntry::Free { .. } => Ok(Object::Null),
            XrefEntry::InUse { offset, gen } => {
                if gen != r.gen {
                    return Ok(Object::Null);
                }
                let (_, obj, _) = self.parse_indirect(offset, Some(r))?;
                Ok(obj)
            }
            XrefEntry::Compressed { stream, index } => {
                if r.gen != 0 {
                    return Ok(Object::Null);
                }
                self.load_compressed(r, stream, index)
            }
        }
    }

    /// Parses `n g obj ... [stream]` at `offset`. With `expect`, checks the header and looks a
    /// little around `offset` when it does not match. Returns the object and the offset after it.
    fn parse_indirect(
        &mut self,
        offset: u64,
        expect: Option<ObjRef>,
    ) -> Result<(ObjRef, Object, u64), PdfError> {
        let first = self.parse_indirect_exact(offset);
        let (at, (r, obj, stream_start, used)) = match (first, expect) {
            (Ok(v), Some(e)) if v.0 == e => (offset, v),
            (Ok(v), None) => (offset, v),
            (Err(e @ PdfError::Io { .. }), _) => return Err(e),
            (first, Some(e)) => match self.find_object_near(offset, e) {
                Some(found) => {
                    let v = self.parse_indirect_exact(found)?;
                    self.repairs.push(Repair::ObjectMoved {
                        obj: e,
                        expected: offset,
                        found,
                    });
                    (found, v)
                }
                None => {
                    // A header that parses but a body that does not: report the body's error;
                    // no header (or the wrong one) there: the object is not where it should be.
                    let header = self.parse_at(offset, |lx| lx.parse_obj_header());
                    return Err(match (first, header) {
                        (Err(err), Ok((h, _))) if h == e => err,
                        _ => PdfError::ObjectNotFound { obj: e, offset },
                    });
                }
            },
            (Err(e), None) => return Err(e),
        };
        let Some(data_start) = stream_start else {
            return Ok((r, obj, at + used as u64));
        };
        let Object::Dictionary(dict) = obj else {
            return Err(PdfError::structure("a stream dictionary", r));
        };
        let data_start = at + data_start as u64;
        let declared = match dict.get("Length") {
            Some(Object::Integer(n)) => u64::try_from(*n).ok(),
            Some(Object::Reference(lr)) => {
                let lr = *lr;
                match self.get(lr) {
                    Ok(Object::Integer(n)) => u64::try_from(n).ok(),
                    Err(e @ PdfError::ReferenceLoop { .. }) => return Err(e),
                    _ => None,
                }
            }
            _ => None,
        };
        let length = match declared {
            Some(l) if self.endstream_at(data_start, l)? => l,
            _ => {
                let used = self.scan_endstream(r, data_start)?;
                self.repairs.push(Repair::StreamLength {
                    obj: r,
                    declared,
                    used,
                });
                used
            }
        };
        let stream = Stream {
            dict,
            data: StreamData::File {
                offset: data_start,
                length,
            },
        };
        Ok((r, Object::Stream(stream), data_start + length))
    }

    /// Header, object, and (for a stream) the offset of its first data byte relative to `offset`.
    fn parse_indirect_exact(
        &mut self,
        offset: u64,
    ) -> Result<(ObjRef, Object, Option<usize>, usize), PdfError> {
        let ((r, obj, stream), used) = self.parse_at(offset, |lx| {
            let r = lx.parse_obj_header()?;
            let obj = lx.parse_object()?;
            lx.skip_ws();
            let rest = &lx.buf()[lx.pos()..];
            if rest.len() < 8 && !lx.is_complete() && matches!(obj, Object::Dictionary(_)) {
                return Err(ParseError {
                    offset: lx.buf().len(),
                    kind: ParseErrorKind::UnexpectedEnd,
                });
            }
            let mut stream = None;
            if rest.starts_with(b"stream") && matches!(obj, Object::Dictionary(_)) {
                let mut p = lx.pos() + 6;
                // `stream` is followed by CRLF or LF (§7.3.8.1); a lone CR is tolerated.
                match lx.buf().get(p..p + 2) {
                    Some(b"\r\n") => p += 2,
                    Some([b'\n', _]) | Some([b'\r', _]) => p += 1,
                    _ if lx.buf().len() <= p + 1 => {
                        return Err(ParseError {
                            offset: p,
                            kind: ParseErrorKind::UnexpectedEnd,
                        })
                    }
                    _ => {}
                }
                lx.set_pos(p);
                stream = Some(p);
            }
            Ok((r, obj, stream))
        })?;
        Ok((r, obj, stream, used))
    }

    fn find_object_near(&mut self, offset: u64, r: ObjRef) -> Option<u64> {
        let start = offset.saturating_sub(NEARBY);
        let buf = self.read_at(start, 2 * NEARBY as usize).ok()?;
        obj_headers(&buf)
            .into_iter()
            .filter(|&p| {
                let mut lx = Lexer::new(&buf[p..], false);
                lx.parse_obj_header().ok() == Some(r)
            })
            .map(|p| start + p as u64)
            .min_by_key(|&at| at.abs_diff(offset))
    }

    fn endstream_at(&mut self, data_start: u64, len: u64) -> Result<bool, PdfError> {
        let Some(end) = data_start.checked_add(len).filter(|&e| e <= self.len) else {
            return Ok(false);
        };
        let buf = self.read_at(end, 32)?;
        let skip = buf
            .iter()
            .take_while(|c| super::lexer::is_whitespace(**c))
            .count();
        Ok(buf[skip..].starts_with(b"endstream"))
    }

    /// Finds `endstream` after `data_start` (reading 1 MiB at a time, [`MAX_DECODED_STREAM`]
    /// bytes at most, so that many streams with wrong lengths cannot make reading quadratic) and
    /// returns the data length, without the end-of-line before `endstream`.
    fn scan_endstream(&mut self, r: ObjRef, data_start: u64) -> Result<u64, PdfError> {
        let mut pos = data_start;
        let limit = data_start
            .saturating_add(MAX_DECODED_STREAM as u64)
            .min(self.len);
        while pos < limit {
            let buf = self.read_at(pos, (1 << 20) + 16)?;
            if let Some(p) = find(&buf, b"endstream") {
                let mut end = pos + p as u64;
                let before = self.read_at(end.saturating_sub(2).max(data_start), 2)?;
                if before.ends_with(b"\r\n") {
                    end -= 2;
                } else if before.ends_with(b"\n") || before.ends_with(b"\r") {
                    end -= 1;
                }
                return Ok(end.saturating_sub(data_start));
            }
            pos += 1 << 20;
        }
        Err(PdfError::Decode {
            obj: r,
            reason: "no endstream where /Length says, nor within 64 MiB",
        })
    }

    fn load_compressed(&mut self, r: ObjRef, stream: u32, index: u32) -> Result<Object, PdfError> {
        let sref = ObjRef::new(stream);
        let Some(XrefEntry::InUse { offset: at, .. }) = self.xref.get(&stream).copied() else {
            return Err(PdfError::structure("an object stream", sref));
        };
        if self
            .objstm
            .as_ref()
            .is_none_or(|s| s.num != stream || s.at != at)
        {
            let Object::Stream(s) = self.get(sref)? else {
                return Err(PdfError::structure("an object stream", sref));
            };
            let mut stm = self.load_objstm_from(sref, &s)?;
            stm.at = at;
            self.objstm = Some(stm);
        }
        self.objstm_member(r, index)
    }

    /// Object `r`, stored at `index` in the object stream `sref` as the cross-reference entry
    /// `stream_entry` defines that stream — an older version of the stream, when comparing
    /// revisions (§7.5.7).
    pub fn get_compressed_version(
        &mut self,
        r: ObjRef,
        sref: ObjRef,
        stream_entry: XrefEntry,
        index: u32,
    ) -> Result<Object, PdfError> {
        let XrefEntry::InUse { offset: at, .. } = stream_entry else {
            return Err(PdfError::structure("an object stream", sref));
        };
        if r.gen != 0 {
            return Ok(Object::Null);
        }
        if self
            .objstm
            .as_ref()
            .is_none_or(|s| s.num != sref.num || s.at != at)
        {
            let Object::Stream(s) = self.get_version(sref, stream_entry)? else {
                return Err(PdfError::structure("an object stream", sref));
            };
            let mut stm = self.load_objstm_from(sref, &s)?;
            stm.at = at;
            self.objstm = Some(stm);
        }
        self.objstm_member(r, index)
    }

    fn objstm_member(&mut self, r: ObjRef, index: u32) -> Result<Object, PdfError> {
        let Some(stm) = self.objstm.as_ref() else {
            return Err(PdfError::structure("an object stream", r));
        };
        let Some(&(num, off)) = stm.pairs.get(index as usize) else {
            return Ok(Object::Null);
        };
        if num != r.num {
            return Err(PdfError::structure(
                "an object stream entry with the right number",
                r,
            ));
        }
        let start = stm.first.saturating_add(off).min(stm.data.len());
        let mut lx = Lexer::new(&stm.data[start..], true);
        lx.parse_object()
            .map_err(|error| PdfError::Syntax { offset: 0, error })
    }

    fn load_objstm_from(&mut self, sref: ObjRef, s: &Stream) -> Result<ObjStm, PdfError> {
        let bad = PdfError::structure("an object stream", sref);
        let n = s
            .dict
            .get("N")
            .and_then(Object::as_i64)
            .ok_or(PdfError::structure("an object stream's /N", sref))?;
        let first = s
            .dict
            .get("First")
            .and_then(Object::as_i64)
            .and_then(|f| usize::try_from(f).ok())
            .ok_or(PdfError::structure("an object stream's /First", sref))?;
        let data = self.decode_stream(sref, s, MAX_DECODED_STREAM)?;
        if first > data.len() || n < 0 || n as usize > data.len() {
            return Err(bad);
        }
        let mut lx = Lexer::new(&data[..first], true);
        let mut pairs = Vec::with_capacity(n as usize);
        for _ in 0..n {
            match (lx.next_token(), lx.next_token()) {
                (Ok(Some(Token::Int(num))), Ok(Some(Token::Int(off)))) => {
                    let num = u32::try_from(num)
                        .map_err(|_| PdfError::structure("an object stream", sref))?;
                    let off = usize::try_from(off)
                        .map_err(|_| PdfError::structure("an object stream", sref))?;
                    pairs.push((num, off));
                }
                _ => return Err(bad),
            }
        }
        Ok(ObjStm {
            num: sref.num,
            at: u64::MAX,
            data,
            first,
            pairs,
        })
    }

    // ---------------------------------------------------------------- streams

    /// The raw (encoded) data of a stream read from this file, if at most `cap` bytes.
    pub fn raw_stream_data(
        &mut self,
        r: ObjRef,
        s: &Stream,
        cap: usize,
    ) -> Result<Vec<u8>, PdfError> {
        match &s.data {
            StreamData::Bytes(b) => Ok(b.clone()),
            StreamData::File { offset, length } => {
                if *length > cap as u64 {
                    return Err(PdfError::TooLarge {
                        obj: r,
                        what: "the stream",
                        limit: cap as u64,
                    });
                }
                self.read_at(*offset, *length as usize)
            }
        }
    }

    /// The decoded data of stream `r` (FlateDecode with or without predictors; no filter), at
    /// most `cap` bytes decoded. Other filters are [`PdfError::UnsupportedFilter`].
    pub fn decode_stream(
        &mut self,
        r: ObjRef,
        s: &Stream,
        cap: usize,
    ) -> Result<Vec<u8>, PdfError> {
        let filters: Vec<Object> = match self.get_in(&s.dict, "Filter")? {
            None => Vec::new(),
            Some(Object::Array(a)) => a,
            Some(o) => vec![o],
        };
        let parms: Vec<Object> = match self.get_in(&s.dict, "DecodeParms")? {
            None => Vec::new(),
            Some(Object::Array(a)) => a,
            Some(o) => vec![o],
        };
        // Compressed data is at most `cap` bytes too: deflate never expands much.
        let mut data = self.raw_stream_data(r, s, cap)?;
        for (i, f) in filters.iter().enumerate() {
            let name = f.as_name().unwrap_or(b"?");
            match name {
                b"FlateDecode" | b"Fl" => {
                    data = inflate(&data, cap).map_err(|reason| match reason {
                        Inflate::TooLarge => PdfError::TooLarge {
                            obj: r,
                            what: "the decoded stream",
                            limit: cap as u64,
                        },
                        Inflate::Corrupt => PdfError::Decode {
                            obj: r,
                            reason: "corrupt deflate data",
                        },
                    })?;
                    let p = match parms.get(i) {
                        Some(o) => self.resolve(o)?,
                        None => Object::Null,
                    };
                    if let Some(d) = p.as_dict() {
                        data = predictor(&data, d)
                            .map_err(|reason| PdfError::Decode { obj: r, reason })?;
                    }
                }
                other => {
                    return Err(PdfError::UnsupportedFilter {
                        obj: r,
                        filter: String::from_utf8_lossy(other).into_owned(),
                    })
                }
            }
        }
        Ok(data)
    }

    // ---------------------------------------------------------------- pages

    /// The number of pages, from the root page tree node's `/Count`.
    pub fn page_count(&mut self) -> Result<u64, PdfError> {
        let (root, cat) = self.catalog()?;
        let pages = self
            .get_in(&cat, "Pages")?
            .ok_or(PdfError::structure("the page tree (/Pages)", root))?;
        pages
            .as_dict()
            .and_then(|d| d.get("Count"))
            .and_then(Object::as_i64)
            .and_then(|c| u64::try_from(c).ok())
            .ok_or(PdfError::structure("the page tree's /Count", root))
    }

    /// The page at `index` (0-based): its reference and dictionary. Walks down the page tree
    /// (§7.7.3) using `/Count`, reading only the nodes on the way.
    pub fn page(&mut self, index: u64) -> Result<(ObjRef, Dictionary), PdfError> {
        let (root, cat) = self.catalog()?;
        let mut node = cat
            .get("Pages")
            .and_then(Object::as_reference)
            .ok_or(PdfError::structure("the page tree (/Pages)", root))?;
        let mut left = index;
        let mut visited = HashSet::new();
        loop {
            if !visited.insert(node) || visited.len() > 64 {
                return Err(PdfError::ReferenceLoop { obj: node });
            }
            let d = match self.get(node)? {
                Object::Dictionary(d) => d,
                _ => return Err(PdfError::structure("a page tree node", node)),
            };
            let Some(kids) = self.get_in(&d, "Kids")? else {
                if left == 0 {
                    return Ok((node, d));
                }
                return Err(PdfError::structure("the requested page", node));
            };
            let kids = kids
                .as_array()
                .ok_or(PdfError::structure("/Kids", node))?
                .to_vec();
            let mut next = None;
            for k in kids {
                let Some(kr) = k.as_reference() else { continue };
                let kd = self.get(kr)?;
                let kd = kd
                    .as_dict()
                    .ok_or(PdfError::structure("a page tree node", kr))?;
                let count = if kd.get("Kids").is_some() {
                    kd.get("Count")
                        .and_then(Object::as_i64)
                        .and_then(|c| u64::try_from(c).ok())
                        .ok_or(PdfError::structure("a page tree node's /Count", kr))?
                } else {
                    1
                };
                if left < count {
                    next = Some(kr);
                    break;
                }
                left -= count;
            }
            node = next.ok_or(PdfError::structure("the requested page", node))?;
        }
    }
}

/// Groups sections into revisions (oldest first). A section whose `/Prev` section lies after it
/// in the file is a linearized file's first-page section: it and that section are one revision.
fn group_revisions(sections: &[XrefSection], len: u64) -> Vec<Revision> {
    let mut revs: Vec<Revision> = Vec::new();
    let mut i = sections.len();
    while i > 0 {
        i -= 1;
        let s = &sections[i];
        let end = s.eof_end.unwrap_or(len);
        let merge = i + 1 < sections.len()
            && s.offset < sections[i + 1].offset
            && revs.last().is_some_and(|r| r.sections.contains(&(i + 1)));
        match revs.last_mut() {
            Some(r) if merge => {
                r.sections.push(i);
                r.end = r.end.max(end);
            }
            _ => revs.push(Revision {
                sections: vec![i],
                end,
            }),
        }
    }
    revs
}

enum Inflate {
    TooLarge,
    Corrupt,
}

/// zlib-inflates at most `cap` bytes. Data cut short or with a bad checksum after some output is
/// accepted, as readers do.
fn inflate(data: &[u8], cap: usize) -> Result<Vec<u8>, Inflate> {
    let mut out = Vec::new();
    let mut dec = flate2::read::ZlibDecoder::new(data).take(cap as u64 + 1);
    match dec.read_to_end(&mut out) {
        Ok(_) => {}
        Err(_) if !out.is_empty() => {}
        Err(_) => return Err(Inflate::Corrupt),
    }
    if out.len() > cap {
        return Err(Inflate::TooLarge);
    }
    Ok(out)
}

/// Undoes a PNG (10-15) or TIFF (2) predictor (§7.4.4.4).
fn predictor(data: &[u8], parms: &Dictionary) -> Result<Vec<u8>, &'static str> {
    let int = |k: &str, def: i64| parms.get(k).and_then(Object::as_i64).unwrap_or(def);
    let pred = int("Predictor", 1);
    if pred == 1 {
        return Ok(data.to_vec());
    }
    let colors = int("Colors", 1);
    let bpc = int("BitsPerComponent", 8);
    let columns = int("Columns", 1);
    if !(1..=32).contains(&colors)
        || ![1, 2, 4, 8, 16].contains(&bpc)
        || !(1..=1 << 24).contains(&columns)
    {
        return Err("bad predictor parameters");
    }
    let bpp = ((colors * bpc + 7) / 8) as usize;
    let row = ((colors * bpc * columns + 7) / 8) as usize;
    if pred == 2 {
        if bpc != 8 {
            return Err("TIFF predictor with other than 8 bits per component");
        }
        let mut out = data.to_vec();
        for r in out.chunks_mut(row) {
            for i in bpp..r.len() {
                r[i] = r[i].wrapping_add(r[i - bpp]);
            }
        }
        return Ok(out);
    }
    if !(10..=15).contains(&pred) {
        return Err("unknown predictor");
    }
    let mut out = Vec::with_capacity(data.len());
    let mut prev = vec![0u8; row];
    for chunk in data.chunks(row + 1) {
        let (&ft, src) = chunk.split_first().ok_or("empty row")?;
        let mut cur = vec![0u8; row];
        cur[..src.len()].copy_from_slice(src);
        for i in 0..row {
            let a = if i >= bpp { cur[i - bpp] } else { 0 };
            let b = prev[i];
            let c = if i >= bpp { prev[i - bpp] } else { 0 };
            cur[i] = match ft {
                0 => cur[i],
                1 => cur[i].wrapping_add(a),
                2 => cur[i].wrapping_add(b),
                3 => cur[i].wrapping_add(((u16::from(a) + u16::from(b)) / 2) as u8),
                4 => cur[i].wrapping_add(paeth(a, b, c)),
                _ => return Err("bad PNG row filter"),
            };
        }
        out.extend_from_slice(&cur[..src.len()]);
        prev = cur;
    }
    Ok(out)
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = (
        (p - i16::from(a)).abs(),
        (p - i16::from(b)).abs(),
        (p - i16::from(c)).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

fn be(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |acc, &x| acc << 8 | u64::from(x))
}

fn parse_u64(w: &[u8]) -> Option<u64> {
    if w.is_empty() || w.len() > 19 || !w.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(w).ok()?.parse().ok()
}

pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

fn find_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    hay.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

/// Offsets of `n g obj` headers at the start of a line (or of the buffer) in `buf`.
fn obj_headers(buf: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    for p in find_all(buf, b"obj") {
        // Walk back over: spaces, generation digits, spaces, number digits.
        let mut i = p;
        let back_ws = |i: &mut usize| {
            let s = *i;
            while *i > 0 && matches!(buf[*i - 1], b' ' | b'\t' | 0) {
                *i -= 1;
            }
            *i < s
        };
        let back_digits = |i: &mut usize| {
            let s = *i;
            while *i > 0 && buf[*i - 1].is_ascii_digit() {
                *i -= 1;
            }
            *i < s && s - *i <= 10
        };
        if !back_ws(&mut i) || !back_digits(&mut i) || !back_ws(&mut i) || !back_digits(&mut i) {
            continue;
        }
        if i == 0
            || matches!(buf[i - 1], b'\r' | b'\n')
            || super::lexer::is_whitespace(buf[i - 1])
            || super::lexer::is_delimiter(buf[i - 1])
        {
            // `obj` must not be the start of `objects` etc.
            if buf.get(p + 3).is_none_or(|&c| !c.is_ascii_alphanumeric()) {
                out.push(i);
            }
        }
    }
    out
}

/// The entries of a classic cross-reference table at `off` (its subsections, up to `trailer`):
/// the entries, the object numbers given twice, and where `trailer` ends.
#[expect(clippy::type_complexity, reason = "three plain results of one pass")]
fn table_entries<B: std::io::BufRead>(
    rd: &mut WordReader<B>,
    off: u64,
) -> Result<(Vec<(u32, XrefEntry)>, Vec<u32>, u64), PdfError> {
    let bad = |reason| PdfError::BadXref {
        offset: off,
        reason,
    };
    let mut entries = Vec::new();
    let mut seen = super::NumSet::default();
    let mut duplicates = Vec::new();
    let trailer_at = loop {
        let w = rd.word().map_err(PdfError::io(rd.pos))?;
        match w.as_deref() {
            Some(b"trailer") => break rd.pos,
            None => return Err(bad("no trailer")),
            Some(first) => {
                let first = parse_u64(first).ok_or(bad("bad subsection header"))?;
                let count = rd
                    .word()
                    .map_err(PdfError::io(rd.pos))?
                    .as_deref()
                    .and_then(parse_u64)
                    .ok_or(bad("bad subsection header"))?;
                if first.saturating_add(count) > MAX_ENTRIES as u64
                    || entries.len() as u64 + count > MAX_ENTRIES as u64
                {
                    return Err(bad("too many entries"));
                }
                for i in 0..count {
                    let num = (first + i) as u32;
                    let mut field = || -> Result<Vec<u8>, PdfError> {
                        rd.word()
                            .map_err(PdfError::io(off))?
                            .ok_or(bad("truncated entry"))
                    };
                    let o = parse_u64(&field()?).ok_or(bad("bad entry offset"))?;
                    let g = parse_u64(&field()?)
                        .and_then(|g| u16::try_from(g).ok())
                        .ok_or(bad("bad entry generation"))?;
                    let e = match field()?.as_slice() {
                        b"n" => XrefEntry::InUse { offset: o, gen: g },
                        b"f" => XrefEntry::Free { gen: g },
                        _ => return Err(bad("bad entry type")),
                    };
                    if !seen.insert(num) {
                        duplicates.push(num);
                    }
                    // Entry 0 is the head of the free list; offsets 0 for in-use entries
                    // are a common writer bug meaning "free".
                    let e = match e {
                        XrefEntry::InUse { offset: 0, gen } => XrefEntry::Free { gen },
                        e => e,
                    };
                    entries.push((num, e));
                }
            }
        }
    };
    Ok((entries, duplicates, trailer_at))
}

/// Whitespace-separated words from a buffered source (for cross-reference tables).
struct WordReader<B> {
    inner: B,
    pos: u64,
}

impl<B: std::io::BufRead> WordReader<B> {
    fn word(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let mut w = Vec::new();
        loop {
            let buf = self.inner.fill_buf()?;
            if buf.is_empty() {
                return Ok((!w.is_empty()).then_some(w));
            }
            let mut used = 0;
            let mut done = false;
            for &b in buf {
                if super::lexer::is_whitespace(b) {
                    if !w.is_empty() {
                        done = true;
                        break;
                    }
                } else if b == b'<' || b == b'/' || w.len() >= 32 {
                    // The start of the trailer dictionary, or garbage: stop the word here.
                    if w.is_empty() {
                        w.push(b);
                        used += 1;
                    }
                    done = true;
                    break;
                } else {
                    w.push(b);
                }
                used += 1;
            }
            self.inner.consume(used);
            self.pos += used as u64;
            if done {
                return Ok(Some(w));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A minimal classic PDF with correct offsets.
    pub(crate) fn simple_pdf() -> Vec<u8> {
        build(&[
            b"<</Type/Catalog/Pages 2 0 R>>".to_vec(),
            b"<</Type/Pages/Kids[3 0 R]/Count 1>>".to_vec(),
            b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents 4 0 R>>".to_vec(),
            b"<</Length 8>>\nstream\nBT ET q\nendstream".to_vec(),
        ])
    }

    fn build(objs: &[Vec<u8>]) -> Vec<u8> {
        let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
        let mut offs = Vec::new();
        for (i, o) in objs.iter().enumerate() {
            offs.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
            out.extend_from_slice(o);
            out.extend_from_slice(b"\nendobj\n");
        }
        let x = out.len();
        out.extend_from_slice(
            format!("xref\n0 {}\n0000000000 65535 f\r\n", objs.len() + 1).as_bytes(),
        );
        for o in offs {
            out.extend_from_slice(format!("{o:010} 00000 n\r\n").as_bytes());
        }
        out.extend_from_slice(
            format!(
                "trailer\n<</Size {}/Root 1 0 R>>\nstartxref\n{x}\n%%EOF\n",
                objs.len() + 1
            )
            .as_bytes(),
        );
        out
    }

    fn open(b: &[u8]) -> Result<PdfReader<Cursor<&[u8]>>, PdfError> {
        PdfReader::new(Cursor::new(b), b.len() as u64)
    }

    #[test]
    fn reads_a_simple_file() {
        let pdf = simple_pdf();
        let mut r = open(&pdf).unwrap();
        assert!(r.repairs().is_empty());
        assert_eq!(r.header_version(), "1.7");
        assert_eq!(r.revisions().len(), 1);
        assert_eq!(r.revisions()[0].end, pdf.len() as u64 - 1);
        assert_eq!(r.page_count().unwrap(), 1);
        let (pr, page) = r.page(0).unwrap();
        assert_eq!(pr, ObjRef::new(3));
        let c = page.get("Contents").unwrap().as_reference().unwrap();
        let Object::Stream(s) = r.get(c).unwrap() else {
            panic!()
        };
        assert_eq!(
            r.decode_stream(c, &s, 100).unwrap(),
            b"BT ET q\n"[..8].to_vec()
        );
        assert!(r.page(1).is_err());
        assert_eq!(r.next_object_number(), 5);
        assert_eq!(r.get(ObjRef::new(99)).unwrap(), Object::Null);
        let e = r.sections()[0].entries[1];
        assert_eq!(e.0, 1);
        let cat = r.get_version(ObjRef::new(1), e.1).unwrap();
        assert!(cat.as_dict().unwrap().has_name("Type", "Catalog"));
    }

    #[test]
    fn repairs_shifted_offsets_and_lengths() {
        let mut pdf = simple_pdf();
        // Insert 3 bytes after the header: every offset is now 3 bytes early.
        pdf.splice(9..9, b"   ".iter().copied());
        let mut r = open(&pdf).unwrap();
        assert!(
            matches!(r.repairs()[0], Repair::XrefMoved { .. }),
            "{:?}",
            r.repairs()
        );
        r.page(0).unwrap();
        assert!(r
            .repairs()
            .iter()
            .any(|x| matches!(x, Repair::ObjectMoved { .. })));
        // A wrong /Length.
        let pdf = simple_pdf();
        let s = String::from_utf8_lossy(&pdf).replace("/Length 8>>", "/Length 9>>");
        let mut r = open(s.as_bytes()).unwrap();
        let Object::Stream(st) = r.get(ObjRef::new(4)).unwrap() else {
            panic!()
        };
        // The end-of-line before `endstream` is taken as the EOL marker, not data.
        assert!(
            matches!(st.data, StreamData::File { length: 7, .. }),
            "{:?}",
            st.data
        );
        assert!(r
            .repairs()
            .iter()
            .any(|x| matches!(x, Repair::StreamLength { .. })));
    }

    #[test]
    fn rebuilds_without_startxref() {
        let pdf = simple_pdf();
        let cut = find(&pdf, b"startxref").unwrap();
        let mut r = open(&pdf[..cut]).unwrap();
        assert!(r
            .repairs()
            .iter()
            .any(|x| matches!(x, Repair::Reconstructed { .. })));
        assert_eq!(r.page_count().unwrap(), 1);
    }

    #[test]
    fn hostile_inputs_give_errors() {
        assert!(matches!(open(b"hello"), Err(PdfError::NotPdf)));
        assert!(matches!(open(b""), Err(PdfError::NotPdf)));
        assert!(matches!(
            open(b"%PDF-1.4\ngarbage\n"),
            Err(PdfError::Damaged { .. })
        ));
        // startxref far outside the file, and no objects.
        assert!(open(b"%PDF-1.4\nstartxref\n999999999\n%%EOF").is_err());
        // A /Prev loop.
        let pdf = simple_pdf();
        let x = find(&pdf, b"xref\n").unwrap();
        let s = String::from_utf8_lossy(&pdf)
            .replace("/Root 1 0 R>>", &format!("/Root 1 0 R/Prev {x}>>"));
        let r = open(s.as_bytes()).unwrap();
        // The loop makes the chain unusable; the file is rebuilt instead.
        assert!(r
            .repairs()
            .iter()
            .any(|x| matches!(x, Repair::Reconstructed { .. })));
        // A stream whose /Length refers to itself.
        let pdf = build(&[
            b"<</Type/Catalog/Pages 2 0 R>>".to_vec(),
            b"<</Length 2 0 R>>\nstream\nxx\nendstream".to_vec(),
        ]);
        let mut r = open(&pdf).unwrap();
        assert!(matches!(
            r.get(ObjRef::new(2)),
            Err(PdfError::ReferenceLoop { .. })
        ));
        // Encrypted.
        let s = String::from_utf8_lossy(&simple_pdf())
            .replace("/Root 1 0 R>>", "/Root 1 0 R/Encrypt<<>>>>");
        assert!(matches!(open(s.as_bytes()), Err(PdfError::Encrypted)));
        // Deep nesting inside an object.
        let mut deep = b"<</Type/Catalog/Pages 2 0 R/X ".to_vec();
        deep.extend(std::iter::repeat_n(b'[', 5000));
        let pdf = build(&[deep]);
        let mut r = open(&pdf).unwrap();
        assert!(r.catalog().is_err());
    }

    #[test]
    fn duplicate_entries_are_exposed() {
        let pdf = simple_pdf();
        let s = String::from_utf8_lossy(&pdf).into_owned();
        // A second subsection redefining object 3 (pointing at object 4's offset).
        let e4 = s.rfind(" 00000 n\r\n").unwrap() - 10;
        let entry4 = s[e4..e4 + 20].to_string();
        let s2 = s.replacen("trailer", &format!("3 1\n{entry4}trailer"), 1);
        let mut r = open(s2.as_bytes()).unwrap();
        assert_eq!(r.sections()[0].duplicates, vec![3]);
        // The first definition wins, as for most readers.
        assert!(r
            .get(ObjRef::new(3))
            .unwrap()
            .as_dict()
            .unwrap()
            .has_name("Type", "Page"));
    }

    /// Mutated files (bytes flipped, cut, repeated) never panic, and reading stays bounded.
    #[test]
    fn mutations_never_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let base = simple_pdf();
        for i in 0..3000 {
            let mut b = base.clone();
            match i % 4 {
                0 => {
                    for _ in 0..(1 + rnd() % 4) {
                        let at = (rnd() % b.len() as u64) as usize;
                        b[at] = (rnd() & 0xff) as u8;
                    }
                }
                1 => b.truncate((rnd() % b.len() as u64) as usize),
                2 => {
                    let at = (rnd() % b.len() as u64) as usize;
                    let len = (rnd() % 64) as usize;
                    let chunk: Vec<u8> = b[at..(at + len).min(b.len())].to_vec();
                    b.splice(at..at, chunk.iter().copied().cycle().take(len * 50));
                }
                _ => {
                    let at = (rnd() % b.len() as u64) as usize;
                    b.insert(at, b"[(<</0 R\\"[(rnd() % 9) as usize]);
                }
            }
            let Ok(mut r) = open(&b) else { continue };
            let _ = r.page_count();
            let _ = r.page(0);
            for n in 0..8 {
                if let Ok(Object::Stream(s)) = r.get(ObjRef::new(n)) {
                    let _ = r.decode_stream(ObjRef::new(n), &s, 1 << 16);
                }
            }
        }
    }

    #[test]
    fn decompression_bombs_and_unsupported_filters() {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        for _ in 0..(4 << 10) {
            std::io::Write::write_all(&mut z, &[0u8; 1024]).unwrap();
        }
        let bomb = z.finish().unwrap();
        let mut obj =
            format!("<</Length {}/Filter/FlateDecode>>\nstream\n", bomb.len()).into_bytes();
        obj.extend_from_slice(&bomb);
        obj.extend_from_slice(b"\nendstream");
        let pdf = build(&[
            b"<</Type/Catalog/Pages 2 0 R>>".to_vec(),
            obj,
            b"<</Length 4/Filter[/FlateDecode/DCTDecode]>>\nstream\nabcd\nendstream".to_vec(),
        ]);
        let mut r = open(&pdf).unwrap();
        let Object::Stream(s) = r.get(ObjRef::new(2)).unwrap() else {
            panic!()
        };
        let e = r
            .decode_stream(ObjRef::new(2), &s, 1 << 20)
            .map(|d| d.len())
            .unwrap_err();
        assert!(matches!(e, PdfError::TooLarge { .. }), "{e:?}");
        let Object::Stream(s) = r.get(ObjRef::new(3)).unwrap() else {
            panic!()
        };
        // The first filter fails before the second is looked at; either error is clear.
        let e = r
            .decode_stream(ObjRef::new(3), &s, 1 << 20)
            .map(|d| d.len())
            .unwrap_err();
        assert!(
            matches!(
                e,
                PdfError::Decode { .. } | PdfError::UnsupportedFilter { .. }
            ),
            "{e:?}"
        );
        let pdf = build(&[
            b"<</Type/Catalog/Pages 2 0 R>>".to_vec(),
            b"<</Length 4/Filter/LZWDecode>>\nstream\nabcd\nendstream".to_vec(),
        ]);
        let mut r = open(&pdf).unwrap();
        let Object::Stream(s) = r.get(ObjRef::new(2)).unwrap() else {
            panic!()
        };
        let e = r
            .decode_stream(ObjRef::new(2), &s, 1 << 20)
            .map(|d| d.len())
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "object 2 0 R: stream filter /LZWDecode is not supported"
        );
    }

    #[test]
    fn reference_and_page_tree_loops() {
        let pdf = build(&[
            b"<</Type/Catalog/Pages 2 0 R/A 3 0 R>>".to_vec(),
            // The page tree's only kid is the tree itself.
            b"<</Type/Pages/Kids[2 0 R]/Count 1>>".to_vec(),
            b"4 0 R".to_vec(),
            b"3 0 R".to_vec(),
        ]);
        let mut r = open(&pdf).unwrap();
        let e = r.resolve(&Object::Reference(ObjRef::new(3))).unwrap_err();
        assert!(matches!(e, PdfError::ReferenceLoop { .. }), "{e:?}");
        let e = r.page(0).unwrap_err();
        assert!(matches!(e, PdfError::ReferenceLoop { .. }), "{e:?}");
        // An object stream that claims to hold itself.
        let pdf = build(&[
            b"<</Type/Catalog/Pages 3 0 R>>".to_vec(),
            b"<</Type/ObjStm/N 1/First 4/Length 9>>\nstream\n3 0 null\nendstream".to_vec(),
        ]);
        let mut r = open(&pdf).unwrap();
        r.xref.insert(
            2,
            XrefEntry::Compressed {
                stream: 2,
                index: 0,
            },
        );
        assert!(r.get(ObjRef::new(2)).is_err());
    }

    #[test]
    fn predictors() {
        // PNG Up predictor, 3 columns.
        let mut d = Dictionary::new();
        d.set("Predictor", 12i64);
        d.set("Columns", 3i64);
        let data = [2, 1, 2, 3, 2, 1, 1, 1];
        assert_eq!(predictor(&data, &d).unwrap(), vec![1, 2, 3, 2, 3, 4]);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut z, &[0u8; 10_000]).unwrap();
        let c = z.finish().unwrap();
        assert!(matches!(inflate(&c, 100), Err(Inflate::TooLarge)));
        assert_eq!(inflate(&c, 10_000).ok().map(|v| v.len()), Some(10_000));
        assert!(matches!(inflate(b"garbage", 100), Err(Inflate::Corrupt)));
    }
}
