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
    /// Extend a signed PDF for the long term (PAdES B-LTA): fresh validation data for its
    /// document time-stamps in the DSS, then a new document time-stamp over everything.
    #[command(after_help = EXIT_CODES)]
    Extend(ExtendArgs),
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

/// `pki extend FILE.pdf -o OUT.pdf --tsa URL`.
#[derive(Debug, clap::Args)]
pub struct ExtendArgs {
    /// The signed PDF (it is only read).
    pub file: std::path::PathBuf,
    /// Where the extended PDF goes (written atomically).
    #[arg(short, long, value_name = "OUT")]
    pub out: std::path::PathBuf,
    /// The time-stamping authority of the new document time-stamp.
    #[arg(long, value_name = "URL")]
    pub tsa: String,
    /// Certificates (PEM) that help complete the TSAs' paths (their CAs and roots).
    #[arg(long, value_name = "PEM")]
    pub cert: Vec<std::path::PathBuf>,
    /// Re-stamp only when needed: the file has no document time-stamp yet, the newest one's
    /// TSA certificate expires within --margin days, or it uses SHA-1. When nothing is needed
    /// the command says so, exits 0 and writes no output.
    #[arg(long)]
    pub if_needed: bool,
    /// With --if-needed: how many days before the TSA certificate expires a re-stamp is due.
    #[arg(
        long,
        value_name = "DAYS",
        default_value_t = 90,
        requires = "if_needed"
    )]
    pub margin: u32,
}
