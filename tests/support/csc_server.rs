//! A Cloud Signature Consortium API server (v2, or v1 field names) for tests, backed by a
//! software key: `info`, OAuth 2.0 client credentials, `credentials/list|info|authorize`,
//! `signatures/signHash` (operationMode S and A) and `signatures/signPolling`, plus the vendor
//! "sign_files" dialect (`v1/signatures/sign`, `.../status`). What the "person" does is
//! scripted ([`Script`]); the server counts what it saw ([`Stats`]) so tests can assert that a
//! batch took one authorisation and one signing request.
//!
//! It checks what a real service checks: the bearer token, the PIN, that `numSignatures` is
//! within `multisign`, and that the hashes signed are exactly the hashes authorised (SCAL2).

use crate::httpd::{wait, Handler, Httpd, Request, Response};
use base64::Engine;
use hsm::{HashAlgorithm, SignatureAlgorithm, SoftwareKey};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// What the person does with a request on their phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Script {
    /// Approves after this long.
    ApproveAfter(Duration),
    /// Refuses.
    UserCancels,
    /// Never answers.
    NeverAnswers,
    /// Typed a wrong PIN (the service refuses the authorisation).
    WrongPin,
    /// The PIN is blocked.
    PinBlocked,
}

/// How a credential's one-time password (OTP) comes to the person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Otp {
    /// Sent by the service on `credentials/sendOTP` (an SMS): the server "texts" a fresh OTP by
    /// writing it to this file (the phone's inbox), and accepts it once, within `ttl`.
    Online {
        /// Where the SMS goes.
        outbox: std::path::PathBuf,
        /// How long a sent OTP stays good.
        ttl: Duration,
    },
    /// From the person's own generator: each of these is good once.
    Offline(Vec<String>),
}

/// How the server is set up.
#[derive(Clone, Debug)]
pub struct CscConfig {
    /// Fixture name in fixtures/pki (`officer-rsa`, `officer-ec`, `agency`).
    pub fixture: String,
    /// The credential id.
    pub credential: String,
    /// OAuth client id and secret.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: String,
    /// The credential's PIN.
    pub pin: String,
    /// Signatures one authorisation may cover.
    pub multisign: usize,
    /// Speak CSC v1 (field names, synchronous only).
    pub v1: bool,
    /// Whether `info` lists the asynchronous polling method.
    pub offer_async: bool,
    /// What the person does.
    pub script: Script,
    /// A misbehaving service: sign with this other fixture's key than the certificate's.
    pub sign_with: Option<String>,
    /// Tokens expire after this many authenticated calls (a long wait outliving its token).
    pub token_uses: Option<usize>,
    /// The credential asks an OTP at each authorisation.
    pub otp: Option<Otp>,
    /// Token answers carry a refresh token (rotated at each use).
    pub refresh_tokens: bool,
    /// The credential is authorised by the person's browser login (`authMode: oauth2code`):
    /// `oauth2/authorize` (PKCE S256, loopback redirect) and an authorization-code grant
    /// giving a credential-scoped token that replaces the SAD.
    pub oauth2code: bool,
}

impl CscConfig {
    /// An RSA credential, v2, async offered, approved after 300 ms, multisign 50.
    pub fn new(fixture: &str) -> Self {
        Self {
            fixture: fixture.into(),
            credential: "cred-001".into(),
            client_id: "van-thu-app".into(),
            client_secret: "s3cret-client".into(),
            pin: "123456".into(),
            multisign: 50,
            v1: false,
            offer_async: true,
            script: Script::ApproveAfter(Duration::from_millis(300)),
            sign_with: None,
            token_uses: None,
            otp: None,
            refresh_tokens: false,
            oauth2code: false,
        }
    }
}

/// What the server saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Token requests.
    pub tokens: usize,
    /// `credentials/authorize` calls.
    pub authorizations: usize,
    /// `signatures/signHash` and `v1/signatures/sign` calls.
    pub sign_requests: usize,
    /// Hashes signed in all.
    pub hashes_signed: usize,
    /// Polls.
    pub polls: usize,
    /// The largest `numSignatures` authorised at once.
    pub max_batch: usize,
    /// OTPs sent (`credentials/sendOTP`).
    pub otps_sent: usize,
    /// Refresh-token grants.
    pub refreshes: usize,
    /// Browser logins that ended with a code.
    pub logins: usize,
    /// Authorization codes exchanged for a credential token.
    pub code_grants: usize,
    /// `credentials/info` calls (opening a credential; readiness probes).
    pub credential_infos: usize,
}

