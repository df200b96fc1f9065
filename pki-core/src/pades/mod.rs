//! PAdES (ETSI EN 319 142-1): signing PDFs at baseline levels, and verifying every signature
//! in a PDF.

pub mod batch;
pub mod changes;
pub mod deferred;
pub mod embedded;
pub mod ltv;
pub mod sign;
pub mod verify;

pub use batch::BatchSigner;
pub use deferred::{prepare_pdf, PendingPdf};
pub use sign::{
    check_signer_certificate, pick_algorithm, sign_pdf, Level, PadesError, PadesOptions, Signed,
    SignerCheck,
};
pub use verify::{verify_pdf, VerifyOptions};
