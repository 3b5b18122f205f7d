//! Verifying the hash chain (`chain.rs`) on a read-only connection: records and tombstones
//! are walked in seq order from the start (or from a position verified before), each hash
//! recomputed from the stored bytes, and the first record that does not match is named
//! with what is wrong. A full check also holds the tables derived from the records to
//! them: the `item` column, and where the ended-items index says each item's records are.
//! Not covered: the rollups (counts), snapshots and the retention archive. A tombstone is
//! taken at its word (what it removed is gone), and a chain recomputed by someone who can
//! write the file verifies: only an [`Anchor`] kept elsewhere tells those apart.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, types::ValueRef};
use serde::Serialize;

use super::StoreError;
use super::chain::{self, GENESIS, Hash};
use super::journal::{JOURNAL_FILE, SCHEMA_VERSION, check_header, sql_err};

/// The first schema with the chain.
const CHAINED: i64 = 5;
/// How far around a record that does not match to look for where its content belongs.
const REORDER_WINDOW: u64 = 16;

/// What is wrong at the seq a [`Break`] names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// The body no longer gives its hash, and the next record still chains to that hash.
    BodyChanged,
    /// The hash is not the one the body gives, and the next record chains to the latter.
    HashChanged,
    /// The body and hash do not match, and nothing after tells which changed.
    Changed,
    /// The first record after a tombstone does not chain from the tombstone's hash,
    /// though the record after it chains to its hash: the tombstone's hash or this
    /// record's body was changed.
    AfterTombstone { first: u64, last: u64 },
    /// The row holds the record of another seq (its body and hash match there).
    OutOfOrder { holds: u64 },
    /// Neither a record nor a tombstone covers `first..=through`.
    Missing { first: u64, through: u64 },
    /// The hash column is empty or not 32 bytes.
    NoHash,
    /// A record inside a tombstone's range.
    InsideTombstone { first: u64, last: u64 },
    /// A tombstone that overlaps what came before, ends before it starts, has no valid
    /// hash, or covers seqs retention never removed.
    BadTombstone { first: u64, last: u64, why: String },
    /// The body verifies but is not a record (or not of this seq).
    BadBody { detail: String },
    /// The `item` column disagrees with the body.
    ItemColumn {
        column: Option<u64>,
        body: Option<u64>,
    },
    /// The ended-items index disagrees with the records of an item.
    EndedItem { item: u64, detail: String },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let id = |v: &Option<u64>| v.map_or("none".to_string(), |v| v.to_string());
        match self {
            Problem::BodyChanged => write!(
                f,
                "its body was changed (it no longer gives its hash, which the next record still chains to)"
            ),
            Problem::HashChanged => write!(
                f,
                "its hash was changed (its body and the next record agree on another)"
            ),
            Problem::Changed => write!(
                f,
                "its body or its hash was changed (they do not match, and no record after it tells which)"
            ),
            Problem::AfterTombstone { first, last } => write!(
                f,
                "it does not chain from tombstone {first}-{last} before it: the tombstone's hash or this record's body was changed"
            ),
            Problem::OutOfOrder { holds } => write!(
                f,
                "it holds the record of seq {holds}: records were moved out of order"
            ),
            Problem::Missing { first, through } if first == through => {
                write!(f, "missing: neither a record nor a tombstone covers it")
            }
            Problem::Missing { first, through } => write!(
                f,
                "missing, through seq {through}: neither a record nor a tombstone covers seqs {first}-{through}"
            ),
            Problem::NoHash => write!(f, "its hash is missing or not 32 bytes"),
            Problem::InsideTombstone { first, last } => {
                write!(f, "a record lies inside tombstone {first}-{last}")
            }
            Problem::BadTombstone { first, last, why } => {
                write!(f, "tombstone {first}-{last} {why}")
            }
            Problem::BadBody { detail } => write!(f, "its body is not a record: {detail}"),
            Problem::ItemColumn { column, body } => write!(
                f,
                "its item column says {} but its body says {}",
                id(column),
                id(body)
            ),
            Problem::EndedItem { item, detail } => {
                write!(f, "the ended-items index of item {item} {detail}")
            }
        }
    }
}