struct Job {
    started: Instant,
    alg: SignatureAlgorithm,
    hashes: Vec<Vec<u8>>,
    /// The vendor dialect's hashes with their doc_id.
    hashes_by_doc: Vec<(String, Vec<u8>)>,
}

struct State {
    cfg: CscConfig,
    key: SoftwareKey,
    certs: Vec<Vec<u8>>,
    token: String,
    token_used: usize,
    sads: HashMap<String, (Vec<Vec<u8>>, usize)>,
    jobs: HashMap<String, Job>,
    stats: Stats,
    counter: u64,
    /// The OTP sent last (online) and when; taken when used.
    sent_otp: Option<(String, Instant)>,
    /// Offline OTPs already used.
    used_otps: Vec<String>,
    /// The refresh token given last.
    refresh: Option<String>,
    /// Authorization codes: code -> (code_challenge, redirect_uri, hashes).
    codes: HashMap<String, (String, String, Vec<Vec<u8>>)>,
    /// Credential-scoped tokens and the hashes they authorise.
    cred_tokens: HashMap<String, Vec<Vec<u8>>>,
}

/// A running CSC service; stops when dropped.
pub struct CscServer {
    /// `http://127.0.0.1:PORT` (the API is under `/csc/v2`).
    pub base: String,
    state: Arc<Mutex<State>>,
    _httpd: Httpd,
}

impl std::fmt::Debug for CscServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CscServer")
            .field("base", &self.base)
            .finish()
    }
}

impl CscServer {
    /// Starts a server (plain http).
    pub fn start(cfg: CscConfig) -> Self {
        Self::start_with(cfg, None)
    }

    /// Starts a server over TLS with `tls` (see [`crate::httpd::tls_config`]).
    pub fn start_tls(cfg: CscConfig, tls: Arc<rustls::ServerConfig>) -> Self {
        Self::start_with(cfg, Some(tls))
    }

    fn start_with(cfg: CscConfig, tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let dir = crate::fixtures().join("pki");
        let key_name = cfg.sign_with.clone().unwrap_or_else(|| cfg.fixture.clone());
        let key_pem =
            std::fs::read_to_string(dir.join(format!("{key_name}.key.pem"))).expect("fixture key");
        let key = SoftwareKey::from_pem(&key_pem, &cfg.fixture).expect("fixture key");
        let chain = std::fs::read_to_string(dir.join(format!("{}.chain.pem", cfg.fixture)))
            .expect("fixture chain");
        let certs = hsm::pem::pem_blocks(&chain)
            .into_iter()
            .filter(|(l, _)| l == "CERTIFICATE")
            .map(|(_, d)| d)
            .collect();
        let state = Arc::new(Mutex::new(State {
            cfg,
            key,
            certs,
            token: format!("tok-{}", std::process::id()),
            token_used: 0,
            sads: HashMap::new(),
            jobs: HashMap::new(),
            stats: Stats::default(),
            counter: 0,
            sent_otp: None,
            used_otps: Vec::new(),
            refresh: None,
            codes: HashMap::new(),
            cred_tokens: HashMap::new(),
        }));
        let st = state.clone();
        let base_cell: Arc<Mutex<String>> = Arc::new(Mutex::new(String::new()));
        let bc = base_cell.clone();
        let handler: Handler = Arc::new(move |req: &Request, stop: &AtomicBool| {
            let base = bc.lock().map(|b| b.clone()).unwrap_or_default();
            Some(handle(&st, &base, req, stop))
        });
        let httpd = match tls {
            Some(t) => Httpd::start_tls(handler, t),
            None => Httpd::start(handler),
        };
        if let Ok(mut b) = base_cell.lock() {
            *b = httpd.base.clone();
        }
        Self {
            base: httpd.base.clone(),
            state,
            _httpd: httpd,
        }
    }

    /// The API base URL.
    pub fn api(&self) -> String {
        format!("{}/csc/v2", self.base)
    }

    /// The base URL of the vendor "sign_files" API the same server offers (the provider's
    /// integration document: `v1/credentials/get_certificate`, `v1/signatures/sign`,
    /// `v1/signatures/sign/{tranId}/status`, answers wrapped in `status_code`/`message`/`data`;
    /// the SP account is `client_id`/`client_secret`, the subscriber `credential`).
    pub fn vendor_api(&self) -> String {
        format!("{}/sca/sp769", self.base)
    }

