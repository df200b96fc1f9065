//! `pki cert verify` and `openssl verify` reach the same verdicts on a matrix of good and bad
//! chains built here with our CA builder.
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should panic with its message"
)]

use hsm::{KeyKind, Signer, SoftwareKey};
use interop_tests::{pki, require_tool, run, text};
use pki_core::ca::builder::{build_crl, default_algorithm, CertBuilder, CrlEntryBuild, Ext};
use pki_core::cert::{pem_encode, Certificate, KeyUsage};
use pki_core::crl::RevocationReason;
use pki_core::name::parse_dn;
use std::path::Path;
use std::process::Command;
use time::macros::datetime;
use time::OffsetDateTime;

struct Ca {
    key: SoftwareKey,
    cert: Certificate,
}

fn key() -> SoftwareKey {
    SoftwareKey::generate(KeyKind::EcP256).unwrap().0
}

fn make(
    subject: &str,
    key_of_subject: &SoftwareKey,
    issuer: Option<&Ca>,
    exts: Vec<Ext>,
    validity: (OffsetDateTime, OffsetDateTime),
) -> Certificate {
    let name = parse_dn(subject).unwrap();
    let (issuer_name, issuer_spki, signer): (Vec<u8>, Vec<u8>, &dyn Signer) = match issuer {
        Some(ca) => (
            ca.cert.subject_der().to_vec(),
            ca.cert.spki().to_vec(),
            &ca.key,
        ),
        None => (
            name.clone(),
            key_of_subject.public_key_der().to_vec(),
            key_of_subject,
        ),
    };
    let mut b = CertBuilder::new(
        &issuer_name,
        &name,
        key_of_subject.public_key_der(),
        &issuer_spki,
        validity.0,
        validity.1,
    );
    for e in exts {
        b = b.ext(e);
    }
    b.sign(signer, default_algorithm(signer).unwrap()).unwrap()
}

const LONG: (OffsetDateTime, OffsetDateTime) = (
    datetime!(2020-01-01 00:00 UTC),
    datetime!(2060-01-01 00:00 UTC),
);

fn ca_exts(path_len: Option<u8>) -> Vec<Ext> {
    vec![
        Ext::basic_constraints(true, path_len),
        Ext::key_usage(KeyUsage::KEY_CERT_SIGN | KeyUsage::CRL_SIGN),
    ]
}

fn leaf_exts() -> Vec<Ext> {
    vec![
        Ext::basic_constraints(false, None),
        Ext::key_usage(KeyUsage::DIGITAL_SIGNATURE | KeyUsage::NON_REPUDIATION),
    ]
}

fn new_ca(subject: &str, issuer: Option<&Ca>, exts: Vec<Ext>) -> Ca {
    let k = key();
    let cert = make(subject, &k, issuer, exts, LONG);
    Ca { key: k, cert }
}

fn write(dir: &Path, name: &str, certs: &[&Certificate]) -> String {
    let p = dir.join(name);
    let pem: String = certs
        .iter()
        .map(|c| pem_encode("CERTIFICATE", c.der()))
        .collect();
    std::fs::write(&p, pem).unwrap();
    p.display().to_string()
}

