//! The background task that keeps the console's model current: a snapshot on connect,
//! then the record stream, coalesced into one small delta per interval, so input never
//! waits on the engine or the network.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::model::{ENDED_KEPT, Update};
use super::source::{Source, SourceError};
use crate::types::view::{IdList, ItemFilter, ItemSummary};
use crate::types::{Event, ItemId, Record};

/// How often changes are gathered into one update.
const FLUSH: Duration = Duration::from_millis(250);
/// How often the counters are read even when nothing changed.
const METRICS: Duration = Duration::from_secs(1);
/// Records shown in the events pane right after connecting.
const RECENT: usize = 200;
/// Ids per items lookup.
const CHUNK: usize = 500;
/// After a reconnect the stream resumes where it stopped, unless it fell this far behind
/// (the fresh snapshot already holds the state; only the events pane misses lines).
const RESUME_LIMIT: u64 = 50_000;

/// What the app asks of the sync task.
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    /// Follow this item's detail (or none).
    Detail(Option<ItemId>),
    /// Throw the model away and take a fresh snapshot.
    Refresh,
    /// Find these items in the engine (ended ones beyond the window included).
    Find(ItemFilter),
}

/// The app's end of the sync task; dropping it stops the task.
pub struct Sync {
    pub control: mpsc::UnboundedSender<Control>,
    _stop: watch::Sender<bool>,
}

/// Start syncing `source` into `out`.
pub fn spawn(source: Source, out: mpsc::UnboundedSender<Update>) -> Sync {
    let (control, rx) = mpsc::unbounded_channel();
    let (stop, stopping) = watch::channel(false);
    tokio::spawn(run(source, out, rx, stopping));
    Sync {
        control,
        _stop: stop,
    }
}

fn touches_tasks(e: &Event) -> bool {
    matches!(
        e,
        Event::TaskCreated { .. }
            | Event::TaskClaimed { .. }
            | Event::TaskReassigned { .. }
            | Event::TaskEscalated { .. }
            | Event::TaskDecided { .. }
            | Event::TaskCancelled { .. }
            | Event::TaskOverdue { .. }
    )
}

/// Changes seen since the last flush.
#[derive(Default)]
struct Pending {
    items: HashSet<ItemId>,
    records: Vec<Arc<Record>>,
    tasks: bool,
    metrics: bool,
    detail: bool,
}

