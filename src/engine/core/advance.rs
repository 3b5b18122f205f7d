//! Moving an item forward: which steps are ready, starting them, what a success or a
//! failure leads to (retry, incident, compensation), and when the item ends.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::state::{CompStatus, Status, to_chrono};
use super::{Core, Ctx};
use crate::definition::template::{eval_when, render_string};
use crate::definition::{OnFailure, StepKind, WaitSpec};
use crate::types::event::{Event, ItemId, Phase, StepError, StepErrorKind, TaskKind, WaitOn};
use crate::types::view::TaskStatus;

/// What a pending step should do now.
enum Readiness {
    NotYet,
    Skip(String),
    Run,
    Broken(StepError),
}

impl Core {
    /// Drive an item as far as it can go right now.
    pub(super) fn advance(&mut self, ctx: &mut Ctx, item: ItemId) {
        ctx.as_engine();
        loop {
            let Some(it) = self.state.items.get(&item) else {
                return;
            };
            if it.is_final() {
                return;
            }
            if it.compensating {
                self.advance_compensation(ctx, item);
                return;
            }
            if !self.advance_once(ctx, item) {
                break;
            }
        }
        self.maybe_complete(ctx, item);
    }

    /// One pass over the pending steps; true when anything changed.
    fn advance_once(&mut self, ctx: &mut Ctx, item: ItemId) -> bool {
        let mut changed = false;
        let n = self.state.items.get(&item).map_or(0, |it| it.steps.len());
        for i in 0..n {
            let pending = self.state.items.get(&item).is_some_and(|it| {
                !it.is_final() && !it.compensating && it.steps[i].status == Status::Pending
            });
            if !pending {
                continue;
            }
            match self.readiness(item, i) {
                Readiness::NotYet => continue,
                Readiness::Skip(reason) => {
                    let step = self.step_id(item, i);
                    self.emit(ctx, Event::StepSkipped { item, step, reason });
                }
                Readiness::Run => {
                    let attempt = self.state.items[&item].steps[i].attempt + 1;
                    self.schedule(ctx, item, i, attempt, ctx.now, Phase::Run);
                }
                Readiness::Broken(err) => {
                    let attempt = self.state.items[&item].steps[i].attempt;
                    self.fail(ctx, item, i, attempt, Phase::Run, err);
                }
            }
            changed = true;
        }
        if self.consume_signals(ctx, item) {
            changed = true;
        }
        changed
    }

    fn readiness(&self, item: ItemId, i: usize) -> Readiness {
        let it = &self.state.items[&item];
        let def = &it.wf.steps[i];
        let mut skipped_need = None;
        for need in &def.needs {
            let Some(j) = it.wf.step_index(need) else {
                continue;
            };
            match it.steps[j].status {
                Status::Succeeded => {}
                Status::Skipped => skipped_need = Some(need),
                _ => return Readiness::NotYet,
            }
        }
        match &def.when {
            None => match skipped_need {
                Some(n) => Readiness::Skip(format!("needs {n}, which was skipped")),
                None => Readiness::Run,
            },
            Some(expr) => match eval_when(expr, &self.scope_of(item)) {
                Ok(true) => Readiness::Run,
                Ok(false) => Readiness::Skip(format!("when `{expr}` was false")),
                Err(e) => Readiness::Broken(StepError::new(
                    StepErrorKind::Template,
                    format!("when `{expr}`: {e}"),
                )),
            },
        }
    }

    pub(super) fn step_id(&self, item: ItemId, i: usize) -> String {
        self.state.items[&item].wf.steps[i].id.clone()
    }

    /// Schedule an attempt (of the action or its compensation) at `at`; start it now
    /// if it is due.
    fn schedule(
        &mut self,
        ctx: &mut Ctx,
        item: ItemId,
        i: usize,
        attempt: u32,
        at: DateTime<Utc>,
        phase: Phase,
    ) {
        // An attempt due now starts at once: its StepStarted says all a StepScheduled
        // would (a fifth of a pass step's journal bytes).
        if at <= ctx.now {
            self.start(ctx, item, i, attempt, phase);
            return;
        }
        let step = self.step_id(item, i);
        self.emit(
            ctx,
            Event::StepScheduled {
                item,
                step,
                attempt,
                at,
                phase,
            },
        );
    }

