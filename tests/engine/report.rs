//! `tempi report`'s figures on a manual clock: known cycle times, SLA outcomes, a
//! breach, an incident, a cancellation; then retention removes the items and the
//! figures stay, and a restart keeps the totals.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use tempi::engine::EngineHandle;
use tempi::engine::runtime::{self, EngineConfig, ManualClock, Running};
use tempi::types::command::{Command, CommandError};
use tempi::types::report::{Figures, Report};
use tempi::types::view::{ItemFilter, TaskFilter};

use super::{decide, until};

const REVIEW: &str = r#"name: review
version: 1
sla: { due: 10m }
steps:
  - id: h
    kind: human
    title: "Review"
    group: ops
"#;

const FAILING: &str = r#"name: broken
version: 1
steps:
  - id: s
    kind: shell
    run: ["sh", "-c", "exit 3"]
    retry: { attempts: 1 }
"#;

async fn start(dir: &std::path::Path, clock: Arc<ManualClock>) -> Running {
    let wf = dir.join("wf");
    std::fs::create_dir_all(&wf).unwrap();
    std::fs::write(wf.join("review.yaml"), REVIEW).unwrap();
    std::fs::write(wf.join("broken.yaml"), FAILING).unwrap();
    let mut config = EngineConfig::new(dir.join("data"), Some(wf));
    config.clock = clock;
    config.snapshot_every = 5;
    config.snapshot_interval = Duration::from_millis(50);
    config.retention = Some(Duration::from_secs(3600));
    config.retention_check = Duration::from_millis(20);
    runtime::start(config).await.unwrap()
}

async fn open(h: &EngineHandle, workflow: &str) -> u64 {
    let cmd = Command::Start {
        workflow: workflow.into(),
        version: None,
        input: json!({}),
        priority: 0,
        since: None,
    };
    h.command(&tempi::types::identity::Who::root("ann"), None, cmd)
        .await
        .unwrap()
        .item
        .unwrap()
}

async fn task_of(h: &EngineHandle, item: u64) -> u64 {
    until("the task", || async {
        h.tasks(TaskFilter::default())
            .await
            .unwrap()
            .iter()
            .any(|t| t.item == item)
    })
    .await;
    let tasks = h.tasks(TaskFilter::default()).await.unwrap();
    tasks.iter().find(|t| t.item == item).unwrap().id
}

fn figures<'a>(r: &'a Report, workflow: &str) -> &'a Figures {
    &r.workflows
        .iter()
        .find(|w| w.workflow == workflow)
        .unwrap_or_else(|| panic!("{workflow} missing in {r:?}"))
        .figures
}

fn within(v: Option<f64>, lo: f64, hi: f64, what: &str) {
    let v = v.unwrap_or_else(|| panic!("{what} is null"));
    assert!((lo..=hi).contains(&v), "{what} = {v}, expected {lo}..={hi}");
}

