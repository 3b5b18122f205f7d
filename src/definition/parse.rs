//! Parse and validate workflow YAML into the typed model, collecting every problem
//! as `file:line:col: message`.

use std::path::Path;

use super::model::Workflow;

/// One problem in a workflow file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

/// Parse and validate one workflow from its source text; `file` names it in diagnostics.
pub fn parse_str(file: &str, source: &str) -> Result<Workflow, Vec<Diagnostic>> {
    let _ = (file, source);
    todo!("helper A")
}

/// Read and parse one file.
pub fn parse_file(path: &Path) -> Result<(Workflow, String), Vec<Diagnostic>> {
    let _ = path;
    todo!("helper A")
}

/// Every `*.yaml`/`*.yml` file in a directory: the valid workflows with their source
/// text, and the diagnostics of the invalid ones.
pub fn load_dir(dir: &Path) -> (Vec<(Workflow, String)>, Vec<Diagnostic>) {
    let _ = dir;
    todo!("helper A")
}
