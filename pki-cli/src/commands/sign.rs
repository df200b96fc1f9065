//! `pki sign FILE... (-o OUT | --out-dir DIR)`: one or many documents, PDF or XML by content,
//! with one opening of the key (one token login) and one check of its certificate; a progress
//! bar on a terminal for batches. A failed document is reported and the others go on; nothing
//! is half-written (each output is written to a temporary file and renamed).

use crate::args::xml::SignArgs;
use crate::commands::common::{looks_like_pdf, open_signer};
use crate::error::{CliError, CmdResult, Exit};
use crate::output::Lang;
use pki_core::trust::CertPool;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// How often a batch syncs the outputs written so far in the background.
const SYNC_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// The (input, output) pairs of a run.
fn plan(a: &SignArgs) -> Result<Vec<(PathBuf, PathBuf)>, CliError> {
    use std::os::unix::fs::MetadataExt;
    // Each input, and for a regular file listed from a directory, that directory's (device,
    // inode): the listing's file type costs no `stat`, and the output check below can then
    // skip two `stat`s per document.
    let mut inputs: Vec<(PathBuf, Option<(u64, u64)>)> = Vec::new();
    for f in &a.files {
        if f.is_dir() {
            let dir_id = std::fs::metadata(f).ok().map(|m| (m.dev(), m.ino()));
            let mut found: Vec<(PathBuf, Option<(u64, u64)>)> = std::fs::read_dir(f)
                .map_err(|e| CliError::from_error(format!("cannot read {}", f.display()), &e))?
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let p = e.path();
                    let wanted = matches!(
                        p.extension()
                            .and_then(|e| e.to_str())
                            .map(str::to_ascii_lowercase)
                            .as_deref(),
                        Some("pdf" | "xml")
                    );
                    if !wanted {
                        return None;
                    }
                    match e.file_type() {
                        Ok(t) if t.is_file() => Some((p, dir_id)),
                        // A link (or an unknown type): follow it, and check it in full.
                        _ => p.is_file().then_some((p, None)),
                    }
                })
                .collect();
            found.sort();
            inputs.extend(found);
        } else {
            inputs.push((f.clone(), None));
        }
    }
    if inputs.is_empty() {
        return Err(CliError::usage("no PDF or XML document to sign was found"));
    }
    let mut out_dir_id = None;
    let pairs: Vec<(PathBuf, PathBuf)> = match (&a.out, &a.out_dir) {
        (Some(out), None) if inputs.len() == 1 => vec![(inputs[0].0.clone(), out.clone())],
        (Some(_), None) => {
            return Err(CliError::usage(
                "several documents need --out-dir DIR, not -o",
            ))
        }
        (None, Some(dir)) => {
            std::fs::create_dir_all(dir).map_err(|e| {
                CliError::from_error(format!("cannot create {}", dir.display()), &e)
            })?;
            out_dir_id = std::fs::metadata(dir).ok().map(|m| (m.dev(), m.ino()));
            inputs
                .iter()
                .map(|(i, _)| (i.clone(), dir.join(i.file_name().unwrap_or_default())))
                .collect()
        }
        _ => {
            return Err(CliError::usage(
                "say where the signed document goes: -o OUT or --out-dir DIR",
            ))
        }
    };
    for ((i, o), (_, listed_in)) in pairs.iter().zip(&inputs) {
        // A regular file (not a link) listed from a directory other than the output directory
        // cannot be replaced by the output's rename, which only touches the output directory.
        if listed_in.is_some() && out_dir_id.is_some() && *listed_in != out_dir_id {
            continue;
        }
        if crate::commands::common::same_file(i, o) {
            return Err(CliError::usage(format!(
                "{} would overwrite its input; the input is never modified, choose another output",
                o.display()
            )));
        }
    }
    Ok(pairs)
}

