//! `pki sign` on a PDF with keys generated on a SoftHSM2 token (RSA-2048 and P-256), their
//! certificates issued by our CA and imported next to them; pdfsig and our verifier accept the
//! signatures. Each test on its own fresh token (one process per test under nextest).
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should panic with its message"
)]

use interop_tests::pkcs11::{issue_on_token, softhsm, TestToken};
use interop_tests::{fixtures, require_tool, run, text};
use std::process::Command;

fn ok(o: &std::process::Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{}", text(o));
    text(o)
}

fn sign_with_token_key(t: &TestToken, key_type: &str) {
    let dir = t.dir.path();
    let d = |n: &str| dir.join(n).display().to_string();
    issue_on_token(
        t,
        key_type,
        "ký số",
        "CN=Nguyễn Văn An,UID=CCCD:001099012345,O=Sở Tư pháp,C=VN",
        "personal",
    );
    std::fs::write(
        d("in.pdf"),
        pki_core::pdf::sample::one_page(&["So: 9/UBND-VP"]),
    )
    .unwrap();
    let uri = t.uri("object=k%C3%BD%20s%E1%BB%91");
    ok(&t.pki(&["sign", &d("in.pdf"), "-o", &d("out.pdf"), "--key", &uri]));
    let root = fixtures().join("pki/root.pem").display().to_string();
    let o = t.pki(&[
        "verify",
        &d("out.pdf"),
        "--trust",
        &root,
        "--offline",
        "--format",
        "json",
    ]);
    let out = ok(&o);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["indication"], "TOTAL-PASSED", "{out}");
    assert_eq!(v["signatures"][0]["signer"]["common_name"], "Nguyễn Văn An");
    if let Some(pdfsig) = require_tool("pdfsig") {
        let log = text(&run(Command::new(pdfsig).arg(d("out.pdf"))));
        assert!(log.contains("Signature is Valid"), "{log}");
    }
    // The PIN never shows.
    assert!(!out.contains(&t.pin), "{out}");
}

#[test]
fn rsa_key_on_softhsm_signs_a_pdf() {
    let Some(t) = softhsm("Sở Tư pháp RSA") else {
        return;
    };
    sign_with_token_key(&t, "rsa2048");
}

#[test]
fn ec_key_on_softhsm_signs_a_pdf() {
    let Some(t) = softhsm("Sở Tư pháp EC") else {
        return;
    };
    sign_with_token_key(&t, "p256");
}

#[test]
fn tsa_serve_signs_with_a_token_key() {
    let Some(t) = softhsm("TSA HSM") else {
        return;
    };
    let leaf = issue_on_token(
        &t,
        "p256",
        "tsa",
        "CN=TSA trên HSM,O=PKI thử nghiệm,C=VN",
        "tsa",
    );
    let issuing = fixtures().join("pki/issuing.pem");
    let mut cmd = Command::new(interop_tests::pki_bin());
    cmd.args(["tsa", "serve", "--listen", "127.0.0.1:0", "--cert"])
        .arg(&leaf)
        .arg("--chain")
        .arg(&issuing)
        .arg("--key")
        .arg(t.uri("object=tsa"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in &t.env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_default()
        .to_string();
    let data = t.dir.path().join("data.txt");
    std::fs::write(&data, "văn bản").unwrap();
    let token = t.dir.path().join("token.tsr");
    let o = t.pki(&[
        "tsa",
        "query",
        data.to_str().unwrap(),
        "--url",
        &url,
        "--out",
        token.to_str().unwrap(),
    ]);
    let _ = child.kill();
    let _ = child.wait();
    ok(&o);
    let root = fixtures().join("pki/root.pem");
    let o = t.pki(&[
        "tsa",
        "verify",
        token.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--trust",
        root.to_str().unwrap(),
        "--untrusted",
        issuing.to_str().unwrap(),
    ]);
    ok(&o);
}