/// The figures the scenario must give, whatever the window that covers it.
fn check(r: &Report) {
    let review = figures(r, "review");
    assert_eq!(
        (
            review.started,
            review.completed,
            review.failed,
            review.cancelled
        ),
        (4, 3, 0, 1)
    );
    assert_eq!(review.error_rate, Some(0.0));
    assert_eq!(review.incidents, 0);
    // Cycle times 120 s, 300 s and 900 s: p50 in the bucket of 300 s, p95 in 900 s's.
    within(review.cycle_time_p50_s, 250.0, 300.0, "review p50");
    within(review.cycle_time_p95_s, 800.0, 900.0, "review p95");
    // Two of three by their 10 minutes; the cancelled one is left out.
    within(review.sla_met_pct, 66.66, 66.67, "review sla_met_pct");
    assert_eq!(review.breached, 1);
    assert_eq!(review.human_tasks, 3);
    within(review.human_wait_p50_s, 250.0, 300.0, "review wait p50");

    let broken = figures(r, "broken");
    assert_eq!((broken.started, broken.failed, broken.incidents), (1, 1, 1));
    assert_eq!(broken.error_rate, Some(1.0));
    assert_eq!(broken.sla_met_pct, None, "no SLA, no figure");
    assert_eq!(broken.cycle_time_p50_s, None);

    let t = &r.total;
    assert_eq!(
        (t.started, t.completed, t.failed, t.cancelled),
        (5, 3, 1, 1)
    );
    assert_eq!(t.error_rate, Some(0.2));
    assert_eq!((t.incidents, t.breached, t.human_tasks), (1, 1, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_counts_a_known_scenario_and_keeps_it_past_retention_and_restarts() {
    let tmp = tempfile::tempdir().unwrap();
    let t0 = Utc::now();
    let clock = Arc::new(ManualClock::new(t0));
    let run = start(tmp.path(), clock.clone()).await;
    let h = run.handle.clone();

    let a = open(&h, "review").await;
    let b = open(&h, "review").await;
    let c = open(&h, "review").await;
    let d = open(&h, "review").await;
    let (ta, tb, tc) = (
        task_of(&h, a).await,
        task_of(&h, b).await,
        task_of(&h, c).await,
    );
    task_of(&h, d).await;
    let f = open(&h, "broken").await;
    until("the incident", || async {
        h.metrics().await.unwrap().incidents == 1
    })
    .await;
    h.command(
        &tempi::types::identity::Who::root("ann"),
        None,
        Command::Compensate { item: f },
    )
    .await
    .unwrap();

    clock.advance(chrono::Duration::minutes(2));
    h.command(
        &tempi::types::identity::Who::root("ann"),
        None,
        decide(ta, "approved"),
    )
    .await
    .unwrap();
    clock.advance(chrono::Duration::minutes(3));
    h.command(
        &tempi::types::identity::Who::root("ann"),
        None,
        decide(tb, "approved"),
    )
    .await
    .unwrap();
    h.command(
        &tempi::types::identity::Who::root("ann"),
        None,
        Command::Cancel { item: d },
    )
    .await
    .unwrap();
    // Past c's deadline: it breaches in flight, then completes late.
    clock.advance(chrono::Duration::minutes(6));
    until("the breach", || async {
        h.metrics().await.unwrap().breached == 1
    })
    .await;
    clock.advance(chrono::Duration::minutes(4));
    h.command(
        &tempi::types::identity::Who::root("ann"),
        None,
        decide(tc, "approved"),
    )
    .await
    .unwrap();
    let in_flight = ItemFilter {
        active: true,
        ..Default::default()
    };
    until("every item ended", || async {
        h.items(in_flight.clone()).await.unwrap().is_empty()
    })
    .await;

    let from_start = Some(t0 - chrono::Duration::minutes(1));
    let r = h.report(from_start).await.unwrap();
    check(&r);
    assert!(r.since.unwrap() <= t0, "the window starts at its bucket");
    // The default window is the retention's hour: the same items.
    check(&h.report(None).await.unwrap());
    // The header's figure is the same SLA met.
    let pct = h.metrics().await.unwrap().sla_met_pct.unwrap();
    assert!((pct - 200.0 / 3.0).abs() < 1e-6, "{pct}");
    // A window that starts after everything (the last item ended at 15 min): nothing in
    // it, the workflows still listed. One that starts after now is refused.
    clock.advance(chrono::Duration::minutes(5));
    let later = h
        .report(Some(t0 + chrono::Duration::minutes(17)))
        .await
        .unwrap();
    assert_eq!(later.total, Figures::default());
    assert_eq!(later.workflows.len(), 2);
    let future = h.report(Some(t0 + chrono::Duration::hours(1))).await;
    assert!(
        matches!(&future, Err(CommandError::Invalid(m)) if m.contains("after now")),
        "{future:?}"
    );

    // Retention removes the ended items; their figures stay in the rollups.
    clock.advance(chrono::Duration::hours(2));
    until("retention", || async {
        h.items(ItemFilter {
            active: false,
            ..Default::default()
        })
        .await
        .unwrap()
        .is_empty()
    })
    .await;
    check(&h.report(from_start).await.unwrap());
    assert_eq!(
        h.report(None).await.unwrap().total,
        Figures::default(),
        "the last hour saw nothing"
    );
    run.shutdown().await;

    // After a restart (from a snapshot and the journal after it) the totals are the same.
    let run = start(tmp.path(), clock.clone()).await;
    let h = run.handle.clone();
    check(&h.report(from_start).await.unwrap());
    let pct = h.metrics().await.unwrap().sla_met_pct.unwrap();
    assert!((pct - 200.0 / 3.0).abs() < 1e-6, "{pct}");
    let counted = h.counted().await.unwrap();
    assert_eq!(counted.totals.workflows["review"].completed, 3);
    assert_eq!(counted.totals.workflows["broken"].incidents, 1);
    run.shutdown().await;
}
