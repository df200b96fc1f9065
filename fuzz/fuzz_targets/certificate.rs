//! Certificates and bundles from arbitrary bytes: parse, render, walk extensions.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(certs) = pki_core::cert::parse_certificates(data) {
        for c in certs {
            let _ = c.subject().to_string();
            let _ = c.issuer().match_key();
            let _ = c.extensions();
            let _ = c.verify_signed(c.signature_algorithm(), c.tbs(), c.signature(), &Default::default());
        }
    }
});
