//! The journal and the data dir from the outside: round trips, refusals, the engine
//! lock, readers beside a writer, crash consistency under SIGKILL, and the small files.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use serde_json::json;
use tempi::store::{self, DaemonInfo, Journal, StoreError};
use tempi::types::event::{Event, Phase, Record, StepError, StepErrorKind, TaskKind, WaitOn};

fn at(secs: i64) -> chrono::DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 123_456_789)
        .single()
        .unwrap()
}

/// A record of a varied event for `seq`, concerning item `seq % 3 + 1`.
fn record(seq: u64) -> Record {
    let item = seq % 3 + 1;
    let event = match seq % 8 {
        0 => Event::ItemStarted {
            item,
            workflow: "invoice".into(),
            version: 2,
            input: json!({"amount": 12.5, "lines": [1, 2, 3], "who": "ünïcode"}),
            priority: -1,
            sla_due: Some(at(3600)),
            since: None,
        },
        1 => Event::StepScheduled {
            item,
            step: "fetch".into(),
            attempt: 1,
            at: at(seq as i64),
            phase: Phase::Compensate,
        },
        2 => Event::StepFailed {
            item,
            step: "fetch".into(),
            attempt: 3,
            error: StepError::new(StepErrorKind::Status, "503 from upstream").with_code("503"),
            phase: Phase::Run,
            exchange: None,
        },
        3 => Event::TaskCreated {
            task: seq,
            item,
            step: "review".into(),
            kind: TaskKind::AgentReview {
                proposal: json!({"decision": "approve"}),
                confidence: 0.42,
            },
            title: "Review \"quoted\" proposal\nwith newline".into(),
            details: None,
            group: Some("finance".into()),
            assignee: None,
            options: vec!["approve".into(), "reject".into()],
            due: Some(at(7200)),
        },
        4 => Event::StepWaiting {
            item,
            step: "wait".into(),
            attempt: 1,
            on: WaitOn::Signal {
                name: "go".into(),
                until: None,
            },
        },
        5 => Event::TaskDecided {
            task: seq - 2,
            decision: "approve".into(),
            comment: Some("ok".into()),
            by: "alice".into(),
            fields: None,
        },
        6 => Event::SlaWarning { item, percent: 80 },
        _ => Event::ItemCompleted { item },
    };
    Record {
        seq,
        at: at(seq as i64),
        item: Some(item),
        actor: if seq.is_multiple_of(2) {
            "engine"
        } else {
            "bob"
        }
        .into(),
        via: None,
        reason: seq.is_multiple_of(5).then(|| "because".to_string()),
        event,
    }
}

fn records(from: u64, to: u64) -> Vec<Record> {
    (from..=to).map(record).collect()
}

fn replay_all(journal: &Journal) -> (Vec<Record>, u64) {
    let mut out = Vec::new();
    let last = journal.replay(0, &mut |r| out.push(r)).unwrap();
    (out, last)
}

#[test]
fn append_then_replay_round_trips_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut journal = Journal::open(&data).unwrap();
    assert_eq!(journal.last_seq(), 0);
    assert_eq!(replay_all(&journal), (vec![], 0));

    let first = records(1, 20);
    journal.append(&first).unwrap();
    journal.append(&[]).unwrap();
    let second = records(21, 40);
    journal.append(&second).unwrap();
    assert_eq!(journal.last_seq(), 40);

    let (got, last) = replay_all(&journal);
    assert_eq!(last, 40);
    assert_eq!(got, records(1, 40));

    // And again after closing and reopening.
    drop(journal);
    let journal = Journal::open(&data).unwrap();
    assert_eq!(journal.last_seq(), 40);
    assert_eq!(replay_all(&journal), (records(1, 40), 40));
    assert_eq!(
        std::fs::metadata(&data).unwrap().permissions().mode() & 0o777,
        0o700
    );
}

