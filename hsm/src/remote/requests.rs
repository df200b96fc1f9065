//! The second CSC-like vendor dialect of DOMAIN.md ("Remote signers"): the service keeps the
//! CSC `info`, OAuth 2.0 token and `credentials/info` calls, but signs without an
//! authorisation step (the person approves on the phone instead of giving a PIN/OTP for a SAD):
//! `signatures/signHash` takes `credentialID, numSignatures, documents[], hash[], hashAlgo,
//! signAlgo, async: 1` and answers a request id; `requests/status` is polled until the
//! signatures are there.
//!
//! Key reference: `csc:https://host/api/v1?dialect=requests&credential=ID&client-id=APP&
//! secret-source=file:S`.
//!
//! Assumed, as no published text was at hand (docs/known-issues.md): the request id is
//! `requestID` (or `transactionID`, `id`); `requests/status` takes `{"requestID"}` and answers
//! `status` ("pending" / "processing" / "waiting", "approved" / "completed" with
//! `signatures[]` in the order of `hash[]`, "rejected" / "cancelled", "expired"); `documents[]`
//! entries are `{"id", "name"}` shown to the person; `multisign` of `credentials/info` bounds
//! `numSignatures`.

use super::csc::{sign_algo, CscSession};
use super::{Dialect, Step};
use crate::{Error, SignatureAlgorithm};
use base64::Engine;
use serde_json::{json, Value};
use std::time::Duration;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The polling call of this dialect.
pub const STATUS_METHOD: &str = "requests/status";

/// The `requests/status` dialect over a CSC session.
#[derive(Debug)]
pub struct RequestsDialect {
    session: CscSession,
    description: Option<String>,
}

impl RequestsDialect {
    /// Over an open session; `description` is shown on the phone as the documents' name.
    pub fn new(session: CscSession, description: Option<String>) -> Self {
        Self {
            session,
            description,
        }
    }

    fn error(&self, method: &str, status: u16, v: &Value) -> Error {
        self.session.error(method, status, v)
    }

    /// `signatures[]` of a finished request, as many as were asked.
    fn signatures(&self, v: &Value, method: &str) -> Result<Vec<Vec<u8>>, Error> {
        let arr = v
            .get("signatures")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                self.session
                    .http
                    .bad_answer(&format!("{method} gave no signatures"))
            })?;
        arr.iter()
            .map(|s| {
                s.as_str()
                    .and_then(|s| B64.decode(s.trim()).ok())
                    .ok_or_else(|| self.session.http.bad_answer("a signature is not base64"))
            })
            .collect()
    }

    /// Reads a `status` answer: done, still waiting, or the person's refusal / expiry.
    fn step(&self, method: &str, handle: &str, v: &Value) -> Result<Step, Error> {
        let status = v
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_ascii_lowercase();
        let who = self.who();
        match status.as_str() {
            "rejected" | "refused" | "cancelled" | "canceled" | "denied" => {
                Err(Error::UserCancelled { who })
            }
            "expired" | "timeout" => Err(Error::TransactionExpired { who }),
            "pending" | "processing" | "waiting" | "in_progress" => {
                Ok(Step::Pending(handle.to_owned()))
            }
            _ if v.get("signatures").is_some() => Ok(Step::Done(self.signatures(v, method)?)),
            "" => Ok(Step::Pending(handle.to_owned())),
            other => Err(self
                .session
                .http
                .bad_answer(&format!("{method} answered an unknown status \"{other}\""))),
        }
    }
}

impl Dialect for RequestsDialect {
    fn who(&self) -> String {
        self.session.who()
    }

    fn probe(&self, limit: Duration) -> Result<(), Error> {
        self.session.probe(limit)
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
        let (sign_algo, params) = sign_algo(alg);
        let name = self.description.as_deref().unwrap_or("Document");
        let documents: Vec<Value> = (1..=digests.len())
            .map(
                |i| json!({"id": i.to_string(), "name": format!("{name} ({i}/{})", digests.len())}),
            )
            .collect();
        let mut body = json!({
            "credentialID": self.session.credential_id,
            "numSignatures": digests.len(),
            "documents": documents,
            "hash": digests.iter().map(|d| B64.encode(d)).collect::<Vec<_>>(),
            "hashAlgo": alg.hash().map(|h| h.oid().to_string()).unwrap_or_default(),
            "signAlgo": sign_algo,
            "async": 1,
        });
        if let Some(p) = params {
            body["signAlgoParams"] = json!(p);
        }
        let method = "signatures/signHash";
        let (status, v) = self.session.call(method, body, None)?;
        if !(200..300).contains(&status) {
            return Err(self.error(method, status, &v));
        }
        let id = ["requestID", "transactionID", "id"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str))
            .map(str::to_owned);
        match id {
            Some(id) if !id.is_empty() => self.step(method, &id, &v),
            _ if v.get("signatures").is_some() => Ok(Step::Done(self.signatures(&v, method)?)),
            _ => Err(self
                .session
                .http
                .bad_answer("signHash gave neither a request id nor signatures")),
        }
    }

    fn poll(&self, handle: &str) -> Result<Step, Error> {
        let (status, v) = self
            .session
            .call(STATUS_METHOD, json!({"requestID": handle}), None)?;
        if status == 202 {
            return Ok(Step::Pending(handle.to_owned()));
        }
        if status != 200 {
            return Err(self.error(STATUS_METHOD, status, &v));
        }
        self.step(STATUS_METHOD, handle, &v)
    }
}
