//! Loading a PKCS#11 module and enumerating its slots and tokens (PKCS#11 v2.40 §5.4-5.5).

use super::error::{is_already_initialized, rv_of};
use crate::keyref::Pkcs11Uri;
use crate::Error;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::RvError;
use cryptoki::mechanism::MechanismType;
use cryptoki::slot::Slot;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

/// A loaded and initialised PKCS#11 module.
///
/// C_Initialize is per process, so a module is loaded once per process and shared: [`Module::load`]
/// returns the same `Arc` for the same path.
pub struct Module {
    path: PathBuf,
    ctx: Pkcs11,
    /// Bumped each time the module is initialised again after the library lost its state
    /// (CKR_CRYPTOKI_NOT_INITIALIZED). Session handles from an older epoch are meaningless.
    epoch: AtomicU64,
    reinit: Mutex<()>,
    /// Held (shared) by every call made through a session pool, and exclusively by
    /// `Module::refresh`, so the library is never finalised under a call in flight
    /// (PKCS#11 v2.40 §5.4: C_Finalize while other threads make calls is undefined).
    calls: RwLock<()>,
    /// When `Module::refresh` last initialised the module again.
    last_refresh: Mutex<Option<Instant>>,
}

/// The least time between two `Module::refresh`es: a token that stays absent while readiness
/// probes and requests keep asking must not make the module start over every second (each
/// time, every pool on it opens and logs in its sessions again).
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(3);

impl std::fmt::Debug for Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Module")
            .field("path", &self.path)
            .field("epoch", &self.epoch.load(Ordering::Relaxed))
            .finish()
    }
}

fn registry() -> &'static Mutex<HashMap<PathBuf, Arc<Module>>> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Arc<Module>>>> = OnceLock::new();
    MODULES.get_or_init(|| Mutex::new(HashMap::new()))
}

/// One slot as C_GetSlotInfo / C_GetTokenInfo describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SlotSummary {
    /// The slot ID.
    pub slot_id: u64,
    /// Slot description.
    pub description: String,
    /// Slot manufacturer.
    pub manufacturer: String,
    /// Whether a token is present.
    pub token_present: bool,
    /// Whether the slot is a removable device (a USB token reader).
    pub removable: bool,
    /// The token in it, if any.
    pub token: Option<TokenSummary>,
}

/// A token as C_GetTokenInfo describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenSummary {
    /// The slot ID.
    pub slot_id: u64,
    /// Token label.
    pub label: String,
    /// Manufacturer ID.
    pub manufacturer: String,
    /// Model.
    pub model: String,
    /// Serial number.
    pub serial: String,
    /// CKF_TOKEN_INITIALIZED.
    pub initialized: bool,
    /// CKF_LOGIN_REQUIRED.
    pub login_required: bool,
    /// CKF_USER_PIN_INITIALIZED.
    pub user_pin_initialized: bool,
    /// CKF_PROTECTED_AUTHENTICATION_PATH (a PIN pad).
    pub protected_auth_path: bool,
    /// CKF_WRITE_PROTECTED.
    pub write_protected: bool,
    /// CKF_USER_PIN_COUNT_LOW.
    pub pin_count_low: bool,
    /// CKF_USER_PIN_FINAL_TRY.
    pub pin_final_try: bool,
    /// CKF_USER_PIN_LOCKED.
    pub pin_locked: bool,
}