async fn run(
    source: Source,
    out: mpsc::UnboundedSender<Update>,
    mut control: mpsc::UnboundedReceiver<Control>,
    stopping: watch::Receiver<bool>,
) {
    let mut detail: Option<ItemId> = None;
    let mut backoff = Duration::from_millis(250);
    let mut last_seen: Option<u64> = None;
    loop {
        let seq = match snapshot(&source).await {
            Ok((update, seq)) => {
                if out.send(update).is_err() {
                    return;
                }
                backoff = Duration::from_millis(250);
                seq
            }
            Err(error) => {
                let fatal = matches!(error, SourceError::Unauthorized(_));
                if out.send(Update::Lost { error, fatal }).is_err() || fatal {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        if let Some(id) = detail {
            send_detail(&source, &out, id).await;
        }
        let resume = match last_seen {
            // A journal that went backwards (a new data dir) starts over.
            Some(last) if last <= seq && seq - last <= RESUME_LIMIT => last,
            _ => seq,
        };
        let feed = Feeder::spawn(&source, resume, stopping.clone());
        let mut records = feed.rx;
        let mut pending = Pending::default();
        let mut flush = tokio::time::interval(FLUSH);
        let mut metrics = tokio::time::interval(METRICS);
        // Leaves with the error that broke the stream, or None when asked to resync.
        let broke: Option<SourceError> = loop {
            tokio::select! {
                rec = records.recv() => match rec.unwrap_or_else(|| Err(ended())) {
                    Ok(rec) => {
                        last_seen = Some(rec.seq);
                        if let Some(item) = rec.item {
                            pending.items.insert(item);
                            pending.detail |= detail == Some(item);
                        }
                        pending.tasks |= touches_tasks(&rec.event);
                        pending.records.push(rec);
                    }
                    Err(e) => break Some(e),
                },
                _ = flush.tick() => {
                    let p = std::mem::take(&mut pending);
                    match send_delta(&source, &out, p, detail).await {
                        Ok(true) => {}
                        Ok(false) => return,
                        Err(e) => break Some(e),
                    }
                }
                _ = metrics.tick() => pending.metrics = true,
                c = control.recv() => match c {
                    Some(Control::Detail(id)) => {
                        detail = id;
                        if let Some(id) = id {
                            send_detail(&source, &out, id).await;
                        }
                    }
                    Some(Control::Refresh) => break None,
                    Some(Control::Find(filter)) => match source.items(filter).await {
                        Ok(items) => {
                            if out.send(Update::Found(items)).is_err() {
                                return;
                            }
                        }
                        Err(e) => break Some(e),
                    },
                    None => return,
                },
            }
        };
        feed.task.abort();
        if matches!(broke, Some(SourceError::Resync(_))) {
            // What we missed is gone: the next snapshot is the new starting point.
            last_seen = None;
        }
        if let Some(error) = broke {
            let fatal = matches!(error, SourceError::Unauthorized(_));
            if out.send(Update::Lost { error, fatal }).is_err() || fatal {
                return;
            }
            tokio::time::sleep(backoff).await;
        }
    }
}

fn ended() -> SourceError {
    SourceError::Unavailable("the event stream ended".into())
}

/// The record stream on its own task: opening a stream (an HTTP request for `attach`)
/// must not be cancelled and restarted each time the flush timer fires.
struct Feeder {
    rx: mpsc::Receiver<Result<Arc<Record>, SourceError>>,
    task: tokio::task::JoinHandle<()>,
}

impl Feeder {
    fn spawn(source: &Source, after: u64, stopping: watch::Receiver<bool>) -> Feeder {
        let (tx, rx) = mpsc::channel(4096);
        let mut feed = source.follow(after, stopping);
        let task = tokio::spawn(async move {
            loop {
                let rec = feed.next().await;
                let last = rec.is_err();
                if tx.send(rec).await.is_err() || last {
                    return;
                }
            }
        });
        Feeder { rx, task }
    }
}

/// Counters first: their journal position is where the record stream resumes, so
/// anything that changes while the rest is read arrives as a record.
async fn snapshot(source: &Source) -> Result<(Update, u64), SourceError> {
    let metrics = source.metrics().await?;
    let seq = metrics.journal_seq;
    let mut items = source
        .items(ItemFilter {
            active: true,
            ..Default::default()
        })
        .await?;
    let ended = source
        .items(ItemFilter {
            limit: Some(ENDED_KEPT),
            ..Default::default()
        })
        .await?;
    items.extend(ended.into_iter().filter(|i| i.status.is_final()));
    let tasks = source.open_tasks().await?;
    let workflows = source.workflows().await?;
    let recent = source.recent(seq, RECENT).await?;
    let update = Update::Snapshot {
        items,
        tasks,
        metrics,
        workflows,
        recent: recent.into_iter().map(Arc::new).collect(),
    };
    Ok((update, seq))
}

async fn lookup(source: &Source, ids: HashSet<ItemId>) -> Result<Vec<ItemSummary>, SourceError> {
    let ids: Vec<ItemId> = ids.into_iter().collect();
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        let filter = ItemFilter {
            ids: Some(IdList(chunk.to_vec())),
            ..Default::default()
        };
        out.extend(source.items(filter).await?);
    }
    Ok(out)
}

/// Read what `p` says changed and send it; `Ok(false)` when the app has gone.
async fn send_delta(
    source: &Source,
    out: &mpsc::UnboundedSender<Update>,
    p: Pending,
    detail: Option<ItemId>,
) -> Result<bool, SourceError> {
    if p.items.is_empty() && p.records.is_empty() && !p.tasks && !p.metrics {
        return Ok(true);
    }
    let items = lookup(source, p.items).await?;
    let tasks = match p.tasks {
        true => Some(source.open_tasks().await?),
        false => None,
    };
    let metrics = match p.metrics || !p.records.is_empty() {
        true => Some(source.metrics().await?),
        false => None,
    };
    let update = Update::Delta {
        items,
        tasks,
        metrics,
        records: p.records,
    };
    if out.send(update).is_err() {
        return Ok(false);
    }
    if let (true, Some(id)) = (p.detail, detail) {
        send_detail(source, out, id).await;
    }
    Ok(true)
}

async fn send_detail(source: &Source, out: &mpsc::UnboundedSender<Update>, id: ItemId) {
    let got = source.detail(id).await.map(Box::new);
    let _ = out.send(Update::Detail(id, got));
}
