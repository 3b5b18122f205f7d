//! The typed HTTP client of the daemon's API, used by the CLI and the console: one
//! method per route, server errors as typed errors, and a resumable event stream; over
//! TCP with the token, or over the daemon's Unix socket as the local user.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::sse;
use super::{
    ACTOR_HEADER, AuditQuery, DecideRequest, DeployRequest, Deployment, Empty, ErrorBody,
    EscalateRequest, EventsQuery, REASON_HEADER, ReassignRequest, ReportQuery, RetryRequest,
    SignalRequest, SkipRequest, StartRequest, WorkflowInfo,
};
use crate::types::changes::Changes;
use crate::types::report::Report;
use crate::types::view::{ItemDetail, ItemFilter, ItemSummary, Metrics, TaskFilter, TaskView};
use crate::types::{Command, ItemId, Record, Reply, TaskId};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the tempi daemon at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the daemon at {url} refused the token; check --data or TEMPI_TOKEN")]
    Unauthorized { url: String },
    /// The socket exists but this user may not connect to it.
    #[error(
        "permission denied on the tempi socket {path}: the daemon lets its own user and the \
         group it was given with --socket-group connect (ls -l {path} shows which); ask to \
         be added to that group and log in again, or use the TCP URL with a token \
         (TEMPI_URL and TEMPI_TOKEN)"
    )]
    SocketDenied { path: String },
    /// The server answered with an error; `message` is the server's.
    #[error("{message}")]
    Api {
        status: u16,
        kind: String,
        message: String,
    },
    #[error("unexpected answer from {url}: {reason}")]
    Protocol { url: String, reason: String },
    /// The request went out and the connection broke (or the daemon stopped answering)
    /// before its answer: an acting command may or may not have been applied.
    #[error(
        "the daemon at {url} did not answer ({reason}); the request may have been applied: \
         check (tempi items, tempi audit) before sending it again"
    )]
    Interrupted { url: String, reason: String },
}

impl ClientError {
    /// The daemon could not be reached at all (refused, no route).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ClientError::Unreachable { .. })
    }

    /// The request was sent and its answer never came.
    pub fn is_interrupted(&self) -> bool {
        matches!(self, ClientError::Interrupted { .. })
    }

    /// The HTTP status of a server error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            ClientError::Unauthorized { .. } => Some(401),
            _ => None,
        }
    }
}

/// A connection to one daemon, acting as one operator.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    /// What request URLs start with.
    base: String,
    /// Where the daemon is, as messages say it: the URL, or the socket's path.
    shown: String,
    /// Over the socket there is none: the kernel says who we are.
    token: Option<String>,
    /// Sent as `x-tempi-actor` unless empty.
    actor: String,
    socket: bool,
}

/// The authority requests over the socket name; the daemon does not read it.
const SOCKET_BASE: &str = "http://localhost";

/// The operating system's error under a transport error, if there is one.
fn io_error(e: &reqwest::Error) -> Option<&std::io::Error> {
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        src = s.source();
    }
    None
}

/// Header values may carry UTF-8 but no line breaks.
fn header_value(text: &str) -> Option<HeaderValue> {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    HeaderValue::from_bytes(clean.trim().as_bytes()).ok()
}

impl Client {
    pub fn new(url: &str, token: &str, actor: &str) -> Result<Client, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| ClientError::Protocol {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
        let base = url.trim_end_matches('/').to_string();
        Ok(Client {
            http,
            shown: base.clone(),
            base,
            token: Some(token.to_string()),
            actor: actor.to_string(),
            socket: false,
        })
    }

    /// Whether this client names an actor (`--as`).
    pub fn acts_for_someone(&self) -> bool {
        !self.actor.trim().is_empty()
    }

    /// A client of the daemon's Unix socket, which sends no token: the daemon knows the
    /// user from the socket. An empty `actor` sends none (the daemon uses the login).
    pub fn unix(socket: &std::path::Path, actor: &str) -> Result<Client, ClientError> {
        let shown = socket.display().to_string();
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .unix_socket(socket)
            .build()
            .map_err(|e| ClientError::Protocol {
                url: shown.clone(),
                reason: e.to_string(),
            })?;
        Ok(Client {
            http,
            base: SOCKET_BASE.to_string(),
            shown,
            token: None,
            actor: actor.to_string(),
            socket: true,
        })
    }

    /// Where the daemon is: its URL, or its socket's path.
    pub fn url(&self) -> &str {
        &self.shown
    }

    /// Whether this client talks over the Unix socket.
    pub fn is_socket(&self) -> bool {
        self.socket
    }

