//! Where text is on a page: a small content-stream interpreter (ISO 32000-2 §9.4 text objects,
//! §8.4 graphics state, §8.10 form XObjects) that yields each shown character with its position
//! in default user space, grouped into lines. Enough to find a signer's name on pages written by
//! LibreOffice, Word, reportlab or pyHanko, so the personal signature can be placed above it.
//!
//! Characters come from the font's `/ToUnicode` CMap (§9.10.3) when there is one, else from the
//! simple font's encoding (WinAnsi, MacRoman, Standard, `/Differences` with glyph names). Widths
//! come from `/Widths` or `/W`; the standard 14 fonts without widths use Helvetica's, Times'
//! (Liberation Serif's, metric-compatible) or Courier's. Text drawn rotated is still placed by
//! its origin; vertical writing is not handled.

use crate::pdf::lexer::{Lexer, Token};
use crate::pdf::object::{Dictionary, Object};
use crate::pdf::{ObjRef, PdfError, PdfReader};
use std::collections::HashMap;
use std::io::{Read, Seek};
use unicode_normalization::UnicodeNormalization;

/// Decoded content larger than this is not searched further.
const MAX_CONTENT: usize = 32 << 20;
/// Characters collected per page at most.
const MAX_GLYPHS: usize = 500_000;
/// Form XObjects nested deeper than this are not entered.
const MAX_FORM_DEPTH: usize = 8;

/// One shown character (display coordinates).
#[derive(Clone, Debug, PartialEq)]
pub struct Glyph {
    /// The character(s) (empty when unknown).
    pub text: String,
    /// Left edge, default user space.
    pub x0: f64,
    /// Right edge (after the glyph's advance).
    pub x1: f64,
    /// Baseline.
    pub y: f64,
    /// The font size in user space.
    pub size: f64,
}

/// A line of text: glyphs sharing a baseline, left to right.
#[derive(Clone, Debug, Default)]
pub struct Line {
    /// Baseline.
    pub y: f64,
    /// The glyphs.
    pub glyphs: Vec<Glyph>,
}

impl Line {
    /// The line's text, with a space where glyphs are far apart.
    pub fn text(&self) -> String {
        let mut s = String::new();
        let mut prev: Option<&Glyph> = None;
        for g in &self.glyphs {
            if let Some(p) = prev {
                if g.x0 - p.x1 > 0.2 * g.size && !s.ends_with(' ') && !g.text.starts_with(' ') {
                    s.push(' ');
                }
            }
            s.push_str(&g.text);
            prev = Some(g);
        }
        s
    }
}

/// Where a text was found.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    /// Left edge of the first character.
    pub x0: f64,
    /// Right edge of the last character.
    pub x1: f64,
    /// Baseline.
    pub y: f64,
    /// Font size.
    pub size: f64,
    /// The baseline of the nearest line above that has text over the match (the signer's title
    /// in a Decree 30 signature block), and its font size.
    pub line_above: Option<(f64, f64)>,
}

/// The lines of text on a page, top to bottom, in display coordinates (see
/// [`super::space::PageSpace`]: user space on an unrotated page).
pub fn page_lines<R: Read + Seek>(
    reader: &mut PdfReader<R>,
    page_ref: ObjRef,
    page: &Dictionary,
) -> Result<Vec<Line>, PdfError> {
    let resources = inherited(reader, page, "Resources")?
        .and_then(|o| o.as_dict().cloned())
        .unwrap_or_default();
    let content = match reader.get_in(page, "Contents")? {
        None => Vec::new(),
        Some(Object::Array(parts)) => {
            let mut all = Vec::new();
            for p in parts.iter().take(10_000) {
                if let Some(r) = p.as_reference() {
                    if let Object::Stream(s) = reader.get(r)? {
                        all.extend(reader.decode_stream(r, &s, MAX_CONTENT)?);
                        all.push(b'\n');
                    }
                }
                if all.len() > MAX_CONTENT {
                    break;
                }
            }
            all
        }
        Some(Object::Stream(s)) => {
            let r = page
                .get("Contents")
                .and_then(Object::as_reference)
                .unwrap_or(page_ref);
            reader.decode_stream(r, &s, MAX_CONTENT)?
        }
        Some(_) => Vec::new(),
    };
    // Positions as the page is shown (its /Rotate applied).
    let start = super::space::PageSpace::of(reader, page_ref, page)
        .map(|s| s.user_to_display())
        .unwrap_or(IDENTITY);
    let mut it = Interpreter {
        reader,
        glyphs: Vec::new(),
        fonts: HashMap::new(),
    };
    it.run(&content, &resources, start, 0)?;
    Ok(group_lines(it.glyphs))
}

