//! The engine's in-memory state and `apply`: the only place state changes, one event at
//! a time. Replaying the journal through `apply` rebuilds exactly the live state.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::serde::{ts_nanoseconds, ts_nanoseconds_option};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::definition::{Escalation, StepKind, WaitSpec, Workflow};
use crate::types::event::{Event, ItemId, Phase, Record, StepError, TaskId, TaskKind, WaitOn};
use crate::types::exchange::Exchange;
use crate::types::identity::{Directory, Operator};
use crate::types::tally::{Fact, Tally, Totals, micros_between};
use crate::types::view::{EndedItem, ItemStatus, StepStatus, TaskStatus};

/// Something that must be looked at again at a given time. Timers are never removed
/// when they go stale; on firing, each checks that its condition still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Timer {
    /// A scheduled (backoff) step attempt becomes due.
    Start {
        item: ItemId,
        step: u16,
        attempt: u32,
    },
    /// A running attempt is abandoned.
    AttemptTimeout {
        item: ItemId,
        step: u16,
        attempt: u32,
    },
    /// A step's whole deadline.
    Deadline { item: ItemId, step: u16 },
    /// A `wait` timer, or a signal wait's timeout.
    Wait {
        item: ItemId,
        step: u16,
        attempt: u32,
    },
    /// The item's next SLA threshold or escalation.
    Sla { item: ItemId },
    /// A task's next escalation level.
    Escalate { task: TaskId, level: u32 },
    /// A task's due time.
    TaskDue { task: TaskId },
}

pub fn to_chrono(d: std::time::Duration) -> ChronoDuration {
    ChronoDuration::from_std(d).unwrap_or(ChronoDuration::MAX)
}

/// `at + d`, saturating at the start of year 2262 (snapshots keep instants as i64
/// nanoseconds, which end in April 2262): durations are bounded when a workflow is
/// validated, but an instant must never overflow inside the engine, whatever the
/// definition or the clock says.
pub fn later(at: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    let end = DateTime::<Utc>::from_timestamp(9_214_646_400, 0).unwrap_or(at);
    at.checked_add_signed(to_chrono(d))
        .map_or(end, |t| t.min(end))
}

/// One step of one item.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StepState {
    #[serde(default, skip_serializing_if = "is_default")]
    pub status: Status,
    /// The latest attempt number (0 before the first).
    #[serde(default, skip_serializing_if = "is_default")]
    pub attempt: u32,
    /// Attempts made before the last operator retry; the retry budget counts from here.
    #[serde(default, skip_serializing_if = "is_default")]
    pub retry_base: u32,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "ts_nanoseconds_option"
    )]
    pub first_started: Option<DateTime<Utc>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "ts_nanoseconds_option"
    )]
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "ts_nanoseconds_option"
    )]
    pub next_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Box<StepError>>,
    /// The HTTP exchange of the attempt that gave `error`, when it made one: kept while
    /// the step is failing, for whoever debugs it. A success's exchange is only in its
    /// journaled record (the detail reads it from the item's records), so a flow of HTTP
    /// steps costs no memory per item for its exchanges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<Box<Exchange>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Box<WaitOn>>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub comp: CompStatus,
    #[serde(default, skip_serializing_if = "is_default")]
    pub comp_attempt: u32,
}

/// The lifecycle of a step's action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Status {
    #[default]
    Pending,
    Scheduled,
    Running,
    Waiting,
    Succeeded,
    /// Retries exhausted: an incident.
    Failed,
    Skipped,
}

/// The lifecycle of a step's compensation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum CompStatus {
    #[default]
    None,
    Scheduled,
    Running,
    Done,
    Failed,
    Skipped,
}

