//! Cloud Signature Consortium API (CSC API v2.0, with the v1.0.4 field names where they differ):
//! `info` (which also names the OAuth 2.0 server), an OAuth 2.0 client-credentials token
//! (RFC 6749 §4.4), `credentials/list`, `credentials/info` (certificate chain, key algorithms,
//! how the credential is authorised, how many signatures one authorisation allows),
//! `credentials/sendOTP` (an online OTP), `credentials/authorize` (PIN and OTP to a SAD for
//! `numSignatures` hashes) and
//! `signatures/signHash`, synchronous or asynchronous (`operationMode` "A", then polling).
//!
//! Key reference: `csc:https://host/csc/v2?credential=ID&client-id=APP&secret-source=file:S`
//! with optional `pin-source=file:P`, `mode=sync|async`, `poll-ms=N`, `ca-file=PEM`;
//! `dialect=sign-files` selects the vendor dialect of [`super::vendor`] instead,
//! `dialect=requests` the one of [`super::requests`].

use super::http::{form_encode, HttpClient};
use super::{Dialect, RemoteOptions, RemoteSigner, Step};
use crate::keyref::RemoteRef;
use crate::pin::{PinPrompt, PinRequest};
use crate::{oids, Error, HashAlgorithm, SecretString, SignatureAlgorithm};
use base64::Engine;
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::Duration;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The polling call for asynchronous `signHash` (operationMode "A"): POST with `responseID`.
pub const POLL_METHOD: &str = "signatures/signPolling";

/// What `credentials/info` says about a credential.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CredentialInfo {
    /// The certificate chain, leaf first (DER).
    pub certificates: Vec<Vec<u8>>,
    /// Signature algorithm OIDs the key allows (`key/algo`).
    pub key_algorithms: Vec<String>,
    /// `key/status` ("enabled" unless the service says otherwise).
    pub key_enabled: bool,
    /// Signatures one authorisation may cover (`multisign`, at least 1).
    pub multisign: usize,
    /// `authMode` (v1) or `auth/mode` (v2): implicit, explicit, oauth2code.
    pub auth_mode: String,
    /// Whether a PIN is asked (v1 `PIN/presence`, v2 an auth object of type Password).
    pub needs_pin: bool,
    /// Whether an OTP is asked.
    pub needs_otp: bool,
    /// Whether the OTP is sent by the service on request (`credentials/sendOTP`: v1
    /// `OTP/type` "online"; v2 an OTP object without a `generator`), rather than read from the
    /// person's own generator ("offline").
    pub otp_online: bool,
    /// The v2 `authData` id of the PIN object ("PIN" when the service names none).
    pub pin_id: String,
    /// The v2 `authData` id of the OTP object ("OTP" when the service names none).
    pub otp_id: String,
}

impl CredentialInfo {
    /// Parses a `credentials/info` answer (v1 or v2 names).
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let certs = v
            .pointer("/cert/certificates")
            .and_then(Value::as_array)
            .ok_or("it lists no certificates (cert/certificates)")?;
        let mut certificates = Vec::new();
        for c in certs {
            let s = c.as_str().ok_or("a certificate is not a base64 string")?;
            certificates.push(
                B64.decode(s.trim())
                    .map_err(|_| "a certificate is not valid base64")?,
            );
        }
        if certificates.is_empty() {
            return Err("it lists no certificates (cert/certificates)".into());
        }
        let key_algorithms = v
            .pointer("/key/algo")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let key_enabled = v
            .pointer("/key/status")
            .and_then(Value::as_str)
            .is_none_or(|s| s.eq_ignore_ascii_case("enabled"));
        let multisign = v
            .get("multisign")
            .and_then(|m| m.as_u64().or_else(|| m.as_str()?.parse().ok()))
            .unwrap_or(1)
            .max(1) as usize;
        let auth_mode = v
            .get("authMode")
            .or_else(|| v.pointer("/auth/mode"))
            .and_then(Value::as_str)
            .unwrap_or("explicit")
            .to_owned();
        let present = |p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .is_some_and(|s| s == "true" || s == "optional")
        };
        let objects = v
            .pointer("/auth/objects")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let object = |types: &[&str]| {
            objects.iter().find(|o| {
                o.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|x| types.iter().any(|t| x.eq_ignore_ascii_case(t)))
            })
        };
        let id_of = |o: Option<&Value>, default: &str| {
            o.and_then(|o| o.get("id"))
                .and_then(Value::as_str)
                .unwrap_or(default)
                .to_owned()
        };
        let pin_object = object(&["Password", "PIN"]);
        let otp_object = object(&["OTP"]);
        let otp_online = match otp_object {
            Some(o) => o.get("generator").is_none(),
            None => v
                .pointer("/OTP/type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case("online")),
        };
        Ok(Self {
            certificates,
            key_algorithms,
            key_enabled,
            multisign,
            needs_pin: present("/PIN/presence") || pin_object.is_some(),
            needs_otp: present("/OTP/presence") || otp_object.is_some(),
            otp_online,
            pin_id: id_of(pin_object, "PIN"),
            otp_id: id_of(otp_object, "OTP"),
            auth_mode,
        })
    }

    /// The algorithms `key/algo` allows: a bare `rsaEncryption` / `id-ecPublicKey` allows every
    /// hash; an empty list allows whatever fits the key.
    pub fn allowed(&self) -> Option<Vec<SignatureAlgorithm>> {
        if self.key_algorithms.is_empty() {
            return None;
        }
        use HashAlgorithm::*;
        let mut out = Vec::new();
        for oid in &self.key_algorithms {
            let o = oid.as_str();
            let all = |f: fn(HashAlgorithm) -> SignatureAlgorithm| {
                [Sha256, Sha384, Sha512]
                    .into_iter()
                    .map(f)
                    .collect::<Vec<_>>()
            };
            if o == oids::RSA_ENCRYPTION.to_string() {
                out.extend(all(SignatureAlgorithm::RsaPkcs1));
            } else if o == oids::RSASSA_PSS.to_string() {
                out.extend(all(SignatureAlgorithm::RsaPss));
            } else if o == oids::EC_PUBLIC_KEY.to_string() {
                out.extend(all(SignatureAlgorithm::Ecdsa));
            } else if let Some(a) = sign_algo_from_oid(o) {
                out.push(a);
            }
        }
        Some(out)
    }
}

