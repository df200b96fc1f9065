//! A minimal, allocation-free DER/BER TLV reader over byte slices (X.690 §8.1).
//!
//! Used where the exact bytes matter (the to-be-signed part of a certificate or CRL, the signed
//! attributes of a CMS signature) and where decoding everything into owned types would cost too
//! much (CRL entry indexes). Typed decoding uses the `der` crate.

/// A TLV that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed ASN.1 at byte {offset}: {reason}")]
pub struct TlvError {
    /// Offset of the element's first byte within the buffer passed to the reader.
    pub offset: usize,
    /// What was wrong.
    pub reason: &'static str,
}

/// One element: its tag byte(s), header and content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// First identifier octet (class, constructed bit and low tag number); high tag numbers are
    /// rejected, this project never needs them.
    pub tag: u8,
    /// The whole element, header included (for indefinite lengths: up to and including the
    /// end-of-contents octets).
    pub raw: &'a [u8],
    /// The content octets (for indefinite lengths: without the end-of-contents octets).
    pub content: &'a [u8],
}

/// Reads elements one after another from a buffer.
#[derive(Clone, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
    ber: bool,
}

const MAX_DEPTH: usize = 64;

impl<'a> Reader<'a> {
    /// A strict DER reader (definite lengths only).
    pub fn der(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            base: 0,
            ber: false,
        }
    }

    /// A BER reader: indefinite lengths are accepted.
    pub fn ber(buf: &'a [u8]) -> Self {
        Self {
            ber: true,
            ..Self::der(buf)
        }
    }

    /// Whether everything has been read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// What is left.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos.min(self.buf.len())..]
    }

    /// Current offset (relative to the outermost buffer this reader descends from).
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    fn err(&self, reason: &'static str) -> TlvError {
        TlvError {
            offset: self.offset(),
            reason,
        }
    }

    /// Reads the next element.
    pub fn next_tlv(&mut self) -> Result<Tlv<'a>, TlvError> {
        let (tlv, len) =
            parse_one(&self.buf[self.pos..], self.ber, 0).map_err(|(off, reason)| TlvError {
                offset: self.offset() + off,
                reason,
            })?;
        self.pos += len;
        Ok(tlv)
    }

    /// Reads the next element and checks its tag.
    pub fn expect(&mut self, tag: u8) -> Result<Tlv<'a>, TlvError> {
        let at = self.pos;
        let t = self.next_tlv()?;
        if t.tag != tag {
            self.pos = at;
            return Err(self.err("unexpected tag"));
        }
        Ok(t)
    }

    /// Reads the next element if it has `tag`.
    pub fn optional(&mut self, tag: u8) -> Result<Option<Tlv<'a>>, TlvError> {
        if self.peek_tag() == Some(tag) {
            self.next_tlv().map(Some)
        } else {
            Ok(None)
        }
    }

    /// The next tag, without consuming.
    pub fn peek_tag(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// A reader over the content of `tlv` that reports offsets relative to the outer buffer.
    pub fn nested(&self, tlv: &Tlv<'a>) -> Reader<'a> {
        let base = offset_in(self.buf, tlv.content).map_or(self.base, |o| self.base + o);
        Reader {
            buf: tlv.content,
            pos: 0,
            base,
            ber: self.ber,
        }
    }
}

fn offset_in(outer: &[u8], inner: &[u8]) -> Option<usize> {
    let o = (inner.as_ptr() as usize).checked_sub(outer.as_ptr() as usize)?;
    (o <= outer.len()).then_some(o)
}

type ParseErr = (usize, &'static str);

fn parse_one(buf: &[u8], ber: bool, depth: usize) -> Result<(Tlv<'_>, usize), ParseErr> {
    if depth > MAX_DEPTH {
        return Err((0, "nesting too deep"));
    }
    let tag = *buf.first().ok_or((0, "unexpected end of data"))?;
    if tag & 0x1f == 0x1f {
        return Err((0, "high tag numbers are not supported"));
    }
    let l0 = *buf.get(1).ok_or((1, "unexpected end of data in length"))?;
    let (len, hdr) = if l0 < 0x80 {
        (Some(l0 as usize), 2)
    } else if l0 == 0x80 {
        if !ber {
            return Err((1, "indefinite length is not allowed in DER"));
        }
        if tag & 0x20 == 0 {
            return Err((1, "indefinite length on a primitive element"));
        }
        (None, 2)
    } else {
        let n = (l0 & 0x7f) as usize;
        if n > 4 {
            return Err((1, "length too large"));
        }
        let bytes = buf
            .get(2..2 + n)
            .ok_or((1, "unexpected end of data in length"))?;
        let mut len = 0usize;
        for b in bytes {
            len = (len << 8) | *b as usize;
        }
        if !ber && (len < 0x80 || bytes[0] == 0) {
            return Err((1, "length not minimally encoded"));
        }
        (Some(len), 2 + n)
    };
    match len {
        Some(len) => {
            let end = hdr.checked_add(len).ok_or((1, "length overflow"))?;
            if end > buf.len() {
                return Err((1, "element runs past the end of the data"));
            }
            Ok((
                Tlv {
                    tag,
                    raw: &buf[..end],
                    content: &buf[hdr..end],
                },
                end,
            ))
        }
        None => {
            // Indefinite: walk children until 00 00.
            let mut pos = hdr;
            loop {
                if buf.get(pos..pos + 2) == Some(&[0, 0]) {
                    let end = pos + 2;
                    return Ok((
                        Tlv {
                            tag,
                            raw: &buf[..end],
                            content: &buf[hdr..pos],
                        },
                        end,
                    ));
                }
                if pos >= buf.len() {
                    return Err((pos, "missing end-of-contents"));
                }
                let (_, n) =
                    parse_one(&buf[pos..], ber, depth + 1).map_err(|(o, r)| (pos + o, r))?;
                pos += n;
            }
        }
    }
}

/// Reads exactly one element spanning all of `buf` (trailing bytes are an error unless they are
/// all zero padding and `allow_zero_padding` is set, as in a PDF `/Contents`).
pub fn single(buf: &[u8], ber: bool, allow_zero_padding: bool) -> Result<Tlv<'_>, TlvError> {
    let mut r = if ber {
        Reader::ber(buf)
    } else {
        Reader::der(buf)
    };
    let t = r.next_tlv()?;
    let rest = r.rest();
    let padding_only = allow_zero_padding && rest.iter().all(|b| *b == 0);
    if !rest.is_empty() && !padding_only {
        return Err(TlvError {
            offset: r.offset(),
            reason: "trailing data after the element",
        });
    }
    Ok(t)
}

/// Tags used here.
pub mod tag {
    /// INTEGER
    pub const INTEGER: u8 = 0x02;
    /// BIT STRING
    pub const BIT_STRING: u8 = 0x03;
    /// OCTET STRING
    pub const OCTET_STRING: u8 = 0x04;
    /// NULL
    pub const NULL: u8 = 0x05;
    /// OBJECT IDENTIFIER
    pub const OID: u8 = 0x06;
    /// ENUMERATED
    pub const ENUMERATED: u8 = 0x0a;
    /// UTCTime
    pub const UTC_TIME: u8 = 0x17;
    /// GeneralizedTime
    pub const GENERALIZED_TIME: u8 = 0x18;
    /// SEQUENCE
    pub const SEQUENCE: u8 = 0x30;
    /// SET
    pub const SET: u8 = 0x31;
    /// `[n]` constructed, context-specific.
    pub const fn ctx(n: u8) -> u8 {
        0xa0 | n
    }
    /// `[n]` primitive, context-specific.
    pub const fn ctx_prim(n: u8) -> u8 {
        0x80 | n
    }
}

/// Encodes a length in DER.
pub fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Encodes a TLV in DER.
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    push_len(&mut out, content.len());
    out.extend_from_slice(content);
    out
}

