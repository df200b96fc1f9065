//! `pki demo`: the main job on an embedded default — a generated demo PKI and software keys,
//! no token and no server.

use crate::args::demo::DemoArgs;
use crate::error::{CliError, CmdResult, Exit};
use crate::output::Lang;
use pki_core::ca::testpki;
use pki_core::path::{self, Purpose, ValidationOptions};
use pki_core::trust::CertPool;

/// Runs the demo.
pub fn run(a: DemoArgs, lang: Lang) -> CmdResult {
    let vi = lang == Lang::Vi;
    let pki = if a.dir.join("root.crl.pem").exists() {
        testpki::TestPki { dir: a.dir.clone() }
    } else {
        println!(
            "{} {}",
            if vi {
                "Tạo PKI thử nghiệm trong"
            } else {
                "Creating a demo PKI in"
            },
            a.dir.display()
        );
        testpki::generate(&a.dir, &testpki::Urls::default())
            .map_err(|e| CliError::from_error("cannot create the demo PKI", &e))?
    };
    println!();
    super::cert::run(
        crate::args::cert::CertCommand::Show(crate::args::cert::ShowArgs {
            files: vec![pki.cert("officer-rsa")],
            json: false,
        }),
        lang,
    )?;
    println!();
    let mut worst = Exit::Ok;
    for name in ["officer-rsa", "officer-ec", "agency", "revoked", "expired"] {
        let code = super::cert::run(
            crate::args::cert::CertCommand::Verify(crate::args::cert::VerifyArgs {
                cert: pki.cert(name),
                chain: vec![pki.issuing()],
                trust: vec![pki.root().display().to_string()],
                at: None,
                crls: vec![pki.path("issuing.crl.pem"), pki.path("root.crl.pem")],
                offline: true,
                purpose: crate::args::cert::PurposeArg::Document,
                json: false,
            }),
            lang,
        )?;
        let expected_bad = matches!(name, "revoked" | "expired");
        if (code == Exit::Ok) == expected_bad {
            worst = Exit::Invalid;
        }
        println!();
    }
    // The library API the server uses, in one call.
    let anchors = CertPool::from_certs(load(&pki.root())?);
    let inter = CertPool::from_certs(load(&pki.issuing())?);
    let leaf = load(&pki.cert("officer-ec"))?.remove(0);
    let opts = ValidationOptions::new(time::OffsetDateTime::now_utc(), Purpose::DocumentSigning);
    if path::validate(&leaf, &inter, &anchors, &opts).is_err() {
        worst = Exit::Invalid;
    }
    println!(
        "{}",
        if vi {
            "Ký và kiểm tra tài liệu PDF sẽ có ở đây khi phần PDF hoàn thành."
        } else {
            "Signing and verifying a PDF joins this demo when the PDF work lands."
        }
    );
    Ok(worst)
}

fn load(p: &std::path::Path) -> Result<Vec<pki_core::cert::Certificate>, CliError> {
    super::common::load_certs(p)
}
