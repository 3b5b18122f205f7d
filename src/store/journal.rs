//! The SQLite journal: one `events` row per `Record` (its JSON in `body`, with `seq`,
//! `item`, `at` and `kind` copied out for querying), appended by a single writer in one
//! transaction per batch, and read back in seq order for replay or by any reader.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use chrono::SecondsFormat;
use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use super::chain::{self, Hash};
use super::lock::EngineLock;
use super::{StoreError, ensure_dir};
use crate::types::event::Record;
use crate::types::tally::{Counts, Tally};
use crate::types::view::EndedItem;

/// The journal's file name inside the data dir.
pub const JOURNAL_FILE: &str = "journal.db";

/// The schema this build writes; a journal with a newer one is refused, an older one
/// is migrated on open. 2 added the index of ended items, 3 their keys and titles, 4
/// the rollups, 5 the hash chain (`chain.rs`).
pub const SCHEMA_VERSION: i64 = 5;

/// Set by the migration from schema 1: the ended-items index must be filled by a replay.
const BACKFILL: &str = "backfill_ended";

const INSERT: &str = "INSERT INTO events (seq, item, body, hash) VALUES (?1, ?2, ?3, ?4)";
/// Journals created before schema 2 also copy the time and the kind out of the body.
const INSERT_V1: &str =
    "INSERT INTO events (seq, item, at, kind, body, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
const SELECT_AFTER: &str = "SELECT seq, body FROM events WHERE seq > ?1 ORDER BY seq";

/// The single writer of a data dir's journal. Holding it holds the engine lock.
pub struct Journal {
    // Field order matters: the connection closes before the lock is released.
    conn: Connection,
    path: PathBuf,
    last_seq: u64,
    /// The chain's hash at `last_seq`: what the next record is chained to.
    head_hash: Hash,
    /// Reused between appends to serialize bodies without allocating per record.
    buf: Vec<u8>,
    /// The events table has schema 1's `at` and `kind` columns.
    v1_columns: bool,
    /// Made when the journal was created; a copy of the file keeps it.
    id: String,
    /// Rollup minutes before this were merged into hours (by this process).
    compacted: i64,
    _lock: EngineLock,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.path)
            .field("last_seq", &self.last_seq)
            .finish_non_exhaustive()
    }
}

/// Map a SQLite error, recognising a file that is not (or no longer) a database.
pub(super) fn sql_err<'a>(
    path: &'a Path,
    what: &'static str,
) -> impl FnOnce(rusqlite::Error) -> StoreError + 'a {
    move |source| match source.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
            StoreError::NotAJournal {
                path: path.to_path_buf(),
                detail: source.to_string(),
            }
        }
        _ => StoreError::Sqlite {
            what,
            path: path.to_path_buf(),
            source,
        },
    }
}

pub(super) fn to_i64(value: u64, path: &Path, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| {
        StoreError::Other(format!(
            "journal {}: {what} {value} is too large to store",
            path.display()
        ))
    })
}

