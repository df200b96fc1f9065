//! Text in appearances: a TrueType font embedded as a subset in a Type0 font with a
//! `CIDFontType2` descendant, `Identity-H` encoding and a `ToUnicode` CMap (ISO 32000-2 §9.7,
//! §9.9, §9.10.3), so Vietnamese renders in any reader and copies out exactly.
//!
//! Text is NFC-normalised first (Unicode UAX #15): Vietnamese typed on some systems arrives
//! decomposed (base letter + combining marks), and without shaping only precomposed glyphs
//! place the marks correctly. Each character is one glyph (no ligatures, no kerning), which is
//! what a Times-like serif font at 10 pt needs. The subset's glyphs are renumbered from 1
//! (subsetter crate); the new glyph number is the CID (`/CIDToGIDMap /Identity`).
//!
//! The built-in font is Liberation Serif (SIL OFL 1.1, metric-compatible with Times New Roman,
//! which Decree 30/2020 names); `assets/fonts/LICENSE-LiberationSerif.txt`.

use super::AppearanceError;
use crate::pdf::object::{Dictionary, Object, PdfString, Stream, StreamData};
use crate::pdf::sign::Appearance;
use std::collections::BTreeMap;
use std::sync::Arc;
use unicode_normalization::UnicodeNormalization;

static LIBERATION_SERIF: &[u8] =
    include_bytes!("../../../assets/fonts/LiberationSerif-Regular.ttf");

/// A TrueType/OpenType font program and the metrics an appearance needs.
#[derive(Clone)]
pub struct Font {
    data: Arc<[u8]>,
    ps_name: String,
    units_per_em: f64,
    ascent: f64,
    descent: f64,
    cap_height: f64,
    bbox: [f64; 4],
    italic_angle: f64,
}

impl std::fmt::Debug for Font {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Font").field("name", &self.ps_name).finish()
    }
}

impl Font {
    /// Liberation Serif Regular, built in.
    pub fn liberation_serif() -> Self {
        // The built-in font parses; a failure here would be a broken build, not bad input.
        Self::from_bytes(LIBERATION_SERIF.to_vec()).unwrap_or_else(|_| Self {
            data: Arc::from(LIBERATION_SERIF),
            ps_name: "LiberationSerif".into(),
            units_per_em: 2048.0,
            ascent: 891.0,
            descent: -216.0,
            cap_height: 662.0,
            bbox: [-543.0, -303.0, 2688.0, 1007.0],
            italic_angle: 0.0,
        })
    }

    /// A font file's bytes (TrueType outlines, `glyf`; the first font of a collection). Fonts
    /// whose licence forbids embedding or subsetting (OS/2 `fsType`) are refused.
    pub fn from_bytes(data: Vec<u8>) -> Result<Self, AppearanceError> {
        let bad = |reason: String| AppearanceError::Font { reason };
        let face = ttf_parser::Face::parse(&data, 0)
            .map_err(|e| bad(format!("not a readable TrueType/OpenType font ({e})")))?;
        if face.permissions() == Some(ttf_parser::Permissions::Restricted)
            || !face.is_subsetting_allowed()
        {
            return Err(bad(
                "its licence (OS/2 fsType) does not allow embedding a subset in a document".into(),
            ));
        }
        if face.tables().glyf.is_none() {
            return Err(bad(
                "it has no TrueType outlines (glyf); give a .ttf font".into()
            ));
        }
        let upem = f64::from(face.units_per_em());
        let scale = 1000.0 / upem;
        let ps_name = face
            .names()
            .into_iter()
            .filter(|n| n.name_id == ttf_parser::name_id::POST_SCRIPT_NAME)
            .find_map(|n| n.to_string())
            .map(|n| {
                n.chars()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                    .collect::<String>()
            })
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "EmbeddedFont".into());
        let b = face.global_bounding_box();
        let ascent = f64::from(face.ascender()) * scale;
        Ok(Self {
            ps_name,
            units_per_em: upem,
            ascent,
            descent: f64::from(face.descender()) * scale,
            cap_height: face
                .capital_height()
                .map_or(ascent * 0.7, |c| f64::from(c) * scale),
            bbox: [
                f64::from(b.x_min) * scale,
                f64::from(b.y_min) * scale,
                f64::from(b.x_max) * scale,
                f64::from(b.y_max) * scale,
            ],
            italic_angle: f64::from(face.italic_angle()),
            data: Arc::from(data),
        })
    }

    fn face(&self) -> Result<ttf_parser::Face<'_>, AppearanceError> {
        ttf_parser::Face::parse(&self.data, 0).map_err(|e| AppearanceError::Font {
            reason: format!("not a readable font ({e})"),
        })
    }

    /// Ascent above the baseline, in text space units per 1 unit of font size.
    pub fn ascent(&self) -> f64 {
        self.ascent / 1000.0
    }

    /// Descent below the baseline (negative), per 1 unit of font size.
    pub fn descent(&self) -> f64 {
        self.descent / 1000.0
    }

    /// The glyphs of `text` (NFC) with their advances in 1/1000 of the font size.
    fn glyphs(&self, text: &str) -> Result<Vec<(char, u16, f64)>, AppearanceError> {
        let face = self.face()?;
        text.nfc()
            .filter(|c| !c.is_control())
            .map(|c| {
                let g = face.glyph_index(c).ok_or(AppearanceError::MissingGlyph {
                    ch: c,
                    font: self.ps_name.clone(),
                })?;
                let adv = face.glyph_hor_advance(g).unwrap_or(0);
                Ok((c, g.0, f64::from(adv) * 1000.0 / self.units_per_em))
            })
            .collect()
    }

    /// The width of `text` set at `size` points.
    pub fn width(&self, text: &str, size: f64) -> Result<f64, AppearanceError> {
        Ok(self.glyphs(text)?.iter().map(|g| g.2).sum::<f64>() * size / 1000.0)
    }
}

