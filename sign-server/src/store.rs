//! State: batches, the durable job queue and the audit log, in SQLite (one file, the default)
//! or PostgreSQL (several instances sharing the work). Queries are checked at run time
//! (`sqlx::any`), so building needs no database and no offline metadata; both databases accept
//! the same `$N` placeholders.
//!
//! Exactly-once (decision 0011): a worker claims documents with a lease (a random token and an
//! expiry; `FOR UPDATE SKIP LOCKED` on PostgreSQL, one writer on SQLite), writes the signed
//! output into a file named by the *lease token* (the group's pack, or a file of its own named
//! by job and token; decision 0035), makes it durable, then in **one transaction** marks the
//! job done — only if it still holds the lease — and appends the audit record. A crash before
//! that commit leaves the job claimable again (its lease expires) and an orphan output that
//! nobody references; a crash after it leaves a finished job. So every accepted document ends
//! with exactly one delivered signature and one audit record.

pub mod remote;

use crate::audit::{self, ChainReport, Entry, Record};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::time::Duration;

/// Why the database failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database answered with an error or could not be reached.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// The URL names no database this service supports.
    #[error("the database URL must start with sqlite: or postgres:// (got \"{0}\")")]
    Scheme(String),
}

/// Which database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// A batch.
#[derive(Clone, Debug)]
pub struct Batch {
    /// Id.
    pub id: String,
    /// Owner.
    pub client: String,
    /// Key name.
    pub key: String,
    /// Profile.
    pub profile: String,
    /// Level.
    pub level: String,
    /// Signing options (JSON).
    pub options: String,
    /// Callback URL.
    pub callback_url: Option<String>,
    /// Creation, Unix microseconds.
    pub created_at: i64,
    /// Documents.
    pub total: i64,
}

/// A job (one document of a batch).
#[derive(Clone, Debug)]
pub struct Job {
    /// Id.
    pub id: String,
    /// Batch.
    pub batch_id: String,
    /// Position in the batch.
    pub idx: i64,
    /// File name given by the caller.
    pub name: String,
    /// SHA-256 of the input.
    pub input_sha256: String,
    /// `queued`, `running`, `done` or `failed`.
    pub state: String,
    /// Attempts so far.
    pub attempts: i64,
    /// Lease token while running.
    pub lease_token: Option<String>,
    /// Output file (relative to the blob directory) once done.
    pub output_path: Option<String>,
    /// SHA-256 of the output.
    pub output_sha256: Option<String>,
    /// Error code when failed.
    pub error_code: Option<String>,
    /// Error sentence when failed.
    pub error_message: Option<String>,
    /// The audit record of the outcome.
    pub audit_seq: Option<i64>,
    /// Where the input is in the batch's packed upload (`in/<batch>/inputs.pack`): offset and
    /// length. `None`: a batch uploaded before packing, one file `in/<batch>/<job>.pdf`.
    pub input_range: Option<(i64, i64)>,
    /// Where the output is inside `output_path` when that is a group's pack file (decision
    /// 0035): offset and length. `None`: `output_path` is the whole signed document.
    pub output_range: Option<(i64, i64)>,
}

/// How a claimed job ended.
#[derive(Clone, Debug)]
pub enum JobOutcome {
    /// Signed.
    Done {
        /// Output file, relative to the blob directory.
        output_path: String,
        /// Its SHA-256.
        output_sha256: String,
        /// Offset and length inside `output_path` when that is a pack of several outputs.
        output_range: Option<(i64, i64)>,
    },
    /// Refused or impossible; not retried.
    Failed {
        /// Stable code.
        code: String,
        /// One sentence.
        message: String,
    },
}

/// One thing to commit: an audit record, and the job it finishes (when it is one).
#[derive(Clone, Debug)]
pub struct Commit {
    /// The record.
    pub entry: Entry,
    /// The job, its lease token, and its outcome.
    pub job: Option<(String, String, JobOutcome)>,
}

