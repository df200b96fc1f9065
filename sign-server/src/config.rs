//! Configuration: one TOML file plus a few environment overrides, or, with no file, an embedded
//! default (a generated demo PKI, SQLite and blobs under a local data directory, 127.0.0.1).
//!
//! API keys are stored only as SHA-256 hashes (decision 0009): they are random 256-bit values
//! made by `sign-server new-api-key`, so a fast hash is as strong as a slow one and costs
//! nothing per request.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The profiles the service knows (CONTRACT.md `--profile`): the PDF layouts, `plain` (both),
/// and the XML document profiles.
pub const PROFILES: &[&str] = &[
    "personal",
    "agency",
    "attachment",
    "copy",
    "plain",
    "einvoice",
    "edxml",
];

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown fields.
    #[error("the configuration {path} is not valid: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's sentence (line and column included).
        message: String,
    },
    /// A value is wrong.
    #[error("the configuration is not usable: {0}")]
    Invalid(String),
    /// The embedded default could not be set up.
    #[error("cannot set up the default data directory {path}: {message}")]
    Default {
        /// The directory.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

/// The whole configuration.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Where state lives when `storage` does not say otherwise.
    pub data_dir: PathBuf,
    /// This instance's name in leases (default: host name and process id).
    #[serde(default)]
    pub instance: Option<String>,
    /// Database and blobs.
    #[serde(default)]
    pub storage: Storage,
    /// The time-stamp authority for B-T.
    #[serde(default)]
    pub tsa: Option<Tsa>,
    /// Limits.
    #[serde(default)]
    pub limits: Limits,
    /// Signing policy.
    #[serde(default)]
    pub policy: Policy,
    /// Named keys.
    #[serde(default)]
    pub keys: BTreeMap<String, KeyConfig>,
    /// Who may call.
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
    /// The audit log.
    #[serde(default)]
    pub audit: AuditConfig,
    /// TLS in the process (none: plain HTTP, e.g. behind a TLS proxy).
    #[serde(default)]
    pub tls: Option<TlsConfig>,
}

/// TLS in the process and client certificates (decision 0039).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The server's certificate chain, PEM, its own certificate first.
    pub cert: PathBuf,
    /// The server's private key, PEM (PKCS#8, PKCS#1 or SEC1), unencrypted.
    pub key: PathBuf,
    /// CA certificates (PEM) that client certificates must chain to; without it no client
    /// certificate is asked for.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// Whether a client must present a certificate (`required`) or may (`optional`, then API
    /// keys still work).
    #[serde(default)]
    pub client_auth: ClientAuth,
}

/// Whether the TLS handshake asks for a client certificate or demands one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// Asked for; a client without one authenticates with its API key.
    #[default]
    Optional,
    /// A handshake without a valid client certificate fails.
    Required,
}

/// The audit log.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Time-stamp the chain's head with the `[tsa]` this often, in seconds (0: never).
    pub anchor_every_secs: u64,
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

/// Database and blob storage.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Storage {
    /// `sqlite:PATH` or `postgres://...` (default: `sqlite:` a file in `data_dir`).
    pub database: Option<String>,
    /// Directory of document bytes (default: `data_dir/blobs`).
    pub blob_dir: Option<PathBuf>,
    /// Days a finished batch and its documents are kept (the audit log is kept for ever).
    #[serde(default = "default_retention")]
    pub retention_days: u32,
}

fn default_retention() -> u32 {
    30
}

/// The TSA.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tsa {
    /// URL of the RFC 3161 service.
    pub url: String,
    /// Seconds before a request is given up.
    #[serde(default = "default_tsa_timeout")]
    pub timeout_secs: u64,
}

fn default_tsa_timeout() -> u64 {
    10
}

/// Limits.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest document accepted, bytes.
    pub max_document_bytes: u64,
    /// Most documents in one batch.
    pub max_batch_documents: usize,
    /// Largest batch upload, bytes.
    pub max_batch_bytes: u64,
    /// Synchronous signing requests in progress at once; more get 503 with Retry-After.
    pub max_in_flight: usize,
    /// Documents queued and not yet signed, over all batches; a batch that would pass it gets
    /// 503 with Retry-After.
    pub max_queued_documents: i64,
    /// Documents a worker claims at once.
    pub worker_claim: i64,
    /// Seconds a claim is held before another worker may take the document over.
    pub lease_secs: i64,
    /// Attempts at a document before it is marked failed.
    pub max_attempts: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_document_bytes: 64 * 1024 * 1024,
            max_batch_documents: 10_000,
            max_batch_bytes: 4 * 1024 * 1024 * 1024,
            max_in_flight: 128,
            max_queued_documents: 200_000,
            worker_claim: 64,
            lease_secs: 60,
            max_attempts: 5,
        }
    }
}

