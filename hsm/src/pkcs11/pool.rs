//! A pool of logged-in sessions on one token, so many requests sign in parallel on one HSM.
//!
//! PKCS#11 sessions may be used by one thread at a time (v2.40 §2.6.2: "a session ... can only
//! be used by one thread at a time"); [`cryptoki::session::Session`] is `Send` but not `Sync`.
//! The pool hands each caller a session of its own for one operation.
//!
//! Recovery: when a call reports that the sessions are gone (CKR_SESSION_HANDLE_INVALID,
//! CKR_DEVICE_REMOVED, CKR_TOKEN_NOT_PRESENT, CKR_CRYPTOKI_NOT_INITIALIZED, ...) the caller
//! reports it with [`PooledSession::lost`]; the pool starts a new generation (re-initialising the
//! module if needed), finds the token again by its URI, opens new sessions and logs in again.
//! A token that cannot be found then makes the module start over (`Module::refresh`) once, so
//! a token that was removed and has come back is found (SoftHSM2 lists tokens as they were at
//! C_Initialize).
//! Sessions of an older generation are forgotten, never closed: their handles may already have
//! been reused by the module for new sessions.
//!
//! The pool is synchronous and may block (waiting for a free session, or inside the module).
//! Async callers run it under `tokio::task::spawn_blocking`; never call it on an executor thread.

use super::error::{is_session_lost, map, rv_of};
use super::module::{Module, TokenSummary};
use crate::keyref::Pkcs11Uri;
use crate::pin::Login;
use crate::Error;
use cryptoki::error::RvError;
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// The default number of sessions per pool.
pub const DEFAULT_POOL_SIZE: usize = 4;

/// Which object each session of the pool works on (found again after recovery).
#[derive(Clone, Debug, Default)]
pub struct KeyLocator {
    /// CKA_ID.
    pub id: Option<Vec<u8>>,
    /// CKA_LABEL.
    pub label: Option<String>,
}

struct Held {
    session: Session,
    epoch: u64,
    generation: u64,
}

struct State {
    generation: u64,
    /// The module epoch `slot` and `key` belong to.
    epoch: u64,
    slot: Option<Slot>,
    key: Option<ObjectHandle>,
    idle: Vec<Held>,
    open: usize,
}

/// A pool of logged-in sessions on one token.
pub struct SessionPool {
    module: Arc<Module>,
    token_uri: Pkcs11Uri,
    token_label: String,
    login: Login,
    key: Option<KeyLocator>,
    max: usize,
    state: Mutex<State>,
    available: Condvar,
}

impl std::fmt::Debug for SessionPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.lock();
        f.debug_struct("SessionPool")
            .field("module", &self.module.path())
            .field("token", &self.token_label)
            .field("login", &self.login)
            .field("max_sessions", &self.max)
            .field("open_sessions", &st.open)
            .field("generation", &st.generation)
            .finish()
    }
}

/// A session checked out of a [`SessionPool`]; it goes back when dropped.
pub struct PooledSession<'a> {
    pool: &'a SessionPool,
    held: Option<Held>,
    key: Option<ObjectHandle>,
}

impl std::fmt::Debug for PooledSession<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PooledSession")
            .field("token", &self.pool.token_label)
            .finish_non_exhaustive()
    }
}

impl PooledSession<'_> {
    /// The session.
    pub fn session(&self) -> &Session {
        // `held` is only None after `lost` consumed it.
        &self.held.as_ref().expect("pooled session present").session
    }

    /// The handle of the pool's key in this session's generation.
    pub fn key(&self) -> Option<ObjectHandle> {
        self.key
    }

    /// Reports that `error` showed the pool's sessions are gone: the pool drops them and
    /// reconnects on the next checkout.
    pub fn lost(mut self, error: &cryptoki::error::Error) -> Result<(), Error> {
        match self.held.take() {
            Some(h) => self.pool.lost(h, error),
            None => Ok(()),
        }
    }
}

impl Drop for PooledSession<'_> {
    fn drop(&mut self) {
        if let Some(h) = self.held.take() {
            self.pool.give_back(h);
        }
    }
}

/// C_Login as `login` says; "already logged in" (login state is per application and token,
/// so another session of ours may have logged in) counts as success.
pub(crate) fn login(session: &Session, login: &Login, token: &str) -> Result<(), Error> {
    let r = match login {
        Login::None => return Ok(()),
        Login::Pin(pin) => {
            let pin = AuthPin::from(pin.expose().to_owned());
            session.login(UserType::User, Some(&pin))
        }
        Login::ProtectedPath => session.login(UserType::User, None),
    };
    match r {
        Ok(()) => Ok(()),
        Err(e) if rv_of(&e) == Some(RvError::UserAlreadyLoggedIn) => Ok(()),
        Err(e) => Err(map("C_Login", token, e)),
    }
}

