//! The PDF side of signing: a signature (ISO 32000-2 §12.8.1, PAdES ETSI EN 319 142-1 §5.3)
//! or document timestamp (§12.8.5) placeholder in an incremental update, the digest of the bytes
//! its `/ByteRange` covers, then the CMS written into `/Contents`.
//!
//! Two phases: [`prepare`] writes the whole output to a temporary file beside the output,
//! hashing while it copies (the input is read once, 1 MiB at a time, and never changed), and
//! returns a [`PreparedSignature`] that serialises (paths, offsets, digest) so a server can park
//! it while a remote signer works. [`finish`] writes the CMS into the reserved space and renames
//! the temporary file to the output, atomically. The CMS itself is built elsewhere.
//!
//! ```no_run
//! use pki_core::pdf::sign::{self, SignatureOptions};
//! use std::path::Path;
//!
//! # fn cms_over(_digest: &[u8]) -> Vec<u8> { Vec::new() }
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut opts = SignatureOptions::pades(16 * 1024);
//! opts.signing_time = Some(time::macros::datetime!(2025-03-20 10:00:00 +07:00));
//! opts.reason = Some("Phê duyệt".into());
//! let prepared = sign::prepare(Path::new("in.pdf"), Path::new("out.pdf"), &opts)?;
//! // `prepared` serialises (serde): park it while a remote signer works.
//! let cms = cms_over(&prepared.digest);
//! sign::finish(&prepared, &cms)?;
//! # Ok(())
//! # }
//! ```

use super::object::{write_string, Dictionary, ObjRef, Object, PdfString, Stream, StreamData};
use super::reader::PdfReader;
use super::writer::{text_string, IncrementalUpdate};
use super::PdfError;
use hsm::HashAlgorithm;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// Width reserved for `/ByteRange`: `[` + four 10-digit numbers with spaces + `]`.
const BYTE_RANGE_WIDTH: usize = 45;
const CHUNK: usize = 1 << 20;

/// Why signing could not be prepared or finished.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The input PDF could not be read or updated.
    #[error("cannot read the PDF")]
    Pdf(#[from] PdfError),
    /// A file operation failed.
    #[error("{action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The CMS is larger than the space reserved for it.
    #[error(
        "the signature ({needed} bytes) does not fit the {reserved} bytes reserved in /Contents"
    )]
    ContentsTooSmall {
        /// Size of the CMS.
        needed: usize,
        /// Bytes reserved.
        reserved: usize,
    },
    /// A field with the requested name already exists.
    #[error("the document already has a field named \"{0}\"")]
    FieldExists(String),
    /// The input changed while it was being read.
    #[error("the input changed while it was being signed")]
    InputChanged,
    /// The temporary file is not the one prepared (changed or replaced since).
    #[error("the prepared file {0} was changed since it was prepared")]
    TempChanged(PathBuf),
    /// A certification signature was asked for a document that is already signed: it must be
    /// the first signature (ISO 32000-2 §12.8.2.2).
    #[error(
        "the document is already signed; only the first signature can certify it (sign without --certify)"
    )]
    CertifyAfterSignature,
    /// A certification signature allows no change to the document (DocMDP `/P 1`).
    #[error(
        "the document is certified with \"no changes allowed\": another signature would break it"
    )]
    CertifiedNoChanges,
    /// The output would be larger than `/ByteRange` can describe (10 digits).
    #[error("the output would be too large for a signature (over 9,999,999,999 bytes)")]
    TooLarge,
}

/// Which `/SubFilter` a signature uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum SubFilter {
    /// `/ETSI.CAdES.detached` (PAdES, ETSI EN 319 142-1).
    CadesDetached,
    /// `/adbe.pkcs7.detached` (ISO 32000-1 §12.8.3.3).
    Pkcs7Detached,
}

/// What is being placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureKind {
    /// A signature (`/Type /Sig`).
    Signature(SubFilter),
    /// A document timestamp (`/Type /DocTimeStamp`, `/SubFilter /ETSI.RFC3161`).
    DocTimeStamp,
}

/// A widget appearance supplied by the caller: a form XObject (§8.10) used as `/AP /N`.
#[derive(Clone, Debug)]
pub struct Appearance {
    /// The widget rectangle on the page `[llx lly urx ury]`, in default user space units.
    pub rect: [f64; 4],
    /// The content stream (unencoded), drawn in a `/BBox` of `[0 0 width height]`.
    pub content: Vec<u8>,
    /// The XObject's `/Resources`. References are to objects already in the file, or
    /// [`Appearance::local`] references to `objects`.
    pub resources: Dictionary,
    /// New indirect objects the appearance needs (images, their soft masks, fonts), written in
    /// the update. They refer to each other with [`Appearance::local`] references too; all local
    /// references are renumbered when the update is built.
    pub objects: Vec<Object>,
}

