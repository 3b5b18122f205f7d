//! One step of a workflow file: the keys shared by every step, then the keys of its
//! kind, and the `compensate:` undo action.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use super::keys::{self, METHODS};
use super::model::{
    AgentSpec, HttpSpec, HumanSpec, PassSpec, ReviewSpec, ShellSpec, Step, StepKind, WaitSpec,
};
use super::parse::{escalations, retry};
use super::template::{check_expression, is_template};
use super::validate::is_step_id;
use super::yaml::{self, Ctx, Map, Node, Refs, pos};

/// A step as read, with what the graph checks need even when the step itself is invalid.
pub(crate) struct Parsed {
    pub id: Option<(String, usize, usize)>,
    pub needs: Vec<(String, usize, usize)>,
    /// A human step's `distinct_from`, checked against the other steps.
    pub distinct: Vec<(String, usize, usize)>,
    /// Templates of the step itself.
    pub refs: Refs,
    /// Templates of its compensate action (which may also read its own output).
    pub undo_refs: Refs,
    pub step: Option<Step>,
}

/// "it belongs to shell steps" when `key` is a key of other kinds than `kind`.
fn belongs_elsewhere(key: &str, kind: &str) -> Option<String> {
    let owners: Vec<&str> = keys::STEP
        .names()
        .into_iter()
        .filter(|k| *k != kind && keys::STEP.keys_of(k).contains(&key))
        .collect();
    (!owners.is_empty()).then(|| {
        format!(
            "it belongs to {} steps, not {kind} steps",
            owners.join(" and ")
        )
    })
}

pub(crate) fn step(ctx: &mut Ctx, node: &Node) -> Parsed {
    let mut parsed = Parsed {
        id: None,
        needs: Vec::new(),
        distinct: Vec::new(),
        refs: Refs::default(),
        undo_refs: Refs::default(),
        step: None,
    };
    let Some(mut m) = Map::new(ctx, node, "a step") else {
        return parsed;
    };
    parsed.id = m
        .required(ctx, "id", "a step")
        .and_then(|n| step_id(ctx, n));
    let what = match &parsed.id {
        Some((id, _, _)) => format!("step '{id}'"),
        None => "a step".to_string(),
    };
    let kind_name = m
        .required(ctx, "kind", &what)
        .and_then(|k| kind_name(ctx, k, &keys::STEP.names(), "step kind"));
    if let Some(n) = m.get("needs") {
        parsed.needs = step_list(ctx, n, "`needs`");
    }
    if kind_name.as_deref() == Some("human")
        && let Some(n) = m.get("distinct_from")
    {
        parsed.distinct = step_list(ctx, n, "`distinct_from`");
    }
    let when = m.get("when").map(|w| when(ctx, w, &mut parsed.refs));
    let retry = m.get("retry").map(|r| retry(ctx, r));
    let timeout = m
        .get("timeout")
        .map(|t| yaml::duration(ctx, t, "`timeout`"));
    let deadline = m
        .get("deadline")
        .map(|d| yaml::duration(ctx, d, "`deadline`"));
    let compensate = m
        .get("compensate")
        .map(|c| compensate(ctx, c, &mut parsed.undo_refs));
    let kind = kind_name
        .as_deref()
        .and_then(|k| kind(ctx, k, &mut m, &mut parsed.refs));
    let known = step_keys(kind_name.as_deref());
    let of_kind = kind_name.clone();
    m.finish(ctx, &what, &known, |key| {
        of_kind.as_deref().and_then(|k| belongs_elsewhere(key, k))
    });

    let (Some((id, _, _)), Some(mut kind)) = (&parsed.id, kind) else {
        return parsed;
    };
    let timeout = signal_timeout(&mut kind, opt(timeout));
    if let StepKind::Human(h) = &mut kind {
        h.distinct_from = parsed.distinct.iter().map(|(d, _, _)| d.clone()).collect();
    }
    parsed.step = (|| {
        Some(Step {
            id: id.clone(),
            kind,
            needs: parsed.needs.iter().map(|(n, _, _)| n.clone()).collect(),
            when: opt(when)?,
            retry: retry.unwrap_or(Some(Default::default()))?,
            timeout: timeout?,
            deadline: opt(deadline)?,
            compensate: opt(compensate)?.map(Box::new),
        })
    })();
    parsed
}

