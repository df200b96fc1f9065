//! Batches signed with remote keys (`csc:`, `mss:` in CONTRACT.md): the person approves on a
//! phone, so the documents are signed in two phases and the waiting lives in the database
//! (decision 0022), not in a thread.
//!
//! 1. The batch worker claims documents as usual; for a remote key it *prepares* each one
//!    (`pki_core::pades::prepare_pdf`: the incremental update with an empty `/Contents` in a
//!    temporary file beside the output), makes the files durable (one `syncfs`), and in one
//!    transaction parks them (`awaiting_approval`, with their `PendingPdf`) under approval
//!    requests of as many documents as the service signs per approval.
//! 2. The driver ([`run`], on every instance) takes requests by lease: it commits `sending`,
//!    sends all the hashes in one request (`hsm::RemoteSigner::submit`), stores the returned
//!    `hsm::Submission`, and polls it (`poll_submission`, once per `poll_interval`).
//! 3. When the signatures arrive they are stored first, then each document is finished from a
//!    *copy* of its parked file (`PendingPdf::fork`, so a crash while finishing can finish
//!    again), the outputs are synced, and ONE transaction marks them done with their audit
//!    records and forgets the request. A refusal, a blocked PIN, an expiry or our approval
//!    timeout fails them all in one transaction with the service's sentence.
//!
//! Exactly once: a request is sent only after `sending` is committed, and a `sending` row whose
//! lease ran out (its process died while sending) is never sent again — its documents fail
//! with a sentence saying the request may have reached the phone. A restart while the person
//! approves finds the request `waiting` and simply polls it again.

use crate::audit::Entry;
use crate::config::KeyConfig;
use crate::error::ApiError;
use crate::signing::{self, Key, SignParams};
use crate::store::remote::{NewSubmission, ParkDocument, ParkedDocument, SubmissionRow};
use crate::store::{now_micros, random_id, Commit, Job, JobOutcome};
use crate::AppState;
use hsm::{RemoteSigner, Signer, Submission};
use pki_core::cert::Certificate;
use pki_core::pades::PendingPdf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Approval requests one driver works on at once.
const IN_FLIGHT: usize = 16;

/// Whether a key reference names a remote signer.
pub fn is_remote(keyref: &hsm::KeyRef) -> bool {
    matches!(keyref, hsm::KeyRef::Csc(_) | hsm::KeyRef::Mss(_))
}

/// The parts of [`signing::Key`] a remote key brings.
type Opened = (Arc<dyn Signer>, Vec<Certificate>, Option<Arc<RemoteSigner>>);

/// Opens a remote key with the configured waiting options; secrets come from
/// `secret-source` / `pin-source` files, never from the configuration or the database.
pub fn open_signer(
    keyref: &hsm::KeyRef,
    given: &[Certificate],
    kc: &KeyConfig,
) -> Result<Opened, String> {
    let mut remote = hsm::RemoteOptions {
        approval_timeout: Duration::from_secs(kc.approval_timeout_secs.unwrap_or(300).max(1)),
        message: Some("Ký văn bản / Sign documents".into()),
        ..Default::default()
    };
    if let Some(ms) = kc.poll_interval_ms {
        remote.poll_interval = Duration::from_millis(ms.max(10));
    }
    let opts = hsm::OpenOptions {
        cert_chain: given.iter().map(|c| c.der().to_vec()).collect(),
        secret_source: kc.pin_source.clone(),
        remote,
        ..Default::default()
    };
    let signer = Arc::new(hsm::open_remote(keyref, &opts).map_err(|e| e.to_string())?);
    let chain = pki_core::signing::chain_for(signer.as_ref(), given).map_err(|_| {
        "no certificate belongs to the key; give its chain with cert = \"chain.pem\"".to_owned()
    })?;
    Ok((signer.clone(), chain, Some(signer)))
}

