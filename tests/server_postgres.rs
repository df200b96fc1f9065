//! `sign-server` on a real PostgreSQL (a private cluster the test starts on 127.0.0.1): two
//! instances share one batch, one is killed with `kill -9` in the middle, the other finishes
//! it; every document is signed and recorded exactly once and the audit chain (appended to by
//! both instances) is intact — checked by the endpoint and by `pki audit verify --db URL`.

use interop_tests::server::{
    multipart, pdf, request, wait_batch, write_config, Postgres, Server, AUDITOR_KEY, SIGNER_KEY,
};
use interop_tests::{pki, text};
use std::time::Duration;

#[test]
fn two_instances_one_killed_mid_batch_the_other_finishes_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let Some(pg) = Postgres::start(dir.path()) else {
        return;
    };
    let cfg = write_config(dir.path(), Some(&pg.url), None, "worker_claim = 8");
    let mut a = Server::start(&cfg, "a");
    let b = Server::start(&cfg, "b");
    let n = 300;
    let files: Vec<(String, Vec<u8>)> = (0..n).map(|i| (format!("cv-{i}.pdf"), pdf(i))).collect();
    let (ct, body) = multipart(&files);
    let r = request(
        &a.base,
        "POST",
        "/v1/batches?key=officer&profile=personal",
        Some(SIGNER_KEY),
        &[("content-type", &ct)],
        &body,
    )
    .unwrap();
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_owned();
    loop {
        let v = b
            .get(&format!("/v1/batches/{id}"), Some(SIGNER_KEY))
            .unwrap()
            .json();
        let done = v["done"].as_i64().unwrap();
        assert!(done < n as i64, "the batch finished before the kill");
        if done >= 30 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    a.kill9();
    let v = wait_batch(&b, &id, Duration::from_secs(600));
    assert_eq!(
        (v["done"].as_i64(), v["failed"].as_i64()),
        (Some(n as i64), Some(0)),
        "{v}"
    );

    let per_doc = b.signed_per_document();
    assert_eq!(per_doc.len(), n);
    assert!(
        per_doc.values().all(|c| *c == 1),
        "a document was signed twice"
    );
    for d in v["documents"].as_array().unwrap() {
        assert_eq!(per_doc.get(d["id"].as_str().unwrap()), Some(&1));
    }
    let chain = b.get("/v1/audit/verify", Some(AUDITOR_KEY)).unwrap().json();
    assert_eq!(chain["intact"], true, "{chain}");
    assert_eq!(chain["records"], n as u64);
    let out = pki(&["audit", "verify", "--db", &pg.url]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Every output downloads from the surviving instance and is its input, signed.
    for (i, d) in v["documents"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .step_by(10)
    {
        let r = b
            .get(
                &format!("/v1/batches/{id}/documents/{}", d["id"].as_str().unwrap()),
                Some(SIGNER_KEY),
            )
            .unwrap();
        assert_eq!(r.status, 200);
        assert!(r.body.starts_with(&files[i].1));
    }
    // Idempotency-Key on POST /v1/sign is kept in PostgreSQL too.
    let idem = |doc: &[u8]| {
        request(
            &b.base,
            "POST",
            "/v1/sign?key=officer",
            Some(SIGNER_KEY),
            &[
                ("content-type", "application/pdf"),
                ("idempotency-key", "pg-1"),
            ],
            doc,
        )
        .unwrap()
    };
    let first = idem(&files[0].1);
    assert_eq!(
        first.status,
        200,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let again = idem(&files[0].1);
    assert_eq!((again.status, &again.body), (200, &first.body));
    assert_eq!(idem(&files[1].1).status, 422);
    let chain = b.get("/v1/audit/verify", Some(AUDITOR_KEY)).unwrap().json();
    assert_eq!(chain["records"], n as u64 + 2, "{chain}");
}