impl Journal {
    /// Open (creating if needed) the journal of `dir`, taking the exclusive engine lock.
    pub fn open(dir: &Path) -> Result<Journal, StoreError> {
        ensure_dir(dir)?;
        let lock = EngineLock::acquire(dir)?;
        let path = dir.join(JOURNAL_FILE);
        check_header(&path)?;
        create_private(&path)?;
        let mut conn = Connection::open(&path).map_err(sql_err(&path, "open"))?;

        // The first statement is where SQLite reads the header: a garbage file fails here.
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
            .map_err(sql_err(&path, "switch to WAL mode"))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Other(format!(
                "journal {}: SQLite refused WAL mode (got {mode}); is it on a network file system?",
                path.display()
            )));
        }
        // Checkpoints every ~40 MB of WAL rather than SQLite's 4 MB: the (item, seq)
        // index dirties up to one page per item per batch, and rarer checkpoints write
        // each hot page once instead of many times (measured ~1.7x faster appends).
        conn.execute_batch(
            "PRAGMA synchronous=FULL;
             PRAGMA busy_timeout=5000;
             PRAGMA wal_autocheckpoint=10000;
             PRAGMA journal_size_limit=67108864;
             PRAGMA cache_size=-32768;",
        )
        .map_err(sql_err(&path, "set pragmas"))?;
        conn.set_prepared_statement_cache_capacity(16);

        migrate(&mut conn, &path)?;

        let last: Option<i64> = conn
            .query_row("SELECT MAX(seq) FROM events", [], |row| row.get(0))
            .map_err(sql_err(&path, "read the last seq"))?;
        let last_seq = u64::try_from(last.unwrap_or(0)).map_err(|_| StoreError::BadRecord {
            path: path.clone(),
            seq: last.unwrap_or(0),
            detail: "negative seq".into(),
        })?;
        // Retention may have removed the newest records; seqs still never go back.
        let floors = super::retention::floors(&conn, &path)?;
        let last_seq = last_seq.max(floors.pruned_through);
        // Retention never removes past the head, so the chain ends there (or verify
        // will say where it does not).
        let (end, head_hash) = chain::head(&conn, &path)?;
        // A damaged head hash is verify's to report; the engine carries on from zeros
        // (so the break shows there) rather than refusing to start.
        let head_hash = head_hash.unwrap_or_else(|| {
            tracing::warn!(
                "journal {}: the hash at seq {end} is missing or damaged; `tempi audit --verify` names the break",
                path.display()
            );
            chain::GENESIS
        });

        let v1_columns = conn
            .prepare("SELECT 1 FROM pragma_table_info('events') WHERE name = 'kind'")
            .and_then(|mut s| s.exists([]))
            .map_err(sql_err(&path, "read the events table's columns"))?;
        let id: String = conn
            .query_row("SELECT value FROM meta WHERE key = 'journal_id'", [], |r| {
                r.get(0)
            })
            .map_err(sql_err(&path, "read the journal's id"))?;
        Ok(Journal {
            conn,
            path,
            last_seq,
            head_hash,
            buf: Vec::with_capacity(1024),
            v1_columns,
            id,
            compacted: i64::MIN,
            _lock: lock,
        })
    }

    /// Which journal this is: made at its creation, never changed.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The journal file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The seq of the last committed record (0 when the journal is empty).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The chain's hash at `last_seq()` (all zeros when the journal is empty).
    pub fn head_hash(&self) -> Hash {
        self.head_hash
    }

    /// What retention removed: the seq below which the journal may have gaps, and the
    /// id floors a replay must respect.
    pub fn floors(&self) -> Result<super::retention::Floors, StoreError> {
        super::retention::floors(&self.conn, &self.path)
    }

    /// Append records in one transaction (one fsync). Their seqs must continue the
    /// journal exactly (`last_seq() + 1`, `+ 2`, ...); otherwise nothing is written.
    pub fn append(&mut self, records: &[Record]) -> Result<(), StoreError> {
        self.commit(records, &[])
    }

    /// Append records and index the items they ended, in one transaction.
    pub fn commit(&mut self, records: &[Record], ended: &[EndedItem]) -> Result<(), StoreError> {
        self.commit_counted(records, ended, &Tally::default())
    }

    /// Append records, index the items they ended and add what they counted to the
    /// rollups, in one transaction.
    pub fn commit_counted(
        &mut self,
        records: &[Record],
        ended: &[EndedItem],
        tally: &Tally,
    ) -> Result<(), StoreError> {
        for (index, record) in records.iter().enumerate() {
            let expected = self.last_seq + 1 + index as u64;
            if record.seq != expected {
                return Err(StoreError::OutOfOrder {
                    path: self.path.clone(),
                    index,
                    got: record.seq,
                    expected,
                });
            }
        }
        let Some(last) = records.last() else {
            return Ok(());
        };
        // Checked once for the whole batch: every seq is at most the last.
        to_i64(last.seq, &self.path, "seq")?;

        let path = &self.path;
        let buf = &mut self.buf;
        let v1 = self.v1_columns;
        // Chained as they are written; kept only once the transaction commits.
        let mut hash = self.head_hash;
        let tx = self
            .conn
            .transaction()
            .map_err(sql_err(path, "begin a transaction"))?;
        {
            let mut stmt = tx
                .prepare_cached(if v1 { INSERT_V1 } else { INSERT })
                .map_err(sql_err(path, "prepare the insert"))?;
            for record in records {
                buf.clear();
                super::body::encode(record, &mut *buf).map_err(|e| {
                    StoreError::Other(format!("cannot encode record {}: {e}", record.seq))
                })?;
                // serde_json writes valid UTF-8.
                let body = std::str::from_utf8(buf).map_err(|e| {
                    StoreError::Other(format!("cannot encode record {}: {e}", record.seq))
                })?;
                let item = record
                    .item
                    .map(|item| to_i64(item, path, "item id"))
                    .transpose()?;
                hash = chain::link(&hash, record.seq, body.as_bytes());
                let h = &hash[..];
                let inserted = if v1 {
                    let at = record.at.to_rfc3339_opts(SecondsFormat::AutoSi, true);
                    let kind = record.event.name();
                    stmt.execute(params![record.seq as i64, item, at, kind, body, h])
                } else {
                    stmt.execute(params![record.seq as i64, item, body, h])
                };
                inserted.map_err(sql_err(path, "insert a record"))?;
            }
        }
        super::ended::insert(&tx, ended).map_err(sql_err(path, "index ended items"))?;
        // Once an hour of record time, minutes older than a week become hours.
        let newest = tally
            .rows
            .values()
            .filter_map(|m| m.keys().next_back())
            .max();
        let compact = newest
            .map(|&n| super::rollups::horizon(n))
            .filter(|&h| h > self.compacted);
        super::rollups::add(&tx, tally, compact).map_err(sql_err(path, "add to the rollups"))?;
        tx.commit().map_err(sql_err(path, "commit a batch"))?;
        self.last_seq = last.seq;
        self.head_hash = hash;
        if let Some(h) = compact {
            self.compacted = h;
        }
        Ok(())
    }

    /// Write a page's worth into the journal and take it back, in one durable
    /// transaction: whether a commit can succeed again after the disk was full.
    pub fn probe(&mut self) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = self
            .conn
            .transaction()
            .map_err(sql_err(path, "begin a probe"))?;
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('probe', ?1)",
            [" ".repeat(4096)],
        )
        .map_err(sql_err(path, "write a probe"))?;
        tx.execute("DELETE FROM meta WHERE key = 'probe'", [])
            .map_err(sql_err(path, "remove a probe"))?;
        tx.commit().map_err(sql_err(path, "commit a probe"))
    }

    /// What the rollups hold per workflow, over everything (for the engine's totals).
    pub fn rollup_totals(&self) -> Result<BTreeMap<String, Counts>, StoreError> {
        super::rollups::sums(&self.conn, None)
            .map(|(sums, _)| sums)
            .map_err(sql_err(&self.path, "read the rollups"))
    }

    /// Whether the ended-items index still has to be filled from a replay (a journal
    /// migrated from schema 1).
    pub fn needs_backfill(&self) -> Result<bool, StoreError> {
        let found: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [BACKFILL], |r| {
                r.get(0)
            })
            .optional()
            .map_err(sql_err(&self.path, "read the migration state"))?;
        Ok(found.is_some())
    }

    /// Index items that ended before the index existed, and mark the migration done.
    pub fn backfill(&mut self, ended: &[EndedItem]) -> Result<(), StoreError> {
        let path = &self.path;
        let tx = self
            .conn
            .transaction()
            .map_err(sql_err(path, "begin the backfill"))?;
        super::ended::insert(&tx, ended).map_err(sql_err(path, "index ended items"))?;
        tx.execute("DELETE FROM meta WHERE key = ?1", [BACKFILL])
            .map_err(sql_err(path, "finish the migration"))?;
        tx.commit().map_err(sql_err(path, "commit the backfill"))
    }

    /// Every record with `seq > after` in order, for replay. Returns the last seq
    /// replayed (`after` when there is none).
    pub fn replay(&self, after: u64, f: &mut dyn FnMut(Record)) -> Result<u64, StoreError> {
        replay_from(&self.conn, &self.path, after, f)
    }
}

