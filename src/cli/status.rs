//! `tempi status`: one line for a status bar (at risk, breached, my tasks), fast and
//! never more than a line, even when the daemon is down.

use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;

use super::Globals;
use super::daemon::Daemon;
use crate::types::view::{Metrics, TaskFilter, TaskView};

/// A status bar runs this every few seconds: it must not hang on a stuck daemon.
const DEADLINE: Duration = Duration::from_secs(3);

/// What the line says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub at_risk: u64,
    pub breached: u64,
    /// Open tasks for the caller: assigned to or claimed by them, or unclaimed in one
    /// of their groups (as the console's "my groups" inbox).
    pub my_tasks: u64,
    pub in_flight: u64,
    pub incidents: u64,
}

impl Summary {
    fn of(m: &Metrics, my_tasks: u64) -> Summary {
        Summary {
            at_risk: m.at_risk,
            breached: m.breached,
            my_tasks,
            in_flight: m.in_flight,
            incidents: m.incidents,
        }
    }

    /// `at risk 3 · breached 1 · my tasks 2`, with tmux colours where a number needs
    /// attention when `tmux`.
    pub fn line(&self, tmux: bool) -> String {
        let part = |label: &str, n: u64, colour: &str| match tmux && n > 0 {
            true => format!("#[fg={colour},bold]{label} {n}#[default]"),
            false => format!("{label} {n}"),
        };
        [
            part("at risk", self.at_risk, "yellow"),
            part("breached", self.breached, "red"),
            part("my tasks", self.my_tasks, "cyan"),
        ]
        .join(" · ")
    }
}

/// The first line of an error, clipped: a status bar has room for no more.
fn short(e: &anyhow::Error) -> String {
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    crate::text::clip(&crate::text::printable(first), 80)
}

/// Print the summary; one short line when the daemon cannot be asked, exit 3 (1 when it
/// answered with an error).
pub async fn run(g: &Globals, groups: &[String], tmux: bool, json: bool) -> ExitCode {
    match tokio::time::timeout(DEADLINE, fetch(g, groups)).await {
        Ok(Ok(s)) if json => match serde_json::to_string(&s) {
            Ok(text) => {
                println!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => down(tmux, &e.into(), super::exit::ERROR),
        },
        Ok(Ok(s)) => {
            println!("{}", s.line(tmux));
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => down(tmux, &e, super::exit::code_of(&e)),
        Err(_) => {
            let late = anyhow::anyhow!("the daemon did not answer within 3 s");
            down(tmux, &late, super::exit::NO_DAEMON)
        }
    }
}

/// In a tmux status line the output is all anyone sees, so it goes to stdout there.
fn down(tmux: bool, e: &anyhow::Error, code: u8) -> ExitCode {
    match tmux {
        true => println!("#[fg=red]tempi down#[default]"),
        false => eprintln!("tempi: {}", short(e)),
    }
    ExitCode::from(code)
}

/// Whether an open task is the caller's, or their groups' and nobody's yet.
fn is_mine(t: &TaskView, me: &str, groups: &[String]) -> bool {
    let taken = t.assignee.is_some() || t.claimed_by.is_some();
    t.assignee.as_deref() == Some(me)
        || t.claimed_by.as_deref() == Some(me)
        || (!taken && t.group.as_ref().is_some_and(|g| groups.contains(g)))
}

/// The counters and the open tasks, asked for at once.
async fn fetch(g: &Globals, groups: &[String]) -> anyhow::Result<Summary> {
    let daemon = Daemon::connect(g)?;
    let groups = match groups {
        [] => super::config::Config::load_for_client(&g.data_dir)?.groups,
        given => given.to_vec(),
    };
    let open = TaskFilter::default();
    let (metrics, tasks, who) = tokio::join!(
        daemon.client.metrics(),
        daemon.client.tasks(&open),
        daemon.client.whoami()
    );
    let metrics = metrics.map_err(|e| daemon.explain(e))?;
    let tasks = tasks.map_err(|e| daemon.explain(e))?;
    // Who I am and my groups as the directory has them (--groups for someone it does
    // not hold).
    let (me, groups) = match who {
        Ok(w) if !w.groups.is_empty() => (w.name, w.groups),
        Ok(w) => (w.name, groups),
        Err(_) => (daemon.me.clone(), groups),
    };
    let mine = tasks.iter().filter(|t| is_mine(t, &me, &groups)).count();
    Ok(Summary::of(&metrics, mine as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_coloured_only_where_it_matters() {
        let s = Summary {
            at_risk: 3,
            breached: 0,
            my_tasks: 2,
            in_flight: 10,
            incidents: 1,
        };
        assert_eq!(s.line(false), "at risk 3 · breached 0 · my tasks 2");
        assert_eq!(
            s.line(true),
            "#[fg=yellow,bold]at risk 3#[default] · breached 0 · #[fg=cyan,bold]my tasks 2#[default]"
        );
    }

    #[test]
    fn an_error_is_cut_to_one_clean_line() {
        let e = anyhow::anyhow!("cannot reach\x1b[2J http://x\nmore detail");
        assert_eq!(short(&e), "cannot reach [2J http://x");
    }
}
