//! Certification path building and validation (RFC 5280 §6.1) at a given time.
//!
//! Building explores candidate issuers depth-first (trust anchors first, then intermediates
//! whose key identifiers agree), within a depth limit and a budget of signature checks, so
//! cross-certificates and several intermediates with the same name are handled. Every complete
//! candidate path is validated; the first valid one wins, and when none is valid the most
//! specific failure is reported (a path that reached a trust anchor beats one that did not).
//!
//! Validation covers: signatures (with the algorithm policy), name chaining, validity at the
//! validation time, basicConstraints and pathLenConstraint, keyUsage keyCertSign, name
//! constraints (directoryName, rfc822Name, dNSName), certificate policies (policy mappings,
//! requireExplicitPolicy, inhibitPolicyMapping, inhibitAnyPolicy), unknown critical extensions,
//! and the end-entity purpose (document signing, OCSP signing, time stamping). Revocation is
//! checked separately (`revocation`), on the path this returns.

use crate::cert::{Certificate, KeyUsage};
use crate::crypto::{AlgorithmPolicy, VerifyError};
use crate::oid;
use crate::trust::CertPool;
use const_oid::ObjectIdentifier;
use std::collections::{HashMap, HashSet};
use time::OffsetDateTime;
use x509_cert::ext::pkix::name::GeneralName;

/// What the end-entity certificate must be good for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Purpose {
    /// Signing documents: keyUsage digitalSignature or nonRepudiation; an EKU, when present,
    /// allowing document signing (emailProtection, documentSigning, Microsoft/Adobe document
    /// signing, clientAuth as Vietnamese CAs issue, or anyExtendedKeyUsage).
    DocumentSigning,
    /// A delegated OCSP responder (id-kp-OCSPSigning).
    OcspSigning,
    /// A time-stamping authority (the only EKU is a critical id-kp-timeStamping).
    TimeStamping,
    /// No purpose check.
    Any,
}

/// Options for one validation.
#[derive(Clone, Debug)]
pub struct ValidationOptions {
    /// The time at which the path must be valid.
    pub time: OffsetDateTime,
    /// What the end entity is for.
    pub purpose: Purpose,
    /// Algorithm policy.
    pub algorithms: AlgorithmPolicy,
    /// Longest path, anchor included.
    pub max_depth: usize,
    /// Most signature verifications one build may spend.
    pub max_signature_checks: usize,
    /// user-initial-policy-set (empty: any policy).
    pub initial_policies: Vec<ObjectIdentifier>,
    /// initial-explicit-policy.
    pub require_explicit_policy: bool,
}

impl ValidationOptions {
    /// Defaults at `time` for `purpose`.
    pub fn new(time: OffsetDateTime, purpose: Purpose) -> Self {
        Self {
            time,
            purpose,
            algorithms: AlgorithmPolicy::default(),
            max_depth: 8,
            max_signature_checks: 64,
            initial_policies: Vec::new(),
            require_explicit_policy: false,
        }
    }
}

