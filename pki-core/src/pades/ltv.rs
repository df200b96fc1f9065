//! PAdES B-LT and B-LTA (ETSI EN 319 142-1 §5.4-5.5): a Document Security Store (ISO 32000-2
//! §12.8.4.3) with the certificates, OCSP responses and CRLs a verifier needs later, added in an
//! incremental update after the signature; and a document time-stamp (§12.8.5) over everything.
//!
//! Both are incremental updates, so every earlier signature keeps its bytes. Output is written to
//! a temporary file beside it and renamed; the input is only read.

use super::sign::PadesError;
use crate::fetch::Fetcher;
use crate::ltv::ValidationData;
use crate::pdf::object::{Dictionary, ObjRef, Object, Stream, StreamData};
use crate::pdf::reader::PdfReader;
use crate::pdf::sign::{self as pdfsign, SignError, SignatureOptions};
use crate::pdf::writer::IncrementalUpdate;
use crate::tsp::{self, Imprint, TimeStampReq, TimeStampToken};
use hsm::HashAlgorithm;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

/// Room for a document time-stamp token (a token with its chain runs 3-7 KiB).
pub const DOC_TIMESTAMP_RESERVE: usize = 16 * 1024;

/// The largest existing DSS stream read back to avoid storing an item twice.
const MAX_DSS_ITEM: usize = 64 << 20;

/// Adds `data` to the document's DSS (creating it, or extending the one there) in an
/// incremental update of `input` written to `output`. `vri_for` are the `/Contents` values
/// (padding included) of the signatures the data validates: each gets a `/VRI` entry keyed by the
/// SHA-1 of that value, as PAdES readers such as Adobe's look for. Items already in the DSS are
/// referenced, not copied again.
pub fn add_dss(
    input: &Path,
    output: &Path,
    data: &ValidationData,
    vri_for: &[&[u8]],
) -> Result<(), PadesError> {
    let mut reader = PdfReader::open(input).map_err(SignError::from)?;
    let mut update = IncrementalUpdate::new(&mut reader).map_err(SignError::from)?;
    let (root_ref, mut catalog) = reader.catalog().map_err(SignError::from)?;
    let dss_ref = catalog.get("DSS").and_then(Object::as_reference);
    let mut dss = match reader.get_in(&catalog, "DSS").map_err(SignError::from)? {
        Some(Object::Dictionary(d)) => d,
        _ => Dictionary::new(),
    };
    let certs: Vec<&[u8]> = data.certificates.iter().map(|c| c.der()).collect();
    let ocsps: Vec<&[u8]> = data.ocsp_responses.iter().map(Vec::as_slice).collect();
    let crls: Vec<&[u8]> = data.crls.iter().map(Vec::as_slice).collect();
    let mut vri_entry = Dictionary::new();
    for (key, vri_key, items) in [
        ("Certs", "Cert", certs),
        ("OCSPs", "OCSP", ocsps),
        ("CRLs", "CRL", crls),
    ] {
        let mut array = match reader.get_in(&dss, key).map_err(SignError::from)? {
            Some(Object::Array(a)) => a,
            _ => Vec::new(),
        };
        let mut present: Vec<([u8; 32], ObjRef)> = Vec::new();
        for r in array.iter().filter_map(Object::as_reference).take(100_000) {
            if let Ok(Object::Stream(s)) = reader.get(r) {
                if let Ok(bytes) = reader.decode_stream(r, &s, MAX_DSS_ITEM) {
                    present.push((sha256(&bytes), r));
                }
            }
        }
        let mut refs = Vec::new();
        for item in items {
            let h = sha256(item);
            let r = match present.iter().find(|(p, _)| *p == h) {
                Some((_, r)) => *r,
                None => {
                    let r = update.add(Object::Stream(Stream {
                        dict: Dictionary::new(),
                        data: StreamData::Bytes(item.to_vec()),
                    }));
                    array.push(r.into());
                    present.push((h, r));
                    r
                }
            };
            refs.push(Object::Reference(r));
        }
        if !array.is_empty() {
            dss.set(key, array);
        }
        if !refs.is_empty() {
            vri_entry.set(vri_key, refs);
        }
    }
    if !vri_for.is_empty() && !vri_entry.is_empty() {
        let mut vri = match reader.get_in(&dss, "VRI").map_err(SignError::from)? {
            Some(Object::Dictionary(d)) => d,
            _ => Dictionary::new(),
        };
        for contents in vri_for {
            let key = hex::encode_upper(aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
                contents,
            ));
            vri.set(&key, vri_entry.clone());
        }
        dss.set("VRI", vri);
    }
    match dss_ref {
        Some(r) => update.replace(r, dss),
        None => {
            let r = update.add(dss);
            catalog.set("DSS", r);
            update.replace(root_ref, catalog);
        }
    }
    let bytes = update.serialize().map_err(SignError::from)?.bytes;
    let base_len = reader.len();
    drop(reader);
    append_update(input, base_len, &bytes, output)?;
    Ok(())
}

