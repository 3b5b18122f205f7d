use super::*;
use crate::types::command::MAX_SINCE_DAYS;
use crate::types::event::{TaskKind, WaitOn};
use crate::types::view::{StepStatus, TaskStatus};

fn ok() -> Result<Value, StepError> {
    Ok(json!({ "ok": true }))
}

fn is_started(e: &Event, s: &str, p: Phase) -> bool {
    matches!(e, Event::StepStarted { step, phase, .. } if step == s && *phase == p)
}

fn step_status(h: &H, item: ItemId, s: &str) -> StepStatus {
    let d = h.detail(item).unwrap();
    d.steps.iter().find(|v| v.id == s).unwrap().status
}

#[test]
fn dag_runs_in_dependency_order_with_stable_keys() {
    let wf = workflow(
        "dag",
        vec![
            with(http("a", &[]), |s| s.retry = retry(2, 1, 2.0)),
            http("b", &["a"]),
            http("c", &["a"]),
            http("d", &["b", "c"]),
        ],
    );
    let mut h = H::new(vec![wf]);
    let item = h.start("dag", json!({}));
    assert_eq!(h.pending_steps(), ["a"]);
    let a1 = h.take(None, "a", Phase::Run);
    let recs = h.deliver(&a1, Err(err(StepErrorKind::Connect)));
    assert!(
        recs.iter()
            .any(|r| matches!(&r.event, Event::StepScheduled { attempt: 2, .. }))
    );
    assert!(h.pending.is_empty());
    h.advance(1);
    assert_eq!(h.pending_steps(), ["a"]);
    let a2 = h.pending[0].clone();
    assert_eq!(a2.attempt, 2);
    assert_eq!(key(&a1), key(&a2), "a retry keeps its idempotency key");
    h.complete("a", ok());
    assert_eq!(h.pending_steps(), ["b", "c"]);
    assert_ne!(key(&h.pending[0]), key(&a1));
    assert_ne!(key(&h.pending[0]), key(&h.pending[1]));
    h.complete("b", ok());
    assert_eq!(h.pending_steps(), ["c"], "d waits for c");
    assert_eq!(h.status(item), ItemStatus::Running);
    h.complete("c", ok());
    assert_eq!(h.pending_steps(), ["d"]);
    let recs = h.complete("d", ok());
    assert!(matches!(
        recs.last().unwrap().event,
        Event::ItemCompleted { .. }
    ));
    assert_eq!(h.status(item), ItemStatus::Completed);
    assert_eq!(h.core.metrics(h.now).completed, 1);
    h.replayed();
}

#[test]
fn retries_back_off_then_incident_then_operator_retry() {
    let wf = workflow(
        "r",
        vec![
            with(http("x", &[]), |s| s.retry = retry(3, 2, 2.0)),
            http("y", &["x"]),
            http("z", &[]),
        ],
    );
    let mut h = H::new(vec![wf]);
    let item = h.start("r", json!({}));
    h.complete("z", ok());
    let start = h.now;
    h.fail("x", err(StepErrorKind::Connect));
    assert!(
        h.events()
            .any(|e| matches!(e, Event::StepScheduled { attempt: 2, at, .. }
        if *at == start + chrono::Duration::seconds(2)))
    );
    assert_eq!(h.status(item), ItemStatus::Running);
    h.advance(1);
    assert!(h.pending.is_empty(), "attempt 2 not before its time");
    h.advance(1);
    assert_eq!(h.pending.len(), 1);
    assert_eq!(h.pending[0].attempt, 2);
    let t2 = h.now;
    h.fail("x", err(StepErrorKind::Connect));
    assert!(
        h.events()
            .any(|e| matches!(e, Event::StepScheduled { attempt: 3, at, .. }
        if *at == t2 + chrono::Duration::seconds(4)))
    );
    h.advance(3);
    assert!(h.pending.is_empty());
    h.advance(1);
    assert_eq!(h.pending[0].attempt, 3);
    let recs = h.fail("x", err(StepErrorKind::Connect));
    assert!(matches!(
        recs.last().unwrap().event,
        Event::IncidentRaised { .. }
    ));
    assert!(
        !recs
            .iter()
            .any(|r| matches!(r.event, Event::StepScheduled { .. }))
    );
    assert_eq!(h.status(item), ItemStatus::Incident);
    let detail = h.detail(item).unwrap();
    assert_eq!(detail.incident.as_ref().unwrap().0, "x");
    assert_eq!(h.core.metrics(h.now).incidents, 1);
    h.replayed();

    let r = h.cmd("op", Command::Retry { item, from: None }).unwrap();
    assert_eq!(r.item, Some(item));
    assert_eq!(h.pending.len(), 1);
    assert_eq!(h.pending[0].attempt, 4);
    assert_eq!(h.log.last().unwrap().actor, "engine");
    assert!(
        h.log
            .iter()
            .any(|r| r.actor == "op" && matches!(r.event, Event::ItemRetried { .. }))
    );
    h.complete("x", ok());
    assert_eq!(h.pending_steps(), ["y"]);
    // y fails (1 attempt) -> incident; retry from x re-runs x and y, not z.
    h.fail("y", err(StepErrorKind::Status));
    assert_eq!(h.status(item), ItemStatus::Incident);
    let before_x = h.count(|e| is_started(e, "x", Phase::Run));
    h.cmd(
        "op",
        Command::Retry {
            item,
            from: Some("x".into()),
        },
    )
    .unwrap();
    assert_eq!(h.pending_steps(), ["x"]);
    assert_eq!(step_status(&h, item, "y"), StepStatus::Pending);
    assert_eq!(h.count(|e| is_started(e, "x", Phase::Run)), before_x + 1);
    h.complete("x", ok());
    assert_eq!(h.pending_steps(), ["y"]);
    h.complete("y", ok());
    assert_eq!(h.status(item), ItemStatus::Completed);
    assert_eq!(h.count(|e| is_started(e, "z", Phase::Run)), 1);
    // Retry on a completed item is a conflict.
    assert!(matches!(
        h.cmd("op", Command::Retry { item, from: None }),
        Err(CommandError::Conflict(_))
    ));
    h.replayed();
}

