//! Demo-scale copies of the shipped workflows: the same files with their SLA clocks (item
//! and task deadlines, escalations, signal waits) run [`SCALE`]× faster, so pressure
//! builds in minutes instead of hours. Retries, timeouts and deadlines of calls stay.

use std::time::Duration;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};

/// How much faster the demo's SLA clocks run: invoice-approval's 4 h is 8 min.
pub const SCALE: u32 = 30;
/// No scaled clock is shorter than this, so a one-minute escalation still reads as one.
const SHORTEST: Duration = Duration::from_secs(1);

type Node<'i> = MarkedYaml<'i>;

/// Why a file could not be scaled (it was valid, so this is a shape the demo did not
/// expect, e.g. an anchor).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ScaleError {
    pub line: usize,
    pub message: String,
}

/// `source` with every SLA-clock duration divided by `factor` and a first line saying so.
pub fn scale_source(source: &str, factor: u32) -> Result<String, ScaleError> {
    let docs = MarkedYaml::load_from_str(source).map_err(|e| ScaleError {
        line: e.marker().line(),
        message: format!("YAML syntax error: {}", e.info()),
    })?;
    let Some(root) = docs.first() else {
        return Ok(source.to_string());
    };
    let mut edits = Vec::new();
    if let Some(sla) = get(root, "sla") {
        clock(sla, "due", &mut edits);
        escalations(get(sla, "escalate"), &mut edits);
    }
    for step in seq(get(root, "steps")) {
        match get(step, "kind").and_then(text) {
            Some("human") => {
                clock(step, "due", &mut edits);
                escalations(get(step, "escalate"), &mut edits);
            }
            Some("agent") => {
                if let Some(review) = get(step, "review") {
                    clock(review, "due", &mut edits);
                    escalations(get(review, "escalate"), &mut edits);
                }
            }
            Some("wait") => {
                clock(step, "timeout", &mut edits);
                clock(step, "duration", &mut edits);
            }
            _ => {}
        }
    }
    let mut out = apply(source, edits, factor)?;
    out.insert_str(
        0,
        &format!("# tempi demo: this workflow's SLA clocks run {factor}x faster than shipped\n"),
    );
    Ok(out)
}

/// A duration scalar to rewrite: where its text starts (in chars) and what it says.
struct Edit {
    at: usize,
    line: usize,
    text: String,
}

fn get<'a, 'i>(node: &'a Node<'i>, key: &str) -> Option<&'a Node<'i>> {
    let YamlData::Mapping(m) = &node.data else {
        return None;
    };
    m.iter().find(|(k, _)| text(k) == Some(key)).map(|(_, v)| v)
}

fn text<'a>(node: &'a Node) -> Option<&'a str> {
    match &node.data {
        YamlData::Value(Scalar::String(s)) => Some(s),
        _ => None,
    }
}

fn seq<'a, 'i>(node: Option<&'a Node<'i>>) -> &'a [Node<'i>] {
    match node.map(|n| &n.data) {
        Some(YamlData::Sequence(items)) => items,
        _ => &[],
    }
}

fn clock(map: &Node, key: &str, edits: &mut Vec<Edit>) {
    if let Some(value) = get(map, key)
        && let Some(text) = text(value)
    {
        let start = value.span.start;
        edits.push(Edit {
            at: start.index(),
            line: start.line(),
            text: text.to_string(),
        });
    }
}

fn escalations(chain: Option<&Node>, edits: &mut Vec<Edit>) {
    for level in seq(chain) {
        clock(level, "after", edits);
        clock(level, "repeat", edits);
    }
}

/// Replace each edit's duration with its scaled one, checking that the source says what
/// the parser read (a plain or quoted scalar) before touching it.
fn apply(source: &str, mut edits: Vec<Edit>, factor: u32) -> Result<String, ScaleError> {
    edits.sort_by_key(|e| e.at);
    let bytes: Vec<usize> = source.char_indices().map(|(b, _)| b).collect();
    let mut out = String::with_capacity(source.len());
    let mut from = 0;
    for e in edits {
        let fail = |message: String| ScaleError {
            line: e.line,
            message,
        };
        let mut start = bytes.get(e.at).copied().unwrap_or(source.len());
        if source[start..].starts_with(['"', '\'']) {
            start += 1;
        }
        if !source[start..].starts_with(e.text.as_str()) || start < from {
            return Err(fail(format!(
                "cannot find the duration `{}` where the parser read it",
                e.text
            )));
        }
        let d = humantime::parse_duration(e.text.trim())
            .map_err(|why| fail(format!("`{}` is not a duration: {why}", e.text)))?;
        out.push_str(&source[from..start]);
        out.push_str(&format_scaled(d, factor));
        from = start + e.text.len();
    }
    out.push_str(&source[from..]);
    Ok(out)
}