/// Signing policy.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Decree 30/2020 Art. 32(2)(d): the `agency` profile signs only a document that already
    /// carries a valid signature (the competent person's).
    pub agency_requires_personal: bool,
    /// Trust anchors for that check and for `/v1/verify` (`vn`, PEM files, directories).
    pub trust: Vec<String>,
    /// Whether `/v1/verify` asks OCSP responders and CRL distribution points (`online`) or
    /// uses only what documents embed (`offline`).
    pub verify_revocation: Revocation,
    /// Seconds an OCSP or CRL request of `/v1/verify` may take.
    pub revocation_timeout_secs: u64,
}

/// Where `/v1/verify` gets certificate status from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Revocation {
    /// Only what the document embeds.
    #[default]
    Offline,
    /// Also OCSP and CRLs fetched at verification time.
    Online,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            agency_requires_personal: true,
            trust: vec!["vn".into()],
            verify_revocation: Revocation::Offline,
            revocation_timeout_secs: 10,
        }
    }
}

/// A named key.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// The KEYREF (CONTRACT.md): `pkcs11:...?pin-source=file:...`, `file:key.p12`, ...
    pub keyref: String,
    /// The certificate chain for a PEM/PKCS#8 key.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// Where the PIN or password is read (overrides the KEYREF's `pin-source`).
    #[serde(default)]
    pub pin_source: Option<String>,
    /// PKCS#11 sessions in the key's pool (0: the default).
    #[serde(default)]
    pub pool_size: usize,
    /// The PNG drawn by the `personal` (a handwritten signature) or `agency` (the red seal,
    /// at the size its pHYs chunk gives) profile for this key.
    #[serde(default)]
    pub image: Option<PathBuf>,
    /// The seal's width in millimetres when the PNG does not say (agency profile).
    #[serde(default)]
    pub seal_size_mm: Option<f64>,
    /// Remote keys (`csc:`, `mss:`): how long the person has to approve a request on the
    /// phone before its documents fail (default 300 s).
    #[serde(default)]
    pub approval_timeout_secs: Option<u64>,
    /// Remote keys: time between two status polls of a pending approval (default 2,000 ms;
    /// the key reference's `poll-ms=` wins).
    #[serde(default)]
    pub poll_interval_ms: Option<u64>,
    /// Remote keys: at most this many documents per approval (default and ceiling: what the
    /// service allows; a PKI SIM signs one).
    #[serde(default)]
    pub max_per_approval: Option<usize>,
}

/// What a client may do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Signs and verifies.
    #[default]
    Signer,
    /// Reads and checks the audit log; verifies; never signs.
    Auditor,
}

/// A client.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// Its name in the audit log.
    pub name: String,
    /// SHA-256 of its API key, hex.
    #[serde(default)]
    pub api_key_sha256: Option<String>,
    /// SHA-256 fingerprints (hex, of the DER) of its TLS client certificates. With an API key
    /// as well, a request needs both (decision 0039).
    #[serde(default)]
    pub client_cert_sha256: Vec<String>,
    /// Its role.
    #[serde(default)]
    pub role: Role,
    /// Keys it may use.
    #[serde(default)]
    pub keys: Vec<String>,
    /// Profiles it may use.
    #[serde(default)]
    pub profiles: Vec<String>,
    /// Its request rate limit (none: only the global limits apply).
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
}

/// A client's token bucket: `burst` requests at once, `per_second` on average.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Requests per second, on average.
    pub per_second: f64,
    /// Requests at once (the bucket's size).
    pub burst: u32,
}

/// Environment variables that override the file (for containers and service managers).
pub const ENV_OVERRIDES: &[&str] = &[
    "SIGN_SERVER_LISTEN",
    "SIGN_SERVER_DATA_DIR",
    "SIGN_SERVER_DATABASE",
    "SIGN_SERVER_BLOB_DIR",
    "SIGN_SERVER_INSTANCE",
    "SIGN_SERVER_TSA_URL",
];