fn sign_algo_from_oid(o: &str) -> Option<SignatureAlgorithm> {
    use HashAlgorithm::*;
    use SignatureAlgorithm::*;
    [
        RsaPkcs1(Sha256),
        RsaPkcs1(Sha384),
        RsaPkcs1(Sha512),
        Ecdsa(Sha256),
        Ecdsa(Sha384),
        Ecdsa(Sha512),
    ]
    .into_iter()
    .find(|a| a.algorithm_identifier().oid.to_string() == o)
}

/// `signAlgo` and `signAlgoParams` (base64 DER) for `alg` (CSC v2 §11.9: the signature
/// algorithm OID; PSS carries its parameters).
pub fn sign_algo(alg: SignatureAlgorithm) -> (String, Option<String>) {
    let id = alg.algorithm_identifier();
    let params = match alg {
        SignatureAlgorithm::RsaPss(_) => id
            .parameters
            .as_ref()
            .and_then(|p| der::Encode::to_der(p).ok())
            .map(|d| B64.encode(d)),
        _ => None,
    };
    (id.oid.to_string(), params)
}

/// A logged-in session with a CSC service for one credential: what both the standard dialect
/// and vendor dialects over it share.
#[derive(Debug)]
pub struct CscSession {
    /// The HTTP client.
    pub http: HttpClient,
    /// The API base (`https://host/csc/v2`), without a trailing slash.
    pub base: String,
    /// Whether the service speaks v1 field names (`specs` 1.x).
    pub v1: bool,
    /// The `methods` `info` lists (empty when it lists none).
    pub methods: Vec<String>,
    /// The credential.
    pub credential_id: String,
    /// What `credentials/info` said.
    pub info: CredentialInfo,
    token: Mutex<Option<SecretString>>,
    /// The refresh token the last token answer gave, if any (RFC 6749 §6).
    refresh: Mutex<Option<SecretString>>,
    /// Client id, secret and token endpoint, to fetch a new token when one expires.
    client: Option<(String, SecretString, String)>,
    pin: Option<SecretString>,
    /// Who gives the OTP when the credential asks one (each authorisation).
    otp: Option<OtpSource>,
    /// The OAuth 2.0 server's base (`oauth2` of `info`, else the API base).
    oauth_base: String,
    /// How the person is told to log in (`oauth2code`).
    opts: RemoteOptions,
}

/// Who gives the OTP (a terminal prompt or a script's file), shown in Debug only as present.
struct OtpSource(std::sync::Arc<dyn PinPrompt>);

impl std::fmt::Debug for OtpSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OtpSource")
    }
}

