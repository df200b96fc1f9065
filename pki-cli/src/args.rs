//! Command-line arguments (clap). Command logic lives in `commands/`.

pub mod audit;
pub mod ca;
pub mod cert;
pub mod crl;
pub mod demo;
pub mod ocsp;
pub mod tsa;
pub mod xml;

use crate::output::Lang;
use clap::{Parser, Subcommand};

/// Digital signatures and PKI for Vietnamese e-government documents.
#[derive(Debug, Parser)]
#[command(name = "pki", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// Language of messages and reports (default: from LANG).
    #[arg(long, global = true, value_enum)]
    pub lang: Option<Lang>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Exit codes, shown in --help.
pub const EXIT_CODES: &str = "Exit codes: 0 valid/done, 1 invalid signature or certificate, \
2 usage error, 3 operational error (file, token, PIN, network), 4 indeterminate (e.g. no trust anchor, revocation unknown).";

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect and validate certificates.
    #[command(subcommand, after_help = EXIT_CODES)]
    Cert(cert::CertCommand),
    /// Read and check CRLs.
    #[command(subcommand, after_help = EXIT_CODES)]
    Crl(crl::CrlCommand),
    /// A small certification authority.
    #[command(subcommand, after_help = EXIT_CODES)]
    Ca(ca::CaCommand),
    /// Sign documents: PDF (PAdES, with the Decree 30 visible layouts) and XML (XMLDSig /
    /// XAdES, e-invoice and edXML profiles).
    #[command(after_help = EXIT_CODES)]
    Sign(Box<xml::SignArgs>),
    /// Verify a document's signatures (XML).
    #[command(after_help = EXIT_CODES)]
    Verify(xml::VerifyArgs),
    /// Ask an OCSP responder about a certificate, or run a responder (RFC 6960).
    #[command(subcommand)]
    Ocsp(ocsp::OcspCommand),
    /// Create a demo PKI and show the main job end to end.
    Demo(demo::DemoArgs),
    /// RFC 3161 time-stamps: query a TSA, verify a token, run a TSA.
    #[command(subcommand, after_help = EXIT_CODES)]
    Tsa(tsa::TsaCommand),
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// PKCS#11 tokens and HSMs: list, objects, keygen, csr, import.
    Token(crate::commands::token::TokenArgs),
    /// The signing service's audit log: check that no record was changed, deleted or moved.
    #[command(subcommand, after_help = EXIT_CODES)]
    Audit(audit::AuditCommand),
}
