//! The engine runtime in-process: real journal, real executors, wall clock.

use std::time::Duration;

use serde_json::json;
use tempi::engine::runtime::{self, EngineConfig, Running};
use tempi::types::command::{Command, CommandError};
use tempi::types::view::{ItemFilter, ItemStatus, TaskFilter};

const FLOW: &str = r#"name: t
version: 1
steps:
  - id: a
    kind: pass
    output: { x: "{{ input.n }}" }
  - id: h
    kind: human
    needs: [a]
    title: "Approve {{ steps.a.output.x }}"
    group: ops
  - id: b
    kind: shell
    needs: [h]
    when: "steps.h.decision == 'approved'"
    run: ["echo", "{\"ok\": true}"]
"#;

async fn engine(dir: &std::path::Path) -> Running {
    let wf = dir.join("wf");
    std::fs::create_dir_all(&wf).unwrap();
    std::fs::write(wf.join("t.yaml"), FLOW).unwrap();
    runtime::start(EngineConfig::new(dir.join("data"), Some(wf)))
        .await
        .unwrap()
}

async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn human_step_then_shell_runs_and_survives_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let run = engine(tmp.path()).await;
    let h = run.handle.clone();
    let reply = h
        .command(
            &tempi::types::identity::Who::root("alice"),
            None,
            Command::Start {
                workflow: "t".into(),
                version: None,
                input: json!({ "n": 7 }),
                priority: 2,
                since: None,
            },
        )
        .await
        .unwrap();
    let item = reply.item.unwrap();
    until("the task", || async {
        !h.tasks(TaskFilter::default()).await.unwrap().is_empty()
    })
    .await;
    let task = h.tasks(TaskFilter::default()).await.unwrap().remove(0);
    assert_eq!(task.title, "Approve 7");
    assert_eq!(task.group.as_deref(), Some("ops"));
    run.shutdown().await;

    // Restart: the task is still open; deciding it runs the shell step.
    let run = engine(tmp.path()).await;
    let h = run.handle.clone();
    let tasks = h.tasks(TaskFilter::default()).await.unwrap();
    assert_eq!(tasks.len(), 1);
    let decide = Command::Decide {
        task: task.id,
        decision: "approved".into(),
        comment: Some("fine".into()),
        fields: None,
    };
    h.command(
        &tempi::types::identity::Who::root("bob"),
        Some("checked".into()),
        decide.clone(),
    )
    .await
    .unwrap();
    let again = h
        .command(&tempi::types::identity::Who::root("carol"), None, decide)
        .await
        .unwrap_err();
    assert!(matches!(again, CommandError::Conflict(_)), "{again:?}");
    until("completion", || async {
        let d = h.item(item).await.unwrap().unwrap();
        d.summary.status == ItemStatus::Completed
    })
    .await;
    let d = h.item(item).await.unwrap().unwrap();
    let b = d.steps.iter().find(|s| s.id == "b").unwrap();
    assert_eq!(b.output.as_ref().unwrap()["json"], json!({ "ok": true }));
    let audit = h.audit(Some(item), 0, 1000).await.unwrap();
    let decided = audit
        .iter()
        .find(|r| r.event.name() == "task_decided")
        .unwrap();
    assert_eq!(decided.actor, "bob");
    assert_eq!(decided.reason.as_deref(), Some("checked"));
    let items = h.items(ItemFilter::default()).await.unwrap();
    assert_eq!(items.len(), 1);
    run.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_engine_on_the_same_data_dir_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let run = engine(tmp.path()).await;
    let second = runtime::start(EngineConfig::new(tmp.path().join("data"), None)).await;
    let err = second
        .err()
        .expect("second engine must be refused")
        .to_string();
    assert!(err.contains("another tempi engine"), "{err}");
    run.shutdown().await;
}

/// Start an item of `t` and wait for its task; returns (item, task).
async fn start_with_task(h: &tempi::engine::EngineHandle, n: u64) -> (u64, u64) {
    let cmd = Command::Start {
        workflow: "t".into(),
        version: None,
        input: json!({ "n": n }),
        priority: 0,
        since: None,
    };
    let item = h
        .command(&tempi::types::identity::Who::root("alice"), None, cmd)
        .await
        .unwrap()
        .item
        .unwrap();
    until("the task", || async {
        h.tasks(TaskFilter::default())
            .await
            .unwrap()
            .iter()
            .any(|t| t.item == item)
    })
    .await;
    let tasks = h.tasks(TaskFilter::default()).await.unwrap();
    (item, tasks.iter().find(|t| t.item == item).unwrap().id)
}

fn decide(task: u64, decision: &str) -> Command {
    Command::Decide {
        task,
        decision: decision.into(),
        comment: None,
        fields: None,
    }
}