impl CscSession {
    /// Connects: `info`, the OAuth 2.0 token when a client id is given, the credential (from
    /// the reference, or the only one `credentials/list` gives) and its `credentials/info`.
    /// The PIN is asked now (so the person is not asked again per batch).
    pub fn open(
        r: &RemoteRef,
        client_secret: Option<SecretString>,
        pin: Option<SecretString>,
        prompt: &dyn PinPrompt,
        opts: &RemoteOptions,
    ) -> Result<Self, Error> {
        let base = r.target.trim_end_matches('/').to_owned();
        let http = HttpClient::new(&base, opts)?;
        let (status, info) = http.post_json(&format!("{base}/info"), None, &json!({}), None)?;
        if status != 200 {
            return Err(csc_error(&http, "info", status, &info, ""));
        }
        let specs = info.get("specs").and_then(Value::as_str).unwrap_or("2");
        let v1 = specs.starts_with('1');
        let methods = info
            .get("methods")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let (token, client) = match r.get("client-id") {
            Some(client_id) => {
                let secret = client_secret.ok_or_else(|| Error::BadKeyRef {
                    reason: "client-id needs its secret: add secret-source=file:PATH".into(),
                })?;
                let url = token_url(&info, &base);
                let t = fetch_token(&http, &url, client_id, &secret, None)?;
                (Some(t), Some((client_id.to_owned(), secret, url)))
            }
            None => (None, None),
        };
        let (token, refresh) = match token {
            Some(t) => (Some(t.access), t.refresh),
            None => (None, None),
        };
        let oauth_base = oauth_base(&info, &base);
        let mut s = Self {
            http,
            base,
            v1,
            methods,
            credential_id: String::new(),
            info: CredentialInfo::default(),
            token: Mutex::new(token),
            refresh: Mutex::new(refresh),
            client,
            pin,
            otp: None,
            oauth_base,
            opts: opts.clone(),
        };
        s.credential_id = match r.get("credential") {
            Some(c) => c.to_owned(),
            None => s.only_credential()?,
        };
        let (status, v) = s.call(
            "credentials/info",
            json!({"credentialID": s.credential_id, "certificates": "chain",
                   "certInfo": true, "authInfo": true}),
            None,
        )?;
        if status != 200 {
            return Err(s.error("credentials/info", status, &v));
        }
        s.info = CredentialInfo::from_json(&v).map_err(|why| {
            s.http
                .bad_answer(&format!("credentials/info for {}: {why}", s.credential_id))
        })?;
        if !s.info.key_enabled {
            return Err(Error::Remote {
                service: s.http.service().into(),
                reason: format!(
                    "says the key of credential {} is disabled; ask the provider",
                    s.credential_id
                ),
            });
        }
        if s.oauth2code() {
            if !opts.browser_login {
                return Err(Error::Remote {
                    service: s.http.service().into(),
                    reason: format!(
                        "authorises credential {} only through a person's browser login (oauth2code), which a signing service cannot do; sign with `pki sign`",
                        s.credential_id
                    ),
                });
            }
            if s.client.is_none() {
                return Err(Error::BadKeyRef {
                    reason: "a credential authorised by browser login (oauth2code) needs client-id= (and secret-source= for a confidential client)".into(),
                });
            }
            // The PIN, if any, is typed on the provider's login page, not here.
            return Ok(s);
        }
        if s.info.needs_pin && s.pin.is_none() {
            let req = PinRequest::token(&s.who());
            s.pin = Some(prompt.prompt(&req)?);
        }
        if s.info.needs_otp {
            // Asked at each authorisation, not now: an OTP is good for one use and minutes.
            s.otp = Some(OtpSource(
                opts.otp_prompt
                    .clone()
                    .ok_or_else(|| Error::OtpRequired { who: s.who() })?,
            ));
        }
        Ok(s)
    }

    /// Whether the credential is authorised by the person's browser login (`oauth2code`).
    pub fn oauth2code(&self) -> bool {
        self.info.auth_mode.eq_ignore_ascii_case("oauth2code")
    }

    /// The browser login for `digests` (CSC v2 §8.3.2): a credential-scoped token, used as the
    /// bearer of `signHash` instead of a SAD.
    pub fn browser_login(
        &self,
        alg: SignatureAlgorithm,
        digests: &[Vec<u8>],
        wait: Duration,
    ) -> Result<SecretString, Error> {
        let (client_id, secret) = match &self.client {
            Some((id, secret, _)) => (id.as_str(), Some(secret)),
            None => ("", None),
        };
        let login = super::oauth2code::Login {
            authorize_url: format!("{}/oauth2/authorize", self.oauth_base),
            token_url: format!("{}/oauth2/token", self.oauth_base),
            client_id,
            client_secret: secret,
            credential_id: &self.credential_id,
            hashes: digests,
            hash_oid: alg.hash().map(|h| h.oid().to_string()).unwrap_or_default(),
            who: self.who(),
            timeout: wait,
        };
        let show = |url: &str| {
            self.opts.emit(super::RemoteEvent::BrowserLogin {
                who: self.who(),
                url: url.to_owned(),
            })
        };
        super::oauth2code::credential_token(&self.http, &login, &show)
    }

