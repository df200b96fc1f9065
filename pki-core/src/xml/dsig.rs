//! XMLDSig structures and processing rules (XML Signature Syntax and Processing 1.1, W3C REC
//! 2013-04-11): algorithm identifiers (RFC 6931 for the SHA-2, ECDSA and RSA-PSS ones), the
//! Signature element, and reference processing for same-document references.

use super::c14n::{self, C14n, C14nMethod, NodeSet};
use super::{path_of, IdIndex, DSIG_NS};
use base64::Engine;
use hsm::{HashAlgorithm, SignatureAlgorithm};
use roxmltree::Node;

/// The enveloped-signature transform.
pub const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
/// The XAdES SignedProperties reference type.
pub const SIGNED_PROPERTIES_TYPE: &str = "http://uri.etsi.org/01903#SignedProperties";

/// The SignatureMethod URI for `alg`.
pub fn signature_method_uri(alg: SignatureAlgorithm) -> Option<&'static str> {
    use HashAlgorithm::*;
    use SignatureAlgorithm::*;
    Some(match alg {
        RsaPkcs1(Sha1) => "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        RsaPkcs1(Sha256) => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        RsaPkcs1(Sha384) => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
        RsaPkcs1(Sha512) => "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
        RsaPss(Sha256) => "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1",
        RsaPss(Sha384) => "http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1",
        RsaPss(Sha512) => "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1",
        Ecdsa(Sha1) => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1",
        Ecdsa(Sha256) => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        Ecdsa(Sha384) => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
        Ecdsa(Sha512) => "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
        _ => return None,
    })
}

/// Reads a SignatureMethod URI.
pub fn signature_method(uri: &str) -> Option<SignatureAlgorithm> {
    use HashAlgorithm::*;
    use SignatureAlgorithm::*;
    [
        RsaPkcs1(Sha1),
        RsaPkcs1(Sha256),
        RsaPkcs1(Sha384),
        RsaPkcs1(Sha512),
        RsaPss(Sha256),
        RsaPss(Sha384),
        RsaPss(Sha512),
        Ecdsa(Sha1),
        Ecdsa(Sha256),
        Ecdsa(Sha384),
        Ecdsa(Sha512),
    ]
    .into_iter()
    .find(|a| signature_method_uri(*a) == Some(uri))
}

/// The DigestMethod URI for `h`.
pub fn digest_method_uri(h: HashAlgorithm) -> &'static str {
    match h {
        HashAlgorithm::Sha1 => "http://www.w3.org/2000/09/xmldsig#sha1",
        HashAlgorithm::Sha384 => "http://www.w3.org/2001/04/xmldsig-more#sha384",
        HashAlgorithm::Sha512 => "http://www.w3.org/2001/04/xmlenc#sha512",
        _ => "http://www.w3.org/2001/04/xmlenc#sha256",
    }
}

/// Reads a DigestMethod URI.
pub fn digest_method(uri: &str) -> Option<HashAlgorithm> {
    [
        HashAlgorithm::Sha1,
        HashAlgorithm::Sha256,
        HashAlgorithm::Sha384,
        HashAlgorithm::Sha512,
    ]
    .into_iter()
    .find(|h| digest_method_uri(*h) == uri)
}

/// The first child element of `n` in the XMLDSig namespace named `name`.
pub fn ds_child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| {
        c.is_element() && c.tag_name().name() == name && c.tag_name().namespace() == Some(DSIG_NS)
    })
}

/// Whether `n` is a ds:`name` element.
pub fn is_ds(n: Node<'_, '_>, name: &str) -> bool {
    n.is_element() && n.tag_name().name() == name && n.tag_name().namespace() == Some(DSIG_NS)
}

/// Text content of an element (all descendant text).
pub fn text_of(n: Node<'_, '_>) -> String {
    n.descendants()
        .filter(|d| d.is_text())
        .filter_map(|d| d.text())
        .collect()
}

/// Decodes base64 that may contain whitespace (as in SignatureValue and X509Certificate).
pub fn base64_lenient(s: &str) -> Option<Vec<u8>> {
    let clean: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(clean).ok()
}

/// What one reference's node-set is, in words for the report.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Coverage {
    /// The whole document (URI="").
    WholeDocument {
        /// Root element name.
        root: String,
        /// Whether the signature itself is left out (enveloped).
        minus_signature: bool,
    },
    /// One element's subtree.
    Element {
        /// Local name.
        name: String,
        /// The Id it was referenced by.
        id: String,
        /// Its path from the root.
        path: String,
        /// Whether the signature itself is left out (it lies inside this element).
        minus_signature: bool,
    },
}