/// Everything a user can ask about three ended items, checked on a running engine.
async fn check_history(h: &tempi::engine::EngineHandle, ids: [u64; 3], tasks: [u64; 3]) {
    let m = h.metrics().await.unwrap();
    assert_eq!((m.in_flight, m.completed, m.cancelled), (0, 2, 1), "{m:?}");
    let all = h.items(ItemFilter::default()).await.unwrap();
    let listed: Vec<(u64, ItemStatus)> = all.iter().map(|s| (s.id, s.status)).collect();
    assert_eq!(
        listed,
        vec![
            (ids[2], ItemStatus::Cancelled),
            (ids[1], ItemStatus::Completed),
            (ids[0], ItemStatus::Completed)
        ]
    );
    let active = ItemFilter {
        active: true,
        ..Default::default()
    };
    assert!(h.items(active).await.unwrap().is_empty());
    let completed = ItemFilter {
        status: Some(ItemStatus::Completed),
        ..Default::default()
    };
    assert_eq!(h.items(completed).await.unwrap().len(), 2);
    let page = ItemFilter {
        limit: Some(1),
        after: Some(ids[2]),
        ..Default::default()
    };
    assert_eq!(h.items(page).await.unwrap()[0].id, ids[1]);
    let by_id = ItemFilter {
        ids: Some(tempi::types::view::IdList(vec![ids[0], 999, ids[2]])),
        ..Default::default()
    };
    let found: Vec<u64> = h.items(by_id).await.unwrap().iter().map(|s| s.id).collect();
    assert_eq!(found, vec![ids[0], ids[2]]);

    // The detail of an ended item keeps its shape: summary, input, steps with outputs.
    let d = h.item(ids[0]).await.unwrap().expect("ended item detail");
    assert_eq!(d.summary, all[2]);
    assert_eq!(d.input, json!({ "n": 1 }));
    let b = d.steps.iter().find(|s| s.id == "b").unwrap();
    assert_eq!(b.output.as_ref().unwrap()["json"], json!({ "ok": true }));
    let hs = d.steps.iter().find(|s| s.id == "h").unwrap();
    assert_eq!(hs.output.as_ref().unwrap()["decision"], "approved");
    assert!(h.item(999).await.unwrap().is_none());
    assert!(!h.audit(Some(ids[0]), 0, 1000).await.unwrap().is_empty());

    let every = TaskFilter {
        all: true,
        ..Default::default()
    };
    let listed: Vec<(u64, String)> = h
        .tasks(every)
        .await
        .unwrap()
        .iter()
        .map(|t| (t.id, format!("{:?}", t.status)))
        .collect();
    assert_eq!(
        listed,
        vec![
            (tasks[0], "Decided".to_string()),
            (tasks[1], "Decided".to_string()),
            (tasks[2], "Cancelled".to_string())
        ]
    );
    assert!(h.tasks(TaskFilter::default()).await.unwrap().is_empty());

    // Acting on what has ended is refused as it was while it was in memory.
    let err = h
        .command(
            &tempi::types::identity::Who::root("carol"),
            None,
            decide(tasks[0], "rejected"),
        )
        .await;
    assert_eq!(
        err.unwrap_err(),
        CommandError::Conflict(format!(
            "task {} was already decided: approved by bob",
            tasks[0]
        ))
    );
    let err = h
        .command(
            &tempi::types::identity::Who::root("carol"),
            None,
            Command::Cancel { item: ids[1] },
        )
        .await;
    assert_eq!(
        err.unwrap_err(),
        CommandError::Conflict(format!("item {} has already ended (completed)", ids[1]))
    );
    let err = h
        .command(
            &tempi::types::identity::Who::root("carol"),
            None,
            Command::Cancel { item: 999 },
        )
        .await;
    assert!(matches!(err, Err(CommandError::NotFound(_))), "{err:?}");
}

