//! The engine's imperative shell: one tokio task owns the core state and the journal,
//! commits events in groups, then dispatches executors, arms timers and publishes events.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::handle::EngineHandle;

/// How to start an engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where the journal, lock and token live.
    pub data_dir: PathBuf,
    /// Workflow files loaded (and recorded in the journal) at start.
    pub workflows_dir: Option<PathBuf>,
    /// Values visible to templates as `env.*` (captured once at start).
    pub env: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("workflow files have problems:\n{0}")]
    Workflows(String),
}

/// A running engine: its handle, and a way to stop it cleanly.
pub struct Running {
    pub handle: EngineHandle,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stop dispatching, finish the current commit, and wait for the loop to end.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Open the journal of `config.data_dir` (refusing if another engine holds it), replay
/// it, load workflow files, re-dispatch in-flight steps and start the loop.
pub async fn start(config: EngineConfig) -> Result<Running, StartError> {
    let _ = config;
    todo!("engine runtime")
}