    /// POSTs `body` with a credential-scoped token (`oauth2code`) as the bearer.
    pub fn call_as(
        &self,
        method: &str,
        body: Value,
        wait: Option<Duration>,
        bearer: &SecretString,
    ) -> Result<(u16, Value), Error> {
        let url = format!("{}/{method}", self.base);
        self.http.post_json(&url, Some(bearer), &body, wait)
    }

    /// "credential ID at URL".
    pub fn who(&self) -> String {
        format!("credential {} at {}", self.credential_id, self.base)
    }

    /// POSTs `body` to `{base}/{method}` with the bearer token. A token the service no longer
    /// accepts (HTTP 401: expired during a long wait) is replaced once and the call repeated:
    /// with the refresh token when the token answer gave one (RFC 6749 §6), else (or when the
    /// refresh token is refused too) with a new client-credentials grant.
    pub fn call(
        &self,
        method: &str,
        body: Value,
        wait: Option<Duration>,
    ) -> Result<(u16, Value), Error> {
        self.call_with(method, &body, |url, token, body| {
            self.http.post_json(url, token, body, wait)
        })
    }

    /// Readiness (no side effect on the credential): `credentials/info` within `limit`, with
    /// the stored token (replaced once if the service no longer accepts it, as [`Self::call`]
    /// does). Ready when the service answers 200 and does not say the key is disabled; nothing
    /// is authorised, signed or sent to the person.
    pub fn probe(&self, limit: Duration) -> Result<(), Error> {
        let (status, v) = self.call_with(
            "credentials/info",
            &json!({"credentialID": self.credential_id}),
            |url, token, body| self.http.post_json_within(url, token, body, limit),
        )?;
        if status != 200 {
            return Err(self.error("credentials/info", status, &v));
        }
        let disabled = v
            .pointer("/key/status")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.eq_ignore_ascii_case("enabled"));
        if disabled {
            return Err(Error::Remote {
                service: self.http.service().into(),
                reason: format!(
                    "says the key of credential {} is disabled; ask the provider",
                    self.credential_id
                ),
            });
        }
        Ok(())
    }

    fn call_with(
        &self,
        method: &str,
        body: &Value,
        send: impl Fn(&str, Option<&SecretString>, &Value) -> Result<(u16, Value), Error>,
    ) -> Result<(u16, Value), Error> {
        let url = format!("{}/{method}", self.base);
        let current = || self.token.lock().ok().and_then(|t| t.clone());
        let (status, v) = send(&url, current().as_ref(), body)?;
        match (&self.client, status) {
            (Some((id, secret, token_url)), 401) => {
                let refresh = self.refresh.lock().ok().and_then(|r| r.clone());
                let fresh = match refresh {
                    Some(rt) => fetch_token(&self.http, token_url, id, secret, Some(&rt))
                        .or_else(|_| fetch_token(&self.http, token_url, id, secret, None))?,
                    None => fetch_token(&self.http, token_url, id, secret, None)?,
                };
                if let Ok(mut t) = self.token.lock() {
                    *t = Some(fresh.access);
                }
                if let Ok(mut r) = self.refresh.lock() {
                    // A rotated refresh token replaces the old one; none given: keep it.
                    if fresh.refresh.is_some() {
                        *r = fresh.refresh;
                    }
                }
                send(&url, current().as_ref(), body)
            }
            _ => Ok((status, v)),
        }
    }

    /// An error answer of `method` as one of our errors.
    pub fn error(&self, method: &str, status: u16, v: &Value) -> Error {
        csc_error(&self.http, method, status, v, &self.who())
    }

    fn only_credential(&self) -> Result<String, Error> {
        let (status, v) = self.call("credentials/list", json!({"maxResults": 10}), None)?;
        if status != 200 {
            return Err(self.error("credentials/list", status, &v));
        }
        let ids: Vec<String> = v
            .get("credentialIDs")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        match ids.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(Error::Remote {
                service: self.http.service().into(),
                reason: "lists no credential for this client".into(),
            }),
            many => Err(Error::BadKeyRef {
                reason: format!(
                    "the service holds {} credentials ({}); add credential=ID to the key reference",
                    many.len(),
                    many.join(", ")
                ),
            }),
        }
    }

    /// The OTP for one authorisation: `credentials/sendOTP` first when the service sends it
    /// (CSC v1 §11.8; v2 keeps the method), then the person (or the script's source) gives it.
    fn one_time_password(&self) -> Result<Option<SecretString>, Error> {
        let Some(OtpSource(prompt)) = &self.otp else {
            return Ok(None);
        };
        if self.info.otp_online && self.has_method("credentials/sendOTP") {
            let (status, v) = self.call(
                "credentials/sendOTP",
                json!({"credentialID": self.credential_id}),
                None,
            )?;
            if !(200..300).contains(&status) {
                return Err(self.error("credentials/sendOTP", status, &v));
            }
        }
        prompt.prompt(&PinRequest::otp(&self.who())).map(Some)
    }

    /// `credentials/authorize` for `digests`: the SAD.
    pub fn authorize(
        &self,
        alg: SignatureAlgorithm,
        digests: &[Vec<u8>],
    ) -> Result<SecretString, Error> {
        let hashes: Vec<String> = digests.iter().map(|d| B64.encode(d)).collect();
        let mut body = json!({
            "credentialID": self.credential_id,
            "numSignatures": digests.len(),
        });
        let hash_oid = alg.hash().map(|h| h.oid().to_string()).unwrap_or_default();
        let otp = self.one_time_password()?;
        if self.v1 {
            body["hash"] = json!(hashes);
            if let Some(p) = &self.pin {
                body["PIN"] = json!(p.expose());
            }
            if let Some(o) = &otp {
                body["OTP"] = json!(o.expose());
            }
        } else {
            body["hashes"] = json!(hashes);
            body["hashAlgorithmOID"] = json!(hash_oid);
            let mut auth = Vec::new();
            if let Some(p) = &self.pin {
                auth.push(json!({"id": self.info.pin_id, "value": p.expose()}));
            }
            if let Some(o) = &otp {
                auth.push(json!({"id": self.info.otp_id, "value": o.expose()}));
            }
            if !auth.is_empty() {
                body["authData"] = Value::Array(auth);
            }
        }
        let (status, v) = self.call("credentials/authorize", body, None)?;
        if status != 200 {
            return Err(self.error("credentials/authorize", status, &v));
        }
        v.get("SAD")
            .and_then(Value::as_str)
            .map(SecretString::from)
            .ok_or_else(|| self.http.bad_answer("credentials/authorize gave no SAD"))
    }

    /// Whether `info` lists `method` (services that list nothing are assumed to have it).
    pub fn has_method(&self, method: &str) -> bool {
        self.methods.is_empty() || self.methods.iter().any(|m| m == method)
    }

    /// Whether the credential asks for an OTP at each authorisation.
    pub fn needs_otp(&self) -> bool {
        self.otp.is_some()
    }
}

