//! Scenario tests of the core on a manual clock.
//!
//! `H` is the harness: a manual clock, a deterministic rng, the full record log, and the
//! dispatches the runtime would still have to carry out. `H::replayed` rebuilds a fresh
//! core from the log and checks that every view agrees with the live core.

mod aborts;
mod authority;
mod deploy;
mod exchange;
mod forms;
mod names;
mod poison;
mod prop;
mod scenarios;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Value, json};

use super::state::{State, Timer};
use super::{Attempt, Core, Ctx, Dispatch, Work};
use crate::definition::{
    AgentSpec, Escalation, HttpSpec, HumanSpec, OnFailure, RetryPolicy, ReviewSpec, Sla, Step,
    StepKind, WaitSpec, Workflow,
};
use crate::types::command::{Command, CommandError, Reply};
use crate::types::event::{Event, ItemId, Phase, Record, StepError, StepErrorKind};
use crate::types::identity::Who;
use crate::types::job::{Job, Outcome, StepTimeouts};
use crate::types::view::{EndedItem, ItemDetail, ItemFilter, ItemStatus, TaskFilter, TaskView};

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 6, 9, 0, 0).unwrap()
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

// ---- workflow builders ----

pub fn http_kind(url: &str) -> StepKind {
    StepKind::Http(HttpSpec {
        method: "POST".into(),
        url: url.into(),
        headers: Default::default(),
        json: None,
        expect: Vec::new(),
    })
}

pub fn step(id: &str, kind: StepKind, needs: &[&str]) -> Step {
    Step {
        id: id.into(),
        kind,
        needs: needs.iter().map(|s| s.to_string()).collect(),
        when: None,
        retry: RetryPolicy::default(),
        timeout: None,
        deadline: None,
        compensate: None,
    }
}

pub fn http(id: &str, needs: &[&str]) -> Step {
    step(id, http_kind(&format!("http://svc/{id}")), needs)
}

pub fn human(id: &str, needs: &[&str], f: impl FnOnce(&mut HumanSpec)) -> Step {
    let mut h = HumanSpec {
        title: format!("Decide {id}"),
        details: None,
        group: None,
        assignee: None,
        options: vec!["approved".into(), "rejected".into()],
        due: None,
        escalate: Vec::new(),
        form: Vec::new(),
        approvals: 1,
        self_approval: true,
        distinct_from: Vec::new(),
    };
    f(&mut h);
    step(id, StepKind::Human(h), needs)
}

pub fn agent(id: &str, needs: &[&str], min: f64, review: ReviewSpec) -> Step {
    let request = match http_kind(&format!("http://agent/{id}")) {
        StepKind::Http(h) => h,
        _ => unreachable!(),
    };
    step(
        id,
        StepKind::Agent(AgentSpec {
            request,
            min_confidence: min,
            review,
        }),
        needs,
    )
}

pub fn wait(id: &str, needs: &[&str], w: WaitSpec) -> Step {
    step(id, StepKind::Wait(w), needs)
}

pub fn with(mut s: Step, f: impl FnOnce(&mut Step)) -> Step {
    f(&mut s);
    s
}

pub fn retry(attempts: u32, backoff: u64, multiplier: f64) -> RetryPolicy {
    RetryPolicy {
        attempts,
        backoff: secs(backoff),
        multiplier,
        max_backoff: secs(3600),
        jitter: 0.0,
        non_retryable: Vec::new(),
    }
}

pub fn undo(id: &str) -> Option<Box<StepKind>> {
    Some(Box::new(http_kind(&format!("http://svc/{id}/undo"))))
}

pub fn esc(after: u64, to: &str, repeat: Option<u64>) -> Escalation {
    Escalation {
        after: secs(after),
        to: to.into(),
        repeat: repeat.map(secs),
    }
}

pub fn workflow(name: &str, steps: Vec<Step>) -> Workflow {
    Workflow::new(name.into(), 1, steps)
}

pub fn sla(due: u64, warn: &[u8], escalate: Vec<Escalation>) -> Option<Sla> {
    Some(Sla {
        due: secs(due),
        warn: warn.to_vec(),
        escalate,
    })
}

