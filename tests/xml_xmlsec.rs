//! Interop with `xmlsec1` (libxml2's canonicalization, the reference most verifiers agree with):
//! it verifies what `pki sign` makes (enveloped, enveloping, detached; each canonicalization;
//! RSA and ECDSA; XAdES B-B; the e-invoice and edXML profiles), and `pki verify` verifies what
//! it signs, on an input made to stress canonicalization (namespaces redeclared and undeclared,
//! a literal tab and newline in an attribute, CDATA, PIs, comments, Vietnamese text).
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should panic with its message"
)]

use interop_tests::{fixtures, pki, require_tool, text};
use std::path::{Path, PathBuf};
use std::process::Command;

const NS: &str = "http://example.org/vb";

/// The document to sign: each line exercises a canonicalization rule.
const DOC: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<?xml-stylesheet href=\"a.xsl\"  type=\"text/xsl\"?>\n<!-- đầu -->\n<VanBan xmlns=\"http://example.org/vb\" xmlns:x=\"urn:x\" xml:lang=\"vi\">\n  <NoiDung Id=\"nd1\" x:loai=\"công\tvăn\ndòng\" b=\"&#9;&#xA;&lt;&quot;'\">Ủy ban nhân dân &amp; <![CDATA[<tỉnh> & ]]>\r\n<?pi  data ?><!-- ghi chú --></NoiDung>\n  <Khac xmlns=\"\" xmlns:x=\"urn:x2\" a=\"&#9;b\"><x:y xmlns:z=\"urn:z\" z:k=\"1\" k=\"2\"/></Khac>\n  <x:T>&#xD;</x:T>\n</VanBan>\n<!-- cuối -->\n";

fn xmlsec() -> Option<PathBuf> {
    require_tool("xmlsec1")
}

fn pkifile(name: &str) -> String {
    fixtures().join("pki").join(name).display().to_string()
}

/// xmlsec1 --verify with the test root trusted and Ids registered.
fn xmlsec_verify(tool: &Path, file: &Path) -> (bool, String) {
    let o = Command::new(tool)
        .env("SSL_CERT_FILE", "/dev/null")
        .args(["--verify", "--trusted-pem", &pkifile("root.pem")])
        .args(["--id-attr:Id", &format!("{NS}:NoiDung")])
        .args(["--id-attr:Id", "http://www.w3.org/2000/09/xmldsig#:Object"])
        .args([
            "--id-attr:Id",
            "http://uri.etsi.org/01903/v1.3.2#:SignedProperties",
        ])
        .args(["--id-attr:Id", "DLHDon"])
        .args(["--id-attr:Id", "Object"])
        .arg(file)
        .output()
        .unwrap();
    (o.status.success(), text(&o))
}

