//! Round trips (request -> responder -> response -> verification), tamper tests and the
//! authorisation rules of RFC 6960 §4.2.2.2, over certificates assembled here.

use super::*;
use crate::asn1::{tag, tlv};
use crate::oid;
use der::Encode;
use hsm::{KeyKind, SignatureAlgorithm, Signer, SoftwareKey};
use time::macros::datetime;
use time::Duration;

fn name(cn: &str) -> Vec<u8> {
    let mut atv = tlv(tag::OID, oid::AT_CN.as_bytes());
    atv.extend(tlv(0x0c, cn.as_bytes()));
    tlv(tag::SEQUENCE, &tlv(tag::SET, &tlv(tag::SEQUENCE, &atv)))
}

fn utc(t: OffsetDateTime) -> Vec<u8> {
    let g = generalized_time(t);
    tlv(tag::UTC_TIME, &g[4..])
}

struct Issued {
    cert: Certificate,
    key: SoftwareKey,
}

/// A certificate for a fresh P-256 key, signed by `issuer` (or self-signed).
fn issue(
    cn: &str,
    serial: u8,
    issuer: Option<&Issued>,
    ocsp_signing: bool,
    ocsp_url: Option<&str>,
) -> Issued {
    let (key, _) = SoftwareKey::generate(KeyKind::EcP256).unwrap();
    let alg = SignatureAlgorithm::Ecdsa(hsm::HashAlgorithm::Sha256);
    let alg_der = alg.algorithm_identifier().to_der().unwrap();
    let mut tbs = tlv(tag::ctx(0), &[2, 1, 2]);
    tbs.extend(tlv(tag::INTEGER, &[serial]));
    tbs.extend(&alg_der);
    tbs.extend(match issuer {
        Some(i) => i.cert.subject_der().to_vec(),
        None => name(cn),
    });
    let mut validity = utc(datetime!(2025-01-01 0:00 UTC));
    validity.extend(utc(datetime!(2030-01-01 0:00 UTC)));
    tbs.extend(tlv(tag::SEQUENCE, &validity));
    tbs.extend(name(cn));
    tbs.extend(key.public_key_der());
    let mut exts = Vec::new();
    if ocsp_signing {
        let eku = tlv(
            tag::SEQUENCE,
            &tlv(tag::OID, oid::EKU_OCSP_SIGNING.as_bytes()),
        );
        exts.extend(extension_der(oid::EXT_EXT_KEY_USAGE, false, &eku));
        exts.extend(extension_der(oid::EXT_OCSP_NOCHECK, false, &[tag::NULL, 0]));
    }
    if let Some(u) = ocsp_url {
        let mut ad = tlv(tag::OID, oid::AD_OCSP.as_bytes());
        ad.extend(tlv(tag::ctx_prim(6), u.as_bytes()));
        let aia = tlv(tag::SEQUENCE, &tlv(tag::SEQUENCE, &ad));
        exts.extend(extension_der(oid::EXT_AIA, false, &aia));
    }
    if !exts.is_empty() {
        tbs.extend(tlv(tag::ctx(3), &tlv(tag::SEQUENCE, &exts)));
    }
    let tbs = tlv(tag::SEQUENCE, &tbs);
    let signer: &SoftwareKey = issuer.map_or(&key, |i| &i.key);
    let sig = signer.sign(alg, &tbs).unwrap();
    let mut bits = vec![0];
    bits.extend(sig);
    let mut c = tbs;
    c.extend(alg_der);
    c.extend(tlv(tag::BIT_STRING, &bits));
    let cert = Certificate::from_der(&tlv(tag::SEQUENCE, &c)).unwrap();
    Issued { cert, key }
}

struct Pki {
    ca: Issued,
    leaf: Issued,
    revoked: Issued,
    index: CaIndex,
}

fn pki() -> Pki {
    let ca = issue("Test CA", 1, None, false, None);
    let leaf = issue(
        "Officer",
        0x10,
        Some(&ca),
        false,
        Some("http://127.0.0.1:9/"),
    );
    let revoked = issue("Former officer", 0x11, Some(&ca), false, None);
    let index = CaIndex::parse(
        "V\t300101000000Z\t\t10\tunknown\t/CN=Officer\n\
         R\t300101000000Z\t250301000000Z,keyCompromise\t11\tunknown\t/CN=Former officer\n",
    )
    .unwrap();
    Pki {
        ca,
        leaf,
        revoked,
        index,
    }
}

const NOW: OffsetDateTime = datetime!(2026-06-01 10:00 UTC);

