//! Revocation of the CAs between a PDF signer and the trust anchor (ETSI EN 319 102-1
//! REVOKED_CA_NO_POE): a PKI made with `pki ca` whose issuing CA names its root's CRL, served on
//! loopback; the issuing CA is revoked after signing, and `pki verify` fetches the root's CRL.
//! A signature without a time-stamp then has nothing proving it came before the revocation
//! (INDETERMINATE, REVOKED_CA_NO_POE); one with a time-stamp from before passes with a warning.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should panic with its message"
)]

use interop_tests::{pki_bin, require_tool, run, text, Behaviour, FixtureTsa, TestServer};
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

fn pki_ok(args: &[&str]) {
    let o = run(Command::new(pki_bin()).args(args).env("LANG", "C"));
    assert_eq!(o.status.code(), Some(0), "pki {args:?}: {}", text(&o));
}

/// Serves the two CAs' current CRLs (`crl.der` of each CA directory) on `addr`.
fn serve_crls(addr: &str, dir: &Path) -> TestServer {
    let l = std::net::TcpListener::bind(addr).unwrap();
    let mut routes = HashMap::new();
    for ca in ["root", "issuing"] {
        let crl = std::fs::read(dir.join(ca).join("crl.der")).unwrap();
        routes.insert(
            format!("/{ca}.crl"),
            ("application/pkix-crl".to_string(), crl),
        );
    }
    TestServer::start(l, routes, Behaviour::Serve)
}

/// `pki verify --format json` (online unless `offline`): exit code and the first signature.
fn verify(file: &Path, trust: &[&Path], offline: bool) -> (Option<i32>, serde_json::Value) {
    let mut cmd = Command::new(pki_bin());
    cmd.arg("verify").arg(file).args(["--format", "json"]);
    for t in trust {
        cmd.arg("--trust").arg(t);
    }
    if offline {
        cmd.arg("--offline");
    }
    let o = run(cmd.env("LANG", "C").env("PKI_HTTP_TIMEOUT", "3"));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}): {}", text(&o)));
    (o.status.code(), report["signatures"][0].clone())
}

