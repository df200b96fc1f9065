//! `pki tsa query|verify|serve`: RFC 3161 time-stamps over HTTP (RFC 3161 §3.4).

use crate::error::{CliError, CmdResult, Exit};
use crate::output::Lang;
use pki_core::cert::{parse_certificates, Certificate};
use pki_core::crypto::AlgorithmPolicy;
use pki_core::tsp::{self, Imprint, TimeStampReq, TimeStampToken, TokenCheck};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

/// Time-stamp request/response bodies larger than this are refused.
const MAX_BODY: u64 = 1024 * 1024;
/// The longest a TSA may take to answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Requests a TSA server accepts are at most this large (a request is under 200 bytes).
const MAX_REQUEST: usize = 16 * 1024;
/// The policy a TSA serves when neither `--policy` nor the certificate names one: the example
/// policy of OpenSSL's sample TSA configuration, meaning "test TSA, no policy claims". A real
/// TSA sets `--policy`.
pub const DEFAULT_POLICY: &str = "1.2.3.4.1";

/// Arguments of `pki tsa`.
#[derive(Debug, clap::Args)]
pub struct TsaArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: TsaCommand,
}

/// `pki tsa` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum TsaCommand {
    /// Ask a time-stamp authority for a token over FILE and check it.
    Query(QueryArgs),
    /// Check a time-stamp token (or a whole .tsr response) against the data.
    Verify(VerifyArgs),
    /// Run a time-stamp authority (RFC 3161 over HTTP POST).
    Serve(ServeArgs),
}

/// A hash for the message imprint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum HashArg {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl From<HashArg> for hsm::HashAlgorithm {
    fn from(h: HashArg) -> Self {
        match h {
            HashArg::Sha256 => hsm::HashAlgorithm::Sha256,
            HashArg::Sha384 => hsm::HashAlgorithm::Sha384,
            HashArg::Sha512 => hsm::HashAlgorithm::Sha512,
        }
    }
}

/// Arguments of `pki tsa query`.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// The file to time-stamp.
    pub file: PathBuf,
    /// The TSA's URL (http:// or https://).
    #[arg(long)]
    pub url: String,
    /// Hash for the message imprint.
    #[arg(long, value_enum, default_value = "sha256")]
    pub hash: HashArg,
    /// Ask for this TSA policy (an OID).
    #[arg(long)]
    pub policy: Option<String>,
    /// Write the response (.tsr, as `openssl ts -reply` writes it) here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Trust anchors (PEM/DER) to check the TSA certificate's chain against.
    #[arg(long)]
    pub trust: Vec<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `pki tsa verify`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["data", "digest"])))]
