//! Attempts moved on without their answer are named for the runtime to end; steps with
//! no `timeout` run under the default of their kind.

use super::*;
use crate::definition::ShellSpec;
use crate::types::view::StepStatus;

fn shell(id: &str, needs: &[&str]) -> Step {
    let spec = ShellSpec {
        run: vec!["sleep".into(), "1000".into()],
        script: None,
        env: Default::default(),
        cwd: None,
        ok_codes: Vec::new(),
    };
    step(id, StepKind::Shell(spec), needs)
}

fn step_status(h: &H, item: ItemId, s: &str) -> StepStatus {
    let d = h.detail(item).unwrap();
    d.steps.iter().find(|v| v.id == s).unwrap().status
}

fn aborted(h: &H) -> Vec<(String, u32, Phase)> {
    h.aborted
        .iter()
        .map(|a| (a.step.to_string(), a.attempt, a.phase))
        .collect()
}

fn run(step: &str, attempt: u32) -> (String, u32, Phase) {
    (step.to_string(), attempt, Phase::Run)
}

fn job_timeout(d: &Dispatch) -> Option<Duration> {
    match &d.work {
        Work::Job(Job::Http(j) | Job::Agent(j)) => j.timeout,
        Work::Job(Job::Shell(j)) => j.timeout,
        Work::Immediate(_) => None,
    }
}

fn started_timeout_at(h: &H, s: &str, attempt: u32) -> Option<DateTime<Utc>> {
    h.events().find_map(|e| match e {
        Event::StepStarted {
            step,
            attempt: a,
            timeout_at,
            ..
        } if step == s && *a == attempt => Some(*timeout_at),
        _ => None,
    })?
}

#[test]
fn answered_attempts_are_never_aborted() {
    let wf = workflow("ok", vec![http("a", &[]), shell("b", &["a"])]);
    let mut h = H::new(vec![wf]);
    let item = h.start("ok", json!({}));
    h.complete("a", Ok(json!({})));
    h.fail("b", err(StepErrorKind::Exit));
    assert_eq!(h.status(item), ItemStatus::Incident);
    assert!(h.aborted.is_empty(), "{:?}", h.aborted);
}

#[test]
fn cancel_aborts_every_running_attempt_of_the_item() {
    let wf = workflow(
        "par",
        vec![http("a", &[]), shell("b", &[]), human("h", &[], |_| {})],
    );
    let mut h = H::new(vec![wf]);
    let item = h.start("par", json!({}));
    let other = h.start("par", json!({}));
    h.cmd("op", Command::Cancel { item }).unwrap();
    assert_eq!(aborted(&h), [run("a", 1), run("b", 1)]);
    assert!(h.aborted.iter().all(|a| a.item == item), "only its own");
    assert_eq!(h.status(other), ItemStatus::Running);
    let a = h.take(Some(item), "a", Phase::Run);
    assert!(h.deliver(&a, Ok(json!({}))).is_empty());
    h.replayed();
}

#[test]
fn skip_ends_the_running_attempt_and_moves_on() {
    let wf = workflow("sk", vec![shell("x", &[]), http("y", &["x"])]);
    let mut h = H::new(vec![wf]);
    let item = h.start("sk", json!({}));
    let x = h.take(None, "x", Phase::Run);
    h.cmd(
        "op",
        Command::Skip {
            item,
            step: "x".into(),
        },
    )
    .unwrap();
    assert_eq!(aborted(&h), [run("x", 1)]);
    assert_eq!(step_status(&h, item, "x"), StepStatus::Skipped);
    assert!(
        h.deliver(&x, Ok(json!({}))).is_empty(),
        "late answer dropped"
    );
    // y needed x, which was skipped: the item completes.
    assert_eq!(h.status(item), ItemStatus::Completed);
}

#[test]
fn deadline_aborts_the_running_attempt() {
    let wf = workflow(
        "dl",
        vec![with(shell("x", &[]), |s| s.deadline = Some(secs(12)))],
    );
    let mut h = H::new(vec![wf]);
    let item = h.start("dl", json!({}));
    h.advance(11);
    assert!(h.aborted.is_empty());
    h.advance(1);
    assert_eq!(aborted(&h), [run("x", 1)]);
    assert_eq!(h.status(item), ItemStatus::Incident);
    h.replayed();
}

