//! Verification of one SignerInfo (RFC 5652 §5.4, §5.6 and §11; ESS signing-certificate
//! attributes, RFC 2634 §5.4 and RFC 5035 §3), returned as findings rather than errors.

use super::{oids, Attributes, CmsError, SignedData, SignerIdentifier, SignerInfo};
use crate::asn1::{self, tag, Reader};
use crate::cert::Certificate;
use crate::crypto::{self, AlgorithmPolicy, VerifyError, VerifyNotes};
use const_oid::ObjectIdentifier;
use hsm::{HashAlgorithm, SignatureAlgorithm};
use time::OffsetDateTime;

/// What the signature is over.
#[derive(Clone, Copy, Debug)]
pub enum Content<'a> {
    /// The eContent inside the SignedData.
    Attached,
    /// Detached content: these bytes (hashed with the signer's digest algorithm).
    Data(&'a [u8]),
    /// Detached content, already hashed with the signer's digest algorithm (as a PDF signer
    /// hashes its byte ranges). Without signed attributes the signature cannot be checked from
    /// a digest alone.
    Digest(&'a [u8]),
}

/// The outcome of a check on a signed attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AttrCheck {
    /// Present and as expected.
    Match,
    /// Present and different from what was expected.
    Mismatch,
    /// Required but absent.
    Missing,
    /// Present more than once, with several values, or undecodable.
    Malformed,
    /// Not applicable (no signed attributes) or could not be checked (unknown digest).
    NotChecked,
}

/// The outcome of the ESS signing-certificate check.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EssCheck {
    /// Neither signingCertificate nor signingCertificateV2 is present.
    Absent,
    /// signingCertificateV2 names the signer certificate.
    MatchesV2,
    /// signingCertificate (ESSCertID, SHA-1) names the signer certificate.
    MatchesV1,
    /// The attribute names another certificate.
    Mismatch,
    /// The attribute cannot be read or uses an unknown hash.
    Malformed,
    /// No signer certificate to compare with.
    NotChecked,
}

/// The outcome of the cryptographic check.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureCheck {
    /// The signature value is correct.
    Valid(VerifyNotes),
    /// The signature value is wrong, or the algorithm/key is refused.
    Invalid(VerifyError),
    /// Not checked, and why.
    NotChecked(String),
}

/// Findings on one SignerInfo.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SignerCheck {
    /// The certificate that matches the signer identifier, when found.
    pub signer_cert: Option<Certificate>,
    /// The digest algorithm, when known.
    pub digest_algorithm: Option<HashAlgorithm>,
    /// The signature algorithm as used (rsaEncryption combined with the digest algorithm).
    pub signature_algorithm: Option<SignatureAlgorithm>,
    /// Whether signed attributes are present.
    pub has_signed_attrs: bool,
    /// content-type attribute against eContentType (RFC 5652 §11.1).
    pub content_type: AttrCheck,
    /// message-digest attribute against the content's digest (RFC 5652 §11.2).
    pub message_digest: AttrCheck,
    /// The signature value.
    pub signature: SignatureCheck,
    /// signingCertificate / signingCertificateV2 against the signer certificate.
    pub signing_certificate: EssCheck,
    /// signing-time (RFC 5652 §11.3), as claimed by the signer.
    pub signing_time: Option<OffsetDateTime>,
    /// The digest of the content that was compared (for reports).
    pub content_digest: Option<Vec<u8>>,
}

impl SignerCheck {
    /// Whether the signature is intact and made by the certificate found: the signature value
    /// verifies, the digest and content type match, and an ESS attribute, if any, matches.
    /// (The certificate's chain and revocation are checked elsewhere.)
    pub fn is_valid(&self) -> bool {
        self.signer_cert.is_some()
            && matches!(self.signature, SignatureCheck::Valid(_))
            && (!self.has_signed_attrs
                || (self.content_type == AttrCheck::Match
                    && self.message_digest == AttrCheck::Match))
            && !matches!(
                self.signing_certificate,
                EssCheck::Mismatch | EssCheck::Malformed
            )
    }

