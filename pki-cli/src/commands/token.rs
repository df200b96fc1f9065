//! `pki token list|objects|keygen|csr|import`: the officer's token workflow over PKCS#11.
//!
//! PINs come from `--pin-source file:PATH` (or the URI's `pin-source=`), else from a hidden
//! prompt on the terminal; never from the command line.

use crate::args::EXIT_CODES;
use crate::error::{CliError, CmdResult, Exit};
use crate::output::Lang;
use hsm::keyref::Pkcs11Uri;
use hsm::pin::{NoPrompt, PinPrompt, PinRequest};
use hsm::pkcs11::{
    admin, module_for, objects, open_logged_in, pct_encode, pct_encode_bytes, Module, PinSupply,
    Pkcs11Signer, TokenSummary,
};
use hsm::{HashAlgorithm, KeyKind, SecretString, SignatureAlgorithm, Signer};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Arguments of `pki token`.
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_CODES)]
pub struct TokenArgs {
    /// What to do with the token.
    #[command(subcommand)]
    pub command: Box<TokenCommand>,
}

/// The `pki token` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// List PKCS#11 modules, their slots and tokens, with the token flags.
    #[command(after_help = EXIT_CODES)]
    List(ListArgs),
    /// List the objects (keys, certificates) on a token.
    #[command(after_help = EXIT_CODES)]
    Objects(ObjectsArgs),
    /// Generate a key pair on the token (never extractable).
    #[command(after_help = EXIT_CODES)]
    Keygen(KeygenArgs),
    /// Make a PKCS#10 certificate request signed by a key on the token.
    #[command(after_help = EXIT_CODES)]
    Csr(CsrArgs),
    /// Store an issued certificate on the token next to its key (same CKA_ID).
    #[command(after_help = EXIT_CODES)]
    Import(ImportArgs),
}

/// Which token, and how to log in.
#[derive(Debug, Clone, clap::Args)]
pub struct TokenSelect {
    /// The PKCS#11 module (vendor library) to load.
    #[arg(long, env = "PKI_PKCS11_MODULE", value_name = "PATH")]
    pub module: Option<PathBuf>,
    /// Select the token (and key) by RFC 7512 URI, e.g. "pkcs11:token=Agency%20HSM;object=sign-key".
    #[arg(long, value_name = "PKCS11-URI")]
    pub uri: Option<String>,
    /// Token label.
    #[arg(long, value_name = "LABEL")]
    pub token: Option<String>,
    /// Token serial number.
    #[arg(long, value_name = "SERIAL")]
    pub serial: Option<String>,
    /// Slot ID.
    #[arg(long, value_name = "N")]
    pub slot_id: Option<u64>,
    /// Where to read the PIN: file:PATH (first line). Without it, the PIN is asked for on the terminal.
    #[arg(long, value_name = "file:PATH")]
    pub pin_source: Option<String>,
}

/// Arguments of `pki token list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Modules to list (default: PKI_PKCS11_MODULE, else the well-known modules installed here).
    #[arg(long, value_name = "PATH")]
    pub module: Vec<PathBuf>,
}

/// Arguments of `pki token objects`.
#[derive(Debug, clap::Args)]
pub struct ObjectsArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub select: TokenSelect,
    /// List only public objects, without logging in.
    #[arg(long)]
    pub no_login: bool,
}

/// Key types `pki token keygen` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KeyType {
    /// RSA 2048.
    Rsa2048,
    /// RSA 3072.
    Rsa3072,
    /// ECDSA P-256.
    P256,
    /// ECDSA P-384.
    P384,
    /// Ed25519 (where the token has CKM_EC_EDWARDS_KEY_PAIR_GEN).
    Ed25519,
}

impl KeyType {
    fn kind(self) -> KeyKind {
        match self {
            Self::Rsa2048 => KeyKind::Rsa { bits: 2048 },
            Self::Rsa3072 => KeyKind::Rsa { bits: 3072 },
            Self::P256 => KeyKind::EcP256,
            Self::P384 => KeyKind::EcP384,
            Self::Ed25519 => KeyKind::Ed25519,
        }
    }
}

