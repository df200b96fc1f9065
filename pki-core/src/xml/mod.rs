//! XML signatures: XMLDSig (W3C XML Signature Syntax and Processing 1.1) and XAdES baseline B-B
//! (ETSI EN 319 132-1), over our own canonicalization ([`c14n`]).
//!
//! Safety rules for every input (see [`parse`]): UTF-8 only; any DOCTYPE is refused before
//! parsing (so no entity expansion and no external entities); input size, node count and depth
//! are capped; nothing is ever fetched. References must resolve to exactly one element in the
//! same document (duplicate Ids are refused) and transforms come from a short allow-list
//! (enveloped-signature and the canonicalizations; no XPath, no XSLT).
//!
//! - [`sign`]: build a signature and insert it into the user's bytes (enveloped, enveloping,
//!   detached; e-invoice and edXML profiles), in two phases for remote signers.
//! - [`verify`]: verification returning data: what each signature covers, digest and signature
//!   checks, the signer, XAdES properties, then trust separately.

pub mod c14n;
pub mod dsig;
pub mod sign;
pub mod verify;
pub mod xades;

use roxmltree::{Document, Node, NodeId};
use std::collections::HashMap;

/// Limits applied before and while parsing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest input in bytes.
    pub max_bytes: usize,
    /// Most nodes.
    pub max_nodes: u32,
    /// Deepest element nesting.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 64 * 1024 * 1024,
            max_nodes: 4_000_000,
            max_depth: 256,
        }
    }
}

/// Why an XML document could not be processed at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum XmlError {
    /// Over the size limit.
    #[error("the XML document is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Size.
        size: usize,
        /// Limit.
        limit: usize,
    },
    /// Not UTF-8.
    #[error("the XML document is not UTF-8 (byte {offset}); only UTF-8 documents are accepted")]
    NotUtf8 {
        /// First bad byte.
        offset: usize,
    },
    /// A DOCTYPE declaration: refused (no DTDs, no entities).
    #[error("the XML document has a DOCTYPE declaration (line {line}); DTDs and entities are refused for safety")]
    Doctype {
        /// Line of the declaration.
        line: usize,
    },
    /// Malformed XML.
    #[error("the XML is malformed: {0}")]
    Malformed(#[source] roxmltree::Error),
    /// Too deep.
    #[error("the XML nests elements {depth} deep, over the limit of {limit}")]
    TooDeep {
        /// Depth found.
        depth: usize,
        /// Limit.
        limit: usize,
    },
    /// No signature in the document.
    #[error("the XML document has no XML signature (no ds:Signature element)")]
    NoSignature,
    /// The document does not have the shape a profile needs.
    #[error("the document does not fit the {profile} profile: {detail}")]
    Profile {
        /// Profile name.
        profile: &'static str,
        /// What is missing.
        detail: String,
    },
    /// An element named by Id does not exist, or several do.
    #[error("{0}")]
    Id(String),
    /// The signer failed.
    #[error("signing failed")]
    Signer(#[source] hsm::Error),
    /// The key cannot make any signature XMLDSig can carry.
    #[error("the key cannot make a signature usable in XML ({0})")]
    Algorithm(String),
    /// The time-stamping authority could not be used.
    #[error("the signature timestamp could not be obtained")]
    Timestamp(#[source] crate::tsp::TspError),
    /// The time-stamping authority answered with an unusable token.
    #[error("the time-stamping authority's token is not usable: {0}")]
    BadTimestamp(String),
    /// The certificate and revocation values of XAdES B-LT could not be gathered.
    #[error("the validation data for B-LT could not be gathered: {0}")]
    ValidationData(#[from] crate::ltv::LtvError),
    /// The signature value returned by the signer is malformed.
    #[error("the signature from the key is malformed: {0}")]
    BadSignatureValue(String),
}

/// Checks limits and refuses DTDs, then parses. `bytes` may start with a UTF-8 BOM.
pub fn parse<'a>(bytes: &'a [u8], limits: &Limits) -> Result<(&'a str, Document<'a>), XmlError> {
    if bytes.len() > limits.max_bytes {
        return Err(XmlError::TooLarge {
            size: bytes.len(),
            limit: limits.max_bytes,
        });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| XmlError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    check_prolog(text)?;
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: limits.max_nodes,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = Document::parse_with_options(text, opts).map_err(|e| match e {
        roxmltree::Error::DtdDetected => XmlError::Doctype { line: 1 },
        e => XmlError::Malformed(e),
    })?;
    // Depth, without recursion.
    let mut stack: Vec<(Node<'_, '_>, usize)> = vec![(doc.root_element(), 1)];
    while let Some((n, d)) = stack.pop() {
        if d > limits.max_depth {
            return Err(XmlError::TooDeep {
                depth: d,
                limit: limits.max_depth,
            });
        }
        stack.extend(n.children().filter(|c| c.is_element()).map(|c| (c, d + 1)));
    }
    Ok((text, doc))
}

/// Refuses a DOCTYPE in the prolog (the only place one may stand).
fn check_prolog(text: &str) -> Result<(), XmlError> {
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches([' ', '\t', '\r', '\n']);
        if let Some(r) = rest.strip_prefix("<?") {
            rest = r.split_once("?>").map(|(_, r)| r).unwrap_or("");
        } else if let Some(r) = rest.strip_prefix("<!--") {
            rest = r.split_once("-->").map(|(_, r)| r).unwrap_or("");
        } else if rest.starts_with("<!") {
            let offset = text.len() - rest.len();
            return Err(XmlError::Doctype {
                line: text[..offset].matches('\n').count() + 1,
            });
        } else {
            return Ok(());
        }
    }
}

/// The namespace of XMLDSig.
pub const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// The namespace of XAdES 1.3.2.
pub const XADES_NS: &str = "http://uri.etsi.org/01903/v1.3.2#";

/// Attribute names taken as Ids: `Id`, `ID`, `id` (unqualified), `xml:id` and `wsu:Id`.
fn id_of<'a>(n: Node<'a, '_>) -> impl Iterator<Item = &'a str> + 'a {
    n.attributes().filter_map(|a| {
        let ok = match a.namespace() {
            None => matches!(a.name(), "Id" | "ID" | "id"),
            Some("http://www.w3.org/XML/1998/namespace") => a.name() == "id",
            Some(
                "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd",
            ) => a.name() == "Id",
            Some(_) => false,
        };
        ok.then(|| a.value())
    })
}

/// Every Id in a document with the elements that carry it (more than one is a duplicate).
#[derive(Debug, Default)]
pub struct IdIndex<'d> {
    map: HashMap<&'d str, Vec<NodeId>>,
}