/// The generation number that marks a local reference (never used by an in-use object:
/// §7.5.4 reserves 65535 for the head of the free list).
const LOCAL_GEN: u16 = u16::MAX;

impl Appearance {
    /// A reference to `objects[index]`, valid inside `resources` and `objects`.
    pub fn local(index: usize) -> ObjRef {
        ObjRef {
            num: u32::try_from(index).unwrap_or(u32::MAX),
            gen: LOCAL_GEN,
        }
    }
}

/// The DocMDP permission level of a certification signature (ISO 32000-2 §12.8.2.2, Table 257).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum DocMdp {
    /// `/P 1`: no changes at all.
    NoChanges,
    /// `/P 2`: filling in forms, instantiating page templates and signing.
    FormFillingAndSigning,
    /// `/P 3`: as 2, plus annotations.
    Annotations,
}

impl DocMdp {
    /// The `/P` value.
    pub fn p(self) -> u8 {
        match self {
            Self::NoChanges => 1,
            Self::FormFillingAndSigning => 2,
            Self::Annotations => 3,
        }
    }

    /// From a `/P` value (1, 2 or 3).
    pub fn from_p(p: u8) -> Option<Self> {
        match p {
            1 => Some(Self::NoChanges),
            2 => Some(Self::FormFillingAndSigning),
            3 => Some(Self::Annotations),
            _ => None,
        }
    }
}

/// What to place and how.
#[derive(Clone, Debug)]
pub struct SignatureOptions {
    /// Signature or document timestamp.
    pub kind: SignatureKind,
    /// Digest algorithm for the `/ByteRange` digest.
    pub hash: HashAlgorithm,
    /// Bytes reserved for the CMS in `/Contents` (written as twice as many hex digits).
    pub contents_size: usize,
    /// `/M`: the signing time as claimed by the signer (none for a document timestamp).
    pub signing_time: Option<OffsetDateTime>,
    /// `/Reason`.
    pub reason: Option<String>,
    /// `/Location`.
    pub location: Option<String>,
    /// `/Name` (of the signer; usually left to the certificate).
    pub name: Option<String>,
    /// `/ContactInfo`.
    pub contact_info: Option<String>,
    /// The page (0-based) carrying the widget.
    pub page: u64,
    /// The field name; `SignatureN` with the first free N when `None`. Naming an existing
    /// empty signature field fills that field (its widget keeps its place; `page` and the
    /// appearance's `rect` are then not used, the appearance's content is); naming any other
    /// existing field is an error.
    pub field_name: Option<String>,
    /// The widget's appearance; `None` for an invisible signature (`/Rect [0 0 0 0]`).
    pub appearance: Option<Appearance>,
    /// Make a certification signature (`/Perms /DocMDP`, §12.8.2.2) with this permission
    /// level. Only the first signature of a document can certify it.
    pub certify: Option<DocMdp>,
    /// Whether each phase forces its file to disk (`fsync`) before going on. A batch may say
    /// `false` and sync the file system once at the end: the rename still makes each output
    /// appear whole or not at all to other processes, but a power cut before that sync can
    /// lose outputs.
    pub sync: bool,
}

impl SignatureOptions {
    /// An invisible PAdES signature on the first page, SHA-256, with `contents_size` bytes
    /// reserved.
    pub fn pades(contents_size: usize) -> Self {
        Self {
            kind: SignatureKind::Signature(SubFilter::CadesDetached),
            hash: HashAlgorithm::Sha256,
            contents_size,
            signing_time: None,
            reason: None,
            location: None,
            name: None,
            contact_info: None,
            page: 0,
            field_name: None,
            appearance: None,
            certify: None,
            sync: true,
        }
    }

    /// An invisible document timestamp, SHA-256.
    pub fn doc_timestamp(contents_size: usize) -> Self {
        Self {
            kind: SignatureKind::DocTimeStamp,
            ..Self::pades(contents_size)
        }
    }
}

/// A prepared signature: the output written to a temporary file with `/Contents` still zero.
/// Serialisable, so the second phase can run in another process.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PreparedSignature {
    /// The temporary file (in the output's directory).
    pub temp_path: PathBuf,
    /// Where [`finish`] renames it to.
    pub output_path: PathBuf,
    /// The temporary file's length.
    pub file_len: u64,
    /// `/ByteRange`: `[0, a, b, c]` (start, length, start, length).
    pub byte_range: [u64; 4],
    /// The digest algorithm (`sha256`, `sha384`, `sha512`).
    #[serde(with = "hash_name")]
    pub hash: HashAlgorithm,
    /// The digest of the bytes `/ByteRange` covers: what the CMS signs (as its message digest).
    pub digest: Vec<u8>,
    /// Offset of the first hex digit of `/Contents` (after `<`).
    pub contents_offset: u64,
    /// Bytes reserved for the CMS.
    pub contents_capacity: usize,
    /// The field's name.
    pub field_name: String,
    /// The signature dictionary's object.
    pub signature_object: ObjRef,
    /// Whether [`finish`] forces the file to disk ([`SignatureOptions::sync`]).
    #[serde(default = "yes")]
    pub sync: bool,
}