/// Collects the text an appearance shows, then embeds the font subset it needs.
#[derive(Debug)]
pub struct TextSetter {
    font: Font,
    remapper: subsetter::GlyphRemapper,
    /// New glyph id -> (old glyph id, the character, advance).
    used: BTreeMap<u16, (u16, char, f64)>,
}

impl TextSetter {
    /// A setter for `font`.
    pub fn new(font: Font) -> Self {
        Self {
            font,
            remapper: subsetter::GlyphRemapper::new(),
            used: BTreeMap::new(),
        }
    }

    /// The font.
    pub fn font(&self) -> &Font {
        &self.font
    }

    /// `<...> Tj` operand for `text`: the CIDs as a hexadecimal string.
    pub fn encode(&mut self, text: &str) -> Result<Vec<u8>, AppearanceError> {
        let mut out = b"<".to_vec();
        for (c, g, adv) in self.font.glyphs(text)? {
            let new = self.remapper.remap(g);
            self.used.entry(new).or_insert((g, c, adv));
            out.extend_from_slice(format!("{new:04X}").as_bytes());
        }
        out.push(b'>');
        Ok(out)
    }

    /// Embeds the subset: pushes the font's objects onto `objects` and returns the local
    /// reference of the Type0 font dictionary (for the appearance's `/Font` resources).
    pub fn embed(self, objects: &mut Vec<Object>) -> Result<Object, AppearanceError> {
        let f = &self.font;
        // A user's font file is input: a subsetter bug on a malformed font must become an
        // error, not a crash of a batch or a server.
        let subset = std::panic::catch_unwind(|| subsetter::subset(&f.data, 0, &self.remapper))
            .map_err(|_| AppearanceError::Font {
                reason: "the font file is malformed (subsetting failed)".into(),
            })?
            .map_err(|e| AppearanceError::Font {
                reason: format!("cannot subset the font ({e})"),
            })?;
        // A tag derived from the glyph set (§9.9.2: six upper-case letters and "+").
        let h = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &subset);
        let tag: String = h.as_ref()[..6]
            .iter()
            .map(|b| char::from(b'A' + b % 26))
            .collect();
        let base = format!("{tag}+{}", f.ps_name);

        let mut ff = Dictionary::new();
        ff.set("Length1", subset.len() as i64);
        ff.set("Filter", Object::name("FlateDecode"));
        let file = push(
            objects,
            Object::Stream(Stream {
                dict: ff,
                data: StreamData::Bytes(deflate(&subset)?),
            }),
        );

        let mut fd = Dictionary::new();
        fd.set("Type", Object::name("FontDescriptor"));
        fd.set("FontName", Object::name(&base));
        // Serif (2) + Symbolic (4): a CID font's glyphs are not in the standard Latin set.
        fd.set("Flags", 6i64);
        fd.set(
            "FontBBox",
            f.bbox.iter().map(|&v| num(v)).collect::<Vec<_>>(),
        );
        fd.set("ItalicAngle", num(f.italic_angle));
        fd.set("Ascent", num(f.ascent));
        fd.set("Descent", num(f.descent));
        fd.set("CapHeight", num(f.cap_height));
        fd.set("StemV", 80i64);
        fd.set("FontFile2", file);
        let fd = push(objects, Object::Dictionary(fd));

        // /W: one run of widths per consecutive CIDs (§9.7.4.3).
        let mut w = Vec::new();
        let mut run: Vec<Object> = Vec::new();
        let mut start = None;
        let mut prev = 0u16;
        for (&cid, &(_, _, adv)) in &self.used {
            if start.is_some() && cid != prev + 1 {
                w.push(Object::Integer(i64::from(start.unwrap_or(0))));
                w.push(Object::Array(std::mem::take(&mut run)));
                start = None;
            }
            if start.is_none() {
                start = Some(cid);
            }
            run.push(num(adv));
            prev = cid;
        }
        if let Some(s) = start {
            w.push(Object::Integer(i64::from(s)));
            w.push(Object::Array(run));
        }
        let mut cid = Dictionary::new();
        cid.set("Type", Object::name("Font"));
        cid.set("Subtype", Object::name("CIDFontType2"));
        cid.set("BaseFont", Object::name(&base));
        let mut si = Dictionary::new();
        si.set("Registry", PdfString(b"Adobe".to_vec()));
        si.set("Ordering", PdfString(b"Identity".to_vec()));
        si.set("Supplement", 0i64);
        cid.set("CIDSystemInfo", si);
        cid.set("FontDescriptor", fd);
        cid.set("DW", 1000i64);
        cid.set("W", w);
        cid.set("CIDToGIDMap", Object::name("Identity"));
        let cid = push(objects, Object::Dictionary(cid));

