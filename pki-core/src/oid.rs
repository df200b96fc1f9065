//! Object identifiers used across the crate (RFC 5280, RFC 6960, RFC 3161, RFC 5652, ETSI).

use const_oid::ObjectIdentifier as Oid;

pub use hsm::oids::*;

macro_rules! oids {
    ($($(#[$m:meta])* $name:ident = $v:literal;)*) => {
        $($(#[$m])* pub const $name: Oid = Oid::new_unwrap($v);)*
    };
}

oids! {
    /// md5WithRSAEncryption (refused)
    MD5_WITH_RSA = "1.2.840.113549.1.1.4";
    /// md2WithRSAEncryption (refused)
    MD2_WITH_RSA = "1.2.840.113549.1.1.2";
    /// id-dsa-with-sha1 (refused)
    DSA_WITH_SHA1 = "1.2.840.10040.4.3";
    // Attribute types (X.520, RFC 4519).
    /// commonName
    AT_CN = "2.5.4.3";
    /// surname
    AT_SURNAME = "2.5.4.4";
    /// serialNumber
    AT_SERIAL_NUMBER = "2.5.4.5";
    /// countryName
    AT_C = "2.5.4.6";
    /// localityName
    AT_L = "2.5.4.7";
    /// stateOrProvinceName
    AT_ST = "2.5.4.8";
    /// streetAddress
    AT_STREET = "2.5.4.9";
    /// organizationName
    AT_O = "2.5.4.10";
    /// organizationalUnitName
    AT_OU = "2.5.4.11";
    /// title
    AT_TITLE = "2.5.4.12";
    /// givenName
    AT_GIVEN_NAME = "2.5.4.42";
    /// organizationIdentifier
    AT_ORG_ID = "2.5.4.97";
    /// userId (UID): `MST:`, `CCCD:`, `CMND:` identifiers in Vietnamese certificates
    AT_UID = "0.9.2342.19200300.100.1.1";
    /// domainComponent
    AT_DC = "0.9.2342.19200300.100.1.25";
    /// emailAddress (PKCS#9)
    AT_EMAIL = "1.2.840.113549.1.9.1";
    // Certificate extensions (RFC 5280 §4.2).
    /// subjectDirectoryAttributes
    EXT_SUBJECT_DIRECTORY_ATTRIBUTES = "2.5.29.9";
    /// subjectKeyIdentifier
    EXT_SKI = "2.5.29.14";
    /// keyUsage
    EXT_KEY_USAGE = "2.5.29.15";
    /// subjectAltName
    EXT_SAN = "2.5.29.17";
    /// issuerAltName
    EXT_IAN = "2.5.29.18";
    /// basicConstraints
    EXT_BASIC_CONSTRAINTS = "2.5.29.19";
    /// cRLNumber
    EXT_CRL_NUMBER = "2.5.29.20";
    /// reasonCode (CRL entry)
    EXT_CRL_REASON = "2.5.29.21";
    /// invalidityDate (CRL entry)
    EXT_INVALIDITY_DATE = "2.5.29.24";
    /// deltaCRLIndicator
    EXT_DELTA_CRL_INDICATOR = "2.5.29.27";
    /// issuingDistributionPoint
    EXT_ISSUING_DISTRIBUTION_POINT = "2.5.29.28";
    /// certificateIssuer (CRL entry)
    EXT_CERTIFICATE_ISSUER = "2.5.29.29";
    /// nameConstraints
    EXT_NAME_CONSTRAINTS = "2.5.29.30";
    /// cRLDistributionPoints
    EXT_CRL_DP = "2.5.29.31";
    /// certificatePolicies
    EXT_CERTIFICATE_POLICIES = "2.5.29.32";
    /// policyMappings
    EXT_POLICY_MAPPINGS = "2.5.29.33";
    /// authorityKeyIdentifier
    EXT_AKI = "2.5.29.35";
    /// policyConstraints
    EXT_POLICY_CONSTRAINTS = "2.5.29.36";
    /// extKeyUsage
    EXT_EXT_KEY_USAGE = "2.5.29.37";
    /// freshestCRL
    EXT_FRESHEST_CRL = "2.5.29.46";
    /// inhibitAnyPolicy
    EXT_INHIBIT_ANY_POLICY = "2.5.29.54";
    /// authorityInfoAccess
    EXT_AIA = "1.3.6.1.5.5.7.1.1";
    /// subjectInfoAccess
    EXT_SIA = "1.3.6.1.5.5.7.1.11";
    /// qcStatements
    EXT_QC_STATEMENTS = "1.3.6.1.5.5.7.1.3";
    /// id-pkix-ocsp-nocheck
    EXT_OCSP_NOCHECK = "1.3.6.1.5.5.7.48.1.5";
    /// id-pkix-ocsp-nonce
    EXT_OCSP_NONCE = "1.3.6.1.5.5.7.48.1.2";
    /// Netscape certificate type (legacy, ignorable)
    EXT_NETSCAPE_CERT_TYPE = "2.16.840.1.113730.1.1";
    /// Microsoft certificate template name (legacy)
    EXT_MS_CERT_TEMPLATE_NAME = "1.3.6.1.4.1.311.20.2";
    /// Microsoft CA version
    EXT_MS_CA_VERSION = "1.3.6.1.4.1.311.21.1";
    /// Microsoft certificate template information
    EXT_MS_CERT_TEMPLATE = "1.3.6.1.4.1.311.21.7";
    /// Microsoft application policies
    EXT_MS_APP_POLICIES = "1.3.6.1.4.1.311.21.10";
    // Access methods.
    /// id-ad-ocsp
    AD_OCSP = "1.3.6.1.5.5.7.48.1";
    /// id-pkix-ocsp-basic (RFC 6960 §4.2.1)
    OCSP_BASIC = "1.3.6.1.5.5.7.48.1.1";
    /// id-ad-caIssuers
    AD_CA_ISSUERS = "1.3.6.1.5.5.7.48.2";
    // Extended key usages.
    /// anyExtendedKeyUsage
    EKU_ANY = "2.5.29.37.0";
    /// id-kp-serverAuth
    EKU_SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
    /// id-kp-clientAuth
    EKU_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
    /// id-kp-codeSigning
    EKU_CODE_SIGNING = "1.3.6.1.5.5.7.3.3";
    /// id-kp-emailProtection
    EKU_EMAIL_PROTECTION = "1.3.6.1.5.5.7.3.4";
    /// id-kp-timeStamping
    EKU_TIME_STAMPING = "1.3.6.1.5.5.7.3.8";
    /// id-kp-OCSPSigning
    EKU_OCSP_SIGNING = "1.3.6.1.5.5.7.3.9";
    /// id-kp-documentSigning (RFC 9336)
    EKU_DOCUMENT_SIGNING = "1.3.6.1.5.5.7.3.36";
    /// Microsoft document signing
    EKU_MS_DOCUMENT_SIGNING = "1.3.6.1.4.1.311.10.3.12";
    /// Adobe authentic documents trust
    EKU_ADOBE_AUTHENTIC_DOCUMENTS = "1.2.840.113583.1.1.5";
    // Policies.
    /// anyPolicy
    ANY_POLICY = "2.5.29.32.0";
    /// Vietnamese Government CA policy (Ban Cơ yếu Chính phủ)
    POLICY_VGCA = "2.16.704.1.1.1.1.1";
}
