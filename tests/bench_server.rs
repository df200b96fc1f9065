//! `scripts/bench-server`: the signing service under load, each figure beside a reference
//! measured in the same run.
//!
//! 1. Batch throughput: 1,000 one-page PDFs through `POST /v1/batches`, software RSA-2048 key and
//!    a SoftHSM2 RSA-2048 key, against the raw signing rate of the same key (the same `hsm`
//!    signer, two threads, signing 32-byte-ish messages in a loop); and, less sensitive to
//!    other work on the machine, the server's CPU time per document against the raw loop's CPU
//!    time per signature.
//! 2. `POST /v1/sign` latency with 50 concurrent clients on loopback (closed loop), against the
//!    in-process `pades::sign_pdf` time of the same document and Little's-law floor
//!    (clients / throughput); then the same clients in an open loop offering half that
//!    throughput, latency counted from each request's scheduled time.
//! 3. Peak RSS of the server while a 10,000-document batch is queued and signed, against its
//!    RSS when idle.
#![expect(clippy::unwrap_used, reason = "benchmark program")]
#![expect(clippy::print_stdout, reason = "benchmark program")]

use interop_tests::fixtures;
use interop_tests::pkcs11::{issue_on_token, softhsm};
use interop_tests::server::{
    multipart, pdf, request, wait_batch, write_config, Server, SIGNER_KEY,
};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn seconds() -> Duration {
    Duration::from_secs(
        std::env::var("BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(3),
    )
}

fn open(
    keyref: &str,
    chain_pem: &std::path::Path,
) -> (Arc<dyn hsm::Signer>, Vec<pki_core::cert::Certificate>) {
    let given = pki_core::cert::parse_certificates(&std::fs::read(chain_pem).unwrap()).unwrap();
    pki_core::signing::open_with_chain(
        &hsm::KeyRef::parse(keyref).unwrap(),
        &given,
        hsm::OpenOptions::default(),
    )
    .unwrap()
}

/// CPU seconds (user + system) used so far by process `pid` (`/proc/PID/stat`, clock ticks of
/// 1/100 s, the Linux `USER_HZ`). On a machine shared with other work, CPU time per document is
/// what the load does not change much; wall-clock rates fall with the cores others take.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at its closing parenthesis.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

/// Raw signing: signatures per second with `threads` threads, and CPU seconds per signature.
struct Raw {
    rate: f64,
    cpu_per_sig: f64,
}

/// Signatures per second of `signer` with `threads` threads, and the CPU per signature.
fn raw_signing(signer: &Arc<dyn hsm::Signer>, threads: usize) -> Raw {
    let cpu0 = cpu_secs(std::process::id());
    let alg = pki_core::pades::pick_algorithm(signer.as_ref(), hsm::HashAlgorithm::Sha256, false)
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let hs: Vec<_> = (0..threads)
        .map(|t| {
            let (s, stop, count) = (signer.clone(), stop.clone(), count.clone());
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let msg = format!("thread {t} document {i}");
                    s.sign(alg, msg.as_bytes()).unwrap();
                    i += 1;
                }
                count.fetch_add(i, Ordering::Relaxed);
            })
        })
        .collect();
    std::thread::sleep(seconds());
    stop.store(true, Ordering::Relaxed);
    for h in hs {
        h.join().unwrap();
    }
    let n = count.load(Ordering::Relaxed) as f64;
    Raw {
        rate: n / start.elapsed().as_secs_f64(),
        cpu_per_sig: (cpu_secs(std::process::id()) - cpu0) / n.max(1.0),
    }
}

