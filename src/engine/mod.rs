//! The orchestrator: a pure core (state + events + decisions) wrapped by a runtime
//! that owns the journal, timers and executors.

pub mod command;
pub mod core;
pub mod event;
pub mod handle;
pub mod runtime;
pub mod view;

pub use command::{Command, CommandError, Reply};
pub use event::{Event, ItemId, Record, TaskId};
pub use handle::EngineHandle;
