//! `sign-server`: the signing service the document management system calls.
//!
//! [`app`] builds the axum router over an [`AppState`]; [`run`] serves it with the batch
//! worker, the audit committer and the retention task, and stops gracefully on SIGTERM (stop
//! accepting, finish what is in flight, leave the queue in the database).
//!
//! The audit chain verifier ([`store::Store::verify_audit`]) is also what `pki audit verify`
//! runs, so the command line and `GET /v1/audit/verify` can never disagree (decision 0010).

pub mod anchor;
pub mod api;
pub mod audit;
pub mod config;
pub mod durable;
pub mod error;
pub mod idempotency;
pub mod metrics;
pub mod pack;
pub mod ratelimit;
pub mod ready;
pub mod remote;
pub mod signing;
pub mod store;
pub mod tls;
pub mod verify;
pub mod worker;
pub mod xml;

use crate::config::{ClientConfig, Config};
use crate::signing::Key;
use crate::store::{Commit, Committed, Store};
use pki_core::trust::CertPool;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Notify, Semaphore};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// Configuration.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// A key.
    #[error(transparent)]
    Key(#[from] signing::KeyLoadError),
    /// The database.
    #[error("{0}")]
    Store(#[from] store::StoreError),
    /// Files or the socket.
    #[error("{0}")]
    Io(String),
}

type CommitRequest = (
    Commit,
    Option<idempotency::Done>,
    oneshot::Sender<Result<Committed, ()>>,
);

/// Everything a request handler needs.
pub struct AppState {
    /// The configuration.
    pub config: Config,
    /// The database.
    pub store: Store,
    /// Opened keys by name.
    pub keys: BTreeMap<String, Arc<Key>>,
    /// Clients by API key hash.
    pub clients: HashMap<String, ClientConfig>,
    /// Clients by the SHA-256 fingerprint of a client certificate (lower-case hex).
    pub clients_by_cert: HashMap<String, ClientConfig>,
    /// Trust anchors (Decree 30 check, `/v1/verify`).
    pub anchors: CertPool,
    /// Intermediates that come with them.
    pub intermediates: CertPool,
    /// Blob directory.
    pub blobs: PathBuf,
    /// Synchronous signing slots (backpressure).
    pub sign_slots: Arc<Semaphore>,
    /// Signatures of `POST /v1/sign` computed at once: one per core. Waiting requests queue in
    /// order for a slot (a fair semaphore) instead of all sharing the cores at once, so each
    /// signature takes its own time and the I/O threads keep a core.
    pub sign_cpu: Arc<Semaphore>,
    /// Per-key signing set up once (CMS template), for in-memory signing.
    pub signers: signing::Signers,
    /// Wakes the worker when a batch arrives.
    pub work: Notify,
    /// Set when shutting down.
    pub stopping: AtomicBool,
    /// Counters for `/metrics`.
    pub metrics: metrics::Metrics,
    /// The TSA for B-T.
    pub tsa: Option<(String, Arc<dyn pki_core::fetch::Fetcher>)>,
    /// The HTTP client for OCSP and CRLs in `/v1/verify` (`policy.verify_revocation =
    /// "online"`); `None`: offline.
    pub revocation: Option<Arc<dyn pki_core::fetch::Fetcher>>,
    /// The last readiness answer (`/readyz`).
    pub readiness: ready::Readiness,
    /// Per-client rate limits.
    pub rate_limits: ratelimit::RateLimiter,
    /// The OpenAPI document, as served.
    pub openapi: std::sync::OnceLock<String>,
    committer: mpsc::Sender<CommitRequest>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("keys", &self.keys.keys().collect::<Vec<_>>())
            .field("clients", &self.clients.len())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Opens the database and the keys, and starts the audit committer.
    pub async fn new(config: Config) -> Result<Arc<Self>, StartError> {
        let blobs = config.blob_dir();
        for d in ["in", "out", "tmp", "sign"] {
            std::fs::create_dir_all(blobs.join(d))
                .map_err(|e| StartError::Io(format!("cannot create {}: {e}", blobs.display())))?;
        }
        // Temporary uploads of requests that were in flight when the process died.
        if let Ok(rd) = std::fs::read_dir(blobs.join("tmp")) {
            for e in rd.flatten() {
                let _ = std::fs::remove_file(e.path());
            }
        }
        let store = Store::open(&config.database_url(), 16).await?;
        idempotency::migrate(&store).await?;
        anchor::migrate(&store).await?;
        let keys = tokio::task::spawn_blocking({
            let c = config.clone();
            move || signing::open_keys(&c)
        })
        .await
        .map_err(|e| StartError::Io(e.to_string()))??;
        let mut anchors = CertPool::new();
        let mut intermediates = CertPool::new();
        for t in &config.policy.trust {
            if t == "vn" {
                for c in CertPool::vn_roots().iter() {
                    anchors.add(c.clone());
                }
                for c in CertPool::vn_intermediates().iter() {
                    intermediates.add(c.clone());
                }
            } else {
                anchors.add_path(std::path::Path::new(t)).map_err(|e| {
                    config::ConfigError::Invalid(format!("cannot load trust anchors {t}: {e}"))
                })?;
            }
        }
        let clients = config
            .clients
            .iter()
            .filter_map(|c| Some((c.api_key_sha256.as_ref()?.to_ascii_lowercase(), c.clone())))
            .collect();
        let clients_by_cert = config
            .clients
            .iter()
            .flat_map(|c| {
                c.client_cert_sha256
                    .iter()
                    .map(|f| (config::normalize_fingerprint(f), c.clone()))
            })
            .collect();
        let tsa = config.tsa.as_ref().map(|t| {
            (
                t.url.clone(),
                Arc::new(worker::HttpClient::new(std::time::Duration::from_secs(
                    t.timeout_secs,
                ))) as Arc<dyn pki_core::fetch::Fetcher>,
            )
        });
        let revocation =
            (config.policy.verify_revocation == config::Revocation::Online).then(|| {
                Arc::new(worker::HttpClient::new(std::time::Duration::from_secs(
                    config.policy.revocation_timeout_secs,
                ))) as Arc<dyn pki_core::fetch::Fetcher>
            });
        let (tx, rx) = mpsc::channel(4096);
        let state = Arc::new(Self {
            sign_slots: Arc::new(Semaphore::new(config.limits.max_in_flight)),
            signers: signing::Signers::default(),
            sign_cpu: Arc::new(Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            )),
            config,
            store: store.clone(),
            keys,
            clients,
            clients_by_cert,
            anchors,
            intermediates,
            blobs,
            work: Notify::new(),
            stopping: AtomicBool::new(false),
            metrics: metrics::Metrics::default(),
            tsa,
            openapi: std::sync::OnceLock::new(),
            rate_limits: ratelimit::RateLimiter::default(),
            readiness: ready::Readiness::default(),
            revocation,
            committer: tx,
        });
        tokio::spawn(committer(store, rx));
        Ok(state)
    }

    /// Appends an audit record (grouped with others arriving at the same moment into one
    /// transaction).
    pub async fn record(&self, c: Commit) -> Result<Committed, error::ApiError> {
        self.record_with(c, None).await
    }

    /// [`Self::record`], completing an idempotent request in the same transaction.
    pub async fn record_with(
        &self,
        c: Commit,
        request: Option<idempotency::Done>,
    ) -> Result<Committed, error::ApiError> {
        let (tx, rx) = oneshot::channel();
        self.committer
            .send((c, request, tx))
            .await
            .map_err(|_| error::ApiError::unavailable("stopping", "the service is stopping"))?;
        rx.await.ok().and_then(Result::ok).ok_or_else(|| {
            error::ApiError::unavailable(
                "storage_unavailable",
                "the audit record could not be written; nothing was signed; try again later",
            )
        })
    }

    /// Whether the service is stopping.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

/// Group commit: everything waiting goes in one transaction.
async fn committer(store: Store, mut rx: mpsc::Receiver<CommitRequest>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < 512 {
            match rx.try_recv() {
                Ok(x) => batch.push(x),
                Err(_) => break,
            }
        }
        let items: Vec<Commit> = batch.iter().map(|(c, _, _)| c.clone()).collect();
        let requests: Vec<_> = batch.iter().map(|(_, r, _)| r.clone()).collect();
        match store.commit_with(&items, &requests).await {
            Ok(results) => {
                for ((_, _, tx), r) in batch.into_iter().zip(results) {
                    let _ = tx.send(Ok(r));
                }
            }
            Err(e) => {
                tracing::error!("audit commit failed: {e}");
                for (_, _, tx) in batch {
                    let _ = tx.send(Err(()));
                }
            }
        }
    }
}