/// A GeneralizedTime TLV in DER form (`YYYYMMDDHHMMSS[.f]Z`, no trailing zeros in the fraction;
/// X.690 §11.7). `fraction_digits` limits the precision (0 = whole seconds).
pub fn generalized_time(t: time::OffsetDateTime, fraction_digits: u8) -> Vec<u8> {
    let t = t.to_offset(time::UtcOffset::UTC);
    let mut s = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let digits = usize::from(fraction_digits.min(9));
    if digits > 0 {
        let ns = format!("{:09}", t.nanosecond());
        let frac = ns[..digits].trim_end_matches('0');
        if !frac.is_empty() {
            s.push('.');
            s.push_str(frac);
        }
    }
    s.push('Z');
    tlv(tag::GENERALIZED_TIME, s.as_bytes())
}

/// A UTCTime TLV (`YYMMDDHHMMSSZ`) for years 1950-2049, else a GeneralizedTime in whole
/// seconds: the rule of RFC 5280 §4.1.2.5 (certificate validity, CRL times) and RFC 5652 §11.3
/// (signing-time).
pub fn x509_time(t: time::OffsetDateTime) -> Vec<u8> {
    let t = t.to_offset(time::UtcOffset::UTC);
    if (1950..2050).contains(&t.year()) {
        let s = format!(
            "{:02}{:02}{:02}{:02}{:02}{:02}Z",
            t.year() % 100,
            t.month() as u8,
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
        tlv(tag::UTC_TIME, s.as_bytes())
    } else {
        generalized_time(t, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_der() {
        let data = [0x30, 0x06, 0x02, 0x01, 0x05, 0x04, 0x01, 0xff];
        let t = single(&data, false, false).unwrap();
        let mut r = Reader::der(&data).nested(&t);
        assert_eq!(r.expect(tag::INTEGER).unwrap().content, &[5]);
        assert_eq!(r.expect(tag::OCTET_STRING).unwrap().content, &[0xff]);
        assert!(r.is_empty());
    }

    #[test]
    fn ber_indefinite_and_padding() {
        let data = [0x30, 0x80, 0x02, 0x01, 0x05, 0x00, 0x00, 0x00, 0x00];
        assert!(single(&data, false, true).is_err());
        let t = single(&data, true, true).unwrap();
        assert_eq!(t.content, &[0x02, 0x01, 0x05]);
        assert!(single(&data, true, false).is_err());
    }

    #[test]
    fn truncated_and_bogus_lengths_are_errors() {
        assert!(single(&[0x30, 0x05, 0x02], false, false).is_err());
        assert!(single(&[0x30, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9], false, false).is_err());
        assert!(single(&[], false, false).is_err());
        assert!(single(&[0x30, 0x81, 0x05, 0, 0, 0, 0, 0], false, false).is_err());
        // Deep nesting of indefinite lengths is bounded.
        let mut deep = vec![];
        for _ in 0..200 {
            deep.extend_from_slice(&[0x30, 0x80]);
        }
        assert!(single(&deep, true, false).is_err());
    }

    #[test]
    fn encodes_lengths() {
        assert_eq!(tlv(4, &[0; 3])[..2], [4, 3]);
        assert_eq!(tlv(4, &[0; 200])[..3], [4, 0x81, 200]);
        assert_eq!(tlv(4, &[0; 300])[..4], [4, 0x82, 1, 44]);
    }
}
