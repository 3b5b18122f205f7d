//! The console's mirror of the engine: items, open tasks, counters and recent records,
//! kept current by the updates the sync task sends.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::source::SourceError;
use crate::types::changes::{Changes, EventLine};
use crate::types::deploy::{WorkflowInfo, WorkflowVersion};
use crate::types::view::{ItemDetail, ItemSummary, Metrics, TaskStatus, TaskView};
use crate::types::{ItemId, Record, TaskId};

/// Records kept for the events pane.
pub const EVENTS_KEPT: usize = 2000;
/// Ended items kept beside the ones in flight (the newest win).
pub const ENDED_KEPT: usize = 5000;
/// Seconds of throughput history for the sparkline.
pub const HISTORY: usize = 120;

/// What the sync task tells the app.
#[derive(Debug, Clone)]
pub enum Update {
    /// Everything, on connect and on resync.
    Snapshot {
        items: Vec<ItemSummary>,
        tasks: Vec<TaskView>,
        metrics: Box<Metrics>,
        workflows: Vec<WorkflowInfo>,
        recent: Vec<EventLine>,
    },
    /// The rest of a snapshot's items in flight, after its first update.
    Loaded(Vec<ItemSummary>),
    /// What changed since the last update, from the change feed.
    Changes(Arc<Changes>),
    Detail(ItemId, Result<Box<(ItemDetail, Vec<Record>)>, SourceError>),
    /// Items the engine found for the filter (ended ones beyond the window included).
    Found(Vec<ItemSummary>),
    /// The report the KPI view asked for.
    Report(Result<Box<crate::types::report::Report>, SourceError>),
    /// The connection is down; the sync task keeps trying unless `fatal`.
    Lost {
        error: SourceError,
        fatal: bool,
    },
}

/// Connection state for the header.
#[derive(Debug, Clone, PartialEq)]
pub enum Link {
    Connecting,
    Up,
    Down(String),
}

#[derive(Debug)]
pub struct Model {
    pub items: BTreeMap<ItemId, ItemSummary>,
    /// Open tasks (claimed included), by id.
    pub tasks: Vec<TaskView>,
    pub metrics: Metrics,
    /// The names of the loaded workflows, sorted (what `:start` completes).
    pub workflows: Vec<String>,
    /// Every loaded workflow version: from the snapshot, then from each deploy.
    pub versions: BTreeSet<WorkflowVersion>,
    pub events: VecDeque<EventLine>,
    /// Records the feed counted but did not send as lines (too many at once).
    pub events_skipped: u64,
    /// Steps succeeded per second, oldest first.
    pub throughput: VecDeque<u64>,
    pub link: Link,
    /// How many of `items` have ended (kept current, so trimming needs no scan).
    ended: usize,
    /// Items fetched for the filter in use: kept beyond the window of ended ones.
    found: BTreeSet<ItemId>,
    last_steps: Option<(DateTime<Utc>, u64)>,
    /// Items changed or gone since the lists last took them (`take_touched`).
    touched: Touched,
}

/// Which items changed since the lists were last derived.
#[derive(Debug, Clone, PartialEq)]
pub enum Touched {
    /// All of them (a snapshot replaced the mirror).
    All,
    /// These, changed, new or gone (an id may repeat).
    Some(Vec<ItemId>),
}

impl Default for Model {
    fn default() -> Self {
        Model {
            items: BTreeMap::new(),
            tasks: Vec::new(),
            metrics: Metrics::default(),
            workflows: Vec::new(),
            versions: BTreeSet::new(),
            events: VecDeque::new(),
            events_skipped: 0,
            throughput: VecDeque::new(),
            link: Link::Connecting,
            ended: 0,
            found: BTreeSet::new(),
            last_steps: None,
            touched: Touched::All,
        }
    }
}