/// Why a path is not valid. Each variant names the certificate concerned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// No issuer certificate was found.
    #[error("no issuer certificate was found for \"{subject}\" (issuer \"{issuer}\"); supply the intermediate certificates or check the trust anchors")]
    NoIssuer {
        /// The certificate without an issuer.
        subject: String,
        /// Its issuer name.
        issuer: String,
    },
    /// The chain ends in a self-signed certificate that is not trusted.
    #[error("the chain ends at \"{subject}\", which is not a trusted root")]
    UntrustedRoot {
        /// The root's subject.
        subject: String,
    },
    /// Expired at the validation time.
    #[error("certificate \"{subject}\" expired on {not_after} (checked at {at})")]
    Expired {
        /// Subject.
        subject: String,
        /// notAfter (Vietnam time).
        not_after: String,
        /// Validation time (Vietnam time).
        at: String,
    },
    /// Not yet valid at the validation time.
    #[error("certificate \"{subject}\" is not valid before {not_before} (checked at {at})")]
    NotYetValid {
        /// Subject.
        subject: String,
        /// notBefore (Vietnam time).
        not_before: String,
        /// Validation time (Vietnam time).
        at: String,
    },
    /// A signature in the chain does not verify.
    #[error("the signature on certificate \"{subject}\" is invalid: {reason}")]
    BadSignature {
        /// Subject.
        subject: String,
        /// Why.
        reason: VerifyError,
    },
    /// An algorithm or key size is refused by policy.
    #[error("certificate \"{subject}\" uses a refused algorithm: {reason}")]
    AlgorithmRefused {
        /// Subject.
        subject: String,
        /// Why.
        reason: VerifyError,
    },
    /// An issuing certificate is not a CA.
    #[error("certificate \"{subject}\" issued another certificate but is not a CA (basicConstraints cA is not set)")]
    NotCa {
        /// Subject.
        subject: String,
    },
    /// pathLenConstraint exceeded.
    #[error("the path is too long for the path length constraint of an issuer of \"{subject}\"")]
    PathLenExceeded {
        /// Subject of the certificate that exceeded it.
        subject: String,
    },
    /// An issuer lacks keyCertSign.
    #[error("certificate \"{subject}\" is not allowed to sign certificates (keyUsage lacks keyCertSign)")]
    NoKeyCertSign {
        /// Subject.
        subject: String,
    },
    /// An unknown critical extension.
    #[error("certificate \"{subject}\" has a critical extension {oid} that is not understood")]
    UnknownCriticalExtension {
        /// Subject.
        subject: String,
        /// The extension.
        oid: String,
    },
    /// A malformed or duplicated extension.
    #[error("certificate \"{subject}\" has a malformed extension {oid}: {reason}")]
    MalformedExtension {
        /// Subject.
        subject: String,
        /// The extension.
        oid: String,
        /// Why.
        reason: String,
    },
    /// A name outside the issuer's name constraints.
    #[error("certificate \"{subject}\" violates the name constraints of its issuers ({detail})")]
    NameConstraints {
        /// Subject.
        subject: String,
        /// Which name.
        detail: String,
    },
    /// Policy processing failed.
    #[error("no acceptable certificate policy holds for the path ending at \"{subject}\"")]
    Policy {
        /// Subject of the end entity.
        subject: String,
    },
    /// The end entity may not be used for this purpose.
    #[error("certificate \"{subject}\" may not be used for {purpose}: {detail}")]
    WrongPurpose {
        /// Subject.
        subject: String,
        /// Purpose.
        purpose: &'static str,
        /// What is missing.
        detail: String,
    },
    /// The search budget ran out.
    #[error("path building gave up after {0} signature checks (too many candidate certificates)")]
    BudgetExhausted(usize),
}

impl PathError {
    /// The ETSI EN 319 102-1 sub-indication this failure maps to.
    pub fn sub_indication(&self) -> &'static str {
        match self {
            Self::NoIssuer { .. } | Self::UntrustedRoot { .. } => "NO_CERTIFICATE_CHAIN_FOUND",
            Self::Expired { .. } => "EXPIRED",
            Self::NotYetValid { .. } => "NOT_YET_VALID",
            Self::BadSignature { .. } => "SIG_CRYPTO_FAILURE",
            Self::AlgorithmRefused { .. } => "CRYPTO_CONSTRAINTS_FAILURE",
            Self::BudgetExhausted(_) => "CERTIFICATE_CHAIN_GENERAL_FAILURE",
            _ => "CHAIN_CONSTRAINTS_FAILURE",
        }
    }

    /// Whether this failure is definitive (the certificate is invalid) rather than
    /// indeterminate (more information could make it valid).
    pub fn is_definitive(&self) -> bool {
        !matches!(
            self,
            Self::NoIssuer { .. } | Self::UntrustedRoot { .. } | Self::BudgetExhausted(_)
        )
    }

    fn rank(&self) -> u8 {
        match self {
            Self::BudgetExhausted(_) => 0,
            Self::NoIssuer { .. } => 1,
            Self::UntrustedRoot { .. } => 2,
            _ => 3,
        }
    }
}