/// Finds `needle` in `lines` (case, spaces and Unicode composition ignored); the last match on
/// the page (lowest) when there are several.
pub fn find(lines: &[Line], needle: &str) -> Option<Found> {
    let want: Vec<char> = fold(needle).into_iter().map(|(c, _)| c).collect();
    if want.is_empty() {
        return None;
    }
    let mut best: Option<Found> = None;
    for line in lines {
        let mut chars = Vec::new();
        for (i, g) in line.glyphs.iter().enumerate() {
            chars.extend(fold(&g.text).into_iter().map(|(c, _)| (c, i)));
        }
        let folded = compose(chars);
        let hay: Vec<char> = folded.iter().map(|(c, _)| *c).collect();
        let Some(at) = hay.windows(want.len()).rposition(|w| w == want.as_slice()) else {
            continue;
        };
        let first = &line.glyphs[folded[at].1];
        let last = &line.glyphs[folded[at + want.len() - 1].1];
        let f = Found {
            x0: first.x0.min(last.x0),
            x1: last.x1.max(first.x1),
            y: line.y,
            size: first.size,
            line_above: None,
        };
        if best.as_ref().is_none_or(|b| f.y < b.y) {
            best = Some(f);
        }
    }
    let mut f = best?;
    f.line_above = lines
        .iter()
        .filter(|l| l.y > f.y + 0.6 * f.size)
        .filter(|l| {
            l.glyphs
                .iter()
                .any(|g| !g.text.trim().is_empty() && g.x1 > f.x0 - 10.0 && g.x0 < f.x1 + 10.0)
        })
        .map(|l| (l.y, l.glyphs.first().map_or(f.size, |g| g.size)))
        .min_by(|a, b| a.0.total_cmp(&b.0));
    Some(f)
}

/// Lower-cased characters without white space, each with its position in the input.
fn fold(s: &str) -> Vec<(char, usize)> {
    s.nfc()
        .flat_map(char::to_lowercase)
        .filter(|c| !c.is_whitespace())
        .enumerate()
        .map(|(i, c)| (c, i))
        .collect()
}

/// Composes a combining mark drawn as its own glyph with the letter before it.
fn compose(chars: Vec<(char, usize)>) -> Vec<(char, usize)> {
    let mut out: Vec<(char, usize)> = Vec::with_capacity(chars.len());
    for (c, i) in chars {
        if unicode_normalization::char::is_combining_mark(c) {
            if let Some(last) = out.last_mut() {
                if let Some(x) = unicode_normalization::char::compose(last.0, c) {
                    last.0 = x;
                    continue;
                }
            }
        }
        out.push((c, i));
    }
    out
}

fn group_lines(glyphs: Vec<Glyph>) -> Vec<Line> {
    let mut lines: Vec<Line> = Vec::new();
    for g in glyphs {
        let tol = 0.4 * g.size.max(1.0);
        match lines.iter_mut().find(|l| (l.y - g.y).abs() < tol) {
            Some(l) => l.glyphs.push(g),
            None => lines.push(Line {
                y: g.y,
                glyphs: vec![g],
            }),
        }
    }
    for l in &mut lines {
        l.glyphs.sort_by(|a, b| a.x0.total_cmp(&b.x0));
    }
    lines.sort_by(|a, b| b.y.total_cmp(&a.y));
    lines
}

/// A page attribute, inherited through `/Parent` (§7.7.3.4).
pub fn inherited<R: Read + Seek>(
    reader: &mut PdfReader<R>,
    page: &Dictionary,
    key: &str,
) -> Result<Option<Object>, PdfError> {
    let mut node = page.clone();
    for _ in 0..64 {
        if let Some(v) = reader.get_in(&node, key)? {
            return Ok(Some(v));
        }
        match reader.get_in(&node, "Parent")? {
            Some(Object::Dictionary(p)) => node = p,
            _ => return Ok(None),
        }
    }
    Ok(None)
}

type Matrix = [f64; 6];
const IDENTITY: Matrix = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0];

/// `a × b` (row vectors, §8.3.4).
fn mul(a: &Matrix, b: &Matrix) -> Matrix {
    [
        a[0] * b[0] + a[1] * b[2],
        a[0] * b[1] + a[1] * b[3],
        a[2] * b[0] + a[3] * b[2],
        a[2] * b[1] + a[3] * b[3],
        a[4] * b[0] + a[5] * b[2] + b[4],
        a[4] * b[1] + a[5] * b[3] + b[5],
    ]
}

fn apply(m: &Matrix, x: f64, y: f64) -> (f64, f64) {
    (x * m[0] + y * m[2] + m[4], x * m[1] + y * m[3] + m[5])
}

#[derive(Clone)]
struct State {
    ctm: Matrix,
    font: Option<std::rc::Rc<FontInfo>>,
    size: f64,
    char_spacing: f64,
    word_spacing: f64,
    scale: f64,
    leading: f64,
    rise: f64,
}

struct Interpreter<'a, R> {
    reader: &'a mut PdfReader<R>,
    glyphs: Vec<Glyph>,
    fonts: HashMap<(ObjRef, Vec<u8>), std::rc::Rc<FontInfo>>,
}