async fn three_ended_items(h: &tempi::engine::EngineHandle) -> ([u64; 3], [u64; 3]) {
    let (i1, t1) = start_with_task(h, 1).await;
    let (i2, t2) = start_with_task(h, 2).await;
    let (i3, t3) = start_with_task(h, 3).await;
    h.command(
        &tempi::types::identity::Who::root("bob"),
        None,
        decide(t1, "approved"),
    )
    .await
    .unwrap();
    h.command(
        &tempi::types::identity::Who::root("bob"),
        None,
        decide(t2, "rejected"),
    )
    .await
    .unwrap();
    h.command(
        &tempi::types::identity::Who::root("bob"),
        None,
        Command::Cancel { item: i3 },
    )
    .await
    .unwrap();
    until("all three ended", || async {
        let these = ItemFilter {
            ids: Some(tempi::types::view::IdList(vec![i1, i2, i3])),
            ..Default::default()
        };
        let got = h.items(these).await.unwrap();
        got.iter().all(|s| s.status.is_final())
    })
    .await;
    ([i1, i2, i3], [t1, t2, t3])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_items_leave_memory_and_are_read_from_the_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let run = engine(tmp.path()).await;
    let (ids, tasks) = three_ended_items(&run.handle).await;
    check_history(&run.handle, ids, tasks).await;
    run.shutdown().await;

    // After a restart the same answers, and ids continue where they were.
    let run = engine(tmp.path()).await;
    check_history(&run.handle, ids, tasks).await;
    let (next, next_task) = start_with_task(&run.handle, 4).await;
    assert_eq!((next, next_task), (ids[2] + 1, tasks[2] + 1));
    run.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_1_journal_is_migrated_and_its_ended_items_indexed() {
    let tmp = tempfile::tempdir().unwrap();
    let run = engine(tmp.path()).await;
    let (ids, tasks) = three_ended_items(&run.handle).await;
    run.shutdown().await;

    // Make the journal what the previous version wrote: events and meta only.
    let db = tmp.path().join("data").join(tempi::store::JOURNAL_FILE);
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "DROP TABLE ended_items; DROP TABLE ended_tasks;
         UPDATE meta SET value = '1' WHERE key = 'schema_version';",
    )
    .unwrap();
    drop(conn);

    let run = engine(tmp.path()).await;
    check_history(&run.handle, ids, tasks).await;
    run.shutdown().await;
    let conn = rusqlite::Connection::open(&db).unwrap();
    let version: String = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, tempi::store::SCHEMA_VERSION.to_string());
    let pending: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM meta WHERE key = 'backfill_ended'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(pending, 0, "the migration is finished once");
}

async fn engine_with(dir: &std::path::Path, every: u64) -> Running {
    let wf = dir.join("wf");
    std::fs::create_dir_all(&wf).unwrap();
    std::fs::write(wf.join("t.yaml"), FLOW).unwrap();
    let mut config = EngineConfig::new(dir.join("data"), Some(wf));
    config.snapshot_every = every;
    runtime::start(config).await.unwrap()
}

/// What a user sees of the engine, to compare across restarts.
async fn view(h: &tempi::engine::EngineHandle) -> String {
    let items = h.items(ItemFilter::default()).await.unwrap();
    let every = TaskFilter {
        all: true,
        ..Default::default()
    };
    let tasks = h.tasks(every).await.unwrap();
    let mut m = h.metrics().await.unwrap();
    // Counters of the runtime, not of the state: how far the background audit got is timing.
    m.commits = 0;
    m.audit = Default::default();
    let details: Vec<_> = futures_util::future::join_all(items.iter().map(|i| h.item(i.id))).await;
    let details: Vec<_> = details.into_iter().map(|d| d.unwrap()).collect();
    serde_json::to_string(&(items, tasks, m, details)).unwrap()
}

fn snapshot_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    tempi::store::snapshots::list(&dir.join("data"))
        .into_iter()
        .map(|(_, p)| p)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_from_snapshots_and_falls_back_when_one_is_bad() {
    let tmp = tempfile::tempdir().unwrap();
    let run = engine_with(tmp.path(), 20).await;
    let h = run.handle.clone();
    three_ended_items(&h).await;
    let (open_item, _) = start_with_task(&h, 5).await;
    // The background snapshot follows the records written so far.
    until("a background snapshot", || async {
        !snapshot_files(tmp.path()).is_empty()
    })
    .await;
    let before = view(&h).await;
    run.shutdown().await;

    // A clean stop leaves a snapshot of everything: the restart replays nothing.
    let newest = snapshot_files(tmp.path())[0].clone();
    let run = engine_with(tmp.path(), 1_000_000).await;
    assert_eq!(
        run.stats.lock().unwrap().replayed,
        0,
        "replayed despite a snapshot"
    );
    assert_eq!(view(&run.handle).await, before);
    run.shutdown().await;

    // Damaged snapshots are skipped (here every one): the journal is replayed in full.
    let mode = std::fs::metadata(&newest).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        mode.permissions().mode() & 0o777,
        0o600,
        "snapshots are private"
    );
    for path in snapshot_files(tmp.path()) {
        std::fs::write(&path, b"{ not a snapshot").unwrap();
    }
    let run = engine_with(tmp.path(), 1_000_000).await;
    assert!(run.stats.lock().unwrap().replayed > 0);
    assert_eq!(view(&run.handle).await, before);
    // And the engine carries on: the open item's task can be decided.
    let tasks = run.handle.tasks(TaskFilter::default()).await.unwrap();
    assert_eq!(tasks[0].item, open_item);
    run.handle
        .command(
            &tempi::types::identity::Who::root("bob"),
            None,
            decide(tasks[0].id, "approved"),
        )
        .await
        .unwrap();
    run.shutdown().await;
}

