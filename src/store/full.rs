//! Telling a full disk (wait for space, then go on) from a failed write or fsync (stop:
//! what the page cache holds of the journal can no longer be trusted) in a store error.

use std::path::Path;

use rusqlite::ErrorCode;

use super::StoreError;

impl StoreError {
    /// The disk or the quota is full: the commit wrote nothing, and a later one may succeed.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::Sqlite { source, .. } => {
                source.sqlite_error_code() == Some(ErrorCode::DiskFull)
            }
            StoreError::Io { source, .. } => is_full(source),
            _ => false,
        }
    }

    /// A write or an fsync of the journal failed (SQLite's IOERR family, or an I/O error
    /// that is not a full disk).
    pub fn is_io_failure(&self) -> bool {
        match self {
            StoreError::Sqlite { source, .. } => {
                source.sqlite_error_code() == Some(ErrorCode::SystemIoFailure)
            }
            StoreError::Io { source, .. } => !is_full(source),
            _ => false,
        }
    }

    /// The file the error is about, when it names one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            StoreError::Locked { dir: path, .. }
            | StoreError::Io { path, .. }
            | StoreError::Sqlite { path, .. }
            | StoreError::NotAJournal { path, .. }
            | StoreError::SchemaTooNew { path, .. }
            | StoreError::NoJournal { path }
            | StoreError::OutOfOrder { path, .. }
            | StoreError::HeadMoved { path, .. }
            | StoreError::BadRecord { path, .. }
            | StoreError::BadFile { path, .. } => Some(path),
            StoreError::Other(_) => None,
        }
    }
}

fn is_full(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

#[cfg(test)]
mod tests {
    use super::super::faults::{disk_full, io_error};
    use super::*;

    #[test]
    fn a_full_disk_is_retryable_and_a_failed_fsync_is_not() {
        let p = Path::new("/d/journal.db");
        assert!(disk_full(p).is_disk_full());
        assert!(!disk_full(p).is_io_failure());
        assert!(io_error(p).is_io_failure());
        assert!(!io_error(p).is_disk_full());
        let enospc = StoreError::io("write", p, std::io::Error::from_raw_os_error(libc::ENOSPC));
        let edquot = StoreError::io("write", p, std::io::Error::from_raw_os_error(libc::EDQUOT));
        let eio = StoreError::io("write", p, std::io::Error::from_raw_os_error(libc::EIO));
        assert!(enospc.is_disk_full() && edquot.is_disk_full());
        assert!(!eio.is_disk_full() && eio.is_io_failure());
        assert_eq!(disk_full(p).path(), Some(p));
    }
}