    /// Start a scheduled attempt: hand it to an executor, or do it here.
    pub(super) fn start(
        &mut self,
        ctx: &mut Ctx,
        item: ItemId,
        i: usize,
        attempt: u32,
        phase: Phase,
    ) {
        let def = self.state.items[&item].wf.steps[i].clone();
        let step = def.id.clone();
        let timeout_at = def.timeout.map(|t| ctx.now + to_chrono(t));
        let kind = match phase {
            Phase::Run => def.kind.clone(),
            Phase::Compensate => match def.compensate.as_deref() {
                Some(k) => k.clone(),
                None => return,
            },
        };
        let executor = matches!(
            kind,
            StepKind::Http(_) | StepKind::Shell(_) | StepKind::Agent(_) | StepKind::Pass(_)
        );
        self.emit(
            ctx,
            Event::StepStarted {
                item,
                step: step.clone(),
                attempt,
                timeout_at: if executor { timeout_at } else { None },
                phase,
            },
        );
        if executor {
            match self.render_work(item, i, phase) {
                Ok(Some(work)) => self.push_dispatch(ctx, item, i, attempt, phase, work),
                Ok(None) => {}
                Err(e) => self.fail(ctx, item, i, attempt, phase, e),
            }
            return;
        }
        let result = match &kind {
            StepKind::Human(h) => self.open_task(
                ctx,
                item,
                i,
                attempt,
                TaskSpec {
                    kind: TaskKind::Approval,
                    title: &h.title,
                    details: h.details.as_deref(),
                    group: h.group.clone(),
                    assignee: h.assignee.clone(),
                    options: h.options.clone(),
                    due: h.due,
                },
            ),
            StepKind::Wait(w) => self.start_wait(ctx, item, &step, attempt, w, def.timeout),
            _ => Ok(()),
        };
        if let Err(e) = result {
            self.fail(ctx, item, i, attempt, phase, e);
        }
    }

    fn start_wait(
        &mut self,
        ctx: &mut Ctx,
        item: ItemId,
        step: &str,
        attempt: u32,
        w: &WaitSpec,
        timeout: Option<std::time::Duration>,
    ) -> Result<(), StepError> {
        let on = match w {
            WaitSpec::Duration(d) => WaitOn::Timer {
                until: ctx.now + to_chrono(*d),
            },
            WaitSpec::Until(t) => {
                let text = render_string(t, &self.scope_of(item))
                    .map_err(|e| StepError::new(StepErrorKind::Template, format!("until: {e}")))?;
                let until = DateTime::parse_from_rfc3339(text.trim())
                    .map_err(|e| {
                        StepError::new(
                            StepErrorKind::Template,
                            format!("until: `{text}` is not an RFC 3339 time: {e}"),
                        )
                    })?
                    .with_timezone(&Utc);
                WaitOn::Timer { until }
            }
            WaitSpec::Signal { name, timeout: t } => WaitOn::Signal {
                name: name.clone(),
                until: t.or(timeout).map(|t| ctx.now + to_chrono(t)),
            },
        };
        self.emit(
            ctx,
            Event::StepWaiting {
                item,
                step: step.to_string(),
                attempt,
                on,
            },
        );
        Ok(())
    }

    /// Wait steps whose signal has arrived succeed with the signal's data.
    fn consume_signals(&mut self, ctx: &mut Ctx, item: ItemId) -> bool {
        let Some(it) = self.state.items.get(&item) else {
            return false;
        };
        let mut ready = None;
        for (i, s) in it.steps.iter().enumerate() {
            if s.status != Status::Waiting {
                continue;
            }
            if let StepKind::Wait(WaitSpec::Signal { name, .. }) = &it.wf.steps[i].kind
                && let Some((_, data)) = it.signals.iter().find(|(n, _)| n == name)
            {
                ready = Some((i, s.attempt, json!({ "signal": name, "data": data })));
                break;
            }
        }
        match ready {
            Some((i, attempt, output)) => {
                self.succeed(ctx, item, i, attempt, Phase::Run, output);
                true
            }
            None => false,
        }
    }

    pub(super) fn open_task(
        &mut self,
        ctx: &mut Ctx,
        item: ItemId,
        i: usize,
        attempt: u32,
        spec: TaskSpec,
    ) -> Result<(), StepError> {
        let scope = self.scope_of(item);
        let render = |what: &str, t: &str| {
            render_string(t, &scope)
                .map_err(|e| StepError::new(StepErrorKind::Template, format!("{what}: {e}")))
        };
        let title = render("title", spec.title)?;
        let details = spec.details.map(|d| render("details", d)).transpose()?;
        let task = self.state.next_task.max(1);
        let step = self.step_id(item, i);
        self.emit(
            ctx,
            Event::TaskCreated {
                task,
                item,
                step: step.clone(),
                kind: spec.kind,
                title,
                details,
                group: spec.group,
                assignee: spec.assignee,
                options: spec.options,
                due: spec.due.map(|d| ctx.now + to_chrono(d)),
            },
        );
        self.emit(
            ctx,
            Event::StepWaiting {
                item,
                step,
                attempt,
                on: WaitOn::Task { task },
            },
        );
        Ok(())
    }

