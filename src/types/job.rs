//! One rendered attempt of a step, as the engine hands it to an executor, and what the
//! executor answers.

use std::time::Duration;

use serde_json::Value;

use super::event::StepError;
use super::exchange::Exchange;

/// How long an attempt of each kind of step may run when its step names no `timeout`
/// (human tasks and signal waits keep their own due times).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepTimeouts {
    pub http: Duration,
    pub shell: Duration,
    pub agent: Duration,
}

impl Default for StepTimeouts {
    fn default() -> Self {
        StepTimeouts {
            http: Duration::from_secs(5 * 60),
            shell: Duration::from_secs(60 * 60),
            agent: Duration::from_secs(10 * 60),
        }
    }
}

/// One attempt of a step, rendered from its templates by the engine.
#[derive(Debug, Clone, PartialEq)]
pub enum Job {
    Http(HttpJob),
    Shell(ShellJob),
    Agent(HttpJob),
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpJob {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    /// Success statuses; empty means any 2xx.
    pub expect: Vec<u16>,
    /// Sent as `Idempotency-Key`; the same for every attempt of one step of one item.
    pub idempotency_key: String,
    /// Per-attempt timeout.
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ShellJob {
    pub argv: Vec<String>,
    /// When set, run by `sh -c` and `argv` is ignored.
    pub script: Option<String>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<String>,
    /// Success exit codes; empty means only 0.
    pub ok_codes: Vec<i32>,
    pub timeout: Option<Duration>,
    /// Exported to the program as `TEMPI_IDEMPOTENCY_KEY`.
    pub idempotency_key: String,
}

/// What an attempt answers: its result, and for a step that made an HTTP call (`http`,
/// `agent`) the exchange behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub result: Result<Value, StepError>,
    pub exchange: Option<Box<Exchange>>,
}

impl From<Result<Value, StepError>> for Outcome {
    /// A result with no exchange (shell steps, test doubles).
    fn from(result: Result<Value, StepError>) -> Self {
        Outcome {
            result,
            exchange: None,
        }
    }
}
