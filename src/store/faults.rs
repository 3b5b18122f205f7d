//! A journal that fails on demand, for tests (and the debug build's `TEMPI_TEST_FAULT`):
//! commits and probes fail as a full disk or a failed fsync would, until healed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::ffi;

use super::{Store, StoreError};
use crate::types::Record;
use crate::types::tally::{Counts, Tally};
use crate::types::view::EndedItem;

/// What a failing commit reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SQLITE_FULL: retryable.
    DiskFull,
    /// SQLITE_IOERR_FSYNC: not.
    Fsync,
}

#[derive(Debug, Default)]
struct Plan {
    fault: Option<Fault>,
    /// Commits let through before the fault applies.
    after: u64,
    commits: u64,
    failed: u64,
}

/// The switch a test holds; `wrapper` goes into `EngineConfig::wrap_store`.
#[derive(Debug, Clone)]
pub struct Faults {
    path: PathBuf,
    plan: Arc<Mutex<Plan>>,
}

impl Faults {
    /// Faults reported against `journal` (the path a real error would name).
    pub fn new(journal: impl Into<PathBuf>) -> Faults {
        Faults {
            path: journal.into(),
            plan: Arc::default(),
        }
    }

    /// Fail every commit and probe from now on.
    pub fn fail(&self, fault: Fault) {
        self.fail_after(0, fault);
    }

    /// Let `commits` more commits through, then fail every one.
    pub fn fail_after(&self, commits: u64, fault: Fault) {
        let mut p = self.lock();
        p.after = p.commits + commits;
        p.fault = Some(fault);
    }

    /// Let everything through again.
    pub fn heal(&self) {
        self.lock().fault = None;
    }

    /// How many commits and probes were failed so far.
    pub fn failed(&self) -> u64 {
        self.lock().failed
    }

    /// `TEMPI_TEST_FAULT=full@N` or `fsync@N`: fail from the N-th commit on (1-based).
    pub fn from_spec(journal: &Path, spec: &str) -> Option<Faults> {
        let (kind, n) = spec.split_once('@')?;
        let n: u64 = n.trim().parse().ok()?;
        let fault = match kind.trim() {
            "full" => Fault::DiskFull,
            "fsync" => Fault::Fsync,
            _ => return None,
        };
        let f = Faults::new(journal);
        f.fail_after(n.saturating_sub(1), fault);
        Some(f)
    }

    /// Wraps a store so it obeys this switch.
    pub fn wrapper(&self) -> impl Fn(Box<dyn Store>) -> Box<dyn Store> + Send + Sync + 'static {
        let f = self.clone();
        move |inner| {
            Box::new(Failing {
                inner,
                faults: f.clone(),
            })
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Plan> {
        self.plan.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The error for this write, if it is to fail; `commit` counts as a commit.
    fn check(&self, commit: bool) -> Result<(), StoreError> {
        let mut p = self.lock();
        let due = p.fault.filter(|_| p.commits >= p.after);
        if commit && due.is_none() {
            p.commits += 1;
        }
        let Some(fault) = due else {
            return Ok(());
        };
        p.failed += 1;
        Err(match fault {
            Fault::DiskFull => disk_full(&self.path),
            Fault::Fsync => io_error(&self.path),
        })
    }
}

struct Failing {
    inner: Box<dyn Store>,
    faults: Faults,
}

impl Store for Failing {
    fn head(&self) -> u64 {
        self.inner.head()
    }

    fn commit(
        &mut self,
        expected_head: u64,
        records: &[Record],
        ended: &[EndedItem],
        tally: &Tally,
    ) -> Result<(), StoreError> {
        self.faults.check(true)?;
        self.inner.commit(expected_head, records, ended, tally)
    }

    fn rollup_totals(&self) -> Result<BTreeMap<String, Counts>, StoreError> {
        self.inner.rollup_totals()
    }

    fn replay(&self, after: u64, f: &mut dyn FnMut(Record)) -> Result<u64, StoreError> {
        self.inner.replay(after, f)
    }

    fn probe(&mut self) -> Result<(), StoreError> {
        self.faults.check(false)?;
        self.inner.probe()
    }
}

/// The error SQLite gives when the disk is full.
pub fn disk_full(path: &Path) -> StoreError {
    sqlite(path, ffi::SQLITE_FULL, "database or disk is full")
}

/// The error SQLite gives when an fsync fails.
pub fn io_error(path: &Path) -> StoreError {
    sqlite(path, ffi::SQLITE_IOERR_FSYNC, "disk I/O error")
}

fn sqlite(path: &Path, code: std::ffi::c_int, text: &str) -> StoreError {
    StoreError::Sqlite {
        what: "commit a batch",
        path: path.to_path_buf(),
        source: rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some(text.into())),
    }
}
