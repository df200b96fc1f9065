//! Where each Decree 30/2020 layout goes on the page and what its appearance stream draws.

use super::font::{Font, TextSetter};
use super::image::Image;
use super::space::PageSpace;
use super::text;
use super::AppearanceError;
use crate::pdf::object::{Dictionary, Object};
use crate::pdf::sign::Appearance;
use crate::pdf::{ObjRef, PdfReader};
use std::io::{Read, Seek};
use std::path::Path;
use std::sync::Arc;
use time::OffsetDateTime;

/// Points per millimetre.
pub const PT_PER_MM: f64 = 72.0 / 25.4;
/// Text size of the attachment and copy stamps (Decree 30: 10 pt).
const STAMP_SIZE: f64 = 10.0;
/// Line spacing of the stamps.
const STAMP_LEADING: f64 = 12.0;
/// Stamp position: distance of its top from the top of the page, and of its right edge from the
/// right edge (inside the 20-25 mm top and 15-20 mm right margins of Decree 30, Appendix I).
const STAMP_TOP_MM: f64 = 6.0;
const STAMP_RIGHT_MM: f64 = 15.0;
/// Default height of a personal signature placed from an anchor when the gap above the name is
/// not known.
const DEFAULT_SIGNATURE_HEIGHT: f64 = 56.0;

/// The visible-signature layouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Profile {
    /// The competent person's handwritten signature image.
    Personal,
    /// The agency's seal beside the personal signature.
    Agency,
    /// The stamp on an attachment: number and symbol, time.
    Attachment,
    /// The stamp on an electronic copy: form of copy, agency, time.
    Copy,
    /// Invisible, or a custom image and/or text.
    Plain,
}

impl Profile {
    /// The profile's name as the command line spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Personal => "personal",
            Self::Agency => "agency",
            Self::Attachment => "attachment",
            Self::Copy => "copy",
            Self::Plain => "plain",
        }
    }
}

/// What the layout needs. Build it once for a batch (the image is decoded once).
#[derive(Clone, Debug)]
pub struct LayoutOptions {
    /// The layout.
    pub profile: Profile,
    /// The image (signature, seal, or custom for plain).
    pub image: Option<Arc<Image>>,
    /// The font for text.
    pub font: Font,
    /// The page (0-based) for `--rect`, or to search for the anchor; default: page 1 for a
    /// rectangle, every page (last first) for an anchor.
    pub page: Option<u64>,
    /// `[x, y, width, height]` in points from the page's lower left corner.
    pub rect: Option<[f64; 4]>,
    /// The text above which the personal signature goes (default: `signer_name`).
    pub anchor: Option<String>,
    /// The seal's width in millimetres (default: from the PNG's pHYs).
    pub seal_size_mm: Option<f64>,
    /// The document's number and symbol (attachment).
    pub doc_number: Option<String>,
    /// The form of copy (copy): "SAO Y", "SAO LỤC", "TRÍCH SAO".
    pub copy_form: Option<String>,
    /// The copying agency (copy).
    pub copy_agency: Option<String>,
    /// Text for a plain visible signature (lines separated by `\n`).
    pub text: Option<String>,
    /// The signer's name (the certificate's common name): the default anchor.
    pub signer_name: Option<String>,
}

impl LayoutOptions {
    /// A layout with the built-in font and nothing else set.
    pub fn new(profile: Profile) -> Self {
        Self {
            profile,
            image: None,
            font: Font::liberation_serif(),
            page: None,
            rect: None,
            anchor: None,
            seal_size_mm: None,
            doc_number: None,
            copy_form: None,
            copy_agency: None,
            text: None,
            signer_name: None,
        }
    }
}

/// Where the signature goes.
#[derive(Clone, Debug)]
pub struct Placed {
    /// The page (0-based).
    pub page: u64,
    /// The appearance, `None` for an invisible signature.
    pub appearance: Option<Appearance>,
}