impl Model {
    /// Fold in one update taken at `now`.
    pub fn apply(&mut self, update: Update, now: DateTime<Utc>) {
        match update {
            Update::Snapshot {
                items,
                tasks,
                metrics,
                workflows,
                recent,
            } => {
                self.items = items.into_iter().map(|i| (i.id, i)).collect();
                self.touched = Touched::All;
                self.ended = self.items.values().filter(|i| i.status.is_final()).count();
                self.found.clear();
                self.tasks = tasks;
                self.tasks.sort_by_key(|t| t.id);
                self.versions = workflows
                    .into_iter()
                    .map(|w| WorkflowVersion {
                        name: w.name,
                        version: w.version,
                    })
                    .collect();
                self.name_workflows();
                self.events.clear();
                self.push_lines(recent);
                self.set_metrics(*metrics, now);
                self.link = Link::Up;
                self.trim_ended();
            }
            Update::Changes(c) => {
                let c = Arc::unwrap_or_clone(c);
                let ended: BTreeSet<ItemId> = c
                    .items
                    .iter()
                    .filter(|i| i.status.is_final())
                    .map(|i| i.id)
                    .collect();
                for it in c.items {
                    self.upsert(it);
                }
                self.merge_tasks(c.tasks, &ended);
                self.set_metrics(c.metrics, now);
                self.events_skipped += c.lines_skipped;
                self.push_lines(c.lines);
                if !c.workflows.is_empty() {
                    self.versions.extend(c.workflows);
                    self.name_workflows();
                }
                self.link = Link::Up;
                self.trim_ended();
            }
            Update::Loaded(items) => {
                for it in items {
                    self.upsert(it);
                }
            }
            Update::Found(items) => {
                self.found.clear();
                for it in items {
                    self.found.insert(it.id);
                    self.upsert(it);
                }
            }
            Update::Lost { error, .. } => self.link = Link::Down(error.to_string()),
            // The app keeps the report; the model holds only what the panes show.
            Update::Report(_) => {}
            Update::Detail(..) => {}
        }
    }

    fn name_workflows(&mut self) {
        self.workflows = self.versions.iter().map(|v| v.name.clone()).collect();
        self.workflows.dedup();
    }

    /// The items changed since the last call, for the lists to follow.
    pub fn take_touched(&mut self) -> Touched {
        std::mem::replace(&mut self.touched, Touched::Some(Vec::new()))
    }

    fn touch(&mut self, id: ItemId) {
        if let Touched::Some(ids) = &mut self.touched {
            ids.push(id);
        }
    }

    fn upsert(&mut self, it: ItemSummary) {
        self.touch(it.id);
        let ends = it.status.is_final() as usize;
        let was = self.items.insert(it.id, it);
        let ended = was.is_some_and(|w| w.status.is_final()) as usize;
        self.ended = self.ended + ends - ended;
    }

    /// Fold changed tasks into the open ones in one pass: open ones replace or join,
    /// closed ones leave, and so does any task of an item that has ended.
    fn merge_tasks(&mut self, changed: Vec<TaskView>, ended: &BTreeSet<ItemId>) {
        if changed.is_empty() && ended.is_empty() {
            return;
        }
        let mut changed: BTreeMap<TaskId, TaskView> =
            changed.into_iter().map(|t| (t.id, t)).collect();
        let old = std::mem::take(&mut self.tasks);
        let mut out = Vec::with_capacity(old.len() + changed.len());
        let mut next = changed.pop_first();
        let open = |t: &TaskView| {
            matches!(t.status, TaskStatus::Open | TaskStatus::Claimed) && !ended.contains(&t.item)
        };
        for t in old.into_iter().filter(|t| !ended.contains(&t.item)) {
            while let Some(c) = next.take_if(|c| c.0 < t.id) {
                out.extend(Some(c.1).filter(open));
                next = changed.pop_first();
            }
            match next.take_if(|c| c.0 == t.id) {
                Some(c) => {
                    out.extend(Some(c.1).filter(open));
                    next = changed.pop_first();
                }
                None => out.push(t),
            }
        }
        out.extend(next.into_iter().chain(changed).map(|c| c.1).filter(open));
        self.tasks = out;
    }

    /// Lines arrive in order; any already shown (after a resume) are skipped.
    fn push_lines(&mut self, lines: Vec<EventLine>) {
        for r in lines {
            if self.events.back().is_some_and(|last| r.seq <= last.seq) {
                continue;
            }
            if self.events.len() == EVENTS_KEPT {
                self.events.pop_front();
            }
            self.events.push_back(r);
        }
    }