fn sign_ours(dir: &Path, input: &str, args: &[&str], key: &str) -> PathBuf {
    let inp = dir.join("in.xml");
    std::fs::write(&inp, input).unwrap();
    let out = dir.join("out.xml");
    let mut a = vec![
        "sign".to_owned(),
        inp.display().to_string(),
        "-o".into(),
        out.display().to_string(),
        "--key".into(),
        pkifile(&format!("{key}.key.pem")),
        "--cert".into(),
        pkifile(&format!("{key}.chain.pem")),
    ];
    a.extend(args.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
    let o = pki(&refs);
    assert!(o.status.success(), "pki sign {args:?}: {}", text(&o));
    out
}

#[test]
fn xmlsec1_verifies_what_we_sign() {
    let Some(tool) = xmlsec() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    for placement in [
        &[][..],
        &["--id", "nd1"][..],
        &["--enveloping"][..],
        &["--detached", "--id", "nd1"][..],
    ] {
        for c14n in ["exc", "inclusive", "c14n11"] {
            for key in ["officer-rsa", "officer-ec"] {
                let mut args = placement.to_vec();
                args.extend(["--c14n", c14n]);
                let out = sign_ours(dir.path(), DOC, &args, key);
                let (ok, log) = xmlsec_verify(&tool, &out);
                assert!(ok, "xmlsec1 rejects {args:?} {key}:\n{log}");
                // Sanity: xmlsec1 does notice a change.
                let bad = std::fs::read_to_string(&out)
                    .unwrap()
                    .replacen("Ủy ban", "Uy ban", 1);
                std::fs::write(&out, bad).unwrap();
                assert!(!xmlsec_verify(&tool, &out).0, "{args:?} tampered");
                n += 1;
            }
        }
    }
    assert_eq!(n, 24);
}

#[test]
fn xmlsec1_verifies_xades_einvoice_and_edxml() {
    let Some(tool) = xmlsec() else { return };
    let dir = tempfile::tempdir().unwrap();
    let out = sign_ours(dir.path(), DOC, &["--level", "B-B"], "officer-rsa");
    let (ok, log) = xmlsec_verify(&tool, &out);
    assert!(ok, "XAdES B-B: {log}");
    assert!(log.contains("SignedInfo References (ok/all): 2/2"), "{log}");

    let invoice = "<?xml version=\"1.0\" encoding=\"utf-8\"?><HDon><DLHDon Id=\"_593651\"><TTChung><PBan>2.1.0</PBan><THDon>Hoá đơn giá trị gia tăng</THDon></TTChung><NDHDon><NBan><Ten>Công ty cổ phần &amp; dịch vụ</Ten></NBan></NDHDon></DLHDon><DSCKS><NBan /><NMua /></DSCKS></HDon>";
    for c14n in [&[][..], &["--c14n", "exc"][..]] {
        let mut args = vec!["--profile", "einvoice"];
        args.extend(c14n);
        let out = sign_ours(dir.path(), invoice, &args, "agency");
        let (ok, log) = xmlsec_verify(&tool, &out);
        assert!(ok, "e-invoice {c14n:?}: {log}");
        assert!(log.contains("SignedInfo References (ok/all): 2/2"), "{log}");
    }

    let edxml = r#"<?xml version="1.0" encoding="UTF-8"?>
<edXML:edXML xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">
  <edXML:edXMLEnvelope>
    <edXML:edXMLHeader>
      <edXML:MessageHeader><edXML:From><edXML:OrganId>000.00.00.G22</edXML:OrganId><edXML:OrganName>Văn phòng Chính phủ</edXML:OrganName></edXML:From><edXML:DocumentId>000.00.00.G22,2015/09/30,7816/VPCP-TTĐT</edXML:DocumentId></edXML:MessageHeader>
      <edXML:TraceHeaderList><edXML:TraceHeader><edXML:OrganId>000.00.00.G22</edXML:OrganId><edXML:Timestamp>2015-09-30T10:00:00+07:00</edXML:Timestamp></edXML:TraceHeader></edXML:TraceHeaderList>
    </edXML:edXMLHeader>
    <edXML:edXMLBody><edXML:edXMLManifest><edXML:Reference xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="cid:1"><edXML:AttachmentName>vb.pdf</edXML:AttachmentName></edXML:Reference></edXML:edXMLManifest></edXML:edXMLBody>
  </edXML:edXMLEnvelope>
  <edXML:AttachmentEncoded><edXML:Attachment ContentId="1" ContentType="application/pdf">JVBERi0xLjQK</edXML:Attachment></edXML:AttachmentEncoded>
</edXML:edXML>
"#;
    let out = sign_ours(dir.path(), edxml, &["--profile", "edxml"], "agency");
    let signed = std::fs::read_to_string(&out).unwrap();
    assert!(signed.contains("</edXML:TraceHeaderList><ds:Signature"));
    let (ok, log) = xmlsec_verify(&tool, &out);
    assert!(ok, "edXML: {log}");
}

/// An xmlsec1 template: (file text, whether the data sits in a ds:Object).
fn template(placement: &str, c14n: &str, sig_method: &str) -> String {
    let refs = |uri: &str, enveloped: bool| {
        format!(
            "<ds:Reference URI=\"{uri}\"><ds:Transforms>{}<ds:Transform Algorithm=\"{c14n}\"/></ds:Transforms><ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ds:DigestValue/></ds:Reference>",
            if enveloped { "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>" } else { "" }
        )
    };
    let sig = |r: String, obj: &str| {
        format!(
            "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" Id=\"theirs\"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm=\"{c14n}\"/><ds:SignatureMethod Algorithm=\"{sig_method}\"/>{r}</ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo>{obj}</ds:Signature>"
        )
    };
    let close = "</VanBan>\n<!-- cuối -->\n";
    let body = DOC.strip_suffix(close).unwrap();
    match placement {
        "enveloped" => format!("{body}{}{close}", sig(refs("", true), "")),
        "enveloped-comments" => format!("{body}{}{close}", sig(refs("#xpointer(/)", true), "")),
        "enveloped-id" => DOC.replacen(
            "<!-- ghi chú --></NoiDung>",
            &format!("<!-- ghi chú -->{}</NoiDung>", sig(refs("#nd1", true), "")),
            1,
        ),
        "detached" => format!("{body}{}{close}", sig(refs("#nd1", false), "")),
        "enveloping" => {
            let root_start = DOC.find("<VanBan").unwrap();
            let root_end = DOC.find(close).unwrap() + "</VanBan>".len();
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}",
                sig(
                    refs("#obj", false),
                    &format!(
                        "<ds:Object Id=\"obj\">{}</ds:Object>",
                        &DOC[root_start..root_end]
                    )
                )
            )
        }
        _ => unreachable!(),
    }
}