impl<R: Read + Seek> Interpreter<'_, R> {
    fn run(
        &mut self,
        content: &[u8],
        resources: &Dictionary,
        ctm: Matrix,
        depth: usize,
    ) -> Result<(), PdfError> {
        let mut st = State {
            ctm,
            font: None,
            size: 0.0,
            char_spacing: 0.0,
            word_spacing: 0.0,
            scale: 1.0,
            leading: 0.0,
            rise: 0.0,
        };
        let mut stack: Vec<State> = Vec::new();
        let mut tm = IDENTITY;
        let mut tlm = IDENTITY;
        let mut ops: Vec<Object> = Vec::new();
        let mut lx = Lexer::new(content, true);
        let res_key = ObjRef::new(0);
        loop {
            if self.glyphs.len() > MAX_GLYPHS {
                return Ok(());
            }
            let tok = match lx.next_token() {
                Ok(Some(t)) => t,
                // Damaged content: what was read so far is what the page shows.
                Ok(None) | Err(_) => return Ok(()),
            };
            let op: &[u8] = match tok {
                Token::Int(i) => {
                    ops.push(Object::Integer(i));
                    continue;
                }
                Token::Real(r) => {
                    ops.push(Object::Real(r));
                    continue;
                }
                Token::Str(s) => {
                    ops.push(Object::String(crate::pdf::PdfString(s)));
                    continue;
                }
                Token::Name(n) => {
                    ops.push(Object::Name(crate::pdf::Name(n)));
                    continue;
                }
                Token::ArrayOpen => {
                    let mut a = Vec::new();
                    loop {
                        match lx.next_token() {
                            Ok(Some(Token::ArrayClose)) => break,
                            Ok(Some(Token::Int(i))) => a.push(Object::Integer(i)),
                            Ok(Some(Token::Real(r))) => a.push(Object::Real(r)),
                            Ok(Some(Token::Str(s))) => {
                                a.push(Object::String(crate::pdf::PdfString(s)))
                            }
                            Ok(Some(_)) => {}
                            Ok(None) | Err(_) => return Ok(()),
                        }
                    }
                    ops.push(Object::Array(a));
                    continue;
                }
                Token::DictOpen => {
                    let mut depth = 1;
                    while depth > 0 {
                        match lx.next_token() {
                            Ok(Some(Token::DictOpen)) => depth += 1,
                            Ok(Some(Token::DictClose)) => depth -= 1,
                            Ok(Some(_)) => {}
                            Ok(None) | Err(_) => return Ok(()),
                        }
                    }
                    ops.push(Object::Null);
                    continue;
                }
                Token::ArrayClose | Token::DictClose => continue,
                Token::Keyword(k) => k,
            };
            let n = |i: usize| -> f64 {
                ops.len()
                    .checked_sub(i + 1)
                    .and_then(|j| ops.get(j))
                    .and_then(Object::as_f64)
                    .unwrap_or(0.0)
            };
            let six = || -> Matrix { [n(5), n(4), n(3), n(2), n(1), n(0)] };
            match op {
                b"q" => stack.push(st.clone()),
                b"Q" => {
                    if let Some(s) = stack.pop() {
                        st = s;
                    }
                }
                b"cm" => st.ctm = mul(&six(), &st.ctm),
                b"BT" => {
                    tm = IDENTITY;
                    tlm = IDENTITY;
                }
                b"Tf" => {
                    st.size = n(0);
                    st.font = match ops.len().checked_sub(2).and_then(|i| ops.get(i)) {
                        Some(Object::Name(name)) => {
                            self.font(resources, res_key, &name.0).ok().flatten()
                        }
                        _ => None,
                    };
                }
                b"Tc" => st.char_spacing = n(0),
                b"Tw" => st.word_spacing = n(0),
                b"Tz" => st.scale = n(0) / 100.0,
                b"TL" => st.leading = n(0),
                b"Ts" => st.rise = n(0),
                b"Td" | b"TD" => {
                    if op == b"TD" {
                        st.leading = -n(0);
                    }
                    tlm = mul(&[1.0, 0.0, 0.0, 1.0, n(1), n(0)], &tlm);
                    tm = tlm;
                }
                b"Tm" => {
                    tlm = six();
                    tm = tlm;
                }
                b"T*" => {
                    tlm = mul(&[1.0, 0.0, 0.0, 1.0, 0.0, -st.leading], &tlm);
                    tm = tlm;
                }
                b"Tj" | b"'" | b"\"" => {
                    if op == b"\"" {
                        st.word_spacing = n(2);
                        st.char_spacing = n(1);
                    }
                    if op != b"Tj" {
                        tlm = mul(&[1.0, 0.0, 0.0, 1.0, 0.0, -st.leading], &tlm);
                        tm = tlm;
                    }
                    if let Some(Object::String(s)) = ops.last() {
                        let s = s.0.clone();
                        self.show(&st, &mut tm, &s);
                    }
                }
                b"TJ" => {
                    if let Some(Object::Array(a)) = ops.last() {
                        let a = a.clone();
                        for item in a {
                            match item {
                                Object::String(s) => self.show(&st, &mut tm, &s.0),
                                o => {
                                    let tx =
                                        -o.as_f64().unwrap_or(0.0) / 1000.0 * st.size * st.scale;
                                    tm = mul(&[1.0, 0.0, 0.0, 1.0, tx, 0.0], &tm);
                                }
                            }
                        }
                    }
                }
                b"Do" if depth < MAX_FORM_DEPTH => {
                    if let Some(Object::Name(name)) = ops.last() {
                        let name = name.0.clone();
                        self.form(resources, &name, &st.ctm, depth)?;
                    }
                }
                b"BI" => {
                    // Inline image: skip to after `EI` (§8.9.7).
                    let buf = lx.buf();
                    let mut p = lx.pos();
                    if let Some(id) = find_bytes(buf, p, b"ID") {
                        p = id + 3;
                        while p + 2 <= buf.len() {
                            if &buf[p..p + 2] == b"EI"
                                && p > 0
                                && crate::pdf::lexer::is_whitespace(buf[p - 1])
                                && buf
                                    .get(p + 2)
                                    .is_none_or(|&b| crate::pdf::lexer::is_whitespace(b))
                            {
                                break;
                            }
                            p += 1;
                        }
                        lx.set_pos(p + 2);
                    } else {
                        return Ok(());
                    }
                }
                _ => {}
            }
            ops.clear();
        }
    }

    fn show(&mut self, st: &State, tm: &mut Matrix, bytes: &[u8]) {
        let Some(font) = st.font.clone() else {
            return;
        };
        let th = st.scale;
        for (code, len) in font.codes(bytes) {
            let w0 = font.width(code) / 1000.0;
            let m = mul(tm, &st.ctm);
            let (x0, y) = apply(&m, 0.0, st.rise);
            let (x1, _) = apply(&m, w0 * st.size * th, st.rise);
            let size = st.size * (m[2] * m[2] + m[3] * m[3]).sqrt();
            self.glyphs.push(Glyph {
                text: font.unicode(code),
                x0,
                x1,
                y,
                size: size.abs(),
            });
            let ws = if len == 1 && code == 32 {
                st.word_spacing
            } else {
                0.0
            };
            let tx = (w0 * st.size + st.char_spacing + ws) * th;
            *tm = mul(&[1.0, 0.0, 0.0, 1.0, tx, 0.0], tm);
        }
    }

    fn form(
        &mut self,
        resources: &Dictionary,
        name: &[u8],
        ctm: &Matrix,
        depth: usize,
    ) -> Result<(), PdfError> {
        let Some(Object::Dictionary(xobjs)) = self.reader.get_in(resources, "XObject")? else {
            return Ok(());
        };
        let key = String::from_utf8_lossy(name).into_owned();
        let Some(r) = xobjs.get(&key).and_then(Object::as_reference) else {
            return Ok(());
        };
        let Object::Stream(s) = self.reader.get(r)? else {
            return Ok(());
        };
        if !s.dict.has_name("Subtype", "Form") {
            return Ok(());
        }
        let m = match s.dict.get("Matrix").and_then(Object::as_array) {
            Some(a) if a.len() == 6 => {
                let v: Vec<f64> = a.iter().map(|o| o.as_f64().unwrap_or(0.0)).collect();
                [v[0], v[1], v[2], v[3], v[4], v[5]]
            }
            _ => IDENTITY,
        };
        let res = match self.reader.get_in(&s.dict, "Resources")? {
            Some(Object::Dictionary(d)) => d,
            _ => resources.clone(),
        };
        let data = self.reader.decode_stream(r, &s, MAX_CONTENT)?;
        self.run(&data, &res, mul(&m, ctm), depth + 1)
    }

    fn font(
        &mut self,
        resources: &Dictionary,
        _res_key: ObjRef,
        name: &[u8],
    ) -> Result<Option<std::rc::Rc<FontInfo>>, PdfError> {
        let Some(Object::Dictionary(fonts)) = self.reader.get_in(resources, "Font")? else {
            return Ok(None);
        };
        let key = String::from_utf8_lossy(name).into_owned();
        let fref = fonts.get(&key).and_then(Object::as_reference);
        if let Some(r) = fref {
            if let Some(f) = self.fonts.get(&(r, Vec::new())) {
                return Ok(Some(f.clone()));
            }
        }
        let Some(Object::Dictionary(fd)) = self.reader.get_in(&fonts, &key)? else {
            return Ok(None);
        };
        let info = std::rc::Rc::new(FontInfo::load(self.reader, &fd)?);
        if let Some(r) = fref {
            self.fonts.insert((r, Vec::new()), info.clone());
        }
        Ok(Some(info))
    }
}