impl std::fmt::Display for Coverage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::WholeDocument {
                root,
                minus_signature,
            } => {
                write!(f, "the whole document (<{root}>)")?;
                if *minus_signature {
                    write!(f, " except the signature itself")?;
                }
                Ok(())
            }
            Self::Element {
                name,
                id,
                path,
                minus_signature,
            } => {
                write!(f, "<{name} Id=\"{id}\"> at {path}")?;
                if *minus_signature {
                    write!(f, " except the signature itself")?;
                }
                Ok(())
            }
        }
    }
}

/// A reference resolved and transformed: the octets that were digested.
#[derive(Debug)]
pub struct Dereferenced<'a, 'i> {
    /// What it covers.
    pub coverage: Coverage,
    /// The element (or document root) it starts from.
    pub apex: Node<'a, 'i>,
    /// The canonical octets under W3C rules.
    pub octets: Vec<u8>,
    /// The octets under .NET `SignedXml` rules, when they differ (an enveloped-signature
    /// transform on an element inside the signature itself removes nothing there).
    pub dotnet_octets: Option<Vec<u8>>,
    /// Transform names, in order.
    pub transforms: Vec<String>,
}

/// Resolves `reference` (a ds:Reference inside `signature`) and applies its transforms.
/// Errors are one sentence saying why the reference cannot be processed.
pub fn dereference<'a, 'i>(
    doc: &'a roxmltree::Document<'i>,
    text: &str,
    ids: &IdIndex<'_>,
    signature: Node<'a, 'i>,
    reference: Node<'a, 'i>,
) -> Result<Dereferenced<'a, 'i>, String> {
    let uri = reference.attribute("URI").ok_or_else(|| {
        "the reference has no URI (external or implicit data is not supported)".to_owned()
    })?;
    let (apex, comments, id) = if uri.is_empty() {
        (doc.root(), false, None)
    } else if uri == "#xpointer(/)" {
        (doc.root(), true, None)
    } else if let Some(frag) = uri.strip_prefix('#') {
        let (id, comments) = match frag
            .strip_prefix("xpointer(id(")
            .and_then(|r| r.strip_suffix("))"))
        {
            Some(q) => (q.trim_matches(|c| c == '\'' || c == '"'), true),
            None => (frag, false),
        };
        let found = ids.get(id);
        match found.len() {
            0 => return Err(format!("the reference URI \"{uri}\" points at no element")),
            1 => {}
            n => {
                return Err(format!(
                "the Id \"{id}\" is carried by {n} elements; a signature over duplicated Ids is refused (signature wrapping)"
            ))
            }
        }
        let node = doc
            .get_node(found[0])
            .ok_or_else(|| format!("the reference URI \"{uri}\" points at no element"))?;
        (node, comments, Some(id.to_owned()))
    } else {
        return Err(format!(
            "the reference URI \"{uri}\" is outside the document; external content is never fetched"
        ));
    };

    let mut enveloped = false;
    let mut canon: Option<C14n> = None;
    let mut transforms = Vec::new();
    if let Some(ts) = ds_child(reference, "Transforms") {
        for t in ts.children().filter(|c| c.is_element()) {
            if !is_ds(t, "Transform") {
                return Err("the Transforms element holds something other than Transform".into());
            }
            let alg = t.attribute("Algorithm").unwrap_or("");
            if canon.is_some() {
                return Err(format!(
                    "transform {alg} comes after a canonicalization; only a final canonicalization is supported"
                ));
            }
            if alg == ENVELOPED {
                enveloped = true;
                transforms.push("enveloped-signature".to_owned());
            } else if let Some(mut c) = C14n::from_uri(alg) {
                if c.method == C14nMethod::Exclusive10 {
                    c.inclusive_prefixes = inclusive_prefixes(t);
                }
                transforms.push(c.name());
                canon = Some(c);
            } else {
                return Err(format!(
                    "transform {alg} is not allowed (allowed: enveloped-signature and the XML canonicalizations)"
                ));
            }
        }
    }
    let canon = canon.unwrap_or_else(|| C14n::new(C14nMethod::Inclusive10));

    let sig_inside = signature.ancestors().any(|a| a.id() == apex.id());
    let exclude = (enveloped && sig_inside).then(|| signature.id());
    let mut octets = Vec::new();
    let set = NodeSet {
        apex,
        exclude,
        comments,
    };
    // Under W3C rules an enveloped-signature transform on a node-set inside the signature
    // removes everything; .NET SignedXml clones the referenced element first and removes
    // nothing from it.
    // Only the pattern real .NET-made invoices use: a ds:Object child of this signature.
    let inside_signature = apex.ancestors().skip(1).any(|a| a.id() == signature.id());
    let dotnet_pattern =
        is_ds(apex, "Object") && apex.parent().map(|p| p.id()) == Some(signature.id());
    let mut dotnet_octets = None;
    if enveloped && inside_signature {
        // W3C: the node-set minus the signature is empty, so `octets` stays empty.
        if dotnet_pattern {
            let mut d = Vec::new();
            c14n::canonicalize(
                &NodeSet {
                    apex,
                    exclude: None,
                    comments,
                },
                &canon,
                text,
                &mut d,
            );
            dotnet_octets = Some(d);
        }
    } else {
        c14n::canonicalize(&set, &canon, text, &mut octets);
    }

    let coverage = match id {
        None => Coverage::WholeDocument {
            root: doc.root_element().tag_name().name().to_owned(),
            minus_signature: exclude.is_some(),
        },
        Some(id) => Coverage::Element {
            name: apex.tag_name().name().to_owned(),
            id,
            path: path_of(apex),
            minus_signature: exclude.is_some(),
        },
    };
    Ok(Dereferenced {
        coverage,
        apex,
        octets,
        dotnet_octets,
        transforms,
    })
}

