//! Skipping a step: which later steps go with it (those that need it and have no `when`,
//! and so on down), so the confirm can name them. Learned from the item's detail, which
//! is fetched first when it is not open.

use std::collections::BTreeSet;

use super::actions::skip;
use super::{App, Effect, Mode, Pending, ToastKind};
use crate::types::ItemId;
use crate::types::view::{ItemDetail, StepStatus, StepView};

/// A skip waiting for the detail of its first item.
#[derive(Debug, Clone, PartialEq)]
pub struct SkipPlan {
    pub items: Vec<ItemId>,
    pub step: String,
}

/// What skipping `step` does to the steps still to come: those skipped with it, and
/// those whose own `when` will decide (they are not skipped for the need alone).
pub fn consequences(steps: &[StepView], step: &str) -> (Vec<String>, Vec<String>) {
    let mut gone: BTreeSet<&str> = BTreeSet::from([step]);
    let mut decided: BTreeSet<&str> = BTreeSet::new();
    let pending = |s: &StepView| s.status == StepStatus::Pending;
    loop {
        let before = gone.len() + decided.len();
        for s in steps.iter().filter(|s| pending(s) && s.id != step) {
            let id = s.id.as_str();
            if gone.contains(id) || decided.contains(id) {
                continue;
            }
            if s.needs.iter().any(|n| gone.contains(n.as_str())) {
                match s.when {
                    None => gone.insert(id),
                    Some(_) => decided.insert(id),
                };
            }
        }
        if gone.len() + decided.len() == before {
            break;
        }
    }
    // In the workflow's order, as the detail lists them.
    let in_order = |set: &BTreeSet<&str>| {
        steps
            .iter()
            .filter(|s| s.id != step && set.contains(s.id.as_str()))
            .map(|s| s.id.clone())
            .collect()
    };
    (in_order(&gone), in_order(&decided))
}

impl App {
    /// Skip `step` of `items` after a confirm that lists what goes with it.
    pub(super) fn plan_skip(&mut self, items: Vec<ItemId>, step: String) -> Vec<Effect> {
        let Some(&first) = items.first() else {
            return vec![];
        };
        let open = self
            .detail
            .as_ref()
            .filter(|d| d.id == first)
            .and_then(|d| d.data.as_ref())
            .map(|data| data.0.clone());
        self.skip_plan = Some(SkipPlan { items, step });
        match open {
            Some(detail) => {
                self.skip_planned(&detail);
                vec![]
            }
            None => self.show_detail(first),
        }
    }

    /// The detail a skip waited for has come: ask.
    pub(super) fn skip_planned(&mut self, detail: &ItemDetail) {
        let Some(plan) = self.skip_plan.take() else {
            return;
        };
        if !matches!(self.mode, Mode::Normal) {
            self.toast(ToastKind::Ok, "skip not asked: another dialog is open");
            return;
        }
        let SkipPlan { items, step } = plan;
        if !detail.steps.iter().any(|s| s.id == step) {
            let id = detail.summary.id;
            self.toast(ToastKind::Error, format!("item {id} has no step {step}"));
            return;
        }
        let (gone, decided) = consequences(&detail.steps, &step);
        let mut q = match items.as_slice() {
            [one] => format!("Skip step {step} of item {one}?"),
            many => format!(
                "Skip step {step} of {} items? In item {} (the others may differ):",
                many.len(),
                detail.summary.id
            ),
        };
        q.push_str(&match gone.as_slice() {
            [] => " No other step is skipped with it.".to_string(),
            list => format!(" Skipped with it, as they need it: {}.", list.join(", ")),
        });
        if !decided.is_empty() {
            q.push_str(&format!(" Left to their `when`: {}.", decided.join(", ")));
        }
        let actions: Vec<Pending> = items.iter().flat_map(|&i| skip(i, &step)).collect();
        self.mode = Mode::Confirm {
            question: q,
            actions,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(id: &str, status: StepStatus, needs: &[&str], when: Option<&str>) -> StepView {
        StepView {
            when: when.map(str::to_string),
            ..crate::console::tests::fixture::step_view(id, "pass", status, needs)
        }
    }

    #[test]
    fn what_needs_a_skipped_step_goes_with_it_unless_its_when_decides() {
        use StepStatus::*;
        let steps = [
            step("page", Failed, &[], None),
            step("notes", Running, &[], None),
            step("ack", Pending, &["page"], None),
            step("resolved", Pending, &["ack", "notes"], None),
            step("postmortem", Pending, &["resolved"], Some("input.sev == 1")),
            step("close", Pending, &["postmortem"], None),
            step("other", Pending, &["notes"], None),
        ];
        let (gone, decided) = consequences(&steps, "page");
        assert_eq!(gone, ["ack", "resolved"]);
        assert_eq!(decided, ["postmortem"], "its when may still run it");
        let (gone, decided) = consequences(&steps, "close");
        assert!(gone.is_empty() && decided.is_empty());
    }
}
