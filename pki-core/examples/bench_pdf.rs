//! Timing and peak memory of PDF signature preparation on big files (driven by
//! `scripts/bench-pdf`, which compares with `sha256sum` on the same file).
//!
//! ```sh
//! bench_pdf generate /tmp/big.pdf 500000000   # a 2-page PDF padded with one large stream
//! bench_pdf sign /tmp/big.pdf /tmp/big-signed.pdf
//! bench_pdf one-page-files DIR 1000           # DIR/doc-0001.pdf ... one-page documents
//! bench_pdf rsa-speed KEY.pem SECONDS THREADS  # raw signatures/s of the key, as `pki` signs
//! ```
//!
//! `rsa-speed` signs a 32-byte message with `hsm::SoftwareKey` (aws-lc-rs, the path `pki sign`
//! takes) on THREADS threads for SECONDS and prints `signatures_per_cpu_second
//! signatures_per_wall_second`, the figures `openssl speed [-elapsed] rsa2048` gives.
//!
//! `sign` prints `prepare_s finish_s total_s peak_rss_kib` on one line. The CMS written is a
//! dummy of 4 KiB: only the PDF work is measured.

use pki_core::pdf::sign::{self, SignatureOptions};
use std::io::Write;
use std::path::Path;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("generate") if args.len() == 4 => generate(Path::new(&args[2]), args[3].parse()?),
        Some("sign") if args.len() == 4 => {
            let t0 = Instant::now();
            let p = sign::prepare(
                Path::new(&args[2]),
                Path::new(&args[3]),
                &SignatureOptions::pades(16 << 10),
            )?;
            let t1 = Instant::now();
            sign::finish(&p, &[0x30; 4096])?;
            let t2 = Instant::now();
            println!(
                "{:.3} {:.3} {:.3} {}",
                (t1 - t0).as_secs_f64(),
                (t2 - t1).as_secs_f64(),
                (t2 - t0).as_secs_f64(),
                peak_rss_kib().unwrap_or(0)
            );
            Ok(())
        }
        Some("one-page-files") if args.len() == 4 => {
            let dir = Path::new(&args[2]);
            std::fs::create_dir_all(dir)?;
            for i in 1..=args[3].parse::<u32>()? {
                let text = format!("Cong van so {i}/UBND-VP");
                std::fs::write(
                    dir.join(format!("doc-{i:05}.pdf")),
                    pki_core::pdf::sample::one_page(&[text.as_str()]),
                )?;
            }
            Ok(())
        }
        Some("rsa-speed") if args.len() == 5 => {
            rsa_speed(Path::new(&args[2]), args[3].parse()?, args[4].parse()?)
        }
        _ => Err(
            "usage: bench_pdf generate OUT BYTES | bench_pdf sign IN OUT | bench_pdf one-page-files DIR N | bench_pdf rsa-speed KEY SECONDS THREADS"
                .into(),
        ),
    }
}

/// Raw signing rate of a software key through `hsm::Signer::sign` (per CPU second and per wall
/// second, over all threads).
fn rsa_speed(key: &Path, seconds: f64, threads: usize) -> Result<(), Box<dyn std::error::Error>> {
    use hsm::Signer;
    let k = hsm::SoftwareKey::from_pem(&std::fs::read_to_string(key)?, "key")?;
    let alg = hsm::SignatureAlgorithm::RsaPkcs1(hsm::HashAlgorithm::Sha256);
    let cpu0 = cpu_seconds().unwrap_or(0.0);
    let t0 = Instant::now();
    let total: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut n = 0u64;
                    while t0.elapsed().as_secs_f64() < seconds {
                        if k.sign(alg, &[7u8; 32]).is_ok() {
                            n += 1;
                        }
                    }
                    n
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    });
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds().unwrap_or(0.0) - cpu0;
    println!("{:.0} {:.0}", total as f64 / cpu, total as f64 / wall);
    Ok(())
}

/// User + system CPU seconds of this process so far (/proc/self/stat, in clock ticks of 1/100 s).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// The process's peak resident set (VmHWM), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A PDF of about `size` bytes: the padding stream comes first, so the reader has to seek past
/// it to the catalog and pages.
fn generate(path: &Path, size: u64) -> Result<(), Box<dyn std::error::Error>> {
    let mut f = Counting {
        inner: std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?),
        at: 0,
    };
    let mut offs = Vec::new();
    f.write_all(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")?;
    let pad = size.saturating_sub(1000);
    offs.push(f.at);
    f.write_all(format!("1 0 obj\n<</Length {pad}>>\nstream\n").as_bytes())?;
    let chunk: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut left = pad;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n])?;
        left -= n as u64;
    }
    f.write_all(b"\nendstream\nendobj\n")?;
    let objs = [
        "<</Type/Catalog/Pages 3 0 R>>",
        "<</Type/Pages/Kids[4 0 R]/Count 1>>",
        "<</Type/Page/Parent 3 0 R/MediaBox[0 0 595 842]/Contents 5 0 R>>",
        "<</Length 20>>\nstream\nBT /F1 1 Tf ET q Q\nendstream",
    ];
    for (i, o) in objs.iter().enumerate() {
        offs.push(f.at);
        f.write_all(format!("{} 0 obj\n{o}\nendobj\n", i + 2).as_bytes())?;
    }
    let x = f.at;
    f.write_all(b"xref\n0 6\n0000000000 65535 f\r\n")?;
    for o in offs {
        f.write_all(format!("{o:010} 00000 n\r\n").as_bytes())?;
    }
    f.write_all(format!("trailer\n<</Size 6/Root 2 0 R>>\nstartxref\n{x}\n%%EOF\n").as_bytes())?;
    f.flush()?;
    Ok(())
}

/// A writer that counts what it writes (the offsets of the objects).
struct Counting<W> {
    inner: W,
    at: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.at += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
