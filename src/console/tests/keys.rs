//! Keys against a real embedded engine: the console is fed by the sync task as in
//! `tempi console`, its commands go to the engine, and the tests read the engine's own
//! state to see what a key press really did.

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde_json::json;
use tempfile::TempDir;
use tokio::sync::mpsc;

use super::fixture::{self, ch, ctrl, key};
use crate::console::app::{App, Effect, Mode, Msg, Options, Pane, ToastKind};
use crate::console::model::Update;
use crate::console::source::Source;
use crate::console::sync;
use crate::engine::EngineHandle;
use crate::engine::runtime::{self, EngineConfig, Running};
use crate::types::view::{ItemFilter, ItemStatus, TaskFilter, TaskStatus, TaskView};
use crate::types::{Command, Event, ItemId, TaskId};

/// A human approval for group finance, then a step that runs once it is decided.
const APPROVAL: &str = r#"name: approval
version: 1
steps:
  - id: approve
    kind: human
    title: "Approve payment {{ input.n }}"
    group: finance
  - id: book
    kind: pass
    needs: [approve]
    output: { decision: "{{ steps.approve.decision }}" }
"#;

/// A call nobody answers, without retries: the item becomes an incident.
const CALL_OUT: &str = r#"name: call-out
version: 1
steps:
  - id: call
    kind: http
    request: { method: POST, url: "http://127.0.0.1:9/x" }
    retry: { attempts: 1 }
    timeout: 2s
"#;

/// How long anything may take to show up.
const PATIENCE: Duration = Duration::from_secs(5);

/// An engine on a temporary data dir and a console synced to it.
pub(super) struct Console {
    pub(super) app: App,
    pub(super) h: EngineHandle,
    pub(super) source: Source,
    pub(super) updates: mpsc::UnboundedReceiver<Update>,
    pub(super) sync: Option<sync::Sync>,
    pub(super) engine: Running,
    pub(super) _dir: TempDir,
}

pub(super) async fn engine() -> (Running, TempDir) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let wf = dir.path().join("workflows");
    std::fs::create_dir_all(&wf).expect("the workflows dir");
    std::fs::write(wf.join("approval.yaml"), APPROVAL).expect("a workflow file");
    std::fs::write(wf.join("call-out.yaml"), CALL_OUT).expect("a workflow file");
    std::fs::write(wf.join("choices.yaml"), super::decide::CHOICES).expect("a workflow file");
    std::fs::write(wf.join("form.yaml"), super::decide::FORM).expect("a workflow file");
    let config = EngineConfig::new(dir.path().join("data"), Some(wf));
    let run = runtime::start(config).await.expect("the engine starts");
    (run, dir)
}

pub(super) async fn start(h: &EngineHandle, workflow: &str, n: usize) -> Vec<ItemId> {
    let mut ids = Vec::new();
    for k in 0..n {
        let cmd = Command::Start {
            workflow: workflow.into(),
            version: None,
            input: json!({ "n": k + 1 }),
            priority: 0,
            since: None,
        };
        let reply = h
            .command(&crate::types::identity::Who::root("alice"), None, cmd)
            .await
            .expect("the item starts");
        ids.push(reply.item.expect("a new item"));
    }
    ids
}

/// Poll `check` until it holds; panic after `PATIENCE`.
pub(super) async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub(super) async fn all_tasks(h: &EngineHandle) -> Vec<TaskView> {
    let filter = TaskFilter {
        all: true,
        ..TaskFilter::default()
    };
    h.tasks(filter).await.expect("the engine lists tasks")
}

pub(super) async fn task(h: &EngineHandle, id: TaskId) -> TaskView {
    all_tasks(h)
        .await
        .into_iter()
        .find(|t| t.id == id)
        .expect("the task exists")
}

pub(super) async fn status(h: &EngineHandle, item: ItemId) -> ItemStatus {
    let d = h.item(item).await.expect("the engine answers");
    d.expect("the item exists").summary.status
}

