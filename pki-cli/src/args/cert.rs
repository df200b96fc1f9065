//! `pki cert ...` arguments.

use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Inspect and check certificates.
#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Show certificates readably (Vietnamese names intact), or as JSON.
    Show(ShowArgs),
    /// Validate a certificate's path to a trust anchor (RFC 5280) and its revocation status.
    Verify(VerifyArgs),
}

/// `pki cert show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Certificate files (PEM, DER or PKCS#7 bundles).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// What the certificate must be good for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PurposeArg {
    /// Signing documents (default).
    Document,
    /// Signing OCSP responses.
    Ocsp,
    /// Time-stamping.
    Tsa,
    /// Any purpose (no end-entity usage check).
    Any,
}

/// `pki cert verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The certificate to validate (the first certificate in the file; the others are used as
    /// intermediates).
    pub cert: PathBuf,
    /// Intermediate certificates (files or directories; may repeat).
    #[arg(long = "chain", value_name = "PEM")]
    pub chain: Vec<PathBuf>,
    /// Trust anchors: PEM/DER files, directories, or `vn` for the Vietnamese public roots.
    #[arg(long = "trust", value_name = "PEM|DIR|vn", required = true)]
    pub trust: Vec<String>,
    /// Validation time (RFC 3339, or a date-time/date in Vietnam time); default: now.
    #[arg(long)]
    pub at: Option<String>,
    /// CRL files to check revocation with (no network is used when given).
    #[arg(long = "crl", value_name = "FILE")]
    pub crls: Vec<PathBuf>,
    /// Do not check revocation online.
    #[arg(long)]
    pub offline: bool,
    /// What the certificate must be good for.
    #[arg(long, value_enum, default_value = "document")]
    pub purpose: PurposeArg,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}
