//! CMS SignedData from arbitrary bytes: parse (BER, padding), verify every signer against the
//! attached content and a detached one, re-encode.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use pki_core::cms::{Content, SignedData};
    let policy = pki_core::crypto::AlgorithmPolicy::default();
    if let Ok(sd) = SignedData::parse(data) {
        for i in 0..sd.signer_infos.len().min(4) {
            let _ = sd.verify_signer(i, Content::Attached, &[], &policy);
            let _ = sd.verify_signer(i, Content::Data(b"x"), &[], &policy);
        }
        let _ = SignedData::parse(&sd.to_der());
    }
});
