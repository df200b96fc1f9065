//! `pki ocsp query|serve`: ask an OCSP responder about a certificate (RFC 6960), or run one
//! that answers from a CA directory.

mod query;
mod serve;

use crate::args::ocsp::OcspCommand;
use crate::error::{CliError, CmdResult};
use crate::output::Lang;
use pki_core::cert::{parse_certificates, Certificate};
use std::path::Path;

/// Runs `pki ocsp`.
pub fn run(cmd: OcspCommand, lang: Lang) -> CmdResult {
    match cmd {
        OcspCommand::Query(a) => query::run(a, lang),
        OcspCommand::Serve(a) => serve::run(a, lang),
    }
}

/// Reads the first certificate of a file.
fn read_cert(path: &Path, what: &str) -> Result<Certificate, CliError> {
    let data = std::fs::read(path).map_err(|e| {
        CliError::from_error(format!("cannot read the {what} {}", path.display()), &e)
    })?;
    let mut certs = parse_certificates(&data).map_err(|e| {
        CliError::from_error(
            format!("the {what} {} is not a certificate", path.display()),
            &e,
        )
    })?;
    Ok(certs.swap_remove(0))
}
