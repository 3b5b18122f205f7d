//! The engine's imperative shell. One tokio task owns the core: it takes requests and
//! executor results in batches, lets the core decide, and hands the resulting records to
//! a writer thread. The writer commits each batch in one transaction (group commit) and
//! only then answers callers, publishes the records and dispatches executors.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::attempts::Attempts;
use super::audit::Auditor;
use super::core::{Attempt, Core, Ctx, Dispatch, Work};
use super::handle::{Counted, EngineHandle, Request};
use super::retention::Retention;
use super::snapshots::{self, Snapshotter};
use crate::definition;
use crate::exec::{Executor, Executors, Spawned};
use crate::feed::{self, Commit, Committed};
use crate::store::{Journal, Store, StoreError};
use crate::types::Health;
use crate::types::command::CommandError;
use crate::types::event::Record;
use crate::types::identity::{Directory, Who};
use crate::types::tally::Tally;
use crate::types::view::EndedItem;
use crate::types::view::Metrics;
use crate::types::view::{IdList, ItemFilter};

mod refusal;
use refusal::FromWriter;

/// Where the engine gets the time from; tests pass a manual clock.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
    /// Signalled when the time jumps (a manual clock), so timers are looked at at once.
    fn jumps(&self) -> Option<Arc<tokio::sync::Notify>> {
        None
    }
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told: the runtime's timers, retention and snapshots
/// can then be tested without sleeping.
pub struct ManualClock {
    now: Mutex<DateTime<Utc>>,
    jumped: Arc<tokio::sync::Notify>,
}

impl ManualClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        ManualClock {
            now: Mutex::new(at),
            jumped: Arc::default(),
        }
    }

    pub fn advance(&self, by: chrono::Duration) {
        if let Ok(mut t) = self.now.lock() {
            *t += by;
        }
        self.jumped.notify_waiters();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        self.now
            .lock()
            .map(|t| *t)
            .unwrap_or_else(|e| *e.into_inner())
    }

    fn jumps(&self) -> Option<Arc<tokio::sync::Notify>> {
        Some(self.jumped.clone())
    }
}

/// Wraps the journal before the engine writes to it (a test injects failing appends).
pub type StoreWrap = Arc<dyn Fn(Box<dyn Store>) -> Box<dyn Store> + Send + Sync>;

/// How to start an engine.
#[derive(Clone)]
pub struct EngineConfig {
    /// Where the journal, lock and token live.
    pub data_dir: PathBuf,
    /// Workflow files loaded (and recorded in the journal) at start.
    pub workflows_dir: Option<PathBuf>,
    /// Values visible to templates as `env.*`: only what the daemon was told to pass
    /// (`serve --pass-env`, `pass_env` in config.toml); empty by default.
    pub env: BTreeMap<String, String>,
    /// Values visible to templates as `secrets.*`, masked out of everything kept.
    pub secrets: crate::types::secrets::Secrets,
    pub clock: Arc<dyn Clock>,
    /// A background snapshot is taken after this many committed records...
    pub snapshot_every: u64,
    /// ...and at least this often while records are being committed.
    pub snapshot_interval: std::time::Duration,
    /// Remove the records of items that ended longer ago than this (None keeps all).
    pub retention: Option<std::time::Duration>,
    /// How often retention looks for items past the window.
    pub retention_check: std::time::Duration,
    /// How long the change feed gathers changes into one batch.
    pub feed_flush: std::time::Duration,
    /// Where retention moves records before removing them (None: they are only removed).
    pub archive: Option<PathBuf>,
    /// How often the journal's hash chain is verified after the full check at start
    /// (None: never; the figures then stay at 0).
    pub audit_check: Option<std::time::Duration>,
    /// Seeds the engine's randomness (retry jitter); from the OS when absent.
    pub seed: Option<u64>,
    /// How long an attempt may run when its step names no `timeout`.
    pub step_timeouts: crate::types::job::StepTimeouts,
    /// Runs the jobs; the real executors when absent.
    pub executor: Option<Arc<dyn Executor>>,
    /// Wraps the journal (tests only).
    pub wrap_store: Option<StoreWrap>,
}

