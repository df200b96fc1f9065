//! RFC 3161 messages from arbitrary bytes: requests, responses and tokens, and token validation.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    use pki_core::tsp::{Imprint, TimeStampReq, TimeStampToken};
    let _ = TimeStampReq::from_der(data);
    if let Ok(t) = TimeStampToken::from_response_or_token(data) {
        let _ = t.tst_info.tsa_name();
        let _ = t.validate(
            Imprint::Data(b"x"),
            Some(&[1]),
            &[],
            &pki_core::crypto::AlgorithmPolicy::default(),
        );
    }
});
