//! PNG (ISO/IEC 15948) to a PDF image XObject (ISO 32000-2 §8.9.5), with the alpha channel kept
//! as a soft mask (`/SMask`, §11.6.5.3) so a transparent signature or seal stays transparent.
//!
//! Every PNG colour type and depth is accepted: palette and low-bit grey are expanded to 8 bits
//! (a `tRNS` chunk becomes alpha), 16-bit samples stay 16-bit (PDF 1.5), interlaced images are
//! de-interlaced. Samples and mask are Flate-compressed. Size is bounded before decoding.

use super::AppearanceError;
use crate::pdf::object::{Dictionary, Object, Stream, StreamData};
use flate2::{write::ZlibEncoder, Compression};
use std::io::Write;

/// Largest image accepted, in pixels (a 36 mm seal at 1200 dpi is about 1,700 x 1,700).
pub const MAX_PIXELS: u64 = 16_000_000;
/// Largest PNG file accepted.
pub const MAX_FILE: usize = 32 << 20;

/// A decoded PNG ready to embed.
#[derive(Clone, Debug)]
pub struct Image {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Physical size in millimetres, from the PNG's `pHYs` chunk (pixels per metre), if it has
    /// one with a unit.
    pub size_mm: Option<(f64, f64)>,
    /// Whether the image has any pixel that is not fully opaque.
    pub has_alpha: bool,
    /// `DeviceGray` or `DeviceRGB`.
    gray: bool,
    /// 8 or 16.
    bits: u8,
    /// Flate-compressed colour samples.
    samples: Vec<u8>,
    /// Flate-compressed alpha samples (same depth), when not all opaque.
    alpha: Option<Vec<u8>>,
}

impl Image {
    /// Decodes a PNG file's bytes.
    pub fn from_png(bytes: &[u8]) -> Result<Self, AppearanceError> {
        let bad = |reason: String| AppearanceError::Image { reason };
        if bytes.len() > MAX_FILE {
            return Err(bad(format!(
                "the file is larger than {} MiB",
                MAX_FILE >> 20
            )));
        }
        let mut dec = png::Decoder::new_with_limits(
            std::io::Cursor::new(bytes),
            png::Limits {
                bytes: (MAX_PIXELS * 8 + (1 << 20)) as usize,
            },
        );
        dec.set_transformations(png::Transformations::EXPAND);
        let mut reader = dec
            .read_info()
            .map_err(|e| bad(format!("not a readable PNG ({e})")))?;
        let (width, height) = reader.info().size();
        if width == 0 || height == 0 {
            return Err(bad("the image is empty".into()));
        }
        if u64::from(width) * u64::from(height) > MAX_PIXELS {
            return Err(bad(format!(
                "{width} x {height} pixels is more than the {MAX_PIXELS} allowed; scale it down"
            )));
        }
        let size_mm = reader.info().pixel_dims.and_then(|d| {
            (d.unit == png::Unit::Meter && d.xppu > 0 && d.yppu > 0).then(|| {
                (
                    f64::from(width) * 1000.0 / f64::from(d.xppu),
                    f64::from(height) * 1000.0 / f64::from(d.yppu),
                )
            })
        });
        let size = reader
            .output_buffer_size()
            .ok_or_else(|| bad("the image is too large".into()))?;
        let mut buf = vec![0u8; size];
        let frame = reader
            .next_frame(&mut buf)
            .map_err(|e| bad(format!("the image data is damaged ({e})")))?;
        buf.truncate(frame.buffer_size());
        let (color, depth) = reader.output_color_type();
        let bits: u8 = match depth {
            png::BitDepth::Sixteen => 16,
            png::BitDepth::Eight => 8,
            other => {
                return Err(bad(format!(
                    "unexpected bit depth {other:?} after expansion"
                )))
            }
        };
        let (channels, gray, has_alpha_channel) = match color {
            png::ColorType::Grayscale => (1, true, false),
            png::ColorType::GrayscaleAlpha => (2, true, true),
            png::ColorType::Rgb => (3, false, false),
            png::ColorType::Rgba => (4, false, true),
            png::ColorType::Indexed => {
                return Err(bad("a palette image was not expanded".into()));
            }
        };
        let bps = usize::from(bits / 8);
        let px = channels * bps;
        let color_len = (channels - usize::from(has_alpha_channel)) * bps;
        let mut samples = Vec::with_capacity(buf.len());
        let mut alpha = Vec::new();
        let mut has_alpha = false;
        for p in buf.chunks_exact(px) {
            samples.extend_from_slice(&p[..color_len]);
            if has_alpha_channel {
                let a = &p[color_len..];
                has_alpha |= a.iter().any(|&b| b != 0xff);
                alpha.extend_from_slice(a);
            }
        }
        Ok(Self {
            width,
            height,
            size_mm,
            has_alpha,
            gray,
            bits,
            samples: deflate(&samples)?,
            alpha: if has_alpha {
                Some(deflate(&alpha)?)
            } else {
                None
            },
        })
    }

