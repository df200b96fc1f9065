//! `sign-server` over real HTTP on 127.0.0.1 with SQLite: signing and verification (outputs
//! checked by our verifier and by pdfsig), the Decree 30 order, bad input answered with the
//! right 4xx, the audit chain's tamper detection (by `pki audit verify` and the endpoint), and
//! a `kill -9` in the middle of a 500-document batch.
#![expect(clippy::unwrap_used, reason = "test code")]

use interop_tests::server::{
    multipart, pdf, raw, request, sqlite_exec, wait_batch, write_config, Server, AUDITOR_KEY,
    LIMITED_KEY, SIGNER_KEY,
};
use interop_tests::{fixtures, pki, require_tool, run, text};
use pki_core::report::Indication;
use pki_core::trust::CertPool;
use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn verify(bytes: &[u8], dir: &Path) -> pki_core::report::Report {
    let f = dir.join(format!(
        "v-{}.pdf",
        hex::encode(&bytes[bytes.len() - 40..bytes.len() - 30])
    ));
    std::fs::write(&f, bytes).unwrap();
    let root = pki_core::cert::parse_certificates(
        &std::fs::read(fixtures().join("pki/root.pem")).unwrap(),
    )
    .unwrap();
    let inter = pki_core::cert::parse_certificates(
        &std::fs::read(fixtures().join("pki/issuing.pem")).unwrap(),
    )
    .unwrap();
    let anchors = CertPool::from_certs(root);
    let inter = CertPool::from_certs(inter);
    let policy = pki_core::crypto::AlgorithmPolicy::default();
    let opts = pki_core::pades::VerifyOptions {
        time: time::OffsetDateTime::now_utc(),
        anchors: &anchors,
        intermediates: &inter,
        policy: &policy,
        fetcher: None,
    };
    let r = pki_core::pades::verify_pdf(&f, &opts).unwrap();
    std::fs::remove_file(&f).unwrap();
    r
}

fn pdfsig_says_valid(file: &Path) -> Option<bool> {
    let pdfsig = require_tool("pdfsig")?;
    let o = run(Command::new(pdfsig).arg(file));
    let t = text(&o);
    Some(t.contains("Signature is Valid") && !t.contains("Signature is Invalid"))
}

fn err(r: &interop_tests::server::Resp) -> (u16, String, String) {
    let v = r.json();
    let code = v["code"].as_str().unwrap_or_default().to_owned();
    let msg = v["message"].as_str().unwrap_or_default().to_owned();
    assert!(msg.len() > 20 && msg.is_ascii(), "unclear message: {msg}");
    (r.status, code, msg)
}

