//! `pki audit` arguments.

/// `pki audit ...`
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Check the signing service's audit log: every record unchanged, none deleted or moved.
    Verify(VerifyArgs),
}

/// Arguments of `pki audit verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The service's database: a SQLite file, `sqlite:PATH`, or `postgres://...` (a password
    /// belongs in PGPASSWORD or ~/.pgpass, not here).
    #[arg(long)]
    pub db: String,
    /// Print the result as JSON (the same document as GET /v1/audit/verify).
    #[arg(long)]
    pub json: bool,
    /// Trust anchors for the TSA that time-stamped the log's head (`[audit]
    /// anchor_every_secs`): PEM files, directories, or `vn` (the default).
    #[arg(long = "trust", value_name = "PEM|DIR|vn")]
    pub trust: Vec<String>,
}
