//! The retention archive: before retention removes an item's records, they are
//! appended to `<archive>/records-<date>.jsonl.gz` (one gzip member per batch, one JSON
//! record per line), flushed to disk first, so nothing leaves the journal unarchived.
//! `tempi audit --archive DIR` reads them back; a batch archived twice (a crash between
//! the archive write and the removal) is read once.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::{StoreError, ensure_dir};
use crate::types::event::{ItemId, Record};

const PREFIX: &str = "records-";
const SUFFIX: &str = ".jsonl.gz";

/// Append `records` to the archive file of `day` as one gzip member, and flush it.
pub fn append(dir: &Path, day: DateTime<Utc>, records: &[Record]) -> Result<PathBuf, StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    ensure_dir(dir)?;
    let path = dir.join(format!("{PREFIX}{}{SUFFIX}", day.format("%Y-%m-%d")));
    let mut member = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for r in records {
        serde_json::to_writer(&mut member, r)
            .map_err(|e| StoreError::Other(format!("cannot encode record {}: {e}", r.seq)))?;
        member
            .write_all(b"\n")
            .map_err(|e| StoreError::io("compress", &path, e))?;
    }
    let bytes = member
        .finish()
        .map_err(|e| StoreError::io("compress", &path, e))?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| StoreError::io("open the archive", &path, e))?;
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| StoreError::io("write the archive", &path, e))?;
    Ok(path)
}

/// Every archived record (of one item, or all) after `after`, by seq, each once.
pub fn read(dir: &Path, item: Option<ItemId>, after: u64) -> Result<Vec<Record>, StoreError> {
    let entries = std::fs::read_dir(dir).map_err(|e| StoreError::io("read the archive", dir, e))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        })
        .collect();
    files.sort();
    let mut out: Vec<Record> = Vec::new();
    for path in files {
        let file =
            std::fs::File::open(&path).map_err(|e| StoreError::io("open the archive", &path, e))?;
        let lines = std::io::BufReader::new(flate2::read::MultiGzDecoder::new(file)).lines();
        for (n, line) in lines.enumerate() {
            let line = line.map_err(|e| StoreError::io("decompress", &path, e))?;
            let rec: Record = serde_json::from_str(&line).map_err(|e| {
                StoreError::Other(format!(
                    "{} line {}: not a record: {e}",
                    path.display(),
                    n + 1
                ))
            })?;
            if rec.seq > after && item.is_none_or(|i| rec.item == Some(i)) {
                out.push(rec);
            }
        }
    }
    out.sort_by_key(|r| r.seq);
    out.dedup_by_key(|r| r.seq);
    Ok(out)
}
