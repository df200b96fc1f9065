//! Remote signers: the key lives in a PKI SIM or in a provider's HSM. We send hashes, the person
//! approves on a phone, and the signatures come back seconds or minutes later, or never.
//!
//! One core ([`RemoteSigner`]) does what every such service needs: hash locally, send as many
//! hashes per approval as the service allows, poll until the answer comes or the time is up,
//! tell the caller what is happening ([`RemoteEvent`]), and check each returned signature
//! against the certificate before handing it on. A service's wire protocol is a [`Dialect`]:
//! - [`csc`]: Cloud Signature Consortium API v2 (and v1 field names);
//! - [`vendor`]: a Vietnamese provider's CSC-like "sign_files" hash-signing API, as a thin
//!   dialect (submit and poll) over the same core;
//! - [`requests`]: a second CSC-like vendor dialect (`documents[]`, `hash[]`, `async: 1`,
//!   polling `requests/status`), also a thin dialect over the CSC session;
//! - [`mss`]: ETSI TS 102 204 mobile signature (PKI SIM) over SOAP.

pub mod csc;
mod http;
pub mod mss;
pub mod oauth2code;
pub mod requests;
pub mod vendor;

pub use http::HttpClient;

use crate::{Error, HashAlgorithm, KeyKind, SignatureAlgorithm, Signer};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What a remote signer reports while it works, so a command line can say "approve on your
/// phone" and show that it is waiting.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemoteEvent {
    /// A request for `count` signatures went out; the person must approve it.
    ApprovalRequested {
        /// Whose approval: a phone number, or a credential at a service.
        who: String,
        /// Signatures in this request.
        count: usize,
        /// This is approval `index` (1-based) of `of`.
        index: usize,
        /// Approvals needed in all (more than one when the service signs fewer hashes per
        /// approval than were asked).
        of: usize,
    },
    /// Still waiting for the approval.
    Waiting {
        /// Whose approval.
        who: String,
        /// Time since the request went out.
        elapsed: Duration,
        /// When we give up.
        timeout: Duration,
    },
    /// The person must log in at the provider in a browser and authorise the signature (CSC
    /// `oauth2code`): open this URL.
    BrowserLogin {
        /// Whose login.
        who: String,
        /// The authorisation URL to open.
        url: String,
    },
    /// The signatures of one request arrived.
    Approved {
        /// Whose approval.
        who: String,
        /// Signatures received.
        count: usize,
    },
}

/// A callback that receives [`RemoteEvent`]s.
pub type Progress = Arc<dyn Fn(&RemoteEvent) + Send + Sync>;

/// How a remote signer waits and connects.
#[derive(Clone)]
pub struct RemoteOptions {
    /// How long to wait for the person to approve one request before giving up (default 300 s).
    pub approval_timeout: Duration,
    /// Time between status polls (default 2 s; `poll-ms=` in the key reference overrides).
    pub poll_interval: Duration,
    /// Time allowed for one HTTP exchange that does not wait for a person (default 30 s).
    pub request_timeout: Duration,
    /// A PEM file of CA certificates to trust for the service's TLS certificate instead of the
    /// system's CA bundle (`ca-file=` in the key reference does the same).
    pub ca_file: Option<PathBuf>,
    /// Who to tell what is happening.
    pub progress: Option<Progress>,
    /// A short text shown to the person on the phone where the service supports one.
    pub message: Option<String>,
    /// Who gives a one-time password when a credential asks one at each authorisation (CSC
    /// `OTP`): the CLI's terminal prompt, or [`crate::pin::OtpFile`] for scripts. `None` (a
    /// service): such a credential is refused when it is opened.
    pub otp_prompt: Option<Arc<dyn crate::pin::PinPrompt>>,
    /// Whether a person can log in in a browser when a credential asks it (CSC `oauth2code`):
    /// the CLI; `false` (a service): such a credential is refused when it is opened.
    pub browser_login: bool,
}

