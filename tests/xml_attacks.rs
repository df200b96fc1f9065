//! Attacks on XML signatures: each is refused (exit 3, the document is not evaluated) or
//! reported invalid (exit 1, TOTAL-FAILED) with a clear reason.
//!
//! Signature wrapping (a signed element moved, duplicate Ids, an extra unsigned copy), entity
//! expansion (billion laughs), external entities, disallowed transforms and external references.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should panic with its message"
)]

use interop_tests::{fixtures, pki, text};
use std::path::Path;

fn pkifile(name: &str) -> String {
    fixtures().join("pki").join(name).display().to_string()
}

const INVOICE: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?><HDon><DLHDon Id=\"_1\"><TTChung><THDon>Hóa đơn giá trị gia tăng</THDon></TTChung><NDHDon><TToan><TgTTTBSo>1000000</TgTTTBSo></TToan></NDHDon></DLHDon><DSCKS><NBan /><NMua /></DSCKS></HDon>";

const DOC: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<VanBan xmlns=\"urn:vb\"><NoiDung Id=\"nd1\">Chuyển 1.000.000 đồng</NoiDung><Khac/></VanBan>\n";

fn sign(dir: &Path, input: &str, args: &[&str]) -> String {
    let inp = dir.join("in.xml");
    std::fs::write(&inp, input).unwrap();
    let out = dir.join("signed.xml");
    let mut a = vec![
        "sign",
        inp.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--key",
    ];
    let key = pkifile("agency.key.pem");
    let cert = pkifile("agency.chain.pem");
    a.extend([key.as_str(), "--cert", cert.as_str()]);
    a.extend(args);
    let o = pki(&a);
    assert!(o.status.success(), "{}", text(&o));
    std::fs::read_to_string(out).unwrap()
}

/// Runs `pki verify --format json`; returns (exit code, report or stderr).
fn verify(dir: &Path, xml: &str) -> (i32, serde_json::Value, String) {
    let f = dir.join("attack.xml");
    std::fs::write(&f, xml).unwrap();
    let root = pkifile("root.pem");
    let o = pki(&[
        "verify",
        f.to_str().unwrap(),
        "--trust",
        &root,
        "--format",
        "json",
    ]);
    let code = o.status.code().unwrap();
    let v = serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null);
    (code, v, text(&o))
}

fn errors(v: &serde_json::Value) -> String {
    v["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["errors"].as_array().unwrap().iter())
        .map(|e| e.as_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn baseline_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let signed = sign(dir.path(), INVOICE, &["--profile", "einvoice"]);
    let (code, v, log) = verify(dir.path(), &signed);
    assert_eq!(code, 0, "{log}");
    assert_eq!(
        v["signatures"][0]["covers"][0],
        "<DLHDon Id=\"_1\"> at /HDon/DLHDon"
    );
}

#[test]
fn moved_signed_invoice_data_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let signed = sign(dir.path(), INVOICE, &["--profile", "einvoice"]);
    let start = signed.find("<DLHDon").unwrap();
    let end = signed.find("</DLHDon>").unwrap() + "</DLHDon>".len();
    let original = &signed[start..end];
    let forged = original
        .replace("1000000", "9000000")
        .replace(" Id=\"_1\"", "");
    // The original goes into a new Object of the signature (xmlns="" keeps its canonical
    // form); a forged copy takes its place.
    let moved = original.replacen("<DLHDon", "<DLHDon xmlns=\"\"", 1);
    let attacked = signed.replacen(original, &forged, 1).replacen(
        "</Signature>",
        &format!("<Object>{moved}</Object></Signature>"),
        1,
    );
    let (code, v, log) = verify(dir.path(), &attacked);
    assert_eq!(code, 1, "{log}");
    let e = errors(&v);
    assert!(e.contains("signature wrapping"), "{e}");
    assert!(
        e.contains("does not cover the invoice data /HDon/DLHDon"),
        "{e}"
    );

    // The original moved into an extra element outside the signature: its digest still
    // matches, the wrapping checks fail it.
    let attacked = signed.replacen(original, &forged, 1).replacen(
        "</HDon>",
        &format!("<TTKhac>{original}</TTKhac></HDon>"),
        1,
    );
    let (code, v, log) = verify(dir.path(), &attacked);
    assert_eq!(code, 1, "{log}");
    assert_eq!(
        v["signatures"][0]["sub_indication"], "FORMAT_FAILURE",
        "{log}"
    );
    assert_eq!(
        v["signatures"][0]["references"][0]["digest_ok"], true,
        "{log}"
    );
    let e = errors(&v);
    assert!(e.contains("the signed <DLHDon> is at /HDon/TTKhac/DLHDon, but an unsigned <DLHDon> also stands at /HDon/DLHDon"), "{e}");
    assert!(
        e.contains("does not cover the invoice data /HDon/DLHDon"),
        "{e}"
    );
}

#[test]
fn moved_signed_element_in_plain_document_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let signed = sign(dir.path(), DOC, &["--detached", "--id", "nd1"]);
    let original = "<NoiDung Id=\"nd1\">Chuyển 1.000.000 đồng</NoiDung>";
    let attacked = signed
        .replacen(original, "<NoiDung>Chuyển 9.000.000 đồng</NoiDung>", 1)
        .replacen(
            "</ds:Signature>",
            &format!("<ds:Object>{original}</ds:Object></ds:Signature>"),
            1,
        );
    // The moved element keeps its digest (its namespace context is the same) ...
    let (code, v, log) = verify(dir.path(), &attacked);
    // ... but the report says where it is, and the wrapping check fails the signature.
    assert_eq!(code, 1, "{log}");
    assert!(v["signatures"][0]["covers"][0]
        .as_str()
        .unwrap()
        .contains("/VanBan/Signature/Object/NoiDung"));
    assert!(
        errors(&v).contains("an unsigned <NoiDung> also stands at /VanBan/NoiDung"),
        "{log}"
    );
}

