//! The typed workflow model that a validated definition file becomes.
//! Templates (`{{ ... }}`) and `when:` expressions are kept as source text here;
//! they were compiled once by the validator and are rendered by the engine.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::Value;

use super::template::is_template;
use super::validate::steps_read;

/// One workflow definition: a name, a version and its steps in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    pub name: String,
    pub version: u32,
    pub description: Option<String>,
    pub sla: Option<Sla>,
    pub on_failure: OnFailure,
    /// The templates that name each item (`key:`, `title:`); set with `with_names`.
    names: Names,
    pub steps: Vec<Step>,
    /// Derived from `steps` by `Workflow::new`: a change to a step's id, needs, kind or
    /// templates afterwards needs a new `Workflow`.
    graph: StepGraph,
}

/// A workflow's `key:` and `title:` templates and the steps each reads (derived once).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Names {
    /// The business key of each item (an invoice number): matched exactly by filters.
    pub key: Option<String>,
    /// A title for people (a customer's name): matched as free text.
    pub title: Option<String>,
    /// The steps `key` reads (`None`: no template); when one succeeds it renders again.
    pub key_reads: Option<Reads>,
    pub title_reads: Option<Reads>,
}

impl Names {
    /// Whether there is anything to render.
    pub fn is_empty(&self) -> bool {
        self.key.is_none() && self.title.is_none()
    }

    /// Whether either name reads the result of step `i`.
    pub fn reads_step(&self, i: usize) -> bool {
        let reads = |r: &Option<Reads>| match r {
            Some(Reads::Every) => true,
            Some(Reads::Only(only)) => only.binary_search(&i).is_ok(),
            None => false,
        };
        reads(&self.key_reads) || reads(&self.title_reads)
    }
}

impl Workflow {
    /// A workflow of these steps (no description or SLA, `on_failure: incident`), with
    /// its step graph built once here.
    pub fn new(name: String, version: u32, steps: Vec<Step>) -> Workflow {
        Workflow {
            name,
            version,
            description: None,
            sla: None,
            on_failure: OnFailure::default(),
            names: Names::default(),
            graph: StepGraph::new(&steps),
            steps,
        }
    }

    /// This workflow with `key:` and `title:` templates (the steps they read derived here).
    pub fn with_names(mut self, key: Option<String>, title: Option<String>) -> Workflow {
        let index = &self.graph.index;
        let reads = |t: &Option<String>| {
            let t = t.as_deref().filter(|t| is_template(t))?;
            Some(reads_of(vec![t], index))
        };
        self.names = Names {
            key_reads: reads(&key),
            title_reads: reads(&title),
            key,
            title,
        };
        self
    }

    /// The `key:` and `title:` templates.
    pub fn names(&self) -> &Names {
        &self.names
    }

    /// Index of the step with this id (the first, should ids repeat).
    pub fn step_index(&self, id: &str) -> Option<usize> {
        self.graph.index.get(id).copied()
    }

    /// The indices of the steps that step `i` needs (names of no step are left out).
    pub fn needs_of(&self, i: usize) -> &[usize] {
        self.graph.needs.get(i).map_or(&[], Vec::as_slice)
    }

    /// The indices of the steps that need step `i`, in definition order.
    pub fn dependents(&self, i: usize) -> &[usize] {
        self.graph.dependents.get(i).map_or(&[], Vec::as_slice)
    }

    /// The `wait: signal` steps, in definition order.
    pub fn signal_waits(&self) -> &[usize] {
        &self.graph.signal_waits
    }

    /// The steps whose results step `i`'s templates and `when:` may read.
    pub fn reads(&self, i: usize) -> &Reads {
        self.graph.reads.get(i).unwrap_or(&Reads::Every)
    }

    /// `from` and every step that transitively needs it, in definition order.
    pub fn downstream(&self, from: usize) -> Vec<usize> {
        let mut marked = vec![false; self.steps.len()];
        let mut todo = vec![from];
        while let Some(i) = todo.pop() {
            if marked.get(i).is_none_or(|m| *m) {
                continue;
            }
            marked[i] = true;
            todo.extend(self.dependents(i).iter().copied());
        }
        (0..marked.len()).filter(|&j| marked[j]).collect()
    }
}

/// Which step results a step reads in its templates and `when:`.
#[derive(Debug, Clone, PartialEq)]
pub enum Reads {
    /// It uses `steps` as a whole (`steps | items`, `steps[name]`): any step.
    Every,
    /// Only these steps, in definition order.
    Only(Vec<usize>),
}

