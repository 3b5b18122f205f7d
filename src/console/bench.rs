//! The console's budgets, measured on a real 200×50 terminal (ratatui's diff and
//! crossterm's escapes included): frame time with 100,000 items, bytes per countdown
//! tick, and key-to-screen latency while an embedded engine writes 10,000 records/s.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::CrosstermBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::{Terminal, TerminalOptions, Viewport};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::app::{App, Effect, Msg, Options};
use super::keymap::Keymap;
use super::model::Update;
use super::source::Source;
use super::sync::{self, Control};
use super::terminal::{FrameBuf, Output, Term};
use super::theme::{ColorDepth, Theme};
use super::view;
use crate::bench::watchers::{self, WatchersOptions, WatchersReport};
use crate::engine::runtime::{self, EngineConfig, Running};
use crate::types::changes::{Changes, EventLine};
use crate::types::command::Command;
use crate::types::event::{Phase, TaskKind};
use crate::types::view::{ItemStatus, ItemSummary, Metrics, TaskStatus, TaskView};
use crate::types::{Event, ItemId, Record};

pub const WIDTH: u16 = 200;
pub const HEIGHT: u16 = 50;
/// The console's shortest time between frames (as in `run.rs`).
const FRAME: Duration = Duration::from_millis(33);
/// Journal records one `bench-pass` item writes: started, three per step, completed.
const RECORDS_PER_ITEM: u64 = 17;
const BENCH_PASS: &str = include_str!("../../workflows/bench-pass.yaml");
const WORKFLOWS: [&str; 4] = [
    "invoice-approval",
    "customer-onboarding",
    "incident-response",
    "bench-pass",
];

/// What to measure.
#[derive(Debug, Clone)]
pub struct ConsoleOptions {
    /// Items in the model for the frame measurement.
    pub items: usize,
    /// Frames drawn per focused pane.
    pub frames: usize,
    /// One-second ticks averaged for the bytes measurement.
    pub ticks: usize,
    /// Journal records per second the engine is driven at for the latency measurement.
    pub events_per_sec: u64,
    /// Seconds of key presses under load (after a one-second warm-up).
    pub latency_secs: u64,
    pub key_every: Duration,
    /// Where the temporary data dir goes.
    pub scratch: PathBuf,
    pub watchers: WatchersOptions,
}

impl Default for ConsoleOptions {
    fn default() -> Self {
        ConsoleOptions {
            items: 100_000,
            frames: 2_000,
            ticks: 30,
            events_per_sec: 10_000,
            latency_secs: 10,
            key_every: Duration::from_millis(50),
            scratch: std::env::temp_dir(),
            watchers: WatchersOptions::default(),
        }
    }
}

/// Percentiles of a set of durations, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Spread {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub samples: usize,
}

impl Spread {
    pub fn of(mut samples: Vec<Duration>) -> Spread {
        samples.sort();
        let at = |p: f64| {
            let k = ((samples.len().saturating_sub(1)) as f64 * p).round() as usize;
            samples.get(k).map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        Spread {
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            max_ms: at(1.0),
            samples: samples.len(),
        }
    }
}

/// Key-to-screen latency and where it went.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LatencyReport {
    /// Key injected to the frame showing it drawn into the frame buffer.
    pub total: Spread,
    /// Key injected to handled: the loop was busy (engine updates, another frame).
    pub queued: Spread,
    /// Key handled to its frame starting: the 33 ms frame pacing.
    pub paced: Spread,
    /// Drawing the frame (draw + diff + encode).
    pub draw: Spread,
    /// Folding one batch of engine updates into the app.
    pub update: Spread,
    /// Journal records per second the engine actually wrote meanwhile.
    pub events_per_sec: f64,
}

