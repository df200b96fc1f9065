//! `pki sign FILE.xml` and `pki verify FILE.xml`.

use crate::args::xml::{C14nArg, FormatArg, ProfileArg, SignArgs, VerifyArgs};
use crate::commands::common::{read_limited, time_arg};
use crate::error::{CliError, CmdResult, Exit};
use crate::output::Lang;
use pki_core::report;
use pki_core::xml::c14n::C14nMethod;
use pki_core::xml::sign::{PendingXml, Placement, Profile, SignOptions};
use pki_core::xml::verify::{Indication, VerifyOptions, XmlReport};
use pki_core::xml::XmlError;
use serde_json::json;

const MAX_XML: u64 = 64 * 1024 * 1024;

/// What a file holds, by its first bytes.
fn looks_like_xml(data: &[u8]) -> bool {
    let d = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    d.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<')
}

fn not_xml(path: &std::path::Path, data: &[u8]) -> CliError {
    let _ = data;
    CliError::op(format!(
        "{} is neither a PDF nor an XML document",
        path.display()
    ))
}

fn xml_err(path: &std::path::Path, e: &XmlError) -> CliError {
    CliError::from_error(format!("cannot process {}", path.display()), e)
}

/// Signs one XML file `input` into `output` with an opened key (the batch driver in
/// `commands::sign` opens the key and checks its certificate once).
pub fn sign_file(
    a: &SignArgs,
    input: &std::path::Path,
    output: &std::path::Path,
    key: &dyn hsm::Signer,
    chain: &[pki_core::cert::Certificate],
    now: time::OffsetDateTime,
) -> Result<(), CliError> {
    let (pending, after) = prepare_file(a, input, key, chain, now)?;
    let value = key.sign(pending.algorithm, &pending.to_be_signed)?;
    finish_file(pending, &value, &after, input, output)
}

/// What phase two adds after the signature value: a signature time-stamp (B-T) and the
/// certificate and revocation values (B-LT).
#[derive(Clone, Debug)]
pub struct AfterSigning {
    /// The TSA for B-T and B-LT.
    tsa: Option<String>,
    /// Whether to add B-LT values.
    long_term: bool,
    /// The signer's chain (for B-LT paths).
    chain: Vec<pki_core::cert::Certificate>,
    /// The signing time (revocation data is gathered for it).
    now: time::OffsetDateTime,
}

/// Phase one for XML: the document with an empty SignatureValue, and what phase two adds.
pub fn prepare_file(
    a: &SignArgs,
    input: &std::path::Path,
    key: &dyn hsm::Signer,
    chain: &[pki_core::cert::Certificate],
    now: time::OffsetDateTime,
) -> Result<(PendingXml, AfterSigning), CliError> {
    let data = read_limited(input, MAX_XML, "document")?;
    if !looks_like_xml(&data) {
        return Err(not_xml(input, &data));
    }
    let pdf_only = [
        ("--image", a.image.is_some()),
        ("--page", a.page.is_some()),
        ("--rect", a.rect.is_some()),
        ("--anchor", a.anchor.is_some()),
        ("--seal-size", a.seal_size.is_some()),
        ("--doc-number", a.doc_number.is_some()),
        ("--copy-form", a.copy_form.is_some()),
        ("--copy-agency", a.copy_agency.is_some()),
        ("--text", a.text.is_some()),
        ("--font", a.font.is_some()),
        ("--certify", a.certify.is_some()),
    ];
    if let Some((flag, _)) = pdf_only.iter().find(|(_, given)| *given) {
        return Err(CliError::usage(format!(
            "{flag} applies to PDF documents; {} is XML",
            input.display()
        )));
    }
    let mut o = SignOptions::new(now);
    o.profile = match a.profile {
        ProfileArg::Plain => Profile::Plain,
        ProfileArg::Einvoice => Profile::EInvoice,
        ProfileArg::Edxml => Profile::EdXml,
        p => {
            return Err(CliError::usage(format!(
                "--profile {} is a PDF layout; XML documents use plain, einvoice or edxml",
                format!("{p:?}").to_lowercase()
            )))
        }
    };
    o.placement = if a.enveloping {
        Placement::Enveloping
    } else if a.detached {
        Placement::Detached
    } else {
        Placement::Enveloped
    };
    if o.profile != Profile::Plain && o.placement != Placement::Enveloped {
        return Err(CliError::usage(
            "--enveloping and --detached apply to the plain profile only",
        ));
    }
    o.id = a.id.clone();
    o.c14n = a.c14n.map(|c| match c {
        C14nArg::Exc => C14nMethod::Exclusive10,
        C14nArg::Inclusive => C14nMethod::Inclusive10,
        C14nArg::C14n11 => C14nMethod::Inclusive11,
    });
    o.pss = a.pss;
    let mut tsa = None;
    let mut long_term = false;
    match a.level.as_deref().map(str::to_ascii_uppercase).as_deref() {
        None => {}
        Some("B-B" | "XADES-B-B") => o.xades = true,
        Some(l @ ("B-T" | "XADES-B-T" | "B-LT" | "XADES-B-LT")) => {
            o.xades = true;
            long_term = l.ends_with("LT");
            let url = a.tsa.as_deref().ok_or_else(|| {
                CliError::usage(format!(
                    "--level {} needs --tsa URL (a time-stamping authority)",
                    l.trim_start_matches("XADES-")
                ))
            })?;
            if !pki_core::fetch::is_http_url(url) {
                return Err(CliError::usage(format!(
                    "--tsa must be an http:// or https:// URL, not \"{url}\""
                )));
            }
            tsa = Some(url.to_owned());
        }
        Some(l) => {
            return Err(CliError::usage(format!(
                "unknown level {l} for XML; use B-B, B-T or B-LT (B-LTA is not available for XML)"
            )))
        }
    }
    let pending = pki_core::xml::sign::prepare(&data, key.key_kind(), &key.algorithms(), chain, &o)
        .map_err(|e| xml_err(input, &e))?;
    Ok((
        pending,
        AfterSigning {
            tsa,
            long_term,
            chain: chain.to_vec(),
            now,
        },
    ))
}

