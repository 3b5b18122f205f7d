//! The journal: an append-only event log in SQLite (WAL, synchronous=FULL) under the
//! data dir, written by one engine at a time in group commits; plus the data dir's
//! small files (lock, API token, daemon address).

mod datadir;
mod journal;
mod lock;

use std::path::PathBuf;

pub use datadir::{
    DaemonInfo, default_data_dir, load_or_create_token, read_daemon_info, remove_daemon_info,
    write_daemon_info,
};
pub use journal::{JOURNAL_FILE, Journal, SCHEMA_VERSION, read_records};
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
