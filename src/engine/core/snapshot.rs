//! Snapshots of the core's state: everything in flight, the counters and the id
//! high-water marks, with the journal seq they cover, so a restart reads one file and
//! replays only the records after it. Loading a snapshot and replaying what follows
//! gives exactly the state a full replay gives (tested in `tests/`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::state::{Counters, Item, State, Task, Timer};
use super::{Core, parse_source};
use crate::definition::Workflow;
use crate::types::event::{ItemId, TaskId};

/// The snapshot format this build writes and reads. A different one is skipped (the
/// journal is replayed instead), never misread.
pub const FORMAT: u32 = 1;

/// One loaded workflow version, as its source text (parsed again on load).
#[derive(Serialize, Deserialize)]
struct WorkflowSource {
    name: String,
    version: u32,
    source: String,
}

/// The head of a snapshot: read first, so the rest is parsed only when it fits.
#[derive(Serialize, Deserialize)]
struct Head {
    format: u32,
    seq: u64,
    next_item: ItemId,
    next_task: TaskId,
    counters: Counters,
    workflows: Vec<WorkflowSource>,
}

#[derive(Serialize)]
struct Out<'a> {
    head: Head,
    items: Vec<&'a Item>,
    tasks: Vec<&'a Task>,
    /// (nanoseconds since the epoch, timer): a fifth of the text form to read back.
    timers: Vec<(i64, &'a Timer)>,
}

#[derive(Deserialize)]
struct In {
    head: Head,
    items: Vec<Item>,
    tasks: Vec<Task>,
    timers: Vec<(i64, Timer)>,
}

/// Why a snapshot could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot format {found} is not the {FORMAT} this tempi reads")]
    Format { found: u32 },
    #[error("workflow {name} v{version} in the snapshot no longer parses")]
    Workflow { name: String, version: u32 },
    #[error("the snapshot is not readable: {0}")]
    Decode(#[from] serde_json::Error),
}

thread_local! {
    /// The workflows items refer to while a snapshot is being read.
    static LOADING: RefCell<HashMap<(String, u32), Arc<Workflow>>> = RefCell::new(HashMap::new());
}

/// An item's workflow in a snapshot: its name and version, resolved on load against
/// the workflows the same snapshot carries.
pub mod workflow_ref {
    use super::*;

    pub fn serialize<S: serde::Serializer>(wf: &Arc<Workflow>, s: S) -> Result<S::Ok, S::Error> {
        (&wf.name, wf.version).serialize(s)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Arc<Workflow>, D::Error> {
        let key: (String, u32) = Deserialize::deserialize(d)?;
        LOADING
            .with(|m| m.borrow().get(&key).cloned())
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "item refers to workflow {} v{}, which the snapshot does not carry",
                    key.0, key.1
                ))
            })
    }
}

impl Core {
    /// Write the state as a snapshot covering every record up to `state.seq`.
    pub fn write_snapshot(&self, w: impl std::io::Write) -> Result<(), serde_json::Error> {
        let st = &self.state;
        let mut workflows: Vec<WorkflowSource> = st
            .workflows
            .iter()
            .flat_map(|(name, vs)| {
                vs.iter().map(|(v, (_, src))| WorkflowSource {
                    name: name.clone(),
                    version: *v,
                    source: src.to_string(),
                })
            })
            .collect();
        workflows.sort_by(|a, b| (&a.name, a.version).cmp(&(&b.name, b.version)));
        let out = Out {
            head: Head {
                format: FORMAT,
                seq: st.seq,
                next_item: st.next_item,
                next_task: st.next_task,
                counters: st.counters.clone(),
                workflows,
            },
            items: st.items.values().collect(),
            tasks: st.tasks.values().collect(),
            timers: st
                .timers
                .iter()
                .map(|(at, t)| (at.timestamp_nanos_opt().unwrap_or(i64::MAX), t))
                .collect(),
        };
        serde_json::to_writer(w, &out)
    }

    /// A core from a snapshot's bytes; replay the journal after `state.seq` onto it.
    pub fn from_snapshot(env: Value, bytes: &[u8]) -> Result<Core, SnapshotError> {
        Core::from_snapshot_with(env, bytes, &parse_source)
    }

    /// `from_snapshot` with the way workflow sources become models again.
    pub fn from_snapshot_with(
        env: Value,
        bytes: &[u8],
        parse: &dyn Fn(&str) -> Result<Workflow, String>,
    ) -> Result<Core, SnapshotError> {
        #[derive(Deserialize)]
        struct HeadOnly {
            head: Head,
        }
        let HeadOnly { head } = serde_json::from_slice(bytes)?;
        if head.format != FORMAT {
            return Err(SnapshotError::Format { found: head.format });
        }
        let mut core = Core::new(env);
        let mut registry = HashMap::new();
        for w in &head.workflows {
            let Ok(wf) = parse(&w.source) else {
                return Err(SnapshotError::Workflow {
                    name: w.name.clone(),
                    version: w.version,
                });
            };
            let wf = Arc::new(wf);
            registry.insert((w.name.clone(), w.version), wf.clone());
            core.state
                .workflows
                .entry(w.name.clone())
                .or_default()
                .insert(w.version, (wf, Arc::from(w.source.as_str())));
        }
        LOADING.with(|m| *m.borrow_mut() = registry);
        let parsed = serde_json::from_slice::<In>(bytes);
        LOADING.with(|m| m.borrow_mut().clear());
        let In {
            head,
            items,
            tasks,
            timers,
        } = parsed?;
        let st: &mut State = &mut core.state;
        st.seq = head.seq;
        st.next_item = head.next_item;
        st.next_task = head.next_task;
        st.counters = head.counters;
        st.items = items.into_iter().map(|it| (it.id, it)).collect();
        st.tasks = tasks.into_iter().map(|t| (t.id, t)).collect();
        st.timers = timers
            .into_iter()
            .map(|(at, t)| (DateTime::<Utc>::from_timestamp_nanos(at), t))
            .collect();
        Ok(core)
    }
}
