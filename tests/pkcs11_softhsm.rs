//! PKCS#11 through SoftHSM2: keys generated on a fresh token (one per test, in a temporary
//! directory), every algorithm the token supports verified by openssl, non-extractable keys,
//! typed errors, the session pool under 8 threads, and recovery after the module loses its
//! state. Each test runs in its own process (nextest): SOFTHSM2_CONF is read at C_Initialize.
#![allow(
    clippy::unwrap_used,
    reason = "test code: a panic is the failure report"
)]

use hsm::pkcs11::{admin, open_logged_in, Module, PinSupply, Pkcs11Signer};
use hsm::{Error, KeyKind, KeyRef, OpenOptions, SecretString, SignatureAlgorithm, Signer};
use interop_tests::pkcs11::{openssl_verify, softhsm, TestToken};
use interop_tests::require_tool;
use std::sync::Arc;

fn generate(t: &TestToken, kind: KeyKind, label: &str) -> Vec<u8> {
    generate_on(t, &t.label, kind, label)
}

/// [`generate`] on the token labelled `token` of `t`'s module.
fn generate_on(t: &TestToken, token: &str, kind: KeyKind, label: &str) -> Vec<u8> {
    let module = Module::load(&t.module).unwrap();
    let found = module
        .find_token(&hsm::keyref::Pkcs11Uri {
            token: Some(token.to_owned()),
            ..Default::default()
        })
        .unwrap();
    let pin = SecretString::from(t.pin.as_str());
    let (session, _) = open_logged_in(&module, &found, PinSupply::Given(&pin), true).unwrap();
    let id = admin::random_id().unwrap();
    let (handle, desc) = admin::generate_key_pair(&session, kind, label, &id, token).unwrap();
    assert_eq!(desc.kind, kind);
    assert!(
        !admin::private_values_readable(&session, handle),
        "the private key's secret values must not be readable"
    );
    session.close().unwrap();
    id
}

fn open(t: &TestToken, attrs: &str) -> Arc<dyn Signer> {
    hsm::open(
        &KeyRef::parse(&t.uri(attrs)).unwrap(),
        &OpenOptions::default(),
    )
    .unwrap()
}

fn check_all_algorithms(s: &dyn Signer, expect: &[SignatureAlgorithm]) {
    let algs = s.algorithms();
    for a in expect {
        assert!(algs.contains(a), "{} missing from {algs:?}", a.name());
    }
    for alg in algs {
        let msg = format!("Công văn số 1/{}", alg.name()).into_bytes();
        let sig = s.sign(alg, &msg).unwrap();
        assert!(sig.len() <= s.max_signature_len());
        let hash = alg.hash().unwrap().name();
        let pss = matches!(alg, SignatureAlgorithm::RsaPss(_));
        assert!(
            openssl_verify(s.public_key_der(), hash, pss, &msg, &sig),
            "openssl rejected {}",
            alg.name()
        );
        let mut tampered = msg.clone();
        tampered[0] ^= 1;
        assert!(
            !openssl_verify(s.public_key_der(), hash, pss, &tampered, &sig),
            "openssl accepted a tampered message for {}",
            alg.name()
        );
    }
}

#[test]
fn rsa_2048_all_algorithms_verify_with_openssl() {
    let Some(t) = softhsm("rsa test") else { return };
    if require_tool("openssl").is_none() {
        return;
    }
    generate(&t, KeyKind::Rsa { bits: 2048 }, "sign-key");
    let s = open(&t, "object=sign-key");
    assert_eq!(s.key_kind(), KeyKind::Rsa { bits: 2048 });
    use hsm::HashAlgorithm::*;
    check_all_algorithms(
        &*s,
        &[
            SignatureAlgorithm::RsaPkcs1(Sha256),
            SignatureAlgorithm::RsaPkcs1(Sha384),
            SignatureAlgorithm::RsaPkcs1(Sha512),
            SignatureAlgorithm::RsaPss(Sha256),
            SignatureAlgorithm::RsaPss(Sha384),
            SignatureAlgorithm::RsaPss(Sha512),
        ],
    );
}

#[test]
fn rsa_3072_signs() {
    let Some(t) = softhsm("rsa3072") else { return };
    if require_tool("openssl").is_none() {
        return;
    }
    generate(&t, KeyKind::Rsa { bits: 3072 }, "k3072");
    let s = open(&t, "object=k3072");
    assert_eq!(s.max_signature_len(), 384);
    check_all_algorithms(&*s, &[]);
}

