//! One event-stream client's position in the journal: it subscribes to live records
//! first, catches up through the shared pages, and falls back to them after a lag.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::sync::{broadcast, watch};

use super::{Commit, Committed};
use crate::engine::EngineHandle;
use crate::types::ItemId;

pub struct Follow {
    handle: EngineHandle,
    rx: broadcast::Receiver<Commit>,
    item: Option<ItemId>,
    last: u64,
    /// Commits and pages to send, the first from `at` on.
    backlog: VecDeque<Commit>,
    at: usize,
    catching_up: bool,
    stopping: watch::Receiver<bool>,
    /// Set when the stream ended because retention removed records after `last`.
    gap: Option<String>,
}

/// Why a stream from `after` cannot go on, if retention removed records after it.
pub fn gap(after: u64, pruned_through: u64) -> Option<String> {
    // A stream from 0 asks for what is kept, not to resume: it has no gap to fear.
    (after > 0 && after < pruned_through).then(|| {
        format!(
            "records up to seq {pruned_through} were removed by retention; resync: read items and tasks afresh, then follow from the journal_seq of /api/metrics"
        )
    })
}

/// Whether a stream of `item` (or all) at `last` sends `c`.
fn wants(item: Option<ItemId>, last: u64, c: &Committed) -> bool {
    c.record.seq > last && (item.is_none() || c.record.item == item)
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
            at: 0,
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
    pub async fn next(&mut self) -> Option<Arc<Committed>> {
        loop {
            if *self.stopping.borrow() {
                return None;
            }
            if let Some(rec) = self.ready() {
                return Some(rec);
            }
            if self.catching_up {
                if !self.catch_up().await {
                    return None;
                }
                continue;
            }
            let got = tokio::select! {
                _ = self.stopping.wait_for(|s| *s) => return None,
                got = self.rx.recv() => got,
            };
            match got {
                Ok(commit) => self.backlog.push_back(commit),
                Err(broadcast::error::RecvError::Lagged(_)) => self.catching_up = true,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// The next record if one is at hand, without waiting.
    pub fn ready(&mut self) -> Option<Arc<Committed>> {
        loop {
            if let Some(rec) = self.pop() {
                return Some(rec);
            }
            if !self.receive() {
                return None;
            }
        }
    }

    /// Append the events of the records at hand to `out`, up to about `max` bytes,
    /// without waiting (and without a reference count per record).
    pub fn fill(&mut self, out: &mut BytesMut, max: usize) {
        while out.len() < max {
            let Some(front) = self.backlog.front().cloned() else {
                if !self.receive() {
                    return;
                }
                continue;
            };
            while self.at < front.len() && out.len() < max {
                let rec = &front[self.at];
                self.at += 1;
                if wants(self.item, self.last, rec) {
                    self.last = rec.record.seq;
                    out.extend_from_slice(rec.sse());
                }
            }
            if self.at == front.len() {
                self.backlog.pop_front();
                self.at = 0;
            }
        }
    }

    fn pop(&mut self) -> Option<Arc<Committed>> {
        while let Some(front) = self.backlog.front() {
            while self.at < front.len() {
                let rec = &front[self.at];
                self.at += 1;
                if wants(self.item, self.last, rec) {
                    self.last = rec.record.seq;
                    return Some(rec.clone());
                }
            }
            self.backlog.pop_front();
            self.at = 0;
        }
        None
    }

    /// Queue a live commit if one has arrived; `false` when none is at hand.
    fn receive(&mut self) -> bool {
        if self.catching_up {
            return false;
        }
        match self.rx.try_recv() {
            Ok(commit) => {
                self.backlog.push_back(commit);
                true
            }
            Err(broadcast::error::TryRecvError::Lagged(_)) => {
                self.catching_up = true;
                false
            }
            Err(_) => false,
        }
    }

    /// Fill the backlog from the journal; `false` when the stream must end.
    async fn catch_up(&mut self) -> bool {
        let page = match self.item {
            None => self.handle.feed.pages.after(&self.handle, self.last).await,
            Some(item) => self
                .handle
                .feed
                .pages
                .of_item(&self.handle, item, self.last)
                .await
                .map(Arc::new),
        };
        let page = match page {
            Ok(page) => page,
            Err(e) => {
                tracing::warn!("event stream ends: cannot read the journal: {e}");
                return false;
            }
        };
        if let Some(message) = gap(self.last, page.pruned_through) {
            self.gap = Some(message);
            return false;
        }
        let after = page.after(self.last);
        if after.is_empty() {
            match page.finished {
                // Retention removed the rest of this page: on to the next.
                Some(end) if self.item.is_none() && end > self.last => self.last = end,
                _ => self.catching_up = false,
            }
        }
        if !after.is_empty() {
            self.backlog.push_back(page.records.clone());
        }
        true
    }
}