/// Copies `input` (which must still be `base_len` bytes long) and `update` into a temporary
/// file beside `output`, then renames it to `output`.
fn append_update(
    input: &Path,
    base_len: u64,
    update: &[u8],
    output: &Path,
) -> Result<(), SignError> {
    let dir = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let (temp, mut out) = pdfsign::create_temp(dir, output)?;
    let result = (|| -> Result<(), SignError> {
        let mut src = File::open(input).map_err(pdfsign::io_err("cannot open", input))?;
        let copied = std::io::copy(&mut (&mut src).take(base_len + 1), &mut out)
            .map_err(pdfsign::io_err("cannot copy", input))?;
        if copied != base_len {
            return Err(SignError::InputChanged);
        }
        out.write_all(update)
            .and_then(|()| out.sync_all())
            .map_err(pdfsign::io_err("cannot write", &temp))?;
        drop(out);
        std::fs::rename(&temp, output).map_err(pdfsign::io_err("cannot rename to", output))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

fn sha256(b: &[u8]) -> [u8; 32] {
    let mut h = [0u8; 32];
    h.copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b).as_ref());
    h
}

/// Adds a document time-stamp (`/DocTimeStamp`, `/ETSI.RFC3161`) from the TSA at `tsa_url`
/// over the whole of `input`, written to `output`. Returns the token.
pub fn add_document_timestamp(
    input: &Path,
    output: &Path,
    hash: HashAlgorithm,
    tsa_url: &str,
    fetcher: &dyn Fetcher,
) -> Result<TimeStampToken, PadesError> {
    let opts = SignatureOptions {
        hash,
        ..SignatureOptions::doc_timestamp(DOC_TIMESTAMP_RESERVE)
    };
    let prepared = pdfsign::prepare(input, output, &opts)?;
    let result = (|| -> Result<TimeStampToken, PadesError> {
        let req = TimeStampReq::new(hash, prepared.digest.clone())?;
        let token = tsp::query(fetcher, tsa_url, &req)?.into_token()?;
        let check = token.validate(
            Imprint::Digest(&prepared.digest),
            req.nonce.as_deref(),
            &[],
            &Default::default(),
        )?;
        if !check.is_valid() {
            return Err(PadesError::Timestamp(check.problems().join("; ")));
        }
        pdfsign::finish(&prepared, &token.der)?;
        Ok(token)
    })();
    if result.is_err() {
        let _ = pdfsign::abort(&prepared);
    }
    result
}

/// The `/Contents` value as stored: the CMS followed by the zero padding of the reservation.
pub fn padded_contents(cms: &[u8], capacity: usize) -> Vec<u8> {
    let mut v = cms.to_vec();
    v.resize(capacity.max(cms.len()), 0);
    v
}

/// What [`extend_pdf`] did.
#[derive(Clone, Debug)]
pub struct Extended {
    /// The new document time-stamp's genTime.
    pub timestamp_time: time::OffsetDateTime,
    /// The document time-stamps already in the file whose validation data was added.
    pub renewed: usize,
    /// Signatures whose signer's validation data was added now (they had no `/VRI` entry).
    pub signers_added: usize,
    /// Signature time-stamps whose TSA's validation data was added now.
    pub signature_timestamps: usize,
    /// Validation data that could not be gathered for a signer or a signature time-stamp (the
    /// document was still re-stamped: what was there stays protected).
    pub warnings: Vec<String>,
}

/// When [`extend_pdf_with`] re-stamps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExtendWhen {
    /// Always (the `pki extend` default, decision 0027).
    Always,
    /// Only when the file has no document time-stamp yet, or the newest one's TSA certificate
    /// expires within `margin` of `now`, or that time-stamp uses SHA-1 (decision 0038).
    IfNeeded {
        /// How long before the TSA certificate's expiry a re-stamp is due.
        margin: time::Duration,
    },
}

/// What [`extend_pdf_with`] did.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ExtendOutcome {
    /// The output was written.
    Extended(Extended),
    /// Nothing was needed under [`ExtendWhen::IfNeeded`]; the output was not written.
    NotNeeded {
        /// The newest document time-stamp's genTime.
        last_timestamp: time::OffsetDateTime,
        /// When its TSA certificate expires.
        tsa_not_after: time::OffsetDateTime,
    },
}

