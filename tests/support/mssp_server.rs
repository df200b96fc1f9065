//! An ETSI TS 102 204 mobile signature service (MSSP) for tests, backed by a software key in
//! place of the PKI SIM: `MSS_Signature` in synch and asynchClientServer mode, and
//! `MSS_StatusQuery`. It checks the AP_ID and AP_PWD and the MSISDN; what the person does on
//! the phone is scripted ([`MssScript`]). Failures come back both ways the standard allows: as
//! a SOAP fault with subcode `mss:_NNN` (synchronous answers) and as a status in
//! `MSS_StatusResp` (polls).

use crate::httpd::{wait, Handler, Httpd, Request, Response};
use base64::Engine;
use hsm::{HashAlgorithm, SignatureAlgorithm, SoftwareKey};
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const NS: &str = "http://uri.etsi.org/TS102204/v1.1.2#";

/// What the person does with the request on the phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MssScript {
    /// Enters the PIN after this long.
    ApproveAfter(Duration),
    /// Presses Cancel (401 USER_CANCEL).
    UserCancels,
    /// The signing PIN is blocked (402 PIN_NR_BLOCKED).
    PinBlocked,
    /// The request expires at the MSSP (208 EXPIRED_TRANSACTION).
    Expires,
    /// Never answers.
    NeverAnswers,
}

/// What the server saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MssStats {
    /// `MSS_SignatureReq`s.
    pub signature_requests: usize,
    /// `MSS_StatusReq`s.
    pub status_requests: usize,
    /// Signatures made.
    pub signed: usize,
    /// Messaging modes seen.
    pub modes: Vec<String>,
}

struct Tx {
    started: Instant,
    digest: Vec<u8>,
}

struct State {
    key: SoftwareKey,
    ec: Option<HashAlgorithm>,
    msisdn: String,
    ap_id: String,
    ap_pwd: String,
    script: MssScript,
    txs: HashMap<String, Tx>,
    stats: MssStats,
    counter: u64,
    /// Answer PKCS#7 SignedData carrying this certificate (DER) instead of a bare signature.
    pkcs7_cert: Option<Vec<u8>>,
}

/// A running MSSP; stops when dropped.
pub struct MsspServer {
    /// The service URL (`http://127.0.0.1:PORT/mss`).
    pub url: String,
    state: Arc<Mutex<State>>,
    _httpd: Httpd,
}

impl std::fmt::Debug for MsspServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsspServer")
            .field("url", &self.url)
            .finish()
    }
}

impl MsspServer {
    /// Starts an MSSP for the SIM of `msisdn` holding the key of `fixture`.
    pub fn start(
        fixture: &str,
        msisdn: &str,
        ap_id: &str,
        ap_pwd: &str,
        script: MssScript,
    ) -> Self {
        let dir = crate::fixtures().join("pki");
        let pem = std::fs::read_to_string(dir.join(format!("{fixture}.key.pem"))).expect("key");
        let key = SoftwareKey::from_pem(&pem, fixture).expect("key");
        let ec = match hsm::Signer::key_kind(&key) {
            hsm::KeyKind::EcP256 => Some(HashAlgorithm::Sha256),
            hsm::KeyKind::EcP384 => Some(HashAlgorithm::Sha384),
            _ => None,
        };
        let state = Arc::new(Mutex::new(State {
            key,
            ec,
            msisdn: msisdn.into(),
            ap_id: ap_id.into(),
            ap_pwd: ap_pwd.into(),
            script,
            txs: HashMap::new(),
            stats: MssStats::default(),
            counter: 0,
            pkcs7_cert: None,
        }));
        let st = state.clone();
        let handler: Handler =
            Arc::new(move |req: &Request, stop: &AtomicBool| Some(handle(&st, req, stop)));
        let httpd = Httpd::start(handler);
        Self {
            url: format!("{}/mss", httpd.base),
            state,
            _httpd: httpd,
        }
    }

    /// What the server saw so far.
    pub fn stats(&self) -> MssStats {
        self.state
            .lock()
            .map(|s| s.stats.clone())
            .unwrap_or_default()
    }

