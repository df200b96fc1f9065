//! PAdES signing in two phases: [`prepare_pdf`] writes the incremental update with an empty
//! `/Contents` to a temporary file beside the output and yields the bytes to be signed;
//! [`PendingPdf::finish`] takes the signature value, completes the CMS, adds the B-T
//! time-stamp, the B-LT DSS and the B-LTA document time-stamp as asked, and renames the result
//! into place; [`PendingPdf::abort`] removes what was prepared.
//!
//! Keys at hand go through both at once ([`super::sign_pdf`]); signers that answer later (a
//! PKI SIM, a cloud key approved on a phone) keep the [`PendingPdf`], which is serialisable
//! (serde), so a service can store it while the person approves and finish after a restart.
//!
//! For B-LT and B-LTA the signature goes to a hidden staging file beside the output; each later
//! step writes the next stage, and only the last one renames onto the output. Staging files
//! are removed whatever happens.

use super::sign::{pick_algorithm, Level, PadesError, PadesOptions, Signed, TIMESTAMP_RESERVE};
use crate::cert::Certificate;
use crate::cms::{self, SignedData, SignedDataBuilder};
use crate::fetch::Fetcher;
use crate::pdf::sign::{self as pdfsign, SignatureKind, SignatureOptions, SubFilter};
use crate::tsp::{self, Imprint};
use hsm::{SignatureAlgorithm, Signer};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// A PDF waiting for its signature value.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingPdf {
    /// The prepared file (temporary path, output path, byte range, `/Contents` slot).
    pub pdf: pdfsign::PreparedSignature,
    /// The CMS with its signed attributes, waiting for the signature value.
    pub cms: cms::PreparedSignature,
    /// The TSA to time-stamp the signature with (B-T and above), if any.
    pub tsa_url: Option<String>,
    /// What B-LT and B-LTA add after the signature.
    #[serde(default)]
    pub long_term: Option<LongTerm>,
}

/// The B-LT / B-LTA part of a pending signature.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LongTerm {
    /// B-LT or B-LTA.
    pub level: Level,
    /// Where the finished document goes (the signature itself goes to a staging file).
    pub output: PathBuf,
    /// The placeholder whose name the staging files extend.
    pub staging: PathBuf,
    /// DER certificates that help complete paths: the signer's first, then its chain and any
    /// extra ones.
    pub certificates: Vec<Vec<u8>>,
    /// The signing time, in Unix seconds (revocation data is gathered for it).
    pub signing_time: i64,
}

impl LongTerm {
    fn stage(&self, n: usize) -> PathBuf {
        let mut p = self.staging.clone().into_os_string();
        p.push(format!(".stage-{n}"));
        p.into()
    }

    /// Removes the staging files (those that exist).
    fn clean(&self) {
        for n in 0..2 {
            let _ = std::fs::remove_file(self.stage(n));
        }
        let _ = std::fs::remove_file(&self.staging);
    }
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
    /// against the certificate; the TSA, OCSP responders and CRL distribution points are asked
    /// through `fetcher` as the level needs. On any error every temporary file is removed and
    /// no output exists.
    pub fn finish(
        self,
        signature: &[u8],
        fetcher: Option<&dyn Fetcher>,
    ) -> Result<Signed, PadesError> {
        let result = self.finish_inner(signature, fetcher);
        if result.is_err() {
            let _ = pdfsign::abort(&self.pdf);
        }
        if let Some(lt) = &self.long_term {
            lt.clean();
        }
        result
    }

    fn finish_inner(
        &self,
        signature: &[u8],
        fetcher: Option<&dyn Fetcher>,
    ) -> Result<Signed, PadesError> {
        let (cms, ts, alg, tsa_certs) = self.complete(signature, fetcher)?;
        pdfsign::finish(&self.pdf, &cms)?;
        let mut signed = Signed {
            field_name: self.pdf.field_name.clone(),
            level: if ts.is_some() { Level::BT } else { Level::BB },
            algorithm: alg,
            byte_range: self.pdf.byte_range,
            timestamp_time: ts,
            doc_timestamp_time: None,
        };
        let Some(lt) = &self.long_term else {
            return Ok(signed);
        };
        let fetcher = fetcher.ok_or(PadesError::FetcherRequired)?;
        let tsa_url = self.tsa_url.as_deref().ok_or(PadesError::TsaRequired)?;
        let chain: Vec<Certificate> = lt
            .certificates
            .iter()
            .filter_map(|d| Certificate::from_der(d).ok())
            .collect();
        let signer_cert = chain.first().ok_or(PadesError::CertificateMismatch)?;
        let known = crate::ltv::known_certificates(chain.iter().chain(tsa_certs.iter()));
        let at = OffsetDateTime::from_unix_timestamp(lt.signing_time)
            .unwrap_or_else(|_| OffsetDateTime::now_utc());
        let policy = crate::crypto::AlgorithmPolicy::default();
        let mut data = crate::ltv::ValidationData::new();
        data.add_path(signer_cert, &known, fetcher, at, &policy)?;
        if let Some(tsa) = tsa_certs.first() {
            data.add_path(tsa, &known, fetcher, at, &policy)?;
        }
        let contents = super::ltv::padded_contents(&cms, self.pdf.contents_capacity);
        let signed_file = &self.pdf.output_path;
        let lt_out = if lt.level == Level::BLTA {
            lt.stage(1)
        } else {
            lt.output.clone()
        };
        super::ltv::add_dss(signed_file, &lt_out, &data, &[&contents])?;
        signed.level = lt.level;
        if lt.level == Level::BLTA {
            let token = super::ltv::add_document_timestamp(
                &lt_out,
                &lt.output,
                self.pdf.hash,
                tsa_url,
                fetcher,
            )?;
            signed.doc_timestamp_time = Some(token.tst_info.gen_time);
        }
        Ok(signed)
    }