/// Extends a signed PDF for the long term (ETSI EN 319 142-1 §5.5, ISO 32000-2 §12.8.4.3):
/// the validation data of every document time-stamp already in the file (the path of its TSA
/// and that path's revocation status, fetched now through `fetcher`) goes into the DSS, then a
/// new document time-stamp from the TSA at `tsa_url` covers everything, so the file stays
/// verifiable after the older time-stamps' TSA certificates expire or their algorithms weaken.
/// A B-LT file without a document time-stamp becomes B-LTA. `extra_certs` help complete paths.
/// Two incremental updates: every earlier byte is kept. The output is written atomically; the
/// input is only read. Always re-stamps: [`extend_pdf_with`] has the other policies.
pub fn extend_pdf(
    input: &Path,
    output: &Path,
    hash: HashAlgorithm,
    tsa_url: &str,
    fetcher: &dyn Fetcher,
    extra_certs: &[crate::cert::Certificate],
    now: time::OffsetDateTime,
) -> Result<Extended, PadesError> {
    match extend_pdf_with(
        input,
        output,
        hash,
        tsa_url,
        fetcher,
        extra_certs,
        now,
        ExtendWhen::Always,
    )? {
        ExtendOutcome::Extended(e) => Ok(e),
        ExtendOutcome::NotNeeded { .. } => Err(PadesError::Timestamp(
            "the document was not re-stamped".into(),
        )),
    }
}

/// SHA-1 (1.3.14.3.2.26) and sha1WithRSAEncryption (1.2.840.113549.1.1.5).
fn is_sha1(oid: &const_oid::ObjectIdentifier) -> bool {
    let s = oid.to_string();
    s == "1.3.14.3.2.26" || s == "1.2.840.113549.1.1.5"
}

/// The certificate that signed `sd` (its first signer), among the certificates it carries.
fn signer_cert(sd: &crate::cms::SignedData) -> Option<crate::cert::Certificate> {
    let certs = sd.parsed_certificates();
    let si = sd.signer_infos.first()?;
    certs
        .into_iter()
        .find(|c| crate::cms::sid_matches(&si.sid, c))
}

