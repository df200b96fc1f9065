//! Signing one document with a named key: the thin mapping from the service's profile, level
//! and options onto `pki_core::pades`. Runs on blocking threads, never on the async executor.
//!
//! XML documents go to [`crate::xml`]. PDF profiles: see [`layout`] (the visible Decree 30
//! layouts land in pki-core's pades module and are then a field here); `agency` additionally
//! enforces Decree 30/2020 Art. 32(2)(d) when the policy asks it.

use crate::config::{Config, KeyConfig};
use crate::error::ApiError;
use pki_core::cert::Certificate;
use pki_core::pades::{self, Level, PadesError, PadesOptions};
use pki_core::report::{Indication, SignatureKind};
use pki_core::trust::CertPool;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

/// An opened key with its certificate chain.
pub struct Key {
    /// Its name in the configuration.
    pub name: String,
    /// The signer.
    pub signer: Arc<dyn hsm::Signer>,
    /// Its chain, the signer's certificate first.
    pub chain: Vec<Certificate>,
    /// The signature or seal image of the `personal` and `agency` profiles.
    pub image: Option<Arc<pki_core::pdf::appearance::Image>>,
    /// The seal's width in millimetres when the PNG does not say.
    pub seal_size_mm: Option<f64>,
    /// The same key as a remote signer (`csc:`, `mss:`): its documents are parked while the
    /// person approves (`crate::remote`).
    pub remote: Option<Arc<hsm::RemoteSigner>>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key").field("name", &self.name).finish()
    }
}

/// Why a key could not be loaded at start.
#[derive(Debug, thiserror::Error)]
#[error("key \"{name}\": {message}")]
pub struct KeyLoadError {
    name: String,
    message: String,
}

/// Opens a configured key (never prompting: PINs come from `pin-source`) and checks its
/// certificate once, as the law asks of signing software.
pub fn open_key(name: &str, kc: &KeyConfig) -> Result<Key, KeyLoadError> {
    let err = |message: String| KeyLoadError {
        name: name.into(),
        message,
    };
    let keyref = hsm::KeyRef::parse(&kc.keyref).map_err(|e| err(e.to_string()))?;
    let given = match &kc.cert {
        Some(p) => {
            let data =
                std::fs::read(p).map_err(|e| err(format!("cannot read {}: {e}", p.display())))?;
            pki_core::cert::parse_certificates(&data)
                .map_err(|e| err(format!("{} is not a certificate file: {e}", p.display())))?
        }
        None => Vec::new(),
    };
    let (signer, chain, remote) = if crate::remote::is_remote(&keyref) {
        crate::remote::open_signer(&keyref, &given, kc).map_err(err)?
    } else {
        let opts = hsm::OpenOptions {
            secret_source: kc.pin_source.clone(),
            pool_size: kc.pool_size,
            ..Default::default()
        };
        let (signer, chain) =
            pki_core::signing::open_with_chain(&keyref, &given, opts).map_err(|e| match e {
                pki_core::signing::OpenKeyError::Key(e) => err(e.to_string()),
                _ => err(
                    "no certificate belongs to the key; give its chain with cert = \"chain.pem\""
                        .into(),
                ),
            })?;
        (signer, chain, None)
    };
    let inter = CertPool::from_certs(chain[1..].iter().cloned());
    let anchors = chain
        .last()
        .filter(|c| c.is_self_issued())
        .map(|root| CertPool::from_certs([root.clone()]));
    let check = pades::check_signer_certificate(
        &chain[0],
        &inter,
        anchors.as_ref(),
        time::OffsetDateTime::now_utc(),
        None,
    )
    .map_err(|e| err(e.to_string()))?;
    for w in check.warnings {
        tracing::info!(key = name, "{w}");
    }
    let image = match &kc.image {
        Some(p) => {
            let data =
                std::fs::read(p).map_err(|e| err(format!("cannot read {}: {e}", p.display())))?;
            Some(Arc::new(
                pki_core::pdf::appearance::Image::from_png(&data)
                    .map_err(|e| err(format!("{} is not a usable PNG: {e}", p.display())))?,
            ))
        }
        None => None,
    };
    Ok(Key {
        name: name.into(),
        signer,
        chain,
        image,
        seal_size_mm: kc.seal_size_mm,
        remote,
    })
}

