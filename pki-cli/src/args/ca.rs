//! `pki ca ...` arguments.

use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

/// A small CA for agencies and test labs.
#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create a CA directory with a new key and certificate (self-signed, or issued by --parent).
    Init(InitArgs),
    /// Issue a certificate from a CSR under a profile.
    Issue(IssueArgs),
    /// Revoke an issued certificate.
    Revoke(RevokeArgs),
    /// Issue a CRL of every revoked certificate.
    Crl(CrlArgs),
    /// Create a complete demo/test PKI (root, issuing CA, officers, agency, OCSP, TSA, revoked,
    /// expired) in a directory.
    TestPki(TestPkiArgs),
}

/// Key types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KeyTypeArg {
    /// RSA 2048.
    Rsa2048,
    /// RSA 3072.
    Rsa3072,
    /// RSA 4096.
    Rsa4096,
    /// ECDSA P-256.
    P256,
    /// ECDSA P-384.
    P384,
}

impl KeyTypeArg {
    /// The hsm key kind.
    pub fn kind(self) -> hsm::KeyKind {
        match self {
            Self::Rsa2048 => hsm::KeyKind::Rsa { bits: 2048 },
            Self::Rsa3072 => hsm::KeyKind::Rsa { bits: 3072 },
            Self::Rsa4096 => hsm::KeyKind::Rsa { bits: 4096 },
            Self::P256 => hsm::KeyKind::EcP256,
            Self::P384 => hsm::KeyKind::EcP384,
        }
    }
}

/// `pki ca init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The CA directory to create.
    pub dir: PathBuf,
    /// Subject, e.g. "CN=CA Sở Tư pháp,O=Sở Tư pháp,C=VN".
    #[arg(long)]
    pub subject: String,
    /// Key type.
    #[arg(long, value_enum, default_value = "rsa3072")]
    pub key_type: KeyTypeArg,
    /// Validity in days.
    #[arg(long, default_value_t = 3650)]
    pub days: u32,
    /// Parent CA directory (makes a subordinate CA).
    #[arg(long)]
    pub parent: Option<PathBuf>,
    /// pathLenConstraint.
    #[arg(long)]
    pub path_len: Option<u8>,
    /// OCSP URL to put in issued certificates.
    #[arg(long)]
    pub ocsp_url: Option<String>,
    /// CRL URL to put in issued certificates.
    #[arg(long)]
    pub crl_url: Option<String>,
    /// caIssuers URL to put in issued certificates.
    #[arg(long)]
    pub ca_issuers_url: Option<String>,
}

/// Profiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ProfileArg {
    /// An officer's signing certificate.
    Personal,
    /// An agency's signing certificate.
    Agency,
    /// A delegated OCSP responder.
    Ocsp,
    /// A time-stamping authority.
    Tsa,
    /// A subordinate CA (pathLen 0).
    Ca,
}

/// `pki ca issue`.
#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The CA directory.
    #[arg(long)]
    pub ca: PathBuf,
    /// The certificate request (PKCS#10, PEM or DER).
    #[arg(long)]
    pub csr: PathBuf,
    /// Profile.
    #[arg(long, value_enum)]
    pub profile: ProfileArg,
    /// Override the subject of the request.
    #[arg(long)]
    pub subject: Option<String>,
    /// Validity in days.
    #[arg(long, default_value_t = 730)]
    pub days: u32,
    /// Where to write the certificate (PEM); default: stdout.
    #[arg(short, long)]
    pub out: Option<PathBuf>,
}

/// `pki ca revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The CA directory.
    #[arg(long)]
    pub ca: PathBuf,
    /// Serial number (hex) or a certificate file.
    pub serial_or_cert: String,
    /// Reason (keyCompromise, cACompromise, affiliationChanged, superseded,
    /// cessationOfOperation, certificateHold, privilegeWithdrawn, unspecified).
    #[arg(long)]
    pub reason: Option<String>,
    /// Revocation time (default: now).
    #[arg(long)]
    pub at: Option<String>,
}

/// `pki ca crl`.
#[derive(Debug, Args)]
pub struct CrlArgs {
    /// The CA directory.
    #[arg(long)]
    pub ca: PathBuf,
    /// Hours until nextUpdate (default: the CA's setting, 168).
    #[arg(long)]
    pub hours: Option<u32>,
    /// Where to write the CRL (PEM); it is always also written to the CA directory.
    #[arg(short, long)]
    pub out: Option<PathBuf>,
}

/// `pki ca test-pki`.
#[derive(Debug, Args)]
pub struct TestPkiArgs {
    /// Directory to create.
    pub dir: PathBuf,
    /// OCSP URL for the issuing CA's certificates.
    #[arg(long)]
    pub ocsp_url: Option<String>,
    /// CRL URL for the issuing CA's certificates.
    #[arg(long)]
    pub crl_url: Option<String>,
}
