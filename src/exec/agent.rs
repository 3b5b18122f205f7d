//! The `agent` executor: an HTTP call answered with a decision and a confidence.
//! The call (and its exchange) is the `http` executor's; this module only checks the
//! answer's shape.

use serde_json::Value;

use super::{HttpJob, http};
use crate::types::event::{StepError, StepErrorKind};
use crate::types::job::Outcome;

/// Call the agent and return its whole answer once `decision` and `confidence` are valid.
pub async fn run(client: &reqwest::Client, job: &HttpJob) -> Result<Value, StepError> {
    run_recorded(client, job).await.result
}

/// [`run`], with the HTTP exchange (an answer refused keeps its body there).
pub async fn run_recorded(client: &reqwest::Client, job: &HttpJob) -> Outcome {
    http::run_checked(client, job, validate).await
}

/// An answer is a JSON object with a string `decision` and a `confidence` in `0..=1`;
/// every other field (`reason`, ...) passes through untouched.
pub fn validate(answer: Value) -> Result<Value, StepError> {
    // A body that is not JSON reaches here as text; say why when it meant to be JSON
    // (a number out of range such as `1e999`, a missing brace).
    if let Value::String(text) = &answer
        && text.trim_start().starts_with(['{', '['])
        && let Err(e) = serde_json::from_str::<Value>(text)
    {
        return Err(decode(format!("agent answer is not valid JSON: {e}")));
    }
    let Value::Object(fields) = &answer else {
        return Err(decode(format!(
            "agent answer must be a JSON object, got {}",
            describe(&answer)
        )));
    };
    match fields.get("decision") {
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        Some(Value::String(_)) => {
            return Err(decode("agent answer has an empty `decision`".into()));
        }
        Some(other) => {
            return Err(decode(format!(
                "agent answer's `decision` must be a string, got {}",
                describe(other)
            )));
        }
        None => return Err(decode("agent answer has no `decision`".into())),
    }
    match fields.get("confidence") {
        Some(Value::Number(n)) => check_confidence(n.as_f64())?,
        Some(other) => {
            return Err(decode(format!(
                "agent answer's `confidence` must be a number in 0..=1, got {}",
                describe(other)
            )));
        }
        None => return Err(decode("agent answer has no `confidence`".into())),
    }
    Ok(answer)
}

fn check_confidence(value: Option<f64>) -> Result<(), StepError> {
    match value {
        Some(c) if (0.0..=1.0).contains(&c) => Ok(()),
        Some(c) => Err(decode(format!(
            "agent answer's `confidence` is {c}, outside 0..=1"
        ))),
        None => Err(decode(
            "agent answer's `confidence` is not a representable number".into(),
        )),
    }
}

fn decode(message: String) -> StepError {
    StepError::new(StepErrorKind::Decode, message)
}

/// A short name for a JSON value's type, for messages.
fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn err(answer: Value) -> StepError {
        match validate(answer) {
            Ok(v) => panic!("expected an error, got {v}"),
            Err(e) => e,
        }
    }

    #[test]
    fn valid_answer_passes_through_with_extra_fields() {
        let answer = json!({"decision": "approve", "confidence": 0.9, "reason": "matches PO"});
        assert_eq!(validate(answer.clone()).unwrap(), answer);
    }

    #[test]
    fn bounds_are_inclusive() {
        for c in [json!(0), json!(1), json!(0.0), json!(1.0)] {
            assert!(validate(json!({"decision": "x", "confidence": c})).is_ok());
        }
    }

    #[test]
    fn rejects_bad_shapes_with_decode_errors() {
        let cases = [
            (json!([1, 2]), "JSON object, got an array"),
            (
                json!("{\"decision\": \"ok\", \"confidence\": 1e999}"),
                "not valid JSON: number out of range at line 1 column 38",
            ),
            (json!("approve"), "got a string"),
            (json!({"confidence": 0.5}), "no `decision`"),
            (
                json!({"decision": 3, "confidence": 0.5}),
                "must be a string",
            ),
            (
                json!({"decision": " ", "confidence": 0.5}),
                "empty `decision`",
            ),
            (json!({"decision": "ok"}), "no `confidence`"),
            (
                json!({"decision": "ok", "confidence": "high"}),
                "got a string",
            ),
            (
                json!({"decision": "ok", "confidence": 1.5}),
                "1.5, outside 0..=1",
            ),
            (
                json!({"decision": "ok", "confidence": -0.1}),
                "outside 0..=1",
            ),
        ];
        for (answer, needle) in cases {
            let e = err(answer.clone());
            assert_eq!(e.kind, StepErrorKind::Decode, "{answer}");
            assert!(e.message.contains(needle), "{answer}: {}", e.message);
        }
    }
}