impl Config {
    /// Reads `path`, applies the environment overrides, resolves relative paths against the
    /// file's directory and checks the result.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut c: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim().replace('\n', " "),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        c.data_dir = base.join(&c.data_dir);
        for k in c.keys.values_mut() {
            if let Some(p) = &k.cert {
                k.cert = Some(base.join(p));
            }
        }
        if let Some(t) = &mut c.tls {
            t.cert = base.join(&t.cert);
            t.key = base.join(&t.key);
            t.client_ca = t.client_ca.as_ref().map(|p| base.join(p));
        }
        c.apply_env();
        c.check()?;
        Ok(c)
    }

    /// Applies the `SIGN_SERVER_*` overrides.
    pub fn apply_env(&mut self) {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let Some(v) = get("SIGN_SERVER_LISTEN") {
            self.listen = v;
        }
        if let Some(v) = get("SIGN_SERVER_DATA_DIR") {
            self.data_dir = v.into();
        }
        if let Some(v) = get("SIGN_SERVER_DATABASE") {
            self.storage.database = Some(v);
        }
        if let Some(v) = get("SIGN_SERVER_BLOB_DIR") {
            self.storage.blob_dir = Some(v.into());
        }
        if let Some(v) = get("SIGN_SERVER_INSTANCE") {
            self.instance = Some(v);
        }
        if let Some(v) = get("SIGN_SERVER_TSA_URL") {
            self.tsa = Some(Tsa {
                url: v,
                timeout_secs: default_tsa_timeout(),
            });
        }
    }

    /// The database URL.
    pub fn database_url(&self) -> String {
        self.storage.database.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("sign-server.db").display()
            )
        })
    }

    /// The blob directory.
    pub fn blob_dir(&self) -> PathBuf {
        self.storage
            .blob_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("blobs"))
    }

    /// Checks references between sections.
    pub fn check(&self) -> Result<(), ConfigError> {
        let bad = |s: String| Err(ConfigError::Invalid(s));
        let mut names = std::collections::BTreeSet::new();
        let mut hashes = std::collections::BTreeSet::new();
        let mut fingerprints = std::collections::BTreeSet::new();
        if let Some(t) = &self.tls {
            if t.client_auth == ClientAuth::Required && t.client_ca.is_none() {
                return bad(
                    "tls.client_auth = \"required\" needs tls.client_ca (the CA client certificates are checked against)".into(),
                );
            }
        }
        for c in &self.clients {
            if !names.insert(c.name.as_str()) {
                return bad(format!("the client name \"{}\" is used twice", c.name));
            }
            if c.api_key_sha256.is_none() && c.client_cert_sha256.is_empty() {
                return bad(format!(
                    "client \"{}\" has neither api_key_sha256 nor client_cert_sha256; give it one (make a key with `sign-server new-api-key`)",
                    c.name
                ));
            }
            if let Some(h) = &c.api_key_sha256 {
                let h = h.to_ascii_lowercase();
                if !is_sha256_hex(&h) {
                    return bad(format!(
                        "client \"{}\": api_key_sha256 must be 64 hex digits (make one with `sign-server new-api-key`)",
                        c.name
                    ));
                }
                if !hashes.insert(h) {
                    return bad(format!(
                        "client \"{}\" has the same API key as another client",
                        c.name
                    ));
                }
            }
            for f in &c.client_cert_sha256 {
                let f = normalize_fingerprint(f);
                if !is_sha256_hex(&f) {
                    return bad(format!(
                        "client \"{}\": client_cert_sha256 entries must be 64 hex digits, the SHA-256 of the certificate's DER (`openssl x509 -in CERT -noout -fingerprint -sha256`)",
                        c.name
                    ));
                }
                if !fingerprints.insert(f) {
                    return bad(format!(
                        "client \"{}\" names a client certificate that another client (or itself) already names",
                        c.name
                    ));
                }
                if self.tls.as_ref().is_none_or(|t| t.client_ca.is_none()) {
                    return bad(format!(
                        "client \"{}\" has client_cert_sha256, which needs [tls] with client_ca (the CA its certificates are checked against)",
                        c.name
                    ));
                }
            }
            for k in &c.keys {
                if !self.keys.contains_key(k) {
                    return bad(format!(
                        "client \"{}\" is granted the key \"{k}\", which is not in [keys]",
                        c.name
                    ));
                }
            }
            for p in &c.profiles {
                if !PROFILES.contains(&p.as_str()) {
                    return bad(format!(
                        "client \"{}\" is granted the profile \"{p}\"; profiles are {}",
                        c.name,
                        PROFILES.join(", ")
                    ));
                }
            }
            if let Some(r) = &c.rate_limit {
                if !(r.per_second.is_finite() && r.per_second > 0.0) || r.burst == 0 {
                    return bad(format!(
                        "client \"{}\": rate_limit needs per_second > 0 and burst >= 1",
                        c.name
                    ));
                }
            }
            if c.role == Role::Auditor && !c.keys.is_empty() {
                return bad(format!(
                    "client \"{}\" is an auditor and cannot be granted keys (auditors do not sign)",
                    c.name
                ));
            }
        }
        if self.audit.anchor_every_secs > 0 && self.tsa.is_none() {
            return bad(
                "audit.anchor_every_secs needs a [tsa] to time-stamp the audit head with".into(),
            );
        }
        if let Some(t) = &self.tsa {
            if !pki_core::fetch::is_http_url(&t.url) {
                return bad(format!("tsa.url \"{}\" is not an http(s) URL", t.url));
            }
        }
        if self.policy.revocation_timeout_secs == 0 {
            return bad("policy.revocation_timeout_secs must be positive".into());
        }
        let l = &self.limits;
        if l.max_in_flight == 0 || l.worker_claim <= 0 || l.lease_secs <= 0 || l.max_attempts <= 0 {
            return bad("limits must be positive".into());
        }
        Ok(())
    }
}

