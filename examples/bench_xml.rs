//! XML signing benchmark (run with `scripts/bench-xml`, release build, pinned to one core):
//! small documents signed per second in-process with a software RSA-2048 key, verified per
//! second, and one `pki sign` process against one `xmlsec1 --sign` process on the same file,
//! timed in the same run (xmlsec1 with `SSL_CERT_FILE=/dev/null`, so it skips loading the system
//! CA bundle).
//!
//! Usage: `bench_xml [PATH_TO_PKI]` (without it, only the in-process figures are printed).

use hsm::SoftwareKey;
use pki_core::cert::parse_certificates;
use pki_core::trust::CertPool;
use pki_core::xml::sign::{sign, SignOptions};
use pki_core::xml::verify::{verify, Indication, VerifyOptions};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/pki")
}

/// A small e-invoice-like document (about 1.3 KB).
const DOC: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<HDon><DLHDon Id=\"_1\"><TTChung><PBan>2.1.0</PBan><THDon>Hóa đơn giá trị gia tăng</THDon><KHMSHDon>1</KHMSHDon><KHHDon>C25TCA</KHHDon><SHDon>7</SHDon><NLap>2025-10-10</NLap><DVTTe>VND</DVTTe><HTTToan>Tiền mặt/Chuyển khoản</HTTToan></TTChung><NDHDon><NBan><Ten>Công ty cổ phần công nghệ thẻ NACENCOMM</Ten><MST>0103930279</MST><DChi>Tầng 5, Số 2 Chùa Bộc, Phường Kim Liên, Hà Nội</DChi></NBan><NMua><Ten>Ủy ban nhân dân tỉnh Bắc Ninh</Ten><MST>2300227450</MST><DChi>Số 10 Phù Đổng Thiên Vương, Bắc Ninh</DChi></NMua><DSHHDVu><HHDVu><TChat>1</TChat><STT>1</STT><THHDVu>Dịch vụ chữ ký số</THHDVu><DVTinh>Gói</DVTinh><SLuong>1</SLuong><DGia>1000000</DGia><ThTien>1000000</ThTien><TSuat>10%</TSuat></HHDVu></DSHHDVu><TToan><TgTCThue>1000000</TgTCThue><TgTThue>100000</TgTThue><TgTTTBSo>1100000</TgTTTBSo><TgTTTBChu>Một triệu một trăm nghìn đồng</TgTTTBChu></TToan></NDHDon></DLHDon></HDon>\n";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time_process(n: usize, mut make: impl FnMut() -> Command) -> Duration {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let mut c = make();
        let t = Instant::now();
        let o = c.output().expect("run");
        v.push(t.elapsed());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    median(v)
}

