//! CMS SignedData (RFC 5652) interop with `openssl cms`: our detached and attached signatures
//! pass `openssl cms -verify`; openssl's (detached, attached BER from `-stream`, CAdES
//! signingCertificateV2, RSASSA-PSS, no signed attributes) pass ours. Tampered content fails
//! both ways. RSA and ECDSA signers from the fixtures.

#[path = "openssl_pki.rs"]
mod openssl_pki;

use interop_tests::{fixtures, require_tool, run, text};
use pki_core::cert::{parse_certificates, Certificate};
use pki_core::cms::{Content, EssCheck, SignatureCheck, SignedData, SignedDataBuilder};
use pki_core::crypto::AlgorithmPolicy;
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

fn s(p: &Path) -> String {
    p.display().to_string()
}

const SIGNERS: [&str; 2] = ["officer-rsa", "officer-ec"];

#[test]
fn our_signatures_pass_openssl_cms_verify() {
    let Some(openssl) = require_tool("openssl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("data.bin");
    std::fs::write(&data, "Công văn số 42/UBND-VP\r\n\x00binary\n").unwrap();
    let other = d.join("other.bin");
    std::fs::write(&other, "Công văn số 43/UBND-VP\r\n\x00binary\n").unwrap();
    let root = s(&fixture("root.pem"));
    let mut checked = 0;
    for name in SIGNERS {
        let chain = certs(&format!("{name}.chain.pem"));
        let k = key(&format!("{name}.key.pem"));
        for alg in hsm::Signer::algorithms(&k) {
            if matches!(alg, hsm::SignatureAlgorithm::RsaPkcs1(h) | hsm::SignatureAlgorithm::RsaPss(h) if h != hsm::HashAlgorithm::Sha256)
            {
                continue;
            }
            let content = std::fs::read(&data).unwrap();
            let sig = SignedDataBuilder::new(chain[0].clone(), alg)
                .detached(&content)
                .signing_time(time::OffsetDateTime::now_utc())
                .certificates(chain[1..].iter().map(|c| c.der().to_vec()))
                .sign(&k)
                .unwrap();
            let p7s = d.join(format!("{name}-{}.p7s", alg.name()));
            std::fs::write(&p7s, &sig).unwrap();
            let verify = |content: &Path| {
                run(Command::new(&openssl).args([
                    "cms",
                    "-verify",
                    "-binary",
                    "-inform",
                    "DER",
                    "-in",
                    &s(&p7s),
                    "-content",
                    &s(content),
                    "-CAfile",
                    &root,
                    "-out",
                    "/dev/null",
                ]))
            };
            let o = verify(&data);
            assert!(o.status.success(), "{name} {}: {}", alg.name(), text(&o));
            assert!(String::from_utf8_lossy(&o.stderr).contains("Verification successful"));
            let o = verify(&other);
            assert!(
                !o.status.success(),
                "openssl accepted other content: {}",
                text(&o)
            );
            checked += 1;

            // Attached: openssl gives back the content.
            let sig = SignedDataBuilder::new(chain[0].clone(), alg)
                .attached(content.clone())
                .certificates(chain[1..].iter().map(|c| c.der().to_vec()))
                .sign(&k)
                .unwrap();
            std::fs::write(&p7s, &sig).unwrap();
            let out = d.join("out.bin");
            let o = run(Command::new(&openssl).args([
                "cms",
                "-verify",
                "-binary",
                "-inform",
                "DER",
                "-in",
                &s(&p7s),
                "-CAfile",
                &root,
                "-out",
                &s(&out),
            ]));
            assert!(o.status.success(), "{}", text(&o));
            assert_eq!(std::fs::read(&out).unwrap(), content);
        }
    }
    // RSA PKCS#1 and PSS, and ECDSA.
    assert_eq!(checked, 3);
}

#[test]
fn openssl_signatures_pass_ours() {
    let Some(openssl) = require_tool("openssl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("data.bin");
    let content = b"Bien ban ban giao\n\x00\x01\x02".to_vec();
    std::fs::write(&data, &content).unwrap();
    let policy = AlgorithmPolicy::default();
    for name in SIGNERS {
        let leaf = certs(&format!("{name}.pem"))[0].clone();
        let variants: &[(&str, &[&str])] = &[
            ("detached", &[]),
            ("attached-ber", &["-nodetach", "-stream"]),
            ("cades", &["-cades"]),
            ("sha384", &["-md", "sha384"]),
            ("noattr", &["-noattr"]),
        ];
        // PSS with the salt as long as the hash (aws-lc-rs), openssl's maximum and none
        // (pki_core's own EMSA-PSS-VERIFY, the length read from the AlgorithmIdentifier).
        let pss: &[(&str, &[&str])] = &[
            (
                "pss",
                &[
                    "-keyopt",
                    "rsa_padding_mode:pss",
                    "-keyopt",
                    "rsa_pss_saltlen:digest",
                ],
            ),
            (
                "pss-max",
                &[
                    "-keyopt",
                    "rsa_padding_mode:pss",
                    "-keyopt",
                    "rsa_pss_saltlen:max",
                ],
            ),
            (
                "pss-0",
                &[
                    "-keyopt",
                    "rsa_padding_mode:pss",
                    "-keyopt",
                    "rsa_pss_saltlen:0",
                ],
            ),
        ];
        let extra = if name == "officer-rsa" { pss } else { &[] };
        for (label, args) in variants.iter().chain(extra) {
            let out = d.join(format!("{name}-{label}.p7s"));
            let o = run(Command::new(&openssl)
                .args(["cms", "-sign", "-binary", "-in", &s(&data), "-signer"])
                .arg(fixture(&format!("{name}.pem")))
                .arg("-inkey")
                .arg(fixture(&format!("{name}.key.pem")))
                .args([
                    "-certfile",
                    &s(&fixture("issuing.pem")),
                    "-outform",
                    "DER",
                    "-out",
                    &s(&out),
                ])
                .args(*args));
            assert!(o.status.success(), "{label}: {}", text(&o));
            let der = std::fs::read(&out).unwrap();
            if *label == "attached-ber" {
                // Really BER: indefinite lengths.
                assert_eq!(
                    der[1], 0x80,
                    "openssl -stream output is not indefinite-length"
                );
            }
            // Pad as a PDF /Contents would be.
            let mut padded = der.clone();
            padded.extend([0u8; 64]);
            let sd = SignedData::parse(&padded).unwrap_or_else(|e| panic!("{name} {label}: {e}"));
            assert_eq!(sd.signer_infos.len(), 1);
            if *label != "attached-ber" {
                // DER in, the same DER out: re-encoding changes nothing.
                assert_eq!(sd.to_der(), der, "{name} {label}");
            }
            let attached = sd.econtent.is_some();
            assert_eq!(attached, *label == "attached-ber", "{label}");
            let c = if attached {
                assert_eq!(sd.econtent.as_deref(), Some(content.as_slice()));
                sd.verify_signer(0, Content::Attached, &[], &policy)
                    .unwrap()
            } else {
                sd.verify_signer(0, Content::Data(&content), &[], &policy)
                    .unwrap()
            };
            assert!(c.is_valid(), "{name} {label}: {:?}", c.problems());
            assert_eq!(c.signer_cert.as_ref(), Some(&leaf));
            match *label {
                "cades" => assert_eq!(c.signing_certificate, EssCheck::MatchesV2),
                "noattr" => assert!(!c.has_signed_attrs),
                "pss" | "pss-max" | "pss-0" => assert!(matches!(
                    c.signature_algorithm,
                    Some(hsm::SignatureAlgorithm::RsaPss(_))
                )),
                "sha384" => assert_eq!(c.digest_algorithm, Some(hsm::HashAlgorithm::Sha384)),
                _ => {}
            }
            if *label != "noattr" {
                assert!(
                    c.signing_time.is_some(),
                    "{label}: openssl adds signing-time"
                );
            }
            // Other content: invalid.
            if !attached {
                let c = sd
                    .verify_signer(0, Content::Data(b"tampered"), &[], &policy)
                    .unwrap();
                assert!(!c.is_valid(), "{name} {label}");
            }
            // A flipped byte in the signature value: invalid.
            let mut sd2 = sd.clone();
            sd2.signer_infos[0].signature[5] ^= 0x20;
            let c = sd2
                .verify_signer(
                    0,
                    if attached {
                        Content::Attached
                    } else {
                        Content::Data(&content)
                    },
                    &[],
                    &policy,
                )
                .unwrap();
            assert!(
                matches!(c.signature, SignatureCheck::Invalid(_)),
                "{name} {label}"
            );

            // Adding an unsigned attribute keeps openssl's signature valid for openssl.
            let mut sd3 = sd.clone();
            sd3.add_unsigned_attribute(
                0,
                pki_core::cms::oids::SIGNATURE_TIMESTAMP_TOKEN,
                vec![vec![0x30, 0x03, 0x02, 0x01, 0x01]],
            )
            .unwrap();
            let re = d.join("re.p7s");
            std::fs::write(&re, sd3.to_der()).unwrap();
            let mut cmd = Command::new(&openssl);
            cmd.args([
                "cms",
                "-verify",
                "-binary",
                "-inform",
                "DER",
                "-in",
                &s(&re),
                "-CAfile",
                &s(&fixture("root.pem")),
                "-out",
                "/dev/null",
            ]);
            if !attached {
                cmd.args(["-content", &s(&data)]);
            }
            let o = run(&mut cmd);
            assert!(
                o.status.success(),
                "{name} {label} re-encoded: {}",
                text(&o)
            );
        }
    }
}

/// An ECDSA P-384 signer made by openssl, both directions. (Ed25519 in CMS, RFC 8419, is only
/// round-tripped in the unit tests: OpenSSL 3.0 cannot sign or verify it, "no default digest".)
#[test]
fn p384_both_ways() {
    let Some(openssl) = require_tool("openssl") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pki = openssl_pki::mini_pki(&openssl, d, false, true);
    let data = d.join("data.bin");
    let content = b"to be signed".to_vec();
    std::fs::write(&data, &content).unwrap();
    let policy = AlgorithmPolicy::default();
    let name = "p384";
    let alg = hsm::SignatureAlgorithm::Ecdsa(hsm::HashAlgorithm::Sha384);
    let args = ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"];
    let (cert_path, key_path) = openssl_pki::signer(&openssl, d, name, &args);
    let cert = parse_certificates(&std::fs::read(&cert_path).unwrap()).unwrap()[0].clone();
    let k = hsm::SoftwareKey::from_pem(&std::fs::read_to_string(&key_path).unwrap(), name).unwrap();
    // Ours, verified by openssl.
    let sig = SignedDataBuilder::new(cert.clone(), alg)
        .detached(&content)
        .sign(&k)
        .unwrap();
    let p7s = d.join(format!("{name}.p7s"));
    std::fs::write(&p7s, &sig).unwrap();
    let o = run(Command::new(&openssl).args([
        "cms",
        "-verify",
        "-binary",
        "-inform",
        "DER",
        "-in",
        &s(&p7s),
        "-content",
        &s(&data),
        "-CAfile",
        &s(&pki.root),
        "-purpose",
        "any",
        "-out",
        "/dev/null",
    ]));
    assert!(o.status.success(), "{name}: {}", text(&o));
    // openssl's, verified by us.
    let out = d.join(format!("{name}-openssl.p7s"));
    let o = run(Command::new(&openssl).args([
        "cms",
        "-sign",
        "-binary",
        "-in",
        &s(&data),
        "-signer",
        &s(&cert_path),
        "-inkey",
        &s(&key_path),
        "-md",
        "sha384",
        "-outform",
        "DER",
        "-out",
        &s(&out),
    ]));
    assert!(o.status.success(), "{name}: {}", text(&o));
    let sd = SignedData::parse(&std::fs::read(&out).unwrap()).unwrap();
    let c = sd
        .verify_signer(0, Content::Data(&content), &[], &policy)
        .unwrap();
    assert!(c.is_valid(), "{name}: {:?}", c.problems());
    assert_eq!(c.signature_algorithm, Some(alg));
    let c = sd
        .verify_signer(0, Content::Data(b"other"), &[], &policy)
        .unwrap();
    assert!(!c.is_valid());
}
