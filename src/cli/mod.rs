//! The command line: argument definitions, global options, and the dispatch from a
//! parsed command to its group (serve, validate, acting verbs, listings, bench).

mod act;
mod audit;
mod bench;
mod config;
mod console;
mod daemon;
mod deploy;
mod docs;
pub mod exit;
pub(crate) mod format;
mod operator;
pub(crate) mod report;
mod show;
mod status;
mod validate;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::builder::NonEmptyStringValueParser;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::store;
use crate::types::view::{ItemFilter, ItemStatus};
use crate::types::{ItemId, TaskId};

/// tempi: a terminal operations console with a durable orchestration engine inside.
#[derive(Debug, Parser)]
#[command(name = "tempi", version, about)]
pub struct Cli {
    /// The data dir: journal, token, daemon.json [default: the XDG data dir; for demo, a
    /// temporary dir removed on quit unless --keep]
    #[arg(long, global = true, env = "TEMPI_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Where workflow files are loaded from [default: ./workflows if it exists]
    #[arg(long, global = true, env = "TEMPI_WORKFLOWS", value_name = "DIR")]
    pub workflows: Option<PathBuf>,
    /// Act for this person (admins only; refused for anyone else) [default: whoever the
    /// token or the local socket says you are]
    #[arg(long = "as", global = true, env = "TEMPI_USER", value_name = "USER")]
    pub user: Option<String>,
    #[command(subcommand)]
    pub command: Cmd,
}

/// Options every acting verb accepts.
#[derive(Debug, Clone, Args)]
pub struct Acting {
    /// Why: recorded in the audit trail with the command
    #[arg(long, value_name = "TEXT")]
    pub reason: Option<String>,
    #[command(flatten)]
    pub print: Print,
}

/// `--json`, the same on every command that prints.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct Print {
    /// Print JSON on stdout instead of text (see `tempi --help` for errors and exit codes)
    #[arg(long)]
    pub json: bool,
}

/// A retention window: a duration (`7d`, `36h`), or `0` to keep everything.
fn parse_retention(text: &str) -> Result<std::time::Duration, String> {
    if text.trim() == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    let d = humantime::parse_duration(text.trim())
        .map_err(|e| format!("{e} (write it like 7d, 36h or 90m; 0 keeps everything)"))?;
    // Beyond a century the cutoff is before any item; more is a mistake, not a wish.
    // (humantime's year is 365.25 days.)
    if d > std::time::Duration::from_secs(100 * 31_557_600) {
        return Err("retention is limited to 100 years; use 0 to keep everything".into());
    }
    Ok(d)
}

/// `tempi audit`'s hash-chain modes: one at a time, never with the listing's options.
#[derive(Debug, Clone, Default, Args)]
#[group(id = "chain_mode", multiple = false, conflicts_with_all = ["item", "follow", "archive", "limit", "after"])]
pub struct ChainArgs {
    /// Verify the journal's hash chain and the tables derived from it, reading the
    /// journal file directly; exit 1 naming the first record that does not match
    #[arg(long)]
    pub verify: bool,
    /// Verify, then write the chain to FILE as JSON lines that check themselves (created
    /// 0600; an existing FILE is refused; `--check FILE` checks it)
    #[arg(long, value_name = "FILE")]
    pub export: Option<PathBuf>,
    /// Verify, then print the head as SEQ:HASH, to keep where this machine's users cannot
    /// write (a same-user attacker can recompute a chain nobody anchored)
    #[arg(long)]
    pub anchor: bool,
    /// Check an export written by --export on its own (no journal needed)
    #[arg(long, value_name = "FILE")]
    pub check: Option<PathBuf>,
}

impl ChainArgs {
    fn mode(&self) -> Option<audit::Mode> {
        if self.verify {
            return Some(audit::Mode::Verify);
        }
        if self.anchor {
            return Some(audit::Mode::Anchor);
        }
        if let Some(f) = &self.export {
            return Some(audit::Mode::Export(f.clone()));
        }
        self.check.clone().map(audit::Mode::Check)
    }
}