mod hash_name {
    use hsm::HashAlgorithm;

    pub fn serialize<S: serde::Serializer>(h: &HashAlgorithm, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(h.name())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<HashAlgorithm, D::Error> {
        let name: String = serde::Deserialize::deserialize(d)?;
        [
            HashAlgorithm::Sha256,
            HashAlgorithm::Sha384,
            HashAlgorithm::Sha512,
            HashAlgorithm::Sha1,
        ]
        .into_iter()
        .find(|h| h.name() == name)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown digest {name}")))
    }
}

pub(crate) fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> SignError + 'a {
    move |source| SignError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// `D:YYYYMMDDHHmmSS+HH'mm'` (§7.9.4).
pub fn pdf_date(t: OffsetDateTime) -> String {
    let (h, m, _) = t.offset().as_hms();
    let sign = if t.offset().is_negative() { '-' } else { '+' };
    format!(
        "D:{:04}{:02}{:02}{:02}{:02}{:02}{sign}{:02}'{:02}'",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        h.unsigned_abs(),
        m.unsigned_abs()
    )
}

/// The incremental update of a signature, serialised, with its `/ByteRange` filled in and
/// `/Contents` still zero.
struct Built {
    /// The bytes to append to the input.
    bytes: Vec<u8>,
    byte_range: [u64; 4],
    /// The `<` and one past the `>` of `/Contents`, in the whole output.
    c_start: u64,
    c_end: u64,
    field_name: String,
    sig: ObjRef,
}

/// Builds the update that adds the signature field and its placeholder to the document
/// `reader` reads (only what the update needs is read: the trailer, the catalog, the form, the
/// page).
fn build_update<R: Read + Seek>(
    reader: &mut PdfReader<R>,
    opts: &SignatureOptions,
) -> Result<Built, SignError> {
    let mut update = IncrementalUpdate::new(reader)?;
    let (sig_body, br_rel, contents_rel) = signature_body(opts);
    let sig = update.add_raw(sig_body);

    let (root_ref, mut catalog) = reader.catalog()?;
    // P=1 forbids new signatures, not document time-stamps (ISO 32000-2 §12.8.2.2.2,
    // EN 319 142-1 §5.4: DSS and document time-stamps keep a certified document long-term).
    if opts.kind != SignatureKind::DocTimeStamp && docmdp_forbids_changes(reader, &catalog)? {
        return Err(SignError::CertifiedNoChanges);
    }
    let mut catalog_changed = false;
    if opts.certify.is_some() {
        if has_signatures(reader, &catalog)? {
            return Err(SignError::CertifyAfterSignature);
        }
        let mut perms = match reader.get_in(&catalog, "Perms")? {
            Some(Object::Dictionary(d)) => d,
            _ => Dictionary::new(),
        };
        perms.set("DocMDP", sig);
        catalog.set("Perms", perms);
        catalog_changed = true;
    }
    let appearance = opts.appearance.as_ref().map(|a| localise(a, &mut update));

    // The AcroForm: in the catalog, as an indirect object, or new (§12.7.3).
    let acro_ref = catalog.get("AcroForm").and_then(Object::as_reference);
    let mut acro = match reader.get_in(&catalog, "AcroForm")? {
        Some(Object::Dictionary(d)) => d,
        _ => Dictionary::new(),
    };
    let mut fields = match reader.get_in(&acro, "Fields")? {
        Some(Object::Array(a)) => a,
        _ => Vec::new(),
    };
    let mut names = Vec::new();
    let mut empty_field = None;
    for f in fields.iter().take(10_000) {
        let Ok(Object::Dictionary(d)) = reader.resolve(f) else {
            continue;
        };
        let Some(name) = d
            .get("T")
            .and_then(Object::as_string)
            .map(PdfString::to_text)
        else {
            continue;
        };
        if opts.field_name.as_ref() == Some(&name)
            && d.has_name("FT", "Sig")
            && d.get("V").is_none()
        {
            empty_field = f.as_reference().map(|r| (r, d.clone()));
        }
        names.push(name);
    }
    let field_name = match &opts.field_name {
        Some(n) if names.contains(n) && empty_field.is_none() => {
            return Err(SignError::FieldExists(n.clone()))
        }
        Some(n) => n.clone(),
        None => (1..)
            .map(|i| format!("Signature{i}"))
            .find(|n| !names.contains(n))
            .unwrap_or_else(|| "Signature".into()),
    };

    let flags = acro.get("SigFlags").and_then(Object::as_i64).unwrap_or(0);
    acro.set("SigFlags", flags | 3);
    if let Some((field_ref, mut field)) = empty_field {
        // An empty signature field placed beforehand (by a document system): fill it. Its
        // widget is the field itself or its first kid, already on its page.
        field.set("V", sig);
        if let Some(a) = &appearance {
            let ap = update.add(appearance_stream(Some(a)));
            let mut apd = Dictionary::new();
            apd.set("N", ap);
            if field.has_name("Subtype", "Widget") {
                field.set("AP", apd);
            } else if let Some(kid) = field
                .get("Kids")
                .and_then(Object::as_array)
                .and_then(|k| k.first())
                .and_then(Object::as_reference)
            {
                if let Object::Dictionary(mut w) = reader.get(kid)? {
                    w.set("AP", apd);
                    update.replace(kid, w);
                }
            }
        }
        update.replace(field_ref, field);
        if flags & 3 != 3 {
            match acro_ref {
                Some(r) => update.replace(r, acro),
                None => {
                    catalog.set("AcroForm", acro);
                    catalog_changed = true;
                }
            }
        }
    } else {
        let (page_ref, mut page) = reader.page(opts.page)?;
        let rect = appearance.as_ref().map_or([0.0; 4], |a| a.rect);
        // An invisible document time-stamp gets no appearance at all (ISO 32000-2 recommends
        // none; verifiers such as pyHanko treat a new appearance stream as form filling, which a
        // P=1 certification forbids). Other invisible widgets keep an empty one (PDF/A).
        let apd = if appearance.is_none() && opts.kind == SignatureKind::DocTimeStamp {
            None
        } else {
            let ap = update.add(appearance_stream(appearance.as_ref()));
            let mut apd = Dictionary::new();
            apd.set("N", ap);
            Some(apd)
        };

        // The field merged with its widget annotation (§12.7.5.5, §12.5.6.19).
        let mut field = Dictionary::new();
        field.set("Type", Object::name("Annot"));
        field.set("Subtype", Object::name("Widget"));
        field.set("FT", Object::name("Sig"));
        field.set("T", PdfString::from_text(&field_name));
        field.set("V", sig);
        field.set("F", 132i64);
        field.set("Rect", rect.iter().map(|&v| real(v)).collect::<Vec<_>>());
        field.set("P", page_ref);
        if let Some(apd) = apd {
            field.set("AP", apd);
        }
        let field_ref = update.add(field);

        // The page gets the widget in /Annots (an indirect array is copied in as a direct one).
        let mut annots = match reader.get_in(&page, "Annots")? {
            Some(Object::Array(a)) => a,
            _ => Vec::new(),
        };
        annots.push(field_ref.into());
        page.set("Annots", annots);
        update.replace(page_ref, page);

        fields.push(field_ref.into());
        acro.set("Fields", fields);
        match acro_ref {
            Some(r) => update.replace(r, acro),
            None => {
                let r = update.add(acro);
                catalog.set("AcroForm", r);
                catalog_changed = true;
            }
        }
    }
    if catalog_changed {
        update.replace(root_ref, catalog);
    }

    let ser = update.serialize()?;
    let base_len = reader.len();
    let sig_body_at = ser
        .body_offsets
        .get(&sig.num)
        .copied()
        .ok_or(PdfError::Damaged {
            reason: "the signature object was not written",
        })?;
    let total = base_len + ser.bytes.len() as u64;
    if total > 9_999_999_999 {
        return Err(SignError::TooLarge);
    }
    let c_start = sig_body_at + contents_rel as u64;
    let c_end = c_start + 2 + 2 * opts.contents_size as u64;
    let byte_range = [0, c_start, c_end, total - c_end];
    let mut bytes = ser.bytes;
    let br_at = (sig_body_at - base_len) as usize + br_rel;
    let br = format!("[0 {} {} {}]", byte_range[1], byte_range[2], byte_range[3]);
    let br = format!("{br:<BYTE_RANGE_WIDTH$}");
    bytes[br_at..br_at + BYTE_RANGE_WIDTH].copy_from_slice(br.as_bytes());
    Ok(Built {
        bytes,
        byte_range,
        c_start,
        c_end,
        field_name,
        sig,
    })
}

/// Phase one: writes `input` plus an incremental update with the placeholder into a temporary
/// file beside `output`, and computes the digest of the bytes the `/ByteRange` covers.
pub fn prepare(
    input: &Path,
    output: &Path,
    opts: &SignatureOptions,
) -> Result<PreparedSignature, SignError> {
    let mut reader = PdfReader::open(input)?;
    let base_len = reader.len();
    let built = build_update(&mut reader, opts)?;
    drop(reader);
    let Built {
        bytes,
        byte_range,
        c_start,
        c_end,
        field_name,
        sig,
    } = built;
    let bytes_len = bytes.len() as u64;

    // Copy the input and append the update, hashing everything outside /Contents.
    let dir = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let (temp_path, mut tmp) = create_temp(dir, output)?;
    let result = (|| -> Result<Vec<u8>, SignError> {
        let mut ctx = aws_lc_rs::digest::Context::new(opts.hash.digest_algorithm());
        let mut src = File::open(input).map_err(io_err("cannot open", input))?;
        // Small documents (the usual case in batches) need no megabyte of zeroes each.
        let mut buf = vec![0u8; CHUNK.min(base_len as usize + 1)];
        let mut copied = 0u64;
        loop {
            let n = src.read(&mut buf).map_err(io_err("cannot read", input))?;
            if n == 0 {
                break;
            }
            copied += n as u64;
            if copied > base_len {
                return Err(SignError::InputChanged);
            }
            ctx.update(&buf[..n]);
            tmp.write_all(&buf[..n])
                .map_err(io_err("cannot write", &temp_path))?;
        }
        if copied != base_len {
            return Err(SignError::InputChanged);
        }
        let hole = (c_start - base_len) as usize..(c_end - base_len) as usize;
        ctx.update(&bytes[..hole.start]);
        ctx.update(&bytes[hole.end..]);
        tmp.write_all(&bytes)
            .map_err(io_err("cannot write", &temp_path))?;
        if opts.sync {
            tmp.sync_all().map_err(io_err("cannot write", &temp_path))?;
        }
        Ok(ctx.finish().as_ref().to_vec())
    })();
    let digest = match result {
        Ok(d) => d,
        Err(e) => {
            let _ = std::fs::remove_file(&temp_path);
            return Err(e);
        }
    };
    Ok(PreparedSignature {
        temp_path,
        output_path: output.to_path_buf(),
        file_len: base_len + bytes_len,
        byte_range,
        hash: opts.hash,
        digest,
        contents_offset: c_start + 1,
        contents_capacity: opts.contents_size,
        field_name,
        signature_object: sig,
        sync: opts.sync,
    })
}

/// Phase two: writes `cms_der` (hex, zero-padded) into `/Contents` and renames the temporary
/// file to the output. On error the temporary file is left for [`abort`] (or a retry with a
/// CMS that fits).
pub fn finish(prepared: &PreparedSignature, cms_der: &[u8]) -> Result<(), SignError> {
    if cms_der.len() > prepared.contents_capacity {
        return Err(SignError::ContentsTooSmall {
            needed: cms_der.len(),
            reserved: prepared.contents_capacity,
        });
    }
    let path = &prepared.temp_path;
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_err("cannot open", path))?;
    let len = f.metadata().map_err(io_err("cannot read", path))?.len();
    // Check that the reserved space is still where and what it was.
    let mut probe = vec![0u8; 2 * prepared.contents_capacity + 2];
    f.seek(SeekFrom::Start(prepared.contents_offset - 1))
        .and_then(|_| f.read_exact(&mut probe))
        .map_err(io_err("cannot read", path))?;
    let intact = probe.first() == Some(&b'<')
        && probe.last() == Some(&b'>')
        && probe[1..probe.len() - 1].iter().all(|&c| c == b'0');
    if len != prepared.file_len || !intact {
        return Err(SignError::TempChanged(path.clone()));
    }
    f.seek(SeekFrom::Start(prepared.contents_offset))
        .and_then(|_| f.write_all(hex::encode_upper(cms_der).as_bytes()))
        .and_then(|_| if prepared.sync { f.sync_all() } else { Ok(()) })
        .map_err(io_err("cannot write", path))?;
    drop(f);
    std::fs::rename(path, &prepared.output_path)
        .map_err(io_err("cannot rename to", &prepared.output_path))
}