    /// From now on answer as many real MSSPs do: a PKCS#7 SignedData (no signed attributes)
    /// holding the signature and the certificate of fixture `cert_fixture` (the SIM's own, or
    /// someone else's for a misbehaving MSSP); `None`: bare signatures again.
    pub fn answer_pkcs7(&self, cert_fixture: Option<&str>) {
        let cert = cert_fixture.map(|f| {
            let pem =
                std::fs::read_to_string(crate::fixtures().join("pki").join(format!("{f}.pem")))
                    .expect("fixture certificate");
            hsm::pem::pem_blocks(&pem)
                .into_iter()
                .find(|(l, _)| l == "CERTIFICATE")
                .map(|(_, d)| d)
                .expect("a certificate in the fixture")
        });
        if let Ok(mut s) = self.state.lock() {
            s.pkcs7_cert = cert;
        }
    }

    /// Changes what the person does from now on.
    pub fn set_script(&self, script: MssScript) {
        if let Ok(mut s) = self.state.lock() {
            s.script = script;
        }
    }
}

fn envelope(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><soapenv:Envelope xmlns:soapenv=\"http://schemas.xmlsoap.org/soap/envelope/\"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    )
}

/// A SOAP 1.2-style fault with subcode `mss:_NNN` (TS 102 204 §7.2).
fn fault(code: u16, text: &str) -> Response {
    Response::xml(
        500,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:mss=\"{NS}\"><env:Body><env:Fault><env:Code><env:Value>env:Receiver</env:Value><env:Subcode><env:Value>mss:_{code}</env:Value></env:Subcode></env:Code><env:Reason><env:Text xml:lang=\"en\">{text}</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>"
        ),
    )
}

fn resp(element: &str, tx: &str, code: u16, message: &str, signature: Option<&[u8]>) -> Response {
    let sig = signature
        .map(|s| {
            format!(
                "<mss:MSS_Signature><mss:Base64Signature>{}</mss:Base64Signature></mss:MSS_Signature>",
                base64::engine::general_purpose::STANDARD.encode(s)
            )
        })
        .unwrap_or_default();
    Response::xml(
        200,
        envelope(&format!(
            "<mss:{element} xmlns:mss=\"{NS}\" MajorVersion=\"1\" MinorVersion=\"1\" MSSP_TransID=\"{tx}\">{sig}<mss:Status><mss:StatusCode Value=\"{code}\"/><mss:StatusMessage>{message}</mss:StatusMessage></mss:Status></mss:{element}>"
        )),
    )
}

fn sign(s: &mut State, digest: &[u8]) -> Result<Vec<u8>, Response> {
    let alg = match (s.ec, digest.len()) {
        (Some(h), _) => SignatureAlgorithm::Ecdsa(h),
        (None, 32) => SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha256),
        (None, 48) => SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha384),
        (None, 64) => SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha512),
        _ => return Err(fault(103, "WRONG_DATA_LENGTH")),
    };
    s.stats.signed += 1;
    let sig = s
        .key
        .sign_digest(alg, digest)
        .map_err(|_| fault(406, "PB_SIGNATURE_PROCESS"))?;
    match &s.pkcs7_cert {
        None => Ok(sig),
        Some(cert) => pkcs7(cert, alg, sig).ok_or_else(|| fault(406, "PB_SIGNATURE_PROCESS")),
    }
}

/// A CMS SignedData (RFC 5652) without content or signed attributes: the SIM's signature over
/// the hash, with its certificate.
fn pkcs7(cert_der: &[u8], alg: SignatureAlgorithm, sig: Vec<u8>) -> Option<Vec<u8>> {
    use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
    use cms::content_info::{CmsVersion, ContentInfo};
    use cms::signed_data::{
        CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo,
        SignerInfos,
    };
    use der::asn1::{OctetString, SetOfVec};
    use der::{Decode, Encode};
    let cert = x509_cert::Certificate::from_der(cert_der).ok()?;
    let digest_alg = x509_cert::spki::AlgorithmIdentifierOwned {
        oid: alg.hash()?.oid(),
        parameters: None,
    };
    let tbs = cert.tbs_certificate();
    let si = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        }),
        digest_alg: digest_alg.clone(),
        signed_attrs: None,
        signature_algorithm: alg.algorithm_identifier(),
        signature: OctetString::new(sig).ok()?,
        unsigned_attrs: None,
    };
    let sd = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![digest_alg]).ok()?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: const_oid::db::rfc5911::ID_DATA,
            econtent: None,
        },
        certificates: Some(CertificateSet(
            SetOfVec::try_from(vec![CertificateChoices::Certificate(cert.clone())]).ok()?,
        )),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![si]).ok()?),
    };
    ContentInfo {
        content_type: const_oid::db::rfc5911::ID_SIGNED_DATA,
        content: der::Any::encode_from(&sd).ok()?,
    }
    .to_der()
    .ok()
}

