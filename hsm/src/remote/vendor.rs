//! A Vietnamese provider's hash-signing API (DOMAIN.md, "Remote signers": the `sign_files`
//! dialect), as published in the provider's integration document: the service provider's
//! account (`sp_id`, `sp_password`) and the subscriber (`user_id`: CCCD/CMND/tax id) travel in
//! every body; `v1/credentials/get_certificate` gives the certificate and its chain;
//! `v1/signatures/sign` takes `sign_files[{data_to_be_signed (hex hash), doc_id, file_type,
//! sign_type: "hash"}]` with our unique `transaction_id` and answers
//! `sig_wait_for_user_confirm`; `v1/signatures/sign/{tranId}/status` gives
//! `signatures[{doc_id, signature_value}]` once the subscriber approved in the provider's app.
//! Answers are wrapped as `{"status_code", "message", "data"}`.
//!
//! Key reference: `csc:https://host/sca/sp769?dialect=sign-files&client-id=SP_ID&
//! secret-source=file:SP_PASSWORD&credential=USER_ID` with optional `serial=` (which of the
//! subscriber's certificates) and `file-type=` (default pdf). The webhook variant (the provider
//! calling us) is not used: we poll.
//!
//! What the document leaves open and is assumed here: the answers for a refused or expired
//! transaction (read from `status_code`/`message`), and which id goes into the status path
//! (`tran_code` when the sign answer has one, else our `transaction_id`).

use super::http::HttpClient;
use super::{Dialect, RemoteOptions, RemoteSigner, Step};
use crate::keyref::RemoteRef;
use crate::{Error, SecretString, SignatureAlgorithm};
use base64::Engine;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The `sign_files` dialect.
#[derive(Debug)]
pub struct SignFiles {
    http: HttpClient,
    base: String,
    sp_id: String,
    sp_password: SecretString,
    user_id: String,
    serial: String,
    file_type: String,
    description: Option<String>,
    counter: AtomicU64,
}

impl SignFiles {
    fn transaction_id(&self) -> String {
        format!(
            "vnpki-{}-{}",
            time::OffsetDateTime::now_utc().unix_timestamp_nanos(),
            self.counter.fetch_add(1, Ordering::Relaxed)
        )
    }

    fn call(&self, method: &str, body: &Value) -> Result<(u16, String, Value), Error> {
        let (http_status, v) =
            self.http
                .post_json(&format!("{}/{method}", self.base), None, body, None)?;
        let status = v
            .get("status_code")
            .and_then(Value::as_u64)
            .map_or(http_status, |s| s as u16);
        let message = v
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_owned();
        Ok((
            status,
            message,
            v.get("data").cloned().unwrap_or(Value::Null),
        ))
    }

    /// An error answer (`status_code` other than 200) as one sentence.
    fn error(&self, status: u16, message: &str) -> Error {
        let who = self.who();
        let low = message.to_lowercase();
        if low.contains("reject") || low.contains("cancel") || low.contains("từ chối") {
            return Error::UserCancelled { who };
        }
        if low.contains("expire") || low.contains("hết hạn") {
            return Error::TransactionExpired { who };
        }
        if low.contains("lock") || low.contains("block") || low.contains("khóa") {
            return Error::RemotePinBlocked { who };
        }
        let reason = match status {
            401 => format!(
                "refused the account \"{}\" or subscriber {} ({message}); check client-id, secret-source and credential",
                self.sp_id, self.user_id
            ),
            403 => format!("says the certificate of {} is not valid ({message})", self.user_id),
            s => format!("refused the request ({s} {message})"),
        };
        Error::Remote {
            service: self.http.service().into(),
            reason,
        }
    }

    fn signatures(&self, data: &Value) -> Result<Vec<Vec<u8>>, Error> {
        let list = data
            .get("signatures")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                self.http
                    .bad_answer("no signatures in a finished transaction")
            })?;
        let mut out: Vec<(usize, Vec<u8>)> = Vec::new();
        for s in list {
            let doc = s
                .get("doc_id")
                .and_then(Value::as_str)
                .and_then(|d| d.trim().parse::<usize>().ok())
                .ok_or_else(|| self.http.bad_answer("a signature has no doc_id of ours"))?;
            let sig = s
                .get("signature_value")
                .and_then(Value::as_str)
                .and_then(|b| B64.decode(b.trim()).ok())
                .ok_or_else(|| self.http.bad_answer("a signature_value is not base64"))?;
            out.push((doc, sig));
        }
        out.sort_by_key(|(d, _)| *d);
        // doc_ids are 1..=n: a missing or repeated one means the answer is not ours.
        if out.iter().enumerate().any(|(i, (d, _))| *d != i + 1) {
            return Err(self.http.bad_answer("the doc_ids do not match the request"));
        }
        Ok(out.into_iter().map(|(_, s)| s).collect())
    }
}

