//! The page as it is shown: `/Rotate` (ISO 32000-2 §7.7.3.3, clockwise, a multiple of 90)
//! applied to the crop box. Layouts speak of "top right" and "on the left" as the reader sees
//! the page, so they work in display coordinates and convert widget rectangles to default user
//! space at the end; an appearance drawn upright on screen gets a rotation in its content.
//!
//! Display coordinates keep the crop box's lower-left corner as origin values, so on an
//! unrotated page they are exactly user space.

use super::text::inherited;
use super::AppearanceError;
use crate::pdf::object::{Dictionary, Object};
use crate::pdf::{ObjRef, PdfReader};
use std::io::{Read, Seek};

/// A page's visible box and rotation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PageSpace {
    /// `/CropBox` (else `/MediaBox`), normalised `[x0 y0 x1 y1]`, user space.
    pub bbox: [f64; 4],
    /// `/Rotate` in 0, 90, 180, 270.
    pub rotate: u16,
}

impl PageSpace {
    /// Reads the page's box and rotation (both inheritable).
    pub fn of<R: Read + Seek>(
        reader: &mut PdfReader<R>,
        page_ref: ObjRef,
        page: &Dictionary,
    ) -> Result<Self, AppearanceError> {
        let mut bbox = None;
        for key in ["CropBox", "MediaBox"] {
            if let Some(Object::Array(a)) = inherited(reader, page, key)? {
                let v: Vec<f64> = a.iter().filter_map(Object::as_f64).collect();
                if v.len() == 4 && v.iter().all(|x| x.is_finite()) {
                    bbox = Some([
                        v[0].min(v[2]),
                        v[1].min(v[3]),
                        v[0].max(v[2]),
                        v[1].max(v[3]),
                    ]);
                    break;
                }
            }
        }
        let bbox =
            bbox.ok_or_else(|| crate::pdf::PdfError::structure("the page's /MediaBox", page_ref))?;
        let rotate = inherited(reader, page, "Rotate")?
            .and_then(|o| o.as_i64())
            .map_or(0, |r| r.rem_euclid(360));
        let rotate = match rotate {
            90 => 90,
            180 => 180,
            270 => 270,
            _ => 0,
        };
        Ok(Self { bbox, rotate })
    }

    /// Width and height as shown.
    pub fn display_size(&self) -> (f64, f64) {
        let (w, h) = (self.bbox[2] - self.bbox[0], self.bbox[3] - self.bbox[1]);
        if self.rotate % 180 == 0 {
            (w, h)
        } else {
            (h, w)
        }
    }

    /// The user-space to display-space matrix (for the text extractor's initial CTM).
    pub fn user_to_display(&self) -> [f64; 6] {
        let [x0, y0, x1, y1] = self.bbox;
        match self.rotate {
            90 => [0.0, -1.0, 1.0, 0.0, x0 - y0, x1 + y0],
            180 => [-1.0, 0.0, 0.0, -1.0, x0 + x1, y0 + y1],
            270 => [0.0, 1.0, -1.0, 0.0, y1 + x0, y0 - x0],
            _ => [1.0, 0.0, 0.0, 1.0, 0.0, 0.0],
        }
    }

    /// A display-space point in user space.
    pub fn to_user(&self, dx: f64, dy: f64) -> (f64, f64) {
        let [x0, y0, x1, y1] = self.bbox;
        let (rx, ry) = (dx - x0, dy - y0);
        match self.rotate {
            90 => (x1 - ry, y0 + rx),
            180 => (x1 - rx, y1 - ry),
            270 => (x0 + ry, y1 - rx),
            _ => (dx, dy),
        }
    }

    /// A user-space point in display space.
    pub fn to_display(&self, ux: f64, uy: f64) -> (f64, f64) {
        let m = self.user_to_display();
        (ux * m[0] + uy * m[2] + m[4], ux * m[1] + uy * m[3] + m[5])
    }

    /// A display rectangle `[x0 y0 x1 y1]` in user space.
    pub fn rect_to_user(&self, r: [f64; 4]) -> [f64; 4] {
        corners(r, |x, y| self.to_user(x, y))
    }

    /// A user rectangle in display space.
    pub fn rect_to_display(&self, r: [f64; 4]) -> [f64; 4] {
        corners(r, |x, y| self.to_display(x, y))
    }

    /// The `cm` that draws content made for an upright `w_d` x `h_d` box into a widget whose
    /// user-space rectangle is `user_rect` (empty on an unrotated page).
    pub fn content_prefix(&self, user_rect: [f64; 4]) -> String {
        let (w, h) = (user_rect[2] - user_rect[0], user_rect[3] - user_rect[1]);
        let f = |v: f64| crate::pdf::object::format_real((v * 1000.0).round() / 1000.0);
        match self.rotate {
            90 => format!("0 1 -1 0 {} 0 cm\n", f(w)),
            180 => format!("-1 0 0 -1 {} {} cm\n", f(w), f(h)),
            270 => format!("0 -1 1 0 0 {} cm\n", f(h)),
            _ => String::new(),
        }
    }
}

fn corners(r: [f64; 4], map: impl Fn(f64, f64) -> (f64, f64)) -> [f64; 4] {
    let pts = [
        map(r[0], r[1]),
        map(r[2], r[1]),
        map(r[0], r[3]),
        map(r[2], r[3]),
    ];
    let mut out = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
    for (x, y) in pts {
        out = [out[0].min(x), out[1].min(y), out[2].max(x), out[3].max(y)];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotations_round_trip_and_put_the_top_right_where_the_reader_sees_it() {
        for rotate in [0, 90, 180, 270] {
            let s = PageSpace {
                bbox: [10.0, 20.0, 605.0, 862.0],
                rotate,
            };
            let (w, h) = s.display_size();
            for (dx, dy) in [(10.0, 20.0), (50.0, 70.0), (10.0 + w, 20.0 + h)] {
                let (ux, uy) = s.to_user(dx, dy);
                let (bx, by) = s.to_display(ux, uy);
                assert!((bx - dx).abs() < 1e-9 && (by - dy).abs() < 1e-9, "{rotate}");
            }
            // The displayed top-right corner in user space (§7.7.3.3: clockwise rotation).
            let tr = s.to_user(10.0 + w, 20.0 + h);
            let want = match rotate {
                0 => (605.0, 862.0),
                90 => (10.0, 862.0),
                180 => (10.0, 20.0),
                _ => (605.0, 20.0),
            };
            assert_eq!(tr, want, "rotate {rotate}");
        }
    }
}
