//! The PDF core against real peers: our reader on every file shape qpdf makes, our signature
//! placeholder filled with an `openssl cms` signature, checked by pdfsig, qpdf --check and
//! pyHanko; hostile and damaged files give clear errors.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

use interop_tests::{fixtures, require_tool, run, text};
use pki_core::pdf::sign::{self, PreparedSignature, SignatureOptions, SubFilter};
use pki_core::pdf::{PdfError, PdfReader, Repair, XrefKind};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A small classic-xref PDF with `pages` pages, an /Info dictionary and an /ID. With `form`, it
/// also has an indirect /AcroForm with an indirect /Fields array holding a text field, and the
/// first page's /Annots is an indirect array.
fn make_pdf(pages: usize, form: bool) -> Vec<u8> {
    let mut objs: Vec<String> = Vec::new();
    // 1 catalog, 2 pages, 3 font, 4 info, then per page: page, contents.
    let first_page = 5;
    let extra = first_page + 2 * pages;
    let acro = if form {
        format!("/AcroForm {} 0 R", extra)
    } else {
        String::new()
    };
    objs.push(format!("<</Type/Catalog/Pages 2 0 R{acro}>>"));
    let kids: Vec<String> = (0..pages)
        .map(|i| format!("{} 0 R", first_page + 2 * i))
        .collect();
    objs.push(format!(
        "<</Type/Pages/Kids[{}]/Count {pages}>>",
        kids.join(" ")
    ));
    objs.push("<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>".into());
    objs.push("<</Title(Test document)/Producer(pki-core tests)>>".into());
    for i in 0..pages {
        let annots = if form && i == 0 {
            format!("/Annots {} 0 R", extra + 2)
        } else {
            String::new()
        };
        objs.push(format!(
            "<</Type/Page/Parent 2 0 R/MediaBox[0 0 595.276 841.89]/Resources<</Font<</F1 3 0 R>>>>/Contents {} 0 R{annots}>>",
            first_page + 2 * i + 1
        ));
        let content = format!("BT /F1 24 Tf 72 720 Td (Page {}) Tj ET", i + 1);
        objs.push(format!(
            "<</Length {}>>\nstream\n{content}\nendstream",
            content.len()
        ));
    }
    if form {
        // AcroForm, Fields array, Annots array, the text field/widget.
        let field = extra + 3;
        objs.push(format!("<</Fields {} 0 R/DA(/Helv 0 Tf 0 g)>>", extra + 1));
        objs.push(format!("[{field} 0 R]"));
        objs.push(format!("[{field} 0 R]"));
        objs.push(format!(
            "<</Type/Annot/Subtype/Widget/FT/Tx/T(Name)/V(An)/Rect[72 600 300 620]/P {first_page} 0 R/F 4>>"
        ));
    }
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offs = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        offs.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let x = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f\r\n", objs.len() + 1).as_bytes());
    for o in offs {
        out.extend_from_slice(format!("{o:010} 00000 n\r\n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<</Size {}/Root 1 0 R/Info 4 0 R/ID[<0123456789ABCDEF0123456789ABCDEF><0123456789ABCDEF0123456789ABCDEF>]>>\nstartxref\n{x}\n%%EOF\n",
            objs.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// A hybrid-reference file (§7.5.8.4): the page and its contents are in an object stream listed
/// only by the /XRefStm cross-reference stream; the table lists the rest.
fn make_hybrid() -> Vec<u8> {
    let mut out = b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offs = std::collections::BTreeMap::new();
    let mut obj = |out: &mut Vec<u8>, n: u32, body: &str| {
        offs.insert(n, out.len());
        out.extend_from_slice(format!("{n} 0 obj\n{body}\nendobj\n").as_bytes());
    };
    obj(&mut out, 1, "<</Type/Catalog/Pages 2 0 R>>");
    obj(&mut out, 2, "<</Type/Pages/Kids[3 0 R]/Count 1>>");
    let content = "BT /F1 24 Tf 72 720 Td (Hybrid) Tj ET";
    obj(
        &mut out,
        4,
        &format!(
            "<</Length {}>>\nstream\n{content}\nendstream",
            content.len()
        ),
    );
    obj(
        &mut out,
        5,
        "<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>",
    );
    // Object stream 6 holds object 3 (the page).
    let page = "<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>>>";
    let header = "3 0 ";
    let body = format!("{header}{page}");
    obj(
        &mut out,
        6,
        &format!(
            "<</Type/ObjStm/N 1/First {}/Length {}>>\nstream\n{body}\nendstream",
            header.len(),
            body.len()
        ),
    );
    // The xref stream (object 7): entry for 3 (compressed in 6) and for 7 itself.
    let xs_at = out.len();
    // W [1 4 2]: rows of 7 bytes.
    let mut data = vec![2u8];
    data.extend_from_slice(&6u32.to_be_bytes());
    data.extend_from_slice(&0u16.to_be_bytes());
    data.push(1);
    data.extend_from_slice(&(xs_at as u32).to_be_bytes());
    data.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(
        format!(
            "7 0 obj\n<</Type/XRef/Size 8/W[1 4 2]/Index[3 1 7 1]/Length {}>>\nstream\n",
            data.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&data);
    out.extend_from_slice(b"\nendstream\nendobj\n");
    let x = out.len();
    out.extend_from_slice(b"xref\n0 8\n0000000000 65535 f\r\n");
    for n in 1..8u32 {
        match offs.get(&n) {
            Some(o) => out.extend_from_slice(format!("{o:010} 00000 n\r\n").as_bytes()),
            None => out.extend_from_slice(b"0000000000 00000 f\r\n"),
        }
    }
    out.extend_from_slice(
        format!("trailer\n<</Size 8/Root 1 0 R/XRefStm {xs_at}>>\nstartxref\n{x}\n%%EOF\n")
            .as_bytes(),
    );
    out
}

struct Tools {
    qpdf: PathBuf,
    pdfsig: PathBuf,
    openssl: PathBuf,
}

fn tools() -> Option<Tools> {
    Some(Tools {
        qpdf: require_tool("qpdf")?,
        pdfsig: require_tool("pdfsig")?,
        openssl: require_tool("openssl")?,
    })
}

/// Copies `file` into `$PDF_TEST_KEEP` when set, to look at the outputs by hand.
fn keep(file: &Path) {
    if let Some(dir) = std::env::var_os("PDF_TEST_KEEP") {
        let _ = std::fs::copy(file, Path::new(&dir).join(file.file_name().unwrap()));
    }
}

fn qpdf(t: &Tools, args: &[&str], input: &Path, output: &Path) {
    let o = run(Command::new(&t.qpdf).args(args).arg(input).arg(output));
    // qpdf exits 3 for warnings; the files we give it have none.
    assert_eq!(o.status.code(), Some(0), "qpdf {args:?}\n{}", text(&o));
}

fn qpdf_check(t: &Tools, file: &Path) {
    let o = run(Command::new(&t.qpdf).arg("--check").arg(file));
    let out = text(&o);
    assert_eq!(
        o.status.code(),
        Some(0),
        "qpdf --check {}\n{out}",
        file.display()
    );
    assert!(
        out.contains("No syntax or stream encoding errors found"),
        "{out}"
    );
}

/// The bytes `/ByteRange` covers, read back from the prepared file.
fn covered(p: &PreparedSignature) -> Vec<u8> {
    let all = std::fs::read(&p.temp_path).unwrap();
    let [a, b, c, d] = p.byte_range.map(|v| v as usize);
    let mut v = all[a..a + b].to_vec();
    v.extend_from_slice(&all[c..c + d]);
    v
}

/// A detached CMS over `data` by the officer's key (openssl), with the chain.
fn openssl_cms(t: &Tools, data: &[u8], dir: &Path) -> Vec<u8> {
    let pki = fixtures().join("pki");
    let input = dir.join("covered.bin");
    let output = dir.join("sig.p7s");
    std::fs::write(&input, data).unwrap();
    let o = run(Command::new(&t.openssl)
        .args([
            "cms", "-sign", "-binary", "-outform", "DER", "-md", "sha256",
        ])
        .arg("-signer")
        .arg(pki.join("officer-rsa.pem"))
        .arg("-inkey")
        .arg(pki.join("officer-rsa.key.pem"))
        .arg("-certfile")
        .arg(pki.join("issuing.pem"))
        .arg("-in")
        .arg(&input)
        .arg("-out")
        .arg(&output));
    assert!(o.status.success(), "{}", text(&o));
    std::fs::read(&output).unwrap()
}

fn sign_with(t: &Tools, input: &Path, output: &Path, opts: &SignatureOptions) -> PreparedSignature {
    let p = sign::prepare(input, output, opts)
        .unwrap_or_else(|e| panic!("prepare {}: {e:?}", input.display()));
    assert!(p.temp_path.exists() && !output.exists());
    let data = covered(&p);
    // Our streaming digest is the digest of exactly those bytes.
    assert_eq!(p.digest, hsm::HashAlgorithm::Sha256.digest(&data));
    let cms = openssl_cms(t, &data, output.parent().unwrap());
    sign::finish(&p, &cms).unwrap();
    assert!(!p.temp_path.exists() && output.exists());
    p
}

fn opts() -> SignatureOptions {
    let mut o = SignatureOptions::pades(8192);
    o.signing_time = Some(time::macros::datetime!(2025-03-20 10:00:00 +07:00));
    o.reason = Some("Phê duyệt văn bản".into());
    o.location = Some("Bắc Ninh".into());
    o
}

/// pdfsig's verdicts: one entry per signature, true when "Signature is Valid".
fn pdfsig(t: &Tools, file: &Path) -> (Vec<bool>, String) {
    let o = run(Command::new(&t.pdfsig).arg(file));
    let out = text(&o);
    let verdicts = out
        .lines()
        .filter(|l| l.contains("Signature Validation:"))
        .map(|l| l.contains("Signature is Valid"))
        .collect();
    (verdicts, out)
}

/// pyHanko's executive summary. Its strict mode refuses hybrid-reference files by design (its
/// help says so), hence `lenient` for them.
fn pyhanko(file: &Path, lenient: bool) -> Option<String> {
    let py = require_tool("pyhanko")?;
    let pki = fixtures().join("pki");
    let o = run(Command::new(py)
        .args([
            "sign",
            "validate",
            "--no-revocation-check",
            "--executive-summary",
            "--trust-replace",
        ])
        .args(lenient.then_some("--no-strict-syntax"))
        .arg("--trust")
        .arg(pki.join("root.pem"))
        .arg("--other-certs")
        .arg(pki.join("issuing.pem"))
        .arg(file));
    Some(text(&o))
}

#[test]
fn reader_reads_every_shape() {
    let Some(t) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.pdf");
    std::fs::write(&base, make_pdf(3, true)).unwrap();
    let hybrid = dir.path().join("hybrid.pdf");
    std::fs::write(&hybrid, make_hybrid()).unwrap();
    qpdf_check(&t, &hybrid);
    let shapes: &[(&str, &[&str], XrefKind)] = &[
        (
            "objstm.pdf",
            &["--object-streams=generate"],
            XrefKind::Stream,
        ),
        ("linear.pdf", &["--linearize"], XrefKind::Table),
        (
            "linear-objstm.pdf",
            &["--linearize", "--object-streams=generate"],
            XrefKind::Stream,
        ),
        ("qdf.pdf", &["--qdf"], XrefKind::Table),
        (
            "v20.pdf",
            &["--force-version=2.0", "--object-streams=generate"],
            XrefKind::Stream,
        ),
        ("v14.pdf", &["--force-version=1.4"], XrefKind::Table),
    ];
    for (name, args, kind) in shapes {
        let p = dir.path().join(name);
        qpdf(&t, args, &base, &p);
        let mut r = PdfReader::open(&p).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert!(r.repairs().is_empty(), "{name}: {:?}", r.repairs());
        assert_eq!(r.sections()[0].kind, *kind, "{name}");
        assert_eq!(r.page_count().unwrap(), 3, "{name}");
        let (_, page) = r.page(2).unwrap();
        assert!(page.has_name("Type", "Page"), "{name}");
        // The page's content decodes (qpdf compresses it with Flate, predictors in xref streams).
        let c = page.get("Contents").and_then(|c| c.as_reference()).unwrap();
        let pki_core::pdf::Object::Stream(s) = r.get(c).unwrap() else {
            panic!("{name}: contents is not a stream")
        };
        let data = r.decode_stream(c, &s, 1 << 20).unwrap();
        assert!(
            String::from_utf8_lossy(&data).contains("(Page 3) Tj"),
            "{name}"
        );
        let linear = name.starts_with("linear");
        assert_eq!(r.revisions().len(), 1, "{name}: {:?}", r.revisions());
        assert_eq!(
            r.revisions()[0].sections.len(),
            if linear { 2 } else { 1 },
            "{name}"
        );
        assert!(r.revisions()[0].end + 2 >= r.len(), "{name}");
    }
    let mut r = PdfReader::open(&hybrid).unwrap();
    assert!(r.repairs().is_empty(), "{:?}", r.repairs());
    assert_eq!(r.sections()[0].kind, XrefKind::Hybrid);
    let (_, page) = r.page(0).unwrap();
    assert!(page.get("MediaBox").is_some());
}

#[test]
fn signed_output_is_accepted_by_pdfsig_qpdf_and_pyhanko() {
    let Some(t) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.pdf");
    std::fs::write(&base, make_pdf(2, false)).unwrap();
    let form = dir.path().join("form.pdf");
    std::fs::write(&form, make_pdf(2, true)).unwrap();
    let hybrid = dir.path().join("hybrid.pdf");
    std::fs::write(&hybrid, make_hybrid()).unwrap();
    let mut inputs = vec![base.clone(), form.clone(), hybrid];
    for (name, args) in [
        ("objstm.pdf", &["--object-streams=generate"][..]),
        ("linear.pdf", &["--linearize"]),
        ("qdf.pdf", &["--qdf"]),
        ("form-objstm.pdf", &["--object-streams=generate"]),
    ] {
        let p = dir.path().join(name);
        qpdf(
            &t,
            args,
            if name.starts_with("form") {
                &form
            } else {
                &base
            },
            &p,
        );
        inputs.push(p);
    }
    for input in &inputs {
        let name = input.file_name().unwrap().to_string_lossy().into_owned();
        let out = dir.path().join(format!("signed-{name}"));
        let before = std::fs::read(input).unwrap();
        let p = sign_with(&t, input, &out, &opts());
        assert_eq!(
            std::fs::read(input).unwrap(),
            before,
            "{name}: the input was changed"
        );
        let signed = std::fs::read(&out).unwrap();
        assert!(
            signed.starts_with(&before),
            "{name}: not an incremental update"
        );
        assert_eq!(p.field_name, "Signature1");
        let (v, log) = pdfsig(&t, &out);
        assert_eq!(v, vec![true], "{name}\n{log}");
        qpdf_check(&t, &out);
        // Our reader sees two revisions, the second ending at the end of the file.
        let r = PdfReader::open(&out).unwrap();
        assert!(r.repairs().is_empty(), "{name}: {:?}", r.repairs());
        let revs = r.revisions();
        assert_eq!(revs.last().unwrap().end + 1, r.len(), "{name}");
        assert_eq!(revs[revs.len() - 2].end, before.len() as u64 - 1, "{name}");
        let expect_stream = name.contains("objstm");
        assert_eq!(
            r.sections()[0].kind == XrefKind::Stream,
            expect_stream,
            "{name}: the update keeps the file's xref style"
        );
        if let Some(log) = pyhanko(&out, name.contains("hybrid")) {
            assert!(log.contains(":VALID"), "{name}: pyHanko\n{log}");
        }
    }
}

#[test]
fn second_signature_keeps_the_first_valid() {
    let Some(t) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    for (label, args) in [
        ("table", &[][..]),
        ("stream", &["--object-streams=generate"][..]),
    ] {
        let base = dir.path().join(format!("{label}-base.pdf"));
        std::fs::write(&base, make_pdf(1, true)).unwrap();
        let input = if args.is_empty() {
            base
        } else {
            let p = dir.path().join(format!("{label}-in.pdf"));
            qpdf(&t, args, &base, &p);
            p
        };
        let one = dir.path().join(format!("{label}-one.pdf"));
        let two = dir.path().join(format!("{label}-two.pdf"));
        sign_with(&t, &input, &one, &opts());
        let mut o2 = opts();
        o2.kind = sign::SignatureKind::Signature(SubFilter::Pkcs7Detached);
        o2.appearance = Some(sign::Appearance {
            rect: [72.0, 100.0, 272.0, 150.0],
            content: b"0 0 1 rg 0 0 200 50 re f".to_vec(),
            resources: pki_core::pdf::Dictionary::new(),
            objects: Vec::new(),
        });
        let p = sign_with(&t, &one, &two, &o2);
        assert_eq!(p.field_name, "Signature2");
        let (v, log) = pdfsig(&t, &two);
        assert_eq!(v, vec![true, true], "{label}\n{log}");
        qpdf_check(&t, &two);
        let r = PdfReader::open(&two).unwrap();
        assert_eq!(r.revisions().len(), 3, "{label}");
        keep(&two);
        if let Some(log) = pyhanko(&two, false) {
            assert_eq!(log.matches(":VALID").count(), 2, "{label}: pyHanko\n{log}");
        }
    }
}

#[test]
fn tampering_is_detected_by_pdfsig() {
    let Some(t) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.pdf");
    std::fs::write(&base, make_pdf(1, false)).unwrap();
    let out = dir.path().join("signed.pdf");
    sign_with(&t, &base, &out, &opts());
    let mut b = std::fs::read(&out).unwrap();
    let at = b.windows(6).position(|w| w == b"Page 1").unwrap();
    b[at + 5] = b'7';
    let bad = dir.path().join("tampered.pdf");
    std::fs::write(&bad, &b).unwrap();
    let (v, log) = pdfsig(&t, &bad);
    assert_eq!(v, vec![false], "{log}");
}

#[test]
fn finish_refuses_a_cms_that_does_not_fit_and_abort_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.pdf");
    std::fs::write(&base, make_pdf(1, false)).unwrap();
    let out = dir.path().join("signed.pdf");
    let mut o = SignatureOptions::pades(16);
    o.hash = hsm::HashAlgorithm::Sha512;
    let p = sign::prepare(&base, &out, &o).unwrap();
    assert_eq!(p.digest, hsm::HashAlgorithm::Sha512.digest(&covered(&p)));
    // The prepared state survives a round trip through JSON (two-phase signing).
    let json = serde_json::to_string(&p).unwrap();
    let p: PreparedSignature = serde_json::from_str(&json).unwrap();
    let e = sign::finish(&p, &[0x30; 17]).unwrap_err();
    assert!(
        matches!(
            e,
            sign::SignError::ContentsTooSmall {
                needed: 17,
                reserved: 16
            }
        ),
        "{e}"
    );
    assert!(!out.exists());
    sign::abort(&p).unwrap();
    assert!(!p.temp_path.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn hostile_and_damaged_inputs_give_clear_errors() {
    let Some(t) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    let good = make_pdf(2, false);
    std::fs::write(p("base.pdf"), &good).unwrap();

    // Encrypted.
    let o = run(Command::new(&t.qpdf)
        .args(["--encrypt", "u", "o", "256", "--"])
        .arg(p("base.pdf"))
        .arg(p("enc.pdf")));
    assert!(o.status.success(), "{}", text(&o));
    let e = PdfReader::open(&p("enc.pdf")).unwrap_err();
    assert!(matches!(e, PdfError::Encrypted), "{e:?}");
    assert_eq!(e.to_string(), "encrypted PDFs are not supported");
    let e = sign::prepare(&p("enc.pdf"), &p("out.pdf"), &opts()).unwrap_err();
    assert!(
        matches!(e, sign::SignError::Pdf(PdfError::Encrypted)),
        "{e:?}"
    );

    // Garbage and empty files.
    std::fs::write(p("garbage.pdf"), b"\x00\x01 this is not a PDF at all").unwrap();
    std::fs::write(p("empty.pdf"), b"").unwrap();
    for n in ["garbage.pdf", "empty.pdf"] {
        let e = PdfReader::open(&p(n)).unwrap_err();
        assert!(matches!(e, PdfError::NotPdf), "{n}: {e:?}");
    }

    // Truncated in the middle of the object data: no xref, no trailer, no catalog left.
    std::fs::write(p("truncated.pdf"), &good[..30]).unwrap();
    let e = PdfReader::open(&p("truncated.pdf")).unwrap_err();
    assert!(matches!(e, PdfError::Damaged { .. }), "{e:?}");

    // Truncated after the objects: rebuilt, and recorded; signing refuses a rebuilt file.
    let cut = good.windows(4).rposition(|w| w == b"xref").unwrap();
    std::fs::write(p("no-xref.pdf"), &good[..cut]).unwrap();
    let mut r = PdfReader::open(&p("no-xref.pdf")).unwrap();
    assert!(r
        .repairs()
        .iter()
        .any(|x| matches!(x, Repair::Reconstructed { .. })));
    assert_eq!(r.page_count().unwrap(), 2);
    let e = sign::prepare(&p("no-xref.pdf"), &p("out.pdf"), &opts()).unwrap_err();
    assert!(
        matches!(e, sign::SignError::Pdf(PdfError::Damaged { .. })),
        "{e:?}"
    );

    // startxref pointing outside the file.
    let s = String::from_utf8_lossy(&good).into_owned();
    let x = s.rfind("startxref\n").unwrap();
    let outside = format!("{}startxref\n99999999999\n%%EOF\n", &s[..x]);
    std::fs::write(p("outside.pdf"), outside).unwrap();
    let r = PdfReader::open(&p("outside.pdf")).unwrap();
    assert!(r
        .repairs()
        .iter()
        .any(|x| matches!(x, Repair::BadStartxref { .. })));

    // An xref entry pointing outside the file: the object is not found, no panic.
    let first_entry = good
        .windows(20)
        .position(|w| w == b"0000000000 65535 f\r\n")
        .unwrap()
        + 20;
    let mut b = good.clone();
    b[first_entry..first_entry + 10].copy_from_slice(b"9999999999");
    std::fs::write(p("entry-outside.pdf"), &b).unwrap();
    let mut r = PdfReader::open(&p("entry-outside.pdf")).unwrap();
    let e = r.catalog().unwrap_err();
    assert!(matches!(e, PdfError::ObjectNotFound { .. }), "{e:?}");

    // Offsets off by a few bytes (an editor added bytes at the top): read, and recorded.
    let mut b = good.clone();
    b.splice(9..9, *b"% shifted\n");
    std::fs::write(p("shifted.pdf"), &b).unwrap();
    let mut r = PdfReader::open(&p("shifted.pdf")).unwrap();
    assert_eq!(r.page_count().unwrap(), 2);
    assert!(r
        .repairs()
        .iter()
        .any(|x| matches!(x, Repair::XrefMoved { .. })));
    assert!(r
        .repairs()
        .iter()
        .any(|x| matches!(x, Repair::ObjectMoved { .. })));

    // Deep nesting and a huge array inside the catalog: errors, no stack overflow.
    for (n, junk) in [
        ("deep.pdf", "[".repeat(100_000)),
        ("wide.pdf", "0 ".repeat(400_000) + "]"),
        ("longstr.pdf", "(".to_string() + &"a".repeat(20 << 20)),
    ] {
        let bad = s.replacen("/Type/Catalog", &format!("/Type/Catalog/X {junk}"), 1);
        std::fs::write(p(n), bad).unwrap();
        // Offsets are now wrong for later objects too; the catalog (object 1) is first.
        match PdfReader::open(&p(n)) {
            Ok(mut r) => assert!(r.catalog().is_err(), "{n}"),
            Err(e) => assert!(!matches!(e, PdfError::Io { .. }), "{n}: {e:?}"),
        }
    }
}

/// An RFC 3161 timestamp token over `data` from the test TSA (openssl ts), as the CMS of a
/// document timestamp.
fn openssl_ts_token(t: &Tools, data: &[u8], dir: &Path) -> Vec<u8> {
    let pki = fixtures().join("pki");
    std::fs::write(dir.join("covered.bin"), data).unwrap();
    std::fs::write(dir.join("serial"), "01\n").unwrap();
    std::fs::write(
        dir.join("ts.cnf"),
        format!(
            "[tsa]\ndefault_tsa = t\n[t]\nserial = {}\ncrypto_device = builtin\n\
             signer_digest = sha256\ndefault_policy = 1.2.3.4.1\ndigests = sha256\n\
             accuracy = secs:1\nordering = no\ntsa_name = no\ness_cert_id_chain = no\n\
             ess_cert_id_alg = sha256\n",
            dir.join("serial").display()
        ),
    )
    .unwrap();
    let o = run(Command::new(&t.openssl)
        .args(["ts", "-query", "-sha256", "-cert", "-no_nonce", "-data"])
        .arg(dir.join("covered.bin"))
        .arg("-out")
        .arg(dir.join("q.tsq")));
    assert!(o.status.success(), "{}", text(&o));
    let o = run(Command::new(&t.openssl)
        .args(["ts", "-reply", "-token_out", "-config"])
        .arg(dir.join("ts.cnf"))
        .arg("-queryfile")
        .arg(dir.join("q.tsq"))
        .arg("-inkey")
        .arg(pki.join("tsa.key.pem"))
        .arg("-signer")
        .arg(pki.join("tsa.pem"))
        .arg("-chain")
        .arg(pki.join("issuing.pem"))
        .arg("-out")
        .arg(dir.join("token.der")));
    assert!(o.status.success(), "{}", text(&o));
    std::fs::read(dir.join("token.der")).unwrap()
}

#[test]
fn document_timestamp_after_a_signature() {
    let Some(t) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.pdf");
    std::fs::write(&base, make_pdf(1, false)).unwrap();
    let signed = dir.path().join("signed.pdf");
    sign_with(&t, &base, &signed, &opts());
    let stamped = dir.path().join("stamped.pdf");
    let p = sign::prepare(&signed, &stamped, &SignatureOptions::doc_timestamp(8192)).unwrap();
    assert_eq!(p.field_name, "Signature2");
    let data = covered(&p);
    assert_eq!(p.digest, hsm::HashAlgorithm::Sha256.digest(&data));
    let token = openssl_ts_token(&t, &data, dir.path());
    sign::finish(&p, &token).unwrap();
    let body = std::fs::read(&stamped).unwrap();
    let s = String::from_utf8_lossy(&body);
    assert!(s.contains("/Type /DocTimeStamp /Filter /Adobe.PPKLite /SubFilter /ETSI.RFC3161"));
    qpdf_check(&t, &stamped);
    let (v, log) = pdfsig(&t, &stamped);
    assert_eq!(v.first(), Some(&true), "the signature stays valid\n{log}");
    if let Some(log) = pyhanko(&stamped, false) {
        assert!(
            log.contains("Signature1:") && log.contains(":VALID"),
            "pyHanko\n{log}"
        );
    }
    // pyHanko's CLI summary lists signatures only; its API validates the timestamp.
    if let Some(py) = require_tool("python3").and_then(|_| interop_tests::find_tool("pyhanko")) {
        let python = py.with_file_name("python3");
        let script = dir.path().join("dts_check.py");
        std::fs::write(&script, DTS_CHECK).unwrap();
        let pki = fixtures().join("pki");
        let o = run(Command::new(python)
            .arg(&script)
            .arg(&stamped)
            .arg(pki.join("root.pem"))
            .arg(pki.join("issuing.pem")));
        let out = text(&o);
        assert!(
            out.contains("Signature2 DTS intact valid trusted"),
            "pyHanko timestamp validation\n{out}"
        );
    }
}

const DTS_CHECK: &str = r#"
import sys
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_timestamp
from pyhanko.keys import load_cert_from_pemder
from pyhanko_certvalidator import ValidationContext
f, root, inter = sys.argv[1:4]
vc = ValidationContext(trust_roots=[load_cert_from_pemder(root)],
                       other_certs=[load_cert_from_pemder(inter)],
                       allow_fetching=False, revocation_mode='soft-fail')
with open(f, 'rb') as fh:
    r = PdfFileReader(fh)
    for s in r.embedded_signatures:
        if s.sig_object_type == '/DocTimeStamp':
            st = validate_pdf_timestamp(s, validation_context=vc)
            print(s.field_name, 'DTS', 'intact' if st.intact else 'BROKEN',
                  'valid' if st.valid else 'INVALID',
                  'trusted' if st.trusted else 'UNTRUSTED', st.timestamp)
"#;

/// Mutated xref-stream, object-stream and linearized files (qpdf's) never panic our reader.
#[test]
fn mutated_qpdf_files_never_panic() {
    let Some(t) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.pdf");
    std::fs::write(&base, make_pdf(3, true)).unwrap();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for args in [&["--object-streams=generate"][..], &["--linearize"][..]] {
        let p = dir.path().join("shape.pdf");
        qpdf(&t, args, &base, &p);
        let good = std::fs::read(&p).unwrap();
        for i in 0..1500 {
            let mut b = good.clone();
            if i % 3 == 0 {
                b.truncate((rnd() % b.len() as u64) as usize);
            } else {
                for _ in 0..(1 + rnd() % 3) {
                    let at = (rnd() % b.len() as u64) as usize;
                    b[at] = (rnd() & 0xff) as u8;
                }
            }
            let len = b.len() as u64;
            let Ok(mut r) = PdfReader::new(std::io::Cursor::new(b), len) else {
                continue;
            };
            let _ = r.page_count();
            for n in 0..3 {
                let _ = r.page(n);
            }
            for n in 0..30 {
                let o = pki_core::pdf::ObjRef::new(n);
                if let Ok(pki_core::pdf::Object::Stream(s)) = r.get(o) {
                    let _ = r.decode_stream(o, &s, 1 << 16);
                }
            }
        }
    }
}

/// Rewrites `pdf` through qpdf (fixing the offsets after a text edit); qpdf exits 3 when it
/// had to repair, which is expected here.
fn qpdf_rewrite(t: &Tools, pdf: &[u8], dir: &Path, name: &str) -> PathBuf {
    let raw = dir.join(format!("{name}.raw.pdf"));
    let out = dir.join(name);
    std::fs::write(&raw, pdf).unwrap();
    let o = run(Command::new(&t.qpdf).arg(&raw).arg(&out));
    assert!(matches!(o.status.code(), Some(0 | 3)), "{}", text(&o));
    out
}

fn replace(pdf: &[u8], from: &str, to: &str) -> Vec<u8> {
    let at = pdf
        .windows(from.len())
        .position(|w| w == from.as_bytes())
        .unwrap_or_else(|| panic!("{from} not found"));
    let mut v = pdf[..at].to_vec();
    v.extend_from_slice(to.as_bytes());
    v.extend_from_slice(&pdf[at + from.len()..]);
    v
}

#[test]
fn forms_certified_documents_and_pdf_2_0() {
    let Some(t) = tools() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let form = make_pdf(1, true);

    // A pre-placed empty signature field (same length as the text field it replaces).
    let empty = replace(&form, "/FT/Tx/T(Name)/V(An)", "/FT/Sig/T(SigLeader)");
    let empty_in = d.join("empty-field.pdf");
    std::fs::write(&empty_in, &empty).unwrap();
    let mut o = opts();
    o.field_name = Some("SigLeader".into());
    o.appearance = Some(sign::Appearance {
        rect: [0.0, 0.0, 228.0, 20.0],
        content: b"0 0 1 rg 0 0 228 20 re f".to_vec(),
        resources: pki_core::pdf::Dictionary::new(),
        objects: Vec::new(),
    });
    let out = d.join("filled.pdf");
    let p = sign_with(&t, &empty_in, &out, &o);
    assert_eq!(p.field_name, "SigLeader");
    keep(&out);
    let (v, log) = pdfsig(&t, &out);
    assert_eq!(v, vec![true], "{log}");
    assert!(
        log.contains("SigLeader") || log.contains("Signature #1"),
        "{log}"
    );
    qpdf_check(&t, &out);
    if let Some(log) = pyhanko(&out, false) {
        assert!(
            log.contains("SigLeader:") && log.contains(":VALID"),
            "{log}"
        );
    }
    // Naming a field that is not an empty signature field is refused.
    o.field_name = Some("SigLeader".into());
    let e = sign::prepare(&out, &d.join("again.pdf"), &o).unwrap_err();
    assert!(matches!(e, sign::SignError::FieldExists(_)), "{e:?}");

    // A direct /AcroForm in the catalog.
    let direct = replace(&form, "/AcroForm 7 0 R", "/AcroForm<</Fields 8 0 R>>");
    let direct_in = qpdf_rewrite(&t, &direct, d, "direct-acroform.pdf");
    let out = d.join("direct-signed.pdf");
    sign_with(&t, &direct_in, &out, &opts());
    let (v, log) = pdfsig(&t, &out);
    assert_eq!(v, vec![true], "{log}");
    qpdf_check(&t, &out);

    // Certified with "no changes allowed": refused before anything is written.
    let certified = replace(
        &form,
        "/Type/Catalog",
        "/Type/Catalog/Perms<</DocMDP<</Type/Sig/Reference[<</TransformMethod/DocMDP/TransformParams<</P 1/V/1.2>>>>]>>>>",
    );
    let certified_in = qpdf_rewrite(&t, &certified, d, "certified.pdf");
    let e = sign::prepare(&certified_in, &d.join("c-out.pdf"), &opts()).unwrap_err();
    assert!(matches!(e, sign::SignError::CertifiedNoChanges), "{e:?}");
    assert_eq!(
        std::fs::read_dir(d)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".partial")
            })
            .count(),
        0
    );

    // PDF 2.0 with object streams.
    let base = d.join("base.pdf");
    std::fs::write(&base, make_pdf(2, false)).unwrap();
    let v20 = d.join("v20.pdf");
    qpdf(
        &t,
        &["--force-version=2.0", "--object-streams=generate"],
        &base,
        &v20,
    );
    let out = d.join("v20-signed.pdf");
    sign_with(&t, &v20, &out, &opts());
    let (v, log) = pdfsig(&t, &out);
    assert_eq!(v, vec![true], "{log}");
    qpdf_check(&t, &out);
    if let Some(log) = pyhanko(&out, false) {
        assert!(log.contains(":VALID"), "{log}");
    }
}
