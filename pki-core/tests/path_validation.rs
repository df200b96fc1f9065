//! Path building and RFC 5280 §6.1 validation through the public API.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should panic with its message"
)]

use hsm::{KeyKind, Signer, SoftwareKey};
use pki_core::ca::builder::{default_algorithm, CertBuilder, Ext};
use pki_core::cert::{Certificate, KeyUsage};
use pki_core::name::parse_dn;
use pki_core::oid;
use pki_core::path::{validate, PathError, Purpose, ValidationOptions};
use pki_core::trust::CertPool;
use time::macros::datetime;
use time::OffsetDateTime;

struct Node {
    key: SoftwareKey,
    cert: Certificate,
}

const LONG: (OffsetDateTime, OffsetDateTime) = (
    datetime!(2020-01-01 00:00 UTC),
    datetime!(2060-01-01 00:00 UTC),
);

fn now() -> OffsetDateTime {
    datetime!(2030-06-01 00:00 UTC)
}

fn issue(
    subject: &str,
    issuer: Option<&Node>,
    exts: Vec<Ext>,
    validity: (OffsetDateTime, OffsetDateTime),
) -> Node {
    let key = SoftwareKey::generate(KeyKind::EcP256).unwrap().0;
    issue_with_key(subject, key, issuer, exts, validity)
}

fn issue_with_key(
    subject: &str,
    key: SoftwareKey,
    issuer: Option<&Node>,
    exts: Vec<Ext>,
    validity: (OffsetDateTime, OffsetDateTime),
) -> Node {
    let name = parse_dn(subject).unwrap();
    let (iname, ispki, signer): (Vec<u8>, Vec<u8>, &dyn Signer) = match issuer {
        Some(i) => (
            i.cert.subject_der().to_vec(),
            i.cert.spki().to_vec(),
            &i.key,
        ),
        None => (name.clone(), key.public_key_der().to_vec(), &key),
    };
    let mut b = CertBuilder::new(
        &iname,
        &name,
        key.public_key_der(),
        &ispki,
        validity.0,
        validity.1,
    );
    for e in exts {
        b = b.ext(e);
    }
    let cert = b.sign(signer, default_algorithm(signer).unwrap()).unwrap();
    Node { key, cert }
}

fn ca(path_len: Option<u8>) -> Vec<Ext> {
    vec![
        Ext::basic_constraints(true, path_len),
        Ext::key_usage(KeyUsage::KEY_CERT_SIGN | KeyUsage::CRL_SIGN),
    ]
}

fn ee() -> Vec<Ext> {
    vec![
        Ext::basic_constraints(false, None),
        Ext::key_usage(KeyUsage::DIGITAL_SIGNATURE | KeyUsage::NON_REPUDIATION),
    ]
}

fn opts() -> ValidationOptions {
    ValidationOptions::new(now(), Purpose::DocumentSigning)
}

fn pool(nodes: &[&Node]) -> CertPool {
    CertPool::from_certs(nodes.iter().map(|n| n.cert.clone()))
}

#[test]
fn cross_certificate_path_is_found_when_the_direct_one_is_expired() {
    let old_root = issue("CN=Old Root,C=VN", None, ca(None), LONG);
    let new_root = issue("CN=New Root,C=VN", None, ca(None), LONG);
    // The issuing CA's key is certified twice: by the old root (expired) and by the new root.
    let issuing_key = SoftwareKey::generate(KeyKind::EcP256).unwrap().0;
    let pkcs = issuing_key.public_key_der().to_vec();
    let mk = |issuer: &Node, v: (OffsetDateTime, OffsetDateTime)| {
        let name = parse_dn("CN=Issuing,C=VN").unwrap();
        let mut b = CertBuilder::new(
            issuer.cert.subject_der(),
            &name,
            &pkcs,
            issuer.cert.spki(),
            v.0,
            v.1,
        );
        for e in ca(Some(0)) {
            b = b.ext(e);
        }
        b.sign(&issuer.key, default_algorithm(&issuer.key).unwrap())
            .unwrap()
    };
    let via_old = mk(
        &old_root,
        (
            datetime!(2020-01-01 00:00 UTC),
            datetime!(2021-01-01 00:00 UTC),
        ),
    );
    let via_new = mk(&new_root, LONG);
    let issuing = Node {
        key: issuing_key,
        cert: via_new.clone(),
    };
    let leaf = issue("CN=Leaf,C=VN", Some(&issuing), ee(), LONG);
    let anchors = pool(&[&old_root, &new_root]);
    let inter = CertPool::from_certs([via_old.clone(), via_new.clone()]);
    let p = validate(&leaf.cert, &inter, &anchors, &opts()).unwrap();
    assert_eq!(p.certs[1], via_new);
    assert_eq!(p.certs[2], new_root.cert);
    // With only the old root trusted, the most specific failure is the expired link.
    let only_old = pool(&[&old_root]);
    let f = validate(&leaf.cert, &inter, &only_old, &opts()).unwrap_err();
    assert!(matches!(f.error, PathError::Expired { .. }), "{}", f.error);
}

