use super::*;
use crate::crypto::AlgorithmPolicy;
use crate::testutil::{make_cert, pki};
use hsm::{HashAlgorithm, KeyKind, SignatureAlgorithm, Signer, SoftwareKey};

fn policy() -> AlgorithmPolicy {
    AlgorithmPolicy::default()
}

fn sign_detached(kind: KeyKind, data: &[u8]) -> (Vec<u8>, crate::cert::Certificate, SoftwareKey) {
    let (ca, key, leaf) = pki(kind, &[]);
    let alg = key.algorithms()[0];
    let t = time::macros::datetime!(2025-03-20 03:00:00 UTC);
    let der = SignedDataBuilder::new(leaf.clone(), alg)
        .detached(data)
        .signing_time(t)
        .certificates([ca.der().to_vec()])
        .sign(&key)
        .unwrap();
    (der, leaf, key)
}

#[test]
fn detached_round_trip_rsa_ec_ed25519() {
    for kind in [
        KeyKind::Rsa { bits: 2048 },
        KeyKind::EcP256,
        KeyKind::EcP384,
        KeyKind::Ed25519,
    ] {
        let (der, leaf, _) = sign_detached(kind, b"hello");
        let sd = SignedData::parse(&der).unwrap();
        assert_eq!(sd.version, 1);
        assert_eq!(sd.certificates.len(), 2);
        assert!(sd.econtent.is_none());
        let c = sd
            .verify_signer(0, Content::Data(b"hello"), &[], &policy())
            .unwrap();
        assert!(c.is_valid(), "{kind:?}: {:?}", c.problems());
        assert_eq!(c.signer_cert.as_ref(), Some(&leaf));
        assert_eq!(c.signing_certificate, EssCheck::MatchesV2);
        assert_eq!(
            c.signing_time,
            Some(time::macros::datetime!(2025-03-20 03:00:00 UTC))
        );
        // The same through a digest.
        let h = c.digest_algorithm.unwrap();
        let d = h.digest(b"hello");
        let c = sd
            .verify_signer(0, Content::Digest(&d), &[], &policy())
            .unwrap();
        assert!(c.is_valid());
        // Re-encoding a parsed signature is byte-identical (DER in, DER out).
        assert_eq!(sd.to_der(), der);
    }
}

#[test]
fn tampering_is_detected() {
    let (der, _, _) = sign_detached(KeyKind::EcP256, b"hello");
    let sd = SignedData::parse(&der).unwrap();
    let c = sd
        .verify_signer(0, Content::Data(b"hellO"), &[], &policy())
        .unwrap();
    assert!(!c.is_valid());
    assert_eq!(c.message_digest, AttrCheck::Mismatch);
    assert!(matches!(c.signature, SignatureCheck::Valid(_)));
    assert_eq!(
        c.indication(),
        (crate::report::Indication::TotalFailed, Some("HASH_FAILURE"))
    );

    // Flip a byte inside the signing time (a signed attribute).
    let mut sd2 = sd.clone();
    let raw = &mut sd2.signer_infos[0].signed_attrs.as_mut().unwrap().raw;
    let pos = raw.windows(4).position(|w| w == b"2503").unwrap();
    raw[pos + 3] = b'4';
    let c = SignedData::parse(&sd2.to_der())
        .unwrap()
        .verify_signer(0, Content::Data(b"hello"), &[], &policy())
        .unwrap();
    assert!(matches!(c.signature, SignatureCheck::Invalid(_)));
    assert!(!c.is_valid());

    // Flip a byte of the signature value.
    let mut sd3 = sd.clone();
    let n = sd3.signer_infos[0].signature.len();
    sd3.signer_infos[0].signature[n / 2] ^= 1;
    let c = sd3
        .verify_signer(0, Content::Data(b"hello"), &[], &policy())
        .unwrap();
    assert!(!c.is_valid());
    assert_eq!(
        c.indication(),
        (
            crate::report::Indication::TotalFailed,
            Some("SIG_CRYPTO_FAILURE")
        )
    );

    // Flip each byte of the signed attributes and of the signature value: never valid, never
    // a panic.
    let si = &sd.signer_infos[0];
    let find = |needle: &[u8]| {
        der.windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p..p + needle.len())
            .unwrap()
    };
    let signed = find(&si.signed_attrs.as_ref().unwrap().raw);
    let sig = find(&si.signature);
    for i in signed.chain(sig) {
        let mut t = der.clone();
        t[i] ^= 0x01;
        if let Ok(sd) = SignedData::parse(&t) {
            if let Ok(c) = sd.verify_signer(0, Content::Data(b"hello"), &[], &policy()) {
                assert!(!c.is_valid(), "a flip at byte {i} left the signature valid");
            }
        }
    }
}

