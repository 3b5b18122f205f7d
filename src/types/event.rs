//! The journal's vocabulary: every state change of the engine is one of these events,
//! wrapped in a `Record` that says when, by whom and why. Replaying records rebuilds state.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::exchange::Exchange;
use super::identity::Role;

pub type ItemId = u64;
pub type TaskId = u64;

/// The actor of the engine's own decisions (and of the `--workflows` dir's load).
pub const ENGINE: &str = "engine";

/// One journal entry: an event with its sequence number, time, actor and reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Record {
    pub seq: u64,
    pub at: DateTime<Utc>,
    /// The item this record concerns (task events included), for the audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<ItemId>,
    /// `engine` for the engine's own decisions, else the operator who acted (or whom an
    /// admin acted for).
    pub actor: String,
    /// The admin who acted for `actor` (`--as`), when not the actor themselves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub event: Event,
}

/// Which phase of a step an event is about: its action, or its compensation (undo).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    #[default]
    Run,
    Compensate,
}

impl Phase {
    fn is_run(&self) -> bool {
        *self == Phase::Run
    }
}

/// Why a step attempt failed, as reported by an executor or the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StepError {
    pub kind: StepErrorKind,
    pub message: String,
    /// A finer code: the HTTP status, the exit code, an agent error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl StepError {
    pub fn new(kind: StepErrorKind, message: impl Into<String>) -> Self {
        StepError {
            kind,
            message: message.into(),
            code: None,
        }
    }

    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }
}

impl std::fmt::Display for StepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.message)
    }
}

/// The families of step failure; `retry.non_retryable` names these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepErrorKind {
    /// The attempt ran past its `timeout`.
    Timeout,
    /// The step ran past its whole-step `deadline`.
    Deadline,
    /// Could not connect, DNS, TLS, connection reset.
    Connect,
    /// An HTTP status outside `expect`.
    Status,
    /// A response that was not the JSON it should be.
    Decode,
    /// A program exited with a code outside `ok_codes`.
    Exit,
    /// A program could not be started.
    Spawn,
    /// A template or `when:` expression could not be rendered.
    Template,
    /// A wait for a signal timed out.
    Signal,
    /// A value past one of the engine's limits (an output too large to journal).
    Limit,
    /// The engine itself failed while deciding for the item (a bug, contained).
    Internal,
}

impl StepErrorKind {
    pub fn name(&self) -> &'static str {
        match self {
            StepErrorKind::Timeout => "timeout",
            StepErrorKind::Deadline => "deadline",
            StepErrorKind::Connect => "connect",
            StepErrorKind::Status => "status",
            StepErrorKind::Decode => "decode",
            StepErrorKind::Exit => "exit",
            StepErrorKind::Spawn => "spawn",
            StepErrorKind::Template => "template",
            StepErrorKind::Signal => "signal",
            StepErrorKind::Limit => "limit",
            StepErrorKind::Internal => "internal",
        }
    }

    pub const ALL: [StepErrorKind; 11] = [
        StepErrorKind::Timeout,
        StepErrorKind::Deadline,
        StepErrorKind::Connect,
        StepErrorKind::Status,
        StepErrorKind::Decode,
        StepErrorKind::Exit,
        StepErrorKind::Spawn,
        StepErrorKind::Template,
        StepErrorKind::Signal,
        StepErrorKind::Limit,
        StepErrorKind::Internal,
    ];
}

/// What a human task is for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TaskKind {
    /// A `human` step.
    Approval,
    /// An agent proposal whose confidence was below `min_confidence`.
    AgentReview { proposal: Value, confidence: f64 },
}

