//! Visible signatures in the layouts of Decree 30/2020/NĐ-CP, Appendix I (a working translation
//! is in DOMAIN.md):
//!
//! - **personal** (I.II.7d): the signer's handwritten signature, a transparent PNG, in a
//!   rectangle given by the user or found above the signer's name on the page ([`text`] finds
//!   it);
//! - **agency** (I.II.8a): the red seal at its real size in millimetres, overlapping about a
//!   third of the personal signature's widget, on its left;
//! - **attachment** (I.II.8b): no image; top right of page 1, the document number and symbol and
//!   the signing time (`2025-03-20T10:00:00+07:00`), Times-compatible, 10 pt, black;
//! - **copy** (Part II, I.3): as attachment, with the form of copy and the copying agency;
//! - **plain**: invisible, or a custom image and/or text in a rectangle.
//!
//! [`place`] reads what it needs from the input PDF (page boxes, the page's text, existing
//! signature widgets) and returns the page and the [`Appearance`] that `pdf::sign` writes.

pub mod font;
pub mod image;
pub mod layout;
pub mod space;
pub mod text;

pub use font::{Font, TextSetter};
pub use image::Image;
pub use layout::{place, LayoutOptions, Placed, Profile};

use crate::pdf::PdfError;

/// Why a visible signature could not be laid out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppearanceError {
    /// The PDF could not be read.
    #[error("cannot read the PDF")]
    Pdf(#[from] PdfError),
    /// The PNG could not be used.
    #[error("the signature image cannot be used: {reason}")]
    Image {
        /// What is wrong.
        reason: String,
    },
    /// The font could not be used.
    #[error("the font cannot be used: {reason}")]
    Font {
        /// What is wrong.
        reason: String,
    },
    /// The font has no glyph for a character of the text.
    #[error(
        "the font {font} has no glyph for '{ch}' (U+{:04X}); give a font that has it (--font)",
        u32::from(*ch)
    )]
    MissingGlyph {
        /// The character.
        ch: char,
        /// The font's PostScript name.
        font: String,
    },
    /// The profile needs an image.
    #[error("the {profile} layout needs the image to show (--image PNG)")]
    NeedsImage {
        /// The profile's name.
        profile: &'static str,
    },
    /// The seal's physical size is unknown.
    #[error(
        "the seal image does not say its physical size (no pHYs resolution in the PNG); give it with --seal-size MM (for example 36)"
    )]
    NeedsSealSize,
    /// The attachment profile needs the document number.
    #[error("the attachment layout needs the document's number and symbol (--doc-number, for example 123/UBND-VP)")]
    NeedsDocNumber,
    /// A custom visible signature needs a rectangle.
    #[error("a visible plain signature needs its place: --rect X,Y,W,H (and --page N)")]
    NeedsRect,
    /// The anchor text is not on the page(s).
    #[error("the text \"{anchor}\" was not found on {where_}; give the place of the signature with --page N --rect X,Y,W,H")]
    AnchorNotFound {
        /// What was searched.
        anchor: String,
        /// Which pages were searched.
        where_: String,
    },
    /// The agency layout needs an existing (personal) signature.
    #[error("the document has no signature yet: the agency seal is applied only to a document the competent person has signed (Decree 30/2020 Art. 32); sign it with --profile personal first")]
    NoPersonalSignature,
    /// The agency layout found signatures, none visible, and no rectangle was given.
    #[error("the document's signatures are invisible, so the seal cannot be placed beside one; give its place with --page N --rect X,Y,W,H")]
    NoVisibleSignature,
    /// The page does not exist.
    #[error("page {page} does not exist (the document has {count} pages)")]
    NoSuchPage {
        /// 1-based page asked for.
        page: u64,
        /// Pages in the document.
        count: u64,
    },
    /// A rectangle that cannot be used.
    #[error("the rectangle {0} cannot be used: width and height must be positive and the numbers finite")]
    BadRect(String),
}

impl AppearanceError {
    /// The same sentence in Vietnamese, for officers (CONTRACT.md: errors in the user's
    /// language). Details that come from a parser (`reason`) stay as they are.
    pub fn to_vietnamese(&self) -> String {
        match self {
            Self::Pdf(e) => format!("không đọc được tệp PDF: {e}"),
            Self::Image { reason } => format!("không dùng được ảnh chữ ký: {reason}"),
            Self::Font { reason } => format!("không dùng được phông chữ: {reason}"),
            Self::MissingGlyph { ch, font } => format!(
                "phông chữ {font} không có ký tự '{ch}' (U+{:04X}); hãy chọn phông có ký tự này (--font)",
                u32::from(*ch)
            ),
            Self::NeedsImage { profile } => {
                format!("mẫu {profile} cần ảnh để hiển thị (--image PNG)")
            }
            Self::NeedsSealSize => "ảnh con dấu không ghi kích thước thực (PNG không có pHYs); hãy cho kích thước bằng --seal-size MM (ví dụ 36)".into(),
            Self::NeedsDocNumber => "mẫu attachment cần số và ký hiệu văn bản (--doc-number, ví dụ 123/UBND-VP)".into(),
            Self::NeedsRect => "chữ ký hiển thị kiểu plain cần vị trí: --rect X,Y,W,H (và --page N)".into(),
            Self::AnchorNotFound { anchor, where_ } => format!(
                "không tìm thấy \"{anchor}\" trên {}; hãy cho vị trí chữ ký bằng --page N --rect X,Y,W,H",
                match where_.strip_prefix("page ") {
                    Some(n) => format!("trang {n}"),
                    None => "văn bản".into(),
                }
            ),
            Self::NoPersonalSignature => "văn bản chưa có chữ ký: chữ ký số của cơ quan chỉ được ký trên văn bản đã có chữ ký của người có thẩm quyền (Nghị định 30/2020, Điều 32); hãy ký --profile personal trước".into(),
            Self::NoVisibleSignature => "các chữ ký của văn bản không hiển thị nên không đặt được con dấu bên cạnh; hãy cho vị trí bằng --page N --rect X,Y,W,H".into(),
            Self::NoSuchPage { page, count } => {
                format!("không có trang {page} (văn bản có {count} trang)")
            }
            Self::BadRect(r) => format!(
                "không dùng được hình chữ nhật {r}: chiều rộng và chiều cao phải dương, các số phải hữu hạn"
            ),
        }
    }
}
