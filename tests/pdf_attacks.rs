//! The published attacks on PDF signatures, one test per class, each with a file the test builds
//! from a document we sign: universal signature forgery, incremental saving, signature
//! wrapping, shadow attacks (hide, replace, hide-and-replace), evil annotation and sneaky
//! signature attacks on certified documents, duplicate object numbers. Each must be reported
//! as not valid, with the indication decision 0012 gives; the allowed updates (a second
//! signature, a document time-stamp, DSS, form filling) must not be.
//!
//! References: Mladenov et al., "1 Trillion Dollar Refund" (CCS 2019: USF, ISA, SWA); Mainka et
//! al., "Shadow Attacks" (NDSS 2021); Mainka et al., "Breaking the Specification: PDF
//! Certification" (IEEE S&P 2021: EAA, SSA).
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should panic with its message"
)]

use interop_tests::pdf::{append, fixture, reader, sign, try_verify};
use pki_core::cert::parse_certificates;
use pki_core::pades;
use pki_core::pades::changes::{self, Constraints, MdpLevel};
use pki_core::pdf::writer::IncrementalUpdate;
use pki_core::pdf::{Dictionary, ObjRef, Object, PdfReader, PdfString, Stream, StreamData};
use pki_core::report::{Indication, Report, SignatureReport};
use std::io::Cursor;

/// The sample document, with a dormant object 6 (a content stream nothing uses) so that the
/// shadow attacks have something prepared in the signed revision.
fn document() -> Vec<u8> {
    let base = pki_core::pdf::sample::one_page(&["Cong van so 1", "So tien: 1.000.000 dong"]);
    let mut r = reader(&base);
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    let dormant = b"BT /F1 12 Tf 72 770 Td (So tien: 9.000.000 dong) Tj ET".to_vec();
    let mut d = Dictionary::new();
    d.set("Length", dormant.len() as i64);
    u.add(Stream {
        dict: d,
        data: StreamData::Bytes(dormant),
    });
    append(&base, &u)
}

fn verify(bytes: &[u8]) -> Report {
    try_verify(bytes).unwrap()
}

fn first(r: &Report) -> &SignatureReport {
    &r.signatures[0]
}

fn assert_failed(r: &Report, sub: &str, what: &str) {
    let s = first(r);
    assert_eq!(
        s.indication,
        Indication::TotalFailed,
        "{what}: {}",
        r.to_json()
    );
    assert_eq!(
        s.sub_indication.as_deref(),
        Some(sub),
        "{what}: {}",
        r.to_json()
    );
    assert_eq!(r.indication, Indication::TotalFailed, "{what}");
}

