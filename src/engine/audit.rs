//! The audit thread: after the engine has started it verifies the journal's hash chain
//! from the beginning on a read-only connection of its own, then, every few seconds, what
//! was committed since (and the whole chain again every hour, for edits to what it had
//! already checked), and publishes how far it got (or where the chain breaks) for
//! `/healthz`, `/metrics` and the console.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use tokio::sync::watch;

use crate::store::verify::{Audit, Depth, Position};
use crate::types::health::{AuditBreak, AuditHealth};

/// Records and tombstones verified per read transaction: short enough that a
/// checkpoint is never held up for long, long enough that a start's full walk is quick.
const CHUNK: u64 = 50_000;
/// The least pause between chunks while there is a backlog; otherwise as long as the
/// chunk took, so a long walk (a restart on a large journal) takes at most half a core.
const PAUSE: Duration = Duration::from_millis(5);
/// How often the whole chain is walked again: records already verified are read once
/// an hour, not every few seconds.
const AGAIN: Duration = Duration::from_secs(3600);

/// The running audit thread; stopping it joins it.
pub struct Auditor {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Auditor {
    /// Verify `dir`'s journal now, then every `every`, reporting into `status`.
    pub fn spawn(
        dir: PathBuf,
        every: Duration,
        status: watch::Sender<AuditHealth>,
    ) -> std::io::Result<Auditor> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("tempi-audit".into())
            .spawn(move || run(&dir, every, &status, &stopped))?;
        Ok(Auditor {
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
    dir: &Path,
    every: Duration,
    status: &watch::Sender<AuditHealth>,
    stopped: &mpsc::Receiver<()>,
) {
    let mut audit: Option<Audit> = None;
    let mut at = Position::default();
    let mut wait = Duration::ZERO;
    let mut walked_all = std::time::Instant::now();
    loop {
        match stopped.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return,
        }
        wait = every;
        // What the status says stays until the new walk has passed it.
        let mut again = None;
        if walked_all.elapsed() >= AGAIN {
            again = Some(at);
            at = Position::default();
            walked_all = std::time::Instant::now();
        }
        if audit.is_none() {
            audit = Audit::open(dir)
                .map_err(|e| tracing::warn!("audit check paused: {e}"))
                .ok();
        }
        let Some(a) = audit.as_ref() else {
            continue;
        };
        match catch_up(a, &mut at, stopped) {
            Ok(None) => {
                let seq = at.seq().max(again.map_or(0, |p| p.seq()));
                status.send_if_modified(|s| {
                    let moved = s.verified_seq != seq;
                    s.verified_seq = seq;
                    moved
                });
            }
            Ok(Some(broken)) => {
                tracing::error!(
                    "journal {}: the audit chain does not verify at {broken}",
                    a.path().display()
                );
                status.send_replace(AuditHealth {
                    verified_seq: at.seq(),
                    broken: Some(AuditBreak {
                        seq: broken.seq,
                        problem: broken.problem.to_string(),
                    }),
                });
                // Nothing after a break can verify: the check is over until a restart.
                return;
            }
            Err(e) => {
                tracing::warn!("audit check failed, will retry: {e}");
                audit = None;
            }
        }
    }
}

/// Verify from `at` to the journal's current end, chunk by chunk; the break if found.
fn catch_up(
    a: &Audit,
    at: &mut Position,
    stopped: &mpsc::Receiver<()>,
) -> Result<Option<crate::store::verify::Break>, crate::store::StoreError> {
    loop {
        let began = std::time::Instant::now();
        let walked = a.snapshot(|a| a.walk(*at, CHUNK, Depth::Chain, &mut |_| Ok(())))?;
        *at = walked.at;
        if walked.broken.is_some() || walked.done {
            return Ok(walked.broken);
        }
        match stopped.recv_timeout(began.elapsed().max(PAUSE)) {
            Err(RecvTimeoutError::Timeout) => {}
            _ => return Ok(None),
        }
    }
}