/// One work item.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Item {
    pub id: ItemId,
    /// In a snapshot, the workflow's name and version.
    #[serde(with = "super::snapshot::workflow_ref")]
    pub wf: Arc<Workflow>,
    pub input: Value,
    #[serde(default, skip_serializing_if = "is_default")]
    pub priority: i32,
    #[serde(with = "ts_nanoseconds")]
    pub started_at: DateTime<Utc>,
    #[serde(with = "ts_nanoseconds")]
    pub updated_at: DateTime<Utc>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "ts_nanoseconds_option"
    )]
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub ended: Option<ItemStatus>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "ts_nanoseconds_option"
    )]
    pub sla_due: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub sla_warned: u8,
    #[serde(default, skip_serializing_if = "is_default")]
    pub sla_breached: bool,
    /// Item-level SLA escalation levels fired so far.
    #[serde(default, skip_serializing_if = "is_default")]
    pub sla_escalations: u32,
    pub steps: Vec<StepState>,
    /// Step indexes in the order they succeeded (compensation walks it backwards).
    #[serde(default, skip_serializing_if = "is_default")]
    pub completed: Vec<u16>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub compensating: bool,
    /// Signals received that no step has consumed yet.
    #[serde(default, skip_serializing_if = "is_default")]
    pub signals: Vec<(String, Value)>,
    /// Every task this item opened, oldest first (they leave memory with the item).
    #[serde(default, skip_serializing_if = "is_default")]
    pub tasks: Vec<TaskId>,
    /// The seq of the item's first record (its audit trail starts there).
    pub first_seq: u64,
    /// Its business key and title, once rendered (boxed: most workflows name nothing,
    /// and an item in flight should cost them one pointer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<Box<ItemNames>>,
    /// Who started it: the actor and the admin who acted for them, if any (for
    /// `self_approval: false`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub started_by: Vec<String>,
}

/// What an item is called: rendered from its workflow's `key:` and `title:`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemNames {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

impl Item {
    pub fn key(&self) -> Option<&str> {
        self.names.as_ref()?.key.as_deref()
    }

    pub fn title(&self) -> Option<&str> {
        self.names.as_ref()?.title.as_deref()
    }
}

impl Item {
    pub fn is_final(&self) -> bool {
        self.ended.is_some()
    }

    pub fn status(&self) -> ItemStatus {
        if let Some(s) = self.ended {
            return s;
        }
        if self.compensating {
            // A compensation that exhausted its retries waits for an operator.
            if self.steps.iter().any(|s| s.comp == CompStatus::Failed) {
                return ItemStatus::Incident;
            }
            return ItemStatus::Compensating;
        }
        let mut running = false;
        for s in &self.steps {
            match s.status {
                Status::Failed => return ItemStatus::Incident,
                Status::Running | Status::Scheduled => running = true,
                _ => {}
            }
            if s.comp == CompStatus::Failed {
                return ItemStatus::Incident;
            }
        }
        if running {
            ItemStatus::Running
        } else {
            ItemStatus::Waiting
        }
    }

    pub fn step_status(&self, i: usize) -> StepStatus {
        let s = &self.steps[i];
        match s.comp {
            CompStatus::Scheduled | CompStatus::Running | CompStatus::Failed => {
                return StepStatus::Compensating;
            }
            CompStatus::Done => return StepStatus::Compensated,
            CompStatus::None | CompStatus::Skipped => {}
        }
        match s.status {
            Status::Pending => StepStatus::Pending,
            Status::Scheduled => StepStatus::Scheduled,
            Status::Running => StepStatus::Running,
            Status::Waiting => StepStatus::Waiting,
            Status::Succeeded => StepStatus::Succeeded,
            Status::Failed => StepStatus::Failed,
            Status::Skipped => StepStatus::Skipped,
        }
    }
}

/// One human task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Task {
    pub id: TaskId,
    pub item: ItemId,
    pub step: u16,
    pub kind: TaskKind,
    pub title: String,
    #[serde(default, skip_serializing_if = "is_default")]
    pub details: Option<String>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub group: Option<String>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub assignee: Option<String>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub claimed_by: Option<String>,
    pub options: Vec<String>,
    pub status: TaskStatus,
    #[serde(with = "ts_nanoseconds")]
    pub created_at: DateTime<Utc>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "ts_nanoseconds_option"
    )]
    pub due: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub overdue: bool,
    #[serde(default, skip_serializing_if = "is_default")]
    pub escalation_level: u32,
    #[serde(default, skip_serializing_if = "is_default")]
    pub decision: Option<String>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub decided_by: Option<String>,
    /// The form's values the decision brought (see `Event::TaskDecided`).
    #[serde(default, skip_serializing_if = "is_default")]
    pub fields: Option<serde_json::Map<String, serde_json::Value>>,
    /// Who approved so far, when the step needs several approvals.
    #[serde(default, skip_serializing_if = "is_default")]
    pub approvals: Vec<String>,
}

