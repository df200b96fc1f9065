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

/// English or Vietnamese.
fn l(lang: Lang, en: &'static str, vi: &'static str) -> &'static str {
    match lang {
        Lang::Vi => vi,
        Lang::En => en,
    }
}

/// Reads the first certificate of a file.
fn read_cert(path: &Path, lang: Lang) -> Result<Certificate, CliError> {
    let p = path.display();
    let data = std::fs::read(path).map_err(|e| {
        let msg = match lang {
            Lang::Vi => format!("không đọc được tệp chứng thư {p}"),
            Lang::En => format!("cannot read the certificate file {p}"),
        };
        CliError::from_error(msg, &e)
    })?;
    let mut certs = parse_certificates(&data).map_err(|e| {
        let msg = match lang {
            Lang::Vi => format!("{p} không phải là chứng thư"),
            Lang::En => format!("{p} is not a certificate"),
        };
        CliError::from_error(msg, &e)
    })?;
    Ok(certs.swap_remove(0))
}