impl Dialect for SignFiles {
    /// The `sign_files` API has no call known to be free of effects (its status call needs a
    /// transaction): the service is asked only whether it answers HTTP.
    fn probe(&self, limit: Duration) -> Result<(), Error> {
        self.http.reachable(&self.base, limit)
    }

    fn who(&self) -> String {
        format!("subscriber {} at {}", self.user_id, self.base)
    }

    /// The document allows several `sign_files` per transaction and states no limit; a batch
    /// is cut at 50 to keep one request reasonable.
    fn max_per_approval(&self) -> usize {
        50
    }

    fn submit(
        &self,
        _alg: SignatureAlgorithm,
        digests: &[Vec<u8>],
        _wait: Duration,
    ) -> Result<Step, Error> {
        let tx = self.transaction_id();
        let now = time::OffsetDateTime::now_utc();
        let files: Vec<Value> = digests
            .iter()
            .enumerate()
            .map(|(i, d)| {
                json!({"data_to_be_signed": hex::encode(d), "doc_id": (i + 1).to_string(),
                       "file_type": self.file_type, "sign_type": "hash"})
            })
            .collect();
        let mut body = json!({
            "sp_id": self.sp_id,
            "sp_password": self.sp_password.expose(),
            "user_id": self.user_id,
            "transaction_id": tx,
            "serial_number": self.serial,
            "time_stamp": format!(
                "{:04}{:02}{:02}{:02}{:02}{:02}Z",
                now.year(), now.month() as u8, now.day(), now.hour(), now.minute(), now.second()
            ),
            "sign_files": files,
        });
        if let Some(d) = &self.description {
            body["transaction_desc"] = json!(d);
        }
        let (status, message, data) = self.call("v1/signatures/sign", &body)?;
        if status != 200 {
            return Err(self.error(status, &message));
        }
        if data.get("signatures").is_some() {
            return Ok(Step::Done(self.signatures(&data)?));
        }
        let handle = data
            .get("tran_code")
            .or_else(|| data.get("transaction_id"))
            .and_then(Value::as_str)
            .unwrap_or(&tx)
            .to_owned();
        // It goes into a URL path: only plain characters.
        if handle.is_empty()
            || !handle
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(self.http.bad_answer(
                "the transaction id holds characters other than letters, digits, - _ .",
            ));
        }
        Ok(Step::Pending(handle))
    }

    fn poll(&self, handle: &str) -> Result<Step, Error> {
        let (status, message, data) =
            self.call(&format!("v1/signatures/sign/{handle}/status"), &json!({}))?;
        if status != 200 {
            return Err(self.error(status, &message));
        }
        let has_values = data
            .get("signatures")
            .and_then(Value::as_array)
            .is_some_and(|a| {
                !a.is_empty()
                    && a.iter().all(|s| {
                        s.get("signature_value")
                            .and_then(Value::as_str)
                            .is_some_and(|v| !v.is_empty())
                    })
            });
        if has_values {
            return Ok(Step::Done(self.signatures(&data)?));
        }
        Ok(Step::Pending(handle.to_owned()))
    }
}

