//! Test certificates made in-process (the fixtures generator on main replaces this later).

use crate::asn1::{tag, tlv};
use crate::cert::Certificate;
use crate::cms::{int_u64, oid_tlv, seq};
use der::Encode;
use hsm::{KeyKind, Signer, SoftwareKey};

/// An extension: OID, critical, DER value.
pub type Ext = (const_oid::ObjectIdentifier, bool, Vec<u8>);

/// A certificate for `key` named `subject`, signed by `issuer` (name and key) or self-signed.
pub fn make_cert(
    subject: &str,
    key: &SoftwareKey,
    issuer: Option<(&str, &SoftwareKey)>,
    serial: u64,
    exts: &[Ext],
) -> Certificate {
    let (iname, ikey) = issuer.unwrap_or((subject, key));
    let alg = ikey.algorithms()[0];
    let alg_der = alg.algorithm_identifier().to_der().unwrap();
    let validity = seq(&[
        &tlv(tag::UTC_TIME, b"200101000000Z"),
        &tlv(tag::UTC_TIME, b"491231235959Z"),
    ]);
    let mut ext_list = Vec::new();
    for (oid, crit, v) in exts {
        let mut e = oid_tlv(oid);
        if *crit {
            e.extend([0x01, 0x01, 0xff]);
        }
        e.extend(tlv(tag::OCTET_STRING, v));
        ext_list.extend(tlv(tag::SEQUENCE, &e));
    }
    let ski = hsm::HashAlgorithm::Sha1.digest(key.public_key_der());
    let mut e = oid_tlv(&crate::oid::EXT_SKI);
    e.extend(tlv(tag::OCTET_STRING, &tlv(tag::OCTET_STRING, &ski)));
    ext_list.extend(tlv(tag::SEQUENCE, &e));
    let tbs = seq(&[
        &tlv(tag::ctx(0), &int_u64(2)),
        &int_u64(serial),
        &alg_der,
        &crate::name::parse_dn(iname).unwrap(),
        &validity,
        &crate::name::parse_dn(subject).unwrap(),
        key.public_key_der(),
        &tlv(tag::ctx(3), &tlv(tag::SEQUENCE, &ext_list)),
    ]);
    let sig = ikey.sign(alg, &tbs).unwrap();
    let mut bits = vec![0];
    bits.extend(sig);
    Certificate::from_vec(seq(&[&tbs, &alg_der, &tlv(tag::BIT_STRING, &bits)])).unwrap()
}

/// The extKeyUsage value with id-kp-timeStamping alone.
pub fn eku_time_stamping() -> Vec<u8> {
    seq(&[&oid_tlv(&crate::oid::EKU_TIME_STAMPING)])
}

/// A CA key and certificate, and a leaf key and certificate with `exts` issued by it.
pub fn pki(kind: KeyKind, exts: &[Ext]) -> (Certificate, SoftwareKey, Certificate) {
    let (ca_key, _) = SoftwareKey::generate(KeyKind::EcP256).unwrap();
    let ca = make_cert("CN=Test Root,O=Test,C=VN", &ca_key, None, 1, &[]);
    let (key, _) = SoftwareKey::generate(kind).unwrap();
    let leaf = make_cert(
        "CN=Nguyễn Văn A,O=Test,C=VN",
        &key,
        Some(("CN=Test Root,O=Test,C=VN", &ca_key)),
        0x1234_5678_9abc,
        exts,
    );
    (ca, key, leaf)
}