impl Task {
    pub fn is_open(&self) -> bool {
        matches!(self.status, TaskStatus::Open | TaskStatus::Claimed)
    }
}

/// Running totals kept as events are applied (the rest is counted on demand).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counters {
    pub completed: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub steps_succeeded: u64,
    pub steps_failed: u64,
}

/// The loaded versions of one workflow: the model and the source it was parsed from.
pub type Versions = BTreeMap<u32, (Arc<Workflow>, Arc<str>)>;

/// Everything the engine knows about the work in flight. An item that ends leaves
/// (with its tasks) as an `EndedItem` in `ended`, for the store to keep; what stays
/// follows the items in flight, not the history.
#[derive(Debug, Default)]
pub struct State {
    pub workflows: HashMap<String, Versions>,
    pub items: BTreeMap<ItemId, Item>,
    pub tasks: BTreeMap<TaskId, Task>,
    pub timers: BTreeSet<(DateTime<Utc>, Timer)>,
    pub next_item: ItemId,
    pub next_task: TaskId,
    pub seq: u64,
    pub counters: Counters,
    /// Items that ended since this was last drained, as the store will keep them.
    pub ended: Vec<EndedItem>,
    /// Keep ended items in `items` instead (rebuilding one item's detail from its records).
    pub keep_ended: bool,
    /// When `timers` grows past this, timers of items that left are swept out.
    pub(super) timer_mark: usize,
    /// Journaled definitions that no longer parse: (name, version) -> (seq, why).
    pub unreadable: HashMap<(String, u32), (u64, String)>,
    /// Set when a replayed item could not be rebuilt: the engine must not start on it.
    pub broken: Option<String>,
    /// What applied records counted since the last commit, for the store's rollups.
    pub tally: Tally,
    /// Everything counted since the journal began (seeded from the rollups after a
    /// replay; see `engine::replay`).
    pub totals: Totals,
    /// Who may act: operators, their roles, groups and token hashes.
    pub directory: Directory,
    /// Bumped whenever the directory changes, so the edge knows to read it again.
    pub directory_version: u64,
}

/// A deep copy without spare capacity. A cloned JSON object keeps room for more entries
/// than it has (its map reserves up to its table's size), which more than doubles small
/// objects; inputs and outputs live as long as their item, so they are stored exact.
pub fn compact(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = serde_json::Map::with_capacity(m.len());
            for (k, x) in m {
                out.insert(k.clone(), compact(x));
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(compact).collect()),
        other => other.clone(),
    }
}

/// Whether a value is its type's default (left out of snapshots, read back as such).
fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// A target of `to:`/reassign: `@name` is a person, a bare name is a group.
pub fn is_user(target: &str) -> bool {
    target.starts_with('@')
}

impl State {
    pub fn step_index(&self, item: ItemId, step: &str) -> Option<usize> {
        self.items.get(&item)?.wf.step_index(step)
    }

    /// The newest version of a workflow, or the one asked for.
    pub fn workflow(&self, name: &str, version: Option<u32>) -> Option<&Arc<Workflow>> {
        let versions = self.workflows.get(name)?;
        match version {
            Some(v) => versions.get(&v).map(|(w, _)| w),
            None => versions.values().next_back().map(|(w, _)| w),
        }
    }

    fn arm(&mut self, at: DateTime<Utc>, t: Timer) {
        self.timers.insert((at, t));
    }

    fn disarm(&mut self, at: DateTime<Utc>, t: Timer) {
        self.timers.remove(&(at, t));
    }