    /// The base URL of the second vendor dialect (`dialect=requests`): CSC `info`, token and
    /// `credentials/*`, then `signatures/signHash` with `async: 1` and `requests/status`.
    pub fn requests_api(&self) -> String {
        format!("{}/vnca/v1", self.base)
    }

    /// What the server saw so far.
    pub fn stats(&self) -> Stats {
        self.state
            .lock()
            .map(|s| s.stats.clone())
            .unwrap_or_default()
    }

    /// Changes what the person does from now on.
    pub fn set_script(&self, script: Script) {
        if let Ok(mut s) = self.state.lock() {
            s.cfg.script = script;
        }
    }
}

fn err(status: u16, code: &str, desc: &str) -> Response {
    Response::json(status, &json!({"error": code, "error_description": desc}))
}

fn handle(state: &Mutex<State>, base: &str, req: &Request, stop: &AtomicBool) -> Response {
    let path = req.path.split('?').next().unwrap_or("");
    if path == "/oauth/oauth2/token" {
        return token(state, req);
    }
    if path == "/oauth/oauth2/authorize" {
        return authorize_page(state, req);
    }
    if let Some(method) = path.strip_prefix("/sca/sp769/") {
        return vendor(state, method, req);
    }
    // `/vnca/v1/`: the second vendor dialect (no authorisation, `async: 1`, `requests/status`)
    // over the same info, token and credential calls.
    let (method, requests_dialect) = match (
        path.strip_prefix("/csc/v2/"),
        path.strip_prefix("/vnca/v1/"),
    ) {
        (Some(m), _) => (m, false),
        (None, Some(m)) => (m, true),
        (None, None) => return err(404, "invalid_request", "no such path"),
    };
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    if method == "info" {
        let s = match state.lock() {
            Ok(s) => s,
            Err(_) => return err(500, "server_error", ""),
        };
        let mut methods = vec![
            "credentials/list",
            "credentials/info",
            "credentials/authorize",
            "signatures/signHash",
        ];
        if requests_dialect {
            methods = vec![
                "credentials/list",
                "credentials/info",
                "signatures/signHash",
                "requests/status",
            ];
        }
        if s.cfg.offer_async {
            methods.push("signatures/signPolling");
        }
        if matches!(s.cfg.otp, Some(Otp::Online { .. })) {
            methods.push("credentials/sendOTP");
        }
        return Response::json(
            200,
            &json!({
                "specs": if s.cfg.v1 { "1.0.4.0" } else { "2.0.0.2" },
                "name": "Dịch vụ ký số từ xa (thử nghiệm)", "region": "VN", "lang": "vi-VN",
                "authType": ["oauth2client"], "oauth2": format!("{base}/oauth"),
                "methods": methods,
            }),
        );
    }
    let mut s = match state.lock() {
        Ok(s) => s,
        Err(_) => return err(500, "server_error", ""),
    };
    let auth = req
        .headers
        .get("authorization")
        .cloned()
        .unwrap_or_default();
    // A credential-scoped token (oauth2code) is good for signing its hashes only.
    let login_hashes = auth
        .strip_prefix("Bearer ")
        .and_then(|t| s.cred_tokens.get(t).cloned())
        .filter(|_| matches!(method, "signatures/signHash" | "signatures/signPolling"));
    if auth != format!("Bearer {}", s.token) && login_hashes.is_none() {
        return err(401, "invalid_token", "The access token is not valid");
    }
    s.token_used += 1;
    if s.cfg.token_uses.is_some_and(|n| s.token_used > n) {
        return err(401, "invalid_token", "The access token expired");
    }
    if body
        .get("credentialID")
        .and_then(Value::as_str)
        .is_some_and(|c| c != s.cfg.credential)
    {
        return err(400, "invalid_request", "Invalid parameter credentialID");
    }
    if requests_dialect && matches!(method, "signatures/signHash" | "requests/status") {
        return requests(&mut s, method, &body);
    }
    match method {
        "credentials/list" => Response::json(200, &json!({"credentialIDs": [s.cfg.credential]})),
        "credentials/info" => {
            s.stats.credential_infos += 1;
            let certs: Vec<String> = s.certs.iter().map(|c| B64.encode(c)).collect();
            let rsa = s.cfg.fixture != "officer-ec";
            let algo = if rsa {
                json!([
                    "1.2.840.113549.1.1.11",
                    "1.2.840.113549.1.1.10",
                    "1.2.840.113549.1.1.12"
                ])
            } else {
                json!(["1.2.840.10045.4.3.2"])
            };
            let mut v = json!({
                "key": {"status": "enabled", "algo": algo, "len": if rsa { 2048 } else { 256 }},
                "cert": {"status": "valid", "certificates": certs},
                "multisign": s.cfg.multisign, "SCAL": "2", "lang": "vi-VN",
            });
            let online = matches!(s.cfg.otp, Some(Otp::Online { .. }));
            if requests_dialect {
                // The person approves in the provider's app: nothing to give here.
                v["auth"] = json!({"mode": "implicit"});
            } else if s.cfg.oauth2code {
                v["authMode"] = json!("oauth2code");
                v["auth"] = json!({"mode": "oauth2code"});
            } else if s.cfg.v1 {
                v["authMode"] = json!("explicit");
                v["PIN"] = json!({"presence": "true", "format": "N", "label": "PIN"});
                v["OTP"] = match &s.cfg.otp {
                    None => json!({"presence": "false"}),
                    Some(_) => {
                        json!({"presence": "true", "type": if online { "online" } else { "offline" },
                        "format": "N", "ID": "otp-1", "provider": "test"})
                    }
                };
            } else {
                let mut objects =
                    vec![json!({"type": "Password", "id": "PIN", "format": "N", "label": "PIN"})];
                match &s.cfg.otp {
                    None => {}
                    Some(Otp::Online { .. }) => objects.push(
                        json!({"type": "OTP", "id": "OTP-SMS", "format": "N", "label": "OTP"}),
                    ),
                    Some(Otp::Offline(_)) => objects.push(
                        json!({"type": "OTP", "id": "OTP-GEN", "format": "N", "generator": "totp"}),
                    ),
                }
                v["auth"] = json!({"mode": "explicit", "objects": objects});
            }
            Response::json(200, &v)
        }
        "credentials/sendOTP" => {
            let Some(Otp::Online { outbox, .. }) = s.cfg.otp.clone() else {
                return err(400, "invalid_request", "The credential has no online OTP");
            };
            s.stats.otps_sent += 1;
            s.counter += 1;
            // Six digits that differ per call (not guessable from the previous one in a test).
            let otp = format!(
                "{:06}",
                (s.counter * 7919 + u64::from(std::process::id()) * 104_729) % 1_000_000
            );
            let tmp = outbox.with_extension("tmp");
            if std::fs::write(&tmp, format!("{otp}\n")).is_err()
                || std::fs::rename(&tmp, &outbox).is_err()
            {
                return err(500, "server_error", "cannot send the SMS");
            }
            s.sent_otp = Some((otp, Instant::now()));
            Response::json(200, &json!({}))
        }
        "credentials/authorize" => {
            s.stats.authorizations += 1;
            let n = body
                .get("numSignatures")
                .and_then(Value::as_u64)
                .unwrap_or(0) as usize;
            let pin = if s.cfg.v1 {
                body.get("PIN")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            } else {
                body.pointer("/authData/0/value")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            };
            match s.cfg.script {
                Script::PinBlocked => return err(400, "invalid_request", "The PIN is locked"),
                Script::WrongPin => return err(400, "invalid_pin", "The PIN is invalid"),
                _ => {}
            }
            if pin != s.cfg.pin {
                return err(400, "invalid_pin", "The PIN is invalid");
            }
            if let Some(otp_cfg) = s.cfg.otp.clone() {
                let given = if s.cfg.v1 {
                    body.get("OTP").and_then(Value::as_str)
                } else {
                    body.get("authData")
                        .and_then(Value::as_array)
                        .and_then(|a| {
                            a.iter().find(|o| {
                                o.get("id")
                                    .and_then(Value::as_str)
                                    .is_some_and(|i| i == "OTP-SMS" || i == "OTP-GEN")
                            })
                        })
                        .and_then(|o| o.get("value"))
                        .and_then(Value::as_str)
                }
                .unwrap_or("")
                .to_owned();
                if given.is_empty() {
                    return err(400, "invalid_request", "Missing parameter OTP");
                }
                match otp_cfg {
                    Otp::Online { ttl, .. } => match s.sent_otp.take() {
                        Some((otp, at)) if otp == given && at.elapsed() > ttl => {
                            return err(400, "invalid_otp", "The OTP has expired")
                        }
                        Some((otp, _)) if otp == given => {}
                        _ => return err(400, "invalid_otp", "The OTP is invalid"),
                    },
                    Otp::Offline(good) => {
                        if !good.contains(&given) || s.used_otps.contains(&given) {
                            return err(400, "invalid_otp", "The OTP is invalid");
                        }
                        s.used_otps.push(given);
                    }
                }
            }
            if n == 0 || n > s.cfg.multisign {
                return err(400, "invalid_request", "Invalid parameter numSignatures");
            }
            let hashes = hashes_of(&body, if s.cfg.v1 { "hash" } else { "hashes" });
            if hashes.len() != n {
                return err(
                    400,
                    "invalid_request",
                    "The number of hashes does not match numSignatures",
                );
            }
            s.stats.max_batch = s.stats.max_batch.max(n);
            s.counter += 1;
            let sad = format!("sad-{}", s.counter);
            s.sads.insert(sad.clone(), (hashes, n));
            Response::json(200, &json!({"SAD": sad, "expiresIn": 300}))
        }
        "signatures/signHash" => {
            s.stats.sign_requests += 1;
            let sad = body
                .get("SAD")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let hashes = hashes_of(&body, if s.cfg.v1 { "hash" } else { "hashes" });
            let authorised = match login_hashes {
                Some(h) => h,
                None => match s.sads.remove(&sad) {
                    Some((h, _)) => h,
                    None => return err(400, "invalid_request", "Invalid SAD"),
                },
            };
            if authorised != hashes {
                return err(
                    400,
                    "invalid_request",
                    "The hashes were not authorised by this SAD",
                );
            }
            let Some(alg) = algorithm(&body, s.cfg.v1) else {
                return err(400, "invalid_request", "Invalid parameter signAlgo");
            };
            let asynchronous = body.get("operationMode").and_then(Value::as_str) == Some("A");
            if asynchronous {
                s.counter += 1;
                let id = format!("resp-{}", s.counter);
                s.jobs.insert(
                    id.clone(),
                    Job {
                        started: Instant::now(),
                        alg,
                        hashes,
                        hashes_by_doc: Vec::new(),
                    },
                );
                return Response::json(200, &json!({"responseID": id}));
            }
            let script = s.cfg.script;
            drop(s);
            match script {
                // The person takes their time (the wait ends early when the server stops).
                Script::ApproveAfter(d) if !wait(d, stop) => {
                    return err(500, "server_error", "stopping")
                }
                Script::UserCancels => {
                    return err(400, "access_denied", "The user rejected the request")
                }
                Script::NeverAnswers => {
                    wait(Duration::from_secs(3600), stop);
                    return err(500, "server_error", "stopping");
                }
                _ => {}
            }
            let Ok(mut s) = state.lock() else {
                return err(500, "server_error", "");
            };
            sign_all(&mut s, alg, &hashes)
        }
        "signatures/signPolling" => {
            s.stats.polls += 1;
            let id = body
                .get("responseID")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let Some(job) = s.jobs.get(&id) else {
                return err(400, "invalid_request", "Invalid parameter responseID");
            };
            match s.cfg.script {
                Script::ApproveAfter(d) if job.started.elapsed() >= d => {
                    let Some(job) = s.jobs.remove(&id) else {
                        return err(500, "server_error", "");
                    };
                    sign_all(&mut s, job.alg, &job.hashes)
                }
                Script::UserCancels => err(400, "access_denied", "The user rejected the request"),
                // Services say "not yet" both ways: 202, or a 400 that says so.
                _ if s.stats.polls % 2 == 0 => err(
                    400,
                    "invalid_request",
                    "The previous asynchronous signature request is not completed",
                ),
                _ => Response::json(202, &json!({})),
            }
        }
        _ => err(404, "invalid_request", "Unknown method"),
    }
}