fn respond(p: &Pki, responder: &Issued, req: &[u8]) -> Vec<u8> {
    let a = answer(
        req,
        &p.ca.cert,
        &p.index,
        &responder.cert,
        &responder.key,
        NOW,
        Duration::hours(1),
    );
    assert_eq!(a.status, ResponseStatus::Successful, "{:?}", a.error);
    a.der
}

fn check(p: &Pki, der: &[u8], id: &CertId, nonce: Option<&[u8]>) -> OcspCheck {
    let r = OcspResponse::parse(der).unwrap();
    verify_response(&r, &p.ca.cert, id, NOW, nonce, &OcspPolicy::default())
}

#[test]
fn round_trip_good_and_revoked_signed_by_the_ca() {
    let p = pki();
    for hash in [hsm::HashAlgorithm::Sha1, hsm::HashAlgorithm::Sha256] {
        let id = CertId::for_certificate(hash, &p.leaf.cert, &p.ca.cert);
        let nonce = [7u8; 32];
        let req = OcspRequest::build(std::slice::from_ref(&id), Some(&nonce));
        let parsed = OcspRequest::parse(&req).unwrap();
        assert_eq!(parsed.cert_ids, vec![id.clone()]);
        assert_eq!(parsed.nonce, Some(nonce_extension_value(&nonce)));

        let c = check(&p, &respond(&p, &p.ca, &req), &id, Some(&nonce));
        assert_eq!(c.outcome(), OcspOutcome::Good, "{:?}", c.problems);
        assert_eq!(c.nonce, NonceCheck::Matched);
        assert!(matches!(c.responder, Some(Responder::Ca(_))));
        assert_eq!(c.this_update, Some(NOW));
        assert_eq!(c.next_update, Some(NOW + Duration::hours(1)));
    }
    let id = CertId::for_certificate(hsm::HashAlgorithm::Sha1, &p.revoked.cert, &p.ca.cert);
    let req = OcspRequest::build(std::slice::from_ref(&id), None);
    let c = check(&p, &respond(&p, &p.ca, &req), &id, None);
    assert_eq!(
        c.outcome(),
        OcspOutcome::Revoked {
            time: datetime!(2025-03-01 0:00 UTC),
            reason: Some(RevocationReason::KeyCompromise)
        }
    );
    assert_eq!(c.nonce, NonceCheck::NotSent);
}

#[test]
fn delegated_responder_must_be_authorised_by_the_ca() {
    let p = pki();
    let id = CertId::for_certificate(hsm::HashAlgorithm::Sha1, &p.leaf.cert, &p.ca.cert);
    let req = OcspRequest::build(std::slice::from_ref(&id), None);

    let delegate = issue("OCSP responder", 0x20, Some(&p.ca), true, None);
    let c = check(&p, &respond(&p, &delegate, &req), &id, None);
    assert_eq!(c.outcome(), OcspOutcome::Good, "{:?}", c.problems);
    assert!(matches!(c.responder, Some(Responder::Delegated(_))));

    let no_eku = issue("Not a responder", 0x21, Some(&p.ca), false, None);
    let c = check(&p, &respond(&p, &no_eku, &req), &id, None);
    assert_eq!(c.outcome(), OcspOutcome::Unverifiable);
    assert!(c
        .problems
        .iter()
        .any(|x| matches!(x, OcspProblem::ResponderNotAuthorised { .. })));

    let other_ca = issue("Other CA", 1, None, false, None);
    let stranger = issue("OCSP responder", 0x20, Some(&other_ca), true, None);
    let c = check(&p, &respond(&p, &stranger, &req), &id, None);
    assert_eq!(c.outcome(), OcspOutcome::Unverifiable);
    assert!(c
        .problems
        .iter()
        .any(|x| matches!(x, OcspProblem::ResponderNotIssuedByCa { .. })));
}

