//! Verifying the signatures and document time-stamps of a PDF (ETSI EN 319 102-1 basic
//! validation, with PAdES specifics from ETSI EN 319 142-1), producing the report of
//! CONTRACT.md.
//!
//! For each signature field: the `/ByteRange` is sane (starts at 0, one gap that is exactly this
//! signature's `/Contents` hex string, ends at the end of a revision); the CMS digest and
//! signature verify over the covered bytes; the signer certificate is identified and its
//! signingCertificateV2 matches; signature time-stamps are validated and prove the signing
//! time; the path to a trust anchor is validated at the proven time (else the validation time);
//! revocation is checked online when a fetcher is given.
//!
//! What changed after each signature is classified by [`changes`]; a disallowed change fails
//! the signature (TOTAL-FAILED, FORMAT_FAILURE; decision 0012).

use crate::cert::Certificate;
use crate::cms::{Content, SignedData};
use crate::crypto::AlgorithmPolicy;
use crate::fetch::Fetcher;
use crate::pades::changes::{self, Constraints, FieldLock, MdpLevel};
use crate::pades::embedded::{self, Embedded, Origin};
use crate::path::{self, PathFailure, Purpose, ValidPath, ValidationOptions};
use crate::pdf::{ObjRef, Object, PdfError, PdfReader};
use crate::report::{
    self, ChainEntry, Indication, Modification, Report, SignatureKind, SignatureReport,
};
use crate::revocation::Status;
use crate::trust::CertPool;
use crate::tsp::{self, Imprint, TimeStampToken};
use hsm::HashAlgorithm;
use std::collections::HashMap;
use std::path::Path;
use time::OffsetDateTime;

/// How to verify.
#[derive(Clone, Copy)]
pub struct VerifyOptions<'a> {
    /// The validation time.
    pub time: OffsetDateTime,
    /// Trust anchors.
    pub anchors: &'a CertPool,
    /// Extra intermediate certificates.
    pub intermediates: &'a CertPool,
    /// Algorithm policy.
    pub policy: &'a AlgorithmPolicy,
    /// Online revocation checking; `None` is offline.
    pub fetcher: Option<&'a dyn Fetcher>,
}

impl std::fmt::Debug for VerifyOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyOptions")
            .field("time", &self.time)
            .field("anchors", &self.anchors.len())
            .field("online", &self.fetcher.is_some())
            .finish()
    }
}

/// A signature field found in the document.
pub(crate) struct SigField {
    pub(crate) name: String,
    pub(crate) dict: crate::pdf::Dictionary,
    /// The field's `/Lock` dictionary (ISO 32000-2 §12.7.5.5), resolved.
    lock: Option<crate::pdf::Dictionary>,
}

const MAX_FIELDS: usize = 10_000;

/// Verifies every signature in the PDF at `path`. `Err` means the file could not be read as a
/// PDF at all (not a PDF, encrypted, damaged beyond reading).
pub fn verify_pdf(path: &Path, opts: &VerifyOptions<'_>) -> Result<Report, PdfError> {
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let size = std::fs::metadata(path).map_err(PdfError::io(0))?.len();
    // A file of a few megabytes is read whole: every object and signed range is then a copy
    // from memory, not a system call. A bigger one is read in bounded pieces.
    if size <= IN_MEMORY {
        let bytes = std::fs::read(path).map_err(PdfError::io(0))?;
        verify_reader(PdfReader::from_bytes(bytes)?, file, opts)
    } else {
        verify_reader(PdfReader::open(path)?, file, opts)
    }
}

/// Largest file [`verify_pdf`] reads into memory at once.
const IN_MEMORY: u64 = 16 << 20;

fn verify_reader<R: std::io::Read + std::io::Seek>(
    mut reader: PdfReader<R>,
    file: String,
    opts: &VerifyOptions<'_>,
) -> Result<Report, PdfError> {
    let len = reader.len();
    let fields = signature_fields(&mut reader)?;
    let revision_ends: Vec<u64> = reader.revisions().iter().map(|r| r.end).collect();
    // The DSS is optional evidence: a store that cannot be read is ignored, not fatal.
    let dss = embedded::from_dss(&mut reader).unwrap_or_default();
    let ranges: Vec<(u64, u64, u64)> = fields
        .iter()
        .filter_map(|f| sane_byte_range(&f.dict, len))
        .collect();
    let (file_digest, digests) = one_pass_sha256(&mut reader, &ranges)?;
    let sha256 = hex::encode(file_digest);
    let mut shared = Shared::new(opts, &dss, digests);
    let mut reports = Vec::new();
    for f in &fields {
        reports.push(verify_field(&mut reader, f, &revision_ends, &mut shared));
    }
    apply_changes(&mut reader, &fields, &mut reports)?;
    archive_levels(&mut reports);
    let mut report = Report::new(file, "pdf", sha256, opts.time, reports);
    if report.signatures.is_empty() {
        report.indication = Indication::TotalFailed;
    }
    Ok(report)
}

/// What one verification computes once and shares between its signatures (decision 0024): the
/// SHA-256 of each signed range (from one pass over the file), parsed certificates (by their
/// exact DER) and validated paths (by the exact DER of the certificate and of the extra
/// certificates offered with it, the validation time and the purpose; the trust anchors, the
/// caller's intermediates, the DSS and the policy are fixed for the whole verification).
struct Shared<'a> {
    opts: &'a VerifyOptions<'a>,
    dss: &'a Embedded,
    /// The caller's intermediates and the DSS certificates: the base pool of signer paths.
    with_dss: CertPool,
    digests: RangeDigests,
    certs: HashMap<Vec<u8>, Option<Certificate>>,
    paths: HashMap<PathKey, Result<ValidPath, PathFailure>>,
    /// Certificate signature checks shared by the path validations at different times.
    sig_checks: path::SignatureChecks,
    /// How each certificate is shown in the report (names formatted once), by its SHA-256.
    shown: HashMap<[u8; 32], (report::Signer, ChainEntry)>,
}

/// SHA-256 digests of signed ranges, by `(b, c, l)`: `[0, b)` and `[c, c + l)`.
type RangeDigests = HashMap<(u64, u64, u64), Vec<u8>>;

#[derive(PartialEq, Eq, Hash)]
struct PathKey {
    cert: Vec<u8>,
    extra: Vec<Vec<u8>>,
    with_dss: bool,
    at: OffsetDateTime,
    purpose: Purpose,
}

