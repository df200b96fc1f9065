//! ETSI TS 102 204 v1.1.2 Mobile Signature Service (the PKI SIM protocol), SOAP 1.1 binding:
//! `MSS_Signature` (§5.2, `MSS_SignatureReq` / `MSS_SignatureResp`) in `synch` or
//! `asynchClientServer` messaging mode, and `MSS_StatusQuery` (§5.3, `MSS_StatusReq` /
//! `MSS_StatusResp`) to poll an asynchronous transaction. Status codes (§6.2) become errors a
//! person can act on: 401 USER_CANCEL, 402 PIN_NR_BLOCKED, 208 EXPIRED_TRANSACTION, ...
//!
//! What goes to the SIM is the hash of the document (`DataToBeSigned`, base64, MIME type
//! application/octet-stream) with the `MSS_Format` PKCS1: the answer is the bare signature
//! (`Base64Signature`). TS 102 204 has no certificate lookup, so the certificate comes from the
//! caller (`--cert`, or `cert=file:PEM` in the key reference).
//!
//! Key reference: `mss:+84912345678?mssp=https://host/mss&ap-id=URI&secret-source=file:AP_PWD`
//! with optional `mode=sync|async` (default async), `mssp-id=URI`, `profile=URI`, `poll-ms=N`,
//! `ca-file=PEM`, `cert=file:PEM`.
//!
//! Requests are written by a small writer (escaped text, no DTD); answers are read with
//! roxmltree, which refuses DTDs, so no entity tricks reach us.

use super::http::HttpClient;
use super::{Dialect, RemoteOptions, RemoteSigner, Step};
use crate::keyref::RemoteRef;
use crate::{Error, SecretString, SignatureAlgorithm};
use base64::Engine;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The TS 102 204 namespace.
pub const NS: &str = "http://uri.etsi.org/TS102204/v1.1.2#";
/// The SOAP 1.1 envelope namespace.
pub const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The WSDL operations' namespace (the wrapper elements of the document/literal binding).
pub const WSDL_NS: &str = "http://uri.etsi.org/TS102204/etsi204-kiuru.wsdl";
/// `MSS_Format` for a bare PKCS#1 signature.
pub const FORMAT_PKCS1: &str = "http://uri.etsi.org/TS102204/v1.1.2#PKCS1";
/// `MSS_Format` for a PKCS#7 (CMS SignedData) answer.
pub const FORMAT_PKCS7: &str = "http://uri.etsi.org/TS102204/v1.1.2#PKCS7";
/// The default signature profile: "sign this hash" (the MSSP's profile URI may differ; give
/// `profile=` then).
pub const DEFAULT_PROFILE: &str = "http://uri.etsi.org/TS102204/v1.1.2#signature";

/// Messaging mode (§5.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The MSSP answers when the person has answered.
    Synch,
    /// The MSSP answers at once; we poll with `MSS_StatusReq`.
    AsynchClientServer,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Self::Synch => "synch",
            Self::AsynchClientServer => "asynchClientServer",
        }
    }
}

/// Everything a request carries besides the hash.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// `AP_ID`.
    pub ap_id: &'a str,
    /// `AP_PWD`.
    pub ap_pwd: Option<&'a SecretString>,
    /// `AP_TransID`.
    pub ap_trans_id: &'a str,
    /// `Instant` (xs:dateTime, UTC).
    pub instant: &'a str,
    /// `MSSP_ID/URI`, when known.
    pub mssp_id: Option<&'a str>,
    /// `MobileUser/MSISDN`.
    pub msisdn: &'a str,
    /// `DataToBeDisplayed`, shown on the phone.
    pub display: Option<&'a str>,
    /// `SignatureProfile/mssURI`.
    pub profile: &'a str,
    /// Messaging mode.
    pub mode: Mode,
    /// `TimeOut` in seconds.
    pub timeout_secs: u64,
    /// Ask for a PKCS#7 SignedData answer (`MSS_Format` PKCS7) instead of a bare signature.
    pub pkcs7: bool,
}

