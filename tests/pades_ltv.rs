//! PAdES B-LT and B-LTA through `pki sign`: the DSS carries the path and the OCSP response (or,
//! with the responder down, the CRL) gathered at signing time, and a document time-stamp covers
//! it all for B-LTA. pdfsig, pyHanko and qpdf accept the output after every server is stopped;
//! when no revocation data can be had, signing fails with one sentence and leaves nothing.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should panic with its message"
)]

use interop_tests::{pki_bin, require_tool, run, text, LivePki};
use pki_core::pdf::object::Object;
use pki_core::pdf::reader::PdfReader;
use std::path::Path;
use std::process::Command;

fn sign(p: &LivePki, input: &Path, output: &Path, level: &str) -> std::process::Output {
    run(Command::new(pki_bin())
        .arg("sign")
        .arg(input)
        .arg("-o")
        .arg(output)
        .args(p.officer_args())
        .args(["--level", level])
        .env("PKI_HTTP_TIMEOUT", "3")
        .env("LANG", "C"))
}

/// The DSS of `file`: how many certificates, OCSP responses and CRLs, and VRI entries.
fn dss_counts(file: &Path) -> (usize, usize, usize, usize) {
    let mut r = PdfReader::open(file).unwrap();
    let (_, catalog) = r.catalog().unwrap();
    let Some(Object::Dictionary(dss)) = r.get_in(&catalog, "DSS").unwrap() else {
        panic!("no DSS in {}", file.display());
    };
    let mut n = |key: &str| match r.get_in(&dss, key).unwrap() {
        Some(Object::Array(a)) => a.len(),
        Some(Object::Dictionary(d)) => d.len(),
        _ => 0,
    };
    (n("Certs"), n("OCSPs"), n("CRLs"), n("VRI"))
}

/// pyHanko validating with the DSS as its only source of revocation data (no fetching, hard
/// failure when a certificate's status is unknown): one `FIELD:VALID|INVALID` line per
/// signature or document time-stamp.
const PYHANKO_LT: &str = r#"
import sys
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator import ValidationContext

with open(sys.argv[1], 'rb') as f:
    r = PdfFileReader(f)
    kwargs = {
        'trust_roots': [load_cert_from_pemder(sys.argv[2])],
        'allow_fetching': False,
        'revocation_mode': 'hard-fail',
    }
    if '/DSS' in r.root:
        vc = DocumentSecurityStore.read_dss(r).as_validation_context(kwargs)
    else:
        vc = ValidationContext(crls=[], ocsps=[], **kwargs)
    for s in r.embedded_signatures:
        if s.sig_object.get('/Type') == '/DocTimeStamp':
            st = validate_pdf_timestamp(s, validation_context=vc)
        else:
            st = validate_pdf_signature(
                s, signer_validation_context=vc, ts_validation_context=vc)
        ok = getattr(st, 'bottom_line', None)
        if ok is None:
            ok = st.valid and st.intact and st.trusted
        print('%s:%s %s' % (s.field_name, 'VALID' if ok else 'INVALID', st.summary()))
        for attr in ('docmdp_ok', 'modification_level', 'coverage'):
            print('  %s=%s' % (attr, getattr(st, attr, None)), file=sys.stderr)
"#;

fn pyhanko_lt(file: &Path, root: &Path) -> Option<String> {
    let py = require_tool("pyhanko")?.with_file_name("python3");
    let o = run(Command::new(py)
        .args(["-c", PYHANKO_LT])
        .arg(file)
        .arg(root));
    Some(text(&o))
}

