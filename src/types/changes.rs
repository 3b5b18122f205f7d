//! What a console follows after its snapshot: batches of the items and tasks that
//! changed, with the counters and the newest lines of the log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::deploy::WorkflowVersion;
use super::event::{ItemId, Record};
use super::view::{ItemSummary, Metrics, TaskView};

/// Log lines one batch carries at most: the newest; the others are only counted.
pub const LINES_MAX: usize = 100;
/// Characters of a log line's particulars kept.
pub const DETAIL_MAX: usize = 160;

/// One line of the live log: a record as the events pane shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventLine {
    pub seq: u64,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<ItemId>,
    /// The event's name, as in the journal (`task_decided`).
    pub kind: String,
    /// Its particulars, clipped to `DETAIL_MAX` characters.
    pub detail: String,
    pub actor: String,
}

impl EventLine {
    pub fn of(rec: &Record) -> EventLine {
        EventLine {
            seq: rec.seq,
            at: rec.at,
            item: rec.item,
            kind: rec.event.name().to_string(),
            detail: crate::text::clip(&rec.event.detail(), DETAIL_MAX),
            actor: rec.actor.clone(),
        }
    }
}

/// What changed in the journal up to `seq`, in its latest state: every item and task a
/// record touched (ended ones and closed tasks included, so a mirror can drop them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Changes {
    /// The journal position this batch brings its reader to.
    pub seq: u64,
    pub items: Vec<ItemSummary>,
    pub tasks: Vec<TaskView>,
    pub metrics: Metrics,
    /// The newest records of the batch, oldest first.
    pub lines: Vec<EventLine>,
    /// Records of the batch left out of `lines`.
    #[serde(default)]
    pub lines_skipped: u64,
    /// Workflow versions the batch loaded (a deploy), whether or not their lines fit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workflows: Vec<WorkflowVersion>,
}
