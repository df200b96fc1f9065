//! The verification report of CONTRACT.md, shared by PDF and XML verification and the signing
//! service: JSON for machines; text and a self-contained printable HTML page for people, in
//! Vietnamese or English. Indications and sub-indications are those of ETSI EN 319 102-1.

use serde::{Deserialize, Serialize};

/// ETSI EN 319 102-1 main indication.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Indication {
    /// Every check passed.
    #[serde(rename = "TOTAL-PASSED")]
    TotalPassed,
    /// A check failed definitively (forged, modified, revoked before signing, ...).
    #[serde(rename = "TOTAL-FAILED")]
    TotalFailed,
    /// The checks could not conclude (no trust anchor, revocation unknown, ...).
    #[serde(rename = "INDETERMINATE")]
    Indeterminate,
}

impl Indication {
    /// The exit code of CONTRACT.md: 0 passed, 1 failed, 4 indeterminate.
    pub fn exit_code(self) -> u8 {
        match self {
            Self::TotalPassed => 0,
            Self::TotalFailed => 1,
            Self::Indeterminate => 4,
        }
    }

    /// Combines indications: failed beats indeterminate beats passed.
    pub fn worst(self, other: Self) -> Self {
        use Indication::*;
        match (self, other) {
            (TotalFailed, _) | (_, TotalFailed) => TotalFailed,
            (Indeterminate, _) | (_, Indeterminate) => Indeterminate,
            _ => TotalPassed,
        }
    }

    /// The verdict in words.
    pub fn verdict(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Self::TotalPassed, Lang::Vi) => "HỢP LỆ",
            (Self::TotalPassed, Lang::En) => "VALID",
            (Self::TotalFailed, Lang::Vi) => "KHÔNG HỢP LỆ",
            (Self::TotalFailed, Lang::En) => "INVALID",
            (Self::Indeterminate, Lang::Vi) => "CHƯA XÁC ĐỊNH ĐƯỢC",
            (Self::Indeterminate, Lang::En) => "INDETERMINATE",
        }
    }
}

/// Report language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// Tiếng Việt.
    Vi,
    /// English.
    En,
}

/// What was validated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureKind {
    /// A signature.
    Signature,
    /// A document timestamp (PAdES B-LTA).
    DocumentTimestamp,
}

/// The signer's certificate, summarised.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signer {
    /// Subject DN (RFC 4514 order, UTF-8).
    pub subject: String,
    /// Common name.
    pub common_name: Option<String>,
    /// Organisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// Serial (hex).
    pub serial: String,
    /// Issuer DN.
    pub issuer: String,
    /// SHA-256 of the certificate.
    pub sha256: String,
}

impl Signer {
    /// From a certificate.
    pub fn from_cert(c: &crate::cert::Certificate) -> Self {
        Self {
            subject: c.subject().to_string(),
            common_name: c.subject().common_name().map(str::to_owned),
            organization: c.subject().organization().map(str::to_owned),
            serial: c.serial_hex(),
            issuer: c.issuer().to_string(),
            sha256: hex::encode(c.sha256()),
        }
    }
}

/// A timestamp over the signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timestamp {
    /// genTime (RFC 3339, UTC).
    pub time: String,
    /// The TSA's name.
    pub tsa: String,
    /// Whether the token is valid.
    pub valid: bool,
}

/// A change made after a signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Modification {
    /// The revision that made it.
    pub revision: u32,
    /// Whether it is allowed after this signature.
    pub allowed: bool,
    /// What kind of change (`signature`, `dss`, `annotation`, `page-content`, ...).
    pub kind: String,
    /// Details.
    pub detail: String,
}

/// One certificate of the signer's chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainEntry {
    /// Subject.
    pub subject: String,
    /// Serial (hex).
    pub serial: String,
}

/// Revocation of the signer's certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// `good`, `revoked`, `unknown` or `not-checked`.
    pub status: String,
    /// `ocsp` or `crl` when known.
    pub source: Option<String>,
    /// Whether the evidence came from the document itself.
    pub embedded: bool,
    /// CA certificates on the path (subjects) whose revocation nobody can tell: they name no
    /// OCSP responder and no CRL, and the document carries no revocation data for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unchecked_cas: Vec<String>,
}

