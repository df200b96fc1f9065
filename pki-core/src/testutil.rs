//! Test certificates made in-process with the CA's certificate builder.

use crate::ca::builder::{CertBuilder, Ext};
use crate::cert::Certificate;
use hsm::{KeyKind, Signer, SoftwareKey};

/// The extKeyUsage extension with id-kp-timeStamping alone.
pub fn eku_time_stamping(critical: bool) -> Ext {
    Ext::ext_key_usage(&[crate::oid::EKU_TIME_STAMPING], critical)
}

/// A certificate for `key` named `subject`, signed by `issuer` (name and key) or self-signed.
pub fn make_cert(
    subject: &str,
    key: &SoftwareKey,
    issuer: Option<(&str, &SoftwareKey)>,
    serial: u64,
    exts: &[Ext],
) -> Certificate {
    let (iname, ikey) = issuer.unwrap_or((subject, key));
    let mut b = CertBuilder::new(
        &crate::name::parse_dn(iname).unwrap(),
        &crate::name::parse_dn(subject).unwrap(),
        key.public_key_der(),
        ikey.public_key_der(),
        time::macros::datetime!(2020-01-01 00:00 UTC),
        time::macros::datetime!(2049-12-31 23:59:59 UTC),
    );
    b.serial = serial.to_be_bytes().to_vec();
    for e in exts {
        b = b.ext(e.clone());
    }
    b.sign(ikey, ikey.algorithms()[0]).unwrap()
}

/// A CA certificate, and a leaf key and certificate with `exts` issued by it.
pub fn pki(kind: KeyKind, exts: &[Ext]) -> (Certificate, SoftwareKey, Certificate) {
    let (ca_key, _) = SoftwareKey::generate(KeyKind::EcP256).unwrap();
    let ca = make_cert(
        "CN=Test Root,O=Test,C=VN",
        &ca_key,
        None,
        1,
        &[Ext::basic_constraints(true, None)],
    );
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
