//! What changed in a PDF after a signature: each later revision (ISO 32000-2 §7.5.6) is compared
//! with the one before it, and every change is classified as allowed or not, following the
//! modification rules of ISO 32000-2 §12.8.2.2 (DocMDP), §12.8.2.4 (FieldMDP), §12.7.5.5 (field
//! locks) and ETSI EN 319 142-1 §5.4 (DSS and document time-stamps never count as changes).
//!
//! The comparison is semantic and top-down: the document catalog of two consecutive revisions
//! is walked along the structures changes may touch (page tree, page `/Annots`, `/AcroForm`,
//! field tree, `/DSS`); everything else is compared for deep equality, following references
//! into the object versions each revision sees (its own cross-reference view, object streams
//! included). What cannot be shown to be one of the allowed changes is a disallowed change —
//! this is what catches incremental saving, shadow (hide, replace, hide-and-replace), evil
//! annotation and sneaky signature attacks. The signed revision itself is checked for hidden
//! structure: duplicate object numbers in a section, a `startxref` that does not point at its
//! newest section, and objects the signed bytes do not contain.
//!
//! Conservative choices (decision 0012): without a certification signature, the rules of
//! DocMDP P=2 apply (form filling and signing); at P=3 only comment annotations that cannot
//! cover content (Text, Popup, Highlight, Underline, Squiggly, StrikeOut) are allowed; a new
//! signature field that is visible must be signed in the revision that adds it; annotations and
//! fields may be added, never removed.

use crate::pdf::{
    Dictionary, NumMap, NumSet, ObjRef, Object, PdfError, PdfReader, StreamData, XrefEntry,
};
use crate::report::Modification;
use hsm::HashAlgorithm;
use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek};
use std::rc::Rc;

/// Most object comparisons made for one revision before giving up (a disallowed change).
const MAX_STEPS: usize = 2_000_000;
/// Deepest structure followed (page tree, field tree, nested values).
const MAX_DEPTH: usize = 64;

/// DocMDP permission levels (ISO 32000-2 §12.8.2.2.2, Table 257).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MdpLevel {
    /// P=1: no changes.
    NoChanges = 1,
    /// P=2: filling forms, instantiating page templates, signing.
    FormFilling = 2,
    /// P=3: as P=2, plus annotations.
    Annotations = 3,
}

impl MdpLevel {
    /// From a `/P` value; anything else than 1 or 3 is 2 (the default).
    pub fn from_p(p: Option<i64>) -> Self {
        match p {
            Some(1) => Self::NoChanges,
            Some(3) => Self::Annotations,
            _ => Self::FormFilling,
        }
    }
}

/// Which fields a FieldMDP transform or a `/Lock` dictionary locks (ISO 32000-2 Table 258).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldLock {
    /// Every field.
    All,
    /// The named fields only.
    Include(Vec<String>),
    /// Every field except those named.
    Exclude(Vec<String>),
}

impl FieldLock {
    /// Reads `/Action` and `/Fields`.
    pub fn from_dict(d: &Dictionary) -> Option<Self> {
        let fields: Vec<String> = d
            .get("Fields")
            .and_then(Object::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Object::as_string)
                    .map(|s| s.to_text())
                    .collect()
            })
            .unwrap_or_default();
        match d.get("Action").and_then(Object::as_name)? {
            b"All" => Some(Self::All),
            b"Include" => Some(Self::Include(fields)),
            b"Exclude" => Some(Self::Exclude(fields)),
            _ => Some(Self::All),
        }
    }

    fn locks(&self, name: &str) -> bool {
        let named = |list: &[String]| {
            list.iter()
                .any(|f| name == f || name.starts_with(&format!("{f}.")))
        };
        // A parent's value is inherited by its kids: changing it changes a locked kid.
        let parent_of_named =
            |list: &[String]| list.iter().any(|f| f.starts_with(&format!("{name}.")));
        match self {
            Self::All => true,
            Self::Include(l) => named(l) || parent_of_named(l),
            Self::Exclude(l) => !named(l),
        }
    }
}

/// The modification rules in force, from the signatures found in the document.
#[derive(Clone, Debug, Default)]
pub struct Constraints {
    /// DocMDP levels, each with the (0-based) revision its signature covers: they apply to
    /// later revisions.
    pub mdp: Vec<(usize, MdpLevel)>,
    /// Field locks (FieldMDP transforms and `/Lock` dictionaries of signed fields), each with
    /// the revision its signature covers.
    pub locks: Vec<(usize, FieldLock)>,
}

impl Constraints {
    fn level_for(&self, rev: usize) -> (MdpLevel, bool) {
        let levels = self.mdp.iter().filter(|(r, _)| *r < rev).map(|(_, l)| *l);
        match levels.min() {
            Some(l) => (l, true),
            None => (MdpLevel::FormFilling, false),
        }
    }

    fn locked(&self, rev: usize, name: &str) -> bool {
        self.locks.iter().any(|(r, l)| *r < rev && l.locks(name))
    }
}

/// The outcome of the analysis.
#[derive(Clone, Debug, Default)]
pub struct Analysis {
    /// For each revision (0-based index), the changes it made.
    pub changes: HashMap<usize, Vec<Modification>>,
    /// For each revision, why its own structure cannot be trusted as what a signer saw (hidden
    /// sections, duplicate objects, objects outside its bytes).
    pub structure_problems: HashMap<usize, Vec<String>>,
}

impl Analysis {
    /// The changes after revision `rev` (0-based), oldest first.
    pub fn after(&self, rev: usize) -> Vec<Modification> {
        let mut revs: Vec<&usize> = self.changes.keys().filter(|r| **r > rev).collect();
        revs.sort();
        revs.into_iter()
            .flat_map(|r| self.changes[r].iter().cloned())
            .collect()
    }

    /// Problems of the revisions up to and including `rev` (what a signature of `rev` covers).
    pub fn problems_up_to(&self, rev: usize) -> Vec<String> {
        let mut revs: Vec<&usize> = self
            .structure_problems
            .keys()
            .filter(|r| **r <= rev)
            .collect();
        revs.sort();
        revs.into_iter()
            .flat_map(|r| self.structure_problems[r].iter().cloned())
            .collect()
    }
}

/// One revision's view of the objects: the newest entry for each number among the sections of
/// that revision and the older ones.
#[derive(Clone, Debug, Default)]
struct View {
    entries: NumMap<u32, XrefEntry>,
    trailer: Dictionary,
}

fn view_of<R: Read + Seek>(reader: &PdfReader<R>, prev: Option<&View>, rev: usize) -> View {
    let mut v = prev.cloned().unwrap_or_default();
    let mut idx = reader.revisions()[rev].sections.clone();
    idx.sort_unstable();
    let mut seen = NumSet::default();
    for i in &idx {
        for (num, e) in &reader.sections()[*i].entries {
            if seen.insert(*num) {
                v.entries.insert(*num, *e);
            }
        }
    }
    let mut trailer = idx
        .first()
        .map(|i| reader.sections()[*i].trailer.clone())
        .unwrap_or_default();
    if trailer.get("Root").is_none() {
        if let Some(r) = v.trailer.get("Root").cloned() {
            trailer.set("Root", r);
        }
    }
    v.trailer = trailer;
    v
}

/// Analyses the revisions after `from` (0-based) under `constraints`; also checks the structure
/// of every revision up to the newest.
pub fn analyse<R: Read + Seek>(
    reader: &mut PdfReader<R>,
    from: usize,
    constraints: &Constraints,
) -> Result<Analysis, PdfError> {
    analyse_signed(reader, from, from, constraints)
}

/// [`analyse`], also checking the dictionaries of every revision up to `signed` (the newest
/// revision a signature covers) for keys given twice with different values.
pub fn analyse_signed<R: Read + Seek>(
    reader: &mut PdfReader<R>,
    from: usize,
    signed: usize,
    constraints: &Constraints,
) -> Result<Analysis, PdfError> {
    let mut out = Analysis::default();
    let n = reader.revisions().len();
    for rev in 0..n {
        let p = revision_structure(reader, rev)?;
        if !p.is_empty() {
            out.structure_problems.insert(rev, p);
        }
    }
    let mut prev: Option<View> = None;
    let mut store = Store::default();
    for rev in 0..n {
        let cur = view_of(reader, prev.as_ref(), rev);
        if rev <= signed {
            let problems = repeated_keys(reader, &mut store, &cur, rev);
            if !problems.is_empty() {
                out.structure_problems
                    .entry(rev)
                    .or_default()
                    .extend(problems);
            }
        }
        if rev > from {
            if let Some(old) = &prev {
                let mut cmp = Compare::new(reader, &mut store, old, &cur, rev, constraints);
                let changes = match cmp.run() {
                    Ok(()) => cmp.changes,
                    Err(e) => {
                        let mut c = cmp.changes;
                        c.push(change(
                            rev,
                            false,
                            "unanalysable",
                            format!("this revision cannot be compared with the one before: {e}"),
                        ));
                        c
                    }
                };
                out.changes.insert(rev, changes);
            }
        }
        if rev >= from {
            let problems = objects_outside(reader, &cur, rev);
            if !problems.is_empty() {
                out.structure_problems
                    .entry(rev)
                    .or_default()
                    .extend(problems);
            }
        }
        prev = Some(cur);
    }
    // Bytes after the last revision: a reader that scans the file may use them.
    if let Some(last) = reader.revisions().last().map(|r| r.end) {
        if let Some(at) = first_non_blank(reader, last)? {
            out.changes.entry(n).or_default().push(change(
                n,
                false,
                "unstructured-data",
                format!(
                    "the file goes on after its last revision (byte {at}) with data no cross-reference section accounts for (an incremental saving attack or a damaged file)"
                ),
            ));
        }
    }
    if !reader.repairs().is_empty() && n > from + 1 {
        out.changes.entry(n - 1).or_default().push(change(
            n - 1,
            false,
            "damaged",
            "the file needed repairs to be read, so the changes after signing cannot be analysed reliably".into(),
        ));
    }
    Ok(out)
}

fn change(rev: usize, allowed: bool, kind: &str, detail: String) -> Modification {
    Modification {
        revision: rev as u32 + 1,
        allowed,
        kind: kind.into(),
        detail,
    }
}