/// v2 §8.1: `oauth2` is the authorization server's base URI; its token endpoint is
/// `{oauth2}/oauth2/token`. Without one, the CSC server itself is the authorization server.
fn token_url(info: &Value, base: &str) -> String {
    format!("{}/oauth2/token", oauth_base(info, base))
}

fn oauth_base(info: &Value, base: &str) -> String {
    info.get("oauth2")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or(base)
        .trim_end_matches('/')
        .to_owned()
}

/// A token answer: the access token and, where the server gives one, a refresh token.
struct Tokens {
    access: SecretString,
    refresh: Option<SecretString>,
}

/// The client-credentials grant (RFC 6749 §4.4), or with `refresh` the refresh-token grant
/// (§6), the client authenticating with its secret in the body either way.
fn fetch_token(
    http: &HttpClient,
    url: &str,
    client_id: &str,
    secret: &SecretString,
    refresh: Option<&SecretString>,
) -> Result<Tokens, Error> {
    let grant = match refresh {
        Some(rt) => format!(
            "grant_type=refresh_token&refresh_token={}",
            form_encode(rt.expose())
        ),
        None => "grant_type=client_credentials".to_owned(),
    };
    let form = format!(
        "{grant}&client_id={}&client_secret={}",
        form_encode(client_id),
        form_encode(secret.expose())
    );
    let a = http.post(
        url,
        "application/x-www-form-urlencoded",
        &[],
        None,
        form.as_bytes(),
        None,
    )?;
    let v: Value = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
    if a.status != 200 {
        let code = v.get("error").and_then(Value::as_str).unwrap_or("");
        if matches!(code, "invalid_client" | "unauthorized_client") || a.status == 401 {
            return Err(Error::Remote {
                service: http.service().into(),
                reason: format!(
                    "refused the client credentials of \"{client_id}\"; check client-id and the secret in secret-source"
                ),
            });
        }
        return Err(csc_error(http, "oauth2/token", a.status, &v, ""));
    }
    let access = v
        .get("access_token")
        .and_then(Value::as_str)
        .map(SecretString::from)
        .ok_or_else(|| http.bad_answer("the OAuth 2.0 token answer has no access_token"))?;
    let refresh = v
        .get("refresh_token")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
        .map(SecretString::from);
    Ok(Tokens { access, refresh })
}