/// What was measured; part of `tempi bench --json`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConsoleReport {
    pub items: usize,
    /// Frames while moving through the work items pane.
    pub frame_items: Spread,
    /// Frames while moving through the SLA board.
    pub frame_sla: Spread,
    /// Folding one engine update (200 changed items, their records) into the app with
    /// the same 100,000 items: the work a key may wait behind.
    pub update: Spread,
    pub countdowns_visible: usize,
    pub tick_bytes_avg: f64,
    pub tick_bytes_max: usize,
    /// The average tick's bytes by kind.
    pub tick_split: Split,
    /// The largest frame drawn with nothing changed (the budget says 0).
    pub idle_bytes_max: usize,
    pub key: LatencyReport,
    /// Attach at scale, console traffic, and what event-stream subscribers cost.
    pub watchers: WatchersReport,
}

impl std::fmt::Display for ConsoleReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = |sp: &Spread| {
            format!(
                "{:>8.3} p50 {:>8.3} p99 {:>8.3} max ms",
                sp.p50_ms, sp.p99_ms, sp.max_ms
            )
        };
        let (n, k, b) = (self.items, &self.key, &self.tick_split);
        writeln!(
            f,
            "console frame, items {}  budget < 2 ms",
            s(&self.frame_items)
        )?;
        writeln!(
            f,
            "console frame, SLA   {}  ({n} items, {WIDTH}×{HEIGHT})",
            s(&self.frame_sla)
        )?;
        writeln!(
            f,
            "update, 200 changed  {}  (with {n} items: a key may wait this long)",
            s(&self.update)
        )?;
        writeln!(
            f,
            "bytes per tick       {:>8.0} avg {:>8} max           budget ≤ 500  ({} countdowns)",
            self.tick_bytes_avg, self.tick_bytes_max, self.countdowns_visible
        )?;
        writeln!(
            f,
            "  moves {:.0}, colours and attributes {:.0}, text {:.0}, other {:.0}",
            b.moves, b.styles, b.text, b.other
        )?;
        writeln!(
            f,
            "bytes when unchanged {:>8} max                        budget 0",
            self.idle_bytes_max
        )?;
        writeln!(
            f,
            "key to screen        {}  budget < 16 ms  (at {:.0} events/s)",
            s(&k.total),
            k.events_per_sec
        )?;
        writeln!(f, "  queued behind work {}", s(&k.queued))?;
        writeln!(f, "  frame pacing       {}", s(&k.paced))?;
        writeln!(f, "  draw               {}", s(&k.draw))?;
        writeln!(f, "  engine updates     {}", s(&k.update))?;
        write!(f, "{}", self.watchers)
    }
}

/// A deterministic xorshift, so every run draws the same estate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The 200×50 terminal of the real console, writing into a frame buffer.
pub fn terminal() -> std::io::Result<Term> {
    let backend = CrosstermBackend::new(FrameBuf::default());
    let viewport = Viewport::Fixed(Rect::new(0, 0, WIDTH, HEIGHT));
    Terminal::with_options(backend, TerminalOptions { viewport })
}

/// Draw one frame as `Screen::draw` does; returns the bytes that would be sent.
pub fn draw(term: &mut Term, out: &mut Output, app: &App) -> std::io::Result<Vec<u8>> {
    term.draw(|f| view::draw(f, app))?;
    let bytes = std::mem::take(&mut term.backend_mut().writer_mut().bytes);
    Ok(out.frame(&bytes))
}

/// The console as an operator starts it: dark theme, truecolor, default keys.
pub fn app(now: DateTime<Utc>) -> anyhow::Result<App> {
    let theme = Theme::builtin("dark", ColorDepth::TrueColor)
        .ok_or_else(|| anyhow::anyhow!("the built-in dark theme does not load"))?;
    let opts = Options {
        directory: Default::default(),
        me: "bench".into(),
        groups: vec!["ops".into()],
        read_only: false,
        rate: None,
        origin: "bench".into(),
        depth: ColorDepth::TrueColor,
        themes_dir: None,
    };
    Ok(App::new(opts, theme, Keymap::default(), now))
}