fn token(state: &Mutex<State>, req: &Request) -> Response {
    let Ok(mut s) = state.lock() else {
        return err(500, "server_error", "");
    };
    let form = String::from_utf8_lossy(&req.body).into_owned();
    let field = |name: &str| {
        form.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == name).then(|| pct_decode(v))
        })
    };
    if field("client_id").as_deref() != Some(s.cfg.client_id.as_str())
        || field("client_secret").as_deref() != Some(s.cfg.client_secret.as_str())
    {
        return err(401, "invalid_client", "Client authentication failed");
    }
    match field("grant_type").as_deref() {
        Some("client_credentials") => s.stats.tokens += 1,
        Some("authorization_code") if s.cfg.oauth2code => {
            let code = field("code").unwrap_or_default();
            let Some((challenge, redirect, hashes)) = s.codes.remove(&code) else {
                return err(400, "invalid_grant", "The authorization code is not valid");
            };
            let verifier = field("code_verifier").unwrap_or_default();
            let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(HashAlgorithm::Sha256.digest(verifier.as_bytes()));
            if verifier.len() < 43 || computed != challenge {
                return err(400, "invalid_grant", "PKCE verification failed");
            }
            if field("redirect_uri").as_deref() != Some(redirect.as_str()) {
                return err(400, "invalid_grant", "redirect_uri does not match");
            }
            s.stats.code_grants += 1;
            s.counter += 1;
            let t = format!("ctok-{}", s.counter);
            s.cred_tokens.insert(t.clone(), hashes);
            return Response::json(
                200,
                &json!({"access_token": t, "token_type": "Bearer", "expires_in": 300}),
            );
        }
        Some("refresh_token") if s.cfg.refresh_tokens => {
            if s.refresh.is_none() || field("refresh_token") != s.refresh {
                return err(400, "invalid_grant", "The refresh token is not valid");
            }
            s.stats.refreshes += 1;
        }
        _ => return err(400, "unsupported_grant_type", ""),
    }
    // A new token each time; the old one stops working.
    s.token = format!(
        "tok-{}-{}-{}",
        std::process::id(),
        s.stats.tokens,
        s.stats.refreshes
    );
    s.token_used = 0;
    let mut answer = json!({"access_token": s.token, "token_type": "Bearer", "expires_in": 3600});
    if s.cfg.refresh_tokens {
        let rt = format!("rt-{}-{}", s.stats.tokens, s.stats.refreshes);
        answer["refresh_token"] = json!(rt);
        s.refresh = Some(rt);
    }
    Response::json(200, &answer)
}

