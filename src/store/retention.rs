//! Retention: the records of items that ended longer ago than the retention window
//! are deleted in small transactions on a connection of their own, with their index
//! rows. Id high-water marks and the highest seq removed are kept in `meta`, so ids are
//! never reused and a cursor into what was removed can be told to resync. Each run of
//! removed seqs becomes a tombstone in the same transaction, so the hash chain still
//! verifies (`chain.rs`). SQLite reuses the freed pages, so at a steady load the file
//! stops growing.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::StoreError;
use super::journal::{JOURNAL_FILE, sql_err};

/// `meta` keys: the highest seq removed, and the next ids a replay must not go below.
pub const PRUNED_THROUGH: &str = "pruned_through";
pub const NEXT_ITEM: &str = "next_item_floor";
pub const NEXT_TASK: &str = "next_task_floor";

/// What survives of removed items: where the journal may have gaps, and id floors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Floors {
    /// Records at or below this seq may have been removed (0: nothing was).
    pub pruned_through: u64,
    pub next_item: u64,
    pub next_task: u64,
}

/// Read the floors from `meta` (zeros when nothing was ever removed).
pub fn floors(conn: &Connection, path: &Path) -> Result<Floors, StoreError> {
    let get = |key: &str| -> Result<u64, StoreError> {
        let v: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(sql_err(path, "read the retention marks"))?;
        // A mark that does not read would let ids or seqs be reused: refuse it.
        v.map_or(Ok(0), |v| {
            v.trim().parse().map_err(|_| StoreError::NotAJournal {
                path: path.to_path_buf(),
                detail: format!("meta {key} is {v:?}, not a number"),
            })
        })
    };
    Ok(Floors {
        pruned_through: get(PRUNED_THROUGH)?,
        next_item: get(NEXT_ITEM)?,
        next_task: get(NEXT_TASK)?,
    })
}

/// How much one `prune` call removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub items: usize,
    pub records: usize,
}

/// The retention side of a journal: its own write connection.
pub struct Pruner {
    conn: Connection,
    path: PathBuf,
}

impl Pruner {
    pub fn open(dir: &Path) -> Result<Pruner, StoreError> {
        let path = dir.join(JOURNAL_FILE);
        let conn = Connection::open(&path).map_err(sql_err(&path, "open for retention"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sql_err(&path, "set the busy timeout"))?;
        Ok(Pruner { conn, path })
    }

    /// The seq of the last committed record (retention never goes past it).
    pub fn head(&self) -> Result<u64, StoreError> {
        let last: Option<i64> = self
            .conn
            .query_row("SELECT MAX(seq) FROM events", [], |r| r.get(0))
            .map_err(sql_err(&self.path, "read the last seq"))?;
        Ok(last.map_or(0, |s| s.max(0) as u64))
    }

    /// Remove up to `limit` items that ended before `cutoff` and whose records all lie
    /// at or below `covered` (the newest snapshot's seq, so a restart from it never
    /// misses a removed item's end), oldest first, in one short transaction. With an
    /// `archive` folder, their records are appended there (and flushed) first.
    pub fn prune(
        &mut self,
        now: DateTime<Utc>,
        cutoff: DateTime<Utc>,
        covered: u64,
        limit: usize,
        archive: Option<&Path>,
    ) -> Result<Pruned, StoreError> {
        let path = &self.path;
        let cutoff = cutoff.timestamp_nanos_opt().unwrap_or(i64::MIN);
        let covered = i64::try_from(covered).unwrap_or(i64::MAX);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql_err(path, "begin a retention batch"))?;
        let victims: Vec<(i64, i64)> = {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT id, last_seq FROM ended_items WHERE ended_at < ?1 AND last_seq <= ?2
                     ORDER BY ended_at LIMIT ?3",
                )
                .map_err(sql_err(path, "find items past retention"))?;
            let rows = stmt
                .query_map(params![cutoff, covered, limit as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(sql_err(path, "find items past retention"))?;
            rows.collect::<Result<_, _>>()
                .map_err(sql_err(path, "find items past retention"))?
        };
        if let Some(dir) = archive.filter(|_| !victims.is_empty()) {
            let mut records = Vec::new();
            let mut stmt = tx
                .prepare_cached("SELECT seq, body FROM events WHERE item = ?1 ORDER BY seq")
                .map_err(sql_err(path, "read records to archive"))?;
            for (id, _) in &victims {
                let mut rows = stmt
                    .query([id])
                    .map_err(sql_err(path, "read records to archive"))?;
                while let Some(row) = rows
                    .next()
                    .map_err(sql_err(path, "read records to archive"))?
                {
                    records.push(super::journal::decode_row(row, path)?);
                }
            }
            super::archive::append(dir, now, &records)?;
        }
        let mut out = Pruned::default();
        let (mut max_seq, mut max_item, mut max_task) = (0i64, 0i64, 0i64);
        let mut removed: Vec<(i64, super::chain::Hash)> = Vec::new();
        for (id, last) in &victims {
            let task: Option<i64> = tx
                .query_row(
                    "SELECT MAX(id) FROM ended_tasks WHERE item = ?1",
                    [id],
                    |r| r.get(0),
                )
                .map_err(sql_err(path, "read an item's tasks"))?;
            out.records += delete_records(&tx, path, *id, &mut removed)?;
            tx.execute("DELETE FROM ended_tasks WHERE item = ?1", [id])
                .map_err(sql_err(path, "delete tasks"))?;
            tx.execute("DELETE FROM ended_items WHERE id = ?1", [id])
                .map_err(sql_err(path, "delete an index row"))?;
            max_seq = max_seq.max(*last);
            max_item = max_item.max(*id);
            max_task = max_task.max(task.unwrap_or(0));
            out.items += 1;
        }
        super::chain::bury(&tx, &mut removed).map_err(sql_err(path, "add tombstones"))?;
        if out.items > 0 {
            let raise = "INSERT INTO meta (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = MAX(CAST(value AS INTEGER), CAST(?2 AS INTEGER))";
            for (key, v) in [
                (PRUNED_THROUGH, max_seq),
                (NEXT_ITEM, max_item + 1),
                (NEXT_TASK, max_task + 1),
            ] {
                tx.execute(raise, params![key, v.to_string()])
                    .map_err(sql_err(path, "record the retention marks"))?;
            }
        }
        tx.commit()
            .map_err(sql_err(path, "commit a retention batch"))?;
        Ok(out)
    }
}

/// Delete item `id`'s records, noting each one's seq and hash for its tombstone.
fn delete_records(
    tx: &rusqlite::Transaction<'_>,
    path: &Path,
    id: i64,
    removed: &mut Vec<(i64, super::chain::Hash)>,
) -> Result<usize, StoreError> {
    let mut stmt = tx
        .prepare_cached("DELETE FROM events WHERE item = ?1 RETURNING seq, hash")
        .map_err(sql_err(path, "delete records"))?;
    let mut rows = stmt.query([id]).map_err(sql_err(path, "delete records"))?;
    let before = removed.len();
    while let Some(row) = rows.next().map_err(sql_err(path, "delete records"))? {
        let seq: i64 = row.get(0).map_err(sql_err(path, "delete records"))?;
        let hash = row.get_ref(1).ok().and_then(super::chain::stored);
        // A damaged hash ends its tombstone with zeros: the record after it then fails
        // to verify, so the damage is still found (retention must not stop for it).
        let hash = hash.unwrap_or_else(|| {
            tracing::warn!("journal {}: record {seq} has no valid hash", path.display());
            super::chain::GENESIS
        });
        removed.push((seq, hash));
    }
    Ok(removed.len() - before)
}