/// A synthetic estate for the console to show.
#[derive(Debug, Clone, Copy)]
pub struct Estate {
    pub items: usize,
    /// Percent of items with an SLA.
    pub sla_share: u64,
    /// Percent of items that have ended (completed, failed, cancelled).
    pub ended_share: u64,
    /// Whether the inbox's tasks have due dates (countdowns of their own).
    pub task_dues: bool,
    /// SLAs of under an hour, so every countdown ticks each second (longer ones tick
    /// by the minute).
    pub short_slas: bool,
}

fn status(rng: &mut Rng, ended_share: u64) -> ItemStatus {
    if rng.below(100) < ended_share {
        return [
            ItemStatus::Completed,
            ItemStatus::Completed,
            ItemStatus::Failed,
            ItemStatus::Cancelled,
        ][rng.below(4) as usize];
    }
    match rng.below(100) {
        0..55 => ItemStatus::Running,
        55..90 => ItemStatus::Waiting,
        90..97 => ItemStatus::Incident,
        _ => ItemStatus::Compensating,
    }
}

/// Most SLAs comfortably ahead, about one in eight at risk, one in twelve breached.
fn sla_used(rng: &mut Rng) -> f64 {
    let r = rng.below(1000) as f64 / 1000.0;
    match rng.below(100) {
        0..80 => 0.05 + 0.70 * r,
        80..92 => 0.75 + 0.25 * r,
        _ => 1.0 + 0.3 * r,
    }
}

fn item(rng: &mut Rng, id: ItemId, now: DateTime<Utc>, e: Estate) -> ItemSummary {
    let status = status(rng, e.ended_share);
    let sla = (rng.below(100) < e.sla_share).then(|| {
        let secs = match e.short_slas {
            true => [900, 1800, 2700][rng.below(3) as usize],
            false => [1800, 3600, 4 * 3600, 86400][rng.below(4) as usize],
        };
        (chrono::Duration::seconds(secs), sla_used(rng))
    });
    let age = match sla {
        Some((total, used)) => total.num_seconds() as f64 * used,
        None => rng.below(6 * 3600) as f64,
    };
    let started_at = now - chrono::Duration::seconds(60 + age as i64);
    let used = sla.map_or(0.0, |s| s.1);
    ItemSummary {
        id,
        workflow: WORKFLOWS[rng.below(4) as usize].into(),
        version: 1,
        status,
        current: ["review", "charge", "notify,audit", "approve"][rng.below(4) as usize].into(),
        priority: rng.below(5) as i32,
        started_at,
        updated_at: started_at,
        ended_at: status.is_final().then_some(now),
        sla_due: sla.map(|(total, _)| started_at + total),
        sla_warned: match used {
            u if u >= 0.9 => 90,
            u if u >= 0.75 => 75,
            _ => 0,
        },
        sla_breached: used >= 1.0,
        incident: None,
        key: (!id.is_multiple_of(5)).then(|| format!("INV-2026-{:05}", id % 100_000)),
        title: Some(format!(
            "{} {}",
            NAMES[(id % 7) as usize],
            TRADES[(id % 3) as usize]
        )),
    }
}

/// Titles as long as real ones: a customer or supplier and its trade.
const NAMES: [&str; 7] = [
    "Northwind",
    "Contoso",
    "Fabrikam",
    "Tailspin",
    "Wingtip",
    "Adventure Works",
    "Litware",
];
const TRADES: [&str; 3] = ["Logistics GmbH", "Traders Ltd", "Consulting"];

fn task(k: u64, it: &ItemSummary, now: DateTime<Utc>, due: bool) -> TaskView {
    TaskView {
        id: k,
        item: it.id,
        workflow: it.workflow.clone(),
        step: "approve".into(),
        kind: TaskKind::Approval,
        title: format!("Approve item {}", it.id),
        details: None,
        group: Some("ops".into()),
        assignee: None,
        claimed_by: None,
        options: vec!["approved".into(), "rejected".into()],
        status: TaskStatus::Open,
        created_at: it.started_at,
        due: due.then(|| now + chrono::Duration::minutes(30 + k as i64 % 90)),
        overdue: false,
        escalation_level: 0,
        decision: None,
        comment: None,
        decided_by: None,
        priority: it.priority,
        approvals: 1,
        approved_by: Vec::new(),
        form: Vec::new(),
    }
}

