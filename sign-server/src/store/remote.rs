//! The remote keys' part of the queue (decision 0022): approval requests
//! (`remote_submissions`) and the prepared state of each parked document
//! (`remote_documents`). A parked document's job is in state `awaiting_approval`, which the
//! batch worker's claim never takes; only the holder of the submission's lease acts on it.
//!
//! A submission goes `ready` (documents parked, nothing sent) → `sending` (committed *before*
//! the request goes out, with a lease its sender renews while the request is out; every
//! lease on a request is renewed while an instance works on it) → `waiting` (the
//! service's transaction id stored) → deleted, in the transaction that records its documents
//! as done or failed. A `sending` row whose lease ran out belonged to a process that died
//! while the request was going out: whether the phone got it is unknown, so it is never sent
//! again (its documents fail with a sentence saying so).

use super::{
    append_audit, job_from, now_micros, write_audit_head, Backend, Commit, Job, JobOutcome,
};
use super::{Store, StoreError, JOB_COLUMNS};
use sqlx::Row;

/// One document to park: its job, the lease under which it was prepared, its pending state.
#[derive(Clone, Debug)]
pub struct ParkDocument {
    /// Job id.
    pub job_id: String,
    /// The worker's lease token.
    pub token: String,
    /// Order within the approval.
    pub idx: i64,
    /// The prepared state (`pki_core::pades::PendingPdf`, JSON).
    pub pending: String,
}

/// One approval request to create with its documents.
#[derive(Clone, Debug)]
pub struct NewSubmission {
    /// Id.
    pub id: String,
    /// Key name.
    pub key_name: String,
    /// Batch.
    pub batch_id: String,
    /// Its documents, in order.
    pub documents: Vec<ParkDocument>,
}

/// A claimed approval request.
#[derive(Clone, Debug)]
pub struct SubmissionRow {
    /// Id.
    pub id: String,
    /// Key name.
    pub key_name: String,
    /// Batch.
    pub batch_id: String,
    /// `ready`, `sending` or `waiting`.
    pub state: String,
    /// `hsm::Submission` as JSON once sent.
    pub submission: Option<String>,
}

/// A parked document with its job.
#[derive(Clone, Debug)]
pub struct ParkedDocument {
    /// The job.
    pub job: Job,
    /// Its prepared state (JSON).
    pub pending: String,
}

impl Store {
    /// In one transaction: moves each document still leased by its worker to
    /// `awaiting_approval` with its prepared state, and creates the approval requests (state
    /// `ready`). Returns the ids of the jobs that were *not* parked (their lease was taken
    /// over): their prepared files belong to nobody.
    pub async fn park(&self, subs: &[NewSubmission]) -> Result<Vec<String>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let now = now_micros();
        let mut lost = Vec::new();
        for s in subs {
            let mut parked = 0;
            for d in &s.documents {
                let r = sqlx::query(
                    "UPDATE jobs SET state = 'awaiting_approval', lease_token = NULL, \
                     lease_until = $1 WHERE id = $2 AND lease_token = $3 AND state = 'running'",
                )
                .bind(now)
                .bind(d.job_id.clone())
                .bind(d.token.clone())
                .execute(&mut *tx)
                .await?;
                if r.rows_affected() != 1 {
                    lost.push(d.job_id.clone());
                    continue;
                }
                sqlx::query(
                    "INSERT INTO remote_documents (job_id, submission_id, idx, pending) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(d.job_id.clone())
                .bind(s.id.clone())
                .bind(d.idx)
                .bind(d.pending.clone())
                .execute(&mut *tx)
                .await?;
                parked += 1;
            }
            if parked > 0 {
                sqlx::query(
                    "INSERT INTO remote_submissions (id, key_name, batch_id, state, lease_until, \
                     created_at) VALUES ($1, $2, $3, 'ready', 0, $4)",
                )
                .bind(s.id.clone())
                .bind(s.key_name.clone())
                .bind(s.batch_id.clone())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(lost)
    }

    /// Claims up to `limit` approval requests whose time has come (ready, due for a poll, or
    /// abandoned by a dead instance) for `lease_secs`.
    pub async fn claim_submissions(
        &self,
        limit: i64,
        lease_secs: i64,
    ) -> Result<(String, Vec<SubmissionRow>), StoreError> {
        let token = super::random_id();
        let now = now_micros();
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let sql = format!(
            "UPDATE remote_submissions SET lease_token = $1, lease_until = $2 WHERE id IN \
             (SELECT id FROM remote_submissions WHERE lease_until < $3 ORDER BY created_at, id \
             LIMIT $4{lock}) RETURNING id, key_name, batch_id, state, submission, created_at"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(token.clone())
            .bind(now + lease_secs * 1_000_000)
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let mut out: Vec<(i64, SubmissionRow)> = rows
            .iter()
            .map(|r| -> Result<_, sqlx::Error> {
                Ok((
                    r.try_get("created_at")?,
                    SubmissionRow {
                        id: r.try_get("id")?,
                        key_name: r.try_get("key_name")?,
                        batch_id: r.try_get("batch_id")?,
                        state: r.try_get("state")?,
                        submission: r.try_get("submission")?,
                    },
                ))
            })
            .collect::<Result<_, _>>()?;
        out.sort_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id)));
        Ok((token, out.into_iter().map(|(_, s)| s).collect()))
    }

