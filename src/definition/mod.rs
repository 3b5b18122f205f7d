//! Workflow files: parsing YAML with source positions, validating everything at once,
//! and the typed model the engine runs.

mod form;
pub mod keys;
pub mod model;
pub mod parse;
pub mod schema;
pub mod source;
mod step;
pub mod template;
pub mod template_limits;
mod validate;
mod yaml;

pub use model::*;
pub use parse::{
    Diagnostic, Named, load_dir, load_dir_named, parse_all, parse_file, parse_recorded, parse_str,
    read_source, top_key_position, workflow_files,
};