fn record(seq: u64, item: ItemId, now: DateTime<Utc>) -> Record {
    Record {
        seq,
        at: now - chrono::Duration::seconds(200 - seq as i64),
        item: Some(item),
        actor: "engine".into(),
        via: None,
        reason: None,
        event: Event::StepSucceeded {
            item,
            step: "charge".into(),
            attempt: 1,
            output: Value::Null,
            phase: Phase::Run,
            exchange: None,
        },
    }
}

/// The estate's items, 300 open tasks and 200 records, as the sync task sends them.
pub fn snapshot(e: Estate, now: DateTime<Utc>) -> Update {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let n = e.items;
    let items: Vec<ItemSummary> = (1..=n as u64)
        .map(|id| item(&mut rng, id, now, e))
        .collect();
    let tasks = items
        .iter()
        .filter(|i| i.status == ItemStatus::Waiting)
        .take(300)
        .enumerate()
        .map(|(k, it)| task(k as u64 + 1, it, now, e.task_dues))
        .collect();
    let recent = (1..=200)
        .map(|s| EventLine::of(&record(s, s % n as u64 + 1, now)))
        .collect();
    let metrics = Metrics {
        in_flight: n as u64 * (100 - e.ended_share) / 100,
        sla_met_pct: Some(98.5),
        ..Metrics::default()
    };
    Update::Snapshot {
        items,
        tasks,
        metrics: Box::new(metrics),
        workflows: WORKFLOWS
            .iter()
            .map(|w| crate::types::deploy::WorkflowInfo {
                name: w.to_string(),
                version: 1,
                in_flight: 0,
            })
            .collect(),
        recent,
    }
}

fn key(code: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

/// Frame times while the cursor walks down the focused pane: Down, and every tenth
/// key PageDown, one frame per key (the first, full frame not counted).
pub fn frames(app: &mut App, frames: usize) -> anyhow::Result<Spread> {
    let mut term = terminal()?;
    let mut out = Output::default();
    out.set_width(WIDTH);
    draw(&mut term, &mut out, app)?;
    let mut samples = Vec::with_capacity(frames);
    for k in 0..frames {
        let code = if k % 10 == 9 {
            KeyCode::PageDown
        } else {
            KeyCode::Down
        };
        app.update(key(code));
        let t = Instant::now();
        draw(&mut term, &mut out, app)?;
        samples.push(t.elapsed());
    }
    Ok(Spread::of(samples))
}

/// Time `n` deltas of 200 changed items each (status flips, as a busy engine sends).
pub fn updates(app: &mut App, n: usize) -> Spread {
    let ids: Vec<ItemId> = app.model.items.keys().copied().collect();
    let mut samples = Vec::with_capacity(n);
    for k in 0..n {
        let items: Vec<ItemSummary> = ids
            .iter()
            .skip(k * 997 % ids.len().max(1))
            .take(200)
            .filter_map(|id| app.model.items.get(id).cloned())
            .map(|mut it| {
                it.status = match it.status {
                    ItemStatus::Running => ItemStatus::Waiting,
                    _ => ItemStatus::Running,
                };
                it
            })
            .collect();
        let delta = Update::Changes(Arc::new(Changes {
            items,
            metrics: app.model.metrics.clone(),
            ..Changes::default()
        }));
        let t = Instant::now();
        app.update(Msg::Update(delta));
        samples.push(t.elapsed());
    }
    Spread::of(samples)
}

/// Tokens like `4:05` or `-1:02:03` in the left panes (items and SLA board).
fn countdowns(buf: &Buffer) -> usize {
    let left = buf.area.width * 58 / 100;
    let is_clock = |t: &str| {
        let t = t.trim_start_matches('-');
        t.contains(':')
            && t.split(':')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    };
    (2..buf.area.height.saturating_sub(1))
        .map(|y| {
            let row: String = (0..left).map(|x| buf[(x, y)].symbol()).collect();
            row.split(|c: char| c.is_whitespace() || "│┃".contains(c))
                .filter(|t| is_clock(t))
                .count()
        })
        .sum()
}

/// Where a frame's bytes went: cursor moves, colours and attributes, the text itself,
/// and the rest (synchronized-update brackets, cursor hiding).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Split {
    pub moves: f64,
    pub styles: f64,
    pub text: f64,
    pub other: f64,
}

