//! Real Vietnamese signed XML (fixtures/samples-vn, see SOURCE.md) reaches the expected verdict
//! for the digest and signature-value checks; trust is reported apart (their chains may lack
//! intermediates: that is INDETERMINATE, not a crypto failure).
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should panic with its message"
)]

use interop_tests::fixtures;
use pki_core::trust::CertPool;
use pki_core::xml::verify::{verify, CryptoCheck, Indication, VerifyOptions, XmlReport};

fn check(name: &str) -> XmlReport {
    let data = std::fs::read(fixtures().join("samples-vn").join(name)).unwrap();
    let roots = CertPool::vn_roots();
    let inter = CertPool::vn_intermediates();
    let at = pki_core::time::parse_user_time("2026-01-15T10:00:00+07:00").unwrap();
    verify(&data, &VerifyOptions::new(at, &roots, &inter)).unwrap()
}

fn valid_crypto(name: &str) -> XmlReport {
    let r = check(name);
    for s in &r.signatures {
        assert_eq!(s.crypto, CryptoCheck::Passed, "{name}: {:?}", s.errors);
        assert!(s.signature_value_ok);
        assert!(s.references.iter().all(|r| r.digest_ok && !r.dotnet_compat));
        assert!(s.signer.is_some());
        assert_ne!(
            s.indication,
            Indication::TotalFailed,
            "{name}: {:?}",
            s.errors
        );
    }
    r
}

#[test]
fn ca2_invoice_is_valid() {
    let r = valid_crypto("xml_hdon_ca2_NBan593651_valid.xml");
    let s = &r.signatures[0];
    assert_eq!(s.references.len(), 2);
    assert!(s.coverage()[0].contains("<DLHDon Id=\"_593651\"> at /HDon/DLHDon"));
    assert_eq!(s.signing_time.as_ref().unwrap().raw, "2025-10-10T01:09:49");
    assert_eq!(s.algorithm_name.as_deref(), Some("sha256WithRSAEncryption"));
}

#[test]
fn tax_authority_notice_is_valid() {
    let r = valid_crypto("xml_tdiep204_tbao_cqt-vgca_valid.xml");
    let s = &r.signatures[0];
    assert!(s.coverage()[0].contains("DLTBao"), "{:?}", s.coverage());
}

#[test]
fn tax_message_206_is_valid() {
    valid_crypto("xml_tdiep206_cksnnt_ca2rs_valid.xml");
}

#[test]
fn reformatted_invoices_are_invalid() {
    for name in [
        "xml_hdon_ca2_reformatted_invalid.xml",
        "xml_hdon_viettelca-test_K21TYY10_reformatted_invalid.xml",
    ] {
        let r = check(name);
        assert_eq!(r.indication, Indication::TotalFailed, "{name}");
        let s = r
            .signatures
            .iter()
            .find(|s| s.crypto != CryptoCheck::Passed)
            .unwrap();
        assert_eq!(s.crypto, CryptoCheck::HashFailure, "{name}: {:?}", s.errors);
        assert_eq!(s.sub_indication.as_deref(), Some("HASH_FAILURE"));
        assert!(s.errors[0].contains("does not match"), "{:?}", s.errors);
    }
}

#[test]
fn dotnet_interop_invoice_is_valid_with_a_warning() {
    let r = check("xml_hdon_viettelca_K23TAC1390239_interop.xml");
    let s = &r.signatures[0];
    assert_eq!(s.crypto, CryptoCheck::Passed, "{:?}", s.errors);
    assert!(s.signature_value_ok);
    assert!(s.references[1].dotnet_compat);
    assert!(!s.references[0].dotnet_compat);
    assert!(
        s.warnings.iter().any(|w| w.contains(".NET SignedXml")),
        "{:?}",
        s.warnings
    );
    assert!(s.weak.iter().any(|w| w.contains("SHA-1")), "{:?}", s.weak);
}
