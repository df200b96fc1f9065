//! In-process PDF verification time (driven by `scripts/bench-pdf-verify`, which compares it
//! with pyHanko's in-process validation of the same file).
//!
//! ```sh
//! bench_pdf_verify FILE.pdf ROOT.pem RUNS   # prints the median milliseconds of RUNS runs
//! ```
//!
//! Offline (no revocation fetching), trusting ROOT; every signature must pass.

use pki_core::report::Indication;
use std::path::Path;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, file, root, runs] = args.as_slice() else {
        return Err("usage: bench_pdf_verify FILE.pdf ROOT.pem RUNS".into());
    };
    let runs: usize = runs.parse()?;
    let anchors = pki_core::trust::CertPool::from_certs(pki_core::cert::parse_certificates(
        &std::fs::read(root)?,
    )?);
    let inter = pki_core::trust::CertPool::new();
    let policy = pki_core::crypto::AlgorithmPolicy::default();
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let opts = pki_core::pades::VerifyOptions {
            time: time::OffsetDateTime::now_utc(),
            anchors: &anchors,
            intermediates: &inter,
            policy: &policy,
            fetcher: None,
        };
        let t = Instant::now();
        let rep = pki_core::pades::verify_pdf(Path::new(file), &opts)?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        if rep.indication != Indication::TotalPassed {
            return Err(format!("not valid: {}", rep.to_json()).into());
        }
    }
    times.sort_by(f64::total_cmp);
    println!("{:.2}", times[times.len() / 2]);
    Ok(())
}
