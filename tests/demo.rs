//! `tempi demo` in-process: the shipped workflows against the simulated estate, seeding,
//! live rate changes, and transient faults that end in an incident.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use tempi::demo::{self, Demo, DemoOptions, EstateOptions};
use tempi::engine::{EngineHandle, ItemId};
use tempi::types::command::Command;
use tempi::types::view::{ItemFilter, ItemStatus, ItemSummary, TaskFilter};

/// Items in the seeded past: 10 invoices, 5 incidents, 2 onboardings.
const SEEDED: usize = 17;

fn options(data: PathBuf, estate: EstateOptions) -> DemoOptions {
    DemoOptions {
        data_dir: data,
        workflows_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("workflows"),
        rate_per_min: 0.0,
        seed: 42,
        estate,
    }
}

async fn start(data: PathBuf, estate: EstateOptions) -> Demo {
    demo::start(options(data, estate)).await.unwrap()
}

async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..320 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn start_item(h: &EngineHandle, workflow: &str, input: serde_json::Value) -> ItemId {
    let cmd = Command::Start {
        workflow: workflow.into(),
        version: None,
        input,
        priority: 1,
        since: None,
    };
    h.command(&tempi::types::identity::Who::root("tester"), None, cmd)
        .await
        .unwrap()
        .item
        .unwrap()
}

async fn status(h: &EngineHandle, item: ItemId) -> ItemStatus {
    h.item(item).await.unwrap().unwrap().summary.status
}

