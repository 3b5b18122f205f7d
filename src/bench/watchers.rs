//! What watching costs: the time to the first frame of `tempi attach` on a full daemon,
//! the bytes an attached console receives per decided task, and the engine's rate with
//! event-stream subscribers following live or catching up from the start.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::api::client::Client;
use crate::console::model::{Model, Update};
use crate::console::source::Source;
use crate::console::sync;
use crate::engine::runtime::{self, EngineConfig, Running};
use crate::types::command::Command;
use crate::types::view::{ItemFilter, ItemStatus, TaskFilter};

/// One pass step, then a task for a group, then one more step.
const TASK: &str = r#"name: watch-task
version: 1
sla: { due: 8h }
steps:
  - id: prep
    kind: pass
    output: { n: "{{ input.n }}" }
  - id: approve
    kind: human
    needs: [prep]
    title: "Approve bench request {{ input.n }}"
    details: "Raised by the watchers bench for item {{ input.n }}; approve or reject."
    group: bench-approvers
    due: 4h
  - id: book
    kind: pass
    needs: [approve]
    output: { decision: "{{ steps.approve.decision }}" }
"#;

/// What to measure.
#[derive(Debug, Clone)]
pub struct WatchersOptions {
    /// Items in flight (holding on a wait, or on a task).
    pub in_flight: u64,
    /// Of those, items waiting on an open task.
    pub open_tasks: u64,
    /// Tasks decided while a console is attached.
    pub decide: u64,
    pub decide_per_sec: u64,
    /// Event-stream subscribers in the rate measurements.
    pub subscribers: usize,
    /// Seconds each rate is measured over (after one second of warm-up).
    pub rate_secs: u64,
    pub scratch: PathBuf,
}

impl Default for WatchersOptions {
    fn default() -> Self {
        WatchersOptions {
            in_flight: 100_000,
            open_tasks: 25_000,
            decide: 500,
            decide_per_sec: 50,
            subscribers: 20,
            rate_secs: 5,
            scratch: std::env::temp_dir(),
        }
    }
}

/// What was measured; part of `tempi bench --json` under `console.watchers`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WatchersReport {
    pub in_flight: u64,
    pub open_tasks: u64,
    /// `tempi attach` started to its first frame drawn with items in it.
    pub attach_first_frame_ms: f64,
    /// ... to every item in flight and every open task in the console's mirror.
    pub attach_complete_ms: f64,
    /// Bytes the console received to attach.
    pub attach_bytes: u64,
    pub decided: u64,
    /// Bytes the attached console received while `decided` tasks were decided.
    pub decide_bytes: u64,
    pub bytes_per_decided_task: f64,
    /// Journal records when the catching-up subscribers start from seq 0.
    pub journal_records: u64,
    pub subscribers: usize,
    /// Steps per second of a 5-step flow with no subscriber, 20 following live and 20
    /// catching up from the journal's start.
    pub steps_per_sec_alone: f64,
    pub steps_per_sec_live: f64,
    pub steps_per_sec_catching_up: f64,
    /// Records the catching-up subscribers received, all together, per second.
    pub catch_up_records_per_sec: f64,
}

impl WatchersReport {
    fn cost(&self, with: f64) -> f64 {
        match self.steps_per_sec_alone > 0.0 {
            true => (1.0 - with / self.steps_per_sec_alone) * 100.0,
            false => f64::NAN,
        }
    }
}

impl std::fmt::Display for WatchersReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "attach, first frame  {:>8.0} ms  budget < 1000  ({} in flight, {} open tasks)",
            self.attach_first_frame_ms, self.in_flight, self.open_tasks
        )?;
        writeln!(
            f,
            "  everything mirrored{:>8.0} ms  ({:.1} MiB received)",
            self.attach_complete_ms,
            self.attach_bytes as f64 / 1048576.0
        )?;
        writeln!(
            f,
            "console traffic      {:>8.2} MiB for {} decided tasks  budget ≤ 2 MiB  ({:.0} bytes per task)",
            self.decide_bytes as f64 / 1048576.0,
            self.decided,
            self.bytes_per_decided_task
        )?;
        writeln!(
            f,
            "engine steps/s       {:>8.0} alone",
            self.steps_per_sec_alone
        )?;
        writeln!(
            f,
            "  {} following live {:>8.0}  ({:+.0}% cost, budget ≤ 10%)",
            self.subscribers,
            self.steps_per_sec_live,
            self.cost(self.steps_per_sec_live)
        )?;
        write!(
            f,
            "  {} catching up    {:>8.0}  ({:+.0}% cost, budget ≤ 25%; from a {}-record journal, {:.0} records/s sent)",
            self.subscribers,
            self.steps_per_sec_catching_up,
            self.cost(self.steps_per_sec_catching_up),
            self.journal_records,
            self.catch_up_records_per_sec
        )
    }
}

