//! Rollups: what the engine counted (`Tally`) per workflow and minute, added in the same
//! transaction as the records that counted it, so `tempi report` reads windows of any
//! length without the records retention removed. Minutes older than a week are merged
//! into hours and hours older than 400 days into days, so the table grows by one row per
//! workflow and day, not per item.

use std::collections::BTreeMap;

use rusqlite::{Connection, Transaction, params};

use crate::types::tally::{Counts, DAY, HOUR, Hist, MINUTE, Tally};

/// The tables (from schema 4; created empty on older journals, so figures begin there).
pub const SCHEMA: &str = "
    CREATE TABLE IF NOT EXISTS rollups (
        workflow     TEXT NOT NULL,
        size         INTEGER NOT NULL,
        bucket       INTEGER NOT NULL,
        started      INTEGER NOT NULL,
        completed    INTEGER NOT NULL,
        failed       INTEGER NOT NULL,
        cancelled    INTEGER NOT NULL,
        incidents    INTEGER NOT NULL,
        breached     INTEGER NOT NULL,
        sla_met      INTEGER NOT NULL,
        sla_missed   INTEGER NOT NULL,
        cycle_count  INTEGER NOT NULL,
        cycle_sum_us INTEGER NOT NULL,
        wait_count   INTEGER NOT NULL,
        wait_sum_us  INTEGER NOT NULL,
        PRIMARY KEY (workflow, size, bucket)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS rollups_bucket ON rollups (bucket);
    CREATE TABLE IF NOT EXISTS rollup_hist (
        workflow TEXT NOT NULL,
        size     INTEGER NOT NULL,
        bucket   INTEGER NOT NULL,
        metric   INTEGER NOT NULL,
        le       INTEGER NOT NULL,
        n        INTEGER NOT NULL,
        PRIMARY KEY (workflow, size, bucket, metric, le)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS rollup_hist_bucket ON rollup_hist (bucket);
";

/// How long minutes are kept before they become hours, and hours before they become days.
pub const MINUTES_KEPT: i64 = 7 * DAY;
pub const HOURS_KEPT: i64 = 400 * DAY;

/// The histograms a rollup keeps, by their `metric` number.
const CYCLE: i64 = 0;
const WAIT: i64 = 1;

const COUNTS: &str = "started, completed, failed, cancelled, incidents, breached, sla_met, \
    sla_missed, cycle_count, cycle_sum_us, wait_count, wait_sum_us";

const UPSERT: &str = "INSERT INTO rollups (workflow, size, bucket, started, completed, failed, \
    cancelled, incidents, breached, sla_met, sla_missed, cycle_count, cycle_sum_us, wait_count, \
    wait_sum_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) \
    ON CONFLICT (workflow, size, bucket) DO UPDATE SET started = started + excluded.started, \
    completed = completed + excluded.completed, failed = failed + excluded.failed, \
    cancelled = cancelled + excluded.cancelled, incidents = incidents + excluded.incidents, \
    breached = breached + excluded.breached, sla_met = sla_met + excluded.sla_met, \
    sla_missed = sla_missed + excluded.sla_missed, cycle_count = cycle_count + excluded.cycle_count, \
    cycle_sum_us = cycle_sum_us + excluded.cycle_sum_us, wait_count = wait_count + excluded.wait_count, \
    wait_sum_us = wait_sum_us + excluded.wait_sum_us";

const UPSERT_HIST: &str = "INSERT INTO rollup_hist (workflow, size, bucket, metric, le, n) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
    ON CONFLICT (workflow, size, bucket, metric, le) DO UPDATE SET n = n + excluded.n";

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Add a tally to the rollups inside the caller's transaction; with `compact_at` (the
/// newest minute's `horizon`), first merge the minutes and hours that are old enough.
pub fn add(tx: &Transaction<'_>, tally: &Tally, compact_at: Option<i64>) -> rusqlite::Result<()> {
    if let Some(hour) = compact_at {
        compact(tx, MINUTE, HOUR, hour)?;
        let day = (hour + MINUTES_KEPT - HOURS_KEPT).div_euclid(DAY) * DAY;
        compact(tx, HOUR, DAY, day)?;
    }
    let mut rows = tx.prepare_cached(UPSERT)?;
    let mut hist = tx.prepare_cached(UPSERT_HIST)?;
    for (wf, minutes) in &tally.rows {
        for (bucket, c) in minutes {
            rows.execute(params![
                wf,
                MINUTE,
                bucket,
                int(c.started),
                int(c.completed),
                int(c.failed),
                int(c.cancelled),
                int(c.incidents),
                int(c.breached),
                int(c.sla_met),
                int(c.sla_missed),
                int(c.cycle.count),
                int(c.cycle.sum_us),
                int(c.wait.count),
                int(c.wait.sum_us),
            ])?;
            for (metric, h) in [(CYCLE, &c.cycle), (WAIT, &c.wait)] {
                for (le, n) in &h.buckets {
                    hist.execute(params![wf, MINUTE, bucket, metric, le, int(*n)])?;
                }
            }
        }
    }
    Ok(())
}

/// Merge buckets of `from` seconds before `before` (a start of a `to` bucket) into
/// buckets of `to` seconds.
fn compact(tx: &Transaction<'_>, from: i64, to: i64, before: i64) -> rusqlite::Result<()> {
    let sums = COUNTS
        .split(", ")
        .map(|c| format!("SUM({c})"))
        .collect::<Vec<_>>()
        .join(", ");
    tx.execute(
        &format!(
            "INSERT INTO rollups (workflow, size, bucket, {COUNTS}) \
             SELECT workflow, {to}, (bucket / {to}) * {to}, {sums} FROM rollups \
             WHERE size = {from} AND bucket < ?1 GROUP BY workflow, (bucket / {to}) \
             ON CONFLICT (workflow, size, bucket) DO UPDATE SET {}",
            COUNTS
                .split(", ")
                .map(|c| format!("{c} = {c} + excluded.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        [before],
    )?;
    tx.execute(
        &format!(
            "INSERT INTO rollup_hist (workflow, size, bucket, metric, le, n) \
             SELECT workflow, {to}, (bucket / {to}) * {to}, metric, le, SUM(n) \
             FROM rollup_hist WHERE size = {from} AND bucket < ?1 \
             GROUP BY workflow, (bucket / {to}), metric, le \
             ON CONFLICT (workflow, size, bucket, metric, le) DO UPDATE SET n = n + excluded.n"
        ),
        [before],
    )?;
    tx.execute(
        &format!("DELETE FROM rollups WHERE size = {from} AND bucket < ?1"),
        [before],
    )?;
    tx.execute(
        &format!("DELETE FROM rollup_hist WHERE size = {from} AND bucket < ?1"),
        [before],
    )?;
    Ok(())
}

/// What the rollups hold per workflow, from the bucket `since` falls in (everything
/// when `None`), and the start of the earliest bucket counted.
pub fn sums(
    conn: &Connection,
    since: Option<i64>,
) -> rusqlite::Result<(BTreeMap<String, Counts>, Option<i64>)> {
    // A bucket counts when it ends after `since`: days reach back up to a day.
    let since = since.unwrap_or(i64::MIN + DAY);
    let window = "bucket > ?1 - 86400 AND bucket + size > ?1";
    let mut out: BTreeMap<String, Counts> = BTreeMap::new();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT workflow, MIN(bucket), {} FROM rollups WHERE {window} GROUP BY workflow",
        COUNTS
            .split(", ")
            .map(|c| format!("SUM({c})"))
            .collect::<Vec<_>>()
            .join(", ")
    ))?;
    let mut first: Option<i64> = None;
    let mut rows = stmt.query([since])?;
    let n = |v: i64| v.max(0) as u64;
    while let Some(r) = rows.next()? {
        let wf: String = r.get(0)?;
        let start: i64 = r.get(1)?;
        first = Some(first.map_or(start, |f| f.min(start)));
        let c = out.entry(wf).or_default();
        c.started = n(r.get(2)?);
        c.completed = n(r.get(3)?);
        c.failed = n(r.get(4)?);
        c.cancelled = n(r.get(5)?);
        c.incidents = n(r.get(6)?);
        c.breached = n(r.get(7)?);
        c.sla_met = n(r.get(8)?);
        c.sla_missed = n(r.get(9)?);
        c.cycle.count = n(r.get(10)?);
        c.cycle.sum_us = n(r.get(11)?);
        c.wait.count = n(r.get(12)?);
        c.wait.sum_us = n(r.get(13)?);
    }
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT workflow, metric, le, SUM(n) FROM rollup_hist WHERE {window} \
         GROUP BY workflow, metric, le"
    ))?;
    let mut rows = stmt.query([since])?;
    while let Some(r) = rows.next()? {
        let wf: String = r.get(0)?;
        let metric: i64 = r.get(1)?;
        let le: i64 = r.get(2)?;
        let count = n(r.get(3)?);
        let Some(c) = out.get_mut(&wf) else { continue };
        let h: &mut Hist = if metric == CYCLE {
            &mut c.cycle
        } else {
            &mut c.wait
        };
        if let Ok(le) = u16::try_from(le) {
            *h.buckets.entry(le).or_default() += count;
        }
    }
    Ok((out, first))
}

/// The hour before which minutes are merged, for a tally whose newest minute is
/// `newest`.
pub fn horizon(newest: i64) -> i64 {
    (newest - MINUTES_KEPT).div_euclid(HOUR) * HOUR
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::tally::Fact;
    use chrono::{DateTime, Utc};

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    fn db() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn
    }

    fn add_tally(conn: &mut Connection, t: &Tally, compact: Option<i64>) {
        let tx = conn.transaction().unwrap();
        add(&tx, t, compact).unwrap();
        tx.commit().unwrap();
    }

    #[test]
    fn tallies_add_up_and_windows_count_from_their_bucket() {
        let mut conn = db();
        let base = 1_800_000_000 - 1_800_000_000 % HOUR;
        let mut t = Tally::default();
        t.add("a", at(base + 10), Fact::Started);
        t.add(
            "a",
            at(base + 70),
            Fact::Completed {
                cycle_us: 5_000_000,
            },
        );
        t.add("b", at(base + 130), Fact::Incident);
        add_tally(&mut conn, &t, None);
        add_tally(&mut conn, &t, None);
        let (all, first) = sums(&conn, None).unwrap();
        assert_eq!(first, Some(base));
        assert_eq!(all["a"].started, 2);
        assert_eq!(all["a"].completed, 2);
        assert_eq!(all["a"].cycle.count, 2);
        assert_eq!(all["a"].cycle.buckets.values().sum::<u64>(), 2);
        assert_eq!(all["b"].incidents, 2);
        // From the second minute on: the start is left out.
        let (later, first) = sums(&conn, Some(base + 60)).unwrap();
        assert_eq!(first, Some(base + 60));
        assert_eq!(later["a"].started, 0);
        assert_eq!(later["a"].completed, 2);
        let (none, first) = sums(&conn, Some(base + 600)).unwrap();
        assert!(none.is_empty());
        assert_eq!(first, None);
    }

    #[test]
    fn old_minutes_become_hours_with_nothing_lost() {
        let mut conn = db();
        let base = 1_800_000_000 - 1_800_000_000 % HOUR;
        let mut t = Tally::default();
        for m in 0..120 {
            t.add("a", at(base + m * 60), Fact::Started);
            t.add("a", at(base + m * 60), Fact::Decided { wait_us: 1_000_000 });
        }
        add_tally(&mut conn, &t, None);
        let before = sums(&conn, None).unwrap().0;
        // Merge the first hour only (hours are far from old enough to become days).
        add_tally(&mut conn, &Tally::default(), Some(base + HOUR));
        let after = sums(&conn, None).unwrap().0;
        assert_eq!(before, after);
        let rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM rollups", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1 + 60, "one hour row and the second hour's minutes");
        // A window starting inside the merged hour takes the whole hour.
        let (mid, first) = sums(&conn, Some(base + 1800)).unwrap();
        assert_eq!(first, Some(base));
        assert_eq!(mid["a"].started, 120);
        assert_eq!(horizon(base + MINUTES_KEPT + 90), base);
    }

    #[test]
    fn old_hours_become_days() {
        let mut conn = db();
        let day = 1_800_000_000 - 1_800_000_000 % DAY;
        let mut t = Tally::default();
        for h in 0..48 {
            t.add(
                "a",
                at(day + h * HOUR),
                Fact::Completed {
                    cycle_us: 2_000_000,
                },
            );
        }
        add_tally(&mut conn, &t, None);
        // The minutes become hours, then (a year and more later) the first day's hours
        // become a day.
        let now_hour = day + DAY + HOURS_KEPT - MINUTES_KEPT;
        add_tally(&mut conn, &Tally::default(), Some(now_hour));
        let (all, first) = sums(&conn, None).unwrap();
        assert_eq!(all["a"].completed, 48);
        assert_eq!(all["a"].cycle.count, 48);
        assert_eq!(first, Some(day));
        let sizes: Vec<(i64, i64)> = conn
            .prepare("SELECT size, COUNT(*) FROM rollups GROUP BY size ORDER BY size")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(sizes, [(HOUR, 24), (DAY, 1)]);
    }
}
