//! The daemon's HTTP API: bearer-token auth over TCP (the login of a local user on the
//! Unix socket), JSON routes over the engine handle, Prometheus metrics; the event
//! streams are in `stream`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use super::identity::Caller;
use super::openapi::{
    Acting, BodyRefused, CommandRefused, Missing, ParamsRefused, Refused, Unprocessable,
};
use super::socket::{SocketError, SocketSpec};
use super::{
    AuditQuery, DecideRequest, DeployRequest, Deployment, Empty, ErrorBody, EscalateRequest,
    MAX_BODY_BYTES, ReassignRequest, ReportQuery, RetryRequest, SignalRequest, SkipRequest,
    StartRequest, WorkflowInfo,
};
use crate::api::peer::login_name;
use crate::engine::EngineHandle;
use crate::engine::runtime::{self, EngineConfig, StartError};
use crate::store;
use crate::types::report::Report;
use crate::types::view::{ItemDetail, ItemFilter, ItemSummary, Metrics, TaskFilter, TaskView};
use crate::types::{Command, CommandError, Record, Reply};

/// Records per page of an audit query when the client sets no limit.
const PAGE: usize = 1000;
/// How long open connections get to finish once shutdown starts.
const DRAIN: Duration = Duration::from_secs(5);

/// An error answer: a status and `{"error": kind, "message": text}`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let kind = match e {
            CommandError::NotFound(_) => "not_found",
            CommandError::Conflict(_) => "conflict",
            CommandError::Invalid(_) => "invalid",
            CommandError::Forbidden(_) => "forbidden",
            CommandError::Unavailable(_) => "unavailable",
            CommandError::Internal(_) => "internal",
        };
        ApiError::new(status, kind, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.kind.to_string(),
            message: self.message,
        };
        let mut resp = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

/// A JSON body; empty or `null` means `{}`. Syntax errors are 400, wrong shapes 422, too
/// big 413.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    e.status(),
                    "too_large",
                    format!("request body is larger than {MAX_BODY_BYTES} bytes"),
                )
            } else {
                ApiError::new(e.status(), "bad_request", e.body_text())
            }
        })?;
        // No body, or `null`, is `{}`: the routes whose body may be left out say so.
        let trimmed = bytes.trim_ascii();
        let text: &[u8] = if trimmed.is_empty() || trimmed == b"null" {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(text).map(Body).map_err(|e| {
            let message = format!("request body: {e}");
            match e.classify() {
                serde_json::error::Category::Data => {
                    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
                }
                _ => ApiError::bad_request(message),
            }
        })
    }
}

/// A query string, with a JSON 400 when it does not parse.
pub struct Q<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Q(v))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}

/// The numeric `{id}` of a path, with a JSON 400 when it is not a number.
pub struct Id(pub u64);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<u64>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| Id(v))
            .map_err(|e| ApiError::bad_request(format!("id: {}", e.body_text())))
    }
}

#[derive(Clone)]
pub(super) struct AppState {
    pub(super) handle: EngineHandle,
    /// The daemon's own token: the admin bootstrap.
    pub(super) token: Arc<str>,
    /// The login name of the daemon's user, whom its token and socket act as.
    pub(super) daemon_user: Arc<str>,
    pub(super) stopping: watch::Receiver<bool>,
}

