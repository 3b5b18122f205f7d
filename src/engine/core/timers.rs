//! Time-driven decisions: backoffs that end, attempts and steps that time out, waits,
//! SLA thresholds, breaches and escalations. Each timer re-checks its condition, so a
//! stale timer (the step already finished) does nothing.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::state::{CompStatus, Status, Timer};
use super::{Core, Ctx};
use crate::types::event::{Event, ItemId, Phase, StepError, StepErrorKind, TaskId, WaitOn};

impl Core {
    /// When the next timer is due, if any.
    pub fn next_timer(&self) -> Option<DateTime<Utc>> {
        self.state.timers.first().map(|(at, _)| *at)
    }

    /// Fire every timer due at or before `ctx.now`.
    pub fn fire_timers(&mut self, ctx: &mut Ctx) {
        while let Some(&(at, timer)) = self.state.timers.first() {
            if at > ctx.now {
                break;
            }
            self.state.timers.pop_first();
            ctx.as_engine();
            let item = match timer {
                Timer::Escalate { task, .. } | Timer::TaskDue { task } => {
                    self.state.tasks.get(&task).map(|t| t.item)
                }
                Timer::Start { item, .. }
                | Timer::AttemptTimeout { item, .. }
                | Timer::Deadline { item, .. }
                | Timer::Wait { item, .. }
                | Timer::Sla { item } => Some(item),
            };
            self.contained(ctx, item, |core, ctx| core.fire(ctx, timer));
        }
    }

    fn fire(&mut self, ctx: &mut Ctx, timer: Timer) {
        match timer {
            Timer::Start {
                item,
                step,
                attempt,
            } => self.fire_start(ctx, item, step as usize, attempt),
            Timer::AttemptTimeout {
                item,
                step,
                attempt,
            } => self.fire_timeout(ctx, item, step as usize, attempt),
            Timer::Deadline { item, step } => self.fire_deadline(ctx, item, step as usize),
            Timer::Wait {
                item,
                step,
                attempt,
            } => self.fire_wait(ctx, item, step as usize, attempt),
            Timer::Sla { item } => self.fire_sla(ctx, item),
            Timer::Escalate { task, level } => self.fire_escalation(ctx, task, level),
            Timer::TaskDue { task } => {
                let due = self
                    .state
                    .tasks
                    .get(&task)
                    .is_some_and(|t| t.is_open() && !t.overdue);
                if due {
                    self.emit(ctx, Event::TaskOverdue { task });
                }
            }
        }
    }

    fn live_step(&self, item: ItemId, i: usize) -> Option<(Status, CompStatus, u32, u32)> {
        let it = self.state.items.get(&item)?;
        if it.is_final() {
            return None;
        }
        let s = it.steps.get(i)?;
        Some((s.status, s.comp, s.attempt, s.comp_attempt))
    }

    fn fire_start(&mut self, ctx: &mut Ctx, item: ItemId, i: usize, attempt: u32) {
        let Some((status, comp, a, ca)) = self.live_step(item, i) else {
            return;
        };
        if status == Status::Scheduled && a == attempt {
            self.start(ctx, item, i, attempt, Phase::Run);
        } else if comp == CompStatus::Scheduled && ca == attempt {
            self.start(ctx, item, i, attempt, Phase::Compensate);
        } else {
            return;
        }
        self.advance_after(ctx, item, i);
    }

    fn fire_timeout(&mut self, ctx: &mut Ctx, item: ItemId, i: usize, attempt: u32) {
        let Some((status, comp, a, ca)) = self.live_step(item, i) else {
            return;
        };
        let phase = if status == Status::Running && a == attempt {
            Phase::Run
        } else if comp == CompStatus::Running && ca == attempt {
            Phase::Compensate
        } else {
            return;
        };
        let def = &self.state.items[&item].wf.steps[i];
        let timeout = Self::phase_kind(def, phase)
            .and_then(|kind| self.attempt_timeout(def, kind))
            .unwrap_or_default();
        self.abort_attempt(ctx, item, i, phase);
        let err = StepError::new(
            StepErrorKind::Timeout,
            format!(
                "attempt {attempt} ran past its timeout of {}",
                humantime::format_duration(timeout)
            ),
        );
        self.fail(ctx, item, i, attempt, phase, err);
        self.advance_after(ctx, item, i);
    }