/// Escapes text and attribute values.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}

fn envelope(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soapenv:Envelope xmlns:soapenv=\"{SOAP_NS}\"><soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    )
}

fn ap_info(r: &Request<'_>) -> String {
    let pwd = r
        .ap_pwd
        .map(|p| format!(" AP_PWD=\"{}\"", esc(p.expose())))
        .unwrap_or_default();
    format!(
        "<mss:AP_Info AP_ID=\"{}\" AP_TransID=\"{}\"{pwd} Instant=\"{}\"/>{}",
        esc(r.ap_id),
        esc(r.ap_trans_id),
        esc(r.instant),
        mssp_info(r.mssp_id)
    )
}

fn mssp_info(id: Option<&str>) -> String {
    match id {
        Some(id) => format!(
            "<mss:MSSP_Info><mss:MSSP_ID><mss:URI>{}</mss:URI></mss:MSSP_ID></mss:MSSP_Info>",
            esc(id)
        ),
        None => "<mss:MSSP_Info><mss:MSSP_ID/></mss:MSSP_Info>".into(),
    }
}

/// An `MSS_Signature` SOAP request for `digest`.
pub fn signature_request(r: &Request<'_>, digest: &[u8]) -> String {
    let display = r
        .display
        .map(|d| {
            format!(
                "<mss:DataToBeDisplayed MimeType=\"text/plain\" Encoding=\"UTF-8\">{}</mss:DataToBeDisplayed>",
                esc(d)
            )
        })
        .unwrap_or_default();
    envelope(&format!(
        "<MSS_Signature xmlns=\"{WSDL_NS}\"><mss:MSS_SignatureReq xmlns:mss=\"{NS}\" MajorVersion=\"1\" MinorVersion=\"1\" MessagingMode=\"{}\" TimeOut=\"{}\">{}<mss:MobileUser><mss:MSISDN>{}</mss:MSISDN></mss:MobileUser><mss:DataToBeSigned MimeType=\"application/octet-stream\" Encoding=\"base64\">{}</mss:DataToBeSigned>{display}<mss:SignatureProfile><mss:mssURI>{}</mss:mssURI></mss:SignatureProfile><mss:MSS_Format><mss:mssURI>{}</mss:mssURI></mss:MSS_Format></mss:MSS_SignatureReq></MSS_Signature>",
        r.mode.name(),
        r.timeout_secs,
        ap_info(r),
        esc(r.msisdn),
        base64::engine::general_purpose::STANDARD.encode(digest),
        esc(r.profile),
        if r.pkcs7 { FORMAT_PKCS7 } else { FORMAT_PKCS1 },
    ))
}

/// An `MSS_StatusQuery` SOAP request for `mssp_trans_id`.
pub fn status_request(r: &Request<'_>, mssp_trans_id: &str) -> String {
    envelope(&format!(
        "<MSS_StatusQuery xmlns=\"{WSDL_NS}\"><mss:MSS_StatusReq xmlns:mss=\"{NS}\" MajorVersion=\"1\" MinorVersion=\"1\" MSSP_TransID=\"{}\">{}</mss:MSS_StatusReq></MSS_StatusQuery>",
        esc(mssp_trans_id),
        ap_info(r),
    ))
}

/// What an MSSP answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// `StatusCode/@Value`.
    pub status: u16,
    /// `StatusMessage` (or the SOAP fault's text).
    pub message: String,
    /// `@MSSP_TransID`.
    pub mssp_trans_id: Option<String>,
    /// `MSS_Signature/Base64Signature`, decoded.
    pub signature: Option<Vec<u8>>,
}

