//! The HTTP API of CONTRACT.md. Every route is registered through `utoipa-axum`, so the router
//! and `/openapi.json` are built from the same list and cannot drift apart.

use crate::audit::{ChainReport, Entry, Record};
use crate::config::{ClientConfig, Role};
use crate::error::{ApiError, ErrorBody};
use crate::idempotency;
use crate::signing::{self, SignParams};
use crate::store::{self, Batch, Commit, Job};
use crate::tls::PeerCert;
use crate::AppState;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

type St = State<Arc<AppState>>;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "sign-server",
        description = "The signing service the document management system calls: PAdES signing of single documents and batches, verification, an audit log."
    ),
    modifiers(&Security),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The finished OpenAPI document: every operation that takes an API key also takes a TLS
/// client certificate instead (OpenAPI 3.1 `mutualTLS`; decision 0039).
pub fn document(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::security::{SecurityRequirement, SecurityScheme};
    let c = doc.components.get_or_insert_with(Default::default);
    c.add_security_scheme(
        "client_certificate",
        SecurityScheme::MutualTls {
            description: Some(
                "A TLS client certificate whose SHA-256 fingerprint a client lists (client_cert_sha256); needs [tls] with client_ca".into(),
            ),
            extensions: None,
        },
    );
    let cert = SecurityRequirement::new("client_certificate", Vec::<String>::new());
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            if let Some(sec) = &mut op.security {
                if !sec.is_empty() {
                    sec.push(cert.clone());
                }
            }
        }
    }
    doc
}

/// The routes (handlers and their documentation together).
pub fn router() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(sign))
        .routes(routes!(create_batch))
        .routes(routes!(get_batch))
        .routes(routes!(get_document))
        .routes(routes!(verify))
        .routes(routes!(keys))
        .routes(routes!(audit_records))
        .routes(routes!(audit_verify))
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi_json))
        .fallback(not_found)
        // Uploads are streamed to files with their own limits (limits.max_document_bytes,
        // limits.max_batch_bytes), never buffered whole.
        .layer(DefaultBodyLimit::disable())
}

async fn not_found() -> ApiError {
    ApiError::not_found("not_found", "no such endpoint; see /openapi.json")
}

/// The bytes of a PDF or XML document.
#[derive(Debug, ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct PdfBytes(#[expect(dead_code, reason = "documentation only")] Vec<u8>);

/// A batch upload: one file part per document (PDF or XML), any part name.
#[derive(Debug, ToSchema)]
pub struct BatchUpload {
    /// The PDFs.
    #[schema(value_type = Vec<String>, format = Binary)]
    #[expect(dead_code, reason = "documentation only")]
    file: Vec<Vec<u8>>,
}

// ---------------------------------------------------------------- authentication

/// Who is calling: the API key (`Authorization: Bearer`), the verified TLS client certificate,
/// or both (decision 0039). A client configured with both must present both.
fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    peer: &PeerCert,
) -> Result<ClientConfig, ApiError> {
    let client = identify(state, headers, peer)?;
    if let Err(e) = state.rate_limits.check(&client) {
        state
            .metrics
            .rate_limited
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Err(e);
    }
    Ok(client)
}

fn identify(
    state: &AppState,
    headers: &HeaderMap,
    peer: &PeerCert,
) -> Result<ClientConfig, ApiError> {
    let cert = peer.0.as_deref();
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        let Some(fp) = cert else {
            return Err(ApiError::unauthorized(
                "unauthenticated",
                "this endpoint needs an API key (send Authorization: Bearer <key>) or a client certificate over TLS",
            ));
        };
        let client = state.clients_by_cert.get(fp).cloned().ok_or_else(|| {
            ApiError::unauthorized(
                "unknown_client_certificate",
                format!(
                    "the client certificate (SHA-256 {fp}) belongs to no client of this service; ask the service operator to add it as client_cert_sha256"
                ),
            )
        })?;
        if client.api_key_sha256.is_some() {
            return Err(ApiError::unauthorized(
                "unauthenticated",
                "this client must also send its API key: Authorization: Bearer <key>",
            ));
        }
        return Ok(client);
    };
    let key = v
        .to_str()
        .ok()
        .and_then(|s| {
            s.strip_prefix("Bearer ")
                .or_else(|| s.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized(
                "unauthenticated",
                "the Authorization header must be \"Bearer <key>\"",
            )
        })?;
    let client = state
        .clients
        .get(&crate::config::api_key_hash(key))
        .cloned()
        .ok_or_else(|| {
            ApiError::unauthorized(
                "invalid_credentials",
                "the API key is not valid; check it with the service operator",
            )
        })?;
    if !client.client_cert_sha256.is_empty()
        && !cert.is_some_and(|fp| {
            client
                .client_cert_sha256
                .iter()
                .any(|c| crate::config::normalize_fingerprint(c) == fp)
        })
    {
        return Err(ApiError::unauthorized(
            "client_certificate_required",
            "this API key is valid only with its client's certificate: connect over TLS with that certificate",
        ));
    }
    Ok(client)
}

fn require_auditor(c: &ClientConfig) -> Result<(), ApiError> {
    if c.role == Role::Auditor {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "auditor_only",
            "only auditors may read the audit log",
        ))
    }
}

/// Checks that `client` may sign with `params.key` and `params.profile`.
fn check_grants<'a>(
    state: &'a AppState,
    client: &ClientConfig,
    params: &SignParams,
) -> Result<&'a Arc<signing::Key>, ApiError> {
    if client.role != Role::Signer {
        return Err(ApiError::forbidden(
            "signing_not_allowed",
            "this client is an auditor; auditors do not sign",
        ));
    }
    let Some(key) = state.keys.get(&params.key) else {
        return Err(ApiError::not_found(
            "unknown_key",
            format!(
                "there is no key named \"{}\"; GET /v1/keys lists the keys you may use",
                params.key
            ),
        ));
    };
    if !client.keys.iter().any(|k| k == &params.key) {
        return Err(ApiError::forbidden(
            "key_not_granted",
            format!(
                "this client may not use the key \"{}\"; GET /v1/keys lists the keys you may use",
                params.key
            ),
        ));
    }
    let profile = params.profile();
    if !crate::config::PROFILES.contains(&profile) {
        return Err(ApiError::bad_request(
            "unknown_profile",
            format!(
                "there is no profile \"{profile}\"; profiles are {}",
                crate::config::PROFILES.join(", ")
            ),
        ));
    }
    if !client.profiles.iter().any(|p| p == profile) {
        return Err(ApiError::forbidden(
            "profile_not_granted",
            format!("this client may not sign with the profile \"{profile}\""),
        ));
    }
    signing::level(params.level.as_deref(), state.tsa.is_some())?;
    Ok(key)
}