#[test]
fn duplicate_ids_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let signed = sign(dir.path(), INVOICE, &["--profile", "einvoice"]);
    // A forged DLHDon with the same Id placed first, the signed one kept later.
    let attacked = signed.replacen(
        "<HDon>",
        "<HDon><Wrapper><DLHDon Id=\"_1\"><TTChung/></DLHDon></Wrapper>",
        1,
    );
    let (code, v, log) = verify(dir.path(), &attacked);
    assert_eq!(code, 1, "{log}");
    assert_eq!(v["signatures"][0]["sub_indication"], "FORMAT_FAILURE");
    assert!(errors(&v).contains("carried by 2 elements"), "{log}");
}

#[test]
fn extra_unsigned_copy_is_refused_for_invoices_and_flagged_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let signed = sign(dir.path(), INVOICE, &["--profile", "einvoice"]);
    let attacked = signed.replacen(
        "<HDon>",
        "<HDon><DLHDon><TTChung><THDon>giả</THDon></TTChung></DLHDon>",
        1,
    );
    let (code, v, log) = verify(dir.path(), &attacked);
    assert_eq!(code, 1, "{log}");
    assert!(errors(&v).contains("unsigned <DLHDon>"), "{log}");

    // In a generic document an unsigned copy is a warning and the report names what is signed.
    let signed = sign(dir.path(), DOC, &["--id", "nd1"]);
    let attacked = signed.replacen("<Khac/>", "<Khac><NoiDung>giả</NoiDung></Khac>", 1);
    let (code, v, log) = verify(dir.path(), &attacked);
    assert_eq!(code, 0, "{log}");
    let w = v["signatures"][0]["warnings"].to_string();
    assert!(
        w.contains("unsigned <NoiDung> also stands at /VanBan/Khac/NoiDung"),
        "{w}"
    );
    assert_eq!(
        v["signatures"][0]["covers"][0],
        "<NoiDung Id=\"nd1\"> at /VanBan/NoiDung except the signature itself"
    );
}

#[test]
fn billion_laughs_and_external_entities_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let signed = sign(dir.path(), DOC, &[]);
    let body = signed.split_once("?>\n").unwrap().1;
    let lol = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE VanBan [<!ENTITY lol \"lol\"><!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\"><!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">]>\n{}",
        body.replacen("Chuyển", "&lol2;", 1)
    );
    let xxe = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE VanBan [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n{}",
        body.replacen("Chuyển", "&x;", 1)
    );
    let remote_dtd = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE VanBan SYSTEM \"http://127.0.0.1:9/evil.dtd\">\n{body}"
    );
    for (name, doc) in [
        ("billion laughs", lol),
        ("XXE", xxe),
        ("remote DTD", remote_dtd),
    ] {
        let (code, _, log) = verify(dir.path(), &doc);
        assert_eq!(code, 3, "{name}: {log}");
        assert!(log.contains("DOCTYPE"), "{name}: {log}");
        // Signing refuses them too.
        let f = dir.path().join("lol.xml");
        std::fs::write(&f, &doc).unwrap();
        let o = pki(&[
            "sign",
            f.to_str().unwrap(),
            "-o",
            dir.path().join("x.xml").to_str().unwrap(),
            "--key",
            &pkifile("agency.key.pem"),
            "--cert",
            &pkifile("agency.chain.pem"),
        ]);
        assert_eq!(o.status.code(), Some(3), "{name}: {}", text(&o));
        assert!(!dir.path().join("x.xml").exists());
    }
    // An undeclared entity is malformed XML, not expanded.
    let (code, _, log) = verify(dir.path(), &signed.replacen("Chuyển", "&x;", 1));
    assert_eq!(code, 3, "{log}");
}

#[test]
fn unsafe_transforms_and_external_references_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let signed = sign(dir.path(), DOC, &[]);
    let xslt = signed.replacen(
        "<ds:Transforms>",
        "<ds:Transforms><ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xslt-19991116\"><xsl:stylesheet xmlns:xsl=\"http://www.w3.org/1999/XSL/Transform\" version=\"1.0\"/></ds:Transform>",
        1,
    );
    let (code, v, log) = verify(dir.path(), &xslt);
    assert_eq!(code, 1, "{log}");
    assert!(errors(&v).contains("is not allowed"), "{log}");
    let xpath = signed.replacen(
        "<ds:Transforms>",
        "<ds:Transforms><ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"><ds:XPath>1</ds:XPath></ds:Transform>",
        1,
    );
    assert_eq!(verify(dir.path(), &xpath).0, 1);
    let external = signed.replacen("URI=\"\"", "URI=\"http://127.0.0.1:9/data\"", 1);
    let (code, v, log) = verify(dir.path(), &external);
    assert_eq!(code, 1, "{log}");
    assert!(errors(&v).contains("never fetched"), "{log}");
}

#[test]
fn deep_nesting_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let deep = format!("<a>{}{}</a>", "<b>".repeat(5000), "</b>".repeat(5000));
    let (code, _, log) = verify(dir.path(), &deep);
    assert_eq!(code, 3, "{log}");
    assert!(log.contains("deep"), "{log}");
}