impl<'a> Shared<'a> {
    fn new(opts: &'a VerifyOptions<'a>, dss: &'a Embedded, digests: RangeDigests) -> Self {
        let mut with_dss = opts.intermediates.clone();
        for c in &dss.certs {
            with_dss.add(c.clone());
        }
        Self {
            opts,
            dss,
            with_dss,
            digests,
            certs: HashMap::new(),
            paths: HashMap::new(),
            sig_checks: path::SignatureChecks::default(),
            shown: HashMap::new(),
        }
    }

    /// The report's description of `c`, formatted once per certificate.
    fn shown(&mut self, c: &Certificate) -> &(report::Signer, ChainEntry) {
        self.shown.entry(*c.sha256()).or_insert_with(|| {
            (
                report::Signer::from_cert(c),
                ChainEntry {
                    subject: c.subject().to_string(),
                    serial: c.serial_hex(),
                },
            )
        })
    }

    fn signer(&mut self, c: &Certificate) -> report::Signer {
        self.shown(c).0.clone()
    }

    fn chain(&mut self, certs: &[Certificate]) -> Vec<ChainEntry> {
        certs.iter().map(|c| self.shown(c).1.clone()).collect()
    }

    /// The digest of `[0, b)` and `[c, c + l)`: from the one pass when it is SHA-256, else read.
    fn digest<R: std::io::Read + std::io::Seek>(
        &self,
        reader: &mut PdfReader<R>,
        (b, c, l): (u64, u64, u64),
        hash: HashAlgorithm,
    ) -> Result<Vec<u8>, PdfError> {
        match self.digests.get(&(b, c, l)) {
            Some(d) if hash == HashAlgorithm::Sha256 => Ok(d.clone()),
            _ => reader.digest_ranges(&[(0, b), (c, l)], hash),
        }
    }

    /// The certificates of a CMS, each parsed once per verification (unparsable ones left out,
    /// as [`SignedData::parsed_certificates`] does).
    fn parse_certs(&mut self, ders: &[Vec<u8>]) -> Vec<Certificate> {
        ders.iter()
            .filter_map(|d| {
                self.certs
                    .entry(d.clone())
                    .or_insert_with(|| Certificate::from_der(d).ok())
                    .clone()
            })
            .collect()
    }

    /// `path::validate` for `cert` with `extra` added to the base pool (the caller's
    /// intermediates, and the DSS certificates when `with_dss`), memoised.
    fn validate(
        &mut self,
        cert: &Certificate,
        extra: &[Certificate],
        with_dss: bool,
        at: OffsetDateTime,
        purpose: Purpose,
    ) -> Result<ValidPath, PathFailure> {
        let key = PathKey {
            cert: cert.der().to_vec(),
            extra: extra.iter().map(|c| c.der().to_vec()).collect(),
            with_dss,
            at,
            purpose,
        };
        if let Some(r) = self.paths.get(&key) {
            return r.clone();
        }
        let mut pool = if with_dss {
            self.with_dss.clone()
        } else {
            self.opts.intermediates.clone()
        };
        for c in extra {
            pool.add(c.clone());
        }
        let r = path::validate_with(
            cert,
            &pool,
            self.opts.anchors,
            &ValidationOptions::new(at, purpose),
            &mut self.sig_checks,
        );
        self.paths.insert(key, r.clone());
        r
    }
}

/// The `/ByteRange` of a signature dictionary as `(b, c, l)` — `[0, b)` and `[c, c + l)` —
/// when it is a sane range of a file of `len` bytes (ISO 32000-1 §12.8.1).
fn sane_byte_range(d: &crate::pdf::Dictionary, len: u64) -> Option<(u64, u64, u64)> {
    let br: Vec<i64> = d
        .get("ByteRange")
        .and_then(Object::as_array)
        .map(|a| a.iter().filter_map(Object::as_i64).collect())
        .unwrap_or_default();
    let [0, b, c, l] = br.as_slice() else {
        return None;
    };
    let (b, c, l) = (
        u64::try_from(*b).ok()?,
        u64::try_from(*c).ok()?,
        u64::try_from(*l).ok()?,
    );
    (b > 0 && c > b && c.checked_add(l).is_some_and(|e| e <= len)).then_some((b, c, l))
}

/// The SHA-256 of the whole file and of each signature's ranges `[0, b)` and `[c, c + l)`, in
/// one pass: the digest of `[0, b)` is the state of the whole-file digest at `b`, copied and
/// then fed `[c, c + l)`. Each later signature of a file covers the earlier ones, so hashing
/// each signature's ranges separately reads the file once per signature (quadratic in the
/// number of signatures); this reads it once.
fn one_pass_sha256<R: std::io::Read + std::io::Seek>(
    reader: &mut PdfReader<R>,
    ranges: &[(u64, u64, u64)],
) -> Result<(Vec<u8>, RangeDigests), PdfError> {
    use aws_lc_rs::digest::{Context, SHA256};
    const CHUNK: u64 = 1 << 20;
    let len = reader.len();
    let mut jobs = ranges.to_vec();
    jobs.sort_unstable();
    jobs.dedup();
    let mut whole = Context::new(&SHA256);
    let mut active: Vec<((u64, u64, u64), Context)> = Vec::new();
    let mut out = HashMap::new();
    let mut next = 0;
    let mut pos = 0;
    while pos < len {
        let mut end = (pos + CHUNK).min(len);
        if let Some(j) = jobs.get(next) {
            end = end.min(j.0);
        }
        let buf = reader.read_at(pos, (end - pos) as usize)?;
        if buf.len() as u64 != end - pos {
            return Err(PdfError::TooLarge {
                obj: ObjRef::new(0),
                what: "a byte range past the end of the file",
                limit: len,
            });
        }
        whole.update(&buf);
        for ((_, c, l), ctx) in &mut active {
            let (s, e) = ((*c).max(pos), (*c + *l).min(end));
            if s < e {
                ctx.update(&buf[(s - pos) as usize..(e - pos) as usize]);
            }
        }
        pos = end;
        while jobs.get(next).is_some_and(|j| j.0 == pos) {
            active.push((jobs[next], whole.clone()));
            next += 1;
        }
        let (finished, open): (Vec<_>, Vec<_>) =
            active.into_iter().partition(|((_, c, l), _)| c + l <= pos);
        active = open;
        for (j, ctx) in finished {
            out.insert(j, ctx.finish().as_ref().to_vec());
        }
    }
    Ok((whole.finish().as_ref().to_vec(), out))
}