#[test]
fn non_retryable_and_template_errors_go_straight_to_incident() {
    let nr = |codes: &[&str]| {
        let mut p = retry(5, 1, 1.0);
        p.non_retryable = codes.iter().map(|s| s.to_string()).collect();
        p
    };
    let wf1 = workflow(
        "code",
        vec![with(http("x", &[]), |s| s.retry = nr(&["status:404"]))],
    );
    let wf2 = workflow(
        "kind",
        vec![with(http("x", &[]), |s| s.retry = nr(&["status"]))],
    );
    let wf3 = workflow(
        "tpl",
        vec![with(
            step("x", http_kind("http://svc/{{ input.missing.deeper }}"), &[]),
            |s| s.retry = retry(5, 1, 1.0),
        )],
    );
    let mut h = H::new(vec![wf1, wf2, wf3]);

    // A 500 is retried, a 404 is not.
    let a = h.start("code", json!({}));
    let recs = h.fail("x", err(StepErrorKind::Status).with_code("500"));
    assert!(
        recs.iter()
            .any(|r| matches!(r.event, Event::StepScheduled { attempt: 2, .. }))
    );
    h.advance(1);
    let recs = h.fail("x", err(StepErrorKind::Status).with_code("404"));
    assert!(
        !recs
            .iter()
            .any(|r| matches!(r.event, Event::StepScheduled { .. }))
    );
    assert!(matches!(
        recs.last().unwrap().event,
        Event::IncidentRaised { .. }
    ));
    assert_eq!(h.status(a), ItemStatus::Incident);

    let b = h.start("kind", json!({}));
    let recs = h.complete_on(b, "x", Err(err(StepErrorKind::Status).with_code("503")));
    assert!(matches!(
        recs.last().unwrap().event,
        Event::IncidentRaised { .. }
    ));
    assert_eq!(h.status(b), ItemStatus::Incident);

    let c = h.start("tpl", json!({}));
    assert!(h.pending.iter().all(|d| d.item != c), "nothing to dispatch");
    assert_eq!(h.status(c), ItemStatus::Incident);
    let incident = h.detail(c).unwrap().incident.unwrap();
    assert_eq!(incident.1.kind, StepErrorKind::Template);
    h.advance(60);
    assert_eq!(
        h.count(|e| matches!(e, Event::StepStarted { item, .. } if *item == c)),
        1,
        "a template error is never retried"
    );
    h.replayed();
}

#[test]
fn when_false_skips_and_skips_propagate() {
    let wf = workflow(
        "w",
        vec![
            with(http("a", &[]), |s| s.when = Some("input.go".into())),
            http("b", &["a"]),
            with(http("c", &["a"]), |s| s.when = Some("true".into())),
            with(http("d", &["a"]), |s| s.when = Some("input.go".into())),
        ],
    );
    let mut h = H::new(vec![wf]);
    let item = h.start("w", json!({ "go": false }));
    let reasons: Vec<(String, String)> = h
        .events()
        .filter_map(|e| match e {
            Event::StepSkipped { step, reason, .. } => Some((step.clone(), reason.clone())),
            _ => None,
        })
        .collect();
    let skipped: Vec<&str> = reasons.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(skipped, ["a", "b", "d"]);
    assert!(reasons[1].1.contains("needs a"), "{reasons:?}");
    assert!(reasons[2].1.contains("when"), "{reasons:?}");
    assert_eq!(h.pending_steps(), ["c"]);
    h.complete("c", ok());
    assert_eq!(h.status(item), ItemStatus::Completed);

    let item2 = h.start("w", json!({ "go": true }));
    assert_eq!(h.pending_steps(), ["a"]);
    h.complete("a", ok());
    assert_eq!(h.pending_steps(), ["b", "c", "d"]);
    for s in ["b", "c", "d"] {
        h.complete(s, ok());
    }
    assert_eq!(h.status(item2), ItemStatus::Completed);
    h.replayed();
}

