//! The rows each list pane shows, derived from the model, the filter, the sort and the
//! inbox scope; rebuilt only when one of those changes.

use chrono::{DateTime, Utc};

use super::{App, Options, Pane, Scope, Sort};
use crate::console::filter::Filter;
use crate::console::model::Model;
use crate::types::ItemId;
use crate::types::changes::EventLine;
use crate::types::view::{ItemStatus, ItemSummary, TaskView};

#[derive(Debug, Default)]
pub(super) struct Views {
    items: Vec<ItemId>,
    sla: Vec<ItemId>,
    /// Indexes into `model.tasks`.
    inbox: Vec<usize>,
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
    pub fn refresh(
        &mut self,
        m: &Model,
        f: &Filter,
        how: (Sort, Scope),
        opts: &Options,
        now: DateTime<Utc>,
    ) {
        let (sort, scope) = how;
        let mut items: Vec<&ItemSummary> = m
            .items
            .values()
            .rev()
            .filter(|i| f.matches_item(i, now))
            .collect();
        match sort {
            Sort::Newest => {}
            // Ties keep the newest first (ids descending).
            Sort::Priority => items
                .sort_unstable_by_key(|i| (std::cmp::Reverse(i.priority), std::cmp::Reverse(i.id))),
            Sort::Status => {
                items.sort_unstable_by_key(|i| (status_rank(i.status), std::cmp::Reverse(i.id)))
            }
            Sort::Updated => items.sort_unstable_by_key(|i| {
                (std::cmp::Reverse(i.updated_at), std::cmp::Reverse(i.id))
            }),
        }
        self.items = items.iter().map(|i| i.id).collect();
        // At risk first, then by deadline: sorted on plain numbers, since this runs on
        // every update and a board can hold tens of thousands of items.
        let mut sla: Vec<(bool, i64, ItemId)> = items
            .iter()
            .filter(|i| !i.status.is_final())
            .filter_map(|i| {
                let due = i.sla_due?.timestamp_millis();
                Some((i.sla_warned == 0 && !i.sla_breached, due, i.id))
            })
            .collect();
        sla.sort_unstable();
        self.sla = sla.into_iter().map(|k| k.2).collect();
        let mut inbox: Vec<usize> = (0..m.tasks.len())
            .filter(|&k| {
                let t = &m.tasks[k];
                in_scope(t, scope, opts) && f.matches_task(t, m.items.get(&t.item))
            })
            .collect();
        inbox.sort_by_key(|&k| {
            let t = &m.tasks[k];
            (
                !t.overdue,
                t.due.is_none(),
                t.due,
                std::cmp::Reverse(t.priority),
                t.id,
            )
        });
        self.inbox = inbox;
    }
}

impl App {
    /// How many rows a pane has.
    pub fn len(&self, pane: Pane) -> usize {
        match pane {
            Pane::Items => self.views.items.len(),
            Pane::Sla => self.views.sla.len(),
            Pane::Inbox => self.views.inbox.len(),
            Pane::Events => self.model.events.len(),
        }
    }

    pub fn item_at(&self, pane: Pane, row: usize) -> Option<&ItemSummary> {
        let id = match pane {
            Pane::Items => self.views.items.get(row)?,
            Pane::Sla => self.views.sla.get(row)?,
            _ => return None,
        };
        self.model.items.get(id)
    }

    pub fn task_at(&self, row: usize) -> Option<&TaskView> {
        self.model.tasks.get(*self.views.inbox.get(row)?)
    }

    /// Events newest first.
    pub fn record_at(&self, row: usize) -> Option<&EventLine> {
        let n = self.model.events.len();
        self.model.events.get(n.checked_sub(row + 1)?)
    }

    /// The mark key of a row: item id, task id or record seq.
    pub(super) fn key_at(&self, pane: Pane, row: usize) -> Option<u64> {
        match pane {
            Pane::Items | Pane::Sla => self.item_at(pane, row).map(|i| i.id),
            Pane::Inbox => self.task_at(row).map(|t| t.id),
            Pane::Events => self.record_at(row).map(|r| r.seq),
        }
    }

    /// The row a mark key is on now.
    pub(super) fn row_of(&self, pane: Pane, key: u64) -> Option<usize> {
        match pane {
            Pane::Items => self.views.items.iter().position(|id| *id == key),
            Pane::Sla => self.views.sla.iter().position(|id| *id == key),
            Pane::Inbox => self
                .views
                .inbox
                .iter()
                .position(|&k| self.model.tasks.get(k).is_some_and(|t| t.id == key)),
            Pane::Events => {
                let ev = &self.model.events;
                let at = ev.binary_search_by_key(&key, |r| r.seq).ok()?;
                Some(ev.len() - 1 - at)
            }
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
