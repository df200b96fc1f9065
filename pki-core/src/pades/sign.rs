//! PAdES signing (ETSI EN 319 142-1): a PDF signature made of the incremental update and
//! placeholder of `pdf::sign`, a detached CMS signature of `cms` (with signingCertificateV2 and
//! no signing-time attribute, as the baseline profiles require), and for B-T a signature
//! time-stamp from an RFC 3161 TSA. Before anything is written, the signer's certificate is
//! checked (Thông tư 15/2025 asks signing software to refuse an invalid certificate).
//!
//! Nothing is half-written: the output goes to a temporary file next to it and is renamed only
//! when the signature is complete; any failure removes the temporary file. The input is only
//! read.

use crate::cert::{Certificate, KeyUsage};
use crate::cms::{CmsError, SignedData, SignedDataBuilder};
use crate::fetch::Fetcher;
use crate::path::{self, Purpose, ValidationOptions};
use crate::pdf::sign::{
    self as pdfsign, Appearance, SignError, SignatureKind, SignatureOptions, SubFilter,
};
use crate::revocation::Status;
use crate::trust::CertPool;
use crate::tsp::{self, Imprint, TspError};
use hsm::{HashAlgorithm, KeyKind, SignatureAlgorithm, Signer};
use std::path::Path;
use time::OffsetDateTime;

/// Room for a signature time-stamp token in `/Contents` (tokens with a chain run 3-7 KiB).
const TIMESTAMP_RESERVE: usize = 12 * 1024;

/// The PAdES baseline level to produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Level {
    /// B-B: the signature alone.
    BB,
    /// B-T: with a signature time-stamp.
    BT,
    /// B-LT: B-T plus a DSS with the certificates and revocation data of the signer's and the
    /// time-stamp authority's paths.
    BLT,
    /// B-LTA: B-LT plus a document time-stamp over it all.
    BLTA,
}

impl Level {
    /// `PAdES-B-B`, `PAdES-B-T`, `PAdES-B-LT`, `PAdES-B-LTA`.
    pub fn name(self) -> &'static str {
        match self {
            Self::BB => "PAdES-B-B",
            Self::BT => "PAdES-B-T",
            Self::BLT => "PAdES-B-LT",
            Self::BLTA => "PAdES-B-LTA",
        }
    }

    /// Reads `B-B`, `B-T`, `B-LT`, `B-LTA` (with or without the `PAdES-` prefix, any case).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.to_ascii_uppercase();
        match s.strip_prefix("PADES-").unwrap_or(&s) {
            "B-B" => Some(Self::BB),
            "B-T" => Some(Self::BT),
            "B-LT" => Some(Self::BLT),
            "B-LTA" => Some(Self::BLTA),
            _ => None,
        }
    }

    /// Whether the level includes a signature time-stamp.
    pub fn has_timestamp(self) -> bool {
        self != Self::BB
    }
}

