//! Signing: builds a ds:Signature and inserts it into the user's document text at the right
//! byte position (the rest of the bytes are kept as they were).
//!
//! Two phases ([`prepare`] then [`PendingXml::finish`]) so a remote signer can take its time:
//! the pending state holds the document with an empty SignatureValue and the canonical
//! SignedInfo to be signed.
//!
//! Profiles: `plain` (enveloped over the whole document or an element by Id, enveloping, or
//! detached over a sibling element), `einvoice` (Decree 123/2020: `HDon/DLHDon` signed, the
//! signature in `HDon/DSCKS/NBan` with a SigningTime object, two references) and `edxml`
//! (QCVN 102:2016: enveloped, exclusive c14n, third child of `edXMLHeader`). XAdES B-B adds
//! SignedProperties with SigningTime and SigningCertificateV2 (ETSI EN 319 132-1 §5.2).
//!
//! B-T adds a signature timestamp to the finished document, and B-LT the certificate and
//! revocation values after it ([`super::xades`]).

use super::c14n::{self, C14n, C14nMethod, NodeSet};
use super::dsig::{self, ds_child, is_ds, ENVELOPED, SIGNED_PROPERTIES_TYPE};
use super::{parse, IdIndex, Limits, XmlError, DSIG_NS, XADES_NS};
use crate::cert::Certificate;
use base64::Engine;
use hsm::{HashAlgorithm, KeyKind, SignatureAlgorithm, Signer};
use roxmltree::Node;
use time::OffsetDateTime;

/// Where the signature goes, for the `plain` profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Placement {
    /// Inside the signed content: the whole document, or the element named by `id`.
    Enveloped,
    /// The signature becomes the document, with the original root inside a ds:Object.
    Enveloping,
    /// Beside the signed element (named by `id`), as the last child of the root.
    Detached,
}

/// Document profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Profile {
    /// Generic XMLDSig.
    Plain,
    /// Vietnamese e-invoice (HDon).
    EInvoice,
    /// edXML package (QCVN 102:2016).
    EdXml,
}

/// How to sign.
#[derive(Clone, Debug)]
pub struct SignOptions {
    /// Profile.
    pub profile: Profile,
    /// Placement (plain profile).
    pub placement: Placement,
    /// Id of the element to sign (enveloped by element, detached; e-invoice: defaults to the
    /// DLHDon's Id).
    pub id: Option<String>,
    /// Canonicalization (default: exclusive, inclusive 1.0 for e-invoices as real ones use).
    pub c14n: Option<C14nMethod>,
    /// RSA-PSS instead of PKCS#1 v1.5 for RSA keys.
    pub pss: bool,
    /// Digest for references and the signature.
    pub hash: HashAlgorithm,
    /// The signing time to claim.
    pub signing_time: OffsetDateTime,
    /// Add XAdES B-B SignedProperties.
    pub xades: bool,
    /// Parsing limits.
    pub limits: Limits,
}

impl SignOptions {
    /// Plain enveloped signature over the whole document at `signing_time`, SHA-256.
    pub fn new(signing_time: OffsetDateTime) -> Self {
        Self {
            profile: Profile::Plain,
            placement: Placement::Enveloped,
            id: None,
            c14n: None,
            pss: false,
            hash: HashAlgorithm::Sha256,
            signing_time,
            xades: false,
            limits: Limits::default(),
        }
    }
}

/// A document waiting for its signature value. Serialisable, so a service can keep it while a
/// remote signer's user approves.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PendingXml {
    /// The output document with an empty SignatureValue.
    pub document: Vec<u8>,
    /// Byte offset in `document` where the base64 signature value goes.
    pub value_offset: usize,
    /// The canonical SignedInfo: what the key must sign.
    pub to_be_signed: Vec<u8>,
    /// The algorithm to sign with.
    pub algorithm: SignatureAlgorithm,
    /// The key kind (ECDSA values are converted to r||s of the curve's size).
    pub key_kind: KeyKind,
    /// The new Signature's Id (to add a signature timestamp later, [`super::xades`]).
    pub signature_id: String,
}

