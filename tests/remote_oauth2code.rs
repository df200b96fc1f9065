//! CSC `authMode: oauth2code` end to end: `pki sign --key csc:...` prints the authorisation
//! URL; the test plays the browser (GETs the URL from the scripted server, which logs the
//! person in and redirects to `pki`'s loopback listener on 127.0.0.1 with the code and state);
//! `pki` exchanges the code (PKCE S256, checked by the server) for a credential-scoped token
//! and signs. pdfsig and pyHanko accept the output; a refused login gives one sentence and no
//! output; the signing service refuses such a credential at start.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should panic with its message"
)]

use interop_tests::csc_server::{CscConfig, CscServer, Script};
use interop_tests::remote::{one_page_pdfs, pdfsig_ok, pyhanko_ok};
use interop_tests::server::{request, server_bin, write_config};
use interop_tests::{pki_bin, text};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn key(dir: &Path, api: &str) -> String {
    std::fs::write(dir.join("client"), "s3cret-client\n").unwrap();
    format!(
        "csc:{api}?credential=cred-001&client-id=van-thu-app&secret-source=file:{}&poll-ms=100",
        dir.join("client").display()
    )
}

/// Runs `pki sign` and plays the browser for each authorisation URL it prints. Returns the
/// exit code, stderr, and what the loopback listener answered the browser.
fn sign_with_browser(
    server: &CscServer,
    files: &[PathBuf],
    out: &Path,
    key: &str,
) -> (Option<i32>, String, Vec<u16>) {
    let mut cmd = Command::new(pki_bin());
    cmd.arg("sign")
        .args(files)
        .arg("--out-dir")
        .arg(out)
        .arg("--key")
        .arg(key)
        .args(["--approval-timeout", "30"])
        .env("LANG", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut log = String::new();
    let mut answers = Vec::new();
    let mut reader = BufReader::new(stderr);
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 {
        log.push_str(&line);
        let l = line.trim();
        if let Some(path) = l
            .strip_prefix(&server.base)
            .filter(|p| p.starts_with("/oauth/oauth2/authorize?"))
        {
            // The browser: the provider's page logs the person in and redirects back.
            let r = request(&server.base, "GET", path, None, &[], b"").unwrap();
            if r.status == 302 {
                let loc = r.header("location").unwrap().to_owned();
                let (base, rest) = loc
                    .strip_prefix("http://")
                    .and_then(|l| l.split_once('/'))
                    .unwrap();
                assert!(base.starts_with("127.0.0.1:"), "{loc}");
                let back = request(
                    &format!("http://{base}"),
                    "GET",
                    &format!("/{rest}"),
                    None,
                    &[],
                    b"",
                )
                .unwrap();
                answers.push(back.status);
            } else {
                answers.push(r.status);
            }
        }
        line.clear();
    }
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    log.push_str(&rest);
    let status = child.wait().unwrap();
    (status.code(), log, answers)
}

#[test]
fn a_browser_login_authorises_the_batch_and_pdfsig_and_pyhanko_accept_it() {
    let mut cfg = CscConfig::new("officer-rsa");
    cfg.oauth2code = true;
    let server = CscServer::start(cfg);
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let files = one_page_pdfs(work.path(), 3, "tt", |i| {
        format!("Tờ trình số {i}/TTr-UBND")
    });
    let (code, log, answers) =
        sign_with_browser(&server, &files, &out, &key(work.path(), &server.api()));
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("Open this address in a browser"), "{log}");
    assert_eq!(
        answers,
        vec![200],
        "the loopback listener took the code: {log}"
    );
    let st = server.stats();
    assert_eq!(
        (
            st.logins,
            st.code_grants,
            st.authorizations,
            st.sign_requests
        ),
        (1, 1, 0, 1),
        "{st:?}"
    );
    // The code and the credential token never reach the output.
    assert!(!log.contains("code+") && !log.contains("ctok-"), "{log}");
    for i in 1..=3 {
        pdfsig_ok(&out.join(format!("tt{i}.pdf")));
    }
    pyhanko_ok(&out.join("tt1.pdf"));
}

#[test]
fn a_refused_login_gives_one_sentence_and_no_output() {
    let mut cfg = CscConfig::new("officer-rsa");
    cfg.oauth2code = true;
    cfg.script = Script::UserCancels;
    let server = CscServer::start(cfg);
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let (code, log, _) = sign_with_browser(
        &server,
        &one_page_pdfs(work.path(), 2, "tt", |i| {
            format!("Tờ trình số {i}/TTr-UBND")
        }),
        &out,
        &key(work.path(), &server.api()),
    );
    assert_eq!(code, Some(3), "{log}");
    assert!(log.contains("was refused"), "{log}");
    assert_eq!(
        log.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{log}"
    );
    assert!(std::fs::read_dir(&out).map_or(true, |mut d| d.next().is_none()));
    assert_eq!(server.stats().code_grants, 0);
}

#[test]
fn the_signing_service_refuses_a_browser_login_credential_at_start() {
    let mut cfg = CscConfig::new("officer-rsa");
    cfg.oauth2code = true;
    let server = CscServer::start(cfg);
    let work = tempfile::tempdir().unwrap();
    let p = write_config(work.path(), None, None, "");
    let mut config = std::fs::read_to_string(&p).unwrap().replace(
        "keys = [\"officer\", \"agency\"]",
        "keys = [\"officer\", \"agency\", \"leader\"]",
    );
    config.push_str(&format!(
        "\n[keys.leader]\nkeyref = \"{}\"\n",
        key(work.path(), &server.api())
    ));
    std::fs::write(&p, config).unwrap();
    let mut child = Command::new(server_bin())
        .arg("--config")
        .arg(&p)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("sign-server started with a browser-login credential");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = child.wait_with_output().unwrap();
    let log = text(&o);
    assert!(!o.status.success(), "{log}");
    assert!(log.contains("browser login (oauth2code)"), "{log}");
    assert_eq!(server.stats().logins, 0);
}