    fn request(&self, method: Method, path: &str, reason: Option<&str>) -> RequestBuilder {
        let mut headers = HeaderMap::new();
        if let Some(v) = header_value(&self.actor).filter(|v| !v.is_empty()) {
            headers.insert(ACTOR_HEADER, v);
        }
        if let Some(v) = reason.and_then(header_value) {
            headers.insert(REASON_HEADER, v);
        }
        let rb = self
            .http
            .request(method, format!("{}{path}", self.base))
            .headers(headers);
        match &self.token {
            Some(token) => rb.bearer_auth(token),
            None => rb,
        }
    }

    fn transport(&self, e: reqwest::Error) -> ClientError {
        let innermost = || {
            let mut reason = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                reason = s.to_string();
                src = s.source();
            }
            reason
        };
        let denied = self.socket
            && io_error(&e).is_some_and(|io| io.kind() == std::io::ErrorKind::PermissionDenied);
        if denied {
            ClientError::SocketDenied {
                path: self.shown.clone(),
            }
        } else if e.is_connect() {
            ClientError::Unreachable {
                url: self.shown.clone(),
                reason: innermost(),
            }
        } else if e.is_timeout() || e.is_request() || e.is_body() {
            ClientError::Interrupted {
                url: self.shown.clone(),
                reason: innermost(),
            }
        } else {
            ClientError::Protocol {
                url: self.shown.clone(),
                reason: e.to_string(),
            }
        }
    }

    async fn send(&self, rb: RequestBuilder) -> Result<reqwest::Response, ClientError> {
        let resp = rb.send().await.map_err(|e| self.transport(e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        if status == StatusCode::UNAUTHORIZED {
            return Err(ClientError::Unauthorized {
                url: self.shown.clone(),
            });
        }
        let text = resp.text().await.unwrap_or_default();
        Err(match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => ClientError::Api {
                status: status.as_u16(),
                kind: body.error,
                message: body.message,
            },
            Err(_) => ClientError::Api {
                status: status.as_u16(),
                kind: "http".into(),
                message: format!("HTTP {status} from {}: {}", self.shown, text.trim()),
            },
        })
    }

    async fn json<T: DeserializeOwned>(&self, rb: RequestBuilder) -> Result<T, ClientError> {
        let resp = self.send(rb.timeout(REQUEST_TIMEOUT)).await?;
        resp.json().await.map_err(|e| ClientError::Protocol {
            url: self.shown.clone(),
            reason: format!("cannot decode the answer: {e}"),
        })
    }

    async fn post<B: Serialize>(
        &self,
        path: &str,
        body: &B,
        reason: Option<&str>,
    ) -> Result<Reply, ClientError> {
        self.json(self.request(Method::POST, path, reason).json(body))
            .await
    }

    /// `GET /healthz`, without the token.
    pub async fn health(&self) -> Result<(), ClientError> {
        let rb = self.http.get(format!("{}/healthz", self.base));
        self.send(rb.timeout(REQUEST_TIMEOUT)).await.map(|_| ())
    }

    pub async fn items(&self, filter: &ItemFilter) -> Result<Vec<ItemSummary>, ClientError> {
        self.json(self.request(Method::GET, "/api/items", None).query(filter))
            .await
    }

    pub async fn item(&self, id: ItemId) -> Result<ItemDetail, ClientError> {
        self.json(self.request(Method::GET, &format!("/api/items/{id}"), None))
            .await
    }

    pub async fn start(
        &self,
        req: &StartRequest,
        reason: Option<&str>,
    ) -> Result<Reply, ClientError> {
        self.post("/api/items", req, reason).await
    }

    pub async fn tasks(&self, filter: &TaskFilter) -> Result<Vec<TaskView>, ClientError> {
        self.json(self.request(Method::GET, "/api/tasks", None).query(filter))
            .await
    }

    /// Any command, through `POST /api/commands`.
    pub async fn command(&self, cmd: &Command, reason: Option<&str>) -> Result<Reply, ClientError> {
        self.post("/api/commands", cmd, reason).await
    }

    pub async fn decide(
        &self,
        task: TaskId,
        req: &DecideRequest,
        reason: Option<&str>,
    ) -> Result<Reply, ClientError> {
        self.post(&format!("/api/tasks/{task}/decide"), req, reason)
            .await
    }

    pub async fn claim(&self, task: TaskId, reason: Option<&str>) -> Result<Reply, ClientError> {
        self.post(&format!("/api/tasks/{task}/claim"), &Empty {}, reason)
            .await
    }

    pub async fn reassign(
        &self,
        task: TaskId,
        to: &str,
        reason: Option<&str>,
    ) -> Result<Reply, ClientError> {
        let body = ReassignRequest { to: to.to_string() };
        self.post(&format!("/api/tasks/{task}/reassign"), &body, reason)
            .await
    }

    pub async fn escalate(
        &self,
        task: TaskId,
        to: Option<&str>,
        reason: Option<&str>,
    ) -> Result<Reply, ClientError> {
        let body = EscalateRequest {
            to: to.map(str::to_string),
        };
        self.post(&format!("/api/tasks/{task}/escalate"), &body, reason)
            .await
    }

    pub async fn retry(
        &self,
        item: ItemId,
        from: Option<&str>,
        reason: Option<&str>,
    ) -> Result<Reply, ClientError> {
        let body = RetryRequest {
            from: from.map(str::to_string),
        };
        self.post(&format!("/api/items/{item}/retry"), &body, reason)
            .await
    }

    pub async fn skip(
        &self,
        item: ItemId,
        step: &str,
        reason: Option<&str>,
    ) -> Result<Reply, ClientError> {
        let body = SkipRequest {
            step: step.to_string(),
        };
        self.post(&format!("/api/items/{item}/skip"), &body, reason)
            .await
    }

    pub async fn cancel(&self, item: ItemId, reason: Option<&str>) -> Result<Reply, ClientError> {
        self.post(&format!("/api/items/{item}/cancel"), &Empty {}, reason)
            .await
    }

    pub async fn compensate(
        &self,
        item: ItemId,
        reason: Option<&str>,
    ) -> Result<Reply, ClientError> {
        self.post(&format!("/api/items/{item}/compensate"), &Empty {}, reason)
            .await
    }

    pub async fn signal(
        &self,
        item: ItemId,
        req: &SignalRequest,
        reason: Option<&str>,
    ) -> Result<Reply, ClientError> {
        self.post(&format!("/api/items/{item}/signal"), req, reason)
            .await
    }

    /// One page of journal records with `seq > after`.
    pub async fn audit(&self, query: &AuditQuery) -> Result<Vec<Record>, ClientError> {
        self.json(self.request(Method::GET, "/api/audit", None).query(query))
            .await
    }

    pub async fn workflows(&self) -> Result<Vec<WorkflowInfo>, ClientError> {
        self.json(self.request(Method::GET, "/api/workflows", None))
            .await
    }

    /// `GET /api/operators`: the directory and the open tasks of each.
    pub async fn operators(&self) -> Result<crate::types::identity::Listing, ClientError> {
        self.json(self.request(Method::GET, "/api/operators", None))
            .await
    }

    /// `GET /api/whoami`: whom the daemon takes this client for.
    pub async fn whoami(&self) -> Result<crate::types::identity::WhoAmI, ClientError> {
        self.json(self.request(Method::GET, "/api/whoami", None))
            .await
    }

    pub async fn report(&self, query: &ReportQuery) -> Result<Report, ClientError> {
        self.json(self.request(Method::GET, "/api/report", None).query(query))
            .await
    }

    /// `POST /api/workflows`: load new workflow versions, all or none.
    pub async fn deploy(
        &self,
        req: &DeployRequest,
        reason: Option<&str>,
    ) -> Result<Deployment, ClientError> {
        self.json(
            self.request(Method::POST, "/api/workflows", reason)
                .json(req),
        )
        .await
    }

    pub async fn metrics(&self) -> Result<Metrics, ClientError> {
        self.json(self.request(Method::GET, "/api/metrics", None))
            .await
    }

    /// `GET /metrics`, the Prometheus text.
    pub async fn metrics_text(&self) -> Result<String, ClientError> {
        let rb = self.request(Method::GET, "/metrics", None);
        let resp = self.send(rb.timeout(REQUEST_TIMEOUT)).await?;
        resp.text().await.map_err(|e| self.transport(e))
    }

    /// Open `GET /api/events` after `after` (optionally of one item).
    pub async fn events(&self, query: &EventsQuery) -> Result<EventStream, ClientError> {
        self.stream(self.request(Method::GET, "/api/events", None).query(query))
            .await
    }

    async fn stream(&self, rb: RequestBuilder) -> Result<EventStream, ClientError> {
        use futures_util::StreamExt;
        let resp = self.send(rb).await?;
        Ok(EventStream {
            body: Box::pin(resp.bytes_stream().map(|r| r.map(|b| b.to_vec()))),
            parser: sse::Parser::default(),
            ready: Default::default(),
            url: self.shown.clone(),
        })
    }

    /// Open `GET /api/changes` after `after`.
    async fn changes(&self, after: u64, journal: &str) -> Result<EventStream, ClientError> {
        let query = super::ChangesQuery {
            after: Some(after),
            journal: Some(journal.to_string()).filter(|j| !j.is_empty()),
        };
        self.stream(
            self.request(Method::GET, "/api/changes", None)
                .query(&query),
        )
        .await
    }

    /// Follow the change feed of journal `journal` for ever, reconnecting from the last
    /// batch seen (and told to resync if the daemon now has another journal).
    pub fn follow_changes(&self, after: u64, journal: &str) -> ChangeFollower {
        ChangeFollower {
            client: self.clone(),
            last: after,
            journal: journal.to_string(),
            stream: None,
        }
    }

    /// Follow records for ever, reconnecting from the last seen sequence number.
    pub fn follow(&self, item: Option<ItemId>, after: u64) -> Follower {
        Follower {
            client: self.clone(),
            item,
            last: after,
            stream: None,
        }
    }
}

type ByteStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<Vec<u8>>> + Send>>;

/// One open `/api/events` connection.
pub struct EventStream {
    body: ByteStream,
    parser: sse::Parser,
    ready: std::collections::VecDeque<sse::Message>,
    url: String,
}

impl EventStream {
    /// The next message; `None` when the server closed the stream.
    async fn message(&mut self) -> Option<Result<sse::Message, ClientError>> {
        use futures_util::StreamExt;
        loop {
            if let Some(msg) = self.ready.pop_front() {
                return Some(Ok(msg));
            }
            match self.body.next().await? {
                Ok(chunk) => self.ready.extend(self.parser.push(&chunk)),
                Err(e) => {
                    return Some(Err(ClientError::Unreachable {
                        url: self.url.clone(),
                        reason: e.to_string(),
                    }));
                }
            }
        }
    }

    fn parse<T: serde::de::DeserializeOwned>(&self, msg: &sse::Message) -> Result<T, ClientError> {
        serde_json::from_str(&msg.data).map_err(|e| ClientError::Protocol {
            url: self.url.clone(),
            reason: format!("event {}: {e}", msg.id.clone().unwrap_or_default()),
        })
    }

    /// The next record; `None` when the server closed the stream.
    pub async fn next(&mut self) -> Option<Result<Record, ClientError>> {
        Some(self.message().await?.and_then(|m| self.parse(&m)))
    }
}