impl Default for RemoteOptions {
    fn default() -> Self {
        Self {
            approval_timeout: Duration::from_secs(300),
            poll_interval: Duration::from_secs(2),
            request_timeout: Duration::from_secs(30),
            ca_file: None,
            progress: None,
            message: None,
            otp_prompt: None,
            browser_login: false,
        }
    }
}

impl std::fmt::Debug for RemoteOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteOptions")
            .field("approval_timeout", &self.approval_timeout)
            .field("poll_interval", &self.poll_interval)
            .field("request_timeout", &self.request_timeout)
            .field("ca_file", &self.ca_file)
            .field("progress", &self.progress.is_some())
            .field("message", &self.message)
            .field("otp_prompt", &self.otp_prompt.is_some())
            .field("browser_login", &self.browser_login)
            .finish()
    }
}

impl RemoteOptions {
    pub(crate) fn emit(&self, e: RemoteEvent) {
        if let Some(p) = &self.progress {
            p(&e);
        }
    }
}

/// What one round with a service gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// The signatures, in the order of the hashes.
    Done(Vec<Vec<u8>>),
    /// Not yet: poll again with this handle (a transaction or response id).
    Pending(String),
}

/// One service's wire protocol for "sign these hashes, then poll".
pub trait Dialect: Send + Sync + std::fmt::Debug {
    /// Whose approval this is, for messages ("+84912345678", "credential X at https://...").
    fn who(&self) -> String;

    /// How many hashes one approval may sign.
    fn max_per_approval(&self) -> usize;

    /// Sends `digests` (each `alg`'s hash of one input) for signing. `wait` is how long a
    /// synchronous service may hold the request while the person decides.
    fn submit(
        &self,
        alg: SignatureAlgorithm,
        digests: &[Vec<u8>],
        wait: Duration,
    ) -> Result<Step, Error>;

    /// Asks about a pending request.
    fn poll(&self, handle: &str) -> Result<Step, Error>;

    /// Checks, within `limit` and without signing or reaching the person, that the service
    /// can be used now (a signing service's readiness). Default: nothing to check.
    fn probe(&self, limit: Duration) -> Result<(), Error> {
        let _ = limit;
        Ok(())
    }
}

/// How long a remote key's readiness probe may take (below the signing service's 3 s per
/// key, so the answer says what failed rather than that it timed out).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A [`Signer`] whose key is behind a remote service.
pub struct RemoteSigner {
    dialect: Box<dyn Dialect>,
    spki: Vec<u8>,
    kind: KeyKind,
    certs: Vec<Vec<u8>>,
    algorithms: Vec<SignatureAlgorithm>,
    opts: RemoteOptions,
}

impl std::fmt::Debug for RemoteSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSigner")
            .field("dialect", &self.dialect)
            .field("kind", &self.kind)
            .field("certificates", &self.certs.len())
            .finish_non_exhaustive()
    }
}

impl RemoteSigner {
    /// A signer over `dialect` for the key of `certs[0]` (leaf first, DER). `allowed` narrows
    /// the algorithms to those the service announces (`None`: whatever fits the key).
    pub fn new(
        dialect: Box<dyn Dialect>,
        certs: Vec<Vec<u8>>,
        allowed: Option<&[SignatureAlgorithm]>,
        opts: RemoteOptions,
    ) -> Result<Self, Error> {
        let leaf = certs.first().ok_or_else(|| Error::BadKey {
            what: dialect.who(),
            reason: "the service gave no certificate for it".into(),
        })?;
        let spki = crate::pkcs11::admin::certificate_spki(leaf)?;
        let kind = crate::pkcs11::objects::kind_of_spki(&spki).ok_or_else(|| Error::BadKey {
            what: dialect.who(),
            reason: "its certificate holds a key type this program cannot use".into(),
        })?;
        let algorithms: Vec<SignatureAlgorithm> = algorithms_for(kind)
            .into_iter()
            .filter(|a| allowed.is_none_or(|l| l.contains(a)))
            .collect();
        if algorithms.is_empty() {
            return Err(Error::BadKey {
                what: dialect.who(),
                reason: format!(
                    "the service offers no signature algorithm this program uses for a {} key",
                    kind.describe()
                ),
            });
        }
        Ok(Self {
            dialect,
            spki,
            kind,
            certs,
            algorithms,
            opts,
        })
    }

