//! CSC credentials that ask a one-time password (OTP) at each authorisation, end to end:
//! `pki sign --key csc:... --otp-source file:...` against the scripted CSC server, with an
//! online OTP (the server sends it on `credentials/sendOTP`, "texting" it to a file the
//! script reads) and an offline one (from the person's generator), v2 and v1 field names; the
//! output accepted by pdfsig and pyHanko. A wrong OTP, an expired OTP and an OTP credential
//! with nobody to give the OTP (no terminal, no source; the signing service at start) each end
//! with one sentence and no output file.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should panic with its message"
)]

use interop_tests::csc_server::{CscConfig, CscServer, Otp};
use interop_tests::remote::{pdfsig_ok, pyhanko_ok, sign_batch as sign};
use interop_tests::server::{server_bin, write_config, SIGNER_KEY};
use interop_tests::text;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

struct Work {
    dir: tempfile::TempDir,
}

impl Work {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("client"), "s3cret-client\n").unwrap();
        std::fs::write(dir.path().join("pin"), "123456\n").unwrap();
        Self { dir }
    }
    fn path(&self, n: &str) -> PathBuf {
        self.dir.path().join(n)
    }
    fn key(&self, api: &str, extra: &str) -> String {
        format!(
            "csc:{api}?credential=cred-001&client-id=van-thu-app&secret-source=file:{}&pin-source=file:{}&poll-ms=100{extra}",
            self.path("client").display(),
            self.path("pin").display()
        )
    }
    fn pdfs(&self, n: usize) -> Vec<PathBuf> {
        (1..=n)
            .map(|i| {
                let p = self.path(&format!("cv{i}.pdf"));
                std::fs::write(
                    &p,
                    pki_core::pdf::sample::one_page(&[&format!("Công văn số {i}/UBND-VP")]),
                )
                .unwrap();
                p
            })
            .collect()
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Exit 3, `expect` in the one error sentence, nothing written, no secret in the output.
fn fails_cleanly(o: &std::process::Output, out: &Path, expect: &str, secrets: &[&str]) {
    let log = text(o);
    assert_eq!(o.status.code(), Some(3), "{expect}: {log}");
    assert!(log.contains(expect), "expected \"{expect}\" in:\n{log}");
    let errors = String::from_utf8_lossy(&o.stderr)
        .lines()
        .filter(|l| l.starts_with("error:"))
        .count();
    assert_eq!(errors, 1, "one sentence: {log}");
    assert_eq!(files_in(out), Vec::<String>::new(), "files left: {expect}");
    for s in secrets {
        assert!(!log.contains(s), "a secret in the output: {log}");
    }
}

#[test]
fn an_online_otp_is_sent_read_and_used_for_one_authorisation_of_the_batch() {
    let w = Work::new();
    let sms = w.path("sms-inbox");
    let mut cfg = CscConfig::new("officer-rsa");
    cfg.otp = Some(Otp::Online {
        outbox: sms.clone(),
        ttl: Duration::from_secs(120),
    });
    let server = CscServer::start(cfg);
    let files = w.pdfs(3);
    let out = w.path("out");
    let otp_source = format!("file:{}", sms.display());
    let o = sign(
        &files,
        &out,
        &w.key(&server.api(), ""),
        &["--otp-source", &otp_source],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let st = server.stats();
    assert_eq!(
        (st.otps_sent, st.authorizations, st.sign_requests),
        (1, 1, 1),
        "{st:?}"
    );
    for i in 1..=3 {
        pdfsig_ok(&out.join(format!("cv{i}.pdf")));
    }
    pyhanko_ok(&out.join("cv2.pdf"));
    // The OTP never reaches the output.
    let used = std::fs::read_to_string(&sms).unwrap();
    assert!(!text(&o).contains(used.trim()), "{}", text(&o));
}

#[test]
fn an_offline_otp_with_v1_field_names_and_a_batch_over_two_authorisations() {
    let w = Work::new();
    let mut cfg = CscConfig::new("officer-rsa");
    cfg.v1 = true;
    cfg.offer_async = false;
    cfg.multisign = 2;
    cfg.otp = Some(Otp::Offline(vec!["314159".into(), "271828".into()]));
    let server = CscServer::start(cfg);
    let files = w.pdfs(3);
    let out = w.path("out");
    let otp_file = w.path("otp");
    std::fs::write(&otp_file, "314159\n").unwrap();
    // The second authorisation needs a new OTP: the "generator" shows it a moment later
    // (the first is used by then; the source waits for a different one).
    let writer = {
        let otp_file = otp_file.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1500));
            std::fs::write(&otp_file, "271828\n").unwrap();
        })
    };
    let otp_source = format!("file:{}", otp_file.display());
    let o = sign(
        &files,
        &out,
        &w.key(&server.api(), "&mode=sync"),
        &["--otp-source", &otp_source],
    );
    writer.join().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let st = server.stats();
    assert_eq!((st.otps_sent, st.authorizations), (0, 2), "{st:?}");
    for i in 1..=3 {
        pdfsig_ok(&out.join(format!("cv{i}.pdf")));
    }
    pyhanko_ok(&out.join("cv3.pdf"));
}