/// `2025-03-20T10:00:00+07:00`: the time in Vietnam (UTC+07:00, no daylight saving), ISO 8601,
/// as Decree 30 asks the stamps to show it.
pub fn vietnam_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::macros::offset!(+7));
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+07:00",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Lays out the signature for `input`, signed at `signing_time`.
pub fn place(
    input: &Path,
    opts: &LayoutOptions,
    signing_time: OffsetDateTime,
) -> Result<Placed, AppearanceError> {
    let mut reader = PdfReader::open(input)?;
    place_in(&mut reader, opts, signing_time)
}

/// [`place`] over an open reader.
pub fn place_in<R: Read + Seek>(
    reader: &mut PdfReader<R>,
    opts: &LayoutOptions,
    signing_time: OffsetDateTime,
) -> Result<Placed, AppearanceError> {
    let mut placed = place_display(reader, opts, signing_time)?;
    // Laid out as the page is shown; the widget lives in user space.
    if let Some(a) = placed.appearance.as_mut() {
        let (pref, pd) = reader.page(placed.page)?;
        let space = PageSpace::of(reader, pref, &pd)?;
        if space.rotate != 0 {
            a.rect = space.rect_to_user(a.rect);
            let mut content = format!("q {}", space.content_prefix(a.rect)).into_bytes();
            content.append(&mut a.content);
            content.extend_from_slice(b"\nQ");
            a.content = content;
        }
    }
    Ok(placed)
}

/// [`place_in`] with every rectangle in display coordinates.
fn place_display<R: Read + Seek>(
    reader: &mut PdfReader<R>,
    opts: &LayoutOptions,
    signing_time: OffsetDateTime,
) -> Result<Placed, AppearanceError> {
    let count = reader.page_count()?;
    let check_page = |p: u64| {
        if p >= count {
            Err(AppearanceError::NoSuchPage { page: p + 1, count })
        } else {
            Ok(p)
        }
    };
    let given_rect = opts.rect.map(to_corners).transpose()?;
    match opts.profile {
        Profile::Personal => {
            let img = opts.image.as_ref().ok_or(AppearanceError::NeedsImage {
                profile: "personal",
            })?;
            let (page, rect) = match given_rect {
                Some(r) => (check_page(opts.page.unwrap_or(0))?, r),
                None => anchor_rect(reader, opts, img, count)?,
            };
            Ok(Placed {
                page,
                appearance: Some(image_appearance(img, rect, true)),
            })
        }
        Profile::Agency => {
            let img = opts
                .image
                .as_ref()
                .ok_or(AppearanceError::NeedsImage { profile: "agency" })?;
            let widgets = signature_widgets(reader)?;
            if widgets.is_empty() {
                return Err(AppearanceError::NoPersonalSignature);
            }
            let (w_mm, h_mm) = match (opts.seal_size_mm, img.size_mm) {
                (Some(w), _) => (w, w / img.aspect()),
                (None, Some(s)) => s,
                (None, None) => return Err(AppearanceError::NeedsSealSize),
            };
            let (sw, sh) = (w_mm * PT_PER_MM, h_mm * PT_PER_MM);
            if let Some(r) = given_rect {
                // The user's place, the seal still at its real size, centred there.
                let (cx, cy) = ((r[0] + r[2]) / 2.0, (r[1] + r[3]) / 2.0);
                let rect = [cx - sw / 2.0, cy - sh / 2.0, cx + sw / 2.0, cy + sh / 2.0];
                return Ok(Placed {
                    page: check_page(opts.page.unwrap_or(0))?,
                    appearance: Some(image_appearance(img, rect, false)),
                });
            }
            let (page, pr) = widgets
                .iter()
                .rev()
                .find_map(|w| w.visible.map(|r| (w.page, r)))
                .ok_or(AppearanceError::NoVisibleSignature)?;
            // As shown on screen.
            let (pref, pd) = reader.page(page)?;
            let pr = PageSpace::of(reader, pref, &pd)?.rect_to_display(pr);
            // Decree 30 I.II.8a: over about one third of the signature, on its left.
            let right = pr[0] + (pr[2] - pr[0]) / 3.0;
            let cy = (pr[1] + pr[3]) / 2.0;
            let rect = [right - sw, cy - sh / 2.0, right, cy + sh / 2.0];
            Ok(Placed {
                page,
                appearance: Some(image_appearance(img, rect, false)),
            })
        }
        Profile::Attachment => {
            let number = opts
                .doc_number
                .as_deref()
                .filter(|s| !s.trim().is_empty())
                .ok_or(AppearanceError::NeedsDocNumber)?;
            let lines = [number.trim().to_owned(), vietnam_time(signing_time)];
            stamp(reader, opts, &lines, given_rect)
        }
        Profile::Copy => {
            let form = opts
                .copy_form
                .clone()
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(|| "SAO Y".into());
            let mut lines = vec![form];
            if let Some(a) = opts.copy_agency.as_deref().filter(|s| !s.trim().is_empty()) {
                lines.push(a.trim().to_owned());
            }
            lines.push(vietnam_time(signing_time));
            stamp(reader, opts, &lines, given_rect)
        }
        Profile::Plain => {
            let text = opts.text.as_deref().filter(|t| !t.trim().is_empty());
            if opts.image.is_none() && text.is_none() {
                return Ok(Placed {
                    page: check_page(opts.page.unwrap_or(0))?,
                    appearance: None,
                });
            }
            let rect = given_rect.ok_or(AppearanceError::NeedsRect)?;
            let page = check_page(opts.page.unwrap_or(0))?;
            Ok(Placed {
                page,
                appearance: Some(plain_appearance(opts, text, rect)?),
            })
        }
    }
}