    /// Apply one committed record. Must not fail: records were validated before they
    /// were written. A record naming something unknown is ignored.
    pub fn apply(&mut self, rec: &Record, parse: &dyn Fn(&str) -> Result<Workflow, String>) {
        self.seq = self.seq.max(rec.seq);
        let at = rec.at;
        if let Some(id) = rec.item
            && let Some(item) = self.items.get_mut(&id)
        {
            item.updated_at = at;
        }
        match &rec.event {
            Event::WorkflowLoaded {
                name,
                version,
                source,
            } => {
                let known = self
                    .workflows
                    .get(name)
                    .and_then(|v| v.get(version))
                    .is_some_and(|(_, s)| s.as_ref() == source);
                if known {
                    return;
                }
                match parse(source) {
                    Ok(wf) => {
                        self.workflows
                            .entry(name.clone())
                            .or_default()
                            .insert(*version, (Arc::new(wf), Arc::from(source.as_str())));
                    }
                    Err(why) => {
                        self.unreadable
                            .insert((name.clone(), *version), (rec.seq, why));
                    }
                }
            }
            Event::ItemStarted {
                item,
                workflow,
                version,
                input,
                priority,
                sla_due,
                since,
            } => {
                self.apply_started(
                    at, *item, workflow, *version, input, *priority, *sla_due, *since, rec.seq,
                );
                if let Some(it) = self.items.get_mut(item) {
                    it.started_by = std::iter::once(rec.actor.as_str())
                        .chain(rec.via.as_deref())
                        .filter(|n| *n != crate::types::event::ENGINE)
                        .map(str::to_string)
                        .collect();
                }
            }
            Event::ItemNamed {
                item, key, title, ..
            } => {
                if let Some(it) = self.items.get_mut(item) {
                    let names = ItemNames {
                        key: key.clone(),
                        title: title.clone(),
                    };
                    it.names = (names != ItemNames::default()).then(|| Box::new(names));
                }
            }
            Event::StepScheduled {
                item,
                step,
                attempt,
                at: when,
                phase,
            } => self.apply_scheduled(*item, step, *attempt, *when, *phase),
            Event::StepStarted {
                item,
                step,
                attempt,
                timeout_at,
                phase,
            } => self.apply_step_started(at, *item, step, *attempt, *timeout_at, *phase),
            Event::StepWaiting {
                item,
                step,
                attempt,
                on,
            } => self.apply_waiting(*item, step, *attempt, on),
            Event::StepSucceeded {
                item,
                step,
                output,
                phase,
                ..
            } => self.apply_succeeded(at, *item, step, output, *phase),
            Event::StepFailed {
                item,
                step,
                error,
                phase,
                exchange,
                ..
            } => self.apply_failed(at, *item, step, error, *phase, exchange),
            Event::StepSkipped { item, step, .. } => self.apply_skipped(at, *item, step),
            Event::IncidentRaised {
                item, step, phase, ..
            } => {
                if let Some((it, i)) = self.step_mut(*item, step) {
                    match phase {
                        Phase::Run => it.steps[i].status = Status::Failed,
                        Phase::Compensate => it.steps[i].comp = CompStatus::Failed,
                    }
                    let wf = it.wf.clone();
                    self.count(&wf.name, at, Fact::Incident);
                }
            }
            Event::ItemRetried { item, step, from } => self.apply_retried(*item, step, *from),
            Event::CompensationStarted { item } => {
                if let Some(it) = self.items.get_mut(item) {
                    it.compensating = true;
                }
            }
            Event::TaskCreated {
                task,
                item,
                step,
                kind,
                title,
                details,
                group,
                assignee,
                options,
                due,
            } => {
                self.next_task = self.next_task.max(*task + 1);
                let Some(si) = self.step_index(*item, step) else {
                    return;
                };
                let t = Task {
                    id: *task,
                    item: *item,
                    step: si as u16,
                    kind: kind.clone(),
                    title: title.clone(),
                    details: details.clone(),
                    group: group.clone(),
                    assignee: assignee.clone(),
                    claimed_by: None,
                    options: options.clone(),
                    status: TaskStatus::Open,
                    created_at: at,
                    due: *due,
                    overdue: false,
                    escalation_level: 0,
                    decision: None,
                    comment: None,
                    decided_by: None,
                    fields: None,
                    approvals: Vec::new(),
                };
                if let Some(d) = due {
                    self.arm(*d, Timer::TaskDue { task: *task });
                }
                if let Some(first) = self.task_escalations(&t).first() {
                    self.arm(
                        later(at, first.after),
                        Timer::Escalate {
                            task: *task,
                            level: 1,
                        },
                    );
                }
                if let Some(it) = self.items.get_mut(item) {
                    it.steps[si].task = Some(*task);
                    it.tasks.push(*task);
                }
                self.tasks.insert(*task, t);
            }
            Event::TaskClaimed { task, by } => {
                if let Some(t) = self.tasks.get_mut(task) {
                    t.claimed_by = Some(by.clone());
                    t.status = TaskStatus::Claimed;
                }
            }
            Event::TaskReassigned { task, to } => {
                if let Some(t) = self.tasks.get_mut(task) {
                    hand_to(t, to);
                }
            }
            Event::TaskEscalated { task, level, to } => self.apply_escalated(at, *task, *level, to),
            Event::TaskDecided {
                task,
                decision,
                comment,
                by,
                fields,
            } => {
                if let Some(t) = self.tasks.get_mut(task) {
                    t.status = TaskStatus::Decided;
                    t.decision = Some(decision.clone());
                    t.comment = comment.clone();
                    t.decided_by = Some(by.clone());
                    t.fields = fields.clone();
                    let wait_us = micros_between(t.created_at, at);
                    if let Some(wf) = self.items.get(&t.item).map(|it| it.wf.clone()) {
                        self.count(&wf.name, at, Fact::Decided { wait_us });
                    }
                }
            }
            Event::TaskCancelled { task } => {
                if let Some(t) = self.tasks.get_mut(task) {
                    t.status = TaskStatus::Cancelled;
                }
            }
            Event::TaskOverdue { task } => {
                if let Some(t) = self.tasks.get_mut(task) {
                    t.overdue = true;
                }
            }
            Event::SignalReceived { item, name, data } => {
                if let Some(it) = self.items.get_mut(item) {
                    it.signals.push((name.clone(), data.clone()));
                }
            }
            Event::SlaWarning { item, percent } => {
                if let Some(it) = self.items.get_mut(item) {
                    it.sla_warned = it.sla_warned.max(*percent);
                }
                self.arm_sla(*item);
            }
            Event::SlaEscalated { item, level, .. } => {
                if let Some(it) = self.items.get_mut(item) {
                    it.sla_escalations = it.sla_escalations.max(*level);
                }
                self.arm_sla(*item);
            }
            Event::SlaBreached { item } => {
                if let Some(it) = self.items.get_mut(item)
                    && !it.sla_breached
                {
                    it.sla_breached = true;
                    let wf = it.wf.clone();
                    self.count(&wf.name, at, Fact::Breached);
                }
            }
            Event::TaskApproved { task, by, .. } => {
                if let Some(t) = self.tasks.get_mut(task)
                    && !t.approvals.contains(by)
                {
                    t.approvals.push(by.clone());
                }
            }
            Event::OperatorAdded {
                name,
                role,
                groups,
                token,
            } => self.apply_directory(|d| {
                d.put(Operator {
                    name: name.clone(),
                    role: *role,
                    groups: groups.clone(),
                    token: token.clone(),
                    added: at,
                    revoked: None,
                })
            }),
            Event::OperatorRevoked { name } => self.apply_directory(|d| d.revoke(name, at)),
            Event::OperatorGroupsSet { name, groups } => {
                self.apply_directory(|d| d.set_groups(name, groups))
            }
            Event::OperatorRoleSet { name, role } => {
                self.apply_directory(|d| d.set_role(name, *role))
            }
            Event::OperatorTokenIssued { name, token } => {
                self.apply_directory(|d| d.set_token(name, token))
            }
            Event::ItemCompleted { item } => self.end(rec, *item, ItemStatus::Completed),
            Event::ItemFailed { item, .. } => self.end(rec, *item, ItemStatus::Failed),
            Event::ItemCancelled { item } => self.end(rec, *item, ItemStatus::Cancelled),
        }
    }