/// Removes the temporary file of a signature that will not be finished.
pub fn abort(prepared: &PreparedSignature) -> Result<(), SignError> {
    std::fs::remove_file(&prepared.temp_path).map_err(io_err("cannot remove", &prepared.temp_path))
}

/// Documents up to this size are signed in memory by [`prepare_in_memory`] (a batch of
/// one-page documents); larger ones stream through [`prepare`] and [`finish`].
pub const IN_MEMORY_MAX: u64 = 8 << 20;

/// A signature prepared in memory: the input and its update in one buffer, `/Contents` still
/// zero, nothing on disk yet. [`PreparedInMemory::write`] writes the output once (one file
/// created, one write, one rename), so a document signed at once by a key at hand costs no
/// temporary copy and no second pass over its bytes.
#[derive(Debug)]
pub struct PreparedInMemory {
    data: Vec<u8>,
    contents_at: usize,
    capacity: usize,
    /// `/ByteRange`.
    pub byte_range: [u64; 4],
    /// The digest of the bytes `/ByteRange` covers.
    pub digest: Vec<u8>,
    /// The field's name.
    pub field_name: String,
    /// The signature dictionary's object.
    pub signature_object: ObjRef,
}

/// Reads `input` whole when it is at most `max` bytes long (`None`: larger, use [`prepare`]),
/// with room for an update reserving `contents_size` bytes.
pub fn read_small(
    input: &Path,
    max: u64,
    contents_size: usize,
) -> Result<Option<Vec<u8>>, SignError> {
    let mut f = File::open(input).map_err(io_err("cannot open", input))?;
    let len = f.metadata().map_err(io_err("cannot read", input))?.len();
    if len > max {
        return Ok(None);
    }
    // Read into the exact size plus one byte (`read_to_end` would stat the file again to size
    // its buffer): a file that grew fills the extra byte, one that shrank ends early. A small
    // regular file comes in one `read`, which also shows the end.
    let len = len as usize;
    let mut data = Vec::with_capacity(len + 2 * contents_size + 8192);
    data.resize(len + 1, 0);
    let mut filled = 0;
    while filled <= len {
        match f.read(&mut data[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err("cannot read", input)(e)),
        }
    }
    if filled != len {
        return Err(SignError::InputChanged);
    }
    data.truncate(len);
    Ok(Some(data))
}