/// Run the measurement in a fresh data dir under `o.scratch`.
pub async fn run(o: &WatchersOptions) -> anyhow::Result<WatchersReport> {
    let dir = super::Scratch::new(&o.scratch, "tempi-bench-watchers");
    measure(o, &dir.0).await
}

async fn measure(o: &WatchersOptions, dir: &Path) -> anyhow::Result<WatchersReport> {
    let wf = dir.join("workflows");
    std::fs::create_dir_all(&wf)?;
    std::fs::write(wf.join("hold.yaml"), super::HOLD)?;
    std::fs::write(wf.join("task.yaml"), TASK)?;
    std::fs::write(wf.join("flow.yaml"), super::FLOW)?;
    let mut config = EngineConfig::new(dir.join("data"), Some(wf));
    // A background snapshot of 100,000 items landing in one rate window and not another
    // would be measured as the subscribers' cost.
    config.snapshot_every = u64::MAX;
    config.snapshot_interval = Duration::from_secs(86_400);
    let run = runtime::start(config)
        .await
        .context("starting the bench engine")?;
    let result = with_engine(o, &run).await;
    run.shutdown().await;
    result
}

async fn with_engine(o: &WatchersOptions, run: &Running) -> anyhow::Result<WatchersReport> {
    let tasks = o.open_tasks.min(o.in_flight);
    super::start_items(run, "watch-task", tasks, 256).await?;
    super::start_items(run, "bench-hold", o.in_flight - tasks, 256).await?;
    settle(run, o.in_flight, tasks).await?;

    let (stop, stopping) = watch::channel(false);
    let token = "bench-token".to_string();
    let server = serve(run, &token, stopping.clone()).await?;
    let proxy = Proxy::start(server).await?;
    let mut report = WatchersReport {
        in_flight: o.in_flight,
        open_tasks: tasks,
        subscribers: o.subscribers,
        ..Default::default()
    };
    attach_and_decide(o, run, &proxy, &token, &mut report).await?;
    rates(o, run, server, &mut report).await?;
    let _ = stop.send(true);
    Ok(report)
}

/// Wait until every item is parked: nothing running, every task open.
async fn settle(run: &Running, in_flight: u64, tasks: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let m = run.handle.metrics().await?;
        let running = run
            .handle
            .items(ItemFilter {
                status: Some(ItemStatus::Running),
                active: true,
                limit: Some(1),
                ..Default::default()
            })
            .await?;
        if m.in_flight >= in_flight && m.open_tasks >= tasks && running.is_empty() {
            return Ok(());
        }
        anyhow::ensure!(m.incidents == 0, "bench items failed: {m:?}");
        anyhow::ensure!(
            Instant::now() < deadline,
            "bench items never settled: {m:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The API on a loopback port; its address.
async fn serve(
    run: &Running,
    token: &str,
    stopping: watch::Receiver<bool>,
) -> anyhow::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    serve_on(listener, run, token, stopping);
    Ok(addr)
}

/// Serve the API of `run` on `listener` until `stopping`.
pub fn serve_on(
    listener: TcpListener,
    run: &Running,
    token: &str,
    stopping: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<std::io::Result<()>> {
    let app = crate::api::server::router(run.handle.clone(), token.to_string(), stopping.clone());
    let mut drained = stopping;
    tokio::spawn(
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = drained.wait_for(|s| *s).await;
            })
            .into_future(),
    )
}

