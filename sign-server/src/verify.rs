//! `POST /v1/verify`: a PDF or an XML document in, the CONTRACT.md report out.
//!
//! Revocation follows `policy.verify_revocation`: `offline` (the default) uses what the
//! document embeds and says "not checked" otherwise; `online` also asks the OCSP responders
//! and CRL distribution points that the certificates name, through the service's HTTP client
//! (`http(s)` only, `policy.revocation_timeout_secs` per request, size-capped). A responder
//! that does not answer makes the signature INDETERMINATE / TRY_LATER, never TOTAL-PASSED.

use crate::error::ApiError;
use crate::AppState;
use std::path::Path;

/// Verifies the document at `path` (on a blocking thread).
pub fn verify(state: &AppState, path: &Path) -> Result<pki_core::report::Report, ApiError> {
    let now = time::OffsetDateTime::now_utc();
    let fetcher = state.revocation.as_deref();
    if crate::signing::looks_like_pdf(path) {
        let policy = pki_core::crypto::AlgorithmPolicy::default();
        let opts = pki_core::pades::VerifyOptions {
            time: now,
            anchors: &state.anchors,
            intermediates: &state.intermediates,
            policy: &policy,
            fetcher,
        };
        pki_core::pades::verify_pdf(path, &opts).map_err(|e| {
            ApiError::unprocessable("invalid_pdf", format!("the PDF cannot be read: {e}"))
        })
    } else if crate::xml::looks_like_xml(path) {
        crate::xml::verify(path, &state.anchors, &state.intermediates, fetcher, now)
    } else {
        Err(crate::signing::not_a_document())
    }
}
