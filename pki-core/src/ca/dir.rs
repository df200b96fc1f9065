//! A CA directory: the CA's certificate, key and configuration, the certificates it issued and
//! an openssl-compatible `index.txt` (so `openssl ocsp -index` and `openssl ca` read it too).
//!
//! ```text
//! DIR/ca.json       configuration (subject, key reference, URLs, next CRL number)
//! DIR/ca.pem        the CA certificate;  DIR/chain.pem  the CA certificate and its issuers
//! DIR/ca.key        the CA's private key (PKCS#8 PEM, mode 0600) when it is a software key
//! DIR/index.txt     V|R <tab> expiry <tab> revocation[,reason] <tab> SERIAL <tab> unknown <tab> /subject
//! DIR/issued/SERIAL.pem, DIR/crl.pem, DIR/crl.der
//! ```
//! Every file is written to a temporary file and renamed, so a crash leaves the old or the new
//! version, never half of one.

use super::builder::{self, build_crl, BuildError, CertBuilder, CrlEntryBuild};
use super::profile::Profile;
use crate::cert::{self, CertError, Certificate};
use crate::crl::RevocationReason;
use hsm::{KeyKind, Signer, SoftwareKey};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

/// Configuration stored in `ca.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CaConfig {
    /// Key reference (a path relative to the directory for software keys).
    pub key: String,
    /// OCSP responder URL to put in issued certificates.
    #[serde(default)]
    pub ocsp_url: Option<String>,
    /// CRL URL to put in issued certificates.
    #[serde(default)]
    pub crl_url: Option<String>,
    /// caIssuers URL to put in issued certificates.
    #[serde(default)]
    pub ca_issuers_url: Option<String>,
    /// The next cRLNumber.
    pub next_crl_number: u64,
    /// How long a CRL is valid, in hours.
    #[serde(default = "default_crl_hours")]
    pub crl_validity_hours: u32,
}

fn default_crl_hours() -> u32 {
    24 * 7
}

/// CA directory errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaDirError {
    /// File I/O.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not a CA directory.
    #[error("{0} is not a CA directory (no ca.json); create one with `pki ca init`")]
    NotACaDir(PathBuf),
    /// Already initialised.
    #[error("{0} already holds a CA; choose an empty directory")]
    AlreadyExists(PathBuf),
    /// Bad configuration.
    #[error("ca.json is invalid: {0}")]
    Config(String),
    /// A certificate in the directory is unreadable.
    #[error("{path}: {source}")]
    Cert {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: CertError,
    },
    /// The key could not be loaded.
    #[error("the CA key could not be loaded: {0}")]
    Key(#[from] hsm::Error),
    /// Building failed.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// Unknown serial.
    #[error("no certificate with serial {0} was issued by this CA")]
    UnknownSerial(String),
    /// Already revoked.
    #[error("certificate {0} is already revoked")]
    AlreadyRevoked(String),
    /// The CA key does not match the CA certificate.
    #[error("the CA key does not match the CA certificate")]
    KeyMismatch,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CaDirError + '_ {
    move |source| CaDirError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Status of an issued certificate in `index.txt`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexStatus {
    /// Valid (not revoked).
    Valid,
    /// Revoked at the time, for the reason.
    Revoked {
        /// Revocation time.
        at: OffsetDateTime,
        /// Reason, when recorded.
        reason: Option<RevocationReason>,
    },
}

/// One line of `index.txt`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// Status.
    pub status: IndexStatus,
    /// notAfter.
    pub expires: OffsetDateTime,
    /// Serial, uppercase hex as openssl writes it.
    pub serial: String,
    /// Subject in openssl's `/C=VN/O=.../CN=...` form.
    pub subject: String,
}

impl IndexEntry {
    fn to_line(&self) -> String {
        let (flag, rev) = match self.status {
            IndexStatus::Valid => ("V", String::new()),
            IndexStatus::Revoked { at, reason } => (
                "R",
                match reason {
                    Some(r) => format!("{},{}", index_time(at), r.name()),
                    None => index_time(at),
                },
            ),
        };
        format!(
            "{flag}\t{}\t{rev}\t{}\tunknown\t{}\n",
            index_time(self.expires),
            self.serial,
            self.subject
        )
    }

