//! Interop with Python `signxml` (lxml canonicalization, `cryptography` signatures), installed in
//! `.venv` by scripts/install-test-deps: it verifies what `pki sign` makes (enveloped, enveloping,
//! detached; each c14n; RSA PKCS#1 v1.5, RSA-PSS, ECDSA; XAdES B-B) and `pki verify` verifies
//! what it signs.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should panic with its message"
)]

use interop_tests::{fixtures, in_ci, pki, require_tool, text};
use std::path::{Path, PathBuf};
use std::process::Command;

/// No `xml:lang` on the root here: signxml (lxml) does not carry `xml:*` attributes into a
/// document subset under inclusive c14n (C14N 1.0 §2.4 says to, and xmlsec1 and we do), so with
/// one it computes a different canonical SignedInfo. `xmlsec1` is tested with one.
const DOC: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<VanBan xmlns=\"http://example.org/vb\" xmlns:x=\"urn:x\">\n  <NoiDung Id=\"nd1\" x:loai=\"công\tvăn\">Ủy ban nhân dân &amp; <![CDATA[<tỉnh>]]><!-- ghi chú --></NoiDung>\n  <Khac xmlns=\"\" a=\"&#9;b\"><x:y/></Khac>\n</VanBan>\n";

const SCRIPT: &str = r##"
import sys
from lxml import etree
from signxml import XMLSigner, XMLVerifier, SignatureMethod, DigestAlgorithm, CanonicalizationMethod, methods
from signxml.xades import XAdESVerifier

mode = sys.argv[1]
if mode == "verify":
    path, cert, nrefs, xades = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "1"
    data = open(path, "rb").read()
    v = XAdESVerifier() if xades else XMLVerifier()
    res = v.verify(data, x509_cert=open(cert).read(), expect_references=nrefs)
    res = res if isinstance(res, list) else [res]
    for r in res:
        print("SIGNED", etree.tostring(r.signed_xml)[:60])
    print("OK")
else:
    inp, out, method, c14n, alg, key, chain = sys.argv[2:9]
    root = etree.parse(inp).getroot()
    signer = XMLSigner(method=getattr(methods, method), signature_algorithm=SignatureMethod[alg],
                       digest_algorithm=DigestAlgorithm.SHA256, c14n_algorithm=CanonicalizationMethod[c14n])
    certs = open(chain).read()
    pems = ["-----BEGIN CERTIFICATE-----" + c for c in certs.split("-----BEGIN CERTIFICATE-----")[1:]]
    kw = {}
    if method == "detached":
        kw["reference_uri"] = "#nd1"
    signed = signer.sign(root, key=open(key, "rb").read(), cert=pems, **kw)
    if method == "detached":
        # signxml computes a detached signature out of any context: put it beside the data
        # under a root without namespace declarations, so its context stays empty.
        wrapper = etree.Element("Goi")
        wrapper.append(root)
        wrapper.append(signed)
        signed = wrapper
    open(out, "wb").write(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))
    print("OK")
"##;

