//! CSC `authMode: oauth2code` (CSC API v2 §8.3.2): the person logs in to the provider in a
//! browser and authorises these hashes; we get a credential-scoped access token that stands in
//! for the SAD. OAuth 2.0 authorization code grant (RFC 6749 §4.1) with PKCE S256 (RFC 7636)
//! and a loopback redirect for native apps (RFC 8252 §7.3): a listener on 127.0.0.1 at a random
//! port, `state` checked, the code exchanged at the token endpoint with the verifier.

use super::http::{form_encode, HttpClient};
use crate::{Error, SecretString};
use base64::Engine;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// What one browser login authorises.
#[derive(Debug)]
pub struct Login<'a> {
    /// `{oauth2}/oauth2/authorize`.
    pub authorize_url: String,
    /// `{oauth2}/oauth2/token`.
    pub token_url: String,
    /// The OAuth client.
    pub client_id: &'a str,
    /// Its secret, when it has one (a confidential client).
    pub client_secret: Option<&'a SecretString>,
    /// The credential.
    pub credential_id: &'a str,
    /// The hashes to authorise.
    pub hashes: &'a [Vec<u8>],
    /// Their hash algorithm OID.
    pub hash_oid: String,
    /// Whose login, for messages.
    pub who: String,
    /// How long the person has to log in.
    pub timeout: Duration,
}

fn random_b64(n: usize) -> Result<String, Error> {
    let mut b = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| Error::Remote {
        service: "the operating system".into(),
        reason: "gave no random bytes for the login".into(),
    })?;
    Ok(B64URL.encode(b))
}

/// The authorisation URL for `login` with a redirect to `redirect` (the caller shows it).
pub fn authorize_url(login: &Login<'_>, redirect: &str, challenge: &str, state: &str) -> String {
    let hashes: Vec<String> = login.hashes.iter().map(|h| B64URL.encode(h)).collect();
    let sep = if login.authorize_url.contains('?') {
        '&'
    } else {
        '?'
    };
    format!(
        "{}{sep}response_type=code&client_id={}&redirect_uri={}&scope=credential&code_challenge={}&code_challenge_method=S256&state={}&credentialID={}&numSignatures={}&hashes={}&hashAlgorithmOID={}",
        login.authorize_url,
        form_encode(login.client_id),
        form_encode(redirect),
        challenge,
        state,
        form_encode(login.credential_id),
        login.hashes.len(),
        form_encode(&hashes.join(",")),
        form_encode(&login.hash_oid),
    )
}

/// Runs the login: `show` gets the URL to open; returns the credential-scoped token.
pub fn credential_token(
    http: &HttpClient,
    login: &Login<'_>,
    show: &dyn Fn(&str),
) -> Result<SecretString, Error> {
    let local = |e: std::io::Error| Error::Backend {
        context: "cannot listen on 127.0.0.1 for the browser login".into(),
        source: Box::new(e),
    };
    let listener = TcpListener::bind("127.0.0.1:0").map_err(local)?;
    let port = listener.local_addr().map_err(local)?.port();
    listener.set_nonblocking(true).map_err(local)?;
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let verifier = random_b64(32)?;
    let challenge = B64URL.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        verifier.as_bytes(),
    ));
    let state = random_b64(16)?;
    show(&authorize_url(login, &redirect, &challenge, &state));
    let code = wait_for_code(&listener, &state, login)?;
    let mut form = format!(
        "grant_type=authorization_code&code={}&redirect_uri={}&client_id={}&code_verifier={}",
        form_encode(code.expose()),
        form_encode(&redirect),
        form_encode(login.client_id),
        verifier
    );
    if let Some(s) = login.client_secret {
        form.push_str(&format!("&client_secret={}", form_encode(s.expose())));
    }
    let a = http.post(
        &login.token_url,
        "application/x-www-form-urlencoded",
        &[],
        None,
        form.as_bytes(),
        None,
    )?;
    let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap_or_default();
    if a.status != 200 {
        return Err(super::csc::csc_error(
            http,
            "oauth2/token (authorization code)",
            a.status,
            &v,
            &login.who,
        ));
    }
    v.get("access_token")
        .and_then(serde_json::Value::as_str)
        .map(SecretString::from)
        .ok_or_else(|| http.bad_answer("the OAuth 2.0 token answer has no access_token"))
}

