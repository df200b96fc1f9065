//! What an operator of `sign-server` meets, over real HTTP on 127.0.0.1 with SQLite:
//! `Idempotency-Key` on `POST /v1/sign` across a restart and its expiry, and on batches
//! (documents compared), durable batch uploads, `/readyz` naming a token that went away and
//! finding it again when it comes back (SoftHSM2), XML documents signed through the service
//! and accepted by xmlsec1, per-client rate limits (429 + Retry-After), and `/v1/verify` and
//! the agency profile's Decree 30 check asking revocation online against loopback OCSP and
//! CRL servers.
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

    // A batch retried with its Idempotency-Key is the same batch; the key with other options
    // is refused (other documents: batch_idempotency_key_compares_the_documents_...).
    let batch = |q: &str| {
        request(
            &s.base,
            "POST",
            q,
            Some(SIGNER_KEY),
            &[("content-type", &ct), ("idempotency-key", "b-1")],
            &body,
        )
        .unwrap()
    };
    let r = batch("/v1/batches?key=officer&profile=plain");
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let first = r.json()["id"].as_str().unwrap().to_owned();
    let r = batch("/v1/batches?key=officer&profile=plain");
    assert_eq!(
        (r.status, r.json()["id"].as_str()),
        (200, Some(first.as_str()))
    );
    let r = batch("/v1/batches?key=officer&profile=copy");
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (422, Some("idempotency_key_reused"))
    );
}

#[test]
fn batch_idempotency_key_compares_the_documents_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), None, None, "");
    let mut s = Server::start(&cfg, "a");
    let docs: Vec<(String, Vec<u8>)> = (0..5).map(|i| (format!("{i}.pdf"), pdf(i))).collect();
    let send = |s: &Server, files: &[(String, Vec<u8>)], key: &str| {
        let (ct, body) = multipart(files);
        request(
            &s.base,
            "POST",
            "/v1/batches?key=officer&profile=plain",
            Some(SIGNER_KEY),
            &[("content-type", &ct), ("idempotency-key", key)],
            &body,
        )
        .unwrap()
    };
    let r = send(&s, &docs, "docs-1");
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let first = r.json()["id"].as_str().unwrap().to_owned();

    // The same documents (even under other file names): the same batch.
    let renamed: Vec<_> = docs
        .iter()
        .map(|(n, d)| (format!("retry-{n}"), d.clone()))
        .collect();
    for files in [&docs, &renamed] {
        let r = send(&s, files, "docs-1");
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert_eq!(r.json()["id"], first.as_str());
        assert_eq!(r.json()["replayed"], true);
    }
    // Other documents under the same key: one changed, one more, the same in another order.
    let mut changed = docs.clone();
    changed[3].1 = pdf(33);
    let mut more = docs.clone();
    more.push(("5.pdf".into(), pdf(5)));
    let mut reordered = docs.clone();
    reordered.swap(0, 1);
    let refused = |s: &Server| {
        for (what, files) in [
            ("a changed document", &changed),
            ("one more", &more),
            ("another order", &reordered),
        ] {
            let r = send(s, files, "docs-1");
            assert_eq!(
                r.status,
                422,
                "{what}: {}",
                String::from_utf8_lossy(&r.body)
            );
            let v = r.json();
            assert_eq!(v["code"], "idempotency_key_reused", "{what}: {v}");
            assert!(
                v["message"].as_str().unwrap().contains("other documents"),
                "{v}"
            );
        }
    };
    refused(&s);
    let v = wait_batch(&s, &first, Duration::from_secs(120));
    assert_eq!(v["total"], 5, "nothing was added to the first batch: {v}");

    // The digest is in the database: the same after a restart.
    assert!(s.terminate());
    let s = Server::start(&cfg, "b");
    let r = send(&s, &docs, "docs-1");
    assert_eq!(
        (r.status, r.json()["id"].as_str()),
        (200, Some(first.as_str()))
    );
    refused(&s);
    // The other documents under a new key are a new batch.
    let r = send(&s, &changed, "docs-2");
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    assert_ne!(r.json()["id"], first.as_str());
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

