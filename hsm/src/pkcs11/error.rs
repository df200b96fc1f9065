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
