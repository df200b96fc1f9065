//! CRLs from arbitrary bytes: parse, index, look up, decode entries.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(crl) = pki_core::crl::Crl::parse(data) {
        let _ = crl.entries().count();
        let _ = crl.lookup(&[0x01]);
        let _ = crl.issuer().to_string();
    }
});