/// The signature value in a PKCS#7 (CMS, RFC 5652) SignedData answer: `None` when `answer`
/// is not one (a bare PKCS#1 signature), `Some(Err)` when it is one we must not use: not
/// exactly one signer, signed attributes (the SIM then signed its own attributes, not our
/// hash), or a signer other than the SIM whose certificate `leaf` we were given — its own
/// certificate in the message is never trusted, only compared.
pub fn pkcs7_signature(answer: &[u8], leaf: &[u8]) -> Option<Result<Vec<u8>, String>> {
    use cms::cert::CertificateChoices;
    use cms::content_info::ContentInfo;
    use cms::signed_data::{SignedData, SignerIdentifier};
    use der::{Decode, Encode};
    let info = ContentInfo::from_der(answer).ok()?;
    if info.content_type != const_oid::db::rfc5911::ID_SIGNED_DATA {
        return None;
    }
    Some((|| {
        let sd: SignedData = info
            .content
            .decode_as()
            .map_err(|_| "the SignedData is malformed".to_owned())?;
        let expected = x509_cert::Certificate::from_der(leaf)
            .map_err(|_| "the SIM's certificate given to us cannot be read".to_owned())?;
        let [si] = sd.signer_infos.0.as_slice() else {
            return Err(format!(
                "it has {} signers, not one",
                sd.signer_infos.0.len()
            ));
        };
        if si.signed_attrs.is_some() {
            return Err("the SIM signed attributes of its own rather than our hash; ask the MSSP for a signature over the hash (format=pkcs1)".into());
        }
        if let SignerIdentifier::IssuerAndSerialNumber(ias) = &si.sid {
            let tbs = expected.tbs_certificate();
            if &ias.issuer != tbs.issuer() || ias.serial_number != *tbs.serial_number() {
                return Err("its signer is not the SIM's certificate".into());
            }
        }
        let certs: Vec<Vec<u8>> = sd
            .certificates
            .iter()
            .flat_map(|set| set.0.iter())
            .filter_map(|c| match c {
                CertificateChoices::Certificate(c) => c.to_der().ok(),
                _ => None,
            })
            .collect();
        // The signer's certificate, when the message carries certificates, must be ours.
        if !certs.is_empty() && !certs.iter().any(|c| c.as_slice() == leaf) {
            return Err("it carries the certificate of someone else, not the SIM's".into());
        }
        Ok(si.signature.as_bytes().to_vec())
    })())
}

/// Reads an `MSS_SignatureResp`, `MSS_StatusResp` or a SOAP fault (its subcode `mss:_NNN`,
/// §7.2).
pub fn parse_answer(xml: &str) -> Result<Answer, String> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| format!("not XML ({e})"))?;
    let find = |name: &str| doc.descendants().find(|n| n.tag_name().name() == name);
    if let Some(fault) = find("Fault") {
        let code = fault
            .descendants()
            .filter(|n| n.is_element() && matches!(n.tag_name().name(), "Value" | "faultcode"))
            .filter_map(|n| n.text())
            .find_map(|t| {
                let t = t.trim();
                let t = t.rsplit(':').next().unwrap_or(t);
                t.strip_prefix('_')?.parse::<u16>().ok()
            })
            .unwrap_or(900);
        let message = fault
            .descendants()
            .filter(|n| n.is_element() && matches!(n.tag_name().name(), "Text" | "faultstring"))
            .find_map(|n| n.text())
            .unwrap_or("")
            .trim()
            .to_owned();
        return Ok(Answer {
            status: code,
            message,
            mssp_trans_id: None,
            signature: None,
        });
    }
    let resp = doc
        .descendants()
        .find(|n| matches!(n.tag_name().name(), "MSS_SignatureResp" | "MSS_StatusResp"))
        .ok_or("neither an MSS_SignatureResp, an MSS_StatusResp nor a SOAP fault")?;
    let status = resp
        .descendants()
        .find(|n| n.tag_name().name() == "StatusCode")
        .and_then(|n| n.attribute("Value"))
        .and_then(|v| v.trim().parse::<u16>().ok())
        .ok_or("no Status/StatusCode/@Value")?;
    let message = resp
        .descendants()
        .find(|n| n.tag_name().name() == "StatusMessage")
        .and_then(|n| n.text())
        .unwrap_or("")
        .trim()
        .to_owned();
    let signature = match resp
        .descendants()
        .find(|n| n.tag_name().name() == "Base64Signature")
    {
        Some(n) => {
            let text: String = n
                .text()
                .unwrap_or("")
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            Some(
                base64::engine::general_purpose::STANDARD
                    .decode(text)
                    .map_err(|_| "Base64Signature is not base64")?,
            )
        }
        None => None,
    };
    Ok(Answer {
        status,
        message,
        mssp_trans_id: resp.attribute("MSSP_TransID").map(str::to_owned),
        signature,
    })
}

