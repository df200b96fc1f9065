//! Verification of XML signatures, returning data (ETSI EN 319 102-1 indications).
//!
//! For each ds:Signature: which references, what each covers (element, Id, path), the digest
//! of each, the SignatureValue with the certificate from KeyInfo that verifies it (chosen by
//! trying the keys, never by position), algorithms and weak flags, XAdES SigningTime and
//! SigningCertificateV2, the e-invoice SigningTime, and signature-wrapping checks. Then,
//! separately, the signer's certificate path ([`crate::path::validate`]).
//!
//! The cryptographic verdict ([`CryptoCheck`]) and the trust verdict ([`TrustCheck`]) are kept
//! apart: a real document whose chain lacks an intermediate is INDETERMINATE, not a forgery.

use super::c14n::{self, C14n, C14nMethod, NodeSet};
use super::dsig::{self, ds_child, is_ds, text_of, Coverage};
use super::{parse, IdIndex, Limits, XmlError, DSIG_NS, XADES_NS};
use crate::cert::Certificate;
use crate::crypto::{self, AlgorithmPolicy, PublicKey};
use crate::path::{self, Purpose, ValidationOptions};
use crate::trust::CertPool;
use hsm::{HashAlgorithm, KeyKind, SignatureAlgorithm};
use roxmltree::{Document, Node};
use time::OffsetDateTime;

/// Inputs of a verification besides the document.
pub struct VerifyOptions<'a> {
    /// Validation time (also the time for certificate paths when no signing time is claimed).
    pub time: OffsetDateTime,
    /// Trust anchors.
    pub anchors: &'a CertPool,
    /// Extra intermediate certificates (those in KeyInfo are always used).
    pub intermediates: &'a CertPool,
    /// Algorithm policy for signatures and chains.
    pub policy: AlgorithmPolicy,
    /// Parsing limits.
    pub limits: Limits,
    /// Where to fetch the signer's revocation status (OCSP, then CRL); `None`: not checked
    /// (offline), which the report says.
    pub fetcher: Option<&'a dyn crate::fetch::Fetcher>,
}

impl std::fmt::Debug for VerifyOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyOptions")
            .field("time", &self.time)
            .field("anchors", &self.anchors.len())
            .field("intermediates", &self.intermediates.len())
            .field("policy", &self.policy)
            .field("online", &self.fetcher.is_some())
            .finish()
    }
}

impl<'a> VerifyOptions<'a> {
    /// Options at `time` with these anchors, no extra intermediates, the default policy.
    pub fn new(time: OffsetDateTime, anchors: &'a CertPool, intermediates: &'a CertPool) -> Self {
        Self {
            time,
            anchors,
            intermediates,
            policy: AlgorithmPolicy::default(),
            limits: Limits::default(),
            fetcher: None,
        }
    }
}

pub use crate::report::Indication;

/// The indication as written in reports (`TOTAL-PASSED`, ...).
pub fn indication_name(i: Indication) -> &'static str {
    match i {
        Indication::TotalPassed => "TOTAL-PASSED",
        Indication::TotalFailed => "TOTAL-FAILED",
        Indication::Indeterminate => "INDETERMINATE",
    }
}

/// One reference.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ReferenceReport {
    /// The URI as written.
    pub uri: String,
    /// The Type attribute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// What it covers (`None` when it could not be resolved).
    pub covers: Option<Coverage>,
    /// Transforms applied.
    pub transforms: Vec<String>,
    /// Digest algorithm.
    pub digest: Option<String>,
    /// Whether the digest matches.
    pub digest_ok: bool,
    /// Whether it matched only under .NET `SignedXml` rules.
    pub dotnet_compat: bool,
    /// Why it could not be processed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The octets that were digested: what this reference signs. Use these, not a fresh
    /// lookup in the document, to read signed content.
    #[serde(skip)]
    pub signed_octets: Vec<u8>,
}

/// The cryptographic verdict of one signature.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum CryptoCheck {
    /// Every digest and the signature value verify.
    Passed,
    /// A digest does not match.
    HashFailure,
    /// The signature value does not verify with any certificate in KeyInfo.
    SigCryptoFailure,
    /// The signature is malformed or unsafe (wrapping, unknown transform, duplicate Id...).
    FormatFailure,
    /// No certificate to verify with, or the signing certificate reference does not match.
    NoSigningCertificate,
}

