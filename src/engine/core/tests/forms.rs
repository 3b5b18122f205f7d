//! Decisions with forms: a human step's typed fields checked by the engine, and an
//! agent review that accepts or corrects the proposal it was given.

use super::*;
use crate::types::form::{FieldType, FormField};
use serde_json::Map;

fn field(name: &str, kind: FieldType) -> FormField {
    FormField::new(name, kind)
}

fn form_workflow() -> Workflow {
    workflow(
        "f",
        vec![
            human("approve", &[], |h| {
                h.form = vec![
                    FormField {
                        required: true,
                        ..field("cost_centre", FieldType::String)
                    },
                    field("amount", FieldType::Number),
                    FormField {
                        default: Some(json!("normal")),
                        options: vec!["normal".into(), "urgent".into()],
                        ..field("priority", FieldType::Enum)
                    },
                ];
            }),
            http("after", &["approve"]),
        ],
    )
}

fn decide(task: u64, decision: &str, fields: Value) -> Command {
    Command::Decide {
        task,
        decision: decision.into(),
        comment: None,
        fields: fields.as_object().cloned(),
    }
}

/// Every refusal changes nothing: no record, the task still open.
fn refused(h: &mut H, task: u64, fields: Value) -> String {
    let before = h.log.len();
    let e = h.cmd("ann", decide(task, "approved", fields)).unwrap_err();
    assert!(matches!(e, CommandError::Invalid(_)), "{e:?}");
    assert_eq!(h.log.len(), before, "a refused decision wrote records");
    assert_eq!(h.core.tasks(&TaskFilter::default()).len(), 1);
    e.to_string()
}

#[test]
fn a_form_is_shown_checked_and_becomes_the_output() {
    let mut h = H::new(vec![form_workflow()]);
    let item = h.start("f", json!({}));
    let tv = h.core.tasks(&TaskFilter::default());
    let task = tv[0].id;
    let names: Vec<&str> = tv[0].form.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["cost_centre", "amount", "priority"]);

    let e = refused(&mut h, task, json!({}));
    assert_eq!(e, format!("task {task}: field 'cost_centre' is required"));
    let e = refused(
        &mut h,
        task,
        json!({"cost_centre": "CC1", "amount": "lots"}),
    );
    assert!(e.contains("field 'amount' must be a number"), "{e}");
    let e = refused(&mut h, task, json!({"cost_centre": "CC1", "colour": "red"}));
    assert!(e.contains("unknown field 'colour'"), "{e}");
    let e = refused(
        &mut h,
        task,
        json!({"cost_centre": "CC1", "priority": "now"}),
    );
    assert!(e.contains("one of normal, urgent"), "{e}");
    let e = refused(&mut h, task, json!({"cost_centre": "x".repeat(1001)}));
    assert!(e.contains("limit of 1000 characters"), "{e}");
    let many: Map<String, Value> = (0..17).map(|i| (format!("f{i}"), json!(1))).collect();
    let e = refused(&mut h, task, Value::Object(many));
    assert!(e.contains("at most 16"), "{e}");

    h.cmd(
        "ann",
        decide(
            task,
            "approved",
            json!({"cost_centre": "CC1", "amount": "120.5"}),
        ),
    )
    .unwrap();
    let out = h.detail(item).unwrap().steps[0].output.clone().unwrap();
    assert_eq!(out["decision"], "approved");
    assert_eq!(
        out["fields"],
        json!({"cost_centre": "CC1", "amount": 120.5, "priority": "normal"})
    );
    assert_eq!(h.pending_steps(), ["after"]);
    let audit = h
        .log
        .iter()
        .find(|r| matches!(r.event, Event::TaskDecided { .. }))
        .map(|r| r.event.detail());
    assert_eq!(
        audit.as_deref(),
        Some("task 1 approved (cost_centre=CC1, amount=120.5, priority=normal)"),
        "the audit trail says what was filled in"
    );
    h.replayed();
}

