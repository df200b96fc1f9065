//! The second CSC-like vendor dialect (`dialect=requests`: `credentialID, numSignatures,
//! documents[], hash[], hashAlgo, signAlgo, async: 1`, then `requests/status`) through
//! `pki sign --key csc:...` against the scripted server: a batch of 20 PDFs in one approval
//! (approved after a delay) accepted by pdfsig and pyHanko; the person refusing, and never
//! answering, each give one sentence and no output file.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should panic with its message"
)]

use interop_tests::csc_server::{CscConfig, CscServer, Script};
use interop_tests::remote::{one_page_pdfs, pdfsig_ok, pyhanko_ok, sign_batch as sign};
use interop_tests::text;
use std::path::Path;
use std::time::Duration;

fn key(dir: &Path, api: &str) -> String {
    std::fs::write(dir.join("client"), "s3cret-client\n").unwrap();
    format!(
        "csc:{api}?dialect=requests&credential=cred-001&client-id=van-thu-app&secret-source=file:{}&poll-ms=100",
        dir.join("client").display()
    )
}

#[test]
fn a_batch_of_20_in_one_approval_accepted_by_pdfsig_and_pyhanko() {
    let mut cfg = CscConfig::new("officer-rsa");
    cfg.script = Script::ApproveAfter(Duration::from_millis(800));
    let server = CscServer::start(cfg);
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out");
    let files = one_page_pdfs(work.path(), 20, "qd", |i| {
        format!("Quyết định số {i}/QĐ-UBND")
    });
    let o = sign(&files, &out, &key(work.path(), &server.requests_api()), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("20 document(s)"), "{}", text(&o));
    let st = server.stats();
    assert_eq!(
        (
            st.sign_requests,
            st.max_batch,
            st.hashes_signed,
            st.authorizations
        ),
        (1, 20, 20, 0),
        "{st:?}"
    );
    assert!(st.polls >= 1, "{st:?}");
    for i in 1..=20 {
        pdfsig_ok(&out.join(format!("qd{i}.pdf")));
    }
    pyhanko_ok(&out.join("qd20.pdf"));
}

#[test]
fn refused_and_never_answered_give_one_sentence_and_no_output() {
    for (script, extra, expect) in [
        (Script::UserCancels, vec![], "refused on the phone"),
        (
            Script::NeverAnswers,
            vec!["--approval-timeout", "2"],
            "no approval came",
        ),
    ] {
        let mut cfg = CscConfig::new("officer-rsa");
        cfg.script = script;
        let server = CscServer::start(cfg);
        let work = tempfile::tempdir().unwrap();
        let out = work.path().join("out");
        let o = sign(
            &one_page_pdfs(work.path(), 3, "qd", |i| {
                format!("Quyết định số {i}/QĐ-UBND")
            }),
            &out,
            &key(work.path(), &server.requests_api()),
            &extra,
        );
        let log = text(&o);
        assert_eq!(o.status.code(), Some(3), "{script:?}: {log}");
        assert!(log.contains(expect), "{script:?}: {log}");
        let errors = String::from_utf8_lossy(&o.stderr)
            .lines()
            .filter(|l| l.starts_with("error:"))
            .count();
        assert_eq!(errors, 1, "{log}");
        let left: Vec<_> = std::fs::read_dir(&out)
            .map(|r| r.filter_map(Result::ok).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{script:?} left {left:?}");
        assert_eq!(server.stats().hashes_signed, 0);
    }
}
