//! The console's screenshots, taken from a live demo without a terminal: the app is
//! driven with keys like an operator would, drawn into a `TestBackend` and saved as SVG.
//!
//! ```sh
//! cargo run --example screenshots -- screenshots/
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

use tempi::console::app::{App, Effect, Mode, Msg, Options, Pane};
use tempi::console::keymap::Keymap;
use tempi::console::model::Update;
use tempi::console::source::Source;
use tempi::console::sync::{self, Control, Sync};
use tempi::console::theme::{ColorDepth, Role, Theme};
use tempi::console::{svg, view};
use tempi::demo::{DemoOptions, EstateOptions};
use tempi::types::event::TaskKind;
use tempi::types::view::ItemStatus;

/// Same seed, same estate and load: the pictures differ only in timing.
const SEED: u64 = 7;
const RATE: f64 = 120.0;
/// Real time the demo runs before the first picture, so items, tasks and events have
/// piled up.
const WARM_UP: Duration = Duration::from_secs(8);
/// Then an outage of the simulated estate (every call fails) until an item has run out
/// of retries into an incident, for at most this long.
const OUTAGE: Duration = Duration::from_secs(15);

/// The app plus the sync task feeding it.
struct Shots {
    app: App,
    sync: Sync,
    updates: UnboundedReceiver<Update>,
    out: PathBuf,
}

impl Shots {
    /// Apply every update that arrives within `wait`, with the clock ticking as in the
    /// console (throughput and countdowns are computed from the app's clock).
    async fn pump(&mut self, wait: Duration) {
        let until = Instant::now() + wait;
        while let Ok(Some(u)) = tokio::time::timeout_at(until, self.updates.recv()).await {
            self.app.update(Msg::Tick(Utc::now()));
            self.app.update(Msg::Update(u));
        }
        self.app.update(Msg::Tick(Utc::now()));
    }

    fn incidents(&self) -> bool {
        self.app.model.metrics.incidents > 0
    }

    /// Press a key; the effects that matter for pictures go to the sync task.
    fn key(&mut self, code: KeyCode) {
        for e in self
            .app
            .update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)))
        {
            match e {
                Effect::Detail(id) => {
                    let _ = self.sync.control.send(Control::Detail(id));
                }
                Effect::Report(since) => {
                    let _ = self.sync.control.send(Control::Report(since));
                }
                _ => {}
            }
        }
    }

    /// Tab until `pane` has the focus.
    fn focus(&mut self, pane: Pane) {
        for _ in 0..Pane::ALL.len() {
            if self.app.focus == pane {
                return;
            }
            self.key(KeyCode::Tab);
        }
    }

    /// Move the focused list's cursor down to the first row where `pick` holds.
    fn select(&mut self, pick: impl Fn(&App, usize) -> bool) -> bool {
        let pane = self.app.focus;
        let Some(row) = (0..self.app.len(pane)).find(|&r| pick(&self.app, r)) else {
            return false;
        };
        self.key(KeyCode::Home);
        for _ in 0..row {
            self.key(KeyCode::Down);
        }
        true
    }

    fn save(&self, name: &str, width: u16, height: u16) -> anyhow::Result<()> {
        let mut term = Terminal::new(TestBackend::new(width, height))?;
        term.draw(|f| view::draw(f, &self.app))?;
        let base = self.app.theme.style(Role::Base);
        let text = svg::buffer_to_svg_with(
            term.backend().buffer(),
            base.fg.unwrap_or(Color::Reset),
            base.bg.unwrap_or(Color::Reset),
        );
        let path = self.out.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        println!("{}", path.display());
        Ok(())
    }
}