fn comp_workflow() -> Workflow {
    let mut wf = workflow(
        "comp",
        vec![
            // definition order differs from completion order on purpose
            with(http("c", &[]), |s| s.compensate = undo("c")),
            with(http("a", &[]), |s| s.compensate = undo("a")),
            with(http("b", &[]), |s| s.compensate = undo("b")),
            http("d", &["a", "b", "c"]),
        ],
    );
    wf.on_failure = OnFailure::Compensate;
    wf
}

#[test]
fn compensation_undoes_in_reverse_completion_order() {
    let mut h = H::new(vec![comp_workflow()]);
    let item = h.start("comp", json!({}));
    for s in ["a", "b", "c"] {
        h.complete(s, ok());
    }
    let recs = h.fail("d", err(StepErrorKind::Status));
    assert!(
        recs.iter()
            .any(|r| matches!(r.event, Event::CompensationStarted { .. }))
    );
    assert_eq!(h.status(item), ItemStatus::Compensating);
    for s in ["c", "b", "a"] {
        assert_eq!(h.pending_steps(), [format!("undo:{s}")], "one at a time");
        assert!(key(&h.pending[0]).ends_with("-undo"));
        assert_eq!(step_status(&h, item, s), StepStatus::Compensating);
        h.replayed();
        h.undo_done(s, ok());
        assert_eq!(step_status(&h, item, s), StepStatus::Compensated);
    }
    assert!(h.pending.is_empty());
    assert!(matches!(
        h.log.last().unwrap().event,
        Event::ItemFailed { .. }
    ));
    assert_eq!(h.status(item), ItemStatus::Failed);
    h.replayed();
}

#[test]
fn failed_compensation_is_an_incident_retry_and_skip_resolve() {
    let mut h = H::new(vec![comp_workflow()]);
    let item = h.start("comp", json!({}));
    for s in ["a", "b", "c"] {
        h.complete(s, ok());
    }
    h.fail("d", err(StepErrorKind::Status));
    let recs = h.undo_done("c", Err(err(StepErrorKind::Connect)));
    assert!(matches!(
        recs.last().unwrap().event,
        Event::IncidentRaised {
            phase: Phase::Compensate,
            ..
        }
    ));
    assert_eq!(h.status(item), ItemStatus::Incident);
    assert!(h.pending.is_empty());
    h.replayed();
    h.cmd("op", Command::Retry { item, from: None }).unwrap();
    assert_eq!(h.pending_steps(), ["undo:c"]);
    assert_eq!(h.pending[0].attempt, 2);
    h.undo_done("c", ok());
    assert_eq!(h.pending_steps(), ["undo:b"]);
    h.undo_done("b", Err(err(StepErrorKind::Connect)));
    assert_eq!(h.status(item), ItemStatus::Incident);
    h.cmd(
        "op",
        Command::Skip {
            item,
            step: "b".into(),
        },
    )
    .unwrap();
    assert_eq!(h.pending_steps(), ["undo:a"]);
    h.undo_done("a", ok());
    assert_eq!(h.status(item), ItemStatus::Failed);
    h.replayed();
}