impl TokenSummary {
    /// The flags that are set, as PKCS#11 names them without the `CKF_` prefix.
    pub fn flag_names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        for (on, name) in [
            (self.initialized, "TOKEN_INITIALIZED"),
            (self.login_required, "LOGIN_REQUIRED"),
            (self.user_pin_initialized, "USER_PIN_INITIALIZED"),
            (self.protected_auth_path, "PROTECTED_AUTHENTICATION_PATH"),
            (self.write_protected, "WRITE_PROTECTED"),
            (self.pin_count_low, "USER_PIN_COUNT_LOW"),
            (self.pin_final_try, "USER_PIN_FINAL_TRY"),
            (self.pin_locked, "USER_PIN_LOCKED"),
        ] {
            if on {
                v.push(name);
            }
        }
        v
    }

    /// An RFC 7512 URI naming this token (`pkcs11:token=...;serial=...`).
    pub fn uri(&self) -> String {
        format!(
            "pkcs11:token={};manufacturer={};serial={}",
            pct_encode(&self.label),
            pct_encode(&self.manufacturer),
            pct_encode(&self.serial)
        )
    }

    /// Whether the token matches the token attributes of `uri` (RFC 7512 §2.3: absent
    /// attributes match anything).
    pub fn matches(&self, uri: &Pkcs11Uri) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        eq(&uri.token, &self.label)
            && eq(&uri.manufacturer, &self.manufacturer)
            && eq(&uri.model, &self.model)
            && eq(&uri.serial, &self.serial)
            && uri.slot_id.is_none_or(|s| s == self.slot_id)
    }
}

/// Percent-encodes an attribute value for a PKCS#11 URI (RFC 7512 §2.3 `pchar`s minus `;`).
pub fn pct_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:[]@!$'()*+,&".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encodes bytes (a CKA_ID) completely.
pub fn pct_encode_bytes(b: &[u8]) -> String {
    b.iter().map(|b| format!("%{b:02X}")).collect()
}

impl Module {
    /// Loads (once per process) and initialises the module at `path`.
    pub fn load(path: &Path) -> Result<Arc<Self>, Error> {
        let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let mut reg = registry().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(m) = reg.get(&key) {
            return Ok(m.clone());
        }
        let load_err = |reason: String| Error::ModuleLoad {
            path: path.display().to_string(),
            reason,
        };
        if !path.exists() {
            return Err(load_err("the file does not exist".into()));
        }
        let ctx = Pkcs11::new(path).map_err(|e| load_err(e.to_string()))?;
        initialize(&ctx).map_err(|e| load_err(format!("C_Initialize failed: {e}")))?;
        let m = Arc::new(Self {
            path: path.to_path_buf(),
            ctx,
            epoch: AtomicU64::new(0),
            reinit: Mutex::new(()),
            calls: RwLock::new(()),
            last_refresh: Mutex::new(None),
        });
        reg.insert(key, m.clone());
        Ok(m)
    }