/// A valid path.
#[derive(Clone, Debug)]
pub struct ValidPath {
    /// The certificates, end entity first, trust anchor last.
    pub certs: Vec<Certificate>,
    /// Warnings (weak algorithms, ...).
    pub warnings: Vec<String>,
    /// The policies valid for the path (empty when no policy processing result applies).
    pub policies: Vec<ObjectIdentifier>,
    /// Signature checks spent.
    pub signature_checks: usize,
}

/// A failed validation: the best failure and the path it was found on.
#[derive(Clone, Debug)]
pub struct PathFailure {
    /// The most specific error.
    pub error: PathError,
    /// The (partial) path where it was found, end entity first.
    pub path: Vec<Certificate>,
}

type SigCheck = Result<Vec<String>, PathError>;

/// Certificate signature checks kept across path validations: a verification that validates
/// the same chain at several times (one per signature of a document) checks each certificate's
/// signature once. The result of checking a certificate's signature with an issuer's key
/// depends only on the two certificates (by their exact DER) and the algorithm policy, not on
/// the time; checks made under another policy are forgotten.
#[derive(Debug, Default)]
pub struct SignatureChecks {
    policy: Option<AlgorithmPolicy>,
    /// (child SHA-256, issuer SHA-256) -> result of the signature check.
    done: HashMap<([u8; 32], [u8; 32]), SigCheck>,
}

struct Search<'a> {
    anchors: &'a CertPool,
    pool: &'a CertPool,
    opts: &'a ValidationOptions,
    checks: usize,
    sig_cache: &'a mut HashMap<([u8; 32], [u8; 32]), SigCheck>,
    best: Option<PathFailure>,
}

/// Builds and validates a path from `leaf` to one of `anchors`, using `intermediates`.
pub fn validate(
    leaf: &Certificate,
    intermediates: &CertPool,
    anchors: &CertPool,
    opts: &ValidationOptions,
) -> Result<ValidPath, PathFailure> {
    validate_with(
        leaf,
        intermediates,
        anchors,
        opts,
        &mut SignatureChecks::default(),
    )
}

/// [`validate`], reusing (and adding to) the certificate signature checks in `checks`.
pub fn validate_with(
    leaf: &Certificate,
    intermediates: &CertPool,
    anchors: &CertPool,
    opts: &ValidationOptions,
    checks: &mut SignatureChecks,
) -> Result<ValidPath, PathFailure> {
    if checks.policy.as_ref() != Some(&opts.algorithms) {
        checks.done.clear();
        checks.policy = Some(opts.algorithms.clone());
    }
    let mut s = Search {
        anchors,
        pool: intermediates,
        opts,
        checks: 0,
        sig_cache: &mut checks.done,
        best: None,
    };
    // A trusted end-entity certificate is its own path.
    if anchors.contains(leaf) {
        let path = vec![leaf.clone()];
        match s.check_path(&path) {
            Ok(v) => return Ok(v),
            Err(e) => s.record(e, &path),
        }
    }
    let mut path = vec![leaf.clone()];
    if let Some(ok) = s.extend(&mut path) {
        return Ok(ok);
    }
    Err(s.best.unwrap_or(PathFailure {
        error: PathError::NoIssuer {
            subject: leaf.subject().to_string(),
            issuer: leaf.issuer().to_string(),
        },
        path: vec![leaf.clone()],
    }))
}

