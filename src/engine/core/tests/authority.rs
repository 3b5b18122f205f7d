//! Random operators and actions: no decision, approval or claim ever gets through that
//! the rules forbid, and the directory replays (from the log and from a snapshot).

use proptest::prelude::*;

use super::*;
use crate::types::identity::{Role, Who};

const NAMES: [&str; 5] = ["ann", "bob", "cy", "dee", "eve"];
const GROUPS: [&str; 2] = ["g1", "g2"];

fn flow() -> Workflow {
    workflow(
        "w",
        vec![
            human("raise", &[], |h| h.group = Some("g1".into())),
            human("approve", &["raise"], |h| {
                h.group = Some("g2".into());
                h.approvals = 2;
                h.self_approval = false;
                h.distinct_from = vec!["raise".into()];
            }),
        ],
    )
}

#[derive(Debug, Clone)]
enum Op {
    Start(usize),
    Decide(usize, usize, bool),
    Claim(usize, usize),
    Reassign(usize, usize, usize),
    Groups(usize, u8),
    Role(usize, u8),
    Revoke(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let who = 0..NAMES.len();
    prop_oneof![
        who.clone().prop_map(Op::Start),
        (who.clone(), 0..4usize, any::<bool>()).prop_map(|(w, t, a)| Op::Decide(w, t, a)),
        (who.clone(), 0..4usize).prop_map(|(w, t)| Op::Claim(w, t)),
        (who.clone(), 0..4usize, 0..3usize).prop_map(|(w, t, g)| Op::Reassign(w, t, g)),
        (who.clone(), 0..4u8).prop_map(|(w, g)| Op::Groups(w, g)),
        (who.clone(), 0..4u8).prop_map(|(w, r)| Op::Role(w, r)),
        who.prop_map(Op::Revoke),
    ]
}

fn groups_of(bits: u8) -> Vec<String> {
    GROUPS
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, g)| g.to_string())
        .collect()
}

/// What the rules allow `me` to decide or claim on `t`, restated from the issue.
fn may_take(h: &H, me: &str, t: &crate::engine::core::state::Task, claim: bool) -> bool {
    let Some(op) = h.core.state.directory.active(me) else {
        return false;
    };
    if op.role < Role::Approver {
        return false;
    }
    let item = &h.core.state.items[&t.item];
    let step = &item.wf.steps[t.step as usize];
    let crate::definition::StepKind::Human(spec) = &step.kind else {
        return false;
    };
    if claim && spec.approvals > 1 {
        return false;
    }
    let candidate = match (&t.claimed_by, &t.assignee, &t.group) {
        (Some(c), _, _) => c == me,
        (None, Some(p), _) => p == me,
        (None, None, Some(g)) => op.in_group(g),
        (None, None, None) => true,
    };
    if !candidate && op.role < Role::Admin {
        return false;
    }
    if t.claimed_by.as_deref().is_some_and(|c| c != me) {
        return false;
    }
    if !spec.self_approval && item.started_by.iter().any(|s| s == me) {
        return false;
    }
    let decided_earlier = spec.distinct_from.iter().any(|d| {
        item.tasks.iter().any(|id| {
            let other = &h.core.state.tasks[id];
            item.wf.steps[other.step as usize].id == *d
                && (other.decided_by.as_deref() == Some(me)
                    || other.approvals.iter().any(|a| a == me))
        })
    });
    !decided_earlier && !t.approvals.iter().any(|a| a == me)
}

fn open_task(h: &H, k: usize) -> Option<crate::engine::core::state::Task> {
    let open: Vec<_> = h
        .core
        .state
        .tasks
        .values()
        .filter(|t| t.is_open())
        .collect();
    (!open.is_empty()).then(|| open[k % open.len()].clone())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn no_forbidden_decision_gets_through(
        roles in proptest::collection::vec(0..4u8, NAMES.len()),
        groups in proptest::collection::vec(0..4u8, NAMES.len()),
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let mut h = H::new(vec![flow()]);
        for (i, name) in NAMES.iter().enumerate() {
            let cmd = Command::AddOperator {
                name: name.to_string(),
                role: Role::ALL[roles[i] as usize],
                groups: groups_of(groups[i]),
            };
            h.cmd("root", cmd).unwrap();
        }
        for op in ops {
            let me = |w: usize| NAMES[w];
            let who = |w: usize| Who::operator(me(w));
            match op {
                Op::Start(w) => {
                    let cmd = Command::Start {
                        workflow: "w".into(),
                        version: None,
                        input: json!({}),
                        priority: 0,
                        since: None,
                    };
                    let allowed = h
                        .core
                        .state
                        .directory
                        .active(me(w))
                        .is_some_and(|o| o.role >= Role::Operator);
                    prop_assert_eq!(h.cmd_as(&who(w), cmd).is_ok(), allowed);
                }
                Op::Decide(w, k, approve) => {
                    let Some(t) = open_task(&h, k) else { continue };
                    let allowed = may_take(&h, me(w), &t, false);
                    let cmd = Command::Decide {
                        task: t.id,
                        decision: if approve { "approved" } else { "rejected" }.into(),
                        comment: None,
                        fields: None,
                    };
                    let r = h.cmd_as(&who(w), cmd);
                    prop_assert_eq!(r.is_ok(), allowed, "{:?} decides {:?}: {:?}", me(w), t, r);
                }
                Op::Claim(w, k) => {
                    let Some(t) = open_task(&h, k) else { continue };
                    let mine = t.claimed_by.as_deref() == Some(me(w))
                        && h.core.state.directory.active(me(w)).is_some_and(|o| o.role >= Role::Approver);
                    let allowed = mine || may_take(&h, me(w), &t, true);
                    let r = h.cmd_as(&who(w), Command::Claim { task: t.id });
                    prop_assert_eq!(r.is_ok(), allowed, "{:?} claims {:?}: {:?}", me(w), t, r);
                }
                Op::Reassign(w, k, g) => {
                    let Some(t) = open_task(&h, k) else { continue };
                    let to = ["g1", "g2", "@ann"][g].to_string();
                    let _ = h.cmd_as(&who(w), Command::Reassign { task: t.id, to });
                }
                Op::Groups(w, bits) => {
                    let cmd = Command::SetGroups { name: me(w).into(), groups: groups_of(bits) };
                    let admin = h.core.state.directory.active(me(w)).is_some_and(|o| o.role == Role::Admin);
                    let r = h.cmd_as(&who(w), cmd);
                    prop_assert!(r.is_err() || admin, "only admins manage operators: {:?}", r);
                }
                Op::Role(w, r) => {
                    let _ = h.cmd("root", Command::SetRole { name: me(w).into(), role: Role::ALL[r as usize] });
                }
                Op::Revoke(w) => {
                    let _ = h.cmd("root", Command::RevokeOperator { name: me(w).into() });
                }
            }
        }
        h.replayed();
        h.take_snapshot(false);
        let restored = h.restored();
        prop_assert_eq!(&restored.state.directory, &h.core.state.directory);
    }
}
