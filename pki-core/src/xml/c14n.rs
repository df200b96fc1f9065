//! Canonical XML over a parsed tree: Canonical XML 1.0 (W3C REC 2001-03-15), Canonical XML 1.1
//! (W3C REC 2008-05-02) and Exclusive XML Canonicalization 1.0 (W3C REC 2002-07-18), with and
//! without comments.
//!
//! The input is a roxmltree document, which has already normalised line ends (XML 1.0 §2.11),
//! attribute values (XML 1.0 §3.3.3), resolved character references and merged CDATA sections
//! into text, exactly what the XPath data model that the c14n specifications start from holds.
//!
//! The node-sets supported are the ones XMLDSig same-document references produce: a whole
//! document or one element's subtree, optionally minus one element's subtree (the
//! enveloped-signature transform), with or without comment nodes.

use roxmltree::{Node, NodeId};

/// Which canonicalization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum C14nMethod {
    /// Canonical XML 1.0.
    Inclusive10,
    /// Canonical XML 1.1.
    Inclusive11,
    /// Exclusive XML Canonicalization 1.0.
    Exclusive10,
}

/// Algorithm URIs.
pub mod uri {
    /// Canonical XML 1.0.
    pub const C14N10: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
    /// Canonical XML 1.0 with comments.
    pub const C14N10_COMMENTS: &str =
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments";
    /// Canonical XML 1.1.
    pub const C14N11: &str = "http://www.w3.org/2006/12/xml-c14n11";
    /// Canonical XML 1.1 with comments.
    pub const C14N11_COMMENTS: &str = "http://www.w3.org/2006/12/xml-c14n11#WithComments";
    /// Exclusive c14n 1.0.
    pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
    /// Exclusive c14n 1.0 with comments.
    pub const EXC_C14N_COMMENTS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";
}

/// A canonicalization with its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct C14n {
    /// The method.
    pub method: C14nMethod,
    /// Whether comments are kept (when the node-set has them).
    pub with_comments: bool,
    /// Exclusive c14n's InclusiveNamespaces PrefixList (`#default` for the default namespace).
    pub inclusive_prefixes: Vec<String>,
}

impl C14n {
    /// A canonicalization without comments and without an inclusive prefix list.
    pub fn new(method: C14nMethod) -> Self {
        Self {
            method,
            with_comments: false,
            inclusive_prefixes: Vec::new(),
        }
    }

    /// Reads an algorithm URI (`None` when it is not a canonicalization).
    pub fn from_uri(u: &str) -> Option<Self> {
        let (method, with_comments) = match u {
            uri::C14N10 => (C14nMethod::Inclusive10, false),
            uri::C14N10_COMMENTS => (C14nMethod::Inclusive10, true),
            uri::C14N11 => (C14nMethod::Inclusive11, false),
            uri::C14N11_COMMENTS => (C14nMethod::Inclusive11, true),
            uri::EXC_C14N => (C14nMethod::Exclusive10, false),
            uri::EXC_C14N_COMMENTS => (C14nMethod::Exclusive10, true),
            _ => return None,
        };
        Some(Self {
            method,
            with_comments,
            inclusive_prefixes: Vec::new(),
        })
    }

    /// The algorithm URI.
    pub fn uri(&self) -> &'static str {
        match (self.method, self.with_comments) {
            (C14nMethod::Inclusive10, false) => uri::C14N10,
            (C14nMethod::Inclusive10, true) => uri::C14N10_COMMENTS,
            (C14nMethod::Inclusive11, false) => uri::C14N11,
            (C14nMethod::Inclusive11, true) => uri::C14N11_COMMENTS,
            (C14nMethod::Exclusive10, false) => uri::EXC_C14N,
            (C14nMethod::Exclusive10, true) => uri::EXC_C14N_COMMENTS,
        }
    }

    /// A short name (`exc-c14n`, `c14n`, `c14n11`, with `#WithComments`).
    pub fn name(&self) -> String {
        let base = match self.method {
            C14nMethod::Inclusive10 => "c14n",
            C14nMethod::Inclusive11 => "c14n11",
            C14nMethod::Exclusive10 => "exc-c14n",
        };
        if self.with_comments {
            format!("{base}#WithComments")
        } else {
            base.to_owned()
        }
    }
}

