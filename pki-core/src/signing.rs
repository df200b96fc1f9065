//! Opening a signing key together with its certificate chain, the way every signing program of
//! the project does it (the `pki` command line and the signing service): the chain comes from
//! the key store (PKCS#12, token) or, for a bare PEM/PKCS#8 key, from certificates given beside
//! it; the signer's own certificate is put first.

use crate::cert::Certificate;
use std::sync::Arc;

/// Why a key could not be opened with its chain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenKeyError {
    /// The key itself could not be opened (file, token, PIN).
    #[error(transparent)]
    Key(#[from] hsm::Error),
    /// Neither the key store nor the given certificates hold the key's certificate.
    #[error("no certificate belongs to the key")]
    NoCertificate {
        /// Whether certificates were given beside the key.
        certificates_given: bool,
    },
}

/// Opens `keyref` with `opts` (whose `cert_chain` is replaced by `given`) and returns the
/// signer with its chain, the signer's certificate first.
pub fn open_with_chain(
    keyref: &hsm::KeyRef,
    given: &[Certificate],
    mut opts: hsm::OpenOptions<'_>,
) -> Result<(Arc<dyn hsm::Signer>, Vec<Certificate>), OpenKeyError> {
    opts.cert_chain = given.iter().map(|c| c.der().to_vec()).collect();
    let signer = hsm::open(keyref, &opts)?;
    let chain = chain_for(signer.as_ref(), given)?;
    Ok((signer, chain))
}

/// The chain of `signer`, its certificate first: the certificates the key store holds, else
/// `given`.
pub fn chain_for(
    signer: &dyn hsm::Signer,
    given: &[Certificate],
) -> Result<Vec<Certificate>, OpenKeyError> {
    let mut chain: Vec<Certificate> = signer
        .certificates()
        .iter()
        .filter_map(|d| Certificate::from_der(d).ok())
        .collect();
    if chain.is_empty() {
        chain = given.to_vec();
    }
    let Some(i) = chain
        .iter()
        .position(|c| c.spki() == signer.public_key_der())
    else {
        return Err(OpenKeyError::NoCertificate {
            certificates_given: !given.is_empty(),
        });
    };
    chain.swap(0, i);
    Ok(chain)
}
