//! The chain against tampering of every kind, retention's tombstones, the upgrade of an
//! unchained journal, and anchors.

use std::path::Path;

use chrono::{DateTime, Utc};

use super::*;
use crate::store::Journal;
use crate::store::retention::Pruner;
use crate::types::event::{Event, Record};
use crate::types::view::{EndedItem, ItemStatus, ItemSummary};

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
}

/// Record `seq` of `item` (None: an engine record of no item).
fn rec(seq: u64, item: Option<u64>) -> Record {
    let event = match item {
        Some(item) => Event::SlaWarning { item, percent: 50 },
        None => Event::TaskOverdue { task: seq },
    };
    Record {
        seq,
        at: at(seq as i64),
        item,
        actor: "engine".into(),
        via: None,
        reason: None,
        event,
    }
}

/// Items 1, 2, 3 in turn, every fourth record of none.
fn interleaved(from: u64, to: u64) -> Vec<Record> {
    (from..=to)
        .map(|s| rec(s, (s % 4 != 0).then_some(s % 3 + 1)))
        .collect()
}

fn ended(id: u64, first_seq: u64, last_seq: u64) -> EndedItem {
    EndedItem {
        summary: ItemSummary {
            id,
            workflow: "w".into(),
            version: 1,
            status: ItemStatus::Completed,
            current: String::new(),
            priority: 0,
            started_at: at(0),
            updated_at: at(1),
            ended_at: Some(at(1)),
            sla_due: None,
            sla_warned: 0,
            sla_breached: false,
            incident: None,
            key: None,
            title: None,
        },
        tasks: Vec::new(),
        first_seq,
        last_seq,
    }
}

fn sql(dir: &Path, sql: &str) {
    let conn = Connection::open(dir.join(JOURNAL_FILE)).unwrap();
    conn.execute_batch(sql).unwrap();
}

/// A journal of `n` interleaved records.
fn journal(n: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::open(dir.path()).unwrap();
    j.append(&interleaved(1, n)).unwrap();
    dir
}

/// Walk the whole journal: how far it verified and the break.
fn verify(dir: &Path, depth: Depth) -> Walked {
    let audit = Audit::open(dir).unwrap();
    audit
        .snapshot(|a| a.walk(Position::default(), u64::MAX, depth, &mut |_| Ok(())))
        .unwrap()
}

fn broken(dir: &Path) -> Break {
    let w = verify(dir, Depth::Records);
    w.broken.unwrap_or_else(|| panic!("verified: {:?}", w.at))
}

#[test]
fn an_untouched_journal_verifies_to_its_head() {
    let dir = journal(10);
    let head = Journal::open(dir.path()).unwrap().head_hash();
    let w = verify(dir.path(), Depth::Records);
    assert_eq!(w.broken, None);
    assert!(w.done);
    assert_eq!((w.at.seq(), w.at.records, w.at.tombstones), (10, 10, 0));
    assert_eq!(w.at.hash, head, "the writer's head is the walk's");
    let audit = Audit::open(dir.path()).unwrap();
    assert_eq!(audit.head().unwrap(), (10, Some(head)));
    assert_eq!(audit.check_ended().unwrap(), None);
}

#[test]
fn an_empty_journal_verifies_with_the_genesis() {
    let dir = tempfile::tempdir().unwrap();
    drop(Journal::open(dir.path()).unwrap());
    let w = verify(dir.path(), Depth::Records);
    assert_eq!((w.broken, w.at), (None, Position::default()));
}

#[test]
fn each_kind_of_tampering_is_named_at_its_seq() {
    let body_4 = "UPDATE events SET body = replace(body, '{', '{ ') WHERE seq = 4";
    let cases: [(&str, u64, Problem); 8] = [
        (body_4, 4, Problem::BodyChanged),
        (
            "UPDATE events SET hash = zeroblob(32) WHERE seq = 4",
            4,
            Problem::HashChanged,
        ),
        (
            "UPDATE events SET body = replace(body, '{', '{ ') WHERE seq = 10",
            10,
            Problem::Changed,
        ),
        (
            "DELETE FROM events WHERE seq = 4",
            4,
            Problem::Missing {
                first: 4,
                through: 4,
            },
        ),
        (
            "DELETE FROM events WHERE seq BETWEEN 4 AND 6",
            4,
            Problem::Missing {
                first: 4,
                through: 6,
            },
        ),
        (
            // Two rows trade places, each with its own hash.
            "UPDATE events SET seq = -5 WHERE seq = 5;
             UPDATE events SET seq = 5 WHERE seq = 4;
             UPDATE events SET seq = 4 WHERE seq = -5;",
            4,
            Problem::OutOfOrder { holds: 5 },
        ),
        (
            "UPDATE events SET hash = '' WHERE seq = 4",
            4,
            Problem::NoHash,
        ),
        (
            "UPDATE events SET hash = x'00' WHERE seq = 7",
            7,
            Problem::NoHash,
        ),
    ];
    for (edit, seq, problem) in cases {
        let dir = journal(10);
        sql(dir.path(), edit);
        let b = broken(dir.path());
        assert_eq!((b.seq, &b.problem), (seq, &problem), "{edit}");
        // Named in words, with the seq.
        assert!(b.to_string().starts_with(&format!("seq {seq}: ")), "{b}");
    }
}