/// One signature or document timestamp.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureReport {
    /// Field name (PDF) or Id (XML).
    pub id: String,
    /// Signature or document timestamp.
    pub kind: SignatureKind,
    /// Indication.
    pub indication: Indication,
    /// Sub-indication (`HASH_FAILURE`, `SIG_CRYPTO_FAILURE`, `REVOKED`, ...).
    pub sub_indication: Option<String>,
    /// The signer.
    pub signer: Option<Signer>,
    /// Signing time (RFC 3339): from the timestamp when there is one, else as claimed.
    pub signing_time: Option<String>,
    /// Whether `signing_time` is proven by a timestamp (`false`: claimed by the signer).
    #[serde(default)]
    pub signing_time_proven: bool,
    /// The signature timestamp, when present.
    pub timestamp: Option<Timestamp>,
    /// Level reached (`PAdES-B-LT`, `XAdES-B-B`, ...).
    pub level: Option<String>,
    /// Signature algorithm.
    pub algorithm: Option<String>,
    /// Whether the signed content is intact (digest matches and signature verifies).
    pub integrity: bool,
    /// PDF: whether the signature covers the whole file.
    #[serde(default)]
    pub covers_whole_document: bool,
    /// PDF: the revision the signature covers (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u32>,
    /// PDF: revisions in the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revisions: Option<u32>,
    /// XML: what the signature covers (element names and Ids).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub covers: Vec<String>,
    /// Changes after signing.
    #[serde(default)]
    pub modifications: Vec<Modification>,
    /// The signer's chain, end entity first.
    #[serde(default)]
    pub chain: Vec<ChainEntry>,
    /// Revocation of the signer.
    pub revocation: Option<Revocation>,
    /// Errors (one sentence each).
    #[serde(default)]
    pub errors: Vec<String>,
    /// Warnings.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// The report for one document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// File name.
    pub file: String,
    /// `pdf` or `xml`.
    pub format: String,
    /// SHA-256 of the file.
    pub sha256: String,
    /// The validation time (RFC 3339).
    pub validation_time: String,
    /// The overall indication.
    pub indication: Indication,
    /// Each signature.
    pub signatures: Vec<SignatureReport>,
}

impl Report {
    /// A report whose overall indication is derived from its signatures: the worst of them;
    /// a document without signatures is TOTAL-FAILED (it is not a signed document).
    pub fn new(
        file: String,
        format: &str,
        sha256: String,
        validation_time: time::OffsetDateTime,
        signatures: Vec<SignatureReport>,
    ) -> Self {
        let indication = if signatures.is_empty() {
            Indication::TotalFailed
        } else {
            signatures
                .iter()
                .fold(Indication::TotalPassed, |a, s| a.worst(s.indication))
        };
        Self {
            file,
            format: format.into(),
            sha256,
            validation_time: crate::time::rfc3339_utc(validation_time),
            indication,
            signatures,
        }
    }