pub fn err(kind: StepErrorKind) -> StepError {
    StepError::new(kind, format!("{} failure", kind.name()))
}

pub fn key(d: &Dispatch) -> String {
    match &d.work {
        Work::Job(Job::Http(h)) | Work::Job(Job::Agent(h)) => h.idempotency_key.clone(),
        Work::Job(Job::Shell(s)) => s.idempotency_key.clone(),
        Work::Immediate(_) => panic!("no key for an immediate step"),
    }
}

// ---- the harness ----

pub struct H {
    pub core: Core,
    pub now: DateTime<Utc>,
    seed: u64,
    pub log: Vec<Record>,
    pub pending: Vec<Dispatch>,
    /// Attempts the core said to end, in order.
    pub aborted: Vec<Attempt>,
    /// Every attempt ever dispatched (an abort must name one of them).
    dispatched: std::collections::HashSet<Attempt>,
    timeouts: StepTimeouts,
    /// Items the core let go of, as the store would keep them.
    pub ended: BTreeMap<ItemId, EndedItem>,
    /// The latest snapshot and how much of the log it covers.
    pub snapshot: Option<(Vec<u8>, usize)>,
    wfs: Vec<(Arc<Workflow>, Arc<str>)>,
    /// Every tally taken, added up as the store's rollups would be.
    pub rolled: BTreeMap<String, crate::types::tally::Counts>,
}

pub fn attempt_of(d: &Dispatch) -> Attempt {
    Attempt {
        item: d.item,
        step: d.step.clone(),
        attempt: d.attempt,
        phase: d.phase,
    }
}

fn env() -> Value {
    json!({ "region": "eu" })
}

impl H {
    pub fn new(wfs: Vec<Workflow>) -> H {
        let mut h = H {
            core: Core::new(env()),
            now: t0(),
            seed: 0x5eed,
            log: Vec::new(),
            pending: Vec::new(),
            aborted: Vec::new(),
            dispatched: Default::default(),
            timeouts: StepTimeouts::default(),
            ended: BTreeMap::new(),
            snapshot: None,
            rolled: BTreeMap::new(),
            wfs: Vec::new(),
        };
        for wf in wfs {
            let source = format!("{wf:?}");
            let (loaded, _) = h.turn(|c, ctx| c.load_workflow(ctx, &wf, &source));
            assert_eq!(loaded, Ok(true));
            h.wfs.push((Arc::new(wf), Arc::from(source.as_str())));
        }
        h
    }

