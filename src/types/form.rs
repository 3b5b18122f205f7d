//! Forms on human tasks: the typed fields a decision fills in, and the one check of a
//! decision's fields (types, required, enum members, limits) that the engine applies.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Fields in one form (a human step's `form:`, or those derived from an agent proposal).
pub const MAX_FIELDS: usize = 16;
/// Characters of a field's name.
pub const MAX_NAME: usize = 32;
/// Characters of a field's label, and of each enum option.
pub const MAX_LABEL: usize = 80;
/// Choices of one enum field.
pub const MAX_CHOICES: usize = 32;
/// Characters of one string value a decision brings.
pub const MAX_TEXT: usize = 1000;

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    String,
    Number,
    Integer,
    Boolean,
    /// One of the field's `options`.
    Enum,
}

impl FieldType {
    pub const ALL: [FieldType; 5] = [
        FieldType::String,
        FieldType::Number,
        FieldType::Integer,
        FieldType::Boolean,
        FieldType::Enum,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Number => "number",
            FieldType::Integer => "integer",
            FieldType::Boolean => "boolean",
            FieldType::Enum => "enum",
        }
    }

    pub fn parse(s: &str) -> Option<FieldType> {
        FieldType::ALL.into_iter().find(|t| t.name() == s)
    }
}

/// One field of a form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FormField {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: FieldType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// Used when a decision does not give the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    /// The choices of an enum field, in the order they are offered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
}

impl FormField {
    /// An optional field with no label, default or options.
    pub fn new(name: &str, kind: FieldType) -> FormField {
        FormField {
            name: name.into(),
            kind,
            label: None,
            required: false,
            default: None,
            options: Vec::new(),
        }
    }

    /// What to call the field on screen.
    pub fn title(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.name)
    }

    /// `value` as this field holds it: a JSON value of its type, or text read as one
    /// (what the CLI's `--field` and the console send). The error names the field.
    pub fn coerce(&self, value: &Value) -> Result<Value, String> {
        let name = &self.name;
        let wrong = |v: &Value| {
            let shown = crate::text::clip(&v.to_string(), 40);
            format!("field '{name}' must be {}, found {shown}", self.expects())
        };
        let text = value.as_str().map(str::trim);
        let out = match self.kind {
            FieldType::String => {
                let s = value.as_str().ok_or_else(|| wrong(value))?;
                if s.chars().count() > MAX_TEXT {
                    return Err(format!(
                        "field '{name}' is longer than the limit of {MAX_TEXT} characters"
                    ));
                }
                Value::String(s.to_string())
            }
            FieldType::Number => match (value, text) {
                (Value::Number(_), _) => value.clone(),
                (_, Some(t)) => t
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .and_then(|f| serde_json::Number::from_f64(f).map(|n| number(f, n)))
                    .ok_or_else(|| wrong(value))?,
                _ => return Err(wrong(value)),
            },
            FieldType::Integer => match (whole(value), text) {
                (Some(i), _) => Value::from(i),
                (None, Some(t)) => t
                    .parse::<i64>()
                    .map(Value::from)
                    .map_err(|_| wrong(value))?,
                _ => return Err(wrong(value)),
            },
            FieldType::Boolean => match (value, text.map(str::to_lowercase).as_deref()) {
                (Value::Bool(b), _) => Value::Bool(*b),
                (_, Some("true" | "yes" | "y" | "1")) => Value::Bool(true),
                (_, Some("false" | "no" | "n" | "0")) => Value::Bool(false),
                _ => return Err(wrong(value)),
            },
            FieldType::Enum => match text {
                Some(t) if self.options.iter().any(|o| o == t) => Value::String(t.to_string()),
                _ => return Err(wrong(value)),
            },
        };
        Ok(out)
    }

    fn expects(&self) -> String {
        match self.kind {
            FieldType::String => "text".into(),
            FieldType::Number => "a number".into(),
            FieldType::Integer => "a whole number".into(),
            FieldType::Boolean => "true or false".into(),
            FieldType::Enum => format!("one of {}", self.options.join(", ")),
        }
    }
}

