//! An item pane's rows kept in order as items change: an update of 200 items takes
//! out and puts back 200 rows in one pass instead of sorting 100,000 again.

use std::collections::HashMap;

use super::sort::{ItemKey, Order, Ranks};
use crate::console::model::Model;
use crate::types::ItemId;
use crate::types::view::ItemSummary;

#[derive(Debug, Default)]
pub(super) struct Sorted {
    /// Sort key and id, ascending; a reversed order reads them from the end.
    rows: Vec<(ItemKey, ItemId)>,
    /// Each shown item's key, to find its row.
    keys: HashMap<ItemId, ItemKey>,
    order: Option<Order>,
    ranks: Ranks,
}

impl Sorted {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// The item shown on `row`.
    pub fn get(&self, row: usize) -> Option<ItemId> {
        let at = match self.order?.reverse {
            true => self.rows.len().checked_sub(row + 1)?,
            false => row,
        };
        self.rows.get(at).map(|r| r.1)
    }

    /// The row `id` is shown on.
    pub fn row_of(&self, id: ItemId) -> Option<usize> {
        let key = *self.keys.get(&id)?;
        let at = self.rows.binary_search(&(key, id)).ok()?;
        match self.order?.reverse {
            true => Some(self.rows.len() - 1 - at),
            false => Some(at),
        }
    }