/// A loopback TCP proxy counting the bytes the server sends to its clients, and able
/// to cut every connection through it (as a flaky network would).
pub struct Proxy {
    pub url: String,
    received: Arc<AtomicU64>,
    cuts: watch::Sender<u64>,
}

impl Proxy {
    pub async fn start(server: std::net::SocketAddr) -> anyhow::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let received = Arc::new(AtomicU64::new(0));
        let (cuts, cut) = watch::channel(0);
        let count = received.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (count, mut cut) = (count.clone(), cut.clone());
                cut.mark_unchanged();
                tokio::spawn(async move {
                    if let Ok(upstream) = TcpStream::connect(server).await {
                        tokio::select! {
                            _ = pipe(client, upstream, count) => {}
                            _ = cut.changed() => {}
                        }
                    }
                });
            }
        });
        Ok(Proxy {
            url,
            received,
            cuts,
        })
    }

    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Drop every connection open now.
    pub fn cut(&self) {
        self.cuts.send_modify(|n| *n += 1);
    }
}

async fn pipe(client: TcpStream, upstream: TcpStream, count: Arc<AtomicU64>) {
    let (mut cr, mut cw) = client.into_split();
    let (mut ur, mut uw) = upstream.into_split();
    let up = async move { tokio::io::copy(&mut cr, &mut uw).await };
    let down = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match ur.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    count.fetch_add(n as u64, Ordering::Relaxed);
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}

/// Attach a console through the proxy, time it, then decide tasks and count the bytes.
async fn attach_and_decide(
    o: &WatchersOptions,
    run: &Running,
    proxy: &Proxy,
    token: &str,
    report: &mut WatchersReport,
) -> anyhow::Result<()> {
    let client = Client::new(&proxy.url, token, "bench")?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let t0 = Instant::now();
    let before = proxy.received();
    let sync = sync::spawn(Source::Remote(client), tx);
    let mut app = crate::console::bench::app(chrono::Utc::now())?;
    let mut term = crate::console::bench::terminal()?;
    let mut out = crate::console::terminal::Output::default();
    let mut model = Model::default();
    let complete = |m: &Model| {
        m.items.values().filter(|i| !i.status.is_final()).count() as u64 >= report.in_flight
            && m.tasks.len() as u64 >= report.open_tasks
    };
    while report.attach_first_frame_ms == 0.0 || !complete(&model) {
        let u = tokio::time::timeout(Duration::from_secs(60), rx.recv())
            .await
            .context("attach: no update within a minute")?
            .context("attach: the sync task ended")?;
        if let Update::Lost { error, .. } = &u {
            anyhow::bail!("attach: {error}");
        }
        model.apply(u.clone(), chrono::Utc::now());
        app.update(crate::console::app::Msg::Update(u));
        if report.attach_first_frame_ms == 0.0 && !model.items.is_empty() {
            crate::console::bench::draw(&mut term, &mut out, &app)?;
            report.attach_first_frame_ms = t0.elapsed().as_secs_f64() * 1000.0;
        }
    }
    report.attach_complete_ms = t0.elapsed().as_secs_f64() * 1000.0;
    report.attach_bytes = proxy.received() - before;
    // Let the console settle into following.
    drain(&mut rx, &mut model, Duration::from_secs(1)).await;

    let open = run
        .handle
        .tasks(TaskFilter {
            limit: Some(o.decide as usize),
            ..Default::default()
        })
        .await?;
    let before = proxy.received();
    let every = Duration::from_secs_f64(1.0 / o.decide_per_sec.max(1) as f64);
    let mut tick = tokio::time::interval(every);
    let (failed, failed_rx) = watch::channel(None::<String>);
    let failed = Arc::new(failed);
    for (k, t) in open.iter().enumerate() {
        tick.tick().await;
        let h = run.handle.clone();
        let cmd = Command::Decide {
            task: t.id,
            decision: if k % 2 == 0 { "approved" } else { "rejected" }.into(),
            comment: None,
            fields: None,
        };
        let failed = failed.clone();
        tokio::spawn(async move {
            if let Err(e) = h
                .command(&crate::types::identity::Who::root("bench"), None, cmd)
                .await
            {
                let _ = failed.send(Some(e.to_string()));
            }
        });
        drain(&mut rx, &mut model, Duration::ZERO).await;
    }
    if let Some(e) = failed_rx.borrow().clone() {
        anyhow::bail!("deciding a bench task failed: {e}");
    }
    // The console has seen them all once none of them is open in its mirror.
    let decided: std::collections::HashSet<u64> = open.iter().map(|t| t.id).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while model.tasks.iter().any(|t| decided.contains(&t.id)) {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the console never saw the decisions"
        );
        drain(&mut rx, &mut model, Duration::from_millis(50)).await;
    }
    report.decided = open.len() as u64;
    report.decide_bytes = proxy.received() - before;
    report.bytes_per_decided_task = report.decide_bytes as f64 / report.decided.max(1) as f64;
    drop(sync);
    Ok(())
}