/// The visible layout for `params` with `key` (`None`: an invisible signature).
fn layout(
    key: &Key,
    params: &SignParams,
) -> Result<Option<pki_core::pdf::appearance::LayoutOptions>, ApiError> {
    use pki_core::pdf::appearance::{LayoutOptions, Profile};
    let profile = match params.profile() {
        "personal" => Profile::Personal,
        "agency" => Profile::Agency,
        "attachment" => Profile::Attachment,
        "copy" => Profile::Copy,
        _ => return Ok(None),
    };
    let mut o = LayoutOptions::new(profile);
    if matches!(profile, Profile::Personal | Profile::Agency) {
        // A key configured without its image signs invisibly (the Decree 30 order is still
        // enforced for `agency`).
        let Some(image) = key.image.clone() else {
            return Ok(None);
        };
        o.image = Some(image);
    }
    o.seal_size_mm = key.seal_size_mm;
    o.doc_number = params.doc_number.clone();
    if let Some(r) = &params.rect {
        let v: Vec<f64> = r
            .split(',')
            .map(|p| p.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .unwrap_or_default();
        match v.as_slice() {
            [x, y, w, h] if v.iter().all(|n| n.is_finite()) && *w > 0.0 && *h > 0.0 => {
                o.rect = Some([*x, *y, *w, *h]);
            }
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_parameters",
                    format!("rect={r} is not x,y,width,height in points (four numbers)"),
                ))
            }
        }
    }
    if let Some(p) = params.page {
        if p == 0 {
            return Err(ApiError::bad_request(
                "invalid_parameters",
                "page counts from 1",
            ));
        }
        o.page = Some(p - 1);
    }
    let subject = key.chain[0].subject();
    o.signer_name = subject.common_name().map(str::to_owned);
    o.copy_agency = subject
        .organization()
        .or(subject.common_name())
        .map(str::to_owned);
    Ok(Some(o))
}

/// Opens every configured key.
pub fn open_keys(config: &Config) -> Result<BTreeMap<String, Arc<Key>>, KeyLoadError> {
    config
        .keys
        .iter()
        .map(|(n, kc)| Ok((n.clone(), Arc::new(open_key(n, kc)?))))
        .collect()
}

/// Options a caller may give with a document.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SignParams {
    /// The key's name (see `GET /v1/keys`).
    pub key: String,
    /// PDF: `personal`, `agency`, `attachment`, `copy` or `plain`; XML: `plain`, `einvoice`
    /// or `edxml` (default `plain`).
    #[serde(default)]
    pub profile: Option<String>,
    /// `B-B` (default) or `B-T` (when the service has a TSA).
    #[serde(default)]
    pub level: Option<String>,
    /// `/Reason`.
    #[serde(default)]
    pub reason: Option<String>,
    /// `/Location`.
    #[serde(default)]
    pub location: Option<String>,
    /// The document number and symbol (e.g. `123/UBND-VP`), for the attachment layout.
    #[serde(default)]
    pub doc_number: Option<String>,
    /// Where the personal signature or the seal goes, `x,y,width,height` in points from the
    /// page's lower left corner; default: found from the signer's name (personal) or the
    /// personal signature (agency).
    #[serde(default)]
    pub rect: Option<String>,
    /// The page (1-based) for `rect`.
    #[serde(default)]
    pub page: Option<u64>,
    /// RSASSA-PSS for RSA keys.
    #[serde(default)]
    pub pss: Option<bool>,
}

impl SignParams {
    /// The profile, defaulted.
    pub fn profile(&self) -> &str {
        self.profile.as_deref().unwrap_or("plain")
    }
}

/// Maps a level name onto pki-core.
pub fn level(name: Option<&str>, tsa: bool) -> Result<Level, ApiError> {
    let Some(name) = name else {
        return Ok(Level::BB);
    };
    match Level::parse(name) {
        Some(l) if l.has_timestamp() && !tsa => Err(ApiError::bad_request(
            "level_unavailable",
            format!(
                "level {name} needs a time-stamp authority and this service has none configured; ask for B-B"
            ),
        )),
        Some(l) => Ok(l),
        None => Err(ApiError::bad_request(
            "level_unavailable",
            format!("level {name} is not known; use B-B, B-T, B-LT or B-LTA"),
        )),
    }
}

