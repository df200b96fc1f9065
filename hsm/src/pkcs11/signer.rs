//! [`Pkcs11Signer`]: a private key on a PKCS#11 token or HSM as a [`Signer`].

use super::error::{map, map_sign};
use super::mechanism::{choose, Plan};
use super::module::{Module, TokenSummary};
use super::objects::{certificates_for, describe_key, KeyDescription};
use super::pool::{find_one, login, KeyLocator, SessionPool, DEFAULT_POOL_SIZE};
use crate::keyref::Pkcs11Uri;
use crate::pin::{Login, PinPrompt, PinRequest};
use crate::{Error, KeyKind, SecretString, SignatureAlgorithm, Signer};
use cryptoki::object::ObjectClass;
use cryptoki::session::Session;
use cryptoki::slot::Slot;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where the PIN comes from when a token needs one.
#[derive(Clone, Copy)]
pub enum PinSupply<'a> {
    /// This PIN (read from a pin-source file, say). Tried once.
    Given(&'a SecretString),
    /// Ask (a terminal prompt). Asked again after a wrong PIN, up to three times.
    Prompt(&'a dyn PinPrompt),
}

impl std::fmt::Debug for PinSupply<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Given(_) => f.write_str("PinSupply::Given([redacted])"),
            Self::Prompt(_) => f.write_str("PinSupply::Prompt"),
        }
    }
}