/// Fold what has arrived (waiting up to `wait` for more) into the model.
async fn drain(rx: &mut mpsc::UnboundedReceiver<Update>, model: &mut Model, wait: Duration) {
    let until = tokio::time::Instant::now() + wait;
    loop {
        match rx.try_recv() {
            Ok(u) => model.apply(u, chrono::Utc::now()),
            Err(_) if tokio::time::Instant::now() >= until => return,
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// The engine's rate alone, with live subscribers and with catching-up subscribers.
async fn rates(
    o: &WatchersOptions,
    run: &Running,
    server: std::net::SocketAddr,
    report: &mut WatchersReport,
) -> anyhow::Result<()> {
    report.journal_records = run.handle.metrics().await?.journal_seq;
    report.steps_per_sec_alone = rate(run, o.rate_secs).await?;
    let url = format!("http://{server}");

    let head = run.handle.metrics().await?.journal_seq;
    let live = Subscribers::start(&url, o.subscribers, head);
    report.steps_per_sec_live = rate(run, o.rate_secs).await?;
    live.stop();

    let catching = Subscribers::start(&url, o.subscribers, 0);
    let t = Instant::now();
    report.steps_per_sec_catching_up = rate(run, o.rate_secs).await?;
    report.catch_up_records_per_sec = catching.records() as f64 / t.elapsed().as_secs_f64();
    catching.stop();
    Ok(())
}

/// Steps per second of `bench-flow` items started as fast as the engine takes them.
async fn rate(run: &Running, secs: u64) -> anyhow::Result<f64> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut joins = Vec::new();
    for _ in 0..128 {
        let h = run.handle.clone();
        let stop = stop.clone();
        joins.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let cmd = Command::Start {
                    workflow: "bench-flow".into(),
                    version: None,
                    input: serde_json::json!({ "n": 1 }),
                    priority: 0,
                    since: None,
                };
                if h.command(&crate::types::identity::Who::root("bench"), None, cmd)
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let from = run.handle.metrics().await?.completed;
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let to = run.handle.metrics().await?.completed;
    let elapsed = t.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for j in joins {
        let _ = j.await;
    }
    Ok((to - from) as f64 * super::FLOW_STEPS as f64 / elapsed)
}

/// Event-stream clients that read and count, as scripts or consoles would follow: on a
/// thread of their own, as another process would be, not on the daemon's runtime.
struct Subscribers {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
    records: Arc<AtomicU64>,
}

impl Subscribers {
    fn start(url: &str, n: usize, after: u64) -> Subscribers {
        let records = Arc::new(AtomicU64::new(0));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let url = format!("{url}/api/events?after={after}");
        let count = records.clone();
        let thread = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                for _ in 0..n {
                    let (url, count) = (url.clone(), count.clone());
                    tokio::spawn(async move {
                        let _ = follow(&url, &count).await;
                    });
                }
                let _ = stopped.await;
            });
        });
        Subscribers {
            stop,
            thread,
            records,
        }
    }

    fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

async fn follow(url: &str, records: &AtomicU64) -> anyhow::Result<()> {
    use futures_util::StreamExt;
    let resp = reqwest::Client::new()
        .get(url)
        .bearer_auth("bench-token")
        .send()
        .await?
        .error_for_status()?;
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        // Each record is three lines (`id:`, `data:`, blank).
        let n = chunk.iter().filter(|b| **b == b'\n').count() / 3;
        records.fetch_add(n as u64, Ordering::Relaxed);
    }
    Ok(())
}
