//! Building SignedData (RFC 5652 §5) in two phases: [`SignedDataBuilder::prepare`] yields the
//! bytes to be signed (the DER signed attributes as a SET, §5.4) and a serialisable pending
//! state; [`PreparedSignature::finish`] takes a signature made anywhere (a token, a remote
//! signer) and assembles the DER.

use super::{
    oid_tlv, oids, seq, AlgorithmIdentifier, Attribute, Attributes, CmsError, SignedData,
    SignerIdentifier, SignerInfo,
};
use crate::asn1::{self, tag};
use crate::cert::Certificate;
use const_oid::ObjectIdentifier;
use hsm::{HashAlgorithm, SignatureAlgorithm};
use time::OffsetDateTime;

#[derive(Clone, Debug)]
enum BuilderContent {
    None,
    Detached(Vec<u8>),
    Attached(Vec<u8>),
}

/// Builds a SignedData with one signer. Signed attributes: content-type, message-digest,
/// signing-time (optional), signingCertificateV2 (SHA-256, with issuerSerial; RFC 5035) and
/// any extra ones given raw.
#[derive(Clone, Debug)]
pub struct SignedDataBuilder {
    signer_cert: Certificate,
    algorithm: SignatureAlgorithm,
    content_type: ObjectIdentifier,
    content: BuilderContent,
    certificates: Vec<Vec<u8>>,
    signing_time: Option<OffsetDateTime>,
    signing_certificate_v2: bool,
    subject_key_id: bool,
    embed_certificates: bool,
    signed: Vec<Attribute>,
    unsigned: Vec<Attribute>,
}

/// Signed attributes ready to be signed, and what is needed to finish. Serialisable, so a
/// server can park it while a remote signer (a PKI SIM user) approves.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PreparedSignature {
    /// The bytes to sign: the DER SET of signed attributes. The signer hashes them with the
    /// algorithm's hash, as `hsm::Signer::sign` does.
    pub tbs: Vec<u8>,
    /// The SignedData with an empty signature value.
    pending: Vec<u8>,
    /// The signer certificate (DER), to check the signature on finishing.
    signer_cert: Vec<u8>,
}

impl SignedDataBuilder {
    /// A builder for a signature by `signer_cert` with `algorithm`. The message digest uses the
    /// algorithm's hash (SHA-512 for Ed25519, RFC 8419 §3). The signer certificate is embedded.
    pub fn new(signer_cert: Certificate, algorithm: SignatureAlgorithm) -> Self {
        Self {
            certificates: vec![signer_cert.der().to_vec()],
            signer_cert,
            algorithm,
            content_type: oids::DATA,
            content: BuilderContent::None,
            signing_time: None,
            signing_certificate_v2: true,
            subject_key_id: false,
            embed_certificates: true,
            signed: Vec::new(),
            unsigned: Vec::new(),
        }
    }

    /// The digest algorithm the content must be hashed with.
    pub fn digest_algorithm(&self) -> HashAlgorithm {
        self.algorithm.hash().unwrap_or(HashAlgorithm::Sha512)
    }

    /// eContentType (default id-data).
    pub fn content_type(mut self, oid: ObjectIdentifier) -> Self {
        self.content_type = oid;
        self
    }

    /// A detached signature over `data`.
    pub fn detached(self, data: &[u8]) -> Self {
        let d = self.digest_algorithm().digest(data);
        self.detached_digest(d)
    }

    /// A detached signature over content already hashed with
    /// [`digest_algorithm`](Self::digest_algorithm) (a PDF's byte ranges).
    pub fn detached_digest(mut self, digest: Vec<u8>) -> Self {
        self.content = BuilderContent::Detached(digest);
        self
    }

    /// An attached signature: `data` goes into eContent.
    pub fn attached(mut self, data: Vec<u8>) -> Self {
        self.content = BuilderContent::Attached(data);
        self
    }

    /// The signing-time attribute (omitted unless set).
    pub fn signing_time(mut self, t: OffsetDateTime) -> Self {
        self.signing_time = Some(t);
        self
    }

    /// Leaves out signingCertificateV2 (present by default).
    pub fn without_signing_certificate_v2(mut self) -> Self {
        self.signing_certificate_v2 = false;
        self
    }

    /// Identifies the signer by subjectKeyIdentifier (SignerInfo version 3) instead of issuer
    /// and serial number.
    pub fn sid_subject_key_id(mut self) -> Self {
        self.subject_key_id = true;
        self
    }