    /// Parses one line.
    pub fn parse_line(line: &str) -> Option<Self> {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 6 {
            return None;
        }
        let expires = parse_index_time(f[1])?;
        let status = match f[0] {
            "V" | "E" => IndexStatus::Valid,
            "R" => {
                let (t, reason) = f[2].split_once(',').unwrap_or((f[2], ""));
                IndexStatus::Revoked {
                    at: parse_index_time(t)?,
                    reason: RevocationReason::from_name(reason),
                }
            }
            _ => return None,
        };
        Some(Self {
            status,
            expires,
            serial: f[3].to_ascii_uppercase(),
            subject: f[5].to_owned(),
        })
    }
}

fn index_time(t: OffsetDateTime) -> String {
    let der = builder::encode_time(t);
    String::from_utf8_lossy(&der[2..]).into_owned()
}

fn parse_index_time(s: &str) -> Option<OffsetDateTime> {
    let tag = if s.len() == 13 { 0x17 } else { 0x18 };
    let mut der = vec![tag, s.len() as u8];
    der.extend_from_slice(s.as_bytes());
    let t = crate::asn1::single(&der, false, false).ok()?;
    cert::parse_time(&t)
}

/// Uppercase hex of a serial's magnitude, as openssl's index uses.
pub fn index_serial(serial_content: &[u8]) -> String {
    cert::serial_hex(serial_content).to_ascii_uppercase()
}

fn openssl_subject(c: &Certificate) -> String {
    let mut s = String::new();
    for rdn in &c.subject().rdns {
        for a in rdn {
            s.push('/');
            s.push_str(&crate::name::short_name(&a.oid));
            s.push('=');
            s.push_str(&a.value.replace('/', "\\/"));
        }
    }
    s
}

/// Writes `data` to `path` atomically (temporary file in the same directory, then rename).
pub fn write_atomic(path: &Path, data: &[u8], private: bool) -> Result<(), CaDirError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if private {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        let mut f = opts.open(&tmp).map_err(io(&tmp))?;
        f.write_all(data).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
    }
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// An opened CA directory.
#[derive(Debug)]
pub struct CaDir {
    dir: PathBuf,
    config: CaConfig,
    cert: Certificate,
    chain: Vec<Certificate>,
    key: Box<dyn Signer>,
}

/// What `pki ca init` needs.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// Subject DN as typed (`CN=...,O=...,C=VN`).
    pub subject: String,
    /// Key to generate.
    pub key_kind: KeyKind,
    /// notBefore.
    pub not_before: OffsetDateTime,
    /// notAfter.
    pub not_after: OffsetDateTime,
    /// pathLenConstraint of the CA certificate.
    pub path_len: Option<u8>,
    /// URLs to put in the certificates this CA issues.
    pub ocsp_url: Option<String>,
    /// CRL URL.
    pub crl_url: Option<String>,
    /// caIssuers URL.
    pub ca_issuers_url: Option<String>,
}

