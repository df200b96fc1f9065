//! `pki tsa ...` arguments.

use std::path::PathBuf;

/// The policy a TSA serves when neither `--policy` nor the certificate names one: the example
/// policy of OpenSSL's sample TSA configuration, meaning "test TSA, no policy claims". A real
/// TSA sets `--policy`.
pub const DEFAULT_POLICY: &str = "1.2.3.4.1";

/// `pki tsa` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum TsaCommand {
    /// Ask a time-stamp authority for a token over FILE and check it.
    Query(QueryArgs),
    /// Check a time-stamp token (or a whole .tsr response) against the data.
    Verify(VerifyArgs),
    /// Run a time-stamp authority (RFC 3161 over HTTP POST).
    Serve(ServeArgs),
}

/// A hash for the message imprint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum HashArg {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl From<HashArg> for hsm::HashAlgorithm {
    fn from(h: HashArg) -> Self {
        match h {
            HashArg::Sha256 => hsm::HashAlgorithm::Sha256,
            HashArg::Sha384 => hsm::HashAlgorithm::Sha384,
            HashArg::Sha512 => hsm::HashAlgorithm::Sha512,
        }
    }
}

/// Arguments of `pki tsa query`.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// The file to time-stamp.
    pub file: PathBuf,
    /// The TSA's URL (http:// or https://).
    #[arg(long)]
    pub url: String,
    /// Hash for the message imprint.
    #[arg(long, value_enum, default_value = "sha256")]
    pub hash: HashArg,
    /// Ask for this TSA policy (an OID).
    #[arg(long)]
    pub policy: Option<String>,
    /// Write the response (.tsr, as `openssl ts -reply` writes it) here, when the token is valid.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Trust anchors to check the TSA certificate's chain against: a PEM/DER file, a
    /// directory, or `vn` for the Vietnamese national roots (repeatable).
    #[arg(long)]
    pub trust: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `pki tsa verify`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["data", "digest"])))]
pub struct VerifyArgs {
    /// The token: a TimeStampResp (.tsr) or a bare TimeStampToken, DER.
    pub token: PathBuf,
    /// The time-stamped data.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The expected message imprint (hex), instead of --data.
    #[arg(long)]
    pub digest: Option<String>,
    /// The nonce sent in the request (hex), to check it is echoed.
    #[arg(long)]
    pub nonce: Option<String>,
    /// Trust anchors: a PEM/DER file, a directory, or `vn` (repeatable); without one the
    /// result is at best indeterminate.
    #[arg(long)]
    pub trust: Vec<String>,
    /// More certificates to build the chain with (and to find a TSA certificate not embedded).
    #[arg(long)]
    pub untrusted: Vec<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `pki tsa serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The TSA certificate (with the critical id-kp-timeStamping extended key usage).
    #[arg(long)]
    pub cert: PathBuf,
    /// The TSA's key: a KEYREF (`pkcs11:...?pin-source=file:...`, a PKCS#12 or PEM/DER key
    /// file).
    #[arg(long, value_name = "KEYREF")]
    pub key: String,
    /// Issuing CA certificates to include when a request sets certReq.
    #[arg(long)]
    pub chain: Option<PathBuf>,
    /// Address to listen on (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:3180")]
    pub listen: String,
    /// The TSA policy OID (default: the certificate's first policy, else 1.2.3.4.1, a test policy).
    #[arg(long)]
    pub policy: Option<String>,
}