fn now_rfc3339() -> String {
    let t = time::OffsetDateTime::now_utc();
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn refusal(
    client: Option<&ClientConfig>,
    params: Option<&SignParams>,
    doc: &str,
    e: &ApiError,
    detail: &str,
) -> Commit {
    Commit {
        entry: Entry {
            time: now_rfc3339(),
            client: client.map(|c| c.name.clone()).unwrap_or_else(|| "-".into()),
            action: "refuse".into(),
            key: params
                .map(|p| p.key.clone())
                .filter(|k| !k.is_empty())
                .unwrap_or_else(|| "-".into()),
            document_sha256: if doc.is_empty() {
                "-".into()
            } else {
                doc.into()
            },
            profile: params
                .map(|p| p.profile().to_owned())
                .unwrap_or_else(|| "-".into()),
            cert_serial: "-".into(),
            outcome: e.code.into(),
            detail: detail.into(),
        },
        job: None,
    }
}

/// Counts an error for /metrics and records refusals of signing requests in the audit log.
async fn refused(
    state: &AppState,
    client: Option<&ClientConfig>,
    params: Option<&SignParams>,
    doc: &str,
    e: ApiError,
    detail: &str,
) -> ApiError {
    use std::sync::atomic::Ordering::Relaxed;
    if e.status == StatusCode::TOO_MANY_REQUESTS {
        // Counted where it is decided (authenticate); not audited: a client over its rate
        // would otherwise grow the log at that rate.
    } else if e.is_client_error() {
        state.metrics.refused.fetch_add(1, Relaxed);
        if let Err(ae) = state.record(refusal(client, params, doc, &e, detail)).await {
            return ae;
        }
    } else if e.code == "overloaded" {
        state.metrics.overloaded.fetch_add(1, Relaxed);
    } else {
        state.metrics.errors.fetch_add(1, Relaxed);
    }
    e
}

// ---------------------------------------------------------------- uploads

/// A temporary file that is removed when dropped, unless kept.
struct TempFile(PathBuf);

impl TempFile {
    fn keep(mut self) {
        self.0 = PathBuf::new();
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn too_large(limit: u64) -> ApiError {
    ApiError::too_large(format!(
        "the document is larger than this service accepts ({} MB); send a smaller file",
        limit / (1024 * 1024)
    ))
}

fn incomplete() -> ApiError {
    ApiError::bad_request(
        "incomplete_upload",
        "the upload ended before the whole body arrived; send it again",
    )
}

/// Streams `chunks` into `path`, at most `limit` bytes; returns the size and SHA-256.
async fn write_stream<S, E>(
    chunks: S,
    path: &std::path::Path,
    limit: u64,
) -> Result<(u64, String), ApiError>
where
    S: futures_util::Stream<Item = Result<axum::body::Bytes, E>> + Unpin,
{
    let mut f = tokio::fs::File::create(path).await.map_err(|e| {
        tracing::error!("cannot create {}: {e}", path.display());
        ApiError::internal()
    })?;
    append_stream(chunks, &mut f, path, limit).await
}

/// Streams `chunks` onto the end of `f` (the file at `path`), at most `limit` bytes; returns
/// the size and SHA-256.
async fn append_stream<S, E>(
    mut chunks: S,
    f: &mut tokio::fs::File,
    path: &std::path::Path,
    limit: u64,
) -> Result<(u64, String), ApiError>
where
    S: futures_util::Stream<Item = Result<axum::body::Bytes, E>> + Unpin,
{
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut n = 0u64;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|_| incomplete())?;
        n += chunk.len() as u64;
        if n > limit {
            return Err(too_large(limit));
        }
        ctx.update(&chunk);
        f.write_all(&chunk).await.map_err(|e| {
            tracing::error!("cannot write {}: {e}", path.display());
            ApiError::internal()
        })?;
    }
    f.flush().await.map_err(|_| ApiError::internal())?;
    Ok((n, hex::encode(ctx.finish())))
}

async fn upload(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<(TempFile, String), ApiError> {
    let limit = state.config.limits.max_document_bytes;
    if content_length(headers).is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    let tmp = TempFile(state.blobs.join("tmp").join(store::random_id()));
    let (n, sha) = write_stream(body.into_data_stream(), &tmp.0, limit).await?;
    if n == 0 {
        return Err(empty_document());
    }
    Ok((tmp, sha))
}

async fn file_response(path: &std::path::Path, content_type: &str) -> Result<Response, ApiError> {
    let f = tokio::fs::File::open(path).await.map_err(|e| {
        tracing::error!("cannot open {}: {e}", path.display());
        ApiError::internal()
    })?;
    let len = f.metadata().await.map(|m| m.len()).ok();
    let mut r = Response::new(Body::from_stream(tokio_util::io::ReaderStream::new(f)));
    let ct = HeaderValue::from_str(content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    r.headers_mut().insert(header::CONTENT_TYPE, ct);
    if let Some(l) = len {
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(l));
    }
    Ok(r)
}

/// `len` bytes at `offset` of the file at `path`, streamed.
async fn range_response(
    path: &std::path::Path,
    offset: i64,
    len: i64,
    content_type: &'static str,
) -> Result<Response, ApiError> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let (Ok(offset), Ok(len)) = (u64::try_from(offset), u64::try_from(len)) else {
        tracing::error!("a negative range of {} in the database", path.display());
        return Err(ApiError::internal());
    };
    let mut f = tokio::fs::File::open(path).await.map_err(|e| {
        tracing::error!("cannot open {}: {e}", path.display());
        ApiError::internal()
    })?;
    f.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(|e| {
            tracing::error!("cannot seek in {}: {e}", path.display());
            ApiError::internal()
        })?;
    let mut r = Response::new(Body::from_stream(tokio_util::io::ReaderStream::new(
        f.take(len),
    )));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    Ok(r)
}

fn signing_context(state: &AppState) -> signing::Context<'_> {
    signing::Context {
        anchors: &state.anchors,
        intermediates: &state.intermediates,
        agency_requires_personal: state.config.policy.agency_requires_personal,
        tsa: state.tsa.as_ref().map(|(u, f)| (u.as_str(), f.as_ref())),
        revocation: state.revocation.as_deref(),
        // The output is a temporary file streamed back and then deleted: nothing to make
        // durable (the audit record is, in the database).
        sync: false,
    }
}