fn main() {
    let key_pem = std::fs::read_to_string(fixtures().join("officer-rsa.key.pem")).expect("key");
    let key = SoftwareKey::from_pem(&key_pem, "officer-rsa").expect("key");
    let chain = parse_certificates(
        &std::fs::read(fixtures().join("officer-rsa.chain.pem")).expect("chain"),
    )
    .expect("chain");
    let anchors = CertPool::from_certs(
        parse_certificates(&std::fs::read(fixtures().join("root.pem")).expect("root"))
            .expect("root"),
    );
    let none = CertPool::new();
    let now = time::OffsetDateTime::now_utc();
    let opts = SignOptions::new(now);

    println!("== in-process, one core, software RSA-2048 key, {} byte document, enveloped, exc-c14n, RSA-SHA256", DOC.len());
    let signed = sign(DOC.as_bytes(), &key, &chain, &opts).expect("sign");
    let vo = VerifyOptions::new(now, &anchors, &none);
    assert_eq!(
        verify(&signed, &vo).expect("verify").indication,
        Indication::TotalPassed
    );
    let n = 3000;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(sign(DOC.as_bytes(), &key, &chain, &opts).expect("sign"));
    }
    let per_sign = t.elapsed() / n;
    println!(
        "sign:   {:>8.0} documents/s ({:.3} ms each; target >= 1,000/s)",
        1.0 / per_sign.as_secs_f64(),
        per_sign.as_secs_f64() * 1e3
    );
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(
            pki_core::xml::sign::prepare(
                DOC.as_bytes(),
                hsm::Signer::key_kind(&key),
                &hsm::Signer::algorithms(&key),
                &chain,
                &opts,
            )
            .expect("prepare"),
        );
    }
    let per_prep = t.elapsed() / n;
    println!(
        "        of which XML work (parse, c14n, digests, template): {:.3} ms, RSA signature: {:.3} ms",
        per_prep.as_secs_f64() * 1e3,
        (per_sign.saturating_sub(per_prep)).as_secs_f64() * 1e3
    );
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(verify(&signed, &vo).expect("verify"));
    }
    let per_verify = t.elapsed() / n;
    println!(
        "verify: {:>8.0} documents/s ({:.3} ms each, chain validation included)",
        1.0 / per_verify.as_secs_f64(),
        per_verify.as_secs_f64() * 1e3
    );

    // The machine's own limit, measured in the same run (other load shows up in both).
    if let Ok(o) = Command::new("openssl")
        .args(["speed", "-seconds", "2", "rsa2048"])
        .output()
    {
        let out = String::from_utf8_lossy(&o.stdout);
        if let Some(line) = out.lines().find(|l| l.starts_with("rsa 2048 bits")) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if let Some(sign_s) = f.get(f.len().saturating_sub(2)) {
                println!("openssl speed rsa2048 on this core, same run: {sign_s} signatures/s");
            }
        }
    }

    let Some(pki) = std::env::args().nth(1) else {
        return;
    };
    println!("\n== one process per signature, same document, same key (median of 30)");
    let dir = std::env::temp_dir().join(format!("bench-xml-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let input = dir.join("in.xml");
    std::fs::write(&input, DOC).expect("write");
    let tmpl = dir.join("tmpl.xml");
    let sig_tmpl = "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/><ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"/><ds:Reference URI=\"\"><ds:Transforms><ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/><ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/></ds:Transforms><ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/><ds:DigestValue/></ds:Reference></ds:SignedInfo><ds:SignatureValue/><ds:KeyInfo><ds:X509Data/></ds:KeyInfo></ds:Signature>";
    std::fs::write(&tmpl, DOC.replace("</HDon>", &format!("{sig_tmpl}</HDon>"))).expect("write");
    let key_file = fixtures().join("officer-rsa.key.pem");
    let chain_file = fixtures().join("officer-rsa.chain.pem");
    let cert_file = fixtures().join("officer-rsa.pem");
    let out_ours = dir.join("ours.xml");
    let out_theirs = dir.join("theirs.xml");
    let runs = 30;
    let ours = time_process(runs, || {
        let mut c = Command::new(&pki);
        c.arg("sign")
            .arg(&input)
            .arg("-o")
            .arg(&out_ours)
            .arg("--key")
            .arg(&key_file)
            .arg("--cert")
            .arg(&chain_file);
        c
    });
    let theirs = time_process(runs, || {
        let mut c = Command::new("xmlsec1");
        c.env("SSL_CERT_FILE", "/dev/null")
            .arg("--sign")
            .arg("--privkey-pem")
            .arg(format!("{},{}", key_file.display(), cert_file.display()))
            .arg("--output")
            .arg(&out_theirs)
            .arg(&tmpl);
        c
    });
    let theirs_bundle = time_process(10, || {
        let mut c = Command::new("xmlsec1");
        c.arg("--sign")
            .arg("--privkey-pem")
            .arg(format!("{},{}", key_file.display(), cert_file.display()))
            .arg("--output")
            .arg(&out_theirs)
            .arg(&tmpl);
        c
    });
    println!(
        "pki sign:                            {:>7.2} ms",
        ours.as_secs_f64() * 1e3
    );
    println!(
        "xmlsec1 --sign (SSL_CERT_FILE=/dev/null): {:>7.2} ms",
        theirs.as_secs_f64() * 1e3
    );
    println!(
        "xmlsec1 --sign (system CA bundle):   {:>7.2} ms",
        theirs_bundle.as_secs_f64() * 1e3
    );
    println!(
        "ratio pki / xmlsec1 (no bundle):     {:>7.2} (target <= 1.0)",
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
