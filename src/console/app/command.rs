//! `:` command mode: the long forms of the keys plus what has no key (start, signal,
//! theme, load rate, inbox scope).

use serde_json::Value;

use super::sort::{Order, SortKey};
use super::{App, Effect, Pane, PickFor, Scope, ToastKind};
use crate::console::keymap::Action;
use crate::console::theme::builtin_names;
use crate::types::{Command, ItemId, TaskId};

/// Every command, for `:help` and for the error on a typo.
pub const COMMANDS: &[(&str, &str)] = &[
    ("items | sla | inbox | events", "focus a pane"),
    ("filter TEXT", "filter the lists (same as /)"),
    ("mine | groups | all", "whose tasks the inbox shows"),
    (
        "sort [-]COLUMN",
        "sort the focused pane (- reverses); no column lists them",
    ),
    (
        "columns [-NAME] [+NAME] [all]",
        "hide or show the focused pane's columns",
    ),
    (
        "approve [OPTION] | reject [COMMENT]",
        "decide the selected tasks",
    ),
    (
        "claim | escalate | reassign TO",
        "act on the selected tasks",
    ),
    ("retry [from STEP] | skip STEP", "act on the selected item"),
    (
        "cancel | compensate",
        "act on the selected items (asks first)",
    ),
    ("signal NAME [JSON]", "send a signal to the selected item"),
    ("item N", "the detail of item N, in flight or ended"),
    ("task N", "task N in the inbox, the cursor on it"),
    ("start WORKFLOW [JSON]", "start a work item"),
    ("theme [NAME]", "switch theme (no name: pick one)"),
    ("rate N", "demo load in items per minute"),
    ("messages", "every message and bulk result so far"),
    ("incidents", "incidents grouped by cause, to act on a group"),
    (
        "report [SINCE]",
        "figures per workflow: cycle time, errors, SLA met (7d, 2026-11-01)",
    ),
    (
        "workflows",
        "loaded workflow versions and the items in flight on each",
    ),
    ("help", "keys and commands"),
    ("quit | q", "leave the console"),
];

fn json_arg(text: &str) -> Result<Value, String> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_str(text).map_err(|e| format!("'{text}' is not JSON: {e}"))
}

impl App {
    pub(super) fn command(&mut self, line: &str) -> Vec<Effect> {
        let line = line.trim();
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        let rest = rest.trim();
        match verb {
            "" => vec![],
            "q" | "quit" | "exit" => {
                self.quit = true;
                vec![Effect::Quit]
            }
            "items" | "sla" | "inbox" | "events" => {
                self.focus = match verb {
                    "items" => Pane::Items,
                    "sla" => Pane::Sla,
                    "inbox" => Pane::Inbox,
                    _ => Pane::Events,
                };
                self.detail = None;
                vec![Effect::Detail(None)]
            }
            "filter" => {
                self.set_filter(rest, true);
                self.find_history()
            }
            "mine" | "groups" | "all" => {
                self.scope = match verb {
                    "mine" => Scope::Mine,
                    "groups" => Scope::Groups,
                    _ => Scope::All,
                };
                self.refresh_views();
                self.focus = Pane::Inbox;
                vec![]
            }
            "incidents" => {
                self.open_incidents();
                vec![]
            }
            "report" | "kpi" => self.open_report(rest),
            "workflows" => {
                self.open_workflows();
                vec![]
            }
            "messages" | "msgs" => {
                self.mode = super::Mode::Messages { scroll: 0 };
                vec![]
            }
            "sort" => {
                self.sort_command(rest);
                vec![]
            }
            "columns" | "cols" => {
                self.columns_command(rest);
                vec![]
            }
            "help" => {
                self.mode = super::Mode::Help { scroll: 0 };
                vec![]
            }
            "theme" if rest.is_empty() => {
                let names = builtin_names().iter().map(|s| s.to_string()).collect();
                self.pick("Theme".into(), names, PickFor::Theme)
            }
            "theme" => {
                self.set_theme(rest);
                vec![]
            }
            "rate" => match rest.parse::<f64>() {
                Ok(r) if r.is_finite() && r >= 0.0 => self.set_rate(r),
                _ => self.fail(format!(
                    "rate: '{rest}' is not a number of items per minute"
                )),
            },
            "start" => self.start(rest),
            "signal" => self.signal(rest),
            "item" => match rest.trim_start_matches('#').parse::<ItemId>() {
                // Fetched from the engine, so items the mirror no longer holds are found.
                Ok(id) => self.show_detail(id),
                Err(_) => self.fail(format!(
                    ":item needs an item id, as in :item 42, not '{rest}'"
                )),
            },
            "task" => match rest.trim_start_matches('#').parse::<TaskId>() {
                Ok(id) => self.show_task(id),
                Err(_) => self.fail(format!(
                    ":task needs a task id, as in :task 7, not '{rest}'"
                )),
            },
            _ => self.item_or_task_command(verb, rest),
        }
    }