impl Split {
    pub fn of(bytes: &[u8]) -> Split {
        let mut s = Split::default();
        let mut k = 0;
        while k < bytes.len() {
            if bytes[k] != 0x1b || bytes.get(k + 1) != Some(&b'[') {
                s.text += 1.0;
                k += 1;
                continue;
            }
            let end = (k + 2..bytes.len())
                .find(|&e| (0x40..=0x7e).contains(&bytes[e]))
                .unwrap_or(bytes.len() - 1);
            let n = (end + 1 - k) as f64;
            match (bytes[k + 2] == b'?', bytes[end]) {
                (false, b'H') => s.moves += n,
                (false, b'm') => s.styles += n,
                _ => s.other += n,
            }
            k = end + 1;
        }
        s
    }

    fn add(self, o: Split) -> Split {
        Split {
            moves: self.moves + o.moves,
            styles: self.styles + o.styles,
            text: self.text + o.text,
            other: self.other + o.other,
        }
    }

    fn scale(self, by: f64) -> Split {
        Split {
            moves: self.moves * by,
            styles: self.styles * by,
            text: self.text * by,
            other: self.other * by,
        }
    }
}

/// What one-second ticks cost on the wire.
#[derive(Debug, Clone, Default)]
pub struct Ticks {
    /// Countdowns on screen.
    pub visible: usize,
    /// Bytes sent per tick.
    pub sent: Vec<usize>,
    /// The average tick's bytes by kind.
    pub split: Split,
    /// The largest redraw with nothing changed.
    pub idle: usize,
}

/// Items in flight, all with an SLA; the inbox's tasks have no due date, so the
/// countdowns on screen are the items' and the SLA board's.
pub const TICKING: Estate = Estate {
    items: 2_000,
    sla_share: 100,
    ended_share: 0,
    task_dues: false,
    short_slas: true,
};

/// `ticks` one-second ticks over the `TICKING` estate; after each tick the frame is
/// drawn once more with nothing changed.
pub fn tick_bytes(ticks: usize, now: DateTime<Utc>) -> anyhow::Result<Ticks> {
    let mut app = app(now)?;
    app.update(Msg::Update(snapshot(TICKING, now)));
    let mut term = terminal()?;
    let mut out = Output::default();
    out.set_width(WIDTH);
    let visible = countdowns(term.draw(|f| view::draw(f, &app))?.buffer);
    let first = std::mem::take(&mut term.backend_mut().writer_mut().bytes);
    out.frame(&first);
    let mut t = Ticks {
        visible,
        ..Ticks::default()
    };
    for k in 1..=ticks {
        app.update(Msg::Tick(now + chrono::Duration::seconds(k as i64)));
        let sent = draw(&mut term, &mut out, &app)?;
        t.sent.push(sent.len());
        t.split = t.split.add(Split::of(&sent));
        t.idle = t.idle.max(draw(&mut term, &mut out, &app)?.len());
    }
    t.split = t.split.scale(1.0 / ticks.max(1) as f64);
    Ok(t)
}

