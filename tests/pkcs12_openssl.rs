//! PKCS#12 files made by `openssl pkcs12 -export` (modern PBES2/AES and `-legacy` 3DES/RC2) open
//! as software keys, with the leaf certificate first, and their signatures verify with openssl.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use hsm::{
    Error, HashAlgorithm, KeyRef, OpenOptions, SecretString, SignatureAlgorithm, Signer,
    SoftwareKey,
};
use interop_tests::{require_tool, run, text};
use std::path::Path;
use std::process::Command;

const PASSWORD: &str = "Mật-khẩu 1";

fn openssl(dir: &Path, args: &[&str]) {
    let o = run(Command::new("openssl").args(args).current_dir(dir));
    assert!(o.status.success(), "openssl {args:?} failed:\n{}", text(&o));
}

/// A CA and a leaf signed by it (key type from `newkey`), in `dir`.
fn make_chain(dir: &Path, newkey: &[&str]) {
    openssl(
        dir,
        &[
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
            "/CN=Test CA/O=Bộ Tư pháp/C=VN",
            "-utf8",
            "-days",
            "30",
        ],
    );
    let mut args = vec!["req", "-new"];
    args.extend_from_slice(newkey);
    args.extend_from_slice(&[
        "-nodes",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=Nguyễn Văn An/UID=CCCD:001099012345/C=VN",
        "-utf8",
    ]);
    openssl(dir, &args);
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "30",
        ],
    );
}

fn export(dir: &Path, legacy: bool, out: &str) {
    let pass = format!("pass:{PASSWORD}");
    let mut args = vec![
        "pkcs12",
        "-export",
        "-inkey",
        "leaf.key",
        "-in",
        "leaf.pem",
        "-certfile",
        "ca.pem",
        "-out",
        out,
        "-passout",
        &pass,
    ];
    if legacy {
        args.push("-legacy");
    }
    openssl(dir, &args);
}

fn verify_with_openssl(dir: &Path, key: &SoftwareKey, alg: SignatureAlgorithm) {
    let msg = "Quyết định số 12/QĐ-UBND".as_bytes();
    let sig = key.sign(alg, msg).unwrap();
    std::fs::write(dir.join("msg"), msg).unwrap();
    std::fs::write(dir.join("sig"), &sig).unwrap();
    let mut args = vec![
        "dgst",
        "-sha256",
        "-verify",
        "leaf.pub",
        "-signature",
        "sig",
    ];
    if matches!(alg, SignatureAlgorithm::RsaPss(_)) {
        args.extend_from_slice(&[
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:32",
        ]);
    }
    args.push("msg");
    openssl(
        dir,
        &[
            "x509", "-in", "leaf.pem", "-pubkey", "-noout", "-out", "leaf.pub",
        ],
    );
    openssl(dir, &args);
    // Tamper: one flipped byte must not verify.
    let mut bad = msg.to_vec();
    bad[0] ^= 1;
    std::fs::write(dir.join("msg"), bad).unwrap();
    let o = run(Command::new("openssl").args(&args).current_dir(dir));
    assert!(
        !o.status.success(),
        "tampered message verified:\n{}",
        text(&o)
    );
}

fn check(newkey: &[&str], legacy: bool, alg: SignatureAlgorithm) {
    if require_tool("openssl").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    make_chain(dir.path(), newkey);
    export(dir.path(), legacy, "k.p12");
    let der = std::fs::read(dir.path().join("k.p12")).unwrap();
    let key = SoftwareKey::from_pkcs12(&der, &SecretString::from(PASSWORD), "k.p12").unwrap();
    let certs = key.certificates();
    assert_eq!(certs.len(), 2, "leaf and CA");
    let leaf_pem = std::fs::read_to_string(dir.path().join("leaf.pem")).unwrap();
    let leaf_der = hsm::pem::pem_blocks(&leaf_pem).remove(0).1;
    assert_eq!(certs[0], leaf_der, "leaf first");
    verify_with_openssl(dir.path(), &key, alg);

    let e = SoftwareKey::from_pkcs12(&der, &SecretString::from("wrong"), "k.p12").unwrap_err();
    assert!(matches!(e, Error::WrongPassword { .. }), "{e}");
    assert!(!e.to_string().contains("wrong\""));

    // Through hsm::open with a password source file, detected by content.
    let pw = dir.path().join("pw");
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let opts = OpenOptions {
        secret_source: Some(format!("file:{}", pw.display())),
        ..OpenOptions::default()
    };
    let s = hsm::open(&KeyRef::File(dir.path().join("k.p12")), &opts).unwrap();
    assert_eq!(s.public_key_der(), key.public_key_der());
}

#[test]
fn modern_pbes2_rsa() {
    check(
        &["-newkey", "rsa:2048"],
        false,
        SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha256),
    );
}

#[test]
fn modern_pbes2_rsa_pss() {
    check(
        &["-newkey", "rsa:2048"],
        false,
        SignatureAlgorithm::RsaPss(HashAlgorithm::Sha256),
    );
}

#[test]
fn modern_pbes2_ec_p256() {
    check(
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        false,
        SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha256),
    );
}

#[test]
fn legacy_3des_rc2_rsa() {
    check(
        &["-newkey", "rsa:2048"],
        true,
        SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha256),
    );
}

#[test]
fn legacy_3des_rc2_ec() {
    check(
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
        true,
        SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha256),
    );
}

#[test]
fn pem_key_with_certificates_in_the_same_file() {
    if require_tool("openssl").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    make_chain(dir.path(), &["-newkey", "rsa:2048"]);
    let combined = [
        std::fs::read_to_string(dir.path().join("ca.pem")).unwrap(),
        std::fs::read_to_string(dir.path().join("leaf.key")).unwrap(),
        std::fs::read_to_string(dir.path().join("leaf.pem")).unwrap(),
    ]
    .concat();
    std::fs::write(dir.path().join("all.pem"), combined).unwrap();
    let s = hsm::open(
        &KeyRef::File(dir.path().join("all.pem")),
        &OpenOptions::default(),
    )
    .unwrap();
    let certs = s.certificates();
    assert_eq!(certs.len(), 2);
    let leaf_pem = std::fs::read_to_string(dir.path().join("leaf.pem")).unwrap();
    assert_eq!(certs[0], hsm::pem::pem_blocks(&leaf_pem).remove(0).1);
}
