//! Benchmark for the certificate layer (run with `scripts/bench-certs`, release build):
//! 3-certificate chain validation per second on one core, and a 100,000-entry CRL's load time,
//! lookup time and memory — each beside `openssl verify` / `openssl crl` timed in the same run.

use hsm::{HashAlgorithm, SignatureAlgorithm, SoftwareKey};
use pki_core::ca::builder::{build_crl, CrlEntryBuild};
use pki_core::cert::{parse_certificates, Certificate};
use pki_core::crl::{Crl, RevocationReason};
use pki_core::path::{validate, Purpose, ValidationOptions};
use pki_core::trust::CertPool;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/pki")
}

fn load(name: &str) -> Vec<Certificate> {
    let data = std::fs::read(fixtures().join(name)).expect("fixtures");
    parse_certificates(&data).expect("certificate")
}

fn peak_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn time_process(n: usize, mut make: impl FnMut() -> Command) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        let o = make().output().expect("run openssl");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    t.elapsed() / n as u32
}

fn main() {
    let leaf = load("officer-rsa.pem").remove(0);
    let issuing = load("issuing.pem");
    let root = load("root.pem");
    let anchors = CertPool::from_certs(root.clone());
    let inter = CertPool::from_certs(issuing.clone());
    let opts = ValidationOptions::new(time::OffsetDateTime::now_utc(), Purpose::DocumentSigning);

    println!(
        "== 3-certificate chain (RSA-3072 root, RSA-2048 issuing CA, RSA-2048 leaf), one core"
    );
    validate(&leaf, &inter, &anchors, &opts).expect("fixture chain is valid");
    let n = 20_000;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(validate(&leaf, &inter, &anchors, &opts).is_ok());
    }
    let warm = n as f64 / t.elapsed().as_secs_f64();
    println!("pki-core validate (certificates parsed once):  {warm:>9.0} chains/s");
    let ders: Vec<Vec<u8>> = [&leaf, &issuing[0], &root[0]]
        .iter()
        .map(|c| c.der().to_vec())
        .collect();
    let t = Instant::now();
    for _ in 0..n {
        let l = Certificate::from_der(&ders[0]).expect("leaf");
        let i = CertPool::from_certs([Certificate::from_der(&ders[1]).expect("issuing")]);
        let r = CertPool::from_certs([Certificate::from_der(&ders[2]).expect("root")]);
        std::hint::black_box(validate(&l, &i, &r, &opts).is_ok());
    }
    let cold = n as f64 / t.elapsed().as_secs_f64();
    println!("pki-core parse + validate (from DER each time): {cold:>9.0} chains/s");
    let f = fixtures();
    let per = time_process(20, || {
        let mut c = Command::new("openssl");
        c.arg("verify")
            .arg("-CAfile")
            .arg(f.join("root.pem"))
            .arg("-untrusted")
            .arg(f.join("issuing.pem"))
            .arg(f.join("officer-rsa.pem"));
        c
    });
    println!(
        "openssl verify (one process per chain):        {:>9.0} chains/s ({:.1} ms each)",
        1.0 / per.as_secs_f64(),
        per.as_secs_f64() * 1e3
    );
    println!(
        "target >= 10,000 chains/s (validation, two signature checks each): {}; parse+validate is {:.0}x openssl verify",
        if warm >= 10_000.0 { "met" } else { "NOT met" },
        cold * per.as_secs_f64()
    );

    println!("\n== CRL with 100,000 entries");
    let key_pem = std::fs::read_to_string(fixtures().join("issuing/ca.key")).expect("ca key");
    let key = SoftwareKey::from_pem(&key_pem, "issuing CA key").expect("key");
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .expect("time");
    let entries: Vec<CrlEntryBuild> = (0u64..100_000)
        .map(|i| CrlEntryBuild {
            serial: (0x1000_0000_0000_0000u64 + i * 7919).to_be_bytes().to_vec(),
            revoked_at: now,
            reason: Some(RevocationReason::KeyCompromise),
        })
        .collect();
    let der = build_crl(
        &issuing[0],
        &key,
        SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha256),
        now,
        Some(now + time::Duration::days(7)),
        1,
        &entries,
    )
    .expect("crl");
    let dir = std::env::temp_dir().join(format!("pki-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let crl_path = dir.join("big.crl");
    std::fs::write(&crl_path, &der).expect("write");
    println!("CRL size: {:.1} MB", der.len() as f64 / 1e6);
    drop(entries);
    let mut loads = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let bytes = std::fs::read(&crl_path).expect("read");
        let crl = Crl::parse(&bytes).expect("parse");
        loads.push(t.elapsed());
        std::hint::black_box(crl.len());
    }
    loads.sort();
    println!(
        "pki-core load (read + parse + index):       {:>8.1} ms (median of 5)",
        loads[2].as_secs_f64() * 1e3
    );
    let crl = Crl::parse(&std::fs::read(&crl_path).expect("read")).expect("parse");
    let t = Instant::now();
    crl.verify_issuer(&issuing[0], &Default::default())
        .expect("signature");
    println!(
        "pki-core signature check:                   {:>8.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let lookups = 2_000_000u64;
    let t = Instant::now();
    let mut hits = 0;
    for i in 0..lookups {
        let s = (0x1000_0000_0000_0000u64 + (i % 200_000) * 7919 / 2 * 2).to_be_bytes();
        hits += crl.contains(&s) as u32;
    }
    let ns = t.elapsed().as_nanos() as f64 / lookups as f64;
    println!("pki-core lookup:                            {ns:>8.0} ns ({hits} hits of {lookups})");
    let mem = crl.heap_size() as f64;
    println!(
        "pki-core memory held (DER + index):         {:>8.1} MB = {:.2}x the CRL",
        mem / 1e6,
        mem / der.len() as f64
    );
    println!(
        "process peak RSS so far (includes building the CRL): {:.0} MB",
        peak_kb() as f64 / 1024.0
    );
    let per = time_process(5, || {
        let mut c = Command::new("openssl");
        c.args(["crl", "-inform", "DER", "-noout", "-in"])
            .arg(&crl_path);
        c
    });
    println!(
        "openssl crl -noout (parse):                 {:>8.1} ms per process",
        per.as_secs_f64() * 1e3
    );
    let per_v = time_process(5, || {
        let mut c = Command::new("openssl");
        c.args(["crl", "-inform", "DER", "-noout", "-in"])
            .arg(&crl_path)
            .arg("-CAfile")
            .arg(fixtures().join("issuing.pem"));
        c
    });
    println!(
        "openssl crl -noout -CAfile (parse + verify):{:>8.1} ms per process",
        per_v.as_secs_f64() * 1e3
    );
    println!(
        "targets: load < 100 ms {}, lookup < 1 us {}, memory < 3x {}",
        if loads[2] < Duration::from_millis(100) {
            "met"
        } else {
            "NOT met"
        },
        if ns < 1000.0 { "met" } else { "NOT met" },
        if mem < 3.0 * der.len() as f64 {
            "met"
        } else {
            "NOT met"
        },
    );
    let _ = std::fs::remove_dir_all(&dir);
}
