//! Read models built from the state: listings, one item's detail, tasks and counters.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::Core;
use super::state::{CompStatus, Item, Status, Task};
use crate::definition::{StepKind, Workflow};
use crate::types::deploy::WorkflowInfo;
use crate::types::event::{ItemId, TaskId, TaskKind, WaitOn};
use crate::types::form::{FormField, proposal_form};
use crate::types::view::{
    INCIDENT_MAX, ItemDetail, ItemFilter, ItemStatus, ItemSummary, Metrics, StepView, TaskFilter,
    TaskStatus, TaskView,
};

pub(super) fn summary(it: &Item) -> ItemSummary {
    let current: Vec<&str> = it
        .steps
        .iter()
        .zip(&it.wf.steps)
        .filter(|(s, _)| {
            matches!(
                s.status,
                Status::Running | Status::Waiting | Status::Scheduled | Status::Failed
            )
        })
        .map(|(_, d)| d.id.as_str())
        .collect();
    ItemSummary {
        id: it.id,
        workflow: it.wf.name.clone(),
        version: it.wf.version,
        status: it.status(),
        current: current.join(","),
        priority: it.priority,
        started_at: it.started_at,
        updated_at: it.updated_at,
        ended_at: it.ended_at,
        sla_due: it.sla_due,
        sla_warned: it.sla_warned,
        sla_breached: it.sla_breached,
        incident: incident_cause(it),
        key: it.key().map(str::to_string),
        title: it.title().map(str::to_string),
    }
}

/// The form a task's decision fills in: its human step's `form:`, or for an agent
/// review the fields of the proposal (derived, so nothing more is journaled).
pub(super) fn task_form(it: Option<&Item>, t: &Task) -> Vec<FormField> {
    match &t.kind {
        TaskKind::AgentReview { proposal, .. } => proposal_form(proposal),
        TaskKind::Approval => it
            .and_then(|i| i.wf.steps.get(t.step as usize))
            .and_then(|s| match &s.kind {
                StepKind::Human(h) => Some(h.form.clone()),
                _ => None,
            })
            .unwrap_or_default(),
    }
}

/// The failed step (or failed compensation) that makes an item an incident, and why.
fn incident_cause(it: &Item) -> Option<String> {
    let (s, d) = it
        .steps
        .iter()
        .zip(&it.wf.steps)
        .find(|(s, _)| s.status == Status::Failed || s.comp == CompStatus::Failed)?;
    let why = s
        .error
        .as_ref()
        .map_or_else(|| "failed".to_string(), |e| e.to_string());
    Some(crate::text::clip(&format!("{}: {why}", d.id), INCIDENT_MAX))
}

/// A task as the inbox shows it; `it` is its item (absent only in a damaged state).
pub(super) fn task_view(it: Option<&Item>, t: &Task) -> TaskView {
    TaskView {
        id: t.id,
        item: t.item,
        workflow: it.map(|i| i.wf.name.clone()).unwrap_or_default(),
        step: it
            .map(|i| i.wf.steps[t.step as usize].id.clone())
            .unwrap_or_default(),
        kind: t.kind.clone(),
        title: t.title.clone(),
        details: t.details.clone(),
        group: t.group.clone(),
        assignee: t.assignee.clone(),
        claimed_by: t.claimed_by.clone(),
        options: t.options.clone(),
        status: t.status,
        created_at: t.created_at,
        due: t.due,
        overdue: t.overdue,
        escalation_level: t.escalation_level,
        decision: t.decision.clone(),
        comment: t.comment.clone(),
        decided_by: t.decided_by.clone(),
        priority: it.map_or(0, |i| i.priority),
        approvals: it
            .and_then(|i| i.wf.steps.get(t.step as usize))
            .map_or(1, |s| match &s.kind {
                crate::definition::StepKind::Human(h) => h.approvals.max(1),
                _ => 1,
            }),
        approved_by: t.approvals.clone(),
        form: if t.is_open() {
            task_form(it, t)
        } else {
            Vec::new()
        },
    }
}

fn waiting_text(on: &WaitOn) -> String {
    match on {
        WaitOn::Task { task } => format!("task {task}"),
        WaitOn::Signal { name, .. } => format!("signal {name}"),
        WaitOn::Timer { until } => format!("timer until {}", until.to_rfc3339()),
    }
}

impl Core {
    pub fn items(&self, f: &ItemFilter) -> Vec<ItemSummary> {
        let limit = f.limit.unwrap_or(usize::MAX);
        if let Some(ids) = &f.ids {
            return ids
                .0
                .iter()
                .filter_map(|id| self.state.items.get(id))
                .filter(|it| f.key_passes(it.key()))
                .take(limit)
                .map(summary)
                .collect();
        }
        let below = f.after.unwrap_or(ItemId::MAX);
        self.state
            .items
            .range(..below)
            .map(|(_, it)| it)
            .rev()
            .filter(|it| f.workflow.as_ref().is_none_or(|w| &it.wf.name == w))
            .filter(|it| !f.active || !it.is_final())
            .filter(|it| !f.ended || it.is_final())
            .filter(|it| f.status.is_none_or(|s| it.status() == s))
            .filter(|it| f.key_passes(it.key()))
            .take(limit)
            .map(summary)
            .collect()
    }

