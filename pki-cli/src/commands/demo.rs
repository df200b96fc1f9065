//! `pki demo`: the main job on an embedded default.

use crate::error::{CmdResult, Exit};
use crate::output::Lang;
use std::path::PathBuf;

/// Arguments of `pki demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where to create the demo PKI (default: ./pki-demo).
    #[arg(long, default_value = "pki-demo")]
    pub dir: PathBuf,
}

/// Runs the demo.
pub fn run(_args: DemoArgs, _lang: Lang) -> CmdResult {
    Ok(Exit::Ok)
}