    /// Marks a ready request as being sent, with a lease until `until`, unless another request
    /// of the same key is being sent or waits for its approval (one approval at a time per
    /// key: a PKI SIM handles one transaction at a time, and a person approves one request
    /// after the other). Committed before anything goes out. `false`: not now.
    pub async fn mark_sending(
        &self,
        id: &str,
        token: &str,
        key_name: &str,
        until: i64,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE remote_submissions SET state = 'sending', lease_until = $1, sent_at = $2 \
             WHERE id = $3 AND lease_token = $4 AND state = 'ready' AND NOT EXISTS \
             (SELECT 1 FROM remote_submissions o WHERE o.key_name = $5 AND o.id <> $3 \
             AND o.state IN ('sending', 'waiting'))",
        )
        .bind(until)
        .bind(now_micros())
        .bind(id.to_owned())
        .bind(token.to_owned())
        .bind(key_name.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Extends the lease on a request this caller works on (it is alive). `false`: the lease
    /// is no longer this caller's.
    pub async fn renew_submission(
        &self,
        id: &str,
        token: &str,
        until: i64,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE remote_submissions SET lease_until = $1 \
             WHERE id = $2 AND lease_token = $3",
        )
        .bind(until)
        .bind(id.to_owned())
        .bind(token.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Stores the request's state (`hsm::Submission` JSON) as `waiting`. With `release_at`
    /// the lease is given up until then (the next poll); without, it is kept (the signatures
    /// arrived and are about to be used: stored first, so a crash does not lose them).
    pub async fn save_submission(
        &self,
        id: &str,
        token: &str,
        submission: &str,
        release_at: Option<i64>,
    ) -> Result<bool, StoreError> {
        let q = match release_at {
            Some(at) => sqlx::query(
                "UPDATE remote_submissions SET state = 'waiting', submission = $1, \
                 lease_token = NULL, lease_until = $2 WHERE id = $3 AND lease_token = $4",
            )
            .bind(submission.to_owned())
            .bind(at),
            // Both statements take four parameters, so the binds below line up.
            None => sqlx::query(
                "UPDATE remote_submissions SET state = 'waiting', submission = $1, \
                 sent_at = COALESCE(sent_at, $2) WHERE id = $3 AND lease_token = $4",
            )
            .bind(submission.to_owned())
            .bind(now_micros()),
        };
        let r = q
            .bind(id.to_owned())
            .bind(token.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Gives the lease back until `at` without changing anything else.
    pub async fn release_submission(
        &self,
        id: &str,
        token: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE remote_submissions SET lease_token = NULL, lease_until = $1 \
             WHERE id = $2 AND lease_token = $3",
        )
        .bind(at)
        .bind(id.to_owned())
        .bind(token.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The documents of an approval request, in order.
    pub async fn parked_documents(&self, id: &str) -> Result<Vec<ParkedDocument>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {JOB_COLUMNS}, (SELECT d.pending FROM remote_documents d \
             WHERE d.job_id = jobs.id) AS pending FROM jobs WHERE id IN \
             (SELECT job_id FROM remote_documents WHERE submission_id = $1) ORDER BY batch_id, idx"
        )))
        .bind(id.to_owned())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ParkedDocument {
                    job: job_from(r)?,
                    pending: r.try_get("pending")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// In one transaction, if this caller still holds the request's lease: records each
    /// document's outcome (`Commit::job`, whose token is ignored) with its audit record,
    /// and forgets the request and its parked states. `false`: the lease was lost and nothing
    /// was recorded.
    pub async fn finish_submission(
        &self,
        id: &str,
        token: &str,
        items: &[Commit],
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let gone = sqlx::query("DELETE FROM remote_submissions WHERE id = $1 AND lease_token = $2")
            .bind(id.to_owned())
            .bind(token.to_owned())
            .execute(&mut *tx)
            .await?;
        if gone.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        let (mut last_seq, mut last_hash) = self.audit_head(&mut tx).await?;
        let now = now_micros();
        for item in items {
            if let Some((job_id, _, outcome)) = &item.job {
                let q = match outcome {
                    JobOutcome::Done {
                        output_path,
                        output_sha256,
                    } => sqlx::query(
                        "UPDATE jobs SET state = 'done', output_path = $1, output_sha256 = $2, \
                         audit_seq = $3, lease_token = NULL, lease_until = $4 \
                         WHERE id = $5 AND state = 'awaiting_approval'",
                    )
                    .bind(output_path.clone())
                    .bind(output_sha256.clone()),
                    JobOutcome::Failed { code, message } => sqlx::query(
                        "UPDATE jobs SET state = 'failed', error_code = $1, error_message = $2, \
                         audit_seq = $3, lease_token = NULL, lease_until = $4 \
                         WHERE id = $5 AND state = 'awaiting_approval'",
                    )
                    .bind(code.clone())
                    .bind(message.clone()),
                };
                let r = q
                    .bind(last_seq + 1)
                    .bind(now)
                    .bind(job_id.clone())
                    .execute(&mut *tx)
                    .await?;
                if r.rows_affected() != 1 {
                    continue;
                }
            }
            append_audit(&mut tx, &mut last_seq, &mut last_hash, &item.entry).await?;
        }
        sqlx::query("DELETE FROM remote_documents WHERE submission_id = $1")
            .bind(id.to_owned())
            .execute(&mut *tx)
            .await?;
        write_audit_head(&mut tx, last_seq, last_hash).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Whether any approval request exists (so the driver can sleep longer when none does).
    pub async fn has_submissions(&self) -> Result<bool, StoreError> {
        let r = sqlx::query("SELECT 1 AS x FROM remote_submissions LIMIT 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(r.is_some())
    }
}