#[test]
fn records_without_item_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path()).unwrap();
    let rec = Record {
        seq: 1,
        at: at(0),
        item: None,
        actor: "engine".into(),
        via: None,
        reason: None,
        event: Event::WorkflowLoaded {
            name: "w".into(),
            version: 1,
            source: "name: w\nsteps: []\n".into(),
        },
    };
    journal.append(std::slice::from_ref(&rec)).unwrap();
    assert_eq!(replay_all(&journal), (vec![rec.clone()], 1));
    assert_eq!(
        store::read_records(dir.path(), None, 0, 10).unwrap(),
        vec![rec]
    );
    assert!(
        store::read_records(dir.path(), Some(1), 0, 10)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn gaps_duplicates_and_reordering_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path()).unwrap();
    journal.append(&records(1, 5)).unwrap();

    let bad_batches: Vec<Vec<Record>> = vec![
        records(5, 8),                         // repeats the last committed seq
        records(7, 9),                         // gap after the last committed seq
        vec![record(6), record(7), record(7)], // duplicate within the batch
        vec![record(6), record(8)],            // gap within the batch
        vec![record(7), record(6)],            // out of order
        vec![record(6), record(7), record(3)], // goes backwards at the end
    ];
    for batch in bad_batches {
        let err = journal.append(&batch).unwrap_err();
        assert!(
            matches!(err, StoreError::OutOfOrder { .. }),
            "unexpected error {err:?}"
        );
        assert!(err.to_string().contains("nothing was written"), "{err}");
        assert_eq!(journal.last_seq(), 5);
        assert_eq!(replay_all(&journal), (records(1, 5), 5));
    }
    // The journal still accepts the right continuation.
    journal.append(&records(6, 9)).unwrap();
    assert_eq!(replay_all(&journal), (records(1, 9), 9));
}

#[test]
fn second_open_is_locked_until_the_first_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let first = Journal::open(dir.path()).unwrap();
    let err = Journal::open(dir.path()).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    assert!(
        message.contains(&dir.path().display().to_string()),
        "{message}"
    );
    assert!(
        message.contains(&format!("(pid {})", std::process::id())),
        "{message}"
    );
    assert!(message.contains("--data"), "{message}");

    drop(first);
    let again = Journal::open(dir.path()).unwrap();
    assert_eq!(again.last_seq(), 0);
}

#[test]
fn read_records_filters_by_item_after_and_limit_beside_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path()).unwrap();
    journal.append(&records(1, 30)).unwrap();

    // All, oldest first.
    let all = store::read_records(dir.path(), None, 0, usize::MAX).unwrap();
    assert_eq!(all, records(1, 30));
    // after + limit.
    let page = store::read_records(dir.path(), None, 10, 5).unwrap();
    assert_eq!(page, records(11, 15));
    assert!(
        store::read_records(dir.path(), None, 30, 5)
            .unwrap()
            .is_empty()
    );
    assert!(
        store::read_records(dir.path(), None, 0, 0)
            .unwrap()
            .is_empty()
    );
    // One item: seq % 3 + 1 == 2 means seq in {1, 4, 7, ...}.
    let item2 = store::read_records(dir.path(), Some(2), 0, 100).unwrap();
    let seqs: Vec<u64> = item2.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=30).filter(|s| s % 3 == 1).collect::<Vec<_>>());
    let item2_page = store::read_records(dir.path(), Some(2), 4, 3).unwrap();
    let seqs: Vec<u64> = item2_page.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, vec![7, 10, 13]);
    assert!(
        store::read_records(dir.path(), Some(99), 0, 10)
            .unwrap()
            .is_empty()
    );

    // Readers on other threads see new commits while the writer stays open.
    journal.append(&records(31, 33)).unwrap();
    let d = dir.path().to_path_buf();
    let seen = std::thread::spawn(move || store::read_records(&d, None, 30, 10).unwrap())
        .join()
        .unwrap();
    assert_eq!(seen, records(31, 33));

    // And after the writer is gone (WAL files checkpointed and removed).
    drop(journal);
    assert_eq!(
        store::read_records(dir.path(), None, 0, usize::MAX).unwrap(),
        records(1, 33)
    );
}

#[test]
fn read_records_without_a_journal_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = store::read_records(&dir.path().join("nowhere"), None, 0, 10).unwrap_err();
    assert!(matches!(err, StoreError::NoJournal { .. }), "{err:?}");
    assert!(err.to_string().contains("journal.db"), "{err}");
}

#[test]
fn garbage_journal_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    std::fs::write(
        &path,
        b"this is not a database, just some text.\n".repeat(200),
    )
    .unwrap();
    let err = Journal::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::NotAJournal { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("move it aside"), "{message}");
    // The lock was released with the failed open.
    let err = store::read_records(dir.path(), None, 0, 10).unwrap_err();
    assert!(matches!(err, StoreError::NotAJournal { .. }), "{err:?}");

    // A short file too.
    std::fs::write(&path, b"x").unwrap();
    assert!(Journal::open(dir.path()).is_err());
}

