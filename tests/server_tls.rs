//! `sign-server` with TLS in the process and client certificates (decision 0039), over real
//! TLS on 127.0.0.1. The certificates are made by the openssl command line in the test (a
//! client CA, a server CA, and client certificates: registered, unregistered, expired, from
//! the wrong CA, for servers only); the clients are curl and `openssl s_client`, independent
//! TLS implementations (OpenSSL) from the server's (rustls).
#![expect(clippy::unwrap_used, reason = "test code")]

use interop_tests::require_tool;
use interop_tests::server::{
    curl, curl_full, pdf, request, write_config, Resp, Server, AUDITOR_KEY, SIGNER_KEY,
};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A key the `key-and-cert` client needs together with its certificate.
const BOTH_KEY: &str = "test-key-and-cert-0123456789abcdef";

const OPENSSL_CNF: &str = r#"
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
default_ca = ca_default
[ca_default]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any
copy_extensions = none
unique_subject = no
[any]
commonName = supplied
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[client_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[server_ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"#;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .env("OPENSSL_CONF", dir.join("openssl.cnf"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The test's certificates, made with openssl.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn make(dir: &Path) -> Self {
        std::fs::write(dir.join("openssl.cnf"), OPENSSL_CNF).unwrap();
        std::fs::write(dir.join("index.txt"), "").unwrap();
        std::fs::write(dir.join("serial"), "1000\n").unwrap();
        let p = Self {
            dir: dir.to_owned(),
        };
        for (ca, cn) in [
            ("client-ca", "Test client CA"),
            ("server-ca", "Test server CA"),
        ] {
            openssl(
                dir,
                &[
                    "req",
                    "-x509",
                    "-config",
                    "openssl.cnf",
                    "-extensions",
                    "ca_ext",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-nodes",
                    "-keyout",
                    &format!("{ca}.key"),
                    "-subj",
                    &format!("/CN={cn}"),
                    "-days",
                    "3650",
                    "-out",
                    &format!("{ca}.pem"),
                ],
            );
        }
        p.issue("server", "server-ca", "server_ext", None);
        p.issue("alice", "client-ca", "client_ext", None);
        p.issue("bob", "client-ca", "client_ext", None);
        p.issue("carol", "client-ca", "client_ext", None);
        p.issue("mallory", "server-ca", "client_ext", None);
        p.issue("webserver", "client-ca", "server_ext", None);
        p.issue(
            "expired",
            "client-ca",
            "client_ext",
            Some(("20200101000000Z", "20210101000000Z")),
        );
        p
    }

    /// A certificate `name` issued by `ca` with the extensions `ext`, valid for 30 days or
    /// for `dates` (openssl ca -startdate/-enddate).
    fn issue(&self, name: &str, ca: &str, ext: &str, dates: Option<(&str, &str)>) {
        openssl(
            &self.dir,
            &[
                "req",
                "-new",
                "-config",
                "openssl.cnf",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-subj",
                &format!("/CN={name}"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        let (start, end) = dates.unwrap_or(("", ""));
        let mut args = vec!["ca", "-batch", "-config", "openssl.cnf", "-notext", "-cert"];
        let cert = format!("{ca}.pem");
        let key = format!("{ca}.key");
        let csr = format!("{name}.csr");
        let out = format!("{name}.pem");
        args.extend([
            cert.as_str(),
            "-keyfile",
            &key,
            "-extensions",
            ext,
            "-in",
            &csr,
            "-out",
            &out,
        ]);
        if dates.is_some() {
            args.extend(["-startdate", start, "-enddate", end]);
        } else {
            args.extend(["-days", "30"]);
        }
        openssl(&self.dir, &args);
    }

    fn path(&self, f: &str) -> String {
        self.dir.join(f).display().to_string()
    }

    /// `openssl x509 -fingerprint -sha256` as it prints it (`AB:CD:...`).
    fn fingerprint(&self, name: &str) -> String {
        let out = Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(self.path(&format!("{name}.pem")))
            .output()
            .unwrap();
        let s = String::from_utf8_lossy(&out.stdout);
        s.trim().rsplit('=').next().unwrap().to_owned()
    }

    /// curl arguments that trust the server CA and, with `client`, present that certificate.
    fn curl_args(&self, client: Option<&str>) -> Vec<String> {
        let mut a = vec!["--cacert".into(), self.path("server-ca.pem")];
        if let Some(c) = client {
            a.extend([
                "--cert".into(),
                self.path(&format!("{c}.pem")),
                "--key".into(),
                self.path(&format!("{c}.key")),
            ]);
        }
        a
    }
}

fn sha256_hex(s: &str) -> String {
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        s.as_bytes(),
    ))
}

/// The test configuration plus `[tls]` and two certificate clients.
fn tls_config(dir: &Path, pki: &Pki, client_auth: &str) -> PathBuf {
    let cfg = write_config(dir, None, None, "");
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!(
        r#"
[[clients]]
name = "cert-only"
client_cert_sha256 = ["{alice}"]
keys = ["officer"]
profiles = ["plain"]

[[clients]]
name = "key-and-cert"
api_key_sha256 = "{both}"
client_cert_sha256 = ["{carol}"]
keys = ["officer"]
profiles = ["plain"]

[tls]
cert = "{server}"
key = "{server_key}"
client_ca = "{ca}"
client_auth = "{client_auth}"
"#,
        // As openssl prints it (upper case, colons) for one, plain hex for the other.
        alice = pki.fingerprint("alice"),
        carol = pki.fingerprint("carol").replace(':', "").to_lowercase(),
        both = sha256_hex(BOTH_KEY),
        server = pki.path("server.pem"),
        server_key = pki.path("server.key"),
        ca = pki.path("client-ca.pem"),
    ));
    std::fs::write(&cfg, text).unwrap();
    cfg
}