    /// Every id shown, in no particular order.
    pub fn ids(&self) -> impl Iterator<Item = ItemId> + '_ {
        self.rows.iter().map(|r| r.1)
    }

    /// The rows of the items `shown` in `order`, from scratch.
    pub fn rebuild<'a>(
        &mut self,
        items: impl Iterator<Item = &'a ItemSummary> + Clone,
        order: Order,
    ) {
        self.ranks = order.ranks(items.clone());
        self.order = Some(order);
        self.rows = items
            .filter_map(|i| Some((order.item_key(i, &self.ranks)?, i.id)))
            .collect();
        self.rows.sort_unstable();
        self.keys = self.rows.iter().map(|&(k, id)| (id, k)).collect();
    }

    /// Follow the items `changed` (new, changed or gone from `m`) in `order`, each row
    /// where `shown` says; false when the rows must be rebuilt instead (another order,
    /// or a workflow name that takes a place between the ranked ones), and then the
    /// rows are left half followed.
    pub fn follow(
        &mut self,
        changed: &[ItemId],
        m: &Model,
        order: Order,
        shown: impl Fn(&ItemSummary) -> bool,
    ) -> bool {
        if self.order != Some(order) {
            return false;
        }
        let mut changed = changed.to_vec();
        changed.sort_unstable();
        changed.dedup();
        let mut gone = Vec::new();
        let mut added = Vec::new();
        for id in changed {
            if let Some(key) = self.keys.remove(&id) {
                gone.push((key, id));
            }
            let Some(it) = m.items.get(&id).filter(|i| shown(i)) else {
                continue;
            };
            let Some(key) = order.item_key(it, &self.ranks) else {
                return false;
            };
            self.keys.insert(id, key);
            added.push((key, id));
        }
        if gone.is_empty() && added.is_empty() {
            return true;
        }
        // Where each change lands in the old rows: a new row goes before the first
        // greater one, a gone row is skipped; the rows between are copied in runs.
        let mut edits: Vec<(usize, bool, (ItemKey, ItemId))> = Vec::new();
        for row in gone {
            if let Ok(at) = self.rows.binary_search(&row) {
                edits.push((at, true, row));
            }
        }
        for row in added {
            edits.push((self.rows.partition_point(|r| *r < row), false, row));
        }
        edits.sort_unstable();
        let old = std::mem::take(&mut self.rows);
        let mut out = Vec::with_capacity(old.len() + edits.len());
        let mut from = 0;
        for (at, gone, row) in edits {
            out.extend_from_slice(&old[from..at.max(from)]);
            from = from.max(at);
            match gone {
                true => from = at + 1,
                false => out.push(row),
            }
        }
        out.extend_from_slice(&old[from..]);
        self.rows = out;
        true
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone, Utc};
    use proptest::prelude::*;

    use super::*;
    use crate::console::app::sort::SortKey;
    use crate::types::view::ItemStatus;

    const STATUSES: [ItemStatus; 4] = [
        ItemStatus::Running,
        ItemStatus::Waiting,
        ItemStatus::Incident,
        ItemStatus::Completed,
    ];

    /// An item from a few small numbers, so changes collide on keys and ties.
    fn item(id: u64, v: (u8, u8, u8, u8)) -> ItemSummary {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        ItemSummary {
            id,
            status: STATUSES[usize::from(v.0) % STATUSES.len()],
            priority: i32::from(v.1 % 3),
            workflow: ["billing", "invoice", "onboarding", "zeta"][usize::from(v.2) % 4].into(),
            sla_due: (!v.3.is_multiple_of(4)).then(|| at + Duration::minutes(i64::from(v.3 % 5))),
            updated_at: at + Duration::seconds(i64::from(v.3 % 3)),
            sla_warned: v.0 % 2,
            ..crate::console::tests::fixture::items()[0].clone()
        }
    }

    fn rows(s: &Sorted) -> Vec<ItemId> {
        (0..s.len()).filter_map(|r| s.get(r)).collect()
    }

    proptest! {
        /// Following changes gives the rows a rebuild gives, in every order, and every
        /// shown item's row is found again.
        #[test]
        fn following_changes_matches_a_rebuild(
            start in proptest::collection::vec(any::<(u8, u8, u8, u8)>(), 0..40),
            updates in proptest::collection::vec(
                proptest::collection::vec((0u64..60, any::<(u8, u8, u8, u8)>(), any::<bool>()), 0..12),
                1..6,
            ),
            key in 0usize..SortKey::ALL.len(),
            reverse in any::<bool>(),
        ) {
            let order = Order { key: SortKey::ALL[key], reverse };
            let shown = |i: &ItemSummary| i.status != ItemStatus::Completed || i.priority > 0;
            let mut m = Model::default();
            for (k, v) in start.into_iter().enumerate() {
                m.items.insert(k as u64 + 1, item(k as u64 + 1, v));
            }
            let mut followed = Sorted::default();
            followed.rebuild(m.items.values().filter(|i| shown(i)), order);
            for update in updates {
                let mut changed = Vec::new();
                for (id, v, remove) in update {
                    match remove {
                        true => { m.items.remove(&id); }
                        false => { m.items.insert(id, item(id, v)); }
                    }
                    changed.push(id);
                }
                if !followed.follow(&changed, &m, order, shown) {
                    followed.rebuild(m.items.values().filter(|i| shown(i)), order);
                }
                let mut rebuilt = Sorted::default();
                rebuilt.rebuild(m.items.values().filter(|i| shown(i)), order);
                prop_assert_eq!(rows(&followed), rows(&rebuilt));
                for (row, id) in rows(&followed).into_iter().enumerate() {
                    prop_assert_eq!(followed.row_of(id), Some(row));
                }
                prop_assert_eq!(followed.keys.len(), followed.len());
            }
        }
    }

    #[test]
    fn another_order_or_an_unranked_workflow_asks_for_a_rebuild() {
        let mut m = Model::default();
        m.items.insert(1, item(1, (0, 0, 0, 1)));
        let by = |key| Order {
            key,
            reverse: false,
        };
        let mut s = Sorted::default();
        s.rebuild(m.items.values(), by(SortKey::Workflow));
        assert!(!s.follow(&[1], &m, by(SortKey::Newest), |_| true));
        s.rebuild(m.items.values(), by(SortKey::Workflow));
        m.items.insert(2, item(2, (0, 0, 1, 1)));
        assert!(
            !s.follow(&[2], &m, by(SortKey::Workflow), |_| true),
            "invoice has no rank among billing"
        );
        s.rebuild(m.items.values(), by(SortKey::Workflow));
        assert_eq!(rows(&s), [1, 2]);
        m.items.insert(3, item(3, (0, 0, 0, 1)));
        assert!(s.follow(&[3], &m, by(SortKey::Workflow), |_| true));
        assert_eq!(rows(&s), [3, 1, 2], "billing, newest first, then invoice");
    }
}
