//! The OpenAPI 3.1 document of the HTTP API, served at `GET /api/openapi.json`: made by
//! utoipa from the handlers' `#[utoipa::path]` annotations and the types they take and
//! return, so it says what serde reads and writes; the error answers are shared here.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{Map, Value};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{IntoResponses, Modify, OpenApi};

use super::{server, stream};

/// The name of the bearer-token security scheme in the document (`security(...)` in
/// the derive below spells it again, as it takes only a literal).
pub const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tempi",
        description = "The HTTP API of `tempi serve`: work items, human tasks, operator \
            commands, the audit journal, deployments, reports and metrics. Every route but \
            `/healthz` and `/api/openapi.json` needs `Authorization: Bearer <token>` (the \
            daemon's token is the `token` file in its data dir). Every error answer is an \
            `ErrorBody`; a refused request changes nothing.",
    ),
    paths(
        server::healthz,
        openapi_json,
        server::list_items,
        server::start_item,
        server::get_item,
        server::retry,
        server::skip,
        server::cancel,
        server::compensate,
        server::signal,
        server::list_tasks,
        server::decide,
        server::claim,
        server::reassign,
        server::escalate,
        server::command,
        server::audit,
        server::workflows,
        server::deploy,
        server::metrics_json,
        server::report,
        stream::events,
        stream::changes,
        server::metrics_text,
        super::identity::whoami,
        super::identity::operators,
    ),
    components(schemas(super::ErrorBody)),
    modifiers(&Shared),
    security(("bearer" = [])),
    tags(
        (name = "items", description = "Work items: list, start, inspect, and act on them."),
        (name = "tasks", description = "Human tasks: the inbox, and deciding, claiming, reassigning, escalating."),
        (name = "commands", description = "Every operator command through one route."),
        (name = "journal", description = "The audit journal and its live streams."),
        (name = "workflows", description = "Loaded workflow versions, and deploying new ones."),
        (name = "metrics", description = "Counters, KPI reports, health."),
        (name = "operators", description = "Who may act: the directory, and who a request is taken for."),
    )
)]
pub struct ApiDoc;

/// The document as JSON, built once.
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        inline_aliases(&mut doc);
        bound_integers(&mut doc);
        doc
    })
}

/// The document as JSON text, built once.
fn document_json() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| document().to_string())
}

/// Put the schema of a primitive in place of each reference to it. utoipa sees `ItemId`
/// and `TaskId` (aliases of `u64`) as types of their own and refers to a component
/// named `u64`; a client should see an integer.
fn inline_aliases(doc: &mut Value) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let primitives: Vec<(String, Value)> = ["u64", "u32", "i64", "i32"]
        .into_iter()
        .filter_map(|name| {
            Some((
                format!("#/components/schemas/{name}"),
                schemas.remove(name)?,
            ))
        })
        .collect();
    replace_refs(doc, &primitives);
}

fn replace_refs(node: &mut Value, primitives: &[(String, Value)]) {
    match node {
        Value::Object(map) => {
            let target = map.get("$ref").and_then(Value::as_str);
            if let Some((_, schema)) = primitives.iter().find(|(r, _)| Some(r.as_str()) == target) {
                map.remove("$ref");
                for (k, v) in schema.as_object().into_iter().flatten() {
                    map.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
            map.values_mut().for_each(|v| replace_refs(v, primitives));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| replace_refs(v, primitives)),
        _ => {}
    }
}

/// Give every integer schema the range of its Rust type, which its `format` names
/// (`uint64`, `int32`, ...): serde refuses a number outside it, so a client and a
/// fuzzer must know it. An explicit bound that is narrower is kept.
fn bound_integers(node: &mut Value) {
    match node {
        Value::Object(map) => {
            let format = map.get("format").and_then(Value::as_str);
            if let Some((name, min, max)) = format.and_then(range_of) {
                map.insert("format".into(), name.into());
                narrow(map, "minimum", min, |old, new| old >= new);
                narrow(map, "maximum", max, |old, new| old <= new);
            }
            map.values_mut().for_each(bound_integers);
        }
        Value::Array(items) => items.iter_mut().for_each(bound_integers),
        _ => {}
    }
}

/// Set `key` to `bound` unless it already holds a bound that `keeps` over it.
fn narrow(map: &mut Map<String, Value>, key: &str, bound: Value, keeps: fn(f64, f64) -> bool) {
    let old = map.get(key).and_then(Value::as_f64);
    let new = bound.as_f64().unwrap_or_default();
    if !old.is_some_and(|old| keeps(old, new)) {
        map.insert(key.into(), bound);
    }
}

/// The range of an integer format, as exact JSON numbers, with the format's usual name
/// (utoipa spells the unsigned ones `u-int64`).
fn range_of(format: &str) -> Option<(&'static str, Value, Value)> {
    Some(match format {
        "int8" => ("int8", i8::MIN.into(), i8::MAX.into()),
        "int16" => ("int16", i16::MIN.into(), i16::MAX.into()),
        "int32" => ("int32", i32::MIN.into(), i32::MAX.into()),
        "int64" => ("int64", i64::MIN.into(), i64::MAX.into()),
        "uint8" | "u-int8" => ("uint8", 0.into(), u8::MAX.into()),
        "uint16" | "u-int16" => ("uint16", 0.into(), u16::MAX.into()),
        "uint32" | "u-int32" => ("uint32", 0.into(), u32::MAX.into()),
        "uint64" | "u-int64" => ("uint64", 0.into(), u64::MAX.into()),
        _ => return None,
    })
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "metrics",
    security(()),
    responses((status = 200, description = "This OpenAPI document.", body = Object)),
)]
pub(super) async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document_json(),
    )
}