/// Maps a CSC error answer (`{"error": ..., "error_description": ...}`, §10) to one sentence.
pub fn csc_error(http: &HttpClient, method: &str, status: u16, v: &Value, who: &str) -> Error {
    let code = v.get("error").and_then(Value::as_str).unwrap_or("");
    let desc = v
        .get("error_description")
        .and_then(Value::as_str)
        .unwrap_or("");
    let low = format!("{code} {desc}").to_ascii_lowercase();
    let who = if who.is_empty() {
        http.service().to_owned()
    } else {
        who.to_owned()
    };
    if low.contains("locked") || low.contains("blocked") {
        return Error::RemotePinBlocked { who };
    }
    if matches!(code, "expired_otp" | "otp_expired")
        || (code == "invalid_otp" && low.contains("expired"))
    {
        return Error::OtpExpired { who };
    }
    if code == "invalid_otp" {
        return Error::WrongOtp { who };
    }
    if code == "invalid_pin" {
        return Error::WrongPin {
            token: who,
            final_try: low.contains("last") || low.contains("final"),
        };
    }
    if matches!(
        code,
        "access_denied" | "user_cancelled" | "user_canceled" | "rejected" | "user_rejected"
    ) {
        return Error::UserCancelled { who };
    }
    if matches!(code, "expired" | "expired_request" | "request_expired") {
        return Error::TransactionExpired { who };
    }
    if matches!(code, "invalid_token" | "expired_token") || status == 401 {
        return Error::Remote {
            service: http.service().into(),
            reason: format!(
                "refused our access token at {method} ({code}); check client-id and secret-source"
            ),
        };
    }
    let what = match (code.is_empty(), desc.is_empty()) {
        (true, _) => format!("HTTP {status}"),
        (false, true) => code.to_owned(),
        (false, false) => format!("{code}: {desc}"),
    };
    Error::Remote {
        service: http.service().into(),
        reason: format!("refused {method} ({what})"),
    }
}

/// The CSC standard dialect: authorize, then `signatures/signHash`, synchronous or
/// asynchronous.
#[derive(Debug)]
pub struct CscDialect {
    session: CscSession,
    asynchronous: bool,
    /// The credential-scoped token of the last browser login (`oauth2code`), for polling.
    login_token: Mutex<Option<SecretString>>,
}

impl CscDialect {
    /// Over an open session; `mode` is "sync", "async" or `None` (async when the service lists
    /// the polling method and speaks v2).
    pub fn new(session: CscSession, mode: Option<&str>) -> Result<Self, Error> {
        let asynchronous = match mode {
            Some("async") => true,
            Some("sync") => false,
            None => !session.v1 && session.has_method(POLL_METHOD),
            Some(m) => {
                return Err(Error::BadKeyRef {
                    reason: format!("mode must be sync or async, not \"{m}\""),
                })
            }
        };
        if asynchronous && session.v1 {
            return Err(Error::BadKeyRef {
                reason: "CSC API v1 services sign synchronously only; use mode=sync".into(),
            });
        }
        Ok(Self {
            session,
            asynchronous,
            login_token: Mutex::new(None),
        })
    }

    fn signatures(&self, v: &Value) -> Result<Vec<Vec<u8>>, Error> {
        let arr = v
            .get("signatures")
            .and_then(Value::as_array)
            .ok_or_else(|| self.session.http.bad_answer("signHash gave no signatures"))?;
        arr.iter()
            .map(|s| {
                s.as_str()
                    .and_then(|s| B64.decode(s.trim()).ok())
                    .ok_or_else(|| self.session.http.bad_answer("a signature is not base64"))
            })
            .collect()
    }
}

impl Dialect for CscDialect {
    fn who(&self) -> String {
        self.session.who()
    }

    fn probe(&self, limit: Duration) -> Result<(), Error> {
        self.session.probe(limit)
    }

    fn max_per_approval(&self) -> usize {
        self.session.info.multisign
    }