/// Phase one in memory: `data` is the whole input document (see [`read_small`]).
pub fn prepare_in_memory(
    mut data: Vec<u8>,
    opts: &SignatureOptions,
) -> Result<PreparedInMemory, SignError> {
    let len = data.len() as u64;
    let built = {
        let mut reader = PdfReader::new(std::io::Cursor::new(&data[..]), len)?;
        build_update(&mut reader, opts)?
    };
    data.extend_from_slice(&built.bytes);
    let (start, end) = (built.c_start as usize, built.c_end as usize);
    let mut ctx = aws_lc_rs::digest::Context::new(opts.hash.digest_algorithm());
    ctx.update(&data[..start]);
    ctx.update(&data[end..]);
    Ok(PreparedInMemory {
        data,
        contents_at: start + 1,
        capacity: opts.contents_size,
        byte_range: built.byte_range,
        digest: ctx.finish().as_ref().to_vec(),
        field_name: built.field_name,
        signature_object: built.sig,
    })
}

impl PreparedInMemory {
    /// Bytes reserved for the CMS.
    pub fn contents_capacity(&self) -> usize {
        self.capacity
    }

    /// Puts `cms_der` into `/Contents` and returns the signed document's bytes (for a caller
    /// that stores or sends them itself, e.g. a service packing many outputs into one file).
    pub fn into_signed_bytes(mut self, cms_der: &[u8]) -> Result<Vec<u8>, SignError> {
        if cms_der.len() > self.capacity {
            return Err(SignError::ContentsTooSmall {
                needed: cms_der.len(),
                reserved: self.capacity,
            });
        }
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let slot = &mut self.data[self.contents_at..self.contents_at + 2 * cms_der.len()];
        for (pair, b) in slot.chunks_exact_mut(2).zip(cms_der) {
            pair[0] = HEX[usize::from(b >> 4)];
            pair[1] = HEX[usize::from(b & 15)];
        }
        Ok(self.data)
    }

