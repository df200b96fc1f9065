//! RFC 3161 time-stamp protocol (with the RFC 5816 update allowing ESSCertIDv2): requests
//! (§2.4.1), responses (§2.4.2), TSTInfo (§2.4.2), validation of a token as data (§2.4.2 and the
//! TSA certificate rule of §2.3), and issuing tokens for a TSA server.
//!
//! No network I/O: [`query`] goes through the [`crate::fetch::Fetcher`] the binaries implement. The TSA certificate's chain is
//! the caller's to validate; [`TokenCheck`] hands back the TSA certificate and the other
//! embedded certificates for that.

use crate::asn1::{self, tag, Reader, Tlv};
use crate::cert::Certificate;
use crate::cms::{
    self, int_u64, oid_tlv, oids, seq, CmsError, Content, EssCheck, SignedData, SignedDataBuilder,
    SignerCheck,
};
use crate::crypto::AlgorithmPolicy;
use const_oid::ObjectIdentifier;
use hsm::{HashAlgorithm, SignatureAlgorithm};
use time::OffsetDateTime;

/// Why a time-stamp message could not be read, built or evaluated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TspError {
    /// The encoding is broken.
    #[error("malformed time-stamp data at byte {offset}: {reason}")]
    Malformed {
        /// Byte offset within the input.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// The token's CMS could not be read.
    #[error("the time-stamp token's signature structure is unreadable")]
    Cms(#[from] CmsError),
    /// The SignedData does not hold a TSTInfo.
    #[error("the signed content is {0}, not a time-stamp (TSTInfo)")]
    NotTstInfo(ObjectIdentifier),
    /// A token must have exactly one signer (RFC 3161 §2.4.2).
    #[error("a time-stamp token has exactly one signer, this one has {0}")]
    SignerCount(usize),
    /// The response carries no token.
    #[error("the time-stamp authority answered {status} without a token{}", detail(.text, .fail_info))]
    NoToken {
        /// The status.
        status: PkiStatus,
        /// The status text, if any.
        text: Option<String>,
        /// The failure bits.
        fail_info: Option<FailureInfo>,
    },
    /// Random numbers could not be drawn.
    #[error("the system random number generator failed")]
    Random,
    /// The request could not be sent or answered.
    #[error("the time-stamp request to {url} failed")]
    Transport {
        /// Where it went.
        url: String,
        /// Why.
        #[source]
        source: crate::fetch::FetchError,
    },
    /// Building a message failed (bad input).
    #[error("cannot build the time-stamp message: {0}")]
    InvalidInput(String),
}

fn detail(text: &Option<String>, fail: &Option<FailureInfo>) -> String {
    let mut s = String::new();
    if let Some(f) = fail {
        s.push_str(&format!(" ({})", f.names().join(", ")));
    }
    if let Some(t) = text {
        s.push_str(&format!(": {t}"));
    }
    s
}

impl From<asn1::TlvError> for TspError {
    fn from(e: asn1::TlvError) -> Self {
        TspError::Malformed {
            offset: e.offset,
            reason: e.reason,
        }
    }
}

fn malformed(offset: usize, reason: &'static str) -> TspError {
    TspError::Malformed { offset, reason }
}

/// MIME type of a time-stamp request (RFC 3161 §3.4).
pub const TIMESTAMP_QUERY_TYPE: &str = "application/timestamp-query";
/// MIME type of a time-stamp response (RFC 3161 §3.4).
pub const TIMESTAMP_REPLY_TYPE: &str = "application/timestamp-reply";
/// Largest time-stamp response accepted (a token is a few KiB).
pub const MAX_RESPONSE: u64 = 1024 * 1024;

/// Sends `req` to `url` by HTTP POST (RFC 3161 §3.4) through `fetcher` and parses the
/// response. The caller validates the token (with the nonce it sent).
pub fn query(
    fetcher: &dyn crate::fetch::Fetcher,
    url: &str,
    req: &TimeStampReq,
) -> Result<TimeStampResp, TspError> {
    let body = fetcher
        .post(url, TIMESTAMP_QUERY_TYPE, &req.to_der(), MAX_RESPONSE)
        .map_err(|source| TspError::Transport {
            url: url.to_string(),
            source,
        })?;
    TimeStampResp::from_der(&body)
}

fn random_bytes(n: usize) -> Result<Vec<u8>, TspError> {
    let mut v = vec![0u8; n];
    aws_lc_rs::rand::fill(&mut v).map_err(|_| TspError::Random)?;
    Ok(v)
}

/// A random positive 64-bit nonce as INTEGER content octets.
pub fn random_nonce() -> Result<Vec<u8>, TspError> {
    positive(random_bytes(8)?)
}

/// A random positive 128-bit serial number as INTEGER content octets (unique without state).
pub fn random_serial() -> Result<Vec<u8>, TspError> {
    positive(random_bytes(16)?)
}

fn positive(mut v: Vec<u8>) -> Result<Vec<u8>, TspError> {
    if let Some(b) = v.first_mut() {
        // Top bit clear (positive) and non-zero first octet (minimal, never zero).
        *b = (*b & 0x7f) | 0x01;
    }
    Ok(v)
}

/// MessageImprint (RFC 3161 §2.4.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageImprint {
    /// hashAlgorithm's OID.
    pub hash_oid: ObjectIdentifier,
    /// hashedMessage.
    pub digest: Vec<u8>,
}

impl MessageImprint {
    /// The hash algorithm when known.
    pub fn hash(&self) -> Option<HashAlgorithm> {
        HashAlgorithm::from_oid(&self.hash_oid)
    }

    fn to_der(&self) -> Vec<u8> {
        seq(&[
            &seq(&[&oid_tlv(&self.hash_oid)]),
            &asn1::tlv(tag::OCTET_STRING, &self.digest),
        ])
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, TspError> {
        let t = r.expect(tag::SEQUENCE)?;
        let mut m = r.nested(&t);
        let alg = m.expect(tag::SEQUENCE)?;
        let mut a = m.nested(&alg);
        let hash_oid = read_oid(&mut a)?;
        let at = m.offset();
        let d = m.next_tlv()?;
        let mut digest = Vec::new();
        cms::octets(&m, &d, &mut digest).map_err(|_| malformed(at, "expected hashedMessage"))?;
        Ok(Self { hash_oid, digest })
    }
}

fn read_oid(r: &mut Reader<'_>) -> Result<ObjectIdentifier, TspError> {
    let at = r.offset();
    let t = r.expect(tag::OID)?;
    ObjectIdentifier::from_bytes(t.content).map_err(|_| malformed(at, "bad object identifier"))
}

fn read_bool(t: &Tlv<'_>, at: usize) -> Result<bool, TspError> {
    match t.content {
        [0] => Ok(false),
        [_] => Ok(true),
        _ => Err(malformed(at, "bad BOOLEAN")),
    }
}

/// TimeStampReq (RFC 3161 §2.4.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeStampReq {
    /// version (1).
    pub version: u32,
    /// messageImprint.
    pub message_imprint: MessageImprint,
    /// reqPolicy.
    pub policy: Option<ObjectIdentifier>,
    /// nonce (INTEGER content octets).
    pub nonce: Option<Vec<u8>>,
    /// certReq.
    pub cert_req: bool,
    /// Whether extensions were present (none are supported).
    pub has_extensions: bool,
}

