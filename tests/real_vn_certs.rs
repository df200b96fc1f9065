//! Real Vietnamese certificates (from the signed samples in fixtures/samples-vn): names render
//! intact and paths validate against the pinned Vietnamese roots (`--trust vn`).

#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failure should panic with its message"
)]
use interop_tests::{fixtures, pki, text};

/// The certificates embedded in a sample XML document, as DER files in `dir`.
fn certs_of(sample: &str, dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    use base64::Engine;
    let xml = std::fs::read_to_string(fixtures().join("samples-vn").join(sample)).unwrap();
    let mut out = Vec::new();
    for (i, part) in xml.split("<X509Certificate>").skip(1).enumerate() {
        let b64: String = part
            .split("</X509Certificate>")
            .next()
            .unwrap()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        let p = dir.join(format!("{sample}.{i}.der"));
        std::fs::write(&p, der).unwrap();
        out.push(p);
    }
    out
}

#[test]
fn tax_authority_certificate_chains_to_the_government_root() {
    let dir = tempfile::tempdir().unwrap();
    let cert = &certs_of("xml_tdiep204_tbao_cqt-vgca_valid.xml", dir.path())[0];
    let c = cert.to_str().unwrap();
    let o = pki(&[
        "cert",
        "verify",
        c,
        "--trust",
        "vn",
        "--offline",
        "--at",
        "2025-10-10",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let chain: Vec<&str> = v["chain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["subject"].as_str().unwrap())
        .collect();
    assert_eq!(chain.len(), 3, "{chain:?}");
    assert!(chain[0].contains("CN=CỤC THUẾ"), "{chain:?}");
    assert!(
        chain[1].contains("CA phục vụ các cơ quan Nhà nước G2"),
        "{chain:?}"
    );
    assert!(
        chain[2].contains("RootCA chuyên dùng Chính phủ G2"),
        "{chain:?}"
    );
    // Trust is pinned by certificate: the national public root alone does not make it valid.
    let national = fixtures().join("../pki-core/trust/vn/vn-national-root-ca.pem");
    let o = pki(&[
        "cert",
        "verify",
        c,
        "--trust",
        national.to_str().unwrap(),
        "--offline",
        "--at",
        "2025-10-10",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
}

#[test]
fn names_of_real_certificates_render_in_vietnamese() {
    let dir = tempfile::tempdir().unwrap();
    let expect = [
        (
            "xml_hdon_ca2_NBan593651_valid.xml",
            "Công ty cổ phần công nghệ thẻ NACENCOMM",
            "MST:0103930279-999",
        ),
        (
            "xml_tdiep206_cksnnt_ca2rs_valid.xml",
            "TRẦN LỢI TÀI",
            "MST:8014771712",
        ),
        (
            "xml_hdon_viettelca_K23TAC1390239_interop.xml",
            "CHI NHÁNH CÔNG TY TNHH NHÀ NƯỚC MỘT THÀNH VIÊN",
            "MST:0104831030-091",
        ),
    ];
    for (sample, cn, uid) in expect {
        let cert = &certs_of(sample, dir.path())[0];
        let o = pki(&["cert", "show", "--json", cert.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let subject = v[0]["subject"].as_str().unwrap();
        assert!(
            v[0]["common_name"].as_str().unwrap().starts_with(cn),
            "{subject}"
        );
        assert!(subject.contains(&format!("UID={uid}")), "{subject}");
        // Without the issuing CA, the verdict is indeterminate, not invalid.
        let o = pki(&[
            "cert",
            "verify",
            cert.to_str().unwrap(),
            "--trust",
            "vn",
            "--offline",
            "--json",
        ]);
        assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    }
}