#[test]
fn b_lt_and_b_lta_carry_what_a_verifier_needs_later() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = LivePki::start(tmp.path());
    let input = tmp.path().join("in.pdf");
    std::fs::write(
        &input,
        pki_core::pdf::sample::one_page(&["Cong van so 12/UBND-VP"]),
    )
    .unwrap();
    let before = std::fs::read(&input).unwrap();

    let lt = tmp.path().join("lt.pdf");
    let o = sign(&p, &input, &lt, "B-LT");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("PAdES-B-LT"), "{}", text(&o));
    let (certs, ocsps, crls, vri) = dss_counts(&lt);
    // officer, issuing CA, root, the OCSP responder, the TSA (its CA and root are the same).
    assert!(certs >= 5, "{certs} certificates");
    // One OCSP response for the officer (and one for the TSA when its certificate names the
    // responder too); the same CRL is never stored twice.
    assert!((1..=2).contains(&ocsps), "{ocsps} OCSP responses");
    assert_eq!((crls, vri), (0, 1));

    let lta = tmp.path().join("lta.pdf");
    let o = sign(&p, &input, &lta, "B-LTA");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("PAdES-B-LTA"), "{}", text(&o));
    let mut r = PdfReader::open(&lta).unwrap();
    assert_eq!(
        r.revisions().len(),
        4,
        "original, signature, DSS, document time-stamp"
    );
    let (_, catalog) = r.catalog().unwrap();
    let Some(Object::Dictionary(acro)) = r.get_in(&catalog, "AcroForm").unwrap() else {
        panic!("no AcroForm");
    };
    let Some(Object::Array(fields)) = r.get_in(&acro, "Fields").unwrap() else {
        panic!("no fields");
    };
    let last = r.resolve(fields.last().unwrap()).unwrap();
    let v = r.get_in(last.as_dict().unwrap(), "V").unwrap().unwrap();
    assert!(v.as_dict().unwrap().has_name("Type", "DocTimeStamp"));
    assert!(v.as_dict().unwrap().has_name("SubFilter", "ETSI.RFC3161"));

    // A certification at P=1 still takes its DSS and document time-stamp (PAdES B-LTA).
    let certified = tmp.path().join("certified-lta.pdf");
    let o = run(Command::new(pki_bin())
        .arg("sign")
        .arg(&input)
        .arg("-o")
        .arg(&certified)
        .args(p.officer_args())
        .args(["--level", "B-LTA", "--certify=1"])
        .env("PKI_HTTP_TIMEOUT", "3")
        .env("LANG", "C"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let bt = tmp.path().join("bt.pdf");
    let o = sign(&p, &input, &bt, "B-T");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // The responder down: the CRL from the distribution point instead.
    p.stop_ocsp();
    let lt_crl = tmp.path().join("lt-crl.pdf");
    let o = sign(&p, &input, &lt_crl, "B-LT");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (_, ocsps, crls, _) = dss_counts(&lt_crl);
    assert_eq!((ocsps, crls), (0, 1));

    // Nothing left to ask: a clear refusal and no output (nor temporary files).
    p.stop_crl();
    let none = tmp.path().join("none.pdf");
    let o = sign(&p, &input, &none, "B-LT");
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("validation data"), "{}", text(&o));
    assert!(!none.exists());
    let stray: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
    assert_eq!(std::fs::read(&input).unwrap(), before, "the input changed");
    let root = p.dir.join("root.pem");
    drop(p);

    // Every server is gone: we and the peers judge from what the files carry.
    for (f, level) in [
        (&lt, "PAdES-B-LT"),
        (&lta, "PAdES-B-LTA"),
        (&lt_crl, "PAdES-B-LT"),
        (&certified, "PAdES-B-LTA"),
    ] {
        let o = run(Command::new(pki_bin())
            .args(["verify", "--offline", "--format", "json", "--trust"])
            .arg(&root)
            .arg(f));
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let s = &v["signatures"][0];
        assert_eq!(s["indication"], "TOTAL-PASSED", "{v}");
        assert_eq!(s["level"], level, "{v}");
        assert_eq!(s["revocation"]["status"], "good", "{v}");
        assert_eq!(s["revocation"]["embedded"], true, "{v}");
    }
    for f in [&lt, &lta, &lt_crl, &certified] {
        if let Some(pdfsig) = require_tool("pdfsig") {
            let log = text(&run(Command::new(pdfsig).arg(f)));
            assert!(log.contains("Signature is Valid"), "{}\n{log}", f.display());
        }
        if let Some(qpdf) = require_tool("qpdf") {
            let o = run(Command::new(qpdf).arg("--check").arg(f));
            assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        }
        if let Some(log) = pyhanko_lt(f, &root) {
            assert!(log.contains(":VALID"), "{}\n{log}", f.display());
            assert!(!log.contains("INVALID"), "{}\n{log}", f.display());
        }
    }
    // The control: a B-T signature carries no revocation data, and the same check refuses it.
    if let Some(log) = pyhanko_lt(&bt, &root) {
        assert!(log.contains("Signature1:INVALID"), "{log}");
    }
}