    /// Whose approval this signer waits for.
    pub fn who(&self) -> String {
        self.dialect.who()
    }

    /// How many hashes one approval of this service may sign (1 for a PKI SIM).
    pub fn max_per_approval(&self) -> usize {
        self.dialect.max_per_approval().max(1)
    }

    /// How this signer waits: approval timeout and poll interval (with what the key
    /// reference says).
    pub fn options(&self) -> &RemoteOptions {
        &self.opts
    }

    /// Sends the first request for `to_be_signed` and returns the state to poll with
    /// [`RemoteSigner::poll_submission`]. The state is serialisable: a service can store it
    /// while the person approves, and after a restart open the key again and go on polling.
    pub fn submit(
        &self,
        alg: SignatureAlgorithm,
        to_be_signed: &[&[u8]],
    ) -> Result<Submission, Error> {
        if !self.algorithms.contains(&alg) {
            return Err(Error::UnsupportedAlgorithm {
                algorithm: alg,
                key: format!("{} at {}", self.kind.describe(), self.dialect.who()),
            });
        }
        let hash = alg.hash().ok_or(Error::UnsupportedAlgorithm {
            algorithm: alg,
            key: self.kind.describe(),
        })?;
        let digests: Vec<Vec<u8>> = to_be_signed.iter().map(|t| hash.digest(t)).collect();
        let per = self.dialect.max_per_approval().max(1);
        let mut sub = Submission {
            algorithm: alg,
            to_be_signed: to_be_signed.iter().map(|t| t.to_vec()).collect(),
            chunks: digests
                .chunks(per)
                .map(|c| Chunk::Waiting {
                    digests: c.to_vec(),
                })
                .collect(),
            sent_at_ms: 0,
        };
        self.send_next(&mut sub)?;
        Ok(sub)
    }

    /// One round: asks about the pending request (at most once), sends the next one when it
    /// is done, and returns every signature (checked against the certificate) when all are.
    /// `Ok(None)`: still waiting. Gives up after the approval timeout, counted from when the
    /// request went out (wall clock, so it holds across a restart) — unless the one look it
    /// still takes then finds the approval given.
    pub fn poll_submission(&self, sub: &mut Submission) -> Result<Option<Vec<Vec<u8>>>, Error> {
        let who = self.dialect.who();
        let timeout = self.opts.approval_timeout;
        let Some(i) = sub.current() else {
            return self.complete(sub).map(Some);
        };
        let Chunk::Pending { handle, count } = &sub.chunks[i] else {
            self.send_next(sub)?;
            return Ok(None);
        };
        let count = *count;
        let elapsed = Duration::from_millis((now_ms() - sub.sent_at_ms).max(0) as u64);
        // Past the timeout we still look once: an approval given while nobody was asking (a
        // service restarting) is used, not thrown away. Anything else is the timeout.
        let timed_out = elapsed >= timeout;
        let gave_up = || Error::ApprovalTimeout {
            who: who.clone(),
            waited: timeout,
        };
        let step = match self.dialect.poll(handle) {
            Err(e) if timed_out && e.is_unreachable() => return Err(gave_up()),
            other => other?,
        };
        match step {
            Step::Pending(_) if timed_out => Err(gave_up()),
            Step::Pending(h) => {
                sub.chunks[i] = Chunk::Pending { handle: h, count };
                self.opts.emit(RemoteEvent::Waiting {
                    who,
                    elapsed,
                    timeout,
                });
                Ok(None)
            }
            Step::Done(sigs) => {
                self.done(sub, i, count, sigs)?;
                self.send_next(sub)?;
                match sub.current() {
                    None => self.complete(sub).map(Some),
                    Some(_) => Ok(None),
                }
            }
        }
    }