#[test]
fn human_tasks_claims_decisions_escalations() {
    let wf = workflow(
        "hum",
        vec![
            human("approve", &[], |hs| {
                hs.group = Some("finance".into());
                hs.due = Some(secs(3600));
                hs.escalate = vec![esc(600, "leads", None), esc(1200, "@boss", Some(900))];
            }),
            with(http("pay", &["approve"]), |s| {
                s.when = Some("steps.approve.decision == 'approved'".into())
            }),
            http("notify", &["approve"]),
        ],
    );
    let mut h = H::new(vec![wf]);
    // The waits below outlast the default http timeout; this test is about tasks.
    let day = secs(86_400);
    h.set_timeouts(crate::types::job::StepTimeouts {
        http: day,
        shell: day,
        agent: day,
    });
    let item = h.start("hum", json!({}));
    let created = h
        .events()
        .find_map(|e| match e {
            Event::TaskCreated {
                task,
                group,
                options,
                due,
                kind,
                ..
            } => Some((*task, group.clone(), options.clone(), *due, kind.clone())),
            _ => None,
        })
        .expect("task created");
    let task = created.0;
    assert_eq!(created.1.as_deref(), Some("finance"));
    assert_eq!(created.2, ["approved", "rejected"]);
    assert_eq!(created.3, Some(t0() + chrono::Duration::seconds(3600)));
    assert_eq!(created.4, TaskKind::Approval);
    assert!(h.pending.is_empty());
    assert_eq!(h.status(item), ItemStatus::Waiting);
    assert_eq!(h.core.metrics(h.now).waiting_on_humans, 1);
    assert_eq!(h.core.metrics(h.now).open_tasks, 1);

    h.cmd("alice", Command::Claim { task }).unwrap();
    let n = h.log.len();
    let decide = |d: &str| Command::Decide {
        task,
        decision: d.into(),
        comment: None,
        fields: None,
    };
    assert!(matches!(
        h.cmd("bob", decide("approved")),
        Err(CommandError::Conflict(_))
    ));
    assert!(matches!(
        h.cmd("bob", Command::Claim { task }),
        Err(CommandError::Conflict(_))
    ));
    assert!(matches!(
        h.cmd("alice", decide("maybe")),
        Err(CommandError::Invalid(_))
    ));
    assert_eq!(h.log.len(), n);

    // escalations at their delays
    let escalated = |h: &H| -> Vec<(u32, String)> {
        h.events()
            .filter_map(|e| match e {
                Event::TaskEscalated { level, to, .. } => Some((*level, to.clone())),
                _ => None,
            })
            .collect()
    };
    h.advance(599);
    assert!(escalated(&h).is_empty());
    h.advance(1);
    assert_eq!(escalated(&h), [(1, "leads".to_string())]);
    let tv = h.core.tasks(&TaskFilter::default());
    assert_eq!(tv[0].group.as_deref(), Some("leads"));
    assert_eq!(tv[0].escalation_level, 1);
    h.advance(599);
    assert_eq!(escalated(&h).len(), 1);
    h.advance(1); // 1200
    assert_eq!(escalated(&h)[1], (2, "@boss".to_string()));
    assert_eq!(
        h.core.tasks(&TaskFilter::default())[0].assignee.as_deref(),
        Some("boss")
    );
    h.advance(899);
    assert_eq!(escalated(&h).len(), 2);
    h.advance(1); // 2100: repeat
    assert_eq!(escalated(&h)[2], (3, "@boss".to_string()));
    h.replayed();
    h.advance(900); // 3000
    assert_eq!(escalated(&h).len(), 4);
    assert_eq!(h.count(|e| matches!(e, Event::TaskOverdue { .. })), 0);
    h.advance(599);
    assert_eq!(h.count(|e| matches!(e, Event::TaskOverdue { .. })), 0);
    h.advance(1); // 3600
    assert_eq!(h.count(|e| matches!(e, Event::TaskOverdue { .. })), 1);
    assert!(h.core.tasks(&TaskFilter::default())[0].overdue);

    h.cmd(
        "op",
        Command::Escalate {
            task,
            to: Some("ops".into()),
        },
    )
    .unwrap();
    let tv = &h.core.tasks(&TaskFilter::default())[0];
    assert_eq!((tv.escalation_level, tv.group.as_deref()), (5, Some("ops")));
    h.cmd(
        "op",
        Command::Reassign {
            task,
            to: "@bob".into(),
        },
    )
    .unwrap();
    assert_eq!(
        h.core.tasks(&TaskFilter::default())[0].assignee.as_deref(),
        Some("bob")
    );
    assert_eq!(
        h.core
            .tasks(&TaskFilter {
                mine: Some("bob".into()),
                ..Default::default()
            })
            .len(),
        1
    );
    h.replayed();

    h.cmd("bob", decide("approved")).unwrap();
    let out = h.detail(item).unwrap().steps[0].output.clone().unwrap();
    assert_eq!(out["decision"], "approved");
    assert_eq!(out["by"], "bob");
    assert_eq!(h.pending_steps(), ["notify", "pay"]);
    assert!(matches!(
        h.cmd("alice", decide("rejected")),
        Err(CommandError::Conflict(_))
    ));
    // no more escalations once decided
    let before = escalated(&h).len();
    h.advance(5000);
    assert_eq!(escalated(&h).len(), before);
    h.complete("pay", ok());
    h.complete("notify", ok());
    assert_eq!(h.status(item), ItemStatus::Completed);

    let item2 = h.start("hum", json!({}));
    let task2 = h.core.tasks(&TaskFilter::default())[0].id;
    assert_ne!(task2, task);
    h.cmd(
        "carol",
        Command::Decide {
            task: task2,
            decision: "rejected".into(),
            comment: Some("no".into()),
            fields: None,
        },
    )
    .unwrap();
    assert_eq!(step_status(&h, item2, "pay"), StepStatus::Skipped);
    assert_eq!(h.pending_steps(), ["notify"]);
    h.complete("notify", ok());
    assert_eq!(h.status(item2), ItemStatus::Completed);
    h.replayed();
}

