//! Parse and validate workflow YAML into the typed model, collecting every problem
//! as `file:line:col: message`.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use super::keys::{self, ERROR_KINDS};
use super::model::{Escalation, OnFailure, RetryPolicy, Sla, Workflow};
use super::step::{self, Parsed};
use super::validate::{Graph, closest, is_workflow_name, step_refs};
use super::yaml::{self, Ctx, Map, Node};

/// One problem in a workflow file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

/// Parse and validate one workflow from its source text; `file` names it in diagnostics.
pub fn parse_str(file: &str, source: &str) -> Result<Workflow, Vec<Diagnostic>> {
    let mut ctx = Ctx::new(file);
    let workflow = yaml::load(&mut ctx, source).and_then(|root| workflow(&mut ctx, &root));
    match workflow {
        Some(w) if ctx.diags.is_empty() => Ok(w),
        _ => {
            if ctx.diags.is_empty() {
                ctx.at_pos(1, 1, "the workflow could not be read");
            }
            Err(ctx.finish())
        }
    }
}

/// Parse a definition that an engine accepted once (from its journal or a snapshot):
/// rules that later tightened do not stop it, as long as the model can be built. The
/// diagnostics today's validator has are returned beside it; `Err` when no model can
/// be built at all.
pub fn parse_recorded(source: &str) -> Result<(Workflow, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut ctx = Ctx::new("<journal>");
    let workflow = yaml::load(&mut ctx, source).and_then(|root| workflow(&mut ctx, &root));
    match workflow {
        Some(w) => Ok((w, ctx.finish())),
        None => {
            if ctx.diags.is_empty() {
                ctx.at_pos(1, 1, "the workflow could not be read");
            }
            Err(ctx.finish())
        }
    }
}

/// Read and parse one file.
pub fn parse_file(path: &Path) -> Result<(Workflow, String), Vec<Diagnostic>> {
    let source = read_source(path)?;
    parse_str(&path.display().to_string(), &source).map(|w| (w, source))
}

/// A workflow file's text: bounded, UTF-8, or a diagnostic at the file (or the first
/// byte that is not UTF-8).
pub fn read_source(path: &Path) -> Result<String, Vec<Diagnostic>> {
    let file = path.display().to_string();
    let bytes = read_bounded(path).map_err(|message| {
        vec![Diagnostic {
            file: file.clone(),
            line: 1,
            col: 1,
            message,
        }]
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
        let col = valid.iter().rev().take_while(|b| **b != b'\n').count() + 1;
        vec![Diagnostic {
            file: file.clone(),
            line,
            col,
            message: "the file is not valid UTF-8 text".to_string(),
        }]
    })
}

/// A regular file's bytes, refusing (without reading) a FIFO, a device or a file past
/// the size limit: reading those could block forever or fill memory.
fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let cannot = |e: std::io::Error| format!("cannot read the file: {e}");
    let meta = std::fs::metadata(path).map_err(cannot)?;
    if !meta.is_file() {
        return Err("not a regular file (a workflow is a YAML file)".to_string());
    }
    let max = super::source::MAX_SOURCE_BYTES;
    let too_big = |len: u64| {
        format!(
            "the file is {} KiB; a workflow file may be at most {} KiB",
            len.div_ceil(1024),
            max / 1024
        )
    };
    if meta.len() > max as u64 + 3 {
        return Err(too_big(meta.len()));
    }
    let mut bytes = Vec::new();
    let file = std::fs::File::open(path).map_err(cannot)?;
    // The file may have grown since: read one byte past the limit at most.
    file.take(max as u64 + 4)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() > max + 3 {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(bytes)
}

/// A workflow parsed from a named file.
#[derive(Debug, Clone)]
pub struct Named {
    pub file: String,
    pub workflow: Workflow,
    pub source: String,
}

/// The workflow files of a directory (`*.yaml`, `*.yml`), sorted.
pub fn workflow_files(dir: &Path) -> Result<Vec<std::path::PathBuf>, Diagnostic> {
    let entries = std::fs::read_dir(dir).map_err(|e| Diagnostic {
        file: dir.display().to_string(),
        line: 1,
        col: 1,
        message: format!("cannot read the workflow directory: {e}"),
    })?;
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    paths.sort();
    Ok(paths)
}

