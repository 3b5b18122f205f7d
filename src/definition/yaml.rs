//! The YAML layer of the validator: a tree with source positions (saphyr), a collector of
//! diagnostics, and typed accessors that report a problem instead of failing.

use std::time::Duration;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use serde_json::Value;

use super::parse::Diagnostic;
use super::template::check_template;
use super::validate::closest;

/// A node of the loaded document.
pub(crate) type Node<'i> = MarkedYaml<'i>;

/// Deeper JSON than this inside `json:` or `output:` is refused rather than walked.
const MAX_DEPTH: usize = 64;

/// Load the single document of `source`. `Ok(None)` means the file holds no document.
pub(crate) fn load<'i>(ctx: &mut Ctx, source: &'i str) -> Option<Node<'i>> {
    let source = match super::source::check(source) {
        Ok(text) => text,
        Err(refused) => {
            ctx.at_pos(refused.line, refused.col, refused.message);
            return None;
        }
    };
    match MarkedYaml::load_from_str(source) {
        Ok(mut docs) => {
            if let Some(extra) = docs.get(1) {
                ctx.at(extra, "only one YAML document per file is allowed");
            }
            if docs.is_empty() {
                ctx.at_pos(1, 1, "the file is empty; expected a workflow mapping");
                return None;
            }
            Some(docs.swap_remove(0))
        }
        Err(e) => {
            let m = e.marker();
            ctx.at_pos(
                m.line().max(1),
                m.col() + 1,
                format!("YAML syntax error: {}", e.info()),
            );
            None
        }
    }
}

/// Collects diagnostics for one file.
pub(crate) struct Ctx {
    pub file: String,
    pub diags: Vec<Diagnostic>,
}

impl Ctx {
    pub fn new(file: &str) -> Self {
        Ctx {
            file: file.to_string(),
            diags: Vec::new(),
        }
    }

    pub fn at(&mut self, node: &Node, message: impl Into<String>) {
        let (line, col) = pos(node);
        self.at_pos(line, col, message);
    }

    pub fn at_pos(&mut self, line: usize, col: usize, message: impl Into<String>) {
        self.diags.push(Diagnostic {
            file: self.file.clone(),
            line,
            col,
            message: message.into(),
        });
    }

    /// Diagnostics in source order, without repeats.
    pub fn finish(mut self) -> Vec<Diagnostic> {
        self.diags.sort_by_key(|a| (a.line, a.col));
        self.diags.dedup();
        self.diags
    }
}

/// 1-based line and column of a node's start.
pub(crate) fn pos(node: &Node) -> (usize, usize) {
    let m = node.span.start;
    (m.line().max(1), m.col() + 1)
}

/// The scalar under a node, looking through tags.
pub(crate) fn scalar<'a, 'i>(node: &'a Node<'i>) -> Option<&'a Scalar<'i>> {
    match &node.data {
        YamlData::Value(s) => Some(s),
        YamlData::Tagged(_, inner) => scalar(inner),
        _ => None,
    }
}

/// What a node is, for "expected X, found Y" messages.
pub(crate) fn describe(node: &Node) -> &'static str {
    match &node.data {
        YamlData::Value(Scalar::Null) => "nothing (null)",
        YamlData::Value(Scalar::Boolean(_)) => "a boolean",
        YamlData::Value(Scalar::Integer(_)) => "an integer",
        YamlData::Value(Scalar::FloatingPoint(_)) => "a number",
        YamlData::Value(Scalar::String(_)) | YamlData::Representation(..) => "a string",
        YamlData::Sequence(_) => "a list",
        YamlData::Mapping(_) => "a mapping",
        YamlData::Tagged(_, inner) => describe(inner),
        YamlData::Alias(_) => "an alias",
        YamlData::BadValue => "an invalid value",
    }
}

/// The entries of a mapping; keys read with `get` are marked, the rest are unknown.
pub(crate) struct Map<'a, 'i> {
    pub node: &'a Node<'i>,
    entries: Vec<(String, &'a Node<'i>, &'a Node<'i>, bool)>,
}