    fn fire_deadline(&mut self, ctx: &mut Ctx, item: ItemId, i: usize) {
        let Some((status, _, attempt, _)) = self.live_step(item, i) else {
            return;
        };
        if !matches!(
            status,
            Status::Scheduled | Status::Running | Status::Waiting
        ) {
            return;
        }
        let it = &self.state.items[&item];
        let deadline = it.wf.steps[i].deadline.unwrap_or_default();
        // A stale timer: an operator retry restarted the step's clock.
        let due = it.steps[i]
            .first_started
            .map(|f| super::state::later(f, deadline));
        if due.is_none_or(|d| d > ctx.now) {
            return;
        }
        if let Some(task) = it.steps[i]
            .task
            .filter(|t| self.state.tasks.get(t).is_some_and(|t| t.is_open()))
        {
            self.emit(ctx, Event::TaskCancelled { task });
        }
        self.abort_attempt(ctx, item, i, Phase::Run);
        let err = StepError::new(
            StepErrorKind::Deadline,
            format!(
                "step ran past its deadline of {}",
                humantime::format_duration(deadline)
            ),
        );
        self.fail(ctx, item, i, attempt, Phase::Run, err);
        self.advance_after(ctx, item, i);
    }

    fn fire_wait(&mut self, ctx: &mut Ctx, item: ItemId, i: usize, attempt: u32) {
        let Some((status, _, a, _)) = self.live_step(item, i) else {
            return;
        };
        if status != Status::Waiting || a != attempt {
            return;
        }
        let waiting = self.state.items[&item].steps[i].waiting.as_deref().cloned();
        match waiting {
            Some(WaitOn::Timer { until }) => {
                let output = json!({ "waited_until": until.to_rfc3339() });
                self.succeed(ctx, item, i, attempt, Phase::Run, output);
            }
            Some(WaitOn::Signal { name, .. }) => {
                let err = StepError::new(
                    StepErrorKind::Signal,
                    format!("no signal '{name}' arrived in time"),
                );
                self.fail(ctx, item, i, attempt, Phase::Run, err);
            }
            _ => return,
        }
        self.advance_after(ctx, item, i);
    }

    fn fire_sla(&mut self, ctx: &mut Ctx, item: ItemId) {
        let Some(it) = self.state.items.get(&item) else {
            return;
        };
        let (Some(sla), Some(due)) = (it.wf.sla.clone(), it.sla_due) else {
            return;
        };
        if it.is_final() || it.sla_breached {
            return;
        }
        let total = due - it.started_at;
        let started = it.started_at;
        let crossed: Vec<u8> = sla
            .warn
            .iter()
            .copied()
            .filter(|&p| p > it.sla_warned && started + total * i32::from(p) / 100 <= ctx.now)
            .collect();
        let fired = it.sla_escalations as usize;
        for percent in crossed {
            self.emit(ctx, Event::SlaWarning { item, percent });
        }
        for (k, e) in sla.escalate.iter().enumerate().skip(fired) {
            if super::state::later(started, e.after) > ctx.now {
                break;
            }
            self.emit(
                ctx,
                Event::SlaEscalated {
                    item,
                    level: k as u32 + 1,
                    to: e.to.clone(),
                },
            );
        }
        if due <= ctx.now {
            self.emit(ctx, Event::SlaBreached { item });
        }
    }

    fn fire_escalation(&mut self, ctx: &mut Ctx, task: TaskId, level: u32) {
        let Some(t) = self.state.tasks.get(&task) else {
            return;
        };
        if !t.is_open() || t.escalation_level + 1 != level {
            return;
        }
        let levels = self.state.task_escalations(t);
        let target = levels
            .get(level as usize - 1)
            .or_else(|| levels.last().filter(|e| e.repeat.is_some()));
        if let Some(e) = target {
            let to = e.to.clone();
            self.emit(ctx, Event::TaskEscalated { task, level, to });
        }
    }
}