#[test]
fn newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(Journal::open(dir.path()).unwrap());
    rusqlite_path_exec(
        &dir.path().join("journal.db"),
        "UPDATE meta SET value = '99' WHERE key = 'schema_version'",
    );
    let err = Journal::open(dir.path()).unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 99, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("upgrade tempi"), "{err}");
}

/// Run SQL on a journal behind the store's back, to damage it on purpose.
fn rusqlite_path_exec(path: &Path, sql: &str) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(sql).unwrap();
}

#[test]
fn corrupt_body_names_the_seq() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut journal = Journal::open(dir.path()).unwrap();
        journal.append(&records(1, 3)).unwrap();
    }
    rusqlite_path_exec(
        &dir.path().join("journal.db"),
        "UPDATE events SET body = '{not json' WHERE seq = 2",
    );
    let journal = Journal::open(dir.path()).unwrap();
    let mut n = 0;
    let err = journal.replay(0, &mut |_| n += 1).unwrap_err();
    assert!(
        matches!(err, StoreError::BadRecord { seq: 2, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("seq 2"), "{err}");
    assert_eq!(n, 1);
}

const CRASH_ENV: &str = "TEMPI_STORE_CRASH_DIR";
const CRASH_BATCH: u64 = 97;

/// Not a test on its own: when re-executed by `crash_mid_append_leaves_whole_batches`
/// with `TEMPI_STORE_CRASH_DIR` set, appends batches forever until it is killed.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os(CRASH_ENV) else {
        return;
    };
    let mut journal = Journal::open(Path::new(&dir)).unwrap();
    let mut next = journal.last_seq() + 1;
    loop {
        let batch = records(next, next + CRASH_BATCH - 1);
        journal.append(&batch).unwrap();
        next += CRASH_BATCH;
    }
}

#[test]
fn crash_mid_append_leaves_whole_batches() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut previous = 0;
    for round in 0..3 {
        let mut child = Command::new(&exe)
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CRASH_ENV, dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Wait until it has committed past what the previous round left, then a bit more.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let committed = store::read_records(dir.path(), None, previous, 1)
                .map(|r| r.len())
                .unwrap_or(0);
            if committed > 0 {
                break;
            }
            assert!(Instant::now() < deadline, "child never committed a batch");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(50 + 40 * round));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();

        // A reader can recover the killed writer's WAL before any writer reopens it.
        let read = store::read_records(dir.path(), None, 0, usize::MAX).unwrap();
        assert_eq!(
            read.len() as u64 % CRASH_BATCH,
            0,
            "round {round}: reader saw a partial batch"
        );

        let journal = Journal::open(dir.path()).unwrap();
        let (got, last) = replay_all(&journal);
        assert!(
            last > previous,
            "round {round}: nothing new after {previous}"
        );
        assert_eq!(
            last % CRASH_BATCH,
            0,
            "round {round}: partial batch, last {last}"
        );
        assert_eq!(got.len() as u64, last, "round {round}: gap");
        for (i, r) in got.iter().enumerate() {
            assert_eq!(r, &record(i as u64 + 1));
        }
        previous = last;
    }
}

#[test]
fn token_is_0600_hex_and_stable() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested").join("data");
    let token = store::load_or_create_token(&data).unwrap();
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    let path = data.join("token");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(store::load_or_create_token(&data).unwrap(), token);

    // A loosened token is tightened back.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(store::load_or_create_token(&data).unwrap(), token);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // Another dir gets another token.
    let other = store::load_or_create_token(&dir.path().join("other")).unwrap();
    assert_ne!(other, token);

    // A mangled token is an error that says what to do.
    std::fs::write(&path, "short").unwrap();
    let err = store::load_or_create_token(&data).unwrap_err();
    assert!(err.to_string().contains("delete it"), "{err}");

    // No temp files are left behind.
    let names: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("token")]);
}

#[test]
fn concurrent_token_creation_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let tokens: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| store::load_or_create_token(dir.path()).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(tokens.windows(2).all(|w| w[0] == w[1]), "{tokens:?}");
}

