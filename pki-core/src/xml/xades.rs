//! XAdES unsigned properties (ETSI EN 319 132-1 §5.3): the signature timestamp of B-T.
//!
//! The timestamp's message imprint is the digest of the ds:SignatureValue element,
//! canonicalized with the method named in the SignatureTimeStamp (exclusive c14n here; absent
//! means Canonical XML 1.0, §5.3.4 and XAdES §7.1.4.1). Adding it changes nothing the signature
//! covers: UnsignedProperties sit beside SignedProperties in QualifyingProperties.

use super::c14n::{self, C14n, C14nMethod, NodeSet};
use super::dsig::{ds_child, is_ds};
use super::{parse, Limits, XmlError, DSIG_NS, XADES_NS};
use base64::Engine;
use roxmltree::{Document, Node};

/// The canonicalization we use for signature timestamps.
pub const TIMESTAMP_C14N: C14nMethod = C14nMethod::Exclusive10;

fn signature_by_id<'a, 'i>(doc: &'a Document<'i>, id: &str) -> Result<Node<'a, 'i>, XmlError> {
    doc.descendants()
        .find(|n| is_ds(*n, "Signature") && n.attribute("Id") == Some(id))
        .ok_or_else(|| XmlError::Id(format!("no ds:Signature has Id \"{id}\"")))
}

/// The canonical ds:SignatureValue element of `signature` under `c14n`.
pub fn signature_value_octets(
    signature: Node<'_, '_>,
    c14n: &C14n,
    text: &str,
) -> Result<Vec<u8>, XmlError> {
    let sv = ds_child(signature, "SignatureValue").ok_or(XmlError::NoSignature)?;
    let mut out = Vec::new();
    c14n::canonicalize(
        &NodeSet {
            apex: sv,
            exclude: None,
            comments: false,
        },
        c14n,
        text,
        &mut out,
    );
    Ok(out)
}

/// What a time-stamping authority must stamp for the signature with Id `signature_id`: the
/// canonical ds:SignatureValue (hash it for the request's message imprint).
pub fn timestamp_data(document: &[u8], signature_id: &str) -> Result<Vec<u8>, XmlError> {
    let (text, doc) = parse(document, &Limits::default())?;
    let sig = signature_by_id(&doc, signature_id)?;
    signature_value_octets(sig, &C14n::new(TIMESTAMP_C14N), text)
}

/// Adds `token` (a DER TimeStampToken over [`timestamp_data`]) as the XAdES
/// SignatureTimeStamp of the signature with Id `signature_id`, which must carry
/// QualifyingProperties. The rest of the bytes are kept.
pub fn add_signature_timestamp(
    document: &[u8],
    signature_id: &str,
    token: &[u8],
) -> Result<Vec<u8>, XmlError> {
    let (text, doc) = parse(document, &Limits::default())?;
    let sig = signature_by_id(&doc, signature_id)?;
    let qp = sig
        .descendants()
        .find(|n| is_xades(*n, "QualifyingProperties"))
        .ok_or_else(|| XmlError::Profile {
            profile: "XAdES B-T",
            detail: "the signature has no XAdES QualifyingProperties (sign at level B-B first)"
                .into(),
        })?;
    if qp.children().any(|c| is_xades(c, "UnsignedProperties")) {
        return Err(XmlError::Profile {
            profile: "XAdES B-T",
            detail: "the signature already has UnsignedProperties".into(),
        });
    }
    let sp = qp
        .children()
        .find(|c| is_xades(*c, "SignedProperties"))
        .ok_or_else(|| XmlError::Profile {
            profile: "XAdES B-T",
            detail: "the QualifyingProperties have no SignedProperties".into(),
        })?;
    let x = prefix_of(qp, text);
    let ds = sig
        .lookup_prefix(DSIG_NS)
        .map(|p| format!("{p}:"))
        .unwrap_or_default();
    let b64 = base64::engine::general_purpose::STANDARD.encode(token);
    let insert = format!(
        "<{x}UnsignedProperties><{x}UnsignedSignatureProperties><{x}SignatureTimeStamp Id=\"{signature_id}-ts\"><{ds}CanonicalizationMethod Algorithm=\"{}\"/><{x}EncapsulatedTimeStamp>{b64}</{x}EncapsulatedTimeStamp></{x}SignatureTimeStamp></{x}UnsignedSignatureProperties></{x}UnsignedProperties>",
        C14n::new(TIMESTAMP_C14N).uri()
    );
    let at = sp.range().end;
    let mut out = Vec::with_capacity(document.len() + insert.len());
    let bom = document.len() - text.len();
    out.extend_from_slice(&document[..bom + at]);
    out.extend_from_slice(insert.as_bytes());
    out.extend_from_slice(&document[bom + at..]);
    Ok(out)
}