/// The node-set to canonicalize: `apex` (the document root or an element) with its
/// descendants, minus the subtree of `exclude`, without comments unless `comments`.
#[derive(Clone, Copy, Debug)]
pub struct NodeSet<'a, 'input> {
    /// The top of the subtree.
    pub apex: Node<'a, 'input>,
    /// A subtree left out (the enveloping Signature).
    pub exclude: Option<NodeId>,
    /// Whether comment nodes are in the set.
    pub comments: bool,
}

const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Canonicalizes `set` with `c14n`, appending to `out`. `text` is the document source, used for
/// element and attribute qualified names exactly as written.
pub fn canonicalize(set: &NodeSet<'_, '_>, c14n: &C14n, text: &str, out: &mut Vec<u8>) {
    let mut w = Writer {
        c14n,
        text,
        exclude: set.exclude,
        comments: set.comments && c14n.with_comments,
        rendered: Vec::new(),
        out,
    };
    let apex = set.apex;
    if apex.is_root() {
        let mut seen_element = false;
        for child in apex.children() {
            if Some(child.id()) == w.exclude {
                continue;
            }
            if child.is_element() {
                w.element(child, true);
                seen_element = true;
            } else if child.is_pi() || (child.is_comment() && w.comments) {
                if seen_element {
                    w.out.push(b'\n');
                }
                w.leaf(child);
                if !seen_element {
                    w.out.push(b'\n');
                }
            }
        }
    } else if apex.is_element() {
        if Some(apex.id()) != w.exclude {
            w.element(apex, true);
        }
    } else {
        w.leaf(apex);
    }
}

struct Writer<'c, 't, 'o> {
    c14n: &'c C14n,
    text: &'t str,
    exclude: Option<NodeId>,
    comments: bool,
    /// Namespace declarations rendered by output ancestors: (prefix, uri); "" is the default.
    rendered: Vec<(String, String)>,
    out: &'o mut Vec<u8>,
}