/// An engine on a manual clock that keeps ended items an hour, snapshots often and
/// looks for what to remove every 20 ms.
async fn retention_engine(
    dir: &std::path::Path,
    clock: std::sync::Arc<tempi::engine::runtime::ManualClock>,
    archive: Option<std::path::PathBuf>,
) -> Result<Running, tempi::engine::runtime::StartError> {
    let wf = dir.join("wf");
    std::fs::create_dir_all(&wf).unwrap();
    std::fs::write(wf.join("t.yaml"), FLOW).unwrap();
    let mut config = EngineConfig::new(dir.join("data"), Some(wf));
    config.clock = clock;
    config.snapshot_every = 5;
    config.snapshot_interval = Duration::from_millis(50);
    config.retention = Some(Duration::from_secs(3600));
    config.retention_check = Duration::from_millis(20);
    config.archive = archive;
    runtime::start(config).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_old_items_and_ids_are_never_reused() {
    use tempi::engine::runtime::ManualClock;
    let tmp = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(ManualClock::new(chrono::Utc::now()));
    let archive = tmp.path().join("archive");
    let start = |clock| retention_engine(tmp.path(), clock, Some(archive.clone()));
    let run = start(clock.clone()).await.unwrap();
    let h = run.handle.clone();
    // The item in flight is the oldest: the newest ids are the ones removed.
    let (open, open_task) = start_with_task(&h, 4).await;
    let (ids, tasks) = three_ended_items(&h).await;
    until("a snapshot covering the ended items", || async {
        let head = h.metrics().await.unwrap().journal_seq;
        snapshot_files(tmp.path())
            .first()
            .is_some_and(|p| p.to_string_lossy().contains(&format!("{head:020}")))
    })
    .await;
    // Within the window nothing goes.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.items(ItemFilter::default()).await.unwrap().len(), 4);

    clock.advance(chrono::Duration::hours(2));
    until("retention", || async {
        h.items(ItemFilter::default()).await.unwrap().len() == 1
    })
    .await;
    let left = h.items(ItemFilter::default()).await.unwrap();
    assert_eq!(left[0].id, open, "the item in flight stays");
    assert!(h.item(ids[0]).await.unwrap().is_none());
    assert!(h.audit(Some(ids[0]), 0, 100).await.unwrap().is_empty());
    // What was removed was archived first, whole.
    let archived =
        tempi::store::archive::read(&tmp.path().join("archive"), Some(ids[0]), 0).unwrap();
    assert!(matches!(
        archived.first().map(|r| &r.event),
        Some(tempi::types::Event::ItemStarted { .. })
    ));
    assert!(matches!(
        archived.last().map(|r| &r.event),
        Some(tempi::types::Event::ItemCompleted { .. })
    ));
    let everything = tempi::store::archive::read(&archive, None, 0).unwrap();
    let items: std::collections::BTreeSet<u64> = everything.iter().filter_map(|r| r.item).collect();
    assert_eq!(items, ids.iter().copied().collect());
    assert!(!h.audit(Some(open), 0, 100).await.unwrap().is_empty());
    let every = TaskFilter {
        all: true,
        ..Default::default()
    };
    let kept: Vec<u64> = h.tasks(every).await.unwrap().iter().map(|t| t.id).collect();
    assert_eq!(kept, vec![open_task]);
    // Workflow definitions are not history: they stay.
    assert_eq!(h.workflows().await.unwrap().len(), 1);
    // A stream from before what was removed is told to resync rather than given a gap.
    let (_stop, stopping) = tokio::sync::watch::channel(false);
    let mut old = tempi::feed::records::Follow::new(h.clone(), None, 1, stopping.clone());
    assert!(old.next().await.is_none());
    assert!(old.gap().unwrap().contains("resync"), "{:?}", old.gap());
    let head = h.metrics().await.unwrap().journal_seq;
    assert!(h.gap_after(head).await.is_none());
    // From 0 a stream asks for what is kept (as `tempi audit --follow` does): no resync.
    let mut fresh = tempi::feed::records::Follow::new(h.clone(), None, 0, stopping.clone());
    assert!(fresh.next().await.is_some());
    run.shutdown().await;

    // Without any snapshot, a full replay of what is left still never reuses an id.
    for path in snapshot_files(tmp.path()) {
        std::fs::remove_file(path).unwrap();
    }
    let run = start(clock.clone()).await.unwrap();
    let h = run.handle.clone();
    h.command(
        &tempi::types::identity::Who::root("bob"),
        None,
        decide(open_task, "approved"),
    )
    .await
    .unwrap();
    let (next, next_task) = start_with_task(&h, 5).await;
    assert_eq!((next, next_task), (ids[2] + 1, tasks[2] + 1));
    let seqs: Vec<u64> = h
        .audit(None, 0, 100_000)
        .await
        .unwrap()
        .iter()
        .map(|r| r.seq)
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "seqs only grow");
    run.shutdown().await;
}