    fn apply_directory(&mut self, change: impl FnOnce(&mut Directory)) {
        change(&mut self.directory);
        self.directory_version += 1;
    }

    /// Count one fact of a workflow's item, for the rollups and the totals.
    fn count(&mut self, workflow: &str, at: DateTime<Utc>, fact: Fact) {
        self.tally.add(workflow, at, fact);
        self.totals.add(workflow, fact);
    }

    fn step_mut(&mut self, item: ItemId, step: &str) -> Option<(&mut Item, usize)> {
        let it = self.items.get_mut(&item)?;
        let i = it.wf.step_index(step)?;
        Some((it, i))
    }

    #[allow(clippy::too_many_arguments)]
    fn apply_started(
        &mut self,
        at: DateTime<Utc>,
        id: ItemId,
        workflow: &str,
        version: u32,
        input: &Value,
        priority: i32,
        sla_due: Option<DateTime<Utc>>,
        since: Option<DateTime<Utc>>,
        seq: u64,
    ) {
        // Ids are never reused, even for an item whose workflow is unknown here.
        self.next_item = self.next_item.max(id + 1);
        let Some(wf) = self.workflow(workflow, Some(version)).cloned() else {
            if self.broken.is_none() {
                let why = match self.unreadable.get(&(workflow.to_string(), version)) {
                    Some((at, why)) => format!(
                        "the definition recorded at seq {at} cannot be read by this tempi: {why}"
                    ),
                    None => "its definition is not in the journal".to_string(),
                };
                self.broken = Some(format!(
                    "item {id} (workflow {workflow} v{version}, started at seq {seq}) cannot be replayed: {why}. \
                     Nothing was changed. Run the tempi version that wrote this journal and let its \
                     items end (or cancel them), or move the data dir aside"
                ));
            }
            return;
        };
        let item = Item {
            id,
            steps: vec![StepState::default(); wf.steps.len()],
            wf,
            input: compact(input),
            priority,
            // A clock after its own record would be a corrupt journal: ignored.
            started_at: since.filter(|s| *s <= at).unwrap_or(at),
            updated_at: at,
            ended_at: None,
            ended: None,
            sla_due,
            sla_warned: 0,
            sla_breached: false,
            sla_escalations: 0,
            completed: Vec::new(),
            compensating: false,
            signals: Vec::new(),
            tasks: Vec::new(),
            first_seq: seq,
            names: None,
            started_by: Vec::new(),
        };
        self.count(&item.wf.name, at, Fact::Started);
        self.items.insert(id, item);
        self.arm_sla(id);
    }

