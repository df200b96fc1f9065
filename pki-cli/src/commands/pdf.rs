//! `pki sign FILE.pdf` and `pki verify FILE.pdf`.

use crate::args::xml::{FormatArg, ProfileArg, SignArgs, VerifyArgs};
use crate::commands::common::time_arg;
use crate::error::{CliError, CmdResult, Exit};
use crate::output::Lang;
use pki_core::pades::{self, Level, PadesOptions};
use pki_core::pdf::appearance::layout::PT_PER_MM;
use pki_core::pdf::appearance::{self, AppearanceError, Font, Image, LayoutOptions, Profile};
use pki_core::pdf::sign::{DocMdp, SubFilter};
use pki_core::report::{self, Indication};

fn rlang(lang: Lang) -> report::Lang {
    match lang {
        Lang::Vi => report::Lang::Vi,
        Lang::En => report::Lang::En,
    }
}

/// `--rect X,Y,W,H`: points, or millimetres with an `mm` suffix on a number.
fn parse_rect(s: &str) -> Result<[f64; 4], CliError> {
    let bad = || {
        CliError::usage(format!(
            "--rect {s} is not X,Y,W,H (four numbers in points, or with mm: 20mm,20mm,60mm,25mm)"
        ))
    };
    let v: Vec<f64> = s
        .split(',')
        .map(|p| {
            let p = p.trim();
            match p.strip_suffix("mm") {
                Some(n) => n.trim().parse::<f64>().map(|v| v * PT_PER_MM),
                None => p.parse::<f64>(),
            }
        })
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    match v.as_slice() {
        [x, y, w, h] if v.iter().all(|n| n.is_finite()) && *w > 0.0 && *h > 0.0 => {
            Ok([*x, *y, *w, *h])
        }
        _ => Err(bad()),
    }
}

/// What a `pki sign` run decides once for all its PDFs.
#[derive(Debug)]
pub struct PdfRun {
    /// The visible layout (`None`: invisible).
    pub layout: Option<LayoutOptions>,
    /// The language of error sentences.
    pub lang: Lang,
    /// The key's signing set up once (keys at hand; `None` for remote signers).
    pub batch: Option<pades::BatchSigner>,
    /// The TSA, OCSP and CRL client, one for the run.
    pub fetcher: crate::fetch::HttpFetcher,
}

/// The visible-signature layout of a `pki sign` run, built once for a batch (the image and the
/// font are read once). `None`: an invisible signature.
pub fn layout_options(
    a: &SignArgs,
    chain: &[pki_core::cert::Certificate],
) -> Result<Option<LayoutOptions>, CliError> {
    let profile = match a.profile {
        ProfileArg::Personal => Profile::Personal,
        ProfileArg::Agency => Profile::Agency,
        ProfileArg::Attachment => Profile::Attachment,
        ProfileArg::Copy => Profile::Copy,
        ProfileArg::Plain => Profile::Plain,
        ProfileArg::Einvoice | ProfileArg::Edxml => {
            return Err(CliError::usage(format!(
                "--profile {} is for XML documents; PDF uses personal, agency, attachment, copy or plain",
                format!("{:?}", a.profile).to_lowercase()
            )))
        }
    };
    if profile == Profile::Plain && a.image.is_none() && a.text.is_none() {
        if a.rect.is_some() {
            return Err(CliError::usage(
                "--rect places a visible signature: give --image PNG and/or --text TEXT with it",
            ));
        }
        return Ok(None);
    }
    let mut o = LayoutOptions::new(profile);
    if let Some(p) = &a.image {
        let bytes = std::fs::read(p)
            .map_err(|e| CliError::from_error(format!("cannot read {}", p.display()), &e))?;
        let img = Image::from_png(&bytes)
            .map_err(|e| CliError::from_error(format!("cannot use {}", p.display()), &e))?;
        o.image = Some(std::sync::Arc::new(img));
    }
    if let Some(p) = &a.font {
        let bytes = std::fs::read(p)
            .map_err(|e| CliError::from_error(format!("cannot read {}", p.display()), &e))?;
        o.font = Font::from_bytes(bytes)
            .map_err(|e| CliError::from_error(format!("cannot use {}", p.display()), &e))?;
    }
    o.page = a.page.map(|p| p - 1);
    o.rect = a.rect.as_deref().map(parse_rect).transpose()?;
    o.anchor = a.anchor.clone();
    if let Some(mm) = a.seal_size {
        if !(mm.is_finite() && (5.0..=200.0).contains(&mm)) {
            return Err(CliError::usage(format!(
                "--seal-size {mm} is not a seal size in millimetres (5 to 200; Decree 30 seals are 36-40)"
            )));
        }
        o.seal_size_mm = Some(mm);
    }
    o.doc_number = a.doc_number.clone();
    o.copy_form = a.copy_form.clone();
    let subject = chain.first().map(|c| c.subject());
    o.copy_agency = a
        .copy_agency
        .clone()
        .or_else(|| subject.and_then(|s| s.organization().or(s.common_name()).map(str::to_owned)));
    o.text = a.text.as_ref().map(|t| t.replace("\\n", "\n"));
    o.signer_name = subject.and_then(|s| s.common_name().map(str::to_owned));
    Ok(Some(o))
}

