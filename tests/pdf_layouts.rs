//! The Decree 30/2020 visible signatures through `pki sign --profile ...`: personal then agency
//! on one letter, attachment and copy stamps, plain, and certification signatures. Each output is
//! checked by independent tools: pdfsig (valid, and trusted through an NSS database holding the
//! test root), pyHanko's validator, `qpdf --check`, `pdftotext` (the stamp's text exactly),
//! `pdffonts` (embedded subset with ToUnicode) and `pdftoppm` (the seal rendered at its real
//! size over the left third of the signature, transparency kept).
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should panic with its message"
)]

use interop_tests::{fixtures, pki, require_tool, run, text};
use pki_core::pdf::appearance::layout::{signature_widgets, SignatureWidget, PT_PER_MM};
use pki_core::pdf::PdfReader;
use std::path::Path;
use std::process::Command;

fn f(name: &str) -> String {
    fixtures().join("pki").join(name).display().to_string()
}

/// A temporary directory, kept (and printed) when `KEEP_TEST_OUTPUT` is set.
struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }
    fn p(&self, n: &str) -> String {
        self.0.path().join(n).display().to_string()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        if std::env::var_os("KEEP_TEST_OUTPUT").is_some() {
            let kept = std::env::temp_dir().join(format!(
                "pdf-layouts-{}",
                self.0.path().file_name().unwrap().to_string_lossy()
            ));
            let _ = std::fs::create_dir_all(&kept);
            for e in std::fs::read_dir(self.0.path()).unwrap().flatten() {
                let _ = std::fs::copy(e.path(), kept.join(e.file_name()));
            }
            eprintln!("kept test output in {}", kept.display());
        }
    }
}

const SIGNER_TITLE: [&str; 2] = ["KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH"];

fn inputs(d: &Dir) {
    let letter =
        pki_core::pdf::sample::official_letter("15/QĐ-UBND", &SIGNER_TITLE, "Nguyễn Văn An");
    std::fs::write(d.p("letter.pdf"), letter).unwrap();
    std::fs::write(d.p("signature.png"), pki_core::pdf::sample::signature_png()).unwrap();
    std::fs::write(d.p("seal.png"), pki_core::pdf::sample::seal_png(36.0)).unwrap();
    std::fs::write(
        d.p("appendix.pdf"),
        pki_core::pdf::sample::one_page(&["Phu luc 1: danh sach"]),
    )
    .unwrap();
}

/// `pki sign INPUT -o OUT` as the fixture signer `who`, with `extra` arguments.
fn run_sign(d: &Dir, input: &str, out: &str, who: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "sign".to_owned(),
        d.p(input),
        "-o".into(),
        d.p(out),
        "--key".into(),
        f(&format!("{who}.key.pem")),
        "--cert".into(),
        f(&format!("{who}.chain.pem")),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    pki(&args)
}

fn sign(d: &Dir, input: &str, out: &str, who: &str, extra: &[&str]) -> String {
    let o = run_sign(d, input, out, who, extra);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    text(&o)
}