    /// Embeds more certificates (DER), e.g. the issuing CA. Duplicates are dropped.
    pub fn certificates(mut self, certs: impl IntoIterator<Item = Vec<u8>>) -> Self {
        for c in certs {
            if !self.certificates.contains(&c) {
                self.certificates.push(c);
            }
        }
        self
    }

    /// Embeds no certificate at all (an RFC 3161 token when certReq is false).
    pub fn no_certificates(mut self) -> Self {
        self.embed_certificates = false;
        self
    }

    /// An extra signed attribute: its type and each value's DER.
    pub fn signed_attribute(mut self, oid: ObjectIdentifier, values: Vec<Vec<u8>>) -> Self {
        self.signed.push(Attribute { oid, values });
        self
    }

    /// An unsigned attribute: its type and each value's DER.
    pub fn unsigned_attribute(mut self, oid: ObjectIdentifier, values: Vec<Vec<u8>>) -> Self {
        self.unsigned.push(Attribute { oid, values });
        self
    }

    /// Phase one: the signed attributes and the pending SignedData.
    pub fn prepare(self) -> Result<PreparedSignature, CmsError> {
        let h = self.digest_algorithm();
        let (digest, econtent) = match self.content {
            BuilderContent::None => {
                return Err(CmsError::InvalidInput(
                    "no content was given to sign".into(),
                ))
            }
            BuilderContent::Detached(d) => (d, None),
            BuilderContent::Attached(data) => (h.digest(&data), Some(data)),
        };
        if digest.len() != h.output_len() {
            return Err(CmsError::InvalidInput(format!(
                "the content digest is {} bytes, {} needs {}",
                digest.len(),
                h.name(),
                h.output_len()
            )));
        }
        for a in self.signed.iter().chain(&self.unsigned) {
            if a.values.is_empty() {
                return Err(CmsError::InvalidInput(format!(
                    "attribute {} has no value",
                    a.oid
                )));
            }
            for v in &a.values {
                asn1::single(v, false, false).map_err(|e| {
                    CmsError::InvalidInput(format!(
                        "a value of attribute {} is not DER: {e}",
                        a.oid
                    ))
                })?;
            }
        }
        if !self.algorithm.fits(
            crate::crypto::PublicKey::from_spki(self.signer_cert.spki())
                .map_err(|e| CmsError::InvalidInput(e.to_string()))?
                .kind,
        ) {
            return Err(CmsError::InvalidInput(format!(
                "{} does not fit the signer certificate's key",
                self.algorithm.name()
            )));
        }

        let mut list = vec![
            Attribute {
                oid: oids::CONTENT_TYPE,
                values: vec![oid_tlv(&self.content_type)],
            },
            Attribute {
                oid: oids::MESSAGE_DIGEST,
                values: vec![asn1::tlv(tag::OCTET_STRING, &digest)],
            },
        ];
        if let Some(t) = self.signing_time {
            list.push(Attribute {
                oid: oids::SIGNING_TIME,
                values: vec![super::encode::signing_time(t)],
            });
        }
        if self.signing_certificate_v2 {
            list.push(Attribute {
                oid: oids::SIGNING_CERTIFICATE_V2,
                values: vec![signing_certificate_v2(&self.signer_cert)],
            });
        }
        list.extend(self.signed);
        let signed_attrs = Attributes::encode(tag::ctx(0), list);

        let sid = if self.subject_key_id {
            SignerIdentifier::SubjectKeyId(
                self.signer_cert
                    .extensions()
                    .subject_key_id
                    .clone()
                    .ok_or_else(|| {
                        CmsError::InvalidInput(
                            "the signer certificate has no subjectKeyIdentifier".into(),
                        )
                    })?,
            )
        } else {
            SignerIdentifier::IssuerAndSerial {
                issuer: self.signer_cert.issuer_der().to_vec(),
                serial: self.signer_cert.serial().to_vec(),
            }
        };
        let si_version = if self.subject_key_id { 3 } else { 1 };
        let digest_algorithm = AlgorithmIdentifier::from_owned(&h.algorithm_identifier())?;
        let si = SignerInfo {
            version: si_version,
            sid,
            digest_algorithm: digest_algorithm.clone(),
            signed_attrs: Some(signed_attrs),
            signature_algorithm: AlgorithmIdentifier::from_owned(
                &self.algorithm.algorithm_identifier(),
            )?,
            signature: Vec::new(),
            unsigned_attrs: (!self.unsigned.is_empty())
                .then(|| Attributes::encode(tag::ctx(1), self.unsigned)),
            offset: 0,
        };
        let tbs = si.signed_attrs_tbs().unwrap_or_default();
        let sd = SignedData {
            // RFC 5652 §5.1: 3 when eContentType is not id-data or a sid is a key identifier.
            version: if si_version == 3 || self.content_type != oids::DATA {
                3
            } else {
                1
            },
            digest_algorithms: vec![digest_algorithm],
            econtent_type: self.content_type,
            econtent,
            certificates: if self.embed_certificates {
                sorted(self.certificates)
            } else {
                Vec::new()
            },
            crls: Vec::new(),
            signer_infos: vec![si],
        };
        Ok(PreparedSignature {
            tbs,
            pending: sd.to_der(),
            signer_cert: self.signer_cert.der().to_vec(),
        })
    }

