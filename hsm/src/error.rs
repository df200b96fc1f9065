//! Errors from key stores and signers. Messages are one sentence that says what is wrong and what
//! to do; they never contain a PIN, a password or key material.

use crate::SignatureAlgorithm;
use std::path::PathBuf;

/// Something went wrong finding, unlocking or using a key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A key file could not be read.
    #[error("cannot read key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A key file is not in a format we understand, or is damaged.
    #[error("{what} is not a usable private key: {reason}")]
    BadKey {
        /// Which file or object.
        what: String,
        /// Why, in a few words.
        reason: String,
    },
    /// The password of an encrypted key file is wrong.
    #[error("the password for {what} is wrong; check it and try again")]
    WrongPassword {
        /// Which file.
        what: String,
    },
    /// The key reference could not be understood.
    #[error("invalid key reference: {reason}")]
    BadKeyRef {
        /// Why.
        reason: String,
    },
    /// The PIN was refused.
    #[error("the PIN was refused by {token}{}", retries_hint(*.final_try))]
    WrongPin {
        /// Token label.
        token: String,
        /// Whether the next wrong PIN locks the token.
        final_try: bool,
    },
    /// The PIN is locked.
    #[error("the PIN of {token} is locked after too many wrong attempts; ask the security officer to unblock it")]
    PinLocked {
        /// Token label.
        token: String,
    },
    /// The token is not present.
    #[error("no token matching {wanted} is present; insert the token and try again")]
    TokenAbsent {
        /// What was looked for.
        wanted: String,
    },
    /// No key matches.
    #[error("no private key matching {wanted} was found{where_}")]
    KeyNotFound {
        /// What was looked for.
        wanted: String,
        /// Where it was looked for (" on token X"), may be empty.
        where_: String,
    },
    /// The key cannot make the requested signature.
    #[error("this key ({key}) cannot sign with {}", .algorithm.name())]
    UnsupportedAlgorithm {
        /// The requested algorithm.
        algorithm: SignatureAlgorithm,
        /// The key kind.
        key: String,
    },
    /// A backend failed while signing.
    #[error("signing failed: {reason}")]
    SigningFailed {
        /// Why.
        reason: String,
    },
    /// A PKCS#11 module could not be loaded.
    #[error("cannot load PKCS#11 module {path}: {reason}; check the path and that the token software is installed")]
    ModuleLoad {
        /// Module path.
        path: String,
        /// Why.
        reason: String,
    },
    /// A PIN is needed and there is nowhere to get it from.
    #[error("a PIN is needed for {what}; give pin-source=file:PATH or run on a terminal")]
    PinRequired {
        /// Token label or file.
        what: String,
    },
    /// The token went away while it was being used.
    #[error("token {token} was removed or stopped responding during the operation; reinsert it and try again")]
    TokenRemoved {
        /// Token label.
        token: String,
    },
    /// The token offers no mechanism for the requested signature.
    #[error("token {token} offers no PKCS#11 mechanism for {}", .algorithm.name())]
    MechanismUnsupported {
        /// The requested algorithm.
        algorithm: SignatureAlgorithm,
        /// Token label.
        token: String,
    },
    /// More than one token or key matches and the reference does not say which.
    #[error("{count} {what} match {wanted}; add {hint} to the key reference")]
    Ambiguous {
        /// "tokens" or "private keys".
        what: &'static str,
        /// How many matched.
        count: usize,
        /// The reference.
        wanted: String,
        /// Which attribute would narrow it down.
        hint: &'static str,
    },
    /// A kind of key reference that this build cannot use yet.
    #[error("{what} key references are not supported yet")]
    NotSupported {
        /// Which kind ("csc:", "mss:").
        what: &'static str,
    },
    /// A PKCS#11 call failed for a reason not covered above.
    #[error("{context} failed on token {token}: {source}")]
    Pkcs11 {
        /// What we were doing (C_Sign, C_FindObjects ...).
        context: &'static str,
        /// Token label (or module path).
        token: String,
        /// The PKCS#11 return value.
        #[source]
        source: cryptoki::error::Error,
    },
    /// A remote signing service could not be reached, or answered something unusable or an
    /// error of its own.
    #[error("the remote signing service {service} {reason}")]
    Remote {
        /// The service (URL, or the phone number and MSSP).
        service: String,
        /// What happened, as a clause ("cannot be reached: ...", "refused the request: ...").
        reason: String,
    },
    /// The person refused the signature on their phone.
    #[error("the signature request was refused on the phone of {who}; nothing was signed")]
    UserCancelled {
        /// The phone number or credential.
        who: String,
    },
    /// No approval came in time; the request was abandoned.
    #[error("no approval came from {who} within {} s; nothing was signed, approve sooner or allow more time", .waited.as_secs())]
    ApprovalTimeout {
        /// The phone number or credential.
        who: String,
        /// How long we waited.
        waited: std::time::Duration,
    },
    /// The service gave up on the request before it was approved.
    #[error("the signature request to {who} expired before it was approved; nothing was signed, send it again")]
    TransactionExpired {
        /// The phone number or credential.
        who: String,
    },
    /// The signing PIN of a PKI SIM or remote credential is blocked.
    #[error("the signing PIN of {who} is blocked after too many wrong attempts; ask the provider to unblock it")]
    RemotePinBlocked {
        /// The phone number or credential.
        who: String,
    },
    /// The one-time password was refused.
    #[error("the one-time password (OTP) was refused by {who}; nothing was signed, check it and sign again")]
    WrongOtp {
        /// The credential.
        who: String,
    },
    /// The one-time password expired before it was used.
    #[error("the one-time password (OTP) for {who} expired before it was used; nothing was signed, sign again to get a new one")]
    OtpExpired {
        /// The credential.
        who: String,
    },
    /// The credential asks an OTP and nobody can give one (a service, or no terminal).
    #[error("{who} asks a one-time password (OTP) at each signing, and there is nobody here to type it; sign with `pki sign` at a terminal, or give --otp-source file:PATH from a script (a signing service cannot use such a credential)")]
    OtpRequired {
        /// The credential.
        who: String,
    },
    /// A scripted OTP source gave no fresh OTP in time.
    #[error("no new one-time password (OTP) for {who} appeared in {} within {} s; nothing was signed, write the OTP there", .source_file.display(), .waited.as_secs())]
    OtpNotGiven {
        /// The credential.
        who: String,
        /// The file read.
        source_file: std::path::PathBuf,
        /// How long we waited.
        waited: std::time::Duration,
    },
    /// Any other backend error, with its cause kept.
    #[error("{context}: {source}")]
    Backend {
        /// What we were doing.
        context: String,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

fn retries_hint(final_try: bool) -> &'static str {
    if final_try {
        "; one more wrong PIN will lock the token"
    } else {
        "; check the PIN and try again"
    }
}

impl Error {
    /// Whether a remote service merely could not be reached or did not answer in time (the
    /// network, or the service down for a moment): asking again later may work, and nothing
    /// about the request itself was decided.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Remote { reason, .. }
            if reason.starts_with("cannot be reached") || reason.starts_with("did not answer within"))
    }
}
