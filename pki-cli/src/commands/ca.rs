//! `pki ca init|issue|revoke|crl|test-pki`.

use super::common::{read_limited, time_arg};
use crate::args::ca::{
    CaCommand, CrlArgs, InitArgs, IssueArgs, ProfileArg, RevokeArgs, TestPkiArgs,
};
use crate::error::{CliError, CmdResult, Exit};
use crate::output::Lang;
use pki_core::ca::dir::{write_atomic, InitOptions};
use pki_core::ca::request::CertRequest;
use pki_core::ca::{testpki, CaDir, Profile};
use pki_core::cert::pem_encode;
use pki_core::crl::RevocationReason;
use std::path::Path;
use time::OffsetDateTime;

fn ca_err(e: pki_core::ca::CaDirError) -> CliError {
    CliError::from_error("the CA operation failed", &e)
}

/// Runs `pki ca ...`.
pub fn run(cmd: CaCommand, _lang: Lang) -> CmdResult {
    match cmd {
        CaCommand::Init(a) => init(a),
        CaCommand::Issue(a) => issue(a),
        CaCommand::Revoke(a) => revoke(a),
        CaCommand::Crl(a) => crl(a),
        CaCommand::TestPki(a) => test_pki(a),
    }
}

fn init(a: InitArgs) -> CmdResult {
    let parent = a
        .parent
        .as_deref()
        .map(CaDir::open)
        .transpose()
        .map_err(ca_err)?;
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::now_utc());
    let opts = InitOptions {
        subject: a.subject,
        key_kind: a.key_type.kind(),
        not_before: now - time::Duration::minutes(5),
        not_after: now + time::Duration::days(a.days as i64),
        path_len: a.path_len,
        ocsp_url: a.ocsp_url,
        crl_url: a.crl_url,
        ca_issuers_url: a.ca_issuers_url,
    };
    let ca = CaDir::init(&a.dir, &opts, parent.as_ref()).map_err(ca_err)?;
    println!(
        "created CA \"{}\" in {}",
        ca.certificate().subject(),
        a.dir.display()
    );
    println!("certificate: {}", a.dir.join("ca.pem").display());
    Ok(Exit::Ok)
}

fn issue(a: IssueArgs) -> CmdResult {
    let ca = CaDir::open(&a.ca).map_err(ca_err)?;
    let data = read_limited(&a.csr, 1024 * 1024, "certificate request")?;
    let req =
        CertRequest::parse(&data).map_err(|e| CliError::op(format!("{}: {e}", a.csr.display())))?;
    let subject = match &a.subject {
        Some(s) => pki_core::name::parse_dn(s).map_err(|e| CliError::usage(e.to_string()))?,
        None => req.subject.clone(),
    };
    let profile = match a.profile {
        ProfileArg::Personal => Profile::Personal,
        ProfileArg::Agency => Profile::Agency,
        ProfileArg::Ocsp => Profile::Ocsp,
        ProfileArg::Tsa => Profile::Tsa,
        ProfileArg::Ca => Profile::SubCa { path_len: Some(0) },
    };
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::now_utc());
    let cert = ca
        .issue(
            profile,
            &subject,
            &req.spki,
            now - time::Duration::minutes(5),
            now + time::Duration::days(a.days as i64),
            Vec::new(),
        )
        .map_err(ca_err)?;
    let pem = pem_encode("CERTIFICATE", cert.der());
    match &a.out {
        Some(p) => {
            write_atomic(p, pem.as_bytes(), false).map_err(ca_err)?;
            eprintln!(
                "issued {} (serial {}) to {}",
                cert.subject(),
                cert.serial_hex(),
                p.display()
            );
        }
        None => print!("{pem}"),
    }
    Ok(Exit::Ok)
}

fn revoke(a: RevokeArgs) -> CmdResult {
    let ca = CaDir::open(&a.ca).map_err(ca_err)?;
    let serial = if Path::new(&a.serial_or_cert).is_file() {
        super::common::load_certs(Path::new(&a.serial_or_cert))?[0].serial_hex()
    } else {
        a.serial_or_cert.clone()
    };
    let reason = match &a.reason {
        None => None,
        Some(r) => Some(RevocationReason::from_name(r).ok_or_else(|| {
            CliError::usage(format!("unknown revocation reason \"{r}\"")).hint(
                "use keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, certificateHold, privilegeWithdrawn or unspecified",
            )
        })?),
    };
    let at = time_arg(a.at.as_deref())?
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::now_utc());
    ca.revoke(&serial, reason, at).map_err(ca_err)?;
    println!(
        "revoked {serial}; issue a new CRL with `pki ca crl --ca {}`",
        a.ca.display()
    );
    Ok(Exit::Ok)
}

fn crl(a: CrlArgs) -> CmdResult {
    let mut ca = CaDir::open(&a.ca).map_err(ca_err)?;
    let now = OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::now_utc());
    let next = a.hours.map(|h| now + time::Duration::hours(h as i64));
    let der = ca.issue_crl(now, next).map_err(ca_err)?;
    if let Some(p) = &a.out {
        write_atomic(p, pem_encode("X509 CRL", &der).as_bytes(), false).map_err(ca_err)?;
    }
    println!("CRL written to {}", a.ca.join("crl.pem").display());
    Ok(Exit::Ok)
}

fn test_pki(a: TestPkiArgs) -> CmdResult {
    let urls = testpki::Urls {
        ocsp: a.ocsp_url,
        crl: a.crl_url,
    };
    testpki::generate(&a.dir, &urls).map_err(ca_err)?;
    println!("test PKI written to {}", a.dir.display());
    Ok(Exit::Ok)
}
