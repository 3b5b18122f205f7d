//! Operator actions: which items or tasks a key acts on (marks first, then the cursor),
//! and the engine commands it becomes; destructive and bulk actions confirm first.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::input::Input;
use super::{App, Effect, Mode, Pane, PickFor, Picker, ToastKind};
use crate::console::keymap::Action;
use crate::text::thousands;
use crate::types::view::{ItemStatus, ItemSummary, TaskView};
use crate::types::{Command, ItemId, TaskId};

/// One command waiting to be sent, with what to call it in a toast.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub label: String,
    pub cmd: Command,
}

pub fn decide(tasks: &[TaskId], decision: &str, comment: Option<String>) -> Vec<Pending> {
    tasks
        .iter()
        .flat_map(|&task| decide_with(task, decision, comment.clone(), None))
        .collect()
}

/// One decision with the values of the task's form.
pub fn decide_with(
    task: TaskId,
    decision: &str,
    comment: Option<String>,
    fields: Option<Map<String, Value>>,
) -> Vec<Pending> {
    vec![Pending {
        label: format!("task {task}"),
        cmd: Command::Decide {
            task,
            decision: decision.to_string(),
            comment,
            fields,
        },
    }]
}

/// The options every one of `tasks` offers, in the order the first declares them.
fn common_options(tasks: &[TaskView]) -> Vec<String> {
    let Some((first, rest)) = tasks.split_first() else {
        return Vec::new();
    };
    first
        .options
        .iter()
        .filter(|o| rest.iter().all(|t| t.options.contains(o)))
        .cloned()
        .collect()
}

/// Only approve and reject: `a` decides at once, with no picker.
fn plain_options(options: &[String]) -> bool {
    options.len() <= 2 && options.iter().all(|o| o == "approved" || o == "rejected")
}

pub fn reassign(tasks: &[TaskId], to: &str) -> Vec<Pending> {
    tasks
        .iter()
        .map(|&task| Pending {
            label: format!("task {task}"),
            cmd: Command::Reassign {
                task,
                to: to.to_string(),
            },
        })
        .collect()
}

pub fn skip(item: ItemId, step: &str) -> Vec<Pending> {
    vec![Pending {
        label: format!("item {item}"),
        cmd: Command::Skip {
            item,
            step: step.to_string(),
        },
    }]
}

/// Why an item action cannot apply to an item: the state that stops it.
fn refusal(action: Action, it: &ItemSummary) -> Option<&'static str> {
    let ended = it.status.is_final();
    match action {
        Action::Retry if it.status != ItemStatus::Incident => Some(it.status.name()),
        Action::Cancel | Action::Compensate if ended => Some(it.status.name()),
        Action::Compensate if it.status == ItemStatus::Compensating => Some("compensating"),
        _ => None,
    }
}

pub(super) fn per_item(items: &[ItemId], make: impl Fn(ItemId) -> Command) -> Vec<Pending> {
    items
        .iter()
        .map(|&item| Pending {
            label: format!("item {item}"),
            cmd: make(item),
        })
        .collect()
}

fn per_task(tasks: &[TaskId], make: impl Fn(TaskId) -> Command) -> Vec<Pending> {
    tasks
        .iter()
        .map(|&task| Pending {
            label: format!("task {task}"),
            cmd: make(task),
        })
        .collect()
}

/// "item 4" or "3 items (4, 5, 9)".
fn name_all(what: &str, ids: &[u64]) -> String {
    match ids {
        [one] => format!("{what} {one}"),
        _ => {
            let shown: Vec<String> = ids.iter().take(6).map(|i| i.to_string()).collect();
            let more = if ids.len() > 6 { ", …" } else { "" };
            format!("{} {what}s ({}{more})", ids.len(), shown.join(", "))
        }
    }
}

