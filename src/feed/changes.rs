//! The change feed consoles follow: one task gathers what each interval's records
//! touched, reads those items and tasks once, and hands the same encoded batch to every
//! follower; a follower that starts behind catches up from the journal first.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use super::records::gap;
use super::{Committed, Shared};
use crate::engine::EngineHandle;
use crate::types::changes::{Changes, EventLine, LINES_MAX};
use crate::types::deploy::WorkflowVersion;
use crate::types::event::Event;
use crate::types::{CommandError, ItemId, TaskId};

/// How long changes gather before they are read and sent as one batch.
pub const FLUSH: Duration = Duration::from_millis(250);
/// How often a batch goes out with nothing changed, for the counters and countdowns.
const QUIET: Duration = Duration::from_secs(1);
/// Batches a follower may fall behind before it is told to resync (16 s of them).
pub(crate) const BATCHES_KEPT: usize = 64;
/// A follower further behind the feed than this many records takes a fresh snapshot
/// instead of a catch-up: reading the items afresh is then the cheaper way.
pub const RESUME_LIMIT: u64 = 50_000;

/// What the feed hands its followers.
pub enum Delivery {
    /// A batch, with its server-sent event made once for every follower.
    Batch { changes: Arc<Changes>, sse: Bytes },
    /// The feed lost track (it fell behind the journal): every follower must resync.
    Resync(String),
}

/// Items, tasks and the newest records touched since the last batch. Lines are made
/// only when a batch is read, so a feed nobody follows formats nothing.
#[derive(Default)]
struct Gather {
    items: BTreeSet<ItemId>,
    tasks: BTreeSet<TaskId>,
    lines: VecDeque<Arc<Committed>>,
    skipped: u64,
    seq: u64,
    workflows: Vec<WorkflowVersion>,
}

impl Gather {
    fn add(&mut self, c: &Arc<Committed>) {
        let rec = &c.record;
        self.seq = self.seq.max(rec.seq);
        if let Some(item) = rec.item {
            self.items.insert(item);
        }
        if let Some(task) = rec.event.task() {
            self.tasks.insert(task);
        }
        if let Event::WorkflowLoaded { name, version, .. } = &rec.event {
            self.workflows.push(WorkflowVersion {
                name: name.clone(),
                version: *version,
            });
        }
        if self.lines.len() == LINES_MAX {
            self.lines.pop_front();
            self.skipped += 1;
        }
        self.lines.push_back(c.clone());
    }

    fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Read the latest state of what was touched: the batch up to `seq`.
    async fn read(self, handle: &EngineHandle, seq: u64) -> Result<Changes, CommandError> {
        let items = self.items.into_iter().collect();
        let tasks = self.tasks.into_iter().collect();
        let (items, tasks, metrics) = handle.changed(items, tasks).await?;
        Ok(Changes {
            seq,
            items,
            tasks,
            metrics,
            lines: self
                .lines
                .iter()
                .map(|c| EventLine::of(&c.record))
                .collect(),
            lines_skipped: self.skipped,
            workflows: self.workflows,
        })
    }
}

fn delivery(changes: Changes) -> Arc<Delivery> {
    let data = serde_json::to_string(&changes)
        .unwrap_or_else(|e| serde_json::json!({ "error": e.to_string() }).to_string());
    let sse = super::message(Some("changes"), Some(changes.seq), &data);
    Arc::new(Delivery::Batch {
        changes: Arc::new(changes),
        sse,
    })
}

/// Start the feed of `handle`'s engine. It subscribes before returning, so it sees
/// every record committed from now on; it ends when the engine does.
pub fn spawn(handle: EngineHandle, flush: Duration) {
    let records = handle.subscribe();
    tokio::spawn(feed(handle, records, flush));
}

async fn feed(
    handle: EngineHandle,
    mut records: broadcast::Receiver<super::Commit>,
    flush: Duration,
) {
    let shared = handle.feed.clone();
    let mut tick = tokio::time::interval(flush);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut gather = Gather::default();
    let mut last_sent = Instant::now();
    let mut lagged = false;
    loop {
        tokio::select! {
            got = records.recv() => match got {
                Ok(commit) => {
                    if let Some(first) = commit.first().filter(|_| lagged) {
                        // What fell between is for newcomers to read from the journal.
                        let before = first.record.seq.saturating_sub(1);
                        shared.position.fetch_max(before, Ordering::SeqCst);
                        lagged = false;
                    }
                    commit.iter().for_each(|c| gather.add(c));
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    gather = Gather::default();
                    lagged = true;
                    let message = format!("the change feed fell {n} commits behind the journal; resync");
                    tracing::warn!("{message}");
                    let _ = shared.changes.send(Arc::new(Delivery::Resync(message)));
                }
                Err(broadcast::error::RecvError::Closed) => return stopped_feed(&shared),
            },
            _ = tick.tick() => {
                if gather.is_empty() && last_sent.elapsed() < QUIET {
                    continue;
                }
                let g = std::mem::take(&mut gather);
                let seq = g.seq.max(shared.position.load(Ordering::SeqCst));
                // The position moves before the followers are counted: one that
                // subscribes after this either gets the batch or catches up past it.
                shared.position.store(seq, Ordering::SeqCst);
                if shared.changes.receiver_count() == 0 {
                    continue;
                }
                match g.read(&handle, seq).await {
                    Ok(changes) => {
                        let _ = shared.changes.send(delivery(changes));
                        last_sent = Instant::now();
                    }
                    Err(_) if handle.tx.is_closed() => return stopped_feed(&shared),
                    // What this batch touched is lost to the feed, not to the followers:
                    // they read everything afresh.
                    Err(e) => {
                        let message = format!("the change feed could not read a batch ({e}); resync");
                        tracing::warn!("{message}");
                        let _ = shared.changes.send(Arc::new(Delivery::Resync(message)));
                        last_sent = Instant::now();
                    }
                }
            }
        }
    }
}

