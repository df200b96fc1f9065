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

/// Rust ignores SIGPIPE, so `println!` into a closed pipe (`pki crl show big.crl | head`)
/// panics. A reader that stopped reading is not an error of ours: end quietly with the status
/// a SIGPIPE death would give (128 + 13), and keep every other panic's report.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("Broken pipe") || msg.contains("os error 32") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_broken_pipe();
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
