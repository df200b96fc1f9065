//! `pki sign FILE.xml` and `pki verify FILE.xml`.

use crate::args::xml::{C14nArg, FormatArg, ProfileArg, SignArgs, VerifyArgs};
use crate::commands::common::{load_certs, load_trust, print_json, read_limited, time_arg};
use crate::error::{CliError, CmdResult, Exit};
use crate::output::Lang;
use pki_core::trust::CertPool;
use pki_core::xml::c14n::C14nMethod;
use pki_core::xml::sign::{Placement, Profile, SignOptions};
use pki_core::xml::verify::{Indication, SignatureReport, TrustCheck, VerifyOptions, XmlReport};
use pki_core::xml::XmlError;
use serde_json::json;

const MAX_XML: u64 = 64 * 1024 * 1024;

/// What a file holds, by its first bytes.
fn looks_like_xml(data: &[u8]) -> bool {
    let d = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    d.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<')
}

fn not_xml(path: &std::path::Path, data: &[u8]) -> CliError {
    if data.starts_with(b"%PDF") {
        CliError::op(format!(
            "{} is a PDF; this build signs and verifies XML documents only",
            path.display()
        ))
    } else {
        CliError::op(format!("{} is not an XML document", path.display()))
    }
}

fn xml_err(path: &std::path::Path, e: &XmlError) -> CliError {
    CliError::from_error(format!("cannot process {}", path.display()), e)
}

/// `pki sign`.
pub fn sign(a: SignArgs, _lang: Lang) -> CmdResult {
    let data = read_limited(&a.file, MAX_XML, "document")?;
    if !looks_like_xml(&data) {
        return Err(not_xml(&a.file, &data));
    }
    let key_pem = read_limited(&a.key, 1024 * 1024, "key")?;
    let key = hsm::SoftwareKey::from_pem(&String::from_utf8_lossy(&key_pem), "the key file")?;
    let chain = load_certs(&a.cert)?;
    let leaf = chain
        .first()
        .ok_or_else(|| CliError::op(format!("{} holds no certificate", a.cert.display())))?;
    if leaf.spki() != hsm::Signer::public_key_der(&key) {
        return Err(CliError::op(format!(
            "the first certificate in {} does not belong to the key in {}",
            a.cert.display(),
            a.key.display()
        )));
    }
    let now = time::OffsetDateTime::now_utc();
    if !leaf.valid_at(now) {
        return Err(CliError::op(format!(
            "the signer's certificate is not valid now (valid {} to {})",
            pki_core::time::vietnam(leaf.not_before()),
            pki_core::time::vietnam(leaf.not_after())
        )));
    }
    let mut o = SignOptions::new(now);
    o.profile = match a.profile {
        ProfileArg::Plain => Profile::Plain,
        ProfileArg::Einvoice => Profile::EInvoice,
        ProfileArg::Edxml => Profile::EdXml,
    };
    o.placement = if a.enveloping {
        Placement::Enveloping
    } else if a.detached {
        Placement::Detached
    } else {
        Placement::Enveloped
    };
    if o.profile != Profile::Plain && o.placement != Placement::Enveloped {
        return Err(CliError::usage(
            "--enveloping and --detached apply to the plain profile only",
        ));
    }
    o.id = a.id;
    o.c14n = a.c14n.map(|c| match c {
        C14nArg::Exc => C14nMethod::Exclusive10,
        C14nArg::Inclusive => C14nMethod::Inclusive10,
        C14nArg::C14n11 => C14nMethod::Inclusive11,
    });
    o.pss = a.pss;
    match a.level.as_deref().map(str::to_ascii_uppercase).as_deref() {
        None => {}
        Some("B-B" | "XADES-B-B") => o.xades = true,
        Some(l) => {
            return Err(CliError::usage(format!(
                "level {l} is not available for XML yet; B-B is (B-T and B-LT need the timestamp and OCSP clients)"
            )))
        }
    }
    let out =
        pki_core::xml::sign::sign(&data, &key, &chain, &o).map_err(|e| xml_err(&a.file, &e))?;
    pki_core::ca::dir::write_atomic(&a.out, &out, false)
        .map_err(|e| CliError::from_error(format!("cannot write {}", a.out.display()), &e))?;
    Ok(Exit::Ok)
}

