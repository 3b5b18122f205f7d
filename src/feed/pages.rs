//! Catch-up for watchers that start behind the head: pages of the journal, read by one
//! reader at a time that rests between pages in proportion to its work (so catch-up
//! takes at most a fraction of one core, whatever the number of watchers), and a few
//! finished pages kept, encoded, so watchers reading the same stretch share one read.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OnceCell, Semaphore};

use super::{Commit, Committed};
use crate::engine::EngineHandle;
use crate::store::{Reader, StoreError};
use crate::types::{CommandError, ItemId, Record};

/// Records per page: page `k` holds the records with seqs in `(k·PAGE, (k+1)·PAGE]`.
pub const PAGE: u64 = 1000;
/// Finished pages kept for the next watcher.
const KEPT: usize = 8;
/// After a read that took `t` the reader rests `REST · t`: a quarter of one core.
const REST: u32 = 3;
/// The longest rest, so one slow read does not stall every watcher.
const REST_MAX: Duration = Duration::from_millis(200);

/// Records after a watcher's position, up to the end of the page it is in.
pub struct Page {
    pub records: Commit,
    /// Records up to this seq may have been removed by retention when the page was read.
    pub pruned_through: u64,
    /// The page's last seq, when the journal's head had passed it (no more can come).
    pub finished: Option<u64>,
}

impl Page {
    /// The records after `seq`.
    pub fn after(&self, seq: u64) -> &[Arc<Committed>] {
        let from = self.records.partition_point(|c| c.record.seq <= seq);
        &self.records[from..]
    }
}

pub struct Pages {
    /// One reader at a time for the event streams; held through its rest.
    gate: Semaphore,
    /// And one for the change feed's catch-ups.
    feed_gate: Semaphore,
    kept: Mutex<Kept>,
}

impl Default for Pages {
    fn default() -> Self {
        Pages {
            gate: Semaphore::new(1),
            feed_gate: Semaphore::new(1),
            kept: Mutex::new(Kept::default()),
        }
    }
}

#[derive(Default)]
struct Kept {
    cells: HashMap<u64, Arc<OnceCell<Arc<Page>>>>,
    order: VecDeque<u64>,
}

impl Kept {
    fn cell(&mut self, k: u64) -> Arc<OnceCell<Arc<Page>>> {
        if let Some(c) = self.cells.get(&k) {
            return c.clone();
        }
        let c = Arc::new(OnceCell::new());
        self.cells.insert(k, c.clone());
        self.order.push_back(k);
        while self.order.len() > KEPT {
            if let Some(old) = self.order.pop_front() {
                self.cells.remove(&old);
            }
        }
        c
    }

    fn forget(&mut self, k: u64) {
        self.cells.remove(&k);
        self.order.retain(|o| *o != k);
    }
}

impl Pages {
    /// The page holding the records after `after` (of every item). Finished pages are
    /// shared; the page at the head is read afresh each time.
    pub async fn after(
        &self,
        handle: &EngineHandle,
        after: u64,
    ) -> Result<Arc<Page>, CommandError> {
        let k = after / PAGE;
        // Saturating: a position near u64::MAX must not wrap to an early page.
        let (start, end) = (k * PAGE, (k + 1).saturating_mul(PAGE));
        let cell = self.kept().cell(k);
        let page = cell
            .get_or_try_init(|| async {
                let page = self.read(&self.gate, handle, read_page(start, end)).await?;
                // A page the head is still in grows: it is not kept.
                if page.finished.is_none() {
                    self.kept().forget(k);
                }
                Ok::<_, CommandError>(Arc::new(page))
            })
            .await?;
        Ok(page.clone())
    }

    /// The same page for the change feed's catch-up: through a gate of its own and not
    /// kept, so however many event streams are reading, a console that reconnects does
    /// not wait behind them.
    pub async fn for_feed(&self, handle: &EngineHandle, after: u64) -> Result<Page, CommandError> {
        let k = after / PAGE;
        let (start, end) = (k * PAGE, (k + 1).saturating_mul(PAGE));
        self.read(&self.feed_gate, handle, read_page(start, end))
            .await
    }

    /// One item's records after `after`, a page at most, read through the gate.
    pub async fn of_item(
        &self,
        handle: &EngineHandle,
        item: ItemId,
        after: u64,
    ) -> Result<Page, CommandError> {
        self.read(&self.gate, handle, move |r| {
            let records = encoded(r.records(Some(item), after, PAGE as usize)?);
            let pruned_through = r.floors()?.pruned_through;
            Ok(Page {
                records,
                pruned_through,
                finished: None,
            })
        })
        .await
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A read of the journal as the only reader of its gate, then the rest it earned.
    async fn read<T: Send + 'static>(
        &self,
        gate: &Semaphore,
        handle: &EngineHandle,
        f: impl FnOnce(&Reader) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, CommandError> {
        let _turn = gate
            .acquire()
            .await
            .map_err(|_| CommandError::Unavailable("the journal reader has stopped".into()))?;
        let started = Instant::now();
        let out = handle.read(f).await;
        tokio::time::sleep((started.elapsed() * REST).min(REST_MAX)).await;
        out
    }
}

/// Read the page `(start, end]`.
fn read_page(start: u64, end: u64) -> impl FnOnce(&Reader) -> Result<Page, StoreError> + Send {
    move |r| {
        let mut records = r.records(None, start, PAGE as usize)?;
        records.retain(|rec| rec.seq <= end);
        let pruned_through = r.floors()?.pruned_through;
        let records = encoded(records);
        let finished = (r.head()? >= end).then_some(end);
        Ok(Page {
            records,
            pruned_through,
            finished,
        })
    }
}

/// Records with their events encoded, on the reading thread, so the work is paced.
fn encoded(records: Vec<Record>) -> Commit {
    records
        .into_iter()
        .map(|r| {
            let c = Committed::new(r);
            c.sse();
            c
        })
        .collect()
}
