//! `/readyz`: whether this instance can do its work now — the database answers, every key can
//! be used (PKCS#11: the token answers and the key object is there; no signature is made),
//! and the service is not stopping.
//!
//! Load balancers poll readiness often; the answer is cached for [`CACHE`] so that a burst of
//! probes costs one database round trip and one token call per key. Each key's probe runs on a
//! blocking thread with a time limit, so a hung HSM makes the instance not ready instead of
//! hanging the probe.

use crate::error::ApiError;
use crate::AppState;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an answer is reused.
pub const CACHE: Duration = Duration::from_secs(1);
/// How long one key's probe may take.
pub const KEY_TIMEOUT: Duration = Duration::from_secs(3);

/// The cached answer.
#[derive(Debug, Default)]
pub struct Readiness {
    last: Mutex<Option<(Instant, Result<serde_json::Value, ApiError>)>>,
}

impl Readiness {
    fn cached(&self) -> Option<Result<serde_json::Value, ApiError>> {
        let g = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        g.as_ref()
            .filter(|(at, _)| at.elapsed() < CACHE)
            .map(|(_, r)| r.clone())
    }

    fn store(&self, r: &Result<serde_json::Value, ApiError>) {
        let mut g = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *g = Some((Instant::now(), r.clone()));
    }
}

fn not_ready(message: String) -> ApiError {
    ApiError::unavailable("not_ready", message)
}

/// Checks (or reuses a check younger than [`CACHE`]).
pub async fn check(state: &Arc<AppState>) -> Result<serde_json::Value, ApiError> {
    if state.is_stopping() {
        return Err(ApiError::unavailable("stopping", "the service is stopping"));
    }
    if let Some(r) = state.readiness.cached() {
        return r;
    }
    let r = probe(state).await;
    state.readiness.store(&r);
    r
}

async fn probe(state: &Arc<AppState>) -> Result<serde_json::Value, ApiError> {
    if let Err(e) = state.store.ping().await {
        tracing::warn!("readiness: {e}");
        return Err(not_ready(
            "the database does not answer; this instance cannot accept work".into(),
        ));
    }
    let mut probes = tokio::task::JoinSet::new();
    for (name, key) in &state.keys {
        let (name, key) = (name.clone(), key.clone());
        probes.spawn(async move {
            let signer = key.signer.clone();
            let r = tokio::time::timeout(
                KEY_TIMEOUT,
                tokio::task::spawn_blocking(move || signer.probe()),
            )
            .await;
            let problem = match r {
                Ok(Ok(Ok(()))) => None,
                Ok(Ok(Err(e))) => Some(e.to_string()),
                Ok(Err(_)) => Some("its check failed".to_owned()),
                Err(_) => Some(format!(
                    "it did not answer within {} s",
                    KEY_TIMEOUT.as_secs()
                )),
            };
            (name, problem)
        });
    }
    let mut problems: Vec<(String, String)> = Vec::new();
    while let Some(r) = probes.join_next().await {
        if let Ok((name, Some(p))) = r {
            problems.push((name, p));
        }
    }
    problems.sort();
    if let Some((name, p)) = problems.first() {
        tracing::warn!(key = name.as_str(), "readiness: {p}");
        let others = problems.len() - 1;
        let more = if others > 0 {
            format!(" (and {others} other key(s))")
        } else {
            String::new()
        };
        return Err(not_ready(format!(
            "the key \"{name}\" cannot be used now{more}: {p}"
        )));
    }
    Ok(serde_json::json!({
        "status": "ready",
        "keys": state.keys.keys().collect::<Vec<_>>(),
        "database": match state.store.backend() {
            crate::store::Backend::Sqlite => "sqlite",
            crate::store::Backend::Postgres => "postgres",
        }
    }))
}