/// Trust in the signer's certificate.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(tag = "result", rename_all = "kebab-case")]
pub enum TrustCheck {
    /// Not checked (the cryptographic check failed first).
    NotChecked,
    /// A valid path to an anchor.
    Valid {
        /// Subjects from the signer to the anchor.
        chain: Vec<String>,
        /// The certificates, signer first.
        #[serde(skip)]
        certs: Vec<Certificate>,
        /// Warnings.
        warnings: Vec<String>,
    },
    /// No valid path.
    Failed {
        /// ETSI sub-indication.
        sub_indication: String,
        /// Definitive (the certificate is invalid) rather than indeterminate.
        definitive: bool,
        /// Why.
        reason: String,
    },
}

/// Where a signing time came from.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SigningTime {
    /// The time (a value without zone is taken as Vietnam time).
    #[serde(serialize_with = "ser_time")]
    pub time: OffsetDateTime,
    /// `xades` or `signature-property` (e-invoice style).
    pub source: &'static str,
    /// The text as written.
    pub raw: String,
}

/// One signature.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SignatureReport {
    /// The Signature's Id attribute.
    pub id: Option<String>,
    /// Where the Signature element is.
    pub path: String,
    /// The SignatureMethod URI.
    pub signature_method: String,
    /// Its algorithm, when known.
    #[serde(skip)]
    pub algorithm: Option<SignatureAlgorithm>,
    /// The algorithm name (`sha256WithRSAEncryption`).
    pub algorithm_name: Option<String>,
    /// SignedInfo's canonicalization.
    pub canonicalization: String,
    /// The references.
    pub references: Vec<ReferenceReport>,
    /// Whether the SignatureValue verifies.
    pub signature_value_ok: bool,
    /// The certificate whose key verifies the signature.
    #[serde(skip)]
    pub signer: Option<Certificate>,
    /// Certificates found in KeyInfo.
    #[serde(skip)]
    pub certificates: Vec<Certificate>,
    /// Claimed signing time.
    pub signing_time: Option<SigningTime>,
    /// The XAdES signature timestamp (B-T), when present.
    pub timestamp: Option<crate::report::Timestamp>,
    /// The time a valid signature timestamp proves (used for the certificate path).
    #[serde(skip)]
    pub proven_time: Option<OffsetDateTime>,
    /// Revocation status of the signer (`good`/`revoked`/`unknown` and the source); `None`:
    /// not checked.
    #[serde(skip)]
    pub revocation: Option<(&'static str, Option<&'static str>)>,
    /// Whether the revocation status came from the signature's own RevocationValues.
    #[serde(skip)]
    pub revocation_embedded: bool,
    /// XAdES B-LT certificate and revocation values carried by the signature.
    #[serde(skip)]
    pub long_term: super::xades::LongTermValues,
    /// Whether a valid signature timestamp proves the signature existed at its time (the
    /// certificate path is then validated at that time).
    pub signing_time_proven: bool,
    /// `XAdES-B-B` or `XMLDSig`.
    pub level: &'static str,
    /// XAdES SigningCertificate(V2) matches the signer (`None` when absent).
    pub signing_certificate_ok: Option<bool>,
    /// Cryptographic verdict.
    pub crypto: CryptoCheck,
    /// Trust verdict.
    pub trust: TrustCheck,
    /// Overall indication.
    pub indication: Indication,
    /// Sub-indication.
    pub sub_indication: Option<String>,
    /// Weak algorithms.
    pub weak: Vec<String>,
    /// Warnings (weak algorithms, .NET compatibility, unsigned copies of signed elements...).
    pub warnings: Vec<String>,
    /// Errors that decided the verdict.
    pub errors: Vec<String>,
}

impl SignatureReport {
    /// What the signature covers, one line per reference.
    pub fn coverage(&self) -> Vec<String> {
        self.references
            .iter()
            .map(|r| match &r.covers {
                Some(c) => c.to_string(),
                None => format!("nothing (reference \"{}\" could not be resolved)", r.uri),
            })
            .collect()
    }
}

/// The result for a document.
#[derive(Clone, Debug, serde::Serialize)]
pub struct XmlReport {
    /// SHA-256 of the input, hex.
    pub sha256: String,
    /// Validation time.
    #[serde(serialize_with = "ser_time")]
    pub validation_time: OffsetDateTime,
    /// Worst indication over the signatures.
    pub indication: Indication,
    /// The signatures, in document order.
    pub signatures: Vec<SignatureReport>,
}

