//! The pure core of the engine: given its state, an input and `now`, it decides which
//! events happen (and applies them), and which jobs the runtime must dispatch once the
//! events are durable. No clock, no I/O, no randomness of its own.

mod advance;
mod authority;
mod commands;
mod deploy;
mod directory;
pub mod guard;
pub mod names;
mod scope;
pub mod snapshot;
pub mod state;
mod supersede;
mod timers;
mod views;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::definition::{self, Workflow};
use crate::types::event::{Event, ItemId, Phase, Record};
use crate::types::identity::Who;
use crate::types::job::{Job, Outcome, StepTimeouts};
use crate::types::secrets::Secrets;
use crate::types::tally::Tally;
use crate::types::view::{EndedItem, ItemDetail};

pub use commands::refuse_ended;
pub use state::State;

/// Work the runtime carries out after the records that asked for it are committed.
#[derive(Debug, Clone, PartialEq)]
pub struct Dispatch {
    pub item: ItemId,
    pub step: Arc<str>,
    pub attempt: u32,
    pub phase: Phase,
    pub work: Work,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    /// Outside work for an executor.
    Job(Job),
    /// A `pass` step: its output is already rendered; it completes on the next turn.
    Immediate(Value),
}

/// A running attempt the core has moved on without its answer (timed out, past its
/// deadline, skipped, its item ended): the runtime ends its work once the records that
/// say so are committed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attempt {
    pub item: ItemId,
    pub step: Arc<str>,
    pub attempt: u32,
    pub phase: Phase,
}

/// One turn of the core: the time, the actor, randomness, and what was produced.
pub struct Ctx<'a> {
    pub now: DateTime<Utc>,
    actor: String,
    via: Option<String>,
    reason: Option<String>,
    rng: &'a mut dyn FnMut() -> f64,
    pub records: Vec<Record>,
    pub dispatch: Vec<Dispatch>,
    /// Attempts whose work must end (after the commit).
    pub abort: Vec<Attempt>,
    /// Items that ended this turn, for the store to keep beside the records.
    pub ended: Vec<EndedItem>,
    /// The hash of a fresh token the runtime drew for a command that issues one.
    pub token: Option<String>,
}

impl<'a> Ctx<'a> {
    pub fn new(now: DateTime<Utc>, rng: &'a mut dyn FnMut() -> f64) -> Self {
        Ctx {
            now,
            actor: ENGINE.to_string(),
            via: None,
            reason: None,
            rng,
            records: Vec::new(),
            dispatch: Vec::new(),
            abort: Vec::new(),
            ended: Vec::new(),
            token: None,
        }
    }

    /// Attribute the next events to an operator (until `as_engine`).
    pub fn as_actor(&mut self, who: &Who, reason: Option<String>) {
        self.actor = who.actor().to_string();
        self.via = who.via().map(str::to_string);
        self.reason = reason;
    }

    fn as_engine(&mut self) {
        self.actor = ENGINE.to_string();
        self.via = None;
        self.reason = None;
    }
}

pub use crate::types::event::ENGINE;

/// The state plus what decisions need besides it (the template `env`, the default
/// attempt timeouts).
pub struct Core {
    pub state: State,
    env: Value,
    timeouts: StepTimeouts,
    /// Read by templates as `secrets.*`, masked out of every event; never journaled.
    secrets: Secrets,
    /// `secrets` as the template scope holds it.
    secrets_scope: Value,
}

/// How a journaled workflow source becomes a model again during replay: as it was
/// accepted, even where today's validator is stricter (an upgrade that tightened a
/// rule must not lose the items that run on it).
fn parse_source(source: &str) -> Result<Workflow, String> {
    match definition::parse_recorded(source) {
        Ok((wf, warnings)) => {
            if let Some(w) = warnings.first() {
                tracing::warn!(
                    "workflow {} v{} replays as recorded, though this tempi would refuse it now: {w}",
                    wf.name,
                    wf.version
                );
            }
            Ok(wf)
        }
        Err(diags) => Err(diags
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("; ")),
    }
}

