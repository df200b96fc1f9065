//! `sign-server` with remote keys over real HTTP on 127.0.0.1: batches whose documents are
//! prepared, parked in the queue while the key holder approves on the phone (our scripted CSC
//! API server and MSSP, tests/support), and finished when the signatures arrive. A batch of 20
//! through CSC is one approval and is accepted by pdfsig and pyHanko; a PKI SIM signs one
//! document per approval; refusals, a blocked PIN and our approval timeout fail the documents
//! with one sentence, audited, with no output; and a `kill -9` of the service while the person
//! approves loses nothing and signs nothing twice (the CSC server sees one authorisation and
//! one signing request), with the audit chain intact. With PostgreSQL: two instances, the one
//! that sent the request killed while it waits.
#![expect(clippy::unwrap_used, reason = "test code")]

use interop_tests::csc_server::{CscConfig, CscServer, Script};
use interop_tests::mssp_server::{MssScript, MsspServer};
use interop_tests::remote::{pdfsig_ok, pyhanko_ok};
use interop_tests::server::{
    multipart, pdf, request, wait_batch, write_config, Postgres, Server, AUDITOR_KEY, SIGNER_KEY,
};
use interop_tests::{fixtures, pki, text};
use pki_core::report::Indication;
use pki_core::trust::CertPool;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const MSISDN: &str = "+84912345678";
const AP_ID: &str = "http://ap.ubnd-bacninh.test.vn/ky-so";

fn pki_file(name: &str) -> PathBuf {
    fixtures().join("pki").join(name)
}

/// A configuration with the fixture keys plus `leader` (CSC) and `sim` (PKI SIM) over the
/// given servers; secrets in files beside it, never in the configuration.
fn config(
    dir: &Path,
    database: Option<&str>,
    blobs: Option<&Path>,
    csc: Option<&str>,
    mssp: Option<&str>,
    approval_timeout_secs: u64,
) -> PathBuf {
    let p = write_config(dir, database, blobs, "worker_claim = 64");
    std::fs::write(dir.join("client-secret"), "s3cret-client\n").unwrap();
    std::fs::write(dir.join("pin"), "123456\n").unwrap();
    std::fs::write(dir.join("ap-pwd"), "ap-pass-1\n").unwrap();
    let granted: String = [("leader", csc.is_some()), ("sim", mssp.is_some())]
        .iter()
        .filter(|(_, on)| *on)
        .map(|(k, _)| format!(", \"{k}\""))
        .collect();
    let mut text = std::fs::read_to_string(&p).unwrap().replace(
        "keys = [\"officer\", \"agency\"]",
        &format!("keys = [\"officer\", \"agency\"{granted}]"),
    );
    if let Some(api) = csc {
        text.push_str(&format!(
            "\n[keys.leader]\nkeyref = \"csc:{api}?credential=cred-001&client-id=van-thu-app&secret-source=file:{}&pin-source=file:{}\"\napproval_timeout_secs = {approval_timeout_secs}\npoll_interval_ms = 100\n",
            dir.join("client-secret").display(),
            dir.join("pin").display(),
        ));
    }
    if let Some(url) = mssp {
        text.push_str(&format!(
            "\n[keys.sim]\nkeyref = \"mss:{MSISDN}?mssp={url}&ap-id={AP_ID}&secret-source=file:{}\"\ncert = \"{}\"\napproval_timeout_secs = {approval_timeout_secs}\npoll_interval_ms = 100\n",
            dir.join("ap-pwd").display(),
            pki_file("officer-rsa.chain.pem").display(),
        ));
    }
    std::fs::write(&p, text).unwrap();
    p
}

fn upload(s: &Server, key: &str, files: &[(String, Vec<u8>)]) -> String {
    upload_with(s, &format!("key={key}&profile=plain"), files)
}

fn upload_with(s: &Server, query: &str, files: &[(String, Vec<u8>)]) -> String {
    let (ct, body) = multipart(files);
    let r = request(
        &s.base,
        "POST",
        &format!("/v1/batches?{query}"),
        Some(SIGNER_KEY),
        &[("content-type", &ct)],
        &body,
    )
    .unwrap();
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    r.json()["id"].as_str().unwrap().to_owned()
}