/// Asks the TSA at `url` (through `fetcher`) for a timestamp over the signature with Id
/// `signature_id` and adds it (XAdES B-T). The token must cover the request's imprint and
/// nonce and be valid as data; the TSA's chain is the verifier's to judge.
pub fn timestamp_signature(
    document: &[u8],
    signature_id: &str,
    fetcher: &dyn crate::fetch::Fetcher,
    url: &str,
    policy: &crate::crypto::AlgorithmPolicy,
) -> Result<Vec<u8>, XmlError> {
    use crate::tsp::{self, Imprint, TimeStampReq};
    let data = timestamp_data(document, signature_id)?;
    let req =
        TimeStampReq::for_data(hsm::HashAlgorithm::Sha256, &data).map_err(XmlError::Timestamp)?;
    let token = tsp::query(fetcher, url, &req)
        .and_then(|r| r.into_token())
        .map_err(XmlError::Timestamp)?;
    let check = token
        .validate(Imprint::Data(&data), req.nonce.as_deref(), &[], policy)
        .map_err(XmlError::Timestamp)?;
    if !check.is_valid() {
        let (_, sub) = check.indication();
        return Err(XmlError::BadTimestamp(
            sub.unwrap_or("FORMAT_FAILURE").to_owned(),
        ));
    }
    add_signature_timestamp(document, signature_id, &token.der)
}

/// Whether `n` is xades:`name`.
pub fn is_xades(n: Node<'_, '_>, name: &str) -> bool {
    n.is_element() && n.tag_name().name() == name && n.tag_name().namespace() == Some(XADES_NS)
}

/// `p:` for an element written `p:name`, or "" when unprefixed.
fn prefix_of(n: Node<'_, '_>, text: &str) -> String {
    match c14n::element_qname(n, text).split_once(':') {
        Some((p, _)) => format!("{p}:"),
        None => String::new(),
    }
}

/// A signature timestamp found in a signature.
#[derive(Debug)]
pub struct FoundTimestamp {
    /// The DER token.
    pub token: Vec<u8>,
    /// The canonical SignatureValue it must cover.
    pub stamped: Vec<u8>,
}

/// The first SignatureTimeStamp of `signature`, with the octets it must cover.
pub fn find_signature_timestamp(
    signature: Node<'_, '_>,
    text: &str,
) -> Option<Result<FoundTimestamp, String>> {
    let ts = signature
        .descendants()
        .find(|n| is_xades(*n, "SignatureTimeStamp"))?;
    let c14n = ds_child(ts, "CanonicalizationMethod")
        .and_then(|c| c.attribute("Algorithm"))
        .map(|a| C14n::from_uri(a).ok_or_else(|| format!("canonicalization {a} is not supported")))
        .unwrap_or_else(|| Ok(C14n::new(C14nMethod::Inclusive10)));
    let c14n = match c14n {
        Ok(c) => c,
        Err(e) => return Some(Err(e)),
    };
    let token = ts
        .children()
        .find(|c| is_xades(*c, "EncapsulatedTimeStamp"))
        .and_then(|e| super::dsig::base64_lenient(&super::dsig::text_of(e)));
    let Some(token) = token else {
        return Some(Err(
            "the SignatureTimeStamp has no readable EncapsulatedTimeStamp".into(),
        ));
    };
    Some(
        signature_value_octets(signature, &c14n, text)
            .map(|stamped| FoundTimestamp { token, stamped })
            .map_err(|e| e.to_string()),
    )
}