/// The one object of `class` matching `locator` (or the URI's object attributes).
pub(crate) fn find_one(
    session: &Session,
    class: ObjectClass,
    locator: &KeyLocator,
    token: &str,
) -> Result<ObjectHandle, Error> {
    let mut template = vec![Attribute::Class(class)];
    if let Some(id) = &locator.id {
        template.push(Attribute::Id(id.clone()));
    }
    if let Some(l) = &locator.label {
        template.push(Attribute::Label(l.as_bytes().to_vec()));
    }
    let found = session
        .find_objects(&template)
        .map_err(|e| map("C_FindObjects", token, e))?;
    let wanted = || {
        let mut w = Vec::new();
        if let Some(l) = &locator.label {
            w.push(format!("object=\"{l}\""));
        }
        if let Some(id) = &locator.id {
            w.push(format!("id={}", hex::encode(id)));
        }
        if w.is_empty() {
            "any key".into()
        } else {
            w.join(" ")
        }
    };
    match found.len() {
        0 => Err(Error::KeyNotFound {
            wanted: wanted(),
            where_: format!(" on token \"{token}\""),
        }),
        1 => Ok(found[0]),
        n => Err(Error::Ambiguous {
            what: "private keys",
            count: n,
            wanted: wanted(),
            hint: "object=LABEL or id=ID",
        }),
    }
}

impl SessionPool {
    /// A pool on `token` of `module` holding up to `max` sessions, logging each in with `login`.
    /// `first` is a session already opened (and logged in) on the token, with the key's handle.
    pub fn new(
        module: Arc<Module>,
        token: &TokenSummary,
        login: Login,
        key: Option<KeyLocator>,
        max: usize,
        first: Option<(Session, Option<ObjectHandle>)>,
    ) -> Self {
        // Find the token again by what identifies it, not by slot: a re-inserted token may
        // come back in another slot.
        let token_uri = Pkcs11Uri {
            token: Some(token.label.clone()),
            serial: Some(token.serial.clone()),
            manufacturer: Some(token.manufacturer.clone()),
            model: Some(token.model.clone()),
            ..Pkcs11Uri::default()
        };
        let epoch = module.epoch();
        let mut state = State {
            generation: 0,
            epoch,
            slot: Slot::try_from(token.slot_id).ok(),
            key: None,
            idle: Vec::new(),
            open: 0,
        };
        if let Some((session, handle)) = first {
            state.idle.push(Held {
                session,
                epoch,
                generation: 0,
            });
            state.open = 1;
            state.key = handle;
        }
        Self {
            module,
            token_uri,
            token_label: token.label.clone(),
            login,
            key,
            max: max.max(1),
            state: Mutex::new(state),
            available: Condvar::new(),
        }
    }

    /// The module the pool's token lives in.
    pub fn module(&self) -> &Arc<Module> {
        &self.module
    }

    /// The token's label.
    pub fn token_label(&self) -> &str {
        &self.token_label
    }

    /// The most sessions the pool opens.
    pub fn max_sessions(&self) -> usize {
        self.max
    }

