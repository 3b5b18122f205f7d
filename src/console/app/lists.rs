//! The rows each list pane shows, derived from the model, the filter, the sort and the
//! inbox scope; rebuilt only when one of those changes.

use chrono::{DateTime, Utc};

use super::sort::Order;
use super::sorted::Sorted;
use super::{App, Options, Pane, Scope};
use crate::console::filter::Filter;
use crate::console::model::{Model, Touched};
use crate::types::ItemId;
use crate::types::changes::EventLine;
use crate::types::view::{ItemSummary, TaskView};

#[derive(Debug, Default)]
pub(super) struct Views {
    items: Sorted,
    sla: Sorted,
    /// Indexes into `model.tasks`.
    inbox: Vec<usize>,
    /// Seqs of the records the events pane shows, newest first.
    events: Vec<u64>,
    /// The filter the item panes were last built with.
    filter: Option<Filter>,
}

/// Records of the engine's own progress, hidden from the events pane unless asked for:
/// they are most of the log and tell an operator nothing the panes do not.
pub const CHATTER: [&str; 4] = [
    "step_scheduled",
    "step_started",
    "step_succeeded",
    "item_named",
];

/// How the lists are shaped besides the filter: each pane's order, the inbox scope and
/// whether the events pane shows the engine's chatter.
#[derive(Debug, Clone, Copy)]
pub(super) struct Shape {
    pub orders: [Order; 3],
    pub scope: Scope,
    pub chatter: bool,
}

/// Whether the inbox scope shows this task to this operator.
pub fn in_scope(t: &TaskView, scope: Scope, opts: &Options) -> bool {
    let me = opts.me.as_str();
    let mine = t.assignee.as_deref() == Some(me) || t.claimed_by.as_deref() == Some(me);
    match scope {
        Scope::All => true,
        Scope::Mine => mine,
        Scope::Groups => {
            mine || (t.assignee.is_none()
                && t.claimed_by.is_none()
                && t.group.as_ref().is_some_and(|g| opts.groups.contains(g)))
        }
    }
}

impl Views {
    /// Derive the rows again after the items `touched` changed; `Touched::All` (or a
    /// filter that reads the clock, whose matches change as time passes) rebuilds the
    /// item panes, which otherwise follow just the items that changed.
    pub fn refresh(
        &mut self,
        m: &Model,
        f: &Filter,
        how: Shape,
        opts: &Options,
        now: DateTime<Utc>,
        touched: &Touched,
    ) {
        let [by_items, by_sla, by_inbox] = how.orders;
        let scope = how.scope;
        let in_items = |i: &ItemSummary| f.matches_item(i, now);
        let in_sla = |i: &ItemSummary| !i.status.is_final() && i.sla_due.is_some() && in_items(i);
        let same_filter = self.filter.as_ref() == Some(f);
        let changed = match touched {
            Touched::Some(ids) if same_filter && !f.reads_clock() => Some(ids.as_slice()),
            _ => None,
        };
        if !same_filter {
            self.filter = Some(f.clone());
        }
        let follows = |pane: &mut Sorted, order, shown: &dyn Fn(&ItemSummary) -> bool| {
            changed.is_some_and(|ids| pane.follow(ids, m, order, shown))
        };
        if !follows(&mut self.items, by_items, &in_items) {
            self.items
                .rebuild(m.items.values().filter(|i| in_items(i)), by_items);
        }
        if !follows(&mut self.sla, by_sla, &in_sla) {
            self.sla
                .rebuild(m.items.values().filter(|i| in_sla(i)), by_sla);
        }
        let mut inbox: Vec<usize> = (0..m.tasks.len())
            .filter(|&k| {
                let t = &m.tasks[k];
                in_scope(t, scope, opts)
                    && (f.is_empty() || f.matches_task(t, m.items.get(&t.item)))
            })
            .collect();
        // Each task's item deadline looked up once, not once per comparison.
        let sla: Vec<_> = m
            .tasks
            .iter()
            .map(|t| m.items.get(&t.item).and_then(|i| i.sla_due))
            .collect();
        inbox.sort_by(|&a, &b| by_inbox.tasks((&m.tasks[a], sla[a]), (&m.tasks[b], sla[b])));
        self.inbox = inbox;
        self.events = m
            .events
            .iter()
            .rev()
            .filter(|r| how.chatter || !CHATTER.contains(&r.kind.as_str()))
            .filter(|r| {
                f.is_empty() || f.matches_event(r, r.item.and_then(|i| m.items.get(&i)), now)
            })
            .map(|r| r.seq)
            .collect();
    }
}