#[test]
fn ess_mismatch_is_reported() {
    let (der, _, _) = sign_detached(KeyKind::EcP256, b"x");
    let sd = SignedData::parse(&der).unwrap();
    // Another certificate with the same issuer and serial but a different key.
    let (other_key, _) = SoftwareKey::generate(KeyKind::EcP256).unwrap();
    let (ca_key, _) = SoftwareKey::generate(KeyKind::EcP256).unwrap();
    let impostor = make_cert(
        "CN=Nguyễn Văn A,O=Test,C=VN",
        &other_key,
        Some(("CN=Test Root,O=Test,C=VN", &ca_key)),
        0x1234_5678_9abc,
        &[],
    );
    let mut sd2 = sd.clone();
    sd2.certificates = vec![];
    let c = sd2
        .verify_signer(
            0,
            Content::Data(b"x"),
            std::slice::from_ref(&impostor),
            &policy(),
        )
        .unwrap();
    assert_eq!(c.signing_certificate, EssCheck::Mismatch);
    assert!(!c.is_valid());
    // An impostor embedded first does not hide the real certificate supplied by the caller.
    let real = sd.parsed_certificates();
    let mut sd3 = sd.clone();
    sd3.certificates = vec![impostor.der().to_vec()];
    let c = sd3
        .verify_signer(0, Content::Data(b"x"), &real, &policy())
        .unwrap();
    assert!(c.is_valid(), "{:?}", c.problems());
    assert_ne!(c.signer_cert.as_ref(), Some(&impostor));
}

#[test]
fn attached_and_subject_key_id() {
    let (_, key, leaf) = pki(KeyKind::EcP256, &[]);
    let der = SignedDataBuilder::new(leaf.clone(), key.algorithms()[0])
        .attached(b"inside".to_vec())
        .sid_subject_key_id()
        .sign(&key)
        .unwrap();
    let sd = SignedData::parse(&der).unwrap();
    assert_eq!(sd.version, 3);
    assert_eq!(sd.signer_infos[0].version, 3);
    assert!(matches!(
        sd.signer_infos[0].sid,
        SignerIdentifier::SubjectKeyId(_)
    ));
    assert_eq!(sd.econtent.as_deref(), Some(&b"inside"[..]));
    let c = sd
        .verify_signer(0, Content::Attached, &[], &policy())
        .unwrap();
    assert!(c.is_valid(), "{:?}", c.problems());
    assert!(matches!(
        sd.verify_signer(1, Content::Attached, &[], &policy()),
        Err(CmsError::NoSuchSigner(1))
    ));
    let (detached, _, _) = sign_detached(KeyKind::EcP256, b"x");
    assert!(matches!(
        SignedData::parse(&detached)
            .unwrap()
            .verify_signer(0, Content::Attached, &[], &policy()),
        Err(CmsError::ContentMissing)
    ));
}

#[test]
fn two_phase_with_serialised_state() {
    let (_, key, leaf) = pki(KeyKind::Rsa { bits: 2048 }, &[]);
    let alg = SignatureAlgorithm::RsaPss(HashAlgorithm::Sha256);
    let prepared = SignedDataBuilder::new(leaf.clone(), alg)
        .detached(b"doc")
        .signed_attribute(
            const_oid::ObjectIdentifier::new_unwrap("1.2.3.4"),
            vec![vec![0x0c, 0x02, b'h', b'i']],
        )
        .prepare()
        .unwrap();
    assert_eq!(prepared.tbs[0], 0x31);
    let parked = serde_json::to_string(&prepared).unwrap();
    let back: PreparedSignature = serde_json::from_str(&parked).unwrap();
    assert_eq!(back.algorithm().unwrap(), alg);
    // A wrong signature is caught on finishing.
    let bad = key.sign(alg, b"something else").unwrap();
    assert!(back.clone().finish(&bad).is_err());
    let sig = key.sign(alg, &back.tbs).unwrap();
    let hint = back.size_hint(key.max_signature_len());
    let der = back.finish(&sig).unwrap();
    assert!(der.len() <= hint, "{} > {hint}", der.len());
    let sd = SignedData::parse(&der).unwrap();
    let c = sd
        .verify_signer(0, Content::Data(b"doc"), &[], &policy())
        .unwrap();
    assert!(c.is_valid(), "{:?}", c.problems());
    let attrs = sd.signer_infos[0].signed_attrs.as_ref().unwrap();
    assert_eq!(attrs.list.len(), 4);
}