/// Approve whatever task of `item` is open (an agent review, then the approval).
async fn approve_open_tasks(h: &EngineHandle, item: ItemId) {
    for task in h.tasks(TaskFilter::default()).await.unwrap() {
        if task.item == item {
            let decide = Command::Decide {
                task: task.id,
                decision: "approved".into(),
                comment: Some("looks right".into()),
                fields: None,
            };
            // A task decided in between is fine; the loop looks again.
            let _ = h
                .command(&tempi::types::identity::Who::root("tester"), None, decide)
                .await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoice_and_onboarding_run_end_to_end() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = start(tmp.path().join("data"), EstateOptions::instant()).await;
    let h = demo.running.handle.clone();
    let invoice = start_item(
        &h,
        "invoice-approval",
        json!({ "doc": "inbox/manual-1.pdf", "supplier": "Acme Office Supplies" }),
    )
    .await;
    let customer = start_item(
        &h,
        "customer-onboarding",
        json!({ "company": "Copperleaf Health", "email": "it@copperleaf.example", "plan": "team" }),
    )
    .await;
    until("both items to complete", || async {
        approve_open_tasks(&h, invoice).await;
        status(&h, invoice).await == ItemStatus::Completed
            && status(&h, customer).await == ItemStatus::Completed
    })
    .await;

    let inv = h.item(invoice).await.unwrap().unwrap();
    let output = |id: &str| {
        inv.steps
            .iter()
            .find(|s| s.id == id)
            .and_then(|s| s.output.clone())
            .unwrap()
    };
    assert!(output("extract")["amount"].as_f64().unwrap() > 0.0);
    assert!(output("pay")["id"].as_str().unwrap().starts_with("pay_"));
    assert_eq!(output("pay")["reference"], output("extract")["number"]);
    // The shipped workflows name their items: the invoice by the number OCR read.
    assert_eq!(
        Some(json!(inv.summary.key)),
        Some(output("extract")["number"].clone())
    );
    assert_eq!(inv.summary.title.as_deref(), Some("Acme Office Supplies"));

    let cus = h.item(customer).await.unwrap().unwrap();
    let provision = cus.steps.iter().find(|s| s.id == "provision").unwrap();
    let ws = provision.output.as_ref().unwrap();
    assert!(ws["workspace_id"].as_str().unwrap().starts_with("ws_"));
    assert_eq!(ws["region"], "eu-west", "the workflow's default region");
    assert_eq!(cus.summary.key.as_deref(), Some("it@copperleaf.example"));
    assert_eq!(
        cus.summary.title.as_deref(),
        Some("Copperleaf Health (team)")
    );
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_demo_is_seeded_with_items_waiting_on_humans_and_a_restart_is_not() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let demo = start(data.clone(), EstateOptions::instant()).await;
    let h = demo.running.handle.clone();
    let names: Vec<String> = h
        .workflows()
        .await
        .unwrap()
        .into_iter()
        .map(|w| w.name)
        .collect();
    assert_eq!(
        names,
        [
            "customer-onboarding",
            "incident-response",
            "invoice-approval"
        ],
        "bench-pass is not loaded"
    );
    let items = h.items(ItemFilter::default()).await.unwrap();
    assert_eq!(items.len(), SEEDED);
    assert_eq!(demo.load.started(), SEEDED as u64);
    until("the legacy-billing alert to become an incident", || async {
        h.items(ItemFilter::default())
            .await
            .unwrap()
            .iter()
            .any(|i| i.status == tempi::types::view::ItemStatus::Incident)
    })
    .await;
    let tasks = h.tasks(TaskFilter::default()).await.unwrap();
    assert!(
        tasks.len() >= 10,
        "each seeded invoice waits on a human: {} open tasks",
        tasks.len()
    );
    assert!(tasks.iter().all(|t| t.workflow == "invoice-approval"));
    let env = demo.estate().env();
    assert_eq!(env["BANK_URL"], format!("{}/bank", demo.estate_url));
    demo.shutdown().await;

    let demo = start(data, EstateOptions::instant()).await;
    let items = demo
        .running
        .handle
        .items(ItemFilter::default())
        .await
        .unwrap();
    assert_eq!(items.len(), SEEDED, "a restart does not seed again");
    demo.shutdown().await;
}

/// Share of its SLA an item has used at `now`.
fn used(i: &ItemSummary, now: DateTime<Utc>) -> f64 {
    let due = i.sla_due.unwrap();
    (now - i.started_at).num_milliseconds() as f64 / (due - i.started_at).num_milliseconds() as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seeded_past_is_under_pressure_and_approving_saves_a_critical_invoice() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = start(tmp.path().join("data"), EstateOptions::instant()).await;
    let h = demo.running.handle.clone();
    until("at-risk and breached items", || async {
        let m = h.metrics().await.unwrap();
        m.at_risk >= 4 && m.breached >= 3
    })
    .await;
    let now = Utc::now();
    let items = h.items(ItemFilter::default()).await.unwrap();
    let invoices: Vec<&ItemSummary> = items
        .iter()
        .filter(|i| i.workflow == "invoice-approval")
        .collect();
    let due = |i: &ItemSummary| i.sla_due.unwrap() - i.started_at;
    assert!(
        invoices
            .iter()
            .all(|i| due(i) == chrono::Duration::minutes(8)),
        "invoice-approval's 4 h SLA at demo scale"
    );
    let share = |lo: f64, hi: f64| {
        invoices
            .iter()
            .filter(|i| (lo..hi).contains(&used(i, now)))
            .count()
    };
    assert!(share(0.0, 0.5) >= 2, "some comfortably ahead");
    assert!(share(0.5, 0.9) >= 2, "some at risk");
    assert!(share(0.9, 1.0) >= 1, "some critical");
    assert!(share(1.0, 10.0) >= 2, "some breached");
    assert!(
        items.iter().filter(|i| i.sla_breached).count() >= 3,
        "the engine itself recorded the breaches"
    );

    // The critical invoice with the least time left that a person can still save.
    let critical = invoices
        .iter()
        .filter(|i| i.sla_due.unwrap() - now > chrono::Duration::seconds(12))
        .max_by(|a, b| used(a, now).total_cmp(&used(b, now)))
        .map(|i| i.id)
        .unwrap();
    let before = h.item(critical).await.unwrap().unwrap().summary;
    assert!(used(&before, now) >= 0.75, "{before:?}");
    until("the critical invoice to complete", || async {
        approve_open_tasks(&h, critical).await;
        status(&h, critical).await == ItemStatus::Completed
    })
    .await;
    let after = h.item(critical).await.unwrap().unwrap().summary;
    assert!(
        after.ended_at.unwrap() <= after.sla_due.unwrap() && !after.sla_breached,
        "approving it saved it: {after:?}"
    );
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_changes_take_effect_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = start(tmp.path().join("data"), EstateOptions::instant()).await;
    let seeded = demo.load.started();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(demo.load.started(), seeded, "rate 0 starts nothing");

    demo.load.set_rate(6000.0);
    assert_eq!(demo.load.rate(), 6000.0);
    until("the generator to start items", || async {
        demo.load.started() >= seeded + 20
    })
    .await;

    demo.load.set_rate(0.0);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let paused = demo.load.started();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(demo.load.started(), paused, "rate 0 pauses");
    let items = demo
        .running
        .handle
        .items(ItemFilter::default())
        .await
        .unwrap();
    assert_eq!(items.len() as u64, paused);
    demo.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_errors_are_retried_then_raise_an_incident() {
    let tmp = tempfile::tempdir().unwrap();
    let failing = EstateOptions {
        error_rate: 1.0,
        ..EstateOptions::instant()
    };
    let demo = start(tmp.path().join("data"), failing).await;
    let h = demo.running.handle.clone();
    let item = start_item(
        &h,
        "incident-response",
        json!({ "service": "checkout", "alert": "5xx spike", "severity": "sev2" }),
    )
    .await;
    // health and recent_deploys: 3 attempts each, 1 s then 2 s apart.
    until("the incident", || async {
        status(&h, item).await == ItemStatus::Incident
    })
    .await;
    let detail = h.item(item).await.unwrap().unwrap();
    let (step, error) = detail.incident.unwrap();
    assert!(
        ["health", "recent_deploys"].contains(&step.as_str()),
        "{step}"
    );
    assert_eq!(error.kind.name(), "status");
    let failed = detail.steps.iter().find(|s| s.id == step).unwrap();
    assert_eq!(failed.attempts, 3);
    assert!(demo.estate().stats().errors >= 3);
    demo.shutdown().await;
}
