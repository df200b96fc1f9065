//! `pki sign` on a PDF with keys generated on a SoftHSM2 token (RSA-2048 and P-256), their
//! certificates issued by our CA and imported next to them; pdfsig and our verifier accept the
//! signatures. Each test on its own fresh token (one process per test under nextest).
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should panic with its message"
)]

use interop_tests::pkcs11::{softhsm, TestToken};
use interop_tests::{fixtures, require_tool, run, text};
use std::process::Command;

fn ok(o: &std::process::Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{}", text(o));
    text(o)
}

fn sign_with_token_key(t: &TestToken, key_type: &str) {
    let dir = t.dir.path();
    let d = |n: &str| dir.join(n).display().to_string();
    let pin = format!("file:{}", t.pin_file.display());
    let module = t.module.display().to_string();
    let base = [
        "--module",
        &module,
        "--token",
        &t.label,
        "--pin-source",
        &pin,
    ];
    let with = |cmd: &[&str], rest: &[&str]| -> Vec<String> {
        cmd.iter()
            .chain(base.iter())
            .chain(rest.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let run_pki = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        t.pki(&refs)
    };
    ok(&run_pki(with(
        &["token", "keygen"],
        &["--type", key_type, "--label", "ký số"],
    )));
    ok(&run_pki(with(
        &["token", "csr"],
        &[
            "--object",
            "ký số",
            "--subject",
            "CN=Nguyễn Văn An,UID=CCCD:001099012345,O=Sở Tư pháp,C=VN",
            "-o",
            &d("req.pem"),
        ],
    )));
    // Our CA (a copy of the fixture's issuing CA) issues the certificate.
    let ca = dir.join("ca");
    std::fs::create_dir_all(&ca).unwrap();
    for f in ["ca.json", "ca.pem", "chain.pem", "ca.key", "index.txt"] {
        std::fs::copy(fixtures().join("pki/issuing").join(f), ca.join(f)).unwrap();
    }
    std::fs::create_dir_all(ca.join("issued")).unwrap();
    ok(&t.pki(&[
        "ca",
        "issue",
        "--ca",
        ca.to_str().unwrap(),
        "--csr",
        &d("req.pem"),
        "--profile",
        "personal",
        "-o",
        &d("leaf.pem"),
    ]));
    let chain = [
        std::fs::read_to_string(d("leaf.pem")).unwrap(),
        std::fs::read_to_string(fixtures().join("pki/issuing.pem")).unwrap(),
    ]
    .concat();
    std::fs::write(d("chain.pem"), chain).unwrap();
    ok(&run_pki(with(
        &["token", "import"],
        &["--cert", &d("chain.pem")],
    )));

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