/// Arguments of `pki token keygen`.
#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub select: TokenSelect,
    /// Key type.
    #[arg(long = "type", value_enum, default_value = "rsa2048")]
    pub key_type: KeyType,
    /// CKA_LABEL of the new key.
    #[arg(long)]
    pub label: String,
    /// CKA_ID in hex (default: 20 random bytes).
    #[arg(long, value_name = "HEX")]
    pub id: Option<String>,
}

/// Arguments of `pki token csr`.
#[derive(Debug, clap::Args)]
pub struct CsrArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub select: TokenSelect,
    /// CKA_LABEL of the key.
    #[arg(long, value_name = "LABEL")]
    pub object: Option<String>,
    /// CKA_ID of the key, hex.
    #[arg(long, value_name = "HEX")]
    pub id: Option<String>,
    /// Subject, most specific first: "CN=Nguyễn Văn An,UID=CCCD:001099012345,O=Sở Tư pháp,L=Hà Nội,C=VN".
    #[arg(long)]
    pub subject: String,
    /// Digest (default: the key's preferred one).
    #[arg(long, value_enum)]
    pub hash: Option<Hash>,
    /// RSASSA-PSS instead of PKCS#1 v1.5 (RSA keys).
    #[arg(long)]
    pub pss: bool,
    /// Write the request here (PEM) instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Digests for `--hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Hash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

/// Arguments of `pki token import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub select: TokenSelect,
    /// The certificate (PEM or DER). Further certificates in a PEM file (the CA chain) are
    /// stored too, each with its own label and id.
    #[arg(long, value_name = "FILE")]
    pub cert: PathBuf,
    /// CKA_LABEL (default: the key's label).
    #[arg(long)]
    pub label: Option<String>,
    /// CKA_ID in hex (default: the id of the key whose public key the certificate holds).
    #[arg(long, value_name = "HEX")]
    pub id: Option<String>,
}

thread_local! {
    /// The language of this command's messages (errors are made far from `run`).
    static LANG: std::cell::Cell<Lang> = const { std::cell::Cell::new(Lang::En) };
}

/// Runs `pki token ...`.
pub fn run(args: TokenArgs, lang: Lang) -> CmdResult {
    LANG.with(|l| l.set(lang));
    match *args.command {
        TokenCommand::List(a) => list(a),
        TokenCommand::Objects(a) => objects_cmd(a, lang),
        TokenCommand::Keygen(a) => keygen(a, lang),
        TokenCommand::Csr(a) => csr(a, lang),
        TokenCommand::Import(a) => import(a, lang),
    }
}

/// A hidden PIN/password prompt on the terminal (rpassword reads /dev/tty with echo off), for
/// any command that opens a key with `hsm::open` (`OpenOptions::prompt`).
#[derive(Debug)]
pub struct TerminalPrompt {
    /// The language of the prompt.
    pub lang: Lang,
}

impl TerminalPrompt {
    /// A prompt when stdin is a terminal; `None` otherwise (a service or a pipe: use a
    /// pin-source).
    #[allow(dead_code, reason = "for `pki sign` and other commands that open keys")]
    pub fn if_terminal(lang: Lang) -> Option<Self> {
        std::io::stdin().is_terminal().then_some(Self { lang })
    }
}

impl PinPrompt for TerminalPrompt {
    fn prompt(&self, req: &PinRequest) -> Result<SecretString, hsm::Error> {
        let text = match self.lang {
            Lang::En => req.prompt_text(),
            Lang::Vi if req.otp => format!("Mật khẩu dùng một lần (OTP) của {}: ", req.what),
            Lang::Vi => {
                let mut s = if req.is_token_pin {
                    format!("Mã PIN của token {}", req.what)
                } else {
                    format!("Mật khẩu của {}", req.what)
                };
                if req.final_try {
                    s.push_str(" (LẦN THỬ CUỐI: sai thêm một lần token sẽ bị khóa)");
                } else if req.count_low {
                    s.push_str(" (còn ít lần thử)");
                }
                s + ": "
            }
        };
        if req.retry {
            eprintln!(
                "{}",
                match self.lang {
                    Lang::En => "Wrong PIN, try again.",
                    Lang::Vi => "Mã PIN sai, hãy thử lại.",
                }
            );
        }
        rpassword::prompt_password(text)
            .map(SecretString::new)
            .map_err(|e| hsm::Error::Backend {
                context: "cannot read the PIN from the terminal".into(),
                source: Box::new(e),
            })
    }
}

