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
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            // Instances deciding for the same key take turns (the lock ends with the
            // transaction); the second then sees the first's `sending` and backs off.
            sqlx::query("SELECT pg_advisory_xact_lock(724311, hashtext($1))")
                .bind(key_name.to_owned())
                .execute(&mut *tx)
                .await?;
        }
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
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
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
                    // Remote documents are finished one file each (no range).
                    JobOutcome::Done {
                        output_path,
                        output_sha256,
                        ..
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Entry;
    use crate::store::Batch;

    fn job(id: &str, idx: i64) -> Job {
        Job {
            id: id.into(),
            batch_id: "b1".into(),
            idx,
            name: format!("{id}.pdf"),
            input_sha256: "00".repeat(32),
            state: "queued".into(),
            attempts: 0,
            lease_token: None,
            output_path: None,
            output_sha256: None,
            error_code: None,
            error_message: None,
            audit_seq: None,
            input_range: None,
            output_range: None,
        }
    }

    fn done(id: &str) -> Commit {
        Commit {
            entry: Entry {
                time: "2026-11-22T00:00:00Z".into(),
                client: "dms".into(),
                action: "sign".into(),
                key: "leader".into(),
                document_sha256: "00".repeat(32),
                profile: "plain".into(),
                cert_serial: "01".into(),
                outcome: "signed".into(),
                detail: format!("batch b1 document {id}"),
            },
            job: Some((
                id.into(),
                String::new(),
                JobOutcome::Done {
                    output_path: format!("out/b1/{id}.pdf"),
                    output_sha256: "11".repeat(32),
                    output_range: None,
                },
            )),
        }
    }

    #[tokio::test]
    async fn parked_documents_are_never_claimed_again_and_only_the_lease_holder_records_them() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::open(&url, 1).await.unwrap();
        let b = Batch {
            id: "b1".into(),
            client: "dms".into(),
            key: "leader".into(),
            profile: "plain".into(),
            level: "B-B".into(),
            options: "{}".into(),
            callback_url: None,
            created_at: now_micros(),
            total: 3,
        };
        let jobs = [job("j1", 0), job("j2", 1), job("j3", 2)];
        store.create_batch(&b, None, &jobs).await.unwrap().unwrap();
        // Leases that are already over: anything not parked is claimable again at once.
        let (token, claimed) = store.claim(10, -1).await.unwrap();
        assert_eq!(claimed.len(), 3);
        let doc = |id: &str, token: &str, idx| ParkDocument {
            job_id: id.into(),
            token: token.into(),
            idx,
            pending: "{}".into(),
        };
        let sub = NewSubmission {
            id: "s1".into(),
            key_name: "leader".into(),
            batch_id: "b1".into(),
            documents: vec![
                doc("j1", &token, 0),
                doc("j2", &token, 1),
                // Prepared under a lease another worker has taken over since: not parked.
                doc("j3", "someone-else", 2),
            ],
        };
        assert_eq!(store.park(&[sub]).await.unwrap(), vec!["j3".to_owned()]);
        let (_, again) = store.claim(10, 60).await.unwrap();
        let ids: Vec<&str> = again.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, ["j3"], "a parked document was claimed again");

        let (t1, subs) = store.claim_submissions(10, 60).await.unwrap();
        assert_eq!(subs.len(), 1);
        assert_eq!(subs[0].state, "ready");
        assert!(store.claim_submissions(10, 60).await.unwrap().1.is_empty());
        assert!(store
            .mark_sending("s1", &t1, "leader", now_micros() + 60_000_000)
            .await
            .unwrap());
        assert_eq!(store.parked_documents("s1").await.unwrap().len(), 2);

        let commits = [done("j1"), done("j2")];
        assert!(!store
            .finish_submission("s1", "stale", &commits)
            .await
            .unwrap());
        assert!(store.finish_submission("s1", &t1, &commits).await.unwrap());
        // Recorded once: the request is gone, a second finish records nothing.
        assert!(!store.finish_submission("s1", &t1, &commits).await.unwrap());
        let states: Vec<String> = store
            .jobs("b1")
            .await
            .unwrap()
            .into_iter()
            .map(|j| j.state)
            .collect();
        assert_eq!(states, ["done", "done", "running"]);
        let chain = store.verify_audit().await.unwrap();
        assert!(chain.intact);
        assert_eq!(store.audit_page(0, 10).await.unwrap().len(), 2);
        assert!(!store.has_submissions().await.unwrap());
    }

    #[tokio::test]
    async fn one_request_per_key_is_out_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::open(&url, 1).await.unwrap();
        let b = Batch {
            id: "b1".into(),
            client: "dms".into(),
            key: "sim".into(),
            profile: "plain".into(),
            level: "B-B".into(),
            options: "{}".into(),
            callback_url: None,
            created_at: now_micros(),
            total: 2,
        };
        store
            .create_batch(&b, None, &[job("j1", 0), job("j2", 1)])
            .await
            .unwrap()
            .unwrap();
        let (token, _) = store.claim(10, 60).await.unwrap();
        let subs: Vec<NewSubmission> = ["j1", "j2"]
            .iter()
            .enumerate()
            .map(|(i, j)| NewSubmission {
                id: format!("s{i}"),
                key_name: "sim".into(),
                batch_id: "b1".into(),
                documents: vec![ParkDocument {
                    job_id: (*j).into(),
                    token: token.clone(),
                    idx: 0,
                    pending: "{}".into(),
                }],
            })
            .collect();
        assert!(store.park(&subs).await.unwrap().is_empty());
        let (t, claimed) = store.claim_submissions(10, 60).await.unwrap();
        assert_eq!(claimed.len(), 2);
        let until = now_micros() + 60_000_000;
        assert!(store.mark_sending("s0", &t, "sim", until).await.unwrap());
        assert!(!store.mark_sending("s1", &t, "sim", until).await.unwrap());
    }
}