/// The first place the chain does not verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    pub seq: u64,
    pub problem: Problem,
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "seq {}: {}", self.seq, self.problem)
    }
}

/// How far a walk has verified: the next seq to check and the chain's hash before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub next: u64,
    pub hash: Hash,
    pub records: u64,
    pub tombstones: u64,
}

impl Default for Position {
    fn default() -> Self {
        Position {
            next: 1,
            hash: GENESIS,
            records: 0,
            tombstones: 0,
        }
    }
}

impl Position {
    /// The last seq verified (0 before any).
    pub fn seq(&self) -> u64 {
        self.next - 1
    }
}

/// The chain as a state machine, fed records and tombstones in seq order: shared by
/// the journal's walk and the check of an export.
#[derive(Debug, Clone, Copy, Default)]
pub struct Checker {
    pub at: Position,
    /// The last tombstone taken, to name when a record lies inside it.
    last_tomb: Option<(u64, u64)>,
}

impl Checker {
    pub fn new(at: Position) -> Checker {
        Checker {
            at,
            last_tomb: None,
        }
    }

    /// Take record `seq`; on a mismatch the position stays before it. `Err(None)` is a
    /// hash that does not match, for the caller to say why.
    pub fn record(
        &mut self,
        seq: u64,
        body: &[u8],
        hash: Option<Hash>,
    ) -> Result<(), Option<Break>> {
        let at = self.at.next;
        if seq < at {
            let (first, last) = self.last_tomb.unwrap_or((seq, at - 1));
            return Err(Some(Break {
                seq,
                problem: Problem::InsideTombstone { first, last },
            }));
        }
        if seq > at {
            return Err(Some(missing(at, seq - 1)));
        }
        let Some(hash) = hash else {
            return Err(Some(Break {
                seq,
                problem: Problem::NoHash,
            }));
        };
        if chain::link(&self.at.hash, seq, body) != hash {
            return Err(None);
        }
        self.at.next = seq + 1;
        self.at.hash = hash;
        self.at.records += 1;
        Ok(())
    }

    /// Take tombstone `first..=last`, which retention's mark `pruned` must cover.
    pub fn tombstone(
        &mut self,
        first: u64,
        last: u64,
        hash: Option<Hash>,
        pruned: u64,
    ) -> Result<(), Break> {
        let at = self.at.next;
        let bad = |why: String| Break {
            seq: first,
            problem: Problem::BadTombstone { first, last, why },
        };
        if first > at {
            return Err(missing(at, first - 1));
        }
        if last < first {
            return Err(bad("ends before it starts".into()));
        }
        if first < at {
            return Err(bad(format!("overlaps seq {} before it", at - 1)));
        }
        if last > pruned {
            return Err(bad(format!(
                "covers seqs retention never removed (it removed through {pruned})"
            )));
        }
        let Some(hash) = hash else {
            return Err(bad("has no valid hash".into()));
        };
        self.at.next = last + 1;
        self.at.hash = hash;
        self.at.tombstones += 1;
        self.last_tomb = Some((first, last));
        Ok(())
    }

    /// At the end: retention's mark must not lie beyond what the chain covers.
    pub fn end(&self, pruned: u64) -> Result<(), Break> {
        match pruned >= self.at.next {
            true => Err(missing(self.at.next, pruned)),
            false => Ok(()),
        }
    }
}

fn missing(first: u64, through: u64) -> Break {
    Break {
        seq: first,
        problem: Problem::Missing { first, through },
    }
}

/// What a walk saw, for an export to write.
pub enum Element<'a> {
    Record {
        seq: u64,
        body: &'a [u8],
        hash: Hash,
    },
    Tombstone {
        first: u64,
        last: u64,
        hash: Hash,
    },
}

/// What is checked beside the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Hashes, order, gaps and tombstones.
    Chain,
    /// And every body decodes to a record of its row's seq and item.
    Records,
}

/// A read-only connection for verifying a data dir's journal.
pub struct Audit {
    conn: Connection,
    path: PathBuf,
}