    /// Sends waiting requests until one is pending or all are done.
    fn send_next(&self, sub: &mut Submission) -> Result<(), Error> {
        let of = sub.chunks.len();
        while let Some(i) = sub.current() {
            let Chunk::Waiting { digests } = &sub.chunks[i] else {
                return Ok(());
            };
            let digests = digests.clone();
            self.opts.emit(RemoteEvent::ApprovalRequested {
                who: self.dialect.who(),
                count: digests.len(),
                index: i + 1,
                of,
            });
            sub.sent_at_ms = now_ms();
            match self
                .dialect
                .submit(sub.algorithm, &digests, self.opts.approval_timeout)?
            {
                Step::Pending(handle) => {
                    sub.chunks[i] = Chunk::Pending {
                        handle,
                        count: digests.len(),
                    };
                }
                Step::Done(sigs) => self.done(sub, i, digests.len(), sigs)?,
            }
        }
        Ok(())
    }

    fn done(
        &self,
        sub: &mut Submission,
        i: usize,
        count: usize,
        sigs: Vec<Vec<u8>>,
    ) -> Result<(), Error> {
        let who = self.dialect.who();
        if sigs.len() != count {
            return Err(Error::Remote {
                service: who,
                reason: format!("returned {} signatures for {count} hashes", sigs.len()),
            });
        }
        self.opts.emit(RemoteEvent::Approved {
            who,
            count: sigs.len(),
        });
        sub.chunks[i] = Chunk::Done { signatures: sigs };
        Ok(())
    }

    /// Every signature, in order, each checked against the certificate: a garbled or
    /// substituted answer is caught here, not by the recipient.
    fn complete(&self, sub: &Submission) -> Result<Vec<Vec<u8>>, Error> {
        let mut out = Vec::with_capacity(sub.to_be_signed.len());
        for c in &sub.chunks {
            match c {
                Chunk::Done { signatures } => out.extend(signatures.iter().cloned()),
                _ => return Err(self.dialect_bad("a request is still open")),
            }
        }
        if out.len() != sub.to_be_signed.len() {
            return Err(self.dialect_bad("the number of signatures does not match"));
        }
        for (sig, tbs) in out.iter_mut().zip(&sub.to_be_signed) {
            // As received, or (ECDSA) the r||s reading of it made DER: whichever verifies.
            let found = [Some(sig.clone()), raw_ecdsa_to_der(self.kind, sig)]
                .into_iter()
                .flatten()
                .find(|c| verify(sub.algorithm, self.kind, &self.spki, tbs, c).is_ok());
            *sig = found.ok_or_else(|| Error::Remote {
                service: self.dialect.who(),
                reason: "returned a signature that does not verify with the certificate; nothing was written".into(),
            })?;
        }
        Ok(out)
    }

    fn dialect_bad(&self, why: &str) -> Error {
        Error::Remote {
            service: self.dialect.who(),
            reason: format!("left the signing incomplete: {why}"),
        }
    }
}

/// Requests sent to a remote signer and what came back so far; serialisable (serde), so the
/// waiting can outlive the process. Holds hashes and to-be-signed bytes, no secrets.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Submission {
    /// The signature algorithm.
    pub algorithm: SignatureAlgorithm,
    to_be_signed: Vec<Vec<u8>>,
    chunks: Vec<Chunk>,
    /// When the current request went out (Unix time, ms).
    sent_at_ms: i64,
}

impl Submission {
    /// The first request not done yet.
    fn current(&self) -> Option<usize> {
        self.chunks
            .iter()
            .position(|c| !matches!(c, Chunk::Done { .. }))
    }