impl CaDir {
    /// Creates a CA in `dir` (which must not hold one): generates a software key and a
    /// self-signed certificate, or one issued by `parent` (a subordinate CA).
    pub fn init(
        dir: &Path,
        opts: &InitOptions,
        parent: Option<&CaDir>,
    ) -> Result<Self, CaDirError> {
        if dir.join("ca.json").exists() {
            return Err(CaDirError::AlreadyExists(dir.to_owned()));
        }
        std::fs::create_dir_all(dir.join("issued")).map_err(io(dir))?;
        let subject =
            crate::name::parse_dn(&opts.subject).map_err(|e| CaDirError::Config(e.to_string()))?;
        let (key, pkcs8) = SoftwareKey::generate(opts.key_kind)?;
        let (cert, chain) = match parent {
            None => {
                let mut b = CertBuilder::new(
                    &subject,
                    &subject,
                    key.public_key_der(),
                    key.public_key_der(),
                    opts.not_before,
                    opts.not_after,
                );
                // A root carries no AKI pointing elsewhere; keep SKI only.
                b.extensions.retain(|e| e.oid != crate::oid::EXT_AKI);
                for e in (Profile::SubCa {
                    path_len: opts.path_len,
                })
                .extensions(None, None, None)
                {
                    b = b.ext(e);
                }
                let c = b.sign(&key, builder::default_algorithm(&key)?)?;
                (c.clone(), vec![c])
            }
            Some(p) => {
                let c = p.issue(
                    Profile::SubCa {
                        path_len: opts.path_len,
                    },
                    &subject,
                    key.public_key_der(),
                    opts.not_before,
                    opts.not_after,
                    Vec::new(),
                )?;
                let mut chain = vec![c.clone()];
                chain.extend(p.chain.iter().cloned());
                (c, chain)
            }
        };
        let key_pem = cert::pem_encode("PRIVATE KEY", &pkcs8);
        write_atomic(&dir.join("ca.key"), key_pem.as_bytes(), true)?;
        write_atomic(
            &dir.join("ca.pem"),
            cert::pem_encode("CERTIFICATE", cert.der()).as_bytes(),
            false,
        )?;
        let chain_pem: String = chain
            .iter()
            .map(|c| cert::pem_encode("CERTIFICATE", c.der()))
            .collect();
        write_atomic(&dir.join("chain.pem"), chain_pem.as_bytes(), false)?;
        if !dir.join("index.txt").exists() {
            write_atomic(&dir.join("index.txt"), b"", false)?;
        }
        write_atomic(&dir.join("index.txt.attr"), b"unique_subject = no\n", false)?;
        let config = CaConfig {
            key: "ca.key".into(),
            ocsp_url: opts.ocsp_url.clone(),
            crl_url: opts.crl_url.clone(),
            ca_issuers_url: opts.ca_issuers_url.clone(),
            next_crl_number: 1,
            crl_validity_hours: default_crl_hours(),
        };
        let ca = Self {
            dir: dir.to_owned(),
            config,
            cert,
            chain,
            key: Box::new(key),
        };
        ca.save_config()?;
        Ok(ca)
    }

    fn save_config(&self) -> Result<(), CaDirError> {
        let s = serde_json::to_string_pretty(&self.config)
            .map_err(|e| CaDirError::Config(e.to_string()))?;
        write_atomic(&self.dir.join("ca.json"), s.as_bytes(), false)
    }

    /// Opens an existing CA directory.
    pub fn open(dir: &Path) -> Result<Self, CaDirError> {
        let cfg_path = dir.join("ca.json");
        if !cfg_path.exists() {
            return Err(CaDirError::NotACaDir(dir.to_owned()));
        }
        let text = std::fs::read_to_string(&cfg_path).map_err(io(&cfg_path))?;
        let config: CaConfig =
            serde_json::from_str(&text).map_err(|e| CaDirError::Config(e.to_string()))?;
        let read_certs = |name: &str| -> Result<Vec<Certificate>, CaDirError> {
            let p = dir.join(name);
            let data = std::fs::read(&p).map_err(io(&p))?;
            cert::parse_certificates(&data).map_err(|source| CaDirError::Cert { path: p, source })
        };
        let cert = read_certs("ca.pem")?
            .into_iter()
            .next()
            .ok_or_else(|| CaDirError::Config("ca.pem holds no certificate".into()))?;
        let chain = read_certs("chain.pem").unwrap_or_else(|_| vec![cert.clone()]);
        let key_path = dir.join(&config.key);
        let pem = std::fs::read_to_string(&key_path).map_err(io(&key_path))?;
        let key = SoftwareKey::from_pem(&pem, &key_path.display().to_string())?;
        if key.public_key_der() != cert.spki() {
            return Err(CaDirError::KeyMismatch);
        }
        Ok(Self {
            dir: dir.to_owned(),
            config,
            cert,
            chain,
            key: Box::new(key),
        })
    }

