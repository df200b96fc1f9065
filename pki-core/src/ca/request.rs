//! PKCS#10 certification requests (RFC 2986): reading and checking the proof of possession.

use crate::asn1::{tag, Reader};
use crate::cert::CertError;
use crate::crypto::{self, AlgorithmPolicy, VerifyError};

/// A parsed, signature-checked CSR.
#[derive(Clone, Debug)]
pub struct CertRequest {
    /// Subject Name DER.
    pub subject: Vec<u8>,
    /// SubjectPublicKeyInfo DER.
    pub spki: Vec<u8>,
}

/// Why a CSR is unusable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CsrError {
    /// Malformed.
    #[error("the certificate request is malformed: {0}")]
    Malformed(#[from] CertError),
    /// The self-signature fails.
    #[error("the certificate request's signature is invalid: {0}")]
    Signature(VerifyError),
}

impl CertRequest {
    /// Parses DER or PEM (`CERTIFICATE REQUEST` / `NEW CERTIFICATE REQUEST`) and verifies the
    /// request's signature with its own key.
    pub fn parse(data: &[u8]) -> Result<Self, CsrError> {
        let der = if data.first() == Some(&tag::SEQUENCE) {
            data.to_vec()
        } else {
            let text = String::from_utf8_lossy(data);
            hsm::pem::pem_blocks(&text)
                .into_iter()
                .find(|(l, _)| l.ends_with("CERTIFICATE REQUEST"))
                .map(|(_, d)| d)
                .ok_or(CsrError::Malformed(CertError::NotACertificate))?
        };
        let top = crate::asn1::single(&der, false, false).map_err(CertError::from)?;
        let mut outer = Reader::der(&der);
        let _ = outer.next_tlv();
        let mut r = outer.nested(&top);
        let info = r.expect(tag::SEQUENCE).map_err(CertError::from)?;
        let alg = r.expect(tag::SEQUENCE).map_err(CertError::from)?;
        let sig = r.expect(tag::BIT_STRING).map_err(CertError::from)?;
        let mut i = r.nested(&info);
        i.expect(tag::INTEGER).map_err(CertError::from)?;
        let subject = i.expect(tag::SEQUENCE).map_err(CertError::from)?;
        let spki = i.expect(tag::SEQUENCE).map_err(CertError::from)?;
        crate::name::Name::from_der(subject.raw).map_err(|e| {
            CsrError::Malformed(CertError::Malformed {
                offset: 0,
                reason: e.to_string(),
            })
        })?;
        let sig_value = sig.content.get(1..).unwrap_or(&[]);
        crypto::verify(
            alg.raw,
            spki.raw,
            info.raw,
            sig_value,
            &AlgorithmPolicy::default(),
        )
        .map_err(CsrError::Signature)?;
        Ok(Self {
            subject: subject.raw.to_vec(),
            spki: spki.raw.to_vec(),
        })
    }
}