#[test]
fn ec_p256_and_p384_verify_with_openssl() {
    let Some(t) = softhsm("ec test") else { return };
    if require_tool("openssl").is_none() {
        return;
    }
    use hsm::HashAlgorithm::*;
    generate(&t, KeyKind::EcP256, "p256");
    generate(&t, KeyKind::EcP384, "p384");
    let s = open(&t, "object=p256");
    assert_eq!(s.key_kind(), KeyKind::EcP256);
    assert_eq!(s.algorithms()[0], SignatureAlgorithm::Ecdsa(Sha256));
    check_all_algorithms(&*s, &[SignatureAlgorithm::Ecdsa(Sha256)]);
    let s = open(&t, "object=p384");
    assert_eq!(s.algorithms()[0], SignatureAlgorithm::Ecdsa(Sha384));
    check_all_algorithms(&*s, &[SignatureAlgorithm::Ecdsa(Sha384)]);
}

#[test]
fn key_selected_by_id_and_errors_are_typed() {
    let Some(t) = softhsm("select") else { return };
    let id = generate(&t, KeyKind::EcP256, "a");
    generate(&t, KeyKind::EcP256, "b");
    let by_id = format!("id={}", hsm::pkcs11::pct_encode_bytes(&id));
    let s = open(&t, &by_id);
    assert_eq!(s.key_kind(), KeyKind::EcP256);

    let err = |uri: String| {
        hsm::open(&KeyRef::parse(&uri).unwrap(), &OpenOptions::default()).unwrap_err()
    };
    let e = err(t.uri(""));
    assert!(matches!(e, Error::Ambiguous { count: 2, .. }), "{e}");
    let e = err(t.uri("object=nope"));
    assert!(matches!(e, Error::KeyNotFound { .. }), "{e}");
    assert!(e.to_string().contains("nope"));
    let e = err(t.uri("").replace("token=select", "token=absent"));
    assert!(matches!(e, Error::TokenAbsent { .. }), "{e}");
    let e = err(t
        .uri("")
        .replace(&t.module.display().to_string(), "/nonexistent/libvendor.so"));
    assert!(matches!(e, Error::ModuleLoad { .. }), "{e}");
    // RSA is not a P-256 key's algorithm.
    let e = s
        .sign(
            SignatureAlgorithm::RsaPkcs1(hsm::HashAlgorithm::Sha256),
            b"x",
        )
        .unwrap_err();
    assert!(matches!(e, Error::UnsupportedAlgorithm { .. }), "{e}");
}

#[test]
fn wrong_pin_is_a_typed_error_without_the_pin() {
    let Some(t) = softhsm("pin test") else { return };
    generate(&t, KeyKind::EcP256, "k");
    let wrong = "975310";
    std::fs::write(&t.pin_file, format!("{wrong}\n")).unwrap();
    let e = hsm::open(
        &KeyRef::parse(&t.uri("object=k")).unwrap(),
        &OpenOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::WrongPin { .. }), "{e}");
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains(wrong), "the PIN leaked: {shown}");
    assert!(!shown.contains(&t.pin));

    // With the right PIN, nothing we print shows it either.
    std::fs::write(&t.pin_file, format!("{}\n", t.pin)).unwrap();
    let opts = OpenOptions {
        secret: Some(SecretString::from(t.pin.as_str())),
        ..OpenOptions::default()
    };
    let s = hsm::open(&KeyRef::parse(&t.uri("object=k")).unwrap(), &opts).unwrap();
    let dbg = format!("{s:?} {opts:?}");
    assert!(!dbg.contains(&t.pin), "the PIN leaked: {dbg}");
    assert!(
        dbg.contains("[redacted]") || dbg.contains("Login::Pin"),
        "{dbg}"
    );
}

