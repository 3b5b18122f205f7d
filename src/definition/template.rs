//! `{{ }}` templates and `when:` expressions (minijinja), shared by the validator,
//! which compiles them, and the engine, which renders them against an item's scope.
//!
//! The scope is `{ input, steps: { <id>: { status, output, decision, comment } }, item, env }`.
//! Rendering is strict (a missing value is an error); `when:` is lenient (missing is false).

use std::sync::OnceLock;

use minijinja::{Environment, ErrorKind, UndefinedBehavior};
use serde_json::Value;

use super::template_limits::{Kind, Names, scan};

/// Instructions one render may run: far more than any workflow template needs, few
/// enough that a runaway loop stops within milliseconds.
pub const FUEL: u64 = 50_000;
/// Text one render may produce (all the string leaves of one value together).
pub const MAX_RENDERED_BYTES: usize = 1024 * 1024;

fn configure(behavior: UndefinedBehavior) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(behavior);
    env.set_fuel(Some(FUEL));
    env.set_recursion_limit(32);
    env.remove_global("namespace");
    env.remove_global("debug");
    guard_sizes(&mut env);
    env
}

/// The largest count `slice` and `batch` may be given (what `range` allows) and the
/// widest `tojson` indent. minijinja reserves memory for these numbers up front, and an
/// allocation the system refuses aborts the whole daemon: no panic for the guard to catch.
const MAX_COUNT: u64 = 100_000;
const MAX_JSON_INDENT: u64 = 16;

/// Wrap the builtin filters whose numeric argument sizes an allocation, refusing a
/// number that would ask for more than a render may produce.
fn guard_sizes(env: &mut Environment<'static>) {
    use minijinja::{Value as V, filters as f};
    type Check = fn(&[V]) -> Result<(), String>;
    let guarded: [(&'static str, V, Check); 4] = [
        ("slice", V::from_function(f::slice), |args| {
            at_most(&args[1..], MAX_COUNT, "the count")
        }),
        ("batch", V::from_function(f::batch), |args| {
            at_most(&args[1..], MAX_COUNT, "the count")
        }),
        ("tojson", V::from_function(f::tojson), |args| {
            at_most(&args[1..], MAX_JSON_INDENT, "the indent")
        }),
        ("indent", V::from_function(f::indent), indent_fits),
    ];
    for (name, original, check) in guarded {
        env.add_filter(
            name,
            move |state: &minijinja::State, args: minijinja::value::Rest<V>| {
                check(&args).map_err(|msg| {
                    minijinja::Error::new(ErrorKind::InvalidOperation, format!("{name}: {msg}"))
                })?;
                original.call(state, &args)
            },
        );
    }
}

/// The numbers among `args`, keyword arguments included.
fn numbers(args: &[minijinja::Value]) -> Vec<f64> {
    let mut out = Vec::new();
    for arg in args {
        if arg.kind() == minijinja::value::ValueKind::Map {
            let keys = arg.try_iter().into_iter().flatten();
            out.extend(
                keys.filter_map(|k| arg.get_item(&k).ok())
                    .filter_map(number),
            );
        } else {
            out.extend(number(arg.clone()));
        }
    }
    out
}

fn number(v: minijinja::Value) -> Option<f64> {
    v.is_number().then(|| f64::try_from(v).ok()).flatten()
}

fn at_most(args: &[minijinja::Value], max: u64, what: &str) -> Result<(), String> {
    match numbers(args).into_iter().find(|n| *n > max as f64) {
        Some(n) => Err(format!("{what} {n} is larger than {max}")),
        None => Ok(()),
    }
}

/// `indent` writes its width once per line: the lines times the width must fit a render.
fn indent_fits(args: &[minijinja::Value]) -> Result<(), String> {
    let lines = args
        .first()
        .and_then(|v| v.as_str())
        .map_or(1, |s| s.matches('\n').count() + 1);
    let width = numbers(&args[1..]).into_iter().fold(0.0, f64::max);
    if width * lines as f64 > MAX_RENDERED_BYTES as f64 {
        return Err(format!(
            "a width of {width} on {lines} lines exceeds {} KiB, the limit of one render",
            MAX_RENDERED_BYTES / 1024
        ));
    }
    Ok(())
}

fn strict() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| configure(UndefinedBehavior::Strict))
}