struct Case {
    name: &'static str,
    leaf: Certificate,
    chain: Vec<Certificate>,
    crl: Option<Vec<u8>>,
    /// Our expected exit code and sub-indication.
    expect: (i32, Option<&'static str>),
}

#[test]
fn verdicts_match_openssl_verify() {
    let Some(openssl) = require_tool("openssl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = new_ca("CN=Matrix Root,O=Thử nghiệm,C=VN", None, ca_exts(None));
    let inter = new_ca(
        "CN=Matrix Issuing CA,O=Thử nghiệm,C=VN",
        Some(&root),
        ca_exts(Some(0)),
    );
    let root_path = write(d, "root.pem", &[&root.cert]);
    let leaf_key = key();
    let leaf = |subject: &str, issuer: &Ca, exts: Vec<Ext>, v| {
        make(subject, &leaf_key, Some(issuer), exts, v)
    };

    let mut cases = vec![
        Case {
            name: "good",
            leaf: leaf("CN=Nguyễn Văn An,C=VN", &inter, leaf_exts(), LONG),
            chain: vec![inter.cert.clone()],
            crl: None,
            expect: (0, None),
        },
        Case {
            name: "expired",
            leaf: leaf(
                "CN=Expired,C=VN",
                &inter,
                leaf_exts(),
                (
                    datetime!(2020-01-01 00:00 UTC),
                    datetime!(2021-01-01 00:00 UTC),
                ),
            ),
            chain: vec![inter.cert.clone()],
            crl: None,
            expect: (1, Some("EXPIRED")),
        },
        Case {
            name: "not-yet-valid",
            leaf: leaf(
                "CN=Future,C=VN",
                &inter,
                leaf_exts(),
                (
                    datetime!(2090-01-01 00:00 UTC),
                    datetime!(2095-01-01 00:00 UTC),
                ),
            ),
            chain: vec![inter.cert.clone()],
            crl: None,
            expect: (1, Some("NOT_YET_VALID")),
        },
    ];
    // Wrong issuer signature: same issuer name and key identifier, another key signs.
    let impostor = Ca {
        key: key(),
        cert: inter.cert.clone(),
    };
    cases.push(Case {
        name: "wrong-issuer-signature",
        leaf: leaf("CN=Forged,C=VN", &impostor, leaf_exts(), LONG),
        chain: vec![inter.cert.clone()],
        crl: None,
        expect: (1, Some("SIG_CRYPTO_FAILURE")),
    });
    // An intermediate with CA:FALSE.
    let not_ca = new_ca(
        "CN=Not A CA,C=VN",
        Some(&root),
        vec![
            Ext::basic_constraints(false, None),
            Ext::key_usage(KeyUsage::KEY_CERT_SIGN),
        ],
    );
    cases.push(Case {
        name: "ca-false-intermediate",
        leaf: leaf("CN=Under Not A CA,C=VN", &not_ca, leaf_exts(), LONG),
        chain: vec![not_ca.cert.clone()],
        crl: None,
        expect: (1, Some("CHAIN_CONSTRAINTS_FAILURE")),
    });
    // pathLen 0 on the issuing CA, yet it issued another CA.
    let too_deep = new_ca("CN=Too Deep CA,C=VN", Some(&inter), ca_exts(None));
    cases.push(Case {
        name: "path-length-exceeded",
        leaf: leaf("CN=Too Deep Leaf,C=VN", &too_deep, leaf_exts(), LONG),
        chain: vec![too_deep.cert.clone(), inter.cert.clone()],
        crl: None,
        expect: (1, Some("CHAIN_CONSTRAINTS_FAILURE")),
    });
    // An intermediate whose keyUsage lacks keyCertSign.
    let no_certsign = new_ca(
        "CN=No CertSign CA,C=VN",
        Some(&root),
        vec![
            Ext::basic_constraints(true, None),
            Ext::key_usage(KeyUsage::CRL_SIGN | KeyUsage::DIGITAL_SIGNATURE),
        ],
    );
    cases.push(Case {
        name: "missing-keycertsign",
        leaf: leaf("CN=Under No CertSign,C=VN", &no_certsign, leaf_exts(), LONG),
        chain: vec![no_certsign.cert.clone()],
        crl: None,
        expect: (1, Some("CHAIN_CONSTRAINTS_FAILURE")),
    });
    // An unknown critical extension in the leaf.
    let mut exts = leaf_exts();
    exts.push(Ext {
        oid: const_oid::ObjectIdentifier::new_unwrap("1.3.6.1.4.1.55555.1.1"),
        critical: true,
        value: vec![0x05, 0x00],
    });
    cases.push(Case {
        name: "unknown-critical-extension",
        leaf: leaf("CN=Critical Ext,C=VN", &inter, exts, LONG),
        chain: vec![inter.cert.clone()],
        crl: None,
        expect: (1, Some("CHAIN_CONSTRAINTS_FAILURE")),
    });
    // Revoked by the issuing CA's CRL.
    let revoked = leaf("CN=Revoked,C=VN", &inter, leaf_exts(), LONG);
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let crl_for = |serials: &[&Certificate]| {
        build_crl(
            &inter.cert,
            &inter.key,
            default_algorithm(&inter.key).unwrap(),
            now - time::Duration::hours(1),
            Some(now + time::Duration::days(30)),
            7,
            &serials
                .iter()
                .map(|c| CrlEntryBuild {
                    serial: c.serial().to_vec(),
                    revoked_at: now - time::Duration::hours(2),
                    reason: Some(RevocationReason::KeyCompromise),
                })
                .collect::<Vec<_>>(),
        )
        .unwrap()
    };
    cases.push(Case {
        name: "revoked-by-crl",
        leaf: revoked.clone(),
        chain: vec![inter.cert.clone()],
        crl: Some(crl_for(&[&revoked])),
        expect: (1, Some("REVOKED")),
    });
    cases.push(Case {
        name: "not-revoked-crl-checked",
        leaf: leaf("CN=Checked Good,C=VN", &inter, leaf_exts(), LONG),
        chain: vec![inter.cert.clone()],
        crl: Some(crl_for(&[&revoked])),
        expect: (0, None),
    });
    // Chains to a root that is not trusted.
    let other_root = new_ca("CN=Other Root,C=VN", None, ca_exts(None));
    let other_inter = new_ca("CN=Other Issuing,C=VN", Some(&other_root), ca_exts(Some(0)));
    cases.push(Case {
        name: "untrusted-root",
        leaf: leaf("CN=Untrusted,C=VN", &other_inter, leaf_exts(), LONG),
        chain: vec![other_inter.cert.clone(), other_root.cert.clone()],
        crl: None,
        expect: (4, Some("NO_CERTIFICATE_CHAIN_FOUND")),
    });

    let mut failures = Vec::new();
    for c in &cases {
        let leaf_path = write(d, &format!("{}.leaf.pem", c.name), &[&c.leaf]);
        let chain_refs: Vec<&Certificate> = c.chain.iter().collect();
        let chain_path = write(d, &format!("{}.chain.pem", c.name), &chain_refs);
        let mut ours = vec![
            "cert",
            "verify",
            &leaf_path,
            "--chain",
            &chain_path,
            "--trust",
            &root_path,
            "--json",
        ];
        let mut ossl = Command::new(&openssl);
        ossl.args(["verify", "-CAfile", &root_path, "-untrusted", &chain_path]);
        let crl_path;
        if let Some(crl) = &c.crl {
            crl_path = d.join(format!("{}.crl.pem", c.name)).display().to_string();
            std::fs::write(&crl_path, pem_encode("X509 CRL", crl)).unwrap();
            ours.extend(["--crl", &crl_path]);
            ossl.args(["-crl_check", "-CRLfile", &crl_path]);
        } else {
            ours.push("--offline");
        }
        ossl.arg(&leaf_path);
        let o = pki(&ours);
        let ossl_out = run(&mut ossl);
        let our_code = o.status.code().unwrap_or(-1);
        let report: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|_| panic!("{}: no JSON: {}", c.name, text(&o)));
        let sub = report["sub_indication"].as_str().map(str::to_owned);
        let openssl_ok = ossl_out.status.success();
        let line = format!(
            "{}: ours exit {our_code} {sub:?}, openssl {}",
            c.name,
            if openssl_ok { "OK" } else { "error" }
        );
        eprintln!("{line}");
        if (our_code == 0) != openssl_ok {
            failures.push(format!(
                "{line} — verdicts differ\n{}\n{}",
                text(&o),
                text(&ossl_out)
            ));
        }
        if our_code != c.expect.0 || sub.as_deref() != c.expect.1 {
            failures.push(format!(
                "{line} — expected exit {} {:?}\n{}",
                c.expect.0,
                c.expect.1,
                text(&o)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