/// Whether `hex` (a hex string's digits, either case) encodes exactly `bytes`: every pair of
/// characters is two hex digits whose value is the byte (decoded by table, nothing allocated).
fn hex_encodes(hex: &[u8], bytes: &[u8]) -> bool {
    use crate::pdf::lexer::{hex_block, HEX_VALUE};
    if hex.len() != 2 * bytes.len() {
        return false;
    }
    // 16 bytes at a time, decoded on the stack and compared as a block; the rest pair by pair.
    let (mut h, mut b) = (hex.chunks_exact(32), bytes.chunks_exact(16));
    for (x, y) in (&mut h).zip(&mut b) {
        let mut block = [0u8; 16];
        if !hex_block(x, &mut block) || block != y {
            return false;
        }
    }
    h.remainder()
        .chunks_exact(2)
        .zip(b.remainder())
        .all(|(p, &v)| {
            let (hi, lo) = (HEX_VALUE[usize::from(p[0])], HEX_VALUE[usize::from(p[1])]);
            hi < 16 && lo < 16 && (hi << 4 | lo) == v
        })
}

/// Walks `/AcroForm /Fields` (with `/Kids`, inherited `/FT`) for signature fields with a value.
pub(crate) fn signature_fields<R: std::io::Read + std::io::Seek>(
    reader: &mut PdfReader<R>,
) -> Result<Vec<SigField>, PdfError> {
    let (_, catalog) = reader.catalog()?;
    let Some(acroform) = catalog.get("AcroForm").cloned() else {
        return Ok(Vec::new());
    };
    let acroform = reader.resolve(&acroform)?;
    let Some(fields) = acroform.as_dict().and_then(|d| d.get("Fields")).cloned() else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    // (field object, inherited FT, name prefix, depth)
    let mut stack: Vec<(Object, Option<Vec<u8>>, String, usize)> = match reader.resolve(&fields)? {
        Object::Array(a) => a
            .into_iter()
            .rev()
            .map(|o| (o, None, String::new(), 0))
            .collect(),
        _ => Vec::new(),
    };
    while let Some((obj, ft, prefix, depth)) = stack.pop() {
        // A field tree beyond these limits could hide a signature field from this walk while
        // the change analysis accepts it: refuse the file rather than skip the rest.
        if out.len() >= MAX_FIELDS || depth > 32 {
            return Err(PdfError::TooLarge {
                obj: obj.as_reference().unwrap_or(ObjRef::new(0)),
                what: "the form's field tree (signature fields or depth)",
                limit: if depth > 32 { 32 } else { MAX_FIELDS as u64 },
            });
        }
        if let Some(r) = obj.as_reference() {
            if !seen.insert(r) {
                continue;
            }
        }
        let Object::Dictionary(d) = reader.resolve(&obj)? else {
            continue;
        };
        let ft = d
            .get("FT")
            .and_then(Object::as_name)
            .map(<[u8]>::to_vec)
            .or(ft);
        let partial = d
            .get("T")
            .and_then(Object::as_string)
            .map(|s| s.to_text())
            .unwrap_or_default();
        let name = match (prefix.is_empty(), partial.is_empty()) {
            (true, _) => partial,
            (false, true) => prefix.clone(),
            (false, false) => format!("{prefix}.{partial}"),
        };
        if ft.as_deref() == Some(b"Sig") {
            if let Some(v) = d.get("V") {
                if let Object::Dictionary(sig) = reader.resolve(v)? {
                    let lock = match reader.get_in(&d, "Lock")? {
                        Some(Object::Dictionary(l)) => Some(l),
                        _ => None,
                    };
                    out.push(SigField {
                        name: name.clone(),
                        dict: sig,
                        lock,
                    });
                }
            }
        }
        if let Some(kids) = d.get("Kids") {
            if let Object::Array(kids) = reader.resolve(kids)? {
                for k in kids.into_iter().rev() {
                    stack.push((k, ft.clone(), name.clone(), depth + 1));
                }
            }
        }
    }
    Ok(out)
}

/// The modification rules the signatures set (DocMDP, FieldMDP, field locks), each with the
/// revision its signature covers.
fn constraints<R: std::io::Read + std::io::Seek>(
    reader: &mut PdfReader<R>,
    fields: &[SigField],
    reports: &[SignatureReport],
) -> Result<Constraints, PdfError> {
    let mut c = Constraints::default();
    for (f, r) in fields.iter().zip(reports) {
        let Some(rev) = r.revision.map(|x| x as usize - 1) else {
            continue;
        };
        let refs = match reader.get_in(&f.dict, "Reference")? {
            Some(Object::Array(a)) => a,
            _ => Vec::new(),
        };
        for sr in refs.iter().take(16) {
            let Object::Dictionary(sr) = reader.resolve(sr)? else {
                continue;
            };
            let params = match reader.get_in(&sr, "TransformParams")? {
                Some(Object::Dictionary(p)) => p,
                _ => crate::pdf::Dictionary::new(),
            };
            match sr.get("TransformMethod").and_then(Object::as_name) {
                Some(b"DocMDP") => c.mdp.push((
                    rev,
                    MdpLevel::from_p(params.get("P").and_then(Object::as_i64)),
                )),
                Some(b"FieldMDP") => {
                    if let Some(l) = FieldLock::from_dict(&params) {
                        c.locks.push((rev, l));
                    }
                }
                _ => {}
            }
        }
        if let Some(lock) = &f.lock {
            if let Some(l) = FieldLock::from_dict(lock) {
                c.locks.push((rev, l));
            }
            if let Some(p) = lock.get("P").and_then(Object::as_i64) {
                c.mdp.push((rev, MdpLevel::from_p(Some(p))));
            }
        }
    }
    Ok(c)
}