impl Search<'_> {
    fn record(&mut self, error: PathError, path: &[Certificate]) {
        let better = match &self.best {
            None => true,
            Some(b) => (error.rank(), path.len()) > (b.error.rank(), b.path.len()),
        };
        if better {
            self.best = Some(PathFailure {
                error,
                path: path.to_vec(),
            });
        }
    }

    fn candidates<'p>(&'p self, cur: &Certificate, from: &'p CertPool) -> Vec<&'p Certificate> {
        let aki = cur.extensions().authority_key_id.as_deref();
        let mut v: Vec<&Certificate> = from
            .issuers_of(cur)
            .filter(|c| match (aki, c.extensions().subject_key_id.as_deref()) {
                (Some(a), Some(s)) => a == s,
                _ => true,
            })
            .collect();
        // Prefer issuers valid now, then the most recently issued.
        let t = self.opts.time;
        v.sort_by_key(|c| (!c.valid_at(t), std::cmp::Reverse(c.not_before())));
        v
    }

    fn extend(&mut self, path: &mut Vec<Certificate>) -> Option<ValidPath> {
        let cur = path.last()?.clone();
        let anchors: Vec<Certificate> = self
            .candidates(&cur, self.anchors)
            .into_iter()
            .cloned()
            .collect();
        let inters: Vec<Certificate> = self
            .candidates(&cur, self.pool)
            .into_iter()
            .filter(|c| !self.anchors.contains(c))
            .cloned()
            .collect();
        let mut any = false;
        for a in anchors {
            if path.contains(&a) && path.len() > 1 {
                continue;
            }
            if self.checks >= self.opts.max_signature_checks {
                self.record(PathError::BudgetExhausted(self.checks), path);
                return None;
            }
            any = true;
            path.push(a);
            let r = self.check_path(path);
            match r {
                Ok(v) => return Some(v),
                Err(e) => self.record(e, path),
            }
            path.pop();
        }
        if path.len() < self.opts.max_depth {
            for c in inters {
                if path.contains(&c) {
                    continue;
                }
                if self.checks >= self.opts.max_signature_checks {
                    self.record(PathError::BudgetExhausted(self.checks), path);
                    return None;
                }
                any = true;
                // Check the link before descending, so a bad candidate costs one check.
                if let Err(e) = self.check_signature(&cur, &c) {
                    path.push(c);
                    self.record(e, path);
                    path.pop();
                    continue;
                }
                path.push(c);
                if let Some(v) = self.extend(path) {
                    return Some(v);
                }
                path.pop();
            }
        }
        if !any {
            let err = if cur.is_self_issued() && crypto_self_signed(&cur) {
                PathError::UntrustedRoot {
                    subject: cur.subject().to_string(),
                }
            } else {
                PathError::NoIssuer {
                    subject: cur.subject().to_string(),
                    issuer: cur.issuer().to_string(),
                }
            };
            self.record(err, path);
        }
        None
    }

    fn check_signature(
        &mut self,
        child: &Certificate,
        issuer: &Certificate,
    ) -> Result<Vec<String>, PathError> {
        let key = (*child.sha256(), *issuer.sha256());
        if let Some(r) = self.sig_cache.get(&key) {
            return r.clone();
        }
        self.checks += 1;
        let subject = child.subject().to_string();
        let r = if child.signature_algorithm() != child.tbs_signature_algorithm() {
            Err(PathError::BadSignature {
                subject,
                reason: VerifyError::UnsupportedAlgorithm(
                    "the inner and outer signature algorithms differ".into(),
                ),
            })
        } else {
            issuer
                .verify_signed(
                    child.signature_algorithm(),
                    child.tbs(),
                    child.signature(),
                    &self.opts.algorithms,
                )
                .map(|n| {
                    n.weak
                        .into_iter()
                        .map(|w| format!("{subject}: {w}"))
                        .collect()
                })
                .map_err(|reason| match reason {
                    VerifyError::Forbidden(_) => PathError::AlgorithmRefused { subject, reason },
                    reason => PathError::BadSignature { subject, reason },
                })
        };
        self.sig_cache.insert(key, r.clone());
        r
    }

    /// RFC 5280 §6.1 over `path` (end entity first, anchor last).
    fn check_path(&mut self, path: &[Certificate]) -> Result<ValidPath, PathError> {
        let opts = self.opts;
        let n = path.len() - 1; // certificates below the anchor
        let mut warnings = Vec::new();
        if n == 0 {
            // The end entity is itself trusted.
            check_validity(&path[0], opts.time)?;
            check_purpose(&path[0], opts.purpose)?;
            return Ok(ValidPath {
                certs: path.to_vec(),
                warnings,
                policies: Vec::new(),
                signature_checks: self.checks,
            });
        }
        let mut max_path_len = n;
        let mut explicit_policy = if opts.require_explicit_policy {
            0
        } else {
            n + 1
        };
        let mut inhibit_any = n + 1;
        let mut policy_mapping = n + 1;
        let mut policies = Some(PolicyState::initial());
        let mut nc = NameConstraintState::default();
        // Process from the certificate just below the anchor down to the end entity.
        for i in 1..=n {
            let cert = &path[n - i];
            let issuer = &path[n - i + 1];
            let last = i == n;
            let subject = || cert.subject().to_string();
            warnings.extend(self.check_signature(cert, issuer)?);
            check_validity(cert, opts.time)?;
            if let Some((o, reason)) = cert.extensions().malformed.first() {
                return Err(PathError::MalformedExtension {
                    subject: subject(),
                    oid: o.to_string(),
                    reason: reason.clone(),
                });
            }
            if let Some(o) = cert.extensions().unknown_critical.first() {
                return Err(PathError::UnknownCriticalExtension {
                    subject: subject(),
                    oid: o.to_string(),
                });
            }
            if !cert.is_self_issued() || last {
                nc.check(cert)?;
            }
            // Policies (§6.1.3 d-f).
            let self_issued_inter = cert.is_self_issued() && !last;
            policies = match (policies, &cert.extensions().policies) {
                (Some(state), Some(cps)) => {
                    let any_allowed = inhibit_any > 0 || self_issued_inter;
                    let next = state.process(cps, any_allowed);
                    (!next.is_empty()).then_some(next)
                }
                _ => None,
            };
            if explicit_policy == 0 && policies.is_none() {
                return Err(PathError::Policy { subject: subject() });
            }
            if last {
                explicit_policy = explicit_policy.saturating_sub(1);
                if let Some((Some(0), _)) = cert.extensions().policy_constraints {
                    explicit_policy = 0;
                }
                check_purpose(cert, opts.purpose)?;
            } else {
                // Preparation for the next certificate (§6.1.4).
                if let Some(maps) = &cert.extensions().policy_mappings {
                    if maps
                        .iter()
                        .any(|(a, b)| *a == oid::ANY_POLICY || *b == oid::ANY_POLICY)
                    {
                        return Err(PathError::Policy { subject: subject() });
                    }
                    if let Some(p) = policies.as_mut() {
                        p.map(maps, policy_mapping > 0);
                    }
                }
                nc.add(cert);
                if !cert.is_self_issued() {
                    explicit_policy = explicit_policy.saturating_sub(1);
                    policy_mapping = policy_mapping.saturating_sub(1);
                    inhibit_any = inhibit_any.saturating_sub(1);
                }
                if let Some((rep, ipm)) = cert.extensions().policy_constraints {
                    if let Some(r) = rep {
                        explicit_policy = explicit_policy.min(r as usize);
                    }
                    if let Some(m) = ipm {
                        policy_mapping = policy_mapping.min(m as usize);
                    }
                }
                if let Some(ia) = cert.extensions().inhibit_any_policy {
                    inhibit_any = inhibit_any.min(ia as usize);
                }
                let bc = cert.extensions().basic_constraints;
                if !bc.is_some_and(|b| b.ca) {
                    return Err(PathError::NotCa { subject: subject() });
                }
                if !cert.is_self_issued() {
                    if max_path_len == 0 {
                        return Err(PathError::PathLenExceeded {
                            subject: path[n - i - 1].subject().to_string(),
                        });
                    }
                    max_path_len -= 1;
                }
                if let Some(pl) = bc.and_then(|b| b.path_len) {
                    max_path_len = max_path_len.min(pl as usize);
                }
                if let Some(ku) = cert.extensions().key_usage {
                    if !ku.has(KeyUsage::KEY_CERT_SIGN) {
                        return Err(PathError::NoKeyCertSign { subject: subject() });
                    }
                }
            }
        }
        // The anchor's own pathLenConstraint and name constraints are not applied (RFC 5280
        // treats an anchor as a name and key); its CA-ness is what made us trust it.
        let ee_subject = path[0].subject().to_string();
        let valid_policies = match policies {
            Some(p) => p.finish(&opts.initial_policies),
            None => Vec::new(),
        };
        let policy_ok =
            !valid_policies.is_empty() || (explicit_policy > 0 && opts.initial_policies.is_empty());
        if explicit_policy == 0 && valid_policies.is_empty() {
            return Err(PathError::Policy {
                subject: ee_subject,
            });
        }
        if !opts.initial_policies.is_empty() && valid_policies.is_empty() {
            return Err(PathError::Policy {
                subject: ee_subject,
            });
        }
        let _ = policy_ok;
        Ok(ValidPath {
            certs: path.to_vec(),
            warnings,
            policies: valid_policies,
            signature_checks: self.checks,
        })
    }
}