/// What was signed.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Signature field.
    pub field: String,
    /// The signed document's media type.
    pub content_type: &'static str,
    /// Level name.
    pub level: String,
    /// Algorithm name.
    pub algorithm: String,
    /// Signer's certificate serial (hex).
    pub cert_serial: String,
}

/// What signing needs besides the document.
pub struct Context<'a> {
    /// Trust anchors for the Decree 30 check.
    pub anchors: &'a CertPool,
    /// Intermediates for it.
    pub intermediates: &'a CertPool,
    /// Whether the agency profile needs a valid earlier signature.
    pub agency_requires_personal: bool,
    /// TSA URL and fetcher for B-T.
    pub tsa: Option<(&'a str, &'a dyn pki_core::fetch::Fetcher)>,
    /// With `policy.verify_revocation = "online"`: the HTTP client the Decree 30 check asks
    /// OCSP responders and CRL distribution points through; `None`: only embedded data.
    pub revocation: Option<&'a dyn pki_core::fetch::Fetcher>,
    /// Whether pki-core fsyncs the output itself. `false` for both callers: `POST /v1/sign`
    /// streams a temporary output back and deletes it, and the batch worker syncs a whole
    /// signed group at once before committing it (decision 0011).
    pub sync: bool,
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").finish_non_exhaustive()
    }
}

pub use pki_core::pdf::looks_like_pdf;

/// The answer to a body that is neither a PDF nor XML (the code predates XML).
pub fn not_a_document() -> ApiError {
    ApiError::unprocessable(
        "not_a_pdf",
        "the document is neither a PDF (no %PDF- header) nor XML; send the PDF or XML file itself",
    )
}

/// Signs `input` (a PDF or an XML document, told by its first bytes) into `output`, written
/// atomically.
pub fn sign_document(
    key: &Key,
    params: &SignParams,
    input: &Path,
    output: &Path,
    ctx: &Context<'_>,
) -> Result<Outcome, ApiError> {
    let xml = !looks_like_pdf(input) && crate::xml::looks_like_xml(input);
    if !xml && !looks_like_pdf(input) {
        return Err(not_a_document());
    }
    let now = time::OffsetDateTime::now_utc();
    if xml {
        check_not_expired(key, now)?;
        return crate::xml::sign(key, params, input, output, ctx, now);
    }
    let o = pades_options(key, params, input, ctx, now)?;
    let signed = pades::sign_pdf(
        input,
        output,
        key.signer.as_ref(),
        &key.chain,
        &o,
        ctx.tsa.map(|(_, f)| f),
    )
    .map_err(map_pades_error)?;
    Ok(Outcome {
        field: signed.field_name,
        content_type: "application/pdf",
        level: signed.level.name().into(),
        algorithm: signed.algorithm.name(),
        cert_serial: key.chain[0].serial_hex(),
    })
}

fn check_not_expired(key: &Key, now: time::OffsetDateTime) -> Result<(), ApiError> {
    if now > key.chain[0].not_after() {
        return Err(ApiError::unavailable(
            "key_unusable",
            "the key's certificate has expired; the operator must renew it",
        ));
    }
    Ok(())
}

/// The PAdES options for `params` over `input` (the Decree 30 check and the layout done):
/// shared by one-pass signing and the remote keys' two-phase signing.
pub fn pades_options(
    key: &Key,
    params: &SignParams,
    input: &Path,
    ctx: &Context<'_>,
    now: time::OffsetDateTime,
) -> Result<PadesOptions, ApiError> {
    if !looks_like_pdf(input) {
        return Err(ApiError::unprocessable(
            "not_a_pdf",
            "the document is not a PDF (no %PDF- header); send the PDF file itself",
        ));
    }
    check_not_expired(key, now)?;
    if matches!(params.profile(), "einvoice" | "edxml") {
        return Err(ApiError::unprocessable(
            "profile_not_for_pdf",
            format!(
                "the profile \"{}\" is for XML documents; this document is a PDF",
                params.profile()
            ),
        ));
    }
    let lvl = level(params.level.as_deref(), ctx.tsa.is_some())?;
    if params.profile() == "agency" && ctx.agency_requires_personal {
        require_valid_signature(input, ctx, now)?;
    }
    let mut o = base_options(params, lvl, ctx, now);
    if let Some(l) = layout(key, params)? {
        let placed = pki_core::pdf::appearance::place(input, &l, now).map_err(|e| {
            ApiError::unprocessable(
                "layout_failed",
                format!("the {} signature cannot be placed: {e}", params.profile()),
            )
        })?;
        o.page = placed.page;
        o.appearance = placed.appearance;
    }
    Ok(o)
}

