//! Attempts the core moves on without their answer, and the effective attempt timeout.

use std::sync::Arc;
use std::time::Duration;

use super::state::{CompStatus, Status};
use super::{Attempt, Core, Ctx};
use crate::definition::{Step, StepKind};
use crate::types::event::{ItemId, Phase};

impl Core {
    /// How long one attempt of `kind` (the step's action or its compensation) may run:
    /// the step's own `timeout`, else the default of its kind; none for the kinds the
    /// core does itself.
    pub(super) fn attempt_timeout(&self, def: &Step, kind: &StepKind) -> Option<Duration> {
        let default = match kind {
            StepKind::Http(_) => self.timeouts.http,
            StepKind::Shell(_) => self.timeouts.shell,
            StepKind::Agent(_) => self.timeouts.agent,
            StepKind::Pass(_) | StepKind::Human(_) | StepKind::Wait(_) => return None,
        };
        Some(def.timeout.unwrap_or(default))
    }

    /// The kind an attempt of step `i` runs in `phase` (None: nothing to compensate).
    pub(super) fn phase_kind(def: &Step, phase: Phase) -> Option<&StepKind> {
        match phase {
            Phase::Run => Some(&def.kind),
            Phase::Compensate => def.compensate.as_deref(),
        }
    }

    /// Step `i`'s attempt in `phase` is being moved on without its answer: if it is
    /// running, its work is to end.
    pub(super) fn abort_attempt(&self, ctx: &mut Ctx, item: ItemId, i: usize, phase: Phase) {
        let Some(it) = self.state.items.get(&item) else {
            return;
        };
        let (Some(def), Some(s)) = (it.wf.steps.get(i), it.steps.get(i)) else {
            return;
        };
        let attempt = match phase {
            Phase::Run if s.status == Status::Running => s.attempt,
            Phase::Compensate if s.comp == CompStatus::Running => s.comp_attempt,
            _ => return,
        };
        ctx.abort.push(Attempt {
            item,
            step: Arc::from(def.id.as_str()),
            attempt,
            phase,
        });
    }

    /// The item is about to end: every attempt of it still running is to end too.
    pub(super) fn abort_item(&self, ctx: &mut Ctx, item: ItemId) {
        let Some(it) = self.state.items.get(&item) else {
            return;
        };
        for i in 0..it.steps.len() {
            self.abort_attempt(ctx, item, i, Phase::Run);
            self.abort_attempt(ctx, item, i, Phase::Compensate);
        }
    }
}