/// The router with its OpenAPI document.
pub fn app(state: Arc<AppState>) -> axum::Router {
    let (router, doc) = api::router().split_for_parts();
    let json = api::document(doc)
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".into());
    let _ = state.openapi.set(json);
    router.with_state(state)
}

/// The OpenAPI document (for tests and `sign-server openapi`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    api::document(api::router().split_for_parts().1)
}

/// Serves until SIGTERM or Ctrl-C: plain HTTP, or HTTPS when `[tls]` is configured.
pub async fn run(state: Arc<AppState>) -> Result<(), StartError> {
    let tls = match &state.config.tls {
        Some(t) => Some(tls::server_config(t)?),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(&state.config.listen)
        .await
        .map_err(|e| StartError::Io(format!("cannot listen on {}: {e}", state.config.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| StartError::Io(e.to_string()))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!("listening on {scheme}://{addr}");
    eprintln!("sign-server listening on {scheme}://{addr}");
    let worker = tokio::spawn(worker::run(state.clone()));
    let retention = tokio::spawn(worker::retention(state.clone()));
    let remote = tokio::spawn(remote::run(state.clone()));
    let anchoring = match (&state.tsa, state.config.audit.anchor_every_secs) {
        (Some((url, fetcher)), secs) if secs > 0 => Some(tokio::spawn(anchor::run(
            state.store.clone(),
            std::time::Duration::from_secs(secs),
            url.clone(),
            fetcher.clone(),
        ))),
        _ => None,
    };
    let s = state.clone();
    let stop = async move {
        shutdown_signal().await;
        tracing::info!("stopping: no new requests; finishing those in flight");
        s.stopping.store(true, Ordering::SeqCst);
        s.work.notify_waiters();
    };
    match tls {
        None => axum::serve(listener, app(state.clone()))
            .with_graceful_shutdown(stop)
            .await
            .map_err(|e| StartError::Io(e.to_string()))?,
        Some(cfg) => {
            let listener =
                tls::TlsListener::new(listener, cfg, state.metrics.tls_handshake_failures.clone())
                    .map_err(|e| StartError::Io(e.to_string()))?;
            axum::serve(
                listener,
                app(state.clone()).into_make_service_with_connect_info::<tls::TlsPeer>(),
            )
            .with_graceful_shutdown(stop)
            .await
            .map_err(|e| StartError::Io(e.to_string()))?
        }
    }
    state.stopping.store(true, Ordering::SeqCst);
    state.work.notify_waiters();
    retention.abort();
    if let Some(a) = anchoring {
        a.abort();
    }
    let _ = worker.await;
    let _ = remote.await;
    state.store.close().await;
    eprintln!("sign-server stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM (a service manager stopping a server), for axum's graceful
/// shutdown.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