/// `POST /v1/sign` with a remote key: refused, because the approval can take minutes
/// (decision 0023).
pub fn refuse_sync(key: &Key) -> Result<(), ApiError> {
    if key.remote.is_some() {
        return Err(ApiError::unprocessable(
            "approval_required",
            format!(
                "the key \"{}\" signs only after its holder approves on the phone, which can take minutes; send the document as a batch (POST /v1/batches) and follow its status",
                key.name
            ),
        ));
    }
    Ok(())
}

/// A document prepared by the batch worker, not yet parked.
#[derive(Debug)]
pub struct Prepared {
    /// The key's name.
    pub key: String,
    /// The pending signature.
    pub pending: Box<PendingPdf>,
}

/// Phase one for one claimed job of a remote key: prepares it into
/// `out/<batch>/<job>-<token>.pdf` (the temporary file beside it is what is parked).
pub fn prepare_job(
    state: &AppState,
    key: &Key,
    job: &Job,
    params: &SignParams,
    token: &str,
) -> Result<Prepared, ApiError> {
    let (input, _temp) = crate::worker::input_file(state, job, token)?;
    let output = state
        .blobs
        .join(format!("out/{}/{}-{}.pdf", job.batch_id, job.id, token));
    if let Some(d) = output.parent() {
        std::fs::create_dir_all(d).map_err(|e| {
            tracing::error!("cannot create {}: {e}", d.display());
            ApiError::internal()
        })?;
    }
    let now = time::OffsetDateTime::now_utc();
    let ctx = crate::worker::context(state);
    let opts = signing::pades_options(key, params, &input, &ctx, now)?;
    let pending =
        pki_core::pades::prepare_pdf(&input, &output, key.signer.as_ref(), &key.chain, &opts)
            .map_err(signing::map_pades_error)?;
    Ok(Prepared {
        key: key.name.clone(),
        pending: Box::new(pending),
    })
}

/// Parks prepared documents (already durable on disk) in one transaction, as approval requests
/// of at most the service's (and the configuration's) documents per approval, per batch.
/// Documents whose lease was taken over meanwhile are dropped with their files.
pub async fn park(
    state: &Arc<AppState>,
    token: &str,
    prepared: Vec<(Job, Prepared)>,
) -> Result<(), crate::store::StoreError> {
    let mut subs: Vec<NewSubmission> = Vec::new();
    let mut pendings = std::collections::HashMap::new();
    for (job, p) in prepared {
        let per = state
            .keys
            .get(&p.key)
            .and_then(|k| k.remote.as_ref().map(|r| (k, r)))
            .map_or(1, |(k, r)| {
                let configured = state
                    .config
                    .keys
                    .get(&k.name)
                    .and_then(|c| c.max_per_approval);
                configured.map_or(r.max_per_approval(), |c| c.clamp(1, r.max_per_approval()))
            });
        let json = match serde_json::to_string(&p.pending) {
            Ok(j) => j,
            Err(e) => {
                tracing::error!("cannot store a prepared signature: {e}");
                let _ = p.pending.abort();
                continue;
            }
        };
        let open = subs.last_mut().filter(|s| {
            s.batch_id == job.batch_id && s.key_name == p.key && s.documents.len() < per
        });
        let doc = ParkDocument {
            job_id: job.id.clone(),
            token: token.to_owned(),
            idx: job.idx,
            pending: json,
        };
        match open {
            Some(s) => s.documents.push(doc),
            None => subs.push(NewSubmission {
                id: random_id(),
                key_name: p.key.clone(),
                batch_id: job.batch_id.clone(),
                documents: vec![doc],
            }),
        }
        pendings.insert(job.id, p.pending);
    }
    if subs.is_empty() {
        return Ok(());
    }
    let lost = match state.store.park(&subs).await {
        Ok(l) => l,
        Err(e) => {
            // Nothing parked: the documents stay claimed and are prepared again after their
            // lease; these files belong to nobody.
            for p in pendings.into_values() {
                let _ = p.abort();
            }
            return Err(e);
        }
    };
    for id in lost {
        if let Some(p) = pendings.remove(&id) {
            let _ = p.abort();
        }
    }
    let n: usize = subs.iter().map(|s| s.documents.len()).sum();
    tracing::info!(
        documents = n,
        requests = subs.len(),
        "documents prepared and parked for approval"
    );
    Ok(())
}

