//! A full disk is an ordinary condition: the writer fails the batch that did not commit
//! (and those built on it), the loop takes back a core rebuilt from the journal, serves
//! reads, refuses work, probes every second and resumes; any other write error stops.
//!
//! Executor answers are never lost: those applied in a failed batch come back with the
//! rebuilt core and are applied again first thing on resume (their attempts are still
//! running there); those arriving meanwhile wait in their channel, which holds at most
//! one answer per attempt in flight. Timers simply fire after resume.

use std::ops::ControlFlow;
use std::path::Path;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::{Batch, Loop, ToWriter, Writer, handle_request};
use crate::engine::core::{Core, Ctx};
use crate::engine::handle::Request;
use crate::store::{Reader, StoreError};
use crate::types::Health;
use crate::types::command::CommandError;

/// How long the loop waits between probes of a full disk.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// What the writer tells the loop.
pub(super) enum FromWriter {
    /// A commit failed on a full disk; batches are failed from now on.
    Refused(CommandError),
    /// The core as the journal holds it, with the answers of the failed batches.
    Rebuilt {
        core: Box<Core>,
        answers: Vec<Request>,
        /// The start's own batch was lost: load workflows and re-dispatch again.
        restart: bool,
    },
    /// A probe's outcome: Ok means work is taken again.
    Probed(Result<(), CommandError>),
}

/// A copy of an executor answer, kept until its batch commits.
pub(super) fn copy_answer(req: &Request) -> Option<Request> {
    match req {
        Request::StepDone {
            item,
            step,
            attempt,
            phase,
            outcome,
        } => Some(Request::StepDone {
            item: *item,
            step: step.clone(),
            attempt: *attempt,
            phase: *phase,
            outcome: outcome.clone(),
        }),
        _ => None,
    }
}

/// What the store said, without the path the messages below name themselves.
fn detail(e: &StoreError) -> String {
    match std::error::Error::source(e) {
        Some(source) => source.to_string(),
        None => e.to_string(),
    }
}

fn disk_full_reason(e: &StoreError, dir: &Path) -> String {
    format!(
        "the disk is full at {} ({}); new work is refused until a write succeeds again \
         (tried every second), reads still work",
        e.path().unwrap_or(dir).display(),
        detail(e)
    )
}

fn stop_reason(e: &StoreError, dir: &Path) -> String {
    if e.is_io_failure() {
        format!(
            "the journal at {} could not be written ({}); the page cache can no longer be \
             trusted, so the engine stopped (everything acknowledged is in the journal); \
             check the disk, then restart tempi",
            e.path().unwrap_or(dir).display(),
            detail(e)
        )
    } else {
        format!("the journal could not be written: {e}; the engine stopped")
    }
}

impl Writer {
    /// A commit failed: refuse work while the disk is full; stop on anything else.
    pub(super) fn failed(&mut self, batch: Batch, e: StoreError) -> bool {
        if !e.is_disk_full() {
            self.stop(stop_reason(&e, &self.data_dir), batch);
            return false;
        }
        let why = disk_full_reason(&e, &self.data_dir);
        tracing::warn!("{why}");
        self.health.send_replace(Health::Refusing(why.clone()));
        let err = CommandError::Unavailable(why);
        self.refusing = Some(err.clone());
        self.discard(batch);
        let _ = self.reports.send(FromWriter::Refused(err));
        true
    }

    /// Stop for good: say why everywhere an operator looks, fail the batch's callers.
    fn stop(&mut self, why: String, batch: Batch) {
        // Not to stderr: a console may own the screen; `serve` prints it as it exits.
        tracing::error!("{why}");
        self.health.send_replace(Health::Stopped(why.clone()));
        let err = CommandError::Unavailable(why);
        for reply in batch.after {
            reply(Some(&err));
        }
    }

    /// A batch built on what did not commit: its callers fail, its dispatches never run,
    /// its executor answers are kept for the rebuilt core.
    pub(super) fn discard(&mut self, batch: Batch) {
        let err = self
            .refusing
            .clone()
            .unwrap_or_else(|| CommandError::Unavailable("the journal write failed".into()));
        for reply in batch.after {
            reply(Some(&err));
        }
        self.held.extend(batch.answers);
    }

    /// Every batch built on the failed one has been discarded: rebuild the core from
    /// snapshot and journal, as a start does.
    pub(super) fn rebuild(&mut self) -> bool {
        let dir = self.data_dir.clone();
        let rebuilt = Reader::open(&dir)
            .and_then(|r| r.floors())
            .and_then(|floors| {
                crate::engine::replay::rebuild(&dir, &self.env, &*self.journal, &floors)
            });
        let head = self.journal.head();
        let why = match rebuilt {
            Ok((core, _)) if core.state.broken.is_none() && core.state.seq == head => {
                let _ = self.reports.send(FromWriter::Rebuilt {
                    core: Box::new(core),
                    answers: std::mem::take(&mut self.held),
                    restart: !self.committed_any,
                });
                return true;
            }
            Ok((core, _)) => match core.state.broken {
                Some(b) => format!("the journal cannot be replayed: {b}"),
                None => format!(
                    "the journal's replay ends at seq {}, its head is {head}",
                    core.state.seq
                ),
            },
            Err(e) => e.to_string(),
        };
        self.stop_empty(format!(
            "after a failed commit the state could not be rebuilt from the journal ({why}); \
             the engine stopped; restart tempi"
        ));
        false
    }