fn lenient() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| configure(UndefinedBehavior::Chainable))
}

/// Whether a string holds template syntax at all (plain strings skip the engine).
pub fn is_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

/// The inner expression when the whole string is exactly one `{{ expr }}`.
fn sole_expression(s: &str) -> Option<&str> {
    let t = s.trim();
    let inner = t.strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then_some(inner.trim())
}

/// Check a template's limits and names and compile it; the error says what is wrong.
pub fn check_template(src: &str) -> Result<(), String> {
    if !is_template(src) {
        return Ok(());
    }
    known_names(&scan(src, Kind::Template)?)?;
    strict()
        .template_from_str(src)
        .map(|_| ())
        .map_err(|e| describe(&e))
}

/// Check and compile a `when:` expression.
pub fn check_expression(src: &str) -> Result<(), String> {
    known_names(&scan(src, Kind::Expression)?)?;
    lenient()
        .compile_expression(src)
        .map(|_| ())
        .map_err(|e| describe(&e))
}

/// Every filter and test a text names must exist (minijinja itself would only notice
/// when the text is rendered, on some item, at some step).
fn known_names(names: &Names) -> Result<(), String> {
    let fails_with = |probe: String, kind: ErrorKind| {
        strict()
            .render_str(&probe, ())
            .is_err_and(|e| e.kind() == kind)
    };
    for name in &names.filters {
        if fails_with(format!("{{{{ none | {name} }}}}"), ErrorKind::UnknownFilter) {
            return Err(format!("unknown filter `{name}`"));
        }
    }
    for name in &names.tests {
        if fails_with(format!("{{{{ none is {name} }}}}"), ErrorKind::UnknownTest) {
            return Err(format!("unknown test `{name}`"));
        }
    }
    Ok(())
}

