//! The JSON Schema (draft 2020-12) of workflow files, generated from the key tables the
//! parser reads (`keys`), for editors and `tempi schema`.
//!
//! Only keywords that draft-07 tools understand too are used (`if`/`then`,
//! `additionalProperties`, `oneOf`, `$ref` into `$defs`): yaml-language-server, which
//! most editors use, knows draft 7 and ignores `unevaluatedProperties`.

use serde_json::{Map, Value, json};

use super::keys::{self, Key, Kinds, Rule, Section, Ty};

/// What the schema calls itself; an identifier, not a place it is fetched from.
pub const ID: &str = "https://tempi.dev/schema/workflow.json";

/// The schema of a workflow file.
pub fn workflow() -> Value {
    let mut defs = Map::new();
    let mut root = Map::new();
    root.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    root.insert("$id".into(), json!(ID));
    root.insert("title".into(), json!("tempi workflow"));
    if let Value::Object(body) = section(&keys::WORKFLOW, &mut defs) {
        root.extend(body);
    }
    root.insert("$defs".into(), Value::Object(defs));
    Value::Object(root)
}

/// A `$ref` to a definition.
fn reference(id: &str) -> Value {
    json!({ "$ref": format!("#/$defs/{id}") })
}

/// A mapping with exactly the keys of `s`.
fn section(s: &Section, defs: &mut Map<String, Value>) -> Value {
    let mut out = object(s.doc, s.keys, None, defs);
    out.insert("additionalProperties".into(), json!(false));
    add_rules(&mut out, s.rules);
    Value::Object(out)
}

/// `type: object` with the properties and required keys of `keys`; `kinds` names the
/// kinds a `kind:` among them may be.
fn object(
    doc: &str,
    keys: &[Key],
    kinds: Option<&Kinds>,
    defs: &mut Map<String, Value>,
) -> Map<String, Value> {
    let mut props = Map::new();
    for k in keys {
        props.insert(k.name.into(), property(k, kinds, defs));
    }
    let required: Vec<&str> = keys.iter().filter(|k| k.required).map(|k| k.name).collect();
    let mut out = Map::new();
    out.insert("description".into(), json!(doc));
    out.insert("type".into(), json!("object"));
    out.insert("properties".into(), Value::Object(props));
    if !required.is_empty() {
        out.insert("required".into(), json!(required));
    }
    out
}

fn property(k: &Key, kinds: Option<&Kinds>, defs: &mut Map<String, Value>) -> Value {
    let mut out = Map::new();
    out.insert("description".into(), json!(k.doc));
    if let Value::Object(ty) = ty(&k.ty, kinds, defs) {
        out.extend(ty);
    }
    Value::Object(out)
}

fn add_rules(out: &mut Map<String, Value>, rules: &[Rule]) {
    let mut all = Vec::new();
    for rule in rules {
        all.push(match rule {
            Rule::ExactlyOne(keys) => json!({
                "oneOf": keys.iter().map(|k| json!({ "required": [k] })).collect::<Vec<_>>()
            }),
            Rule::AtLeastOne(keys) => json!({
                "anyOf": keys.iter().map(|k| json!({ "required": [k] })).collect::<Vec<_>>()
            }),
            Rule::OnlyWhen { key, field, value } => json!({
                "if": { "properties": { *field: { "const": value } }, "required": [field] },
                "then": { "required": [key] },
                "else": { "not": { "required": [key] } }
            }),
        });
    }
    if !all.is_empty() {
        out.insert("allOf".into(), Value::Array(all));
    }
}