/// A journal as an earlier tempi could have written it: one workflow definition and
/// one item started on it, waiting on a timer.
fn journal_with(dir: &std::path::Path, source: &str) {
    use tempi::types::event::{Event, Record, WaitOn};
    let at = chrono::Utc::now();
    let rec = |seq: u64, item: Option<u64>, event: Event| Record {
        seq,
        at,
        item,
        actor: "engine".into(),
        via: None,
        reason: None,
        event,
    };
    let records = vec![
        rec(
            1,
            None,
            Event::WorkflowLoaded {
                name: "old".into(),
                version: 1,
                source: source.into(),
            },
        ),
        rec(
            2,
            Some(1),
            Event::ItemStarted {
                item: 1,
                workflow: "old".into(),
                version: 1,
                input: json!({}),
                priority: 0,
                sla_due: None,
                since: None,
            },
        ),
        rec(
            3,
            Some(1),
            Event::StepWaiting {
                item: 1,
                step: "w".into(),
                attempt: 1,
                on: WaitOn::Timer {
                    until: at + chrono::Duration::hours(1),
                },
            },
        ),
    ];
    let mut journal = tempi::store::Journal::open(dir).unwrap();
    journal.append(&records).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_definition_accepted_once_replays_even_if_the_validator_got_stricter() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // `owner:` is not a key this tempi knows (as if a newer rule rejected it): validation
    // refuses the file, yet the recorded definition still builds its model.
    let source =
        "name: old\nversion: 1\nowner: ops\nsteps:\n  - id: w\n    kind: wait\n    duration: 1h\n";
    assert!(tempi::definition::parse_str("old.yaml", source).is_err());
    journal_with(&data, source);
    let run = runtime::start(EngineConfig::new(data.clone(), None))
        .await
        .unwrap();
    let items = run.handle.items(ItemFilter::default()).await.unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].status, ItemStatus::Waiting);
    assert_eq!(items[0].current, "w");
    let next = Command::Start {
        workflow: "old".into(),
        version: None,
        input: json!({}),
        priority: 0,
        since: None,
    };
    assert_eq!(
        run.handle
            .command(&tempi::types::identity::Who::root("op"), None, next)
            .await
            .unwrap()
            .item,
        Some(2)
    );
    run.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_definition_that_cannot_be_read_stops_the_start_and_names_the_item() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    journal_with(&data, "name: old\nversion: 1\nsteps: [unclosed\n");
    let err = runtime::start(EngineConfig::new(data.clone(), None))
        .await
        .err()
        .expect("a start that would lose item 1 is refused")
        .to_string();
    assert!(err.contains("item 1 (workflow old v1"), "{err}");
    assert!(err.contains("recorded at seq 1"), "{err}");
    assert!(err.contains("move the data dir aside"), "{err}");
    // Nothing was changed: the journal still holds exactly what it held.
    let records = tempi::store::read_records(&data, None, 0, 100).unwrap();
    assert_eq!(records.len(), 3);
}

/// An executor that loses, duplicates, delays and fails answers, from a seed.
struct Flaky {
    rng: std::sync::Mutex<rand::rngs::StdRng>,
    rt: tokio::runtime::Handle,
}

impl tempi::exec::Executor for Flaky {
    fn start(&self, job: tempi::exec::Job, answer: tempi::exec::Answer) {
        use rand::Rng;
        use tempi::types::event::{StepError, StepErrorKind};
        let (roll, delay) = {
            let mut rng = self.rng.lock().unwrap();
            (rng.random::<f64>(), rng.random_range(0..4u64))
        };
        let key = match &job {
            tempi::exec::Job::Http(h) => h.idempotency_key.clone(),
            _ => String::new(),
        };
        let ok = move || Ok(json!({ "key": key })).into();
        match roll {
            r if r < 0.15 => {} // lost: the attempt's timeout must catch it
            r if r < 0.30 => {
                answer(ok());
                answer(ok()); // duplicated: the second is stale
            }
            r if r < 0.45 => answer(Err(StepError::new(StepErrorKind::Connect, "flaky")).into()),
            _ => {
                self.rt.spawn(async move {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    answer(ok());
                });
            }
        }
    }
}