fn find_bytes(buf: &[u8], from: usize, pat: &[u8]) -> Option<usize> {
    buf.get(from..)?
        .windows(pat.len())
        .position(|w| w == pat)
        .map(|p| p + from)
}

/// What the extractor needs of a font: code lengths, widths, characters.
#[derive(Debug, Default)]
struct FontInfo {
    /// Bytes per code for a composite font (1 for simple fonts).
    two_byte: bool,
    widths: HashMap<u32, f64>,
    default_width: f64,
    to_unicode: HashMap<u32, String>,
    /// Simple fonts: code -> character from the encoding.
    encoding: Option<[char; 256]>,
    builtin: Builtin,
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum Builtin {
    #[default]
    None,
    Helvetica,
    Times,
    Courier,
}

impl FontInfo {
    fn load<R: Read + Seek>(reader: &mut PdfReader<R>, fd: &Dictionary) -> Result<Self, PdfError> {
        let mut f = FontInfo {
            default_width: 500.0,
            ..Default::default()
        };
        let subtype = fd.get("Subtype").and_then(Object::as_name).unwrap_or(b"");
        if let Some(Object::Stream(s)) = reader.get_in(fd, "ToUnicode")? {
            let r = fd
                .get("ToUnicode")
                .and_then(Object::as_reference)
                .unwrap_or(ObjRef::new(0));
            if let Ok(data) = reader.decode_stream(r, &s, 4 << 20) {
                f.to_unicode = parse_to_unicode(&data);
            }
        }
        if subtype == b"Type0" {
            f.two_byte = true;
            f.default_width = 1000.0;
            if let Some(Object::Array(d)) = reader.get_in(fd, "DescendantFonts")? {
                if let Some(Object::Dictionary(cid)) =
                    d.first().map(|o| reader.resolve(o)).transpose()?
                {
                    if let Some(dw) = reader.get_in(&cid, "DW")?.and_then(|o| o.as_f64()) {
                        f.default_width = dw;
                    }
                    if let Some(Object::Array(w)) = reader.get_in(&cid, "W")? {
                        let mut i = 0;
                        while i < w.len() && f.widths.len() < 70_000 {
                            let first = reader.resolve(&w[i])?.as_i64().unwrap_or(0);
                            match w.get(i + 1).map(|o| reader.resolve(o)).transpose()? {
                                Some(Object::Array(ws)) => {
                                    for (k, x) in ws.iter().enumerate() {
                                        f.widths.insert(
                                            (first as u32).wrapping_add(k as u32),
                                            x.as_f64().unwrap_or(0.0),
                                        );
                                    }
                                    i += 2;
                                }
                                Some(Object::Integer(last)) => {
                                    let wv = w
                                        .get(i + 2)
                                        .and_then(Object::as_f64)
                                        .unwrap_or(f.default_width);
                                    for c in first..=last.min(first.saturating_add(65_536)) {
                                        f.widths.insert(c as u32, wv);
                                    }
                                    i += 3;
                                }
                                _ => break,
                            }
                        }
                    }
                }
            }
            return Ok(f);
        }
        // Simple fonts.
        let base = fd.get("BaseFont").and_then(Object::as_name).unwrap_or(b"");
        let base = String::from_utf8_lossy(base);
        let base = base.split('+').next_back().unwrap_or("");
        f.builtin = if base.starts_with("Helvetica") || base.starts_with("Arial") {
            Builtin::Helvetica
        } else if base.starts_with("Times") {
            Builtin::Times
        } else if base.starts_with("Courier") {
            Builtin::Courier
        } else {
            Builtin::None
        };
        let first = reader
            .get_in(fd, "FirstChar")?
            .and_then(|o| o.as_i64())
            .unwrap_or(0);
        if let Some(Object::Array(ws)) = reader.get_in(fd, "Widths")? {
            for (k, w) in ws.iter().enumerate().take(256) {
                let w = reader.resolve(w)?.as_f64().unwrap_or(0.0);
                f.widths.insert(first.saturating_add(k as i64) as u32, w);
            }
        }
        if let Some(Object::Dictionary(desc)) = reader.get_in(fd, "FontDescriptor")? {
            if let Some(mw) = reader
                .get_in(&desc, "MissingWidth")?
                .and_then(|o| o.as_f64())
            {
                f.default_width = mw;
            }
        }
        let mut enc = WIN_ANSI;
        match reader.get_in(fd, "Encoding")? {
            Some(Object::Name(n)) => enc = base_encoding(&n.0),
            Some(Object::Dictionary(d)) => {
                if let Some(Object::Name(n)) = reader.get_in(&d, "BaseEncoding")? {
                    enc = base_encoding(&n.0);
                }
                if let Some(Object::Array(diffs)) = reader.get_in(&d, "Differences")? {
                    let mut code = 0usize;
                    for o in diffs.iter().take(2048) {
                        match o {
                            Object::Integer(c) => code = (*c).clamp(0, 255) as usize,
                            Object::Name(n) => {
                                if code < 256 {
                                    if let Some(c) = glyph_name_char(&n.0) {
                                        enc[code] = c;
                                    }
                                }
                                code += 1;
                            }
                            _ => {}
                        }
                    }
                }
            }
            _ => {}
        }
        f.encoding = Some(enc);
        Ok(f)
    }