pub struct VerifyArgs {
    /// The token: a TimeStampResp (.tsr) or a bare TimeStampToken, DER.
    pub token: PathBuf,
    /// The time-stamped data.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The expected message imprint (hex), instead of --data.
    #[arg(long)]
    pub digest: Option<String>,
    /// The nonce sent in the request (hex), to check it is echoed.
    #[arg(long)]
    pub nonce: Option<String>,
    /// Trust anchors (PEM/DER); without one the result is at best indeterminate.
    #[arg(long)]
    pub trust: Vec<PathBuf>,
    /// More certificates to build the chain with (and to find a TSA certificate not embedded).
    #[arg(long)]
    pub untrusted: Vec<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `pki tsa serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The TSA certificate (with the critical id-kp-timeStamping extended key usage).
    #[arg(long)]
    pub cert: PathBuf,
    /// The TSA private key (PEM or DER, unencrypted).
    #[arg(long)]
    pub key: PathBuf,
    /// Issuing CA certificates to include when a request sets certReq.
    #[arg(long)]
    pub chain: Option<PathBuf>,
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:3180")]
    pub listen: String,
    /// The TSA policy OID (default: the certificate's first policy, else a test policy).
    #[arg(long)]
    pub policy: Option<String>,
}

/// Runs `pki tsa ...`.
pub fn run(args: TsaArgs, lang: Lang) -> CmdResult {
    match args.command {
        TsaCommand::Query(a) => query(a, lang),
        TsaCommand::Verify(a) => verify(a, lang),
        TsaCommand::Serve(a) => serve(a),
    }
}

fn read_file(p: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(p).map_err(|e| CliError::from_error(format!("cannot read {}", p.display()), &e))
}

fn read_certs(p: &Path) -> Result<Vec<Certificate>, CliError> {
    parse_certificates(&read_file(p)?).map_err(|e| {
        CliError::from_error(format!("cannot read certificates from {}", p.display()), &e)
    })
}

fn parse_oid(s: &str) -> Result<const_oid::ObjectIdentifier, CliError> {
    const_oid::ObjectIdentifier::new(s).map_err(|_| {
        CliError::usage(format!(
            "\"{s}\" is not an object identifier (e.g. 1.2.3.4)"
        ))
    })
}

fn parse_hex(what: &str, s: &str) -> Result<Vec<u8>, CliError> {
    let clean: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    hex::decode(clean).map_err(|_| CliError::usage(format!("{what} must be hexadecimal")))
}

/// RFC 3339 with the fraction of a second kept, at `offset`.
fn fmt_time(t: OffsetDateTime, offset: time::UtcOffset) -> String {
    let t = t.to_offset(offset);
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let ns = t.nanosecond();
    if ns != 0 {
        let f = format!("{ns:09}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    if offset == time::UtcOffset::UTC {
        s.push('Z');
    } else {
        s.push_str("+07:00");
    }
    s
}

/// Interim chain check until RFC 5280 path validation (`pki_core::path`) is merged: walks
/// issuer links by name and signature from the TSA certificate to a trust anchor, with every
/// certificate valid at `at` and every issuer a CA.
fn chain_to_anchor(
    leaf: &Certificate,
    pool: &[Certificate],
    anchors: &[Certificate],
    at: OffsetDateTime,
) -> Result<Vec<Certificate>, String> {
    let policy = AlgorithmPolicy::default();
    let mut chain = vec![leaf.clone()];
    let mut cur = leaf.clone();
    for _ in 0..8 {
        if !cur.valid_at(at) {
            return Err(format!(
                "{} is not valid at the time-stamp's time",
                cur.subject()
            ));
        }
        if anchors.contains(&cur) {
            return Ok(chain);
        }
        let signed_by = |i: &Certificate| {
            i.subject_key() == cur.issuer_key()
                && pki_core::crypto::verify(
                    cur.signature_algorithm(),
                    i.spki(),
                    cur.tbs(),
                    cur.signature(),
                    &policy,
                )
                .is_ok()
        };
        if let Some(a) = anchors.iter().find(|a| signed_by(a)) {
            chain.push(a.clone());
            return Ok(chain);
        }
        match pool
            .iter()
            .find(|i| *i != &cur && i.is_ca() && signed_by(i))
        {
            Some(i) => {
                chain.push(i.clone());
                cur = i.clone();
            }
            None => return Err(format!("no trusted issuer found for {}", cur.subject())),
        }
    }
    Err("the certificate chain is too long".into())
}

enum Trust {
    NotChecked,
    Trusted(Vec<Certificate>),
    NotTrusted(String),
}

fn report(
    token: &TimeStampToken,
    check: &TokenCheck,
    trust: &Trust,
    require_trust: bool,
    json: bool,
    lang: Lang,
) -> Exit {
    let info = &token.tst_info;
    let problems = check.problems();
    let (exit, indication) = if !problems.is_empty() {
        (Exit::Invalid, "TOTAL-FAILED")
    } else {
        match trust {
            Trust::Trusted(_) => (Exit::Ok, "TOTAL-PASSED"),
            Trust::NotTrusted(_) => (Exit::Indeterminate, "INDETERMINATE"),
            Trust::NotChecked if require_trust => (Exit::Indeterminate, "INDETERMINATE"),
            Trust::NotChecked => (Exit::Ok, "PASSED"),
        }
    };
    let tsa = info
        .tsa_name()
        .map(|n| n.to_string())
        .or_else(|| check.tsa_cert.as_ref().map(|c| c.subject().to_string()))
        .unwrap_or_default();
    let hash = info.message_imprint.hash().map_or_else(
        || info.message_imprint.hash_oid.to_string(),
        |h| h.name().to_string(),
    );
    let chain_text = match trust {
        Trust::NotChecked => match lang {
            Lang::Vi => "không kiểm tra (thiếu --trust)".to_string(),
            Lang::En => "not checked (no --trust given)".to_string(),
        },
        Trust::Trusted(c) => c
            .iter()
            .map(|c| c.subject().common_name().unwrap_or("?").to_string())
            .collect::<Vec<_>>()
            .join(" <- "),
        Trust::NotTrusted(why) => why.clone(),
    };
    if json {
        let v = serde_json::json!({
            "indication": indication,
            "gen_time": fmt_time(info.gen_time, time::UtcOffset::UTC),
            "gen_time_vietnam": fmt_time(info.gen_time, pki_core::time::VIETNAM),
            "serial": info.serial_hex(),
            "policy": info.policy.to_string(),
            "tsa": tsa,
            "hash": hash,
            "message_imprint": hex::encode(&info.message_imprint.digest),
            "nonce": info.nonce.as_deref().map(pki_core::cert::serial_hex),
            "signing_certificate": match check.cms.signing_certificate {
                pki_core::cms::EssCheck::MatchesV2 => "signingCertificateV2",
                pki_core::cms::EssCheck::MatchesV1 => "signingCertificate",
                pki_core::cms::EssCheck::Absent => "absent",
                _ => "mismatch",
            },
            "accuracy": info.accuracy.map(|a| serde_json::json!({"seconds": a.seconds, "millis": a.millis, "micros": a.micros})),
            "tsa_certificate": check.tsa_cert.as_ref().map(|c| serde_json::json!({
                "subject": c.subject().to_string(), "serial": c.serial_hex(), "sha256": hex::encode(c.sha256()),
            })),
            "chain": chain_text,
            "errors": problems,
        });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return exit;
    }
    let l = |vi: &'static str, en: &'static str| if lang == Lang::Vi { vi } else { en };
    println!("{}: {indication}", l("Dấu thời gian", "Time-stamp token"));
    println!(
        "  {}: {}",
        l("thời điểm", "time"),
        fmt_time(info.gen_time, pki_core::time::VIETNAM)
    );
    println!("  UTC: {}", fmt_time(info.gen_time, time::UtcOffset::UTC));
    println!("  {}: {}", l("số hiệu", "serial"), info.serial_hex());
    println!("  {}: {}", l("chính sách", "policy"), info.policy);
    println!("  TSA: {tsa}");
    println!(
        "  {}: {hash} {}",
        l("mã băm", "imprint"),
        hex::encode(&info.message_imprint.digest)
    );
    println!("  {}: {chain_text}", l("chuỗi chứng thư", "chain"));
    for p in &problems {
        println!("  {}: {p}", l("lỗi", "error"));
    }
    exit
}

fn check_trust(
    check: &TokenCheck,
    token: &TimeStampToken,
    trust_files: &[PathBuf],
    untrusted: &[Certificate],
) -> Result<Trust, CliError> {
    if trust_files.is_empty() {
        return Ok(Trust::NotChecked);
    }
    let mut anchors = Vec::new();
    for p in trust_files {
        anchors.extend(read_certs(p)?);
    }
    let Some(leaf) = &check.tsa_cert else {
        return Ok(Trust::NotTrusted(
            "the TSA certificate was not found".into(),
        ));
    };
    let mut pool = check.other_certs.clone();
    pool.extend(untrusted.iter().cloned());
    Ok(
        match chain_to_anchor(leaf, &pool, &anchors, token.tst_info.gen_time) {
            Ok(c) => Trust::Trusted(c),
            Err(e) => Trust::NotTrusted(e),
        },
    )
}

fn verify(a: VerifyArgs, lang: Lang) -> CmdResult {
    let raw = read_file(&a.token)?;
    let token = TimeStampToken::from_response_or_token(&raw).map_err(|e| {
        CliError::from_error(
            format!("{} is not a readable time-stamp token", a.token.display()),
            &e,
        )
        .hint("give the DER response (.tsr) or token that `pki tsa query --out` or `openssl ts -reply` writes")
    })?;
    let mut untrusted = Vec::new();
    for p in &a.untrusted {
        untrusted.extend(read_certs(p)?);
    }
    let data;
    let digest;
    let expected = match (&a.data, &a.digest) {
        (Some(p), _) => {
            data = read_file(p)?;
            Imprint::Data(&data)
        }
        (None, Some(h)) => {
            digest = parse_hex("--digest", h)?;
            Imprint::Digest(&digest)
        }
        (None, None) => return Err(CliError::usage("give --data FILE or --digest HEX")),
    };
    let nonce = a
        .nonce
        .as_deref()
        .map(|n| parse_hex("--nonce", n))
        .transpose()?;
    let check = token
        .validate(
            expected,
            nonce.as_deref(),
            &untrusted,
            &AlgorithmPolicy::default(),
        )
        .map_err(|e| CliError::from_error("the time-stamp token cannot be evaluated", &e))?;
    let trust = check_trust(&check, &token, &a.trust, &untrusted)?;
    Ok(report(&token, &check, &trust, true, a.json, lang))
}

/// The HTTP side of `pki tsa query`: POST with a timeout and a size cap.
struct Http {
    agent: ureq::Agent,
}

impl Http {
    fn new() -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .build();
        Self {
            agent: config.into(),
        }
    }
}

impl tsp::TsaClient for Http {
    fn post(
        &self,
        url: &str,
        content_type: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
        let mut resp = self
            .agent
            .post(url)
            .header("Content-Type", content_type)
            .send(body)?;
        Ok(resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()?)
    }
}

fn query(a: QueryArgs, lang: Lang) -> CmdResult {
    if !(a.url.starts_with("http://") || a.url.starts_with("https://")) {
        return Err(CliError::usage(format!(
            "--url must be an http:// or https:// URL, not \"{}\"",
            a.url
        )));
    }
    let policy = a.policy.as_deref().map(parse_oid).transpose()?;
    let data = read_file(&a.file)?;
    let mut req = TimeStampReq::for_data(a.hash.into(), &data)
        .map_err(|e| CliError::from_error("cannot build the request", &e))?;
    if let Some(p) = policy {
        req = req.with_policy(p);
    }
    let body = tsp::TsaClient::post(
        &Http::new(),
        &a.url,
        "application/timestamp-query",
        &req.to_der(),
    )
    .map_err(|e| CliError::op(format!("the time-stamp request to {} failed: {e}", a.url)))?;
    let resp = tsp::TimeStampResp::from_der(&body).map_err(|e| {
        CliError::from_error(
            format!("{} did not answer with a time-stamp response", a.url),
            &e,
        )
    })?;
    let token = resp
        .into_token()
        .map_err(|e| CliError::from_error("no time-stamp", &e))?;
    if let Some(out) = &a.out {
        write_atomically(out, &body)?;
    }
    let check = token
        .validate(
            Imprint::Data(&data),
            req.nonce.as_deref(),
            &[],
            &AlgorithmPolicy::default(),
        )
        .map_err(|e| CliError::from_error("the time-stamp token cannot be evaluated", &e))?;
    let trust = check_trust(&check, &token, &a.trust, &[])?;
    Ok(report(&token, &check, &trust, false, a.json, lang))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("out"),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            CliError::from_error(format!("cannot write {}", path.display()), &e)
        })
}

struct ServerState {
    cert: Certificate,
    chain: Vec<Certificate>,
    key: hsm::SoftwareKey,
    algorithm: hsm::SignatureAlgorithm,
    policy: const_oid::ObjectIdentifier,
}

impl ServerState {
    fn answer(&self, req: &[u8]) -> Vec<u8> {
        let tsa = tsp::Tsa {
            cert: &self.cert,
            chain: &self.chain,
            signer: &self.key,
            algorithm: self.algorithm,
            policy: self.policy,
            accuracy: Some(tsp::Accuracy {
                seconds: 1,
                millis: 0,
                micros: 0,
            }),
        };
        match tsp::random_serial() {
            Ok(serial) => {
                let out = tsa.respond(req, OffsetDateTime::now_utc(), &serial);
                tracing::info!(serial = %hex::encode(&serial), "time-stamp request answered");
                out
            }
            Err(e) => {
                tracing::error!(error = %e, "no serial number");
                tsp::rejection(
                    tsp::FailureInfo(tsp::FailureInfo::SYSTEM_FAILURE),
                    "the time-stamp could not be issued",
                )
            }
        }
    }
}

fn load_server(a: &ServeArgs) -> Result<ServerState, CliError> {
    let mut certs = read_certs(&a.cert)?;
    let cert = certs.remove(0);
    let mut chain = certs;
    if let Some(p) = &a.chain {
        chain.extend(read_certs(p)?);
    }
    let key_bytes = read_file(&a.key)?;
    let what = a.key.display().to_string();
    let key = match std::str::from_utf8(&key_bytes) {
        Ok(text) if text.contains("-----BEGIN") => hsm::SoftwareKey::from_pem(text, &what),
        _ => hsm::SoftwareKey::from_der(&key_bytes, &what),
    }?;
    if hsm::Signer::public_key_der(&key) != cert.spki() {
        return Err(CliError::op(format!(
            "the key {} does not belong to the certificate {}",
            a.key.display(),
            a.cert.display()
        )));
    }
    let eku = cert.extensions().ext_key_usage.clone().unwrap_or_default();
    let critical = cert
        .raw_extensions()
        .iter()
        .any(|e| e.oid == pki_core::oid::EXT_EXT_KEY_USAGE && e.critical);
    if eku != [pki_core::oid::EKU_TIME_STAMPING] || !critical {
        return Err(CliError::op(format!(
            "{} cannot be a TSA certificate: it needs id-kp-timeStamping as its only extended key usage, marked critical (RFC 3161 §2.3)",
            a.cert.display()
        )));
    }
    let policy = match &a.policy {
        Some(p) => parse_oid(p)?,
        None => cert
            .extensions()
            .policies
            .as_ref()
            .and_then(|p| p.first().copied())
            .filter(|p| *p != pki_core::oid::ANY_POLICY)
            .map_or_else(|| parse_oid(DEFAULT_POLICY), Ok)?,
    };
    let algorithm = hsm::Signer::algorithms(&key)
        .first()
        .copied()
        .ok_or_else(|| CliError::op("the TSA key offers no signature algorithm"))?;
    Ok(ServerState {
        cert,
        chain,
        key,
        algorithm,
        policy,
    })
}

fn serve(a: ServeArgs) -> CmdResult {
    use axum::extract::{DefaultBodyLimit, State};
    use axum::http::{header, HeaderMap, StatusCode};
    use axum::response::IntoResponse;

    let state = Arc::new(load_server(&a)?);

    async fn handle(
        State(st): State<Arc<ServerState>>,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> axum::response::Response {
        let ct = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !ct.starts_with("application/timestamp-query") {
            return (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send an RFC 3161 request as application/timestamp-query\n",
            )
                .into_response();
        }
        // Signing is CPU work (and, with a token, blocking I/O): keep it off the executor.
        match tokio::task::spawn_blocking(move || st.answer(&body)).await {
            Ok(der) => {
                ([(header::CONTENT_TYPE, "application/timestamp-reply")], der).into_response()
            }
            Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal error\n").into_response(),
        }
    }

    let app = axum::Router::new()
        .route("/", axum::routing::post(handle))
        .route("/tsa", axum::routing::post(handle))
        .layer(DefaultBodyLimit::max(MAX_REQUEST))
        .with_state(state.clone());

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::from_error("cannot start the server", &e))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&a.listen)
            .await
            .map_err(|e| CliError::from_error(format!("cannot listen on {}", a.listen), &e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| CliError::from_error("cannot listen", &e))?;
        println!("TSA listening on http://{addr}/ (policy {})", state.policy);
        use std::io::Write;
        let _ = std::io::stdout().flush();
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| CliError::from_error("the server stopped", &e))?;
        Ok(Exit::Ok)
    })
}
