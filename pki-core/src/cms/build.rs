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
        let mut sd = SignedData::parse(&self.pending)?;
        let alg = self.algorithm()?;
        let si = sd
            .signer_infos
            .first_mut()
            .ok_or(CmsError::NoSuchSigner(0))?;
        si.signature = signature.to_vec();
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
        Ok(sd.to_der())
    }
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