impl<'a, 'i> Map<'a, 'i> {
    /// Read `node` as a mapping with string keys; `what` names it in the error.
    pub fn new(ctx: &mut Ctx, node: &'a Node<'i>, what: &str) -> Option<Self> {
        if let YamlData::Tagged(_, inner) = &node.data {
            return Self::new(ctx, inner, what);
        }
        let YamlData::Mapping(m) = &node.data else {
            ctx.at(
                node,
                format!("{what} must be a mapping, found {}", describe(node)),
            );
            return None;
        };
        let mut entries = Vec::with_capacity(m.len());
        for (k, v) in m {
            match scalar(k) {
                Some(Scalar::String(s)) => entries.push((s.to_string(), k, v, false)),
                Some(Scalar::Integer(i)) => entries.push((i.to_string(), k, v, false)),
                _ => ctx.at(
                    k,
                    format!("keys in {what} must be strings, found {}", describe(k)),
                ),
            }
        }
        Some(Map { node, entries })
    }

    /// The value under `key`, marking it as known.
    pub fn get(&mut self, key: &str) -> Option<&'a Node<'i>> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The key node and value under `key`, marking it as known.
    pub fn entry(&mut self, key: &str) -> Option<(&'a Node<'i>, &'a Node<'i>)> {
        let e = self.entries.iter_mut().find(|e| e.0 == key)?;
        e.3 = true;
        Some((e.1, e.2))
    }

    /// The value under a required key; reports it missing at the mapping.
    pub fn required(&mut self, ctx: &mut Ctx, key: &str, what: &str) -> Option<&'a Node<'i>> {
        let v = self.get(key);
        if v.is_none() {
            ctx.at(self.node, format!("{what} is missing required key `{key}`"));
        }
        v
    }

    /// All entries, marking them known (for free-form maps such as headers).
    pub fn all(&mut self) -> Vec<(String, &'a Node<'i>, &'a Node<'i>)> {
        self.entries
            .iter_mut()
            .map(|e| {
                e.3 = true;
                (e.0.clone(), e.1, e.2)
            })
            .collect()
    }

    /// Report every key not read and not `known`; `explain` may say where it belongs,
    /// otherwise the closest of `known` is suggested.
    pub fn finish(
        self,
        ctx: &mut Ctx,
        what: &str,
        known: &[&str],
        explain: impl Fn(&str) -> Option<String>,
    ) {
        // Every key the parser reads must be one it declares (in `keys`), or the schema
        // generated from the declarations would refuse what the parser takes.
        debug_assert!(
            self.entries
                .iter()
                .all(|e| !e.3 || known.contains(&e.0.as_str())),
            "{what}: a key was read that is not declared in definition::keys"
        );
        for (key, k, _, used) in self.entries {
            // A known key left unread belongs to a part that was invalid (e.g. its kind).
            if used || known.contains(&key.as_str()) {
                continue;
            }
            let msg = match explain(&key) {
                Some(why) => format!("`{key}` is not allowed in {what}: {why}"),
                None => match closest(&key, known.iter().copied()) {
                    Some(s) => format!("unknown key `{key}` in {what} (did you mean `{s}`?)"),
                    None => format!(
                        "unknown key `{key}` in {what} (expected one of: {})",
                        known.join(", ")
                    ),
                },
            };
            ctx.at(k, msg);
        }
    }
}

/// A string value.
pub(crate) fn string(ctx: &mut Ctx, node: &Node, what: &str) -> Option<String> {
    match scalar(node) {
        Some(Scalar::String(s)) => Some(s.to_string()),
        _ => {
            ctx.at(
                node,
                format!("{what} must be a string, found {}", describe(node)),
            );
            None
        }
    }
}