/// XAdES B-LT (ETSI EN 319 132-1 §5.5): adds xades:CertificateValues and xades:RevocationValues
/// to the unsigned properties of the time-stamped signature with Id `signature_id`: the paths of
/// the signer (`chain`, signer first) and of the time-stamping authority up to their roots, and
/// the OCSP responses or CRLs fetched now through `fetcher`. Certificates already in the
/// signature's ds:KeyInfo are not repeated.
pub fn add_long_term_values(
    document: &[u8],
    signature_id: &str,
    chain: &[crate::cert::Certificate],
    fetcher: &dyn crate::fetch::Fetcher,
    at: time::OffsetDateTime,
    policy: &crate::crypto::AlgorithmPolicy,
) -> Result<Vec<u8>, XmlError> {
    use crate::ltv::{known_certificates, ValidationData};
    use crate::tsp::{Imprint, TimeStampToken};
    let signer = chain.first().ok_or(XmlError::Profile {
        profile: "XAdES B-LT",
        detail: "no signer certificate was given".into(),
    })?;
    let (text, doc) = parse(document, &Limits::default())?;
    let sig = signature_by_id(&doc, signature_id)?;
    let found = find_signature_timestamp(sig, text)
        .ok_or_else(|| XmlError::Profile {
            profile: "XAdES B-LT",
            detail: "the signature has no SignatureTimeStamp (B-LT builds on B-T)".into(),
        })?
        .map_err(XmlError::BadTimestamp)?;
    let token = TimeStampToken::from_der(&found.token).map_err(XmlError::Timestamp)?;
    let check = token
        .validate(Imprint::Data(&found.stamped), None, &[], policy)
        .map_err(XmlError::Timestamp)?;
    let mut known: Vec<&crate::cert::Certificate> = chain.iter().collect();
    known.extend(check.tsa_cert.iter());
    known.extend(check.other_certs.iter());
    let known = known_certificates(known);
    let mut data = ValidationData::new();
    data.add_path(signer, &known, fetcher, at, policy)?;
    if let Some(tsa) = &check.tsa_cert {
        data.add_path(tsa, &known, fetcher, at, policy)?;
    }
    let in_key_info: Vec<Vec<u8>> = sig
        .descendants()
        .filter(|n| is_ds(*n, "X509Certificate"))
        .filter_map(|n| super::dsig::base64_lenient(&super::dsig::text_of(n)))
        .collect();
    let usp = sig
        .descendants()
        .find(|n| is_xades(*n, "UnsignedSignatureProperties"))
        .ok_or_else(|| XmlError::Profile {
            profile: "XAdES B-LT",
            detail: "the signature has no UnsignedSignatureProperties".into(),
        })?;
    if usp
        .children()
        .any(|c| is_xades(c, "CertificateValues") || is_xades(c, "RevocationValues"))
    {
        return Err(XmlError::Profile {
            profile: "XAdES B-LT",
            detail: "the signature already has certificate or revocation values".into(),
        });
    }
    let x = prefix_of(usp, text);
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    let mut insert = format!("<{x}CertificateValues>");
    for c in &data.certificates {
        if !in_key_info.iter().any(|k| k.as_slice() == c.der()) {
            insert.push_str(&format!(
                "<{x}EncapsulatedX509Certificate>{}</{x}EncapsulatedX509Certificate>",
                b64(c.der())
            ));
        }
    }
    insert.push_str(&format!("</{x}CertificateValues><{x}RevocationValues>"));
    if !data.crls.is_empty() {
        insert.push_str(&format!("<{x}CRLValues>"));
        for c in &data.crls {
            insert.push_str(&format!(
                "<{x}EncapsulatedCRLValue>{}</{x}EncapsulatedCRLValue>",
                b64(c)
            ));
        }
        insert.push_str(&format!("</{x}CRLValues>"));
    }
    if !data.ocsp_responses.is_empty() {
        insert.push_str(&format!("<{x}OCSPValues>"));
        for o in &data.ocsp_responses {
            insert.push_str(&format!(
                "<{x}EncapsulatedOCSPValue>{}</{x}EncapsulatedOCSPValue>",
                b64(o)
            ));
        }
        insert.push_str(&format!("</{x}OCSPValues>"));
    }
    insert.push_str(&format!("</{x}RevocationValues>"));
    // After the last child (the SignatureTimeStamp), before the closing tag.
    let at_byte = usp
        .children()
        .rfind(|c| c.is_element())
        .map(|c| c.range().end)
        .ok_or_else(|| XmlError::Profile {
            profile: "XAdES B-LT",
            detail: "the UnsignedSignatureProperties are empty".into(),
        })?;
    let bom = document.len() - text.len();
    let mut out = Vec::with_capacity(document.len() + insert.len());
    out.extend_from_slice(&document[..bom + at_byte]);
    out.extend_from_slice(insert.as_bytes());
    out.extend_from_slice(&document[bom + at_byte..]);
    Ok(out)
}

/// The certificate and revocation values of a XAdES B-LT signature: DER certificates, CRLs and
/// OCSP responses (for verification to use before going online).
#[derive(Clone, Debug, Default)]
pub struct LongTermValues {
    /// xades:EncapsulatedX509Certificate.
    pub certificates: Vec<Vec<u8>>,
    /// xades:EncapsulatedCRLValue.
    pub crls: Vec<Vec<u8>>,
    /// xades:EncapsulatedOCSPValue.
    pub ocsp_responses: Vec<Vec<u8>>,
}

impl LongTermValues {
    /// Whether the signature carries no such values.
    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty() && self.crls.is_empty() && self.ocsp_responses.is_empty()
    }
}

/// Reads the CertificateValues and RevocationValues of `signature` (empty when absent).
pub fn find_long_term_values(signature: Node<'_, '_>) -> LongTermValues {
    let mut v = LongTermValues::default();
    let decode = |n: Node<'_, '_>| super::dsig::base64_lenient(&super::dsig::text_of(n));
    for n in signature.descendants().filter(|n| n.is_element()) {
        let parent_is = |name: &str| n.ancestors().skip(1).any(|a| is_xades(a, name));
        if is_xades(n, "EncapsulatedX509Certificate") && parent_is("CertificateValues") {
            v.certificates.extend(decode(n));
        } else if is_xades(n, "EncapsulatedCRLValue") && parent_is("RevocationValues") {
            v.crls.extend(decode(n));
        } else if is_xades(n, "EncapsulatedOCSPValue") && parent_is("RevocationValues") {
            v.ocsp_responses.extend(decode(n));
        }
    }
    v
}