impl EngineConfig {
    /// A config with no environment, no secrets and the wall clock.
    pub fn new(data_dir: PathBuf, workflows_dir: Option<PathBuf>) -> Self {
        EngineConfig {
            data_dir,
            workflows_dir,
            env: BTreeMap::new(),
            secrets: Default::default(),
            clock: Arc::new(SystemClock),
            snapshot_every: 250_000,
            snapshot_interval: std::time::Duration::from_secs(600),
            retention: None,
            retention_check: std::time::Duration::from_secs(5),
            feed_flush: feed::changes::FLUSH,
            archive: None,
            audit_check: Some(std::time::Duration::from_secs(5)),
            seed: None,
            step_timeouts: Default::default(),
            executor: None,
            wrap_store: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("workflow files have problems:\n{0}")]
    Workflows(String),
    #[error("the engine could not start: {0}")]
    Internal(String),
    /// The journal holds an item this engine cannot rebuild; starting would lose it.
    #[error("the journal cannot be replayed: {0}")]
    Replay(String),
}

/// Counters of the runtime itself (group commits, latencies), for `tempi bench`.
#[derive(Debug, Default, Clone)]
pub struct RuntimeStats {
    pub commits: u64,
    pub records: u64,
    /// Milliseconds from the input that made steps ready to the commit of their start,
    /// one sample per started step (kept only when `keep_latencies`).
    pub latencies_ms: Vec<f32>,
    pub keep_latencies: bool,
    pub replay_ms: f64,
    pub replayed: u64,
}

/// A running engine: its handle, and a way to stop it cleanly.
pub struct Running {
    pub handle: EngineHandle,
    pub stats: Arc<Mutex<RuntimeStats>>,
    /// The attempts executors are running now.
    pub attempts: Arc<Attempts>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Stop dispatching, finish the commits in progress, and wait for the loop to end.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// A completed executor attempt on its way back into the loop.
struct Done {
    request: Request,
    sent: Instant,
}

/// Run after a batch: answers a caller, with the error instead when the batch failed.
type After = Box<dyn FnOnce(Option<&CommandError>) + Send>;

/// What the loop hands the writer thread.
enum ToWriter {
    Batch(Box<Batch>),
    /// The loop has stopped sending batches built on what failed: rebuild the core.
    Rebuild,
    /// See whether the journal can be written again.
    Probe,
}

/// What the writer thread commits, then acts on.
struct Batch {
    records: Vec<Record>,
    ended: Vec<EndedItem>,
    /// What the records counted, for the rollups.
    tally: Tally,
    dispatch: Vec<Dispatch>,
    /// Attempts the core moved on without their answer: their work ends.
    abort: Vec<Attempt>,
    after: Vec<After>,
    /// Copies of the executor answers applied in this batch, to apply again should its
    /// commit fail (the attempts are still running in the rebuilt state).
    answers: Vec<Request>,
    /// When the oldest input of this turn arrived.
    oldest: Instant,
}

/// Open the journal of `config.data_dir` (refusing if another engine holds it), replay
/// it, load workflow files, re-dispatch in-flight steps and start the loop.
pub async fn start(config: EngineConfig) -> Result<Running, StartError> {
    let env_json = serde_json::to_value(&config.env).unwrap_or(Value::Null);
    let dir = config.data_dir.clone();
    let began = Instant::now();
    let env = env_json.clone();
    let (journal, core, replayed) = tokio::task::spawn_blocking(move || {
        let mut journal = Journal::open(&dir)?;
        crate::store::snapshots::remove_strays(&dir);
        let mut n = 0u64;
        if journal.needs_backfill()? {
            // Schema 1 had no index of ended items: one full replay fills it.
            let mut core = Core::new(env);
            let mut ended = Vec::new();
            journal.replay(0, &mut |rec| {
                core.replay_collect(&rec, &mut ended);
                n += 1;
            })?;
            journal.backfill(&ended)?;
            // Rollups begin now: nothing replayed here is counted again.
            let mut core = core;
            core.take_tally();
            core.state.totals.workflows = journal.rollup_totals()?;
            core.state.totals.steps.clear();
            return Ok((journal, core, n));
        }
        let floors = journal.floors()?;
        let (core, n) = super::replay::rebuild(&dir, &env, &journal, &floors)?;
        Ok::<_, StoreError>((journal, core, n))
    })
    .await
    .map_err(|e| StartError::Internal(e.to_string()))??;
    if let Some(why) = &core.state.broken {
        return Err(StartError::Replay(why.clone()));
    }
    let mut core = core;
    core.set_step_timeouts(config.step_timeouts);
    core.set_secrets(config.secrets.clone());
    // What a crashed predecessor left running ends before anything is dispatched again.
    let groups = sweep_groups(&config.data_dir)?;
    let stats = Arc::new(Mutex::new(RuntimeStats {
        replay_ms: began.elapsed().as_secs_f64() * 1000.0,
        replayed,
        ..RuntimeStats::default()
    }));
    let loaded = match &config.workflows_dir {
        Some(d) if d.is_dir() => {
            let (named, diags) = definition::load_dir_named(d);
            if !diags.is_empty() {
                let text: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
                return Err(StartError::Workflows(text.join("\n")));
            }
            named
        }
        Some(d) => {
            let why = if d.exists() {
                "is not a directory"
            } else {
                "does not exist"
            };
            let message = format!("the workflows directory {} {why}", d.display());
            return Err(StartError::Workflows(message));
        }
        None => Vec::new(),
    };
    let (tx, rx) = mpsc::channel(4096);
    let (health, health_rx) = watch::channel(Health::Running);
    let (directory, directory_rx) = watch::channel(Arc::new(core.state.directory.clone()));
    let (audit, audit_rx) = watch::channel(crate::types::health::AuditHealth::default());
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    // Commits, not records: a watcher this far behind catches up from the journal.
    let (events, _) = broadcast::channel(1024);
    let handle = EngineHandle {
        tx,
        events: events.clone(),
        data_dir: config.data_dir.clone(),
        feed: feed::Shared::new(core.state.seq),
        journal_id: journal.id().into(),
        health: health_rx,
        directory: directory_rx,
        audit: audit_rx,
        retention: config.retention.filter(|w| !w.is_zero()),
        stats: stats.clone(),
    };
    feed::changes::spawn(handle.clone(), config.feed_flush);
    let (batch_tx, batch_rx) = mpsc::channel::<ToWriter>(2);
    let (reports_tx, reports) = mpsc::unbounded_channel();
    let snapshotter = Snapshotter::spawn(
        config.data_dir.clone(),
        env_json.clone(),
        config.snapshot_interval,
    )
    .map_err(|e| StartError::Internal(e.to_string()))?;
    let journal: Box<dyn Store> = match &config.wrap_store {
        Some(wrap) => wrap(Box::new(journal)),
        None => Box::new(journal),
    };
    let executor: Arc<dyn Executor> = match &config.executor {
        Some(e) => e.clone(),
        None => Arc::new(Spawned {
            executors: Executors {
                groups: Some(groups),
                ..Executors::new()
            },
            rt: tokio::runtime::Handle::current(),
        }),
    };
    let attempts = Arc::new(Attempts::default());
    let writer = Writer {
        journal,
        snapshotter,
        snapshot_every: config.snapshot_every,
        since_snapshot: 0,
        events,
        done: done_tx,
        executor,
        attempts: attempts.clone(),
        stats: stats.clone(),
        health,
        reports: reports_tx,
        refusing: None,
        held: Vec::new(),
        committed_any: false,
        data_dir: config.data_dir.clone(),
        env: env_json.clone(),
    };
    let writer_thread = std::thread::Builder::new()
        .name("tempi-journal".into())
        .spawn(move || writer.run(batch_rx))
        .map_err(|e| StartError::Internal(e.to_string()))?;
    let mut rng = match config.seed {
        Some(seed) => rand::rngs::StdRng::seed_from_u64(seed),
        None => rand::rngs::StdRng::from_os_rng(),
    };
    let mut startup_rng = rand::rngs::StdRng::seed_from_u64(rng.random());
    let core_directory_version = core.state.directory_version;
    let mut engine = Loop {
        core,
        clock: config.clock.clone(),
        rng,
        batches: batch_tx,
        reports,
        loaded: Vec::new(),
        directory_seen: core_directory_version,
        directory,
    };
    let now = engine.clock.now();
    let mut draw = || startup_rng.random::<f64>();
    let mut ctx = Ctx::new(now, &mut draw);
    // The dir's files as the engine's own deploy: a version the journal holds with
    // other content (deployed live, or an earlier file) stops the start, naming the file.
    engine
        .core
        .deploy(&mut ctx, &Who::engine(), None, &loaded)
        .map_err(|e| StartError::Workflows(e.to_string()))?;
    engine.core.recover(&mut ctx);
    engine.core.fire_timers(&mut ctx);
    engine.loaded = loaded;
    let first = Batch {
        records: ctx.records,
        ended: ctx.ended,
        tally: engine.core.take_tally(),
        dispatch: ctx.dispatch,
        abort: ctx.abort,
        after: Vec::new(),
        answers: Vec::new(),
        oldest: Instant::now(),
    };
    let (stop, stop_rx) = oneshot::channel();
    let data_dir = config.data_dir.clone();
    let retention = match config.retention.filter(|w| !w.is_zero()) {
        Some(window) => Some(
            Retention::spawn(
                config.data_dir.clone(),
                window,
                config.retention_check,
                config.archive.clone(),
                config.clock.clone(),
            )
            .map_err(|e| StartError::Internal(e.to_string()))?,
        ),
        None => None,
    };
    // After the start, beside the engine: a restart never waits for the check.
    let auditor = match config.audit_check {
        Some(every) => Some(
            Auditor::spawn(config.data_dir.clone(), every, audit)
                .map_err(|e| StartError::Internal(e.to_string()))?,
        ),
        None => None,
    };
    let task = tokio::spawn(async move {
        if engine
            .batches
            .send(ToWriter::Batch(Box::new(first)))
            .await
            .is_ok()
        {
            engine.run(rx, done_rx, stop_rx).await;
        }
        let Loop { core, batches, .. } = engine;
        drop(batches);
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(r) = retention {
                r.stop();
            }
            if let Some(a) = auditor {
                a.stop();
            }
            // A clean stop leaves a snapshot of the live state, so the next start
            // replays nothing; only when every record the core applied is committed.
            let Ok(head) = writer_thread.join() else {
                return;
            };
            if head == core.state.seq
                && let Err(e) = snapshots::take(&data_dir, &core)
            {
                tracing::warn!("no snapshot at shutdown: {e}");
            }
        })
        .await;
    });
    Ok(Running {
        handle,
        stats,
        attempts,
        stop,
        task,
    })
}

