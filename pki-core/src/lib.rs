//! pki-core

pub mod csr;