fn to_corners(r: [f64; 4]) -> Result<[f64; 4], AppearanceError> {
    let [x, y, w, h] = r;
    if !(r.iter().all(|v| v.is_finite()) && w > 0.0 && h > 0.0) {
        return Err(AppearanceError::BadRect(format!("{x},{y},{w},{h}")));
    }
    Ok([x, y, x + w, y + h])
}

/// The image fitted in `rect` (aspect kept), centred; with `bottom`, sitting on the bottom edge
/// (a signature sits just above the name).
fn image_appearance(img: &Image, rect: [f64; 4], bottom: bool) -> Appearance {
    let (w, h) = (rect[2] - rect[0], rect[3] - rect[1]);
    let (iw, ih) = fit(img.aspect(), w, h);
    let x = (w - iw) / 2.0;
    let y = if bottom { 0.0 } else { (h - ih) / 2.0 };
    let mut objects = Vec::new();
    let im = add_image(img, &mut objects);
    let mut xo = Dictionary::new();
    xo.set("Im1", im);
    let mut res = Dictionary::new();
    res.set("XObject", xo);
    Appearance {
        rect,
        content: format!("q {} 0 0 {} {} {} cm /Im1 Do Q", r(iw), r(ih), r(x), r(y)).into_bytes(),
        resources: res,
        objects,
    }
}

fn add_image(img: &Image, objects: &mut Vec<Object>) -> Object {
    let at = objects.len();
    let (x, mask) = img.xobjects(Appearance::local(at + 1));
    objects.push(Object::Stream(x));
    if let Some(m) = mask {
        objects.push(Object::Stream(m));
    }
    Object::Reference(Appearance::local(at))
}

/// The largest `aspect`-shaped box in `w` x `h`.
fn fit(aspect: f64, w: f64, h: f64) -> (f64, f64) {
    if w / h > aspect {
        (h * aspect, h)
    } else {
        (w, w / aspect)
    }
}

fn r(v: f64) -> String {
    crate::pdf::object::format_real((v * 1000.0).round() / 1000.0)
}