    /// The codes of a string and their byte lengths.
    fn codes(&self, bytes: &[u8]) -> Vec<(u32, usize)> {
        if self.two_byte {
            bytes
                .chunks(2)
                .map(|c| (c.iter().fold(0u32, |a, &b| (a << 8) | u32::from(b)), 2))
                .collect()
        } else {
            bytes.iter().map(|&b| (u32::from(b), 1)).collect()
        }
    }

    fn unicode(&self, code: u32) -> String {
        if let Some(s) = self.to_unicode.get(&code) {
            return s.clone();
        }
        match &self.encoding {
            Some(enc) => enc
                .get(code as usize)
                .filter(|c| **c != '\0')
                .map(|c| c.to_string())
                .unwrap_or_default(),
            None => String::new(),
        }
    }

    fn width(&self, code: u32) -> f64 {
        if let Some(w) = self.widths.get(&code) {
            return *w;
        }
        match self.builtin {
            Builtin::Helvetica => HELVETICA
                .get(code.wrapping_sub(32) as usize)
                .map_or(556.0, |&w| f64::from(w)),
            Builtin::Times => {
                let c = self.unicode(code);
                super::Font::liberation_serif()
                    .width(&c, 1000.0)
                    .ok()
                    .filter(|w| *w > 0.0)
                    .unwrap_or(500.0)
            }
            Builtin::Courier => 600.0,
            Builtin::None => self.default_width,
        }
    }
}

/// Helvetica's widths for ASCII 32..=126 (Adobe's AFM; Liberation Sans has the same metrics).
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667,
    611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500,
    222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];