/// Phase two for XML: puts the signature value in, time-stamps for B-T, writes `output`
/// atomically.
pub fn finish_file(
    pending: PendingXml,
    value: &[u8],
    after: &AfterSigning,
    input: &std::path::Path,
    output: &std::path::Path,
) -> Result<(), CliError> {
    let sig_id = pending.signature_id.clone();
    let mut out = pending.finish(value).map_err(|e| xml_err(input, &e))?;
    if let Some(url) = &after.tsa {
        let fetcher = crate::fetch::HttpFetcher::default();
        let policy = pki_core::crypto::AlgorithmPolicy::default();
        out = pki_core::xml::xades::timestamp_signature(&out, &sig_id, &fetcher, url, &policy)
            .map_err(|e| xml_err(input, &e))?;
        if after.long_term {
            out = pki_core::xml::xades::add_long_term_values(
                &out,
                &sig_id,
                &after.chain,
                &fetcher,
                after.now,
                &policy,
            )
            .map_err(|e| xml_err(input, &e))?;
        }
    }
    pki_core::ca::dir::write_atomic(output, &out, false)
        .map_err(|e| CliError::from_error(format!("cannot write {}", output.display()), &e))?;
    Ok(())
}

/// `pki verify`: every file; the exit code is the worst verdict (an unreadable file is
/// reported and counts as an operational error).
pub fn verify(a: VerifyArgs, lang: Lang) -> CmdResult {
    let (anchors, inter) = crate::commands::common::load_trust_and_intermediates(&a.trust)?;
    let at = time_arg(a.at.as_deref())?;
    let fetcher = crate::fetch::HttpFetcher::default();
    let mut opts = VerifyOptions::new(at, &anchors, &inter);
    if !a.offline {
        opts.fetcher = Some(&fetcher);
    }
    let rlang = match lang {
        Lang::Vi => report::Lang::Vi,
        Lang::En => report::Lang::En,
    };
    let mut worst = Exit::Ok;
    let mut json = Vec::new();
    let mut text = String::new();
    for file in &a.files {
        let exit = match verify_one(file, &opts) {
            Ok(xml) => {
                let name = file.display().to_string();
                let rep = xml.to_report(&name);
                match a.format {
                    FormatArg::Json => json.push(report_json(&rep, &xml)),
                    FormatArg::Text => {
                        if !text.is_empty() {
                            text.push('\n');
                        }
                        text.push_str(&rep.render_text(rlang));
                    }
                    FormatArg::Html => text.push_str(&rep.render_html(rlang)),
                }
                match rep.indication {
                    Indication::TotalPassed => Exit::Ok,
                    Indication::TotalFailed => Exit::Invalid,
                    Indication::Indeterminate => Exit::Indeterminate,
                }
            }
            Err(e) if a.files.len() == 1 => return Err(e),
            Err(e) => {
                e.print(lang);
                Exit::Operational
            }
        };
        worst = worse(worst, exit);
    }
    if a.format == FormatArg::Json {
        let v = match json.len() {
            1 => json.remove(0),
            _ => serde_json::Value::Array(json),
        };
        text = serde_json::to_string_pretty(&v).unwrap_or_default();
        text.push('\n');
    }
    match &a.output {
        None => print!("{text}"),
        Some(p) => pki_core::ca::dir::write_atomic(p, text.as_bytes(), false)
            .map_err(|e| CliError::from_error(format!("cannot write {}", p.display()), &e))?,
    }
    Ok(worst)
}

/// Invalid beats operational beats indeterminate beats valid.
fn worse(a: Exit, b: Exit) -> Exit {
    let rank = |e: Exit| match e {
        Exit::Invalid => 3,
        Exit::Operational => 2,
        Exit::Indeterminate => 1,
        _ => 0,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

fn verify_one(file: &std::path::Path, opts: &VerifyOptions<'_>) -> Result<XmlReport, CliError> {
    let data = read_limited(file, MAX_XML, "document")?;
    if !looks_like_xml(&data) {
        return Err(not_xml(file, &data));
    }
    pki_core::xml::verify::verify(&data, opts).map_err(|e| xml_err(file, &e))
}

/// The CONTRACT.md report, with XML details per signature: where the Signature is, and each
/// reference (URI, what it covers, transforms, digest, whether it matched).
fn report_json(rep: &report::Report, xml: &XmlReport) -> serde_json::Value {
    let mut v = serde_json::to_value(rep).unwrap_or_default();
    if let Some(sigs) = v.get_mut("signatures").and_then(|s| s.as_array_mut()) {
        for (s, x) in sigs.iter_mut().zip(&xml.signatures) {
            if let Some(o) = s.as_object_mut() {
                o.insert("path".into(), json!(x.path));
                o.insert("references".into(), json!(x.references));
                o.insert("canonicalization".into(), json!(x.canonicalization));
            }
        }
    }
    v
}
