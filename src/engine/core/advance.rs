//! Moving an item forward: which steps are ready, starting them, what a success or a
//! failure leads to (retry, incident, compensation), and when the item ends.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::state::{CompStatus, Status};
use super::{Core, Ctx};
use crate::definition::template::{clip, eval_when, render_string};
use crate::definition::{OnFailure, StepKind, WaitSpec};
use crate::types::event::{Event, ItemId, Phase, StepError, StepErrorKind, TaskKind, WaitOn};
use crate::types::exchange::Exchange;
use crate::types::view::TaskStatus;

/// The attempt an executor answered for.
#[derive(Debug, Clone, Copy)]
pub(super) struct At {
    pub item: ItemId,
    pub i: usize,
    pub attempt: u32,
    pub phase: Phase,
}

/// What a pending step should do now.
enum Readiness {
    NotYet,
    Skip(String),
    Run,
    Broken(StepError),
}

/// The steps one pass over an item looks at, in definition order.
enum Pass {
    /// Every step from this index on.
    Every(usize),
    /// Only these: steps that may have become ready.
    Some(BTreeSet<usize>),
}

impl Pass {
    fn next(&mut self, len: usize) -> Option<usize> {
        match self {
            Pass::Every(i) => (*i < len).then(|| {
                *i += 1;
                *i - 1
            }),
            Pass::Some(set) => set.pop_first(),
        }
    }

    /// A step that may have become ready after the pass's position is looked at in this
    /// pass (a pass over every step gets there anyway).
    fn add(&mut self, i: usize) {
        if let Pass::Some(set) = self {
            set.insert(i);
        }
    }
}

impl Core {
    /// Drive an item as far as it can go right now, looking at every step first (for
    /// callers that do not say what changed).
    pub(super) fn advance(&mut self, ctx: &mut Ctx, item: ItemId) {
        self.drive(ctx, item, Pass::Every(0));
    }

    /// Drive an item after step `i` changed: only the steps that need it can have
    /// become ready, so that is where the first pass looks. (The drive after the
    /// change before left nothing ready; debug builds check that after every drive.)
    pub(super) fn advance_after(&mut self, ctx: &mut Ctx, item: ItemId, i: usize) {
        let first = match self.state.items.get(&item) {
            Some(it) => it.wf.dependents(i).iter().copied().collect(),
            None => BTreeSet::new(),
        };
        self.drive(ctx, item, Pass::Some(first));
    }

