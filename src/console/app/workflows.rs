//! The workflows view (`:workflows`): every loaded version with the items in flight on
//! it, counted from the mirror, so an operator sees a deploy arrive and old versions
//! drain.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent};

use super::{App, Effect, Mode, Pane};
use crate::console::keymap::Action;
use crate::console::model::Model;

/// One loaded workflow version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRow {
    pub name: String,
    pub version: u32,
    pub in_flight: u64,
    /// The version `start` picks: the highest of its name.
    pub newest: bool,
}

/// The loaded versions by name and version, with the mirror's items in flight on each
/// (a version only an item names, as before a deploy's batch arrives, is listed too).
pub fn rows(model: &Model) -> Vec<VersionRow> {
    let mut counts: BTreeMap<(&str, u32), u64> = model
        .versions
        .iter()
        .map(|v| ((v.name.as_str(), v.version), 0))
        .collect();
    for it in model.items.values().filter(|i| !i.status.is_final()) {
        *counts
            .entry((it.workflow.as_str(), it.version))
            .or_default() += 1;
    }
    let mut out: Vec<VersionRow> = counts
        .into_iter()
        .map(|((name, version), in_flight)| VersionRow {
            name: name.to_string(),
            version,
            in_flight,
            newest: false,
        })
        .collect();
    // Sorted by name, then version: the last row of each name is its newest.
    for i in 0..out.len() {
        out[i].newest = out.get(i + 1).is_none_or(|next| next.name != out[i].name);
    }
    out
}

impl App {
    pub(super) fn open_workflows(&mut self) {
        self.versions = rows(&self.model);
        self.mode = Mode::Workflows { cursor: 0 };
    }

    pub(super) fn workflows_key(&mut self, cursor: usize, key: KeyEvent) -> Vec<Effect> {
        let n = self.versions.len();
        let action = self.keymap.action(&key);
        if let Some(cursor) = super::moved(action, cursor, n) {
            self.mode = Mode::Workflows { cursor };
            return vec![];
        }
        let cursor = match action {
            Some(Action::Back | Action::Quit) => return vec![],
            _ if key.code == KeyCode::Esc => return vec![],
            Some(Action::Detail) => return self.show_workflow(cursor),
            _ => cursor,
        };
        self.mode = Mode::Workflows { cursor };
        vec![]
    }

    /// Enter: the items pane, filtered to the selected workflow.
    fn show_workflow(&mut self, cursor: usize) -> Vec<Effect> {
        let Some(row) = self.versions.get(cursor) else {
            return vec![];
        };
        let text = format!("wf:{}", row.name);
        self.set_filter(&text, true);
        self.focus = Pane::Items;
        self.detail = None;
        self.find_history()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::deploy::WorkflowVersion;
    use crate::types::view::{ItemStatus, ItemSummary};

    fn item(id: u64, workflow: &str, version: u32, status: ItemStatus) -> ItemSummary {
        let t = chrono::Utc::now();
        ItemSummary {
            id,
            workflow: workflow.into(),
            version,
            status,
            current: String::new(),
            priority: 0,
            started_at: t,
            updated_at: t,
            ended_at: None,
            sla_due: None,
            sla_warned: 0,
            sla_breached: false,
            incident: None,
            key: None,
            title: None,
        }
    }

    #[test]
    fn versions_count_their_items_in_flight_and_the_highest_is_newest() {
        let mut m = Model::default();
        for (name, version) in [("pay", 1), ("pay", 2), ("onboard", 3)] {
            m.versions.insert(WorkflowVersion {
                name: name.into(),
                version,
            });
        }
        for (id, wf, v, status) in [
            (1, "pay", 1, ItemStatus::Running),
            (2, "pay", 1, ItemStatus::Completed),
            (3, "pay", 2, ItemStatus::Waiting),
            (4, "pay", 2, ItemStatus::Incident),
            (5, "legacy", 7, ItemStatus::Running),
        ] {
            m.items.insert(id, item(id, wf, v, status));
        }
        let got: Vec<(String, u32, u64, bool)> = rows(&m)
            .into_iter()
            .map(|r| (r.name, r.version, r.in_flight, r.newest))
            .collect();
        let want = [
            ("legacy", 7, 1, true),
            ("onboard", 3, 0, true),
            ("pay", 1, 1, false),
            ("pay", 2, 2, true),
        ];
        let want: Vec<(String, u32, u64, bool)> = want
            .into_iter()
            .map(|(n, v, c, new)| (n.to_string(), v, c, new))
            .collect();
        assert_eq!(got, want);
    }
}
