//! A small certification authority for agencies and test labs: certificate and CRL building,
//! and a CA directory (openssl-compatible `index.txt`, so `openssl ocsp -index` can serve it too).

pub mod builder;
pub mod dir;
pub mod profile;
pub mod request;
pub mod testpki;

pub use builder::{BuildError, CertBuilder, Ext};
pub use dir::{CaDir, CaDirError, IndexEntry, IndexStatus};
pub use profile::Profile;
