//! `pki sign` and `pki verify` arguments (XML documents; the format is detected from content).

use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// `pki sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The document to sign (never modified).
    pub file: PathBuf,
    /// Where to write the signed document (written to a temporary file, then renamed).
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    pub out: PathBuf,
    /// The private key (PEM or PKCS#8 file).
    #[arg(long, value_name = "KEY")]
    pub key: PathBuf,
    /// The signer's certificate, then its issuers (PEM).
    #[arg(long, value_name = "CHAIN.pem")]
    pub cert: PathBuf,
    /// Document profile: where the signature goes and what it covers.
    #[arg(long, value_enum, default_value = "plain")]
    pub profile: ProfileArg,
    /// Sign the element with this Id (enveloped inside it, or detached beside it).
    #[arg(long)]
    pub id: Option<String>,
    /// Canonicalization (default: exclusive; inclusive 1.0 for e-invoices).
    #[arg(long, value_enum)]
    pub c14n: Option<C14nArg>,
    /// RSA-PSS instead of PKCS#1 v1.5 (RSA keys).
    #[arg(long)]
    pub pss: bool,
    /// The signature contains the document (ds:Object).
    #[arg(long, conflicts_with = "detached")]
    pub enveloping: bool,
    /// The signature stands beside the element named by --id.
    #[arg(long)]
    pub detached: bool,
    /// Signature level: B-B adds XAdES SignedProperties (SigningTime, SigningCertificateV2);
    /// B-T adds a signature timestamp from --tsa.
    #[arg(long, value_name = "LEVEL")]
    pub level: Option<String>,
    /// Time-stamping authority URL (RFC 3161 over HTTP) for --level B-T.
    #[arg(long, value_name = "URL")]
    pub tsa: Option<String>,
}

/// Profiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProfileArg {
    /// Generic XMLDSig.
    Plain,
    /// Vietnamese e-invoice: signs HDon/DLHDon, signature in DSCKS/NBan with a SigningTime.
    Einvoice,
    /// edXML package: enveloped in edXMLHeader, exclusive c14n.
    Edxml,
}

/// Canonicalizations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum C14nArg {
    /// Exclusive XML Canonicalization 1.0.
    Exc,
    /// Canonical XML 1.0.
    Inclusive,
    /// Canonical XML 1.1.
    C14n11,
}

/// `pki verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The signed documents.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Trust anchors: PEM/DER files, directories, or `vn` for the Vietnamese roots (may repeat).
    #[arg(long = "trust", value_name = "PEM|DIR|vn")]
    pub trust: Vec<String>,
    /// Validation time (RFC 3339, or a date-time/date in Vietnam time); default: now.
    #[arg(long)]
    pub at: Option<String>,
    /// Do not fetch anything (XML verification never does).
    #[arg(long)]
    pub offline: bool,
    /// Report format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: FormatArg,
    /// Write the report to this file instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "REPORT")]
    pub output: Option<PathBuf>,
}

/// Report formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Text for people.
    Text,
    /// JSON (CONTRACT.md report, with each reference's details).
    Json,
    /// A printable HTML page.
    Html,
}