impl App {
    /// Items an item action applies to: the open detail, else marks, else the cursor.
    pub(super) fn target_items(&self) -> Vec<ItemId> {
        if let Some(d) = &self.detail {
            return vec![d.id];
        }
        let marks = &self.list(self.focus).marks;
        match self.focus {
            Pane::Items | Pane::Sla if !marks.is_empty() => marks.iter().copied().collect(),
            Pane::Inbox if !marks.is_empty() => {
                let items: BTreeSet<ItemId> = self
                    .model
                    .tasks
                    .iter()
                    .filter(|t| marks.contains(&t.id))
                    .map(|t| t.item)
                    .collect();
                items.into_iter().collect()
            }
            _ => self.cursor_item().into_iter().collect(),
        }
    }

    /// Open tasks a task action applies to: marked or selected in the inbox, else the
    /// open tasks of the target items.
    pub(super) fn target_tasks(&self) -> Vec<&TaskView> {
        if self.focus == Pane::Inbox && self.detail.is_none() {
            let marks = &self.list(Pane::Inbox).marks;
            if marks.is_empty() {
                return self
                    .task_at(self.list(Pane::Inbox).cursor)
                    .into_iter()
                    .collect();
            }
            return self
                .model
                .tasks
                .iter()
                .filter(|t| marks.contains(&t.id))
                .collect();
        }
        let items = self.target_items();
        self.model
            .tasks
            .iter()
            .filter(|t| items.contains(&t.item))
            .collect()
    }

    pub(super) fn act(&mut self, action: Action) -> Vec<Effect> {
        if self.guarded(action.name()) {
            return vec![];
        }
        match action {
            Action::Approve
            | Action::Reject
            | Action::Claim
            | Action::Reassign
            | Action::Escalate => self.act_on_tasks(action),
            _ => self.act_on_items(action),
        }
    }

    fn act_on_tasks(&mut self, action: Action) -> Vec<Effect> {
        let tasks: Vec<TaskView> = self.target_tasks().into_iter().cloned().collect();
        if tasks.is_empty() {
            self.toast(
                ToastKind::Error,
                format!(
                    "nothing to {}: select a task in the inbox, or an item waiting on one",
                    action.name()
                ),
            );
            return vec![];
        }
        let ids: Vec<TaskId> = tasks.iter().map(|t| t.id).collect();
        let who = name_all("task", &ids);
        let pending = match action {
            Action::Approve => return self.approve(&tasks, &who),
            Action::Reject if matches!(tasks.as_slice(), [t] if !t.form.is_empty()) => {
                return self.open_form(&tasks[0], "rejected");
            }
            Action::Reject => {
                self.mode = Mode::Comment {
                    tasks: ids,
                    input: Input::default(),
                };
                return vec![];
            }
            Action::Claim => per_task(&ids, |task| Command::Claim { task }),
            Action::Escalate => per_task(&ids, |task| Command::Escalate { task, to: None }),
            _ => {
                let choices = self.people_and_groups();
                return self.pick(
                    format!("Reassign {who} to"),
                    choices,
                    PickFor::Reassign(ids),
                );
            }
        };
        self.maybe_confirm(action, &who, pending)
    }

    /// `a`: approve at once where approve and reject are all a task offers; otherwise
    /// pick one of its options (those all marked tasks share, for several), and fill in
    /// its form where it has one.
    fn approve(&mut self, tasks: &[TaskView], who: &str) -> Vec<Effect> {
        let ids: Vec<TaskId> = tasks.iter().map(|t| t.id).collect();
        if let [t] = tasks {
            if !plain_options(&t.options) {
                return self.pick(
                    format!("Decide task {}", t.id),
                    t.options.clone(),
                    PickFor::Decide(ids),
                );
            }
            if !t.form.is_empty() {
                return self.open_form(t, "approved");
            }
        }
        if tasks.len() > 1
            && let Some(t) = tasks.iter().find(|t| !t.form.is_empty())
        {
            self.toast(
                ToastKind::Error,
                format!("task {} has a form: decide it on its own", t.id),
            );
            return vec![];
        }
        let common = common_options(tasks);
        if common.is_empty() {
            self.toast(
                ToastKind::Error,
                format!("{who} share no option: decide them one at a time"),
            );
            return vec![];
        }
        if !plain_options(&common) || !common.iter().any(|o| o == "approved") {
            return self.pick(format!("Decide {who}"), common, PickFor::Decide(ids));
        }
        let pending = decide(&ids, "approved", None);
        self.maybe_confirm(Action::Approve, who, pending)
    }

