//! Decisions in the console against a real engine: the option picker of a task with
//! more than approve/reject, the confirm a rejection gets, bulk decisions, and the form
//! dialog whose values the engine checks and keeps.

use crossterm::event::KeyCode;
use serde_json::json;

use super::fixture::{self, ch, key};
use super::keys::{Console, start, status, task, until};
use crate::console::app::{Effect, Mode, Pane, PickFor, ToastKind};
use crate::types::view::{ItemStatus, TaskFilter, TaskStatus};
use crate::types::{Command, ItemId};

/// A human step with three options, declared in an order that is not alphabetical.
pub(super) const CHOICES: &str = r#"name: choices
version: 1
steps:
  - id: triage
    kind: human
    title: "Triage case {{ input.n }}"
    details: "Supplier: Nordwind Logistics GmbH\nPO match: matched PO 4471"
    group: finance
    options: [approved, rejected, needs_info]
"#;

/// A human step with a form.
pub(super) const FORM: &str = r#"name: form
version: 1
steps:
  - id: approve
    kind: human
    title: "Approve invoice {{ input.n }}"
    group: finance
    form:
      - { name: cost_centre, type: string, required: true, label: Cost centre }
      - { name: amount, type: number, default: 10 }
      - { name: urgent, type: boolean }
"#;

/// A console with `n` items of `workflow` waiting on their tasks, the inbox focused.
async fn with(workflow: &str, n: usize) -> (Console, Vec<ItemId>) {
    let mut c = Console::new(fixture::options(), 0, 0).await;
    let items = start(&c.h, workflow, n).await;
    let h = c.h.clone();
    until("the tasks", || async {
        h.tasks(TaskFilter::default()).await.unwrap().len() == n
    })
    .await;
    c.sync_until("the tasks in the console", |app| app.model.tasks.len() == n)
        .await;
    c.focus(Pane::Inbox);
    (c, items)
}