    /// The ETSI EN 319 102-1 indication and sub-indication for the CMS part alone (the
    /// certificate chain, revocation and time checks come on top): a changed content is
    /// HASH_FAILURE, a wrong signature value SIG_CRYPTO_FAILURE, an unidentifiable signer
    /// certificate NO_SIGNING_CERTIFICATE_FOUND (§5.2.3), a refused algorithm
    /// CRYPTO_CONSTRAINTS_FAILURE, a malformed structure FORMAT_FAILURE.
    pub fn indication(&self) -> (crate::report::Indication, Option<&'static str>) {
        use crate::report::Indication::*;
        if self.is_valid() {
            return (TotalPassed, None);
        }
        if self.signer_cert.is_none()
            || matches!(
                self.signing_certificate,
                EssCheck::Mismatch | EssCheck::Malformed
            )
        {
            return (Indeterminate, Some("NO_SIGNING_CERTIFICATE_FOUND"));
        }
        if self.has_signed_attrs && self.message_digest == AttrCheck::Mismatch {
            return (TotalFailed, Some("HASH_FAILURE"));
        }
        match &self.signature {
            SignatureCheck::Invalid(VerifyError::BadSignature) => {
                (TotalFailed, Some("SIG_CRYPTO_FAILURE"))
            }
            SignatureCheck::Invalid(VerifyError::Forbidden(_)) => {
                (Indeterminate, Some("CRYPTO_CONSTRAINTS_FAILURE"))
            }
            SignatureCheck::Invalid(_) => (TotalFailed, Some("FORMAT_FAILURE")),
            SignatureCheck::NotChecked(_) => (Indeterminate, Some("SIGNED_DATA_NOT_FOUND")),
            SignatureCheck::Valid(_) => (TotalFailed, Some("FORMAT_FAILURE")),
        }
    }

    /// One sentence per problem found (empty when [`is_valid`](Self::is_valid)).
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        if self.signer_cert.is_none() {
            p.push("the signer's certificate was not found".to_string());
        }
        match &self.signature {
            SignatureCheck::Valid(_) => {}
            SignatureCheck::Invalid(e) => p.push(format!("signature: {e}")),
            SignatureCheck::NotChecked(why) => p.push(format!("signature not checked: {why}")),
        }
        if self.has_signed_attrs {
            let describe = |name: &str, c: &AttrCheck| match c {
                AttrCheck::Match => None,
                AttrCheck::Mismatch => Some(format!("the {name} attribute does not match")),
                AttrCheck::Missing => Some(format!("the {name} attribute is missing")),
                AttrCheck::Malformed => Some(format!("the {name} attribute is malformed")),
                AttrCheck::NotChecked => Some(format!("the {name} attribute was not checked")),
            };
            p.extend(describe("message-digest", &self.message_digest));
            p.extend(describe("content-type", &self.content_type));
        }
        match self.signing_certificate {
            EssCheck::Mismatch => p.push(
                "the signing-certificate attribute names a different certificate".to_string(),
            ),
            EssCheck::Malformed => {
                p.push("the signing-certificate attribute is malformed".to_string())
            }
            _ => {}
        }
        p
    }
}

/// Whether `cert` is the one `sid` names.
pub fn sid_matches(sid: &SignerIdentifier, cert: &Certificate) -> bool {
    match sid {
        SignerIdentifier::IssuerAndSerial { issuer, serial } => {
            strip_int(serial) == strip_int(cert.serial())
                && (issuer.as_slice() == cert.issuer_der()
                    || crate::name::Name::from_der(issuer)
                        .is_ok_and(|n| n.match_key() == cert.issuer_key()))
        }
        SignerIdentifier::SubjectKeyId(k) => cert
            .extensions()
            .subject_key_id
            .as_deref()
            .is_some_and(|s| s == k.as_slice()),
    }
}

fn strip_int(v: &[u8]) -> &[u8] {
    match v {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => v,
    }
}

/// The single value of a single-instance attribute.
fn single_value<'a>(attrs: &'a Attributes, oid: &ObjectIdentifier) -> Result<Option<&'a [u8]>, ()> {
    let mut it = attrs.get(*oid);
    match (it.next(), it.next()) {
        (None, _) => Ok(None),
        (Some(a), None) if a.values.len() == 1 => Ok(Some(&a.values[0])),
        _ => Err(()),
    }
}

impl SignedData {
    /// Verifies signer `index` against `content`, looking for the signer certificate among
    /// the embedded certificates and `extra_certs`. `Err` only when it cannot be evaluated
    /// (no such signer; attached content asked for but absent).
    pub fn verify_signer(
        &self,
        index: usize,
        content: Content<'_>,
        extra_certs: &[Certificate],
        policy: &AlgorithmPolicy,
    ) -> Result<SignerCheck, CmsError> {
        self.verify_signer_among(
            index,
            content,
            self.parsed_certificates(),
            extra_certs,
            policy,
        )
    }

