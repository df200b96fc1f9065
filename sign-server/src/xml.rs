//! XML documents in the service: `POST /v1/sign`, batches and `POST /v1/verify` take XML as
//! well as PDF, told apart by their first bytes (a `%PDF-` header, or a `<` after an optional
//! byte-order mark and white space), the same rule as `pki sign`.
//!
//! Signing maps the service's options onto `pki_core::xml` as `pki sign FILE.xml` does
//! (`pki-cli/src/commands/xml.rs`): profiles `plain` (enveloped XMLDSig over the whole
//! document), `einvoice` (Decree 123/2020) and `edxml` (QCVN 102:2016); no level is plain
//! XMLDSig, `B-B` adds XAdES SignedProperties (ETSI EN 319 132-1 §5.2), `B-T` a signature
//! time-stamp from the configured TSA, `B-LT` the certificate and revocation values fetched
//! through the service's HTTP client. The PDF layouts (`personal`, `agency`, `attachment`,
//! `copy`) and `B-LTA` do not apply to XML and are refused with a sentence that says so.

use crate::error::ApiError;
use crate::signing::{Context, Key, Outcome, SignParams};
use pki_core::xml::sign::{Profile, SignOptions};
use pki_core::xml::XmlError;
use std::io::Read;
use std::path::Path;

/// The media type of signed XML.
pub const CONTENT_TYPE: &str = "application/xml";

/// Whether the file starts like an XML document.
pub fn looks_like_xml(path: &Path) -> bool {
    let mut head = [0u8; 512];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .unwrap_or(0);
    let d = &head[..n];
    let d = d.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(d);
    d.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<')
}

/// The XML profile for a service profile name, or why it does not apply.
fn profile(name: &str) -> Result<Profile, ApiError> {
    match name {
        "plain" => Ok(Profile::Plain),
        "einvoice" => Ok(Profile::EInvoice),
        "edxml" => Ok(Profile::EdXml),
        p => Err(ApiError::unprocessable(
            "profile_not_for_xml",
            format!("the profile \"{p}\" is a PDF layout; XML documents are signed with the plain, einvoice or edxml profile"),
        )),
    }
}

fn xml_error(e: XmlError) -> ApiError {
    match e {
        XmlError::Signer(e) => {
            tracing::error!("the key failed to sign: {e}");
            ApiError::unavailable(
                "key_unavailable",
                "the signing key is not available now; try again later",
            )
        }
        XmlError::Timestamp(e) => {
            tracing::warn!("time-stamp failed: {e}");
            ApiError::unavailable(
                "tsa_unavailable",
                "the time-stamp authority did not answer usably; try again later or ask for B-B",
            )
        }
        XmlError::BadTimestamp(m) => {
            tracing::warn!("time-stamp unusable: {m}");
            ApiError::unavailable(
                "tsa_unavailable",
                "the time-stamp authority did not answer usably; try again later or ask for B-B",
            )
        }
        XmlError::ValidationData(e) => {
            tracing::warn!("validation data for B-LT could not be gathered: {e}");
            ApiError::unavailable(
                "revocation_unavailable",
                "the certificate status servers (OCSP/CRL) did not answer, so B-LT data cannot be embedded; try again later or ask for B-T",
            )
        }
        XmlError::Algorithm(m) => ApiError::unprocessable(
            "key_unusable_for_xml",
            format!("this key cannot sign XML: {m}"),
        ),
        other => ApiError::unprocessable(
            "invalid_xml",
            format!("the XML document cannot be signed: {other}"),
        ),
    }
}

/// Signs the XML `input` into `output` (written atomically).
pub fn sign(
    key: &Key,
    params: &SignParams,
    input: &Path,
    output: &Path,
    ctx: &Context<'_>,
    now: time::OffsetDateTime,
) -> Result<Outcome, ApiError> {
    let mut o = SignOptions::new(now);
    o.profile = profile(params.profile())?;
    o.pss = params.pss.unwrap_or(false);
    if params.doc_number.is_some() || params.rect.is_some() || params.page.is_some() {
        return Err(ApiError::bad_request(
            "invalid_parameters",
            "doc_number, rect and page apply to PDF documents; this document is XML",
        ));
    }
    let level = params.level.as_deref().map(str::to_ascii_uppercase);
    let (timestamp, long_term) = match level.as_deref() {
        None => (false, false),
        Some("B-B") => (false, false),
        Some("B-T") => (true, false),
        Some("B-LT") => (true, true),
        Some(l) => {
            return Err(ApiError::bad_request(
                "level_unavailable",
                format!("level {l} is not available for XML; use B-B, B-T or B-LT"),
            ))
        }
    };
    o.xades = level.is_some();
    let tsa = match (timestamp, ctx.tsa) {
        (false, _) => None,
        (true, Some(t)) => Some(t),
        (true, None) => {
            return Err(ApiError::bad_request(
                "level_unavailable",
                "this level needs a time-stamp authority and this service has none configured; ask for B-B",
            ))
        }
    };
    let data = std::fs::read(input).map_err(|e| {
        tracing::error!("cannot read {}: {e}", input.display());
        ApiError::internal()
    })?;
    let signer = key.signer.as_ref();
    let pending = pki_core::xml::sign::prepare(
        &data,
        signer.key_kind(),
        &signer.algorithms(),
        &key.chain,
        &o,
    )
    .map_err(xml_error)?;
    let sig_id = pending.signature_id.clone();
    let algorithm = pending.algorithm.name();
    let value = signer
        .sign(pending.algorithm, &pending.to_be_signed)
        .map_err(|e| xml_error(XmlError::Signer(e)))?;
    let mut out = pending.finish(&value).map_err(xml_error)?;
    let policy = pki_core::crypto::AlgorithmPolicy::default();
    let mut level_name = if o.xades { "XAdES-B-B" } else { "XMLDSig" };
    if let Some((url, fetcher)) = tsa {
        out = pki_core::xml::xades::timestamp_signature(&out, &sig_id, fetcher, url, &policy)
            .map_err(xml_error)?;
        level_name = "XAdES-B-T";
        if long_term {
            out = pki_core::xml::xades::add_long_term_values(
                &out, &sig_id, &key.chain, fetcher, now, &policy,
            )
            .map_err(xml_error)?;
            level_name = "XAdES-B-LT";
        }
    }
    pki_core::ca::dir::write_atomic(output, &out, false).map_err(|e| {
        tracing::error!("cannot write {}: {e}", output.display());
        ApiError::internal()
    })?;
    Ok(Outcome {
        field: sig_id,
        content_type: CONTENT_TYPE,
        level: level_name.into(),
        algorithm,
        cert_serial: key.chain[0].serial_hex(),
    })
}

/// Verifies an XML document; the CONTRACT.md report.
pub fn verify(
    input: &Path,
    anchors: &pki_core::trust::CertPool,
    intermediates: &pki_core::trust::CertPool,
    fetcher: Option<&dyn pki_core::fetch::Fetcher>,
    now: time::OffsetDateTime,
) -> Result<pki_core::report::Report, ApiError> {
    let data = std::fs::read(input).map_err(|e| {
        tracing::error!("cannot read {}: {e}", input.display());
        ApiError::internal()
    })?;
    let mut opts = pki_core::xml::verify::VerifyOptions::new(now, anchors, intermediates);
    opts.fetcher = fetcher;
    let rep = pki_core::xml::verify::verify(&data, &opts).map_err(|e| {
        ApiError::unprocessable(
            "invalid_xml",
            format!("the XML document cannot be verified: {e}"),
        )
    })?;
    Ok(rep.to_report("upload.xml"))
}