/// Runs `pki sign`.
pub fn run(mut a: SignArgs, lang: Lang) -> CmdResult {
    let pairs = plan(&a)?;
    a.batch = pairs.len() > 1;
    let (signer, chain) = if super::remote::is_remote_key(&a.key) {
        super::remote::open(&a, pairs.len(), lang)?
    } else {
        open_signer(&a.key, a.cert.as_deref(), a.pin_source.as_deref(), lang)?
    };
    let now = time::OffsetDateTime::now_utc();
    // The law asks signing software to refuse an invalid certificate: check it once, first
    // (validity, purpose, chain to its own root when given, online revocation).
    let fetcher = crate::fetch::HttpFetcher::default();
    let inter = CertPool::from_certs(chain[1..].iter().cloned());
    let anchors = chain
        .last()
        .filter(|c| c.is_self_issued())
        .map(|root| CertPool::from_certs([root.clone()]));
    let check = pki_core::pades::check_signer_certificate(
        &chain[0],
        &inter,
        anchors.as_ref(),
        now,
        Some(&fetcher),
    )
    .map_err(|e| CliError::op(e.to_string()))?;
    let warn = if lang == Lang::Vi {
        "cảnh báo"
    } else {
        "warning"
    };
    for w in &check.warnings {
        eprintln!("{warn}: {w}");
    }
    // The visible layout (image and font read once), for the PDF inputs.
    let any_pdf = pairs.iter().any(|(i, _)| looks_like_pdf(i));
    let pdf_run = super::pdf::PdfRun {
        layout: if any_pdf {
            super::pdf::layout_options(&a, &chain)?
        } else {
            None
        },
        lang,
        // The per-key work (algorithm, /Contents size, the CMS template) once for the run.
        batch: if any_pdf && !signer.is_remote() {
            let o = super::pdf::base_options(&a, now)?;
            Some(
                pki_core::pades::BatchSigner::new(signer.as_ref(), &chain, &o).map_err(|e| {
                    CliError::from_error("cannot sign with this key".to_string(), &e)
                })?,
            )
        } else {
            None
        },
        fetcher,
    };
    if signer.is_remote() {
        // Prepare everything, one approval on the phone, then finish (commands::remote).
        return super::remote::sign_batch(&a, &pairs, signer.as_ref(), &chain, now, &pdf_run);
    }
    if pairs.len() == 1 {
        let (input, output) = &pairs[0];
        let detail = sign_one(&a, input, output, signer.as_ref(), &chain, now, &pdf_run)?;
        eprintln!("{}", signed_line(lang, output, &detail));
        return Ok(Exit::Ok);
    }
    let bar = std::io::stderr().is_terminal().then(|| {
        let b = indicatif::ProgressBar::new(pairs.len() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    // Workers take the next document in turn; the key is shared (software keys sign from any
    // thread, tokens through their session pool).
    let jobs = a
        .jobs
        .map(usize::from)
        .or_else(|| std::thread::available_parallelism().ok().map(usize::from))
        .unwrap_or(1)
        .min(pairs.len());
    let next = AtomicUsize::new(0);
    let failed = Mutex::new(Vec::new());
    // The output directories, opened once: synced in the background while the workers sign and
    // once more at the end (decision 0019: the batch reports success only after its outputs
    // are on disk).
    let mut dirs: Vec<&Path> = pairs
        .iter()
        .map(|(_, o)| {
            o.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    let dir_files = dirs
        .iter()
        .map(|d| {
            std::fs::File::open(d)
                .map_err(|e| CliError::from_error(format!("cannot open {}", d.display()), &e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let written = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        // Background write-back (decision 0037): every SYNC_EVERY, the outputs written since the
        // last pass are synced while the workers go on signing, so the final sync below waits
        // only for the last ones instead of the whole batch. It sleeps while nothing is new.
        let syncer = scope.spawn(|| {
            let mut synced = 0;
            while !done.load(Ordering::Acquire) {
                std::thread::park_timeout(SYNC_EVERY);
                let now_written = written.load(Ordering::Relaxed);
                if now_written > synced && !done.load(Ordering::Acquire) {
                    for f in &dir_files {
                        // An error here is seen again by the final sync, which reports it.
                        let _ = rustix::fs::syncfs(f);
                    }
                    synced = now_written;
                }
            }
        });
        let workers: Vec<_> = (0..jobs)
            .map(|_| {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((input, output)) = pairs.get(i) else {
                        break;
                    };
                    if let Some(b) = &bar {
                        b.set_message(input.display().to_string());
                    }
                    match sign_one(&a, input, output, signer.as_ref(), &chain, now, &pdf_run) {
                        Ok(detail) => {
                            written.fetch_add(1, Ordering::Relaxed);
                            let line = signed_line(lang, output, &detail);
                            match &bar {
                                Some(b) => b.println(line),
                                None => {
                                    // One write per line (eprintln! writes the newline apart).
                                    use std::io::Write;
                                    let _ =
                                        std::io::stderr().write_all(format!("{line}\n").as_bytes());
                                }
                            }
                        }
                        Err(e) => {
                            match &bar {
                                Some(b) => b.suspend(|| e.print(lang)),
                                None => e.print(lang),
                            }
                            if let Ok(mut f) = failed.lock() {
                                f.push(input.clone());
                            }
                        }
                    }
                    if let Some(b) = &bar {
                        b.inc(1);
                    }
                })
            })
            .collect();
        for w in workers {
            // A worker that panicked leaves its document unsigned: count the run as failed.
            if w.join().is_err() {
                if let Ok(mut f) = failed.lock() {
                    f.push(PathBuf::from("(a worker stopped unexpectedly)"));
                }
            }
        }
        done.store(true, Ordering::Release);
        syncer.thread().unpark();
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    // The outputs were not synced one by one: one sync of each output file system now, before
    // saying they are done.
    for (d, f) in dirs.iter().zip(&dir_files) {
        rustix::fs::syncfs(f)
            .map_err(std::io::Error::from)
            .map_err(|e| CliError::from_error(format!("cannot sync {}", d.display()), &e))?;
    }
    let failed = failed.into_inner().unwrap_or_default();
    eprintln!(
        "{} {}/{}",
        if lang == Lang::Vi {
            "đã ký"
        } else {
            "signed"
        },
        pairs.len() - failed.len(),
        pairs.len()
    );
    Ok(if failed.is_empty() {
        Exit::Ok
    } else {
        Exit::Operational
    })
}

/// Signs one document, PDF or XML by content.
fn sign_one(
    a: &SignArgs,
    input: &Path,
    output: &Path,
    signer: &dyn hsm::Signer,
    chain: &[pki_core::cert::Certificate],
    now: time::OffsetDateTime,
    pdf_run: &super::pdf::PdfRun,
) -> Result<String, CliError> {
    // With a key at hand, a small document is read once: the same bytes tell PDF from XML and
    // are signed in memory.
    if let Some(b) = &pdf_run.batch {
        let data = pki_core::pdf::sign::read_small(
            input,
            pki_core::pdf::sign::IN_MEMORY_MAX,
            b.contents_size(),
        )
        .map_err(|e| CliError::from_error(format!("cannot sign {}", input.display()), &e))?;
        if let Some(data) = data {
            return if pki_core::pdf::is_pdf_header(&data) {
                super::pdf::sign_file_data(
                    a,
                    input,
                    Some(data),
                    output,
                    signer,
                    chain,
                    now,
                    pdf_run,
                )
            } else {
                super::xml::sign_file(a, input, output, signer, chain, now).map(|()| String::new())
            };
        }
    }
    if looks_like_pdf(input) {
        super::pdf::sign_file(a, input, output, signer, chain, now, pdf_run)
    } else {
        super::xml::sign_file(a, input, output, signer, chain, now).map(|()| String::new())
    }
}

/// `signed: OUT (detail)`.
fn signed_line(lang: Lang, output: &Path, detail: &str) -> String {
    format!(
        "{} {}{}",
        if lang == Lang::Vi {
            "đã ký:"
        } else {
            "signed:"
        },
        output.display(),
        if detail.is_empty() {
            String::new()
        } else {
            format!(" ({detail})")
        }
    )
}