    /// Puts `cms_der` into `/Contents` and writes the document to `output` atomically (a
    /// temporary file beside it, renamed; `sync`: forced to disk first).
    pub fn write(self, cms_der: &[u8], output: &Path, sync: bool) -> Result<(), SignError> {
        let data = self.into_signed_bytes(cms_der)?;
        let dir = output
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let (temp_path, mut tmp) = create_temp(dir, output)?;
        let written = tmp
            .write_all(&data)
            .and_then(|()| if sync { tmp.sync_all() } else { Ok(()) })
            .map_err(io_err("cannot write", &temp_path))
            .and_then(|()| {
                drop(tmp);
                std::fs::rename(&temp_path, output).map_err(io_err("cannot rename to", output))
            });
        if written.is_err() {
            let _ = std::fs::remove_file(&temp_path);
        }
        written
    }
}

/// The widget's appearance XObject: the caller's, or an empty one for an invisible widget.
fn appearance_stream(a: Option<&Appearance>) -> Stream {
    let mut d = Dictionary::new();
    d.set("Type", Object::name("XObject"));
    d.set("Subtype", Object::name("Form"));
    let (w, h) = a.map_or((0.0, 0.0), |a| {
        ((a.rect[2] - a.rect[0]).abs(), (a.rect[3] - a.rect[1]).abs())
    });
    d.set(
        "BBox",
        vec![Object::Integer(0), Object::Integer(0), real(w), real(h)],
    );
    if let Some(a) = a {
        d.set("Resources", a.resources.clone());
    }
    Stream {
        dict: d,
        data: StreamData::Bytes(a.map(|a| a.content.clone()).unwrap_or_default()),
    }
}