/// The API's routes over `handle`. Every route but `/healthz` and `/api/openapi.json`
/// needs `Bearer <token>`, except for a local user on the socket (a `Peer::Local` in the
/// request's extensions); each is described in `openapi` (a test holds the two
/// together); open event streams end when `stopping` turns true.
pub fn router(handle: EngineHandle, token: String, stopping: watch::Receiver<bool>) -> Router {
    let state = AppState {
        handle,
        token: token.into(),
        daemon_user: login_name().into(),
        stopping,
    };
    let api = Router::new()
        .route("/api/items", get(list_items).post(start_item))
        .route("/api/items/{id}", get(get_item))
        .route("/api/items/{id}/retry", post(retry))
        .route("/api/items/{id}/skip", post(skip))
        .route("/api/items/{id}/cancel", post(cancel))
        .route("/api/items/{id}/compensate", post(compensate))
        .route("/api/items/{id}/signal", post(signal))
        .route("/api/tasks", get(list_tasks))
        .route("/api/tasks/{id}/decide", post(decide))
        .route("/api/tasks/{id}/claim", post(claim))
        .route("/api/tasks/{id}/reassign", post(reassign))
        .route("/api/tasks/{id}/escalate", post(escalate))
        .route("/api/commands", post(command))
        .route("/api/audit", get(audit))
        .route("/api/workflows", get(workflows).post(deploy))
        .route("/api/metrics", get(metrics_json))
        .route("/api/report", get(report))
        .route("/api/operators", get(super::identity::operators))
        .route("/api/whoami", get(super::identity::whoami))
        .route("/api/events", get(super::stream::events))
        .route("/api/changes", get(super::stream::changes))
        .route("/metrics", get(metrics_text))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/openapi.json", get(super::openapi::openapi_json))
        .merge(api)
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(read_body_first))
        .with_state(state)
}

/// Read the whole request body before anything answers. A response sent while the
/// body was still arriving (a 401, a 404) made the server close the kept-alive
/// connection without saying so, and the client's next request on it got no answer.
/// A body past the limit is refused with `connection: close`.
async fn read_body_first(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => {
            let req = Request::from_parts(parts, axum::body::Body::from(bytes));
            next.run(req).await
        }
        Err(_) => {
            let message = format!(
                "the request body could not be read or is larger than {MAX_BODY_BYTES} bytes"
            );
            let mut response =
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message).into_response();
            response.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
            response
        }
    }
}

/// 200 while the engine takes work, 503 while it refuses it (a full disk) or has
/// stopped; the body says which, and why, and how far the audit chain is verified.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "metrics",
    security(()),
    responses(
        (status = 200, description = "The engine takes work.", body = crate::types::health::HealthReport),
        (status = 503, description = "The engine refuses work or has stopped, and why.", body = crate::types::health::HealthReport),
    ),
)]
async fn healthz(State(st): State<AppState>) -> impl IntoResponse {
    let health = st.handle.health();
    let status = if health.is_running() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let audit = st.handle.audit_health();
    (
        status,
        Json(crate::types::health::HealthReport { health, audit }),
    )
}

/// Compares in time independent of where the first difference is.
pub(super) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn require_token(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    match super::identity::authenticate(&st, req.headers(), req.extensions()) {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// A header as UTF-8 text (clients may send non-ASCII reasons as raw bytes).
pub(super) fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    let v = headers.get(name)?;
    let s = std::str::from_utf8(v.as_bytes()).ok()?.trim();
    (!s.is_empty()).then(|| s.to_string())
}

async fn act(st: &AppState, caller: &Caller, cmd: Command) -> Result<Json<Reply>, ApiError> {
    let reason = caller.reason.clone();
    Ok(Json(st.handle.command(&caller.who, reason, cmd).await?))
}

/// Work items, newest first: in flight by default.
#[utoipa::path(
    get,
    path = "/api/items",
    tag = "items",
    params(ItemFilter),
    responses((status = 200, body = Vec<ItemSummary>), ParamsRefused, Refused),
)]
async fn list_items(
    State(st): State<AppState>,
    Q(filter): Q<ItemFilter>,
) -> Result<impl IntoResponse, ApiError> {
    if filter.limit == Some(0) {
        return Err(ApiError::bad_request("limit: must be at least 1"));
    }
    Ok(Json(st.handle.items(filter).await?))
}

/// One item: its summary, input, steps and open incident.
#[utoipa::path(
    get,
    path = "/api/items/{id}",
    tag = "items",
    params(("id" = u64, Path, description = "The item's id.")),
    responses((status = 200, body = ItemDetail), ParamsRefused, Missing, Refused),
)]
async fn get_item(State(st): State<AppState>, Id(id): Id) -> Result<impl IntoResponse, ApiError> {
    match st.handle.item(id).await? {
        Some(detail) => Ok(Json(detail)),
        None => Err(ApiError::not_found(format!("item {id} not found"))),
    }
}