    /// The option picked for `tasks`: its form next, else a confirm for a rejection or
    /// for several tasks, else the decision.
    pub(super) fn decided(&mut self, tasks: Vec<TaskId>, choice: String) -> Vec<Effect> {
        let views: Vec<TaskView> = self
            .model
            .tasks
            .iter()
            .filter(|t| tasks.contains(&t.id))
            .cloned()
            .collect();
        if let [t] = views.as_slice()
            && !t.form.is_empty()
        {
            return self.open_form(t, &choice);
        }
        let who = name_all("task", &tasks);
        let pending = decide(&tasks, &choice, None);
        if choice == "rejected" || tasks.len() > 1 {
            return self.confirm(format!("Decide {who}: {choice}?"), pending);
        }
        self.clear_marks();
        vec![Effect::Act(pending)]
    }

    fn act_on_items(&mut self, action: Action) -> Vec<Effect> {
        let targets = self.target_items();
        if targets.is_empty() {
            self.toast(
                ToastKind::Error,
                format!("nothing to {}: select an item", action.name()),
            );
            return vec![];
        }
        if action == Action::Skip {
            return self.skip_step(&targets);
        }
        let Some((items, left_out)) = self.applicable(action, &targets) else {
            return vec![];
        };
        let who = name_all("item", &items);
        let ask = match action {
            Action::Retry => format!("Retry {who}?"),
            Action::Cancel => {
                format!("Cancel {who}? Running steps are stopped and nothing is undone.")
            }
            _ => format!("Compensate {who}? Completed steps are undone in reverse order."),
        };
        let pending = per_item(&items, |item| match action {
            Action::Retry => Command::Retry { item, from: None },
            Action::Cancel => Command::Cancel { item },
            _ => Command::Compensate { item },
        });
        match (action, left_out) {
            (Action::Retry, None) => self.maybe_confirm(action, &who, pending),
            (_, None) => self.confirm(ask, pending),
            (_, Some(why)) => self.confirm(format!("{ask} {why}"), pending),
        }
    }

    /// The marked items an action can apply to, judged from their summaries (the engine
    /// has the last word), and a sentence on the rest; `None` (after saying why) when it
    /// applies to none. A single target always goes to the engine, which says why not.
    fn applicable(
        &mut self,
        action: Action,
        targets: &[ItemId],
    ) -> Option<(Vec<ItemId>, Option<String>)> {
        if targets.len() == 1 {
            return Some((targets.to_vec(), None));
        }
        let mut fit = Vec::new();
        let mut refused: BTreeMap<&'static str, u64> = BTreeMap::new();
        for &id in targets {
            match self.model.items.get(&id).and_then(|it| refusal(action, it)) {
                Some(state) => *refused.entry(state).or_default() += 1,
                None => fit.push(id),
            }
        }
        if refused.is_empty() {
            return Some((fit, None));
        }
        let mut counts: Vec<(&str, u64)> = refused.into_iter().collect();
        counts.sort_by_key(|(state, n)| (std::cmp::Reverse(*n), *state));
        let states: Vec<String> = counts
            .iter()
            .map(|(state, n)| format!("{} {state}", thousands(*n)))
            .collect();
        let out = targets.len() - fit.len();
        let verb = match action {
            Action::Retry => "retried",
            Action::Cancel => "cancelled",
            _ => "compensated",
        };
        if fit.is_empty() {
            self.toast(
                ToastKind::Error,
                format!(
                    "none of the {} marked items can be {verb}: {}",
                    thousands(out as u64),
                    states.join(", ")
                ),
            );
            return None;
        }
        let why = format!(
            "{} of the {} marked cannot be {verb} ({}) and are left alone.",
            thousands(out as u64),
            thousands(targets.len() as u64),
            states.join(", ")
        );
        Some((fit, Some(why)))
    }

