//! A complete demo / test PKI in a directory: the layout `fixtures/pki` is generated with, and
//! what `pki demo` creates. Long validity so tests do not rot.
//!
//! ```text
//! root/  issuing/            CA directories (see `dir`)
//! root.pem issuing.pem       the CA certificates
//! NAME.pem NAME.key.pem      each end entity's certificate and PKCS#8 key
//! NAME.chain.pem             the end entity, the issuing CA and the root
//! issuing.crl.pem            a CRL of the issuing CA listing `revoked`
//! root.crl.pem               the root's (empty) CRL
//! ```
//! End entities: `officer-rsa` (RSA-2048), `officer-ec` (P-256), `agency` (RSA-2048,
//! `UID=MST:`), `ocsp` (delegated responder), `tsa` (time stamping), `revoked`, `expired`.

use super::dir::{CaDir, CaDirError, InitOptions};
use super::profile::Profile;
use crate::cert;
use crate::crl::RevocationReason;
use hsm::{KeyKind, Signer, SoftwareKey};
use std::path::{Path, PathBuf};
use time::macros::datetime;
use time::OffsetDateTime;

/// One end entity to create.
struct Leaf {
    name: &'static str,
    subject: &'static str,
    kind: KeyKind,
    profile: Profile,
    expired: bool,
}

const LEAVES: &[Leaf] = &[
    Leaf {
        name: "officer-rsa",
        subject: "CN=Nguyễn Văn An,T=Giám đốc,UID=CCCD:001099012345,OU=Sở Tư pháp,O=Ủy ban nhân dân tỉnh Bắc Ninh,L=Bắc Ninh,C=VN",
        kind: KeyKind::Rsa { bits: 2048 },
        profile: Profile::Personal,
        expired: false,
    },
    Leaf {
        name: "officer-ec",
        subject: "CN=Trần Thị Bình,T=Phó Giám đốc,UID=CCCD:001199054321,OU=Sở Tài chính,O=Ủy ban nhân dân tỉnh Bắc Ninh,L=Bắc Ninh,C=VN",
        kind: KeyKind::EcP256,
        profile: Profile::Personal,
        expired: false,
    },
    Leaf {
        name: "agency",
        subject: "CN=Ủy ban nhân dân tỉnh Bắc Ninh,UID=MST:2300227450,O=Ủy ban nhân dân tỉnh Bắc Ninh,L=Bắc Ninh,C=VN",
        kind: KeyKind::Rsa { bits: 2048 },
        profile: Profile::Agency,
        expired: false,
    },
    Leaf {
        name: "ocsp",
        subject: "CN=Dịch vụ OCSP thử nghiệm,O=PKI thử nghiệm,C=VN",
        kind: KeyKind::EcP256,
        profile: Profile::Ocsp,
        expired: false,
    },
    Leaf {
        name: "tsa",
        subject: "CN=Dịch vụ cấp dấu thời gian thử nghiệm,O=PKI thử nghiệm,C=VN",
        kind: KeyKind::Rsa { bits: 2048 },
        profile: Profile::Tsa,
        expired: false,
    },
    Leaf {
        name: "revoked",
        subject: "CN=Lê Văn Cường,UID=CCCD:001088011111,O=Ủy ban nhân dân tỉnh Bắc Ninh,C=VN",
        kind: KeyKind::EcP256,
        profile: Profile::Personal,
        expired: false,
    },
    Leaf {
        name: "expired",
        subject: "CN=Phạm Thị Dung,UID=CCCD:001077022222,O=Ủy ban nhân dân tỉnh Bắc Ninh,C=VN",
        kind: KeyKind::EcP256,
        profile: Profile::Personal,
        expired: true,
    },
];

/// Where the pieces of a generated PKI are.
#[derive(Clone, Debug)]
pub struct TestPki {
    /// The directory.
    pub dir: PathBuf,
}

impl TestPki {
    /// A path inside the PKI directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    /// `NAME.pem`.
    pub fn cert(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.pem"))
    }
    /// `NAME.key.pem`.
    pub fn key(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.key.pem"))
    }
    /// The root certificate.
    pub fn root(&self) -> PathBuf {
        self.dir.join("root.pem")
    }
    /// The issuing CA certificate.
    pub fn issuing(&self) -> PathBuf {
        self.dir.join("issuing.pem")
    }
}