impl PendingXml {
    /// Completes the document with `signature` as the signer returned it (DER for ECDSA).
    pub fn finish(self, signature: &[u8]) -> Result<Vec<u8>, XmlError> {
        let value = match self.key_kind {
            KeyKind::EcP256 | KeyKind::EcP384 | KeyKind::EcP521 => {
                let half = match self.key_kind {
                    KeyKind::EcP256 => 32,
                    KeyKind::EcP384 => 48,
                    _ => 66,
                };
                dsig::ecdsa_der_to_raw(signature, half).ok_or_else(|| {
                    XmlError::BadSignatureValue("the ECDSA signature is not valid DER".into())
                })?
            }
            _ => signature.to_vec(),
        };
        let b64 = base64::engine::general_purpose::STANDARD.encode(value);
        let mut out = self.document;
        out.splice(self.value_offset..self.value_offset, b64.into_bytes());
        Ok(out)
    }
}

/// Signs `xml` with `signer`; `chain` is the signer's certificate first, then its issuers.
pub fn sign(
    xml: &[u8],
    signer: &dyn Signer,
    chain: &[Certificate],
    opts: &SignOptions,
) -> Result<Vec<u8>, XmlError> {
    let pending = prepare(xml, signer.key_kind(), &signer.algorithms(), chain, opts)?;
    let value = signer
        .sign(pending.algorithm, &pending.to_be_signed)
        .map_err(XmlError::Signer)?;
    pending.finish(&value)
}

/// Picks the XML signature algorithm for a key.
pub fn choose_algorithm(
    kind: KeyKind,
    available: &[SignatureAlgorithm],
    hash: HashAlgorithm,
    pss: bool,
) -> Result<SignatureAlgorithm, XmlError> {
    let want = match kind {
        KeyKind::Rsa { .. } if pss => SignatureAlgorithm::RsaPss(hash),
        KeyKind::Rsa { .. } => SignatureAlgorithm::RsaPkcs1(hash),
        KeyKind::EcP256 => SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha256),
        KeyKind::EcP384 => SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha384),
        KeyKind::EcP521 => SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha512),
        other => return Err(XmlError::Algorithm(other.describe())),
    };
    if hash == HashAlgorithm::Sha1 {
        return Err(XmlError::Algorithm("SHA-1 is never used to sign".into()));
    }
    if !available.is_empty() && !available.contains(&want) {
        return Err(XmlError::Algorithm(format!(
            "{} is not offered by the key",
            want.name()
        )));
    }
    Ok(want)
}

struct Ref {
    uri: String,
    kind: Option<&'static str>,
    enveloped: bool,
}

