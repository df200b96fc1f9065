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
    // The main job: the officer signs a PDF (PAdES B-B, software key), and it is verified.
    let doc = a.dir.join("cong-van.pdf");
    let signed = a.dir.join("cong-van.signed.pdf");
    pki_core::ca::dir::write_atomic(
        &doc,
        &pki_core::pdf::sample::one_page(&[
            "UY BAN NHAN DAN TINH BAC NINH",
            "So: 123/UBND-VP",
            "Cong van ve viec thu nghiem chu ky so.",
        ]),
        false,
    )
    .map_err(|e| CliError::from_error("cannot write the sample document", &e))?;
    let key = hsm::SoftwareKey::from_pem(
        &std::fs::read_to_string(pki.key("officer-rsa"))
            .map_err(|e| CliError::from_error("cannot read the demo key", &e))?,
        "the demo key",
    )?;
    let chain = load(&pki.path("officer-rsa.chain.pem"))?;
    let mut o = pki_core::pades::PadesOptions::new(time::OffsetDateTime::now_utc());
    o.reason = Some("Phê duyệt văn bản".into());
    o.location = Some("Bắc Ninh".into());
    let s = pki_core::pades::sign_pdf(&doc, &signed, &key, &chain, &o, None)
        .map_err(|e| CliError::from_error("the demo could not sign", &e))?;
    println!(
        "{} {} ({}, {})\n",
        if vi { "Đã ký:" } else { "Signed:" },
        signed.display(),
        s.level.name(),
        s.algorithm.name()
    );
    let policy = pki_core::crypto::AlgorithmPolicy::default();
    let opts = pki_core::pades::VerifyOptions {
        time: time::OffsetDateTime::now_utc(),
        anchors: &anchors,
        intermediates: &inter,
        policy: &policy,
        fetcher: None,
    };
    let rlang = if vi {
        pki_core::report::Lang::Vi
    } else {
        pki_core::report::Lang::En
    };
    let report = pki_core::pades::verify_pdf(&signed, &opts)
        .map_err(|e| CliError::from_error("the demo could not verify", &e))?;
    print!("{}", report.render_text(rlang));
    if report.indication != pki_core::report::Indication::TotalPassed {
        worst = Exit::Invalid;
    }
    // One changed byte in the signed text, and the verdict flips.
    let mut bytes = std::fs::read(&signed)
        .map_err(|e| CliError::from_error("cannot read the signed document", &e))?;
    if let Some(i) = bytes.windows(3).position(|w| w == b"123") {
        bytes[i] = b'9';
    }
    let tampered = a.dir.join("cong-van.tampered.pdf");
    pki_core::ca::dir::write_atomic(&tampered, &bytes, false)
        .map_err(|e| CliError::from_error("cannot write the tampered copy", &e))?;
    let report = pki_core::pades::verify_pdf(&tampered, &opts)
        .map_err(|e| CliError::from_error("the demo could not verify", &e))?;
    println!();
    println!("{}", report.headline(rlang));
    if report.indication != pki_core::report::Indication::TotalFailed {
        worst = Exit::Invalid;
    }
    println!(
        "\n{} pki verify {} --trust {} --offline",
        if vi {
            "Tự kiểm tra:"
        } else {
            "Try it yourself:"
        },
        signed.display(),
        pki.root().display()
    );
    Ok(worst)
}

fn load(p: &std::path::Path) -> Result<Vec<pki_core::cert::Certificate>, CliError> {
    super::common::load_certs(p)
}