/// The driver: sends parked approval requests, polls them, finishes or fails their documents.
/// Runs on every instance; requests are shared out by lease.
pub async fn run(state: Arc<AppState>) {
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        while tasks.try_join_next().is_some() {}
        if state.is_stopping() {
            break;
        }
        let room = IN_FLIGHT.saturating_sub(tasks.len());
        let lease = lease_of(&state);
        let claimed = if room > 0 {
            let secs = i64::try_from(lease.as_secs()).unwrap_or(60);
            state.store.claim_submissions(room as i64, secs).await
        } else {
            Ok((String::new(), Vec::new()))
        };
        let idle = match claimed {
            Ok((token, subs)) => {
                let idle = subs.is_empty();
                for sub in subs {
                    let st = state.clone();
                    let token = token.clone();
                    tasks.spawn(async move {
                        let id = sub.id.clone();
                        // The lease is renewed while this instance works on the request (a
                        // synchronous service holds the request until the person decides;
                        // finishing many documents takes a while): it runs out only when
                        // the instance died.
                        let heartbeat = tokio::spawn(renew(st.clone(), id.clone(), token.clone()));
                        if let Err(e) = handle(&st, &token, sub).await {
                            tracing::error!(request = id, "remote signing failed: {e}");
                        }
                        heartbeat.abort();
                    });
                }
                idle
            }
            Err(e) => {
                tracing::error!("cannot claim approval requests: {e}");
                true
            }
        };
        let pause = if idle && tasks.is_empty() { 500 } else { 100 };
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    // A request being sent is left to finish briefly; one cut off stays `sending` and its
    // documents fail later as "may have reached the phone" (never sent twice).
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
}

/// The lease on an approval request: the configured one (at least 3 s).
fn lease_of(state: &AppState) -> Duration {
    Duration::from_secs(state.config.limits.lease_secs.max(3).unsigned_abs())
}

/// Keeps renewing the lease on request `id` until aborted or lost.
async fn renew(state: Arc<AppState>, id: String, token: String) {
    let lease = lease_of(&state);
    loop {
        tokio::time::sleep(lease / 3).await;
        let until = now_micros() + micros(lease);
        if !matches!(
            state.store.renew_submission(&id, &token, until).await,
            Ok(true)
        ) {
            break;
        }
    }
}

/// Why a request's documents failed: code and sentence.
struct Failure {
    code: &'static str,
    message: String,
}