/// Checks that a revision is what a reader of the file as it then was would see: its own
/// `startxref` points at its newest section, and no section has two entries for one object.
fn revision_structure<R: Read + Seek>(
    reader: &mut PdfReader<R>,
    rev: usize,
) -> Result<Vec<String>, PdfError> {
    let mut problems = Vec::new();
    let r = reader.revisions()[rev].clone();
    for &i in &r.sections {
        let s = &reader.sections()[i];
        if !s.duplicates.is_empty() {
            let mut d = s.duplicates.clone();
            d.sort_unstable();
            d.dedup();
            d.truncate(5);
            problems.push(format!(
                "revision {} defines objects {:?} twice in one cross-reference section (the object shown depends on the reader)",
                rev + 1,
                d
            ));
        }
    }
    let Some(newest) = r.sections.iter().min().copied() else {
        return Ok(problems);
    };
    let newest_offset = reader.sections()[newest].offset;
    let tail_start = r.end.saturating_sub(1024);
    let tail = reader.read_at(tail_start, (r.end - tail_start) as usize)?;
    let sx = rfind(&tail, b"startxref").and_then(|p| {
        let digits: String = tail[p + 9..]
            .iter()
            .skip_while(|c| c.is_ascii_whitespace())
            .take_while(|c| c.is_ascii_digit())
            .map(|&c| char::from(c))
            .collect();
        digits.parse::<u64>().ok()
    });
    // A startxref a few bytes off that the reader repaired to this very section is a writer's
    // slip, not a hidden section.
    let repaired_here = |o: u64| {
        reader.repairs().iter().any(|r| {
            matches!(r, crate::pdf::Repair::XrefMoved { expected, found }
                if *expected == o && *found == newest_offset)
        })
    };
    match sx {
        Some(o) if o == newest_offset || repaired_here(o) => {}
        // A revision without a startxref of its own only happens with damage; a later one
        // pointing elsewhere is a hidden section.
        found => problems.push(format!(
            "revision {} ends with a startxref ({}) that does not point at its cross-reference section (byte {newest_offset}): the file has a hidden or rerouted cross-reference section",
            rev + 1,
            found.map_or("none".to_string(), |o| o.to_string())
        )),
    }
    Ok(problems)
}

/// Most objects of one revision checked for repeated keys.
const MAX_KEY_CHECKS: usize = 200_000;

/// Dictionaries that give one key two different values, among the objects revision `rev`
/// defines in its own sections (as its view shows them). Readers differ on which value counts
/// (the first, the last), so the signed bytes do not fix what the signer saw: a parser
/// differential an attacker can plant before signing. Repeats with equal values are harmless
/// and not reported; objects that cannot be read are judged where they are used.
fn repeated_keys<R: Read + Seek>(
    reader: &mut PdfReader<R>,
    store: &mut Store,
    view: &View,
    rev: usize,
) -> Vec<String> {
    let mut defined: Vec<(u32, XrefEntry)> = reader.revisions()[rev]
        .sections
        .iter()
        .flat_map(|&i| reader.sections()[i].entries.iter().map(|(n, e)| (*n, *e)))
        .collect();
    defined.sort_unstable_by_key(|(n, _)| *n);
    defined.dedup_by_key(|(n, _)| *n);
    let mut bad = Vec::new();
    for (num, _) in defined.into_iter().take(MAX_KEY_CHECKS) {
        let Some(&e) = view.entries.get(&num) else {
            continue;
        };
        let (r, stream_entry) = match e {
            XrefEntry::InUse { gen, .. } => (ObjRef { num, gen }, None),
            XrefEntry::Compressed { stream, .. } => {
                (ObjRef::new(num), view.entries.get(&stream).copied())
            }
            XrefEntry::Free { .. } => continue,
        };
        let key = (r, Some(e), stream_entry);
        let obj = match store.objects.get(&key) {
            Some(o) => Rc::clone(o),
            None => {
                let loaded = if reader.entry(num) == Some(e)
                    && stream_entry.is_none_or(|se| {
                        matches!(e, XrefEntry::Compressed { stream, .. } if reader.entry(stream) == Some(se))
                    }) {
                    reader.get_rc(r)
                } else {
                    match (e, stream_entry) {
                        (XrefEntry::Compressed { stream, index }, Some(se)) => {
                            reader.get_compressed_version(r, ObjRef::new(stream), se, index)
                        }
                        (XrefEntry::Compressed { .. }, None) => continue,
                        _ => reader.get_version(r, e),
                    }
                    .map(Rc::new)
                };
                let Ok(o) = loaded else { continue };
                if store.objects.len() < STORE_OBJECTS {
                    store.objects.insert(key, Rc::clone(&o));
                }
                o
            }
        };
        if conflicting_key(&obj, 0) {
            bad.push(num);
        }
    }
    if bad.is_empty() {
        return Vec::new();
    }
    bad.truncate(5);
    vec![format!(
        "revision {} has dictionaries that give one key two different values (objects {:?}): readers differ on which value they show",
        rev + 1,
        bad
    )]
}

/// Whether a value holds a dictionary that gives one key two different values.
fn conflicting_key(o: &Object, depth: usize) -> bool {
    let d = match o {
        Object::Dictionary(d) => d,
        Object::Stream(s) => &s.dict,
        Object::Array(a) => return depth < 64 && a.iter().any(|x| conflicting_key(x, depth + 1)),
        _ => return false,
    };
    if depth >= 64 {
        return false;
    }
    if repeated_key(d).is_some() {
        let entries: Vec<(&[u8], &Object)> = d.iter().map(|(k, v)| (k.as_bytes(), v)).collect();
        for (i, (k, v)) in entries.iter().enumerate() {
            if entries[..i].iter().any(|(k2, v2)| k2 == k && v2 != v) {
                return true;
            }
        }
    }
    d.iter().any(|(_, v)| conflicting_key(v, depth + 1))
}

/// Objects a revision's view places at or after the end of that revision's bytes.
fn objects_outside<R: Read + Seek>(reader: &PdfReader<R>, v: &View, rev: usize) -> Vec<String> {
    let end = reader.revisions()[rev].end;
    let mut bad: Vec<u32> = v
        .entries
        .iter()
        .filter(|(_, e)| matches!(e, XrefEntry::InUse { offset, .. } if *offset >= end))
        .map(|(n, _)| *n)
        .collect();
    if bad.is_empty() {
        return Vec::new();
    }
    bad.sort_unstable();
    bad.truncate(5);
    vec![format!(
        "revision {} refers to objects {:?} that lie after its end, in bytes added later",
        rev + 1,
        bad
    )]
}

fn first_non_blank<R: Read + Seek>(
    reader: &mut PdfReader<R>,
    from: u64,
) -> Result<Option<u64>, PdfError> {
    let mut pos = from;
    while pos < reader.len() {
        let buf = reader.read_at(pos, 1 << 20)?;
        if let Some(i) = buf
            .iter()
            .position(|c| !matches!(c, b'\r' | b'\n' | b' ' | b'\t' | b'\0' | b'\x0c'))
        {
            return Ok(Some(pos + i as u64));
        }
        pos += buf.len() as u64;
        if buf.is_empty() {
            break;
        }
    }
    Ok(None)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// A version of an object: its reference and the cross-reference entries that locate it (its
/// own, and its object stream's).
type VersionKey = (ObjRef, Option<XrefEntry>, Option<XrefEntry>);

/// Object versions parsed during one analysis, shared by the comparisons of every pair of
/// consecutive revisions (decision 0024): a version is fixed by its cross-reference entries, so
/// an object is parsed once, not once per later revision, and the references it holds are
/// collected once.
#[derive(Default)]
struct Store {
    objects: NumMap<VersionKey, Rc<Object>>,
    /// The references each version holds (`None`: nested too deep to follow).
    refs: NumMap<VersionKey, Option<Rc<[ObjRef]>>>,
}

/// Most object versions kept in the [`Store`] before it is emptied (bounded memory).
const STORE_OBJECTS: usize = 100_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Old,
    New,
}

/// A new signature field seen while comparing the field trees.
struct NewSigField {
    /// Object numbers of the field and its widgets.
    widgets: Vec<u32>,
}

struct Compare<'a, R> {
    reader: &'a mut PdfReader<R>,
    store: &'a mut Store,
    old: &'a View,
    new: &'a View,
    rev: usize,
    level: MdpLevel,
    certified: bool,
    constraints: &'a Constraints,
    changes: Vec<Modification>,
    /// Structural objects (page tree, annotations, fields, form, DSS) compared by the
    /// structural walk: elsewhere a reference to them is compared by identity.
    structural: NumSet<u32>,
    /// Those among them that were structural in the older revision: only these are compared
    /// by identity (an object made a field or annotation by the new revision is not, or a
    /// font could be changed and "explained" by a new field listing it).
    old_structural: NumSet<u32>,
    /// Structural objects the structural walk compared (same object in both revisions).
    walked: NumSet<u32>,
    /// Changed structural objects another reference was taken to be equal to by identity:
    /// each must be compared by the walk, or is compared as a value afterwards (an object the
    /// DSS or a field's /Kids shares with a page's resources is not walked).
    assumed: NumSet<u32>,
    /// Objects the same in both revisions from which no changed object can be reached.
    clean: NumSet<u32>,
    steps: usize,
    /// Pairs of objects compared: in progress (with their depth on the comparison stack, for
    /// reference loops), or settled. A pair is settled as equal only when its comparison did
    /// not rest on a pair still in progress above it.
    eq_state: NumMap<(ObjRef, ObjRef), EqState>,
    eq_depth: usize,
    /// Lowest stack depth of an in-progress pair assumed equal by the current comparison.
    eq_low: usize,
    new_sig_fields: Vec<NewSigField>,
    /// Widgets whose appearance this revision may change (their field is filled or signed).
    fillable_widgets: NumSet<u32>,
    /// Those among them whose field was filled in (not signed): their `/MK` may not change,
    /// and their new appearance is checked (decision 0033).
    filled_widgets: NumSet<u32>,
    /// Annotations on pages and field dictionaries, in either revision.
    page_annots: NumSet<u32>,
    field_objects: NumSet<u32>,
    /// Widgets added to pages: (object number, visible), matched with new signature fields.
    pending_widgets: Vec<(Option<u32>, bool)>,
}

type Res<T> = Result<T, PdfError>;

#[derive(Clone, Copy)]
enum EqState {
    InProgress(usize),
    Same,
    Different,
}