    /// The pending transaction or response id, if a request is waiting for the person.
    pub fn pending_handle(&self) -> Option<&str> {
        self.chunks.iter().find_map(|c| match c {
            Chunk::Pending { handle, .. } => Some(handle.as_str()),
            _ => None,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum Chunk {
    Waiting { digests: Vec<Vec<u8>> },
    Pending { handle: String, count: usize },
    Done { signatures: Vec<Vec<u8>> },
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

impl Signer for RemoteSigner {
    fn public_key_der(&self) -> &[u8] {
        &self.spki
    }

    fn key_kind(&self) -> KeyKind {
        self.kind
    }

    fn algorithms(&self) -> Vec<SignatureAlgorithm> {
        self.algorithms.clone()
    }

    fn sign(&self, alg: SignatureAlgorithm, to_be_signed: &[u8]) -> Result<Vec<u8>, Error> {
        let mut v = self.sign_many(alg, &[to_be_signed])?;
        v.pop().ok_or_else(|| Error::SigningFailed {
            reason: "the remote service returned no signature".into(),
        })
    }

    fn sign_many(
        &self,
        alg: SignatureAlgorithm,
        to_be_signed: &[&[u8]],
    ) -> Result<Vec<Vec<u8>>, Error> {
        let mut sub = self.submit(alg, to_be_signed)?;
        loop {
            if let Some(sigs) = self.poll_submission(&mut sub)? {
                return Ok(sigs);
            }
            std::thread::sleep(self.opts.poll_interval);
        }
    }

    fn certificates(&self) -> Vec<Vec<u8>> {
        self.certs.clone()
    }

    fn is_remote(&self) -> bool {
        true
    }

    /// The service's own check (CSC: `credentials/info`; TS 102 204 and the `sign_files`
    /// dialect: the endpoint answers HTTP), within [`PROBE_TIMEOUT`].
    fn probe(&self) -> Result<(), Error> {
        self.dialect.probe(PROBE_TIMEOUT)
    }
}

/// The algorithms this program can ask a remote service for, and check, per key kind.
fn algorithms_for(kind: KeyKind) -> Vec<SignatureAlgorithm> {
    use HashAlgorithm::*;
    use SignatureAlgorithm::*;
    match kind {
        KeyKind::Rsa { .. } => vec![
            RsaPkcs1(Sha256),
            RsaPss(Sha256),
            RsaPkcs1(Sha384),
            RsaPss(Sha384),
            RsaPkcs1(Sha512),
            RsaPss(Sha512),
        ],
        KeyKind::EcP256 => vec![Ecdsa(Sha256)],
        KeyKind::EcP384 => vec![Ecdsa(Sha384)],
        KeyKind::EcP521 => vec![Ecdsa(Sha512)],
        _ => Vec::new(),
    }
}

/// Services return ECDSA either DER-encoded or as r||s: the DER form of an r||s reading, when
/// `sig` has the length of one.
fn raw_ecdsa_to_der(kind: KeyKind, sig: &[u8]) -> Option<Vec<u8>> {
    let half = match kind {
        KeyKind::EcP256 => 32,
        KeyKind::EcP384 => 48,
        KeyKind::EcP521 => 66,
        _ => return None,
    };
    if sig.len() != 2 * half {
        return None;
    }
    let int = |b: &[u8]| {
        let b = match b.iter().position(|&x| x != 0) {
            Some(i) => &b[i..],
            None => &[0u8][..],
        };
        let mut v = Vec::with_capacity(b.len() + 3);
        v.push(0x02);
        let pad = b[0] & 0x80 != 0;
        v.push((b.len() + usize::from(pad)) as u8);
        if pad {
            v.push(0);
        }
        v.extend_from_slice(b);
        v
    };
    let body = [int(&sig[..half]), int(&sig[half..])].concat();
    let mut out = vec![0x30];
    if body.len() >= 0x80 {
        out.push(0x81);
    }
    out.push(body.len() as u8);
    out.extend(body);
    Some(out)
}

fn verify(
    alg: SignatureAlgorithm,
    kind: KeyKind,
    spki: &[u8],
    tbs: &[u8],
    sig: &[u8],
) -> Result<(), ()> {
    use aws_lc_rs::signature as s;
    use HashAlgorithm::*;
    use SignatureAlgorithm::*;
    let v: &'static dyn s::VerificationAlgorithm = match (alg, kind) {
        (RsaPkcs1(Sha256), _) => &s::RSA_PKCS1_2048_8192_SHA256,
        (RsaPkcs1(Sha384), _) => &s::RSA_PKCS1_2048_8192_SHA384,
        (RsaPkcs1(Sha512), _) => &s::RSA_PKCS1_2048_8192_SHA512,
        (RsaPss(Sha256), _) => &s::RSA_PSS_2048_8192_SHA256,
        (RsaPss(Sha384), _) => &s::RSA_PSS_2048_8192_SHA384,
        (RsaPss(Sha512), _) => &s::RSA_PSS_2048_8192_SHA512,
        (Ecdsa(Sha256), KeyKind::EcP256) => &s::ECDSA_P256_SHA256_ASN1,
        (Ecdsa(Sha384), KeyKind::EcP384) => &s::ECDSA_P384_SHA384_ASN1,
        (Ecdsa(Sha512), KeyKind::EcP521) => &s::ECDSA_P521_SHA512_ASN1,
        _ => return Err(()),
    };
    let spki = spki::SubjectPublicKeyInfoRef::try_from(spki).map_err(|_| ())?;
    s::UnparsedPublicKey::new(v, spki.subject_public_key.raw_bytes())
        .verify(tbs, sig)
        .map_err(|_| ())
}

/// Reads `name` from a key reference as milliseconds.
fn millis_attr(r: &crate::keyref::RemoteRef, name: &str) -> Result<Option<Duration>, Error> {
    match r.get(name) {
        None => Ok(None),
        Some(v) => v
            .parse::<u64>()
            .map(|ms| Some(Duration::from_millis(ms)))
            .map_err(|_| Error::BadKeyRef {
                reason: format!("{name} must be a number of milliseconds, not \"{v}\""),
            }),
    }
}

/// The options with what the key reference says (`poll-ms=`, `ca-file=`).
fn effective_options(
    r: &crate::keyref::RemoteRef,
    opts: &RemoteOptions,
) -> Result<RemoteOptions, Error> {
    let mut o = opts.clone();
    if let Some(d) = millis_attr(r, "poll-ms")? {
        o.poll_interval = d.max(Duration::from_millis(10));
    }
    if let Some(ca) = r.get("ca-file") {
        o.ca_file = Some(PathBuf::from(ca.strip_prefix("file:").unwrap_or(ca)));
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SoftwareKey;
    use std::sync::Mutex;

    /// A dialect that signs with a local key after `pending` polls.
    #[derive(Debug)]
    struct Fake {
        key: SoftwareKey,
        per: usize,
        pending: usize,
        polls: Mutex<usize>,
        submits: Mutex<Vec<usize>>,
        garble: bool,
        raw_ecdsa: bool,
        last: Mutex<Vec<(SignatureAlgorithm, Vec<Vec<u8>>)>>,
    }

    impl Fake {
        fn sign(&self, alg: SignatureAlgorithm, d: &[Vec<u8>]) -> Vec<Vec<u8>> {
            d.iter()
                .map(|d| {
                    let mut s = self.key.sign_digest(alg, d).unwrap();
                    if self.garble {
                        s[5] ^= 1;
                    }
                    if self.raw_ecdsa {
                        s = crate::remote::tests::der_to_raw(&s, 32);
                    }
                    s
                })
                .collect()
        }
    }

    impl Dialect for Fake {
        fn who(&self) -> String {
            "+84900000000".into()
        }
        fn max_per_approval(&self) -> usize {
            self.per
        }
        fn submit(
            &self,
            alg: SignatureAlgorithm,
            digests: &[Vec<u8>],
            _wait: Duration,
        ) -> Result<Step, Error> {
            self.submits.lock().unwrap().push(digests.len());
            if self.pending == 0 {
                return Ok(Step::Done(self.sign(alg, digests)));
            }
            *self.polls.lock().unwrap() = 0;
            self.last.lock().unwrap().push((alg, digests.to_vec()));
            Ok(Step::Pending("tx".into()))
        }
        fn poll(&self, _h: &str) -> Result<Step, Error> {
            let mut p = self.polls.lock().unwrap();
            *p += 1;
            if self.pending == usize::MAX || *p < self.pending {
                return Ok(Step::Pending("tx".into()));
            }
            let (alg, d) = self.last.lock().unwrap().pop().unwrap();
            Ok(Step::Done(self.sign(alg, &d)))
        }
    }

    pub(super) fn der_to_raw(der: &[u8], half: usize) -> Vec<u8> {
        let mut r = der::SliceReader::new(der).unwrap();
        let (a, b) = der::Reader::sequence(&mut r, |r| {
            Ok::<_, der::Error>((
                der::asn1::UintRef::decode(r)?.as_bytes().to_vec(),
                der::asn1::UintRef::decode(r)?.as_bytes().to_vec(),
            ))
        })
        .unwrap();
        let mut out = vec![0u8; 2 * half];
        out[half - a.len()..half].copy_from_slice(&a);
        out[2 * half - b.len()..].copy_from_slice(&b);
        out
    }
    use der::Decode;

    fn signer(kind: KeyKind, fake: impl FnOnce(SoftwareKey) -> Fake) -> (RemoteSigner, Vec<u8>) {
        let (k, der) = SoftwareKey::generate(kind).unwrap();
        let spki = k.public_key_der().to_vec();
        let cert = self_signed_cert(&der);
        let d = Box::new(fake(k));
        let opts = RemoteOptions {
            poll_interval: Duration::from_millis(5),
            approval_timeout: Duration::from_millis(300),
            ..Default::default()
        };
        (RemoteSigner::new(d, vec![cert], None, opts).unwrap(), spki)
    }

    /// A certificate for the key: built with x509-cert's builder over the software key.
    fn self_signed_cert(pkcs8: &[u8]) -> Vec<u8> {
        crate::remote::tests_cert::self_signed(pkcs8)
    }

    fn fake(k: SoftwareKey) -> Fake {
        Fake {
            key: k,
            per: 5,
            pending: 3,
            polls: Mutex::new(0),
            submits: Mutex::new(Vec::new()),
            garble: false,
            raw_ecdsa: false,
            last: Mutex::new(Vec::new()),
        }
    }

    #[test]
    fn chunks_by_the_service_limit_and_verifies_each_signature() {
        let (s, _) = signer(KeyKind::EcP256, |k| Fake {
            pending: 0,
            raw_ecdsa: true,
            ..fake(k)
        });
        let inputs: Vec<Vec<u8>> = (0..12).map(|i| vec![i as u8; 10]).collect();
        let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
        let alg = SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha256);
        let sigs = s.sign_many(alg, &refs).unwrap();
        assert_eq!(sigs.len(), 12);
        // r||s from the service became DER.
        assert!(sigs.iter().all(|s| s[0] == 0x30));
        assert!(s.is_remote());
    }

    #[test]
    fn polls_until_done_and_gives_up_at_the_timeout() {
        let events = Arc::new(Mutex::new(Vec::new()));
        let ev = events.clone();
        let (mut s, _) = signer(KeyKind::Rsa { bits: 2048 }, fake);
        s.opts.progress = Some(Arc::new(move |e: &RemoteEvent| {
            ev.lock().unwrap().push(e.clone())
        }));
        let alg = SignatureAlgorithm::RsaPss(HashAlgorithm::Sha256);
        s.sign(alg, b"doc").unwrap();
        let ev = events.lock().unwrap().clone();
        assert!(matches!(
            ev[0],
            RemoteEvent::ApprovalRequested { count: 1, .. }
        ));
        assert!(ev.iter().any(|e| matches!(e, RemoteEvent::Waiting { .. })));
        assert!(matches!(ev.last(), Some(RemoteEvent::Approved { .. })));

        let (s, _) = signer(KeyKind::Rsa { bits: 2048 }, |k| Fake {
            pending: usize::MAX,
            ..fake(k)
        });
        let e = s.sign(alg, b"doc").unwrap_err();
        assert!(matches!(e, Error::ApprovalTimeout { .. }), "{e}");
        assert!(e.to_string().contains("+84900000000"), "{e}");
    }

    #[test]
    fn an_approval_found_after_the_timeout_is_still_used() {
        // The request was approved while nobody polled (a service restarting): the one look
        // taken past the timeout finds it.
        let (s, _) = signer(KeyKind::EcP256, |k| Fake {
            pending: 1,
            ..fake(k)
        });
        let alg = SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha256);
        let mut sub = s.submit(alg, &[b"doc".as_slice()]).unwrap();
        std::thread::sleep(Duration::from_millis(350));
        let sigs = s
            .poll_submission(&mut sub)
            .unwrap()
            .expect("the approval was found");
        assert_eq!(sigs.len(), 1);
    }

    #[test]
    fn a_signature_that_does_not_verify_is_refused() {
        let (s, _) = signer(KeyKind::Rsa { bits: 2048 }, |k| Fake {
            pending: 0,
            garble: true,
            ..fake(k)
        });
        let e = s
            .sign(SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha256), b"x")
            .unwrap_err();
        assert!(e.to_string().contains("does not verify"), "{e}");
        // An algorithm the key cannot do is refused before anything is sent.
        assert!(s
            .sign(SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha256), b"x")
            .is_err());
    }
}

#[cfg(test)]
mod tests_cert {
    //! A throwaway self-signed certificate for unit tests.
    use crate::{Signer, SoftwareKey};
    use der::Encode;

