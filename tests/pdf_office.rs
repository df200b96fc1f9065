//! The personal signature's anchor search on real office-suite output: LibreOffice Writer
//! (`soffice --headless --convert-to pdf`) lays out a Vietnamese letter written here as a flat
//! ODF (`.fodt`), in "Times New Roman" as Vietnamese documents ask (LibreOffice substitutes the
//! metric-compatible Liberation Serif and embeds WinAnsi TrueType subsets with ToUnicode maps,
//! splitting the Vietnamese letters over several subsets). `pki sign --profile personal
//! --anchor NAME` must put the signature over the name where poppler's `pdftotext -bbox` sees
//! it, with the name in a paragraph and in the right-hand cell of the usual two-column
//! signature table; pdfsig, pyHanko and qpdf accept the outputs.

use interop_tests::remote::{fixture_pki, pdfsig_ok, pyhanko_ok};
use interop_tests::{pki, require_tool, run, text};
use pki_core::pdf::appearance::layout::signature_widgets;
use pki_core::pdf::PdfReader;
use std::path::Path;
use std::process::Command;

const HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"
 xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0"
 xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"
 xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"
 xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"
 xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0"
 office:version="1.3" office:mimetype="application/vnd.oasis.opendocument.text">
 <office:font-face-decls>
  <style:font-face style:name="Times New Roman" svg:font-family="'Times New Roman'"/>
 </office:font-face-decls>
 <office:automatic-styles>
  <style:page-layout style:name="pm1"><style:page-layout-properties fo:page-width="21cm"
   fo:page-height="29.7cm" fo:margin-top="2cm" fo:margin-bottom="2cm" fo:margin-left="3cm"
   fo:margin-right="2cm"/></style:page-layout>
  <style:style style:name="B" style:family="paragraph"><style:paragraph-properties
   fo:text-align="center"/><style:text-properties style:font-name="Times New Roman"
   fo:font-size="13pt" fo:font-weight="bold"/></style:style>
  <style:style style:name="N" style:family="paragraph"><style:paragraph-properties
   fo:text-align="justify"/><style:text-properties style:font-name="Times New Roman"
   fo:font-size="14pt"/></style:style>
 </office:automatic-styles>
 <office:master-styles><style:master-page style:name="Standard"
  style:page-layout-name="pm1"/></office:master-styles>
 <office:body><office:text>
  <text:p text:style-name="N">ỦY BAN NHÂN DÂN TỈNH QUẢNG NGÃI</text:p>
  <text:p text:style-name="N">Số: 15/QĐ-UBND</text:p>
  <text:p text:style-name="N">Về việc phê duyệt kế hoạch chuyển đổi số năm 2026 của các sở, ban,
   ngành và Ủy ban nhân dân các huyện, thị xã, thành phố trên địa bàn tỉnh.</text:p>
"#;
const TAIL: &str = "</office:text></office:body></office:document>\n";

/// The signature block: title, three empty lines for the signature, the name.
fn block(name: &str) -> String {
    let empty = r#"<text:p text:style-name="B"/>"#.repeat(3);
    format!(
        r#"<text:p text:style-name="B">KT. CHỦ TỊCH</text:p>
<text:p text:style-name="B">PHÓ CHỦ TỊCH</text:p>{empty}
<text:p text:style-name="B">{name}</text:p>"#
    )
}

/// The name under the title in a paragraph of its own.
fn paragraph_letter(name: &str) -> String {
    format!("{HEAD}{}{TAIL}", block(name))
}

/// The usual layout: a two-column table, recipients on the left, the signature on the right.
fn table_letter(name: &str) -> String {
    format!(
        r#"{HEAD}<table:table table:name="Ky"><table:table-column table:number-columns-repeated="2"/>
<table:table-row><table:table-cell><text:p text:style-name="N">Nơi nhận:</text:p>
<text:p text:style-name="N">- Như trên;</text:p><text:p text:style-name="N">- Lưu: VT.</text:p>
</table:table-cell><table:table-cell>{}</table:table-cell></table:table-row></table:table>{TAIL}"#,
        block(name)
    )
}

/// `soffice --headless --convert-to pdf` of `fodt` into `dir`, with a profile of the test's own.
fn convert(soffice: &Path, dir: &Path, fodt: &Path) -> std::path::PathBuf {
    let profile = format!("file://{}", dir.join("lo-profile").display());
    let o = run(Command::new(soffice)
        .args(["--headless", "--norestore"])
        .arg(format!("-env:UserInstallation={profile}"))
        .args(["--convert-to", "pdf", "--outdir"])
        .arg(dir)
        .arg(fodt));
    let pdf = fodt.with_extension("pdf");
    assert!(pdf.exists(), "soffice made no PDF: {}", text(&o));
    pdf
}