// ---------------------------------------------------------------- POST /v1/sign

/// Signs one PDF or XML document (the request body) and returns the signed document.
#[utoipa::path(
    post,
    path = "/v1/sign",
    params(SignParams, ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried request safe: the same client, key, document and options get the first signature's bytes again (kept for the retention period)")),
    request_body(description = "The PDF or XML document to sign (any content type; the first bytes tell which)", content((PdfBytes = "application/pdf"), (PdfBytes = "application/octet-stream"))),
    responses(
        (status = 200, description = "The signed document (application/pdf or application/xml)", content_type = "application/pdf", body = PdfBytes,
         headers(("X-Audit-Seq" = i64, description = "The audit record of this signature"),
                 ("X-Signature-Field" = String, description = "The signature field"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody, description = "Over this client's rate limit; see Retry-After"), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody, description = "Not signable, or the Idempotency-Key was used with another document or options"),
        (status = 409, body = ErrorBody, description = "A request with this Idempotency-Key is still being signed; see Retry-After"),
        (status = 503, body = ErrorBody, description = "At capacity or a dependency is down; see Retry-After"),
    ),
    security(("api_key" = []))
)]
async fn sign(
    State(state): St,
    peer: PeerCert,
    headers: HeaderMap,
    params: Result<Query<SignParams>, QueryRejection>,
    body: Body,
) -> Response {
    let started = std::time::Instant::now();
    let client = match authenticate(&state, &headers, &peer) {
        Ok(c) => c,
        Err(e) => {
            return refused(&state, None, None, "", e, "POST /v1/sign")
                .await
                .into_response()
        }
    };
    let params = match params {
        Ok(Query(p)) => Some(p),
        Err(rej) => {
            tracing::debug!("query: {}", rej.body_text());
            None
        }
    };
    let Some(params) = params else {
        let e = ApiError::bad_request(
            "invalid_parameters",
            "the query string must name the key (POST /v1/sign?key=NAME) and may add profile, level, reason, location and pss=true|false",
        );
        return refused(&state, Some(&client), None, "", e, "POST /v1/sign")
            .await
            .into_response();
    };
    let request_id = store::random_id();
    let mut doc_sha = String::new();
    match sign_inner(
        &state,
        &client,
        &params,
        &headers,
        body,
        &request_id,
        &mut doc_sha,
    )
    .await
    {
        Ok(r) => {
            state.metrics.observe_sign(started.elapsed());
            r
        }
        Err(e) => refused(
            &state,
            Some(&client),
            Some(&params),
            &doc_sha,
            e,
            &format!("request {request_id}"),
        )
        .await
        .into_response(),
    }
}

async fn sign_inner(
    state: &Arc<AppState>,
    client: &ClientConfig,
    params: &SignParams,
    headers: &HeaderMap,
    body: Body,
    request_id: &str,
    doc_sha: &mut String,
) -> Result<Response, ApiError> {
    let key = check_grants(state, client, params)?.clone();
    crate::remote::refuse_sync(&key)?;
    let idem = idempotency::header(headers)?;
    if state.is_stopping() {
        return Err(ApiError::unavailable(
            "stopping",
            "the service is stopping; try another instance or again shortly",
        ));
    }
    let _permit = state
        .sign_slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::overloaded(1))?;
    if idem.is_none() && content_length(headers).is_some_and(|n| n <= IN_MEMORY_SIGN_MAX) {
        // A small document without Idempotency-Key: nothing of it needs to be on disk
        // (decision 0035), so it is signed in memory and answered from memory.
        let data = axum::body::to_bytes(body, IN_MEMORY_SIGN_MAX as usize)
            .await
            .map_err(|_| incomplete())?;
        if data.is_empty() {
            return Err(empty_document());
        }
        let sha = hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &data));
        *doc_sha = sha.clone();
        let data =
            match sign_in_memory(state, client, params, &key, data.to_vec(), &sha, request_id)
                .await?
            {
                Ok(r) => return Ok(r),
                Err(data) => data,
            };
        // Not for memory (XML, a layout, ...): the file path below, as for a large body.
        let tmp = TempFile(state.blobs.join("tmp").join(store::random_id()));
        tokio::fs::write(&tmp.0, &data).await.map_err(|e| {
            tracing::error!("cannot write {}: {e}", tmp.0.display());
            ApiError::internal()
        })?;
        return sign_and_record(state, client, params, key, tmp, sha, request_id, None).await;
    }
    let (input, sha) = upload(state, headers, body).await?;
    *doc_sha = sha.clone();
    let reservation = match idem {
        None => None,
        Some(k) => {
            let fp = idempotency::fingerprint(&sha, params);
            match idempotency::begin(&state.store, &client.name, &k, &fp).await? {
                idempotency::Begin::Replay(earlier) => {
                    return signed_response(state, &earlier, true).await
                }
                idempotency::Begin::New(token) => Some((k, token)),
            }
        }
    };
    let r = sign_and_record(
        state,
        client,
        params,
        key,
        input,
        sha,
        request_id,
        reservation.as_ref(),
    )
    .await;
    if let (Err(_), Some((k, token))) = (&r, &reservation) {
        idempotency::abandon(&state.store, &client.name, k, token).await;
    }
    r
}

/// A signing slot of `POST /v1/sign` (`AppState::sign_cpu`), held until the signature is done.
async fn cpu_slot(state: &AppState) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    state
        .sign_cpu
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| ApiError::unavailable("stopping", "the service is stopping"))
}

/// Bodies of `POST /v1/sign` up to this size (by `Content-Length`) are signed in memory; with
/// `max_in_flight` requests that bounds the memory held by bodies to `max_in_flight` times
/// about twice this.
const IN_MEMORY_SIGN_MAX: u64 = 1 << 20;