#[test]
fn agent_confidence_routes_to_review() {
    let review = ReviewSpec {
        title: None,
        group: Some("reviewers".into()),
        assignee: None,
        due: Some(secs(1800)),
        escalate: Vec::new(),
    };
    let wf = workflow(
        "ag",
        vec![
            agent("risk", &[], 0.8, review),
            with(http("act", &["risk"]), |s| {
                s.when = Some("steps.risk.decision == 'approved'".into())
            }),
        ],
    );
    let mut h = H::new(vec![wf]);
    let a = h.start("ag", json!({}));
    assert!(matches!(h.pending[0].work, Work::Job(Job::Agent(_))));
    h.complete(
        "risk",
        Ok(json!({ "decision": "approved", "confidence": 0.8 })),
    );
    assert_eq!(h.count(|e| matches!(e, Event::TaskCreated { .. })), 0);
    assert_eq!(h.pending_steps(), ["act"]);
    h.complete("act", ok());
    assert_eq!(h.status(a), ItemStatus::Completed);

    let b = h.start("ag", json!({}));
    let proposal = json!({ "decision": "approved", "confidence": 0.5 });
    let recs = h.complete("risk", Ok(proposal.clone()));
    assert!(
        !recs
            .iter()
            .any(|r| matches!(r.event, Event::StepSucceeded { .. }))
    );
    let tv = h.core.tasks(&TaskFilter::default());
    assert_eq!(tv.len(), 1);
    assert_eq!(
        tv[0].kind,
        TaskKind::AgentReview {
            proposal,
            confidence: 0.5
        }
    );
    assert_eq!(tv[0].group.as_deref(), Some("reviewers"));
    assert_eq!(tv[0].due, Some(h.now + chrono::Duration::seconds(1800)));
    assert_eq!(h.status(b), ItemStatus::Waiting);
    h.replayed();
    h.cmd(
        "alice",
        Command::Decide {
            task: tv[0].id,
            decision: "rejected".into(),
            comment: None,
            fields: None,
        },
    )
    .unwrap();
    let out = h.detail(b).unwrap().steps[0].output.clone().unwrap();
    assert_eq!(out["decision"], "rejected");
    assert_eq!(out["agent_decision"], "approved");
    assert_eq!(step_status(&h, b, "act"), StepStatus::Skipped);
    assert_eq!(h.status(b), ItemStatus::Completed);
    h.replayed();
}

#[test]
fn waits_timers_and_signals() {
    let timer = workflow(
        "timer",
        vec![
            wait("w", &[], WaitSpec::Duration(secs(60))),
            http("after", &["w"]),
        ],
    );
    let sig = workflow(
        "sig",
        vec![
            http("a", &[]),
            wait(
                "s",
                &["a"],
                WaitSpec::Signal {
                    name: "paid".into(),
                    timeout: Some(secs(300)),
                },
            ),
        ],
    );
    let mut h = H::new(vec![timer, sig]);
    let t = h.start("timer", json!({}));
    assert!(h.events().any(|e| matches!(
        e,
        Event::StepWaiting {
            on: WaitOn::Timer { .. },
            ..
        }
    )));
    assert_eq!(h.status(t), ItemStatus::Waiting);
    h.advance(59);
    assert!(h.pending.is_empty());
    h.advance(1);
    assert_eq!(h.pending_steps(), ["after"]);
    h.complete("after", ok());
    assert_eq!(h.status(t), ItemStatus::Completed);

    // signal after the step started
    let s1 = h.start("sig", json!({}));
    h.complete("a", ok());
    assert_eq!(step_status(&h, s1, "s"), StepStatus::Waiting);
    h.cmd(
        "hook",
        Command::Signal {
            item: s1,
            name: "paid".into(),
            data: json!({ "amount": 3 }),
        },
    )
    .unwrap();
    let out = h.detail(s1).unwrap().steps[1].output.clone().unwrap();
    assert_eq!(out["data"]["amount"], 3);
    assert_eq!(h.status(s1), ItemStatus::Completed);

    // signal before the step started: buffered
    let s2 = h.start("sig", json!({}));
    h.cmd(
        "hook",
        Command::Signal {
            item: s2,
            name: "paid".into(),
            data: json!({ "amount": 4 }),
        },
    )
    .unwrap();
    assert_eq!(step_status(&h, s2, "s"), StepStatus::Pending);
    assert_eq!(h.core.state.items[&s2].signals.len(), 1);
    h.replayed();
    h.complete_on(s2, "a", ok());
    assert_eq!(h.status(s2), ItemStatus::Completed);
    assert_eq!(
        h.detail(s2).unwrap().steps[1].output.as_ref().unwrap()["data"]["amount"],
        4
    );
    assert!(
        h.core
            .state
            .items
            .get(&s2)
            .is_none_or(|it| it.signals.is_empty())
    );

    // timeout
    let s3 = h.start("sig", json!({}));
    h.complete_on(s3, "a", ok());
    h.advance(299);
    assert_eq!(step_status(&h, s3, "s"), StepStatus::Waiting);
    let recs = h.advance(1);
    assert!(recs.iter().any(|r| matches!(&r.event,
        Event::StepFailed { error, .. } if error.kind == StepErrorKind::Signal)));
    assert_eq!(h.status(s3), ItemStatus::Incident);

    // unknown signal name
    let s4 = h.start("sig", json!({}));
    assert!(matches!(
        h.cmd(
            "hook",
            Command::Signal {
                item: s4,
                name: "nope".into(),
                data: Value::Null
            }
        ),
        Err(CommandError::Invalid(_))
    ));
    h.replayed();
}