#[test]
fn daemon_info_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(store::read_daemon_info(dir.path()).unwrap(), None);
    let info = DaemonInfo {
        url: "http://127.0.0.1:7411".into(),
        pid: 4242,
        socket: None,
    };
    store::write_daemon_info(dir.path(), &info).unwrap();
    assert_eq!(
        store::read_daemon_info(dir.path()).unwrap(),
        Some(info.clone())
    );
    let newer = DaemonInfo {
        url: "http://127.0.0.1:7412".into(),
        pid: 4343,
        socket: Some("/run/tempi/tempi.sock".into()),
    };
    store::write_daemon_info(dir.path(), &newer).unwrap();
    assert_eq!(store::read_daemon_info(dir.path()).unwrap(), Some(newer));
    // A daemon.json from before the socket reads as one without it.
    std::fs::write(
        dir.path().join("daemon.json"),
        r#"{"url": "http://127.0.0.1:7411", "pid": 4242}"#,
    )
    .unwrap();
    assert_eq!(store::read_daemon_info(dir.path()).unwrap(), Some(info));
    store::remove_daemon_info(dir.path()).unwrap();
    assert_eq!(store::read_daemon_info(dir.path()).unwrap(), None);
    store::remove_daemon_info(dir.path()).unwrap();

    std::fs::write(dir.path().join("daemon.json"), "{").unwrap();
    let err = store::read_daemon_info(dir.path()).unwrap_err();
    assert!(err.to_string().contains("daemon.json"), "{err}");
}

#[test]
fn a_schema_1_journal_is_migrated_and_still_appended_to() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    // The layout tempi wrote before the index of ended items.
    rusqlite_path_exec(
        &path,
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         INSERT INTO meta VALUES ('schema_version', '1');
         CREATE TABLE events (seq INTEGER PRIMARY KEY, item INTEGER, at TEXT NOT NULL,
                              kind TEXT NOT NULL, body TEXT NOT NULL);
         CREATE INDEX events_item_seq ON events (item, seq);",
    );
    let mut journal = Journal::open(dir.path()).unwrap();
    assert!(journal.needs_backfill().unwrap());
    journal.append(&records(1, 3)).unwrap();
    journal.backfill(&[]).unwrap();
    assert!(!journal.needs_backfill().unwrap());
    drop(journal);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let kinds: Vec<String> = conn
        .prepare("SELECT kind FROM events ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(kinds.len(), 3, "old columns are still filled");
    let version: String = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, store::SCHEMA_VERSION.to_string());
    let (back, last) = replay_all(&Journal::open(dir.path()).unwrap());
    assert_eq!((back, last), (records(1, 3), 3));
}