impl Writer<'_, '_, '_> {
    fn rendered_uri(&self, prefix: &str) -> Option<&str> {
        self.rendered
            .iter()
            .rev()
            .find(|(p, _)| p == prefix)
            .map(|(_, u)| u.as_str())
    }

    fn leaf(&mut self, n: Node<'_, '_>) {
        if let Some(pi) = n.pi() {
            self.out.extend_from_slice(b"<?");
            self.out.extend_from_slice(pi.target.as_bytes());
            if let Some(v) = pi.value.filter(|v| !v.is_empty()) {
                self.out.push(b' ');
                self.out.extend_from_slice(v.as_bytes());
            }
            self.out.extend_from_slice(b"?>");
        } else if n.is_comment() {
            if self.comments {
                self.out.extend_from_slice(b"<!--");
                self.out
                    .extend_from_slice(n.text().unwrap_or_default().as_bytes());
                self.out.extend_from_slice(b"-->");
            }
        } else if n.is_text() {
            escape_text(n.text().unwrap_or_default(), self.out);
        }
    }

    fn element(&mut self, e: Node<'_, '_>, apex: bool) {
        let qname = element_qname(e, self.text);
        let prefix = qname.split_once(':').map(|(p, _)| p).unwrap_or("");
        let mark = self.rendered.len();

        // Namespace declarations to render: (prefix, uri).
        let mut decls: Vec<(&str, &str)> = Vec::new();
        match self.c14n.method {
            C14nMethod::Inclusive10 | C14nMethod::Inclusive11 => {
                let mut has_default = false;
                for ns in e.namespaces() {
                    let p = ns.name().unwrap_or("");
                    if p.is_empty() {
                        has_default = true;
                    }
                    self.consider(p, ns.uri(), &mut decls);
                }
                if !has_default {
                    self.consider("", "", &mut decls);
                }
            }
            C14nMethod::Exclusive10 => {
                let mut used: Vec<&str> = vec![prefix];
                for a in e.attributes() {
                    if a.namespace().is_some_and(|n| n != XML_NS) {
                        let q = &self.text[a.range_qname()];
                        if let Some((p, _)) = q.split_once(':') {
                            used.push(p);
                        }
                    }
                }
                for p in &self.c14n.inclusive_prefixes {
                    used.push(if p == "#default" { "" } else { p.as_str() });
                }
                used.sort_unstable();
                used.dedup();
                for p in used {
                    let bound = if p.is_empty() {
                        e.namespaces()
                            .find(|n| n.name().is_none())
                            .map(|n| n.uri())
                            .unwrap_or("")
                    } else {
                        match e.namespaces().find(|n| n.name() == Some(p)) {
                            Some(n) => n.uri(),
                            None => continue,
                        }
                    };
                    self.consider(p, bound, &mut decls);
                }
            }
        }
        decls.sort_unstable_by(|a, b| a.0.cmp(b.0));

        // Attributes, sorted by (namespace URI, local name); xml:* inherited at the apex of a
        // document subset under inclusive c14n.
        let mut attrs: Vec<(&str, &str, &str, &str)> = e
            .attributes()
            .map(|a| {
                (
                    a.namespace().unwrap_or(""),
                    a.name(),
                    &self.text[a.range_qname()],
                    a.value(),
                )
            })
            .collect();
        let mut inherited: Vec<(String, String)> = Vec::new();
        if apex && self.c14n.method != C14nMethod::Exclusive10 {
            for anc in e.ancestors().skip(1).filter(|n| n.is_element()) {
                for a in anc.attributes() {
                    if a.namespace() != Some(XML_NS) {
                        continue;
                    }
                    let name = a.name();
                    let inheritable = match self.c14n.method {
                        C14nMethod::Inclusive11 => matches!(name, "lang" | "space"),
                        _ => true,
                    };
                    if !inheritable
                        || attrs.iter().any(|x| x.0 == XML_NS && x.1 == name)
                        || inherited.iter().any(|(n, _)| n == name)
                    {
                        continue;
                    }
                    inherited.push((name.to_owned(), a.value().to_owned()));
                }
            }
        }
        let inherited_q: Vec<String> = inherited.iter().map(|(n, _)| format!("xml:{n}")).collect();
        for ((n, v), q) in inherited.iter().zip(&inherited_q) {
            attrs.push((XML_NS, n, q, v));
        }
        attrs.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));

        self.out.push(b'<');
        self.out.extend_from_slice(qname.as_bytes());
        for (p, u) in &decls {
            if p.is_empty() {
                self.out.extend_from_slice(b" xmlns=\"");
            } else {
                self.out.extend_from_slice(b" xmlns:");
                self.out.extend_from_slice(p.as_bytes());
                self.out.extend_from_slice(b"=\"");
            }
            escape_attr(u, self.out);
            self.out.push(b'"');
        }
        for (_, _, q, v) in &attrs {
            self.out.push(b' ');
            self.out.extend_from_slice(q.as_bytes());
            self.out.extend_from_slice(b"=\"");
            escape_attr(v, self.out);
            self.out.push(b'"');
        }
        self.out.push(b'>');
        for (p, u) in decls {
            self.rendered.push((p.to_owned(), u.to_owned()));
        }

        for child in e.children() {
            if Some(child.id()) == self.exclude {
                continue;
            }
            if child.is_element() {
                self.element(child, false);
            } else {
                self.leaf(child);
            }
        }

        self.out.extend_from_slice(b"</");
        self.out.extend_from_slice(qname.as_bytes());
        self.out.push(b'>');
        self.rendered.truncate(mark);
    }

    /// Adds `prefix=uri` to `decls` when output ancestors have not already rendered it.
    fn consider<'x>(&self, prefix: &'x str, uri: &'x str, decls: &mut Vec<(&'x str, &'x str)>) {
        let current = self.rendered_uri(prefix);
        let needed = if prefix.is_empty() {
            // xmlns="" only undoes a rendered non-empty default.
            match current {
                Some(c) => c != uri,
                None => !uri.is_empty(),
            }
        } else {
            current != Some(uri)
        };
        if needed {
            decls.push((prefix, uri));
        }
    }
}

