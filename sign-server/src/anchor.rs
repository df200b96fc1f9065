//! Anchoring the audit chain's head with RFC 3161 time-stamps (decision 0030; the chain itself
//! is decision 0010).
//!
//! The hash chain finds a changed, deleted or moved record, but not a rewrite of every record
//! from some point on together with the head. When `[audit] anchor_every_secs` is set (and a
//! `[tsa]` is configured), the service periodically asks the TSA for a time-stamp token over
//! the head — `SHA-256("vn-pki-audit-anchor-v1" || 0x00 || F(seq) || F(hash))`, with `F` the
//! length-prefixed encoding of decision 0010 — and stores it in `audit_anchors`. Verification
//! (`GET /v1/audit/verify`, `pki audit verify --trust ...`) checks each token (signature,
//! imprint, a TSA certificate with the timeStamping purpose that chains to a trust anchor at
//! the token's time) and that record `seq` still has the anchored hash: a rewrite after the
//! anchor's time is then found, because nobody but the TSA can make a token for the new head.

use crate::audit::{ChainReport, Problem};
use crate::store::{Store, StoreError};
use base64::Engine;
use pki_core::path::{self, Purpose, ValidationOptions};
use pki_core::trust::CertPool;
use pki_core::tsp::{Imprint, TimeStampReq, TimeStampToken};
use serde::Serialize;
use sqlx::Row;

const DOMAIN: &[u8] = b"vn-pki-audit-anchor-v1\0";

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS audit_anchors (
    seq BIGINT PRIMARY KEY,
    hash TEXT NOT NULL,
    gen_time TEXT NOT NULL,
    token TEXT NOT NULL)";

/// Creates the table when missing.
pub async fn migrate(store: &Store) -> Result<(), StoreError> {
    sqlx::query(SCHEMA).execute(store.pool()).await?;
    Ok(())
}

/// The bytes time-stamped for the head (`seq`, `hash`).
pub fn anchor_data(seq: i64, hash: &str) -> Vec<u8> {
    let mut out = DOMAIN.to_vec();
    for s in [seq.to_string().as_str(), hash] {
        let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    out
}

/// An anchor as reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Anchor {
    /// The record whose hash was time-stamped.
    pub seq: i64,
    /// Its hash then.
    pub hash: String,
    /// The token's time (RFC 3339).
    pub time: String,
    /// The TSA certificate's subject.
    pub tsa: String,
    /// Whether the token is valid, from a trusted TSA, and the record still has that hash.
    pub valid: bool,
}

/// Asks the TSA for a token over the current head, unless the head is already anchored or
/// empty. Returns the anchored record.
pub async fn anchor_once(
    store: &Store,
    url: &str,
    fetcher: std::sync::Arc<dyn pki_core::fetch::Fetcher>,
) -> Result<Option<i64>, String> {
    let head = sqlx::query("SELECT last_seq, last_hash FROM audit_head WHERE id = 1")
        .fetch_one(store.pool())
        .await
        .map_err(|e| e.to_string())?;
    let seq: i64 = head.try_get("last_seq").map_err(|e| e.to_string())?;
    let hash: String = head.try_get("last_hash").map_err(|e| e.to_string())?;
    if seq == 0 {
        return Ok(None);
    }
    let done = sqlx::query("SELECT 1 AS x FROM audit_anchors WHERE seq >= $1")
        .bind(seq)
        .fetch_optional(store.pool())
        .await
        .map_err(|e| e.to_string())?;
    if done.is_some() {
        return Ok(None);
    }
    let data = anchor_data(seq, &hash);
    let url = url.to_owned();
    let token = tokio::task::spawn_blocking(move || -> Result<TimeStampToken, String> {
        let req =
            TimeStampReq::for_data(hsm::HashAlgorithm::Sha256, &data).map_err(|e| e.to_string())?;
        let token = pki_core::tsp::query(fetcher.as_ref(), &url, &req)
            .and_then(|r| r.into_token())
            .map_err(|e| e.to_string())?;
        let policy = pki_core::crypto::AlgorithmPolicy::default();
        let check = token
            .validate(Imprint::Data(&data), req.nonce.as_deref(), &[], &policy)
            .map_err(|e| e.to_string())?;
        if !check.is_valid() {
            return Err(format!(
                "the TSA's token is not valid ({})",
                check.indication().1.unwrap_or("FORMAT_FAILURE")
            ));
        }
        Ok(token)
    })
    .await
    .map_err(|e| e.to_string())??;
    let time = pki_core::time::rfc3339_utc(token.tst_info.gen_time);
    sqlx::query(
        "INSERT INTO audit_anchors (seq, hash, gen_time, token) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
    )
    .bind(seq)
    .bind(hash)
    .bind(time)
    .bind(base64::engine::general_purpose::STANDARD.encode(&token.der))
    .execute(store.pool())
    .await
    .map_err(|e| e.to_string())?;
    Ok(Some(seq))
}

