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

/// The anchors of `--trust` values, and the intermediates that come with them (the Vietnamese
/// bundle's issuing CAs when `vn` is among them: they help build paths, they are not trusted).
pub fn load_trust_and_intermediates(values: &[String]) -> Result<(CertPool, CertPool), CliError> {
    let anchors = load_trust(values)?;
    let intermediates = if values.iter().any(|t| t == "vn") {
        CertPool::vn_intermediates()
    } else {
        CertPool::new()
    };
    Ok((anchors, intermediates))
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

/// Opens the key `keyref` (`pkcs11:...`, `file:...`, a path) for signing, with its certificate
/// chain: from `--cert` when given (for PEM/PKCS#8 keys), else from the key store (PKCS#12,
/// token). The PIN or password is asked on the terminal (hidden) unless a `pin-source` is
/// given; it never comes from the command line.
pub fn open_signer(
    keyref: &str,
    cert: Option<&Path>,
    pin_source: Option<&str>,
    lang: crate::output::Lang,
) -> Result<(std::sync::Arc<dyn hsm::Signer>, Vec<Certificate>), CliError> {
    open_signer_with(
        keyref,
        cert,
        pin_source,
        lang,
        hsm::RemoteOptions::default(),
    )
}

/// [`open_signer`] with how a remote key (`csc:`, `mss:`) waits and reports progress.
pub fn open_signer_with(
    keyref: &str,
    cert: Option<&Path>,
    pin_source: Option<&str>,
    lang: crate::output::Lang,
    remote: hsm::RemoteOptions,
) -> Result<(std::sync::Arc<dyn hsm::Signer>, Vec<Certificate>), CliError> {
    let parsed = hsm::KeyRef::parse(keyref)?;
    let given_chain = match cert {
        Some(p) => load_certs(p)?,
        None => Vec::new(),
    };
    let prompt = super::token::TerminalPrompt { lang };
    let no_prompt = hsm::NoPrompt;
    let opts = hsm::OpenOptions {
        secret_source: pin_source.map(str::to_owned),
        prompt: if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            &prompt
        } else {
            &no_prompt
        },
        remote,
        ..Default::default()
    };
    pki_core::signing::open_with_chain(&parsed, &given_chain, opts).map_err(|e| match e {
        pki_core::signing::OpenKeyError::Key(e) => CliError::from(e),
        _ => CliError::op(match cert {
            Some(p) => format!(
                "no certificate in {} belongs to the key {keyref}",
                p.display()
            ),
            None => format!(
                "the key {keyref} has no certificate with it; give one with --cert CHAIN.pem"
            ),
        }),
    })
}

pub use pki_core::pdf::looks_like_pdf;

/// Opens the key of a service (`pki ocsp serve`, `pki tsa serve`): any KEYREF, with the PIN
/// from the URI's `pin-source` (a service never prompts).
pub fn open_service_key(keyref: &str) -> Result<std::sync::Arc<dyn hsm::Signer>, CliError> {
    let parsed = hsm::KeyRef::parse(keyref)?;
    Ok(hsm::open(&parsed, &hsm::OpenOptions::default())?)
}

/// Resolves on Ctrl-C or SIGTERM (a service manager stopping a server), for axum's graceful
/// shutdown: the signing service's own, so every server of the project stops the same way.
pub use sign_server::shutdown_signal;

/// Whether `a` and `b` name the same existing file (device and inode: two `stat`s, where
/// canonicalising both paths costs a `readlink` per component for every document of a batch).
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}