/// Open the records of process groups and end those a predecessor left running.
fn sweep_groups(
    data_dir: &std::path::Path,
) -> Result<Arc<crate::exec::groups::Groups>, StartError> {
    let groups = crate::exec::groups::Groups::open(data_dir).map_err(|e| {
        let dir = crate::exec::groups::dir(data_dir);
        StartError::Internal(format!("cannot open {}: {e}", dir.display()))
    })?;
    let swept = groups.sweep();
    if !swept.killed.is_empty() {
        tracing::warn!(
            "ended {} process group(s) a previous daemon left running: {:?}",
            swept.killed.len(),
            swept.killed
        );
    }
    Ok(Arc::new(groups))
}

/// The engine task: owns the core.
struct Loop {
    core: Core,
    clock: Arc<dyn Clock>,
    rng: rand::rngs::StdRng,
    batches: mpsc::Sender<ToWriter>,
    /// From the writer: a commit failed on a full disk, the rebuilt core, probe results.
    reports: mpsc::UnboundedReceiver<FromWriter>,
    /// The workflow files loaded at start, loaded again should their records be lost.
    loaded: Vec<definition::Named>,
    /// The directory as the edge authenticates with it, and the version last sent.
    directory: watch::Sender<Arc<Directory>>,
    directory_seen: u64,
}

