//! `pki_core::pades::sign_pdf`: B-B and B-T signatures with RSA (PKCS#1 v1.5 and PSS) and ECDSA,
//! accepted by pdfsig and pyHanko; the certificate check before signing; no output left behind
//! on failure; `BatchSigner::sign_pdf_bytes` (in memory) against the file path.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should panic with its message"
)]

use interop_tests::{fixtures, require_tool, run, text, FixtureTsa};
use pki_core::cert::{parse_certificates, Certificate};
use pki_core::pades::{self, Level, PadesError, PadesOptions};
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    fixtures().join("pki").join(name)
}

fn chain(name: &str) -> Vec<Certificate> {
    parse_certificates(&std::fs::read(fixture(&format!("{name}.chain.pem"))).unwrap()).unwrap()
}

fn key(name: &str) -> hsm::SoftwareKey {
    hsm::SoftwareKey::from_pem(
        &std::fs::read_to_string(fixture(&format!("{name}.key.pem"))).unwrap(),
        name,
    )
    .unwrap()
}

fn minimal_pdf(path: &Path) {
    std::fs::write(path, pki_core::pdf::sample::one_page(&["Cong van so 1"])).unwrap();
}

fn pdfsig_verdicts(file: &Path) -> Option<String> {
    let pdfsig = require_tool("pdfsig")?;
    let o = run(Command::new(pdfsig).arg(file));
    Some(text(&o))
}

fn pyhanko_summary(file: &Path) -> Option<String> {
    let py = require_tool("pyhanko")?;
    let o = run(Command::new(py)
        .args([
            "sign",
            "validate",
            "--no-revocation-check",
            "--trust-replace",
            "--trust",
        ])
        .arg(fixture("root.pem"))
        .arg("--other-certs")
        .arg(fixture("issuing.pem"))
        .arg("--executive-summary")
        .arg(file));
    Some(text(&o))
}

#[test]
fn b_b_with_rsa_pss_and_ecdsa_is_accepted_by_pdfsig_and_pyhanko() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.pdf");
    minimal_pdf(&input);
    let before = std::fs::read(&input).unwrap();
    for (who, pss) in [
        ("officer-rsa", false),
        ("officer-rsa", true),
        ("officer-ec", false),
        ("agency", false),
    ] {
        let out = dir.path().join(format!("{who}-{pss}.pdf"));
        let mut o = PadesOptions::new(time::OffsetDateTime::now_utc());
        o.pss = pss;
        o.reason = Some("Phê duyệt văn bản".into());
        o.location = Some("Bắc Ninh".into());
        let s = pades::sign_pdf(&input, &out, &key(who), &chain(who), &o, None).unwrap();
        assert_eq!(s.level, Level::BB);
        if let Some(log) = pdfsig_verdicts(&out) {
            assert!(log.contains("Signature is Valid"), "{who} pss={pss}\n{log}");
        }
        if let Some(log) = pyhanko_summary(&out) {
            assert!(log.contains(":VALID"), "{who} pss={pss}\n{log}");
        }
    }
    assert_eq!(
        std::fs::read(&input).unwrap(),
        before,
        "the input was changed"
    );
}

#[test]
fn b_t_carries_a_signature_timestamp_from_the_tsa() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.pdf");
    minimal_pdf(&input);
    let tsa = FixtureTsa::start();
    let out = dir.path().join("bt.pdf");
    let mut o = PadesOptions::new(time::OffsetDateTime::now_utc());
    o.level = Level::BT;
    o.tsa_url = Some(tsa.url.clone());
    let fetcher = HttpFetcher;
    let s = pades::sign_pdf(
        &input,
        &out,
        &key("officer-rsa"),
        &chain("officer-rsa"),
        &o,
        Some(&fetcher),
    )
    .unwrap();
    assert!(s.timestamp_time.is_some());
    if let Some(log) = pdfsig_verdicts(&out) {
        assert!(log.contains("Signature is Valid"), "{log}");
    }
    if let Some(log) = pyhanko_summary(&out) {
        assert!(log.contains(":VALID"), "{log}");
    }
    // A dead TSA: a clear error, and no output file.
    drop(tsa);
    let out2 = dir.path().join("bt-dead.pdf");
    let e = pades::sign_pdf(
        &input,
        &out2,
        &key("officer-rsa"),
        &chain("officer-rsa"),
        &o,
        Some(&fetcher),
    )
    .unwrap_err();
    assert!(matches!(e, PadesError::Timestamp(_)), "{e}");
    assert!(!out2.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "{leftovers:?}");
}

