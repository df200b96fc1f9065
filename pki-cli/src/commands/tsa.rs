//! `pki tsa query|verify|serve`: RFC 3161 time-stamps over HTTP (RFC 3161 §3.4).

use super::common::{load_certs, load_trust, read_limited};
use crate::args::tsa::{QueryArgs, ServeArgs, TsaCommand, VerifyArgs, DEFAULT_POLICY};
use crate::error::{CliError, CmdResult, Exit};
use crate::output::Lang;
use pki_core::cert::Certificate;
use pki_core::crypto::AlgorithmPolicy;
use pki_core::path::{self, Purpose, ValidationOptions};
use pki_core::trust::CertPool;
use pki_core::tsp::{self, Imprint, TimeStampReq, TimeStampToken, TokenCheck};
use std::path::Path;
use std::sync::Arc;
use time::OffsetDateTime;

/// Requests a TSA server accepts are at most this large (a request is under 200 bytes).
const MAX_REQUEST: usize = 16 * 1024;
/// Files to time-stamp or verify are read whole; refuse absurd sizes.
const MAX_DATA: u64 = 4 * 1024 * 1024 * 1024;

/// Runs `pki tsa ...`.
pub fn run(cmd: TsaCommand, lang: Lang) -> CmdResult {
    match cmd {
        TsaCommand::Query(a) => query(a, lang),
        TsaCommand::Verify(a) => verify(a, lang),
        TsaCommand::Serve(a) => serve(a, lang),
    }
}

/// The sentence in the user's language.
fn t(lang: Lang, vi: String, en: String) -> String {
    match lang {
        Lang::Vi => vi,
        Lang::En => en,
    }
}

fn parse_oid(s: &str, lang: Lang) -> Result<const_oid::ObjectIdentifier, CliError> {
    const_oid::ObjectIdentifier::new(s).map_err(|_| {
        CliError::usage(t(
            lang,
            format!("\"{s}\" không phải là một định danh đối tượng (ví dụ 1.2.3.4)"),
            format!("\"{s}\" is not an object identifier (e.g. 1.2.3.4)"),
        ))
    })
}

fn parse_hex(what: &str, s: &str, lang: Lang) -> Result<Vec<u8>, CliError> {
    let clean: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':')
        .collect();
    hex::decode(clean).map_err(|_| {
        CliError::usage(t(
            lang,
            format!("{what} phải là số thập lục phân"),
            format!("{what} must be hexadecimal"),
        ))
    })
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