/// The `/ByteRange` of the first signature.
fn byte_range(bytes: &[u8]) -> Vec<i64> {
    let mut r = reader(bytes);
    let (_, cat) = catalog(&mut r);
    let af = r.resolve(cat.get("AcroForm").unwrap()).unwrap();
    let fields = r
        .resolve(af.as_dict().unwrap().get("Fields").unwrap())
        .unwrap();
    let field = r.resolve(&fields.as_array().unwrap()[0]).unwrap();
    let v = r
        .resolve(field.as_dict().unwrap().get("V").unwrap())
        .unwrap();
    v.as_dict()
        .unwrap()
        .get("ByteRange")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

fn catalog(r: &mut PdfReader<Cursor<Vec<u8>>>) -> (ObjRef, Dictionary) {
    r.catalog().unwrap()
}

fn page(r: &mut PdfReader<Cursor<Vec<u8>>>) -> (ObjRef, Dictionary) {
    r.page(0).unwrap()
}

fn content_stream(text: &str) -> Stream {
    let data = format!("BT /F1 12 Tf 72 700 Td ({text}) Tj ET").into_bytes();
    let mut d = Dictionary::new();
    d.set("Length", data.len() as i64);
    Stream {
        dict: d,
        data: StreamData::Bytes(data),
    }
}

fn rect(a: [i64; 4]) -> Object {
    Object::Array(a.iter().map(|x| Object::Integer(*x)).collect())
}

/// Adds an annotation of `subtype` over the text to page 1.
fn add_annotation(bytes: &[u8], subtype: &str) -> Vec<u8> {
    let mut r = reader(bytes);
    let (pref, mut p) = page(&mut r);
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    let ap = u.add(content_stream("So tien: 9.000.000 dong"));
    let mut apd = Dictionary::new();
    apd.set("N", ap);
    let mut a = Dictionary::new();
    a.set("Type", Object::name("Annot"));
    a.set("Subtype", Object::name(subtype));
    a.set("Rect", rect([60, 740, 400, 790]));
    a.set("Contents", PdfString::from_text("9.000.000"));
    a.set("AP", apd);
    a.set("P", pref);
    let ar = u.add(a);
    let mut annots = match p.get("Annots") {
        Some(Object::Array(v)) => v.clone(),
        Some(o @ Object::Reference(_)) => r.resolve(o).unwrap().as_array().unwrap().to_vec(),
        _ => Vec::new(),
    };
    annots.push(Object::Reference(ar));
    p.set("Annots", Object::Array(annots));
    u.replace(pref, p);
    append(bytes, &u)
}

#[test]
fn a_signed_document_and_a_second_signature_pass() {
    let one = sign(&document(), "officer-rsa");
    let r = verify(&one);
    assert_eq!(
        first(&r).indication,
        Indication::TotalPassed,
        "{}",
        r.to_json()
    );
    assert!(first(&r).covers_whole_document);
    let two = sign(&one, "agency");
    let r = verify(&two);
    assert_eq!(r.signatures.len(), 2);
    assert_eq!(r.indication, Indication::TotalPassed, "{}", r.to_json());
    let s = first(&r);
    assert!(!s.covers_whole_document);
    assert!(
        s.modifications
            .iter()
            .any(|m| m.allowed && m.kind == "signature"),
        "{}",
        r.to_json()
    );
    assert!(s.modifications.iter().all(|m| m.allowed));
}

#[test]
fn universal_signature_forgery_is_a_format_failure() {
    // Signature dictionaries without usable /Contents or /ByteRange, added to an unsigned
    // document as if they were signatures (USF variants 1-6 of the CCS 2019 paper).
    let variants: Vec<(&str, Dictionary)> = {
        let base = |br: Option<Object>, contents: Option<Object>| {
            let mut d = Dictionary::new();
            d.set("Type", Object::name("Sig"));
            d.set("Filter", Object::name("Adobe.PPKLite"));
            d.set("SubFilter", Object::name("ETSI.CAdES.detached"));
            if let Some(b) = br {
                d.set("ByteRange", b);
            }
            if let Some(c) = contents {
                d.set("Contents", c);
            }
            d
        };
        let zeros = Object::String(PdfString(vec![0; 64]));
        vec![
            ("no /Contents", base(Some(rect([0, 10, 20, 30])), None)),
            (
                "null /Contents",
                base(Some(rect([0, 10, 20, 30])), Some(Object::Null)),
            ),
            (
                "empty /Contents",
                base(
                    Some(rect([0, 10, 20, 30])),
                    Some(Object::String(PdfString(vec![]))),
                ),
            ),
            ("no /ByteRange", base(None, Some(zeros.clone()))),
            (
                "null /ByteRange",
                base(Some(Object::Null), Some(zeros.clone())),
            ),
            (
                "[0 0 0 0] /ByteRange",
                base(Some(rect([0, 0, 0, 0])), Some(zeros.clone())),
            ),
            (
                "negative /ByteRange",
                base(Some(rect([0, -1, 5, -10])), Some(zeros.clone())),
            ),
        ]
    };
    let doc = document();
    for (what, sig) in variants {
        let mut r = reader(&doc);
        let (cref, mut cat) = catalog(&mut r);
        let (pref, mut p) = page(&mut r);
        let mut u = IncrementalUpdate::new(&mut r).unwrap();
        let v = u.add(sig);
        let mut f = Dictionary::new();
        f.set("FT", Object::name("Sig"));
        f.set("T", PdfString::from_text("Forged"));
        f.set("V", v);
        f.set("Type", Object::name("Annot"));
        f.set("Subtype", Object::name("Widget"));
        f.set("Rect", rect([0, 0, 0, 0]));
        f.set("P", pref);
        let fr = u.add(f);
        let mut af = Dictionary::new();
        af.set("Fields", Object::Array(vec![Object::Reference(fr)]));
        af.set("SigFlags", 3i64);
        cat.set("AcroForm", af);
        u.replace(cref, cat);
        p.set("Annots", Object::Array(vec![Object::Reference(fr)]));
        u.replace(pref, p);
        let forged = append(&doc, &u);
        let rep = verify(&forged);
        assert_failed(&rep, "FORMAT_FAILURE", what);
    }
    // A null CMS in a placeholder that is otherwise perfect.
    let signed = sign(&document(), "officer-rsa");
    let br = byte_range(&signed);
    let (start, end) = (br[1] as usize + 1, br[2] as usize - 1);
    let mut nulled = signed.clone();
    nulled[start..end].fill(b'0');
    assert_failed(&verify(&nulled), "FORMAT_FAILURE", "a CMS of zeros");
}

#[test]
fn a_byte_flipped_in_the_signed_range_is_a_hash_failure() {
    let mut signed = sign(&document(), "officer-rsa");
    let text = String::from_utf8_lossy(&signed).into_owned();
    let at = text.find("So tien").unwrap();
    signed[at] = b's';
    assert_failed(&verify(&signed), "HASH_FAILURE", "a flipped byte");
}

#[test]
fn incremental_saving_attacks_are_caught() {
    let signed = sign(&document(), "officer-rsa");
    // ISA 1: a normal incremental update that replaces the page content.
    let mut r = reader(&signed);
    let (pref, mut p) = page(&mut r);
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    let c = u.add(content_stream("So tien: 9.000.000 dong"));
    p.set("Contents", c);
    u.replace(pref, p);
    let attacked = append(&signed, &u);
    let rep = verify(&attacked);
    assert_failed(&rep, "FORMAT_FAILURE", "new page content");
    assert!(
        first(&rep)
            .modifications
            .iter()
            .any(|m| !m.allowed && m.kind == "page-content"),
        "{}",
        rep.to_json()
    );
    // ISA 2: the same content object redefined (same number) in an update.
    let mut r = reader(&signed);
    let (_, p) = page(&mut r);
    let cref = p.get("Contents").unwrap().as_reference().unwrap();
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    u.replace(cref, content_stream("So tien: 9.000.000 dong"));
    assert_failed(
        &verify(&append(&signed, &u)),
        "FORMAT_FAILURE",
        "the content stream redefined",
    );
    // ISA 3: objects appended after %%EOF with no cross-reference section (readers that scan
    // the file would use them).
    let mut raw = signed.clone();
    raw.extend_from_slice(
        b"4 0 obj\n<</Length 44>>stream\nBT /F1 12 Tf 72 700 Td (9.000.000) Tj ET\nendstream\nendobj\n",
    );
    let rep = verify(&raw);
    assert_failed(&rep, "FORMAT_FAILURE", "objects after %%EOF");
    // ISA 4: a page added.
    let mut r = reader(&signed);
    let (cref, cat) = catalog(&mut r);
    let pages = cat.get("Pages").unwrap().as_reference().unwrap();
    let mut tree = r.get(pages).unwrap().as_dict().unwrap().clone();
    let (_, p1) = page(&mut r);
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    let mut p2 = p1.clone();
    p2.set("Contents", u.add(content_stream("Phu luc")));
    let p2r = u.add(p2);
    let mut kids = tree.get("Kids").unwrap().as_array().unwrap().to_vec();
    kids.push(Object::Reference(p2r));
    tree.set("Kids", Object::Array(kids));
    tree.set("Count", 2i64);
    u.replace(pages, tree);
    let _ = cref;
    let rep = verify(&append(&signed, &u));
    assert_failed(&rep, "FORMAT_FAILURE", "a page added");
}

#[test]
fn signature_wrapping_is_caught() {
    let signed = sign(&document(), "officer-rsa");
    let mut r = reader(&signed);
    let (_, cat) = catalog(&mut r);
    let af = r.resolve(cat.get("AcroForm").unwrap()).unwrap();
    let fields = r
        .resolve(af.as_dict().unwrap().get("Fields").unwrap())
        .unwrap();
    let field = r.resolve(&fields.as_array().unwrap()[0]).unwrap();
    let vref = field
        .as_dict()
        .unwrap()
        .get("V")
        .unwrap()
        .as_reference()
        .unwrap();
    let sig = r.get(vref).unwrap().as_dict().unwrap().clone();
    let br: Vec<i64> = sig
        .get("ByteRange")
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    // SWA: the signature dictionary redefined with a /ByteRange whose second range moves to
    // the new revision while its gap hides the original one.
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    let mut moved = sig.clone();
    let len = signed.len() as i64;
    moved.set("ByteRange", rect([0, br[1], len + 100, br[3]]));
    u.replace(vref, moved);
    let rep = verify(&append(&signed, &u));
    assert_failed(&rep, "FORMAT_FAILURE", "a moved /ByteRange");
    // The same dictionary (same /ByteRange and /Contents) defined again in a later revision:
    // the signature is unchanged, but its dictionary is no longer the one that was signed.
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    let mut again = sig.clone();
    again.set("Reason", PdfString::from_text("Dong y chi 9.000.000 dong"));
    u.replace(vref, again);
    let rep = verify(&append(&signed, &u));
    assert_failed(&rep, "FORMAT_FAILURE", "the signature dictionary redefined");
}

#[test]
fn shadow_attacks_hide_replace_and_hide_and_replace_are_caught() {
    let signed = sign(&document(), "officer-rsa");
    // Hide-and-replace: the dormant content object 6 (signed, unused) is made the page content.
    let mut r = reader(&signed);
    let (pref, mut p) = page(&mut r);
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    p.set("Contents", ObjRef::new(6));
    u.replace(pref, p);
    let rep = verify(&append(&signed, &u));
    assert_failed(&rep, "FORMAT_FAILURE", "dormant content activated");
    // Replace: the font is redefined, so the same content shows other glyphs.
    let mut r = reader(&signed);
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    let mut font = Dictionary::new();
    font.set("Type", Object::name("Font"));
    font.set("Subtype", Object::name("Type1"));
    font.set("BaseFont", Object::name("Courier"));
    u.replace(ObjRef::new(5), font);
    let rep = verify(&append(&signed, &u));
    assert_failed(&rep, "FORMAT_FAILURE", "font replaced");
    assert!(first(&rep)
        .modifications
        .iter()
        .any(|m| !m.allowed && m.kind == "resources"));
    // Replace, disguised: the font is redefined in the same revision as a new (allowed,
    // invisible) signature field that lists the font object among its kids.
    let mut r = reader(&signed);
    let (cref, mut cat) = catalog(&mut r);
    let mut af = r
        .resolve(cat.get("AcroForm").unwrap())
        .unwrap()
        .as_dict()
        .unwrap()
        .clone();
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    let mut font = Dictionary::new();
    font.set("Type", Object::name("Font"));
    font.set("Subtype", Object::name("Type1"));
    font.set("BaseFont", Object::name("Courier"));
    font.set("Rect", rect([0, 0, 0, 0]));
    u.replace(ObjRef::new(5), font);
    let mut f = Dictionary::new();
    f.set("FT", Object::name("Sig"));
    f.set("T", PdfString::from_text("Empty"));
    f.set(
        "Kids",
        Object::Array(vec![Object::Reference(ObjRef::new(5))]),
    );
    let fr = u.add(f);
    let mut fields = r
        .resolve(af.get("Fields").unwrap())
        .unwrap()
        .as_array()
        .unwrap()
        .to_vec();
    fields.push(Object::Reference(fr));
    af.set("Fields", Object::Array(fields));
    cat.set("AcroForm", af);
    u.replace(cref, cat);
    let rep = verify(&append(&signed, &u));
    assert_failed(&rep, "FORMAT_FAILURE", "font replaced behind a new field");
    // Hide: the overlay covering content at signing is an annotation, removed later.
    let with_overlay = add_annotation(&document(), "Square");
    let signed = sign(&with_overlay, "officer-rsa");
    let mut r = reader(&signed);
    let (pref, mut p) = page(&mut r);
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    p.set("Annots", Object::Array(vec![]));
    let _ = p.remove("Annots");
    u.replace(pref, p);
    let rep = verify(&append(&signed, &u));
    assert_failed(&rep, "FORMAT_FAILURE", "overlay removed");
    // Hide via a rerouted startxref: a cross-reference section hidden in the signed bytes
    // (unused when signing), chained to the signer's section, is made live by appending only
    // a new startxref. The signed revision then is not what the signer saw.
    let doc = document();
    let mut r = reader(&doc);
    let (_, mut p) = page(&mut r);
    let prev = r.sections()[0].offset;
    p.set("Contents", ObjRef::new(6));
    let build = |signer_xref: u64| -> (Vec<u8>, usize) {
        let mut d = doc.clone();
        let obj_at = d.len();
        d.extend(
            format!(
                "3 0 obj\n{}\nendobj\n",
                String::from_utf8_lossy(&Object::Dictionary(p.clone()).to_bytes())
            )
            .as_bytes(),
        );
        let hidden_at = d.len();
        d.extend(
            format!(
                "xref\n3 1\n{obj_at:010} 00000 n \ntrailer\n<</Size 7/Root 1 0 R/Prev {signer_xref:010}>>\n%%EOF\n"
            )
            .as_bytes(),
        );
        let x = d.len();
        d.extend(
            format!(
                "xref\n0 1\n0000000000 65535 f \ntrailer\n<</Size 7/Root 1 0 R/Prev {prev}>>\nstartxref\n{x}\n%%EOF\n"
            )
            .as_bytes(),
        );
        (d, hidden_at)
    };
    let startxref = |b: &[u8]| -> u64 {
        let t = String::from_utf8_lossy(b).into_owned();
        let at = t.rfind("startxref").unwrap() + 9;
        t[at..].split_whitespace().next().unwrap().parse().unwrap()
    };
    let (draft, _) = build(0);
    let x2 = startxref(&sign(&draft, "officer-rsa"));
    let (prepared, hidden_at) = build(x2);
    let signed = sign(&prepared, "officer-rsa");
    assert_eq!(
        startxref(&signed),
        x2,
        "the signer's layout is deterministic"
    );
    assert_eq!(first(&verify(&signed)).indication, Indication::TotalPassed);
    let mut rerouted = signed.clone();
    rerouted.extend(format!("startxref\n{hidden_at}\n%%EOF\n").as_bytes());
    let rep = verify(&rerouted);
    assert_failed(&rep, "FORMAT_FAILURE", "a rerouted startxref");
}

#[test]
fn duplicate_object_numbers_in_one_section_fail_the_signature() {
    // The signed revision's section defines object 4 twice: which content is shown depends on
    // the reader.
    let doc = document();
    let mut r = reader(&doc);
    let prev = r.sections()[0].offset;
    let (_, p) = page(&mut r);
    let cref = p.get("Contents").unwrap().as_reference().unwrap();
    let mut dup = doc.clone();
    let a = dup.len();
    dup.extend(format!("{} 0 obj\n<</Length 44>>stream\nBT /F1 12 Tf 72 700 Td (1.000.000) Tj ET\nendstream\nendobj\n", cref.num).as_bytes());
    let b = dup.len();
    dup.extend(format!("{} 0 obj\n<</Length 44>>stream\nBT /F1 12 Tf 72 700 Td (9.000.000) Tj ET\nendstream\nendobj\n", cref.num).as_bytes());
    let x = dup.len();
    dup.extend(
        format!(
            "xref\n{n} 1\n{a:010} 00000 n \n{n} 1\n{b:010} 00000 n \ntrailer\n<</Size 7/Root 1 0 R/Prev {prev}>>\nstartxref\n{x}\n%%EOF\n",
            n = cref.num
        )
        .as_bytes(),
    );
    let signed = sign(&dup, "officer-rsa");
    let rep = verify(&signed);
    assert_failed(&rep, "FORMAT_FAILURE", "duplicate object numbers");
    assert!(
        first(&rep).errors.iter().any(|e| e.contains("twice")),
        "{}",
        rep.to_json()
    );
}

/// A one-page document with a text field "so_tien", to fill in later.
fn form_document() -> Vec<u8> {
    let doc = document();
    let mut r = reader(&doc);
    let (cref, mut cat) = catalog(&mut r);
    let (pref, mut p) = page(&mut r);
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    let mut f = Dictionary::new();
    f.set("FT", Object::name("Tx"));
    f.set("T", PdfString::from_text("so_tien"));
    f.set("Type", Object::name("Annot"));
    f.set("Subtype", Object::name("Widget"));
    f.set("Rect", rect([300, 600, 500, 620]));
    f.set("P", pref);
    let fr = u.add(f);
    let mut af = Dictionary::new();
    af.set("Fields", Object::Array(vec![Object::Reference(fr)]));
    cat.set("AcroForm", af);
    u.replace(cref, cat);
    p.set("Annots", Object::Array(vec![Object::Reference(fr)]));
    u.replace(pref, p);
    append(&doc, &u)
}

fn fill(bytes: &[u8], value: &str) -> Vec<u8> {
    let mut r = reader(bytes);
    let (_, cat) = catalog(&mut r);
    let af = r.resolve(cat.get("AcroForm").unwrap()).unwrap();
    let fields = r
        .resolve(af.as_dict().unwrap().get("Fields").unwrap())
        .unwrap();
    let fref = fields.as_array().unwrap()[0].as_reference().unwrap();
    let mut f = r.get(fref).unwrap().as_dict().unwrap().clone();
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    let ap = u.add(content_stream(value));
    let mut apd = Dictionary::new();
    apd.set("N", ap);
    f.set("V", PdfString::from_text(value));
    f.set("AP", apd);
    u.replace(fref, f);
    append(bytes, &u)
}

fn classify(bytes: &[u8], level: Option<MdpLevel>) -> Vec<pki_core::report::Modification> {
    let mut r = reader(bytes);
    let c = Constraints {
        mdp: level.map(|l| vec![(0, l)]).unwrap_or_default(),
        locks: Vec::new(),
    };
    let a = changes::analyse(&mut r, 0, &c).unwrap();
    a.after(0)
}

fn revisions(bytes: &[u8]) -> usize {
    reader(bytes).revisions().len()
}

fn classify_after(
    bytes: &[u8],
    base_revisions: usize,
    level: Option<MdpLevel>,
) -> Vec<pki_core::report::Modification> {
    let mut r = reader(bytes);
    let rev = base_revisions - 1;
    let c = Constraints {
        mdp: level.map(|l| vec![(rev, l)]).unwrap_or_default(),
        locks: Vec::new(),
    };
    changes::analyse(&mut r, rev, &c).unwrap().after(rev)
}

#[test]
fn evil_annotation_attack_on_certified_documents() {
    let doc = form_document();
    let n = revisions(&doc);
    for (subtype, level, allowed) in [
        ("FreeText", MdpLevel::Annotations, false),
        ("Stamp", MdpLevel::Annotations, false),
        ("Square", MdpLevel::Annotations, false),
        // A comment with an appearance of its own (this one paints the forged amount) is an
        // evil annotation too (red team, tests/pdf_redteam.rs); without one it is allowed.
        ("Text", MdpLevel::Annotations, false),
        ("Highlight", MdpLevel::Annotations, false),
        ("Text", MdpLevel::FormFilling, false),
        ("Text", MdpLevel::NoChanges, false),
    ] {
        let attacked = add_annotation(&doc, subtype);
        let mods = classify_after(&attacked, n, Some(level));
        assert!(!mods.is_empty(), "{subtype} at {level:?}");
        assert_eq!(
            mods.iter().all(|m| m.allowed),
            allowed,
            "{subtype} at {level:?}: {mods:?}"
        );
    }
    // Without certification an annotation is not an allowed change either (P=2 rules).
    let mods = classify_after(&add_annotation(&doc, "FreeText"), n, None);
    assert!(mods.iter().any(|m| !m.allowed), "{mods:?}");
    // With a real signature: an annotation over the text after signing fails it.
    let signed = sign(&doc, "officer-rsa");
    let rep = verify(&add_annotation(&signed, "FreeText"));
    assert_failed(&rep, "FORMAT_FAILURE", "FreeText annotation after signing");
}

#[test]
fn form_filling_is_allowed_where_docmdp_allows_and_locked_fields_are_not() {
    let doc = form_document();
    let n = revisions(&doc);
    let filled = fill(&doc, "1.000.000");
    let mods = classify_after(&filled, n, Some(MdpLevel::FormFilling));
    assert!(mods.iter().all(|m| m.allowed), "{mods:?}");
    assert!(mods.iter().any(|m| m.kind == "form-fill"), "{mods:?}");
    let mods = classify_after(&filled, n, Some(MdpLevel::NoChanges));
    assert!(mods.iter().any(|m| !m.allowed), "{mods:?}");
    // A FieldMDP lock on the field.
    let mut r = reader(&filled);
    let c = Constraints {
        mdp: Vec::new(),
        locks: vec![(n - 1, changes::FieldLock::Include(vec!["so_tien".into()]))],
    };
    let mods = changes::analyse(&mut r, n - 1, &c).unwrap().after(n - 1);
    assert!(
        mods.iter().any(|m| !m.allowed && m.kind == "form-fill"),
        "{mods:?}"
    );
    let c = Constraints {
        mdp: Vec::new(),
        locks: vec![(n - 1, changes::FieldLock::Exclude(vec!["so_tien".into()]))],
    };
    let mut r = reader(&filled);
    let mods = changes::analyse(&mut r, n - 1, &c).unwrap().after(n - 1);
    assert!(mods.iter().all(|m| m.allowed), "{mods:?}");
    // Signed, then filled: the signature stays valid and reports the fill.
    let signed = sign(&doc, "officer-rsa");
    let rep = verify(&fill(&signed, "1.000.000"));
    assert_eq!(
        first(&rep).indication,
        Indication::TotalPassed,
        "{}",
        rep.to_json()
    );
    assert!(first(&rep)
        .modifications
        .iter()
        .any(|m| m.kind == "form-fill"));
}

/// Fills the first field with value `value`, its appearance being `content` (with `resources`),
/// and the widget's `/MK` replaced by `mk` when given.
fn fill_with(
    bytes: &[u8],
    value: &str,
    content: &[u8],
    resources: Option<Dictionary>,
    mk: Option<Dictionary>,
) -> Vec<u8> {
    let mut r = reader(bytes);
    let (_, cat) = catalog(&mut r);
    let af = r.resolve(cat.get("AcroForm").unwrap()).unwrap();
    let fields = r
        .resolve(af.as_dict().unwrap().get("Fields").unwrap())
        .unwrap();
    let fref = fields.as_array().unwrap()[0].as_reference().unwrap();
    let mut f = r.get(fref).unwrap().as_dict().unwrap().clone();
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    let mut d = Dictionary::new();
    d.set("Length", content.len() as i64);
    d.set("Type", Object::name("XObject"));
    d.set("Subtype", Object::name("Form"));
    d.set("BBox", rect([0, 0, 200, 20]));
    if let Some(res) = resources {
        d.set("Resources", res);
    }
    let ap = u.add(Stream {
        dict: d,
        data: StreamData::Bytes(content.to_vec()),
    });
    let mut apd = Dictionary::new();
    apd.set("N", ap);
    f.set("V", PdfString::from_text(value));
    f.set("AP", apd);
    if let Some(mk) = mk {
        f.set("MK", mk);
    }
    u.replace(fref, f);
    append(bytes, &u)
}

/// The "hide" and "hide-and-replace" shadow attacks through a form field (Mainka et al., NDSS
/// 2021, §4): a text field placed over signed text before signing is filled afterwards with an
/// appearance that paints an opaque box over the signed amount (and writes another one). A
/// form fill is allowed after signing (DocMDP P=2, or no certification), so what the fill
/// draws is checked (decision 0033): text for the value, yes; opaque shapes, images and forms,
/// or a new background (`/MK`), no.
#[test]
fn hide_and_replace_through_a_form_field_is_caught() {
    let signed = sign(&form_document(), "officer-rsa");
    // A legitimate fill: the value as text, clipped to the box, in marked content.
    let ok = fill_with(
        &signed,
        "1.000.000",
        b"/Tx BMC q 1 1 198 18 re W n BT /F1 12 Tf 0 g 2 5 Td (1.000.000) Tj ET Q EMC",
        None,
        None,
    );
    let rep = verify(&ok);
    assert_eq!(
        first(&rep).indication,
        Indication::TotalPassed,
        "{}",
        rep.to_json()
    );
    assert!(first(&rep)
        .modifications
        .iter()
        .any(|m| m.kind == "form-fill" && m.allowed));
    // Hide and replace: a white box over the signed text, then the forged amount.
    let hide = fill_with(
        &signed,
        "9.000.000",
        b"1 1 1 rg 0 0 200 20 re f BT /F1 12 Tf 0 g 2 5 Td (9.000.000) Tj ET",
        None,
        None,
    );
    let rep = verify(&hide);
    assert_failed(&rep, "FORMAT_FAILURE", "an opaque form-fill appearance");
    assert!(
        first(&rep)
            .modifications
            .iter()
            .any(|m| m.kind == "form-fill" && !m.allowed && m.detail.contains("paints shapes")),
        "{}",
        rep.to_json()
    );
    // Hide with an image (any XObject) drawn by the appearance.
    let mut xo = Dictionary::new();
    xo.set("Im0", Object::Reference(ObjRef::new(1)));
    let mut res = Dictionary::new();
    res.set("XObject", xo);
    let image = fill_with(
        &signed,
        "9.000.000",
        b"q 200 0 0 20 0 0 cm /Im0 Do Q",
        Some(res),
        None,
    );
    let rep = verify(&image);
    assert_failed(&rep, "FORMAT_FAILURE", "an image in a form-fill appearance");
    assert!(
        rep.to_json().contains("draws an image or another form"),
        "{}",
        rep.to_json()
    );
    // A background added with the fill (/MK /BG) makes the viewer paint an opaque box too.
    let mut mk = Dictionary::new();
    mk.set("BG", Object::Array(vec![Object::Integer(1)]));
    let bg = fill_with(
        &signed,
        "9.000.000",
        b"BT /F1 12 Tf 2 5 Td (9.000.000) Tj ET",
        None,
        Some(mk.clone()),
    );
    assert_failed(
        &verify(&bg),
        "FORMAT_FAILURE",
        "a background added by a form fill",
    );
    // A field that had a background when it was signed may paint it when filled.
    let boxed = {
        let doc = form_document();
        let mut r = reader(&doc);
        let (_, cat) = catalog(&mut r);
        let af = r.resolve(cat.get("AcroForm").unwrap()).unwrap();
        let fields = r
            .resolve(af.as_dict().unwrap().get("Fields").unwrap())
            .unwrap();
        let fref = fields.as_array().unwrap()[0].as_reference().unwrap();
        let mut f = r.get(fref).unwrap().as_dict().unwrap().clone();
        let mut u = IncrementalUpdate::new(&mut r).unwrap();
        f.set("MK", mk);
        u.replace(fref, f);
        sign(&append(&doc, &u), "officer-rsa")
    };
    let filled = fill_with(
        &boxed,
        "1.000.000",
        b"1 g 0 0 200 20 re f BT /F1 12 Tf 0 g 2 5 Td (1.000.000) Tj ET",
        None,
        None,
    );
    let rep = verify(&filled);
    assert_eq!(
        first(&rep).indication,
        Indication::TotalPassed,
        "{}",
        rep.to_json()
    );
    // The report shows the refused fill in both languages (the change itself is named).
    for lang in [pki_core::report::Lang::Vi, pki_core::report::Lang::En] {
        let text = verify(&hide).render_text(lang);
        assert!(text.contains("form-fill (!)"), "{text}");
        assert!(text.contains("so_tien"), "{text}");
    }
}

#[test]
fn sneaky_signature_attack_is_caught() {
    let signed = sign(&document(), "officer-rsa");
    // An empty signature field with a visible appearance showing other content.
    let mut r = reader(&signed);
    let (cref, mut cat) = catalog(&mut r);
    let (pref, mut p) = page(&mut r);
    let af = r.resolve(cat.get("AcroForm").unwrap()).unwrap();
    let mut af = af.as_dict().unwrap().clone();
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    let ap = u.add(content_stream("So tien: 9.000.000 dong"));
    let mut apd = Dictionary::new();
    apd.set("N", ap);
    let mut f = Dictionary::new();
    f.set("FT", Object::name("Sig"));
    f.set("T", PdfString::from_text("Sneaky"));
    f.set("Type", Object::name("Annot"));
    f.set("Subtype", Object::name("Widget"));
    f.set("Rect", rect([60, 740, 400, 790]));
    f.set("AP", apd);
    f.set("P", pref);
    let fr = u.add(f);
    let mut fields = r
        .resolve(af.get("Fields").unwrap())
        .unwrap()
        .as_array()
        .unwrap()
        .to_vec();
    fields.push(Object::Reference(fr));
    af.set("Fields", Object::Array(fields));
    cat.set("AcroForm", af);
    u.replace(cref, cat);
    let mut annots = r
        .resolve(p.get("Annots").unwrap())
        .unwrap()
        .as_array()
        .unwrap()
        .to_vec();
    annots.push(Object::Reference(fr));
    p.set("Annots", Object::Array(annots));
    u.replace(pref, p);
    let rep = verify(&append(&signed, &u));
    assert_failed(&rep, "FORMAT_FAILURE", "sneaky signature");
    assert!(first(&rep)
        .modifications
        .iter()
        .any(|m| !m.allowed && m.detail.contains("sneaky")));
}

#[test]
fn changes_from_the_first_revision_are_classified() {
    let doc = pki_core::pdf::sample::one_page(&["x"]);
    let changed = {
        let mut r = reader(&doc);
        let (pref, mut p) = page(&mut r);
        let mut u = IncrementalUpdate::new(&mut r).unwrap();
        p.set("Contents", u.add(content_stream("y")));
        u.replace(pref, p);
        append(&doc, &u)
    };
    let a = classify(&changed, None);
    let b = classify_after(&changed, 1, None);
    assert_eq!(a, b);
    assert!(a.iter().any(|m| !m.allowed && m.kind == "page-content"));
}

/// Appends a raw revision: `objects` (number, body) and a classic table pointing at them.
fn raw_update(base: &[u8], objects: &[(u32, Vec<u8>)], bogus: &[(u32, u64)]) -> Vec<u8> {
    let r = reader(base);
    let prev = r.sections()[0].offset;
    let size = r.next_object_number() + 20;
    let mut out = base.to_vec();
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    let mut entries = Vec::new();
    for (num, body) in objects {
        entries.push((*num, out.len() as u64));
        out.extend(format!("{num} 0 obj\n").as_bytes());
        out.extend(body);
        out.extend(b"\nendobj\n");
    }
    entries.extend(bogus.iter().copied());
    entries.sort();
    let x = out.len();
    out.extend(b"xref\n");
    for (num, off) in entries {
        out.extend(format!("{num} 1\n{off:010} 00000 n \n").as_bytes());
    }
    out.extend(
        format!("trailer\n<</Size {size}/Root 1 0 R/Prev {prev}>>\nstartxref\n{x}\n%%EOF\n")
            .as_bytes(),
    );
    out
}

#[test]
fn hostile_later_revisions_fail_cleanly() {
    let signed = sign(&document(), "officer-rsa");
    let mut r = reader(&signed);
    let (pref, page_dict) = page(&mut r);
    // The page with `/key value` (value as raw syntax), the old entry removed unless `repeat`.
    let page_with = |key: &str, value: &str, repeat: bool| {
        let mut d = page_dict.clone();
        if !repeat {
            d.remove(key);
        }
        let mut b = Object::Dictionary(d).to_bytes();
        b.truncate(b.len() - 2);
        b.extend(format!("/{key} {value}>>").as_bytes());
        b
    };
    let nested = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    let bomb = {
        use std::io::Write;
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..80 {
            z.write_all(&zeros).unwrap();
        }
        z.finish().unwrap()
    };
    let mut bomb_body =
        format!("<</Length {}/Filter/FlateDecode>>stream\n", bomb.len()).into_bytes();
    bomb_body.extend(&bomb);
    bomb_body.extend(b"\nendstream");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "deep nesting",
            raw_update(
                &signed,
                &[(pref.num, page_with("Rotate", &nested, false))],
                &[],
            ),
        ),
        (
            "reference loop",
            raw_update(
                &signed,
                &[
                    (pref.num, page_with("Rotate", "40 0 R", false)),
                    (40, b"41 0 R".to_vec()),
                    (41, b"40 0 R".to_vec()),
                ],
                &[],
            ),
        ),
        (
            "page tree loop",
            raw_update(
                &signed,
                &[(2, b"<</Type/Pages/Kids[2 0 R]/Count 1>>".to_vec())],
                &[],
            ),
        ),
        (
            "decompression bomb as page content",
            raw_update(
                &signed,
                &[
                    (pref.num, page_with("Contents", "42 0 R", false)),
                    (42, bomb_body.clone()),
                ],
                &[],
            ),
        ),
        (
            "xref pointing outside the file",
            raw_update(
                &signed,
                &[(pref.num, page_with("Contents", "43 0 R", false))],
                &[(43, signed.len() as u64 * 10)],
            ),
        ),
    ];
    let mut cases = cases;
    cases.push((
        "a repeated /Contents key",
        raw_update(
            &signed,
            &[(pref.num, page_with("Contents", "6 0 R", true))],
            &[],
        ),
    ));
    for (what, bytes) in cases {
        let t = std::time::Instant::now();
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("hostile.pdf");
        std::fs::write(&f, &bytes).unwrap();
        let anchors = pki_core::trust::CertPool::from_certs(
            parse_certificates(&std::fs::read(fixture("root.pem")).unwrap()).unwrap(),
        );
        let inter = pki_core::trust::CertPool::new();
        let policy = pki_core::crypto::AlgorithmPolicy::default();
        let opts = pades::VerifyOptions {
            time: time::OffsetDateTime::now_utc(),
            anchors: &anchors,
            intermediates: &inter,
            policy: &policy,
            fetcher: None,
        };
        match pades::verify_pdf(&f, &opts) {
            // Never passed: the later revision cannot be shown to be harmless.
            Ok(rep) => {
                assert_eq!(
                    rep.indication,
                    Indication::TotalFailed,
                    "{what}: {}",
                    rep.to_json()
                );
            }
            // Or the file as a whole is refused with a clear error.
            Err(e) => assert!(!e.to_string().is_empty(), "{what}"),
        }
        // A hang guard, not a benchmark.
        assert!(
            t.elapsed() < std::time::Duration::from_secs(60),
            "{what}: {:?}",
            t.elapsed()
        );
    }
}

