//! Helpers shared by the remote-signer tests (CLI and service): signing a batch with `pki sign`,
//! one-page PDFs to sign, and the peer verdicts every output must get.

use crate::{fixtures, pki, require_tool, run, text};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A file of the generated test PKI (`fixtures/pki/NAME`), as a string for arguments.
pub fn fixture_pki(name: &str) -> String {
    fixtures().join("pki").join(name).display().to_string()
}

/// `pki sign FILES... --out-dir OUT --key KEY EXTRA...`.
pub fn sign_batch(files: &[PathBuf], out_dir: &Path, key: &str, extra: &[&str]) -> Output {
    let mut a: Vec<String> = vec!["sign".into()];
    a.extend(files.iter().map(|p| p.display().to_string()));
    a.extend([
        "--out-dir".into(),
        out_dir.display().to_string(),
        "--key".into(),
        key.into(),
    ]);
    a.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = a.iter().map(String::as_str).collect();
    pki(&refs)
}

/// `n` one-page PDFs `DIR/{stem}{i}.pdf` (i from 1), page text `line(i)`.
pub fn one_page_pdfs(
    dir: &Path,
    n: usize,
    stem: &str,
    line: impl Fn(usize) -> String,
) -> Vec<PathBuf> {
    (1..=n)
        .map(|i| {
            let p = dir.join(format!("{stem}{i}.pdf"));
            std::fs::write(&p, pki_core::pdf::sample::one_page(&[&line(i)]))
                .unwrap_or_else(|e| panic!("writing {}: {e}", p.display()));
            p
        })
        .collect()
}

/// pdfsig says every signature of `file` is valid.
pub fn pdfsig_ok(file: &Path) {
    if let Some(tool) = require_tool("pdfsig") {
        let log = text(&run(Command::new(tool).arg(file)));
        assert!(
            log.contains("Signature is Valid") && !log.contains("Signature is Invalid"),
            "pdfsig {}:\n{log}",
            file.display()
        );
    }
}

/// pyHanko's validator, trusting the test root (no revocation check), says `file` is VALID.
pub fn pyhanko_ok(file: &Path) {
    if let Some(py) = require_tool("pyhanko") {
        let o = run(Command::new(py)
            .args([
                "sign",
                "validate",
                "--no-revocation-check",
                "--trust-replace",
                "--trust",
            ])
            .arg(fixture_pki("root.pem"))
            .arg("--other-certs")
            .arg(fixture_pki("issuing.pem"))
            .arg("--executive-summary")
            .arg(file));
        assert!(
            text(&o).contains(":VALID"),
            "pyHanko {}:\n{}",
            file.display(),
            text(&o)
        );
    }
}