/// The end of a walk: how far it verified, and the break if it found one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walked {
    pub at: Position,
    pub broken: Option<Break>,
    /// Whether the walk reached the end of the journal (not stopped by its limit).
    pub done: bool,
}

/// The row a walk holds while it merges records and tombstones.
struct Row {
    seq: u64,
    item: Option<i64>,
    body: Vec<u8>,
    text: bool,
    hash: Option<Hash>,
}

impl Audit {
    /// Open `dir`'s journal read-only (no lock: a daemon may be writing it).
    pub fn open(dir: &Path) -> Result<Audit, StoreError> {
        let path = dir.join(JOURNAL_FILE);
        if !path.is_file() {
            return Err(StoreError::NoJournal { path });
        }
        check_header(&path)?;
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql_err(&path, "open for verifying"))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sql_err(&path, "set the busy timeout"))?;
        let audit = Audit { conn, path };
        audit.check_schema()?;
        Ok(audit)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn check_schema(&self) -> Result<(), StoreError> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql_err(&self.path, "read the schema version"))?;
        let found: i64 = text.and_then(|t| t.trim().parse().ok()).unwrap_or(0);
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                path: self.path.clone(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        if found < CHAINED {
            return Err(StoreError::Other(format!(
                "journal {} has schema version {found}, from before the hash chain; start this tempi on it once (tempi serve --data …) to chain the records it holds",
                self.path.display()
            )));
        }
        Ok(())
    }

    /// Run `f` in one read transaction: what it reads is one moment of the journal.
    pub fn snapshot<T>(
        &self,
        f: impl FnOnce(&Audit) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(sql_err(&self.path, "begin a read"))?;
        let out = f(self)?;
        tx.finish().map_err(sql_err(&self.path, "end a read"))?;
        Ok(out)
    }

    /// The journal's id (as exports name it).
    pub fn journal_id(&self) -> Result<String, StoreError> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = 'journal_id'", [], |r| {
                r.get(0)
            })
            .map_err(sql_err(&self.path, "read the journal's id"))
    }

    /// Where the chain ends now (seq and hash), without verifying it.
    pub fn head(&self) -> Result<(u64, Option<Hash>), StoreError> {
        chain::head(&self.conn, &self.path)
    }

    fn pruned_through(&self) -> Result<u64, StoreError> {
        Ok(super::retention::floors(&self.conn, &self.path)?.pruned_through)
    }

    /// Verify from `from` on, at most `limit` records and tombstones, handing each one
    /// that verified to `visit`. Run it inside [`Audit::snapshot`] for a consistent view.
    pub fn walk(
        &self,
        from: Position,
        limit: u64,
        depth: Depth,
        visit: &mut dyn FnMut(Element<'_>) -> Result<(), StoreError>,
    ) -> Result<Walked, StoreError> {
        let path = &self.path;
        let err = |what| sql_err(path, what);
        let pruned = self.pruned_through()?;
        let start = i64::try_from(from.next).unwrap_or(i64::MAX);
        let mut records = self
            .conn
            .prepare("SELECT seq, item, body, hash FROM events WHERE seq >= ?1 ORDER BY seq")
            .map_err(err("prepare the walk"))?;
        let mut tombs = self
            .conn
            .prepare(
                "SELECT first_seq, last_seq, hash FROM tombstones WHERE last_seq >= ?1 ORDER BY first_seq",
            )
            .map_err(err("prepare the walk"))?;
        let mut rec_rows = records.query([start]).map_err(err("read records"))?;
        let mut tomb_rows = tombs.query([start]).map_err(err("read tombstones"))?;
        let mut checker = Checker::new(from);
        let mut row = Row {
            seq: 0,
            item: None,
            body: Vec::new(),
            text: true,
            hash: None,
        };
        let mut have_row = read_row(rec_rows.next().map_err(err("read records"))?, &mut row)?;
        let mut tomb = read_tomb(tomb_rows.next().map_err(err("read tombstones"))?)?;
        // A tombstone that retention widened over where an earlier walk stopped.
        if let Some((first, last, hash)) = tomb
            && first < from.next
            && from.seq() > 0
        {
            tomb = Some((from.next, last, hash));
        }
        let mut taken = 0u64;
        let broken = loop {
            if taken >= limit {
                return Ok(Walked {
                    at: checker.at,
                    broken: None,
                    done: false,
                });
            }
            let tomb_first = tomb.as_ref().map(|t| t.0);
            let take_tomb = match (have_row, tomb_first) {
                (false, None) => break checker.end(pruned).err(),
                (true, None) => false,
                (false, Some(_)) => true,
                (true, Some(first)) => first <= row.seq,
            };
            taken += 1;
            if take_tomb {
                let Some((first, last, hash)) = tomb else {
                    break None;
                };
                if let Err(b) = checker.tombstone(first, last, hash, pruned) {
                    break Some(b);
                }
                if let Some(hash) = hash {
                    visit(Element::Tombstone { first, last, hash })?;
                }
                tomb = read_tomb(tomb_rows.next().map_err(err("read tombstones"))?)?;
                continue;
            }
            match checker.record(row.seq, &row.body, row.hash) {
                Ok(()) => {}
                Err(Some(b)) => break Some(b),
                Err(None) => break Some(self.why(&checker, &row)?),
            }
            if depth == Depth::Records
                && let Some(b) = check_body(&row)
            {
                break Some(b);
            }
            if let Some(hash) = row.hash {
                visit(Element::Record {
                    seq: row.seq,
                    body: &row.body,
                    hash,
                })?;
            }
            have_row = read_row(rec_rows.next().map_err(err("read records"))?, &mut row)?;
        };
        Ok(Walked {
            at: checker.at,
            broken,
            done: true,
        })
    }

    /// Why record `row` does not match at `at`: which of its body and hash changed, or
    /// whether it holds another seq's record.
    fn why(&self, checker: &Checker, row: &Row) -> Result<Break, StoreError> {
        let at = &checker.at;
        let problem = |problem| {
            Ok(Break {
                seq: row.seq,
                problem,
            })
        };
        let next: Option<(Vec<u8>, Option<Hash>)> = self
            .conn
            .query_row(
                "SELECT body, hash FROM events WHERE seq = ?1",
                [row.seq as i64 + 1],
                |r| Ok((bytes(r.get_ref(0)?), chain::stored(r.get_ref(1)?))),
            )
            .optional()
            .map_err(sql_err(&self.path, "read the next record"))?;
        if let (Some((body, Some(next_hash))), Some(stored)) = (&next, row.hash) {
            if chain::link(&stored, row.seq + 1, body) == *next_hash {
                return problem(match checker.last_tomb {
                    Some((first, last)) if last + 1 == row.seq => {
                        Problem::AfterTombstone { first, last }
                    }
                    _ => Problem::BodyChanged,
                });
            }
            let computed = chain::link(&at.hash, row.seq, &row.body);
            if chain::link(&computed, row.seq + 1, body) == *next_hash {
                return problem(Problem::HashChanged);
            }
        }
        if let Some(holds) = self.moved_from(at, row)? {
            return problem(Problem::OutOfOrder { holds });
        }
        problem(Problem::Changed)
    }

    /// The seq near `row` whose record `row` holds: its body and hash chain from one of
    /// the hashes stored around it.
    fn moved_from(&self, at: &Position, row: &Row) -> Result<Option<u64>, StoreError> {
        let Some(stored) = row.hash else {
            return Ok(None);
        };
        let low = row.seq.saturating_sub(REORDER_WINDOW + 1).max(1);
        let high = row.seq + REORDER_WINDOW;
        let mut stmt = self
            .conn
            .prepare("SELECT hash FROM events WHERE seq BETWEEN ?1 AND ?2")
            .map_err(sql_err(&self.path, "read records around a break"))?;
        let mut prevs: Vec<Hash> = stmt
            .query_map([low as i64, high as i64], |r| {
                Ok(chain::stored(r.get_ref(0)?))
            })
            .map_err(sql_err(&self.path, "read records around a break"))?
            .filter_map(|h| h.ok().flatten())
            .collect();
        prevs.push(at.hash);
        let found = (low..=high)
            .filter(|&t| t != row.seq)
            .find(|&t| prevs.iter().any(|p| chain::link(p, t, &row.body) == stored));
        Ok(found)
    }

    /// The ended-items index against the records: each ended item whose records are
    /// still there has its first one at `first_seq` and one at `last_seq`; an item that
    /// retention removed has no index row left. Runs after a full walk verified.
    pub fn check_ended(&self) -> Result<Option<Break>, StoreError> {
        let path = &self.path;
        let err = |what| sql_err(path, what);
        let mut items = self
            .conn
            .prepare("SELECT id, first_seq, last_seq FROM ended_items ORDER BY id")
            .map_err(err("read the ended-items index"))?;
        let mut first_of = self
            .conn
            .prepare("SELECT MIN(seq) FROM events WHERE item = ?1")
            .map_err(err("read the ended-items index"))?;
        let mut item_at = self
            .conn
            .prepare("SELECT item FROM events WHERE seq = ?1")
            .map_err(err("read the ended-items index"))?;
        let mut rows = items.query([]).map_err(err("read the ended-items index"))?;
        while let Some(r) = rows.next().map_err(err("read the ended-items index"))? {
            let (id, first, last): (i64, i64, i64) = (
                r.get(0).map_err(err("read the ended-items index"))?,
                r.get(1).map_err(err("read the ended-items index"))?,
                r.get(2).map_err(err("read the ended-items index"))?,
            );
            let bad = |seq: i64, detail: String| {
                Ok(Some(Break {
                    seq: u64::try_from(seq).unwrap_or(0),
                    problem: Problem::EndedItem {
                        item: u64::try_from(id).unwrap_or(0),
                        detail,
                    },
                }))
            };
            let min: Option<i64> = first_of
                .query_row([id], |r| r.get(0))
                .map_err(err("read an item's records"))?;
            let Some(min) = min else {
                return bad(
                    first,
                    format!("says its records are at seq {first}-{last}, but none are left"),
                );
            };
            if min != first {
                return bad(
                    min,
                    format!("says its records start at seq {first}, but its first is seq {min}"),
                );
            }
            let owner: Option<Option<i64>> = item_at
                .query_row([last], |r| r.get(0))
                .optional()
                .map_err(err("read an item's records"))?;
            if owner != Some(Some(id)) {
                return bad(
                    last,
                    format!("says it ended at seq {last}, but that record is not the item's"),
                );
            }
        }
        Ok(None)
    }
}

