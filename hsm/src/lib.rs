//! Where keys live: one [`Signer`] interface over software keys, PKCS#11 tokens and HSMs, and
//! remote signers.
//!
//! A signer knows bytes and algorithms, never documents: it exposes its public key, the
//! algorithms it can perform (most preferred first), the largest signature it can produce (so a
//! PDF signer can reserve `/Contents` space) and `sign(alg, to_be_signed)`. Building CMS, PDF or
//! XML structures is `pki-core`'s job.
//!
//! [`open`] turns a key reference (CONTRACT.md) into a signer. Signing may block (a PKCS#11
//! module, a PIN pad, a busy HSM): async callers run it under `tokio::task::spawn_blocking`.
#![warn(missing_docs)]

mod algorithm;
mod error;
pub mod keyref;
mod open;
pub mod pem;
pub mod pin;
pub mod pkcs11;
pub mod pkcs12;
pub mod remote;
mod secret;
pub mod software;

pub use algorithm::{oids, HashAlgorithm, KeyKind, SignatureAlgorithm};
pub use error::Error;
pub use keyref::KeyRef;
pub use open::{open, open_remote, OpenOptions};
pub use pin::{NoPrompt, PinPrompt, PinRequest};
pub use remote::{RemoteEvent, RemoteOptions, RemoteSigner, Submission};
pub use secret::SecretString;
pub use software::SoftwareKey;

/// A private key that can sign, wherever it lives.
///
/// Implementations must be cheap to share between threads; a backend whose handles are not
/// thread-safe (a PKCS#11 session) keeps a pool behind this interface.
pub trait Signer: Send + Sync + std::fmt::Debug {
    /// The public key as a DER-encoded SubjectPublicKeyInfo.
    fn public_key_der(&self) -> &[u8];

    /// What kind of key this is (RSA with its size, or the curve).
    fn key_kind(&self) -> KeyKind;

    /// Algorithms this key can sign with, most preferred first.
    fn algorithms(&self) -> Vec<SignatureAlgorithm>;

    /// The largest signature (in bytes, as it will be embedded: DER for ECDSA) this key produces.
    fn max_signature_len(&self) -> usize {
        self.key_kind().max_signature_len()
    }

    /// Signs `to_be_signed` (the signer hashes it as `alg` says). ECDSA output is DER-encoded.
    fn sign(&self, alg: SignatureAlgorithm, to_be_signed: &[u8]) -> Result<Vec<u8>, Error>;

    /// Certificates that belong to this key, leaf first, as DER (may be empty when the key
    /// store holds none; the caller then supplies them).
    fn certificates(&self) -> Vec<Vec<u8>> {
        Vec::new()
    }

    /// Signs several inputs with `alg`, in order. A remote signer sends them together so that
    /// one approval on the phone signs them all; local keys sign one after the other. All or
    /// nothing: an error means no signature is returned.
    fn sign_many(
        &self,
        alg: SignatureAlgorithm,
        to_be_signed: &[&[u8]],
    ) -> Result<Vec<Vec<u8>>, Error> {
        to_be_signed.iter().map(|t| self.sign(alg, t)).collect()
    }

    /// Whether signing involves a person approving elsewhere (a phone), so that callers should
    /// prepare every document first and sign them with one [`Signer::sign_many`].
    fn is_remote(&self) -> bool {
        false
    }

    /// Checks that the key can be used now without signing anything (a service's readiness
    /// probe): a PKCS#11 key asks its token for session information and one attribute of the
    /// key object, so a token that was removed or a key that was deleted is noticed; a remote
    /// key asks its service (`remote::Dialect::probe`). Keys held in memory are always usable.
    fn probe(&self) -> Result<(), Error> {
        Ok(())
    }

    /// Whether every signature [`Signer::sign`] returns for `alg` was already checked with the
    /// public key by the implementation itself, so that a caller need not verify it again before
    /// writing it out. aws-lc's RSA private operation checks its result with the public
    /// exponent (against fault attacks) and fails rather than return a wrong value; PKCS#11
    /// tokens and remote services promise nothing of the kind.
    fn verifies_own_signatures(&self, alg: SignatureAlgorithm) -> bool {
        let _ = alg;
        false
    }
}

impl<T: Signer + ?Sized> Signer for std::sync::Arc<T> {
    fn public_key_der(&self) -> &[u8] {
        (**self).public_key_der()
    }
    fn key_kind(&self) -> KeyKind {
        (**self).key_kind()
    }
    fn algorithms(&self) -> Vec<SignatureAlgorithm> {
        (**self).algorithms()
    }
    fn max_signature_len(&self) -> usize {
        (**self).max_signature_len()
    }
    fn sign(&self, alg: SignatureAlgorithm, to_be_signed: &[u8]) -> Result<Vec<u8>, Error> {
        (**self).sign(alg, to_be_signed)
    }
    fn certificates(&self) -> Vec<Vec<u8>> {
        (**self).certificates()
    }
    fn sign_many(
        &self,
        alg: SignatureAlgorithm,
        to_be_signed: &[&[u8]],
    ) -> Result<Vec<Vec<u8>>, Error> {
        (**self).sign_many(alg, to_be_signed)
    }
    fn is_remote(&self) -> bool {
        (**self).is_remote()
    }
    fn probe(&self) -> Result<(), Error> {
        (**self).probe()
    }
    fn verifies_own_signatures(&self, alg: SignatureAlgorithm) -> bool {
        (**self).verifies_own_signatures(alg)
    }
}

impl<T: Signer + ?Sized> Signer for Box<T> {
    fn public_key_der(&self) -> &[u8] {
        (**self).public_key_der()
    }
    fn key_kind(&self) -> KeyKind {
        (**self).key_kind()
    }
    fn algorithms(&self) -> Vec<SignatureAlgorithm> {
        (**self).algorithms()
    }
    fn max_signature_len(&self) -> usize {
        (**self).max_signature_len()
    }
    fn sign(&self, alg: SignatureAlgorithm, to_be_signed: &[u8]) -> Result<Vec<u8>, Error> {
        (**self).sign(alg, to_be_signed)
    }
    fn certificates(&self) -> Vec<Vec<u8>> {
        (**self).certificates()
    }
    fn sign_many(
        &self,
        alg: SignatureAlgorithm,
        to_be_signed: &[&[u8]],
    ) -> Result<Vec<Vec<u8>>, Error> {
        (**self).sign_many(alg, to_be_signed)
    }
    fn is_remote(&self) -> bool {
        (**self).is_remote()
    }
    fn probe(&self) -> Result<(), Error> {
        (**self).probe()
    }
    fn verifies_own_signatures(&self, alg: SignatureAlgorithm) -> bool {
        (**self).verifies_own_signatures(alg)
    }
}
