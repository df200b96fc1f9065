//! Certificate profiles the CA issues: what each kind of certificate may do.

use super::builder::Ext;
use crate::cert::KeyUsage;
use crate::oid;

/// What a certificate is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Profile {
    /// An officer's signing certificate (digitalSignature + nonRepudiation; emailProtection and
    /// documentSigning EKUs, which Acrobat, NSS and pyHanko accept for document signatures).
    Personal,
    /// An agency's (organisation's) signing certificate: as personal.
    Agency,
    /// A delegated OCSP responder (id-kp-OCSPSigning, id-pkix-ocsp-nocheck; RFC 6960 §4.2.2.2).
    Ocsp,
    /// A time-stamping authority (critical id-kp-timeStamping as its only EKU; RFC 3161 §2.3).
    Tsa,
    /// A subordinate CA.
    SubCa {
        /// pathLenConstraint.
        path_len: Option<u8>,
    },
}

impl Profile {
    /// Parses a profile name (`personal`, `agency`, `ocsp`, `tsa`, `ca`).
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "personal" => Self::Personal,
            "agency" => Self::Agency,
            "ocsp" => Self::Ocsp,
            "tsa" => Self::Tsa,
            "ca" | "subca" => Self::SubCa { path_len: Some(0) },
            _ => return None,
        })
    }

    /// The profile's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Personal => "personal",
            Self::Agency => "agency",
            Self::Ocsp => "ocsp",
            Self::Tsa => "tsa",
            Self::SubCa { .. } => "ca",
        }
    }

    /// The extensions of this profile (key identifiers are added by the builder), with the
    /// CA's revocation and issuer URLs where they apply.
    pub fn extensions(
        self,
        ocsp_url: Option<&str>,
        crl_url: Option<&str>,
        ca_issuers_url: Option<&str>,
    ) -> Vec<Ext> {
        let mut v = Vec::new();
        match self {
            Self::Personal | Self::Agency => {
                v.push(Ext::basic_constraints(false, None));
                v.push(Ext::key_usage(
                    KeyUsage::DIGITAL_SIGNATURE | KeyUsage::NON_REPUDIATION,
                ));
                v.push(Ext::ext_key_usage(
                    &[oid::EKU_EMAIL_PROTECTION, oid::EKU_DOCUMENT_SIGNING],
                    false,
                ));
            }
            Self::Ocsp => {
                v.push(Ext::basic_constraints(false, None));
                v.push(Ext::key_usage(KeyUsage::DIGITAL_SIGNATURE));
                v.push(Ext::ext_key_usage(&[oid::EKU_OCSP_SIGNING], false));
                v.push(Ext::ocsp_nocheck());
            }
            Self::Tsa => {
                v.push(Ext::basic_constraints(false, None));
                v.push(Ext::key_usage(
                    KeyUsage::DIGITAL_SIGNATURE | KeyUsage::NON_REPUDIATION,
                ));
                v.push(Ext::ext_key_usage(&[oid::EKU_TIME_STAMPING], true));
            }
            Self::SubCa { path_len } => {
                v.push(Ext::basic_constraints(true, path_len));
                v.push(Ext::key_usage(KeyUsage::KEY_CERT_SIGN | KeyUsage::CRL_SIGN));
            }
        }
        let revocation_applies = !matches!(self, Self::Ocsp);
        if revocation_applies && (ocsp_url.is_some() || ca_issuers_url.is_some()) {
            v.push(Ext::authority_info_access(ocsp_url, ca_issuers_url));
        } else if !revocation_applies && ca_issuers_url.is_some() {
            v.push(Ext::authority_info_access(None, ca_issuers_url));
        }
        if revocation_applies {
            if let Some(u) = crl_url {
                v.push(Ext::crl_distribution_point(u));
            }
        }
        v
    }
}