fn is_sha256_hex(h: &str) -> bool {
    h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A certificate fingerprint as the service compares it: lower-case hex without separators
/// (so `openssl x509 -fingerprint -sha256`'s `AB:CD:...` is accepted as written).
pub fn normalize_fingerprint(f: &str) -> String {
    f.chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_ascii_lowercase()
}

/// SHA-256 of an API key, hex.
pub fn api_key_hash(key: &str) -> String {
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        key.as_bytes(),
    ))
}

/// A fresh random API key (256 bits, hex).
pub fn new_api_key() -> Result<String, ConfigError> {
    let mut b = [0u8; 32];
    aws_lc_rs::rand::fill(&mut b)
        .map_err(|_| ConfigError::Invalid("the system random generator failed".into()))?;
    Ok(format!("vnpki_{}", hex::encode(b)))
}

/// What the embedded default gives a newcomer.
#[derive(Debug)]
pub struct Demo {
    /// The configuration.
    pub config: Config,
    /// File holding the signer client's API key.
    pub signer_key_file: PathBuf,
    /// File holding the auditor's API key.
    pub auditor_key_file: PathBuf,
}

fn read_or_make_key(path: &Path) -> Result<String, String> {
    if let Ok(s) = std::fs::read_to_string(path) {
        let s = s.trim().to_owned();
        if !s.is_empty() {
            return Ok(s);
        }
    }
    let k = new_api_key().map_err(|e| e.to_string())?;
    pki_core::ca::dir::write_atomic(path, format!("{k}\n").as_bytes(), true)
        .map_err(|e| e.to_string())?;
    Ok(k)
}