#[test]
fn the_journal_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path()).unwrap();
    journal.append(&records(1, 2)).unwrap();
    for name in ["journal.db", "journal.db-wal"] {
        let mode = std::fs::metadata(dir.path().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
}

#[test]
fn a_journal_left_readable_by_others_is_made_private() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path()).unwrap();
    journal.append(&records(1, 2)).unwrap();
    drop(journal);
    let db = dir.path().join("journal.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    drop(Journal::open(dir.path()).unwrap());
    let mode = std::fs::metadata(&db).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

fn ended(id: u64, key: Option<&str>, title: Option<&str>) -> tempi::types::view::EndedItem {
    use tempi::types::view::{EndedItem, ItemStatus, ItemSummary};
    EndedItem {
        summary: ItemSummary {
            id,
            workflow: "invoice-approval".into(),
            version: 4,
            status: ItemStatus::Completed,
            current: String::new(),
            priority: 0,
            started_at: at(0),
            updated_at: at(id as i64),
            ended_at: Some(at(id as i64)),
            sla_due: None,
            sla_warned: 0,
            sla_breached: false,
            key: key.map(str::to_string),
            title: title.map(str::to_string),
            incident: None,
        },
        tasks: vec![],
        first_seq: id,
        last_seq: id,
    }
}

#[test]
fn a_schema_2_journal_gains_keys_and_titles_and_ended_items_are_found_by_key() {
    use tempi::types::view::ItemFilter;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    // The layout of schema 2: ended items without keys or titles, one of them indexed.
    rusqlite_path_exec(
        &path,
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         INSERT INTO meta VALUES ('schema_version', '2');
         CREATE TABLE events (seq INTEGER PRIMARY KEY, item INTEGER, body TEXT NOT NULL);
         CREATE TABLE ended_items (id INTEGER PRIMARY KEY, workflow TEXT NOT NULL,
             version INTEGER NOT NULL, status TEXT NOT NULL, current TEXT NOT NULL,
             priority INTEGER NOT NULL, started_at INTEGER NOT NULL,
             updated_at INTEGER NOT NULL, ended_at INTEGER NOT NULL, sla_due INTEGER,
             sla_warned INTEGER NOT NULL, sla_breached INTEGER NOT NULL,
             first_seq INTEGER NOT NULL, last_seq INTEGER NOT NULL);
         INSERT INTO ended_items VALUES (1, 'invoice-approval', 3, 'completed', '', 0,
             0, 0, 0, NULL, 0, 0, 1, 1);
         CREATE TABLE ended_tasks (id INTEGER PRIMARY KEY, item INTEGER NOT NULL,
             body TEXT NOT NULL);",
    );
    let mut journal = Journal::open(dir.path()).unwrap();
    assert!(!journal.needs_backfill().unwrap());
    let items = [
        ended(2, Some("INV-2026-09386"), Some("Nordwind Logistics GmbH")),
        ended(3, Some("INV-2026-09387"), Some("Contoso")),
        ended(4, Some("PO-2026-09387"), None),
        ended(5, None, Some("no key")),
    ];
    journal.commit(&records(1, 5), &items).unwrap();
    let reader = store::Reader::open(dir.path()).unwrap();
    let find = |key: Option<&str>, prefix: Option<&str>| -> Vec<u64> {
        let f = ItemFilter {
            key: key.map(str::to_string),
            key_prefix: prefix.map(str::to_string),
            ..Default::default()
        };
        let rows = reader.ended_items(&f, 100).unwrap();
        rows.iter().map(|r| r.summary.id).collect()
    };
    assert_eq!(find(Some("INV-2026-09387"), None), [3]);
    assert_eq!(
        find(Some("inv-2026-09387"), None),
        [3],
        "ASCII case is ignored"
    );
    assert_eq!(find(Some("INV-2026-0938"), None), Vec::<u64>::new());
    assert_eq!(find(None, Some("inv-2026-")), [3, 2], "newest first");
    assert_eq!(find(None, Some("PO-")), [4]);
    assert_eq!(find(None, None), [5, 4, 3, 2, 1]);
    let row = reader.ended_item(2).unwrap().unwrap();
    assert_eq!(row.summary, items[0].summary, "key and title come back");
    let old = reader.ended_item(1).unwrap().unwrap();
    assert_eq!((old.summary.key, old.summary.title), (None, None));
    let conn = rusqlite::Connection::open(&path).unwrap();
    let plan: String = conn
        .query_row(
            "EXPLAIN QUERY PLAN SELECT id FROM ended_items WHERE key = 'INV-2026-09387' AND id < 99 ORDER BY id DESC",
            [],
            |r| r.get(3),
        )
        .unwrap();
    assert!(plan.contains("ended_items_key"), "{plan}");
    let version: String = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, store::SCHEMA_VERSION.to_string());
}

/// `tempi --data DIR audit ARGS`, the real binary, no daemon.
fn audit(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tempi"))
        .arg("--data")
        .arg(dir)
        .arg("audit")
        .args(args)
        .env_remove("TEMPI_URL")
        .output()
        .unwrap()
}

/// A closed journal of records 1..=12.
fn closed_journal() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path()).unwrap();
    journal.append(&records(1, 12)).unwrap();
    dir
}