/// `GET oauth2/authorize` (CSC v2 §8.3.2): checks what a provider checks (client, loopback
/// redirect, PKCE S256, scope, the credential and hashes), lets the scripted person log in,
/// and sends the browser back to the redirect with a code (or `error=access_denied`).
fn authorize_page(state: &Mutex<State>, req: &Request) -> Response {
    let Ok(mut s) = state.lock() else {
        return err(500, "server_error", "");
    };
    let query = req.path.split_once('?').map(|(_, q)| q).unwrap_or("");
    let p = |name: &str| {
        query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == name).then(|| pct_decode(v))
        })
    };
    let bad = |why: &str| Response::html(400, &format!("<p>{why}</p>"));
    if req.method != "GET" || !s.cfg.oauth2code {
        return bad("no browser login for this credential");
    }
    if p("response_type").as_deref() != Some("code")
        || p("client_id").as_deref() != Some(s.cfg.client_id.as_str())
        || p("scope").as_deref() != Some("credential")
        || p("code_challenge_method").as_deref() != Some("S256")
        || p("credentialID").as_deref() != Some(s.cfg.credential.as_str())
    {
        return bad("invalid authorization request");
    }
    let (Some(redirect), Some(challenge), Some(st)) =
        (p("redirect_uri"), p("code_challenge"), p("state"))
    else {
        return bad("redirect_uri, code_challenge and state are required");
    };
    // RFC 8252 §7.3 / §8.3: a native app's redirect is the loopback IP literal, any port.
    if !redirect.starts_with("http://127.0.0.1:") || challenge.len() < 43 || st.is_empty() {
        return bad("invalid redirect_uri or code_challenge");
    }
    let n: usize = p("numSignatures").and_then(|n| n.parse().ok()).unwrap_or(0);
    let hashes: Vec<Vec<u8>> = p("hashes")
        .unwrap_or_default()
        .split(',')
        .filter(|h| !h.is_empty())
        .filter_map(|h| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(h)
                .ok()
        })
        .collect();
    if n == 0 || n > s.cfg.multisign || hashes.len() != n {
        return bad("numSignatures and hashes do not match");
    }
    match s.cfg.script {
        Script::UserCancels => Response::redirect(format!(
            "{redirect}?error=access_denied&state={}",
            form(&st)
        )),
        // The person never logs in: the page stays open.
        Script::NeverAnswers => Response::html(200, "<form>login</form>"),
        _ => {
            s.stats.logins += 1;
            s.stats.max_batch = s.stats.max_batch.max(n);
            s.counter += 1;
            let code = format!("code+{}/{}", s.counter, std::process::id());
            s.codes
                .insert(code.clone(), (challenge, redirect.clone(), hashes));
            Response::redirect(format!(
                "{redirect}?code={}&state={}",
                form(&code),
                form(&st)
            ))
        }
    }
}

