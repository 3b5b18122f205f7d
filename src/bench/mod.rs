//! `tempi bench`: the real engine and journal (synchronous=FULL, the `serve` code path)
//! running many items of a multi-step `pass` workflow, measured end to end.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;

use crate::engine::runtime::{self, EngineConfig, Running};
use crate::types::command::Command;
use crate::types::view::ItemFilter;

pub mod soak;
pub mod watchers;

/// A global allocator that counts live heap bytes, so `bytes_per_item` is measured,
/// not estimated. Two relaxed atomic adds per allocation.
pub struct CountingAlloc;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: defers every call to the system allocator and only counts sizes.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Live heap bytes (meaningful when `CountingAlloc` is the global allocator).
pub fn live_bytes() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Five `pass` steps: a fan-out and a fan-in, mapping data only.
pub(crate) const FLOW: &str = r#"name: bench-flow
version: 1
steps:
  - id: a
    kind: pass
    output: { n: "{{ input.n }}" }
  - id: b
    kind: pass
    needs: [a]
    output: { left: "{{ steps.a.output.n }}" }
  - id: c
    kind: pass
    needs: [a]
    output: { right: "{{ steps.a.output.n }}" }
  - id: d
    kind: pass
    needs: [b, c]
    output: { both: true }
  - id: e
    kind: pass
    needs: [d]
    output: { done: true }
"#;

/// One step, then a long wait: items that stay in flight for the restart measurement.
pub(crate) const HOLD: &str = r#"name: bench-hold
version: 1
steps:
  - id: prep
    kind: pass
    output: { n: "{{ input.n }}" }
  - id: hold
    kind: wait
    needs: [prep]
    duration: 24h
"#;

pub(crate) const FLOW_STEPS: u64 = 5;

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Items pushed through the engine as fast as it takes them.
    pub items: u64,
    /// Items left in flight for the restart measurement.
    pub restart_items: u64,
    /// Seconds of paced load at 10,000 transitions/s for the latency measurement.
    pub paced_secs: u64,
    /// Ended items behind the restart measurement (at least `items` and the paced ones;
    /// more are pushed through to reach it).
    pub history_items: u64,
    /// Where the temporary data dir goes.
    pub scratch: std::path::PathBuf,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            items: 20_000,
            restart_items: 100_000,
            paced_secs: 3,
            history_items: 0,
            scratch: std::env::temp_dir(),
        }
    }
}

/// What was measured; `--json` prints this.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub steps_per_sec: f64,
    pub transitions_per_sec: f64,
    pub step_latency_p50_ms: f64,
    pub step_latency_p99_ms: f64,
    /// Restart to ready after a clean stop (from the snapshot it leaves).
    pub restart_ms: f64,
    /// Restart to ready with no snapshot: a replay of the whole retained journal.
    pub restart_replay_ms: f64,
    /// Live heap per item in flight after the restart.
    pub bytes_per_item: f64,
    /// Live heap per ended item (growth while `history_items` ended, nothing in flight).
    pub bytes_per_ended_item: f64,
    /// Journal bytes (pages in use) per ended 5-step item.
    pub journal_bytes_per_item: f64,
    pub items: u64,
    pub restart_items: u64,
    pub history_items: u64,
    pub commits: u64,
    pub records_per_commit: f64,
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "steps/s              {:>12.0}", self.steps_per_sec)?;
        writeln!(
            f,
            "transitions/s        {:>12.0}  (durable, synchronous=FULL)",
            self.transitions_per_sec
        )?;
        writeln!(f, "records per commit   {:>12.1}", self.records_per_commit)?;
        writeln!(
            f,
            "step latency p50     {:>12.2} ms  (at 10,000 transitions/s)",
            self.step_latency_p50_ms
        )?;
        writeln!(
            f,
            "step latency p99     {:>12.2} ms",
            self.step_latency_p99_ms
        )?;
        writeln!(
            f,
            "restart to ready     {:>12.0} ms  ({} items in flight, {} ended behind them)",
            self.restart_ms, self.restart_items, self.history_items
        )?;
        writeln!(
            f,
            "  without snapshot   {:>12.0} ms  (replaying the journal)",
            self.restart_replay_ms
        )?;
        writeln!(
            f,
            "memory per item      {:>12.0} bytes  (in flight)",
            self.bytes_per_item
        )?;
        writeln!(
            f,
            "  per ended item     {:>12.1} bytes",
            self.bytes_per_ended_item
        )?;
        write!(
            f,
            "journal per item     {:>12.0} bytes  (5-step item, ended)",
            self.journal_bytes_per_item
        )
    }
}

