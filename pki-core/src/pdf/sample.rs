//! A small one-page PDF with a few lines of text (Helvetica, ASCII), and sample signature and
//! seal images, for the demo and tests.

/// A one-page A4 PDF 1.7 with `lines` of text, classic xref table.
pub fn one_page(lines: &[&str]) -> Vec<u8> {
    let mut content = String::from("BT /F1 12 Tf 72 770 Td 16 TL\n");
    for l in lines {
        let escaped: String = l
            .chars()
            .filter(char::is_ascii)
            .flat_map(|c| match c {
                '(' | ')' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        content.push_str(&format!("({escaped}) Tj T*\n"));
    }
    content.push_str("ET");
    let objs = [
        "<</Type/Catalog/Pages 2 0 R>>".to_string(),
        "<</Type/Pages/Kids[3 0 R]/Count 1>>".to_string(),
        "<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>>>".to_string(),
        format!("<</Length {}>>stream\n{content}\nendstream", content.len()),
        "<</Type/Font/Subtype/Type1/BaseFont/Helvetica/Encoding/WinAnsiEncoding>>".to_string(),
    ];
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).as_bytes());
    for o in offsets {
        out.extend(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend(
        format!(
            "trailer\n<</Size {}/Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n",
            objs.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// A one-page A4 official letter in Vietnamese, set in the built-in Liberation Serif (Type0,
/// Identity-H, with ToUnicode), with the Decree 30 signature block on the right: `title` lines,
/// room for the signature, then `signer`. For the demo and tests of the visible layouts.
pub fn official_letter(doc_number: &str, title: &[&str], signer: &str) -> Vec<u8> {
    use super::appearance::{Font, TextSetter};
    use super::object::{Dictionary, Object, Stream, StreamData};
    let font = Font::liberation_serif();
    let mut t = TextSetter::new(font.clone());
    let mut content = Vec::new();
    // (text, size, centre x or left x, y, centred)
    let mut lines: Vec<(String, f64, f64, f64, bool)> = vec![
        ("ỦY BAN NHÂN DÂN".into(), 13.0, 160.0, 760.0, true),
        ("TỈNH BẮC NINH".into(), 13.0, 160.0, 744.0, true),
        (format!("Số: {doc_number}"), 13.0, 160.0, 720.0, true),
        (
            "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM".into(),
            12.0,
            400.0,
            760.0,
            true,
        ),
        (
            "Độc lập - Tự do - Hạnh phúc".into(),
            13.0,
            400.0,
            744.0,
            true,
        ),
        (
            "V/v thử nghiệm chữ ký số trên văn bản điện tử".into(),
            12.0,
            72.0,
            680.0,
            false,
        ),
        (
            "Kính gửi: Các sở, ban, ngành thuộc tỉnh.".into(),
            13.0,
            72.0,
            640.0,
            false,
        ),
    ];
    let mut y = 330.0;
    for l in title {
        lines.push(((*l).into(), 13.0, 420.0, y, true));
        y -= 16.0;
    }
    lines.push((signer.into(), 13.0, 420.0, y - 80.0, true));
    for (text, size, x, y, centred) in lines {
        let w = font.width(&text, size).unwrap_or(0.0);
        let x = if centred { x - w / 2.0 } else { x };
        let Ok(hex) = t.encode(&text) else { continue };
        content.extend(format!("BT /F1 {size} Tf {x:.2} {y:.2} Td ").bytes());
        content.extend(hex);
        content.extend(b" Tj ET\n");
    }
    let mut font_objs = Vec::new();
    let Ok(font_ref) = t.embed(&mut font_objs) else {
        return one_page(&["(font error)"]);
    };
    let first = 5u32;
    let refs: Vec<super::ObjRef> = (0..font_objs.len() as u32)
        .map(|i| super::ObjRef::new(first + i))
        .collect();
    let mut font_ref = font_ref;
    super::sign::relink(&mut font_ref, &refs);
    let mut fonts = Dictionary::new();
    fonts.set("F1", font_ref);
    let mut res = Dictionary::new();
    res.set("Font", fonts);
    let mut page = Dictionary::new();
    page.set("Type", Object::name("Page"));
    page.set("Parent", super::ObjRef::new(2));
    page.set(
        "MediaBox",
        vec![
            Object::Integer(0),
            Object::Integer(0),
            Object::Integer(595),
            Object::Integer(842),
        ],
    );
    page.set("Contents", super::ObjRef::new(4));
    page.set("Resources", res);
    let mut objs: Vec<Object> = vec![
        Object::Dictionary({
            let mut d = Dictionary::new();
            d.set("Type", Object::name("Catalog"));
            d.set("Pages", super::ObjRef::new(2));
            d
        }),
        Object::Dictionary({
            let mut d = Dictionary::new();
            d.set("Type", Object::name("Pages"));
            d.set("Kids", vec![Object::Reference(super::ObjRef::new(3))]);
            d.set("Count", 1i64);
            d
        }),
        Object::Dictionary(page),
        Object::Stream(Stream {
            dict: Dictionary::new(),
            data: StreamData::Bytes(content),
        }),
    ];
    for mut o in font_objs {
        super::sign::relink(&mut o, &refs);
        objs.push(o);
    }
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n", i + 1).as_bytes());
        o.write_to(&mut out);
        out.extend(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).as_bytes());
    for o in offsets {
        out.extend(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend(
        format!(
            "trailer\n<</Size {}/Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n",
            objs.len() + 1
        )
        .as_bytes(),
    );
    out
}

/// A handwriting-like signature stroke in blue on a transparent background, 600 x 200 pixels
/// (PNG, RGBA, anti-aliased), for demos and tests of the personal layout.
pub fn signature_png() -> Vec<u8> {
    let (w, h) = (600usize, 200usize);
    let mut alpha = vec![0f64; w * h];
    // A flourish: a slanted loop, a wave, and an underline, sampled densely and stamped with a
    // round pen 6 px in radius.
    let mut pts = Vec::new();
    for i in 0..=4000 {
        let t = f64::from(i) / 4000.0;
        let x = 40.0 + 520.0 * t;
        let y = 100.0 + 45.0 * (t * 18.0).sin() * (1.0 - 0.6 * t) - 30.0 * (t * 3.0).cos();
        pts.push((x + 25.0 * (t * 18.0).cos(), y));
    }
    for i in 0..=1000 {
        let t = f64::from(i) / 1000.0;
        pts.push((60.0 + 480.0 * t, 165.0 - 10.0 * (t * 6.0).sin()));
    }
    let r = 6.0;
    for (px, py) in pts {
        let (x0, x1) = (
            (px - r - 1.0).max(0.0) as usize,
            ((px + r + 1.0) as usize).min(w - 1),
        );
        let (y0, y1) = (
            (py - r - 1.0).max(0.0) as usize,
            ((py + r + 1.0) as usize).min(h - 1),
        );
        for y in y0..=y1 {
            for x in x0..=x1 {
                let d = ((x as f64 + 0.5 - px).powi(2) + (y as f64 + 0.5 - py).powi(2)).sqrt();
                let a = (r + 0.5 - d).clamp(0.0, 1.0);
                let cell = &mut alpha[y * w + x];
                *cell = cell.max(a);
            }
        }
    }
    let mut rgba = Vec::with_capacity(w * h * 4);
    for a in alpha {
        rgba.extend_from_slice(&[0, 40, 170, (a * 255.0).round() as u8]);
    }
    encode_rgba(w as u32, h as u32, &rgba, None)
}

/// A round red seal of `diameter_mm` on a transparent background at 300 dpi, with its physical
/// size in the PNG's pHYs chunk: an outer and an inner ring and a five-pointed star.
pub fn seal_png(diameter_mm: f64) -> Vec<u8> {
    let ppm = 11_811u32; // 300 dots per inch
    let n = (diameter_mm * f64::from(ppm) / 1000.0).round().max(8.0) as usize;
    let c = n as f64 / 2.0;
    let mut rgba = Vec::with_capacity(n * n * 4);
    let star: Vec<(f64, f64)> = (0..10)
        .map(|k| {
            let ang = std::f64::consts::FRAC_PI_2 + f64::from(k) * std::f64::consts::PI / 5.0;
            let rad = if k % 2 == 0 { 0.30 } else { 0.12 } * c;
            (c + rad * ang.cos(), c - rad * ang.sin())
        })
        .collect();
    for y in 0..n {
        for x in 0..n {
            let (fx, fy) = (x as f64 + 0.5, y as f64 + 0.5);
            let d = ((fx - c).powi(2) + (fy - c).powi(2)).sqrt() / c;
            let ring = (0.94..=1.0).contains(&d) || (0.72..=0.76).contains(&d);
            let on = ring || inside(&star, fx, fy);
            rgba.extend_from_slice(&[210, 16, 24, if on { 255 } else { 0 }]);
        }
    }
    encode_rgba(n as u32, n as u32, &rgba, Some(ppm))
}

/// Even-odd point-in-polygon test.
fn inside(poly: &[(f64, f64)], x: f64, y: f64) -> bool {
    let mut inside = false;
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        let ((xi, yi), (xj, yj)) = (poly[i], poly[j]);
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
}

fn encode_rgba(w: u32, h: u32, rgba: &[u8], ppm: Option<u32>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut e = png::Encoder::new(&mut out, w, h);
    e.set_color(png::ColorType::Rgba);
    e.set_depth(png::BitDepth::Eight);
    e.set_pixel_dims(ppm.map(|p| png::PixelDimensions {
        xppu: p,
        yppu: p,
        unit: png::Unit::Meter,
    }));
    // Writing to a Vec cannot fail for a well-formed header and a buffer of the right size.
    if let Ok(mut wr) = e.write_header() {
        let _ = wr.write_image_data(rgba);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn sample_images_decode_with_their_size() {
        let seal = crate::pdf::appearance::Image::from_png(&super::seal_png(36.0)).unwrap();
        let (w, h) = seal.size_mm.unwrap();
        assert!((w - 36.0).abs() < 0.1 && (h - 36.0).abs() < 0.1, "{w} {h}");
        assert!(seal.has_alpha);
        let sig = crate::pdf::appearance::Image::from_png(&super::signature_png()).unwrap();
        assert_eq!((sig.width, sig.height), (600, 200));
        assert!(sig.has_alpha);
    }

    #[test]
    fn the_letter_has_its_text_and_the_signer_is_found() {
        let pdf = super::official_letter(
            "15/QĐ-UBND",
            &["KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH"],
            "Nguyễn Văn An",
        );
        let mut r = crate::pdf::PdfReader::new(std::io::Cursor::new(pdf.clone()), pdf.len() as u64)
            .unwrap();
        let (pr, p) = r.page(0).unwrap();
        let lines = crate::pdf::appearance::text::page_lines(&mut r, pr, &p).unwrap();
        let texts: Vec<String> = lines.iter().map(|l| l.text()).collect();
        assert!(texts.iter().any(|t| t == "Số: 15/QĐ-UBND"), "{texts:?}");
        let f = crate::pdf::appearance::text::find(&lines, "Nguyễn Văn An").unwrap();
        assert_eq!(f.y, 330.0 - 32.0 - 80.0);
        assert_eq!(f.line_above.map(|l| l.0), Some(330.0 - 16.0));
    }

    #[test]
    fn reads_back() {
        let bytes = super::one_page(&["Cong van so 123/UBND-VP", "(draft)"]);
        let mut r =
            crate::pdf::PdfReader::new(std::io::Cursor::new(bytes.clone()), bytes.len() as u64)
                .unwrap();
        assert_eq!(r.page_count().unwrap(), 1);
        assert!(r.repairs().is_empty());
    }
}
