//! `pki crl ...` arguments.

use clap::{Args, Subcommand};
use std::path::PathBuf;

/// Read and check certificate revocation lists.
#[derive(Debug, Subcommand)]
pub enum CrlCommand {
    /// Show a CRL (issuer, dates, number, entries).
    Show(ShowArgs),
    /// Check a certificate against a CRL (the CRL's signature and freshness are checked too).
    Check(CheckArgs),
}

/// `pki crl show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The CRL (PEM or DER).
    pub file: PathBuf,
    /// Show at most this many entries (text output).
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Print JSON (all entries).
    #[arg(long)]
    pub json: bool,
}

/// `pki crl check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The certificate to check.
    pub cert: PathBuf,
    /// The CRL.
    #[arg(long)]
    pub crl: PathBuf,
    /// The CRL issuer's certificate (the certificate's issuer).
    #[arg(long)]
    pub issuer: PathBuf,
    /// Time to check at (default: now).
    #[arg(long)]
    pub at: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}
