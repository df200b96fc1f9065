//! PAdES signing in two phases for signers that answer later (a PKI SIM, a cloud key approved
//! on a phone): [`prepare_pdf`] writes the incremental update with an empty `/Contents` to a
//! temporary file beside the output and yields the bytes to be signed; [`PendingPdf::finish`]
//! takes the signature value, completes the CMS (and the B-T time-stamp) and renames the file
//! into place; [`PendingPdf::abort`] removes the temporary file.
//!
//! [`PendingPdf`] is serialisable (serde), so a service can keep it in its job store while the
//! person approves, and finish after a restart. The result is the same as
//! [`super::sign_pdf`]'s; that function stays the one-call path for keys at hand.

use super::sign::{pick_algorithm, Level, PadesError, PadesOptions, Signed};
use crate::cert::Certificate;
use crate::cms::{self, SignedData, SignedDataBuilder};
use crate::fetch::Fetcher;
use crate::pdf::sign::{self as pdfsign, SignatureKind, SignatureOptions, SubFilter};
use crate::tsp::{self, Imprint};
use hsm::{SignatureAlgorithm, Signer};
use std::path::Path;

/// Room for a signature time-stamp token (as in `sign_pdf`).
const TIMESTAMP_RESERVE: usize = 12 * 1024;

/// A PDF waiting for its signature value.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingPdf {
    /// The prepared file (temporary path, output path, byte range, `/Contents` slot).
    pub pdf: pdfsign::PreparedSignature,
    /// The CMS with its signed attributes, waiting for the signature value.
    pub cms: cms::PreparedSignature,
    /// The TSA to time-stamp the signature with (B-T), if any.
    pub tsa_url: Option<String>,
}

impl PendingPdf {
    /// What the key must sign (the DER signed attributes; the signer hashes them).
    pub fn to_be_signed(&self) -> &[u8] {
        &self.cms.tbs
    }

    /// The algorithm the signature must be made with.
    pub fn algorithm(&self) -> Result<SignatureAlgorithm, PadesError> {
        Ok(self.cms.algorithm()?)
    }

    /// Completes the PDF with `signature` (as the signer returned it). The signature is checked
    /// against the certificate; for B-T the TSA is asked through `fetcher`. On any error the
    /// temporary file is removed and no output exists.
    pub fn finish(
        self,
        signature: &[u8],
        fetcher: Option<&dyn Fetcher>,
    ) -> Result<Signed, PadesError> {
        let result = self.complete(signature, fetcher);
        match result {
            Ok((cms, ts, alg)) => {
                if let Err(e) = pdfsign::finish(&self.pdf, &cms) {
                    let _ = pdfsign::abort(&self.pdf);
                    return Err(e.into());
                }
                Ok(Signed {
                    field_name: self.pdf.field_name.clone(),
                    level: if ts.is_some() { Level::BT } else { Level::BB },
                    algorithm: alg,
                    byte_range: self.pdf.byte_range,
                    timestamp_time: ts,
                })
            }
            Err(e) => {
                let _ = pdfsign::abort(&self.pdf);
                Err(e)
            }
        }
    }

    /// Gives up: removes the temporary file.
    pub fn abort(self) -> Result<(), PadesError> {
        Ok(pdfsign::abort(&self.pdf)?)
    }

    fn complete(
        &self,
        signature: &[u8],
        fetcher: Option<&dyn Fetcher>,
    ) -> Result<(Vec<u8>, Option<time::OffsetDateTime>, SignatureAlgorithm), PadesError> {
        let alg = self.cms.algorithm()?;
        let cms = self.cms.clone().finish(signature)?;
        let Some(url) = self.tsa_url.as_deref() else {
            return Ok((cms, None, alg));
        };
        let fetcher = fetcher.ok_or(PadesError::TsaRequired)?;
        let mut sd = SignedData::parse(&cms)?;
        let req = tsp::request_for_signature(&sd, 0, self.pdf.hash)?;
        let token = tsp::query(fetcher, url, &req)?.into_token()?;
        let check = token.validate(
            Imprint::Data(&sd.signer_infos[0].signature),
            req.nonce.as_deref(),
            &[],
            &Default::default(),
        )?;
        if !check.is_valid() {
            return Err(PadesError::Timestamp(check.problems().join("; ")));
        }
        let gen_time = token.tst_info.gen_time;
        tsp::add_signature_timestamp(&mut sd, 0, &token)?;
        Ok((sd.to_der(), Some(gen_time), alg))
    }
}

/// Phase one: prepares `input` for a signature by the key of `chain[0]` (the signer's
/// certificate, then the CAs to embed). `signer` is asked only for its algorithms and largest
/// signature size; nothing is signed here. The temporary file lives beside `output`.
pub fn prepare_pdf(
    input: &Path,
    output: &Path,
    signer: &dyn Signer,
    chain: &[Certificate],
    opts: &PadesOptions,
) -> Result<PendingPdf, PadesError> {
    let cert = chain.first().ok_or(PadesError::CertificateMismatch)?;
    if cert.spki() != signer.public_key_der() {
        return Err(PadesError::CertificateMismatch);
    }
    if opts.level == Level::BT && opts.tsa_url.is_none() {
        return Err(PadesError::TsaRequired);
    }
    let alg = pick_algorithm(signer, opts.hash, opts.pss)?;
    let builder = || {
        SignedDataBuilder::new(cert.clone(), alg)
            .certificates(chain[1..].iter().map(|c| c.der().to_vec()))
    };
    let dry = builder()
        .detached_digest(vec![0; opts.hash.output_len()])
        .prepare()?;
    let mut reserve = dry.size_hint(signer.max_signature_len()) + 512;
    if opts.level == Level::BT {
        reserve += TIMESTAMP_RESERVE;
    }
    let pdf_opts = SignatureOptions {
        kind: SignatureKind::Signature(opts.sub_filter),
        hash: opts.hash,
        contents_size: reserve,
        signing_time: Some(opts.signing_time),
        reason: opts.reason.clone(),
        location: opts.location.clone(),
        name: None,
        contact_info: opts.contact_info.clone(),
        page: opts.page,
        field_name: opts.field_name.clone(),
        appearance: opts.appearance.clone(),
    };
    let pdf = pdfsign::prepare(input, output, &pdf_opts)?;
    let mut b = builder().detached_digest(pdf.digest.clone());
    if opts.sub_filter == SubFilter::Pkcs7Detached {
        b = b.signing_time(opts.signing_time);
    }
    let cms = match b.prepare() {
        Ok(c) => c,
        Err(e) => {
            let _ = pdfsign::abort(&pdf);
            return Err(e.into());
        }
    };
    Ok(PendingPdf {
        pdf,
        cms,
        tsa_url: (opts.level == Level::BT)
            .then(|| opts.tsa_url.clone())
            .flatten(),
    })
}
