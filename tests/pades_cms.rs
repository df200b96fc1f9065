//! Our CMS in a PDF (PAdES, ETSI EN 319 142-1): a signature made with `cms::SignedDataBuilder`
//! over the digest `pdf::sign::prepare` gives, with a signature time-stamp from our TSA (B-T),
//! and a document time-stamp whose token our TSA issues; checked by pdfsig, qpdf, pyHanko and
//! by ourselves reading `/Contents` back (zero-padded).

use interop_tests::{fixtures, require_tool, run, text};
use pki_core::cert::{parse_certificates, Certificate};
use pki_core::cms::{Content, SignedData, SignedDataBuilder};
use pki_core::crypto::AlgorithmPolicy;
use pki_core::pdf::sign::{self, PreparedSignature, SignatureOptions};
use pki_core::tsp::{self, Imprint, TimeStampReq, TimeStampToken};
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    fixtures().join("pki").join(name)
}

fn certs(name: &str) -> Vec<Certificate> {
    parse_certificates(&std::fs::read(fixture(name)).expect("fixture")).expect("certificates")
}

fn key(name: &str) -> hsm::SoftwareKey {
    hsm::SoftwareKey::from_pem(
        &std::fs::read_to_string(fixture(name)).expect("fixture key"),
        name,
    )
    .expect("key")
}

/// A one-page PDF with a classic cross-reference table.
/// The fixtures' TSA answering `req` in-process.
fn timestamp(req: &TimeStampReq) -> TimeStampToken {
    let tsa_cert = certs("tsa.pem")[0].clone();
    let chain = certs("issuing.pem");
    let tsa_key = key("tsa.key.pem");
    let tsa = tsp::Tsa {
        cert: &tsa_cert,
        chain: &chain,
        signer: &tsa_key,
        algorithm: hsm::SignatureAlgorithm::RsaPkcs1(hsm::HashAlgorithm::Sha256),
        policy: const_oid::ObjectIdentifier::new_unwrap("1.2.3.4.1"),
        accuracy: None,
    };
    let serial = tsp::random_serial().expect("random serial");
    TimeStampToken::from_response_or_token(&tsa.respond(
        &req.to_der(),
        time::OffsetDateTime::now_utc(),
        &serial,
    ))
    .expect("a token")
}

/// `/Contents` of a finished signature, decoded (still zero-padded).
fn contents(file: &Path, p: &PreparedSignature) -> Vec<u8> {
    let all = std::fs::read(file).expect("signed file");
    let start = p.contents_offset as usize;
    let hex = &all[start..start + 2 * p.contents_capacity];
    hex::decode(hex).expect("hex /Contents")
}

fn pdfsig_valid(pdfsig: &Path, file: &Path) -> (Vec<bool>, String) {
    let o = run(Command::new(pdfsig).arg(file));
    let out = text(&o);
    let v = out
        .lines()
        .filter(|l| l.contains("Signature Validation:"))
        .map(|l| l.contains("Signature is Valid"))
        .collect();
    (v, out)
}

const PYHANKO_CHECK: &str = r#"
import sys
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.keys import load_cert_from_pemder
from pyhanko_certvalidator import ValidationContext
f, root, inter = sys.argv[1:4]
def vc():
    return ValidationContext(trust_roots=[load_cert_from_pemder(root)],
                             other_certs=[load_cert_from_pemder(inter)],
                             allow_fetching=False, revocation_mode='soft-fail')
with open(f, 'rb') as fh:
    r = PdfFileReader(fh)
    for s in r.embedded_signatures:
        if s.sig_object_type == '/DocTimeStamp':
            st = validate_pdf_timestamp(s, validation_context=vc())
            print(s.field_name, 'DTS', 'intact' if st.intact else 'BROKEN',
                  'valid' if st.valid else 'INVALID',
                  'trusted' if st.trusted else 'UNTRUSTED')
        else:
            st = validate_pdf_signature(s, signer_validation_context=vc(), ts_validation_context=vc())
            ts = st.timestamp_validity
            print(s.field_name, 'SIG', 'intact' if st.intact else 'BROKEN',
                  'valid' if st.valid else 'INVALID',
                  'trusted' if st.trusted else 'UNTRUSTED',
                  'TS', 'none' if ts is None else ('ok' if ts.intact and ts.valid and ts.trusted else 'BAD'))
"#;