/// Why a PDF could not be signed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PadesError {
    /// The PDF could not be read or written.
    #[error(transparent)]
    Pdf(#[from] SignError),
    /// The CMS could not be built.
    #[error("the signature could not be built: {0}")]
    Cms(#[from] CmsError),
    /// The key failed to sign.
    #[error(transparent)]
    Key(#[from] hsm::Error),
    /// The key offers no algorithm that fits the request.
    #[error("the key ({key}) cannot sign with {wanted}")]
    NoAlgorithm {
        /// The key.
        key: String,
        /// What was asked.
        wanted: String,
    },
    /// The signer's certificate must not be used to sign.
    #[error("the signing certificate cannot be used: {0}")]
    SignerCertificate(String),
    /// The certificate does not belong to the key.
    #[error("the certificate does not belong to the signing key; give the matching certificate")]
    CertificateMismatch,
    /// B-T or higher was asked without a time-stamp authority.
    #[error("a PAdES-B-T, B-LT or B-LTA signature needs a time-stamp authority URL (--tsa)")]
    TsaRequired,
    /// B-LT or higher was asked without a way to fetch revocation data.
    #[error("a PAdES-B-LT or B-LTA signature needs network access to OCSP and CRL servers")]
    FetcherRequired,
    /// The long-term validation data could not be gathered.
    #[error("the validation data for B-LT could not be gathered: {0}")]
    ValidationData(#[from] crate::ltv::LtvError),
    /// The time-stamp authority failed or answered with an unusable token.
    #[error("the time-stamp could not be obtained: {0}")]
    Timestamp(String),
}

impl From<TspError> for PadesError {
    fn from(e: TspError) -> Self {
        PadesError::Timestamp(e.to_string())
    }
}

/// What to sign and how.
#[derive(Clone, Debug)]
pub struct PadesOptions {
    /// Level.
    pub level: Level,
    /// `/ETSI.CAdES.detached` (default) or `/adbe.pkcs7.detached` for old readers.
    pub sub_filter: SubFilter,
    /// Digest algorithm.
    pub hash: HashAlgorithm,
    /// RSASSA-PSS for RSA keys (Thông tư 15/2025 asks it of new signatures).
    pub pss: bool,
    /// The signing time written in `/M`.
    pub signing_time: OffsetDateTime,
    /// `/Reason`.
    pub reason: Option<String>,
    /// `/Location`.
    pub location: Option<String>,
    /// `/ContactInfo`.
    pub contact_info: Option<String>,
    /// The field name (default `SignatureN`).
    pub field_name: Option<String>,
    /// Page (0-based) of the widget.
    pub page: u64,
    /// A visible appearance; `None` for an invisible signature.
    pub appearance: Option<Appearance>,
    /// The TSA URL for B-T and above.
    pub tsa_url: Option<String>,
    /// Whether the output is forced to disk before returning (see
    /// [`SignatureOptions::sync`](crate::pdf::sign::SignatureOptions::sync)); a batch may
    /// sync the file system once instead.
    pub sync: bool,
    /// Certificates that help complete paths for B-LT (roots, time-stamp authority CAs); the
    /// public Vietnamese roots and intermediates are always known.
    pub extra_certs: Vec<Certificate>,
}

impl PadesOptions {
    /// B-B, CAdES subfilter, SHA-256, PKCS#1 v1.5, invisible, signed now.
    pub fn new(signing_time: OffsetDateTime) -> Self {
        Self {
            level: Level::BB,
            sub_filter: SubFilter::CadesDetached,
            hash: HashAlgorithm::Sha256,
            pss: false,
            signing_time,
            reason: None,
            location: None,
            contact_info: None,
            field_name: None,
            page: 0,
            appearance: None,
            tsa_url: None,
            sync: true,
            extra_certs: Vec::new(),
        }
    }
}

/// What was produced.
#[derive(Clone, Debug)]
pub struct Signed {
    /// The signature field's name.
    pub field_name: String,
    /// The level reached.
    pub level: Level,
    /// The signature algorithm used.
    pub algorithm: SignatureAlgorithm,
    /// `/ByteRange`.
    pub byte_range: [u64; 4],
    /// The signature time-stamp's genTime (B-T and above).
    pub timestamp_time: Option<OffsetDateTime>,
    /// The document time-stamp's genTime (B-LTA).
    pub doc_timestamp_time: Option<OffsetDateTime>,
}

/// Picks the signature algorithm for `kind` among those the signer offers.
pub fn pick_algorithm(
    signer: &dyn Signer,
    hash: HashAlgorithm,
    pss: bool,
) -> Result<SignatureAlgorithm, PadesError> {
    let offered = signer.algorithms();
    let kind = signer.key_kind();
    let wanted = match kind {
        KeyKind::Rsa { .. } if pss => vec![SignatureAlgorithm::RsaPss(hash)],
        KeyKind::Rsa { .. } => vec![SignatureAlgorithm::RsaPkcs1(hash)],
        KeyKind::Ed25519 => vec![SignatureAlgorithm::Ed25519],
        // ECDSA: the requested hash, else whatever the key offers (its natural pairing).
        _ => {
            let mut v = vec![SignatureAlgorithm::Ecdsa(hash)];
            v.extend(
                offered
                    .iter()
                    .copied()
                    .filter(|a| matches!(a, SignatureAlgorithm::Ecdsa(_))),
            );
            v
        }
    };
    wanted
        .into_iter()
        .find(|a| offered.contains(a))
        .ok_or_else(|| PadesError::NoAlgorithm {
            key: kind.describe(),
            wanted: if pss {
                format!("RSASSA-PSS with {}", hash.name())
            } else {
                hash.name().to_string()
            },
        })
}

/// The result of checking a signer's certificate before signing.
#[derive(Clone, Debug, Default)]
pub struct SignerCheck {
    /// Things worth telling the signer (revocation not checked, weak key, ...).
    pub warnings: Vec<String>,
}

/// Checks the signer's certificate before signing: valid at `at`, allowed to sign documents,
/// chaining to `anchors` when given, and not revoked when a `fetcher` is given (online). A
/// revocation status that cannot be learned online is a warning, not a refusal; a revoked
/// certificate is refused.
pub fn check_signer_certificate(
    cert: &Certificate,
    intermediates: &CertPool,
    anchors: Option<&CertPool>,
    at: OffsetDateTime,
    fetcher: Option<&dyn Fetcher>,
) -> Result<SignerCheck, PadesError> {
    let refuse = |s: String| Err(PadesError::SignerCertificate(s));
    if at > cert.not_after() {
        return refuse(format!(
            "it expired on {}",
            crate::time::vietnam(cert.not_after())
        ));
    }
    if at < cert.not_before() {
        return refuse(format!(
            "it is not valid before {}",
            crate::time::vietnam(cert.not_before())
        ));
    }
    if let Err(e) = path::check_purpose(cert, Purpose::DocumentSigning) {
        return refuse(e.to_string());
    }
    if let Some(ku) = cert.extensions().key_usage {
        if !ku.has(KeyUsage::DIGITAL_SIGNATURE) && !ku.has(KeyUsage::NON_REPUDIATION) {
            return refuse("its key usage does not allow signatures".into());
        }
    }
    let mut check = SignerCheck::default();
    let chain = match anchors {
        Some(a) => {
            let opts = ValidationOptions::new(at, Purpose::DocumentSigning);
            match path::validate(cert, intermediates, a, &opts) {
                Ok(p) => {
                    check.warnings.extend(p.warnings);
                    Some(p.certs)
                }
                Err(f) if f.error.is_definitive() => return refuse(f.error.to_string()),
                Err(f) => {
                    check.warnings.push(f.error.to_string());
                    None
                }
            }
        }
        None => None,
    };
    match (fetcher, chain) {
        (Some(fetcher), Some(chain)) if chain.len() > 1 => {
            let (status, _) =
                crate::revocation::online_status(cert, &chain[1], fetcher, at, &Default::default());
            match status {
                Status::Good { .. } => {}
                Status::Revoked { at: t, reason, .. } => {
                    let r = reason.map(|r| format!(" ({r})")).unwrap_or_default();
                    return refuse(format!("it was revoked on {}{r}", crate::time::vietnam(t)));
                }
                Status::Unknown { reason } => check
                    .warnings
                    .push(format!("revocation could not be checked: {reason}")),
            }
        }
        (Some(_), _) => check
            .warnings
            .push("revocation was not checked: the issuer of the certificate is not known".into()),
        (None, _) => check
            .warnings
            .push("revocation was not checked (offline)".into()),
    }
    Ok(check)
}

/// Signs `input` into `output` with `signer`; `chain` is the signer's certificate first, then
/// the certificates to embed (issuing CAs). `fetcher` reaches the TSA for B-T and above, and the
/// OCSP responders and CRL distribution points for B-LT and above.
pub fn sign_pdf(
    input: &Path,
    output: &Path,
    signer: &dyn Signer,
    chain: &[Certificate],
    opts: &PadesOptions,
    fetcher: Option<&dyn Fetcher>,
) -> Result<Signed, PadesError> {
    let cert = chain.first().ok_or(PadesError::CertificateMismatch)?;
    if cert.spki() != signer.public_key_der() {
        return Err(PadesError::CertificateMismatch);
    }
    if opts.level.has_timestamp() && opts.tsa_url.is_none() {
        return Err(PadesError::TsaRequired);
    }
    if matches!(opts.level, Level::BB | Level::BT) {
        return sign_once(input, output, signer, chain, opts, fetcher).map(|s| s.signed);
    }
    let fetcher = fetcher.ok_or(PadesError::FetcherRequired)?;
    let tsa_url = opts.tsa_url.as_deref().ok_or(PadesError::TsaRequired)?;
    // B-LT and B-LTA: the signature (B-T) and the DSS go to staging files beside the output,
    // the last step renames onto it; staging files are removed whatever happens.
    let stage = Staging::new(output)?;
    let bt = stage.path(0);
    let lt = if opts.level == Level::BLTA {
        stage.path(1)
    } else {
        output.to_path_buf()
    };
    let mut once = sign_once(input, &bt, signer, chain, opts, Some(fetcher))?;
    let mut known: Vec<&Certificate> = chain.iter().chain(opts.extra_certs.iter()).collect();
    let tsa_certs = once.tsa_certs.clone();
    known.extend(tsa_certs.iter());
    let known = crate::ltv::known_certificates(known);
    let policy = crate::crypto::AlgorithmPolicy::default();
    let mut data = crate::ltv::ValidationData::new();
    data.add_path(cert, &known, fetcher, opts.signing_time, &policy)?;
    if let Some(tsa) = tsa_certs.first() {
        data.add_path(tsa, &known, fetcher, opts.signing_time, &policy)?;
    }
    super::ltv::add_dss(&bt, &lt, &data, &[&once.contents])?;
    once.signed.level = opts.level;
    if opts.level == Level::BLTA {
        let token = super::ltv::add_document_timestamp(&lt, output, opts.hash, tsa_url, fetcher)?;
        once.signed.doc_timestamp_time = Some(token.tst_info.gen_time);
    }
    Ok(once.signed)
}

/// Files `.<output>.<random>.stage-N` beside the output, removed on drop.
struct Staging {
    base: std::path::PathBuf,
}

impl Staging {
    fn new(output: &Path) -> Result<Self, PadesError> {
        let dir = output
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let (base, file) = pdfsign::create_temp(dir, output)?;
        drop(file);
        Ok(Self { base })
    }

    fn path(&self, n: usize) -> std::path::PathBuf {
        let mut p = self.base.clone().into_os_string();
        p.push(format!(".stage-{n}"));
        p.into()
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        for n in 0..2 {
            let _ = std::fs::remove_file(self.path(n));
        }
        let _ = std::fs::remove_file(&self.base);
    }
}

/// One signature written: what the caller sees, the `/Contents` value as stored (for VRI keys)
/// and the signature time-stamp's certificates (TSA first) for B-LT.
struct SignedOnce {
    signed: Signed,
    contents: Vec<u8>,
    tsa_certs: Vec<Certificate>,
}

/// The signature itself, B-B or B-T.
fn sign_once(
    input: &Path,
    output: &Path,
    signer: &dyn Signer,
    chain: &[Certificate],
    opts: &PadesOptions,
    fetcher: Option<&dyn Fetcher>,
) -> Result<SignedOnce, PadesError> {
    let cert = chain.first().ok_or(PadesError::CertificateMismatch)?;
    let with_ts = opts.level.has_timestamp();
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
    if with_ts {
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
        sync: opts.sync,
    };
    let prepared = pdfsign::prepare(input, output, &pdf_opts)?;
    type Built = (Vec<u8>, Option<OffsetDateTime>, Vec<Certificate>);
    let result = (|| -> Result<Built, PadesError> {
        let mut b = builder().detached_digest(prepared.digest.clone());
        if opts.sub_filter == SubFilter::Pkcs7Detached {
            // adbe.pkcs7.detached readers look for the time here; PAdES forbids it.
            b = b.signing_time(opts.signing_time);
        }
        let p = b.prepare()?;
        let sig = signer.sign(alg, &p.tbs)?;
        let cms = p.finish(&sig)?;
        if !with_ts {
            return Ok((cms, None, Vec::new()));
        }
        let (Some(url), Some(fetcher)) = (opts.tsa_url.as_deref(), fetcher) else {
            return Err(PadesError::TsaRequired);
        };
        let mut sd = SignedData::parse(&cms)?;
        let req = tsp::request_for_signature(&sd, 0, opts.hash)?;
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
        Ok((sd.to_der(), Some(gen_time), tsa_certs))
    })();
    match result {
        Ok((cms, ts, tsa_certs)) => {
            if let Err(e) = pdfsign::finish(&prepared, &cms) {
                let _ = pdfsign::abort(&prepared);
                return Err(e.into());
            }
            Ok(SignedOnce {
                contents: super::ltv::padded_contents(&cms, prepared.contents_capacity),
                tsa_certs,
                signed: Signed {
                    field_name: prepared.field_name.clone(),
                    level: opts.level,
                    algorithm: alg,
                    byte_range: prepared.byte_range,
                    timestamp_time: ts,
                    doc_timestamp_time: None,
                },
            })
        }
        Err(e) => {
            let _ = pdfsign::abort(&prepared);
            Err(e)
        }
    }
}
