//! Fresh PKCS#11 test tokens: SoftHSM2 (one token per test in a temporary directory, selected
//! by `SOFTHSM2_CONF`, which the module reads at C_Initialize — so each test runs in its own
//! process: nextest) and openCryptoki's soft token (one per machine: serialised by a file lock
//! and re-initialised by each test).

use crate::{require_file, require_tool, run, text};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

/// SoftHSM2's module on Debian.
pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// openCryptoki's module on Debian (amd64).
pub const OPENCRYPTOKI_MODULE: &str = "/usr/lib/x86_64-linux-gnu/opencryptoki/libopencryptoki.so.0";
/// The slot of openCryptoki's soft token.
pub const OPENCRYPTOKI_SLOT: u64 = 3;

/// A freshly initialised token with a user PIN.
#[derive(Debug)]
pub struct TestToken {
    /// The PKCS#11 module.
    pub module: PathBuf,
    /// Token label.
    pub label: String,
    /// User PIN.
    pub pin: String,
    /// A file holding the user PIN (for `pin-source=file:`).
    pub pin_file: PathBuf,
    /// Environment the module needs (SOFTHSM2_CONF), to pass to child processes.
    pub env: Vec<(String, String)>,
    /// Scratch directory (kept alive with the token).
    pub dir: tempfile::TempDir,
    _lock: Option<File>,
}

impl TestToken {
    /// `pkcs11:token=LABEL?module-path=...&pin-source=file:...`, with `path_attrs` (like
    /// `object=k`) added to the path part.
    pub fn uri(&self, path_attrs: &str) -> String {
        let mut path = format!("token={}", self.label.replace(' ', "%20"));
        if !path_attrs.is_empty() {
            path.push(';');
            path.push_str(path_attrs);
        }
        format!(
            "pkcs11:{path}?module-path={}&pin-source=file:{}",
            self.module.display(),
            self.pin_file.display()
        )
    }

    /// A `pki` command with the token's environment.
    pub fn pki(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = Command::new(crate::pki_bin());
        cmd.args(args)
            .env("LANG", "C")
            .env_remove("PKI_PKCS11_MODULE");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd.output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", crate::pki_bin().display()))
    }
}

/// A new SoftHSM2 token in a temporary directory; sets `SOFTHSM2_CONF` for this process.
/// `None` (after a loud SKIP) when SoftHSM2 is not installed and not under CI.
pub fn softhsm(label: &str) -> Option<TestToken> {
    static USED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    assert!(
        !USED.swap(true, std::sync::atomic::Ordering::SeqCst),
        "SoftHSM2 reads SOFTHSM2_CONF once per process: run PKCS#11 tests with `cargo nextest` \
         (one process per test), or one test at a time"
    );
    let module = require_file(SOFTHSM_MODULE)?;
    let util = require_tool("softhsm2-util")?;
    let dir = tempfile::tempdir().expect("temp dir");
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).expect("token dir");
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            tokens.display()
        ),
    )
    .expect("write softhsm2.conf");
    let conf_s = conf.display().to_string();
    std::env::set_var("SOFTHSM2_CONF", &conf_s);
    let pin = "246813";
    let o = run(Command::new(util)
        .args([
            "--init-token",
            "--free",
            "--label",
            label,
            "--so-pin",
            "13572468",
            "--pin",
            pin,
        ])
        .env("SOFTHSM2_CONF", &conf_s));
    assert!(
        o.status.success(),
        "softhsm2-util --init-token failed:\n{}",
        text(&o)
    );
    let pin_file = dir.path().join("pin");
    std::fs::write(&pin_file, format!("{pin}\n")).expect("write pin");
    Some(TestToken {
        module,
        label: label.into(),
        pin: pin.into(),
        pin_file,
        env: vec![("SOFTHSM2_CONF".into(), conf_s)],
        dir,
        _lock: None,
    })
}

/// Whether pkcsslotd runs: its pid file names a live process called pkcsslotd (no procps
/// needed on a minimal machine).
fn slotd_running() -> bool {
    std::fs::read_to_string("/var/run/pkcsslotd.pid")
        .ok()
        .and_then(|pid| std::fs::read_to_string(format!("/proc/{}/comm", pid.trim())).ok())
        .is_some_and(|comm| comm.trim() == "pkcsslotd")
}