fn failure_of(e: &hsm::Error) -> Failure {
    use hsm::Error as E;
    let code = match e {
        E::UserCancelled { .. } => "approval_refused",
        E::ApprovalTimeout { .. } => "approval_timeout",
        E::TransactionExpired { .. } => "approval_expired",
        E::RemotePinBlocked { .. } | E::PinLocked { .. } => "pin_blocked",
        E::WrongPin { .. } => "wrong_pin",
        _ => "remote_signer_failed",
    };
    Failure {
        code,
        message: e.to_string(),
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

async fn handle(
    state: &Arc<AppState>,
    token: &str,
    sub: SubmissionRow,
) -> Result<(), crate::store::StoreError> {
    let docs = state.store.parked_documents(&sub.id).await?;
    let Some(signer) = state.keys.get(&sub.key_name).and_then(|k| k.remote.clone()) else {
        let f = Failure {
            code: "unknown_key",
            message: format!(
                "the key \"{}\" is no longer configured as a remote key on this service; nothing was signed",
                sub.key_name
            ),
        };
        return fail(state, token, &sub, docs, &f).await;
    };
    let opts = signer.options().clone();
    match sub.state.as_str() {
        "ready" => {
            let until = now_micros() + micros(lease_of(state));
            if !state
                .store
                .mark_sending(&sub.id, token, &sub.key_name, until)
                .await?
            {
                // Another request of this key is waiting for its approval: later.
                let at = now_micros() + micros(opts.poll_interval.max(Duration::from_millis(500)));
                return state.store.release_submission(&sub.id, token, at).await;
            }
            send(state, token, &sub, docs, signer).await
        }
        "sending" => {
            let f = Failure {
                code: "approval_in_doubt",
                message: format!(
                    "the signing service stopped while sending the approval request to {}, so it may have reached the phone; it was not sent again, so that nothing is signed twice: submit the documents again",
                    signer.who()
                ),
            };
            fail(state, token, &sub, docs, &f).await
        }
        _ => poll(state, token, &sub, docs, signer).await,
    }
}

async fn send(
    state: &Arc<AppState>,
    token: &str,
    sub: &SubmissionRow,
    docs: Vec<ParkedDocument>,
    signer: Arc<RemoteSigner>,
) -> Result<(), crate::store::StoreError> {
    let mut tbs = Vec::with_capacity(docs.len());
    let mut alg = None;
    for d in &docs {
        let p: PendingPdf = match serde_json::from_str(&d.pending) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(request = sub.id, "a parked signature cannot be read: {e}");
                return fail(state, token, sub, docs, &internal_failure()).await;
            }
        };
        let a = p.algorithm().ok();
        if a.is_none() || (alg.is_some() && alg != a) {
            tracing::error!(
                request = sub.id,
                "parked signatures disagree on the algorithm"
            );
            return fail(state, token, sub, docs, &internal_failure()).await;
        }
        alg = a;
        tbs.push(p.to_be_signed().to_vec());
    }
    let Some(alg) = alg else {
        return fail(state, token, sub, docs, &internal_failure()).await;
    };
    tracing::info!(
        request = sub.id,
        documents = docs.len(),
        "sending the approval request to {}",
        signer.who()
    );
    let s = signer.clone();
    let sent = tokio::task::spawn_blocking(move || {
        let refs: Vec<&[u8]> = tbs.iter().map(Vec::as_slice).collect();
        s.submit(alg, &refs)
    })
    .await;
    let submission = match sent {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::warn!(request = sub.id, "the approval request failed: {e}");
            return fail(state, token, sub, docs, &failure_of(&e)).await;
        }
        Err(e) => {
            tracing::error!(request = sub.id, "the sending task failed: {e}");
            return Ok(());
        }
    };
    let json = serde_json::to_string(&submission).unwrap_or_default();
    // Due at once: a service that answered synchronously is finished by the next round
    // without asking it again (the signatures are in the stored state).
    if state
        .store
        .save_submission(&sub.id, token, &json, Some(now_micros()))
        .await?
    {
        tracing::info!(
            request = sub.id,
            batch = sub.batch_id,
            documents = docs.len(),
            "approval requested from {}",
            signer.who()
        );
    }
    Ok(())
}

async fn poll(
    state: &Arc<AppState>,
    token: &str,
    sub: &SubmissionRow,
    docs: Vec<ParkedDocument>,
    signer: Arc<RemoteSigner>,
) -> Result<(), crate::store::StoreError> {
    let Some(mut submission) = sub
        .submission
        .as_deref()
        .and_then(|j| serde_json::from_str::<Submission>(j).ok())
    else {
        tracing::error!(request = sub.id, "a waiting request has no readable state");
        return fail(state, token, sub, docs, &internal_failure()).await;
    };
    let interval = signer.options().poll_interval;
    let s = signer.clone();
    let polled = tokio::task::spawn_blocking(move || {
        let r = s.poll_submission(&mut submission);
        (submission, r)
    })
    .await;
    let Ok((submission, result)) = polled else {
        return Ok(());
    };
    let json = serde_json::to_string(&submission).unwrap_or_default();
    let next = now_micros() + micros(interval);
    match result {
        Ok(None) => {
            state
                .store
                .save_submission(&sub.id, token, &json, Some(next))
                .await?;
            Ok(())
        }
        Err(e) if e.is_unreachable() => {
            // The network or the service hiccupped: ask again; the approval timeout (counted
            // from when the request went out) still ends the wait.
            tracing::warn!(request = sub.id, "polling the approval failed: {e}");
            state
                .store
                .save_submission(&sub.id, token, &json, Some(next))
                .await?;
            Ok(())
        }
        Err(e) => {
            tracing::warn!(
                request = sub.id,
                "the approval ended without signatures: {e}"
            );
            fail(state, token, sub, docs, &failure_of(&e)).await
        }
        Ok(Some(sigs)) => {
            // The service hands signatures out once: keep them before using them.
            if !state
                .store
                .save_submission(&sub.id, token, &json, None)
                .await?
            {
                return Ok(());
            }
            finish(state, token, sub, docs, sigs).await
        }
    }
}