/// Frame times and bytes per tick, at a fixed `now`.
pub fn offline(o: &ConsoleOptions, now: DateTime<Utc>) -> anyhow::Result<ConsoleReport> {
    let mut a = app(now)?;
    a.update(Msg::Update(snapshot(
        Estate {
            items: o.items,
            sla_share: 70,
            ended_share: 4,
            task_dues: true,
            short_slas: false,
        },
        now,
    )));
    let frame_items = frames(&mut a, o.frames)?;
    a.update(key(KeyCode::Tab));
    let frame_sla = frames(&mut a, o.frames)?;
    let update = updates(&mut a, 100);
    let ticks = tick_bytes(o.ticks, now)?;
    let sent = &ticks.sent;
    Ok(ConsoleReport {
        items: o.items,
        frame_items,
        frame_sla,
        update,
        countdowns_visible: ticks.visible,
        tick_bytes_avg: sent.iter().sum::<usize>() as f64 / sent.len().max(1) as f64,
        tick_bytes_max: sent.iter().copied().max().unwrap_or(0),
        tick_split: ticks.split,
        idle_bytes_max: ticks.idle,
        key: LatencyReport::default(),
        watchers: WatchersReport::default(),
    })
}

/// Everything: the offline measurements, then key latency on a live engine.
pub async fn run(o: &ConsoleOptions) -> anyhow::Result<ConsoleReport> {
    let mut report = offline(o, Utc::now())?;
    report.key = key_latency(o).await?;
    report.watchers = watchers::run(&o.watchers).await?;
    Ok(report)
}

/// Key-to-screen latency under load, in a fresh data dir under `o.scratch`.
pub async fn key_latency(o: &ConsoleOptions) -> anyhow::Result<LatencyReport> {
    let dir = crate::bench::Scratch::new(&o.scratch, "tempi-console-bench");
    live(o, &dir.0).await
}

async fn live(o: &ConsoleOptions, dir: &Path) -> anyhow::Result<LatencyReport> {
    let wf = dir.join("workflows");
    std::fs::create_dir_all(&wf)?;
    std::fs::write(wf.join("bench-pass.yaml"), BENCH_PASS)?;
    let run = runtime::start(EngineConfig::new(dir.join("data"), Some(wf))).await?;
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let load = tokio::spawn(load(run.handle.clone(), o.events_per_sec, stopping));
    let result = console_loop(&run, o).await;
    let _ = stop.send(true);
    let _ = load.await;
    run.shutdown().await;
    result
}

/// Start `bench-pass` items at a steady pace until told to stop.
async fn load(
    h: crate::engine::EngineHandle,
    events_per_sec: u64,
    stopping: tokio::sync::watch::Receiver<bool>,
) {
    let per_10ms = (events_per_sec / RECORDS_PER_ITEM) as f64 / 100.0;
    let mut interval = tokio::time::interval(Duration::from_millis(10));
    let (mut owed, mut n) = (0.0, 0u64);
    while !*stopping.borrow() {
        interval.tick().await;
        owed += per_10ms;
        while owed >= 1.0 {
            owed -= 1.0;
            n += 1;
            let h = h.clone();
            tokio::spawn(async move {
                let cmd = Command::Start {
                    workflow: "bench-pass".into(),
                    version: None,
                    input: serde_json::json!({ "n": n }),
                    priority: 0,
                    since: None,
                };
                let _ = h
                    .command(&crate::types::identity::Who::root("bench"), None, cmd)
                    .await;
            });
        }
    }
}

/// Press Down every `every` until the receiver goes; each key carries when it was sent.
async fn press(tx: mpsc::UnboundedSender<(Instant, KeyEvent)>, every: Duration) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let k = KeyEvent::new(KeyCode::Down, KeyModifiers::NONE);
        if tx.send((Instant::now(), k)).is_err() {
            return;
        }
    }
}

/// A key handled, waiting for its frame.
struct Shown {
    sent: Instant,
    handled: Instant,
}

#[derive(Default)]
struct Samples {
    total: Vec<Duration>,
    queued: Vec<Duration>,
    paced: Vec<Duration>,
    draw: Vec<Duration>,
    update: Vec<Duration>,
}