/// Start an item of a loaded workflow.
#[utoipa::path(
    post,
    path = "/api/items",
    tag = "items",
    params(Acting),
    request_body = StartRequest,
    responses(
        (status = 201, description = "Started; `item` is the new item.", body = Reply),
        BodyRefused,
        CommandRefused,
        Refused,
    ),
)]
async fn start_item(
    State(st): State<AppState>,
    caller: Caller,
    Body(req): Body<StartRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let cmd = Command::Start {
        workflow: req.workflow,
        version: req.version,
        input: req.input,
        priority: req.priority,
        since: None,
    };
    Ok((StatusCode::CREATED, act(&st, &caller, cmd).await?))
}

/// Any operator command, named by its `command` field.
#[utoipa::path(
    post,
    path = "/api/commands",
    tag = "commands",
    params(Acting),
    request_body = Command,
    responses((status = 200, body = Reply), BodyRefused, CommandRefused, Refused),
)]
async fn command(
    State(st): State<AppState>,
    caller: Caller,
    Body(cmd): Body<Command>,
) -> Result<Json<Reply>, ApiError> {
    act(&st, &caller, cmd).await
}

/// Retry an incident's failed step, or re-run from `from` on (an empty body is `{}`).
#[utoipa::path(
    post,
    path = "/api/items/{id}/retry",
    tag = "items",
    params(("id" = u64, Path, description = "The item's id."), Acting),
    request_body = Option<RetryRequest>,
    responses(
        (status = 200, body = Reply),
        ParamsRefused,
        BodyRefused,
        CommandRefused,
        Refused,
    ),
)]
async fn retry(
    State(st): State<AppState>,
    Id(item): Id,
    caller: Caller,
    Body(b): Body<RetryRequest>,
) -> Result<Json<Reply>, ApiError> {
    act(&st, &caller, Command::Retry { item, from: b.from }).await
}

/// Skip a step of an item.
#[utoipa::path(
    post,
    path = "/api/items/{id}/skip",
    tag = "items",
    params(("id" = u64, Path, description = "The item's id."), Acting),
    request_body = SkipRequest,
    responses(
        (status = 200, body = Reply),
        ParamsRefused,
        BodyRefused,
        CommandRefused,
        Refused,
    ),
)]
async fn skip(
    State(st): State<AppState>,
    Id(item): Id,
    caller: Caller,
    Body(b): Body<SkipRequest>,
) -> Result<Json<Reply>, ApiError> {
    act(&st, &caller, Command::Skip { item, step: b.step }).await
}

/// Cancel an item (an empty body or `{}`).
#[utoipa::path(
    post,
    path = "/api/items/{id}/cancel",
    tag = "items",
    params(("id" = u64, Path, description = "The item's id."), Acting),
    request_body = Option<Empty>,
    responses(
        (status = 200, body = Reply),
        ParamsRefused,
        BodyRefused,
        CommandRefused,
        Refused,
    ),
)]
async fn cancel(
    State(st): State<AppState>,
    Id(item): Id,
    caller: Caller,
    Body(Empty {}): Body<Empty>,
) -> Result<Json<Reply>, ApiError> {
    act(&st, &caller, Command::Cancel { item }).await
}

/// Undo an item's completed steps in reverse order, then fail it (an empty body or `{}`).
#[utoipa::path(
    post,
    path = "/api/items/{id}/compensate",
    tag = "items",
    params(("id" = u64, Path, description = "The item's id."), Acting),
    request_body = Option<Empty>,
    responses(
        (status = 200, body = Reply),
        ParamsRefused,
        BodyRefused,
        CommandRefused,
        Refused,
    ),
)]
async fn compensate(
    State(st): State<AppState>,
    Id(item): Id,
    caller: Caller,
    Body(Empty {}): Body<Empty>,
) -> Result<Json<Reply>, ApiError> {
    act(&st, &caller, Command::Compensate { item }).await
}