fn python() -> Option<PathBuf> {
    let py = require_tool("python")?;
    let ok = Command::new(&py)
        .args(["-c", "import signxml"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if ok {
        return Some(py);
    }
    if in_ci() {
        panic!("signxml is missing from .venv; scripts/install-test-deps installs it");
    }
    eprintln!("\n*** SKIP: signxml is not installed; run scripts/install-test-deps ***\n");
    None
}

fn pkifile(name: &str) -> String {
    fixtures().join("pki").join(name).display().to_string()
}

fn script(dir: &Path) -> PathBuf {
    let p = dir.join("peer.py");
    std::fs::write(&p, SCRIPT).unwrap();
    p
}

#[test]
fn signxml_verifies_what_we_sign() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let sc = script(dir.path());
    let inp = dir.path().join("in.xml");
    std::fs::write(&inp, DOC).unwrap();
    let out = dir.path().join("out.xml");
    let cases: Vec<(Vec<&str>, &str, usize, bool)> = vec![
        (vec![], "officer-rsa", 1, false),
        (vec!["--id", "nd1"], "officer-rsa", 1, false),
        (vec!["--enveloping"], "officer-rsa", 1, false),
        (vec!["--detached", "--id", "nd1"], "officer-rsa", 1, false),
        (vec!["--pss"], "officer-rsa", 1, false),
        (vec!["--enveloping"], "officer-ec", 1, false),
        (vec![], "officer-ec", 1, false),
        (vec!["--level", "B-B"], "officer-rsa", 2, true),
    ];
    let mut n = 0;
    for (args, key, nrefs, xades) in cases {
        for c14n in ["exc", "inclusive", "c14n11"] {
            let mut a = vec![
                "sign".to_owned(),
                inp.display().to_string(),
                "-o".into(),
                out.display().to_string(),
                "--key".into(),
                pkifile(&format!("{key}.key.pem")),
                "--cert".into(),
                pkifile(&format!("{key}.chain.pem")),
                "--c14n".into(),
                c14n.into(),
            ];
            a.extend(args.iter().map(|s| s.to_string()));
            let refs: Vec<&str> = a.iter().map(String::as_str).collect();
            let o = pki(&refs);
            assert!(o.status.success(), "{}", text(&o));
            let o = Command::new(&py)
                .arg(&sc)
                .args([
                    "verify",
                    out.to_str().unwrap(),
                    &pkifile(&format!("{key}.pem")),
                ])
                .arg(nrefs.to_string())
                .arg(if xades { "1" } else { "0" })
                .output()
                .unwrap();
            assert!(
                o.status.success() && String::from_utf8_lossy(&o.stdout).contains("OK"),
                "signxml rejects {args:?} {c14n} {key}: {}",
                text(&o)
            );
            n += 1;
        }
    }
    assert_eq!(n, 24);
}

#[test]
fn we_verify_what_signxml_signs() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let sc = script(dir.path());
    let inp = dir.path().join("in.xml");
    std::fs::write(&inp, DOC).unwrap();
    let out = dir.path().join("theirs.xml");
    let mut n = 0;
    for method in ["enveloped", "enveloping", "detached"] {
        for c14n in [
            "CANONICAL_XML_1_0",
            "CANONICAL_XML_1_1",
            "EXCLUSIVE_XML_CANONICALIZATION_1_0",
        ] {
            for (key, alg) in [
                ("officer-rsa", "RSA_SHA256"),
                ("officer-rsa", "SHA256_RSA_MGF1"),
                ("officer-ec", "ECDSA_SHA256"),
            ] {
                let o = Command::new(&py)
                    .arg(&sc)
                    .args(["sign", inp.to_str().unwrap(), out.to_str().unwrap()])
                    .args([method, c14n, alg])
                    .arg(pkifile(&format!("{key}.key.pem")))
                    .arg(pkifile(&format!("{key}.chain.pem")))
                    .output()
                    .unwrap();
                assert!(
                    o.status.success(),
                    "signxml sign {method} {c14n} {alg}: {}",
                    text(&o)
                );
                let s = out.to_str().unwrap();
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
                    "{method} {c14n} {alg}: {}\n{}",
                    text(&o),
                    std::fs::read_to_string(&out).unwrap()
                );
                let bad = std::fs::read_to_string(&out)
                    .unwrap()
                    .replacen("Ủy ban", "Uy ban", 1);
                std::fs::write(&out, bad).unwrap();
                let o = pki(&["verify", s, "--trust", &pkifile("root.pem")]);
                assert_eq!(
                    o.status.code(),
                    Some(1),
                    "tampered {method} {c14n}: {}",
                    text(&o)
                );
                n += 1;
            }
        }
    }
    assert_eq!(n, 27);
}

/// signxml keeps comments in a `URI=""` or `URI="#id"` reference under a `#WithComments`
/// canonicalization, where XMLDSig §4.4.3.3 removes them. xmlsec1 follows the rule and so do
/// we: where signxml departs from it, our verdict must be xmlsec1's.
#[test]
fn signxml_with_comments_divergence_we_side_with_xmlsec1() {
    let Some(py) = python() else { return };
    let Some(xmlsec) = require_tool("xmlsec1") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let sc = script(dir.path());
    let inp = dir.path().join("in.xml");
    std::fs::write(&inp, DOC).unwrap();
    let out = dir.path().join("theirs.xml");
    for method in ["enveloped", "enveloping", "detached"] {
        for c14n in [
            "CANONICAL_XML_1_0_WITH_COMMENTS",
            "EXCLUSIVE_XML_CANONICALIZATION_1_0_WITH_COMMENTS",
        ] {
            let o = Command::new(&py)
                .arg(&sc)
                .args(["sign", inp.to_str().unwrap(), out.to_str().unwrap()])
                .args([method, c14n, "RSA_SHA256"])
                .arg(pkifile("officer-rsa.key.pem"))
                .arg(pkifile("officer-rsa.chain.pem"))
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", text(&o));
            let theirs = Command::new(&xmlsec)
                .env("SSL_CERT_FILE", "/dev/null")
                .args(["--verify", "--trusted-pem", &pkifile("root.pem")])
                .args(["--id-attr:Id", "http://example.org/vb:NoiDung"])
                .args(["--id-attr:Id", "http://www.w3.org/2000/09/xmldsig#:Object"])
                .arg(&out)
                .output()
                .unwrap();
            let ours = pki(&[
                "verify",
                out.to_str().unwrap(),
                "--trust",
                &pkifile("root.pem"),
            ]);
            assert_eq!(
                ours.status.success(),
                theirs.status.success(),
                "{method} {c14n}: ours {}\nxmlsec1 {}",
                text(&ours),
                text(&theirs)
            );
        }
    }
}
