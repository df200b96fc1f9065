//! Where PINs and passwords come from: a terminal prompt (the CLI), a `pin-source` file
//! (services), or nowhere at all (a token with a PIN pad, PKCS#11 §4.4 "protected
//! authentication path").
//!
//! The prompt is a trait so that `hsm` never touches a terminal itself.

use crate::{Error, SecretString};

/// What a prompt is asked for, with what the token says about the PIN's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PinRequest {
    /// What the secret unlocks: a token label, or a key file name.
    pub what: String,
    /// Whether it is a token PIN (`true`) or a file password (`false`).
    pub is_token_pin: bool,
    /// The token reports that a wrong PIN was entered recently (CKF_USER_PIN_COUNT_LOW).
    pub count_low: bool,
    /// The next wrong PIN locks the token (CKF_USER_PIN_FINAL_TRY).
    pub final_try: bool,
    /// This is a retry after a wrong PIN.
    pub retry: bool,
    /// A one-time password (OTP) for a remote credential, not a PIN: asked at each
    /// authorisation, after the service has sent it (online OTP) or from the person's OTP
    /// generator (offline OTP).
    pub otp: bool,
}

impl PinRequest {
    /// A request for a token PIN.
    pub fn token(label: &str) -> Self {
        Self {
            what: label.to_owned(),
            is_token_pin: true,
            ..Self::default()
        }
    }

    /// A request for a key file password.
    pub fn file(what: &str) -> Self {
        Self {
            what: what.to_owned(),
            ..Self::default()
        }
    }

    /// A request for the one-time password of a remote credential (`what`: "credential ID at
    /// URL").
    pub fn otp(what: &str) -> Self {
        Self {
            what: what.to_owned(),
            otp: true,
            ..Self::default()
        }
    }

    /// The line a terminal prompt shows (English), e.g. "PIN for token Agency HSM (final try
    /// before the PIN locks): ".
    pub fn prompt_text(&self) -> String {
        if self.otp {
            return format!("One-time password (OTP) for {}: ", self.what);
        }
        let mut s = if self.is_token_pin {
            format!("PIN for token {}", self.what)
        } else {
            format!("Password for {}", self.what)
        };
        if self.final_try {
            s.push_str(" (FINAL TRY: one more wrong PIN locks the token)");
        } else if self.count_low {
            s.push_str(" (few tries left)");
        }
        s.push_str(": ");
        s
    }
}

/// Asks a person (or anything else) for a PIN or password.
pub trait PinPrompt: Send + Sync {
    /// Returns the secret, or an error when there is nobody to ask (or they gave up).
    fn prompt(&self, request: &PinRequest) -> Result<SecretString, Error>;
}

/// A prompt for non-interactive use: always fails with [`Error::PinRequired`].
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPrompt;

impl PinPrompt for NoPrompt {
    fn prompt(&self, request: &PinRequest) -> Result<SecretString, Error> {
        Err(Error::PinRequired {
            what: request.what.clone(),
        })
    }
}

/// How a token is logged in to.
#[derive(Clone, Default)]
pub enum Login {
    /// No login (public objects only, or the token needs none).
    #[default]
    None,
    /// C_Login with this PIN.
    Pin(SecretString),
    /// C_Login with no PIN: the token asks on its own PIN pad.
    ProtectedPath,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("Login::None"),
            Self::Pin(_) => f.write_str("Login::Pin([redacted])"),
            Self::ProtectedPath => f.write_str("Login::ProtectedPath"),
        }
    }
}

/// A non-interactive source of one-time passwords for scripts: `file:PATH`, read each time an
/// OTP is asked. The script (an SMS gateway, a TOTP generator) writes the current OTP there;
/// the file is waited for while it is missing or still holds the OTP used last, up to
/// `timeout`, so a script may write it after the service sent the OTP. Never logged.
#[derive(Debug)]
pub struct OtpFile {
    path: std::path::PathBuf,
    timeout: std::time::Duration,
    last: std::sync::Mutex<Option<SecretString>>,
}

impl OtpFile {
    /// A source reading `source` (`file:PATH` or a bare path), waiting at most `timeout` for a
    /// fresh OTP.
    pub fn new(source: &str, timeout: std::time::Duration) -> Result<Self, Error> {
        let path = source.strip_prefix("file:").unwrap_or(source);
        let path = path.strip_prefix("//").unwrap_or(path);
        if path.is_empty() {
            return Err(Error::BadKeyRef {
                reason: "the OTP source must be file:PATH".into(),
            });
        }
        Ok(Self {
            path: path.into(),
            timeout,
            last: std::sync::Mutex::new(None),
        })
    }

    fn read(&self) -> Option<SecretString> {
        let s = SecretString::from_source(&self.path.display().to_string()).ok()?;
        let fresh = !s.is_empty()
            && self
                .last
                .lock()
                .map(|l| l.as_ref().is_none_or(|l| l.expose() != s.expose()))
                .unwrap_or(true);
        fresh.then_some(s)
    }
}

impl PinPrompt for OtpFile {
    fn prompt(&self, request: &PinRequest) -> Result<SecretString, Error> {
        let start = std::time::Instant::now();
        loop {
            if let Some(otp) = self.read() {
                if let Ok(mut l) = self.last.lock() {
                    *l = Some(otp.clone());
                }
                return Ok(otp);
            }
            if start.elapsed() >= self.timeout {
                return Err(Error::OtpNotGiven {
                    who: request.what.clone(),
                    source_file: self.path.clone(),
                    waited: self.timeout,
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_text_warns_on_final_try() {
        let mut r = PinRequest::token("Agency HSM");
        assert_eq!(r.prompt_text(), "PIN for token Agency HSM: ");
        r.count_low = true;
        assert!(r.prompt_text().contains("few tries left"));
        r.final_try = true;
        assert!(r.prompt_text().contains("FINAL TRY"));
    }

    #[test]
    fn otp_file_gives_each_otp_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("otp");
        let src = OtpFile::new(
            &format!("file:{}", p.display()),
            std::time::Duration::from_millis(300),
        )
        .unwrap();
        let req = PinRequest::otp("credential c1");
        assert_eq!(
            req.prompt_text(),
            "One-time password (OTP) for credential c1: "
        );
        // Missing: waits, then one sentence naming the file, never a value.
        let e = src.prompt(&req).unwrap_err().to_string();
        assert!(e.contains("otp") && e.contains("credential c1"), "{e}");
        std::fs::write(&p, "482913\n").unwrap();
        assert_eq!(src.prompt(&req).unwrap().expose(), "482913");
        // The same OTP is not given twice: it was used.
        assert!(matches!(src.prompt(&req), Err(Error::OtpNotGiven { .. })));
        std::fs::write(&p, "771204\n").unwrap();
        assert_eq!(src.prompt(&req).unwrap().expose(), "771204");
    }

    #[test]
    fn login_debug_hides_pin() {
        let l = Login::Pin(SecretString::from("987654"));
        assert!(!format!("{l:?}").contains("987654"));
    }
}