/// A JSON number that is whole, however it is written (`100`, `1e2`, `100.0`, `-0`).
fn whole(v: &Value) -> Option<i64> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53: beyond it a float skips integers
    v.as_i64().or_else(|| {
        let f = v.as_f64()?;
        (f.fract() == 0.0 && f.abs() <= EXACT).then_some(f as i64)
    })
}

/// Whole numbers read from text stay integers in the JSON (`120`, not `120.0`).
fn number(f: f64, n: serde_json::Number) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        Value::from(f as i64)
    } else {
        Value::Number(n)
    }
}

/// The values of `form` a decision gives: each field given (coerced to its type) or its
/// default; a required field with neither, an unknown field or a value past a limit is
/// refused. Fields with no value are left out.
pub fn check(form: &[FormField], given: &Map<String, Value>) -> Result<Map<String, Value>, String> {
    if given.len() > MAX_FIELDS {
        return Err(format!(
            "{} fields given; a form has at most {MAX_FIELDS}",
            given.len()
        ));
    }
    if form.is_empty() && !given.is_empty() {
        return Err("this task has no form; it takes no fields".into());
    }
    if let Some(unknown) = given.keys().find(|k| !form.iter().any(|f| &f.name == *k)) {
        let names: Vec<&str> = form.iter().map(|f| f.name.as_str()).collect();
        return Err(format!(
            "unknown field '{}' (the form has: {})",
            crate::text::clip(unknown, MAX_NAME),
            names.join(", ")
        ));
    }
    // What was given is checked first: a mistyped value is the likelier problem.
    let mut typed = Map::new();
    for f in form {
        if let Some(v) = given.get(&f.name).filter(|v| !v.is_null()) {
            typed.insert(f.name.clone(), f.coerce(v)?);
        }
    }
    let mut out = Map::new();
    for f in form {
        let value = match typed.remove(&f.name) {
            Some(v) => Some(v),
            None => f.default.clone().filter(|v| !v.is_null()),
        };
        let empty = value
            .as_ref()
            .is_none_or(|v| v.as_str().is_some_and(|s| s.trim().is_empty()));
        if f.required && empty {
            return Err(format!("field '{}' is required", f.name));
        }
        if let Some(v) = value {
            out.insert(f.name.clone(), v);
        }
    }
    Ok(out)
}

/// The form a reviewer corrects an agent's proposal with: one field per scalar of the
/// proposal (its `confidence` aside), typed by its value and prefilled with it.
pub fn proposal_form(proposal: &Value) -> Vec<FormField> {
    let Some(m) = proposal.as_object() else {
        return Vec::new();
    };
    m.iter()
        .filter(|(k, _)| k.as_str() != "confidence" && k.chars().count() <= MAX_NAME)
        .filter_map(|(k, v)| {
            let kind = match v {
                Value::String(_) => FieldType::String,
                Value::Bool(_) => FieldType::Boolean,
                Value::Number(n) if n.is_i64() => FieldType::Integer,
                Value::Number(_) => FieldType::Number,
                _ => return None,
            };
            Some(FormField {
                name: k.clone(),
                kind,
                label: None,
                required: false,
                default: Some(v.clone()),
                options: Vec::new(),
            })
        })
        .take(MAX_FIELDS)
        .collect()
}

