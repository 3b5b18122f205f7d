//! What watchers of the engine receive: each committed record encoded once for every
//! event-stream client, catch-up read from the journal by one paced reader for all of
//! them, and the change feed consoles follow.

pub mod changes;
mod frame;
mod pages;
pub mod records;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use tokio::sync::broadcast;

pub use frame::{Commit, Committed, message};
pub use pages::PAGE;

/// What every watcher of one engine shares.
pub struct Shared {
    /// Batches of the change feed, for every console following it.
    pub(crate) changes: broadcast::Sender<Arc<changes::Delivery>>,
    /// The journal position the change feed's batches have covered.
    pub(crate) position: AtomicU64,
    pub(crate) pages: pages::Pages,
}

impl Shared {
    pub fn new(head: u64) -> Arc<Shared> {
        Arc::new(Shared {
            changes: broadcast::channel(changes::BATCHES_KEPT).0,
            position: AtomicU64::new(head),
            pages: pages::Pages::default(),
        })
    }
}