/// Most inputs folded into one turn (and so into one commit).
const MAX_TURN: usize = 8192;

impl Loop {
    async fn run(
        &mut self,
        mut rx: mpsc::Receiver<Request>,
        mut done: mpsc::UnboundedReceiver<Done>,
        mut stop: oneshot::Receiver<()>,
    ) {
        let jumps = self.clock.jumps().unwrap_or_default();
        loop {
            let mut inputs: Vec<Request> = Vec::new();
            // Armed before the time is read, so a jump in between is not missed.
            let jumped = jumps.notified();
            tokio::pin!(jumped);
            jumped.as_mut().enable();
            let sleep = self.sleep_until_next_timer();
            let mut oldest = tokio::select! {
                biased;
                _ = &mut stop => return,
                r = self.reports.recv() => match r {
                    Some(FromWriter::Refused(why)) => {
                        match self.refuse(why, &mut rx, &mut stop, &jumps).await {
                            std::ops::ControlFlow::Continue(()) => continue,
                            std::ops::ControlFlow::Break(()) => return,
                        }
                    }
                    Some(_) => continue,
                    None => return,
                },
                Some(d) = done.recv() => { inputs.push(d.request); d.sent }
                r = rx.recv() => match r {
                    Some(r) => { inputs.push(r); Instant::now() }
                    None => return,
                },
                _ = sleep => Instant::now(),
                _ = &mut jumped => Instant::now(),
            };
            while inputs.len() < MAX_TURN {
                match done.try_recv() {
                    Ok(d) => {
                        oldest = oldest.min(d.sent);
                        inputs.push(d.request);
                    }
                    Err(_) => break,
                }
            }
            while inputs.len() < MAX_TURN {
                match rx.try_recv() {
                    Ok(r) => inputs.push(r),
                    Err(_) => break,
                }
            }
            let batch = self.turn(inputs, oldest);
            if !self.send(batch).await {
                return;
            }
        }
    }

