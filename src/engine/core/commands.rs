//! Operator commands: each is checked against the current state first; a refused command
//! emits nothing. Accepted ones emit their events as the operator, then the engine moves on.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value};

use super::state::{CompStatus, Status, Task, downstream};
use super::views::task_form;
use super::{Core, Ctx};
use crate::types::command::{Command, CommandError, MAX_SINCE_DAYS, Reply};
use crate::types::event::{Event, ItemId, TaskId, TaskKind};
use crate::types::form::check;
use crate::types::identity::{Who, check_name};
use crate::types::view::{ItemSummary, TaskStatus, TaskView};

/// The decision that counts towards `approvals: N`; any other decides at once.
pub const APPROVE: &str = "approved";

type Outcome = Result<(Option<ItemId>, Option<TaskId>, String), CommandError>;

fn not_found(what: String) -> CommandError {
    CommandError::NotFound(what)
}

/// A start's `since`: none when it is now, refused in the future or too far back.
fn check_since(
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, CommandError> {
    let Some(since) = since.filter(|s| *s != now) else {
        return Ok(None);
    };
    if since > now {
        return Err(CommandError::Invalid(format!(
            "since {since} is in the future (now is {now}); an item's clock can start \
             earlier than its start, not later"
        )));
    }
    if now - since > TimeDelta::days(MAX_SINCE_DAYS) {
        return Err(CommandError::Invalid(format!(
            "since {since} is more than {MAX_SINCE_DAYS} days ago, the furthest back an \
             item's clock may start"
        )));
    }
    Ok(Some(since))
}

/// Why a task no longer takes actions, or None while it is open.
fn closed_message(
    task: TaskId,
    status: TaskStatus,
    decision: Option<&str>,
    by: Option<&str>,
) -> Option<String> {
    match status {
        TaskStatus::Decided => Some(format!(
            "task {task} was already decided: {} by {}",
            decision.unwrap_or("?"),
            by.unwrap_or("?")
        )),
        TaskStatus::Cancelled => Some(format!(
            "task {task} was cancelled (its item ended or its step was skipped)"
        )),
        TaskStatus::Open | TaskStatus::Claimed => None,
    }
}

/// The refusal for acting on a task of an ended item, worded as for one in memory.
fn closed_task_message(t: &TaskView) -> String {
    closed_message(
        t.id,
        t.status,
        t.decision.as_deref(),
        t.decided_by.as_deref(),
    )
    .unwrap_or_else(|| format!("task {} has ended with its item {}", t.id, t.item))
}

/// The answer to a command the core refused as not found when its item or task has
/// ended and left memory (`item`, `task`: what the store keeps of them): the refusal
/// the core gave while it still held them.
pub fn refuse_ended(item: Option<&ItemSummary>, task: Option<&TaskView>) -> Option<CommandError> {
    if let Some(t) = task {
        return Some(CommandError::Conflict(closed_task_message(t)));
    }
    let s = item?;
    Some(CommandError::Conflict(format!(
        "item {} has already ended ({})",
        s.id,
        s.status.name()
    )))
}

impl Core {
    /// Apply an operator command. On error nothing was emitted.
    pub fn command(
        &mut self,
        ctx: &mut Ctx,
        who: &Who,
        reason: Option<String>,
        cmd: &Command,
    ) -> Result<Reply, CommandError> {
        {
            let a = self.authority(who)?;
            self.check_role(&a, cmd)?;
        }
        ctx.as_actor(who, reason);
        let before = ctx.records.len();
        let outcome = self.run_command(ctx, who, cmd);
        ctx.as_engine();
        let (item, task, message) = outcome?;
        let seq = ctx
            .records
            .get(before..)
            .and_then(|r| r.last())
            .map_or(self.state.seq, |r| r.seq);
        Ok(Reply {
            item,
            task,
            message,
            seq,
            token: None,
        })
    }

    fn run_command(&mut self, ctx: &mut Ctx, who: &Who, cmd: &Command) -> Outcome {
        match cmd {
            Command::Start {
                workflow,
                version,
                input,
                priority,
                since,
            } => self.cmd_start(ctx, workflow, *version, input, *priority, *since),
            Command::Decide {
                task,
                decision,
                comment,
                fields,
            } => self.cmd_decide(ctx, who, *task, decision, comment.clone(), fields.as_ref()),
            Command::Claim { task } => self.cmd_claim(ctx, who, *task),
            Command::Reassign { task, to } => {
                let t = self.open_task_ref(*task)?;
                self.check_handover(&self.authority(who)?, t)?;
                let name = to.strip_prefix('@').unwrap_or(to);
                check_name(name, "the person or group to reassign to")
                    .map_err(CommandError::Invalid)?;
                self.emit(
                    ctx,
                    Event::TaskReassigned {
                        task: *task,
                        to: to.clone(),
                    },
                );
                Ok((
                    self.task_item(*task),
                    Some(*task),
                    format!("task {task} reassigned to {to}"),
                ))
            }
            Command::Escalate { task, to } => {
                let t = self.open_task_ref(*task)?;
                self.check_handover(&self.authority(who)?, t)?;
                self.cmd_escalate(ctx, *task, to.clone())
            }
            Command::Retry { item, from } => self.cmd_retry(ctx, *item, from.as_deref()),
            Command::Skip { item, step } => self.cmd_skip(ctx, *item, step),
            Command::Compensate { item } => {
                let it = self.live_item(*item)?;
                if it.compensating {
                    return Err(CommandError::Conflict(format!(
                        "item {item} is already compensating"
                    )));
                }
                self.begin_compensation(ctx, *item);
                self.advance(ctx, *item);
                Ok((Some(*item), None, format!("item {item} compensating")))
            }
            Command::Cancel { item } => {
                self.live_item(*item)?;
                self.close_tasks(ctx, *item);
                self.abort_item(ctx, *item);
                ctx.as_actor(who, ctx.reason.clone());
                self.emit(ctx, Event::ItemCancelled { item: *item });
                Ok((Some(*item), None, format!("item {item} cancelled")))
            }
            Command::Signal { item, name, data } => self.cmd_signal(ctx, *item, name, data),
            Command::AddOperator { .. }
            | Command::RevokeOperator { .. }
            | Command::SetGroups { .. }
            | Command::SetRole { .. }
            | Command::IssueToken { .. } => self.cmd_directory(ctx, who, cmd),
        }
    }

    fn live_item(&self, item: ItemId) -> Result<&super::state::Item, CommandError> {
        let it = self
            .state
            .items
            .get(&item)
            .ok_or_else(|| not_found(format!("item {item} not found")))?;
        if let Some(st) = it.ended {
            return Err(CommandError::Conflict(format!(
                "item {item} has already ended ({})",
                st.name()
            )));
        }
        Ok(it)
    }

    fn task_item(&self, task: TaskId) -> Option<ItemId> {
        self.state.tasks.get(&task).map(|t| t.item)
    }

    fn open_task_ref(&self, task: TaskId) -> Result<&Task, CommandError> {
        let t = self
            .state
            .tasks
            .get(&task)
            .ok_or_else(|| not_found(format!("task {task} not found")))?;
        match closed_message(
            task,
            t.status,
            t.decision.as_deref(),
            t.decided_by.as_deref(),
        ) {
            Some(message) => Err(CommandError::Conflict(message)),
            None => Ok(t),
        }
    }

    fn cmd_start(
        &mut self,
        ctx: &mut Ctx,
        workflow: &str,
        version: Option<u32>,
        input: &Value,
        priority: i32,
        since: Option<DateTime<Utc>>,
    ) -> Outcome {
        let wf = self
            .state
            .workflow(workflow, version)
            .cloned()
            .ok_or_else(|| {
                let mut known: Vec<_> = self.state.workflows.keys().cloned().collect();
                known.sort();
                let which = match version {
                    Some(v) => format!("{workflow} version {v}"),
                    None => workflow.to_string(),
                };
                not_found(match known.is_empty() {
                    true => format!("no workflow {which} is loaded (none is)"),
                    false => format!(
                        "no workflow {which} is loaded (loaded: {})",
                        known.join(", ")
                    ),
                })
            })?;
        let input = match input {
            Value::Null => Value::Object(Default::default()),
            Value::Object(_) => input.clone(),
            _ => return Err(CommandError::Invalid("input must be a JSON object".into())),
        };
        if super::guard::deeper_than(&input, super::guard::MAX_DEPTH) {
            return Err(CommandError::Invalid(super::guard::too_deep("the input")));
        }
        let since = check_since(since, ctx.now)?;
        let item = self.state.next_item.max(1);
        let clock = since.unwrap_or(ctx.now);
        let sla_due = wf.sla.as_ref().map(|s| super::state::later(clock, s.due));
        self.emit(
            ctx,
            Event::ItemStarted {
                item,
                workflow: wf.name.clone(),
                version: wf.version,
                input,
                priority,
                sla_due,
                since,
            },
        );
        self.advance(ctx, item);
        Ok((
            Some(item),
            None,
            format!("item {item} started ({} v{})", wf.name, wf.version),
        ))
    }

    fn cmd_decide(
        &mut self,
        ctx: &mut Ctx,
        who: &Who,
        task: TaskId,
        decision: &str,
        comment: Option<String>,
        fields: Option<&Map<String, Value>>,
    ) -> Outcome {
        let t = self.open_task_ref(task)?;
        let a = self.authority(who)?;
        // A claim binds admins too (they may reassign the task to break it).
        if let Some(other) = t.claimed_by.as_deref().filter(|c| *c != who.actor()) {
            return Err(CommandError::Conflict(format!(
                "task {task} is claimed by {other}"
            )));
        }
        self.check_candidate(&a, t)?;
        self.check_distinct(who, t)?;
        if !t.options.iter().any(|o| o == decision) {
            return Err(CommandError::Invalid(format!(
                "task {task} offers {}; '{decision}' is not one of them",
                t.options.join(", ")
            )));
        }
        let item = t.item;
        let fields = self.decided_fields(t, fields)?;
        let needed = self.four_eyes(t).approvals;
        // One verdict a person: who approved does not also reject (or approve again).
        if t.approvals.contains(&who.name) {
            return Err(CommandError::Conflict(format!(
                "you ({}) already approved task {task} ({} of {needed}); another operator \
                 must give the next verdict",
                who.name,
                t.approvals.len()
            )));
        }
        if needed > 1 && decision == APPROVE {
            let given = t.approvals.len() as u32 + 1;
            if given < needed {
                self.emit(
                    ctx,
                    Event::TaskApproved {
                        task,
                        by: who.name.clone(),
                        comment,
                    },
                );
                return Ok((
                    Some(item),
                    Some(task),
                    format!("task {task}: {given} of {needed} approvals"),
                ));
            }
        }
        self.emit(
            ctx,
            Event::TaskDecided {
                task,
                decision: decision.to_string(),
                comment,
                by: who.actor().to_string(),
                fields,
            },
        );
        self.task_answered(ctx, task);
        Ok((Some(item), Some(task), format!("task {task} {decision}")))
    }

    /// A decision's form values as checked against the task's form; for an agent
    /// review only the corrections (the proposal holds the rest).
    fn decided_fields(
        &self,
        t: &Task,
        given: Option<&Map<String, Value>>,
    ) -> Result<Option<Map<String, Value>>, CommandError> {
        let form = task_form(self.state.items.get(&t.item), t);
        let empty = Map::new();
        let given = given.unwrap_or(&empty);
        if form.is_empty() && given.is_empty() {
            return Ok(None);
        }
        let mut checked = check(&form, given)
            .map_err(|e| CommandError::Invalid(format!("task {}: {e}", t.id)))?;
        if let TaskKind::AgentReview { proposal, .. } = &t.kind {
            checked.retain(|k, v| proposal.get(k) != Some(v));
        }
        Ok(Some(checked))
    }

    fn cmd_claim(&mut self, ctx: &mut Ctx, who: &Who, task: TaskId) -> Outcome {
        let actor = who.actor();
        let t = self.open_task_ref(task)?;
        self.check_claimable(t)?;
        let item = t.item;
        match t.claimed_by.as_deref() {
            Some(me) if me == actor => {
                return Ok((
                    Some(item),
                    Some(task),
                    format!("task {task} is already yours"),
                ));
            }
            Some(other) => {
                return Err(CommandError::Conflict(format!(
                    "task {task} is already claimed by {other}"
                )));
            }
            None => {}
        }
        self.check_candidate(&self.authority(who)?, t)?;
        self.check_distinct(who, t)?;
        self.emit(
            ctx,
            Event::TaskClaimed {
                task,
                by: actor.to_string(),
            },
        );
        Ok((
            Some(item),
            Some(task),
            format!("task {task} claimed by {actor}"),
        ))
    }

    fn cmd_escalate(&mut self, ctx: &mut Ctx, task: TaskId, to: Option<String>) -> Outcome {
        let t = self.open_task_ref(task)?;
        let level = t.escalation_level + 1;
        let levels = self.state.task_escalations(t);
        let target = to.or_else(|| {
            levels
                .get(level as usize - 1)
                .or_else(|| levels.last())
                .map(|e| e.to.clone())
        });
        let Some(to) = target else {
            return Err(CommandError::Invalid(format!(
                "task {task} has no escalation chain; say whom to escalate to (--to)"
            )));
        };
        let item = t.item;
        self.emit(
            ctx,
            Event::TaskEscalated {
                task,
                level,
                to: to.clone(),
            },
        );
        Ok((
            Some(item),
            Some(task),
            format!("task {task} escalated to {to} (level {level})"),
        ))
    }

    fn cmd_retry(&mut self, ctx: &mut Ctx, item: ItemId, from: Option<&str>) -> Outcome {
        let it = self.live_item(item)?;
        let target = match from {
            Some(step) => {
                let i = it
                    .wf
                    .step_index(step)
                    .ok_or_else(|| not_found(format!("item {item} has no step {step}")))?;
                if it.compensating {
                    return Err(CommandError::Conflict(format!(
                        "item {item} is compensating"
                    )));
                }
                if let Some(j) = downstream(&it.wf, i)
                    .into_iter()
                    .find(|&j| it.steps[j].status == Status::Running)
                {
                    return Err(CommandError::Conflict(format!(
                        "step {} of item {item} is running; wait for it or cancel the item",
                        it.wf.steps[j].id
                    )));
                }
                i
            }
            None => it
                .steps
                .iter()
                .position(|s| s.status == Status::Failed || s.comp == CompStatus::Failed)
                .ok_or_else(|| {
                    CommandError::Conflict(format!("item {item} has no incident to retry"))
                })?,
        };
        let step = self.step_id(item, target);
        let reset = if from.is_some() {
            downstream(&self.state.items[&item].wf, target)
        } else {
            vec![target]
        };
        let tasks: Vec<TaskId> = reset
            .iter()
            .filter_map(|&j| self.state.items[&item].steps[j].task)
            .filter(|t| self.state.tasks.get(t).is_some_and(|t| t.is_open()))
            .collect();
        for task in tasks {
            self.emit(ctx, Event::TaskCancelled { task });
        }
        self.emit(
            ctx,
            Event::ItemRetried {
                item,
                step: step.clone(),
                from: from.is_some(),
            },
        );
        self.advance(ctx, item);
        let what = if from.is_some() { "from" } else { "step" };
        Ok((
            Some(item),
            None,
            format!("item {item} retried ({what} {step})"),
        ))
    }

    fn cmd_skip(&mut self, ctx: &mut Ctx, item: ItemId, step: &str) -> Outcome {
        let it = self.live_item(item)?;
        let i = it
            .wf
            .step_index(step)
            .ok_or_else(|| not_found(format!("item {item} has no step {step}")))?;
        let s = &it.steps[i];
        let comp_incident = s.comp == CompStatus::Failed;
        if !comp_incident && matches!(s.status, Status::Succeeded | Status::Skipped) {
            return Err(CommandError::Conflict(format!(
                "step {step} of item {item} has already finished"
            )));
        }
        if it.compensating && s.status == Status::Running {
            return Err(CommandError::Conflict(format!(
                "step {step} of item {item} is running while the item is compensated; \
                 wait for it or cancel the item"
            )));
        }
        // A running attempt is ended: its answer would be dropped anyway.
        if !comp_incident {
            self.abort_attempt(ctx, item, i, super::Phase::Run);
        }
        if let Some(task) = s
            .task
            .filter(|t| self.state.tasks.get(t).is_some_and(|t| t.is_open()))
        {
            self.emit(ctx, Event::TaskCancelled { task });
        }
        self.emit(
            ctx,
            Event::StepSkipped {
                item,
                step: step.to_string(),
                reason: "skipped by an operator".into(),
            },
        );
        self.advance(ctx, item);
        Ok((
            Some(item),
            None,
            format!("item {item}: step {step} skipped"),
        ))
    }

    fn cmd_signal(&mut self, ctx: &mut Ctx, item: ItemId, name: &str, data: &Value) -> Outcome {
        if super::guard::deeper_than(data, super::guard::MAX_DEPTH) {
            return Err(CommandError::Invalid(super::guard::too_deep(
                "the signal's data",
            )));
        }
        let it = self.live_item(item)?;
        let listens = it.wf.steps.iter().any(|s| {
            matches!(&s.kind, crate::definition::StepKind::Wait(crate::definition::WaitSpec::Signal { name: n, .. }) if n == name)
        });
        if !listens {
            return Err(CommandError::Invalid(format!(
                "workflow {} has no wait step for signal '{name}'",
                it.wf.name
            )));
        }
        self.emit(
            ctx,
            Event::SignalReceived {
                item,
                name: name.to_string(),
                data: data.clone(),
            },
        );
        self.advance(ctx, item);
        Ok((
            Some(item),
            None,
            format!("item {item}: signal {name} delivered"),
        ))
    }
}
