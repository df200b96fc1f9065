//! Command-line arguments (clap). Command logic lives in `commands/`.

use crate::output::Lang;
use clap::{Parser, Subcommand};

/// Digital signatures and PKI for Vietnamese e-government documents.
#[derive(Debug, Parser)]
#[command(name = "pki", version, about, after_help = EXIT_CODES)]
pub struct Cli {
    /// Language of messages and reports (default: from LANG).
    #[arg(long, global = true, value_enum)]
    pub lang: Option<Lang>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Exit codes, shown in --help.
pub const EXIT_CODES: &str = "Exit codes: 0 valid/done, 1 invalid signature or certificate, \
2 usage error, 3 operational error (file, token, PIN, network), 4 indeterminate (e.g. no trust anchor, revocation unknown).";

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a demo PKI in a directory and show the main job end to end.
    Demo(crate::commands::demo::DemoArgs),
    /// PKCS#11 tokens and HSMs: list, objects, keygen, csr, import.
    Token(crate::commands::token::TokenArgs),
}
