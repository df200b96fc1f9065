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
use crate::cms::CmsError;
use crate::fetch::Fetcher;
use crate::path::{self, Purpose, ValidationOptions};
use crate::pdf::sign::{Appearance, DocMdp, SignError, SubFilter};
use crate::revocation::Status;
use crate::trust::CertPool;
use crate::tsp::TspError;
use hsm::{HashAlgorithm, KeyKind, SignatureAlgorithm, Signer};
use std::path::Path;
use time::OffsetDateTime;

/// Room for a signature time-stamp token in `/Contents` (tokens with a chain run 3-7 KiB).
pub(crate) const TIMESTAMP_RESERVE: usize = 12 * 1024;

/// The PAdES baseline level to produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// A document to extend has no signature or time-stamp.
    #[error("the document has no signature or document time-stamp to extend; sign it first")]
    NothingToExtend,
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
    /// A certification signature with this DocMDP level (first signature only).
    pub certify: Option<DocMdp>,
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
            certify: None,
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
///
/// One document: [`super::BatchSigner`] signs many with the per-key work done once; signers
/// that answer later use [`super::prepare_pdf`] and [`super::PendingPdf::finish`].
pub fn sign_pdf(
    input: &Path,
    output: &Path,
    signer: &dyn Signer,
    chain: &[Certificate],
    opts: &PadesOptions,
    fetcher: Option<&dyn Fetcher>,
) -> Result<Signed, PadesError> {
    super::BatchSigner::new(signer, chain, opts)?.sign_pdf(signer, input, output, opts, fetcher)
}

/// [`super::prepare_pdf`], one signature by the key at hand, and
/// [`super::PendingPdf::finish`]: the way for every level and size.
pub(crate) fn sign_pdf_two_phase(
    input: &Path,
    output: &Path,
    signer: &dyn Signer,
    chain: &[Certificate],
    opts: &PadesOptions,
    fetcher: Option<&dyn Fetcher>,
) -> Result<Signed, PadesError> {
    let pending = super::prepare_pdf(input, output, signer, chain, opts)?;
    let alg = match pending.algorithm() {
        Ok(a) => a,
        Err(e) => {
            let _ = pending.abort();
            return Err(e);
        }
    };
    match signer.sign(alg, pending.to_be_signed()) {
        Ok(sig) => pending.finish(&sig, fetcher),
        Err(e) => {
            let _ = pending.abort();
            Err(e.into())
        }
    }
}