fn handle(state: &Mutex<State>, req: &Request, stop: &AtomicBool) -> Response {
    let text = String::from_utf8_lossy(&req.body).into_owned();
    let Ok(doc) = roxmltree::Document::parse(&text) else {
        return fault(101, "WRONG_PARAM");
    };
    let find = |n: &str| doc.descendants().find(|e| e.has_tag_name((NS, n)));
    let Ok(mut s) = state.lock() else {
        return fault(900, "INTERNAL_ERROR");
    };
    let Some(ap) = find("AP_Info") else {
        return fault(102, "MISSING_PARAM");
    };
    if ap.attribute("AP_ID") != Some(s.ap_id.as_str())
        || ap.attribute("AP_PWD") != Some(s.ap_pwd.as_str())
    {
        return fault(104, "UNAUTHORIZED_ACCESS");
    }
    if let Some(r) = find("MSS_SignatureReq") {
        s.stats.signature_requests += 1;
        let mode = r.attribute("MessagingMode").unwrap_or("").to_owned();
        s.stats.modes.push(mode.clone());
        if find("MSISDN").and_then(|n| n.text()) != Some(s.msisdn.as_str()) {
            return fault(105, "UNKNOWN_CLIENT");
        }
        let Some(digest) = find("DataToBeSigned").and_then(|n| n.text()).and_then(|t| {
            base64::engine::general_purpose::STANDARD
                .decode(t.trim())
                .ok()
        }) else {
            return fault(102, "MISSING_PARAM");
        };
        s.counter += 1;
        let tx = format!("mssp-{}", s.counter);
        if mode == "asynchClientServer" {
            s.txs.insert(
                tx.clone(),
                Tx {
                    started: Instant::now(),
                    digest,
                },
            );
            return resp("MSS_SignatureResp", &tx, 100, "REQUEST_OK", None);
        }
        if mode != "synch" {
            return fault(101, "WRONG_PARAM");
        }
        let script = s.script;
        drop(s);
        match script {
            // The person takes their time (the wait ends early when the server stops).
            MssScript::ApproveAfter(d) if !wait(d, stop) => return fault(900, "INTERNAL_ERROR"),
            MssScript::ApproveAfter(_) => {}
            MssScript::UserCancels => return fault(401, "USER_CANCEL"),
            MssScript::PinBlocked => return fault(402, "PIN_NR_BLOCKED"),
            MssScript::Expires => return fault(208, "EXPIRED_TRANSACTION"),
            MssScript::NeverAnswers => {
                wait(Duration::from_secs(3600), stop);
                return fault(900, "INTERNAL_ERROR");
            }
        }
        let Ok(mut s) = state.lock() else {
            return fault(900, "INTERNAL_ERROR");
        };
        return match sign(&mut s, &digest) {
            Ok(sig) => resp("MSS_SignatureResp", &tx, 500, "SIGNATURE", Some(&sig)),
            Err(f) => f,
        };
    }
    if let Some(r) = find("MSS_StatusReq") {
        s.stats.status_requests += 1;
        let tx = r.attribute("MSSP_TransID").unwrap_or("").to_owned();
        let Some(t) = s.txs.get(&tx) else {
            return fault(101, "WRONG_PARAM");
        };
        let started = t.started;
        return match s.script {
            MssScript::ApproveAfter(d) if started.elapsed() >= d => {
                let digest = s.txs.remove(&tx).map(|t| t.digest).unwrap_or_default();
                match sign(&mut s, &digest) {
                    Ok(sig) => resp("MSS_StatusResp", &tx, 502, "VALID_SIGNATURE", Some(&sig)),
                    Err(f) => f,
                }
            }
            MssScript::UserCancels => resp("MSS_StatusResp", &tx, 401, "USER_CANCEL", None),
            MssScript::PinBlocked => resp("MSS_StatusResp", &tx, 402, "PIN_NR_BLOCKED", None),
            MssScript::Expires => resp("MSS_StatusResp", &tx, 208, "EXPIRED_TRANSACTION", None),
            _ => resp("MSS_StatusResp", &tx, 504, "OUTSTANDING_TRANSACTION", None),
        };
    }
    fault(101, "WRONG_PARAM")
}
