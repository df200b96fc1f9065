//! Remote signers end to end: `pki sign --key csc:...` and `--key mss:...` against our scripted
//! CSC API server and MSSP (real HTTP servers on 127.0.0.1, backed by fixture keys), with the
//! results checked by pdfsig, pyHanko and xmlsec1. A batch of 20 documents takes one
//! authorisation and one signing request; each scripted failure (user cancels, never answers,
//! wrong PIN, PIN blocked, expired) gives one sentence and leaves no output file; the prepared
//! state of a PDF survives serialisation (a service restart while the person approves).
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should panic with its message"
)]

use interop_tests::csc_server::{CscConfig, CscServer, Script};
use interop_tests::mssp_server::{MssScript, MsspServer};
use interop_tests::remote::{fixture_pki as f, pdfsig_ok, pyhanko_ok, sign_batch as sign};
use interop_tests::{pki, require_tool, run, text};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const MSISDN: &str = "+84912345678";
const AP_ID: &str = "http://ap.ubnd-bacninh.test.vn/ky-so";

/// Secrets for the key references, in files (never on the command line).
struct Secrets {
    dir: tempfile::TempDir,
}

impl Secrets {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("client"), "s3cret-client\n").unwrap();
        std::fs::write(dir.path().join("pin"), "123456\n").unwrap();
        std::fs::write(dir.path().join("badpin"), "999999\n").unwrap();
        std::fs::write(dir.path().join("ap"), "ap-pass-1\n").unwrap();
        Self { dir }
    }
    fn file(&self, n: &str) -> String {
        format!("file:{}", self.dir.path().join(n).display())
    }
    fn csc(&self, api: &str, extra: &str) -> String {
        format!(
            "csc:{api}?credential=cred-001&client-id=van-thu-app&secret-source={}&pin-source={}&poll-ms=100{extra}",
            self.file("client"),
            self.file("pin")
        )
    }
    fn vendor(&self, api: &str, extra: &str) -> String {
        format!(
            "csc:{api}?dialect=sign-files&client-id=van-thu-app&credential=cred-001&secret-source={}&poll-ms=100{extra}",
            self.file("client")
        )
    }
    fn mss(&self, url: &str, extra: &str) -> String {
        format!(
            "mss:{MSISDN}?mssp={url}&ap-id={AP_ID}&secret-source={}&poll-ms=100{extra}",
            self.file("ap")
        )
    }
}

fn pdf(path: &Path, line: &str) {
    std::fs::write(path, pki_core::pdf::sample::one_page(&[line])).unwrap();
}

fn xml(path: &Path, n: usize) {
    std::fs::write(
        path,
        format!("<VanBan><So>{n}/UBND-VP</So><NoiDung>Tờ trình số {n}</NoiDung></VanBan>\n"),
    )
    .unwrap();
}

fn xmlsec_ok(file: &Path) {
    if let Some(tool) = require_tool("xmlsec1") {
        let o = run(Command::new(tool)
            .env("SSL_CERT_FILE", "/dev/null")
            .args(["--verify", "--trusted-pem", &f("root.pem")])
            .arg(file));
        assert!(
            o.status.success(),
            "xmlsec1 {}:\n{}",
            file.display(),
            text(&o)
        );
    }
}

