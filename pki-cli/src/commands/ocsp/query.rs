//! `pki ocsp query`: ask, check, print; exit 0 good, 1 revoked, 4 unknown or unverifiable,
//! 3 when no answer could be examined.

use super::{l, read_cert};
use crate::args::ocsp::QueryArgs;
use crate::error::{CliError, CmdResult, Exit};
use crate::fetch::HttpFetcher;
use crate::output::Lang;
use hsm::HashAlgorithm;
use pki_core::cert::Certificate;
use pki_core::ocsp::{
    self, CertId, CertStatus, NonceCheck, OcspCheck, OcspOutcome, OcspPolicy, OcspResponse,
    QueryOptions, Responder,
};
use pki_core::time::vietnam;
use std::time::Duration;
use time::OffsetDateTime;

/// Runs the query.
pub fn run(a: QueryArgs, lang: Lang) -> CmdResult {
    let cert = read_cert(&a.cert, lang)?;
    let issuer = read_cert(&a.issuer, lang)?;
    if cert.issuer_key() != issuer.subject_key() {
        let (i, c, by) = (a.issuer.display(), a.cert.display(), cert.issuer());
        return Err(CliError::op(match lang {
            Lang::Vi => format!("{i} không phải là bên cấp {c}: chứng thư do \"{by}\" cấp"),
            Lang::En => {
                format!("{i} is not the issuer of {c}: the certificate was issued by \"{by}\"")
            }
        }));
    }
    let at = match &a.at {
        Some(s) => pki_core::time::parse_user_time(s).ok_or_else(|| {
            CliError::usage(format!(
                "cannot read the time \"{s}\"; write it as 2025-03-20T10:00:00+07:00"
            ))
        })?,
        None => OffsetDateTime::now_utc(),
    };
    if !(a.timeout > 0.0 && a.timeout <= 3600.0) {
        return Err(CliError::usage(
            "--timeout must be between 0 and 3600 seconds",
        ));
    }
    let hash = if a.sha256 {
        HashAlgorithm::Sha256
    } else {
        HashAlgorithm::Sha1
    };
    let policy = OcspPolicy::default();

    let check = if let Some(path) = &a.response {
        let der = std::fs::read(path).map_err(|e| {
            CliError::from_error(format!("cannot read the response {}", path.display()), &e)
        })?;
        let resp = OcspResponse::parse(&der).map_err(|e| {
            CliError::from_error(
                format!("{} is not a readable OCSP response", path.display()),
                &e,
            )
        })?;
        let id = CertId::for_certificate(hash, &cert, &issuer);
        ocsp::verify_response(&resp, &issuer, &id, at, None, &policy)
    } else {
        let opts = QueryOptions {
            hash,
            nonce: !a.no_nonce,
            urls: a.url.iter().cloned().collect(),
        };
        let fetcher = HttpFetcher::new(Duration::from_secs_f64(a.timeout));
        ocsp::query(&cert, &issuer, &fetcher, at, &policy, &opts).map_err(|e| {
            let mut err = CliError::from_error(
                l(
                    lang,
                    "the OCSP check could not be made",
                    "không kiểm tra được trạng thái qua OCSP",
                ),
                &e,
            );
            if matches!(e, ocsp::OnlineError::NoResponderUrl) {
                err = err.hint(l(
                    lang,
                    "give the responder with --url",
                    "chỉ định máy chủ OCSP bằng --url",
                ));
            }
            err
        })?
    };

    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&to_json(&check, &cert)).unwrap_or_default()
        );
    } else {
        print_text(&check, &cert, lang);
    }
    Ok(match check.outcome() {
        OcspOutcome::Good => Exit::Ok,
        OcspOutcome::Revoked { .. } => Exit::Invalid,
        OcspOutcome::Unknown | OcspOutcome::Unverifiable => Exit::Indeterminate,
    })
}

fn outcome_name(o: OcspOutcome) -> &'static str {
    match o {
        OcspOutcome::Good => "good",
        OcspOutcome::Revoked { .. } => "revoked",
        OcspOutcome::Unknown => "unknown",
        OcspOutcome::Unverifiable => "unverifiable",
    }
}

fn nonce_name(n: NonceCheck) -> &'static str {
    match n {
        NonceCheck::NotSent => "not-sent",
        NonceCheck::Matched => "matched",
        NonceCheck::Missing => "missing",
        NonceCheck::Mismatch => "mismatch",
    }
}