/// Seconds the server spent making batch uploads durable so far (`/metrics`).
fn upload_sync_seconds(s: &Server) -> f64 {
    let m = String::from_utf8(s.get("/metrics", None).unwrap().body).unwrap();
    m.lines()
        .find_map(|l| l.strip_prefix("sign_server_batch_upload_sync_seconds_sum "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// What accepting a batch cost: the upload's size, its time to 202, and the part of that
/// spent on syncfs + directory fsync.
struct Upload {
    bytes: usize,
    accepted: Duration,
    synced: f64,
    /// The server's CPU seconds from the upload's start to the last signature.
    cpu: f64,
}

/// Documents per second of one batch of `n`, from the upload's start to the last signature.
fn batch_rate(s: &Server, n: usize, key: &str) -> f64 {
    batch_rate_upload(s, n, key).0
}

fn batch_rate_upload(s: &Server, n: usize, key: &str) -> (f64, Upload) {
    let files: Vec<(String, Vec<u8>)> = (0..n).map(|i| (format!("{i}.pdf"), pdf(i))).collect();
    let (ct, body) = multipart(&files);
    let sync_before = upload_sync_seconds(s);
    let cpu0 = cpu_secs(s.pid());
    let start = Instant::now();
    let r = request(
        &s.base,
        "POST",
        &format!("/v1/batches?key={key}"),
        Some(SIGNER_KEY),
        &[("content-type", &ct)],
        &body,
    )
    .unwrap();
    let accepted = start.elapsed();
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let id = r.json()["id"].as_str().unwrap().to_owned();
    let v = wait_batch(s, &id, Duration::from_secs(3600));
    let t = start.elapsed().as_secs_f64();
    let cpu = cpu_secs(s.pid()) - cpu0;
    assert_eq!(v["done"].as_u64(), Some(n as u64), "{v}");
    let upload = Upload {
        bytes: body.len(),
        accepted,
        synced: upload_sync_seconds(s) - sync_before,
        cpu,
    };
    (n as f64 / t, upload)
}

/// `clients` threads; client `c` sends its `i`-th request at `start + (i * clients + c) / rate`
/// (or at once if it is already late) and records the time from that scheduled instant to the
/// answer, in milliseconds, sorted.
fn open_loop(base: &str, doc: &[u8], clients: usize, rate: f64, run: Duration) -> Vec<f64> {
    let lat = Arc::new(std::sync::Mutex::new(Vec::new()));
    let start = Instant::now() + Duration::from_millis(50);
    let hs: Vec<_> = (0..clients)
        .map(|c| {
            let (lat, base, doc) = (lat.clone(), base.to_owned(), doc.to_vec());
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                for i in 0.. {
                    let at = start + Duration::from_secs_f64((i * clients + c) as f64 / rate);
                    if at > start + run {
                        break;
                    }
                    if let Some(wait) = at.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let r = request(
                        &base,
                        "POST",
                        "/v1/sign?key=officer",
                        Some(SIGNER_KEY),
                        &[("content-type", "application/pdf")],
                        &doc,
                    )
                    .unwrap();
                    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                    mine.push(at.elapsed().as_secs_f64() * 1000.0);
                }
                lat.lock().unwrap().extend(mine);
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let mut lat = lat.lock().unwrap().clone();
    lat.sort_by(f64::total_cmp);
    lat
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "sign-server benchmark ({} cores; load average before: {})",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let pki = fixtures().join("pki");

    // --- software key
    let (sw, chain) = open(
        &format!("file:{}", pki.join("officer-rsa.key.pem").display()),
        &pki.join("officer-rsa.chain.pem"),
    );
    let Raw {
        rate: raw,
        cpu_per_sig,
    } = raw_signing(&sw, threads);
    let cfg = write_config(
        dir.path(),
        None,
        None,
        "max_in_flight = 256\nworker_claim = 128",
    );
    let s = Server::start(&cfg, "bench-sw");
    let (rate, up) = batch_rate_upload(&s, 1000, "officer");
    println!("\n1. batch of 1,000 one-page PDFs, software RSA-2048 key");
    println!("   raw signing rate of the key ({threads} threads): {raw:8.0} signatures/s");
    println!("   batch throughput:                    {rate:8.0} documents/s  ({:.0}% of raw; target 70%)", 100.0 * rate / raw);
    println!(
        "   upload of {:.1} MB answered 202 in {:.1} ms, of which {:.1} ms making the inputs durable ({:.0}%)",
        up.bytes as f64 / 1e6,
        up.accepted.as_secs_f64() * 1000.0,
        up.synced * 1000.0,
        100.0 * up.synced / up.accepted.as_secs_f64()
    );
    cpu_line(up.cpu / 1000.0, cpu_per_sig);

    // --- latency
    let doc = pdf(424242);
    let input = dir.path().join("in.pdf");
    std::fs::write(&input, &doc).unwrap();
    let mut inproc = Vec::new();
    let o = pki_core::pades::PadesOptions::new(time::OffsetDateTime::now_utc());
    for i in 0..200 {
        let out = dir.path().join(format!("o{}.pdf", i % 2));
        let t = Instant::now();
        pki_core::pades::sign_pdf(&input, &out, sw.as_ref(), &chain, &o, None).unwrap();
        inproc.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    inproc.sort_by(f64::total_cmp);
    let clients = 50;
    let per_client = 40;
    let lat = Arc::new(std::sync::Mutex::new(Vec::new()));
    let base = s.base.clone();
    let start = Instant::now();
    let hs: Vec<_> = (0..clients)
        .map(|_| {
            let (lat, base, doc) = (lat.clone(), base.clone(), doc.clone());
            std::thread::spawn(move || {
                let mut mine = Vec::with_capacity(per_client);
                for _ in 0..per_client {
                    let t = Instant::now();
                    let r = request(
                        &base,
                        "POST",
                        "/v1/sign?key=officer",
                        Some(SIGNER_KEY),
                        &[("content-type", "application/pdf")],
                        &doc,
                    )
                    .unwrap();
                    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
                    mine.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                lat.lock().unwrap().extend(mine);
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let wall = start.elapsed().as_secs_f64();
    let mut lat = lat.lock().unwrap().clone();
    lat.sort_by(f64::total_cmp);
    let thr = lat.len() as f64 / wall;
    println!("\n2. POST /v1/sign, one-page PDF, software key, {clients} concurrent clients on loopback ({} requests)", lat.len());
    println!(
        "   in-process pades::sign_pdf (1 thread):  p50 {:6.2} ms  p99 {:6.2} ms",
        percentile(&inproc, 0.5),
        percentile(&inproc, 0.99)
    );
    println!("   over HTTP, {clients} clients:            p50 {:6.2} ms  p99 {:6.2} ms  max {:6.2} ms  ({thr:.0} requests/s; target p99 < 20 ms)", percentile(&lat, 0.5), percentile(&lat, 0.99), lat[lat.len() - 1]);
    println!(
        "   Little's-law floor at this throughput: {:6.2} ms mean ({clients} / {thr:.0} per s)",
        1000.0 * clients as f64 / thr
    );

    // --- latency at a bounded offered load (open loop): the same 50 clients, each sending on a
    // fixed schedule so that together they offer half the saturated throughput above. Latency
    // counts from the scheduled send time, so a late request is charged for its wait
    // (no coordinated omission).
    let offered = (thr / 2.0).max(1.0);
    let paced = open_loop(&base, &doc, clients, offered, seconds() * 2);
    println!(
        "   open loop, {clients} clients offering {offered:.0} requests/s together: p50 {:6.2} ms  p99 {:6.2} ms  max {:6.2} ms  ({} requests)",
        percentile(&paced, 0.5),
        percentile(&paced, 0.99),
        paced[paced.len() - 1],
        paced.len()
    );

    // --- memory with 10,000 documents in flight
    let idle = rss_kb(s.pid());
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(idle));
    let sampler = {
        let (stop, peak, pid) = (stop.clone(), peak.clone(), s.pid());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kb(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let big = batch_rate(&s, 10_000, "officer");
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    println!("\n3. a 10,000-document batch in flight (upload, queue, signing)");
    println!("   server RSS idle: {:6.1} MB; peak during the batch: {:6.1} MB (target < 200 MB); {big:.0} documents/s", idle as f64 / 1024.0, peak.load(Ordering::Relaxed) as f64 / 1024.0);
    drop(s);

    // --- SoftHSM2 key
    let Some(t) = softhsm("bench") else {
        println!("\nSoftHSM2 is not installed: no SoftHSM figure");
        return;
    };
    issue_on_token(
        &t,
        "rsa2048",
        "k",
        "CN=Văn thư,O=Sở Tư pháp,C=VN",
        "personal",
    );
    let chain_pem = t.dir.path().join("k.chain.pem");
    let uri = t.uri("object=k");
    let (hsm_signer, _) = open(&uri, &chain_pem);
    let Raw {
        rate: raw,
        cpu_per_sig,
    } = raw_signing(&hsm_signer, threads);
    drop(hsm_signer);
    let d2 = dir.path().join("softhsm");
    std::fs::create_dir_all(&d2).unwrap();
    let cfg = write_config(&d2, None, None, "worker_claim = 128");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let officer_key = format!(
        "keyref = \"file:{}\"",
        pki.join("officer-rsa.key.pem").display()
    );
    let officer_chain = format!("cert = \"{}\"", pki.join("officer-rsa.chain.pem").display());
    let text = text
        .replace(
            &officer_key,
            &format!("keyref = \"{uri}\"\npool_size = {threads}"),
        )
        .replace(
            &officer_chain,
            &format!("cert = \"{}\"", chain_pem.display()),
        );
    std::fs::write(&cfg, text).unwrap();
    let s = Server::start(&cfg, "bench-hsm");
    let (rate, up) = batch_rate_upload(&s, 1000, "officer");
    println!("\n4. batch of 1,000 one-page PDFs, SoftHSM2 RSA-2048 key");
    println!("   raw signing rate of the key ({threads} threads): {raw:8.0} signatures/s");
    println!("   batch throughput:                    {rate:8.0} documents/s  ({:.0}% of raw; target 70%)", 100.0 * rate / raw);
    cpu_line(up.cpu / 1000.0, cpu_per_sig);
}

/// The server's CPU per batch document beside the raw loop's CPU per signature (both include
/// SoftHSM2's work for its key, which runs in the calling process).
fn cpu_line(per_doc: f64, per_sig: f64) {
    println!(
        "   CPU per document (server, upload to last signature): {:.3} ms; raw loop per signature: {:.3} ms; CPU-bound ratio {:.0}% (target 70%)",
        per_doc * 1000.0,
        per_sig * 1000.0,
        100.0 * per_sig / per_doc
    );
}