fn layout_error(input: &std::path::Path, e: &AppearanceError, lang: Lang) -> CliError {
    let message = match lang {
        Lang::Vi => format!(
            "không đặt được chữ ký vào {}: {}",
            input.display(),
            e.to_vietnamese()
        ),
        Lang::En => format!("cannot place the signature in {}: {e}", input.display()),
    };
    match e {
        AppearanceError::Pdf(_) | AppearanceError::Image { .. } | AppearanceError::Font { .. } => {
            CliError::op(message)
        }
        _ => CliError::usage(message),
    }
}

/// The PAdES options `pki sign` asks for, for `input`: level, time-stamp, certification and the
/// visible layout placed on this document (shared by keys at hand and remote signers).
pub fn pades_options(
    a: &SignArgs,
    input: &std::path::Path,
    now: time::OffsetDateTime,
    run: &PdfRun,
) -> Result<PadesOptions, CliError> {
    let mut o = base_options(a, now)?;
    if let Some(l) = &run.layout {
        let placed =
            appearance::place(input, l, now).map_err(|e| layout_error(input, &e, run.lang))?;
        o.page = placed.page;
        o.appearance = placed.appearance;
    }
    Ok(o)
}

/// The PAdES options of a `pki sign` run before any layout is placed: the same for all its
/// documents.
pub fn base_options(a: &SignArgs, now: time::OffsetDateTime) -> Result<PadesOptions, CliError> {
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
    o.certify = a.certify.and_then(DocMdp::from_p);
    Ok(o)
}

/// Signs one PDF `input` into `output` with an opened key (the batch driver in
/// `commands::sign` opens the key, checks its certificate and builds the layout once).
pub fn sign_file(
    a: &SignArgs,
    input: &std::path::Path,
    output: &std::path::Path,
    signer: &dyn hsm::Signer,
    chain: &[pki_core::cert::Certificate],
    now: time::OffsetDateTime,
    run: &PdfRun,
) -> Result<String, CliError> {
    sign_file_data(a, input, None, output, signer, chain, now, run)
}