#[test]
fn eight_threads_sign_through_the_pool() {
    let Some(t) = softhsm("pool") else { return };
    generate(&t, KeyKind::Rsa { bits: 2048 }, "k");
    let module = Module::load(&t.module).unwrap();
    let uri = hsm::keyref::Pkcs11Uri::parse(&t.uri("object=k")).unwrap();
    let pin = SecretString::from(t.pin.as_str());
    let s = Arc::new(Pkcs11Signer::open(module, &uri, PinSupply::Given(&pin), 4).unwrap());
    let spki = spki_raw(s.public_key_der());
    let alg = SignatureAlgorithm::RsaPkcs1(hsm::HashAlgorithm::Sha256);
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let s = s.clone();
            let spki = spki.clone();
            std::thread::spawn(move || {
                for j in 0..25 {
                    let msg = format!("thread {i} message {j}");
                    let sig = s.sign(alg, msg.as_bytes()).unwrap();
                    aws_lc_rs::signature::UnparsedPublicKey::new(
                        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
                        &spki,
                    )
                    .verify(msg.as_bytes(), &sig)
                    .unwrap_or_else(|_| panic!("signature of {msg:?} does not verify"));
                }
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
    assert!(s.pool().open_sessions() <= 4);
    assert!(s.pool().open_sessions() >= 1);
}

#[test]
fn recovers_when_the_module_loses_its_sessions() {
    let Some(t) = softhsm("recover") else { return };
    generate(&t, KeyKind::EcP256, "k");
    let module = Module::load(&t.module).unwrap();
    let uri = hsm::keyref::Pkcs11Uri::parse(&t.uri("object=k")).unwrap();
    let pin = SecretString::from(t.pin.as_str());
    let s = Pkcs11Signer::open(module.clone(), &uri, PinSupply::Given(&pin), 2).unwrap();
    let alg = SignatureAlgorithm::Ecdsa(hsm::HashAlgorithm::Sha256);
    s.sign(alg, b"before").unwrap();
    // An HSM restart as the library sees it: C_Finalize. Every session and the login are gone
    // and the next call reports CKR_CRYPTOKI_NOT_INITIALIZED.
    module.context().clone().finalize().unwrap();
    let sig = s.sign(alg, b"after").unwrap();
    let spki = spki_raw(s.public_key_der());
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
        &spki,
    )
    .verify(b"after", &sig)
    .unwrap();
    assert!(
        format!("{:?}", s.pool()).contains("generation: 1"),
        "{:?}",
        s.pool()
    );
    // Logged out behind our back (another session of the application logs out: every
    // session reports CKR_USER_NOT_LOGGED_IN): the pool logs in again.
    let slot = hsm::pkcs11::cryptoki::slot::Slot::try_from(s.token().slot_id).unwrap();
    let other = module.context().open_ro_session(slot).unwrap();
    other.logout().unwrap();
    drop(other);
    s.sign(alg, b"again").unwrap();
    assert!(
        format!("{:?}", s.pool()).contains("generation: 2"),
        "{:?}",
        s.pool()
    );
}

fn spki_raw(spki_der: &[u8]) -> Vec<u8> {
    use der::Decode;
    spki::SubjectPublicKeyInfoOwned::from_der(spki_der)
        .unwrap()
        .subject_public_key
        .raw_bytes()
        .to_vec()
}

/// The terminal prompt's contract: asked again after a wrong PIN (with `retry` set), at most
/// three times, then a typed error.
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

#[test]
fn prompt_is_asked_again_after_a_wrong_pin() {
    let Some(t) = softhsm("prompt") else { return };
    generate(&t, KeyKind::EcP256, "k");
    // No pin-source in the URI: the prompt is asked.
    let uri = format!(
        "pkcs11:token=prompt;object=k?module-path={}",
        t.module.display()
    );
    let p = Scripted {
        answers: std::sync::Mutex::new(vec!["000000".into(), t.pin.clone()]),
        seen: Default::default(),
    };
    let opts = OpenOptions {
        prompt: &p,
        ..OpenOptions::default()
    };
    hsm::open(&KeyRef::parse(&uri).unwrap(), &opts).unwrap();
    let seen = p.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert!(seen[0].is_token_pin && !seen[0].retry && seen[0].what == "prompt");
    assert!(seen[1].retry);

    let p = Scripted {
        answers: std::sync::Mutex::new(vec!["000000".into(), "000001".into(), "000002".into()]),
        seen: Default::default(),
    };
    let opts = OpenOptions {
        prompt: &p,
        ..OpenOptions::default()
    };
    let e = hsm::open(&KeyRef::parse(&uri).unwrap(), &opts).unwrap_err();
    assert!(matches!(e, Error::WrongPin { .. }), "{e}");
    assert_eq!(p.seen.lock().unwrap().len(), 3);
}

#[test]
fn ed25519_where_the_token_has_it() {
    let Some(t) = softhsm("ed25519") else { return };
    if require_tool("openssl").is_none() {
        return;
    }
    generate(&t, KeyKind::Ed25519, "ed");
    let s = open(&t, "object=ed");
    assert_eq!(s.algorithms(), vec![SignatureAlgorithm::Ed25519]);
    let msg = "Biên bản họp".as_bytes();
    let sig = s.sign(SignatureAlgorithm::Ed25519, msg).unwrap();
    assert_eq!(sig.len(), 64);
    aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::ED25519,
        spki_raw(s.public_key_der()),
    )
    .verify(msg, &sig)
    .unwrap();
    // openssl: pkeyutl -verify -rawin for pure EdDSA.
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    std::fs::write(p("pub.der"), s.public_key_der()).unwrap();
    std::fs::write(p("msg"), msg).unwrap();
    std::fs::write(p("sig"), &sig).unwrap();
    let o = interop_tests::run(
        std::process::Command::new("openssl")
            .current_dir(dir.path())
            .args([
                "pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", "pub.der", "-rawin",
                "-in", "msg", "-sigfile", "sig",
            ]),
    );
    assert!(o.status.success(), "{}", interop_tests::text(&o));
}