/// Builds the signature template, computes the reference digests and the canonical SignedInfo.
pub fn prepare(
    xml: &[u8],
    key_kind: KeyKind,
    algorithms: &[SignatureAlgorithm],
    chain: &[Certificate],
    opts: &SignOptions,
) -> Result<PendingXml, XmlError> {
    let algorithm = choose_algorithm(key_kind, algorithms, opts.hash, opts.pss)?;
    let signer_cert = chain.first().ok_or_else(|| XmlError::Profile {
        profile: "signing",
        detail: "no signer certificate was given".into(),
    })?;
    let bom = xml.starts_with(b"\xEF\xBB\xBF");
    let (text, doc) = parse(xml, &opts.limits)?;
    let ids = IdIndex::new(&doc);
    let c14n = C14n::new(opts.c14n.unwrap_or(match opts.profile {
        Profile::EInvoice => C14nMethod::Inclusive10,
        _ => C14nMethod::Exclusive10,
    }));

    // A fresh Id that the document does not use.
    let seed = HashAlgorithm::Sha256.digest(
        &[
            xml,
            &opts.signing_time.unix_timestamp_nanos().to_be_bytes(),
            signer_cert.der(),
        ]
        .concat(),
    );
    let mut sig_id = format!("sig-{}", hex::encode(&seed[..8]));
    while ids.contains(&sig_id) {
        sig_id.push('x');
    }

    let root = doc.root_element();
    let mut refs = Vec::new();
    let mut objects = String::new();
    let default_ns_style = opts.profile == Profile::EInvoice;
    let p = if default_ns_style { "" } else { "ds:" };
    // (insertion offset, replacement range for a self-closing host, host qname)
    let insertion: Insertion;

    let find_id = |id: &str| -> Result<Node<'_, '_>, XmlError> {
        match ids.get(id) {
            [one] => doc
                .get_node(*one)
                .ok_or_else(|| XmlError::Id(format!("no element has Id \"{id}\""))),
            [] => Err(XmlError::Id(format!("no element has Id \"{id}\""))),
            many => Err(XmlError::Id(format!(
                "{} elements have Id \"{id}\"; Ids must be unique to sign safely",
                many.len()
            ))),
        }
    };

    match opts.profile {
        Profile::Plain => match opts.placement {
            Placement::Enveloped => {
                let host = match &opts.id {
                    Some(id) => {
                        refs.push(Ref {
                            uri: format!("#{id}"),
                            kind: None,
                            enveloped: true,
                        });
                        find_id(id)?
                    }
                    None => {
                        refs.push(Ref {
                            uri: String::new(),
                            kind: None,
                            enveloped: true,
                        });
                        root
                    }
                };
                insertion = Insertion::last_child(host, text);
            }
            Placement::Detached => {
                let id = opts.id.as_deref().ok_or_else(|| XmlError::Profile {
                    profile: "detached",
                    detail: "a detached signature needs --id naming the element to sign".into(),
                })?;
                let target = find_id(id)?;
                if target.id() == root.id() {
                    return Err(XmlError::Profile {
                        profile: "detached",
                        detail: "the element to sign is the root, which would contain the signature; use an enveloped signature".into(),
                    });
                }
                refs.push(Ref {
                    uri: format!("#{id}"),
                    kind: None,
                    enveloped: false,
                });
                insertion = Insertion::last_child(root, text);
            }
            Placement::Enveloping => {
                let obj_id = format!("object-{sig_id}");
                refs.push(Ref {
                    uri: format!("#{obj_id}"),
                    kind: None,
                    enveloped: false,
                });
                insertion = Insertion::Enveloping;
                objects.push_str(&format!("<{p}Object Id=\"{obj_id}\">"));
                objects.push_str(&text[root.range()]);
                objects.push_str(&format!("</{p}Object>"));
            }
        },
        Profile::EInvoice => {
            if root.tag_name().name() != "HDon" {
                return Err(XmlError::Profile {
                    profile: "einvoice",
                    detail: format!(
                        "the root element is <{}>, not <HDon>",
                        root.tag_name().name()
                    ),
                });
            }
            let dl: Vec<Node<'_, '_>> = root
                .children()
                .filter(|c| c.is_element() && c.tag_name().name() == "DLHDon")
                .collect();
            let [dl] = dl.as_slice() else {
                return Err(XmlError::Profile {
                    profile: "einvoice",
                    detail: format!(
                        "<HDon> has {} <DLHDon> children; it needs exactly one",
                        dl.len()
                    ),
                });
            };
            let id = match &opts.id {
                Some(i) => i.clone(),
                None => dl
                    .attribute("Id")
                    .map(str::to_owned)
                    .ok_or_else(|| XmlError::Profile {
                        profile: "einvoice",
                        detail: "<DLHDon> has no Id attribute to reference".into(),
                    })?,
            };
            if find_id(&id)?.id() != dl.id() {
                return Err(XmlError::Id(format!(
                    "Id \"{id}\" is not the <DLHDon>'s Id"
                )));
            }
            refs.push(Ref {
                uri: format!("#{id}"),
                kind: None,
                enveloped: true,
            });
            let st_id = format!("SigningTime-{sig_id}");
            refs.push(Ref {
                uri: format!("#{st_id}"),
                kind: None,
                enveloped: false,
            });
            let local = opts.signing_time.to_offset(crate::time::VIETNAM);
            objects.push_str(&format!(
                "<Object Id=\"{st_id}\"><SignatureProperties xmlns=\"\"><SignatureProperty Target=\"#{sig_id}\"><SigningTime>{:04}-{:02}-{:02}T{:02}:{:02}:{:02}</SigningTime></SignatureProperty></SignatureProperties></Object>",
                local.year(),
                local.month() as u8,
                local.day(),
                local.hour(),
                local.minute(),
                local.second()
            ));
            let dscks = root
                .children()
                .find(|c| c.is_element() && c.tag_name().name() == "DSCKS");
            insertion = match dscks {
                None => Insertion::Wrapped {
                    at: Box::new(Insertion::last_child(root, text)),
                    before: "<DSCKS><NBan>",
                    after: "</NBan><NMua/></DSCKS>",
                },
                Some(d) => {
                    match d
                        .children()
                        .find(|c| c.is_element() && c.tag_name().name() == "NBan")
                    {
                        Some(nban) => {
                            if nban.children().any(|c| is_ds(c, "Signature")) {
                                return Err(XmlError::Profile {
                                profile: "einvoice",
                                detail: "the seller has already signed (DSCKS/NBan holds a Signature)".into(),
                            });
                            }
                            Insertion::last_child(nban, text)
                        }
                        None => Insertion::Wrapped {
                            at: Box::new(Insertion::first_child(d, text)),
                            before: "<NBan>",
                            after: "</NBan>",
                        },
                    }
                }
            };
        }
        Profile::EdXml => {
            let header = doc
                .descendants()
                .find(|n| n.is_element() && n.tag_name().name() == "edXMLHeader")
                .ok_or_else(|| XmlError::Profile {
                    profile: "edxml",
                    detail: "there is no <edXMLHeader>".into(),
                })?;
            if header.children().any(|c| is_ds(c, "Signature")) {
                return Err(XmlError::Profile {
                    profile: "edxml",
                    detail: "<edXMLHeader> already holds a signature".into(),
                });
            }
            refs.push(Ref {
                uri: String::new(),
                kind: None,
                enveloped: true,
            });
            let kids: Vec<Node<'_, '_>> = header.children().filter(|c| c.is_element()).collect();
            insertion = match kids.get(1).or(kids.last()) {
                Some(k) => Insertion::At(k.range().end),
                None => Insertion::last_child(header, text),
            };
        }
    }

    if opts.xades {
        let sp_id = format!("{sig_id}-signedprops");
        refs.push(Ref {
            uri: format!("#{sp_id}"),
            kind: Some(SIGNED_PROPERTIES_TYPE),
            enveloped: false,
        });
        let cert_digest =
            base64::engine::general_purpose::STANDARD.encode(opts.hash.digest(signer_cert.der()));
        objects.push_str(&format!(
            "<{p}Object><xades:QualifyingProperties xmlns:xades=\"{XADES_NS}\" Target=\"#{sig_id}\"><xades:SignedProperties Id=\"{sp_id}\"><xades:SignedSignatureProperties><xades:SigningTime>{}</xades:SigningTime><xades:SigningCertificateV2><xades:Cert><xades:CertDigest><{p}DigestMethod Algorithm=\"{}\"/><{p}DigestValue>{cert_digest}</{p}DigestValue></xades:CertDigest></xades:Cert></xades:SigningCertificateV2></xades:SignedSignatureProperties></xades:SignedProperties></xades:QualifyingProperties></{p}Object>",
            crate::time::vietnam(opts.signing_time),
            dsig::digest_method_uri(opts.hash),
        ));
    }

    let parts = Parts {
        p,
        sig_id: &sig_id,
        c14n: &c14n,
        algorithm,
        hash: opts.hash,
        refs: &refs,
        chain,
        objects: &objects,
    };

    // Pass 1: digests over the template.
    let template = parts.render(&vec![String::new(); refs.len()]);
    let (doc1, sig_at) = insertion.apply(text, &template);
    let (t1, d1) = parse(doc1.as_bytes(), &opts.limits)?;
    let ids1 = IdIndex::new(&d1);
    let sig1 = signature_at(&d1, sig_at)?;
    let si1 = ds_child(sig1, "SignedInfo").ok_or(XmlError::NoSignature)?;
    let mut digests = Vec::new();
    for rn in si1.children().filter(|c| is_ds(*c, "Reference")) {
        let d = dsig::dereference(&d1, t1, &ids1, sig1, rn).map_err(XmlError::Id)?;
        digests.push(base64::engine::general_purpose::STANDARD.encode(opts.hash.digest(&d.octets)));
    }

    // Pass 2: SignedInfo with the digests, canonicalized in place.
    let filled = parts.render(&digests);
    let (doc2, sig_at2) = insertion.apply(text, &filled);
    let (t2, d2) = parse(doc2.as_bytes(), &opts.limits)?;
    let sig2 = signature_at(&d2, sig_at2)?;
    let si2 = ds_child(sig2, "SignedInfo").ok_or(XmlError::NoSignature)?;
    let mut tbs = Vec::new();
    c14n::canonicalize(
        &NodeSet {
            apex: si2,
            exclude: None,
            comments: false,
        },
        &c14n,
        t2,
        &mut tbs,
    );
    let sv = ds_child(sig2, "SignatureValue").ok_or(XmlError::NoSignature)?;
    let close = format!("</{p}SignatureValue>");
    let value_offset = sv.range().end - close.len();

    let mut document = Vec::with_capacity(doc2.len() + 3 + 512);
    if bom {
        document.extend_from_slice(b"\xEF\xBB\xBF");
    }
    let value_offset = value_offset + document.len();
    document.extend_from_slice(doc2.as_bytes());
    Ok(PendingXml {
        document,
        value_offset,
        to_be_signed: tbs,
        algorithm,
        key_kind,
        signature_id: sig_id,
    })
}