    /// Record a success; an agent below its confidence goes to review instead.
    pub(super) fn succeed(
        &mut self,
        ctx: &mut Ctx,
        item: ItemId,
        i: usize,
        attempt: u32,
        phase: Phase,
        output: Value,
    ) {
        let def = self.state.items[&item].wf.steps[i].clone();
        if phase == Phase::Run
            && let StepKind::Agent(a) = &def.kind
        {
            let confidence = output
                .get("confidence")
                .and_then(Value::as_f64)
                .unwrap_or(0.0);
            if confidence < a.min_confidence {
                let title = a
                    .review
                    .title
                    .clone()
                    .unwrap_or_else(|| format!("Review {} proposal", def.id));
                let spec = TaskSpec {
                    kind: TaskKind::AgentReview {
                        proposal: output,
                        confidence,
                    },
                    title: &title,
                    details: None,
                    group: a.review.group.clone(),
                    assignee: a.review.assignee.clone(),
                    options: vec!["approved".into(), "rejected".into()],
                    due: a.review.due,
                };
                if let Err(e) = self.open_task(ctx, item, i, attempt, spec) {
                    self.fail(ctx, item, i, attempt, phase, e);
                }
                return;
            }
        }
        self.emit(
            ctx,
            Event::StepSucceeded {
                item,
                step: def.id,
                attempt,
                output,
                phase,
            },
        );
    }

    /// Record a failure and decide: retry after a backoff, or give up per `on_failure`.
    pub(super) fn fail(
        &mut self,
        ctx: &mut Ctx,
        item: ItemId,
        i: usize,
        attempt: u32,
        phase: Phase,
        error: StepError,
    ) {
        let Some(it) = self.state.items.get(&item) else {
            return;
        };
        let def = it.wf.steps[i].clone();
        let on_failure = it.wf.on_failure;
        let s = &it.steps[i];
        let used = match phase {
            Phase::Run => attempt.saturating_sub(s.retry_base),
            Phase::Compensate => attempt,
        };
        let first_started = s.first_started;
        self.emit(
            ctx,
            Event::StepFailed {
                item,
                step: def.id.clone(),
                attempt,
                error: error.clone(),
                phase,
            },
        );
        if phase == Phase::Run && self.state.items.get(&item).is_none_or(|it| it.compensating) {
            // The item is being undone: no retry, no new incident; compensation goes on.
            return;
        }
        let policy = &def.retry;
        let code = error
            .code
            .as_ref()
            .map(|c| format!("{}:{c}", error.kind.name()));
        let retryable = !matches!(
            error.kind,
            StepErrorKind::Template | StepErrorKind::Deadline
        ) && !policy
            .non_retryable
            .iter()
            .any(|n| n == error.kind.name() || Some(n) == code.as_ref());
        if retryable && used < policy.attempts {
            let at = ctx.now + to_chrono(policy.delay(attempt + 1, (ctx.rng)()));
            let within_deadline = match (def.deadline, first_started) {
                (Some(d), Some(f)) => at < f + to_chrono(d),
                _ => true,
            };
            if within_deadline {
                self.schedule(ctx, item, i, attempt + 1, at, phase);
                return;
            }
        }
        if phase == Phase::Compensate {
            self.emit(
                ctx,
                Event::IncidentRaised {
                    item,
                    step: def.id,
                    error,
                    phase,
                },
            );
            return;
        }
        match on_failure {
            OnFailure::Incident => self.emit(
                ctx,
                Event::IncidentRaised {
                    item,
                    step: def.id,
                    error,
                    phase,
                },
            ),
            OnFailure::Compensate => self.begin_compensation(ctx, item),
            OnFailure::Fail => {
                self.close_tasks(ctx, item);
                self.emit(
                    ctx,
                    Event::ItemFailed {
                        item,
                        error: format!("step {} failed: {error}", def.id),
                    },
                );
            }
        }
    }

