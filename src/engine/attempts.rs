//! The attempts executors are running, each with what ends it early; an attempt leaves
//! when its work is dropped (answered, aborted or panicked), so this holds only work in flight.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::task::AbortHandle;

use super::core::Attempt;

#[derive(Default)]
pub struct Attempts {
    live: Mutex<HashMap<Attempt, Entry>>,
    next: AtomicU64,
}

struct Entry {
    /// Tells this dispatch from a later one of the same attempt (a restart re-dispatches).
    id: u64,
    handle: Option<AbortHandle>,
}

/// Held by an attempt's answer: dropping it (with the answer) takes the attempt out.
pub struct Ticket {
    attempts: Arc<Attempts>,
    key: Attempt,
    id: u64,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut live = self.attempts.lock();
        if live.get(&self.key).is_some_and(|e| e.id == self.id) {
            live.remove(&self.key);
        }
    }
}

impl Attempts {
    fn lock(&self) -> MutexGuard<'_, HashMap<Attempt, Entry>> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Enter an attempt before its executor starts (it may finish at once).
    pub fn enter(self: &Arc<Self>, key: Attempt) -> Ticket {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(key.clone(), Entry { id, handle: None });
        Ticket {
            attempts: self.clone(),
            key,
            id,
        }
    }

    /// The executor started the attempt of `ticket`'s dispatch; unless it is already
    /// over, keep what ends it.
    pub fn started(&self, key: &Attempt, id: u64, handle: AbortHandle) {
        if let Some(e) = self.lock().get_mut(key).filter(|e| e.id == id) {
            e.handle = Some(handle);
        }
    }

    /// End an attempt's work; false when it was not running here (finished already).
    pub fn abort(&self, key: &Attempt) -> bool {
        let entry = self.lock().remove(key);
        match entry.and_then(|e| e.handle) {
            Some(handle) => {
                handle.abort();
                true
            }
            None => false,
        }
    }

    /// How many attempts are in flight.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Ticket {
    pub fn id(&self) -> u64 {
        self.id
    }
}
