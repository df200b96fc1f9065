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
