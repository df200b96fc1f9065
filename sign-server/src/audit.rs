//! The audit log: one record per signature and per refused request, each chained to the one
//! before it by SHA-256 (decision 0010 gives the canonical encoding). The same verifier serves
//! `GET /v1/audit/verify` and `pki audit verify`.
//!
//! A record's hash is `SHA-256("vn-pki-audit-v1" || 0x00 || F(seq) || F(time) || F(client) ||
//! F(action) || F(key) || F(document_sha256) || F(profile) || F(cert_serial) || F(outcome) ||
//! F(detail) || F(prev_hash))`, where `F(s)` is the 4-byte big-endian length of the UTF-8
//! bytes of `s` followed by those bytes, `seq` is written in decimal and `prev_hash` is the
//! previous record's hash in lower-case hex (64 zeros for the first record).

use serde::Serialize;

/// The `prev_hash` of the first record.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

const DOMAIN: &[u8] = b"vn-pki-audit-v1\0";

/// The fields of a record that the caller supplies (the chain adds `seq`, `prev_hash`, `hash`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Entry {
    /// When, RFC 3339 in UTC with microseconds.
    pub time: String,
    /// The client (as named in the configuration; `-` when not authenticated).
    pub client: String,
    /// `sign` or `refuse`.
    pub action: String,
    /// The key name (`-` when none).
    pub key: String,
    /// SHA-256 of the document received, hex (`-` when none).
    pub document_sha256: String,
    /// The profile asked for.
    pub profile: String,
    /// Serial of the signing certificate, hex (`-` when nothing was signed).
    pub cert_serial: String,
    /// `signed`, or the error code of the refusal.
    pub outcome: String,
    /// The job, batch or request the record is about, or the reason of a refusal.
    pub detail: String,
}

/// A stored record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Record {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// The fields.
    #[serde(flatten)]
    pub entry: Entry,
    /// Hash of the previous record (hex).
    pub prev_hash: String,
    /// Hash of this record (hex).
    pub hash: String,
}

fn field(out: &mut Vec<u8>, s: &str) {
    let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// The canonical bytes of a record (what is hashed).
pub fn canonical(seq: i64, e: &Entry, prev_hash: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(DOMAIN);
    field(&mut out, &seq.to_string());
    for s in [
        &e.time,
        &e.client,
        &e.action,
        &e.key,
        &e.document_sha256,
        &e.profile,
        &e.cert_serial,
        &e.outcome,
        &e.detail,
    ] {
        field(&mut out, s);
    }
    field(&mut out, prev_hash);
    out
}

/// The hash of a record, hex.
pub fn record_hash(seq: i64, e: &Entry, prev_hash: &str) -> String {
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        &canonical(seq, e, prev_hash),
    ))
}

/// Appends `e` after (`last_seq`, `last_hash`).
pub fn chain(last_seq: i64, last_hash: &str, e: Entry) -> Record {
    let seq = last_seq + 1;
    let hash = record_hash(seq, &e, last_hash);
    Record {
        seq,
        entry: e,
        prev_hash: last_hash.to_owned(),
        hash,
    }
}

/// One thing wrong with the chain, located.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// The record where it shows.
    pub seq: i64,
    /// `changed`, `deleted`, `reordered`, `truncated`, `rewritten` (differs from a
    /// time-stamped head) or `anchor` (a time-stamp that does not check).
    pub kind: String,
    /// One sentence.
    pub message: String,
}

/// The result of checking the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ChainReport {
    /// Whether the chain is intact.
    pub intact: bool,
    /// Records read.
    pub records: u64,
    /// The last record's position.
    pub last_seq: i64,
    /// The last record's hash (an auditor can note it to detect a later truncation).
    pub last_hash: String,
    /// What is wrong, in chain order.
    pub problems: Vec<Problem>,
    /// The time-stamps over earlier heads (`[audit] anchor_every_secs`), checked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub anchors: Vec<crate::anchor::Anchor>,
}

/// Checks records fed in `seq` order, one at a time (the log is read in pages, never whole).
#[derive(Debug)]
pub struct Verifier {
    records: u64,
    expected_seq: i64,
    prev_stored_hash: String,
    problems: Vec<Problem>,
}

impl Default for Verifier {
    fn default() -> Self {
        Self {
            records: 0,
            expected_seq: 1,
            prev_stored_hash: GENESIS.to_owned(),
            problems: Vec::new(),
        }
    }
}

/// Problems reported at most (a wholesale rewrite would otherwise list every record).
const MAX_PROBLEMS: usize = 1000;

