//! The position of one event-stream client in the journal: it subscribes to live
//! records first, replays the backlog in pages, and re-reads the journal after a lag.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::{broadcast, watch};

use crate::engine::EngineHandle;
use crate::types::{ItemId, Record};

/// Records read from the journal per page when catching up.
const PAGE: usize = 1000;

/// One client's position in the journal: backlog pages first, then live records,
/// falling back to the journal whenever the broadcast lags.
pub struct Follow {
    handle: EngineHandle,
    rx: broadcast::Receiver<Arc<Record>>,
    item: Option<ItemId>,
    last: u64,
    backlog: VecDeque<Record>,
    catching_up: bool,
    stopping: watch::Receiver<bool>,
    /// Set when the stream ended because retention removed records after `last`.
    gap: Option<String>,
}

impl Follow {
    /// Subscribes now, so nothing committed while the backlog is read is missed.
    pub fn new(
        handle: EngineHandle,
        item: Option<ItemId>,
        after: u64,
        stopping: watch::Receiver<bool>,
    ) -> Follow {
        Follow {
            rx: handle.subscribe(),
            handle,
            item,
            last: after,
            backlog: VecDeque::new(),
            catching_up: true,
            stopping,
            gap: None,
        }
    }

    /// Why the stream ended, when it was a gap the client must resync over.
    pub fn gap(&self) -> Option<String> {
        self.gap.clone()
    }

    /// The next record after the last one returned; `None` when the stream should end.
    pub async fn next(&mut self) -> Option<Arc<Record>> {
        loop {
            if *self.stopping.borrow() {
                return None;
            }
            if let Some(rec) = self.backlog.pop_front() {
                if rec.seq > self.last {
                    self.last = rec.seq;
                    return Some(Arc::new(rec));
                }
                continue;
            }
            if self.catching_up {
                if let Some(message) = self.handle.gap_after(self.last).await {
                    self.gap = Some(message);
                    return None;
                }
                match self.handle.audit(self.item, self.last, PAGE).await {
                    Ok(page) if !page.is_empty() => self.backlog.extend(page),
                    Ok(_) => self.catching_up = false,
                    Err(e) => {
                        tracing::warn!("event stream ends: cannot read the journal: {e}");
                        return None;
                    }
                }
                continue;
            }
            tokio::select! {
                _ = self.stopping.wait_for(|s| *s) => return None,
                got = self.rx.recv() => match got {
                    Ok(rec) => {
                        let wanted = self.item.is_none() || rec.item == self.item;
                        if rec.seq > self.last && wanted {
                            self.last = rec.seq;
                            return Some(rec);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => self.catching_up = true,
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
            }
        }
    }
}