    fn submit(
        &self,
        alg: SignatureAlgorithm,
        digests: &[Vec<u8>],
        wait: Duration,
    ) -> Result<Step, Error> {
        // oauth2code: the browser login's credential-scoped token replaces the SAD.
        let login = if self.session.oauth2code() {
            let t = self.session.browser_login(alg, digests, wait)?;
            if let Ok(mut l) = self.login_token.lock() {
                *l = Some(t.clone());
            }
            Some(t)
        } else {
            None
        };
        let (sign_algo, params) = sign_algo(alg);
        let hashes: Vec<String> = digests.iter().map(|d| B64.encode(d)).collect();
        let hash_oid = alg.hash().map(|h| h.oid().to_string()).unwrap_or_default();
        let mut body = json!({
            "credentialID": self.session.credential_id,
            "signAlgo": sign_algo,
        });
        if login.is_none() {
            body["SAD"] = json!(self.session.authorize(alg, digests)?.expose());
        }
        if let Some(p) = params {
            body["signAlgoParams"] = json!(p);
        }
        if self.session.v1 {
            body["hash"] = json!(hashes);
            body["hashAlgo"] = json!(hash_oid);
        } else {
            body["hashes"] = json!(hashes);
            body["hashAlgorithmOID"] = json!(hash_oid);
            body["operationMode"] = json!(if self.asynchronous { "A" } else { "S" });
        }
        // A synchronous request may be held while the person approves.
        let hold = (!self.asynchronous).then_some(wait);
        let sent = match &login {
            Some(t) => self.session.call_as("signatures/signHash", body, hold, t),
            None => self.session.call("signatures/signHash", body, hold),
        };
        let (status, v) = sent.map_err(|e| match e {
            Error::ApprovalTimeout { waited, .. } => Error::ApprovalTimeout {
                who: self.who(),
                waited,
            },
            e => e,
        })?;
        if !(200..300).contains(&status) {
            return Err(self.session.error("signatures/signHash", status, &v));
        }
        if v.get("signatures").is_some() {
            return Ok(Step::Done(self.signatures(&v)?));
        }
        match v.get("responseID").and_then(Value::as_str) {
            Some(id) if self.asynchronous => Ok(Step::Pending(id.to_owned())),
            _ => Err(self
                .session
                .http
                .bad_answer("signHash gave neither signatures nor a responseID")),
        }
    }

    fn poll(&self, handle: &str) -> Result<Step, Error> {
        // The id `signHash` returned as `responseID`; some clients send it as `requestID`, so
        // both are given.
        let body = json!({"responseID": handle, "requestID": handle});
        let login = self.login_token.lock().ok().and_then(|l| l.clone());
        let (status, v) = match &login {
            Some(t) => self.session.call_as(POLL_METHOD, body, None, t)?,
            None => self.session.call(POLL_METHOD, body, None)?,
        };
        if status == 202 || still_running(status, &v) {
            return Ok(Step::Pending(handle.to_owned()));
        }
        if status != 200 {
            return Err(self.session.error(POLL_METHOD, status, &v));
        }
        if v.get("signatures").is_some() {
            return Ok(Step::Done(self.signatures(&v)?));
        }
        Ok(Step::Pending(handle.to_owned()))
    }
}

/// Services answer a poll of a request that is not finished either with 202 / no signatures,
/// or with an HTTP 400 whose description says the asynchronous request is not complete.
fn still_running(status: u16, v: &Value) -> bool {
    if status != 400 {
        return false;
    }
    let d = v
        .get("error_description")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    d.contains("not completed")
        || d.contains("not yet completed")
        || d.contains("in progress")
        || d.contains("pending")
}