/// `xmlsec1 --verify` with the fixture root trusted and the XAdES/e-invoice Ids registered.
fn xmlsec1_verify(tool: &Path, file: &Path) -> (bool, String) {
    let root = interop_tests::fixtures().join("pki/root.pem");
    let o = std::process::Command::new(tool)
        .env("SSL_CERT_FILE", "/dev/null")
        .arg("--verify")
        .arg("--trusted-pem")
        .arg(&root)
        .args([
            "--id-attr:Id",
            "http://uri.etsi.org/01903/v1.3.2#:SignedProperties",
        ])
        .args(["--id-attr:Id", "DLHDon"])
        .args(["--id-attr:Id", "Object"])
        .arg(file)
        .output()
        .unwrap();
    (o.status.success(), interop_tests::text(&o))
}

const XML_DOC: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CongVan xmlns=\"urn:vn:test\"><So>12/UBND-VP</So><TrichYeu>Về việc triển khai chữ ký số</TrichYeu></CongVan>\n";
const INVOICE: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?><HDon><DLHDon Id=\"_593651\"><TTChung><PBan>2.1.0</PBan><THDon>Hoá đơn giá trị gia tăng</THDon></TTChung></DLHDon><DSCKS><NBan /><NMua /></DSCKS></HDon>";

#[test]
fn xml_documents_are_signed_batched_and_verified_and_xmlsec1_accepts_them() {
    let Some(tool) = interop_tests::require_tool("xmlsec1") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), None, None, "");
    edit(
        &cfg,
        "\"copy\", \"plain\"]",
        "\"copy\", \"plain\", \"einvoice\"]",
    );
    let s = Server::start(&cfg, "a");
    let sign = |q: &str, ct: &str, body: &[u8]| {
        s.post(&format!("/v1/sign?{q}"), Some(SIGNER_KEY), ct, body)
            .unwrap()
    };
    let check = |name: &str, bytes: &[u8]| {
        let f = dir.path().join(name);
        std::fs::write(&f, bytes).unwrap();
        let (ok, log) = xmlsec1_verify(&tool, &f);
        assert!(ok, "xmlsec1 rejects {name}:\n{log}");
        log
    };

    // Plain XMLDSig, XAdES B-B, and the e-invoice profile, told from the bytes whatever the
    // content type says.
    let r = sign("key=officer", "application/xml", XML_DOC.as_bytes());
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/xml"));
    assert_eq!(r.header("x-signature-level"), Some("XMLDSig"));
    let plain = r.body;
    assert!(String::from_utf8(plain.clone())
        .unwrap()
        .contains("Về việc triển khai chữ ký số"));
    check("plain.xml", &plain);
    let r = sign(
        "key=officer&level=B-B",
        "application/octet-stream",
        XML_DOC.as_bytes(),
    );
    assert_eq!(r.header("x-signature-level"), Some("XAdES-B-B"));
    let log = check("xades.xml", &r.body);
    assert!(log.contains("SignedInfo References (ok/all): 2/2"), "{log}");
    let r = sign(
        "key=agency&profile=einvoice",
        "text/xml",
        INVOICE.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let log = check("invoice.xml", &r.body);
    assert!(log.contains("SignedInfo References (ok/all): 2/2"), "{log}");

    // /v1/verify takes XML: ours passes, a changed byte fails.
    let v = s
        .post("/v1/verify", Some(SIGNER_KEY), "application/xml", &plain)
        .unwrap()
        .json();
    assert_eq!(
        (v["format"].as_str(), v["indication"].as_str()),
        (Some("xml"), Some("TOTAL-PASSED")),
        "{v}"
    );
    let tampered = String::from_utf8(plain.clone())
        .unwrap()
        .replace("12/UBND-VP", "13/UBND-VP");
    let v = s
        .post(
            "/v1/verify",
            Some(SIGNER_KEY),
            "application/xml",
            tampered.as_bytes(),
        )
        .unwrap()
        .json();
    assert_eq!(v["indication"], "TOTAL-FAILED", "{v}");
    assert_eq!(v["signatures"][0]["sub_indication"], "HASH_FAILURE", "{v}");

    // What does not apply is refused with a sentence.
    let r = sign(
        "key=agency&profile=agency",
        "application/xml",
        XML_DOC.as_bytes(),
    );
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (422, Some("profile_not_for_xml"))
    );
    let r = sign("key=officer&profile=einvoice", "application/pdf", &pdf(1));
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (422, Some("profile_not_for_pdf"))
    );
    let r = sign("key=officer", "application/xml", b"<a><b></a>");
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (422, Some("invalid_xml"))
    );
    assert!(r.json()["message"].as_str().unwrap().contains("malformed"));
    let r = sign(
        "key=officer",
        "application/xml",
        b"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>",
    );
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (422, Some("invalid_xml"))
    );
    let r = sign(
        "key=officer&level=B-T",
        "application/xml",
        XML_DOC.as_bytes(),
    );
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (400, Some("level_unavailable"))
    );

    // A batch mixing PDF and XML: each signed in its own format and served with its type.
    let files = vec![
        ("a.xml".to_owned(), XML_DOC.as_bytes().to_vec()),
        ("b.pdf".to_owned(), pdf(3)),
        (
            "c.xml".to_owned(),
            XML_DOC.replace("12/", "14/").into_bytes(),
        ),
    ];
    let (ct, body) = multipart(&files);
    let r = s
        .post(
            "/v1/batches?key=officer&level=B-B",
            Some(SIGNER_KEY),
            &ct,
            &body,
        )
        .unwrap();
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let v = wait_batch(&s, &id, Duration::from_secs(60));
    assert_eq!(v["done"], 3, "{v}");
    for d in v["documents"].as_array().unwrap() {
        let r = s
            .get(
                &format!("/v1/batches/{id}/documents/{}", d["id"].as_str().unwrap()),
                Some(SIGNER_KEY),
            )
            .unwrap();
        assert_eq!(r.status, 200);
        let name = d["name"].as_str().unwrap();
        if name.ends_with(".xml") {
            assert_eq!(r.header("content-type"), Some("application/xml"));
            check(&format!("batch-{name}"), &r.body);
        } else {
            assert_eq!(r.header("content-type"), Some("application/pdf"));
            let v = s
                .post("/v1/verify", Some(SIGNER_KEY), "application/pdf", &r.body)
                .unwrap()
                .json();
            assert_eq!(v["indication"], "TOTAL-PASSED", "{v}");
        }
    }
}

