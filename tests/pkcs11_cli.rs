//! `pki token ...` against a fresh SoftHSM2 token: keygen, a CSR with a Vietnamese subject that
//! `openssl req -verify` accepts, issuing with openssl and importing the certificate next to its
//! key, and PINs that never show in the output. Needs `target/debug/pki` (scripts/test builds it).
#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use hsm::{KeyRef, OpenOptions};
use interop_tests::pkcs11::{softhsm, TestToken};
use interop_tests::{require_tool, run, text};
use std::process::Command;

const SUBJECT: &str = "CN=Nguyễn Văn An,UID=CCCD:001099012345,O=Sở Tư pháp,L=Hà Nội,C=VN";

fn ok(o: &std::process::Output) -> String {
    assert!(o.status.success(), "pki failed:\n{}", text(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn pin_arg(t: &TestToken) -> String {
    format!("file:{}", t.pin_file.display())
}

fn token_args<'a>(t: &'a TestToken, pin: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "--module",
        t.module.to_str().unwrap(),
        "--token",
        &t.label,
        "--pin-source",
        pin,
    ];
    v.extend_from_slice(rest);
    v
}

#[test]
fn keygen_csr_issue_import_and_sign() {
    let Some(t) = softhsm("Sở Tư pháp") else {
        return;
    };
    if require_tool("openssl").is_none() {
        return;
    }
    let pin = pin_arg(&t);
    let dir = t.dir.path();
    let mut a = vec!["token", "keygen"];
    a.extend(token_args(
        &t,
        &pin,
        &["--type", "rsa2048", "--label", "ký số"],
    ));
    let out = ok(&t.pki(&a));
    assert!(out.contains("RSA 2048"), "{out}");

    let csr = dir.join("req.pem");
    let mut a = vec!["token", "csr"];
    a.extend(token_args(
        &t,
        &pin,
        &[
            "--object",
            "ký số",
            "--subject",
            SUBJECT,
            "-o",
            csr.to_str().unwrap(),
        ],
    ));
    ok(&t.pki(&a));
    let o = run(Command::new("openssl")
        .args([
            "req", "-verify", "-noout", "-subject", "-nameopt", "utf8", "-in",
        ])
        .arg(&csr));
    assert!(
        o.status.success(),
        "openssl req -verify failed:\n{}",
        text(&o)
    );
    let shown = String::from_utf8_lossy(&o.stdout);
    assert!(shown.contains("CN=Nguyễn Văn An"), "{shown}");
    assert!(shown.contains("UID=CCCD:001099012345"), "{shown}");
    assert!(shown.contains("O=Sở Tư pháp"), "{shown}");

    // A CA issues the certificate; import it (with the CA) next to the key.
    let sh = |args: &[&str]| {
        let o = run(Command::new("openssl").args(args).current_dir(dir));
        assert!(o.status.success(), "openssl {args:?}:\n{}", text(&o));
    };
    sh(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-subj",
        "/CN=CA Test/C=VN",
        "-days",
        "30",
    ]);
    sh(&[
        "x509",
        "-req",
        "-in",
        "req.pem",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "leaf.pem",
        "-days",
        "30",
    ]);
    let chain = [
        std::fs::read_to_string(dir.join("leaf.pem")).unwrap(),
        std::fs::read_to_string(dir.join("ca.pem")).unwrap(),
    ]
    .concat();
    std::fs::write(dir.join("chain.pem"), chain).unwrap();
    let mut a = vec!["token", "import"];
    let chain_path = dir.join("chain.pem");
    a.extend(token_args(
        &t,
        &pin,
        &["--cert", chain_path.to_str().unwrap()],
    ));
    let out = ok(&t.pki(&a));
    assert!(out.contains("next to its key"), "{out}");

    let mut a = vec!["token", "objects"];
    a.extend(token_args(&t, &pin, &[]));
    let out = ok(&t.pki(&a));
    assert!(out.contains("sensitive=true extractable=false"), "{out}");
    assert_eq!(out.matches("certificate").count(), 2, "{out}");

    // The signer finds the certificate by CKA_ID and the chain above it.
    let s = hsm::open(
        &KeyRef::parse(&t.uri("object=k%C3%BD%20s%E1%BB%91")).unwrap(),
        &OpenOptions::default(),
    )
    .unwrap();
    let certs = s.certificates();
    let pem = |f: &str| {
        hsm::pem::pem_blocks(&std::fs::read_to_string(dir.join(f)).unwrap())
            .remove(0)
            .1
    };
    assert_eq!(certs, vec![pem("leaf.pem"), pem("ca.pem")]);
}

