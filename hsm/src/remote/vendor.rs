//! A Vietnamese provider's CSC-like dialect (DOMAIN.md, "Remote signers"): after the usual CSC
//! `info` / token / `credentials/info`, hashes go to `v1/signatures/sign` as
//! `sign_files[{data_to_be_signed (hex hash), doc_id, file_type, sign_type: "hash"}]` with our
//! `transaction_id`; the answer and `v1/signatures/sign/{transaction_id}/status` say
//! `sig_wait_for_user_confirm` until the user approves in the provider's app, then carry one
//! signature per `doc_id`.
//!
//! The request names come from the provider's integration notes; the status values other than
//! `sig_wait_for_user_confirm` and the shape of the signature list are inferred (see
//! docs/decisions/0016-remote-signers.md). This file is deliberately small: the point is that a
//! vendor dialect is only its submit and poll over the shared [`CscSession`].

use super::csc::CscSession;
use super::{Dialect, Step};
use crate::{Error, SignatureAlgorithm};
use base64::Engine;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The "sign_files" dialect.
#[derive(Debug)]
pub struct SignFiles {
    session: CscSession,
    counter: AtomicU64,
}

impl SignFiles {
    /// Over an open CSC session.
    pub fn new(session: CscSession) -> Self {
        Self {
            session,
            counter: AtomicU64::new(0),
        }
    }

    fn answer(&self, handle: &str, status: u16, v: &Value, method: &str) -> Result<Step, Error> {
        if status != 200 {
            return Err(self.session.error(method, status, v));
        }
        let who = self.session.who();
        match v.get("status").and_then(Value::as_str).unwrap_or("") {
            "sig_wait_for_user_confirm" | "pending" => Ok(Step::Pending(handle.to_owned())),
            "sig_user_rejected" | "rejected" | "user_cancelled" => {
                Err(Error::UserCancelled { who })
            }
            "sig_expired" | "expired" => Err(Error::TransactionExpired { who }),
            "success" | "sig_success" | "signed" => {
                let list = v
                    .get("signatures")
                    .and_then(Value::as_array)
                    .ok_or_else(|| self.session.http.bad_answer("no signatures in a success"))?;
                let mut out: Vec<(usize, Vec<u8>)> = Vec::new();
                for s in list {
                    let doc = s
                        .get("doc_id")
                        .and_then(Value::as_str)
                        .and_then(|d| d.parse::<usize>().ok())
                        .ok_or_else(|| self.session.http.bad_answer("a signature has no doc_id"))?;
                    let sig = s
                        .get("signature_value")
                        .and_then(Value::as_str)
                        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                        .ok_or_else(|| {
                            self.session
                                .http
                                .bad_answer("a signature_value is not base64")
                        })?;
                    out.push((doc, sig));
                }
                out.sort_by_key(|(d, _)| *d);
                Ok(Step::Done(out.into_iter().map(|(_, s)| s).collect()))
            }
            other => Err(Error::Remote {
                service: self.session.http.service().into(),
                reason: format!("answered with the unknown status \"{other}\""),
            }),
        }
    }
}

impl Dialect for SignFiles {
    fn who(&self) -> String {
        self.session.who()
    }

    fn max_per_approval(&self) -> usize {
        self.session.info.multisign
    }

    fn submit(
        &self,
        alg: SignatureAlgorithm,
        digests: &[Vec<u8>],
        _wait: Duration,
    ) -> Result<Step, Error> {
        let tx = format!(
            "vnpki-{}-{}",
            time::OffsetDateTime::now_utc().unix_timestamp_nanos(),
            self.counter.fetch_add(1, Ordering::Relaxed)
        );
        let files: Vec<Value> = digests
            .iter()
            .enumerate()
            .map(|(i, d)| {
                json!({"data_to_be_signed": hex::encode(d), "doc_id": (i + 1).to_string(),
                       "file_type": "hash", "sign_type": "hash"})
            })
            .collect();
        let (sign_algo, params) = super::csc::sign_algo(alg);
        let mut body = json!({
            "credentialID": self.session.credential_id,
            "transaction_id": tx,
            "numSignatures": digests.len(),
            "hashAlgo": alg.hash().map(|h| h.oid().to_string()),
            "signAlgo": sign_algo,
            "sign_files": files,
        });
        if let Some(p) = params {
            body["signAlgoParams"] = json!(p);
        }
        let (status, v) = self.session.call("v1/signatures/sign", body, None)?;
        let handle = v
            .get("transaction_id")
            .and_then(Value::as_str)
            .unwrap_or(&tx)
            .to_owned();
        // It goes into a URL path: only plain characters.
        if handle.is_empty()
            || !handle
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(self.session.http.bad_answer(
                "the transaction_id holds characters other than letters, digits, - _ .",
            ));
        }
        self.answer(&handle, status, &v, "v1/signatures/sign")
    }

    fn poll(&self, handle: &str) -> Result<Step, Error> {
        let method = format!("v1/signatures/sign/{handle}/status");
        let (status, v) = self.session.call(&method, json!({}), None)?;
        self.answer(handle, status, &v, "v1/signatures/sign/.../status")
    }
}