    pub fn item(&self, id: ItemId) -> Option<ItemDetail> {
        let it = self.state.items.get(&id)?;
        let steps = it
            .steps
            .iter()
            .zip(&it.wf.steps)
            .enumerate()
            .map(|(i, (s, d))| StepView {
                id: d.id.clone(),
                kind: d.kind.name().to_string(),
                status: it.step_status(i),
                attempts: s.attempt,
                needs: d.needs.clone(),
                when: d.when.clone(),
                started_at: s.first_started,
                ended_at: s.ended_at,
                next_attempt_at: s.next_at,
                output: s.output.clone(),
                error: s.error.as_deref().cloned(),
                task: s.task,
                waiting_on: s.waiting.as_deref().map(waiting_text),
                exchange: s.exchange.as_deref().cloned(),
            })
            .collect();
        let incident = it
            .steps
            .iter()
            .zip(&it.wf.steps)
            .find(|(s, _)| s.status == Status::Failed || s.comp == super::state::CompStatus::Failed)
            .and_then(|(s, d)| Some((d.id.clone(), s.error.as_deref()?.clone())))
            .filter(|_| !it.is_final());
        Some(ItemDetail {
            summary: summary(it),
            input: it.input.clone(),
            steps,
            incident,
            compensating: it.compensating,
        })
    }

    pub fn tasks(&self, f: &TaskFilter) -> Vec<TaskView> {
        let from = f.after.map_or(0, |a| a.saturating_add(1));
        self.state
            .tasks
            .range(from..)
            .map(|(_, t)| t)
            .filter(|t| f.all || t.is_open())
            .filter(|t| match &f.mine {
                None => true,
                Some(me) => self.is_for(t, me),
            })
            .take(f.limit.unwrap_or(usize::MAX))
            .map(|t| task_view(self.state.items.get(&t.item), t))
            .collect()
    }

    /// Whether `me` may act on `t`: assigned to or claimed by them, or unclaimed in one
    /// of their groups (as the directory has them).
    fn is_for(&self, t: &Task, me: &str) -> bool {
        if let Some(c) = &t.claimed_by {
            return c == me;
        }
        match (&t.assignee, &t.group) {
            (Some(p), _) => p == me,
            (None, Some(g)) => self
                .state
                .directory
                .active(me)
                .is_some_and(|o| o.in_group(g)),
            (None, None) => false,
        }
    }

    /// These tasks (any status) as the inbox shows them; ids the engine no longer
    /// holds are left out.
    pub fn tasks_by_id(&self, ids: &[TaskId]) -> Vec<TaskView> {
        ids.iter()
            .filter_map(|id| self.state.tasks.get(id))
            .map(|t| task_view(self.state.items.get(&t.item), t))
            .collect()
    }

    pub fn metrics(&self, now: DateTime<Utc>) -> Metrics {
        let mut m = Metrics::default();
        for it in self.state.items.values().filter(|it| !it.is_final()) {
            m.in_flight += 1;
            match it.status() {
                ItemStatus::Incident => m.incidents += 1,
                ItemStatus::Waiting
                    if it
                        .steps
                        .iter()
                        .any(|s| s.task.is_some() && s.status == Status::Waiting) =>
                {
                    m.waiting_on_humans += 1
                }
                _ => {}
            }
            let breached = it.sla_breached || it.sla_due.is_some_and(|d| d <= now);
            if breached {
                m.breached += 1;
            } else if it.sla_warned > 0 {
                m.at_risk += 1;
            }
        }
        let c = &self.state.counters;
        m.completed = c.completed;
        m.failed = c.failed;
        m.cancelled = c.cancelled;
        m.sla_met_pct = self.state.totals.sla_met_pct();
        m.open_tasks = self
            .state
            .tasks
            .values()
            .filter(|t| t.status != TaskStatus::Decided && t.is_open())
            .count() as u64;
        m.steps_succeeded = c.steps_succeeded;
        m.steps_failed = c.steps_failed;
        m.journal_seq = self.state.seq;
        m
    }

    /// One loaded version and the source it was parsed from.
    pub fn workflow_source(&self, name: &str, version: u32) -> Option<(Arc<Workflow>, Arc<str>)> {
        let (wf, src) = self.state.workflows.get(name)?.get(&version)?;
        Some((wf.clone(), src.clone()))
    }

    /// Every loaded version, sorted by name and version, with the items in flight on
    /// it: one pass over the items in flight, never the history.
    pub fn workflows(&self) -> Vec<WorkflowInfo> {
        let mut in_flight: HashMap<(&str, u32), u64> = HashMap::new();
        for it in self.state.items.values().filter(|i| !i.is_final()) {
            *in_flight.entry((&it.wf.name, it.wf.version)).or_default() += 1;
        }
        let mut out: Vec<WorkflowInfo> = self
            .state
            .workflows
            .iter()
            .flat_map(|(name, vs)| {
                let in_flight = &in_flight;
                vs.keys().map(move |v| WorkflowInfo {
                    name: name.clone(),
                    version: *v,
                    in_flight: in_flight.get(&(name.as_str(), *v)).copied().unwrap_or(0),
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.name, a.version).cmp(&(&b.name, b.version)));
        out
    }
}
