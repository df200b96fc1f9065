//! Running the `sign-server` binary in tests: a configuration over the fixture PKI, a process
//! on a free 127.0.0.1 port, a small HTTP client, multipart bodies, and a private PostgreSQL
//! cluster.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `sign-server` binary built for this run (beside the test executable's target dir).
pub fn server_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("SIGN_SERVER_BIN") {
        return PathBuf::from(p);
    }
    crate::pki_bin().with_file_name("sign-server")
}

/// API keys of the test configuration's clients.
pub const SIGNER_KEY: &str = "test-signer-key-0123456789abcdef";
/// A client granted only the officer key and the personal profile.
pub const LIMITED_KEY: &str = "test-limited-key-0123456789abcdef";
/// The auditor.
pub const AUDITOR_KEY: &str = "test-auditor-key-0123456789abcdef";

fn sha256_hex(s: &str) -> String {
    use std::process::Stdio;
    // Plain SHA-256 of the key, as `sign-server new-api-key` prints it; computed with openssl
    // so the test does not reuse the server's own code for the check.
    let mut c = Command::new("openssl")
        .args(["dgst", "-sha256", "-r"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl");
    c.stdin
        .take()
        .expect("stdin")
        .write_all(s.as_bytes())
        .expect("write");
    let out = c.wait_with_output().expect("openssl");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Writes a configuration in `dir` (keys from fixtures/pki) and returns its path. `database`:
/// `None` for the default SQLite file in `dir/data`. `extra` is appended to `[limits]`.
pub fn write_config(
    dir: &Path,
    database: Option<&str>,
    blob_dir: Option<&Path>,
    limits: &str,
) -> PathBuf {
    let pki = crate::fixtures().join("pki");
    let storage = match database {
        Some(db) => format!("database = \"{db}\"\n"),
        None => String::new(),
    } + &blob_dir
        .map(|b| format!("blob_dir = \"{}\"\n", b.display()))
        .unwrap_or_default();
    let text = format!(
        r#"data_dir = "{data}"

[storage]
{storage}
[limits]
max_document_bytes = 1048576
lease_secs = 3
{limits}

[policy]
agency_requires_personal = true
trust = ["{root}"]

[keys.officer]
keyref = "file:{officer_key}"
cert = "{officer_chain}"

[keys.agency]
keyref = "file:{agency_key}"
cert = "{agency_chain}"

[[clients]]
name = "dms"
api_key_sha256 = "{signer}"
keys = ["officer", "agency"]
profiles = ["personal", "agency", "attachment", "copy", "plain"]

[[clients]]
name = "limited"
api_key_sha256 = "{limited}"
keys = ["officer"]
profiles = ["personal"]

[[clients]]
name = "auditor"
api_key_sha256 = "{auditor}"
role = "auditor"
"#,
        data = dir.join("data").display(),
        root = pki.join("root.pem").display(),
        officer_key = pki.join("officer-rsa.key.pem").display(),
        officer_chain = pki.join("officer-rsa.chain.pem").display(),
        agency_key = pki.join("agency.key.pem").display(),
        agency_chain = pki.join("agency.chain.pem").display(),
        signer = sha256_hex(SIGNER_KEY),
        limited = sha256_hex(LIMITED_KEY),
        auditor = sha256_hex(AUDITOR_KEY),
    );
    let p = dir.join("sign-server.toml");
    std::fs::write(&p, text).expect("write config");
    p
}

/// A running `sign-server`.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its log file.
    pub log: PathBuf,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

impl Server {
    /// Starts the binary with `config` and waits until `/readyz` answers 200.
    pub fn start(config: &Path, name: &str) -> Self {
        let s = Self::spawn(config, name, "http");
        s.wait_ready(|| s.get("/readyz", None).is_ok_and(|r| r.status == 200));
        s
    }

    /// Starts the binary with a configuration that has `[tls]` and waits until `/readyz`
    /// answers 200 over HTTPS, asked with curl and `curl_args` (`--cacert`, and `--cert`
    /// `--key` where the server requires a client certificate). `base` is then
    /// `https://127.0.0.1:PORT`; use [`curl`] to talk to it.
    pub fn start_tls(config: &Path, name: &str, curl_args: &[&str]) -> Self {
        let s = Self::spawn(config, name, "https");
        s.wait_ready(|| curl(&s.base, "/readyz", curl_args).is_some_and(|r| r.status == 200));
        s
    }

    fn spawn(config: &Path, name: &str, scheme: &str) -> Self {
        let port = free_port();
        let log = config.with_file_name(format!("{name}.log"));
        let logf = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log");
        let child = Command::new(server_bin())
            .arg("--config")
            .arg(config)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .env("SIGN_SERVER_INSTANCE", name)
            .env("SIGN_SERVER_LOG", "info,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(logf.try_clone().expect("log"))
            .stderr(logf)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", server_bin().display()));
        Self {
            child: Some(child),
            base: format!("{scheme}://127.0.0.1:{port}"),
            log,
        }
    }

    fn wait_ready(&self, ready: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if ready() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "sign-server did not become ready:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The server's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits for the exit (at most 60 s); returns whether it exited 0.
    pub fn terminate(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return st.success();
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// GET.
    pub fn get(&self, path: &str, key: Option<&str>) -> std::io::Result<Resp> {
        request(&self.base, "GET", path, key, &[], &[])
    }

    /// POST with a body.
    pub fn post(
        &self,
        path: &str,
        key: Option<&str>,
        content_type: &str,
        body: &[u8],
    ) -> std::io::Result<Resp> {
        request(
            &self.base,
            "POST",
            path,
            key,
            &[("content-type", content_type)],
            body,
        )
    }

    /// Every audit record, in order, read page by page through `GET /v1/audit` as the auditor.
    pub fn audit_records(&self) -> Vec<serde_json::Value> {
        let mut all = Vec::new();
        let mut after = 0;
        loop {
            let page = self
                .get(
                    &format!("/v1/audit?after={after}&limit=1000"),
                    Some(AUDITOR_KEY),
                )
                .unwrap_or_else(|e| panic!("GET /v1/audit: {e}"))
                .json();
            let page = page.as_array().cloned().unwrap_or_default();
            let Some(last) = page.last() else { break };
            after = last["seq"]
                .as_i64()
                .unwrap_or_else(|| panic!("no seq in {last}"));
            all.extend(page);
        }
        all
    }

    /// How many `signed` audit records name each document ([`signed_per_document`]).
    pub fn signed_per_document(&self) -> std::collections::HashMap<String, usize> {
        signed_per_document(&self.audit_records())
    }
}

/// How many `signed` audit records in `records` name each document (by its id, the last word
/// of the record's detail): exactly one each is what a batch must leave, whatever crashed.
pub fn signed_per_document(
    records: &[serde_json::Value],
) -> std::collections::HashMap<String, usize> {
    let mut per_doc = std::collections::HashMap::new();
    for r in records {
        if r["outcome"] == "signed" {
            let detail = r["detail"]
                .as_str()
                .unwrap_or_else(|| panic!("no detail in {r}"));
            let doc = detail.rsplit(' ').next().unwrap_or(detail);
            *per_doc.entry(doc.to_owned()).or_default() += 1;
        }
    }
    per_doc
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-case.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Resp {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "not JSON (status {}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    /// A header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One request with curl (an independent HTTP and TLS client) to `base` + `path`, with extra
/// arguments (`--cacert`, `--cert`, `--key`, `-H`, `--data-binary`, ...). `None` when curl
/// got no HTTP answer (connection or TLS handshake refused; [`curl_full`] says why).
pub fn curl(base: &str, path: &str, args: &[&str]) -> Option<Resp> {
    curl_full(base, path, args).ok()
}

/// [`curl`], with curl's exit code and stderr when there was no HTTP answer.
pub fn curl_full(base: &str, path: &str, args: &[&str]) -> Result<Resp, (i32, String)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let head = dir.path().join("head");
    let body = dir.path().join("body");
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "60", "-D"])
        .arg(&head)
        .arg("-o")
        .arg(&body)
        .args(args)
        .arg(format!("{base}{path}"))
        .stdin(Stdio::null())
        .output()
        .expect("curl");
    if !out.status.success() {
        return Err((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    let head = std::fs::read_to_string(&head).unwrap_or_default();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or((0, format!("no status line in {head:?}")))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(Resp {
        status,
        headers,
        body: std::fs::read(&body).unwrap_or_default(),
    })
}

/// One HTTP/1.1 request over a fresh connection (written by hand: the tests must also send
/// broken requests, which a client library would refuse to).
pub fn request(
    base: &str,
    method: &str,
    path: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Resp> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    if let Some(k) = key {
        head.push_str(&format!("Authorization: Bearer {k}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if method != "GET" || !body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut msg = head.into_bytes();
    msg.extend_from_slice(body);
    raw(base, &msg, false)
}

/// Sends raw bytes; with `half_close` the write side is shut after them (a client that went
/// away mid-upload). Reads and parses the answer.
pub fn raw(base: &str, msg: &[u8], half_close: bool) -> std::io::Result<Resp> {
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    s.write_all(msg)?;
    if half_close {
        s.shutdown(std::net::Shutdown::Write)?;
    }
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    parse(&buf).ok_or_else(|| std::io::Error::other("malformed HTTP answer"))
}

fn parse(buf: &[u8]) -> Option<Resp> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = buf[end + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"))
    {
        body = dechunk(&body)?;
    }
    Some(Resp {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size_str = std::str::from_utf8(&b[..eol]).ok()?;
        let size = usize::from_str_radix(size_str.split(';').next()?.trim(), 16).ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

/// A multipart/form-data body with one file part per (name, bytes); returns (content type,
/// body).
pub fn multipart(files: &[(String, Vec<u8>)]) -> (String, Vec<u8>) {
    let boundary = "----vnpki-test-boundary-7d1f";
    let mut body = Vec::new();
    for (name, data) in files {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/pdf\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A distinct one-page PDF.
pub fn pdf(i: usize) -> Vec<u8> {
    pki_core::pdf::sample::one_page(&[&format!("Cong van so {i}/UBND-VP")])
}

/// Waits until the batch at `base` has no queued or running document; returns its status.
pub fn wait_batch(s: &Server, id: &str, timeout: Duration) -> serde_json::Value {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(r) = s.get(&format!("/v1/batches/{id}"), Some(SIGNER_KEY)) {
            if r.status == 200 {
                let v = r.json();
                if v["state"] == "finished" {
                    return v;
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "batch {id} did not finish:\n{}",
            s.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A private PostgreSQL cluster on a free 127.0.0.1 port, in a temporary directory, stopped
/// when dropped. As root it runs as the `postgres` user (PostgreSQL refuses to run as root).
#[derive(Debug)]
pub struct Postgres {
    dir: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub url: String,
}

fn pg_bin() -> Option<PathBuf> {
    if let Some(p) = crate::find_tool("initdb") {
        return p.parent().map(Path::to_path_buf);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop()
}

impl Postgres {
    /// Starts a cluster, or returns `None` when PostgreSQL is not installed (a failure under CI).
    pub fn start(parent: &Path) -> Option<Self> {
        let Some(bin) = pg_bin() else {
            assert!(
                !crate::in_ci(),
                "PostgreSQL (initdb) is missing; scripts/install-test-deps installs it on CI"
            );
            eprintln!(
                "\n*** SKIP: PostgreSQL is not installed; run scripts/install-test-deps ***\n"
            );
            return None;
        };
        let dir = parent.join("pg");
        std::fs::create_dir_all(&dir).expect("pg dir");
        let as_postgres = is_root();
        if as_postgres {
            // The temporary directories are 0700 root-owned: let postgres through to its own.
            let mut p = Some(parent);
            while let Some(d) = p {
                if d == Path::new("/") || d == std::env::temp_dir() {
                    break;
                }
                let _ = Command::new("chmod").arg("o+x").arg(d).status();
                p = d.parent();
            }
            let st = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir)
                .status()
                .expect("chown");
            assert!(st.success());
        }
        let port = free_port();
        let pg = Self {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            dir: dir.clone(),
            bin,
            as_postgres,
        };
        let data = dir.join("data");
        let out = pg.cmd(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        assert!(out.status.success(), "initdb failed: {}", crate::text(&out));
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={} -c fsync=off -c max_connections=100",
            dir.display()
        );
        let out = pg.cmd(
            "pg_ctl",
            &[
                "-D",
                &data.display().to_string(),
                "-o",
                &opts,
                "-l",
                &dir.join("pg.log").display().to_string(),
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}",
            crate::text(&out)
        );
        Some(pg)
    }

    fn cmd(&self, tool: &str, args: &[&str]) -> std::process::Output {
        let exe = self.bin.join(tool);
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        c.args(args).current_dir(&self.dir);
        crate::run(&mut c)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.join("data").display().to_string();
        let _ = self.cmd("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a Python snippet on a SQLite file (the tests tamper with the audit log the way an
/// intruder with file access would, through an independent SQLite implementation).
pub fn sqlite_exec(db: &Path, sql: &str) {
    let out = crate::run(
        Command::new("python3")
            .arg("-c")
            .arg("import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()")
            .arg(db)
            .arg(sql),
    );
    assert!(
        out.status.success(),
        "sqlite tampering failed: {}",
        crate::text(&out)
    );
}
