//! Read models the engine hands to the API, the CLI and the console: listings of items
//! and tasks, one item's detail, and the counters behind the header and `/metrics`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::event::{ItemId, StepError, TaskId, TaskKind};
use super::exchange::Exchange;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// Steps are running or scheduled.
    Running,
    /// Nothing runs: the item waits on a human task, a signal or a timer.
    Waiting,
    /// Retries exhausted; an operator must retry, skip, compensate or cancel.
    Incident,
    /// Completed steps are being undone.
    Compensating,
    Completed,
    Failed,
    Cancelled,
}

impl ItemStatus {
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            ItemStatus::Completed | ItemStatus::Failed | ItemStatus::Cancelled
        )
    }

    pub fn name(&self) -> &'static str {
        match self {
            ItemStatus::Running => "running",
            ItemStatus::Waiting => "waiting",
            ItemStatus::Incident => "incident",
            ItemStatus::Compensating => "compensating",
            ItemStatus::Completed => "completed",
            ItemStatus::Failed => "failed",
            ItemStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<ItemStatus> {
        [
            ItemStatus::Running,
            ItemStatus::Waiting,
            ItemStatus::Incident,
            ItemStatus::Compensating,
            ItemStatus::Completed,
            ItemStatus::Failed,
            ItemStatus::Cancelled,
        ]
        .into_iter()
        .find(|st| st.name() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Pending,
    Scheduled,
    Running,
    Waiting,
    Succeeded,
    Failed,
    Skipped,
    Compensating,
    Compensated,
}

/// One line of the items listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ItemSummary {
    pub id: ItemId,
    pub workflow: String,
    pub version: u32,
    pub status: ItemStatus,
    /// The steps running or waiting now, comma-separated ("" when none).
    pub current: String,
    pub priority: i32,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub sla_due: Option<DateTime<Utc>>,
    /// Highest warning threshold crossed (percent), 0 when none.
    pub sla_warned: u8,
    pub sla_breached: bool,
    /// An incident's failed step and its error (`pay: connect: connection refused`),
    /// clipped to [`INCIDENT_MAX`] characters: what the console groups incidents by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
    /// The business key its workflow's `key:` renders to (an invoice number), once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The title its workflow's `title:` renders to (a customer's name), once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// Whether a business key is `want`, ignoring ASCII case (`prefix`: starts with it).
/// The store's index compares the same way (SQLite's NOCASE).
pub fn key_matches(key: Option<&str>, want: &str, prefix: bool) -> bool {
    let Some(key) = key else {
        return false;
    };
    if prefix {
        key.get(..want.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(want))
    } else {
        key.eq_ignore_ascii_case(want)
    }
}

/// The longest incident cause an item summary carries, in characters.
pub const INCIDENT_MAX: usize = 240;

/// An item the engine has let go of, as the store keeps it: its last summary, its
/// tasks, and where its records are in the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndedItem {
    pub summary: ItemSummary,
    pub tasks: Vec<TaskView>,
    /// The seqs of its first and last records.
    pub first_seq: u64,
    pub last_seq: u64,
}

/// One step of an item, for the detail view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StepView {
    pub id: String,
    pub kind: String,
    pub status: StepStatus,
    pub attempts: u32,
    pub needs: Vec<String>,
    /// Its `when:` condition, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub output: Option<Value>,
    pub error: Option<StepError>,
    pub task: Option<TaskId>,
    pub waiting_on: Option<String>,
    /// The HTTP exchange of the attempt that gave `output` or `error` (`http` and
    /// `agent` steps), bounded and with sensitive header values hidden.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<Exchange>,
}

/// Everything about one item except its audit trail (which comes from the journal).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ItemDetail {
    pub summary: ItemSummary,
    pub input: Value,
    pub steps: Vec<StepView>,
    /// The step and error of an open incident.
    pub incident: Option<(String, StepError)>,
    pub compensating: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Open,
    Claimed,
    Decided,
    Cancelled,
}

/// One task of the inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskView {
    pub id: TaskId,
    pub item: ItemId,
    pub workflow: String,
    pub step: String,
    pub kind: TaskKind,
    pub title: String,
    pub details: Option<String>,
    pub group: Option<String>,
    pub assignee: Option<String>,
    pub claimed_by: Option<String>,
    pub options: Vec<String>,
    pub status: TaskStatus,
    pub created_at: DateTime<Utc>,
    pub due: Option<DateTime<Utc>>,
    pub overdue: bool,
    pub escalation_level: u32,
    pub decision: Option<String>,
    pub comment: Option<String>,
    pub decided_by: Option<String>,
    pub priority: i32,
    /// Distinct approvals the task needs (`approvals:` of its step; 1 for most).
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub approvals: u32,
    /// Who approved so far (for a task that needs several), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approved_by: Vec<String>,
    /// The fields a decision fills in: the step's `form:`, or for an agent review the
    /// proposal's fields, prefilled with the agent's values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub form: Vec<super::form::FormField>,
}