/// What a commit did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Committed {
    /// Recorded as audit record `seq`.
    Recorded(i64),
    /// The job's lease had passed to another worker: nothing was recorded for it.
    LeaseLost,
}

/// Microseconds since the Unix epoch.
pub fn now_micros() -> i64 {
    let t = time::OffsetDateTime::now_utc();
    i64::try_from(t.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

/// A random id (128 bits, hex).
pub fn random_id() -> String {
    let mut b = [0u8; 16];
    // aws-lc's generator only fails when the OS has no entropy; the id is then still unique
    // per process through the time component.
    if aws_lc_rs::rand::fill(&mut b).is_err() {
        b[..8].copy_from_slice(&now_micros().to_be_bytes());
    }
    hex::encode(b)
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS batches (
        id TEXT PRIMARY KEY,
        client TEXT NOT NULL,
        idem_key TEXT,
        key_name TEXT NOT NULL,
        profile TEXT NOT NULL,
        level TEXT NOT NULL,
        options TEXT NOT NULL,
        callback_url TEXT,
        callback_state TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        total BIGINT NOT NULL,
        UNIQUE (client, idem_key))",
    "CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY,
        batch_id TEXT NOT NULL,
        idx BIGINT NOT NULL,
        name TEXT NOT NULL,
        input_sha256 TEXT NOT NULL,
        state TEXT NOT NULL,
        lease_token TEXT,
        lease_until BIGINT NOT NULL,
        attempts BIGINT NOT NULL,
        output_path TEXT,
        output_sha256 TEXT,
        error_code TEXT,
        error_message TEXT,
        audit_seq BIGINT,
        created_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS jobs_claim ON jobs (state, lease_until)",
    "CREATE INDEX IF NOT EXISTS jobs_batch ON jobs (batch_id, idx)",
    "CREATE TABLE IF NOT EXISTS audit_log (
        seq BIGINT PRIMARY KEY,
        time TEXT NOT NULL,
        client TEXT NOT NULL,
        action TEXT NOT NULL,
        key_name TEXT NOT NULL,
        document_sha256 TEXT NOT NULL,
        profile TEXT NOT NULL,
        cert_serial TEXT NOT NULL,
        outcome TEXT NOT NULL,
        detail TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS audit_head (
        id BIGINT PRIMARY KEY,
        last_seq BIGINT NOT NULL,
        last_hash TEXT NOT NULL)",
    // Remote keys (decision 0022): one row per approval request, and each parked document's
    // prepared state. Added in place on databases created before them.
    "CREATE TABLE IF NOT EXISTS remote_submissions (
        id TEXT PRIMARY KEY,
        key_name TEXT NOT NULL,
        batch_id TEXT NOT NULL,
        state TEXT NOT NULL,
        submission TEXT,
        lease_token TEXT,
        lease_until BIGINT NOT NULL,
        created_at BIGINT NOT NULL,
        sent_at BIGINT)",
    "CREATE INDEX IF NOT EXISTS remote_submissions_due ON remote_submissions (lease_until)",
    "CREATE TABLE IF NOT EXISTS remote_documents (
        job_id TEXT PRIMARY KEY,
        submission_id TEXT NOT NULL,
        idx BIGINT NOT NULL,
        pending TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS remote_documents_submission ON remote_documents (submission_id, idx)",
];

const SQLITE_TRIGGERS: &[&str] = &[
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
     BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
     BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
];

const PG_TRIGGERS: &[&str] = &[
    "CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger AS $f$
     BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $f$ LANGUAGE plpgsql",
    "CREATE OR REPLACE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
     FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()",
];

fn job_from(r: &AnyRow) -> Result<Job, sqlx::Error> {
    Ok(Job {
        id: r.try_get("id")?,
        batch_id: r.try_get("batch_id")?,
        idx: r.try_get("idx")?,
        name: r.try_get("name")?,
        input_sha256: r.try_get("input_sha256")?,
        state: r.try_get("state")?,
        attempts: r.try_get("attempts")?,
        lease_token: r.try_get("lease_token")?,
        output_path: r.try_get("output_path")?,
        output_sha256: r.try_get("output_sha256")?,
        error_code: r.try_get("error_code")?,
        error_message: r.try_get("error_message")?,
        audit_seq: r.try_get("audit_seq")?,
        input_range: range(r.try_get("input_offset")?, r.try_get("input_len")?),
        output_range: range(r.try_get("output_offset")?, r.try_get("output_len")?),
    })
}

fn range(offset: Option<i64>, len: Option<i64>) -> Option<(i64, i64)> {
    offset.zip(len)
}

const JOB_COLUMNS: &str = "id, batch_id, idx, name, input_sha256, state, attempts, lease_token, \
     output_path, output_sha256, error_code, error_message, audit_seq, input_offset, input_len, \
     output_offset, output_len";

/// Columns added after the first schema (decision 0035: packed inputs and outputs), added in
/// place to older databases; NULL in their existing rows, which keep their one-file layout.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("jobs", "input_offset", "BIGINT"),
    ("jobs", "input_len", "BIGINT"),
    ("jobs", "output_offset", "BIGINT"),
    ("jobs", "output_len", "BIGINT"),
];

