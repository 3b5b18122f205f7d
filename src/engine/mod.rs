//! The orchestrator: a pure core (state + events + decisions) wrapped by a runtime
//! that owns the journal, timers and executors.

pub mod attempts;
pub mod audit;
pub mod core;
pub mod handle;
mod replay;
pub mod retention;
pub mod runtime;
pub mod snapshots;

pub use crate::types::{Command, CommandError, Event, ItemId, Record, Reply, TaskId};
pub use handle::EngineHandle;