#[test]
fn a_stretch_of_rows_moved_far_is_still_out_of_order() {
    let dir = journal(40);
    sql(
        dir.path(),
        "UPDATE events SET seq = -1 WHERE seq = 10;
         UPDATE events SET seq = 10 WHERE seq = 20;
         UPDATE events SET seq = 20 WHERE seq = -1;",
    );
    assert_eq!(
        broken(dir.path()),
        Break {
            seq: 10,
            problem: Problem::OutOfOrder { holds: 20 }
        }
    );
}

#[test]
fn the_derived_item_column_is_held_to_the_body() {
    let dir = journal(10);
    sql(dir.path(), "UPDATE events SET item = 9 WHERE seq = 5");
    assert_eq!(verify(dir.path(), Depth::Chain).broken, None, "not hashed");
    let b = broken(dir.path());
    assert_eq!(b.seq, 5);
    assert_eq!(
        b.problem,
        Problem::ItemColumn {
            column: Some(9),
            body: Some(3)
        }
    );
}

#[test]
fn a_body_that_verifies_but_is_no_record_is_named() {
    let dir = journal(3);
    // The head rechained by hand, so only the body check can find it.
    let conn = Connection::open(dir.path().join(JOURNAL_FILE)).unwrap();
    let prev: Vec<u8> = conn
        .query_row("SELECT hash FROM events WHERE seq = 2", [], |r| r.get(0))
        .unwrap();
    let prev = <Hash>::try_from(prev.as_slice()).unwrap();
    let hash = chain::link(&prev, 3, b"{not json");
    conn.execute(
        "UPDATE events SET body = '{not json', hash = ?1 WHERE seq = 3",
        [&hash[..]],
    )
    .unwrap();
    assert_eq!(verify(dir.path(), Depth::Chain).broken, None);
    let b = broken(dir.path());
    assert_eq!(b.seq, 3);
    assert!(matches!(b.problem, Problem::BadBody { .. }), "{b}");
}

#[test]
fn tombstones_that_retention_did_not_leave_are_named() {
    // Over live records, and beyond what retention removed.
    let dir = journal(10);
    sql(
        dir.path(),
        "INSERT INTO tombstones VALUES (3, 4, zeroblob(32))",
    );
    let b = broken(dir.path());
    assert_eq!(b.seq, 3);
    assert!(
        b.to_string()
            .contains("covers seqs retention never removed"),
        "{b}"
    );
    // Records removed with a tombstone that ends before they do.
    let dir = journal(10);
    sql(
        dir.path(),
        "DELETE FROM events WHERE seq BETWEEN 3 AND 5;
         INSERT INTO tombstones VALUES (3, 4, zeroblob(32));
         INSERT INTO meta VALUES ('pruned_through', '5');",
    );
    assert_eq!(
        broken(dir.path()),
        Break {
            seq: 5,
            problem: Problem::Missing {
                first: 5,
                through: 5
            }
        }
    );
    // A record inside a tombstone.
    let dir = journal(10);
    sql(
        dir.path(),
        "DELETE FROM events WHERE seq = 3;
         INSERT INTO tombstones VALUES (3, 4, zeroblob(32));
         INSERT INTO meta VALUES ('pruned_through', '4');",
    );
    assert_eq!(
        broken(dir.path()).problem,
        Problem::InsideTombstone { first: 3, last: 4 }
    );
}

