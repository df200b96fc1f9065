//! Public-API tests of XML signing and verification: round trips for every placement, profile,
//! canonicalization and key type, and tamper tests.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should panic with its message"
)]

use hsm::SoftwareKey;
use pki_core::cert::{parse_certificates, Certificate};
use pki_core::trust::CertPool;
use pki_core::xml::c14n::C14nMethod;
use pki_core::xml::sign::{sign, Placement, Profile, SignOptions};
use pki_core::xml::verify::{verify, CryptoCheck, Indication, VerifyOptions};
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/pki")
}

fn key(name: &str) -> (SoftwareKey, Vec<Certificate>) {
    let pem = std::fs::read_to_string(fixtures().join(format!("{name}.key.pem"))).unwrap();
    let chain =
        parse_certificates(&std::fs::read(fixtures().join(format!("{name}.chain.pem"))).unwrap())
            .unwrap();
    (SoftwareKey::from_pem(&pem, name).unwrap(), chain)
}

fn anchors() -> CertPool {
    CertPool::from_certs(
        parse_certificates(&std::fs::read(fixtures().join("root.pem")).unwrap()).unwrap(),
    )
}

fn now() -> time::OffsetDateTime {
    pki_core::time::parse_user_time("2026-01-15T10:00:00+07:00").unwrap()
}

const DOC: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- đầu -->\n<VanBan xmlns=\"urn:vb\" xmlns:x=\"urn:x\">\n  <NoiDung Id=\"nd1\" x:loai=\"công\tvăn\">Ủy ban nhân dân &amp; <![CDATA[<tỉnh>]]></NoiDung>\n  <Khac/>\n</VanBan>\n";

fn check(out: &[u8]) -> pki_core::xml::verify::XmlReport {
    let a = anchors();
    let none = CertPool::new();
    let r = verify(out, &VerifyOptions::new(now(), &a, &none)).unwrap();
    r
}

#[test]
fn round_trips_every_placement_and_c14n() {
    let (k, chain) = key("officer-rsa");
    for c14n in [
        C14nMethod::Exclusive10,
        C14nMethod::Inclusive10,
        C14nMethod::Inclusive11,
    ] {
        for (placement, id) in [
            (Placement::Enveloped, None),
            (Placement::Enveloped, Some("nd1")),
            (Placement::Enveloping, None),
            (Placement::Detached, Some("nd1")),
        ] {
            let mut o = SignOptions::new(now());
            o.placement = placement;
            o.id = id.map(str::to_owned);
            o.c14n = Some(c14n);
            let out = sign(DOC.as_bytes(), &k, &chain, &o).unwrap();
            let r = check(&out);
            let s = &r.signatures[0];
            assert_eq!(
                r.indication,
                Indication::TotalPassed,
                "{placement:?} {c14n:?}: {:?}\n{}",
                s.errors,
                String::from_utf8_lossy(&out)
            );
            // The user's bytes are kept.
            if placement != Placement::Enveloping {
                let text = String::from_utf8(out.clone()).unwrap();
                assert!(text.starts_with(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- đầu -->\n<VanBan"
                ));
                assert!(
                    text.contains("x:loai=\"công\tvăn\">Ủy ban nhân dân &amp; <![CDATA[<tỉnh>]]>")
                );
            }
            // Tamper: change one signed character.
            let bad = String::from_utf8(out)
                .unwrap()
                .replacen("Ủy ban", "Uy ban", 1);
            let r = check(bad.as_bytes());
            assert_eq!(
                r.indication,
                Indication::TotalFailed,
                "{placement:?} {c14n:?}"
            );
            assert_eq!(r.signatures[0].crypto, CryptoCheck::HashFailure);
        }
    }
}

#[test]
fn ecdsa_pss_and_xades() {
    let (ec, ec_chain) = key("officer-ec");
    let (rsa, rsa_chain) = key("officer-rsa");
    let mut o = SignOptions::new(now());
    o.xades = true;
    let out = sign(DOC.as_bytes(), &ec, &ec_chain, &o).unwrap();
    let r = check(&out);
    let s = &r.signatures[0];
    assert_eq!(r.indication, Indication::TotalPassed, "{:?}", s.errors);
    assert_eq!(s.level, "XAdES-B-B");
    assert_eq!(s.signing_certificate_ok, Some(true));
    assert_eq!(s.signing_time.as_ref().unwrap().time, now());
    o.pss = true;
    let out = sign(DOC.as_bytes(), &rsa, &rsa_chain, &o).unwrap();
    let r = check(&out);
    assert_eq!(
        r.indication,
        Indication::TotalPassed,
        "{:?}",
        r.signatures[0].errors
    );
    assert_eq!(
        r.signatures[0].algorithm_name.as_deref(),
        Some("RSASSA-PSS-SHA256")
    );
    // The signature value verifies only with the right key.
    let swapped = String::from_utf8(out).unwrap();
    let value_start = swapped.find("<ds:SignatureValue>").unwrap() + 19;
    let mut bytes = swapped.into_bytes();
    bytes[value_start + 5] = if bytes[value_start + 5] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let r = check(&bytes);
    assert_eq!(r.signatures[0].crypto, CryptoCheck::SigCryptoFailure);
}

