//! One entry point from a key reference (CONTRACT.md) to a [`Signer`].

use crate::keyref::KeyRef;
use crate::pin::{NoPrompt, PinPrompt, PinRequest};
use crate::pkcs11::{module_for, PinSupply, Pkcs11Signer};
use crate::remote::{self, RemoteOptions, RemoteSigner};
use crate::{Error, SecretString, Signer, SoftwareKey};
use std::path::PathBuf;
use std::sync::Arc;

/// How to open a key: extra certificates, where secrets come from, PKCS#11 defaults.
pub struct OpenOptions<'a> {
    /// Certificates for a PEM/PKCS#8 key (from `--cert`), DER, any order.
    pub cert_chain: Vec<Vec<u8>>,
    /// The PIN or password itself (already read from somewhere safe).
    pub secret: Option<SecretString>,
    /// Where to read the PIN or password: `file:PATH` (overrides the URI's `pin-source`).
    pub secret_source: Option<String>,
    /// Who to ask when neither is given (the CLI's hidden terminal prompt; [`NoPrompt`] for
    /// services).
    pub prompt: &'a dyn PinPrompt,
    /// The PKCS#11 module when the URI has no `module-path` (`--module`); else
    /// `PKI_PKCS11_MODULE`.
    pub module: Option<PathBuf>,
    /// Sessions in a PKCS#11 key's pool (0: the default, 4).
    pub pool_size: usize,
    /// How remote signers (`csc:`, `mss:`) wait, connect and report progress.
    pub remote: RemoteOptions,
}

impl Default for OpenOptions<'_> {
    fn default() -> Self {
        Self {
            cert_chain: Vec::new(),
            secret: None,
            secret_source: None,
            prompt: &NoPrompt,
            module: None,
            pool_size: 0,
            remote: RemoteOptions::default(),
        }
    }
}

impl std::fmt::Debug for OpenOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenOptions")
            .field("cert_chain", &self.cert_chain.len())
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field("secret_source", &self.secret_source)
            .field("module", &self.module)
            .field("pool_size", &self.pool_size)
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

impl OpenOptions<'_> {
    /// The secret given directly or through a source (`source` from the key reference comes
    /// last).
    fn given_secret(&self, uri_source: Option<&str>) -> Result<Option<SecretString>, Error> {
        if let Some(s) = &self.secret {
            return Ok(Some(s.clone()));
        }
        match self.secret_source.as_deref().or(uri_source) {
            Some(src) => SecretString::from_source(src).map(Some),
            None => Ok(None),
        }
    }
}

/// Opens the key `keyref` names. PKCS#11 keys get a session pool; blocking, so async callers use
/// `spawn_blocking`.
pub fn open(keyref: &KeyRef, opts: &OpenOptions<'_>) -> Result<Arc<dyn Signer>, Error> {
    match keyref {
        KeyRef::Pkcs11(uri) => {
            let module = module_for(uri, opts.module.as_deref())?;
            let given = opts.given_secret(uri.pin_source.as_deref())?;
            let supply = match &given {
                Some(s) => PinSupply::Given(s),
                None => PinSupply::Prompt(opts.prompt),
            };
            Ok(Arc::new(Pkcs11Signer::open(
                module,
                uri,
                supply,
                opts.pool_size,
            )?))
        }
        KeyRef::File(path) => open_file(path, opts).map(|k| Arc::new(k) as Arc<dyn Signer>),
        KeyRef::Csc(_) | KeyRef::Mss(_) => Ok(Arc::new(open_remote(keyref, opts)?)),
        #[allow(unreachable_patterns)]
        _ => Err(Error::NotSupported {
            what: "this kind of",
        }),
    }
}

