//! The few DER encoders CMS and RFC 3161 messages need (X.690 §10-§11).

use crate::asn1::{tag, tlv};
use const_oid::ObjectIdentifier;

/// `SEQUENCE { parts... }`.
pub(crate) fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(tag::SEQUENCE, &parts.concat())
}

/// `SET OF` with the elements in DER order (X.690 §11.6: ascending, compared as octet strings
/// with the shorter padded with zeros, which is what lexicographic order gives for distinct
/// TLVs of different lengths only when one is not a prefix: pad explicitly).
pub(crate) fn set_of(mut elems: Vec<Vec<u8>>) -> Vec<u8> {
    elems.sort_by(|a, b| {
        let n = a.len().max(b.len());
        let pa = a.iter().copied().chain(std::iter::repeat(0)).take(n);
        let pb = b.iter().copied().chain(std::iter::repeat(0)).take(n);
        pa.cmp(pb)
    });
    tlv(tag::SET, &elems.concat())
}

/// An OBJECT IDENTIFIER TLV.
pub(crate) fn oid_tlv(oid: &ObjectIdentifier) -> Vec<u8> {
    tlv(tag::OID, oid.as_bytes())
}

/// A non-negative INTEGER TLV.
pub(crate) fn int_u64(v: u64) -> Vec<u8> {
    int_unsigned(&v.to_be_bytes())
}

/// A non-negative INTEGER TLV from big-endian magnitude bytes (minimal encoding).
pub(crate) fn int_unsigned(be: &[u8]) -> Vec<u8> {
    let mut m: &[u8] = be;
    while m.len() > 1 && m[0] == 0 {
        m = &m[1..];
    }
    let mut c = Vec::with_capacity(m.len() + 1);
    if m.is_empty() {
        c.push(0);
    } else {
        if m[0] & 0x80 != 0 {
            c.push(0);
        }
        c.extend_from_slice(m);
    }
    tlv(tag::INTEGER, &c)
}

/// The DER time encodings live in `asn1`; CMS uses them under these names.
pub(crate) use crate::asn1::{generalized_time, x509_time as signing_time};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_of_is_sorted_with_padding() {
        let s = set_of(vec![
            vec![0x04, 0x01, 0x02],
            vec![0x04, 0x00],
            vec![0x02, 0x01, 0x09],
        ]);
        assert_eq!(
            s,
            vec![0x31, 8, 0x02, 0x01, 0x09, 0x04, 0x00, 0x04, 0x01, 0x02]
        );
    }

    #[test]
    fn integers_are_minimal() {
        assert_eq!(int_u64(0), vec![2, 1, 0]);
        assert_eq!(int_u64(128), vec![2, 2, 0, 128]);
        assert_eq!(int_unsigned(&[0, 0, 1]), vec![2, 1, 1]);
    }

    #[test]
    fn times() {
        let t = time::macros::datetime!(2025-03-20 03:00:00.120 UTC);
        assert_eq!(&generalized_time(t, 3)[2..], b"20250320030000.12Z");
        assert_eq!(&generalized_time(t, 0)[2..], b"20250320030000Z");
        assert_eq!(&signing_time(t)[2..], b"250320030000Z");
    }
}
