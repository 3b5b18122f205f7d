//! The HTTP API of `tempi serve`: the server over an engine handle, and the typed
//! client the CLI (and later the console) uses to talk to it.

pub mod client;
pub mod identity;
pub mod listen;
pub mod metrics;
pub mod openapi;
pub mod peer;
pub mod server;
pub mod socket;
pub mod sse;
mod stream;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::types::ItemId;
pub use crate::types::deploy::{DeployFile, DeployRequest, Deployment, WorkflowInfo};

/// Who acts: the operator name sent with every command (`--as`).
pub const ACTOR_HEADER: &str = "x-tempi-actor";
/// Why: free text recorded in the journal with the command's events.
pub const REASON_HEADER: &str = "x-tempi-reason";
/// Largest request body the server reads.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Body of `POST /api/items`: the fields of `Command::Start`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    pub workflow: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// The item's input: an object (absent or null is `{}`).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub input: Value,
    #[serde(default)]
    pub priority: i32,
}

/// Body of `POST /api/tasks/{id}/decide`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideRequest {
    pub decision: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Values for the task's form (JSON of each field's type, or text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Body of `POST /api/tasks/{id}/reassign`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignRequest {
    pub to: String,
}

/// Body of `POST /api/tasks/{id}/escalate` (may be empty).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalateRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// Body of `POST /api/items/{id}/retry` (may be empty).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// Body of `POST /api/items/{id}/skip`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkipRequest {
    pub step: String,
}

/// Body of `POST /api/items/{id}/signal`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignalRequest {
    pub name: String,
    #[serde(default)]
    pub data: Value,
}

/// An empty body (`claim`, `cancel`, `compensate`); `{}` or nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// Every error answer: `{"error": kind, "message": text}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What kind of refusal: `bad_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `conflict`, `resync`, `too_large`, `invalid`, `method_not_allowed`, `internal`,
    /// `unavailable`.
    pub error: String,
    /// What was wrong and where, for a person.
    pub message: String,
}

/// Query of `GET /api/audit`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<ItemId>,
    #[serde(default)]
    pub after: u64,
    /// At most this many (1000 when absent, 10000 at most).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<u64>)]
    pub limit: Option<usize>,
}

/// Query of `GET /api/report`: the window's start (by default, as far back as ended
/// items are kept).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "report_since"
    )]
    #[param(schema_with = openapi::time_or_date)]
    pub since: Option<chrono::DateTime<chrono::Utc>>,
}

/// A report's `since`: an RFC 3339 time or a date (midnight UTC), with an error that
/// says which forms it takes.
fn report_since<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, D::Error> {
    use serde::de::Error;
    let text = Option::<String>::deserialize(d)?;
    text.map(|t| match crate::types::report::parse_since(&t) {
        Ok(crate::types::report::Since::At(at)) => Ok(at),
        _ => Err(D::Error::custom(format!(
            "since: {:?} is not a time such as 2026-12-01T09:00:00Z or a date such as 2026-12-01",
            crate::text::clip(&t, 40)
        ))),
    })
    .transpose()
}

/// Query of `GET /api/events`; `Last-Event-ID` wins over `after`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<ItemId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
}

/// Query of `GET /api/changes`; `Last-Event-ID` wins over `after`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<u64>,
    /// The `journal_id` the position is in; another journal's answer is `410 resync`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journal: Option<String>,
}

#[cfg(test)]
mod tests;