    /// A copy of this pending signature that finishes into `output` instead: the prepared
    /// file is copied to a new temporary file beside `output` (with new staging names for
    /// B-LT/B-LTA). A service that parks the pending state finishes a fork, so that a crash
    /// while finishing leaves the parked file intact and the signature can be finished again;
    /// the parked one is removed with [`PendingPdf::abort`] once the result is recorded.
    pub fn fork(&self, output: &Path) -> Result<PendingPdf, PadesError> {
        let dir = output
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut p = self.clone();
        let signed_path = match &mut p.long_term {
            None => output.to_path_buf(),
            Some(lt) => {
                let (staging, file) = pdfsign::create_temp(dir, output)?;
                drop(file);
                lt.staging = staging;
                lt.output = output.to_path_buf();
                lt.stage(0)
            }
        };
        let (temp, file) = match pdfsign::create_temp(dir, &signed_path) {
            Ok(x) => x,
            Err(e) => {
                if let Some(lt) = &p.long_term {
                    lt.clean();
                }
                return Err(e.into());
            }
        };
        drop(file);
        if let Err(source) = std::fs::copy(&self.pdf.temp_path, &temp) {
            let _ = std::fs::remove_file(&temp);
            if let Some(lt) = &p.long_term {
                lt.clean();
            }
            return Err(pdfsign::SignError::Io {
                action: "cannot copy the prepared signature",
                path: self.pdf.temp_path.clone(),
                source,
            }
            .into());
        }
        p.pdf.temp_path = temp;
        p.pdf.output_path = signed_path;
        Ok(p)
    }

    /// Gives up: removes the temporary file (and staging files).
    pub fn abort(self) -> Result<(), PadesError> {
        if let Some(lt) = &self.long_term {
            lt.clean();
        }
        Ok(pdfsign::abort(&self.pdf)?)
    }

    /// The CMS with the signature value (and the signature time-stamp when asked), the
    /// algorithm, and the time-stamp's certificates (the TSA's first).
    #[expect(clippy::type_complexity, reason = "a private tuple of four results")]
    fn complete(
        &self,
        signature: &[u8],
        fetcher: Option<&dyn Fetcher>,
    ) -> Result<
        (
            Vec<u8>,
            Option<OffsetDateTime>,
            SignatureAlgorithm,
            Vec<Certificate>,
        ),
        PadesError,
    > {
        let alg = self.cms.algorithm()?;
        let cms = self.cms.clone().finish(signature)?;
        let Some(url) = self.tsa_url.as_deref() else {
            return Ok((cms, None, alg, Vec::new()));
        };
        let fetcher = fetcher.ok_or(PadesError::TsaRequired)?;
        let (cms, gen_time, tsa_certs) = timestamp_signature(&cms, self.pdf.hash, url, fetcher)?;
        Ok((cms, Some(gen_time), alg, tsa_certs))
    }
}

/// Adds a signature time-stamp from the TSA at `url` to the first SignerInfo of `cms` (B-T):
/// the new CMS, the time-stamp's genTime and its certificates (the TSA's first).
pub(crate) fn timestamp_signature(
    cms: &[u8],
    hash: hsm::HashAlgorithm,
    url: &str,
    fetcher: &dyn Fetcher,
) -> Result<(Vec<u8>, OffsetDateTime, Vec<Certificate>), PadesError> {
    let mut sd = SignedData::parse(cms)?;
    let req = tsp::request_for_signature(&sd, 0, hash)?;
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
    let tsa_certs = check
        .tsa_cert
        .into_iter()
        .chain(check.other_certs)
        .collect();
    Ok((sd.to_der(), gen_time, tsa_certs))
}

/// The placeholder a PAdES signature with these options needs, `reserve` bytes of CMS.
pub(crate) fn signature_options(opts: &PadesOptions, reserve: usize) -> SignatureOptions {
    SignatureOptions {
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
        certify: opts.certify,
        sync: opts.sync,
    }
}