#[test]
fn sla_warnings_escalation_and_breach_on_time() {
    let mut wf = workflow("sla", vec![human("h", &[], |_| {})]);
    wf.sla = sla(100, &[50, 75, 90], vec![esc(60, "mgr", None)]);
    let mut h = H::new(vec![wf]);
    let item = h.start("sla", json!({}));
    let warnings = |h: &H| -> Vec<u8> {
        h.events()
            .filter_map(|e| match e {
                Event::SlaWarning { percent, .. } => Some(*percent),
                _ => None,
            })
            .collect()
    };
    let breached = |h: &H| h.count(|e| matches!(e, Event::SlaBreached { .. }));
    let escalated =
        |h: &H| h.count(|e| matches!(e, Event::SlaEscalated { level: 1, to, .. } if to == "mgr"));
    h.advance(49);
    assert!(warnings(&h).is_empty());
    assert_eq!(h.core.metrics(h.now).at_risk, 0);
    h.advance(1);
    assert_eq!(warnings(&h), [50]);
    assert_eq!(h.core.metrics(h.now).at_risk, 1);
    assert_eq!(h.detail(item).unwrap().summary.sla_warned, 50);
    h.advance(9);
    assert_eq!(escalated(&h), 0);
    h.advance(1);
    assert_eq!(escalated(&h), 1);
    h.advance(14);
    assert_eq!(warnings(&h), [50]);
    h.advance(1);
    assert_eq!(warnings(&h), [50, 75]);
    h.advance(14);
    assert_eq!(warnings(&h), [50, 75]);
    h.advance(1);
    assert_eq!(warnings(&h), [50, 75, 90]);
    h.replayed();
    h.advance(9);
    assert_eq!(breached(&h), 0);
    h.advance(1);
    assert_eq!(breached(&h), 1);
    let m = h.core.metrics(h.now);
    assert_eq!((m.at_risk, m.breached), (0, 1));
    h.advance(1000);
    assert_eq!(breached(&h), 1);
    assert_eq!(warnings(&h).len(), 3);
    assert_eq!(escalated(&h), 1);
    h.replayed();
}

#[test]
fn a_back_dated_start_runs_its_sla_from_since() {
    let mut wf = workflow("sla", vec![human("h", &[], |_| {})]);
    wf.sla = sla(100, &[50, 75, 90], vec![esc(60, "mgr", None)]);
    let mut h = H::new(vec![wf]);
    let start = |since| Command::Start {
        workflow: "sla".into(),
        version: None,
        input: json!({}),
        priority: 0,
        since: Some(since),
    };
    let since = h.now - chrono::Duration::seconds(80);
    let item = h.cmd("op", start(since)).unwrap().item.unwrap();
    let started = h
        .events()
        .find(|e| matches!(e, Event::ItemStarted { .. }))
        .unwrap();
    assert_eq!(
        started.detail(),
        format!(
            "sla v1, clock from {} 08:58:40 UTC",
            h.now.format("%Y-%m-%d")
        ),
        "the audit shows when, date included (a start may be 30 days back)"
    );
    h.advance(0);
    let summary = h.detail(item).unwrap().summary;
    assert_eq!(summary.started_at, since, "age runs from since");
    assert_eq!(
        summary.sla_due,
        Some(since + chrono::Duration::seconds(100))
    );
    assert_eq!(
        summary.sla_warned, 75,
        "the thresholds already passed fired at once"
    );
    assert_eq!(
        h.count(|e| matches!(e, Event::SlaEscalated { level: 1, .. })),
        1
    );
    assert_eq!(h.core.metrics(h.now).at_risk, 1);
    h.advance(9);
    assert_eq!(h.detail(item).unwrap().summary.sla_warned, 75);
    h.advance(1);
    assert_eq!(h.detail(item).unwrap().summary.sla_warned, 90);
    h.advance(10);
    assert_eq!(h.count(|e| matches!(e, Event::SlaBreached { .. })), 1);
    h.replayed();

    let future = h.now + chrono::Duration::seconds(1);
    let refused = h.cmd("op", start(future));
    assert!(
        matches!(&refused, Err(CommandError::Invalid(m)) if m.contains("future")),
        "{refused:?}"
    );
    let too_old = h.now - chrono::Duration::days(MAX_SINCE_DAYS) - chrono::Duration::seconds(1);
    let refused = h.cmd("op", start(too_old));
    assert!(
        matches!(&refused, Err(CommandError::Invalid(m)) if m.contains("30 days")),
        "{refused:?}"
    );
    let oldest = h.now - chrono::Duration::days(MAX_SINCE_DAYS);
    assert!(
        h.cmd("op", start(oldest)).is_ok(),
        "the limit itself is allowed"
    );
    h.replayed();
}

#[test]
fn attempt_timeout_retries_and_late_result_is_ignored() {
    let wf = workflow(
        "to",
        vec![with(http("t", &[]), |s| {
            s.timeout = Some(secs(10));
            s.retry = retry(2, 1, 1.0);
        })],
    );
    let mut h = H::new(vec![wf]);
    let item = h.start("to", json!({}));
    let first = h.take(None, "t", Phase::Run);
    h.advance(9);
    assert_eq!(h.count(|e| matches!(e, Event::StepFailed { .. })), 0);
    let recs = h.advance(1);
    assert!(recs.iter().any(|r| matches!(&r.event,
        Event::StepFailed { attempt: 1, error, .. } if error.kind == StepErrorKind::Timeout)));
    assert!(
        recs.iter()
            .any(|r| matches!(r.event, Event::StepScheduled { attempt: 2, .. }))
    );
    let n = h.log.len();
    assert!(h.deliver(&first, ok()).is_empty(), "late result ignored");
    assert_eq!(h.log.len(), n);
    h.advance(1);
    assert_eq!(h.pending[0].attempt, 2);
    h.complete("t", ok());
    assert_eq!(h.status(item), ItemStatus::Completed);
    h.replayed();
}