/// The PKI SIM dialect.
#[derive(Debug)]
pub struct Mss {
    http: HttpClient,
    url: String,
    msisdn: String,
    ap_id: String,
    ap_pwd: Option<SecretString>,
    mssp_id: Option<String>,
    profile: String,
    mode: Mode,
    display: Option<String>,
    counter: AtomicU64,
    /// Ask for PKCS#7 answers (`format=pkcs7`); they are accepted either way.
    pkcs7: bool,
    /// The SIM's certificate (DER), which a PKCS#7 answer must carry or name.
    leaf: Vec<u8>,
}

impl Mss {
    fn request<'a>(&'a self, trans_id: &'a str, instant: &'a str, wait: Duration) -> Request<'a> {
        Request {
            ap_id: &self.ap_id,
            ap_pwd: self.ap_pwd.as_ref(),
            ap_trans_id: trans_id,
            instant,
            mssp_id: self.mssp_id.as_deref(),
            msisdn: &self.msisdn,
            display: self.display.as_deref(),
            profile: &self.profile,
            mode: self.mode,
            timeout_secs: wait.as_secs().max(1),
            pkcs7: self.pkcs7,
        }
    }

    fn exchange(&self, action: &str, xml: &str, wait: Option<Duration>) -> Result<Answer, Error> {
        let a = self.http.post(
            &self.url,
            "text/xml; charset=utf-8",
            &[("SOAPAction", action)],
            None,
            xml.as_bytes(),
            wait,
        )?;
        let text = String::from_utf8(a.body)
            .map_err(|_| self.http.bad_answer("the SOAP answer is not UTF-8"))?;
        let ans = parse_answer(&text).map_err(|why| {
            self.http
                .bad_answer(&format!("HTTP {}: the SOAP answer is {why}", a.status))
        })?;
        Ok(ans)
    }

    /// The next step from an answer (§6.2 status codes).
    /// The signature value of an answer: the bare signature (PKCS1), or taken out of a PKCS#7
    /// SignedData (what many MSSPs return) after checking it is the SIM's certificate that
    /// signed. Whether it verifies over our hash is checked by the core, as for every answer.
    fn signature_value(&self, answer: Vec<u8>) -> Result<Vec<u8>, Error> {
        match pkcs7_signature(&answer, &self.leaf) {
            None => Ok(answer),
            Some(Ok(sig)) => Ok(sig),
            Some(Err(why)) => Err(Error::Remote {
                service: self.who(),
                reason: format!(
                    "answered a PKCS#7 signature that cannot be used: {why}; nothing was written"
                ),
            }),
        }
    }

    fn step(&self, a: Answer) -> Result<Step, Error> {
        let who = self.who();
        match a.status {
            500 | 502 => match a.signature {
                Some(s) => Ok(Step::Done(vec![self.signature_value(s)?])),
                None => Err(self.http.bad_answer("a SIGNATURE status without MSS_Signature")),
            },
            100 | 504 => match a.mssp_trans_id {
                Some(id) => Ok(Step::Pending(id)),
                None => Err(self.http.bad_answer("an outstanding transaction without MSSP_TransID")),
            },
            401 => Err(Error::UserCancelled { who }),
            402 => Err(Error::RemotePinBlocked { who }),
            403 => Err(Error::Remote {
                service: self.http.service().into(),
                reason: format!("says the SIM card of {who} is blocked; ask the mobile operator"),
            }),
            404 | 422 => Err(Error::Remote {
                service: self.http.service().into(),
                reason: format!(
                    "found no signing key or certificate on the SIM of {who} ({} {})",
                    a.status, a.message
                ),
            }),
            501 => Err(Error::Remote {
                service: self.http.service().into(),
                reason: format!("says the certificate of {who} is revoked"),
            }),
            208 => Err(Error::TransactionExpired { who }),
            209 => Err(Error::Remote {
                service: self.http.service().into(),
                reason: format!(
                    "could not reach the phone {who} (209 OTA_ERROR); check that it is on and has signal, then try again"
                ),
            }),
            104 | 105 => Err(Error::Remote {
                service: self.http.service().into(),
                reason: format!(
                    "refused this application ({} {}); check ap-id and the password in secret-source",
                    a.status, a.message
                ),
            }),
            s => Err(Error::Remote {
                service: self.http.service().into(),
                reason: format!("refused the request ({s} {})", a.message),
            }),
        }
    }
}