#[test]
fn sign_verify_decree30_order_and_keys() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), None, None, "");
    let s = Server::start(&cfg, "a");
    let input = pdf(1);

    let r = s
        .post(
            "/v1/sign?key=officer&profile=personal&reason=Ph%C3%AA%20duy%E1%BB%87t",
            Some(SIGNER_KEY),
            "application/pdf",
            &input,
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/pdf"));
    assert!(r.header("x-audit-seq").is_some());
    let personal = r.body;
    assert!(
        personal.starts_with(&input),
        "an incremental update keeps every earlier byte"
    );
    let rep = verify(&personal, dir.path());
    assert_eq!(rep.indication, Indication::TotalPassed, "{rep:?}");
    let f = dir.path().join("personal.pdf");
    std::fs::write(&f, &personal).unwrap();
    if let Some(ok) = pdfsig_says_valid(&f) {
        assert!(ok, "pdfsig rejects the server's output");
    }

    // Decree 30: the agency signs only over a valid personal signature.
    let r = s
        .post(
            "/v1/sign?key=agency&profile=agency",
            Some(SIGNER_KEY),
            "application/pdf",
            &input,
        )
        .unwrap();
    let (st, code, _) = err(&r);
    assert_eq!((st, code.as_str()), (422, "personal_signature_required"));
    let r = s
        .post(
            "/v1/sign?key=agency&profile=agency",
            Some(SIGNER_KEY),
            "application/pdf",
            &personal,
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let both = r.body;
    let rep = verify(&both, dir.path());
    assert_eq!(rep.signatures.len(), 2);
    // The last signature covers the whole file; the earlier one is intact.
    assert!(rep.signatures.iter().all(|s| s.integrity), "{rep:?}");
    let f = dir.path().join("both.pdf");
    std::fs::write(&f, &both).unwrap();
    if let Some(pdfsig) = require_tool("pdfsig") {
        let t = text(&run(Command::new(pdfsig).arg(&f)));
        assert_eq!(t.matches("Signature is Valid").count(), 2, "{t}");
    }

    // POST /v1/verify says the same as the library.
    let r = s
        .post(
            "/v1/verify",
            Some(AUDITOR_KEY),
            "application/pdf",
            &personal,
        )
        .unwrap();
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["indication"], "TOTAL-PASSED");
    assert_eq!(v["signatures"][0]["signer"]["common_name"], "Nguyễn Văn An");

    // The keys each client may use.
    let v = s.get("/v1/keys", Some(SIGNER_KEY)).unwrap().json();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["officer", "agency"]);
    assert!(v[0]["chain_pem"]
        .as_str()
        .unwrap()
        .contains("BEGIN CERTIFICATE"));
    let v = s.get("/v1/keys", Some(LIMITED_KEY)).unwrap().json();
    assert_eq!(v.as_array().unwrap().len(), 1);

    // Audit: two signatures and one refusal, chained.
    let v = s.get("/v1/audit/verify", Some(AUDITOR_KEY)).unwrap().json();
    assert_eq!(v["intact"], true, "{v}");
    assert_eq!(v["records"], 3);
    let recs = s
        .get("/v1/audit?after=0&limit=10", Some(AUDITOR_KEY))
        .unwrap()
        .json();
    let outcomes: Vec<&str> = recs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["signed", "personal_signature_required", "signed"]
    );
    assert_eq!(recs[0]["client"], "dms");
    assert_eq!(recs[0]["key"], "officer");
    assert_eq!(recs[0]["profile"], "personal");
    assert_eq!(recs[0]["document_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(
        recs[0]["cert_serial"].as_str().unwrap(),
        rep.signatures[0].signer.as_ref().unwrap().serial
    );

    // Metrics and health.
    let m = String::from_utf8(s.get("/metrics", None).unwrap().body).unwrap();
    assert!(
        m.contains("sign_server_documents_signed_total{mode=\"sync\"} 2"),
        "{m}"
    );
    assert_eq!(s.get("/healthz", None).unwrap().status, 200);
}

