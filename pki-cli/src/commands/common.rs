//! Helpers shared by commands: reading inputs with size limits, loading certificates and trust
//! anchors, parsing times.

use crate::error::CliError;
use pki_core::cert::{parse_certificates, Certificate};
use pki_core::trust::CertPool;
use std::path::Path;
use time::OffsetDateTime;

/// Reads a file, refusing anything over `limit` bytes before reading it.
pub fn read_limited(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, CliError> {
    let meta = std::fs::metadata(path).map_err(|e| {
        CliError::op(format!(
            "cannot read {what} {}: {}",
            path.display(),
            io_reason(&e)
        ))
    })?;
    if meta.is_dir() {
        return Err(CliError::op(format!(
            "{} is a directory, not a {what} file",
            path.display()
        )));
    }
    if meta.len() > limit {
        return Err(CliError::op(format!(
            "{} is {} MB, too large to be a {what} (limit {} MB)",
            path.display(),
            meta.len() / (1024 * 1024),
            limit / (1024 * 1024)
        )));
    }
    std::fs::read(path).map_err(|e| {
        CliError::op(format!(
            "cannot read {what} {}: {}",
            path.display(),
            io_reason(&e)
        ))
    })
}

/// A short reason for an I/O error.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Reads every certificate in a file.
pub fn load_certs(path: &Path) -> Result<Vec<Certificate>, CliError> {
    let data = read_limited(path, pki_core::cert::MAX_CERT_INPUT as u64, "certificate")?;
    parse_certificates(&data).map_err(|e| {
        CliError::op(format!(
            "{} is not a usable certificate file: {e}",
            path.display()
        ))
    })
}

/// Builds the anchor pool from `--trust` values (`vn`, files, directories).
pub fn load_trust(values: &[String]) -> Result<CertPool, CliError> {
    let mut pool = CertPool::new();
    for v in values {
        if v == "vn" {
            for c in CertPool::vn_roots().iter() {
                pool.add(c.clone());
            }
            continue;
        }
        let n = pool
            .add_path(Path::new(v))
            .map_err(|e| CliError::op(format!("cannot load trust anchors: {e}")))?;
        if n == 0 {
            return Err(CliError::op(format!("{v} holds no certificates to trust")));
        }
    }
    Ok(pool)
}

/// `--at` or now.
pub fn time_arg(at: Option<&str>) -> Result<OffsetDateTime, CliError> {
    match at {
        None => Ok(OffsetDateTime::now_utc()),
        Some(s) => pki_core::time::parse_user_time(s).ok_or_else(|| {
            CliError::usage(format!(
                "cannot read the time \"{s}\"; write it as 2025-03-20T10:00:00+07:00 or 2025-03-20"
            ))
        }),
    }
}

/// Prints JSON to stdout.
pub fn print_json(v: &serde_json::Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}