impl TimeStampReq {
    /// A request for a `digest` made with `hash`, with a random 64-bit nonce and certReq set.
    pub fn new(hash: HashAlgorithm, digest: Vec<u8>) -> Result<Self, TspError> {
        if digest.len() != hash.output_len() {
            return Err(TspError::InvalidInput(format!(
                "a {} digest is {} bytes, not {}",
                hash.name(),
                hash.output_len(),
                digest.len()
            )));
        }
        Ok(Self {
            version: 1,
            message_imprint: MessageImprint {
                hash_oid: hash.oid(),
                digest,
            },
            policy: None,
            nonce: Some(random_nonce()?),
            cert_req: true,
            has_extensions: false,
        })
    }

    /// A request for `data`, hashed with `hash`.
    pub fn for_data(hash: HashAlgorithm, data: &[u8]) -> Result<Self, TspError> {
        Self::new(hash, hash.digest(data))
    }

    /// Asks for a TSA policy.
    pub fn with_policy(mut self, policy: ObjectIdentifier) -> Self {
        self.policy = Some(policy);
        self
    }

    /// The DER encoding.
    pub fn to_der(&self) -> Vec<u8> {
        let mut body = int_u64(u64::from(self.version));
        body.extend(self.message_imprint.to_der());
        if let Some(p) = &self.policy {
            body.extend(oid_tlv(p));
        }
        if let Some(n) = &self.nonce {
            body.extend(asn1::tlv(tag::INTEGER, n));
        }
        if self.cert_req {
            body.extend([0x01, 0x01, 0xff]);
        }
        asn1::tlv(tag::SEQUENCE, &body)
    }

    /// Parses a request (what a TSA receives).
    pub fn from_der(der: &[u8]) -> Result<Self, TspError> {
        let top = asn1::single(der, false, false)?;
        if top.tag != tag::SEQUENCE {
            return Err(malformed(0, "a TimeStampReq starts with a SEQUENCE"));
        }
        let mut r = Reader::der(der).nested(&top);
        let at = r.offset();
        let v = r.expect(tag::INTEGER)?;
        let version = cms::small_int(v.content).ok_or_else(|| malformed(at, "bad version"))?;
        let message_imprint = MessageImprint::read(&mut r)?;
        let policy = match r.peek_tag() {
            Some(tag::OID) => Some(read_oid(&mut r)?),
            _ => None,
        };
        let nonce = r.optional(tag::INTEGER)?.map(|t| t.content.to_vec());
        let at = r.offset();
        let cert_req = match r.optional(0x01)? {
            Some(b) => read_bool(&b, at)?,
            None => false,
        };
        let has_extensions = r.optional(tag::ctx(0))?.is_some();
        if !r.is_empty() {
            return Err(malformed(
                r.offset(),
                "extra data at the end of the request",
            ));
        }
        Ok(Self {
            version,
            message_imprint,
            policy,
            nonce,
            cert_req,
            has_extensions,
        })
    }
}

/// PKIStatus (RFC 3161 §2.4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PkiStatus {
    /// granted (0).
    Granted,
    /// grantedWithMods (1).
    GrantedWithMods,
    /// rejection (2).
    Rejection,
    /// waiting (3).
    Waiting,
    /// revocationWarning (4).
    RevocationWarning,
    /// revocationNotification (5).
    RevocationNotification,
    /// A value RFC 3161 does not define.
    Other(u32),
}

impl PkiStatus {
    fn from_u32(v: u32) -> Self {
        match v {
            0 => Self::Granted,
            1 => Self::GrantedWithMods,
            2 => Self::Rejection,
            3 => Self::Waiting,
            4 => Self::RevocationWarning,
            5 => Self::RevocationNotification,
            v => Self::Other(v),
        }
    }

    fn to_u32(self) -> u32 {
        match self {
            Self::Granted => 0,
            Self::GrantedWithMods => 1,
            Self::Rejection => 2,
            Self::Waiting => 3,
            Self::RevocationWarning => 4,
            Self::RevocationNotification => 5,
            Self::Other(v) => v,
        }
    }

    /// Whether a token comes with this status (granted or grantedWithMods).
    pub fn is_granted(self) -> bool {
        matches!(self, Self::Granted | Self::GrantedWithMods)
    }
}

impl std::fmt::Display for PkiStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Granted => f.write_str("granted"),
            Self::GrantedWithMods => f.write_str("grantedWithMods"),
            Self::Rejection => f.write_str("rejection"),
            Self::Waiting => f.write_str("waiting"),
            Self::RevocationWarning => f.write_str("revocationWarning"),
            Self::RevocationNotification => f.write_str("revocationNotification"),
            Self::Other(v) => write!(f, "unknown status {v}"),
        }
    }
}

/// PKIFailureInfo bits (RFC 3161 §2.4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailureInfo(pub u32);

impl FailureInfo {
    /// badAlg: unrecognised or unsupported algorithm.
    pub const BAD_ALG: u32 = 1 << 0;
    /// badRequest: transaction not permitted or supported.
    pub const BAD_REQUEST: u32 = 1 << 2;
    /// badDataFormat: the data submitted has the wrong format.
    pub const BAD_DATA_FORMAT: u32 = 1 << 5;
    /// timeNotAvailable.
    pub const TIME_NOT_AVAILABLE: u32 = 1 << 14;
    /// unacceptedPolicy.
    pub const UNACCEPTED_POLICY: u32 = 1 << 15;
    /// unacceptedExtension.
    pub const UNACCEPTED_EXTENSION: u32 = 1 << 16;
    /// addInfoNotAvailable.
    pub const ADD_INFO_NOT_AVAILABLE: u32 = 1 << 17;
    /// systemFailure.
    pub const SYSTEM_FAILURE: u32 = 1 << 25;

    const NAMES: [(u32, &'static str); 8] = [
        (Self::BAD_ALG, "badAlg"),
        (Self::BAD_REQUEST, "badRequest"),
        (Self::BAD_DATA_FORMAT, "badDataFormat"),
        (Self::TIME_NOT_AVAILABLE, "timeNotAvailable"),
        (Self::UNACCEPTED_POLICY, "unacceptedPolicy"),
        (Self::UNACCEPTED_EXTENSION, "unacceptedExtension"),
        (Self::ADD_INFO_NOT_AVAILABLE, "addInfoNotAvailable"),
        (Self::SYSTEM_FAILURE, "systemFailure"),
    ];

    /// The names of the bits set.
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES
            .iter()
            .filter(|(b, _)| self.0 & b != 0)
            .map(|(_, n)| *n)
            .collect()
    }