/// Every state change the engine knows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A workflow definition became known; items started later may use it.
    WorkflowLoaded {
        name: String,
        version: u32,
        source: String,
    },
    ItemStarted {
        item: ItemId,
        workflow: String,
        version: u32,
        input: Value,
        priority: i32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sla_due: Option<DateTime<Utc>>,
        /// When the item's clock started, if earlier than the record (a back-dated
        /// start): its age and SLA run from here.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        since: Option<DateTime<Utc>>,
    },
    /// The item's business key and title, rendered from its workflow's `key:` and
    /// `title:` when it starts and again when a step they read succeeds. Both are given
    /// as they now are; one that could not be rendered is absent and `problem` says why.
    ItemNamed {
        item: ItemId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        title: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        problem: Option<String>,
    },
    /// A step (or its compensation) will start at `at`, after a backoff. (An attempt due
    /// at once is journaled as its `StepStarted` alone.)
    StepScheduled {
        item: ItemId,
        step: String,
        attempt: u32,
        at: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Phase::is_run")]
        phase: Phase,
    },
    /// An attempt was handed to its executor. `timeout_at` is when it is abandoned.
    StepStarted {
        item: ItemId,
        step: String,
        attempt: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_at: Option<DateTime<Utc>>,
        #[serde(default, skip_serializing_if = "Phase::is_run")]
        phase: Phase,
    },
    /// The step waits on a human task, a signal or a timer.
    StepWaiting {
        item: ItemId,
        step: String,
        attempt: u32,
        on: WaitOn,
    },
    StepSucceeded {
        item: ItemId,
        step: String,
        attempt: u32,
        output: Value,
        #[serde(default, skip_serializing_if = "Phase::is_run")]
        phase: Phase,
        /// The HTTP exchange of an `http` or `agent` attempt (without the response body,
        /// which is `output`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exchange: Option<Box<Exchange>>,
    },
    StepFailed {
        item: ItemId,
        step: String,
        attempt: u32,
        error: StepError,
        #[serde(default, skip_serializing_if = "Phase::is_run")]
        phase: Phase,
        /// The HTTP exchange of a failed `http` or `agent` attempt, with the response's
        /// body when there was a response.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exchange: Option<Box<Exchange>>,
    },
    /// `when:` was false, a dependency was skipped, or an operator skipped it.
    StepSkipped {
        item: ItemId,
        step: String,
        reason: String,
    },
    /// Retries are exhausted: the item waits for an operator.
    IncidentRaised {
        item: ItemId,
        step: String,
        error: StepError,
        #[serde(default, skip_serializing_if = "Phase::is_run")]
        phase: Phase,
    },
    /// An operator retried the step (and, with `from`, every step after it).
    ItemRetried {
        item: ItemId,
        step: String,
        from: bool,
    },
    /// Compensation began: completed steps will be undone in reverse order.
    CompensationStarted {
        item: ItemId,
    },
    TaskCreated {
        task: TaskId,
        item: ItemId,
        step: String,
        kind: TaskKind,
        title: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        details: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        assignee: Option<String>,
        options: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        due: Option<DateTime<Utc>>,
    },
    TaskClaimed {
        task: TaskId,
        by: String,
    },
    TaskReassigned {
        task: TaskId,
        to: String,
    },
    /// An escalation level fired (by delay) or an operator escalated by hand.
    TaskEscalated {
        task: TaskId,
        level: u32,
        to: String,
    },
    /// One approval of a task that needs several (`approvals: N`); the last one
    /// decides it (`TaskDecided`).
    TaskApproved {
        task: TaskId,
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
    },
    TaskDecided {
        task: TaskId,
        decision: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        comment: Option<String>,
        by: String,
        /// The form's values as checked (defaults filled in); for an agent review, only
        /// the fields the reviewer corrected.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fields: Option<serde_json::Map<String, Value>>,
    },
    /// The task's item ended or its step was skipped; the task is closed undecided.
    TaskCancelled {
        task: TaskId,
    },
    TaskOverdue {
        task: TaskId,
    },
    SignalReceived {
        item: ItemId,
        name: String,
        data: Value,
    },
    /// The item's SLA crossed a warning threshold (percent of the due time).
    SlaWarning {
        item: ItemId,
        percent: u8,
    },
    /// An item-level SLA escalation level fired: `to` is notified before breach.
    SlaEscalated {
        item: ItemId,
        level: u32,
        to: String,
    },
    SlaBreached {
        item: ItemId,
    },
    ItemCompleted {
        item: ItemId,
    },
    ItemFailed {
        item: ItemId,
        error: String,
    },
    ItemCancelled {
        item: ItemId,
    },
    /// An operator was registered (or a revoked name registered again).
    OperatorAdded {
        name: String,
        role: Role,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        groups: Vec<String>,
        /// SHA-256 of their token (hex); the token itself is never kept.
        token: String,
    },
    OperatorRevoked {
        name: String,
    },
    OperatorGroupsSet {
        name: String,
        groups: Vec<String>,
    },
    OperatorRoleSet {
        name: String,
        role: Role,
    },
    /// A new token for an operator; the old one stops working.
    OperatorTokenIssued {
        name: String,
        token: String,
    },
}

