//! The template scope of an item (`input`, `steps`, `item`, `env`, `secrets`) and the
//! rendering of a step's definition into the job an executor runs.

use serde_json::{Map, Value, json};

use super::state::{Item, Status, StepState};
use super::{Core, Work};
use crate::definition::template::{render_string, render_value};
use crate::definition::{HttpSpec, Reads, ShellSpec, StepKind};
use crate::types::event::{ItemId, Phase, StepError, StepErrorKind};
use crate::types::job::{HttpJob, Job, ShellJob};

/// The values templates of an item may read; `reads` says which steps they can reach
/// (a scope of every step, built for each render, made a chain's cost grow with the
/// square of its length).
pub fn scope(item: &Item, env: &Value, secrets: &Value, reads: &Reads) -> Value {
    let mut steps = Map::new();
    let mut add = |i: usize| {
        if let (Some(def), Some(s)) = (item.wf.steps.get(i), item.steps.get(i)) {
            steps.insert(def.id.clone(), step_entry(s));
        }
    };
    match reads {
        Reads::Every => (0..item.steps.len()).for_each(&mut add),
        Reads::Only(only) => only.iter().copied().for_each(&mut add),
    }
    json!({
        "input": item.input,
        "steps": steps,
        "item": {
            "id": item.id,
            "priority": item.priority,
            "workflow": item.wf.name,
            "version": item.wf.version,
            "started_at": item.started_at.to_rfc3339(),
        },
        "env": env,
        "secrets": secrets,
    })
}

/// `steps.<id>` of the scope.
fn step_entry(s: &StepState) -> Value {
    let status = match s.status {
        Status::Pending => "pending",
        Status::Scheduled => "scheduled",
        Status::Running => "running",
        Status::Waiting => "waiting",
        Status::Succeeded => "succeeded",
        Status::Failed => "failed",
        Status::Skipped => "skipped",
    };
    let mut entry = Map::new();
    entry.insert("status".into(), json!(status));
    entry.insert("attempts".into(), json!(s.attempt));
    if let Some(out) = &s.output {
        for key in ["decision", "comment"] {
            if let Some(v) = out.get(key) {
                entry.insert(key.into(), v.clone());
            }
        }
        entry.insert("output".into(), out.clone());
    }
    if let Some(e) = &s.error {
        entry.insert("error".into(), json!(e.to_string()));
    }
    Value::Object(entry)
}

fn template_error(what: &str, e: String) -> StepError {
    StepError::new(StepErrorKind::Template, format!("{what}: {e}"))
}

/// Stable across retries and restarts of one step of one item; unique across data dirs
/// in practice because it carries the item's start time.
pub fn idempotency_key(item: &Item, step: &str, phase: Phase) -> String {
    let base = format!(
        "tempi-{}-{}-{}-{}",
        item.wf.name,
        item.id,
        item.started_at.timestamp_millis(),
        step
    );
    match phase {
        Phase::Run => base,
        Phase::Compensate => format!("{base}-undo"),
    }
}

fn render_http(
    spec: &HttpSpec,
    scope: &Value,
    key: String,
    timeout: Option<std::time::Duration>,
) -> Result<HttpJob, StepError> {
    let url = render_string(&spec.url, scope).map_err(|e| template_error("url", e))?;
    let headers = spec
        .headers
        .iter()
        .map(|(k, v)| {
            render_string(v, scope)
                .map(|v| (k.clone(), v))
                .map_err(|e| template_error(&format!("header {k}"), e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let body = match &spec.json {
        Some(j) => Some(render_value(j, scope).map_err(|e| template_error("json", e))?),
        None => None,
    };
    Ok(HttpJob {
        method: spec.method.clone(),
        url,
        headers,
        body,
        expect: spec.expect.clone(),
        idempotency_key: key,
        timeout,
    })
}

fn render_shell(
    spec: &ShellSpec,
    scope: &Value,
    key: String,
    timeout: Option<std::time::Duration>,
) -> Result<ShellJob, StepError> {
    let argv = spec
        .run
        .iter()
        .map(|a| render_string(a, scope).map_err(|e| template_error("run", e)))
        .collect::<Result<Vec<_>, _>>()?;
    let script = match &spec.script {
        Some(s) => Some(render_string(s, scope).map_err(|e| template_error("script", e))?),
        None => None,
    };
    let env = spec
        .env
        .iter()
        .map(|(k, v)| {
            render_string(v, scope)
                .map(|v| (k.clone(), v))
                .map_err(|e| template_error(&format!("env {k}"), e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ShellJob {
        argv,
        script,
        env,
        cwd: spec.cwd.clone(),
        ok_codes: spec.ok_codes.clone(),
        timeout,
        idempotency_key: key,
    })
}

impl Core {
    /// The scope for rendering step `i`'s templates.
    pub(super) fn scope_of(&self, item: ItemId, i: usize) -> Value {
        match self.state.items.get(&item) {
            Some(it) => scope(it, &self.env, &self.secrets_scope, it.wf.reads(i)),
            None => Value::Null,
        }
    }

    /// Render the work of an executor-backed step (or its compensation). `None` for kinds
    /// the core handles itself (human, wait).
    pub(super) fn render_work(
        &self,
        item: ItemId,
        i: usize,
        phase: Phase,
    ) -> Result<Option<Work>, StepError> {
        let Some(it) = self.state.items.get(&item) else {
            return Ok(None);
        };
        let def = &it.wf.steps[i];
        let kind = match phase {
            Phase::Run => &def.kind,
            Phase::Compensate => match &def.compensate {
                Some(k) => k.as_ref(),
                None => return Ok(None),
            },
        };
        let scope = scope(it, &self.env, &self.secrets_scope, it.wf.reads(i));
        let key = idempotency_key(it, &def.id, phase);
        let timeout = self.attempt_timeout(def, kind);
        let work = match kind {
            StepKind::Http(h) => Work::Job(Job::Http(render_http(h, &scope, key, timeout)?)),
            StepKind::Agent(a) => {
                Work::Job(Job::Agent(render_http(&a.request, &scope, key, timeout)?))
            }
            StepKind::Shell(s) => Work::Job(Job::Shell(render_shell(s, &scope, key, timeout)?)),
            StepKind::Pass(p) => Work::Immediate(
                render_value(&p.output, &scope).map_err(|e| template_error("output", e))?,
            ),
            StepKind::Human(_) | StepKind::Wait(_) => return Ok(None),
        };
        Ok(Some(work))
    }
}