impl<'a, R: Read + Seek> Compare<'a, R> {
    fn new(
        reader: &'a mut PdfReader<R>,
        store: &'a mut Store,
        old: &'a View,
        new: &'a View,
        rev: usize,
        constraints: &'a Constraints,
    ) -> Self {
        let (level, certified) = constraints.level_for(rev);
        Self {
            reader,
            store,
            old,
            new,
            rev,
            level,
            certified,
            constraints,
            changes: Vec::new(),
            structural: NumSet::default(),
            old_structural: NumSet::default(),
            walked: NumSet::default(),
            assumed: NumSet::default(),
            clean: NumSet::default(),
            steps: 0,
            eq_state: NumMap::default(),
            eq_depth: 0,
            eq_low: usize::MAX,
            new_sig_fields: Vec::new(),
            fillable_widgets: NumSet::default(),
            filled_widgets: NumSet::default(),
            page_annots: NumSet::default(),
            field_objects: NumSet::default(),
            pending_widgets: Vec::new(),
        }
    }

    fn push(&mut self, allowed: bool, kind: &str, detail: String) {
        self.changes.push(change(self.rev, allowed, kind, detail));
    }

    fn deny(&mut self, kind: &str, detail: String) {
        self.push(false, kind, detail);
    }

    /// Denies a changed structural dictionary that repeats a key. Returns whether it did.
    fn repeated(&mut self, x: &Dictionary, y: &Dictionary, what: &str) -> Res<bool> {
        if repeated_key(x).is_none() && repeated_key(y).is_none() {
            return Ok(false);
        }
        if self.dict_eq(x, y, &[], 0)? {
            return Ok(false);
        }
        let k = repeated_key(y)
            .or_else(|| repeated_key(x))
            .unwrap_or_default();
        self.deny(
            "structure",
            format!("{what} repeats the key /{k}, and readers differ on which value they show"),
        );
        Ok(true)
    }