#[test]
fn xmp_metadata_updates_are_allowed_other_catalog_changes_are_not() {
    let doc = pki_core::pdf::sample::one_page(&["x"]);
    let with = |key: &str, obj: Object| {
        let mut r = reader(&doc);
        let (cref, mut cat) = catalog(&mut r);
        let mut u = IncrementalUpdate::new(&mut r).unwrap();
        let o = u.add(obj);
        cat.set(key, o);
        u.replace(cref, cat);
        append(&doc, &u)
    };
    let mut xmp = content_stream("<x:xmpmeta/>");
    xmp.dict.set("Type", Object::name("Metadata"));
    xmp.dict.set("Subtype", Object::name("XML"));
    let mods = classify(&with("Metadata", Object::Stream(xmp)), None);
    assert!(
        mods.iter().all(|m| m.allowed) && mods.iter().any(|m| m.kind == "metadata"),
        "{mods:?}"
    );
    let mods = classify(&with("Metadata", Object::Stream(content_stream("x"))), None);
    assert!(mods.iter().any(|m| !m.allowed), "{mods:?}");
    let mut js = Dictionary::new();
    js.set("S", Object::name("JavaScript"));
    js.set("JS", PdfString::from_text("app.alert('paid')"));
    let mods = classify(&with("OpenAction", Object::Dictionary(js)), None);
    assert!(
        mods.iter().any(|m| !m.allowed && m.kind == "catalog"),
        "{mods:?}"
    );
}