#[test]
fn einvoice_profile() {
    let (k, chain) = key("agency");
    let doc = "<?xml version=\"1.0\" encoding=\"utf-8\"?><HDon><DLHDon Id=\"_42\"><TTChung><THDon>Hóa đơn giá trị gia tăng</THDon></TTChung></DLHDon><DSCKS><NBan /><NMua /></DSCKS></HDon>";
    let mut o = SignOptions::new(now());
    o.profile = Profile::EInvoice;
    let out = sign(doc.as_bytes(), &k, &chain, &o).unwrap();
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(
        text.contains("<DSCKS><NBan><Signature xmlns=\"http://www.w3.org/2000/09/xmldsig#\""),
        "{text}"
    );
    assert!(
        text.ends_with("</Signature></NBan><NMua /></DSCKS></HDon>"),
        "{text}"
    );
    let r = check(&out);
    let s = &r.signatures[0];
    assert_eq!(r.indication, Indication::TotalPassed, "{:?}", s.errors);
    assert_eq!(s.references.len(), 2);
    assert_eq!(
        s.signing_time.as_ref().unwrap().source,
        "signature-property"
    );
    assert_eq!(s.signing_time.as_ref().unwrap().time, now());
    assert!(
        s.coverage()[0].contains("<DLHDon Id=\"_42\"> at /HDon/DLHDon"),
        "{:?}",
        s.coverage()
    );

    // No DSCKS yet: it is created.
    let bare = "<HDon><DLHDon Id=\"a\"><X>1</X></DLHDon></HDon>";
    let out = sign(bare.as_bytes(), &k, &chain, &o).unwrap();
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(text.contains("</DLHDon><DSCKS><NBan><Signature"), "{text}");
    assert_eq!(check(&out).indication, Indication::TotalPassed);
}

#[test]
fn edxml_profile() {
    let (k, chain) = key("agency");
    let doc = r#"<?xml version="1.0" encoding="UTF-8"?>
<edXML:edXML xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016"><edXML:edXMLEnvelope><edXML:edXMLHeader><edXML:MessageHeader><edXML:From><edXML:OrganId>000.00.00.G22</edXML:OrganId></edXML:From><edXML:DocumentId>000.00.00.G22,2015/09/30,7816/VPCP-TTĐT</edXML:DocumentId></edXML:MessageHeader><edXML:TraceHeaderList/></edXML:edXMLHeader><edXML:edXMLBody><edXML:edXMLManifest><edXML:Reference xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="cid:1"/></edXML:edXMLManifest></edXML:edXMLBody></edXML:edXMLEnvelope><edXML:AttachmentEncoded><edXML:Attachment ContentId="1">SGVsbG8=</edXML:Attachment></edXML:AttachmentEncoded></edXML:edXML>"#;
    let mut o = SignOptions::new(now());
    o.profile = Profile::EdXml;
    let out = sign(doc.as_bytes(), &k, &chain, &o).unwrap();
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(
        text.contains("<edXML:TraceHeaderList/><ds:Signature"),
        "{text}"
    );
    let r = check(&out);
    assert_eq!(
        r.indication,
        Indication::TotalPassed,
        "{:?}",
        r.signatures[0].errors
    );
    // The attachment is covered.
    let bad = text.replace("SGVsbG8=", "SGVsbG9=");
    assert_eq!(check(bad.as_bytes()).indication, Indication::TotalFailed);
}

#[test]
fn untrusted_chain_is_indeterminate_not_failed() {
    let (k, chain) = key("officer-rsa");
    let out = sign(DOC.as_bytes(), &k, &chain[..1], &SignOptions::new(now())).unwrap();
    let a = anchors();
    let none = CertPool::new();
    let r = verify(&out, &VerifyOptions::new(now(), &a, &none)).unwrap();
    let s = &r.signatures[0];
    assert_eq!(s.crypto, CryptoCheck::Passed);
    assert_eq!(r.indication, Indication::Indeterminate);
    assert_eq!(
        s.sub_indication.as_deref(),
        Some("NO_CERTIFICATE_CHAIN_FOUND")
    );
}