#[test]
fn tampered_responses_fail() {
    let p = pki();
    let id = CertId::for_certificate(hsm::HashAlgorithm::Sha1, &p.leaf.cert, &p.ca.cert);
    let req = OcspRequest::build(std::slice::from_ref(&id), None);
    let good = respond(&p, &p.ca, &req);
    let basic = OcspResponse::parse(&good).unwrap().basic.unwrap();

    // Flip a byte of the signature.
    let sig_at = good
        .windows(basic.signature.len())
        .position(|w| w == basic.signature.as_slice())
        .unwrap();
    let mut bad = good.clone();
    bad[sig_at + 10] ^= 1;
    let c = check(&p, &bad, &id, None);
    assert_eq!(c.outcome(), OcspOutcome::Unverifiable);
    assert!(!c.signature_valid);
    assert!(c
        .problems
        .iter()
        .any(|x| matches!(x, OcspProblem::Signature(_))));

    // Turn "good" (80 00) into "unknown" (82 00) inside the signed data.
    let tbs_at = good
        .windows(basic.tbs.len())
        .position(|w| w == basic.tbs.as_slice())
        .unwrap();
    let status_at = basic
        .tbs
        .windows(2)
        .rposition(|w| w == [0x80, 0x00])
        .unwrap();
    let mut bad = good.clone();
    bad[tbs_at + status_at] = 0x82;
    let c = check(&p, &bad, &id, None);
    assert_eq!(c.status, Some(CertStatus::Unknown));
    assert_eq!(c.outcome(), OcspOutcome::Unverifiable);
}

#[test]
fn response_about_another_certificate_fails() {
    let p = pki();
    let asked = CertId::for_certificate(hsm::HashAlgorithm::Sha1, &p.leaf.cert, &p.ca.cert);
    let other = CertId::for_certificate(hsm::HashAlgorithm::Sha1, &p.revoked.cert, &p.ca.cert);
    let resp = respond(&p, &p.ca, &OcspRequest::build(&[other], None));
    let c = check(&p, &resp, &asked, None);
    assert_eq!(c.outcome(), OcspOutcome::Unverifiable);
    assert!(matches!(
        c.problems.as_slice(),
        [OcspProblem::NoMatchingResponse { .. }]
    ));

    // A CertID of another CA with the same serial is answered "unknown".
    let other_ca = issue("Other CA", 1, None, false, None);
    let foreign = CertId::new(
        hsm::HashAlgorithm::Sha1,
        &other_ca.cert,
        p.leaf.cert.serial(),
    );
    let resp = respond(
        &p,
        &p.ca,
        &OcspRequest::build(std::slice::from_ref(&foreign), None),
    );
    let r = OcspResponse::parse(&resp).unwrap();
    let c = verify_response(
        &r,
        &other_ca.cert,
        &foreign,
        NOW,
        None,
        &OcspPolicy::default(),
    );
    // Signed by a CA that is not the certificate's: never a pass.
    assert_eq!(c.outcome(), OcspOutcome::Unverifiable);
    assert_eq!(r.basic.unwrap().responses[0].status, CertStatus::Unknown);
}

#[test]
fn nonce_mismatch_fails_and_missing_nonce_warns() {
    let p = pki();
    let id = CertId::for_certificate(hsm::HashAlgorithm::Sha1, &p.leaf.cert, &p.ca.cert);
    let resp = respond(
        &p,
        &p.ca,
        &OcspRequest::build(std::slice::from_ref(&id), Some(b"one nonce")),
    );
    let c = check(&p, &resp, &id, Some(b"another nonce"));
    assert_eq!(c.nonce, NonceCheck::Mismatch);
    assert_eq!(c.outcome(), OcspOutcome::Unverifiable);

    let resp = respond(
        &p,
        &p.ca,
        &OcspRequest::build(std::slice::from_ref(&id), None),
    );
    let c = check(&p, &resp, &id, Some(b"a nonce"));
    assert_eq!(c.nonce, NonceCheck::Missing);
    assert_eq!(c.outcome(), OcspOutcome::Good);
    assert!(!c.warnings.is_empty());
}

#[test]
fn freshness() {
    let p = pki();
    let id = CertId::for_certificate(hsm::HashAlgorithm::Sha1, &p.leaf.cert, &p.ca.cert);
    let resp = OcspResponse::parse(&respond(
        &p,
        &p.ca,
        &OcspRequest::build(std::slice::from_ref(&id), None),
    ))
    .unwrap();
    let pol = OcspPolicy::default();
    let at = |t| verify_response(&resp, &p.ca.cert, &id, t, None, &pol);
    assert_eq!(at(NOW + Duration::minutes(64)).outcome(), OcspOutcome::Good);
    assert!(matches!(
        at(NOW + Duration::hours(2)).problems.as_slice(),
        [OcspProblem::Expired { .. }]
    ));
    assert!(matches!(
        at(NOW - Duration::hours(1)).problems.as_slice(),
        [OcspProblem::NotYetValid { .. }]
    ));

    // Without nextUpdate: accepted for the policy's maximum age.
    let st = SingleStatus {
        cert_id: id.clone(),
        status: CertStatus::Good,
        this_update: NOW,
        next_update: None,
    };
    let der = build_response(&[st], &p.ca.cert, &p.ca.key, NOW, None).unwrap();
    let resp = OcspResponse::parse(&der).unwrap();
    let at = |t| verify_response(&resp, &p.ca.cert, &id, t, None, &pol);
    assert_eq!(at(NOW + Duration::days(6)).outcome(), OcspOutcome::Good);
    assert!(matches!(
        at(NOW + Duration::days(8)).problems.as_slice(),
        [OcspProblem::TooOld { .. }]
    ));
}

