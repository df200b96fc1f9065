//! `pki cert show|verify`.

use super::common::{load_certs, load_trust, print_json, time_arg};
use crate::args::cert::{CertCommand, PurposeArg, ShowArgs, VerifyArgs};
use crate::error::{CliError, CmdResult, Exit};
use crate::output::Lang;
use pki_core::cert::Certificate;
use pki_core::crl::Crl;
use pki_core::path::{self, Purpose, ValidationOptions};
use pki_core::revocation::{self, Status};
use pki_core::time::{rfc3339_utc, vietnam};
use pki_core::trust::CertPool;
use serde_json::json;

/// Runs `pki cert ...`.
pub fn run(cmd: CertCommand, lang: Lang) -> CmdResult {
    match cmd {
        CertCommand::Show(a) => show(a, lang),
        CertCommand::Verify(a) => verify(a, lang),
    }
}

fn colon_hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn key_desc(c: &Certificate) -> String {
    pki_core::crypto::PublicKey::from_spki(c.spki())
        .map(|k| k.kind.describe())
        .unwrap_or_else(|_| "unknown key type".into())
}

fn sig_alg_name(c: &Certificate) -> String {
    pki_core::crypto::parse_signature_algorithm(c.signature_algorithm())
        .map(|a| a.name())
        .unwrap_or_else(|e| e.to_string())
}

/// The JSON description of a certificate.
pub fn cert_json(c: &Certificate) -> serde_json::Value {
    let e = c.extensions();
    json!({
        "subject": c.subject().to_string(),
        "common_name": c.subject().common_name(),
        "organization": c.subject().organization(),
        "issuer": c.issuer().to_string(),
        "serial": c.serial_hex(),
        "version": c.version(),
        "not_before": rfc3339_utc(c.not_before()),
        "not_after": rfc3339_utc(c.not_after()),
        "key": key_desc(c),
        "signature_algorithm": sig_alg_name(c),
        "sha256": hex::encode(c.sha256()),
        "sha1": hex::encode(c.sha1()),
        "ca": c.is_ca(),
        "path_len": e.basic_constraints.and_then(|b| b.path_len),
        "key_usage": e.key_usage.map(|k| k.names()),
        "extended_key_usage": e.ext_key_usage.as_ref().map(|v| v.iter().map(eku_name).collect::<Vec<_>>()),
        "subject_key_id": e.subject_key_id.as_ref().map(hex::encode),
        "authority_key_id": e.authority_key_id.as_ref().map(hex::encode),
        "policies": e.policies.as_ref().map(|v| v.iter().map(|o| o.to_string()).collect::<Vec<_>>()),
        "ocsp_urls": e.ocsp_urls,
        "ca_issuer_urls": e.ca_issuer_urls,
        "crl_urls": e.crl_urls,
        "ocsp_nocheck": e.ocsp_nocheck,
        "extensions": c.raw_extensions().iter().map(|x| json!({
            "oid": x.oid.to_string(), "name": ext_name(&x.oid), "critical": x.critical
        })).collect::<Vec<_>>(),
    })
}

fn eku_name(o: &const_oid::ObjectIdentifier) -> String {
    use pki_core::oid::*;
    let n = match *o {
        x if x == EKU_ANY => "anyExtendedKeyUsage",
        x if x == EKU_SERVER_AUTH => "serverAuth",
        x if x == EKU_CLIENT_AUTH => "clientAuth",
        x if x == EKU_CODE_SIGNING => "codeSigning",
        x if x == EKU_EMAIL_PROTECTION => "emailProtection",
        x if x == EKU_TIME_STAMPING => "timeStamping",
        x if x == EKU_OCSP_SIGNING => "OCSPSigning",
        x if x == EKU_DOCUMENT_SIGNING => "documentSigning",
        x if x == EKU_MS_DOCUMENT_SIGNING => "msDocumentSigning",
        x if x == EKU_ADOBE_AUTHENTIC_DOCUMENTS => "adobeAuthenticDocumentsTrust",
        _ => return o.to_string(),
    };
    n.into()
}