/// Every `*.yaml`/`*.yml` file in a directory: the valid workflows with their source
/// text, and the diagnostics of the invalid ones.
pub fn load_dir(dir: &Path) -> (Vec<(Workflow, String)>, Vec<Diagnostic>) {
    let (named, diags) = load_dir_named(dir);
    let workflows = named.into_iter().map(|n| (n.workflow, n.source)).collect();
    (workflows, diags)
}

/// `load_dir`, each workflow with the file it came from.
pub fn load_dir_named(dir: &Path) -> (Vec<Named>, Vec<Diagnostic>) {
    match workflow_files(dir) {
        Ok(paths) => parse_all(
            paths
                .iter()
                .map(|p| (p.display().to_string(), read_source(p))),
        ),
        Err(d) => (Vec::new(), vec![d]),
    }
}

/// Parse and validate files that belong together (a directory, one deploy): every
/// problem of every file, and a name and version defined twice among them.
pub fn parse_all(
    files: impl IntoIterator<Item = (String, Result<String, Vec<Diagnostic>>)>,
) -> (Vec<Named>, Vec<Diagnostic>) {
    let mut named: Vec<Named> = Vec::new();
    let mut diags = Vec::new();
    let mut defined: BTreeMap<(String, u32), String> = BTreeMap::new();
    for (file, source) in files {
        let parsed = source.and_then(|s| parse_str(&file, &s).map(|w| (w, s)));
        match parsed {
            Ok((w, source)) => {
                let key = (w.name.clone(), w.version);
                if let Some(first) = defined.get(&key) {
                    let (line, col) = top_key_position(&source, "name");
                    diags.push(Diagnostic {
                        file,
                        line,
                        col,
                        message: format!(
                            "workflow '{}' version {} is already defined in {first}",
                            w.name, w.version
                        ),
                    });
                } else {
                    defined.insert(key, file.clone());
                    named.push(Named {
                        file,
                        workflow: w,
                        source,
                    });
                }
            }
            Err(mut d) => diags.append(&mut d),
        }
    }
    (named, diags)
}

/// Where a top-level key (`name`, `version`) is written, for pointing at a whole
/// definition; the file's start when it is not on a line of its own.
pub fn top_key_position(source: &str, key: &str) -> (usize, usize) {
    let prefix = format!("{key}:");
    source
        .lines()
        .position(|l| l.starts_with(&prefix))
        .map_or((1, 1), |i| (i + 1, 1))
}

fn workflow(ctx: &mut Ctx, root: &Node) -> Option<Workflow> {
    let mut m = Map::new(ctx, root, "a workflow file (top level)")?;
    let name = m
        .required(ctx, "name", "the workflow")
        .and_then(|n| workflow_name(ctx, n));
    let version = m
        .required(ctx, "version", "the workflow")
        .and_then(|v| yaml::int_in(ctx, v, "`version`", 1..=i64::from(u32::MAX)))
        .and_then(|v| u32::try_from(v).ok());
    let description = m
        .get("description")
        .map(|d| yaml::string(ctx, d, "`description`"));
    let key = m.get("key").map(|k| name_template(ctx, k, "`key`"));
    let title = m.get("title").map(|t| name_template(ctx, t, "`title`"));
    let sla = m.get("sla").map(|s| sla(ctx, s));
    let on_failure = m.get("on_failure").map(|o| on_failure(ctx, o));
    let steps = m
        .required(ctx, "steps", "the workflow")
        .and_then(|s| steps(ctx, s));
    m.finish(ctx, "the workflow", &keys::WORKFLOW.names(), |_| None);
    if let Some(steps) = &steps {
        for (text, line, col) in key.iter().chain(&title).flatten() {
            check_name_reads(ctx, steps, text, *line, *col);
        }
    }
    let text = |n: Option<Option<(String, usize, usize)>>| n.map(|n| n.map(|(t, _, _)| t));
    let (key, title) = (text(key), text(title));
    let mut w = Workflow::new(name?, version?, steps?).with_names(
        key.map_or(Some(None), |k| k.map(Some))?,
        title.map_or(Some(None), |t| t.map(Some))?,
    );
    w.description = description.map_or(Some(None), |d| d.map(Some))?;
    w.sla = sla.map_or(Some(None), |s| s.map(Some))?;
    w.on_failure = on_failure.unwrap_or(Some(OnFailure::Incident))?;
    Some(w)
}

