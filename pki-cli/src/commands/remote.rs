//! `pki sign --key csc:... | mss:...`: signing with a key the person approves on a phone.
//!
//! Every document is prepared first (PDF: the incremental update with an empty `/Contents` in a
//! temporary file beside the output; XML: the document with an empty SignatureValue), then all
//! their hashes go out together — one approval where the service allows several signatures per
//! approval (CSC `multisign`; a PKI SIM signs one per approval) — and the documents are finished
//! when the signatures arrive. The officer is told to approve and sees that we wait; after
//! `--approval-timeout` we give up, remove every temporary file and write nothing.

use crate::args::xml::SignArgs;
use crate::commands::common::{looks_like_pdf, open_signer_with};
use crate::error::{CliError, CmdResult, Exit};
use crate::output::Lang;
use hsm::{RemoteEvent, RemoteOptions, SignatureAlgorithm, Signer};
use pki_core::cert::Certificate;
use pki_core::pades::{self, PendingPdf};
use pki_core::xml::sign::PendingXml;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Whether a key reference names a remote signer.
pub fn is_remote_key(keyref: &str) -> bool {
    let k = keyref.trim_start();
    k.starts_with("csc:") || k.starts_with("mss:")
}

/// Opens a remote key with a progress display for `count` documents.
pub fn open(
    a: &SignArgs,
    count: usize,
    lang: Lang,
) -> Result<(Arc<dyn Signer>, Vec<Certificate>), CliError> {
    let spinner: Arc<Mutex<Option<indicatif::ProgressBar>>> = Arc::new(Mutex::new(None));
    let terminal = std::io::stderr().is_terminal();
    let approval_timeout = Duration::from_secs(a.approval_timeout.max(1));
    // A credential that asks an OTP at each signing: from --otp-source (scripts), else the
    // terminal (with the spinner paused while the officer types), else nobody (refused).
    let otp_prompt: Option<Arc<dyn hsm::pin::PinPrompt>> = match &a.otp_source {
        Some(src) => Some(Arc::new(hsm::pin::OtpFile::new(src, approval_timeout)?)),
        None if std::io::stdin().is_terminal() => Some(Arc::new(OtpPrompt {
            inner: super::token::TerminalPrompt { lang },
            spinner: spinner.clone(),
        })),
        None => None,
    };
    let progress = move |e: &RemoteEvent| on_event(e, lang, terminal, &spinner);
    let opts = RemoteOptions {
        approval_timeout,
        otp_prompt,
        // A person runs `pki sign` (or a script for one): a credential authorised by browser
        // login (CSC oauth2code) prints the URL to open.
        browser_login: true,
        progress: Some(Arc::new(progress)),
        message: Some(match lang {
            Lang::Vi => format!("Ký {count} văn bản"),
            Lang::En => format!("Sign {count} document(s)"),
        }),
        ..RemoteOptions::default()
    };
    open_signer_with(
        &a.key,
        a.cert.as_deref(),
        a.pin_source.as_deref(),
        lang,
        opts,
    )
}

/// The terminal prompt for an OTP, with the "waiting" spinner paused while the officer types.
struct OtpPrompt {
    inner: super::token::TerminalPrompt,
    spinner: Arc<Mutex<Option<indicatif::ProgressBar>>>,
}

impl hsm::pin::PinPrompt for OtpPrompt {
    fn prompt(&self, req: &hsm::pin::PinRequest) -> Result<hsm::SecretString, hsm::Error> {
        let bar = self.spinner.lock().ok().and_then(|b| b.clone());
        match bar {
            Some(b) => b.suspend(|| self.inner.prompt(req)),
            None => self.inner.prompt(req),
        }
    }
}

fn on_event(
    e: &RemoteEvent,
    lang: Lang,
    terminal: bool,
    spinner: &Mutex<Option<indicatif::ProgressBar>>,
) {
    let Ok(mut sp) = spinner.lock() else { return };
    match e {
        RemoteEvent::ApprovalRequested {
            who,
            count,
            index,
            of,
        } => {
            let step = if *of > 1 {
                format!(" ({index}/{of})")
            } else {
                String::new()
            };
            let line = match lang {
                Lang::Vi => {
                    format!("Hãy xác nhận chữ ký trên điện thoại ({who}): {count} văn bản{step}")
                }
                Lang::En => format!(
                    "Approve the signature on your phone ({who}): {count} document(s){step}"
                ),
            };
            eprintln!("{line}");
            if terminal {
                let b = indicatif::ProgressBar::new_spinner();
                b.enable_steady_tick(Duration::from_millis(120));
                b.set_message(match lang {
                    Lang::Vi => "đang chờ xác nhận…",
                    Lang::En => "waiting for the approval…",
                });
                *sp = Some(b);
            }
        }
        RemoteEvent::Waiting {
            elapsed, timeout, ..
        } => {
            if let Some(b) = sp.as_ref() {
                b.set_message(match lang {
                    Lang::Vi => format!(
                        "đang chờ xác nhận… {} / {} giây",
                        elapsed.as_secs(),
                        timeout.as_secs()
                    ),
                    Lang::En => format!(
                        "waiting for the approval… {} s of {} s",
                        elapsed.as_secs(),
                        timeout.as_secs()
                    ),
                });
            }
        }
        RemoteEvent::BrowserLogin { who, url } => {
            let line = format!(
                "{}\n{url}",
                match lang {
                    Lang::Vi => format!(
                        "Hãy mở địa chỉ sau trong trình duyệt, đăng nhập và xác nhận chữ ký ({who}):"
                    ),
                    Lang::En => format!(
                        "Open this address in a browser, log in and authorise the signature ({who}):"
                    ),
                }
            );
            match sp.as_ref() {
                Some(b) => b.suspend(|| eprintln!("{line}")),
                None => eprintln!("{line}"),
            }
        }
        RemoteEvent::Approved { count, .. } => {
            if let Some(b) = sp.take() {
                b.finish_and_clear();
            }
            eprintln!(
                "{}",
                match lang {
                    Lang::Vi => format!("đã nhận {count} chữ ký"),
                    Lang::En => format!("received {count} signature(s)"),
                }
            );
        }
        _ => {}
    }
}