/// The loop of `run.rs` (keys, engine updates, the clock, 33 ms frame pacing) with a
/// key channel instead of the terminal; keys are timed until their frame is drawn.
async fn console_loop(run: &Running, o: &ConsoleOptions) -> anyhow::Result<LatencyReport> {
    let mut app = app(Utc::now())?;
    let mut term = terminal()?;
    let mut out = Output::default();
    out.set_width(WIDTH);
    let (utx, mut updates) = mpsc::unbounded_channel();
    let sync = sync::spawn(Source::Embedded(run.handle.clone()), utx);
    let (ktx, mut keys) = mpsc::unbounded_channel();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let warm = tokio::time::sleep(Duration::from_secs(1));
    tokio::pin!(warm);
    let mut warming = true;
    let mut presser = None;
    let end = tokio::time::sleep(Duration::from_secs(1 + o.latency_secs));
    tokio::pin!(end);
    let mut waiting: Vec<Shown> = Vec::new();
    let mut s = Samples::default();
    let mut records = (0, Instant::now());
    let mut next_frame = Instant::now();
    loop {
        if app.dirty && Instant::now() >= next_frame {
            let t = Instant::now();
            draw(&mut term, &mut out, &app)?;
            let drawn = Instant::now();
            for k in waiting.drain(..) {
                s.total.push(drawn - k.sent);
                s.queued.push(k.handled - k.sent);
                s.paced.push(t - k.handled);
                s.draw.push(drawn - t);
            }
            app.dirty = false;
            next_frame = Instant::now() + FRAME;
        }
        let effects = tokio::select! {
            Some((sent, k)) = keys.recv() => {
                // As in run.rs: a key is drawn at once, not paced.
                next_frame = Instant::now();
                let effects = app.update(Msg::Key(k));
                waiting.push(Shown { sent, handled: Instant::now() });
                effects
            }
            Some(u) = updates.recv() => {
                let t = Instant::now();
                app.update(Msg::Tick(Utc::now()));
                let mut effects = app.update(Msg::Update(u));
                while let Ok(more) = updates.try_recv() {
                    effects.extend(app.update(Msg::Update(more)));
                }
                s.update.push(t.elapsed());
                effects
            }
            _ = tick.tick() => app.update(Msg::Tick(Utc::now())),
            _ = tokio::time::sleep_until(next_frame), if app.dirty => vec![],
            _ = &mut warm, if warming => {
                warming = false;
                records = (records_so_far(run), Instant::now());
                presser = Some(tokio::spawn(press(ktx.clone(), o.key_every)));
                vec![]
            }
            _ = &mut end => break,
        };
        for e in effects {
            match e {
                Effect::Detail(id) => {
                    let _ = sync.control.send(Control::Detail(id));
                }
                Effect::Refresh => {
                    let _ = sync.control.send(Control::Refresh);
                }
                _ => {}
            }
        }
    }
    if let Some(p) = presser {
        p.abort();
    }
    let written = records_so_far(run).saturating_sub(records.0);
    Ok(LatencyReport {
        total: Spread::of(s.total),
        queued: Spread::of(s.queued),
        paced: Spread::of(s.paced),
        draw: Spread::of(s.draw),
        update: Spread::of(s.update),
        events_per_sec: written as f64 / records.1.elapsed().as_secs_f64(),
    })
}

fn records_so_far(run: &Running) -> u64 {
    run.stats.lock().map(|s| s.records).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tick_redraws_the_countdowns_and_an_idle_frame_writes_nothing() -> anyhow::Result<()> {
        let Ticks {
            visible,
            sent,
            idle,
            ..
        } = tick_bytes(2, Utc::now())?;
        assert!(visible >= 40, "only {visible} countdowns on screen");
        assert!(sent.iter().all(|&b| b > 0), "a tick changes the countdowns");
        assert!(
            sent.iter().all(|&b| b > idle),
            "a frame that changes nothing writes less than one that does"
        );
        Ok(())
    }

    #[test]
    fn frames_move_through_a_large_list() -> anyhow::Result<()> {
        let now = Utc::now();
        let mut a = app(now)?;
        a.update(Msg::Update(snapshot(
            Estate {
                items: 1_000,
                ..TICKING
            },
            now,
        )));
        let spread = frames(&mut a, 12)?;
        assert_eq!(spread.samples, 12);
        assert_eq!(a.list(super::super::app::Pane::Items).cursor, 31);
        Ok(())
    }
}