/// Adds the appearance's own objects to the update and returns the appearance with its local
/// references pointing at them.
fn localise(a: &Appearance, update: &mut super::writer::IncrementalUpdate) -> Appearance {
    // Reserve the numbers first: objects may refer to later ones.
    let refs: Vec<ObjRef> = a.objects.iter().map(|_| update.add(Object::Null)).collect();
    for (r, o) in refs.iter().zip(&a.objects) {
        let mut o = o.clone();
        relink(&mut o, &refs);
        update.replace(*r, o);
    }
    let mut resources = Object::Dictionary(a.resources.clone());
    relink(&mut resources, &refs);
    Appearance {
        rect: a.rect,
        content: a.content.clone(),
        resources: match resources {
            Object::Dictionary(d) => d,
            _ => Dictionary::new(),
        },
        objects: Vec::new(),
    }
}

pub(crate) fn relink(o: &mut Object, refs: &[ObjRef]) {
    match o {
        Object::Reference(r) if r.gen == LOCAL_GEN => {
            *o = refs
                .get(r.num as usize)
                .map_or(Object::Null, |&n| Object::Reference(n));
        }
        Object::Array(a) => a.iter_mut().for_each(|o| relink(o, refs)),
        Object::Dictionary(d) => d.values_mut().for_each(|o| relink(o, refs)),
        Object::Stream(s) => s.dict.values_mut().for_each(|o| relink(o, refs)),
        _ => {}
    }
}

/// Whether the document already has a signed signature field (§12.7.5.5: `/FT /Sig` with a
/// `/V`), looking through the field tree.
fn has_signatures<R: Read + Seek>(
    reader: &mut PdfReader<R>,
    catalog: &Dictionary,
) -> Result<bool, PdfError> {
    let Some(Object::Dictionary(acro)) = reader.get_in(catalog, "AcroForm")? else {
        return Ok(false);
    };
    let mut todo = match reader.get_in(&acro, "Fields")? {
        Some(Object::Array(a)) => a,
        _ => return Ok(false),
    };
    let mut seen = 0;
    while let Some(f) = todo.pop() {
        seen += 1;
        if seen > 100_000 {
            break;
        }
        let Ok(Object::Dictionary(d)) = reader.resolve(&f) else {
            continue;
        };
        if d.has_name("FT", "Sig") && d.get("V").is_some() {
            return Ok(true);
        }
        if let Some(Object::Array(kids)) = reader.get_in(&d, "Kids")? {
            todo.extend(kids);
        }
    }
    Ok(false)
}

/// Whether a certification signature forbids any change (`/Perms /DocMDP` with `/P 1`,
/// §12.8.2.2).
fn docmdp_forbids_changes<R: Read + Seek>(
    reader: &mut PdfReader<R>,
    catalog: &Dictionary,
) -> Result<bool, PdfError> {
    let Some(Object::Dictionary(perms)) = reader.get_in(catalog, "Perms")? else {
        return Ok(false);
    };
    let Some(Object::Dictionary(sig)) = reader.get_in(&perms, "DocMDP")? else {
        return Ok(false);
    };
    let Some(Object::Array(refs)) = reader.get_in(&sig, "Reference")? else {
        return Ok(false);
    };
    for r in refs.iter().take(16) {
        let Object::Dictionary(d) = reader.resolve(r)? else {
            continue;
        };
        if !d.has_name("TransformMethod", "DocMDP") {
            continue;
        }
        let p = match reader.get_in(&d, "TransformParams")? {
            Some(Object::Dictionary(tp)) => tp.get("P").and_then(Object::as_i64).unwrap_or(2),
            _ => 2,
        };
        return Ok(p == 1);
    }
    Ok(false)
}