    /// The module's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cryptoki context (for tests and benchmarks that call PKCS#11 directly).
    pub fn context(&self) -> &Pkcs11 {
        &self.ctx
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Initialises the module again after it reported CKR_CRYPTOKI_NOT_INITIALIZED, unless
    /// another thread already did since `seen_epoch`.
    pub(crate) fn reinitialize(&self, seen_epoch: u64) -> Result<(), Error> {
        let _g = self.reinit.lock().unwrap_or_else(|e| e.into_inner());
        if self.epoch() != seen_epoch {
            return Ok(());
        }
        initialize(&self.ctx).map_err(|e| Error::ModuleLoad {
            path: self.path.display().to_string(),
            reason: format!("C_Initialize failed: {e}"),
        })?;
        self.epoch.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// Enters a call through a session pool (see `calls`).
    pub(crate) fn enter(&self) -> RwLockReadGuard<'_, ()> {
        self.calls.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Initialises the module again from scratch (C_Finalize, C_Initialize) so that it lists
    /// its slots and tokens anew: SoftHSM2 reads its token directory only at C_Initialize,
    /// and some USB token modules list a re-inserted token only after one. Waits for the calls
    /// in flight through session pools; the sessions of every pool on the module become stale
    /// (a new epoch) and are opened again at their next use. At most once per
    /// [`REFRESH_INTERVAL`]: returns whether it ran.
    pub(crate) fn refresh(&self) -> Result<bool, Error> {
        {
            let mut last = self.last_refresh.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < REFRESH_INTERVAL) {
                return Ok(false);
            }
            *last = Some(Instant::now());
        }
        let _calls = self.calls.write().unwrap_or_else(|e| e.into_inner());
        let _g = self.reinit.lock().unwrap_or_else(|e| e.into_inner());
        tracing::info!(module = %self.path.display(), "initialising the PKCS#11 module again to find a token that was missing");
        // "Not initialised" is fine: the point is a fresh C_Initialize.
        let _ = self.ctx.clone().finalize();
        initialize(&self.ctx).map_err(|e| Error::ModuleLoad {
            path: self.path.display().to_string(),
            reason: format!("C_Initialize failed: {e}"),
        })?;
        self.epoch.fetch_add(1, Ordering::AcqRel);
        Ok(true)
    }

    /// Library information: (manufacturer, description, library version).
    pub fn info(&self) -> Result<(String, String, String), Error> {
        let i = self
            .ctx
            .get_library_info()
            .map_err(|e| self.err("C_GetInfo", e))?;
        Ok((
            i.manufacturer_id().trim().to_owned(),
            i.library_description().trim().to_owned(),
            i.library_version().to_string(),
        ))
    }

    fn err(&self, context: &'static str, source: cryptoki::error::Error) -> Error {
        Error::Pkcs11 {
            context,
            token: self.path.display().to_string(),
            source,
        }
    }

    /// All slots, with their tokens.
    pub fn slots(&self) -> Result<Vec<SlotSummary>, Error> {
        let slots = self
            .ctx
            .get_all_slots()
            .map_err(|e| self.err("C_GetSlotList", e))?;
        let mut out = Vec::new();
        for slot in slots {
            let info = self
                .ctx
                .get_slot_info(slot)
                .map_err(|e| self.err("C_GetSlotInfo", e))?;
            let token = if info.token_present() {
                self.token_summary(slot).ok()
            } else {
                None
            };
            out.push(SlotSummary {
                slot_id: slot.id(),
                description: clean(info.slot_description()),
                manufacturer: clean(info.manufacturer_id()),
                token_present: info.token_present(),
                removable: info.removable_device(),
                token,
            });
        }
        Ok(out)
    }

    /// The token in `slot`.
    pub fn token_summary(&self, slot: Slot) -> Result<TokenSummary, Error> {
        let t = self
            .ctx
            .get_token_info(slot)
            .map_err(|e| self.err("C_GetTokenInfo", e))?;
        Ok(TokenSummary {
            slot_id: slot.id(),
            label: clean(t.label()),
            manufacturer: clean(t.manufacturer_id()),
            model: clean(t.model()),
            serial: clean(t.serial_number()),
            initialized: t.token_initialized(),
            login_required: t.login_required(),
            user_pin_initialized: t.user_pin_initialized(),
            protected_auth_path: t.protected_authentication_path(),
            write_protected: t.write_protected(),
            pin_count_low: t.user_pin_count_low(),
            pin_final_try: t.user_pin_final_try(),
            pin_locked: t.user_pin_locked(),
        })
    }

    /// The token in the slot with ID `slot_id`.
    pub fn token_summary_of(&self, slot_id: u64) -> Result<TokenSummary, Error> {
        let slot = Slot::try_from(slot_id).map_err(|e| self.err("C_GetSlotList", e))?;
        self.token_summary(slot)
    }

    /// Initialised tokens that are present, in slot order.
    pub fn tokens(&self) -> Result<Vec<TokenSummary>, Error> {
        let slots = self.ctx.get_slots_with_token().map_err(|e| {
            if rv_of(&e) == Some(RvError::CryptokiNotInitialized) {
                Error::ModuleLoad {
                    path: self.path.display().to_string(),
                    reason: "the module is not initialised".into(),
                }
            } else {
                self.err("C_GetSlotList", e)
            }
        })?;
        Ok(slots
            .into_iter()
            .filter_map(|s| self.token_summary(s).ok())
            .filter(|t| t.initialized)
            .collect())
    }

    /// The one token that `uri` selects.
    pub fn find_token(&self, uri: &Pkcs11Uri) -> Result<TokenSummary, Error> {
        let mut found: Vec<TokenSummary> = self
            .tokens()?
            .into_iter()
            .filter(|t| t.matches(uri))
            .collect();
        match found.len() {
            0 => Err(Error::TokenAbsent {
                wanted: describe_token_wanted(uri),
            }),
            1 => Ok(found.remove(0)),
            n => Err(Error::Ambiguous {
                what: "tokens",
                count: n,
                wanted: describe_token_wanted(uri),
                hint: "token=LABEL or serial=SERIAL",
            }),
        }
    }

    /// The signature mechanisms among `wanted` that the token in `slot` offers for signing.
    ///
    /// Asks C_GetMechanismInfo for each rather than reading C_GetMechanismList: cryptoki logs an
    /// error line for every vendor mechanism in the list that it does not know, and the info
    /// also tells whether the mechanism can sign (CKF_SIGN).
    pub fn signing_mechanisms(&self, slot: Slot, wanted: &[MechanismType]) -> Vec<MechanismType> {
        wanted
            .iter()
            .copied()
            .filter(|m| {
                self.ctx
                    .get_mechanism_info(slot, *m)
                    .is_ok_and(|info| info.sign())
            })
            .collect()
    }
}

/// PKCS#11 strings are blank-padded; some modules pad with NULs instead.
fn clean(s: &str) -> String {
    s.trim_end_matches(['\0', ' ']).to_owned()
}

/// "token \"X\" (serial S)" for messages.
pub(crate) fn describe_token_wanted(uri: &Pkcs11Uri) -> String {
    let mut parts = Vec::new();
    if let Some(t) = &uri.token {
        parts.push(format!("token=\"{t}\""));
    }
    if let Some(s) = &uri.serial {
        parts.push(format!("serial={s}"));
    }
    if let Some(s) = &uri.manufacturer {
        parts.push(format!("manufacturer=\"{s}\""));
    }
    if let Some(s) = &uri.model {
        parts.push(format!("model=\"{s}\""));
    }
    if let Some(s) = uri.slot_id {
        parts.push(format!("slot-id={s}"));
    }
    if parts.is_empty() {
        "the key reference (any token)".into()
    } else {
        parts.join(" ")
    }
}

/// C_Initialize with OS locking; modules that refuse it (CKR_CANT_LOCK, or CKR_ARGUMENTS_BAD from
/// some vendor modules) get a no-locking init. Already initialised (by us, or by another user
/// of the module in this process) is fine.
fn initialize(ctx: &Pkcs11) -> Result<(), cryptoki::error::Error> {
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) => Ok(()),
        Err(e) if is_already_initialized(&e) => Ok(()),
        Err(e)
            if matches!(
                rv_of(&e),
                Some(RvError::CantLock | RvError::ArgumentsBad | RvError::FunctionFailed)
            ) =>
        {
            tracing::debug!("module refused OS locking ({e}); initialising without");
            match ctx.initialize(CInitializeArgs::new(CInitializeFlags::empty())) {
                Err(e) if is_already_initialized(&e) => Ok(()),
                r => r,
            }
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> TokenSummary {
        TokenSummary {
            slot_id: 7,
            label: "Agency HSM".into(),
            manufacturer: "SoftHSM project".into(),
            model: "SoftHSM v2".into(),
            serial: "abc123".into(),
            initialized: true,
            login_required: true,
            user_pin_initialized: true,
            protected_auth_path: false,
            write_protected: false,
            pin_count_low: false,
            pin_final_try: false,
            pin_locked: false,
        }
    }

    #[test]
    fn uri_matching() {
        let t = token();
        let p = |s| Pkcs11Uri::parse(s).unwrap();
        assert!(t.matches(&p("pkcs11:")));
        assert!(t.matches(&p("pkcs11:token=Agency%20HSM")));
        assert!(t.matches(&p("pkcs11:serial=abc123;slot-id=7")));
        assert!(!t.matches(&p("pkcs11:token=Other")));
        assert!(!t.matches(&p("pkcs11:slot-id=8")));
        assert!(t.matches(&p(&t.uri())));
    }

    #[test]
    fn missing_module_is_a_clear_error() {
        let e = Module::load(Path::new("/nonexistent/libvendor.so")).unwrap_err();
        assert!(matches!(e, Error::ModuleLoad { .. }));
        assert!(e.to_string().contains("/nonexistent/libvendor.so"));
    }
}
