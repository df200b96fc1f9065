//! PDF core: a lazy, bounded-memory reader and an incremental-update writer (ISO 32000-1:2008 and
//! ISO 32000-2:2020), and the placeholder step of signing (§12.8).
//!
//! - [`lexer`]: tokens and direct objects (§7.2, §7.3), with depth and size limits.
//! - [`object`]: the object model and its serialisation.
//! - [`reader`]: [`PdfReader`] seeks and reads only what it needs: the tail, the cross-reference
//!   chain (§7.5.4 tables, §7.5.8 streams, hybrid files), and the objects asked for (§7.5.7 object
//!   streams included), decoding streams (FlateDecode with predictors, §7.4.4) up to a cap. It
//!   keeps every revision and what each cross-reference section defines, for the verifier.
//! - [`writer`]: an incremental update (§7.5.6) in the style of the file's last section.
//! - [`sign`]: a signature or document-timestamp placeholder (§12.8.1), the ByteRange digest,
//!   then the CMS written into `/Contents`, two-phase friendly.
//!
//! Memory does not grow with the file: the reader never loads the file, and signing copies and
//! hashes it in 1 MiB chunks. Hostile input gets a typed [`PdfError`], never a panic.

pub mod appearance;
pub mod lexer;
mod numhash;
pub mod object;
pub mod reader;
pub mod sample;
pub mod sign;
pub mod writer;

pub(crate) use numhash::{NumMap, NumSet};
pub use object::{Dictionary, Name, ObjRef, Object, PdfString, Stream, StreamData};
pub use reader::{MemFile, PdfReader, Repair, Revision, XrefEntry, XrefKind, XrefSection};

use lexer::ParseError;

/// Why a PDF could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PdfError {
    /// Reading or writing failed.
    #[error("I/O error at byte {offset}")]
    Io {
        /// Where in the file.
        offset: u64,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file has no `%PDF-` header.
    #[error("not a PDF file (no %PDF- header in the first 1024 bytes)")]
    NotPdf,
    /// The trailer has `/Encrypt`.
    #[error("encrypted PDFs are not supported")]
    Encrypted,
    /// Bytes that are not PDF syntax.
    #[error("PDF syntax error at byte {offset}: {error}")]
    Syntax {
        /// Offset in the file.
        offset: u64,
        /// What was wrong.
        error: ParseError,
    },
    /// No cross-reference information could be found, even by scanning the file.
    #[error("damaged PDF: {reason}")]
    Damaged {
        /// What is missing.
        reason: &'static str,
    },
    /// A cross-reference section is malformed.
    #[error("malformed cross-reference section at byte {offset}: {reason}")]
    BadXref {
        /// Where the section starts.
        offset: u64,
        /// What was wrong.
        reason: &'static str,
    },
    /// A reference loop: an object whose loading needs itself (a stream `/Length` or an object
    /// stream pointing back), or a reference chain that does not end.
    #[error("object {obj}: reference loop")]
    ReferenceLoop {
        /// The object met twice.
        obj: ObjRef,
    },
    /// An object the cross-reference table points to is not there.
    #[error("object {obj}: not found at byte {offset}")]
    ObjectNotFound {
        /// The object.
        obj: ObjRef,
        /// Where the table said it is.
        offset: u64,
    },
    /// Something larger than a limit.
    #[error("object {obj}: {what} exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The object concerned (0 0 R when none).
        obj: ObjRef,
        /// What is too large.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// A stream filter other than FlateDecode.
    #[error("object {obj}: stream filter /{filter} is not supported")]
    UnsupportedFilter {
        /// The stream.
        obj: ObjRef,
        /// The filter name.
        filter: String,
    },
    /// A stream whose data cannot be decoded.
    #[error("object {obj}: cannot decode the stream: {reason}")]
    Decode {
        /// The stream.
        obj: ObjRef,
        /// What was wrong.
        reason: &'static str,
    },
    /// A required structure is missing or has the wrong type.
    #[error("{what} is missing or malformed (object {obj})")]
    Structure {
        /// What was expected.
        what: &'static str,
        /// The object concerned (0 0 R when none).
        obj: ObjRef,
    },
}

impl PdfError {
    pub(crate) fn io(offset: u64) -> impl FnOnce(std::io::Error) -> Self {
        move |source| Self::Io { offset, source }
    }

    pub(crate) fn structure(what: &'static str, obj: ObjRef) -> Self {
        Self::Structure { what, obj }
    }
}

/// Whether the file at `path` starts like a PDF: `%PDF-` within the first 1024 bytes, as
/// readers allow (§7.5.2). A quick sniff to choose PDF or XML and to refuse other files early;
/// [`PdfReader::open`] decides for real.
pub fn looks_like_pdf(path: &std::path::Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 1024];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    is_pdf_header(&head[..n])
}

/// Whether `data` (a file's first bytes; only the first 1024 are looked at) starts like a PDF:
/// `%PDF-` in the first 1024 bytes, as readers accept (ISO 32000-2 §7.5.2, Annex H).
pub fn is_pdf_header(data: &[u8]) -> bool {
    data[..data.len().min(1024)]
        .windows(5)
        .any(|w| w == b"%PDF-")
}