    /// Both phases with a signer at hand.
    pub fn sign(self, signer: &dyn hsm::Signer) -> Result<Vec<u8>, CmsError> {
        // Compare the keys, not their encodings (parameters may be written differently).
        let same_key = signer.public_key_der() == self.signer_cert.spki()
            || matches!(
                (
                    crate::crypto::PublicKey::from_spki(signer.public_key_der()),
                    crate::crypto::PublicKey::from_spki(self.signer_cert.spki()),
                ),
                (Ok(a), Ok(b)) if a == b
            );
        if !same_key {
            return Err(CmsError::InvalidInput(
                "the key does not belong to the signer certificate".into(),
            ));
        }
        let alg = self.algorithm;
        let p = self.prepare()?;
        let sig = signer.sign(alg, &p.tbs)?;
        p.finish(&sig)
    }
}

impl PreparedSignature {
    /// The signature algorithm the signature must be made with.
    pub fn algorithm(&self) -> Result<SignatureAlgorithm, CmsError> {
        let sd = SignedData::parse(&self.pending)?;
        let si = sd.signer_infos.first().ok_or(CmsError::NoSuchSigner(0))?;
        crate::crypto::parse_signature_algorithm(&si.signature_algorithm.der)
            .map_err(|e| CmsError::InvalidInput(e.to_string()))
    }

    /// An upper bound of the finished encoding's size for a signature of at most
    /// `max_signature_len` bytes (`hsm::Signer::max_signature_len`), to reserve a PDF
    /// `/Contents`. Unsigned attributes added later (time-stamps) come on top.
    pub fn size_hint(&self, max_signature_len: usize) -> usize {
        // The signature value's own header, and each of the five enclosing lengths growing by
        // at most four octets.
        self.pending.len() + max_signature_len + 6 + 5 * 4
    }

    /// Phase two: puts `signature` in and returns the ContentInfo DER. The signature is checked
    /// against the signer certificate first, so a wrong key or a garbled remote answer is
    /// caught here rather than by the recipient.
    pub fn finish(self, signature: &[u8]) -> Result<Vec<u8>, CmsError> {
        let alg = self.algorithm()?;
        let cert = Certificate::from_der(&self.signer_cert)
            .map_err(|e| CmsError::InvalidInput(e.to_string()))?;
        let key = crate::crypto::PublicKey::from_spki(cert.spki())
            .map_err(|e| CmsError::InvalidInput(e.to_string()))?;
        crate::crypto::verify_with(
            alg,
            &key,
            &self.tbs,
            signature,
            &crate::crypto::AlgorithmPolicy::default(),
        )
        .map_err(|e| {
            CmsError::InvalidInput(format!(
                "the signature does not verify with the signer certificate: {e}"
            ))
        })?;
        self.assemble(signature)
    }

    /// The ContentInfo DER with `signature` put in, unchecked.
    fn assemble(&self, signature: &[u8]) -> Result<Vec<u8>, CmsError> {
        let mut sd = SignedData::parse(&self.pending)?;
        let si = sd
            .signer_infos
            .first_mut()
            .ok_or(CmsError::NoSuchSigner(0))?;
        si.signature = signature.to_vec();
        Ok(sd.to_der())
    }
}