fn empty_document() -> ApiError {
    ApiError::bad_request(
        "empty_document",
        "the request body is empty; send the PDF as the body",
    )
}

/// Signs `data` in memory and answers with the signed bytes once the audit record is
/// committed; `Err(data)` when the document needs the file path (`signing::sign_pdf_bytes`).
async fn sign_in_memory(
    state: &Arc<AppState>,
    client: &ClientConfig,
    params: &SignParams,
    key: &Arc<signing::Key>,
    data: Vec<u8>,
    sha: &str,
    request_id: &str,
) -> Result<Result<Response, Vec<u8>>, ApiError> {
    let signed = {
        let (st, key, p) = (state.clone(), key.clone(), params.clone());
        let cpu = cpu_slot(state).await?;
        tokio::task::spawn_blocking(move || {
            let _cpu = cpu;
            signing::sign_pdf_bytes(&key, &p, data, &signing_context(&st), &st.signers)
        })
        .await
        .map_err(|e| {
            tracing::error!("signing task failed: {e}");
            ApiError::internal()
        })??
    };
    let (bytes, outcome) = match signed {
        Ok(x) => x,
        Err(data) => return Ok(Err(data)),
    };
    // The signature is released only once its audit record is committed.
    let committed = state
        .record(Commit {
            entry: Entry {
                time: now_rfc3339(),
                client: client.name.clone(),
                action: "sign".into(),
                key: params.key.clone(),
                document_sha256: sha.to_owned(),
                profile: params.profile().into(),
                cert_serial: outcome.cert_serial.clone(),
                outcome: "signed".into(),
                detail: format!("request {request_id}"),
            },
            job: None,
        })
        .await?;
    let store::Committed::Recorded(seq) = committed else {
        return Err(ApiError::internal());
    };
    state
        .metrics
        .sync_signed
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut r = Response::new(Body::from(bytes));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(outcome.content_type),
    );
    let earlier = idempotency::Earlier {
        output_path: String::new(),
        content_type: outcome.content_type.into(),
        field: outcome.field,
        level: outcome.level,
        audit_seq: seq,
    };
    signature_headers(&mut r, &earlier, false);
    Ok(Ok(r))
}

#[expect(
    clippy::too_many_arguments,
    reason = "one request's parts, passed on once"
)]
async fn sign_and_record(
    state: &Arc<AppState>,
    client: &ClientConfig,
    params: &SignParams,
    key: Arc<signing::Key>,
    input: TempFile,
    sha: String,
    request_id: &str,
    reservation: Option<&(String, String)>,
) -> Result<Response, ApiError> {
    // A request with an Idempotency-Key keeps its output (for the retention period) so that
    // a retry gets the same bytes; any other output is a temporary file.
    let kept = reservation.map(|_| format!("sign/{request_id}"));
    let output = TempFile(match &kept {
        Some(rel) => state.blobs.join(rel),
        None => state.blobs.join("tmp").join(format!("{request_id}.out")),
    });
    let outcome = {
        let st = state.clone();
        let (inp, out, p) = (input.0.clone(), output.0.clone(), params.clone());
        let keep = kept.is_some();
        let cpu = cpu_slot(state).await?;
        tokio::task::spawn_blocking(move || {
            let _cpu = cpu;
            let o = signing::sign_document(&key, &p, &inp, &out, &signing_context(&st))?;
            if keep {
                // The row that names this file commits with the audit record: the file must
                // be on disk first (decision 0028).
                crate::durable::sync_file_and_dir(&out).map_err(|e| {
                    tracing::error!("cannot sync {}: {e}", out.display());
                    ApiError::internal()
                })?;
            }
            Ok::<_, ApiError>(o)
        })
        .await
        .map_err(|e| {
            tracing::error!("signing task failed: {e}");
            ApiError::internal()
        })??
    };
    drop(input);
    let request = match (reservation, &kept) {
        (Some((k, token)), Some(rel)) => Some(idempotency::Done {
            client: client.name.clone(),
            key: k.clone(),
            token: token.clone(),
            result: idempotency::Earlier {
                output_path: rel.clone(),
                content_type: outcome.content_type.into(),
                field: outcome.field.clone(),
                level: outcome.level.clone(),
                audit_seq: 0,
            },
        }),
        _ => None,
    };
    // The signature is released only once its audit record is committed.
    let committed = state
        .record_with(
            Commit {
                entry: Entry {
                    time: now_rfc3339(),
                    client: client.name.clone(),
                    action: "sign".into(),
                    key: params.key.clone(),
                    document_sha256: sha,
                    profile: params.profile().into(),
                    cert_serial: outcome.cert_serial.clone(),
                    outcome: "signed".into(),
                    detail: format!("request {request_id}"),
                },
                job: None,
            },
            request,
        )
        .await?;
    let seq = match committed {
        store::Committed::Recorded(s) => s,
        store::Committed::LeaseLost => return Err(ApiError::internal()),
    };
    state
        .metrics
        .sync_signed
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let earlier = idempotency::Earlier {
        output_path: output.0.display().to_string(),
        content_type: outcome.content_type.into(),
        field: outcome.field,
        level: outcome.level,
        audit_seq: seq,
    };
    let mut r = file_response(&output.0, &earlier.content_type).await?;
    if kept.is_some() {
        // Kept for retries; the retention task deletes it.
        output.keep();
    } else {
        // The open file keeps streaming after the name is gone.
        drop(output);
    }
    signature_headers(&mut r, &earlier, false);
    Ok(r)
}