#[test]
fn error_responses_and_garbage() {
    let p = pki();
    let id = CertId::for_certificate(hsm::HashAlgorithm::Sha1, &p.leaf.cert, &p.ca.cert);
    for s in [
        ResponseStatus::MalformedRequest,
        ResponseStatus::InternalError,
        ResponseStatus::TryLater,
        ResponseStatus::Unauthorized,
    ] {
        let r = OcspResponse::parse(&error_response(s)).unwrap();
        assert_eq!(r.status, s);
        let c = verify_response(&r, &p.ca.cert, &id, NOW, None, &OcspPolicy::default());
        assert_eq!(c.problems, vec![OcspProblem::NotSuccessful(s)]);
    }
    let a = answer(
        b"junk",
        &p.ca.cert,
        &p.index,
        &p.ca.cert,
        &p.ca.key,
        NOW,
        Duration::hours(1),
    );
    assert_eq!(a.status, ResponseStatus::MalformedRequest);
    assert!(matches!(
        OcspResponse::parse(&[0x30, 0x03, 0x0a, 0x01]),
        Err(OcspError::Malformed { offset: 1, .. })
    ));
    let req = OcspRequest::build(std::slice::from_ref(&id), None);
    let good = respond(&p, &p.ca, &req);
    for cut in [1, 10, good.len() / 2, good.len() - 1] {
        assert!(OcspResponse::parse(&good[..cut]).is_err());
    }
    assert!(OcspRequest::parse(&req[..req.len() - 1]).is_err());
    // RFC 8954: nonces of 1 to 32 bytes are answered, longer ones refused.
    for (len, ok) in [(1, true), (32, true), (33, false)] {
        let req = OcspRequest::build(std::slice::from_ref(&id), Some(&vec![9u8; len]));
        let a = answer(
            &req,
            &p.ca.cert,
            &p.index,
            &p.ca.cert,
            &p.ca.key,
            NOW,
            Duration::hours(1),
        );
        let want = if ok {
            ResponseStatus::Successful
        } else {
            ResponseStatus::MalformedRequest
        };
        assert_eq!(a.status, want, "nonce of {len} bytes");
    }
    // The wrong key for the responder certificate is refused.
    assert!(matches!(
        build_response(&[], &p.ca.cert, &p.leaf.key, NOW, None),
        Err(BuildError::KeyMismatch { .. })
    ));
}

#[test]
fn online_check_uses_the_aia_url() {
    struct Canned<'a>(&'a Pki);
    impl crate::fetch::Fetcher for Canned<'_> {
        fn get(&self, url: &str, _: u64) -> Result<Vec<u8>, crate::fetch::FetchError> {
            Err(crate::fetch::FetchError::HttpStatus {
                url: url.into(),
                status: 405,
            })
        }
        fn post(
            &self,
            url: &str,
            ct: &str,
            body: &[u8],
            _: u64,
        ) -> Result<Vec<u8>, crate::fetch::FetchError> {
            assert_eq!(url, "http://127.0.0.1:9/");
            assert_eq!(ct, "application/ocsp-request");
            Ok(respond(self.0, &self.0.ca, body))
        }
    }
    let p = pki();
    let c = check_online(
        &p.leaf.cert,
        &p.ca.cert,
        &Canned(&p),
        NOW,
        &OcspPolicy::default(),
    )
    .unwrap();
    assert_eq!(c.outcome(), OcspOutcome::Good, "{:?}", c.problems);
    assert_eq!(c.nonce, NonceCheck::Matched);
    assert_eq!(c.url.as_deref(), Some("http://127.0.0.1:9/"));
    assert!(matches!(
        check_online(
            &p.revoked.cert,
            &p.ca.cert,
            &Canned(&p),
            NOW,
            &OcspPolicy::default()
        ),
        Err(OnlineError::NoResponderUrl)
    ));
}

