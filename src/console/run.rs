//! The console's main loop: keys, engine updates, command results and the clock go into
//! the app; frames come out at most 30 times a second and only when something changed.
//! Commands run on their own tasks, so a slow engine never holds up a key press.

use std::time::Duration;

use chrono::Utc;
use crossterm::event::{Event as TermEvent, EventStream, KeyCode, KeyModifiers};
use futures_util::StreamExt;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::app::{App, Effect, Msg, Pending};
use super::source::{Source, SourceError};
use super::sync::{self, Control};
use super::terminal::Screen;
use super::view;
use crate::types::Reply;

/// The shortest time between two frames.
const FRAME: Duration = Duration::from_millis(33);

/// Sets the demo's load rate (items per minute).
pub type RateHook = Box<dyn Fn(f64) + Send>;

type Acted = Vec<(String, Result<Reply, SourceError>)>;

/// Run the console until the operator quits or a signal asks it to stop.
pub async fn run(source: Source, mut app: App, rate: Option<RateHook>) -> anyhow::Result<()> {
    identify(&source, &mut app).await;
    let mut screen = Screen::enter()?;
    let mut history = super::history::default_path(|k| std::env::var(k).ok())
        .map(super::history::HistoryFile::open);
    if let Some(h) = &history {
        app.cmdline.load(h.lines().to_vec());
    }
    let notify_to = super::notify::Terminal::detect(|k| std::env::var(k).ok());
    let (utx, mut updates) = mpsc::unbounded_channel();
    let sync = sync::spawn(source.clone(), utx);
    let (atx, mut acted) = mpsc::unbounded_channel::<Acted>();
    let mut keys = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut term = signal(SignalKind::terminate())?;
    let mut hup = signal(SignalKind::hangup())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut next_frame = Instant::now();
    let mut in_flight: Vec<tokio::task::JoinHandle<()>> = Vec::new();
    loop {
        if app.dirty && Instant::now() >= next_frame {
            screen.draw(|f| view::draw(f, &app))?;
            app.dirty = false;
            next_frame = Instant::now() + FRAME;
        }
        let effects = tokio::select! {
            ev = keys.next() => match ev {
                Some(Ok(TermEvent::Key(k))) if is_ctrl_c(&k) => break,
                Some(Ok(TermEvent::Key(k))) => {
                    // A key is drawn at once; the frame cap is for floods of updates.
                    next_frame = Instant::now();
                    app.update(Msg::Key(k))
                }
                Some(Ok(TermEvent::Resize(..))) => {
                    screen.clear()?;
                    app.dirty = true;
                    vec![]
                }
                Some(Ok(_)) => vec![],
                Some(Err(e)) => return Err(e.into()),
                None => break,
            },
            Some(u) = updates.recv() => {
                // The clock's effects (a notification now due) are kept, not dropped.
                let mut effects = app.update(Msg::Tick(Utc::now()));
                effects.extend(app.update(Msg::Update(u)));
                while let Ok(more) = updates.try_recv() {
                    effects.extend(app.update(Msg::Update(more)));
                }
                effects
            }
            Some(r) = acted.recv() => app.update(Msg::Acted(r)),
            _ = tick.tick() => app.update(Msg::Tick(Utc::now())),
            _ = tokio::time::sleep_until(next_frame), if app.dirty => vec![],
            _ = term.recv() => break,
            _ = hup.recv() => break,
            _ = int.recv() => break,
        };
        for e in effects {
            match e {
                Effect::Act(pending) => {
                    in_flight.retain(|h| !h.is_finished());
                    in_flight.push(spawn_act(&source, &app.opts.me, pending, atx.clone()));
                }
                Effect::Detail(id) => {
                    let _ = sync.control.send(Control::Detail(id));
                }
                Effect::Refresh => {
                    let _ = sync.control.send(Control::Refresh);
                }
                Effect::Find(filter) => {
                    let _ = sync.control.send(Control::Find(filter));
                }
                Effect::Report(since) => {
                    let _ = sync.control.send(Control::Report(since));
                }
                Effect::Rate(r) => {
                    if let Some(set) = &rate {
                        set(r);
                    }
                }
                Effect::History(line) => {
                    if let Some(h) = &mut history {
                        h.append(&line);
                    }
                }
                Effect::Notify(n) => {
                    // Between frames: neither moves the cursor, so the diff stays right.
                    if let Err(e) = screen.send(&notify_to.bytes(&n)) {
                        tracing::warn!(error = %e, "cannot ring the bell");
                    }
                }
                Effect::Copy(text) => screen.send(&super::osc::copy(&text))?,
                Effect::Quit => {}
            }
        }
        if app.quit {
            break;
        }
    }
    drop(screen);
    // Commands already sent (a confirmed bulk cancel, say) finish before the engine stops.
    in_flight.retain(|h| !h.is_finished());
    if !in_flight.is_empty() {
        eprintln!(
            "tempi: waiting for {} command batches to finish…",
            in_flight.len()
        );
        let all = futures_util::future::join_all(in_flight);
        if tokio::time::timeout(Duration::from_secs(10), all)
            .await
            .is_err()
        {
            eprintln!("tempi: some commands did not finish; check the audit trail");
        }
    }
    Ok(())
}

/// Who "mine" and "my groups" are, from the directory: the daemon's answer when
/// attached (unless `--as` named someone), the engine's directory when embedded. Groups
/// given with `--groups` stand only for someone the directory does not hold.
async fn identify(source: &Source, app: &mut App) {
    let (me, listing) = source.identity(&app.opts.me).await;
    if let Some(me) = me {
        app.opts.me = me;
    }
    if let Some(op) = listing
        .operators
        .iter()
        .find(|o| o.name == app.opts.me && o.revoked.is_none() && !o.bootstrap)
    {
        app.opts.groups = op.groups.clone();
    }
    app.opts.directory = listing;
}

fn is_ctrl_c(k: &crossterm::event::KeyEvent) -> bool {
    k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL)
}

/// Send commands one after another (their order matters for bulk toasts) off the UI task.
pub fn spawn_act(
    source: &Source,
    me: &str,
    pending: Vec<Pending>,
    out: mpsc::UnboundedSender<Acted>,
) -> tokio::task::JoinHandle<()> {
    let source = source.clone();
    let me = me.to_string();
    tokio::spawn(async move {
        let mut results = Vec::with_capacity(pending.len());
        for p in pending {
            results.push((p.label, source.act(&me, p.cmd).await));
        }
        let _ = out.send(results);
    })
}