/// Send a signal to an item's waiting step.
#[utoipa::path(
    post,
    path = "/api/items/{id}/signal",
    tag = "items",
    params(("id" = u64, Path, description = "The item's id."), Acting),
    request_body = SignalRequest,
    responses(
        (status = 200, body = Reply),
        ParamsRefused,
        BodyRefused,
        CommandRefused,
        Refused,
    ),
)]
async fn signal(
    State(st): State<AppState>,
    Id(item): Id,
    caller: Caller,
    Body(b): Body<SignalRequest>,
) -> Result<Json<Reply>, ApiError> {
    let cmd = Command::Signal {
        item,
        name: b.name,
        data: b.data,
    };
    act(&st, &caller, cmd).await
}

/// Human tasks, oldest first: open and claimed ones by default.
#[utoipa::path(
    get,
    path = "/api/tasks",
    tag = "tasks",
    params(TaskFilter),
    responses((status = 200, body = Vec<TaskView>), ParamsRefused, Refused),
)]
async fn list_tasks(
    State(st): State<AppState>,
    Q(filter): Q<TaskFilter>,
) -> Result<impl IntoResponse, ApiError> {
    if filter.limit == Some(0) {
        return Err(ApiError::bad_request("limit: must be at least 1"));
    }
    Ok(Json(st.handle.tasks(filter).await?))
}

/// Decide a task with one of its options.
#[utoipa::path(
    post,
    path = "/api/tasks/{id}/decide",
    tag = "tasks",
    params(("id" = u64, Path, description = "The task's id."), Acting),
    request_body = DecideRequest,
    responses(
        (status = 200, body = Reply),
        ParamsRefused,
        BodyRefused,
        CommandRefused,
        Refused,
    ),
)]
async fn decide(
    State(st): State<AppState>,
    Id(task): Id,
    caller: Caller,
    Body(b): Body<DecideRequest>,
) -> Result<Json<Reply>, ApiError> {
    let cmd = Command::Decide {
        task,
        decision: b.decision,
        comment: b.comment,
        fields: b.fields,
    };
    act(&st, &caller, cmd).await
}

/// Claim a task (an empty body or `{}`).
#[utoipa::path(
    post,
    path = "/api/tasks/{id}/claim",
    tag = "tasks",
    params(("id" = u64, Path, description = "The task's id."), Acting),
    request_body = Option<Empty>,
    responses(
        (status = 200, body = Reply),
        ParamsRefused,
        BodyRefused,
        CommandRefused,
        Refused,
    ),
)]
async fn claim(
    State(st): State<AppState>,
    Id(task): Id,
    caller: Caller,
    Body(Empty {}): Body<Empty>,
) -> Result<Json<Reply>, ApiError> {
    act(&st, &caller, Command::Claim { task }).await
}

/// Give a task to someone else.
#[utoipa::path(
    post,
    path = "/api/tasks/{id}/reassign",
    tag = "tasks",
    params(("id" = u64, Path, description = "The task's id."), Acting),
    request_body = ReassignRequest,
    responses(
        (status = 200, body = Reply),
        ParamsRefused,
        BodyRefused,
        CommandRefused,
        Refused,
    ),
)]
async fn reassign(
    State(st): State<AppState>,
    Id(task): Id,
    caller: Caller,
    Body(b): Body<ReassignRequest>,
) -> Result<Json<Reply>, ApiError> {
    act(&st, &caller, Command::Reassign { task, to: b.to }).await
}

/// Move a task to its next escalation level, or to `to` (an empty body is `{}`).
#[utoipa::path(
    post,
    path = "/api/tasks/{id}/escalate",
    tag = "tasks",
    params(("id" = u64, Path, description = "The task's id."), Acting),
    request_body = Option<EscalateRequest>,
    responses(
        (status = 200, body = Reply),
        ParamsRefused,
        BodyRefused,
        CommandRefused,
        Refused,
    ),
)]
async fn escalate(
    State(st): State<AppState>,
    Id(task): Id,
    caller: Caller,
    Body(b): Body<EscalateRequest>,
) -> Result<Json<Reply>, ApiError> {
    act(&st, &caller, Command::Escalate { task, to: b.to }).await
}