    /// Hand the edge the directory when it changed (or the core was replaced). Sent
    /// before the commit: a new operator's token is known to nobody until the reply,
    /// which waits for the commit; a revocation takes effect at once.
    fn publish_directory(&mut self, force: bool) {
        let version = self.core.state.directory_version;
        if force || version != self.directory_seen {
            self.directory_seen = version;
            self.directory
                .send_replace(Arc::new(self.core.state.directory.clone()));
        }
    }

    fn sleep_until_next_timer(&self) -> tokio::time::Sleep {
        let wait = match self.core.next_timer() {
            Some(at) => (at - self.clock.now()).to_std().unwrap_or_default(),
            None => std::time::Duration::from_secs(3600),
        };
        // Wake at least every second so a manual or jumping clock is noticed.
        tokio::time::sleep(wait.min(std::time::Duration::from_secs(1)))
    }

    /// Hand a batch to the writer (unless it holds nothing); false once the writer is gone.
    async fn send(&mut self, batch: Batch) -> bool {
        if batch.records.is_empty() && batch.after.is_empty() {
            return true;
        }
        self.batches
            .send(ToWriter::Batch(Box::new(batch)))
            .await
            .is_ok()
    }

    /// One turn: apply every input, fire due timers, and package the outcome.
    fn turn(&mut self, inputs: Vec<Request>, oldest: Instant) -> Batch {
        self.turn_after(inputs, oldest, |_, _| {})
    }

    /// A turn that lets `first` act on the core before the inputs are applied.
    fn turn_after(
        &mut self,
        inputs: Vec<Request>,
        oldest: Instant,
        first: impl FnOnce(&mut Core, &mut Ctx),
    ) -> Batch {
        let now = self.clock.now();
        let rng = &mut self.rng;
        let mut draw = || rng.random::<f64>();
        let mut ctx = Ctx::new(now, &mut draw);
        first(&mut self.core, &mut ctx);
        let mut after: Vec<After> = Vec::new();
        let mut answers = Vec::new();
        for input in inputs {
            answers.extend(refusal::copy_answer(&input));
            handle_request(&mut self.core, &mut ctx, input, now, &mut after);
        }
        self.core.fire_timers(&mut ctx);
        let batch = Batch {
            records: ctx.records,
            ended: ctx.ended,
            tally: self.core.take_tally(),
            dispatch: ctx.dispatch,
            abort: ctx.abort,
            after,
            answers,
            oldest,
        };
        self.publish_directory(false);
        batch
    }
}

