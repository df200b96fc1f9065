//! Secrets (PINs, passwords) that never print, never log and are wiped when dropped.

use zeroize::{Zeroize, ZeroizeOnDrop};

/// A PIN, password or API secret. `Debug` and `Display` print `[redacted]`.
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(s: String) -> Self {
        Self(s)
    }

    /// The secret itself; call only where it is handed to the token or KDF.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads a secret from a `pin-source`/`secret-source`: `file:PATH` or a plain path. The first
    /// line is the secret (a trailing newline is not part of it).
    pub fn from_source(source: &str) -> Result<Self, crate::Error> {
        let path = source.strip_prefix("file:").unwrap_or(source);
        let path = path.strip_prefix("//").unwrap_or(path);
        let mut text = std::fs::read_to_string(path).map_err(|e| crate::Error::Io {
            path: path.into(),
            source: e,
        })?;
        let line = text.lines().next().unwrap_or("").to_owned();
        text.zeroize();
        Ok(Self(line))
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::fmt::Display for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints() {
        let s = SecretString::from("123456");
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
    }

    #[test]
    fn reads_first_line_of_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pin");
        std::fs::write(&p, "4321\n").unwrap();
        let s = SecretString::from_source(&format!("file:{}", p.display())).unwrap();
        assert_eq!(s.expose(), "4321");
    }
}
