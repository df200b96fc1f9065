//! `Idempotency-Key` on `POST /v1/sign` (decision 0028; the IETF draft
//! "The Idempotency-Key HTTP Header Field", draft-ietf-httpapi-idempotency-key-header).
//!
//! A client that retries a signing request with the same key gets the bytes of the first
//! signature again, not a second signature and a second audit record. The request is
//! identified by (client, key); its *fingerprint* is the SHA-256 of the document and of the
//! signing options, so the same key with a different document or different options is refused
//! (422), and a retry while the first is still being signed waits (409, Retry-After).
//!
//! Durability: the key is reserved in the database (`pending`) before signing; the signed
//! output is written and fsynced under `blobs/sign/`, and the row becomes `done` **in the same
//! transaction** as the signature's audit record ([`crate::store::Store::commit_with`]), so a
//! crash leaves either no record and a stale reservation (taken over after [`STALE_SECS`]) or
//! a record and a replayable output. Rows and outputs are kept for the retention period
//! (`storage.retention_days`) and then deleted by the retention task.

use crate::error::ApiError;
use crate::store::{now_micros, random_id, Store, StoreError};
use axum::http::{HeaderMap, StatusCode};
use sqlx::Row;

/// A reservation older than this (seconds) belongs to a request that died: it is taken over.
pub const STALE_SECS: i64 = 120;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS sign_requests (
    client TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL,
    token TEXT NOT NULL,
    output_path TEXT,
    content_type TEXT,
    field TEXT,
    level TEXT,
    audit_seq BIGINT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (client, idem_key))";

/// Creates the table when missing.
/// The documents of a batch created with an `Idempotency-Key`, as one digest
/// ([`documents_digest`]), so that a replay with other documents is refused. Written before
/// the batch row commits (keyed by the new batch's id), so whoever sees the batch sees its
/// digest; rows of batches that never committed or have expired go with [`expire`].
const BATCH_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS batch_idempotency (
    batch_id TEXT PRIMARY KEY,
    documents_sha256 TEXT NOT NULL,
    created_at BIGINT NOT NULL)";

pub async fn migrate(store: &Store) -> Result<(), StoreError> {
    sqlx::query(SCHEMA).execute(store.pool()).await?;
    sqlx::query(BATCH_SCHEMA).execute(store.pool()).await?;
    Ok(())
}

/// The `Idempotency-Key` header, when given (1 to 200 visible ASCII characters).
pub fn header(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .map(str::trim)
        .filter(|s| !s.is_empty() && s.len() <= 200)
        .map(|s| Some(s.to_owned()))
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_parameters",
                "Idempotency-Key must be 1 to 200 visible ASCII characters",
            )
        })
}

/// SHA-256 over the document's SHA-256 and the options that shape the signature.
pub fn fingerprint(document_sha256: &str, options: &impl serde::Serialize) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    ctx.update(document_sha256.as_bytes());
    ctx.update(b"\n");
    ctx.update(&serde_json::to_vec(options).unwrap_or_default());
    hex::encode(ctx.finish())
}

/// A request signed earlier under the same key.
/// The digest of a batch's document list: SHA-256 over each document's SHA-256 (hex) and a
/// newline, in upload order. File names and part names are not part of it (a retry may name
/// its temporary files differently); the order is.
pub fn documents_digest<'a>(document_sha256s: impl IntoIterator<Item = &'a str>) -> String {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for d in document_sha256s {
        ctx.update(d.as_bytes());
        ctx.update(b"\n");
    }
    hex::encode(ctx.finish())
}

/// Stores the document digest of the batch `batch_id` (before its row commits).
pub async fn record_batch_documents(
    store: &Store,
    batch_id: &str,
    digest: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO batch_idempotency (batch_id, documents_sha256, created_at) VALUES ($1, $2, $3)",
    )
    .bind(batch_id.to_owned())
    .bind(digest.to_owned())
    .bind(now_micros())
    .execute(store.pool())
    .await?;
    Ok(())
}

/// The document digest stored with the batch `batch_id`; `None` for a batch created before
/// digests were kept (only its options can be compared).
pub async fn batch_documents(store: &Store, batch_id: &str) -> Result<Option<String>, StoreError> {
    let r = sqlx::query("SELECT documents_sha256 FROM batch_idempotency WHERE batch_id = $1")
        .bind(batch_id.to_owned())
        .fetch_optional(store.pool())
        .await?;
    Ok(r.map(|r| r.try_get("documents_sha256")).transpose()?)
}

#[derive(Clone, Debug)]
pub struct Earlier {
    /// Output, relative to the blob directory.
    pub output_path: String,
    /// Its content type.
    pub content_type: String,
    /// Signature field (PDF) or Signature Id (XML).
    pub field: String,
    /// Level name.
    pub level: String,
    /// Its audit record.
    pub audit_seq: i64,
}

/// What to do with a request that carries a key.
#[derive(Debug)]
pub enum Begin {
    /// First time (or a dead request's reservation taken over): sign, holding `token`.
    New(String),
    /// Signed before: send these bytes again.
    Replay(Earlier),
}

