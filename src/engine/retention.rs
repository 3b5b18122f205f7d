//! The retention thread: every few seconds it removes, in small batches, the records of
//! items that ended longer ago than the window, with a pause between batches so the
//! journal writer (which shares SQLite's one write lock) is never held up for long.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use super::runtime::Clock;
use crate::store::retention::Pruner;
use crate::store::snapshots;

/// Items removed per transaction: a few milliseconds of work.
const BATCH: usize = 200;
/// Pause between batches while there is a backlog.
const PAUSE: Duration = Duration::from_millis(20);

/// The running retention thread; dropping `stop` ends it.
pub struct Retention {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Retention {
    /// Keep ended items for `window` after they end; look every `every`.
    pub fn spawn(
        dir: PathBuf,
        window: Duration,
        every: Duration,
        archive: Option<PathBuf>,
        clock: Arc<dyn Clock>,
    ) -> std::io::Result<Retention> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("tempi-retention".into())
            .spawn(move || run(&dir, window, every, archive.as_deref(), &*clock, &stopped))?;
        Ok(Retention {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn stop(mut self) {
        self.stop = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(
    dir: &std::path::Path,
    window: Duration,
    every: Duration,
    archive: Option<&std::path::Path>,
    clock: &dyn Clock,
    stopped: &mpsc::Receiver<()>,
) {
    let mut pruner: Option<Pruner> = None;
    let mut wait = every;
    loop {
        match stopped.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        if pruner.is_none() {
            pruner = Pruner::open(dir)
                .map_err(|e| tracing::warn!("retention paused: {e}"))
                .ok();
        }
        let Some(p) = pruner.as_mut() else {
            wait = every;
            continue;
        };
        let now = clock.now();
        let cutoff = chrono::Duration::from_std(window)
            .ok()
            .and_then(|w| now.checked_sub_signed(w))
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        // Only what the newest snapshot covers: a restart from it must not miss an end.
        // (One that is damaged is skipped at restore, and so is any older than what was
        // removed: the restart then replays the whole journal, which is always safe.)
        let head = p.head().unwrap_or(0);
        let covered = snapshots::list(dir)
            .into_iter()
            .map(|(seq, _)| seq)
            .find(|seq| *seq <= head)
            .unwrap_or(0);
        wait = match p.prune(now, cutoff, covered, BATCH, archive) {
            Ok(done) if done.items == BATCH => PAUSE,
            Ok(done) => {
                if done.items > 0 {
                    tracing::info!(
                        "retention removed {} items ({} records)",
                        done.items,
                        done.records
                    );
                }
                every
            }
            Err(e) => {
                tracing::warn!("retention batch failed, will retry: {e}");
                every
            }
        };
    }
}
