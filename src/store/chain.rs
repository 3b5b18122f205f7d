//! The journal's hash chain: every `events` row carries `hash = SHA-256(previous hash ||
//! seq as 8 bytes big-endian || the body's stored bytes)`, the first one chained to 32 zero
//! bytes, so changing, removing or reordering a record changes every hash after it. Runs
//! of records that retention removed become `tombstones` rows (first seq, last seq, the
//! chain's hash at the last), and the chain goes on from a tombstone's hash.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use sha2::{Digest, Sha256};

use super::StoreError;
use super::journal::sql_err;

/// A link of the chain.
pub type Hash = [u8; 32];

/// What the first record is chained to.
pub const GENESIS: Hash = [0; 32];

/// The definition in words, for exports and `--json` output.
pub const ALGORITHM: &str =
    "sha256(previous hash || seq as u64 big-endian || stored body bytes); genesis 32 zero bytes";

/// The tombstones table. `last_seq` is unique too: runs never overlap.
pub const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS tombstones (
        first_seq INTEGER PRIMARY KEY,
        last_seq  INTEGER NOT NULL,
        hash      BLOB NOT NULL
    );
    CREATE UNIQUE INDEX IF NOT EXISTS tombstones_last ON tombstones (last_seq);
";

/// The hash of record `seq` with stored `body`, chained to `prev`.
pub fn link(prev: &Hash, seq: u64, body: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(seq.to_be_bytes());
    h.update(body);
    h.finalize().into()
}