#[test]
fn bad_input_gets_the_right_4xx_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), None, None, "");
    let s = Server::start(&cfg, "a");
    let good = pdf(2);
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, Vec<u8>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            "not a PDF",
            "/v1/sign?key=officer",
            Some(SIGNER_KEY),
            b"hello, this is text".to_vec(),
            422,
            "not_a_pdf",
        ),
        (
            "truncated PDF",
            "/v1/sign?key=officer",
            Some(SIGNER_KEY),
            good[..good.len() / 2].to_vec(),
            422,
            "invalid_pdf",
        ),
        (
            "empty body",
            "/v1/sign?key=officer",
            Some(SIGNER_KEY),
            vec![],
            400,
            "empty_document",
        ),
        (
            "over the limit",
            "/v1/sign?key=officer",
            Some(SIGNER_KEY),
            vec![b'%'; 1024 * 1024 + 1],
            413,
            "too_large",
        ),
        (
            "unknown key",
            "/v1/sign?key=nope",
            Some(SIGNER_KEY),
            good.clone(),
            404,
            "unknown_key",
        ),
        (
            "no key parameter",
            "/v1/sign",
            Some(SIGNER_KEY),
            good.clone(),
            400,
            "invalid_parameters",
        ),
        (
            "ungranted key",
            "/v1/sign?key=agency&profile=personal",
            Some(LIMITED_KEY),
            good.clone(),
            403,
            "key_not_granted",
        ),
        (
            "ungranted profile",
            "/v1/sign?key=officer&profile=copy",
            Some(LIMITED_KEY),
            good.clone(),
            403,
            "profile_not_granted",
        ),
        (
            "unknown profile",
            "/v1/sign?key=officer&profile=boss",
            Some(SIGNER_KEY),
            good.clone(),
            400,
            "unknown_profile",
        ),
        (
            "unknown level",
            "/v1/sign?key=officer&level=B-LTA",
            Some(SIGNER_KEY),
            good.clone(),
            400,
            "level_unavailable",
        ),
        (
            "no credentials",
            "/v1/sign?key=officer",
            None,
            good.clone(),
            401,
            "unauthenticated",
        ),
        (
            "wrong credentials",
            "/v1/sign?key=officer",
            Some("wrong-key"),
            good.clone(),
            401,
            "invalid_credentials",
        ),
        (
            "auditor signs",
            "/v1/sign?key=officer",
            Some(AUDITOR_KEY),
            good.clone(),
            403,
            "signing_not_allowed",
        ),
    ];
    for (what, path, key, body, status, code) in &cases {
        let r = s.post(path, *key, "application/pdf", body).unwrap();
        let (st, c, msg) = err(&r);
        assert_eq!((st, c.as_str()), (*status, *code), "{what}: {msg}");
    }
    // A body over the limit sent without Content-Length (chunked) is cut off too.
    let mut chunked = b"POST /v1/sign?key=officer HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer ".to_vec();
    chunked.extend_from_slice(SIGNER_KEY.as_bytes());
    chunked.extend_from_slice(b"\r\nTransfer-Encoding: chunked\r\n\r\n");
    for _ in 0..20 {
        chunked.extend_from_slice(format!("{:x}\r\n", 64 * 1024).as_bytes());
        chunked.extend_from_slice(&vec![b'%'; 64 * 1024]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let r = raw(&s.base, &chunked, false).unwrap();
    assert_eq!(err(&r).1, "too_large");
    // A truncated upload: the client announces 100 kB, sends 10 kB and stops.
    let mut msg = format!("POST /v1/sign?key=officer HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {SIGNER_KEY}\r\nContent-Length: 100000\r\n\r\n").into_bytes();
    msg.extend_from_slice(&good[..good.len().min(10_000)]);
    let r = raw(&s.base, &msg, true).unwrap();
    assert_eq!((r.status, err(&r).1.as_str()), (400, "incomplete_upload"));
    // Auditors only, for the audit log; owners only, for batches.
    let r = s.get("/v1/audit/verify", Some(SIGNER_KEY)).unwrap();
    assert_eq!(err(&r).1, "auditor_only");
    let r = s
        .get(
            "/v1/batches/00000000000000000000000000000000",
            Some(SIGNER_KEY),
        )
        .unwrap();
    assert_eq!(err(&r).1, "unknown_batch");
    let r = s.get("/v1/nope", None).unwrap();
    assert_eq!(err(&r).1, "not_found");
    let (ct, body) = multipart(&[]);
    let r = request(
        &s.base,
        "POST",
        "/v1/batches?key=officer",
        Some(SIGNER_KEY),
        &[("content-type", &ct)],
        &body,
    )
    .unwrap();
    assert_eq!((r.status, err(&r).1.as_str()), (400, "empty_batch"));
    let r = s
        .post(
            "/v1/batches?key=officer",
            Some(SIGNER_KEY),
            "application/pdf",
            &good,
        )
        .unwrap();
    assert_eq!((r.status, err(&r).1.as_str()), (400, "invalid_parameters"));
    // Every refused signing request is in the audit log, and the chain holds.
    let v = s.get("/v1/audit/verify", Some(AUDITOR_KEY)).unwrap().json();
    assert_eq!(v["intact"], true);
    assert!(
        v["records"].as_u64().unwrap() >= cases.len() as u64 + 2,
        "{v}"
    );
    let recs = s
        .get("/v1/audit?limit=1000", Some(AUDITOR_KEY))
        .unwrap()
        .json();
    assert!(recs
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["action"] == "refuse"));
    assert!(recs
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["outcome"] == "invalid_credentials" && r["client"] == "-"));
    // No secret reaches the log.
    let log = s.log_text();
    assert!(
        !log.contains(SIGNER_KEY) && !log.contains("wrong-key"),
        "{log}"
    );
}

fn audit_fixture(dir: &Path) -> std::path::PathBuf {
    let cfg = write_config(dir, None, None, "");
    let mut s = Server::start(&cfg, "a");
    for i in 0..6 {
        let r = s
            .post(
                "/v1/sign?key=officer",
                Some(SIGNER_KEY),
                "application/pdf",
                &pdf(i),
            )
            .unwrap();
        assert_eq!(r.status, 200);
    }
    assert!(s.terminate(), "graceful stop failed:\n{}", s.log_text());
    cfg
}