    /// `q`: the demo asks first (its data is thrown away); a console quits at once, as
    /// htop does, since everything it shows stays in the engine.
    pub(super) fn quit_key(&mut self) -> Vec<Effect> {
        if self.opts.rate.is_some() {
            self.mode = super::Mode::QuitDemo;
            return vec![];
        }
        self.quit = true;
        vec![Effect::Quit]
    }

    /// The answer to "Quit the demo?": y, Enter or q again quit; n or Esc stay.
    pub(super) fn quit_demo_key(&mut self, key: crossterm::event::KeyEvent) -> Vec<Effect> {
        use crossterm::event::KeyCode;
        match key.code {
            KeyCode::Char('y' | 'Y' | 'q') | KeyCode::Enter => {
                self.quit = true;
                vec![Effect::Quit]
            }
            KeyCode::Char('n' | 'N') | KeyCode::Esc => vec![],
            _ => {
                self.mode = super::Mode::QuitDemo;
                vec![]
            }
        }
    }

    /// Put the inbox's cursor on an open task, widening the scope and clearing the
    /// filter if they hide it: an approver asking for task N wants to act on it.
    fn show_task(&mut self, id: TaskId) -> Vec<Effect> {
        if !self.model.tasks.iter().any(|t| t.id == id) {
            return self.fail(format!(
                "task {id} is not open (decided, cancelled or never made); :item N shows an item's tasks"
            ));
        }
        let mut effects = self.close_detail();
        self.focus = Pane::Inbox;
        if self.row_of(Pane::Inbox, id).is_none() && self.scope != Scope::All {
            self.scope = Scope::All;
            self.refresh_views();
            self.toast(ToastKind::Ok, "inbox: all");
        }
        if self.row_of(Pane::Inbox, id).is_none() && !self.filter.is_empty() {
            self.set_filter("", true);
            self.toast(ToastKind::Ok, format!("filter cleared to show task {id}"));
            effects.extend(self.find_history());
        }
        if let Some(row) = self.row_of(Pane::Inbox, id) {
            self.list_mut(Pane::Inbox).cursor = row;
        }
        effects
    }

    pub(super) fn fail(&mut self, text: String) -> Vec<Effect> {
        self.toast(ToastKind::Error, text);
        vec![]
    }

    fn item_or_task_command(&mut self, verb: &str, rest: &str) -> Vec<Effect> {
        let action = match verb {
            "approve" if !rest.is_empty() => return self.decide_as(rest),
            "reject" if !rest.is_empty() => return self.reject_with(rest),
            "reassign" if !rest.is_empty() => return self.reassign_to(rest),
            "retry" if !rest.is_empty() => return self.retry_from(rest),
            "skip" if !rest.is_empty() => return self.skip_named(rest),
            "approve" => Action::Approve,
            "reject" => Action::Reject,
            "claim" => Action::Claim,
            "escalate" => Action::Escalate,
            "reassign" => Action::Reassign,
            "retry" => Action::Retry,
            "skip" => Action::Skip,
            "cancel" => Action::Cancel,
            "compensate" => Action::Compensate,
            _ => return self.fail(format!("unknown command '{verb}'; try :help")),
        };
        self.act(action)
    }

    /// In read-only mode, say so and refuse.
    pub(super) fn guarded(&mut self, what: &str) -> bool {
        if self.opts.read_only {
            self.toast(
                ToastKind::Error,
                format!("read-only: {what} is disabled (the console was started with --read-only)"),
            );
        }
        self.opts.read_only
    }

    fn task_ids(&mut self, what: &str) -> Option<Vec<u64>> {
        if self.guarded(what) {
            return None;
        }
        let ids: Vec<u64> = self.target_tasks().iter().map(|t| t.id).collect();
        if ids.is_empty() {
            self.toast(
                ToastKind::Error,
                format!("nothing to {what}: select a task"),
            );
            return None;
        }
        Some(ids)
    }

    fn decide_as(&mut self, option: &str) -> Vec<Effect> {
        let Some(ids) = self.task_ids("approve") else {
            return vec![];
        };
        let pending = super::actions::decide(&ids, option, None);
        self.send_or_confirm(format!("Decide {} tasks as {option}?", ids.len()), pending)
    }