impl TaskView {
    /// `1 of 2 approvals (alice)` for a task that needs several, else None.
    pub fn approvals_text(&self) -> Option<String> {
        if self.approvals <= 1 {
            return None;
        }
        let (n, given) = (self.approvals, self.approved_by.len());
        Some(match given {
            0 => format!("0 of {n} approvals"),
            _ => format!("{given} of {n} approvals ({})", self.approved_by.join(", ")),
        })
    }
}

/// Which items a listing wants.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ItemFilter {
    #[serde(default)]
    pub status: Option<ItemStatus>,
    #[serde(default)]
    pub workflow: Option<String>,
    /// Only items still in flight.
    #[serde(default)]
    pub active: bool,
    /// Only items that have ended.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ended: bool,
    /// At most this many, newest first (all when absent).
    #[serde(default)]
    #[param(minimum = 1, value_type = Option<u64>)]
    pub limit: Option<usize>,
    /// Paging: only items listed after this one (newest first, so ids below it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<ItemId>,
    /// Only these items (any status), in this order; unknown ids are left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<String>, pattern = "^([0-9]{1,19})?(,([0-9]{1,19})?)*$", example = "3,1,2")]
    pub ids: Option<IdList>,
    /// Only items with this business key (ASCII case ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Only items whose business key starts with this (ASCII case ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_prefix: Option<String>,
}

impl ItemFilter {
    /// Whether an item with this business key passes the `key` and `key_prefix` terms.
    pub fn key_passes(&self, key: Option<&str>) -> bool {
        self.key
            .as_deref()
            .is_none_or(|k| key_matches(key, k, false))
            && (self.key_prefix.as_deref()).is_none_or(|k| key_matches(key, k, true))
    }
}

/// Item ids written as `1,2,3` so a filter stays one query string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdList(pub Vec<ItemId>);

impl Serialize for IdList {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text: Vec<String> = self.0.iter().map(|i| i.to_string()).collect();
        s.serialize_str(&text.join(","))
    }
}

impl<'de> Deserialize<'de> for IdList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        // Digits only, as the pattern on `ItemFilter::ids` says (`parse` alone takes `+1`).
        text.split(',')
            .filter(|t| !t.is_empty())
            .map(|t| {
                t.bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| t.parse().ok())
                    .flatten()
                    .ok_or_else(|| serde::de::Error::custom(format!("'{t}' is not an item id")))
            })
            .collect::<Result<Vec<ItemId>, _>>()
            .map(IdList)
    }
}

/// Which tasks a listing wants.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskFilter {
    /// Only tasks this user may act on: assigned to or claimed by them, or in a group
    /// and unclaimed.
    #[serde(default)]
    pub mine: Option<String>,
    /// Include decided and cancelled tasks.
    #[serde(default)]
    pub all: bool,
    /// At most this many, oldest first (all when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, value_type = Option<u64>)]
    pub limit: Option<usize>,
    /// Paging: only tasks with ids above this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<TaskId>,
}

/// The counters an operator watches; also exported as Prometheus metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Metrics {
    pub in_flight: u64,
    pub waiting_on_humans: u64,
    pub incidents: u64,
    /// In flight with an SLA warning crossed and not yet breached.
    pub at_risk: u64,
    /// In flight past their SLA deadline.
    pub breached: u64,
    pub completed: u64,
    pub failed: u64,
    pub cancelled: u64,
    /// Items with an SLA that completed or failed by their deadline, percent of all
    /// such items since the journal began (cancelled ones left out); none without any.
    pub sla_met_pct: Option<f64>,
    pub open_tasks: u64,
    pub steps_succeeded: u64,
    pub steps_failed: u64,
    pub journal_seq: u64,
    /// Which journal `journal_seq` is a position in (see `GET /api/changes`).
    #[serde(default)]
    pub journal_id: String,
    pub commits: u64,
    /// How far the journal's hash chain is verified (a daemon before the chain sends none).
    #[serde(default)]
    pub audit: super::health::AuditHealth,
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_lists_are_comma_separated_text() {
        let f = ItemFilter {
            ids: Some(IdList(vec![3, 1, 2])),
            ..Default::default()
        };
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(json["ids"], "3,1,2");
        let back: ItemFilter = serde_json::from_value(json).unwrap();
        assert_eq!(back, f);
        let bad = serde_json::from_value::<ItemFilter>(serde_json::json!({ "ids": "1,two" }));
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("'two' is not an item id")
        );
    }
}
