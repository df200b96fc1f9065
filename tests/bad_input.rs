//! Bad input gives exit code 3 and one clear sentence: never a panic, never a hang.

use interop_tests::{fixtures, pki, require_tool, run, text};
use std::process::Command;

fn assert_clear_error(args: &[&str], must_contain: &str) {
    let o = pki(args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{args:?}\n{}", text(&o));
    assert!(!stderr.contains("panicked"), "{}", text(&o));
    let first = stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with("error: "), "{}", text(&o));
    assert!(
        first.contains(must_contain),
        "expected \"{must_contain}\" in the first line\n{}",
        text(&o)
    );
}

#[test]
fn certificate_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n).display().to_string();
    std::fs::write(p("garbage"), b"\x01\x02 this is not a certificate").unwrap();
    std::fs::write(p("empty"), b"").unwrap();
    std::fs::write(
        p("key.pem"),
        std::fs::read(fixtures().join("pki/officer-rsa.key.pem")).unwrap(),
    )
    .unwrap();
    let der = {
        let pem = std::fs::read_to_string(fixtures().join("pki/officer-rsa.pem")).unwrap();
        pki_core::cert::parse_certificates(pem.as_bytes()).unwrap()[0]
            .der()
            .to_vec()
    };
    std::fs::write(p("truncated.der"), &der[..der.len() / 2]).unwrap();
    // A 1 GB sparse file: refused by size before reading.
    let big = std::fs::File::create(p("big.pem")).unwrap();
    big.set_len(1 << 30).unwrap();
    drop(big);
    assert_clear_error(&["cert", "show", &p("garbage")], "neither DER nor PEM");
    assert_clear_error(&["cert", "show", &p("empty")], "empty");
    assert_clear_error(&["cert", "show", &p("key.pem")], "PRIVATE KEY");
    assert_clear_error(
        &["cert", "show", &p("truncated.der")],
        "malformed certificate",
    );
    assert_clear_error(&["cert", "show", &p("big.pem")], "too large");
    assert_clear_error(&["cert", "show", &p("missing.pem")], "no such file");
    assert_clear_error(&["cert", "show", dir.path().to_str().unwrap()], "directory");
    let root = fixtures().join("pki/root.pem").display().to_string();
    assert_clear_error(
        &["cert", "verify", &p("garbage"), "--trust", &root],
        "neither DER nor PEM",
    );
    assert_clear_error(&["cert", "verify", &root, "--trust", &p("empty")], "empty");
    assert_clear_error(&["crl", "show", &p("garbage")], "not a usable CRL");
    assert_clear_error(&["crl", "show", &p("big.pem")], "too large");
    // Usage errors are exit 2.
    let o = pki(&[
        "cert",
        "verify",
        &root,
        "--trust",
        &root,
        "--at",
        "yesterday",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn openssl_reads_our_crls_and_certificates() {
    let Some(openssl) = require_tool("openssl") else {
        return;
    };
    let pki_dir = fixtures().join("pki");
    let o = run(Command::new(&openssl)
        .args(["crl", "-noout", "-text", "-CAfile"])
        .arg(pki_dir.join("issuing.pem"))
        .arg("-in")
        .arg(pki_dir.join("issuing.crl.pem")));
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("verify OK"), "{out}");
    assert!(out.contains("Key Compromise"), "{out}");
    let revoked =
        pki_core::cert::parse_certificates(&std::fs::read(pki_dir.join("revoked.pem")).unwrap())
            .unwrap();
    assert!(
        out.contains(&revoked[0].serial_hex().to_uppercase()),
        "{out}"
    );
    // And we read the same CRL: the revoked certificate is listed with its reason.
    let o = pki(&[
        "crl",
        "check",
        pki_dir.join("revoked.pem").to_str().unwrap(),
        "--crl",
        pki_dir.join("issuing.crl.pem").to_str().unwrap(),
        "--issuer",
        pki_dir.join("issuing.pem").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("keyCompromise"), "{}", text(&o));
    // An openssl-made CRL is read by us.
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path();
    std::fs::write(ca_dir.join("index.txt"), "").unwrap();
    std::fs::write(ca_dir.join("crlnumber"), "1000\n").unwrap();
    let conf = format!(
        "[ca]\ndefault_ca=d\n[d]\ndatabase={0}/index.txt\ncrlnumber={0}/crlnumber\ndefault_md=sha256\ndefault_crl_days=30\n",
        ca_dir.display()
    );
    std::fs::write(ca_dir.join("ca.cnf"), conf).unwrap();
    let o = run(Command::new(&openssl)
        .args(["ca", "-gencrl", "-config"])
        .arg(ca_dir.join("ca.cnf"))
        .arg("-cert")
        .arg(pki_dir.join("issuing.pem"))
        .arg("-keyfile")
        .arg(pki_dir.join("issuing/ca.key"))
        .arg("-out")
        .arg(ca_dir.join("openssl.crl")));
    assert!(o.status.success(), "{}", text(&o));
    let o = pki(&[
        "crl",
        "show",
        ca_dir.join("openssl.crl").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // openssl keeps crlnumber in hex.
    assert_eq!(v["crl_number"], "1000");
}

#[test]
fn a_reader_that_stops_early_is_not_a_crash() {
    use std::io::Read;
    // ~300 KB of output, far more than a pipe buffer holds.
    let cert = fixtures().join("pki/officer-rsa.pem");
    let mut cmd = Command::new(interop_tests::pki_bin());
    cmd.args(["cert", "show", "--json"]);
    for _ in 0..300 {
        cmd.arg(&cert);
    }
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The read end is dropped here: the next writes fail with EPIPE.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        matches!(out.status.code(), Some(0 | 141)),
        "{:?} {stderr}",
        out.status
    );
}
