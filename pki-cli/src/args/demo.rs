//! `pki demo` arguments.

use std::path::PathBuf;

/// Arguments of `pki demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where to create the demo PKI and documents (default: ./pki-demo).
    #[arg(long, default_value = "pki-demo")]
    pub dir: PathBuf,
}