/// Where the PIN comes from for these arguments.
enum Pin {
    Given(SecretString),
    Prompt(TerminalPrompt),
    Nobody,
}

impl Pin {
    fn supply(&self) -> PinSupply<'_> {
        match self {
            Pin::Given(s) => PinSupply::Given(s),
            Pin::Prompt(p) => PinSupply::Prompt(p),
            Pin::Nobody => PinSupply::Prompt(&NoPrompt),
        }
    }
}

/// The officer-facing token errors in Vietnamese; `None` for the rest (English).
fn vietnamese(e: &hsm::Error) -> Option<String> {
    use hsm::Error as E;
    Some(match e {
        E::WrongPin { token, final_try } => format!(
            "token {token} từ chối mã PIN; {}",
            if *final_try {
                "nhập sai thêm một lần nữa token sẽ bị khóa"
            } else {
                "hãy kiểm tra lại mã PIN và thử lại"
            }
        ),
        E::PinLocked { token } => format!(
            "mã PIN của token {token} đã bị khóa do nhập sai quá nhiều lần; hãy nhờ quản trị viên mở khóa"
        ),
        E::TokenAbsent { wanted } => {
            format!("không có token nào khớp với {wanted}; hãy cắm token và thử lại")
        }
        E::TokenRemoved { token } => format!(
            "token {token} đã bị rút ra hoặc ngừng phản hồi trong khi thao tác; hãy cắm lại và thử lại"
        ),
        E::PinRequired { what } => format!(
            "cần mã PIN cho {what}; hãy dùng --pin-source file:ĐƯỜNG_DẪN hoặc chạy trên terminal"
        ),
        E::KeyNotFound { wanted, .. } => format!("không tìm thấy khóa bí mật {wanted} trên token"),
        E::ModuleLoad { path, reason } => format!(
            "không nạp được thư viện PKCS#11 {path}: {reason}; hãy kiểm tra đường dẫn và phần mềm của token"
        ),
        _ => return None,
    })
}

fn hsm_err(e: hsm::Error) -> CliError {
    let vi = LANG.with(|l| l.get()) == Lang::Vi;
    let hint = match (&e, vi) {
        (hsm::Error::TokenAbsent { .. }, false) => {
            Some("`pki token list` shows the tokens that are present")
        }
        (hsm::Error::TokenAbsent { .. }, true) => {
            Some("`pki token list` liệt kê các token đang cắm")
        }
        (hsm::Error::KeyNotFound { .. }, false) => {
            Some("`pki token objects` lists the keys on the token")
        }
        (hsm::Error::KeyNotFound { .. }, true) => {
            Some("`pki token objects` liệt kê các khóa trên token")
        }
        (hsm::Error::PinRequired { .. }, false) => {
            Some("use --pin-source file:PATH when not on a terminal")
        }
        _ => None,
    };
    let usage = matches!(
        e,
        hsm::Error::BadKeyRef { .. } | hsm::Error::Ambiguous { .. }
    );
    let mut err = match (vi, vietnamese(&e)) {
        (true, Some(text)) => CliError::op(text),
        _ => CliError::from_error("token", &e),
    };
    if usage {
        err = CliError::usage(format!("{e}"));
    }
    match hint {
        Some(h) => err.hint(h),
        None => err,
    }
}

fn parse_hex_id(s: &str) -> Result<Vec<u8>, CliError> {
    let s: String = s.chars().filter(|c| *c != ':').collect();
    hex::decode(&s).map_err(|_| CliError::usage(format!("--id must be hex bytes, got \"{s}\"")))
}

struct Selected {
    module: Arc<Module>,
    uri: Pkcs11Uri,
    pin: Pin,
}

