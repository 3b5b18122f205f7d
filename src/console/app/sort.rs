//! How each list pane is ordered: the columns it can sort on (its default first), the one
//! chosen and which way. `o` and `>` step to the next column, `<` to the previous one (as
//! in htop), `:sort NAME` picks one and `:sort -NAME` reverses it.

use std::cmp::{Ordering, Reverse};

use super::Pane;
use crate::types::view::{ItemStatus, ItemSummary, TaskView};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    /// Newest first (ids descending).
    Newest,
    /// At risk and breached first, then by deadline.
    Risk,
    /// Soonest deadline first; none last.
    Due,
    /// Highest priority first.
    Priority,
    /// Incidents, then what waits on people, then the rest.
    Status,
    /// Most recently changed first.
    Updated,
    /// By workflow name.
    Workflow,
    /// Oldest first.
    Age,
}

impl SortKey {
    pub const ALL: [SortKey; 8] = [
        SortKey::Newest,
        SortKey::Risk,
        SortKey::Due,
        SortKey::Priority,
        SortKey::Status,
        SortKey::Updated,
        SortKey::Workflow,
        SortKey::Age,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SortKey::Newest => "newest",
            SortKey::Risk => "risk",
            SortKey::Due => "due",
            SortKey::Priority => "priority",
            SortKey::Status => "status",
            SortKey::Updated => "updated",
            SortKey::Workflow => "workflow",
            SortKey::Age => "age",
        }
    }

    pub fn parse(name: &str) -> Option<SortKey> {
        let name = name.to_ascii_lowercase();
        SortKey::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The columns a pane sorts on, its default first; the events log has none (it is
    /// the journal's order).
    pub fn choices(pane: Pane) -> &'static [SortKey] {
        use SortKey::*;
        match pane {
            Pane::Items => &[Newest, Priority, Status, Updated, Due, Workflow, Age],
            Pane::Sla => &[Risk, Due, Priority, Workflow, Age],
            Pane::Inbox => &[Due, Priority, Age, Workflow],
            Pane::Events => &[],
        }
    }
}

/// The order of one pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    pub key: SortKey,
    pub reverse: bool,
}

impl Order {
    pub fn default_for(pane: Pane) -> Order {
        Order {
            key: SortKey::choices(pane)
                .first()
                .copied()
                .unwrap_or(SortKey::Newest),
            reverse: false,
        }
    }

    /// The next (or previous) column this pane sorts on.
    pub fn step(self, pane: Pane, by: isize) -> Order {
        let choices = SortKey::choices(pane);
        let at = choices.iter().position(|k| *k == self.key).unwrap_or(0) as isize;
        let n = choices.len().max(1) as isize;
        Order {
            key: choices
                .get((at + by).rem_euclid(n) as usize)
                .copied()
                .unwrap_or(self.key),
            reverse: false,
        }
    }

    /// "newest", or "priority, reversed", for a pane's title.
    pub fn label(self) -> String {
        match self.reverse {
            false => self.key.name().to_string(),
            true => format!("{}, reversed", self.key.name()),
        }
    }

    fn directed(self, o: Ordering) -> Ordering {
        if self.reverse { o.reverse() } else { o }
    }

    /// Sort items in place; ties keep the newest first.
    pub fn items(self, items: &mut [&ItemSummary]) {
        // Keys on plain numbers: this runs on every update, over tens of thousands.
        let due = |i: &ItemSummary| i.sla_due.map_or(i64::MAX, |d| d.timestamp_millis());
        match self.key {
            SortKey::Newest => items.sort_unstable_by_key(|i| Reverse(i.id)),
            SortKey::Age => items.sort_unstable_by_key(|i| i.id),
            SortKey::Priority => {
                items.sort_unstable_by_key(|i| (Reverse(i.priority), Reverse(i.id)))
            }
            SortKey::Status => {
                items.sort_unstable_by_key(|i| (status_rank(i.status), Reverse(i.id)))
            }
            SortKey::Updated => {
                items.sort_unstable_by_key(|i| (Reverse(i.updated_at), Reverse(i.id)))
            }
            SortKey::Due => items.sort_unstable_by_key(|i| (due(i), Reverse(i.id))),
            SortKey::Risk => items.sort_unstable_by_key(|i| (!at_risk(i), due(i), Reverse(i.id))),
            SortKey::Workflow => {
                items.sort_unstable_by(|a, b| a.workflow.cmp(&b.workflow).then(b.id.cmp(&a.id)))
            }
        }
        if self.reverse {
            items.reverse();
        }
    }

    /// Compare two tasks in this order; overdue tasks lead the default order.
    pub fn tasks(self, a: &TaskView, b: &TaskView) -> Ordering {
        let due = |t: &TaskView| (t.due.is_none(), t.due);
        let o = match self.key {
            SortKey::Priority => b.priority.cmp(&a.priority).then(due(a).cmp(&due(b))),
            SortKey::Age => a.created_at.cmp(&b.created_at),
            SortKey::Workflow => a.workflow.cmp(&b.workflow).then(due(a).cmp(&due(b))),
            SortKey::Newest => b.id.cmp(&a.id),
            _ => (!a.overdue, due(a), Reverse(a.priority)).cmp(&(
                !b.overdue,
                due(b),
                Reverse(b.priority),
            )),
        };
        self.directed(o.then(a.id.cmp(&b.id)))
    }
}

/// Breached, or past a warning threshold.
fn at_risk(i: &ItemSummary) -> bool {
    i.sla_breached || i.sla_warned > 0
}

/// Incidents first, then what waits on people, then the rest.
fn status_rank(s: ItemStatus) -> u8 {
    match s {
        ItemStatus::Incident => 0,
        ItemStatus::Waiting => 1,
        ItemStatus::Compensating => 2,
        ItemStatus::Running => 3,
        ItemStatus::Failed => 4,
        ItemStatus::Cancelled => 5,
        ItemStatus::Completed => 6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pane_but_events_has_a_default_and_steps_round() {
        for pane in [Pane::Items, Pane::Sla, Pane::Inbox] {
            let first = Order::default_for(pane);
            let mut o = first;
            for _ in SortKey::choices(pane) {
                o = o.step(pane, 1);
            }
            assert_eq!(o, first, "{pane:?} comes back round");
            assert_eq!(first.step(pane, -1).step(pane, 1), first);
        }
        assert_eq!(Order::default_for(Pane::Sla).key, SortKey::Risk);
        assert_eq!(Order::default_for(Pane::Inbox).key, SortKey::Due);
        assert!(SortKey::choices(Pane::Events).is_empty());
    }

    #[test]
    fn names_parse_back() {
        for k in SortKey::ALL {
            assert_eq!(SortKey::parse(k.name()), Some(k));
        }
        assert_eq!(SortKey::parse("PRIORITY"), Some(SortKey::Priority));
        assert_eq!(SortKey::parse("speed"), None);
    }
}