impl<'d> IdIndex<'d> {
    /// Indexes `doc`.
    pub fn new(doc: &'d Document<'_>) -> Self {
        let mut map: HashMap<&'d str, Vec<NodeId>> = HashMap::new();
        for n in doc.descendants().filter(|n| n.is_element()) {
            for id in id_of(n) {
                let v = map.entry(id).or_default();
                if !v.contains(&n.id()) {
                    v.push(n.id());
                }
            }
        }
        Self { map }
    }

    /// The elements with Id `id`.
    pub fn get(&self, id: &str) -> &[NodeId] {
        self.map.get(id).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Whether `id` is used at all.
    pub fn contains(&self, id: &str) -> bool {
        self.map.contains_key(id)
    }
}

/// The element's path from the root, with positions among same-named siblings where there are
/// several (`/HDon/DSCKS/NBan/Signature`, `/a/b[2]`).
pub fn path_of(n: Node<'_, '_>) -> String {
    let mut parts: Vec<String> = Vec::new();
    for a in n.ancestors().filter(|a| a.is_element()) {
        let name = a.tag_name().name();
        let same: Vec<_> = a
            .parent()
            .map(|p| {
                p.children()
                    .filter(|c| c.is_element() && c.tag_name() == a.tag_name())
                    .collect()
            })
            .unwrap_or_default();
        if same.len() > 1 {
            let pos = same.iter().position(|c| c.id() == a.id()).unwrap_or(0) + 1;
            parts.push(format!("{name}[{pos}]"));
        } else {
            parts.push(name.to_owned());
        }
    }
    parts.reverse();
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doctype_is_refused_before_parsing() {
        let lol = b"<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;\">]>\n<lolz>&lol2;</lolz>";
        assert!(matches!(
            parse(lol, &Limits::default()),
            Err(XmlError::Doctype { line: 2 })
        ));
        let ext = b"<!-- x --><!DOCTYPE r SYSTEM \"file:///etc/passwd\"><r/>";
        assert!(matches!(
            parse(ext, &Limits::default()),
            Err(XmlError::Doctype { .. })
        ));
    }

    #[test]
    fn limits_hold() {
        let deep = "<a>".repeat(300) + &"</a>".repeat(300);
        assert!(matches!(
            parse(deep.as_bytes(), &Limits::default()),
            Err(XmlError::TooDeep { .. })
        ));
        let small = Limits {
            max_bytes: 10,
            ..Limits::default()
        };
        assert!(matches!(
            parse(b"<a>01234567890</a>", &small),
            Err(XmlError::TooLarge { .. })
        ));
        assert!(matches!(
            parse(b"<a>\xff</a>", &Limits::default()),
            Err(XmlError::NotUtf8 { offset: 3 })
        ));
    }

    #[test]
    fn ids_and_paths() {
        let (_, doc) = parse(
            b"<r><a Id=\"x\"/><a ID=\"y\" id=\"y\"/><b id=\"x\"/></r>",
            &Limits::default(),
        )
        .unwrap();
        let idx = IdIndex::new(&doc);
        assert_eq!(idx.get("x").len(), 2);
        assert_eq!(idx.get("y").len(), 1);
        let n = doc.get_node(idx.get("y")[0]).unwrap();
        assert_eq!(path_of(n), "/r/a[2]");
    }
}