/// The signature dictionary with placeholders, and the offsets within it of the `/ByteRange`
/// array and of the `<` of `/Contents`.
fn signature_body(opts: &SignatureOptions) -> (Vec<u8>, usize, usize) {
    let mut b = Vec::new();
    match opts.kind {
        SignatureKind::Signature(sf) => {
            b.extend_from_slice(b"<</Type /Sig /Filter /Adobe.PPKLite /SubFilter ");
            b.extend_from_slice(match sf {
                SubFilter::CadesDetached => b"/ETSI.CAdES.detached",
                SubFilter::Pkcs7Detached => b"/adbe.pkcs7.detached",
            });
        }
        SignatureKind::DocTimeStamp => {
            b.extend_from_slice(
                b"<</Type /DocTimeStamp /Filter /Adobe.PPKLite /SubFilter /ETSI.RFC3161",
            );
        }
    }
    b.extend_from_slice(b"\n/ByteRange ");
    let br = b.len();
    b.extend_from_slice(&[b' '; BYTE_RANGE_WIDTH]);
    b.extend_from_slice(b"\n/Contents ");
    let contents = b.len();
    b.push(b'<');
    b.resize(b.len() + 2 * opts.contents_size, b'0');
    b.push(b'>');
    if let (Some(level), SignatureKind::Signature(_)) = (opts.certify, opts.kind) {
        // §12.8.1 Table 255 /Reference, §12.8.2.2 Table 257.
        b.extend_from_slice(
            format!(
                "\n/Reference [<</Type /SigRef /TransformMethod /DocMDP /TransformParams \
                 <</Type /TransformParams /P {} /V /1.2>>>>]",
                level.p()
            )
            .as_bytes(),
        );
    }
    if opts.kind != SignatureKind::DocTimeStamp {
        if let Some(t) = opts.signing_time {
            b.extend_from_slice(b"\n/M ");
            write_string(pdf_date(t).as_bytes(), &mut b);
        }
        for (key, v) in [
            ("Name", &opts.name),
            ("Reason", &opts.reason),
            ("Location", &opts.location),
            ("ContactInfo", &opts.contact_info),
        ] {
            if let Some(v) = v {
                b.extend_from_slice(format!("\n/{key} ").as_bytes());
                text_string(v, &mut b);
            }
        }
    }
    b.extend_from_slice(b">>");
    (b, br, contents)
}

/// serde's default for fields added after a format was first written.
fn yes() -> bool {
    true
}

fn real(v: f64) -> Object {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        Object::Integer(v as i64)
    } else {
        Object::Real(v)
    }
}

/// Creates `.<name>.<random>.partial` in `dir`, never overwriting.
pub(crate) fn create_temp(dir: &Path, output: &Path) -> Result<(PathBuf, File), SignError> {
    let base = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "signed.pdf".into());
    let mut last = None;
    for _ in 0..16 {
        let mut r = [0u8; 6];
        if aws_lc_rs::rand::fill(&mut r).is_err() {
            break;
        }
        let p = dir.join(format!(".{base}.{}.partial", hex::encode(r)));
        match OpenOptions::new().write(true).create_new(true).open(&p) {
            Ok(f) => return Ok((p, f)),
            Err(e) => last = Some(e),
        }
    }
    Err(SignError::Io {
        action: "cannot create a temporary file in",
        path: dir.to_path_buf(),
        source: last.unwrap_or_else(|| std::io::Error::other("no random bytes")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        let t = time::macros::datetime!(2025-03-20 10:00:00 +07:00);
        assert_eq!(pdf_date(t), "D:20250320100000+07'00'");
        let t = time::macros::datetime!(2025-03-20 10:00:00 -03:30);
        assert_eq!(pdf_date(t), "D:20250320100000-03'30'");
    }

    #[test]
    fn placeholder_offsets() {
        let mut o = SignatureOptions::pades(4);
        o.reason = Some("Phê duyệt".into());
        let (b, br, c) = signature_body(&o);
        assert_eq!(&b[br..br + BYTE_RANGE_WIDTH], &[b' '; BYTE_RANGE_WIDTH]);
        assert_eq!(&b[c..c + 10], b"<00000000>");
        let s = String::from_utf8_lossy(&b);
        assert!(s.contains("/Reason <FEFF"), "{s}");
    }

    #[test]
    fn prepared_state_serialises() {
        let p = PreparedSignature {
            temp_path: "/tmp/.a.pdf.x.partial".into(),
            output_path: "/tmp/a.pdf".into(),
            file_len: 100,
            byte_range: [0, 10, 20, 80],
            hash: HashAlgorithm::Sha384,
            digest: vec![1, 2],
            contents_offset: 11,
            contents_capacity: 4,
            field_name: "Signature1".into(),
            signature_object: ObjRef::new(9),
            sync: false,
        };
        let j = serde_json::to_string(&p).unwrap();
        assert!(j.contains("\"sha384\""));
        assert_eq!(serde_json::from_str::<PreparedSignature>(&j).unwrap(), p);
        // State written before `sync` existed reads as synced.
        let old = j.replace(",\"sync\":false", "");
        assert!(
            serde_json::from_str::<PreparedSignature>(&old)
                .unwrap()
                .sync
        );
    }
}
