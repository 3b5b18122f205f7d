//! The background task that keeps the console's model current: a snapshot on connect,
//! then the engine's change feed (batches of what changed, never whole listings), so
//! input never waits on the engine or the network.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::model::{ENDED_KEPT, Update};
use super::source::{Source, SourceError};
use crate::types::ItemId;
use crate::types::changes::Changes;
use crate::types::view::ItemFilter;

/// Records shown in the events pane right after connecting.
const RECENT: usize = 200;
/// Items in flight in the first update of a snapshot (the newest); the rest follow.
const FIRST_PAGE: usize = 2000;
/// After a reconnect the feed resumes where it stopped, unless it fell this far behind
/// (the fresh snapshot already holds the state; only the events pane misses lines).
const RESUME_LIMIT: u64 = crate::feed::changes::RESUME_LIMIT;

/// What the app asks of the sync task.
#[derive(Debug, Clone, PartialEq)]
pub enum Control {
    /// Follow this item's detail (or none).
    Detail(Option<ItemId>),
    /// Throw the model away and take a fresh snapshot.
    Refresh,
    /// Find these items in the engine (ended ones beyond the window included).
    Find(ItemFilter),
    /// The report from this time (or the default window).
    Report(Option<chrono::DateTime<chrono::Utc>>),
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

async fn run(
    source: Source,
    out: mpsc::UnboundedSender<Update>,
    mut control: mpsc::UnboundedReceiver<Control>,
    stopping: watch::Receiver<bool>,
) {
    let mut detail: Option<ItemId> = None;
    let mut backoff = Duration::from_millis(250);
    let mut last_seen: Option<u64> = None;
    let mut last_journal = String::new();
    loop {
        let (seq, journal) = match snapshot(&source, &out).await {
            Ok(at) => {
                backoff = Duration::from_millis(250);
                at
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
            // Another journal (a new data dir) starts over.
            Some(last) if journal == last_journal && last <= seq && seq - last <= RESUME_LIMIT => {
                last
            }
            _ => seq,
        };
        last_journal = journal.clone();
        let feed = Feeder::spawn(&source, resume, &journal, stopping.clone());
        let mut batches = feed.rx;
        // Leaves with the error that broke the feed, or None when asked to resync.
        let broke: Option<SourceError> = loop {
            tokio::select! {
                got = batches.recv() => match got.unwrap_or_else(|| Err(ended())) {
                    Ok(changes) => {
                        last_seen = Some(changes.seq);
                        let touched = detail.filter(|id| changes.items.iter().any(|i| i.id == *id));
                        if out.send(Update::Changes(changes)).is_err() {
                            return;
                        }
                        if let Some(id) = touched {
                            send_detail(&source, &out, id).await;
                        }
                    }
                    Err(e) => break Some(e),
                },
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
                    Some(Control::Report(since)) => {
                        // A report that fails says so in its view; the feed goes on.
                        let got = source.report(since).await.map(Box::new);
                        if out.send(Update::Report(got)).is_err() {
                            return;
                        }
                    }
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

/// The change feed on its own task: opening it (an HTTP request for `attach`) must
/// not be cancelled and restarted each time another branch of the loop wins.
struct Feeder {
    rx: mpsc::Receiver<Result<Arc<Changes>, SourceError>>,
    task: tokio::task::JoinHandle<()>,
}

impl Feeder {
    fn spawn(
        source: &Source,
        after: u64,
        journal: &str,
        stopping: watch::Receiver<bool>,
    ) -> Feeder {
        let (tx, rx) = mpsc::channel(64);
        let mut feed = source.changes(after, journal, stopping);
        let task = tokio::spawn(async move {
            loop {
                let got = feed.next().await;
                let last = got.is_err();
                if tx.send(got).await.is_err() || last {
                    return;
                }
            }
        });
        Feeder { rx, task }
    }
}

/// Counters first: their journal position is where the change feed starts, so anything
/// that changes while the rest is read arrives as a batch. The newest items in flight
/// come with the first update, so the first frame does not wait for the rest.
pub(crate) async fn snapshot(
    source: &Source,
    out: &mpsc::UnboundedSender<Update>,
) -> Result<(u64, String), SourceError> {
    let metrics = source.metrics().await?;
    let (seq, journal) = (metrics.journal_seq, metrics.journal_id.clone());
    // Side by side: the engine answers some while the journal answers others, and the
    // answers parse on both cores.
    let active = ItemFilter {
        active: true,
        limit: Some(FIRST_PAGE),
        ..Default::default()
    };
    let ended = ItemFilter {
        ended: true,
        limit: Some(ENDED_KEPT),
        ..Default::default()
    };
    let (mut items, ended, tasks, workflows, recent) = tokio::try_join!(
        spawned(source, move |s| async move { s.items(active).await }),
        spawned(source, move |s| async move { s.items(ended).await }),
        spawned(source, |s| async move { s.open_tasks().await }),
        source.workflows(),
        source.recent(seq, RECENT),
    )?;
    let rest_after = (items.len() == FIRST_PAGE).then(|| items.last().map(|i| i.id));
    items.extend(ended);
    let update = Update::Snapshot {
        items,
        tasks,
        metrics: Box::new(metrics),
        workflows,
        recent,
    };
    let gone = || SourceError::Unavailable("the console has closed".into());
    out.send(update).map_err(|_| gone())?;
    if let Some(after) = rest_after.flatten() {
        let rest = ItemFilter {
            active: true,
            after: Some(after),
            ..Default::default()
        };
        let items = source.items(rest).await?;
        out.send(Update::Loaded(items)).map_err(|_| gone())?;
    }
    Ok((seq, journal))
}

/// A read on a task of its own, so its answer is parsed beside the others.
async fn spawned<T, F>(source: &Source, read: impl FnOnce(Source) -> F) -> Result<T, SourceError>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T, SourceError>> + Send + 'static,
{
    tokio::spawn(read(source.clone()))
        .await
        .map_err(|e| SourceError::Unavailable(e.to_string()))?
}

async fn send_detail(source: &Source, out: &mpsc::UnboundedSender<Update>, id: ItemId) {
    let got = source.detail(id).await.map(Box::new);
    let _ = out.send(Update::Detail(id, got));
}