    /// Throughput is the growth of `steps_succeeded`, spread over whole seconds.
    fn set_metrics(&mut self, m: Metrics, now: DateTime<Utc>) {
        if let Some((at, steps)) = self.last_steps {
            let secs = (now - at).num_milliseconds() as f64 / 1000.0;
            if secs >= 1.0 {
                let rate = m.steps_succeeded.saturating_sub(steps) as f64 / secs;
                let samples = secs.round().max(1.0) as usize;
                for _ in 0..samples.min(HISTORY) {
                    if self.throughput.len() == HISTORY {
                        self.throughput.pop_front();
                    }
                    self.throughput.push_back(rate.round() as u64);
                }
                self.last_steps = Some((now, m.steps_succeeded));
            }
        } else {
            self.last_steps = Some((now, m.steps_succeeded));
        }
        self.metrics = m;
    }

    /// Keep every item in flight, the newest ended ones, and those found for the
    /// filter in use.
    fn trim_ended(&mut self) {
        let ended = self.ended;
        if ended <= ENDED_KEPT + self.found.len() {
            return;
        }
        let ids: Vec<ItemId> = self
            .items
            .values()
            .filter(|i| i.status.is_final() && !self.found.contains(&i.id))
            .map(|i| i.id)
            .take(ended - ENDED_KEPT - self.found.len())
            .collect();
        for &id in &ids {
            self.items.remove(&id);
            self.touch(id);
        }
        self.ended -= ids.len();
    }

    /// The latest steps-per-second sample.
    pub fn rate(&self) -> u64 {
        self.throughput.back().copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    use crate::types::view::ItemStatus;

    fn item(id: ItemId, status: ItemStatus) -> ItemSummary {
        let t = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        ItemSummary {
            id,
            workflow: "wf".into(),
            version: 1,
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

    fn changes(items: Vec<ItemSummary>, tasks: Vec<TaskView>) -> Update {
        Update::Changes(Arc::new(Changes {
            items,
            tasks,
            ..Changes::default()
        }))
    }

    #[test]
    fn deltas_replace_items_and_old_ended_items_are_dropped() {
        let now = Utc::now();
        let mut m = Model::default();
        let mut items: Vec<ItemSummary> = (1..=ENDED_KEPT as u64 + 10)
            .map(|i| item(i, ItemStatus::Completed))
            .collect();
        items.push(item(1_000_000, ItemStatus::Running));
        m.apply(
            Update::Snapshot {
                items,
                tasks: vec![],
                metrics: Box::default(),
                workflows: vec![],
                recent: vec![],
            },
            now,
        );
        assert_eq!(m.items.len(), ENDED_KEPT + 1);
        assert!(
            !m.items.contains_key(&10),
            "the oldest ended items go first"
        );
        assert!(m.items.contains_key(&11));
        m.apply(
            changes(vec![item(1_000_000, ItemStatus::Incident)], vec![]),
            now,
        );
        assert_eq!(m.items[&1_000_000].status, ItemStatus::Incident);
        // Items found for a filter stay beside the window; the window stays as it was.
        m.apply(Update::Found(vec![item(3, ItemStatus::Completed)]), now);
        let ended = |id| item(id, ItemStatus::Completed);
        let newer: Vec<ItemSummary> = (2_000_000..2_000_005).map(ended).collect();
        m.apply(changes(newer, vec![]), now);
        assert!(m.items.contains_key(&3), "the found item is kept");
        assert!(
            !m.items.contains_key(&11),
            "the window still drops its oldest"
        );
        assert_eq!(m.items.len(), ENDED_KEPT + 2);
    }

    #[test]
    fn throughput_is_steps_per_second() {
        let t0 = Utc::now();
        let mut m = Model::default();
        let metrics = |steps| Metrics {
            steps_succeeded: steps,
            ..Metrics::default()
        };
        let delta = |steps| {
            Update::Changes(Arc::new(Changes {
                metrics: metrics(steps),
                ..Changes::default()
            }))
        };
        m.apply(delta(100), t0);
        m.apply(delta(600), t0 + chrono::Duration::seconds(1));
        m.apply(delta(1600), t0 + chrono::Duration::seconds(3));
        assert_eq!(Vec::from(m.throughput.clone()), vec![500, 500, 500]);
        assert_eq!(m.rate(), 500);
    }
}