/// Output that stops at a byte limit.
struct Capped {
    text: Vec<u8>,
    room: usize,
    over: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.len() > self.room {
            self.over = true;
            return Err(std::io::Error::other("rendered text too large"));
        }
        self.room -= buf.len();
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn too_large() -> String {
    format!(
        "the rendered value exceeds {} KiB, the limit of one render",
        MAX_RENDERED_BYTES / 1024
    )
}

/// Render a string template to text.
pub fn render_string(src: &str, scope: &Value) -> Result<String, String> {
    let mut room = MAX_RENDERED_BYTES;
    render_capped(src, scope, &mut room)
}

fn render_capped(src: &str, scope: &Value, room: &mut usize) -> Result<String, String> {
    if !is_template(src) {
        *room = room.checked_sub(src.len()).ok_or_else(too_large)?;
        return Ok(src.to_string());
    }
    scan(src, Kind::Template)?;
    let template = strict()
        .template_from_str(src)
        .map_err(|e| format!("`{}`: {}", clip(src), describe(&e)))?;
    let mut out = Capped {
        text: Vec::new(),
        room: *room,
        over: false,
    };
    match template.render_captured_to(scope, &mut out) {
        Ok(_) => {}
        Err(_) if out.over => return Err(format!("`{}`: {}", clip(src), too_large())),
        Err(e) => {
            return Err(unpassed_env(src, scope)
                .unwrap_or_else(|| format!("`{}`: {}", clip(src), describe(&e))));
        }
    }
    *room = out.room;
    String::from_utf8(out.text).map_err(|e| e.to_string())
}

/// A template quoted in a message: its first 200 characters.
pub fn clip(src: &str) -> String {
    match src.char_indices().nth(200) {
        Some((at, _)) => format!("{}…", &src[..at]),
        None => src.to_string(),
    }
}

/// Render every string leaf of a JSON value. A leaf that is exactly one `{{ expr }}`
/// becomes the JSON value of `expr` (an object stays an object); others become text.
/// All leaves together may produce at most `MAX_RENDERED_BYTES`.
pub fn render_value(v: &Value, scope: &Value) -> Result<Value, String> {
    let mut room = MAX_RENDERED_BYTES;
    render_leaves(v, scope, &mut room)
}

fn render_leaves(v: &Value, scope: &Value, room: &mut usize) -> Result<Value, String> {
    match v {
        Value::String(s) if is_template(s) => match sole_expression(s) {
            Some(expr) => eval_value(expr, scope, room),
            None => render_capped(s, scope, room).map(Value::String),
        },
        Value::Array(a) => a.iter().map(|x| render_leaves(x, scope, room)).collect(),
        Value::Object(o) => o
            .iter()
            .map(|(k, x)| Ok((k.clone(), render_leaves(x, scope, room)?)))
            .collect::<Result<serde_json::Map<_, _>, String>>()
            .map(Value::Object),
        other => Ok(other.clone()),
    }
}

fn eval_value(expr: &str, scope: &Value, room: &mut usize) -> Result<Value, String> {
    scan(expr, Kind::Expression)?;
    let compiled = strict()
        .compile_expression(expr)
        .map_err(|e| describe(&e))?;
    let out = compiled.eval(scope).map_err(|e| {
        unpassed_env(expr, scope)
            .unwrap_or_else(|| format!("`{{{{ {} }}}}`: {}", clip(expr), describe(&e)))
    })?;
    if out.is_undefined() {
        return Err(unpassed_env(expr, scope)
            .unwrap_or_else(|| format!("`{{{{ {} }}}}` is undefined", clip(expr))));
    }
    // Measure before building: the JSON text of the value, stopping at the room left.
    let mut sized = Capped {
        text: Vec::new(),
        room: *room,
        over: false,
    };
    if serde_json::to_writer(&mut sized, &out).is_err() && sized.over {
        return Err(format!("`{{{{ {} }}}}`: {}", clip(expr), too_large()));
    }
    *room = sized.room;
    serde_json::from_slice(&sized.text).map_err(|e| e.to_string())
}

/// Evaluate a `when:` expression; undefined values count as false.
pub fn eval_when(expr: &str, scope: &Value) -> Result<bool, String> {
    scan(expr, Kind::Expression)?;
    let compiled = lenient()
        .compile_expression(expr)
        .map_err(|e| describe(&e))?;
    compiled
        .eval(scope)
        .map(|v| v.is_true())
        .map_err(|e| describe(&e))
}

/// When `src` reads `env.NAME` (or `env["NAME"]`) and the scope's `env` has no NAME:
/// the message that says how to pass it. The daemon's environment is private unless
/// passed, so "undefined" alone would send the author looking in the wrong place.
fn unpassed_env(src: &str, scope: &Value) -> Option<String> {
    let env = scope.get("env")?.as_object()?;
    let name = env_names(src).find(|n| !env.contains_key(*n))?;
    Some(format!(
        "env.{name} is not passed to workflows: start serve with --pass-env {name} \
         or add it to pass_env in the data dir's config.toml"
    ))
}

/// The names a template reads from `env`, as `env.NAME`, `env["NAME"]` or `env['NAME']`.
pub fn env_names(src: &str) -> impl Iterator<Item = &str> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    src.match_indices("env").filter_map(move |(at, _)| {
        if src[..at]
            .chars()
            .next_back()
            .is_some_and(|c| ident(c) || c == '.')
        {
            return None;
        }
        let rest = &src[at + 3..];
        let (name, _) = if let Some(r) = rest.strip_prefix('.') {
            r.split_at(r.find(|c: char| !ident(c)).unwrap_or(r.len()))
        } else {
            let r = rest.strip_prefix('[')?.trim_start();
            let quote = r.chars().next().filter(|q| *q == '"' || *q == '\'')?;
            let r = &r[1..];
            r.split_at(r.find(quote)?)
        };
        (!name.is_empty()).then_some(name)
    })
}