/// One signer's detached SignedData for many documents (a batch): encoded once, then for each
/// document only the message digest and the signature value change. Every other byte (the
/// certificates, signingCertificateV2, the algorithm identifiers, a signing time) is the same
/// for all documents signed by the same key with the same options, so they are not encoded
/// again per document.
///
/// Patching is exact: the message-digest attribute's position in the DER `SET OF` signed
/// attributes is decided by bytes before the digest (each attribute starts with its own type
/// OID), so a patched template equals what [`SignedDataBuilder::prepare`] builds for that
/// digest; [`SignedDataBuilder::template`] checks this once against a fresh encoding.
#[derive(Debug)]
pub struct SignedDataTemplate {
    /// Prepared over a placeholder digest.
    prepared: PreparedSignature,
    digest_len: usize,
    /// Where the digest sits in `prepared.tbs` and `prepared.pending`.
    tbs_digest_at: usize,
    pending_digest_at: usize,
    /// The finished ContentInfo with a placeholder signature value in its last `sig_len`
    /// bytes, and where the digest sits in it; `None` when signatures vary in length (ECDSA).
    finished: Option<(Vec<u8>, usize)>,
    sig_len: usize,
    algorithm: SignatureAlgorithm,
    /// The SignerInfo's signatureAlgorithm DER (for the check with `key`).
    alg_id: Vec<u8>,
    key: crate::crypto::CachedKey,
}

impl SignedDataBuilder {
    /// A [`SignedDataTemplate`] of this builder for detached digests. `signature_len` is the
    /// length every signature of the key has (RSA: the modulus length; Ed25519: 64), or `None`
    /// when it varies (ECDSA). Attached content and unsigned attributes are refused: they
    /// differ per document.
    pub fn template(
        mut self,
        signature_len: Option<usize>,
    ) -> Result<SignedDataTemplate, CmsError> {
        if matches!(self.content, BuilderContent::Attached(_)) || !self.unsigned.is_empty() {
            return Err(CmsError::InvalidInput(
                "a template is for detached signatures without unsigned attributes".into(),
            ));
        }
        let n = self.digest_algorithm().output_len();
        let algorithm = self.algorithm;
        let key = crate::crypto::CachedKey::from_spki(self.signer_cert.spki())
            .map_err(|e| CmsError::InvalidInput(e.to_string()))?;
        self.content = BuilderContent::Detached(vec![0; n]);
        let check_builder = self.clone().detached_digest(vec![0xA5; n]);
        let prepared = self.prepare()?;
        let invalid = || CmsError::InvalidInput("the signed attributes cannot be templated".into());
        // The message-digest attribute: SEQUENCE { OID, SET { OCTET STRING digest } }.
        let mut marker = oid_tlv(&oids::MESSAGE_DIGEST);
        marker.extend_from_slice(&[tag::SET, (n + 2) as u8, tag::OCTET_STRING, n as u8]);
        let tbs_digest_at = find(&prepared.tbs, &marker).ok_or_else(invalid)? + marker.len();
        // The signed attributes appear in the SignedData with their [0] tag, else unchanged.
        let attrs_at = find(&prepared.pending, &prepared.tbs[1..]).ok_or_else(invalid)? - 1;
        let pending_digest_at = attrs_at + tbs_digest_at;
        let alg_id = SignedData::parse(&prepared.pending)?
            .signer_infos
            .first()
            .map(|si| si.signature_algorithm.der.clone())
            .ok_or(CmsError::NoSuchSigner(0))?;
        let finished = match signature_len {
            Some(len) if len > 0 => {
                let der = prepared.assemble(&vec![0; len])?;
                let at = find(&der, &prepared.tbs[1..]).ok_or_else(invalid)? - 1 + tbs_digest_at;
                Some((der, at))
            }
            _ => None,
        };
        let t = SignedDataTemplate {
            prepared,
            digest_len: n,
            tbs_digest_at,
            pending_digest_at,
            finished,
            sig_len: signature_len.unwrap_or(0),
            algorithm,
            alg_id,
            key,
        };
        // Once per template: the patched encoding must be the one the builder makes.
        let fresh = check_builder.prepare()?;
        let patched = t.prepare(&[0xA5; 64][..n])?;
        if fresh != patched {
            return Err(invalid());
        }
        if let Some((der, _)) = &t.finished {
            let sig = vec![0x5A; t.sig_len];
            let mut want = der.clone();
            t.patch_finished(&mut want, &[0xA5; 64][..n], &sig);
            if fresh.assemble(&sig)? != want {
                return Err(invalid());
            }
        }
        Ok(t)
    }
}

