//! The same PKCS#11 code against a second, independent module: openCryptoki's soft token. Its
//! mechanisms differ from SoftHSM2's (raw CKM_RSA_PKCS and the PSS family, but no
//! CKM_SHA256_RSA_PKCS, and no EC in Debian's build), so PKCS#1 v1.5 goes through the
//! hash-in-software + DigestInfo path. There is one soft token per machine: each test takes a
//! file lock and re-initialises it (tests/support/pkcs11.rs).
#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use hsm::pkcs11::mechanism::Plan;
use hsm::pkcs11::{admin, open_logged_in, Module, PinSupply, Pkcs11Signer};
use hsm::{Error, HashAlgorithm, KeyKind, SecretString, SignatureAlgorithm, Signer};
use interop_tests::pkcs11::{opencryptoki, openssl_verify, TestToken};
use interop_tests::{require_tool, run, text};
use std::process::Command;
use std::sync::Arc;

fn generate(t: &TestToken, kind: KeyKind, label: &str) {
    let module = Module::load(&t.module).unwrap();
    let token = module
        .find_token(&hsm::keyref::Pkcs11Uri {
            token: Some(t.label.clone()),
            ..Default::default()
        })
        .unwrap();
    let pin = SecretString::from(t.pin.as_str());
    let (session, _) = open_logged_in(&module, &token, PinSupply::Given(&pin), true).unwrap();
    let id = admin::random_id().unwrap();
    let (handle, desc) = admin::generate_key_pair(&session, kind, label, &id, &t.label).unwrap();
    assert_eq!(desc.kind, kind);
    assert!(
        !admin::private_values_readable(&session, handle),
        "private key must not be readable"
    );
    session.close().unwrap();
}

fn signer(t: &TestToken, label: &str, pool: usize) -> Pkcs11Signer {
    let module = Module::load(&t.module).unwrap();
    let uri = hsm::keyref::Pkcs11Uri::parse(&t.uri(&format!("object={label}"))).unwrap();
    let pin = SecretString::from(t.pin.as_str());
    Pkcs11Signer::open(module, &uri, PinSupply::Given(&pin), pool).unwrap()
}

#[test]
fn rsa_signatures_verify_with_openssl() {
    let Some(t) = opencryptoki("occ rsa") else {
        return;
    };
    if require_tool("openssl").is_none() {
        return;
    }
    generate(&t, KeyKind::Rsa { bits: 2048 }, "rsa");
    let s = signer(&t, "rsa", 2);
    use HashAlgorithm::*;
    // No CKM_SHA256_RSA_PKCS here: hashed in software, signed with CKM_RSA_PKCS + DigestInfo.
    assert_eq!(
        s.plan(SignatureAlgorithm::RsaPkcs1(Sha256)),
        Some(Plan::HashHere(SignatureAlgorithm::RsaPkcs1(Sha256)))
    );
    assert_eq!(
        s.plan(SignatureAlgorithm::RsaPss(Sha256)),
        Some(Plan::OnToken(SignatureAlgorithm::RsaPss(Sha256)))
    );
    let algs = s.algorithms();
    assert_eq!(algs.len(), 6, "{algs:?}");
    for alg in algs {
        let msg = format!("Văn bản {}", alg.name()).into_bytes();
        let sig = s.sign(alg, &msg).unwrap();
        let pss = matches!(alg, SignatureAlgorithm::RsaPss(_));
        let h = alg.hash().unwrap().name();
        assert!(
            openssl_verify(s.public_key_der(), h, pss, &msg, &sig),
            "openssl rejected {}",
            alg.name()
        );
        assert!(!openssl_verify(s.public_key_der(), h, pss, b"other", &sig));
    }
}