#[test]
fn a_wrong_otp_fails_with_one_sentence_and_no_output() {
    let w = Work::new();
    let mut cfg = CscConfig::new("officer-rsa");
    cfg.otp = Some(Otp::Offline(vec!["314159".into()]));
    let server = CscServer::start(cfg);
    std::fs::write(w.path("otp"), "000000\n").unwrap();
    let out = w.path("out");
    let src = format!("file:{}", w.path("otp").display());
    let o = sign(
        &w.pdfs(2),
        &out,
        &w.key(&server.api(), ""),
        &["--otp-source", &src],
    );
    fails_cleanly(&o, &out, "one-time password (OTP) was refused", &["000000"]);
    assert_eq!(server.stats().sign_requests, 0);
}

#[test]
fn an_expired_otp_fails_with_one_sentence_and_no_output() {
    let w = Work::new();
    let sms = w.path("sms-inbox");
    let mut cfg = CscConfig::new("officer-rsa");
    cfg.otp = Some(Otp::Online {
        outbox: sms.clone(),
        ttl: Duration::ZERO,
    });
    let server = CscServer::start(cfg);
    let out = w.path("out");
    let src = format!("file:{}", sms.display());
    let o = sign(
        &w.pdfs(1),
        &out,
        &w.key(&server.api(), ""),
        &["--otp-source", &src],
    );
    fails_cleanly(&o, &out, "expired before it was used", &[]);
    assert_eq!(server.stats().otps_sent, 1);
    assert_eq!(server.stats().sign_requests, 0);
}

#[test]
fn no_otp_source_and_no_terminal_is_refused_before_anything_is_sent() {
    let w = Work::new();
    let mut cfg = CscConfig::new("officer-rsa");
    cfg.otp = Some(Otp::Online {
        outbox: w.path("sms-inbox"),
        ttl: Duration::from_secs(60),
    });
    let server = CscServer::start(cfg);
    let out = w.path("out");
    let o = sign(&w.pdfs(1), &out, &w.key(&server.api(), ""), &[]);
    fails_cleanly(&o, &out, "asks a one-time password (OTP)", &[]);
    assert_eq!(server.stats().otps_sent, 0);
    // A source that never gives a fresh OTP: one sentence naming the file, after the timeout.
    let src = format!("file:{}", w.path("never").display());
    let o = sign(
        &w.pdfs(1),
        &out,
        &w.key(&server.api(), ""),
        &["--otp-source", &src, "--approval-timeout", "1"],
    );
    fails_cleanly(&o, &out, "no new one-time password (OTP)", &[]);
}

#[test]
fn the_signing_service_refuses_an_otp_credential_at_start() {
    let w = Work::new();
    let mut cfg = CscConfig::new("officer-rsa");
    cfg.otp = Some(Otp::Online {
        outbox: w.path("sms-inbox"),
        ttl: Duration::from_secs(60),
    });
    let server = CscServer::start(cfg);
    let p = write_config(w.dir.path(), None, None, "");
    let mut config = std::fs::read_to_string(&p).unwrap().replace(
        "keys = [\"officer\", \"agency\"]",
        "keys = [\"officer\", \"agency\", \"leader\"]",
    );
    config.push_str(&format!(
        "\n[keys.leader]\nkeyref = \"{}\"\n",
        w.key(&server.api(), "")
    ));
    std::fs::write(&p, config).unwrap();
    let _ = SIGNER_KEY;
    let mut child = Command::new(server_bin())
        .arg("--config")
        .arg(&p)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // It must stop by itself; a service that kept running would be killed after 60 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("sign-server started with an OTP credential");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = child.wait_with_output().unwrap();
    let log = text(&o);
    assert!(!o.status.success(), "{log}");
    assert!(
        log.contains("asks a one-time password (OTP)") && log.contains("leader"),
        "{log}"
    );
    assert_eq!(server.stats().otps_sent, 0);
}