#[test]
fn reads_openssl_index_lines() {
    let idx = CaIndex::parse(
        "V\t360101000000Z\t\t1000\tunknown\t/C=VN/CN=A\n\
         R\t360101000000Z\t260101120000Z,superseded\t1001\tunknown\t/C=VN/CN=B\n\
         R\t360101000000Z\t260101120000Z\t0A\tunknown\t/C=VN/CN=C\n\
         E\t200101000000Z\t\t1002\tunknown\t/C=VN/CN=D\n",
    )
    .unwrap();
    assert_eq!(idx.len(), 4);
    assert_eq!(
        idx.lookup(&[0x10, 0x00]).unwrap().status,
        IndexStatus::Valid
    );
    assert_eq!(
        idx.lookup(&[0x10, 0x01]).unwrap().status,
        IndexStatus::Revoked {
            at: datetime!(2026-01-01 12:00 UTC),
            reason: Some(RevocationReason::Superseded)
        }
    );
    assert!(matches!(
        idx.lookup(&[0x00, 0x0a]).unwrap().status,
        IndexStatus::Revoked { reason: None, .. }
    ));
    assert!(idx.lookup(&[0x99]).is_none());
    assert!(CaIndex::parse("X\t1\t2\t3\n").is_err());
    assert_eq!(
        CaIndex::parse("\nR\t360101000000Z\tnot-a-time\t10\tunknown\t/CN=x\n").unwrap_err(),
        IndexError::BadLine { line: 2 }
    );
}

#[test]
fn stored_responses_and_revocation_status() {
    use crate::revocation::{Source, Status};
    let p = pki();
    let id = CertId::for_certificate(hsm::HashAlgorithm::Sha256, &p.revoked.cert, &p.ca.cert);
    let der = respond(
        &p,
        &p.ca,
        &OcspRequest::build(std::slice::from_ref(&id), None),
    );
    let pol = OcspPolicy::default();
    // A SHA-256 entry matches the SHA-1 CertID computed for a stored response.
    let c = check_response_der(&der, &p.revoked.cert, &p.ca.cert, NOW, &pol);
    let revoked_at = datetime!(2025-03-01 0:00 UTC);
    assert_eq!(
        c.revocation_status(NOW),
        Status::Revoked {
            at: revoked_at,
            reason: Some(RevocationReason::KeyCompromise),
            source: Source::Ocsp
        }
    );
    // Key compromise counts even before the revocation time, as for CRLs.
    assert!(matches!(
        c.revocation_status(revoked_at - Duration::days(1)),
        Status::Revoked { .. }
    ));
    let c = check_response_der(b"\x30\x00", &p.revoked.cert, &p.ca.cert, NOW, &pol);
    assert!(matches!(c.problems.as_slice(), [OcspProblem::Malformed(_)]));
    assert!(matches!(c.revocation_status(NOW), Status::Unknown { .. }));
    let late = check_response_der(
        &der,
        &p.revoked.cert,
        &p.ca.cert,
        NOW + Duration::days(1),
        &pol,
    );
    assert!(late.problems.iter().all(OcspProblem::is_freshness));
    assert!(!late.problems.is_empty());
}

#[test]
fn every_single_byte_change_is_rejected_or_harmless() {
    let p = pki();
    let id = CertId::for_certificate(hsm::HashAlgorithm::Sha1, &p.leaf.cert, &p.ca.cert);
    let nonce = [3u8; 32];
    let delegate = issue("OCSP responder", 0x20, Some(&p.ca), true, None);
    let good = respond(
        &p,
        &delegate,
        &OcspRequest::build(std::slice::from_ref(&id), Some(&nonce)),
    );
    let tbs = OcspResponse::parse(&good).unwrap().basic.unwrap().tbs;
    for i in 0..good.len() {
        for bit in [0x01u8, 0x80] {
            let mut m = good.clone();
            m[i] ^= bit;
            // Never a panic; an accepted response has exactly the signed data it was signed with.
            if let Ok(r) = OcspResponse::parse(&m) {
                let c = verify_response(
                    &r,
                    &p.ca.cert,
                    &id,
                    NOW,
                    Some(&nonce),
                    &OcspPolicy::default(),
                );
                if c.outcome() != OcspOutcome::Unverifiable {
                    assert_eq!(r.basic.unwrap().tbs, tbs, "byte {i} bit {bit:#x}");
                    assert_eq!(c.outcome(), OcspOutcome::Good);
                }
            }
        }
    }
    for n in 0..good.len() {
        assert!(OcspResponse::parse(&good[..n]).is_err());
    }
}
