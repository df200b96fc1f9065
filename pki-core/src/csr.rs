//! PKCS#10 certificate requests (RFC 2986) signed by any [`hsm::Signer`], so a token key signs
//! its own request. Subjects are typed as [`crate::name::parse_dn`] reads them; Vietnamese
//! identifiers go in `UID` as `CCCD:<12 digits>` (citizen ID) or `MST:<tax code>`.

use der::asn1::BitString;
use der::{Decode, Encode};
use hsm::{SignatureAlgorithm, Signer};
use x509_cert::name::Name;
use x509_cert::request::{CertReq, CertReqInfo, Version};

/// Why a name or request could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsrError {
    /// The subject text is not a name we can encode.
    #[error("invalid subject name: {reason}")]
    BadName {
        /// Why.
        reason: String,
    },
    /// The signer's public key is not a valid SubjectPublicKeyInfo.
    #[error("the key's public key cannot be encoded: {0}")]
    PublicKey(#[source] der::Error),
    /// DER encoding failed.
    #[error("cannot encode the request: {0}")]
    Encode(#[source] der::Error),
    /// The key could not sign.
    #[error("the key could not sign the request: {0}")]
    Sign(#[source] hsm::Error),
}

/// The subject typed by a user, most specific first (`CN=...,UID=CCCD:...,O=...,C=VN`), as the
/// `x509-cert` name the request carries. Parsing is [`crate::name::parse_dn`]'s.
pub fn subject_from_text(s: &str) -> Result<Name, CsrError> {
    let der = crate::name::parse_dn(s).map_err(|e| CsrError::BadName {
        reason: e.to_string(),
    })?;
    Name::from_der(&der).map_err(|e| CsrError::BadName {
        reason: e.to_string(),
    })
}

/// A PKCS#10 request for `subject` with `signer`'s public key, signed by `signer` with `alg`.
/// Returns DER.
pub fn build_csr(
    subject: &Name,
    signer: &dyn Signer,
    alg: SignatureAlgorithm,
) -> Result<Vec<u8>, CsrError> {
    let public_key = spki::SubjectPublicKeyInfoOwned::from_der(signer.public_key_der())
        .map_err(CsrError::PublicKey)?;
    let info = CertReqInfo {
        version: Version::V1,
        subject: subject.clone(),
        public_key,
        attributes: Default::default(),
    };
    let tbs = info.to_der().map_err(CsrError::Encode)?;
    let sig = signer.sign(alg, &tbs).map_err(CsrError::Sign)?;
    let req = CertReq {
        info,
        algorithm: alg.algorithm_identifier(),
        signature: BitString::from_bytes(&sig).map_err(CsrError::Encode)?,
    };
    req.to_der().map_err(CsrError::Encode)
}

/// PEM text for a DER request (`CERTIFICATE REQUEST`, 64-column lines).
pub fn csr_pem(der: &[u8]) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = String::from("-----BEGIN CERTIFICATE REQUEST-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        s.push('\n');
    }
    s.push_str("-----END CERTIFICATE REQUEST-----\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use hsm::{HashAlgorithm, KeyKind, SoftwareKey};

    #[test]
    fn vietnamese_subject() {
        let n =
            subject_from_text("CN=Nguyễn Văn An,UID=CCCD:001099012345,O=Sở Tư pháp,L=Hà Nội,C=VN")
                .unwrap();
        let rdns: Vec<_> = n.iter_rdn().collect();
        assert_eq!(rdns.len(), 5);
        let first = rdns[0].iter().next().unwrap();
        assert_eq!(first.oid.to_string(), "2.5.4.6");
        let last = rdns[4].iter().next().unwrap();
        assert_eq!(last.value.value(), "Nguyễn Văn An".as_bytes());
        assert!(subject_from_text("XX=1").is_err());
        assert!(subject_from_text("C=VNM").is_err());
    }

    #[test]
    fn csr_is_signed_by_the_key() {
        let (k, _) = SoftwareKey::generate(KeyKind::EcP256).unwrap();
        let name = subject_from_text("CN=Trần Thị B,C=VN").unwrap();
        let alg = SignatureAlgorithm::Ecdsa(HashAlgorithm::Sha256);
        let der = build_csr(&name, &k, alg).unwrap();
        let req = CertReq::from_der(&der).unwrap();
        assert_eq!(req.info.subject, name);
        let tbs = req.info.to_der().unwrap();
        let spki = spki::SubjectPublicKeyInfoOwned::from_der(k.public_key_der()).unwrap();
        aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
            spki.subject_public_key.raw_bytes(),
        )
        .verify(&tbs, req.signature.raw_bytes())
        .unwrap();
        assert!(csr_pem(&der).starts_with("-----BEGIN CERTIFICATE REQUEST-----\n"));
    }
}
