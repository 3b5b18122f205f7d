//! The engine lock: an exclusive, non-blocking `flock` on `<dir>/engine.lock` that
//! holds our pid. The kernel drops it when the file closes or the process dies, so a
//! killed engine never leaves a stale lock behind.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::StoreError;

/// The lock file's name inside the data dir.
pub const LOCK_FILE: &str = "engine.lock";

/// A held engine lock; released when dropped.
#[derive(Debug)]
pub(crate) struct EngineLock {
    // Held only for its open file description: closing it releases the flock.
    _file: File,
}

impl EngineLock {
    /// Take the lock of `dir` (which must exist), or say who holds it.
    pub(crate) fn acquire(dir: &Path) -> Result<EngineLock, StoreError> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| StoreError::io("open the engine lock", &path, e))?;

        // A lock this very process released can still be held for a moment by a child
        // between fork and exec (shell steps, tests): wait that out, briefly.
        let mut tries = 0;
        loop {
            // SAFETY: flock on a valid, owned file descriptor has no memory effects.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if rc == 0 {
                break;
            }
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(StoreError::io("lock", &path, err));
            }
            let mut text = String::new();
            let _ = file.seek(SeekFrom::Start(0));
            let pid = file
                .read_to_string(&mut text)
                .ok()
                .and_then(|_| text.trim().parse::<u32>().ok());
            if pid == Some(std::process::id()) && tries < 50 {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
                continue;
            }
            return Err(StoreError::Locked {
                dir: dir.to_path_buf(),
                pid,
            });
        }

        // Ours now: record who holds it, for the next one who asks.
        let write_pid = |file: &mut File| -> std::io::Result<()> {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            writeln!(file, "{}", std::process::id())?;
            file.flush()
        };
        write_pid(&mut file).map_err(|e| StoreError::io("write our pid into", &path, e))?;
        Ok(EngineLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_records_pid_and_conflicts_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let held = EngineLock::acquire(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(LOCK_FILE)).unwrap();
        assert_eq!(text.trim(), std::process::id().to_string());
        match EngineLock::acquire(dir.path()) {
            Err(StoreError::Locked { dir: d, pid }) => {
                assert_eq!(d, dir.path());
                assert_eq!(pid, Some(std::process::id()));
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        drop(held);
        let again = EngineLock::acquire(dir.path()).unwrap();
        drop(again);
    }

    #[test]
    fn unreadable_pid_is_reported_as_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let _held = EngineLock::acquire(dir.path()).unwrap();
        std::fs::write(dir.path().join(LOCK_FILE), "garbage").unwrap();
        let err = EngineLock::acquire(dir.path()).unwrap_err();
        assert!(err.to_string().contains("(pid unknown)"), "{err}");
    }
}
