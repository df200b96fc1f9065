//! OCSP (RFC 6960) against OpenSSL, both ways:
//!
//! - our client (`pki ocsp query`) asks an `openssl ocsp` responder. `openssl ocsp -port` listens
//!   on all addresses, so it runs in a network namespace of the test's own and the client runs in
//!   the same namespace (`ip netns exec`): nothing is reachable from outside the machine.
//! - `openssl ocsp` as a client asks `pki ocsp serve` (bound to 127.0.0.1) and verifies the answer.
//! - tampered, misdirected and replayed OpenSSL responses fail in our verifier.
//! - unreachable and hanging responders give exit 3 and one sentence, quickly.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: an unexpected failure is a test failure"
)]

use interop_tests::{fixtures, in_ci, pki, pki_bin, require_tool, run, text, Running};
use pki_core::cert::{parse_certificates, Certificate};
use pki_core::ocsp::{
    verify_response, CertId, OcspOutcome, OcspPolicy, OcspProblem, OcspRequest, OcspResponse,
};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

fn openssl(dir: &Path, args: &[&str]) -> Output {
    let o = run(Command::new("openssl").args(args).current_dir(dir));
    assert!(o.status.success(), "openssl {args:?} failed:\n{}", text(&o));
    o
}

fn cert(path: &Path) -> Certificate {
    parse_certificates(&std::fs::read(path).unwrap())
        .unwrap()
        .remove(0)
}

const CA_CNF: &str = "\
[ca]
default_ca = test_ca
[test_ca]
dir = .
database = ./index.txt
new_certs_dir = ./issued
serial = ./serial
default_md = sha256
policy = pol_any
unique_subject = no
copy_extensions = none
default_days = 365
[pol_any]
commonName = supplied
[leaf]
basicConstraints = CA:FALSE
keyUsage = digitalSignature, nonRepudiation
authorityInfoAccess = OCSP;URI:http://127.0.0.1:8888/
[ocsp]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = OCSPSigning
noCheck = ignored
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
";

/// A CA made entirely by OpenSSL (`openssl req`/`openssl ca`, ECDSA P-256) in `dir`: `ca.crt`,
/// `good.crt`, `revoked.crt` (keyCompromise), a delegated responder `ocsp.crt`, keys beside
/// them, and `index.txt`.
fn openssl_pki(dir: &Path) {
    std::fs::write(dir.join("ca.cnf"), CA_CNF).unwrap();
    std::fs::create_dir(dir.join("issued")).unwrap();
    std::fs::write(dir.join("index.txt"), "").unwrap();
    std::fs::write(dir.join("serial"), "1000\n").unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut args = vec!["req", "-x509"];
    args.extend(ec);
    args.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-subj",
        "/C=VN/O=OpenSSL test/CN=OpenSSL CA",
        "-days",
        "3650",
        "-config",
        "ca.cnf",
        "-extensions",
        "ca_ext",
    ]);
    openssl(dir, &args);
    for (name, ext) in [("good", "leaf"), ("revoked", "leaf"), ("ocsp", "ocsp")] {
        let (key, csr, crt) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
        );
        let subj = format!("/CN={name}");
        let mut args = vec!["req", "-new"];
        args.extend(ec);
        args.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
        openssl(dir, &args);
        openssl(
            dir,
            &[
                "ca",
                "-batch",
                "-config",
                "ca.cnf",
                "-cert",
                "ca.crt",
                "-keyfile",
                "ca.key",
                "-in",
                &csr,
                "-out",
                &crt,
                "-extensions",
                ext,
                "-notext",
            ],
        );
    }
    openssl(
        dir,
        &[
            "ca",
            "-config",
            "ca.cnf",
            "-cert",
            "ca.crt",
            "-keyfile",
            "ca.key",
            "-revoke",
            "revoked.crt",
            "-crl_reason",
            "keyCompromise",
        ],
    );
}