/// Journal records after `after`, oldest first: of one item, or all.
#[utoipa::path(
    get,
    path = "/api/audit",
    tag = "journal",
    params(AuditQuery),
    responses((status = 200, body = Vec<Record>), ParamsRefused, Refused),
)]
async fn audit(
    State(st): State<AppState>,
    Q(q): Q<AuditQuery>,
) -> Result<Json<Vec<Record>>, ApiError> {
    let limit = q.limit.unwrap_or(PAGE).clamp(1, 10 * PAGE);
    Ok(Json(st.handle.audit(q.item, q.after, limit).await?))
}

/// The loaded workflow versions, with the items in flight on each.
#[utoipa::path(
    get,
    path = "/api/workflows",
    tag = "workflows",
    responses((status = 200, body = Vec<WorkflowInfo>), Refused),
)]
async fn workflows(State(st): State<AppState>) -> Result<Json<Vec<WorkflowInfo>>, ApiError> {
    Ok(Json(st.handle.workflows().await?))
}

/// `POST /api/workflows`: validate the files and load their versions, all or none.
#[utoipa::path(
    post,
    path = "/api/workflows",
    tag = "workflows",
    params(Acting),
    request_body = DeployRequest,
    responses((status = 200, body = Deployment), BodyRefused, CommandRefused, Refused),
)]
async fn deploy(
    State(st): State<AppState>,
    caller: Caller,
    Body(req): Body<DeployRequest>,
) -> Result<Json<Deployment>, ApiError> {
    let reason = caller.reason.clone();
    Ok(Json(
        st.handle.deploy(&caller.who, reason, req.files).await?,
    ))
}

/// KPIs per workflow and in total, from `since` to now.
#[utoipa::path(
    get,
    path = "/api/report",
    tag = "metrics",
    params(ReportQuery),
    responses((status = 200, body = Report), ParamsRefused, Unprocessable, Refused),
)]
async fn report(
    State(st): State<AppState>,
    Q(q): Q<ReportQuery>,
) -> Result<Json<Report>, ApiError> {
    Ok(Json(st.handle.report(q.since).await?))
}

/// The counters an operator watches.
#[utoipa::path(
    get,
    path = "/api/metrics",
    tag = "metrics",
    responses((status = 200, body = Metrics), Refused),
)]
async fn metrics_json(State(st): State<AppState>) -> Result<Json<Metrics>, ApiError> {
    Ok(Json(st.handle.metrics().await?))
}

/// The counters in the Prometheus text exposition format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "metrics",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4.", body = String, content_type = "text/plain"),
        Refused,
    ),
)]
async fn metrics_text(State(st): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let m = st.handle.metrics().await?;
    let counted = st.handle.counted().await?;
    let ct = [(
        header::CONTENT_TYPE,
        "text/plain; version=0.0.4; charset=utf-8",
    )];
    let text = super::metrics::prometheus(&m, &counted.totals, &st.handle.health());
    Ok((ct, text))
}

/// How to run `tempi serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub data_dir: PathBuf,
    pub workflows_dir: Option<PathBuf>,
    pub listen: SocketAddr,
    /// How long the records of ended items are kept (None: forever).
    pub retention: Option<Duration>,
    /// Where removed records are archived first.
    pub archive: Option<PathBuf>,
    /// What templates see as `env.*` and `secrets.*`, and the default step timeouts.
    pub env: std::collections::BTreeMap<String, String>,
    pub secrets: crate::types::secrets::Secrets,
    pub step_timeouts: crate::types::job::StepTimeouts,
    /// The Unix socket for users of this machine (none: TCP only).
    pub socket: Option<SocketSpec>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot start the engine: {0}")]
    Start(#[from] StartError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Socket(#[from] SocketError),
    #[error("cannot install the signal handler: {0}")]
    Signal(std::io::Error),
    #[error("the HTTP server failed: {0}")]
    Server(std::io::Error),
    /// The engine ended while serving (a journal that can no longer be written).
    #[error("{0}")]
    EngineStopped(String),
}

