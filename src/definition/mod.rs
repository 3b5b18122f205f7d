//! Workflow files: parsing YAML with source positions, validating everything at once,
//! and the typed model the engine runs.

pub mod model;
pub mod parse;
pub mod template;

pub use model::*;
pub use parse::{Diagnostic, load_dir, parse_file, parse_str};