fn call(s: &Server, pki: &Pki, client: Option<&str>, key: Option<&str>, path: &str) -> Resp {
    try_call(s, pki, client, key, path, None).unwrap_or_else(|(code, err)| {
        panic!(
            "curl {path} as {client:?}: exit {code}: {err}\n{}",
            s.log_text()
        )
    })
}

fn try_call(
    s: &Server,
    pki: &Pki,
    client: Option<&str>,
    key: Option<&str>,
    path: &str,
    body: Option<&Path>,
) -> Result<Resp, (i32, String)> {
    let mut args = pki.curl_args(client);
    if let Some(k) = key {
        args.extend(["-H".into(), format!("Authorization: Bearer {k}")]);
    }
    if let Some(b) = body {
        args.extend([
            "-H".into(),
            "Content-Type: application/pdf".into(),
            "--data-binary".into(),
            format!("@{}", b.display()),
        ]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    curl_full(&s.base, path, &args)
}

fn key_names(r: &Resp) -> Vec<String> {
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_owned())
        .collect()
}

fn assert_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["code"], code, "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
}

fn handshake_failures(s: &Server, pki: &Pki) -> u64 {
    let m = call(s, pki, None, None, "/metrics");
    let text = String::from_utf8_lossy(&m.body).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("sign_server_tls_handshake_failures_total "))
        .unwrap_or_else(|| panic!("no handshake counter in {text}"))
        .parse()
        .unwrap()
}