fn select(s: &TokenSelect, lang: Lang) -> Result<Selected, CliError> {
    let mut uri = match &s.uri {
        Some(u) => Pkcs11Uri::parse(u).map_err(hsm_err)?,
        None => Pkcs11Uri::default(),
    };
    if s.token.is_some() {
        uri.token = s.token.clone();
    }
    if s.serial.is_some() {
        uri.serial = s.serial.clone();
    }
    if s.slot_id.is_some() {
        uri.slot_id = s.slot_id;
    }
    let module = module_for(&uri, s.module.as_deref()).map_err(hsm_err)?;
    let source = s.pin_source.clone().or_else(|| uri.pin_source.clone());
    let pin = match source {
        Some(src) => Pin::Given(SecretString::from_source(&src).map_err(hsm_err)?),
        None if std::io::stdin().is_terminal() => Pin::Prompt(TerminalPrompt { lang }),
        None => Pin::Nobody,
    };
    Ok(Selected { module, uri, pin })
}

fn key_uri(token: &TokenSummary, label: &str, id: &[u8]) -> String {
    format!(
        "pkcs11:token={};serial={};object={};id={}",
        pct_encode(&token.label),
        pct_encode(&token.serial),
        pct_encode(label),
        pct_encode_bytes(id)
    )
}

const WELL_KNOWN_MODULES: &[&str] = &[
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
    "/usr/lib/x86_64-linux-gnu/opencryptoki/libopencryptoki.so.0",
];

fn list(a: ListArgs) -> CmdResult {
    let mut modules = a.module;
    if modules.is_empty() {
        if let Some(m) = hsm::pkcs11::default_module_path() {
            modules.push(m);
        } else {
            modules = WELL_KNOWN_MODULES
                .iter()
                .map(PathBuf::from)
                .filter(|p| p.exists())
                .collect();
        }
    }
    if modules.is_empty() {
        return Err(CliError::op("no PKCS#11 module found")
            .hint("pass --module PATH (the token vendor's library) or set PKI_PKCS11_MODULE"));
    }
    let mut failures = 0;
    for path in &modules {
        println!("Module {}", path.display());
        let m = match Module::load(path) {
            Ok(m) => m,
            Err(e) => {
                println!("  error: {e}");
                failures += 1;
                continue;
            }
        };
        if let Ok((manufacturer, description, version)) = m.info() {
            println!("  library: {description} ({manufacturer}) version {version}");
        }
        let slots = match m.slots() {
            Ok(s) => s,
            Err(e) => {
                println!("  error: {e}");
                failures += 1;
                continue;
            }
        };
        if slots.is_empty() {
            println!("  no slots");
        }
        for s in slots {
            println!(
                "  slot {}: {}{}",
                s.slot_id,
                s.description,
                if s.removable { " (removable)" } else { "" }
            );
            match (&s.token, s.token_present) {
                (Some(t), _) if !t.initialized => println!("    token: (not initialised)"),
                (Some(t), _) => {
                    println!("    token: {}", t.label);
                    println!("      manufacturer: {}", t.manufacturer);
                    println!("      model: {}", t.model);
                    println!("      serial: {}", t.serial);
                    println!("      flags: {}", t.flag_names().join(" "));
                    if t.pin_locked {
                        println!("      the user PIN is LOCKED");
                    } else if t.pin_final_try {
                        println!("      one more wrong PIN locks the token");
                    } else if t.pin_count_low {
                        println!("      a wrong PIN was entered recently; few tries left");
                    }
                    println!("      uri: {}", t.uri());
                }
                (None, true) => match m.token_summary_of(s.slot_id) {
                    Err(e) => println!("    token present but unreadable: {e}"),
                    Ok(_) => println!("    token present"),
                },
                (None, false) => println!("    no token"),
            }
        }
    }
    if failures == modules.len() {
        return Err(CliError::op("no PKCS#11 module could be loaded"));
    }
    Ok(Exit::Ok)
}

