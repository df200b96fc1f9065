//! Parsers never panic on damaged input: every truncation and many byte flips of real
//! certificates, CRLs and names give a `Result`, and a changed certificate never verifies.

use pki_core::cert::{parse_certificates, Certificate};
use pki_core::crl::Crl;

fn fixture(name: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/pki")
        .join(name);
    std::fs::read(p).expect("fixture")
}

fn der_of(pem_file: &str) -> Vec<u8> {
    let pem = fixture(pem_file);
    hsm::pem::pem_blocks(&String::from_utf8_lossy(&pem))
        .into_iter()
        .next()
        .expect("a PEM block")
        .1
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn certificates_survive_truncation_and_bit_flips() {
    let der = der_of("officer-rsa.pem");
    let issuer = Certificate::from_der(&der_of("issuing.pem")).expect("issuer");
    for n in 0..der.len() {
        let _ = Certificate::from_der(&der[..n]);
        let _ = parse_certificates(&der[..n]);
    }
    let mut rng = Rng(0x9e3779b97f4a7c15);
    let mut verified_changed = 0;
    for _ in 0..3000 {
        let mut d = der.clone();
        for _ in 0..1 + rng.next() % 3 {
            let i = (rng.next() as usize) % d.len();
            d[i] ^= 1 << (rng.next() % 8);
        }
        if let Ok(c) = Certificate::from_der(&d) {
            let _ = c.subject().to_string();
            let _ = c.extensions();
            if d != der
                && issuer
                    .verify_signed(
                        c.signature_algorithm(),
                        c.tbs(),
                        c.signature(),
                        &Default::default(),
                    )
                    .is_ok()
            {
                let diffs: Vec<usize> = (0..d.len()).filter(|i| d[*i] != der[*i]).collect();
                eprintln!("a certificate changed at bytes {diffs:?} still verified");
                verified_changed += 1;
            }
        }
    }
    assert_eq!(verified_changed, 0, "a modified certificate verified");
}

#[test]
fn crls_survive_truncation_and_bit_flips() {
    let der = der_of("issuing.crl.pem");
    for n in 0..der.len() {
        let _ = Crl::parse(&der[..n]);
    }
    let mut rng = Rng(42);
    for _ in 0..3000 {
        let mut d = der.clone();
        let i = (rng.next() as usize) % d.len();
        d[i] = rng.next() as u8;
        if let Ok(c) = Crl::parse(&d) {
            let _ = c.entries().count();
            let _ = c.lookup(&[1, 2, 3]);
        }
    }
}