/// A stored value's bytes, whatever its type (a body edited into a BLOB still hashes).
fn bytes(v: ValueRef<'_>) -> Vec<u8> {
    match v {
        ValueRef::Text(b) | ValueRef::Blob(b) => b.to_vec(),
        _ => Vec::new(),
    }
}

fn read_row(next: Option<&rusqlite::Row<'_>>, row: &mut Row) -> Result<bool, StoreError> {
    let Some(r) = next else {
        return Ok(false);
    };
    let conv = |e: rusqlite::Error| StoreError::Other(format!("cannot read a record: {e}"));
    let seq: i64 = r.get(0).map_err(conv)?;
    row.seq = u64::try_from(seq).unwrap_or(0);
    row.item = r.get(1).map_err(conv)?;
    row.body.clear();
    let body = r.get_ref(2).map_err(conv)?;
    row.text = matches!(body, ValueRef::Text(_));
    if let ValueRef::Text(b) | ValueRef::Blob(b) = body {
        row.body.extend_from_slice(b);
    }
    row.hash = chain::stored(r.get_ref(3).map_err(conv)?);
    Ok(true)
}

type Tomb = (u64, u64, Option<Hash>);

fn read_tomb(next: Option<&rusqlite::Row<'_>>) -> Result<Option<Tomb>, StoreError> {
    let Some(r) = next else {
        return Ok(None);
    };
    let conv = |e: rusqlite::Error| StoreError::Other(format!("cannot read a tombstone: {e}"));
    let first: i64 = r.get(0).map_err(conv)?;
    let last: i64 = r.get(1).map_err(conv)?;
    let hash = chain::stored(r.get_ref(2).map_err(conv)?);
    Ok(Some((
        u64::try_from(first).unwrap_or(0),
        u64::try_from(last).unwrap_or(0),
        hash,
    )))
}