/// WinAnsiEncoding (§D.2): Latin-1 with the Windows-1252 additions in 0x80..0x9F.
const WIN_ANSI: [char; 256] = {
    let mut t = ['\0'; 256];
    let mut i = 32;
    while i < 256 {
        t[i] = match char::from_u32(i as u32) {
            Some(c) => c,
            None => '\0',
        };
        i += 1;
    }
    let extra: [(usize, char); 27] = [
        (0x80, '€'),
        (0x82, '‚'),
        (0x83, 'ƒ'),
        (0x84, '„'),
        (0x85, '…'),
        (0x86, '†'),
        (0x87, '‡'),
        (0x88, 'ˆ'),
        (0x89, '‰'),
        (0x8A, 'Š'),
        (0x8B, '‹'),
        (0x8C, 'Œ'),
        (0x8E, 'Ž'),
        (0x91, '‘'),
        (0x92, '’'),
        (0x93, '“'),
        (0x94, '”'),
        (0x95, '•'),
        (0x96, '–'),
        (0x97, '—'),
        (0x98, '˜'),
        (0x99, '™'),
        (0x9A, 'š'),
        (0x9B, '›'),
        (0x9C, 'œ'),
        (0x9E, 'ž'),
        (0x9F, 'Ÿ'),
    ];
    let mut k = 0;
    while k < extra.len() {
        t[extra[k].0] = extra[k].1;
        k += 1;
    }
    t
};

fn base_encoding(name: &[u8]) -> [char; 256] {
    // StandardEncoding and MacRomanEncoding agree with WinAnsi on ASCII letters, digits and
    // most punctuation, which is what names are made of; their upper halves differ but matter
    // only for text without a ToUnicode map in those encodings.
    let mut t = WIN_ANSI;
    if name == b"StandardEncoding" {
        t[0x27] = '’';
        t[0x60] = '‘';
    }
    t
}

/// The character of a glyph name (Adobe Glyph List conventions: `uniXXXX`, `uXXXX`, and the
/// names of Latin letters with Vietnamese diacritics that old encodings use).
fn glyph_name_char(name: &[u8]) -> Option<char> {
    let s = std::str::from_utf8(name).ok()?;
    let s = s.split('.').next().unwrap_or(s);
    if let Some(h) = s.strip_prefix("uni").filter(|h| h.len() == 4) {
        return u32::from_str_radix(h, 16).ok().and_then(char::from_u32);
    }
    if let Some(h) = s.strip_prefix('u').filter(|h| (4..=6).contains(&h.len())) {
        if let Ok(v) = u32::from_str_radix(h, 16) {
            return char::from_u32(v);
        }
    }
    if s.len() == 1 {
        return s.chars().next();
    }
    const NAMES: &[(&str, char)] = &[
        ("space", ' '),
        ("period", '.'),
        ("comma", ','),
        ("colon", ':'),
        ("semicolon", ';'),
        ("hyphen", '-'),
        ("slash", '/'),
        ("parenleft", '('),
        ("parenright", ')'),
        ("zero", '0'),
        ("one", '1'),
        ("two", '2'),
        ("three", '3'),
        ("four", '4'),
        ("five", '5'),
        ("six", '6'),
        ("seven", '7'),
        ("eight", '8'),
        ("nine", '9'),
        ("Dcroat", 'Đ'),
        ("dcroat", 'đ'),
        ("Abreve", 'Ă'),
        ("abreve", 'ă'),
        ("Ohorn", 'Ơ'),
        ("ohorn", 'ơ'),
        ("Uhorn", 'Ư'),
        ("uhorn", 'ư'),
        ("Acircumflex", 'Â'),
        ("acircumflex", 'â'),
        ("Ecircumflex", 'Ê'),
        ("ecircumflex", 'ê'),
        ("Ocircumflex", 'Ô'),
        ("ocircumflex", 'ô'),
        ("Agrave", 'À'),
        ("agrave", 'à'),
        ("Aacute", 'Á'),
        ("aacute", 'á'),
        ("Atilde", 'Ã'),
        ("atilde", 'ã'),
        ("Egrave", 'È'),
        ("egrave", 'è'),
        ("Eacute", 'É'),
        ("eacute", 'é'),
        ("Igrave", 'Ì'),
        ("igrave", 'ì'),
        ("Iacute", 'Í'),
        ("iacute", 'í'),
        ("Ograve", 'Ò'),
        ("ograve", 'ò'),
        ("Oacute", 'Ó'),
        ("oacute", 'ó'),
        ("Otilde", 'Õ'),
        ("otilde", 'õ'),
        ("Ugrave", 'Ù'),
        ("ugrave", 'ù'),
        ("Uacute", 'Ú'),
        ("uacute", 'ú'),
        ("Yacute", 'Ý'),
        ("yacute", 'ý'),
        ("Itilde", 'Ĩ'),
        ("itilde", 'ĩ'),
        ("Utilde", 'Ũ'),
        ("utilde", 'ũ'),
        ("gravecomb", '\u{300}'),
        ("acutecomb", '\u{301}'),
        ("tildecomb", '\u{303}'),
        ("hookabovecomb", '\u{309}'),
        ("dotbelowcomb", '\u{323}'),
    ];
    NAMES.iter().find(|(n, _)| *n == s).map(|(_, c)| *c)
}