#[test]
fn the_certificate_is_checked_before_signing() {
    let pool = pki_core::trust::CertPool::from_certs(
        parse_certificates(&std::fs::read(fixture("issuing.pem")).unwrap()).unwrap(),
    );
    let roots = pki_core::trust::CertPool::from_certs(
        parse_certificates(&std::fs::read(fixture("root.pem")).unwrap()).unwrap(),
    );
    let now = time::OffsetDateTime::now_utc();
    let expired = &chain("expired")[0];
    let e = pades::check_signer_certificate(expired, &pool, Some(&roots), now, None).unwrap_err();
    assert!(e.to_string().contains("expired on"), "{e}");
    let tsa = &chain("tsa")[0];
    assert!(pades::check_signer_certificate(tsa, &pool, Some(&roots), now, None).is_err());
    let ok =
        pades::check_signer_certificate(&chain("officer-rsa")[0], &pool, Some(&roots), now, None)
            .unwrap();
    assert!(
        ok.warnings.iter().any(|w| w.contains("offline")),
        "{:?}",
        ok.warnings
    );
    // A key with someone else's certificate is refused before anything is written.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.pdf");
    minimal_pdf(&input);
    let out = dir.path().join("x.pdf");
    let e = pades::sign_pdf(
        &input,
        &out,
        &key("officer-ec"),
        &chain("officer-rsa"),
        &PadesOptions::new(now),
        None,
    )
    .unwrap_err();
    assert!(matches!(e, PadesError::CertificateMismatch), "{e}");
    assert!(!out.exists());
}

/// A minimal fetcher over ureq for the test (the CLI has its own).
struct HttpFetcher;

impl pki_core::fetch::Fetcher for HttpFetcher {
    fn get(&self, url: &str, max_len: u64) -> Result<Vec<u8>, pki_core::fetch::FetchError> {
        self.post(url, "", &[], max_len)
    }
    fn post(
        &self,
        url: &str,
        content_type: &str,
        body: &[u8],
        _max_len: u64,
    ) -> Result<Vec<u8>, pki_core::fetch::FetchError> {
        // A plain HTTP/1.0 POST over a TcpStream: enough for a loopback TSA.
        use std::io::{Read, Write};
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest
            .split_once('/')
            .map(|(h, p)| (h, format!("/{p}")))
            .unwrap_or((rest, "/".into()));
        let mut s = std::net::TcpStream::connect(host).map_err(|e| {
            pki_core::fetch::FetchError::Unreachable {
                url: url.into(),
                source: Box::new(e),
            }
        })?;
        let head = format!("POST {path} HTTP/1.0\r\nHost: {host}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n", body.len());
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).unwrap();
        let split = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        Ok(resp[split..].to_vec())
    }
}

fn verify(file: &Path, online: bool) -> pki_core::report::Report {
    let anchors = pki_core::trust::CertPool::from_certs(
        parse_certificates(&std::fs::read(fixture("root.pem")).unwrap()).unwrap(),
    );
    let inter = pki_core::trust::CertPool::new();
    let policy = pki_core::crypto::AlgorithmPolicy::default();
    let fetcher = HttpFetcher;
    let opts = pki_core::pades::VerifyOptions {
        time: time::OffsetDateTime::now_utc(),
        anchors: &anchors,
        intermediates: &inter,
        policy: &policy,
        fetcher: if online { Some(&fetcher) } else { None },
    };
    pki_core::pades::verify_pdf(file, &opts).unwrap()
}