/// A journal that fails one append (the `fail_at`-th), as a full disk would.
struct FailOnce {
    inner: Box<dyn tempi::store::Store>,
    commits: std::sync::Arc<std::sync::atomic::AtomicU64>,
    fail_at: u64,
}

impl tempi::store::Store for FailOnce {
    fn head(&self) -> u64 {
        self.inner.head()
    }
    fn commit(
        &mut self,
        head: u64,
        records: &[tempi::types::Record],
        ended: &[tempi::types::view::EndedItem],
        tally: &tempi::types::tally::Tally,
    ) -> Result<(), tempi::store::StoreError> {
        use std::sync::atomic::Ordering;
        if self.commits.fetch_add(1, Ordering::SeqCst) + 1 == self.fail_at {
            return Err(tempi::store::StoreError::Other(
                "injected: disk full".into(),
            ));
        }
        self.inner.commit(head, records, ended, tally)
    }
    fn replay(
        &self,
        after: u64,
        f: &mut dyn FnMut(tempi::types::Record),
    ) -> Result<u64, tempi::store::StoreError> {
        self.inner.replay(after, f)
    }
    fn rollup_totals(
        &self,
    ) -> Result<
        std::collections::BTreeMap<String, tempi::types::tally::Counts>,
        tempi::store::StoreError,
    > {
        self.inner.rollup_totals()
    }
}