/// Lines of 10 pt black text at the top right of page 1 (or in the given rectangle).
fn stamp<R: Read + Seek>(
    reader: &mut PdfReader<R>,
    opts: &LayoutOptions,
    lines: &[String],
    given: Option<[f64; 4]>,
) -> Result<Placed, AppearanceError> {
    let font = &opts.font;
    let pad = 2.0;
    let mut width: f64 = 0.0;
    for l in lines {
        width = width.max(font.width(l, STAMP_SIZE)?);
    }
    let w = width + 2.0 * pad;
    let h = STAMP_LEADING * (lines.len() as f64 - 1.0)
        + STAMP_SIZE * (font.ascent() - font.descent())
        + 2.0 * pad;
    let (page, rect) = match given {
        Some(r) => (opts.page.unwrap_or(0), r),
        None => {
            let page = opts.page.unwrap_or(0);
            let (pr, p) = reader.page(page)?;
            let space = PageSpace::of(reader, pr, &p)?;
            let (dw, dh) = space.display_size();
            let right = space.bbox[0] + dw - STAMP_RIGHT_MM * PT_PER_MM;
            let top = space.bbox[1] + dh - STAMP_TOP_MM * PT_PER_MM;
            (page, [right - w, top - h, right, top])
        }
    };
    let count = reader.page_count()?;
    if page >= count {
        return Err(AppearanceError::NoSuchPage {
            page: page + 1,
            count,
        });
    }
    let mut setter = TextSetter::new(font.clone());
    let mut content = String::from("q 0 g BT\n");
    let top = rect[3] - rect[1] - pad - STAMP_SIZE * font.ascent();
    content.push_str(&format!(
        "/F1 {} Tf {} TL {} {} Td\n",
        r(STAMP_SIZE),
        r(STAMP_LEADING),
        r(pad),
        r(top)
    ));
    let mut body = content.into_bytes();
    for (i, l) in lines.iter().enumerate() {
        if i > 0 {
            body.extend_from_slice(b"T* ");
        }
        body.extend(setter.encode(l)?);
        body.extend_from_slice(b" Tj\n");
    }
    body.extend_from_slice(b"ET Q");
    let mut objects = Vec::new();
    let f = setter.embed(&mut objects)?;
    let mut fonts = Dictionary::new();
    fonts.set("F1", f);
    let mut res = Dictionary::new();
    res.set("Font", fonts);
    Ok(Placed {
        page,
        appearance: Some(Appearance {
            rect,
            content: body,
            resources: res,
            objects,
        }),
    })
}

/// A custom image and/or text in the rectangle: the image on the left (full height), the text
/// on the right, at most 10 pt, shrunk to fit.
fn plain_appearance(
    opts: &LayoutOptions,
    text: Option<&str>,
    rect: [f64; 4],
) -> Result<Appearance, AppearanceError> {
    let (w, h) = (rect[2] - rect[0], rect[3] - rect[1]);
    let mut objects = Vec::new();
    let mut res = Dictionary::new();
    let mut body = Vec::new();
    let mut text_x = 2.0;
    if let Some(img) = &opts.image {
        let avail = if text.is_some() { w / 2.0 } else { w };
        let (iw, ih) = fit(img.aspect(), avail, h);
        let x = if text.is_some() { 0.0 } else { (w - iw) / 2.0 };
        let im = add_image(img, &mut objects);
        let mut xo = Dictionary::new();
        xo.set("Im1", im);
        res.set("XObject", xo);
        body.extend(
            format!(
                "q {} 0 0 {} {} {} cm /Im1 Do Q\n",
                r(iw),
                r(ih),
                r(x),
                r((h - ih) / 2.0)
            )
            .bytes(),
        );
        text_x = x + iw + 2.0;
    }
    if let Some(t) = text {
        let font = &opts.font;
        let lines: Vec<&str> = t.lines().map(str::trim).collect();
        let avail_w = (w - text_x - 2.0).max(1.0);
        let mut widest: f64 = 0.0;
        for l in &lines {
            widest = widest.max(font.width(l, 1.0)?);
        }
        let by_width = if widest > 0.0 {
            avail_w / widest
        } else {
            STAMP_SIZE
        };
        let by_height = (h - 4.0) / (lines.len() as f64 * 1.2);
        let size = STAMP_SIZE.min(by_width).min(by_height).max(1.0);
        let mut setter = TextSetter::new(font.clone());
        body.extend(
            format!(
                "q 0 g BT /F1 {} Tf {} TL {} {} Td\n",
                r(size),
                r(size * 1.2),
                r(text_x),
                r(h - 2.0 - size * font.ascent())
            )
            .bytes(),
        );
        for (i, l) in lines.iter().enumerate() {
            if i > 0 {
                body.extend_from_slice(b"T* ");
            }
            body.extend(setter.encode(l)?);
            body.extend_from_slice(b" Tj\n");
        }
        body.extend_from_slice(b"ET Q");
        let f = setter.embed(&mut objects)?;
        let mut fonts = Dictionary::new();
        fonts.set("F1", f);
        res.set("Font", fonts);
    }
    Ok(Appearance {
        rect,
        content: body,
        resources: res,
        objects,
    })
}