    /// See whether the journal takes a write again.
    pub(super) fn probe(&mut self) -> bool {
        match self.journal.probe() {
            Ok(()) => {
                tracing::info!("the journal can be written again; taking work");
                self.refusing = None;
                self.health.send_replace(Health::Running);
                let _ = self.reports.send(FromWriter::Probed(Ok(())));
                true
            }
            Err(e) if e.is_disk_full() => {
                let why = disk_full_reason(&e, &self.data_dir);
                self.health.send_replace(Health::Refusing(why.clone()));
                let err = CommandError::Unavailable(why);
                self.refusing = Some(err.clone());
                let _ = self.reports.send(FromWriter::Probed(Err(err)));
                true
            }
            Err(e) => {
                self.stop_empty(stop_reason(&e, &self.data_dir));
                false
            }
        }
    }

    fn stop_empty(&mut self, why: String) {
        let empty = Batch {
            records: Vec::new(),
            ended: Vec::new(),
            tally: Default::default(),
            dispatch: Vec::new(),
            abort: Vec::new(),
            after: Vec::new(),
            answers: Vec::new(),
            oldest: std::time::Instant::now(),
        };
        self.stop(why, empty);
    }
}

impl Loop {
    /// The writer refused a batch: wait for the rebuilt core, then serve reads and
    /// refuse work until a probe succeeds, then resume. Break when the engine stops.
    pub(super) async fn refuse(
        &mut self,
        mut why: CommandError,
        rx: &mut mpsc::Receiver<Request>,
        stop: &mut oneshot::Receiver<()>,
        jumps: &tokio::sync::Notify,
    ) -> ControlFlow<()> {
        // Batches sent before this marker are the ones built on what failed.
        if self.batches.send(ToWriter::Rebuild).await.is_err() {
            return ControlFlow::Break(());
        }
        // Requests wait meanwhile: the core in memory holds what did not commit.
        let (held, restart) = loop {
            tokio::select! {
                biased;
                _ = &mut *stop => return ControlFlow::Break(()),
                r = self.reports.recv() => match r {
                    Some(FromWriter::Rebuilt { core, answers, restart }) => {
                        self.core.replace_state(*core);
                        self.publish_directory(true);
                        break (answers, restart);
                    }
                    Some(_) => {}
                    None => return ControlFlow::Break(()),
                },
            }
        };
        let mut next_probe = tokio::time::Instant::now() + PROBE_EVERY;
        let mut probing = false;
        loop {
            let jumped = jumps.notified();
            tokio::pin!(jumped);
            jumped.as_mut().enable();
            let probe_now = tokio::select! {
                biased;
                _ = &mut *stop => return ControlFlow::Break(()),
                r = self.reports.recv() => match r {
                    Some(FromWriter::Probed(Ok(()))) => break,
                    Some(FromWriter::Probed(Err(e))) => {
                        why = e;
                        probing = false;
                        next_probe = tokio::time::Instant::now() + PROBE_EVERY;
                        false
                    }
                    Some(_) => false,
                    None => return ControlFlow::Break(()),
                },
                r = rx.recv() => match r {
                    Some(req) => {
                        self.answer_refusing(req, &why);
                        false
                    }
                    None => return ControlFlow::Break(()),
                },
                _ = tokio::time::sleep_until(next_probe), if !probing => true,
                _ = &mut jumped, if !probing => true,
            };
            if probe_now {
                if self.batches.send(ToWriter::Probe).await.is_err() {
                    return ControlFlow::Break(());
                }
                probing = true;
            }
        }
        self.resume(held, restart).await
    }

    /// While refusing: reads from the rebuilt core, commands told why not.
    fn answer_refusing(&mut self, req: Request, why: &CommandError) {
        match req {
            Request::Command { reply, .. } => {
                let _ = reply.send(Err(why.clone()));
            }
            Request::Deploy { reply, .. } => {
                let _ = reply.send(Err(why.clone()));
            }
            read => {
                let now = self.clock.now();
                let mut draw = || 0.5;
                let mut ctx = Ctx::new(now, &mut draw);
                let mut after = Vec::new();
                handle_request(&mut self.core, &mut ctx, read, now, &mut after);
                // A read writes nothing; an answer that would have is a bug caught here.
                debug_assert!(ctx.records.is_empty());
                for reply in after {
                    reply(None);
                }
            }
        }
    }

    /// Space again: apply the answers of the failed batches (and redo the start's
    /// own work if that was lost), then carry on as before.
    async fn resume(&mut self, held: Vec<Request>, restart: bool) -> ControlFlow<()> {
        let loaded = std::mem::take(&mut self.loaded);
        let batch = self.turn_after(held, std::time::Instant::now(), |core, ctx| {
            if restart {
                if let Err(e) =
                    core.deploy(ctx, &crate::types::identity::Who::engine(), None, &loaded)
                {
                    tracing::error!("the workflows dir was not loaded again: {e}");
                }
                core.recover(ctx);
            }
        });
        self.loaded = loaded;
        if self.send(batch).await {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    }
}
