//! Certificates, path validation, CRL/OCSP/TSP, CMS, PAdES and XMLDSig for Vietnamese
//! e-government signatures.
//!
//! No network I/O happens here: fetching OCSP responses, CRLs, issuer certificates and timestamps
//! goes through traits that the binaries implement. Validation takes the validation time, trust
//! anchors and algorithm policy as parameters and returns reports, not errors: `Err` means "could
//! not evaluate".
#![warn(missing_docs)]

pub mod asn1;
pub mod ca;
pub mod cert;
pub mod cms;
pub mod crl;
pub mod crypto;
pub mod csr;
pub mod fetch;
pub mod ltv;
pub mod name;
pub mod ocsp;
pub mod oid;
pub mod pades;
pub mod path;
pub mod pdf;
pub mod report;
pub mod revocation;
mod rsa_pss;
pub mod signing;
pub mod time;
pub mod trust;
pub mod tsp;
pub mod xml;

#[cfg(test)]
mod testutil;