/// `pki verify`: every file; the exit code is the worst verdict (an unreadable file is
/// reported and counts as an operational error).
pub fn verify(a: VerifyArgs, lang: Lang) -> CmdResult {
    let anchors = load_trust(&a.trust)?;
    let inter = if a.trust.iter().any(|t| t == "vn") {
        CertPool::vn_intermediates()
    } else {
        CertPool::new()
    };
    let at = time_arg(a.at.as_deref())?;
    let opts = VerifyOptions::new(at, &anchors, &inter);
    let mut worst = Exit::Ok;
    let mut reports = Vec::new();
    for file in &a.files {
        let exit = match verify_one(file, &opts) {
            Ok(report) => {
                let name = file.display().to_string();
                match a.format {
                    FormatArg::Json => reports.push(report_json(&name, &report)),
                    FormatArg::Text => print_text(&name, &report, lang),
                }
                match report.indication {
                    Indication::TotalPassed => Exit::Ok,
                    Indication::TotalFailed => Exit::Invalid,
                    Indication::Indeterminate => Exit::Indeterminate,
                }
            }
            Err(e) if a.files.len() == 1 => return Err(e),
            Err(e) => {
                e.print(lang);
                Exit::Operational
            }
        };
        worst = worse(worst, exit);
    }
    if a.format == FormatArg::Json {
        match reports.len() {
            1 => print_json(&reports[0]),
            _ => print_json(&serde_json::Value::Array(reports)),
        }
    }
    Ok(worst)
}

