//! The index of ended items in the journal file: one `ended_items` row per item the
//! engine has let go of (written in the same transaction as the record that ended it)
//! and one `ended_tasks` row per task of such an item, so listings, details and audit
//! trails of the history are read from disk, not kept in memory.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, Row, Transaction, params};

use crate::types::view::{EndedItem, ItemFilter, ItemStatus, ItemSummary, TaskView};
use crate::types::{ItemId, TaskId};

/// The tables, for a fresh journal and for the migrations (after `ADD_NAMES` from 2).
pub const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS ended_items (
        id          INTEGER PRIMARY KEY,
        workflow    TEXT NOT NULL,
        version     INTEGER NOT NULL,
        status      TEXT NOT NULL,
        current     TEXT NOT NULL,
        priority    INTEGER NOT NULL,
        started_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL,
        ended_at    INTEGER NOT NULL,
        sla_due     INTEGER,
        sla_warned  INTEGER NOT NULL,
        sla_breached INTEGER NOT NULL,
        first_seq   INTEGER NOT NULL,
        last_seq    INTEGER NOT NULL,
        key         TEXT COLLATE NOCASE,
        title       TEXT
    );
    CREATE INDEX IF NOT EXISTS ended_items_workflow ON ended_items (workflow, id);
    CREATE INDEX IF NOT EXISTS ended_items_status ON ended_items (status, id);
    CREATE INDEX IF NOT EXISTS ended_items_ended_at ON ended_items (ended_at);
    CREATE INDEX IF NOT EXISTS ended_items_key ON ended_items (key, id) WHERE key IS NOT NULL;
    CREATE TABLE IF NOT EXISTS ended_tasks (
        id   INTEGER PRIMARY KEY,
        item INTEGER NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS ended_tasks_item ON ended_tasks (item);
";

/// From schema 2: ended items gained their business key and title. Keys compare
/// ignoring ASCII case, as filters on items in flight do.
pub const ADD_NAMES: &str = "
    ALTER TABLE ended_items ADD COLUMN key TEXT COLLATE NOCASE;
    ALTER TABLE ended_items ADD COLUMN title TEXT;
";

const INSERT_ITEM: &str = "INSERT OR REPLACE INTO ended_items (id, workflow, version, status, \
    current, priority, started_at, updated_at, ended_at, sla_due, sla_warned, sla_breached, \
    first_seq, last_seq, key, title) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, \
    ?13, ?14, ?15, ?16)";
const INSERT_TASK: &str = "INSERT OR REPLACE INTO ended_tasks (id, item, body) VALUES (?1, ?2, ?3)";
const COLUMNS: &str = "id, workflow, version, status, current, priority, started_at, updated_at, \
    ended_at, sla_due, sla_warned, sla_breached, first_seq, last_seq, key, title";

/// Nanoseconds since the epoch: exact, and an eighth of the text form.
fn nanos(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

fn time(n: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(n)
}

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Write ended items and their tasks inside the caller's transaction.
pub fn insert(tx: &Transaction<'_>, ended: &[EndedItem]) -> rusqlite::Result<()> {
    if ended.is_empty() {
        return Ok(());
    }
    let mut items = tx.prepare_cached(INSERT_ITEM)?;
    let mut tasks = tx.prepare_cached(INSERT_TASK)?;
    for e in ended {
        let s = &e.summary;
        items.execute(params![
            int(s.id),
            s.workflow,
            s.version,
            s.status.name(),
            s.current,
            s.priority,
            nanos(s.started_at),
            nanos(s.updated_at),
            nanos(s.ended_at.unwrap_or(s.updated_at)),
            s.sla_due.map(nanos),
            s.sla_warned,
            s.sla_breached,
            int(e.first_seq),
            int(e.last_seq),
            s.key,
            s.title,
        ])?;
        for t in &e.tasks {
            let body = serde_json::to_string(t)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            tasks.execute(params![int(t.id), int(t.item), body])?;
        }
    }
    Ok(())
}

/// An ended item's row: its summary and where its records are.
#[derive(Debug, Clone, PartialEq)]
pub struct EndedRow {
    pub summary: ItemSummary,
    pub first_seq: u64,
    pub last_seq: u64,
}

fn row(r: &Row<'_>) -> rusqlite::Result<EndedRow> {
    let status: String = r.get(3)?;
    let status = ItemStatus::parse(&status).unwrap_or(ItemStatus::Completed);
    let ended_at = time(r.get(8)?);
    Ok(EndedRow {
        summary: ItemSummary {
            id: r.get::<_, i64>(0)? as u64,
            workflow: r.get(1)?,
            version: r.get(2)?,
            status,
            current: r.get(4)?,
            priority: r.get(5)?,
            started_at: time(r.get(6)?),
            updated_at: time(r.get(7)?),
            ended_at: Some(ended_at),
            sla_due: r.get::<_, Option<i64>>(9)?.map(time),
            sla_warned: r.get(10)?,
            sla_breached: r.get(11)?,
            incident: None,
            key: r.get(14)?,
            title: r.get(15)?,
        },
        first_seq: r.get::<_, i64>(12)? as u64,
        last_seq: r.get::<_, i64>(13)? as u64,
    })
}

/// Ended items matching `f` (its status, workflow and `after`), newest first, at most
/// `limit`.
pub fn list(conn: &Connection, f: &ItemFilter, limit: usize) -> rusqlite::Result<Vec<EndedRow>> {
    let mut sql = format!("SELECT {COLUMNS} FROM ended_items WHERE id < ?1");
    let mut args: Vec<Box<dyn rusqlite::ToSql>> = vec![Box::new(f.after.map_or(i64::MAX, int))];
    if let Some(st) = f.status {
        sql.push_str(" AND status = ?2");
        args.push(Box::new(st.name()));
    }
    if let Some(w) = &f.workflow {
        sql.push_str(&format!(" AND workflow = ?{}", args.len() + 1));
        args.push(Box::new(w.clone()));
    }
    if let Some(k) = &f.key {
        sql.push_str(&format!(" AND key = ?{}", args.len() + 1));
        args.push(Box::new(k.clone()));
    }
    if let Some(p) = &f.key_prefix {
        // A range on the NOCASE index: every key that starts with `p`, whatever its case.
        let n = args.len();
        sql.push_str(&format!(" AND key >= ?{} AND key < ?{}", n + 1, n + 2));
        args.push(Box::new(p.clone()));
        args.push(Box::new(format!("{p}\u{10ffff}")));
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT ?{}", args.len() + 1));
    args.push(Box::new(i64::try_from(limit).unwrap_or(i64::MAX)));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), row)?;
    rows.collect()
}

/// One ended item, if the store has it.
pub fn get(conn: &Connection, id: ItemId) -> rusqlite::Result<Option<EndedRow>> {
    use rusqlite::OptionalExtension;
    let sql = format!("SELECT {COLUMNS} FROM ended_items WHERE id = ?1");
    conn.prepare_cached(&sql)?
        .query_row([int(id)], row)
        .optional()
}

fn task(body: String) -> rusqlite::Result<TaskView> {
    serde_json::from_str(&body).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e))
    })
}

/// Tasks of ended items with ids above `after`, oldest first, at most `limit`.
pub fn tasks(conn: &Connection, after: TaskId, limit: usize) -> rusqlite::Result<Vec<TaskView>> {
    let mut stmt =
        conn.prepare_cached("SELECT body FROM ended_tasks WHERE id > ?1 ORDER BY id LIMIT ?2")?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(params![int(after), limit], |r| r.get::<_, String>(0))?;
    rows.map(|b| task(b?)).collect()
}

/// One task of an ended item.
pub fn get_task(conn: &Connection, id: TaskId) -> rusqlite::Result<Option<TaskView>> {
    use rusqlite::OptionalExtension;
    let body: Option<String> = conn
        .prepare_cached("SELECT body FROM ended_tasks WHERE id = ?1")?
        .query_row([int(id)], |r| r.get(0))
        .optional()?;
    body.map(task).transpose()
}