#[test]
fn a_task_without_a_form_refuses_fields() {
    let wf = workflow("plain", vec![human("approve", &[], |_| {})]);
    let mut h = H::new(vec![wf]);
    h.start("plain", json!({}));
    let task = h.core.tasks(&TaskFilter::default())[0].id;
    let e = refused(&mut h, task, json!({"a": 1}));
    assert!(e.contains("has no form"), "{e}");
    h.cmd("ann", decide(task, "approved", json!({}))).unwrap();
}

fn review_workflow() -> Workflow {
    let review = ReviewSpec {
        title: None,
        group: Some("reviewers".into()),
        assignee: None,
        due: None,
        escalate: Vec::new(),
    };
    workflow("ag", vec![agent("risk", &[], 0.85, review)])
}

fn reviewed(fields: Value, decision: &str) -> Value {
    let mut h = H::new(vec![review_workflow()]);
    let item = h.start("ag", json!({}));
    let proposal = json!({"decision": "medium_risk", "confidence": 0.6, "reason": "amount is high", "score": 3});
    h.complete("risk", Ok(proposal));
    let tv = h.core.tasks(&TaskFilter::default());
    let form: Vec<(&str, Option<&Value>)> = tv[0]
        .form
        .iter()
        .map(|f| (f.name.as_str(), f.default.as_ref()))
        .collect();
    assert_eq!(
        form,
        [
            ("decision", Some(&json!("medium_risk"))),
            ("reason", Some(&json!("amount is high"))),
            ("score", Some(&json!(3)))
        ]
    );
    h.cmd("rita", decide(tv[0].id, decision, fields)).unwrap();
    h.replayed();
    h.detail(item).unwrap().steps[0].output.clone().unwrap()
}

#[test]
fn an_accepted_review_keeps_the_agents_proposal() {
    let out = reviewed(json!({}), "approved");
    assert_eq!(out["decision"], "medium_risk");
    assert_eq!(out["reason"], "amount is high");
    assert_eq!(out["review"], "approved");
    assert_eq!(out["corrected"], json!([]));
    assert_eq!(out["by"], "rita");
}

#[test]
fn a_corrected_review_becomes_the_steps_output() {
    // The unchanged reason is not a correction; the console sends text for numbers.
    let out = reviewed(
        json!({"decision": "high_risk", "reason": "amount is high", "score": "5"}),
        "approved",
    );
    assert_eq!(out["decision"], "high_risk");
    assert_eq!(out["agent_decision"], "medium_risk");
    assert_eq!(out["score"], 5);
    assert_eq!(out["corrected"], json!(["decision", "score"]));
    let rejected = reviewed(json!({}), "rejected");
    assert_eq!(rejected["decision"], "rejected");
    assert_eq!(rejected["agent_decision"], "medium_risk");
}

#[test]
fn a_review_refuses_a_correction_of_the_wrong_type() {
    let mut h = H::new(vec![review_workflow()]);
    h.start("ag", json!({}));
    h.complete(
        "risk",
        Ok(json!({"decision": "low", "confidence": 0.2, "score": 3})),
    );
    let task = h.core.tasks(&TaskFilter::default())[0].id;
    let e = refused(&mut h, task, json!({"score": "three"}));
    assert!(e.contains("field 'score' must be a whole number"), "{e}");
    let e = refused(&mut h, task, json!({"confidence": 1}));
    assert!(e.contains("unknown field 'confidence'"), "{e}");
}

#[test]
fn an_old_decision_without_fields_still_replays() {
    let old = json!({"type": "task_decided", "task": 3, "decision": "approved", "by": "ann"});
    let e: Event = serde_json::from_value(old).unwrap();
    assert!(matches!(e, Event::TaskDecided { fields: None, .. }));
    let cmd: Command =
        serde_json::from_value(json!({"command": "decide", "task": 3, "decision": "approved"}))
            .unwrap();
    assert!(matches!(cmd, Command::Decide { fields: None, .. }));
}