#[test]
fn pades_b_t_and_document_timestamp_with_our_cms_and_tsa() {
    let Some(pdfsig) = require_tool("pdfsig") else {
        return;
    };
    let Some(qpdf) = require_tool("qpdf") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = d.join("base.pdf");
    std::fs::write(&base, pki_core::pdf::sample::one_page(&["Cong van so 1"])).unwrap();
    let policy = AlgorithmPolicy::default();

    // PAdES B-B: our CMS over the /ByteRange digest, in two phases.
    let signed = d.join("signed.pdf");
    let mut opts = SignatureOptions::pades(16 * 1024);
    opts.signing_time = Some(time::OffsetDateTime::now_utc());
    opts.reason = Some("Phê duyệt".into());
    let p = sign::prepare(&base, &signed, &opts).unwrap();
    let chain = certs("officer-rsa.chain.pem");
    let officer = key("officer-rsa.key.pem");
    let alg = hsm::SignatureAlgorithm::RsaPkcs1(hsm::HashAlgorithm::Sha256);
    let prepared = SignedDataBuilder::new(chain[0].clone(), alg)
        .detached_digest(p.digest.clone())
        .certificates(chain[1..].iter().map(|c| c.der().to_vec()))
        .prepare()
        .unwrap();
    assert!(prepared.size_hint(hsm::Signer::max_signature_len(&officer)) < p.contents_capacity);
    let sig = hsm::Signer::sign(&officer, alg, &prepared.tbs).unwrap();
    let cms = prepared.finish(&sig).unwrap();

    // B-T: a signature time-stamp from our TSA over the signature value.
    let mut sd = SignedData::parse(&cms).unwrap();
    let req = tsp::request_for_signature(&sd, 0, hsm::HashAlgorithm::Sha256).unwrap();
    tsp::add_signature_timestamp(&mut sd, 0, &timestamp(&req)).unwrap();
    sign::finish(&p, &sd.to_der()).unwrap();

    let o = run(Command::new(&qpdf).arg("--check").arg(&signed));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (v, log) = pdfsig_valid(&pdfsig, &signed);
    assert_eq!(v, vec![true], "pdfsig\n{log}");

    // We read it back from /Contents (zero padding and all).
    let read = SignedData::parse(&contents(&signed, &p)).unwrap();
    let c = read
        .verify_signer(0, Content::Digest(&p.digest), &[], &policy)
        .unwrap();
    assert!(c.is_valid(), "{:?}", c.problems());
    let stamps = tsp::signature_timestamps(&read, 0);
    assert_eq!(stamps.len(), 1);
    let tc = stamps[0]
        .as_ref()
        .unwrap()
        .validate(
            Imprint::Data(&read.signer_infos[0].signature),
            None,
            &[],
            &policy,
        )
        .unwrap();
    assert!(tc.is_valid(), "{:?}", tc.problems());

    // A document time-stamp (B-LTA's last step) with a token from our TSA.
    let stamped = d.join("stamped.pdf");
    let p2 = sign::prepare(
        &signed,
        &stamped,
        &SignatureOptions::doc_timestamp(16 * 1024),
    )
    .unwrap();
    let req = TimeStampReq::new(hsm::HashAlgorithm::Sha256, p2.digest.clone()).unwrap();
    let token = timestamp(&req);
    sign::finish(&p2, &token.der).unwrap();
    let o = run(Command::new(&qpdf).arg("--check").arg(&stamped));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (v, log) = pdfsig_valid(&pdfsig, &stamped);
    assert_eq!(v.first(), Some(&true), "pdfsig\n{log}");
    let back = TimeStampToken::from_der(&contents(&stamped, &p2)).unwrap();
    let tc = back
        .validate(Imprint::Digest(&p2.digest), None, &[], &policy)
        .unwrap();
    assert!(tc.is_valid(), "{:?}", tc.problems());

    // pyHanko: the signature, its time-stamp and the document time-stamp.
    if let Some(py) = require_tool("pyhanko") {
        let python = py.with_file_name("python3");
        let script = d.join("check.py");
        std::fs::write(&script, PYHANKO_CHECK).unwrap();
        let o = run(Command::new(python)
            .arg(&script)
            .arg(&stamped)
            .arg(fixture("root.pem"))
            .arg(fixture("issuing.pem")));
        let out = text(&o);
        assert!(
            out.contains("Signature1 SIG intact valid trusted TS ok"),
            "pyHanko\n{out}"
        );
        assert!(
            out.contains("Signature2 DTS intact valid trusted"),
            "pyHanko\n{out}"
        );
    }

    // A changed byte in the signed range: pdfsig and we say no.
    let mut bad = std::fs::read(&signed).unwrap();
    let at = (p.byte_range[1] / 2) as usize;
    bad[at] ^= 0x01;
    let tampered = d.join("tampered.pdf");
    std::fs::write(&tampered, &bad).unwrap();
    let (v, log) = pdfsig_valid(&pdfsig, &tampered);
    assert_eq!(v, vec![false], "pdfsig on a tampered file\n{log}");
    let [a, b, c2, d2] = p.byte_range.map(|v| v as usize);
    let mut covered = bad[a..a + b].to_vec();
    covered.extend_from_slice(&bad[c2..c2 + d2]);
    let c = read
        .verify_signer(0, Content::Data(&covered), &[], &policy)
        .unwrap();
    assert!(!c.is_valid());
}