fn handle_request(
    core: &mut Core,
    ctx: &mut Ctx,
    req: Request,
    now: DateTime<Utc>,
    after: &mut Vec<After>,
) {
    // A read whose batch failed is dropped unanswered: the handle asks again.
    fn later<T: Send + 'static>(after: &mut Vec<After>, reply: oneshot::Sender<T>, value: T) {
        after.push(Box::new(move |failed| {
            if failed.is_none() {
                let _ = reply.send(value);
            }
        }));
    }
    match req {
        Request::Command {
            who,
            reason,
            cmd,
            token,
            reply,
        } => {
            let r = core
                .contained(ctx, cmd.item(), |core, ctx| {
                    ctx.token = token;
                    let r = core.command(ctx, &who, reason, &cmd);
                    ctx.token = None;
                    r
                })
                .unwrap_or_else(|| {
                    Err(CommandError::Internal(
                        "the engine failed while handling this command; the item it concerned \
                         was stopped as an incident (see the daemon's log)"
                            .into(),
                    ))
                });
            // A command whose batch failed is told why, never "ok".
            after.push(Box::new(move |failed| {
                let _ = reply.send(match failed {
                    None => r,
                    Some(e) => Err(e.clone()),
                });
            }));
        }
        Request::Items { filter, reply } => later(after, reply, core.items(&filter)),
        Request::Item { id, reply } => later(after, reply, core.item(id)),
        Request::Tasks { filter, reply } => later(after, reply, core.tasks(&filter)),
        Request::Metrics { reply } => {
            let m: Metrics = core.metrics(now);
            later(after, reply, m)
        }
        Request::Changed {
            items,
            tasks,
            reply,
        } => {
            let filter = ItemFilter {
                ids: Some(IdList(items)),
                ..Default::default()
            };
            let changed = (
                core.items(&filter),
                core.tasks_by_id(&tasks),
                core.metrics(now),
            );
            later(after, reply, changed)
        }
        Request::Deploy {
            who,
            reason,
            files,
            reply,
        } => {
            let r = core
                .contained(ctx, None, |core, ctx| {
                    core.deploy(ctx, &who, reason, &files)
                })
                .unwrap_or_else(|| {
                    Err(CommandError::Internal(
                        "the engine failed while loading these workflows; nothing was \
                         deployed (see the daemon's log)"
                            .into(),
                    ))
                });
            after.push(Box::new(move |failed| {
                let _ = reply.send(match failed {
                    None => r,
                    Some(e) => Err(e.clone()),
                });
            }));
        }
        Request::Workflows { reply } => later(after, reply, core.workflows()),
        Request::Counted { reply } => {
            let counted = Counted {
                now,
                totals: core.state.totals.clone(),
                workflows: core.state.workflows.keys().cloned().collect(),
            };
            later(after, reply, counted)
        }
        Request::Workflow {
            name,
            version,
            reply,
        } => later(after, reply, core.workflow_source(&name, version)),
        Request::StepDone {
            item,
            step,
            attempt,
            phase,
            outcome,
        } => {
            core.contained(ctx, Some(item), |core, ctx| {
                core.step_done(ctx, item, &step, attempt, phase, outcome)
            });
        }
    }
}

/// The journal thread: commits batches, then acts on them.
struct Writer {
    journal: Box<dyn Store>,
    snapshotter: Snapshotter,
    snapshot_every: u64,
    since_snapshot: u64,
    events: broadcast::Sender<Commit>,
    done: mpsc::UnboundedSender<Done>,
    executor: Arc<dyn Executor>,
    attempts: Arc<Attempts>,
    stats: Arc<Mutex<RuntimeStats>>,
    /// What `/healthz` reports; the writer is the one that knows.
    health: watch::Sender<Health>,
    reports: mpsc::UnboundedSender<FromWriter>,
    /// Set while the disk is full: batches are failed, not committed.
    refusing: Option<CommandError>,
    /// Executor answers of failed batches, for the loop to apply again.
    held: Vec<Request>,
    /// Whether the start's own batch (workflows, re-dispatches) was committed.
    committed_any: bool,
    data_dir: PathBuf,
    env: Value,
}