#[test]
fn our_verifier_on_our_signatures_tampering_and_a_second_signature() {
    use pki_core::report::Indication;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.pdf");
    minimal_pdf(&input);
    let tsa = FixtureTsa::start();
    let personal = dir.path().join("personal.pdf");
    let mut o = PadesOptions::new(time::OffsetDateTime::now_utc());
    o.level = Level::BT;
    o.tsa_url = Some(tsa.url.clone());
    pades::sign_pdf(
        &input,
        &personal,
        &key("officer-rsa"),
        &chain("officer-rsa"),
        &o,
        Some(&HttpFetcher),
    )
    .unwrap();
    let r = verify(&personal, false);
    assert_eq!(r.indication, Indication::TotalPassed, "{}", r.to_json());
    let s = &r.signatures[0];
    assert!(
        s.integrity && s.covers_whole_document && s.signing_time_proven,
        "{}",
        r.to_json()
    );
    assert_eq!(s.level.as_deref(), Some("PAdES-B-T"));
    assert_eq!(
        s.signer.as_ref().unwrap().common_name.as_deref(),
        Some("Nguyễn Văn An")
    );
    assert_eq!(s.chain.len(), 3);

    // A flipped byte inside the signed range.
    let mut bytes = std::fs::read(&personal).unwrap();
    let i = bytes
        .windows(13)
        .position(|w| w == b"Cong van so 1")
        .unwrap();
    bytes[i + 12] = b'2';
    let tampered = dir.path().join("tampered.pdf");
    std::fs::write(&tampered, &bytes).unwrap();
    let r = verify(&tampered, false);
    assert_eq!(r.indication, Indication::TotalFailed, "{}", r.to_json());
    assert_eq!(
        r.signatures[0].sub_indication.as_deref(),
        Some("HASH_FAILURE"),
        "{}",
        r.to_json()
    );
    assert!(!r.signatures[0].integrity);

    // The agency signs after the person: the newest signature covers everything; the first
    // passes too, the later signature being an allowed change.
    let both = dir.path().join("both.pdf");
    pades::sign_pdf(
        &personal,
        &both,
        &key("agency"),
        &chain("agency"),
        &PadesOptions::new(time::OffsetDateTime::now_utc()),
        None,
    )
    .unwrap();
    let r = verify(&both, false);
    assert_eq!(r.signatures.len(), 2, "{}", r.to_json());
    assert_eq!(
        r.signatures[1].indication,
        Indication::TotalPassed,
        "{}",
        r.to_json()
    );
    assert_eq!(
        r.signatures[0].indication,
        Indication::TotalPassed,
        "{}",
        r.to_json()
    );
    assert!(r.signatures[0]
        .modifications
        .iter()
        .all(|m| m.allowed && m.kind == "signature"));
    assert!(r.signatures[0].integrity);
    assert_eq!(r.signatures[0].revision, Some(2));
    assert_eq!(r.signatures[1].revision, Some(3));
    if let Some(log) = pdfsig_verdicts(&both) {
        assert_eq!(log.matches("Signature is Valid").count(), 2, "{log}");
    }
    // An unsigned file is not a signed document.
    let r = verify(&input, false);
    assert_eq!(r.indication, Indication::TotalFailed);
    assert!(r.signatures.is_empty());
}

#[test]
fn a_real_sample_signed_under_an_untrusted_ca_is_intact_but_indeterminate() {
    use pki_core::report::Indication;
    // The real Vietnamese sample: cryptographically valid, signed under an untrusted test CA.
    let sample = fixtures().join("samples-vn/pdf_vn-testca_pkcs7detached.pdf");
    let r = verify(&sample, false);
    assert_eq!(r.signatures.len(), 1, "{}", r.to_json());
    let s = &r.signatures[0];
    assert!(s.integrity, "{}", r.to_json());
    assert_eq!(s.indication, Indication::Indeterminate, "{}", r.to_json());
    assert_eq!(
        s.sub_indication.as_deref(),
        Some("NO_CERTIFICATE_CHAIN_FOUND"),
        "{}",
        r.to_json()
    );
}

#[test]
fn in_memory_signing_gives_the_bytes_the_file_path_writes() {
    // `BatchSigner::sign_pdf_bytes` (the signing service's in-memory path, decision 0035) and
    // `sign_pdf` (a file) must produce the same document up to the trailer's random /ID: same
    // length and /ByteRange; ours and pdfsig accept the in-memory one.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.pdf");
    minimal_pdf(&input);
    let (k, c) = (key("officer-rsa"), chain("officer-rsa"));
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let o = PadesOptions::new(now);
    let out = dir.path().join("file.pdf");
    pades::sign_pdf(&input, &out, &k, &c, &o, None).unwrap();
    let setup = pades::BatchSigner::new(&k, &c, &o).unwrap();
    assert!(setup.made_for(&o));
    let data = std::fs::read(&input).unwrap();
    let (bytes, signed) = setup
        .sign_pdf_bytes(&k, data, &o, None)
        .unwrap()
        .expect("B-B options it was made for are signed in memory");
    assert_eq!(signed.level, Level::BB);
    let from_file = std::fs::read(&out).unwrap();
    assert_eq!(bytes.len(), from_file.len());
    let byte_range = |b: &[u8]| {
        let at = b.windows(10).position(|w| w == b"/ByteRange").unwrap();
        b[at..at + 40].to_vec()
    };
    assert_eq!(byte_range(&bytes), byte_range(&from_file));
    assert!(bytes.starts_with(&std::fs::read(&input).unwrap()));
    let mem = dir.path().join("memory.pdf");
    std::fs::write(&mem, &bytes).unwrap();
    assert_eq!(
        verify(&mem, false).indication,
        pki_core::report::Indication::TotalPassed
    );
    if let Some(v) = pdfsig_verdicts(&mem) {
        assert!(v.contains("Signature is Valid"), "{v}");
    }
    // Another signing time or B-LT is not what the setup was made for: the caller is told to
    // take the file path, and nothing is signed.
    let mut later = o.clone();
    later.signing_time = now + time::Duration::seconds(1);
    assert!(!setup.made_for(&later));
    let data = std::fs::read(&input).unwrap();
    assert!(setup
        .sign_pdf_bytes(&k, data, &later, None)
        .unwrap()
        .is_none());
}