#[test]
fn audit_verify_passes_an_untouched_journal_and_names_each_tampering() {
    let dir = closed_journal();
    let file = dir.path().join("journal.db");
    let before = std::fs::read(&file).unwrap();
    let o = audit(dir.path(), &["--verify"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.starts_with("audit verified: 12 records, 0 tombstones, head seq 12 hash "),
        "{out}"
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "verify writes nothing"
    );
    let o = audit(dir.path(), &["--verify", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        (v["ok"].clone(), v["head"]["seq"].clone()),
        (json!(true), json!(12))
    );

    // What someone with sqlite3 might do, each on a fresh copy.
    let cases = [
        (
            "UPDATE events SET body = replace(body, 'because', 'because!') WHERE seq = 5",
            "its body was changed",
            "body_changed",
        ),
        (
            "DELETE FROM events WHERE seq = 5",
            "missing: neither a record nor a tombstone covers it",
            "missing",
        ),
        (
            "UPDATE events SET hash = zeroblob(32) WHERE seq = 5",
            "its hash was changed",
            "hash_changed",
        ),
        (
            "UPDATE events SET seq = -1 WHERE seq = 5;
             UPDATE events SET seq = 5 WHERE seq = 6;
             UPDATE events SET seq = 6 WHERE seq = -1;",
            "it holds the record of seq 6: records were moved out of order",
            "out_of_order",
        ),
    ];
    for (edit, says, kind) in cases {
        let dir = closed_journal();
        rusqlite_path_exec(&dir.path().join("journal.db"), edit);
        let o = audit(dir.path(), &["--verify"]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{edit}: {err}");
        assert!(
            err.contains(&format!("failed at seq 5: {says}")),
            "{edit}: {err}"
        );
        assert!(o.stdout.is_empty(), "{edit}");
        let o = audit(dir.path(), &["--verify", "--json"]);
        assert_eq!(o.status.code(), Some(1));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["ok"], false, "{v}");
        assert_eq!(v["break"]["seq"], 5, "{v}");
        assert_eq!(v["break"]["problem"]["kind"], kind, "{v}");
        assert_eq!(v["verified_seq"], 4, "{v}");
    }
}

#[test]
fn audit_export_checks_itself_and_an_anchor_catches_a_recomputed_chain() {
    let dir = closed_journal();
    let anchor = audit(dir.path(), &["--anchor"]);
    assert!(anchor.status.success());
    let anchor = String::from_utf8_lossy(&anchor.stdout).trim().to_string();
    assert!(
        anchor.starts_with("12:") && anchor.len() == 3 + 64,
        "{anchor}"
    );
    let export = dir.path().join("audit.jsonl");
    let export_s = export.to_str().unwrap();
    let o = audit(dir.path(), &["--export", export_s]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = audit(dir.path(), &["--check", export_s, "--against", &anchor]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.contains("passes through anchor 12:"), "{out}");
    // A second export to the same file changes nothing.
    let o = audit(dir.path(), &["--export", export_s]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));

    // Edit a record and recompute every hash after it, as a same-user attacker can.
    let conn = rusqlite::Connection::open(dir.path().join("journal.db")).unwrap();
    conn.execute(
        "UPDATE events SET body = replace(body, 'alice', 'mallory')",
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
    let mut prev = tempi::store::chain::GENESIS;
    for (seq, body) in rows {
        prev = tempi::store::chain::link(&prev, seq as u64, body.as_bytes());
        conn.execute(
            "UPDATE events SET hash = ?1 WHERE seq = ?2",
            rusqlite::params![&prev[..], seq],
        )
        .unwrap();
    }
    drop(conn);
    assert!(
        audit(dir.path(), &["--verify"]).status.success(),
        "unanchored, it passes"
    );
    let o = audit(dir.path(), &["--verify", "--against", &anchor]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("rewritten at or before seq 12"), "{err}");
    // The export kept before the edit still checks, and shows what was there.
    assert!(audit(dir.path(), &["--check", export_s]).status.success());
    assert!(std::fs::read_to_string(&export).unwrap().contains("alice"));
}

#[test]
fn audit_chain_modes_refuse_what_they_cannot_do() {
    let dir = tempfile::tempdir().unwrap();
    // No journal: said, exit 1.
    let o = audit(dir.path(), &["--verify"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no journal at"));
    // Usage: one mode at a time, not with the listing's options, an anchor to check.
    for args in [
        &["--verify", "--anchor"][..],
        &["--verify", "--follow"],
        &["3", "--verify"],
        &["--verify", "--limit", "2"],
        &["--against", "1:00"],
        &["--anchor", "--against", &format!("1:{}", "0".repeat(64))],
        &["--verify", "--against", "12:nothex"],
    ] {
        let o = audit(dir.path(), args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
    }
    // An export that is not one.
    let junk = dir.path().join("junk");
    std::fs::write(&junk, "hello\n").unwrap();
    let o = audit(dir.path(), &["--check", junk.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("junk:1: not JSON"), "{err}");
}
