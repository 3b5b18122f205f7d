//! Poison workflows (tests/fixtures/poison): whatever a definition makes the engine do,
//! its item becomes an incident naming the limit, other items carry on, and the journal
//! replays without harm.

use std::path::Path;
use std::time::Instant;

use serde_json::json;

use super::super::{Core, Ctx};
use super::*;
use crate::definition::{parse_file, parse_recorded};

fn fixture(name: &str) -> Workflow {
    let path = format!("tests/fixtures/poison/{name}.yaml");
    match parse_file(Path::new(&path)) {
        Ok((w, _)) => w,
        Err(d) => panic!("{path}: {d:?}"),
    }
}

/// The incident's message of an item that must have become an incident.
fn incident(h: &H, item: ItemId) -> String {
    assert_eq!(h.status(item), ItemStatus::Incident, "item {item}");
    h.detail(item).unwrap().incident.unwrap().1.message
}

#[test]
fn a_template_that_loops_runs_out_of_fuel_and_only_its_item_stops() {
    let ok = workflow("ok", vec![http("x", &[])]);
    let mut h = H::new(vec![fixture("loops"), ok]);
    let began = Instant::now();
    let bad = h.start("loops", json!({}));
    assert!(
        began.elapsed().as_secs() < 5,
        "the render ran for {:?}",
        began.elapsed()
    );
    let message = incident(&h, bad);
    assert!(message.contains("fuel"), "{message}");
    let good = h.start("ok", json!({}));
    h.complete_on(good, "x", Ok(json!({})));
    assert_eq!(h.status(good), ItemStatus::Completed);
    h.replayed();
}

#[test]
fn a_template_that_grows_stops_at_the_output_limit() {
    let mut h = H::new(vec![fixture("grow")]);
    let bad = h.start("grow", json!({}));
    let message = incident(&h, bad);
    assert!(message.contains("exceeds 1024 KiB"), "{message}");
    let biggest = h
        .log
        .iter()
        .map(|r| serde_json::to_vec(r).unwrap().len())
        .max()
        .unwrap();
    assert!(biggest < 4096, "a record of {biggest} bytes was written");
    h.replayed();
}

#[test]
fn a_journaled_expression_past_the_limits_replays_and_its_items_become_incidents() {
    // An older tempi accepted this definition and journaled it; replaying it once
    // overflowed the stack, so the data dir could never start again.
    let source = std::fs::read_to_string("tests/fixtures/poison/deep-when.yaml").unwrap();
    let (wf, warnings) = parse_recorded(&source).expect("the model can still be built");
    assert!(warnings[0].message.contains("KiB"), "{warnings:?}");
    let mut core = Core::new(json!({}));
    let loaded = Record {
        seq: 1,
        at: t0(),
        item: None,
        actor: "engine".into(),
        via: None,
        reason: None,
        event: Event::WorkflowLoaded {
            name: wf.name.clone(),
            version: wf.version,
            source,
        },
    };
    core.replay(&loaded);
    let mut draw = || 0.5;
    let mut ctx = Ctx::new(t0(), &mut draw);
    let start = Command::Start {
        workflow: "deep-when".into(),
        version: None,
        input: json!({}),
        priority: 0,
        since: None,
    };
    let item = core
        .command(
            &mut ctx,
            &crate::types::identity::Who::root("op"),
            None,
            &start,
        )
        .unwrap()
        .item
        .unwrap();
    let detail = core.item(item).unwrap();
    let (_, error) = detail.incident.expect("an incident");
    assert!(
        error.message.contains("at most 16 KiB"),
        "{}",
        error.message
    );
    assert!(error.message.len() < 1024, "the message quotes 59 KiB");
}

#[test]
fn times_past_the_calendar_saturate_instead_of_overflowing() {
    let far = std::time::Duration::from_secs(u64::MAX / 4);
    let wf = workflow("far", vec![with(http("x", &[]), |s| s.timeout = Some(far))]);
    let mut h = H::new(vec![wf]);
    let item = h.start("far", json!({}));
    assert_eq!(h.status(item), ItemStatus::Running);
    h.advance(3600);
    assert_eq!(h.status(item), ItemStatus::Running);
    h.replayed();
    // The far timer still fits a snapshot.
    h.take_snapshot(false);
    h.restored();
}

#[test]
fn a_panic_while_deciding_stops_only_its_item() {
    let wf = workflow("w", vec![http("x", &[]), http("y", &["x"])]);
    let mut h = H::new(vec![wf]);
    let bad = h.start("w", json!({}));
    let good = h.start("w", json!({}));
    let (out, _) = h.turn(|c, ctx| c.contained(ctx, Some(bad), |_, _| -> u32 { panic!("boom") }));
    assert_eq!(out, None);
    let message = incident(&h, bad);
    assert!(message.contains("boom"), "{message}");
    let (_, error) = h.detail(bad).unwrap().incident.unwrap();
    assert_eq!(error.kind, StepErrorKind::Internal);
    h.complete_on(good, "x", Ok(json!({})));
    h.complete_on(good, "y", Ok(json!({})));
    assert_eq!(h.status(good), ItemStatus::Completed);
    h.replayed();
}

#[test]
fn an_output_too_large_to_journal_fails_its_step_without_retry() {
    let wf = workflow(
        "w",
        vec![with(http("x", &[]), |s| s.retry = retry(5, 1, 1.0))],
    );
    let mut h = H::new(vec![wf]);
    let item = h.start("w", json!({}));
    let huge = json!({ "blob": "x".repeat(3 << 20) });
    h.complete_on(item, "x", Ok(huge));
    let message = incident(&h, item);
    assert!(message.contains("larger than 2 MiB"), "{message}");
    assert!(
        h.log
            .iter()
            .all(|r| serde_json::to_vec(r).unwrap().len() < 4096)
    );
    h.replayed();
}

#[test]
fn values_nested_deeper_than_the_journal_reads_are_refused() {
    // `tempi start nest --input` with 125 levels of {"a": …}: each pass step wrapped the
    // value three levels deeper, a record past serde_json's 128 was journaled, and every
    // later `tempi serve` stopped with "record seq 12 is unreadable".
    let wrap = |from: &str| {
        let output = json!({ "x": { "y": { "z": format!("{{{{ {from} }}}}") } } });
        StepKind::Pass(crate::definition::PassSpec { output })
    };
    let steps = vec![
        step("a", wrap("input"), &[]),
        step("b", wrap("steps.a.output"), &["a"]),
    ];
    let mut h = H::new(vec![workflow("nest", steps)]);
    let nested = |n: usize| (0..n).fold(json!(1), |v, _| json!({ "a": v }));
    let start = |input| Command::Start {
        workflow: "nest".into(),
        version: None,
        input,
        priority: 0,
        since: None,
    };
    let e = h.cmd("op", start(nested(100))).unwrap_err().to_string();
    assert!(e.contains("the input nests more than 64 levels"), "{e}");
    let item = h.start("nest", nested(60));
    while let Some(d) = h.pending.pop() {
        let Work::Immediate(output) = d.work.clone() else {
            panic!("{} is not a pass step", d.step);
        };
        h.deliver(&d, Ok(output));
    }
    let message = incident(&h, item);
    assert!(
        message.contains("the output nests more than 64"),
        "{message}"
    );
    let a = &h.detail(item).unwrap().steps[0];
    assert_eq!(a.status, crate::types::view::StepStatus::Succeeded);
    for r in &h.log {
        let text = serde_json::to_string(r).unwrap();
        serde_json::from_str::<Record>(&text).expect("every record reads back");
    }
    h.replayed();
}