fn ext_name(o: &const_oid::ObjectIdentifier) -> String {
    use pki_core::oid::*;
    let n = match *o {
        x if x == EXT_BASIC_CONSTRAINTS => "basicConstraints",
        x if x == EXT_KEY_USAGE => "keyUsage",
        x if x == EXT_EXT_KEY_USAGE => "extendedKeyUsage",
        x if x == EXT_SKI => "subjectKeyIdentifier",
        x if x == EXT_AKI => "authorityKeyIdentifier",
        x if x == EXT_SAN => "subjectAltName",
        x if x == EXT_IAN => "issuerAltName",
        x if x == EXT_NAME_CONSTRAINTS => "nameConstraints",
        x if x == EXT_CERTIFICATE_POLICIES => "certificatePolicies",
        x if x == EXT_POLICY_MAPPINGS => "policyMappings",
        x if x == EXT_POLICY_CONSTRAINTS => "policyConstraints",
        x if x == EXT_INHIBIT_ANY_POLICY => "inhibitAnyPolicy",
        x if x == EXT_AIA => "authorityInfoAccess",
        x if x == EXT_SIA => "subjectInfoAccess",
        x if x == EXT_CRL_DP => "cRLDistributionPoints",
        x if x == EXT_FRESHEST_CRL => "freshestCRL",
        x if x == EXT_OCSP_NOCHECK => "ocspNoCheck",
        x if x == EXT_QC_STATEMENTS => "qcStatements",
        _ => return o.to_string(),
    };
    n.into()
}

fn show(a: ShowArgs, lang: Lang) -> CmdResult {
    let mut all = Vec::new();
    for f in &a.files {
        for c in load_certs(f)? {
            all.push((f.display().to_string(), c));
        }
    }
    if a.json {
        let v: Vec<_> = all
            .iter()
            .map(|(f, c)| {
                let mut j = cert_json(c);
                j["file"] = json!(f);
                j
            })
            .collect();
        print_json(&json!(v));
        return Ok(Exit::Ok);
    }
    let l = |vi: &'static str, en: &'static str| if lang == Lang::Vi { vi } else { en };
    for (i, (_, c)) in all.iter().enumerate() {
        if i > 0 {
            println!();
        }
        let j = cert_json(c);
        println!("{:<22}{}", l("Chủ thể:", "Subject:"), c.subject());
        println!("{:<22}{}", l("Tổ chức cấp:", "Issuer:"), c.issuer());
        println!("{:<22}{}", l("Số hiệu:", "Serial:"), c.serial_hex());
        println!(
            "{:<22}{}",
            l("Hiệu lực từ:", "Valid from:"),
            vietnam(c.not_before())
        );
        println!(
            "{:<22}{}",
            l("Hiệu lực đến:", "Valid until:"),
            vietnam(c.not_after())
        );
        println!("{:<22}{}", l("Khóa:", "Key:"), key_desc(c));
        println!(
            "{:<22}{}",
            l("Thuật toán ký:", "Signature:"),
            sig_alg_name(c)
        );
        println!("{:<22}{}", "SHA-256:", colon_hex(c.sha256()));
        println!("{:<22}{}", "SHA-1:", colon_hex(&c.sha1()));
        let e = c.extensions();
        if let Some(bc) = e.basic_constraints {
            let pl = bc
                .path_len
                .map(|p| format!(", pathLen {p}"))
                .unwrap_or_default();
            println!(
                "{:<22}CA: {}{pl}",
                l("Ràng buộc cơ bản:", "Basic constraints:"),
                bc.ca
            );
        }
        if let Some(ku) = e.key_usage {
            println!(
                "{:<22}{}",
                l("Mục đích khóa:", "Key usage:"),
                ku.names().join(", ")
            );
        }
        if let Some(v) = j["extended_key_usage"].as_array() {
            let s: Vec<&str> = v.iter().filter_map(|x| x.as_str()).collect();
            println!(
                "{:<22}{}",
                l("Mục đích mở rộng:", "Extended key usage:"),
                s.join(", ")
            );
        }
        if let Some(p) = &e.policies {
            let s: Vec<String> = p.iter().map(|o| o.to_string()).collect();
            println!("{:<22}{}", l("Chính sách:", "Policies:"), s.join(", "));
        }
        for u in &e.ocsp_urls {
            println!("{:<22}{u}", "OCSP:");
        }
        for u in &e.crl_urls {
            println!("{:<22}{u}", "CRL:");
        }
        for u in &e.ca_issuer_urls {
            println!("{:<22}{u}", l("CA cấp:", "CA issuers:"));
        }
        let crit: Vec<String> = c
            .raw_extensions()
            .iter()
            .filter(|x| x.critical)
            .map(|x| ext_name(&x.oid))
            .collect();
        if !crit.is_empty() {
            println!(
                "{:<22}{}",
                l("Mở rộng bắt buộc:", "Critical extensions:"),
                crit.join(", ")
            );
        }
    }
    Ok(Exit::Ok)
}