    /// The CA certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.cert
    }
    /// The CA certificate and its issuers.
    pub fn chain(&self) -> &[Certificate] {
        &self.chain
    }
    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }
    /// The configuration.
    pub fn config(&self) -> &CaConfig {
        &self.config
    }
    /// The CA's signing key.
    pub fn signer(&self) -> &dyn Signer {
        self.key.as_ref()
    }

    /// Issues a certificate for `spki` with `subject` (DER) under `profile`, plus `extra`
    /// extensions; records it in `index.txt` and `issued/`.
    pub fn issue(
        &self,
        profile: Profile,
        subject: &[u8],
        spki: &[u8],
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
        extra: Vec<builder::Ext>,
    ) -> Result<Certificate, CaDirError> {
        let not_after = not_after.min(self.cert.not_after());
        let mut b = CertBuilder::new(
            self.cert.subject_der(),
            subject,
            spki,
            self.cert.spki(),
            not_before,
            not_after,
        );
        let c = &self.config;
        for e in profile.extensions(
            c.ocsp_url.as_deref(),
            c.crl_url.as_deref(),
            c.ca_issuers_url.as_deref(),
        ) {
            b = b.ext(e);
        }
        for e in extra {
            b.extensions.retain(|x| x.oid != e.oid);
            b = b.ext(e);
        }
        let cert = b.sign(
            self.key.as_ref(),
            builder::default_algorithm(self.key.as_ref())?,
        )?;
        let serial = index_serial(cert.serial());
        write_atomic(
            &self.dir.join("issued").join(format!("{serial}.pem")),
            cert::pem_encode("CERTIFICATE", cert.der()).as_bytes(),
            false,
        )?;
        let mut index = self.read_index_text()?;
        index.push_str(
            &IndexEntry {
                status: IndexStatus::Valid,
                expires: cert.not_after(),
                serial,
                subject: openssl_subject(&cert),
            }
            .to_line(),
        );
        write_atomic(&self.dir.join("index.txt"), index.as_bytes(), false)?;
        Ok(cert)
    }

    fn read_index_text(&self) -> Result<String, CaDirError> {
        let p = self.dir.join("index.txt");
        match std::fs::read_to_string(&p) {
            Ok(s) => Ok(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(io(&p)(e)),
        }
    }

    /// The entries of `index.txt`.
    pub fn index(&self) -> Result<Vec<IndexEntry>, CaDirError> {
        Ok(self
            .read_index_text()?
            .lines()
            .filter_map(IndexEntry::parse_line)
            .collect())
    }

    /// Revokes the certificate with serial `serial_hex` (any case, with or without a leading
    /// `0x`/zero byte).
    pub fn revoke(
        &self,
        serial_hex: &str,
        reason: Option<RevocationReason>,
        at: OffsetDateTime,
    ) -> Result<(), CaDirError> {
        let want = normalize_serial(serial_hex);
        let text = self.read_index_text()?;
        let mut found = false;
        let mut out = String::with_capacity(text.len() + 40);
        for line in text.lines() {
            match IndexEntry::parse_line(line) {
                Some(mut e) if normalize_serial(&e.serial) == want => {
                    if matches!(e.status, IndexStatus::Revoked { .. }) {
                        return Err(CaDirError::AlreadyRevoked(e.serial));
                    }
                    e.status = IndexStatus::Revoked { at, reason };
                    out.push_str(&e.to_line());
                    found = true;
                }
                _ => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        if !found {
            return Err(CaDirError::UnknownSerial(serial_hex.to_owned()));
        }
        write_atomic(&self.dir.join("index.txt"), out.as_bytes(), false)
    }

    /// Issues a CRL listing every revoked certificate, writes `crl.der` and `crl.pem`, and
    /// returns the DER.
    pub fn issue_crl(
        &mut self,
        this_update: OffsetDateTime,
        next_update: Option<OffsetDateTime>,
    ) -> Result<Vec<u8>, CaDirError> {
        let next_update = next_update
            .unwrap_or(this_update + time::Duration::hours(self.config.crl_validity_hours as i64));
        let entries: Vec<CrlEntryBuild> = self
            .index()?
            .into_iter()
            .filter_map(|e| match e.status {
                IndexStatus::Revoked { at, reason } => Some(CrlEntryBuild {
                    serial: hex::decode(&e.serial).ok()?,
                    revoked_at: at,
                    reason,
                }),
                IndexStatus::Valid => None,
            })
            .collect();
        let number = self.config.next_crl_number;
        let der = build_crl(
            &self.cert,
            self.key.as_ref(),
            builder::default_algorithm(self.key.as_ref())?,
            this_update,
            Some(next_update),
            number,
            &entries,
        )?;
        self.config.next_crl_number += 1;
        self.save_config()?;
        write_atomic(&self.dir.join("crl.der"), &der, false)?;
        write_atomic(
            &self.dir.join("crl.pem"),
            cert::pem_encode("X509 CRL", &der).as_bytes(),
            false,
        )?;
        Ok(der)
    }

    /// The status of serial `serial_hex` according to `index.txt` (`None`: not issued here).
    pub fn status(&self, serial_hex: &str) -> Result<Option<IndexStatus>, CaDirError> {
        let want = normalize_serial(serial_hex);
        Ok(self
            .index()?
            .into_iter()
            .find(|e| normalize_serial(&e.serial) == want)
            .map(|e| e.status))
    }
}

/// Normalises a user-typed serial: hex digits only, lowercase, no leading zeros.
pub fn normalize_serial(s: &str) -> String {
    let s = s.trim().trim_start_matches("0x").trim_start_matches("0X");
    let h: String = s
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let t = h.trim_start_matches('0');
    if t.is_empty() {
        "0".into()
    } else {
        t.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(subject: &str) -> InitOptions {
        let now = OffsetDateTime::now_utc();
        InitOptions {
            subject: subject.into(),
            key_kind: KeyKind::EcP256,
            not_before: now - time::Duration::days(1),
            not_after: now + time::Duration::days(365),
            path_len: Some(0),
            ocsp_url: Some("http://127.0.0.1:1/ocsp".into()),
            crl_url: Some("http://127.0.0.1:1/ca.crl".into()),
            ca_issuers_url: None,
        }
    }

    #[test]
    fn init_issue_revoke_crl() {
        let tmp = tempfile::tempdir().unwrap();
        let root = CaDir::init(&tmp.path().join("root"), &opts("CN=Root,C=VN"), None).unwrap();
        let mut sub =
            CaDir::init(&tmp.path().join("sub"), &opts("CN=Sub,C=VN"), Some(&root)).unwrap();
        assert_eq!(sub.chain().len(), 2);
        let (k, _) = SoftwareKey::generate(KeyKind::EcP256).unwrap();
        let now = OffsetDateTime::now_utc();
        let subject = crate::name::parse_dn("CN=Nguyễn Văn An,C=VN").unwrap();
        let c = sub
            .issue(
                Profile::Personal,
                &subject,
                k.public_key_der(),
                now,
                now + time::Duration::days(30),
                vec![],
            )
            .unwrap();
        assert_eq!(
            c.extensions().ocsp_urls,
            vec!["http://127.0.0.1:1/ocsp".to_string()]
        );
        let serial = c.serial_hex();
        assert_eq!(sub.status(&serial).unwrap(), Some(IndexStatus::Valid));
        sub.revoke(&serial, Some(RevocationReason::KeyCompromise), now)
            .unwrap();
        assert!(matches!(
            sub.revoke(&serial, None, now),
            Err(CaDirError::AlreadyRevoked(_))
        ));
        assert!(matches!(
            sub.revoke("abcdef", None, now),
            Err(CaDirError::UnknownSerial(_))
        ));
        let der = sub.issue_crl(now, None).unwrap();
        let crl = crate::crl::Crl::parse(&der).unwrap();
        assert_eq!(
            crl.lookup(c.serial()).unwrap().reason,
            Some(RevocationReason::KeyCompromise)
        );
        crl.verify_issuer(sub.certificate(), &Default::default())
            .unwrap();
        // Re-open from disk.
        let again = CaDir::open(&tmp.path().join("sub")).unwrap();
        assert_eq!(again.config().next_crl_number, 2);
        assert!(matches!(
            again.status(&serial).unwrap(),
            Some(IndexStatus::Revoked { .. })
        ));
    }
}
