//! What TLS in the process costs `sign-server` per request (decision 0039), beside plain HTTP
//! measured in the same run on the same machine.
//!
//! ```sh
//! cargo build --release -p sign-server
//! SIGN_SERVER_BIN=target/release/sign-server \
//!     cargo run --release -p interop-tests --example bench_tls [REQUESTS]
//! ```
//!
//! Two servers on 127.0.0.1 with the same configuration, one plain and one with `[tls]`
//! (server key RSA-2048, then ECDSA P-256; certificates made with the openssl command line).
//! A client (rustls, ring) sends `GET /v1/keys` with an API key, (a) one request per new
//! connection with a full TLS 1.3 handshake each (no resumption), (b) the same with session
//! resumption (what curl and most HTTP clients do), and (c) all requests over one kept-alive
//! connection. Printed per mode: median and p99 wall time per request, and the server
//! process's CPU time per request (utime + stime from /proc/PID/stat, which the other builds
//! on a shared machine disturb less than wall time). Plain and TLS runs alternate, two rounds.
#![expect(clippy::unwrap_used, reason = "benchmark code")]

use interop_tests::server::{write_config, Server, SIGNER_KEY};
use rustls::pki_types::pem::PemObject;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A server CA and a server certificate for 127.0.0.1 with a key of `alg` (`rsa:2048` or
/// `ec`), in `dir`.
fn certificates(dir: &Path, alg: &str) {
    let keyopt: &[&str] = if alg == "ec" {
        &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    } else {
        &["-newkey", alg]
    };
    let mut args = vec!["req", "-x509", "-nodes", "-days", "30"];
    args.extend(keyopt);
    args.extend([
        "-keyout",
        "ca.key",
        "-subj",
        "/CN=Bench CA",
        "-out",
        "ca.pem",
    ]);
    openssl(dir, &args);
    let mut args = vec!["req", "-new", "-nodes"];
    args.extend(keyopt);
    args.extend([
        "-keyout",
        "server.key",
        "-subj",
        "/CN=127.0.0.1",
        "-out",
        "server.csr",
    ]);
    openssl(dir, &args);
    std::fs::write(
        dir.join("ext"),
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "7",
            "-days",
            "30",
            "-extfile",
            "ext",
            "-out",
            "server.pem",
        ],
    );
}

enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(b),
            Conn::Tls(s) => s.read(b),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(b),
            Conn::Tls(s) => s.write(b),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

fn connect(addr: &str, tls: Option<&Arc<rustls::ClientConfig>>) -> Conn {
    let s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    match tls {
        None => Conn::Plain(s),
        Some(cfg) => {
            let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
            let c = rustls::ClientConnection::new(cfg.clone(), name).unwrap();
            Conn::Tls(Box::new(rustls::StreamOwned::new(c, s)))
        }
    }
}

/// One `GET /v1/keys`; reads the whole answer (Content-Length).
fn request(r: &mut BufReader<Conn>, close: bool) {
    let head = format!(
        "GET /v1/keys HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {SIGNER_KEY}\r\n{}\r\n",
        if close { "Connection: close\r\n" } else { "" }
    );
    r.get_mut().write_all(head.as_bytes()).unwrap();
    r.get_mut().flush().unwrap();
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let mut len = 0usize;
    loop {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        if l == "\r\n" {
            break;
        }
        if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).unwrap();
}

/// utime + stime of `pid`, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    // Linux reports these in USER_HZ, 100 on every architecture Debian ships.
    ticks / 100.0
}

struct Figures {
    p50_ms: f64,
    p99_ms: f64,
    cpu_us: f64,
}

fn run(s: &Server, n: usize, tls: Option<&Arc<rustls::ClientConfig>>, keep_alive: bool) -> Figures {
    let addr = s.base.split("://").nth(1).unwrap().to_owned();
    let mut times = Vec::with_capacity(n);
    let cpu0 = cpu_seconds(s.pid());
    if keep_alive {
        let mut r = BufReader::new(connect(&addr, tls));
        request(&mut r, false); // the handshake, not counted
        let cpu0 = cpu_seconds(s.pid());
        for _ in 0..n {
            let t = Instant::now();
            request(&mut r, false);
            times.push(t.elapsed());
        }
        return figures(times, cpu_seconds(s.pid()) - cpu0, n);
    }
    for _ in 0..n {
        let t = Instant::now();
        let mut r = BufReader::new(connect(&addr, tls));
        request(&mut r, true);
        times.push(t.elapsed());
    }
    figures(times, cpu_seconds(s.pid()) - cpu0, n)
}

fn figures(mut times: Vec<Duration>, cpu: f64, n: usize) -> Figures {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    Figures {
        p50_ms: at(0.5).as_secs_f64() * 1e3,
        p99_ms: at(0.99).as_secs_f64() * 1e3,
        cpu_us: cpu * 1e6 / n as f64,
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(2000);
    let dir = tempfile::tempdir().unwrap();
    let plain_dir = dir.path().join("plain");
    std::fs::create_dir_all(&plain_dir).unwrap();
    let plain = Server::start(&write_config(&plain_dir, None, None, ""), "bench-plain");
    println!(
        "sign-server {} requests of GET /v1/keys per row, 127.0.0.1, {} cores",
        n,
        std::thread::available_parallelism().map_or(0, |p| p.get())
    );
    println!(
        "{:<42} {:>9} {:>9} {:>16}",
        "mode", "p50 ms", "p99 ms", "server CPU/req"
    );
    for (alg, label) in [("rsa:2048", "RSA-2048"), ("ec", "ECDSA P-256")] {
        let cdir = dir.path().join(alg.replace(':', "-"));
        std::fs::create_dir_all(&cdir).unwrap();
        certificates(&cdir, alg);
        let cfg = write_config(&cdir, None, None, "");
        let mut text = std::fs::read_to_string(&cfg).unwrap();
        text.push_str(&format!(
            "\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
            cdir.join("server.pem").display(),
            cdir.join("server.key").display()
        ));
        std::fs::write(&cfg, text).unwrap();
        let ca = cdir.join("ca.pem").display().to_string();
        let tls_server = Server::start_tls(&cfg, "bench-tls", &["--cacert", &ca]);
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls::pki_types::CertificateDer::pem_file_iter(&ca).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        let resumed = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let mut full = resumed.clone();
        full.resumption = rustls::client::Resumption::disabled();
        let (resumed, full) = (Arc::new(resumed), Arc::new(full));
        for round in 1..=2 {
            for (mode, keep_alive, client) in [
                ("new conn., full handshake", false, &full),
                ("new conn., resumed", false, &resumed),
                ("kept-alive connection", true, &resumed),
            ] {
                let p = run(&plain, n, None, keep_alive);
                let t = run(&tls_server, n, Some(client), keep_alive);
                let plain_mode = if keep_alive {
                    "kept-alive connection"
                } else {
                    "new connection"
                };
                for (name, f) in [
                    (format!("plain HTTP, {plain_mode}"), p),
                    (format!("TLS {label}, {mode}"), t),
                ] {
                    println!(
                        "{:<42} {:>9.3} {:>9.3} {:>13.0} us   (round {round})",
                        name, f.p50_ms, f.p99_ms, f.cpu_us
                    );
                }
            }
        }
    }
}
