//! What operators and clients ask of the engine, and how the engine refuses.
//! The same types travel in-process (console) and as JSON over the API.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::event::{ItemId, TaskId};
use super::identity::Role;

/// How far back `start`'s `since` may put an item's clock.
pub const MAX_SINCE_DAYS: i64 = 30;

/// An operator's request. Each is validated against the current state before any
/// event is written; a refused command changes nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    Start {
        workflow: String,
        /// The newest loaded version when absent.
        #[serde(default)]
        version: Option<u32>,
        #[serde(default)]
        #[schema(value_type = Option<Object>)]
        input: Value,
        #[serde(default)]
        priority: i32,
        /// When the item's clock started, if earlier than now (work that waited
        /// upstream before it reached tempi): its age and SLA run from here. At most
        /// [`MAX_SINCE_DAYS`] back, never in the future.
        #[serde(
            default,
            deserialize_with = "since::deserialize",
            skip_serializing_if = "Option::is_none"
        )]
        since: Option<DateTime<Utc>>,
    },
    /// Decide a task. `approve` and `reject` are decisions with the default options.
    Decide {
        task: TaskId,
        decision: String,
        #[serde(default)]
        comment: Option<String>,
        /// Values for the task's form (see `TaskView::form`), as JSON of each field's
        /// type or as text; fields left out take their defaults.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fields: Option<serde_json::Map<String, Value>>,
    },
    Claim {
        task: TaskId,
    },
    Reassign {
        task: TaskId,
        to: String,
    },
    /// Move the task to its next escalation level (or to `to` when given).
    Escalate {
        task: TaskId,
        #[serde(default)]
        to: Option<String>,
    },
    /// Retry the failed step of an incident, or re-run from `from` onwards.
    Retry {
        item: ItemId,
        #[serde(default)]
        from: Option<String>,
    },
    Skip {
        item: ItemId,
        step: String,
    },
    /// Undo completed steps in reverse order, then fail the item.
    Compensate {
        item: ItemId,
    },
    Cancel {
        item: ItemId,
    },
    Signal {
        item: ItemId,
        name: String,
        #[serde(default)]
        data: Value,
    },
    /// Register an operator (admins only); the answer carries their token, shown once.
    AddOperator {
        name: String,
        #[serde(default)]
        role: Role,
        #[serde(default)]
        groups: Vec<String>,
    },
    /// Revoke an operator: their token stops working; their name stays in the trail.
    RevokeOperator {
        name: String,
    },
    /// Replace an operator's groups.
    SetGroups {
        name: String,
        groups: Vec<String>,
    },
    SetRole {
        name: String,
        role: Role,
    },
    /// A new token for an operator (the old one stops working); shown once.
    IssueToken {
        name: String,
    },
}

impl Command {
    /// The item a command acts on, if it names one.
    pub fn item(&self) -> Option<ItemId> {
        match self {
            Command::Retry { item, .. }
            | Command::Skip { item, .. }
            | Command::Compensate { item }
            | Command::Cancel { item }
            | Command::Signal { item, .. } => Some(*item),
            _ => None,
        }
    }

    /// Whether the command's answer carries a new token (the runtime draws it).
    pub fn issues_token(&self) -> bool {
        matches!(
            self,
            Command::AddOperator { .. } | Command::IssueToken { .. }
        )
    }

    /// The least role that may give this command at all (tasks are checked further).
    pub fn least_role(&self) -> Role {
        match self {
            Command::Decide { .. }
            | Command::Claim { .. }
            | Command::Reassign { .. }
            | Command::Escalate { .. } => Role::Approver,
            Command::Start { .. }
            | Command::Retry { .. }
            | Command::Skip { .. }
            | Command::Compensate { .. }
            | Command::Cancel { .. }
            | Command::Signal { .. } => Role::Operator,
            Command::AddOperator { .. }
            | Command::RevokeOperator { .. }
            | Command::SetGroups { .. }
            | Command::SetRole { .. }
            | Command::IssueToken { .. } => Role::Admin,
        }
    }