    /// [`Self::verify_signer`] with the embedded certificates already parsed (`embedded`, as
    /// [`Self::parsed_certificates`] gives them), for a caller that parses each certificate
    /// once for many signatures.
    pub fn verify_signer_among(
        &self,
        index: usize,
        content: Content<'_>,
        embedded: Vec<Certificate>,
        extra_certs: &[Certificate],
        policy: &AlgorithmPolicy,
    ) -> Result<SignerCheck, CmsError> {
        let si = self
            .signer_infos
            .get(index)
            .ok_or(CmsError::NoSuchSigner(index))?;
        let data: Option<&[u8]> = match content {
            Content::Attached => Some(self.econtent.as_deref().ok_or(CmsError::ContentMissing)?),
            Content::Data(d) => Some(d),
            Content::Digest(_) => None,
        };
        // Several certificates may match the identifier (an embedded impostor with the same
        // issuer and serial as the real one supplied by the caller): the one whose key verifies
        // the signature wins, else the first.
        let candidates: Vec<Certificate> = embedded
            .into_iter()
            .chain(extra_certs.iter().cloned())
            .filter(|c| sid_matches(&si.sid, c))
            .collect();
        let digest_algorithm = si.digest_algorithm.hash();
        let content_digest = match (content, digest_algorithm, data) {
            (Content::Digest(d), _, _) => Some(d.to_vec()),
            (_, Some(h), Some(d)) => Some(h.digest(d)),
            _ => None,
        };
        let signature_algorithm = effective_signature_algorithm(si, digest_algorithm);

        let mut check = SignerCheck {
            signer_cert: None,
            digest_algorithm,
            signature_algorithm: signature_algorithm.as_ref().ok().copied(),
            has_signed_attrs: si.signed_attrs.is_some(),
            content_type: AttrCheck::NotChecked,
            message_digest: AttrCheck::NotChecked,
            signature: SignatureCheck::NotChecked(String::new()),
            signing_certificate: EssCheck::Absent,
            signing_time: None,
            content_digest: content_digest.clone(),
        };

        let tbs: Option<Vec<u8>> = match &si.signed_attrs {
            Some(attrs) => {
                check.content_type = match single_value(attrs, &oids::CONTENT_TYPE) {
                    Ok(Some(v)) => {
                        if v == super::oid_tlv(&self.econtent_type).as_slice() {
                            AttrCheck::Match
                        } else {
                            AttrCheck::Mismatch
                        }
                    }
                    Ok(None) => AttrCheck::Missing,
                    Err(()) => AttrCheck::Malformed,
                };
                check.message_digest = match single_value(attrs, &oids::MESSAGE_DIGEST) {
                    Ok(Some(v)) => match asn1::single(v, false, false) {
                        Ok(t) if t.tag == tag::OCTET_STRING => match &content_digest {
                            Some(d) if d.as_slice() == t.content => AttrCheck::Match,
                            Some(_) => AttrCheck::Mismatch,
                            None => AttrCheck::NotChecked,
                        },
                        _ => AttrCheck::Malformed,
                    },
                    Ok(None) => AttrCheck::Missing,
                    Err(()) => AttrCheck::Malformed,
                };
                check.signing_time = single_value(attrs, &oids::SIGNING_TIME)
                    .ok()
                    .flatten()
                    .and_then(|v| asn1::single(v, false, false).ok())
                    .and_then(|t| crate::cert::parse_time(&t));
                si.signed_attrs_tbs()
            }
            None => data.map(<[u8]>::to_vec),
        };

        let verify_with = |cert: &Certificate| -> SignatureCheck {
            match (&signature_algorithm, &tbs) {
                (Err(e), _) => SignatureCheck::Invalid(e.clone()),
                (_, None) => SignatureCheck::NotChecked(
                    "without signed attributes the signature covers the content itself, which was not supplied".into(),
                ),
                (Ok(alg), Some(tbs)) => match cert.verify_signed_as(
                    *alg,
                    &si.signature_algorithm.der,
                    tbs,
                    &si.signature,
                    policy,
                ) {
                    Ok(n) => SignatureCheck::Valid(n),
                    Err(e) => SignatureCheck::Invalid(e),
                },
            }
        };
        let mut outcomes = candidates.into_iter().map(|c| {
            let v = verify_with(&c);
            (c, v)
        });
        let first = outcomes.next();
        let chosen = match &first {
            Some((_, SignatureCheck::Valid(_))) | None => first,
            Some(_) => outcomes
                .find(|(_, v)| matches!(v, SignatureCheck::Valid(_)))
                .or(first),
        };
        match chosen {
            Some((cert, sig)) => {
                check.signature = sig;
                if let Some(attrs) = &si.signed_attrs {
                    check.signing_certificate = ess_check(attrs, &cert);
                }
                check.signer_cert = Some(cert);
            }
            None => {
                check.signature =
                    SignatureCheck::NotChecked("the signer certificate was not found".into());
                if let Some(attrs) = &si.signed_attrs {
                    if attrs.get(oids::SIGNING_CERTIFICATE_V2).next().is_some()
                        || attrs.get(oids::SIGNING_CERTIFICATE).next().is_some()
                    {
                        check.signing_certificate = EssCheck::NotChecked;
                    }
                }
            }
        }
        Ok(check)
    }
}

