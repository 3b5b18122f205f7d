//! A human step's `form:`: the typed fields its decision fills in, read and checked
//! against the limits of `types::form` with the position of every problem.

use saphyr::Scalar;
use serde_json::Value;

use super::yaml::{self, Ctx, Map, Node, describe, scalar};
use crate::types::form::{
    FieldType, FormField, MAX_CHOICES, MAX_FIELDS, MAX_LABEL, MAX_NAME, MAX_TEXT,
};

/// The fields of `form:`, or None when any is wrong (each problem reported).
pub(crate) fn form(ctx: &mut Ctx, node: &Node) -> Option<Vec<FormField>> {
    let items = yaml::list(ctx, node, "`form`")?;
    if items.is_empty() {
        ctx.at(node, "`form` must list at least one field");
        return None;
    }
    if items.len() > MAX_FIELDS {
        ctx.at(
            node,
            format!(
                "`form` has {} fields; the limit is {MAX_FIELDS}",
                items.len()
            ),
        );
        return None;
    }
    let mut out: Vec<FormField> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut ok = true;
    for item in items {
        // A repeated name is reported even when a field is wrong in other ways.
        if let Some(name) = written_name(item) {
            if names.contains(&name) {
                ctx.at(item, format!("field '{name}' is listed twice"));
                ok = false;
            }
            names.push(name);
        }
        match field(ctx, item) {
            Some(f) => out.push(f),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// The `name:` a field mapping gives, if it is text.
fn written_name(node: &Node) -> Option<String> {
    let saphyr::YamlData::Mapping(m) = &node.data else {
        return None;
    };
    m.iter().find_map(|(k, v)| match (scalar(k), scalar(v)) {
        (Some(Scalar::String(k)), Some(Scalar::String(v))) if k == "name" => Some(v.to_string()),
        _ => None,
    })
}

fn field(ctx: &mut Ctx, node: &Node) -> Option<FormField> {
    let what = "a form field";
    let mut m = Map::new(ctx, node, what)?;
    let name = m
        .required(ctx, "name", what)
        .and_then(|n| field_name(ctx, n));
    let kind = m.required(ctx, "type", what).and_then(|t| {
        let s = yaml::string(ctx, t, "`type`")?;
        let kind = FieldType::parse(&s);
        if kind.is_none() {
            let names: Vec<&str> = FieldType::ALL.iter().map(|t| t.name()).collect();
            ctx.at(
                t,
                format!(
                    "unknown field type '{s}' (expected one of: {})",
                    names.join(", ")
                ),
            );
        }
        kind
    });
    let label = m.get("label").map(|l| shown_text(ctx, l, "`label`"));
    let required = m
        .get("required")
        .map(|r| yaml::boolean(ctx, r, "`required`"));
    let options = m.entry("options").map(|(k, o)| (k, choices(ctx, o)));
    let default = m.get("default");
    m.finish(ctx, what, &super::keys::FIELD.names(), |_| None);
    if matches!(label, Some(None)) || matches!(required, Some(None)) {
        return None;
    }
    let kind = kind?;
    let options = match (kind, options) {
        (FieldType::Enum, Some((_, o))) => o?,
        (FieldType::Enum, None) => {
            ctx.at(
                node,
                "an enum field needs `options`, the values it may take",
            );
            return None;
        }
        (_, Some((k, _))) => {
            ctx.at(k, "`options` belongs to enum fields only");
            return None;
        }
        (_, None) => Vec::new(),
    };
    let mut f = FormField {
        name: name?,
        kind,
        label: label.flatten(),
        required: required.flatten().unwrap_or(false),
        default: None,
        options,
    };
    if let Some(d) = default {
        let v = plain(ctx, d)?;
        match f.coerce(&v) {
            Ok(v) => f.default = Some(v),
            Err(e) => {
                ctx.at(d, format!("`default`: {e}"));
                return None;
            }
        }
    }
    Some(f)
}

fn field_name(ctx: &mut Ctx, node: &Node) -> Option<String> {
    let s = yaml::string(ctx, node, "`name`")?;
    let valid = s.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        ctx.at(
            node,
            format!("invalid field name '{s}': use lowercase letters, digits and `_`, starting with a letter"),
        );
        return None;
    }
    if s.len() > MAX_NAME {
        ctx.at(
            node,
            format!("field name '{s}' is longer than the limit of {MAX_NAME} characters"),
        );
        return None;
    }
    Some(s)
}

fn bounded(ctx: &mut Ctx, node: &Node, what: &str, max: usize) -> Option<String> {
    let s = yaml::string(ctx, node, what)?;
    if s.chars().count() > max {
        ctx.at(
            node,
            format!("{what} is longer than the limit of {max} characters"),
        );
        return None;
    }
    Some(s)
}

/// Text shown to a decider and typed back (a label, an option): not empty, no spaces
/// around it (a value typed is trimmed, so `" a"` could never be chosen), no control
/// characters or bidi overrides.
fn shown_text(ctx: &mut Ctx, node: &Node, what: &str) -> Option<String> {
    let s = bounded(ctx, node, what, MAX_LABEL)?;
    let problem = if s.trim().is_empty() {
        Some("is empty")
    } else if s.trim() != s {
        Some("has spaces around it")
    } else if s
        .chars()
        .any(|c| c.is_control() || crate::text::is_bidi_control(c))
    {
        Some("has a control character in it")
    } else {
        None
    };
    match problem {
        Some(p) => {
            ctx.at(node, format!("{what} {p} ({s:?})"));
            None
        }
        None => Some(s),
    }
}

fn choices(ctx: &mut Ctx, node: &Node) -> Option<Vec<String>> {
    let items = yaml::list(ctx, node, "`options`")?;
    if items.is_empty() || items.len() > MAX_CHOICES {
        ctx.at(
            node,
            format!("`options` of a field must list 1 to {MAX_CHOICES} values"),
        );
        return None;
    }
    let mut out: Vec<String> = Vec::new();
    for i in items {
        let s = shown_text(ctx, i, "an option")?;
        if out.contains(&s) {
            ctx.at(i, format!("option '{s}' is listed twice"));
            return None;
        }
        out.push(s);
    }
    Some(out)
}

/// A default as written: a scalar, never a template (a form is shown before any is
/// rendered).
fn plain(ctx: &mut Ctx, node: &Node) -> Option<Value> {
    match scalar(node) {
        Some(Scalar::String(s)) if s.contains("{{") || s.contains("{%") => {
            ctx.at(
                node,
                "`default` is a value, never a template: a form is shown before anything is rendered",
            );
            return None;
        }
        Some(Scalar::FloatingPoint(f)) if !f.into_inner().is_finite() => {
            ctx.at(
                node,
                format!(
                    "`default` must be a finite number, found {}",
                    describe(node)
                ),
            );
            return None;
        }
        _ => {}
    }
    let v = match scalar(node) {
        Some(Scalar::Boolean(b)) => Value::Bool(*b),
        Some(Scalar::Integer(i)) => Value::from(*i),
        Some(Scalar::FloatingPoint(f)) => serde_json::Number::from_f64(f.into_inner())
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Some(Scalar::String(s)) if s.chars().count() <= MAX_TEXT => Value::String(s.to_string()),
        _ => Value::Null,
    };
    if v.is_null() {
        ctx.at(
            node,
            format!(
                "`default` must be a number, a boolean or text of at most {MAX_TEXT} characters, found {}",
                describe(node)
            ),
        );
        return None;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use crate::definition::{StepKind, parse_str};
    use crate::types::form::FieldType;
    use serde_json::json;

    fn with_form(form: &str) -> String {
        format!(
            "name: t\nversion: 1\nsteps:\n  - id: a\n    kind: human\n    title: T\n    group: ops\n    form:\n{form}"
        )
    }

    #[test]
    fn a_form_parses_to_typed_fields_with_defaults() {
        let src = with_form(
            "      - { name: cost_centre, type: string, required: true, label: Cost centre }\n      - { name: amount, type: number, default: 12 }\n      - { name: urgency, type: enum, options: [low, high], default: low }\n      - { name: ok, type: boolean, default: true }\n",
        );
        let w = parse_str("t.yaml", &src).unwrap();
        let StepKind::Human(h) = &w.steps[0].kind else {
            panic!("not a human step");
        };
        let kinds: Vec<FieldType> = h.form.iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            [
                FieldType::String,
                FieldType::Number,
                FieldType::Enum,
                FieldType::Boolean
            ]
        );
        assert!(h.form[0].required);
        assert_eq!(h.form[0].title(), "Cost centre");
        assert_eq!(h.form[1].default, Some(json!(12)));
        assert_eq!(h.form[2].options, ["low", "high"]);
    }

    #[test]
    fn every_problem_of_a_form_is_reported_where_it_is() {
        let src = with_form(
            "      - { name: Bad-Name, type: string }\n      - { name: n, type: money }\n      - { name: e, type: enum }\n      - { name: s, type: string, options: [a] }\n      - { name: d, type: integer, default: 1.5 }\n      - { name: d2, type: enum, options: [a, b], default: c }\n      - { name: r, type: string, required: yes please }\n      - { name: x, type: string, colour: red }\n      - { name: x, type: string }\n",
        );
        let d = parse_str("t.yaml", &src).unwrap_err();
        let at: Vec<(usize, String)> = d.iter().map(|d| (d.line, d.message.clone())).collect();
        let expect = [
            (9, "invalid field name 'Bad-Name'"),
            (10, "unknown field type 'money'"),
            (11, "an enum field needs `options`"),
            (12, "`options` belongs to enum fields only"),
            (13, "must be a whole number"),
            (14, "must be one of a, b"),
            (15, "`required` must be true or false"),
            (16, "unknown key `colour`"),
            (17, "field 'x' is listed twice"),
        ];
        for (line, text) in expect {
            assert!(
                at.iter().any(|(l, m)| *l == line && m.contains(text)),
                "no `{text}` at line {line}: {at:?}"
            );
        }
    }

    /// What a decider is shown and types back must be typeable: options and labels
    /// that are blank, padded or carry control characters are refused, as are defaults
    /// that look like templates or are not finite.
    #[test]
    fn options_labels_and_defaults_a_decider_could_not_use_are_refused() {
        let src = with_form(
            "      - { name: a, type: enum, options: [ok, \"\"] }\n      - { name: b, type: enum, options: [ok, \" x\"] }\n      - { name: c, type: enum, options: [\"a\\u0000b\"] }\n      - { name: d, type: enum, options: [\"\\u202eX\"] }\n      - { name: e, type: string, label: \"\" }\n      - { name: f, type: string, default: \"{{ input.x }}\" }\n      - { name: g, type: number, default: .nan }\n",
        );
        let d = parse_str("t.yaml", &src).unwrap_err();
        let at: Vec<(usize, String)> = d.iter().map(|d| (d.line, d.message.clone())).collect();
        let expect = [
            (9, "an option is empty"),
            (10, "an option has spaces around it"),
            (11, "an option has a control character in it"),
            (12, "an option has a control character in it"),
            (13, "`label` is empty"),
            (14, "`default` is a value, never a template"),
            (15, "`default` must be a finite number, found"),
        ];
        for (line, text) in expect {
            assert!(
                at.iter().any(|(l, m)| *l == line && m.contains(text)),
                "no `{text}` at line {line}: {at:?}"
            );
        }
    }

    #[test]
    fn a_form_past_its_limits_is_refused() {
        let fields: String = (0..17)
            .map(|i| format!("      - {{ name: f{i}, type: string }}\n"))
            .collect();
        let d = parse_str("t.yaml", &with_form(&fields)).unwrap_err();
        assert!(d[0].message.contains("the limit is 16"), "{d:?}");
        assert_eq!((d[0].line, d[0].col), (9, 7));
        let long = format!("      - {{ name: {}, type: string }}\n", "a".repeat(33));
        let d = parse_str("t.yaml", &with_form(&long)).unwrap_err();
        assert!(d[0].message.contains("limit of 32 characters"), "{d:?}");
    }
}
