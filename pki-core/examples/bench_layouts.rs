//! Documents signed per second with each Decree 30 layout, beside the invisible signature
//! measured in the same run (the reference: same key, same letter, same PAdES B-B path). Shows
//! what finding the name on the page, subsetting the font and embedding the images cost.
//!
//! ```sh
//! cargo run --release -p pki-core --example bench_layouts -- 300
//! ```
//!
//! One thread, software RSA-2048 key (`fixtures/pki/officer-rsa`, `agency`), a one-page letter.
//! Each signature fsyncs its output twice (two-phase signing), which dominates on small files.
//! The reference runs first and last; percentages are against the better of the two runs so
//! far.

use pki_core::cert::parse_certificates;
use pki_core::pades::{self, PadesOptions};
use pki_core::pdf::appearance::{self, Image, LayoutOptions, Profile};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args().nth(1).map_or(Ok(300), |a| a.parse())?;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/pki");
    let load = |who: &str| -> Result<_, Box<dyn std::error::Error>> {
        let key = hsm::SoftwareKey::from_pem(
            &std::fs::read_to_string(fixtures.join(format!("{who}.key.pem")))?,
            who,
        )?;
        let chain = parse_certificates(&std::fs::read(fixtures.join(format!("{who}.chain.pem")))?)?;
        Ok((key, chain))
    };
    let officer = load("officer-rsa")?;
    let agency = load("agency")?;
    let dir = std::env::temp_dir().join(format!("bench-layouts-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let letter = dir.join("letter.pdf");
    std::fs::write(
        &letter,
        pki_core::pdf::sample::official_letter(
            "123/UBND-VP",
            &["KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH"],
            "Nguyễn Văn An",
        ),
    )?;
    let signature = Arc::new(Image::from_png(&pki_core::pdf::sample::signature_png())?);
    let seal = Arc::new(Image::from_png(&pki_core::pdf::sample::seal_png(36.0))?);
    let personal_in = dir.join("personal.pdf");

    let mut layouts: Vec<(&str, Option<LayoutOptions>, &PathBuf, bool)> = Vec::new();
    layouts.push(("invisible (reference)", None, &letter, false));
    let mut p = LayoutOptions::new(Profile::Personal);
    p.image = Some(signature);
    p.signer_name = Some("Nguyễn Văn An".into());
    layouts.push(("personal (name found)", Some(p.clone()), &letter, false));
    let mut a = LayoutOptions::new(Profile::Attachment);
    a.doc_number = Some("123/UBND-VP".into());
    layouts.push(("attachment (text)", Some(a), &letter, true));
    let mut s = LayoutOptions::new(Profile::Agency);
    s.image = Some(seal);
    layouts.push(("agency (seal)", Some(s), &personal_in, true));
    // The reference again at the end: the machine is shared, so take the better of the two.
    layouts.push(("invisible (again)", None, &letter, false));

    // The agency layout needs a personal signature first.
    sign_one(&letter, &personal_in, &officer, Some(&p))?;
    println!(
        "{:<24} {:>10} {:>12} {:>10}",
        "layout", "docs/s", "ms/doc", "vs ref"
    );
    let mut reference = 0.0;
    for (name, layout, input, as_agency) in &layouts {
        let who = if *as_agency { &agency } else { &officer };
        let out = dir.join("out.pdf");
        let t0 = Instant::now();
        for _ in 0..n {
            sign_one(input, &out, who, layout.as_ref())?;
            std::fs::remove_file(&out)?;
        }
        let secs = t0.elapsed().as_secs_f64();
        let rate = n as f64 / secs;
        if name.starts_with("invisible") {
            reference = f64::max(reference, rate);
        }
        println!(
            "{name:<24} {rate:>10.1} {:>12.2} {:>9.0}%",
            1000.0 / rate,
            100.0 * rate / reference
        );
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

fn sign_one(
    input: &Path,
    output: &Path,
    (key, chain): &(hsm::SoftwareKey, Vec<pki_core::cert::Certificate>),
    layout: Option<&LayoutOptions>,
) -> Result<(), Box<dyn std::error::Error>> {
    let now = time::OffsetDateTime::now_utc();
    let mut o = PadesOptions::new(now);
    if let Some(l) = layout {
        let placed = appearance::place(input, l, now)?;
        o.page = placed.page;
        o.appearance = placed.appearance;
    }
    pades::sign_pdf(input, output, key, chain, &o, None)?;
    Ok(())
}