/// [`extend_pdf`] with a policy for when to re-stamp, and more validation data (decision
/// 0038): besides the document time-stamps' TSAs, the TSAs of the signatures' own time-stamps,
/// and the signers whose signatures have no `/VRI` entry in the DSS yet (signed at B-T by us
/// or by a tool that writes no DSS). Those extra items are gathered when their sources answer;
/// one that cannot be gathered (an expired signer whose CA no longer answers) becomes a
/// warning in [`Extended::warnings`], not an error: the new time-stamp still protects what
/// the file holds. The document time-stamps' data is required, as before.
#[expect(
    clippy::too_many_arguments,
    reason = "extend_pdf's arguments and the policy"
)]
pub fn extend_pdf_with(
    input: &Path,
    output: &Path,
    hash: HashAlgorithm,
    tsa_url: &str,
    fetcher: &dyn Fetcher,
    extra_certs: &[crate::cert::Certificate],
    now: time::OffsetDateTime,
    when: ExtendWhen,
) -> Result<ExtendOutcome, PadesError> {
    let mut reader = PdfReader::open(input).map_err(SignError::from)?;
    let fields = super::verify::signature_fields(&mut reader).map_err(SignError::from)?;
    let vri_keys: Vec<String> = {
        let (_, catalog) = reader.catalog().map_err(SignError::from)?;
        match reader.get_in(&catalog, "DSS").map_err(SignError::from)? {
            Some(Object::Dictionary(dss)) => {
                match reader.get_in(&dss, "VRI").map_err(SignError::from)? {
                    Some(Object::Dictionary(vri)) => vri
                        .iter()
                        .map(|(k, _)| String::from_utf8_lossy(&k.0).to_ascii_uppercase())
                        .collect(),
                    _ => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    };
    drop(reader);
    if fields.is_empty() {
        return Err(PadesError::NothingToExtend);
    }
    let mut tokens = Vec::new();
    let mut contents = Vec::new();
    let mut signatures = Vec::new();
    for f in &fields {
        let Some(c) = f
            .dict
            .get("Contents")
            .and_then(Object::as_string)
            .map(|s| s.0.clone())
        else {
            continue;
        };
        if f.dict.has_name("Type", "DocTimeStamp") {
            let token = TimeStampToken::from_der(&c).map_err(|e| {
                PadesError::Timestamp(format!(
                    "the document time-stamp {} is unreadable: {e}",
                    f.name
                ))
            })?;
            tokens.push(token);
            contents.push(c);
        } else {
            signatures.push((f.name.clone(), c));
        }
    }
    if let (ExtendWhen::IfNeeded { margin }, Some(last)) =
        (when, tokens.iter().max_by_key(|t| t.tst_info.gen_time))
    {
        let tsa = signer_cert(&last.signed_data).ok_or_else(|| {
            PadesError::Timestamp(
                "a document time-stamp does not carry its TSA's certificate".into(),
            )
        })?;
        let weak = is_sha1(&last.tst_info.message_imprint.hash_oid)
            || last.signed_data.signer_infos.first().is_some_and(|si| {
                is_sha1(&si.digest_algorithm.oid) || is_sha1(&si.signature_algorithm.oid)
            });
        if !weak && tsa.not_after() - margin > now {
            return Ok(ExtendOutcome::NotNeeded {
                last_timestamp: last.tst_info.gen_time,
                tsa_not_after: tsa.not_after(),
            });
        }
    }
    let policy = crate::crypto::AlgorithmPolicy::default();
    let mut data = ValidationData::new();
    for token in &tokens {
        let certs = token.signed_data.parsed_certificates();
        let known = crate::ltv::known_certificates(certs.iter().chain(extra_certs));
        let tsa = signer_cert(&token.signed_data).ok_or_else(|| {
            PadesError::Timestamp(
                "a document time-stamp does not carry its TSA's certificate".into(),
            )
        })?;
        data.add_path(&tsa, &known, fetcher, now, &policy)?;
    }
    // The signatures: their time-stamps' TSAs always, the signers when no VRI covers them.
    let mut warnings = Vec::new();
    let (mut signers_added, mut signature_timestamps) = (0, 0);
    let mut vri_for_signers = Vec::new();
    for (name, c) in &signatures {
        let Ok(sd) = crate::cms::SignedData::parse(c) else {
            warnings.push(format!(
                "{name}: the signature is unreadable; nothing added for it"
            ));
            continue;
        };
        let certs = sd.parsed_certificates();
        for t in crate::tsp::signature_timestamps(&sd, 0)
            .into_iter()
            .flatten()
        {
            let Some(tsa) = signer_cert(&t.signed_data) else {
                warnings.push(format!(
                    "{name}: its time-stamp does not carry the TSA's certificate"
                ));
                continue;
            };
            let tcerts = t.signed_data.parsed_certificates();
            let known = crate::ltv::known_certificates(tcerts.iter().chain(extra_certs));
            let mut one = ValidationData::new();
            match one.add_path(&tsa, &known, fetcher, now, &policy) {
                Ok(()) => {
                    data.merge(one);
                    signature_timestamps += 1;
                }
                Err(e) => warnings.push(format!(
                    "{name}: the validation data of its time-stamp authority could not be gathered: {e}"
                )),
            }
        }
        let key = hex::encode_upper(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            c,
        ));
        if vri_keys.contains(&key) {
            continue;
        }
        let Some(signer) = signer_cert(&sd) else {
            warnings.push(format!(
                "{name}: the signature does not carry its signer's certificate"
            ));
            continue;
        };
        let known = crate::ltv::known_certificates(certs.iter().chain(extra_certs));
        let mut one = ValidationData::new();
        match one.add_path(&signer, &known, fetcher, now, &policy) {
            Ok(()) => {
                data.merge(one);
                signers_added += 1;
                vri_for_signers.push(c.clone());
            }
            Err(e) => warnings.push(format!(
                "{name}: the signer's validation data could not be gathered: {e}"
            )),
        }
    }
    let dir = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let (staging, file) = pdfsign::create_temp(dir, output)?;
    drop(file);
    let vri: Vec<&[u8]> = contents
        .iter()
        .chain(&vri_for_signers)
        .map(Vec::as_slice)
        .collect();
    let result = (|| {
        let stamped = if data.is_empty() {
            input
        } else {
            add_dss(input, &staging, &data, &vri)?;
            staging.as_path()
        };
        add_document_timestamp(stamped, output, hash, tsa_url, fetcher)
    })();
    let _ = std::fs::remove_file(&staging);
    let token = result?;
    Ok(ExtendOutcome::Extended(Extended {
        timestamp_time: token.tst_info.gen_time,
        renewed: tokens.len(),
        signers_added,
        signature_timestamps,
        warnings,
    }))
}