    /// The named-bit-list BIT STRING (DER: trailing zero bits dropped).
    fn to_der(self) -> Vec<u8> {
        let top = 32 - self.0.leading_zeros() as usize; // bits 0..top-1 in use
        let nbytes = top.div_ceil(8).max(1);
        let mut bytes = vec![0u8; nbytes];
        for bit in 0..top {
            if self.0 & (1 << bit) != 0 {
                bytes[bit / 8] |= 0x80 >> (bit % 8);
            }
        }
        let unused = if top == 0 {
            0
        } else {
            (nbytes * 8 - top) as u8
        };
        let mut c = vec![unused];
        c.extend(bytes);
        asn1::tlv(tag::BIT_STRING, &c)
    }

    fn from_content(c: &[u8]) -> Option<Self> {
        let (_, bits) = c.split_first()?;
        let mut v = 0u32;
        for (i, b) in bits.iter().enumerate().take(4) {
            for j in 0..8 {
                if b & (0x80 >> j) != 0 {
                    v |= 1 << (i * 8 + j);
                }
            }
        }
        Some(Self(v))
    }
}

/// TimeStampResp (RFC 3161 §2.4.2).
#[derive(Clone, Debug)]
pub struct TimeStampResp {
    /// PKIStatusInfo.status.
    pub status: PkiStatus,
    /// PKIStatusInfo.statusString.
    pub status_strings: Vec<String>,
    /// PKIStatusInfo.failInfo.
    pub fail_info: Option<FailureInfo>,
    /// timeStampToken.
    pub token: Option<TimeStampToken>,
}

impl TimeStampResp {
    /// Parses a response (BER and trailing zero padding tolerated).
    pub fn from_der(data: &[u8]) -> Result<Self, TspError> {
        let top = asn1::single(data, true, true)?;
        if top.tag != tag::SEQUENCE {
            return Err(malformed(0, "a TimeStampResp starts with a SEQUENCE"));
        }
        let mut r = Reader::ber(data).nested(&top);
        let si = r.expect(tag::SEQUENCE)?;
        let mut s = r.nested(&si);
        let at = s.offset();
        let st = s.expect(tag::INTEGER)?;
        let status = PkiStatus::from_u32(
            cms::small_int(st.content).ok_or_else(|| malformed(at, "bad status"))?,
        );
        let mut status_strings = Vec::new();
        if let Some(t) = s.optional(tag::SEQUENCE)? {
            let mut tr = s.nested(&t);
            while !tr.is_empty() {
                let u = tr.next_tlv()?;
                status_strings.push(String::from_utf8_lossy(u.content).into_owned());
            }
        }
        let fail_info = s
            .optional(tag::BIT_STRING)?
            .and_then(|b| FailureInfo::from_content(b.content));
        let token = match r.peek_tag() {
            Some(_) => {
                let t = r.expect(tag::SEQUENCE)?;
                Some(TimeStampToken::from_der(t.raw)?)
            }
            None => None,
        };
        if !r.is_empty() {
            return Err(malformed(
                r.offset(),
                "extra data at the end of the response",
            ));
        }
        Ok(Self {
            status,
            status_strings,
            fail_info,
            token,
        })
    }

    /// The token, or an error that says why there is none.
    pub fn into_token(self) -> Result<TimeStampToken, TspError> {
        match self.token {
            Some(t) if self.status.is_granted() => Ok(t),
            _ => Err(TspError::NoToken {
                status: self.status,
                text: (!self.status_strings.is_empty()).then(|| self.status_strings.join("; ")),
                fail_info: self.fail_info,
            }),
        }
    }
}

/// Accuracy (RFC 3161 §2.4.2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Accuracy {
    /// seconds.
    pub seconds: u32,
    /// millis (0 when absent).
    pub millis: u32,
    /// micros (0 when absent).
    pub micros: u32,
}

impl Accuracy {
    fn to_der(self) -> Vec<u8> {
        let mut c = Vec::new();
        if self.seconds > 0 {
            c.extend(int_u64(u64::from(self.seconds)));
        }
        if self.millis > 0 {
            let mut m = int_u64(u64::from(self.millis));
            m[0] = tag::ctx_prim(0);
            c.extend(m);
        }
        if self.micros > 0 {
            let mut m = int_u64(u64::from(self.micros));
            m[0] = tag::ctx_prim(1);
            c.extend(m);
        }
        asn1::tlv(tag::SEQUENCE, &c)
    }
}

/// TSTInfo (RFC 3161 §2.4.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TstInfo {
    /// version (1).
    pub version: u32,
    /// policy.
    pub policy: ObjectIdentifier,
    /// messageImprint.
    pub message_imprint: MessageImprint,
    /// serialNumber (INTEGER content octets).
    pub serial: Vec<u8>,
    /// genTime, with its fraction of a second.
    pub gen_time: OffsetDateTime,
    /// genTime as encoded.
    pub gen_time_text: String,
    /// accuracy.
    pub accuracy: Option<Accuracy>,
    /// ordering.
    pub ordering: bool,
    /// nonce (INTEGER content octets).
    pub nonce: Option<Vec<u8>>,
    /// tsa: the GeneralName's DER.
    pub tsa: Option<Vec<u8>>,
    /// extensions, raw.
    pub extensions: Option<Vec<u8>>,
}

/// Parses a GeneralizedTime's content (`YYYYMMDDHHMMSS[.f...]Z`) keeping the fraction.
pub fn parse_generalized_time(s: &[u8]) -> Option<OffsetDateTime> {
    let s = std::str::from_utf8(s).ok()?;
    let s = s.strip_suffix('Z')?;
    let (main, frac) = s.split_once('.').unwrap_or((s, ""));
    if main.len() != 14 || !main.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 || s.ends_with('.') {
        return None;
    }
    let n = |a: usize, b: usize| main[a..b].parse::<u32>().ok();
    let date = time::Date::from_calendar_date(
        i32::try_from(n(0, 4)?).ok()?,
        time::Month::try_from(u8::try_from(n(4, 6)?).ok()?).ok()?,
        u8::try_from(n(6, 8)?).ok()?,
    )
    .ok()?;
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    let tm = time::Time::from_hms_nano(
        u8::try_from(n(8, 10)?).ok()?,
        u8::try_from(n(10, 12)?).ok()?,
        u8::try_from(n(12, 14)?).ok()?,
        nanos,
    )
    .ok()?;
    Some(time::PrimitiveDateTime::new(date, tm).assume_utc())
}