#[test]
fn name_constraints_permit_and_exclude() {
    let root = issue("CN=Root,C=VN", None, ca(None), LONG);
    let permitted = parse_dn("O=Bộ Tư pháp,C=VN").unwrap();
    let excluded = parse_dn("OU=Bị cấm,O=Bộ Tư pháp,C=VN").unwrap();
    let mut exts = ca(Some(0));
    exts.push(Ext::name_constraints_dn(&[permitted], &[excluded]));
    let constrained = issue(
        "CN=Constrained CA,O=Bộ Tư pháp,C=VN",
        Some(&root),
        exts,
        LONG,
    );
    let anchors = pool(&[&root]);
    let inter = pool(&[&constrained]);
    let inside = issue(
        "CN=Inside,OU=Vụ Pháp chế,O=Bộ Tư pháp,C=VN",
        Some(&constrained),
        ee(),
        LONG,
    );
    validate(&inside.cert, &inter, &anchors, &opts()).unwrap();
    let outside = issue(
        "CN=Outside,O=Bộ Tài chính,C=VN",
        Some(&constrained),
        ee(),
        LONG,
    );
    let f = validate(&outside.cert, &inter, &anchors, &opts()).unwrap_err();
    assert!(
        matches!(f.error, PathError::NameConstraints { .. }),
        "{}",
        f.error
    );
    let banned = issue(
        "CN=Banned,OU=Bị cấm,O=Bộ Tư pháp,C=VN",
        Some(&constrained),
        ee(),
        LONG,
    );
    let f = validate(&banned.cert, &inter, &anchors, &opts()).unwrap_err();
    assert!(
        matches!(f.error, PathError::NameConstraints { .. }),
        "{}",
        f.error
    );
    // An e-mail address in the SAN outside a permitted rfc822 subtree is caught too.
}

#[test]
fn explicit_policy_is_enforced() {
    let root = issue("CN=Root,C=VN", None, ca(None), LONG);
    let mut exts = ca(Some(0));
    exts.push(Ext::certificate_policies(&[oid::POLICY_VGCA]));
    let issuing = issue("CN=Issuing,C=VN", Some(&root), exts, LONG);
    let mut with_policy = ee();
    with_policy.push(Ext::certificate_policies(&[oid::POLICY_VGCA]));
    let good = issue("CN=With Policy,C=VN", Some(&issuing), with_policy, LONG);
    let none = issue("CN=Without Policy,C=VN", Some(&issuing), ee(), LONG);
    let anchors = pool(&[&root]);
    let inter = pool(&[&issuing]);
    let mut o = opts();
    o.require_explicit_policy = true;
    o.initial_policies = vec![oid::POLICY_VGCA];
    let p = validate(&good.cert, &inter, &anchors, &o).unwrap();
    assert_eq!(p.policies, vec![oid::POLICY_VGCA]);
    let f = validate(&none.cert, &inter, &anchors, &o).unwrap_err();
    assert!(matches!(f.error, PathError::Policy { .. }), "{}", f.error);
    // Without the requirement, the same certificate is fine.
    validate(&none.cert, &inter, &anchors, &opts()).unwrap();
}

#[test]
fn loops_and_missing_issuers_end_cleanly() {
    // Two CAs that certify each other, neither trusted.
    let a_key = SoftwareKey::generate(KeyKind::EcP256).unwrap().0;
    let b_key = SoftwareKey::generate(KeyKind::EcP256).unwrap().0;
    let a_name = parse_dn("CN=A,C=VN").unwrap();
    let b_name = parse_dn("CN=B,C=VN").unwrap();
    let cross = |subj: &[u8], subj_key: &SoftwareKey, iss: &[u8], iss_key: &SoftwareKey| {
        let mut b = CertBuilder::new(
            iss,
            subj,
            subj_key.public_key_der(),
            iss_key.public_key_der(),
            LONG.0,
            LONG.1,
        );
        for e in ca(None) {
            b = b.ext(e);
        }
        b.sign(iss_key, default_algorithm(iss_key).unwrap())
            .unwrap()
    };
    let a_by_b = cross(&a_name, &a_key, &b_name, &b_key);
    let b_by_a = cross(&b_name, &b_key, &a_name, &a_key);
    let a = Node {
        key: a_key,
        cert: a_by_b.clone(),
    };
    let leaf = issue("CN=Leaf,C=VN", Some(&a), ee(), LONG);
    let trusted = issue("CN=Unrelated Root,C=VN", None, ca(None), LONG);
    let inter = CertPool::from_certs([a_by_b, b_by_a]);
    let f = validate(&leaf.cert, &inter, &pool(&[&trusted]), &opts()).unwrap_err();
    assert!(matches!(f.error, PathError::NoIssuer { .. }), "{}", f.error);
    assert!(!f.error.is_definitive());
}