impl Console {
    /// Start `approvals` approval items and `calls` call-out items, wait until the
    /// engine has settled them (tasks open, incidents raised), then connect a console.
    pub(super) async fn new(opts: Options, approvals: usize, calls: usize) -> Console {
        let (engine, dir) = engine().await;
        let h = engine.handle.clone();
        start(&h, "approval", approvals).await;
        let incidents = start(&h, "call-out", calls).await;
        until("the approval tasks", || async {
            h.tasks(TaskFilter::default()).await.unwrap().len() == approvals
        })
        .await;
        for item in incidents {
            until("the incident", || async {
                status(&h, item).await == ItemStatus::Incident
            })
            .await;
        }
        let source = Source::Embedded(h.clone());
        let (tx, updates) = mpsc::unbounded_channel();
        let sync = sync::spawn(source.clone(), tx);
        let mut c = Console {
            app: fixture::empty_app(opts),
            h,
            source,
            updates,
            sync: Some(sync),
            engine,
            _dir: dir,
        };
        let want = approvals + calls;
        c.sync_until("the snapshot", |app| {
            app.model.items.len() == want && app.model.tasks.len() == approvals
        })
        .await;
        c
    }

    /// Feed updates from the sync task until `check` holds.
    pub(super) async fn sync_until(&mut self, what: &str, check: impl Fn(&App) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !check(&self.app) {
            match tokio::time::timeout_at(deadline, self.updates.recv()).await {
                Ok(Some(u)) => {
                    self.app.update(Msg::Update(u));
                }
                Ok(None) => panic!("the sync task ended while waiting for {what}"),
                Err(_) => panic!("timed out waiting for {what}"),
            }
        }
    }

    pub(super) fn press(&mut self, msg: Msg) -> Vec<Effect> {
        self.app.update(msg)
    }

    pub(super) fn typed(&mut self, text: &str) {
        for c in text.chars() {
            assert_eq!(self.press(ch(c)), vec![], "typing sends nothing");
        }
    }

    pub(super) fn focus(&mut self, pane: Pane) {
        while self.app.focus != pane {
            self.press(key(KeyCode::Tab));
        }
    }

    /// Run what the app asked for as the console's main loop does: each batch of
    /// commands as the operator, the results back into the app.
    pub(super) async fn run(&mut self, effects: Vec<Effect>) {
        for e in effects {
            if let Effect::Act(pending) = e {
                let mut results = Vec::new();
                for p in pending {
                    let r = self.source.act(&self.app.opts.me, p.cmd).await;
                    results.push((p.label, r));
                }
                self.app.update(Msg::Acted(results));
            }
        }
    }

    /// How many commands `effects` would send.
    pub(super) fn acts(effects: &[Effect]) -> usize {
        effects
            .iter()
            .map(|e| match e {
                Effect::Act(p) => p.len(),
                _ => 0,
            })
            .sum()
    }

    pub(super) fn last_toast(&self) -> (ToastKind, String) {
        let t = self.app.toasts.back().expect("a toast");
        (t.kind, t.text.clone())
    }

    pub(super) fn selected_task(&self) -> TaskId {
        let row = self.app.list(Pane::Inbox).cursor;
        self.app.task_at(row).expect("a selected task").id
    }

    /// A console whose one approval item has been approved and has completed; the
    /// task it was.
    pub(super) async fn with_one_ended_item() -> (Console, TaskView) {
        let c = Console::new(fixture::options(), 1, 0).await;
        let t = all_tasks(&c.h).await.remove(0);
        let decide = Command::Decide {
            task: t.id,
            decision: "approved".into(),
            comment: None,
            fields: None,
        };
        c.h.command(&crate::types::identity::Who::root("alice"), None, decide)
            .await
            .unwrap();
        until("completion", || async {
            status(&c.h, t.item).await == ItemStatus::Completed
        })
        .await;
        (c, t)
    }

