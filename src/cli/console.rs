//! `tempi console` and `tempi attach`: the console on the embedded engine of `--data`,
//! or on a running daemon through its API.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::Globals;
use super::daemon::Daemon;
use crate::console::app::alerts::NotifyMode;
use crate::console::app::{App, Options};
use crate::console::keymap::{self, Keymap};
use crate::console::run::{self, RateHook};
use crate::console::source::Source;
use crate::console::theme::{self, ColorDepth, Theme};
use crate::engine::runtime::{self, EngineConfig};

/// Options every console accepts.
#[derive(Debug, Clone, Args)]
pub struct UiArgs {
    /// Theme: dark, light, high-contrast, colour-blind-safe, monochrome, or a .toml file
    #[arg(long, value_name = "NAME|FILE")]
    pub theme: Option<String>,
    /// Look but do not touch: every action is refused
    #[arg(long)]
    pub read_only: bool,
    /// The groups whose tasks "my groups" shows (comma-separated)
    #[arg(long, env = "TEMPI_GROUPS", value_name = "G,G", value_delimiter = ',')]
    pub groups: Vec<String>,
    /// Key bindings file [default: $XDG_CONFIG_HOME/tempi/keys.toml]
    #[arg(long, value_name = "FILE")]
    pub keys: Option<PathBuf>,
    /// On a warning or breach you can act on: the bell and a desktop notification
    /// (all), one of them, or off [default: all; off with --read-only]
    #[arg(long, value_name = "MODE", value_parser = parse_notify)]
    pub notify: Option<NotifyMode>,
    /// The shortest time between two notifications (more are gathered into one)
    #[arg(skip)]
    pub notify_every: Option<std::time::Duration>,
}

fn parse_notify(s: &str) -> Result<NotifyMode, String> {
    NotifyMode::parse(s).ok_or_else(|| format!("use {}", NotifyMode::NAMES))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn config_dir() -> Option<PathBuf> {
    env("XDG_CONFIG_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|d| d.join("tempi"))
}

/// The console options with what config.toml's `[console]` sets where no flag did.
fn with_settings(ui: &UiArgs, config: &super::config::Config) -> UiArgs {
    let mut ui = ui.clone();
    if ui.theme.is_none() {
        ui.theme = config.theme.clone();
    }
    if ui.groups.is_empty() {
        ui.groups = config.groups.clone();
    }
    ui.notify = ui.notify.or(config.notify);
    ui.notify_every = ui.notify_every.or(config.notify_every);
    ui
}

/// Build the app from the options; bad theme or key files stop here, before the screen
/// is taken over, with their file:line:col.
pub fn build_app(
    g: &Globals,
    ui: &UiArgs,
    origin: String,
    rate: Option<f64>,
) -> anyhow::Result<App> {
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        anyhow::bail!(
            "the console needs a terminal; stdout is not one (use tempi items, tasks, … in scripts)"
        );
    }
    let depth = ColorDepth::detect(env);
    let themes_dir = config_dir().map(|d| d.join("themes"));
    let name = ui
        .theme
        .clone()
        .unwrap_or_else(|| theme::default_name(depth).to_string());
    let theme = Theme::load(&name, depth, themes_dir.as_deref())?;
    let keys = ui.keys.clone().or_else(|| keymap::default_path(env));
    let keymap = match &ui.keys {
        Some(path) => Keymap::load(path)?,
        None => Keymap::load_or_default(keys.as_deref())?,
    };
    let opts = Options {
        directory: Default::default(),
        me: g.user.clone(),
        groups: ui
            .groups
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        read_only: ui.read_only,
        rate,
        origin,
        depth,
        themes_dir,
    };
    let mut app = App::new(opts, theme, keymap, chrono::Utc::now());
    app.alerts.mode = match ui.read_only {
        true => NotifyMode::Off,
        false => ui.notify.unwrap_or_default(),
    };
    if let Some(every) = ui
        .notify_every
        .and_then(|d| chrono::Duration::from_std(d).ok())
    {
        app.alerts.every = every;
    }
    Ok(app)
}

/// `tempi console`: the engine runs in this process on `--data`.
pub async fn embedded(g: &Globals, ui: &UiArgs) -> anyhow::Result<()> {
    let (settings, private) = super::config::open_private(&g.data_dir, &[])?;
    let ui = &with_settings(ui, &settings);
    let app = build_app(g, ui, format!("embedded {}", g.data_dir.display()), None)?;
    let _log = super::act::init_log(&g.data_dir);
    let mut config = EngineConfig::new(g.data_dir.clone(), g.workflows_dir.clone());
    config.env = private.env;
    config.secrets = private.secrets;
    config.step_timeouts = settings.timeouts;
    config.retention = settings.retention.filter(|r| !r.is_zero());
    config.archive = settings.archive;
    // The message alone: the error's source chain would repeat it.
    let running = runtime::start(config).await.map_err(|e| {
        anyhow::anyhow!(
            "{e}\n(if a tempi serve runs on it: tempi --data {} attach)",
            g.data_dir.display()
        )
    })?;
    let result = run::run(Source::Embedded(running.handle.clone()), app, None).await;
    running.shutdown().await;
    result
}

/// `tempi attach`: the console of a running `tempi serve`, local or remote.
pub async fn attach(
    g: &Globals,
    ui: &UiArgs,
    url: Option<String>,
    token: Option<String>,
) -> anyhow::Result<()> {
    let settings = super::config::Config::load_for_client(&g.data_dir)?;
    let ui = &with_settings(ui, &settings);
    let daemon = Daemon::connect_to(g, url, token)?;
    let client = daemon.client.clone();
    // Over the socket the daemon acts for our login: "mine" is that name's.
    let g = &Globals {
        user: daemon.me.clone(),
        ..g.clone()
    };
    let source = Source::Remote(client.clone());
    // Reach and authenticate before taking over the screen, so failures read plainly.
    if let Source::Remote(c) = &source {
        c.metrics().await.map_err(|e| daemon.explain(e))?;
    }
    let app = build_app(g, ui, client.url().to_string(), None)?;
    let _log = super::act::init_log(&g.data_dir);
    run::run(source, app, None).await
}

/// A private, fresh data dir for one demo run.
fn demo_dir() -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S");
    let dir = std::env::temp_dir().join(format!("tempi-demo-{stamp}-{}", std::process::id()));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create the demo data dir {}", dir.display()))?;
    Ok(dir)
}