/// Invalid beats operational beats indeterminate beats valid.
fn worse(a: Exit, b: Exit) -> Exit {
    let rank = |e: Exit| match e {
        Exit::Invalid => 3,
        Exit::Operational => 2,
        Exit::Indeterminate => 1,
        _ => 0,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

fn verify_one(file: &std::path::Path, opts: &VerifyOptions<'_>) -> Result<XmlReport, CliError> {
    let data = read_limited(file, MAX_XML, "document")?;
    if !looks_like_xml(&data) {
        return Err(not_xml(file, &data));
    }
    pki_core::xml::verify::verify(&data, opts).map_err(|e| xml_err(file, &e))
}

fn signer_json(s: &SignatureReport) -> serde_json::Value {
    match &s.signer {
        None => serde_json::Value::Null,
        Some(c) => json!({
            "subject": c.subject().to_string(),
            "common_name": c.subject().common_name(),
            "serial": c.serial_hex(),
            "issuer": c.issuer().to_string(),
            "sha256": hex::encode(c.sha256()),
        }),
    }
}

/// The CONTRACT.md report, with XML details (`covers`, `references`).
fn report_json(file: &str, r: &XmlReport) -> serde_json::Value {
    let sigs: Vec<serde_json::Value> = r
        .signatures
        .iter()
        .map(|s| {
            let chain = match &s.trust {
                TrustCheck::Valid { chain, .. } => {
                    chain.iter().map(|c| json!({ "subject": c })).collect()
                }
                _ => Vec::new(),
            };
            json!({
                "id": s.id,
                "kind": "signature",
                "indication": s.indication.as_str(),
                "sub_indication": s.sub_indication,
                "signer": signer_json(s),
                "signing_time": s.signing_time.as_ref().map(|t| pki_core::time::vietnam(t.time)),
                "level": s.level,
                "algorithm": s.algorithm_name,
                "integrity": s.references.iter().all(|r| r.digest_ok) && s.signature_value_ok,
                "covers": s.coverage(),
                "covers_whole_document": s.references.iter().any(|r| matches!(r.covers, Some(pki_core::xml::dsig::Coverage::WholeDocument { .. }))),
                "references": s.references,
                "path": s.path,
                "chain": chain,
                "trust": s.trust,
                "revocation": {"status": "not-checked"},
                "errors": s.errors,
                "warnings": s.warnings,
            })
        })
        .collect();
    json!({
        "file": file,
        "format": "xml",
        "sha256": r.sha256,
        "validation_time": pki_core::time::rfc3339_utc(r.validation_time),
        "indication": r.indication.as_str(),
        "signatures": sigs,
    })
}

fn print_text(file: &str, r: &XmlReport, lang: Lang) {
    let vi = lang == Lang::Vi;
    let verdict = |i: Indication| match (i, vi) {
        (Indication::TotalPassed, true) => "HỢP LỆ",
        (Indication::TotalPassed, false) => "VALID",
        (Indication::TotalFailed, true) => "KHÔNG HỢP LỆ",
        (Indication::TotalFailed, false) => "INVALID",
        (Indication::Indeterminate, true) => "CHƯA XÁC ĐỊNH",
        (Indication::Indeterminate, false) => "INDETERMINATE",
    };
    println!(
        "{file}: {} ({})",
        verdict(r.indication),
        r.indication.as_str()
    );
    for (i, s) in r.signatures.iter().enumerate() {
        let l = |vi_s: &'static str, en: &'static str| if vi { vi_s } else { en };
        println!(
            "{} {} {} {}",
            l("Chữ ký", "Signature"),
            i + 1,
            s.id.as_deref()
                .map(|x| format!("\"{x}\""))
                .unwrap_or_default(),
            s.path
        );
        println!(
            "  {}: {} ({}{})",
            l("Kết quả", "Result"),
            verdict(s.indication),
            s.indication.as_str(),
            s.sub_indication
                .as_deref()
                .map(|x| format!(" / {x}"))
                .unwrap_or_default()
        );
        if let Some(c) = &s.signer {
            println!(
                "  {}: {} ({} {})",
                l("Người ký", "Signer"),
                c.subject().common_name().unwrap_or("?"),
                l("số hiệu", "serial"),
                c.serial_hex()
            );
            println!("  {}: {}", l("Cấp bởi", "Issued by"), c.issuer());
        }
        if let Some(t) = &s.signing_time {
            println!(
                "  {}: {}",
                l("Thời điểm ký (tự khai)", "Signing time (claimed)"),
                pki_core::time::vietnam(t.time)
            );
        }
        println!(
            "  {}: {} {}",
            l("Thuật toán", "Algorithm"),
            s.algorithm_name.as_deref().unwrap_or(&s.signature_method),
            s.canonicalization
        );
        println!(
            "  {}: {}",
            l("Toàn vẹn", "Integrity"),
            if s.references.iter().all(|r| r.digest_ok) && s.signature_value_ok {
                l("nguyên vẹn", "intact")
            } else {
                l("KHÔNG nguyên vẹn", "NOT intact")
            }
        );
        println!("  {}:", l("Phạm vi được ký", "Signed content"));
        for (r, c) in s.references.iter().zip(s.coverage()) {
            println!(
                "    - {c} [{}]",
                if r.digest_ok {
                    "ok"
                } else {
                    l("sai", "mismatch")
                }
            );
        }
        match &s.trust {
            TrustCheck::Valid { chain, .. } => {
                println!(
                    "  {}: {}",
                    l("Chuỗi chứng thư", "Chain"),
                    chain.join(" <- ")
                )
            }
            TrustCheck::Failed { reason, .. } => {
                println!("  {}: {reason}", l("Chuỗi chứng thư", "Chain"))
            }
            TrustCheck::NotChecked => {}
        }
        println!(
            "  {}",
            l(
                "Thu hồi: chưa kiểm tra (chữ ký XML)",
                "Revocation: not checked (XML signatures)"
            )
        );
        for w in &s.warnings {
            println!("  {}: {w}", l("Cảnh báo", "Warning"));
        }
        for e in &s.errors {
            println!("  {}: {e}", l("Lỗi", "Error"));
        }
    }
}