    pub fn self_signed(pkcs8: &[u8]) -> Vec<u8> {
        let key = SoftwareKey::from_der(pkcs8, "t").unwrap();
        let alg = key.algorithms()[0];
        let spki = key.public_key_der().to_vec();
        // TBSCertificate by hand: version v3, serial 1, alg, issuer/subject CN=t, validity,
        // spki.
        let alg_id = alg.algorithm_identifier().to_der().unwrap();
        let name = hex::decode("300c310a30080603550403130174").unwrap();
        let validity =
            hex::decode("301e170d3230303130313030303030305a170d3439313233313030303030305a")
                .unwrap();
        let mut tbs_body = hex::decode("a003020102020101").unwrap();
        tbs_body.extend(&alg_id);
        tbs_body.extend(&name);
        tbs_body.extend(&validity);
        tbs_body.extend(&name);
        tbs_body.extend(&spki);
        let tbs = tlv(0x30, &tbs_body);
        let sig = key.sign(alg, &tbs).unwrap();
        let mut bits = vec![0u8];
        bits.extend(sig);
        let mut body = tbs;
        body.extend(alg_id);
        body.extend(tlv(0x03, &bits));
        tlv(0x30, &body)
    }

    fn tlv(tag: u8, c: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        if c.len() < 0x80 {
            v.push(c.len() as u8);
        } else if c.len() < 0x100 {
            v.extend([0x81, c.len() as u8]);
        } else {
            v.extend([0x82, (c.len() >> 8) as u8, c.len() as u8]);
        }
        v.extend_from_slice(c);
        v
    }
}