/// Opens a `csc:...?dialect=sign-files` key reference: the subscriber's certificate from
/// `v1/credentials/get_certificate`.
pub fn open(
    r: &RemoteRef,
    sp_password: Option<SecretString>,
    opts: &RemoteOptions,
) -> Result<RemoteSigner, Error> {
    let opts = super::effective_options(r, opts)?;
    let base = r.target.trim_end_matches('/').to_owned();
    let need = |name: &str, what: &str| {
        r.get(name)
            .map(str::to_owned)
            .ok_or_else(|| Error::BadKeyRef {
                reason: format!("the sign-files dialect needs {name}= ({what})"),
            })
    };
    let sp_id = need("client-id", "the service provider account, sp_id")?;
    let user_id = need("credential", "the subscriber's id, user_id")?;
    let sp_password = sp_password.ok_or_else(|| Error::BadKeyRef {
        reason: "the sign-files dialect needs secret-source=file:PATH (sp_password)".into(),
    })?;
    let d = SignFiles {
        http: HttpClient::new(&base, &opts)?,
        base,
        sp_id,
        sp_password,
        user_id,
        serial: r.get("serial").unwrap_or("").to_owned(),
        file_type: r.get("file-type").unwrap_or("pdf").to_owned(),
        description: opts.message.clone(),
        counter: AtomicU64::new(0),
    };
    let body = json!({
        "sp_id": d.sp_id, "sp_password": d.sp_password.expose(), "user_id": d.user_id,
        "serial_number": d.serial, "transaction_id": d.transaction_id(),
    });
    let (status, message, data) = d.call("v1/credentials/get_certificate", &body)?;
    if status != 200 {
        return Err(d.error(status, &message));
    }
    let certs = pick_certificate(&data, &d.serial)
        .map_err(|why| d.http.bad_answer(&format!("get_certificate: {why}")))??;
    // The API names no algorithm: the signature is PKCS#1 v1.5 (RSA) or ECDSA over the hash
    // it is given, so RSASSA-PSS cannot be asked for.
    use crate::HashAlgorithm::*;
    let allowed: Vec<SignatureAlgorithm> = [Sha256, Sha384, Sha512]
        .into_iter()
        .flat_map(|h| {
            [
                SignatureAlgorithm::RsaPkcs1(h),
                SignatureAlgorithm::Ecdsa(h),
            ]
        })
        .collect();
    RemoteSigner::new(Box::new(d), certs, Some(&allowed), opts)
}

/// The chosen certificate and its chain (leaf first, DER) from a `get_certificate` answer.
/// Outer error: the answer is malformed; inner: the reference must say which certificate.
fn pick_certificate(data: &Value, serial: &str) -> Result<Result<Vec<Vec<u8>>, Error>, String> {
    let list = data
        .get("user_certificates")
        .and_then(Value::as_array)
        .ok_or("no user_certificates")?;
    let serial_of = |c: &Value| {
        c.get("serial_number")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let matching: Vec<&Value> = list
        .iter()
        .filter(|c| serial.is_empty() || serial_of(c).eq_ignore_ascii_case(serial))
        .collect();
    let cert = match matching.as_slice() {
        [one] => *one,
        [] => return Err(format!("no certificate with serial {serial}")),
        many => {
            let serials: Vec<String> = many.iter().map(|c| serial_of(c)).collect();
            return Ok(Err(Error::BadKeyRef {
                reason: format!(
                    "the subscriber has {} certificates ({}); add serial=... to the key reference",
                    many.len(),
                    serials.join(", ")
                ),
            }));
        }
    };
    let mut out = Vec::new();
    for field in ["/cert_data", "/chain_data/ca_cert", "/chain_data/root_cert"] {
        match cert.pointer(field) {
            Some(Value::String(b)) if !b.trim().is_empty() => out.push(
                B64.decode(b.trim())
                    .map_err(|_| format!("{field} is not base64"))?,
            ),
            _ if field == "/cert_data" => return Err("no cert_data".into()),
            _ => {}
        }
    }
    Ok(Ok(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_certificate_by_serial_from_the_documented_answer() {
        // Shape of the integration document's get_certificate example (values shortened).
        let data = json!({"user_certificates": [
            {"service_type": "SMARTCA", "cert_status": "Đang hoạt động",
             "serial_number": "54010101493c", "cert_data": "MAEB",
             "chain_data": {"ca_cert": "MAEC", "root_cert": "MAED"}, "transaction_id": "SP_CA_09940"},
            {"service_type": "ESEAL", "serial_number": "540101013e37", "cert_data": "MAEE",
             "chain_data": {"ca_cert": "MAEF", "root_cert": null}}
        ]});
        let many = pick_certificate(&data, "").unwrap().unwrap_err();
        assert!(many.to_string().contains("add serial="), "{many}");
        let one = pick_certificate(&data, "540101013E37").unwrap().unwrap();
        assert_eq!(one, vec![vec![0x30, 1, 4], vec![0x30, 1, 5]]);
        let full = pick_certificate(&data, "54010101493c").unwrap().unwrap();
        assert_eq!(full.len(), 3);
        assert!(pick_certificate(&data, "00").is_err());
        assert!(pick_certificate(&json!({}), "").is_err());
    }
}
