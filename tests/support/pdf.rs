//! Helpers for tests that build, sign, change and verify PDFs in memory (the attack tests).

use pki_core::cert::{parse_certificates, Certificate};
use pki_core::pades::{self, PadesOptions};
use pki_core::pdf::writer::IncrementalUpdate;
use pki_core::pdf::PdfReader;
use pki_core::report::Report;
use std::io::Cursor;
use std::path::PathBuf;

/// A file of the fixture PKI.
pub fn fixture(name: &str) -> PathBuf {
    crate::fixtures().join("pki").join(name)
}

/// A fixture signer's chain (`NAME.chain.pem`).
pub fn chain(name: &str) -> Vec<Certificate> {
    let data = std::fs::read(fixture(&format!("{name}.chain.pem"))).expect("fixture chain");
    parse_certificates(&data).expect("fixture chain parses")
}

/// A fixture signer's software key (`NAME.key.pem`).
pub fn key(name: &str) -> hsm::SoftwareKey {
    let pem = std::fs::read_to_string(fixture(&format!("{name}.key.pem"))).expect("fixture key");
    hsm::SoftwareKey::from_pem(&pem, name).expect("fixture key parses")
}

/// A reader over bytes in memory.
pub fn reader(bytes: &[u8]) -> PdfReader<Cursor<Vec<u8>>> {
    PdfReader::new(Cursor::new(bytes.to_vec()), bytes.len() as u64).expect("a readable PDF")
}

/// `base` with the update `u` appended.
pub fn append(base: &[u8], u: &IncrementalUpdate) -> Vec<u8> {
    let mut out = base.to_vec();
    out.extend(u.serialize().expect("the update serialises").bytes);
    out
}

/// `input` signed by the fixture signer `who` (B-B, invisible).
pub fn sign(input: &[u8], who: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    let (i, o) = (dir.path().join("in.pdf"), dir.path().join("out.pdf"));
    std::fs::write(&i, input).expect("write input");
    let opts = PadesOptions::new(time::OffsetDateTime::now_utc());
    pades::sign_pdf(&i, &o, &key(who), &chain(who), &opts, None).expect("signing");
    std::fs::read(&o).expect("read output")
}

/// Verifies `bytes` offline against the fixture root; `None` when the file as a whole is
/// refused with an error.
pub fn try_verify(bytes: &[u8]) -> Option<Report> {
    let dir = tempfile::tempdir().expect("temp dir");
    let f = dir.path().join("doc.pdf");
    std::fs::write(&f, bytes).expect("write document");
    let root = std::fs::read(fixture("root.pem")).expect("fixture root");
    let anchors = pki_core::trust::CertPool::from_certs(
        parse_certificates(&root).expect("fixture root parses"),
    );
    let inter = pki_core::trust::CertPool::new();
    let policy = pki_core::crypto::AlgorithmPolicy::default();
    let opts = pades::VerifyOptions {
        time: time::OffsetDateTime::now_utc(),
        anchors: &anchors,
        intermediates: &inter,
        policy: &policy,
        fetcher: None,
    };
    pades::verify_pdf(&f, &opts).ok()
}
