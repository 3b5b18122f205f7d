//! The vocabulary every layer shares: journal records and events, operator commands,
//! read models, and rendered jobs. Engine, store, API and console all import from here,
//! so data flows one way.

pub mod changes;
pub mod command;
pub mod deploy;
pub mod event;
pub mod exchange;
pub mod form;
pub mod health;
pub mod identity;
pub mod job;
pub mod report;
pub mod secrets;
pub mod tally;
pub mod view;

pub use command::{Command, CommandError, Reply};
pub use event::{Event, ItemId, Record, TaskId};
pub use health::Health;