fn internal_failure() -> Failure {
    Failure {
        code: "internal",
        message: "the document could not be signed because of an internal error; submit it again"
            .into(),
    }
}

/// The audit entry for a batch document.
async fn entries(
    state: &AppState,
    batch_id: &str,
) -> Result<(String, SignParams), crate::store::StoreError> {
    let b = state.store.batch(batch_id).await?;
    Ok(b.map_or_else(
        || ("-".to_owned(), SignParams::default()),
        |b| {
            let p = serde_json::from_str(&b.options).unwrap_or(SignParams {
                key: b.key.clone(),
                profile: Some(b.profile.clone()),
                level: Some(b.level.clone()),
                ..Default::default()
            });
            (b.client, p)
        },
    ))
}

fn entry(
    client: &str,
    p: &SignParams,
    job: &Job,
    action: &str,
    serial: &str,
    outcome: &str,
) -> Entry {
    Entry {
        time: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        client: client.to_owned(),
        action: action.into(),
        key: p.key.clone(),
        document_sha256: job.input_sha256.clone(),
        profile: p.profile().to_owned(),
        cert_serial: serial.into(),
        outcome: outcome.into(),
        detail: format!("batch {} document {}", job.batch_id, job.id),
    }
}

/// Removes the parked files of documents whose outcome is recorded.
fn drop_parked(docs: &[ParkedDocument]) {
    for d in docs {
        if let Ok(p) = serde_json::from_str::<PendingPdf>(&d.pending) {
            let _ = p.abort();
        }
    }
}

/// Every document of the request fails with `f`, audited, in one transaction.
async fn fail(
    state: &Arc<AppState>,
    token: &str,
    sub: &SubmissionRow,
    docs: Vec<ParkedDocument>,
    f: &Failure,
) -> Result<(), crate::store::StoreError> {
    let (client, params) = entries(state, &sub.batch_id).await?;
    let commits: Vec<Commit> = docs
        .iter()
        .map(|d| Commit {
            entry: entry(&client, &params, &d.job, "refuse", "-", f.code),
            job: Some((
                d.job.id.clone(),
                String::new(),
                JobOutcome::Failed {
                    code: f.code.into(),
                    message: f.message.clone(),
                },
            )),
        })
        .collect();
    if state
        .store
        .finish_submission(&sub.id, token, &commits)
        .await?
    {
        drop_parked(&docs);
        state
            .metrics
            .batch_failed
            .fetch_add(docs.len() as u64, Ordering::Relaxed);
        crate::worker::callback(state, &sub.batch_id).await?;
    }
    Ok(())
}

