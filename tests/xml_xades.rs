//! XAdES B-T end to end: `pki sign --level B-T --tsa URL` against `pki tsa serve` on loopback;
//! `pki verify` reports the timestamp (valid, proven signing time, XAdES-B-T) and validates the
//! signer's path at the timestamp's time; xmlsec1 still verifies the signature; a tampered
//! token is reported and ignored (the signature stays B-B).
use interop_tests::{fixtures, pki, require_tool, text, FixtureTsa};
use std::process::Command;

fn pkifile(name: &str) -> String {
    fixtures().join("pki").join(name).display().to_string()
}

const DOC: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<VanBan xmlns=\"urn:vb\"><NoiDung Id=\"nd1\">Quyết định số 1</NoiDung></VanBan>\n";

#[test]
fn b_t_round_trip_with_our_tsa() {
    let tsa = FixtureTsa::start();
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("in.xml");
    std::fs::write(&inp, DOC).unwrap();
    let out = dir.path().join("bt.xml");
    let (key, chain) = (pkifile("agency.key.pem"), pkifile("agency.chain.pem"));
    let o = pki(&[
        "sign",
        inp.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--key",
        &key,
        "--cert",
        &chain,
        "--level",
        "B-T",
        "--tsa",
        &tsa.url,
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let signed = std::fs::read_to_string(&out).unwrap();
    assert!(signed.contains("<xades:SignatureTimeStamp"), "{signed}");

    let o = pki(&[
        "verify",
        "--offline",
        out.to_str().unwrap(),
        "--trust",
        &pkifile("root.pem"),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let s = &v["signatures"][0];
    assert_eq!(s["level"], "XAdES-B-T", "{v}");
    assert_eq!(s["timestamp"]["valid"], true, "{v}");
    assert_eq!(s["signing_time_proven"], true, "{v}");

    if let Some(xmlsec) = require_tool("xmlsec1") {
        let o = Command::new(xmlsec)
            .env("SSL_CERT_FILE", "/dev/null")
            .args(["--verify", "--trusted-pem", &pkifile("root.pem")])
            .args([
                "--id-attr:Id",
                "http://uri.etsi.org/01903/v1.3.2#:SignedProperties",
            ])
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "xmlsec1: {}", text(&o));
    }

    // A token whose bytes were changed is reported and ignored.
    let start = signed.find("<xades:EncapsulatedTimeStamp>").unwrap() + 29;
    let mut bytes = signed.into_bytes();
    let i = start + 200;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    std::fs::write(&out, &bytes).unwrap();
    let o = pki(&[
        "verify",
        "--offline",
        out.to_str().unwrap(),
        "--trust",
        &pkifile("root.pem"),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let s = &v["signatures"][0];
    assert_eq!(s["level"], "XAdES-B-B", "{v}");
    assert_eq!(s["signing_time_proven"], false, "{v}");
    assert!(s["warnings"].to_string().contains("timestamp"), "{v}");
}

#[test]
fn b_t_needs_a_tsa_url() {
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("in.xml");
    std::fs::write(&inp, DOC).unwrap();
    let o = pki(&[
        "sign",
        inp.to_str().unwrap(),
        "-o",
        dir.path().join("o.xml").to_str().unwrap(),
        "--key",
        &pkifile("agency.key.pem"),
        "--cert",
        &pkifile("agency.chain.pem"),
        "--level",
        "B-T",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--tsa"));
}

/// XAdES B-LT: certificate and revocation values gathered at signing time let `pki verify
/// --offline` settle the signer's status after every server is gone; xmlsec1 still verifies.
#[test]
fn b_lt_carries_certificate_and_revocation_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = interop_tests::LivePki::start(dir.path());
    let inp = dir.path().join("in.xml");
    std::fs::write(&inp, DOC).unwrap();
    let sign = |out: &std::path::Path, level: &str| {
        interop_tests::run(
            Command::new(interop_tests::pki_bin())
                .arg("sign")
                .arg(&inp)
                .arg("-o")
                .arg(out)
                .args(p.officer_args())
                .args(["--level", level])
                .env("PKI_HTTP_TIMEOUT", "3")
                .env("LANG", "C"),
        )
    };
    let lt = dir.path().join("lt.xml");
    let o = sign(&lt, "B-LT");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let bt = dir.path().join("bt.xml");
    let o = sign(&bt, "B-T");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let signed = std::fs::read_to_string(&lt).unwrap();
    for e in [
        "<xades:CertificateValues>",
        "<xades:EncapsulatedX509Certificate>",
        "<xades:RevocationValues><xades:OCSPValues><xades:EncapsulatedOCSPValue>",
    ] {
        assert!(signed.contains(e), "{e} missing:\n{signed}");
    }
    let root = p.dir.join("root.pem").display().to_string();
    p.stop_ocsp();
    p.stop_crl();

    let verify = |f: &std::path::Path| {
        let o = pki(&[
            "verify",
            "--offline",
            f.to_str().unwrap(),
            "--trust",
            &root,
            "--format",
            "json",
        ]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        (o, v)
    };
    let (o, v) = verify(&lt);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let s = &v["signatures"][0];
    assert_eq!(s["level"], "XAdES-B-LT", "{v}");
    assert_eq!(s["revocation"]["status"], "good", "{v}");
    assert_eq!(s["revocation"]["source"], "ocsp", "{v}");
    assert_eq!(s["revocation"]["embedded"], true, "{v}");
    // The B-T control carries nothing: offline, its status stays unchecked.
    let (_, v) = verify(&bt);
    let s = &v["signatures"][0];
    assert_eq!(s["level"], "XAdES-B-T", "{v}");
    assert_eq!(s["revocation"]["status"], "not-checked", "{v}");

    if let Some(xmlsec) = require_tool("xmlsec1") {
        let o = Command::new(xmlsec)
            .env("SSL_CERT_FILE", "/dev/null")
            .args(["--verify", "--trusted-pem", &root])
            .args([
                "--id-attr:Id",
                "http://uri.etsi.org/01903/v1.3.2#:SignedProperties",
            ])
            .arg(&lt)
            .output()
            .unwrap();
        assert!(o.status.success(), "xmlsec1: {}", text(&o));
    }
}