fn signature_headers(r: &mut Response, e: &idempotency::Earlier, replayed: bool) {
    let h = r.headers_mut();
    h.insert("x-audit-seq", HeaderValue::from(e.audit_seq));
    if let Ok(v) = HeaderValue::from_str(&e.field) {
        h.insert("x-signature-field", v);
    }
    if let Ok(v) = HeaderValue::from_str(&e.level) {
        h.insert("x-signature-level", v);
    }
    if replayed {
        h.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
}

/// The output of an earlier request with the same Idempotency-Key, sent again.
async fn signed_response(
    state: &AppState,
    e: &idempotency::Earlier,
    replayed: bool,
) -> Result<Response, ApiError> {
    let mut r = file_response(&state.blobs.join(&e.output_path), &e.content_type).await?;
    signature_headers(&mut r, e, replayed);
    Ok(r)
}

// ---------------------------------------------------------------- batches

/// Options of a batch (query string), the same as `POST /v1/sign`, plus a callback.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BatchParams {
    /// The key's name.
    pub key: String,
    /// Profile (default `plain`).
    #[serde(default)]
    pub profile: Option<String>,
    /// Level (default `B-B`).
    #[serde(default)]
    pub level: Option<String>,
    /// `/Reason`.
    #[serde(default)]
    pub reason: Option<String>,
    /// `/Location`.
    #[serde(default)]
    pub location: Option<String>,
    /// RSASSA-PSS for RSA keys.
    #[serde(default)]
    pub pss: Option<bool>,
    /// URL that receives `POST` of the batch status when every document is finished.
    #[serde(default)]
    pub callback_url: Option<String>,
}

impl BatchParams {
    fn sign_params(&self) -> SignParams {
        SignParams {
            key: self.key.clone(),
            profile: self.profile.clone(),
            level: self.level.clone(),
            reason: self.reason.clone(),
            location: self.location.clone(),
            doc_number: None,
            rect: None,
            page: None,
            pss: self.pss,
        }
    }
}

/// A document of a batch.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DocumentStatus {
    /// Its id (for the download URL).
    pub id: String,
    /// Position in the upload, from 0.
    pub index: i64,
    /// File name from the upload.
    pub name: String,
    /// `queued`, `running`, `awaiting_approval` (a remote key: prepared, waiting for its
    /// holder to approve on the phone), `done` or `failed`.
    pub state: String,
    /// SHA-256 of the document received.
    pub input_sha256: String,
    /// SHA-256 of the signed document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_sha256: Option<String>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    /// Its audit record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audit_seq: Option<i64>,
}

/// A batch and its documents.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BatchStatus {
    /// Id.
    pub id: String,
    /// `queued`, `running`, `awaiting_approval` (some documents wait for the key holder's
    /// approval on the phone) or `finished`.
    pub state: String,
    /// Key name.
    pub key: String,
    /// Profile.
    pub profile: String,
    /// Level.
    pub level: String,
    /// Documents.
    pub total: i64,
    /// Signed so far.
    pub done: i64,
    /// Failed.
    pub failed: i64,
    /// Each document.
    pub documents: Vec<DocumentStatus>,
}

fn doc_status(j: Job) -> DocumentStatus {
    DocumentStatus {
        error: j.error_code.map(|code| ErrorBody {
            code,
            message: j.error_message.unwrap_or_default(),
        }),
        id: j.id,
        index: j.idx,
        name: j.name,
        state: j.state,
        input_sha256: j.input_sha256,
        output_sha256: j.output_sha256,
        audit_seq: j.audit_seq,
    }
}

/// The status of a batch.
pub async fn batch_status(state: &AppState, b: &Batch) -> Result<BatchStatus, ApiError> {
    let jobs = state.store.jobs(&b.id).await?;
    let done = jobs.iter().filter(|j| j.state == "done").count() as i64;
    let failed = jobs.iter().filter(|j| j.state == "failed").count() as i64;
    let running = jobs.iter().any(|j| j.state == "running");
    let awaiting = jobs.iter().any(|j| j.state == "awaiting_approval");
    let st = if done + failed == b.total {
        "finished"
    } else if awaiting {
        "awaiting_approval"
    } else if running || done + failed > 0 {
        "running"
    } else {
        "queued"
    };
    Ok(BatchStatus {
        id: b.id.clone(),
        state: st.into(),
        key: b.key.clone(),
        profile: b.profile.clone(),
        level: b.level.clone(),
        total: b.total,
        done,
        failed,
        documents: jobs.into_iter().map(doc_status).collect(),
    })
}

/// A batch accepted.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BatchAccepted {
    /// The batch id.
    pub id: String,
    /// Documents accepted.
    pub total: i64,
    /// Where to follow it.
    pub status_url: String,
    /// True when an earlier request with the same Idempotency-Key created it.
    pub replayed: bool,
}

/// Accepts many PDFs (multipart/form-data, one file part per document) to sign in the
/// background.
#[utoipa::path(
    post,
    path = "/v1/batches",
    params(BatchParams, ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried request safe: the same key with the same documents and options returns the batch the first request created")),
    request_body(content = BatchUpload, content_type = "multipart/form-data", description = "One part per PDF"),
    responses(
        (status = 202, body = BatchAccepted), (status = 200, body = BatchAccepted, description = "Replayed (same Idempotency-Key)"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody, description = "Over this client's rate limit; see Retry-After"), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 503, body = ErrorBody),
        (status = 422, body = ErrorBody, description = "The Idempotency-Key was used for a batch with other documents or options"),
    ),
    security(("api_key" = []))
)]
async fn create_batch(
    State(state): St,
    peer: PeerCert,
    headers: HeaderMap,
    params: Result<Query<BatchParams>, QueryRejection>,
    body: Body,
) -> Response {
    let client = match authenticate(&state, &headers, &peer) {
        Ok(c) => c,
        Err(e) => {
            return refused(&state, None, None, "", e, "POST /v1/batches")
                .await
                .into_response()
        }
    };
    let Ok(Query(params)) = params else {
        let e = ApiError::bad_request(
            "invalid_parameters",
            "the query string must name the key (POST /v1/batches?key=NAME) and may add profile, level, reason, location, pss=true|false and callback_url",
        );
        return refused(&state, Some(&client), None, "", e, "POST /v1/batches")
            .await
            .into_response();
    };
    let sp = params.sign_params();
    match batch_inner(&state, &client, &params, &headers, body).await {
        Ok(r) => r,
        Err(e) => refused(&state, Some(&client), Some(&sp), "", e, "POST /v1/batches")
            .await
            .into_response(),
    }
}