/// Open a stream, waiting out a daemon that is briefly unreachable (a restart): up to
/// ten tries, half a second apart.
async fn open_retrying<F, Fut>(open: F) -> Result<EventStream, ClientError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<EventStream, ClientError>>,
{
    let mut failures = 0;
    loop {
        match open().await {
            Err(e) if e.is_unreachable() && failures < 10 => {
                failures += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            other => return other,
        }
    }
}

/// A resumable stream: reconnects with `after = last seen` when the connection drops.
pub struct Follower {
    client: Client,
    item: Option<ItemId>,
    last: u64,
    stream: Option<EventStream>,
}

impl Follower {
    /// The next record, reconnecting as needed; an error once the daemon stays unreachable.
    pub async fn next(&mut self) -> Result<Record, ClientError> {
        loop {
            let stream = match &mut self.stream {
                Some(s) => s,
                None => {
                    let query = EventsQuery {
                        item: self.item,
                        after: Some(self.last),
                    };
                    let client = &self.client;
                    self.stream
                        .insert(open_retrying(|| client.events(&query)).await?)
                }
            };
            match stream.next().await {
                Some(Ok(rec)) => {
                    self.last = self.last.max(rec.seq);
                    return Ok(rec);
                }
                Some(Err(ClientError::Protocol { url, reason })) => {
                    return Err(ClientError::Protocol { url, reason });
                }
                Some(Err(_)) | None => self.stream = None,
            }
        }
    }
}

/// The change feed, resumed from the last batch whenever the connection drops; a
/// `410 resync` error when the client must read items and tasks afresh.
pub struct ChangeFollower {
    client: Client,
    last: u64,
    journal: String,
    stream: Option<EventStream>,
}

impl ChangeFollower {
    pub async fn next(&mut self) -> Result<Changes, ClientError> {
        loop {
            let stream = match &mut self.stream {
                Some(s) => s,
                None => {
                    let (client, last, journal) = (&self.client, self.last, &self.journal);
                    self.stream
                        .insert(open_retrying(|| client.changes(last, journal)).await?)
                }
            };
            match stream.message().await {
                Some(Ok(msg)) if msg.event.as_deref() == Some("resync") => {
                    self.stream = None;
                    let body: super::ErrorBody = stream_error(&self.client, &msg);
                    return Err(ClientError::Api {
                        status: 410,
                        kind: body.error,
                        message: body.message,
                    });
                }
                Some(Ok(msg)) => {
                    let changes: Changes = stream.parse(&msg)?;
                    self.last = self.last.max(changes.seq);
                    return Ok(changes);
                }
                Some(Err(_)) | None => self.stream = None,
            }
        }
    }
}

/// The body of a `resync` event, or what to say when it does not parse.
fn stream_error(client: &Client, msg: &sse::Message) -> super::ErrorBody {
    serde_json::from_str(&msg.data).unwrap_or_else(|_| super::ErrorBody {
        error: "resync".into(),
        message: format!("the daemon at {} asked for a resync", client.url()),
    })
}