fn signature_at<'a, 'i>(
    doc: &'a roxmltree::Document<'i>,
    at: usize,
) -> Result<Node<'a, 'i>, XmlError> {
    doc.descendants()
        .find(|n| {
            n.is_element() && n.range().start == at && n.tag_name().namespace() == Some(DSIG_NS)
        })
        .ok_or(XmlError::NoSignature)
}

enum Insertion {
    /// Insert at this byte offset.
    At(usize),
    /// The host is self-closing: replace `range` (the `/>` or ` />`) with `>` + sig + `</qname>`.
    SelfClosing {
        range: std::ops::Range<usize>,
        qname: String,
    },
    /// Wrap the signature in `before`/`after` at another insertion.
    Wrapped {
        at: Box<Insertion>,
        before: &'static str,
        after: &'static str,
    },
    /// The signature is the new document.
    Enveloping,
}

impl Insertion {
    fn last_child(host: Node<'_, '_>, text: &str) -> Self {
        let r = host.range();
        let src = &text[r.clone()];
        if let Some(open) = src.strip_suffix("/>") {
            let qname = c14n::element_qname(host, text).to_owned();
            let trimmed = open.trim_end_matches([' ', '\t', '\r', '\n']);
            Self::SelfClosing {
                range: r.start + trimmed.len()..r.end,
                qname,
            }
        } else {
            let end = src.rfind("</").map(|i| r.start + i).unwrap_or(r.end);
            Self::At(end)
        }
    }

