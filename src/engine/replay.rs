//! Rebuilding the core from the newest usable snapshot and the journal after it: what a
//! start does, and what the runtime does after a commit failed on a full disk.

use std::path::Path;

use serde_json::Value;

use super::core::Core;
use super::snapshots;
use crate::store::retention::Floors;
use crate::store::{Store, StoreError};
use crate::types::tally::Totals;

/// The core as the journal holds it, and how many records were replayed.
pub(crate) fn rebuild(
    dir: &Path,
    env: &Value,
    store: &dyn Store,
    floors: &Floors,
) -> Result<(Core, u64), StoreError> {
    let head = store.head();
    let (mut core, from) = snapshots::restore(dir, env, head, floors.pruned_through);
    let mut n = 0u64;
    store.replay(from, &mut |rec| {
        core.replay(&rec);
        n += 1;
    })?;
    // Ids of items retention removed are never handed out again.
    let st = &mut core.state;
    st.next_item = st.next_item.max(floors.next_item);
    st.next_task = st.next_task.max(floors.next_task);
    st.seq = st.seq.max(head);
    // What was counted is what the rollups hold (committed with the records replayed).
    st.totals = Totals {
        workflows: store.rollup_totals()?,
        steps: Default::default(),
    };
    Ok((core, n))
}