const HTTP_FLOW: &str = r#"name: f
version: 1
steps:
  - id: a
    kind: http
    request: { method: POST, url: "http://svc.invalid/a" }
    timeout: 5s
    retry: { attempts: 30, backoff: 1s, multiplier: 1, max_backoff: 1s }
  - id: b
    kind: http
    needs: [a]
    request: { method: POST, url: "http://svc.invalid/b" }
    timeout: 5s
    retry: { attempts: 30, backoff: 1s, multiplier: 1, max_backoff: 1s }
  - id: c
    kind: http
    needs: [b]
    request: { method: POST, url: "http://svc.invalid/c" }
    timeout: 5s
    retry: { attempts: 30, backoff: 1s, multiplier: 1, max_backoff: 1s }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_duplicated_and_late_answers_and_a_failed_append_lose_nothing_and_apply_nothing_twice()
{
    use rand::SeedableRng;
    use std::collections::{BTreeMap, BTreeSet};
    use tempi::engine::runtime::ManualClock;
    use tempi::types::event::{Event, Phase};

    let tmp = tempfile::tempdir().unwrap();
    let wf = tmp.path().join("wf");
    std::fs::create_dir_all(&wf).unwrap();
    std::fs::write(wf.join("f.yaml"), HTTP_FLOW).unwrap();
    let clock = std::sync::Arc::new(ManualClock::new(chrono::Utc::now()));
    let start = |seed: u64, fail_at: Option<u64>| {
        let mut config = EngineConfig::new(tmp.path().join("data"), Some(wf.clone()));
        config.clock = clock.clone();
        config.seed = Some(seed);
        config.executor = Some(std::sync::Arc::new(Flaky {
            rng: std::sync::Mutex::new(rand::rngs::StdRng::seed_from_u64(seed)),
            rt: tokio::runtime::Handle::current(),
        }));
        if let Some(fail_at) = fail_at {
            let commits = std::sync::Arc::default();
            config.wrap_store = Some(std::sync::Arc::new(move |inner| {
                Box::new(FailOnce {
                    inner,
                    commits: std::sync::Arc::clone(&commits),
                    fail_at,
                }) as Box<dyn tempi::store::Store>
            }));
        }
        runtime::start(config)
    };

    let mut run = start(7, Some(25)).await.unwrap();
    let mut acknowledged = BTreeSet::new();
    let mut restarts = 0;
    for n in 0..40u64 {
        let cmd = Command::Start {
            workflow: "f".into(),
            version: None,
            input: json!({ "n": n }),
            priority: 0,
            since: None,
        };
        if let Ok(reply) = run
            .handle
            .command(&tempi::types::identity::Who::root("op"), None, cmd)
            .await
        {
            acknowledged.insert(reply.item.unwrap());
        }
    }
    assert!(!acknowledged.is_empty());
    for round in 0..4000 {
        match run.handle.metrics().await {
            Ok(m) if m.in_flight == 0 => break,
            Ok(m) => assert_eq!(m.incidents, 0, "an item ran out of retries: {m:?}"),
            Err(e) => {
                // The failed append stopped the engine: start it again, as an operator would.
                assert!(matches!(e, CommandError::Unavailable(_)), "{e:?}");
                run.shutdown().await;
                restarts += 1;
                run = start(8 + round, None).await.unwrap();
                continue;
            }
        }
        clock.advance(chrono::Duration::seconds(1));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(restarts, 1, "the injected failure stopped the engine once");
    let m = run.handle.metrics().await.unwrap();
    assert_eq!(m.in_flight, 0, "{m:?}");
    let head = m.journal_seq;
    run.shutdown().await;

    let records =
        tempi::store::read_records(&tmp.path().join("data"), None, 0, usize::MAX).unwrap();
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(
        seqs,
        (1..=head).collect::<Vec<_>>(),
        "seqs are gap-free, each once"
    );
    let mut started = BTreeSet::new();
    let mut completed: BTreeMap<u64, usize> = BTreeMap::new();
    let mut succeeded: BTreeMap<(u64, String), usize> = BTreeMap::new();
    let mut ended = BTreeSet::new();
    for r in &records {
        if let Some(item) = r.item {
            assert!(
                !ended.contains(&item),
                "a record after item {item} ended: {r:?}"
            );
        }
        match &r.event {
            Event::ItemStarted { item, .. } => {
                started.insert(*item);
            }
            Event::StepSucceeded {
                item,
                step,
                phase: Phase::Run,
                ..
            } => *succeeded.entry((*item, step.clone())).or_default() += 1,
            Event::ItemCompleted { item } => {
                *completed.entry(*item).or_default() += 1;
                ended.insert(*item);
            }
            Event::ItemFailed { item, .. } | Event::ItemCancelled { item } => {
                panic!("item {item} did not complete: {r:?}")
            }
            _ => {}
        }
    }
    // The faults happened: lost answers timed out, failed ones were retried.
    let failed = |kind: &str| {
        records
            .iter()
            .filter(|r| matches!(&r.event, Event::StepFailed { error, .. } if error.kind.name() == kind))
            .count()
    };
    assert!(failed("timeout") > 0 && failed("connect") > 0);
    assert!(acknowledged.len() >= 10, "{acknowledged:?}");
    // Every acknowledged start is in the journal, and nothing else is.
    assert_eq!(started, acknowledged);
    for item in &acknowledged {
        assert_eq!(completed.get(item), Some(&1), "item {item} completed once");
        for step in ["a", "b", "c"] {
            assert_eq!(
                succeeded.get(&(*item, step.to_string())),
                Some(&1),
                "item {item} step {step} succeeded once"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_older_than_what_retention_removed_is_not_used() {
    use tempi::engine::runtime::ManualClock;
    let tmp = tempfile::tempdir().unwrap();
    let clock = std::sync::Arc::new(ManualClock::new(chrono::Utc::now()));
    let start = |clock| retention_engine(tmp.path(), clock, None);
    // A snapshot with the item in flight, kept aside.
    let run = start(clock.clone()).await.unwrap();
    let (item, _) = start_with_task(&run.handle, 1).await;
    run.shutdown().await;
    let old = snapshot_files(tmp.path())[0].clone();
    let kept = std::fs::read(&old).unwrap();

    // The item ends, and retention removes it.
    let run = start(clock.clone()).await.unwrap();
    let h = run.handle.clone();
    h.command(
        &tempi::types::identity::Who::root("op"),
        None,
        Command::Cancel { item },
    )
    .await
    .unwrap();
    until("a snapshot covering the end", || async {
        let head = h.metrics().await.unwrap().journal_seq;
        snapshot_files(tmp.path())
            .first()
            .is_some_and(|p| p.to_string_lossy().contains(&format!("{head:020}")))
    })
    .await;
    clock.advance(chrono::Duration::hours(2));
    until("retention", || async {
        h.items(ItemFilter::default()).await.unwrap().is_empty()
    })
    .await;
    run.shutdown().await;

    // Only the old snapshot is left: it must not bring the item back.
    for path in snapshot_files(tmp.path()) {
        std::fs::remove_file(path).unwrap();
    }
    std::fs::write(&old, kept).unwrap();
    let run = start(clock.clone()).await.unwrap();
    assert!(
        run.handle
            .items(ItemFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        run.handle
            .tasks(TaskFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    run.shutdown().await;
}

struct Panics;

impl tempi::exec::Executor for Panics {
    fn start(&self, _job: tempi::exec::Job, _answer: tempi::exec::Answer) {
        panic!("a broken executor");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_that_panics_hurts_only_its_attempt() {
    use tempi::engine::runtime::ManualClock;
    let tmp = tempfile::tempdir().unwrap();
    let wf = tmp.path().join("wf");
    std::fs::create_dir_all(&wf).unwrap();
    std::fs::write(
        wf.join("f.yaml"),
        HTTP_FLOW.replace("attempts: 30", "attempts: 1"),
    )
    .unwrap();
    let clock = std::sync::Arc::new(ManualClock::new(chrono::Utc::now()));
    let mut config = EngineConfig::new(tmp.path().join("data"), Some(wf));
    config.clock = clock.clone();
    config.executor = Some(std::sync::Arc::new(Panics));
    let run = runtime::start(config).await.unwrap();
    let cmd = Command::Start {
        workflow: "f".into(),
        version: None,
        input: json!({}),
        priority: 0,
        since: None,
    };
    let item = run
        .handle
        .command(&tempi::types::identity::Who::root("op"), None, cmd)
        .await
        .unwrap()
        .item
        .unwrap();
    clock.advance(chrono::Duration::seconds(6));
    until("the timeout to make an incident", || async {
        let d = run.handle.item(item).await.unwrap().unwrap();
        d.summary.status == ItemStatus::Incident
    })
    .await;
    // The engine goes on: another item starts.
    let cmd = Command::Start {
        workflow: "f".into(),
        version: None,
        input: json!({}),
        priority: 0,
        since: None,
    };
    assert!(
        run.handle
            .command(&tempi::types::identity::Who::root("op"), None, cmd)
            .await
            .is_ok()
    );
    run.shutdown().await;
}

#[path = "engine/disk.rs"]
mod disk;

#[path = "engine/report.rs"]
mod report;

const CALL: &str = r#"name: call
version: 1
steps:
  - id: prep
    kind: pass
    output: { n: 1 }
  - id: call
    kind: http
    needs: [prep]
    request:
      method: POST
      url: "{{ env.T_URL }}/down?q=1"
      json: { n: "{{ steps.prep.output.n }}" }
"#;

/// A service that is down for maintenance.
async fn down() -> String {
    use axum::http::StatusCode;
    let app = axum::Router::new().route(
        "/down",
        axum::routing::post(|| async { (StatusCode::SERVICE_UNAVAILABLE, "down for maintenance") }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

async fn call_engine(dir: &std::path::Path, url: &str) -> Running {
    let wf = dir.join("wf");
    std::fs::create_dir_all(&wf).unwrap();
    std::fs::write(wf.join("call.yaml"), CALL).unwrap();
    let mut config = EngineConfig::new(dir.join("data"), Some(wf));
    config.env.insert("T_URL".into(), url.into());
    runtime::start(config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_steps_exchange_is_journaled_and_read_back_after_restarts() {
    use tempi::types::Event;
    let url = down().await;
    let tmp = tempfile::tempdir().unwrap();
    let run = call_engine(tmp.path(), &url).await;
    let h = run.handle.clone();
    let start = Command::Start {
        workflow: "call".into(),
        version: None,
        input: json!({}),
        priority: 0,
        since: None,
    };
    let item = h
        .command(&tempi::types::identity::Who::root("alice"), None, start)
        .await
        .unwrap()
        .item
        .unwrap();
    until("the incident", || async {
        h.item(item).await.unwrap().unwrap().summary.status == ItemStatus::Incident
    })
    .await;
    let detail = h.item(item).await.unwrap().unwrap();
    assert_eq!(detail.steps[0].exchange, None, "a pass step makes no call");
    let x = detail.steps[1]
        .exchange
        .clone()
        .expect("the call's exchange");
    assert_eq!(x.request.url, format!("{url}/down?q=1"));
    let sent = x.request.body.as_ref().map(|b| b.excerpt.as_str());
    assert_eq!(sent, Some(r#"{"n":1}"#));
    let r = x.response.as_ref().expect("a response");
    assert_eq!(r.status, 503);
    let got = r.body.as_ref().map(|b| b.excerpt.as_str());
    assert_eq!(got, Some("down for maintenance"));
    let trail = h.audit(Some(item), 0, 100).await.unwrap();
    let journaled = trail.iter().find_map(|r| match &r.event {
        Event::StepFailed { exchange, .. } => exchange.as_deref().cloned(),
        _ => None,
    });
    assert_eq!(journaled.as_ref(), Some(&x));
    run.shutdown().await;

    // From the snapshot a clean stop leaves, then from the journal alone.
    let run = call_engine(tmp.path(), &url).await;
    assert_eq!(run.handle.item(item).await.unwrap(), Some(detail.clone()));
    run.shutdown().await;
    for path in snapshot_files(tmp.path()) {
        std::fs::remove_file(path).unwrap();
    }
    let run = call_engine(tmp.path(), &url).await;
    assert!(run.stats.lock().unwrap().replayed > 0);
    assert_eq!(run.handle.item(item).await.unwrap(), Some(detail));
    run.shutdown().await;
}
