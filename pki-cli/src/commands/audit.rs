//! `pki audit verify --db URL|FILE`: the signing service's audit chain checked offline, with
//! the very verifier the service runs for `GET /v1/audit/verify` (sign_server::store).

use crate::args::audit::{AuditCommand, VerifyArgs};
use crate::error::{CliError, CmdResult, Exit};
use crate::output::Lang;

/// Runs `pki audit`.
pub fn run(c: AuditCommand, lang: Lang) -> CmdResult {
    match c {
        AuditCommand::Verify(a) => verify(a, lang),
    }
}

fn db_url(db: &str) -> Result<String, CliError> {
    if db.starts_with("sqlite:") || db.starts_with("postgres://") || db.starts_with("postgresql://")
    {
        return Ok(db.to_owned());
    }
    let p = std::path::Path::new(db);
    if !p.is_file() {
        return Err(CliError::op(format!(
            "{db} is not a database file; give the service's SQLite file or a postgres:// URL"
        )));
    }
    Ok(format!("sqlite://{}?mode=ro", p.display()))
}

fn verify(a: VerifyArgs, lang: Lang) -> CmdResult {
    let vi = lang == Lang::Vi;
    let url = db_url(&a.db)?;
    let trust = if a.trust.is_empty() {
        vec!["vn".to_owned()]
    } else {
        a.trust.clone()
    };
    let (anchors, intermediates) = crate::commands::common::load_trust_and_intermediates(&trust)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::from_error("cannot start", &e))?;
    let report = rt
        .block_on(async {
            let store = sign_server::store::Store::open_existing(&url).await?;
            let r = sign_server::anchor::verify(&store, &anchors, &intermediates).await;
            store.close().await;
            r
        })
        .map_err(|e| CliError::from_error("cannot read the audit log", &e))?;
    if a.json {
        crate::commands::common::print_json(&serde_json::to_value(&report).unwrap_or_default());
    } else if report.intact {
        println!(
            "{} {} ({} {}, {} {})",
            if vi {
                "Nhật ký kiểm toán:"
            } else {
                "Audit log:"
            },
            if vi { "nguyên vẹn" } else { "intact" },
            report.records,
            if vi { "bản ghi" } else { "records" },
            if vi { "mã băm cuối" } else { "last hash" },
            report.last_hash
        );
        if let Some(last) = report.anchors.last() {
            println!(
                "  {} {} {} {} ({})",
                if vi {
                    "dấu thời gian mới nhất: bản ghi"
                } else {
                    "latest time-stamp: record"
                },
                last.seq,
                if vi { "lúc" } else { "at" },
                last.time,
                last.tsa
            );
        }
    } else {
        println!(
            "{} {}",
            if vi {
                "Nhật ký kiểm toán:"
            } else {
                "Audit log:"
            },
            if vi {
                "BỊ SỬA ĐỔI"
            } else {
                "TAMPERED WITH"
            }
        );
        for p in &report.problems {
            println!(
                "  {} {}: {} — {}",
                if vi { "bản ghi" } else { "record" },
                p.seq,
                p.kind,
                p.message
            );
        }
    }
    Ok(if report.intact {
        Exit::Ok
    } else {
        Exit::Invalid
    })
}
