//! Who may do what: every command is judged here against the directory, the task's
//! candidates and claim, and the step's four-eyes rules before anything is emitted. A
//! refusal names the rule, so the operator knows whom to ask.

use super::Core;
use super::state::{Item, Task};
use crate::definition::StepKind;
use crate::types::command::{Command, CommandError};
use crate::types::event::ENGINE;
use crate::types::identity::{Operator, RESERVED, Role, Who, check_name};

fn forbidden(message: String) -> CommandError {
    CommandError::Forbidden(message)
}

/// What a human step asks of its deciders beyond being a candidate.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FourEyes {
    /// Distinct operators who must approve (1: an ordinary task).
    pub approvals: u32,
    pub self_approval: bool,
    /// Steps whose deciders may not decide this one.
    pub distinct_from: Vec<String>,
}

/// The authenticated operator as the directory knows them: their role and groups.
pub struct Authority<'a> {
    pub who: &'a Who,
    pub role: Role,
    /// None for the daemon's own user (an admin nobody registered).
    pub operator: Option<&'a Operator>,
}

impl Authority<'_> {
    fn admin(&self) -> bool {
        self.role == Role::Admin
    }

    fn in_group(&self, group: &str) -> bool {
        self.operator.is_some_and(|o| o.in_group(group))
    }

    fn groups_text(&self) -> String {
        match self.operator.map(|o| o.groups.as_slice()) {
            Some([]) | None => "you are in no group".into(),
            Some([one]) => format!("you are in {one}"),
            Some(many) => format!("you are in {}", many.join(", ")),
        }
    }
}

impl Core {
    /// The authority `who` acts with, or why they may not act at all.
    pub(super) fn authority<'a>(&'a self, who: &'a Who) -> Result<Authority<'a>, CommandError> {
        if let Some(person) = who.on_behalf_of.as_deref() {
            if RESERVED.contains(&person) {
                return Err(forbidden(format!(
                    "'{person}' is tempi's own name; nobody acts as it"
                )));
            }
            check_name(person, "the operator acted for").map_err(CommandError::Invalid)?;
        }
        let authority = if who.root {
            Authority {
                who,
                role: Role::Admin,
                operator: self.state.directory.active(&who.name),
            }
        } else {
            let op = self.registered(&who.name)?;
            Authority {
                who,
                role: op.role,
                operator: Some(op),
            }
        };
        if let Some(person) = who.on_behalf_of.as_deref()
            && !authority.admin()
        {
            return Err(forbidden(format!(
                "you are {} ({}); only an admin may act for {person}",
                who.name, authority.role
            )));
        }
        Ok(authority)
    }

    fn registered(&self, name: &str) -> Result<&Operator, CommandError> {
        if name == ENGINE {
            return Err(forbidden(format!(
                "'{ENGINE}' is tempi's own name; nobody acts as it"
            )));
        }
        match self.state.directory.get(name) {
            Some(op) if op.active() => Ok(op),
            Some(op) => Err(forbidden(format!(
                "operator {name} was revoked at {}; an admin can register them again \
                 (tempi operator add {name})",
                op.revoked
                    .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                    .unwrap_or_default()
            ))),
            None => Err(forbidden(format!(
                "{name} is not a registered operator; an admin registers them with \
                 `tempi operator add {name} --role approver --groups GROUP`"
            ))),
        }
    }

    /// Whether the role may give this command at all.
    pub(super) fn check_role(&self, a: &Authority, cmd: &Command) -> Result<(), CommandError> {
        let need = cmd.least_role();
        if a.role >= need {
            return Ok(());
        }
        Err(forbidden(format!(
            "you are {} ({}); to {} you must be {} or above",
            a.who.name,
            a.role,
            cmd.verb(),
            need
        )))
    }