/// Every record of `conn` with `seq > after`, in order, to `f`; the last seq seen.
///
/// Reading and applying stay on this thread; decoding the JSON bodies (the larger
/// share of the work) runs on a second one, batch by batch, so a restart uses both
/// cores. Batches come back in the order they were sent.
pub(super) fn replay_from(
    conn: &Connection,
    path: &Path,
    after: u64,
    f: &mut dyn FnMut(Record),
) -> Result<u64, StoreError> {
    const BATCH: usize = 4096;
    let mut stmt = conn
        .prepare_cached(SELECT_AFTER)
        .map_err(sql_err(path, "prepare the replay"))?;
    let mut rows = stmt
        .query([i64::try_from(after).unwrap_or(i64::MAX)])
        .map_err(sql_err(path, "replay"))?;
    let mut last = after;
    std::thread::scope(|scope| {
        let (raw_tx, raw_rx) = mpsc::sync_channel::<Vec<(i64, String)>>(2);
        let (rec_tx, rec_rx) = mpsc::sync_channel::<Vec<Result<Record, StoreError>>>(2);
        scope.spawn(move || {
            for batch in raw_rx {
                let decoded: Vec<_> = batch
                    .iter()
                    .map(|(seq, body)| decode(*seq, body, path))
                    .collect();
                if rec_tx.send(decoded).is_err() {
                    return;
                }
            }
        });
        // Records before a bad one are delivered, as a one-by-one replay would.
        let mut apply = |batch: Vec<Result<Record, StoreError>>| -> Result<(), StoreError> {
            for record in batch {
                let record = record?;
                last = record.seq;
                f(record);
            }
            Ok(())
        };
        let decoder_gone = || StoreError::Other("the replay decoder stopped".into());
        loop {
            let mut batch = Vec::with_capacity(BATCH);
            while batch.len() < BATCH {
                let Some(row) = rows.next().map_err(sql_err(path, "replay"))? else {
                    break;
                };
                batch.push(raw_row(row, path)?);
            }
            if batch.is_empty() {
                break;
            }
            // Never block on a full queue while the decoder waits on us: apply what
            // it has finished until there is room.
            let mut pending = batch;
            loop {
                match raw_tx.try_send(pending) {
                    Ok(()) => break,
                    Err(mpsc::TrySendError::Full(b)) => {
                        pending = b;
                        apply(rec_rx.recv().map_err(|_| decoder_gone())?)?;
                    }
                    Err(mpsc::TrySendError::Disconnected(_)) => return Err(decoder_gone()),
                }
            }
        }
        drop(raw_tx);
        for batch in rec_rx {
            apply(batch)?;
        }
        Ok(())
    })?;
    Ok(last)
}