impl App {
    /// How many rows a pane has.
    pub fn len(&self, pane: Pane) -> usize {
        match pane {
            Pane::Items => self.views.items.len(),
            Pane::Sla => self.views.sla.len(),
            Pane::Inbox => self.views.inbox.len(),
            Pane::Events => self.views.events.len(),
        }
    }

    pub fn item_at(&self, pane: Pane, row: usize) -> Option<&ItemSummary> {
        let id = match pane {
            Pane::Items => self.views.items.get(row)?,
            Pane::Sla => self.views.sla.get(row)?,
            _ => return None,
        };
        self.model.items.get(&id)
    }

    pub fn task_at(&self, row: usize) -> Option<&TaskView> {
        self.model.tasks.get(*self.views.inbox.get(row)?)
    }

    /// Events newest first.
    pub fn record_at(&self, row: usize) -> Option<&EventLine> {
        let seq = *self.views.events.get(row)?;
        let ev = &self.model.events;
        ev.get(ev.binary_search_by_key(&seq, |r| r.seq).ok()?)
    }

    /// The mark key of a row: item id, task id or record seq.
    pub(super) fn key_at(&self, pane: Pane, row: usize) -> Option<u64> {
        match pane {
            Pane::Items | Pane::Sla => self.item_at(pane, row).map(|i| i.id),
            Pane::Inbox => self.task_at(row).map(|t| t.id),
            Pane::Events => self.record_at(row).map(|r| r.seq),
        }
    }

    /// The highest row key in a pane, and how many rows have a key above `seen`: plain
    /// scans of ids, since this runs on every update.
    pub(super) fn keys_over(&self, pane: Pane, seen: u64) -> (u64, usize) {
        fn over(keys: impl Iterator<Item = u64>, seen: u64) -> (u64, usize) {
            keys.fold((0, 0), |(max, n), k| {
                (max.max(k), n + usize::from(k > seen))
            })
        }
        match pane {
            Pane::Items => over(self.views.items.ids(), seen),
            Pane::Sla => over(self.views.sla.ids(), seen),
            Pane::Inbox => over(
                self.views
                    .inbox
                    .iter()
                    .filter_map(|&k| self.model.tasks.get(k).map(|t| t.id)),
                seen,
            ),
            Pane::Events => {
                let ev = &self.views.events;
                (
                    ev.first().copied().unwrap_or(0),
                    ev.partition_point(|s| *s > seen),
                )
            }
        }
    }

    /// The row a mark key is on now.
    pub(super) fn row_of(&self, pane: Pane, key: u64) -> Option<usize> {
        match pane {
            Pane::Items => self.views.items.row_of(key),
            Pane::Sla => self.views.sla.row_of(key),
            Pane::Inbox => self
                .views
                .inbox
                .iter()
                .position(|&k| self.model.tasks.get(k).is_some_and(|t| t.id == key)),
            Pane::Events => self.views.events.iter().position(|s| *s == key),
        }
    }

    pub(super) fn cursor_key(&self, pane: Pane) -> Option<u64> {
        self.key_at(pane, self.list(pane).cursor)
    }

    /// The item under the cursor of the focused pane (a task's or a record's item).
    pub fn cursor_item(&self) -> Option<ItemId> {
        let row = self.list(self.focus).cursor;
        match self.focus {
            Pane::Items | Pane::Sla => self.item_at(self.focus, row).map(|i| i.id),
            Pane::Inbox => self.task_at(row).map(|t| t.item),
            Pane::Events => self.record_at(row).and_then(|r| r.item),
        }
    }
}