impl Verifier {
    fn problem(&mut self, seq: i64, kind: &str, message: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(Problem {
                seq,
                kind: kind.into(),
                message,
            });
        }
    }

    /// Checks the next record.
    pub fn push(&mut self, r: &Record) {
        self.records += 1;
        let recomputed = record_hash(r.seq, &r.entry, &r.prev_hash);
        let content_changed = recomputed != r.hash;
        if r.seq != self.expected_seq {
            if r.seq > self.expected_seq {
                let n = r.seq - self.expected_seq;
                self.problem(
                    r.seq,
                    "deleted",
                    format!(
                        "{n} record(s) before record {} are missing (records {} to {} were deleted)",
                        r.seq,
                        self.expected_seq,
                        r.seq - 1
                    ),
                );
            } else {
                self.problem(
                    r.seq,
                    "reordered",
                    format!(
                        "record {} appears where record {} was expected",
                        r.seq, self.expected_seq
                    ),
                );
            }
        } else if r.prev_hash != self.prev_stored_hash && !content_changed {
            // The record is self-consistent but does not follow the one stored before it: the
            // record before was replaced, or records were removed and the sequence rewritten.
            self.problem(
                r.seq,
                "reordered",
                format!(
                    "record {} does not follow the record stored before it (a record before it was removed, replaced or moved)",
                    r.seq
                ),
            );
        }
        if content_changed {
            self.problem(
                r.seq,
                "changed",
                format!(
                    "record {} was changed after it was written (its content does not match its hash)",
                    r.seq
                ),
            );
        }
        self.expected_seq = r.seq.max(self.expected_seq - 1) + 1;
        self.prev_stored_hash = r.hash.clone();
    }

    /// Ends the check; `head` is the (last seq, last hash) the service keeps beside the log,
    /// which reveals records removed from the end.
    pub fn finish(mut self, head: Option<(i64, String)>) -> ChainReport {
        let last_seq = self.expected_seq - 1;
        if let Some((head_seq, head_hash)) = head {
            if head_seq > last_seq {
                self.problem(
                    head_seq,
                    "truncated",
                    format!(
                        "the log ends at record {last_seq} but {head_seq} records were written (the last {} were deleted)",
                        head_seq - last_seq
                    ),
                );
            } else if head_seq == last_seq && head_hash != self.prev_stored_hash {
                self.problem(
                    head_seq,
                    "changed",
                    format!("record {head_seq}, the last one, is not the one that was written"),
                );
            }
        }
        ChainReport {
            intact: self.problems.is_empty(),
            records: self.records,
            last_seq,
            last_hash: self.prev_stored_hash,
            problems: self.problems,
            anchors: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(i: usize) -> Entry {
        Entry {
            time: format!("2026-01-01T00:00:{i:02}.000000Z"),
            client: "dms".into(),
            action: "sign".into(),
            key: "agency".into(),
            document_sha256: "ab".repeat(32),
            profile: "agency".into(),
            cert_serial: "01".into(),
            outcome: "signed".into(),
            detail: format!("job-{i}"),
        }
    }

    fn log(n: usize) -> Vec<Record> {
        let mut out: Vec<Record> = Vec::new();
        for i in 0..n {
            let (s, h) = out
                .last()
                .map(|r| (r.seq, r.hash.clone()))
                .unwrap_or((0, GENESIS.into()));
            out.push(chain(s, &h, entry(i)));
        }
        out
    }

    fn check(rs: &[Record], head: Option<(i64, String)>) -> ChainReport {
        let mut v = Verifier::default();
        for r in rs {
            v.push(r);
        }
        v.finish(head)
    }

    fn head(rs: &[Record]) -> Option<(i64, String)> {
        rs.last().map(|r| (r.seq, r.hash.clone()))
    }

    #[test]
    fn intact_chain() {
        let rs = log(5);
        let h = head(&rs);
        let rep = check(&rs, h);
        assert!(rep.intact, "{rep:?}");
        assert_eq!(rep.records, 5);
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        let mut a = entry(1);
        let mut b = entry(1);
        a.client = "ab".into();
        a.action = "c".into();
        b.client = "a".into();
        b.action = "bc".into();
        assert_ne!(record_hash(1, &a, GENESIS), record_hash(1, &b, GENESIS));
    }

    #[test]
    fn changed_deleted_swapped_truncated_are_located() {
        let rs = log(6);
        let h = head(&rs);

        let mut changed = rs.clone();
        changed[2].entry.key = "other".into();
        let rep = check(&changed, h.clone());
        assert_eq!(rep.problems.len(), 1, "{rep:?}");
        assert_eq!(
            (rep.problems[0].seq, rep.problems[0].kind.as_str()),
            (3, "changed")
        );

        let mut deleted = rs.clone();
        deleted.remove(3);
        let rep = check(&deleted, h.clone());
        assert_eq!(rep.problems[0].seq, 5);
        assert_eq!(rep.problems[0].kind, "deleted");

        // Two records' contents swapped, each keeping its position.
        let mut swapped = rs.clone();
        let (a, b) = (swapped[1].clone(), swapped[2].clone());
        swapped[1] = Record { seq: 2, ..b };
        swapped[2] = Record { seq: 3, ..a };
        let rep = check(&swapped, h.clone());
        let seqs: Vec<i64> = rep.problems.iter().map(|p| p.seq).collect();
        assert!(seqs.contains(&2) && seqs.contains(&3), "{rep:?}");

        let rep = check(&rs[..4], h);
        assert_eq!(rep.problems[0].kind, "truncated");
        assert_eq!(rep.problems[0].seq, 6);
    }
}