async fn batch_inner(
    state: &Arc<AppState>,
    client: &ClientConfig,
    params: &BatchParams,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let sp = params.sign_params();
    check_grants(state, client, &sp)?;
    if let Some(u) = &params.callback_url {
        if !pki_core::fetch::is_http_url(u) {
            return Err(ApiError::bad_request(
                "invalid_parameters",
                "callback_url must be an http:// or https:// URL",
            ));
        }
    }
    let idem = match headers.get("idempotency-key") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .filter(|s| !s.is_empty() && s.len() <= 200)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_parameters",
                        "Idempotency-Key must be 1 to 200 visible ASCII characters",
                    )
                })?
                .to_owned(),
        ),
        None => None,
    };
    if let Some(k) = &idem {
        if let Some(id) = state.store.idempotent_batch(&client.name, k).await? {
            // A replay: its documents are read and hashed (not stored) and compared with the
            // first request's, like POST /v1/sign does (decision 0040).
            let boundary = multipart_boundary(headers)?;
            let digest = hash_batch_upload(state, headers, body, boundary).await?;
            return replay_batch(state, id, params, &digest).await;
        }
    }
    if state.is_stopping() {
        return Err(ApiError::unavailable(
            "stopping",
            "the service is stopping; try again shortly",
        ));
    }
    let limits = &state.config.limits;
    if content_length(headers).is_some_and(|n| n > limits.max_batch_bytes) {
        return Err(ApiError::too_large(format!(
            "the batch is larger than this service accepts ({} MB); split it",
            limits.max_batch_bytes / (1024 * 1024)
        )));
    }
    if state.store.pending_documents().await? >= limits.max_queued_documents {
        return Err(ApiError::overloaded(30));
    }
    let boundary = multipart_boundary(headers)?;
    let batch_id = store::random_id();
    let dir = state.blobs.join("in").join(&batch_id);
    let cleanup = DirGuard(Some(dir.clone()));
    tokio::fs::create_dir_all(&dir).await.map_err(|e| {
        tracing::error!("cannot create {}: {e}", dir.display());
        ApiError::internal()
    })?;
    // All the documents in one file, each job naming its range (decision 0035).
    let pack_path = state.blobs.join(crate::pack::inputs_rel(&batch_id));
    let mut pack = tokio::fs::File::create(&pack_path).await.map_err(|e| {
        tracing::error!("cannot create {}: {e}", pack_path.display());
        ApiError::internal()
    })?;
    let mut mp = multer::Multipart::new(body.into_data_stream(), boundary);
    let mut jobs = Vec::new();
    let mut total_bytes = 0u64;
    let now = store::now_micros();
    loop {
        let Some(field) = next_document(&mut mp, jobs.len(), limits).await? else {
            break;
        };
        let name = field
            .file_name()
            .or(field.name())
            .unwrap_or("document.pdf")
            .chars()
            .filter(|c| !c.is_control())
            .take(255)
            .collect::<String>();
        let id = store::random_id();
        let remaining = limits.max_batch_bytes.saturating_sub(total_bytes);
        let limit = limits.max_document_bytes.min(remaining);
        let (n, sha) = append_stream(
            field.map(|r| r.map_err(|_| ())),
            &mut pack,
            &pack_path,
            limit,
        )
        .await
        .map_err(|e| {
            if e.code == "too_large" && limit == remaining {
                ApiError::too_large(format!(
                    "the batch is larger than this service accepts ({} MB); split it",
                    limits.max_batch_bytes / (1024 * 1024)
                ))
            } else {
                e
            }
        })?;
        let offset = total_bytes;
        total_bytes += n;
        jobs.push(Job {
            id,
            batch_id: batch_id.clone(),
            idx: jobs.len() as i64,
            name,
            input_sha256: sha,
            state: "queued".into(),
            attempts: 0,
            lease_token: None,
            output_path: None,
            output_sha256: None,
            error_code: None,
            error_message: None,
            audit_seq: None,
            input_range: Some((offset as i64, n as i64)),
            output_range: None,
        });
    }
    if jobs.is_empty() {
        return Err(ApiError::bad_request(
            "empty_batch",
            "the batch holds no document; send one file part per PDF",
        ));
    }
    let b = Batch {
        id: batch_id.clone(),
        client: client.name.clone(),
        key: sp.key.clone(),
        profile: sp.profile().into(),
        level: sp.level.clone().unwrap_or_else(|| "B-B".into()),
        options: serde_json::to_string(&sp).unwrap_or_default(),
        callback_url: params.callback_url.clone(),
        created_at: now,
        total: jobs.len() as i64,
    };
    let total = b.total;
    // The accepted documents must survive a power cut, not only a crash: on disk before the
    // row that accepts them commits (decision 0028).
    let pack = pack.into_std().await;
    let synced = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || crate::durable::sync_pack(&pack, &dir)
    })
    .await
    .map_err(|_| ApiError::internal())?
    .map_err(|e| {
        tracing::error!("cannot sync the batch upload {}: {e}", dir.display());
        ApiError::unavailable(
            "storage_unavailable",
            "the documents could not be stored durably; nothing was accepted; try again later",
        )
    })?;
    state.metrics.observe_upload_sync(synced);
    let digest = idempotency::documents_digest(jobs.iter().map(|j| j.input_sha256.as_str()));
    if idem.is_some() {
        // Before the batch row: whoever finds the batch by its key finds the digest too.
        idempotency::record_batch_documents(&state.store, &batch_id, &digest).await?;
    }
    let id = match state.store.create_batch(&b, idem.as_deref(), &jobs).await? {
        Ok(()) => {
            cleanup.keep();
            batch_id
        }
        // Another request with the same key committed first: the same rules as a replay.
        Err(existing) => return replay_batch(state, existing, params, &digest).await,
    };
    state.work.notify_one();
    state
        .metrics
        .batches
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let body = BatchAccepted {
        status_url: format!("/v1/batches/{id}"),
        id,
        total,
        replayed: false,
    };
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}

fn multipart_boundary(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid_parameters",
                "send the documents as multipart/form-data, one file part per PDF",
            )
        })
}

/// The next document part of a batch upload, `None` after the last; `count` documents came
/// before it. A body that is not readable multipart, or one document over the batch's limit,
/// is refused.
async fn next_document<'r>(
    mp: &mut multer::Multipart<'r>,
    count: usize,
    limits: &crate::config::Limits,
) -> Result<Option<multer::Field<'r>>, ApiError> {
    let field = match mp.next_field().await {
        Ok(Some(f)) => f,
        Ok(None) => return Ok(None),
        Err(e) => {
            return Err(ApiError::bad_request(
                "invalid_multipart",
                format!("the multipart body cannot be read ({e}); send one file part per PDF"),
            ))
        }
    };
    if count >= limits.max_batch_documents {
        return Err(ApiError::too_large(format!(
            "a batch holds at most {} documents; split it",
            limits.max_batch_documents
        )));
    }
    Ok(Some(field))
}