/// The signature algorithm, accepting rsaEncryption (and id-ecPublicKey) combined with the
/// digest algorithm, as many signers write it.
fn effective_signature_algorithm(
    si: &SignerInfo,
    digest: Option<HashAlgorithm>,
) -> Result<SignatureAlgorithm, VerifyError> {
    let o = si.signature_algorithm.oid;
    if o == crate::oid::RSA_ENCRYPTION || o == crate::oid::EC_PUBLIC_KEY {
        let h = digest.ok_or_else(|| {
            VerifyError::UnsupportedAlgorithm(format!("digest {}", si.digest_algorithm.oid))
        })?;
        return Ok(if o == crate::oid::RSA_ENCRYPTION {
            SignatureAlgorithm::RsaPkcs1(h)
        } else {
            SignatureAlgorithm::Ecdsa(h)
        });
    }
    crypto::parse_signature_algorithm(&si.signature_algorithm.der)
}

/// Checks signingCertificateV2 (preferred) or signingCertificate against `cert`: the first
/// ESSCertID(v2) names the signer (RFC 5035 §3, RFC 2634 §5.4).
fn ess_check(attrs: &Attributes, cert: &Certificate) -> EssCheck {
    let (v2, value) = match (
        single_value(attrs, &oids::SIGNING_CERTIFICATE_V2),
        single_value(attrs, &oids::SIGNING_CERTIFICATE),
    ) {
        (Err(()), _) | (_, Err(())) => return EssCheck::Malformed,
        (Ok(Some(v)), _) => (true, v),
        (Ok(None), Ok(Some(v))) => (false, v),
        (Ok(None), Ok(None)) => return EssCheck::Absent,
    };
    match first_ess_cert_id(value, v2) {
        Some((hash, cert_hash, issuer_serial)) => {
            let Some(h) = hash else {
                return EssCheck::Malformed;
            };
            if h.digest(cert.der()) != cert_hash {
                return EssCheck::Mismatch;
            }
            if let Some((issuer, serial)) = issuer_serial {
                let issuer_ok = issuer.as_slice() == cert.issuer_der()
                    || crate::name::Name::from_der(&issuer)
                        .is_ok_and(|n| n.match_key() == cert.issuer_key());
                if !issuer_ok || strip_int(&serial) != strip_int(cert.serial()) {
                    return EssCheck::Mismatch;
                }
            }
            if v2 {
                EssCheck::MatchesV2
            } else {
                EssCheck::MatchesV1
            }
        }
        None => EssCheck::Malformed,
    }
}

type EssCertId = (Option<HashAlgorithm>, Vec<u8>, Option<(Vec<u8>, Vec<u8>)>);

/// Reads the first ESSCertID / ESSCertIDv2 of a SigningCertificate(V2) value: the hash
/// algorithm (SHA-1 for v1, default SHA-256 for v2), the hash, and issuerSerial's directory
/// name and serial when present.
fn first_ess_cert_id(value: &[u8], v2: bool) -> Option<EssCertId> {
    let top = asn1::single(value, false, false).ok()?;
    let mut r = Reader::der(value).nested(&top);
    let certs = r.expect(tag::SEQUENCE).ok()?;
    let mut cr = r.nested(&certs);
    let id = cr.expect(tag::SEQUENCE).ok()?;
    let mut ir = cr.nested(&id);
    let hash = if v2 {
        match ir.optional(tag::SEQUENCE).ok()? {
            Some(alg) => {
                let mut ar = ir.nested(&alg);
                let o = ar.expect(tag::OID).ok()?;
                ObjectIdentifier::from_bytes(o.content)
                    .ok()
                    .and_then(|o| HashAlgorithm::from_oid(&o))
            }
            None => Some(HashAlgorithm::Sha256),
        }
    } else {
        Some(HashAlgorithm::Sha1)
    };
    let cert_hash = ir.expect(tag::OCTET_STRING).ok()?.content.to_vec();
    let issuer_serial = match ir.optional(tag::SEQUENCE).ok()? {
        Some(is) => {
            let mut sr = ir.nested(&is);
            let names = sr.expect(tag::SEQUENCE).ok()?;
            let serial = sr.expect(tag::INTEGER).ok()?.content.to_vec();
            let mut nr = sr.nested(&names);
            let mut dir = None;
            while !nr.is_empty() {
                let gn = nr.next_tlv().ok()?;
                if gn.tag == tag::ctx(4) {
                    dir = Some(gn.content.to_vec());
                }
            }
            // An issuerSerial with no directoryName cannot name an X.509 issuer.
            Some((dir?, serial))
        }
        None => None,
    };
    Some((hash, cert_hash, issuer_serial))
}