/// `name=value` pairs (the CLI's `--field`) as the text values a decision sends.
pub fn parse_pairs(pairs: &[String]) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    for p in pairs {
        let Some((name, value)) = p.split_once('=') else {
            return Err(format!("--field '{p}' must be NAME=VALUE"));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("--field '{p}' has no name before '='"));
        }
        if out
            .insert(name.to_string(), Value::String(value.to_string()))
            .is_some()
        {
            return Err(format!("--field {name} is given twice"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(name: &str, kind: FieldType) -> FormField {
        FormField::new(name, kind)
    }

    fn form() -> Vec<FormField> {
        vec![
            FormField {
                required: true,
                ..field("cost_centre", FieldType::String)
            },
            field("amount", FieldType::Number),
            FormField {
                default: Some(json!(1)),
                ..field("copies", FieldType::Integer)
            },
            field("urgent", FieldType::Boolean),
            FormField {
                options: vec!["low".into(), "high".into()],
                ..field("risk", FieldType::Enum)
            },
        ]
    }

    fn given(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn good_values_are_typed_and_defaults_filled_in() {
        let got = check(
            &form(),
            &given(
                json!({"cost_centre": "CC-7", "amount": "120", "urgent": "yes", "risk": "high"}),
            ),
        )
        .unwrap();
        assert_eq!(
            Value::Object(got),
            json!({"cost_centre": "CC-7", "amount": 120, "copies": 1, "urgent": true, "risk": "high"})
        );
        let got = check(&form(), &given(json!({"cost_centre": "x", "amount": 12.5}))).unwrap();
        assert_eq!(got["amount"], json!(12.5));
        assert!(!got.contains_key("urgent"));
    }

    #[test]
    fn bad_values_are_refused_with_the_field_named() {
        let err = |v: Value| check(&form(), &given(v)).unwrap_err();
        assert_eq!(err(json!({})), "field 'cost_centre' is required");
        assert_eq!(
            err(json!({"cost_centre": "  "})),
            "field 'cost_centre' is required"
        );
        assert!(
            err(json!({"cost_centre": "a", "amount": "lots"}))
                .contains("'amount' must be a number")
        );
        assert!(err(json!({"cost_centre": "a", "copies": 1.5})).contains("whole number"));
        for written in ["1e2", "100.0", "-0", "100"] {
            let v: Value =
                serde_json::from_str(&format!(r#"{{"cost_centre": "a", "copies": {written}}}"#))
                    .unwrap();
            let got = check(&form(), &given(v)).unwrap();
            let want = if written == "-0" { 0 } else { 100 };
            assert_eq!(got["copies"], json!(want), "{written} is a whole number");
        }
        assert!(err(json!({"cost_centre": "a", "risk": "mid"})).contains("one of low, high"));
        assert!(err(json!({"cost_centre": 7})).contains("must be text"));
        assert!(
            err(json!({"cost_centre": "a", "colour": "red"})).starts_with("unknown field 'colour'")
        );
        let long = "x".repeat(MAX_TEXT + 1);
        assert!(err(json!({"cost_centre": long})).contains("limit of 1000"));
        let many: Map<String, Value> = (0..=MAX_FIELDS)
            .map(|i| (format!("f{i}"), json!(1)))
            .collect();
        assert!(check(&form(), &many).unwrap_err().contains("at most 16"));
        assert!(
            check(&[], &given(json!({"a": 1})))
                .unwrap_err()
                .contains("no form")
        );
    }

    #[test]
    fn a_proposal_becomes_a_prefilled_form_of_its_scalars() {
        let f = proposal_form(&json!({
            "decision": "medium_risk", "confidence": 0.6, "score": 3, "flag": true,
            "detail": {"nested": 1}
        }));
        let names: Vec<(&str, FieldType)> = f.iter().map(|f| (f.name.as_str(), f.kind)).collect();
        assert_eq!(
            names,
            vec![
                ("decision", FieldType::String),
                ("score", FieldType::Integer),
                ("flag", FieldType::Boolean)
            ]
        );
        assert_eq!(f[0].default, Some(json!("medium_risk")));
    }

    #[test]
    fn pairs_split_at_the_first_equals_sign() {
        let p = parse_pairs(&["a=1".into(), "b=x=y".into()]).unwrap();
        assert_eq!(Value::Object(p), json!({"a": "1", "b": "x=y"}));
        assert!(parse_pairs(&["a".into()]).is_err());
        assert!(parse_pairs(&["a=1".into(), "a=2".into()]).is_err());
    }
}