fn docs(n: usize, tag: &str) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| (format!("{tag}-{i}.pdf"), pdf(1000 + i)))
        .collect()
}

fn status(s: &Server, id: &str) -> serde_json::Value {
    s.get(&format!("/v1/batches/{id}"), Some(SIGNER_KEY))
        .unwrap()
        .json()
}

/// Waits until `cond` holds on the server's log (or fails after 60 s).
fn wait_log(s: &Server, what: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while s.log_text().matches(what).count() < count {
        assert!(
            Instant::now() < deadline,
            "never logged \"{what}\":\n{}",
            s.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn verify(bytes: &[u8], dir: &Path) -> pki_core::report::Report {
    let f = dir.join("verify-me.pdf");
    std::fs::write(&f, bytes).unwrap();
    let root =
        pki_core::cert::parse_certificates(&std::fs::read(pki_file("root.pem")).unwrap()).unwrap();
    let inter =
        pki_core::cert::parse_certificates(&std::fs::read(pki_file("issuing.pem")).unwrap())
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

/// Downloads every document of a finished batch and checks each is its input signed once,
/// valid for our verifier; the first `peers` also go through pdfsig and pyHanko.
fn check_outputs(
    s: &Server,
    id: &str,
    v: &serde_json::Value,
    files: &[(String, Vec<u8>)],
    dir: &Path,
    peers: usize,
) {
    for (i, d) in v["documents"].as_array().unwrap().iter().enumerate() {
        assert_eq!(d["state"], "done", "{d}");
        let r = s
            .get(
                &format!("/v1/batches/{id}/documents/{}", d["id"].as_str().unwrap()),
                Some(SIGNER_KEY),
            )
            .unwrap();
        assert_eq!(r.status, 200);
        assert!(
            r.body.starts_with(&files[i].1),
            "document {i}: not its input"
        );
        let rep = verify(&r.body, dir);
        assert_eq!(rep.indication, Indication::TotalPassed, "document {i}");
        assert_eq!(rep.signatures.len(), 1, "document {i} signed twice");
        if i < peers {
            let f = dir.join(format!("peer-{i}.pdf"));
            std::fs::write(&f, &r.body).unwrap();
            pdfsig_ok(&f);
            pyhanko_ok(&f);
        }
    }
}

/// Audit records by outcome and, for `signed`, how many per document; and the chain's state.
fn audit(s: &Server) -> (HashMap<String, usize>, HashMap<String, usize>, bool) {
    let records = s.audit_records();
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    for r in &records {
        *outcomes
            .entry(r["outcome"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let per_doc = interop_tests::server::signed_per_document(&records);
    let chain = s.get("/v1/audit/verify", Some(AUDITOR_KEY)).unwrap().json();
    (outcomes, per_doc, chain["intact"] == true)
}

/// Files under the batch's output directory (signed outputs and any temporary file).
fn out_files(blobs: &Path, id: &str) -> Vec<String> {
    std::fs::read_dir(blobs.join("out").join(id))
        .map(|r| {
            r.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_csc_batch_of_20_is_one_approval_accepted_by_pdfsig_and_pyhanko() {
    let csc = CscServer::start(CscConfig::new("officer-rsa"));
    csc.set_script(Script::ApproveAfter(Duration::from_secs(2)));
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), None, None, Some(&csc.api()), None, 120);
    let s = Server::start(&cfg, "csc");

    // Synchronous signing cannot wait for a phone: a clear 4xx pointing at batches.
    let r = s
        .post(
            "/v1/sign?key=leader",
            Some(SIGNER_KEY),
            "application/pdf",
            &pdf(1),
        )
        .unwrap();
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["code"], "approval_required");
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("POST /v1/batches"));

    // The key list says which keys need the phone.
    let keys = s.get("/v1/keys", Some(SIGNER_KEY)).unwrap().json();
    let approval = |name: &str| {
        keys.as_array()
            .unwrap()
            .iter()
            .find(|k| k["name"] == name)
            .map(|k| k["approval_on_phone"].clone())
    };
    assert_eq!(approval("leader"), Some(serde_json::json!(true)));
    assert_eq!(approval("officer"), Some(serde_json::json!(false)));

    let files = docs(20, "to-trinh");
    let id = upload(&s, "leader", &files);
    // While the person has not approved: the batch says so.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = status(&s, &id);
        if v["state"] == "awaiting_approval" {
            assert_eq!(v["documents"][0]["state"], "awaiting_approval");
            break;
        }
        assert!(Instant::now() < deadline, "never awaiting approval: {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let v = wait_batch(&s, &id, Duration::from_secs(120));
    assert_eq!(
        (v["done"].as_i64(), v["failed"].as_i64()),
        (Some(20), Some(0)),
        "{v}"
    );
    let st = csc.stats();
    assert_eq!(
        (
            st.authorizations,
            st.sign_requests,
            st.hashes_signed,
            st.max_batch
        ),
        (1, 1, 20, 20),
        "one approval for the 20 documents: {st:?}"
    );
    check_outputs(&s, &id, &v, &files, dir.path(), 2);
    let (outcomes, per_doc, intact) = audit(&s);
    assert!(intact);
    assert_eq!(per_doc.len(), 20);
    assert!(per_doc.values().all(|n| *n == 1));
    assert_eq!(outcomes.get("signed"), Some(&20));
    // Only the 20 outputs remain: no parked or temporary file.
    let left = out_files(&dir.path().join("data/blobs"), &id);
    assert_eq!(left.len(), 20, "{left:?}");
    assert!(left.iter().all(|f| !f.starts_with('.')), "{left:?}");
    // No secret reached the log or the database.
    let log = s.log_text();
    assert!(
        !log.contains("s3cret-client") && !log.contains("123456"),
        "{log}"
    );
    let db = std::fs::read(dir.path().join("data/sign-server.db")).unwrap();
    let wal = std::fs::read(dir.path().join("data/sign-server.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(!bytes.windows(13).any(|w| w == b"s3cret-client"));
    }
}

#[test]
fn a_pki_sim_batch_takes_one_approval_per_document() {
    let mss = MsspServer::start(
        "officer-rsa",
        MSISDN,
        AP_ID,
        "ap-pass-1",
        MssScript::ApproveAfter(Duration::from_millis(300)),
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), None, None, None, Some(&mss.url), 120);
    let s = Server::start(&cfg, "mss");
    let files = docs(3, "quyet-dinh");
    let id = upload(&s, "sim", &files);
    let v = wait_batch(&s, &id, Duration::from_secs(120));
    assert_eq!(
        (v["done"].as_i64(), v["failed"].as_i64()),
        (Some(3), Some(0)),
        "{v}"
    );
    let st = mss.stats();
    assert_eq!((st.signature_requests, st.signed), (3, 3), "{st:?}");
    check_outputs(&s, &id, &v, &files, dir.path(), 1);
    let (_, per_doc, intact) = audit(&s);
    assert!(intact && per_doc.len() == 3);
}

/// Uploads `n` documents and waits for them all to fail; returns the batch status.
fn all_fail(s: &Server, key: &str, n: usize, code: &str, sentence: &str) -> serde_json::Value {
    let id = upload(s, key, &docs(n, code));
    let v = wait_batch(s, &id, Duration::from_secs(120));
    assert_eq!(
        (v["done"].as_i64(), v["failed"].as_i64()),
        (Some(0), Some(n as i64)),
        "{v}"
    );
    for d in v["documents"].as_array().unwrap() {
        assert_eq!(d["state"], "failed");
        assert_eq!(d["error"]["code"], code, "{d}");
        let m = d["error"]["message"].as_str().unwrap();
        assert!(m.contains(sentence), "{m}");
        assert!(!m.contains('\n') && m.len() < 300, "not one sentence: {m}");
    }
    v
}

#[test]
fn refusals_a_blocked_pin_and_the_timeout_fail_the_documents_with_one_sentence() {
    let csc = CscServer::start(CscConfig::new("officer-rsa"));
    csc.set_script(Script::UserCancels);
    let mss = MsspServer::start(
        "officer-rsa",
        MSISDN,
        AP_ID,
        "ap-pass-1",
        MssScript::PinBlocked,
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), None, None, Some(&csc.api()), Some(&mss.url), 3);
    let s = Server::start(&cfg, "refusals");
    let blobs = dir.path().join("data/blobs");

    let v = all_fail(&s, "leader", 4, "approval_refused", "refused on the phone");
    assert!(out_files(&blobs, v["id"].as_str().unwrap()).is_empty());
    let v = all_fail(&s, "sim", 1, "pin_blocked", "blocked");
    assert!(out_files(&blobs, v["id"].as_str().unwrap()).is_empty());
    csc.set_script(Script::NeverAnswers);
    let v = all_fail(&s, "leader", 2, "approval_timeout", "no approval came");
    assert!(out_files(&blobs, v["id"].as_str().unwrap()).is_empty());
    csc.set_script(Script::PinBlocked);
    all_fail(&s, "leader", 1, "pin_blocked", "blocked");
    csc.set_script(Script::WrongPin);
    all_fail(&s, "leader", 1, "wrong_pin", "PIN");

    let (outcomes, per_doc, intact) = audit(&s);
    assert!(intact && per_doc.is_empty());
    assert_eq!(outcomes.get("approval_refused"), Some(&4));
    assert_eq!(outcomes.get("pin_blocked"), Some(&2));
    assert_eq!(outcomes.get("wrong_pin"), Some(&1));
    assert_eq!(outcomes.get("approval_timeout"), Some(&2));
}

/// The must-show: the service dies while the person approves; restarted, it polls the stored
/// request, and every document is signed exactly once.
#[test]
fn kill_9_while_the_person_approves_signs_every_document_exactly_once() {
    let csc = CscServer::start(CscConfig::new("officer-rsa"));
    csc.set_script(Script::ApproveAfter(Duration::from_secs(8)));
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), None, None, Some(&csc.api()), None, 120);
    let mut s = Server::start(&cfg, "first");
    let files = docs(20, "cong-van");
    let id = upload(&s, "leader", &files);
    // The request went out and is stored; the person has not approved yet.
    wait_log(&s, "approval requested from", 1);
    assert_eq!(csc.stats().sign_requests, 1);
    assert_eq!(status(&s, &id)["state"], "awaiting_approval");
    s.kill9();

    let s = Server::start(&cfg, "second");
    let v = wait_batch(&s, &id, Duration::from_secs(120));
    assert_eq!(
        (v["done"].as_i64(), v["failed"].as_i64()),
        (Some(20), Some(0)),
        "{v}"
    );
    let st = csc.stats();
    assert_eq!(
        (st.authorizations, st.sign_requests, st.hashes_signed),
        (1, 1, 20),
        "the phone was asked twice: {st:?}"
    );
    assert!(st.polls >= 1);
    let (outcomes, per_doc, intact) = audit(&s);
    assert!(intact, "audit chain broken");
    assert_eq!(per_doc.len(), 20);
    assert!(
        per_doc.values().all(|n| *n == 1),
        "a document recorded twice"
    );
    assert_eq!(outcomes.get("signed"), Some(&20));
    check_outputs(&s, &id, &v, &files, dir.path(), 1);
    let left = out_files(&dir.path().join("data/blobs"), &id);
    assert_eq!(left.len(), 20, "{left:?}");
    let out = pki(&[
        "audit",
        "verify",
        "--db",
        dir.path().join("data/sign-server.db").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

/// Two instances on one PostgreSQL database: the one that sent the request is killed while
/// the person approves; the other finishes the documents, once.
#[test]
fn postgres_two_instances_one_killed_while_awaiting_approval() {
    let dir = tempfile::tempdir().unwrap();
    let Some(pg) = Postgres::start(dir.path()) else {
        return;
    };
    let csc = CscServer::start(CscConfig::new("officer-rsa"));
    csc.set_script(Script::ApproveAfter(Duration::from_secs(6)));
    let blobs = dir.path().join("blobs");
    let a_dir = dir.path().join("a");
    let b_dir = dir.path().join("b");
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::create_dir_all(&b_dir).unwrap();
    let cfg_a = config(
        &a_dir,
        Some(&pg.url),
        Some(&blobs),
        Some(&csc.api()),
        None,
        120,
    );
    let cfg_b = config(
        &b_dir,
        Some(&pg.url),
        Some(&blobs),
        Some(&csc.api()),
        None,
        120,
    );
    let mut a = Server::start(&cfg_a, "a");
    let b = Server::start(&cfg_b, "b");
    let files = docs(10, "pg");
    let id = upload(&a, "leader", &files);
    // Whichever instance sent it, kill that one.
    let deadline = Instant::now() + Duration::from_secs(60);
    let a_sent = loop {
        if a.log_text().contains("approval requested from") {
            break true;
        }
        if b.log_text().contains("approval requested from") {
            break false;
        }
        assert!(Instant::now() < deadline, "no request went out");
        std::thread::sleep(Duration::from_millis(50));
    };
    let survivor = if a_sent {
        a.kill9();
        b
    } else {
        drop(b);
        a
    };
    let v = wait_batch(&survivor, &id, Duration::from_secs(180));
    assert_eq!(
        (v["done"].as_i64(), v["failed"].as_i64()),
        (Some(10), Some(0)),
        "{v}"
    );
    let st = csc.stats();
    assert_eq!((st.authorizations, st.sign_requests), (1, 1), "{st:?}");
    let (_, per_doc, intact) = audit(&survivor);
    assert!(intact && per_doc.len() == 10 && per_doc.values().all(|n| *n == 1));
    check_outputs(&survivor, &id, &v, &files, dir.path(), 0);
}

/// A synchronous service holds the request while the person decides: a kill then leaves the
/// request "sent, answer unknown". The restarted service never sends it again (the phone
/// would ask twice); the documents fail with a sentence saying so, audited, no output.
#[test]
fn a_kill_while_a_synchronous_request_is_out_never_sends_it_twice() {
    let csc = CscServer::start(CscConfig::new("officer-rsa"));
    csc.set_script(Script::ApproveAfter(Duration::from_secs(6)));
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), None, None, Some(&csc.api()), None, 60);
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("&pin-source=", "&mode=sync&pin-source=");
    std::fs::write(&cfg, text).unwrap();
    let mut s = Server::start(&cfg, "first");
    let id = upload(&s, "leader", &docs(5, "dong-bo"));
    wait_log(&s, "sending the approval request", 1);
    // Held by the service until the person decides.
    let deadline = Instant::now() + Duration::from_secs(30);
    while csc.stats().sign_requests == 0 {
        assert!(
            Instant::now() < deadline,
            "the request never reached the service"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    s.kill9();
    let s = Server::start(&cfg, "second");
    let v = wait_batch(&s, &id, Duration::from_secs(120));
    assert_eq!(
        (v["done"].as_i64(), v["failed"].as_i64()),
        (Some(0), Some(5)),
        "{v}"
    );
    for d in v["documents"].as_array().unwrap() {
        assert_eq!(d["error"]["code"], "approval_in_doubt", "{d}");
        assert!(d["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not sent again"));
    }
    // Let the held request end at the service, then check nothing else was sent.
    std::thread::sleep(Duration::from_secs(7));
    let st = csc.stats();
    assert_eq!((st.authorizations, st.sign_requests), (1, 1), "{st:?}");
    assert!(out_files(&dir.path().join("data/blobs"), &id).is_empty());
    let (outcomes, per_doc, intact) = audit(&s);
    assert!(intact && per_doc.is_empty());
    assert_eq!(outcomes.get("approval_in_doubt"), Some(&5));
}

/// B-T with a remote key: the signature time-stamp is added when the signature arrives.
#[test]
fn b_t_batches_are_time_stamped_after_the_approval() {
    let csc = CscServer::start(CscConfig::new("officer-rsa"));
    let tsa = interop_tests::FixtureTsa::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), None, None, Some(&csc.api()), None, 60);
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text = text.replacen(
        "\n[limits]",
        &format!(
            "\n[tsa]\nurl = \"{}\"\ntimeout_secs = 5\n\n[limits]",
            tsa.url
        ),
        1,
    );
    std::fs::write(&cfg, text).unwrap();
    let s = Server::start(&cfg, "b-t");
    let files = docs(3, "b-t");
    let id = upload_with(&s, "key=leader&profile=plain&level=B-T", &files);
    let v = wait_batch(&s, &id, Duration::from_secs(120));
    assert_eq!(
        (v["done"].as_i64(), v["failed"].as_i64()),
        (Some(3), Some(0)),
        "{v}"
    );
    check_outputs(&s, &id, &v, &files, dir.path(), 1);
    for d in v["documents"].as_array().unwrap() {
        let r = s
            .get(
                &format!("/v1/batches/{id}/documents/{}", d["id"].as_str().unwrap()),
                Some(SIGNER_KEY),
            )
            .unwrap();
        let rep = verify(&r.body, dir.path());
        let sig = &rep.signatures[0];
        assert_eq!(sig.level.as_deref(), Some("PAdES-B-T"), "{rep:?}");
        assert!(sig.timestamp.as_ref().is_some_and(|t| t.valid), "{rep:?}");
    }
    assert_eq!(csc.stats().sign_requests, 1);
}

/// The vendor "sign_files" dialect goes through the same queue: one request for the batch.
#[test]
fn the_vendor_dialect_signs_a_batch_through_the_same_queue() {
    let csc = CscServer::start(CscConfig::new("officer-rsa"));
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), None, None, Some(&csc.vendor_api()), None, 60);
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("?credential=", "?dialect=sign-files&credential=");
    std::fs::write(&cfg, text).unwrap();
    let s = Server::start(&cfg, "vendor");
    let files = docs(5, "vendor");
    let id = upload(&s, "leader", &files);
    let v = wait_batch(&s, &id, Duration::from_secs(120));
    assert_eq!(
        (v["done"].as_i64(), v["failed"].as_i64()),
        (Some(5), Some(0)),
        "{v}"
    );
    assert_eq!(csc.stats().sign_requests, 1, "{:?}", csc.stats());
    check_outputs(&s, &id, &v, &files, dir.path(), 1);
}

/// A PKI SIM batch (one approval per document, one after the other) survives a `kill -9`
/// during the first approval: each document is asked for once.
#[test]
fn a_pki_sim_batch_survives_a_kill_during_its_first_approval() {
    let mss = MsspServer::start(
        "officer-rsa",
        MSISDN,
        AP_ID,
        "ap-pass-1",
        MssScript::ApproveAfter(Duration::from_secs(4)),
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), None, None, None, Some(&mss.url), 120);
    let mut s = Server::start(&cfg, "first");
    let files = docs(2, "sim-restart");
    let id = upload(&s, "sim", &files);
    wait_log(&s, "approval requested from", 1);
    assert_eq!(mss.stats().signature_requests, 1);
    s.kill9();
    let s = Server::start(&cfg, "second");
    let v = wait_batch(&s, &id, Duration::from_secs(120));
    assert_eq!(
        (v["done"].as_i64(), v["failed"].as_i64()),
        (Some(2), Some(0)),
        "{v}"
    );
    let st = mss.stats();
    assert_eq!((st.signature_requests, st.signed), (2, 2), "{st:?}");
    check_outputs(&s, &id, &v, &files, dir.path(), 1);
    let (_, per_doc, intact) = audit(&s);
    assert!(intact && per_doc.len() == 2 && per_doc.values().all(|n| *n == 1));
}

/// The service was down longer than the approval timeout, and the person approved meanwhile:
/// the restarted service looks once more and uses the approval instead of discarding it.
#[test]
fn an_approval_given_while_the_service_was_down_past_the_timeout_is_used() {
    let csc = CscServer::start(CscConfig::new("officer-rsa"));
    csc.set_script(Script::ApproveAfter(Duration::from_secs(3)));
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), None, None, Some(&csc.api()), None, 4);
    let mut s = Server::start(&cfg, "first");
    let files = docs(3, "late");
    let id = upload(&s, "leader", &files);
    wait_log(&s, "approval requested from", 1);
    s.kill9();
    std::thread::sleep(Duration::from_secs(6));
    let s = Server::start(&cfg, "second");
    let v = wait_batch(&s, &id, Duration::from_secs(60));
    assert_eq!(
        (v["done"].as_i64(), v["failed"].as_i64()),
        (Some(3), Some(0)),
        "{v}"
    );
    assert_eq!(csc.stats().sign_requests, 1);
    check_outputs(&s, &id, &v, &files, dir.path(), 0);
}

