//! `sign-server`: the signing service the document management system calls.
//!
//! Not built yet: the service (HTTP API, job queue, audit log) is the subject of its own issue
//! and lands after PDF signing. Until then this binary says so plainly instead of pretending.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "sign-server: the signing service is not available in this version yet; \
         use the `pki` command line (pki sign / pki verify) meanwhile"
    );
    ExitCode::from(2)
}