/// Verifies every ds:Signature in `xml`. `Err` only when the document cannot be evaluated
/// (malformed, DOCTYPE, over limits, no signature).
pub fn verify(xml: &[u8], opts: &VerifyOptions<'_>) -> Result<XmlReport, XmlError> {
    let (text, doc) = parse(xml, &opts.limits)?;
    let ids = IdIndex::new(&doc);
    let sigs: Vec<Node<'_, '_>> = doc
        .descendants()
        .filter(|n| is_ds(*n, "Signature"))
        .collect();
    if sigs.is_empty() {
        return Err(XmlError::NoSignature);
    }
    let signatures: Vec<SignatureReport> = sigs
        .iter()
        .map(|s| verify_one(&doc, text, &ids, *s, opts))
        .collect();
    let indication = if signatures
        .iter()
        .any(|s| s.indication == Indication::TotalFailed)
    {
        Indication::TotalFailed
    } else if signatures
        .iter()
        .any(|s| s.indication == Indication::Indeterminate)
    {
        Indication::Indeterminate
    } else {
        Indication::TotalPassed
    };
    Ok(XmlReport {
        sha256: hex::encode(HashAlgorithm::Sha256.digest(xml)),
        validation_time: opts.time,
        indication,
        signatures,
    })
}

fn verify_one(
    doc: &Document<'_>,
    text: &str,
    ids: &IdIndex<'_>,
    sig: Node<'_, '_>,
    opts: &VerifyOptions<'_>,
) -> SignatureReport {
    let mut r = SignatureReport {
        id: sig.attribute("Id").map(str::to_owned),
        path: super::path_of(sig),
        signature_method: String::new(),
        algorithm: None,
        algorithm_name: None,
        canonicalization: String::new(),
        references: Vec::new(),
        signature_value_ok: false,
        signer: None,
        certificates: Vec::new(),
        signing_time: None,
        timestamp: None,
        proven_time: None,
        revocation: None,
        revocation_embedded: false,
        long_term: Default::default(),
        signing_time_proven: false,
        level: "XMLDSig",
        signing_certificate_ok: None,
        crypto: CryptoCheck::Passed,
        trust: TrustCheck::NotChecked,
        indication: Indication::TotalFailed,
        sub_indication: None,
        weak: Vec::new(),
        warnings: Vec::new(),
        errors: Vec::new(),
    };
    check(doc, text, ids, sig, opts, &mut r);
    finish(&mut r, opts);
    r
}

fn fail(r: &mut SignatureReport, c: CryptoCheck, msg: impl Into<String>) {
    // Keep the first (most basic) failure as the verdict.
    if r.crypto == CryptoCheck::Passed {
        r.crypto = c;
    }
    r.errors.push(msg.into());
}