    /// JSON, pretty-printed.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into())
    }

    /// The one-line verdict that heads the text and HTML renderings.
    pub fn headline(&self, lang: Lang) -> String {
        let n = self.signatures.len();
        let ok = self
            .signatures
            .iter()
            .filter(|s| s.indication == Indication::TotalPassed)
            .count();
        let verdict = self.indication.verdict(lang);
        match lang {
            Lang::Vi if n == 0 => format!("{verdict}: tài liệu không có chữ ký số"),
            Lang::Vi => format!("{verdict}: {ok}/{n} chữ ký hợp lệ — {}", self.file),
            Lang::En if n == 0 => format!("{verdict}: the document has no digital signature"),
            Lang::En => format!("{verdict}: {ok} of {n} signatures valid — {}", self.file),
        }
    }

    /// Plain text for a terminal.
    pub fn render_text(&self, lang: Lang) -> String {
        let t = Labels::for_lang(lang);
        let mut s = String::new();
        s.push_str(&self.headline(lang));
        s.push('\n');
        s.push_str(&format!(
            "{}: {}\n",
            t.checked_at,
            local_time(&self.validation_time)
        ));
        s.push_str(&format!("SHA-256: {}\n", self.sha256));
        for (i, sig) in self.signatures.iter().enumerate() {
            s.push('\n');
            for (k, v) in signature_rows(sig, i, &t, lang) {
                s.push_str(&format!("  {k:<24} {v}\n"));
            }
            for e in &sig.errors {
                s.push_str(&format!("  {}: {e}\n", t.error));
            }
            for w in &sig.warnings {
                s.push_str(&format!("  {}: {w}\n", t.warning));
            }
        }
        s
    }

    /// A self-contained, printable HTML page.
    pub fn render_html(&self, lang: Lang) -> String {
        let t = Labels::for_lang(lang);
        let class = match self.indication {
            Indication::TotalPassed => "ok",
            Indication::TotalFailed => "bad",
            Indication::Indeterminate => "warn",
        };
        let mut h = String::new();
        h.push_str(&format!(
            "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>{CSS}</style></head><body>\n",
            if lang == Lang::Vi { "vi" } else { "en" },
            esc(t.title)
        ));
        h.push_str(&format!("<h1>{}</h1>\n", esc(t.title)));
        h.push_str(&format!(
            "<p class=\"verdict {class}\">{}</p>\n",
            esc(&self.headline(lang))
        ));
        h.push_str("<table class=\"meta\">");
        for (k, v) in [
            (t.file, self.file.clone()),
            (t.checked_at, local_time(&self.validation_time)),
            ("SHA-256", self.sha256.clone()),
        ] {
            h.push_str(&format!("<tr><th>{}</th><td>{}</td></tr>", esc(k), esc(&v)));
        }
        h.push_str("</table>\n");
        for (i, sig) in self.signatures.iter().enumerate() {
            let class = match sig.indication {
                Indication::TotalPassed => "ok",
                Indication::TotalFailed => "bad",
                Indication::Indeterminate => "warn",
            };
            h.push_str(&format!("<section class=\"sig {class}\"><table>"));
            for (k, v) in signature_rows(sig, i, &t, lang) {
                h.push_str(&format!(
                    "<tr><th>{}</th><td>{}</td></tr>",
                    esc(&k),
                    esc(&v)
                ));
            }
            h.push_str("</table>");
            if !sig.errors.is_empty() || !sig.warnings.is_empty() {
                h.push_str("<ul>");
                for e in &sig.errors {
                    h.push_str(&format!(
                        "<li class=\"bad\">{}: {}</li>",
                        esc(t.error),
                        esc(e)
                    ));
                }
                for w in &sig.warnings {
                    h.push_str(&format!(
                        "<li class=\"warn\">{}: {}</li>",
                        esc(t.warning),
                        esc(w)
                    ));
                }
                h.push_str("</ul>");
            }
            h.push_str("</section>\n");
        }
        h.push_str("</body></html>\n");
        h
    }
}

const CSS: &str = "body{font-family:'Times New Roman','Liberation Serif',serif;max-width:60em;margin:2em auto;color:#111}\
h1{font-size:1.4em}.verdict{font-size:1.3em;font-weight:bold;padding:.5em;border:2px solid}\
.ok{border-color:#2e7d32;color:#1b5e20}.bad{border-color:#c62828;color:#b71c1c}.warn{border-color:#ef6c00;color:#e65100}\
table{border-collapse:collapse;width:100%;margin:.5em 0}th{text-align:left;width:14em;vertical-align:top;padding:.2em .5em}\
td{padding:.2em .5em;word-break:break-word;color:#111}section.sig{border-left:6px solid;padding:.3em .8em;margin:1em 0}\
li{margin:.2em 0}@media print{body{margin:0}.verdict{border-width:1px}}";

struct Labels {
    title: &'static str,
    file: &'static str,
    checked_at: &'static str,
    signature: &'static str,
    timestamp: &'static str,
    result: &'static str,
    signer: &'static str,
    organization: &'static str,
    time: &'static str,
    claimed: &'static str,
    proven: &'static str,
    integrity: &'static str,
    intact: &'static str,
    broken: &'static str,
    trust: &'static str,
    revocation: &'static str,
    unchecked_ca: &'static str,
    changes: &'static str,
    none: &'static str,
    embedded: &'static str,
    level: &'static str,
    covers: &'static str,
    error: &'static str,
    warning: &'static str,
}

