//! Console tests: snapshots of every pane and layout, and key presses against a real
//! embedded engine.

mod converge;
mod cursor;
mod decide;
pub(crate) mod fixture;
mod keys;
mod snapshots;