/// [`sign_file`] of a document already read whole (`data`, from
/// `pki_core::pdf::sign::read_small`), so a batch reads each small document once.
#[expect(
    clippy::too_many_arguments,
    reason = "sign_file's arguments and the bytes"
)]
pub fn sign_file_data(
    a: &SignArgs,
    input: &std::path::Path,
    data: Option<Vec<u8>>,
    output: &std::path::Path,
    signer: &dyn hsm::Signer,
    chain: &[pki_core::cert::Certificate],
    now: time::OffsetDateTime,
    run: &PdfRun,
) -> Result<String, CliError> {
    let o = pades_options(a, input, now, run)?;
    let fetcher = Some(&run.fetcher as &dyn pki_core::fetch::Fetcher);
    let signed = match (&run.batch, data) {
        (Some(b), Some(data)) => b.sign_pdf_data(signer, input, data, output, &o, fetcher),
        (Some(b), None) => b.sign_pdf(signer, input, output, &o, fetcher),
        (None, _) => pades::sign_pdf(input, output, signer, chain, &o, fetcher),
    }
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

/// `pki extend FILE.pdf -o OUT.pdf --tsa URL`: a B-LTA file's next document time-stamp, with
/// the validation data of the earlier ones.
pub fn extend(a: crate::args::ExtendArgs, lang: Lang) -> CmdResult {
    if !pki_core::pdf::looks_like_pdf(&a.file) {
        return Err(CliError::usage(format!(
            "{} is not a PDF; pki extend takes a signed PDF",
            a.file.display()
        )));
    }
    if crate::commands::common::same_file(&a.file, &a.out) {
        return Err(CliError::usage(format!(
            "{} would overwrite its input; the input is never modified, choose another output",
            a.out.display()
        )));
    }
    let mut extra = Vec::new();
    for p in &a.cert {
        extra.extend(crate::commands::common::load_certs(p)?);
    }
    let fetcher = crate::fetch::HttpFetcher::default();
    let when = if a.if_needed {
        pades::ltv::ExtendWhen::IfNeeded {
            margin: time::Duration::days(i64::from(a.margin)),
        }
    } else {
        pades::ltv::ExtendWhen::Always
    };
    let outcome = pades::ltv::extend_pdf_with(
        &a.file,
        &a.out,
        hsm::HashAlgorithm::Sha256,
        &a.tsa,
        &fetcher,
        &extra,
        time::OffsetDateTime::now_utc(),
        when,
    )
    .map_err(|e| CliError::from_error(format!("cannot extend {}", a.file.display()), &e))?;
    let done = match outcome {
        pades::ltv::ExtendOutcome::Extended(done) => done,
        pades::ltv::ExtendOutcome::NotNeeded {
            last_timestamp,
            tsa_not_after,
        } => {
            let (at, until) = (
                pki_core::time::vietnam(last_timestamp),
                pki_core::time::vietnam(tsa_not_after),
            );
            eprintln!(
                "{}",
                match lang {
                    Lang::Vi => format!(
                        "không cần gia hạn {}: dấu thời gian tài liệu mới nhất ({at}) còn hiệu lực đến {until}, quá {} ngày nữa; không ghi {}",
                        a.file.display(),
                        a.margin,
                        a.out.display()
                    ),
                    Lang::En => format!(
                        "{} needs no extension: its newest document time-stamp ({at}) stays verifiable until {until}, more than {} days away; {} was not written",
                        a.file.display(),
                        a.margin,
                        a.out.display()
                    ),
                }
            );
            return Ok(Exit::Ok);
        }
        _ => return Err(CliError::op("the document was not extended")),
    };
    let warn = if lang == Lang::Vi {
        "cảnh báo"
    } else {
        "warning"
    };
    for w in &done.warnings {
        eprintln!("{warn}: {w}");
    }
    let when = pki_core::time::vietnam(done.timestamp_time);
    eprintln!(
        "{}",
        match lang {
            Lang::Vi => format!(
                "đã gia hạn: {} (dấu thời gian tài liệu mới lúc {when}; dữ liệu xác thực cho {} dấu thời gian tài liệu, {} dấu thời gian chữ ký, {} người ký)",
                a.out.display(),
                done.renewed,
                done.signature_timestamps,
                done.signers_added
            ),
            Lang::En => format!(
                "extended: {} (new document time-stamp at {when}; validation data for {} document time-stamp(s), {} signature time-stamp(s), {} signer(s))",
                a.out.display(),
                done.renewed,
                done.signature_timestamps,
                done.signers_added
            ),
        }
    );
    Ok(Exit::Ok)
}
