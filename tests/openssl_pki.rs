//! A small PKI made with the openssl command line in a test's temporary directory, for the
//! cases the checked-in fixtures do not cover (an ECDSA TSA, a TSA certificate whose
//! timeStamping extended key usage is not critical).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Extension sections for `openssl x509 -extfile`.
const EXTENSIONS: &str = "\
[req]
distinguished_name=dn
[dn]
[v3root]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
[tsa_critical]
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=critical,timeStamping
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[signer]
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,nonRepudiation
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[tsa_noncritical]
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=timeStamping
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
";

fn openssl(openssl: &Path, dir: &Path, args: &[&str]) {
    let o = Command::new(openssl)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        o.status.success(),
        "openssl {args:?} failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The files of a small PKI.
#[derive(Debug)]
#[allow(
    dead_code,
    reason = "not every test file that includes this module uses every field"
)]
pub struct MiniPki {
    /// Root CA certificate (PEM).
    pub root: PathBuf,
    /// TSA certificate (PEM).
    pub tsa: PathBuf,
    /// TSA key (PEM, PKCS#8).
    pub tsa_key: PathBuf,
}

/// Makes a root CA (RSA) and a TSA certificate in `dir`. `ec` picks a P-256 TSA key;
/// `critical` whether the timeStamping extended key usage is marked critical.
pub fn mini_pki(openssl_bin: &Path, dir: &Path, ec: bool, critical: bool) -> MiniPki {
    std::fs::create_dir_all(dir).expect("create the PKI directory");
    std::fs::write(dir.join("ext.cnf"), EXTENSIONS).expect("write ext.cnf");
    openssl(
        openssl_bin,
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "root.key",
            "-out",
            "root.pem",
            "-subj",
            "/C=VN/O=Test/CN=Test Root",
            "-days",
            "3650",
            "-config",
            "ext.cnf",
            "-extensions",
            "v3root",
        ],
    );
    let newkey = if ec { "ec" } else { "rsa:2048" };
    let mut args = vec!["req", "-new", "-newkey", newkey];
    if ec {
        args.extend(["-pkeyopt", "ec_paramgen_curve:P-256"]);
    }
    args.extend([
        "-nodes",
        "-keyout",
        "tsa.key",
        "-out",
        "tsa.csr",
        "-subj",
        "/C=VN/O=Test/CN=Test TSA",
        "-config",
        "ext.cnf",
    ]);
    openssl(openssl_bin, dir, &args);
    let section = if critical {
        "tsa_critical"
    } else {
        "tsa_noncritical"
    };
    openssl(
        openssl_bin,
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "tsa.csr",
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-set_serial",
            "4660",
            "-out",
            "tsa.pem",
            "-days",
            "365",
            "-extfile",
            "ext.cnf",
            "-extensions",
            section,
        ],
    );
    MiniPki {
        root: dir.join("root.pem"),
        tsa: dir.join("tsa.pem"),
        tsa_key: dir.join("tsa.key"),
    }
}

/// Issues a document signer certificate from the root of a [`mini_pki`] in `dir`, with a key
/// made by `openssl genpkey` with `genpkey_args` (e.g. `["-algorithm", "ED25519"]`). Returns
/// the certificate and key paths.
#[allow(
    dead_code,
    reason = "used by some of the test files that include this module"
)]
pub fn signer(
    openssl_bin: &Path,
    dir: &Path,
    name: &str,
    genpkey_args: &[&str],
) -> (PathBuf, PathBuf) {
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    let cert = format!("{name}.pem");
    let mut args = vec!["genpkey"];
    args.extend_from_slice(genpkey_args);
    args.extend(["-out", &key]);
    openssl(openssl_bin, dir, &args);
    let subj = format!("/C=VN/O=Test/CN={name}");
    openssl(
        openssl_bin,
        dir,
        &[
            "req", "-new", "-key", &key, "-out", &csr, "-subj", &subj, "-config", "ext.cnf",
        ],
    );
    openssl(
        openssl_bin,
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "root.pem",
            "-CAkey",
            "root.key",
            "-set_serial",
            "4661",
            "-out",
            &cert,
            "-days",
            "365",
            "-extfile",
            "ext.cnf",
            "-extensions",
            "signer",
        ],
    );
    (dir.join(cert), dir.join(key))
}
