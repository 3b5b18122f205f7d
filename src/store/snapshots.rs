//! Snapshot files beside the journal (`<data>/snapshots/state-<seq>.json`): written
//! atomically (a private temporary file, fsync, rename), found newest first, and
//! pruned to the last few. What is in them is the engine's business.

use std::path::{Path, PathBuf};

use super::datadir::{sync_dir, write_temp};
use super::{StoreError, ensure_dir};

/// The snapshots folder inside the data dir.
pub const SNAPSHOT_DIR: &str = "snapshots";
/// Snapshots kept: the newest, and one before it in case the newest cannot be read.
const KEEP: usize = 2;

fn name(seq: u64) -> String {
    format!("state-{seq:020}.json")
}

fn seq_of(file: &str) -> Option<u64> {
    file.strip_prefix("state-")?
        .strip_suffix(".json")?
        .parse()
        .ok()
}

/// The snapshots of `data_dir`, newest first, as (seq covered, path).
pub fn list(data_dir: &Path) -> Vec<(u64, PathBuf)> {
    let dir = data_dir.join(SNAPSHOT_DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut found: Vec<(u64, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let seq = seq_of(e.file_name().to_str()?)?;
            Some((seq, e.path()))
        })
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found
}

/// Publish a snapshot covering `seq`, then remove all but the newest few.
pub fn write(data_dir: &Path, seq: u64, bytes: &[u8]) -> Result<PathBuf, StoreError> {
    let dir = data_dir.join(SNAPSHOT_DIR);
    ensure_dir(&dir)?;
    let path = dir.join(name(seq));
    let tmp = write_temp(&dir, &name(seq), bytes)?;
    if let Err(e) = std::fs::rename(&tmp, &path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(StoreError::io("publish the snapshot", path, e));
    }
    sync_dir(&dir);
    for (_, old) in list(data_dir).into_iter().skip(KEEP) {
        let _ = std::fs::remove_file(old);
    }
    Ok(path)
}

/// Remove temporary files a crash left behind (only while no snapshot is being written).
pub fn remove_strays(data_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(data_dir.join(SNAPSHOT_DIR)) else {
        return;
    };
    for e in entries.filter_map(|e| e.ok()) {
        if e.file_name().to_str().is_some_and(|n| seq_of(n).is_none()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}