/// `input` signed in process (B-B) with the key and chain `who` of the live PKI; the signed
/// file's bytes. `pki sign` would refuse a revoked certificate, as it should.
fn sign_with_live_key(live: &interop_tests::LivePki, input: &Path, who: &str) -> Vec<u8> {
    let out = input.with_file_name(format!("{who}.pdf"));
    let pem = std::fs::read_to_string(live.dir.join(format!("{who}.key.pem"))).unwrap();
    let key = hsm::SoftwareKey::from_pem(&pem, who).unwrap();
    let chain = pki_core::cert::parse_certificates(
        &std::fs::read(live.dir.join(format!("{who}.chain.pem"))).unwrap(),
    )
    .unwrap();
    let opts = pki_core::pades::PadesOptions::new(time::OffsetDateTime::now_utc());
    pki_core::pades::sign_pdf(input, &out, &key, &chain, &opts, None).unwrap();
    std::fs::read(out).unwrap()
}

/// Two services trusting the live PKI's root: the first with the default policy (no
/// revocation fetched), the second with `verify_revocation = "online"` (3 s timeout).
fn offline_and_online_servers(tmp: &Path, live: &interop_tests::LivePki) -> (Server, Server) {
    let dir = tmp.join("server");
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = write_config(&dir, None, None, "");
    let fixture_root = interop_tests::fixtures().join("pki/root.pem");
    edit(
        &cfg,
        &format!("trust = [\"{}\"]", fixture_root.display()),
        &format!("trust = [\"{}\"]", live.dir.join("root.pem").display()),
    );
    let offline = Server::start(&cfg, "offline");
    edit(
        &cfg,
        "[policy]\n",
        "[policy]\nverify_revocation = \"online\"\nrevocation_timeout_secs = 3\n",
    );
    let online = Server::start(&cfg, "online");
    (offline, online)
}