/// Parses the `bfchar` and `bfrange` mappings of a ToUnicode CMap (Adobe TN 5411, §9.10.3).
fn parse_to_unicode(data: &[u8]) -> HashMap<u32, String> {
    let mut map = HashMap::new();
    let mut lx = Lexer::new(data, true);
    let code = |b: &[u8]| b.iter().fold(0u32, |a, &x| (a << 8) | u32::from(x));
    let text = |b: &[u8]| {
        let u: Vec<u16> = b
            .chunks(2)
            .map(|c| (u16::from(c[0]) << 8) | u16::from(*c.get(1).unwrap_or(&0)))
            .collect();
        String::from_utf16_lossy(&u)
    };
    let mut mode = 0;
    let mut pending: Vec<Token<'_>> = Vec::new();
    while let Ok(Some(t)) = lx.next_token() {
        match &t {
            Token::Keyword(b"beginbfchar") => {
                mode = 1;
                pending.clear();
            }
            Token::Keyword(b"beginbfrange") => {
                mode = 2;
                pending.clear();
            }
            Token::Keyword(b"endbfchar" | b"endbfrange") => mode = 0,
            Token::ArrayOpen if mode == 2 => {
                // [<dst> <dst> ...] for each code of the range.
                let mut items = Vec::new();
                while let Ok(Some(x)) = lx.next_token() {
                    match x {
                        Token::Str(s) => items.push(s),
                        _ => break,
                    }
                }
                if let [Token::Str(lo), Token::Str(_)] = pending.as_slice() {
                    let lo = code(lo);
                    for (k, s) in items.iter().enumerate() {
                        map.insert(lo.wrapping_add(k as u32), text(s));
                    }
                }
                pending.clear();
            }
            _ if mode == 1 => {
                pending.push(t);
                if pending.len() == 2 {
                    if let [Token::Str(c), Token::Str(s)] = pending.as_slice() {
                        map.insert(code(c), text(s));
                    }
                    pending.clear();
                }
            }
            _ if mode == 2 => {
                pending.push(t);
                if pending.len() == 3 {
                    if let [Token::Str(lo), Token::Str(hi), Token::Str(dst)] = pending.as_slice() {
                        let (lo, hi) = (code(lo), code(hi));
                        let base: Vec<u16> = dst
                            .chunks(2)
                            .map(|c| (u16::from(c[0]) << 8) | u16::from(*c.get(1).unwrap_or(&0)))
                            .collect();
                        for (k, c) in (lo..=hi.min(lo.saturating_add(65_535))).enumerate() {
                            let mut u = base.clone();
                            if let Some(last) = u.last_mut() {
                                *last = last.wrapping_add(k as u16);
                            }
                            map.insert(c, String::from_utf16_lossy(&u));
                        }
                    }
                    pending.clear();
                }
            }
            _ => {}
        }
        if map.len() > 200_000 {
            break;
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(pdf: &[u8]) -> Vec<Line> {
        let mut r = PdfReader::new(std::io::Cursor::new(pdf.to_vec()), pdf.len() as u64).unwrap();
        assert!(r.repairs().is_empty(), "{:?}", r.repairs());
        let (pr, p) = r.page(0).unwrap();
        page_lines(&mut r, pr, &p).unwrap()
    }

    #[test]
    fn sample_page_lines_and_positions() {
        let pdf =
            crate::pdf::sample::one_page(&["KT. CHU TICH", "PHO CHU TICH", "", "Nguyen Van An"]);
        let lines = lines_of(&pdf);
        let texts: Vec<String> = lines.iter().map(Line::text).collect();
        assert_eq!(texts, ["KT. CHU TICH", "PHO CHU TICH", "Nguyen Van An"]);
        let f = find(&lines, "nguyen  van an").unwrap();
        assert_eq!(f.x0, 72.0);
        assert_eq!(f.y, 770.0 - 3.0 * 16.0);
        // Helvetica 12 pt: "Nguyen Van An" is 7004/1000 em = 84.048 pt wide.
        assert!((f.x1 - 72.0 - 84.048).abs() < 0.01, "{}", f.x1);
        assert_eq!(f.line_above, Some((770.0 - 16.0, 12.0)));
        assert!(find(&lines, "Tran Thi B").is_none());
    }

    /// A one-page PDF with Helvetica as /F1 and `content` as the page content.
    fn page_with(content: &str) -> Vec<u8> {
        let objs = [
            "<</Type/Catalog/Pages 2 0 R>>".to_string(),
            "<</Type/Pages/Kids[3 0 R]/Count 1>>".to_string(),
            "<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents 4 0 R\
             /Resources<</Font<</F1 5 0 R>>>>>>"
                .to_string(),
            format!("<</Length {}>>stream\n{content}\nendstream", content.len()),
            "<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>".to_string(),
        ];
        let mut out = b"%PDF-1.7\n".to_vec();
        let mut offsets = Vec::new();
        for (i, o) in objs.iter().enumerate() {
            offsets.push(out.len());
            out.extend(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
        }
        let xref = out.len();
        out.extend(b"xref\n0 6\n0000000000 65535 f \n");
        for o in offsets {
            out.extend(format!("{o:010} 00000 n \n").as_bytes());
        }
        out.extend(
            format!("trailer\n<</Size 6/Root 1 0 R>>\nstartxref\n{xref}\n%%EOF\n").as_bytes(),
        );
        out
    }

    #[test]
    fn quote_operators_tj_spacing_and_the_ctm() {
        // ' and " move to the next line; TJ numbers move left; Tz scales; cm moves everything.
        let content = "q 1 0 0 1 10 0 cm BT /F1 10 Tf 14 TL 100 700 Td (Ha) Tj                        (Noi) ' 2 0 (Viet Nam) \" [(A) -1000 (B)] TJ ET Q";
        let lines = lines_of(&page_with(content));
        let texts: Vec<String> = lines.iter().map(Line::text).collect();
        assert_eq!(texts, ["Ha", "Noi", "Viet NamA B"], "{lines:?}");
        let ha = &lines[0].glyphs[0];
        assert_eq!((ha.x0, ha.y), (110.0, 700.0));
        assert_eq!(lines[1].y, 686.0);
        // After "Viet Nam" (2 pt word spacing): A, a 10 pt gap from -1000 at 10 pt, B.
        let a = lines[2].glyphs.iter().find(|g| g.text == "A").unwrap();
        let b = lines[2].glyphs.iter().find(|g| g.text == "B").unwrap();
        assert!((b.x0 - a.x1 - 10.0).abs() < 1e-9, "{a:?} {b:?}");
    }

    #[test]
    fn hostile_content_never_panics() {
        // Operators with missing, extra or wrong-typed operands, unbalanced arrays and
        // dictionaries, inline images without an end, strings cut short.
        const PIECES: &[&str] = &[
            "BT",
            "ET",
            "q",
            "Q",
            "Tj",
            "TJ",
            "'",
            "\"",
            "Tf",
            "/F1",
            "/F9",
            "Td",
            "TD",
            "Tm",
            "T*",
            "cm",
            "Tz",
            "TL",
            "Do",
            "/X",
            "[",
            "]",
            "<<",
            ">>",
            "(a",
            "(b)",
            "<00",
            "<4E>",
            "1e308",
            "-0",
            "99999999999999999999",
            "0",
            "12",
            "BI",
            "ID",
            "EI",
            "%",
            "\n",
            "(\\",
            ")",
            "{",
            "}",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..300 {
            let mut c = String::new();
            for _ in 0..40 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                c.push_str(PIECES[(seed % PIECES.len() as u64) as usize]);
                c.push(' ');
            }
            let lines = lines_of(&page_with(&c));
            let _ = find(&lines, "a");
        }
        // Fonts with extreme /FirstChar, /W ranges and CMap codes.
        let cmap = b"1 beginbfrange <FFFFFFFF> <FFFFFFFF> [<0041> <0042>] endbfrange \
                     1 beginbfrange <FFFFFFFE> <FFFFFFFF> <0041> endbfrange";
        assert!(!parse_to_unicode(cmap).is_empty());
    }

    #[test]
    fn tj_arrays_cmaps_and_matrices() {
        let cmap = b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n\
            1 begincodespacerange <0000> <FFFF> endcodespacerange\n\
            2 beginbfchar <0001> <004E> <0002> <1EC5> endbfchar\n\
            1 beginbfrange <0003> <0004> <0067> endbfrange\n\
            1 beginbfrange <0005> <0006> [<0075> <0079>] endbfrange\nendcmap";
        let map = parse_to_unicode(cmap);
        assert_eq!(map[&1], "N");
        assert_eq!(map[&2], "ễ");
        assert_eq!(map[&4], "h");
        assert_eq!(map[&6], "y");
        let f = FontInfo {
            two_byte: true,
            default_width: 500.0,
            to_unicode: map,
            ..Default::default()
        };
        assert_eq!(f.codes(&[0, 1, 0, 2]), vec![(1, 2), (2, 2)]);
        assert_eq!(f.unicode(2), "ễ");
        // Decomposed marks drawn as separate glyphs still match.
        let g = |t: &str, x: f64| Glyph {
            text: t.into(),
            x0: x,
            x1: x + 5.0,
            y: 100.0,
            size: 10.0,
        };
        let line = Line {
            y: 100.0,
            glyphs: vec![
                g("Nguye", 0.0),
                g("\u{302}", 5.0),
                g("\u{303}", 5.0),
                g("n", 10.0),
            ],
        };
        let found = find(&[line], "NGUYỄN").unwrap();
        assert_eq!((found.x0, found.x1), (0.0, 15.0));
        assert_eq!(glyph_name_char(b"uni1EC5"), Some('ễ'));
        assert_eq!(glyph_name_char(b"dcroat"), Some('đ'));
    }
}
