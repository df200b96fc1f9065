//! PKCS#10 requests and typed names from arbitrary bytes.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = pki_core::ca::request::CertRequest::parse(data);
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(der) = pki_core::name::parse_dn(s) {
            assert!(pki_core::name::Name::from_der(&der).is_ok());
        }
    }
});
