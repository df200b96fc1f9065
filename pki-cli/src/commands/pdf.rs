//! `pki sign FILE.pdf` and `pki verify FILE.pdf`.

use crate::args::xml::{FormatArg, ProfileArg, SignArgs, VerifyArgs};
use crate::commands::common::time_arg;
use crate::error::{CliError, CmdResult, Exit};
use crate::output::Lang;
use pki_core::pades::{self, Level, PadesOptions};
use pki_core::pdf::sign::SubFilter;
use pki_core::report::{self, Indication};

fn rlang(lang: Lang) -> report::Lang {
    match lang {
        Lang::Vi => report::Lang::Vi,
        Lang::En => report::Lang::En,
    }
}

/// The PAdES options `pki sign` asks for (shared by the one-call path and the two-phase path
/// of remote signers).
pub fn pades_options(a: &SignArgs, now: time::OffsetDateTime) -> Result<PadesOptions, CliError> {
    if a.profile != ProfileArg::Plain {
        return Err(CliError::usage(format!(
            "the visible layout --profile {} is not available yet; sign with --profile plain (an invisible signature)",
            format!("{:?}", a.profile).to_lowercase()
        )));
    }
    if a.id.is_some() || a.c14n.is_some() || a.enveloping || a.detached {
        return Err(CliError::usage(
            "--id, --c14n, --enveloping and --detached apply to XML documents",
        ));
    }
    let mut o = PadesOptions::new(now);
    o.pss = a.pss;
    o.sync = !a.batch;
    o.reason = a.reason.clone();
    o.location = a.location.clone();
    if a.pkcs7 {
        o.sub_filter = SubFilter::Pkcs7Detached;
    }
    o.level = match a.level.as_deref() {
        None => Level::BB,
        Some(l) => Level::parse(l).ok_or_else(|| {
            CliError::usage(format!(
                "unknown level {l} for a PDF; use B-B, B-T, B-LT or B-LTA"
            ))
        })?,
    };
    if o.level.has_timestamp() {
        let url = a.tsa.as_deref().ok_or_else(|| {
            CliError::usage(format!(
                "--level {} needs --tsa URL (a time-stamping authority)",
                o.level.name().trim_start_matches("PAdES-")
            ))
        })?;
        o.tsa_url = Some(url.to_owned());
    }
    Ok(o)
}

/// Signs one PDF `input` into `output` with an opened key (the batch driver in
/// `commands::sign` opens the key and checks its certificate once).
pub fn sign_file(
    a: &SignArgs,
    input: &std::path::Path,
    output: &std::path::Path,
    signer: &dyn hsm::Signer,
    chain: &[pki_core::cert::Certificate],
    now: time::OffsetDateTime,
) -> Result<String, CliError> {
    let o = pades_options(a, now)?;
    let fetcher = crate::fetch::HttpFetcher::default();
    let signed = pades::sign_pdf(input, output, signer, chain, &o, Some(&fetcher))
        .map_err(|e| CliError::from_error(format!("cannot sign {}", input.display()), &e))?;
    Ok(describe(&signed))
}

/// "Signature1, PAdES-B-B, sha256WithRSAEncryption".
pub fn describe(signed: &pades::Signed) -> String {
    format!(
        "{}, {}, {}",
        signed.field_name,
        signed.level.name(),
        signed.algorithm.name()
    )
}

/// `pki verify` for PDF files: every signature of every file; the exit code is the worst
/// verdict.
pub fn verify(a: VerifyArgs, lang: Lang) -> CmdResult {
    let (anchors, inter) = crate::commands::common::load_trust_and_intermediates(&a.trust)?;
    let at = time_arg(a.at.as_deref())?;
    let policy = pki_core::crypto::AlgorithmPolicy::default();
    let fetcher = crate::fetch::HttpFetcher::default();
    let opts = pades::VerifyOptions {
        time: at,
        anchors: &anchors,
        intermediates: &inter,
        policy: &policy,
        fetcher: if a.offline { None } else { Some(&fetcher) },
    };
    let mut worst = Indication::TotalPassed;
    let mut out = String::new();
    let mut json = Vec::new();
    for f in &a.files {
        let rep = pades::verify_pdf(f, &opts)
            .map_err(|e| CliError::from_error(format!("cannot verify {}", f.display()), &e))?;
        worst = worst.worst(rep.indication);
        match a.format {
            FormatArg::Json => json.push(serde_json::to_value(&rep).unwrap_or_default()),
            FormatArg::Text => out.push_str(&rep.render_text(rlang(lang))),
            FormatArg::Html => out.push_str(&rep.render_html(rlang(lang))),
        }
    }
    if a.format == FormatArg::Json {
        let v = if json.len() == 1 {
            json.remove(0)
        } else {
            serde_json::Value::Array(json)
        };
        out = serde_json::to_string_pretty(&v).unwrap_or_default();
        out.push('\n');
    }
    match &a.output {
        None => print!("{out}"),
        Some(p) => pki_core::ca::dir::write_atomic(p, out.as_bytes(), false)
            .map_err(|e| CliError::from_error(format!("cannot write {}", p.display()), &e))?,
    }
    Ok(match worst {
        Indication::TotalPassed => Exit::Ok,
        Indication::TotalFailed => Exit::Invalid,
        Indication::Indeterminate => Exit::Indeterminate,
    })
}