#[test]
fn pool_and_errors() {
    let Some(t) = opencryptoki("occ pool") else {
        return;
    };
    generate(&t, KeyKind::Rsa { bits: 2048 }, "k");
    let s = Arc::new(signer(&t, "k", 4));
    let alg = SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha256);
    let key = {
        use der::Decode;
        spki::SubjectPublicKeyInfoOwned::from_der(s.public_key_der())
            .unwrap()
            .subject_public_key
            .raw_bytes()
            .to_vec()
    };
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let (s, key) = (s.clone(), key.clone());
            std::thread::spawn(move || {
                for j in 0..10 {
                    let msg = format!("{i}/{j}");
                    let sig = s.sign(alg, msg.as_bytes()).unwrap();
                    aws_lc_rs::signature::UnparsedPublicKey::new(
                        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
                        &key,
                    )
                    .verify(msg.as_bytes(), &sig)
                    .unwrap_or_else(|_| panic!("{msg} does not verify"));
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    // EC is not offered by this token: a typed error, not a crash.
    let e = s
        .sign(SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha256), b"x")
        .unwrap_err();
    assert!(matches!(e, Error::UnsupportedAlgorithm { .. }), "{e}");
}

#[test]
fn cli_keygen_csr_and_wrong_pin() {
    let Some(t) = opencryptoki("occ cli") else {
        return;
    };
    if require_tool("openssl").is_none() {
        return;
    }
    let m = t.module.to_str().unwrap().to_owned();
    let pin = format!("file:{}", t.pin_file.display());
    let base = |extra: &[&str]| {
        let mut v: Vec<String> = vec![
            "--module".into(),
            m.clone(),
            "--token".into(),
            t.label.clone(),
            "--pin-source".into(),
            pin.clone(),
        ];
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let pki = |sub: &str, extra: &[&str]| {
        let mut a = vec!["token".to_string(), sub.to_string()];
        a.extend(base(extra));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        t.pki(&a)
    };
    let o = pki("keygen", &["--type", "rsa2048", "--label", "officer"]);
    assert!(o.status.success(), "{}", text(&o));
    let csr = t.dir.path().join("req.pem");
    let o = pki(
        "csr",
        &[
            "--object",
            "officer",
            "--subject",
            "CN=Lê Văn C,UID=CCCD:079088001234,O=UBND Thành phố Hồ Chí Minh,C=VN",
            "-o",
            csr.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let v = run(Command::new("openssl")
        .args(["req", "-verify", "-noout", "-in"])
        .arg(&csr));
    assert!(v.status.success(), "openssl req -verify:\n{}", text(&v));
    let o = pki("objects", &[]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("sensitive=true extractable=false"),
        "{}",
        text(&o)
    );

    let wrong = "13572460";
    std::fs::write(&t.pin_file, format!("{wrong}\n")).unwrap();
    let o = pki("objects", &[]);
    let all = text(&o);
    assert_eq!(o.status.code(), Some(3), "{all}");
    assert!(all.contains("PIN was refused"), "{all}");
    assert!(
        !all.contains(wrong) && !all.contains(&t.pin),
        "a PIN leaked:\n{all}"
    );
}

struct Scripted {
    answers: std::sync::Mutex<Vec<String>>,
    seen: std::sync::Mutex<Vec<hsm::PinRequest>>,
}

impl hsm::PinPrompt for Scripted {
    fn prompt(&self, r: &hsm::PinRequest) -> Result<SecretString, Error> {
        self.seen.lock().unwrap().push(r.clone());
        Ok(SecretString::from(
            self.answers.lock().unwrap().remove(0).as_str(),
        ))
    }
}

/// openCryptoki counts wrong PINs: the prompt shows "few tries left", then "final try", and the
/// third wrong PIN locks the token — each a typed error.
#[test]
fn pin_count_low_final_try_and_locked() {
    let Some(t) = opencryptoki("occ lock") else {
        return;
    };
    let uri = hsm::KeyRef::parse(&format!(
        "pkcs11:token=occ%20lock?module-path={}",
        t.module.display()
    ))
    .unwrap();
    let p = Scripted {
        answers: std::sync::Mutex::new(vec![
            "11112222".into(),
            "11112223".into(),
            "11112224".into(),
        ]),
        seen: Default::default(),
    };
    let opts = hsm::OpenOptions {
        prompt: &p,
        ..hsm::OpenOptions::default()
    };
    let e = hsm::open(&uri, &opts).unwrap_err();
    assert!(matches!(e, Error::PinLocked { .. }), "{e}");
    assert!(e.to_string().contains("locked"), "{e}");
    let seen: Vec<(bool, bool)> = p
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|r| (r.count_low, r.final_try))
        .collect();
    assert_eq!(seen, vec![(false, false), (true, false), (false, true)]);
    // Locked now, even with the right PIN.
    let pin = SecretString::from(t.pin.as_str());
    let opts = hsm::OpenOptions {
        secret: Some(pin),
        ..hsm::OpenOptions::default()
    };
    let e = hsm::open(&uri, &opts).unwrap_err();
    assert!(matches!(e, Error::PinLocked { .. }), "{e}");
    let o = t.pki(&["token", "list", "--module", t.module.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("USER_PIN_LOCKED"),
        "{}",
        text(&o)
    );
}