/// The embedded default under `data_dir`: a demo PKI (made on first start), keys `officer`
/// (a person) and `agency`, a client `demo` granted both and every profile, an auditor
/// `demo-auditor`, SQLite and blobs in the directory.
pub fn demo(data_dir: &Path) -> Result<Demo, ConfigError> {
    let err = |message: String| ConfigError::Default {
        path: data_dir.to_owned(),
        message,
    };
    std::fs::create_dir_all(data_dir).map_err(|e| err(e.to_string()))?;
    let pki_dir = data_dir.join("demo-pki");
    let pki = if pki_dir.join("root.crl.pem").exists() {
        pki_core::ca::testpki::TestPki { dir: pki_dir }
    } else {
        pki_core::ca::testpki::generate(&pki_dir, &Default::default())
            .map_err(|e| err(e.to_string()))?
    };
    let signer_key_file = data_dir.join("demo-api-key");
    let auditor_key_file = data_dir.join("demo-auditor-key");
    let signer = read_or_make_key(&signer_key_file).map_err(err)?;
    let auditor = read_or_make_key(&auditor_key_file).map_err(err)?;
    let mut keys = BTreeMap::new();
    // The demo's signature and seal images (the visible Decree 30 layouts).
    let signature_png = data_dir.join("demo-signature.png");
    let seal_png = data_dir.join("demo-seal.png");
    for (path, bytes) in [
        (&signature_png, pki_core::pdf::sample::signature_png()),
        (&seal_png, pki_core::pdf::sample::seal_png(36.0)),
    ] {
        if !path.exists() {
            std::fs::write(path, bytes).map_err(|e| err(e.to_string()))?;
        }
    }
    for (name, file, image) in [
        ("officer", "officer-rsa", signature_png),
        ("agency", "agency", seal_png),
    ] {
        keys.insert(
            name.to_string(),
            KeyConfig {
                keyref: format!("file:{}", pki.key(file).display()),
                cert: Some(pki.path(&format!("{file}.chain.pem"))),
                pin_source: None,
                pool_size: 0,
                image: Some(image),
                seal_size_mm: None,
                approval_timeout_secs: None,
                poll_interval_ms: None,
                max_per_approval: None,
            },
        );
    }
    let mut config = Config {
        listen: default_listen(),
        data_dir: data_dir.to_owned(),
        instance: None,
        storage: Storage::default(),
        tsa: None,
        limits: Limits::default(),
        policy: Policy {
            trust: vec![pki.root().display().to_string()],
            ..Policy::default()
        },
        keys,
        audit: AuditConfig::default(),
        tls: None,
        clients: vec![
            ClientConfig {
                name: "demo".into(),
                api_key_sha256: Some(api_key_hash(&signer)),
                client_cert_sha256: vec![],
                role: Role::Signer,
                keys: vec!["officer".into(), "agency".into()],
                profiles: PROFILES.iter().map(|s| s.to_string()).collect(),
                rate_limit: None,
            },
            ClientConfig {
                name: "demo-auditor".into(),
                api_key_sha256: Some(api_key_hash(&auditor)),
                client_cert_sha256: vec![],
                role: Role::Auditor,
                keys: vec![],
                profiles: vec![],
                rate_limit: None,
            },
        ],
    };
    config.storage.retention_days = default_retention();
    config.apply_env();
    config.check()?;
    Ok(Demo {
        config,
        signer_key_file,
        auditor_key_file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, text).unwrap();
        Config::load(&p)
    }

    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn a_minimal_file_gets_the_defaults() {
        let c = load(&format!(
            "data_dir = \"d\"\n[keys.a]\nkeyref = \"file:k.pem\"\ncert = \"c.pem\"\n[[clients]]\nname = \"x\"\napi_key_sha256 = \"{HASH}\"\nkeys = [\"a\"]\nprofiles = [\"agency\"]\n"
        ))
        .unwrap();
        assert!(c.database_url().starts_with("sqlite://"));
        assert!(c.policy.agency_requires_personal);
        assert_eq!(c.limits.max_batch_documents, 10_000);
        assert!(c.keys["a"].cert.as_ref().unwrap().is_absolute());
        assert_eq!(api_key_hash("test"), HASH);
    }

    #[test]
    fn mistakes_are_named() {
        let e = load("data_dir = \"d\"\nlisten_on = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("listen_on"), "{e}");
        let e = load(&format!(
            "data_dir = \"d\"\n[[clients]]\nname = \"x\"\napi_key_sha256 = \"{HASH}\"\nkeys = [\"nope\"]\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("\"nope\", which is not in [keys]"), "{e}");
        let e = load("data_dir = \"d\"\n[[clients]]\nname = \"x\"\napi_key_sha256 = \"secret\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("64 hex digits"), "{e}");
        let e = load(&format!(
            "data_dir = \"d\"\n[keys.a]\nkeyref = \"file:k\"\n[[clients]]\nname = \"x\"\napi_key_sha256 = \"{HASH}\"\nrole = \"auditor\"\nkeys = [\"a\"]\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("auditors do not sign"), "{e}");
    }

    #[test]
    fn client_certificates_need_tls_with_a_client_ca() {
        let e = load("data_dir = \"d\"\n[[clients]]\nname = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("neither api_key_sha256 nor client_cert_sha256"),
            "{e}"
        );
        let cert_client = format!("[[clients]]\nname = \"x\"\nclient_cert_sha256 = [\"{HASH}\"]\n");
        let e = load(&format!("data_dir = \"d\"\n{cert_client}"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs [tls] with client_ca"), "{e}");
        let e = load(&format!(
            "data_dir = \"d\"\n{cert_client}[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("needs [tls] with client_ca"), "{e}");
        let e = load("data_dir = \"d\"\n[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\nclient_auth = \"required\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs tls.client_ca"), "{e}");
        let e = load(
            "data_dir = \"d\"\n[[clients]]\nname = \"x\"\nclient_cert_sha256 = [\"abc\"]\n[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\nclient_ca = \"ca.pem\"\n"
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("64 hex digits"), "{e}");
        // openssl's colon form is accepted, paths are taken from the file's directory.
        let colons = HASH
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap().to_uppercase())
            .collect::<Vec<_>>()
            .join(":");
        let c = load(&format!(
            "data_dir = \"d\"\n[[clients]]\nname = \"x\"\nclient_cert_sha256 = [\"{colons}\"]\n[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\nclient_ca = \"ca.pem\"\n"
        ))
        .unwrap();
        let t = c.tls.unwrap();
        assert!(t.client_ca.unwrap().is_absolute());
        assert_eq!(t.client_auth, ClientAuth::Optional);
        assert_eq!(normalize_fingerprint(&colons), HASH);
    }
}