/// The longest `key:` or `title:` template source: a name is one short line, and
/// every item renders it again whenever a step it reads succeeds.
pub const MAX_NAME_TEMPLATE: usize = 1024;

/// A `key:` or `title:` template, with where it is for the checks of what it reads.
fn name_template(ctx: &mut Ctx, node: &Node, what: &str) -> Option<(String, usize, usize)> {
    let text = yaml::template(ctx, node, what, &mut yaml::Refs::default())?;
    if text.trim().is_empty() {
        ctx.at(
            node,
            format!("{what} must not be empty; leave it out instead"),
        );
        return None;
    }
    if text.len() > MAX_NAME_TEMPLATE {
        ctx.at(
            node,
            format!(
                "{what} is {} bytes; a name template may be at most {MAX_NAME_TEMPLATE}",
                text.len()
            ),
        );
        return None;
    }
    let (line, col) = yaml::pos(node);
    Some((text, line, col))
}

/// `steps.X` in a `key:` or `title:` must name a step; any step may be read, since the
/// names are rendered again as the steps they read succeed.
fn check_name_reads(
    ctx: &mut Ctx,
    steps: &[super::model::Step],
    text: &str,
    line: usize,
    col: usize,
) {
    for target in step_refs(text) {
        if steps.iter().any(|s| s.id == target) {
            continue;
        }
        let hint = closest(&target, steps.iter().map(|s| s.id.as_str()))
            .map(|c| format!(" (did you mean '{c}'?)"))
            .unwrap_or_default();
        ctx.at_pos(
            line,
            col,
            format!(
                "the item's names read steps.{target}, which is not a step in this workflow{hint}"
            ),
        );
    }
}

fn workflow_name(ctx: &mut Ctx, node: &Node) -> Option<String> {
    let name = yaml::string(ctx, node, "`name`")?;
    if is_workflow_name(&name) {
        Some(name)
    } else {
        ctx.at(
            node,
            format!(
                "invalid workflow name '{name}': use lowercase letters, digits, `-` and `_`, \
                 starting with a letter or digit"
            ),
        );
        None
    }
}

fn on_failure(ctx: &mut Ctx, node: &Node) -> Option<OnFailure> {
    match yaml::string(ctx, node, "`on_failure`")?.as_str() {
        "incident" => Some(OnFailure::Incident),
        "compensate" => Some(OnFailure::Compensate),
        "fail" => Some(OnFailure::Fail),
        other => {
            ctx.at(
                node,
                format!("unknown on_failure '{other}' (expected incident, compensate or fail)"),
            );
            None
        }
    }
}

fn sla(ctx: &mut Ctx, node: &Node) -> Option<Sla> {
    let mut m = Map::new(ctx, node, "`sla`")?;
    let due = m
        .required(ctx, "due", "`sla`")
        .and_then(|d| yaml::duration(ctx, d, "`sla.due`"));
    let warn = m.get("warn").map_or(Some(Vec::new()), |w| warn(ctx, w));
    let escalate = m
        .get("escalate")
        .map_or(Some(Vec::new()), |e| escalations(ctx, e, "`sla.escalate`"));
    m.finish(ctx, "`sla`", &keys::SLA.names(), |_| None);
    Some(Sla {
        due: due?,
        warn: warn?,
        escalate: escalate?,
    })
}