/// A network namespace of this test's own, with loopback up; deleted on drop.
struct Netns(String);

impl Netns {
    fn new() -> Option<Self> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "pki-ocsp-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let add = Command::new("ip").args(["netns", "add", &name]).output();
        match add {
            Ok(o) if o.status.success() => {}
            other => {
                let why = match other {
                    Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                    Err(e) => e.to_string(),
                };
                if in_ci() {
                    panic!("cannot create a network namespace (needs root and iproute2): {why}");
                }
                eprintln!("\n*** SKIP: cannot create a network namespace ({why}); run as root to test against `openssl ocsp -port` ***\n");
                return None;
            }
        }
        let ns = Self(name);
        let up =
            run(Command::new("ip").args(["netns", "exec", &ns.0, "ip", "link", "set", "lo", "up"]));
        assert!(up.status.success(), "{}", text(&up));
        Some(ns)
    }

    fn command(&self, program: &Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0])
            .arg(program)
            .env("LANG", "C");
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.0])
            .output();
    }
}

/// Starts `openssl ocsp` as a responder on port 8888 inside `ns`; returns once it listens.
fn openssl_responder(ns: &Netns, dir: &Path, signer: &str, key: &str) -> Running {
    let mut child = ns
        .command(Path::new("openssl"))
        .args([
            "ocsp",
            "-index",
            "index.txt",
            "-CA",
            "ca.crt",
            "-rsigner",
            signer,
            "-rkey",
            key,
            "-port",
            "8888",
            "-nmin",
            "5",
            "-ignore_err",
        ])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start openssl ocsp");
    // OpenSSL prints "ACCEPT [::]:8888 PID=..." once it listens.
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    out.read_line(&mut line).expect("read openssl output");
    assert!(
        line.starts_with("ACCEPT"),
        "openssl ocsp did not start: {line}"
    );
    Running(child)
}

fn query_in(ns: &Netns, dir: &Path, extra: &[&str]) -> Output {
    run(ns
        .command(&pki_bin())
        .args(["ocsp", "query", "--url", "http://127.0.0.1:8888/"])
        .args(extra)
        .current_dir(dir))
}