    fn step(&mut self) -> Res<()> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(PdfError::TooLarge {
                obj: ObjRef::new(0),
                what: "the number of objects compared between two revisions",
                limit: MAX_STEPS as u64,
            });
        }
        Ok(())
    }

    fn view(&self, side: Side) -> &View {
        match side {
            Side::Old => self.old,
            Side::New => self.new,
        }
    }

    /// Whether object `num` may differ between the two views.
    fn changed(&self, num: u32) -> bool {
        let (a, b) = (self.old.entries.get(&num), self.new.entries.get(&num));
        if a != b {
            return true;
        }
        match a {
            Some(XrefEntry::Compressed { stream, .. }) => {
                self.old.entries.get(stream) != self.new.entries.get(stream)
            }
            _ => false,
        }
    }

    fn load(&mut self, side: Side, r: ObjRef) -> Res<Object> {
        let o = self.load_rc(side, r)?;
        Ok(Object::clone(&o))
    }

    /// The version of `r` that the view of `side` holds (shared, not copied).
    fn version_key(&self, side: Side, r: ObjRef) -> VersionKey {
        let entry = self.view(side).entries.get(&r.num).copied();
        let stream_entry = match entry {
            Some(XrefEntry::Compressed { stream, .. }) => {
                self.view(side).entries.get(&stream).copied()
            }
            _ => None,
        };
        (r, entry, stream_entry)
    }

    fn load_rc(&mut self, side: Side, r: ObjRef) -> Res<Rc<Object>> {
        self.step()?;
        let key = self.version_key(side, r);
        if let Some(o) = self.store.objects.get(&key) {
            return Ok(Rc::clone(o));
        }
        let entry = key.1;
        // The newest version of an object (and of its object stream) is what the reader's own
        // cache holds: most objects of most revisions, parsed once for all comparisons.
        let newest = entry.is_some() && entry == self.reader.entry(r.num) && {
            match entry {
                Some(XrefEntry::Compressed { stream, .. }) => {
                    self.view(side).entries.get(&stream).copied() == self.reader.entry(stream)
                }
                _ => true,
            }
        };
        let obj = match entry {
            Some(XrefEntry::InUse { gen, .. }) if newest && gen == r.gen => {
                let o = self.reader.get_rc(r)?;
                self.keep(key, &o);
                return Ok(o);
            }
            Some(XrefEntry::Compressed { .. }) if newest && r.gen == 0 => {
                let o = self.reader.get_rc(r)?;
                self.keep(key, &o);
                return Ok(o);
            }
            None | Some(XrefEntry::Free { .. }) => Object::Null,
            Some(e @ XrefEntry::InUse { .. }) => self.reader.get_version(r, e)?,
            Some(XrefEntry::Compressed { stream, index }) => {
                let se = self.view(side).entries.get(&stream).copied();
                match se {
                    Some(se) => {
                        self.reader
                            .get_compressed_version(r, ObjRef::new(stream), se, index)?
                    }
                    None => {
                        return Err(PdfError::structure("an object stream", ObjRef::new(stream)))
                    }
                }
            }
        };
        let obj = Rc::new(obj);
        self.keep(key, &obj);
        Ok(obj)
    }

    fn keep(&mut self, key: VersionKey, obj: &Rc<Object>) {
        if self.store.objects.len() >= STORE_OBJECTS {
            self.store.objects.clear();
        }
        self.store.objects.insert(key, Rc::clone(obj));
    }

    /// The references the version of object `num` in the view of `side` holds; `None` when it
    /// is nested too deep to follow.
    fn refs_of(&mut self, side: Side, num: u32) -> Res<Option<Rc<[ObjRef]>>> {
        let key = self.version_key(side, ObjRef::new(num));
        if let Some(r) = self.store.refs.get(&key).cloned() {
            self.step()?;
            return Ok(r);
        }
        let o = self.load_rc(side, ObjRef::new(num))?;
        let mut refs = Vec::new();
        let found = collect_refs(&o, &mut refs, 0).then(|| Rc::from(refs));
        if self.store.refs.len() >= STORE_OBJECTS {
            self.store.refs.clear();
        }
        self.store.refs.insert(key, found.clone());
        Ok(found)
    }

    /// [`Self::resolve`], shared rather than copied.
    fn resolve_rc(&mut self, side: Side, o: &Object) -> Res<Rc<Object>> {
        let Object::Reference(mut r) = o else {
            return Ok(Rc::new(o.clone()));
        };
        let mut n = 0;
        loop {
            n += 1;
            if n > 32 {
                return Err(PdfError::ReferenceLoop { obj: r });
            }
            let cur = self.load_rc(side, r)?;
            match &*cur {
                Object::Reference(next) => r = *next,
                _ => return Ok(cur),
            }
        }
    }

    fn resolve(&mut self, side: Side, o: &Object) -> Res<Object> {
        let Object::Reference(mut r) = o else {
            return Ok(o.clone());
        };
        let mut n = 0;
        loop {
            n += 1;
            if n > 32 {
                return Err(PdfError::ReferenceLoop { obj: r });
            }
            let cur = self.load_rc(side, r)?;
            match &*cur {
                Object::Reference(next) => r = *next,
                _ => return Ok(Object::clone(&cur)),
            }
        }
    }

    fn root(&mut self, side: Side) -> Res<(Option<ObjRef>, Dictionary)> {
        let r = self.view(side).trailer.get("Root").cloned();
        let Some(r) = r else {
            return Err(PdfError::structure("the trailer's /Root", ObjRef::new(0)));
        };
        let d = match self.resolve(side, &r)? {
            Object::Dictionary(d) => d,
            _ => return Err(PdfError::structure("the document catalog", ObjRef::new(0))),
        };
        Ok((r.as_reference(), d))
    }

    fn run(&mut self) -> Res<()> {
        let (_, old_cat) = self.root(Side::Old)?;
        let (_, new_cat) = self.root(Side::New)?;
        self.collect_structural(&old_cat, &new_cat)?;
        self.catalog(&old_cat, &new_cat)?;
        self.check_new_signature_widgets();
        self.compare_assumed()?;
        Ok(())
    }

    /// Compares as values the changed structural objects that were taken as equal by identity
    /// but that the structural walk did not compare.
    fn compare_assumed(&mut self) -> Res<()> {
        let mut done = NumSet::default();
        loop {
            let mut todo: Vec<u32> = self
                .assumed
                .iter()
                .filter(|n| !self.walked.contains(n) && !done.contains(*n))
                .copied()
                .collect();
            if todo.is_empty() {
                return Ok(());
            }
            todo.sort_unstable();
            for n in todo {
                done.insert(n);
                let x = self.load(Side::Old, ObjRef::new(n))?;
                let y = self.load(Side::New, ObjRef::new(n))?;
                if !self.eq(&x, &y, 0)? {
                    self.deny(
                        "structure",
                        format!("object {n}, which the document's pages, form or security store also use, was changed where it serves as something else (a font, resources or content)"),
                    );
                }
            }
        }
    }

    /// Whether `a` (old) and `b` (new) are the same reference to a dictionary that is the same
    /// version in both revisions, without `/Kids`, whose every value compares equal: then
    /// nothing about that annotation or field changed and comparing it key by key would find
    /// nothing (the values are compared exactly as that would). Recorded as walked. This keeps
    /// the comparison of a revision that adds one signature from costing as much as every
    /// earlier signature's field and widget (decision 0024).
    fn unchanged_dict(&mut self, a: &Object, b: &Object) -> Res<bool> {
        let (Some(x), Some(y)) = (a.as_reference(), b.as_reference()) else {
            return Ok(false);
        };
        if x != y || self.changed(x.num) {
            return Ok(false);
        }
        let o = self.load_rc(Side::New, y)?;
        let Object::Dictionary(d) = &*o else {
            return Ok(false);
        };
        if d.get("Kids").is_some() {
            return Ok(false);
        }
        for (k, v) in d.iter() {
            // `/P` (the page) is not compared by either comparison: pages are walked.
            if k.as_bytes() != b"P" && !self.eq(v, v, 0)? {
                return Ok(false);
            }
        }
        self.walk(a, b);
        Ok(true)
    }

    /// Records that the structural walk compares `a` (old) with `b` (new).
    fn walk(&mut self, a: &Object, b: &Object) {
        if let (Some(x), Some(y)) = (a.as_reference(), b.as_reference()) {
            if x == y {
                self.walked.insert(x.num);
            }
        }
    }

    // ------------------------------------------------------------ structural objects

    fn collect_structural(&mut self, old_cat: &Dictionary, new_cat: &Dictionary) -> Res<()> {
        for (side, cat) in [(Side::Old, old_cat), (Side::New, new_cat)] {
            let mut stack: Vec<(Object, u8, usize)> = Vec::new();
            // 0 = page tree node, 1 = annots array, 2 = annotation, 3 = form, 4 = fields array
            // or field, 5 = DSS
            if let Some(p) = cat.get("Pages") {
                stack.push((p.clone(), 0, 0));
            }
            if let Some(p) = cat.get("AcroForm") {
                stack.push((p.clone(), 3, 0));
            }
            if let Some(p) = cat.get("DSS") {
                stack.push((p.clone(), 5, 0));
            }
            let mut seen = NumSet::default();
            while let Some((o, kind, depth)) = stack.pop() {
                if depth > MAX_DEPTH {
                    continue;
                }
                if let Some(r) = o.as_reference() {
                    if !seen.insert((r.num, kind)) {
                        continue;
                    }
                    self.structural.insert(r.num);
                    if side == Side::Old {
                        self.old_structural.insert(r.num);
                    }
                    match kind {
                        2 => {
                            self.page_annots.insert(r.num);
                        }
                        4 => {
                            self.field_objects.insert(r.num);
                        }
                        _ => {}
                    }
                }
                if kind == 5 {
                    continue;
                }
                let v = self.resolve_rc(side, &o)?;
                match (kind, &*v) {
                    (0, Object::Dictionary(d)) if !is_leaf(d) => {
                        if let Some(Object::Array(kids)) =
                            d.get("Kids").map(|k| self.resolve(side, k)).transpose()?
                        {
                            if let Some(r) = d.get("Kids").and_then(Object::as_reference) {
                                self.structural.insert(r.num);
                                if side == Side::Old {
                                    self.old_structural.insert(r.num);
                                }
                            }
                            for k in kids {
                                stack.push((k, 0, depth + 1));
                            }
                        }
                    }
                    (0, Object::Dictionary(d)) => {
                        if let Some(a) = d.get("Annots") {
                            stack.push((a.clone(), 1, depth + 1));
                        }
                    }
                    (1, Object::Array(a)) => {
                        for x in a {
                            stack.push((x.clone(), 2, depth + 1));
                        }
                    }
                    (3, Object::Dictionary(d)) => {
                        if let Some(f) = d.get("Fields") {
                            stack.push((f.clone(), 4, depth + 1));
                        }
                    }
                    (4, Object::Array(a)) => {
                        for x in a {
                            stack.push((x.clone(), 4, depth + 1));
                        }
                    }
                    (4, Object::Dictionary(d)) => {
                        if let Some(k) = d.get("Kids") {
                            stack.push((k.clone(), 4, depth + 1));
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------ deep equality

    /// Whether `a` (old view) and `b` (new view) are the same value, following references.
    fn eq(&mut self, a: &Object, b: &Object, depth: usize) -> Res<bool> {
        if depth > MAX_DEPTH * 4 {
            return Err(PdfError::TooLarge {
                obj: ObjRef::new(0),
                what: "the nesting of values compared",
                limit: (MAX_DEPTH * 4) as u64,
            });
        }
        match (a, b) {
            (Object::Reference(ra), Object::Reference(rb)) => {
                if ra == rb
                    && (self.old_structural.contains(&ra.num)
                        || (self.structural.contains(&ra.num) && !self.changed(ra.num)))
                {
                    self.assumed.insert(ra.num);
                    return Ok(true);
                }
                if !self.structural.contains(&ra.num)
                    && ra == rb
                    && !self.changed(ra.num)
                    && !self.reaches_changed(ra.num)?
                {
                    return Ok(true);
                }
                if self.structural.contains(&ra.num) || self.structural.contains(&rb.num) {
                    return Ok(false);
                }
                self.eq_pair(*ra, *rb, depth)
            }
            (Object::Reference(ra), y) => {
                if self.structural.contains(&ra.num) {
                    return Ok(false);
                }
                let x = self.resolve(Side::Old, a)?;
                self.eq(&x, y, depth + 1)
            }
            (x, Object::Reference(rb)) => {
                if self.structural.contains(&rb.num) {
                    return Ok(false);
                }
                let y = self.resolve(Side::New, b)?;
                self.eq(x, &y, depth + 1)
            }
            (Object::Array(x), Object::Array(y)) => {
                if x.len() != y.len() {
                    return Ok(false);
                }
                for (p, q) in x.iter().zip(y) {
                    if !self.eq(p, q, depth + 1)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            (Object::Dictionary(x), Object::Dictionary(y)) => self.dict_eq(x, y, &[], depth),
            (Object::Stream(x), Object::Stream(y)) => {
                // /Length too: an indirect length is read through the newest revision when the
                // data is located, so a redefined length shows in no other way.
                if !self.dict_eq(&x.dict, &y.dict, &[], depth)? {
                    return Ok(false);
                }
                self.stream_data_eq(&x.data, &y.data)
            }
            (Object::Integer(x), Object::Real(y)) | (Object::Real(y), Object::Integer(x)) => {
                Ok((*x as f64 - y).abs() < 1e-9)
            }
            (x, y) => Ok(x == y),
        }
    }

    /// Whether an object that is the same in both revisions refers, directly or through other
    /// objects, to one that is not (a font kept as signed whose indirect `/Encoding` was
    /// redefined). Iterative, so long chains (outlines, structure trees) cost no recursion;
    /// objects found clean are remembered. Structural objects met on the way are left to the
    /// structural walk (recorded as taken by identity).
    fn reaches_changed(&mut self, start: u32) -> Res<bool> {
        if self.clean.contains(&start) {
            return Ok(false);
        }
        let mut seen = NumSet::default();
        let mut stack = vec![start];
        seen.insert(start);
        while let Some(n) = stack.pop() {
            let Some(refs) = self.refs_of(Side::New, n)? else {
                // Nested too deep to follow: not shown to be unchanged.
                return Ok(true);
            };
            for &r in refs.iter() {
                if self.clean.contains(&r.num) || !seen.insert(r.num) {
                    continue;
                }
                if self.structural.contains(&r.num) {
                    if self.changed(r.num) && !self.old_structural.contains(&r.num) {
                        return Ok(true);
                    }
                    self.assumed.insert(r.num);
                    continue;
                }
                if self.changed(r.num) {
                    return Ok(true);
                }
                stack.push(r.num);
            }
        }
        self.clean.extend(seen);
        Ok(false)
    }

    /// Compares two indirect objects, memoising the outcome. A pair met again while its own
    /// comparison is in progress (a reference loop) is assumed equal; a result that rests on
    /// such an assumption is not memoised unless the assumed pair is this one or below it (an
    /// earlier "different" must never be read back as "equal": a font changed next to an
    /// allowed change was once missed that way).
    fn eq_pair(&mut self, ra: ObjRef, rb: ObjRef, depth: usize) -> Res<bool> {
        let key = (ra, rb);
        match self.eq_state.get(&key) {
            Some(EqState::Same) => return Ok(true),
            Some(EqState::Different) => return Ok(false),
            Some(EqState::InProgress(d)) => {
                self.eq_low = self.eq_low.min(*d);
                return Ok(true);
            }
            None => {}
        }
        let here = self.eq_depth;
        self.eq_state.insert(key, EqState::InProgress(here));
        self.eq_depth += 1;
        let outer_low = std::mem::replace(&mut self.eq_low, usize::MAX);
        let res = (|| {
            let x = self.load_rc(Side::Old, ra)?;
            let y = self.load_rc(Side::New, rb)?;
            self.eq(&x, &y, depth + 1)
        })();
        self.eq_depth -= 1;
        let low = std::mem::replace(&mut self.eq_low, outer_low);
        match res {
            Ok(false) => {
                self.eq_state.insert(key, EqState::Different);
            }
            Ok(true) if low >= here => {
                self.eq_state.insert(key, EqState::Same);
            }
            _ => {
                // Rests on a pair above this one (or failed): forget it, and pass the
                // assumption up.
                self.eq_state.remove(&key);
                self.eq_low = self.eq_low.min(low);
            }
        }
        res
    }

    fn dict_eq(
        &mut self,
        x: &Dictionary,
        y: &Dictionary,
        skip: &[&str],
        depth: usize,
    ) -> Res<bool> {
        if repeated_key(x).is_some() || repeated_key(y).is_some() {
            // Readers disagree on which of two values counts: compare entry by entry.
            if x.len() != y.len() {
                return Ok(false);
            }
            let pairs: Vec<(Object, Object)> = x
                .iter()
                .zip(y.iter())
                .map(|((_, a), (_, b))| (a.clone(), b.clone()))
                .collect();
            let same_keys = x.iter().zip(y.iter()).all(|((k1, _), (k2, _))| k1 == k2);
            if !same_keys {
                return Ok(false);
            }
            for (a, b) in pairs {
                if !self.eq(&a, &b, depth + 1)? {
                    return Ok(false);
                }
            }
            return Ok(true);
        }
        let keys = dict_keys(x, y);
        for k in keys {
            if skip.contains(&&*k) {
                continue;
            }
            let a = x.get(&k).cloned().unwrap_or(Object::Null);
            let b = y.get(&k).cloned().unwrap_or(Object::Null);
            if !self.eq(&a, &b, depth + 1)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn stream_data_eq(&mut self, a: &StreamData, b: &StreamData) -> Res<bool> {
        match (a, b) {
            (
                StreamData::File {
                    offset: o1,
                    length: l1,
                },
                StreamData::File {
                    offset: o2,
                    length: l2,
                },
            ) => {
                if l1 != l2 {
                    return Ok(false);
                }
                if o1 == o2 {
                    return Ok(true);
                }
                let h1 = self
                    .reader
                    .digest_ranges(&[(*o1, *l1)], HashAlgorithm::Sha256)?;
                let h2 = self
                    .reader
                    .digest_ranges(&[(*o2, *l2)], HashAlgorithm::Sha256)?;
                Ok(h1 == h2)
            }
            (x, y) => Ok(x == y),
        }
    }

    /// Compares the values of `key` in two dictionaries; reports a disallowed change if they
    /// differ.
    fn same_or_deny(
        &mut self,
        x: &Dictionary,
        y: &Dictionary,
        key: &str,
        kind: &str,
        what: &str,
    ) -> Res<()> {
        let a = x.get(key).cloned().unwrap_or(Object::Null);
        let b = y.get(key).cloned().unwrap_or(Object::Null);
        if !self.eq(&a, &b, 0)? {
            self.deny(kind, format!("{what}: /{key} was changed"));
        }
        Ok(())
    }

    // ------------------------------------------------------------ catalog

    fn catalog(&mut self, old: &Dictionary, new: &Dictionary) -> Res<()> {
        if self.repeated(old, new, "the document catalog")? {
            return Ok(());
        }
        for k in dict_keys(old, new) {
            match &*k {
                "Pages" => {
                    let a = old.get("Pages").cloned().unwrap_or(Object::Null);
                    let b = new.get("Pages").cloned().unwrap_or(Object::Null);
                    self.page_tree(&a, &b, 0)?;
                }
                "AcroForm" => {
                    if let (Some(p), Some(q)) = (old.get("AcroForm"), new.get("AcroForm")) {
                        self.walk(p, q);
                    }
                    let a = match old.get("AcroForm") {
                        Some(o) => self.resolve(Side::Old, o)?,
                        None => Object::Null,
                    };
                    let b = match new.get("AcroForm") {
                        Some(o) => self.resolve(Side::New, o)?,
                        None => Object::Null,
                    };
                    self.acroform(&a, &b)?;
                }
                "DSS" => {
                    let a = old.get("DSS").cloned().unwrap_or(Object::Null);
                    let b = new.get("DSS").cloned().unwrap_or(Object::Null);
                    if !self.dss_eq(&a, &b)? {
                        if matches!(b, Object::Null) {
                            self.deny(
                                "dss",
                                "the document security store (/DSS) was removed".into(),
                            );
                        } else {
                            self.push(
                                true,
                                "dss",
                                "validation data was added to the document security store (/DSS)"
                                    .into(),
                            );
                        }
                    }
                }
                "Metadata" => {
                    let a = old.get(&k).cloned().unwrap_or(Object::Null);
                    let b = new.get(&k).cloned().unwrap_or(Object::Null);
                    if !self.eq(&a, &b, 0)? {
                        // XMP metadata is not rendered; writers refresh it when they save.
                        let is_xmp = matches!(self.resolve(Side::New, &b)?,
                            Object::Stream(ref st) if st.dict.has_name("Subtype", "XML"));
                        if is_xmp {
                            self.push(
                                true,
                                "metadata",
                                "the XMP metadata (/Metadata) was updated".into(),
                            );
                        } else {
                            self.deny("catalog", "the document catalog: /Metadata was replaced by something that is not XMP metadata".into());
                        }
                    }
                }
                "Extensions" => {
                    if !self.eq(
                        &old.get(&k).cloned().unwrap_or(Object::Null),
                        &new.get(&k).cloned().unwrap_or(Object::Null),
                        0,
                    )? {
                        self.push(
                            true,
                            "catalog",
                            "the developer extensions (/Extensions) were updated".into(),
                        );
                    }
                }
                "Version" => {
                    let a = old.get(&k).and_then(Object::as_name).map(<[u8]>::to_vec);
                    let b = new.get(&k).and_then(Object::as_name).map(<[u8]>::to_vec);
                    if a != b {
                        let up = b.is_some() && (a.is_none() || b >= a);
                        self.push(
                            up,
                            "catalog",
                            format!(
                                "the PDF version (/Version) was changed to {}",
                                b.map(|v| String::from_utf8_lossy(&v).into_owned())
                                    .unwrap_or_default()
                            ),
                        );
                    }
                }
                _ => self.same_or_deny(old, new, &k, "catalog", "the document catalog")?,
            }
        }
        Ok(())
    }

    fn dss_eq(&mut self, a: &Object, b: &Object) -> Res<bool> {
        match (a, b) {
            (Object::Reference(x), Object::Reference(y)) if x == y && !self.changed(x.num) => {
                Ok(true)
            }
            (Object::Null, Object::Null) => Ok(true),
            // The DSS is not rendered: any difference is a DSS update; its contents are not
            // compared further (shared objects are compared where they are used).
            _ => Ok(false),
        }
    }

    // ------------------------------------------------------------ pages

    fn page_tree(&mut self, a: &Object, b: &Object, depth: usize) -> Res<()> {
        if depth > MAX_DEPTH {
            return Err(PdfError::TooLarge {
                obj: ObjRef::new(0),
                what: "the depth of the page tree",
                limit: MAX_DEPTH as u64,
            });
        }
        self.walk(a, b);
        let x = self.resolve_rc(Side::Old, a)?;
        let y = self.resolve_rc(Side::New, b)?;
        let (Object::Dictionary(x), Object::Dictionary(y)) = (&*x, &*y) else {
            self.deny(
                "pages",
                "the page tree was replaced by something that is not a page tree node".into(),
            );
            return Ok(());
        };
        if !is_leaf(x) && self.repeated(x, y, "a page tree node")? {
            return Ok(());
        }
        match (is_leaf(x), is_leaf(y)) {
            (true, true) => return self.page(x, y),
            (false, false) => {}
            _ => {
                self.deny(
                    "pages",
                    "a page was replaced by a page tree node or the reverse".into(),
                );
                return Ok(());
            }
        }
        if let (Some(p), Some(q)) = (x.get("Kids"), y.get("Kids")) {
            self.walk(p, q);
        }
        let ka = match x.get("Kids") {
            Some(k) => self.resolve(Side::Old, k)?,
            None => Object::Null,
        };
        let kb = match y.get("Kids") {
            Some(k) => self.resolve(Side::New, k)?,
            None => Object::Null,
        };
        let (ka, kb) = (into_array(ka), into_array(kb));
        if ka.len() != kb.len() {
            self.deny(
                "pages",
                format!(
                    "pages were added or removed (a page tree node had {} kids, now {})",
                    ka.len(),
                    kb.len()
                ),
            );
            return Ok(());
        }
        for (p, q) in ka.iter().zip(&kb) {
            let same_identity = match (p.as_reference(), q.as_reference()) {
                (Some(r1), Some(r2)) => r1 == r2,
                _ => true,
            };
            if !same_identity {
                self.deny("pages", "the pages were reordered or replaced".into());
                return Ok(());
            }
            self.page_tree(p, q, depth + 1)?;
        }
        for k in dict_keys(x, y) {
            if k == "Parent" && !same_parent(x, y) {
                self.deny(
                    "pages",
                    "a page tree node was moved under another node (/Parent)".into(),
                );
            }
            if k == "Kids" || k == "Parent" {
                continue;
            }
            self.same_or_deny(x, y, &k, "pages", "a page tree node")?;
        }
        Ok(())
    }

    fn page(&mut self, x: &Dictionary, y: &Dictionary) -> Res<()> {
        if self.repeated(x, y, "a page")? {
            return Ok(());
        }
        for k in dict_keys(x, y) {
            match &*k {
                "Parent" => {
                    if !same_parent(x, y) {
                        self.deny("pages", "a page was moved under another page tree node (/Parent): readers that inherit /Resources, /MediaBox or /Rotate through /Parent show it differently".into());
                    }
                }
                "Annots" => {
                    let a = x.get("Annots").cloned().unwrap_or(Object::Null);
                    let b = y.get("Annots").cloned().unwrap_or(Object::Null);
                    self.annots(&a, &b)?;
                }
                "Contents" => self.same_or_deny(x, y, &k, "page-content", "a page")?,
                "Resources" => self.same_or_deny(x, y, &k, "resources", "a page")?,
                _ => self.same_or_deny(x, y, &k, "page", "a page")?,
            }
        }
        Ok(())
    }

    fn annots(&mut self, a: &Object, b: &Object) -> Res<()> {
        self.walk(a, b);
        let x = self.resolve_rc(Side::Old, a)?;
        let y = self.resolve_rc(Side::New, b)?;
        let (x, y) = (x.as_array().unwrap_or(&[]), y.as_array().unwrap_or(&[]));
        let kept = self.ordered_merge(
            x,
            y,
            |s, n| s.new_annotation(n),
            |s, o, n| s.annotation(o, n),
        )?;
        if !kept {
            self.deny("annotation", "an annotation was removed from a page".into());
        }
        Ok(())
    }

    /// Walks an old and a new array of annotations or fields: every old element must still be
    /// there, in order (the same object, [`same_slot`]); new ones may follow or be interleaved.
    /// `added` is called for each new element and `kept` for each old element with its new
    /// version, in the order of the new array. Returns false, having stopped, when an old
    /// element is missing (removed or moved out of order).
    fn ordered_merge(
        &mut self,
        old: &[Object],
        new: &[Object],
        mut added: impl FnMut(&mut Self, &Object) -> Res<()>,
        mut kept: impl FnMut(&mut Self, &Object, &Object) -> Res<()>,
    ) -> Res<bool> {
        let mut j = 0;
        for o in old {
            let mut found = None;
            while j < new.len() {
                if same_slot(o, &new[j]) {
                    found = Some(j);
                    j += 1;
                    break;
                }
                added(self, &new[j])?;
                j += 1;
            }
            match found {
                Some(i) => kept(self, o, &new[i])?,
                None => return Ok(false),
            }
        }
        for n in &new[j..] {
            added(self, n)?;
        }
        Ok(true)
    }

    /// An annotation present in both revisions.
    fn annotation(&mut self, a: &Object, b: &Object) -> Res<()> {
        if self.unchanged_dict(a, b)? {
            return Ok(());
        }
        self.walk(a, b);
        let x = self.resolve(Side::Old, a)?;
        let y = self.resolve(Side::New, b)?;
        let (Some(x), Some(y)) = (dict_only(&x).cloned(), dict_only(&y).cloned()) else {
            self.deny(
                "annotation",
                "an annotation was replaced by something else".into(),
            );
            return Ok(());
        };
        if self.repeated(&x, &y, "an annotation")? {
            return Ok(());
        }
        let num = b.as_reference().map(|r| r.num);
        let subtype = x
            .get("Subtype")
            .and_then(Object::as_name)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        let widget = subtype == "Widget";
        let fillable = num.is_some_and(|n| self.fillable_widgets.contains(&n));
        for k in dict_keys(&x, &y) {
            let k = &*k;
            if k == "P" {
                continue;
            }
            if k == "Parent" {
                if !same_parent(&x, &y) {
                    self.deny("annotation", format!("a {subtype} annotation was moved to another parent (/Parent): readers draw a widget from its new field's value"));
                }
                continue;
            }
            let a = x.get(k).cloned().unwrap_or(Object::Null);
            let b = y.get(k).cloned().unwrap_or(Object::Null);
            if self.eq(&a, &b, 0)? {
                continue;
            }
            let filled = num.is_some_and(|n| self.filled_widgets.contains(&n));
            if widget && fillable && matches!(k, "AP" | "AS" | "V")
                || (k == "MK" && fillable && !filled)
            {
                // Judged with its field (form filling or signing). A form fill keeps the
                // widget's appearance characteristics (/MK: background, border) as signed.
                continue;
            }
            if widget
                && num.is_some_and(|n| self.field_objects.contains(&n))
                && matches!(k, "V" | "FT" | "T" | "Kids" | "Ff" | "DA" | "Lock" | "SV")
            {
                // A merged field/widget: field keys are judged in the field tree.
                continue;
            }
            if !widget
                && self.level == MdpLevel::Annotations
                && comment_subtype(&subtype)
                && comment_edit_key(k)
            {
                self.push(
                    true,
                    "annotation",
                    format!("a {subtype} annotation was edited (/{k})"),
                );
                continue;
            }
            self.deny(
                "annotation",
                format!(
                    "an existing {} annotation was changed (/{k})",
                    if subtype.is_empty() {
                        "unnamed"
                    } else {
                        &subtype
                    }
                ),
            );
        }
        Ok(())
    }

    fn new_annotation(&mut self, o: &Object) -> Res<()> {
        let d = self.resolve_rc(Side::New, o)?;
        let Some(d) = dict_only(&d) else {
            self.deny(
                "annotation",
                "something that is not an annotation was added to a page's /Annots".into(),
            );
            return Ok(());
        };
        if let Some(k) = repeated_key(d) {
            self.deny("structure", format!("a new annotation repeats the key /{k}, and readers differ on which value they show"));
            return Ok(());
        }
        let subtype = d
            .get("Subtype")
            .and_then(Object::as_name)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        if subtype == "Widget" {
            // Checked against the new signature fields once the field tree is compared.
            let num = o.as_reference().map(|r| r.num);
            self.pending_widgets.push((num, rect_visible(d)));
            return Ok(());
        }
        if self.level == MdpLevel::Annotations && comment_subtype(&subtype) && d.get("AP").is_some()
        {
            self.deny(
                "annotation",
                format!("a {subtype} annotation with an appearance of its own (/AP) was added: the appearance can paint anything over the signed content (evil annotation attack)"),
            );
        } else if self.level == MdpLevel::Annotations && comment_subtype(&subtype) {
            self.push(
                true,
                "annotation",
                format!("a {subtype} annotation (a comment) was added"),
            );
        } else if self.level == MdpLevel::Annotations {
            self.deny(
                "annotation",
                format!("a {subtype} annotation was added: it can cover or replace the signed content (evil annotation attack), and only comment annotations are accepted"),
            );
        } else {
            self.deny(
                "annotation",
                format!(
                    "a {subtype} annotation was added, which {} does not allow",
                    if self.certified {
                        format!("the certification level (P={})", self.level as u8)
                    } else {
                        "a signed document without certification".to_string()
                    }
                ),
            );
        }
        Ok(())
    }
}

impl<R: Read + Seek> Compare<'_, R> {
    // ------------------------------------------------------------ forms

    fn acroform(&mut self, a: &Object, b: &Object) -> Res<()> {
        let empty = Dictionary::new();
        let x = dict_only(a).unwrap_or(&empty);
        let y = match b {
            Object::Null => {
                if !matches!(a, Object::Null) {
                    self.deny(
                        "form",
                        "the interactive form (/AcroForm) was removed".into(),
                    );
                }
                return Ok(());
            }
            o => match dict_only(o) {
                Some(d) => d,
                None => {
                    self.deny(
                        "form",
                        "the interactive form (/AcroForm) is not a dictionary".into(),
                    );
                    return Ok(());
                }
            },
        };
        if self.repeated(x, y, "the interactive form")? {
            return Ok(());
        }
        for k in dict_keys(x, y) {
            match &*k {
                "Fields" => {
                    let a = x.get("Fields").cloned().unwrap_or(Object::Null);
                    let b = y.get("Fields").cloned().unwrap_or(Object::Null);
                    self.fields(&a, &b, "", None, 0)?;
                }
                "SigFlags" => {}
                "DR" => {
                    let a = x.get("DR").cloned().unwrap_or(Object::Null);
                    let b = y.get("DR").cloned().unwrap_or(Object::Null);
                    if !self.superset(&a, &b, 0)? {
                        self.deny(
                            "form",
                            "the form's default resources (/DR) were changed, not only extended"
                                .into(),
                        );
                    }
                }
                "NeedAppearances" => {
                    let b = y.get("NeedAppearances") == Some(&Object::Bool(true));
                    if b {
                        self.deny("form", "the form now asks readers to regenerate field appearances (/NeedAppearances), which can change what is shown".into());
                    }
                }
                _ => self.same_or_deny(x, y, &k, "form", "the interactive form")?,
            }
        }
        Ok(())
    }

    /// Whether `b` holds every entry of `a` unchanged (two levels of dictionaries), with maybe more.
    fn superset(&mut self, a: &Object, b: &Object, depth: usize) -> Res<bool> {
        let x = self.resolve(Side::Old, a)?;
        let y = self.resolve(Side::New, b)?;
        match (&x, &y) {
            (Object::Null, _) => Ok(true),
            (Object::Dictionary(x), Object::Dictionary(y)) if depth < 2 => {
                for (k, v) in x.iter() {
                    let key = String::from_utf8_lossy(k.as_bytes()).into_owned();
                    let w = y.get(&key).cloned().unwrap_or(Object::Null);
                    if !self.superset(v, &w, depth + 1)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            _ => self.eq(a, b, 0),
        }
    }

    fn fields(
        &mut self,
        a: &Object,
        b: &Object,
        prefix: &str,
        ft: Option<Vec<u8>>,
        depth: usize,
    ) -> Res<()> {
        self.walk(a, b);
        if depth > MAX_DEPTH {
            return Err(PdfError::TooLarge {
                obj: ObjRef::new(0),
                what: "the depth of the field tree",
                limit: MAX_DEPTH as u64,
            });
        }
        let x = self.resolve_rc(Side::Old, a)?;
        let y = self.resolve_rc(Side::New, b)?;
        let (x, y) = (x.as_array().unwrap_or(&[]), y.as_array().unwrap_or(&[]));
        let kept = self.ordered_merge(
            x,
            y,
            |s, n| s.new_field(n, prefix, ft.clone(), depth),
            |s, o, n| s.field(o, n, prefix, ft.clone(), depth),
        )?;
        if !kept {
            self.deny("form", "a form field was removed".into());
        }
        Ok(())
    }

    fn field(
        &mut self,
        a: &Object,
        b: &Object,
        prefix: &str,
        ft: Option<Vec<u8>>,
        depth: usize,
    ) -> Res<()> {
        if self.unchanged_dict(a, b)? {
            return Ok(());
        }
        self.walk(a, b);
        let x = self.resolve(Side::Old, a)?;
        let y = self.resolve(Side::New, b)?;
        let (Some(x), Some(y)) = (dict_only(&x).cloned(), dict_only(&y).cloned()) else {
            self.deny("form", "a form field was replaced by something else".into());
            return Ok(());
        };
        let name = qualified(prefix, &y);
        if self.repeated(&x, &y, &format!("field \"{name}\""))? {
            return Ok(());
        }
        let ft = y
            .get("FT")
            .and_then(Object::as_name)
            .map(<[u8]>::to_vec)
            .or(ft);
        let is_sig = ft.as_deref() == Some(b"Sig");
        let locked = self.constraints.locked(self.rev, &name);
        let widget_num = b.as_reference().map(|r| r.num);
        // What this revision may do to the field's value.
        let old_v = x.get("V").cloned().unwrap_or(Object::Null);
        let new_v = y.get("V").cloned().unwrap_or(Object::Null);
        let v_changed = !self.eq(&old_v, &new_v, 0)?;
        if v_changed {
            if is_sig {
                let old_empty = matches!(self.resolve(Side::Old, &old_v)?, Object::Null);
                let new_v_dict = self.resolve(Side::New, &new_v)?;
                if !old_empty {
                    self.deny(
                        "signature",
                        format!("the signature in field \"{name}\" was replaced or removed"),
                    );
                } else if locked {
                    self.deny(
                        "signature",
                        format!(
                            "field \"{name}\" was signed although an earlier signature locks it"
                        ),
                    );
                } else if self.level == MdpLevel::NoChanges && !is_doc_timestamp(&new_v_dict) {
                    self.deny("signature", format!("field \"{name}\" was signed although the certification (P=1) allows no change"));
                } else if !self.covers_this_revision(&new_v_dict) {
                    self.deny("signature", format!("field \"{name}\" was given a signature that does not cover the revision adding it (signature wrapping)"));
                } else {
                    self.push(
                        true,
                        "signature",
                        format!("the empty signature field \"{name}\" was signed"),
                    );
                    if let Some(n) = widget_num {
                        self.fillable_widgets.insert(n);
                    }
                    self.mark_kid_widgets(&y, Side::New)?;
                }
            } else if locked {
                self.deny(
                    "form-fill",
                    format!(
                        "field \"{name}\" was filled in although a signature locks it (FieldMDP)"
                    ),
                );
            } else if self.level == MdpLevel::NoChanges {
                self.deny("form-fill", format!("field \"{name}\" was filled in although the certification (P=1) allows no change"));
            } else {
                self.push(true, "form-fill", format!("field \"{name}\" was filled in"));
                if let Some(n) = widget_num {
                    self.fillable_widgets.insert(n);
                    self.filled_widgets.insert(n);
                }
                self.mark_kid_widgets(&y, Side::New)?;
                self.check_filled_widgets(&name, &x, &y)?;
            }
        }
        let fill_ok = v_changed && widget_num.is_some_and(|n| self.fillable_widgets.contains(&n));
        for k in dict_keys(&x, &y) {
            match &*k {
                "V" | "P" => {}
                "Parent" => {
                    if !same_parent(&x, &y) {
                        self.deny(
                            "form",
                            format!("field \"{name}\" was moved to another parent field (/Parent), from which it inherits its value"),
                        );
                    }
                }
                "Kids" => {
                    let a = x.get("Kids").cloned().unwrap_or(Object::Null);
                    let b = y.get("Kids").cloned().unwrap_or(Object::Null);
                    let kids_are_fields = self.kids_are_fields(&b)?;
                    if kids_are_fields {
                        self.fields(&a, &b, &name, ft.clone(), depth + 1)?;
                    } else {
                        self.same_or_deny(&x, &y, "Kids", "form", &format!("field \"{name}\""))?;
                    }
                }
                "AP" | "AS" if fill_ok => {}
                "MK" if fill_ok
                    && !widget_num.is_some_and(|n| self.filled_widgets.contains(&n)) => {}
                // Widget keys of a merged field/widget: judged with the page's annotations.
                "Rect" | "F" | "Border" | "BS" | "AP" | "AS" | "MK" | "Subtype" | "Type"
                    if y.has_name("Subtype", "Widget") =>
                {
                    if !self.eq(
                        &x.get(&k).cloned().unwrap_or(Object::Null),
                        &y.get(&k).cloned().unwrap_or(Object::Null),
                        0,
                    )? {
                        // Reported once, by the annotation comparison (the widget is on a page).
                        if !self.on_a_page(widget_num) {
                            self.deny(
                                "form",
                                format!("the widget of field \"{name}\" was changed (/{k})"),
                            );
                        }
                    }
                }
                _ => self.same_or_deny(&x, &y, &k, "form", &format!("field \"{name}\""))?,
            }
        }
        Ok(())
    }

    /// A form fill may change what its widgets show only as a form fill does: the value drawn
    /// as text inside the widget (decision 0033, the "hide" and "hide-and-replace" shadow
    /// attacks of Mainka et al., NDSS 2021, use form fields). For the field (when it is its own
    /// widget) and each widget among its `/Kids`, every appearance stream it may now show is
    /// checked by [`appearance_problem`]; a widget's `/MK` may not change (compared with the
    /// annotations), and painting is accepted only where the signed `/MK` already asked for a
    /// background or border.
    fn check_filled_widgets(&mut self, name: &str, x: &Dictionary, y: &Dictionary) -> Res<()> {
        let mut widgets: Vec<(Option<ObjRef>, Dictionary, Dictionary)> = Vec::new();
        if y.has_name("Subtype", "Widget") {
            widgets.push((None, x.clone(), y.clone()));
        }
        if let Some(k) = y.get("Kids") {
            let kids = self.resolve_rc(Side::New, k)?;
            for kid in kids.as_array().unwrap_or(&[]) {
                let Some(r) = kid.as_reference() else {
                    continue;
                };
                self.filled_widgets.insert(r.num);
                let new = self.resolve_rc(Side::New, kid)?;
                let Some(new) = dict_only(&new).filter(|d| d.get("T").is_none()) else {
                    continue;
                };
                let old = self.resolve_rc(Side::Old, kid)?;
                let old = dict_only(&old).cloned().unwrap_or_default();
                widgets.push((Some(r), old, new.clone()));
            }
        }
        for (r, old, new) in widgets {
            let boxed = match old.get("MK") {
                Some(mk) => match &*self.resolve_rc(Side::Old, mk)? {
                    Object::Dictionary(mk) => ["BG", "BC"].iter().any(|k| {
                        mk.get(k)
                            .and_then(Object::as_array)
                            .is_some_and(|a| !a.is_empty())
                    }),
                    _ => false,
                },
                None => false,
            };
            let Some(ap) = new.get("AP") else {
                continue;
            };
            let ap = self.resolve_rc(Side::New, ap)?;
            let mut streams = Vec::new();
            for (_, v) in ap.as_dict().map(Dictionary::iter).into_iter().flatten() {
                let v = self.resolve_rc(Side::New, v)?;
                match &*v {
                    Object::Stream(st) => streams.push(st.clone()),
                    Object::Dictionary(states) => {
                        for (_, sv) in states.iter() {
                            if let Object::Stream(st) = &*self.resolve_rc(Side::New, sv)? {
                                streams.push(st.clone());
                            }
                        }
                    }
                    _ => {}
                }
            }
            for st in streams {
                let data = self.reader.decode_stream(
                    r.unwrap_or(ObjRef::new(0)),
                    &st,
                    MAX_APPEARANCE_BYTES,
                );
                let problem = match data {
                    Ok(d) => appearance_problem(&d, boxed),
                    Err(e) => Some(format!("cannot be read ({e})")),
                };
                if let Some(p) = problem {
                    self.deny(
                        "form-fill",
                        format!("field \"{name}\" was filled in with an appearance that {p}: a form field can hide or replace signed content this way (shadow attack)"),
                    );
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    fn on_a_page(&self, num: Option<u32>) -> bool {
        num.is_some_and(|n| self.page_annots.contains(&n))
    }

    fn kids_are_fields(&mut self, kids: &Object) -> Res<bool> {
        let k = self.resolve(Side::New, kids)?;
        let Some(a) = k.as_array().map(<[Object]>::to_vec) else {
            return Ok(false);
        };
        for x in a {
            let d = self.resolve(Side::New, &x)?;
            if d.as_dict().is_some_and(|d| d.get("T").is_some()) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn mark_kid_widgets(&mut self, field: &Dictionary, side: Side) -> Res<()> {
        if let Some(k) = field.get("Kids") {
            if let Object::Array(a) = self.resolve(side, k)? {
                for x in a {
                    if let Some(r) = x.as_reference() {
                        self.fillable_widgets.insert(r.num);
                    }
                }
            }
        }
        Ok(())
    }

    fn new_field(
        &mut self,
        o: &Object,
        prefix: &str,
        ft: Option<Vec<u8>>,
        depth: usize,
    ) -> Res<()> {
        let d = self.resolve_rc(Side::New, o)?;
        let Some(d) = dict_only(&d) else {
            self.deny(
                "form",
                "something that is not a field was added to the form".into(),
            );
            return Ok(());
        };
        let name = qualified(prefix, d);
        if let Some(k) = repeated_key(d) {
            self.deny("structure", format!("a new field \"{name}\" repeats the key /{k}, and readers differ on which value they show"));
            return Ok(());
        }
        let ft = d
            .get("FT")
            .and_then(Object::as_name)
            .map(<[u8]>::to_vec)
            .or(ft);
        if ft.as_deref() != Some(b"Sig") {
            if let Some(k) = d.get("Kids") {
                if depth < MAX_DEPTH && self.kids_are_fields(k)? {
                    let kids = self.resolve(Side::New, k)?;
                    for kid in kids.as_array().map(<[Object]>::to_vec).unwrap_or_default() {
                        self.new_field(&kid, &name, ft.clone(), depth + 1)?;
                    }
                    return Ok(());
                }
            }
            self.deny("form", format!("a form field \"{name}\" was added (only signature fields may be added after signing)"));
            return Ok(());
        }
        let v = match d.get("V") {
            Some(v) => self.resolve_rc(Side::New, v)?,
            None => Rc::new(Object::Null),
        };
        let signed = !matches!(*v, Object::Null);
        if signed && !matches!(*v, Object::Dictionary(_)) {
            self.deny("signature", format!("a signature field \"{name}\" was added whose value is not a signature dictionary, so it is no signature anyone can check"));
            return Ok(());
        }
        let dts = is_doc_timestamp(&v);
        let mut widgets = Vec::new();
        let mut visible = false;
        if let Some(r) = o.as_reference() {
            widgets.push(r.num);
        }
        if d.has_name("Subtype", "Widget") {
            visible |= rect_visible(d);
        }
        if let Some(k) = d.get("Kids") {
            if let Object::Array(a) = self.resolve(Side::New, k)? {
                for x in a {
                    if let Some(r) = x.as_reference() {
                        widgets.push(r.num);
                    }
                    if let Some(w) = self.resolve(Side::New, &x)?.as_dict() {
                        visible |= rect_visible(w);
                    }
                }
            }
        }
        if signed && !self.covers_this_revision(&v) {
            self.deny("signature", format!("a signature field \"{name}\" was added whose signature does not cover the revision adding it (signature wrapping)"));
        } else if self.level == MdpLevel::NoChanges && (visible || !dts) {
            self.deny("signature", format!("a signature field \"{name}\" was added although the certification (P=1) allows no change"));
        } else if self.constraints.locked(self.rev, &name) && signed {
            self.deny(
                "signature",
                format!(
                    "a signature field \"{name}\" was added although an earlier signature locks it"
                ),
            );
        } else if visible && !signed {
            self.deny("signature", format!("an empty, visible signature field \"{name}\" was added: its appearance can show content that was not signed (sneaky signature attack)"));
        } else {
            let what = match (dts, signed) {
                (true, _) => "a document time-stamp was added",
                (false, true) => "a signature was added",
                (false, false) => "an empty, invisible signature field was added",
            };
            self.push(
                true,
                if dts {
                    "document-timestamp"
                } else {
                    "signature"
                },
                format!("{what} (field \"{name}\")"),
            );
        }
        self.new_sig_fields.push(NewSigField { widgets });
        Ok(())
    }

    /// Whether a signature dictionary's `/ByteRange` ends where this revision ends.
    fn covers_this_revision(&mut self, v: &Object) -> bool {
        // Only a dictionary is a signature the verifier lists and checks (a stream is not).
        let Object::Dictionary(d) = v else {
            return false;
        };
        let br: Vec<i64> = d
            .get("ByteRange")
            .and_then(Object::as_array)
            .map(|a| a.iter().filter_map(Object::as_i64).collect())
            .unwrap_or_default();
        let [0, _, c, l] = br.as_slice() else {
            return false;
        };
        let Some(end) = c.checked_add(*l).and_then(|e| u64::try_from(e).ok()) else {
            return false;
        };
        let rev_end = self.reader.revisions()[self.rev].end;
        end == rev_end
            || (end > rev_end.saturating_sub(3)
                && end <= rev_end
                && self
                    .reader
                    .read_at(end, (rev_end - end) as usize)
                    .is_ok_and(|b| b.iter().all(|c| matches!(c, b'\r' | b'\n'))))
            || (end > rev_end
                && end <= rev_end + 2
                && self
                    .reader
                    .read_at(rev_end, (end - rev_end) as usize)
                    .is_ok_and(|b| b.iter().all(|c| matches!(c, b'\r' | b'\n'))))
    }

    /// New widgets on pages must belong to a signature field added in this revision (or to a
    /// field being filled).
    fn check_new_signature_widgets(&mut self) {
        let pending = std::mem::take(&mut self.pending_widgets);
        for (num, visible) in pending {
            // A visible widget of an unsigned new field was denied with the field.
            let owned =
                num.is_some_and(|n| self.new_sig_fields.iter().any(|f| f.widgets.contains(&n)));
            if !owned {
                self.deny(
                    "annotation",
                    format!(
                        "a {} widget annotation was added to a page without a new signature field for it",
                        if visible { "visible" } else { "hidden" }
                    ),
                );
            }
        }
    }
}

/// Largest decoded appearance stream of a filled form field that is inspected.
const MAX_APPEARANCE_BYTES: usize = 1 << 20;

/// Why an appearance stream drawn for a filled form field is more than the field's value as
/// text (decision 0033), if it is. Accepted: text objects and text state, colours, the graphics
/// state stack, line width, marked content, and clipping paths (`re`/`W`/`n`: text clipped to
/// the box, as viewers write it). Painting a path (fill, stroke, shading) is accepted only when
/// the signed widget asked for a background or border (`boxed`, from its `/MK`); images,
/// XObjects (`Do`), inline images and anything unknown never are.
fn appearance_problem(content: &[u8], boxed: bool) -> Option<String> {
    use crate::pdf::lexer::{Lexer, Token};
    let mut lx = Lexer::new(content, true);
    let mut ops = 0usize;
    loop {
        let tok = match lx.next_token() {
            Ok(Some(t)) => t,
            Ok(None) => return None,
            Err(_) => return Some("cannot be parsed".into()),
        };
        let Token::Keyword(op) = tok else {
            continue;
        };
        ops += 1;
        if ops > 100_000 {
            return Some("has too many operators to be checked".into());
        }
        match op {
            b"BT" | b"ET" | b"Tf" | b"Td" | b"TD" | b"Tm" | b"T*" | b"Tj" | b"TJ" | b"'" | b"\""
            | b"Tc" | b"Tw" | b"Tz" | b"TL" | b"Tr" | b"Ts" | b"q" | b"Q" | b"g" | b"G"
            | b"rg" | b"RG" | b"k" | b"K" | b"cs" | b"CS" | b"sc" | b"SC" | b"scn" | b"SCN"
            | b"w" | b"J" | b"j" | b"M" | b"d" | b"ri" | b"i" | b"BMC" | b"BDC" | b"EMC"
            | b"MP" | b"DP" | b"re" | b"m" | b"l" | b"c" | b"v" | b"y" | b"h" | b"W" | b"W*"
            | b"n" | b"cm" | b"true" | b"false" | b"null" => {}
            b"f" | b"F" | b"f*" | b"B" | b"B*" | b"b" | b"b*" | b"S" | b"s" if boxed => {}
            b"f" | b"F" | b"f*" | b"B" | b"B*" | b"b" | b"b*" | b"S" | b"s" => {
                return Some("paints shapes (an opaque area can cover what was signed), and the signed field had no background or border".into())
            }
            b"Do" => return Some("draws an image or another form (Do)".into()),
            b"BI" | b"ID" | b"EI" => return Some("draws an inline image".into()),
            b"sh" => return Some("paints a shading".into()),
            b"gs" => return Some("sets a graphics state dictionary (gs: blending, soft masks)".into()),
            other => {
                return Some(format!(
                    "uses the operator {}",
                    String::from_utf8_lossy(other)
                ))
            }
        }
    }
}

/// Collects the references a value holds; false when it is nested too deep to follow.
fn collect_refs(o: &Object, out: &mut Vec<ObjRef>, depth: usize) -> bool {
    if depth > 256 {
        return false;
    }
    match o {
        Object::Reference(r) => {
            out.push(*r);
            true
        }
        Object::Array(a) => a.iter().all(|x| collect_refs(x, out, depth + 1)),
        Object::Dictionary(d) => d.iter().all(|(_, x)| collect_refs(x, out, depth + 1)),
        Object::Stream(st) => st.dict.iter().all(|(_, x)| collect_refs(x, out, depth + 1)),
        _ => true,
    }
}

/// A key a dictionary gives twice, if any (a malformed or hostile file: readers differ on
/// which value they use).
fn repeated_key(d: &Dictionary) -> Option<String> {
    let keys: Vec<&[u8]> = d.iter().map(|(k, _)| k.as_bytes()).collect();
    let found = if keys.len() <= 32 {
        // Most dictionaries are small: no set to build.
        (1..keys.len()).find(|&i| keys[..i].contains(&keys[i]))
    } else {
        let mut seen = HashSet::new();
        (0..keys.len()).find(|&i| !seen.insert(keys[i]))
    };
    found.map(|i| String::from_utf8_lossy(keys[i]).into_owned())
}

/// The elements of an array, or none for anything else.
fn into_array(o: Object) -> Vec<Object> {
    match o {
        Object::Array(a) => a,
        _ => Vec::new(),
    }
}

fn is_leaf(d: &Dictionary) -> bool {
    d.get("Kids").is_none() || d.has_name("Type", "Page")
}

/// A dictionary, not a stream (a structure that is a stream hides data from a key-by-key
/// comparison).
fn dict_only(o: &Object) -> Option<&Dictionary> {
    match o {
        Object::Dictionary(d) => Some(d),
        _ => None,
    }
}

fn dict_keys<'a>(x: &'a Dictionary, y: &'a Dictionary) -> Vec<std::borrow::Cow<'a, str>> {
    // Borrowed, not copied: names are almost always ASCII.
    let mut keys: Vec<std::borrow::Cow<'a, str>> = x
        .iter()
        .chain(y.iter())
        .map(|(k, _)| String::from_utf8_lossy(k.as_bytes()))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// Whether two array elements are the same annotation or field: the same object number, or
/// (for direct dictionaries) positionally the same.
fn same_slot(a: &Object, b: &Object) -> bool {
    match (a.as_reference(), b.as_reference()) {
        (Some(x), Some(y)) => x == y,
        (None, None) => true,
        _ => false,
    }
}

fn qualified(prefix: &str, d: &Dictionary) -> String {
    let t = d
        .get("T")
        .and_then(Object::as_string)
        .map(|s| s.to_text())
        .unwrap_or_default();
    match (prefix.is_empty(), t.is_empty()) {
        (true, _) => t,
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}.{t}"),
    }
}

fn is_doc_timestamp(v: &Object) -> bool {
    v.as_dict().is_some_and(|d| {
        d.has_name("Type", "DocTimeStamp") || d.has_name("SubFilter", "ETSI.RFC3161")
    })
}

/// Comment annotations that draw no content over the page's own: a note icon, its popup, and
/// text markup (ISO 32000-2 §12.5.6.2, §12.5.6.10, §12.5.6.14).
fn comment_subtype(s: &str) -> bool {
    matches!(
        s,
        "Text" | "Popup" | "Highlight" | "Underline" | "Squiggly" | "StrikeOut"
    )
}

/// What editing a comment annotation may change at P=3: its text, author, dates, colour and
/// popup state, never what or where it draws (`/AP`, `/AS`, `/Rect`, `/QuadPoints`, `/F`,
/// opacity), or a comment hidden when signing could be shown with other content.
fn comment_edit_key(k: &str) -> bool {
    matches!(
        k,
        "Contents"
            | "T"
            | "M"
            | "CreationDate"
            | "Subj"
            | "RC"
            | "NM"
            | "Open"
            | "Popup"
            | "IRT"
            | "RT"
            | "State"
            | "StateModel"
            | "C"
    )
}

/// Whether two versions of a page, field or annotation name the same parent object (readers
/// inherit attributes and values through `/Parent`, so a new parent is a new value).
fn same_parent(x: &Dictionary, y: &Dictionary) -> bool {
    match (x.get("Parent"), y.get("Parent")) {
        (None, None) => true,
        (Some(a), Some(b)) => match (a.as_reference(), b.as_reference()) {
            (Some(p), Some(q)) => p == q,
            _ => a == b,
        },
        _ => false,
    }
}

/// Whether a widget is shown: a non-empty rectangle and not hidden (/F bits 1 and 2).
fn rect_visible(d: &Dictionary) -> bool {
    let flags = d.get("F").and_then(Object::as_i64).unwrap_or(0);
    if flags & 0b10 != 0 {
        return false;
    }
    let r: Vec<f64> = d
        .get("Rect")
        .and_then(Object::as_array)
        .map(|a| a.iter().filter_map(Object::as_f64).collect())
        .unwrap_or_default();
    match r.as_slice() {
        [a, b, c, e] => (c - a).abs() > 0.0 && (e - b).abs() > 0.0,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_locks_follow_names_and_inheritance() {
        let inc = FieldLock::Include(vec!["a.b".into()]);
        assert!(inc.locks("a.b"));
        assert!(inc.locks("a.b.c"), "a kid of a locked field");
        assert!(
            inc.locks("a"),
            "a parent passes its value to the locked kid"
        );
        assert!(!inc.locks("a.c"));
        assert!(!inc.locks("ab"));
        let exc = FieldLock::Exclude(vec!["free".into()]);
        assert!(!exc.locks("free"));
        assert!(exc.locks("other"));
        assert!(FieldLock::All.locks("x"));
    }

    #[test]
    fn docmdp_levels_and_the_strictest_wins() {
        assert_eq!(MdpLevel::from_p(Some(1)), MdpLevel::NoChanges);
        assert_eq!(MdpLevel::from_p(None), MdpLevel::FormFilling);
        assert_eq!(MdpLevel::from_p(Some(7)), MdpLevel::FormFilling);
        let c = Constraints {
            mdp: vec![(0, MdpLevel::Annotations), (2, MdpLevel::NoChanges)],
            locks: Vec::new(),
        };
        assert_eq!(c.level_for(0), (MdpLevel::FormFilling, false));
        assert_eq!(c.level_for(1), (MdpLevel::Annotations, true));
        assert_eq!(c.level_for(3), (MdpLevel::NoChanges, true));
    }

    #[test]
    fn comment_annotations_and_visibility() {
        assert!(comment_subtype("Text"));
        assert!(!comment_subtype("FreeText"));
        let mut d = Dictionary::new();
        d.set(
            "Rect",
            Object::Array(vec![0i64.into(), 0i64.into(), 10i64.into(), 10i64.into()]),
        );
        assert!(rect_visible(&d));
        d.set("F", 2i64);
        assert!(!rect_visible(&d), "hidden flag");
        d.set("F", 4i64);
        d.set(
            "Rect",
            Object::Array(vec![5i64.into(), 5i64.into(), 5i64.into(), 5i64.into()]),
        );
        assert!(!rect_visible(&d), "zero area");
    }
}