#[test]
fn verify_checks_revocation_online_when_the_policy_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let mut live = interop_tests::LivePki::start(tmp.path());
    let input = tmp.path().join("in.pdf");
    std::fs::write(&input, pdf(5)).unwrap();
    // Signed in process (pki sign refuses a revoked certificate, as it should).
    let good = sign_with_live_key(&live, &input, "officer-rsa");
    let revoked = sign_with_live_key(&live, &input, "revoked");

    let (offline, online) = offline_and_online_servers(tmp.path(), &live);
    let verify = |s: &Server, doc: &[u8]| {
        let r = s
            .post("/v1/verify", Some(SIGNER_KEY), "application/pdf", doc)
            .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        r.json()
    };

    // Online: the responder says good for one and revoked for the other.
    let v = verify(&online, &good);
    assert_eq!(v["indication"], "TOTAL-PASSED", "{v}");
    let rev = &v["signatures"][0]["revocation"];
    assert_eq!(rev["status"], "good", "{v}");
    assert_eq!(rev["embedded"], false, "{v}");
    let v = verify(&online, &revoked);
    assert_ne!(v["indication"], "TOTAL-PASSED", "{v}");
    assert_eq!(v["signatures"][0]["revocation"]["status"], "revoked", "{v}");

    // Offline (the default): nothing fetched, and the report says so.
    let v = verify(&offline, &revoked);
    assert_ne!(v["signatures"][0]["revocation"]["status"], "revoked", "{v}");
    assert_ne!(v["signatures"][0]["revocation"]["status"], "good", "{v}");

    // Online with the status servers down: not a pass, and no hang.
    live.stop_ocsp();
    live.stop_crl();
    let t = std::time::Instant::now();
    let v = verify(&online, &good);
    assert_eq!(v["indication"], "INDETERMINATE", "{v}");
    assert_eq!(v["signatures"][0]["sub_indication"], "TRY_LATER", "{v}");
    assert!(t.elapsed() < Duration::from_secs(30));
}

#[test]
fn the_agency_check_asks_revocation_online_when_the_policy_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let mut live = interop_tests::LivePki::start(tmp.path());
    let input = tmp.path().join("in.pdf");
    std::fs::write(&input, pdf(6)).unwrap();
    // The competent person's signature, made in process (pki sign refuses a revoked
    // certificate, as it should).
    let good = sign_with_live_key(&live, &input, "officer-rsa");
    let revoked = sign_with_live_key(&live, &input, "revoked");

    let (offline, online) = offline_and_online_servers(tmp.path(), &live);
    let seal = |s: &Server, doc: &[u8]| {
        s.post(
            "/v1/sign?key=agency&profile=agency",
            Some(SIGNER_KEY),
            "application/pdf",
            doc,
        )
        .unwrap()
    };

    // Online: a good personal signature is sealed; a revoked one is refused as not valid.
    let r = seal(&online, &good);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.body.starts_with(b"%PDF-"));
    let r = seal(&online, &revoked);
    assert_eq!(r.status, 422, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["code"], "personal_signature_required");
    // Offline (the default) does not see the revocation: only what the document embeds.
    let r = seal(&offline, &revoked);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

    // Online with the status servers down: 503 with Retry-After, neither sealed nor a 422.
    live.stop_ocsp();
    live.stop_crl();
    let r = seal(&online, &good);
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["code"], "revocation_unavailable");
    assert!(r.header("retry-after").is_some());
}

