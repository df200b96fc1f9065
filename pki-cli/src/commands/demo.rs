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
    // The main job (Decree 30/2020): the leader signs the letter (the blue signature above
    // the name), then the clerk applies the agency seal beside it; the result is verified.
    let doc = a.dir.join("cong-van.pdf");
    let personal = a.dir.join("cong-van.ky-ca-nhan.pdf");
    let signed = a.dir.join("cong-van.signed.pdf");
    let chain = load(&pki.path("officer-rsa.chain.pem"))?;
    let leader = chain
        .first()
        .and_then(|c| c.subject().common_name().map(str::to_owned))
        .unwrap_or_default();
    pki_core::ca::dir::write_atomic(
        &doc,
        &pki_core::pdf::sample::official_letter(
            "123/UBND-VP",
            &["KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH"],
            &leader,
        ),
        false,
    )
    .map_err(|e| CliError::from_error("cannot write the sample document", &e))?;
    let images = [
        ("chu-ky.png", pki_core::pdf::sample::signature_png()),
        ("con-dau.png", pki_core::pdf::sample::seal_png(36.0)),
    ];
    for (name, png) in &images {
        pki_core::ca::dir::write_atomic(&a.dir.join(name), png, false)
            .map_err(|e| CliError::from_error("cannot write the sample images", &e))?;
    }
    let image = |png: &[u8]| {
        pki_core::pdf::appearance::Image::from_png(png)
            .map(std::sync::Arc::new)
            .map_err(|e| CliError::from_error("cannot read the sample images", &e))
    };
    use pki_core::pdf::appearance::{self, LayoutOptions, Profile};
    let now = time::OffsetDateTime::now_utc();
    let mut steps = Vec::new();
    for (who, profile, png, input, output) in [
        (
            "officer-rsa",
            Profile::Personal,
            &images[0].1,
            &doc,
            &personal,
        ),
        ("agency", Profile::Agency, &images[1].1, &personal, &signed),
    ] {
        let key = hsm::SoftwareKey::from_pem(
            &std::fs::read_to_string(pki.key(who))
                .map_err(|e| CliError::from_error("cannot read the demo key", &e))?,
            "the demo key",
        )?;
        let chain = load(&pki.path(&format!("{who}.chain.pem")))?;
        let mut layout = LayoutOptions::new(profile);
        layout.image = Some(image(png)?);
        layout.signer_name = Some(leader.clone());
        let placed = appearance::place(input, &layout, now)
            .map_err(|e| CliError::from_error("the demo could not place the signature", &e))?;
        let mut o = pki_core::pades::PadesOptions::new(now);
        o.reason = Some(
            if who == "agency" {
                "Phát hành"
            } else {
                "Phê duyệt văn bản"
            }
            .into(),
        );
        o.location = Some("Bắc Ninh".into());
        o.page = placed.page;
        o.appearance = placed.appearance;
        let s = pki_core::pades::sign_pdf(input, output, &key, &chain, &o, None)
            .map_err(|e| CliError::from_error("the demo could not sign", &e))?;
        steps.push((output.clone(), s));
    }
    for (path, s) in &steps {
        println!(
            "{} {} ({}, {}, {})",
            if vi { "Đã ký:" } else { "Signed:" },
            path.display(),
            s.field_name,
            s.level.name(),
            s.algorithm.name()
        );
    }
    println!();
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
    // The agency's signature covers the whole file and must pass; the leader's is followed by
    // the agency's update (reported as not analysed until revisions are classified), and
    // nothing may fail.
    let last_passed = report
        .signatures
        .last()
        .is_some_and(|s| s.indication == pki_core::report::Indication::TotalPassed);
    if !last_passed
        || report
            .signatures
            .iter()
            .any(|s| s.indication == pki_core::report::Indication::TotalFailed)
    {
        worst = Exit::Invalid;
    }
    // One changed glyph in the signed text, and the verdict flips.
    let mut bytes = std::fs::read(&signed)
        .map_err(|e| CliError::from_error("cannot read the signed document", &e))?;
    if let Some(i) = bytes.windows(7).position(|w| w == b"> Tj ET") {
        bytes[i - 1] = if bytes[i - 1] == b'1' { b'2' } else { b'1' };
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
