//! Which columns each list pane shows: `:columns -PRIO AGE` hides and shows them by
//! name (the mark and the row's id always stay). The views draw their headers from
//! these names, so a name here is a column there.

use std::collections::HashSet;

use super::{App, Pane, ToastKind};

pub const ITEMS: [&str; 10] = [
    "", "ID", "STATUS", "WORKFLOW", "KEY", "TITLE", "STEP", "AGE", "PRIO", "SLA",
];
pub const SLA: [&str; 9] = [
    "", "ID", "WORKFLOW", "KEY", "TITLE", "STATUS", "SLA USED", "LEFT", "STATE",
];
pub const INBOX: [&str; 10] = [
    "", "TASK", "ITEM", "KEY", "KIND", "TITLE", "WHO", "AGE", "DUE", "SLA",
];

/// A pane's columns, in order; the events log has a fixed layout.
pub fn of(pane: Pane) -> &'static [&'static str] {
    match pane {
        Pane::Items => &ITEMS,
        Pane::Sla => &SLA,
        Pane::Inbox => &INBOX,
        Pane::Events => &[],
    }
}

/// Columns that tell rows apart and cannot be hidden.
fn fixed(name: &str) -> bool {
    matches!(name, "" | "ID" | "TASK")
}

/// The hidden columns, by pane and name.
pub type Hidden = HashSet<(Pane, &'static str)>;

impl App {
    /// Whether `pane` shows its column `name`.
    pub fn shown(&self, pane: Pane, name: &str) -> bool {
        !self.hidden.contains(&(pane, name))
    }

    /// `:columns` lists the focused pane's columns; `-NAME` hides one, `+NAME` or `NAME`
    /// shows it again, `all` shows them all. Names ignore case; `sla-used` is `SLA USED`.
    pub(super) fn columns_command(&mut self, rest: &str) {
        let pane = self.focus;
        let names = of(pane);
        if names.is_empty() {
            self.toast(
                ToastKind::Error,
                "the events pane has a fixed set of columns",
            );
            return;
        }
        let mut changes = Vec::new();
        for word in rest.split_whitespace() {
            if word.eq_ignore_ascii_case("all") {
                self.hidden.retain(|(p, _)| *p != pane);
                continue;
            }
            let (hide, name) = match word.strip_prefix('-') {
                Some(n) => (true, n),
                None => (false, word.strip_prefix('+').unwrap_or(word)),
            };
            let want = name.replace(['-', '_'], " ").to_uppercase();
            let Some(&col) = names.iter().find(|c| !c.is_empty() && **c == want) else {
                let list: Vec<String> = names
                    .iter()
                    .filter(|c| !fixed(c))
                    .map(|c| c.to_lowercase().replace(' ', "-"))
                    .collect();
                self.toast(
                    ToastKind::Error,
                    format!("no column '{name}' here; use {}", list.join(", ")),
                );
                return;
            };
            if fixed(col) {
                self.toast(
                    ToastKind::Error,
                    format!("{col} tells rows apart and stays"),
                );
                return;
            }
            changes.push((hide, col));
        }
        for (hide, col) in changes {
            match hide {
                true => self.hidden.insert((pane, col)),
                false => self.hidden.remove(&(pane, col)),
            };
        }
        let shown: Vec<String> = names
            .iter()
            .filter(|c| !c.is_empty())
            .map(|c| match self.shown(pane, c) {
                true => c.to_lowercase().replace(' ', "-"),
                false => format!("-{}", c.to_lowercase().replace(' ', "-")),
            })
            .collect();
        let pane_name = pane.title().to_lowercase();
        self.toast(
            ToastKind::Ok,
            format!("{pane_name} columns: {}", shown.join(" ")),
        );
    }
}