/// Classifies what changed after each signature and sets its verdict accordingly: a
/// disallowed change, or a signed revision whose structure hides something, fails it
/// (decision 0012).
fn apply_changes<R: std::io::Read + std::io::Seek>(
    reader: &mut PdfReader<R>,
    fields: &[SigField],
    reports: &mut [SignatureReport],
) -> Result<(), PdfError> {
    let Some(from) = reports
        .iter()
        .filter_map(|r| r.revision)
        .min()
        .map(|r| r as usize - 1)
    else {
        return Ok(());
    };
    let signed = reports
        .iter()
        .filter_map(|r| r.revision)
        .max()
        .map_or(from, |r| r as usize - 1);
    let c = constraints(reader, fields, reports)?;
    let analysis = match changes::analyse_signed(reader, from, signed, &c) {
        Ok(a) => a,
        Err(e) => {
            for r in reports.iter_mut().filter(|r| r.revision.is_some()) {
                if !r.covers_whole_document {
                    *r = failed(
                        std::mem::replace(r, blank_report()),
                        "FORMAT_FAILURE",
                        format!("the changes made after signing cannot be analysed: {e}"),
                    );
                }
            }
            return Ok(());
        }
    };
    for r in reports.iter_mut() {
        let Some(rev) = r.revision.map(|x| x as usize - 1) else {
            continue;
        };
        let mut mods = analysis.after(rev);
        for (later, problems) in &analysis.structure_problems {
            if *later > rev {
                for p in problems {
                    mods.push(Modification {
                        revision: *later as u32 + 1,
                        allowed: false,
                        kind: "structure".into(),
                        detail: p.clone(),
                    });
                }
            }
        }
        mods.sort_by_key(|m| m.revision);
        let problems = analysis.problems_up_to(rev);
        let denied: Vec<String> = mods
            .iter()
            .filter(|m| !m.allowed)
            .map(|m| format!("revision {}: {}", m.revision, m.detail))
            .collect();
        r.modifications = mods;
        if !problems.is_empty() || !denied.is_empty() {
            if r.indication != Indication::TotalFailed {
                r.indication = Indication::TotalFailed;
                r.sub_indication = Some("FORMAT_FAILURE".into());
            }
            for p in problems {
                r.errors
                    .push(format!("the signed revision is ambiguous: {p}"));
            }
            for d in denied {
                r.errors
                    .push(format!("a change made after signing is not allowed: {d}"));
            }
        }
    }
    Ok(())
}

/// PAdES-B-LTA (ETSI EN 319 142-1 §6.3, level B-LTA): a B-LT signature followed by a valid
/// document time-stamp in a later revision.
fn archive_levels(reports: &mut [SignatureReport]) {
    let dts: Vec<u32> = reports
        .iter()
        .filter(|r| {
            r.kind == SignatureKind::DocumentTimestamp
                && r.indication == Indication::TotalPassed
                && r.integrity
        })
        .filter_map(|r| r.revision)
        .collect();
    for r in reports.iter_mut() {
        if r.level.as_deref() == Some("PAdES-B-LT")
            && r.revision.is_some_and(|own| dts.iter().any(|d| *d > own))
        {
            r.level = Some("PAdES-B-LTA".into());
        }
    }
}

fn blank_report() -> SignatureReport {
    SignatureReport {
        id: String::new(),
        kind: SignatureKind::Signature,
        indication: Indication::Indeterminate,
        sub_indication: None,
        signer: None,
        signing_time: None,
        signing_time_proven: false,
        timestamp: None,
        level: None,
        algorithm: None,
        integrity: false,
        covers_whole_document: false,
        revision: None,
        revisions: None,
        covers: Vec::new(),
        modifications: Vec::new(),
        chain: Vec::new(),
        revocation: None,
        errors: Vec::new(),
        warnings: Vec::new(),
    }
}

fn failed(mut r: SignatureReport, sub: &str, error: String) -> SignatureReport {
    r.indication = Indication::TotalFailed;
    r.sub_indication = Some(sub.into());
    r.errors.push(error);
    r
}

