//! Making files durable before the database refers to them (decision 0028).
//!
//! A row that names a blob is committed only after the blob's bytes *and* its directory entry
//! are on stable storage, so a power cut can lose a request that was never answered, never one
//! that was: POSIX `fsync` of a file does not persist its name, which needs an `fsync` of the
//! directory (see fsync(2), "Calling fsync() does not necessarily ensure that the entry in the
//! directory containing the file has also reached disk").

use std::path::Path;
use std::time::{Duration, Instant};

/// `fsync` of a directory (its entries: names created or renamed in it).
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// `fsync` of one file and of the directory holding it.
pub fn sync_file_and_dir(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path)?.sync_all()?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Makes a batch's packed upload durable before its transaction commits (decision 0035): an
/// `fsync` of the pack file, of its directory and of that directory's parent (whose entry
/// names it). Returns how long it took (for `/metrics`).
pub fn sync_pack(pack: &std::fs::File, dir: &Path) -> std::io::Result<Duration> {
    let t = Instant::now();
    pack.sync_all()?;
    sync_dir(dir)?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent)?;
    }
    Ok(t.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syncs_a_pack_and_files() {
        let d = tempfile::tempdir().unwrap();
        let sub = d.path().join("b");
        std::fs::create_dir(&sub).unwrap();
        let pack = sub.join("inputs.pack");
        std::fs::write(&pack, b"%PDF-1.7%PDF-1.7").unwrap();
        sync_pack(&std::fs::File::open(&pack).unwrap(), &sub).unwrap();
        sync_file_and_dir(&pack).unwrap();
        let f = std::fs::File::open(&pack).unwrap();
        assert!(sync_pack(&f, &d.path().join("missing")).is_err());
    }
}
