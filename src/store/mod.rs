//! The journal: an append-only event log in SQLite (WAL, synchronous=FULL) under the
//! data dir, written by one engine at a time in group commits; plus the data dir's
//! small files (lock, API token, daemon address).

use std::path::Path;

use crate::engine::event::{ItemId, Record};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Other(String),
}

/// The single writer of a data dir's journal. Holding it holds the engine lock.
pub struct Journal {}

impl Journal {
    /// Open (creating if needed) the journal of `dir`, taking the exclusive engine lock.
    pub fn open(dir: &Path) -> Result<Journal, StoreError> {
        let _ = dir;
        todo!("helper C")
    }

    /// Append records in one transaction (one fsync).
    pub fn append(&mut self, records: &[Record]) -> Result<(), StoreError> {
        let _ = records;
        todo!("helper C")
    }

    /// Every record in order, for replay.
    pub fn replay(&self, f: &mut dyn FnMut(Record)) -> Result<u64, StoreError> {
        let _ = f;
        todo!("helper C")
    }
}

/// Records with `seq > after` (of one item, or all), oldest first, at most `limit`.
/// Opens its own read connection, so it runs beside a writing engine.
pub fn read_records(
    dir: &Path,
    item: Option<ItemId>,
    after: u64,
    limit: usize,
) -> Result<Vec<Record>, StoreError> {
    let _ = (dir, item, after, limit);
    todo!("helper C")
}
