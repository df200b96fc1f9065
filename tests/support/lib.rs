//! Helpers shared by the interop tests: finding peer tools, running `pki`, temporary dirs.
//!
//! A test that needs an external tool calls [`require_tool`]. Under `CI=true` a missing tool is
//! a failure (the test command installs every peer); locally the test is skipped with a loud
//! message on stderr.

pub mod csc_server;
pub mod httpd;
pub mod mssp_server;
pub mod pdf;
pub mod pkcs11;
pub mod remote;
pub mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Whether we run under CI (`CI=true`), where every peer tool must be present.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Finds `tool` on PATH (or in the project's Python venv). Returns `None` (after printing a loud
/// SKIP line) when it is missing locally; panics under CI.
pub fn require_tool(tool: &str) -> Option<PathBuf> {
    if let Some(p) = find_tool(tool) {
        return Some(p);
    }
    if in_ci() {
        panic!("required peer tool `{tool}` is missing; scripts/test installs it on CI");
    }
    eprintln!("\n*** SKIP: `{tool}` is not installed; run scripts/install-test-deps to run this test ***\n");
    None
}

/// Finds a file that a Debian package installs (a PKCS#11 module, say); same rules as
/// [`require_tool`].
pub fn require_file(path: &str) -> Option<PathBuf> {
    let p = PathBuf::from(path);
    if p.exists() {
        return Some(p);
    }
    if in_ci() {
        panic!("required file `{path}` is missing; scripts/test installs it on CI");
    }
    eprintln!("\n*** SKIP: `{path}` is not installed; run scripts/install-test-deps to run this test ***\n");
    None
}

/// Looks `tool` up on PATH and in `<workspace>/.venv/bin`.
pub fn find_tool(tool: &str) -> Option<PathBuf> {
    let venv = workspace_root().join(".venv/bin").join(tool);
    if venv.is_file() {
        return Some(venv);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// The workspace root (parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// The `fixtures/` directory.
pub fn fixtures() -> PathBuf {
    workspace_root().join("fixtures")
}

/// The `pki` binary built for this test run. Tests that use it declare
/// `pki-cli` as a dev-dependency so cargo builds it; we find it beside the test executable.
pub fn pki_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PKI_BIN") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/<test> -> target/<profile>/pki
    let exe = std::env::current_exe().unwrap_or_default();
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join("pki")
}

/// Runs `pki` with `args`, returning its output.
pub fn pki(args: &[&str]) -> Output {
    Command::new(pki_bin())
        .args(args)
        .env("LANG", "C")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", pki_bin().display()))
}

/// Runs a command and returns its output, panicking with the command line if it cannot start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// stdout and stderr of an output, as text, for assertions and failure messages.
pub fn text(o: &Output) -> String {
    format!(
        "status: {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A tiny HTTP/1.1 server on 127.0.0.1 for tests: answers GET/POST for known paths with fixed
/// bodies (404 otherwise), one connection at a time, until dropped.
#[derive(Debug)]
pub struct TestServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
    addr: std::net::SocketAddr,
}

/// How a [`TestServer`] behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Answer normally.
    Serve,
    /// Accept connections and never answer.
    Hang,
}

impl TestServer {
    /// Binds a port now (so URLs can be made before the content exists); serve with
    /// [`TestServer::start`].
    pub fn bind() -> (std::net::TcpListener, String) {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let base = format!("http://{}", l.local_addr().expect("addr"));
        (l, base)
    }

    /// Serves `routes` (path -> (content type, body)) on `listener`.
    pub fn start(
        listener: std::net::TcpListener,
        routes: std::collections::HashMap<String, (String, Vec<u8>)>,
        behaviour: Behaviour,
    ) -> Self {
        use std::io::{BufRead, BufReader, Read, Write};
        let addr = listener.local_addr().expect("addr");
        let base = format!("http://{addr}");
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming() {
                if stop2.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let Ok(mut s) = conn else { continue };
                if behaviour == Behaviour::Hang {
                    held.push(s);
                    continue;
                }
                let mut r = BufReader::new(s.try_clone().expect("clone"));
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let mut len = 0usize;
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; len];
                let _ = r.read_exact(&mut body);
                let resp = match routes.get(&path) {
                    Some((ct, b)) => {
                        let mut v = format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            b.len()
                        )
                        .into_bytes();
                        v.extend_from_slice(b);
                        v
                    }
                    None => {
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_vec()
                    }
                };
                let _ = s.write_all(&resp);
            }
        });
        Self {
            base,
            stop,
            handle: Some(handle),
            addr,
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        // Wake the accept loop.
        let _ = std::net::TcpStream::connect(self.addr);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// `pki tsa serve` with the fixture TSA (`fixtures/pki/tsa.*`) on a free loopback port, stopped
/// when dropped. `url` is where it answers.
#[derive(Debug)]
pub struct FixtureTsa {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT/`.
    pub url: String,
}

impl FixtureTsa {
    /// Starts the server and waits for its listening line.
    pub fn start() -> Self {
        Self::start_in(&fixtures().join("pki"))
    }

    /// The same with the TSA of a test PKI made by `pki ca test-pki` in `pki_dir`.
    pub fn start_in(pki_dir: &std::path::Path) -> Self {
        use std::io::BufRead;
        let mut child = Command::new(pki_bin())
            .args(["tsa", "serve", "--listen", "127.0.0.1:0", "--cert"])
            .arg(pki_dir.join("tsa.pem"))
            .arg("--key")
            .arg(pki_dir.join("tsa.key.pem"))
            .arg("--chain")
            .arg(pki_dir.join("tsa.chain.pem"))
            .env("LANG", "C")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", pki_bin().display()));
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = std::io::BufReader::new(out).read_line(&mut line);
        }
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("pki tsa serve did not start: {line:?}"))
            .to_owned();
        Self { child, url }
    }
}

impl Drop for FixtureTsa {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A child process killed when dropped.
#[derive(Debug)]
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `pki ocsp serve` for the CA directory `ca_dir` with the delegated responder `responder`/`key`,
/// listening on `listen` (`127.0.0.1:0` for a free port); returns once it listens, with its URL.
pub fn ocsp_serve(
    ca_dir: &std::path::Path,
    responder: &std::path::Path,
    key: &std::path::Path,
    listen: &str,
) -> (Running, String) {
    use std::io::BufRead;
    let mut child = Command::new(pki_bin())
        .args(["ocsp", "serve", "--ca-dir"])
        .arg(ca_dir)
        .arg("--responder-cert")
        .arg(responder)
        .arg("--key")
        .arg(key)
        .args(["--listen", listen])
        .env("LANG", "C")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start pki ocsp serve");
    let mut line = String::new();
    if let Some(out) = child.stdout.take() {
        let _ = std::io::BufReader::new(out).read_line(&mut line);
    }
    let running = Running(child);
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("pki ocsp serve did not start: {line:?}"))
        .to_string();
    (running, url)
}

/// A test PKI made by `pki ca test-pki` in a directory of the test's, whose certificates name
/// an OCSP responder (`pki ocsp serve`) and a CRL distribution point (a [`TestServer`]), both
/// running on loopback, with its TSA (`pki tsa serve`): what a long-term (B-LT) signature needs
/// to gather at signing time. Everything stops when dropped.
#[derive(Debug)]
pub struct LivePki {
    /// The PKI's directory (`root.pem`, `officer-rsa.key.pem`, ...).
    pub dir: PathBuf,
    ocsp: Option<Running>,
    crl: Option<TestServer>,
    /// The TSA.
    pub tsa: FixtureTsa,
}

impl LivePki {
    /// Makes the PKI under `root` and starts its servers.
    pub fn start(root: &std::path::Path) -> Self {
        let dir = root.join("pki");
        let (crl_listener, crl_base) = TestServer::bind();
        let ocsp_port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
            l.local_addr().expect("addr").port()
        };
        let o = pki(&[
            "ca",
            "test-pki",
            &dir.display().to_string(),
            "--ocsp-url",
            &format!("http://127.0.0.1:{ocsp_port}/ocsp"),
            "--crl-url",
            &format!("{crl_base}/issuing.crl"),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let crl = std::fs::read(dir.join("issuing/crl.der")).expect("the issuing CA's CRL");
        let routes = std::collections::HashMap::from([(
            "/issuing.crl".to_string(),
            ("application/pkix-crl".to_string(), crl),
        )]);
        let crl = TestServer::start(crl_listener, routes, Behaviour::Serve);
        let (ocsp, _) = ocsp_serve(
            &dir.join("issuing"),
            &dir.join("ocsp.pem"),
            &dir.join("ocsp.key.pem"),
            &format!("127.0.0.1:{ocsp_port}"),
        );
        let tsa = FixtureTsa::start_in(&dir);
        Self {
            dir,
            ocsp: Some(ocsp),
            crl: Some(crl),
            tsa,
        }
    }

    /// `--key`, `--cert` and `--tsa` for `pki sign` as the PKI's RSA officer.
    pub fn officer_args(&self) -> Vec<String> {
        vec![
            "--key".into(),
            self.dir.join("officer-rsa.key.pem").display().to_string(),
            "--cert".into(),
            self.dir.join("officer-rsa.chain.pem").display().to_string(),
            "--tsa".into(),
            self.tsa.url.clone(),
        ]
    }

    /// Stops the OCSP responder (its port then refuses connections).
    pub fn stop_ocsp(&mut self) {
        self.ocsp = None;
    }

    /// Stops the CRL server.
    pub fn stop_crl(&mut self) {
        self.crl = None;
    }
}
