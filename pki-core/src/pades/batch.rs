//! Signing many PDFs with one key at hand (a `pki sign` batch, a service signing document after
//! document): what depends only on the key and the options is done once — the algorithm, the
//! size of `/Contents`, the CMS with its certificates and signingCertificateV2 encoded as a
//! template ([`SignedDataTemplate`]) — and what each document costs is reading it, its
//! incremental update, one digest, the signature, and one write of the output.
//!
//! A document up to [`IN_MEMORY_MAX`] bytes is signed in memory and written once, atomically
//! (temporary file beside the output, renamed). Larger documents, and B-LT/B-LTA (which add a
//! DSS and a document time-stamp in further revisions), take the two-phase path of
//! [`super::prepare_pdf`], which streams the input.

use super::deferred::{signature_options, timestamp_signature};
use super::sign::TIMESTAMP_RESERVE;
use super::sign::{pick_algorithm, sign_pdf_two_phase, Level, PadesError, PadesOptions, Signed};
use crate::cert::Certificate;
use crate::cms::{SignedDataBuilder, SignedDataTemplate};
use crate::fetch::Fetcher;
use crate::pdf::sign::{self as pdfsign, SubFilter, IN_MEMORY_MAX};
use hsm::{HashAlgorithm, KeyKind, Signer};
use std::path::Path;
use time::OffsetDateTime;

/// One key's PAdES signing set up once for many documents.
#[derive(Debug)]
pub struct BatchSigner {
    chain: Vec<Certificate>,
    template: SignedDataTemplate,
    reserve: usize,
    /// The options the template was made for.
    hash: HashAlgorithm,
    pss: bool,
    sub_filter: SubFilter,
    signing_time: OffsetDateTime,
    timestamp: bool,
}

impl BatchSigner {
    /// Sets up signing by `signer`, whose certificate is `chain[0]` (then the CAs to embed), with
    /// `opts` (their level, hash, PSS choice, sub-filter and signing time are those of every
    /// document; per document the layout, page, field and texts may differ).
    pub fn new(
        signer: &dyn Signer,
        chain: &[Certificate],
        opts: &PadesOptions,
    ) -> Result<Self, PadesError> {
        let cert = chain.first().ok_or(PadesError::CertificateMismatch)?;
        if cert.spki() != signer.public_key_der() {
            return Err(PadesError::CertificateMismatch);
        }
        let alg = pick_algorithm(signer, opts.hash, opts.pss)?;
        let mut b = SignedDataBuilder::new(cert.clone(), alg)
            .certificates(chain[1..].iter().map(|c| c.der().to_vec()));
        if opts.sub_filter == SubFilter::Pkcs7Detached {
            // adbe.pkcs7.detached readers look for the time here; PAdES forbids it.
            b = b.signing_time(opts.signing_time);
        }
        // RSA signatures are always as long as the modulus, Ed25519 ones 64 bytes: the finished
        // CMS can be a template too. ECDSA's DER signatures vary by a few bytes.
        let fixed = match signer.key_kind() {
            KeyKind::Rsa { .. } | KeyKind::Ed25519 => Some(signer.max_signature_len()),
            _ => None,
        };
        let template = b.template(fixed)?;
        let mut reserve = template.size_hint(signer.max_signature_len()) + 512;
        let timestamp = opts.level.has_timestamp();
        if timestamp {
            reserve += TIMESTAMP_RESERVE;
        }
        Ok(Self {
            chain: chain.to_vec(),
            template,
            reserve,
            hash: opts.hash,
            pss: opts.pss,
            sub_filter: opts.sub_filter,
            signing_time: opts.signing_time,
            timestamp,
        })
    }

    /// Bytes reserved for the CMS in `/Contents`.
    pub fn contents_size(&self) -> usize {
        self.reserve
    }

    /// Whether `opts` are those this setup was made for.
    fn fits(&self, opts: &PadesOptions) -> bool {
        opts.hash == self.hash
            && opts.pss == self.pss
            && opts.sub_filter == self.sub_filter
            && opts.signing_time == self.signing_time
            && opts.level.has_timestamp() == self.timestamp
    }

    /// Signs `input` into `output` with `signer` (the key this was set up for), as
    /// [`super::sign_pdf`] does.
    pub fn sign_pdf(
        &self,
        signer: &dyn Signer,
        input: &Path,
        output: &Path,
        opts: &PadesOptions,
        fetcher: Option<&dyn Fetcher>,
    ) -> Result<Signed, PadesError> {
        self.sign(signer, input, None, output, opts, fetcher)
    }

    /// [`sign_pdf`](Self::sign_pdf) for a document already read into memory: `data` is the
    /// whole of `input` (as [`pdfsign::read_small`] reads it, with room for the update), so a
    /// caller that looked at the bytes first (to tell PDF from XML) does not read it twice.
    /// `input` is read again only for what cannot be signed in memory (B-LT, B-LTA, options
    /// other than those this setup was made for).
    pub fn sign_pdf_data(
        &self,
        signer: &dyn Signer,
        input: &Path,
        data: Vec<u8>,
        output: &Path,
        opts: &PadesOptions,
        fetcher: Option<&dyn Fetcher>,
    ) -> Result<Signed, PadesError> {
        self.sign(signer, input, Some(data), output, opts, fetcher)
    }