/// The personal signature's place from the anchor text: centred over it, between it and the
/// line above (the signer's title) when there is one.
fn anchor_rect<R: Read + Seek>(
    reader: &mut PdfReader<R>,
    opts: &LayoutOptions,
    img: &Image,
    count: u64,
) -> Result<(u64, [f64; 4]), AppearanceError> {
    let anchor = opts
        .anchor
        .as_deref()
        .or(opts.signer_name.as_deref())
        .filter(|a| !a.trim().is_empty())
        .ok_or_else(|| AppearanceError::AnchorNotFound {
            anchor: String::new(),
            where_: "the document (no anchor text and no signer name)".into(),
        })?;
    let pages: Vec<u64> = match opts.page {
        Some(p) if p < count => vec![p],
        Some(p) => return Err(AppearanceError::NoSuchPage { page: p + 1, count }),
        None => (0..count).rev().take(1000).collect(),
    };
    for p in &pages {
        let (pr, pd) = reader.page(*p)?;
        let lines = text::page_lines(reader, pr, &pd)?;
        let Some(f) = text::find(&lines, anchor) else {
            continue;
        };
        let bottom = f.y + 0.8 * f.size + 2.0;
        let top = match f.line_above {
            Some((y, size)) if y - 0.25 * size - 2.0 > bottom + 20.0 => y - 0.25 * size - 2.0,
            _ => bottom + DEFAULT_SIGNATURE_HEIGHT,
        };
        let h = top - bottom;
        let w = (h * img.aspect()).min(((f.x1 - f.x0) * 1.6).max(120.0));
        let cx = (f.x0 + f.x1) / 2.0;
        return Ok((*p, [cx - w / 2.0, bottom, cx + w / 2.0, top]));
    }
    Err(AppearanceError::AnchorNotFound {
        anchor: anchor.to_owned(),
        where_: match opts.page {
            Some(p) => format!("page {}", p + 1),
            None => "any page".into(),
        },
    })
}

/// A signed signature field's widget: its page and, if it has an area, its rectangle.
#[derive(Clone, Debug)]
pub struct SignatureWidget {
    /// The field's name.
    pub name: String,
    /// The page (0-based).
    pub page: u64,
    /// `[llx lly urx ury]` when the widget is visible.
    pub visible: Option<[f64; 4]>,
}

