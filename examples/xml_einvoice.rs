//! Signs an e-invoice as the seller (Decree 123/2020 layout) with a software key from the test
//! PKI, then verifies it and prints what the signature covers — the library calls behind
//! `pki sign --profile einvoice` and `pki verify`.

use hsm::SoftwareKey;
use pki_core::cert::parse_certificates;
use pki_core::trust::CertPool;
use pki_core::xml::sign::{sign, Profile, SignOptions};
use pki_core::xml::verify::{verify, VerifyOptions};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/pki")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = SoftwareKey::from_pem(
        &std::fs::read_to_string(fixtures().join("agency.key.pem"))?,
        "agency key",
    )?;
    let chain = parse_certificates(&std::fs::read(fixtures().join("agency.chain.pem"))?)?;
    let anchors = CertPool::from_certs(parse_certificates(&std::fs::read(
        fixtures().join("root.pem"),
    )?)?);
    let invoice = "<?xml version=\"1.0\" encoding=\"utf-8\"?><HDon><DLHDon Id=\"_1\"><TTChung><THDon>Hóa đơn giá trị gia tăng</THDon><SHDon>1</SHDon></TTChung></DLHDon><DSCKS><NBan/><NMua/></DSCKS></HDon>";

    let now = time::OffsetDateTime::now_utc();
    let mut opts = SignOptions::new(now);
    opts.profile = Profile::EInvoice;
    let signed = sign(invoice.as_bytes(), &key, &chain, &opts)?;

    let none = CertPool::new();
    let report = verify(&signed, &VerifyOptions::new(now, &anchors, &none))?;
    println!(
        "{}",
        pki_core::xml::verify::indication_name(report.indication)
    );
    for s in &report.signatures {
        for line in s.coverage() {
            println!("  covers {line}");
        }
    }
    Ok(())
}