/// The options every PDF signature of `params` shares: level, PSS, reason, location, the
/// service's sync setting and, for time-stamped levels, its TSA.
fn base_options(
    params: &SignParams,
    lvl: Level,
    ctx: &Context<'_>,
    now: time::OffsetDateTime,
) -> PadesOptions {
    let mut o = PadesOptions::new(now);
    o.level = lvl;
    o.pss = params.pss.unwrap_or(false);
    o.reason = params.reason.clone();
    o.location = params.location.clone();
    o.sync = ctx.sync;
    if lvl.has_timestamp() {
        o.tsa_url = ctx.tsa.map(|(u, _)| u.to_owned());
    }
    o
}

/// Decree 30/2020 Art. 32(2)(d): the agency signs only over a valid signature already there.
fn require_valid_signature(
    input: &Path,
    ctx: &Context<'_>,
    now: time::OffsetDateTime,
) -> Result<(), ApiError> {
    let policy = pki_core::crypto::AlgorithmPolicy::default();
    let opts = pades::VerifyOptions {
        time: now,
        anchors: ctx.anchors,
        intermediates: ctx.intermediates,
        policy: &policy,
        fetcher: ctx.revocation,
    };
    let report = pades::verify_pdf(input, &opts).map_err(|e| {
        ApiError::unprocessable("invalid_pdf", format!("the PDF cannot be read: {e}"))
    })?;
    let signatures = || {
        report
            .signatures
            .iter()
            .filter(|s| s.kind == SignatureKind::Signature)
    };
    let valid = signatures().any(|s| s.indication == Indication::TotalPassed);
    // Online revocation that could not be had (a responder down) is not the caller's fault:
    // try again later, rather than "no valid signature".
    let try_later = signatures().any(|s| s.sub_indication.as_deref() == Some("TRY_LATER"));
    if valid {
        Ok(())
    } else if try_later {
        Err(ApiError::unavailable(
            "revocation_unavailable",
            "the personal signature's certificate status cannot be checked now (its OCSP responder or CRL does not answer); try again later",
        ))
    } else if report.signatures.is_empty() {
        Err(ApiError::unprocessable(
            "personal_signature_required",
            "the agency signature goes only on a document already signed by the competent person (Decree 30/2020, Art. 32); this document has no signature",
        ))
    } else {
        Err(ApiError::unprocessable(
            "personal_signature_required",
            "the agency signature goes only on a document already signed by the competent person (Decree 30/2020, Art. 32); no signature on this document is valid",
        ))
    }
}

pub(crate) fn map_pades_error(e: PadesError) -> ApiError {
    match e {
        PadesError::Pdf(e) => {
            ApiError::unprocessable("invalid_pdf", format!("the PDF cannot be signed: {e}"))
        }
        PadesError::Timestamp(m) => {
            tracing::warn!("time-stamp failed: {m}");
            ApiError::unavailable(
                "tsa_unavailable",
                "the time-stamp authority did not answer usably; try again later or ask for B-B",
            )
        }
        PadesError::ValidationData(e) => {
            tracing::warn!("validation data for B-LT could not be gathered: {e}");
            ApiError::unavailable(
                "revocation_unavailable",
                "the certificate status servers (OCSP/CRL) did not answer, so B-LT data cannot be embedded; try again later or ask for B-T",
            )
        }
        PadesError::Key(e) => {
            tracing::error!("the key failed to sign: {e}");
            ApiError::unavailable(
                "key_unavailable",
                "the signing key is not available now; try again later",
            )
        }
        other => {
            tracing::error!("signing failed: {other}");
            ApiError::internal()
        }
    }
}

