//! Red-team attacks on PDF signature verification beyond tests/pdf_attacks.rs: each builds a
//! signed file, changes what a reader shows after signing in a way the change analysis
//! (pades/changes.rs) might miss, proves with poppler (pdftotext) that the change is visible,
//! and asserts that the verifier does not say TOTAL-PASSED. A short, time-bounded mutation
//! loop checks that damaged signed files never panic, never hang and never pass.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should panic with its message"
)]

use interop_tests::pdf::{append, reader, try_verify};
use interop_tests::require_tool;
use pki_core::pdf::writer::IncrementalUpdate;
use pki_core::pdf::{Dictionary, ObjRef, Object, PdfString, Stream, StreamData};
use pki_core::report::{Indication, Report};

fn sign(input: &[u8]) -> Vec<u8> {
    interop_tests::pdf::sign(input, "officer-rsa")
}

fn verify(bytes: &[u8]) -> Report {
    try_verify(bytes).unwrap()
}

fn assert_not_passed(bytes: &[u8], what: &str) {
    if let Some(r) = try_verify(bytes) {
        assert_ne!(
            r.indication,
            Indication::TotalPassed,
            "{what}: {}",
            r.to_json()
        );
        assert_ne!(
            r.signatures[0].indication,
            Indication::TotalPassed,
            "{what}: {}",
            r.to_json()
        );
    }
}

