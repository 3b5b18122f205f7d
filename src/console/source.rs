//! Where the console reads and acts: the embedded engine, or a daemon over its API. Both
//! offer the same reads, commands and a resumable stream of journal records.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::api::ReportQuery;
use crate::api::client::{ChangeFollower, Client, ClientError};
use crate::api::peer::login_name;
use crate::engine::EngineHandle;
use crate::feed::changes::{Delivery, FeedError, Follower};
use crate::types::changes::{Changes, EventLine};
use crate::types::deploy::WorkflowInfo;
use crate::types::identity::{Listing, OperatorView, Who};
use crate::types::report::Report;
use crate::types::view::{ItemDetail, ItemFilter, ItemSummary, Metrics, TaskFilter, TaskView};
use crate::types::{Command, CommandError, ItemId, Record, Reply};

/// Why a read or a command did not go through.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    /// The engine said no (conflict, not found, invalid); the message says why.
    #[error("{0}")]
    Refused(String),
    /// The engine or the daemon cannot be reached; it may come back.
    #[error("{0}")]
    Unavailable(String),
    /// The daemon refused our token; retrying will not help.
    #[error("{0}")]
    Unauthorized(String),
    /// The journal no longer holds the records after our position (retention removed
    /// them): start over from a fresh snapshot.
    #[error("{0}")]
    Resync(String),
}

impl From<CommandError> for SourceError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Unavailable(m) => SourceError::Unavailable(m),
            other => SourceError::Refused(other.to_string()),
        }
    }
}

impl From<ClientError> for SourceError {
    fn from(e: ClientError) -> Self {
        match &e {
            ClientError::Unauthorized { .. } => SourceError::Unauthorized(e.to_string()),
            ClientError::Api { status: 410, .. } => SourceError::Resync(e.to_string()),
            ClientError::Api { status, .. } if *status < 500 => SourceError::Refused(e.to_string()),
            _ => SourceError::Unavailable(e.to_string()),
        }
    }
}

/// The engine behind a console.
#[derive(Clone)]
pub enum Source {
    Embedded(EngineHandle),
    Remote(Client),
}

impl Source {
    /// Where the console is connected, for the header.
    pub fn describe(&self) -> String {
        match self {
            Source::Embedded(_) => "embedded".into(),
            Source::Remote(c) => c.url().to_string(),
        }
    }

    /// The report from `since` (by default, what ended items are kept for).
    pub async fn report(&self, since: Option<DateTime<Utc>>) -> Result<Report, SourceError> {
        Ok(match self {
            Source::Embedded(h) => h.report(since).await?,
            Source::Remote(c) => c.report(&ReportQuery { since }).await?,
        })
    }

    pub async fn items(&self, filter: ItemFilter) -> Result<Vec<ItemSummary>, SourceError> {
        Ok(match self {
            Source::Embedded(h) => h.items(filter).await?,
            Source::Remote(c) => c.items(&filter).await?,
        })
    }

    /// Every task still open (claimed included).
    pub async fn open_tasks(&self) -> Result<Vec<TaskView>, SourceError> {
        let filter = TaskFilter::default();
        Ok(match self {
            Source::Embedded(h) => h.tasks(filter).await?,
            Source::Remote(c) => c.tasks(&filter).await?,
        })
    }

    pub async fn metrics(&self) -> Result<Metrics, SourceError> {
        Ok(match self {
            Source::Embedded(h) => h.metrics().await?,
            Source::Remote(c) => c.metrics().await?,
        })
    }

    /// Every loaded workflow version, sorted, with the items in flight on it.
    pub async fn workflows(&self) -> Result<Vec<WorkflowInfo>, SourceError> {
        Ok(match self {
            Source::Embedded(h) => h.workflows().await?,
            Source::Remote(c) => c.workflows().await?,
        })
    }