    fn first_child(host: Node<'_, '_>, text: &str) -> Self {
        let r = host.range();
        let src = &text[r.clone()];
        if src.ends_with("/>") {
            return Self::last_child(host, text);
        }
        // After the start tag's '>' (attribute values cannot hold a raw '>'? they can: find
        // the first '>' outside quotes).
        let mut quote = None;
        for (i, c) in src.char_indices() {
            match (quote, c) {
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, '>') => return Self::At(r.start + i + 1),
                _ => {}
            }
        }
        Self::At(r.end)
    }

    /// Returns the new text and the byte offset where the Signature element starts.
    fn apply(&self, text: &str, sig: &str) -> (String, usize) {
        match self {
            Self::At(pos) => {
                let mut s = String::with_capacity(text.len() + sig.len());
                s.push_str(&text[..*pos]);
                s.push_str(sig);
                s.push_str(&text[*pos..]);
                (s, *pos)
            }
            Self::SelfClosing { range, qname } => {
                let mut s = String::with_capacity(text.len() + sig.len() + qname.len() + 3);
                s.push_str(&text[..range.start]);
                s.push('>');
                let at = s.len();
                s.push_str(sig);
                s.push_str("</");
                s.push_str(qname);
                s.push('>');
                s.push_str(&text[range.end..]);
                (s, at)
            }
            Self::Wrapped { at, before, after } => {
                let wrapped = format!("{before}{sig}{after}");
                let (s, pos) = at.apply(text, &wrapped);
                (s, pos + before.len())
            }
            Self::Enveloping => {
                let head = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
                (format!("{head}{sig}"), head.len())
            }
        }
    }
}