/// URLs put into the generated certificates (tests that serve OCSP/CRL make their own PKI with
/// their own URLs).
#[derive(Clone, Debug, Default)]
pub struct Urls {
    /// OCSP responder.
    pub ocsp: Option<String>,
    /// CRL of the issuing CA.
    pub crl: Option<String>,
}

/// Generates the PKI in `dir` (which must not contain one).
pub fn generate(dir: &Path, urls: &Urls) -> Result<TestPki, CaDirError> {
    std::fs::create_dir_all(dir).map_err(|source| CaDirError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let root = CaDir::init(
        &dir.join("root"),
        &InitOptions {
            subject: "CN=Root CA thử nghiệm,O=PKI thử nghiệm,C=VN".into(),
            key_kind: KeyKind::Rsa { bits: 3072 },
            not_before: datetime!(2019-01-01 00:00 UTC),
            not_after: datetime!(2059-01-01 00:00 UTC),
            path_len: Some(1),
            ocsp_url: None,
            crl_url: None,
            ca_issuers_url: None,
        },
        None,
    )?;
    let mut issuing = CaDir::init(
        &dir.join("issuing"),
        &InitOptions {
            subject: "CN=CA cấp phát thử nghiệm,O=PKI thử nghiệm,C=VN".into(),
            key_kind: KeyKind::Rsa { bits: 2048 },
            not_before: datetime!(2019-01-01 00:00 UTC),
            not_after: datetime!(2054-01-01 00:00 UTC),
            path_len: Some(0),
            ocsp_url: urls.ocsp.clone(),
            crl_url: urls.crl.clone(),
            ca_issuers_url: None,
        },
        Some(&root),
    )?;
    let write = |name: &str, data: &[u8], private: bool| {
        super::dir::write_atomic(&dir.join(name), data, private)
    };
    write(
        "root.pem",
        cert::pem_encode("CERTIFICATE", root.certificate().der()).as_bytes(),
        false,
    )?;
    write(
        "issuing.pem",
        cert::pem_encode("CERTIFICATE", issuing.certificate().der()).as_bytes(),
        false,
    )?;
    let mut revoked_serial = None;
    for leaf in LEAVES {
        let (key, pkcs8) = SoftwareKey::generate(leaf.kind)?;
        let (nb, na) = if leaf.expired {
            (
                datetime!(2020-01-01 00:00 UTC),
                datetime!(2021-01-01 00:00 UTC),
            )
        } else {
            (
                datetime!(2025-01-01 00:00 UTC),
                datetime!(2050-01-01 00:00 UTC),
            )
        };
        let subject =
            crate::name::parse_dn(leaf.subject).map_err(|e| CaDirError::Config(e.to_string()))?;
        let c = issuing.issue(
            leaf.profile,
            &subject,
            key.public_key_der(),
            nb,
            na,
            Vec::new(),
        )?;
        write(
            &format!("{}.pem", leaf.name),
            cert::pem_encode("CERTIFICATE", c.der()).as_bytes(),
            false,
        )?;
        write(
            &format!("{}.key.pem", leaf.name),
            cert::pem_encode("PRIVATE KEY", &pkcs8).as_bytes(),
            true,
        )?;
        let chain: String = [
            c.der(),
            issuing.certificate().der(),
            root.certificate().der(),
        ]
        .iter()
        .map(|d| cert::pem_encode("CERTIFICATE", d))
        .collect();
        write(&format!("{}.chain.pem", leaf.name), chain.as_bytes(), false)?;
        if leaf.name == "revoked" {
            revoked_serial = Some(c.serial_hex());
        }
    }
    if let Some(s) = revoked_serial {
        issuing.revoke(
            &s,
            Some(RevocationReason::KeyCompromise),
            datetime!(2025-06-01 00:00 UTC),
        )?;
    }
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::now_utc());
    let crl = issuing.issue_crl(
        now - time::Duration::hours(1),
        Some(datetime!(2049-12-31 00:00 UTC)),
    )?;
    write(
        "issuing.crl.pem",
        cert::pem_encode("X509 CRL", &crl).as_bytes(),
        false,
    )?;
    let mut root = root;
    let crl = root.issue_crl(
        now - time::Duration::hours(1),
        Some(datetime!(2049-12-31 00:00 UTC)),
    )?;
    write(
        "root.crl.pem",
        cert::pem_encode("X509 CRL", &crl).as_bytes(),
        false,
    )?;
    Ok(TestPki {
        dir: dir.to_owned(),
    })
}