/// One prepared document.
enum Pending {
    Pdf(Box<PendingPdf>),
    Xml(PendingXml, super::xml::AfterSigning),
}

impl Pending {
    fn tbs(&self) -> &[u8] {
        match self {
            Self::Pdf(p) => p.to_be_signed(),
            Self::Xml(x, _) => &x.to_be_signed,
        }
    }

    fn abort(self) {
        if let Self::Pdf(p) = self {
            let _ = p.abort();
        }
    }
}

/// Prepares every document, signs all hashes with one approval per algorithm (normally one),
/// finishes them. A failure to sign aborts every document: nothing is written.
pub fn sign_batch(
    a: &SignArgs,
    pairs: &[(PathBuf, PathBuf)],
    signer: &dyn Signer,
    chain: &[Certificate],
    now: time::OffsetDateTime,
    pdf_run: &super::pdf::PdfRun,
) -> CmdResult {
    let lang = pdf_run.lang;
    let mut failed = 0usize;
    let mut prepared: Vec<(usize, SignatureAlgorithm, Pending)> = Vec::new();
    for (i, (input, output)) in pairs.iter().enumerate() {
        match prepare_one(a, input, output, signer, chain, now, pdf_run) {
            Ok((alg, p)) => prepared.push((i, alg, p)),
            Err(e) if pairs.len() == 1 => return Err(e),
            Err(e) => {
                e.print(lang);
                failed += 1;
            }
        }
    }
    if prepared.is_empty() {
        return Ok(Exit::Operational);
    }
    // Waiting for a person can take minutes: an officer who gives up with Ctrl-C must not be
    // left with prepared temporary files beside the outputs.
    remove_on_interrupt(
        lang,
        prepared
            .iter()
            .filter_map(|(_, _, p)| match p {
                Pending::Pdf(p) => Some(p.pdf.temp_path.clone()),
                Pending::Xml(..) => None,
            })
            .collect(),
    );
    // One request per algorithm: XML and PDF of one key agree, so this is one approval.
    let mut algs: Vec<SignatureAlgorithm> = Vec::new();
    for (_, alg, _) in &prepared {
        if !algs.contains(alg) {
            algs.push(*alg);
        }
    }
    let mut signatures: Vec<Option<Vec<u8>>> = vec![None; prepared.len()];
    for alg in algs {
        let idx: Vec<usize> = (0..prepared.len())
            .filter(|&k| prepared[k].1 == alg)
            .collect();
        let tbs: Vec<&[u8]> = idx.iter().map(|&k| prepared[k].2.tbs()).collect();
        match signer.sign_many(alg, &tbs) {
            Ok(sigs) => {
                for (k, s) in idx.into_iter().zip(sigs) {
                    signatures[k] = Some(s);
                }
            }
            Err(e) => {
                for (_, _, p) in prepared {
                    p.abort();
                }
                return Err(remote_error(&e, lang));
            }
        }
    }
    let fetcher = crate::fetch::HttpFetcher::default();
    for ((i, _, p), sig) in prepared.into_iter().zip(signatures) {
        let (input, output) = &pairs[i];
        let Some(sig) = sig else {
            p.abort();
            failed += 1;
            continue;
        };
        let r = match p {
            Pending::Pdf(p) => p
                .finish(&sig, Some(&fetcher))
                .map(|s| crate::commands::pdf::describe(&s))
                .map_err(|e| CliError::from_error(format!("cannot sign {}", input.display()), &e)),
            Pending::Xml(x, after) => {
                super::xml::finish_file(x, &sig, &after, input, output).map(|()| String::new())
            }
        };
        match r {
            Ok(detail) => eprintln!(
                "{} {}{}",
                match lang {
                    Lang::Vi => "đã ký:",
                    Lang::En => "signed:",
                },
                output.display(),
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(" ({detail})")
                }
            ),
            Err(e) if pairs.len() == 1 => return Err(e),
            Err(e) => {
                e.print(lang);
                failed += 1;
            }
        }
    }
    if pairs.len() > 1 {
        eprintln!(
            "{} {}/{}",
            match lang {
                Lang::Vi => "đã ký",
                Lang::En => "signed",
            },
            pairs.len() - failed,
            pairs.len()
        );
    }
    Ok(if failed == 0 {
        Exit::Ok
    } else {
        Exit::Operational
    })
}