fn crypto_self_signed(c: &Certificate) -> bool {
    c.verify_signed(
        c.signature_algorithm(),
        c.tbs(),
        c.signature(),
        &AlgorithmPolicy::default(),
    )
    .is_ok()
}

fn check_validity(cert: &Certificate, at: OffsetDateTime) -> Result<(), PathError> {
    if at < cert.not_before() {
        return Err(PathError::NotYetValid {
            subject: cert.subject().to_string(),
            not_before: crate::time::vietnam(cert.not_before()),
            at: crate::time::vietnam(at),
        });
    }
    if at > cert.not_after() {
        return Err(PathError::Expired {
            subject: cert.subject().to_string(),
            not_after: crate::time::vietnam(cert.not_after()),
            at: crate::time::vietnam(at),
        });
    }
    Ok(())
}

/// Checks the end-entity purpose.
pub fn check_purpose(cert: &Certificate, purpose: Purpose) -> Result<(), PathError> {
    let ext = cert.extensions();
    let wrong = |purpose: &'static str, detail: &str| PathError::WrongPurpose {
        subject: cert.subject().to_string(),
        purpose,
        detail: detail.into(),
    };
    match purpose {
        Purpose::Any => Ok(()),
        Purpose::DocumentSigning => {
            if let Some(ku) = ext.key_usage {
                if !ku.has(KeyUsage::DIGITAL_SIGNATURE) && !ku.has(KeyUsage::NON_REPUDIATION) {
                    return Err(wrong(
                        "signing documents",
                        "keyUsage has neither digitalSignature nor nonRepudiation",
                    ));
                }
            }
            if let Some(eku) = &ext.ext_key_usage {
                const OK: [ObjectIdentifier; 6] = [
                    oid::EKU_ANY,
                    oid::EKU_EMAIL_PROTECTION,
                    oid::EKU_DOCUMENT_SIGNING,
                    oid::EKU_MS_DOCUMENT_SIGNING,
                    oid::EKU_ADOBE_AUTHENTIC_DOCUMENTS,
                    oid::EKU_CLIENT_AUTH,
                ];
                if !eku.iter().any(|o| OK.contains(o)) {
                    return Err(wrong(
                        "signing documents",
                        "extendedKeyUsage does not allow document signing",
                    ));
                }
            }
            Ok(())
        }
        Purpose::OcspSigning => {
            if !ext
                .ext_key_usage
                .as_ref()
                .is_some_and(|e| e.contains(&oid::EKU_OCSP_SIGNING))
            {
                return Err(wrong(
                    "signing OCSP responses",
                    "extendedKeyUsage lacks id-kp-OCSPSigning",
                ));
            }
            Ok(())
        }
        Purpose::TimeStamping => {
            let critical = cert
                .raw_extensions()
                .iter()
                .any(|e| e.oid == oid::EXT_EXT_KEY_USAGE && e.critical);
            match &ext.ext_key_usage {
                Some(e) if e.as_slice() == [oid::EKU_TIME_STAMPING] && critical => Ok(()),
                _ => Err(wrong(
                    "time-stamping",
                    "the only extendedKeyUsage must be a critical id-kp-timeStamping",
                )),
            }
        }
    }
}

