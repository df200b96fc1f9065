//! PKCS#11 return values (PKCS#11 v2.40 §5.1) mapped to [`crate::Error`].

use crate::{Error, SignatureAlgorithm};
use cryptoki::error::{Error as CkError, RvError};

/// The CKR_ value of a cryptoki error, if it is one.
pub(crate) fn rv_of(e: &CkError) -> Option<RvError> {
    match e {
        CkError::Pkcs11(rv, _) => Some(*rv),
        _ => None,
    }
}

pub(crate) fn is_already_initialized(e: &CkError) -> bool {
    rv_of(e) == Some(RvError::CryptokiAlreadyInitialized)
}

/// Whether the error means our sessions are gone (token re-inserted, HSM restarted, library
/// finalised): reopen, log in again and retry once.
pub(crate) fn is_session_lost(e: &CkError) -> bool {
    matches!(
        rv_of(e),
        Some(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::CryptokiNotInitialized
                | RvError::UserNotLoggedIn
                | RvError::KeyHandleInvalid
                | RvError::ObjectHandleInvalid
        )
    )
}

/// Maps a cryptoki error from `context` on `token` to our error type.
pub(crate) fn map(context: &'static str, token: &str, e: CkError) -> Error {
    match rv_of(&e) {
        Some(RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange) => {
            Error::WrongPin {
                token: token.into(),
                final_try: false,
            }
        }
        Some(RvError::PinLocked) => Error::PinLocked {
            token: token.into(),
        },
        Some(RvError::TokenNotPresent | RvError::TokenNotRecognized) => Error::TokenAbsent {
            wanted: format!("token \"{token}\""),
        },
        Some(RvError::DeviceRemoved | RvError::SessionClosed | RvError::SessionHandleInvalid) => {
            Error::TokenRemoved {
                token: token.into(),
            }
        }
        _ => Error::Pkcs11 {
            context,
            token: token.into(),
            source: e,
        },
    }
}

/// Maps a C_Sign / C_SignInit failure: an unsupported mechanism gets its own error.
pub(crate) fn map_sign(token: &str, alg: SignatureAlgorithm, e: CkError) -> Error {
    match rv_of(&e) {
        Some(
            RvError::MechanismInvalid
            | RvError::MechanismParamInvalid
            | RvError::KeyTypeInconsistent,
        ) => Error::MechanismUnsupported {
            algorithm: alg,
            token: token.into(),
        },
        _ => map("C_Sign", token, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptoki::context::Function;

    fn ck(rv: RvError) -> CkError {
        CkError::Pkcs11(rv, Function::Login)
    }

    #[test]
    fn return_values_become_typed_errors() {
        assert!(matches!(
            map("C_Login", "T", ck(RvError::PinIncorrect)),
            Error::WrongPin { .. }
        ));
        assert!(matches!(
            map("C_Login", "T", ck(RvError::PinLocked)),
            Error::PinLocked { .. }
        ));
        assert!(matches!(
            map("C_Sign", "T", ck(RvError::TokenNotPresent)),
            Error::TokenAbsent { .. }
        ));
        assert!(matches!(
            map("C_Sign", "T", ck(RvError::DeviceRemoved)),
            Error::TokenRemoved { .. }
        ));
        let alg = SignatureAlgorithm::Ed25519;
        assert!(matches!(
            map_sign("T", alg, ck(RvError::MechanismInvalid)),
            Error::MechanismUnsupported { .. }
        ));
        let e = map("C_Sign", "T", ck(RvError::GeneralError));
        assert!(e.to_string().starts_with("C_Sign failed on token T"), "{e}");
    }

    #[test]
    fn lost_sessions_are_recognised() {
        for rv in [
            RvError::SessionHandleInvalid,
            RvError::DeviceRemoved,
            RvError::CryptokiNotInitialized,
            RvError::UserNotLoggedIn,
        ] {
            assert!(is_session_lost(&ck(rv)));
        }
        assert!(!is_session_lost(&ck(RvError::PinIncorrect)));
        assert!(!is_session_lost(&ck(RvError::MechanismInvalid)));
    }
}
