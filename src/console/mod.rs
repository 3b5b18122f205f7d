//! The terminal console: live panes over an engine (embedded or attached over the API),
//! driven from the keyboard.

pub mod keymap;
pub mod svg;
pub mod theme;