    /// Width / height.
    pub fn aspect(&self) -> f64 {
        f64::from(self.width) / f64::from(self.height)
    }

    /// The image XObject and, when the image has transparency, its soft mask. The XObject's
    /// `/SMask` refers to `smask_ref` (the caller places the mask at that reference).
    pub fn xobjects(&self, smask_ref: crate::pdf::ObjRef) -> (Stream, Option<Stream>) {
        let base = |gray: bool, data: &[u8]| {
            let mut d = Dictionary::new();
            d.set("Type", Object::name("XObject"));
            d.set("Subtype", Object::name("Image"));
            d.set("Width", i64::from(self.width));
            d.set("Height", i64::from(self.height));
            d.set(
                "ColorSpace",
                Object::name(if gray { "DeviceGray" } else { "DeviceRGB" }),
            );
            d.set("BitsPerComponent", i64::from(self.bits));
            d.set("Filter", Object::name("FlateDecode"));
            Stream {
                dict: d,
                data: StreamData::Bytes(data.to_vec()),
            }
        };
        let mut img = base(self.gray, &self.samples);
        // Smooth scaling: signatures and seals are drawn larger or smaller than their pixels.
        img.dict.set("Interpolate", true);
        let mask = self.alpha.as_ref().map(|a| {
            img.dict.set("SMask", smask_ref);
            base(true, a)
        });
        (img, mask)
    }
}