    fn skip_step(&mut self, items: &[ItemId]) -> Vec<Effect> {
        let [item] = items else {
            self.toast(ToastKind::Error, "skip acts on one item at a time");
            return vec![];
        };
        let steps: Vec<String> = self
            .model
            .items
            .get(item)
            .map(|i| {
                i.current
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        match steps.as_slice() {
            [] => {
                self.toast(ToastKind::Error, format!("item {item} has no step to skip"));
                vec![]
            }
            [step] => self.plan_skip(vec![*item], step.clone()),
            _ => self.pick(
                format!("Skip which step of item {item}"),
                steps,
                PickFor::Skip(*item),
            ),
        }
    }

    /// Bulk actions ask first; a single claim, approve, escalate or retry just goes.
    fn maybe_confirm(&mut self, action: Action, who: &str, pending: Vec<Pending>) -> Vec<Effect> {
        if pending.len() > 1 {
            let verb = action.name();
            let mut cap = verb[..1].to_uppercase();
            cap.push_str(&verb[1..]);
            return self.confirm(format!("{cap} {who}?"), pending);
        }
        self.clear_marks();
        vec![Effect::Act(pending)]
    }

    pub(super) fn pick(
        &mut self,
        title: String,
        choices: Vec<String>,
        purpose: PickFor,
    ) -> Vec<Effect> {
        let notes = match purpose {
            PickFor::Reassign(_) => self.load_notes(&choices),
            _ => Default::default(),
        };
        self.mode = Mode::Picker(Picker {
            title,
            choices,
            notes,
            query: Input::default(),
            cursor: 0,
            purpose,
        });
        vec![]
    }

    /// Open tasks each person (assigned or claimed) and each group (nobody's in
    /// person) holds now, and the directory's roles, as picker notes.
    fn load_notes(&self, choices: &[String]) -> std::collections::HashMap<String, String> {
        let mut open: std::collections::HashMap<String, usize> = Default::default();
        for t in self.model.tasks.iter().filter(|t| {
            matches!(
                t.status,
                crate::types::view::TaskStatus::Open | crate::types::view::TaskStatus::Claimed
            )
        }) {
            let key = match (t.claimed_by.as_ref().or(t.assignee.as_ref()), &t.group) {
                (Some(p), _) => format!("@{p}"),
                (None, Some(g)) => g.clone(),
                (None, None) => continue,
            };
            *open.entry(key).or_default() += 1;
        }
        let dir = &self.opts.directory.operators;
        choices
            .iter()
            .map(|c| {
                let n = open.get(c).copied().unwrap_or(0);
                let who = match c.strip_prefix('@') {
                    Some(p) => dir
                        .iter()
                        .find(|o| o.name == p && o.revoked.is_none())
                        .map(|o| format!("{} · ", o.role)),
                    None => {
                        let people = dir
                            .iter()
                            .filter(|o| o.revoked.is_none() && o.groups.contains(c))
                            .count();
                        let noun = if people == 1 { "person" } else { "people" };
                        (people > 0).then(|| format!("{people} {noun} · "))
                    }
                };
                (c.clone(), format!("{}{n} open", who.unwrap_or_default()))
            })
            .collect()
    }

    /// Me, my groups, then everyone and every group of the directory and the tasks.
    /// People are written `@name`, groups bare, as the engine reads them.
    pub(super) fn people_and_groups(&self) -> Vec<String> {
        let mut out: Vec<String> = vec![format!("@{}", self.opts.me)];
        out.extend(self.opts.groups.iter().cloned());
        let mut seen = BTreeSet::new();
        for o in self
            .opts
            .directory
            .operators
            .iter()
            .filter(|o| o.revoked.is_none())
        {
            seen.insert(format!("@{}", o.name));
            seen.extend(o.groups.iter().cloned());
        }
        for t in &self.model.tasks {
            for p in [&t.assignee, &t.claimed_by, &t.decided_by]
                .into_iter()
                .flatten()
            {
                seen.insert(format!("@{p}"));
            }
            if let Some(g) = &t.group {
                seen.insert(g.clone());
            }
        }
        for s in seen {
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }
}