    fn apply_scheduled(
        &mut self,
        item: ItemId,
        step: &str,
        attempt: u32,
        when: DateTime<Utc>,
        phase: Phase,
    ) {
        let Some((it, i)) = self.step_mut(item, step) else {
            return;
        };
        let s = &mut it.steps[i];
        match phase {
            Phase::Run => {
                s.status = Status::Scheduled;
                s.attempt = attempt;
                s.next_at = Some(when);
            }
            Phase::Compensate => {
                s.comp = CompStatus::Scheduled;
                s.comp_attempt = attempt;
            }
        }
        self.arm(
            when,
            Timer::Start {
                item,
                step: i as u16,
                attempt,
            },
        );
    }

    fn apply_step_started(
        &mut self,
        at: DateTime<Utc>,
        item: ItemId,
        step: &str,
        attempt: u32,
        timeout_at: Option<DateTime<Utc>>,
        phase: Phase,
    ) {
        let Some((it, i)) = self.step_mut(item, step) else {
            return;
        };
        let deadline = it.wf.steps[i].deadline;
        let s = &mut it.steps[i];
        let mut first = false;
        let mut started_timer = None;
        match phase {
            Phase::Run => {
                s.status = Status::Running;
                s.attempt = attempt;
                started_timer = s.next_at.take();
                if s.first_started.is_none() {
                    s.first_started = Some(at);
                    first = true;
                }
            }
            Phase::Compensate => {
                s.comp = CompStatus::Running;
                s.comp_attempt = attempt;
            }
        }
        let step = i as u16;
        // The start timer has done its job; left in the set it would only cost memory
        // until it fired and was ignored.
        if let Some(when) = started_timer {
            self.disarm(
                when,
                Timer::Start {
                    item,
                    step,
                    attempt,
                },
            );
        }
        if let Some(t) = timeout_at {
            self.arm(
                t,
                Timer::AttemptTimeout {
                    item,
                    step,
                    attempt,
                },
            );
        }
        if first && let Some(d) = deadline {
            self.arm(later(at, d), Timer::Deadline { item, step });
        }
    }

    fn apply_waiting(&mut self, item: ItemId, step: &str, attempt: u32, on: &WaitOn) {
        let Some((it, i)) = self.step_mut(item, step) else {
            return;
        };
        let s = &mut it.steps[i];
        s.status = Status::Waiting;
        s.waiting = Some(Box::new(on.clone()));
        let until = match on {
            WaitOn::Timer { until } => Some(*until),
            WaitOn::Signal { until, .. } => *until,
            WaitOn::Task { .. } => None,
        };
        if let Some(u) = until {
            self.arm(
                u,
                Timer::Wait {
                    item,
                    step: i as u16,
                    attempt,
                },
            );
        }
    }

