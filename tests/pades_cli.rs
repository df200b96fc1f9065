//! `pki sign` / `pki verify` on PDFs through the command line: PEM and PKCS#12 keys, the JSON
//! report, tampering, and no output left by a failure.

use interop_tests::{fixtures, pki, require_tool, run, text};
use std::process::Command;

fn f(name: &str) -> String {
    fixtures().join("pki").join(name).display().to_string()
}

#[test]
fn sign_and_verify_with_pem_and_pkcs12_keys() {
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n).display().to_string();
    std::fs::write(
        d("in.pdf"),
        pki_core::pdf::sample::one_page(&["So: 7/UBND"]),
    )
    .unwrap();
    let o = pki(&[
        "sign",
        &d("in.pdf"),
        "-o",
        &d("a.pdf"),
        "--key",
        &f("officer-ec.key.pem"),
        "--cert",
        &f("officer-ec.chain.pem"),
        "--reason",
        "Phê duyệt",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = pki(&[
        "verify",
        &d("a.pdf"),
        "--trust",
        &f("root.pem"),
        "--offline",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["format"], "pdf");
    assert_eq!(v["indication"], "TOTAL-PASSED");
    assert_eq!(v["signatures"][0]["signer"]["common_name"], "Trần Thị Bình");
    assert_eq!(v["signatures"][0]["algorithm"], "ecdsa-with-SHA256");

    // PKCS#12 made by openssl, password from a pin-source file.
    let Some(openssl) = require_tool("openssl") else {
        return;
    };
    std::fs::write(d("pw"), "mật-khẩu-123\n").unwrap();
    let passout = format!("file:{}", d("pw"));
    let o = run(Command::new(&openssl)
        .args(["pkcs12", "-export", "-passout", &passout])
        .args([
            "-inkey",
            &f("officer-rsa.key.pem"),
            "-in",
            &f("officer-rsa.chain.pem"),
            "-out",
            &d("officer.p12"),
        ]));
    assert!(o.status.success(), "{}", text(&o));
    let src = format!("file:{}", d("pw"));
    let o = pki(&[
        "sign",
        &d("a.pdf"),
        "-o",
        &d("b.pdf"),
        "--key",
        &d("officer.p12"),
        "--pin-source",
        &src,
        "--pss",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    if let Some(pdfsig) = require_tool("pdfsig") {
        let log = text(&run(Command::new(pdfsig).arg(d("b.pdf"))));
        assert_eq!(log.matches("Signature is Valid").count(), 2, "{log}");
    }
    // A wrong password: exit 3, one sentence, and no output file.
    std::fs::write(d("bad"), "sai\n").unwrap();
    let bad = format!("file:{}", d("bad"));
    let o = pki(&[
        "sign",
        &d("in.pdf"),
        "-o",
        &d("c.pdf"),
        "--key",
        &d("officer.p12"),
        "--pin-source",
        &bad,
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("password"), "{}", text(&o));
    assert!(
        !text(&o).contains("sai"),
        "the password leaked: {}",
        text(&o)
    );
    assert!(!dir.path().join("c.pdf").exists());
    // Tampered: exit 1; not a PDF: exit 3.
    let mut bytes = std::fs::read(d("a.pdf")).unwrap();
    let i = bytes.windows(4).position(|w| w == b"So: ").unwrap();
    bytes[i + 4] = b'8';
    std::fs::write(d("t.pdf"), bytes).unwrap();
    let o = pki(&[
        "verify",
        &d("t.pdf"),
        "--trust",
        &f("root.pem"),
        "--offline",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    std::fs::write(d("junk.pdf"), b"%PDF-1.7\ngarbage").unwrap();
    let o = pki(&[
        "verify",
        &d("junk.pdf"),
        "--trust",
        &f("root.pem"),
        "--offline",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    // An expired certificate is refused before signing.
    let o = pki(&[
        "sign",
        &d("in.pdf"),
        "-o",
        &d("e.pdf"),
        "--key",
        &f("expired.key.pem"),
        "--cert",
        &f("expired.chain.pem"),
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("expired"), "{}", text(&o));
    assert!(!dir.path().join("e.pdf").exists());
}

#[test]
fn a_batch_signs_a_directory_of_pdf_and_xml_with_one_key_opening() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("inbox");
    let outbox = dir.path().join("outbox");
    std::fs::create_dir_all(&inbox).unwrap();
    for n in 1..=3 {
        std::fs::write(
            inbox.join(format!("cv-{n}.pdf")),
            pki_core::pdf::sample::one_page(&[&format!("So: {n}/UBND")]),
        )
        .unwrap();
    }
    std::fs::write(
        inbox.join("to-trinh.xml"),
        "<VanBan><NoiDung>Tờ trình số 4</NoiDung></VanBan>\n",
    )
    .unwrap();
    std::fs::write(inbox.join("hong.pdf"), b"%PDF-1.7\nthis file is damaged").unwrap();
    std::fs::write(inbox.join("ghi-chu.txt"), "not a document").unwrap();
    let o = pki(&[
        "sign",
        inbox.to_str().unwrap(),
        "--out-dir",
        outbox.to_str().unwrap(),
        "--key",
        &f("agency.key.pem"),
        "--cert",
        &f("agency.chain.pem"),
    ]);
    // The damaged file fails (exit 3) and the other four are signed.
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("signed 4/5"), "{}", text(&o));
    assert!(!outbox.join("hong.pdf").exists());
    assert!(!outbox.join("ghi-chu.txt").exists());
    let mut outs: Vec<String> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    outs.sort();
    assert_eq!(outs, ["cv-1.pdf", "cv-2.pdf", "cv-3.pdf", "to-trinh.xml"]);
    let files: Vec<String> = outs
        .iter()
        .filter(|n| n.ends_with(".pdf"))
        .map(|n| outbox.join(n).display().to_string())
        .collect();
    let mut args = vec!["verify"];
    args.extend(files.iter().map(String::as_str));
    let root = f("root.pem");
    args.extend(["--trust", &root, "--offline"]);
    let o = pki(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let xml = outbox.join("to-trinh.xml").display().to_string();
    let o = pki(&["verify", &xml, "--trust", &root, "--offline"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Usage errors: -o with several inputs; an output that is the input.
    let one = inbox.join("cv-1.pdf").display().to_string();
    let two = inbox.join("cv-2.pdf").display().to_string();
    let o = pki(&[
        "sign",
        &one,
        &two,
        "-o",
        "x.pdf",
        "--key",
        &f("agency.key.pem"),
        "--cert",
        &f("agency.chain.pem"),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = pki(&[
        "sign",
        &one,
        "-o",
        &one,
        "--key",
        &f("agency.key.pem"),
        "--cert",
        &f("agency.chain.pem"),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("never modified"), "{}", text(&o));
    // A directory signed into itself, or into a link to itself, is refused before anything is
    // written: each output would replace its input.
    let link = dir.path().join("inbox-link");
    std::os::unix::fs::symlink(&inbox, &link).unwrap();
    let before = std::fs::read(inbox.join("cv-1.pdf")).unwrap();
    for out_dir in [&inbox, &link] {
        let o = pki(&[
            "sign",
            inbox.to_str().unwrap(),
            "--out-dir",
            out_dir.to_str().unwrap(),
            "--key",
            &f("agency.key.pem"),
            "--cert",
            &f("agency.chain.pem"),
        ]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(text(&o).contains("never modified"), "{}", text(&o));
    }
    assert_eq!(std::fs::read(inbox.join("cv-1.pdf")).unwrap(), before);
    // An input that is a link to a file in the output directory is checked in full too.
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(outbox.join("cv-1.pdf"), elsewhere.join("cv-1.pdf")).unwrap();
    let o = pki(&[
        "sign",
        elsewhere.to_str().unwrap(),
        "--out-dir",
        outbox.to_str().unwrap(),
        "--key",
        &f("agency.key.pem"),
        "--cert",
        &f("agency.chain.pem"),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("never modified"), "{}", text(&o));
}