/// The bounding box `[xMin, yMin, xMax, yMax]` (from the top of the page) of the last
/// occurrence of `words` in a row on page 1, as `pdftotext -bbox` sees it.
fn name_box(pdftotext: &Path, pdf: &Path, words: &[&str]) -> [f64; 4] {
    let o = run(Command::new(pdftotext)
        .args(["-bbox", "-f", "1", "-l", "1"])
        .arg(pdf)
        .arg("-"));
    let html = String::from_utf8_lossy(&o.stdout).into_owned();
    let all: Vec<(String, [f64; 4])> = html
        .lines()
        .filter_map(|l| {
            let w = l.split('>').nth(1)?.strip_suffix("</word")?.to_owned();
            let attr = |k: &str| -> Option<f64> {
                let s = &l[l.find(&format!("{k}=\""))? + k.len() + 2..];
                s[..s.find('"')?].parse().ok()
            };
            Some((
                w,
                [attr("xMin")?, attr("yMin")?, attr("xMax")?, attr("yMax")?],
            ))
        })
        .collect();
    let at = (0..all.len().saturating_sub(words.len() - 1))
        .rev()
        .find(|&i| words.iter().enumerate().all(|(k, w)| all[i + k].0 == *w))
        .unwrap_or_else(|| panic!("{words:?} not found by pdftotext in\n{html}"));
    let (first, last) = (all[at].1, all[at + words.len() - 1].1);
    [first[0], first[1], last[2], last[3]]
}

#[test]
fn personal_signature_lands_on_the_name_in_libreoffice_output() {
    let (Some(soffice), Some(pdftotext)) = (require_tool("soffice"), require_tool("pdftotext"))
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("sig.png"), pki_core::pdf::sample::signature_png()).unwrap();
    for (stem, name, body) in [
        (
            "paragraph",
            "Nguyễn Văn An",
            paragraph_letter as fn(&str) -> String,
        ),
        ("table", "Trần Thị Thu Hương", table_letter),
    ] {
        let fodt = d.join(format!("{stem}.fodt"));
        std::fs::write(&fodt, body(name)).unwrap();
        let pdf = convert(&soffice, d, &fodt);
        let bytes = std::fs::read(&pdf).unwrap();
        if let Some(pdfinfo) = require_tool("pdfinfo") {
            let info = text(&run(Command::new(pdfinfo).arg(&pdf)));
            assert!(
                info.contains("LibreOffice"),
                "{stem}: not LibreOffice output\n{info}"
            );
        }
        let out = d.join(format!("{stem}-signed.pdf"));
        let o = pki(&[
            "sign",
            pdf.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--key",
            &fixture_pki("officer-rsa.key.pem"),
            "--cert",
            &fixture_pki("officer-rsa.chain.pem"),
            "--profile",
            "personal",
            "--image",
            d.join("sig.png").to_str().unwrap(),
            "--anchor",
            name,
        ]);
        assert_eq!(o.status.code(), Some(0), "{stem}: {}", text(&o));
        // The input is untouched; the output keeps its bytes and adds the signature.
        assert_eq!(std::fs::read(&pdf).unwrap(), bytes);
        let signed = std::fs::read(&out).unwrap();
        assert_eq!(&signed[..bytes.len()], &bytes[..], "{stem}");

        let mut reader =
            PdfReader::new(std::io::Cursor::new(signed.clone()), signed.len() as u64).unwrap();
        let widgets = signature_widgets(&mut reader).unwrap();
        assert_eq!(widgets.len(), 1, "{stem}");
        let r = widgets[0].visible.unwrap();
        let words: Vec<&str> = name.split(' ').collect();
        let b = name_box(&pdftotext, &pdf, &words);
        // pdftotext measures from the top of the A4 page; the widget is in PDF space. The
        // image stands on the name's top edge, centred on the name.
        let page_h = 29.7 / 2.54 * 72.0;
        let name_top = page_h - b[1];
        let name_centre = (b[0] + b[2]) / 2.0;
        assert!(
            r[1] >= name_top - 3.0 && r[1] < name_top + 8.0,
            "{stem}: widget {r:?}, name top {name_top}"
        );
        assert!(
            ((r[0] + r[2]) / 2.0 - name_centre).abs() < 3.0,
            "{stem}: widget {r:?}, name centre {name_centre}"
        );
        assert!(r[3] - r[1] >= 20.0, "{stem}: widget {r:?} too flat");
        pdfsig_ok(&out);
        pyhanko_ok(&out);
        if let Some(qpdf) = require_tool("qpdf") {
            let o = run(Command::new(qpdf).arg("--check").arg(&out));
            assert!(o.status.success(), "qpdf {stem}: {}", text(&o));
        }
    }
}