        let tu = push(
            objects,
            Object::Stream(Stream {
                dict: {
                    let mut d = Dictionary::new();
                    d.set("Filter", Object::name("FlateDecode"));
                    d
                },
                data: StreamData::Bytes(deflate(&to_unicode_cmap(&self.used))?),
            }),
        );

        let mut t0 = Dictionary::new();
        t0.set("Type", Object::name("Font"));
        t0.set("Subtype", Object::name("Type0"));
        t0.set("BaseFont", Object::name(&base));
        t0.set("Encoding", Object::name("Identity-H"));
        t0.set("DescendantFonts", vec![cid]);
        t0.set("ToUnicode", tu);
        Ok(push(objects, Object::Dictionary(t0)))
    }
}

fn push(objects: &mut Vec<Object>, o: Object) -> Object {
    objects.push(o);
    Object::Reference(Appearance::local(objects.len() - 1))
}

fn num(v: f64) -> Object {
    let r = (v * 1000.0).round() / 1000.0;
    if r.fract() == 0.0 {
        Object::Integer(r as i64)
    } else {
        Object::Real(r)
    }
}

/// A ToUnicode CMap (§9.10.3, Adobe TN 5411) mapping each 2-byte CID to its character.
fn to_unicode_cmap(used: &BTreeMap<u16, (u16, char, f64)>) -> Vec<u8> {
    let mut s = String::from(
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n\
         /CIDSystemInfo <</Registry (Adobe) /Ordering (UCS) /Supplement 0>> def\n\
         /CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n\
         1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n",
    );
    let entries: Vec<_> = used.iter().collect();
    for chunk in entries.chunks(100) {
        s.push_str(&format!("{} beginbfchar\n", chunk.len()));
        for (cid, (_, c, _)) in chunk {
            let mut u = [0u16; 2];
            let hex: String = c
                .encode_utf16(&mut u)
                .iter()
                .map(|x| format!("{x:04X}"))
                .collect();
            s.push_str(&format!("<{cid:04X}> <{hex}>\n"));
        }
        s.push_str("endbfchar\n");
    }
    s.push_str("endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n");
    s.into_bytes()
}

fn deflate(data: &[u8]) -> Result<Vec<u8>, AppearanceError> {
    use std::io::Write;
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data)
        .and_then(|()| e.finish())
        .map_err(|e| AppearanceError::Font {
            reason: format!("cannot compress the font ({e})"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnamese_is_normalised_and_mapped_back() {
        let f = Font::liberation_serif();
        // "Nguyễn" typed decomposed: e + circumflex + tilde.
        let decomposed = "Nguye\u{302}\u{303}n";
        let mut t = TextSetter::new(f.clone());
        let hex = t.encode(decomposed).unwrap();
        assert_eq!(hex.len(), 2 + 6 * 4, "{}", String::from_utf8_lossy(&hex));
        let w1 = f.width(decomposed, 10.0).unwrap();
        let w2 = f.width("Nguyễn", 10.0).unwrap();
        assert!((w1 - w2).abs() < 1e-9 && w1 > 20.0, "{w1} {w2}");
        let cmap = String::from_utf8(to_unicode_cmap(&t.used)).unwrap();
        assert!(cmap.contains("<1EC5>"), "{cmap}");
        let mut objs = Vec::new();
        let r = t.embed(&mut objs).unwrap();
        assert_eq!(r, Object::Reference(Appearance::local(4)));
        let Object::Stream(ff) = &objs[0] else {
            panic!()
        };
        let StreamData::Bytes(b) = &ff.data else {
            panic!()
        };
        assert!(b.len() < 40_000, "subset too big: {}", b.len());
        let Object::Dictionary(t0) = &objs[4] else {
            panic!()
        };
        let base = t0.get("BaseFont").unwrap().as_name().unwrap();
        assert_eq!(base[6], b'+');
        assert!(base.ends_with(b"+LiberationSerif"));
    }

    #[test]
    fn a_missing_glyph_is_a_clear_error_and_bad_fonts_are_refused() {
        let mut t = TextSetter::new(Font::liberation_serif());
        let e = t.encode("ký 漢").unwrap_err();
        assert!(e.to_string().contains("U+6F22"), "{e}");
        assert!(Font::from_bytes(b"not a font".to_vec()).is_err());
    }

    #[test]
    fn times_metrics() {
        // Liberation Serif is metric-compatible with Times New Roman: "H" is 722/1000 em.
        let f = Font::liberation_serif();
        assert!((f.width("H", 1000.0).unwrap() - 722.0).abs() < 1.0);
    }
}