fn responder_json(r: &Responder) -> serde_json::Value {
    let (kind, c) = match r {
        Responder::Ca(c) => ("ca", c),
        Responder::Delegated(c) => ("delegated", c),
    };
    serde_json::json!({
        "kind": kind,
        "subject": c.subject().to_string(),
        "serial": c.serial_hex(),
    })
}

fn to_json(c: &OcspCheck, cert: &Certificate) -> serde_json::Value {
    let (rev_time, rev_reason) = match c.status {
        Some(CertStatus::Revoked { time, reason }) => {
            (Some(vietnam(time)), reason.map(|r| r.name()))
        }
        _ => (None, None),
    };
    serde_json::json!({
        "status": outcome_name(c.outcome()),
        "cert_status": c.status.map(|s| s.name()),
        "revocation_time": rev_time,
        "revocation_reason": rev_reason,
        "serial": cert.serial_hex(),
        "subject": cert.subject().to_string(),
        "url": c.url,
        "responder": c.responder.as_ref().map(responder_json),
        "produced_at": c.produced_at.map(vietnam),
        "this_update": c.this_update.map(vietnam),
        "next_update": c.next_update.map(vietnam),
        "signature_valid": c.signature_valid,
        "nonce": nonce_name(c.nonce),
        "problems": c.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
        "warnings": c.warnings,
    })
}

fn print_text(c: &OcspCheck, cert: &Certificate, lang: Lang) {
    let vi = lang == Lang::Vi;
    let t = |en: &'static str, v: &'static str| if vi { v } else { en };
    let status = match c.outcome() {
        OcspOutcome::Good => t("good", "tốt (chưa bị thu hồi)").to_string(),
        OcspOutcome::Revoked { time, reason } => format!(
            "{} {} {}{}",
            t("revoked", "đã bị thu hồi"),
            t("at", "lúc"),
            vietnam(time),
            reason
                .map(|r| format!(" ({}: {r})", t("reason", "lý do")))
                .unwrap_or_default()
        ),
        OcspOutcome::Unknown => t(
            "unknown (the responder does not know this certificate)",
            "không xác định (máy chủ OCSP không biết chứng thư này)",
        )
        .to_string(),
        OcspOutcome::Unverifiable => t(
            "cannot be verified (see the problems below)",
            "không kiểm tra được (xem các vấn đề bên dưới)",
        )
        .to_string(),
    };
    println!("{}: {status}", t("status", "trạng thái"));
    println!(
        "{}: {} ({} {})",
        t("certificate", "chứng thư"),
        cert.subject(),
        t("serial", "số hiệu"),
        cert.serial_hex()
    );
    if let Some(u) = &c.url {
        println!("{}: {u}", t("responder URL", "địa chỉ OCSP"));
    }
    if let Some(r) = &c.responder {
        let kind = match r {
            Responder::Ca(_) => t("the CA itself", "chính CA"),
            Responder::Delegated(_) => t("delegated by the CA", "được CA ủy quyền"),
        };
        println!(
            "{}: {} ({kind})",
            t("responder", "máy chủ OCSP"),
            r.certificate().subject()
        );
    }
    let time_line = |label: &str, v: Option<OffsetDateTime>| {
        let s = v.map_or_else(|| t("(none)", "(không có)").to_string(), vietnam);
        println!("{label}: {s}");
    };
    time_line(t("produced at", "thời điểm tạo"), c.produced_at);
    time_line(t("this update", "cập nhật lúc"), c.this_update);
    time_line(t("next update", "cập nhật tiếp"), c.next_update);
    let ok = |b: bool| if b { "ok" } else { t("FAILED", "LỖI") };
    let nonce = match c.nonce {
        NonceCheck::NotSent => t("not-sent", "không gửi"),
        NonceCheck::Matched => t("matched", "khớp"),
        NonceCheck::Missing => t("missing", "không có trong trả lời"),
        NonceCheck::Mismatch => t("mismatch", "KHÔNG KHỚP"),
    };
    println!(
        "{}: {} {}; nonce {nonce}",
        t("checks", "kiểm tra"),
        t("signature", "chữ ký"),
        ok(c.signature_valid),
    );
    for p in &c.problems {
        println!("{}: {p}", t("problem", "vấn đề"));
    }
    for w in &c.warnings {
        println!("{}: {w}", t("warning", "cảnh báo"));
    }
}