/// SIGTERM while the person approves: the service stops (the waiting is in the database, not
/// in a thread) and the next start finishes the batch.
#[test]
fn a_graceful_stop_while_awaiting_approval_leaves_the_request_to_the_next_start() {
    let csc = CscServer::start(CscConfig::new("officer-rsa"));
    csc.set_script(Script::ApproveAfter(Duration::from_secs(5)));
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), None, None, Some(&csc.api()), None, 120);
    let mut s = Server::start(&cfg, "first");
    let files = docs(4, "term");
    let id = upload(&s, "leader", &files);
    wait_log(&s, "approval requested from", 1);
    // It exits by itself (terminate gives up after 60 s and reports false).
    assert!(s.terminate(), "{}", s.log_text());
    let s = Server::start(&cfg, "second");
    let v = wait_batch(&s, &id, Duration::from_secs(60));
    assert_eq!(
        (v["done"].as_i64(), v["failed"].as_i64()),
        (Some(4), Some(0)),
        "{v}"
    );
    assert_eq!(csc.stats().sign_requests, 1);
}

#[test]
fn readyz_asks_the_remote_services_and_names_the_key_whose_service_is_down() {
    let csc = CscServer::start(CscConfig {
        // The stored token expires: the probe replaces it, as signing does.
        token_uses: Some(3),
        ..CscConfig::new("officer-rsa")
    });
    let mss = MsspServer::start(
        "officer-rsa",
        MSISDN,
        AP_ID,
        "ap-pass-1",
        MssScript::ApproveAfter(Duration::from_millis(100)),
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), None, None, Some(&csc.api()), Some(&mss.url), 60);
    let s = Server::start(&cfg, "a");
    let opened = csc.stats().credential_infos;
    // Probes a second apart (the answer is cached for 1 s) each ask credentials/info.
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(1100));
        let r = s.get("/readyz", None).unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let keys = r.json()["keys"].clone();
        assert!(
            keys.as_array().unwrap().iter().any(|k| k == "leader")
                && keys.as_array().unwrap().iter().any(|k| k == "sim"),
            "{keys}"
        );
    }
    let st = csc.stats();
    assert!(
        st.credential_infos >= opened + 3,
        "each probe asks credentials/info: {st:?}"
    );
    assert!(st.tokens >= 2, "the expired token was replaced: {st:?}");
    // Nothing reached a person.
    assert_eq!((st.authorizations, st.sign_requests), (0, 0), "{st:?}");
    let ms = mss.stats();
    assert_eq!(
        (ms.signature_requests, ms.status_requests),
        (0, 0),
        "{ms:?}"
    );

    // The MSSP goes away: not ready, naming the key.
    drop(mss);
    std::thread::sleep(Duration::from_millis(1100));
    let r = s.get("/readyz", None).unwrap();
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["code"], "not_ready", "{v}");
    let m = v["message"].as_str().unwrap();
    assert!(
        m.contains("\"sim\"") && m.contains("cannot be reached"),
        "{m}"
    );
    assert!(!m.contains("leader"), "{m}");

    // The CSC service too: both named (the first by name, the count of the others).
    drop(csc);
    std::thread::sleep(Duration::from_millis(1100));
    let v = s.get("/readyz", None).unwrap().json();
    let m = v["message"].as_str().unwrap();
    assert!(
        m.contains("\"leader\"") && m.contains("and 1 other key"),
        "{m}"
    );
    // Software keys still sign: readiness is a signal for the load balancer, not a stop.
    let r = s
        .post(
            "/v1/sign?key=officer&profile=plain",
            Some(SIGNER_KEY),
            "application/pdf",
            &pdf(1),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
}