/// The schema of a value; `kinds` names the kinds of the mapping a `kind:` key is in.
fn ty(t: &Ty, kinds: Option<&Kinds>, defs: &mut Map<String, Value>) -> Value {
    match t {
        Ty::Text => json!({ "type": "string" }),
        Ty::Pattern { pattern, max } => {
            let mut v = json!({ "type": "string", "pattern": pattern });
            if let Some(max) = max {
                v["maxLength"] = json!(max);
            }
            v
        }
        Ty::Template { max, non_blank } => {
            // A number or boolean is read as its text, so it is a template too.
            let mut v = json!({ "type": ["string", "number", "boolean"] });
            if let Some(max) = max {
                v["maxLength"] = json!(max);
            }
            if *non_blank {
                v["pattern"] = json!("\\S");
            }
            v
        }
        Ty::Expression => json!({ "type": ["string", "number", "boolean"] }),
        Ty::Duration => json!({ "type": "string", "pattern": duration_pattern() }),
        Ty::Int { min, max } => json!({ "type": "integer", "minimum": min, "maximum": max }),
        Ty::Number { min, max } => json!({ "type": "number", "minimum": min, "maximum": max }),
        Ty::Bool => json!({ "type": "boolean" }),
        Ty::Choice {
            values,
            any_case: false,
        } => json!({ "type": "string", "enum": values }),
        Ty::Choice {
            values,
            any_case: true,
        } => json!({ "type": "string", "pattern": any_case(values) }),
        Ty::Kind => {
            json!({ "type": "string", "enum": kinds.map(Kinds::names).unwrap_or_default() })
        }
        Ty::Scalar => json!({ "type": ["string", "number", "boolean"] }),
        Ty::Json => json!({}),
        Ty::List {
            of,
            min,
            max,
            unique,
        } => {
            let mut v = json!({ "type": "array", "items": ty(of, None, defs) });
            if *min > 0 {
                v["minItems"] = json!(min);
            }
            if let Some(max) = max {
                v["maxItems"] = json!(max);
            }
            if *unique {
                v["uniqueItems"] = json!(true);
            }
            v
        }
        Ty::OneOrList(of) => {
            let one = ty(of, None, defs);
            json!({ "anyOf": [one.clone(), { "type": "array", "items": one, "uniqueItems": true }] })
        }
        Ty::TemplateMap => json!({
            "type": "object",
            "additionalProperties": ty(&Ty::Template { max: None, non_blank: false }, None, defs)
        }),
        Ty::Mapping(s) => {
            if !defs.contains_key(s.id) {
                let v = section(s, defs);
                defs.insert(s.id.into(), v);
            }
            reference(s.id)
        }
        Ty::ByKind(k) => {
            if !defs.contains_key(k.id) {
                let v = by_kind(k, defs);
                defs.insert(k.id.into(), v);
            }
            reference(k.id)
        }
        Ty::AnyOf(tys) => {
            json!({ "anyOf": tys.iter().map(|t| ty(t, None, defs)).collect::<Vec<_>>() })
        }
        Ty::Shown => {
            // Control characters and bidi overrides (`text::is_bidi_control`) nowhere,
            // spaces not at either end.
            let no = "\\u0000-\\u001f\\u007f-\\u009f\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069";
            json!({
                "type": "string",
                "pattern": format!("^[^\\s{no}]([^{no}]*[^\\s{no}])?$"),
                "maxLength": crate::types::form::MAX_LABEL
            })
        }
        Ty::ErrorKind => json!({ "type": "string", "pattern": error_kind_pattern() }),
        Ty::Time => json!({
            "type": "string",
            "anyOf": [
                { "pattern": "^\\s*[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})\\s*$" },
                { "pattern": "\\{\\{|\\{%" }
            ]
        }),
    }
}

/// A mapping whose `kind:` picks its keys: the common keys are described once, and one
/// `if kind == X then` branch per kind admits the common keys and X's, nothing else,
/// so an editor flags `methd:` in an http step.
fn by_kind(k: &Kinds, defs: &mut Map<String, Value>) -> Value {
    let mut out = object(k.doc, k.common, Some(k), defs);
    let mut branches = Vec::new();
    for (kind, s) in k.kinds {
        let id = format!("{}_{kind}", k.id);
        if !defs.contains_key(&id) {
            let v = kind_branch(k, s, defs);
            defs.insert(id.clone(), v);
        }
        branches.push(json!({
            "if": { "properties": { "kind": { "const": kind } }, "required": ["kind"] },
            "then": reference(&id)
        }));
    }
    out.insert("allOf".into(), Value::Array(branches));
    Value::Object(out)
}