/// Anchors the head every `every`, until the process ends.
pub async fn run(
    store: Store,
    every: std::time::Duration,
    url: String,
    fetcher: std::sync::Arc<dyn pki_core::fetch::Fetcher>,
) {
    loop {
        tokio::time::sleep(every).await;
        match anchor_once(&store, &url, fetcher.clone()).await {
            Ok(Some(seq)) => tracing::info!(seq, "audit head time-stamped"),
            Ok(None) => {}
            Err(e) => tracing::warn!("cannot time-stamp the audit head: {e}"),
        }
    }
}

/// The chain check with the anchors: [`Store::verify_audit`], then each anchor's token and
/// record. `anchors`: the trust anchors for the TSA's certificate.
pub async fn verify(
    store: &Store,
    anchors: &CertPool,
    intermediates: &CertPool,
) -> Result<ChainReport, StoreError> {
    let mut report = store.verify_audit().await?;
    let exists = match store.backend() {
        crate::store::Backend::Sqlite => {
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'audit_anchors'"
        }
        crate::store::Backend::Postgres => {
            "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_name = 'audit_anchors'"
        }
    };
    let n: i64 = sqlx::query(exists)
        .fetch_one(store.pool())
        .await?
        .try_get("n")?;
    if n == 0 {
        return Ok(report);
    }
    let rows = sqlx::query(
        "SELECT a.seq AS seq, a.hash AS hash, a.token AS token, l.hash AS current \
         FROM audit_anchors a LEFT JOIN audit_log l ON l.seq = a.seq ORDER BY a.seq",
    )
    .fetch_all(store.pool())
    .await?;
    let policy = pki_core::crypto::AlgorithmPolicy::default();
    for r in rows {
        let seq: i64 = r.try_get("seq")?;
        let hash: String = r.try_get("hash")?;
        let token: String = r.try_get("token")?;
        let current: Option<String> = r.try_get("current")?;
        let (a, problem) = check_anchor(
            seq,
            &hash,
            &token,
            current.as_deref(),
            anchors,
            intermediates,
            &policy,
        );
        if let Some(p) = problem {
            report.problems.push(p);
        }
        report.anchors.push(a);
    }
    report.problems.sort_by_key(|p| p.seq);
    report.intact = report.problems.is_empty();
    Ok(report)
}

fn check_anchor(
    seq: i64,
    hash: &str,
    token_b64: &str,
    current: Option<&str>,
    anchors: &CertPool,
    intermediates: &CertPool,
    policy: &pki_core::crypto::AlgorithmPolicy,
) -> (Anchor, Option<Problem>) {
    let mut a = Anchor {
        seq,
        hash: hash.to_owned(),
        time: String::new(),
        tsa: String::new(),
        valid: false,
    };
    let problem = |kind: &str, message: String| Problem {
        seq,
        kind: kind.into(),
        message,
    };
    let token = base64::engine::general_purpose::STANDARD
        .decode(token_b64)
        .ok()
        .and_then(|d| TimeStampToken::from_der(&d).ok());
    let Some(token) = token else {
        return (
            a,
            Some(problem(
                "anchor",
                format!("the time-stamp over record {seq} cannot be read"),
            )),
        );
    };
    a.time = pki_core::time::rfc3339_utc(token.tst_info.gen_time);
    let data = anchor_data(seq, hash);
    let check = match token.validate(Imprint::Data(&data), None, &[], policy) {
        Ok(c) if c.is_valid() => c,
        Ok(c) => {
            let sub = c.indication().1.unwrap_or("FORMAT_FAILURE");
            return (
                a,
                Some(problem(
                    "anchor",
                    format!("the time-stamp over record {seq} is not valid ({sub}): the anchor was changed"),
                )),
            );
        }
        Err(e) => {
            return (
                a,
                Some(problem(
                    "anchor",
                    format!("the time-stamp over record {seq} cannot be checked ({e})"),
                )),
            )
        }
    };
    if let Some(tsa) = &check.tsa_cert {
        a.tsa = tsa.subject().to_string();
        let mut pool = CertPool::from_certs(check.other_certs.iter().cloned());
        for c in intermediates.iter() {
            pool.add(c.clone());
        }
        let mut vo = ValidationOptions::new(check.gen_time, Purpose::TimeStamping);
        vo.algorithms = policy.clone();
        if let Err(f) = path::validate(tsa, &pool, anchors, &vo) {
            return (
                a,
                Some(problem(
                    "anchor",
                    format!(
                        "the time-stamp over record {seq} is not from a trusted TSA ({}); give its root as a trust anchor",
                        f.error
                    ),
                )),
            );
        }
    }
    match current {
        None => (
            a,
            Some(problem(
                "deleted",
                format!(
                    "record {seq}, time-stamped at {}, is no longer in the log",
                    pki_core::time::rfc3339_utc(check.gen_time)
                ),
            )),
        ),
        Some(h) if h != hash => (
            a,
            Some(problem(
                "rewritten",
                format!(
                    "record {seq} is not the record time-stamped at {}: the log was rewritten from this record or earlier after that time",
                    pki_core::time::rfc3339_utc(check.gen_time)
                ),
            )),
        ),
        Some(_) => {
            a.valid = true;
            (a, None)
        }
    }
}
