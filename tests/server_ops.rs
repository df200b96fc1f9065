//! What an operator of `sign-server` meets, over real HTTP on 127.0.0.1 with SQLite:
//! `Idempotency-Key` on `POST /v1/sign` across a restart and its expiry, durable batch
//! uploads, `/readyz` naming a token that went away (SoftHSM2), XML documents signed through
//! the service and accepted by xmlsec1, per-client rate limits (429 + Retry-After), and
//! `/v1/verify` checking revocation online against loopback OCSP and CRL servers.
#![expect(clippy::unwrap_used, reason = "test code")]

use interop_tests::server::{multipart, pdf, request, wait_batch, write_config, Resp, Server};
use interop_tests::server::{AUDITOR_KEY, LIMITED_KEY, SIGNER_KEY};
use std::path::Path;
use std::time::Duration;

fn sign_idem(s: &Server, key: &str, body: &[u8]) -> Resp {
    request(
        &s.base,
        "POST",
        "/v1/sign?key=officer&profile=plain",
        Some(SIGNER_KEY),
        &[
            ("content-type", "application/pdf"),
            ("idempotency-key", key),
        ],
        body,
    )
    .unwrap()
}

fn audit_records(s: &Server) -> u64 {
    let v = s.get("/v1/audit/verify", Some(AUDITOR_KEY)).unwrap().json();
    assert_eq!(v["intact"], true, "{v}");
    v["records"].as_u64().unwrap()
}

fn edit(cfg: &Path, from: &str, to: &str) {
    let t = std::fs::read_to_string(cfg).unwrap();
    assert!(t.contains(from), "{from} not in the configuration");
    std::fs::write(cfg, t.replacen(from, to, 1)).unwrap();
}

#[test]
fn idempotency_key_on_sign_replays_the_same_bytes_across_a_restart_and_expires() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), None, None, "");
    let mut s = Server::start(&cfg, "a");
    let doc = pdf(7);

    let first = sign_idem(&s, "order-7", &doc);
    assert_eq!(
        first.status,
        200,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    assert_eq!(first.header("idempotent-replayed"), None);
    let records = audit_records(&s);
    let again = sign_idem(&s, "order-7", &doc);
    assert_eq!(again.status, 200);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body, "a retry gets the same signed bytes");
    assert_eq!(again.header("x-audit-seq"), first.header("x-audit-seq"));
    assert_eq!(audit_records(&s), records, "a retry adds no audit record");

    // Without a key, or with another key, the same document is signed again.
    let other = sign_idem(&s, "order-7b", &doc);
    assert_eq!(other.status, 200);
    assert_ne!(other.body, first.body);
    assert_eq!(audit_records(&s), records + 1);

    // The same key with another document, or other options: refused, clearly, and nothing
    // is signed.
    let r = sign_idem(&s, "order-7", &pdf(8));
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["code"], "idempotency_key_reused");
    let r = request(
        &s.base,
        "POST",
        "/v1/sign?key=officer&profile=plain&reason=other",
        Some(SIGNER_KEY),
        &[
            ("content-type", "application/pdf"),
            ("idempotency-key", "order-7"),
        ],
        &doc,
    )
    .unwrap();
    assert_eq!(r.json()["code"], "idempotency_key_reused");
    let r = sign_idem(&s, &"x".repeat(300), &doc);
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (400, Some("invalid_parameters"))
    );
    // Keys are per client: another client's identical key is its own request.
    let r = request(
        &s.base,
        "POST",
        "/v1/sign?key=officer&profile=personal",
        Some(LIMITED_KEY),
        &[
            ("content-type", "application/pdf"),
            ("idempotency-key", "order-7"),
        ],
        &doc,
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let records = audit_records(&s);

    // A crash does not forget it: kill -9, start again, same bytes, no new record.
    s.kill9();
    let s = Server::start(&cfg, "b");
    let again = sign_idem(&s, "order-7", &doc);
    assert_eq!(
        again.status,
        200,
        "{}",
        String::from_utf8_lossy(&again.body)
    );
    assert_eq!(again.body, first.body);
    assert_eq!(audit_records(&s), records);
    let mut s = s;
    assert!(s.terminate());

    // Retention 0 days: the kept outputs and the keys are forgotten at the next start, and
    // the key then signs afresh.
    let kept = dir.path().join("data/blobs/sign");
    assert_eq!(std::fs::read_dir(&kept).unwrap().count(), 3);
    edit(&cfg, "[storage]\n", "[storage]\nretention_days = 0\n");
    let s = Server::start(&cfg, "c");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::fs::read_dir(&kept).unwrap().count() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "retention kept the outputs"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let fresh = sign_idem(&s, "order-7", &pdf(8));
    assert_eq!(
        fresh.status,
        200,
        "{}",
        String::from_utf8_lossy(&fresh.body)
    );
    assert_eq!(audit_records(&s), records + 1);
}

#[test]
fn batch_uploads_are_synced_before_they_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), None, None, "");
    let s = Server::start(&cfg, "a");
    let files: Vec<(String, Vec<u8>)> = (0..20).map(|i| (format!("{i}.pdf"), pdf(i))).collect();
    let (ct, body) = multipart(&files);
    let r = s
        .post(
            "/v1/batches?key=officer&profile=plain",
            Some(SIGNER_KEY),
            &ct,
            &body,
        )
        .unwrap();
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let m = String::from_utf8(s.get("/metrics", None).unwrap().body).unwrap();
    let count = m
        .lines()
        .find_map(|l| l.strip_prefix("sign_server_batch_upload_sync_seconds_count "))
        .unwrap();
    assert_eq!(count, "1", "{m}");
    let v = wait_batch(&s, &id, Duration::from_secs(120));
    assert_eq!(v["done"], 20, "{v}");
}

#[test]
fn a_client_over_its_rate_limit_gets_429_with_retry_after_and_others_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), None, None, "");
    edit(
        &cfg,
        "name = \"limited\"\n",
        "name = \"limited\"\nrate_limit = { per_second = 0.2, burst = 3 }\n",
    );
    let s = Server::start(&cfg, "a");
    let doc = pdf(1);
    let sign = |key: &str| {
        s.post(
            "/v1/sign?key=officer&profile=personal",
            Some(key),
            "application/pdf",
            &doc,
        )
        .unwrap()
    };
    for _ in 0..3 {
        let r = sign(LIMITED_KEY);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    let records = audit_records(&s);
    let r = sign(LIMITED_KEY);
    assert_eq!(r.status, 429, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["code"], "rate_limited");
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=5).contains(&wait), "Retry-After {wait}");
    // Every endpoint of that client counts; the other clients are not affected.
    assert_eq!(s.get("/v1/keys", Some(LIMITED_KEY)).unwrap().status, 429);
    for _ in 0..5 {
        assert_eq!(sign(SIGNER_KEY).status, 200);
    }
    // Refusals for rate are counted, not audited (a flood would grow the log).
    assert_eq!(audit_records(&s), records + 5);
    let m = String::from_utf8(s.get("/metrics", None).unwrap().body).unwrap();
    assert!(
        m.contains("sign_server_requests_rate_limited_total 2"),
        "{m}"
    );
    // After Retry-After the client may sign again.
    std::thread::sleep(Duration::from_secs(wait));
    assert_eq!(sign(LIMITED_KEY).status, 200);

    // A wrong limit is named at start.
    edit(&cfg, "per_second = 0.2", "per_second = 0");
    let out = std::process::Command::new(interop_tests::server::server_bin())
        .arg("--config")
        .arg(&cfg)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    let text = interop_tests::text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("rate_limit needs per_second > 0"), "{text}");
}