/// Finishes every document with its signature, makes the outputs durable, and records them
/// in one transaction.
async fn finish(
    state: &Arc<AppState>,
    token: &str,
    sub: &SubmissionRow,
    docs: Vec<ParkedDocument>,
    sigs: Vec<Vec<u8>>,
) -> Result<(), crate::store::StoreError> {
    if sigs.len() != docs.len() {
        tracing::error!(request = sub.id, "signatures and parked documents disagree");
        return fail(state, token, sub, docs, &internal_failure()).await;
    }
    let (client, params) = entries(state, &sub.batch_id).await?;
    let serial = state
        .keys
        .get(&sub.key_name)
        .map(|k| k.chain[0].serial_hex())
        .unwrap_or_default();
    let st = state.clone();
    let work: Vec<(Job, String)> = docs
        .iter()
        .map(|d| (d.job.clone(), d.pending.clone()))
        .collect();
    let tok = token.to_owned();
    let results = tokio::task::spawn_blocking(move || {
        work.into_iter()
            .zip(sigs)
            .map(|((job, pending), sig)| finish_one(&st, &job, &pending, &sig, &tok))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    if results.len() != docs.len() {
        return Ok(());
    }
    let outputs: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|(p, _)| p.clone()))
        .collect();
    if !outputs.is_empty() {
        let blobs = state.blobs.clone();
        let synced = tokio::task::spawn_blocking(move || crate::worker::sync_outputs(&blobs))
            .await
            .map_err(std::io::Error::other)
            .and_then(|r| r);
        if let Err(e) = synced {
            // Not durable: reference nothing; the stored signatures are used again later.
            tracing::error!("cannot sync the signed outputs: {e}");
            for o in &outputs {
                let _ = std::fs::remove_file(state.blobs.join(o));
            }
            let at = now_micros() + 5_000_000;
            return state.store.release_submission(&sub.id, token, at).await;
        }
    }
    let commits: Vec<Commit> = docs
        .iter()
        .zip(&results)
        .map(|(d, r)| match r {
            Ok((path, sha)) => Commit {
                entry: entry(&client, &params, &d.job, "sign", &serial, "signed"),
                job: Some((
                    d.job.id.clone(),
                    String::new(),
                    JobOutcome::Done {
                        output_path: path.clone(),
                        output_sha256: sha.clone(),
                        output_range: None,
                    },
                )),
            },
            Err(e) => Commit {
                entry: entry(&client, &params, &d.job, "refuse", "-", e.code),
                job: Some((
                    d.job.id.clone(),
                    String::new(),
                    JobOutcome::Failed {
                        code: e.code.into(),
                        message: e.message.clone(),
                    },
                )),
            },
        })
        .collect();
    if state
        .store
        .finish_submission(&sub.id, token, &commits)
        .await?
    {
        drop_parked(&docs);
        let signed = outputs.len() as u64;
        state
            .metrics
            .batch_signed
            .fetch_add(signed, Ordering::Relaxed);
        state
            .metrics
            .batch_failed
            .fetch_add(docs.len() as u64 - signed, Ordering::Relaxed);
        tracing::info!(
            request = sub.id,
            batch = sub.batch_id,
            signed,
            "approved documents signed"
        );
        crate::worker::callback(state, &sub.batch_id).await?;
    } else {
        // Another instance took the request over; its outputs are the ones recorded.
        for o in &outputs {
            let _ = std::fs::remove_file(state.blobs.join(o));
        }
    }
    Ok(())
}

/// Finishes one document from a copy of its parked file into
/// `out/<batch>/<job>-<token>.pdf`; returns the relative path and the output's SHA-256.
fn finish_one(
    state: &AppState,
    job: &Job,
    pending: &str,
    signature: &[u8],
    token: &str,
) -> Result<(String, String), ApiError> {
    let parked: PendingPdf = serde_json::from_str(pending).map_err(|e| {
        tracing::error!("a parked signature cannot be read: {e}");
        ApiError::internal()
    })?;
    let rel = format!("out/{}/{}-{}.pdf", job.batch_id, job.id, token);
    let output = state.blobs.join(&rel);
    let mut fork = parked.fork(&output).map_err(signing::map_pades_error)?;
    // Synced with the rest of the request before the commit.
    fork.pdf.sync = false;
    fork.finish(signature, state.tsa.as_ref().map(|(_, f)| f.as_ref()))
        .map_err(signing::map_pades_error)?;
    let sha = crate::worker::sha256_file(&output).map_err(|e| {
        tracing::error!("cannot read {}: {e}", output.display());
        ApiError::internal()
    })?;
    Ok((rel, sha))
}