    /// One turn of the core at `now`; its records go to the log, its dispatches to
    /// `pending`. Returns the closure's result and the records of the turn.
    pub fn turn<R>(&mut self, f: impl FnOnce(&mut Core, &mut Ctx) -> R) -> (R, Vec<Record>) {
        let seed = &mut self.seed;
        let mut rng = move || {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (*seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut ctx = Ctx::new(self.now, &mut rng);
        let r = f(&mut self.core, &mut ctx);
        let records = std::mem::take(&mut ctx.records);
        let dispatch = std::mem::take(&mut ctx.dispatch);
        let aborted = std::mem::take(&mut ctx.abort);
        let ended = std::mem::take(&mut ctx.ended);
        drop(ctx);
        for (wf, minutes) in self.core.take_tally().rows {
            let c = self.rolled.entry(wf).or_default();
            for m in minutes.values() {
                c.merge(m);
            }
        }
        assert_eq!(
            self.rolled, self.core.state.totals.workflows,
            "the tallies taken add up to the totals"
        );
        for e in ended {
            assert!(
                !self.core.state.items.contains_key(&e.summary.id),
                "item {} ended but stayed in memory",
                e.summary.id
            );
            let last = records.last().map(|r| r.seq);
            assert!(
                records.iter().any(|r| r.seq == e.last_seq) && Some(e.last_seq) <= last,
                "item {} ended at a seq outside its turn",
                e.summary.id
            );
            self.ended.insert(e.summary.id, e);
        }
        self.log.extend(records.iter().cloned());
        for d in &dispatch {
            self.dispatched.insert(attempt_of(d));
        }
        for a in &aborted {
            assert!(
                self.dispatched.contains(a),
                "aborted {a:?}, never dispatched"
            );
        }
        self.aborted.extend(aborted);
        self.pending.extend(dispatch);
        (r, records)
    }

    /// Default attempt timeouts of this core (and of the cores that replace it).
    pub fn set_timeouts(&mut self, t: StepTimeouts) {
        self.timeouts = t;
        self.core.set_step_timeouts(t);
    }

    /// An operator command from the daemon's own user (an admin); a refused one must
    /// emit nothing.
    pub fn cmd(&mut self, actor: &str, cmd: Command) -> Result<Reply, CommandError> {
        self.cmd_as(&Who::root(actor), cmd)
    }

    /// An operator command as `who`, judged by the directory; a refused one must emit
    /// nothing.
    pub fn cmd_as(&mut self, who: &Who, cmd: Command) -> Result<Reply, CommandError> {
        let before = self.pending.len();
        let (r, recs) = self.turn(|c, ctx| {
            ctx.token = cmd
                .issues_token()
                .then(|| crate::types::identity::token_hash(&format!("token-{}", c.state.seq)));
            c.command(ctx, who, None, &cmd)
        });
        if r.is_err() {
            assert!(recs.is_empty(), "refused {cmd:?} emitted {recs:?}");
            assert_eq!(self.pending.len(), before, "refused {cmd:?} dispatched");
        }
        // What the engine's handle answers for an item or task that has left memory.
        match r {
            Err(CommandError::NotFound(_)) => {
                let item = cmd
                    .item()
                    .and_then(|i| self.ended.get(&i))
                    .map(|e| &e.summary);
                let task = cmd.task().and_then(|t| {
                    self.ended
                        .values()
                        .flat_map(|e| &e.tasks)
                        .find(|v| v.id == t)
                });
                super::refuse_ended(item, task).map_or(r, Err)
            }
            r => r,
        }
    }

    pub fn start(&mut self, wf: &str, input: Value) -> ItemId {
        let r = self.cmd(
            "op",
            Command::Start {
                workflow: wf.into(),
                version: None,
                input,
                priority: 0,
                since: None,
            },
        );
        r.expect("start").item.expect("item id")
    }

    /// Index in `pending` of the first dispatch of this step (and phase).
    fn find(&self, item: Option<ItemId>, step: &str, phase: Phase) -> usize {
        self.pending
            .iter()
            .position(|d| &*d.step == step && d.phase == phase && item.is_none_or(|i| d.item == i))
            .unwrap_or_else(|| {
                panic!(
                    "no pending dispatch of {step} ({phase:?}): {:?}",
                    self.pending_steps()
                )
            })
    }

    pub fn take(&mut self, item: Option<ItemId>, step: &str, phase: Phase) -> Dispatch {
        let k = self.find(item, step, phase);
        self.pending.remove(k)
    }

    /// Deliver an executor result for a dispatch.
    pub fn deliver(&mut self, d: &Dispatch, result: Result<Value, StepError>) -> Vec<Record> {
        self.deliver_outcome(d, result.into())
    }

    /// Deliver an executor's whole answer (a result and its HTTP exchange).
    pub fn deliver_outcome(&mut self, d: &Dispatch, outcome: Outcome) -> Vec<Record> {
        self.turn(|c, ctx| c.step_done(ctx, d.item, &d.step, d.attempt, d.phase, outcome))
            .1
    }

    pub fn complete(&mut self, step: &str, result: Result<Value, StepError>) -> Vec<Record> {
        let d = self.take(None, step, Phase::Run);
        self.deliver(&d, result)
    }

    pub fn complete_on(
        &mut self,
        item: ItemId,
        step: &str,
        result: Result<Value, StepError>,
    ) -> Vec<Record> {
        let d = self.take(Some(item), step, Phase::Run);
        self.deliver(&d, result)
    }

    pub fn fail(&mut self, step: &str, e: StepError) -> Vec<Record> {
        self.complete(step, Err(e))
    }

    pub fn undo_done(&mut self, step: &str, result: Result<Value, StepError>) -> Vec<Record> {
        let d = self.take(None, step, Phase::Compensate);
        self.deliver(&d, result)
    }

    /// Move the clock and fire due timers.
    pub fn advance(&mut self, s: u64) -> Vec<Record> {
        self.now += chrono::Duration::seconds(s as i64);
        self.turn(|c, ctx| c.fire_timers(ctx)).1
    }

    pub fn pending_steps(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .pending
            .iter()
            .map(|d| match d.phase {
                Phase::Run => d.step.to_string(),
                Phase::Compensate => format!("undo:{}", d.step),
            })
            .collect();
        v.sort();
        v
    }

    pub fn status(&self, item: ItemId) -> ItemStatus {
        match self.core.item(item) {
            Some(d) => d.summary.status,
            None => self.ended.get(&item).expect("item").summary.status,
        }
    }

    /// An item's detail: from the core while in flight, else rebuilt from its records
    /// the way the engine's handle does for an ended one.
    pub fn detail(&self, item: ItemId) -> Option<ItemDetail> {
        if let Some(d) = self.core.item(item) {
            return Some(d);
        }
        let e = self.ended.get(&item)?;
        let (wf, src) = self
            .wfs
            .iter()
            .find(|(w, _)| w.name == e.summary.workflow && w.version == e.summary.version)?;
        let records: Vec<Record> = self
            .log
            .iter()
            .filter(|r| r.item == Some(item))
            .cloned()
            .collect();
        assert_eq!(records.first().map(|r| r.seq), Some(e.first_seq));
        assert_eq!(records.last().map(|r| r.seq), Some(e.last_seq));
        let d = Core::rebuild(wf.clone(), src.clone(), &records)?;
        assert_eq!(d.summary, e.summary, "rebuilt summary of item {item}");
        Some(d)
    }

    /// Every task, in flight or ended, by id.
    pub fn all_tasks(&self) -> Vec<TaskView> {
        let mut all = self.core.tasks(&TaskFilter {
            all: true,
            ..Default::default()
        });
        all.extend(self.ended.values().flat_map(|e| e.tasks.iter().cloned()));
        all.sort_by_key(|t| t.id);
        all
    }

    pub fn events(&self) -> impl Iterator<Item = &Event> {
        self.log.iter().map(|r| &r.event)
    }

    pub fn count(&self, f: impl Fn(&Event) -> bool) -> usize {
        self.events().filter(|e| f(e)).count()
    }

    /// A fresh core with the known workflow sources, so replay does not need the parser.
    fn fresh(&self) -> Core {
        let mut c = Core::new(env());
        for (wf, src) in &self.wfs {
            c.state
                .workflows
                .entry(wf.name.clone())
                .or_default()
                .insert(wf.version, (wf.clone(), src.clone()));
        }
        c
    }

    /// Rebuild a core from the log and check that it sees what the live core sees.
    pub fn replayed(&self) -> Core {
        let mut c = self.fresh();
        for r in &self.log {
            c.replay(r);
        }
        assert_same(&self.core, &c, self.now);
        c
    }

    /// Take a snapshot: of the live core (as a clean shutdown does), or of a core
    /// replayed from the log (as the background snapshot does).
    pub fn take_snapshot(&mut self, of_replay: bool) {
        let mut bytes = Vec::new();
        if of_replay {
            self.replayed().write_snapshot(&mut bytes).unwrap();
        } else {
            self.core.write_snapshot(&mut bytes).unwrap();
        }
        self.snapshot = Some((bytes, self.log.len()));
    }

    /// A core restored from the latest snapshot and the log after it, checked against
    /// the live core like a full replay.
    pub fn restored(&self) -> Core {
        let Some((bytes, covered)) = &self.snapshot else {
            return self.replayed();
        };
        let wfs = self.wfs.clone();
        let parse = move |src: &str| {
            wfs.iter()
                .find(|(_, s)| s.as_ref() == src)
                .map(|(w, _)| w.as_ref().clone())
                .ok_or_else(|| "unknown source".to_string())
        };
        let mut c = Core::from_snapshot_with(env(), bytes, &parse).expect("snapshot loads");
        assert_eq!(c.state.seq, *covered as u64);
        for r in &self.log[*covered..] {
            c.replay(r);
        }
        // As the runtime does after a replay: what was counted is what the store holds.
        c.state.totals.workflows = self.rolled.clone();
        assert_same(&self.core, &c, self.now);
        c
    }

    /// Crash and restart: restore (snapshot and the log after it, or the whole log),
    /// recover, fire what is due. Returns the records of recovery (the pending
    /// dispatches are recover's).
    pub fn crash(&mut self) -> Vec<Record> {
        self.core = self.restored();
        self.core.set_step_timeouts(self.timeouts);
        self.pending.clear();
        let (_, mut recs) = self.turn(|c, ctx| c.recover(ctx));
        recs.extend(self.turn(|c, ctx| c.fire_timers(ctx)).1);
        recs
    }
}

/// Every view of two cores agrees.
pub fn assert_same(live: &Core, rep: &Core, now: DateTime<Utc>) {
    assert_eq!(
        live.state.directory, rep.state.directory,
        "the directory replays"
    );
    let mut filters = vec![
        ItemFilter::default(),
        ItemFilter {
            active: true,
            ..Default::default()
        },
        ItemFilter {
            limit: Some(2),
            ..Default::default()
        },
    ];
    for st in [
        ItemStatus::Running,
        ItemStatus::Waiting,
        ItemStatus::Incident,
        ItemStatus::Compensating,
        ItemStatus::Completed,
        ItemStatus::Failed,
        ItemStatus::Cancelled,
    ] {
        filters.push(ItemFilter {
            status: Some(st),
            ..Default::default()
        });
    }
    for name in live.state.workflows.keys() {
        filters.push(ItemFilter {
            workflow: Some(name.clone()),
            ..Default::default()
        });
    }
    let mut ids: Vec<ItemId> = live.state.items.keys().rev().copied().collect();
    ids.push(ItemId::MAX);
    filters.push(ItemFilter {
        ids: Some(crate::types::view::IdList(ids)),
        ..Default::default()
    });
    for f in &filters {
        assert_eq!(
            live.items(f),
            rep.items(f),
            "items({f:?}) differ after replay"
        );
    }
    for id in live.state.items.keys() {
        assert_eq!(
            live.item(*id),
            rep.item(*id),
            "item {id} differs after replay"
        );
    }
    assert_eq!(rep.state.items.len(), live.state.items.len());
    for f in [
        TaskFilter {
            all: true,
            ..Default::default()
        },
        TaskFilter::default(),
        TaskFilter {
            mine: Some("alice".into()),
            all: true,
            ..Default::default()
        },
    ] {
        assert_eq!(
            live.tasks(&f),
            rep.tasks(&f),
            "tasks({f:?}) differ after replay"
        );
    }
    assert_eq!(
        live.metrics(now),
        rep.metrics(now),
        "metrics differ after replay"
    );
    assert_eq!(live.state.seq, rep.state.seq);
    assert_eq!(live.state.next_item, rep.state.next_item);
    assert_eq!(live.state.next_task, rep.state.next_task);
    // Timers still ahead: replay arms every timer again, the live core only lost the
    // ones that fired, so the future ones must be the same.
    let ahead = |c: &Core| -> Vec<(DateTime<Utc>, Timer)> {
        let mut c = {
            let mut core = Core::new(Value::Null);
            core.state = State {
                items: c.state.items.clone(),
                tasks: c.state.tasks.clone(),
                timers: c.state.timers.clone(),
                ..State::default()
            };
            core
        };
        // Timers of items that left are swept at moments that differ between the two.
        c.state.sweep_timers();
        c.state
            .timers
            .iter()
            .filter(|(at, _)| *at > now)
            .copied()
            .collect()
    };
    assert_eq!(ahead(live), ahead(rep), "future timers differ after replay");
    for (id, it) in &live.state.items {
        let r = &rep.state.items[id];
        assert_eq!(it.completed, r.completed, "item {id} completion order");
        assert_eq!(it.signals, r.signals, "item {id} buffered signals");
    }
}
