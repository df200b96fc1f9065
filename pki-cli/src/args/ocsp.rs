//! `pki ocsp ...` arguments.

use clap::{Args, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Ask an OCSP responder about a certificate, or run a responder (RFC 6960).
#[derive(Debug, Subcommand)]
pub enum OcspCommand {
    /// Ask an OCSP responder whether a certificate is revoked, and check the answer.
    #[command(after_help = QUERY_EXIT_CODES)]
    Query(QueryArgs),
    /// Run an OCSP responder that answers from a CA directory (index.txt).
    Serve(ServeArgs),
}

const QUERY_EXIT_CODES: &str = "Exit codes: 0 good, 1 revoked, 3 operational error \
(unreachable responder, unreadable file), 4 unknown, or the answer cannot be verified.";

/// `pki ocsp query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The certificate to check (PEM or DER).
    #[arg(long)]
    pub cert: PathBuf,
    /// The certificate of the CA that issued it (PEM or DER).
    #[arg(long)]
    pub issuer: PathBuf,
    /// Responder URL (default: the OCSP URLs in the certificate's authorityInfoAccess).
    #[arg(long)]
    pub url: Option<String>,
    /// Hash the CertID with SHA-256 instead of SHA-1.
    #[arg(long)]
    pub sha256: bool,
    /// Send no nonce (some pre-producing responders refuse nonces).
    #[arg(long)]
    pub no_nonce: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Seconds allowed for the whole exchange with a responder.
    #[arg(
        long,
        env = "PKI_HTTP_TIMEOUT",
        default_value_t = 10.0,
        value_name = "SECONDS"
    )]
    pub timeout: f64,
    /// Check a saved DER response instead of asking a responder (no nonce check).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["url", "no_nonce"])]
    pub response: Option<PathBuf>,
    /// Validation time (RFC 3339, or `YYYY-MM-DD HH:MM:SS` in Vietnam time; default: now).
    #[arg(long)]
    pub at: Option<String>,
}

/// `pki ocsp serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// CA directory: `index.txt` (OpenSSL format) and the CA certificate `ca.crt`.
    #[arg(long)]
    pub ca_dir: PathBuf,
    /// The CA certificate (default: ca.crt, cacert.pem or ca.pem in the CA directory).
    #[arg(long)]
    pub ca_cert: Option<PathBuf>,
    /// The responder's certificate: the CA's own, or one the CA issued with id-kp-OCSPSigning.
    #[arg(long)]
    pub responder_cert: PathBuf,
    /// The responder's key: a KEYREF (`pkcs11:...?pin-source=file:...`, a PKCS#12 or PEM/DER key file).
    #[arg(long, value_name = "KEYREF")]
    pub key: String,
    /// Address to listen on (port 0 picks a free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8888")]
    pub listen: SocketAddr,
    /// Minutes until nextUpdate in each answer.
    #[arg(long, default_value_t = 60, value_name = "MINUTES")]
    pub validity: u32,
}