impl Core {
    pub fn new(env: Value) -> Core {
        Core {
            state: State::default(),
            env,
            timeouts: StepTimeouts::default(),
            secrets: Secrets::default(),
            secrets_scope: Value::Object(Default::default()),
        }
    }

    /// How long attempts of steps that name no `timeout` may run (the defaults until set).
    pub fn set_step_timeouts(&mut self, timeouts: StepTimeouts) {
        self.timeouts = timeouts;
    }

    /// Give templates `secrets.*`, and mask those values out of every event from now on.
    pub fn set_secrets(&mut self, secrets: Secrets) {
        self.secrets_scope = secrets.scope_value();
        self.secrets = secrets;
    }

    /// Take `rebuilt`'s state, keeping this core's settings (what is not journaled): a
    /// core rebuilt from the journal after a failed commit replaces this one.
    pub fn replace_state(&mut self, rebuilt: Core) {
        self.state = rebuilt.state;
    }

    /// Replay one journal record. Items it ends leave memory; the store already has them.
    pub fn replay(&mut self, rec: &Record) {
        self.state.apply(rec, &parse_source);
        self.state.ended.clear();
        // The store's rollups already hold what these records counted.
        if !self.state.tally.is_empty() {
            self.state.tally = Tally::default();
        }
    }

    /// What applied records counted since the last call: for the store to add to its
    /// rollups in the commit of those records.
    pub fn take_tally(&mut self) -> Tally {
        std::mem::take(&mut self.state.tally)
    }

    /// Replay one record and hand over the items it ended (filling a store that has no
    /// record of them yet, as after an upgrade).
    pub fn replay_collect(&mut self, rec: &Record, ended: &mut Vec<EndedItem>) {
        self.state.apply(rec, &parse_source);
        ended.append(&mut self.state.ended);
    }

    fn emit(&mut self, ctx: &mut Ctx, event: Event) {
        let (event, reason) = self.masked(event, ctx.reason.clone());
        let item = event.item().or_else(|| {
            let task = event.task()?;
            self.state.tasks.get(&task).map(|t| t.item)
        });
        let rec = Record {
            seq: self.state.seq + 1,
            at: ctx.now,
            item,
            actor: ctx.actor.clone(),
            via: ctx.via.clone(),
            reason,
            event,
        };
        self.state.apply(&rec, &parse_source);
        let names = self.names_due(&rec.event);
        ctx.records.push(rec);
        ctx.ended.append(&mut self.state.ended);
        if let Some((item, after)) = names {
            self.name_item(ctx, item, after);
        }
    }

    /// The event and reason with every secret masked, before they are applied and
    /// journaled (so the state is what the journal says); an exchange's cut texts also
    /// lose a secret's start the cut left at their end. A workflow's source is its
    /// definition, not data: masking it would change the workflow.
    fn masked(&self, event: Event, reason: Option<String>) -> (Event, Option<String>) {
        if self.secrets.is_empty() || matches!(event, Event::WorkflowLoaded { .. }) {
            return (event, reason);
        }
        let reason = reason.map(|r| self.secrets.mask_str(&r).into_owned());
        let mut event = self.secrets.mask(event);
        if let Event::StepSucceeded {
            exchange: Some(x), ..
        }
        | Event::StepFailed {
            exchange: Some(x), ..
        } = &mut event
        {
            x.cut_texts(|text| self.secrets.trim_cut(text));
        }
        (event, reason)
    }