    pub(super) async fn stop(mut self) {
        drop(self.sync.take());
        self.engine.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approve_decides_the_task_and_the_item_completes() {
    let mut c = Console::new(fixture::options(), 1, 0).await;
    c.focus(Pane::Inbox);
    let id = c.selected_task();
    let item = c.app.task_at(0).expect("the task").item;
    let effects = c.press(ch('a'));
    assert_eq!(
        Console::acts(&effects),
        1,
        "one approval, no question asked"
    );
    c.run(effects).await;
    assert_eq!(
        c.last_toast(),
        (ToastKind::Ok, format!("task {id} approved"))
    );
    let t = task(&c.h, id).await;
    assert_eq!(t.status, TaskStatus::Decided);
    assert_eq!(t.decision.as_deref(), Some("approved"));
    assert_eq!(t.decided_by.as_deref(), Some("alice"));
    let h = c.h.clone();
    until("the item to complete", || async {
        status(&h, item).await == ItemStatus::Completed
    })
    .await;
    c.sync_until("the inbox to empty and the item to complete", |app| {
        app.len(Pane::Inbox) == 0
            && app.model.items.get(&item).map(|i| i.status) == Some(ItemStatus::Completed)
    })
    .await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reject_asks_for_a_comment_and_sends_it() {
    let mut c = Console::new(fixture::options(), 1, 0).await;
    c.focus(Pane::Inbox);
    let id = c.selected_task();
    assert_eq!(c.press(ch('x')), vec![], "the prompt comes first");
    assert!(matches!(c.app.mode, Mode::Comment { .. }));
    c.typed("wrong PO number");
    let effects = c.press(key(KeyCode::Enter));
    assert_eq!(Console::acts(&effects), 1);
    c.run(effects).await;
    assert_eq!(
        c.last_toast(),
        (ToastKind::Ok, format!("task {id} rejected"))
    );
    let t = task(&c.h, id).await;
    assert_eq!(t.decision.as_deref(), Some("rejected"));
    assert_eq!(t.comment.as_deref(), Some("wrong PO number"));
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reassign_picks_a_person_typed_in() {
    let mut c = Console::new(fixture::options(), 1, 0).await;
    c.focus(Pane::Inbox);
    let id = c.selected_task();
    assert_eq!(c.press(ch('r')), vec![]);
    assert!(matches!(c.app.mode, Mode::Picker(_)));
    c.typed("@carol");
    let effects = c.press(key(KeyCode::Enter));
    assert_eq!(Console::acts(&effects), 1);
    c.run(effects).await;
    assert_eq!(c.last_toast().0, ToastKind::Ok, "{:?}", c.last_toast());
    let t = task(&c.h, id).await;
    assert_eq!(t.assignee.as_deref(), Some("carol"));
    assert_eq!(t.status, TaskStatus::Open);
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claim_takes_the_task() {
    let mut c = Console::new(fixture::options(), 1, 0).await;
    c.focus(Pane::Inbox);
    let id = c.selected_task();
    let effects = c.press(ch('c'));
    assert_eq!(Console::acts(&effects), 1);
    c.run(effects).await;
    assert_eq!(
        c.last_toast(),
        (ToastKind::Ok, format!("task {id} claimed by alice"))
    );
    let t = task(&c.h, id).await;
    assert_eq!(t.claimed_by.as_deref(), Some("alice"));
    assert_eq!(t.status, TaskStatus::Claimed);
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_on_an_incident_retries_the_step() {
    let mut c = Console::new(fixture::options(), 1, 1).await;
    c.focus(Pane::Items);
    while c
        .app
        .item_at(Pane::Items, c.app.list(Pane::Items).cursor)
        .map(|i| i.status)
        != Some(ItemStatus::Incident)
    {
        c.press(key(KeyCode::Down));
    }
    let item = c.app.cursor_item().expect("the incident item");
    let effects = c.press(ch('t'));
    assert_eq!(Console::acts(&effects), 1, "a single retry just goes");
    c.run(effects).await;
    assert_eq!(c.last_toast().0, ToastKind::Ok, "{:?}", c.last_toast());
    let audit =
        c.h.audit(Some(item), 0, 1000)
            .await
            .expect("the audit trail");
    assert!(
        audit.iter().any(
            |r| matches!(&r.event, Event::ItemRetried { step, .. } if step == "call")
                && r.actor == "alice"
        ),
        "the retry is in the journal, by alice"
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_retry_sends_only_to_incidents_and_logs_every_result() {
    let mut c = Console::new(fixture::options(), 2, 2).await;
    c.focus(Pane::Items);
    c.press(ctrl('a'));
    assert_eq!(c.app.list(Pane::Items).marks.len(), 4);
    c.press(ctrl('a'));
    assert!(
        c.app.list(Pane::Items).marks.is_empty(),
        "ctrl-a again unmarks"
    );
    c.press(ctrl('a'));
    assert_eq!(c.press(ch('t')), vec![], "bulk asks first");
    let (question, actions) = match &c.app.mode {
        Mode::Confirm { question, actions } => (question.clone(), actions.clone()),
        other => panic!("expected a confirm dialog, got {other:?}"),
    };
    assert_eq!(actions.len(), 2, "only the incidents: {question}");
    assert!(
        question.contains("2 of the 4 marked cannot be retried (2 waiting)"),
        "{question}"
    );
    let effects = c.press(ch('y'));
    assert_eq!(Console::acts(&effects), 2);
    c.run(effects).await;
    assert_eq!(
        c.last_toast(),
        (
            ToastKind::Ok,
            "2 of 2 done; :messages lists them".to_string()
        )
    );
    let retried: Vec<&str> = c
        .app
        .messages
        .iter()
        .filter(|m| m.text.contains("retried"))
        .map(|m| m.text.as_str())
        .collect();
    assert_eq!(retried.len(), 2, "each result is in the log: {retried:?}");
    c.typed(":messages");
    c.press(key(KeyCode::Enter));
    assert!(matches!(c.app.mode, Mode::Messages { .. }));
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_of_incidents_is_retried_at_once_after_a_confirm() {
    let mut c = Console::new(fixture::options(), 1, 3).await;
    c.press(ch('I'));
    assert_eq!(c.app.groups.len(), 1, "one cause: {:?}", c.app.groups);
    assert_eq!(c.app.groups[0].items.len(), 3);
    assert_eq!(c.press(ch('t')), vec![]);
    let Mode::Confirm { question, actions } = &c.app.mode else {
        panic!("expected a confirm, got {:?}", c.app.mode);
    };
    assert!(
        question.starts_with("Retry 3 incidents of call-out at step call ("),
        "{question}"
    );
    assert_eq!(actions.len(), 3);
    let effects = c.press(ch('y'));
    c.run(effects).await;
    assert_eq!(c.last_toast().0, ToastKind::Ok, "{:?}", c.last_toast());
    let items: Vec<ItemId> = c.app.groups[0].items.clone();
    for item in items {
        let audit =
            c.h.audit(Some(item), 0, 1000)
                .await
                .expect("the audit trail");
        assert!(
            audit
                .iter()
                .any(|r| matches!(&r.event, Event::ItemRetried { .. })),
            "item {item} was retried"
        );
    }
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_cancel_of_only_ended_items_sends_nothing_and_says_why() {
    let (mut c, _) = Console::with_one_ended_item().await;
    let h = c.h.clone();
    let more = start(&h, "approval", 1).await;
    c.sync_until("the second item", |app| app.model.items.len() == 2)
        .await;
    let decide = Command::Decide {
        task: all_tasks(&h)
            .await
            .iter()
            .find(|t| t.item == more[0])
            .unwrap()
            .id,
        decision: "approved".into(),
        comment: None,
        fields: None,
    };
    h.command(&crate::types::identity::Who::root("alice"), None, decide)
        .await
        .unwrap();
    c.sync_until("both to complete", |app| {
        app.model
            .items
            .values()
            .all(|i| i.status == ItemStatus::Completed)
    })
    .await;
    c.focus(Pane::Items);
    c.press(ctrl('a'));
    assert_eq!(c.press(ctrl('k')), vec![]);
    assert!(matches!(c.app.mode, Mode::Normal), "no dialog for nothing");
    assert_eq!(
        c.last_toast(),
        (
            ToastKind::Error,
            "none of the 2 marked items can be cancelled: 2 completed".to_string()
        )
    );
    c.stop().await;
}

/// Three tasks marked with space, then `a`: the console asks before acting on them all.
async fn bulk_approve(answer: char) -> (Console, Vec<TaskId>) {
    let mut c = Console::new(fixture::options(), 3, 0).await;
    c.focus(Pane::Inbox);
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(c.selected_task());
        assert_eq!(c.press(ch(' ')), vec![]);
    }
    assert_eq!(c.app.list(Pane::Inbox).marks.len(), 3);
    assert_eq!(
        c.press(ch('a')),
        vec![],
        "nothing is sent before the answer"
    );
    match &c.app.mode {
        Mode::Confirm { actions, .. } => assert_eq!(actions.len(), 3),
        other => panic!("expected a confirm dialog, got {other:?}"),
    }
    let effects = c.press(ch(answer));
    c.run(effects).await;
    (c, ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_approve_confirmed_decides_all_marked() {
    let (c, ids) = bulk_approve('y').await;
    assert_eq!(c.last_toast().0, ToastKind::Ok, "{:?}", c.last_toast());
    assert!(c.app.list(Pane::Inbox).marks.is_empty(), "marks are spent");
    for id in ids {
        let t = task(&c.h, id).await;
        assert_eq!(t.decision.as_deref(), Some("approved"), "task {id}");
        assert_eq!(t.decided_by.as_deref(), Some("alice"), "task {id}");
    }
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_approve_declined_changes_nothing() {
    let (c, ids) = bulk_approve('n').await;
    assert!(matches!(c.app.mode, Mode::Normal));
    assert_eq!(
        c.last_toast(),
        (ToastKind::Ok, "nothing changed".to_string())
    );
    for id in ids {
        let t = task(&c.h, id).await;
        assert_eq!(t.status, TaskStatus::Open, "task {id}");
        assert_eq!(t.decision, None, "task {id}");
    }
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_asks_first() {
    let mut c = Console::new(fixture::options(), 1, 0).await;
    c.focus(Pane::Items);
    let item = c.app.cursor_item().expect("the item");
    assert_eq!(c.press(ctrl('k')), vec![]);
    assert!(matches!(c.app.mode, Mode::Confirm { .. }));
    assert_eq!(c.press(ch('n')), vec![]);
    assert_eq!(
        status(&c.h, item).await,
        ItemStatus::Waiting,
        "still running"
    );

    assert_eq!(c.press(ctrl('k')), vec![]);
    let effects = c.press(ch('y'));
    assert_eq!(Console::acts(&effects), 1);
    c.run(effects).await;
    assert_eq!(
        c.last_toast(),
        (ToastKind::Ok, format!("item {item} cancelled"))
    );
    assert_eq!(status(&c.h, item).await, ItemStatus::Cancelled);
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_row_is_refused_and_says_why() {
    let mut c = Console::new(fixture::options(), 1, 0).await;
    c.focus(Pane::Inbox);
    let id = c.selected_task();
    let decide = Command::Decide {
        task: id,
        decision: "rejected".into(),
        comment: None,
        fields: None,
    };
    c.h.command(&crate::types::identity::Who::root("bob"), None, decide)
        .await
        .expect("bob decides first");
    // The console has not heard of it yet: the row still offers the task.
    assert_eq!(c.selected_task(), id);
    let effects = c.press(ch('a'));
    assert_eq!(Console::acts(&effects), 1);
    c.run(effects).await;
    let (kind, text) = c.last_toast();
    assert_eq!(kind, ToastKind::Error);
    assert!(
        text.starts_with(&format!("task {id}:")) && text.contains("bob"),
        "the toast names the task and who won: {text}"
    );
    let t = task(&c.h, id).await;
    assert_eq!(t.decision.as_deref(), Some("rejected"));
    assert_eq!(t.decided_by.as_deref(), Some("bob"));
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_refuses_every_action_without_sending() {
    let opts = Options {
        read_only: true,
        ..fixture::options()
    };
    let mut c = Console::new(opts, 1, 1).await;
    let before_tasks = all_tasks(&c.h).await;
    let before_items = c.h.items(ItemFilter::default()).await.unwrap();
    c.focus(Pane::Inbox);
    let mut presses = vec![
        (Pane::Inbox, ch('a'), 'a'),
        (Pane::Inbox, ch('x'), 'x'),
        (Pane::Inbox, ch('c'), 'c'),
    ];
    presses.extend([
        (Pane::Items, ctrl('k'), 'k'),
        (Pane::Items, ch('t'), 't'),
        (Pane::Items, ch('s'), 's'),
    ]);
    for (pane, press, k) in presses {
        c.focus(pane);
        c.app.toasts.clear();
        let effects = c.press(press);
        assert_eq!(effects, vec![], "'{k}' sends nothing");
        assert!(matches!(c.app.mode, Mode::Normal), "'{k}' opens no dialog");
        let (kind, text) = c.last_toast();
        assert_eq!(kind, ToastKind::Error, "'{k}'");
        assert!(text.starts_with("read-only:"), "'{k}': {text}");
    }
    assert_eq!(all_tasks(&c.h).await, before_tasks);
    assert_eq!(
        c.h.items(ItemFilter::default()).await.unwrap(),
        before_items
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item_command_opens_an_ended_item_the_mirror_no_longer_holds() {
    let (mut c, t) = Console::with_one_ended_item().await;
    // As when it has fallen out of the mirror's window of ended items.
    c.app.model.items.remove(&t.item);
    c.press(ch(':'));
    c.typed(&format!("item {}", t.item));
    let effects = c.press(key(KeyCode::Enter));
    let line = format!("item {}", t.item);
    assert_eq!(
        effects,
        vec![Effect::History(line), Effect::Detail(Some(t.item))]
    );
    let control = &c.sync.as_ref().unwrap().control;
    control.send(sync::Control::Detail(Some(t.item))).unwrap();
    c.sync_until("the detail", |app| {
        app.detail.as_ref().is_some_and(|d| d.data.is_some())
    })
    .await;
    let detail = c.app.detail.as_ref().unwrap().data.as_ref().unwrap();
    assert_eq!(detail.0.summary.status, ItemStatus::Completed);
    assert!(!detail.1.is_empty(), "its audit trail comes with it");
    c.press(ch(':'));
    c.typed("item x");
    c.press(key(KeyCode::Enter));
    assert_eq!(c.last_toast().0, ToastKind::Error);
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_finds_ended_items_the_mirror_no_longer_holds() {
    let (mut c, t) = Console::with_one_ended_item().await;
    c.sync_until("the ended item", |app| {
        app.model
            .items
            .get(&t.item)
            .is_some_and(|i| i.status.is_final())
    })
    .await;
    c.app.model.items.remove(&t.item);
    for filter in ["status:completed".to_string(), format!("id:{}", t.item)] {
        c.press(ch(':'));
        c.typed(&format!("filter {filter}"));
        let effects = c.press(key(KeyCode::Enter));
        let [Effect::History(_), Effect::Find(query)] = effects.as_slice() else {
            panic!("{filter}: {effects:?}");
        };
        let control = &c.sync.as_ref().unwrap().control;
        control.send(sync::Control::Find(query.clone())).unwrap();
        c.sync_until("the found item", |app| {
            app.model.items.contains_key(&t.item)
        })
        .await;
        c.app.model.items.remove(&t.item);
    }
    // A filter the mirror answers alone asks nothing of the engine.
    c.press(ch(':'));
    c.typed("filter wf:approval");
    assert_eq!(
        c.press(key(KeyCode::Enter)),
        vec![Effect::History("filter wf:approval".into())]
    );
    c.stop().await;
}

// Command mode: history, completion, `:item N`, `:task N`, and quitting the demo.

impl Console {
    /// Type `line` at the `:` prompt and press Enter.
    fn command(&mut self, line: &str) -> Vec<Effect> {
        assert_eq!(self.press(ch(':')), vec![]);
        self.typed(line);
        self.press(key(KeyCode::Enter))
    }

    fn prompt(&self) -> String {
        match &self.app.mode {
            Mode::Command(input) => input.text.clone(),
            other => panic!("expected the : prompt, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_history_walks_back_with_up_and_down() {
    let mut c = Console::new(fixture::options(), 2, 0).await;
    // What the shell loads from the history file at start.
    c.app.cmdline.load(vec!["theme light".into()]);
    let item = *c.app.model.items.keys().next().expect("an item");
    let task = c.app.model.tasks[0].id;
    let effects = c.command(&format!("item {item}"));
    assert!(
        effects.contains(&Effect::History(format!("item {item}"))),
        "kept: {effects:?}"
    );
    assert!(effects.contains(&Effect::Detail(Some(item))), "{effects:?}");
    let effects = c.command(&format!("task {task}"));
    assert!(effects.contains(&Effect::History(format!("task {task}"))));
    let again = c.command(&format!("task {task}"));
    assert!(
        !again.iter().any(|e| matches!(e, Effect::History(_))),
        "the same line twice is kept once: {again:?}"
    );

    c.press(ch(':'));
    c.press(key(KeyCode::Up));
    assert_eq!(c.prompt(), format!("task {task}"));
    c.press(key(KeyCode::Up));
    assert_eq!(c.prompt(), format!("item {item}"));
    c.press(key(KeyCode::Up));
    assert_eq!(c.prompt(), "theme light", "what the file held comes before");
    c.press(key(KeyCode::Down));
    c.press(key(KeyCode::Down));
    assert_eq!(c.prompt(), format!("task {task}"));
    c.press(key(KeyCode::Down));
    assert_eq!(c.prompt(), "", "past the newest: the empty line typed");
    c.typed("th");
    c.press(key(KeyCode::Up));
    assert_eq!(c.prompt(), "theme light", "Up searches by what is typed");
    c.press(key(KeyCode::Esc));
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tab_completes_commands_workflows_and_ids_then_runs() {
    let mut c = Console::new(fixture::options(), 1, 0).await;
    c.until_workflows().await;
    c.press(ch(':'));
    c.typed("st");
    c.press(key(KeyCode::Tab));
    assert_eq!(c.prompt(), "start ", "one verb: completed with a space");
    c.typed("app");
    c.press(key(KeyCode::Tab));
    assert_eq!(c.prompt(), "start approval ", "a workflow name");
    c.typed(r#"{"n": 9}"#);
    let effects = c.press(key(KeyCode::Enter));
    assert_eq!(Console::acts(&effects), 1, "{effects:?}");
    c.run(effects).await;
    until("the started item", || async {
        all_tasks(&c.h)
            .await
            .iter()
            .any(|t| t.title == "Approve payment 9")
    })
    .await;

    // Two verbs share "it": their common prefix, then Tab cycles them.
    c.press(ch(':'));
    c.typed("it");
    c.press(key(KeyCode::Tab));
    assert_eq!(c.prompt(), "item");
    let shown = c.app.cmdline.completion.clone().expect("candidates shown");
    assert_eq!(shown.candidates, ["item", "items"]);
    c.press(key(KeyCode::Tab));
    assert_eq!(c.prompt(), "item");
    c.press(key(KeyCode::Tab));
    assert_eq!(c.prompt(), "items");
    c.press(key(KeyCode::BackTab));
    assert_eq!(c.prompt(), "item");
    c.typed(" ");
    assert!(c.app.cmdline.completion.is_none(), "typing ends the cycle");
    let item = *c.app.model.items.keys().next().expect("an item");
    c.typed(&item.to_string());
    c.press(key(KeyCode::Tab));
    assert_eq!(c.prompt(), format!("item {item} "), "an item id");
    let effects = c.press(key(KeyCode::Enter));
    assert!(effects.contains(&Effect::Detail(Some(item))), "{effects:?}");

    c.press(ch(':'));
    c.typed("zzz");
    c.press(key(KeyCode::Tab));
    assert_eq!(c.prompt(), "zzz", "nothing to complete: unchanged");
    let none = c.app.cmdline.completion.clone().expect("says so");
    assert!(none.candidates.is_empty());
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_command_puts_the_inbox_cursor_on_it_for_the_approver() {
    let mut opts = fixture::options();
    opts.groups = vec![];
    let mut c = Console::new(opts, 3, 0).await;
    c.app.scope = crate::console::app::Scope::Mine;
    c.command("filter approve payment 1");
    let last = c.app.model.tasks.iter().map(|t| t.id).max().expect("tasks");
    let effects = c.command(&format!("task {last}"));
    assert!(
        effects.iter().all(|e| !matches!(e, Effect::Act(_))),
        "{effects:?}"
    );
    assert_eq!(c.app.focus, Pane::Inbox);
    assert_eq!(
        c.app.scope,
        crate::console::app::Scope::All,
        "widened to show it"
    );
    assert!(c.app.filter.is_empty(), "the filter hid it");
    assert_eq!(c.selected_task(), last, "the cursor is on the task");
    let effects = c.press(ch('a'));
    c.run(effects).await;
    let t = task(&c.h, last).await;
    assert_eq!(
        t.decision.as_deref(),
        Some("approved"),
        "a acts on task {last}"
    );
    let others = all_tasks(&c.h).await;
    assert_eq!(
        others.iter().filter(|t| t.decision.is_none()).count(),
        2,
        "and on no other"
    );

    c.command("task 999");
    let (kind, text) = c.last_toast();
    assert_eq!(kind, ToastKind::Error);
    assert!(text.contains("task 999 is not open"), "{text}");
    c.command("task seven");
    assert!(
        c.last_toast().1.contains(":task needs a task id"),
        "{:?}",
        c.last_toast()
    );
    c.command("item #x");
    assert!(
        c.last_toast().1.contains(":item needs an item id"),
        "{:?}",
        c.last_toast()
    );
    c.stop().await;
}

impl Console {
    async fn until_workflows(&mut self) {
        self.sync_until("the workflow names", |app| {
            app.model.workflows.iter().any(|w| w == "approval")
        })
        .await;
    }
}

#[test]
fn q_in_the_demo_asks_first_and_a_console_quits_at_once() {
    let mut demo = fixture::app();
    assert!(demo.opts.rate.is_some(), "the fixture is a demo");
    assert_eq!(demo.update(ch('q')), vec![]);
    assert!(matches!(demo.mode, Mode::QuitDemo), "{:?}", demo.mode);
    assert!(!demo.quit);
    assert_eq!(
        demo.update(ch('x')),
        vec![],
        "other keys wait for an answer"
    );
    assert!(matches!(demo.mode, Mode::QuitDemo));
    assert_eq!(demo.update(ch('n')), vec![]);
    assert!(matches!(demo.mode, Mode::Normal) && !demo.quit);
    demo.update(ch('q'));
    assert_eq!(demo.update(key(KeyCode::Esc)), vec![]);
    assert!(!demo.quit, "Esc stays");
    demo.update(ch('q'));
    assert_eq!(demo.update(ch('y')), vec![Effect::Quit]);
    assert!(demo.quit);
    let mut twice = fixture::app();
    twice.update(ch('q'));
    assert_eq!(twice.update(ch('q')), vec![Effect::Quit], "q q quits");

    let mut opts = fixture::options();
    opts.rate = None;
    let mut console = fixture::app_with(opts);
    assert_eq!(console.update(ch('q')), vec![Effect::Quit]);
    assert!(console.quit);
}

#[test]
fn sort_completes_the_focused_panes_columns() {
    let mut app = fixture::app();
    app.update(ch(':'));
    for c in "sort pri".chars() {
        app.update(ch(c));
    }
    app.update(key(KeyCode::Tab));
    let Mode::Command(input) = &app.mode else {
        panic!("expected the prompt, got {:?}", app.mode);
    };
    assert_eq!(input.text, "sort priority ");
}

/// Esc and the key typed after it can arrive in one read (tmux's escape-time, a slow
/// SSH link), which reads as alt-key; unbound, it is Esc and then the key, so `:` after
/// Esc opens the command line instead of vanishing (and what follows running as keys).
#[test]
fn an_unbound_alt_key_is_esc_then_the_key() {
    let alt = |c| Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::ALT));
    let mut app = fixture::app();
    app.update(ch('/'));
    app.update(ch('x'));
    app.update(alt(':'));
    let Mode::Command(input) = &app.mode else {
        panic!("expected the prompt, got {:?}", app.mode);
    };
    assert_eq!(
        input.text, "",
        "Esc closed the filter, then : opened the prompt"
    );
    assert_eq!(
        app.filter.text, "",
        "the filter typed was cancelled by the Esc"
    );
    app.update(alt('j'));
    assert!(matches!(app.mode, Mode::Normal), "{:?}", app.mode);
    assert_eq!(app.list(app.focus).cursor, 1, "then j moved down");
}

/// On a live list a row arrives between the two presses; the second still unmarks.
#[test]
fn ctrl_a_again_unmarks_although_a_row_arrived_in_between() {
    let mut app = fixture::app();
    app.focus = Pane::Items;
    app.update(ctrl('a'));
    let marked = app.list(Pane::Items).marks.len();
    assert!(marked > 1);
    let mut new = fixture::items()[0].clone();
    new.id = 9_999;
    app.update(Msg::Update(Update::Changes(std::sync::Arc::new(
        crate::types::changes::Changes {
            items: vec![new],
            metrics: fixture::metrics(),
            ..Default::default()
        },
    ))));
    assert_eq!(
        app.len(Pane::Items),
        marked + 1,
        "the new row is in the list"
    );
    app.update(ctrl('a'));
    assert!(
        app.list(Pane::Items).marks.is_empty(),
        "ctrl-a again unmarks"
    );
}