/// What a waiting step waits on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WaitOn {
    Task {
        task: TaskId,
    },
    Signal {
        name: String,
        until: Option<DateTime<Utc>>,
    },
    Timer {
        until: DateTime<Utc>,
    },
}

impl Event {
    /// A short human description of the event's particulars (audit tables, the console).
    pub fn detail(&self) -> String {
        match self {
            Event::WorkflowLoaded { name, version, .. } => format!("{name} v{version}"),
            Event::ItemStarted {
                workflow,
                version,
                since,
                ..
            } => match since {
                // A back-dated clock says so wherever the start is shown.
                Some(at) => format!(
                    "{workflow} v{version}, clock from {}",
                    at.format("%Y-%m-%d %H:%M:%S UTC")
                ),
                None => format!("{workflow} v{version}"),
            },
            Event::ItemNamed {
                key,
                title,
                problem,
                ..
            } => {
                let named = [key.as_deref(), title.as_deref()];
                let mut out = named.into_iter().flatten().collect::<Vec<_>>().join(" · ");
                if let Some(p) = problem {
                    out = if out.is_empty() {
                        p.clone()
                    } else {
                        format!("{out} ({p})")
                    };
                }
                out
            }
            Event::StepScheduled { step, attempt, .. }
            | Event::StepStarted { step, attempt, .. }
            | Event::StepSucceeded { step, attempt, .. } => format!("{step} #{attempt}"),
            Event::StepWaiting { step, on, .. } => {
                let on = match on {
                    WaitOn::Task { task } => format!("task {task}"),
                    WaitOn::Signal { name, .. } => format!("signal {name}"),
                    WaitOn::Timer { until } => format!("timer until {until}"),
                };
                format!("{step} on {on}")
            }
            Event::StepFailed {
                step,
                attempt,
                error,
                ..
            } => format!("{step} #{attempt}: {error}"),
            Event::StepSkipped { step, reason, .. } => format!("{step}: {reason}"),
            Event::IncidentRaised { step, error, .. } => format!("{step}: {error}"),
            Event::ItemRetried { step, .. } => step.clone(),
            Event::TaskCreated { task, title, .. } => format!("task {task}: {title}"),
            Event::TaskClaimed { task, by } => format!("task {task} by {by}"),
            Event::TaskReassigned { task, to } | Event::TaskEscalated { task, to, .. } => {
                format!("task {task} to {to}")
            }
            Event::TaskApproved { task, by, comment } => match comment {
                Some(c) => format!("task {task} approved by {by}: {c}"),
                None => format!("task {task} approved by {by}"),
            },
            Event::OperatorAdded {
                name, role, groups, ..
            } => match groups.is_empty() {
                true => format!("{name} ({role})"),
                false => format!("{name} ({role}; {})", groups.join(", ")),
            },
            Event::OperatorRevoked { name } | Event::OperatorTokenIssued { name, .. } => {
                name.clone()
            }
            Event::OperatorGroupsSet { name, groups } => match groups.is_empty() {
                true => format!("{name}: no groups"),
                false => format!("{name}: {}", groups.join(", ")),
            },
            Event::OperatorRoleSet { name, role } => format!("{name}: {role}"),
            Event::TaskDecided {
                task,
                decision,
                comment,
                fields,
                ..
            } => {
                let mut text = format!("task {task} {decision}");
                if let Some(f) = fields.as_ref().filter(|f| !f.is_empty()) {
                    let pairs: Vec<String> = f
                        .iter()
                        .map(|(k, v)| match v {
                            Value::String(s) => format!("{k}={s}"),
                            other => format!("{k}={other}"),
                        })
                        .collect();
                    text.push_str(&format!(" ({})", pairs.join(", ")));
                }
                if let Some(c) = comment {
                    text.push_str(&format!(": {c}"));
                }
                text
            }
            Event::TaskCancelled { task } | Event::TaskOverdue { task } => format!("task {task}"),
            Event::SignalReceived { name, .. } => name.clone(),
            Event::SlaWarning { percent, .. } => format!("{percent}%"),
            Event::SlaEscalated { level, to, .. } => format!("level {level} to {to}"),
            Event::ItemFailed { error, .. } => error.clone(),
            Event::CompensationStarted { .. }
            | Event::SlaBreached { .. }
            | Event::ItemCompleted { .. }
            | Event::ItemCancelled { .. } => String::new(),
        }
    }

