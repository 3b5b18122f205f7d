//! The engine's interface for everything outside it (API server, CLI in-process, console):
//! commands that act, queries that read a consistent snapshot, and a resumable event stream.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, oneshot};

use crate::store;
use crate::types::command::{Command, CommandError, Reply};
use crate::types::event::{ItemId, Phase, Record, StepError};
use crate::types::view::{ItemDetail, ItemFilter, ItemSummary, Metrics, TaskFilter, TaskView};

/// Messages into the engine loop.
pub(crate) enum Request {
    Command {
        actor: String,
        reason: Option<String>,
        cmd: Command,
        reply: oneshot::Sender<Result<Reply, CommandError>>,
    },
    Items {
        filter: ItemFilter,
        reply: oneshot::Sender<Vec<ItemSummary>>,
    },
    Item {
        id: ItemId,
        reply: oneshot::Sender<Option<ItemDetail>>,
    },
    Tasks {
        filter: TaskFilter,
        reply: oneshot::Sender<Vec<TaskView>>,
    },
    Metrics {
        reply: oneshot::Sender<Metrics>,
    },
    Workflows {
        reply: oneshot::Sender<Vec<(String, u32)>>,
    },
    /// An executor finished an attempt.
    StepDone {
        item: ItemId,
        step: Arc<str>,
        attempt: u32,
        phase: Phase,
        result: Result<serde_json::Value, StepError>,
    },
}

/// A cheap, cloneable handle on a running engine.
#[derive(Clone)]
pub struct EngineHandle {
    pub(crate) tx: mpsc::Sender<Request>,
    pub(crate) events: broadcast::Sender<Arc<Record>>,
    pub(crate) data_dir: PathBuf,
}

fn gone() -> CommandError {
    CommandError::Unavailable("the engine has stopped".into())
}

impl EngineHandle {
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Request) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(make(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Apply an operator command as `actor`; answers once its events are durable.
    pub async fn command(
        &self,
        actor: &str,
        reason: Option<String>,
        cmd: Command,
    ) -> Result<Reply, CommandError> {
        let actor = actor.to_string();
        self.ask(|reply| Request::Command {
            actor,
            reason,
            cmd,
            reply,
        })
        .await
        .unwrap_or_else(|| Err(gone()))
    }

    pub async fn items(&self, filter: ItemFilter) -> Result<Vec<ItemSummary>, CommandError> {
        self.ask(|reply| Request::Items { filter, reply })
            .await
            .ok_or_else(gone)
    }

    pub async fn item(&self, id: ItemId) -> Result<Option<ItemDetail>, CommandError> {
        self.ask(|reply| Request::Item { id, reply })
            .await
            .ok_or_else(gone)
    }

    pub async fn tasks(&self, filter: TaskFilter) -> Result<Vec<TaskView>, CommandError> {
        self.ask(|reply| Request::Tasks { filter, reply })
            .await
            .ok_or_else(gone)
    }

    pub async fn metrics(&self) -> Result<Metrics, CommandError> {
        self.ask(|reply| Request::Metrics { reply })
            .await
            .ok_or_else(gone)
    }

    /// Loaded workflows as (name, version), sorted.
    pub async fn workflows(&self) -> Result<Vec<(String, u32)>, CommandError> {
        self.ask(|reply| Request::Workflows { reply })
            .await
            .ok_or_else(gone)
    }

    /// The committed journal records of one item (or all) with `seq > after`, in order.
    pub async fn audit(
        &self,
        item: Option<ItemId>,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Record>, CommandError> {
        let dir = self.data_dir.clone();
        tokio::task::spawn_blocking(move || store::read_records(&dir, item, after, limit))
            .await
            .map_err(|e| CommandError::Unavailable(e.to_string()))?
            .map_err(|e| CommandError::Unavailable(e.to_string()))
    }

    /// Live records as they commit. Use `audit(None, last_seen, ..)` first to catch up;
    /// subscribe before reading the backlog so nothing falls in between.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Record>> {
        self.events.subscribe()
    }
}
