//! The typed workflow model that a validated definition file becomes.
//! Templates (`{{ ... }}`) and `when:` expressions are kept as source text here;
//! they were compiled once by the validator and are rendered by the engine.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

/// One workflow definition: a name, a version and its steps in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    pub name: String,
    pub version: u32,
    pub description: Option<String>,
    pub sla: Option<Sla>,
    pub on_failure: OnFailure,
    pub steps: Vec<Step>,
}

impl Workflow {
    /// Index of the step with this id.
    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.steps.iter().position(|s| s.id == id)
    }
}

/// What happens to an item when a step has exhausted its retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFailure {
    /// The item becomes an incident and waits for an operator (default).
    #[default]
    Incident,
    /// Completed steps with `compensate:` are undone in reverse order, then the item fails.
    Compensate,
    /// The item fails at once; nothing is undone.
    Fail,
}

/// The item-level service level agreement.
#[derive(Debug, Clone, PartialEq)]
pub struct Sla {
    /// Time from start to deadline.
    pub due: Duration,
    /// Warning thresholds in percent of `due` elapsed, ascending (e.g. 50, 75, 90).
    pub warn: Vec<u8>,
    /// Escalation chain that fires before breach (delays measured from item start).
    pub escalate: Vec<Escalation>,
}

/// One level of an escalation chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Escalation {
    /// Delay from the start of the clock (task creation or item start).
    pub after: Duration,
    /// Group or user that the task is handed to (prefix `@` for a user is not required).
    pub to: String,
    /// When set, the level fires again every `repeat` until the task is decided.
    pub repeat: Option<Duration>,
}

/// One step of a workflow.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub id: String,
    pub kind: StepKind,
    /// Ids of the steps that must finish (succeed or be skipped) first.
    pub needs: Vec<String>,
    /// A minijinja expression over the template scope; false skips the step.
    pub when: Option<String>,
    pub retry: RetryPolicy,
    /// Per-attempt timeout.
    pub timeout: Option<Duration>,
    /// Whole-step deadline across all attempts and backoffs.
    pub deadline: Option<Duration>,
    /// The undo action run when the item is compensated after this step succeeded.
    pub compensate: Option<Box<StepKind>>,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    Http(HttpSpec),
    Shell(ShellSpec),
    Agent(AgentSpec),
    Human(HumanSpec),
    Wait(WaitSpec),
    /// Maps data without outside work: the rendered `output` is the step's output.
    Pass(PassSpec),
}

impl StepKind {
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Http(_) => "http",
            StepKind::Shell(_) => "shell",
            StepKind::Agent(_) => "agent",
            StepKind::Human(_) => "human",
            StepKind::Wait(_) => "wait",
            StepKind::Pass(_) => "pass",
        }
    }
}

/// An HTTP request; every string inside may be a template.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSpec {
    pub method: String,
    pub url: String,
    pub headers: BTreeMap<String, String>,
    /// JSON body; string leaves are templates. A string that is exactly one
    /// `{{ expr }}` renders to the JSON value of `expr`, not to its text.
    pub json: Option<Value>,
    /// Statuses that count as success; empty means any 2xx.
    pub expect: Vec<u16>,
}

/// A program to run.
#[derive(Debug, Clone, PartialEq)]
pub struct ShellSpec {
    /// argv; each element is a template. Run directly, no shell.
    pub run: Vec<String>,
    /// A script run by `sh -c` instead of `run`, only when asked for with `script:`.
    pub script: Option<String>,
    /// Extra environment; values are templates.
    pub env: BTreeMap<String, String>,
    pub cwd: Option<String>,
    /// Exit codes that count as success; empty means only 0.
    pub ok_codes: Vec<i32>,
}

/// An AI agent call answered with `{ "decision": ..., "confidence": 0..1 }`.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentSpec {
    pub request: HttpSpec,
    pub min_confidence: f64,
    /// Where a low-confidence proposal goes for human review.
    pub review: ReviewSpec,
}

/// The human review of a low-confidence agent proposal.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewSpec {
    pub title: Option<String>,
    pub group: Option<String>,
    pub assignee: Option<String>,
    pub due: Option<Duration>,
    pub escalate: Vec<Escalation>,
}

/// A task in the human inbox.
#[derive(Debug, Clone, PartialEq)]
pub struct HumanSpec {
    pub title: String,
    pub details: Option<String>,
    pub group: Option<String>,
    pub assignee: Option<String>,
    /// Allowed decisions; defaults to `["approved", "rejected"]`.
    pub options: Vec<String>,
    pub due: Option<Duration>,
    pub escalate: Vec<Escalation>,
}

/// A timer or a wait for an external signal.
#[derive(Debug, Clone, PartialEq)]
pub enum WaitSpec {
    /// Wait this long from the moment the step starts.
    Duration(Duration),
    /// Wait until this RFC 3339 time (a template).
    Until(String),
    /// Wait until a signal with this name is sent to the item; fails after `timeout`.
    Signal {
        name: String,
        timeout: Option<Duration>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct PassSpec {
    /// The step's output; string leaves are templates (see `HttpSpec::json`).
    pub output: Value,
}

/// How a failing step is retried.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts including the first (1 = no retry).
    pub attempts: u32,
    /// Delay before the second attempt.
    pub backoff: Duration,
    pub multiplier: f64,
    pub max_backoff: Duration,
    /// Fraction (0..=1) of each delay that is randomised (full jitter when 1).
    pub jitter: f64,
    /// Error kinds (see `StepErrorKind` names) or codes that are never retried.
    pub non_retryable: Vec<String>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 1,
            backoff: Duration::from_secs(1),
            multiplier: 2.0,
            max_backoff: Duration::from_secs(300),
            jitter: 0.0,
            non_retryable: Vec::new(),
        }
    }
}

impl RetryPolicy {
    /// The delay before attempt `next_attempt` (2 for the first retry), before jitter.
    pub fn base_delay(&self, next_attempt: u32) -> Duration {
        let exp = next_attempt.saturating_sub(2).min(64) as i32;
        let secs = self.backoff.as_secs_f64() * self.multiplier.powi(exp);
        let capped = secs.min(self.max_backoff.as_secs_f64()).max(0.0);
        Duration::from_secs_f64(capped)
    }

    /// The delay with jitter applied; `unit` is a random number in [0, 1).
    pub fn delay(&self, next_attempt: u32, unit: f64) -> Duration {
        let base = self.base_delay(next_attempt).as_secs_f64();
        let spread = base * self.jitter.clamp(0.0, 1.0);
        Duration::from_secs_f64((base - spread + spread * unit.clamp(0.0, 1.0)).max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let p = RetryPolicy {
            attempts: 6,
            backoff: Duration::from_secs(2),
            multiplier: 2.0,
            max_backoff: Duration::from_secs(10),
            ..RetryPolicy::default()
        };
        let d: Vec<u64> = (2..=6).map(|a| p.base_delay(a).as_secs()).collect();
        assert_eq!(d, vec![2, 4, 8, 10, 10]);
    }

    #[test]
    fn jitter_stays_within_spread() {
        let p = RetryPolicy {
            jitter: 0.5,
            backoff: Duration::from_secs(10),
            ..RetryPolicy::default()
        };
        assert_eq!(p.delay(2, 0.0), Duration::from_secs(5));
        assert_eq!(p.delay(2, 1.0), Duration::from_secs(10));
    }
}
