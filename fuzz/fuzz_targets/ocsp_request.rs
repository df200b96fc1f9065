//! What `pki ocsp serve` does with a request from the network: parse it and answer from a small
//! CA database, signed with the test PKI's responder key.
#![no_main]
use pki_core::cert::parse_certificates;
use pki_core::ocsp::{answer, CaIndex};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (Ok(mut ca), Ok(mut responder)) = (
        parse_certificates(include_bytes!("../../fixtures/pki/issuing.pem")),
        parse_certificates(include_bytes!("../../fixtures/pki/ocsp.pem")),
    ) else {
        return;
    };
    let Ok(key) =
        hsm::SoftwareKey::from_pem(include_str!("../../fixtures/pki/ocsp.key.pem"), "ocsp key")
    else {
        return;
    };
    let Ok(index) = CaIndex::parse(include_str!("../../fixtures/pki/issuing/index.txt")) else {
        return;
    };
    let now = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
    let a = answer(
        data,
        &ca.remove(0),
        &index,
        &responder.remove(0),
        &key,
        now,
        time::Duration::hours(1),
    );
    assert!(!a.der.is_empty());
});