fn check(
    doc: &Document<'_>,
    text: &str,
    ids: &IdIndex<'_>,
    sig: Node<'_, '_>,
    opts: &VerifyOptions<'_>,
    r: &mut SignatureReport,
) {
    let Some(si) = ds_child(sig, "SignedInfo") else {
        return fail(
            r,
            CryptoCheck::FormatFailure,
            "the signature has no SignedInfo",
        );
    };
    let cm = ds_child(si, "CanonicalizationMethod");
    let Some(mut canon) = cm
        .and_then(|c| c.attribute("Algorithm"))
        .and_then(C14n::from_uri)
    else {
        return fail(
            r,
            CryptoCheck::FormatFailure,
            "SignedInfo's CanonicalizationMethod is missing or not a supported canonicalization",
        );
    };
    if canon.method == C14nMethod::Exclusive10 {
        if let Some(cm) = cm {
            canon.inclusive_prefixes = dsig::inclusive_prefixes(cm);
        }
    }
    r.canonicalization = canon.name();
    let sm = ds_child(si, "SignatureMethod")
        .and_then(|n| n.attribute("Algorithm"))
        .unwrap_or("");
    r.signature_method = sm.to_owned();
    let alg = dsig::signature_method(sm);
    r.algorithm = alg;
    r.algorithm_name = alg.map(|a| a.name());

    // References.
    let refs: Vec<Node<'_, '_>> = si.children().filter(|c| is_ds(*c, "Reference")).collect();
    if refs.is_empty() {
        fail(r, CryptoCheck::FormatFailure, "SignedInfo has no Reference");
    }
    let mut covered_apexes = Vec::new();
    for rn in refs {
        let mut rep = ReferenceReport {
            uri: rn.attribute("URI").unwrap_or("").to_owned(),
            kind: rn.attribute("Type").map(str::to_owned),
            covers: None,
            transforms: Vec::new(),
            digest: None,
            digest_ok: false,
            dotnet_compat: false,
            error: None,
            signed_octets: Vec::new(),
        };
        let dm = ds_child(rn, "DigestMethod").and_then(|n| n.attribute("Algorithm"));
        let hash = dm.and_then(dsig::digest_method);
        rep.digest = hash.map(|h| h.name().to_owned());
        let expected = ds_child(rn, "DigestValue").and_then(|n| dsig::base64_lenient(&text_of(n)));
        match (hash, expected) {
            (None, _) => {
                let m = format!(
                    "reference \"{}\": digest method {} is not supported",
                    rep.uri,
                    dm.unwrap_or("(none)")
                );
                rep.error = Some(m.clone());
                fail(r, CryptoCheck::FormatFailure, m);
            }
            (_, None) => {
                let m = format!(
                    "reference \"{}\": DigestValue is missing or not base64",
                    rep.uri
                );
                rep.error = Some(m.clone());
                fail(r, CryptoCheck::FormatFailure, m);
            }
            (Some(h), Some(want)) => {
                if h == HashAlgorithm::Sha1 {
                    let w = format!("reference \"{}\" uses SHA-1, which is weak", rep.uri);
                    if !r.weak.contains(&w) {
                        r.weak.push(w);
                    }
                }
                match dsig::dereference(doc, text, ids, sig, rn) {
                    Err(e) => {
                        rep.error = Some(e.clone());
                        fail(
                            r,
                            CryptoCheck::FormatFailure,
                            format!("reference \"{}\": {e}", rep.uri),
                        );
                    }
                    Ok(d) => {
                        rep.covers = Some(d.coverage.clone());
                        rep.transforms = d.transforms.clone();
                        covered_apexes.push((d.apex, d.coverage.clone()));
                        if h.digest(&d.octets) == want {
                            rep.digest_ok = true;
                            rep.signed_octets = d.octets;
                        } else if let Some(dn) = d.dotnet_octets.filter(|o| h.digest(o) == want) {
                            rep.digest_ok = true;
                            rep.dotnet_compat = true;
                            rep.signed_octets = dn;
                            r.warnings.push(format!(
                                "reference \"{}\" applies the enveloped-signature transform to an element inside the signature itself; its digest matches only under .NET SignedXml rules (W3C verifiers such as xmlsec1 reject it)",
                                rep.uri
                            ));
                        } else {
                            let m = format!(
                                "the digest of reference \"{}\" ({}) does not match: the signed content was changed",
                                rep.uri,
                                rep.covers.as_ref().map(|c| c.to_string()).unwrap_or_default()
                            );
                            fail(r, CryptoCheck::HashFailure, m);
                        }
                    }
                }
            }
        }
        r.references.push(rep);
    }

    // Certificates in KeyInfo.
    if let Some(ki) = ds_child(sig, "KeyInfo") {
        for c in ki.descendants().filter(|n| is_ds(*n, "X509Certificate")) {
            match dsig::base64_lenient(&text_of(c)).map(Certificate::from_vec) {
                Some(Ok(cert)) => r.certificates.push(cert),
                _ => r
                    .warnings
                    .push("KeyInfo holds an X509Certificate that cannot be read".to_owned()),
            }
        }
    }

    // SignatureValue.
    let Some(alg) = alg else {
        return fail(
            r,
            CryptoCheck::FormatFailure,
            format!("signature method {sm} is not supported"),
        );
    };
    let Some(value) =
        ds_child(sig, "SignatureValue").and_then(|n| dsig::base64_lenient(&text_of(n)))
    else {
        return fail(
            r,
            CryptoCheck::FormatFailure,
            "SignatureValue is missing or not base64",
        );
    };
    let mut si_octets = Vec::new();
    c14n::canonicalize(
        &NodeSet {
            apex: si,
            exclude: None,
            comments: true,
        },
        &canon,
        text,
        &mut si_octets,
    );
    if r.certificates.is_empty() {
        r.crypto = if r.crypto == CryptoCheck::Passed {
            CryptoCheck::NoSigningCertificate
        } else {
            r.crypto.clone()
        };
        r.errors
            .push("KeyInfo carries no X509Certificate to verify the signature with".to_owned());
        return;
    }
    let mut last_err = None;
    for cert in &r.certificates {
        let Ok(key) = PublicKey::from_spki(cert.spki()) else {
            continue;
        };
        if !alg.fits(key.kind) {
            continue;
        }
        let sig_bytes = match (alg, key.kind) {
            (SignatureAlgorithm::Ecdsa(_), KeyKind::EcP256 | KeyKind::EcP384 | KeyKind::EcP521) => {
                match dsig::ecdsa_raw_to_der(&value) {
                    Some(d) => d,
                    None => continue,
                }
            }
            _ => value.clone(),
        };
        match crypto::verify_with(alg, &key, &si_octets, &sig_bytes, &opts.policy) {
            Ok(notes) => {
                r.signature_value_ok = true;
                r.signer = Some(cert.clone());
                r.weak.extend(notes.weak);
                break;
            }
            Err(e) => last_err = Some(e),
        }
    }
    if !r.signature_value_ok {
        let why = match last_err {
            Some(crypto::VerifyError::Forbidden(a)) => {
                format!("{a} is refused by the algorithm policy")
            }
            Some(e) => e.to_string(),
            None => format!("no certificate in KeyInfo has a key for {}", alg.name()),
        };
        fail(
            r,
            CryptoCheck::SigCryptoFailure,
            format!("the SignatureValue does not verify: {why}"),
        );
    }

    wrapping_checks(doc, sig, &covered_apexes, r);
    properties(sig, &covered_apexes, r);
    if r.level == "XAdES-B-B" {
        signature_timestamp(sig, text, opts, r);
    }
    r.long_term = super::xades::find_long_term_values(sig);
    if r.level == "XAdES-B-T" && !r.long_term.is_empty() {
        r.level = "XAdES-B-LT";
    }
}