/// The valid_policy_tree of RFC 5280 §6.1.2, kept as its leaves: (valid policy,
/// expected policy set). Sufficient for the checks this project needs (no qualifiers).
#[derive(Clone, Debug)]
struct PolicyState {
    nodes: Vec<(ObjectIdentifier, HashSet<ObjectIdentifier>)>,
}

impl PolicyState {
    fn initial() -> Self {
        Self {
            nodes: vec![(oid::ANY_POLICY, HashSet::from([oid::ANY_POLICY]))],
        }
    }

    fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// §6.1.3 (d): children for the policies `cps` the certificate asserts.
    fn process(&self, cps: &[ObjectIdentifier], any_allowed: bool) -> Self {
        let mut out: Vec<(ObjectIdentifier, HashSet<ObjectIdentifier>)> = Vec::new();
        let push = |out: &mut Vec<(ObjectIdentifier, HashSet<ObjectIdentifier>)>,
                    p: ObjectIdentifier| {
            if !out.iter().any(|(v, _)| *v == p) {
                out.push((p, HashSet::from([p])));
            }
        };
        for p in cps.iter().filter(|p| **p != oid::ANY_POLICY) {
            let matched = self.nodes.iter().any(|(_, exp)| exp.contains(p));
            if matched || self.nodes.iter().any(|(v, _)| *v == oid::ANY_POLICY) {
                push(&mut out, *p);
            }
        }
        if cps.contains(&oid::ANY_POLICY) && any_allowed {
            for (v, exp) in &self.nodes {
                if *v == oid::ANY_POLICY {
                    push(&mut out, oid::ANY_POLICY);
                } else {
                    for e in exp {
                        push(&mut out, *e);
                    }
                }
            }
        }
        Self { nodes: out }
    }

