//! The core's last lines of defence. A panic while deciding for one item stops that
//! item (as an incident naming the panic) instead of the engine; an executor's output
//! too large to journal fails its step instead of writing a huge record.

use std::panic::{AssertUnwindSafe, catch_unwind};

use serde_json::Value;

use super::state::Status;
use super::{Core, Ctx};
use crate::types::event::{Event, ItemId, Phase, StepError, StepErrorKind};

/// The largest step output the engine journals (executors cap theirs at 1 MiB).
pub const MAX_OUTPUT_BYTES: usize = 2 * 1024 * 1024;
/// The deepest nesting of an input, signal data or step output the engine journals.
/// A journal record wraps its value a few levels deeper, and the journal is read
/// back with serde_json's limit of 128: a deeper record would stop every restart.
pub const MAX_DEPTH: usize = 64;

impl Core {
    /// Run `f` for `item`; if it panics, the item is stopped as an incident and `None`
    /// is returned. The records emitted before the panic stand: each was applied whole,
    /// so state and journal still agree.
    pub fn contained<R>(
        &mut self,
        ctx: &mut Ctx,
        item: Option<ItemId>,
        f: impl FnOnce(&mut Core, &mut Ctx) -> R,
    ) -> Option<R> {
        let next = self.state.next_item;
        let run = AssertUnwindSafe(|| f(self, ctx));
        let payload = match catch_unwind(run) {
            Ok(r) => return Some(r),
            Err(payload) => payload,
        };
        let why = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_string());
        // A start that panicked made its item (if any) with the next id.
        let item = item.or_else(|| self.state.items.contains_key(&next).then_some(next));
        tracing::error!(
            "the engine failed deciding for item {}: {why}",
            item.map_or("(none)".to_string(), |i| i.to_string())
        );
        if let Some(item) = item {
            self.stop_item(ctx, item, &why);
        }
        None
    }

    /// Raise an incident on the item's current step for an internal failure.
    fn stop_item(&mut self, ctx: &mut Ctx, item: ItemId, why: &str) {
        let Some(it) = self.state.items.get(&item) else {
            return;
        };
        if it.is_final() {
            return;
        }
        let current = it
            .steps
            .iter()
            .position(|s| {
                matches!(
                    s.status,
                    Status::Running | Status::Scheduled | Status::Waiting
                )
            })
            .or_else(|| it.steps.iter().position(|s| s.status == Status::Pending))
            .unwrap_or(0);
        let Some(step) = it.wf.steps.get(current).map(|d| d.id.clone()) else {
            return;
        };
        let attempt = it.steps[current].attempt;
        let error = StepError::new(
            StepErrorKind::Internal,
            format!(
                "the engine failed while deciding for this item ({why}); the item was \
                 stopped so that the others go on. Retry it once the cause is fixed, and \
                 please report this"
            ),
        );
        ctx.as_engine();
        let raise = AssertUnwindSafe(|| {
            let failed = Event::StepFailed {
                item,
                step: step.clone(),
                attempt,
                error: error.clone(),
                phase: Phase::Run,
                exchange: None,
            };
            self.emit(ctx, failed);
            let incident = Event::IncidentRaised {
                item,
                step,
                error,
                phase: Phase::Run,
            };
            self.emit(ctx, incident);
        });
        if catch_unwind(raise).is_err() {
            tracing::error!("item {item} could not even be stopped as an incident");
        }
    }
}

/// Whether a value's JSON text would be longer than `max` bytes (an estimate from
/// its strings, numbers and punctuation that stops as soon as it passes `max`).
pub fn larger_than(v: &Value, max: usize) -> bool {
    fn size(v: &Value, left: &mut isize) {
        if *left < 0 {
            return;
        }
        *left -= match v {
            Value::Null | Value::Bool(_) => 5,
            Value::Number(_) => 24,
            Value::String(s) => s.len() as isize + 2,
            Value::Array(a) => {
                a.iter().for_each(|x| size(x, left));
                a.len() as isize + 2
            }
            Value::Object(o) => {
                o.iter().for_each(|(k, x)| {
                    *left -= k.len() as isize + 4;
                    size(x, left);
                });
                2
            }
        };
    }
    let mut left = isize::try_from(max).unwrap_or(isize::MAX);
    size(v, &mut left);
    left < 0
}

/// Whether a value nests more than `max` arrays and objects deep.
pub fn deeper_than(v: &Value, max: usize) -> bool {
    match v {
        Value::Array(a) => max == 0 || a.iter().any(|x| deeper_than(x, max - 1)),
        Value::Object(o) => max == 0 || o.values().any(|x| deeper_than(x, max - 1)),
        _ => false,
    }
}

/// Why an executor's output cannot be journaled (too large or too deep), if it cannot.
pub fn output_refused(output: &Value) -> Option<StepError> {
    let why = if larger_than(output, MAX_OUTPUT_BYTES) {
        format!(
            "the output is larger than {} MiB, the most the engine journals",
            MAX_OUTPUT_BYTES >> 20
        )
    } else if deeper_than(output, MAX_DEPTH) {
        too_deep("the output")
    } else {
        return None;
    };
    Some(StepError::new(StepErrorKind::Limit, why))
}

/// The error for a value nested deeper than the engine keeps.
pub fn too_deep(what: &str) -> String {
    format!(
        "{what} nests more than {MAX_DEPTH} levels of arrays and objects, the most the engine journals"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn depth_is_counted_in_arrays_and_objects() {
        let nested = |n: usize| (0..n).fold(json!(1), |v, _| json!({ "a": [v] }));
        assert!(!deeper_than(&nested(32), MAX_DEPTH));
        assert!(deeper_than(&nested(33), MAX_DEPTH));
        assert!(!deeper_than(&json!("x"), 0));
        assert!(deeper_than(&json!([]), 0));
    }

    #[test]
    fn size_estimates_stop_past_the_limit() {
        assert!(!larger_than(&json!({"a": "x".repeat(100)}), 200));
        assert!(larger_than(&json!({"a": "x".repeat(300)}), 200));
        assert!(larger_than(
            &json!([["x".repeat(150)], ["y".repeat(150)]]),
            200
        ));
    }
}