/// An RFC 3339 time or a date (midnight UTC), as a report's `since` takes it.
pub fn time_or_date() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{AnyOfBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type};
    let of = |f| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(f)))
    };
    AnyOfBuilder::new()
        .item(of(KnownFormat::DateTime))
        .item(of(KnownFormat::Date))
        .description(Some(
            "The window's start: a time such as 2026-12-01T09:00:00Z or a date such as \
             2026-12-01; not after now.",
        ))
        .build()
        .into()
}

/// The bearer scheme and the error answers every operation shares.
struct Shared;

impl Modify for Shared {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "The daemon's token (the `token` file in its data dir), or an operator's.",
            ))
            .build();
        components
            .security_schemes
            .insert(BEARER.into(), RefOr::T(SecurityScheme::Http(bearer)));
        for e in ERRORS {
            components.responses.insert(e.name.into(), e.response());
        }
    }
}

/// One error answer: its status, its name in the document, the `error` kinds it carries.
struct ErrorAnswer {
    status: u16,
    name: &'static str,
    kinds: &'static [&'static str],
    says: &'static str,
}

const UNAUTHORIZED: ErrorAnswer = ErrorAnswer {
    status: 401,
    name: "Unauthorized",
    kinds: &["unauthorized"],
    says: "No bearer token, or not one the daemon knows.",
};
const FORBIDDEN: ErrorAnswer = ErrorAnswer {
    status: 403,
    name: "Forbidden",
    kinds: &["forbidden"],
    says: "The token is known, but its operator may not do this (or act as the actor named).",
};
const BAD_REQUEST: ErrorAnswer = ErrorAnswer {
    status: 400,
    name: "BadRequest",
    kinds: &["bad_request"],
    says: "A body that is not JSON, or a path or query parameter that does not parse.",
};
const NOT_FOUND: ErrorAnswer = ErrorAnswer {
    status: 404,
    name: "NotFound",
    kinds: &["not_found"],
    says: "The item, task, step or workflow does not exist.",
};
const CONFLICT: ErrorAnswer = ErrorAnswer {
    status: 409,
    name: "Conflict",
    kinds: &["conflict"],
    says: "It exists, but its state does not allow this (already decided, already ended, \
           another operator won the race).",
};
const TOO_LARGE: ErrorAnswer = ErrorAnswer {
    status: 413,
    name: "TooLarge",
    kinds: &["too_large"],
    says: "The request body is larger than 1 MiB.",
};
const INVALID: ErrorAnswer = ErrorAnswer {
    status: 422,
    name: "Invalid",
    kinds: &["invalid"],
    says: "JSON of the wrong shape, or a request the engine refuses as it stands (an option \
           the task does not offer, a workflow file with problems, one per line).",
};
const GONE: ErrorAnswer = ErrorAnswer {
    status: 410,
    name: "Resync",
    kinds: &["resync"],
    says: "The position is no longer in the journal (retention removed it) or is in another \
           journal: read the current state afresh.",
};
const INTERNAL: ErrorAnswer = ErrorAnswer {
    status: 500,
    name: "Internal",
    kinds: &["internal"],
    says: "The engine failed while handling it (a bug, contained; the item concerned became \
           an incident).",
};
const UNAVAILABLE: ErrorAnswer = ErrorAnswer {
    status: 503,
    name: "Unavailable",
    kinds: &["unavailable"],
    says: "The engine refuses new work (its journal's disk is full) or is shutting down.",
};