/// On Ctrl-C or SIGTERM: removes `temps` and exits with 130 (interrupted). Runs on its own
/// thread with a small runtime; the files that were finished by then are already renamed, so
/// removing a missing path is harmless.
fn remove_on_interrupt(lang: Lang, temps: Vec<PathBuf>) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    // Registered here, before the request goes out, so that no signal is missed.
    #[cfg(unix)]
    let signals = rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    });
    std::thread::spawn(move || {
        #[cfg(unix)]
        rt.block_on(async move {
            let (mut int, mut term) = signals;
            tokio::select! {
                Some(_) = async { int.as_mut()?.recv().await } => {}
                Some(_) = async { term.as_mut()?.recv().await } => {}
                else => std::future::pending::<()>().await,
            }
        });
        #[cfg(not(unix))]
        rt.block_on(crate::commands::common::shutdown_signal());
        for t in &temps {
            let _ = std::fs::remove_file(t);
        }
        eprintln!(
            "{}",
            match lang {
                Lang::Vi => "đã dừng: không ký thêm văn bản nào",
                Lang::En => "interrupted: no further document was signed",
            }
        );
        std::process::exit(130);
    });
}

fn prepare_one(
    a: &SignArgs,
    input: &Path,
    output: &Path,
    signer: &dyn Signer,
    chain: &[Certificate],
    now: time::OffsetDateTime,
    pdf_run: &super::pdf::PdfRun,
) -> Result<(SignatureAlgorithm, Pending), CliError> {
    if looks_like_pdf(input) {
        let o = super::pdf::pades_options(a, input, now, pdf_run)?;
        let p = pades::prepare_pdf(input, output, signer, chain, &o)
            .map_err(|e| CliError::from_error(format!("cannot sign {}", input.display()), &e))?;
        let alg = p
            .algorithm()
            .map_err(|e| CliError::from_error(format!("cannot sign {}", input.display()), &e))?;
        Ok((alg, Pending::Pdf(Box::new(p))))
    } else {
        let (x, after) = super::xml::prepare_file(a, input, signer, chain, now)?;
        Ok((x.algorithm, Pending::Xml(x, after)))
    }
}

/// The remote signer's errors as one sentence in the officer's language.
fn remote_error(e: &hsm::Error, lang: Lang) -> CliError {
    use hsm::Error as E;
    let vi = match e {
        E::UserCancelled { who } => Some(format!(
            "yêu cầu ký đã bị từ chối trên điện thoại của {who}; không văn bản nào được ký"
        )),
        E::ApprovalTimeout { who, waited } => Some(format!(
            "không nhận được xác nhận từ {who} trong {} giây; không văn bản nào được ký, hãy xác nhận sớm hơn hoặc tăng --approval-timeout",
            waited.as_secs()
        )),
        E::TransactionExpired { who } => Some(format!(
            "yêu cầu ký gửi tới {who} đã hết hạn trước khi được xác nhận; không văn bản nào được ký, hãy gửi lại"
        )),
        E::RemotePinBlocked { who } => Some(format!(
            "mã PIN ký của {who} đã bị khóa do nhập sai nhiều lần; hãy liên hệ nhà cung cấp để mở khóa"
        )),
        E::WrongPin { token, .. } => Some(format!(
            "mã PIN của {token} không đúng; không văn bản nào được ký, hãy kiểm tra và thử lại"
        )),
        E::WrongOtp { who } => Some(format!(
            "mật khẩu dùng một lần (OTP) bị {who} từ chối; không văn bản nào được ký, hãy kiểm tra và ký lại"
        )),
        E::OtpExpired { who } => Some(format!(
            "mật khẩu dùng một lần (OTP) của {who} đã hết hạn trước khi được dùng; không văn bản nào được ký, hãy ký lại để nhận OTP mới"
        )),
        E::OtpRequired { who } => Some(format!(
            "{who} yêu cầu mật khẩu dùng một lần (OTP) mỗi lần ký nhưng không có ai để nhập; hãy ký bằng `pki sign` trên terminal, hoặc dùng --otp-source file:PATH trong script"
        )),
        _ => None,
    };
    match (lang, vi) {
        (Lang::Vi, Some(s)) => CliError::op(s),
        (_, _) => match e {
            E::ApprovalTimeout { .. } => {
                CliError::op(e.to_string()).hint("allow more time with --approval-timeout SECONDS")
            }
            _ => CliError::op(e.to_string()),
        },
    }
}