enum Trust {
    NotChecked,
    Trusted(Vec<Certificate>),
    /// No path to a trust anchor (indeterminate): why, and the ETSI sub-indication.
    NotTrusted(String, &'static str),
    /// A path was found and is invalid (expired, bad signature, wrong purpose...).
    Invalid(String, &'static str),
}

/// Text built line by line.
#[derive(Default)]
struct Lines(String);

impl Lines {
    fn push_line(&mut self, line: String) {
        self.0.push_str(&line);
        self.0.push('\n');
    }
}

/// Writes to stdout, ignoring a closed pipe (`pki tsa verify ... | head`) instead of panicking.
fn out(s: &str) {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes()).and_then(|_| o.flush());
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
    use pki_core::report::Indication;
    // The token as data first (a definitive failure beats everything), then its chain.
    let (exit, indication, sub_indication) = match check.indication() {
        (Indication::TotalFailed, sub) => (Exit::Invalid, "TOTAL-FAILED", sub),
        (Indication::Indeterminate, sub) => (Exit::Indeterminate, "INDETERMINATE", sub),
        (Indication::TotalPassed, _) => match trust {
            Trust::Trusted(_) => (Exit::Ok, "TOTAL-PASSED", None),
            Trust::NotTrusted(_, sub) => (Exit::Indeterminate, "INDETERMINATE", Some(*sub)),
            Trust::Invalid(_, sub) => (Exit::Invalid, "TOTAL-FAILED", Some(*sub)),
            Trust::NotChecked if require_trust => (
                Exit::Indeterminate,
                "INDETERMINATE",
                Some("NO_CERTIFICATE_CHAIN_FOUND"),
            ),
            // `pki tsa query` without --trust: the token is good as data.
            Trust::NotChecked => (Exit::Ok, "PASSED", None),
        },
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
        Trust::NotTrusted(why, _) | Trust::Invalid(why, _) => why.clone(),
    };
    if json {
        let v = serde_json::json!({
            "indication": indication,
            "sub_indication": sub_indication,
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
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        ));
        return exit;
    }
    let l = |vi: &'static str, en: &'static str| if lang == Lang::Vi { vi } else { en };
    let mut text = Lines::default();
    let head = l("Dấu thời gian", "Time-stamp token");
    match sub_indication {
        Some(sub) => text.push_line(format!("{head}: {indication} ({sub})")),
        None => text.push_line(format!("{head}: {indication}")),
    }
    text.push_line(format!(
        "  {}: {}",
        l("thời điểm", "time"),
        fmt_time(info.gen_time, pki_core::time::VIETNAM)
    ));
    text.push_line(format!(
        "  UTC: {}",
        fmt_time(info.gen_time, time::UtcOffset::UTC)
    ));
    text.push_line(format!(
        "  {}: {}",
        l("số hiệu", "serial"),
        info.serial_hex()
    ));
    text.push_line(format!("  {}: {}", l("chính sách", "policy"), info.policy));
    text.push_line(format!("  TSA: {tsa}"));
    text.push_line(format!(
        "  {}: {hash} {}",
        l("mã băm", "imprint"),
        hex::encode(&info.message_imprint.digest)
    ));
    text.push_line(format!("  {}: {chain_text}", l("chuỗi chứng thư", "chain")));
    text.push_line(format!(
        "  {}: {}",
        l("kiểm tra", "checks"),
        checks_line(check, lang).join("; ")
    ));
    for p in &problems {
        text.push_line(format!("  {}: {p}", l("lỗi", "error")));
    }
    out(&text.0);
    exit
}

/// Each check and its outcome, for the text report.
fn checks_line(check: &TokenCheck, lang: Lang) -> Vec<String> {
    use pki_core::cms::{EssCheck, SignatureCheck};
    use pki_core::tsp::{EkuCheck, ImprintCheck, NonceCheck};
    let vi = lang == Lang::Vi;
    let ok = |b: bool| match (b, vi) {
        (true, true) => "đạt",
        (true, false) => "ok",
        (false, true) => "KHÔNG ĐẠT",
        (false, false) => "FAILED",
    };
    let l = |v: &'static str, e: &'static str| if vi { v } else { e };
    vec![
        format!(
            "{} {}",
            l("chữ ký", "signature"),
            ok(matches!(check.cms.signature, SignatureCheck::Valid(_)))
        ),
        format!(
            "{} {}",
            l("mã băm dữ liệu", "message imprint"),
            ok(check.imprint == ImprintCheck::Match)
        ),
        match check.nonce {
            NonceCheck::NotSent => l("không gửi nonce", "nonce not sent").to_string(),
            ref n => format!("nonce {}", ok(*n == NonceCheck::Match)),
        },
        format!(
            "{} {}",
            l(
                "mục đích sử dụng của chứng thư TSA",
                "TSA extended key usage"
            ),
            ok(check.tsa_eku == EkuCheck::Ok)
        ),
        match check.cms.signing_certificate {
            EssCheck::MatchesV2 => format!("signingCertificateV2 {}", ok(true)),
            EssCheck::MatchesV1 => format!("signingCertificate (SHA-1) {}", ok(true)),
            _ => format!("signingCertificate {}", ok(false)),
        },
    ]
}

fn check_trust(
    check: &TokenCheck,
    token: &TimeStampToken,
    trust: &[String],
    untrusted: &[Certificate],
) -> Result<Trust, CliError> {
    if trust.is_empty() {
        return Ok(Trust::NotChecked);
    }
    let anchors = load_trust(trust)?;
    let Some(leaf) = &check.tsa_cert else {
        return Ok(Trust::NotTrusted(
            "the TSA certificate was not found".into(),
            "NO_SIGNING_CERTIFICATE_FOUND",
        ));
    };
    let pool = CertPool::from_certs(
        check
            .other_certs
            .iter()
            .chain(untrusted)
            .cloned()
            .chain(CertPool::vn_intermediates().iter().cloned()),
    );
    // The TSA certificate must have been valid when it signed (RFC 3161 §4.2 leaves later
    // validity to the verifier; revocation is not checked here).
    let opts = ValidationOptions::new(token.tst_info.gen_time, Purpose::TimeStamping);
    Ok(match path::validate(leaf, &pool, &anchors, &opts) {
        Ok(p) => Trust::Trusted(p.certs),
        Err(f) if f.error.is_definitive() => {
            Trust::Invalid(f.error.to_string(), f.error.sub_indication())
        }
        Err(f) => Trust::NotTrusted(f.error.to_string(), f.error.sub_indication()),
    })
}

fn cannot_evaluate(lang: Lang) -> String {
    t(
        lang,
        "không đánh giá được dấu thời gian".into(),
        "the time-stamp token cannot be evaluated".into(),
    )
}

fn verify(a: VerifyArgs, lang: Lang) -> CmdResult {
    let raw = read_limited(&a.token, tsp::MAX_RESPONSE, "time-stamp token")?;
    let token = TimeStampToken::from_response_or_token(&raw).map_err(|e| {
        CliError::from_error(
            t(
                lang,
                format!("{} không phải là dấu thời gian đọc được", a.token.display()),
                format!("{} is not a readable time-stamp token", a.token.display()),
            ),
            &e,
        )
        .hint(t(
            lang,
            "hãy cho tệp phản hồi (.tsr) hoặc dấu thời gian dạng DER mà `pki tsa query --out` hay `openssl ts -reply` ghi ra".into(),
            "give the DER response (.tsr) or token that `pki tsa query --out` or `openssl ts -reply` writes".into(),
        ))
    })?;
    let mut untrusted = Vec::new();
    for p in &a.untrusted {
        untrusted.extend(load_certs(p)?);
    }
    let data;
    let digest;
    let expected = match (&a.data, &a.digest) {
        (Some(p), _) => {
            data = read_limited(p, MAX_DATA, "data file")?;
            Imprint::Data(&data)
        }
        (None, Some(h)) => {
            digest = parse_hex("--digest", h, lang)?;
            Imprint::Digest(&digest)
        }
        (None, None) => {
            return Err(CliError::usage(t(
                lang,
                "hãy cho --data TỆP hoặc --digest HEX".into(),
                "give --data FILE or --digest HEX".into(),
            )))
        }
    };
    let nonce = a
        .nonce
        .as_deref()
        .map(|n| parse_hex("--nonce", n, lang))
        .transpose()?;
    let check = token
        .validate(
            expected,
            nonce.as_deref(),
            &untrusted,
            &AlgorithmPolicy::default(),
        )
        .map_err(|e| CliError::from_error(cannot_evaluate(lang), &e))?;
    let trust = check_trust(&check, &token, &a.trust, &untrusted)?;
    Ok(report(&token, &check, &trust, true, a.json, lang))
}

fn query(a: QueryArgs, lang: Lang) -> CmdResult {
    if !pki_core::fetch::is_http_url(&a.url) {
        return Err(CliError::usage(t(
            lang,
            format!(
                "--url phải là địa chỉ http:// hoặc https://, không phải \"{}\"",
                a.url
            ),
            format!(
                "--url must be an http:// or https:// URL, not \"{}\"",
                a.url
            ),
        )));
    }
    let policy = a
        .policy
        .as_deref()
        .map(|p| parse_oid(p, lang))
        .transpose()?;
    let data = read_limited(&a.file, MAX_DATA, "file")?;
    let mut req = TimeStampReq::for_data(a.hash.into(), &data).map_err(|e| {
        CliError::from_error(
            t(
                lang,
                "không tạo được yêu cầu".into(),
                "cannot build the request".into(),
            ),
            &e,
        )
    })?;
    if let Some(p) = policy {
        req = req.with_policy(p);
    }
    let body = pki_core::fetch::Fetcher::post(
        &crate::fetch::HttpFetcher::default(),
        &a.url,
        tsp::TIMESTAMP_QUERY_TYPE,
        &req.to_der(),
        tsp::MAX_RESPONSE,
    )
    .map_err(|e| {
        let why = pki_core::fetch::error_sentence(&e);
        CliError::op(t(
            lang,
            format!("yêu cầu dấu thời gian không thành công: {why}"),
            format!("the time-stamp request failed: {why}"),
        ))
    })?;
    let resp = tsp::TimeStampResp::from_der(&body).map_err(|e| {
        CliError::from_error(
            t(
                lang,
                format!("{} không trả lời bằng một phản hồi dấu thời gian", a.url),
                format!("{} did not answer with a time-stamp response", a.url),
            ),
            &e,
        )
    })?;
    let token = resp.into_token().map_err(|e| {
        CliError::from_error(
            t(
                lang,
                "không có dấu thời gian".into(),
                "no time-stamp".into(),
            ),
            &e,
        )
    })?;
    let check = token
        .validate(
            Imprint::Data(&data),
            req.nonce.as_deref(),
            &[],
            &AlgorithmPolicy::default(),
        )
        .map_err(|e| CliError::from_error(cannot_evaluate(lang), &e))?;
    // An invalid token is reported, not saved for later use.
    if let Some(out) = a.out.as_ref().filter(|_| check.is_valid()) {
        write_atomically(out, &body)?;
    }
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
    key: std::sync::Arc<dyn hsm::Signer>,
    algorithm: hsm::SignatureAlgorithm,
    policy: const_oid::ObjectIdentifier,
}

impl ServerState {
    fn answer(&self, req: &[u8]) -> Vec<u8> {
        let tsa = tsp::Tsa {
            cert: &self.cert,
            chain: &self.chain,
            signer: self.key.as_ref(),
            algorithm: self.algorithm,
            policy: self.policy,
            accuracy: Some(tsp::Accuracy {
                seconds: 1,
                millis: 0,
                micros: 0,
            }),
        };
        let reject = |bit: u32, text: &str| tsp::rejection(tsp::FailureInfo(bit), text);
        let req = match TimeStampReq::from_der(req) {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(error = %e, "unreadable time-stamp request");
                return reject(
                    tsp::FailureInfo::BAD_DATA_FORMAT,
                    "the request is not a DER TimeStampReq",
                );
            }
        };
        let serial = match tsp::random_serial() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "no serial number");
                return reject(
                    tsp::FailureInfo::SYSTEM_FAILURE,
                    "the time-stamp could not be issued",
                );
            }
        };
        match tsa.issue_token(&req, OffsetDateTime::now_utc(), &serial) {
            Ok(out) => {
                tracing::info!(serial = %hex::encode(&serial), "time-stamp request answered");
                out
            }
            Err(e) => {
                tracing::error!(error = %e, "time-stamp signing failed");
                reject(
                    tsp::FailureInfo::SYSTEM_FAILURE,
                    "the time-stamp could not be signed",
                )
            }
        }
    }
}