/// `d / factor` to the second, at least [`SHORTEST`]: `4h` / 30 is `8m`.
pub fn scaled(d: Duration, factor: u32) -> Duration {
    let secs = (d.as_secs_f64() / f64::from(factor.max(1))).round();
    Duration::from_secs(secs as u64).max(SHORTEST)
}

fn format_scaled(d: Duration, factor: u32) -> String {
    humantime::format_duration(scaled(d, factor)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::{StepKind, WaitSpec, Workflow, parse_str};

    fn parse(source: &str) -> Workflow {
        parse_str("wf.yaml", source).unwrap_or_else(|d| panic!("{d:?}\n{source}"))
    }

    fn shipped(name: &str) -> &'static str {
        crate::demo::EMBEDDED_WORKFLOWS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, s)| *s)
            .unwrap()
    }

    #[test]
    fn invoice_clocks_run_thirty_times_faster_and_calls_do_not() {
        let source = shipped("invoice-approval");
        let (before, after) = (parse(source), parse(&scale_source(source, SCALE).unwrap()));
        let (b, a) = (before.sla.unwrap(), after.sla.unwrap());
        assert_eq!(a.due, Duration::from_secs(8 * 60), "4h / 30");
        assert_eq!(a.warn, b.warn);
        let afters: Vec<u64> = a.escalate.iter().map(|e| e.after.as_secs()).collect();
        assert_eq!(afters, [360, 420], "3h and 3h 30m");
        assert_eq!(a.escalate[1].repeat, Some(Duration::from_secs(20)));
        for (sb, sa) in before.steps.iter().zip(&after.steps) {
            // No wait step here: every timeout is a call's.
            assert_eq!(sb.timeout, sa.timeout, "{}: call timeouts stay", sb.id);
            assert_eq!(sb.deadline, sa.deadline, "{}", sb.id);
            assert_eq!(sb.retry, sa.retry, "{}", sb.id);
            match (&sb.kind, &sa.kind) {
                (StepKind::Human(hb), StepKind::Human(ha)) => {
                    assert_eq!(ha.due.map(|d| d * SCALE), hb.due);
                    assert_eq!(ha.escalate.len(), hb.escalate.len());
                    assert_eq!(ha.escalate[0].after * SCALE, hb.escalate[0].after);
                }
                (StepKind::Agent(ab), StepKind::Agent(aa)) => {
                    assert_eq!(aa.review.due.map(|d| d * SCALE), ab.review.due);
                    assert_eq!(
                        aa.review.escalate[0].after * SCALE,
                        ab.review.escalate[0].after
                    );
                }
                _ => assert_eq!(sb.kind, sa.kind, "{}", sb.id),
            }
        }
        assert_eq!((after.name, after.version), (before.name, before.version));
    }

    #[test]
    fn every_demo_workflow_scales_to_a_valid_file() {
        for (name, source) in crate::demo::EMBEDDED_WORKFLOWS {
            let scaled = scale_source(source, SCALE).unwrap();
            let wf = parse(&scaled);
            assert!(
                wf.sla.is_some_and(|s| s.due <= Duration::from_secs(8 * 60)),
                "{name}"
            );
            assert!(scaled.starts_with("# tempi demo:"), "{name}");
        }
        let incident = parse(&scale_source(shipped("incident-response"), SCALE).unwrap());
        let waits: Vec<Option<Duration>> = incident
            .steps
            .iter()
            .filter_map(|s| match &s.kind {
                StepKind::Wait(WaitSpec::Signal { timeout, .. }) => Some(*timeout),
                _ => None,
            })
            .collect();
        assert_eq!(waits, [Some(Duration::from_secs(90))], "45m / 30");
    }

    #[test]
    fn quoted_and_flow_durations_are_found_and_others_left_alone() {
        let source = "name: q\nversion: 1\nsla: { due: \"2h\", escalate: [{ after: '1h', to: x }] }\n\
                      steps:\n  - id: a\n    kind: human\n    title: \"due 2h is in the title\"\n    due: 1h 30m\n";
        let out = scale_source(source, 60).unwrap();
        assert!(out.contains("due: \"2m\""), "{out}");
        assert!(out.contains("after: '1m'"), "{out}");
        assert!(out.contains("title: \"due 2h is in the title\""), "{out}");
        assert!(out.contains("due: 1m 30s"), "{out}");
    }

    #[test]
    fn scaling_never_reaches_zero() {
        assert_eq!(scaled(Duration::from_secs(10), 30), SHORTEST);
        assert_eq!(
            scaled(Duration::from_secs(3600), 0),
            Duration::from_secs(3600)
        );
    }
}