#[test]
fn audit_tampering_is_detected_and_located() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = audit_fixture(dir.path());
    let db = dir.path().join("data/sign-server.db");
    let out = pki(&["audit", "verify", "--db", db.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let pristine = std::fs::read(&db).unwrap();
    // The log refuses changes through the database...
    let o = run(Command::new("python3").arg("-c").arg("import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE audit_log SET key_name='x' WHERE seq=3\")").arg(&db));
    assert!(
        !o.status.success() && text(&o).contains("append-only"),
        "{}",
        text(&o)
    );
    // ... so an intruder drops the guards first.
    let drop = "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;";
    let tampers = [
        ("update", format!("{drop} UPDATE audit_log SET key_name = 'agency' WHERE seq = 3;"), 3, "changed"),
        ("delete", format!("{drop} DELETE FROM audit_log WHERE seq = 3;"), 4, "deleted"),
        (
            "swap",
            format!("{drop} UPDATE audit_log SET seq = -1 WHERE seq = 2; UPDATE audit_log SET seq = 2 WHERE seq = 4; UPDATE audit_log SET seq = 4 WHERE seq = -1;"),
            2,
            "changed",
        ),
        ("truncate", format!("{drop} DELETE FROM audit_log WHERE seq = 6;"), 6, "truncated"),
    ];
    for (what, sql, seq, kind) in tampers {
        for f in ["sign-server.db-wal", "sign-server.db-shm"] {
            let _ = std::fs::remove_file(dir.path().join("data").join(f));
        }
        std::fs::write(&db, &pristine).unwrap();
        sqlite_exec(&db, &sql);
        let out = pki(&["audit", "verify", "--db", db.to_str().unwrap(), "--json"]);
        assert_eq!(out.status.code(), Some(1), "{what}: {}", text(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["intact"], false);
        let p = &v["problems"][0];
        assert_eq!(
            (p["seq"].as_i64(), p["kind"].as_str()),
            (Some(seq), Some(kind)),
            "{what}: {v}"
        );
        // The endpoint runs the same check.
        let s = Server::start(&cfg, what);
        let e = s.get("/v1/audit/verify", Some(AUDITOR_KEY)).unwrap().json();
        assert_eq!(e["problems"], v["problems"], "{what}");
        let out = pki(&["audit", "verify", "--db", db.to_str().unwrap()]);
        assert!(
            text(&out).contains(&format!("record {seq}")),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn kill_9_during_a_500_document_batch_loses_nothing_and_signs_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), None, None, "worker_claim = 16");
    let mut s = Server::start(&cfg, "first");
    let files: Vec<(String, Vec<u8>)> = (0..500).map(|i| (format!("cv-{i}.pdf"), pdf(i))).collect();
    let (ct, body) = multipart(&files);
    let r = request(
        &s.base,
        "POST",
        "/v1/batches?key=officer&profile=personal",
        Some(SIGNER_KEY),
        &[("content-type", &ct), ("idempotency-key", "batch-1")],
        &body,
    )
    .unwrap();
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_owned();
    // Kill it once some, not all, documents are signed.
    loop {
        let v = s
            .get(&format!("/v1/batches/{id}"), Some(SIGNER_KEY))
            .unwrap()
            .json();
        let done = v["done"].as_i64().unwrap();
        assert!(
            done < 500,
            "the batch finished before the kill; the test needs a slower machine or a bigger batch"
        );
        if done >= 40 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    s.kill9();
    let s = Server::start(&cfg, "second");
    // A retried upload with the same Idempotency-Key creates nothing new.
    let r = request(
        &s.base,
        "POST",
        "/v1/batches?key=officer&profile=personal",
        Some(SIGNER_KEY),
        &[("content-type", &ct), ("idempotency-key", "batch-1")],
        &body,
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["id"], id.as_str());
    let v = wait_batch(&s, &id, Duration::from_secs(600));
    assert_eq!(
        (v["done"].as_i64(), v["failed"].as_i64()),
        (Some(500), Some(0)),
        "{v}"
    );

    // Exactly one "signed" audit record per document, and the chain intact.
    let per_doc = s.signed_per_document();
    assert_eq!(per_doc.len(), 500);
    assert!(
        per_doc.values().all(|n| *n == 1),
        "a document was recorded twice"
    );
    let chain = s.get("/v1/audit/verify", Some(AUDITOR_KEY)).unwrap().json();
    assert_eq!(chain["intact"], true, "{chain}");

    // Every output is the signed input, valid for our verifier; distinct documents.
    let docs = v["documents"].as_array().unwrap();
    let mut seqs = HashSet::new();
    for (i, d) in docs.iter().enumerate() {
        assert!(seqs.insert(d["audit_seq"].as_i64().unwrap()));
        assert!(per_doc.contains_key(d["id"].as_str().unwrap()));
        let r = s
            .get(
                &format!("/v1/batches/{id}/documents/{}", d["id"].as_str().unwrap()),
                Some(SIGNER_KEY),
            )
            .unwrap();
        assert_eq!(r.status, 200);
        assert!(
            r.body.starts_with(&files[i].1),
            "document {i} is not its input signed"
        );
        if i % 25 == 0 {
            let rep = verify(&r.body, dir.path());
            assert_eq!(rep.indication, Indication::TotalPassed, "document {i}");
            assert_eq!(rep.signatures.len(), 1, "document {i} signed twice");
        }
        if i == 7 {
            let f = dir.path().join("sample.pdf");
            std::fs::write(&f, &r.body).unwrap();
            if let Some(ok) = pdfsig_says_valid(&f) {
                assert!(ok);
            }
        }
    }
    let out = pki(&[
        "audit",
        "verify",
        "--db",
        dir.path().join("data/sign-server.db").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn b_t_with_the_configured_tsa_and_a_clear_503_when_it_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), None, None, "");
    // Without a TSA, B-T is refused as the caller's request, before any upload is read.
    let s = Server::start(&cfg, "no-tsa");
    let r = s
        .post(
            "/v1/sign?key=officer&level=B-T",
            Some(SIGNER_KEY),
            "application/pdf",
            &pdf(3),
        )
        .unwrap();
    assert_eq!((r.status, err(&r).1.as_str()), (400, "level_unavailable"));
    drop(s);
    let tsa = interop_tests::FixtureTsa::start();
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "\n[tsa]\nurl = \"{}\"\ntimeout_secs = 5\n",
        tsa.url
    ));
    std::fs::write(&cfg, text).unwrap();
    let s = Server::start(&cfg, "tsa");
    let r = s
        .post(
            "/v1/sign?key=officer&level=B-T",
            Some(SIGNER_KEY),
            "application/pdf",
            &pdf(3),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("x-signature-level"), Some("PAdES-B-T"));
    let rep = verify(&r.body, dir.path());
    let sig = &rep.signatures[0];
    assert_eq!(sig.level.as_deref(), Some("PAdES-B-T"), "{rep:?}");
    assert!(sig.timestamp.as_ref().is_some_and(|t| t.valid), "{rep:?}");
    drop(tsa);
    let r = s
        .post(
            "/v1/sign?key=officer&level=B-T",
            Some(SIGNER_KEY),
            "application/pdf",
            &pdf(4),
        )
        .unwrap();
    let (st, code, _) = err(&r);
    assert_eq!((st, code.as_str()), (503, "tsa_unavailable"));
    assert!(r.header("retry-after").is_some());
    assert!(!s.log_text().contains(SIGNER_KEY));
}

#[test]
fn callback_when_a_batch_finishes_and_retention_forgets_old_batches() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), None, None, "");
    let s = Server::start(&cfg, "a");
    // The caller's endpoint: records one POST and answers 204.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/done", l.local_addr().unwrap());
    let got = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut c, _) = l.accept().unwrap();
        c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = c.read(&mut chunk).unwrap();
            buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if buf.len() >= end + 4 + len || n == 0 {
                    c.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
                        .unwrap();
                    return String::from_utf8_lossy(&buf).into_owned();
                }
            }
        }
    });
    let files: Vec<(String, Vec<u8>)> = (0..3).map(|i| (format!("{i}.pdf"), pdf(i))).collect();
    let (ct, body) = multipart(&files);
    let path = format!(
        "/v1/batches?key=officer&callback_url={}",
        url.replace(':', "%3A").replace('/', "%2F")
    );
    let r = request(
        &s.base,
        "POST",
        &path,
        Some(SIGNER_KEY),
        &[("content-type", &ct)],
        &body,
    )
    .unwrap();
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let req = got.join().unwrap();
    assert!(req.starts_with("POST /done "), "{req}");
    let json: serde_json::Value =
        serde_json::from_str(req.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(
        (
            json["id"].as_str(),
            json["state"].as_str(),
            json["done"].as_i64()
        ),
        (Some(id.as_str()), Some("finished"), Some(3))
    );
    let mut s = s;
    assert!(s.terminate());
    let blobs = dir.path().join("data/blobs");
    assert!(blobs.join("in").join(&id).exists() && blobs.join("out").join(&id).exists());

    // Retention 0 days: at the next start the finished batch, its rows and files are gone; the
    // audit log keeps its records.
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("[storage]\n", "[storage]\nretention_days = 0\n");
    std::fs::write(&cfg, text).unwrap();
    let s = Server::start(&cfg, "b");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while s
        .get(&format!("/v1/batches/{id}"), Some(SIGNER_KEY))
        .unwrap()
        .status
        != 404
    {
        assert!(
            std::time::Instant::now() < deadline,
            "retention did not remove the batch"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!blobs.join("in").join(&id).exists() && !blobs.join("out").join(&id).exists());
    let v = s.get("/v1/audit/verify", Some(AUDITOR_KEY)).unwrap().json();
    assert_eq!(
        (v["intact"].as_bool(), v["records"].as_u64()),
        (Some(true), Some(3))
    );
}

/// Keys configured with their images draw the Decree 30 layouts: the leader's signature above
/// the name found on the letter, then the agency seal beside it; both signatures stay valid for
/// us and for pdfsig, and the attachment stamp's text copies out exactly.
#[test]
fn visible_layouts_with_configured_images() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), None, None, "");
    let sig_png = dir.path().join("signature.png");
    let seal_png = dir.path().join("seal.png");
    std::fs::write(&sig_png, pki_core::pdf::sample::signature_png()).unwrap();
    std::fs::write(&seal_png, pki_core::pdf::sample::seal_png(36.0)).unwrap();
    let config = std::fs::read_to_string(&cfg).unwrap();
    let config = config
        .replacen(
            "\n[keys.agency]",
            &format!("image = \"{}\"\n\n[keys.agency]", sig_png.display()),
            1,
        )
        .replacen(
            "\n[[clients]]",
            &format!("image = \"{}\"\n\n[[clients]]", seal_png.display()),
            1,
        );
    std::fs::write(&cfg, config).unwrap();
    let s = Server::start(&cfg, "layouts");
    let letter =
        pki_core::pdf::sample::official_letter("15/QĐ-UBND", &["CHỦ TỊCH"], "Nguyễn Văn An");
    let post = |path: &str, body: &[u8]| {
        let r = s
            .post(path, Some(SIGNER_KEY), "application/pdf", body)
            .unwrap();
        assert_eq!(
            r.status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        r.body
    };
    let personal = post("/v1/sign?key=officer&profile=personal", &letter);
    let both = post("/v1/sign?key=agency&profile=agency", &personal);
    let rep = verify(&both, dir.path());
    assert_eq!(rep.indication, Indication::TotalPassed, "{rep:?}");
    assert_eq!(rep.signatures.len(), 2);
    let f = dir.path().join("both.pdf");
    std::fs::write(&f, &both).unwrap();
    if let Some(ok) = pdfsig_says_valid(&f) {
        assert!(ok, "pdfsig rejects the server's layouts");
    }
    // Both widgets are visible (a non-empty /Rect), the seal's overlapping the signature's.
    let mut reader = pki_core::pdf::PdfReader::open(&f).unwrap();
    let (_, catalog) = reader.catalog().unwrap();
    let acro = reader.get_in(&catalog, "AcroForm").unwrap().unwrap();
    let Some(pki_core::pdf::Object::Array(fields)) =
        reader.get_in(acro.as_dict().unwrap(), "Fields").unwrap()
    else {
        panic!("no fields");
    };
    let rects: Vec<[f64; 4]> = fields
        .iter()
        .map(|f| {
            let d = reader.resolve(f).unwrap();
            let r = d
                .as_dict()
                .unwrap()
                .get("Rect")
                .unwrap()
                .as_array()
                .unwrap()
                .to_vec();
            let v: Vec<f64> = r.iter().map(|x| x.as_f64().unwrap()).collect();
            [v[0], v[1], v[2], v[3]]
        })
        .collect();
    assert_eq!(rects.len(), 2);
    let (p, a) = (rects[0], rects[1]);
    assert!(p[2] > p[0] && a[2] > a[0], "{rects:?}");
    assert!(
        a[2] > p[0] && a[0] < p[0],
        "the seal overlaps the signature's left: {rects:?}"
    );

    // The attachment stamp (no image needed): its text copies out exactly.
    let stamped = post(
        "/v1/sign?key=agency&profile=attachment&doc_number=15%2FQ%C4%90-UBND",
        &letter,
    );
    let f = dir.path().join("attachment.pdf");
    std::fs::write(&f, &stamped).unwrap();
    if let Some(pdftotext) = require_tool("pdftotext") {
        let o = run(Command::new(pdftotext).arg(&f).arg("-"));
        assert!(text(&o).contains("15/QĐ-UBND"), "{}", text(&o));
    }
}