/// Waits for the browser's redirect with our `state`; requests without it (another page
/// probing the port) are answered 400 and ignored.
fn wait_for_code(
    listener: &TcpListener,
    state: &str,
    login: &Login<'_>,
) -> Result<SecretString, Error> {
    let start = Instant::now();
    loop {
        if start.elapsed() >= login.timeout {
            return Err(Error::ApprovalTimeout {
                who: login.who.clone(),
                waited: login.timeout,
            });
        }
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            Err(_) => continue,
        };
        let Some(query) = read_callback(&stream) else {
            answer(stream, 404, "Not found");
            continue;
        };
        let param = |k: &str| {
            query.split('&').find_map(|kv| {
                let (a, b) = kv.split_once('=')?;
                (a == k).then(|| pct_decode(b))
            })
        };
        if param("state").as_deref() != Some(state) {
            answer(
                stream,
                400,
                "This login does not belong to the waiting signature.",
            );
            continue;
        }
        if let Some(err) = param("error") {
            answer(
                stream,
                200,
                "The login was refused; you can close this window.",
            );
            return Err(if err == "access_denied" {
                Error::UserCancelled {
                    who: login.who.clone(),
                }
            } else {
                Error::Remote {
                    service: login.who.clone(),
                    reason: format!("refused the browser login ({err})"),
                }
            });
        }
        match param("code").filter(|c| !c.is_empty()) {
            Some(code) => {
                answer(
                    stream,
                    200,
                    "Đã xác thực / Login done: you can close this window.",
                );
                return Ok(SecretString::from(code.as_str()));
            }
            None => answer(stream, 400, "The redirect carries no code."),
        }
    }
}

/// The query of a `GET /callback?...` request, or `None` for anything else.
fn read_callback(mut stream: &TcpStream) -> Option<String> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    let line = head.lines().next()?;
    let mut parts = line.split(' ');
    if parts.next()? != "GET" {
        return None;
    }
    let target = parts.next()?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    (path == "/callback").then(|| query.to_owned())
}

fn answer(mut stream: TcpStream, status: u16, text: &str) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        _ => "Not Found",
    };
    let body = format!("<!doctype html><meta charset=utf-8><p>{text}</p>\n");
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                if let Some(x) = b
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    out.push(x);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_carries_pkce_state_and_the_hashes() {
        let hashes = vec![vec![0xfbu8; 32], vec![0x01u8; 32]];
        let login = Login {
            authorize_url: "https://id.example.vn/oauth2/authorize".into(),
            token_url: "https://id.example.vn/oauth2/token".into(),
            client_id: "van thu",
            client_secret: None,
            credential_id: "c/1",
            hashes: &hashes,
            hash_oid: "2.16.840.1.101.3.4.2.1".into(),
            who: "credential c/1".into(),
            timeout: Duration::from_secs(1),
        };
        let u = authorize_url(&login, "http://127.0.0.1:5/callback", "CH", "ST");
        assert!(u.starts_with("https://id.example.vn/oauth2/authorize?response_type=code&client_id=van+thu&redirect_uri=http%3A%2F%2F127.0.0.1%3A5%2Fcallback&scope=credential&code_challenge=CH&code_challenge_method=S256&state=ST&credentialID=c%2F1&numSignatures=2&hashes="), "{u}");
        // base64url hashes (no '+', '/', '='), comma separated and encoded.
        assert!(
            u.contains(&format!(
                "hashes={}%2C{}",
                B64URL.encode(&hashes[0]),
                B64URL.encode(&hashes[1])
            )),
            "{u}"
        );
        assert_eq!(pct_decode("a%2Cb+c%zz"), "a,b c%zz");
    }

    #[test]
    fn only_our_state_is_accepted_and_the_wait_ends() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let login = Login {
            authorize_url: String::new(),
            token_url: String::new(),
            client_id: "x",
            client_secret: None,
            credential_id: "c1",
            hashes: &[],
            hash_oid: String::new(),
            who: "credential c1".into(),
            timeout: Duration::from_secs(10),
        };
        let browser = std::thread::spawn(move || {
            let get = |path: &str| {
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
                let mut r = String::new();
                s.read_to_string(&mut r).unwrap();
                r
            };
            assert!(get("/favicon.ico").starts_with("HTTP/1.1 404"));
            assert!(get("/callback?code=forged&state=other").starts_with("HTTP/1.1 400"));
            assert!(get("/callback?code=c%2B1&state=good").starts_with("HTTP/1.1 200"));
        });
        let code = wait_for_code(&listener, "good", &login).unwrap();
        browser.join().unwrap();
        assert_eq!(code.expose(), "c+1");
        let quick = Login {
            timeout: Duration::from_millis(200),
            ..login
        };
        assert!(matches!(
            wait_for_code(&listener, "good", &quick),
            Err(Error::ApprovalTimeout { .. })
        ));
    }
}