/// Reserves (client, key) for this request, or says what happened to it before.
pub async fn begin(
    store: &Store,
    client: &str,
    key: &str,
    fingerprint: &str,
) -> Result<Begin, ApiError> {
    let token = random_id();
    let now = now_micros();
    let inserted = sqlx::query(
        "INSERT INTO sign_requests (client, idem_key, fingerprint, state, token, created_at) \
         VALUES ($1, $2, $3, 'pending', $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(client.to_owned())
    .bind(key.to_owned())
    .bind(fingerprint.to_owned())
    .bind(token.clone())
    .bind(now)
    .execute(store.pool())
    .await
    .map_err(StoreError::from)?;
    if inserted.rows_affected() == 1 {
        return Ok(Begin::New(token));
    }
    let row = sqlx::query(
        "SELECT fingerprint, state, output_path, content_type, field, level, audit_seq, \
         created_at FROM sign_requests WHERE client = $1 AND idem_key = $2",
    )
    .bind(client.to_owned())
    .bind(key.to_owned())
    .fetch_optional(store.pool())
    .await
    .map_err(StoreError::from)?;
    let Some(row) = row else {
        // Expired between the two statements: a fresh start is what the caller would get.
        return Box::pin(begin(store, client, key, fingerprint)).await;
    };
    let get = |c: &str| -> Result<Option<String>, ApiError> {
        row.try_get(c)
            .map_err(|e| ApiError::from(StoreError::from(e)))
    };
    if get("fingerprint")?.as_deref() != Some(fingerprint) {
        return Err(ApiError::unprocessable(
            "idempotency_key_reused",
            "this Idempotency-Key was already used with a different document or different options; use a new key for a new request",
        ));
    }
    if get("state")?.as_deref() == Some("done") {
        let seq: Option<i64> = row
            .try_get("audit_seq")
            .map_err(|e| ApiError::from(StoreError::from(e)))?;
        return Ok(Begin::Replay(Earlier {
            output_path: get("output_path")?.unwrap_or_default(),
            content_type: get("content_type")?.unwrap_or_default(),
            field: get("field")?.unwrap_or_default(),
            level: get("level")?.unwrap_or_default(),
            audit_seq: seq.unwrap_or_default(),
        }));
    }
    let created: i64 = row
        .try_get("created_at")
        .map_err(|e| ApiError::from(StoreError::from(e)))?;
    if created < now - STALE_SECS * 1_000_000 {
        let took = sqlx::query(
            "UPDATE sign_requests SET token = $1, created_at = $2 WHERE client = $3 \
             AND idem_key = $4 AND state = 'pending' AND created_at = $5",
        )
        .bind(token.clone())
        .bind(now)
        .bind(client.to_owned())
        .bind(key.to_owned())
        .bind(created)
        .execute(store.pool())
        .await
        .map_err(StoreError::from)?;
        if took.rows_affected() == 1 {
            return Ok(Begin::New(token));
        }
    }
    Err(ApiError {
        retry_after: Some(1),
        ..ApiError::new(
            StatusCode::CONFLICT,
            "idempotency_in_progress",
            "a request with this Idempotency-Key is still being signed; retry after the time in Retry-After to get its result",
        )
    })
}

/// Gives the reservation up (the request failed before anything was recorded), so a retry
/// signs afresh.
pub async fn abandon(store: &Store, client: &str, key: &str, token: &str) {
    let r = sqlx::query(
        "DELETE FROM sign_requests WHERE client = $1 AND idem_key = $2 AND token = $3 \
         AND state = 'pending'",
    )
    .bind(client.to_owned())
    .bind(key.to_owned())
    .bind(token.to_owned())
    .execute(store.pool())
    .await;
    if let Err(e) = r {
        tracing::warn!("cannot release an idempotency key: {e}");
    }
}

/// The reservation's completion, committed with the signature's audit record.
#[derive(Clone, Debug)]
pub struct Done {
    /// Client.
    pub client: String,
    /// Idempotency key.
    pub key: String,
    /// The reservation's token.
    pub token: String,
    /// The earlier request's result.
    pub result: Earlier,
}

impl Done {
    /// Marks the reservation done inside the audit transaction; `seq` is the record's.
    pub async fn apply(&self, conn: &mut sqlx::AnyConnection, seq: i64) -> Result<(), sqlx::Error> {
        let r = &self.result;
        sqlx::query(
            "UPDATE sign_requests SET state = 'done', output_path = $1, content_type = $2, \
             field = $3, level = $4, audit_seq = $5 WHERE client = $6 AND idem_key = $7 \
             AND token = $8",
        )
        .bind(r.output_path.clone())
        .bind(r.content_type.clone())
        .bind(r.field.clone())
        .bind(r.level.clone())
        .bind(seq)
        .bind(self.client.clone())
        .bind(self.key.clone())
        .bind(self.token.clone())
        .execute(conn)
        .await?;
        Ok(())
    }
}

/// Deletes requests older than `before` (Unix microseconds) and their outputs; at most 1,000
/// per call. Returns how many were deleted.
pub async fn expire(
    store: &Store,
    blobs: &std::path::Path,
    before: i64,
) -> Result<usize, StoreError> {
    let rows = sqlx::query(
        "SELECT client, idem_key, output_path FROM sign_requests WHERE created_at < $1 LIMIT 1000",
    )
    .bind(before)
    .fetch_all(store.pool())
    .await?;
    for r in &rows {
        let client: String = r.try_get("client")?;
        let key: String = r.try_get("idem_key")?;
        let path: Option<String> = r.try_get("output_path")?;
        if let Some(p) = path {
            let _ = tokio::fs::remove_file(blobs.join(p)).await;
        }
        sqlx::query("DELETE FROM sign_requests WHERE client = $1 AND idem_key = $2")
            .bind(client)
            .bind(key)
            .execute(store.pool())
            .await?;
    }
    // Digests of batches that are gone (expired, or never committed).
    sqlx::query(
        "DELETE FROM batch_idempotency WHERE created_at < $1 \
         AND batch_id NOT IN (SELECT id FROM batches)",
    )
    .bind(before)
    .execute(store.pool())
    .await?;
    Ok(rows.len())
}
