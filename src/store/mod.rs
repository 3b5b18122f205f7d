//! The journal: an append-only event log in SQLite (WAL, synchronous=FULL) under the
//! data dir, written by one engine at a time in group commits, with an index of the
//! items that ended; plus the data dir's small files (lock, API token, daemon address).

pub mod archive;
mod body;
pub mod chain;
mod datadir;
mod ended;
pub mod export;
pub mod faults;
mod full;
mod journal;
mod lock;
pub mod private;
mod reader;
pub mod retention;
mod rollups;
pub mod secrets;
pub mod settings;
pub mod snapshots;
pub mod verify;

use std::path::PathBuf;

use std::collections::BTreeMap;

use crate::types::Record;
use crate::types::tally::{Counts, Tally};
use crate::types::view::EndedItem;

pub use datadir::{
    DaemonInfo, default_data_dir, load_or_create_token, read_daemon_info, remove_daemon_info,
    write_daemon_info,
};
pub use ended::EndedRow;
pub use journal::{JOURNAL_FILE, Journal, SCHEMA_VERSION};
pub use reader::{Reader, read_records};

/// What the engine's runtime needs of its journal. SQLite implements it today; the
/// shape is a partition's: a gap-free sequence, and a commit that states the head it
/// continues, so a writer that lost its place can never append.
pub trait Store: Send {
    /// The seq of the last committed record (0 when empty).
    fn head(&self) -> u64;
    /// Commit records continuing `expected_head`, index the items they ended and add
    /// what they counted to the rollups, atomically: all of it or nothing.
    fn commit(
        &mut self,
        expected_head: u64,
        records: &[Record],
        ended: &[EndedItem],
        tally: &Tally,
    ) -> Result<(), StoreError>;
    /// Every record after `after`, in order. Returns the last seq seen.
    fn replay(&self, after: u64, f: &mut dyn FnMut(Record)) -> Result<u64, StoreError>;
    /// A small durable write that changes no record: whether a commit could succeed
    /// again after a full disk. (A store that cannot tell says yes; the next commit will.)
    fn probe(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
    /// What the rollups hold per workflow, over everything (a store without rollups
    /// has none).
    fn rollup_totals(&self) -> Result<BTreeMap<String, Counts>, StoreError> {
        Ok(BTreeMap::new())
    }
}

impl Store for Journal {
    fn head(&self) -> u64 {
        self.last_seq()
    }

    fn commit(
        &mut self,
        expected_head: u64,
        records: &[Record],
        ended: &[EndedItem],
        tally: &Tally,
    ) -> Result<(), StoreError> {
        if expected_head != self.last_seq() {
            return Err(StoreError::HeadMoved {
                path: self.path().to_path_buf(),
                expected: expected_head,
                found: self.last_seq(),
            });
        }
        Journal::commit_counted(self, records, ended, tally)
    }

    fn replay(&self, after: u64, f: &mut dyn FnMut(Record)) -> Result<u64, StoreError> {
        Journal::replay(self, after, f)
    }

    fn probe(&mut self) -> Result<(), StoreError> {
        Journal::probe(self)
    }

    fn rollup_totals(&self) -> Result<BTreeMap<String, Counts>, StoreError> {
        Journal::rollup_totals(self)
    }
}
pub use lock::LOCK_FILE;

/// Everything that can go wrong in the data dir. Each message says what failed, where,
/// and (when there is something to do) what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another engine (another process, or another `Journal` in this one) holds the lock.
    #[error(
        "another tempi engine is already using {} ({}); stop it or pass a different --data",
        dir.display(),
        match pid { Some(pid) => format!("pid {pid}"), None => "pid unknown".to_string() }
    )]
    Locked { dir: PathBuf, pid: Option<u32> },

    /// A file system operation failed.
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// SQLite failed on a journal that is otherwise readable.
    #[error("journal {}: cannot {what}: {source}", path.display())]
    Sqlite {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    /// The journal file is not a SQLite database, or is damaged.
    #[error(
        "{} is not a readable tempi journal ({detail}); move it aside or pass a different --data",
        path.display()
    )]
    NotAJournal { path: PathBuf, detail: String },

    /// The journal was written by a newer tempi.
    #[error(
        "journal {} has schema version {found}, but this tempi understands only up to {supported}; upgrade tempi",
        path.display()
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    /// There is no journal where one was expected.
    #[error(
        "no journal at {}; start an engine with this --data first, or check the path",
        path.display()
    )]
    NoJournal { path: PathBuf },

    /// A batch whose seqs do not continue the journal; nothing of it was written.
    #[error(
        "refusing to append to {}: record {index} of the batch has seq {got}, expected {expected} (seqs must continue the journal without gaps or repeats); nothing was written",
        path.display()
    )]
    OutOfOrder {
        path: PathBuf,
        index: usize,
        got: u64,
        expected: u64,
    },

    /// The journal's head is not where the writer expected it: another writer appended.
    #[error(
        "refusing to append to {}: expected its head at seq {expected}, found {found}; nothing was written",
        path.display()
    )]
    HeadMoved {
        path: PathBuf,
        expected: u64,
        found: u64,
    },

    /// A stored record could not be read back.
    #[error("journal {}: record seq {seq} is unreadable: {detail}", path.display())]
    BadRecord {
        path: PathBuf,
        seq: i64,
        detail: String,
    },

    /// A small data dir file (token, daemon info) has unexpected contents.
    #[error("{} is malformed ({detail}); {fix}", path.display())]
    BadFile {
        path: PathBuf,
        detail: String,
        fix: &'static str,
    },

    #[error("{0}")]
    Other(String),
}

impl StoreError {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io {
            what,
            path: path.into(),
            source,
        }
    }
}

/// Create `dir` (and its parents) with mode 0700 if it does not exist.
pub(crate) fn ensure_dir(dir: &std::path::Path) -> Result<(), StoreError> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| StoreError::io("create the data dir", dir, e))
}
