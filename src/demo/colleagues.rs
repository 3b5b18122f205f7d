//! Simulated colleagues working the inbox: after a while they decide the group tasks
//! nobody took, so tasks do not pile up and the operator sees other people act live.

use std::time::Duration;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::oneshot;

use crate::engine::EngineHandle;
use crate::types::ItemId;
use crate::types::command::Command;
use crate::types::identity::Who;
use crate::types::view::{ItemFilter, TaskFilter, TaskView};

const NAMES: [&str; 4] = ["sam", "priya", "jordan", "mei"];
/// How often they look at the inbox.
const ROUND: Duration = Duration::from_secs(3);
/// Decisions per round, so the inbox drains gradually.
const PER_ROUND: usize = 2;
/// A task without a due time waits at least this long (seconds) before a colleague takes
/// it...
const PATIENCE_MIN: i64 = 90;
/// ...and at most this long.
const PATIENCE_MAX: i64 = 360;
/// A task with a due time waits this share of its time to due at least (so the operator
/// has the first go at it)...
const SHARE_MIN: f64 = 0.2;
/// ...and at most this (some go overdue, as they would).
const SHARE_MAX: f64 = 1.15;
/// Nobody decides a task with a deadline sooner than this (seconds) after it opened.
const FLOOR: i64 = 30;

pub struct Colleagues {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Colleagues {
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// How long (seconds) this task waits for the operator before a colleague steps in: a
/// share of the time it had to the nearer of its own due and its item's SLA (the demo's
/// are scaled), at least [`FLOOR`]; a few minutes when it had neither.
fn patience(seed: u64, t: &TaskView, item_due: Option<DateTime<Utc>>) -> i64 {
    let mut rng = StdRng::seed_from_u64(seed ^ t.id.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let ahead = |d: &DateTime<Utc>| *d > t.created_at;
    let deadline = [t.due, item_due].into_iter().flatten().filter(ahead).min();
    match deadline.map(|d| (d - t.created_at).num_seconds()) {
        Some(window) if window > 0 => {
            let share = (window as f64 * rng.random_range(SHARE_MIN..SHARE_MAX)).round();
            (share as i64).max(FLOOR)
        }
        _ => rng.random_range(PATIENCE_MIN..=PATIENCE_MAX),
    }
}

/// Tasks only a group holds and nobody claimed, that have waited out their patience.
fn due<'t>(
    tasks: &'t [TaskView],
    slas: &HashMap<ItemId, DateTime<Utc>>,
    seed: u64,
) -> Vec<&'t TaskView> {
    let now = Utc::now();
    tasks
        .iter()
        .filter(|t| t.assignee.is_none() && t.claimed_by.is_none() && t.group.is_some())
        .filter(|t| {
            (now - t.created_at).num_seconds() >= patience(seed, t, slas.get(&t.item).copied())
        })
        .take(PER_ROUND)
        .collect()
}

/// The SLA deadlines of the items in flight.
async fn slas(handle: &EngineHandle) -> HashMap<ItemId, DateTime<Utc>> {
    let active = ItemFilter {
        active: true,
        ..ItemFilter::default()
    };
    let items = handle.items(active).await.unwrap_or_default();
    items
        .into_iter()
        .filter_map(|i| Some((i.id, i.sla_due?)))
        .collect()
}

/// Mostly yes; sometimes no, with a reason.
fn decision(t: &TaskView, rng: &mut StdRng) -> (String, Option<String>) {
    let has = |o: &str| t.options.iter().any(|x| x == o);
    if has("approved") && has("rejected") {
        if rng.random_bool(0.85) {
            return ("approved".into(), None);
        }
        return (
            "rejected".into(),
            Some("does not match what we agreed".into()),
        );
    }
    let first = t
        .options
        .first()
        .cloned()
        .unwrap_or_else(|| "approved".into());
    (first, None)
}

pub fn spawn(handle: EngineHandle, seed: u64) -> Colleagues {
    let (stop, mut stopping) = oneshot::channel();
    let task = tokio::spawn(async move {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut round = tokio::time::interval(ROUND);
        loop {
            tokio::select! {
                _ = &mut stopping => return,
                _ = round.tick() => {}
            }
            let Ok(tasks) = handle.tasks(TaskFilter::default()).await else {
                return;
            };
            let slas = slas(&handle).await;
            for t in due(&tasks, &slas, seed) {
                let who = NAMES[rng.random_range(0..NAMES.len())];
                let (decision, comment) = decision(t, &mut rng);
                let cmd = Command::Decide {
                    task: t.id,
                    decision,
                    comment,
                    fields: None,
                };
                // A refusal means the operator got there first: nothing to do.
                let _ = handle
                    .command(&Who::root(who), Some("simulated colleague".into()), cmd)
                    .await;
            }
        }
    });
    Colleagues { stop, task }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: u64, due_in: Option<i64>) -> TaskView {
        let created_at = Utc::now();
        TaskView {
            id,
            item: 1,
            workflow: "invoice-approval".into(),
            step: "approve".into(),
            kind: crate::types::event::TaskKind::Approval,
            title: "Approve".into(),
            details: None,
            group: Some("finance-approvers".into()),
            assignee: None,
            claimed_by: None,
            options: vec!["approved".into(), "rejected".into()],
            status: crate::types::view::TaskStatus::Open,
            created_at,
            due: due_in.map(|s| created_at + chrono::Duration::seconds(s)),
            overdue: false,
            escalation_level: 0,
            decision: None,
            comment: None,
            decided_by: None,
            priority: 0,
            approvals: 1,
            approved_by: Vec::new(),
            form: Vec::new(),
        }
    }

    #[test]
    fn patience_is_stable_per_task_and_in_range() {
        for id in 1..200 {
            let t = task(id, None);
            let p = patience(7, &t, None);
            assert!((PATIENCE_MIN..=PATIENCE_MAX).contains(&p));
            assert_eq!(p, patience(7, &t, None));
        }
        let spread: std::collections::BTreeSet<i64> = (1..50)
            .map(|id| patience(7, &task(id, None), None))
            .collect();
        assert!(spread.len() > 10, "patience varies between tasks");
    }

    #[test]
    fn with_a_due_time_patience_is_a_share_of_it() {
        let window = 240;
        let ps: Vec<i64> = (1..200)
            .map(|id| patience(7, &task(id, Some(window)), None))
            .collect();
        let lo = (window as f64 * SHARE_MIN).floor() as i64;
        let hi = (window as f64 * SHARE_MAX).ceil() as i64;
        assert!(ps.iter().all(|p| (lo..=hi).contains(p)), "{ps:?}");
        assert!(ps.iter().any(|p| *p > window), "some go overdue");
        assert!(
            ps.iter().filter(|p| **p <= window).count() > 150,
            "most do not"
        );
    }

    #[test]
    fn the_nearer_of_the_task_due_and_the_item_sla_counts_with_a_floor() {
        let t = task(9, Some(10_000));
        let soon = t.created_at + chrono::Duration::seconds(100);
        let p = patience(7, &t, Some(soon));
        assert!((FLOOR..=115).contains(&p), "{p}");
        let passed = t.created_at - chrono::Duration::seconds(5);
        let p = patience(7, &t, Some(passed));
        assert!(
            p >= 2_000,
            "an SLA already breached leaves the task's own due: {p}"
        );
        let tight = t.created_at + chrono::Duration::seconds(10);
        assert_eq!(patience(7, &t, Some(tight)), FLOOR);
    }
}