#[test]
fn ec_keys_and_pss_requests_verify() {
    let Some(t) = softhsm("ec cli") else { return };
    if require_tool("openssl").is_none() {
        return;
    }
    let pin = pin_arg(&t);
    for (ty, label) in [("p256", "e256"), ("p384", "e384"), ("rsa3072", "r3072")] {
        let mut a = vec!["token", "keygen"];
        a.extend(token_args(
            &t,
            &pin,
            &["--type", ty, "--label", label, "--id", "0102"],
        ));
        if ty != "p256" {
            // --id given twice is refused; let the others be random.
            a.truncate(a.len() - 2);
        }
        ok(&t.pki(&a));
    }
    for (label, extra) in [
        ("e256", None),
        ("e384", Some("--hash=sha512")),
        ("r3072", Some("--pss")),
    ] {
        let mut a = vec!["token", "csr"];
        a.extend(token_args(
            &t,
            &pin,
            &[
                "--object",
                label,
                "--subject",
                "CN=Trần Thị B,UID=MST:0101234567,C=VN",
            ],
        ));
        if let Some(e) = extra {
            a.push(e);
        }
        let pem = ok(&t.pki(&a));
        let p = t.dir.path().join(format!("{label}.csr"));
        std::fs::write(&p, pem).unwrap();
        let o = run(Command::new("openssl")
            .args(["req", "-verify", "-noout", "-in"])
            .arg(&p));
        assert!(
            o.status.success(),
            "{label}: openssl req -verify failed:\n{}",
            text(&o)
        );
    }
    // The same id twice is refused.
    let mut a = vec!["token", "keygen"];
    a.extend(token_args(
        &t,
        &pin,
        &["--type", "p256", "--label", "again", "--id", "0102"],
    ));
    let o = t.pki(&a);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn pins_never_appear_in_output() {
    let Some(t) = softhsm("pin cli") else { return };
    let pin = pin_arg(&t);
    let mut a = vec!["token", "keygen"];
    a.extend(token_args(&t, &pin, &["--type", "p256", "--label", "k"]));
    ok(&t.pki(&a));
    // Right PIN: nothing printed shows it.
    let mut a = vec!["token", "objects"];
    a.extend(token_args(&t, &pin, &[]));
    let o = t.pki(&a);
    let all = text(&o);
    assert!(o.status.success(), "{all}");
    assert!(!all.contains(&t.pin), "the PIN leaked:\n{all}");
    // Wrong PIN: exit 3, a clear sentence, and the PIN is not in it.
    let wrong = "864209";
    let bad = t.dir.path().join("wrong-pin");
    std::fs::write(&bad, format!("{wrong}\n")).unwrap();
    let bad_src = format!("file:{}", bad.display());
    let mut a = vec!["token", "objects"];
    a.extend(token_args(&t, &bad_src, &[]));
    let o = t.pki(&a);
    let all = text(&o);
    assert_eq!(o.status.code(), Some(3), "{all}");
    assert!(all.contains("PIN was refused"), "{all}");
    assert!(
        !all.contains(wrong) && !all.contains(&t.pin),
        "a PIN leaked:\n{all}"
    );
    // In Vietnamese too.
    let mut vi = vec!["--lang", "vi"];
    vi.extend_from_slice(&a);
    let o = t.pki(&vi);
    let all = text(&o);
    assert_eq!(o.status.code(), Some(3), "{all}");
    assert!(all.contains("từ chối mã PIN"), "{all}");
    assert!(!all.contains(wrong), "the PIN leaked:\n{all}");
    // Same with debug logging on.
    let o = {
        let mut cmd = Command::new(interop_tests::pki_bin());
        cmd.args(&a).env("PKI_LOG", "trace");
        for (k, v) in &t.env {
            cmd.env(k, v);
        }
        run(&mut cmd)
    };
    let all = text(&o);
    assert!(!all.contains(wrong), "the PIN leaked into the log:\n{all}");
    // No PIN source and no terminal: a clear error, not a hang.
    let o = t.pki(&[
        "token",
        "objects",
        "--module",
        t.module.to_str().unwrap(),
        "--token",
        &t.label,
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("PIN is needed"), "{}", text(&o));
}

#[test]
fn list_shows_tokens_and_errors_are_operational() {
    let Some(t) = softhsm("list me") else { return };
    let out = ok(&t.pki(&["token", "list", "--module", t.module.to_str().unwrap()]));
    assert!(out.contains("token: list me"), "{out}");
    assert!(out.contains("LOGIN_REQUIRED"), "{out}");
    assert!(out.contains("uri: pkcs11:token=list%20me"), "{out}");
    let o = t.pki(&["token", "list", "--module", "/nonexistent/libvendor.so"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let pin = pin_arg(&t);
    let o = t.pki(&[
        "token",
        "objects",
        "--module",
        t.module.to_str().unwrap(),
        "--token",
        "absent",
        "--pin-source",
        &pin,
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("no token matching"), "{}", text(&o));
    let o = t.pki(&[
        "token",
        "csr",
        "--module",
        t.module.to_str().unwrap(),
        "--subject",
        "XX=1",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