impl Dialect for Mss {
    fn who(&self) -> String {
        self.msisdn.clone()
    }

    /// TS 102 204 has no harmless request (a signature request reaches the phone, a status
    /// request needs a transaction): the MSSP's endpoint is asked only whether it answers
    /// HTTP (decision 0040).
    fn probe(&self, limit: Duration) -> Result<(), Error> {
        self.http.reachable(&self.url, limit)
    }

    /// TS 102 204 carries one `DataToBeSigned` per transaction.
    fn max_per_approval(&self) -> usize {
        1
    }

    fn submit(
        &self,
        _alg: SignatureAlgorithm,
        digests: &[Vec<u8>],
        wait: Duration,
    ) -> Result<Step, Error> {
        let [digest] = digests else {
            return Err(self.http.bad_answer("one hash per transaction"));
        };
        let now = time::OffsetDateTime::now_utc();
        let trans_id = format!(
            "A{}{}",
            now.unix_timestamp_nanos(),
            self.counter.fetch_add(1, Ordering::Relaxed)
        );
        let instant = instant(now);
        let xml = signature_request(&self.request(&trans_id, &instant, wait), digest);
        let hold = (self.mode == Mode::Synch).then_some(wait);
        let a = self
            .exchange("#MSS_Signature", &xml, hold)
            .map_err(|e| match e {
                Error::ApprovalTimeout { waited, .. } => Error::ApprovalTimeout {
                    who: self.who(),
                    waited,
                },
                e => e,
            })?;
        self.step(a)
    }

    fn poll(&self, handle: &str) -> Result<Step, Error> {
        let now = time::OffsetDateTime::now_utc();
        let trans_id = format!(
            "S{}{}",
            now.unix_timestamp_nanos(),
            self.counter.fetch_add(1, Ordering::Relaxed)
        );
        let instant = instant(now);
        let xml = status_request(
            &self.request(&trans_id, &instant, Duration::from_secs(1)),
            handle,
        );
        let a = self.exchange("#MSS_StatusQuery", &xml, None)?;
        self.step(a)
    }
}