/// XAdES SignatureTimeStamp (B-T): a valid token over the canonical SignatureValue, from a TSA
/// whose certificate chains to an anchor, proves the signature existed at its genTime.
fn signature_timestamp(
    sig: Node<'_, '_>,
    text: &str,
    opts: &VerifyOptions<'_>,
    r: &mut SignatureReport,
) {
    use crate::tsp::{Imprint, TimeStampToken};
    let found = match super::xades::find_signature_timestamp(sig, text) {
        None => return,
        Some(Err(e)) => {
            r.warnings
                .push(format!("the signature timestamp is ignored: {e}"));
            return;
        }
        Some(Ok(f)) => f,
    };
    let token = match TimeStampToken::from_der(&found.token) {
        Ok(t) => t,
        Err(e) => {
            r.warnings.push(format!(
                "the signature timestamp is ignored: it cannot be read ({e})"
            ));
            return;
        }
    };
    let check = match token.validate(
        Imprint::Data(&found.stamped),
        None,
        &r.certificates,
        &opts.policy,
    ) {
        Ok(c) => c,
        Err(e) => {
            r.warnings.push(format!(
                "the signature timestamp is ignored: it cannot be checked ({e})"
            ));
            return;
        }
    };
    let mut chain_ok = false;
    if check.is_valid() {
        if let Some(tsa) = &check.tsa_cert {
            let mut pool = CertPool::from_certs(check.other_certs.iter().cloned());
            for c in opts.intermediates.iter().chain(r.certificates.iter()) {
                pool.add(c.clone());
            }
            let mut vo = ValidationOptions::new(check.gen_time, Purpose::TimeStamping);
            vo.algorithms = opts.policy.clone();
            match path::validate(tsa, &pool, opts.anchors, &vo) {
                Ok(_) => chain_ok = true,
                Err(f) => r.warnings.push(format!(
                    "the signature timestamp's TSA is not trusted: {}",
                    f.error
                )),
            }
        }
    } else {
        let (_, sub) = check.indication();
        r.warnings.push(format!(
            "the signature timestamp is invalid ({}) and is ignored",
            sub.unwrap_or("FORMAT_FAILURE")
        ));
    }
    r.timestamp = Some(token.report_entry(&check, chain_ok));
    if chain_ok {
        r.level = "XAdES-B-T";
        r.signing_time_proven = true;
        if let Some(st) = &r.signing_time {
            if st.time > check.gen_time + time::Duration::minutes(5) {
                r.warnings.push(format!(
                    "the claimed signing time {} is after the timestamp {}",
                    crate::time::vietnam(st.time),
                    crate::time::vietnam(check.gen_time)
                ));
            }
        }
        r.proven_time = Some(check.gen_time);
    }
}