/// A helper process holding SQLite's write lock (`BEGIN IMMEDIATE`, from Python's independent
/// sqlite3) and answering read queries inside it, one JSON line per query line.
struct WriteLock {
    child: std::process::Child,
    out: std::io::BufReader<std::process::ChildStdout>,
}

impl WriteLock {
    fn take(db: &Path) -> Self {
        use std::io::BufRead;
        use std::process::Stdio;
        let script = r#"
import sqlite3, sys, json
c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
c.execute('BEGIN IMMEDIATE')
print('locked', flush=True)
for q in sys.stdin:
    print(json.dumps(c.execute(q).fetchall()), flush=True)
c.execute('ROLLBACK')
"#;
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "locked");
        Self { child, out }
    }

    fn query(&mut self, sql: &str) -> serde_json::Value {
        use std::io::{BufRead, Write};
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{sql}").unwrap();
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap()
    }

    fn release(mut self) {
        drop(self.child.stdin.take());
        assert!(self.child.wait().unwrap().success());
    }
}

#[test]
fn kill_9_after_a_group_pack_is_written_and_before_its_commit() {
    // Decision 0035: a group's outputs go into one pack file, made durable, then ONE
    // transaction references them. Holding the database's write lock stops the worker between
    // the two; the process is killed there. The pack must stay unreferenced and every document
    // still be signed exactly once after the restart.
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), None, None, "worker_claim = 16");
    let mut s = Server::start(&cfg, "first");
    let files: Vec<(String, Vec<u8>)> = (0..300).map(|i| (format!("d-{i}.pdf"), pdf(i))).collect();
    let (ct, body) = multipart(&files);
    let r = request(
        &s.base,
        "POST",
        "/v1/batches?key=officer",
        Some(SIGNER_KEY),
        &[("content-type", &ct)],
        &body,
    )
    .unwrap();
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_owned();
    // The upload is one file, not one per document.
    let inputs: Vec<_> = std::fs::read_dir(dir.path().join("data/blobs/in").join(&id))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(inputs, ["inputs.pack"]);
    loop {
        let v = s
            .get(&format!("/v1/batches/{id}"), Some(SIGNER_KEY))
            .unwrap()
            .json();
        if v["done"].as_i64().unwrap() > 0 {
            assert!(
                v["done"].as_i64().unwrap() < 300,
                "finished before the lock: {v}"
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let db = dir.path().join("data/sign-server.db");
    let mut lock = WriteLock::take(&db);
    let out = dir.path().join("data/blobs/out").join(&id);
    // Wait for a pack that no row references: signed, written, waiting for its commit.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let orphan = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no group got past signing"
        );
        let referenced =
            lock.query("SELECT DISTINCT output_path FROM jobs WHERE output_path IS NOT NULL");
        let referenced: HashSet<String> = referenced
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                r[0].as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        let waiting = std::fs::read_dir(&out).unwrap().find_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            (name.ends_with(".pack") && !referenced.contains(&name)).then_some(name)
        });
        if let Some(p) = waiting {
            break p;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // Give the group time to finish writing and syncing the pack (its commit is blocked).
    std::thread::sleep(Duration::from_millis(500));
    let done_before = lock.query("SELECT COUNT(*) FROM jobs WHERE state = 'done'")[0][0]
        .as_i64()
        .unwrap();
    s.kill9();
    lock.release();
    assert!(std::fs::metadata(out.join(&orphan)).unwrap().len() > 0);

    let s = Server::start(&cfg, "second");
    let v = wait_batch(&s, &id, Duration::from_secs(600));
    assert_eq!(
        (v["done"].as_i64(), v["failed"].as_i64()),
        (Some(300), Some(0)),
        "{v}"
    );
    assert!(done_before < 300);
    let per_doc = s.signed_per_document();
    assert_eq!(per_doc.len(), 300);
    assert!(
        per_doc.values().all(|n| *n == 1),
        "a document was recorded twice"
    );
    let chain = s.get("/v1/audit/verify", Some(AUDITOR_KEY)).unwrap().json();
    assert_eq!(chain["intact"], true, "{chain}");
    // The pack written before the kill is referenced by no row; the documents it held were
    // signed again into another pack.
    let mut check = WriteLock::take(&db);
    let refs = check.query(&format!(
        "SELECT COUNT(*) FROM jobs WHERE output_path LIKE '%{orphan}'"
    ));
    check.release();
    assert_eq!(refs[0][0], 0, "the orphan pack {orphan} is referenced");
    // Every output is its own input signed: served from its range of a pack.
    let docs = v["documents"].as_array().unwrap();
    for (i, d) in docs.iter().enumerate() {
        let r = s
            .get(
                &format!("/v1/batches/{id}/documents/{}", d["id"].as_str().unwrap()),
                Some(SIGNER_KEY),
            )
            .unwrap();
        assert_eq!(r.status, 200);
        assert!(
            r.body.starts_with(&files[i].1),
            "document {i} is not its input signed"
        );
        if i % 50 == 0 {
            let rep = verify(&r.body, dir.path());
            assert_eq!(rep.indication, Indication::TotalPassed, "document {i}");
            assert_eq!(rep.signatures.len(), 1, "document {i}");
        }
    }
}