    fn sign(
        &self,
        signer: &dyn Signer,
        input: &Path,
        data: Option<Vec<u8>>,
        output: &Path,
        opts: &PadesOptions,
        fetcher: Option<&dyn Fetcher>,
    ) -> Result<Signed, PadesError> {
        let long_term = matches!(opts.level, Level::BLT | Level::BLTA);
        if long_term || !self.fits(opts) {
            return sign_pdf_two_phase(input, output, signer, &self.chain, opts, fetcher);
        }
        let tsa = tsa_of(opts, fetcher)?;
        let data = match data {
            Some(d) => d,
            None => match pdfsign::read_small(input, IN_MEMORY_MAX, self.reserve)? {
                Some(d) => d,
                None => {
                    return sign_pdf_two_phase(input, output, signer, &self.chain, opts, fetcher)
                }
            },
        };
        let (prepared, cms, signed) = self.sign_in_memory(signer, data, opts, tsa)?;
        prepared.write(&cms, output, opts.sync)?;
        Ok(signed)
    }

    /// The in-memory signature of `data` (options this setup fits, B-B or B-T): the prepared
    /// update, the CMS for its `/Contents`, and what was signed.
    fn sign_in_memory(
        &self,
        signer: &dyn Signer,
        data: Vec<u8>,
        opts: &PadesOptions,
        tsa: Option<(&str, &dyn Fetcher)>,
    ) -> Result<(pdfsign::PreparedInMemory, Vec<u8>, Signed), PadesError> {
        let pdf_opts = signature_options(opts, self.reserve);
        let prepared = pdfsign::prepare_in_memory(data, &pdf_opts)?;
        let alg = self.template.algorithm();
        let tbs = self.template.to_be_signed(&prepared.digest)?;
        let signature = signer.sign(alg, &tbs)?;
        // Every signature is checked against the certificate before it is written; a key whose
        // implementation already did so (aws-lc RSA) is not checked twice (decision 0037).
        let checked = signer.verifies_own_signatures(alg)
            && self.chain.first().map(Certificate::spki) == Some(signer.public_key_der());
        let mut cms = if checked {
            self.template
                .finish_checked_by_signer(&prepared.digest, &signature)?
        } else {
            self.template.finish(&prepared.digest, &signature)?
        };
        let mut timestamp_time = None;
        if let Some((url, fetcher)) = tsa {
            let (with_ts, gen_time, _) = timestamp_signature(&cms, self.hash, url, fetcher)?;
            cms = with_ts;
            timestamp_time = Some(gen_time);
        }
        let signed = Signed {
            field_name: prepared.field_name.clone(),
            level: if timestamp_time.is_some() {
                Level::BT
            } else {
                Level::BB
            },
            algorithm: alg,
            byte_range: prepared.byte_range,
            timestamp_time,
            doc_timestamp_time: None,
        };
        Ok((prepared, cms, signed))
    }

    /// Whether this setup signs documents with `opts` (same hash, PSS choice, sub-filter,
    /// signing time and time-stamp choice), so a caller can keep one per key and rebuild it
    /// when they change.
    pub fn made_for(&self, opts: &PadesOptions) -> bool {
        self.fits(opts)
    }

    /// Signs the PDF `data` (the whole document, read by the caller) in memory and returns the
    /// signed document's bytes, as [`Self::sign_pdf`] would have written them. `Ok(None)`: this
    /// setup does not sign these options in memory (B-LT/B-LTA, or options other than those it
    /// was made for); use [`Self::sign_pdf`] with a file. Give `data` spare capacity of about
    /// twice [`Self::contents_size`] to spare a reallocation.
    pub fn sign_pdf_bytes(
        &self,
        signer: &dyn Signer,
        data: Vec<u8>,
        opts: &PadesOptions,
        fetcher: Option<&dyn Fetcher>,
    ) -> Result<Option<(Vec<u8>, Signed)>, PadesError> {
        if matches!(opts.level, Level::BLT | Level::BLTA) || !self.fits(opts) {
            return Ok(None);
        }
        let tsa = tsa_of(opts, fetcher)?;
        let (prepared, cms, signed) = self.sign_in_memory(signer, data, opts, tsa)?;
        Ok(Some((prepared.into_signed_bytes(&cms)?, signed)))
    }
}

/// The TSA a B-T signature is time-stamped by (`None` for B-B).
fn tsa_of<'a>(
    opts: &'a PadesOptions,
    fetcher: Option<&'a dyn Fetcher>,
) -> Result<Option<(&'a str, &'a dyn Fetcher)>, PadesError> {
    match (opts.level.has_timestamp(), opts.tsa_url.as_deref()) {
        (false, _) => Ok(None),
        (true, Some(url)) => Ok(Some((url, fetcher.ok_or(PadesError::TsaRequired)?))),
        (true, None) => Err(PadesError::TsaRequired),
    }
}