/// Opt-in paging for the listings; without it they print every match.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct Page {
    /// At most N entries
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub limit: Option<u64>,
    /// Only entries after this one in the listing's order (items: newest first, so ids
    /// below it; tasks: ids above it; audit: seqs above it)
    #[arg(long, value_name = "ID")]
    pub after: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run the engine as a headless daemon with its HTTP API
    ///
    /// Settings come from <data>/config.toml; these flags override it. With --json, one
    /// line `{"url": …, "data": …, "pid": …}` goes to stdout once it serves.
    Serve {
        /// Address to listen on (port 0 picks a free one) [default: 127.0.0.1:7878]
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
        /// Remove the records of items that ended longer ago than this (`0` keeps
        /// everything) [default: 7d]
        #[arg(long, value_name = "DURATION", value_parser = parse_retention)]
        retention: Option<std::time::Duration>,
        /// Before removing them, append the records to compressed files in DIR
        /// (`tempi audit --archive DIR` reads them)
        #[arg(long, value_name = "DIR")]
        archive: Option<PathBuf>,
        /// Environment variables workflows may read as `env.NAME` (exact names,
        /// comma-separated, repeatable; added to `pass_env` of config.toml). No other
        /// variable of the daemon's environment reaches a workflow.
        #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
        pass_env: Vec<String>,
        /// The Unix socket where users of this machine act under their login, with no
        /// token (the CLI and attach find it through --data, or TEMPI_SOCKET). Inside the
        /// data dir only the daemon's user can reach it; for others choose a path outside
        /// it, such as /run/tempi/tempi.sock [default: <data>/tempi.sock]
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
        /// Let members of this group connect to the socket (mode 0660 and this group;
        /// without it, 0600)
        #[arg(long, value_name = "GROUP", value_parser = NonEmptyStringValueParser::new())]
        socket_group: Option<String>,
        #[command(flatten)]
        print: Print,
    },
    /// Check workflow files (or every *.yaml in directories); errors as file:line:col
    ///
    /// With --json: `{"ok": …, "workflows": [{"name", "version"}], "problems": [{"file",
    /// "line", "col", "message"}], "env": [NAME, …]}`, printed whether or not there are
    /// problems (the exit code is 1 when there are).
    Validate {
        /// Workflow files, or directories whose *.yaml and *.yml files are checked
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        print: Print,
    },
    /// Load new workflow versions into the running daemon: all the files or none
    ///
    /// Each file is validated as `tempi validate` does; any problem (file:line:col), or a
    /// version already loaded with other content, deploys nothing. A version loaded with
    /// the same content is unchanged. Running items keep the version they started on;
    /// `start` picks the newest. Deployments are journaled and survive a restart.
    Deploy {
        /// Workflow files, or directories of them (*.yaml, *.yml)
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        acting: Acting,
    },
    /// The loaded workflow versions, with the items in flight on each
    Workflows {
        /// `--json` prints `[{"name", "version", "in_flight"}, ...]`
        #[command(flatten)]
        print: Print,
    },
    /// Print the JSON Schema of workflow files, for editors (yaml-language-server)
    ///
    /// Generated from the keys the parser reads; `tempi validate` also checks what a
    /// schema cannot (the `needs` graph, `steps.X` reads, templates, limits).
    Schema,
    /// Start a work item
    ///
    /// With --json: `{"item", "task", "message", "seq"}` as for every acting verb, and
    /// the `workflow` and `version` the item runs (`version` null, with a warning, if
    /// the item could not be read back: it has started all the same).
    Start {
        /// The workflow to run, by name
        #[arg(value_parser = NonEmptyStringValueParser::new())]
        workflow: String,
        /// Input data: JSON text, or @FILE to read it from a file
        #[arg(long, value_name = "JSON|@FILE")]
        input: Option<String>,
        /// The item's priority: shown in listings, sorted and filtered on in the console
        #[arg(
            long,
            value_name = "N",
            default_value_t = 0,
            allow_negative_numbers = true
        )]
        priority: i32,
        /// Workflow version [default: the newest loaded]
        #[arg(long, value_name = "V")]
        version: Option<u32>,
        #[command(flatten)]
        acting: Acting,
    },
    /// One line for a status bar: items at risk, breached, and my open tasks
    Status {
        /// With tmux colours, and a short "tempi down" when the daemon is not running
        #[arg(long)]
        tmux: bool,
        /// The groups whose unclaimed tasks count as mine [default: config.toml's]
        #[arg(long, env = "TEMPI_GROUPS", value_name = "G,G", value_delimiter = ',')]
        groups: Vec<String>,
        #[command(flatten)]
        print: Print,
    },
    /// List work items (in flight unless --all or --status)
    Items {
        /// Only items in this state: running, waiting, incident, compensating, completed,
        /// failed or cancelled (ended ones too)
        #[arg(long, value_name = "S", value_parser = parse_status)]
        status: Option<ItemStatus>,
        /// Only items of this workflow; a name that is not loaded and matches no item is
        /// an error
        #[arg(long, value_name = "W", value_parser = NonEmptyStringValueParser::new())]
        workflow: Option<String>,
        /// Include ended items
        #[arg(long)]
        all: bool,
        /// Only items with this business key (ASCII case ignored; ended ones too)
        #[arg(long, value_name = "K")]
        key: Option<String>,
        /// Only items whose business key starts with this (ended ones too)
        #[arg(long, value_name = "P")]
        key_prefix: Option<String>,
        #[command(flatten)]
        page: Page,
        #[command(flatten)]
        print: Print,
    },
    /// One work item: steps, incident and audit trail
    Item {
        /// The item's id (`tempi items` lists them)
        id: ItemId,
        #[command(flatten)]
        print: Print,
    },
    /// The task inbox (open tasks unless --all)
    Tasks {
        /// Only tasks I (--as) may act on
        #[arg(long)]
        mine: bool,
        /// Include decided and cancelled tasks
        #[arg(long)]
        all: bool,
        #[command(flatten)]
        page: Page,
        #[command(flatten)]
        print: Print,
    },
    /// Approve a task (or choose one of its named options)
    Approve {
        /// The task's id (`tempi tasks` lists them)
        task: TaskId,
        /// The option to choose, for a task that offers named ones [default: approved]
        #[arg(long, value_name = "NAME")]
        option: Option<String>,
        /// A comment kept with the decision
        #[arg(long, value_name = "TEXT")]
        comment: Option<String>,
        /// A value for the task's form (repeatable); `tempi tasks --json` shows the form
        #[arg(long = "field", value_name = "NAME=VALUE")]
        fields: Vec<String>,
        #[command(flatten)]
        acting: Acting,
    },
    /// Reject a task
    Reject {
        /// The task's id (`tempi tasks` lists them)
        task: TaskId,
        /// A comment kept with the decision
        #[arg(long, value_name = "TEXT")]
        comment: Option<String>,
        /// A value for the task's form (repeatable)
        #[arg(long = "field", value_name = "NAME=VALUE")]
        fields: Vec<String>,
        #[command(flatten)]
        acting: Acting,
    },
    /// Claim a task for yourself
    Claim {
        /// The task's id (`tempi tasks` lists them)
        task: TaskId,
        #[command(flatten)]
        acting: Acting,
    },
    /// Give a task to another user or group
    Reassign {
        /// The task's id (`tempi tasks` lists them)
        task: TaskId,
        /// Who gets it: a user, or a group
        #[arg(value_name = "TO")]
        to: String,
        #[command(flatten)]
        acting: Acting,
    },
    /// Escalate a task to its next level (or to --to)
    Escalate {
        /// The task's id (`tempi tasks` lists them)
        task: TaskId,
        /// Escalate to this user or group instead of the next level
        #[arg(long, value_name = "WHO")]
        to: Option<String>,
        #[command(flatten)]
        acting: Acting,
    },
    /// Retry an incident's failed step (or re-run from --from)
    Retry {
        /// The item's id (`tempi items --status incident` lists incidents)
        item: ItemId,
        /// Run this step again, and every step that needs it (directly or not)
        #[arg(long, value_name = "STEP")]
        from: Option<String>,
        #[command(flatten)]
        acting: Acting,
    },
    /// Skip a step of an item (steps that need it are skipped with it)
    Skip {
        /// The item's id
        item: ItemId,
        /// The step's id (`tempi item ID` lists its steps)
        step: String,
        #[command(flatten)]
        acting: Acting,
    },
    /// Undo an item's completed steps in reverse order, then fail it
    Compensate {
        /// The item's id
        item: ItemId,
        #[command(flatten)]
        acting: Acting,
    },
    /// Cancel an item
    Cancel {
        /// The item's id
        item: ItemId,
        #[command(flatten)]
        acting: Acting,
    },
    /// Send a signal to an item waiting for it
    Signal {
        /// The item's id
        item: ItemId,
        /// The signal's name, as its `wait` step names it
        name: String,
        /// Signal data: JSON text, or @FILE. (Positional, because the global `--data`
        /// already names the data dir.)
        #[arg(value_name = "DATA")]
        payload: Option<String>,
        #[command(flatten)]
        acting: Acting,
    },
    /// The audit trail (journal records) of one item or all, or its hash chain verified
    ///
    /// With --json, a JSON array of records (with --follow: one record per line).
    /// --verify, --export, --anchor and --check read the journal file itself (a daemon may
    /// be running, or none) and exit 1 naming the first seq that does not verify; with
    /// --json they print `{"ok": true, "records", "tombstones", "head": {"seq", "hash"}}`
    /// or `{"ok": false, "break": {"seq", "problem", "message"}}` either way.
    Audit {
        /// Only this item's records [default: every record]
        item: Option<ItemId>,
        #[command(flatten)]
        print: Print,
        /// Keep printing records as they commit
        #[arg(long, conflicts_with = "limit")]
        follow: bool,
        /// Read the records retention archived in DIR (no daemon needed)
        #[arg(long, value_name = "DIR", conflicts_with = "follow")]
        archive: Option<PathBuf>,
        #[command(flatten)]
        page: Page,
        #[command(flatten)]
        chain: ChainArgs,
        /// With --verify or --check: the chain must pass through this anchor (SEQ:HASH,
        /// as --anchor printed it)
        #[arg(long, value_name = "SEQ:HASH", requires = "chain_mode", conflicts_with_all = ["anchor", "export"])]
        against: Option<store::verify::Anchor>,
    },
    /// Per workflow and in total: items started, completed, failed and cancelled, error
    /// rate, incidents, cycle time, SLA met, breaches and human wait, over a window
    Report {
        /// The window's start: a duration back from now (`7d`, `36h`), a date
        /// (`2026-11-01`, midnight UTC) or an RFC 3339 time [default: as far back as
        /// ended items are kept (the daemon's --retention); everything when kept forever]
        #[arg(long, value_name = "WHEN", value_parser = crate::types::report::parse_since)]
        since: Option<crate::types::report::Since>,
        /// `--json` prints {"since", "until", "workflows": [{"workflow", ...}], "total"}
        #[command(flatten)]
        print: Print,
    },
    /// Operators: who may act, with which role and groups (admins change it)
    Operator {
        #[command(subcommand)]
        op: operator::OperatorCmd,
    },
    /// The whole product at once: console, engine, sample workflows, a simulated estate
    Demo {
        /// Work items started per minute (change it live with + and -)
        #[arg(long, default_value_t = crate::demo::DEFAULT_RATE, value_name = "N")]
        rate: f64,
        /// Keep the demo's temporary data dir (and print where it is); a new or empty
        /// dir given with --data is used instead, and always kept
        #[arg(long)]
        keep: bool,
        /// Seed for the simulated estate and load
        #[arg(long, value_name = "N")]
        seed: Option<u64>,
        #[command(flatten)]
        ui: console::UiArgs,
    },
    /// The console on the engine of --data, in this process
    Console {
        #[command(flatten)]
        ui: console::UiArgs,
    },
    /// The console on a running `tempi serve` (found through --data, or at URL)
    Attach {
        /// The daemon's address [default: from --data's daemon.json, or TEMPI_URL]
        #[arg(value_name = "URL")]
        url: Option<String>,
        /// The daemon's token [default: --data's token file]
        #[arg(
            long,
            env = "TEMPI_TOKEN",
            value_name = "TOKEN",
            hide_env_values = true
        )]
        token: Option<String>,
        #[command(flatten)]
        ui: console::UiArgs,
    },
    /// Measure engine and console budgets on this machine
    Bench {
        #[command(flatten)]
        print: Print,
        /// Items to push through the engine
        #[arg(long, value_name = "N")]
        items: Option<u64>,
        /// Ended items behind the restart measurement (1000000 for the README's figures)
        #[arg(long, value_name = "N")]
        history_items: Option<u64>,
        /// Instead: run the engine at a steady rate for SECS seconds with a short retention,
        /// printing memory, journal size and rate every 10 s
        #[arg(long, value_name = "SECS", conflicts_with_all = ["console_only", "engine_only", "items", "history_items"])]
        soak: Option<u64>,
        /// With --soak: items started per second
        #[arg(long, value_name = "N", default_value_t = 1000, requires = "soak")]
        rate: u64,
        /// With --soak: how long ended items are kept
        #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_retention, requires = "soak")]
        retention: std::time::Duration,
        /// Only the console: frame time, bytes per tick, key-to-screen latency, attach at
        /// scale, bytes per decided task, what event-stream subscribers cost the engine
        #[arg(long, conflicts_with = "engine_only")]
        console_only: bool,
        /// Only the engine: throughput, step latency, restart, memory
        #[arg(long)]
        engine_only: bool,
    },
    /// Print a completion script for a shell
    ///
    /// bash: `source <(tempi completions bash)`, or save it as
    /// ~/.local/share/bash-completion/completions/tempi; zsh: save it as `_tempi` in a
    /// directory of $fpath; fish: save it as ~/.config/fish/completions/tempi.fish.
    Completions {
        /// The shell to complete for
        #[arg(value_enum, value_name = "SHELL")]
        shell: docs::Shell,
    },
    /// Print the man pages (roff) of tempi and every command: `tempi man | man -l -`
    Man {
        /// Write one page per command into DIR (tempi.1, tempi-start.1, …) instead
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

fn parse_status(s: &str) -> Result<ItemStatus, String> {
    ItemStatus::parse(s).ok_or_else(|| {
        "expected one of running, waiting, incident, compensating, completed, failed, cancelled"
            .to_string()
    })
}

/// Global options with their defaults resolved.
#[derive(Debug, Clone)]
pub struct Globals {
    pub data_dir: PathBuf,
    /// `--data` (or TEMPI_DATA) was given, not defaulted.
    pub data_given: bool,
    pub workflows_dir: Option<PathBuf>,
    /// Who the console and `--mine` take you for: `--as`, else the login user.
    pub user: String,
    /// `--as`, when given: the only time a client names an actor.
    pub acting_for: Option<String>,
}

impl Globals {
    fn resolve(cli: &Cli) -> Globals {
        let workflows_dir = cli.workflows.clone().or_else(|| {
            let local = PathBuf::from("workflows");
            local.is_dir().then_some(local)
        });
        let acting_for = cli.user.clone().filter(|u| !u.trim().is_empty());
        let user = acting_for
            .clone()
            .unwrap_or_else(crate::api::peer::login_name);
        Globals {
            data_dir: cli.data.clone().unwrap_or_else(store::default_data_dir),
            data_given: cli.data.is_some(),
            workflows_dir,
            user,
            acting_for,
        }
    }
}

/// The command line's definition with what derive cannot say: the exit codes after
/// `--help`.
pub fn command() -> clap::Command {
    Cli::command().after_help(exit::help())
}

/// Parse the process's arguments; a usage error exits 2 (help and version 0).
pub fn parse() -> Cli {
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// Run a parsed command line; errors are printed here, at the edge, with the exit code
/// [`exit::code_of`] gives them.
pub fn run(cli: Cli) -> ExitCode {
    let globals = Globals::resolve(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::ERROR);
        }
    };
    match runtime.block_on(dispatch(cli.command, &globals)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", crate::text::printable_lines(&chain(&e)));
            ExitCode::from(exit::code_of(&e))
        }
    }
}