fn verify(a: VerifyArgs, lang: Lang) -> CmdResult {
    let mut certs = load_certs(&a.cert)?;
    let leaf = certs.remove(0);
    let mut pool = CertPool::from_certs(certs);
    for c in &a.chain {
        pool.add_path(c)
            .map_err(|e| CliError::op(format!("cannot load the chain: {e}")))?;
    }
    let anchors = load_trust(&a.trust)?;
    if a.trust.iter().any(|t| t == "vn") {
        // The bundle's issuing CAs help build paths; they are not anchors.
        for c in CertPool::vn_intermediates().iter() {
            pool.add(c.clone());
        }
    }
    let at = time_arg(a.at.as_deref())?;
    let purpose = match a.purpose {
        PurposeArg::Document => Purpose::DocumentSigning,
        PurposeArg::Ocsp => Purpose::OcspSigning,
        PurposeArg::Tsa => Purpose::TimeStamping,
        PurposeArg::Any => Purpose::Any,
    };
    let opts = ValidationOptions::new(at, purpose);
    let mut crls = Vec::new();
    for f in &a.crls {
        let data = super::common::read_limited(f, 512 * 1024 * 1024, "CRL")?;
        crls.push(
            Crl::parse(&data)
                .map_err(|e| CliError::op(format!("{} is not a usable CRL: {e}", f.display())))?,
        );
    }
    let result = path::validate(&leaf, &pool, &anchors, &opts);
    let l = |vi: &'static str, en: &'static str| if lang == Lang::Vi { vi } else { en };
    let (indication, sub, exit, mut messages, chain, mut warnings, revocation) = match result {
        Err(f) => {
            let definitive = f.error.is_definitive();
            (
                if definitive {
                    "FAILED"
                } else {
                    "INDETERMINATE"
                },
                Some(f.error.sub_indication()),
                if definitive {
                    Exit::Invalid
                } else {
                    Exit::Indeterminate
                },
                vec![f.error.to_string()],
                f.path,
                Vec::new(),
                json!(null),
            )
        }
        Ok(p) => {
            let (rev, rev_json, rev_warnings) =
                check_revocation(&p.certs, &crls, a.offline, at, &opts);
            let mut w = p.warnings.clone();
            w.extend(rev_warnings);
            match rev {
                RevOutcome::Good | RevOutcome::NotChecked => {
                    ("PASSED", None, Exit::Ok, vec![], p.certs, w, rev_json)
                }
                RevOutcome::Revoked(msg) => (
                    "FAILED",
                    Some("REVOKED"),
                    Exit::Invalid,
                    vec![msg],
                    p.certs,
                    w,
                    rev_json,
                ),
                RevOutcome::Unknown(msg) => (
                    "INDETERMINATE",
                    Some("TRY_LATER"),
                    Exit::Indeterminate,
                    vec![msg],
                    p.certs,
                    w,
                    rev_json,
                ),
            }
        }
    };
    if a.json {
        print_json(&json!({
            "certificate": a.cert.display().to_string(),
            "validation_time": rfc3339_utc(at),
            "indication": indication,
            "sub_indication": sub,
            "errors": messages,
            "warnings": warnings,
            "chain": chain.iter().map(|c| json!({"subject": c.subject().to_string(), "serial": c.serial_hex(), "sha256": hex::encode(c.sha256())})).collect::<Vec<_>>(),
            "revocation": revocation,
        }));
        return Ok(exit);
    }
    let verdict = match (indication, lang) {
        ("PASSED", Lang::Vi) => "HỢP LỆ",
        ("PASSED", Lang::En) => "VALID",
        ("FAILED", Lang::Vi) => "KHÔNG HỢP LỆ",
        ("FAILED", Lang::En) => "INVALID",
        (_, Lang::Vi) => "CHƯA XÁC ĐỊNH",
        (_, Lang::En) => "INDETERMINATE",
    };
    let sub = sub.map(|s| format!(" ({s})")).unwrap_or_default();
    println!("{verdict}: {}{sub}", leaf.subject());
    println!("{:<14}{}", l("Thời điểm:", "Checked at:"), vietnam(at));
    for (i, c) in chain.iter().enumerate() {
        println!(
            "{:<14}{}{}",
            if i == 0 { l("Chuỗi:", "Chain:") } else { "" },
            "  ".repeat(i),
            c.subject()
        );
    }
    if let Some(s) = revocation.get("summary").and_then(|s| s.as_str()) {
        println!("{:<14}{s}", l("Thu hồi:", "Revocation:"));
    }
    for m in messages.drain(..) {
        println!("{} {m}", l("Lỗi:", "Error:"));
    }
    for w in warnings.drain(..) {
        println!("{} {w}", l("Cảnh báo:", "Warning:"));
    }
    Ok(exit)
}