/// The signed signature fields of the document, in field order (the AcroForm's `/Fields`,
/// depth first), with their widgets' pages and rectangles.
pub fn signature_widgets<R: Read + Seek>(
    reader: &mut PdfReader<R>,
) -> Result<Vec<SignatureWidget>, AppearanceError> {
    let (_, cat) = reader.catalog()?;
    let Some(Object::Dictionary(acro)) = reader.get_in(&cat, "AcroForm")? else {
        return Ok(Vec::new());
    };
    let Some(Object::Array(fields)) = reader.get_in(&acro, "Fields")? else {
        return Ok(Vec::new());
    };
    let pages = page_refs(reader)?;
    let mut out = Vec::new();
    let mut todo: Vec<(Object, bool)> = fields.into_iter().rev().map(|f| (f, false)).collect();
    let mut seen = 0;
    while let Some((f, inherited_sig)) = todo.pop() {
        seen += 1;
        if seen > 100_000 {
            break;
        }
        let fref = f.as_reference();
        let Ok(Object::Dictionary(d)) = reader.resolve(&f) else {
            continue;
        };
        let is_sig = inherited_sig || d.has_name("FT", "Sig");
        let kids = match reader.get_in(&d, "Kids")? {
            Some(Object::Array(k)) => k,
            _ => Vec::new(),
        };
        if is_sig && d.get("V").is_some() {
            // The widget: the field itself, or its first kid.
            let (wref, w) = if d.has_name("Subtype", "Widget") || kids.is_empty() {
                (fref, d.clone())
            } else {
                match reader.resolve(&kids[0])? {
                    Object::Dictionary(k) => (kids[0].as_reference(), k),
                    _ => continue,
                }
            };
            let rect = match reader.get_in(&w, "Rect")? {
                Some(Object::Array(a)) => {
                    let v: Vec<f64> = a.iter().filter_map(Object::as_f64).collect();
                    (v.len() == 4).then(|| {
                        [
                            v[0].min(v[2]),
                            v[1].min(v[3]),
                            v[0].max(v[2]),
                            v[1].max(v[3]),
                        ]
                    })
                }
                _ => None,
            };
            let visible = rect.filter(|r| r[2] - r[0] > 1.0 && r[3] - r[1] > 1.0);
            let page = match w.get("P").and_then(Object::as_reference) {
                Some(p) => pages.iter().position(|x| *x == p),
                None => None,
            };
            let page = match (page, wref) {
                (Some(p), _) => Some(p),
                (None, Some(wr)) => find_in_annots(reader, &pages, wr)?,
                (None, None) => None,
            };
            out.push(SignatureWidget {
                name: d
                    .get("T")
                    .and_then(Object::as_string)
                    .map(|s| s.to_text())
                    .unwrap_or_default(),
                page: page.unwrap_or(0) as u64,
                visible: if page.is_some() { visible } else { None },
            });
            continue;
        }
        if !d.has_name("Subtype", "Widget") {
            todo.extend(kids.into_iter().rev().map(|k| (k, is_sig)));
        }
    }
    Ok(out)
}

fn find_in_annots<R: Read + Seek>(
    reader: &mut PdfReader<R>,
    pages: &[ObjRef],
    widget: ObjRef,
) -> Result<Option<usize>, AppearanceError> {
    for (i, p) in pages.iter().enumerate() {
        let Object::Dictionary(pd) = reader.get(*p)? else {
            continue;
        };
        if let Some(Object::Array(a)) = reader.get_in(&pd, "Annots")? {
            if a.iter().any(|o| o.as_reference() == Some(widget)) {
                return Ok(Some(i));
            }
        }
    }
    Ok(None)
}

