//! Simulated colleagues working the inbox: after a while they decide the group tasks
//! nobody took, so tasks do not pile up and the operator sees other people act live.

use std::time::Duration;

use chrono::Utc;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::oneshot;

use crate::engine::EngineHandle;
use crate::types::command::Command;
use crate::types::view::{TaskFilter, TaskView};

const NAMES: [&str; 4] = ["sam", "priya", "jordan", "mei"];
/// How often they look at the inbox.
const ROUND: Duration = Duration::from_secs(3);
/// Decisions per round, so the inbox drains gradually.
const PER_ROUND: usize = 2;
/// A task waits at least this long (seconds) before a colleague takes it...
const PATIENCE_MIN: i64 = 90;
/// ...and at most this long.
const PATIENCE_MAX: i64 = 360;

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

/// How long this task waits for the operator before a colleague steps in.
fn patience(seed: u64, task: u64) -> i64 {
    let mut rng = StdRng::seed_from_u64(seed ^ task.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    rng.random_range(PATIENCE_MIN..=PATIENCE_MAX)
}

/// Tasks only a group holds and nobody claimed, that have waited out their patience.
fn due(tasks: &[TaskView], seed: u64) -> Vec<&TaskView> {
    let now = Utc::now();
    tasks
        .iter()
        .filter(|t| t.assignee.is_none() && t.claimed_by.is_none() && t.group.is_some())
        .filter(|t| (now - t.created_at).num_seconds() >= patience(seed, t.id))
        .take(PER_ROUND)
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
            for t in due(&tasks, seed) {
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
                    .command(who, Some("simulated colleague".into()), cmd)
                    .await;
            }
        }
    });
    Colleagues { stop, task }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patience_is_stable_per_task_and_in_range() {
        for task in 1..200 {
            let p = patience(7, task);
            assert!((PATIENCE_MIN..=PATIENCE_MAX).contains(&p));
            assert_eq!(p, patience(7, task));
        }
        let spread: std::collections::BTreeSet<i64> = (1..50).map(|t| patience(7, t)).collect();
        assert!(spread.len() > 10, "patience varies between tasks");
    }
}