/// Every error answer, as `components/responses` holds them.
const ERRORS: [ErrorAnswer; 10] = [
    BAD_REQUEST,
    UNAUTHORIZED,
    FORBIDDEN,
    NOT_FOUND,
    CONFLICT,
    GONE,
    TOO_LARGE,
    INVALID,
    INTERNAL,
    UNAVAILABLE,
];

impl ErrorAnswer {
    fn response(&self) -> RefOr<Response> {
        let kinds: Vec<String> = self.kinds.iter().map(|k| format!("`{k}`")).collect();
        let description = format!("{} (`error`: {})", self.says, kinds.join(", "));
        let example = serde_json::json!({ "error": self.kinds[0], "message": self.says });
        let content = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .example(Some(example))
            .build();
        let mut response = ResponseBuilder::new()
            .description(description)
            .content("application/json", content);
        if self.status == 401 {
            let challenge = HeaderBuilder::new()
                .schema(Some(
                    utoipa::openapi::ObjectBuilder::new()
                        .schema_type(utoipa::openapi::schema::Type::String),
                ))
                .description(Some("`Bearer`"))
                .build();
            response = response.header("WWW-Authenticate", challenge);
        }
        RefOr::T(response.build())
    }
}

/// The responses for `answers`, each a reference to its shared component.
fn refs(answers: &[ErrorAnswer]) -> BTreeMap<String, RefOr<Response>> {
    answers
        .iter()
        .map(|a| {
            let r = RefOr::Ref(Ref::from_response_name(a.name));
            (a.status.to_string(), r)
        })
        .collect()
}

/// Every route behind the token: 401 without a good one, 403 when its operator may not,
/// 500 and 503 when the engine fails or refuses work.
pub struct Refused;

impl IntoResponses for Refused {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        refs(&[UNAUTHORIZED, FORBIDDEN, INTERNAL, UNAVAILABLE])
    }
}

/// A route with a JSON body: 400 when it is not JSON, 413 when it is too big, 422 when its
/// shape is wrong.
pub struct BodyRefused;

impl IntoResponses for BodyRefused {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        refs(&[BAD_REQUEST, TOO_LARGE, INVALID])
    }
}

/// A route with path or query parameters: 400 when one does not parse.
pub struct ParamsRefused;

impl IntoResponses for ParamsRefused {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        refs(&[BAD_REQUEST])
    }
}

/// An operator command: 404 for what does not exist, 409 for a state that does not allow
/// it, 422 for a request the engine refuses.
pub struct CommandRefused;

impl IntoResponses for CommandRefused {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        refs(&[NOT_FOUND, CONFLICT, INVALID])
    }
}

/// Something named that does not exist: 404.
pub struct Missing;

impl IntoResponses for Missing {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        refs(&[NOT_FOUND])
    }
}

/// A well-formed request the engine refuses as it stands: 422.
pub struct Unprocessable;

impl IntoResponses for Unprocessable {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        refs(&[INVALID])
    }
}

/// Who acts and why, for the journal: the headers every command may carry.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct Acting {
    /// The operator to act for (only an admin may name another; `engine` is nobody's);
    /// by default the token's own operator, or the socket's login. A name is 1 to 64
    /// ASCII letters, digits, `.`, `_` and `-`, starting with a letter or digit; any
    /// other (an empty one too) is 400.
    #[param(pattern = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    #[serde(default, rename = "x-tempi-actor")]
    pub actor: Option<String>,
    /// Why: free text journaled with the command's events.
    #[serde(default, rename = "x-tempi-reason")]
    pub reason: Option<String>,
}

/// Where a stream resumes: wins over `?after=`.
#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct Resume {
    /// The sequence number of the last event the client saw.
    #[serde(default, rename = "Last-Event-ID")]
    pub last_event_id: Option<u64>,
}

/// A stream position that is gone: 410.
pub struct StreamRefused;

impl IntoResponses for StreamRefused {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        refs(&[BAD_REQUEST, GONE])
    }
}

#[cfg(test)]
mod tests;