fn verify_field<R: std::io::Read + std::io::Seek>(
    reader: &mut PdfReader<R>,
    f: &SigField,
    revision_ends: &[u64],
    shared: &mut Shared<'_>,
) -> SignatureReport {
    let opts = shared.opts;
    let dss = shared.dss;
    let d = &f.dict;
    let is_dts = d.get("Type").and_then(Object::as_name) == Some(b"DocTimeStamp")
        || d.get("SubFilter").and_then(Object::as_name) == Some(b"ETSI.RFC3161");
    let mut r = SignatureReport {
        id: f.name.clone(),
        kind: if is_dts {
            SignatureKind::DocumentTimestamp
        } else {
            SignatureKind::Signature
        },
        indication: Indication::Indeterminate,
        sub_indication: None,
        signer: None,
        signing_time: None,
        signing_time_proven: false,
        timestamp: None,
        level: None,
        algorithm: None,
        integrity: false,
        covers_whole_document: false,
        revision: None,
        revisions: Some(revision_ends.len() as u32),
        covers: Vec::new(),
        modifications: Vec::new(),
        chain: Vec::new(),
        revocation: None,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    // ByteRange sanity (ISO 32000-1 §12.8.1).
    let br: Vec<i64> = d
        .get("ByteRange")
        .and_then(Object::as_array)
        .map(|a| a.iter().filter_map(Object::as_i64).collect())
        .unwrap_or_default();
    let contents = d
        .get("Contents")
        .and_then(Object::as_string)
        .map(|s| s.0.as_slice());
    let (Some(contents), [0, b, c, dl]) = (contents, br.as_slice()) else {
        return failed(
            r,
            "FORMAT_FAILURE",
            "the signature has no usable /ByteRange or /Contents".into(),
        );
    };
    let (b, c, dl) = (*b as u64, *c as u64, *dl as u64);
    let len = reader.len();
    if *br.iter().min().unwrap_or(&0) < 0
        || b == 0
        || c <= b
        || c.checked_add(dl).is_none_or(|e| e > len)
    {
        return failed(
            r,
            "FORMAT_FAILURE",
            "the /ByteRange is not a sane range of this file".into(),
        );
    }
    // The gap must be exactly this signature's /Contents, written as one hex string.
    match reader.read_at(b, (c - b) as usize) {
        Ok(gap) => {
            let ok = gap.len() >= 2
                && gap[0] == b'<'
                && gap[gap.len() - 1] == b'>'
                && hex_encodes(&gap[1..gap.len() - 1], contents);
            if !ok {
                return failed(r, "FORMAT_FAILURE", "the part of the file the signature leaves out is not exactly its /Contents (a signature wrapping attempt or a damaged file)".into());
            }
        }
        Err(e) => {
            return failed(
                r,
                "FORMAT_FAILURE",
                format!("the signed range cannot be read: {e}"),
            )
        }
    }
    let end = c + dl;
    let mut is_eol_tail = |from: u64, to: u64| -> bool {
        to >= from && to - from <= 2 && reader_tail_is_eol(reader, from, to)
    };
    let revision = revision_ends
        .iter()
        .position(|e| end == *e || is_eol_tail(*e, end));
    let Some(revision) = revision else {
        return failed(
            r,
            "FORMAT_FAILURE",
            "the signature does not end where a revision of the file ends".into(),
        );
    };
    r.revision = Some(revision as u32 + 1);
    r.covers_whole_document = end == len
        || is_eol_tail(end, len)
        || revision + 1 == revision_ends.len() && is_eol_tail(revision_ends[revision], len);
    if is_dts {
        return verify_doc_timestamp(reader, r, contents, (b, c, dl), shared);
    }
    let sd = match SignedData::parse(contents) {
        Ok(sd) => sd,
        Err(e) => {
            return failed(
                r,
                "FORMAT_FAILURE",
                format!("the signature is not a readable CMS structure: {e}"),
            )
        }
    };
    let Some(si) = sd.signer_infos.first() else {
        return failed(r, "FORMAT_FAILURE", "the CMS holds no signer".into());
    };
    let Some(hash) = HashAlgorithm::from_oid(&si.digest_algorithm.oid) else {
        return failed(
            r,
            "FORMAT_FAILURE",
            format!("unsupported digest algorithm {}", si.digest_algorithm.oid),
        );
    };
    let digest = match shared.digest(reader, (b, c, dl), hash) {
        Ok(d) => d,
        Err(e) => {
            return failed(
                r,
                "FORMAT_FAILURE",
                format!("the signed range cannot be read: {e}"),
            )
        }
    };
    let cms_certs = shared.parse_certs(&sd.certificates);
    let check = match sd.verify_signer_among(
        0,
        Content::Digest(&digest),
        cms_certs.clone(),
        &[],
        opts.policy,
    ) {
        Ok(c) => c,
        Err(e) => return failed(r, "FORMAT_FAILURE", e.to_string()),
    };
    r.algorithm = check.signature_algorithm.map(|a| a.name());
    if let Some(cert) = &check.signer_cert {
        r.signer = Some(shared.signer(cert));
    }
    let (ind, sub) = check.indication();
    if ind != Indication::TotalPassed {
        r.errors.extend(check.problems());
        r.indication = ind;
        r.sub_indication = sub.map(str::to_owned);
        return r;
    }
    r.integrity = true;
    let Some(cert) = check.signer_cert.clone() else {
        return failed(
            r,
            "NO_SIGNING_CERTIFICATE_FOUND",
            "the signer's certificate was not found".into(),
        );
    };
    // The claimed time: /M, else the CMS signing-time.
    let claimed = d
        .get("M")
        .and_then(Object::as_string)
        .and_then(|s| parse_pdf_date(&s.to_text()))
        .or(check.signing_time);
    r.signing_time = claimed.map(crate::time::rfc3339_utc);
    // Signature time-stamps.
    let mut proven: Option<OffsetDateTime> = None;
    for t in tsp::signature_timestamps(&sd, 0) {
        match t {
            Ok(token) => match token.validate(Imprint::Data(&si.signature), None, &[], opts.policy)
            {
                Ok(tc) if tc.is_valid() && tsa_trusted(&token, shared) => {
                    let gt = token.tst_info.gen_time;
                    let path = tsa_path(&token, shared).unwrap_or_default();
                    let (revoked, warnings) =
                        timestamp_path_revocation(&token, &path, 0, dss, opts);
                    r.warnings.extend(
                        warnings
                            .into_iter()
                            .map(|w| format!("signature time-stamp: {w}")),
                    );
                    if let Some(why) = revoked {
                        r.timestamp = Some(report::Timestamp {
                            time: crate::time::rfc3339_utc(gt),
                            tsa: tsa_display(&token),
                            valid: false,
                        });
                        r.warnings
                            .push(format!("the signature time-stamp is not valid: {why}"));
                        continue;
                    }
                    proven = Some(proven.map_or(gt, |p: OffsetDateTime| p.min(gt)));
                    r.timestamp = Some(report::Timestamp {
                        time: crate::time::rfc3339_utc(gt),
                        tsa: tsa_display(&token),
                        valid: true,
                    });
                }
                Ok(tc) => {
                    r.timestamp = Some(report::Timestamp {
                        time: crate::time::rfc3339_utc(token.tst_info.gen_time),
                        tsa: tsa_display(&token),
                        valid: false,
                    });
                    let mut p = tc.problems();
                    if p.is_empty() {
                        p.push("the time-stamp authority is not trusted".into());
                    }
                    r.warnings.push(format!(
                        "the signature time-stamp is not valid: {}",
                        p.join("; ")
                    ));
                }
                Err(e) => r
                    .warnings
                    .push(format!("the signature time-stamp is unreadable: {e}")),
            },
            Err(e) => r
                .warnings
                .push(format!("the signature time-stamp is unreadable: {e}")),
        }
    }
    if let Some(p) = proven {
        r.signing_time = Some(crate::time::rfc3339_utc(p));
        r.signing_time_proven = true;
    }
    r.level = Some(
        if proven.is_some() {
            "PAdES-B-T"
        } else {
            "PAdES-B-B"
        }
        .into(),
    );
    if d.get("SubFilter").and_then(Object::as_name) == Some(b"adbe.pkcs7.detached") {
        r.level = Some("PKCS7-detached".into());
    }
    // Path validation at the proven time, else the validation time.
    let at = proven.unwrap_or(opts.time);
    let cms_data = embedded::from_cms_with(&sd, 0, cms_certs);
    match shared.validate(&cert, &cms_data.certs, true, at, Purpose::DocumentSigning) {
        Err(f) => {
            r.chain = shared.chain(&f.path);
            r.errors.push(f.error.to_string());
            r.indication =
                if f.error.is_definitive() && !matches!(f.error, path::PathError::Expired { .. }) {
                    Indication::TotalFailed
                } else {
                    Indication::Indeterminate
                };
            r.sub_indication = Some(match f.error {
                path::PathError::Expired { .. } => "OUT_OF_BOUNDS_NO_POE".into(),
                ref e => e.sub_indication().into(),
            });
            return r;
        }
        Ok(p) => {
            r.chain = shared.chain(&p.certs);
            r.warnings.extend(p.warnings);
            r.indication = Indication::TotalPassed;
            // Revocation of the signer: embedded evidence first, then online.
            let issuer = p.certs.get(1);
            let signing_time = proven.or(claimed).unwrap_or(opts.time);
            let from_document = issuer.and_then(|i| {
                embedded::status(
                    &[(Origin::Cms, &cms_data), (Origin::Dss, dss)],
                    &cert,
                    i,
                    signing_time,
                    opts.policy,
                )
            });
            let sources = [(Origin::Cms, &cms_data), (Origin::Dss, dss)];
            if let Some((status, _origin)) = from_document {
                apply_revocation(&mut r, status, proven, claimed);
                if let Some(rev) = &mut r.revocation {
                    rev.embedded = true;
                }
                if proven.is_some() {
                    r.level = Some("PAdES-B-LT".into());
                }
                ca_revocation(&mut r, &p.certs, &sources, signing_time, proven, opts);
                return r;
            }
            match (opts.fetcher, issuer) {
                (Some(fetcher), Some(issuer)) => {
                    let (status, _) = crate::revocation::online_status(
                        &cert,
                        issuer,
                        fetcher,
                        opts.time,
                        opts.policy,
                    );
                    apply_revocation(&mut r, status, proven, claimed);
                }
                (None, _) => {
                    r.revocation = Some(report::Revocation {
                        status: "not-checked".into(),
                        source: None,
                        embedded: false,
                        unchecked_cas: Vec::new(),
                    });
                    r.warnings
                        .push("revocation was not checked (offline)".into());
                }
                (Some(_), None) => {}
            }
            ca_revocation(&mut r, &p.certs, &sources, signing_time, proven, opts);
        }
    }
    r
}

/// What could be learnt about one certificate's revocation.
enum CertRevocation {
    /// An answer (good, revoked or unknown), from the document or online.
    Found(Status),
    /// Nothing embedded answers and verification is offline.
    Offline,
    /// Nothing embedded answers and the certificate names no OCSP responder or CRL: there is
    /// nobody to ask (as for a CA certificate its root publishes no status for).
    NoSource,
    /// The certificate says it is not to be checked (id-pkix-ocsp-nocheck, RFC 6960 §4.2.2.2.1).
    NoCheck,
}

/// The revocation of `cert`, issued by `issuer`: embedded evidence judged at `at` first
/// (decision 0013), then online unless offline.
fn cert_revocation(
    cert: &Certificate,
    issuer: &Certificate,
    sources: &[(Origin, &Embedded)],
    at: OffsetDateTime,
    opts: &VerifyOptions<'_>,
) -> CertRevocation {
    if let Some((s, _)) = embedded::status(sources, cert, issuer, at, opts.policy) {
        return CertRevocation::Found(s);
    }
    let ext = cert.extensions();
    if ext.ocsp_nocheck {
        return CertRevocation::NoCheck;
    }
    if ext.ocsp_urls.is_empty() && ext.crl_urls.is_empty() {
        return CertRevocation::NoSource;
    }
    match opts.fetcher {
        Some(f) => CertRevocation::Found(
            crate::revocation::online_status(cert, issuer, f, opts.time, opts.policy).0,
        ),
        None => CertRevocation::Offline,
    }
}

/// The revocation of the CA certificates of a signer's validated path (each one between the
/// signer and the trust anchor; ETSI EN 319 102-1 §5.2.6 and §5.6.2.1): a CA revoked before a
/// proven signing time, or with nothing proving the signature came first, makes the signature
/// INDETERMINATE / REVOKED_CA_NO_POE; a status nobody can give (an unreachable responder)
/// INDETERMINATE / TRY_LATER, as for the signer.
fn ca_revocation(
    r: &mut SignatureReport,
    path: &[Certificate],
    sources: &[(Origin, &Embedded)],
    signing_time: OffsetDateTime,
    proven: Option<OffsetDateTime>,
    opts: &VerifyOptions<'_>,
) {
    let mut offline = false;
    let mut unchecked = Vec::new();
    for i in 1..path.len().saturating_sub(1) {
        let ca = &path[i];
        match cert_revocation(ca, &path[i + 1], sources, signing_time, opts) {
            CertRevocation::Found(Status::Good { .. }) | CertRevocation::NoCheck => {}
            // Nobody can say (decision 0034): reported, the indication is kept.
            CertRevocation::NoSource => unchecked.push(ca.subject().to_string()),
            CertRevocation::Offline => offline = true,
            CertRevocation::Found(Status::Revoked { at, reason, .. }) => {
                let why = format!(
                    "the certificate of the CA \"{}\" was revoked on {}{}",
                    ca.subject(),
                    crate::time::vietnam(at),
                    reason.map(|x| format!(" ({x})")).unwrap_or_default()
                );
                if proven.is_some_and(|p| p < at) {
                    r.warnings
                        .push(format!("{why}, after the proven signing time"));
                } else {
                    if r.indication == Indication::TotalPassed {
                        r.indication = Indication::Indeterminate;
                        r.sub_indication = Some("REVOKED_CA_NO_POE".into());
                    }
                    r.errors.push(format!(
                        "{why}; nothing proves the signature was made before that"
                    ));
                }
            }
            CertRevocation::Found(Status::Unknown { reason }) => {
                if r.indication == Indication::TotalPassed {
                    r.indication = Indication::Indeterminate;
                    r.sub_indication = Some("TRY_LATER".into());
                }
                r.errors.push(format!(
                    "the revocation status of the CA \"{}\" is unknown: {reason}",
                    ca.subject()
                ));
            }
        }
    }
    if offline {
        r.warnings
            .push("the revocation of the issuing CAs was not checked (offline)".into());
    }
    for ca in &unchecked {
        r.warnings.push(format!(
            "the revocation of the CA \"{ca}\" could not be checked: its certificate names no OCSP responder or CRL, and the document carries no revocation data for it"
        ));
    }
    if !unchecked.is_empty() {
        r.revocation
            .get_or_insert_with(|| report::Revocation {
                status: "not-checked".into(),
                source: None,
                embedded: false,
                unchecked_cas: Vec::new(),
            })
            .unchecked_cas
            .extend(unchecked);
    }
}

/// The revocation of a time-stamp authority's path (the TSA and its CAs, from `path[from]`) at
/// the time-stamp's genTime (ETSI EN 319 102-1 §5.6.2.4: a time-stamp is validated in turn).
/// Returns why the time-stamp cannot be relied on (a certificate revoked at or before genTime),
/// if so, and warnings (revoked after genTime, unknown, and — when the TSA itself is checked
/// here — not checked).
fn timestamp_path_revocation(
    token: &TimeStampToken,
    path: &[Certificate],
    from: usize,
    dss: &Embedded,
    opts: &VerifyOptions<'_>,
) -> (Option<String>, Vec<String>) {
    let gen = token.tst_info.gen_time;
    let cms = embedded::from_cms(&token.signed_data, 0);
    let sources = [(Origin::Cms, &cms), (Origin::Dss, dss)];
    let mut warnings = Vec::new();
    let mut offline = false;
    for i in from..path.len().saturating_sub(1) {
        let c = &path[i];
        let who = if i == 0 {
            "the time-stamp authority's certificate".to_string()
        } else {
            format!("the certificate of the CA \"{}\"", c.subject())
        };
        match cert_revocation(c, &path[i + 1], &sources, gen, opts) {
            CertRevocation::Found(Status::Good { .. })
            | CertRevocation::NoSource
            | CertRevocation::NoCheck => {}
            CertRevocation::Offline => offline = true,
            CertRevocation::Found(Status::Revoked { at, .. }) if at <= gen => {
                return (
                    Some(format!(
                        "{who} was revoked on {}, before the time-stamp",
                        crate::time::vietnam(at)
                    )),
                    warnings,
                );
            }
            CertRevocation::Found(Status::Revoked { at, .. }) => warnings.push(format!(
                "{who} was revoked on {}, after the time-stamp",
                crate::time::vietnam(at)
            )),
            CertRevocation::Found(Status::Unknown { reason }) => warnings.push(format!(
                "the revocation status of {who} is unknown: {reason}"
            )),
        }
    }
    if offline && from == 0 {
        warnings.push("the time-stamp authority's revocation was not checked (offline)".into());
    }
    (None, warnings)
}

fn apply_revocation(
    r: &mut SignatureReport,
    status: Status,
    proven: Option<OffsetDateTime>,
    claimed: Option<OffsetDateTime>,
) {
    match status {
        Status::Good { source } => {
            r.revocation = Some(report::Revocation {
                status: "good".into(),
                source: Some(source.name().into()),
                embedded: false,
                unchecked_cas: Vec::new(),
            });
        }
        Status::Revoked { at, reason, source } => {
            r.revocation = Some(report::Revocation {
                status: "revoked".into(),
                source: Some(source.name().into()),
                embedded: false,
                unchecked_cas: Vec::new(),
            });
            let why = format!(
                "the signer's certificate was revoked on {}{}",
                crate::time::vietnam(at),
                reason.map(|x| format!(" ({x})")).unwrap_or_default()
            );
            match (proven, claimed) {
                (Some(p), _) if p < at => r
                    .warnings
                    .push(format!("{why}, after the proven signing time")),
                (None, Some(c)) if c >= at => {
                    r.indication = Indication::TotalFailed;
                    r.sub_indication = Some("REVOKED".into());
                    r.errors.push(why);
                }
                _ => {
                    r.indication = Indication::Indeterminate;
                    r.sub_indication = Some("REVOKED_NO_POE".into());
                    r.errors.push(format!(
                        "{why}; nothing proves the signature was made before that"
                    ));
                }
            }
        }
        Status::Unknown { reason } => {
            r.revocation = Some(report::Revocation {
                status: "unknown".into(),
                source: None,
                embedded: false,
                unchecked_cas: Vec::new(),
            });
            r.indication = Indication::Indeterminate;
            r.sub_indication = Some("TRY_LATER".into());
            r.errors
                .push(format!("the revocation status is unknown: {reason}"));
        }
    }
}

fn verify_doc_timestamp<R: std::io::Read + std::io::Seek>(
    reader: &mut PdfReader<R>,
    mut r: SignatureReport,
    contents: &[u8],
    range: (u64, u64, u64),
    shared: &mut Shared<'_>,
) -> SignatureReport {
    let opts = shared.opts;
    let dss = shared.dss;
    let token = match TimeStampToken::from_der(contents) {
        Ok(t) => t,
        Err(e) => {
            return failed(
                r,
                "FORMAT_FAILURE",
                format!("the document time-stamp is unreadable: {e}"),
            )
        }
    };
    let Some(hash) = token.tst_info.message_imprint.hash() else {
        return failed(
            r,
            "FORMAT_FAILURE",
            "the document time-stamp uses an unknown hash".into(),
        );
    };
    let digest = match shared.digest(reader, range, hash) {
        Ok(d) => d,
        Err(e) => return failed(r, "FORMAT_FAILURE", e.to_string()),
    };
    match token.validate(Imprint::Digest(&digest), None, &[], opts.policy) {
        Ok(tc) if tc.is_valid() => {
            r.integrity = true;
            let gt = token.tst_info.gen_time;
            r.signing_time = Some(crate::time::rfc3339_utc(gt));
            r.signing_time_proven = true;
            r.timestamp = Some(report::Timestamp {
                time: crate::time::rfc3339_utc(gt),
                tsa: tsa_display(&token),
                valid: true,
            });
            if let Some(c) = &tc.tsa_cert {
                r.signer = Some(shared.signer(c));
            }
            if let Some(path) = tsa_path(&token, shared) {
                r.chain = shared.chain(&path);
                r.indication = Indication::TotalPassed;
                tsa_revocation(&mut r, &token, &path, dss, opts);
                let (revoked, warnings) = timestamp_path_revocation(&token, &path, 1, dss, opts);
                r.warnings.extend(warnings);
                if let Some(why) = revoked {
                    if r.indication == Indication::TotalPassed {
                        r.indication = Indication::Indeterminate;
                        r.sub_indication = Some("REVOKED_CA_NO_POE".into());
                    }
                    r.errors.push(why);
                }
            } else {
                r.indication = Indication::Indeterminate;
                r.sub_indication = Some("NO_CERTIFICATE_CHAIN_FOUND".into());
                r.errors
                    .push("the time-stamp authority does not chain to a trusted root".into());
            }
            r
        }
        Ok(tc) => {
            let mut r = failed(
                r,
                "HASH_FAILURE",
                "the document time-stamp does not match the document".into(),
            );
            r.errors.extend(tc.problems());
            r
        }
        Err(e) => failed(r, "FORMAT_FAILURE", e.to_string()),
    }
}

/// The revocation of a document time-stamp's TSA at its genTime (ETSI EN 319 102-1 §5.6.2.4:
/// a time-stamp is validated in turn): embedded evidence first, then online. Revoked at or
/// before genTime fails the time-stamp; an unknown status is a warning (the time-stamp's own
/// trust path was validated at genTime).
fn tsa_revocation(
    r: &mut SignatureReport,
    token: &TimeStampToken,
    path: &[Certificate],
    dss: &Embedded,
    opts: &VerifyOptions<'_>,
) {
    let (Some(tsa), Some(issuer)) = (path.first(), path.get(1)) else {
        return;
    };
    let gen = token.tst_info.gen_time;
    let cms = embedded::from_cms(&token.signed_data, 0);
    let (status, embedded) = match embedded::status(
        &[(Origin::Cms, &cms), (Origin::Dss, dss)],
        tsa,
        issuer,
        gen,
        opts.policy,
    ) {
        Some((s, _)) => (s, true),
        None => match opts.fetcher {
            Some(f) => (
                crate::revocation::online_status(tsa, issuer, f, opts.time, opts.policy).0,
                false,
            ),
            None => {
                r.revocation = Some(report::Revocation {
                    status: "not-checked".into(),
                    source: None,
                    embedded: false,
                    unchecked_cas: Vec::new(),
                });
                r.warnings
                    .push("the time-stamp authority's revocation was not checked (offline)".into());
                return;
            }
        },
    };
    match status {
        Status::Good { source } => {
            r.revocation = Some(report::Revocation {
                status: "good".into(),
                source: Some(source.name().into()),
                embedded,
                unchecked_cas: Vec::new(),
            });
        }
        Status::Revoked { at, source, .. } => {
            r.revocation = Some(report::Revocation {
                status: "revoked".into(),
                source: Some(source.name().into()),
                embedded,
                unchecked_cas: Vec::new(),
            });
            if at <= gen {
                r.indication = Indication::TotalFailed;
                r.sub_indication = Some("REVOKED".into());
                r.errors.push(format!(
                    "the time-stamp authority's certificate was revoked on {}, before the time-stamp",
                    crate::time::vietnam(at)
                ));
            } else {
                r.warnings.push(format!(
                    "the time-stamp authority's certificate was revoked on {}, after the time-stamp",
                    crate::time::vietnam(at)
                ));
            }
        }
        Status::Unknown { reason } => {
            r.revocation = Some(report::Revocation {
                status: "unknown".into(),
                source: None,
                embedded: false,
                unchecked_cas: Vec::new(),
            });
            r.warnings.push(format!(
                "the time-stamp authority's revocation status is unknown: {reason}"
            ));
        }
    }
}

/// The TSA's validated path at genTime, if it reaches a trust anchor.
fn tsa_path(token: &TimeStampToken, shared: &mut Shared<'_>) -> Option<Vec<Certificate>> {
    let tc = token
        .validate(
            Imprint::Digest(&token.tst_info.message_imprint.digest),
            None,
            &[],
            shared.opts.policy,
        )
        .ok()?;
    let tsa = tc.tsa_cert?;
    let certs = shared.parse_certs(&token.signed_data.certificates);
    shared
        .validate(
            &tsa,
            &certs,
            false,
            token.tst_info.gen_time,
            Purpose::TimeStamping,
        )
        .ok()
        .map(|p| p.certs)
}

fn tsa_trusted(token: &TimeStampToken, shared: &mut Shared<'_>) -> bool {
    tsa_path(token, shared).is_some()
}

fn tsa_display(token: &TimeStampToken) -> String {
    token
        .tst_info
        .tsa_name()
        .map(|n| n.to_string())
        .or_else(|| {
            token
                .signed_data
                .parsed_certificates()
                .first()
                .map(|c| c.subject().to_string())
        })
        .unwrap_or_default()
}

fn reader_tail_is_eol<R: std::io::Read + std::io::Seek>(
    reader: &mut PdfReader<R>,
    from: u64,
    to: u64,
) -> bool {
    reader
        .read_at(from, (to - from) as usize)
        .is_ok_and(|b| b.iter().all(|x| *x == b'\r' || *x == b'\n'))
}

/// Parses a PDF date (`D:YYYYMMDDHHmmSSOHH'mm'`, ISO 32000-1 §7.9.4); a date without zone is
/// taken as UTC, as the standard says.
pub fn parse_pdf_date(s: &str) -> Option<OffsetDateTime> {
    let s = s.strip_prefix("D:").unwrap_or(s);
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    if digits.len() < 4 {
        return None;
    }
    let n = |i: usize, len: usize, default: u32| -> Option<u32> {
        match digits.get(i..i + len) {
            Some(x) => x.parse().ok(),
            None => Some(default),
        }
    };
    let date = time::Date::from_calendar_date(
        n(0, 4, 0)? as i32,
        time::Month::try_from(n(4, 2, 1)? as u8).ok()?,
        n(6, 2, 1)? as u8,
    )
    .ok()?;
    let t = time::Time::from_hms(n(8, 2, 0)? as u8, n(10, 2, 0)? as u8, n(12, 2, 0)? as u8).ok()?;
    let rest = &s[digits.len()..];
    let offset = match rest.chars().next() {
        Some(sign @ ('+' | '-')) => {
            let z: String = rest[1..].chars().filter(char::is_ascii_digit).collect();
            let h: i8 = z.get(0..2)?.parse().ok()?;
            let m: i8 = z.get(2..4).and_then(|m| m.parse().ok()).unwrap_or(0);
            let (h, m) = if sign == '-' { (-h, -m) } else { (h, m) };
            time::UtcOffset::from_hms(h, m, 0).ok()?
        }
        _ => time::UtcOffset::UTC,
    };
    Some(time::PrimitiveDateTime::new(date, t).assume_offset(offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_gap_matches_contents_exactly() {
        let bytes: Vec<u8> = (0..=255u8).chain(0..40).collect();
        let hex = hex::encode(&bytes);
        assert!(hex_encodes(hex.as_bytes(), &bytes));
        assert!(hex_encodes(hex.to_uppercase().as_bytes(), &bytes));
        for at in [0, 1, 31, 32, 33, hex.len() - 1] {
            let mut h = hex.clone().into_bytes();
            h[at] = if h[at] == b'0' { b'1' } else { b'0' };
            assert!(!hex_encodes(&h, &bytes), "digit {at} changed");
            h[at] = b' ';
            assert!(!hex_encodes(&h, &bytes), "digit {at} not a digit");
        }
        assert!(!hex_encodes(&hex.as_bytes()[2..], &bytes), "one byte short");
        assert!(!hex_encodes(b"zz", &[0xff]));
    }

    #[test]
    fn pdf_dates() {
        let t = parse_pdf_date("D:20250320100000+07'00'").unwrap();
        assert_eq!(crate::time::rfc3339_utc(t), "2025-03-20T03:00:00Z");
        let t = parse_pdf_date("D:20250320100000Z").unwrap();
        assert_eq!(crate::time::rfc3339_utc(t), "2025-03-20T10:00:00Z");
        assert!(parse_pdf_date("yesterday").is_none());
        assert!(parse_pdf_date("D:20251340").is_none());
    }
}