    /// The verb, as a refusal names it.
    pub fn verb(&self) -> &'static str {
        match self {
            Command::Start { .. } => "start items",
            Command::Decide { .. } => "decide tasks",
            Command::Claim { .. } => "claim tasks",
            Command::Reassign { .. } => "reassign tasks",
            Command::Escalate { .. } => "escalate tasks",
            Command::Retry { .. } => "retry items",
            Command::Skip { .. } => "skip steps",
            Command::Compensate { .. } => "compensate items",
            Command::Cancel { .. } => "cancel items",
            Command::Signal { .. } => "signal items",
            Command::AddOperator { .. }
            | Command::RevokeOperator { .. }
            | Command::SetGroups { .. }
            | Command::SetRole { .. }
            | Command::IssueToken { .. } => "manage operators",
        }
    }

    /// The task a command acts on, if it names one.
    pub fn task(&self) -> Option<TaskId> {
        match self {
            Command::Decide { task, .. }
            | Command::Claim { task }
            | Command::Reassign { task, .. }
            | Command::Escalate { task, .. } => Some(*task),
            _ => None,
        }
    }
}

/// What a successful command returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reply {
    /// The item the command concerned (the new item for `start`).
    pub item: Option<ItemId>,
    pub task: Option<TaskId>,
    /// A one-line human answer, e.g. "task 7 approved".
    pub message: String,
    /// The journal sequence number at which the command's events were committed.
    pub seq: u64,
    /// A new operator token (`add_operator`, `issue_token`): shown this once, kept
    /// nowhere (the directory holds its hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// Why a command was refused. Nothing was changed.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "error", content = "message", rename_all = "snake_case")]
pub enum CommandError {
    /// The item, task, step or workflow does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The target exists but is in a state that does not allow this (already decided,
    /// item already ended, another operator won the race).
    #[error("{0}")]
    Conflict(String),
    /// The request itself is wrong (an option that is not offered, bad input).
    #[error("{0}")]
    Invalid(String),
    /// The operator may not do this (their role, the task's candidates, four eyes);
    /// the message names the rule.
    #[error("{0}")]
    Forbidden(String),
    /// The engine is shutting down or its journal cannot be written.
    #[error("{0}")]
    Unavailable(String),
    /// The engine failed while handling the command (a bug, contained: the item it
    /// concerned was stopped as an incident).
    #[error("{0}")]
    Internal(String),
}

impl CommandError {
    /// The HTTP status the API answers with.
    pub fn status(&self) -> u16 {
        match self {
            CommandError::NotFound(_) => 404,
            CommandError::Conflict(_) => 409,
            CommandError::Invalid(_) => 422,
            CommandError::Forbidden(_) => 403,
            CommandError::Unavailable(_) => 503,
            CommandError::Internal(_) => 500,
        }
    }
}

/// `since` read with an error that names it (a tagged command's errors carry no
/// position, and chrono's own say only "input is out of range").
mod since {
    use chrono::{DateTime, Utc};
    use serde::de::Error;
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let text = Option::<String>::deserialize(d)
            .map_err(|e| D::Error::custom(format!("since: {e}")))?;
        text.map(|t| {
            t.parse::<DateTime<Utc>>().map_err(|e| {
                D::Error::custom(format!(
                    "since: {t:?} is not a time such as 2026-12-01T09:00:00Z ({e})"
                ))
            })
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_carries_since_only_when_given() {
        let plain: Command = serde_json::from_str(r#"{"command":"start","workflow":"w"}"#).unwrap();
        assert!(matches!(plain, Command::Start { since: None, .. }));
        let text = serde_json::to_string(&plain).unwrap();
        assert!(
            !text.contains("since"),
            "older clients read the same JSON: {text}"
        );
        let dated: Command = serde_json::from_str(
            r#"{"command":"start","workflow":"w","since":"2026-12-01T09:00:00Z"}"#,
        )
        .unwrap();
        let at = "2026-12-01T09:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert!(matches!(dated, Command::Start { since: Some(s), .. } if s == at));
        for (bad, says) in [
            (
                r#""2026-13-45T00:00:00Z""#,
                "since: \"2026-13-45T00:00:00Z\" is not a time",
            ),
            (
                r#""yesterday""#,
                "since: \"yesterday\" is not a time such as",
            ),
            ("5", "since: invalid type: integer `5`, expected a string"),
        ] {
            let text = format!(r#"{{"command":"start","workflow":"w","since":{bad}}}"#);
            let e = serde_json::from_str::<Command>(&text)
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