impl SignedDataTemplate {
    /// The signature algorithm.
    pub fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    /// As [`PreparedSignature::size_hint`].
    pub fn size_hint(&self, max_signature_len: usize) -> usize {
        self.prepared.size_hint(max_signature_len)
    }

    /// The two-phase state for content whose digest is `digest`.
    pub fn prepare(&self, digest: &[u8]) -> Result<PreparedSignature, CmsError> {
        self.check_digest(digest)?;
        let mut p = self.prepared.clone();
        p.tbs[self.tbs_digest_at..self.tbs_digest_at + self.digest_len].copy_from_slice(digest);
        p.pending[self.pending_digest_at..self.pending_digest_at + self.digest_len]
            .copy_from_slice(digest);
        Ok(p)
    }

    /// The bytes to sign (the DER signed attributes) for content whose digest is `digest`.
    pub fn to_be_signed(&self, digest: &[u8]) -> Result<Vec<u8>, CmsError> {
        self.check_digest(digest)?;
        let mut tbs = self.prepared.tbs.clone();
        tbs[self.tbs_digest_at..self.tbs_digest_at + self.digest_len].copy_from_slice(digest);
        Ok(tbs)
    }

    /// The ContentInfo DER for `digest` and `signature` (made over
    /// [`to_be_signed`](Self::to_be_signed)`(digest)`). The signature is checked against the
    /// signer certificate first, as [`PreparedSignature::finish`] does.
    pub fn finish(&self, digest: &[u8], signature: &[u8]) -> Result<Vec<u8>, CmsError> {
        let tbs = self.to_be_signed(digest)?;
        self.key
            .verify(
                &self.alg_id,
                &tbs,
                signature,
                &crate::crypto::AlgorithmPolicy::default(),
            )
            .map_err(|e| {
                CmsError::InvalidInput(format!(
                    "the signature does not verify with the signer certificate: {e}"
                ))
            })?;
        self.assemble(digest, signature)
    }

    /// [`finish`](Self::finish) without checking the signature: for a signature that was
    /// already checked against the certificate's key (a signer whose
    /// [`verifies_own_signatures`](hsm::Signer::verifies_own_signatures) is true, and whose
    /// public key is the certificate's).
    pub fn finish_checked_by_signer(
        &self,
        digest: &[u8],
        signature: &[u8],
    ) -> Result<Vec<u8>, CmsError> {
        self.check_digest(digest)?;
        self.assemble(digest, signature)
    }

    fn assemble(&self, digest: &[u8], signature: &[u8]) -> Result<Vec<u8>, CmsError> {
        match &self.finished {
            Some((der, _)) if signature.len() == self.sig_len => {
                let mut out = der.clone();
                self.patch_finished(&mut out, digest, signature);
                Ok(out)
            }
            _ => self.prepare(digest)?.assemble(signature),
        }
    }

    fn patch_finished(&self, der: &mut [u8], digest: &[u8], signature: &[u8]) {
        if let Some((_, at)) = &self.finished {
            der[*at..*at + self.digest_len].copy_from_slice(digest);
            let end = der.len();
            der[end - self.sig_len..].copy_from_slice(signature);
        }
    }

    fn check_digest(&self, digest: &[u8]) -> Result<(), CmsError> {
        if digest.len() == self.digest_len {
            Ok(())
        } else {
            Err(CmsError::InvalidInput(format!(
                "the content digest is {} bytes, the template needs {}",
                digest.len(),
                self.digest_len
            )))
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// DER order for the elements of a SET OF (X.690 §11.6).
fn sorted(elems: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let set = super::set_of(elems);
    let mut r = crate::asn1::Reader::der(&set);
    let mut out = Vec::new();
    if let Ok(t) = r.next_tlv() {
        let mut inner = r.nested(&t);
        while let Ok(e) = inner.next_tlv() {
            out.push(e.raw.to_vec());
        }
    }
    out
}

/// The value of a signingCertificateV2 attribute naming `cert` (SHA-256, the default hash, so
/// the hashAlgorithm is omitted as DER requires; issuerSerial included; RFC 5035 §4).
pub fn signing_certificate_v2(cert: &Certificate) -> Vec<u8> {
    let issuer_serial = seq(&[
        &seq(&[&asn1::tlv(tag::ctx(4), cert.issuer_der())]),
        &asn1::tlv(tag::INTEGER, cert.serial()),
    ]);
    let id = seq(&[&asn1::tlv(tag::OCTET_STRING, cert.sha256()), &issuer_serial]);
    seq(&[&seq(&[&id])])
}