/// Reads a batch upload without storing it and returns the digest of its documents
/// ([`idempotency::documents_digest`]), with the limits of a new batch.
async fn hash_batch_upload(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    boundary: String,
) -> Result<String, ApiError> {
    let limits = &state.config.limits;
    let batch_too_large = || {
        ApiError::too_large(format!(
            "the batch is larger than this service accepts ({} MB); split it",
            limits.max_batch_bytes / (1024 * 1024)
        ))
    };
    if content_length(headers).is_some_and(|n| n > limits.max_batch_bytes) {
        return Err(batch_too_large());
    }
    let mut mp = multer::Multipart::new(body.into_data_stream(), boundary);
    let mut shas = Vec::new();
    let mut total = 0u64;
    loop {
        let Some(mut field) = next_document(&mut mp, shas.len(), limits).await? else {
            break;
        };
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        let mut n = 0u64;
        while let Some(chunk) = field.chunk().await.map_err(|_| incomplete())? {
            n += chunk.len() as u64;
            total += chunk.len() as u64;
            if total > limits.max_batch_bytes {
                return Err(batch_too_large());
            }
            if n > limits.max_document_bytes {
                return Err(too_large(limits.max_document_bytes));
            }
            ctx.update(&chunk);
        }
        shas.push(hex::encode(ctx.finish()));
    }
    if shas.is_empty() {
        return Err(ApiError::bad_request(
            "empty_batch",
            "the batch holds no document; send one file part per PDF",
        ));
    }
    Ok(idempotency::documents_digest(
        shas.iter().map(String::as_str),
    ))
}

/// Answers a request whose Idempotency-Key already names the batch `id`: that batch (200,
/// `replayed`) when the options and documents are the same, 422 otherwise.
async fn replay_batch(
    state: &AppState,
    id: String,
    params: &BatchParams,
    documents: &str,
) -> Result<Response, ApiError> {
    let sp = params.sign_params();
    let same_options = state.store.batch(&id).await?.is_none_or(|b| {
        b.options == serde_json::to_string(&sp).unwrap_or_default()
            && b.callback_url == params.callback_url
    });
    if !same_options {
        return Err(ApiError::unprocessable(
            "idempotency_key_reused",
            "this Idempotency-Key was already used for a batch with other options; use a new key for a new batch",
        ));
    }
    // A batch from before digests were kept has none: only its options can be compared.
    if idempotency::batch_documents(&state.store, &id)
        .await?
        .is_some_and(|d| d != documents)
    {
        return Err(ApiError::unprocessable(
            "idempotency_key_reused",
            "this Idempotency-Key was already used for a batch with other documents; use a new key for a new batch",
        ));
    }
    replayed(state, id).await
}

async fn replayed(state: &AppState, id: String) -> Result<Response, ApiError> {
    let total = state.store.batch(&id).await?.map_or(0, |b| b.total);
    let body = BatchAccepted {
        status_url: format!("/v1/batches/{id}"),
        id,
        total,
        replayed: true,
    };
    Ok((StatusCode::OK, Json(body)).into_response())
}

/// Removes an upload directory unless the batch was committed.
struct DirGuard(Option<PathBuf>);

impl DirGuard {
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for DirGuard {
    fn drop(&mut self) {
        if let Some(d) = &self.0 {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

async fn owned_batch(state: &AppState, client: &ClientConfig, id: &str) -> Result<Batch, ApiError> {
    let not_found = || {
        ApiError::not_found(
            "unknown_batch",
            "there is no such batch (or it has expired)",
        )
    };
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_found());
    }
    match state.store.batch(id).await? {
        Some(b) if b.client == client.name || client.role == Role::Auditor => Ok(b),
        _ => Err(not_found()),
    }
}

/// The state of a batch and of each of its documents.
#[utoipa::path(
    get,
    path = "/v1/batches/{id}",
    params(("id" = String, Path, description = "Batch id")),
    responses((status = 200, body = BatchStatus), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody, description = "Over this client's rate limit; see Retry-After"), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
async fn get_batch(
    State(state): St,
    peer: PeerCert,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<BatchStatus>, ApiError> {
    let client = authenticate(&state, &headers, &peer)?;
    let b = owned_batch(&state, &client, &id).await?;
    Ok(Json(batch_status(&state, &b).await?))
}

/// The signed bytes of one document of a batch.
#[utoipa::path(
    get,
    path = "/v1/batches/{id}/documents/{doc}",
    params(("id" = String, Path, description = "Batch id"), ("doc" = String, Path, description = "Document id")),
    responses(
        (status = 200, description = "The signed PDF", content_type = "application/pdf", body = PdfBytes),
        (status = 401, body = ErrorBody), (status = 429, body = ErrorBody, description = "Over this client's rate limit; see Retry-After"), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "Not signed (yet, or it failed)"),
    ),
    security(("api_key" = []))
)]
async fn get_document(
    State(state): St,
    peer: PeerCert,
    headers: HeaderMap,
    Path((id, doc)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let client = authenticate(&state, &headers, &peer)?;
    let b = owned_batch(&state, &client, &id).await?;
    let job = state.store.job(&b.id, &doc).await?.ok_or_else(|| {
        ApiError::not_found("unknown_document", "this batch has no such document")
    })?;
    match (job.state.as_str(), &job.output_path) {
        // One output of a group's pack (decision 0035): always a PDF signed in memory.
        ("done", Some(p)) if job.output_range.is_some() => {
            let (off, len) = job.output_range.unwrap_or_default();
            range_response(&state.blobs.join(p), off, len, "application/pdf").await
        }
        ("done", Some(p)) => {
            let path = state.blobs.join(p);
            let ct = if crate::xml::looks_like_xml(&path) {
                crate::xml::CONTENT_TYPE
            } else {
                "application/pdf"
            };
            file_response(&path, ct).await
        }
        ("failed", _) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "document_failed",
            format!(
                "this document was not signed: {}",
                job.error_message.unwrap_or_default()
            ),
        )),
        _ => Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_ready",
            "this document is not signed yet; poll the batch status",
        )),
    }
}