impl TstInfo {
    /// Parses a TSTInfo.
    pub fn from_der(der: &[u8]) -> Result<Self, TspError> {
        let top = asn1::single(der, true, false)?;
        if top.tag != tag::SEQUENCE {
            return Err(malformed(0, "a TSTInfo starts with a SEQUENCE"));
        }
        let mut r = Reader::ber(der).nested(&top);
        let at = r.offset();
        let v = r.expect(tag::INTEGER)?;
        let version = cms::small_int(v.content).ok_or_else(|| malformed(at, "bad version"))?;
        let policy = read_oid(&mut r)?;
        let message_imprint = MessageImprint::read(&mut r)?;
        let serial = r.expect(tag::INTEGER)?.content.to_vec();
        let at = r.offset();
        let gt = r.expect(tag::GENERALIZED_TIME)?;
        let gen_time =
            parse_generalized_time(gt.content).ok_or_else(|| malformed(at, "bad genTime"))?;
        let gen_time_text = String::from_utf8_lossy(gt.content).into_owned();
        let accuracy = match r.optional(tag::SEQUENCE)? {
            Some(a) => {
                let mut ar = r.nested(&a);
                let mut acc = Accuracy::default();
                while !ar.is_empty() {
                    let at = ar.offset();
                    let t = ar.next_tlv()?;
                    let v = cms::small_int(t.content)
                        .ok_or_else(|| malformed(at, "bad accuracy value"))?;
                    match t.tag {
                        tag::INTEGER => acc.seconds = v,
                        0x80 => acc.millis = v,
                        0x81 => acc.micros = v,
                        _ => return Err(malformed(at, "unknown accuracy field")),
                    }
                }
                Some(acc)
            }
            None => None,
        };
        let at = r.offset();
        let ordering = match r.optional(0x01)? {
            Some(b) => read_bool(&b, at)?,
            None => false,
        };
        let nonce = r.optional(tag::INTEGER)?.map(|t| t.content.to_vec());
        let tsa = match r.optional(tag::ctx(0))? {
            Some(t) => {
                let mut tr = r.nested(&t);
                Some(tr.next_tlv()?.raw.to_vec())
            }
            None => None,
        };
        let extensions = r.optional(tag::ctx(1))?.map(|t| t.raw.to_vec());
        if !r.is_empty() {
            return Err(malformed(r.offset(), "extra data at the end of TSTInfo"));
        }
        Ok(Self {
            version,
            policy,
            message_imprint,
            serial,
            gen_time,
            gen_time_text,
            accuracy,
            ordering,
            nonce,
            tsa,
            extensions,
        })
    }

    /// The TSA's name when it is a directoryName.
    pub fn tsa_name(&self) -> Option<crate::name::Name> {
        let t = asn1::single(self.tsa.as_deref()?, false, false).ok()?;
        if t.tag != tag::ctx(4) {
            return None;
        }
        crate::name::Name::from_der(t.content).ok()
    }

    /// The serial number in hex.
    pub fn serial_hex(&self) -> String {
        crate::cert::serial_hex(&self.serial)
    }
}

/// A time-stamp token: a ContentInfo with SignedData over a TSTInfo (RFC 3161 §2.4.2).
#[derive(Clone, Debug)]
pub struct TimeStampToken {
    /// The token's encoding (the ContentInfo), as received.
    pub der: Vec<u8>,
    /// The SignedData.
    pub signed_data: SignedData,
    /// The TSTInfo.
    pub tst_info: TstInfo,
}

impl TimeStampToken {
    /// Parses a token (a ContentInfo; BER and trailing zero padding tolerated).
    pub fn from_der(data: &[u8]) -> Result<Self, TspError> {
        let signed_data = SignedData::parse(data)?;
        if signed_data.econtent_type != oids::TST_INFO {
            return Err(TspError::NotTstInfo(signed_data.econtent_type));
        }
        if signed_data.signer_infos.len() != 1 {
            return Err(TspError::SignerCount(signed_data.signer_infos.len()));
        }
        let econtent = signed_data
            .econtent
            .as_deref()
            .ok_or(TspError::Cms(CmsError::ContentMissing))?;
        let tst_info = TstInfo::from_der(econtent)?;
        let end = asn1::single(data, true, true)?.raw.len();
        Ok(Self {
            der: data[..end].to_vec(),
            tst_info,
            signed_data,
        })
    }

    /// Reads either a whole TimeStampResp (a `.tsr`) or a bare token, told apart by the first
    /// inner element (a response starts with the PKIStatusInfo SEQUENCE, a token with the
    /// content type OID), so a damaged input gets the error of what it was meant to be.
    pub fn from_response_or_token(data: &[u8]) -> Result<Self, TspError> {
        if first_inner_tag(data) == Some(tag::SEQUENCE) {
            TimeStampResp::from_der(data)?.into_token()
        } else {
            Self::from_der(data)
        }
    }

    /// Validates the token as data: the CMS signature (RFC 5652), the message imprint against
    /// `expected`, the nonce when one was sent, the TSA certificate's extended key usage (only
    /// id-kp-timeStamping, critical: RFC 3161 §2.3) and the ESS signing-certificate attribute
    /// (required by §2.4.2, V2 per RFC 5816). The chain is the caller's to check.
    pub fn validate(
        &self,
        expected: Imprint<'_>,
        nonce: Option<&[u8]>,
        extra_certs: &[Certificate],
        policy: &AlgorithmPolicy,
    ) -> Result<TokenCheck, TspError> {
        let cms = self
            .signed_data
            .verify_signer(0, Content::Attached, extra_certs, policy)?;
        let mi = &self.tst_info.message_imprint;
        let imprint = match (expected, mi.hash()) {
            (Imprint::Digest(d), _) => {
                if d == mi.digest.as_slice() {
                    ImprintCheck::Match
                } else {
                    ImprintCheck::Mismatch
                }
            }
            (Imprint::Data(data), Some(h)) => {
                if h.digest(data) == mi.digest {
                    ImprintCheck::Match
                } else {
                    ImprintCheck::Mismatch
                }
            }
            (Imprint::Data(_), None) => ImprintCheck::UnknownHash(mi.hash_oid),
        };
        let nonce = match (nonce, &self.tst_info.nonce) {
            (None, _) => NonceCheck::NotSent,
            (Some(_), None) => NonceCheck::Missing,
            (Some(a), Some(b)) => {
                if strip(a) == strip(b) {
                    NonceCheck::Match
                } else {
                    NonceCheck::Mismatch
                }
            }
        };
        let tsa_cert = cms.signer_cert.clone();
        let tsa_eku = tsa_cert.as_ref().map_or(EkuCheck::NotChecked, eku_check);
        let gen_time = self.tst_info.gen_time;
        let tsa_cert_valid_at_gen_time = tsa_cert.as_ref().is_some_and(|c| c.valid_at(gen_time));
        // §2.4.2: a tsa name, when given, must be one of the TSA certificate's subject names.
        let tsa_name_matches = match (&self.tst_info.tsa, &tsa_cert) {
            // Other GeneralName forms (a URI in subjectAltName) are not compared.
            (Some(_), Some(c)) => self
                .tst_info
                .tsa_name()
                .map(|n| n.match_key() == c.subject_key()),
            _ => None,
        };
        let other_certs = self
            .signed_data
            .parsed_certificates()
            .into_iter()
            .filter(|c| Some(c) != tsa_cert.as_ref())
            .collect();
        Ok(TokenCheck {
            cms,
            imprint,
            nonce,
            tsa_eku,
            tsa_cert,
            other_certs,
            tsa_cert_valid_at_gen_time,
            tsa_name_matches,
            tst_version: self.tst_info.version,
            gen_time,
        })
    }
}

/// The tag of the first element inside the outer one, from the header alone (works on
/// truncated input).
fn first_inner_tag(data: &[u8]) -> Option<u8> {
    let l0 = *data.get(1)?;
    let header = if l0 <= 0x80 {
        2
    } else {
        2 + usize::from(l0 & 0x7f)
    };
    data.get(header).copied()
}