enum RevOutcome {
    Good,
    NotChecked,
    Revoked(String),
    Unknown(String),
}

/// Checks every certificate below the anchor: the end entity must have an answer; for
/// intermediates a missing answer is a warning.
fn check_revocation(
    chain: &[Certificate],
    crls: &[Crl],
    offline: bool,
    at: time::OffsetDateTime,
    opts: &ValidationOptions,
) -> (RevOutcome, serde_json::Value, Vec<String>) {
    if crls.is_empty() && offline {
        return (
            RevOutcome::NotChecked,
            json!({"status": "not-checked", "summary": "not checked (--offline)"}),
            vec!["revocation was not checked (--offline)".into()],
        );
    }
    let mut warnings = Vec::new();
    let mut per_cert = Vec::new();
    let mut leaf_status = None;
    for (i, c) in chain.iter().enumerate().take(chain.len().saturating_sub(1)) {
        if c.extensions().ocsp_nocheck && i == 0 && opts.purpose == Purpose::OcspSigning {
            per_cert.push(json!({"subject": c.subject().to_string(), "status": "nocheck"}));
            continue;
        }
        let issuer = &chain[i + 1];
        let status = if crls.is_empty() {
            online_status(c, issuer, at, opts)
        } else {
            revocation::check_crls(c, issuer, crls, at, &opts.algorithms)
        };
        let (name, source) = match &status {
            Status::Good { source } => ("good", Some(source.name())),
            Status::Revoked { source, .. } => ("revoked", Some(source.name())),
            Status::Unknown { .. } => ("unknown", None),
        };
        per_cert
            .push(json!({"subject": c.subject().to_string(), "status": name, "source": source}));
        match &status {
            Status::Revoked { at: t, reason, .. } => {
                let r = reason.map(|r| format!(", reason {r}")).unwrap_or_default();
                let msg = format!(
                    "certificate \"{}\" was revoked on {}{r}",
                    c.subject(),
                    vietnam(*t)
                );
                return (
                    RevOutcome::Revoked(msg.clone()),
                    json!({"status": "revoked", "source": source, "summary": msg, "certificates": per_cert}),
                    warnings,
                );
            }
            Status::Unknown { reason } if i == 0 => leaf_status = Some(reason.clone()),
            Status::Unknown { reason } => warnings.push(format!(
                "revocation of \"{}\" is unknown: {reason}",
                c.subject()
            )),
            Status::Good { .. } => {}
        }
    }
    match leaf_status {
        Some(reason) => (
            RevOutcome::Unknown(format!("the revocation status is unknown: {reason}")),
            json!({"status": "unknown", "summary": reason, "certificates": per_cert}),
            warnings,
        ),
        None => {
            let source = per_cert
                .first()
                .and_then(|p| p["source"].as_str())
                .unwrap_or("crl")
                .to_owned();
            (
                RevOutcome::Good,
                json!({"status": "good", "source": source, "summary": format!("good ({source})"), "certificates": per_cert}),
                warnings,
            )
        }
    }
}

fn online_status(
    cert: &Certificate,
    issuer: &Certificate,
    at: time::OffsetDateTime,
    opts: &ValidationOptions,
) -> Status {
    crate::fetch::online_revocation(cert, issuer, at, &opts.algorithms)
}
