//! The document against the router it describes and the JSON serde writes: every route
//! and method once, every reference resolved, every error an `ErrorBody`, and the tagged
//! enums as they are spelled on the wire.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::document;
use crate::types::{Command, Health};

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

/// `(path, method)` of every `.route(...)` in the router's source. A router built any
/// other way (`nest`, `route_service`) fails here, so this test is taught it first.
fn routed() -> BTreeSet<(String, String)> {
    let source = include_str!("../server.rs");
    for other in [".nest(", ".nest_service(", ".route_service("] {
        assert!(
            !source.contains(other),
            "server.rs uses {other}: teach routed() it"
        );
    }
    let mut out = BTreeSet::new();
    for (at, _) in source.match_indices(".route(\"") {
        let rest = &source[at + ".route(\"".len()..];
        let path = &rest[..rest.find('"').unwrap()];
        let call = &rest[..closing(rest)];
        let methods: Vec<&str> = METHODS
            .into_iter()
            .filter(|m| {
                call.match_indices(&format!("{m}(")).any(|(i, _)| {
                    let before = call[..i].chars().last().unwrap_or(' ');
                    !before.is_alphanumeric() && before != '_'
                })
            })
            .collect();
        assert!(!methods.is_empty(), "no method for {path} in: {call}");
        for m in methods {
            out.insert((path.to_string(), m.to_string()));
        }
    }
    out
}

/// Where the call whose arguments `text` starts inside of closes.
fn closing(text: &str) -> usize {
    let mut depth = 1;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced .route( in server.rs");
}

fn documented() -> BTreeSet<(String, String)> {
    let paths = document()["paths"].as_object().unwrap();
    paths
        .iter()
        .flat_map(|(path, ops)| {
            let ops = ops.as_object().unwrap();
            ops.keys()
                .filter(|m| METHODS.contains(&m.as_str()))
                .map(move |m| (path.clone(), m.clone()))
        })
        .collect()
}

#[test]
fn the_router_reads_as_its_routes() {
    let routes = routed();
    assert!(routes.contains(&("/api/items".into(), "get".into())));
    assert!(routes.contains(&("/api/items".into(), "post".into())));
    assert!(routes.contains(&("/api/events".into(), "get".into())));
    assert!(routes.len() > 20, "{routes:?}");
}

#[test]
fn every_route_is_documented_and_nothing_else() {
    let routes = routed();
    let documented = documented();
    let missing: Vec<_> = routes.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routes).collect();
    assert!(
        missing.is_empty(),
        "routes without #[utoipa::path] (add one, and list it in ApiDoc's paths): {missing:?}"
    );
    assert!(extra.is_empty(), "documented but not routed: {extra:?}");
}

/// The value at a local `$ref`, if there is one.
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