/// Opens a `csc:` key reference as a signer.
pub fn open(
    r: &RemoteRef,
    client_secret: Option<SecretString>,
    pin: Option<SecretString>,
    prompt: &dyn PinPrompt,
    opts: &RemoteOptions,
) -> Result<RemoteSigner, Error> {
    match r.get("dialect").unwrap_or("csc") {
        "csc" => {}
        "sign-files" => return super::vendor::open(r, client_secret, opts),
        "requests" => {}
        d => {
            return Err(Error::BadKeyRef {
                reason: format!(
                    "unknown dialect \"{d}\"; this program speaks csc, requests and sign-files"
                ),
            })
        }
    }
    let opts = super::effective_options(r, opts)?;
    let session = CscSession::open(r, client_secret, pin, prompt, &opts)?;
    let certs = session.info.certificates.clone();
    let allowed = session.info.allowed();
    let dialect: Box<dyn Dialect> = match r.get("dialect") {
        Some("requests") => Box::new(super::requests::RequestsDialect::new(
            session,
            opts.message.clone(),
        )),
        _ => Box::new(CscDialect::new(session, r.get("mode"))?),
    };
    RemoteSigner::new(dialect, certs, allowed.as_deref(), opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v2_and_v1_credential_info() {
        // CSC API v2.0 §11.5 example, shortened.
        let v2 = json!({
            "key": {"status": "enabled", "algo": ["1.2.840.113549.1.1.11", "1.2.840.113549.1.1.10"], "len": 2048},
            "cert": {"status": "valid", "certificates": ["MAEC", "MAED"]},
            "auth": {"mode": "explicit", "objects": [{"type": "Password", "id": "PIN", "format": "N"}]},
            "SCAL": "2", "multisign": 5, "lang": "en-US"
        });
        let i = CredentialInfo::from_json(&v2).unwrap();
        assert_eq!(
            i.certificates,
            vec![vec![0x30, 0x01, 0x02], vec![0x30, 0x01, 0x03]]
        );
        assert_eq!(i.multisign, 5);
        assert!(i.needs_pin && !i.needs_otp && i.key_enabled);
        let allowed = i.allowed().unwrap();
        assert!(allowed.contains(&SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha256)));
        assert!(allowed.contains(&SignatureAlgorithm::RsaPss(HashAlgorithm::Sha512)));
        assert!(!allowed.contains(&SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha384)));
        // v1.0.4 §11.5: authMode, PIN/presence, OTP/presence; multisign as a number.
        let v1 = json!({
            "key": {"status": "disabled", "algo": ["1.2.840.113549.1.1.1"]},
            "cert": {"certificates": ["MAEC"]},
            "authMode": "explicit",
            "PIN": {"presence": "true", "format": "N"},
            "OTP": {"presence": "false"}
        });
        let i = CredentialInfo::from_json(&v1).unwrap();
        assert!(i.needs_pin && !i.needs_otp && !i.key_enabled);
        assert_eq!(i.multisign, 1);
        assert_eq!(i.allowed().unwrap().len(), 3);
        // v1 online OTP (sent by credentials/sendOTP); v2 objects with their own ids, an OTP
        // from the person's generator (offline).
        let v1otp = json!({"cert": {"certificates": ["MAEC"]}, "authMode": "explicit",
            "PIN": {"presence": "true"}, "OTP": {"presence": "true", "type": "online"}});
        let i = CredentialInfo::from_json(&v1otp).unwrap();
        assert!(i.needs_otp && i.otp_online);
        let v2otp = json!({"cert": {"certificates": ["MAEC"]}, "auth": {"mode": "explicit",
            "objects": [{"type": "Password", "id": "PIN1"},
                        {"type": "OTP", "id": "otp-a", "generator": "totp"}]}});
        let i = CredentialInfo::from_json(&v2otp).unwrap();
        assert!(i.needs_pin && i.needs_otp && !i.otp_online);
        assert_eq!((i.pin_id.as_str(), i.otp_id.as_str()), ("PIN1", "otp-a"));
        assert!(CredentialInfo::from_json(&json!({"cert": {"certificates": []}})).is_err());
    }

    #[test]
    fn sign_algo_oids_and_pss_params() {
        let (o, p) = sign_algo(SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha256));
        assert_eq!(o, "1.2.840.113549.1.1.11");
        assert!(p.is_none());
        let (o, p) = sign_algo(SignatureAlgorithm::RsaPss(HashAlgorithm::Sha256));
        assert_eq!(o, "1.2.840.113549.1.1.10");
        // SEQUENCE { [0] sha256, [1] mgf1(sha256), [2] 32 }
        assert_eq!(
            hex::encode(B64.decode(p.unwrap()).unwrap()),
            "3034a00f300d06096086480165030402010500a11c301a06092a864886f70d010108300d06096086480165030402010500a203020120"
        );
        assert_eq!(
            sign_algo(SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha256)).0,
            "1.2.840.10045.4.3.2"
        );
    }

    #[test]
    fn a_poll_that_says_not_yet() {
        let v = json!({"error": "invalid_request",
            "error_description": "The previous asynchronous signature request is not completed"});
        assert!(still_running(400, &v));
        assert!(!still_running(401, &v));
        assert!(!still_running(
            400,
            &json!({"error": "invalid_request", "error_description": "Invalid parameter responseID"})
        ));
    }

    #[test]
    fn error_answers_become_one_sentence() {
        let http =
            HttpClient::new("https://csc.example.vn/csc/v2", &RemoteOptions::default()).unwrap();
        let e = |code: &str, desc: &str| {
            csc_error(
                &http,
                "credentials/authorize",
                400,
                &json!({"error": code, "error_description": desc}),
                "credential c1 at https://csc.example.vn/csc/v2",
            )
        };
        assert!(matches!(
            e("invalid_pin", "The PIN is invalid"),
            Error::WrongPin {
                final_try: false,
                ..
            }
        ));
        assert!(matches!(
            e("invalid_request", "The PIN is locked"),
            Error::RemotePinBlocked { .. }
        ));
        assert!(matches!(
            e("access_denied", "User rejected"),
            Error::UserCancelled { .. }
        ));
        assert!(matches!(e("expired", ""), Error::TransactionExpired { .. }));
        assert!(matches!(
            e("invalid_otp", "The OTP is invalid"),
            Error::WrongOtp { .. }
        ));
        assert!(matches!(
            e("invalid_otp", "The OTP has expired"),
            Error::OtpExpired { .. }
        ));
        let other = e("invalid_request", "Invalid parameter hashes").to_string();
        assert_eq!(
            other,
            "the remote signing service https://csc.example.vn/csc/v2 refused credentials/authorize (invalid_request: Invalid parameter hashes)"
        );
    }
}