/// A row's seq and body text, undecoded.
fn raw_row(row: &rusqlite::Row<'_>, path: &Path) -> Result<(i64, String), StoreError> {
    let (seq, body) = row_text(row, path)?;
    Ok((seq, body.to_string()))
}

fn row_text<'r>(row: &'r rusqlite::Row<'_>, path: &Path) -> Result<(i64, &'r str), StoreError> {
    let seq: i64 = row.get(0).map_err(sql_err(path, "read a seq"))?;
    let body = row
        .get_ref(1)
        .map_err(sql_err(path, "read a record"))?
        .as_str()
        .map_err(|e| StoreError::BadRecord {
            path: path.to_path_buf(),
            seq,
            detail: format!("body is not text: {e}"),
        })?;
    Ok((seq, body))
}

/// A record from its body, checking it carries the seq of its row.
fn decode(seq: i64, body: &str, path: &Path) -> Result<Record, StoreError> {
    let bad = |detail: String| StoreError::BadRecord {
        path: path.to_path_buf(),
        seq,
        detail,
    };
    let key = u64::try_from(seq).map_err(|_| bad("negative seq".into()))?;
    super::body::decode(key, body).map_err(bad)
}

/// Parse a `(seq, body)` row into its record, checking the two agree.
pub(super) fn decode_row(row: &rusqlite::Row<'_>, path: &Path) -> Result<Record, StoreError> {
    let (seq, body) = row_text(row, path)?;
    decode(seq, body, path)
}

/// Make the journal readable by its owner only: a missing file is created 0600, and
/// one an earlier version left readable by others is tightened, with its WAL and
/// shared-memory files (SQLite gives new ones the database's mode).
fn create_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(StoreError::io("create", path, e)),
    }
    for suffix in ["", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        match std::fs::metadata(&file) {
            Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| StoreError::io("make private", &file, e))?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// Refuse a non-empty file that does not start like a SQLite database. (SQLite itself
/// would treat a file shorter than a page as empty and overwrite it.)
pub(super) fn check_header(path: &Path) -> Result<(), StoreError> {
    use std::io::Read;
    const MAGIC: &[u8; 16] = b"SQLite format 3\0";
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::io("open", path, e)),
    };
    let mut head = Vec::with_capacity(MAGIC.len());
    (&mut file)
        .take(MAGIC.len() as u64)
        .read_to_end(&mut head)
        .map_err(|e| StoreError::io("read", path, e))?;
    if head.is_empty() || head == MAGIC {
        return Ok(());
    }
    Err(StoreError::NotAJournal {
        path: path.to_path_buf(),
        detail: "it does not start with the SQLite header".into(),
    })
}