#[test]
fn records_removed_from_the_end_are_found_by_the_retention_mark_or_an_anchor() {
    let dir = journal(10);
    let audit = Audit::open(dir.path()).unwrap();
    let (seq, hash) = audit.head().unwrap();
    let anchor = Anchor {
        seq,
        hash: hash.unwrap(),
    };
    drop(audit);
    sql(dir.path(), "DELETE FROM events WHERE seq > 8");
    // Nothing inside the journal can tell a shorter journal from a younger one...
    assert_eq!(verify(dir.path(), Depth::Records).broken, None);
    // ...but an anchor can.
    let mut check = AnchorCheck::new(anchor);
    let audit = Audit::open(dir.path()).unwrap();
    let w = audit
        .snapshot(|a| {
            a.walk(Position::default(), u64::MAX, Depth::Records, &mut |e| {
                check.see(&e);
                Ok(())
            })
        })
        .unwrap();
    let why = check.result(w.at.seq()).unwrap_err();
    assert!(
        why.contains("ends at seq 8, before the anchor's seq 10"),
        "{why}"
    );
    // And so can retention's mark, when it says more was there.
    sql(
        dir.path(),
        "INSERT INTO meta VALUES ('pruned_through', '10')",
    );
    assert_eq!(
        broken(dir.path()),
        Break {
            seq: 9,
            problem: Problem::Missing {
                first: 9,
                through: 10
            }
        }
    );
}

#[test]
fn a_chain_recomputed_after_an_edit_verifies_but_fails_its_anchor() {
    let dir = journal(10);
    let audit = Audit::open(dir.path()).unwrap();
    let (seq, hash) = audit.head().unwrap();
    let anchor = Anchor {
        seq,
        hash: hash.unwrap(),
    };
    drop(audit);
    // What a same-user attacker can do: edit, then rechain everything after.
    let conn = Connection::open(dir.path().join(JOURNAL_FILE)).unwrap();
    conn.execute(
        "UPDATE events SET body = replace(body, '{', '{  ') WHERE seq = 4",
        [],
    )
    .unwrap();
    let rows: Vec<(i64, String)> = conn
        .prepare("SELECT seq, body FROM events ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut prev = GENESIS;
    for (seq, body) in rows {
        prev = chain::link(&prev, seq as u64, body.as_bytes());
        conn.execute(
            "UPDATE events SET hash = ?1 WHERE seq = ?2",
            rusqlite::params![&prev[..], seq],
        )
        .unwrap();
    }
    drop(conn);
    assert_eq!(verify(dir.path(), Depth::Records).broken, None);
    let mut check = AnchorCheck::new(anchor);
    let audit = Audit::open(dir.path()).unwrap();
    let w = audit
        .snapshot(|a| {
            a.walk(Position::default(), u64::MAX, Depth::Chain, &mut |e| {
                check.see(&e);
                Ok(())
            })
        })
        .unwrap();
    let why = check.result(w.at.seq()).unwrap_err();
    assert!(why.contains("rewritten at or before seq 10"), "{why}");
}

#[test]
fn anchors_parse_from_what_they_print_and_refuse_anything_else() {
    let a = Anchor {
        seq: 42,
        hash: chain::link(&GENESIS, 1, b"x"),
    };
    assert_eq!(a.to_string().parse::<Anchor>(), Ok(a));
    for bad in [
        "",
        "42",
        "x:00",
        "42:zz",
        &format!("-1:{}", chain::hex(&a.hash)),
    ] {
        assert!(bad.parse::<Anchor>().is_err(), "{bad:?}");
    }
}

#[test]
fn retention_leaves_tombstones_between_live_records_and_the_chain_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::open(dir.path()).unwrap();
    // Items 1, 2 and 3 interleaved over 1..=12; 1 and 2 end, 3 lives on.
    let first = interleaved(1, 12);
    let span = |item: u64| {
        let seqs: Vec<u64> = first
            .iter()
            .filter(|r| r.item == Some(item))
            .map(|r| r.seq)
            .collect();
        (seqs[0], *seqs.last().unwrap())
    };
    let (e1, e2) = (span(1), span(2));
    j.commit(&first, &[ended(1, e1.0, e1.1), ended(2, e2.0, e2.1)])
        .unwrap();
    let mut p = Pruner::open(dir.path()).unwrap();
    let pruned = p.prune(at(100), at(100), 12, 10, None).unwrap();
    assert_eq!(pruned.items, 2);
    let w = verify(dir.path(), Depth::Records);
    assert_eq!(w.broken, None);
    assert_eq!(w.at.seq(), 12);
    assert!(w.at.tombstones >= 2, "{:?}", w.at);
    assert_eq!(w.at.records + pruned.records as u64, 12);
    let audit = Audit::open(dir.path()).unwrap();
    assert_eq!(audit.check_ended().unwrap(), None);
    drop(audit);

    // The writer chains on from its head; the next removal merges with what touches it.
    let more: Vec<Record> = (13..=16).map(|s| rec(s, Some(4))).collect();
    j.commit(&more, &[ended(4, 13, 16)]).unwrap();
    p.prune(at(100), at(100), 16, 10, None).unwrap();
    let w = verify(dir.path(), Depth::Records);
    assert_eq!(w.broken, None);
    assert_eq!(
        w.at.seq(),
        16,
        "the newest records removed, the chain still ends there"
    );
    assert_eq!(w.at.hash, j.head_hash());
    j.append(&[rec(17, Some(3))]).unwrap();
    assert_eq!(verify(dir.path(), Depth::Records).broken, None);
    drop(j);

    // Reopened, the writer finds its head at the tombstone's end.
    let mut j = Journal::open(dir.path()).unwrap();
    j.append(&[rec(18, Some(3))]).unwrap();
    let w = verify(dir.path(), Depth::Records);
    assert_eq!((w.broken, w.at.seq()), (None, 18));
}