impl Writer {
    /// Commit batches until the loop stops; returns the journal's head, after the
    /// background snapshot in progress (if any) has finished.
    fn run(mut self, mut batches: mpsc::Receiver<ToWriter>) -> u64 {
        self.commit_all(&mut batches);
        let head = self.journal.head();
        self.snapshotter.stop();
        head
    }

    fn commit_all(&mut self, batches: &mut mpsc::Receiver<ToWriter>) {
        while let Some(msg) = batches.blocking_recv() {
            let go_on = match msg {
                ToWriter::Batch(batch) if self.refusing.is_some() => {
                    self.discard(*batch);
                    true
                }
                ToWriter::Batch(batch) => self.commit(*batch),
                ToWriter::Rebuild => self.rebuild(),
                ToWriter::Probe => self.probe(),
            };
            if !go_on {
                return;
            }
        }
    }

    /// Commit one batch and act on it; false when the engine must stop.
    fn commit(&mut self, batch: Batch) -> bool {
        let head = batch.records.first().map_or(0, |r| r.seq.saturating_sub(1));
        if !batch.records.is_empty()
            && let Err(e) = self
                .journal
                .commit(head, &batch.records, &batch.ended, &batch.tally)
        {
            // Nothing of this batch was acknowledged: no reply says ok, nothing runs.
            return self.failed(batch, e);
        }
        self.committed_any = true;
        self.record_stats(&batch);
        self.maybe_snapshot(batch.records.len() as u64);
        for reply in batch.after {
            reply(None);
        }
        if !batch.records.is_empty() {
            let commit: Commit = batch.records.into_iter().map(Committed::new).collect();
            let _ = self.events.send(commit);
        }
        for a in &batch.abort {
            self.attempts.abort(a);
        }
        for d in batch.dispatch {
            self.dispatch(d);
        }
        true
    }

    fn maybe_snapshot(&mut self, committed: u64) {
        self.since_snapshot += committed;
        if self.since_snapshot >= self.snapshot_every {
            self.snapshotter.poke();
            self.since_snapshot = 0;
        }
    }

    fn record_stats(&self, batch: &Batch) {
        let Ok(mut s) = self.stats.lock() else {
            return;
        };
        s.commits += 1;
        s.records += batch.records.len() as u64;
        if s.keep_latencies {
            let ms = batch.oldest.elapsed().as_secs_f32() * 1000.0;
            let started = batch
                .records
                .iter()
                .filter(|r| matches!(r.event, crate::types::event::Event::StepStarted { .. }))
                .count();
            s.latencies_ms.extend(std::iter::repeat_n(ms, started));
        }
    }

    fn dispatch(&self, d: Dispatch) {
        let Dispatch {
            item,
            step,
            attempt,
            phase,
            work,
        } = d;
        let done = self.done.clone();
        let name = step.clone();
        let key = Attempt {
            item,
            step: step.clone(),
            attempt,
            phase,
        };
        let ticket = match &work {
            Work::Job(_) => Some(self.attempts.enter(key.clone())),
            Work::Immediate(_) => None,
        };
        let id = ticket.as_ref().map_or(0, |t| t.id());
        let back = move |outcome| {
            // Held until the answer is dropped: then the attempt leaves the registry.
            let _held = &ticket;
            let _ = done.send(Done {
                request: Request::StepDone {
                    item,
                    step: step.clone(),
                    attempt,
                    phase,
                    outcome,
                },
                sent: Instant::now(),
            });
        };
        match work {
            Work::Immediate(output) => back(Ok(output).into()),
            Work::Job(job) => {
                // An executor that panics must not take the journal writer with it; the
                // attempt's timeout then treats it as a lost answer.
                let start = std::panic::AssertUnwindSafe(|| {
                    self.executor.start_abortable(job, Box::new(back))
                });
                match std::panic::catch_unwind(start) {
                    Ok(Some(handle)) => self.attempts.started(&key, id, handle),
                    Ok(None) => {}
                    Err(_) => {
                        tracing::error!("the executor panicked starting item {item} step {name}")
                    }
                }
            }
        }
    }
}