    /// Passes in definition order until nothing changes. A pending step only becomes
    /// ready when one of its needs finishes, so a pass looks only at the dependents of
    /// steps that finished: those after the step that finished in the same pass, those
    /// before it in the next. That emits the same records in the same order as passes
    /// over every step did (a test compares the two), at the cost of each step's
    /// neighbours rather than of the whole workflow per pass, which made a chain's cost
    /// grow with the square of its length.
    fn drive(&mut self, ctx: &mut Ctx, item: ItemId, first: Pass) {
        ctx.as_engine();
        let mut pass = first;
        #[cfg(test)]
        if tests::every_step_each_pass() {
            pass = Pass::Every(0);
        }
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
            let mut next = BTreeSet::new();
            if !self.advance_once(ctx, item, pass, &mut next) {
                break;
            }
            pass = Pass::Some(next);
            #[cfg(test)]
            if tests::every_step_each_pass() {
                pass = Pass::Every(0);
            }
        }
        #[cfg(debug_assertions)]
        self.assert_nothing_ready(item);
        self.maybe_complete(ctx, item);
    }

    /// One pass; true when anything changed. Steps that may have become ready behind
    /// the pass's position go to `next`.
    fn advance_once(
        &mut self,
        ctx: &mut Ctx,
        item: ItemId,
        mut pass: Pass,
        next: &mut BTreeSet<usize>,
    ) -> bool {
        let mut changed = false;
        let Some(wf) = self.state.items.get(&item).map(|it| it.wf.clone()) else {
            return false;
        };
        while let Some(i) = pass.next(wf.steps.len()) {
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
            if self.finished(item, i) {
                for &d in wf.dependents(i) {
                    if d > i {
                        pass.add(d);
                    } else {
                        next.insert(d);
                    }
                }
            }
        }
        if let Some(j) = self.consume_signals(ctx, item) {
            changed = true;
            next.extend(wf.dependents(j).iter().copied());
        }
        changed
    }

    /// Whether step `i` has succeeded or been skipped (what its dependents wait for).
    fn finished(&self, item: ItemId, i: usize) -> bool {
        self.state
            .items
            .get(&item)
            .is_some_and(|it| matches!(it.steps[i].status, Status::Succeeded | Status::Skipped))
    }

    /// After `drive`, no pending step of a live item has all of its needs finished:
    /// had one been missed, it would wait forever.
    #[cfg(debug_assertions)]
    fn assert_nothing_ready(&self, item: ItemId) {
        let Some(it) = self.state.items.get(&item) else {
            return;
        };
        if it.is_final() || it.compensating {
            return;
        }
        for (i, s) in it.steps.iter().enumerate() {
            let ready =
                s.status == Status::Pending
                    && it.wf.needs_of(i).iter().all(|&j| {
                        matches!(it.steps[j].status, Status::Succeeded | Status::Skipped)
                    });
            debug_assert!(
                !ready,
                "item {item}: step {} was left ready",
                it.wf.steps[i].id
            );
        }
    }

    fn readiness(&self, item: ItemId, i: usize) -> Readiness {
        #[cfg(test)]
        tests::count_readiness();
        let it = &self.state.items[&item];
        let def = &it.wf.steps[i];
        let mut skipped_need = None;
        for &j in it.wf.needs_of(i) {
            match it.steps[j].status {
                Status::Succeeded => {}
                Status::Skipped => skipped_need = Some(&it.wf.steps[j].id),
                _ => return Readiness::NotYet,
            }
        }
        match &def.when {
            None => match skipped_need {
                Some(n) => Readiness::Skip(format!("needs {n}, which was skipped")),
                None => Readiness::Run,
            },
            Some(expr) => match eval_when(expr, &self.scope_of(item, i)) {
                Ok(true) => Readiness::Run,
                Ok(false) => Readiness::Skip(format!("when `{}` was false", clip(expr))),
                Err(e) => Readiness::Broken(StepError::new(
                    StepErrorKind::Template,
                    format!("when `{}`: {e}", clip(expr)),
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
        let Some(kind) = Self::phase_kind(&def, phase).cloned() else {
            return;
        };
        let timeout_at = self
            .attempt_timeout(&def, &kind)
            .map(|t| super::state::later(ctx.now, t));
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
            StepKind::Wait(w) => self.start_wait(ctx, item, i, attempt, w, def.timeout),
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
        i: usize,
        attempt: u32,
        w: &WaitSpec,
        timeout: Option<std::time::Duration>,
    ) -> Result<(), StepError> {
        let on = match w {
            WaitSpec::Duration(d) => WaitOn::Timer {
                until: super::state::later(ctx.now, *d),
            },
            WaitSpec::Until(t) => {
                let text = render_string(t, &self.scope_of(item, i))
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
                until: t.or(timeout).map(|t| super::state::later(ctx.now, t)),
            },
        };
        self.emit(
            ctx,
            Event::StepWaiting {
                item,
                step: self.step_id(item, i),
                attempt,
                on,
            },
        );
        Ok(())
    }

    /// The first wait step whose signal has arrived succeeds with the signal's data;
    /// returns that step.
    fn consume_signals(&mut self, ctx: &mut Ctx, item: ItemId) -> Option<usize> {
        let it = self.state.items.get(&item)?;
        let mut ready = None;
        for &i in it.wf.signal_waits() {
            let s = &it.steps[i];
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
        let (i, attempt, output) = ready?;
        self.succeed(ctx, item, i, attempt, Phase::Run, output);
        Some(i)
    }

    pub(super) fn open_task(
        &mut self,
        ctx: &mut Ctx,
        item: ItemId,
        i: usize,
        attempt: u32,
        spec: TaskSpec,
    ) -> Result<(), StepError> {
        let scope = self.scope_of(item, i);
        let render = |what: &str, t: &str| {
            render_string(t, &scope)
                .map_err(|e| StepError::new(StepErrorKind::Template, format!("{what}: {e}")))
        };
        // Shown on terminals: a title is one line, details keep their lines, and
        // neither keeps a control character or a bidi override from the data.
        let title = super::names::one_line(&render("title", spec.title)?);
        let details = spec
            .details
            .map(|d| render("details", d))
            .transpose()?
            .map(|d| crate::text::printable_lines(&d).into_owned());
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
                due: spec.due.map(|d| super::state::later(ctx.now, d)),
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
        let at = At {
            item,
            i,
            attempt,
            phase,
        };
        self.succeed_with(ctx, at, output, None);
    }

    /// [`succeed`](Self::succeed), journaling the attempt's HTTP exchange with it. An
    /// agent's answer sent to review waits without it (the task holds the proposal).
    pub(super) fn succeed_with(
        &mut self,
        ctx: &mut Ctx,
        at: At,
        output: Value,
        exchange: Option<Box<Exchange>>,
    ) {
        let At {
            item,
            i,
            attempt,
            phase,
        } = at;
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
                    self.fail_with(ctx, at, e, exchange);
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
                exchange,
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
        let at = At {
            item,
            i,
            attempt,
            phase,
        };
        self.fail_with(ctx, at, error, None);
    }

    /// [`fail`](Self::fail), journaling the attempt's HTTP exchange with the failure.
    pub(super) fn fail_with(
        &mut self,
        ctx: &mut Ctx,
        at: At,
        error: StepError,
        exchange: Option<Box<Exchange>>,
    ) {
        let At {
            item,
            i,
            attempt,
            phase,
        } = at;
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
                exchange,
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
            StepErrorKind::Template
                | StepErrorKind::Deadline
                | StepErrorKind::Limit
                | StepErrorKind::Internal
        ) && !policy
            .non_retryable
            .iter()
            .any(|n| n == error.kind.name() || Some(n) == code.as_ref());
        if retryable && used < policy.attempts {
            let at = super::state::later(ctx.now, policy.delay(attempt + 1, (ctx.rng)()));
            let within_deadline = match (def.deadline, first_started) {
                (Some(d), Some(f)) => at < super::state::later(f, d),
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
                self.abort_item(ctx, item);
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
        // From the end: later steps tend to finish last, so an item still under way is
        // usually told by its last step rather than by walking all that finished.
        let done = !it.is_final()
            && !it.compensating
            && it
                .steps
                .iter()
                .rev()
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
        let output = decided_output(t);
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
                exchange: None,
            },
        );
        self.advance_after(ctx, item, i);
    }
}

/// What a decided task makes its step's output. A human step's: the decision, comment,
/// who, and the form's `fields`. An agent review's: the proposal, as the reviewer
/// corrected it, so `decision` stays the agent's (or the corrected) answer when the
/// review approves it, and becomes `rejected` when it does not; `review` says which.
fn decided_output(t: &super::state::Task) -> Value {
    let mut output = match &t.kind {
        TaskKind::Approval => {
            let mut o = json!({});
            if let Some(f) = &t.fields {
                o["fields"] = Value::Object(f.clone());
            }
            o
        }
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
                let corrected = t.fields.clone().unwrap_or_default();
                let names: Vec<&String> = corrected.keys().collect();
                m.insert("corrected".into(), json!(names));
                for (k, v) in &corrected {
                    m.insert(k.clone(), v.clone());
                }
                m.insert("review".into(), json!(t.decision));
            }
            o
        }
    };
    if let Value::Object(m) = &mut output {
        let approved_review = matches!(t.kind, TaskKind::AgentReview { .. })
            && t.decision.as_deref() == Some("approved")
            && m.get("decision").is_some_and(|d| !d.is_null());
        if !approved_review {
            m.insert("decision".into(), json!(t.decision));
        }
        m.insert("comment".into(), json!(t.comment));
        m.insert("by".into(), json!(t.decided_by));
    }
    output
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

#[cfg(test)]
pub(super) mod tests {
    use std::cell::Cell;

    use proptest::prelude::*;
    use serde_json::{Value, json};

    use crate::definition::{OnFailure, PassSpec, StepKind, WaitSpec};
    use crate::engine::core::Work;
    use crate::engine::core::tests::{H, err, http, human, step, wait, with, workflow};
    use crate::types::command::Command;
    use crate::types::event::{Event, StepErrorKind};
    use crate::types::view::ItemStatus;

    thread_local! {
        static READINESS: Cell<u64> = const { Cell::new(0) };
        static EVERY_STEP: Cell<bool> = const { Cell::new(false) };
    }

    /// Whether `drive` passes over every step each time, as it did before it followed
    /// dependents: the reference the incremental passes are compared with.
    pub fn every_step_each_pass() -> bool {
        EVERY_STEP.with(Cell::get)
    }

    /// Counts how often a step's readiness is looked at (each test runs on its thread).
    pub fn count_readiness() {
        READINESS.with(|c| c.set(c.get() + 1));
    }

    fn readiness_checks() -> u64 {
        READINESS.with(Cell::get)
    }

    fn pass(id: &str, needs: &[&str], output: Value) -> crate::definition::Step {
        step(id, StepKind::Pass(PassSpec { output }), needs)
    }

    /// `s0 <- s1 <- ... <- s{n-1}`, each passing on what the one before it made.
    fn chain(n: usize) -> Vec<crate::definition::Step> {
        (0..n)
            .map(|i| match i {
                0 => pass("s0", &[], json!({ "n": "{{ input.n }}" })),
                _ => pass(
                    &format!("s{i}"),
                    &[&format!("s{}", i - 1)],
                    json!({ "n": format!("{{{{ steps.s{}.output.n }}}}", i - 1) }),
                ),
            })
            .collect()
    }

    /// A task's title and details are shown on terminals: rendered from data, they
    /// keep no control characters or bidi overrides, and the title is one line.
    #[test]
    fn task_text_from_data_is_made_safe_to_show() {
        let hostile = "INV\u{1b}]0;owned\u{7}\n7\u{202e}gpj.exe";
        let steps = vec![human("h", &[], |h| {
            h.title = "Approve {{ input.t }}".into();
            h.details = Some("Line 1\n{{ input.t }}".into());
        })];
        let mut h = H::new(vec![workflow("t", steps)]);
        h.start("t", json!({ "t": hostile }));
        let task = h.core.state.tasks.values().next().expect("a task");
        assert_eq!(task.title, "Approve INV ]0;owned 7 gpj.exe");
        assert_eq!(
            task.details.as_deref(),
            Some("Line 1\nINV ]0;owned \n7 gpj.exe"),
            "details keep their lines"
        );
    }

    /// Deliver every pending `pass` result until nothing is left to run.
    fn run_passes(h: &mut H) {
        while let Some(d) = h.pending.pop() {
            let Work::Immediate(output) = d.work.clone() else {
                panic!("{} is not a pass step", d.step);
            };
            h.deliver(&d, Ok(output));
        }
    }

    #[test]
    fn a_long_chain_looks_at_each_step_about_twice() {
        let n = 1000;
        let mut h = H::new(vec![workflow("chain", chain(n))]);
        let before = readiness_checks();
        let item = h.start("chain", json!({ "n": 7 }));
        run_passes(&mut h);
        assert_eq!(h.status(item), ItemStatus::Completed);
        let last = h.detail(item).unwrap().steps[n - 1].output.clone();
        assert_eq!(last, Some(json!({ "n": 7 })));
        let started = h.count(|e| matches!(e, Event::StepStarted { .. }));
        assert_eq!(started, n);
        // Once each when the item starts (every step is looked at), then once when the
        // step before it succeeds; passes over every step cost about n * n / 2.
        let checks = readiness_checks() - before;
        assert_eq!(checks, 2 * n as u64 - 1, "readiness checks");
        h.replayed();
    }

    #[test]
    fn a_skip_cascades_back_through_a_chain_in_one_pass_per_step() {
        // Defined backwards: s{k} needs s{k+1}, so each skip lands behind the pass.
        let n = 300;
        let steps: Vec<_> = (0..n)
            .map(|k| {
                let needs: Vec<String> = (k + 1 < n)
                    .then(|| format!("s{}", k + 1))
                    .into_iter()
                    .collect();
                let needs: Vec<&str> = needs.iter().map(String::as_str).collect();
                let s = pass(&format!("s{k}"), &needs, json!({}));
                if k + 1 == n {
                    with(s, |s| s.when = Some("input.go".into()))
                } else {
                    s
                }
            })
            .collect();
        let mut h = H::new(vec![workflow("back", steps)]);
        let before = readiness_checks();
        let item = h.start("back", json!({ "go": false }));
        assert_eq!(h.status(item), ItemStatus::Completed);
        let skipped: Vec<String> = h
            .events()
            .filter_map(|e| match e {
                Event::StepSkipped { step, .. } => Some(step.clone()),
                _ => None,
            })
            .collect();
        let expected: Vec<String> = (0..n).rev().map(|k| format!("s{k}")).collect();
        assert_eq!(skipped, expected);
        assert_eq!(readiness_checks() - before, 2 * n as u64 - 1);
    }

    #[test]
    fn the_scope_holds_only_the_steps_a_step_reads() {
        let mut steps = chain(4);
        steps.push(pass(
            "all",
            &["s3"],
            json!({ "count": "{{ steps | length }}" }),
        ));
        let mut h = H::new(vec![workflow("chain", steps)]);
        let item = h.start("chain", json!({ "n": 1 }));
        let keys = |h: &H, i: usize| -> Vec<String> {
            let scope = h.core.scope_of(item, i);
            scope["steps"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect()
        };
        assert_eq!(keys(&h, 0), Vec::<String>::new());
        assert_eq!(keys(&h, 2), ["s1"]);
        assert_eq!(keys(&h, 4), ["s0", "s1", "s2", "s3", "all"]);
        run_passes(&mut h);
        assert_eq!(h.status(item), ItemStatus::Completed);
        let out = h.detail(item).unwrap().steps[4].output.clone();
        assert_eq!(out, Some(json!({ "count": 5 })));
    }

    /// Needs that point back up the file, a `when:` that skips, a signal wait and a
    /// human decision: every way a step becomes ready.
    fn tangled(name: &str, on_failure: OnFailure) -> crate::definition::Workflow {
        let mut wf = workflow(
            name,
            vec![
                http("z", &["y"]),
                with(http("y", &["x"]), |s| s.when = Some("input.go".into())),
                http("x", &[]),
                wait(
                    "s",
                    &["x"],
                    WaitSpec::Signal {
                        name: "ping".into(),
                        timeout: None,
                    },
                ),
                human("h", &["x"], |_| {}),
                with(http("j", &["z", "s", "h"]), |s| {
                    s.when = Some("steps.h.decision == 'approved'".into());
                    s.compensate = crate::engine::core::tests::undo("j");
                }),
                http("k", &["j"]),
                http("w", &["k", "y"]),
            ],
        );
        wf.on_failure = on_failure;
        wf
    }

    #[derive(Debug, Clone)]
    enum Op {
        Start(bool),
        Complete(usize, bool),
        Skip(usize, usize),
        Retry(usize, Option<usize>),
        Decide(usize, bool),
        Signal(usize),
        Compensate(usize),
        Wait(u64),
    }

    const STEPS: [&str; 8] = ["z", "y", "x", "s", "h", "j", "k", "w"];

    fn op() -> impl Strategy<Value = Op> {
        let i = any::<usize>;
        prop_oneof![
            2 => any::<bool>().prop_map(Op::Start),
            8 => (i(), proptest::bool::weighted(0.8)).prop_map(|(i, ok)| Op::Complete(i, ok)),
            2 => (i(), 0..STEPS.len()).prop_map(|(i, s)| Op::Skip(i, s)),
            2 => (i(), proptest::option::of(0..STEPS.len())).prop_map(|(i, f)| Op::Retry(i, f)),
            2 => (i(), any::<bool>()).prop_map(|(i, a)| Op::Decide(i, a)),
            2 => i().prop_map(Op::Signal),
            1 => i().prop_map(Op::Compensate),
            1 => (1u64..30).prop_map(Op::Wait),
        ]
    }

    fn apply(h: &mut H, op: &Op) {
        let items: Vec<u64> = h.core.state.items.keys().copied().collect();
        let tasks: Vec<u64> = h.core.state.tasks.keys().copied().collect();
        let pick = |v: &[u64], i: usize| (!v.is_empty()).then(|| v[i % v.len()]);
        match *op {
            Op::Start(comp) => {
                let wf = if comp { "comp" } else { "inc" };
                h.start(wf, json!({ "go": !items.len().is_multiple_of(3) }));
            }
            Op::Complete(i, ok) if !h.pending.is_empty() => {
                let d = h.pending.remove(i % h.pending.len());
                let result = if ok {
                    Ok(json!({ "i": i % 5 }))
                } else {
                    Err(err(StepErrorKind::Connect))
                };
                h.deliver(&d, result);
            }
            Op::Complete(..) => {}
            Op::Skip(i, s) => {
                if let Some(item) = pick(&items, i) {
                    let step = STEPS[s].to_string();
                    let _ = h.cmd("op", Command::Skip { item, step });
                }
            }
            Op::Retry(i, from) => {
                if let Some(item) = pick(&items, i) {
                    let from = from.map(|s| STEPS[s].to_string());
                    let _ = h.cmd("op", Command::Retry { item, from });
                }
            }
            Op::Decide(i, approve) => {
                if let Some(task) = pick(&tasks, i) {
                    let decision = if approve { "approved" } else { "rejected" }.into();
                    let cmd = Command::Decide {
                        task,
                        decision,
                        comment: None,
                        fields: None,
                    };
                    let _ = h.cmd("op", cmd);
                }
            }
            Op::Signal(i) => {
                if let Some(item) = pick(&items, i) {
                    let cmd = Command::Signal {
                        item,
                        name: "ping".into(),
                        data: json!({ "i": i % 3 }),
                    };
                    let _ = h.cmd("op", cmd);
                }
            }
            Op::Compensate(i) => {
                if let Some(item) = pick(&items, i) {
                    let _ = h.cmd("op", Command::Compensate { item });
                }
            }
            Op::Wait(s) => {
                h.advance(s);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

        /// Following dependents emits exactly the records that passes over every step do.
        #[test]
        fn passes_over_dependents_emit_what_passes_over_every_step_do(
            ops in proptest::collection::vec(op(), 1..80)
        ) {
            let wfs = || {
                vec![
                    tangled("inc", OnFailure::Incident),
                    tangled("comp", OnFailure::Compensate),
                ]
            };
            let (mut new, mut old) = (H::new(wfs()), H::new(wfs()));
            for op in &ops {
                // The logs are equal so far; compare what this operation added.
                let from = new.log.len();
                apply(&mut new, op);
                EVERY_STEP.with(|c| c.set(true));
                apply(&mut old, op);
                EVERY_STEP.with(|c| c.set(false));
                let added = old.log.get(from..).unwrap_or(&[]);
                prop_assert_eq!(&new.log[from..], added, "after {:?}", op);
                prop_assert_eq!(new.pending_steps(), old.pending_steps());
            }
        }
    }
}