fn describe(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scope() -> Value {
        json!({
            "input": { "doc": "inv-1.pdf", "amount": 120 },
            "steps": { "extract": { "status": "succeeded", "output": { "po": "PO-9", "lines": [1, 2] } } }
        })
    }

    #[test]
    fn sole_expression_keeps_json_type() {
        let v = render_value(&json!({ "x": "{{ steps.extract.output }}" }), &scope()).unwrap();
        assert_eq!(v, json!({ "x": { "po": "PO-9", "lines": [1, 2] } }));
        let n = render_value(&json!("{{ input.amount }}"), &scope()).unwrap();
        assert_eq!(n, json!(120));
    }

    #[test]
    fn mixed_text_renders_to_string() {
        let v = render_value(&json!("po={{ steps.extract.output.po }}!"), &scope()).unwrap();
        assert_eq!(v, json!("po=PO-9!"));
    }

    #[test]
    fn missing_value_is_an_error_when_rendering() {
        let e = render_string("{{ steps.nope.output.id }}", &scope()).unwrap_err();
        assert!(e.contains("undefined"), "{e}");
    }

    #[test]
    fn when_treats_missing_as_false() {
        assert!(!eval_when("steps.approve.decision == 'approved'", &scope()).unwrap());
        assert!(eval_when("input.amount > 100", &scope()).unwrap());
    }

    #[test]
    fn an_env_variable_not_passed_names_the_flag() {
        let scope = json!({ "env": { "OCR_URL": "http://ocr" } });
        assert_eq!(
            render_string("{{ env.OCR_URL }}/x", &scope).unwrap(),
            "http://ocr/x"
        );
        let want = "env.BANK_URL is not passed to workflows: start serve with --pass-env \
                    BANK_URL or add it to pass_env in the data dir's config.toml";
        for src in [
            "{{ env.BANK_URL }}/pay",
            "{{ env.OCR_URL }}{{ env['BANK_URL'] }}",
        ] {
            assert_eq!(render_string(src, &scope).unwrap_err(), want, "{src}");
        }
        let v = render_value(&json!("{{ env.BANK_URL }}"), &scope).unwrap_err();
        assert_eq!(v, want);
        // Something else undefined keeps its own message.
        let e = render_string("{{ myenv.X }}{{ input.nope }}", &scope).unwrap_err();
        assert!(e.contains("undefined"), "{e}");
    }

    #[test]
    fn size_arguments_that_would_abort_the_daemon_are_refused() {
        // Each of these asked the allocator for 100 GB or more in one call; a refused
        // allocation aborts the process, which no panic guard can catch.
        for (src, want) in [
            ("{{ [1] | slice(100000000000) }}", "slice: the count"),
            ("{{ [1] | batch(100000000000) }}", "batch: the count"),
            ("{{ 'a\\nb' | indent(100000000000) }}", "indent: a width of"),
            (
                "{{ 'a' | indent(width=100000000000) }}",
                "indent: a width of",
            ),
            (
                "{{ [1] | tojson(indent=100000000000) }}",
                "tojson: the indent",
            ),
        ] {
            let e = render_string(src, &scope()).unwrap_err();
            assert!(e.contains(want), "{src}: {e}");
        }
        // Ordinary sizes still work, positional and keyword.
        let ok = "{{ [1, 2, 3] | slice(2) | list | length }} {{ [1, 2, 3] | batch(2) | list | length }} \
                  {{ 'a\\nb' | indent(2) }} {{ 'a' | indent(width=2, first=true) }}|{{ [1] | tojson(indent=2) }}";
        assert_eq!(
            render_string(ok, &scope()).unwrap(),
            "2 2 a\n  b   a|[\n  1\n]"
        );
    }

    #[test]
    fn syntax_errors_are_reported() {
        assert!(check_template("{{ input.doc ").is_err());
        assert!(check_expression("input.amount >").is_err());
        assert!(check_template("plain text").is_ok());
    }
}