/// Signature-wrapping defences beyond unique Ids: a signed element moved under a Signature
/// while an unsigned element of the same name stands elsewhere, and extra unsigned copies of
/// signed elements (refused for e-invoices, where the reader takes `/HDon/DLHDon`).
fn wrapping_checks(
    doc: &Document<'_>,
    sig: Node<'_, '_>,
    covered: &[(Node<'_, '_>, Coverage)],
    r: &mut SignatureReport,
) {
    let is_covered = |n: Node<'_, '_>| {
        covered.iter().any(|(apex, cov)| match cov {
            Coverage::WholeDocument { .. } => !n.ancestors().any(|a| a.id() == sig.id()),
            Coverage::Element { .. } => n.ancestors().any(|a| a.id() == apex.id()),
        })
    };
    let einvoice = doc.root_element().tag_name().name() == "HDon";
    for (apex, cov) in covered {
        let Coverage::Element { name, path, .. } = cov else {
            continue;
        };
        if apex.tag_name().namespace() == Some(DSIG_NS)
            || apex.tag_name().namespace() == Some(XADES_NS)
            || name == "SignatureProperties"
        {
            continue;
        }
        let twins: Vec<String> = doc
            .descendants()
            .filter(|n| n.is_element() && same_name(*n, *apex) && n.id() != apex.id())
            .filter(|n| !is_covered(*n))
            .filter(|n| !n.ancestors().any(|a| is_ds(a, "Signature")))
            .map(super::path_of)
            .collect();
        if twins.is_empty() {
            continue;
        }
        let inside_sig = apex.ancestors().any(|a| is_ds(a, "Signature"));
        let msg = format!(
            "the signed <{name}> is at {path}, but an unsigned <{name}> also stands at {}: a reader could take the unsigned one (signature wrapping)",
            twins.join(", ")
        );
        if inside_sig || (einvoice && name == "DLHDon") {
            fail(r, CryptoCheck::FormatFailure, msg);
        } else {
            r.warnings.push(msg);
        }
    }
    if einvoice {
        // The invoice data a reader takes is /HDon/DLHDon; a seller signature in DSCKS must
        // cover it.
        let in_dscks = sig
            .ancestors()
            .any(|a| a.is_element() && a.tag_name().name() == "DSCKS");
        let dlhdon = doc
            .root_element()
            .children()
            .find(|c| c.is_element() && c.tag_name().name() == "DLHDon");
        if in_dscks {
            if let Some(d) = dlhdon {
                if !covered.iter().any(|(a, _)| a.id() == d.id()) {
                    fail(
                        r,
                        CryptoCheck::FormatFailure,
                        "the signature does not cover the invoice data /HDon/DLHDon",
                    );
                }
            }
        }
    }
}

/// Same local name and namespace (no namespace and `xmlns=""` are the same).
fn same_name(a: Node<'_, '_>, b: Node<'_, '_>) -> bool {
    a.tag_name().name() == b.tag_name().name()
        && a.tag_name().namespace().unwrap_or("") == b.tag_name().namespace().unwrap_or("")
}

/// XAdES SignedProperties and the e-invoice SigningTime property.
fn properties(sig: Node<'_, '_>, covered: &[(Node<'_, '_>, Coverage)], r: &mut SignatureReport) {
    let is_covered = |n: Node<'_, '_>| {
        covered
            .iter()
            .any(|(apex, _)| n.ancestors().any(|a| a.id() == apex.id()))
    };
    let objects: Vec<Node<'_, '_>> = sig.children().filter(|c| is_ds(*c, "Object")).collect();
    let signed_props = objects.iter().flat_map(|o| o.descendants()).find(|n| {
        n.is_element()
            && n.tag_name().name() == "SignedProperties"
            && n.tag_name().namespace() == Some(XADES_NS)
    });
    if let Some(sp) = signed_props {
        if !is_covered(sp) {
            fail(
                r,
                CryptoCheck::FormatFailure,
                "the XAdES SignedProperties are not covered by any reference",
            );
            return;
        }
        r.level = "XAdES-B-B";
        let find = |name: &str| {
            sp.descendants().find(|n| {
                n.is_element()
                    && n.tag_name().name() == name
                    && n.tag_name().namespace() == Some(XADES_NS)
            })
        };
        if let Some(st) = find("SigningTime") {
            let raw = text_of(st).trim().to_owned();
            match crate::time::parse_user_time(&raw) {
                Some(t) => {
                    r.signing_time = Some(SigningTime {
                        time: t,
                        source: "xades",
                        raw,
                    })
                }
                None => r
                    .warnings
                    .push(format!("XAdES SigningTime \"{raw}\" cannot be read")),
            }
        }
        let sc = find("SigningCertificateV2").or_else(|| find("SigningCertificate"));
        if let (Some(sc), Some(signer)) = (sc, r.signer.clone()) {
            let mut any = false;
            let mut ok = false;
            for cert in sc
                .children()
                .filter(|c| c.is_element() && c.tag_name().name() == "Cert")
            {
                let Some(cd) = cert
                    .children()
                    .find(|c| c.is_element() && c.tag_name().name() == "CertDigest")
                else {
                    continue;
                };
                let h = ds_child(cd, "DigestMethod")
                    .and_then(|n| n.attribute("Algorithm"))
                    .and_then(dsig::digest_method);
                let v = ds_child(cd, "DigestValue").and_then(|n| dsig::base64_lenient(&text_of(n)));
                if let (Some(h), Some(v)) = (h, v) {
                    any = true;
                    if h.digest(signer.der()) == v {
                        ok = true;
                    }
                }
            }
            if any {
                r.signing_certificate_ok = Some(ok);
                if !ok {
                    fail(
                        r,
                        CryptoCheck::NoSigningCertificate,
                        "the XAdES SigningCertificate does not match the certificate that verifies the signature",
                    );
                }
            }
        }
        return;
    }
    // E-invoice style: Object/SignatureProperties/SignatureProperty/SigningTime.
    let st = objects
        .iter()
        .flat_map(|o| o.descendants())
        .find(|n| n.is_element() && n.tag_name().name() == "SigningTime");
    if let Some(st) = st {
        let raw = text_of(st).trim().to_owned();
        if !is_covered(st) {
            r.warnings.push(format!(
                "the SigningTime \"{raw}\" is not covered by the signature and is ignored"
            ));
            return;
        }
        match crate::time::parse_user_time(&raw) {
            Some(t) => {
                r.signing_time = Some(SigningTime {
                    time: t,
                    source: "signature-property",
                    raw,
                })
            }
            None => r
                .warnings
                .push(format!("SigningTime \"{raw}\" cannot be read")),
        }
    }
}