/// The PrefixList of an exclusive c14n transform's InclusiveNamespaces child.
pub fn inclusive_prefixes(t: Node<'_, '_>) -> Vec<String> {
    t.children()
        .find(|c| c.is_element() && c.tag_name().name() == "InclusiveNamespaces")
        .and_then(|n| n.attribute("PrefixList"))
        .map(|l| l.split_ascii_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Converts an ECDSA signature from DER to XMLDSig's r||s with each half `half` bytes long.
pub fn ecdsa_der_to_raw(der: &[u8], half: usize) -> Option<Vec<u8>> {
    let mut r = crate::asn1::Reader::der(der);
    let seq = r.expect(crate::asn1::tag::SEQUENCE).ok()?;
    let mut s = r.nested(&seq);
    let mut out = Vec::with_capacity(2 * half);
    for _ in 0..2 {
        let i = s.expect(crate::asn1::tag::INTEGER).ok()?;
        let mut v = i.content;
        while v.len() > half && v.first() == Some(&0) {
            v = &v[1..];
        }
        if v.len() > half {
            return None;
        }
        out.extend(std::iter::repeat_n(0u8, half - v.len()));
        out.extend_from_slice(v);
    }
    Some(out)
}

/// Converts XMLDSig's r||s to DER.
pub fn ecdsa_raw_to_der(raw: &[u8]) -> Option<Vec<u8>> {
    if raw.is_empty() || raw.len() % 2 != 0 {
        return None;
    }
    let (r, s) = raw.split_at(raw.len() / 2);
    let mut body = Vec::new();
    for v in [r, s] {
        let mut v = v;
        while v.len() > 1 && v[0] == 0 {
            v = &v[1..];
        }
        let mut content = Vec::new();
        if v[0] & 0x80 != 0 {
            content.push(0);
        }
        content.extend_from_slice(v);
        body.push(0x02);
        push_len(&mut body, content.len());
        body.extend_from_slice(&content);
    }
    let mut out = vec![0x30];
    push_len(&mut out, body.len());
    out.extend_from_slice(&body);
    Some(out)
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_uris_round_trip() {
        for a in [
            SignatureAlgorithm::RsaPkcs1(HashAlgorithm::Sha1),
            SignatureAlgorithm::RsaPss(HashAlgorithm::Sha512),
            SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha384),
        ] {
            assert_eq!(signature_method(signature_method_uri(a).unwrap()), Some(a));
        }
        assert_eq!(
            digest_method("http://www.w3.org/2001/04/xmlenc#sha256"),
            Some(HashAlgorithm::Sha256)
        );
    }

    #[test]
    fn ecdsa_conversions_round_trip() {
        let raw: Vec<u8> = (0..64)
            .map(|i| if i == 0 { 0x80 } else { i as u8 })
            .collect();
        let der = ecdsa_raw_to_der(&raw).unwrap();
        assert_eq!(ecdsa_der_to_raw(&der, 32).unwrap(), raw);
        let mut small = vec![0u8; 64];
        small[31] = 1;
        small[63] = 2;
        let der = ecdsa_raw_to_der(&small).unwrap();
        assert_eq!(der, vec![0x30, 6, 2, 1, 1, 2, 1, 2]);
        assert_eq!(ecdsa_der_to_raw(&der, 32).unwrap(), small);
    }
}