fn instant(t: time::OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Opens an `mss:` key reference as a signer. `certs` is the SIM's certificate chain (leaf
/// first) from the caller; `ap_pwd` the application provider's password (`secret-source`).
pub fn open(
    r: &RemoteRef,
    mut certs: Vec<Vec<u8>>,
    ap_pwd: Option<SecretString>,
    opts: &RemoteOptions,
) -> Result<RemoteSigner, Error> {
    let opts = super::effective_options(r, opts)?;
    let msisdn = r.target.trim();
    let digits = msisdn.strip_prefix('+').unwrap_or(msisdn);
    if digits.len() < 8 || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::BadKeyRef {
            reason: format!(
                "\"{msisdn}\" is not a phone number; write it as mss:+84912345678?mssp=..."
            ),
        });
    }
    let url = r.get("mssp").ok_or_else(|| Error::BadKeyRef {
        reason: "an mss: key reference needs mssp=URL (the mobile signature service)".into(),
    })?;
    let ap_id = r.get("ap-id").ok_or_else(|| Error::BadKeyRef {
        reason: "an mss: key reference needs ap-id=URI (this application's id at the MSSP)".into(),
    })?;
    let mode = match r.get("mode").unwrap_or("async") {
        "async" => Mode::AsynchClientServer,
        "sync" => Mode::Synch,
        m => {
            return Err(Error::BadKeyRef {
                reason: format!("mode must be sync or async, not \"{m}\""),
            })
        }
    };
    if let Some(src) = r.get("cert") {
        let path = src.strip_prefix("file:").unwrap_or(src);
        let pem = std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.into(),
            source: e,
        })?;
        for (label, der) in crate::pem::pem_blocks(&pem) {
            if label == "CERTIFICATE" && !certs.contains(&der) {
                certs.push(der);
            }
        }
    }
    if certs.is_empty() {
        return Err(Error::BadKey {
            what: format!("the PKI SIM {msisdn}"),
            reason: "its certificate is needed (TS 102 204 cannot fetch it): give --cert CHAIN.pem or cert=file:CHAIN.pem".into(),
        });
    }
    let dialect = Mss {
        http: HttpClient::new(url, &opts)?,
        url: url.to_owned(),
        msisdn: msisdn.to_owned(),
        ap_id: ap_id.to_owned(),
        ap_pwd,
        mssp_id: r.get("mssp-id").map(str::to_owned),
        profile: r.get("profile").unwrap_or(DEFAULT_PROFILE).to_owned(),
        mode,
        display: opts.message.clone(),
        counter: AtomicU64::new(0),
        pkcs7: match r.get("format") {
            None | Some("pkcs1") => false,
            Some("pkcs7") => true,
            Some(f) => {
                return Err(Error::BadKeyRef {
                    reason: format!("format must be pkcs1 or pkcs7, not \"{f}\""),
                })
            }
        },
        leaf: Vec::new(),
    };
    // The chain may come in any order: the SIM's key is the leaf.
    let leaf_first = leaf_first_of(certs);
    let mut dialect = dialect;
    dialect.leaf = leaf_first.first().cloned().unwrap_or_default();
    RemoteSigner::new(Box::new(dialect), leaf_first, None, opts)
}

