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
            "alice",
            None,
            Command::Start {
                workflow: "t".into(),
                version: None,
                input: json!({ "n": 7 }),
                priority: 2,
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
    };
    h.command("bob", Some("checked".into()), decide.clone())
        .await
        .unwrap();
    let again = h.command("carol", None, decide).await.unwrap_err();
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
