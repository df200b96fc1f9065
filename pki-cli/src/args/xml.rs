//! `pki sign` and `pki verify` arguments (PDF and XML documents; the format is detected from
//! content).

use clap::{Args, ValueEnum};
use std::path::PathBuf;

/// `pki sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The documents to sign, PDF or XML by content (never modified); a directory stands for
    /// the PDF and XML files in it. Several inputs are a batch with one key opening.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Where to write the signed document, for one input (written to a temporary file, then
    /// renamed).
    #[arg(
        short = 'o',
        long = "out",
        value_name = "OUT",
        conflicts_with = "out_dir"
    )]
    pub out: Option<PathBuf>,
    /// The directory to write signed documents to, under their own names.
    #[arg(long = "out-dir", value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// The key: `pkcs11:token=...;object=...` (a token or HSM), a PKCS#12 file, a PEM/PKCS#8
    /// key file with --cert, `csc:https://...` (a cloud key) or `mss:+84...?mssp=...` (a PKI
    /// SIM; give its certificate with --cert). Remote keys sign every document with one
    /// approval on the phone where the service allows it.
    #[arg(long, value_name = "KEYREF")]
    pub key: String,
    /// The signer's certificate, then its issuers (PEM); optional when the key store holds them.
    #[arg(long, value_name = "CHAIN.pem")]
    pub cert: Option<PathBuf>,
    /// Where the PIN or password is read from (`file:PATH`), for unattended use; without it the
    /// PIN is asked on the terminal, hidden.
    #[arg(long, value_name = "file:PATH")]
    pub pin_source: Option<String>,
    /// Profile. XML: plain, einvoice, edxml. PDF: plain (invisible); the visible Decree 30
    /// layouts (personal, agency, attachment, copy) are not available yet.
    #[arg(long, value_enum, default_value = "plain")]
    pub profile: ProfileArg,
    /// PDF: the reason shown in the signature (`/Reason`).
    #[arg(long)]
    pub reason: Option<String>,
    /// PDF: the place of signing (`/Location`).
    #[arg(long)]
    pub location: Option<String>,
    /// PDF: use the /adbe.pkcs7.detached format for old readers instead of PAdES.
    #[arg(long)]
    pub pkcs7: bool,
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
    /// Signature level (PAdES for PDF, XAdES for XML): B-B; B-T adds a signature time-stamp
    /// from --tsa; B-LT adds the certificates and OCSP responses or CRLs a verifier needs
    /// later; B-LTA (PDF) adds a document time-stamp over it all.
    #[arg(long, value_name = "LEVEL")]
    pub level: Option<String>,
    /// Time-stamping authority URL (RFC 3161 over HTTP) for --level B-T and above.
    #[arg(long, value_name = "URL")]
    pub tsa: Option<String>,
    /// Documents signed at once in a batch (default: one per processor).
    #[arg(long, value_name = "N")]
    pub jobs: Option<std::num::NonZeroUsize>,
    /// Set for a batch: outputs are synced to disk once at the end instead of one by one.
    #[arg(skip)]
    pub batch: bool,
    /// Remote keys (csc:, mss:): how long to wait for the approval on the phone before giving
    /// up (nothing is written then).
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub approval_timeout: u64,
}

/// Profiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProfileArg {
    /// PDF: personal signature (Decree 30 layout; not available yet).
    Personal,
    /// PDF: agency seal (Decree 30 layout; not available yet).
    Agency,
    /// PDF: attachment stamp (not available yet).
    Attachment,
    /// PDF: electronic copy stamp (not available yet).
    Copy,
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
    /// Do not check the signer's revocation online (OCSP, then the CRL); the report says it
    /// was not checked.
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