#[test]
fn unsigned_attribute_added_keeps_signature() {
    let (der, _, _) = sign_detached(KeyKind::EcP256, b"x");
    let mut sd = SignedData::parse(&der).unwrap();
    let token = crate::asn1::tlv(tag::SEQUENCE, &[0x05, 0x00]);
    sd.add_unsigned_attribute(0, oids::SIGNATURE_TIMESTAMP_TOKEN, vec![token.clone()])
        .unwrap();
    assert!(sd
        .add_unsigned_attribute(0, oids::SIGNATURE_TIMESTAMP_TOKEN, vec![vec![0x30]])
        .is_err());
    let sd2 = SignedData::parse(&sd.to_der()).unwrap();
    let ua = sd2.signer_infos[0].unsigned_attrs.as_ref().unwrap();
    assert_eq!(
        ua.get(oids::SIGNATURE_TIMESTAMP_TOKEN)
            .next()
            .unwrap()
            .values,
        vec![token]
    );
    let c = sd2
        .verify_signer(0, Content::Data(b"x"), &[], &policy())
        .unwrap();
    assert!(c.is_valid());
}

/// Rewrites the outer ContentInfo SEQUENCE with an indefinite length and pads with zeros.
fn to_ber_padded(der: &[u8]) -> Vec<u8> {
    let t = crate::asn1::single(der, false, false).unwrap();
    let mut v = vec![0x30, 0x80];
    v.extend_from_slice(t.content);
    v.extend_from_slice(&[0, 0]);
    v.extend_from_slice(&[0; 100]);
    v
}

#[test]
fn ber_with_padding_and_rsa_encryption_oid() {
    let (der, _, _) = sign_detached(KeyKind::Rsa { bits: 2048 }, b"x");
    let ber = to_ber_padded(&der);
    let mut sd = SignedData::parse(&ber).unwrap();
    assert!(sd
        .verify_signer(0, Content::Data(b"x"), &[], &policy())
        .unwrap()
        .is_valid());
    // signatureAlgorithm given as rsaEncryption, as many signers write it.
    sd.signer_infos[0].signature_algorithm = AlgorithmIdentifier {
        oid: crate::oid::RSA_ENCRYPTION,
        der: seq(&[&oid_tlv(&crate::oid::RSA_ENCRYPTION), &[0x05, 0x00]]),
    };
    let c = SignedData::parse(&sd.to_der())
        .unwrap()
        .verify_signer(0, Content::Data(b"x"), &[], &policy())
        .unwrap();
    assert!(c.is_valid(), "{:?}", c.problems());
    assert_eq!(
        c.signature_algorithm,
        Some(SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha256))
    );
    // Trailing garbage that is not zero is refused.
    let mut bad = ber.clone();
    bad.push(1);
    assert!(matches!(
        SignedData::parse(&bad),
        Err(CmsError::Malformed { .. })
    ));
}

#[test]
fn without_signed_attributes() {
    let (_, key, leaf) = pki(KeyKind::EcP256, &[]);
    let alg = key.algorithms()[0];
    let mut sd = SignedData::parse(
        &SignedDataBuilder::new(leaf, alg)
            .detached(b"raw")
            .sign(&key)
            .unwrap(),
    )
    .unwrap();
    sd.signer_infos[0].signed_attrs = None;
    sd.signer_infos[0].signature = key.sign(alg, b"raw").unwrap();
    let sd = SignedData::parse(&sd.to_der()).unwrap();
    let c = sd
        .verify_signer(0, Content::Data(b"raw"), &[], &policy())
        .unwrap();
    assert!(c.is_valid(), "{:?}", c.problems());
    assert!(!sd
        .verify_signer(0, Content::Data(b"rAw"), &[], &policy())
        .unwrap()
        .is_valid());
    let d = HashAlgorithm::Sha256.digest(b"raw");
    let c = sd
        .verify_signer(0, Content::Digest(&d), &[], &policy())
        .unwrap();
    assert!(matches!(c.signature, SignatureCheck::NotChecked(_)));
}