#[test]
fn a_revoked_intermediate_ca_is_found_and_weighed_against_the_signing_time() {
    let Some(openssl) = require_tool("openssl") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let d = |p: &str| dir.join(p).display().to_string();
    let (listener, base) = TestServer::bind();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);

    // The root publishes a CRL for the CAs it issues; the issuing CA one for its officers.
    pki_ok(&[
        "ca",
        "init",
        &d("root"),
        "--subject",
        "CN=Root CA thu hoi,O=PKI thử nghiệm,C=VN",
        "--key-type",
        "rsa2048",
        "--crl-url",
        &format!("{base}/root.crl"),
    ]);
    pki_ok(&[
        "ca",
        "init",
        &d("issuing"),
        "--parent",
        &d("root"),
        "--subject",
        "CN=CA cấp phát bị thu hồi,O=PKI thử nghiệm,C=VN",
        "--key-type",
        "rsa2048",
        "--crl-url",
        &format!("{base}/issuing.crl"),
    ]);
    issue_officer(&openssl, dir, "/CN=Nguyen Van A/O=So Tu phap/C=VN");

    // Signed while every CA is good: without a time-stamp (B-B), and with one (B-T, from the
    // fixture TSA, trusted through the fixture root).
    let input = dir.join("in.pdf");
    std::fs::write(
        &input,
        pki_core::pdf::sample::one_page(&["Cong van so 7/UBND-VP"]),
    )
    .unwrap();
    let tsa = FixtureTsa::start();
    let server = serve_crls(&addr, dir);
    pki_ok(&[
        "sign",
        &d("in.pdf"),
        "-o",
        &d("bb.pdf"),
        "--key",
        &d("officer.key"),
        "--cert",
        &d("chain.pem"),
    ]);
    pki_ok(&[
        "sign",
        &d("in.pdf"),
        "-o",
        &d("bt.pdf"),
        "--key",
        &d("officer.key"),
        "--cert",
        &d("chain.pem"),
        "--level",
        "B-T",
        "--tsa",
        &tsa.url,
    ]);
    let root = dir.join("root/ca.pem");
    let fixture_root = interop_tests::fixtures().join("pki/root.pem");
    let trust = [root.as_path(), fixture_root.as_path()];

    let (code, sig) = verify(&dir.join("bb.pdf"), &trust, false);
    assert_eq!(code, Some(0), "{sig:#}");
    assert_eq!(sig["indication"], "TOTAL-PASSED", "{sig:#}");
    assert_eq!(sig["revocation"]["status"], "good", "{sig:#}");
    assert!(
        sig["revocation"].get("unchecked_cas").is_none(),
        "every CA here names a CRL: {sig:#}"
    );
    drop(server);

    // The issuing CA is revoked (a second later than the time-stamp, which has second
    // precision) and the root's new CRL says so.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    pki_ok(&[
        "ca",
        "revoke",
        "--ca",
        &d("root"),
        &d("issuing/ca.pem"),
        "--reason",
        "cACompromise",
    ]);
    pki_ok(&["ca", "crl", "--ca", &d("root")]);
    let _server = serve_crls(&addr, dir);

    let (code, sig) = verify(&dir.join("bb.pdf"), &trust, false);
    assert_eq!(code, Some(4), "{sig:#}");
    assert_eq!(sig["indication"], "INDETERMINATE", "{sig:#}");
    assert_eq!(sig["sub_indication"], "REVOKED_CA_NO_POE", "{sig:#}");
    assert!(
        sig["errors"].to_string().contains("CA cấp phát bị thu hồi"),
        "the error names the revoked CA: {sig:#}"
    );

    // A time-stamp proves the signature existed before the revocation.
    let (code, sig) = verify(&dir.join("bt.pdf"), &trust, false);
    assert_eq!(code, Some(0), "{sig:#}");
    assert_eq!(sig["indication"], "TOTAL-PASSED", "{sig:#}");
    assert!(
        sig["warnings"]
            .to_string()
            .contains("after the proven signing time"),
        "{sig:#}"
    );

    // Offline nobody is asked, and the report says so.
    let (code, sig) = verify(&dir.join("bb.pdf"), &trust, true);
    assert_eq!(code, Some(0), "{sig:#}");
    assert!(
        sig["warnings"]
            .to_string()
            .contains("issuing CAs was not checked (offline)"),
        "{sig:#}"
    );
}