/// The dir given with --data, for a demo: new or empty only, since the demo fills it
/// with made-up items (it must never be a real daemon's data).
fn given_demo_dir(dir: &std::path::Path) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let empty = match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_none(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => anyhow::bail!("cannot read the demo data dir {}: {e}", dir.display()),
    };
    if !empty {
        anyhow::bail!(
            "the demo fills its data dir with made-up work items, so it runs only in a new or empty one; {} is not empty (name another, or leave --data and TEMPI_DATA out for a temporary one)",
            dir.display()
        );
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the demo data dir {}", dir.display()))?;
    Ok(dir.to_path_buf())
}

/// The shipped workflows from --workflows (or ./workflows), else the built-in copies.
fn demo_workflows(g: &Globals, dir: &std::path::Path) -> anyhow::Result<PathBuf> {
    if let Some(w) = &g.workflows_dir {
        return Ok(w.clone());
    }
    let w = dir.join("workflows");
    std::fs::create_dir_all(&w)?;
    for (name, text) in crate::demo::EMBEDDED_WORKFLOWS {
        std::fs::write(w.join(format!("{name}.yaml")), text)?;
    }
    Ok(w)
}

/// `tempi demo`: the engine, a simulated estate and a load generator, in a temporary
/// data dir that is removed afterwards unless `keep`.
pub async fn demo(
    g: &Globals,
    ui: &UiArgs,
    rate: f64,
    keep: bool,
    seed: Option<u64>,
) -> anyhow::Result<()> {
    let rate = rate.clamp(0.0, crate::demo::MAX_RATE);
    // What the demo writes (its journal, logs, staged workflows) is private, as the
    // daemon's is.
    crate::store::private::restrict_umask();
    let given = match g.data_given {
        true => Some(given_demo_dir(&g.data_dir)?),
        false => None,
    };
    let app = build_app(g, ui, "demo".into(), Some(rate))?;
    let (dir, keep) = match given {
        Some(dir) => (dir, true),
        None => (demo_dir()?, keep),
    };
    let result = demo_in(g, app, &dir, rate, seed).await;
    if keep {
        eprintln!("tempi: the demo's data is kept in {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn demo_in(
    g: &Globals,
    app: App,
    dir: &std::path::Path,
    rate: f64,
    seed: Option<u64>,
) -> anyhow::Result<()> {
    let _log = super::act::init_log(dir);
    let mut opts = crate::demo::DemoOptions::new(dir.to_path_buf(), demo_workflows(g, dir)?);
    opts.rate_per_min = rate;
    if let Some(s) = seed {
        opts.seed = s;
    }
    let demo = crate::demo::start(opts).await?;
    let load = demo.load.clone();
    let hook: RateHook = Box::new(move |r| load.set_rate(r));
    let source = Source::Embedded(demo.running.handle.clone());
    let result = run::run(source, app, Some(hook)).await;
    demo.shutdown().await;
    result
}