/// Warning thresholds: percentages 1..=99, with or without `%`, strictly ascending.
fn warn(ctx: &mut Ctx, node: &Node) -> Option<Vec<u8>> {
    let items = yaml::list(ctx, node, "`sla.warn`")?;
    let mut out: Vec<u8> = Vec::new();
    let mut ok = true;
    for item in items {
        let pct = match yaml::scalar(item) {
            Some(saphyr::Scalar::Integer(i)) => Some(*i),
            Some(saphyr::Scalar::String(s)) => s
                .trim()
                .strip_suffix('%')
                .and_then(|n| n.trim().parse::<i64>().ok()),
            _ => None,
        };
        match pct
            .filter(|p| (1..=99).contains(p))
            .and_then(|p| u8::try_from(p).ok())
        {
            Some(p) if out.last().is_some_and(|last| *last >= p) => {
                ctx.at(
                    item,
                    format!(
                        "`sla.warn` must be strictly ascending; {p}% follows {}%",
                        out.last().copied().unwrap_or(0)
                    ),
                );
                ok = false;
            }
            Some(p) => out.push(p),
            None => {
                ctx.at(
                    item,
                    "`sla.warn` thresholds must be percentages from 1 to 99, like `75%`",
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// An escalation chain: `[{after, to, repeat?}]`.
pub(crate) fn escalations(ctx: &mut Ctx, node: &Node, what: &str) -> Option<Vec<Escalation>> {
    let items = yaml::list(ctx, node, what)?;
    let mut out = Vec::new();
    let mut ok = true;
    for item in items {
        match escalation(ctx, item, what) {
            Some(e) => out.push(e),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn escalation(ctx: &mut Ctx, node: &Node, what: &str) -> Option<Escalation> {
    let level = format!("a level of {what}");
    let mut m = Map::new(ctx, node, &level)?;
    let after = m
        .required(ctx, "after", &level)
        .and_then(|a| yaml::duration(ctx, a, "`after`"));
    let to = m
        .required(ctx, "to", &level)
        .and_then(|t| yaml::string(ctx, t, "`to`"));
    let repeat = m.get("repeat").map(|r| yaml::duration(ctx, r, "`repeat`"));
    m.finish(ctx, &level, &keys::ESCALATION.names(), |_| None);
    Some(Escalation {
        after: after?,
        to: to?,
        repeat: repeat.map_or(Some(None), |r| r.map(Some))?,
    })
}

/// A retry policy; keys left out keep `RetryPolicy::default()`.
pub(crate) fn retry(ctx: &mut Ctx, node: &Node) -> Option<RetryPolicy> {
    let mut m = Map::new(ctx, node, "`retry`")?;
    let d = RetryPolicy::default();
    let attempts = m.get("attempts").map(|a| {
        yaml::int_in(ctx, a, "`retry.attempts`", 1..=100).and_then(|a| u32::try_from(a).ok())
    });
    let backoff = m
        .get("backoff")
        .map(|b| yaml::duration(ctx, b, "`retry.backoff`"));
    let multiplier = m
        .get("multiplier")
        .map(|x| yaml::number_in(ctx, x, "`retry.multiplier`", 1.0..=10.0));
    let max_backoff = m
        .get("max_backoff")
        .map(|x| (x, yaml::duration(ctx, x, "`retry.max_backoff`")));
    let jitter = m
        .get("jitter")
        .map(|j| yaml::number_in(ctx, j, "`retry.jitter`", 0.0..=1.0));
    let non_retryable = m.get("non_retryable").map(|n| non_retryable(ctx, n));
    m.finish(ctx, "`retry`", &keys::RETRY.names(), |_| None);

    let backoff = backoff.unwrap_or(Some(d.backoff))?;
    let max_backoff = match max_backoff {
        Some((node, Some(max))) if max < backoff => {
            ctx.at(
                node,
                format!(
                    "`retry.max_backoff` ({}) must not be shorter than the backoff ({})",
                    humantime::format_duration(max),
                    humantime::format_duration(backoff)
                ),
            );
            return None;
        }
        Some((_, max)) => max?,
        // A long initial backoff lifts the default cap rather than being cut by it.
        None => d.max_backoff.max(backoff),
    };
    Some(RetryPolicy {
        attempts: attempts.unwrap_or(Some(d.attempts))?,
        backoff,
        multiplier: multiplier.unwrap_or(Some(d.multiplier))?,
        max_backoff,
        jitter: jitter.unwrap_or(Some(d.jitter))?,
        non_retryable: non_retryable.unwrap_or(Some(d.non_retryable))?,
    })
}

fn non_retryable(ctx: &mut Ctx, node: &Node) -> Option<Vec<String>> {
    let items = yaml::list(ctx, node, "`retry.non_retryable`")?;
    let mut out = Vec::new();
    let mut ok = true;
    for item in items {
        let Some(s) = yaml::text(ctx, item, "an error kind") else {
            ok = false;
            continue;
        };
        match error_kind(&s) {
            Ok(()) => out.push(s),
            Err(msg) => {
                ctx.at(item, msg);
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// `kind` or `kind:code`, where only `status` (100..=599) and `exit` take a code.
fn error_kind(s: &str) -> Result<(), String> {
    let (kind, code) = match s.split_once(':') {
        Some((k, c)) => (k.trim(), Some(c.trim())),
        None => (s.trim(), None),
    };
    if !ERROR_KINDS.contains(&kind) {
        let hint = closest(kind, ERROR_KINDS.iter().copied())
            .map(|c| format!(" (did you mean `{c}`?)"))
            .unwrap_or_default();
        return Err(format!(
            "unknown error kind '{kind}'{hint}; expected one of {}",
            ERROR_KINDS.join(", ")
        ));
    }
    match (kind, code) {
        (_, None) => Ok(()),
        ("status", Some(c)) => match c.parse::<u16>() {
            Ok(n) if (100..=599).contains(&n) => Ok(()),
            _ => Err(format!("'{s}': a status code must be 100..=599")),
        },
        ("exit", Some(c)) => c
            .parse::<i32>()
            .map(|_| ())
            .map_err(|_| format!("'{s}': an exit code must be an integer")),
        (_, Some(_)) => Err(format!(
            "'{s}': only `status` and `exit` take a code (like `status:404` or `exit:3`)"
        )),
    }
}

/// Steps per workflow. Every item keeps a state per step in memory and journals about
/// three records per step; the console lists them all; the engine indexes steps with
/// 16 bits. A thousand is far past any hand-written workflow (the shipped ones have
/// seven steps or fewer) and keeps one item's state, history and cost bounded.
pub const MAX_STEPS: usize = 1000;

/// Read the step list, then check the graph: ids, `needs`, cycles and `steps.X` reads.
fn steps(ctx: &mut Ctx, node: &Node) -> Option<Vec<super::model::Step>> {
    let items = yaml::list(ctx, node, "`steps`")?;
    if items.is_empty() {
        ctx.at(node, "`steps` must list at least one step");
        return None;
    }
    if let Some(extra) = items.get(MAX_STEPS) {
        ctx.at(
            extra,
            format!(
                "too many steps: this workflow has {}, at most {MAX_STEPS} are allowed; \
                 split it into smaller workflows",
                items.len()
            ),
        );
    }
    let parsed: Vec<Parsed> = items.iter().map(|s| step::step(ctx, s)).collect();
    check_ids(ctx, &parsed);
    check_graph(ctx, &parsed);
    parsed.into_iter().map(|p| p.step).collect()
}

fn check_ids(ctx: &mut Ctx, parsed: &[Parsed]) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for p in parsed {
        let Some((id, line, col)) = &p.id else {
            continue;
        };
        if let Some(first) = seen.get(id.as_str()) {
            ctx.at_pos(
                *line,
                *col,
                format!("duplicate step id '{id}' (first defined on line {first})"),
            );
        } else {
            seen.insert(id, *line);
        }
    }
}

/// The step ids of a workflow: in file order (for suggestions) and as a set.
struct Ids<'a> {
    order: Vec<&'a str>,
    set: HashSet<&'a str>,
}

impl Ids<'_> {
    fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }

    /// " (did you mean 'x'?)" when an id is close to `word`.
    fn hint(&self, word: &str) -> String {
        closest(word, self.order.iter().copied())
            .map(|c| format!(" (did you mean '{c}'?)"))
            .unwrap_or_default()
    }
}

fn check_graph(ctx: &mut Ctx, parsed: &[Parsed]) {
    let order: Vec<&str> = parsed
        .iter()
        .filter_map(|p| p.id.as_ref().map(|(id, _, _)| id.as_str()))
        .collect();
    let ids = Ids {
        set: order.iter().copied().collect(),
        order,
    };
    check_needs(ctx, parsed, &ids);
    check_distinct(ctx, parsed, &ids);
    let nodes: Vec<(&str, Vec<&str>)> = parsed
        .iter()
        .map(|p| {
            let id = p.id.as_ref().map_or("", |(id, _, _)| id.as_str());
            (id, p.needs.iter().map(|(n, _, _)| n.as_str()).collect())
        })
        .collect();
    let graph = Graph::new(&nodes);
    check_cycles(ctx, parsed, &graph);
    for (i, p) in parsed.iter().enumerate() {
        let Some((me, _, _)) = &p.id else { continue };
        // One search per reading step answers all of its reads, and stops when it has
        // found them. (The transitive upstream of every step, kept for all steps at
        // once, grew with the square of a chain: 1.08 GB to validate 10,000 steps.)
        let targets: HashSet<usize> = p
            .refs
            .texts
            .iter()
            .chain(&p.undo_refs.texts)
            .flat_map(|(text, _, _)| step_refs(text))
            .filter_map(|t| graph.index(&t))
            .collect();
        let upstream = if targets.is_empty() {
            HashSet::new()
        } else {
            graph.upstream_of(i, &targets)
        };
        let is_upstream = |t: &str| graph.index(t).is_some_and(|j| upstream.contains(&j));
        check_reads(ctx, me, &p.refs.texts, &ids, is_upstream);
        check_reads(ctx, me, &p.undo_refs.texts, &ids, |t| {
            t == me || is_upstream(t)
        });
    }
}

/// `needs` entries that name no step.
fn check_needs(ctx: &mut Ctx, parsed: &[Parsed], ids: &Ids) {
    for p in parsed {
        let Some((me, _, _)) = &p.id else { continue };
        for (need, line, col) in &p.needs {
            if !ids.contains(need) {
                let hint = ids.hint(need);
                let msg = format!(
                    "step '{me}' needs '{need}', which is not a step in this workflow{hint}"
                );
                ctx.at_pos(*line, *col, msg);
            }
        }
    }
}

/// `distinct_from` entries: other human steps of this workflow.
fn check_distinct(ctx: &mut Ctx, parsed: &[Parsed], ids: &Ids) {
    let human = |id: &str| {
        parsed.iter().any(|p| {
            p.id.as_ref().is_some_and(|(i, _, _)| i == id)
                && matches!(
                    p.step.as_ref().map(|s| &s.kind),
                    Some(super::model::StepKind::Human(_))
                )
        })
    };
    for p in parsed {
        let Some((me, _, _)) = &p.id else { continue };
        for (other, line, col) in &p.distinct {
            let msg = if other == me {
                format!("step '{me}' cannot be distinct from itself")
            } else if !ids.contains(other) {
                let hint = ids.hint(other);
                format!(
                    "step '{me}' is distinct from '{other}', which is not a step in this workflow{hint}"
                )
            } else if !human(other) {
                format!(
                    "step '{me}' is distinct from '{other}', which is not a human step (only human steps have deciders)"
                )
            } else {
                continue;
            };
            ctx.at_pos(*line, *col, msg);
        }
    }
}

/// Each cycle once, at the `needs` entry of its first step that leads into it.
fn check_cycles(ctx: &mut Ctx, parsed: &[Parsed], graph: &Graph) {
    for cycle in graph.cycles() {
        let [first, second, ..] = cycle.as_slice() else {
            continue;
        };
        let at = graph
            .index(first)
            .map(|i| &parsed[i])
            .filter(|p| p.id.is_some())
            .and_then(|p| p.needs.iter().find(|(n, _, _)| n == second));
        if let Some((_, line, col)) = at {
            ctx.at_pos(*line, *col, format!("cycle: {}", cycle.join(" -> ")));
        }
    }
}

/// Report `steps.X` reads where X is not a step, or not upstream of the reader.
fn check_reads(
    ctx: &mut Ctx,
    me: &str,
    texts: &[(String, usize, usize)],
    ids: &Ids,
    readable: impl Fn(&str) -> bool,
) {
    for (text, line, col) in texts {
        for target in step_refs(text) {
            let msg = if !ids.contains(&target) {
                let hint = ids.hint(&target);
                format!(
                    "step '{me}' reads steps.{target}, which is not a step in this workflow{hint}"
                )
            } else if readable(&target) {
                continue;
            } else if target == me {
                format!(
                    "step '{me}' reads its own steps.{me}, which only its compensate action can read"
                )
            } else {
                format!("step '{me}' reads steps.{target} but does not need it (add it to needs)")
            };
            ctx.at_pos(*line, *col, msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_kinds_with_codes() {
        assert!(error_kind("status:404").is_ok());
        assert!(error_kind("exit:3").is_ok());
        assert!(error_kind("timeout").is_ok());
        assert!(error_kind("status:99").is_err());
        assert!(error_kind("timeout:3").is_err());
        assert!(
            error_kind("timout")
                .unwrap_err()
                .contains("did you mean `timeout`")
        );
    }

    #[test]
    fn garbage_never_panics() {
        let inputs = [
            "",
            "---\n",
            "- a\n- b\n",
            "\u{0}\u{1}\u{fffd}garbage: [\n",
            "name: [[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]\n",
            "steps: {}\n",
            "steps:\n  - - - - -\n",
            ": : :\n",
            "a: &x [*x]\n",
            "!!binary aGVsbG8=\n",
            "name: x\nversion: 0\nsteps: [{id: a, kind: pass, output: !!str }]\n",
        ];
        for input in inputs {
            assert!(parse_str("t.yaml", input).is_err(), "{input:?}");
        }
        let deep = format!("{}{}", "[".repeat(300), "]".repeat(300));
        assert!(parse_str("t.yaml", &deep).is_err());
        let mut nested =
            String::from("name: x\nversion: 1\nsteps:\n  - id: a\n    kind: pass\n    output:\n");
        for d in 0..100 {
            nested.push_str(&" ".repeat(6 + 2 * d));
            nested.push_str("k:\n");
        }
        assert!(parse_str("t.yaml", &nested).is_err());
    }

    #[test]
    fn alias_bombs_are_refused_before_loading() {
        let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            src.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let d = parse_str("bomb.yaml", &src).unwrap_err();
        assert_eq!(d.len(), 1);
        assert!(d[0].message.contains("too many YAML aliases"), "{}", d[0]);
        assert_eq!((d[0].line, d[0].col), (6, 10));
        let ok = "name: a\nversion: 1\nsteps:\n  - { id: a, kind: pass, retry: &r { attempts: 3 } }\n  - { id: b, kind: pass, retry: *r }\n";
        assert_eq!(parse_str("ok.yaml", ok).unwrap().steps[1].retry.attempts, 3);
    }

    #[test]
    fn empty_values_are_reported_where_they_are() {
        let src = "name: t\nversion: 1\nsteps:\n  - id: a\n    kind: human\n    title:\n    group: ops\n    due:\n";
        let d = parse_str("t.yaml", src).unwrap_err();
        let at: Vec<(usize, String)> = d.iter().map(|d| (d.line, d.message.clone())).collect();
        assert_eq!(d.len(), 2, "{at:?}");
        assert!(
            d[0].line == 6 && d[0].message.contains("`title` must be a string"),
            "{at:?}"
        );
        assert!(
            d[1].line == 8 && d[1].message.contains("`due` must be a duration"),
            "{at:?}"
        );
    }

    #[test]
    fn tags_are_looked_through() {
        let src = "name: t\nversion: 1\nsteps: !list\n  - !step { id: a, kind: pass, output: !x { k: 1 } }\n";
        assert!(parse_str("t.yaml", src).is_ok());
    }

    const NAMED: &str = "name: t\nversion: 1\nkey: \"{{ steps.extract.output.number }}\"\ntitle: \"{{ input.supplier }}\"\nsteps:\n  - { id: start, kind: pass }\n  - { id: extract, kind: pass, needs: [start] }\n";

    #[test]
    fn key_and_title_are_kept_with_the_steps_they_read() {
        let w = parse_str("t.yaml", NAMED).unwrap();
        let names = w.names();
        assert_eq!(
            names.key.as_deref(),
            Some("{{ steps.extract.output.number }}")
        );
        assert_eq!(names.title.as_deref(), Some("{{ input.supplier }}"));
        assert!(names.reads_step(1), "the key reads extract");
        assert!(!names.reads_step(0), "nothing reads start");
        let plain = parse_str(
            "t.yaml",
            "name: t\nversion: 1\ntitle: Payroll\nsteps: [{ id: a, kind: pass }]\n",
        )
        .unwrap();
        assert_eq!(plain.names().title.as_deref(), Some("Payroll"));
        assert_eq!(
            plain.names().title_reads,
            None,
            "a plain title reads nothing"
        );
        let none = parse_str(
            "t.yaml",
            "name: t\nversion: 1\nsteps: [{ id: a, kind: pass }]\n",
        )
        .unwrap();
        assert!(none.names().is_empty());
    }

    #[test]
    fn bad_keys_and_titles_are_reported_where_they_are() {
        let src = "name: t\nversion: 1\nkey: \"{{ steps.extrct.output.number }}\"\ntitle: \"{{ input.x | nosuch }}\"\nsteps:\n  - { id: extract, kind: pass }\n";
        let d = parse_str("t.yaml", src).unwrap_err();
        let at: Vec<String> = d.iter().map(|d| d.to_string()).collect();
        assert_eq!(d.len(), 2, "{at:?}");
        assert_eq!((d[0].line, d[0].col), (3, 6), "{at:?}");
        assert!(
            d[0].message.contains("steps.extrct, which is not a step")
                && d[0].message.contains("did you mean 'extract'"),
            "{at:?}"
        );
        assert_eq!((d[1].line, d[1].col), (4, 8), "{at:?}");
        assert!(
            d[1].message
                .contains("invalid template in `title`: unknown filter `nosuch`"),
            "{at:?}"
        );
        for (bad, want) in [
            ("key: [a]\n", "`key` must be a string, found a list"),
            ("key: \"  \"\n", "`key` must not be empty"),
            ("title: \"{{ input.x \"\n", "invalid template in `title`"),
            (
                "titel: x\n",
                "unknown key `titel` in the workflow (did you mean `title`?)",
            ),
        ] {
            let src = format!("name: t\nversion: 1\n{bad}steps: [{{ id: a, kind: pass }}]\n");
            let d = parse_str("t.yaml", &src).unwrap_err();
            assert_eq!(d.len(), 1, "{bad}: {d:?}");
            assert_eq!(d[0].line, 3, "{bad}: {d:?}");
            assert!(d[0].message.contains(want), "{bad}: {}", d[0]);
        }
        let long = format!(
            "name: t\nversion: 1\ntitle: \"{}\"\nsteps: [{{ id: a, kind: pass }}]\n",
            "x".repeat(MAX_NAME_TEMPLATE + 1)
        );
        let d = parse_str("t.yaml", &long).unwrap_err();
        assert!(d[0].message.contains("at most 1024"), "{}", d[0]);
    }

    #[test]
    fn minimal_workflow_parses_with_defaults() {
        let w = parse_str(
            "t.yaml",
            "name: t\nversion: 1\nsteps:\n  - id: a\n    kind: pass\n    output: { x: 1 }\n",
        )
        .unwrap();
        assert_eq!(w.on_failure, OnFailure::Incident);
        assert_eq!(w.steps[0].retry, RetryPolicy::default());
    }
}