fn record_from(r: &AnyRow) -> Result<Record, sqlx::Error> {
    Ok(Record {
        seq: r.try_get("seq")?,
        entry: Entry {
            time: r.try_get("time")?,
            client: r.try_get("client")?,
            action: r.try_get("action")?,
            key: r.try_get("key_name")?,
            document_sha256: r.try_get("document_sha256")?,
            profile: r.try_get("profile")?,
            cert_serial: r.try_get("cert_serial")?,
            outcome: r.try_get("outcome")?,
            detail: r.try_get("detail")?,
        },
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}

fn batch_from(r: &AnyRow) -> Result<Batch, sqlx::Error> {
    Ok(Batch {
        id: r.try_get("id")?,
        client: r.try_get("client")?,
        key: r.try_get("key_name")?,
        profile: r.try_get("profile")?,
        level: r.try_get("level")?,
        options: r.try_get("options")?,
        callback_url: r.try_get("callback_url")?,
        created_at: r.try_get("created_at")?,
        total: r.try_get("total")?,
    })
}

/// Appends `entry` to the chain inside `tx`, after (`last_seq`, `last_hash`), which it advances.
async fn append_audit(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    last_seq: &mut i64,
    last_hash: &mut String,
    entry: &Entry,
) -> Result<i64, StoreError> {
    let rec = audit::chain(*last_seq, last_hash, entry.clone());
    let e = &rec.entry;
    sqlx::query(
        "INSERT INTO audit_log (seq, time, client, action, key_name, document_sha256, \
         profile, cert_serial, outcome, detail, prev_hash, hash) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(rec.seq)
    .bind(e.time.clone())
    .bind(e.client.clone())
    .bind(e.action.clone())
    .bind(e.key.clone())
    .bind(e.document_sha256.clone())
    .bind(e.profile.clone())
    .bind(e.cert_serial.clone())
    .bind(e.outcome.clone())
    .bind(e.detail.clone())
    .bind(rec.prev_hash.clone())
    .bind(rec.hash.clone())
    .execute(&mut **tx)
    .await?;
    *last_seq = rec.seq;
    *last_hash = rec.hash;
    Ok(rec.seq)
}

async fn write_audit_head(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    last_seq: i64,
    last_hash: String,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE audit_head SET last_seq = $1, last_hash = $2 WHERE id = 1")
        .bind(last_seq)
        .bind(last_hash)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Counts of a batch's jobs by state.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    /// Waiting.
    pub queued: i64,
    /// Being signed.
    pub running: i64,
    /// Signed.
    pub done: i64,
    /// Failed.
    pub failed: i64,
}

impl Store {
    /// Connects and creates the schema when missing. `url`: `sqlite:PATH` or `postgres://...`.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            let scheme = url.split(':').next().unwrap_or_default();
            return Err(StoreError::Scheme(format!("{scheme}:...")));
        };
        let opts = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(30));
        let pool = match backend {
            // One connection: SQLite has one writer anyway, and one connection makes every
            // transaction serial without busy retries.
            Backend::Sqlite => {
                opts.max_connections(1)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            for p in [
                                "PRAGMA journal_mode = WAL",
                                "PRAGMA synchronous = FULL",
                                "PRAGMA busy_timeout = 10000",
                            ] {
                                sqlx::query(p).execute(&mut *conn).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect(url)
                    .await?
            }
            Backend::Postgres => opts.max_connections(max_connections).connect(url).await?,
        };
        let store = Self { pool, backend };
        store.migrate().await?;
        Ok(store)
    }

    /// Connects to an existing database for reading (no schema changes): `pki audit verify`.
    pub async fn open_existing(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect(url)
            .await?;
        Ok(Self { pool, backend })
    }

    /// Which database.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool (for the tables of other modules: `idempotency`).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?;
        if self.backend == Backend::Postgres {
            // Two instances starting together must not race on CREATE.
            sqlx::query("SELECT pg_advisory_lock(724310)")
                .execute(&mut *conn)
                .await?;
        }
        let result = async {
            for s in SCHEMA {
                sqlx::query(sqlx::AssertSqlSafe(*s))
                    .execute(&mut *conn)
                    .await?;
            }
            for (table, column, ty) in ADDED_COLUMNS {
                // Both databases: probing the column is portable, `ADD COLUMN IF NOT EXISTS`
                // is not (SQLite lacks it). Under the advisory lock on PostgreSQL.
                let probe = format!("SELECT {column} FROM {table} LIMIT 0");
                if sqlx::query(sqlx::AssertSqlSafe(probe))
                    .execute(&mut *conn)
                    .await
                    .is_err()
                {
                    let add = format!("ALTER TABLE {table} ADD COLUMN {column} {ty}");
                    sqlx::query(sqlx::AssertSqlSafe(add))
                        .execute(&mut *conn)
                        .await?;
                }
            }
            let triggers = match self.backend {
                Backend::Sqlite => SQLITE_TRIGGERS,
                Backend::Postgres => PG_TRIGGERS,
            };
            for s in triggers {
                sqlx::query(sqlx::AssertSqlSafe(*s))
                    .execute(&mut *conn)
                    .await?;
            }
            sqlx::query(
                "INSERT INTO audit_head (id, last_seq, last_hash) VALUES (1, 0, $1) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(audit::GENESIS)
            .execute(&mut *conn)
            .await?;
            Ok::<(), sqlx::Error>(())
        }
        .await;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_unlock(724310)")
                .execute(&mut *conn)
                .await?;
        }
        Ok(result?)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Commits audit records (and the jobs they finish) in one transaction, in order.
    pub async fn commit(&self, items: &[Commit]) -> Result<Vec<Committed>, StoreError> {
        self.commit_with(items, &[]).await
    }

    /// [`Self::commit`], also completing the idempotent requests that the records answer
    /// (`requests[i]` belongs to `items[i]`; missing ones are `None`) in the same transaction.
    pub async fn commit_with(
        &self,
        items: &[Commit],
        requests: &[Option<crate::idempotency::Done>],
    ) -> Result<Vec<Committed>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let (mut last_seq, mut last_hash) = self.audit_head(&mut tx).await?;
        let mut out = Vec::with_capacity(items.len());
        let now = now_micros();
        for (i, item) in items.iter().enumerate() {
            let seq = last_seq + 1;
            if let Some((job_id, token, outcome)) = &item.job {
                let q = match outcome {
                    JobOutcome::Done {
                        output_path,
                        output_sha256,
                        output_range,
                    } => sqlx::query(
                        "UPDATE jobs SET state = 'done', output_path = $1, output_sha256 = $2, \
                         output_offset = $3, output_len = $4, \
                         audit_seq = $5, lease_token = NULL, lease_until = $6 \
                         WHERE id = $7 AND lease_token = $8 AND state = 'running'",
                    )
                    .bind(output_path.clone())
                    .bind(output_sha256.clone())
                    .bind(output_range.map(|r| r.0))
                    .bind(output_range.map(|r| r.1)),
                    JobOutcome::Failed { code, message } => sqlx::query(
                        "UPDATE jobs SET state = 'failed', error_code = $1, error_message = $2, \
                         output_offset = $3, output_len = $4, \
                         audit_seq = $5, lease_token = NULL, lease_until = $6 \
                         WHERE id = $7 AND lease_token = $8 AND state = 'running'",
                    )
                    .bind(code.clone())
                    .bind(message.clone())
                    .bind(None::<i64>)
                    .bind(None::<i64>),
                };
                let r = q
                    .bind(seq)
                    .bind(now)
                    .bind(job_id.clone())
                    .bind(token.clone())
                    .execute(&mut *tx)
                    .await?;
                if r.rows_affected() != 1 {
                    out.push(Committed::LeaseLost);
                    continue;
                }
            }
            append_audit(&mut tx, &mut last_seq, &mut last_hash, &item.entry).await?;
            if let Some(Some(done)) = requests.get(i) {
                done.apply(&mut tx, seq).await?;
            }
            out.push(Committed::Recorded(seq));
        }
        write_audit_head(&mut tx, last_seq, last_hash).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Reads the audit head inside `tx`, locking it on PostgreSQL.
    async fn audit_head(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ) -> Result<(i64, String), StoreError> {
        let head_sql = match self.backend {
            Backend::Postgres => {
                "SELECT last_seq, last_hash FROM audit_head WHERE id = 1 FOR UPDATE"
            }
            Backend::Sqlite => "SELECT last_seq, last_hash FROM audit_head WHERE id = 1",
        };
        let head = sqlx::query(head_sql).fetch_one(&mut **tx).await?;
        Ok((head.try_get("last_seq")?, head.try_get("last_hash")?))
    }

    /// Audit records with `seq > after`, at most `limit`, in order.
    pub async fn audit_page(&self, after: i64, limit: i64) -> Result<Vec<Record>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, time, client, action, key_name, document_sha256, profile, cert_serial, \
             outcome, detail, prev_hash, hash FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(record_from).collect::<Result<_, _>>()?)
    }

    /// Checks the whole audit chain, a page at a time.
    pub async fn verify_audit(&self) -> Result<ChainReport, StoreError> {
        let head = sqlx::query("SELECT last_seq, last_hash FROM audit_head WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?
            .map(|r| -> Result<(i64, String), sqlx::Error> {
                Ok((r.try_get("last_seq")?, r.try_get("last_hash")?))
            })
            .transpose()?;
        let mut v = audit::Verifier::default();
        let mut after = i64::MIN;
        loop {
            let page = self.audit_page(after, 2000).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for r in &page {
                v.push(r);
            }
        }
        Ok(v.finish(head))
    }

    /// Creates a batch and its jobs in one transaction. With an idempotency key already used
    /// by this client, nothing is created and the existing batch id is returned as `Err`.
    pub async fn create_batch(
        &self,
        b: &Batch,
        idem_key: Option<&str>,
        jobs: &[Job],
    ) -> Result<Result<(), String>, StoreError> {
        let mut tx = self.pool.begin().await?;
        if let Some(k) = idem_key {
            let existing =
                sqlx::query("SELECT id FROM batches WHERE client = $1 AND idem_key = $2")
                    .bind(b.client.clone())
                    .bind(k.to_owned())
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some(row) = existing {
                return Ok(Err(row.try_get("id")?));
            }
        }
        let inserted = sqlx::query(
            "INSERT INTO batches (id, client, idem_key, key_name, profile, level, options, \
             callback_url, callback_state, created_at, total) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
        )
        .bind(b.id.clone())
        .bind(b.client.clone())
        .bind(idem_key.map(str::to_owned))
        .bind(b.key.clone())
        .bind(b.profile.clone())
        .bind(b.level.clone())
        .bind(b.options.clone())
        .bind(b.callback_url.clone())
        .bind(if b.callback_url.is_some() {
            "pending"
        } else {
            "none"
        })
        .bind(b.created_at)
        .bind(b.total)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() != 1 {
            // A concurrent request with the same idempotency key won.
            tx.rollback().await?;
            let row = sqlx::query("SELECT id FROM batches WHERE client = $1 AND idem_key = $2")
                .bind(b.client.clone())
                .bind(idem_key.unwrap_or_default().to_owned())
                .fetch_one(&self.pool)
                .await?;
            return Ok(Err(row.try_get("id")?));
        }
        for chunk in jobs.chunks(500) {
            let mut sql = String::from(
                "INSERT INTO jobs (id, batch_id, idx, name, input_sha256, state, lease_until, \
                 attempts, created_at, input_offset, input_len) VALUES ",
            );
            for (i, _) in chunk.iter().enumerate() {
                let p = i * 8;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${}, 'queued', 0, 0, ${}, ${}, ${})",
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4,
                    p + 5,
                    p + 6,
                    p + 7,
                    p + 8
                ));
            }
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for j in chunk {
                q = q
                    .bind(j.id.clone())
                    .bind(j.batch_id.clone())
                    .bind(j.idx)
                    .bind(j.name.clone())
                    .bind(j.input_sha256.clone())
                    .bind(b.created_at)
                    .bind(j.input_range.map(|r| r.0))
                    .bind(j.input_range.map(|r| r.1));
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(Ok(()))
    }

    /// The batch an earlier request of `client` with idempotency key `key` created.
    pub async fn idempotent_batch(
        &self,
        client: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        let r = sqlx::query("SELECT id FROM batches WHERE client = $1 AND idem_key = $2")
            .bind(client.to_owned())
            .bind(key.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        Ok(r.map(|r| r.try_get("id")).transpose()?)
    }

    /// Documents queued or running, over all batches.
    pub async fn pending_documents(&self) -> Result<i64, StoreError> {
        let r = sqlx::query("SELECT COUNT(*) AS n FROM jobs WHERE state IN ('queued', 'running', 'awaiting_approval')")
            .fetch_one(&self.pool)
            .await?;
        Ok(r.try_get("n")?)
    }

    /// Claims up to `limit` jobs for `lease_secs`: queued ones, and running ones whose lease
    /// has passed (their worker died). Returns the jobs and the lease token.
    pub async fn claim(
        &self,
        limit: i64,
        lease_secs: i64,
    ) -> Result<(String, Vec<Job>), StoreError> {
        let token = random_id();
        let now = now_micros();
        let until = now + lease_secs * 1_000_000;
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE jobs SET state = 'running', lease_token = $1, lease_until = $2, \
             attempts = attempts + 1 WHERE id IN (SELECT id FROM jobs WHERE state = 'queued' \
             OR (state = 'running' AND lease_until < $3) ORDER BY created_at, idx LIMIT $4{lock}) \
             RETURNING {JOB_COLUMNS}"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token.clone())
            .bind(until)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let mut jobs: Vec<Job> = rows.iter().map(job_from).collect::<Result<_, _>>()?;
        jobs.sort_by(|a, b| (a.batch_id.as_str(), a.idx).cmp(&(b.batch_id.as_str(), b.idx)));
        Ok((token, jobs))
    }

    /// A batch.
    pub async fn batch(&self, id: &str) -> Result<Option<Batch>, StoreError> {
        let r = sqlx::query(
            "SELECT id, client, key_name, profile, level, options, callback_url, created_at, \
             total FROM batches WHERE id = $1",
        )
        .bind(id.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.as_ref().map(batch_from).transpose()?)
    }

    /// A batch's jobs in order.
    pub async fn jobs(&self, batch_id: &str) -> Result<Vec<Job>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE batch_id = $1 ORDER BY idx"
        )))
        .bind(batch_id.to_owned())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(job_from).collect::<Result<_, _>>()?)
    }

    /// One job of a batch.
    pub async fn job(&self, batch_id: &str, job_id: &str) -> Result<Option<Job>, StoreError> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE batch_id = $1 AND id = $2"
        )))
        .bind(batch_id.to_owned())
        .bind(job_id.to_owned())
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.as_ref().map(job_from).transpose()?)
    }

    /// Counts of a batch's jobs by state.
    pub async fn counts(&self, batch_id: &str) -> Result<Counts, StoreError> {
        let rows =
            sqlx::query("SELECT state, COUNT(*) AS n FROM jobs WHERE batch_id = $1 GROUP BY state")
                .bind(batch_id.to_owned())
                .fetch_all(&self.pool)
                .await?;
        let mut c = Counts::default();
        for r in rows {
            let s: String = r.try_get("state")?;
            let n: i64 = r.try_get("n")?;
            match s.as_str() {
                "queued" => c.queued = n,
                "running" | "awaiting_approval" => c.running += n,
                "done" => c.done = n,
                _ => c.failed += n,
            }
        }
        Ok(c)
    }

    /// Gives a job's lease back after a passing failure, so it is retried after `delay_secs`.
    pub async fn release(
        &self,
        job_id: &str,
        token: &str,
        delay_secs: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND lease_token = $3 AND state = 'running'",
        )
        .bind(now_micros() + delay_secs * 1_000_000)
        .bind(job_id.to_owned())
        .bind(token.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Gives back jobs claimed under `token` and not started (a worker stopping with a group
    /// claimed ahead): queued again, the claim's attempt not counted.
    pub async fn unclaim(&self, job_ids: &[String], token: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        for id in job_ids {
            sqlx::query(
                "UPDATE jobs SET state = 'queued', lease_token = NULL, lease_until = 0, \
                 attempts = attempts - 1 WHERE id = $1 AND lease_token = $2 AND state = 'running'",
            )
            .bind(id.clone())
            .bind(token.to_owned())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Takes the right to send a finished batch's callback (once, over all instances).
    pub async fn take_callback(&self, batch_id: &str) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE batches SET callback_state = 'sending' WHERE id = $1 AND callback_state = 'pending' \
             AND NOT EXISTS (SELECT 1 FROM jobs WHERE batch_id = $1 AND state IN ('queued', 'running', 'awaiting_approval'))",
        )
        .bind(batch_id.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Records how the callback went.
    pub async fn callback_done(&self, batch_id: &str, state: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE batches SET callback_state = $1 WHERE id = $2")
            .bind(state.to_owned())
            .bind(batch_id.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Batches finished and older than `before` (Unix microseconds), at most 100.
    pub async fn expired_batches(&self, before: i64) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT id FROM batches WHERE created_at < $1 AND NOT EXISTS \
             (SELECT 1 FROM jobs WHERE jobs.batch_id = batches.id AND state IN ('queued', 'running', 'awaiting_approval')) \
             LIMIT 100",
        )
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<_, _>>()?)
    }

    /// Forgets a batch and its jobs (its audit records stay).
    pub async fn delete_batch(&self, id: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM jobs WHERE batch_id = $1")
            .bind(id.to_owned())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM batches WHERE id = $1")
            .bind(id.to_owned())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