#[test]
fn step_deadline_fails_without_retry() {
    let wf = workflow(
        "dl",
        vec![with(http("x", &[]), |s| {
            s.deadline = Some(secs(12));
            s.retry = retry(5, 1, 1.0);
        })],
    );
    let mut h = H::new(vec![wf]);
    let item = h.start("dl", json!({}));
    let d = h.take(None, "x", Phase::Run);
    h.advance(11);
    assert_eq!(h.status(item), ItemStatus::Running);
    let recs = h.advance(1);
    assert!(recs.iter().any(|r| matches!(&r.event,
        Event::StepFailed { error, .. } if error.kind == StepErrorKind::Deadline)));
    assert!(
        !recs
            .iter()
            .any(|r| matches!(r.event, Event::StepScheduled { .. }))
    );
    assert_eq!(h.status(item), ItemStatus::Incident);
    assert!(h.deliver(&d, ok()).is_empty());
    h.replayed();
}

#[test]
fn step_deadline_counts_from_the_operator_retry() {
    let wf = workflow(
        "dl",
        vec![with(http("x", &[]), |s| s.deadline = Some(secs(12)))],
    );
    let mut h = H::new(vec![wf]);
    let item = h.start("dl", json!({}));
    h.advance(1);
    h.fail("x", err(StepErrorKind::Status));
    assert_eq!(h.status(item), ItemStatus::Incident);
    h.advance(4); // t=5
    h.cmd("op", Command::Retry { item, from: None }).unwrap();
    // The first run's deadline (t=12) must not cut the retried run short.
    h.advance(8); // t=13
    assert_eq!(h.status(item), ItemStatus::Running, "{:?}", h.detail(item));
    h.replayed();
    // ... not even after a restart, when the old timer is armed again by replay.
    h.crash();
    assert_eq!(h.status(item), ItemStatus::Running);
    h.advance(4); // t=17: the retried run's own deadline
    assert_eq!(h.status(item), ItemStatus::Incident);
    h.replayed();
}

#[test]
fn cancel_and_command_refusals() {
    let wf = workflow(
        "can",
        vec![human("h", &[], |_| {}), http("x", &[]), http("y", &["x"])],
    );
    let mut h = H::new(vec![wf]);
    let item = h.start("can", json!({}));
    let task = h.core.tasks(&TaskFilter::default())[0].id;
    let x = h.take(None, "x", Phase::Run);
    h.cmd("op", Command::Cancel { item }).unwrap();
    assert_eq!(h.status(item), ItemStatus::Cancelled);
    assert_eq!(h.all_tasks()[0].status, TaskStatus::Cancelled);
    let last = h.log.last().unwrap();
    assert!(matches!(last.event, Event::ItemCancelled { .. }));
    assert_eq!(last.actor, "op");
    assert!(
        h.deliver(&x, ok()).is_empty(),
        "result after cancel ignored"
    );
    for c in [
        Command::Cancel { item },
        Command::Retry { item, from: None },
        Command::Compensate { item },
        Command::Skip {
            item,
            step: "y".into(),
        },
        Command::Decide {
            task,
            decision: "approved".into(),
            comment: None,
            fields: None,
        },
        Command::Claim { task },
    ] {
        assert!(
            matches!(h.cmd("op", c.clone()), Err(CommandError::Conflict(_))),
            "{c:?}"
        );
    }
    for c in [
        Command::Cancel { item: 999 },
        Command::Retry {
            item: 999,
            from: None,
        },
        Command::Claim { task: 999 },
        Command::Decide {
            task: 999,
            decision: "approved".into(),
            comment: None,
            fields: None,
        },
        Command::Start {
            workflow: "nope".into(),
            version: None,
            input: Value::Null,
            priority: 0,
            since: None,
        },
    ] {
        assert!(
            matches!(h.cmd("op", c.clone()), Err(CommandError::NotFound(_))),
            "{c:?}"
        );
    }
    let other = h.start("can", json!({}));
    assert!(matches!(
        h.cmd(
            "op",
            Command::Skip {
                item: other,
                step: "nope".into()
            }
        ),
        Err(CommandError::NotFound(_))
    ));
    h.replayed();
}

#[test]
fn recover_redispatches_running_attempts_only() {
    let wf = workflow(
        "rec",
        vec![
            http("a", &[]),
            with(http("b", &["a"]), |s| s.timeout = Some(secs(30))),
            human("h", &[], |_| {}),
        ],
    );
    let mut h = H::new(vec![wf]);
    let item = h.start("rec", json!({}));
    h.complete("a", ok());
    let live = h.pending.clone();
    assert_eq!(h.pending_steps(), ["b"]);
    let n = h.log.len();
    let recs = h.crash();
    assert!(recs.is_empty(), "recover emits nothing: {recs:?}");
    assert_eq!(h.log.len(), n);
    assert_eq!(h.pending, live, "same attempt, same key");
    h.complete("b", ok());
    assert_eq!(h.status(item), ItemStatus::Waiting);
    h.replayed();
}