fn picker_state(c: &Console) -> (Vec<String>, usize) {
    match &c.app.mode {
        Mode::Picker(p) if matches!(p.purpose, PickFor::Decide(_)) => (p.visible(), p.cursor),
        other => panic!("no decision picker: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_opens_the_options_in_declared_order_and_enter_decides() {
    let (mut c, items) = with("choices", 1).await;
    let id = c.selected_task();
    assert_eq!(
        c.press(ch('a')),
        vec![],
        "nothing is decided for the operator"
    );
    let opts = ["approved", "rejected", "needs_info"]
        .map(String::from)
        .to_vec();
    assert_eq!(picker_state(&c), (opts.clone(), 0));
    c.press(ch('j'));
    c.press(ch('j'));
    assert_eq!(picker_state(&c).1, 2, "j moves down");
    c.press(ch('j'));
    assert_eq!(picker_state(&c).1, 2, "the cursor stops at the last option");
    c.press(ch('k'));
    c.press(key(KeyCode::Down));
    assert_eq!(
        picker_state(&c),
        (opts, 2),
        "typing does not filter a decision"
    );
    let effects = c.press(key(KeyCode::Enter));
    assert_eq!(Console::acts(&effects), 1, "Enter decides, no prompt");
    c.run(effects).await;
    assert_eq!(
        c.last_toast(),
        (ToastKind::Ok, format!("task {id} needs_info"))
    );
    let t = task(&c.h, id).await;
    assert_eq!(t.decision.as_deref(), Some("needs_info"));
    let h = c.h.clone();
    until("the item to complete", || async {
        status(&h, items[0]).await == ItemStatus::Completed
    })
    .await;
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_from_the_picker_asks_yes_or_no_and_esc_changes_nothing() {
    let (mut c, _) = with("choices", 1).await;
    let id = c.selected_task();
    c.press(ch('a'));
    c.press(key(KeyCode::Esc));
    assert!(matches!(c.app.mode, Mode::Normal));
    assert_eq!(c.last_toast(), (ToastKind::Ok, "nothing changed".into()));
    c.press(ch('a'));
    c.press(key(KeyCode::Down));
    assert_eq!(c.press(key(KeyCode::Enter)), vec![]);
    match &c.app.mode {
        Mode::Confirm { question, .. } => {
            assert_eq!(question, &format!("Decide task {id}: rejected?"))
        }
        other => panic!("no confirm: {other:?}"),
    }
    let effects = c.press(ch('y'));
    c.run(effects).await;
    assert_eq!(task(&c.h, id).await.decision.as_deref(), Some("rejected"));
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_a_offers_the_options_every_marked_task_shares() {
    let (mut c, _) = with("choices", 2).await;
    c.press(key(KeyCode::Char(' ')));
    c.press(key(KeyCode::Char(' ')));
    c.press(ch('a'));
    let (opts, cursor) = picker_state(&c);
    assert_eq!((opts.len(), cursor), (3, 0));
    assert_eq!(
        c.press(key(KeyCode::Enter)),
        vec![],
        "several tasks confirm"
    );
    assert!(matches!(&c.app.mode, Mode::Confirm { actions, .. } if actions.len() == 2));
    let effects = c.press(ch('y'));
    c.run(effects).await;
    let decided: Vec<_> = super::keys::all_tasks(&c.h)
        .await
        .into_iter()
        .map(|t| (t.status, t.decision))
        .collect();
    assert_eq!(
        decided,
        vec![(TaskStatus::Decided, Some("approved".to_string())); 2]
    );
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_form_is_checked_before_sending_and_its_values_become_the_output() {
    let (mut c, items) = with("form", 1).await;
    let id = c.selected_task();
    assert_eq!(c.press(ch('a')), vec![]);
    assert!(matches!(c.app.mode, Mode::Form(_)), "{:?}", c.app.mode);
    assert_eq!(
        c.press(key(KeyCode::Enter)),
        vec![],
        "a required field is empty"
    );
    match &c.app.mode {
        Mode::Form(d) => {
            assert_eq!(d.error.as_deref(), Some("field 'cost_centre' is required"));
            assert_eq!(d.inputs[1].text, "10", "the default is filled in");
        }
        other => panic!("the form closed: {other:?}"),
    }
    c.typed("CC-7");
    c.press(key(KeyCode::Tab));
    c.press(key(KeyCode::Tab));
    c.press(key(KeyCode::Char(' ')));
    c.press(key(KeyCode::Tab));
    c.typed("ok by phone");
    let effects = c.press(key(KeyCode::Enter));
    match effects.as_slice() {
        [Effect::Act(p)] => assert!(matches!(
            &p[0].cmd,
            Command::Decide {
                fields: Some(_),
                ..
            }
        )),
        other => panic!("{other:?}"),
    }
    c.run(effects).await;
    assert_eq!(
        c.last_toast(),
        (ToastKind::Ok, format!("task {id} approved"))
    );
    let h = c.h.clone();
    until("the item to complete", || async {
        status(&h, items[0]).await == ItemStatus::Completed
    })
    .await;
    let d = c.h.item(items[0]).await.unwrap().unwrap();
    let out = d.steps[0].output.clone().unwrap();
    assert_eq!(
        out["fields"],
        json!({"cost_centre": "CC-7", "amount": 10, "urgent": true})
    );
    assert_eq!(out["comment"], "ok by phone");
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_refusal_of_a_bad_value_reaches_the_operator() {
    let (mut c, _) = with("form", 1).await;
    let id = c.selected_task();
    c.press(ch('a'));
    c.typed("CC-7");
    c.press(key(KeyCode::Tab));
    c.typed("x");
    assert_eq!(c.press(key(KeyCode::Enter)), vec![]);
    match &c.app.mode {
        Mode::Form(d) => assert_eq!(
            d.error.as_deref(),
            Some("field 'amount' must be a number, found \"10x\"")
        ),
        other => panic!("the form closed: {other:?}"),
    }
    // The engine refuses the same value the same way, and nothing changes.
    let bad = Command::Decide {
        task: id,
        decision: "approved".into(),
        comment: None,
        fields: json!({"cost_centre": "CC-7", "amount": "10x"})
            .as_object()
            .cloned(),
    };
    let r = c.source.act("alice", bad).await;
    let e = r.expect_err("the engine refuses");
    assert!(
        e.to_string().contains("field 'amount' must be a number"),
        "{e}"
    );
    assert_eq!(task(&c.h, id).await.status, TaskStatus::Open);
    c.stop().await;
}
