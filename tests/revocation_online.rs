//! `pki cert verify` checks revocation online from the certificate's CRL distribution point,
//! says which source it used, and gives INDETERMINATE (exit 4), not a hang, when the server
//! is unreachable or hangs.

use interop_tests::{pki, text, Behaviour, TestServer};
use std::collections::HashMap;
use std::time::{Duration, Instant};

fn verify(dir: &std::path::Path, name: &str, timeout: &str) -> (std::process::Output, Duration) {
    let t = Instant::now();
    let o = std::process::Command::new(interop_tests::pki_bin())
        .args(["cert", "verify", "--json", "--trust"])
        .arg(dir.join("root.pem"))
        .arg("--chain")
        .arg(dir.join("issuing.pem"))
        .arg(dir.join(format!("{name}.pem")))
        .env("PKI_HTTP_TIMEOUT", timeout)
        .output()
        .expect("run pki");
    (o, t.elapsed())
}

#[test]
fn online_crl_from_the_distribution_point() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let (listener, base) = TestServer::bind();
    let crl_url = format!("{base}/issuing.crl");
    let o = pki(&[
        "ca",
        "test-pki",
        dir.to_str().unwrap(),
        "--crl-url",
        &crl_url,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let crl = std::fs::read(dir.join("issuing/crl.der")).unwrap();
    let routes = HashMap::from([(
        "/issuing.crl".to_string(),
        ("application/pkix-crl".to_string(), crl),
    )]);
    let server = TestServer::start(listener, routes, Behaviour::Serve);

    let (o, _) = verify(&dir, "officer-rsa", "10");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["revocation"]["status"], "good", "{v}");
    assert_eq!(v["revocation"]["source"], "crl", "{v}");

    let (o, _) = verify(&dir, "revoked", "10");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["sub_indication"], "REVOKED", "{v}");
    drop(server);

    // The same port now refuses connections.
    let (o, elapsed) = verify(&dir, "officer-rsa", "2");
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["sub_indication"], "TRY_LATER", "{v}");
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
}

#[test]
fn hanging_server_gives_try_later_within_the_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let (listener, base) = TestServer::bind();
    let o = pki(&[
        "ca",
        "test-pki",
        dir.to_str().unwrap(),
        "--crl-url",
        &format!("{base}/issuing.crl"),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let _server = TestServer::start(listener, HashMap::new(), Behaviour::Hang);
    let (o, elapsed) = verify(&dir, "officer-rsa", "1");
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["sub_indication"], "TRY_LATER", "{v}");
    let errors = v["errors"].to_string();
    assert!(errors.contains("did not answer in time"), "{errors}");
    // Bounded by the timeout (1 s), with generous slack for a loaded machine.
    assert!(elapsed < Duration::from_secs(15), "took {elapsed:?}");
}