#[test]
fn api_keys_and_client_certificates_over_tls() {
    if require_tool("curl").is_none() || require_tool("openssl").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki_dir = dir.path().join("pki");
    std::fs::create_dir_all(&pki_dir).unwrap();
    let pki = Pki::make(&pki_dir);
    let cfg = tls_config(dir.path(), &pki, "optional");
    let s = Server::start_tls(&cfg, "tls", &["--cacert", &pki.path("server-ca.pem")]);
    assert!(s.base.starts_with("https://"));
    let doc = dir.path().join("in.pdf");
    std::fs::write(&doc, pdf(1)).unwrap();

    // An API key over TLS, as before.
    assert_eq!(
        key_names(&call(&s, &pki, None, Some(SIGNER_KEY), "/v1/keys")),
        ["officer", "agency"]
    );
    let signed = try_call(
        &s,
        &pki,
        None,
        Some(SIGNER_KEY),
        "/v1/sign?key=officer&profile=plain",
        Some(&doc),
    )
    .unwrap();
    assert_eq!(
        signed.status,
        200,
        "{}",
        String::from_utf8_lossy(&signed.body)
    );
    assert!(signed.body.starts_with(b"%PDF-"));

    // A registered client certificate, no API key: that client.
    assert_eq!(
        key_names(&call(&s, &pki, Some("alice"), None, "/v1/keys")),
        ["officer"]
    );
    let by_cert = try_call(
        &s,
        &pki,
        Some("alice"),
        None,
        "/v1/sign?key=officer&profile=plain",
        Some(&doc),
    )
    .unwrap();
    assert_eq!(
        by_cert.status,
        200,
        "{}",
        String::from_utf8_lossy(&by_cert.body)
    );
    assert!(by_cert.body.starts_with(b"%PDF-"));
    let seq: i64 = by_cert.header("x-audit-seq").unwrap().parse().unwrap();
    // Its grants are its own: the agency key is not among them.
    let r = try_call(
        &s,
        &pki,
        Some("alice"),
        None,
        "/v1/sign?key=agency&profile=plain",
        Some(&doc),
    )
    .unwrap();
    assert_error(&r, 403, "key_not_granted");

    // The audit log names the client the certificate authenticated.
    let records = call(
        &s,
        &pki,
        None,
        Some(AUDITOR_KEY),
        &format!("/v1/audit?after={}&limit=1", seq - 1),
    )
    .json();
    assert_eq!(records[0]["seq"], seq, "{records}");
    assert_eq!(records[0]["client"], "cert-only", "{records}");
    assert_eq!(records[0]["outcome"], "signed", "{records}");

    // A certificate from the right CA that no client names: 401 in the API's shape.
    let r = call(&s, &pki, Some("bob"), None, "/v1/keys");
    assert_error(&r, 401, "unknown_client_certificate");
    // ... but an API key on the same connection still authenticates its own client.
    assert_eq!(
        key_names(&call(&s, &pki, Some("bob"), Some(SIGNER_KEY), "/v1/keys")),
        ["officer", "agency"]
    );

    // A client configured with both needs both.
    assert_error(
        &call(&s, &pki, None, Some(BOTH_KEY), "/v1/keys"),
        401,
        "client_certificate_required",
    );
    assert_error(
        &call(&s, &pki, Some("alice"), Some(BOTH_KEY), "/v1/keys"),
        401,
        "client_certificate_required",
    );
    assert_error(
        &call(&s, &pki, Some("carol"), None, "/v1/keys"),
        401,
        "unauthenticated",
    );
    assert_eq!(
        key_names(&call(&s, &pki, Some("carol"), Some(BOTH_KEY), "/v1/keys")),
        ["officer"]
    );

    // Certificates that fail the path check never get an HTTP answer: the handshake ends
    // with an alert (curl exit 35 or 56), and the server counts it.
    let before = handshake_failures(&s, &pki);
    for (who, why) in [
        ("expired", "expired"),
        ("mallory", "wrong CA"),
        ("webserver", "no clientAuth EKU"),
    ] {
        match try_call(&s, &pki, Some(who), Some(SIGNER_KEY), "/v1/keys", None) {
            Ok(r) => panic!("{who} ({why}) got an HTTP answer: {}", r.status),
            Err((code, err)) => assert!(
                [35, 56].contains(&code),
                "{who} ({why}): curl exit {code}: {err}"
            ),
        }
    }
    assert_eq!(handshake_failures(&s, &pki), before + 3);
    let log = s.log_text();
    assert!(log.contains("TLS handshake with 127.0.0.1"), "{log}");
    assert!(
        log.to_lowercase().contains("expired"),
        "the log names why: {log}"
    );

    // openssl s_client as a second peer: a hand-written request with alice's certificate.
    let out = {
        let port = s.base.rsplit(':').next().unwrap();
        let mut c = Command::new("openssl")
            .args(["s_client", "-quiet", "-connect"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-CAfile", &pki.path("server-ca.pem")])
            .args([
                "-cert",
                &pki.path("alice.pem"),
                "-key",
                &pki.path("alice.key"),
            ])
            .args(["-verify_return_error", "-servername", "127.0.0.1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        c.stdin
            .take()
            .unwrap()
            .write_all(b"GET /v1/keys HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            .unwrap();
        c.wait_with_output().unwrap()
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("\"name\":\"officer\""), "{text}");
    assert!(!text.contains("\"agency\""), "{text}");

    // Plain HTTP to the TLS port: a clean 400 that says to use https.
    let plain = s.base.replacen("https://", "http://", 1);
    let r = request(&plain, "GET", "/v1/keys", Some(SIGNER_KEY), &[], &[]).unwrap();
    assert_error(&r, 400, "tls_required");
    assert!(String::from_utf8_lossy(&r.body).contains("https://"));
    // ... and the server still serves TLS afterwards.
    assert_eq!(call(&s, &pki, None, None, "/healthz").status, 200);
    // SIGTERM stops it cleanly, as over plain HTTP.
    let mut s = s;
    assert!(s.terminate(), "{}", s.log_text());
}

#[test]
fn client_auth_required_refuses_a_handshake_without_a_certificate() {
    if require_tool("curl").is_none() || require_tool("openssl").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki_dir = dir.path().join("pki");
    std::fs::create_dir_all(&pki_dir).unwrap();
    let pki = Pki::make(&pki_dir);
    let cfg = tls_config(dir.path(), &pki, "required");
    // Readiness is asked with a certificate here.
    let args = pki.curl_args(Some("alice"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let s = Server::start_tls(&cfg, "tls-required", &args);
    assert!(
        curl(
            &s.base,
            "/healthz",
            &["--cacert", &pki.path("server-ca.pem")]
        )
        .is_none(),
        "a handshake without a client certificate must fail"
    );
    assert_eq!(
        key_names(&call(&s, &pki, Some("alice"), None, "/v1/keys")),
        ["officer"]
    );
    // An API key still needs a certificate on the connection (any from the client CA).
    assert_eq!(
        key_names(&call(&s, &pki, Some("bob"), Some(SIGNER_KEY), "/v1/keys")),
        ["officer", "agency"]
    );
    assert!(try_call(
        &s,
        &pki,
        Some("expired"),
        Some(SIGNER_KEY),
        "/v1/keys",
        None
    )
    .is_err());
}
