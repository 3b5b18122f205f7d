//! Random operation sequences; after each one, the invariants of the core must hold.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::engine::core::state::{CompStatus, Status, downstream};
use crate::types::event::WaitOn;

fn prop_workflows() -> Vec<Workflow> {
    let r = || retry(2, 1, 2.0);
    let steps = || {
        vec![
            with(http("a", &[]), |s| {
                s.retry = r();
                s.compensate = undo("a");
            }),
            with(http("b", &["a"]), |s| {
                s.retry = r();
                s.compensate = undo("b");
            }),
            with(http("c", &["a"]), |s| {
                s.retry = r();
                s.timeout = Some(secs(30));
                s.compensate = undo("c");
            }),
            human("h", &["b"], |hs| {
                hs.escalate = vec![esc(60, "leads", Some(120))];
                hs.due = Some(secs(300));
            }),
            with(http("d", &["c", "h"]), |s| {
                s.retry = r();
                s.when = Some("steps.h.decision == 'approved'".into());
                s.compensate = undo("d");
            }),
            http("e", &["a"]),
        ]
    };
    let mut inc = workflow("inc", steps());
    inc.sla = sla(600, &[50, 90], vec![esc(400, "mgr", None)]);
    let mut comp = workflow("comp", steps());
    comp.on_failure = OnFailure::Compensate;
    vec![inc, comp]
}

#[derive(Debug, Clone)]
enum Op {
    Complete(usize, bool),
    Advance(u64),
    Decide(usize, bool, bool),
    Claim(usize, bool),
    Retry(usize, Option<usize>),
    Skip(usize, usize),
    Cancel(usize),
    Compensate(usize),
    Start(bool),
    Crash,
    Snapshot(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (any::<usize>(), proptest::bool::weighted(0.75)).prop_map(|(i, ok)| Op::Complete(i, ok)),
        3 => (1u64..90).prop_map(Op::Advance),
        2 => (any::<usize>(), any::<bool>(), any::<bool>()).prop_map(|(i, a, b)| Op::Decide(i, a, b)),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(i, a)| Op::Claim(i, a)),
        2 => (any::<usize>(), proptest::option::of(0usize..6)).prop_map(|(i, f)| Op::Retry(i, f)),
        1 => (any::<usize>(), 0usize..6).prop_map(|(i, s)| Op::Skip(i, s)),
        1 => any::<usize>().prop_map(Op::Cancel),
        1 => any::<usize>().prop_map(Op::Compensate),
        2 => any::<bool>().prop_map(Op::Start),
        1 => Just(Op::Crash),
        1 => any::<bool>().prop_map(Op::Snapshot),
    ]
}

fn pick<T: Copy>(v: &[T], i: usize) -> Option<T> {
    (!v.is_empty()).then(|| v[i % v.len()])
}

fn apply(h: &mut H, op: &Op) {
    let items: Vec<ItemId> = h.core.state.items.keys().copied().collect();
    let tasks: Vec<u64> = h.core.state.tasks.keys().copied().collect();
    let steps = ["a", "b", "c", "h", "d", "e"];
    match *op {
        Op::Complete(i, ok) => {
            if h.pending.is_empty() {
                return;
            }
            let d = h.pending.remove(i % h.pending.len());
            let result = if ok {
                Ok(json!({ "n": i % 7 }))
            } else {
                Err(err(StepErrorKind::Connect))
            };
            h.deliver(&d, result);
        }
        Op::Advance(s) => {
            h.advance(s);
        }
        Op::Decide(i, approve, alice) => {
            if let Some(task) = pick(&tasks, i) {
                let _ = h.cmd(
                    if alice { "alice" } else { "bob" },
                    Command::Decide {
                        task,
                        decision: if approve { "approved" } else { "rejected" }.into(),
                        comment: None,
                        fields: None,
                    },
                );
            }
        }
        Op::Claim(i, alice) => {
            if let Some(task) = pick(&tasks, i) {
                let _ = h.cmd(if alice { "alice" } else { "bob" }, Command::Claim { task });
            }
        }
        Op::Retry(i, from) => {
            if let Some(item) = pick(&items, i) {
                let from = from.map(|s| steps[s].to_string());
                let _ = h.cmd("op", Command::Retry { item, from });
            }
        }
        Op::Skip(i, s) => {
            if let Some(item) = pick(&items, i) {
                let step = steps[s].to_string();
                let _ = h.cmd("op", Command::Skip { item, step });
            }
        }
        Op::Cancel(i) => {
            if let Some(item) = pick(&items, i) {
                let _ = h.cmd("op", Command::Cancel { item });
            }
        }
        Op::Compensate(i) => {
            if let Some(item) = pick(&items, i) {
                let _ = h.cmd("op", Command::Compensate { item });
            }
        }
        Op::Start(comp) => {
            h.start(if comp { "comp" } else { "inc" }, json!({}));
        }
        Op::Crash => {
            h.crash();
        }
        Op::Snapshot(of_replay) => h.take_snapshot(of_replay),
    }
}

