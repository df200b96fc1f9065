//! A responder's answers from an OpenSSL-style CA database (`index.txt`, as `openssl ca`
//! writes it): one line per certificate, tab-separated `status` (`V`, `R`, `E`), expiry,
//! revocation time and reason, serial in hex, file name, subject.
//!
//! RFC 6960 §2.2: a CertID whose issuer hashes do not name this CA gets `unknown`; so does a
//! serial that is not in the database.

use super::build::{build_response, error_response, SingleStatus};
use super::request::OcspRequest;
use super::response::ResponseStatus;
use super::CertStatus;
use crate::ca::dir::normalize_serial;
pub use crate::ca::dir::{IndexEntry, IndexStatus};
use crate::cert::Certificate;
use hsm::Signer;
use std::collections::HashMap;
use time::{Duration, OffsetDateTime};

/// Requests larger than this are refused before parsing.
pub const MAX_REQUEST_LEN: usize = super::request::MAX_REQUEST;

/// More CertIDs than this in one request are refused (`malformedRequest`).
const MAX_CERT_IDS: usize = 100;

/// A line of `index.txt` that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// The line is not in OpenSSL's format.
    #[error("index.txt line {line} is not in OpenSSL's format")]
    BadLine {
        /// 1-based line number.
        line: usize,
    },
}

/// The certificates of one CA, by serial number.
#[derive(Clone, Debug, Default)]
pub struct CaIndex {
    entries: HashMap<String, IndexEntry>,
}

impl CaIndex {
    /// Parses the text of `index.txt`. Empty lines are skipped; `E` (expired) lines count as
    /// valid: an expired certificate that was never revoked is `good` (RFC 6960 §2.2).
    pub fn parse(text: &str) -> Result<Self, IndexError> {
        let mut entries = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let e = IndexEntry::parse_line(line).ok_or(IndexError::BadLine { line: i + 1 })?;
            entries.insert(normalize_serial(&e.serial), e);
        }
        Ok(Self { entries })
    }

    /// Looks a serial number (INTEGER content octets) up.
    pub fn lookup(&self, serial: &[u8]) -> Option<&IndexEntry> {
        self.entries.get(&normalize_serial(&hex::encode(serial)))
    }

    /// How many certificates the database holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the database is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The nonce's length: the content of the OCTET STRING the extension value should be, or the
/// whole value from clients that send the nonce bare.
fn nonce_len(value: &[u8]) -> usize {
    match crate::asn1::single(value, false, false) {
        Ok(t) if t.tag == crate::asn1::tag::OCTET_STRING => t.content.len(),
        _ => value.len(),
    }
}

/// A responder's answer and what to log about it.
#[derive(Clone, Debug)]
pub struct Answer {
    /// The DER OCSPResponse to send.
    pub der: Vec<u8>,
    /// The response status.
    pub status: ResponseStatus,
    /// For each CertID asked about: serial (hex) and the status given.
    pub statuses: Vec<(String, &'static str)>,
    /// Why the request was refused or failed, for the log (never sent to the client).
    pub error: Option<String>,
    /// Whether HTTP caches may keep the answer (RFC 5019 §6.2: a successful answer to a request
    /// without a nonce).
    pub cacheable: bool,
}

/// Answers `request_der` for CA `ca` from `index`, signing with `signer` whose certificate is
/// `responder_cert`; statuses are valid from `now` to `now + validity`.
pub fn answer(
    request_der: &[u8],
    ca: &Certificate,
    index: &CaIndex,
    responder_cert: &Certificate,
    signer: &dyn Signer,
    now: OffsetDateTime,
    validity: Duration,
) -> Answer {
    let refuse = |status: ResponseStatus, why: String| Answer {
        der: error_response(status),
        status,
        statuses: Vec::new(),
        error: Some(why),
        cacheable: false,
    };
    let req = match OcspRequest::parse(request_der) {
        Ok(r) => r,
        Err(e) => return refuse(ResponseStatus::MalformedRequest, e.to_string()),
    };
    if req.cert_ids.len() > MAX_CERT_IDS {
        return refuse(
            ResponseStatus::MalformedRequest,
            format!("{} CertIDs in one request", req.cert_ids.len()),
        );
    }
    if let Some(n) = &req.nonce {
        // RFC 8954 §2.1: a nonce of 0 or more than 32 octets is refused.
        let len = nonce_len(n);
        if len == 0 || len > 32 {
            return refuse(
                ResponseStatus::MalformedRequest,
                format!("a nonce of {len} bytes"),
            );
        }
    }
    let mut statuses = Vec::new();
    let mut log = Vec::new();
    for id in &req.cert_ids {
        let status = if !id.names_issuer(ca) {
            CertStatus::Unknown
        } else {
            match index.lookup(&id.serial).map(|e| e.status) {
                Some(IndexStatus::Valid) => CertStatus::Good,
                Some(IndexStatus::Revoked { at, reason }) => {
                    CertStatus::Revoked { time: at, reason }
                }
                None => CertStatus::Unknown,
            }
        };
        log.push((id.serial_hex(), status.name()));
        statuses.push(SingleStatus {
            cert_id: id.clone(),
            status,
            this_update: now,
            next_update: Some(now + validity),
        });
    }
    match build_response(&statuses, responder_cert, signer, now, req.nonce.as_deref()) {
        Ok(der) => Answer {
            der,
            status: ResponseStatus::Successful,
            statuses: log,
            error: None,
            cacheable: req.nonce.is_none(),
        },
        Err(e) => refuse(ResponseStatus::InternalError, e.to_string()),
    }
}