/// The signer's revocation status now (ETSI EN 319 102-1 §5.2.6): revoked after a proven
/// signing time passes with a warning; revoked with no proof that the signature came first is
/// INDETERMINATE / REVOKED_NO_POE, or TOTAL-FAILED / REVOKED when even the claimed signing
/// time is later; no answer is INDETERMINATE / TRY_LATER.
fn revocation(
    signer: &Certificate,
    issuer: &Certificate,
    opts: &VerifyOptions<'_>,
    r: &mut SignatureReport,
) {
    use crate::revocation::Status;
    let signed_at = r
        .proven_time
        .or(r.signing_time.as_ref().map(|s| s.time))
        .unwrap_or(opts.time);
    let mut status = None;
    if !r.long_term.is_empty() {
        let (s, _) = crate::revocation::embedded_status(
            signer,
            issuer,
            &r.long_term.ocsp_responses,
            &r.long_term.crls,
            signed_at,
            &opts.policy,
        );
        match s {
            Status::Unknown { reason } => r.warnings.push(format!(
                "the signature's revocation values do not settle the signer's status: {reason}"
            )),
            s => {
                r.revocation_embedded = true;
                status = Some(s);
            }
        }
    }
    let status = match (status, opts.fetcher) {
        (Some(s), _) => s,
        (None, Some(fetcher)) => {
            crate::revocation::online_status(signer, issuer, fetcher, opts.time, &opts.policy).0
        }
        (None, None) => {
            r.warnings
                .push("the signer's revocation status was not checked (offline)".to_owned());
            return;
        }
    };
    match status {
        Status::Good { source } => {
            r.revocation = Some(("good", Some(source.name())));
        }
        Status::Revoked { at, source, .. } => {
            r.revocation = Some(("revoked", Some(source.name())));
            let when = crate::time::vietnam(at);
            match (r.proven_time, r.signing_time.as_ref().map(|s| s.time)) {
                (Some(poe), _) if poe < at => r.warnings.push(format!(
                    "the signer's certificate was revoked on {when}, after the signature's timestamp"
                )),
                (None, Some(claimed)) if claimed < at => {
                    r.errors.push(format!(
                        "the signer's certificate was revoked on {when}; nothing proves the signature was made before (no timestamp)"
                    ));
                    r.indication = Indication::Indeterminate;
                    r.sub_indication = Some("REVOKED_NO_POE".into());
                }
                _ => {
                    r.errors
                        .push(format!("the signer's certificate was revoked on {when}"));
                    r.indication = Indication::TotalFailed;
                    r.sub_indication = Some("REVOKED".into());
                }
            }
        }
        Status::Unknown { reason } => {
            r.revocation = Some(("unknown", None));
            r.errors.push(format!(
                "the signer's revocation status is unknown: {reason}"
            ));
            r.indication = Indication::Indeterminate;
            r.sub_indication = Some("TRY_LATER".into());
        }
    }
}