    fn apply_succeeded(
        &mut self,
        at: DateTime<Utc>,
        item: ItemId,
        step: &str,
        output: &Value,
        phase: Phase,
    ) {
        let Some((it, i)) = self.step_mut(item, step) else {
            return;
        };
        match phase {
            Phase::Run => {
                if let StepKind::Wait(WaitSpec::Signal { name, .. }) = &it.wf.steps[i].kind
                    && let Some(k) = it.signals.iter().position(|(n, _)| n == name)
                {
                    it.signals.remove(k);
                }
                let s = &mut it.steps[i];
                s.status = Status::Succeeded;
                s.output = Some(compact(output));
                s.error = None;
                s.exchange = None;
                s.waiting = None;
                s.ended_at = Some(at);
                let took = s.first_started.map(|from| micros_between(from, at));
                it.completed.push(i as u16);
                let wf = it.wf.clone();
                self.counters.steps_succeeded += 1;
                if let Some(us) = took {
                    self.totals.add_step(&wf.name, &wf.steps[i].id, us);
                }
            }
            Phase::Compensate => it.steps[i].comp = CompStatus::Done,
        }
    }

    fn apply_failed(
        &mut self,
        at: DateTime<Utc>,
        item: ItemId,
        step: &str,
        error: &StepError,
        phase: Phase,
        exchange: &Option<Box<Exchange>>,
    ) {
        let Some((it, i)) = self.step_mut(item, step) else {
            return;
        };
        let s = &mut it.steps[i];
        s.error = Some(Box::new(error.clone()));
        s.exchange.clone_from(exchange);
        s.ended_at = Some(at);
        s.waiting = None;
        // A retry's StepScheduled follows at once when there is one.
        match phase {
            Phase::Run => s.status = Status::Failed,
            Phase::Compensate => s.comp = CompStatus::Failed,
        }
        self.counters.steps_failed += 1;
    }

    fn apply_skipped(&mut self, at: DateTime<Utc>, item: ItemId, step: &str) {
        let Some((it, i)) = self.step_mut(item, step) else {
            return;
        };
        let s = &mut it.steps[i];
        if it.compensating && matches!(s.comp, CompStatus::Failed | CompStatus::Scheduled) {
            s.comp = CompStatus::Skipped;
            return;
        }
        s.status = Status::Skipped;
        s.waiting = None;
        s.ended_at = Some(at);
    }

    fn apply_retried(&mut self, item: ItemId, step: &str, from: bool) {
        let Some((it, i)) = self.step_mut(item, step) else {
            return;
        };
        if it.steps[i].comp == CompStatus::Failed {
            it.steps[i].comp = CompStatus::None;
            it.steps[i].error = None;
            it.steps[i].exchange = None;
            return;
        }
        let reset: Vec<usize> = if from { downstream(&it.wf, i) } else { vec![i] };
        for j in reset {
            let s = &mut it.steps[j];
            // A running attempt downstream is refused by the command; one that slipped
            // through keeps running. A waiting one is reset: its task was cancelled with
            // the retry and its timer belongs to the old attempt.
            if s.status == Status::Running && j != i {
                continue;
            }
            s.status = Status::Pending;
            s.retry_base = s.attempt;
            s.output = None;
            s.error = None;
            s.exchange = None;
            s.waiting = None;
            s.task = None;
            s.ended_at = None;
            s.first_started = None;
            it.completed.retain(|&c| c as usize != j);
        }
    }

    fn apply_escalated(&mut self, at: DateTime<Utc>, task: TaskId, level: u32, to: &str) {
        let Some(t) = self.tasks.get_mut(&task) else {
            return;
        };
        t.escalation_level = level;
        hand_to(t, to);
        let t = t.clone();
        let levels = self.task_escalations(&t);
        let next = levels.get(level as usize).map(|e| (e.after, level + 1));
        let repeat = levels.last().and_then(|e| e.repeat);
        let when = match (next, repeat) {
            (Some((after, n)), _) => Some((later(t.created_at, after), n)),
            (None, Some(r)) if !levels.is_empty() => Some((later(at, r), level + 1)),
            _ => None,
        };
        if let Some((w, n)) = when {
            self.arm(w.max(at), Timer::Escalate { task, level: n });
        }
    }