fn strip(v: &[u8]) -> &[u8] {
    let mut v = v;
    while v.len() > 1 && v[0] == 0 {
        v = &v[1..];
    }
    v
}

fn eku_check(c: &Certificate) -> EkuCheck {
    let raw = c
        .raw_extensions()
        .iter()
        .find(|e| e.oid == crate::oid::EXT_EXT_KEY_USAGE);
    match (raw, &c.extensions().ext_key_usage) {
        (None, _) | (Some(_), None) => EkuCheck::Missing,
        (Some(e), Some(list)) => {
            if list.as_slice() != [crate::oid::EKU_TIME_STAMPING] {
                EkuCheck::NotOnlyTimeStamping(list.clone())
            } else if !e.critical {
                EkuCheck::NotCritical
            } else {
                EkuCheck::Ok
            }
        }
    }
}

/// What the message imprint is compared with.
#[derive(Clone, Copy, Debug)]
pub enum Imprint<'a> {
    /// The time-stamped data (hashed with the token's hash algorithm).
    Data(&'a [u8]),
    /// The expected hashedMessage.
    Digest(&'a [u8]),
}

/// The message imprint check.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImprintCheck {
    /// The token is over the expected data.
    Match,
    /// The token is over something else.
    Mismatch,
    /// The token's hash algorithm is unknown, so the data could not be hashed.
    UnknownHash(ObjectIdentifier),
}

/// The nonce check.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NonceCheck {
    /// No nonce was sent.
    NotSent,
    /// The token echoes the nonce.
    Match,
    /// The token carries another nonce.
    Mismatch,
    /// A nonce was sent and the token has none.
    Missing,
}

/// The TSA certificate's extended key usage (RFC 3161 §2.3).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EkuCheck {
    /// Exactly id-kp-timeStamping, critical.
    Ok,
    /// Exactly id-kp-timeStamping, but not critical.
    NotCritical,
    /// Other purposes besides or instead of id-kp-timeStamping.
    NotOnlyTimeStamping(Vec<ObjectIdentifier>),
    /// No extended key usage.
    Missing,
    /// No TSA certificate found.
    NotChecked,
}

/// Findings on a token.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TokenCheck {
    /// The CMS signature findings (signer certificate, signature, ESS attribute).
    pub cms: SignerCheck,
    /// The message imprint.
    pub imprint: ImprintCheck,
    /// The nonce.
    pub nonce: NonceCheck,
    /// The TSA certificate's extended key usage.
    pub tsa_eku: EkuCheck,
    /// The TSA certificate (the token's signer), for path validation.
    pub tsa_cert: Option<Certificate>,
    /// The other certificates embedded in the token, for path building.
    pub other_certs: Vec<Certificate>,
    /// Whether genTime is within the TSA certificate's validity.
    pub tsa_cert_valid_at_gen_time: bool,
    /// Whether the TSTInfo's tsa name is the TSA certificate's subject (`None`: no name given,
    /// or a GeneralName form other than directoryName, which is not compared).
    pub tsa_name_matches: Option<bool>,
    /// TSTInfo version (1 is the only one defined).
    pub tst_version: u32,
    /// The token's genTime.
    pub gen_time: OffsetDateTime,
}

impl TokenCheck {
    /// Whether the token is valid as data (everything but the chain).
    pub fn is_valid(&self) -> bool {
        self.problems().is_empty()
    }

    /// The ETSI EN 319 102-1 indication and sub-indication for the token as data (the TSA
    /// certificate's chain comes on top): a token over other data is HASH_FAILURE, a wrong
    /// signature SIG_CRYPTO_FAILURE, a TSA certificate not found or not named by the ESS
    /// attribute NO_SIGNING_CERTIFICATE_FOUND (indeterminate), a TSA certificate unfit for time
    /// stamping CHAIN_CONSTRAINTS_FAILURE, a genTime outside its validity EXPIRED or
    /// NOT_YET_VALID; other defects (nonce, missing ESS attribute, version) FORMAT_FAILURE.
    pub fn indication(&self) -> (crate::report::Indication, Option<&'static str>) {
        use crate::report::Indication::*;
        if self.is_valid() {
            return (TotalPassed, None);
        }
        if self.imprint != ImprintCheck::Match {
            return (TotalFailed, Some("HASH_FAILURE"));
        }
        let cms = self.cms.indication();
        if cms.0 != TotalPassed {
            return cms;
        }
        if !matches!(self.tsa_eku, EkuCheck::Ok | EkuCheck::NotChecked) {
            return (TotalFailed, Some("CHAIN_CONSTRAINTS_FAILURE"));
        }
        if let Some(c) = &self.tsa_cert {
            if !self.tsa_cert_valid_at_gen_time {
                return if self.gen_time > c.not_after() {
                    (TotalFailed, Some("EXPIRED"))
                } else {
                    (TotalFailed, Some("NOT_YET_VALID"))
                };
            }
        }
        (TotalFailed, Some("FORMAT_FAILURE"))
    }

    /// One sentence per problem.
    pub fn problems(&self) -> Vec<String> {
        let mut p = self.cms.problems();
        if self.cms.signing_certificate == EssCheck::Absent {
            p.push("the token has no signing-certificate attribute (RFC 3161 §2.4.2)".into());
        }
        match &self.imprint {
            ImprintCheck::Match => {}
            ImprintCheck::Mismatch => {
                p.push("the token is for different data (message imprint mismatch)".into())
            }
            ImprintCheck::UnknownHash(o) => {
                p.push(format!("the token's hash algorithm {o} is not supported"))
            }
        }
        match self.nonce {
            NonceCheck::Mismatch => p.push("the nonce in the token is not the one sent".into()),
            NonceCheck::Missing => p.push("the token does not echo the nonce sent".into()),
            _ => {}
        }
        match &self.tsa_eku {
            EkuCheck::Ok | EkuCheck::NotChecked => {}
            EkuCheck::NotCritical => p.push(
                "the TSA certificate's timeStamping extended key usage is not critical (RFC 3161 §2.3)"
                    .into(),
            ),
            EkuCheck::NotOnlyTimeStamping(_) => p.push(
                "the TSA certificate's extended key usage is not timeStamping alone (RFC 3161 §2.3)"
                    .into(),
            ),
            EkuCheck::Missing => p.push(
                "the TSA certificate has no timeStamping extended key usage (RFC 3161 §2.3)".into(),
            ),
        }
        if self.tsa_name_matches == Some(false) {
            p.push("the token's TSA name is not the TSA certificate's subject".into());
        }
        if self.tst_version != 1 {
            p.push(format!("unknown TSTInfo version {}", self.tst_version));
        }
        if self.tsa_cert.is_some() && !self.tsa_cert_valid_at_gen_time {
            p.push("the time-stamp lies outside the TSA certificate's validity".into());
        }
        p
    }
}

