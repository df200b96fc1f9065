//! Command implementations, one module per command group.

pub mod audit;
pub mod ca;
pub mod cert;
pub mod common;
pub mod crl;
pub mod demo;
pub mod ocsp;
pub mod pdf;
pub mod remote;
pub mod sign;
pub mod token;
pub mod tsa;
pub mod xml;

use crate::args::Command;
use crate::error::{CmdResult, Exit};
use crate::output::Lang;

/// Runs a parsed command.
pub fn run(cmd: Command, lang: Lang) -> CmdResult {
    match cmd {
        Command::Cert(c) => cert::run(c, lang),
        Command::Crl(c) => crl::run(c, lang),
        Command::Ca(c) => ca::run(c, lang),
        Command::Ocsp(c) => ocsp::run(c, lang),
        Command::Demo(a) => demo::run(a, lang),
        Command::Sign(a) => sign::run(*a, lang),
        Command::Extend(a) => pdf::extend(a, lang),
        Command::Verify(a) => {
            let pdfs = a.files.iter().filter(|f| common::looks_like_pdf(f)).count();
            match pdfs {
                0 => xml::verify(a, lang),
                n if n == a.files.len() => pdf::verify(a, lang),
                _ => Err(crate::error::CliError::usage(
                    "verify PDF and XML documents in separate runs",
                )),
            }
        }
        Command::Tsa(c) => tsa::run(c, lang),
        Command::Token(a) => token::run(a, lang),
        Command::Audit(c) => audit::run(c, lang),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut cmd = crate::args::Cli::command();
            clap_complete::generate(shell, &mut cmd, "pki", &mut std::io::stdout());
            Ok(Exit::Ok)
        }
    }
}