/// An error and its causes as one message, each cause once: many errors already say
/// their source's text, and printing the chain again repeated it two or three times.
pub fn chain(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
    }
    text
}

async fn dispatch(cmd: Cmd, g: &Globals) -> anyhow::Result<ExitCode> {
    match cmd {
        Cmd::Serve {
            listen,
            retention,
            archive,
            pass_env,
            socket,
            socket_group,
            print,
        } => {
            let flags = act::ServeFlags {
                listen,
                retention,
                archive,
                pass_env,
                socket,
                socket_group,
                json: print.json,
            };
            act::serve(g, flags).await?
        }
        Cmd::Validate { paths, print } => return Ok(validate::run(&paths, print.json)),
        Cmd::Deploy { paths, acting } => {
            return deploy::deploy(g, &paths, acting.print.json, acting.reason.as_deref()).await;
        }
        Cmd::Workflows { print } => deploy::workflows(g, print.json).await?,
        Cmd::Schema => println!(
            "{}",
            serde_json::to_string_pretty(&crate::definition::schema::workflow())?
        ),
        Cmd::Bench {
            print,
            soak: Some(secs),
            rate,
            retention,
            ..
        } => bench::soak(print.json, secs, rate, retention).await?,
        Cmd::Bench {
            print,
            items,
            history_items,
            console_only,
            engine_only,
            ..
        } => {
            let (engine, console) = (!console_only, !engine_only);
            bench::run(print.json, items, history_items, engine, console).await?
        }
        Cmd::Completions { shell } => docs::completions(shell)?,
        Cmd::Man { dir } => docs::man(dir.as_deref())?,
        Cmd::Demo {
            rate,
            keep,
            seed,
            ui,
        } => console::demo(g, &ui, rate, keep, seed).await?,
        Cmd::Console { ui } => console::embedded(g, &ui).await?,
        Cmd::Attach { url, token, ui } => console::attach(g, &ui, url, token).await?,
        Cmd::Items {
            status,
            workflow,
            all,
            key,
            key_prefix,
            page,
            print,
        } => {
            // A business key is looked up wherever the item is: in flight or ended.
            let by_key = key.is_some() || key_prefix.is_some();
            let filter = ItemFilter {
                active: !all && !by_key && status.is_none(),
                status,
                workflow,
                key,
                key_prefix,
                limit: page.limit.map(|n| n as usize),
                after: page.after,
                ..Default::default()
            };
            show::items(g, filter, print.json).await?
        }
        Cmd::Item { id, print } => show::item(g, id, print.json).await?,
        Cmd::Report { since, print } => report::run(g, since, print.json).await?,
        Cmd::Operator { op } => operator::run(g, op).await?,
        Cmd::Status {
            tmux,
            groups,
            print,
        } => {
            return Ok(status::run(g, &groups, tmux, print.json).await);
        }
        Cmd::Tasks {
            mine,
            all,
            page,
            print,
        } => show::tasks(g, mine, all, page, print.json).await?,
        Cmd::Audit {
            print,
            chain,
            against,
            ..
        } if chain.mode().is_some() => {
            let mode = chain.mode().unwrap_or(audit::Mode::Verify);
            return Ok(audit::run(g, mode, against, print.json));
        }
        Cmd::Audit {
            item,
            print,
            archive: Some(dir),
            page,
            ..
        } => show::archived(&dir, item, print.json, page)?,
        Cmd::Audit {
            item,
            print,
            follow,
            page,
            ..
        } => show::audit(g, item, print.json, follow, page).await?,
        other => act::run(g, other).await?,
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command of the tree by its path (`start`; a nested one as `group sub`).
    fn every_command() -> Vec<(String, clap::Command)> {
        let mut root = command();
        root.build();
        let mut out = Vec::new();
        let mut todo: Vec<(String, clap::Command)> = vec![(String::new(), root)];
        while let Some((path, cmd)) = todo.pop() {
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                let name = format!("{path} {}", sub.get_name()).trim().to_string();
                todo.push((name, sub.clone()));
            }
            out.push((path, cmd));
        }
        out
    }

    #[test]
    fn every_argument_and_command_says_what_it_is_for() {
        let mut missing = Vec::new();
        for (path, cmd) in every_command() {
            if cmd
                .get_about()
                .is_none_or(|a| a.to_string().trim().is_empty())
            {
                missing.push(format!("tempi {path}"));
            }
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") && path.is_empty() || id == "help" {
                    continue; // clap's own
                }
                let help = arg.get_help().or(arg.get_long_help());
                if help.is_none_or(|h| h.to_string().trim().is_empty()) {
                    missing.push(format!("tempi {path}: {id}"));
                }
            }
        }
        assert!(missing.is_empty(), "without help: {missing:#?}");
    }

    /// The commands that print nothing to read (a screen), or whose output has a format of
    /// its own (a completion script, roff).
    const NO_JSON: [&str; 6] = ["demo", "console", "attach", "completions", "man", "schema"];

    #[test]
    fn every_command_that_prints_has_json_the_same_way() {
        let mut without = Vec::new();
        for (path, cmd) in every_command() {
            if path.is_empty() || cmd.has_subcommands() || NO_JSON.contains(&path.as_str()) {
                continue;
            }
            let json = cmd.get_arguments().find(|a| a.get_id() == "json");
            match json {
                Some(arg) => {
                    assert_eq!(arg.get_long(), Some("json"), "tempi {path}");
                    assert!(!arg.get_action().takes_values(), "tempi {path}: a switch");
                    let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                    assert!(
                        help.starts_with("Print JSON on stdout"),
                        "tempi {path}: {help}"
                    );
                }
                None => without.push(path),
            }
        }
        assert!(without.is_empty(), "no --json: {without:?}");
        // And the exceptions are real commands that do not have it.
        for name in NO_JSON {
            let cmd = command();
            let sub = cmd.find_subcommand(name).expect(name);
            assert!(!sub.get_arguments().any(|a| a.get_id() == "json"), "{name}");
        }
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        <Cli as clap::CommandFactory>::command().debug_assert();
        // Globals propagate only on use: parse every subcommand once.
        for args in [
            &["serve"][..],
            &["serve", "--pass-env", "A,B", "--pass-env", "C"],
            &["signal", "1", "go", "{}"],
            &["start", "w", "--version", "2"],
            &["deploy", "a.yaml", "dir", "--json", "--reason", "v4"],
            &["workflows", "--json"],
        ] {
            let argv = std::iter::once("tempi").chain(args.iter().copied());
            assert!(Cli::try_parse_from(argv).is_ok(), "{args:?}");
        }
    }

    #[test]
    fn pass_env_is_comma_separated_and_repeatable() {
        let argv = ["tempi", "serve", "--pass-env", "A,B", "--pass-env", "C"];
        match Cli::try_parse_from(argv).unwrap().command {
            Cmd::Serve {
                pass_env, listen, ..
            } => {
                assert_eq!(pass_env, ["A", "B", "C"]);
                assert_eq!(listen, None, "unset, so config.toml can set it");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn approve_takes_an_option_and_a_reason() {
        let cli = Cli::try_parse_from([
            "tempi", "--as", "ann", "approve", "7", "--option", "net30", "--reason", "ok",
        ])
        .unwrap();
        match cli.command {
            Cmd::Approve {
                task: 7,
                option: Some(o),
                acting,
                ..
            } => {
                assert_eq!(o, "net30");
                assert_eq!(acting.reason.as_deref(), Some("ok"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(cli.user.as_deref(), Some("ann"));
    }
}