impl Labels {
    fn for_lang(lang: Lang) -> Self {
        match lang {
            Lang::Vi => Self {
                title: "Kết quả kiểm tra chữ ký số",
                file: "Tệp",
                checked_at: "Thời điểm kiểm tra",
                signature: "Chữ ký",
                timestamp: "Dấu thời gian tài liệu",
                result: "Kết quả",
                signer: "Người ký",
                organization: "Cơ quan, tổ chức",
                time: "Thời gian ký",
                claimed: "do người ký khai",
                proven: "theo dấu thời gian",
                integrity: "Toàn vẹn",
                intact: "nội dung không bị thay đổi",
                broken: "NỘI DUNG ĐÃ BỊ THAY ĐỔI",
                trust: "Chuỗi chứng thư",
                revocation: "Tình trạng thu hồi",
                unchecked_ca: "Không kiểm tra được tình trạng thu hồi của CA (chứng thư CA không chỉ ra dịch vụ OCSP hay CRL nào, tài liệu cũng không kèm dữ liệu thu hồi cho nó)",
                changes: "Thay đổi sau khi ký",
                none: "không có",
                embedded: "dữ liệu kèm trong tài liệu",
                level: "Mức chữ ký",
                covers: "Phạm vi ký",
                error: "Lỗi",
                warning: "Cảnh báo",
            },
            Lang::En => Self {
                title: "Digital signature verification report",
                file: "File",
                checked_at: "Checked at",
                signature: "Signature",
                timestamp: "Document timestamp",
                result: "Result",
                signer: "Signer",
                organization: "Organisation",
                time: "Signing time",
                claimed: "claimed by the signer",
                proven: "proven by a timestamp",
                integrity: "Integrity",
                intact: "content unchanged",
                broken: "CONTENT MODIFIED",
                trust: "Certificate chain",
                revocation: "Revocation",
                unchecked_ca: "The revocation of a CA could not be checked (its certificate names no OCSP responder or CRL, and the document carries no revocation data for it)",
                changes: "Changes after signing",
                none: "none",
                embedded: "data embedded in the document",
                level: "Level",
                covers: "Covers",
                error: "Error",
                warning: "Warning",
            },
        }
    }
}