/// The keys a step of this kind may have. Without a valid kind any kind's keys may be
/// meant, so only keys of no kind at all are reported.
fn step_keys(kind: Option<&str>) -> Vec<&'static str> {
    let kinds = kind.map_or_else(|| keys::STEP.names(), |k| vec![k]);
    let mut known = keys::STEP.common_names();
    for key in kinds.into_iter().flat_map(|k| keys::STEP.keys_of(k)) {
        if !known.contains(&key) {
            known.push(key);
        }
    }
    known
}

/// For a signal wait, `timeout:` bounds the wait itself rather than an attempt.
fn signal_timeout(
    kind: &mut StepKind,
    timeout: Option<Option<Duration>>,
) -> Option<Option<Duration>> {
    match (kind, timeout) {
        (StepKind::Wait(WaitSpec::Signal { timeout: t, .. }), Some(Some(d))) => {
            *t = Some(d);
            Some(None)
        }
        (_, timeout) => timeout,
    }
}

/// An optional key: absent is `Some(None)`, present but invalid is `None`.
fn opt<T>(v: Option<Option<T>>) -> Option<Option<T>> {
    match v {
        None => Some(None),
        Some(inner) => inner.map(Some),
    }
}

fn step_id(ctx: &mut Ctx, node: &Node) -> Option<(String, usize, usize)> {
    let id = yaml::string(ctx, node, "`id`")?;
    if !is_step_id(&id) {
        ctx.at(
            node,
            format!(
                "invalid step id '{id}': use lowercase letters, digits and `_`, starting with a letter"
            ),
        );
        return None;
    }
    let (line, col) = pos(node);
    Some((id, line, col))
}

fn kind_name(ctx: &mut Ctx, node: &Node, allowed: &[&str], what: &str) -> Option<String> {
    let k = yaml::string(ctx, node, "`kind`")?;
    if allowed.contains(&k.as_str()) {
        Some(k)
    } else {
        ctx.at(
            node,
            format!(
                "unknown {what} '{k}' (expected one of {})",
                allowed.join(", ")
            ),
        );
        None
    }
}

/// `needs: [a, b]` or `needs: a`.
/// Step ids with their positions (`needs`, `distinct_from`), each listed once.
fn step_list(ctx: &mut Ctx, node: &Node, what: &str) -> Vec<(String, usize, usize)> {
    let items: Vec<&Node> = match &node.data {
        saphyr::YamlData::Sequence(v) => v.iter().collect(),
        _ => vec![node],
    };
    let mut out: Vec<(String, usize, usize)> = Vec::new();
    // A join may need hundreds of steps; a set keeps the check for repeats linear.
    let mut listed: HashSet<String> = HashSet::new();
    for n in items {
        let Some(s) = yaml::string(ctx, n, what) else {
            continue;
        };
        if !listed.insert(s.clone()) {
            ctx.at(n, format!("'{s}' is listed twice in {what}"));
            continue;
        }
        let (line, col) = pos(n);
        out.push((s, line, col));
    }
    out
}

fn when(ctx: &mut Ctx, node: &Node, refs: &mut Refs) -> Option<String> {
    let s = yaml::text(ctx, node, "`when`")?;
    if is_template(&s) {
        ctx.at(
            node,
            "`when` is an expression, not a template: write `input.x > 1`, without `{{ }}`",
        );
        return None;
    }
    // Kept even when invalid, like templates: the diagnostic refuses a new file, and a
    // journaled one still builds a model whose step fails with the same message.
    if let Err(e) = check_expression(&s) {
        ctx.at(node, format!("invalid `when` expression: {e}"));
    }
    refs.push(node, &s);
    Some(s)
}

fn kind(ctx: &mut Ctx, kind: &str, m: &mut Map, refs: &mut Refs) -> Option<StepKind> {
    match kind {
        "http" => http(ctx, m, refs).map(StepKind::Http),
        "shell" => shell(ctx, m, refs).map(StepKind::Shell),
        "agent" => agent(ctx, m, refs).map(StepKind::Agent),
        "human" => human(ctx, m, refs).map(StepKind::Human),
        "wait" => wait(ctx, m, refs).map(StepKind::Wait),
        _ => pass(ctx, m, refs).map(StepKind::Pass),
    }
}