struct Parts<'a> {
    p: &'a str,
    sig_id: &'a str,
    c14n: &'a C14n,
    algorithm: SignatureAlgorithm,
    hash: HashAlgorithm,
    refs: &'a [Ref],
    chain: &'a [Certificate],
    objects: &'a str,
}

impl Parts<'_> {
    fn render(&self, digests: &[String]) -> String {
        let p = self.p;
        let mut s = String::with_capacity(4096);
        if p.is_empty() {
            s.push_str(&format!(
                "<Signature xmlns=\"{DSIG_NS}\" Id=\"{}\">",
                self.sig_id
            ));
        } else {
            s.push_str(&format!(
                "<{p}Signature xmlns:{}=\"{DSIG_NS}\" Id=\"{}\">",
                p.trim_end_matches(':'),
                self.sig_id
            ));
        }
        let c14n_uri = self.c14n.uri();
        s.push_str(&format!(
            "<{p}SignedInfo><{p}CanonicalizationMethod Algorithm=\"{c14n_uri}\"/><{p}SignatureMethod Algorithm=\"{}\"/>",
            dsig::signature_method_uri(self.algorithm).unwrap_or_default()
        ));
        for (r, d) in self.refs.iter().zip(digests) {
            s.push_str(&format!("<{p}Reference URI=\"{}\"", r.uri));
            if let Some(k) = r.kind {
                s.push_str(&format!(" Type=\"{k}\""));
            }
            s.push_str(&format!("><{p}Transforms>"));
            if r.enveloped {
                s.push_str(&format!("<{p}Transform Algorithm=\"{ENVELOPED}\"/>"));
            }
            s.push_str(&format!(
                "<{p}Transform Algorithm=\"{c14n_uri}\"/></{p}Transforms><{p}DigestMethod Algorithm=\"{}\"/><{p}DigestValue>{d}</{p}DigestValue></{p}Reference>",
                dsig::digest_method_uri(self.hash)
            ));
        }
        s.push_str(&format!(
            "</{p}SignedInfo><{p}SignatureValue></{p}SignatureValue>"
        ));
        s.push_str(&format!("<{p}KeyInfo><{p}X509Data>"));
        for c in self.chain {
            s.push_str(&format!(
                "<{p}X509Certificate>{}</{p}X509Certificate>",
                base64::engine::general_purpose::STANDARD.encode(c.der())
            ));
        }
        s.push_str(&format!("</{p}X509Data></{p}KeyInfo>"));
        s.push_str(self.objects);
        s.push_str(&format!("</{p}Signature>"));
        s
    }
}