fn signature_rows(
    sig: &SignatureReport,
    i: usize,
    t: &Labels,
    lang: Lang,
) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let kind = match sig.kind {
        SignatureKind::Signature => t.signature,
        SignatureKind::DocumentTimestamp => t.timestamp,
    };
    rows.push((format!("{kind} {}", i + 1), sig.id.clone()));
    let sub = sig
        .sub_indication
        .as_deref()
        .map(|s| format!(" ({s})"))
        .unwrap_or_default();
    rows.push((
        t.result.into(),
        format!("{}{sub}", sig.indication.verdict(lang)),
    ));
    if let Some(s) = &sig.signer {
        rows.push((
            t.signer.into(),
            s.common_name.clone().unwrap_or_else(|| s.subject.clone()),
        ));
        if let Some(o) = &s.organization {
            rows.push((t.organization.into(), o.clone()));
        }
    }
    if let Some(st) = &sig.signing_time {
        let how = if sig.signing_time_proven {
            t.proven
        } else {
            t.claimed
        };
        rows.push((t.time.into(), format!("{} ({how})", local_time(st))));
    }
    rows.push((
        t.integrity.into(),
        if sig.integrity { t.intact } else { t.broken }.into(),
    ));
    if !sig.chain.is_empty() {
        rows.push((
            t.trust.into(),
            sig.chain
                .iter()
                .map(|c| c.subject.clone())
                .collect::<Vec<_>>()
                .join(" ← "),
        ));
    }
    if let Some(r) = &sig.revocation {
        let src = r
            .source
            .as_deref()
            .map(|s| {
                if r.embedded {
                    format!(" ({s}, {})", t.embedded)
                } else {
                    format!(" ({s})")
                }
            })
            .unwrap_or_default();
        rows.push((t.revocation.into(), format!("{}{src}", r.status)));
        for ca in &r.unchecked_cas {
            rows.push((t.warning.into(), format!("{}: {ca}", t.unchecked_ca)));
        }
    }
    if let Some(l) = &sig.level {
        rows.push((t.level.into(), l.clone()));
    }
    if !sig.covers.is_empty() {
        rows.push((t.covers.into(), sig.covers.join(", ")));
    }
    let changes = if sig.modifications.is_empty() {
        t.none.to_string()
    } else {
        sig.modifications
            .iter()
            .map(|m| {
                format!(
                    "r{} {}{}: {}",
                    m.revision,
                    m.kind,
                    if m.allowed { "" } else { " (!)" },
                    m.detail
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    rows.push((t.changes.into(), changes));
    rows
}

/// RFC 3339 UTC -> Vietnam time for display.
fn local_time(rfc3339: &str) -> String {
    crate::time::parse_user_time(rfc3339)
        .map(crate::time::vietnam)
        .unwrap_or_else(|| rfc3339.to_owned())
}

/// HTML escaping.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(ind: Indication) -> SignatureReport {
        SignatureReport {
            id: "Signature1".into(),
            kind: SignatureKind::Signature,
            indication: ind,
            sub_indication: (ind != Indication::TotalPassed).then(|| "HASH_FAILURE".into()),
            signer: Some(Signer {
                subject: "CN=Nguyễn Văn An, C=VN".into(),
                common_name: Some("Nguyễn Văn An".into()),
                organization: Some("Sở Tư pháp <Bắc Ninh>".into()),
                serial: "0a".into(),
                issuer: "CN=CA".into(),
                sha256: "00".into(),
            }),
            signing_time: Some("2025-03-20T03:00:00Z".into()),
            signing_time_proven: false,
            timestamp: None,
            level: Some("PAdES-B-B".into()),
            algorithm: Some("sha256WithRSAEncryption".into()),
            integrity: ind == Indication::TotalPassed,
            covers_whole_document: true,
            revision: Some(1),
            revisions: Some(1),
            covers: vec![],
            modifications: vec![],
            chain: vec![],
            revocation: None,
            errors: vec![],
            warnings: vec![],
        }
    }

    #[test]
    fn overall_indication_and_json_shape() {
        let t = crate::time::parse_user_time("2026-01-01T00:00:00Z").unwrap();
        let r = Report::new(
            "a.pdf".into(),
            "pdf",
            "ff".into(),
            t,
            vec![sig(Indication::TotalPassed), sig(Indication::TotalFailed)],
        );
        assert_eq!(r.indication, Indication::TotalFailed);
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["indication"], "TOTAL-FAILED");
        assert_eq!(v["validation_time"], "2026-01-01T00:00:00Z");
        assert_eq!(v["signatures"][0]["kind"], "signature");
        assert_eq!(v["signatures"][1]["sub_indication"], "HASH_FAILURE");
        let empty = Report::new("b.pdf".into(), "pdf", "ff".into(), t, vec![]);
        assert_eq!(empty.indication.exit_code(), 1);
    }

    #[test]
    fn renders_vietnamese_text_and_escaped_html() {
        let t = crate::time::parse_user_time("2026-01-01T00:00:00Z").unwrap();
        let r = Report::new(
            "a.pdf".into(),
            "pdf",
            "ff".into(),
            t,
            vec![sig(Indication::TotalPassed)],
        );
        let text = r.render_text(Lang::Vi);
        assert!(text.starts_with("HỢP LỆ: 1/1 chữ ký hợp lệ"), "{text}");
        assert!(
            text.contains("2025-03-20T10:00:00+07:00 (do người ký khai)"),
            "{text}"
        );
        let html = r.render_html(Lang::En);
        assert!(html.contains("<html lang=\"en\">"));
        assert!(html.contains("Sở Tư pháp &lt;Bắc Ninh&gt;"));
        assert!(!html.contains("<Bắc Ninh>"));
    }
}