/// A scalar read as text (argv elements, header and env values may be numbers).
pub(crate) fn text(ctx: &mut Ctx, node: &Node, what: &str) -> Option<String> {
    match scalar(node) {
        Some(Scalar::String(s)) => Some(s.to_string()),
        Some(Scalar::Integer(i)) => Some(i.to_string()),
        Some(Scalar::FloatingPoint(f)) => Some(f.to_string()),
        Some(Scalar::Boolean(b)) => Some(b.to_string()),
        _ => {
            ctx.at(
                node,
                format!("{what} must be a string, found {}", describe(node)),
            );
            None
        }
    }
}

/// A template string: read as text and compiled; `refs` gets every template read here.
pub(crate) fn template(ctx: &mut Ctx, node: &Node, what: &str, refs: &mut Refs) -> Option<String> {
    let s = text(ctx, node, what)?;
    check_template_at(ctx, node, &s, what, refs);
    Some(s)
}

/// Compile a template found at `node` and remember where it was.
pub(crate) fn check_template_at(ctx: &mut Ctx, node: &Node, s: &str, what: &str, refs: &mut Refs) {
    if let Err(e) = check_template(s) {
        ctx.at(node, format!("invalid template in {what}: {e}"));
    }
    refs.push(node, s);
}

/// The template texts of one step, with positions, for the `steps.<id>` checks.
#[derive(Default)]
pub(crate) struct Refs {
    pub texts: Vec<(String, usize, usize)>,
}

impl Refs {
    pub fn push(&mut self, node: &Node, s: &str) {
        if s.contains("steps") {
            let (line, col) = pos(node);
            self.texts.push((s.to_string(), line, col));
        }
    }
}

/// An integer value.
pub(crate) fn int(ctx: &mut Ctx, node: &Node, what: &str) -> Option<i64> {
    match scalar(node) {
        Some(Scalar::Integer(i)) => Some(*i),
        _ => {
            ctx.at(
                node,
                format!("{what} must be an integer, found {}", describe(node)),
            );
            None
        }
    }
}

pub(crate) fn boolean(ctx: &mut Ctx, node: &Node, what: &str) -> Option<bool> {
    match scalar(node) {
        Some(Scalar::Boolean(b)) => Some(*b),
        _ => {
            ctx.at(
                node,
                format!("{what} must be true or false, found {}", describe(node)),
            );
            None
        }
    }
}

/// An integer within a range.
pub(crate) fn int_in(
    ctx: &mut Ctx,
    node: &Node,
    what: &str,
    range: std::ops::RangeInclusive<i64>,
) -> Option<i64> {
    let i = int(ctx, node, what)?;
    if range.contains(&i) {
        Some(i)
    } else {
        ctx.at(
            node,
            format!(
                "{what} must be between {} and {}, found {i}",
                range.start(),
                range.end()
            ),
        );
        None
    }
}

/// A number (integer or float) within a range.
pub(crate) fn number_in(
    ctx: &mut Ctx,
    node: &Node,
    what: &str,
    range: std::ops::RangeInclusive<f64>,
) -> Option<f64> {
    let n = match scalar(node) {
        Some(Scalar::Integer(i)) => *i as f64,
        Some(Scalar::FloatingPoint(f)) => f.into_inner(),
        _ => {
            ctx.at(
                node,
                format!("{what} must be a number, found {}", describe(node)),
            );
            return None;
        }
    };
    if range.contains(&n) {
        Some(n)
    } else {
        ctx.at(
            node,
            format!(
                "{what} must be between {} and {}, found {n}",
                range.start(),
                range.end()
            ),
        );
        None
    }
}

/// The longest duration a workflow may name (a timeout, deadline, SLA, delay...):
/// every instant computed from one stays far inside what the clock can represent.
pub const MAX_DURATION: Duration = Duration::from_secs(3650 * 24 * 3600);