fn compensate(ctx: &mut Ctx, node: &Node, refs: &mut Refs) -> Option<StepKind> {
    let what = "`compensate`";
    let mut m = Map::new(ctx, node, what)?;
    let undo = &keys::COMPENSATE;
    let kind_name = m
        .required(ctx, "kind", what)
        .and_then(|k| kind_name(ctx, k, &undo.names(), "compensate kind"));
    let out = kind_name
        .as_deref()
        .and_then(|k| kind(ctx, k, &mut m, refs));
    let mut known = undo.common_names();
    match kind_name.as_deref() {
        Some(k) => known.extend(undo.keys_of(k)),
        None => known.extend(undo.names().into_iter().flat_map(|k| undo.keys_of(k))),
    }
    let of_kind = kind_name.clone();
    m.finish(ctx, what, &known, |key| {
        if keys::STEP.common_names().contains(&key) {
            Some(
                "a compensate action is only an undo action (no needs, when, retry or timeouts)"
                    .to_string(),
            )
        } else {
            of_kind.as_deref().and_then(|k| belongs_elsewhere(key, k))
        }
    });
    out
}

fn http(ctx: &mut Ctx, m: &mut Map, refs: &mut Refs) -> Option<HttpSpec> {
    let mut spec = m
        .required(ctx, "request", "an http step")
        .and_then(|r| request(ctx, r, refs));
    if let Some(e) = m.get("expect") {
        let expect = yaml::list(ctx, e, "`expect`").and_then(|items| {
            items
                .iter()
                .map(|i| yaml::int_in(ctx, i, "an expected status", 100..=599).map(|n| n as u16))
                .collect::<Vec<_>>()
                .into_iter()
                .collect::<Option<Vec<u16>>>()
        });
        match (&mut spec, expect) {
            (Some(s), Some(x)) => s.expect = x,
            _ => return None,
        }
    }
    spec
}

fn request(ctx: &mut Ctx, node: &Node, refs: &mut Refs) -> Option<HttpSpec> {
    let mut m = Map::new(ctx, node, "`request`")?;
    let method = match m.get("method") {
        None => Some("GET".to_string()),
        Some(n) => yaml::string(ctx, n, "`method`").and_then(|s| {
            let up = s.to_ascii_uppercase();
            if METHODS.contains(&up.as_str()) {
                Some(up)
            } else {
                ctx.at(
                    n,
                    format!(
                        "unknown HTTP method '{s}' (expected one of {})",
                        METHODS.join(", ")
                    ),
                );
                None
            }
        }),
    };
    let url = m
        .required(ctx, "url", "`request`")
        .and_then(|u| yaml::template(ctx, u, "`url`", refs));
    let headers = m
        .get("headers")
        .map(|h| string_map(ctx, h, "`headers`", refs));
    let json = m.get("json").map(|j| yaml::json(ctx, j, "`json`", refs));
    m.finish(ctx, "`request`", &keys::REQUEST.names(), |k| {
        (k == "expect").then(|| "`expect` goes on the step, beside `request`".to_string())
    });
    Some(HttpSpec {
        method: method?,
        url: url?,
        headers: headers.unwrap_or(Some(BTreeMap::new()))?,
        json: opt(json)?,
        expect: Vec::new(),
    })
}