/// The per-step lookups the engine needs, derived from the steps once, so that the
/// work for a step follows its own neighbours instead of the size of the workflow.
#[derive(Clone, PartialEq)]
struct StepGraph {
    /// By id. Ids are short: a few ordered comparisons find one, with no hashing.
    index: BTreeMap<String, usize>,
    needs: Vec<Vec<usize>>,
    dependents: Vec<Vec<usize>>,
    signal_waits: Vec<usize>,
    reads: Vec<Reads>,
}

impl StepGraph {
    fn new(steps: &[Step]) -> StepGraph {
        let mut index = BTreeMap::new();
        for (i, s) in steps.iter().enumerate() {
            index.entry(s.id.clone()).or_insert(i);
        }
        let needs: Vec<Vec<usize>> = steps
            .iter()
            .map(|s| {
                s.needs
                    .iter()
                    .filter_map(|n| index.get(n).copied())
                    .collect()
            })
            .collect();
        let mut dependents = vec![Vec::new(); steps.len()];
        for (i, ns) in needs.iter().enumerate() {
            for &n in ns {
                // Ascending by construction; a need listed twice is kept once.
                if dependents[n].last() != Some(&i) {
                    dependents[n].push(i);
                }
            }
        }
        let signal_waits = (0..steps.len())
            .filter(|&i| matches!(steps[i].kind, StepKind::Wait(WaitSpec::Signal { .. })))
            .collect();
        let reads = steps.iter().map(|s| step_reads(s, &index)).collect();
        StepGraph {
            index,
            needs,
            dependents,
            signal_waits,
            reads,
        }
    }
}

impl std::fmt::Debug for StepGraph {
    // Derived from the steps, which are printed beside it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepGraph").finish_non_exhaustive()
    }
}

/// The steps a step's templates, `when:` and compensation read.
fn step_reads(step: &Step, index: &BTreeMap<String, usize>) -> Reads {
    let mut texts = Vec::new();
    step.kind.templates(&mut texts);
    if let Some(undo) = &step.compensate {
        undo.templates(&mut texts);
    }
    texts.retain(|t| is_template(t));
    texts.extend(step.when.as_deref());
    reads_of(texts, index)
}

/// The steps these templates and expressions read.
fn reads_of(texts: Vec<&str>, index: &BTreeMap<String, usize>) -> Reads {
    let mut only = BTreeSet::new();
    for text in texts {
        match steps_read(text) {
            Some(ids) => only.extend(ids.into_iter().filter_map(|id| index.get(id).copied())),
            None => return Reads::Every,
        }
    }
    Reads::Only(only.into_iter().collect())
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
    /// Every template string of this kind (what the engine renders with the item's
    /// scope). A new template field must be listed here, or the steps it reads are left
    /// out of the scope it is rendered with.
    fn templates<'a>(&'a self, out: &mut Vec<&'a str>) {
        fn http<'a>(h: &'a HttpSpec, out: &mut Vec<&'a str>) {
            out.push(&h.url);
            out.extend(h.headers.values().map(String::as_str));
            if let Some(j) = &h.json {
                json_strings(j, out);
            }
        }
        match self {
            StepKind::Http(h) => http(h, out),
            StepKind::Agent(a) => {
                http(&a.request, out);
                out.extend(a.review.title.as_deref());
            }
            StepKind::Shell(s) => {
                out.extend(s.run.iter().map(String::as_str));
                out.extend(s.script.as_deref());
                out.extend(s.env.values().map(String::as_str));
                out.extend(s.cwd.as_deref());
            }
            StepKind::Human(h) => {
                out.push(&h.title);
                out.extend(h.details.as_deref());
            }
            StepKind::Wait(WaitSpec::Until(t)) => out.push(t),
            StepKind::Wait(_) => {}
            StepKind::Pass(p) => json_strings(&p.output, out),
        }
    }

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
    /// The fields a decision fills in (`form:`); none when empty.
    pub form: Vec<crate::types::form::FormField>,
    /// Distinct operators who must approve (`approvals:`, default 1); one rejection
    /// (any other decision) decides at once.
    pub approvals: u32,
    /// Whether whoever started the item may decide (`self_approval:`, default true).
    pub self_approval: bool,
    /// Steps whose deciders may not decide this one (`distinct_from:`).
    pub distinct_from: Vec<String>,
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

/// The string leaves of a JSON value (the templates of `json:` and `output:`).
fn json_strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| json_strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| json_strings(x, out)),
        _ => {}
    }
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