fn objects_cmd(a: ObjectsArgs, lang: Lang) -> CmdResult {
    let sel = select(&a.select, lang)?;
    let token = sel.module.find_token(&sel.uri).map_err(hsm_err)?;
    let session = if a.no_login {
        let slot = hsm::pkcs11::cryptoki::slot::Slot::try_from(token.slot_id)
            .map_err(|e| CliError::from_error("token", &e))?;
        sel.module
            .context()
            .open_ro_session_no_drop(slot)
            .map_err(|e| CliError::from_error("cannot open a session", &e))?
    } else {
        open_logged_in(&sel.module, &token, sel.pin.supply(), false)
            .map_err(hsm_err)?
            .0
    };
    let list = objects::list_objects(&session, &token.label);
    let _ = session.close();
    let list = list.map_err(hsm_err)?;
    println!("Token {} (serial {})", token.label, token.serial);
    if list.is_empty() {
        println!("  no objects");
    }
    for o in list {
        let mut line = format!(
            "  {:<12} label=\"{}\" id={}",
            o.class,
            o.label,
            hex::encode(&o.id)
        );
        if let Some(k) = &o.key {
            line.push_str(&format!(" {k}"));
        }
        if let (Some(s), Some(x)) = (o.sensitive, o.extractable) {
            line.push_str(&format!(" sensitive={s} extractable={x}"));
        }
        if let Some(s) = &o.subject {
            line.push_str(&format!(" subject=\"{s}\""));
        }
        println!("{line}");
        if o.class == "private-key" {
            println!("      uri: {}", key_uri(&token, &o.label, &o.id));
        }
    }
    Ok(Exit::Ok)
}

fn keygen(a: KeygenArgs, lang: Lang) -> CmdResult {
    let sel = select(&a.select, lang)?;
    let id = match &a.id {
        Some(h) => parse_hex_id(h)?,
        None => admin::random_id().map_err(hsm_err)?,
    };
    let token = sel.module.find_token(&sel.uri).map_err(hsm_err)?;
    let (session, _) =
        open_logged_in(&sel.module, &token, sel.pin.supply(), true).map_err(hsm_err)?;
    let existing = session.find_objects(&[
        hsm::pkcs11::cryptoki::object::Attribute::Class(
            hsm::pkcs11::cryptoki::object::ObjectClass::PRIVATE_KEY,
        ),
        hsm::pkcs11::cryptoki::object::Attribute::Id(id.clone()),
    ]);
    if existing.as_ref().is_ok_and(|v| !v.is_empty()) {
        let _ = session.close();
        return Err(CliError::usage(format!(
            "a private key with id {} already exists on token {}",
            hex::encode(&id),
            token.label
        )));
    }
    let r = admin::generate_key_pair(&session, a.key_type.kind(), &a.label, &id, &token.label);
    let _ = session.close();
    let (_, desc) = r.map_err(hsm_err)?;
    println!(
        "Generated {} key \"{}\" on token {}",
        desc.kind.describe(),
        a.label,
        token.label
    );
    println!("  id: {}", hex::encode(&id));
    println!("  uri: {}", key_uri(&token, &a.label, &id));
    Ok(Exit::Ok)
}

fn choose_alg(
    signer: &dyn Signer,
    hash: Option<Hash>,
    pss: bool,
) -> Result<SignatureAlgorithm, CliError> {
    let algs = signer.algorithms();
    let h = hash.map(|h| match h {
        Hash::Sha256 => HashAlgorithm::Sha256,
        Hash::Sha384 => HashAlgorithm::Sha384,
        Hash::Sha512 => HashAlgorithm::Sha512,
    });
    let pick = algs.iter().copied().find(|a| {
        let is_pss = matches!(a, SignatureAlgorithm::RsaPss(_));
        is_pss == pss && h.is_none_or(|h| a.hash() == Some(h))
    });
    pick.ok_or_else(|| {
        CliError::usage(format!(
            "this key on this token cannot sign with the requested algorithm; it can: {}",
            algs.iter().map(|a| a.name()).collect::<Vec<_>>().join(", ")
        ))
    })
}