#[test]
fn token_gone_after_restart_is_a_typed_error() {
    let Some(t) = softhsm("vanish") else { return };
    generate(&t, KeyKind::EcP256, "k");
    let module = Module::load(&t.module).unwrap();
    let uri = hsm::keyref::Pkcs11Uri::parse(&t.uri("object=k")).unwrap();
    let pin = SecretString::from(t.pin.as_str());
    let s = Pkcs11Signer::open(module.clone(), &uri, PinSupply::Given(&pin), 2).unwrap();
    let alg = SignatureAlgorithm::Ecdsa(hsm::HashAlgorithm::Sha256);
    s.sign(alg, b"before").unwrap();
    // The HSM comes back without the token.
    for e in std::fs::read_dir(t.dir.path().join("tokens")).unwrap() {
        std::fs::remove_dir_all(e.unwrap().path()).unwrap();
    }
    module.context().clone().finalize().unwrap();
    let e = s.sign(alg, b"after").unwrap_err();
    assert!(matches!(e, Error::TokenRemoved { .. }), "{e}");
    assert!(e.to_string().contains("vanish"), "{e}");
}

/// A token whose files go away and come back (SoftHSM2 reads its token directory only at
/// C_Initialize): the signer finds it again without a new process, by initialising the module
/// again; a second token on the same module keeps signing throughout, also while that happens
/// under it from another thread.
#[test]
fn a_token_that_comes_back_is_found_again_and_other_tokens_keep_signing() {
    let Some(t) = softhsm("comes-back") else {
        return;
    };
    let tokens = t.dir.path().join("tokens");
    let first_dir = std::fs::read_dir(&tokens)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    // A second token in the same module, made before this process loads the module.
    let util = require_tool("softhsm2-util").unwrap();
    let conf = std::env::var("SOFTHSM2_CONF").unwrap();
    let o = std::process::Command::new(util)
        .args([
            "--init-token",
            "--free",
            "--label",
            "stays",
            "--so-pin",
            "13572468",
        ])
        .args(["--pin", &t.pin])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    generate(&t, KeyKind::EcP256, "k");
    generate_on(&t, "stays", KeyKind::EcP256, "k");
    let a = open(&t, "object=k");
    let b: Arc<dyn Signer> = hsm::open(
        &KeyRef::parse(
            &t.uri("object=k")
                .replacen("token=comes-back", "token=stays", 1),
        )
        .unwrap(),
        &OpenOptions::default(),
    )
    .unwrap();
    let alg = SignatureAlgorithm::Ecdsa(hsm::HashAlgorithm::Sha256);
    a.sign(alg, b"1").unwrap();
    b.sign(alg, b"1").unwrap();

    // The other token signs in a loop while the first goes and comes back.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let worker = {
        let (b, stop) = (b.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let sig = b.sign(alg, format!("doc {n}").as_bytes());
                assert!(sig.is_ok(), "signature {n} on the other token: {sig:?}");
                n += 1;
            }
            n
        })
    };

    let away = t.dir.path().join("away");
    std::fs::rename(&first_dir, &away).unwrap();
    let e = a.sign(alg, b"2").unwrap_err();
    assert!(
        matches!(e, Error::TokenRemoved { .. } | Error::TokenAbsent { .. }),
        "{e:?}"
    );
    assert!(a.probe().is_err());

    std::fs::rename(&away, &first_dir).unwrap();
    // Found again within the refresh interval (the module starts over at most that often).
    let deadline = std::time::Instant::now()
        + hsm::pkcs11::REFRESH_INTERVAL
        + std::time::Duration::from_secs(5);
    loop {
        if a.probe().is_ok() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the token was not found again"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let sig = a.sign(alg, b"3").unwrap();
    assert!(openssl_verify(
        a.public_key_der(),
        "sha256",
        false,
        b"3",
        &sig
    ));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let n = worker.join().unwrap();
    assert!(n > 0);
    b.sign(alg, b"4").unwrap();
}