    /// One item and its audit trail.
    pub async fn detail(&self, id: ItemId) -> Result<(ItemDetail, Vec<Record>), SourceError> {
        // The newest records of the trail are the ones that matter.
        const TRAIL: usize = 2000;
        const READ: usize = 50_000;
        let newest = |mut r: Vec<Record>| {
            let cut = r.len().saturating_sub(TRAIL);
            r.drain(..cut);
            r
        };
        match self {
            Source::Embedded(h) => {
                let detail = h
                    .item(id)
                    .await?
                    .ok_or_else(|| SourceError::Refused(format!("item {id} not found")))?;
                Ok((detail, newest(h.audit(Some(id), 0, READ).await?)))
            }
            Source::Remote(c) => {
                let detail = c.item(id).await?;
                let query = crate::api::AuditQuery {
                    item: Some(id),
                    after: 0,
                    limit: Some(READ),
                };
                Ok((detail, newest(c.audit(&query).await?)))
            }
        }
    }

    /// The last `n` records up to `seq` as log lines, oldest first.
    pub async fn recent(&self, seq: u64, n: usize) -> Result<Vec<EventLine>, SourceError> {
        let after = seq.saturating_sub(n as u64);
        let records = match self {
            Source::Embedded(h) => h.audit(None, after, n).await?,
            Source::Remote(c) => {
                let query = crate::api::AuditQuery {
                    item: None,
                    after,
                    limit: Some(n),
                };
                c.audit(&query).await?
            }
        };
        Ok(records.iter().map(EventLine::of).collect())
    }

    /// Whom the daemon takes this console for (attached, without `--as`; `me` is what
    /// the command line said), and the operator directory.
    pub async fn identity(&self, me: &str) -> (Option<String>, Listing) {
        match self {
            Source::Embedded(h) => {
                let dir = h.directory();
                let operators = dir.iter().map(|o| OperatorView::of(o, 0)).collect();
                let listing = Listing {
                    operators,
                    groups: Default::default(),
                };
                (None, listing)
            }
            Source::Remote(c) => {
                let (who, listing) = tokio::join!(c.whoami(), c.operators());
                let me = who.ok().map(|w| w.name).filter(|n| n != me);
                (
                    me.filter(|_| !c.acts_for_someone()),
                    listing.unwrap_or_default(),
                )
            }
        }
    }

    /// Apply one command as `actor`: in this process, the daemon's own user (acting for
    /// `actor` when that is someone else); attached, whoever the client authenticates as.
    pub async fn act(&self, actor: &str, cmd: Command) -> Result<Reply, SourceError> {
        Ok(match self {
            Source::Embedded(h) => {
                let who = Who::root(&login_name()).acting_for(Some(actor));
                h.command(&who, None, cmd).await?
            }
            Source::Remote(c) => c.command(&cmd, None).await?,
        })
    }

    /// The change feed after position `after` in journal `journal`, for as long as the
    /// source lives.
    pub fn changes(
        &self,
        after: u64,
        journal: &str,
        stopping: watch::Receiver<bool>,
    ) -> ChangeFeed {
        match self {
            Source::Embedded(h) => ChangeFeed::Embedded {
                handle: h.clone(),
                after,
                stopping,
                follower: None,
            },
            Source::Remote(c) => ChangeFeed::Remote(c.follow_changes(after, journal)),
        }
    }
}

/// Batches of changes, in order; `Resync` when only a fresh snapshot can go on.
pub enum ChangeFeed {
    Embedded {
        handle: EngineHandle,
        after: u64,
        stopping: watch::Receiver<bool>,
        follower: Option<Follower>,
    },
    Remote(ChangeFollower),
}

impl ChangeFeed {
    pub async fn next(&mut self) -> Result<Arc<Changes>, SourceError> {
        match self {
            ChangeFeed::Embedded {
                handle,
                after,
                stopping,
                follower,
            } => {
                let f = match follower {
                    Some(f) => f,
                    None => follower.insert(
                        Follower::new(handle.clone(), *after, stopping.clone())
                            .await
                            .map_err(from_feed)?,
                    ),
                };
                match &*f.next().await.map_err(from_feed)? {
                    Delivery::Batch { changes, .. } => Ok(changes.clone()),
                    Delivery::Resync(message) => Err(SourceError::Resync(message.clone())),
                }
            }
            ChangeFeed::Remote(f) => Ok(Arc::new(f.next().await?)),
        }
    }
}

fn from_feed(e: FeedError) -> SourceError {
    match e {
        FeedError::Resync(m) => SourceError::Resync(m),
        FeedError::Unavailable(m) => SourceError::Unavailable(m),
    }
}