/// The keys one kind adds; the common keys are admitted here and checked by the parent.
fn kind_branch(k: &Kinds, s: &Section, defs: &mut Map<String, Value>) -> Value {
    let mut out = object(s.doc, s.keys, None, defs);
    if let Some(Value::Object(props)) = out.get_mut("properties") {
        for c in k.common {
            props.insert(c.name.into(), json!(true));
        }
    }
    out.insert("additionalProperties".into(), json!(false));
    add_rules(&mut out, s.rules);
    Value::Object(out)
}

/// humantime's grammar: numbers (with a fraction) and units, spaces allowed between.
fn duration_pattern() -> String {
    const UNITS: &[&str] = &[
        "nanos", "nsec", "ns", "usec", "us", "µs", "millis", "msec", "ms", "seconds", "second",
        "secs", "sec", "s", "minutes", "minute", "mins", "min", "m", "hours", "hour", "hrs", "hr",
        "h", "days", "day", "d", "weeks", "week", "wks", "wk", "w", "months", "month", "M",
        "years", "year", "yrs", "yr", "y",
    ];
    format!("^\\s*([0-9]+(\\.[0-9]*)?\\s*({})\\s*)+$", UNITS.join("|"))
}

/// `kind`, `status:CODE` or `exit:CODE`, as `retry.non_retryable` takes them.
fn error_kind_pattern() -> String {
    format!(
        "^\\s*({})\\s*$|^\\s*status\\s*:\\s*\\+?[1-5][0-9]{{2}}\\s*$|^\\s*exit\\s*:\\s*[+-]?[0-9]+\\s*$",
        keys::ERROR_KINDS.join("|")
    )
}

/// A pattern matching any of `values` in any letter case (JSON Schema's regexes have no
/// case-insensitive flag).
fn any_case(values: &[&str]) -> String {
    let alternatives: Vec<String> = values
        .iter()
        .map(|v| {
            v.chars()
                .map(|c| {
                    let (lo, up) = (c.to_ascii_lowercase(), c.to_ascii_uppercase());
                    if lo == up {
                        c.to_string()
                    } else {
                        format!("[{up}{lo}]")
                    }
                })
                .collect()
        })
        .collect();
    format!("^({})$", alternatives.join("|"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` names a definition, and every property says what it is for.
    fn walk(v: &Value, defs: &Map<String, Value>, at: &str, refs: &mut usize) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    let id = r.strip_prefix("#/$defs/").unwrap_or(r);
                    assert!(defs.contains_key(id), "{at}: $ref {r} names nothing");
                    *refs += 1;
                }
                if let Some(Value::Object(props)) = m.get("properties") {
                    for (name, p) in props {
                        let documented = p == &json!(true)
                            || p["description"].as_str().is_some_and(|d| d.len() > 10);
                        assert!(documented, "{at}.{name} has no description: {p}");
                    }
                }
                // An `if` only tests a `kind:`; it is not where keys are described.
                for (k, child) in m.iter().filter(|(k, _)| *k != "if") {
                    walk(child, defs, &format!("{at}/{k}"), refs);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, defs, at, refs)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves_and_every_key_is_documented() {
        let schema = workflow();
        let defs = schema["$defs"].as_object().expect("$defs").clone();
        let mut refs = 0;
        walk(&schema, &defs, "#", &mut refs);
        assert!(refs >= 15, "{refs} references");
        for kind in keys::STEP.names() {
            let branch = &defs[&format!("step_{kind}")];
            assert_eq!(branch["additionalProperties"], false, "{kind}");
            for common in keys::STEP.common_names() {
                assert!(
                    branch["properties"].get(common).is_some(),
                    "{kind}: {common}"
                );
            }
        }
    }

    #[test]
    fn any_case_spells_every_letter_both_ways() {
        assert_eq!(any_case(&["GET", "a-b"]), "^([Gg][Ee][Tt]|[Aa]-[Bb])$");
    }
}