/// The address clients should use: a wildcard listen address is reached on loopback.
fn public_url(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// Run the daemon until SIGINT or SIGTERM: start the engine, listen, advertise the URL
/// and the socket in `daemon.json` (calling `ready` with them), then shut down cleanly
/// and remove both.
pub async fn serve(
    opts: ServeOptions,
    ready: impl FnOnce(&str, Option<&std::path::Path>),
) -> Result<(), ServeError> {
    let mut config = EngineConfig::new(opts.data_dir.clone(), opts.workflows_dir.clone());
    config.retention = opts.retention;
    config.archive = opts.archive.clone();
    #[cfg(debug_assertions)]
    test_faults(&mut config);
    config.env = opts.env.clone();
    config.secrets = opts.secrets.clone();
    config.step_timeouts = opts.step_timeouts;
    // A socket that cannot be made is said before the engine starts.
    if let Some(spec) = &opts.socket {
        super::socket::check(spec)?;
    }
    let running = runtime::start(config).await?;
    let result = serve_engine(&opts, running.handle.clone(), ready).await;
    running.shutdown().await;
    let removed = store::remove_daemon_info(&opts.data_dir);
    result?;
    removed.map_err(ServeError::from)
}

/// Debug builds only: `TEMPI_TEST_FAULT=full@N` or `fsync@N` fails the journal from its
/// N-th commit on, so tests of the binary can watch a full disk or a failed fsync.
#[cfg(debug_assertions)]
fn test_faults(config: &mut EngineConfig) {
    let Ok(spec) = std::env::var("TEMPI_TEST_FAULT") else {
        return;
    };
    let journal = config.data_dir.join(store::JOURNAL_FILE);
    match store::faults::Faults::from_spec(&journal, &spec) {
        Some(f) => config.wrap_store = Some(Arc::new(f.wrapper())),
        None => tracing::warn!("TEMPI_TEST_FAULT={spec} not understood (full@N or fsync@N)"),
    }
}

async fn serve_engine(
    opts: &ServeOptions,
    handle: EngineHandle,
    ready: impl FnOnce(&str, Option<&std::path::Path>),
) -> Result<(), ServeError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).map_err(ServeError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(ServeError::Signal)?;
    let token = store::load_or_create_token(&opts.data_dir)?;
    let bind_err = |source| ServeError::Bind {
        addr: opts.listen,
        source,
    };
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(bind_err)?;
    let url = public_url(listener.local_addr().map_err(bind_err)?);
    // Removed when this returns, however it returns (a kill -9 leaves it stale, and
    // the next daemon replaces it).
    let socket = match &opts.socket {
        Some(spec) => Some(super::socket::bind(spec).await?),
        None => None,
    };
    let socket_path = socket.as_ref().map(|s| s.file.path().to_path_buf());
    let info = store::DaemonInfo {
        url: url.clone(),
        pid: std::process::id(),
        socket: socket_path.clone(),
    };
    store::write_daemon_info(&opts.data_dir, &info)?;
    let (stop, stopping) = watch::channel(false);
    let app = router(handle.clone(), token, stopping.clone());
    let drained = stopping;
    let limits = super::listen::Limits::daemon();
    let (unix, _socket_file) = match socket {
        Some(s) => (Some(s.listener), Some(s.file)),
        None => (None, None),
    };
    let listeners = super::listen::Listeners {
        tcp: listener,
        unix,
    };
    let mut server = tokio::spawn(super::listen::serve(listeners, app, limits, drained));
    ready(&url, socket_path.as_deref());
    let early = tokio::select! {
        _ = term.recv() => None,
        _ = int.recv() => None,
        ended = &mut server => Some(ended),
        why = handle.stopped() => {
            // Lingering would only answer "the engine has stopped": exit and say why.
            let _ = stop.send(true);
            let _ = tokio::time::timeout(DRAIN, &mut server).await;
            return Err(ServeError::EngineStopped(why));
        }
    };
    let _ = stop.send(true);
    let ended = match early {
        Some(ended) => ended,
        None => match tokio::time::timeout(DRAIN, &mut server).await {
            Ok(ended) => ended,
            Err(_) => {
                tracing::warn!("connections still open after {DRAIN:?}; closing them");
                server.abort();
                return Ok(());
            }
        },
    };
    match ended {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ServeError::Server(e)),
        Err(e) => Err(ServeError::Server(std::io::Error::other(e))),
    }
}