/// A `{name: template}` map such as headers or env.
fn string_map(
    ctx: &mut Ctx,
    node: &Node,
    what: &str,
    refs: &mut Refs,
) -> Option<BTreeMap<String, String>> {
    let mut m = Map::new(ctx, node, what)?;
    let mut out = BTreeMap::new();
    let mut ok = true;
    for (k, _, v) in m.all() {
        match yaml::template(ctx, v, &format!("{what} `{k}`"), refs) {
            Some(s) => {
                out.insert(k, s);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn shell(ctx: &mut Ctx, m: &mut Map, refs: &mut Refs) -> Option<ShellSpec> {
    let run_node = m.get("run");
    let script_node = m.get("script");
    let run = match run_node {
        None => Some(Vec::new()),
        Some(r) => argv(ctx, r, refs),
    };
    let script = script_node.map(|s| yaml::template(ctx, s, "`script`", refs));
    match (run_node, script_node) {
        (None, None) => ctx.at(
            m.node,
            "a shell step needs `run` (an argv list) or `script` (a string run with sh -c)",
        ),
        (Some(_), Some(s)) => ctx.at(s, "`run` and `script` are exclusive; use one of them"),
        _ => {}
    }
    let env = m.get("env").map(|e| string_map(ctx, e, "`env`", refs));
    let cwd = m.get("cwd").map(|c| yaml::template(ctx, c, "`cwd`", refs));
    let ok_codes = m.get("ok_codes").map(|o| {
        yaml::list(ctx, o, "`ok_codes`").and_then(|items| {
            items
                .iter()
                .map(|i| {
                    yaml::int_in(
                        ctx,
                        i,
                        "an exit code",
                        i64::from(i32::MIN)..=i64::from(i32::MAX),
                    )
                    .map(|n| n as i32)
                })
                .collect::<Vec<_>>()
                .into_iter()
                .collect::<Option<Vec<i32>>>()
        })
    });
    if run_node.is_none() && script_node.is_none() || run_node.is_some() && script_node.is_some() {
        return None;
    }
    Some(ShellSpec {
        run: run?,
        script: opt(script)?,
        env: env.unwrap_or(Some(BTreeMap::new()))?,
        cwd: opt(cwd)?,
        ok_codes: ok_codes.unwrap_or(Some(Vec::new()))?,
    })
}

fn argv(ctx: &mut Ctx, node: &Node, refs: &mut Refs) -> Option<Vec<String>> {
    let items = yaml::list(ctx, node, "`run`")?;
    if items.is_empty() {
        ctx.at(node, "`run` must name a program: `run: [program, args...]`");
        return None;
    }
    items
        .iter()
        .map(|i| yaml::template(ctx, i, "`run`", refs))
        .collect::<Vec<_>>()
        .into_iter()
        .collect()
}

fn agent(ctx: &mut Ctx, m: &mut Map, refs: &mut Refs) -> Option<AgentSpec> {
    let request = m
        .required(ctx, "request", "an agent step")
        .and_then(|r| request(ctx, r, refs));
    let min_confidence = m
        .required(ctx, "min_confidence", "an agent step")
        .and_then(|c| yaml::number_in(ctx, c, "`min_confidence`", 0.0..=1.0));
    let review = m
        .required(ctx, "review", "an agent step")
        .and_then(|r| review(ctx, r, refs));
    Some(AgentSpec {
        request: request?,
        min_confidence: min_confidence?,
        review: review?,
    })
}

fn review(ctx: &mut Ctx, node: &Node, refs: &mut Refs) -> Option<ReviewSpec> {
    let what = "`review`";
    let mut m = Map::new(ctx, node, what)?;
    let title = m
        .get("title")
        .map(|t| yaml::template(ctx, t, "`title`", refs));
    let (group, assignee) = candidates(ctx, &mut m, what);
    let due = m.get("due").map(|d| yaml::duration(ctx, d, "`due`"));
    let escalate = m
        .get("escalate")
        .map(|e| escalations(ctx, e, "`review.escalate`"));
    m.finish(ctx, what, &keys::REVIEW.names(), |_| None);
    Some(ReviewSpec {
        title: opt(title)?,
        group: group?,
        assignee: assignee?,
        due: opt(due)?,
        escalate: escalate.unwrap_or(Some(Vec::new()))?,
    })
}

/// `group` and/or `assignee`, at least one.
#[allow(clippy::type_complexity)]
fn candidates(
    ctx: &mut Ctx,
    m: &mut Map,
    what: &str,
) -> (Option<Option<String>>, Option<Option<String>>) {
    let group = m.get("group").map(|g| yaml::string(ctx, g, "`group`"));
    let assignee = m
        .get("assignee")
        .map(|a| yaml::string(ctx, a, "`assignee`"));
    if group.is_none() && assignee.is_none() {
        ctx.at(
            m.node,
            format!("{what} needs a `group` or an `assignee` to send the task to"),
        );
        return (None, None);
    }
    (opt(group), opt(assignee))
}

fn human(ctx: &mut Ctx, m: &mut Map, refs: &mut Refs) -> Option<HumanSpec> {
    let what = "a human step";
    let title = m
        .required(ctx, "title", what)
        .and_then(|t| yaml::template(ctx, t, "`title`", refs));
    let details = m
        .get("details")
        .map(|d| yaml::template(ctx, d, "`details`", refs));
    let (group, assignee) = candidates(ctx, m, what);
    let options = m.get("options").map(|o| options(ctx, o));
    let due = m.get("due").map(|d| yaml::duration(ctx, d, "`due`"));
    let escalate = m.get("escalate").map(|e| escalations(ctx, e, "`escalate`"));
    let form = m.get("form").map(|f| super::form::form(ctx, f));
    let approvals = m.get("approvals").map(|a| {
        yaml::int_in(ctx, a, "`approvals`", 1..=i64::from(MAX_APPROVALS)).map(|n| n as u32)
    });
    let self_approval = m
        .get("self_approval")
        .map(|b| yaml::boolean(ctx, b, "`self_approval`"));
    let options = match (options, &approvals) {
        (Some(Some(o)), Some(Some(n))) if *n > 1 && !o.iter().any(|x| x == "approved") => {
            if let Some(node) = m.get("approvals") {
                ctx.at(
                    node,
                    format!(
                        "`approvals: {n}` counts approvals, so `options` must offer \
                         'approved' (any other decision decides at once)"
                    ),
                );
            }
            Some(None)
        }
        (o, _) => o,
    };
    Some(HumanSpec {
        title: title?,
        details: opt(details)?,
        group: group?,
        assignee: assignee?,
        options: options
            .unwrap_or_else(|| Some(vec!["approved".to_string(), "rejected".to_string()]))?,
        due: opt(due)?,
        escalate: escalate.unwrap_or(Some(Vec::new()))?,
        form: form.unwrap_or(Some(Vec::new()))?,
        approvals: approvals.unwrap_or(Some(1))?,
        self_approval: self_approval.unwrap_or(Some(true))?,
        distinct_from: Vec::new(),
    })
}

/// Most approvals a task may need.
pub const MAX_APPROVALS: u32 = 10;

fn options(ctx: &mut Ctx, node: &Node) -> Option<Vec<String>> {
    let items = yaml::list(ctx, node, "`options`")?;
    if items.is_empty() {
        ctx.at(node, "`options` must list at least one decision");
        return None;
    }
    let mut out: Vec<String> = Vec::new();
    let mut ok = true;
    for i in items {
        match yaml::string(ctx, i, "an option") {
            Some(s) if out.contains(&s) => {
                ctx.at(i, format!("option '{s}' is listed twice"));
                ok = false;
            }
            Some(s) => out.push(s),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn wait(ctx: &mut Ctx, m: &mut Map, refs: &mut Refs) -> Option<WaitSpec> {
    let duration = m.entry("duration");
    let until = m.entry("until");
    let signal = m.entry("signal");
    let given: Vec<&Node> = [duration, until, signal]
        .iter()
        .flatten()
        .map(|(k, _)| *k)
        .collect();
    if given.is_empty() {
        ctx.at(
            m.node,
            "a wait step needs one of `duration`, `until` or `signal`",
        );
        return None;
    }
    for extra in given.iter().skip(1) {
        ctx.at(
            extra,
            "a wait step takes exactly one of `duration`, `until` or `signal`",
        );
    }
    if given.len() > 1 {
        return None;
    }
    if let Some((_, d)) = duration {
        return yaml::duration(ctx, d, "`duration`").map(WaitSpec::Duration);
    }
    if let Some((_, u)) = until {
        let s = yaml::template(ctx, u, "`until`", refs)?;
        if !is_template(&s) && chrono::DateTime::parse_from_rfc3339(s.trim()).is_err() {
            ctx.at(
                u,
                format!("`until` must be an RFC 3339 time like 2026-01-31T17:00:00Z or a template, found '{s}'"),
            );
            return None;
        }
        return Some(WaitSpec::Until(s));
    }
    let (_, s) = signal?;
    let name = yaml::string(ctx, s, "`signal`")?;
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !valid {
        ctx.at(
            s,
            format!("invalid signal name '{name}': use letters, digits, `_`, `-` and `.`"),
        );
        return None;
    }
    Some(WaitSpec::Signal {
        name,
        timeout: None,
    })
}

fn pass(ctx: &mut Ctx, m: &mut Map, refs: &mut Refs) -> Option<PassSpec> {
    let output = match m.get("output") {
        Some(o) => yaml::json(ctx, o, "`output`", refs)?,
        None => serde_json::Value::Null,
    };
    Some(PassSpec { output })
}