#[test]
fn our_client_against_openssl_responder() {
    if require_tool("openssl").is_none() || require_tool("ip").is_none() {
        return;
    }
    let Some(ns) = Netns::new() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    openssl_pki(dir);
    let _responder = openssl_responder(&ns, dir, "ocsp.crt", "ocsp.key");

    let o = query_in(&ns, dir, &["--cert", "good.crt", "--issuer", "ca.crt"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.starts_with("status: good"), "{}", text(&o));
    assert!(out.contains("delegated by the CA"), "{}", text(&o));
    assert!(out.contains("nonce matched"), "{}", text(&o));
    assert!(out.contains("+07:00"), "{}", text(&o));

    let o = query_in(
        &ns,
        dir,
        &["--cert", "revoked.crt", "--issuer", "ca.crt", "--json"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(j["status"], "revoked", "{j}");
    assert_eq!(j["revocation_reason"], "keyCompromise", "{j}");
    assert_eq!(j["responder"]["kind"], "delegated", "{j}");
    assert_eq!(j["nonce"], "matched", "{j}");
    assert_eq!(j["problems"], serde_json::json!([]), "{j}");

    // SHA-256 CertID and no nonce.
    let o = query_in(
        &ns,
        dir,
        &[
            "--cert",
            "good.crt",
            "--issuer",
            "ca.crt",
            "--sha256",
            "--no-nonce",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("nonce not-sent"));

    // The wrong issuer certificate: one sentence, exit 3.
    let o = query_in(&ns, dir, &["--cert", "good.crt", "--issuer", "ocsp.crt"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is not the issuer of good.crt"),
        "{}",
        text(&o)
    );
}

#[test]
fn our_client_against_openssl_responder_signing_as_the_ca() {
    if require_tool("openssl").is_none() || require_tool("ip").is_none() {
        return;
    }
    let Some(ns) = Netns::new() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    openssl_pki(dir);
    let _responder = openssl_responder(&ns, dir, "ca.crt", "ca.key");
    let o = query_in(
        &ns,
        dir,
        &["--cert", "revoked.crt", "--issuer", "ca.crt", "--json"],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(j["responder"]["kind"], "ca", "{j}");

    // A responder certificate the CA never authorised (the leaf itself signs): refused.
    drop(_responder);
    let _bad = openssl_responder(&ns, dir, "good.crt", "good.key");
    let o = query_in(&ns, dir, &["--cert", "good.crt", "--issuer", "ca.crt"]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("not authorised"),
        "{}",
        text(&o)
    );
}

/// `pki ocsp serve` on 127.0.0.1 with a free port; returns the child and its URL.
fn serve(ca_dir: &Path, responder: &Path, key: &Path) -> (Running, String) {
    interop_tests::ocsp_serve(ca_dir, responder, key, "127.0.0.1:0")
}

fn openssl_client(issuer: &Path, cert: &Path, url: &str, cafile: &Path, extra: &[&str]) -> Output {
    run(Command::new("openssl")
        .arg("ocsp")
        .args(extra)
        .arg("-issuer")
        .arg(issuer)
        .arg("-cert")
        .arg(cert)
        .args(["-url", url, "-CAfile"])
        .arg(cafile))
}

fn assert_openssl_says(o: &Output, cert: &Path, status: &str) {
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    let want = format!("{}: {status}", cert.display());
    assert!(out.contains(&want), "expected {want:?}:\n{}", text(o));
    assert!(err.contains("Response verify OK"), "{}", text(o));
    assert!(!err.contains("nonce"), "nonce problem:\n{}", text(o));
}

#[test]
fn openssl_client_against_pki_serve_on_the_fixture_ca() {
    if require_tool("openssl").is_none() {
        return;
    }
    let pki_dir = fixtures().join("pki");
    let tmp = tempfile::tempdir().unwrap();
    // A copy of the issuing CA's directory, so a revocation can be made while serving.
    let ca_dir = tmp.path().join("issuing");
    std::fs::create_dir(&ca_dir).unwrap();
    for f in ["ca.pem", "index.txt"] {
        std::fs::copy(pki_dir.join("issuing").join(f), ca_dir.join(f)).unwrap();
    }
    let (_server, url) = serve(
        &ca_dir,
        &pki_dir.join("ocsp.pem"),
        &pki_dir.join("ocsp.key.pem"),
    );
    let issuer = pki_dir.join("issuing.pem");
    let root = pki_dir.join("root.pem");
    let good = pki_dir.join("officer-rsa.pem");
    let revoked = pki_dir.join("revoked.pem");

    let o = openssl_client(&issuer, &good, &url, &root, &[]);
    assert_openssl_says(&o, &good, "good");
    let o = openssl_client(&issuer, &revoked, &url, &root, &["-sha256"]);
    assert_openssl_says(&o, &revoked, "revoked");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Reason: keyCompromise"),
        "{}",
        text(&o)
    );

    // Revoke the officer in index.txt: the next answer says so, without a restart.
    let serial = cert(&good).serial_hex().to_ascii_uppercase();
    let index = std::fs::read_to_string(ca_dir.join("index.txt")).unwrap();
    let revoked_index: String = index
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            if f[3] == serial {
                format!(
                    "R\t{}\t260101000000Z,superseded\t{}\n",
                    f[1],
                    f[3..].join("\t")
                )
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert_ne!(index, revoked_index, "serial {serial} not in index.txt");
    std::fs::write(ca_dir.join("index.txt"), revoked_index).unwrap();
    let o = openssl_client(&issuer, &good, &url, &root, &[]);
    assert_openssl_says(&o, &good, "revoked");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Reason: superseded"),
        "{}",
        text(&o)
    );

    // Our own client agrees.
    let o = pki(&[
        "ocsp",
        "query",
        "--cert",
        good.to_str().unwrap(),
        "--issuer",
        issuer.to_str().unwrap(),
        "--url",
        &url,
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    // A serial the CA database does not hold is "unknown" (exit 4 for our client).
    let ec = pki_dir.join("officer-ec.pem");
    let serial = cert(&ec).serial_hex().to_ascii_uppercase();
    let index = std::fs::read_to_string(ca_dir.join("index.txt")).unwrap();
    let without: String = index
        .lines()
        .filter(|l| !l.contains(&format!("\t{serial}\t")))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(index, without, "serial {serial} not in index.txt");
    std::fs::write(ca_dir.join("index.txt"), without).unwrap();
    let o = openssl_client(&issuer, &ec, &url, &root, &[]);
    assert_openssl_says(&o, &ec, "unknown");
    let o = pki(&[
        "ocsp",
        "query",
        "--cert",
        ec.to_str().unwrap(),
        "--issuer",
        issuer.to_str().unwrap(),
        "--url",
        &url,
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(j["status"], "unknown", "{j}");
    assert_eq!(j["problems"], serde_json::json!([]), "{j}");
}

#[test]
fn openssl_client_against_pki_serve_on_an_openssl_ca() {
    if require_tool("openssl").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    openssl_pki(dir);
    let (_server, url) = serve(dir, &dir.join("ocsp.crt"), &dir.join("ocsp.key"));
    let ca = dir.join("ca.crt");
    let o = openssl_client(&ca, &dir.join("good.crt"), &url, &ca, &[]);
    assert_openssl_says(&o, &dir.join("good.crt"), "good");
    let o = openssl_client(&ca, &dir.join("revoked.crt"), &url, &ca, &["-sha256"]);
    assert_openssl_says(&o, &dir.join("revoked.crt"), "revoked");

    // GET (RFC 6960 Appendix A.1): the base64 request in the path, percent-encoded.
    openssl(
        dir,
        &[
            "ocsp",
            "-issuer",
            "ca.crt",
            "-cert",
            "good.crt",
            "-no_nonce",
            "-reqout",
            "req.der",
        ],
    );
    let req = std::fs::read(dir.join("req.der")).unwrap();
    let b64 = base64_encode(&req)
        .replace('/', "%2F")
        .replace('+', "%2B")
        .replace('=', "%3D");
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /{b64} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    let split = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&resp[..split]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains("content-type: application/ocsp-response"),
        "{head}"
    );
    assert!(
        head.contains("cache-control: max-age=3600, public"),
        "{head}"
    );
    std::fs::write(dir.join("get.der"), &resp[split + 4..]).unwrap();
    let o = run(Command::new("openssl")
        .args([
            "ocsp",
            "-respin",
            "get.der",
            "-issuer",
            "ca.crt",
            "-cert",
            "good.crt",
            "-CAfile",
            "ca.crt",
            "-no_nonce",
        ])
        .current_dir(dir));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("good.crt: good"),
        "{}",
        text(&o)
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("Response verify OK"),
        "{}",
        text(&o)
    );
}

fn base64_encode(data: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// OpenSSL answers a request we built (file mode, no network); returns the DER response.
fn openssl_answer(dir: &Path, req: &[u8]) -> Vec<u8> {
    std::fs::write(dir.join("q.der"), req).unwrap();
    openssl(
        dir,
        &[
            "ocsp",
            "-index",
            "index.txt",
            "-CA",
            "ca.crt",
            "-rsigner",
            "ocsp.crt",
            "-rkey",
            "ocsp.key",
            "-reqin",
            "q.der",
            "-respout",
            "r.der",
            "-nmin",
            "5",
        ],
    );
    std::fs::read(dir.join("r.der")).unwrap()
}

#[test]
fn tampered_misdirected_and_replayed_openssl_responses_fail() {
    if require_tool("openssl").is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    openssl_pki(dir);
    let ca = cert(&dir.join("ca.crt"));
    let good = cert(&dir.join("good.crt"));
    let revoked = cert(&dir.join("revoked.crt"));
    let now = OffsetDateTime::now_utc();
    let policy = OcspPolicy::default();
    let id = CertId::for_certificate(hsm::HashAlgorithm::Sha1, &good, &ca);
    let nonce = [0x5a; 32];

    let der = openssl_answer(
        dir,
        &OcspRequest::build(std::slice::from_ref(&id), Some(&nonce)),
    );
    let resp = OcspResponse::parse(&der).unwrap();
    let c = verify_response(&resp, &ca, &id, now, Some(&nonce), &policy);
    assert_eq!(c.outcome(), OcspOutcome::Good, "{:?}", c.problems);

    // A flipped bit in the signature.
    let sig = resp.basic.as_ref().unwrap().signature.clone();
    let at = der
        .windows(sig.len())
        .position(|w| w == sig.as_slice())
        .unwrap();
    let mut bad = der.clone();
    bad[at + sig.len() / 2] ^= 0x01;
    let c = verify_response(
        &OcspResponse::parse(&bad).unwrap(),
        &ca,
        &id,
        now,
        Some(&nonce),
        &policy,
    );
    assert_eq!(c.outcome(), OcspOutcome::Unverifiable);
    assert!(
        c.problems
            .iter()
            .any(|p| matches!(p, OcspProblem::Signature(_))),
        "{:?}",
        c.problems
    );
    // The CLI says the same about the saved response (exit 4).
    std::fs::write(dir.join("tampered.der"), &bad).unwrap();
    let o = run(Command::new(pki_bin())
        .args([
            "ocsp",
            "query",
            "--cert",
            "good.crt",
            "--issuer",
            "ca.crt",
            "--response",
            "tampered.der",
        ])
        .env("LANG", "C")
        .current_dir(dir));
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("signature is not valid"),
        "{}",
        text(&o)
    );

    // A response about another serial.
    let other = CertId::for_certificate(hsm::HashAlgorithm::Sha1, &revoked, &ca);
    let der_other = openssl_answer(dir, &OcspRequest::build(&[other], Some(&nonce)));
    let c = verify_response(
        &OcspResponse::parse(&der_other).unwrap(),
        &ca,
        &id,
        now,
        Some(&nonce),
        &policy,
    );
    assert_eq!(c.outcome(), OcspOutcome::Unverifiable);
    assert!(
        c.problems
            .iter()
            .any(|p| matches!(p, OcspProblem::NoMatchingResponse { .. })),
        "{:?}",
        c.problems
    );

    // A replayed response: its nonce is not the one we sent.
    let c = verify_response(&resp, &ca, &id, now, Some(&[0xa5; 32]), &policy);
    assert_eq!(c.outcome(), OcspOutcome::Unverifiable);
    assert!(
        c.problems.contains(&OcspProblem::NonceMismatch),
        "{:?}",
        c.problems
    );

    // An old response, after its nextUpdate (5 minutes).
    let c = verify_response(
        &resp,
        &ca,
        &id,
        now + time::Duration::hours(1),
        None,
        &policy,
    );
    assert!(
        c.problems
            .iter()
            .any(|p| matches!(p, OcspProblem::Expired { .. })),
        "{:?}",
        c.problems
    );
}

/// Waits for `child` at most `limit`; kills it and fails when it takes longer (a hang).
fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("pki ocsp query still running after {limit:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn query_url(dir: &Path, url: &str, timeout: &str) -> Child {
    Command::new(pki_bin())
        .args([
            "ocsp",
            "query",
            "--cert",
            "good.pem",
            "--issuer",
            "issuing.pem",
            "--url",
            url,
            "--timeout",
            timeout,
        ])
        .env("LANG", "C")
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pki")
}

fn fixture_dir() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let pki_dir = fixtures().join("pki");
    std::fs::copy(pki_dir.join("officer-ec.pem"), tmp.path().join("good.pem")).unwrap();
    std::fs::copy(pki_dir.join("issuing.pem"), tmp.path().join("issuing.pem")).unwrap();
    tmp
}

fn assert_one_sentence_exit_3(o: &Output, needle: &str) {
    assert_eq!(o.status.code(), Some(3), "{}", text(o));
    let err = String::from_utf8_lossy(&o.stderr);
    let first = err.lines().next().unwrap_or("");
    assert!(first.starts_with("error: "), "{}", text(o));
    assert!(err.contains(needle), "{}", text(o));
    assert!(!err.contains("panicked"), "{}", text(o));
    assert!(o.stdout.is_empty(), "{}", text(o));
}

#[test]
fn unreachable_and_hanging_responders_fail_quickly_with_exit_3() {
    let tmp = fixture_dir();
    let dir = tmp.path();

    // Nothing listens.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}/", l.local_addr().unwrap());
    drop(l);
    let o = wait_bounded(query_url(dir, &closed, "5"), Duration::from_secs(30));
    assert_one_sentence_exit_3(&o, "cannot reach");

    // Accepts and never answers.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let hanging = format!("http://{}/", l.local_addr().unwrap());
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let server = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        let _ = wait.recv_timeout(Duration::from_secs(60));
        drop(s);
    });
    let o = wait_bounded(query_url(dir, &hanging, "1"), Duration::from_secs(30));
    done.send(()).unwrap();
    server.join().unwrap();
    assert_one_sentence_exit_3(&o, "did not answer in time (limit 1 s)");

    // Not http.
    let o = wait_bounded(
        query_url(dir, "ldap://127.0.0.1/cn=ocsp", "5"),
        Duration::from_secs(30),
    );
    assert_one_sentence_exit_3(&o, "not an http");

    // Answers, but not OCSP.
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let junk = format!("http://{}/", l.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut buf = [0u8; 8192];
        let _ = s.read(&mut buf);
        let _ = s.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        );
    });
    let o = wait_bounded(query_url(dir, &junk, "5"), Duration::from_secs(30));
    server.join().unwrap();
    assert_one_sentence_exit_3(&o, "not a readable OCSP response");
}

/// A port that was free a moment ago (for URLs that must be known before the server starts).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// `pki cert verify` checks revocation online through our OCSP client, against `pki ocsp
/// serve` on the URL the test PKI's certificates name.
#[test]
fn cert_verify_asks_the_ocsp_responder_in_the_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pki");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/ocsp");
    let o = pki(&["ca", "test-pki", dir.to_str().unwrap(), "--ocsp-url", &url]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (_server, _) = interop_tests::ocsp_serve(
        &dir.join("issuing"),
        &dir.join("ocsp.pem"),
        &dir.join("ocsp.key.pem"),
        &format!("127.0.0.1:{port}"),
    );

    let verify = |name: &str| {
        pki(&[
            "cert",
            "verify",
            dir.join(name).to_str().unwrap(),
            "--chain",
            dir.join("issuing.pem").to_str().unwrap(),
            "--trust",
            dir.join("root.pem").to_str().unwrap(),
            "--json",
        ])
    };
    let o = verify("officer-rsa.pem");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(j["revocation"]["status"], "good", "{j}");
    assert_eq!(j["revocation"]["source"], "ocsp", "{j}");

    let o = verify("revoked.pem");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    assert_eq!(j["revocation"]["status"], "revoked", "{j}");
    assert_eq!(j["revocation"]["source"], "ocsp", "{j}");

    // The responder refuses oversized requests before reading them.
    let addr = format!("127.0.0.1:{port}");
    let mut s = TcpStream::connect(&addr).unwrap();
    let body = vec![0x30u8; 100 * 1024];
    write!(
        s,
        "POST /ocsp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/ocsp-request\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    let _ = s.write_all(&body);
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let head = String::from_utf8_lossy(&resp);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
}