/// A dictionary in the signed revision that gives a key twice with different values (readers
/// differ on which counts: a parser differential planted before signing) fails the signature;
/// the same value given twice is harmless.
#[test]
fn a_signed_dictionary_that_repeats_a_key_with_another_value_fails() {
    let base = document();
    let mut r = reader(&base);
    let (pref, page_dict) = page(&mut r);
    let repeated = |value: &[u8]| {
        let mut b = Object::Dictionary(page_dict.clone()).to_bytes();
        b.truncate(b.len() - 2);
        b.extend(b"/MediaBox ");
        b.extend(value);
        b.extend(b">>");
        b
    };
    let same = page_dict.get("MediaBox").unwrap().to_bytes();
    let harmless = sign(
        &raw_update(&base, &[(pref.num, repeated(&same))], &[]),
        "officer-rsa",
    );
    let rep = verify(&harmless);
    assert_eq!(
        first(&rep).indication,
        Indication::TotalPassed,
        "{}",
        rep.to_json()
    );
    let ambiguous = sign(
        &raw_update(&base, &[(pref.num, repeated(b"[0 0 200 200]"))], &[]),
        "officer-rsa",
    );
    let rep = verify(&ambiguous);
    assert_failed(&rep, "FORMAT_FAILURE", "a page with two /MediaBox values");
    assert!(
        rep.to_json().contains("two different values"),
        "{}",
        rep.to_json()
    );
}
