//! Our PDF verifier against independent signers and a second validator: a corpus the test
//! builds with pyHanko (B-B, B-T with the fixture TSA, B-LT, B-LTA, certification signatures)
//! and endesive, each verified by us and by pyHanko's validator; the same files mutated (a byte
//! flipped inside a signed range, an update that changes page content, an annotation on a P=1
//! certified document) must fail for both. Then the signer's certificate: revoked (CRL and
//! OCSP), expired, untrusted, not yet valid, and an OCSP responder that never answers.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should panic with its message"
)]

use interop_tests::{
    find_tool, fixtures, pki, pki_bin, require_tool, run, text, Behaviour, FixtureTsa, TestServer,
};
use pki_core::cert::parse_certificates;
use pki_core::pdf::writer::IncrementalUpdate;
use pki_core::pdf::{Dictionary, Object, PdfReader, PdfString, Stream, StreamData};
use pki_core::report::{Indication, Report};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Cursor};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SIGN_PY: &str = include_str!("peers/sign_pdf.py");

/// A test PKI of our own (`pki ca test-pki`) whose certificates name a CRL served here.
struct Pki {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    _server: TestServer,
}

fn pki_with_crl() -> Pki {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let (listener, base) = TestServer::bind();
    let o = pki(&[
        "ca",
        "test-pki",
        dir.to_str().unwrap(),
        "--crl-url",
        &format!("{base}/issuing.crl"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let crl = std::fs::read(dir.join("issuing/crl.der")).unwrap();
    let routes = HashMap::from([(
        "/issuing.crl".to_string(),
        ("application/pkix-crl".to_string(), crl),
    )]);
    let server = TestServer::start(listener, routes, Behaviour::Serve);
    Pki {
        _tmp: tmp,
        dir,
        _server: server,
    }
}

fn python() -> Option<PathBuf> {
    require_tool("pyhanko")?;
    Some(find_tool("pyhanko")?.with_file_name("python"))
}

/// Signs `input` into `output` with `sign_pdf.py` in `mode`, as `who` of `pki`.
fn peer_sign(
    py: &Path,
    mode: &str,
    dir: &Path,
    who: &str,
    input: &Path,
    output: &Path,
    tsa: Option<&str>,
) {
    // Not named after the mode: a script called endesive.py would shadow the package.
    let script = output.with_file_name("sign_pdf.py");
    std::fs::write(&script, SIGN_PY).unwrap();
    let mut cmd = Command::new(py);
    cmd.arg(&script)
        .args(["--mode", mode, "--input"])
        .arg(input)
        .arg("--output")
        .arg(output)
        .arg("--key")
        .arg(dir.join(format!("{who}.key.pem")))
        .arg("--cert")
        .arg(dir.join(format!("{who}.pem")))
        .arg("--chain")
        .arg(dir.join("issuing.pem"))
        .arg("--root")
        .arg(dir.join("root.pem"))
        .arg("--root")
        .arg(fixtures().join("pki/root.pem"));
    if let Some(t) = tsa {
        cmd.args(["--tsa", t]);
    }
    let o = run(&mut cmd);
    assert!(o.status.success(), "{mode}: {}", text(&o));
}

/// pyHanko's executive summary: `VALID` or `INVALID` for the first signature.
fn pyhanko_verdict(dir: &Path, file: &Path) -> String {
    let py = find_tool("pyhanko").unwrap();
    let o = run(Command::new(py)
        .args([
            "sign",
            "validate",
            "--no-revocation-check",
            "--trust-replace",
            "--trust",
        ])
        .arg(dir.join("root.pem"))
        .arg("--trust")
        .arg(fixtures().join("pki/root.pem"))
        .arg("--other-certs")
        .arg(dir.join("issuing.pem"))
        .arg("--executive-summary")
        .arg(file));
    let t = text(&o);
    if t.contains(":INVALID") || !o.status.success() {
        "INVALID".into()
    } else if t.contains(":VALID") {
        "VALID".into()
    } else {
        format!("UNKNOWN: {t}")
    }
}

fn verify(dir: &Path, file: &Path) -> Report {
    let mut anchors = pki_core::trust::CertPool::new();
    for r in [dir.join("root.pem"), fixtures().join("pki/root.pem")] {
        for c in parse_certificates(&std::fs::read(r).unwrap()).unwrap() {
            anchors.add(c);
        }
    }
    let inter = pki_core::trust::CertPool::new();
    let policy = pki_core::crypto::AlgorithmPolicy::default();
    let opts = pki_core::pades::VerifyOptions {
        time: time::OffsetDateTime::now_utc(),
        anchors: &anchors,
        intermediates: &inter,
        policy: &policy,
        fetcher: None,
    };
    pki_core::pades::verify_pdf(file, &opts).unwrap()
}

fn reader(bytes: &[u8]) -> PdfReader<Cursor<Vec<u8>>> {
    PdfReader::new(Cursor::new(bytes.to_vec()), bytes.len() as u64).unwrap()
}

fn stream(text: &str) -> Stream {
    let data = format!("BT /F1 12 Tf 72 700 Td ({text}) Tj ET").into_bytes();
    let mut d = Dictionary::new();
    d.set("Length", data.len() as i64);
    Stream {
        dict: d,
        data: StreamData::Bytes(data),
    }
}

fn append(base: &[u8], u: &IncrementalUpdate) -> Vec<u8> {
    let mut out = base.to_vec();
    out.extend(u.serialize().unwrap().bytes);
    out
}

/// An update that replaces page 1's content.
fn change_content(bytes: &[u8]) -> Vec<u8> {
    let mut r = reader(bytes);
    let (pref, mut p) = r.page(0).unwrap();
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    p.set("Contents", u.add(stream("So tien: 9.000.000 dong")));
    u.replace(pref, p);
    append(bytes, &u)
}

/// An update that adds a FreeText annotation to page 1.
fn add_annotation(bytes: &[u8]) -> Vec<u8> {
    let mut r = reader(bytes);
    let (pref, mut p) = r.page(0).unwrap();
    let mut annots = match p.get("Annots") {
        Some(o) => r.resolve(o).unwrap().as_array().unwrap_or(&[]).to_vec(),
        None => Vec::new(),
    };
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    let mut a = Dictionary::new();
    a.set("Type", Object::name("Annot"));
    a.set("Subtype", Object::name("FreeText"));
    a.set(
        "Rect",
        Object::Array(vec![
            60i64.into(),
            740i64.into(),
            400i64.into(),
            790i64.into(),
        ]),
    );
    a.set("Contents", PdfString::from_text("So tien: 9.000.000 dong"));
    a.set("DA", PdfString::from_text("/Helv 12 Tf 0 g"));
    annots.push(Object::Reference(u.add(a)));
    p.set("Annots", Object::Array(annots));
    u.replace(pref, p);
    append(bytes, &u)
}

/// Flips a byte of the page content (inside the first signature's range).
fn flip(bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let at = b.windows(7).position(|w| w == b"So tien").unwrap();
    b[at] = b's';
    b
}

/// A one-page document with an empty text field "so_tien".
fn form_document() -> Vec<u8> {
    let doc = pki_core::pdf::sample::one_page(&["Cong van so 1", "So tien: 1.000.000 dong"]);
    let mut r = reader(&doc);
    let (cref, mut cat) = r.catalog().unwrap();
    let (pref, mut p) = r.page(0).unwrap();
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    let mut f = Dictionary::new();
    f.set("FT", Object::name("Tx"));
    f.set("T", PdfString::from_text("so_tien"));
    f.set("Type", Object::name("Annot"));
    f.set("Subtype", Object::name("Widget"));
    f.set(
        "Rect",
        Object::Array(vec![
            300i64.into(),
            600i64.into(),
            500i64.into(),
            620i64.into(),
        ]),
    );
    f.set("DA", PdfString::from_text("/Helv 12 Tf 0 g"));
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

/// Fills the text field "so_tien" with `value` (new /V and appearance).
fn fill(bytes: &[u8], value: &str) -> Vec<u8> {
    let mut r = reader(bytes);
    let (_, cat) = r.catalog().unwrap();
    let af = r.resolve(cat.get("AcroForm").unwrap()).unwrap();
    let fields = r
        .resolve(af.as_dict().unwrap().get("Fields").unwrap())
        .unwrap();
    let fref = fields
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Object::as_reference)
        .find(|f| {
            r.get(*f).unwrap().as_dict().unwrap().get("T")
                == Some(&Object::String(PdfString::from_text("so_tien")))
        })
        .unwrap();
    let mut f = r.get(fref).unwrap().as_dict().unwrap().clone();
    let mut u = IncrementalUpdate::new(&mut r).unwrap();
    let mut ap = stream(value);
    ap.dict.set("Type", Object::name("XObject"));
    ap.dict.set("Subtype", Object::name("Form"));
    ap.dict.set(
        "BBox",
        Object::Array(vec![0i64.into(), 0i64.into(), 200i64.into(), 20i64.into()]),
    );
    let mut apd = Dictionary::new();
    apd.set("N", u.add(ap));
    f.set("V", PdfString::from_text(value));
    f.set("AP", apd);
    u.replace(fref, f);
    append(bytes, &u)
}

#[test]
fn pyhanko_and_endesive_signatures_verify_and_their_mutations_fail_for_us_and_pyhanko() {
    let Some(py) = python() else { return };
    let pki = pki_with_crl();
    let tsa = FixtureTsa::start();
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("in.pdf");
    std::fs::write(
        &input,
        pki_core::pdf::sample::one_page(&["Cong van so 1", "So tien: 1.000.000 dong"]),
    )
    .unwrap();
    for (mode, level) in [
        ("bb", "PAdES-B-B"),
        ("bt", "PAdES-B-T"),
        ("blt", "PAdES-B-LT"),
        ("blta", "PAdES-B-LTA"),
        ("endesive", "PKCS7-detached"),
    ] {
        let out = work.path().join(format!("{mode}.pdf"));
        peer_sign(
            &py,
            mode,
            &pki.dir,
            "officer-rsa",
            &input,
            &out,
            Some(&tsa.url),
        );
        let rep = verify(&pki.dir, &out);
        assert_eq!(
            rep.indication,
            Indication::TotalPassed,
            "{mode}: {}",
            rep.to_json()
        );
        let sig = &rep.signatures[0];
        assert_eq!(
            sig.level.as_deref(),
            Some(level),
            "{mode}: {}",
            rep.to_json()
        );
        if mode == "blt" || mode == "blta" {
            let rev = sig.revocation.as_ref().unwrap();
            assert!(rev.embedded, "{mode}: {}", rep.to_json());
            assert_eq!(rev.status, "good");
        }
        if mode == "blta" {
            assert!(
                rep.signatures.iter().any(|s| s.kind
                    == pki_core::report::SignatureKind::DocumentTimestamp
                    && s.indication == Indication::TotalPassed),
                "{}",
                rep.to_json()
            );
        }
        assert_eq!(pyhanko_verdict(&pki.dir, &out), "VALID", "{mode}");

        let bytes = std::fs::read(&out).unwrap();
        for (what, mutated, sub) in [
            ("flipped byte", flip(&bytes), "HASH_FAILURE"),
            ("new page content", change_content(&bytes), "FORMAT_FAILURE"),
        ] {
            let f = work
                .path()
                .join(format!("{mode}-{}.pdf", what.replace(' ', "-")));
            std::fs::write(&f, &mutated).unwrap();
            let rep = verify(&pki.dir, &f);
            assert_eq!(
                rep.indication,
                Indication::TotalFailed,
                "{mode} {what}: {}",
                rep.to_json()
            );
            assert_eq!(
                rep.signatures[0].sub_indication.as_deref(),
                Some(sub),
                "{mode} {what}: {}",
                rep.to_json()
            );
            assert_eq!(pyhanko_verdict(&pki.dir, &f), "INVALID", "{mode} {what}");
        }
    }
}

#[test]
fn certified_documents_allow_what_their_docmdp_level_allows() {
    let Some(py) = python() else { return };
    let pki = pki_with_crl();
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("form.pdf");
    std::fs::write(&input, form_document()).unwrap();

    // P=2: filling the form keeps the certification valid, for us and for pyHanko.
    let p2 = work.path().join("p2.pdf");
    peer_sign(&py, "certify2", &pki.dir, "agency", &input, &p2, None);
    let rep = verify(&pki.dir, &p2);
    assert_eq!(rep.indication, Indication::TotalPassed, "{}", rep.to_json());
    let filled = work.path().join("p2-filled.pdf");
    std::fs::write(&filled, fill(&std::fs::read(&p2).unwrap(), "1.000.000")).unwrap();
    let rep = verify(&pki.dir, &filled);
    assert_eq!(rep.indication, Indication::TotalPassed, "{}", rep.to_json());
    assert!(rep.signatures[0]
        .modifications
        .iter()
        .any(|m| m.allowed && m.kind == "form-fill"));
    assert_eq!(pyhanko_verdict(&pki.dir, &filled), "VALID");
    // ... but an annotation is not allowed at P=2.
    let annotated = work.path().join("p2-annotated.pdf");
    std::fs::write(&annotated, add_annotation(&std::fs::read(&p2).unwrap())).unwrap();
    let rep = verify(&pki.dir, &annotated);
    assert_eq!(rep.indication, Indication::TotalFailed, "{}", rep.to_json());
    assert_eq!(pyhanko_verdict(&pki.dir, &annotated), "INVALID");

    // P=1: no change at all, not even form filling.
    let p1 = work.path().join("p1.pdf");
    peer_sign(&py, "certify1", &pki.dir, "agency", &input, &p1, None);
    assert_eq!(verify(&pki.dir, &p1).indication, Indication::TotalPassed);
    for (what, bytes) in [
        ("annotation", add_annotation(&std::fs::read(&p1).unwrap())),
        ("form fill", fill(&std::fs::read(&p1).unwrap(), "9.000.000")),
    ] {
        let f = work
            .path()
            .join(format!("p1-{}.pdf", what.replace(' ', "-")));
        std::fs::write(&f, bytes).unwrap();
        let rep = verify(&pki.dir, &f);
        assert_eq!(
            rep.indication,
            Indication::TotalFailed,
            "{what}: {}",
            rep.to_json()
        );
        assert_eq!(
            rep.signatures[0].sub_indication.as_deref(),
            Some("FORMAT_FAILURE")
        );
        assert_eq!(pyhanko_verdict(&pki.dir, &f), "INVALID", "{what}");
    }
}

/// `pki verify FILE --format json` with the test PKI's root trusted.
fn cli_verify(
    dir: &Path,
    file: &Path,
    extra: &[&str],
    timeout: &str,
) -> (i32, serde_json::Value, Duration) {
    let t = Instant::now();
    let o = Command::new(pki_bin())
        .arg("verify")
        .arg(file)
        .arg("--trust")
        .arg(dir.join("root.pem"))
        .args(["--format", "json"])
        .args(extra)
        .env("PKI_HTTP_TIMEOUT", timeout)
        .output()
        .unwrap();
    let elapsed = t.elapsed();
    let v: serde_json::Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("no JSON: {}", text(&o)));
    (o.status.code().unwrap(), v, elapsed)
}

#[test]
fn revoked_expired_untrusted_and_not_yet_valid_signers() {
    let Some(py) = python() else { return };
    let pki = pki_with_crl();
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("in.pdf");
    std::fs::write(&input, pki_core::pdf::sample::one_page(&["Cong van so 1"])).unwrap();
    let sign = |who: &str| {
        let out = work.path().join(format!("{who}.pdf"));
        peer_sign(&py, "bb", &pki.dir, who, &input, &out, None);
        out
    };
    // Good, checked online against the CRL.
    let (code, v, _) = cli_verify(&pki.dir, &sign("officer-rsa"), &[], "5");
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["signatures"][0]["revocation"]["source"], "crl", "{v}");
    // Revoked (CRL), signed after the revocation date.
    let (code, v, _) = cli_verify(&pki.dir, &sign("revoked"), &[], "5");
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["signatures"][0]["indication"], "TOTAL-FAILED", "{v}");
    assert_eq!(v["signatures"][0]["sub_indication"], "REVOKED", "{v}");
    // Expired, with no proof of time.
    let (code, v, _) = cli_verify(&pki.dir, &sign("expired"), &["--offline"], "5");
    assert_eq!(code, 4, "{v}");
    assert_eq!(
        v["signatures"][0]["sub_indication"], "OUT_OF_BOUNDS_NO_POE",
        "{v}"
    );
    // Untrusted: only the fixture root is trusted.
    let officer = sign("officer-rsa");
    let o = Command::new(pki_bin())
        .arg("verify")
        .arg(&officer)
        .arg("--trust")
        .arg(fixtures().join("pki/root.pem"))
        .args(["--format", "json", "--offline"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(o.status.code(), Some(4), "{v}");
    assert_eq!(
        v["signatures"][0]["sub_indication"], "NO_CERTIFICATE_CHAIN_FOUND",
        "{v}"
    );
    // Not yet valid at the validation time asked for (before the certificate's notBefore).
    let (code, v, _) = cli_verify(
        &pki.dir,
        &officer,
        &["--offline", "--at", "2020-06-01T00:00:00Z"],
        "5",
    );
    assert_ne!(code, 0, "{v}");
    assert_eq!(v["signatures"][0]["sub_indication"], "NOT_YET_VALID", "{v}");
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn ocsp_revoked_and_an_unreachable_responder() {
    let Some(py) = python() else { return };
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("in.pdf");
    std::fs::write(&input, pki_core::pdf::sample::one_page(&["Cong van so 1"])).unwrap();

    // A PKI whose certificates name `pki ocsp serve`.
    let dir = work.path().join("pki");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let o = pki(&[
        "ca",
        "test-pki",
        dir.to_str().unwrap(),
        "--ocsp-url",
        &format!("http://127.0.0.1:{port}/ocsp"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let mut child = Command::new(pki_bin())
        .args(["ocsp", "serve", "--ca-dir"])
        .arg(dir.join("issuing"))
        .arg("--responder-cert")
        .arg(dir.join("ocsp.pem"))
        .arg("--key")
        .arg(dir.join("ocsp.key.pem"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let server = Running(child);
    assert!(line.starts_with("listening on"), "{line:?}");
    let signed = |who: &str| {
        let out = work.path().join(format!("{who}.pdf"));
        peer_sign(&py, "bb", &dir, who, &input, &out, None);
        out
    };
    let good = signed("officer-rsa");
    let revoked = signed("revoked");
    let (code, v, _) = cli_verify(&dir, &good, &[], "5");
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["signatures"][0]["revocation"]["source"], "ocsp", "{v}");
    let (code, v, _) = cli_verify(&dir, &revoked, &[], "5");
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["signatures"][0]["sub_indication"], "REVOKED", "{v}");
    assert_eq!(v["signatures"][0]["revocation"]["source"], "ocsp", "{v}");
    drop(server);

    // A responder that accepts connections and never answers: INDETERMINATE (TRY_LATER),
    // within the HTTP timeout.
    let (listener, base) = TestServer::bind();
    let dir2 = work.path().join("pki2");
    let o = pki(&[
        "ca",
        "test-pki",
        dir2.to_str().unwrap(),
        "--ocsp-url",
        &format!("{base}/ocsp"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let _hang = TestServer::start(listener, HashMap::new(), Behaviour::Hang);
    let out = work.path().join("hang.pdf");
    peer_sign(&py, "bb", &dir2, "officer-rsa", &input, &out, None);
    let (code, v, elapsed) = cli_verify(&dir2, &out, &[], "2");
    assert_eq!(code, 4, "{v}");
    assert_eq!(v["signatures"][0]["sub_indication"], "TRY_LATER", "{v}");
    assert!(elapsed < Duration::from_secs(15), "took {elapsed:?}");
}