fn refs(node: &Value, out: &mut Vec<String>) {
    match node {
        Value::Object(map) => {
            if let Some(r) = map.get("$ref").and_then(Value::as_str) {
                out.push(r.to_string());
            }
            map.values().for_each(|v| refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn the_document_is_openapi_3_1_with_every_reference_resolved() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "tempi");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let mut all = Vec::new();
    refs(doc, &mut all);
    assert!(all.len() > 50, "{}", all.len());
    for r in all {
        assert!(resolve(doc, &r).is_some(), "unresolved $ref {r}");
    }
    let ids: Vec<_> = documented()
        .into_iter()
        .map(|(p, m)| doc["paths"][&p][&m]["operationId"].clone())
        .collect();
    let unique: BTreeSet<String> = ids.iter().map(|i| i.to_string()).collect();
    assert_eq!(unique.len(), ids.len(), "operation ids repeat: {ids:?}");
}

#[test]
fn every_route_but_two_needs_the_bearer_token_and_says_how_it_refuses() {
    let doc = document();
    assert_eq!(doc["security"], json!([{ "bearer": [] }]));
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(
        (&scheme["type"], &scheme["scheme"]),
        (&json!("http"), &json!("bearer"))
    );
    for (path, method) in documented() {
        let op = &doc["paths"][&path][&method];
        let public = ["/healthz", "/api/openapi.json"].contains(&path.as_str());
        assert_eq!(op["security"] == json!([{}]), public, "{method} {path}");
        let responses = op["responses"].as_object().unwrap();
        let statuses: BTreeSet<&str> = responses.keys().map(String::as_str).collect();
        if !public {
            for must in ["401", "403", "500", "503"] {
                assert!(statuses.contains(must), "{method} {path} lacks {must}");
            }
        }
        if op.get("requestBody").is_some() {
            for must in ["400", "413", "422"] {
                assert!(statuses.contains(must), "{method} {path} lacks {must}");
            }
        }
        if path.contains("{id}") {
            assert!(statuses.contains("400"), "{method} {path} lacks 400");
        }
    }
}

#[test]
fn every_error_answer_is_an_error_body_and_401_says_bearer() {
    let doc = document();
    let responses = doc["components"]["responses"].as_object().unwrap();
    for name in [
        "Unauthorized",
        "Forbidden",
        "NotFound",
        "Conflict",
        "Invalid",
    ] {
        assert!(responses.contains_key(name), "{name}");
    }
    for (name, r) in responses {
        let content = &r["content"]["application/json"];
        assert_eq!(
            content["schema"]["$ref"], "#/components/schemas/ErrorBody",
            "{name}"
        );
        let example = &content["example"];
        assert!(example["error"].is_string() && example["message"].is_string());
    }
    assert!(
        responses["Forbidden"]["description"]
            .as_str()
            .unwrap()
            .contains("`forbidden`")
    );
    assert!(responses["Unauthorized"]["headers"]["WWW-Authenticate"].is_object());
    let body = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(body["required"], json!(["error", "message"]));
}

#[test]
fn every_integer_carries_the_range_of_its_rust_type() {
    let doc = document();
    let id = &doc["paths"]["/api/items/{id}"]["get"]["parameters"][0]["schema"];
    assert_eq!(
        (&id["format"], &id["minimum"], &id["maximum"]),
        (&json!("uint64"), &json!(0), &json!(u64::MAX))
    );
    let priority = &doc["components"]["schemas"]["StartRequest"]["properties"]["priority"];
    assert_eq!(
        (&priority["minimum"], &priority["maximum"]),
        (&json!(i32::MIN), &json!(i32::MAX))
    );
    // An explicit bound that is narrower stays.
    let limit = doc["paths"]["/api/items"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap();
    assert_eq!(limit["schema"]["minimum"], 1);
    let text = doc.to_string();
    assert!(!text.contains("u-int"), "a format utoipa misspells is left");
    // Ids (aliases of u64) are integers, not references to a component named u64.
    assert!(
        !text.contains("schemas/u64"),
        "an alias is left as a reference"
    );
    let task = &doc["components"]["schemas"]["Reply"]["properties"]["task"];
    assert!(task.to_string().contains("uint64"), "{task}");
}

/// A little of JSON Schema, enough to hold serde's output to the document: `$ref`,
/// `oneOf`, `anyOf`, `allOf`, `type`, `enum`, `required`, `properties`,
/// `additionalProperties: false`, `items`. Returns what does not match, if anything.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let target = resolve(doc, r).ok_or_else(|| format!("{at}: unresolved {r}"))?;
        return check(doc, target, value, at);
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            check(doc, s, value, at)?;
        }
    }
    for (key, want) in [("oneOf", Some(1)), ("anyOf", None)] {
        if let Some(alts) = schema.get(key).and_then(Value::as_array) {
            let ok = alts
                .iter()
                .filter(|s| check(doc, s, value, at).is_ok())
                .count();
            if want.map_or(ok == 0, |n| ok != n) {
                return Err(format!(
                    "{at}: {ok} of the {key} alternatives match {value}"
                ));
            }
        }
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let kind = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_f64() => "number",
            Value::Number(_) => "integer",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let fits = types.contains(&kind) || (kind == "integer" && types.contains(&"number"));
        if !fits {
            return Err(format!("{at}: {value} is not {types:?}"));
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {options:?}"));
    }
    let Value::Object(fields) = value else {
        return Ok(());
    };
    for name in schema["required"].as_array().into_iter().flatten() {
        let name = name.as_str().unwrap_or_default();
        if !fields.contains_key(name) {
            return Err(format!("{at}: {name} is missing from {value}"));
        }
    }
    let declared = schema.get("properties").and_then(Value::as_object);
    for (name, v) in fields {
        match declared.and_then(|d| d.get(name)) {
            Some(s) => check(doc, s, v, &format!("{at}.{name}"))?,
            None if schema["additionalProperties"] == json!(false) => {
                return Err(format!("{at}: {name} is not a property"));
            }
            None => {}
        }
    }
    Ok(())
}

fn schema_of(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

#[test]
fn the_little_checker_refuses_what_it_should() {
    let doc = document();
    let command = schema_of("Command");
    for bad in [
        json!({ "command": "claim" }),
        json!({ "command": "claim", "task": "seven" }),
        json!({ "command": "launch", "task": 7 }),
        json!({ "task": 7 }),
    ] {
        assert!(check(doc, &command, &bad, "$").is_err(), "{bad}");
    }
    let empty = json!({ "surprise": 1 });
    assert!(check(doc, &schema_of("Empty"), &empty, "$").is_err());
}

#[test]
fn tagged_enums_are_documented_as_serde_writes_them() {
    let doc = document();
    let commands = [
        Command::Start {
            workflow: "w".into(),
            version: Some(2),
            input: json!({ "n": 1 }),
            priority: 3,
            since: Some(chrono::DateTime::UNIX_EPOCH),
        },
        Command::Decide {
            task: 1,
            decision: "approved".into(),
            comment: Some("fine".into()),
            fields: Some(serde_json::Map::new()),
        },
        Command::Claim { task: 1 },
        Command::Reassign {
            task: 1,
            to: "bo".into(),
        },
        Command::Escalate { task: 1, to: None },
        Command::Retry {
            item: 1,
            from: Some("a".into()),
        },
        Command::Skip {
            item: 1,
            step: "a".into(),
        },
        Command::Compensate { item: 1 },
        Command::Cancel { item: 1 },
        Command::Signal {
            item: 1,
            name: "go".into(),
            data: json!([1]),
        },
        Command::AddOperator {
            name: "ann".into(),
            role: crate::types::identity::Role::Approver,
            groups: vec!["finance".into()],
        },
        Command::RevokeOperator { name: "ann".into() },
        Command::SetGroups {
            name: "ann".into(),
            groups: Vec::new(),
        },
        Command::SetRole {
            name: "ann".into(),
            role: crate::types::identity::Role::Admin,
        },
        Command::IssueToken { name: "ann".into() },
    ];
    let variants = doc["components"]["schemas"]["Command"]["oneOf"]
        .as_array()
        .unwrap();
    assert_eq!(
        variants.len(),
        commands.len(),
        "a command is not in this test"
    );
    for c in commands {
        let value = serde_json::to_value(&c).unwrap();
        check(doc, &schema_of("Command"), &value, "$").unwrap();
    }
    for h in [
        Health::Running,
        Health::Refusing("disk full".into()),
        Health::Stopped("x".into()),
    ] {
        let value = serde_json::to_value(&h).unwrap();
        check(doc, &schema_of("Health"), &value, "$").unwrap();
    }
    let review = crate::types::event::TaskKind::AgentReview {
        proposal: json!({ "ok": true }),
        confidence: 0.5,
    };
    let value = serde_json::to_value(&review).unwrap();
    check(doc, &schema_of("TaskKind"), &value, "$").unwrap();
    let error = serde_json::to_value(super::super::ErrorBody {
        error: "forbidden".into(),
        message: "no".into(),
    })
    .unwrap();
    check(doc, &schema_of("ErrorBody"), &error, "$").unwrap();
}