/// A body that verified must also be a record of its row: decodable, of its seq, and
/// of the item its row names (the column retention and per-item reads go by).
fn check_body(row: &Row) -> Option<Break> {
    let bad = |problem| {
        Some(Break {
            seq: row.seq,
            problem,
        })
    };
    let text = match (row.text, std::str::from_utf8(&row.body)) {
        (true, Ok(t)) => t,
        _ => {
            return bad(Problem::BadBody {
                detail: "not text".into(),
            });
        }
    };
    let record = match super::body::decode(row.seq, text) {
        Ok(r) => r,
        Err(detail) => return bad(Problem::BadBody { detail }),
    };
    let column = row.item.and_then(|i| u64::try_from(i).ok());
    if column != record.item || row.item.is_some_and(|i| i < 0) {
        return bad(Problem::ItemColumn {
            column,
            body: record.item,
        });
    }
    None
}

/// A head kept elsewhere (`tempi audit --anchor` prints it as `SEQ:HASH`): the chain must
/// still pass through it, which a same-user attacker who recomputed the chain cannot fake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor {
    pub seq: u64,
    pub hash: Hash,
}

impl std::str::FromStr for Anchor {
    type Err = String;

    fn from_str(text: &str) -> Result<Anchor, String> {
        let usage = "write it as SEQ:HASH, as `tempi audit --anchor` prints it";
        let (seq, hash) = text.trim().split_once(':').ok_or(usage)?;
        let seq: u64 = seq
            .parse()
            .map_err(|_| format!("{seq:?} is not a seq; {usage}"))?;
        let hash =
            chain::parse_hex(hash).ok_or(format!("the hash is not 64 hex digits; {usage}"))?;
        Ok(Anchor { seq, hash })
    }
}