    fn end(&mut self, rec: &Record, item: ItemId, status: ItemStatus) {
        let at = rec.at;
        let Some(it) = self.items.get_mut(&item) else {
            return;
        };
        if it.ended.is_some() {
            return;
        }
        it.ended = Some(status);
        it.ended_at = Some(at);
        it.compensating = false;
        let (wf, started, due) = (it.wf.clone(), it.started_at, it.sla_due);
        match status {
            ItemStatus::Completed => self.counters.completed += 1,
            ItemStatus::Failed => self.counters.failed += 1,
            _ => self.counters.cancelled += 1,
        }
        let fact = match status {
            ItemStatus::Completed => Fact::Completed {
                cycle_us: micros_between(started, at),
            },
            ItemStatus::Failed => Fact::Failed,
            _ => Fact::Cancelled,
        };
        self.count(&wf.name, at, fact);
        if let Some(due) = due
            && status != ItemStatus::Cancelled
        {
            self.count(&wf.name, at, Fact::Sla { met: at <= due });
        }
        if !self.keep_ended {
            self.evict(item, rec.seq);
        }
    }

    /// Let an ended item go: its summary and tasks move to `ended` for the store.
    fn evict(&mut self, item: ItemId, last_seq: u64) {
        let Some(it) = self.items.remove(&item) else {
            return;
        };
        let tasks = it
            .tasks
            .iter()
            .filter_map(|t| self.tasks.remove(t))
            .map(|t| super::views::task_view(Some(&it), &t))
            .collect();
        self.ended.push(EndedItem {
            summary: super::views::summary(&it),
            tasks,
            first_seq: it.first_seq,
            last_seq,
        });
        // Timers are not removed one by one as their items end (each re-checks its
        // condition when it fires); sweeping whenever the set has doubled keeps it in
        // proportion to the work in flight at O(1) amortized per timer.
        if self.timers.len() > self.timer_mark {
            self.sweep_timers();
            self.timer_mark = (self.timers.len() * 2).max(4096);
        }
    }

    /// Drop timers whose item or task is gone.
    pub fn sweep_timers(&mut self) {
        let (items, tasks) = (&self.items, &self.tasks);
        self.timers.retain(|(_, t)| match t {
            Timer::Start { item, .. }
            | Timer::AttemptTimeout { item, .. }
            | Timer::Deadline { item, .. }
            | Timer::Wait { item, .. }
            | Timer::Sla { item } => items.contains_key(item),
            Timer::Escalate { task, .. } | Timer::TaskDue { task } => tasks.contains_key(task),
        });
    }

    /// The escalation chain that applies to a task (its step's, or its review's).
    pub fn task_escalations(&self, t: &Task) -> Vec<Escalation> {
        let Some(it) = self.items.get(&t.item) else {
            return Vec::new();
        };
        match &it.wf.steps[t.step as usize].kind {
            StepKind::Human(h) => h.escalate.clone(),
            StepKind::Agent(a) => a.review.escalate.clone(),
            _ => Vec::new(),
        }
    }

    /// Arm the item's next SLA moment: the next warning, escalation, or the breach.
    fn arm_sla(&mut self, item: ItemId) {
        let Some(it) = self.items.get(&item) else {
            return;
        };
        if let Some(at) = next_sla_moment(it) {
            self.arm(at, Timer::Sla { item });
        }
    }
}

/// When the item's SLA next needs attention, if ever.
pub fn next_sla_moment(it: &Item) -> Option<DateTime<Utc>> {
    let sla = it.wf.sla.as_ref()?;
    let due = it.sla_due?;
    if it.sla_breached || it.is_final() {
        return None;
    }
    let total = due - it.started_at;
    let mut next = due;
    if let Some(p) = sla.warn.iter().find(|&&p| p > it.sla_warned) {
        next = next.min(it.started_at + total * i32::from(*p) / 100);
    }
    if let Some(e) = sla.escalate.get(it.sla_escalations as usize) {
        next = next.min(later(it.started_at, e.after));
    }
    Some(next)
}

fn hand_to(t: &mut Task, to: &str) {
    match to.strip_prefix('@') {
        Some(user) => t.assignee = Some(user.to_string()),
        None => {
            t.group = Some(to.to_string());
            t.assignee = None;
        }
    }
    t.claimed_by = None;
    if t.status == TaskStatus::Claimed {
        t.status = TaskStatus::Open;
    }
}

/// `from` and every step that transitively needs it, in definition order.
pub fn downstream(wf: &Workflow, from: usize) -> Vec<usize> {
    wf.downstream(from)
}