#[test]
fn readyz_names_a_pkcs11_key_whose_token_went_away_and_finds_it_again() {
    let Some(t) = interop_tests::pkcs11::softhsm("Ready Token") else {
        return;
    };
    interop_tests::pkcs11::issue_on_token(
        &t,
        "rsa2048",
        "seal",
        "CN=Văn thư,O=Sở Tư pháp,C=VN",
        "personal",
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), None, None, "");
    let pki = interop_tests::fixtures().join("pki");
    edit(
        &cfg,
        &format!(
            "keyref = \"file:{}\"",
            pki.join("officer-rsa.key.pem").display()
        ),
        &format!("keyref = \"{}\"", t.uri("object=seal")),
    );
    edit(
        &cfg,
        &format!("cert = \"{}\"", pki.join("officer-rsa.chain.pem").display()),
        &format!(
            "cert = \"{}\"",
            t.dir.path().join("seal.chain.pem").display()
        ),
    );
    let s = Server::start(&cfg, "a");
    let v = s.get("/readyz", None).unwrap().json();
    assert_eq!(v["status"], "ready", "{v}");
    let r = s
        .post(
            "/v1/sign?key=officer",
            Some(SIGNER_KEY),
            "application/pdf",
            &pdf(1),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

    // The token's files disappear (a token pulled out; an HSM partition deleted).
    let tokens = t.dir.path().join("tokens");
    let saved = t.dir.path().join("tokens.saved");
    std::fs::rename(&tokens, &saved).unwrap();
    std::fs::create_dir(&tokens).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let r = loop {
        let r = s.get("/readyz", None).unwrap();
        if r.status != 200 || std::time::Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.header("retry-after").is_some());
    let v = r.json();
    assert_eq!(v["code"], "not_ready");
    let msg = v["message"].as_str().unwrap();
    assert!(msg.contains("\"officer\""), "the key is named: {msg}");
    assert!(!msg.contains(&t.pin), "{msg}");
    // The software key is not the one blamed.
    assert!(!msg.contains("\"agency\""), "{msg}");
    // The answer is cached for about a second, then probed again: still not ready.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(s.get("/readyz", None).unwrap().status, 503);
    let r = s
        .post(
            "/v1/sign?key=officer",
            Some(SIGNER_KEY),
            "application/pdf",
            &pdf(2),
        )
        .unwrap();
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));

    // The token comes back (plugged in again): found again without a restart.
    std::fs::remove_dir(&tokens).unwrap();
    std::fs::rename(&saved, &tokens).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let r = loop {
        let r = s.get("/readyz", None).unwrap();
        if r.status == 200 || std::time::Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        r.status,
        200,
        "{}\n{}",
        String::from_utf8_lossy(&r.body),
        s.log_text()
    );
    let r = s
        .post(
            "/v1/sign?key=officer",
            Some(SIGNER_KEY),
            "application/pdf",
            &pdf(3),
        )
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.body.starts_with(b"%PDF-"));
}

/// Rewrites the chain from record `from` on (a detail changed, every later hash and the head
/// recomputed, as an intruder who knows the format would), in Python's sqlite3 and hashlib: an
/// independent implementation of the record hash of decision 0010.
const REWRITE: &str = r#"
import sqlite3, sys, hashlib, struct
db, start = sys.argv[1], int(sys.argv[2])
c = sqlite3.connect(db)
c.executescript("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;")
F = lambda s: struct.pack('>I', len(s.encode())) + s.encode()
prev = None
for r in c.execute("SELECT seq, time, client, action, key_name, document_sha256, profile, cert_serial, outcome, detail, prev_hash, hash FROM audit_log ORDER BY seq").fetchall():
    seq, fields, h = r[0], list(r[1:10]), r[11]
    if seq >= start:
        if seq == start:
            fields[8] = 'forged'
        h = hashlib.sha256(b'vn-pki-audit-v1\x00' + F(str(seq)) + b''.join(F(x) for x in fields) + F(prev)).hexdigest()
        c.execute("UPDATE audit_log SET detail = ?, prev_hash = ?, hash = ? WHERE seq = ?", (fields[8], prev, h, seq))
    prev = h
c.execute("UPDATE audit_head SET last_hash = ? WHERE id = 1", (prev,))
c.commit()
"#;