/// The text poppler extracts from `bytes` (None when pdftotext is not installed locally).
fn pdftotext(bytes: &[u8]) -> Option<String> {
    let tool = require_tool("pdftotext")?;
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("doc.pdf");
    std::fs::write(&f, bytes).unwrap();
    let out = std::process::Command::new(tool)
        .arg(&f)
        .arg("-")
        .output()
        .unwrap();
    assert!(out.status.success(), "pdftotext failed: {out:?}");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Proves the forgery is real: poppler shows the signed amount before, the forged one after.
fn assert_reader_sees_forgery(signed: &[u8], attacked: &[u8]) {
    if let (Some(before), Some(after)) = (pdftotext(signed), pdftotext(attacked)) {
        assert!(before.contains("So tien: 1.000.000 dong"), "{before}");
        assert!(!before.contains("9.000.000"), "{before}");
        assert!(after.contains("So tien: 9.000.000 dong"), "{after}");
    }
}

const AMOUNT: &str = "So tien: 1.000.000 dong";

/// The page font (object 5 of the sample) redefined so that the glyph for "1" draws a "9":
/// the signed content stream is untouched, what is shown is not.
fn forged_font() -> Dictionary {
    let mut enc = Dictionary::new();
    enc.set("Type", Object::name("Encoding"));
    enc.set("BaseEncoding", Object::name("WinAnsiEncoding"));
    enc.set(
        "Differences",
        Object::Array(vec![Object::Integer(49), Object::name("nine")]),
    );
    let mut font = Dictionary::new();
    font.set("Type", Object::name("Font"));
    font.set("Subtype", Object::name("Type1"));
    font.set("BaseFont", Object::name("Helvetica"));
    font.set("Encoding", enc);
    font
}

const FONT: ObjRef = ObjRef { num: 5, gen: 0 };

fn rect(a: [i64; 4]) -> Object {
    Object::Array(a.iter().map(|x| Object::Integer(*x)).collect())
}

/// A form XObject drawing `text` with the page's own font (object 5), as widget appearances
/// in real documents do (the form's default font is often the page's font object).
fn appearance(text: &str) -> Stream {
    let data = format!("/Tx BMC BT /F1 10 Tf 2 5 Td ({text}) Tj ET EMC").into_bytes();
    let mut font = Dictionary::new();
    font.set("F1", FONT);
    let mut res = Dictionary::new();
    res.set("Font", font);
    let mut d = Dictionary::new();
    d.set("Type", Object::name("XObject"));
    d.set("Subtype", Object::name("Form"));
    d.set("BBox", rect([0, 0, 200, 20]));
    d.set("Resources", res);
    d.set("Length", data.len() as i64);
    Stream {
        dict: d,
        data: StreamData::Bytes(data),
    }
}

#[test]
fn the_page_font_redefined_alongside_an_allowed_form_fill_is_caught() {
    // A one-page document with a text field whose (empty) appearance uses the page font.
    let base = pki_core::pdf::sample::one_page(&["Cong van so 1", AMOUNT]);
    let mut r = reader(&base);
    let (cref, mut cat) = r.catalog().unwrap();
    let (pref, mut p) = r.page(0).unwrap();
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    let ap = u.add(appearance(""));
    let mut apd = Dictionary::new();
    apd.set("N", ap);
    let mut f = Dictionary::new();
    f.set("FT", Object::name("Tx"));
    f.set("T", PdfString::from_text("ghi_chu"));
    f.set("Type", Object::name("Annot"));
    f.set("Subtype", Object::name("Widget"));
    f.set("Rect", rect([300, 600, 500, 620]));
    f.set("P", pref);
    f.set("AP", apd);
    let fr = u.add(f.clone());
    let mut af = Dictionary::new();
    af.set("Fields", Object::Array(vec![Object::Reference(fr)]));
    cat.set("AcroForm", af);
    u.replace(cref, cat);
    p.set("Annots", Object::Array(vec![Object::Reference(fr)]));
    u.replace(pref, p);
    let doc = append(&base, &u);
    let signed = sign(&doc);
    assert_eq!(verify(&signed).indication, Indication::TotalPassed);

    // The attacker fills the field (allowed) and, in the same update, redefines the font both
    // the new appearance and the page use.
    let mut r = reader(&signed);
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    let ap = u.add(appearance("da xem"));
    let mut apd = Dictionary::new();
    apd.set("N", ap);
    f.set("V", PdfString::from_text("da xem"));
    f.set("AP", apd);
    u.replace(fr, f);
    u.replace(FONT, forged_font());
    let attacked = append(&signed, &u);
    assert_reader_sees_forgery(&signed, &attacked);
    assert_not_passed(&attacked, "font redefined with a form fill");
    // The fill alone stays valid.
    let mut r = reader(&signed);
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    let ap = u.add(appearance("da xem"));
    let mut apd = Dictionary::new();
    apd.set("N", ap);
    let mut f2 = r.get(fr).unwrap().as_dict().unwrap().clone();
    f2.set("V", PdfString::from_text("da xem"));
    f2.set("AP", apd);
    u.replace(fr, f2);
    let filled = append(&signed, &u);
    let rep = verify(&filled);
    assert_eq!(rep.indication, Indication::TotalPassed, "{}", rep.to_json());
}

/// The sample with one catalog entry `key` pointing at the page font object (prepared by the
/// attacker before the victim signs).
fn with_catalog_ref(key: &str, to: ObjRef) -> Vec<u8> {
    let base = pki_core::pdf::sample::one_page(&["Cong van so 1", AMOUNT]);
    let mut r = reader(&base);
    let (cref, mut cat) = r.catalog().unwrap();
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    cat.set(key, to);
    u.replace(cref, cat);
    append(&base, &u)
}

fn redefine_font(signed: &[u8]) -> Vec<u8> {
    let mut r = reader(signed);
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    u.replace(FONT, forged_font());
    append(signed, &u)
}

#[test]
fn an_object_shared_with_the_dss_is_compared_where_it_is_shown() {
    // Shadow "replace" through the DSS: the page font object is also the catalog's /DSS. A
    // DSS update is allowed, so redefining the object must still be judged as a font change.
    let signed = sign(&with_catalog_ref("DSS", FONT));
    assert_eq!(verify(&signed).indication, Indication::TotalPassed);
    let attacked = redefine_font(&signed);
    assert_reader_sees_forgery(&signed, &attacked);
    assert_not_passed(&attacked, "a font shared with the DSS");
}

#[test]
fn an_object_shared_with_allowed_catalog_entries_is_compared_where_it_is_shown() {
    // /Extensions and the XMP /Metadata may change; an object they share with the page may not.
    for key in ["Extensions", "Metadata"] {
        let doc = if key == "Extensions" {
            let base = pki_core::pdf::sample::one_page(&["Cong van so 1", AMOUNT]);
            let mut r = reader(&base);
            let (cref, mut cat) = r.catalog().unwrap();
            let mut u = IncrementalUpdate::new(&mut r).unwrap();
            let mut adbe = Dictionary::new();
            adbe.set("BaseVersion", Object::name("1.7"));
            adbe.set("ExtensionLevel", 3i64);
            adbe.set("X", FONT);
            let mut ext = Dictionary::new();
            ext.set("ADBE", adbe);
            cat.set("Extensions", ext);
            u.replace(cref, cat);
            append(&base, &u)
        } else {
            let base = pki_core::pdf::sample::one_page(&["Cong van so 1", AMOUNT]);
            let mut r = reader(&base);
            let (cref, mut cat) = r.catalog().unwrap();
            let mut u = IncrementalUpdate::new(&mut r).unwrap();
            let data = b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>".to_vec();
            let mut d = Dictionary::new();
            d.set("Type", Object::name("Metadata"));
            d.set("Subtype", Object::name("XML"));
            d.set("X", FONT);
            d.set("Length", data.len() as i64);
            let m = u.add(Stream {
                dict: d,
                data: StreamData::Bytes(data),
            });
            cat.set("Metadata", m);
            u.replace(cref, cat);
            append(&base, &u)
        };
        let signed = sign(&doc);
        assert_eq!(verify(&signed).indication, Indication::TotalPassed, "{key}");
        let attacked = redefine_font(&signed);
        assert_reader_sees_forgery(&signed, &attacked);
        assert_not_passed(&attacked, key);
    }
}

#[test]
fn a_field_kid_shared_with_the_page_resources_is_compared() {
    // A field whose kid (a widget on no page) is the page's font object: the field tree
    // compares its /Kids by identity, so the font must be compared where the page uses it.
    let base = pki_core::pdf::sample::one_page(&["Cong van so 1", AMOUNT]);
    let mut r = reader(&base);
    let (cref, mut cat) = r.catalog().unwrap();
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    let mut f = Dictionary::new();
    f.set("FT", Object::name("Tx"));
    f.set("T", PdfString::from_text("a"));
    f.set("Kids", Object::Array(vec![Object::Reference(FONT)]));
    let fr = u.add(f);
    let mut af = Dictionary::new();
    af.set("Fields", Object::Array(vec![Object::Reference(fr)]));
    cat.set("AcroForm", af);
    u.replace(cref, cat);
    let signed = sign(&append(&base, &u));
    assert_eq!(verify(&signed).indication, Indication::TotalPassed);
    let attacked = redefine_font(&signed);
    assert_reader_sees_forgery(&signed, &attacked);
    assert_not_passed(&attacked, "a font shared with a field kid");
}

/// A tiny deterministic generator (xorshift64*), so that a failure names a reproducible seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The byte ranges the first signature covers.
fn covered(bytes: &[u8]) -> Vec<(usize, usize)> {
    let rep = verify(bytes);
    assert_eq!(rep.indication, Indication::TotalPassed, "{}", rep.to_json());
    let t = String::from_utf8_lossy(bytes);
    let at = t.find("/ByteRange").unwrap();
    let nums: Vec<usize> = t[at + 10..]
        .trim_start()
        .trim_start_matches('[')
        .split(']')
        .next()
        .unwrap()
        .split_whitespace()
        .map(|x| x.parse().unwrap())
        .collect();
    vec![(nums[0], nums[0] + nums[1]), (nums[2], nums[2] + nums[3])]
}

#[test]
fn mutated_signed_files_never_panic_hang_or_pass() {
    let base = pki_core::pdf::sample::one_page(&["Cong van so 1", AMOUNT]);
    let once = sign(&base);
    let twice = sign(&once);
    let other = sign(&pki_core::pdf::sample::one_page(&["Cong van so 2", AMOUNT]));
    let ranges = covered(&once);
    let budget = std::time::Duration::from_secs(10);
    let start = std::time::Instant::now();
    let mut rng = Rng(0x0005_eed0_f7ed_7ea3);
    let mut runs = 0;
    while start.elapsed() < budget && runs < 2000 {
        runs += 1;
        let pick = rng.below(5);
        let (what, bytes, touches_signed) = match pick {
            // One bit flipped anywhere in a once-signed file.
            0 => {
                let mut b = once.clone();
                let at = rng.below(b.len());
                b[at] ^= 1 << rng.below(8);
                let inside = ranges.iter().any(|(s, e)| (*s..*e).contains(&at));
                (format!("bit flip at {at}"), b, inside)
            }
            // A few bytes overwritten with PDF delimiters and digits (shifts tokens, not bits).
            1 => {
                let mut b = once.clone();
                let at = rng.below(b.len());
                let junk = b"0123456789 <>[]()/%\nRobj";
                let n = 1 + rng.below(4);
                let mut inside = false;
                for i in at..(at + n).min(b.len()) {
                    let c = junk[rng.below(junk.len())];
                    if b[i] != c && ranges.iter().any(|(s, e)| (*s..*e).contains(&i)) {
                        inside = true;
                    }
                    b[i] = c;
                }
                (format!("{n} bytes overwritten at {at}"), b, inside)
            }
            // Truncated.
            2 => {
                let at = rng.below(twice.len());
                (
                    format!("truncated at {at}"),
                    twice[..at].to_vec(),
                    at < once.len(),
                )
            }
            // The second revision of one file spliced onto another signed file.
            3 => {
                let mut b = other.clone();
                b.extend_from_slice(&twice[once.len()..]);
                (
                    "second revision spliced onto another file".to_string(),
                    b,
                    false,
                )
            }
            // A slice of the file duplicated somewhere inside the signed range.
            _ => {
                let from = rng.below(once.len());
                let len = 1 + rng.below(200).min(once.len() - from - 1);
                let at = rng.below(ranges[0].1);
                let mut b = once[..at].to_vec();
                b.extend_from_slice(&once[from..from + len]);
                b.extend_from_slice(&once[at..]);
                (format!("{len} bytes from {from} inserted at {at}"), b, true)
            }
        };
        let t = std::time::Instant::now();
        let rep = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| try_verify(&bytes)));
        let rep = match rep {
            Ok(r) => r,
            Err(_) => panic!("run {runs}: {what}: the verifier panicked"),
        };
        // A hang guard, not a benchmark.
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "run {runs}: {what}: {:?}",
            t.elapsed()
        );
        if let (Some(r), true) = (&rep, touches_signed) {
            assert_ne!(
                r.indication,
                Indication::TotalPassed,
                "run {runs}: {what}: {}",
                r.to_json()
            );
        }
        if pick == 3 {
            let r = rep.as_ref();
            assert!(
                r.is_none_or(|r| r.indication != Indication::TotalPassed),
                "{what}: {}",
                r.map(Report::to_json).unwrap_or_default()
            );
        }
    }
    eprintln!("{runs} mutated files verified in {:?}", start.elapsed());
    assert!(runs >= 20, "only {runs} mutations ran in the time budget");
}