#[test]
fn no_forward_retry_while_compensating() {
    let mut wf = comp_workflow();
    wf.steps[1].retry = retry(2, 5, 1.0); // a
    let mut h = H::new(vec![wf]);
    let item = h.start("comp", json!({}));
    h.complete("b", ok());
    h.complete("c", ok());
    h.cmd("op", Command::Compensate { item }).unwrap();
    assert!(
        h.pending_steps().iter().all(|s| !s.starts_with("undo:")),
        "a is still running"
    );
    let comp_at = h.log.len();
    h.fail("a", err(StepErrorKind::Connect));
    assert_eq!(h.pending_steps(), ["undo:c"]);
    h.advance(5);
    assert_eq!(
        h.pending_steps(),
        ["undo:c"],
        "a must not run again while undoing"
    );
    h.undo_done("c", ok());
    h.undo_done("b", ok());
    assert_eq!(h.status(item), ItemStatus::Failed);
    h.advance(60);
    assert!(
        !h.log[comp_at..].iter().any(|r| matches!(
            &r.event,
            Event::StepScheduled {
                phase: Phase::Run,
                ..
            } | Event::StepStarted {
                phase: Phase::Run,
                ..
            }
        )),
        "forward work scheduled during compensation"
    );
    h.replayed();
}

#[test]
fn retry_from_upstream_reopens_a_waiting_human_step() {
    let wf = workflow(
        "rf",
        vec![
            http("fetch", &[]),
            human("review", &["fetch"], |hs| hs.group = Some("ops".into())),
        ],
    );
    let mut h = H::new(vec![wf]);
    let item = h.start("rf", json!({}));
    h.complete("fetch", ok());
    let first = h.core.state.items[&item].steps[1].task.expect("task open");
    h.cmd(
        "op",
        Command::Retry {
            item,
            from: Some("fetch".into()),
        },
    )
    .unwrap();
    assert!(!h.core.state.tasks[&first].is_open(), "old task cancelled");
    h.complete("fetch", ok());
    let second = h.core.state.items[&item].steps[1].task.expect("new task");
    assert_ne!(first, second);
    assert!(h.core.state.tasks[&second].is_open());
    h.cmd(
        "alice",
        Command::Decide {
            task: second,
            decision: "approved".into(),
            comment: None,
            fields: None,
        },
    )
    .unwrap();
    assert_eq!(h.status(item), ItemStatus::Completed);
    h.replayed();
}

#[test]
fn stored_inputs_are_equal_copies_and_started_steps_leave_no_start_timer() {
    let wf = workflow("w", vec![http("a", &[]), http("b", &["a"])]);
    let mut h = H::new(vec![wf]);
    let input = json!({ "z": 1, "a": [1, { "k": "v" }], "m": { "y": null } });
    let item = h.start("w", input.clone());
    assert_eq!(h.core.state.items[&item].input, input);
    let order: Vec<&String> = h.core.state.items[&item]
        .input
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(order, ["z", "a", "m"], "key order is kept");
    let starts = |h: &H| {
        h.core
            .state
            .timers
            .iter()
            .filter(|(_, t)| matches!(t, Timer::Start { .. }))
            .count()
    };
    assert_eq!(starts(&h), 0, "a started step's start timer is gone");
    h.complete("a", Ok(json!({ "out": [1, 2] })));
    assert_eq!(starts(&h), 0);
    h.replayed();
}

#[test]
fn a_snapshot_cut_short_or_inconsistent_is_refused() {
    let mut h = H::new(vec![workflow("w", vec![http("a", &[]), http("b", &["a"])])]);
    for _ in 0..3 {
        h.start("w", json!({}));
    }
    let mut bytes = Vec::new();
    h.core.write_snapshot(&mut bytes).unwrap();
    let wfs = h.core.state.workflows.clone();
    let parse = move |src: &str| {
        wfs.values()
            .flat_map(|v| v.values())
            .find(|(_, s)| s.as_ref() == src)
            .map(|(w, _)| w.as_ref().clone())
            .ok_or_else(|| "unknown".to_string())
    };
    let lines: Vec<&[u8]> = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let whole = Core::from_snapshot_with(Value::Null, &bytes, &parse).unwrap();
    assert_eq!(whole.state.items.len(), 3);
    // Each line left out in turn (the head aside): never taken for a whole snapshot.
    for k in 1..lines.len() {
        let cut: Vec<u8> = lines
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != k)
            .flat_map(|(_, l)| l.iter().copied().chain([b'\n']))
            .collect();
        assert!(
            Core::from_snapshot_with(Value::Null, &cut, &parse).is_err(),
            "line {k} missing went unnoticed"
        );
    }
    // An item whose step states do not fit its workflow.
    let text = String::from_utf8(bytes.clone()).unwrap();
    let odd = text.replacen("\"steps\":[", "\"steps\":[{},", 1);
    let err = Core::from_snapshot_with(Value::Null, odd.as_bytes(), &parse)
        .err()
        .unwrap();
    assert!(err.to_string().contains("step states"), "{err}");
}
