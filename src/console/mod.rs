//! The terminal console: live panes over an engine (embedded or attached over the API),
//! driven from the keyboard.

pub mod app;
pub mod bench;
pub mod filter;
pub mod history;
pub mod keymap;
pub mod model;
pub mod notify;
pub mod osc;
pub mod run;
pub mod sgr;
pub mod source;
pub mod svg;
pub mod sync;
pub mod terminal;
pub mod theme;
pub mod view;

#[cfg(test)]
pub(crate) mod tests;