    /// Make a workflow version known (journaled unless the same source is already there).
    pub fn load_workflow(
        &mut self,
        ctx: &mut Ctx,
        wf: &Workflow,
        source: &str,
    ) -> Result<bool, String> {
        if let Some(versions) = self.state.workflows.get(&wf.name)
            && let Some((_, old)) = versions.get(&wf.version)
        {
            if old.as_ref() == source {
                return Ok(false);
            }
            return Err(format!(
                "workflow {} version {} is already loaded with different content; \
                 raise `version:` when you change a workflow",
                wf.name, wf.version
            ));
        }
        self.state
            .workflows
            .entry(wf.name.clone())
            .or_default()
            .insert(wf.version, (Arc::new(wf.clone()), Arc::from(source)));
        self.emit(
            ctx,
            Event::WorkflowLoaded {
                name: wf.name.clone(),
                version: wf.version,
                source: source.to_string(),
            },
        );
        Ok(true)
    }

    /// An executor finished an attempt. Stale answers (an attempt that timed out, an
    /// item that ended) are dropped without an event.
    pub fn step_done(
        &mut self,
        ctx: &mut Ctx,
        item: ItemId,
        step: &str,
        attempt: u32,
        phase: Phase,
        outcome: Outcome,
    ) {
        let Outcome { result, exchange } = outcome;
        ctx.as_engine();
        let Some(it) = self.state.items.get(&item) else {
            return;
        };
        let Some(i) = it.wf.step_index(step) else {
            return;
        };
        let s = &it.steps[i];
        let current = match phase {
            Phase::Run => s.status == state::Status::Running && s.attempt == attempt,
            Phase::Compensate => s.comp == state::CompStatus::Running && s.comp_attempt == attempt,
        };
        if it.is_final() || !current {
            return;
        }
        let result = result.and_then(|output| match guard::output_refused(&output) {
            Some(refused) => Err(refused),
            None => Ok(output),
        });
        let at = advance::At {
            item,
            i,
            attempt,
            phase,
        };
        match result {
            Ok(output) => self.succeed_with(ctx, at, output, exchange),
            Err(error) => self.fail_with(ctx, at, error, exchange),
        }
        self.advance_after(ctx, item, i);
    }

    /// Re-dispatch every attempt that was running when the engine stopped (at least once:
    /// same attempt number, same idempotency key).
    pub fn recover(&mut self, ctx: &mut Ctx) {
        let mut running = Vec::new();
        for (id, it) in &self.state.items {
            if it.is_final() {
                continue;
            }
            for (i, s) in it.steps.iter().enumerate() {
                if s.status == state::Status::Running {
                    running.push((*id, i, s.attempt, Phase::Run));
                }
                if s.comp == state::CompStatus::Running {
                    running.push((*id, i, s.comp_attempt, Phase::Compensate));
                }
            }
        }
        for (item, i, attempt, phase) in running {
            match self.render_work(item, i, phase) {
                Ok(Some(work)) => self.push_dispatch(ctx, item, i, attempt, phase, work),
                Ok(None) => {}
                Err(e) => {
                    self.fail(ctx, item, i, attempt, phase, e);
                    self.advance(ctx, item);
                }
            }
        }
    }

    /// The detail of an item the engine has let go of, rebuilt from its own records
    /// (`records` of that item in seq order, `wf` the version it ran).
    pub fn rebuild(wf: Arc<Workflow>, source: Arc<str>, records: &[Record]) -> Option<ItemDetail> {
        let mut core = Core::new(Value::Null);
        core.state.keep_ended = true;
        core.state
            .workflows
            .entry(wf.name.clone())
            .or_default()
            .insert(wf.version, (wf, source));
        let id = records.iter().find_map(|r| match &r.event {
            Event::ItemStarted { item, .. } => Some(*item),
            _ => None,
        })?;
        for rec in records {
            core.state.apply(rec, &|_| Err("not needed".into()));
        }
        core.item(id)
    }

    fn push_dispatch(
        &self,
        ctx: &mut Ctx,
        item: ItemId,
        i: usize,
        attempt: u32,
        phase: Phase,
        work: Work,
    ) {
        let Some(it) = self.state.items.get(&item) else {
            return;
        };
        ctx.dispatch.push(Dispatch {
            item,
            step: Arc::from(it.wf.steps[i].id.as_str()),
            attempt,
            phase,
            work,
        });
    }
}

#[cfg(test)]
mod tests;
