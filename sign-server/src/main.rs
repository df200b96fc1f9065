//! `sign-server [--config FILE] [--listen ADDR]`: the signing service. With no configuration it
//! starts on an embedded default (a demo PKI, SQLite and blobs under `./sign-server-data`,
//! 127.0.0.1) and prints how to call it.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// The signing service the document management system calls.
#[derive(Debug, Parser)]
#[command(name = "sign-server", version, about)]
struct Args {
    /// The configuration file (TOML); without it, the embedded demo default.
    #[arg(long, env = "SIGN_SERVER_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on (overrides the configuration and SIGN_SERVER_LISTEN).
    #[arg(long)]
    listen: Option<String>,
    /// Something other than serving.
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print a fresh API key and the SHA-256 to put in the configuration (api_key_sha256).
    NewApiKey,
    /// Print the OpenAPI document.
    Openapi,
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SIGN_SERVER_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
        )
        .init();
    match args.command {
        Some(Command::NewApiKey) => {
            return match sign_server::config::new_api_key() {
                Ok(k) => {
                    println!("api key (give it to the client, keep it secret): {k}");
                    println!(
                        "api_key_sha256 = \"{}\"",
                        sign_server::config::api_key_hash(&k)
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("sign-server: {e}");
                    ExitCode::from(3)
                }
            };
        }
        Some(Command::Openapi) => {
            println!(
                "{}",
                sign_server::openapi().to_pretty_json().unwrap_or_default()
            );
            return ExitCode::SUCCESS;
        }
        None => {}
    }
    let mut demo_note = None;
    let config = match &args.config {
        Some(p) => sign_server::config::Config::load(p),
        None => {
            let dir = std::env::var_os("SIGN_SERVER_DATA_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("sign-server-data"));
            sign_server::config::demo(&dir).map(|d| {
                demo_note = Some((d.signer_key_file, d.auditor_key_file));
                d.config
            })
        }
    };
    let mut config = match config {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sign-server: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(l) = args.listen {
        config.listen = l;
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sign-server: cannot start the runtime: {e}");
            return ExitCode::from(3);
        }
    };
    let listen = config.listen.clone();
    let result = rt.block_on(async move {
        let state = sign_server::AppState::new(config).await?;
        if let Some((signer, auditor)) = &demo_note {
            eprintln!(
                "sign-server: no --config given, running the embedded demo (data in {}).\n\
                 Sign a PDF:\n  curl -sf -H \"Authorization: Bearer $(cat {})\" --data-binary @in.pdf \
                 -o signed.pdf 'http://{listen}/v1/sign?key=officer&profile=personal'\n\
                 Keys you may use:   curl -s -H \"Authorization: Bearer $(cat {})\" http://{listen}/v1/keys\n\
                 Check the audit log: curl -s -H \"Authorization: Bearer $(cat {})\" http://{listen}/v1/audit/verify",
                state.config.data_dir.display(),
                signer.display(),
                signer.display(),
                auditor.display(),
            );
        }
        sign_server::run(state).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sign-server: {e}");
            ExitCode::from(3)
        }
    }
}