// ---------------------------------------------------------------- verify, keys

/// Verifies the signatures of a PDF or XML document (the request body); returns the report of
/// CONTRACT.md (revocation online or offline per the service's policy).
#[utoipa::path(
    post,
    path = "/v1/verify",
    request_body(description = "The PDF or XML document to verify", content((PdfBytes = "application/pdf"), (PdfBytes = "application/octet-stream"))),
    responses(
        (status = 200, description = "The verification report (CONTRACT.md)", body = serde_json::Value),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody, description = "Over this client's rate limit; see Retry-After"), (status = 413, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 503, body = ErrorBody),
    ),
    security(("api_key" = []))
)]
async fn verify(
    State(state): St,
    peer: PeerCert,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    authenticate(&state, &headers, &peer)?;
    let _permit = state
        .sign_slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::overloaded(1))?;
    let (input, _) = upload(&state, &headers, body).await?;
    let st = state.clone();
    let path = input.0.clone();
    let report = tokio::task::spawn_blocking(move || crate::verify::verify(&st, &path))
        .await
        .map_err(|_| ApiError::internal())??;
    let mut v = serde_json::to_value(&report).map_err(|_| ApiError::internal())?;
    if let Some(o) = v.as_object_mut() {
        let name = if report.format == "xml" {
            "upload.xml"
        } else {
            "upload.pdf"
        };
        o.insert("file".into(), serde_json::Value::String(name.into()));
    }
    Ok(Json(v).into_response())
}

/// A key a client may use.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct KeyInfo {
    /// Its name (the `key` parameter).
    pub name: String,
    /// The signer's certificate subject.
    pub subject: String,
    /// Its serial, hex.
    pub serial: String,
    /// Valid until (RFC 3339).
    pub not_after: String,
    /// Profiles this client may use.
    pub profiles: Vec<String>,
    /// The chain, PEM, the signer's certificate first.
    pub chain_pem: String,
    /// True for a remote key (PKI SIM, cloud signature): it signs only after its holder
    /// approves on the phone, so it is used through `POST /v1/batches`.
    pub approval_on_phone: bool,
}

/// The keys (and certificates) this client may use.
#[utoipa::path(
    get,
    path = "/v1/keys",
    responses((status = 200, body = Vec<KeyInfo>), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody, description = "Over this client's rate limit; see Retry-After")),
    security(("api_key" = []))
)]
async fn keys(
    State(state): St,
    peer: PeerCert,
    headers: HeaderMap,
) -> Result<Json<Vec<KeyInfo>>, ApiError> {
    let client = authenticate(&state, &headers, &peer)?;
    let out = client
        .keys
        .iter()
        .filter_map(|n| state.keys.get(n))
        .map(|k| {
            let c = &k.chain[0];
            KeyInfo {
                name: k.name.clone(),
                subject: c.subject().to_string(),
                serial: c.serial_hex(),
                not_after: c
                    .not_after()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                profiles: client.profiles.clone(),
                chain_pem: k.chain.iter().map(|c| pem(c.der())).collect(),
                approval_on_phone: k.remote.is_some(),
            }
        })
        .collect();
    Ok(Json(out))
}

fn pem(der: &[u8]) -> String {
    use base64::Engine;
    let b = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(line).unwrap_or_default());
        s.push('\n');
    }
    s.push_str("-----END CERTIFICATE-----\n");
    s
}

// ---------------------------------------------------------------- audit

/// Paging of the audit log.
#[derive(Clone, Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Records after this position (default 0).
    #[serde(default)]
    pub after: Option<i64>,
    /// At most this many (default 100, at most 1000).
    #[serde(default)]
    pub limit: Option<i64>,
}

/// Audit records, in order (auditors only).
#[utoipa::path(
    get,
    path = "/v1/audit",
    params(AuditQuery),
    responses((status = 200, body = Vec<Record>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody, description = "Over this client's rate limit; see Retry-After"), (status = 403, body = ErrorBody)),
    security(("api_key" = []))
)]
async fn audit_records(
    State(state): St,
    peer: PeerCert,
    headers: HeaderMap,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Vec<Record>>, ApiError> {
    let client = authenticate(&state, &headers, &peer)?;
    require_auditor(&client)?;
    let Ok(Query(q)) = q else {
        return Err(ApiError::bad_request(
            "invalid_parameters",
            "after and limit must be whole numbers",
        ));
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    Ok(Json(
        state.store.audit_page(q.after.unwrap_or(0), limit).await?,
    ))
}

/// Checks the whole audit chain and its time-stamped heads, and says where it is broken
/// (auditors only). The TSA's certificate must chain to `policy.trust`.
#[utoipa::path(
    get,
    path = "/v1/audit/verify",
    responses((status = 200, body = ChainReport), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody, description = "Over this client's rate limit; see Retry-After"), (status = 403, body = ErrorBody)),
    security(("api_key" = []))
)]
async fn audit_verify(
    State(state): St,
    peer: PeerCert,
    headers: HeaderMap,
) -> Result<Json<ChainReport>, ApiError> {
    let client = authenticate(&state, &headers, &peer)?;
    require_auditor(&client)?;
    Ok(Json(
        crate::anchor::verify(&state.store, &state.anchors, &state.intermediates).await?,
    ))
}

// ---------------------------------------------------------------- operations

/// Liveness.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = serde_json::Value)))]
async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the database answers, every key can be used now (its token answers; no
/// signature is made), the service is not stopping. Cached for one second.
#[utoipa::path(get, path = "/readyz", responses((status = 200, body = serde_json::Value), (status = 503, body = ErrorBody, description = "Not ready: the message names the database or the key")))]
async fn readyz(State(state): St) -> Result<Json<serde_json::Value>, ApiError> {
    crate::ready::check(&state).await.map(Json)
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", responses((status = 200, content_type = "text/plain", body = String)))]
async fn metrics(State(state): St) -> Response {
    let pending = state.store.pending_documents().await.ok();
    let in_flight = state.config.limits.max_in_flight - state.sign_slots.available_permits();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(pending, in_flight),
    )
        .into_response()
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", responses((status = 200, body = serde_json::Value)))]
async fn openapi_json(State(state): St) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi.get().cloned().unwrap_or_default(),
    )
        .into_response()
}