/// openCryptoki's soft token, re-initialised with `label`, held exclusively until the
/// returned token is dropped. Starts `pkcsslotd` if it is not running (CI runs as root on a
/// fresh machine with no services).
pub fn opencryptoki(label: &str) -> Option<TestToken> {
    let module = require_file(OPENCRYPTOKI_MODULE)?;
    let tool = require_tool("pkcs11-tool")?;
    let slotd = require_file("/usr/sbin/pkcsslotd")?;
    let lock =
        File::create(std::env::temp_dir().join("pki-opencryptoki-test.lock")).expect("lock file");
    lock_exclusive(&lock);
    if !slotd_running() {
        std::fs::create_dir_all("/run/opencryptoki").expect("mkdir /run/opencryptoki");
        let o = run(&mut Command::new(slotd));
        assert!(
            o.status.success(),
            "pkcsslotd failed to start:\n{}",
            text(&o)
        );
        for _ in 0..50 {
            if slotd_running() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    let so_pin = "87654321";
    let pin = "12345678";
    let m = module.display().to_string();
    let slot = OPENCRYPTOKI_SLOT.to_string();
    let init = |tool: &Path| {
        run(Command::new(tool).args([
            "--module",
            &m,
            "--slot",
            &slot,
            "--init-token",
            "--so-pin",
            so_pin,
            "--label",
            label,
        ]))
    };
    let mut o = init(&tool);
    if !o.status.success() {
        // Left behind with another SO PIN: wipe the soft token's store and start over.
        let store = Path::new("/var/lib/opencryptoki/swtok");
        for f in ["NVTOK.DAT", "MK_SO", "MK_USER"] {
            let _ = std::fs::remove_file(store.join(f));
        }
        if let Ok(rd) = std::fs::read_dir(store.join("TOK_OBJ")) {
            for e in rd.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
        o = init(&tool);
    }
    assert!(
        o.status.success(),
        "openCryptoki --init-token failed:\n{}",
        text(&o)
    );
    let o = run(Command::new(&tool).args([
        "--module",
        &m,
        "--slot",
        &slot,
        "--login",
        "--login-type",
        "so",
        "--so-pin",
        so_pin,
        "--init-pin",
        "--pin",
        pin,
    ]));
    assert!(
        o.status.success(),
        "openCryptoki --init-pin failed:\n{}",
        text(&o)
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let pin_file = dir.path().join("pin");
    std::fs::write(&pin_file, format!("{pin}\n")).expect("write pin");
    Some(TestToken {
        module,
        label: label.into(),
        pin: pin.into(),
        pin_file,
        env: Vec::new(),
        dir,
        _lock: Some(lock),
    })
}

#[allow(
    clippy::incompatible_msrv,
    reason = "File::lock; CI and developers run a current toolchain"
)]
fn lock_exclusive(f: &File) {
    f.lock().expect("lock the openCryptoki test lock");
}

/// Verifies `sig` over `msg` with `openssl dgst -<hash> -verify` and the public key `spki_der`
/// (PSS with salt = hash length when `pss`). Returns whether openssl accepted it.
pub fn openssl_verify(spki_der: &[u8], hash: &str, pss: bool, msg: &[u8], sig: &[u8]) -> bool {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = |n: &str| dir.path().join(n);
    std::fs::write(p("pub.der"), spki_der).expect("write key");
    std::fs::write(p("msg"), msg).expect("write msg");
    std::fs::write(p("sig"), sig).expect("write sig");
    let o = run(Command::new("openssl").current_dir(dir.path()).args([
        "pkey", "-pubin", "-inform", "DER", "-in", "pub.der", "-out", "pub.pem",
    ]));
    assert!(o.status.success(), "openssl pkey failed:\n{}", text(&o));
    let mut cmd = Command::new("openssl");
    cmd.current_dir(dir.path()).args([
        "dgst",
        &format!("-{hash}"),
        "-verify",
        "pub.pem",
        "-signature",
        "sig",
    ]);
    if pss {
        cmd.args([
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:digest",
        ]);
    }
    cmd.arg("msg");
    let o = run(&mut cmd);
    o.status.success() && String::from_utf8_lossy(&o.stdout).contains("Verified OK")
}

/// Generates a key labelled `label` on the token (`key_type` as `pki token keygen --type`),
/// has a copy of the fixture's issuing CA issue it a certificate under `profile`, and imports
/// the certificate with its CA next to the key. Returns the certificate's PEM path.
pub fn issue_on_token(
    t: &TestToken,
    key_type: &str,
    label: &str,
    subject: &str,
    profile: &str,
) -> PathBuf {
    let dir = t.dir.path();
    let pin = format!("file:{}", t.pin_file.display());
    let module = t.module.display().to_string();
    let ok = |args: &[&str]| {
        let o = t.pki(args);
        assert_eq!(
            o.status.code(),
            Some(0),
            "pki {args:?}\n{}",
            crate::text(&o)
        );
    };
    let base = [
        "--module",
        module.as_str(),
        "--token",
        t.label.as_str(),
        "--pin-source",
        pin.as_str(),
    ];
    let with = |cmd: &[&str], rest: &[&str]| -> Vec<String> {
        cmd.iter()
            .chain(base.iter())
            .chain(rest.iter())
            .map(|s| s.to_string())
            .collect()
    };
    let run = |args: Vec<String>| ok(&args.iter().map(String::as_str).collect::<Vec<_>>());
    run(with(
        &["token", "keygen"],
        &["--type", key_type, "--label", label],
    ));
    let req = dir.join(format!("{label}.req.pem"));
    run(with(
        &["token", "csr"],
        &[
            "--object",
            label,
            "--subject",
            subject,
            "-o",
            &req.display().to_string(),
        ],
    ));
    let ca = dir.join("ca");
    if !ca.exists() {
        std::fs::create_dir_all(ca.join("issued")).expect("ca dir");
        for f in ["ca.json", "ca.pem", "chain.pem", "ca.key", "index.txt"] {
            std::fs::copy(crate::fixtures().join("pki/issuing").join(f), ca.join(f))
                .expect("copy CA");
        }
    }
    let leaf = dir.join(format!("{label}.pem"));
    ok(&[
        "ca",
        "issue",
        "--ca",
        &ca.display().to_string(),
        "--csr",
        &req.display().to_string(),
        "--profile",
        profile,
        "-o",
        &leaf.display().to_string(),
    ]);
    let chain = dir.join(format!("{label}.chain.pem"));
    let pem = [
        std::fs::read_to_string(&leaf).expect("leaf"),
        std::fs::read_to_string(crate::fixtures().join("pki/issuing.pem")).expect("issuing"),
    ]
    .concat();
    std::fs::write(&chain, pem).expect("chain");
    run(with(
        &["token", "import"],
        &["--cert", &chain.display().to_string()],
    ));
    leaf
}