/// Per-key signing set up once (decision 0026's `BatchSigner`: algorithm, `/Contents` size, the
/// CMS encoded as a template), shared by `POST /v1/sign` and the batch worker. An entry is made
/// for one signing time, so it is rebuilt when the second changes (PDF dates and the CMS
/// signing time have whole seconds: signing times are truncated to the second, which changes
/// nothing in the output).
#[derive(Default)]
pub struct Signers {
    map: std::sync::Mutex<BTreeMap<(String, bool, bool), Arc<pades::BatchSigner>>>,
}

impl std::fmt::Debug for Signers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signers").finish_non_exhaustive()
    }
}

impl Signers {
    fn get(&self, key: &Key, opts: &PadesOptions) -> Result<Arc<pades::BatchSigner>, ApiError> {
        let id = (key.name.clone(), opts.pss, opts.level.has_timestamp());
        let mut map = self.map.lock().map_err(|_| ApiError::internal())?;
        if let Some(s) = map.get(&id).filter(|s| s.made_for(opts)) {
            return Ok(s.clone());
        }
        let s = Arc::new(
            pades::BatchSigner::new(key.signer.as_ref(), &key.chain, opts)
                .map_err(map_pades_error)?,
        );
        map.insert(id, s.clone());
        Ok(s)
    }
}

/// The PAdES options for signing `params` in memory, or `None` when the document itself is
/// needed to choose them (a visible layout is placed on the page; the `agency` profile's
/// Decree 30 check reads the earlier signatures) or the level adds revisions (B-LT, B-LTA):
/// those take [`sign_document`]'s path through files.
fn memory_options(
    key: &Key,
    params: &SignParams,
    ctx: &Context<'_>,
    now: time::OffsetDateTime,
) -> Result<Option<PadesOptions>, ApiError> {
    if key.remote.is_some() || matches!(params.profile(), "einvoice" | "edxml") {
        return Ok(None);
    }
    let lvl = level(params.level.as_deref(), ctx.tsa.is_some())?;
    if matches!(lvl, Level::BLT | Level::BLTA)
        || (params.profile() == "agency" && ctx.agency_requires_personal)
        || layout(key, params)?.is_some()
    {
        return Ok(None);
    }
    check_not_expired(key, now)?;
    Ok(Some(base_options(params, lvl, ctx, now)))
}

/// What [`sign_pdf_bytes`] did: the signed bytes, or the input given back for the file path.
pub type InMemory = Result<(Vec<u8>, Outcome), Vec<u8>>;

/// Signs the PDF `data` in memory with `key`'s set-up signer (decision 0035) and returns the
/// signed bytes. `Ok(None)`: these bytes or options go through files ([`sign_document`]):
/// not a PDF (XML, or nothing the service signs: that path gives the refusal), larger than
/// `pki_core::pdf::sign::IN_MEMORY_MAX`, or options that need the document (see
/// `memory_options`). `data` is returned untouched with `None`.
pub fn sign_pdf_bytes(
    key: &Key,
    params: &SignParams,
    data: Vec<u8>,
    ctx: &Context<'_>,
    signers: &Signers,
) -> Result<InMemory, ApiError> {
    let head = &data[..data.len().min(1024)];
    if !head.windows(5).any(|w| w == b"%PDF-")
        || data.len() as u64 > pki_core::pdf::sign::IN_MEMORY_MAX
    {
        return Ok(Err(data));
    }
    // Whole seconds: see `Signers`.
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .map_err(|_| ApiError::internal())?;
    let Some(o) = memory_options(key, params, ctx, now)? else {
        return Ok(Err(data));
    };
    let setup = signers.get(key, &o)?;
    let signed = setup
        .sign_pdf_bytes(key.signer.as_ref(), data, &o, ctx.tsa.map(|(_, f)| f))
        .map_err(map_pades_error)?;
    let Some((bytes, signed)) = signed else {
        // `Signers::get` made the setup for exactly these options.
        tracing::error!("the key's signing setup does not fit its own options");
        return Err(ApiError::internal());
    };
    Ok(Ok((
        bytes,
        Outcome {
            field: signed.field_name,
            content_type: "application/pdf",
            level: signed.level.name().into(),
            algorithm: signed.algorithm.name(),
            cert_serial: key.chain[0].serial_hex(),
        },
    )))
}