    fn reject_with(&mut self, comment: &str) -> Vec<Effect> {
        let Some(ids) = self.task_ids("reject") else {
            return vec![];
        };
        let pending = super::actions::decide(&ids, "rejected", Some(comment.to_string()));
        self.send_or_confirm(format!("Reject {} tasks?", ids.len()), pending)
    }

    fn reassign_to(&mut self, to: &str) -> Vec<Effect> {
        let Some(ids) = self.task_ids("reassign") else {
            return vec![];
        };
        let pending = super::actions::reassign(&ids, to);
        self.send_or_confirm(format!("Reassign {} tasks to {to}?", ids.len()), pending)
    }

    /// One command goes at once; several ask first, like the keys do.
    fn send_or_confirm(&mut self, question: String, pending: Vec<super::Pending>) -> Vec<Effect> {
        if pending.len() > 1 {
            return self.confirm(question, pending);
        }
        self.clear_marks();
        vec![Effect::Act(pending)]
    }

    fn one_item(&mut self, what: &str) -> Option<u64> {
        if self.guarded(what) {
            return None;
        }
        match self.target_items().as_slice() {
            [one] => Some(*one),
            [] => {
                self.toast(
                    ToastKind::Error,
                    format!("nothing to {what}: select an item"),
                );
                None
            }
            _ => {
                self.toast(
                    ToastKind::Error,
                    format!("{what} acts on one item at a time"),
                );
                None
            }
        }
    }

    fn retry_from(&mut self, rest: &str) -> Vec<Effect> {
        let step = rest
            .strip_prefix("from ")
            .unwrap_or(rest)
            .trim()
            .to_string();
        let Some(item) = self.one_item("retry") else {
            return vec![];
        };
        vec![Effect::Act(vec![super::Pending {
            label: format!("item {item}"),
            cmd: Command::Retry {
                item,
                from: Some(step),
            },
        }])]
    }

    fn skip_named(&mut self, step: &str) -> Vec<Effect> {
        let Some(item) = self.one_item("skip") else {
            return vec![];
        };
        self.confirm(
            format!("Skip step {step} of item {item}? Steps that need it are skipped too, unless they have a `when`."),
            super::actions::skip(item, step),
        )
    }

    fn signal(&mut self, rest: &str) -> Vec<Effect> {
        let (name, data) = rest.split_once(' ').unwrap_or((rest, ""));
        if name.is_empty() {
            return self
                .fail("signal: give a name, as in :signal payment-received {\"ok\":true}".into());
        }
        let data = match json_arg(data) {
            Ok(d) => d,
            Err(e) => return self.fail(format!("signal: {e}")),
        };
        let Some(item) = self.one_item("signal") else {
            return vec![];
        };
        vec![Effect::Act(vec![super::Pending {
            label: format!("item {item}"),
            cmd: Command::Signal {
                item,
                name: name.to_string(),
                data,
            },
        }])]
    }

    fn start(&mut self, rest: &str) -> Vec<Effect> {
        let (workflow, input) = rest.split_once(' ').unwrap_or((rest, ""));
        if workflow.is_empty() {
            let known = self.model.workflows.join(", ");
            return self.fail(format!("start: name a workflow ({known})"));
        }
        let input = match json_arg(input) {
            Ok(v) => v,
            Err(e) => return self.fail(format!("start: {e}")),
        };
        if self.guarded("start") {
            return vec![];
        }
        vec![Effect::Act(vec![super::Pending {
            label: format!("start {workflow}"),
            cmd: Command::Start {
                workflow: workflow.to_string(),
                version: None,
                input,
                priority: 0,
                since: None,
            },
        }])]
    }

    /// `:sort priority`, `:sort -due`; a bare `:sort` says what the pane sorts on.
    fn sort_command(&mut self, rest: &str) {
        let pane = self.focus;
        let choices = SortKey::choices(pane);
        let names: Vec<&str> = choices.iter().map(|k| k.name()).collect();
        if choices.is_empty() {
            self.toast(
                ToastKind::Error,
                "nothing to sort here: the events log is in the journal's order",
            );
            return;
        }
        let (reverse, name) = match rest.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, rest),
        };
        match SortKey::parse(name).filter(|k| choices.contains(k)) {
            Some(key) => self.set_order(pane, Order { key, reverse }),
            None if name.is_empty() => self.toast(
                ToastKind::Ok,
                format!(
                    "{} sorts by {}",
                    pane.title().to_lowercase(),
                    names.join(", ")
                ),
            ),
            None => self.toast(
                ToastKind::Error,
                format!(
                    "{} cannot sort by '{name}'; use {}",
                    pane.title().to_lowercase(),
                    names.join(", ")
                ),
            ),
        }
    }
}