impl std::fmt::Display for Anchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.seq, chain::hex(&self.hash))
    }
}

/// Watches a walk's elements for the anchor's seq.
#[derive(Debug, Clone, Copy)]
pub struct AnchorCheck {
    pub anchor: Anchor,
    /// What the chain had at the anchor's seq: a hash, or the tombstone it lies inside.
    seen: Option<Result<Hash, (u64, u64)>>,
}

impl AnchorCheck {
    pub fn new(anchor: Anchor) -> AnchorCheck {
        AnchorCheck { anchor, seen: None }
    }

    pub fn see(&mut self, e: &Element<'_>) {
        let at = self.anchor.seq;
        match *e {
            Element::Record { seq, hash, .. } if seq == at => self.seen = Some(Ok(hash)),
            Element::Tombstone { first, last, hash } if (first..=last).contains(&at) => {
                self.seen = Some(if last == at {
                    Ok(hash)
                } else {
                    Err((first, last))
                })
            }
            _ => {}
        }
    }

    /// After a walk that verified through `end`: whether the chain passes through the
    /// anchor, and what it says otherwise.
    pub fn result(&self, end: u64) -> Result<(), String> {
        let Anchor { seq, hash } = self.anchor;
        match self.seen {
            Some(Ok(h)) if h == hash => Ok(()),
            Some(Ok(h)) => Err(format!(
                "the chain's hash at seq {seq} is {}, not the anchor's {}: the journal was rewritten at or before seq {seq}",
                chain::hex(&h),
                chain::hex(&hash)
            )),
            Some(Err((first, last))) => Err(format!(
                "the anchor's seq {seq} lies inside tombstone {first}-{last} (retention removed it), so it cannot be checked; anchor a newer head"
            )),
            None if seq == 0 => match hash == GENESIS {
                true => Ok(()),
                false => Err("seq 0's hash is the genesis, 32 zero bytes".into()),
            },
            None => Err(format!(
                "the chain ends at seq {end}, before the anchor's seq {seq}: records were removed from its end"
            )),
        }
    }
}

#[cfg(test)]
mod tests;