fn check(h: &H) {
    h.replayed();
    h.restored();
    // Memory follows the work in flight: ended items and their tasks have left.
    for (id, it) in &h.core.state.items {
        assert!(!it.is_final(), "item {id} ended but is still in memory");
        assert!(
            !h.ended.contains_key(id),
            "item {id} is both in flight and ended"
        );
    }
    for (id, t) in &h.core.state.tasks {
        assert!(
            h.core.state.items.contains_key(&t.item),
            "task {id} outlived its item {}",
            t.item
        );
    }
    for (k, r) in h.log.iter().enumerate() {
        assert_eq!(r.seq, k as u64 + 1, "record seqs are dense and increasing");
    }
    // Work in flight that the core moved on from was named for the runtime to end.
    for d in &h.pending {
        let current = h.core.state.items.get(&d.item).is_some_and(|it| {
            let i = it.wf.step_index(&d.step).unwrap();
            let s = &it.steps[i];
            match d.phase {
                Phase::Run => s.status == Status::Running && s.attempt == d.attempt,
                Phase::Compensate => s.comp == CompStatus::Running && s.comp_attempt == d.attempt,
            }
        });
        let a = super::attempt_of(d);
        assert!(
            current || h.aborted.contains(&a),
            "{a:?} was moved on without an abort"
        );
    }
    // Per item: nothing starts after the end; compensations follow reverse completion.
    let mut ended: BTreeSet<ItemId> = BTreeSet::new();
    let mut done: BTreeMap<ItemId, Vec<String>> = BTreeMap::new();
    let mut compensating: BTreeSet<ItemId> = BTreeSet::new();
    let mut undone: BTreeMap<ItemId, Vec<String>> = BTreeMap::new();
    let wfs: BTreeMap<String, Workflow> = prop_workflows()
        .into_iter()
        .map(|w| (w.name.clone(), w))
        .collect();
    let mut wf_of: BTreeMap<ItemId, String> = BTreeMap::new();
    for r in &h.log {
        match &r.event {
            Event::ItemStarted { item, workflow, .. } => {
                wf_of.insert(*item, workflow.clone());
            }
            Event::StepScheduled { item, .. } | Event::StepStarted { item, .. } => {
                assert!(
                    !ended.contains(item),
                    "step work after item {item} ended: {r:?}"
                );
            }
            _ => {}
        }
        match &r.event {
            Event::ItemCompleted { item }
            | Event::ItemFailed { item, .. }
            | Event::ItemCancelled { item } => {
                ended.insert(*item);
                assert_eq!(
                    h.ended.get(item).map(|e| e.last_seq),
                    Some(r.seq),
                    "item {item} ended at seq {} but the store was not told",
                    r.seq
                );
            }
            Event::StepSucceeded {
                item,
                step,
                phase: Phase::Run,
                ..
            } => {
                let d = done.entry(*item).or_default();
                d.retain(|s| s != step);
                d.push(step.clone());
            }
            Event::ItemRetried { item, step, from } if !compensating.contains(item) => {
                let wf = &wfs[&wf_of[item]];
                let i = wf.step_index(step).unwrap();
                let reset: Vec<String> = if *from {
                    downstream(wf, i)
                        .into_iter()
                        .map(|j| wf.steps[j].id.clone())
                        .collect()
                } else {
                    vec![step.clone()]
                };
                done.entry(*item)
                    .or_default()
                    .retain(|s| !reset.contains(s));
            }
            Event::CompensationStarted { item } => {
                compensating.insert(*item);
            }
            Event::StepStarted {
                item,
                step,
                phase: Phase::Compensate,
                ..
            } => {
                let u = undone.entry(*item).or_default();
                if u.contains(step) {
                    continue; // a retry of the same compensation
                }
                let wf = &wfs[&wf_of[item]];
                let expected = done
                    .get(item)
                    .into_iter()
                    .flatten()
                    .rev()
                    .find(|s| {
                        wf.steps[wf.step_index(s).unwrap()].compensate.is_some() && !u.contains(s)
                    })
                    .cloned();
                assert_eq!(
                    Some(step.clone()),
                    expected,
                    "item {item}: compensation out of reverse completion order"
                );
                u.push(step.clone());
            }
            _ => {}
        }
    }
    // Nothing is stuck silently.
    let dispatched = |item: ItemId, i: usize, attempt: u32, phase: Phase| {
        let id = &h.core.state.items[&item].wf.steps[i].id;
        h.pending
            .iter()
            .any(|d| d.item == item && &*d.step == id && d.attempt == attempt && d.phase == phase)
    };
    let timer = |t: Timer| {
        h.core
            .state
            .timers
            .iter()
            .any(|(at, x)| *x == t && *at > h.now)
    };
    for (id, it) in &h.core.state.items {
        if it.is_final() || it.status() == ItemStatus::Incident {
            continue;
        }
        let moving = it.steps.iter().enumerate().any(|(i, s)| {
            let start = |attempt| {
                timer(Timer::Start {
                    item: *id,
                    step: i as u16,
                    attempt,
                })
            };
            let run = match s.status {
                Status::Running => dispatched(*id, i, s.attempt, Phase::Run),
                Status::Scheduled => start(s.attempt),
                Status::Waiting => match s.waiting.as_deref() {
                    Some(WaitOn::Task { task }) => h.core.state.tasks[task].is_open(),
                    Some(WaitOn::Timer { .. }) | Some(WaitOn::Signal { .. }) => {
                        timer(Timer::Wait {
                            item: *id,
                            step: i as u16,
                            attempt: s.attempt,
                        })
                    }
                    None => false,
                },
                _ => false,
            };
            let comp = match s.comp {
                CompStatus::Running => dispatched(*id, i, s.comp_attempt, Phase::Compensate),
                CompStatus::Scheduled => start(s.comp_attempt),
                _ => false,
            };
            run || comp
        });
        assert!(
            moving,
            "item {id} is stuck: {:?}\npending: {:?}",
            h.core.item(*id),
            h.pending_steps()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_keep_the_invariants(ops in proptest::collection::vec(op(), 1..70)) {
        let mut h = H::new(prop_workflows());
        h.start("inc", json!({}));
        h.start("comp", json!({}));
        check(&h);
        for op in &ops {
            apply(&mut h, op);
            check(&h);
        }
    }
}
