//! Live deployment: the named workflow files a deploy sends, what became of each, and
//! the listing of loaded versions with the items in flight on each.

use serde::{Deserialize, Serialize};

/// Files one deploy may carry (the request body's size limit applies besides).
pub const MAX_DEPLOY_FILES: usize = 64;
/// Characters of a file's name, which only names it in error messages.
pub const MAX_PATH_CHARS: usize = 1024;

/// One workflow file: its name (for file:line:col in errors) and its text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployFile {
    /// 1 to [`MAX_PATH_CHARS`] characters, not all blank, without control characters.
    #[schema(
        min_length = 1,
        max_length = 1024,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\u0000-\\u001f\\u007f-\\u009f\\s][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    pub path: String,
    pub source: String,
}

/// Body of `POST /api/workflows`: files validated together and loaded all or none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    #[schema(min_items = 1, max_items = 64)]
    pub files: Vec<DeployFile>,
}

/// What a deploy did with one workflow version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeployStatus {
    /// New: journaled, and items started from now on may use it.
    Deployed,
    /// Already loaded with the same content: nothing was written.
    Unchanged,
}

impl DeployStatus {
    pub fn name(self) -> &'static str {
        match self {
            DeployStatus::Deployed => "deployed",
            DeployStatus::Unchanged => "unchanged",
        }
    }
}

/// One file of a deploy and the workflow version it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Deployed {
    pub file: String,
    pub name: String,
    pub version: u32,
    pub status: DeployStatus,
}

/// The answer to a deploy, in the order the files were given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Deployment {
    pub workflows: Vec<Deployed>,
    /// The journal position of the deploy's last record (the head when nothing changed).
    pub seq: u64,
}

/// A loaded workflow version, from `GET /api/workflows` and `tempi workflows`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkflowInfo {
    pub name: String,
    pub version: u32,
    /// Items in flight that run on this version.
    #[serde(default)]
    pub in_flight: u64,
}

/// A workflow version that became known, as the change feed carries it to consoles.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WorkflowVersion {
    pub name: String,
    pub version: u32,
}
