//! Incidents grouped by cause (workflow, step and error signature) with counts, so an
//! operator retries, skips or cancels a whole group at once, after a confirm.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent};

use super::{App, Effect, Mode, Pane};
use crate::console::keymap::Action;
use crate::console::model::Model;
use crate::types::ItemId;
use crate::types::view::ItemStatus;

/// Incidents sharing a workflow, a failed step and an error signature.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub workflow: String,
    pub step: String,
    /// The error of the group's newest incident, as the engine wrote it.
    pub cause: String,
    /// Newest first.
    pub items: Vec<ItemId>,
    pub oldest: DateTime<Utc>,
}

/// The error with its numbers masked, so `item 4711 timed out after 30s` and `item 12
/// timed out after 31s` are one cause.
pub fn signature(cause: &str) -> String {
    let mut out = String::with_capacity(cause.len());
    let mut in_number = false;
    for c in cause.chars() {
        match c.is_ascii_digit() {
            true if in_number => {}
            true => {
                out.push('#');
                in_number = true;
            }
            false => {
                out.push(c);
                in_number = false;
            }
        }
    }
    out
}

/// The incidents of the mirror by cause, the largest group first.
pub fn groups(model: &Model) -> Vec<Group> {
    let mut by: BTreeMap<(String, String, String), Group> = BTreeMap::new();
    for it in model.items.values().rev() {
        if it.status != ItemStatus::Incident {
            continue;
        }
        let text = it.incident.as_deref().unwrap_or("failed");
        let (step, cause) = text.split_once(": ").unwrap_or((it.current.as_str(), text));
        let key = (it.workflow.clone(), step.to_string(), signature(cause));
        let g = by.entry(key).or_insert_with(|| Group {
            workflow: it.workflow.clone(),
            step: step.to_string(),
            cause: cause.to_string(),
            items: Vec::new(),
            oldest: it.started_at,
        });
        g.items.push(it.id);
        g.oldest = g.oldest.min(it.started_at);
    }
    let mut out: Vec<Group> = by.into_values().collect();
    out.sort_by(|a, b| {
        b.items
            .len()
            .cmp(&a.items.len())
            .then(a.oldest.cmp(&b.oldest))
    });
    out
}

impl App {
    pub(super) fn open_incidents(&mut self) {
        self.groups = groups(&self.model);
        self.mode = Mode::Incidents { cursor: 0 };
    }

    pub(super) fn incidents_key(&mut self, cursor: usize, key: KeyEvent) -> Vec<Effect> {
        let n = self.groups.len();
        let action = self.keymap.action(&key);
        if let Some(cursor) = super::moved(action, cursor, n) {
            self.mode = Mode::Incidents { cursor };
            return vec![];
        }
        let cursor = match action {
            Some(Action::Back | Action::Quit | Action::Incidents) => return vec![],
            _ if key.code == KeyCode::Esc => return vec![],
            Some(a @ (Action::Detail | Action::Retry | Action::Skip | Action::Cancel)) => {
                return self.act_on_group(cursor, a);
            }
            _ => cursor,
        };
        self.mode = Mode::Incidents { cursor };
        vec![]
    }

    fn act_on_group(&mut self, cursor: usize, action: Action) -> Vec<Effect> {
        let Some(g) = self.groups.get(cursor).cloned() else {
            self.mode = Mode::Incidents { cursor };
            return vec![];
        };
        if action == Action::Detail {
            // The group's items in the items pane.
            let text = format!("status:incident wf:{} step:{}", g.workflow, g.step);
            self.set_filter(&text, true);
            self.focus = Pane::Items;
            return self.find_history();
        }
        if self.guarded(action.name()) {
            return vec![];
        }
        let n = g.items.len();
        let what = format!(
            "{n} incident{} of {} at step {} ({})",
            if n == 1 { "" } else { "s" },
            g.workflow,
            g.step,
            crate::text::clip(&g.cause, 80)
        );
        match action {
            Action::Retry => {
                let pending = super::actions::per_item(&g.items, |item| {
                    crate::types::Command::Retry { item, from: None }
                });
                self.confirm(format!("Retry {what}?"), pending)
            }
            Action::Cancel => {
                let pending = super::actions::per_item(&g.items, |item| {
                    crate::types::Command::Cancel { item }
                });
                self.confirm(
                    format!("Cancel {what}? Running steps are stopped and nothing is undone."),
                    pending,
                )
            }
            _ => self.plan_skip(g.items, g.step),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_do_not_split_a_cause() {
        assert_eq!(
            signature("status: POST https://crm/customers/4711 answered 503"),
            "status: POST https://crm/customers/# answered #"
        );
        assert_eq!(
            signature("timeout: after 30s"),
            signature("timeout: after 31s")
        );
        assert_ne!(signature("exit: 1"), signature("spawn: 1"));
    }
}