#[test]
fn budget_bounds_the_search() {
    let root = issue("CN=Root,C=VN", None, ca(None), LONG);
    // Many look-alike intermediates with the same name and no key identifiers that match the
    // leaf's issuer key: each costs a signature check.
    let real = issue("CN=Issuing,C=VN", Some(&root), ca(Some(0)), LONG);
    let leaf = issue("CN=Leaf,C=VN", Some(&real), ee(), LONG);
    let mut fakes: Vec<Certificate> = (0..100)
        .map(|_| {
            let n = issue("CN=Issuing,C=VN", Some(&root), ca(Some(0)), LONG);
            // Strip key identifiers so they are not filtered out cheaply.
            let name = parse_dn("CN=Issuing,C=VN").unwrap();
            let mut b = CertBuilder::new(
                root.cert.subject_der(),
                &name,
                n.key.public_key_der(),
                root.cert.spki(),
                LONG.0,
                LONG.1,
            );
            b.extensions.clear();
            for e in ca(Some(0)) {
                b = b.ext(e);
            }
            b.sign(&root.key, default_algorithm(&root.key).unwrap())
                .unwrap()
        })
        .collect();
    let mut leaf_no_aki = leaf.cert.clone();
    {
        let name = parse_dn("CN=Leaf,C=VN").unwrap();
        let mut b = CertBuilder::new(
            real.cert.subject_der(),
            &name,
            leaf.key.public_key_der(),
            real.cert.spki(),
            LONG.0,
            LONG.1,
        );
        b.extensions.clear();
        for e in ee() {
            b = b.ext(e);
        }
        leaf_no_aki = b
            .sign(&real.key, default_algorithm(&real.key).unwrap())
            .unwrap_or(leaf_no_aki);
    }
    fakes.push(real.cert.clone());
    let mut o = opts();
    o.max_signature_checks = 20;
    let f = validate(
        &leaf_no_aki,
        &CertPool::from_certs(fakes.clone()),
        &pool(&[&root]),
        &o,
    )
    .unwrap_err();
    assert!(
        matches!(
            f.error,
            PathError::BudgetExhausted(_) | PathError::BadSignature { .. }
        ),
        "{}",
        f.error
    );
    // With enough budget the real issuer is found among the look-alikes.
    o.max_signature_checks = 500;
    validate(
        &leaf_no_aki,
        &CertPool::from_certs(fakes),
        &pool(&[&root]),
        &o,
    )
    .unwrap();
}

#[test]
fn purposes() {
    let root = issue("CN=Root,C=VN", None, ca(None), LONG);
    let anchors = pool(&[&root]);
    let none = CertPool::new();
    let server_only = issue(
        "CN=Server,C=VN",
        Some(&root),
        vec![
            Ext::basic_constraints(false, None),
            Ext::key_usage(KeyUsage::DIGITAL_SIGNATURE),
            Ext::ext_key_usage(&[oid::EKU_SERVER_AUTH], false),
        ],
        LONG,
    );
    let f = validate(&server_only.cert, &none, &anchors, &opts()).unwrap_err();
    assert!(
        matches!(f.error, PathError::WrongPurpose { .. }),
        "{}",
        f.error
    );
    let tsa_noncritical = issue(
        "CN=TSA,C=VN",
        Some(&root),
        vec![Ext::ext_key_usage(&[oid::EKU_TIME_STAMPING], false)],
        LONG,
    );
    let o = ValidationOptions::new(now(), Purpose::TimeStamping);
    assert!(validate(&tsa_noncritical.cert, &none, &anchors, &o).is_err());
    let tsa = issue(
        "CN=TSA,C=VN",
        Some(&root),
        vec![Ext::ext_key_usage(&[oid::EKU_TIME_STAMPING], true)],
        LONG,
    );
    validate(&tsa.cert, &none, &anchors, &o).unwrap();
    // A trusted self-signed end entity is its own path.
    let selfsigned = issue("CN=Self,C=VN", None, ee(), LONG);
    validate(&selfsigned.cert, &none, &pool(&[&selfsigned]), &opts()).unwrap();
}