    /// §6.1.4 (b): apply policy mappings (or delete mapped policies when mapping is inhibited).
    fn map(&mut self, maps: &[(ObjectIdentifier, ObjectIdentifier)], allowed: bool) {
        if allowed {
            let has_any = self.nodes.iter().any(|(v, _)| *v == oid::ANY_POLICY);
            let mut issuer_domains: Vec<ObjectIdentifier> = maps.iter().map(|(a, _)| *a).collect();
            issuer_domains.dedup();
            for idp in issuer_domains {
                let targets: HashSet<ObjectIdentifier> = maps
                    .iter()
                    .filter(|(a, _)| *a == idp)
                    .map(|(_, b)| *b)
                    .collect();
                if let Some(node) = self.nodes.iter_mut().find(|(v, _)| *v == idp) {
                    node.1 = targets;
                } else if has_any {
                    self.nodes.push((idp, targets));
                }
            }
        } else {
            self.nodes
                .retain(|(v, _)| !maps.iter().any(|(a, _)| a == v));
        }
    }

    /// §6.1.5 (g): the policies valid for the path, intersected with the user's set.
    fn finish(self, initial: &[ObjectIdentifier]) -> Vec<ObjectIdentifier> {
        let valid: Vec<ObjectIdentifier> = self.nodes.into_iter().map(|(v, _)| v).collect();
        if initial.is_empty() || initial.contains(&oid::ANY_POLICY) {
            return valid;
        }
        if valid.contains(&oid::ANY_POLICY) {
            return initial.to_vec();
        }
        valid.into_iter().filter(|v| initial.contains(v)).collect()
    }
}

/// Accumulated name constraints (§6.1.4 g): every permitted group must admit a name of the
/// types it constrains; no excluded subtree may contain one.
#[derive(Clone, Debug, Default)]
struct NameConstraintState {
    permitted: Vec<Vec<GeneralName>>,
    excluded: Vec<GeneralName>,
}

impl NameConstraintState {
    fn add(&mut self, cert: &Certificate) {
        if let Some(nc) = &cert.extensions().name_constraints {
            if let Some(p) = &nc.permitted_subtrees {
                self.permitted
                    .push(p.iter().map(|s| s.base.clone()).collect());
            }
            if let Some(e) = &nc.excluded_subtrees {
                self.excluded.extend(e.iter().map(|s| s.base.clone()));
            }
        }
    }