#[test]
fn batches_written_before_packing_are_still_signed_and_served() {
    // Rows from before decision 0035 have no ranges: each input is `in/<batch>/<job>.pdf` and
    // each output a whole file. Such a batch, one document queued and one already done, is
    // put in the database and the blob directory as the old version left them.
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), None, None, "");
    drop(Server::start(&cfg, "schema"));
    let (bid, queued, done) = ("0123456789abcdef0123456789abcdef", "j-queued", "j-done");
    let blobs = dir.path().join("data/blobs");
    std::fs::create_dir_all(blobs.join("in").join(bid)).unwrap();
    std::fs::create_dir_all(blobs.join("out").join(bid)).unwrap();
    let input = pdf(11);
    std::fs::write(blobs.join(format!("in/{bid}/{queued}.pdf")), &input).unwrap();
    let old_output = pdf(12);
    std::fs::write(blobs.join(format!("out/{bid}/{done}-old.pdf")), &old_output).unwrap();
    let sha = hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        &input,
    ));
    sqlite_exec(
        &dir.path().join("data/sign-server.db"),
        &format!(
            "INSERT INTO batches (id, client, idem_key, key_name, profile, level, options, \
             callback_url, callback_state, created_at, total) VALUES ('{bid}', 'dms', NULL, \
             'officer', 'plain', 'B-B', '{{\"key\":\"officer\"}}', NULL, 'none', 1, 2);
             INSERT INTO jobs (id, batch_id, idx, name, input_sha256, state, lease_until, \
             attempts, created_at) VALUES ('{queued}', '{bid}', 0, 'a.pdf', '{sha}', 'queued', \
             0, 0, 1);
             INSERT INTO jobs (id, batch_id, idx, name, input_sha256, state, lease_until, \
             attempts, created_at, output_path, output_sha256, audit_seq) VALUES ('{done}', \
             '{bid}', 1, 'b.pdf', '{sha}', 'done', 0, 1, 1, 'out/{bid}/{done}-old.pdf', '-', 0);"
        ),
    );
    let s = Server::start(&cfg, "after");
    let v = wait_batch(&s, bid, Duration::from_secs(60));
    assert_eq!(
        (v["done"].as_i64(), v["failed"].as_i64()),
        (Some(2), Some(0)),
        "{v}"
    );
    let get = |doc: &str| {
        let r = s
            .get(
                &format!("/v1/batches/{bid}/documents/{doc}"),
                Some(SIGNER_KEY),
            )
            .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.body
    };
    let signed = get(queued);
    assert!(
        signed.starts_with(&input),
        "the old-layout input was not the one signed"
    );
    assert_eq!(
        verify(&signed, dir.path()).indication,
        Indication::TotalPassed
    );
    assert_eq!(get(done), old_output, "an old output is served whole");
}
