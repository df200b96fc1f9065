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
    /// Profile. PDF, the Decree 30/2020 layouts: personal (signature image above the signer's
    /// name or in --rect), agency (the seal at its real size over the left third of the
    /// personal signature), attachment (number and time, top right of page 1), copy (form of
    /// copy, agency, time), plain (invisible, or --image/--text in --rect). XML: plain,
    /// einvoice, edxml.
    #[arg(long, value_enum, default_value = "plain")]
    pub profile: ProfileArg,
    /// PDF: the PNG to show: the handwritten signature (personal, blue, transparent), the
    /// seal (agency, red, transparent), or any image (plain).
    #[arg(long, value_name = "PNG")]
    pub image: Option<PathBuf>,
    /// PDF: the page of the signature, from 1 (default: 1 with --rect; for personal without
    /// --rect, every page is searched for the anchor, last first).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub page: Option<u64>,
    /// PDF: the signature's rectangle, X,Y,W,H in points from the lower left corner of the page
    /// as it is shown (a number may end in `mm`: 20mm,20mm,60mm,25mm).
    #[arg(long, value_name = "X,Y,W,H", allow_hyphen_values = true)]
    pub rect: Option<String>,
    /// PDF, personal: the text the signature goes above (default: the signer's name from the
    /// certificate).
    #[arg(long, value_name = "TEXT")]
    pub anchor: Option<String>,
    /// PDF, agency: the seal's diameter (width) in millimetres, when the PNG does not carry its
    /// resolution (pHYs).
    #[arg(long, value_name = "MM")]
    pub seal_size: Option<f64>,
    /// PDF, attachment: the document's number and symbol (for example 123/UBND-VP).
    #[arg(long, value_name = "TEXT")]
    pub doc_number: Option<String>,
    /// PDF, copy: the form of copy (default SAO Y; SAO LỤC, TRÍCH SAO).
    #[arg(long, value_name = "TEXT")]
    pub copy_form: Option<String>,
    /// PDF, copy: the copying agency (default: the certificate's organisation, else its name).
    #[arg(long, value_name = "TEXT")]
    pub copy_agency: Option<String>,
    /// PDF, plain: text to show in --rect (`\n` starts a new line).
    #[arg(long, value_name = "TEXT")]
    pub text: Option<String>,
    /// PDF: a TrueType font file for the text (default: the built-in Liberation Serif,
    /// metric-compatible with Times New Roman).
    #[arg(long, value_name = "TTF")]
    pub font: Option<PathBuf>,
    /// PDF: a certification signature (DocMDP), first signature only; the level says what may
    /// change afterwards: 1 nothing, 2 form filling and signatures (default), 3 also
    /// annotations. Write --certify or --certify=1.
    #[arg(long, value_name = "LEVEL", num_args = 0..=1, require_equals = true,
          default_missing_value = "2", value_parser = clap::value_parser!(u8).range(1..=3))]
    pub certify: Option<u8>,
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
    /// Remote keys whose credential asks a one-time password (OTP) at each signing: read it
    /// from this file (`file:PATH`) instead of the terminal, for scripts. The file is read when
    /// the OTP is needed (after the service sent it) and waited for while it is missing or
    /// still holds the OTP already used.
    #[arg(long, value_name = "file:PATH")]
    pub otp_source: Option<String>,
}

/// Profiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProfileArg {
    /// PDF: the competent person's signature image (Decree 30/2020 I.II.7d).
    Personal,
    /// PDF: the agency's seal beside the personal signature (I.II.8a).
    Agency,
    /// PDF: attachment stamp, number and time, top right of page 1 (I.II.8b).
    Attachment,
    /// PDF: electronic copy stamp (Part II, I.3).
    Copy,
    /// PDF: invisible, or a custom image/text; XML: generic XMLDSig.
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