/// The pages' references in order (§7.7.3), at most 100,000.
fn page_refs<R: Read + Seek>(reader: &mut PdfReader<R>) -> Result<Vec<ObjRef>, AppearanceError> {
    let (_, cat) = reader.catalog()?;
    let mut out = Vec::new();
    let Some(root) = cat.get("Pages").and_then(Object::as_reference) else {
        return Ok(out);
    };
    let mut todo = vec![root];
    let mut visited = std::collections::HashSet::new();
    while let Some(n) = todo.pop() {
        if !visited.insert(n) || visited.len() > 200_000 || out.len() >= 100_000 {
            break;
        }
        let Object::Dictionary(d) = reader.get(n)? else {
            continue;
        };
        match reader.get_in(&d, "Kids")? {
            Some(Object::Array(kids)) => {
                todo.extend(kids.iter().rev().filter_map(Object::as_reference));
            }
            _ => out.push(n),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_vietnam_time() {
        let t = time::macros::datetime!(2025-03-20 03:00:00 UTC);
        assert_eq!(vietnam_time(t), "2025-03-20T10:00:00+07:00");
    }

    #[test]
    fn the_seal_goes_over_the_left_third_of_the_personal_signature() {
        let now = time::macros::datetime!(2025-03-20 03:00:00 UTC);
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.pdf");
        std::fs::write(
            &input,
            crate::pdf::sample::official_letter("1/UBND", &["CHỦ TỊCH"], "Nguyễn Văn An"),
        )
        .unwrap();
        let seal = Image::from_png(&crate::pdf::sample::seal_png(40.0)).unwrap();
        let mut agency = LayoutOptions::new(Profile::Agency);
        agency.image = Some(Arc::new(seal));
        let e = place(&input, &agency, now).unwrap_err();
        assert!(matches!(e, AppearanceError::NoPersonalSignature), "{e}");

        let mut personal = LayoutOptions::new(Profile::Personal);
        personal.image = Some(Arc::new(
            Image::from_png(&crate::pdf::sample::signature_png()).unwrap(),
        ));
        personal.signer_name = Some("NGUYỄN VĂN AN".into());
        let placed = place(&input, &personal, now).unwrap();
        let pr = placed.appearance.as_ref().unwrap().rect;
        // Above the name (baseline 314 - 80 = 234), below the title (baseline 330).
        assert!(pr[1] > 234.0 && pr[3] < 330.0, "{pr:?}");
        let mut so = crate::pdf::sign::SignatureOptions::pades(64);
        so.page = placed.page;
        so.appearance = placed.appearance;
        let signed = dir.path().join("p.pdf");
        let prep = crate::pdf::sign::prepare(&input, &signed, &so).unwrap();
        crate::pdf::sign::finish(&prep, &[0x30, 0]).unwrap();

        let a = place(&signed, &agency, now).unwrap();
        let ar = a.appearance.unwrap().rect;
        assert_eq!(a.page, 0);
        assert!(((ar[2] - ar[0]) / PT_PER_MM - 40.0).abs() < 0.1, "{ar:?}");
        assert!(((ar[3] - ar[1]) / PT_PER_MM - 40.0).abs() < 0.1, "{ar:?}");
        assert!(
            (ar[2] - (pr[0] + (pr[2] - pr[0]) / 3.0)).abs() < 1e-6,
            "{ar:?} {pr:?}"
        );
        assert!(((ar[1] + ar[3]) - (pr[1] + pr[3])).abs() < 1e-6);

        // The stamps: top right, inside the margins, the time in Vietnam time.
        let mut att = LayoutOptions::new(Profile::Attachment);
        att.doc_number = Some("1/UBND".into());
        let s = place(&input, &att, now).unwrap().appearance.unwrap();
        assert!(
            (s.rect[2] - (595.0 - 15.0 * PT_PER_MM)).abs() < 1e-6,
            "{:?}",
            s.rect
        );
        assert!(
            (s.rect[3] - (842.0 - 6.0 * PT_PER_MM)).abs() < 1e-6,
            "{:?}",
            s.rect
        );
        assert!(String::from_utf8_lossy(&s.content).contains("/F1 10 Tf"));
        att.doc_number = None;
        assert!(matches!(
            place(&input, &att, now),
            Err(AppearanceError::NeedsDocNumber)
        ));
        // Plain without image or text is invisible; with text it needs a rectangle.
        let mut plain = LayoutOptions::new(Profile::Plain);
        assert!(place(&input, &plain, now).unwrap().appearance.is_none());
        plain.text = Some("Đã ký".into());
        assert!(matches!(
            place(&input, &plain, now),
            Err(AppearanceError::NeedsRect)
        ));
        plain.rect = Some([10.0, 10.0, 100.0, 30.0]);
        plain.page = Some(1);
        assert!(matches!(
            place(&input, &plain, now),
            Err(AppearanceError::NoSuchPage { page: 2, count: 1 })
        ));
    }

    #[test]
    fn fitting_keeps_the_aspect() {
        assert_eq!(fit(2.0, 100.0, 100.0), (100.0, 50.0));
        assert_eq!(fit(0.5, 100.0, 100.0), (50.0, 100.0));
    }
}