fn form(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn pct_decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 3 <= b.len() => {
                if let Some(x) = std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    out.push(x);
                    i += 2;
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hashes_of(body: &Value, field: &str) -> Vec<Vec<u8>> {
    body.get(field)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|h| B64.decode(h.as_str()?).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The algorithm from `signAlgo` and the hash OID (`hashAlgorithmOID`, v1 `hashAlgo`).
fn algorithm(body: &Value, v1_names: bool) -> Option<SignatureAlgorithm> {
    let sign = body.get("signAlgo")?.as_str()?;
    let hash_field = if v1_names {
        "hashAlgo"
    } else {
        "hashAlgorithmOID"
    };
    let hash = body
        .get(hash_field)
        .and_then(Value::as_str)
        .and_then(|o| o.parse().ok())
        .and_then(|o| HashAlgorithm::from_oid(&o));
    use HashAlgorithm::*;
    Some(match sign {
        "1.2.840.113549.1.1.11" => SignatureAlgorithm::RsaPkcs1(Sha256),
        "1.2.840.113549.1.1.12" => SignatureAlgorithm::RsaPkcs1(Sha384),
        "1.2.840.113549.1.1.13" => SignatureAlgorithm::RsaPkcs1(Sha512),
        "1.2.840.113549.1.1.1" => SignatureAlgorithm::RsaPkcs1(hash?),
        "1.2.840.113549.1.1.10" => SignatureAlgorithm::RsaPss(hash?),
        "1.2.840.10045.4.3.2" => SignatureAlgorithm::Ecdsa(Sha256),
        "1.2.840.10045.4.3.3" => SignatureAlgorithm::Ecdsa(Sha384),
        _ => return None,
    })
}

fn sign_all(s: &mut State, alg: SignatureAlgorithm, hashes: &[Vec<u8>]) -> Response {
    let mut sigs = Vec::new();
    for h in hashes {
        match s.key.sign_digest(alg, h) {
            Ok(sig) => sigs.push(B64.encode(sig)),
            Err(e) => return err(400, "invalid_request", &e.to_string()),
        }
    }
    s.stats.hashes_signed += sigs.len();
    Response::json(200, &json!({"signatures": sigs}))
}

/// The second vendor dialect: `signatures/signHash` with `credentialID, numSignatures,
/// documents[], hash[], hashAlgo, signAlgo, async: 1` (no SAD: the person approves on the
/// phone), then `requests/status` until the scripted person decides.
fn requests(s: &mut State, method: &str, body: &Value) -> Response {
    if method == "signatures/signHash" {
        s.stats.sign_requests += 1;
        let n = body
            .get("numSignatures")
            .and_then(Value::as_u64)
            .unwrap_or(0) as usize;
        let hashes = hashes_of(body, "hash");
        let docs = body
            .get("documents")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        if n == 0 || n > s.cfg.multisign || hashes.len() != n || docs != n {
            return err(
                400,
                "invalid_request",
                "numSignatures, hash[] and documents[] do not match",
            );
        }
        if body.get("async").and_then(Value::as_u64) != Some(1) {
            return err(400, "invalid_request", "Only async: 1 is supported");
        }
        let Some(alg) = algorithm(body, true) else {
            return err(400, "invalid_request", "Invalid parameter signAlgo");
        };
        s.stats.max_batch = s.stats.max_batch.max(n);
        s.counter += 1;
        let id = format!("req-{}", s.counter);
        s.jobs.insert(
            id.clone(),
            Job {
                started: Instant::now(),
                alg,
                hashes,
                hashes_by_doc: Vec::new(),
            },
        );
        return Response::json(200, &json!({"requestID": id, "status": "pending"}));
    }
    s.stats.polls += 1;
    let id = body
        .get("requestID")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let Some(job) = s.jobs.get(&id) else {
        return err(400, "invalid_request", "Invalid parameter requestID");
    };
    match s.cfg.script {
        Script::ApproveAfter(d) if job.started.elapsed() >= d => {
            let Some(job) = s.jobs.remove(&id) else {
                return err(500, "server_error", "");
            };
            let mut sigs = Vec::new();
            for h in &job.hashes {
                match s.key.sign_digest(job.alg, h) {
                    Ok(sig) => sigs.push(B64.encode(sig)),
                    Err(e) => return err(400, "invalid_request", &e.to_string()),
                }
            }
            s.stats.hashes_signed += sigs.len();
            Response::json(
                200,
                &json!({"requestID": id, "status": "approved", "signatures": sigs}),
            )
        }
        Script::UserCancels => Response::json(200, &json!({"requestID": id, "status": "rejected"})),
        _ => Response::json(200, &json!({"requestID": id, "status": "pending"})),
    }
}

/// The vendor dialect: `{status_code, message, data}` answers, the SP account in every body.
fn vendor(state: &Mutex<State>, method: &str, req: &Request) -> Response {
    let wrap = |code: u16, message: &str, data: Value| {
        Response::json(
            200,
            &json!({"status_code": code, "message": message, "data": data}),
        )
    };
    let Ok(mut s) = state.lock() else {
        return err(500, "server_error", "");
    };
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let field = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    if method.ends_with("/status") {
        s.stats.polls += 1;
        let tx = method
            ["v1/signatures/sign/".len().min(method.len())..method.len() - "/status".len()]
            .to_owned();
        let Some(job) = s.jobs.get(&tx) else {
            return wrap(400, "BAD_REQUEST: unknown transaction", Value::Null);
        };
        return match s.cfg.script {
            Script::ApproveAfter(d) if job.started.elapsed() >= d => {
                let Some(job) = s.jobs.remove(&tx) else {
                    return err(500, "server_error", "");
                };
                let mut sigs = Vec::new();
                for (doc, h) in &job.hashes_by_doc {
                    match s.key.sign_digest(job.alg, h) {
                        Ok(sig) => sigs
                            .push(json!({"doc_id": doc, "signature_value": B64.encode(sig),
                                                    "timestamp_signature": null})),
                        Err(e) => return wrap(500, &e.to_string(), Value::Null),
                    }
                }
                s.stats.hashes_signed += sigs.len();
                // Out of order on purpose: the client must match by doc_id.
                sigs.reverse();
                wrap(
                    200,
                    "SUCCESS",
                    json!({"transaction_id": tx, "signatures": sigs}),
                )
            }
            Script::UserCancels => wrap(
                400,
                "sig_user_rejected: the subscriber rejected the transaction",
                Value::Null,
            ),
            _ => wrap(
                200,
                "sig_wait_for_user_confirm",
                json!({"transaction_id": tx}),
            ),
        };
    }
    if field("sp_id") != s.cfg.client_id || field("sp_password") != s.cfg.client_secret {
        return wrap(401, "SP_CREDENTIAL_INVALID", Value::Null);
    }
    if field("user_id") != s.cfg.credential {
        return wrap(401, "SP_CREDENTIAL_INVALID: unknown user_id", Value::Null);
    }
    match method {
        "v1/credentials/get_certificate" => {
            let c = |i: usize| {
                s.certs
                    .get(i)
                    .map(|d| json!(B64.encode(d)))
                    .unwrap_or(Value::Null)
            };
            wrap(
                200,
                "Success",
                json!({"user_certificates": [{
                    "service_type": "SMARTCA", "cert_status": "Đang hoạt động",
                    "serial_number": "5401010100aa", "cert_data": c(0),
                    "chain_data": {"ca_cert": c(1), "root_cert": c(2)},
                    "transaction_id": field("transaction_id"),
                }]}),
            )
        }
        "v1/signatures/sign" => {
            s.stats.sign_requests += 1;
            let files = body
                .get("sign_files")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let hashes: Option<Vec<(String, Vec<u8>)>> = files
                .iter()
                .map(|f| {
                    if f.get("sign_type")?.as_str()? != "hash" {
                        return None;
                    }
                    Some((
                        f.get("doc_id")?.as_str()?.to_owned(),
                        hex::decode(f.get("data_to_be_signed")?.as_str()?).ok()?,
                    ))
                })
                .collect();
            let Some(hashes) = hashes.filter(|h| !h.is_empty()) else {
                return wrap(400, "BAD_REQUEST: sign_files", Value::Null);
            };
            s.stats.max_batch = s.stats.max_batch.max(hashes.len());
            // The service signs PKCS#1 v1.5 (or ECDSA) over the hash length it is given.
            let alg = match (s.cfg.fixture == "officer-ec", hashes[0].1.len()) {
                (true, _) => SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha256),
                (false, 48) => SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha384),
                (false, 64) => SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha512),
                _ => SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha256),
            };
            let tx = field("transaction_id");
            s.counter += 1;
            let tran_code = format!("tc-{}", s.counter);
            s.jobs.insert(
                tran_code.clone(),
                Job {
                    started: Instant::now(),
                    alg,
                    hashes: Vec::new(),
                    hashes_by_doc: hashes,
                },
            );
            wrap(
                200,
                "sig_wait_for_user_confirm",
                json!({"transaction_id": tx, "tran_code": tran_code}),
            )
        }
        _ => wrap(400, "BAD_REQUEST", Value::Null),
    }
}