/// A duration such as `30s`, `2h`, `1d` or `1h 30m`.
pub(crate) fn duration(ctx: &mut Ctx, node: &Node, what: &str) -> Option<Duration> {
    let s = match scalar(node) {
        Some(Scalar::String(s)) => s.to_string(),
        Some(Scalar::Integer(i)) => {
            ctx.at(
                node,
                format!("{what} must be a duration with a unit, like `{i}s` or `{i}m`"),
            );
            return None;
        }
        _ => {
            ctx.at(
                node,
                format!(
                    "{what} must be a duration like `30s`, `2h` or `1h 30m`, found {}",
                    describe(node)
                ),
            );
            return None;
        }
    };
    match humantime::parse_duration(s.trim()) {
        Ok(d) if d > MAX_DURATION => {
            ctx.at(
                node,
                format!("{what}: `{s}` is longer than the limit of 10 years (3650d)"),
            );
            None
        }
        Ok(d) => Some(d),
        Err(e) => {
            ctx.at(
                node,
                format!("{what}: invalid duration `{s}` ({e}); use e.g. `30s`, `2h`, `1h 30m`"),
            );
            None
        }
    }
}

/// The items of a list.
pub(crate) fn list<'a, 'i>(
    ctx: &mut Ctx,
    node: &'a Node<'i>,
    what: &str,
) -> Option<&'a [Node<'i>]> {
    match &node.data {
        YamlData::Sequence(v) => Some(v),
        YamlData::Tagged(_, inner) => list(ctx, inner, what),
        _ => {
            ctx.at(
                node,
                format!("{what} must be a list, found {}", describe(node)),
            );
            None
        }
    }
}

/// Any YAML value as JSON; string leaves are checked as templates.
pub(crate) fn json(ctx: &mut Ctx, node: &Node, what: &str, refs: &mut Refs) -> Option<Value> {
    json_at(ctx, node, what, refs, 0)
}

fn json_at(ctx: &mut Ctx, node: &Node, what: &str, refs: &mut Refs, depth: usize) -> Option<Value> {
    if depth > MAX_DEPTH {
        ctx.at(
            node,
            format!("{what} is nested deeper than {MAX_DEPTH} levels"),
        );
        return None;
    }
    match &node.data {
        YamlData::Value(s) => scalar_json(ctx, node, s, what, refs),
        YamlData::Tagged(_, inner) => json_at(ctx, inner, what, refs, depth + 1),
        YamlData::Sequence(items) => {
            let mut out = Vec::with_capacity(items.len());
            let mut ok = true;
            for item in items {
                match json_at(ctx, item, what, refs, depth + 1) {
                    Some(v) => out.push(v),
                    None => ok = false,
                }
            }
            ok.then_some(Value::Array(out))
        }
        YamlData::Mapping(m) => {
            let mut out = serde_json::Map::new();
            let mut ok = true;
            for (k, v) in m {
                let key = match scalar(k) {
                    Some(Scalar::String(s)) => s.to_string(),
                    Some(Scalar::Integer(i)) => i.to_string(),
                    Some(Scalar::Boolean(b)) => b.to_string(),
                    _ => {
                        ctx.at(
                            k,
                            format!("keys in {what} must be strings, found {}", describe(k)),
                        );
                        ok = false;
                        continue;
                    }
                };
                match json_at(ctx, v, what, refs, depth + 1) {
                    Some(v) => {
                        out.insert(key, v);
                    }
                    None => ok = false,
                }
            }
            ok.then_some(Value::Object(out))
        }
        YamlData::Representation(..) | YamlData::Alias(_) | YamlData::BadValue => {
            ctx.at(node, format!("{what} holds a value that cannot be read"));
            None
        }
    }
}

fn scalar_json(
    ctx: &mut Ctx,
    node: &Node,
    s: &Scalar,
    what: &str,
    refs: &mut Refs,
) -> Option<Value> {
    Some(match s {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::from(*i),
        Scalar::FloatingPoint(f) => match serde_json::Number::from_f64(f.into_inner()) {
            Some(n) => Value::Number(n),
            None => {
                ctx.at(
                    node,
                    format!("{what}: {} is not a JSON number", f.into_inner()),
                );
                return None;
            }
        },
        Scalar::String(t) => {
            check_template_at(ctx, node, t, what, refs);
            Value::String(t.to_string())
        }
    })
}
