//! Network fetching (OCSP, CRL, AIA, TSA) for the CLI: timeouts and size caps on every request.
