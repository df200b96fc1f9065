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

    /// The line a terminal prompt shows (English), e.g. "PIN for token Agency HSM (final try
    /// before the PIN locks): ".
    pub fn prompt_text(&self) -> String {
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
    fn login_debug_hides_pin() {
        let l = Login::Pin(SecretString::from("987654"));
        assert!(!format!("{l:?}").contains("987654"));
    }
}