fn theme(name: &str) -> anyhow::Result<Theme> {
    Theme::builtin(name, ColorDepth::TrueColor).with_context(|| format!("no theme {name}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or("screenshots".into()));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let data = tempfile::tempdir()?;
    let workflows = Path::new(env!("CARGO_MANIFEST_DIR")).join("workflows");
    let mut opts = DemoOptions::new(data.path().to_path_buf(), workflows);
    opts.seed = SEED;
    opts.rate_per_min = RATE;
    let demo = tempi::demo::start(opts).await?;

    let app = App::new(
        Options {
            directory: Default::default(),
            me: "operator".into(),
            groups: vec!["finance-approvers".into(), "ap-reviewers".into()],
            read_only: false,
            rate: Some(RATE),
            origin: "demo".into(),
            depth: ColorDepth::TrueColor,
            themes_dir: None,
        },
        theme("dark")?,
        Keymap::default(),
        Utc::now(),
    );
    let (tx, updates) = tokio::sync::mpsc::unbounded_channel();
    let sync = sync::spawn(Source::Embedded(demo.running.handle.clone()), tx);
    let mut s = Shots {
        app,
        sync,
        updates,
        out,
    };
    s.pump(WARM_UP).await;
    let normal = demo.estate().options();
    demo.estate().set_options(EstateOptions {
        error_rate: 1.0,
        ..normal.clone()
    });
    let deadline = Instant::now() + OUTAGE;
    while !s.incidents() && Instant::now() < deadline {
        s.pump(Duration::from_millis(250)).await;
    }
    demo.estate().set_options(normal);
    if !s.incidents() {
        eprintln!("no incident after the outage: the pictures show none");
    }
    s.pump(Duration::from_secs(1)).await;
    let result = take(&mut s).await;
    drop(s);
    demo.shutdown().await;
    result
}

async fn take(s: &mut Shots) -> anyhow::Result<()> {
    s.save("items.svg", 200, 50)?;
    s.save("tabs-80x24.svg", 80, 24)?;

    s.focus(Pane::Sla);
    s.save("sla.svg", 200, 50)?;
    s.save("sla-tabs-120x40.svg", 120, 40)?;

    s.focus(Pane::Inbox);
    s.select(|app, r| {
        app.task_at(r)
            .is_some_and(|t| matches!(t.kind, TaskKind::AgentReview { .. }))
    });
    s.save("inbox.svg", 200, 50)?;

    // `a` on a task with more options than approve/reject: the picker, then its form.
    if s.select(|app, r| app.task_at(r).is_some_and(|t| t.options.len() > 2)) {
        s.key(KeyCode::Char('a'));
        s.save("picker.svg", 200, 50)?;
        s.key(KeyCode::Enter);
        if matches!(s.app.mode, Mode::Form(_)) {
            s.save("form.svg", 200, 50)?;
        }
        s.key(KeyCode::Esc);
        s.app.toasts.clear();
    } else {
        eprintln!("no task with more than two options: no picker screenshot");
    }

    s.focus(Pane::Items);
    let found = s.select(|app, r| {
        app.item_at(Pane::Items, r)
            .is_some_and(|i| i.status == ItemStatus::Incident)
    }) || s.select(|app, r| {
        app.item_at(Pane::Items, r)
            .is_some_and(|i| i.workflow == "invoice-approval" && i.current == "approve")
    });
    if !found {
        eprintln!("no incident or invoice awaiting approval: the detail shows the first item");
    }
    s.key(KeyCode::Enter);
    for _ in 0..40 {
        if s.app.detail.as_ref().is_some_and(|d| d.data.is_some()) {
            break;
        }
        s.pump(Duration::from_millis(100)).await;
    }
    s.save("detail.svg", 200, 50)?;
    s.key(KeyCode::Esc);

    s.key(KeyCode::Char('?'));
    s.save("help.svg", 200, 50)?;
    s.key(KeyCode::Esc);

    // The KPI view: `:report` over what the demo has run so far.
    for c in ":report".chars() {
        s.key(KeyCode::Char(c));
    }
    s.key(KeyCode::Enter);
    for _ in 0..40 {
        if matches!(&s.app.mode, Mode::Report(v) if v.report.is_some()) {
            break;
        }
        s.pump(Duration::from_millis(100)).await;
    }
    s.save("report.svg", 200, 50)?;
    s.key(KeyCode::Esc);

    s.app.theme = theme("light")?;
    s.save("light.svg", 200, 50)?;
    Ok(())
}