#[test]
fn a_timed_out_attempt_is_aborted_before_its_retry() {
    let wf = workflow(
        "to",
        vec![with(http("t", &[]), |s| {
            s.timeout = Some(secs(10));
            s.retry = retry(2, 1, 1.0);
        })],
    );
    let mut h = H::new(vec![wf]);
    h.start("to", json!({}));
    h.advance(10);
    assert_eq!(aborted(&h), [run("t", 1)]);
    h.advance(1);
    let second = h.pending.iter().find(|d| d.attempt == 2).unwrap();
    assert_eq!(job_timeout(second), Some(secs(10)));
}

#[test]
fn an_item_that_fails_aborts_its_steps_still_running() {
    let mut wf = workflow("ff", vec![http("a", &[]), shell("b", &[])]);
    wf.on_failure = OnFailure::Fail;
    let mut h = H::new(vec![wf]);
    let item = h.start("ff", json!({}));
    h.fail("a", err(StepErrorKind::Status));
    assert_eq!(h.status(item), ItemStatus::Failed);
    assert_eq!(aborted(&h), [run("b", 1)]);
}

#[test]
fn compensation_attempts_are_aborted_on_timeout_and_cancel() {
    let mut wf = workflow(
        "comp",
        vec![
            with(http("a", &[]), |s| {
                s.compensate = undo("a");
                s.timeout = Some(secs(5));
            }),
            http("b", &["a"]),
        ],
    );
    wf.on_failure = OnFailure::Compensate;
    let mut h = H::new(vec![wf]);
    let item = h.start("comp", json!({}));
    h.complete("a", Ok(json!({})));
    h.fail("b", err(StepErrorKind::Status));
    let undo1 = h.take(None, "a", Phase::Compensate);
    assert_eq!(job_timeout(&undo1), Some(secs(5)));
    h.advance(5);
    assert_eq!(
        aborted(&h),
        [("a".to_string(), 1, Phase::Compensate)],
        "the timed-out undo"
    );
    assert_eq!(h.status(item), ItemStatus::Incident);
    h.cmd("op", Command::Retry { item, from: None }).unwrap();
    h.take(None, "a", Phase::Compensate);
    h.cmd("op", Command::Cancel { item }).unwrap();
    assert_eq!(h.aborted.len(), 2);
    assert_eq!(h.aborted[1].phase, Phase::Compensate);
    assert_eq!(h.aborted[1].attempt, 2, "the retried undo");
}

#[test]
fn steps_without_a_timeout_run_under_the_default_of_their_kind() {
    let review = ReviewSpec {
        title: None,
        group: None,
        assignee: None,
        due: None,
        escalate: Vec::new(),
    };
    let wf = workflow(
        "def",
        vec![
            http("h", &[]),
            shell("s", &[]),
            agent("g", &[], 0.5, review),
            with(http("own", &[]), |s| s.timeout = Some(secs(7))),
        ],
    );
    let mut h = H::new(vec![wf]);
    h.start("def", json!({}));
    let d = StepTimeouts::default();
    for (step, limit) in [
        ("h", d.http),
        ("s", d.shell),
        ("g", d.agent),
        ("own", secs(7)),
    ] {
        let k = h.pending.iter().position(|p| &*p.step == step).unwrap();
        assert_eq!(job_timeout(&h.pending[k]), Some(limit), "{step}");
        let at = started_timeout_at(&h, step, 1);
        assert_eq!(at, Some(h.now + chrono::Duration::from_std(limit).unwrap()));
    }
    h.replayed();
}

#[test]
fn the_default_timeout_retries_then_raises_an_incident_like_an_explicit_one() {
    let wf = workflow(
        "hang",
        vec![with(http("x", &[]), |s| s.retry = retry(2, 1, 1.0))],
    );
    let mut h = H::new(vec![wf]);
    h.set_timeouts(StepTimeouts {
        http: secs(60),
        ..StepTimeouts::default()
    });
    let item = h.start("hang", json!({}));
    h.advance(59);
    assert_eq!(h.status(item), ItemStatus::Running);
    let recs = h.advance(1);
    let failed = recs.iter().find_map(|r| match &r.event {
        Event::StepFailed { error, .. } => Some(error.clone()),
        _ => None,
    });
    let failed = failed.expect("the attempt timed out");
    assert_eq!(failed.kind, StepErrorKind::Timeout);
    assert_eq!(failed.message, "attempt 1 ran past its timeout of 1m");
    assert_eq!(aborted(&h), [run("x", 1)]);
    h.advance(1); // the retry starts
    assert_eq!(h.status(item), ItemStatus::Running);
    h.crash(); // a restart keeps the configured default
    h.advance(60);
    assert_eq!(aborted(&h), [run("x", 1), run("x", 2)]);
    assert_eq!(h.status(item), ItemStatus::Incident);
    h.replayed();
}
