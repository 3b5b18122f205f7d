//! Snapshots of the core's state: everything in flight, the counters and the id
//! high-water marks, with the journal seq they cover, so a restart reads one file and
//! replays only the records after it. Loading a snapshot and replaying what follows
//! gives exactly the state a full replay gives (the core's property test checks it).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::state::{Counters, Item, State, Task, Timer, compact};
use super::{Core, parse_source};
use crate::definition::Workflow;
use crate::types::event::{ItemId, TaskId};
use crate::types::identity::Directory;

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
    /// The operator directory (absent in snapshots from before there was one).
    #[serde(default)]
    directory: Directory,
}

/// Items, tasks or timers: one line of a snapshot after its head. Lines are parsed in
/// parallel on load (a restart with 100,000 items in flight reads tens of megabytes).
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum PartOut<'a> {
    Items(Vec<&'a Item>),
    Tasks(Vec<&'a Task>),
    /// (nanoseconds since the epoch, timer).
    Timers(Vec<(i64, &'a Timer)>),
    /// The last line: how many of each came before, so a cut file is not mistaken for
    /// a whole one.
    End(Counts),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Counts {
    items: usize,
    tasks: usize,
    timers: usize,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Part {
    Items(Vec<Item>),
    Tasks(Vec<Task>),
    Timers(Vec<(i64, Timer)>),
    End(Counts),
}

/// Entries per line.
const CHUNK: usize = 4096;

/// Why a snapshot could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot format {found} is not the {FORMAT} this tempi reads")]
    Format { found: u32 },
    #[error("workflow {name} v{version} in the snapshot no longer parses")]
    Workflow { name: String, version: u32 },
    #[error("the snapshot is not readable: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("the snapshot is incomplete or inconsistent: {0}")]
    Incomplete(String),
}

thread_local! {
    /// The workflows items refer to while a snapshot is being read.
    static LOADING: RefCell<HashMap<(String, u32), Arc<Workflow>>> = RefCell::new(HashMap::new());
}

/// An item as `apply` would have built it: decoding leaves spare capacity in vectors
/// and JSON maps, which every item would carry for as long as it runs.
fn exact(mut it: Item) -> Item {
    it.input = compact(&it.input);
    it.steps.shrink_to_fit();
    for s in &mut it.steps {
        if let Some(o) = &s.output {
            s.output = Some(compact(o));
        }
    }
    it.completed.shrink_to_fit();
    it.signals.shrink_to_fit();
    it.tasks.shrink_to_fit();
    it
}

/// Every item has a state per step of its workflow and every task a live item and step:
/// what `apply` and the decisions index by without checking.
fn check_shape(st: &State) -> Result<(), String> {
    for it in st.items.values() {
        let n = it.wf.steps.len();
        if it.steps.len() != n || it.completed.iter().any(|&c| c as usize >= n) {
            return Err(format!(
                "item {} has {} step states for the {n} steps of {} v{}",
                it.id,
                it.steps.len(),
                it.wf.name,
                it.wf.version
            ));
        }
    }
    for t in st.tasks.values() {
        let fits = st
            .items
            .get(&t.item)
            .is_some_and(|it| (t.step as usize) < it.steps.len() && it.tasks.contains(&t.id));
        if !fits {
            return Err(format!(
                "task {} does not belong to a step of item {}",
                t.id, t.item
            ));
        }
    }
    Ok(())
}

/// Parse the lines after the head on two threads (every other line each), in order.
fn parse_parts(
    lines: &[&[u8]],
    registry: &HashMap<(String, u32), Arc<Workflow>>,
) -> Result<Vec<Part>, serde_json::Error> {
    const THREADS: usize = 2;
    let results: Vec<Vec<(usize, Result<Part, serde_json::Error>)>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|k| {
                s.spawn(move || {
                    LOADING.with(|m| *m.borrow_mut() = registry.clone());
                    let out: Vec<_> = lines
                        .iter()
                        .enumerate()
                        .skip(k)
                        .step_by(THREADS)
                        .map(|(i, l)| (i, serde_json::from_slice::<Part>(l)))
                        .collect();
                    LOADING.with(|m| m.borrow_mut().clear());
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_default())
            .collect()
    });
    let mut all: Vec<(usize, Result<Part, serde_json::Error>)> =
        results.into_iter().flatten().collect();
    if all.len() != lines.len() {
        return Err(serde::de::Error::custom("a snapshot reader thread failed"));
    }
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, p)| p).collect()
}

/// One line of a snapshot: compact JSON (which never holds a raw newline), then `\n`.
fn line(w: &mut impl std::io::Write, part: &impl Serialize) -> Result<(), serde_json::Error> {
    serde_json::to_writer(&mut *w, part)?;
    w.write_all(b"\n").map_err(serde_json::Error::io)
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
    /// Write the state as a snapshot covering every record up to `state.seq`: a line
    /// with the head, then lines of at most `CHUNK` items, tasks or timers.
    pub fn write_snapshot(&self, mut w: impl std::io::Write) -> Result<(), serde_json::Error> {
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
        let head = Head {
            format: FORMAT,
            seq: st.seq,
            next_item: st.next_item,
            next_task: st.next_task,
            counters: st.counters.clone(),
            workflows,
            directory: st.directory.clone(),
        };
        line(&mut w, &head)?;
        let items: Vec<&Item> = st.items.values().collect();
        for c in items.chunks(CHUNK) {
            line(&mut w, &PartOut::Items(c.to_vec()))?;
        }
        let tasks: Vec<&Task> = st.tasks.values().collect();
        for c in tasks.chunks(CHUNK) {
            line(&mut w, &PartOut::Tasks(c.to_vec()))?;
        }
        let timers: Vec<(i64, &Timer)> = st
            .timers
            .iter()
            .map(|(at, t)| (at.timestamp_nanos_opt().unwrap_or(i64::MAX), t))
            .collect();
        for c in timers.chunks(CHUNK) {
            line(&mut w, &PartOut::Timers(c.to_vec()))?;
        }
        line(
            &mut w,
            &PartOut::End(Counts {
                items: items.len(),
                tasks: tasks.len(),
                timers: timers.len(),
            }),
        )
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
        let mut lines = bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty());
        let head: Head = serde_json::from_slice(lines.next().unwrap_or_default())?;
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
        let parts = parse_parts(&lines.collect::<Vec<_>>(), &registry)?;
        let st: &mut State = &mut core.state;
        st.seq = head.seq;
        st.next_item = head.next_item;
        st.next_task = head.next_task;
        st.counters = head.counters;
        st.directory = head.directory;
        st.directory_version += 1;
        let mut end = None;
        for part in parts {
            if end.is_some() {
                return Err(SnapshotError::Incomplete("lines after the end".into()));
            }
            match part {
                Part::Items(v) => st.items.extend(v.into_iter().map(|it| (it.id, exact(it)))),
                Part::Tasks(v) => st.tasks.extend(v.into_iter().map(|t| (t.id, t))),
                Part::Timers(v) => st.timers.extend(
                    v.into_iter()
                        .map(|(at, t)| (DateTime::<Utc>::from_timestamp_nanos(at), t)),
                ),
                Part::End(c) => end = Some(c),
            }
        }
        let found = Counts {
            items: st.items.len(),
            tasks: st.tasks.len(),
            timers: st.timers.len(),
        };
        match end {
            Some(said) if said == found => {}
            Some(said) => {
                return Err(SnapshotError::Incomplete(format!(
                    "it says {said:?} but holds {found:?}"
                )));
            }
            None => return Err(SnapshotError::Incomplete("its last line is missing".into())),
        }
        check_shape(st).map_err(SnapshotError::Incomplete)?;
        Ok(core)
    }
}