#[test]
fn we_verify_what_xmlsec1_signs() {
    let Some(tool) = xmlsec() else { return };
    let dir = tempfile::tempdir().unwrap();
    let c14ns = [
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
        "http://www.w3.org/2006/12/xml-c14n11",
        "http://www.w3.org/2006/12/xml-c14n11#WithComments",
        "http://www.w3.org/2001/10/xml-exc-c14n#",
        "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    ];
    let keys = [
        (
            "officer-rsa",
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        ),
        (
            "officer-ec",
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        ),
    ];
    let mut n = 0;
    for placement in [
        "enveloped",
        "enveloped-comments",
        "enveloped-id",
        "detached",
        "enveloping",
    ] {
        for c14n in c14ns {
            for (key, method) in keys {
                let tmpl = dir.path().join("tmpl.xml");
                std::fs::write(&tmpl, template(placement, c14n, method)).unwrap();
                let signed = dir.path().join("theirs.xml");
                let o = Command::new(&tool)
                    .env("SSL_CERT_FILE", "/dev/null")
                    .arg("--sign")
                    .args([
                        "--privkey-pem",
                        &format!(
                            "{},{},{}",
                            pkifile(&format!("{key}.key.pem")),
                            pkifile(&format!("{key}.pem")),
                            pkifile("issuing.pem")
                        ),
                    ])
                    .args(["--id-attr:Id", &format!("{NS}:NoiDung")])
                    .args(["--id-attr:Id", "http://www.w3.org/2000/09/xmldsig#:Object"])
                    .args(["--output", signed.to_str().unwrap()])
                    .arg(&tmpl)
                    .output()
                    .unwrap();
                assert!(
                    o.status.success(),
                    "xmlsec1 --sign {placement} {c14n}: {}",
                    text(&o)
                );
                let s = signed.to_str().unwrap();
                let o = pki(&[
                    "verify",
                    s,
                    "--trust",
                    &pkifile("root.pem"),
                    "--format",
                    "json",
                ]);
                assert_eq!(
                    o.status.code(),
                    Some(0),
                    "{placement} {c14n} {key}: {}\n{}",
                    text(&o),
                    std::fs::read_to_string(&signed).unwrap()
                );
                let bad = std::fs::read_to_string(&signed)
                    .unwrap()
                    .replacen("Ủy ban", "Uy ban", 1);
                std::fs::write(&signed, bad).unwrap();
                let o = pki(&[
                    "verify",
                    s,
                    "--trust",
                    &pkifile("root.pem"),
                    "--format",
                    "json",
                ]);
                assert_eq!(
                    o.status.code(),
                    Some(1),
                    "tampered {placement} {c14n}: {}",
                    text(&o)
                );
                assert!(String::from_utf8_lossy(&o.stdout).contains("HASH_FAILURE"));
                n += 1;
            }
        }
    }
    assert_eq!(n, 60);
}

/// A real e-invoice (CA2 sample) with its seller signature removed, signed again by us with
/// the e-invoice profile: xmlsec1 verifies both references.
#[test]
fn real_invoice_resigned_verifies_in_xmlsec1() {
    let Some(tool) = xmlsec() else { return };
    let dir = tempfile::tempdir().unwrap();
    let sample = std::fs::read_to_string(
        fixtures()
            .join("samples-vn")
            .join("xml_hdon_ca2_NBan593651_valid.xml"),
    )
    .unwrap();
    let start = sample.find("<Signature").unwrap();
    let end = sample.find("</Signature>").unwrap() + "</Signature>".len();
    let unsigned = format!("{}{}", &sample[..start], &sample[end..]);
    assert!(unsigned.contains("<NBan></NBan>"));
    let out = sign_ours(dir.path(), &unsigned, &["--profile", "einvoice"], "agency");
    let signed = std::fs::read_to_string(&out).unwrap();
    // Everything outside the new signature is byte for byte the original.
    let s = signed.find("<Signature").unwrap();
    let e = signed.find("</Signature>").unwrap() + "</Signature>".len();
    assert_eq!(format!("{}{}", &signed[..s], &signed[e..]), unsigned);
    let (ok, log) = xmlsec_verify(&tool, &out);
    assert!(ok, "{log}");
    assert!(log.contains("SignedInfo References (ok/all): 2/2"), "{log}");
    let o = pki(&[
        "verify",
        out.to_str().unwrap(),
        "--trust",
        &pkifile("root.pem"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}
