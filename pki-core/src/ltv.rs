//! Long-term validation data (the "LT" of PAdES/XAdES B-LT): the certificates of a signer's
//! path up to its root, and for each certificate that has an issuer the OCSP response or CRL
//! that shows it was not revoked, gathered at signing time so a verifier years later needs no
//! network.
//!
//! The same gathering serves PDF (the DSS dictionary, `pades::ltv`) and XML
//! (CertificateValues / RevocationValues, `xml::xades`).

use crate::cert::Certificate;
use crate::crypto::AlgorithmPolicy;
use crate::fetch::Fetcher;
use crate::revocation::{online_status, Evidence, Status};
use crate::trust::CertPool;
use time::OffsetDateTime;

/// Longest path followed (a leaf, a few CAs, a root, perhaps a cross-certificate).
const MAX_DEPTH: usize = 8;

/// Why validation data could not be gathered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LtvError {
    /// A certificate's issuer is not among the known certificates.
    #[error(
        "the issuer of \"{subject}\" is not known, so its revocation cannot be checked; give the \
         whole certificate chain (--cert CHAIN.pem)"
    )]
    IssuerUnknown {
        /// The certificate's subject.
        subject: String,
    },
    /// No OCSP response or CRL could be obtained.
    #[error("no revocation data for \"{subject}\" could be obtained: {reason}")]
    Unavailable {
        /// The certificate's subject.
        subject: String,
        /// What went wrong (server unreachable, no distribution point, ...).
        reason: String,
    },
    /// A certificate of the path is revoked.
    #[error("\"{subject}\" is revoked")]
    Revoked {
        /// The certificate's subject.
        subject: String,
    },
    /// The path is longer than any real one.
    #[error("the certificate path of \"{subject}\" is longer than {MAX_DEPTH}")]
    TooLong {
        /// The end-entity certificate's subject.
        subject: String,
    },
}

/// Certificates, OCSP responses and CRLs to embed, without duplicates, in the order found.
#[derive(Clone, Debug, Default)]
pub struct ValidationData {
    /// Certificates (paths up to their roots, OCSP responder certificates).
    pub certificates: Vec<Certificate>,
    /// DER OCSPResponse messages.
    pub ocsp_responses: Vec<Vec<u8>>,
    /// DER CRLs.
    pub crls: Vec<Vec<u8>>,
}

impl ValidationData {
    /// Empty.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether nothing was gathered.
    pub fn is_empty(&self) -> bool {
        self.certificates.is_empty() && self.ocsp_responses.is_empty() && self.crls.is_empty()
    }

    /// Adds a certificate unless it is already there.
    pub fn add_certificate(&mut self, c: &Certificate) {
        if !self.certificates.iter().any(|x| x.sha256() == c.sha256()) {
            self.certificates.push(c.clone());
        }
    }

    fn add_evidence(&mut self, e: Evidence) {
        match e {
            Evidence::Ocsp(der) => {
                if let Ok(resp) = crate::ocsp::OcspResponse::parse(&der) {
                    for c in resp.basic.iter().flat_map(|b| b.certs.iter()) {
                        self.add_certificate(c);
                    }
                }
                if !self.ocsp_responses.contains(&der) {
                    self.ocsp_responses.push(der);
                }
            }
            Evidence::Crl(der) => {
                if !self.crls.contains(&der) {
                    self.crls.push(der);
                }
            }
        }
    }

    /// Gathers the path of `cert` through `known` (by issuer name and signature) up to a
    /// self-issued certificate, and, online through `fetcher`, the revocation status of every
    /// certificate on it that has an issuer and names a source (OCSP responder or CRL
    /// distribution point; a CA certificate that names none, as some roots' subordinates do,
    /// has nothing to fetch and no verifier can ask for more). A revoked certificate or a
    /// status that cannot be obtained from a named source is an error: validation data that
    /// does not prove anything is worse than none.
    pub fn add_path(
        &mut self,
        cert: &Certificate,
        known: &CertPool,
        fetcher: &dyn Fetcher,
        at: OffsetDateTime,
        policy: &AlgorithmPolicy,
    ) -> Result<(), LtvError> {
        let mut current = cert.clone();
        for _ in 0..MAX_DEPTH {
            self.add_certificate(&current);
            if current.is_self_issued() && signed_by(&current, &current, policy) {
                return Ok(());
            }
            let issuer = known
                .issuers_of(&current)
                .find(|i| signed_by(&current, i, policy))
                .cloned()
                .ok_or_else(|| LtvError::IssuerUnknown {
                    subject: current.subject().to_string(),
                })?;
            let ext = current.extensions();
            if ext.ocsp_nocheck || (ext.ocsp_urls.is_empty() && ext.crl_urls.is_empty()) {
                current = issuer;
                continue;
            }
            let (status, evidence) = online_status(&current, &issuer, fetcher, at, policy);
            match status {
                Status::Good { .. } => {}
                Status::Revoked { .. } => {
                    return Err(LtvError::Revoked {
                        subject: current.subject().to_string(),
                    })
                }
                Status::Unknown { reason } => {
                    return Err(LtvError::Unavailable {
                        subject: current.subject().to_string(),
                        reason,
                    })
                }
            }
            if let Some(e) = evidence {
                self.add_evidence(e);
            }
            current = issuer;
        }
        Err(LtvError::TooLong {
            subject: cert.subject().to_string(),
        })
    }

    /// Adds everything of `other` not already here.
    pub fn merge(&mut self, other: ValidationData) {
        for c in &other.certificates {
            self.add_certificate(c);
        }
        for o in other.ocsp_responses {
            self.add_evidence(Evidence::Ocsp(o));
        }
        for c in other.crls {
            self.add_evidence(Evidence::Crl(c));
        }
    }
}

/// Whether `issuer`'s key made `cert`'s signature.
fn signed_by(cert: &Certificate, issuer: &Certificate, policy: &AlgorithmPolicy) -> bool {
    issuer
        .verify_signed(
            cert.signature_algorithm(),
            cert.tbs(),
            cert.signature(),
            policy,
        )
        .is_ok()
}

/// The pool used to complete paths when gathering validation data: `certs` (the signer's chain,
/// a time-stamp's certificates, anything the caller adds) and the public Vietnamese roots and
/// intermediates bundled with the library.
pub fn known_certificates<'a>(certs: impl IntoIterator<Item = &'a Certificate>) -> CertPool {
    let mut pool = CertPool::from_certs(certs.into_iter().cloned());
    for c in CertPool::vn_roots()
        .iter()
        .chain(CertPool::vn_intermediates().iter())
    {
        pool.add(c.clone());
    }
    pool
}