/// Lower-case hex, as every output shows a hash.
pub fn hex(hash: &Hash) -> String {
    use std::fmt::Write as _;
    hash.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A hash from 64 hex digits (either case); None for anything else.
pub fn parse_hex(text: &str) -> Option<Hash> {
    let text = text.as_bytes();
    if text.len() != 64 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = GENESIS;
    for (i, pair) in text.chunks(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// A stored hash column: exactly 32 bytes of BLOB, else None.
pub fn stored(value: rusqlite::types::ValueRef<'_>) -> Option<Hash> {
    match value {
        rusqlite::types::ValueRef::Blob(b) => b.try_into().ok(),
        _ => None,
    }
}

/// Where the chain ends: the last seq it covers (a record or a tombstone) and the hash
/// there (None when that hash is missing or not 32 bytes); `(0, GENESIS)` for an empty
/// journal.
pub fn head(conn: &Connection, path: &Path) -> Result<(u64, Option<Hash>), StoreError> {
    let read = |sql: &str| -> Result<Option<(i64, Option<Hash>)>, StoreError> {
        conn.query_row(sql, [], |r| {
            Ok((r.get::<_, i64>(0)?, stored(r.get_ref(1)?)))
        })
        .optional()
        .map_err(sql_err(path, "read the chain's head"))
    };
    let record = read("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")?;
    let tomb = read("SELECT last_seq, hash FROM tombstones ORDER BY last_seq DESC LIMIT 1")?;
    let newest = match (record, tomb) {
        (Some(r), Some(t)) => Some(if t.0 > r.0 { t } else { r }),
        (r, t) => r.or(t),
    };
    Ok(match newest {
        None => (0, Some(GENESIS)),
        Some((seq, hash)) => (u64::try_from(seq).unwrap_or(0), hash),
    })
}

/// Put tombstones in place of `removed` (seq and hash of every record just deleted, in
/// any order): one per maximal run of consecutive seqs, merged with tombstones that
/// touch it. Returns how many runs there were.
pub fn bury(tx: &Transaction<'_>, removed: &mut [(i64, Hash)]) -> rusqlite::Result<usize> {
    removed.sort_unstable_by_key(|(seq, _)| *seq);
    let mut runs = 0;
    let mut i = 0;
    while i < removed.len() {
        let first = removed[i].0;
        let mut j = i;
        while j + 1 < removed.len() && removed[j + 1].0 == removed[j].0 + 1 {
            j += 1;
        }
        let (last, hash) = removed[j];
        add_tombstone(tx, first, last, &hash)?;
        runs += 1;
        i = j + 1;
    }
    Ok(runs)
}

/// One tombstone for `first..=last` (ending at `hash`), merged with a tombstone ending
/// just before it and one starting just after it, so the table holds one row per gap
/// between live records.
pub fn add_tombstone(
    tx: &Transaction<'_>,
    mut first: i64,
    mut last: i64,
    hash: &Hash,
) -> rusqlite::Result<()> {
    let mut hash = *hash;
    let before: Option<i64> = tx
        .prepare_cached("SELECT first_seq FROM tombstones WHERE last_seq = ?1")?
        .query_row([first - 1], |r| r.get(0))
        .optional()?;
    if let Some(b) = before {
        tx.prepare_cached("DELETE FROM tombstones WHERE first_seq = ?1")?
            .execute([b])?;
        first = b;
    }
    let after: Option<(i64, Vec<u8>)> = tx
        .prepare_cached("SELECT last_seq, hash FROM tombstones WHERE first_seq = ?1")?
        .query_row([last + 1], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if let Some((a, h)) = after {
        tx.prepare_cached("DELETE FROM tombstones WHERE first_seq = ?1")?
            .execute([last + 1])?;
        last = a;
        // A malformed hash is kept as it is, for verify to find.
        match <Hash>::try_from(h.as_slice()) {
            Ok(h) => hash = h,
            Err(_) => {
                return tx
                    .prepare_cached(
                        "INSERT INTO tombstones (first_seq, last_seq, hash) VALUES (?1, ?2, ?3)",
                    )?
                    .execute(params![first, last, h])
                    .map(drop);
            }
        }
    }
    tx.prepare_cached("INSERT INTO tombstones (first_seq, last_seq, hash) VALUES (?1, ?2, ?3)")?
        .execute(params![first, last, &hash[..]])?;
    Ok(())
}

/// Schema 5: give an existing journal its chain, over the records it holds now, in the
/// migration's transaction. What retention removed before (gaps, and a removed end
/// up to its mark) becomes tombstones through which the chain carries on unchanged; the
/// retention mark is raised over any gap it did not cover, as verify expects of it.
pub fn migrate(tx: &Transaction<'_>, path: &Path, pruned_through: u64) -> Result<(), StoreError> {
    const BATCH: i64 = 8192;
    let err = |what| sql_err(path, what);
    // A journal put back to an older version by hand may have the column already: the
    // chain is computed afresh either way.
    let has_hash = tx
        .prepare("SELECT 1 FROM pragma_table_info('events') WHERE name = 'hash'")
        .and_then(|mut s| s.exists([]))
        .map_err(err("read the events table's columns"))?;
    if !has_hash {
        tx.execute_batch("ALTER TABLE events ADD COLUMN hash BLOB;")
            .map_err(err("add the hash column"))?;
    }
    tx.execute_batch(SCHEMA)
        .map_err(err("create the tombstones table"))?;
    tx.execute_batch("DELETE FROM tombstones;")
        .map_err(err("clear the tombstones table"))?;
    let (mut prev, mut next, mut after) = (GENESIS, 1i64, 0i64);
    let mut gap_end = 0i64;
    loop {
        let rows: Vec<(i64, Vec<u8>)> = {
            let mut stmt = tx
                .prepare_cached("SELECT seq, body FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2")
                .map_err(err("read records to chain"))?;
            let rows = stmt
                .query_map(params![after, BATCH], |r| {
                    // The bytes as stored, whatever the column's type.
                    let body = match r.get_ref(1)? {
                        rusqlite::types::ValueRef::Text(t) | rusqlite::types::ValueRef::Blob(t) => {
                            t.to_vec()
                        }
                        _ => Vec::new(),
                    };
                    Ok((r.get(0)?, body))
                })
                .map_err(err("read records to chain"))?;
            rows.collect::<Result<_, _>>()
                .map_err(err("read records to chain"))?
        };
        let Some(&(last, _)) = rows.last() else {
            break;
        };
        let mut update = tx
            .prepare_cached("UPDATE events SET hash = ?1 WHERE seq = ?2")
            .map_err(err("chain a record"))?;
        for (seq, body) in &rows {
            if *seq > next {
                add_tombstone(tx, next, seq - 1, &prev).map_err(err("add a tombstone"))?;
                gap_end = seq - 1;
            }
            prev = link(&prev, *seq as u64, body);
            update
                .execute(params![&prev[..], seq])
                .map_err(err("chain a record"))?;
            next = seq + 1;
        }
        after = last;
    }
    let pruned = i64::try_from(pruned_through).unwrap_or(i64::MAX);
    if pruned >= next {
        add_tombstone(tx, next, pruned, &prev).map_err(err("add a tombstone"))?;
    }
    if gap_end > pruned {
        tx.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            params![super::retention::PRUNED_THROUGH, gap_end.to_string()],
        )
        .map_err(err("raise the retention mark"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_is_sha256_of_prev_seq_and_body() {
        // Spelled out, so the definition in the docs is the one the code uses.
        let mut bytes = vec![0u8; 32];
        bytes.extend_from_slice(&1u64.to_be_bytes());
        bytes.extend_from_slice(b"{\"at\":1}");
        let expected: Hash = Sha256::digest(&bytes).into();
        assert_eq!(link(&GENESIS, 1, b"{\"at\":1}"), expected);
        assert_ne!(link(&GENESIS, 2, b"{\"at\":1}"), expected, "the seq counts");
        assert_ne!(link(&expected, 1, b"{\"at\":1}"), expected, "so does prev");
    }

    #[test]
    fn hex_round_trips_and_refuses_anything_else() {
        let h = link(&GENESIS, 7, b"x");
        assert_eq!(parse_hex(&hex(&h)), Some(h));
        assert_eq!(parse_hex(&hex(&h).to_uppercase()), Some(h));
        assert_eq!(hex(&GENESIS), "0".repeat(64));
        for bad in ["", "00", &"g".repeat(64), &"0".repeat(63), &"é".repeat(32)] {
            assert_eq!(parse_hex(bad), None, "{bad:?}");
        }
    }

    fn tombstones(conn: &Connection) -> Vec<(i64, i64, Vec<u8>)> {
        let mut s = conn
            .prepare("SELECT first_seq, last_seq, hash FROM tombstones ORDER BY first_seq")
            .unwrap();
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn runs_become_one_tombstone_each_and_touching_ones_merge() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        let h = |n: u8| [n; 32];
        let tx = conn.transaction().unwrap();
        // 3, 4, 5 and 9: two runs.
        let mut removed = vec![(9, h(9)), (4, h(4)), (3, h(3)), (5, h(5))];
        assert_eq!(bury(&tx, &mut removed).unwrap(), 2);
        tx.commit().unwrap();
        assert_eq!(
            tombstones(&conn),
            [(3, 5, h(5).to_vec()), (9, 9, h(9).to_vec())]
        );
        // 6..8 fills the gap: one tombstone, ending at 9's hash.
        let tx = conn.transaction().unwrap();
        bury(&tx, &mut [(7, h(7)), (6, h(6)), (8, h(8))]).unwrap();
        tx.commit().unwrap();
        assert_eq!(tombstones(&conn), [(3, 9, h(9).to_vec())]);
        // One before and one apart.
        let tx = conn.transaction().unwrap();
        bury(&tx, &mut [(2, h(2)), (11, h(11))]).unwrap();
        tx.commit().unwrap();
        assert_eq!(
            tombstones(&conn),
            [(2, 9, h(9).to_vec()), (11, 11, h(11).to_vec())]
        );
    }
}
