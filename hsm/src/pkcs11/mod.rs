//! PKCS#11 tokens and HSMs (OASIS PKCS#11 v2.40 / 3.0) through the `cryptoki` crate: loading a
//! module, finding tokens and keys by RFC 7512 URI, choosing mechanisms, a pool of logged-in
//! sessions, and the token administration the `pki token` commands need.
//!
//! Everything here blocks in the module; async code calls it through `spawn_blocking`.

pub mod admin;
mod error;
pub mod mechanism;
mod module;
pub mod objects;
mod pool;
mod signer;

pub use module::{
    pct_encode, pct_encode_bytes, Module, SlotSummary, TokenSummary, REFRESH_INTERVAL,
};
pub use pool::{KeyLocator, PooledSession, SessionPool, DEFAULT_POOL_SIZE};
pub use signer::{default_module_path, module_for, open_logged_in, PinSupply, Pkcs11Signer};

/// Re-exported so callers (CLI, tests, benchmarks) use the same cryptoki as this crate.
pub use cryptoki;