/// Opens a remote key (`csc:`, `mss:`) as a [`RemoteSigner`], for callers that submit and
/// poll themselves ([`RemoteSigner::submit`], [`RemoteSigner::poll_submission`]) — a service
/// that keeps the waiting state across restarts.
pub fn open_remote(keyref: &KeyRef, opts: &OpenOptions<'_>) -> Result<RemoteSigner, Error> {
    match keyref {
        KeyRef::Csc(r) => {
            // Two secrets: the OAuth client's (secret-source) and the credential's PIN (given,
            // pin-source, or asked when the credential needs one).
            let client_secret = r
                .get("secret-source")
                .map(SecretString::from_source)
                .transpose()?;
            let pin = opts.given_secret(r.get("pin-source"))?;
            remote::csc::open(r, client_secret, pin, opts.prompt, &opts.remote)
        }
        KeyRef::Mss(r) => {
            let ap_pwd = r
                .get("secret-source")
                .map(SecretString::from_source)
                .transpose()?;
            remote::mss::open(r, opts.cert_chain.clone(), ap_pwd, &opts.remote)
        }
        _ => Err(Error::BadKeyRef {
            reason: "this key reference does not name a remote signer (csc: or mss:)".into(),
        }),
    }
}

fn open_file(path: &std::path::Path, opts: &OpenOptions<'_>) -> Result<SoftwareKey, Error> {
    let what = path.display().to_string();
    let data = zeroize::Zeroizing::new(std::fs::read(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?);
    if crate::pkcs12::looks_like_pkcs12(&data) {
        if let Some(pw) = opts.given_secret(None)? {
            return SoftwareKey::from_pkcs12(&data, &pw, &what);
        }
        // No password given: an unprotected file opens with the empty one; otherwise ask.
        match SoftwareKey::from_pkcs12(&data, &SecretString::default(), &what) {
            Err(Error::WrongPassword { .. }) => {}
            other => return other,
        }
        let mut req = PinRequest::file(&what);
        for attempt in 0..3 {
            req.retry = attempt > 0;
            let pw = opts.prompt.prompt(&req)?;
            match SoftwareKey::from_pkcs12(&data, &pw, &what) {
                Err(Error::WrongPassword { .. }) if attempt < 2 => continue,
                other => return other,
            }
        }
        return Err(Error::WrongPassword { what });
    }
    let mut certs = Vec::new();
    let key = match std::str::from_utf8(&data) {
        Ok(text) if text.contains("-----BEGIN") => {
            for (label, der) in crate::pem::pem_blocks(text) {
                if label == "CERTIFICATE" {
                    certs.push(der);
                }
            }
            SoftwareKey::from_pem(text, &what)?
        }
        _ => SoftwareKey::from_der(&data, &what)?,
    };
    for c in &opts.cert_chain {
        if !certs.contains(c) {
            certs.push(c.clone());
        }
    }
    let certs = crate::pkcs12::leaf_first(key.public_key_der(), certs);
    Ok(key.with_certificates(certs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyKind;

    #[test]
    fn remote_refs_refuse_plain_http_to_other_hosts() {
        let e = open(
            &KeyRef::parse("csc:http://csc.example.vn/csc/v2?credential=x").unwrap(),
            &OpenOptions::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("must use https"), "{e}");
    }

    #[test]
    fn opens_pem_key_file() {
        let (_, der) = SoftwareKey::generate(KeyKind::EcP256).unwrap();
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&*der);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.pem");
        std::fs::write(
            &p,
            format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n"),
        )
        .unwrap();
        let s = open(&KeyRef::File(p), &OpenOptions::default()).unwrap();
        assert_eq!(s.key_kind(), KeyKind::EcP256);
    }

    #[test]
    fn options_debug_hides_secret() {
        let o = OpenOptions {
            secret: Some(SecretString::from("s3cr3t-pin")),
            ..OpenOptions::default()
        };
        assert!(!format!("{o:?}").contains("s3cr3t"));
    }

    #[test]
    fn pkcs11_without_module_is_a_clear_error() {
        if std::env::var_os("PKI_PKCS11_MODULE").is_some() {
            return;
        }
        let e = open(
            &KeyRef::parse("pkcs11:token=x").unwrap(),
            &OpenOptions::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("module"), "{e}");
    }
}
