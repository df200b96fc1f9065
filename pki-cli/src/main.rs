//! `pki`: sign and verify documents, inspect certificates, drive tokens, run a small CA.
//!
//! Exit codes (CONTRACT.md): 0 valid/done, 1 a signature or certificate is invalid,
//! 2 usage error, 3 operational error, 4 indeterminate with nothing invalid.

mod args;
mod commands;
mod error;
mod fetch;
mod output;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version to stdout with exit 0, usage errors with exit 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PKI_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .without_time()
        .init();
    let lang = cli.lang.unwrap_or_else(output::Lang::from_env);
    match commands::run(cli.command, lang) {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            e.print(lang);
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