/// Renders page 1 with poppler (grey, low resolution); None when pdftoppm is missing locally.
fn render(bytes: &[u8]) -> Option<Vec<u8>> {
    let tool = require_tool("pdftoppm")?;
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("doc.pdf");
    std::fs::write(&f, bytes).unwrap();
    let out = std::process::Command::new(tool)
        .args(["-gray", "-r", "36", "-f", "1", "-l", "1"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(out.status.success(), "pdftoppm failed: {out:?}");
    Some(out.stdout)
}

/// A comment annotation of `subtype` over the amount; with `ap`, its own appearance paints a
/// white box and the forged amount.
fn comment(u: &mut IncrementalUpdate, subtype: &str, ap: bool, flags: i64) -> Dictionary {
    let mut a = Dictionary::new();
    a.set("Type", Object::name("Annot"));
    a.set("Subtype", Object::name(subtype));
    a.set("Rect", rect([60, 740, 400, 760]));
    a.set("Contents", PdfString::from_text("ghi chu"));
    a.set("F", flags);
    a.set(
        "QuadPoints",
        Object::Array(
            [60, 760, 400, 760, 60, 740, 400, 740]
                .iter()
                .map(|x| Object::Integer(*x))
                .collect(),
        ),
    );
    if ap {
        let data = b"1 g 0 0 340 20 re f 0 g BT /F1 12 Tf 12 5 Td (So tien: 9.000.000 dong) Tj ET"
            .to_vec();
        let mut s = appearance("");
        s.dict.set("BBox", rect([0, 0, 340, 20]));
        s.dict.set("Length", data.len() as i64);
        s.data = StreamData::Bytes(data);
        let n = u.add(s);
        let mut apd = Dictionary::new();
        apd.set("N", n);
        a.set("AP", apd);
    }
    a
}

fn with_annotation(bytes: &[u8], a: impl FnOnce(&mut IncrementalUpdate) -> Dictionary) -> Vec<u8> {
    let mut r = reader(bytes);
    let (pref, mut p) = r.page(0).unwrap();
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    let mut d = a(&mut u);
    d.set("P", pref);
    let ar = u.add(d);
    p.set("Annots", Object::Array(vec![Object::Reference(ar)]));
    u.replace(pref, p);
    append(bytes, &u)
}

fn after_certified_p3(
    bytes: &[u8],
    signed_revisions: usize,
) -> Vec<pki_core::report::Modification> {
    use pki_core::pades::changes::{analyse, Constraints, MdpLevel};
    let mut r = reader(bytes);
    let rev = signed_revisions - 1;
    let c = Constraints {
        mdp: vec![(rev, MdpLevel::Annotations)],
        locks: Vec::new(),
    };
    analyse(&mut r, rev, &c).unwrap().after(rev)
}

#[test]
fn comment_annotations_at_p3_cannot_paint_over_the_page() {
    // Certified at P=3 (annotations allowed): a note or highlight is a comment, but one that
    // carries its own appearance can paint anything over the signed text (evil annotation).
    let doc = pki_core::pdf::sample::one_page(&["Cong van so 1", AMOUNT]);
    let n = reader(&doc).revisions().len();
    for subtype in ["Text", "Highlight", "Popup"] {
        let attacked = with_annotation(&doc, |u| comment(u, subtype, true, 0));
        if let (Some(a), Some(b)) = (render(&doc), render(&attacked)) {
            assert!(a != b, "{subtype}: poppler shows the forged appearance");
        }
        let mods = after_certified_p3(&attacked, n);
        assert!(mods.iter().any(|m| !m.allowed), "{subtype}: {mods:?}");
    }
    // Without an appearance of its own a note stays an allowed comment.
    let note = with_annotation(&doc, |u| comment(u, "Text", false, 0));
    let mods = after_certified_p3(&note, n);
    assert!(
        !mods.is_empty() && mods.iter().all(|m| m.allowed),
        "{mods:?}"
    );
    // Hide-and-replace through an annotation present when signing: hidden (/F 2) with the
    // forged appearance, made visible later by editing only its flags.
    let hidden = with_annotation(&doc, |u| comment(u, "Text", true, 2));
    let n = reader(&hidden).revisions().len();
    let mut r = reader(&hidden);
    let (_, p) = r.page(0).unwrap();
    let aref = p.get("Annots").unwrap().as_array().unwrap()[0]
        .as_reference()
        .unwrap();
    let mut a = r.get(aref).unwrap().as_dict().unwrap().clone();
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    a.set("F", 0i64);
    u.replace(aref, a);
    let shown = append(&hidden, &u);
    if let (Some(x), Some(y)) = (render(&hidden), render(&shown)) {
        assert!(x != y, "poppler shows the annotation once its flags change");
    }
    let mods = after_certified_p3(&shown, n);
    assert!(mods.iter().any(|m| !m.allowed), "{mods:?}");
}

/// A signed one-page form: text field "so_tien" = 1.000.000 with one widget kid that has no
/// appearance of its own (readers generate it from the field's value and /DA).
fn form_without_appearance() -> (Vec<u8>, ObjRef, ObjRef) {
    let base = pki_core::pdf::sample::one_page(&["Cong van so 1"]);
    let mut r = reader(&base);
    let (cref, mut cat) = r.catalog().unwrap();
    let (pref, mut p) = r.page(0).unwrap();
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    let fr = u.add(Dictionary::new());
    let mut w = Dictionary::new();
    w.set("Type", Object::name("Annot"));
    w.set("Subtype", Object::name("Widget"));
    w.set("Rect", rect([72, 700, 400, 730]));
    w.set("P", pref);
    w.set("Parent", fr);
    w.set("F", 4i64);
    let wr = u.add(w);
    let mut f = Dictionary::new();
    f.set("FT", Object::name("Tx"));
    f.set("T", PdfString::from_text("so_tien"));
    f.set("V", PdfString::from_text(AMOUNT));
    f.set("DA", PdfString::from_text("/Helv 14 Tf 0 g"));
    f.set("Kids", Object::Array(vec![Object::Reference(wr)]));
    u.replace(fr, f);
    let mut helv = Dictionary::new();
    helv.set("Type", Object::name("Font"));
    helv.set("Subtype", Object::name("Type1"));
    helv.set("BaseFont", Object::name("Helvetica"));
    let mut fonts = Dictionary::new();
    fonts.set("Helv", helv);
    let mut dr = Dictionary::new();
    dr.set("Font", fonts);
    let mut af = Dictionary::new();
    af.set("Fields", Object::Array(vec![Object::Reference(fr)]));
    af.set("DR", dr);
    af.set("DA", PdfString::from_text("/Helv 14 Tf 0 g"));
    cat.set("AcroForm", af);
    u.replace(cref, cat);
    p.set("Annots", Object::Array(vec![Object::Reference(wr)]));
    u.replace(pref, p);
    (sign(&append(&base, &u)), fr, wr)
}

#[test]
fn a_widget_moved_to_another_field_is_caught() {
    // The widget is re-parented to a new field (outside the form's field tree) whose value is
    // the forged amount: readers generate the widget's appearance from its new parent.
    let (signed, _, wr) = form_without_appearance();
    assert_eq!(verify(&signed).indication, Indication::TotalPassed);
    let mut r = reader(&signed);
    let mut w = r.get(wr).unwrap().as_dict().unwrap().clone();
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    let mut f = Dictionary::new();
    f.set("FT", Object::name("Tx"));
    f.set("T", PdfString::from_text("so_tien"));
    f.set("V", PdfString::from_text("So tien: 9.000.000 dong"));
    f.set("DA", PdfString::from_text("/Helv 14 Tf 0 g"));
    f.set("Kids", Object::Array(vec![Object::Reference(wr)]));
    let f2 = u.add(f);
    w.set("Parent", f2);
    u.replace(wr, w);
    let attacked = append(&signed, &u);
    if let (Some(a), Some(b)) = (render(&signed), render(&attacked)) {
        assert!(a != b, "poppler draws the new parent's value");
    }
    assert_not_passed(&attacked, "a widget re-parented");
}

#[test]
fn a_page_moved_under_another_page_tree_node_is_caught() {
    // The page's /Parent names a new node (outside the tree) with other inherited /Resources:
    // MuPDF and pdf.js inherit through /Parent (poppler and qpdf inherit along the tree walk,
    // so no installed peer shows it; the rewiring itself is never a legitimate update).
    let signed = sign(&pki_core::pdf::sample::one_page(&["Cong van so 1", AMOUNT]));
    let mut r = reader(&signed);
    let (pref, mut p) = r.page(0).unwrap();
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    let mut fonts = Dictionary::new();
    fonts.set("F1", forged_font());
    let mut res = Dictionary::new();
    res.set("Font", fonts);
    let mut node = Dictionary::new();
    node.set("Type", Object::name("Pages"));
    node.set("Kids", Object::Array(vec![Object::Reference(pref)]));
    node.set("Count", 1i64);
    node.set("Resources", res);
    let nr = u.add(node);
    p.remove("Resources");
    p.set("Parent", nr);
    u.replace(pref, p);
    let attacked = append(&signed, &u);
    assert_not_passed(&attacked, "a page re-parented");
    let rep = verify(&attacked);
    assert!(
        rep.signatures[0]
            .modifications
            .iter()
            .any(|m| !m.allowed && m.detail.contains("/Parent")),
        "{}",
        rep.to_json()
    );
}

/// Appends a complete cross-reference table without `/Prev`: every object at the offset the
/// file's current view gives, except `replaced` (number, body) written anew. Readers use only
/// this table, so the signed revisions are no longer part of the document's history.
fn full_table_update(signed: &[u8], replaced: &[(u32, Vec<u8>)]) -> Vec<u8> {
    use pki_core::pdf::XrefEntry;
    let r = reader(signed);
    let mut view = std::collections::BTreeMap::new();
    for s in r.sections() {
        for (num, e) in &s.entries {
            view.entry(*num).or_insert(*e);
        }
    }
    let mut out = signed.to_vec();
    for (num, body) in replaced {
        view.insert(
            *num,
            XrefEntry::InUse {
                offset: out.len() as u64,
                gen: 0,
            },
        );
        out.extend(format!("{num} 0 obj\n").as_bytes());
        out.extend(body);
        out.extend(b"\nendobj\n");
    }
    let size = view.keys().max().unwrap() + 1;
    let x = out.len();
    out.extend(format!("xref\n0 {size}\n").as_bytes());
    for n in 0..size {
        match view.get(&n) {
            Some(XrefEntry::InUse { offset, gen }) => {
                out.extend(format!("{offset:010} {gen:05} n \n").as_bytes())
            }
            _ => out.extend(b"0000000000 65535 f \n"),
        }
    }
    let root = r.trailer().get("Root").unwrap().as_reference().unwrap();
    out.extend(
        format!(
            "trailer\n<</Size {size}/Root {} 0 R>>\nstartxref\n{x}\n%%EOF\n",
            root.num
        )
        .as_bytes(),
    );
    out
}

#[test]
fn a_complete_new_table_without_prev_is_caught() {
    let signed = sign(&pki_core::pdf::sample::one_page(&["Cong van so 1", AMOUNT]));
    let forged =
        b"BT /F1 12 Tf 72 770 Td 16 TL (Cong van so 1) Tj T* (So tien: 9.000.000 dong) Tj T* ET";
    let mut body = format!("<</Length {}>>stream\n", forged.len()).into_bytes();
    body.extend(forged);
    body.extend(b"\nendstream");
    let attacked = full_table_update(&signed, &[(4, body)]);
    assert_reader_sees_forgery(&signed, &attacked);
    assert_not_passed(&attacked, "a complete table without /Prev");
}

#[test]
fn an_object_redefined_only_in_a_hybrid_xrefstm_is_caught() {
    // The update's classic table lists nothing new; its /XRefStm stream (read by readers that
    // know hybrid files, as poppler does) redefines the page content.
    let signed = sign(&pki_core::pdf::sample::one_page(&["Cong van so 1", AMOUNT]));
    let r = reader(&signed);
    let prev = r.sections()[0].offset;
    let size = r.next_object_number() + 2;
    let mut out = signed.clone();
    let forged =
        b"BT /F1 12 Tf 72 770 Td 16 TL (Cong van so 1) Tj T* (So tien: 9.000.000 dong) Tj T* ET";
    let c_at = out.len() as u32;
    out.extend(format!("4 0 obj\n<</Length {}>>stream\n", forged.len()).as_bytes());
    out.extend(forged);
    out.extend(b"\nendstream\nendobj\n");
    let xs_num = size - 1;
    let xs_at = out.len() as u32;
    let mut data = vec![1u8];
    data.extend(c_at.to_be_bytes());
    data.extend([0u8, 0]);
    data.push(1);
    data.extend(xs_at.to_be_bytes());
    data.extend([0u8, 0]);
    out.extend(
        format!(
            "{xs_num} 0 obj\n<</Type/XRef/Size {size}/W[1 4 2]/Index[4 1 {xs_num} 1]/Length {}>>stream\n",
            data.len()
        )
        .as_bytes(),
    );
    out.extend(&data);
    out.extend(b"\nendstream\nendobj\n");
    let x = out.len();
    out.extend(
        format!(
            "xref\n0 1\n0000000000 65535 f \ntrailer\n<</Size {size}/Root 1 0 R/Prev {prev}/XRefStm {xs_at}>>\nstartxref\n{x}\n%%EOF\n"
        )
        .as_bytes(),
    );
    assert_reader_sees_forgery(&signed, &out);
    assert_not_passed(&out, "an object redefined in a hybrid /XRefStm");
}

/// Adds a visible signature field over the amount, its appearance showing the forged amount,
/// whose value `/V` is `value(end)` (raw syntax; `end` is where the new revision ends), under
/// `depth` new container fields. Returns the file.
fn add_signature_field(signed: &[u8], depth: usize, value: impl Fn(u64) -> Vec<u8>) -> Vec<u8> {
    let build = |end: u64| {
        let mut r = reader(signed);
        let (cref, mut cat) = r.catalog().unwrap();
        let (pref, mut p) = r.page(0).unwrap();
        let mut af = r
            .resolve(cat.get("AcroForm").unwrap())
            .unwrap()
            .as_dict()
            .unwrap()
            .clone();
        let fields = r.resolve(af.get("Fields").unwrap()).unwrap();
        let mut fields = fields.as_array().unwrap().to_vec();
        let annots = p
            .get("Annots")
            .map(|a| r.resolve(a).unwrap().as_array().unwrap().to_vec())
            .unwrap_or_default();
        let mut u = IncrementalUpdate::new(&mut r).unwrap();
        let data = b"1 g 0 0 340 20 re f 0 g BT /F1 12 Tf 12 5 Td (So tien: 9.000.000 dong) Tj ET"
            .to_vec();
        let mut s = appearance("");
        s.dict.set("BBox", rect([0, 0, 340, 20]));
        s.dict.set("Length", data.len() as i64);
        s.data = StreamData::Bytes(data);
        let ap = u.add(s);
        let v = u.add_raw(value(end));
        let mut apd = Dictionary::new();
        apd.set("N", ap);
        let mut f = Dictionary::new();
        f.set("FT", Object::name("Sig"));
        f.set("T", PdfString::from_text("Duyet"));
        f.set("Type", Object::name("Annot"));
        f.set("Subtype", Object::name("Widget"));
        f.set("Rect", rect([60, 740, 400, 760]));
        f.set("F", 4i64);
        f.set("AP", apd);
        f.set("P", pref);
        f.set("V", v);
        let mut top = u.add(f);
        let widget = top;
        for i in 0..depth {
            let mut c = Dictionary::new();
            c.set("T", PdfString::from_text(&format!("n{i}")));
            c.set("Kids", Object::Array(vec![Object::Reference(top)]));
            top = u.add(c);
        }
        fields.push(Object::Reference(top));
        af.set("Fields", Object::Array(fields));
        cat.set("AcroForm", af);
        u.replace(cref, cat);
        let mut annots = annots;
        annots.push(Object::Reference(widget));
        p.set("Annots", Object::Array(annots));
        u.replace(pref, p);
        append(signed, &u)
    };
    let first = build(0);
    let out = build(first.len() as u64);
    assert_eq!(out.len(), first.len());
    out
}

/// A signature dictionary (raw) whose /ByteRange ends at `end` (fixed width) and whose
/// /Contents is not a signature.
fn bogus_sig_dict(end: u64) -> String {
    let gap = end.saturating_sub(200);
    format!(
        "/Type/Sig/Filter/Adobe.PPKLite/SubFilter/ETSI.CAdES.detached/ByteRange[0 {gap:>10} {:>10} {:>10}]/Contents<3000>",
        gap + 100,
        end.saturating_sub(gap + 100)
    )
}

#[test]
fn a_new_signature_field_the_verifier_would_not_list_is_caught() {
    let signed = sign(&pki_core::pdf::sample::one_page(&["Cong van so 1", AMOUNT]));
    // Its value is a stream, not a signature dictionary: not a signature to verify, yet a
    // "signature was added" to the change analysis.
    let as_stream = add_signature_field(&signed, 0, |end| {
        format!("<<{}/Length 1>>stream\nx\nendstream", bogus_sig_dict(end)).into_bytes()
    });
    if let (Some(a), Some(b)) = (render(&signed), render(&as_stream)) {
        assert!(a != b, "poppler draws the new field's appearance");
    }
    assert_not_passed(&as_stream, "a signature value that is a stream");
    // A bogus signature dictionary nested deeper than the verifier walks the field tree.
    let deep = add_signature_field(&signed, 40, |end| {
        format!("<<{}>>", bogus_sig_dict(end)).into_bytes()
    });
    assert_not_passed(&deep, "a signature field nested 40 deep");
    // The same, shallow: listed, verified and failed.
    let shallow = add_signature_field(&signed, 0, |end| {
        format!("<<{}>>", bogus_sig_dict(end)).into_bytes()
    });
    let rep = verify(&shallow);
    assert_eq!(rep.signatures.len(), 2, "{}", rep.to_json());
    assert_ne!(rep.indication, Indication::TotalPassed);
}

/// `bytes` with `key value` (raw syntax) added to object `num`'s dictionary in an update.
fn with_key(bytes: &[u8], num: u32, key: &str, value: &str) -> Vec<u8> {
    let mut r = reader(bytes);
    let o = ObjRef::new(num);
    let d = r.get(o).unwrap().as_dict().unwrap().clone();
    let mut body = Object::Dictionary(d).to_bytes();
    body.truncate(body.len() - 2);
    body.extend(format!("/{key} {value}>>").as_bytes());
    let prev = r.sections()[0].offset;
    let size = r.next_object_number();
    let mut out = bytes.to_vec();
    let at = out.len();
    out.extend(format!("{num} 0 obj\n").as_bytes());
    out.extend(body);
    out.extend(b"\nendobj\n");
    let x = out.len();
    out.extend(
        format!(
            "xref\n{num} 1\n{at:010} 00000 n \ntrailer\n<</Size {size}/Root 1 0 R/Prev {prev}>>\nstartxref\n{x}\n%%EOF\n"
        )
        .as_bytes(),
    );
    out
}

#[test]
fn inherited_page_attributes_and_catalog_entries_added_later_are_caught() {
    let signed = sign(&pki_core::pdf::sample::one_page(&["Cong van so 1", AMOUNT]));
    // Inherited by the page from the page tree node (ISO 32000-2 §7.7.3.4): what is shown
    // changes although the page object does not.
    let rotated = with_key(&signed, 2, "Rotate", "180");
    if let (Some(a), Some(b)) = (render(&signed), render(&rotated)) {
        assert!(
            a != b,
            "/Rotate on the page tree node changes the rendering"
        );
    }
    assert_not_passed(&rotated, "Rotate");
    assert_not_passed(&with_key(&signed, 2, "CropBox", "[0 0 595 700]"), "CropBox");
    // Catalog entries that change what is shown or done on opening.
    for (key, value) in [
        ("OCProperties", "<</OCGs[]/D<</OFF[]>>>>"),
        (
            "Names",
            "<</JavaScript<</Names[(a)<</S/JavaScript/JS(app.alert\\(1\\))>>]>>>>",
        ),
        ("AA", "<</WC<</S/JavaScript/JS(1)>>>>"),
        ("PageLabels", "<</Nums[0<</S/r>>]>>"),
        ("Outlines", "<</Count 0>>"),
        ("StructTreeRoot", "<</Type/StructTreeRoot>>"),
        ("Collection", "<</View/T>>"),
        ("OpenAction", "[3 0 R/FitR 0 0 10 10]"),
    ] {
        assert_not_passed(&with_key(&signed, 1, key, value), key);
    }
    // A page-level action.
    assert_not_passed(
        &with_key(&signed, 3, "AA", "<</O<</S/JavaScript/JS(1)>>>>"),
        "page /AA",
    );
}

#[test]
fn an_unchanged_object_whose_referenced_object_changed_is_caught() {
    // The font object stays as signed; its /Encoding is an indirect object, redefined later.
    let base = pki_core::pdf::sample::one_page(&["Cong van so 1", AMOUNT]);
    let mut r = reader(&base);
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    let mut enc = Dictionary::new();
    enc.set("Type", Object::name("Encoding"));
    enc.set("BaseEncoding", Object::name("WinAnsiEncoding"));
    let er = u.add(enc);
    let mut font = forged_font();
    font.set("Encoding", er);
    u.replace(FONT, font);
    let signed = sign(&append(&base, &u));
    assert_eq!(verify(&signed).indication, Indication::TotalPassed);
    let mut r = reader(&signed);
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    let forged = forged_font().get("Encoding").unwrap().clone();
    u.replace(er, forged);
    let attacked = append(&signed, &u);
    assert_reader_sees_forgery(&signed, &attacked);
    assert_not_passed(&attacked, "an indirect /Encoding redefined");
}

#[test]
fn an_indirect_stream_length_redefined_later_is_caught() {
    // The page content is signed with an indirect /Length covering all of it: it draws the
    // forged amount, paints it over, and draws the real one. An inner `endstream` lets a later
    // revision redefine only the length object so that readers stop before the cover.
    let base = pki_core::pdf::sample::one_page(&["Cong van so 1"]);
    let head = b"BT /F1 12 Tf 72 754 Td (So tien: 9.000.000 dong) Tj ET\n".to_vec();
    let tail = b"endstream\n1 g 60 745 400 25 re f 0 g BT /F1 12 Tf 72 754 Td (So tien: 1.000.000 dong) Tj ET"
        .to_vec();
    let mut r = reader(&base);
    let (pref, mut p) = r.page(0).unwrap();
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    let len = u.add(Object::Integer((head.len() + tail.len()) as i64));
    let mut data = head.clone();
    data.extend(&tail);
    // Written raw: the writer would make /Length direct.
    let mut body = format!("<</Length {} 0 R>>stream\n", len.num).into_bytes();
    body.extend(&data);
    body.extend(b"\nendstream");
    let c = u.add_raw(body);
    p.set("Contents", c);
    u.replace(pref, p);
    let signed = sign(&append(&base, &u));
    assert_eq!(verify(&signed).indication, Indication::TotalPassed);
    let mut r = reader(&signed);
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    u.replace(len, Object::Integer(head.len() as i64));
    let attacked = append(&signed, &u);
    if let (Some(a), Some(b)) = (render(&signed), render(&attacked)) {
        assert!(a != b, "poppler stops at the new length");
    }
    if let Some(t) = pdftotext(&attacked) {
        assert!(!t.contains("1.000.000"), "{t}");
    }
    assert_not_passed(&attacked, "an indirect /Length redefined");
}

#[test]
fn an_object_streams_indirect_first_redefined_later_is_caught() {
    // The page font lives in an object stream whose /First is an indirect integer. The stream's
    // data holds two font dictionaries; redefining only /First makes readers take the second.
    // (Caught because our reader refuses an indirect /First: the later revision is
    // unanalysable, a disallowed change.)
    let base = pki_core::pdf::sample::one_page(&["Cong van so 1", AMOUNT]);
    let r = reader(&base);
    let prev = r.sections()[0].offset;
    let mut out = base.clone();
    let real = b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica/Encoding/WinAnsiEncoding>>";
    let forged_enc = b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica/Encoding<</Type/Encoding/BaseEncoding/WinAnsiEncoding/Differences[49/nine]>>>>";
    let header = b"11 0 ";
    let mut data = header.to_vec();
    data.extend_from_slice(real);
    data.push(b' ');
    let second = data.len();
    data.extend_from_slice(header);
    data.extend_from_slice(forged_enc);
    // Page 3 using font 11.
    let p_at = out.len() as u32;
    out.extend(b"3 0 obj\n<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents 4 0 R/Resources<</Font<</F1 11 0 R>>>>>>\nendobj\n");
    let s_at = out.len() as u32;
    out.extend(
        format!(
            "10 0 obj\n<</Type/ObjStm/N 1/First 13 0 R/Length {}>>stream\n",
            data.len()
        )
        .as_bytes(),
    );
    out.extend(&data);
    out.extend(b"\nendstream\nendobj\n");
    let f_at = out.len() as u32;
    out.extend(format!("13 0 obj\n{}\nendobj\n", header.len()).as_bytes());
    let x_at = out.len() as u32;
    let mut xs = Vec::new();
    for (t, a, b) in [
        (1u8, p_at, 0u16),
        (1, s_at, 0),
        (2, 10, 0),
        (1, x_at, 0),
        (1, f_at, 0),
    ] {
        xs.push(t);
        xs.extend(a.to_be_bytes());
        xs.extend(b.to_be_bytes());
    }
    out.extend(
        format!(
            "12 0 obj\n<</Type/XRef/Size 14/Root 1 0 R/Prev {prev}/W[1 4 2]/Index[3 1 10 4]/Length {}>>stream\n",
            xs.len()
        )
        .as_bytes(),
    );
    out.extend(&xs);
    out.extend(format!("\nendstream\nendobj\nstartxref\n{x_at}\n%%EOF\n").as_bytes());
    if let Some(t) = pdftotext(&out) {
        assert!(t.contains(AMOUNT), "{t}");
    }
    let signed = sign(&out);
    assert_eq!(verify(&signed).indication, Indication::TotalPassed);
    let mut r = reader(&signed);
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    u.replace(
        ObjRef::new(13),
        Object::Integer((second + header.len()) as i64),
    );
    let attacked = append(&signed, &u);
    assert_reader_sees_forgery(&signed, &attacked);
    assert_not_passed(&attacked, "an object stream's /First redefined");
}