fn csr(a: CsrArgs, lang: Lang) -> CmdResult {
    let subject =
        pki_core::csr::subject_from_text(&a.subject).map_err(|e| CliError::usage(e.to_string()))?;
    let mut sel = select(&a.select, lang)?;
    if a.object.is_some() {
        sel.uri.object = a.object.clone();
    }
    if let Some(h) = &a.id {
        sel.uri.id = Some(parse_hex_id(h)?);
    }
    let signer =
        Pkcs11Signer::open(sel.module.clone(), &sel.uri, sel.pin.supply(), 1).map_err(hsm_err)?;
    let alg = choose_alg(&signer, a.hash, a.pss)?;
    let der = pki_core::csr::build_csr(&subject, &signer, alg)
        .map_err(|e| CliError::from_error("cannot make the request", &e))?;
    let pem = pki_core::csr::csr_pem(&der);
    match &a.out {
        Some(p) => {
            write_new(p, pem.as_bytes())?;
            eprintln!(
                "Wrote a certificate request ({}) for key \"{}\" to {}",
                alg.name(),
                signer.key_label(),
                p.display()
            );
        }
        None => print!("{pem}"),
    }
    Ok(Exit::Ok)
}

/// Writes through a temporary file and a rename, so a failure leaves nothing half-written.
fn write_new(path: &Path, data: &[u8]) -> Result<(), CliError> {
    let tmp = path.with_extension("tmp-pki");
    std::fs::write(&tmp, data)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            CliError::from_error(format!("cannot write {}", path.display()), &e)
        })
}

fn read_certs(path: &Path) -> Result<Vec<Vec<u8>>, CliError> {
    let data = std::fs::read(path)
        .map_err(|e| CliError::from_error(format!("cannot read {}", path.display()), &e))?;
    let certs: Vec<Vec<u8>> = match std::str::from_utf8(&data) {
        Ok(t) if t.contains("-----BEGIN") => hsm::pem::pem_blocks(t)
            .into_iter()
            .filter(|(l, _)| l == "CERTIFICATE")
            .map(|(_, d)| d)
            .collect(),
        _ => vec![data],
    };
    if certs.is_empty() {
        return Err(CliError::usage(format!(
            "{} holds no certificate",
            path.display()
        )));
    }
    Ok(certs)
}

fn import(a: ImportArgs, lang: Lang) -> CmdResult {
    let certs = read_certs(&a.cert)?;
    let sel = select(&a.select, lang)?;
    let token = sel.module.find_token(&sel.uri).map_err(hsm_err)?;
    let (session, _) =
        open_logged_in(&sel.module, &token, sel.pin.supply(), true).map_err(hsm_err)?;
    let result = (|| -> Result<(), CliError> {
        let leaf = &certs[0];
        let spki = admin::certificate_spki(leaf).map_err(hsm_err)?;
        let key = admin::find_key_by_public_key(&session, &spki, &token.label).map_err(hsm_err)?;
        let id = match (&a.id, &key) {
            (Some(h), _) => parse_hex_id(h)?,
            (None, Some(k)) => k.id.clone(),
            (None, None) => {
                return Err(CliError::op(format!(
                    "no private key on token {} holds this certificate's public key",
                    token.label
                ))
                .hint("give --id and --label to store it anyway (a CA certificate, say)"))
            }
        };
        let label = a
            .label
            .clone()
            .or_else(|| key.as_ref().map(|k| k.label.clone()))
            .unwrap_or_else(|| "certificate".into());
        admin::import_certificate(&session, leaf, &label, &id, &token.label).map_err(hsm_err)?;
        println!(
            "Stored the certificate as \"{label}\" (id {}) on token {}{}",
            hex::encode(&id),
            token.label,
            if key.is_some() {
                ", next to its key"
            } else {
                ""
            }
        );
        for ca in &certs[1..] {
            let ca_spki = admin::certificate_spki(ca).map_err(hsm_err)?;
            let ca_id = hsm::HashAlgorithm::Sha1.digest(&ca_spki);
            let ca_label = x509_label(ca);
            admin::import_certificate(&session, ca, &ca_label, &ca_id, &token.label)
                .map_err(hsm_err)?;
            println!(
                "Stored CA certificate \"{ca_label}\" (id {})",
                hex::encode(&ca_id)
            );
        }
        Ok(())
    })();
    let _ = session.close();
    result.map(|()| Exit::Ok)
}

fn x509_label(der: &[u8]) -> String {
    use der::Decode;
    x509_cert::Certificate::from_der(der)
        .ok()
        .and_then(|c| {
            c.tbs_certificate()
                .subject()
                .common_name()
                .ok()
                .flatten()
                .map(|cn| cn.value().into_owned())
        })
        .unwrap_or_else(|| "CA certificate".into())
}