    /// The item an event concerns; task events are resolved through the state.
    pub fn item(&self) -> Option<ItemId> {
        match self {
            Event::ItemStarted { item, .. }
            | Event::ItemNamed { item, .. }
            | Event::StepScheduled { item, .. }
            | Event::StepStarted { item, .. }
            | Event::StepWaiting { item, .. }
            | Event::StepSucceeded { item, .. }
            | Event::StepFailed { item, .. }
            | Event::StepSkipped { item, .. }
            | Event::IncidentRaised { item, .. }
            | Event::ItemRetried { item, .. }
            | Event::CompensationStarted { item }
            | Event::TaskCreated { item, .. }
            | Event::SignalReceived { item, .. }
            | Event::SlaWarning { item, .. }
            | Event::SlaEscalated { item, .. }
            | Event::SlaBreached { item }
            | Event::ItemCompleted { item }
            | Event::ItemFailed { item, .. }
            | Event::ItemCancelled { item } => Some(*item),
            _ => None,
        }
    }

    /// The task an event concerns.
    pub fn task(&self) -> Option<TaskId> {
        match self {
            Event::TaskCreated { task, .. }
            | Event::TaskClaimed { task, .. }
            | Event::TaskReassigned { task, .. }
            | Event::TaskEscalated { task, .. }
            | Event::TaskDecided { task, .. }
            | Event::TaskApproved { task, .. }
            | Event::TaskCancelled { task }
            | Event::TaskOverdue { task } => Some(*task),
            _ => None,
        }
    }

    /// The snake_case name of the event, as in the journal and the API.
    pub fn name(&self) -> &'static str {
        match self {
            Event::WorkflowLoaded { .. } => "workflow_loaded",
            Event::ItemStarted { .. } => "item_started",
            Event::ItemNamed { .. } => "item_named",
            Event::StepScheduled { .. } => "step_scheduled",
            Event::StepStarted { .. } => "step_started",
            Event::StepWaiting { .. } => "step_waiting",
            Event::StepSucceeded { .. } => "step_succeeded",
            Event::StepFailed { .. } => "step_failed",
            Event::StepSkipped { .. } => "step_skipped",
            Event::IncidentRaised { .. } => "incident_raised",
            Event::ItemRetried { .. } => "item_retried",
            Event::CompensationStarted { .. } => "compensation_started",
            Event::TaskCreated { .. } => "task_created",
            Event::TaskClaimed { .. } => "task_claimed",
            Event::TaskReassigned { .. } => "task_reassigned",
            Event::TaskEscalated { .. } => "task_escalated",
            Event::TaskApproved { .. } => "task_approved",
            Event::TaskDecided { .. } => "task_decided",
            Event::TaskCancelled { .. } => "task_cancelled",
            Event::TaskOverdue { .. } => "task_overdue",
            Event::SignalReceived { .. } => "signal_received",
            Event::SlaWarning { .. } => "sla_warning",
            Event::SlaEscalated { .. } => "sla_escalated",
            Event::SlaBreached { .. } => "sla_breached",
            Event::ItemCompleted { .. } => "item_completed",
            Event::ItemFailed { .. } => "item_failed",
            Event::ItemCancelled { .. } => "item_cancelled",
            Event::OperatorAdded { .. } => "operator_added",
            Event::OperatorRevoked { .. } => "operator_revoked",
            Event::OperatorGroupsSet { .. } => "operator_groups_set",
            Event::OperatorRoleSet { .. } => "operator_role_set",
            Event::OperatorTokenIssued { .. } => "operator_token_issued",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Journals written before exchanges were kept replay as they are, and an event
    /// without one is written as before.
    #[test]
    fn a_step_event_without_an_exchange_reads_and_writes_as_before() {
        let old = r#"{"type":"step_failed","item":7,"step":"pay","attempt":2,
            "error":{"kind":"status","message":"POST http://bank/pay: unexpected status 503","code":"503"}}"#;
        let event: Event = serde_json::from_str(old).unwrap();
        let Event::StepFailed {
            exchange, error, ..
        } = &event
        else {
            panic!("not a step_failed: {event:?}");
        };
        assert_eq!((exchange, error.code.as_deref()), (&None, Some("503")));
        let written = serde_json::to_string(&event).unwrap();
        assert!(!written.contains("exchange"), "{written}");

        let old =
            r#"{"type":"step_succeeded","item":7,"step":"pay","attempt":1,"output":{"id":1}}"#;
        let event: Event = serde_json::from_str(old).unwrap();
        assert!(matches!(event, Event::StepSucceeded { exchange: None, .. }));
    }
}