async fn engine(dir: &Path) -> anyhow::Result<Running> {
    engine_with(dir, |_| {}).await
}

/// The bench engine in `dir`, with its config adjusted by `tune`.
async fn engine_with(dir: &Path, tune: impl FnOnce(&mut EngineConfig)) -> anyhow::Result<Running> {
    let wf = dir.join("workflows");
    std::fs::create_dir_all(&wf)?;
    std::fs::write(wf.join("flow.yaml"), FLOW)?;
    std::fs::write(wf.join("hold.yaml"), HOLD)?;
    let mut config = EngineConfig::new(dir.join("data"), Some(wf));
    tune(&mut config);
    Ok(runtime::start(config).await?)
}

/// Bytes of the journal's files on disk (database, WAL, shared memory).
fn journal_files_bytes(dir: &Path) -> u64 {
    let db = dir.join("data").join(crate::store::JOURNAL_FILE);
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", db.display())).ok())
        .map(|m| m.len())
        .sum()
}

/// Start `n` items of `workflow` from `workers` concurrent clients.
pub(crate) async fn start_items(
    run: &Running,
    workflow: &str,
    n: u64,
    workers: u64,
) -> anyhow::Result<()> {
    let mut tasks = Vec::new();
    for w in 0..workers {
        let h = run.handle.clone();
        let workflow = workflow.to_string();
        tasks.push(tokio::spawn(async move {
            let mut i = w;
            while i < n {
                let cmd = Command::Start {
                    workflow: workflow.clone(),
                    version: None,
                    input: serde_json::json!({ "n": i }),
                    priority: 0,
                    since: None,
                };
                h.command(&crate::types::identity::Who::root("bench"), None, cmd)
                    .await?;
                i += workers;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

async fn wait_completed(run: &Running, target: u64) -> anyhow::Result<()> {
    loop {
        let m = run.handle.metrics().await?;
        if m.completed >= target {
            return Ok(());
        }
        if m.incidents > 0 || m.failed > 0 {
            anyhow::bail!("bench items failed: {m:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn percentile(sorted: &[f32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let k = ((sorted.len() - 1) as f64 * p).round() as usize;
    f64::from(sorted[k.min(sorted.len() - 1)])
}

/// A fresh `<scratch>/<name>-<pid>` dir for one measurement, removed when dropped.
pub struct Scratch(pub std::path::PathBuf);

impl Scratch {
    pub fn new(scratch: &Path, name: &str) -> Scratch {
        let dir = scratch.join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run the benchmark in a fresh temporary data dir under `options.scratch`.
pub async fn run(options: &BenchOptions) -> anyhow::Result<BenchReport> {
    let dir = Scratch::new(&options.scratch, "tempi-bench");
    measure(options, &dir.0).await
}

/// Bytes of the journal's pages in use (what a reader sees, WAL included).
fn journal_bytes(dir: &Path) -> anyhow::Result<u64> {
    let path = dir.join("data").join(crate::store::JOURNAL_FILE);
    let conn =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let q = |p: &str| -> anyhow::Result<u64> {
        Ok(conn.query_row(&format!("PRAGMA {p}"), [], |r| r.get::<_, i64>(0))? as u64)
    };
    Ok((q("page_count")? - q("freelist_count")?) * q("page_size")?)
}

async fn measure(o: &BenchOptions, dir: &Path) -> anyhow::Result<BenchReport> {
    let run = engine(dir).await.context("starting the bench engine")?;
    let base = run.stats.lock().map(|s| s.records).unwrap_or(0);
    let journal_before = journal_bytes(dir)?;
    let t0 = Instant::now();
    start_items(&run, "bench-flow", o.items, 512).await?;
    wait_completed(&run, o.items).await?;
    let secs = t0.elapsed().as_secs_f64();
    let (records, commits) = run
        .stats
        .lock()
        .map(|s| (s.records - base, s.commits))
        .unwrap_or((0, 0));
    // Item-level records (started, completed) are not step transitions.
    let transitions = records.saturating_sub(2 * o.items);
    let journal_bytes_per_item =
        journal_bytes(dir)?.saturating_sub(journal_before) as f64 / o.items.max(1) as f64;

    let (p50, p99) = paced_latency(&run, o).await?;

    // More history, with nothing in flight: what stays in memory per ended item.
    let ended = run.handle.metrics().await?.completed;
    let extra = o.history_items.saturating_sub(ended);
    let live_before = live_bytes();
    start_items(&run, "bench-flow", extra, 512).await?;
    wait_completed(&run, ended + extra).await?;
    let bytes_per_ended_item = if extra >= 10_000 {
        (live_bytes() - live_before) as f64 / extra as f64
    } else {
        f64::NAN
    };
    let history_items = run.handle.metrics().await?.completed;

    start_items(&run, "bench-hold", o.restart_items, 512).await?;
    wait_held(&run, o.restart_items).await?;
    run.shutdown().await;

    let before = live_bytes();
    let (restart_ms, again) = restart(dir).await?;
    let bytes_per_item = (live_bytes() - before) as f64 / o.restart_items.max(1) as f64;
    again.shutdown().await;

    // The same restart with no snapshot: the worst case after a crash.
    let snapshots = dir.join("data").join(crate::store::snapshots::SNAPSHOT_DIR);
    let _ = std::fs::remove_dir_all(&snapshots);
    let (restart_replay_ms, again) = restart(dir).await?;
    again.shutdown().await;

    Ok(BenchReport {
        steps_per_sec: (o.items * FLOW_STEPS) as f64 / secs,
        transitions_per_sec: transitions as f64 / secs,
        step_latency_p50_ms: p50,
        step_latency_p99_ms: p99,
        restart_ms,
        restart_replay_ms,
        bytes_per_item,
        bytes_per_ended_item,
        journal_bytes_per_item,
        items: o.items,
        restart_items: o.restart_items,
        history_items,
        commits,
        records_per_commit: records as f64 / commits.max(1) as f64,
    })
}

/// Start the engine again and time it until it answers with an item in flight.
async fn restart(dir: &Path) -> anyhow::Result<(f64, Running)> {
    let t = Instant::now();
    let again = engine(dir).await?;
    let in_flight = again
        .handle
        .items(ItemFilter {
            active: true,
            limit: Some(1),
            ..Default::default()
        })
        .await?;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    anyhow::ensure!(!in_flight.is_empty(), "no items in flight after restart");
    Ok((ms, again))
}

/// Items of `bench-hold` all parked on their wait.
async fn wait_held(run: &Running, n: u64) -> anyhow::Result<()> {
    loop {
        let m = run.handle.metrics().await?;
        let waiting = run
            .handle
            .items(ItemFilter {
                status: Some(crate::types::view::ItemStatus::Waiting),
                ..Default::default()
            })
            .await?
            .len() as u64;
        if waiting >= n {
            return Ok(());
        }
        if m.incidents > 0 {
            anyhow::bail!("bench items failed: {m:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Start items at a steady pace of about 10,000 step transitions per second and
/// collect the ready-to-started latencies of their steps.
async fn paced_latency(run: &Running, o: &BenchOptions) -> anyhow::Result<(f64, f64)> {
    // Each bench-flow item makes about 3 transitions per step.
    let per_sec = 10_000 / (3 * FLOW_STEPS);
    let total = per_sec * o.paced_secs;
    let before = run.handle.metrics().await?.completed;
    if let Ok(mut s) = run.stats.lock() {
        s.latencies_ms.clear();
        s.keep_latencies = true;
    }
    let tick = Duration::from_millis(10);
    let per_tick = (per_sec / 100).max(1);
    let mut interval = tokio::time::interval(tick);
    let mut started = 0;
    while started < total {
        interval.tick().await;
        for _ in 0..per_tick {
            let h = run.handle.clone();
            tokio::spawn(async move {
                let cmd = Command::Start {
                    workflow: "bench-flow".into(),
                    version: None,
                    input: serde_json::json!({ "n": 0 }),
                    priority: 0,
                    since: None,
                };
                let _ = h
                    .command(&crate::types::identity::Who::root("bench"), None, cmd)
                    .await;
            });
        }
        started += per_tick;
    }
    wait_completed(run, before + started).await?;
    let mut samples = run
        .stats
        .lock()
        .map(|mut s| {
            s.keep_latencies = false;
            std::mem::take(&mut s.latencies_ms)
        })
        .unwrap_or_default();
    samples.sort_by(f32::total_cmp);
    Ok((percentile(&samples, 0.50), percentile(&samples, 0.99)))
}