/// Phase one: prepares `input` for a signature by the key of `chain[0]` (the signer's
/// certificate, then the CAs to embed). `signer` is asked only for its algorithms and largest
/// signature size; nothing is signed here. Temporary files live beside `output`.
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
    if opts.level.has_timestamp() && opts.tsa_url.is_none() {
        return Err(PadesError::TsaRequired);
    }
    let alg = pick_algorithm(signer, opts.hash, opts.pss)?;
    let builder = || {
        SignedDataBuilder::new(cert.clone(), alg)
            .certificates(chain[1..].iter().map(|c| c.der().to_vec()))
    };
    // Size the reservation from this signer: a dry CMS over a dummy digest.
    let dry = builder()
        .detached_digest(vec![0; opts.hash.output_len()])
        .prepare()?;
    let mut reserve = dry.size_hint(signer.max_signature_len()) + 512;
    if opts.level.has_timestamp() {
        reserve += TIMESTAMP_RESERVE;
    }
    let pdf_opts = signature_options(opts, reserve);
    // B-LT and B-LTA: the signature goes to a staging file first.
    let long_term = match opts.level {
        Level::BLT | Level::BLTA => {
            let dir = output
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let (staging, file) = pdfsign::create_temp(dir, output)?;
            drop(file);
            Some(LongTerm {
                level: opts.level,
                output: output.to_path_buf(),
                staging,
                certificates: chain
                    .iter()
                    .chain(opts.extra_certs.iter())
                    .map(|c| c.der().to_vec())
                    .collect(),
                signing_time: opts.signing_time.unix_timestamp(),
            })
        }
        _ => None,
    };
    let signed_path = long_term
        .as_ref()
        .map_or_else(|| output.to_path_buf(), |lt| lt.stage(0));
    let pdf = match pdfsign::prepare(input, &signed_path, &pdf_opts) {
        Ok(p) => p,
        Err(e) => {
            if let Some(lt) = &long_term {
                lt.clean();
            }
            return Err(e.into());
        }
    };
    let mut b = builder().detached_digest(pdf.digest.clone());
    if opts.sub_filter == SubFilter::Pkcs7Detached {
        // adbe.pkcs7.detached readers look for the time here; PAdES forbids it.
        b = b.signing_time(opts.signing_time);
    }
    let cms = match b.prepare() {
        Ok(c) => c,
        Err(e) => {
            let _ = pdfsign::abort(&pdf);
            if let Some(lt) = &long_term {
                lt.clean();
            }
            return Err(e.into());
        }
    };
    Ok(PendingPdf {
        pdf,
        cms,
        tsa_url: opts
            .level
            .has_timestamp()
            .then(|| opts.tsa_url.clone())
            .flatten(),
        long_term,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trust::CertPool;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fixtures/pki")
            .join(name)
    }

    /// A parked signature finished from forks: the parked file survives each finish (a crash
    /// while finishing can finish again), every fork gives a valid document, abort cleans up.
    #[test]
    fn forks_finish_while_the_parked_file_stays() {
        let dir = tempfile::tempdir().unwrap();
        let key = hsm::SoftwareKey::from_pem(
            &std::fs::read_to_string(fixture("officer-ec.key.pem")).unwrap(),
            "t",
        )
        .unwrap();
        let chain = crate::cert::parse_certificates(
            &std::fs::read(fixture("officer-ec.chain.pem")).unwrap(),
        )
        .unwrap();
        let input = dir.path().join("in.pdf");
        std::fs::write(&input, crate::pdf::sample::one_page(&["So: 1/UBND"])).unwrap();
        let opts = PadesOptions::new(OffsetDateTime::now_utc());
        let parked =
            prepare_pdf(&input, &dir.path().join("parked.pdf"), &key, &chain, &opts).unwrap();
        let alg = parked.algorithm().unwrap();
        let sig = key.sign(alg, parked.to_be_signed()).unwrap();
        let anchors = CertPool::from_certs(chain[2..].iter().cloned());
        let inter = CertPool::from_certs(chain[1..2].iter().cloned());
        let policy = crate::crypto::AlgorithmPolicy::default();
        for n in 1..=2 {
            let out = dir.path().join(format!("out{n}.pdf"));
            parked.fork(&out).unwrap().finish(&sig, None).unwrap();
            assert!(
                parked.pdf.temp_path.exists(),
                "the parked file was consumed"
            );
            let r = crate::pades::verify_pdf(
                &out,
                &crate::pades::VerifyOptions {
                    time: OffsetDateTime::now_utc(),
                    anchors: &anchors,
                    intermediates: &inter,
                    policy: &policy,
                    fetcher: None,
                },
            )
            .unwrap();
            assert_eq!(
                r.indication,
                crate::report::Indication::TotalPassed,
                "{r:?}"
            );
        }
        // A fork that fails (a garbled signature) leaves no output and no temporary file.
        let bad = dir.path().join("bad.pdf");
        let mut garbled = sig.clone();
        garbled[10] ^= 1;
        assert!(parked.fork(&bad).unwrap().finish(&garbled, None).is_err());
        assert!(!bad.exists());
        let temp = parked.pdf.temp_path.clone();
        parked.abort().unwrap();
        assert!(!temp.exists());
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
}