fn finish(r: &mut SignatureReport, opts: &VerifyOptions<'_>) {
    let (ind, sub) = match r.crypto {
        CryptoCheck::Passed => (Indication::TotalPassed, None),
        CryptoCheck::HashFailure => (Indication::TotalFailed, Some("HASH_FAILURE")),
        CryptoCheck::SigCryptoFailure => (Indication::TotalFailed, Some("SIG_CRYPTO_FAILURE")),
        CryptoCheck::FormatFailure => (Indication::TotalFailed, Some("FORMAT_FAILURE")),
        CryptoCheck::NoSigningCertificate => (
            Indication::Indeterminate,
            Some("NO_SIGNING_CERTIFICATE_FOUND"),
        ),
    };
    r.indication = ind;
    r.sub_indication = sub.map(str::to_owned);
    if r.crypto != CryptoCheck::Passed {
        return;
    }
    let Some(signer) = r.signer.clone() else {
        return;
    };
    let mut pool = CertPool::from_certs(r.certificates.iter().cloned());
    for c in opts.intermediates.iter() {
        pool.add(c.clone());
    }
    for der in &r.long_term.certificates {
        if let Ok(c) = Certificate::from_der(der) {
            pool.add(c);
        }
    }
    let at = r
        .proven_time
        .or(r.signing_time.as_ref().map(|s| s.time))
        .unwrap_or(opts.time);
    let mut vo = ValidationOptions::new(at, Purpose::DocumentSigning);
    vo.algorithms = opts.policy.clone();
    match path::validate(&signer, &pool, opts.anchors, &vo) {
        Ok(p) => {
            r.warnings.extend(p.warnings.iter().cloned());
            match p.certs.get(1) {
                Some(issuer) => revocation(&signer, issuer, opts, r),
                None => r
                    .warnings
                    .push("the signer's revocation status was not checked (offline)".to_owned()),
            }
            r.trust = TrustCheck::Valid {
                chain: p.certs.iter().map(|c| c.subject().to_string()).collect(),
                certs: p.certs.clone(),
                warnings: p.warnings,
            };
        }
        Err(f) => {
            let definitive = f.error.is_definitive();
            let sub = f.error.sub_indication().to_owned();
            r.errors.push(f.error.to_string());
            r.indication = if definitive {
                Indication::TotalFailed
            } else {
                Indication::Indeterminate
            };
            r.sub_indication = Some(sub.clone());
            r.trust = TrustCheck::Failed {
                sub_indication: sub,
                definitive,
                reason: f.error.to_string(),
            };
        }
    }
    let w: Vec<String> = r.weak.clone();
    for w in w {
        if !r.warnings.contains(&w) {
            r.warnings.push(w);
        }
    }
}

fn ser_time<S: serde::Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::time::vietnam(*t))
}

impl XmlReport {
    /// The shared report of CONTRACT.md ([`crate::report::Report`]) for `file`.
    pub fn to_report(&self, file: &str) -> crate::report::Report {
        use crate::report as rep;
        let sigs = self
            .signatures
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let signing_time = match (s.proven_time, &s.signing_time) {
                    (Some(t), _) => Some(t),
                    (None, Some(st)) => Some(st.time),
                    (None, None) => None,
                };
                rep::SignatureReport {
                    id: s
                        .id
                        .clone()
                        .unwrap_or_else(|| format!("Signature{}", i + 1)),
                    kind: rep::SignatureKind::Signature,
                    indication: s.indication,
                    sub_indication: s.sub_indication.clone(),
                    signer: s.signer.as_ref().map(rep::Signer::from_cert),
                    signing_time: signing_time.map(crate::time::rfc3339_utc),
                    signing_time_proven: s.signing_time_proven,
                    timestamp: s.timestamp.clone(),
                    level: Some(s.level.to_owned()),
                    algorithm: s.algorithm_name.clone(),
                    integrity: s.signature_value_ok && s.references.iter().all(|r| r.digest_ok),
                    covers_whole_document: s
                        .references
                        .iter()
                        .any(|r| matches!(r.covers, Some(Coverage::WholeDocument { .. }))),
                    revision: None,
                    revisions: None,
                    covers: s.coverage(),
                    modifications: Vec::new(),
                    chain: match &s.trust {
                        TrustCheck::Valid { certs, .. } => certs
                            .iter()
                            .map(|c| rep::ChainEntry {
                                subject: c.subject().to_string(),
                                serial: c.serial_hex(),
                            })
                            .collect(),
                        _ => Vec::new(),
                    },
                    revocation: Some(match s.revocation {
                        Some((status, source)) => rep::Revocation {
                            status: status.into(),
                            source: source.map(str::to_owned),
                            embedded: s.revocation_embedded,
                            unchecked_cas: Vec::new(),
                        },
                        None => rep::Revocation {
                            status: "not-checked".into(),
                            source: None,
                            embedded: false,
                            unchecked_cas: Vec::new(),
                        },
                    }),
                    errors: s.errors.clone(),
                    warnings: s.warnings.clone(),
                }
            })
            .collect();
        rep::Report::new(
            file.to_owned(),
            "xml",
            self.sha256.clone(),
            self.validation_time,
            sigs,
        )
    }
}