/// An element's qualified name as written in the source.
pub fn element_qname<'t>(e: Node<'_, '_>, text: &'t str) -> &'t str {
    let start = e.range().start + 1;
    let rest = &text[start..];
    let end = rest
        .find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
        .unwrap_or(rest.len());
    &rest[..end]
}

fn escape_text(s: &str, out: &mut Vec<u8>) {
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'\r' => b"&#xD;",
            _ => continue,
        };
        out.extend_from_slice(&s.as_bytes()[last..i]);
        out.extend_from_slice(rep);
        last = i + 1;
    }
    out.extend_from_slice(&s.as_bytes()[last..]);
}

fn escape_attr(s: &str, out: &mut Vec<u8>) {
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'"' => b"&quot;",
            b'\t' => b"&#x9;",
            b'\n' => b"&#xA;",
            b'\r' => b"&#xD;",
            _ => continue,
        };
        out.extend_from_slice(&s.as_bytes()[last..i]);
        out.extend_from_slice(rep);
        last = i + 1;
    }
    out.extend_from_slice(&s.as_bytes()[last..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c14n_doc(xml: &str, c: &C14n, comments: bool) -> String {
        let doc = roxmltree::Document::parse(xml).unwrap();
        let mut out = Vec::new();
        canonicalize(
            &NodeSet {
                apex: doc.root(),
                exclude: None,
                comments,
            },
            c,
            xml,
            &mut out,
        );
        String::from_utf8(out).unwrap()
    }

    fn c14n_elem(xml: &str, name: &str, c: &C14n) -> String {
        let doc = roxmltree::Document::parse(xml).unwrap();
        let e = doc
            .descendants()
            .find(|n| n.tag_name().name() == name)
            .unwrap();
        let mut out = Vec::new();
        canonicalize(
            &NodeSet {
                apex: e,
                exclude: None,
                comments: false,
            },
            c,
            xml,
            &mut out,
        );
        String::from_utf8(out).unwrap()
    }

    // Examples from the Canonical XML 1.0 recommendation, §3.
    #[test]
    fn spec_3_1_pis_comments_outside_document_element() {
        let xml = "<?xml version=\"1.0\"?>\n\n<?xml-stylesheet   href=\"doc.xsl\"\n   type=\"text/xsl\"   ?>\n\n<doc>Hello, world!<!-- Comment 1 --></doc>\n\n<?pi-without-data     ?>\n\n<!-- Comment 2 -->\n\n<!-- Comment 3 -->";
        let c = C14n::new(C14nMethod::Inclusive10);
        assert_eq!(
            c14n_doc(xml, &c, true),
            "<?xml-stylesheet href=\"doc.xsl\"\n   type=\"text/xsl\"   ?>\n<doc>Hello, world!</doc>\n<?pi-without-data?>"
        );
        let mut c = c;
        c.with_comments = true;
        assert_eq!(
            c14n_doc(xml, &c, true),
            "<?xml-stylesheet href=\"doc.xsl\"\n   type=\"text/xsl\"   ?>\n<doc>Hello, world!<!-- Comment 1 --></doc>\n<?pi-without-data?>\n<!-- Comment 2 -->\n<!-- Comment 3 -->"
        );
    }

    #[test]
    fn spec_3_3_start_end_tags() {
        let xml = r#"<doc>
   <e1   />
   <e2   ></e2>
   <e3   name = "elem3"   id="elem3"   />
   <e4   name="elem4"   id="elem4"   ></e4>
   <e5 a:attr="out" b:attr="sorted" attr2="all" attr="I'm"
      xmlns:b="http://www.ietf.org"
      xmlns:a="http://www.w3.org"
      xmlns="http://example.org"/>
   <e6 xmlns="" xmlns:a="http://www.w3.org">
      <e7 xmlns="http://www.ietf.org">
         <e8 xmlns="" xmlns:a="http://www.w3.org">
            <e9 xmlns="" xmlns:a="http://www.ietf.org"/>
         </e8>
      </e7>
   </e6>
</doc>"#;
        let want = r#"<doc>
   <e1></e1>
   <e2></e2>
   <e3 id="elem3" name="elem3"></e3>
   <e4 id="elem4" name="elem4"></e4>
   <e5 xmlns="http://example.org" xmlns:a="http://www.w3.org" xmlns:b="http://www.ietf.org" attr="I'm" attr2="all" b:attr="sorted" a:attr="out"></e5>
   <e6 xmlns:a="http://www.w3.org">
      <e7 xmlns="http://www.ietf.org">
         <e8 xmlns="">
            <e9 xmlns:a="http://www.ietf.org"></e9>
         </e8>
      </e7>
   </e6>
</doc>"#;
        assert_eq!(
            c14n_doc(xml, &C14n::new(C14nMethod::Inclusive10), false),
            want
        );
    }

    #[test]
    fn spec_3_4_character_modifications() {
        let xml = "<doc>\n   <text>First line&#x0d;&#10;Second line</text>\n   <value>&#x32;</value>\n   <compute><![CDATA[value>\"0\" && value<\"10\" ?\"valid\":\"error\"]]></compute>\n   <compute expr='value>\"0\" &amp;&amp; value&lt;\"10\" ?\"valid\":\"error\"'>valid</compute>\n   <norm attr=' &apos;   &#x20;&#13;&#xa;&#9;   &apos; '/>\n</doc>";
        let want = "<doc>\n   <text>First line&#xD;\nSecond line</text>\n   <value>2</value>\n   <compute>value&gt;\"0\" &amp;&amp; value&lt;\"10\" ?\"valid\":\"error\"</compute>\n   <compute expr=\"value>&quot;0&quot; &amp;&amp; value&lt;&quot;10&quot; ?&quot;valid&quot;:&quot;error&quot;\">valid</compute>\n   <norm attr=\" '    &#xD;&#xA;&#x9;   ' \"></norm>\n</doc>";
        assert_eq!(
            c14n_doc(xml, &C14n::new(C14nMethod::Inclusive10), false),
            want
        );
    }

    #[test]
    fn literal_tab_and_newline_in_attribute_become_spaces() {
        let xml = "<a b=\"x\ty\nz\"/>";
        assert_eq!(
            c14n_doc(xml, &C14n::new(C14nMethod::Inclusive10), false),
            "<a b=\"x y z\"></a>"
        );
    }

    #[test]
    fn subset_inherits_namespaces_and_xml_attributes() {
        let xml =
            r#"<r xmlns="urn:d" xmlns:p="urn:p" xml:lang="vi" xml:id="x"><s><p:t a="1"/></s></r>"#;
        assert_eq!(
            c14n_elem(xml, "s", &C14n::new(C14nMethod::Inclusive10)),
            r#"<s xmlns="urn:d" xmlns:p="urn:p" xml:id="x" xml:lang="vi"><p:t a="1"></p:t></s>"#
        );
        assert_eq!(
            c14n_elem(xml, "s", &C14n::new(C14nMethod::Inclusive11)),
            r#"<s xmlns="urn:d" xmlns:p="urn:p" xml:lang="vi"><p:t a="1"></p:t></s>"#
        );
        assert_eq!(
            c14n_elem(xml, "s", &C14n::new(C14nMethod::Exclusive10)),
            r#"<s xmlns="urn:d"><p:t xmlns:p="urn:p" a="1"></p:t></s>"#
        );
        let mut exc = C14n::new(C14nMethod::Exclusive10);
        exc.inclusive_prefixes = vec!["p".into()];
        assert_eq!(
            c14n_elem(xml, "s", &exc),
            r#"<s xmlns="urn:d" xmlns:p="urn:p"><p:t a="1"></p:t></s>"#
        );
    }

    #[test]
    fn exclusive_default_namespace_undeclared() {
        let xml = r#"<r xmlns="urn:d"><s xmlns=""><t/></s></r>"#;
        assert_eq!(
            c14n_doc(xml, &C14n::new(C14nMethod::Exclusive10), false),
            r#"<r xmlns="urn:d"><s xmlns=""><t></t></s></r>"#
        );
        assert_eq!(
            c14n_elem(xml, "s", &C14n::new(C14nMethod::Exclusive10)),
            r#"<s><t></t></s>"#
        );
    }
}