fn fails(d: &Dir, input: &str, out: &str, who: &str, extra: &[&str]) -> (i32, String) {
    let o = run_sign(d, input, out, who, extra);
    assert!(!Path::new(&d.p(out)).exists(), "a failure left {out}");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// An NSS database trusting the test root, for pdfsig.
fn nss_db(d: &Dir) -> Option<String> {
    let certutil = require_tool("certutil")?;
    let db = d.p("nss");
    let sql = format!("sql:{db}");
    if Path::new(&db).exists() {
        return Some(sql);
    }
    std::fs::create_dir_all(&db).unwrap();
    let o = run(Command::new(&certutil)
        .args(["-N", "-d", &sql, "--empty-password"])
        .stdin(std::process::Stdio::null()));
    assert!(o.status.success(), "{}", text(&o));
    let o = run(Command::new(&certutil)
        .args(["-A", "-d", &sql, "-n", "test-root", "-t", "CT,C,C", "-i"])
        .arg(f("root.pem")));
    assert!(o.status.success(), "{}", text(&o));
    Some(sql)
}

/// pdfsig: `n` signatures, all valid and with a trusted certificate.
fn pdfsig_accepts(d: &Dir, file: &str, n: usize) {
    let Some(pdfsig) = require_tool("pdfsig") else {
        return;
    };
    let Some(db) = nss_db(d) else { return };
    // -no-ocsp: the fixture certificates name an OCSP responder on a loopback port nothing
    // listens on; revocation is not what these tests are about.
    let log = text(&run(Command::new(pdfsig)
        .args(["-no-ocsp", "-nssdir", &db])
        .arg(file)));
    assert_eq!(
        log.matches("Signature is Valid").count(),
        n,
        "{file}\n{log}"
    );
    assert_eq!(
        log.matches("Certificate is Trusted").count(),
        n,
        "{file}\n{log}"
    );
}

/// pyHanko's validator: `n` signatures, each intact and valid against the test root.
fn pyhanko_accepts(file: &str, n: usize) -> Option<String> {
    let py = require_tool("pyhanko")?;
    let o = run(Command::new(py)
        .args([
            "sign",
            "validate",
            "--no-revocation-check",
            "--trust-replace",
            "--trust",
        ])
        .arg(f("root.pem"))
        .arg("--other-certs")
        .arg(f("issuing.pem"))
        .arg("--executive-summary")
        .arg(file));
    let log = text(&o);
    assert_eq!(log.matches(":VALID").count(), n, "{file}\n{log}");
    Some(log)
}

fn qpdf_clean(file: &str) {
    let Some(qpdf) = require_tool("qpdf") else {
        return;
    };
    let o = run(Command::new(qpdf).arg("--check").arg(file));
    assert_eq!(o.status.code(), Some(0), "{file}\n{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("No syntax or stream encoding errors"),
        "{}",
        text(&o)
    );
}

fn all_accept(d: &Dir, file: &str, n: usize) {
    pdfsig_accepts(d, file, n);
    pyhanko_accepts(file, n);
    qpdf_clean(file);
}

fn widgets(file: &str) -> Vec<SignatureWidget> {
    let mut r = PdfReader::open(Path::new(file)).unwrap();
    signature_widgets(&mut r).unwrap()
}

/// A page rendered at 72 dpi (1 px = 1 pt): width, height, RGB bytes.
struct Render {
    w: usize,
    h: usize,
    rgb: Vec<u8>,
}

impl Render {
    fn of(d: &Dir, file: &str) -> Option<Self> {
        let pdftoppm = require_tool("pdftoppm")?;
        let prefix = d.p("render");
        let o = run(Command::new(pdftoppm)
            .args(["-r", "72", "-f", "1", "-l", "1", "-singlefile"])
            .arg(file)
            .arg(&prefix));
        assert!(o.status.success(), "{}", text(&o));
        let data = std::fs::read(format!("{prefix}.ppm")).unwrap();
        // P6\n<w> <h>\n255\n<rgb>
        let mut fields = Vec::new();
        let mut i = 0;
        while fields.len() < 4 {
            while data[i].is_ascii_whitespace() {
                i += 1;
            }
            let s = i;
            while !data[i].is_ascii_whitespace() {
                i += 1;
            }
            fields.push(String::from_utf8_lossy(&data[s..i]).into_owned());
        }
        assert_eq!(fields[0], "P6");
        let (w, h) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
        Some(Self {
            w,
            h,
            rgb: data[i + 1..].to_vec(),
        })
    }

    /// The pixel under PDF point (x, y).
    fn at(&self, x: f64, y: f64) -> [u8; 3] {
        let px = (x.floor() as usize).min(self.w - 1);
        let py = ((self.h as f64 - y).floor() as usize).min(self.h - 1);
        let i = (py * self.w + px) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Bounding box in PDF points `[x0 y0 x1 y1]` of the pixels matching `pred` inside `area`,
    /// and how many there are.
    fn bbox(&self, area: [f64; 4], pred: impl Fn([u8; 3]) -> bool) -> ([f64; 4], usize) {
        let mut b = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
        let mut n = 0;
        let mut y = area[1].max(0.0) + 0.5;
        while y < area[3] {
            let mut x = area[0].max(0.0) + 0.5;
            while x < area[2] {
                if pred(self.at(x, y)) {
                    n += 1;
                    b = [
                        b[0].min(x - 0.5),
                        b[1].min(y - 0.5),
                        b[2].max(x + 0.5),
                        b[3].max(y + 0.5),
                    ];
                }
                x += 1.0;
            }
            y += 1.0;
        }
        (b, n)
    }
}

fn red(p: [u8; 3]) -> bool {
    p[0] > 150 && p[1] < 100 && p[2] < 100
}

fn blue(p: [u8; 3]) -> bool {
    p[2] > 120 && p[0] < 90 && p[1] < 120
}

fn white(p: [u8; 3]) -> bool {
    p.iter().all(|&c| c > 235)
}

#[test]
fn personal_then_agency_on_one_letter() {
    let d = Dir::new();
    inputs(&d);
    // The personal signature goes above the signer's name (from the certificate), found on
    // the page; the seal at its real size (36 mm, from the PNG's pHYs) beside it.
    sign(
        &d,
        "letter.pdf",
        "personal.pdf",
        "officer-rsa",
        &["--profile", "personal", "--image", &d.p("signature.png")],
    );
    all_accept(&d, &d.p("personal.pdf"), 1);
    sign(
        &d,
        "personal.pdf",
        "agency.pdf",
        "agency",
        &["--profile", "agency", "--image", &d.p("seal.png")],
    );
    all_accept(&d, &d.p("agency.pdf"), 2);

    let w = widgets(&d.p("agency.pdf"));
    assert_eq!(w.len(), 2, "{w:?}");
    let p = w[0].visible.unwrap();
    let a = w[1].visible.unwrap();
    // Personal: between the title (baseline 314) and the name (baseline 218), centred on x=420.
    assert!(p[1] > 218.0 && p[3] < 314.0, "{p:?}");
    assert!(((p[0] + p[2]) / 2.0 - 420.0).abs() < 1.0, "{p:?}");
    // Agency: 36 mm square; its right edge one third into the personal widget; same centre line.
    let seal = 36.0 * PT_PER_MM;
    assert!(
        (a[2] - a[0] - seal).abs() < 0.5 && (a[3] - a[1] - seal).abs() < 0.5,
        "{a:?}"
    );
    assert!(
        (a[2] - (p[0] + (p[2] - p[0]) / 3.0)).abs() < 0.5,
        "{a:?} {p:?}"
    );
    assert!(((a[1] + a[3]) / 2.0 - (p[1] + p[3]) / 2.0).abs() < 0.5);

    let Some(img) = Render::of(&d, &d.p("agency.pdf")) else {
        return;
    };
    // The red seal as rendered: 36 mm (102 pt) across, where the widget says.
    let around = [a[0] - 20.0, a[1] - 20.0, a[2] + 20.0, a[3] + 20.0];
    let (rb, rn) = img.bbox(around, red);
    assert!(rn > 500, "too few red pixels: {rn}");
    let mm = |v: f64| v / PT_PER_MM;
    assert!(
        (mm(rb[2] - rb[0]) - 36.0).abs() < 1.0,
        "seal width {} mm",
        mm(rb[2] - rb[0])
    );
    assert!(
        (mm(rb[3] - rb[1]) - 36.0).abs() < 1.0,
        "seal height {} mm",
        mm(rb[3] - rb[1])
    );
    assert!(
        (rb[2] - a[2]).abs() < 2.0 && (rb[0] - a[0]).abs() < 2.0,
        "{rb:?} {a:?}"
    );
    // Overlapping the personal signature's left third.
    assert!(rb[2] > p[0] + 20.0 && rb[0] < p[0], "{rb:?} {p:?}");
    // The blue signature stays visible to the right of the seal.
    let (_, bn) = img.bbox([a[2] + 1.0, p[1], p[2], p[3]], blue);
    assert!(bn > 300, "blue pixels right of the seal: {bn}");
    // Transparency kept: the seal's transparent corners are not red (its PNG stores red
    // under alpha 0) and the signature's background is not blue.
    for (x, y) in [(a[0] + 3.0, a[1] + 3.0), (a[0] + 3.0, a[3] - 3.0)] {
        assert!(
            !red(img.at(x, y)),
            "opaque seal corner at {x},{y}: {:?}",
            img.at(x, y)
        );
    }
    let (_, pn) = img.bbox(p, blue);
    let area = ((p[2] - p[0]) * (p[3] - p[1])) as usize;
    assert!(
        pn < area / 3,
        "signature background opaque? {pn} of {area} blue"
    );
    let (_, wn) = img.bbox([a[2] + 1.0, p[1], p[2], p[3]], white);
    assert!(
        wn > 1000,
        "no page background visible through the signature: {wn}"
    );

    // One byte of the seal's image changed: the agency signature no longer verifies.
    let mut bytes = std::fs::read(d.p("agency.pdf")).unwrap();
    let img_at = bytes
        .windows(14)
        .rposition(|w| w == b"/Subtype/Image" || w == b"/Subtype /Imag")
        .unwrap();
    let data_at = img_at
        + bytes[img_at..]
            .windows(7)
            .position(|w| w == b"stream\n")
            .unwrap()
        + 20;
    bytes[data_at] ^= 0x55;
    std::fs::write(d.p("tampered.pdf"), &bytes).unwrap();
    if let Some(pdfsig) = require_tool("pdfsig") {
        let log = text(&run(Command::new(pdfsig)
            .arg("-no-ocsp")
            .arg(d.p("tampered.pdf"))));
        assert_eq!(log.matches("Signature is Valid").count(), 1, "{log}");
        assert!(log.contains("Digest Mismatch"), "{log}");
    }

    // Our verifier agrees.
    let o = pki(&[
        "verify",
        &d.p("agency.pdf"),
        "--trust",
        &f("root.pem"),
        "--offline",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["signatures"].as_array().unwrap().len(), 2, "{}", text(&o));
    assert_eq!(
        v["signatures"][1]["indication"],
        "TOTAL-PASSED",
        "{}",
        text(&o)
    );
}

/// `pdftotext` of the rectangle `r` (PDF points) of page 1.
fn text_in(file: &str, r: [f64; 4], page_h: f64) -> Option<String> {
    let pdftotext = require_tool("pdftotext")?;
    let o = run(Command::new(pdftotext)
        .args(["-f", "1", "-l", "1", "-r", "72"])
        .args(["-x", &format!("{}", r[0].floor() as i64)])
        .args(["-y", &format!("{}", (page_h - r[3]).floor() as i64)])
        .args(["-W", &format!("{}", (r[2] - r[0]).ceil() as i64 + 1)])
        .args(["-H", &format!("{}", (r[3] - r[1]).ceil() as i64 + 1)])
        .arg(file)
        .arg("-"));
    assert!(o.status.success(), "{}", text(&o));
    Some(String::from_utf8(o.stdout).unwrap())
}

/// The signing time `/M` of the last signature, as Decree 30 shows it.
fn shown_time(file: &str) -> String {
    let mut r = PdfReader::open(Path::new(file)).unwrap();
    let (_, cat) = r.catalog().unwrap();
    let acro = r.get_in(&cat, "AcroForm").unwrap().unwrap();
    let fields = r
        .get_in(acro.as_dict().unwrap(), "Fields")
        .unwrap()
        .unwrap();
    let last = fields.as_array().unwrap().last().unwrap().clone();
    let field = r.resolve(&last).unwrap();
    let v = r.get_in(field.as_dict().unwrap(), "V").unwrap().unwrap();
    let m = v
        .as_dict()
        .unwrap()
        .get("M")
        .unwrap()
        .as_string()
        .unwrap()
        .to_text();
    // D:YYYYMMDDHHmmSS+HH'mm'
    let t = time::PrimitiveDateTime::parse(
        &m[2..16],
        time::macros::format_description!("[year][month][day][hour][minute][second]"),
    )
    .unwrap();
    let sign = if &m[16..17] == "-" { -1 } else { 1 };
    let off = time::UtcOffset::from_hms(sign * m[17..19].parse::<i8>().unwrap(), 0, 0).unwrap();
    pki_core::pdf::appearance::layout::vietnam_time(t.assume_offset(off))
}

fn fonts_embedded_subset_unicode(file: &str, expect: usize) {
    let Some(pdffonts) = require_tool("pdffonts") else {
        return;
    };
    let o = run(Command::new(pdffonts).arg(file));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let ours: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("+LiberationSerif"))
        .collect();
    assert_eq!(ours.len(), expect, "{out}");
    for l in ours {
        let cols: Vec<&str> = l.split_whitespace().collect();
        // name type... encoding emb sub uni object ID
        let n = cols.len();
        assert_eq!(
            &cols[n - 5..n - 2],
            ["yes", "yes", "yes"],
            "emb/sub/uni: {l}\n{out}"
        );
        assert!(
            l.contains("CID TrueType") && l.contains("Identity-H"),
            "{l}"
        );
    }
}

#[test]
fn attachment_stamp_text_copies_out_exactly() {
    let d = Dir::new();
    inputs(&d);
    sign(
        &d,
        "appendix.pdf",
        "att.pdf",
        "agency",
        &["--profile", "attachment", "--doc-number", "15/QĐ-UBND"],
    );
    all_accept(&d, &d.p("att.pdf"), 1);
    let w = widgets(&d.p("att.pdf"));
    let r = w[0].visible.unwrap();
    // Top right of page 1 (A4: 595 x 842), inside the margins.
    assert!((r[3] - (842.0 - 6.0 * PT_PER_MM)).abs() < 0.01, "{r:?}");
    assert!(r[2] <= 595.0 - 40.0 && r[2] > 595.0 - 45.0, "{r:?}");
    let time = shown_time(&d.p("att.pdf"));
    assert!(time.ends_with("+07:00") && time.len() == 25, "{time}");
    if let Some(t) = text_in(&d.p("att.pdf"), r, 842.0) {
        assert_eq!(
            t.trim_end_matches(['\n', '\u{c}']).trim(),
            format!("15/QĐ-UBND\n{time}")
        );
    }
    fonts_embedded_subset_unicode(&d.p("att.pdf"), 1);
    // Rendered black, 10 pt: dark pixels inside the widget, no colour.
    if let Some(img) = Render::of(&d, &d.p("att.pdf")) {
        let (b, n) = img.bbox(r, |p| p.iter().all(|&c| c < 80));
        assert!(n > 100, "{n}");
        // Two lines of 10 pt: about 22 pt from the top of the digits to the bottom of the time.
        assert!(b[3] - b[1] > 16.0 && b[3] - b[1] < 26.0, "{b:?}");
    }
    // Without a number: one clear sentence, exit 2, nothing written.
    let (code, err) = fails(
        &d,
        "appendix.pdf",
        "att2.pdf",
        "agency",
        &["--profile", "attachment"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--doc-number"), "{err}");
}

#[test]
fn copy_stamp_names_the_form_the_agency_and_the_time() {
    let d = Dir::new();
    inputs(&d);
    sign(
        &d,
        "letter.pdf",
        "copy.pdf",
        "agency",
        &["--profile", "copy", "--copy-form", "SAO LỤC"],
    );
    all_accept(&d, &d.p("copy.pdf"), 1);
    let r = widgets(&d.p("copy.pdf"))[0].visible.unwrap();
    let time = shown_time(&d.p("copy.pdf"));
    if let Some(t) = text_in(&d.p("copy.pdf"), r, 842.0) {
        // The copying agency defaults to the certificate's name.
        assert_eq!(
            t.trim_end_matches(['\n', '\u{c}']).trim(),
            format!("SAO LỤC\nỦy ban nhân dân tỉnh Bắc Ninh\n{time}")
        );
    }
    // The letter's own font and the stamp's subset.
    fonts_embedded_subset_unicode(&d.p("copy.pdf"), 2);
}

#[test]
fn plain_is_invisible_or_a_custom_image_and_text() {
    let d = Dir::new();
    inputs(&d);
    sign(&d, "letter.pdf", "inv.pdf", "officer-ec", &[]);
    assert!(widgets(&d.p("inv.pdf"))[0].visible.is_none());
    sign(
        &d,
        "letter.pdf",
        "vis.pdf",
        "officer-ec",
        &[
            "--image",
            &d.p("signature.png"),
            "--text",
            "Đã ký: Trần Thị Bình\\nSở Tư pháp",
            "--rect",
            "60mm,40mm,80mm,20mm",
            "--page",
            "1",
        ],
    );
    all_accept(&d, &d.p("vis.pdf"), 1);
    let r = widgets(&d.p("vis.pdf"))[0].visible.unwrap();
    let mm = 72.0 / 25.4;
    assert!(
        (r[0] - 60.0 * mm).abs() < 0.01 && (r[2] - r[0] - 80.0 * mm).abs() < 0.01,
        "{r:?}"
    );
    if let Some(t) = text_in(&d.p("vis.pdf"), r, 842.0) {
        assert!(
            t.contains("Đã ký: Trần Thị Bình") && t.contains("Sở Tư pháp"),
            "{t}"
        );
    }
    // Another font from a file (Debian fonts-liberation2): embedded as a subset instead.
    if let Some(sans) = interop_tests::require_file(
        "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
    ) {
        let sans = sans.display().to_string();
        sign(
            &d,
            "appendix.pdf",
            "sans.pdf",
            "officer-ec",
            &[
                "--profile",
                "attachment",
                "--doc-number",
                "9/SY-VP",
                "--font",
                &sans,
            ],
        );
        all_accept(&d, &d.p("sans.pdf"), 1);
        if let Some(pdffonts) = require_tool("pdffonts") {
            let out = text(&run(Command::new(pdffonts).arg(d.p("sans.pdf"))));
            assert!(
                out.contains("+LiberationSans ") && out.contains("yes yes yes"),
                "{out}"
            );
        }
    }
    let (code, err) = fails(
        &d,
        "letter.pdf",
        "x.pdf",
        "officer-ec",
        &[
            "--text",
            "a",
            "--rect",
            "1,2,3,4",
            "--font",
            &d.p("seal.png"),
        ],
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("not a readable TrueType"), "{err}");
    // A rectangle with nothing to show, a bad rectangle, a page that does not exist.
    let (code, err) = fails(
        &d,
        "letter.pdf",
        "x.pdf",
        "officer-ec",
        &["--rect", "1,2,3,4"],
    );
    assert_eq!(code, 2, "{err}");
    let (code, err) = fails(
        &d,
        "letter.pdf",
        "x.pdf",
        "officer-ec",
        &["--text", "a", "--rect", "1,2,-3,4"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("X,Y,W,H"), "{err}");
    let (code, err) = fails(
        &d,
        "letter.pdf",
        "x.pdf",
        "officer-ec",
        &["--text", "a", "--rect", "1,2,3,4", "--page", "3"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("page 3 does not exist"), "{err}");
}

#[test]
fn layout_errors_are_one_clear_sentence_and_leave_nothing() {
    let d = Dir::new();
    inputs(&d);
    let (code, err) = fails(
        &d,
        "letter.pdf",
        "x.pdf",
        "officer-rsa",
        &["--profile", "personal"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--image"), "{err}");
    // The ECDSA officer's name is not on the letter.
    let (code, err) = fails(
        &d,
        "letter.pdf",
        "x.pdf",
        "officer-ec",
        &["--profile", "personal", "--image", &d.p("signature.png")],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("Trần Thị Bình") && err.contains("--rect"),
        "{err}"
    );
    // Decree 30 Art. 32: the seal only on a document the competent person signed.
    let (code, err) = fails(
        &d,
        "letter.pdf",
        "x.pdf",
        "agency",
        &["--profile", "agency", "--image", &d.p("seal.png")],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no signature yet"), "{err}");
    // In Vietnamese for officers.
    let (code, err) = fails(
        &d,
        "letter.pdf",
        "x.pdf",
        "agency",
        &[
            "--profile",
            "agency",
            "--image",
            &d.p("seal.png"),
            "--lang",
            "vi",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("lỗi: không đặt được chữ ký") && err.contains("Điều 32"),
        "{err}"
    );
    // A seal without a physical size needs --seal-size.
    std::fs::write(d.p("nophys.png"), pki_core::pdf::sample::signature_png()).unwrap();
    sign(
        &d,
        "letter.pdf",
        "p.pdf",
        "officer-rsa",
        &["--profile", "personal", "--image", &d.p("signature.png")],
    );
    let (code, err) = fails(
        &d,
        "p.pdf",
        "x.pdf",
        "agency",
        &["--profile", "agency", "--image", &d.p("nophys.png")],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--seal-size"), "{err}");
    sign(
        &d,
        "p.pdf",
        "a40.pdf",
        "agency",
        &[
            "--profile",
            "agency",
            "--image",
            &d.p("nophys.png"),
            "--seal-size",
            "40",
        ],
    );
    let a = widgets(&d.p("a40.pdf"))[1].visible.unwrap();
    assert!(((a[2] - a[0]) / PT_PER_MM - 40.0).abs() < 0.1, "{a:?}");
    // Not a PNG.
    let (code, err) = fails(
        &d,
        "letter.pdf",
        "x.pdf",
        "officer-rsa",
        &["--profile", "personal", "--image", &d.p("letter.pdf")],
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("not a readable PNG"), "{err}");
}

/// pyHanko's view of the first signature: its DocMDP level, whether the catalog's
/// `/Perms /DocMDP` is this signature, and the validation status.
const PYHANKO_CERTIFICATION: &str = r#"
import sys
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from pyhanko.keys import load_cert_from_pemder
f, root, inter = sys.argv[1:4]
with open(f, 'rb') as fh:
    r = PdfFileReader(fh)
    s = r.embedded_signatures[0]
    perms = r.root.get('/Perms')
    print('perms', perms is not None and perms.raw_get('/DocMDP').reference == s.sig_object.container_ref)
    print('level', s.docmdp_level)
    vc = ValidationContext(trust_roots=[load_cert_from_pemder(root)], other_certs=[load_cert_from_pemder(inter)])
    st = validate_pdf_signature(s, vc)
    print('intact', st.intact, 'valid', st.valid, 'trusted', st.trusted, 'docmdp_ok', st.docmdp_ok)
"#;

fn pyhanko_certification(d: &Dir, file: &str) -> Option<String> {
    require_tool("pyhanko")?;
    let py = require_tool("python3")?;
    std::fs::write(d.p("cert.py"), PYHANKO_CERTIFICATION).unwrap();
    let o = run(Command::new(py)
        .arg(d.p("cert.py"))
        .arg(file)
        .arg(f("root.pem"))
        .arg(f("issuing.pem")));
    Some(text(&o))
}

#[test]
fn certification_signatures_carry_their_docmdp_level() {
    let d = Dir::new();
    inputs(&d);
    for (arg, level) in [("--certify=1", 1), ("--certify", 2), ("--certify=3", 3)] {
        let out = format!("cert{level}.pdf");
        sign(
            &d,
            "letter.pdf",
            &out,
            "agency",
            &[arg, "--profile", "attachment", "--doc-number", "7/UBND-VP"],
        );
        all_accept(&d, &d.p(&out), 1);
        if let Some(log) = pyhanko_certification(&d, &d.p(&out)) {
            let want = match level {
                1 => "MDPPerm.NO_CHANGES",
                2 => "MDPPerm.FILL_FORMS",
                _ => "MDPPerm.ANNOTATE",
            };
            assert!(
                log.contains(&format!("level {want}")),
                "level {level}: {log}"
            );
            assert!(log.contains("perms True"), "{log}");
            assert!(
                log.contains("intact True valid True trusted True docmdp_ok True"),
                "{log}"
            );
        }
    }
    // Only the first signature can certify; after /P 1 nothing may be added.
    let (code, err) = fails(&d, "cert2.pdf", "x.pdf", "officer-rsa", &["--certify"]);
    assert_ne!(code, 0);
    assert!(err.contains("already signed"), "{err}");
    let (code, err) = fails(&d, "cert1.pdf", "x.pdf", "officer-rsa", &[]);
    assert_ne!(code, 0);
    assert!(err.contains("no changes allowed"), "{err}");
    // /P 2 allows a further signature.
    sign(&d, "cert2.pdf", "cert2-signed.pdf", "officer-rsa", &[]);
    all_accept(&d, &d.p("cert2-signed.pdf"), 2);
}

/// A key on SoftHSM2 (RSA-2048) signs a batch with the personal layout: one token login, the
/// signature above the officer's name on each letter, each output accepted by pdfsig, pyHanko
/// and qpdf. (PKCS#11: run this file with `cargo nextest`, one process per test.)
#[test]
fn softhsm_key_signs_a_batch_with_the_personal_layout() {
    use interop_tests::pkcs11::{issue_on_token, softhsm};
    let Some(t) = softhsm("Văn phòng UBND") else {
        return;
    };
    let d = Dir::new();
    inputs(&d);
    issue_on_token(
        &t,
        "rsa2048",
        "lanh-dao",
        "CN=Lê Thị Hoa,UID=CCCD:001099054321,O=Văn phòng UBND tỉnh,C=VN",
        "personal",
    );
    let batch = d.p("batch");
    std::fs::create_dir_all(&batch).unwrap();
    for n in ["a", "b"] {
        std::fs::write(
            format!("{batch}/{n}.pdf"),
            pki_core::pdf::sample::official_letter(
                &format!("{n}/UBND-VP"),
                &["CHỦ TỊCH"],
                "Lê Thị Hoa",
            ),
        )
        .unwrap();
    }
    let out = d.p("signed");
    let o = t.pki(&[
        "sign",
        &batch,
        "--out-dir",
        &out,
        "--key",
        &t.uri("object=lanh-dao"),
        "--profile",
        "personal",
        "--image",
        &d.p("signature.png"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("2/2"),
        "{}",
        text(&o)
    );
    for n in ["a", "b"] {
        let file = format!("{out}/{n}.pdf");
        let w = widgets(&file);
        let r = w[0].visible.unwrap();
        // Between the title (baseline 330) and the name (baseline 234), centred on x=420.
        assert!(r[1] > 234.0 && r[3] < 330.0, "{r:?}");
        assert!(((r[0] + r[2]) / 2.0 - 420.0).abs() < 1.0, "{r:?}");
        all_accept(&d, &file, 1);
    }
    assert!(!text(&o).contains(&t.pin));
}

/// pyHanko draws a signature block (a form XObject with its Courier font) on a page; the
/// personal signature finds the name there and sits above it, centred, as poppler sees the
/// name (`pdftotext -bbox`).
const PYHANKO_STAMP: &str = r#"
import sys
from pyhanko.stamp import TextStamp, TextStampStyle
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
src, out = sys.argv[1:3]
with open(src, 'rb') as fh:
    w = IncrementalPdfFileWriter(fh)
    style = TextStampStyle(
        stamp_text='KT. GIAM DOC\nPHO GIAM DOC\n\n\n\n\nTran Thi Binh',
        text_box_style=TextBoxStyle(font_size=13), border_width=0, background=None)
    TextStamp(w, style).apply(dest_page=0, x=360, y=150)
    with open(out, 'wb') as o:
        w.write(o)
"#;

#[test]
fn personal_signature_finds_the_name_on_a_page_pyhanko_drew() {
    let d = Dir::new();
    inputs(&d);
    let (Some(_), Some(py), Some(pdftotext)) = (
        require_tool("pyhanko"),
        require_tool("python3"),
        require_tool("pdftotext"),
    ) else {
        return;
    };
    std::fs::write(d.p("stamp.py"), PYHANKO_STAMP).unwrap();
    let o = run(Command::new(py)
        .arg(d.p("stamp.py"))
        .arg(d.p("appendix.pdf"))
        .arg(d.p("block.pdf")));
    assert!(o.status.success(), "{}", text(&o));
    sign(
        &d,
        "block.pdf",
        "signed.pdf",
        "officer-ec",
        &[
            "--profile",
            "personal",
            "--image",
            &d.p("signature.png"),
            "--anchor",
            "tran thi  binh",
        ],
    );
    all_accept(&d, &d.p("signed.pdf"), 1);
    let r = widgets(&d.p("signed.pdf"))[0].visible.unwrap();
    // poppler's word boxes (top-left origin) for the name.
    let o = run(Command::new(pdftotext)
        .args(["-bbox", "-f", "1", "-l", "1"])
        .arg(d.p("block.pdf"))
        .arg("-"));
    let html = String::from_utf8_lossy(&o.stdout).into_owned();
    let word = |w: &str| -> [f64; 4] {
        let line = html
            .lines()
            .find(|l| l.contains(&format!(">{w}</word>")))
            .unwrap();
        let attr = |k: &str| -> f64 {
            let s = &line[line.find(&format!("{k}=\"")).unwrap() + k.len() + 2..];
            s[..s.find('"').unwrap()].parse().unwrap()
        };
        [attr("xMin"), attr("yMin"), attr("xMax"), attr("yMax")]
    };
    let (tran, binh) = (word("Tran"), word("Binh"));
    let name_top = 842.0 - tran[1];
    let name_centre = (tran[0] + binh[2]) / 2.0;
    assert!(
        r[1] >= name_top - 2.0 && r[1] < name_top + 6.0,
        "{r:?} name top {name_top}"
    );
    assert!(
        ((r[0] + r[2]) / 2.0 - name_centre).abs() < 2.0,
        "{r:?} name centre {name_centre}"
    );
    // Below "PHO GIAM DOC".
    let title = word("PHO");
    assert!(
        r[3] <= 842.0 - title[3] + 1.0,
        "{r:?} title bottom {}",
        842.0 - title[3]
    );
}

/// On a page qpdf turned by 90° (`/Rotate 90`), the attachment stamp is still at the top right
/// as the page is shown, and upright: poppler renders it there, wider than tall.
#[test]
fn stamps_follow_the_page_rotation() {
    let d = Dir::new();
    inputs(&d);
    let Some(qpdf) = require_tool("qpdf") else {
        return;
    };
    for (turn, name) in [("+90", "r90.pdf"), ("180", "r180.pdf"), ("-90", "r270.pdf")] {
        let o = run(Command::new(&qpdf)
            .arg(format!("--rotate={turn}:1"))
            .arg(d.p("appendix.pdf"))
            .arg(d.p(name)));
        assert!(o.status.success(), "{}", text(&o));
        let out = format!("stamped-{name}");
        sign(
            &d,
            name,
            &out,
            "agency",
            &["--profile", "attachment", "--doc-number", "15/QĐ-UBND"],
        );
        all_accept(&d, &d.p(&out), 1);
        let Some(img) = Render::of(&d, &d.p(&out)) else {
            return;
        };
        let (w, h) = (img.w as f64, img.h as f64);
        assert_eq!(
            (w, h),
            if turn == "180" {
                (595.0, 842.0)
            } else {
                (842.0, 595.0)
            }
        );
        // Dark pixels in the top right corner band (render coordinates as PDF points with the
        // origin at the displayed lower left).
        let band = [w - 200.0, h - 60.0, w, h];
        let (b, n) = img.bbox(band, |p| p.iter().all(|&c| c < 80));
        assert!(n > 100, "{name}: no stamp at the top right ({n})");
        assert!(
            b[2] - b[0] > 3.0 * (b[3] - b[1]),
            "{name}: stamp not upright: {b:?}"
        );
        assert!((b[2] - (w - 15.0 * PT_PER_MM)).abs() < 6.0, "{name}: {b:?}");
        if let Some(pdftotext) = require_tool("pdftotext") {
            let o = run(Command::new(pdftotext).arg(d.p(&out)).arg("-"));
            let t = String::from_utf8_lossy(&o.stdout).into_owned();
            assert!(t.contains("15/QĐ-UBND\n"), "{name}: {t}");
        }
    }
}

/// The anchor search on text that real producers re-encoded: the Vietnamese letter passed
/// through Ghostscript's pdfwrite and through cairo (`pdftocairo -pdf`), each with its own font
/// subsets, CID fonts and ToUnicode maps (cairo splits the name over a CID font and a WinAnsi
/// TrueType subset). The personal signature lands on the signer's name as poppler sees it on
/// the re-encoded page, and the outputs are accepted.
#[test]
fn anchor_found_in_ghostscript_and_cairo_output() {
    let d = Dir::new();
    inputs(&d);
    let (Some(gs), Some(pdftocairo), Some(pdftotext)) = (
        require_tool("gs"),
        require_tool("pdftocairo"),
        require_tool("pdftotext"),
    ) else {
        return;
    };
    let o = run(Command::new(gs)
        .args(["-q", "-dNOPAUSE", "-dBATCH", "-dSAFER", "-sDEVICE=pdfwrite"])
        .arg(format!("-sOutputFile={}", d.p("gs.pdf")))
        .arg(d.p("letter.pdf")));
    assert!(o.status.success(), "{}", text(&o));
    let o = run(Command::new(pdftocairo)
        .arg("-pdf")
        .arg(d.p("letter.pdf"))
        .arg(d.p("cairo.pdf")));
    assert!(o.status.success(), "{}", text(&o));
    let letter = std::fs::read(d.p("letter.pdf")).unwrap();
    let at = letter
        .windows(16)
        .position(|w| w == b"+LiberationSerif")
        .unwrap();
    let our_tag = letter[at - 6..at + 16].to_vec();
    for producer in ["gs", "cairo"] {
        let input = format!("{producer}.pdf");
        let out = format!("signed-{producer}.pdf");
        // The producer really re-encoded the text: our font subset (its tag) is gone.
        let bytes = std::fs::read(d.p(&input)).unwrap();
        assert!(
            !bytes
                .windows(our_tag.len())
                .any(|w| w == our_tag.as_slice()),
            "{producer} kept our font subset"
        );
        assert!(
            bytes.windows(16).any(|w| w == b"+LiberationSerif"),
            "{producer}: no font subset"
        );
        sign(
            &d,
            &input,
            &out,
            "officer-rsa",
            &[
                "--profile",
                "personal",
                "--image",
                &d.p("signature.png"),
                "--anchor",
                "Nguyễn Văn An",
            ],
        );
        all_accept(&d, &d.p(&out), 1);
        let r = widgets(&d.p(&out))[0].visible.unwrap();
        let o = run(Command::new(&pdftotext)
            .args(["-bbox", "-f", "1", "-l", "1"])
            .arg(d.p(&input))
            .arg("-"));
        let html = String::from_utf8_lossy(&o.stdout).into_owned();
        let word = |w: &str| -> [f64; 4] {
            let line = html
                .lines()
                .rev()
                .find(|l| l.contains(&format!(">{w}</word>")))
                .unwrap_or_else(|| panic!("{producer}: no word {w} in\n{html}"));
            let attr = |k: &str| -> f64 {
                let s = &line[line.find(&format!("{k}=\"")).unwrap() + k.len() + 2..];
                s[..s.find('"').unwrap()].parse().unwrap()
            };
            [attr("xMin"), attr("yMin"), attr("xMax"), attr("yMax")]
        };
        let (first, last) = (word("Nguyễn"), word("An"));
        let name_top = 842.0 - first[1];
        let name_centre = (first[0] + last[2]) / 2.0;
        assert!(
            r[1] >= name_top - 3.0 && r[1] < name_top + 8.0,
            "{producer}: {r:?} name top {name_top}"
        );
        assert!(
            ((r[0] + r[2]) / 2.0 - name_centre).abs() < 3.0,
            "{producer}: {r:?} name centre {name_centre}"
        );
    }
}