#[test]
fn an_index_row_that_disagrees_with_the_records_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::open(dir.path()).unwrap();
    let records = interleaved(1, 12);
    // Item 2's records are 1, 5, 9 (and 2's): say it started at 2.
    let seqs: Vec<u64> = records
        .iter()
        .filter(|r| r.item == Some(2))
        .map(|r| r.seq)
        .collect();
    let last = *seqs.last().unwrap();
    j.commit(&records, &[ended(2, seqs[0] + 1, last)]).unwrap();
    let audit = Audit::open(dir.path()).unwrap();
    let b = audit.check_ended().unwrap().unwrap();
    assert_eq!(b.seq, seqs[0]);
    assert!(b.to_string().contains("item 2"), "{b}");
    drop(audit);
    // An index row whose records are gone.
    sql(dir.path(), "DELETE FROM events WHERE item = 2");
    let b = Audit::open(dir.path())
        .unwrap()
        .check_ended()
        .unwrap()
        .unwrap();
    assert!(b.to_string().contains("none are left"), "{b}");
}

#[test]
fn a_journal_from_before_the_chain_is_chained_at_its_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut j = Journal::open(dir.path()).unwrap();
        j.append(&interleaved(1, 20)).unwrap();
    }
    // As schema 4 left it, after retention removed 3..=5 and the newest two.
    sql(
        dir.path(),
        "DROP TABLE tombstones;
         ALTER TABLE events DROP COLUMN hash;
         DELETE FROM events WHERE seq BETWEEN 3 AND 5 OR seq > 18;
         INSERT INTO meta VALUES ('pruned_through', '20');
         UPDATE meta SET value = '4' WHERE key = 'schema_version';",
    );
    let err = Audit::open(dir.path()).err().unwrap();
    assert!(
        err.to_string().contains("from before the hash chain"),
        "{err}"
    );
    let mut j = Journal::open(dir.path()).unwrap();
    assert_eq!(j.last_seq(), 20);
    j.append(&[rec(21, Some(1))]).unwrap();
    drop(j);
    let w = verify(dir.path(), Depth::Records);
    assert_eq!(w.broken, None);
    assert_eq!((w.at.seq(), w.at.records, w.at.tombstones), (21, 16, 2));
}

#[test]
fn a_walk_in_chunks_ends_where_one_walk_does() {
    let dir = journal(30);
    sql(
        dir.path(),
        "DELETE FROM events WHERE seq BETWEEN 10 AND 12;
         INSERT INTO tombstones SELECT 10, 12, hash FROM events WHERE seq = 9;
         INSERT INTO meta VALUES ('pruned_through', '12');",
    );
    // (The tombstone's hash is 9's, so 13 no longer chains: a break both ways find.)
    let whole = verify(dir.path(), Depth::Chain);
    let audit = Audit::open(dir.path()).unwrap();
    let mut at = Position::default();
    let chunked = loop {
        let w = audit
            .snapshot(|a| a.walk(at, 4, Depth::Chain, &mut |_| Ok(())))
            .unwrap();
        at = w.at;
        if w.done || w.broken.is_some() {
            break w;
        }
    };
    assert_eq!(chunked, whole);
    assert_eq!(
        whole.broken,
        Some(Break {
            seq: 13,
            problem: Problem::AfterTombstone {
                first: 10,
                last: 12
            }
        })
    );
}
