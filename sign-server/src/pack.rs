//! Packed blobs (decision 0035): a batch's uploaded documents go into one file,
//! `in/<batch>/inputs.pack`, and a signed group's outputs into one file per batch,
//! `out/<batch>/<lease token>.pack`; the database holds each document's offset and length.
//!
//! Creating a file per document was the largest cost of a batch after the signature itself
//! (ext4 inode allocation, a directory entry, a rename), and making a directory of them durable
//! needed a `syncfs` of the whole volume. A pack is one file: appended to, then `fsync`ed with
//! its directory (fsync(2): the file's data and size, then the entry naming it) before the row
//! that refers to it commits, as decisions 0021 and 0028 require of every blob.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The file of a batch's uploaded documents, relative to the blob directory.
pub fn inputs_rel(batch_id: &str) -> String {
    format!("in/{batch_id}/inputs.pack")
}

/// Reads `len` bytes at `offset` of `path` into a buffer with `spare` bytes of room after them.
pub fn read_range(path: &Path, offset: u64, len: u64, spare: usize) -> std::io::Result<Vec<u8>> {
    let f = File::open(path)?;
    let len = usize::try_from(len).map_err(std::io::Error::other)?;
    let mut buf = Vec::with_capacity(len + spare);
    buf.resize(len, 0);
    f.read_exact_at(&mut buf, offset)?;
    Ok(buf)
}

/// One group's signed outputs of one batch, appended by the signing threads.
#[derive(Debug)]
pub struct PackWriter {
    rel: String,
    path: PathBuf,
    /// The open file and the length written so far (created at the first append).
    file: Mutex<Option<(File, u64)>>,
}

impl PackWriter {
    /// The pack `out/<batch>/<token>.pack` under `blobs` (not created yet).
    pub fn new(blobs: &Path, batch_id: &str, token: &str) -> Self {
        let rel = format!("out/{batch_id}/{token}.pack");
        Self {
            path: blobs.join(&rel),
            rel,
            file: Mutex::new(None),
        }
    }

    /// Its path relative to the blob directory (what `jobs.output_path` holds).
    pub fn rel(&self) -> &str {
        &self.rel
    }

    /// Appends `bytes`; returns their offset and length. A failed write leaves the length as
    /// it was, so the next append overwrites whatever part was written.
    pub fn append(&self, bytes: &[u8]) -> std::io::Result<(i64, i64)> {
        let mut guard = self
            .file
            .lock()
            .map_err(|_| std::io::Error::other("pack writer poisoned"))?;
        if guard.is_none() {
            if let Some(d) = self.path.parent() {
                std::fs::create_dir_all(d)?;
            }
            let f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&self.path)?;
            *guard = Some((f, 0));
        }
        let Some((f, end)) = guard.as_mut() else {
            return Err(std::io::Error::other("pack writer not open"));
        };
        f.write_all_at(bytes, *end)?;
        let at = *end;
        *end += bytes.len() as u64;
        let as_i64 = |n: u64| i64::try_from(n).map_err(std::io::Error::other);
        Ok((as_i64(at)?, as_i64(bytes.len() as u64)?))
    }

    /// Whether anything was written.
    pub fn is_used(&self) -> bool {
        self.file.lock().map(|g| g.is_some()).unwrap_or(true)
    }

    /// Makes the pack durable: its data and size, its directory's entry for it, and the
    /// entry of that directory in `out/` (created by the first group of the batch).
    pub fn sync(&self) -> std::io::Result<()> {
        let guard = self
            .file
            .lock()
            .map_err(|_| std::io::Error::other("pack writer poisoned"))?;
        let Some((f, _)) = guard.as_ref() else {
            return Ok(());
        };
        f.sync_all()?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        crate::durable::sync_dir(dir)?;
        if let Some(out) = dir.parent() {
            crate::durable::sync_dir(out)?;
        }
        Ok(())
    }

    /// Removes the pack (its outputs are not going to be referenced).
    pub fn remove(&self) {
        if self.is_used() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_and_reads_back_ranges() {
        let d = tempfile::tempdir().unwrap();
        let w = PackWriter::new(d.path(), "b1", "t1");
        assert!(!w.is_used());
        w.sync().unwrap();
        let a = w.append(b"%PDF-first").unwrap();
        let b = w.append(b"%PDF-second one").unwrap();
        assert_eq!(a, (0, 10));
        assert_eq!(b, (10, 15));
        w.sync().unwrap();
        let path = d.path().join(w.rel());
        assert_eq!(read_range(&path, 10, 15, 64).unwrap(), b"%PDF-second one");
        assert_eq!(read_range(&path, 0, 10, 0).unwrap(), b"%PDF-first");
        assert!(
            read_range(&path, 20, 10, 0).is_err(),
            "a range past the end"
        );
        // A pack is never appended to by a second writer (one lease token per group).
        let again = PackWriter::new(d.path(), "b1", "t1");
        assert!(again.append(b"x").is_err());
        w.remove();
        assert!(!path.exists());
    }
}