fn pki_verify_ok(file: &Path) {
    let o = pki(&[
        "verify",
        &file.display().to_string(),
        "--trust",
        &f("root.pem"),
        "--offline",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn csc_async_signs_pdf_and_xml_accepted_by_pdfsig_pyhanko_and_xmlsec1() {
    let server = CscServer::start(CscConfig::new("officer-rsa"));
    let s = Secrets::new();
    let work = tempfile::tempdir().unwrap();
    let (a, b) = (work.path().join("cv.pdf"), work.path().join("to-trinh.xml"));
    pdf(&a, "So: 12/UBND-VP");
    xml(&b, 12);
    let before = std::fs::read(&a).unwrap();
    // A damaged document is reported and left out; the others go to the phone.
    let damaged = work.path().join("hong.pdf");
    std::fs::write(&damaged, b"%PDF-1.7\nthis file is damaged").unwrap();
    let out = work.path().join("out");
    let o = sign(
        &[a.clone(), damaged, b],
        &out,
        &s.csc(&server.api(), ""),
        &[],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let log = text(&o);
    assert!(!out.join("hong.pdf").exists());
    assert!(
        log.contains("Approve the signature on your phone (credential cred-001"),
        "{log}"
    );
    assert!(log.contains("2 document(s)"), "{log}");
    assert!(log.contains("signed 2/3"), "{log}");
    assert!(
        !log.contains("123456") && !log.contains("s3cret"),
        "a secret leaked: {log}"
    );
    let st = server.stats();
    assert_eq!(
        (st.authorizations, st.sign_requests, st.hashes_signed),
        (1, 1, 2),
        "{st:?}"
    );
    assert!(st.polls >= 1, "asynchronous mode polls: {st:?}");
    assert_eq!(std::fs::read(&a).unwrap(), before, "the input was changed");
    pdfsig_ok(&out.join("cv.pdf"));
    pyhanko_ok(&out.join("cv.pdf"));
    xmlsec_ok(&out.join("to-trinh.xml"));
    pki_verify_ok(&out.join("cv.pdf"));
    pki_verify_ok(&out.join("to-trinh.xml"));
}

#[test]
fn a_batch_of_20_documents_is_one_approval() {
    let server = CscServer::start(CscConfig::new("agency"));
    let s = Secrets::new();
    let work = tempfile::tempdir().unwrap();
    let inbox = work.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    for n in 1..=18 {
        pdf(
            &inbox.join(format!("cv-{n:02}.pdf")),
            &format!("So: {n}/UBND-VP"),
        );
    }
    xml(&inbox.join("qd-19.xml"), 19);
    xml(&inbox.join("qd-20.xml"), 20);
    let out = work.path().join("out");
    let o = sign(&[inbox], &out, &s.csc(&server.api(), ""), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("20 document(s)"), "{}", text(&o));
    assert!(text(&o).contains("signed 20/20"), "{}", text(&o));
    let st = server.stats();
    assert_eq!(st.tokens, 1, "{st:?}");
    assert_eq!(
        st.authorizations, 1,
        "one authorisation for the batch: {st:?}"
    );
    assert_eq!(
        st.sign_requests, 1,
        "one signing request for the batch: {st:?}"
    );
    assert_eq!((st.hashes_signed, st.max_batch), (20, 20), "{st:?}");
    let mut outs = leftovers(&out);
    outs.sort();
    assert_eq!(outs.len(), 20, "{outs:?}");
    for (i, name) in outs.iter().enumerate() {
        let p = out.join(name);
        if name.ends_with(".pdf") {
            pdfsig_ok(&p);
            // pyHanko takes about a second per file: every sixth is enough to show agreement.
            if i % 6 == 0 {
                pyhanko_ok(&p);
            }
        } else {
            xmlsec_ok(&p);
        }
    }
    let mut args: Vec<String> = vec!["verify".into()];
    args.extend(
        outs.iter()
            .filter(|n| n.ends_with(".pdf"))
            .map(|n| out.join(n).display().to_string()),
    );
    args.extend(["--trust".into(), f("root.pem"), "--offline".into()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = pki(&refs);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn csc_v1_synchronous_with_an_ecdsa_key_and_a_small_multisign() {
    let mut cfg = CscConfig::new("officer-ec");
    cfg.v1 = true;
    cfg.offer_async = false;
    cfg.multisign = 2;
    let server = CscServer::start(cfg);
    let s = Secrets::new();
    let work = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = (1..=3)
        .map(|n| {
            let p = work.path().join(format!("d{n}.pdf"));
            pdf(&p, &format!("So: {n}"));
            p
        })
        .collect();
    let out = work.path().join("out");
    let o = sign(&files, &out, &s.csc(&server.api(), "&mode=sync"), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // multisign 2: three documents take two approvals, and the officer is told so.
    assert!(
        text(&o).contains("(1/2)") && text(&o).contains("(2/2)"),
        "{}",
        text(&o)
    );
    let st = server.stats();
    assert_eq!(
        (st.authorizations, st.sign_requests, st.polls),
        (2, 2, 0),
        "{st:?}"
    );
    for n in 1..=3 {
        pdfsig_ok(&out.join(format!("d{n}.pdf")));
    }
    pyhanko_ok(&out.join("d1.pdf"));
}

#[test]
fn the_vendor_sign_files_dialect_over_the_same_core() {
    let server = CscServer::start(CscConfig::new("officer-rsa"));
    let s = Secrets::new();
    let work = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = (1..=3)
        .map(|n| {
            let p = work.path().join(format!("v{n}.pdf"));
            pdf(&p, &format!("So: {n}/SF"));
            p
        })
        .collect();
    let out = work.path().join("out");
    // The API names no algorithm (PKCS#1 v1.5): asking for RSASSA-PSS is refused up front.
    let o = sign(
        &files,
        &out,
        &s.vendor(&server.vendor_api(), ""),
        &["--pss"],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("RSASSA-PSS"), "{}", text(&o));
    assert_eq!(server.stats().sign_requests, 0);
    assert_eq!(leftovers(&out), Vec::<String>::new());
    let o = sign(&files, &out, &s.vendor(&server.vendor_api(), ""), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let st = server.stats();
    assert_eq!((st.sign_requests, st.hashes_signed), (1, 3), "{st:?}");
    for n in 1..=3 {
        // The service answered out of order: each signature must still land on its document.
        pdfsig_ok(&out.join(format!("v{n}.pdf")));
    }
    pyhanko_ok(&out.join("v2.pdf"));
    // XML through the same dialect (PKCS#1 v1.5: Debian's xmlsec1 has no PSS).
    let x = work.path().join("v4.xml");
    xml(&x, 4);
    let out2 = work.path().join("out2");
    let o = sign(
        &[x, files[0].clone()],
        &out2,
        &s.vendor(&server.vendor_api(), ""),
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(server.stats().sign_requests, 2);
    xmlsec_ok(&out2.join("v4.xml"));
    pdfsig_ok(&out2.join("v1.pdf"));
}

#[test]
fn mss_pki_sim_signs_pdf_and_xml_in_both_messaging_modes() {
    let server = MsspServer::start(
        "officer-rsa",
        MSISDN,
        AP_ID,
        "ap-pass-1",
        MssScript::ApproveAfter(Duration::from_millis(300)),
    );
    let s = Secrets::new();
    let work = tempfile::tempdir().unwrap();
    let (a, b) = (work.path().join("qd.pdf"), work.path().join("qd.xml"));
    pdf(&a, "Quyết định số 5/QĐ-UBND");
    xml(&b, 5);
    let cert = f("officer-rsa.chain.pem");
    let out = work.path().join("out");
    let o = sign(
        &[a.clone(), b],
        &out,
        &s.mss(&server.url, ""),
        &["--cert", &cert],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("Approve the signature on your phone (+84912345678)"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("ap-pass-1"), "the AP password leaked");
    let st = server.stats();
    // TS 102 204 signs one hash per transaction: two documents, two requests.
    assert_eq!(st.signature_requests, 2, "{st:?}");
    assert!(st.status_requests >= 2, "{st:?}");
    assert!(st.modes.iter().all(|m| m == "asynchClientServer"), "{st:?}");
    pdfsig_ok(&out.join("qd.pdf"));
    pyhanko_ok(&out.join("qd.pdf"));
    xmlsec_ok(&out.join("qd.xml"));
    pki_verify_ok(&out.join("qd.pdf"));

    // Synchronous mode: the MSSP answers when the person has.
    let out2 = work.path().join("out2");
    let o = sign(
        &[a],
        &out2,
        &s.mss(&server.url, "&mode=sync"),
        &["--cert", &cert],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        server.stats().modes.last().map(String::as_str),
        Some("synch")
    );
    pdfsig_ok(&out2.join("qd.pdf"));

    // Without the certificate: one sentence saying what to give.
    let out3 = work.path().join("out3");
    let pdf3 = work.path().join("x.pdf");
    pdf(&pdf3, "x");
    let o = sign(&[pdf3], &out3, &s.mss(&server.url, ""), &[]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("--cert"), "{}", text(&o));
}

/// Runs one failing signature and checks: exit 3, `expect` in the message, nothing written.
fn fails_cleanly(key: &str, extra: &[&str], expect: &str) {
    let work = tempfile::tempdir().unwrap();
    let (a, b) = (work.path().join("a.pdf"), work.path().join("b.xml"));
    pdf(&a, "So: 1");
    xml(&b, 2);
    let out = work.path().join("out");
    let o = sign(&[a, b], &out, key, extra);
    let log = text(&o);
    assert_eq!(o.status.code(), Some(3), "{expect}: {log}");
    assert!(log.contains(expect), "expected \"{expect}\" in:\n{log}");
    let error_lines = String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| l.starts_with("error:"))
        .count();
    assert_eq!(error_lines, 1, "one sentence: {log}");
    assert_eq!(
        leftovers(&out),
        Vec::<String>::new(),
        "files left after: {expect}"
    );
}

#[test]
fn scripted_csc_failures_give_one_sentence_and_no_output() {
    let server = CscServer::start(CscConfig::new("officer-rsa"));
    let s = Secrets::new();
    let key = s.csc(&server.api(), "");
    server.set_script(Script::UserCancels);
    fails_cleanly(&key, &[], "refused on the phone");
    server.set_script(Script::NeverAnswers);
    fails_cleanly(&key, &["--approval-timeout", "2"], "no approval came");
    server.set_script(Script::WrongPin);
    fails_cleanly(&key, &[], "the PIN was refused by credential cred-001");
    server.set_script(Script::PinBlocked);
    fails_cleanly(&key, &[], "is blocked after too many wrong attempts");
    // Synchronous mode holds the request: the timeout still applies.
    server.set_script(Script::NeverAnswers);
    fails_cleanly(
        &s.csc(&server.api(), "&mode=sync"),
        &["--approval-timeout", "2"],
        "no approval came from credential cred-001",
    );
    // Wrong client secret: refused at the token, before anything is prepared.
    let bad = key.replace(&s.file("client"), &s.file("ap"));
    fails_cleanly(
        &bad,
        &[],
        "refused the client credentials of \"van-thu-app\"",
    );
    // The vendor dialect: refused in the app, never answered, a wrong SP password.
    server.set_script(Script::UserCancels);
    let vendor = s.vendor(&server.vendor_api(), "");
    fails_cleanly(&vendor, &[], "refused on the phone of subscriber cred-001");
    server.set_script(Script::NeverAnswers);
    fails_cleanly(
        &vendor,
        &["--approval-timeout", "2"],
        "no approval came from subscriber cred-001",
    );
    let bad_sp = vendor.replace(&s.file("client"), &s.file("pin"));
    fails_cleanly(&bad_sp, &[], "refused the account \"van-thu-app\"");
    // A wrong PIN from pin-source, with the approval script back to normal.
    server.set_script(Script::ApproveAfter(Duration::from_millis(10)));
    let badpin = key.replace(&s.file("pin"), &s.file("badpin"));
    fails_cleanly(&badpin, &[], "the PIN was refused");
    // The officer gives up with Ctrl-C (SIGTERM here) while waiting: exit 130, no files left.
    server.set_script(Script::NeverAnswers);
    let work = tempfile::tempdir().unwrap();
    let a = work.path().join("a.pdf");
    pdf(&a, "So: 1");
    let out = work.path().join("out");
    let mut child = Command::new(interop_tests::pki_bin())
        .args(["sign", &a.display().to_string(), "--out-dir"])
        .arg(&out)
        .args(["--key", &key])
        .env("LANG", "C")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("Approve the signature") {
        let mut line = String::new();
        if std::io::BufRead::read_line(&mut err, &mut line).unwrap() == 0 {
            break;
        }
        seen.push_str(&line);
    }
    assert!(seen.contains("Approve the signature"), "{seen}");
    assert_eq!(
        leftovers(&out).len(),
        1,
        "the prepared temporary file exists while waiting"
    );
    let k = run(Command::new("kill").args(["-TERM", &child.id().to_string()]));
    assert!(k.status.success(), "{}", text(&k));
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut err, &mut rest).unwrap();
    assert_eq!(status.code(), Some(130), "{seen}{rest}");
    assert!(rest.contains("interrupted"), "{rest}");
    assert_eq!(leftovers(&out), Vec::<String>::new());

    // Vietnamese.
    server.set_script(Script::UserCancels);
    let work = tempfile::tempdir().unwrap();
    let a = work.path().join("a.pdf");
    pdf(&a, "So: 1");
    let o = pki(&[
        "--lang",
        "vi",
        "sign",
        &a.display().to_string(),
        "-o",
        &work.path().join("o.pdf").display().to_string(),
        "--key",
        &key,
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("đã bị từ chối trên điện thoại"),
        "{}",
        text(&o)
    );
    assert!(!work.path().join("o.pdf").exists());
    assert_eq!(leftovers(work.path()), vec!["a.pdf".to_string()]);
}

#[test]
fn scripted_mss_failures_give_one_sentence_and_no_output() {
    let server = MsspServer::start(
        "officer-rsa",
        MSISDN,
        AP_ID,
        "ap-pass-1",
        MssScript::UserCancels,
    );
    let s = Secrets::new();
    let cert = f("officer-rsa.chain.pem");
    let extra = ["--cert", cert.as_str()];
    for mode in ["", "&mode=sync"] {
        let key = s.mss(&server.url, mode);
        server.set_script(MssScript::UserCancels);
        fails_cleanly(&key, &extra, "refused on the phone of +84912345678");
        server.set_script(MssScript::PinBlocked);
        fails_cleanly(&key, &extra, "the signing PIN of +84912345678 is blocked");
        server.set_script(MssScript::Expires);
        fails_cleanly(&key, &extra, "expired before it was approved");
    }
    server.set_script(MssScript::NeverAnswers);
    let t = ["--cert", cert.as_str(), "--approval-timeout", "2"];
    fails_cleanly(
        &s.mss(&server.url, ""),
        &t,
        "no approval came from +84912345678",
    );
    fails_cleanly(
        &s.mss(&server.url, "&mode=sync"),
        &t,
        "no approval came from +84912345678",
    );
    // A wrong AP password: the MSSP refuses the application.
    let bad = s
        .mss(&server.url, "")
        .replace(&s.file("ap"), &s.file("pin"));
    fails_cleanly(&bad, &extra, "check ap-id and the password");
}

#[test]
fn a_prepared_pdf_survives_serialisation_while_the_person_approves() {
    // What the signing service does across a restart: prepare, store the pending state (JSON),
    // forget everything, later load it and finish with the signature that arrived.
    let server = CscServer::start(CscConfig::new("officer-rsa"));
    let s = Secrets::new();
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("in.pdf");
    pdf(&input, "So: 77/UBND-VP");
    let output = work.path().join("out.pdf");
    let keyref = hsm::KeyRef::parse(&s.csc(&server.api(), "")).unwrap();
    let opts = hsm::OpenOptions::default();
    let signer = hsm::open(&keyref, &opts).unwrap();
    assert!(signer.is_remote());
    let chain: Vec<pki_core::cert::Certificate> = signer
        .certificates()
        .iter()
        .map(|d| pki_core::cert::Certificate::from_der(d).unwrap())
        .collect();
    let o = pki_core::pades::PadesOptions::new(time::OffsetDateTime::now_utc());
    let pending =
        pki_core::pades::prepare_pdf(&input, &output, signer.as_ref(), &chain, &o).unwrap();
    let stored = serde_json::to_string(&pending).unwrap();
    let tbs = pending.to_be_signed().to_vec();
    let alg = pending.algorithm().unwrap();
    drop(pending);
    assert!(!output.exists());
    let sig = signer.sign_many(alg, &[&tbs]).unwrap().remove(0);
    let restored: pki_core::pades::PendingPdf = serde_json::from_str(&stored).unwrap();
    restored.finish(&sig, None).unwrap();
    pdfsig_ok(&output);
    pki_verify_ok(&output);
    // A signature over something else is refused and the temporary file removed.
    let pending = pki_core::pades::prepare_pdf(
        &input,
        &work.path().join("o2.pdf"),
        signer.as_ref(),
        &chain,
        &o,
    )
    .unwrap();
    let e = pending.finish(&sig, None).unwrap_err();
    assert!(e.to_string().contains("does not verify"), "{e}");
    let mut names = leftovers(work.path());
    names.sort();
    assert_eq!(names, ["in.pdf", "out.pdf"]);

    // XML likewise.
    let doc = "<VanBan><So>78/UBND-VP</So></VanBan>";
    let xo = pki_core::xml::sign::SignOptions::new(time::OffsetDateTime::now_utc());
    let pending = pki_core::xml::sign::prepare(
        doc.as_bytes(),
        signer.key_kind(),
        &signer.algorithms(),
        &chain,
        &xo,
    )
    .unwrap();
    let stored = serde_json::to_string(&pending).unwrap();
    drop(pending);
    let restored: pki_core::xml::sign::PendingXml = serde_json::from_str(&stored).unwrap();
    let sig = signer
        .sign_many(restored.algorithm, &[&restored.to_be_signed])
        .unwrap()
        .remove(0);
    let out = work.path().join("out.xml");
    std::fs::write(&out, restored.finish(&sig).unwrap()).unwrap();
    xmlsec_ok(&out);
    pki_verify_ok(&out);
}

#[test]
fn a_batch_survives_a_restart_while_the_person_approves() {
    // What the signing service does: prepare, send, store the pending documents and the
    // remote transaction (JSON), "restart" (drop everything, open the key again), poll the
    // stored transaction, finish. Through CSC (async) and a PKI SIM (asynchClientServer).
    let csc = CscServer::start(CscConfig::new("officer-rsa"));
    csc.set_script(Script::ApproveAfter(Duration::from_millis(1500)));
    let mss = MsspServer::start(
        "officer-rsa",
        MSISDN,
        AP_ID,
        "ap-pass-1",
        MssScript::ApproveAfter(Duration::from_millis(1500)),
    );
    let s = Secrets::new();
    let chain_der: Vec<Vec<u8>> =
        hsm::pem::pem_blocks(&std::fs::read_to_string(f("officer-rsa.chain.pem")).unwrap())
            .into_iter()
            .map(|(_, d)| d)
            .collect();
    for key in [s.csc(&csc.api(), ""), s.mss(&mss.url, "")] {
        let work = tempfile::tempdir().unwrap();
        let keyref = hsm::KeyRef::parse(&key).unwrap();
        let open = || {
            let opts = hsm::OpenOptions {
                cert_chain: chain_der.clone(),
                ..Default::default()
            };
            hsm::open_remote(&keyref, &opts).unwrap()
        };
        let (stored_docs, stored_sub) = {
            let signer = open();
            let chain: Vec<pki_core::cert::Certificate> = hsm::Signer::certificates(&signer)
                .iter()
                .map(|d| pki_core::cert::Certificate::from_der(d).unwrap())
                .collect();
            let o = pki_core::pades::PadesOptions::new(time::OffsetDateTime::now_utc());
            let docs: Vec<pki_core::pades::PendingPdf> = (1..=2)
                .map(|n| {
                    let input = work.path().join(format!("in{n}.pdf"));
                    pdf(&input, &format!("So: {n}/RESTART"));
                    let out = work.path().join(format!("out{n}.pdf"));
                    pki_core::pades::prepare_pdf(&input, &out, &signer, &chain, &o).unwrap()
                })
                .collect();
            let alg = docs[0].algorithm().unwrap();
            let tbs: Vec<&[u8]> = docs.iter().map(|d| d.to_be_signed()).collect();
            let sub = signer.submit(alg, &tbs).unwrap();
            assert!(
                sub.pending_handle().is_some(),
                "the person has not approved yet"
            );
            (
                serde_json::to_string(&docs).unwrap(),
                serde_json::to_string(&sub).unwrap(),
            )
            // The signer and everything else are dropped here: the "restart".
        };
        let signer = open();
        let mut sub: hsm::Submission = serde_json::from_str(&stored_sub).unwrap();
        let docs: Vec<pki_core::pades::PendingPdf> = serde_json::from_str(&stored_docs).unwrap();
        let sigs = loop {
            if let Some(sigs) = signer.poll_submission(&mut sub).unwrap() {
                break sigs;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        for (d, sig) in docs.into_iter().zip(sigs) {
            d.finish(&sig, None).unwrap();
        }
        for n in 1..=2 {
            pdfsig_ok(&work.path().join(format!("out{n}.pdf")));
        }
    }
    assert_eq!(csc.stats().authorizations, 1);
    // TS 102 204: one transaction per document, the second sent after the restart.
    assert_eq!(mss.stats().signature_requests, 2);
}

#[test]
fn b_t_time_stamps_the_signature_after_the_approval() {
    let server = CscServer::start(CscConfig::new("officer-rsa"));
    let tsa = interop_tests::FixtureTsa::start();
    let s = Secrets::new();
    let work = tempfile::tempdir().unwrap();
    let a = work.path().join("bt.pdf");
    pdf(&a, "So: 9/UBND-VP");
    let out = work.path().join("out");
    let o = sign(
        &[a],
        &out,
        &s.csc(&server.api(), ""),
        &["--level", "B-T", "--tsa", &tsa.url],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("PAdES-B-T"), "{}", text(&o));
    pdfsig_ok(&out.join("bt.pdf"));
    pyhanko_ok(&out.join("bt.pdf"));
    let o = pki(&[
        "verify",
        &out.join("bt.pdf").display().to_string(),
        "--trust",
        &f("root.pem"),
        "--offline",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["signatures"][0]["level"], "PAdES-B-T", "{v}");
}

#[test]
fn a_service_that_signs_with_another_key_produces_no_document() {
    // The certificate is the officer's, the signatures are the agency's: every document must be
    // refused before anything is written (the signer checks each signature it receives).
    let mut cfg = CscConfig::new("officer-rsa");
    cfg.sign_with = Some("agency".into());
    let server = CscServer::start(cfg);
    let s = Secrets::new();
    let work = tempfile::tempdir().unwrap();
    let (a, b) = (work.path().join("a.pdf"), work.path().join("b.xml"));
    pdf(&a, "So: 1");
    xml(&b, 2);
    let out = work.path().join("out");
    let o = sign(&[a, b], &out, &s.csc(&server.api(), ""), &[]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("does not verify with the certificate"),
        "{}",
        text(&o)
    );
    assert_eq!(server.stats().hashes_signed, 2);
    assert_eq!(leftovers(&out), Vec::<String>::new());
}

#[test]
fn an_access_token_that_expires_during_the_wait_is_renewed() {
    let mut cfg = CscConfig::new("officer-rsa");
    cfg.token_uses = Some(3);
    cfg.script = Script::ApproveAfter(Duration::from_millis(800));
    let server = CscServer::start(cfg);
    let s = Secrets::new();
    let work = tempfile::tempdir().unwrap();
    let a = work.path().join("a.pdf");
    pdf(&a, "So: 1");
    let out = work.path().join("out");
    let o = sign(&[a], &out, &s.csc(&server.api(), ""), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let st = server.stats();
    assert!(st.tokens >= 2, "the token was renewed: {st:?}");
    pdfsig_ok(&out.join("a.pdf"));
}

#[test]
fn an_expired_access_token_is_renewed_with_the_refresh_token() {
    let mut cfg = CscConfig::new("officer-rsa");
    cfg.token_uses = Some(3);
    cfg.refresh_tokens = true;
    cfg.script = Script::ApproveAfter(Duration::from_millis(800));
    let server = CscServer::start(cfg);
    let s = Secrets::new();
    let work = tempfile::tempdir().unwrap();
    let a = work.path().join("a.pdf");
    pdf(&a, "So: 1");
    let out = work.path().join("out");
    let o = sign(&[a], &out, &s.csc(&server.api(), ""), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let st = server.stats();
    // One client-credentials grant at the start; every renewal after that by refresh token
    // (rotated each time: the server accepts only the latest).
    assert_eq!(st.tokens, 1, "{st:?}");
    assert!(st.refreshes >= 1, "{st:?}");
    pdfsig_ok(&out.join("a.pdf"));
    pyhanko_ok(&out.join("a.pdf"));
}

#[test]
fn https_with_a_private_ca_given_by_ca_file() {
    // A service on https whose certificate comes from a CA the system does not know: refused
    // by default, accepted with ca-file=. The CA and server certificate are made by openssl.
    let Some(openssl) = require_tool("openssl") else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let p = |n: &str| d.path().join(n).display().to_string();
    let ok = |c: &mut Command| {
        let o = run(c);
        assert!(o.status.success(), "{}", text(&o));
    };
    ok(Command::new(&openssl).args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=CA ky so tu xa thu nghiem",
        "-keyout",
        &p("ca.key"),
        "-out",
        &p("ca.pem"),
    ]));
    ok(Command::new(&openssl).args([
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &p("srv.key"),
        "-out",
        &p("srv.csr"),
    ]));
    std::fs::write(
        p("ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    ok(Command::new(&openssl).args([
        "x509",
        "-req",
        "-in",
        &p("srv.csr"),
        "-CA",
        &p("ca.pem"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &p("ext"),
        "-out",
        &p("srv.pem"),
    ]));
    let tls = interop_tests::httpd::tls_config(
        &std::fs::read_to_string(p("srv.pem")).unwrap(),
        &std::fs::read_to_string(p("srv.key")).unwrap(),
    );
    let server = CscServer::start_tls(CscConfig::new("officer-rsa"), tls);
    assert!(server.api().starts_with("https://127.0.0.1:"));
    let s = Secrets::new();
    let work = tempfile::tempdir().unwrap();
    let a = work.path().join("a.pdf");
    pdf(&a, "So: 1/TLS");
    let out = work.path().join("out");
    let o = sign(
        std::slice::from_ref(&a),
        &out,
        &s.csc(&server.api(), ""),
        &[],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("add ca-file=PEM"), "{}", text(&o));
    assert_eq!(leftovers(&out), Vec::<String>::new());
    let key = s.csc(&server.api(), &format!("&ca-file={}", p("ca.pem")));
    let o = sign(&[a], &out, &key, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    pdfsig_ok(&out.join("a.pdf"));
}

#[test]
fn mss_pkcs7_answers_give_the_sim_signature_and_a_foreign_certificate_is_refused() {
    let server = MsspServer::start(
        "officer-rsa",
        MSISDN,
        AP_ID,
        "ap-pass-1",
        MssScript::ApproveAfter(Duration::from_millis(200)),
    );
    // As Vietnamese MSSPs answer: a CMS SignedData with the SIM's certificate.
    server.answer_pkcs7(Some("officer-rsa"));
    let s = Secrets::new();
    let work = tempfile::tempdir().unwrap();
    let (a, b) = (work.path().join("qd.pdf"), work.path().join("qd.xml"));
    pdf(&a, "Quyết định số 7/QĐ-UBND");
    xml(&b, 7);
    let cert = f("officer-rsa.chain.pem");
    let out = work.path().join("out");
    let o = sign(
        &[a.clone(), b],
        &out,
        &s.mss(&server.url, "&format=pkcs7"),
        &["--cert", &cert],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    pdfsig_ok(&out.join("qd.pdf"));
    pyhanko_ok(&out.join("qd.pdf"));
    xmlsec_ok(&out.join("qd.xml"));

    // An MSSP whose SignedData carries (and names) someone else's certificate: refused, even
    // though the signature inside is the SIM's; nothing written.
    server.answer_pkcs7(Some("agency"));
    let out2 = work.path().join("out2");
    let o = sign(&[a], &out2, &s.mss(&server.url, ""), &["--cert", &cert]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        text(&o).contains("PKCS#7 signature that cannot be used"),
        "{}",
        text(&o)
    );
    assert_eq!(leftovers(&out2), Vec::<String>::new());
}