/// A request for a signature time-stamp over signer `signer`'s signature value (RFC 3161
/// appendix A; CAdES/PAdES B-T).
pub fn request_for_signature(
    sd: &SignedData,
    signer: usize,
    hash: HashAlgorithm,
) -> Result<TimeStampReq, TspError> {
    let si = sd
        .signer_infos
        .get(signer)
        .ok_or(TspError::Cms(CmsError::NoSuchSigner(signer)))?;
    TimeStampReq::for_data(hash, &si.signature)
}

/// Adds `token` as an id-aa-signatureTimeStampToken unsigned attribute of signer `signer`,
/// after checking that it time-stamps that signature value.
pub fn add_signature_timestamp(
    sd: &mut SignedData,
    signer: usize,
    token: &TimeStampToken,
) -> Result<(), TspError> {
    let si = sd
        .signer_infos
        .get(signer)
        .ok_or(TspError::Cms(CmsError::NoSuchSigner(signer)))?;
    let mi = &token.tst_info.message_imprint;
    let matches = mi
        .hash()
        .is_some_and(|h| h.digest(&si.signature) == mi.digest);
    if !matches {
        return Err(TspError::InvalidInput(
            "the time-stamp is not over this signature value".into(),
        ));
    }
    let end = asn1::single(&token.der, true, true)?.raw.len();
    sd.add_unsigned_attribute(
        signer,
        oids::SIGNATURE_TIMESTAMP_TOKEN,
        vec![token.der[..end].to_vec()],
    )?;
    Ok(())
}

/// The signature time-stamp tokens in signer `signer`'s unsigned attributes, each parsed.
pub fn signature_timestamps(
    sd: &SignedData,
    signer: usize,
) -> Vec<Result<TimeStampToken, TspError>> {
    sd.signer_infos
        .get(signer)
        .and_then(|si| si.unsigned_attrs.as_ref())
        .map(|ua| {
            ua.get(oids::SIGNATURE_TIMESTAMP_TOKEN)
                .flat_map(|a| a.values.iter())
                .map(|v| TimeStampToken::from_der(v))
                .collect()
        })
        .unwrap_or_default()
}

impl TimeStampToken {
    /// The report entry for this token (CONTRACT.md `timestamp`): genTime in UTC, the TSA's
    /// name, and whether `check` (and the caller's chain validation, `chain_ok`) passed.
    pub fn report_entry(&self, check: &TokenCheck, chain_ok: bool) -> crate::report::Timestamp {
        let tsa = self
            .tst_info
            .tsa_name()
            .or_else(|| check.tsa_cert.as_ref().map(|c| c.subject().clone()))
            .map(|n| n.to_string())
            .unwrap_or_default();
        crate::report::Timestamp {
            time: crate::time::rfc3339_utc(self.tst_info.gen_time),
            tsa,
            valid: chain_ok && check.is_valid(),
        }
    }
}

/// A time-stamping authority's key, certificate and settings.
#[derive(Debug)]
pub struct Tsa<'a> {
    /// The TSA certificate (critical id-kp-timeStamping).
    pub cert: &'a Certificate,
    /// Issuing CA certificates to embed when certReq is set.
    pub chain: &'a [Certificate],
    /// The TSA key.
    pub signer: &'a dyn hsm::Signer,
    /// The signature algorithm (one of the signer's).
    pub algorithm: SignatureAlgorithm,
    /// The TSA policy.
    pub policy: ObjectIdentifier,
    /// The accuracy claimed.
    pub accuracy: Option<Accuracy>,
}

impl Tsa<'_> {
    /// Answers a DER request: a token, or a rejection (badDataFormat for an unreadable request,
    /// badAlg, unacceptedPolicy, unacceptedExtension, badRequest; systemFailure when signing
    /// fails). Never fails: the answer is always a TimeStampResp.
    pub fn respond(&self, req_der: &[u8], gen_time: OffsetDateTime, serial: &[u8]) -> Vec<u8> {
        match TimeStampReq::from_der(req_der) {
            Ok(req) => match self.issue_token(&req, gen_time, serial) {
                Ok(r) => r,
                Err(_) => rejection(
                    FailureInfo(FailureInfo::SYSTEM_FAILURE),
                    "the time-stamp could not be signed",
                ),
            },
            Err(_) => rejection(
                FailureInfo(FailureInfo::BAD_DATA_FORMAT),
                "the request is not a DER TimeStampReq",
            ),
        }
    }

    /// Issues a token for `req` and returns the TimeStampResp DER: genTime (to the
    /// millisecond), serial, the policy, the nonce echoed, signingCertificateV2, the TSA name,
    /// and the certificates when certReq is set. Requests this TSA cannot honour get a
    /// rejection response; `Err` only when signing fails.
    pub fn issue_token(
        &self,
        req: &TimeStampReq,
        gen_time: OffsetDateTime,
        serial: &[u8],
    ) -> Result<Vec<u8>, TspError> {
        let reject = |bit: u32, text: &str| Ok(rejection(FailureInfo(bit), text));
        if req.version != 1 {
            return reject(
                FailureInfo::BAD_REQUEST,
                "only version 1 requests are served",
            );
        }
        let Some(h) = req.message_imprint.hash() else {
            return reject(FailureInfo::BAD_ALG, "the hash algorithm is not supported");
        };
        if req.message_imprint.digest.len() != h.output_len() {
            return reject(
                FailureInfo::BAD_DATA_FORMAT,
                "the message imprint has the wrong length for its hash algorithm",
            );
        }
        if req.policy.is_some_and(|p| p != self.policy) {
            return reject(
                FailureInfo::UNACCEPTED_POLICY,
                "the requested policy is not served",
            );
        }
        if req.has_extensions {
            return reject(
                FailureInfo::UNACCEPTED_EXTENSION,
                "extensions are not supported",
            );
        }
        if serial.is_empty() || serial[0] & 0x80 != 0 {
            return Err(TspError::InvalidInput(
                "the serial number must be positive INTEGER content".into(),
            ));
        }
        let tst = self.tst_info_der(req, gen_time, serial);
        let mut b = SignedDataBuilder::new(self.cert.clone(), self.algorithm)
            .content_type(oids::TST_INFO)
            .attached(tst);
        if req.cert_req {
            b = b.certificates(self.chain.iter().map(|c| c.der().to_vec()));
        } else {
            b = b.no_certificates();
        }
        let token = b.sign(self.signer)?;
        Ok(seq(&[&seq(&[&int_u64(0)]), &token]))
    }

    fn tst_info_der(&self, req: &TimeStampReq, gen_time: OffsetDateTime, serial: &[u8]) -> Vec<u8> {
        let mut body = int_u64(1);
        body.extend(oid_tlv(&self.policy));
        body.extend(req.message_imprint.to_der());
        body.extend(asn1::tlv(tag::INTEGER, serial));
        body.extend(cms::generalized_time(gen_time, 3));
        if let Some(a) = self.accuracy {
            body.extend(a.to_der());
        }
        if let Some(n) = &req.nonce {
            body.extend(asn1::tlv(tag::INTEGER, n));
        }
        let gn = asn1::tlv(tag::ctx(4), self.cert.subject_der());
        body.extend(asn1::tlv(tag::ctx(0), &gn));
        asn1::tlv(tag::SEQUENCE, &body)
    }
}