/// Puts the certificate that issued no other first.
fn leaf_first_of(mut certs: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    use der::Decode;
    let parsed: Vec<Option<x509_cert::Certificate>> = certs
        .iter()
        .map(|c| x509_cert::Certificate::from_der(c).ok())
        .collect();
    let issues_another = |i: usize| {
        let Some(me) = &parsed[i] else { return false };
        parsed.iter().enumerate().any(|(j, o)| {
            j != i
                && o.as_ref()
                    .is_some_and(|o| o.tbs_certificate().issuer() == me.tbs_certificate().subject())
        })
    };
    if let Some(leaf) = (0..certs.len()).find(|&i| !issues_another(i)) {
        let c = certs.remove(leaf);
        certs.insert(0, c);
    }
    certs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(pwd: Option<&'a SecretString>) -> Request<'a> {
        Request {
            ap_id: "http://ap.example.vn/sign",
            ap_pwd: pwd,
            ap_trans_id: "A1<&>",
            instant: "2026-11-22T06:24:12Z",
            mssp_id: Some("http://mssp.example.vn"),
            msisdn: "+84912345678",
            display: Some("Ký 2 văn bản"),
            profile: DEFAULT_PROFILE,
            mode: Mode::AsynchClientServer,
            timeout_secs: 120,
            pkcs7: false,
        }
    }

    #[test]
    fn signature_request_is_well_formed_and_escaped() {
        let pwd = SecretString::from("p\"w");
        let xml = signature_request(&req(Some(&pwd)), &[1, 2, 3]);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let r = doc
            .descendants()
            .find(|n| n.has_tag_name((NS, "MSS_SignatureReq")))
            .unwrap();
        assert_eq!(r.attribute("MessagingMode"), Some("asynchClientServer"));
        assert_eq!(r.attribute("TimeOut"), Some("120"));
        let ap = r
            .children()
            .find(|n| n.has_tag_name((NS, "AP_Info")))
            .unwrap();
        assert_eq!(ap.attribute("AP_TransID"), Some("A1<&>"));
        assert_eq!(ap.attribute("AP_PWD"), Some("p\"w"));
        let msisdn = doc
            .descendants()
            .find(|n| n.has_tag_name((NS, "MSISDN")))
            .unwrap();
        assert_eq!(msisdn.text(), Some("+84912345678"));
        let dtbs = doc
            .descendants()
            .find(|n| n.has_tag_name((NS, "DataToBeSigned")))
            .unwrap();
        assert_eq!(dtbs.text(), Some("AQID"));
        assert!(xml.contains("Ký 2 văn bản"));
        let st = status_request(&req(None), "MSSP-9");
        let doc = roxmltree::Document::parse(&st).unwrap();
        let s = doc
            .descendants()
            .find(|n| n.has_tag_name((NS, "MSS_StatusReq")))
            .unwrap();
        assert_eq!(s.attribute("MSSP_TransID"), Some("MSSP-9"));
        assert!(!st.contains("AP_PWD"));
    }

    #[test]
    fn parses_answers_from_the_spec() {
        // TS 102 204 §5.2.2 style synchronous answer with a signature.
        let sync = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
          <MSS_SignatureResponse xmlns="http://uri.etsi.org/TS102204/etsi204-kiuru.wsdl">
          <mss:MSS_SignatureResp xmlns:mss="http://uri.etsi.org/TS102204/v1.1.2#" MajorVersion="1" MinorVersion="1" MSSP_TransID="h2k3">
            <mss:AP_Info AP_ID="http://ap" AP_TransID="A1" Instant="2026-11-22T06:24:12Z"/>
            <mss:MSSP_Info><mss:MSSP_ID><mss:URI>http://mssp</mss:URI></mss:MSSP_ID></mss:MSSP_Info>
            <mss:MobileUser><mss:MSISDN>+84912345678</mss:MSISDN></mss:MobileUser>
            <mss:MSS_Signature><mss:Base64Signature>AQID
            BA==</mss:Base64Signature></mss:MSS_Signature>
            <mss:SignatureProfile><mss:mssURI>http://x</mss:mssURI></mss:SignatureProfile>
            <mss:Status><mss:StatusCode Value="500"/><mss:StatusMessage>SIGNATURE</mss:StatusMessage></mss:Status>
          </mss:MSS_SignatureResp></MSS_SignatureResponse></soapenv:Body></soapenv:Envelope>"#;
        let a = parse_answer(sync).unwrap();
        assert_eq!(a.status, 500);
        assert_eq!(a.message, "SIGNATURE");
        assert_eq!(a.mssp_trans_id.as_deref(), Some("h2k3"));
        assert_eq!(a.signature, Some(vec![1, 2, 3, 4]));
        let outstanding = r#"<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body>
          <MSS_StatusResp xmlns="http://uri.etsi.org/TS102204/v1.1.2#" MSSP_TransID="h2k3">
          <Status><StatusCode Value="504"/><StatusMessage>OUTSTANDING_TRANSACTION</StatusMessage></Status>
          </MSS_StatusResp></Body></Envelope>"#;
        let a = parse_answer(outstanding).unwrap();
        assert_eq!((a.status, a.signature), (504, None));
        // §7.2: faults carry the status as subcode mss:_NNN.
        let fault = r#"<soapenv:Envelope xmlns:soapenv="http://www.w3.org/2003/05/soap-envelope" xmlns:mss="http://uri.etsi.org/TS102204/v1.1.2#"><soapenv:Body><soapenv:Fault>
          <soapenv:Code><soapenv:Value>soapenv:Receiver</soapenv:Value><soapenv:Subcode><soapenv:Value>mss:_401</soapenv:Value></soapenv:Subcode></soapenv:Code>
          <soapenv:Reason><soapenv:Text xml:lang="en">USER_CANCEL</soapenv:Text></soapenv:Reason>
          </soapenv:Fault></soapenv:Body></soapenv:Envelope>"#;
        let a = parse_answer(fault).unwrap();
        assert_eq!((a.status, a.message.as_str()), (401, "USER_CANCEL"));
        // No DTDs, no entities.
        let evil = r#"<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>"#;
        assert!(parse_answer(evil).is_err());
        assert!(parse_answer("<x/>").is_err());
    }

    #[test]
    fn a_bare_signature_is_not_taken_for_pkcs7_and_broken_pkcs7_is_refused() {
        assert!(pkcs7_signature(&[0x5a; 256], b"").is_none());
        // ContentInfo { signedData, [0] SEQUENCE {} }: a SignedData, but malformed.
        let broken = [
            0x30, 0x0f, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0xa0,
            0x02, 0x30, 0x00,
        ];
        assert!(matches!(pkcs7_signature(&broken, b""), Some(Err(_))));
    }

    #[test]
    fn status_codes_become_errors_a_person_can_act_on() {
        let m = Mss {
            http: HttpClient::new("https://mssp.example.vn/mss", &RemoteOptions::default())
                .unwrap(),
            url: String::new(),
            msisdn: "+84912345678".into(),
            ap_id: String::new(),
            ap_pwd: None,
            mssp_id: None,
            profile: String::new(),
            mode: Mode::Synch,
            display: None,
            counter: AtomicU64::new(0),
            pkcs7: false,
            leaf: Vec::new(),
        };
        let a = |status: u16| Answer {
            status,
            message: String::new(),
            mssp_trans_id: Some("t".into()),
            signature: None,
        };
        assert!(matches!(m.step(a(401)), Err(Error::UserCancelled { .. })));
        assert!(matches!(
            m.step(a(402)),
            Err(Error::RemotePinBlocked { .. })
        ));
        assert!(matches!(
            m.step(a(208)),
            Err(Error::TransactionExpired { .. })
        ));
        assert_eq!(m.step(a(504)).unwrap(), Step::Pending("t".into()));
        assert!(m.step(a(500)).is_err(), "a SIGNATURE without a signature");
        let e = m.step(a(401)).unwrap_err().to_string();
        assert_eq!(
            e,
            "the signature request was refused on the phone of +84912345678; nothing was signed"
        );
    }

    #[test]
    fn key_reference_checks() {
        let r = |s: &str| match crate::KeyRef::parse(s).unwrap() {
            crate::KeyRef::Mss(r) => r,
            _ => unreachable!(),
        };
        let o = RemoteOptions::default();
        let e = open(&r("mss:hello?mssp=https://m&ap-id=x"), vec![], None, &o).unwrap_err();
        assert!(e.to_string().contains("not a phone number"), "{e}");
        let e = open(&r("mss:+84912345678?ap-id=x"), vec![], None, &o).unwrap_err();
        assert!(e.to_string().contains("mssp=URL"), "{e}");
        let e = open(
            &r("mss:+84912345678?mssp=https://m&ap-id=x"),
            vec![],
            None,
            &o,
        )
        .unwrap_err();
        assert!(e.to_string().contains("--cert"), "{e}");
        let e = open(
            &r("mss:+84912345678?mssp=http://mssp.vn/&ap-id=x"),
            vec![vec![0x30]],
            None,
            &o,
        )
        .unwrap_err();
        assert!(e.to_string().contains("https"), "{e}");
    }
}