#[test]
fn time_stamped_audit_heads_reveal_a_rewritten_chain() {
    let tsa = interop_tests::FixtureTsa::start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), None, None, "");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        "\n[tsa]\nurl = \"{}\"\n\n[audit]\nanchor_every_secs = 1\n",
        tsa.url
    ));
    std::fs::write(&cfg, text).unwrap();
    let mut s = Server::start(&cfg, "a");
    for i in 0..4 {
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
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let v = loop {
        let v = s.get("/v1/audit/verify", Some(AUDITOR_KEY)).unwrap().json();
        if v["anchors"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["seq"] == 4))
        {
            break v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no anchor: {v}\n{}",
            s.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(v["intact"], true, "{v}");
    let a = v["anchors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["seq"] == 4)
        .unwrap();
    assert_eq!(a["valid"], true, "{v}");
    assert!(a["tsa"].as_str().unwrap().contains("CN="), "{v}");
    for i in 4..6 {
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
    assert!(s.terminate(), "{}", s.log_text());

    let db = dir.path().join("data/sign-server.db");
    let root = interop_tests::fixtures().join("pki/root.pem");
    let verify = |extra: &[&str]| {
        let mut args = vec!["audit", "verify", "--db", db.to_str().unwrap(), "--json"];
        args.extend(extra);
        let out = interop_tests::pki(&args);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("{}", interop_tests::text(&out)));
        (out.status.code(), v)
    };
    let (code, v) = verify(&["--trust", root.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["records"], 6);
    // Without the TSA's root the anchors cannot be trusted, and the check says so.
    let (code, v) = verify(&[]);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["problems"][0]["kind"], "anchor", "{v}");
    assert!(
        v["problems"][0]["message"]
            .as_str()
            .unwrap()
            .contains("trusted TSA"),
        "{v}"
    );

    // The whole chain rewritten from record 3, head included: the hash chain alone is
    // consistent again, but record 4 is no longer the one the TSA time-stamped.
    let pristine = std::fs::read(&db).unwrap();
    let out = interop_tests::run(
        std::process::Command::new("python3")
            .arg("-c")
            .arg(REWRITE)
            .arg(&db)
            .arg("3"),
    );
    assert!(out.status.success(), "{}", interop_tests::text(&out));
    let (code, v) = verify(&["--trust", root.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{v}");
    let problems = v["problems"].as_array().unwrap();
    assert!(
        problems.iter().all(|p| p["kind"] == "rewritten"),
        "only the anchors see it: {v}"
    );
    assert_eq!(problems[0]["seq"], 4, "{v}");
    // The endpoint says the same.
    let s = Server::start(&cfg, "b");
    let e = s.get("/v1/audit/verify", Some(AUDITOR_KEY)).unwrap().json();
    assert_eq!(e["problems"], v["problems"]);
    drop(s);

    // Moving the anchor to the forged hash breaks the time-stamp instead.
    std::fs::write(&db, &pristine).unwrap();
    for f in ["sign-server.db-wal", "sign-server.db-shm"] {
        let _ = std::fs::remove_file(dir.path().join("data").join(f));
    }
    interop_tests::server::sqlite_exec(
        &db,
        "UPDATE audit_anchors SET hash = (SELECT hash FROM audit_log WHERE seq = 3) WHERE seq = 4;",
    );
    let (code, v) = verify(&["--trust", root.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(
        (
            v["problems"][0]["seq"].as_i64(),
            v["problems"][0]["kind"].as_str()
        ),
        (Some(4), Some("anchor")),
        "{v}"
    );
}

#[test]
fn concurrent_retries_with_one_idempotency_key_sign_once() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), None, None, "");
    let s = Server::start(&cfg, "a");
    let before = audit_records(&s);
    let doc = pdf(99);
    let answers: Vec<Resp> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..8)
            .map(|_| sc.spawn(|| sign_idem(&s, "same-moment", &doc)))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut bodies = Vec::new();
    for r in &answers {
        match r.status {
            200 => bodies.push(r.body.clone()),
            409 => {
                assert_eq!(r.json()["code"], "idempotency_in_progress");
                assert!(r.header("retry-after").is_some());
            }
            other => panic!("{other}: {}", String::from_utf8_lossy(&r.body)),
        }
    }
    assert!(!bodies.is_empty());
    assert!(
        bodies.iter().all(|b| b == &bodies[0]),
        "one signature for all"
    );
    // One signature record; each 409 is a refused request, audited as such.
    let recs = s
        .get(&format!("/v1/audit?after={before}"), Some(AUDITOR_KEY))
        .unwrap()
        .json();
    let recs = recs.as_array().unwrap();
    let signed = recs.iter().filter(|r| r["action"] == "sign").count();
    let busy = recs
        .iter()
        .filter(|r| r["outcome"] == "idempotency_in_progress")
        .count();
    assert_eq!(signed, 1, "one signature record: {recs:?}");
    assert_eq!(busy, answers.len() - bodies.len(), "{recs:?}");
    assert_eq!(recs.len(), signed + busy);
    // After the first finished, a retry gets the bytes.
    let r = sign_idem(&s, "same-moment", &doc);
    assert_eq!((r.status, &r.body), (200, &bodies[0]));
}
