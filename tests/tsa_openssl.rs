//! RFC 3161 interop with `openssl ts`: tokens from `pki tsa serve` (over HTTP on 127.0.0.1)
//! pass `openssl ts -verify`; tokens from `openssl ts -reply` pass `pki tsa verify`; tampered
//! tokens, wrong data and a TSA certificate without the critical timeStamping EKU are invalid
//! (exit 1); garbage is exit 3.

#[path = "openssl_pki.rs"]
mod openssl_pki;

use interop_tests::{fixtures, pki, pki_bin, require_tool, run, text};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A `pki tsa serve` process on a free loopback port; killed on drop.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(cert: &Path, key: &Path, chain: Option<&Path>) -> Server {
        let mut cmd = Command::new(pki_bin());
        cmd.args(["tsa", "serve", "--listen", "127.0.0.1:0", "--cert"])
            .arg(cert)
            .arg("--key")
            .arg(key)
            .env("LANG", "C")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(c) = chain {
            cmd.arg("--chain").arg(c);
        }
        let mut child = cmd.spawn().expect("pki tsa serve starts");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout is piped");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the listening line");
        let Some(url) = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .map(str::to_string)
        else {
            let _ = child.kill();
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("pki tsa serve did not start: {line}\n{err}");
        };
        Server { child, url }
    }

    /// POSTs raw bytes with `content_type`, returns (HTTP status, body). A hand-written
    /// HTTP/1.1 client, independent of ours.
    fn post(&self, content_type: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let addr = self
            .url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let mut s = std::net::TcpStream::connect(&addr).expect("connect");
        s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .expect("timeout");
        let head = format!(
            "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).expect("write");
        s.write_all(body).expect("write");
        let mut resp = Vec::new();
        let _ = s.read_to_end(&mut resp);
        let split = resp
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("an HTTP response");
        let status_line = String::from_utf8_lossy(&resp[..split]).to_string();
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("a status code");
        (status, resp[split + 4..].to_vec())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn p(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

fn fixture(name: &str) -> PathBuf {
    fixtures().join("pki").join(name)
}

fn openssl_verify(openssl: &Path, args: &[&str]) -> std::process::Output {
    run(Command::new(openssl).arg("ts").arg("-verify").args(args))
}

#[test]
fn tokens_from_pki_tsa_serve_pass_openssl_ts_verify() {
    let Some(openssl) = require_tool("openssl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("data.txt"), "Quyết định số 123/QĐ-UBND\n").unwrap();
    std::fs::write(d.join("other.txt"), "Quyết định số 124/QĐ-UBND\n").unwrap();
    let ec = openssl_pki::mini_pki(&openssl, &d.join("ec"), true, true);
    let root = fixture("root.pem").display().to_string();
    let chain = fixture("tsa.chain.pem").display().to_string();
    // The fixtures' RSA TSA (issued by the issuing CA) and an ECDSA TSA made by openssl.
    let cases: [(&Path, &Path, Option<PathBuf>, String, String); 2] = [
        (
            &fixture("tsa.pem"),
            &fixture("tsa.key.pem"),
            Some(fixture("issuing.pem")),
            root.clone(),
            chain.clone(),
        ),
        (
            &ec.tsa,
            &ec.tsa_key,
            None,
            ec.root.display().to_string(),
            ec.tsa.display().to_string(),
        ),
    ];
    for (i, (cert, key, chain_file, root, untrusted)) in cases.iter().enumerate() {
        let server = Server::start(cert, key, chain_file.as_deref());
        let tsr = p(d, &format!("resp{i}.tsr"));

        // Our client against our server, then openssl checks the token.
        let o = pki(&[
            "tsa",
            "query",
            &p(d, "data.txt"),
            "--url",
            &server.url,
            "--out",
            &tsr,
            "--trust",
            root,
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let o = openssl_verify(
            &openssl,
            &[
                "-in",
                &tsr,
                "-data",
                &p(d, "data.txt"),
                "-CAfile",
                root,
                "-untrusted",
                untrusted,
            ],
        );
        assert!(
            o.status.success(),
            "openssl rejects our token: {}",
            text(&o)
        );
        assert!(String::from_utf8_lossy(&o.stdout).contains("Verification: OK"));
        // openssl says no for other data: the check above can fail.
        let o = openssl_verify(
            &openssl,
            &[
                "-in",
                &tsr,
                "-data",
                &p(d, "other.txt"),
                "-CAfile",
                root,
                "-untrusted",
                untrusted,
            ],
        );
        assert!(!o.status.success(), "{}", text(&o));

        // SHA-512 imprint, JSON report with the time in Vietnam time and UTC.
        let o = pki(&[
            "tsa",
            "query",
            &p(d, "data.txt"),
            "--url",
            &server.url,
            "--hash",
            "sha512",
            "--json",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["hash"], "sha512");
        assert_eq!(v["signing_certificate"], "signingCertificateV2");
        assert!(v["gen_time_vietnam"].as_str().unwrap().ends_with("+07:00"));
        assert!(v["gen_time"].as_str().unwrap().ends_with('Z'));
        assert!(v["errors"].as_array().unwrap().is_empty());

        // openssl's request (SHA-512, nonce, certReq) over raw HTTP; openssl checks imprint and
        // nonce against its own request.
        let tsq = p(d, &format!("req{i}.tsq"));
        let o = run(Command::new(&openssl).args([
            "ts",
            "-query",
            "-data",
            &p(d, "data.txt"),
            "-sha512",
            "-cert",
            "-out",
            &tsq,
        ]));
        assert!(o.status.success(), "{}", text(&o));
        let (status, body) =
            server.post("application/timestamp-query", &std::fs::read(&tsq).unwrap());
        assert_eq!(status, 200);
        let tsr2 = p(d, &format!("resp{i}-openssl-query.tsr"));
        std::fs::write(&tsr2, &body).unwrap();
        let o = openssl_verify(
            &openssl,
            &[
                "-in",
                &tsr2,
                "-queryfile",
                &tsq,
                "-CAfile",
                root,
                "-untrusted",
                untrusted,
            ],
        );
        assert!(o.status.success(), "{}", text(&o));

        // certReq false and no nonce: the token embeds no certificate; openssl verifies with
        // the TSA certificate given.
        let o = run(Command::new(&openssl).args([
            "ts",
            "-query",
            "-data",
            &p(d, "data.txt"),
            "-no_nonce",
            "-out",
            &tsq,
        ]));
        assert!(o.status.success(), "{}", text(&o));
        let (status, body) =
            server.post("application/timestamp-query", &std::fs::read(&tsq).unwrap());
        assert_eq!(status, 200);
        let tok = pki_core::tsp::TimeStampResp::from_der(&body)
            .unwrap()
            .into_token()
            .unwrap();
        assert!(tok.signed_data.certificates.is_empty());
        std::fs::write(&tsr2, &body).unwrap();
        // Without the TSA certificate we cannot tell (4); with it, valid.
        let o = pki(&[
            "tsa",
            "verify",
            &tsr2,
            "--data",
            &p(d, "data.txt"),
            "--trust",
            root,
        ]);
        assert_eq!(o.status.code(), Some(4), "{}", text(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("NO_SIGNING_CERTIFICATE_FOUND"));
        let o = pki(&[
            "tsa",
            "verify",
            &tsr2,
            "--data",
            &p(d, "data.txt"),
            "--trust",
            root,
            "--untrusted",
            untrusted,
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let o = openssl_verify(
            &openssl,
            &[
                "-in",
                &tsr2,
                "-data",
                &p(d, "data.txt"),
                "-CAfile",
                root,
                "-untrusted",
                untrusted,
            ],
        );
        assert!(o.status.success(), "{}", text(&o));
    }
}

/// An `openssl ts -reply` configuration for the fixtures' TSA.
fn openssl_tsa_config(dir: &Path, ess_alg: &str) -> String {
    let cfg = format!(
        "[tsa]\ndefault_tsa = tsa1\n[tsa1]\nserial = {serial}\ncrypto_device = builtin\n\
signer_cert = {cert}\ncerts = {chain}\nsigner_key = {key}\nsigner_digest = sha256\n\
default_policy = 1.2.3.4.1\nother_policies = 1.2.3.4.5\ndigests = sha256, sha384, sha512\n\
accuracy = secs:1, millisecs:500, microsecs:100\nclock_precision_digits = 3\nordering = yes\n\
tsa_name = yes\ness_cert_id_chain = no\ness_cert_id_alg = {ess_alg}\n",
        serial = p(dir, "tsaserial"),
        cert = fixture("tsa.pem").display(),
        chain = fixture("issuing.pem").display(),
        key = fixture("tsa.key.pem").display(),
    );
    std::fs::write(dir.join("tsaserial"), "0A\n").expect("write the serial file");
    let path = p(dir, &format!("tsa-{ess_alg}.cnf"));
    std::fs::write(&path, cfg).expect("write the TSA configuration");
    path
}

fn flip(src: &str, dst: &str, at: usize) {
    let mut b = std::fs::read(src).expect("read the token");
    b[at] ^= 0x01;
    std::fs::write(dst, b).expect("write the token");
}

#[test]
fn tokens_from_openssl_ts_reply_pass_pki_tsa_verify() {
    let Some(openssl) = require_tool("openssl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = p(d, "data.bin");
    std::fs::write(&data, b"\x00\x01 hop dong so 5 \xff").unwrap();
    std::fs::write(d.join("other.bin"), b"something else").unwrap();
    let root = fixture("root.pem").display().to_string();
    let tsq = p(d, "req.tsq");
    let o = run(Command::new(&openssl).args([
        "ts", "-query", "-data", &data, "-sha384", "-cert", "-out", &tsq,
    ]));
    assert!(o.status.success(), "{}", text(&o));
    // ESSCertIDv2 (SHA-256) and ESSCertID (SHA-1); a whole response and a bare token.
    for (ess, expect_attr) in [
        ("sha256", "signingCertificateV2"),
        ("sha1", "signingCertificate"),
    ] {
        let cfg = openssl_tsa_config(d, ess);
        for token_out in [false, true] {
            let out = p(d, &format!("{ess}-{token_out}.tsr"));
            let mut cmd = Command::new(&openssl);
            cmd.args([
                "ts",
                "-reply",
                "-config",
                &cfg,
                "-queryfile",
                &tsq,
                "-out",
                &out,
            ]);
            if token_out {
                cmd.arg("-token_out");
            }
            let o = run(&mut cmd);
            assert!(o.status.success(), "{}", text(&o));

            let o = pki(&[
                "tsa", "verify", &out, "--data", &data, "--trust", &root, "--json",
            ]);
            assert_eq!(o.status.code(), Some(0), "{}", text(&o));
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
            assert_eq!(v["indication"], "TOTAL-PASSED");
            assert_eq!(v["signing_certificate"], expect_attr);
            assert_eq!(v["hash"], "sha384");
            assert_eq!(v["policy"], "1.2.3.4.1");
            assert_eq!(v["accuracy"]["millis"], 500);

            // Wrong data.
            let o = pki(&[
                "tsa",
                "verify",
                &out,
                "--data",
                &p(d, "other.bin"),
                "--trust",
                &root,
            ]);
            assert_eq!(o.status.code(), Some(1), "{}", text(&o));
            assert!(String::from_utf8_lossy(&o.stdout).contains("message imprint"));

            // By digest.
            let digest = hex_sha384(&std::fs::read(&data).unwrap());
            let o = pki(&["tsa", "verify", &out, "--digest", &digest, "--trust", &root]);
            assert_eq!(o.status.code(), Some(0), "{}", text(&o));

            // No trust anchor: indeterminate.
            let o = pki(&["tsa", "verify", &out, "--data", &data]);
            assert_eq!(o.status.code(), Some(4), "{}", text(&o));

            // A flipped byte in the signature value (the token's last bytes) and in the
            // TSTInfo's message imprint: invalid, exit 1.
            let bytes = std::fs::read(&out).unwrap();
            let bad = p(d, "bad.tsr");
            flip(&out, &bad, bytes.len() - 5);
            let o = pki(&["tsa", "verify", &bad, "--data", &data, "--trust", &root]);
            assert_eq!(o.status.code(), Some(1), "{}", text(&o));
            let imprint = hex::decode(&digest).unwrap();
            let at = bytes
                .windows(imprint.len())
                .position(|w| w == imprint.as_slice())
                .expect("the imprint is in the token");
            flip(&out, &bad, at + 3);
            let o = pki(&["tsa", "verify", &bad, "--data", &data, "--trust", &root]);
            assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        }
    }
}

#[test]
fn our_requests_are_answered_by_openssl_ts_reply() {
    let Some(openssl) = require_tool("openssl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = p(d, "data.bin");
    std::fs::write(&data, b"request me").unwrap();
    let req = pki_core::tsp::TimeStampReq::for_data(hsm::HashAlgorithm::Sha256, b"request me")
        .unwrap()
        .with_policy(const_oid::ObjectIdentifier::new_unwrap("1.2.3.4.5"));
    let tsq = p(d, "ours.tsq");
    std::fs::write(&tsq, req.to_der()).unwrap();
    // openssl reads it back as we wrote it.
    let o = run(Command::new(&openssl).args(["ts", "-query", "-in", &tsq, "-text"]));
    assert!(o.status.success(), "{}", text(&o));
    let shown = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(shown.contains("Policy OID: 1.2.3.4.5"), "{shown}");
    assert!(shown.contains("Certificate required: yes"), "{shown}");
    let cfg = openssl_tsa_config(d, "sha256");
    let tsr = p(d, "ours.tsr");
    let o = run(Command::new(&openssl).args([
        "ts",
        "-reply",
        "-config",
        &cfg,
        "-queryfile",
        &tsq,
        "-out",
        &tsr,
    ]));
    assert!(o.status.success(), "{}", text(&o));
    let nonce = hex::encode(req.nonce.as_ref().unwrap());
    let root = fixture("root.pem").display().to_string();
    let o = pki(&[
        "tsa", "verify", &tsr, "--data", &data, "--nonce", &nonce, "--trust", &root, "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["policy"], "1.2.3.4.5");
    // Another nonce: invalid.
    let o = pki(&[
        "tsa", "verify", &tsr, "--data", &data, "--nonce", "0102", "--trust", &root,
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let o = openssl_verify(
        &openssl,
        &[
            "-in",
            &tsr,
            "-queryfile",
            &tsq,
            "-CAfile",
            &root,
            "-untrusted",
            &fixture("tsa.chain.pem").display().to_string(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
}

fn hex_sha384(data: &[u8]) -> String {
    hex::encode(hsm::HashAlgorithm::Sha384.digest(data))
}

#[test]
fn tsa_certificate_without_critical_time_stamping_is_invalid() {
    let Some(openssl) = require_tool("openssl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("nc")).unwrap();
    let nc = openssl_pki::mini_pki(&openssl, &d.join("nc"), true, false);
    // Our server refuses to run with it.
    let o = pki(&[
        "tsa",
        "serve",
        "--cert",
        &nc.tsa.display().to_string(),
        "--key",
        &nc.tsa_key.display().to_string(),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("critical"));

    // A token signed with it anyway (through the library) is invalid for us and for openssl.
    let cert =
        pki_core::cert::parse_certificates(&std::fs::read(&nc.tsa).unwrap()).unwrap()[0].clone();
    let key =
        hsm::SoftwareKey::from_pem(&std::fs::read_to_string(&nc.tsa_key).unwrap(), "tsa").unwrap();
    let tsa = pki_core::tsp::Tsa {
        cert: &cert,
        chain: &[],
        signer: &key,
        algorithm: hsm::SignatureAlgorithm::Ecdsa(hsm::HashAlgorithm::Sha256),
        policy: const_oid::ObjectIdentifier::new_unwrap("1.2.3.4.1"),
        accuracy: None,
    };
    let data = p(d, "data.txt");
    std::fs::write(&data, "x").unwrap();
    let req = pki_core::tsp::TimeStampReq::for_data(hsm::HashAlgorithm::Sha256, b"x").unwrap();
    let resp = tsa.respond(&req.to_der(), time::OffsetDateTime::now_utc(), &[0x42]);
    let tsr = p(d, "nc.tsr");
    std::fs::write(&tsr, resp).unwrap();
    let root = nc.root.display().to_string();
    let o = pki(&["tsa", "verify", &tsr, "--data", &data, "--trust", &root]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("not critical"),
        "{}",
        text(&o)
    );
    let o = openssl_verify(
        &openssl,
        &[
            "-in",
            &tsr,
            "-data",
            &data,
            "-CAfile",
            &root,
            "-untrusted",
            &nc.tsa.display().to_string(),
        ],
    );
    assert!(!o.status.success(), "openssl accepted it: {}", text(&o));
}

#[test]
fn garbage_and_truncated_tokens_are_operational_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = p(d, "data.txt");
    std::fs::write(&data, "x").unwrap();
    std::fs::write(d.join("garbage"), b"\x01\x02 not a token").unwrap();
    std::fs::write(d.join("empty"), b"").unwrap();
    // A valid token made in-process, then cut short.
    let cert = pki_core::cert::parse_certificates(&std::fs::read(fixture("tsa.pem")).unwrap())
        .unwrap()[0]
        .clone();
    let key = hsm::SoftwareKey::from_pem(
        &std::fs::read_to_string(fixture("tsa.key.pem")).unwrap(),
        "tsa",
    )
    .unwrap();
    let tsa = pki_core::tsp::Tsa {
        cert: &cert,
        chain: &[],
        signer: &key,
        algorithm: hsm::SignatureAlgorithm::RsaPkcs1(hsm::HashAlgorithm::Sha256),
        policy: const_oid::ObjectIdentifier::new_unwrap("1.2.3.4.1"),
        accuracy: None,
    };
    let req = pki_core::tsp::TimeStampReq::for_data(hsm::HashAlgorithm::Sha256, b"x").unwrap();
    let resp = tsa.respond(&req.to_der(), time::OffsetDateTime::now_utc(), &[0x42]);
    for cut in [1, 10, resp.len() / 2, resp.len() - 1] {
        std::fs::write(d.join("truncated.tsr"), &resp[..cut]).unwrap();
        for f in ["garbage", "empty", "truncated.tsr"] {
            let o = pki(&["tsa", "verify", &p(d, f), "--data", &data]);
            assert_eq!(o.status.code(), Some(3), "{f}: {}", text(&o));
            let stderr = String::from_utf8_lossy(&o.stderr);
            assert!(!stderr.contains("panicked"), "{}", text(&o));
            assert!(stderr.starts_with("error: "), "{}", text(&o));
        }
    }
    // The whole one verifies (so the cuts above are what fails).
    std::fs::write(d.join("whole.tsr"), &resp).unwrap();
    let o = pki(&["tsa", "verify", &p(d, "whole.tsr"), "--data", &data]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    // In Vietnamese on request.
    let o = pki(&[
        "--lang",
        "vi",
        "tsa",
        "verify",
        &p(d, "garbage"),
        "--data",
        &data,
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.starts_with("lỗi: ") && stderr.contains("không phải là dấu thời gian"),
        "{}",
        text(&o)
    );
    // Usage: neither --data nor --digest.
    let o = pki(&["tsa", "verify", &p(d, "whole.tsr")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    // Nobody listening: operational.
    let o = pki(&["tsa", "query", &data, "--url", "http://127.0.0.1:9/"]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
}

#[test]
fn server_answers_bad_requests_with_rejections() {
    let server = Server::start(
        &fixture("tsa.pem"),
        &fixture("tsa.key.pem"),
        Some(&fixture("issuing.pem")),
    );
    let (status, body) = server.post("application/timestamp-query", b"not a request");
    assert_eq!(status, 200);
    let r = pki_core::tsp::TimeStampResp::from_der(&body).unwrap();
    assert_eq!(r.status, pki_core::tsp::PkiStatus::Rejection);
    assert_eq!(
        r.fail_info.map(|f| f.0),
        Some(pki_core::tsp::FailureInfo::BAD_DATA_FORMAT)
    );
    let req = pki_core::tsp::TimeStampReq::for_data(hsm::HashAlgorithm::Sha256, b"x")
        .unwrap()
        .with_policy(const_oid::ObjectIdentifier::new_unwrap("1.2.3.9"));
    let (status, body) = server.post("application/timestamp-query", &req.to_der());
    assert_eq!(status, 200);
    let r = pki_core::tsp::TimeStampResp::from_der(&body).unwrap();
    assert_eq!(
        r.fail_info.map(|f| f.0),
        Some(pki_core::tsp::FailureInfo::UNACCEPTED_POLICY)
    );
    let (status, _) = server.post("text/plain", b"hello");
    assert_eq!(status, 415);
    let (status, _) = server.post("application/timestamp-query", &vec![0x30; 64 * 1024]);
    assert_eq!(status, 413);
    // Serials are unique.
    let req = pki_core::tsp::TimeStampReq::for_data(hsm::HashAlgorithm::Sha256, b"x").unwrap();
    let mut serials = std::collections::HashSet::new();
    for _ in 0..5 {
        let (_, body) = server.post("application/timestamp-query", &req.to_der());
        let t = pki_core::tsp::TimeStampResp::from_der(&body)
            .unwrap()
            .into_token()
            .unwrap();
        assert!(serials.insert(t.tst_info.serial.clone()));
    }
}