/// Create the schema in a fresh journal, or check the version of an existing one.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(sql_err(path, "begin the schema check"))?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        .map_err(sql_err(path, "create the meta table"))?;
    let version: Option<String> = tx
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |row| row.get(0),
        )
        .optional()
        .map_err(sql_err(path, "read the schema version"))?;
    let set_version = |tx: &rusqlite::Transaction<'_>| {
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?1)",
            [SCHEMA_VERSION.to_string()],
        )
        .map_err(sql_err(path, "record the schema version"))
    };
    match version {
        None => {
            // The body is the record; the item is copied out for the per-item index.
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS events (
                     seq  INTEGER PRIMARY KEY,
                     item INTEGER,
                     body TEXT NOT NULL,
                     hash BLOB NOT NULL
                 );
                 CREATE INDEX IF NOT EXISTS events_item_seq ON events (item, seq);",
            )
            .map_err(sql_err(path, "create the events table"))?;
            tx.execute_batch(super::chain::SCHEMA)
                .map_err(sql_err(path, "create the tombstones table"))?;
            tx.execute_batch(super::ended::SCHEMA)
                .map_err(sql_err(path, "create the ended-items index"))?;
            tx.execute_batch(super::rollups::SCHEMA)
                .map_err(sql_err(path, "create the rollups"))?;
            set_version(&tx)?;
        }
        Some(text) => {
            let found: i64 = text.trim().parse().map_err(|_| StoreError::NotAJournal {
                path: path.to_path_buf(),
                detail: format!("schema version {text:?} is not a number"),
            })?;
            if found > SCHEMA_VERSION {
                return Err(StoreError::SchemaTooNew {
                    path: path.to_path_buf(),
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            if found < 2 {
                // Items that ended under schema 1 are indexed by the first replay.
                tx.execute_batch(super::ended::SCHEMA)
                    .map_err(sql_err(path, "create the ended-items index"))?;
                tx.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, '1')",
                    [BACKFILL],
                )
                .map_err(sql_err(path, "record the migration"))?;
                set_version(&tx)?;
            } else if found < 3 {
                tx.execute_batch(super::ended::ADD_NAMES).map_err(sql_err(
                    path,
                    "add keys and titles to the ended-items index",
                ))?;
                tx.execute_batch(super::ended::SCHEMA)
                    .map_err(sql_err(path, "index the keys of ended items"))?;
                set_version(&tx)?;
            }
            if found < 4 {
                // Figures begin at the upgrade: what ended before was never counted.
                tx.execute_batch(super::rollups::SCHEMA)
                    .map_err(sql_err(path, "create the rollups"))?;
                set_version(&tx)?;
            }
            if found < 5 {
                // The chain starts from what the journal holds at the upgrade.
                let floors = super::retention::floors(&tx, path)?;
                super::chain::migrate(&tx, path, floors.pruned_through)?;
                set_version(&tx)?;
            }
        }
    }
    // Which journal this is, so a watcher resuming a position can tell it is the same.
    let id = {
        use rand::{Rng, SeedableRng};
        format!("{:016x}", rand::rngs::StdRng::from_os_rng().random::<u64>())
    };
    tx.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('journal_id', ?1)",
        [id],
    )
    .map_err(sql_err(path, "record the journal's id"))?;
    tx.commit().map_err(sql_err(path, "commit the schema"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_can_move_to_a_blocking_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<Journal>();
    }

    #[test]
    fn header_check_accepts_missing_empty_and_sqlite_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        check_header(&path).unwrap();
        std::fs::write(&path, b"").unwrap();
        check_header(&path).unwrap();
        std::fs::write(&path, b"SQLite format 3\0rest of the page").unwrap();
        check_header(&path).unwrap();
        std::fs::write(&path, b"SQLite").unwrap();
        assert!(matches!(
            check_header(&path),
            Err(StoreError::NotAJournal { .. })
        ));
    }

    #[test]
    fn opens_in_wal_with_full_sync_and_schema_version() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path()).unwrap();
        let conn = &journal.conn;
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "FULL");
        let version: String = conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION.to_string());
        let index: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'events_item_seq'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(index, 1);
    }

    #[test]
    fn not_a_database_maps_to_not_a_journal() {
        let err = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_NOTADB),
            None,
        );
        let mapped = sql_err(Path::new("/j.db"), "open")(err);
        assert!(
            matches!(mapped, StoreError::NotAJournal { .. }),
            "{mapped:?}"
        );
    }
}
