//! Reading a journal beside the engine that writes it: records for audit trails and
//! event streams, and the index of ended items. Each `Reader` has its own read-only
//! connection, so reads never take the writer's lock.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, params};

use super::StoreError;
use super::ended::{self, EndedRow};
use super::journal::{JOURNAL_FILE, check_header, decode_row, sql_err};
use crate::types::event::{ItemId, Record, TaskId};
use crate::types::tally::Counts;
use crate::types::view::{ItemFilter, TaskView};

/// A read-only view of one data dir's journal.
pub struct Reader {
    conn: Connection,
    path: PathBuf,
}

impl Reader {
    pub fn open(dir: &Path) -> Result<Reader, StoreError> {
        let path = dir.join(JOURNAL_FILE);
        if !path.is_file() {
            return Err(StoreError::NoJournal { path });
        }
        check_header(&path)?;
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql_err(&path, "open for reading"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sql_err(&path, "set the busy timeout"))?;
        Ok(Reader { conn, path })
    }

    /// What the rollups hold per workflow from the bucket `since` (seconds since the
    /// epoch) falls in, or over everything; and the start of the first bucket counted.
    pub fn rollup_sums(
        &self,
        since: Option<i64>,
    ) -> Result<(BTreeMap<String, Counts>, Option<i64>), StoreError> {
        super::rollups::sums(&self.conn, since).map_err(sql_err(&self.path, "read the rollups"))
    }

    /// Records with `seq > after` (of one item, or all), oldest first, at most `limit`.
    pub fn records(
        &self,
        item: Option<ItemId>,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Record>, StoreError> {
        let path = &self.path;
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut out = Vec::new();
        let mut collect = |mut rows: rusqlite::Rows<'_>| -> Result<(), StoreError> {
            while let Some(row) = rows.next().map_err(sql_err(path, "read records"))? {
                out.push(decode_row(row, path)?);
            }
            Ok(())
        };
        match item {
            Some(item) => {
                // Ids are stored as SQLite integers: one past them names no item.
                let Ok(item) = i64::try_from(item) else {
                    return Ok(out);
                };
                let mut stmt = self
                    .conn
                    .prepare_cached(
                        "SELECT seq, body FROM events WHERE item = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                    )
                    .map_err(sql_err(path, "prepare a read"))?;
                let rows = stmt
                    .query(params![item, after, limit])
                    .map_err(sql_err(path, "read records"))?;
                collect(rows)?;
            }
            None => {
                let mut stmt = self
                    .conn
                    .prepare_cached(
                        "SELECT seq, body FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                    )
                    .map_err(sql_err(path, "prepare a read"))?;
                let rows = stmt
                    .query(params![after, limit])
                    .map_err(sql_err(path, "read records"))?;
                collect(rows)?;
            }
        }
        Ok(out)
    }

    /// Every record with `seq > after`, in order (as a replay); the last seq seen.
    pub fn replay(&self, after: u64, f: &mut dyn FnMut(Record)) -> Result<u64, StoreError> {
        super::journal::replay_from(&self.conn, &self.path, after, f)
    }

    /// The seq of the last committed record.
    pub fn head(&self) -> Result<u64, StoreError> {
        let last: Option<i64> = self
            .conn
            .query_row("SELECT MAX(seq) FROM events", [], |row| row.get(0))
            .map_err(sql_err(&self.path, "read the last seq"))?;
        let floors = self.floors()?;
        Ok(last
            .map_or(0, |s| s.max(0) as u64)
            .max(floors.pruned_through))
    }

    /// What retention removed (see `retention::Floors`).
    pub fn floors(&self) -> Result<super::retention::Floors, StoreError> {
        super::retention::floors(&self.conn, &self.path)
    }

    /// Ended items matching `f`, newest first, at most `limit`.
    pub fn ended_items(&self, f: &ItemFilter, limit: usize) -> Result<Vec<EndedRow>, StoreError> {
        ended::list(&self.conn, f, limit).map_err(sql_err(&self.path, "list ended items"))
    }

    /// One ended item and its records, read in one transaction (so retention cannot
    /// remove the records between the two).
    pub fn ended_item_with_records(
        &self,
        id: ItemId,
    ) -> Result<Option<(EndedRow, Vec<Record>)>, StoreError> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(sql_err(&self.path, "begin a read"))?;
        let Some(row) = self.ended_item(id)? else {
            return Ok(None);
        };
        let records = self.records(Some(id), row.first_seq.saturating_sub(1), usize::MAX)?;
        tx.finish().map_err(sql_err(&self.path, "end a read"))?;
        Ok(Some((row, records)))
    }

    /// One ended item.
    pub fn ended_item(&self, id: ItemId) -> Result<Option<EndedRow>, StoreError> {
        ended::get(&self.conn, id).map_err(sql_err(&self.path, "read an ended item"))
    }

    /// Tasks of ended items with ids above `after`, oldest first, at most `limit`.
    pub fn ended_tasks(&self, after: TaskId, limit: usize) -> Result<Vec<TaskView>, StoreError> {
        ended::tasks(&self.conn, after, limit).map_err(sql_err(&self.path, "list ended tasks"))
    }

    /// One task of an ended item.
    pub fn ended_task(&self, id: TaskId) -> Result<Option<TaskView>, StoreError> {
        ended::get_task(&self.conn, id).map_err(sql_err(&self.path, "read an ended task"))
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
    Reader::open(dir)?.records(item, after, limit)
}