#[test]
fn signer_certificate_not_found_is_a_finding() {
    let (der, _, _) = sign_detached(KeyKind::EcP256, b"x");
    let mut sd = SignedData::parse(&der).unwrap();
    sd.certificates.clear();
    let c = sd
        .verify_signer(0, Content::Data(b"x"), &[], &policy())
        .unwrap();
    assert!(c.signer_cert.is_none());
    assert!(!c.is_valid());
    assert_eq!(
        c.indication(),
        (
            crate::report::Indication::Indeterminate,
            Some("NO_SIGNING_CERTIFICATE_FOUND")
        )
    );
}

#[test]
fn truncations_and_garbage_never_panic() {
    let (der, _, _) = sign_detached(KeyKind::EcP256, b"x");
    for n in 0..der.len() {
        assert!(SignedData::parse(&der[..n]).is_err(), "prefix {n} parsed");
    }
    let ber = to_ber_padded(&der);
    for n in 0..ber.len() {
        let _ = SignedData::parse(&ber[..n]);
    }
    assert!(matches!(
        SignedData::parse(b"hello"),
        Err(CmsError::Malformed { .. })
    ));
}

#[test]
fn builder_refuses_bad_input() {
    let (_, key, leaf) = pki(KeyKind::EcP256, &[]);
    let alg = key.algorithms()[0];
    assert!(SignedDataBuilder::new(leaf.clone(), alg).prepare().is_err());
    assert!(SignedDataBuilder::new(leaf.clone(), alg)
        .detached_digest(vec![0; 5])
        .prepare()
        .is_err());
    assert!(
        SignedDataBuilder::new(leaf.clone(), SignatureAlgorithm::Ed25519)
            .detached(b"x")
            .prepare()
            .is_err()
    );
    let (other, _) = SoftwareKey::generate(KeyKind::EcP256).unwrap();
    assert!(SignedDataBuilder::new(leaf, alg)
        .detached(b"x")
        .sign(&other)
        .is_err());
}

#[test]
fn template_equals_a_fresh_build_and_verifies() {
    let t = time::macros::datetime!(2025-03-20 03:00:00 UTC);
    for kind in [
        KeyKind::Rsa { bits: 2048 },
        KeyKind::EcP256,
        KeyKind::Ed25519,
    ] {
        let (ca, key, leaf) = pki(kind, &[]);
        let alg = key.algorithms()[0];
        let builder = || {
            SignedDataBuilder::new(leaf.clone(), alg)
                .signing_time(t)
                .certificates([ca.der().to_vec()])
        };
        let fixed =
            matches!(kind, KeyKind::Rsa { .. } | KeyKind::Ed25519).then(|| key.max_signature_len());
        let template = builder().template(fixed).unwrap();
        for data in [&b"one"[..], b"two", b"a third document"] {
            let h = builder().digest_algorithm();
            let d = h.digest(data);
            let fresh = builder().detached_digest(d.clone()).prepare().unwrap();
            assert_eq!(template.prepare(&d).unwrap(), fresh, "{kind:?}");
            let tbs = template.to_be_signed(&d).unwrap();
            assert_eq!(tbs, fresh.tbs);
            let sig = key.sign(alg, &tbs).unwrap();
            let der = template.finish(&d, &sig).unwrap();
            // Without the check (for a signer that verified its own signature), the same bytes.
            assert_eq!(template.finish_checked_by_signer(&d, &sig).unwrap(), der);
            assert_eq!(
                key.verifies_own_signatures(alg),
                matches!(kind, KeyKind::Rsa { .. }),
                "{kind:?}"
            );
            // Byte for byte what the two-phase builder makes (RSA and Ed25519 signatures are
            // deterministic).
            if fixed.is_some() {
                assert_eq!(der, fresh.clone().finish(&sig).unwrap(), "{kind:?}");
            }
            let sd = SignedData::parse(&der).unwrap();
            let c = sd
                .verify_signer(0, Content::Data(data), &[], &policy())
                .unwrap();
            assert!(c.is_valid(), "{kind:?}: {:?}", c.problems());
            assert_eq!(c.signing_certificate, EssCheck::MatchesV2);
            // A signature over another document's attributes is refused.
            let other = template.to_be_signed(&h.digest(b"other")).unwrap();
            let wrong = key.sign(alg, &other).unwrap();
            assert!(template.finish(&d, &wrong).is_err());
        }
        assert!(template.prepare(&[0; 5]).is_err());
    }
}