/// The engine has stopped: followers hear it and take a snapshot, which fails until
/// the engine is back.
fn stopped_feed(shared: &Shared) {
    let _ = shared
        .changes
        .send(Arc::new(Delivery::Resync("the engine has stopped".into())));
}

/// Why a follower must take a fresh snapshot instead of resuming.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FeedError {
    #[error("{0}")]
    Resync(String),
    #[error("{0}")]
    Unavailable(String),
}

/// One follower of the change feed, from journal position `after`.
pub struct Follower {
    rx: broadcast::Receiver<Arc<Delivery>>,
    /// The catch-up batch, sent first.
    first: Option<Arc<Delivery>>,
    /// Batches up to here were covered by the catch-up.
    covered: u64,
    stopping: watch::Receiver<bool>,
}

impl Follower {
    /// Subscribe, then catch up from `after` to the feed's position; refused with
    /// `Resync` when the records after `after` are gone or too many.
    pub async fn new(
        handle: EngineHandle,
        after: u64,
        stopping: watch::Receiver<bool>,
    ) -> Result<Follower, FeedError> {
        let shared: Arc<Shared> = handle.feed.clone();
        let rx = shared.changes.subscribe();
        let position = shared.position.load(Ordering::SeqCst);
        let head = handle.metrics().await.map_err(unavailable)?.journal_seq;
        if after > head {
            return Err(FeedError::Resync(format!(
                "position {after} is past the journal's head {head} (a different data dir?); resync"
            )));
        }
        if position.saturating_sub(after) > RESUME_LIMIT {
            return Err(FeedError::Resync(format!(
                "position {after} is more than {RESUME_LIMIT} records behind the feed; resync"
            )));
        }
        let first = match after < position {
            true => Some(delivery(catch_up(&handle, after, position).await?)),
            false => None,
        };
        Ok(Follower {
            rx,
            first,
            covered: position,
            stopping,
        })
    }

    /// The next batch; `Resync` when the follower fell behind or the feed lost track.
    pub async fn next(&mut self) -> Result<Arc<Delivery>, FeedError> {
        if let Some(first) = self.first.take() {
            return Ok(first);
        }
        loop {
            let got = tokio::select! {
                _ = self.stopping.wait_for(|s| *s) => return Err(stopped()),
                got = self.rx.recv() => got,
            };
            match got {
                Ok(d) => match &*d {
                    // Covered by the catch-up, unless it only carries the counters.
                    Delivery::Batch { changes, .. }
                        if changes.seq <= self.covered && !changes.lines.is_empty() =>
                    {
                        continue;
                    }
                    Delivery::Batch { .. } => return Ok(d),
                    Delivery::Resync(message) => return Err(FeedError::Resync(message.clone())),
                },
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    return Err(FeedError::Resync(format!(
                        "this follower fell {n} batches behind the change feed; resync"
                    )));
                }
                Err(broadcast::error::RecvError::Closed) => return Err(stopped()),
            }
        }
    }
}

fn stopped() -> FeedError {
    FeedError::Unavailable("the engine has stopped".into())
}

fn unavailable(e: CommandError) -> FeedError {
    FeedError::Unavailable(e.to_string())
}

/// What the records in `(after, to]` touched, read from the journal's pages.
async fn catch_up(handle: &EngineHandle, after: u64, to: u64) -> Result<Changes, FeedError> {
    let mut gather = Gather::default();
    let mut at = after;
    while at < to {
        let page = handle
            .feed
            .pages
            .for_feed(handle, at)
            .await
            .map_err(unavailable)?;
        if let Some(message) = gap(after, page.pruned_through) {
            return Err(FeedError::Resync(message));
        }
        let records = page.after(at);
        for c in records.iter().take_while(|c| c.record.seq <= to) {
            gather.add(c);
        }
        at = match (records.last(), page.finished) {
            (Some(last), _) => last.record.seq,
            (None, Some(end)) if end > at => end,
            (None, _) => break,
        };
    }
    gather.read(handle, to).await.map_err(unavailable)
}
