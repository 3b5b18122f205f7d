//! The runtime's snapshots: restoring the newest usable one at start, taking one of
//! the live core at a clean shutdown, and refreshing one in the background (the last
//! snapshot plus the journal after it, replayed on a thread of its own, so the engine
//! loop and the journal writer never wait for it).

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use super::core::Core;
use crate::store::{Reader, StoreError, snapshots};

/// The newest snapshot that loads and covers no more than `head`, else an empty core;
/// with the seq to replay the journal from. A snapshot older than `pruned_through` (the
/// last seq of what retention removed) is never used: it may hold, as in flight, items
/// whose ends are gone from the journal. A full replay is always safe, since retention
/// removes all of an item's records or none.
pub fn restore(dir: &Path, env: &Value, head: u64, pruned_through: u64) -> (Core, u64) {
    for (seq, path) in snapshots::list(dir) {
        if seq > head {
            tracing::warn!(
                "snapshot {} is ahead of the journal (seq {seq} > {head}); skipped",
                path.display()
            );
            continue;
        }
        if seq < pruned_through {
            tracing::warn!(
                "snapshot {} is older than what retention removed (seq {seq} < {pruned_through}); skipped",
                path.display()
            );
            continue;
        }
        let loaded = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| Core::from_snapshot(env.clone(), &bytes).map_err(|e| e.to_string()));
        match loaded {
            Ok(core) if core.state.seq == seq => return (core, seq),
            Ok(core) => tracing::warn!(
                "snapshot {} says seq {}, its name {seq}; skipped",
                path.display(),
                core.state.seq
            ),
            Err(e) => tracing::warn!("snapshot {} skipped: {e}", path.display()),
        }
    }
    (Core::new(env.clone()), 0)
}

/// Write a snapshot of `core` (which must match the committed journal).
pub fn take(dir: &Path, core: &Core) -> Result<PathBuf, StoreError> {
    let mut bytes = Vec::new();
    core.write_snapshot(&mut bytes)
        .map_err(|e| StoreError::Other(format!("cannot encode a snapshot: {e}")))?;
    snapshots::write(dir, core.state.seq, &bytes)
}

/// Bring the newest snapshot up to the journal's head. Returns the seq covered when a
/// new one was written.
pub fn refresh(dir: &Path, env: &Value) -> Result<Option<u64>, StoreError> {
    let reader = Reader::open(dir)?;
    let head = reader.head()?;
    // Nothing committed since the newest snapshot: no need to read it to know.
    if snapshots::list(dir)
        .first()
        .is_some_and(|(seq, _)| *seq == head)
    {
        return Ok(None);
    }
    let floors = reader.floors()?;
    let (mut core, from) = restore(dir, env, head, floors.pruned_through);
    if from >= head {
        return Ok(None);
    }
    reader.replay(from, &mut |rec| core.replay(&rec))?;
    let seq = core.state.seq;
    take(dir, &core)?;
    drop(core);
    release_memory();
    Ok(Some(seq))
}

/// Hand freed pages back to the system: the background copy of the state is as large
/// as the engine's, and the allocator would otherwise keep it resident.
fn release_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the system.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The background snapshot thread: `poke` asks for a fresh snapshot (asks made while
/// one is being written fold into the next); without asks it looks every `interval`
/// and catches up with whatever was committed since. `stop` ends it.
pub struct Snapshotter {
    poke: Option<mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Snapshotter {
    pub fn spawn(dir: PathBuf, env: Value, interval: Duration) -> std::io::Result<Snapshotter> {
        let (poke, asks) = mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("tempi-snapshot".into())
            .spawn(move || {
                loop {
                    match asks.recv_timeout(interval) {
                        Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) => {}
                        Err(mpsc::RecvTimeoutError::Disconnected) => return,
                    }
                    match refresh(&dir, &env) {
                        Ok(Some(seq)) => tracing::info!("snapshot written at seq {seq}"),
                        Ok(None) => {}
                        Err(e) => tracing::warn!("snapshot not written: {e}"),
                    }
                }
            })?;
        Ok(Snapshotter {
            poke: Some(poke),
            thread: Some(thread),
        })
    }

    /// Ask for a snapshot; never blocks.
    pub fn poke(&self) {
        if let Some(p) = &self.poke {
            let _ = p.try_send(());
        }
    }

    /// Stop after the snapshot in progress, if any.
    pub fn stop(mut self) {
        self.poke = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