    fn check(&self, cert: &Certificate) -> Result<(), PathError> {
        if self.permitted.is_empty() && self.excluded.is_empty() {
            return Ok(());
        }
        let mut names: Vec<Subject> = Vec::new();
        if !cert.subject().is_empty() {
            names.push(Subject::Dn(cert.subject()));
        }
        for a in cert.subject().attributes() {
            if a.oid == oid::AT_EMAIL {
                names.push(Subject::Email(a.value.clone()));
            }
        }
        for g in &cert.extensions().subject_alt_names {
            match g {
                GeneralName::Rfc822Name(e) => names.push(Subject::Email(e.to_string())),
                GeneralName::DnsName(d) => names.push(Subject::Dns(d.to_string())),
                GeneralName::DirectoryName(n) => {
                    if let Ok(der) = der::Encode::to_der(n) {
                        if let Ok(n) = crate::name::Name::from_der(&der) {
                            names.push(Subject::OwnedDn(n));
                        }
                    }
                }
                _ => {}
            }
        }
        let fail = |detail: String| PathError::NameConstraints {
            subject: cert.subject().to_string(),
            detail,
        };
        for name in &names {
            for ex in &self.excluded {
                if name.within(ex) == Some(true) {
                    return Err(fail(format!("{} is excluded", name.describe())));
                }
            }
            for group in &self.permitted {
                let relevant: Vec<&GeneralName> =
                    group.iter().filter(|g| name.within(g).is_some()).collect();
                if !relevant.is_empty() && !relevant.iter().any(|g| name.within(g) == Some(true)) {
                    return Err(fail(format!("{} is not permitted", name.describe())));
                }
            }
        }
        Ok(())
    }
}

enum Subject<'a> {
    Dn(&'a crate::name::Name),
    OwnedDn(crate::name::Name),
    Email(String),
    Dns(String),
}

impl Subject<'_> {
    fn describe(&self) -> String {
        match self {
            Subject::Dn(n) => format!("the name \"{n}\""),
            Subject::OwnedDn(n) => format!("the name \"{n}\""),
            Subject::Email(e) => format!("the e-mail address {e}"),
            Subject::Dns(d) => format!("the DNS name {d}"),
        }
    }

    /// `Some(true)` inside the subtree, `Some(false)` outside, `None` when the subtree is of
    /// another name type.
    fn within(&self, base: &GeneralName) -> Option<bool> {
        match (self, base) {
            (Subject::Dn(n), GeneralName::DirectoryName(b)) => Some(dn_within(n, b)),
            (Subject::OwnedDn(n), GeneralName::DirectoryName(b)) => Some(dn_within(n, b)),
            (Subject::Email(e), GeneralName::Rfc822Name(b)) => Some(email_within(e, b.as_ref())),
            (Subject::Dns(d), GeneralName::DnsName(b)) => Some(dns_within(d, b.as_ref())),
            _ => None,
        }
    }
}

fn dn_within(n: &crate::name::Name, base: &x509_cert::name::Name) -> bool {
    let Ok(der) = der::Encode::to_der(base) else {
        return false;
    };
    let Ok(base) = crate::name::Name::from_der(&der) else {
        return false;
    };
    if base.rdns.len() > n.rdns.len() {
        return false;
    }
    let key = |rdns: &[Vec<crate::name::Attribute>]| {
        crate::name::Name {
            rdns: rdns.to_vec(),
        }
        .match_key()
    };
    key(&n.rdns[..base.rdns.len()]) == key(&base.rdns)
}

fn email_within(email: &str, base: &str) -> bool {
    let email = email.to_ascii_lowercase();
    let base = base.to_ascii_lowercase();
    if base.contains('@') {
        return email == base;
    }
    let Some((_, host)) = email.rsplit_once('@') else {
        return false;
    };
    if let Some(domain) = base.strip_prefix('.') {
        host.ends_with(&format!(".{domain}"))
    } else {
        host == base
    }
}

fn dns_within(name: &str, base: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let base = base.trim_start_matches('.').to_ascii_lowercase();
    base.is_empty() || name == base || name.ends_with(&format!(".{base}"))
}