/// The default module when neither the key reference nor the caller names one.
pub fn default_module_path() -> Option<PathBuf> {
    std::env::var_os("PKI_PKCS11_MODULE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The module a URI names (`module-path=`), else `fallback`, else `PKI_PKCS11_MODULE`.
pub fn module_for(uri: &Pkcs11Uri, fallback: Option<&Path>) -> Result<Arc<Module>, Error> {
    let path = uri
        .module_path
        .as_ref()
        .map(PathBuf::from)
        .or_else(|| fallback.map(Path::to_path_buf))
        .or_else(default_module_path)
        .ok_or_else(|| Error::BadKeyRef {
            reason: "no PKCS#11 module given; add module-path=... to the URI, pass --module or set PKI_PKCS11_MODULE".into(),
        })?;
    Module::load(&path)
}

/// Opens a session on `token` and logs in as `supply` says (prompting again after a wrong PIN
/// when a person is asked). Returns the session and how to log in again later.
pub fn open_logged_in(
    module: &Module,
    token: &TokenSummary,
    supply: PinSupply<'_>,
    read_write: bool,
) -> Result<(Session, Login), Error> {
    let slot = Slot::try_from(token.slot_id).map_err(|e| Error::Pkcs11 {
        context: "C_GetSlotList",
        token: token.label.clone(),
        source: e,
    })?;
    let ctx = module.context();
    let session = if read_write {
        ctx.open_rw_session_no_drop(slot)
    } else {
        ctx.open_ro_session_no_drop(slot)
    }
    .map_err(|e| map("C_OpenSession", &token.label, e))?;
    match establish_login(module, &session, token, slot, supply) {
        Ok(l) => Ok((session, l)),
        Err(e) => {
            let _ = session.close();
            Err(e)
        }
    }
}

fn establish_login(
    module: &Module,
    session: &Session,
    token: &TokenSummary,
    slot: Slot,
    supply: PinSupply<'_>,
) -> Result<Login, Error> {
    if !token.login_required {
        return Ok(Login::None);
    }
    if token.pin_locked {
        return Err(Error::PinLocked {
            token: token.label.clone(),
        });
    }
    let refreshed = |t: &TokenSummary| module.token_summary(slot).unwrap_or_else(|_| t.clone());
    let wrong = |info: &TokenSummary| {
        if info.pin_locked {
            Error::PinLocked {
                token: token.label.clone(),
            }
        } else {
            Error::WrongPin {
                token: token.label.clone(),
                final_try: info.pin_final_try,
            }
        }
    };
    match supply {
        PinSupply::Given(pin) => {
            let l = Login::Pin(pin.clone());
            match login(session, &l, &token.label) {
                Ok(()) => Ok(l),
                Err(Error::WrongPin { .. }) => Err(wrong(&refreshed(token))),
                Err(e) => Err(e),
            }
        }
        PinSupply::Prompt(_) if token.protected_auth_path => {
            login(session, &Login::ProtectedPath, &token.label)?;
            Ok(Login::ProtectedPath)
        }
        PinSupply::Prompt(prompt) => {
            let mut info = token.clone();
            for attempt in 0..3 {
                let mut req = PinRequest::token(&token.label);
                req.count_low = info.pin_count_low;
                req.final_try = info.pin_final_try;
                req.retry = attempt > 0;
                let l = Login::Pin(prompt.prompt(&req)?);
                match login(session, &l, &token.label) {
                    Ok(()) => return Ok(l),
                    Err(Error::WrongPin { .. }) => {
                        info = refreshed(&info);
                        if info.pin_locked || attempt == 2 {
                            return Err(wrong(&info));
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(wrong(&info))
        }
    }
}

/// A private key on a PKCS#11 token, signing through a [`SessionPool`].
pub struct Pkcs11Signer {
    pool: SessionPool,
    token: TokenSummary,
    key: KeyDescription,
    certs: Vec<Vec<u8>>,
    plans: Vec<(SignatureAlgorithm, Plan)>,
}

impl std::fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("token", &self.token.label)
            .field("key_label", &self.key.label)
            .field("key_id", &hex::encode(&self.key.id))
            .field("kind", &self.key.kind)
            .field("certificates", &self.certs.len())
            .field("pool", &self.pool)
            .finish()
    }
}

impl Pkcs11Signer {
    /// Opens the private key that `uri` names (token attributes select the token; `object=` and
    /// `id=` the key) in `module`, logging in with `supply`, with a pool of `pool_size` sessions
    /// (0 means [`DEFAULT_POOL_SIZE`]).
    pub fn open(
        module: Arc<Module>,
        uri: &Pkcs11Uri,
        supply: PinSupply<'_>,
        pool_size: usize,
    ) -> Result<Self, Error> {
        let token = module.find_token(uri)?;
        let (session, login) = open_logged_in(&module, &token, supply, false)?;
        let locator = KeyLocator {
            id: uri.id.clone(),
            label: uri.object.clone(),
        };
        let found = find_one(&session, ObjectClass::PRIVATE_KEY, &locator, &token.label)
            .and_then(|h| describe_key(&session, h, &token.label).map(|d| (h, d)));
        let (handle, key) = match found {
            Ok(v) => v,
            Err(e) => {
                let _ = session.close();
                return Err(e);
            }
        };
        let certs = certificates_for(&session, &key, &token.label).unwrap_or_default();
        let slot = Slot::try_from(token.slot_id).map_err(|e| Error::Pkcs11 {
            context: "C_GetSlotList",
            token: token.label.clone(),
            source: e,
        })?;
        let plans = choose(
            key.kind,
            &module.signing_mechanisms(slot, super::mechanism::SIGNING_MECHANISMS),
        );
        // Identify the key for re-finding it after recovery by what it is, not how it was asked
        // for.
        let locator = KeyLocator {
            id: (!key.id.is_empty()).then(|| key.id.clone()),
            label: key.id.is_empty().then(|| key.label.clone()),
        };
        let size = if pool_size == 0 {
            DEFAULT_POOL_SIZE
        } else {
            pool_size
        };
        let pool = SessionPool::new(
            module,
            &token,
            login,
            Some(locator),
            size,
            Some((session, Some(handle))),
        );
        Ok(Self {
            pool,
            token,
            key,
            certs,
            plans,
        })
    }

    /// The session pool (for statistics and tests).
    pub fn pool(&self) -> &SessionPool {
        &self.pool
    }

    /// The token the key lives on.
    pub fn token(&self) -> &TokenSummary {
        &self.token
    }

    /// The key's CKA_LABEL.
    pub fn key_label(&self) -> &str {
        &self.key.label
    }

    /// The key's CKA_ID.
    pub fn key_id(&self) -> &[u8] {
        &self.key.id
    }

    /// How `alg` is made on this token, if it can be.
    pub fn plan(&self, alg: SignatureAlgorithm) -> Option<Plan> {
        self.plans.iter().find(|(a, _)| *a == alg).map(|(_, p)| *p)
    }
}

impl Signer for Pkcs11Signer {
    fn public_key_der(&self) -> &[u8] {
        &self.key.spki
    }

    fn key_kind(&self) -> KeyKind {
        self.key.kind
    }

    fn algorithms(&self) -> Vec<SignatureAlgorithm> {
        self.plans.iter().map(|(a, _)| *a).collect()
    }

    fn sign(&self, alg: SignatureAlgorithm, to_be_signed: &[u8]) -> Result<Vec<u8>, Error> {
        let plan = self.plan(alg).ok_or_else(|| {
            if alg.fits(self.key.kind) {
                Error::MechanismUnsupported {
                    algorithm: alg,
                    token: self.token.label.clone(),
                }
            } else {
                Error::UnsupportedAlgorithm {
                    algorithm: alg,
                    key: self.key.kind.describe(),
                }
            }
        })?;
        let input = plan.input(to_be_signed);
        let mechanism = plan.mechanism();
        let raw = self.pool.with_key(
            |session, key| session.sign(&mechanism, key, &input),
            |e| map_sign(&self.token.label, alg, e),
        )?;
        plan.output(raw)
    }

    fn certificates(&self) -> Vec<Vec<u8>> {
        self.certs.clone()
    }

    fn probe(&self) -> Result<(), Error> {
        // C_GetSessionInfo alone answers from the module's memory; reading an attribute of
        // the key object reaches the token (and its object store), so a token pulled out or a
        // key deleted by another process shows up here.
        self.pool.with_key(
            |session, key| {
                session.get_session_info()?;
                session
                    .get_attributes(key, &[cryptoki::object::AttributeType::KeyType])
                    .map(|_| ())
            },
            |e| map("C_GetAttributeValue", &self.token.label, e),
        )
    }
}