/// A CA between the signer and the anchor that names no OCSP responder and no CRL, with nothing
/// embedded for it (common for older Vietnamese sub-CAs): nobody can give its status. The
/// report says so in its revocation section (JSON `unchecked_cas`, a warning, and a line in the
/// Vietnamese and English text and HTML) and the indication stays what the rest decides
/// (decision 0034).
#[test]
fn a_ca_that_names_no_revocation_source_is_reported_not_failed() {
    let Some(openssl) = require_tool("openssl") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let d = |p: &str| dir.join(p).display().to_string();
    let (listener, base) = TestServer::bind();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    // The root names no CRL in what it issues; the issuing CA does, for its officers.
    pki_ok(&[
        "ca",
        "init",
        &d("root"),
        "--subject",
        "CN=Root CA khong CRL,O=PKI thử nghiệm,C=VN",
        "--key-type",
        "rsa2048",
    ]);
    pki_ok(&[
        "ca",
        "init",
        &d("issuing"),
        "--parent",
        &d("root"),
        "--subject",
        "CN=CA cấp phát không thu hồi,O=PKI thử nghiệm,C=VN",
        "--key-type",
        "rsa2048",
        "--crl-url",
        &format!("{base}/issuing.crl"),
    ]);
    let ca = openssl_text(&openssl, &dir.join("issuing/ca.pem"));
    assert!(
        !ca.contains("CRL Distribution") && !ca.contains("OCSP"),
        "the issuing CA must name no revocation source: {ca}"
    );
    issue_officer(&openssl, dir, "/CN=Tran Thi B/O=So Tu phap/C=VN");
    std::fs::write(
        dir.join("in.pdf"),
        pki_core::pdf::sample::one_page(&["Cong van so 8/UBND-VP"]),
    )
    .unwrap();
    pki_ok(&[
        "sign",
        &d("in.pdf"),
        "-o",
        &d("bb.pdf"),
        "--key",
        &d("officer.key"),
        "--cert",
        &d("chain.pem"),
    ]);
    let _server = serve_crls(&addr, dir);
    let root = dir.join("root/ca.pem");
    for offline in [false, true] {
        let (code, sig) = verify(&dir.join("bb.pdf"), &[root.as_path()], offline);
        assert_eq!(code, Some(0), "offline={offline}: {sig:#}");
        assert_eq!(sig["indication"], "TOTAL-PASSED", "{sig:#}");
        assert_eq!(
            sig["revocation"]["unchecked_cas"],
            serde_json::json!(["CN=CA cấp phát không thu hồi, O=PKI thử nghiệm, C=VN"]),
            "offline={offline}: {sig:#}"
        );
        assert!(
            sig["warnings"]
                .to_string()
                .contains("names no OCSP responder or CRL"),
            "{sig:#}"
        );
        if !offline {
            // The officer's own status was fetched from the issuing CA's CRL.
            assert_eq!(sig["revocation"]["status"], "good", "{sig:#}");
        }
    }
    for (lang, format, want) in [
        (
            "vi",
            "text",
            "Không kiểm tra được tình trạng thu hồi của CA",
        ),
        ("en", "text", "The revocation of a CA could not be checked"),
        (
            "vi",
            "html",
            "Không kiểm tra được tình trạng thu hồi của CA",
        ),
        ("en", "html", "The revocation of a CA could not be checked"),
    ] {
        let o = run(Command::new(pki_bin())
            .arg("verify")
            .arg(dir.join("bb.pdf"))
            .arg("--trust")
            .arg(&root)
            .args(["--offline", "--format", format, "--lang", lang])
            .env("LANG", "C"));
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains(want), "{lang} {format}: {out}");
        assert!(
            out.contains("CA cấp phát không thu hồi"),
            "{lang} {format}: {out}"
        );
    }
}

/// An officer's key and CSR made by openssl (subject `subj`), issued by `pki ca issue` from
/// `dir/issuing` (profile personal) to `dir/officer.pem`, its chain in `dir/chain.pem`, and
/// fresh CRLs of both CAs.
fn issue_officer(openssl: &Path, dir: &Path, subj: &str) {
    let d = |p: &str| dir.join(p).display().to_string();
    let o = run(Command::new(openssl)
        .args(["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout"])
        .arg(dir.join("officer.key"))
        .args(["-subj", subj, "-out"])
        .arg(dir.join("officer.csr")));
    assert!(o.status.success(), "{}", text(&o));
    pki_ok(&[
        "ca",
        "issue",
        "--ca",
        &d("issuing"),
        "--csr",
        &d("officer.csr"),
        "--profile",
        "personal",
        "-o",
        &d("officer.pem"),
    ]);
    let chain: Vec<u8> = ["officer.pem", "issuing/ca.pem", "root/ca.pem"]
        .iter()
        .flat_map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect();
    std::fs::write(dir.join("chain.pem"), chain).unwrap();
    pki_ok(&["ca", "crl", "--ca", &d("root")]);
    pki_ok(&["ca", "crl", "--ca", &d("issuing")]);
}

fn openssl_text(openssl: &Path, pem: &Path) -> String {
    let o = run(Command::new(openssl)
        .args(["x509", "-noout", "-text", "-in"])
        .arg(pem));
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}