    /// Whether `a` may decide or claim task `t` as one of its candidates.
    pub(super) fn check_candidate(&self, a: &Authority, t: &Task) -> Result<(), CommandError> {
        if a.admin() || self.is_candidate(a, t) {
            return Ok(());
        }
        let who = &a.who.name;
        let id = t.id;
        Err(forbidden(match (&t.claimed_by, &t.assignee, &t.group) {
            (Some(c), _, _) => format!("task {id} is claimed by {c}; you are {who}"),
            (None, Some(p), _) => format!("task {id} is assigned to {p}; you are {who}"),
            (None, None, Some(g)) => {
                format!("task {id} is for group {g}; {}", a.groups_text())
            }
            (None, None, None) => format!("task {id} is not yours to act on"),
        }))
    }

    fn is_candidate(&self, a: &Authority, t: &Task) -> bool {
        let me = a.who.actor();
        if let Some(c) = &t.claimed_by {
            return c == me;
        }
        match (&t.assignee, &t.group) {
            (Some(p), _) => p == me,
            (None, Some(g)) => a.in_group(g),
            (None, None) => true,
        }
    }

    /// Reassigning or escalating: a candidate, or an operator for a task nobody has
    /// claimed; a claimed task only by its claimant or an admin.
    pub(super) fn check_handover(&self, a: &Authority, t: &Task) -> Result<(), CommandError> {
        if a.admin() {
            return Ok(());
        }
        if let Some(c) = t.claimed_by.as_deref().filter(|c| *c != a.who.name) {
            return Err(forbidden(format!(
                "task {} is claimed by {c}; only they or an admin may pass it on",
                t.id
            )));
        }
        if a.role >= Role::Operator {
            return Ok(());
        }
        self.check_candidate(a, t)
    }

    /// The four-eyes rules of the step behind task `t`.
    pub(super) fn four_eyes(&self, t: &Task) -> FourEyes {
        let step = self
            .state
            .items
            .get(&t.item)
            .and_then(|it| it.wf.steps.get(t.step as usize));
        match step.map(|s| &s.kind) {
            Some(StepKind::Human(h)) => FourEyes {
                approvals: h.approvals.max(1),
                self_approval: h.self_approval,
                distinct_from: h.distinct_from.clone(),
            },
            _ => FourEyes {
                approvals: 1,
                self_approval: true,
                distinct_from: Vec::new(),
            },
        }
    }

    /// `self_approval: false` and `distinct_from`: the item's starter and the deciders
    /// of the named steps may not decide (or claim) this task, admins included.
    pub(super) fn check_distinct(&self, who: &Who, t: &Task) -> Result<(), CommandError> {
        let rules = self.four_eyes(t);
        let Some(it) = self.state.items.get(&t.item) else {
            return Ok(());
        };
        if !rules.self_approval
            && let Some(me) = it.started_by.iter().find(|n| who.is(n))
        {
            return Err(forbidden(format!(
                "{me} started item {}; task {} needs someone else (self_approval: false)",
                it.id, t.id
            )));
        }
        for step in &rules.distinct_from {
            if let Some(me) = self.decider_of(it, step, who) {
                return Err(forbidden(format!(
                    "{me} decided step {step} of item {}; task {} needs someone else \
                     (distinct_from: [{step}])",
                    it.id, t.id
                )));
            }
        }
        Ok(())
    }

    /// The name under which `who` decided or approved a task of `step` of `it`.
    fn decider_of(&self, it: &Item, step: &str, who: &Who) -> Option<String> {
        let i = it.wf.step_index(step)?;
        it.tasks
            .iter()
            .filter_map(|id| self.state.tasks.get(id))
            .filter(|t| t.step as usize == i)
            .flat_map(|t| t.decided_by.iter().chain(&t.approvals))
            .find(|n| who.is(n))
            .cloned()
    }

    /// Multi-approval tasks are decided together; nobody may take one for themselves.
    pub(super) fn check_claimable(&self, t: &Task) -> Result<(), CommandError> {
        let n = self.four_eyes(t).approvals;
        if n > 1 {
            return Err(CommandError::Invalid(format!(
                "task {} needs {n} approvals from different operators; it cannot be claimed",
                t.id
            )));
        }
        Ok(())
    }
}