fn deflate(data: &[u8]) -> Result<Vec<u8>, AppearanceError> {
    let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
    e.write_all(data)
        .and_then(|()| e.finish())
        .map_err(|e| AppearanceError::Image {
            reason: format!("cannot compress the image ({e})"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(
        w: u32,
        h: u32,
        color: png::ColorType,
        depth: png::BitDepth,
        data: &[u8],
        ppm: Option<u32>,
        palette: Option<(&[u8], &[u8])>,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut e = png::Encoder::new(&mut out, w, h);
            e.set_color(color);
            e.set_depth(depth);
            if let Some(p) = ppm {
                e.set_pixel_dims(Some(png::PixelDimensions {
                    xppu: p,
                    yppu: p,
                    unit: png::Unit::Meter,
                }));
            }
            if let Some((plte, trns)) = palette {
                e.set_palette(plte.to_vec());
                e.set_trns(trns.to_vec());
            }
            let mut wr = e.write_header().unwrap();
            wr.write_image_data(data).unwrap();
        }
        out
    }

    fn inflate(d: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(d), &mut out).unwrap();
        out
    }

    #[test]
    fn rgba_keeps_alpha_as_a_soft_mask_and_reads_phys() {
        // 2x1: opaque blue, transparent; 1000 px/m = 1 mm per pixel.
        let png = encode(
            2,
            1,
            png::ColorType::Rgba,
            png::BitDepth::Eight,
            &[0, 0, 255, 255, 0, 0, 0, 0],
            Some(1000),
            None,
        );
        let img = Image::from_png(&png).unwrap();
        assert!(img.has_alpha);
        assert_eq!(img.size_mm, Some((2.0, 1.0)));
        let (x, m) = img.xobjects(crate::pdf::ObjRef::new(7));
        let m = m.unwrap();
        assert_eq!(
            x.dict.get("SMask"),
            Some(&Object::Reference(crate::pdf::ObjRef::new(7)))
        );
        let StreamData::Bytes(xd) = &x.data else {
            panic!()
        };
        assert_eq!(inflate(xd), vec![0, 0, 255, 0, 0, 0]);
        let StreamData::Bytes(md) = &m.data else {
            panic!()
        };
        assert_eq!(inflate(md), vec![255, 0]);
    }

    #[test]
    fn sixteen_bit_grey_alpha_stays_sixteen_bit() {
        let png = encode(
            1,
            1,
            png::ColorType::GrayscaleAlpha,
            png::BitDepth::Sixteen,
            &[0x12, 0x34, 0x80, 0x00],
            None,
            None,
        );
        let img = Image::from_png(&png).unwrap();
        let (x, m) = img.xobjects(crate::pdf::ObjRef::new(1));
        assert_eq!(x.dict.get("BitsPerComponent"), Some(&Object::Integer(16)));
        assert_eq!(x.dict.get("ColorSpace"), Some(&Object::name("DeviceGray")));
        let StreamData::Bytes(md) = &m.unwrap().data else {
            panic!()
        };
        assert_eq!(inflate(md), vec![0x80, 0x00]);
        assert_eq!(img.size_mm, None);
    }

    #[test]
    fn palette_with_trns_becomes_rgb_with_a_mask() {
        let png = encode(
            2,
            1,
            png::ColorType::Indexed,
            png::BitDepth::Four,
            &[0x10],
            None,
            Some((&[255, 0, 0, 0, 0, 255], &[255, 0])),
        );
        let img = Image::from_png(&png).unwrap();
        let (x, m) = img.xobjects(crate::pdf::ObjRef::new(1));
        let StreamData::Bytes(xd) = &x.data else {
            panic!()
        };
        assert_eq!(inflate(xd), vec![0, 0, 255, 255, 0, 0]);
        let StreamData::Bytes(md) = &m.unwrap().data else {
            panic!()
        };
        assert_eq!(inflate(md), vec![0, 255]);
    }

    #[test]
    fn opaque_images_have_no_mask_and_bad_input_is_one_sentence() {
        let png = encode(
            1,
            1,
            png::ColorType::Rgb,
            png::BitDepth::Eight,
            &[1, 2, 3],
            None,
            None,
        );
        let img = Image::from_png(&png).unwrap();
        assert!(!img.has_alpha);
        assert!(img.xobjects(crate::pdf::ObjRef::new(1)).1.is_none());
        let e = Image::from_png(b"GIF89a....").unwrap_err();
        assert!(e.to_string().contains("not a readable PNG"), "{e}");
        let mut cut = png.clone();
        cut.truncate(cut.len() - 20);
        assert!(Image::from_png(&cut).is_err());
    }

    #[test]
    fn huge_images_are_refused_before_decoding() {
        // A valid header claiming 10000 x 10000 pixels.
        let png = encode(
            1,
            1,
            png::ColorType::Grayscale,
            png::BitDepth::Eight,
            &[0],
            None,
            None,
        );
        let mut big = png.clone();
        // IHDR width/height live at bytes 16..24; the CRC then fails, so recompute it.
        big[16..20].copy_from_slice(&10_000u32.to_be_bytes());
        big[20..24].copy_from_slice(&10_000u32.to_be_bytes());
        let crc = crc32(&big[12..29]);
        big[29..33].copy_from_slice(&crc.to_be_bytes());
        let e = Image::from_png(&big).unwrap_err();
        assert!(e.to_string().contains("scale it down"), "{e}");
    }

    #[test]
    fn interlaced_images_are_deinterlaced() {
        // A 2x2 grey Adam7 image written by hand: pass 1 is (0,0), pass 6 is (1,0), pass 7 is
        // the second row.
        let chunk = |kind: &[u8], body: &[u8]| {
            let mut c = (body.len() as u32).to_be_bytes().to_vec();
            c.extend_from_slice(kind);
            c.extend_from_slice(body);
            let crc = crc32(&c[4..]);
            c.extend_from_slice(&crc.to_be_bytes());
            c
        };
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&2u32.to_be_bytes());
        ihdr.extend_from_slice(&2u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 0, 0, 0, 1]);
        let raw = [0u8, 10, 0, 20, 0, 30, 40];
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(chunk(b"IHDR", &ihdr));
        png.extend(chunk(b"IDAT", &deflate(&raw).unwrap()));
        png.extend(chunk(b"IEND", &[]));
        let img = Image::from_png(&png).unwrap();
        let (x, _) = img.xobjects(crate::pdf::ObjRef::new(1));
        let StreamData::Bytes(xd) = &x.data else {
            panic!()
        };
        assert_eq!(inflate(xd), vec![10, 20, 30, 40]);
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut c = 0xffff_ffffu32;
        for &b in data {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        !c
    }
}