fn load_server(a: &ServeArgs, lang: Lang) -> Result<ServerState, CliError> {
    let mut certs = load_certs(&a.cert)?;
    let cert = certs.remove(0);
    let mut chain = certs;
    if let Some(p) = &a.chain {
        chain.extend(load_certs(p)?);
    }
    let key = crate::commands::common::open_service_key(&a.key)?;
    let same_key = matches!(
        (
            pki_core::crypto::PublicKey::from_spki(hsm::Signer::public_key_der(&key)),
            pki_core::crypto::PublicKey::from_spki(cert.spki()),
        ),
        (Ok(a), Ok(b)) if a == b
    );
    if !same_key {
        return Err(CliError::op(t(
            lang,
            format!(
                "khóa {} không thuộc về chứng thư {}",
                a.key,
                a.cert.display()
            ),
            format!(
                "the key {} does not belong to the certificate {}",
                a.key,
                a.cert.display()
            ),
        )));
    }
    let eku = cert.extensions().ext_key_usage.clone().unwrap_or_default();
    let critical = cert
        .raw_extensions()
        .iter()
        .any(|e| e.oid == pki_core::oid::EXT_EXT_KEY_USAGE && e.critical);
    if eku != [pki_core::oid::EKU_TIME_STAMPING] || !critical {
        return Err(CliError::op(t(
            lang,
            format!(
                "{} không dùng được làm chứng thư TSA: mục đích sử dụng mở rộng duy nhất phải là id-kp-timeStamping, đánh dấu critical (RFC 3161 §2.3)",
                a.cert.display()
            ),
            format!(
                "{} cannot be a TSA certificate: it needs id-kp-timeStamping as its only extended key usage, marked critical (RFC 3161 §2.3)",
                a.cert.display()
            ),
        )));
    }
    let policy = match &a.policy {
        Some(p) => parse_oid(p, lang)?,
        None => cert
            .extensions()
            .policies
            .as_ref()
            .and_then(|p| p.first().copied())
            .filter(|p| *p != pki_core::oid::ANY_POLICY)
            .map_or_else(|| parse_oid(DEFAULT_POLICY, lang), Ok)?,
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

fn serve(a: ServeArgs, lang: Lang) -> CmdResult {
    use axum::extract::{DefaultBodyLimit, State};
    use axum::http::{header, HeaderMap, StatusCode};
    use axum::response::IntoResponse;

    let state = Arc::new(load_server(&a, lang)?);

    async fn handle(
        State(st): State<Arc<ServerState>>,
        headers: HeaderMap,
        body: axum::body::Bytes,
    ) -> axum::response::Response {
        let ct = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !ct.starts_with(tsp::TIMESTAMP_QUERY_TYPE) {
            return (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "send an RFC 3161 request as application/timestamp-query\n",
            )
                .into_response();
        }
        // Signing is CPU work (and, with a token, blocking I/O): keep it off the executor.
        match tokio::task::spawn_blocking(move || st.answer(&body)).await {
            Ok(der) => ([(header::CONTENT_TYPE, tsp::TIMESTAMP_REPLY_TYPE)], der).into_response(),
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
            .map_err(|e| {
                CliError::from_error(
                    t(
                        lang,
                        format!("không lắng nghe được trên {}", a.listen),
                        format!("cannot listen on {}", a.listen),
                    ),
                    &e,
                )
            })?;
        let addr = listener
            .local_addr()
            .map_err(|e| CliError::from_error("cannot listen", &e))?;
        out(&format!(
            "TSA listening on http://{addr}/ (policy {})\n",
            state.policy
        ));
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown())
            .await
            .map_err(|e| CliError::from_error("the server stopped", &e))?;
        Ok(Exit::Ok)
    })
}

/// Waits for Ctrl-C or SIGTERM, then says the server is stopping.
async fn shutdown() {
    crate::commands::common::shutdown_signal().await;
    tracing::info!("stopping");
}