    /// Stop forward progress and start undoing completed steps.
    pub(super) fn begin_compensation(&mut self, ctx: &mut Ctx, item: ItemId) {
        self.emit(ctx, Event::CompensationStarted { item });
        self.close_tasks(ctx, item);
        let Some(it) = self.state.items.get(&item) else {
            return;
        };
        let parked: Vec<String> = it
            .steps
            .iter()
            .zip(&it.wf.steps)
            .filter(|(s, _)| matches!(s.status, Status::Waiting | Status::Scheduled))
            .map(|(_, d)| d.id.clone())
            .collect();
        for step in parked {
            self.emit(
                ctx,
                Event::StepSkipped {
                    item,
                    step,
                    reason: "item is being compensated".into(),
                },
            );
        }
    }

    /// Undo the most recently completed step that has a compensation, one at a time;
    /// fail the item once nothing is left to undo.
    fn advance_compensation(&mut self, ctx: &mut Ctx, item: ItemId) {
        let Some(it) = self.state.items.get(&item) else {
            return;
        };
        let busy = it.steps.iter().any(|s| {
            s.status == Status::Running
                || matches!(
                    s.comp,
                    CompStatus::Scheduled | CompStatus::Running | CompStatus::Failed
                )
        });
        if busy {
            return;
        }
        let next =
            it.completed.iter().rev().map(|&c| c as usize).find(|&c| {
                it.wf.steps[c].compensate.is_some() && it.steps[c].comp == CompStatus::None
            });
        match next {
            Some(i) => {
                let attempt = it.steps[i].comp_attempt + 1;
                self.schedule(ctx, item, i, attempt, ctx.now, Phase::Compensate);
                self.advance_compensation(ctx, item);
            }
            None => {
                let failed = it
                    .steps
                    .iter()
                    .zip(&it.wf.steps)
                    .find(|(s, _)| s.status == Status::Failed)
                    .map(|(_, d)| d.id.clone());
                let error = match failed {
                    Some(step) => format!("compensated after step {step} failed"),
                    None => "compensated by an operator".to_string(),
                };
                self.emit(ctx, Event::ItemFailed { item, error });
            }
        }
    }

    fn maybe_complete(&mut self, ctx: &mut Ctx, item: ItemId) {
        let Some(it) = self.state.items.get(&item) else {
            return;
        };
        let done = !it.is_final()
            && !it.compensating
            && it
                .steps
                .iter()
                .all(|s| matches!(s.status, Status::Succeeded | Status::Skipped));
        if done {
            self.emit(ctx, Event::ItemCompleted { item });
        }
    }

    /// Cancel the item's open tasks (its steps will not take their answers).
    pub(super) fn close_tasks(&mut self, ctx: &mut Ctx, item: ItemId) {
        let Some(it) = self.state.items.get(&item) else {
            return;
        };
        let open: Vec<_> = it
            .tasks
            .iter()
            .copied()
            .filter(|t| self.state.tasks.get(t).is_some_and(|t| t.is_open()))
            .collect();
        for task in open {
            self.emit(ctx, Event::TaskCancelled { task });
        }
    }

    /// A task's answer becomes its step's result.
    pub(super) fn task_answered(&mut self, ctx: &mut Ctx, task: u64) {
        let Some(t) = self.state.tasks.get(&task) else {
            return;
        };
        if t.status != TaskStatus::Decided {
            return;
        }
        let (item, i) = (t.item, t.step as usize);
        let Some(it) = self.state.items.get(&item) else {
            return;
        };
        let s = &it.steps[i];
        if s.status != Status::Waiting || s.task != Some(task) {
            return;
        }
        let mut output = match &t.kind {
            TaskKind::Approval => json!({}),
            TaskKind::AgentReview {
                proposal,
                confidence,
            } => {
                let mut o = proposal.clone();
                if let Value::Object(m) = &mut o {
                    m.insert(
                        "agent_decision".into(),
                        m.get("decision").cloned().unwrap_or(Value::Null),
                    );
                    m.insert("agent_confidence".into(), json!(confidence));
                }
                o
            }
        };
        if let Value::Object(m) = &mut output {
            m.insert("decision".into(), json!(t.decision));
            m.insert("comment".into(), json!(t.comment));
            m.insert("by".into(), json!(t.decided_by));
        }
        let attempt = s.attempt;
        let step = self.step_id(item, i);
        self.emit(
            ctx,
            Event::StepSucceeded {
                item,
                step,
                attempt,
                output,
                phase: Phase::Run,
            },
        );
        self.advance(ctx, item);
    }
}

/// What a new task looks like, before its templates are rendered.
pub(super) struct TaskSpec<'a> {
    pub kind: TaskKind,
    pub title: &'a str,
    pub details: Option<&'a str>,
    pub group: Option<String>,
    pub assignee: Option<String>,
    pub options: Vec<String>,
    pub due: Option<std::time::Duration>,
}