/// A rejection response (RFC 3161 §2.4.2) with `fail` and a status text.
pub fn rejection(fail: FailureInfo, text: &str) -> Vec<u8> {
    let status = seq(&[
        &int_u64(u64::from(PkiStatus::Rejection.to_u32())),
        &seq(&[&asn1::tlv(0x0c, text.as_bytes())]),
        &fail.to_der(),
    ]);
    seq(&[&status])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{eku_time_stamping, pki};
    use hsm::{KeyKind, Signer, SoftwareKey};

    struct Fixture {
        ca: Certificate,
        key: SoftwareKey,
        cert: Certificate,
    }

    fn fixture(critical: bool) -> Fixture {
        let (ca, key, cert) = pki(KeyKind::EcP256, &[eku_time_stamping(critical)]);
        Fixture { ca, key, cert }
    }

    const POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.99999.1");

    fn tsa(f: &Fixture) -> Tsa<'_> {
        Tsa {
            cert: &f.cert,
            chain: std::slice::from_ref(&f.ca),
            signer: &f.key,
            algorithm: f.key.algorithms()[0],
            policy: POLICY,
            accuracy: Some(Accuracy {
                seconds: 1,
                millis: 0,
                micros: 0,
            }),
        }
    }

    fn gen_time() -> OffsetDateTime {
        time::macros::datetime!(2025-03-20 03:00:00.125 UTC)
    }

    #[test]
    fn issue_and_validate() {
        let f = fixture(true);
        let req = TimeStampReq::for_data(HashAlgorithm::Sha256, b"data").unwrap();
        let again = TimeStampReq::from_der(&req.to_der()).unwrap();
        assert_eq!(again, req);
        let resp = tsa(&f).respond(&req.to_der(), gen_time(), &[0x01, 0x02]);
        let resp = TimeStampResp::from_der(&resp).unwrap();
        assert_eq!(resp.status, PkiStatus::Granted);
        let tok = resp.into_token().unwrap();
        let info = &tok.tst_info;
        assert_eq!(info.gen_time, gen_time());
        assert_eq!(info.gen_time_text, "20250320030000.125Z");
        assert_eq!(info.policy, POLICY);
        assert_eq!(info.serial_hex(), "0102");
        assert_eq!(info.nonce, req.nonce);
        assert_eq!(info.accuracy.unwrap().seconds, 1);
        assert_eq!(info.tsa_name().unwrap().common_name(), Some("Nguyễn Văn A"));
        let check = tok
            .validate(
                Imprint::Data(b"data"),
                req.nonce.as_deref(),
                &[],
                &AlgorithmPolicy::default(),
            )
            .unwrap();
        assert!(check.is_valid(), "{:?}", check.problems());
        assert_eq!(check.tsa_eku, EkuCheck::Ok);
        assert_eq!(check.nonce, NonceCheck::Match);
        assert_eq!(check.cms.signing_certificate, EssCheck::MatchesV2);
        assert_eq!(check.tsa_cert.as_ref(), Some(&f.cert));
        assert_eq!(check.other_certs, vec![f.ca.clone()]);
        let entry = tok.report_entry(&check, true);
        assert_eq!(entry.time, "2025-03-20T03:00:00Z");
        assert!(entry.valid);
        assert!(entry.tsa.contains("Nguyễn Văn A"));

        let bad = tok
            .validate(
                Imprint::Data(b"Data"),
                Some(&[1]),
                &[],
                &AlgorithmPolicy::default(),
            )
            .unwrap();
        assert_eq!(bad.imprint, ImprintCheck::Mismatch);
        assert_eq!(bad.nonce, NonceCheck::Mismatch);
        assert!(!bad.is_valid());
        assert_eq!(
            bad.indication(),
            (crate::report::Indication::TotalFailed, Some("HASH_FAILURE"))
        );
        assert_eq!(
            check.indication(),
            (crate::report::Indication::TotalPassed, None)
        );
        let by_digest = tok
            .validate(
                Imprint::Digest(&HashAlgorithm::Sha256.digest(b"data")),
                None,
                &[],
                &AlgorithmPolicy::default(),
            )
            .unwrap();
        assert!(by_digest.is_valid());
    }

    #[test]
    fn cert_req_false_embeds_nothing() {
        let f = fixture(true);
        let mut req = TimeStampReq::for_data(HashAlgorithm::Sha384, b"d").unwrap();
        req.cert_req = false;
        req.nonce = None;
        let tok = TimeStampToken::from_response_or_token(&tsa(&f).respond(
            &req.to_der(),
            gen_time(),
            &[0x05],
        ))
        .unwrap();
        assert!(tok.signed_data.certificates.is_empty());
        let p = AlgorithmPolicy::default();
        let c = tok.validate(Imprint::Data(b"d"), None, &[], &p).unwrap();
        assert!(!c.is_valid());
        assert_eq!(
            c.indication(),
            (
                crate::report::Indication::Indeterminate,
                Some("NO_SIGNING_CERTIFICATE_FOUND")
            )
        );
        let c = tok
            .validate(Imprint::Data(b"d"), None, std::slice::from_ref(&f.cert), &p)
            .unwrap();
        assert!(c.is_valid(), "{:?}", c.problems());
        // A bare token reads too.
        assert!(TimeStampToken::from_response_or_token(&tok.der).is_ok());
    }

    #[test]
    fn non_critical_eku_is_invalid() {
        let f = fixture(false);
        let req = TimeStampReq::for_data(HashAlgorithm::Sha256, b"d").unwrap();
        let tok = TimeStampToken::from_response_or_token(&tsa(&f).respond(
            &req.to_der(),
            gen_time(),
            &[1],
        ))
        .unwrap();
        let c = tok
            .validate(Imprint::Data(b"d"), None, &[], &AlgorithmPolicy::default())
            .unwrap();
        assert_eq!(c.tsa_eku, EkuCheck::NotCritical);
        assert!(!c.is_valid());
        assert_eq!(
            c.indication(),
            (
                crate::report::Indication::TotalFailed,
                Some("CHAIN_CONSTRAINTS_FAILURE")
            )
        );
    }

    #[test]
    fn rejections() {
        let f = fixture(true);
        let t = tsa(&f);
        let fail = |der: &[u8]| {
            let r = TimeStampResp::from_der(&t.respond(der, gen_time(), &[1])).unwrap();
            assert_eq!(r.status, PkiStatus::Rejection);
            assert!(r.token.is_none());
            assert!(!r.status_strings.is_empty());
            r.fail_info.unwrap()
        };
        assert_eq!(fail(b"junk").0, FailureInfo::BAD_DATA_FORMAT);
        let mut req = TimeStampReq::for_data(HashAlgorithm::Sha256, b"d").unwrap();
        req.message_imprint.hash_oid = ObjectIdentifier::new_unwrap("1.2.3");
        assert_eq!(fail(&req.to_der()).0, FailureInfo::BAD_ALG);
        let mut req = TimeStampReq::for_data(HashAlgorithm::Sha256, b"d").unwrap();
        req.message_imprint.digest.pop();
        assert_eq!(fail(&req.to_der()).0, FailureInfo::BAD_DATA_FORMAT);
        let req = TimeStampReq::for_data(HashAlgorithm::Sha256, b"d")
            .unwrap()
            .with_policy(ObjectIdentifier::new_unwrap("1.2.3.4"));
        assert_eq!(fail(&req.to_der()).0, FailureInfo::UNACCEPTED_POLICY);
        let mut req = TimeStampReq::for_data(HashAlgorithm::Sha256, b"d").unwrap();
        req.version = 2;
        assert_eq!(fail(&req.to_der()).0, FailureInfo::BAD_REQUEST);
        let e = TimeStampResp::from_der(&rejection(FailureInfo(FailureInfo::SYSTEM_FAILURE), "x"))
            .unwrap()
            .into_token()
            .unwrap_err();
        assert!(e.to_string().contains("systemFailure"), "{e}");
    }

    #[test]
    fn failure_info_bits() {
        let der = FailureInfo(FailureInfo::SYSTEM_FAILURE).to_der();
        assert_eq!(der, vec![0x03, 0x05, 0x06, 0x00, 0x00, 0x00, 0x40]);
        assert_eq!(
            FailureInfo(FailureInfo::BAD_ALG).to_der(),
            vec![0x03, 0x02, 0x07, 0x80]
        );
        assert_eq!(
            FailureInfo::from_content(&der[2..]),
            Some(FailureInfo(FailureInfo::SYSTEM_FAILURE))
        );
    }

    #[test]
    fn generalized_times() {
        let t = parse_generalized_time(b"20250320030000.5Z").unwrap();
        assert_eq!(t.millisecond(), 500);
        assert!(parse_generalized_time(b"20250320030000.Z").is_none());
        assert!(parse_generalized_time(b"20250320030000").is_none());
        assert!(parse_generalized_time(b"2025032003000Z").is_none());
        assert!(parse_generalized_time(b"20251320030000Z").is_none());
    }

    #[test]
    fn truncated_tokens_never_panic() {
        let f = fixture(true);
        let req = TimeStampReq::for_data(HashAlgorithm::Sha256, b"d").unwrap();
        let resp = tsa(&f).respond(&req.to_der(), gen_time(), &[1]);
        for n in 0..resp.len() {
            assert!(TimeStampResp::from_der(&resp[..n]).is_err(), "prefix {n}");
            let _ = TimeStampToken::from_response_or_token(&resp[..n]);
        }
        let tok = TimeStampResp::from_der(&resp)
            .unwrap()
            .into_token()
            .unwrap();
        for n in 0..tok.der.len() {
            assert!(TimeStampToken::from_der(&tok.der[..n]).is_err());
        }
        // Single-byte flips: parse or fail, validate or not, never panic.
        for i in 0..tok.der.len() {
            let mut t = tok.der.clone();
            t[i] ^= 0x80;
            if let Ok(tk) = TimeStampToken::from_der(&t) {
                let _ = tk.validate(Imprint::Data(b"d"), None, &[], &AlgorithmPolicy::default());
            }
        }
        for junk in [
            &b""[..],
            b"\x30",
            b"\x30\x80",
            b"\x30\x03\x30\x01\x02",
            &[0xff; 40],
        ] {
            assert!(TimeStampResp::from_der(junk).is_err());
            assert!(TimeStampReq::from_der(junk).is_err());
        }
    }

    #[test]
    fn signature_timestamp_round_trip() {
        let f = fixture(true);
        let (_, key, leaf) = pki(KeyKind::EcP256, &[]);
        let der = SignedDataBuilder::new(leaf, key.algorithms()[0])
            .detached(b"doc")
            .sign(&key)
            .unwrap();
        let mut sd = SignedData::parse(&der).unwrap();
        let req = request_for_signature(&sd, 0, HashAlgorithm::Sha256).unwrap();
        let tok = TimeStampToken::from_response_or_token(&tsa(&f).respond(
            &req.to_der(),
            gen_time(),
            &[7],
        ))
        .unwrap();
        // A token over something else is refused.
        let other = TimeStampToken::from_response_or_token(
            &tsa(&f).respond(
                &TimeStampReq::for_data(HashAlgorithm::Sha256, b"x")
                    .unwrap()
                    .to_der(),
                gen_time(),
                &[8],
            ),
        )
        .unwrap();
        assert!(add_signature_timestamp(&mut sd, 0, &other).is_err());
        add_signature_timestamp(&mut sd, 0, &tok).unwrap();
        let sd = SignedData::parse(&sd.to_der()).unwrap();
        assert!(sd
            .verify_signer(0, Content::Data(b"doc"), &[], &AlgorithmPolicy::default())
            .unwrap()
            .is_valid());
        let found = signature_timestamps(&sd, 0);
        assert_eq!(found.len(), 1);
        let t = found[0].as_ref().unwrap();
        let c = t
            .validate(
                Imprint::Data(&sd.signer_infos[0].signature),
                None,
                &[],
                &AlgorithmPolicy::default(),
            )
            .unwrap();
        assert!(c.is_valid(), "{:?}", c.problems());
    }

    /// A fetcher that answers every POST with the TSA's response (or fails).
    struct Canned<'a>(Option<Tsa<'a>>);

    impl crate::fetch::Fetcher for Canned<'_> {
        fn get(&self, url: &str, _: u64) -> Result<Vec<u8>, crate::fetch::FetchError> {
            Err(crate::fetch::FetchError::UnsupportedUrl { url: url.into() })
        }
        fn post(
            &self,
            url: &str,
            content_type: &str,
            body: &[u8],
            _: u64,
        ) -> Result<Vec<u8>, crate::fetch::FetchError> {
            assert_eq!(content_type, TIMESTAMP_QUERY_TYPE);
            match &self.0 {
                Some(t) => Ok(t.respond(body, gen_time(), &[9])),
                None => Err(crate::fetch::FetchError::HttpStatus {
                    url: url.into(),
                    status: 503,
                }),
            }
        }
    }

    #[test]
    fn query_through_a_fetcher() {
        let f = fixture(true);
        let req = TimeStampReq::for_data(HashAlgorithm::Sha256, b"q").unwrap();
        let resp = query(&Canned(Some(tsa(&f))), "http://tsa.test/", &req).unwrap();
        let tok = resp.into_token().unwrap();
        let c = tok
            .validate(
                Imprint::Data(b"q"),
                req.nonce.as_deref(),
                &[],
                &AlgorithmPolicy::default(),
            )
            .unwrap();
        assert!(c.is_valid(), "{:?}", c.problems());
        let e = query(&Canned(None), "http://tsa.test/", &req).unwrap_err();
        assert!(matches!(e, TspError::Transport { .. }), "{e}");
    }

    #[test]
    fn request_lengths_are_checked() {
        assert!(TimeStampReq::new(HashAlgorithm::Sha256, vec![0; 20]).is_err());
        let _ = SoftwareKey::generate(KeyKind::EcP256).unwrap();
    }
}
