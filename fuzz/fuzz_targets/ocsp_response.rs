//! OCSP responses from arbitrary bytes: parse, then check against the test PKI's issuing CA
//! (CertID matching, responder authorisation, signature, nonce, freshness).
#![no_main]
use pki_core::cert::parse_certificates;
use pki_core::ocsp::{verify_response, CertId, OcspPolicy, OcspResponse};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(resp) = OcspResponse::parse(data) else {
        return;
    };
    let Ok(mut issuer) = parse_certificates(include_bytes!("../../fixtures/pki/issuing.pem"))
    else {
        return;
    };
    let issuer = issuer.remove(0);
    let id = CertId::new(hsm::HashAlgorithm::Sha1, &issuer, &[0x01]);
    let at = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000);
    let check = verify_response(
        &resp,
        &issuer,
        &id,
        at,
        Some(b"nonce"),
        &OcspPolicy::default(),
    );
    let _ = check.outcome();
    let _ = check.revocation_status(at);
});