    /// How many sessions are open now.
    pub fn open_sessions(&self) -> usize {
        self.lock().open
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks a session out, opening (and logging in) a new one when none is idle and fewer
    /// than the maximum are open; otherwise waits for one to come back. Blocks.
    pub fn get(&self) -> Result<PooledSession<'_>, Error> {
        let mut st = self.lock();
        loop {
            let epoch = self.module.epoch();
            if st.epoch != epoch {
                // The module was initialised again (by this pool or another on the module):
                // every handle of the old epoch is meaningless, and may even name another
                // pool's new session or object. Forget them and find the token again.
                let stale = std::mem::take(&mut st.idle);
                st.open -= stale.len();
                // (After `lost`, which already started a new generation, nothing is left.)
                if !stale.is_empty() || st.slot.is_some() || st.key.is_some() {
                    st.generation += 1;
                }
                st.slot = None;
                st.key = None;
                st.epoch = epoch;
            }
            if let Some(h) = st.idle.pop() {
                return Ok(PooledSession {
                    pool: self,
                    key: st.key,
                    held: Some(h),
                });
            }
            if st.open < self.max {
                st.open += 1;
                let (generation, slot, key) = (st.generation, st.slot, st.key);
                drop(st);
                let epoch = self.module.epoch();
                return match self.connect(slot, key) {
                    Ok((session, slot, key)) => {
                        let mut st = self.lock();
                        if st.generation == generation {
                            st.slot = Some(slot);
                            st.key = key;
                        }
                        Ok(PooledSession {
                            pool: self,
                            key,
                            held: Some(Held {
                                session,
                                epoch,
                                generation,
                            }),
                        })
                    }
                    Err(e) => {
                        let mut st = self.lock();
                        st.open -= 1;
                        if st.generation == generation {
                            // The token may be somewhere else next time.
                            st.slot = None;
                            st.key = None;
                        }
                        self.available.notify_one();
                        Err(e)
                    }
                };
            }
            st = self.available.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Opens a session on the token (found again if `slot` is unknown), logs in and finds the
    /// key.
    fn connect(
        &self,
        slot: Option<Slot>,
        key: Option<ObjectHandle>,
    ) -> Result<(Session, Slot, Option<ObjectHandle>), Error> {
        let slot = match slot {
            Some(s) => s,
            None => {
                let t = self.module.find_token(&self.token_uri)?;
                Slot::try_from(t.slot_id).map_err(|e| Error::Pkcs11 {
                    context: "C_GetSlotList",
                    token: self.token_label.clone(),
                    source: e,
                })?
            }
        };
        let session = self
            .module
            .context()
            .open_ro_session_no_drop(slot)
            .map_err(|e| map("C_OpenSession", &self.token_label, e))?;
        let close = |s: Session| {
            let _ = s.close();
        };
        if let Err(e) = login(&session, &self.login, &self.token_label) {
            close(session);
            return Err(e);
        }
        let key = match (key, &self.key) {
            (Some(k), _) => Some(k),
            (None, Some(loc)) => {
                match find_one(&session, ObjectClass::PRIVATE_KEY, loc, &self.token_label) {
                    Ok(k) => Some(k),
                    Err(e) => {
                        close(session);
                        return Err(e);
                    }
                }
            }
            (None, None) => None,
        };
        Ok((session, slot, key))
    }

    fn give_back(&self, h: Held) {
        let mut st = self.lock();
        if h.generation == st.generation && h.epoch == self.module.epoch() {
            st.idle.push(h);
        } else {
            // An older generation: forget it (see the module docs).
            st.open -= 1;
        }
        drop(st);
        self.available.notify_one();
    }

    fn lost(&self, h: Held, error: &cryptoki::error::Error) -> Result<(), Error> {
        let mut st = self.lock();
        st.open -= 1;
        if h.generation == st.generation {
            tracing::warn!(
                token = %self.token_label,
                "PKCS#11 sessions lost ({error}); reconnecting"
            );
            st.generation += 1;
            st.slot = None;
            st.key = None;
            let old = std::mem::take(&mut st.idle);
            st.open -= old.len();
        }
        drop(st);
        let result = if rv_of(error) == Some(RvError::CryptokiNotInitialized) {
            self.module.reinitialize(h.epoch)
        } else {
            Ok(())
        };
        self.available.notify_all();
        result
    }

    /// Runs `f` on a pooled session with the pool's key; if the sessions turn out to be lost,
    /// reconnects and runs it once more. When the token cannot be found while reconnecting,
    /// the module is initialised again once (`Module::refresh`, at most every few seconds)
    /// and the token looked for again: a token that was removed and has come back is found
    /// without restarting the process.
    pub fn with_key<T>(
        &self,
        mut f: impl FnMut(&Session, ObjectHandle) -> Result<T, cryptoki::error::Error>,
        map_err: impl Fn(cryptoki::error::Error) -> Error,
    ) -> Result<T, Error> {
        let mut attempt = 0;
        let mut refreshed = false;
        loop {
            // Declared before the session, so released after it.
            let calls = self.module.enter();
            let s = match self.get() {
                Ok(s) => s,
                Err(e @ Error::TokenAbsent { .. }) => {
                    drop(calls);
                    if !refreshed {
                        refreshed = true;
                        if self.module.refresh()? {
                            continue;
                        }
                    }
                    // Gone since the last call: say so, rather than "insert the token".
                    return Err(if attempt == 1 {
                        Error::TokenRemoved {
                            token: self.token_label.clone(),
                        }
                    } else {
                        e
                    });
                }
                Err(e) => return Err(e),
            };
            let key = s.key().ok_or_else(|| Error::KeyNotFound {
                wanted: "the pool's key".into(),
                where_: format!(" on token \"{}\"", self.token_label),
            })?;
            match f(s.session(), key) {
                Ok(v) => return Ok(v),
                Err(e) if is_session_lost(&e) => {
                    s.lost(&e)?;
                    if attempt == 1 {
                        return Err(map_err(e));
                    }
                    attempt += 1;
                }
                Err(e) => return Err(map_err(e)),
            }
        }
    }
}

impl Drop for SessionPool {
    fn drop(&mut self) {
        let epoch = self.module.epoch();
        let st = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        for h in st.idle.drain(..) {
            if h.generation == st.generation && h.epoch == epoch {
                let _ = h.session.close();
            }
        }
    }
}
