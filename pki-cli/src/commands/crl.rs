//! `pki crl show|check`.

use super::common::{load_certs, print_json, read_limited, time_arg};
use crate::args::crl::{CheckArgs, CrlCommand, ShowArgs};
use crate::error::{CliError, CmdResult, Exit};
use crate::output::Lang;
use pki_core::crl::Crl;
use pki_core::revocation::{self, Status};
use pki_core::time::{rfc3339_utc, vietnam};
use serde_json::json;
use std::path::Path;

/// Largest CRL file we read.
const MAX_CRL_FILE: u64 = 512 * 1024 * 1024;

fn load_crl(p: &Path) -> Result<Crl, CliError> {
    let data = read_limited(p, MAX_CRL_FILE, "CRL")?;
    Crl::parse(&data).map_err(|e| CliError::op(format!("{} is not a usable CRL: {e}", p.display())))
}

/// Runs `pki crl ...`.
pub fn run(cmd: CrlCommand, lang: Lang) -> CmdResult {
    match cmd {
        CrlCommand::Show(a) => show(a, lang),
        CrlCommand::Check(a) => check(a, lang),
    }
}

fn show(a: ShowArgs, lang: Lang) -> CmdResult {
    let crl = load_crl(&a.file)?;
    if a.json {
        print_json(&json!({
            "issuer": crl.issuer().to_string(),
            "this_update": rfc3339_utc(crl.this_update()),
            "next_update": crl.next_update().map(rfc3339_utc),
            "crl_number": crl.crl_number_hex(),
            "delta": crl.is_delta(),
            "entries": crl.entries().map(|e| json!({
                "serial": e.serial, "revoked_at": rfc3339_utc(e.revoked_at),
                "reason": e.reason.map(|r| r.name()),
            })).collect::<Vec<_>>(),
        }));
        return Ok(Exit::Ok);
    }
    let vi = lang == Lang::Vi;
    println!(
        "{:<16}{}",
        if vi { "Tổ chức cấp:" } else { "Issuer:" },
        crl.issuer()
    );
    println!(
        "{:<16}{}",
        if vi { "Cập nhật:" } else { "This update:" },
        vietnam(crl.this_update())
    );
    if let Some(n) = crl.next_update() {
        println!(
            "{:<16}{}",
            if vi { "Lần sau:" } else { "Next update:" },
            vietnam(n)
        );
    }
    if let Some(n) = crl.crl_number_hex() {
        println!("{:<16}{n}", if vi { "Số CRL:" } else { "CRL number:" });
    }
    println!(
        "{:<16}{}",
        if vi { "Số mục:" } else { "Entries:" },
        crl.len()
    );
    for e in crl.entries().take(a.limit) {
        let r = e.reason.map(|r| format!("  {r}")).unwrap_or_default();
        println!("  {}  {}{r}", e.serial, vietnam(e.revoked_at));
    }
    if crl.len() > a.limit {
        println!("  ... ({} more; --json lists all)", crl.len() - a.limit);
    }
    Ok(Exit::Ok)
}

fn check(a: CheckArgs, lang: Lang) -> CmdResult {
    let cert = load_certs(&a.cert)?.remove(0);
    let issuer = load_certs(&a.issuer)?.remove(0);
    let crl = load_crl(&a.crl)?;
    let at = time_arg(a.at.as_deref())?;
    let status = revocation::check_crls(
        &cert,
        &issuer,
        std::slice::from_ref(&crl),
        at,
        &Default::default(),
    );
    let vi = lang == Lang::Vi;
    let (text, exit, j) = match &status {
        Status::Good { .. } => (
            if vi {
                "chưa bị thu hồi".to_string()
            } else {
                "not revoked".to_string()
            },
            Exit::Ok,
            json!({"status": "good"}),
        ),
        Status::Revoked { at, reason, .. } => (
            format!(
                "{} {}{}",
                if vi {
                    "đã bị thu hồi lúc"
                } else {
                    "revoked on"
                },
                vietnam(*at),
                reason.map(|r| format!(" ({r})")).unwrap_or_default()
            ),
            Exit::Invalid,
            json!({"status": "revoked", "revoked_at": rfc3339_utc(*at), "reason": reason.map(|r| r.name())}),
        ),
        Status::Unknown { reason } => (
            reason.clone(),
            Exit::Indeterminate,
            json!({"status": "unknown", "reason": reason}),
        ),
    };
    if a.json {
        let mut j = j;
        j["serial"] = json!(cert.serial_hex());
        print_json(&j);
    } else {
        println!("{} ({}): {text}", cert.subject(), cert.serial_hex());
    }
    Ok(exit)
}
