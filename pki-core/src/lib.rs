//! pki-core
