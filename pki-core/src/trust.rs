//! Trust anchors and pools of intermediate certificates, indexed by subject for path building.
//!
//! Trust is pinned by certificate (its exact DER), never by name: a look-alike certificate with
//! the same subject is just another candidate that must verify.

use crate::cert::{parse_certificates, CertError, Certificate};
use std::collections::HashMap;
use std::path::Path;

/// The public Vietnamese roots and issuing CAs shipped with the toolkit (`--trust vn`), with
/// their sources in `pki-core/trust/vn/SOURCE.md`.
pub const VN_BUNDLE: &[(&str, &str)] = &[
    (
        "vn-national-root-ca.pem",
        include_str!("../trust/vn/vn-national-root-ca.pem"),
    ),
    (
        "vgca-root-g2.pem",
        include_str!("../trust/vn/vgca-root-g2.pem"),
    ),
];

/// Issuing CAs of the bundle: offered as intermediates, not anchors.
pub const VN_INTERMEDIATES: &[(&str, &str)] = &[
    (
        "vgca-state-agencies-ca-g2.pem",
        include_str!("../trust/vn/vgca-state-agencies-ca-g2.pem"),
    ),
    (
        "vnpt-ca-sha2.pem",
        include_str!("../trust/vn/vnpt-ca-sha2.pem"),
    ),
];

/// A set of certificates indexed by subject (RFC 5280 §7.1 comparison key).
#[derive(Clone, Debug, Default)]
pub struct CertPool {
    certs: Vec<Certificate>,
    by_subject: HashMap<String, Vec<usize>>,
}

impl CertPool {
    /// An empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// A pool of `certs`.
    pub fn from_certs(certs: impl IntoIterator<Item = Certificate>) -> Self {
        let mut p = Self::new();
        for c in certs {
            p.add(c);
        }
        p
    }

    /// Adds a certificate (duplicates are ignored).
    pub fn add(&mut self, c: Certificate) {
        if self.contains(&c) {
            return;
        }
        self.by_subject
            .entry(c.subject_key().to_owned())
            .or_default()
            .push(self.certs.len());
        self.certs.push(c);
    }

    /// Whether this exact certificate is in the pool.
    pub fn contains(&self, c: &Certificate) -> bool {
        self.by_subject
            .get(c.subject_key())
            .is_some_and(|v| v.iter().any(|i| self.certs[*i] == *c))
    }

    /// Certificates whose subject matches `c`'s issuer.
    pub fn issuers_of<'a>(&'a self, c: &Certificate) -> impl Iterator<Item = &'a Certificate> + 'a {
        self.by_subject
            .get(c.issuer_key())
            .into_iter()
            .flatten()
            .map(|i| &self.certs[*i])
    }

    /// All certificates.
    pub fn iter(&self) -> impl Iterator<Item = &Certificate> {
        self.certs.iter()
    }

    /// Number of certificates.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// Adds every certificate in a PEM/DER file, or in every `.pem`/`.crt`/`.cer`/`.der` file of
    /// a directory.
    pub fn add_path(&mut self, path: &Path) -> Result<usize, TrustError> {
        let mut n = 0;
        if path.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(path)
                .map_err(|e| TrustError::Io(path.display().to_string(), e.to_string()))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    matches!(
                        p.extension().and_then(|e| e.to_str()),
                        Some("pem" | "crt" | "cer" | "der" | "p7b" | "p7c")
                    )
                })
                .collect();
            entries.sort();
            for p in entries {
                n += self.add_path(&p)?;
            }
            return Ok(n);
        }
        let data = std::fs::read(path)
            .map_err(|e| TrustError::Io(path.display().to_string(), e.to_string()))?;
        for c in parse_certificates(&data)
            .map_err(|e| TrustError::Cert(path.display().to_string(), e))?
        {
            self.add(c);
            n += 1;
        }
        Ok(n)
    }

    /// The Vietnamese public roots (anchors).
    pub fn vn_roots() -> Self {
        Self::from_certs(
            VN_BUNDLE
                .iter()
                .filter_map(|(_, pem)| parse_certificates(pem.as_bytes()).ok())
                .flatten(),
        )
    }

    /// The Vietnamese issuing CAs (intermediates).
    pub fn vn_intermediates() -> Self {
        Self::from_certs(
            VN_INTERMEDIATES
                .iter()
                .filter_map(|(_, pem)| parse_certificates(pem.as_bytes()).ok())
                .flatten(),
        )
    }
}

/// A trust source could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// I/O.
    #[error("cannot read {0}: {1}")]
    Io(String, String),
    /// Not certificates.
    #[error("{0}: {1}")]
    Cert(String, CertError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vn_bundle_parses_and_matches_published_fingerprints() {
        let roots = CertPool::vn_roots();
        assert_eq!(roots.len(), 2);
        let fps: Vec<String> = roots.iter().map(|c| hex::encode(c.sha256())).collect();
        assert!(fps.contains(
            &"bac8bf609ab420a8ee1780d74f4de5c7f7184959d2a7375b0a75e4c29f0908e7".to_string()
        ));
        assert!(fps.contains(
            &"f04ba4b459a7c9a1b971ad9b1cb833e695a80c79aea63b174b66a70edfe2fdb8".to_string()
        ));
        let inter = CertPool::vn_intermediates();
        assert_eq!(inter.len(), 2);
    }
}