/// `pki extend`: a B-LTA file gets the validation data of its document time-stamp and a second
/// document time-stamp (ETSI EN 319 142-1 §5.5); every earlier byte is kept, pyHanko and our
/// verifier accept it offline, and both time-stamps are reported.
#[test]
fn b_lta_extended_with_a_second_document_timestamp() {
    let tmp = tempfile::tempdir().unwrap();
    let p = LivePki::start(tmp.path());
    let input = tmp.path().join("in.pdf");
    std::fs::write(
        &input,
        pki_core::pdf::sample::one_page(&["Cong van so 13/UBND-VP"]),
    )
    .unwrap();
    let lta = tmp.path().join("lta.pdf");
    let o = sign(&p, &input, &lta, "B-LTA");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (certs_before, ..) = dss_counts(&lta);
    let signed = std::fs::read(&lta).unwrap();

    let ext = tmp.path().join("extended.pdf");
    let extend = |input: &Path, output: &Path| {
        run(Command::new(pki_bin())
            .arg("extend")
            .arg(input)
            .arg("-o")
            .arg(output)
            .args(["--tsa", &p.tsa.url])
            .env("PKI_HTTP_TIMEOUT", "3")
            .env("LANG", "C"))
    };
    let o = extend(&lta, &ext);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("1 document time-stamp(s), 1 signature time-stamp(s), 0 signer(s)"),
        "{}",
        text(&o)
    );
    let out = std::fs::read(&ext).unwrap();
    assert!(out.starts_with(&signed), "an earlier byte changed");
    assert_eq!(std::fs::read(&lta).unwrap(), signed, "the input changed");
    let r = PdfReader::open(&ext).unwrap();
    assert_eq!(r.revisions().len(), 6, "+ DSS, + document time-stamp");
    let (certs_after, ocsps, ..) = dss_counts(&ext);
    assert!(
        certs_after >= certs_before,
        "{certs_before} -> {certs_after}"
    );
    assert!(ocsps >= 1, "{ocsps} OCSP responses");

    // An unsigned document has nothing to extend: one sentence, no output.
    let nothing = tmp.path().join("nothing.pdf");
    let o = extend(&input, &nothing);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("sign it first"), "{}", text(&o));
    assert!(!nothing.exists());

    let root = p.dir.join("root.pem");
    drop(p);
    let o = run(Command::new(pki_bin())
        .args(["verify", "--offline", "--format", "json", "--trust"])
        .arg(&root)
        .arg(&ext));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["indication"], "TOTAL-PASSED", "{v}");
    let sigs = v["signatures"].as_array().unwrap();
    let stamps: Vec<_> = sigs
        .iter()
        .filter(|s| s["kind"] == "document-timestamp")
        .collect();
    assert_eq!(stamps.len(), 2, "{v}");
    for s in sigs {
        assert_eq!(s["indication"], "TOTAL-PASSED", "{v}");
    }
    assert_eq!(sigs[0]["level"], "PAdES-B-LTA", "{v}");
    assert_ne!(stamps[0]["timestamp"], serde_json::Value::Null, "{v}");
    if let Some(pdfsig) = require_tool("pdfsig") {
        let log = text(&run(Command::new(pdfsig).arg(&ext)));
        assert!(log.contains("Signature is Valid"), "{log}");
    }
    if let Some(qpdf) = require_tool("qpdf") {
        let o = run(Command::new(qpdf).arg("--check").arg(&ext));
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    }
    if let Some(log) = pyhanko_lt(&ext, &root) {
        assert_eq!(log.matches(":VALID").count(), 3, "{log}");
        assert!(!log.contains("INVALID"), "{log}");
    }
}

/// `pki extend` on a B-T file (no DSS yet, as other tools and our B-T leave it): the signer's
/// path and revocation data and its signature time-stamp's TSA data go into the DSS with the
/// document time-stamp, so a validator with the DSS as its only source (pyHanko, hard failure;
/// it refuses the B-T input) accepts it after every server is stopped. `--if-needed` then finds
/// nothing to do (exit 0, no output), unless the margin reaches the TSA certificate's expiry.
#[test]
fn extend_adds_signer_and_tsa_data_and_restamps_only_if_needed() {
    let tmp = tempfile::tempdir().unwrap();
    let p = LivePki::start(tmp.path());
    let input = tmp.path().join("in.pdf");
    std::fs::write(
        &input,
        pki_core::pdf::sample::one_page(&["Cong van so 14/UBND-VP"]),
    )
    .unwrap();
    let bt = tmp.path().join("bt.pdf");
    let o = sign(&p, &input, &bt, "B-T");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let extend = |input: &Path, output: &Path, extra: &[&str]| {
        run(Command::new(pki_bin())
            .arg("extend")
            .arg(input)
            .arg("-o")
            .arg(output)
            .args(["--tsa", &p.tsa.url])
            .args(extra)
            .env("PKI_HTTP_TIMEOUT", "3")
            .env("LANG", "C"))
    };
    let lta = tmp.path().join("lta.pdf");
    let o = extend(&bt, &lta, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("0 document time-stamp(s), 1 signature time-stamp(s), 1 signer(s)"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("warning"), "{}", text(&o));
    let (certs, ocsps, _, vri) = dss_counts(&lta);
    assert!(
        certs >= 3 && ocsps >= 2 && vri >= 1,
        "{certs} {ocsps} {vri}"
    );
    assert!(std::fs::read(&lta)
        .unwrap()
        .starts_with(&std::fs::read(&bt).unwrap()));

    // Just extended: the new time-stamp's TSA certificate is far from expiry.
    let again = tmp.path().join("again.pdf");
    let o = extend(&lta, &again, &["--if-needed"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("needs no extension"), "{}", text(&o));
    assert!(text(&o).contains("was not written"), "{}", text(&o));
    assert!(!again.exists());
    // A margin that reaches past the TSA certificate's expiry makes it due.
    let o = extend(&lta, &again, &["--if-needed", "--margin", "100000"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("extended:"), "{}", text(&o));
    assert!(again.exists());
    // --margin alone is a usage error (it means nothing without --if-needed).
    let o = extend(&lta, &tmp.path().join("x.pdf"), &["--margin", "5"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    let root = p.dir.join("root.pem");
    drop(p);
    if let Some(log) = pyhanko_lt(&bt, &root) {
        assert!(log.contains("Signature1:INVALID"), "the B-T control: {log}");
    }
    for file in [&lta, &again] {
        if let Some(log) = pyhanko_lt(file, &root) {
            assert!(log.contains("Signature1:VALID"), "{log}");
            assert!(!log.contains("INVALID"), "{log}");
        }
        if let Some(pdfsig) = require_tool("pdfsig") {
            let log = text(&run(Command::new(pdfsig).arg(file)));
            assert!(log.contains("Signature is Valid"), "{log}");
        }
        let o = run(Command::new(pki_bin())
            .args(["verify", "--offline", "--format", "json", "--trust"])
            .arg(&root)
            .arg(file));
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["signatures"][0]["level"], "PAdES-B-LTA", "{v}");
        assert_eq!(v["signatures"][0]["revocation"]["embedded"], true, "{v}");
    }
}

/// A signer whose revocation sources no longer answer does not stop the re-stamp: `pki extend`
/// warns, naming the signature, adds the document time-stamp, and the signature stays intact.
#[test]
fn extend_warns_when_a_signers_data_cannot_be_gathered() {
    let tmp = tempfile::tempdir().unwrap();
    let mut p = LivePki::start(tmp.path());
    let input = tmp.path().join("in.pdf");
    std::fs::write(
        &input,
        pki_core::pdf::sample::one_page(&["Cong van so 15/UBND-VP"]),
    )
    .unwrap();
    let bt = tmp.path().join("bt.pdf");
    let o = sign(&p, &input, &bt, "B-T");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    p.stop_ocsp();
    p.stop_crl();
    let out = tmp.path().join("out.pdf");
    let o = run(Command::new(pki_bin())
        .arg("extend")
        .arg(&bt)
        .arg("-o")
        .arg(&out)
        .args(["--tsa", &p.tsa.url])
        .env("PKI_HTTP_TIMEOUT", "3")
        .env("LANG", "C"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let log = text(&o);
    assert!(
        log.contains("warning: Signature1: the signer's validation data could not be gathered"),
        "{log}"
    );
    assert!(log.contains("0 signer(s)"), "{log}");
    let bytes = std::fs::read(&out).unwrap();
    assert!(bytes.starts_with(&std::fs::read(&bt).unwrap()));
    if let Some(pdfsig) = require_tool("pdfsig") {
        let log = text(&run(Command::new(pdfsig).arg(&out)));
        assert!(log.contains("Signature is Valid"), "{log}");
    }
    let o = run(Command::new(pki_bin())
        .args(["verify", "--offline", "--format", "json", "--trust"])
        .arg(p.dir.join("root.pem"))
        .arg(&out));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let sigs = v["signatures"].as_array().unwrap();
    assert!(
        sigs.iter().any(|s| s["kind"] == "document-timestamp"),
        "{v}"
    );
    assert_eq!(sigs[0]["integrity"], true, "{v}");
}
